//! The allocator contract: every block of non-zero size is allocated once and
//! given back once with its layout, on `free`, `realloc`, `clear` and drop;
//! zero-byte blocks never reach the allocator; failures change nothing.
//! Checked with the counting allocators of `common` and a counting C
//! `malloc`/`free` pair behind `CAllocator`.

mod common;

use core::alloc::Layout;
use core::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use common::{iterations, CountingAllocator, FailingAllocator, Tracker};
use cymem::{BlockAllocator, CAllocator, Handle, Pool, PoolError};

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
#[repr(C, align(4096))]
struct Page(u8);

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
struct Marker;

/// Allocations, deallocations, live blocks and live bytes.
fn counts(tracker: &Tracker) -> (usize, usize, usize, usize) {
    (
        tracker.allocations(),
        tracker.deallocations(),
        tracker.live_blocks(),
        tracker.live_bytes(),
    )
}

#[test]
fn every_block_is_allocated_once_and_freed_once_on_free() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let a = pool.alloc::<u8>(3).unwrap();
    let b = pool.alloc::<u64>(5).unwrap();
    let c = pool.alloc_slice(&[1u16, 2]).unwrap();
    let d = pool.alloc::<Page>(1).unwrap();
    assert_eq!(counts(&tracker), (4, 0, 4, 3 + 40 + 4 + 4096));
    assert_eq!(tracker.live_bytes(), pool.size());
    pool.free(b).unwrap();
    assert_eq!(counts(&tracker), (4, 1, 3, 3 + 4 + 4096));
    pool.free(d).unwrap();
    pool.free(a).unwrap();
    assert_eq!(counts(&tracker), (4, 3, 1, 4));
    assert_eq!(pool.free(a), Err(PoolError::InvalidHandle));
    assert_eq!(counts(&tracker), (4, 3, 1, 4));
    pool.free(c).unwrap();
    assert_eq!(counts(&tracker), (4, 4, 0, 0));
    assert_eq!(tracker.attempts(), 4);
}

#[test]
fn realloc_allocates_the_new_block_and_frees_the_old_one() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let h = pool.alloc::<u32>(2).unwrap();
    assert_eq!(counts(&tracker), (1, 0, 1, 8));
    pool.realloc(h, 10).unwrap();
    assert_eq!(counts(&tracker), (2, 1, 1, 40));
    pool.realloc(h, 1).unwrap();
    assert_eq!(counts(&tracker), (3, 2, 1, 4));
    pool.realloc(h, 1).unwrap();
    assert_eq!(
        counts(&tracker),
        (3, 2, 1, 4),
        "same size reached the allocator"
    );
    pool.realloc(h, 0).unwrap();
    assert_eq!(
        counts(&tracker),
        (3, 3, 0, 0),
        "shrinking to zero allocated"
    );
    pool.realloc(h, 6).unwrap();
    assert_eq!(counts(&tracker), (4, 3, 1, 24));
    assert_eq!(tracker.live_bytes(), pool.size());
    drop(pool);
    assert_eq!(counts(&tracker), (4, 4, 0, 0));
}

#[test]
fn clear_frees_every_block_and_the_pool_allocates_again() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    for len in 0..10 {
        pool.alloc::<u64>(len).unwrap();
    }
    pool.alloc::<Page>(2).unwrap();
    assert_eq!(counts(&tracker), (10, 0, 10, 45 * 8 + 8192));
    pool.clear();
    assert_eq!(counts(&tracker), (10, 10, 0, 0));
    pool.clear();
    assert_eq!(counts(&tracker), (10, 10, 0, 0));
    let h = pool.alloc_slice(&[1u8, 2]).unwrap();
    assert_eq!(counts(&tracker), (11, 10, 1, 2));
    assert_eq!(pool[h], [1, 2]);
    drop(pool);
    assert_eq!(counts(&tracker), (11, 11, 0, 0));
}

