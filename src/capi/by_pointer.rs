//! Blocks named by the address `cymem_alloc` returned, as cymem's `Pool`
//! names them: alloc, free, realloc and find.

use core::ffi::c_void;

use super::blocks::BlockMap;
use super::by_handle::CymemHandle;
use super::pool::{on_blocks, pool_mut, write_out, CymemPool};
use super::status::{pointer_or_null, status_of, CymemStatus};
use crate::Handle;

/// Allocates `number * elem_size` zeroed bytes, aligned to 16, and returns
/// their address; writes the block's handle to `*out_handle` unless
/// `out_handle` is NULL.
///
/// Zero bytes give a unique, non-NULL address that must not be read. A
/// block made with a NULL `out_handle` has no handle (and costs less: no
/// slot) until [`cymem_find`] asks for one.
/// Returns NULL on failure, with last error [`CymemStatus::NullPool`](super::CymemStatus::NullPool),
/// [`CymemStatus::SizeOverflow`](super::CymemStatus::SizeOverflow) or [`CymemStatus::OutOfMemory`](super::CymemStatus::OutOfMemory); the pool is
/// unchanged and `*out_handle` is not written.
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call; `out_handle` is NULL or writable.
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
    // SAFETY: the caller's contract.
    let Ok(pool) = (unsafe { pool_mut(pool) }) else {
        return pointer_or_null(Err(CymemStatus::NullPool));
    };
    if out_handle.is_null() {
        let result = on_blocks!(pool, blocks => blocks.alloc(number, elem_size, None));
        if result.is_ok() {
            pool.update_mirror();
        }
        return pointer_or_null(result);
    }
    let mut handle = Handle::NULL;
    let result = on_blocks!(pool, blocks => blocks.alloc(number, elem_size, Some(&mut handle)));
    if result.is_ok() {
        pool.update_mirror();
        // SAFETY: the caller's contract: not NULL, so writable.
        unsafe { out_handle.write(handle.into()) };
    }
    pointer_or_null(result)
}

/// Frees the block that starts at `ptr`.
///
/// Returns [`CymemStatus::InvalidPointer`](super::CymemStatus::InvalidPointer) if `ptr` is NULL, foreign,
/// inside a block or already freed; nothing changes then. An address can
/// be given out again after its block is freed, so a stale pointer may
/// name a newer block: [`cymem_free_handle`](super::cymem_free_handle) catches that. Freeing the
/// newest block is a compare and a pop; the first call that names an older
/// one indexes the pool's blocks by address, and fails with
/// [`CymemStatus::OutOfMemory`](super::CymemStatus::OutOfMemory) if that index cannot be allocated.
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call. `ptr` may be anything: it is only compared.
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
    status_of(unsafe { pool_mut(pool) }.and_then(|pool| {
        on_blocks!(pool, blocks => blocks.free_at(ptr.addr()))?;
        pool.update_mirror();
        Ok(())
    }))
}

/// [`cymem_free`], also writing the freed block's size in bytes (as it was
/// asked for) to `*out_size` unless `out_size` is NULL: for a caller that
/// keeps its own running total, as cymem's `Pool.size` is, without a second
/// call. `*out_size` is not written if the call fails.
///
/// # Safety
///
/// As for [`cymem_free`]; `out_size` is NULL or writable, and not inside the
/// block being freed (it is written after the block is given back).
///
/// # Examples
///
/// ```
/// use cymem::capi::*;
///
/// // SAFETY: a live pool, a writable size; pointers are only compared.
/// unsafe {
///     let pool = cymem_pool_new();
///     let p = cymem_alloc(pool, 3, 10, core::ptr::null_mut());
///     let mut size = 0;
///     assert_eq!(cymem_free_with_size(pool, p, &mut size), CymemStatus::Ok);
///     assert_eq!(size, 30);
///     size = 7;
///     assert_eq!(cymem_free_with_size(pool, p, &mut size), CymemStatus::InvalidPointer);
///     assert_eq!(size, 7);
///     cymem_pool_destroy(pool);
/// }
/// ```
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cymem_free_with_size(
    pool: *mut CymemPool,
    ptr: *mut c_void,
    out_size: *mut usize,
) -> CymemStatus {
    // SAFETY: the caller's contract.
    let result = unsafe { pool_mut(pool) }.and_then(|pool| {
        let bytes = on_blocks!(pool, blocks => blocks.free_at(ptr.addr()))?;
        pool.update_mirror();
        Ok(bytes)
    });
    if let Ok(bytes) = result {
        // SAFETY: the caller's contract: NULL or writable.
        unsafe { write_out(out_size, bytes) };
    }
    status_of(result.map(drop))
}

/// Resizes the block that starts at `ptr` to `number * elem_size` bytes and
/// returns its new address.
///
/// The first `min(old, new)` bytes are kept, the rest are zero; the block
/// may move, its handle stays the same. Returns NULL on failure, with the
/// block untouched and last error [`CymemStatus::NullPool`](super::CymemStatus::NullPool),
/// [`CymemStatus::InvalidPointer`](super::CymemStatus::InvalidPointer) (as for [`cymem_free`]),
/// [`CymemStatus::SizeOverflow`](super::CymemStatus::SizeOverflow) or [`CymemStatus::OutOfMemory`](super::CymemStatus::OutOfMemory).
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call. `ptr` may be anything: it is only compared.
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
        let ptr = on_blocks!(pool, blocks => blocks.realloc_at(ptr.addr(), number, elem_size))?;
        pool.update_mirror();
        Ok(ptr)
    });
    pointer_or_null(result)
}

/// Finds the block that starts at `ptr`: its handle goes to `*out_handle`
/// and its size in bytes to `*out_size`, each unless NULL.
///
/// A block made without a handle is given one here when `out_handle` is
/// not NULL (the pool records it in a slot from then on).
///
/// Returns [`CymemStatus::InvalidPointer`](super::CymemStatus::InvalidPointer) if `ptr` is not the start of a
/// live block of this pool, or [`CymemStatus::OutOfMemory`](super::CymemStatus::OutOfMemory) as for
/// [`cymem_free`] or if the slot for a new handle cannot be allocated;
/// nothing is written then. The pool is not `const`: this may index the
/// pool's blocks by address (as [`cymem_free`] does) or give a block a
/// slot, inside the pool, so two threads may not call this on one pool at
/// once.
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call; `out_handle` and `out_size` are NULL or
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
    pool: *mut CymemPool,
    ptr: *const c_void,
    out_handle: *mut CymemHandle,
    out_size: *mut usize,
) -> CymemStatus {
    // SAFETY: the caller's contract; `const` is C's view only: every pool
    // comes from `new_pool`'s mutable allocation, and no one else uses it now.
    status_of(unsafe { pool_mut(pool) }.and_then(|pool| {
        let mut handle = Handle::NULL;
        let wanted = (!out_handle.is_null()).then_some(&mut handle);
        let bytes = on_blocks!(pool, blocks => blocks.find(ptr.addr(), wanted))?;
        // SAFETY: the caller's contract: each NULL or writable.
        unsafe {
            if !out_handle.is_null() {
                out_handle.write(handle.into());
            }
            write_out(out_size, bytes);
        }
        Ok(())
    }))
}
