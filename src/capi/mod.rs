//! The C ABI (cargo feature `capi`): the pool for C, C++ and Cython callers.
//!
//! Build it with
//! `cargo rustc --release --lib --features capi --crate-type cdylib,staticlib`
//! (`target/release/libcymem.so` and `libcymem.a`) and include
//! `include/cymem.h`, which cbindgen generates from this file; Cython code
//! `cimport`s `include/cymem_capi.pxd`. The crate types are chosen on the
//! command line, not in `Cargo.toml`, because Cargo would then also link a
//! cdylib and a staticlib for every Rust crate that depends on `cymem`.
//!
//! # Design
//!
//! C speaks in `void *`, so this layer adds to a [`Pool`] what a C caller of
//! cymem's `Pool.alloc` expects:
//!
//! - **Element type.** Every block is an array of 16-byte, 16-aligned
//!   units, so a pointer is aligned for any C type (`max_align_t`) as from
//!   `calloc`. The exact byte size asked for is kept by slot index, for
//!   [`cymem_pool_size`], [`cymem_lookup`] and [`cymem_find`], and bytes past
//!   it are zeroed again on realloc.
//! - **Pointers as keys.** [`cymem_free`], [`cymem_realloc`] and
//!   [`cymem_find`] take the pointer [`cymem_alloc`] returned, as in cymem
//!   (whose Python dict plays this part). A table from each live block's
//!   address to its slot (`addresses.rs`, open addressing keyed by address;
//!   its docs give the measurements that made it replace `HashMap`) finds
//!   the block; a pointer that is not a key (foreign, interior, freed, NULL)
//!   is rejected without ever being dereferenced. A zero-byte block still
//!   takes one unit, so every live block has its own address. The table is
//!   built by the first of those calls and kept from then on (`blocks.rs`
//!   says why): a pool that is only filled and destroyed, or used through
//!   handles, never pays for it.
//! - **Handles.** [`CymemHandle`] is the crate's 16-byte [`Handle`] in a C
//!   struct: the `_handle` functions check it (index, generation, pool id)
//!   exactly as [`Pool::get`] does, and catch what an address cannot: a freed
//!   address that a later block reuses.
//! - **Errors.** Functions that return a pointer return NULL on failure;
//!   every fallible function records a [`CymemStatus`] for
//!   [`cymem_last_error`] (per thread, like `errno`, reset to
//!   [`CymemStatus::Ok`] on success); the others return it. A failed call
//!   changes nothing: room for the block's size and address is reserved
//!   before the pool allocates, so no step after the allocation can fail.
//! - **Allocators.** [`cymem_pool_new`] carves small blocks as the Rust
//!   [`Pool::new`] does; [`cymem_pool_new_with`] sends every block to the
//!   caller's `malloc`/`free` (cymem's `WrapMalloc`/`WrapFree`) through
//!   [`CAllocator`].
//!
//! What the pool cannot check, C must: the pool pointer is one from
//! `cymem_pool_new*` not yet destroyed, out-pointers are NULL or writable,
//! and a pool is used by one thread at a time.

mod addresses;
mod blocks;

use core::ffi::{c_char, c_int, c_void};
use core::ptr::{self, NonNull};
use std::alloc::Layout;
use std::cell::Cell;

use self::blocks::{BlockMap, Blocks, Unit};
use crate::{CAllocator, DefaultAllocator, Handle, Pool, PoolError};

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
    backing: Backing,
}

enum Backing {
    System(Blocks<DefaultAllocator>),
    Custom(Blocks<CAllocator>),
}

impl CymemPool {
    fn blocks(&self) -> &dyn BlockMap {
        match &self.backing {
            Backing::System(blocks) => blocks,
            Backing::Custom(blocks) => blocks,
        }
    }

    fn blocks_mut(&mut self) -> &mut dyn BlockMap {
        match &mut self.backing {
            Backing::System(blocks) => blocks,
            Backing::Custom(blocks) => blocks,
        }
    }
}