#[test]
fn drop_frees_every_block_once() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let n = iterations(500, 30);
    let mut expected_bytes = 0;
    for i in 0..n {
        let h = pool.alloc::<u32>(i % 9 + 1).unwrap();
        expected_bytes += (i % 9 + 1) * 4;
        if i % 3 == 0 {
            pool.free(h).unwrap();
            expected_bytes -= (i % 9 + 1) * 4;
        } else if i % 3 == 1 {
            pool.realloc(h, i % 5).unwrap();
            expected_bytes = expected_bytes - (i % 9 + 1) * 4 + (i % 5) * 4;
        }
    }
    assert_eq!(tracker.live_bytes(), expected_bytes);
    assert_eq!(pool.size(), expected_bytes);
    drop(pool);
    assert_eq!(tracker.live_blocks(), 0);
    assert_eq!(tracker.live_bytes(), 0);
    assert_eq!(tracker.allocations(), tracker.deallocations());
    assert!(tracker.allocations() >= n);
}

#[test]
fn dropping_an_unused_pool_touches_no_allocator() {
    let (allocator, tracker) = CountingAllocator::new();
    drop(Pool::with_allocator(allocator));
    assert_eq!((tracker.attempts(), tracker.deallocations()), (0, 0));
}

#[test]
fn zero_sized_blocks_never_reach_the_allocator() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let empty = pool.alloc::<u64>(0).unwrap();
    let units = pool.alloc::<()>(usize::MAX).unwrap();
    let markers = pool.alloc::<Marker>(1000).unwrap();
    let empty_pages = pool.alloc::<Page>(0).unwrap();
    let empty_slice = pool.alloc_slice::<u8>(&[]).unwrap();
    pool.realloc(units, 7).unwrap();
    pool.realloc(markers, usize::MAX).unwrap();
    pool.realloc(empty, 0).unwrap();
    pool.free(units).unwrap();
    pool.free(empty_slice).unwrap();
    assert_eq!(pool.len(), 3);
    pool.clear();
    let _ = (pool.alloc::<u8>(0).unwrap(), empty_pages);
    drop(pool);
    assert_eq!(tracker.attempts(), 0);
    assert_eq!(tracker.deallocations(), 0);
}

#[test]
fn every_deallocation_gets_the_layout_of_its_allocation() {
    // The tracker panics on a wrong layout or pointer; here every kind of
    // block goes back through free, realloc, clear and drop.
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let pages = pool.alloc::<Page>(3).unwrap();
    let arrays = pool.alloc::<[u8; 3]>(5).unwrap();
    let wide = pool.alloc::<u128>(2).unwrap();
    assert_eq!(tracker.live_layouts(), [(15, 1), (32, 16), (12288, 4096)]);
    pool.realloc(pages, 1).unwrap();
    pool.realloc(arrays, 7).unwrap();
    assert_eq!(tracker.live_layouts(), [(21, 1), (32, 16), (4096, 4096)]);
    pool.free(wide).unwrap();
    pool.clear();
    let again = pool.alloc::<Page>(2).unwrap();
    pool.realloc(again, 5).unwrap();
    drop(pool);
    assert_eq!(tracker.live_blocks(), 0);
    assert_eq!(tracker.allocations(), 7);
    assert_eq!(tracker.deallocations(), 7);
}

