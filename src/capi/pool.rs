//! A pool's lifetime (new, new_with, destroy), its totals, and the
//! checks every C function makes on its pool and out-pointer arguments.

use core::ffi::c_void;
use core::ptr::{self, NonNull};
use std::alloc::Layout;

use super::blocks::{BlockMap, Blocks};
use super::status::{record, CymemStatus};
use crate::{CAllocator, DefaultAllocator, Pool};

/// A C `malloc`, or `None` (NULL): returns NULL or at least `size` bytes,
/// aligned to 8 (`cymem_malloc_fn` in C).
///
/// # Examples
///
/// ```
/// use cymem::capi::CymemMallocFn;
///
/// let malloc: CymemMallocFn = Some(libc::malloc);
/// # let _ = malloc;
/// ```
pub type CymemMallocFn = Option<unsafe extern "C" fn(size: usize) -> *mut c_void>;

/// A C `free`, or `None` (NULL), taking what the paired [`CymemMallocFn`]
/// returned (`cymem_free_fn` in C).
///
/// # Examples
///
/// ```
/// use cymem::capi::CymemFreeFn;
///
/// let free: CymemFreeFn = Some(libc::free);
/// # let _ = free;
/// ```
pub type CymemFreeFn = Option<unsafe extern "C" fn(ptr: *mut c_void)>;

/// An opaque pool (`cymem_pool` in C).
///
/// Made by [`cymem_pool_new`] or [`cymem_pool_new_with`], freed with
/// everything it holds by [`cymem_pool_destroy`].
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: the pool is used only until it is destroyed, once.
/// unsafe {
///     let pool: *mut CymemPool = cymem_pool_new();
///     assert!(!pool.is_null());
///     assert_eq!(cymem_pool_len(pool), 0);
///     cymem_pool_destroy(pool);
/// }
/// ```
pub struct CymemPool {
    pub(super) backing: Backing,
    /// NULL, or where [`cymem_pool_mirror_size`] asked the pool to keep its
    /// total of requested bytes.
    pub(super) size_mirror: *mut usize,
}

impl CymemPool {
    /// Writes the pool's total to its size mirror, if it has one.
    #[inline(always)]
    pub(super) fn update_mirror(&mut self) {
        if !self.size_mirror.is_null() {
            let bytes = on_blocks!(ref self, blocks => blocks.bytes());
            // SAFETY: `cymem_pool_mirror_size`'s contract: writable while
            // the pool lives, and used by no one else during this call.
            unsafe { self.size_mirror.write(bytes) };
        }
    }
}

pub(super) enum Backing {
    System(Blocks<DefaultAllocator>),
    Custom(Blocks<CAllocator>),
}

/// Runs `$body` with `$blocks` bound to the pool's [`Blocks`], once per
/// allocator type: each arm is monomorphic, so the system allocator's path
/// inlines into the C function instead of going through a vtable.
/// `on_blocks!(pool, blocks => ...)` borrows mutably, `on_blocks!(ref pool,
/// blocks => ...)` shares.
macro_rules! on_blocks {
    (ref $pool:expr, $blocks:ident => $body:expr) => {
        match &$pool.backing {
            $crate::capi::pool::Backing::System($blocks) => $body,
            $crate::capi::pool::Backing::Custom($blocks) => $body,
        }
    };
    ($pool:expr, $blocks:ident => $body:expr) => {
        match &mut $pool.backing {
            $crate::capi::pool::Backing::System($blocks) => $body,
            $crate::capi::pool::Backing::Custom($blocks) => $body,
        }
    };
}
pub(super) use on_blocks;

/// `pool` as a reference, or [`CymemStatus::NullPool`](super::CymemStatus::NullPool).
///
/// # Safety
///
/// `pool` is NULL or a live pool from `cymem_pool_new*`, used by no other
/// thread during the call.
pub(super) unsafe fn pool_ref<'a>(pool: *const CymemPool) -> Result<&'a CymemPool, CymemStatus> {
    // SAFETY: the caller's contract: NULL or live and not in use elsewhere.
    unsafe { pool.as_ref() }.ok_or(CymemStatus::NullPool)
}

/// `pool` as a mutable reference, or [`CymemStatus::NullPool`](super::CymemStatus::NullPool).
///
/// # Safety
///
/// As for [`pool_ref`].
pub(super) unsafe fn pool_mut<'a>(pool: *mut CymemPool) -> Result<&'a mut CymemPool, CymemStatus> {
    // SAFETY: the caller's contract: NULL or live and not in use elsewhere.
    unsafe { pool.as_mut() }.ok_or(CymemStatus::NullPool)
}