/// A handle to a block of a pool (`cymem_handle` in C).
///
/// Plain data, 16 bytes, to be stored in C structs and compared with
/// `memcmp`; its fields are not meant to be read or set. All zeroes is the
/// null handle, which no pool gives out. A handle that is freed, stale, from
/// another pool or forged makes the `_handle` functions fail with
/// [`CymemStatus::InvalidHandle`].
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: the pool and the out-pointer are valid; the pool is destroyed once.
/// unsafe {
///     let pool = cymem_pool_new();
///     let mut handle = CymemHandle::default();
///     let ptr = cymem_alloc(pool, 4, 8, &mut handle);
///     assert_eq!(cymem_lookup(pool, handle, core::ptr::null_mut()), ptr);
///     assert_eq!(cymem_free_handle(pool, handle), CymemStatus::Ok);
///     assert!(cymem_lookup(pool, handle, core::ptr::null_mut()).is_null());
///     cymem_pool_destroy(pool);
/// }
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CymemHandle {
    /// The slot index.
    pub index: u32,
    /// The slot's generation when the block was made.
    pub generation: u32,
    /// The id of the pool that made it.
    pub pool: u64,
}

impl From<Handle<Unit>> for CymemHandle {
    fn from(handle: Handle<Unit>) -> Self {
        CymemHandle {
            index: handle.index,
            generation: handle.generation,
            pool: handle.pool,
        }
    }
}

impl From<CymemHandle> for Handle<Unit> {
    fn from(handle: CymemHandle) -> Self {
        Handle::from_parts(handle.index, handle.generation, handle.pool)
    }
}

/// The outcome of a call (`cymem_status` in C).
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a null pool is checked, never dereferenced.
/// let status = unsafe { cymem_free(core::ptr::null_mut(), core::ptr::null_mut()) };
/// assert_eq!(status, CymemStatus::NullPool);
/// assert_eq!(cymem_last_error(), CymemStatus::NullPool);
/// ```
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CymemStatus {
    /// Success.
    Ok = 0,
    /// The pool argument was NULL.
    NullPool = 1,
    /// The handle is null, freed, stale, from another pool or forged.
    InvalidHandle = 2,
    /// The pointer is not the start of a live block of this pool.
    InvalidPointer = 3,
    /// `number * elem_size` overflows, or rounded up to a multiple of 16
    /// exceeds `PTRDIFF_MAX`.
    SizeOverflow = 4,
    /// The allocator returned NULL, or the pool's bookkeeping could not grow.
    OutOfMemory = 5,
    /// A required argument was NULL (an allocator function).
    InvalidArgument = 6,
}

impl CymemStatus {
    const ALL: [CymemStatus; 7] = [
        CymemStatus::Ok,
        CymemStatus::NullPool,
        CymemStatus::InvalidHandle,
        CymemStatus::InvalidPointer,
        CymemStatus::SizeOverflow,
        CymemStatus::OutOfMemory,
        CymemStatus::InvalidArgument,
    ];

    fn message(self) -> &'static core::ffi::CStr {
        match self {
            CymemStatus::Ok => c"success",
            CymemStatus::NullPool => c"pool pointer is null",
            CymemStatus::InvalidHandle => c"handle does not name a live block of this pool",
            CymemStatus::InvalidPointer => c"pointer is not the start of a live block of this pool",
            CymemStatus::SizeOverflow => c"number * elem_size overflows PTRDIFF_MAX",
            CymemStatus::OutOfMemory => c"the allocator could not provide the block",
            CymemStatus::InvalidArgument => c"a required function pointer is null",
        }
    }
}

impl From<PoolError> for CymemStatus {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::InvalidHandle => CymemStatus::InvalidHandle,
            PoolError::SizeOverflow => CymemStatus::SizeOverflow,
            PoolError::OutOfMemory => CymemStatus::OutOfMemory,
            // No C function takes a mark or moves a value out.
            PoolError::InvalidMark | PoolError::NotOneElement => CymemStatus::InvalidArgument,
        }
    }
}

thread_local! {
    static LAST_STATUS: Cell<CymemStatus> = const { Cell::new(CymemStatus::Ok) };
}

/// Records `result`'s status for [`cymem_last_error`] and returns it.
fn record<T>(result: Result<T, CymemStatus>) -> Result<T, CymemStatus> {
    let status = result.as_ref().err().copied().unwrap_or(CymemStatus::Ok);
    LAST_STATUS.with(|last| last.set(status));
    result
}

fn status_of(result: Result<(), CymemStatus>) -> CymemStatus {
    record(result).err().unwrap_or(CymemStatus::Ok)
}

fn pointer_or_null(result: Result<NonNull<u8>, CymemStatus>) -> *mut c_void {
    record(result).map_or(ptr::null_mut(), |ptr| ptr.as_ptr().cast())
}