#[test]
fn failed_alloc_leaves_counts_and_pool_intact() {
    let (allocator, tracker) = FailingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    // Fails before the first block: the pool stays empty.
    tracker.fail_next(1);
    assert_eq!(pool.alloc::<u8>(4), Err(PoolError::OutOfMemory));
    assert!(pool.is_empty());
    let kept = pool.alloc_slice(&[1u32, 2, 3]).unwrap();
    let before = counts(&tracker);

    tracker.fail_next(3);
    assert_eq!(pool.alloc::<u64>(1), Err(PoolError::OutOfMemory));
    assert_eq!(pool.alloc::<Page>(1), Err(PoolError::OutOfMemory));
    assert_eq!(pool.alloc_slice(&[5u8]), Err(PoolError::OutOfMemory));
    assert_eq!(counts(&tracker), before);
    assert_eq!(tracker.failures(), 4);
    assert_eq!(tracker.pending_failures(), 0);
    assert_eq!((pool.len(), pool.size()), (1, 12));
    assert_eq!(pool[kept], [1, 2, 3]);

    // Zero-byte blocks do not consume a scheduled failure.
    tracker.fail_next(1);
    assert!(pool.alloc::<u8>(0).is_ok());
    assert_eq!(tracker.pending_failures(), 1);
    assert_eq!(pool.alloc::<u8>(1), Err(PoolError::OutOfMemory));
    let next = pool.alloc_slice(&[9u8]).unwrap();
    assert_eq!(pool[next], [9]);
    drop(pool);
    assert_eq!(tracker.live_blocks(), 0);
    assert_eq!(tracker.allocations(), tracker.deallocations());
}

#[test]
fn failed_realloc_leaves_counts_and_pool_intact() {
    let (allocator, tracker) = FailingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let h = pool.alloc_slice(&[1u32, 2, 3]).unwrap();
    let empty = pool.alloc::<u32>(0).unwrap();
    let before = (counts(&tracker), tracker.live_layouts());
    for (handle, new_len) in [(h, 10), (h, 1), (empty, 4)] {
        tracker.fail_next(1);
        assert_eq!(pool.realloc(handle, new_len), Err(PoolError::OutOfMemory));
        assert_eq!((counts(&tracker), tracker.live_layouts()), before);
    }
    assert_eq!(pool[h], [1, 2, 3]);
    assert_eq!(pool[empty], []);
    assert_eq!((pool.len(), pool.size()), (2, 12));
    // Shrinking to zero bytes needs no allocation, so it cannot fail.
    tracker.fail_next(1);
    pool.realloc(h, 0).unwrap();
    assert_eq!(tracker.live_blocks(), 0);
    drop(pool);
    assert_eq!(tracker.allocations(), tracker.deallocations());
}

#[test]
fn failures_interleaved_with_successes_keep_the_counts_exact() {
    let (allocator, tracker) = FailingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let mut live: Vec<(Handle<u16>, usize)> = Vec::new();
    for i in 0..iterations(300, 30) {
        let fail = i % 4 == 1;
        if fail {
            tracker.fail_next(1);
        }
        let len = i % 6 + 1;
        match live.get(i % 5).copied() {
            Some((h, _)) if i % 2 == 0 => {
                let result = pool.realloc(h, len);
                assert_eq!(result.is_err(), fail);
                if !fail {
                    live[i % 5].1 = len;
                }
            }
            _ => {
                let result = pool.alloc::<u16>(len);
                assert_eq!(result.is_err(), fail);
                if let Ok(h) = result {
                    live.push((h, len));
                }
            }
        }
        tracker.fail_next(0);
        assert_eq!(tracker.live_blocks(), live.len());
        assert_eq!(
            tracker.live_bytes(),
            live.iter().map(|(_, len)| len * 2).sum::<usize>()
        );
        assert_eq!(pool.size(), tracker.live_bytes());
    }
    drop(pool);
    assert_eq!(tracker.live_blocks(), 0);
}

// The checks above mean something only if the test allocators catch what
// they claim to.

#[test]
fn counting_allocator_catches_a_double_free() {
    let (allocator, tracker) = CountingAllocator::new();
    let layout = Layout::new::<u64>();
    let ptr = allocator.allocate_zeroed(layout).unwrap();
    // SAFETY: `ptr` came from this allocator with `layout` and is live.
    unsafe { allocator.deallocate(ptr, layout) };
    // SAFETY: breaks the caller's promise on purpose; `CountingAllocator`
    // checks that `ptr` is live before passing it on, and panics instead.
    let second = catch_unwind(AssertUnwindSafe(|| unsafe {
        allocator.deallocate(ptr, layout)
    }));
    assert!(second.is_err(), "double free went unnoticed");
    assert_eq!((tracker.allocations(), tracker.deallocations()), (1, 1));
}

