//! Blocks named by generation-checked handles: the handle type, and
//! free, realloc and lookup by handle.

use core::ffi::c_void;

use super::blocks::BlockMap;
use super::blocks::Unit;
use super::pool::{on_blocks, pool_mut, pool_ref, write_out, CymemPool};
use super::status::{pointer_or_null, status_of, CymemStatus};
use crate::Handle;

/// A handle to a block of a pool (`cymem_handle` in C).
///
/// Plain data, 16 bytes, to be stored in C structs and compared with
/// `memcmp`; its fields are not meant to be read or set. All zeroes is the
/// null handle, which no pool gives out. A handle that is freed, stale, from
/// another pool or forged makes the `_handle` functions fail with
/// [`CymemStatus::InvalidHandle`](super::CymemStatus::InvalidHandle).
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

/// Frees the block `handle` names.
///
/// Returns [`CymemStatus::InvalidHandle`](super::CymemStatus::InvalidHandle) if the handle is null, freed,
/// stale, from another pool or forged; nothing changes then.
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call. `handle` may hold any bits.
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
    status_of(unsafe { pool_mut(pool) }.and_then(|pool| {
        on_blocks!(pool, blocks => blocks.free(handle.into()))?;
        pool.update_mirror();
        Ok(())
    }))
}

/// Resizes the block `handle` names, as [`cymem_realloc`](super::cymem_realloc) does; the handle
/// stays valid, the address may change.
///
/// Fails with [`CymemStatus::InvalidHandle`](super::CymemStatus::InvalidHandle) where [`cymem_realloc`](super::cymem_realloc) fails
/// with [`CymemStatus::InvalidPointer`](super::CymemStatus::InvalidPointer).
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call. `handle` may hold any bits.
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
    let result = unsafe { pool_mut(pool) }.and_then(|pool| {
        let ptr = on_blocks!(pool, blocks => blocks.realloc(handle.into(), number, elem_size))?;
        pool.update_mirror();
        Ok(ptr)
    });
    pointer_or_null(result)
}

/// The address of the block `handle` names; its size in bytes goes to
/// `*out_size` unless `out_size` is NULL.
///
/// Returns NULL, with last error [`CymemStatus::InvalidHandle`](super::CymemStatus::InvalidHandle) or
/// [`CymemStatus::NullPool`](super::CymemStatus::NullPool), if there is no such block; `*out_size` is then
/// not written.
///
/// # Safety
///
/// `pool` is NULL or live, and in no other use (no other thread, no
/// Rust reference) during the call; `out_size` is NULL or writable. `handle` may
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
        let (ptr, bytes) = on_blocks!(ref pool, blocks => blocks.lookup(handle.into()))
            .ok_or(CymemStatus::InvalidHandle)?;
        // SAFETY: the caller's contract: NULL or writable.
        unsafe { write_out(out_size, bytes) };
        Ok(ptr)
    });
    pointer_or_null(result)
}