/// `pool` as a reference, or [`CymemStatus::NullPool`].
///
/// # Safety
///
/// `pool` is NULL or a live pool from `cymem_pool_new*`, used by no other
/// thread during the call.
unsafe fn pool_ref<'a>(pool: *const CymemPool) -> Result<&'a CymemPool, CymemStatus> {
    // SAFETY: the caller's contract: NULL or live and not in use elsewhere.
    unsafe { pool.as_ref() }.ok_or(CymemStatus::NullPool)
}

/// `pool` as a mutable reference, or [`CymemStatus::NullPool`].
///
/// # Safety
///
/// As for [`pool_ref`].
unsafe fn pool_mut<'a>(pool: *mut CymemPool) -> Result<&'a mut CymemPool, CymemStatus> {
    // SAFETY: the caller's contract: NULL or live and not in use elsewhere.
    unsafe { pool.as_mut() }.ok_or(CymemStatus::NullPool)
}

/// Writes `value` to `out` unless `out` is NULL.
///
/// # Safety
///
/// `out` is NULL or valid for a write of `T`.
unsafe fn write_out<T>(out: *mut T, value: T) {
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
        unsafe { raw.write(CymemPool { backing }) };
    }
    raw
}

/// Creates an empty pool over the system allocator.
///
/// Returns NULL if memory runs out (last error
/// [`CymemStatus::OutOfMemory`]). Free it with [`cymem_pool_destroy`].
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
/// Returns NULL, with last error [`CymemStatus::InvalidArgument`], if
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

/// Allocates `number * elem_size` zeroed bytes, aligned to 16, and returns
/// their address; writes the block's handle to `*out_handle` unless
/// `out_handle` is NULL.
///
/// Zero bytes give a unique, non-NULL address that must not be read.
/// Returns NULL on failure, with last error [`CymemStatus::NullPool`],
/// [`CymemStatus::SizeOverflow`] or [`CymemStatus::OutOfMemory`]; the pool is
/// unchanged and `*out_handle` is not written.
///
/// # Safety
///
/// `pool` is NULL or live; `out_handle` is NULL or writable.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool, a writable handle, reads within the block.
/// unsafe {
///     let pool = cymem_pool_new();
///     let mut handle = CymemHandle::default();
///     let data = cymem_alloc(pool, 10, 4, &mut handle).cast::<i32>();
///     assert_eq!(*data.add(9), 0);
///     assert_eq!(data as usize % 16, 0);
///     assert!(cymem_alloc(pool, usize::MAX, 2, &mut handle).is_null());
///     assert_eq!(cymem_last_error(), CymemStatus::SizeOverflow);
///     assert_eq!(cymem_pool_len(pool), 1);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_alloc(
    pool: *mut CymemPool,
    number: usize,
    elem_size: usize,
    out_handle: *mut CymemHandle,
) -> *mut c_void {
    let mut handle = Handle::NULL;
    // SAFETY: the caller's contract.
    let result = unsafe { pool_mut(pool) }
        .and_then(|pool| pool.blocks_mut().alloc(number, elem_size, &mut handle));
    if result.is_ok() {
        // SAFETY: the caller's contract: NULL or writable.
        unsafe { write_out(out_handle, handle.into()) };
    }
    pointer_or_null(result)
}

/// Frees the block that starts at `ptr`.
///
/// Returns [`CymemStatus::InvalidPointer`] if `ptr` is NULL, foreign,
/// inside a block or already freed; nothing changes then. An address can
/// be given out again after its block is freed, so a stale pointer may
/// name a newer block: [`cymem_free_handle`] catches that. The first call
/// by pointer on a pool indexes its blocks by address, and fails with
/// [`CymemStatus::OutOfMemory`] if that index cannot be allocated.
///
/// # Safety
///
/// `pool` is NULL or live. `ptr` may be anything: it is only compared.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool; pointers are only compared.
/// unsafe {
///     let pool = cymem_pool_new();
///     let p = cymem_alloc(pool, 1, 64, core::ptr::null_mut());
///     assert_eq!(cymem_free(pool, p.cast::<u8>().add(1).cast()), CymemStatus::InvalidPointer);
///     assert_eq!(cymem_free(pool, p), CymemStatus::Ok);
///     assert_eq!(cymem_free(pool, p), CymemStatus::InvalidPointer);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_free(pool: *mut CymemPool, ptr: *mut c_void) -> CymemStatus {
    // SAFETY: the caller's contract.
    status_of(unsafe { pool_mut(pool) }.and_then(|pool| pool.blocks_mut().free_at(ptr.addr())))
}