#[test]
fn counting_allocator_catches_a_wrong_layout() {
    let (allocator, tracker) = CountingAllocator::new();
    let layout = Layout::new::<[u64; 2]>();
    let ptr = allocator.allocate_zeroed(layout).unwrap();
    for wrong in [Layout::new::<u64>(), Layout::new::<[u32; 4]>()] {
        // SAFETY: breaks the caller's promise on purpose; `CountingAllocator`
        // compares the layout before passing it on, and panics instead.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe {
            allocator.deallocate(ptr, wrong)
        }));
        assert!(
            result.is_err(),
            "{wrong:?} for a {layout:?} block went unnoticed"
        );
    }
    assert_eq!(tracker.live_blocks(), 1);
    // SAFETY: `ptr` came from this allocator with `layout` and is still live.
    unsafe { allocator.deallocate(ptr, layout) };
    assert_eq!(tracker.live_blocks(), 0);
}

// A C `malloc`/`free` pair that counts and checks every pointer. Its state
// is global, so the tests using it take `C_LOCK` and start from zero.

static C_LOCK: Mutex<()> = Mutex::new(());
static MALLOCS: AtomicUsize = AtomicUsize::new(0);
static FREES: AtomicUsize = AtomicUsize::new(0);
static BAD_FREES: AtomicUsize = AtomicUsize::new(0);
static LIVE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// Larger requests get null without reaching the real `malloc`.
const MALLOC_LIMIT: usize = 1 << 30;

fn live_mallocs() -> MutexGuard<'static, Vec<usize>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

unsafe extern "C" fn counting_malloc(n: usize) -> *mut c_void {
    if n > MALLOC_LIMIT {
        return core::ptr::null_mut();
    }
    // SAFETY: C's `malloc` accepts any size.
    let ptr = unsafe { libc::malloc(n) };
    if !ptr.is_null() {
        MALLOCS.fetch_add(1, Ordering::SeqCst);
        live_mallocs().push(ptr.addr());
    }
    ptr
}

unsafe extern "C" fn counting_free(ptr: *mut c_void) {
    let mut live = live_mallocs();
    match live.iter().position(|&addr| addr == ptr.addr()) {
        Some(i) => {
            live.swap_remove(i);
            FREES.fetch_add(1, Ordering::SeqCst);
            // SAFETY: `ptr` came from `libc::malloc` and was live (checked above).
            unsafe { libc::free(ptr) }
        }
        // Not ours or freed twice: count it instead of freeing (a panic
        // cannot unwind out of an `extern "C"` function).
        None => {
            BAD_FREES.fetch_add(1, Ordering::SeqCst);
        }
    }
}

unsafe extern "C" fn null_malloc(_: usize) -> *mut c_void {
    MALLOCS.fetch_add(1, Ordering::SeqCst);
    core::ptr::null_mut()
}

/// Serializes the tests sharing the C pair and resets its counters.
fn c_test() -> MutexGuard<'static, ()> {
    let guard = C_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    MALLOCS.store(0, Ordering::SeqCst);
    FREES.store(0, Ordering::SeqCst);
    BAD_FREES.store(0, Ordering::SeqCst);
    live_mallocs().clear();
    guard
}

/// Mallocs, frees, bad frees, live mallocs.
fn c_counts() -> (usize, usize, usize, usize) {
    (
        MALLOCS.load(Ordering::SeqCst),
        FREES.load(Ordering::SeqCst),
        BAD_FREES.load(Ordering::SeqCst),
        live_mallocs().len(),
    )
}

fn counting_c_pool() -> Pool<CAllocator> {
    // SAFETY: counting_malloc/counting_free forward to libc's pair.
    Pool::with_allocator(unsafe { CAllocator::new(counting_malloc, counting_free) })
}