/// Writes `value` to `out` unless `out` is NULL.
///
/// # Safety
///
/// `out` is NULL or valid for a write of `T`.
pub(super) unsafe fn write_out<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: not NULL, so writable by the caller's contract.
        unsafe { out.write(value) };
    }
}

/// Boxes a pool, returning NULL instead of aborting when memory runs out.
fn new_pool(backing: Backing) -> *mut CymemPool {
    // SAFETY: `CymemPool` is not zero-sized.
    let raw = unsafe { std::alloc::alloc(Layout::new::<CymemPool>()) }.cast::<CymemPool>();
    if record(NonNull::new(raw).ok_or(CymemStatus::OutOfMemory)).is_ok() {
        // SAFETY: a fresh allocation with `CymemPool`'s layout, so a
        // `Box<CymemPool>` may later take it back (`cymem_pool_destroy`).
        unsafe {
            raw.write(CymemPool {
                backing,
                size_mirror: ptr::null_mut(),
            })
        };
    }
    raw
}

/// Creates an empty pool over the system allocator.
///
/// Returns NULL if memory runs out (last error
/// [`CymemStatus::OutOfMemory`](super::CymemStatus::OutOfMemory)). Free it with [`cymem_pool_destroy`].
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// let pool = cymem_pool_new();
/// assert!(!pool.is_null());
/// // SAFETY: destroyed once, not used after.
/// unsafe { cymem_pool_destroy(pool) };
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn cymem_pool_new() -> *mut CymemPool {
    new_pool(Backing::System(Blocks::new(Pool::new())))
}

/// Creates an empty pool whose blocks come from `malloc_fn` and go back to
/// `free_fn`: one call each per block of any size. A block of `n` bytes asks
/// for `n` rounded up to a multiple of 16 (at least 16), plus up to 23 bytes
/// to align it to 16 and remember the pointer `malloc_fn` returned.
///
/// Returns NULL, with last error [`CymemStatus::InvalidArgument`](super::CymemStatus::InvalidArgument), if
/// either function is NULL.
///
/// # Safety
///
/// `malloc_fn` behaves like C's `malloc`: it returns NULL or a pointer to at
/// least the given number of bytes, aligned to 8, not otherwise in use until
/// it is passed to `free_fn`; both may be called, from whichever thread uses
/// the pool, until the pool is destroyed.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: libc's malloc/free; the pool is destroyed once.
/// unsafe {
///     let pool = cymem_pool_new_with(Some(libc::malloc), Some(libc::free));
///     assert!(!cymem_alloc(pool, 3, 4, core::ptr::null_mut()).is_null());
///     cymem_pool_destroy(pool);
///     assert!(cymem_pool_new_with(None, Some(libc::free)).is_null());
///     assert_eq!(cymem_last_error(), CymemStatus::InvalidArgument);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_pool_new_with(
    malloc_fn: CymemMallocFn,
    free_fn: CymemFreeFn,
) -> *mut CymemPool {
    match (malloc_fn, free_fn) {
        (Some(malloc), Some(free)) => {
            // SAFETY: the caller promised the pair behaves as C's malloc/free
            // (this function's `# Safety`), as `CAllocator::new` requires.
            let allocator = unsafe { CAllocator::new(malloc, free) };
            new_pool(Backing::Custom(Blocks::new(Pool::with_allocator(
                allocator,
            ))))
        }
        _ => {
            let _ = record::<()>(Err(CymemStatus::InvalidArgument));
            ptr::null_mut()
        }
    }
}

/// Frees every block of the pool, then the pool. NULL does nothing.
///
/// # Safety
///
/// `pool` is NULL or a pool from `cymem_pool_new*` not destroyed before.
/// Afterwards neither it nor any pointer into its blocks may be used.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: destroyed once; NULL is allowed.
/// unsafe {
///     let pool = cymem_pool_new();
///     cymem_alloc(pool, 100, 8, core::ptr::null_mut());
///     cymem_pool_destroy(pool); // frees the block too
///     cymem_pool_destroy(core::ptr::null_mut());
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_pool_destroy(pool: *mut CymemPool) {
    if !pool.is_null() {
        // SAFETY: made by `new_pool` with `CymemPool`'s layout and not freed
        // yet (the caller's contract), so a `Box` owns it.
        drop(unsafe { Box::from_raw(pool) });
    }
}

