//! The one error type of the fallible API.

use core::fmt;

/// Why a pool operation failed.
///
/// After any error no block was allocated, freed or resized, and every
/// handle that was valid before is still valid; only the pool's spare
/// [`capacity`](crate::Pool::capacity) may have grown.
///
/// # Examples
///
/// ```
/// use cymem::{Handle, Pool, PoolError};
///
/// let mut pool = Pool::new();
/// assert_eq!(pool.free(Handle::<u8>::NULL), Err(PoolError::InvalidHandle));
/// assert_eq!(pool.alloc::<u64>(usize::MAX), Err(PoolError::SizeOverflow));
/// assert_eq!(PoolError::OutOfMemory.to_string(), "the allocator could not provide the block");
///
/// let mark = Pool::new().mark()?; // a mark of another pool
/// assert_eq!(pool.rollback(mark), Err(PoolError::InvalidMark));
/// # Ok::<(), PoolError>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PoolError {
    /// The handle is null, freed, stale, from another pool, or of another
    /// element type: it does not name a live block of this pool.
    InvalidHandle,
    /// `len * size_of::<T>()` overflows `usize` or exceeds `isize::MAX`
    /// (rounded up to the alignment of `T`).
    SizeOverflow,
    /// The allocator returned null, or the slot table (or the zone log)
    /// cannot grow.
    OutOfMemory,
    /// The [`Mark`](crate::Mark) is not outstanding in this pool: it was
    /// rolled back or committed already, an outer mark was, the pool was
    /// cleared since, or it belongs to another pool.
    InvalidMark,
    /// [`Pool::take`](crate::Pool::take) was given a block that does not
    /// hold exactly one element; the block is left as it was.
    NotOneElement,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PoolError::InvalidHandle => "handle does not name a live block of this pool",
            PoolError::SizeOverflow => "block size in bytes overflows isize::MAX",
            PoolError::OutOfMemory => "the allocator could not provide the block",
            PoolError::InvalidMark => "mark is not an outstanding mark of this pool",
            PoolError::NotOneElement => "block does not hold exactly one element",
        })
    }
}

impl core::error::Error for PoolError {}
