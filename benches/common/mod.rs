//! What the benches share: the raw `calloc`/`free` baseline, the criterion
//! settings, and the fresh-process runner (`fresh.rs`).
#![allow(dead_code)]

use std::time::Duration;

use criterion::Criterion;

pub mod fresh;

pub fn raw_calloc(bytes: usize) -> *mut u8 {
    // SAFETY: calloc has no preconditions; null is checked below.
    let ptr = unsafe { libc::calloc(1, bytes) }.cast::<u8>();
    assert!(!ptr.is_null(), "calloc failed");
    ptr
}

pub fn raw_free(ptr: *mut u8) {
    // SAFETY: every pointer passed here came from `raw_calloc`/`libc::realloc`
    // and is freed once.
    unsafe { libc::free(ptr.cast()) }
}

/// Each workload is a few to tens of ms; few samples keep a bench file to a
/// few minutes.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}
