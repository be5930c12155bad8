//! Status codes: what a call reports, and the per-thread last error.

use core::ffi::{c_char, c_int, c_void};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};
use std::cell::Cell;

use crate::PoolError;

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

/// Whether any call in the process has failed yet. Until one has, every
/// thread's `LAST_STATUS` still holds its initial `Ok`, so a success need not
/// touch it: in a shared library each thread-local access is a call to
/// `__tls_get_addr`, about a tenth of an alloc + free pair through Cython.
static ANY_FAILED: AtomicBool = AtomicBool::new(false);

/// Records `result`'s status for [`cymem_last_error`] and returns it.
#[inline]
pub(super) fn record<T>(result: Result<T, CymemStatus>) -> Result<T, CymemStatus> {
    match &result {
        Err(status) => record_failure(*status),
        // Relaxed: a thread's own `LAST_STATUS` is only read by that thread,
        // and a thread that failed saw its own store of `true`.
        Ok(_) if ANY_FAILED.load(Ordering::Relaxed) => {
            LAST_STATUS.with(|last| last.set(CymemStatus::Ok));
        }
        Ok(_) => {}
    }
    result
}

#[cold]
fn record_failure(status: CymemStatus) {
    ANY_FAILED.store(true, Ordering::Relaxed);
    LAST_STATUS.with(|last| last.set(status));
}

pub(super) fn status_of(result: Result<(), CymemStatus>) -> CymemStatus {
    record(result).err().unwrap_or(CymemStatus::Ok)
}

pub(super) fn pointer_or_null(result: Result<NonNull<u8>, CymemStatus>) -> *mut c_void {
    record(result).map_or(ptr::null_mut(), |ptr| ptr.as_ptr().cast())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// C gets static C strings, Rust a `Display`: where the two name the same
    /// failure, they must say the same (the size message differs on purpose:
    /// C callers pass `number * elem_size`, not a length of `T`).
    #[test]
    fn messages_match_pool_error_display() {
        for error in [PoolError::InvalidHandle, PoolError::OutOfMemory] {
            let status = CymemStatus::from(error);
            assert_eq!(status.message().to_str(), Ok(error.to_string().as_str()));
        }
    }

    #[test]
    fn every_status_has_a_distinct_message() {
        let mut messages: Vec<_> = CymemStatus::ALL.iter().map(|s| s.message()).collect();
        messages.sort();
        messages.dedup();
        assert_eq!(messages.len(), CymemStatus::ALL.len());
    }
}