#[test]
fn c_allocator_frees_every_malloc_on_free() {
    let _guard = c_test();
    let mut pool = counting_c_pool();
    let a = pool.alloc_slice(&[1u8, 2, 3]).unwrap();
    let b = pool.alloc::<Page>(2).unwrap();
    let c = pool.alloc::<u64>(0).unwrap();
    assert_eq!(c_counts(), (2, 0, 0, 2));
    pool.free(a).unwrap();
    pool.free(c).unwrap();
    assert_eq!(c_counts(), (2, 1, 0, 1));
    assert_eq!(pool[b], [Page(0); 2]);
    pool.free(b).unwrap();
    assert_eq!(c_counts(), (2, 2, 0, 0));
}

#[test]
fn c_allocator_frees_the_old_block_on_realloc() {
    let _guard = c_test();
    let mut pool = counting_c_pool();
    let h = pool.alloc_slice(&[7u32; 3]).unwrap();
    pool.realloc(h, 100).unwrap();
    assert_eq!(c_counts(), (2, 1, 0, 1));
    pool.realloc(h, 0).unwrap();
    assert_eq!(c_counts(), (2, 2, 0, 0));
    pool.realloc(h, 2).unwrap();
    assert_eq!(c_counts(), (3, 2, 0, 1));
    drop(pool);
    assert_eq!(c_counts(), (3, 3, 0, 0));
}

#[test]
fn c_allocator_frees_every_malloc_on_clear_and_drop() {
    let _guard = c_test();
    let mut pool = counting_c_pool();
    let n = iterations(200, 20);
    for i in 0..n {
        pool.alloc::<u16>(i % 4).unwrap();
    }
    let zero_len = n.div_ceil(4);
    assert_eq!(c_counts(), (n - zero_len, 0, 0, n - zero_len));
    pool.clear();
    assert_eq!(c_counts(), (n - zero_len, n - zero_len, 0, 0));
    for i in 0..n {
        pool.alloc::<Page>(i % 3).unwrap();
    }
    drop(pool);
    let (mallocs, frees, bad, live) = c_counts();
    assert_eq!((mallocs, frees, bad, live), (mallocs, mallocs, 0, 0));
    assert!(mallocs > n);
}

#[test]
fn c_allocator_with_a_null_malloc_gives_out_of_memory() {
    let _guard = c_test();
    // SAFETY: null_malloc only ever returns null, which C's contract allows.
    let mut pool = Pool::with_allocator(unsafe { CAllocator::new(null_malloc, counting_free) });
    let empty = pool.alloc::<u8>(0).unwrap();
    assert_eq!(pool.alloc::<u8>(1), Err(PoolError::OutOfMemory));
    assert_eq!(pool.realloc(empty, 5), Err(PoolError::OutOfMemory));
    assert_eq!(pool.alloc::<Page>(1), Err(PoolError::OutOfMemory));
    assert!(pool.contains(empty));
    assert_eq!((pool.len(), pool.size()), (1, 0));
    drop(pool);
    assert_eq!(c_counts(), (3, 0, 0, 0));
}

#[test]
fn c_allocator_refusing_a_huge_request_gives_out_of_memory() {
    let _guard = c_test();
    let mut pool = counting_c_pool();
    let kept = pool.alloc_slice(&[4u8, 5]).unwrap();
    assert_eq!(
        pool.alloc::<u8>(MALLOC_LIMIT + 1),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(
        pool.alloc::<u8>(isize::MAX as usize),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(
        pool.alloc::<Page>(isize::MAX as usize / 4096 - 1),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(pool.realloc(kept, usize::MAX), Err(PoolError::SizeOverflow));
    assert_eq!(
        pool.realloc(kept, MALLOC_LIMIT),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(pool[kept], [4, 5]);
    drop(pool);
    assert_eq!(c_counts(), (1, 1, 0, 0));
}