/// Bytes in live blocks, as asked for: the sum of `number * elem_size`
/// (cymem's `Pool.size`). 0 for a NULL pool.
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool.
/// unsafe {
///     let pool = cymem_pool_new();
///     cymem_alloc(pool, 10, 4, core::ptr::null_mut());
///     cymem_alloc(pool, 0, 8, core::ptr::null_mut());
///     assert_eq!(cymem_pool_size(pool), 40);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_pool_size(pool: *const CymemPool) -> usize {
    // SAFETY: the caller's contract.
    unsafe { pool_ref(pool) }.map_or(0, |pool| on_blocks!(ref pool, blocks => blocks.bytes()))
}

/// The number of live blocks. 0 for a NULL pool.
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool.
/// unsafe {
///     let pool = cymem_pool_new();
///     let p = cymem_alloc(pool, 0, 8, core::ptr::null_mut());
///     assert_eq!(cymem_pool_len(pool), 1);
///     cymem_free(pool, p);
///     assert_eq!(cymem_pool_len(pool), 0);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_pool_len(pool: *const CymemPool) -> usize {
    // SAFETY: the caller's contract.
    unsafe { pool_ref(pool) }.map_or(0, |pool| on_blocks!(ref pool, blocks => blocks.len()))
}

/// Writes the address and requested size of up to `capacity` live blocks
/// (those made without a handle oldest first, then those with one in slot
/// order) to `out_addresses[i]` and `out_sizes[i]` (each skipped if
/// NULL) and returns how many blocks it reported: the number of live blocks
/// ([`cymem_pool_len`]) if that is at most `capacity`. 0 for a NULL pool.
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call; `out_addresses` and `out_sizes` are each NULL or
/// valid for `capacity` writes.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool; both arrays hold `capacity` (4) elements.
/// unsafe {
///     let pool = cymem_pool_new();
///     let a = cymem_alloc(pool, 3, 4, core::ptr::null_mut());
///     let b = cymem_alloc(pool, 1, 100, core::ptr::null_mut());
///     let mut addresses = [core::ptr::null_mut(); 4];
///     let mut sizes = [0; 4];
///     let n = cymem_pool_blocks(pool, addresses.as_mut_ptr(), sizes.as_mut_ptr(), 4);
///     assert_eq!((n, &addresses[..2], &sizes[..2]), (2, &[a, b][..], &[12, 100][..]));
///     assert_eq!(cymem_pool_blocks(pool, addresses.as_mut_ptr(), core::ptr::null_mut(), 1), 1);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_pool_blocks(
    pool: *const CymemPool,
    out_addresses: *mut *mut c_void,
    out_sizes: *mut usize,
    capacity: usize,
) -> usize {
    // SAFETY: the caller's contract.
    let Ok(pool) = (unsafe { pool_ref(pool) }) else {
        return 0;
    };
    let mut written = 0;
    let mut report = |ptr: NonNull<u8>, bytes: usize| {
        if written == capacity {
            return false;
        }
        if !out_addresses.is_null() {
            // SAFETY: not NULL, so valid for `capacity` writes (the caller's
            // contract), and `written < capacity`.
            unsafe { out_addresses.add(written).write(ptr.as_ptr().cast()) };
        }
        if !out_sizes.is_null() {
            // SAFETY: as above.
            unsafe { out_sizes.add(written).write(bytes) };
        }
        written += 1;
        true
    };
    on_blocks!(ref pool, blocks => blocks.each_block(&mut report));
    written
}

/// Keeps `*mirror` equal to [`cymem_pool_size`] from now on: the pool writes
/// its total of requested bytes there at once and after every call that
/// changes it, until the pool is destroyed or this is called again (NULL
/// stops it). For a caller that keeps the total in a field of its own, as
/// cymem's `Pool.size` is, without a call after every alloc and free.
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use during the call; `mirror`
/// is NULL or valid for writes, and read by no one during any call on this
/// pool, until the pool is destroyed or the mirror replaced.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool; `total` outlives it.
/// unsafe {
///     let mut total = usize::MAX;
///     let pool = cymem_pool_new();
///     cymem_pool_mirror_size(pool, &mut total);
///     assert_eq!(total, 0);
///     let p = cymem_alloc(pool, 3, 10, core::ptr::null_mut());
///     assert_eq!(total, 30);
///     cymem_free(pool, p);
///     assert_eq!(total, 0);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_pool_mirror_size(pool: *mut CymemPool, mirror: *mut usize) {
    // SAFETY: the caller's contract.
    if let Ok(pool) = unsafe { pool_mut(pool) } {
        pool.size_mirror = mirror;
        pool.update_mirror();
    }
}
