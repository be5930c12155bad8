//! `Handle<T>`: a small, `Copy`, `Pod` key naming one block of a pool.

use core::cmp::Ordering;
use core::fmt;
use core::hash::{Hash, Hasher};
use core::marker::PhantomData;

/// A typed key to a block of `T`s in a [`Pool`](crate::Pool).
///
/// A handle is 16 bytes of plain data: the slot index (`u32`), the slot's
/// generation (`u32`) and the id of the pool that made it (`u64`). It is
/// `Copy` and [`bytemuck::Pod`], so it can be stored anywhere in memory — in
/// long-lived structs, inside other pool blocks, in buffers shared with C —
/// and any bit pattern is a valid value. A handle never dereferences by
/// itself: only the pool that made it turns it into a slice, and only while
/// its block is live. Every other handle (null, freed, stale, foreign,
/// retyped, forged) makes lookups return `None` or
/// [`PoolError::InvalidHandle`](crate::PoolError).
///
/// Handles are process-local: they name blocks of a pool in this process,
/// and a pool cannot be saved and loaded, so writing a handle to a file
/// keeps nothing worth reading back. A handle that does arrive from another
/// process (a pipe, shared memory, a file) is rejected like a forged one:
/// pool ids start at a random point in every process (`std` builds), so it
/// almost surely carries an id no pool here has.
///
/// All-zero bytes are [`Handle::NULL`], which is also the [`Default`].
/// Handles order by slot index, then generation, then pool id: the handles
/// of one pool sort in the order [`Pool::iter`](crate::Pool::iter) yields
/// them, and work as keys of a `BTreeMap`.
///
/// # Examples
///
/// ```
/// use cymem::{Handle, Pool};
///
/// #[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
/// #[repr(C)]
/// struct SparseRow {
///     length: usize,
///     indices: Handle<usize>,
///     values: Handle<f64>,
/// }
///
/// let mut pool = Pool::new();
/// let rows = pool.alloc::<SparseRow>(2)?;
/// assert!(pool[rows][0].indices.is_null()); // zeroed memory holds null handles
///
/// let values = pool.alloc_slice(&[0.5, 1.5])?;
/// pool[rows][0] = SparseRow { length: 2, indices: pool.alloc_slice(&[3, 7])?, values };
/// let row = pool[rows][0];
/// assert_eq!(pool[row.values], [0.5, 1.5]);
/// # Ok::<(), cymem::PoolError>(())
/// ```
#[repr(C)]
pub struct Handle<T> {
    pub(crate) index: u32,
    pub(crate) generation: u32,
    pub(crate) pool: u64,
    // `fn() -> T`: the handle owns no `T`, so it is `Send + Sync + Copy` for every `T`.
    _marker: PhantomData<fn() -> T>,
}

const _: () = assert!(core::mem::size_of::<Handle<u8>>() == 16);
// 8 on 64-bit targets, 4 where `u64` is 4-aligned (i686).
const _: () = assert!(core::mem::align_of::<Handle<u8>>() == core::mem::align_of::<u64>());

impl<T> Handle<T> {
    /// The null handle: all bits zero. No pool ever gives it out, so every
    /// lookup with it fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{Handle, Pool};
    ///
    /// const EMPTY: Handle<u32> = Handle::NULL;
    /// let pool = Pool::new();
    /// assert!(EMPTY.is_null());
    /// assert_eq!(pool.get(EMPTY), None);
    /// ```
    pub const NULL: Self = Handle::from_parts(0, 0, 0);

    /// Returns `true` if this is [`Handle::NULL`].
    ///
    /// A handle that is not null may still be invalid (freed, stale or
    /// foreign); ask the pool with [`Pool::contains`](crate::Pool::contains).
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{Handle, Pool};
    ///
    /// let mut pool = Pool::new();
    /// let h = pool.alloc::<u8>(4)?;
    /// assert!(!h.is_null());
    /// assert!(Handle::<u8>::default().is_null());
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    #[must_use]
    pub const fn is_null(&self) -> bool {
        self.index == 0 && self.generation == 0 && self.pool == 0
    }

    pub(crate) const fn from_parts(index: u32, generation: u32, pool: u64) -> Self {
        Handle {
            index,
            generation,
            pool,
            _marker: PhantomData,
        }
    }
}

// Hand-written impls: derives would add a `T: Trait` bound that handles do
// not need (a `Handle<String>` is `Copy` although `String` is not).
impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Handle<T> {}

impl<T> PartialEq for Handle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && self.generation == other.generation && self.pool == other.pool
    }
}

impl<T> Eq for Handle<T> {}

impl<T> PartialOrd for Handle<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Handle<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.index, self.generation, self.pool).cmp(&(other.index, other.generation, other.pool))
    }
}

impl<T> Hash for Handle<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.index.hash(state);
        self.generation.hash(state);
        self.pool.hash(state);
    }
}

impl<T> Default for Handle<T> {
    fn default() -> Self {
        Self::NULL
    }
}

impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_null() {
            return f.write_str("Handle(null)");
        }
        write!(
            f,
            "Handle({}v{} of pool {})",
            self.index, self.generation, self.pool
        )
    }
}

// SAFETY: `Handle<T>` is `repr(C)` with fields u32, u32, u64 (16 bytes, no
// padding, checked by the const asserts above) and a zero-sized marker, so
// the all-zero bit pattern is a valid value (it is `NULL`).
unsafe impl<T> bytemuck::Zeroable for Handle<T> {}

// SAFETY: as above, every bit pattern of the three integer fields is a valid
// handle; the type is `Copy` for every `T` and holds no pointer. Soundness
// never rests on a handle's bits: the pool validates every field on use.
unsafe impl<T: 'static> bytemuck::Pod for Handle<T> {}