/// Frees the block `handle` names.
///
/// Returns [`CymemStatus::InvalidHandle`] if the handle is null, freed,
/// stale, from another pool or forged; nothing changes then.
///
/// # Safety
///
/// `pool` is NULL or live. `handle` may hold any bits.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool and a writable handle.
/// unsafe {
///     let pool = cymem_pool_new();
///     let mut handle = CymemHandle::default();
///     cymem_alloc(pool, 2, 8, &mut handle);
///     assert_eq!(cymem_free_handle(pool, handle), CymemStatus::Ok);
///     assert_eq!(cymem_free_handle(pool, handle), CymemStatus::InvalidHandle);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_free_handle(
    pool: *mut CymemPool,
    handle: CymemHandle,
) -> CymemStatus {
    // SAFETY: the caller's contract.
    status_of(unsafe { pool_mut(pool) }.and_then(|pool| pool.blocks_mut().free(handle.into())))
}

/// Resizes the block that starts at `ptr` to `number * elem_size` bytes and
/// returns its new address.
///
/// The first `min(old, new)` bytes are kept, the rest are zero; the block
/// may move, its handle stays the same. Returns NULL on failure, with the
/// block untouched and last error [`CymemStatus::NullPool`],
/// [`CymemStatus::InvalidPointer`] (as for [`cymem_free`]),
/// [`CymemStatus::SizeOverflow`] or [`CymemStatus::OutOfMemory`].
///
/// # Safety
///
/// `pool` is NULL or live. `ptr` may be anything: it is only compared.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool; reads within the block.
/// unsafe {
///     let pool = cymem_pool_new();
///     let p = cymem_alloc(pool, 2, 1, core::ptr::null_mut()).cast::<u8>();
///     *p = 7;
///     let q = cymem_realloc(pool, p.cast(), 1000, 1).cast::<u8>();
///     assert_eq!((*q, *q.add(1), *q.add(999)), (7, 0, 0));
///     assert_eq!(cymem_pool_size(pool), 1000);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_realloc(
    pool: *mut CymemPool,
    ptr: *mut c_void,
    number: usize,
    elem_size: usize,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let result = unsafe { pool_mut(pool) }.and_then(|pool| {
        let blocks = pool.blocks_mut();
        let handle = blocks.handle_at(ptr.addr())?;
        blocks.realloc(handle, number, elem_size)
    });
    pointer_or_null(result)
}

/// Resizes the block `handle` names, as [`cymem_realloc`] does; the handle
/// stays valid, the address may change.
///
/// Fails with [`CymemStatus::InvalidHandle`] where [`cymem_realloc`] fails
/// with [`CymemStatus::InvalidPointer`].
///
/// # Safety
///
/// `pool` is NULL or live. `handle` may hold any bits.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool and a writable handle.
/// unsafe {
///     let pool = cymem_pool_new();
///     let mut handle = CymemHandle::default();
///     cymem_alloc(pool, 4, 8, &mut handle);
///     let p = cymem_realloc_handle(pool, handle, 8, 8);
///     assert_eq!(cymem_lookup(pool, handle, core::ptr::null_mut()), p);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_realloc_handle(
    pool: *mut CymemPool,
    handle: CymemHandle,
    number: usize,
    elem_size: usize,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let result = unsafe { pool_mut(pool) }
        .and_then(|pool| pool.blocks_mut().realloc(handle.into(), number, elem_size));
    pointer_or_null(result)
}

/// The address of the block `handle` names; its size in bytes goes to
/// `*out_size` unless `out_size` is NULL.
///
/// Returns NULL, with last error [`CymemStatus::InvalidHandle`] or
/// [`CymemStatus::NullPool`], if there is no such block; `*out_size` is then
/// not written.
///
/// # Safety
///
/// `pool` is NULL or live; `out_size` is NULL or writable. `handle` may
/// hold any bits.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool, writable out-pointers.
/// unsafe {
///     let pool = cymem_pool_new();
///     let mut handle = CymemHandle::default();
///     let p = cymem_alloc(pool, 3, 4, &mut handle);
///     let mut size = 0;
///     assert_eq!(cymem_lookup(pool, handle, &mut size), p);
///     assert_eq!(size, 12);
///     let forged = CymemHandle { generation: handle.generation + 2, ..handle };
///     assert!(cymem_lookup(pool, forged, &mut size).is_null());
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_lookup(
    pool: *const CymemPool,
    handle: CymemHandle,
    out_size: *mut usize,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    let result = unsafe { pool_ref(pool) }.and_then(|pool| {
        let (ptr, bytes) = pool
            .blocks()
            .lookup(handle.into())
            .ok_or(CymemStatus::InvalidHandle)?;
        // SAFETY: the caller's contract: NULL or writable.
        unsafe { write_out(out_size, bytes) };
        Ok(ptr)
    });
    pointer_or_null(result)
}

/// Finds the block that starts at `ptr`: its handle goes to `*out_handle`
/// and its size in bytes to `*out_size`, each unless NULL.
///
/// Returns [`CymemStatus::InvalidPointer`] if `ptr` is not the start of a
/// live block of this pool, or [`CymemStatus::OutOfMemory`] as for
/// [`cymem_free`]; nothing is written then. The pool is `const` to C as
/// it is unchanged to C, but the first call by pointer on a pool indexes its
/// blocks by address, inside the pool.
///
/// # Safety
///
/// `pool` is NULL or live; `out_handle` and `out_size` are NULL or
/// writable. `ptr` may be anything: it is only compared.
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool, writable out-pointers.
/// unsafe {
///     let pool = cymem_pool_new();
///     let mut made = CymemHandle::default();
///     let p = cymem_alloc(pool, 5, 2, &mut made);
///     let (mut found, mut size) = (CymemHandle::default(), 0);
///     assert_eq!(cymem_find(pool, p, &mut found, &mut size), CymemStatus::Ok);
///     assert_eq!((found, size), (made, 10));
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_find(
    pool: *const CymemPool,
    ptr: *const c_void,
    out_handle: *mut CymemHandle,
    out_size: *mut usize,
) -> CymemStatus {
    // SAFETY: the caller's contract; `const` is C's view only: every pool
    // comes from `new_pool`'s mutable allocation, and no one else uses it now.
    status_of(unsafe { pool_mut(pool.cast_mut()) }.and_then(|pool| {
        let blocks = pool.blocks_mut();
        let handle = blocks.handle_at(ptr.addr())?;
        let (_, bytes) = blocks.lookup(handle).ok_or(CymemStatus::InvalidPointer)?;
        // SAFETY: the caller's contract: each NULL or writable.
        unsafe {
            write_out(out_handle, handle.into());
            write_out(out_size, bytes);
        }
        Ok(())
    }))
}

/// Bytes in live blocks, as asked for: the sum of `number * elem_size`
/// (cymem's `Pool.size`). 0 for a NULL pool.
///
/// # Safety
///
/// `pool` is NULL or live.
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
    unsafe { pool_ref(pool) }.map_or(0, |pool| pool.blocks().bytes())
}

/// The number of live blocks. 0 for a NULL pool.
///
/// # Safety
///
/// `pool` is NULL or live.
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
    unsafe { pool_ref(pool) }.map_or(0, |pool| pool.blocks().len())
}

/// The outcome of the last fallible cymem call on this thread
/// ([`CymemStatus::Ok`] after a success, and before any call).
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool.
/// unsafe {
///     let pool = cymem_pool_new();
///     assert!(cymem_alloc(pool, usize::MAX, 8, core::ptr::null_mut()).is_null());
///     assert_eq!(cymem_last_error(), CymemStatus::SizeOverflow);
///     cymem_alloc(pool, 1, 8, core::ptr::null_mut());
///     assert_eq!(cymem_last_error(), CymemStatus::Ok);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn cymem_last_error() -> CymemStatus {
    LAST_STATUS.with(Cell::get)
}

/// A static, NUL-terminated English description of `status`, or
/// `"unknown status"` for a value that is not a [`CymemStatus`].
///
/// # Examples
///
/// ```
/// use core::ffi::CStr;
/// use cymem::capi::*;
///
/// let text = cymem_status_message(CymemStatus::InvalidPointer as i32);
/// // SAFETY: the result is a static C string.
/// let text = unsafe { CStr::from_ptr(text) };
/// assert_eq!(text.to_str(), Ok("pointer is not the start of a live block of this pool"));
/// ```
#[unsafe(no_mangle)]
pub extern "C" fn cymem_status_message(status: c_int) -> *const c_char {
    CymemStatus::ALL
        .iter()
        .find(|known| **known as c_int == status)
        .map_or(c"unknown status", |known| known.message())
        .as_ptr()
}
