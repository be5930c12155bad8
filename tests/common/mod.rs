//! Allocators for tests: one that counts and checks every block, and one
//! that also fails on demand. Both forward to `std::alloc`, and both report
//! to a shared [`Tracker`] that outlives the pool, so tests can check the
//! counts after the pool is dropped.
#![allow(dead_code)]

use core::alloc::Layout;
use core::ptr::NonNull;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cymem::{BlockAllocator, CAllocator};

/// What an allocator saw: calls, failures, and every block still live with
/// the layout it was allocated with.
#[derive(Debug, Default)]
pub struct Tracker {
    attempts: AtomicUsize,
    allocations: AtomicUsize,
    deallocations: AtomicUsize,
    failures: AtomicUsize,
    fail_next: AtomicUsize,
    live: Mutex<HashMap<usize, Layout>>,
}

impl Tracker {
    /// Calls to `allocate_zeroed`, failed ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Blocks handed out.
    pub fn allocations(&self) -> usize {
        self.allocations.load(Ordering::SeqCst)
    }

    /// Blocks given back.
    pub fn deallocations(&self) -> usize {
        self.deallocations.load(Ordering::SeqCst)
    }

    /// Calls to `allocate_zeroed` that returned `None` on purpose.
    pub fn failures(&self) -> usize {
        self.failures.load(Ordering::SeqCst)
    }

    /// Blocks handed out and not yet given back.
    pub fn live_blocks(&self) -> usize {
        self.live().len()
    }

    /// Bytes in blocks handed out and not yet given back.
    pub fn live_bytes(&self) -> usize {
        self.live().values().map(Layout::size).sum()
    }

    /// Layouts of the live blocks, sorted, for comparing before and after.
    pub fn live_layouts(&self) -> Vec<(usize, usize)> {
        let mut layouts: Vec<_> = self
            .live()
            .values()
            .map(|l| (l.size(), l.align()))
            .collect();
        layouts.sort_unstable();
        layouts
    }

    /// Makes the next `n` calls of a [`FailingAllocator`] return `None`
    /// (replacing any earlier schedule; `0` cancels it).
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Calls still scheduled to fail.
    pub fn pending_failures(&self) -> usize {
        self.fail_next.load(Ordering::SeqCst)
    }

    fn live(&self) -> MutexGuard<'_, HashMap<usize, Layout>> {
        // A panic while holding the lock (a failed check below) must not hide
        // the counts from the test that reports it.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one scheduled failure, if any.
    // A compare-exchange loop: `fetch_update` is deprecated on nightly (Miri,
    // ASan) in favour of `try_update`, which stable 1.95 lacks.
    fn take_failure(&self) -> bool {
        let mut scheduled = self.fail_next.load(Ordering::SeqCst);
        while scheduled > 0 {
            match self.fail_next.compare_exchange(
                scheduled,
                scheduled - 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => scheduled = now,
            }
        }
        false
    }

    fn allocate(&self, layout: Layout, may_fail: bool) -> Option<NonNull<u8>> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        assert_ne!(layout.size(), 0, "a zero-sized block reached the allocator");
        if may_fail && self.take_failure() {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        // SAFETY: `layout.size()` is not zero (asserted above).
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        let previous = self.live().insert(ptr.as_ptr().addr(), layout);
        assert_eq!(previous, None, "allocator returned a live address twice");
        self.allocations.fetch_add(1, Ordering::SeqCst);
        Some(ptr)
    }

    /// # Safety
    ///
    /// - none beyond the trait's: wrong pointers and layouts are caught here
    ///   and panic before reaching `std::alloc::dealloc`.
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        let addr = ptr.as_ptr().addr();
        // Checked before removing, so that a caught panic leaves the block live.
        let allocated = self.live().get(&addr).copied();
        match allocated {
            None => panic!("deallocate of {ptr:?}, which is not live (double free or foreign)"),
            Some(allocated) => assert_eq!(
                allocated, layout,
                "deallocate of {ptr:?} with a layout other than its allocation's"
            ),
        }
        let removed = self.live().remove(&addr);
        assert!(removed.is_some(), "{ptr:?} deallocated twice at once");
        self.deallocations.fetch_add(1, Ordering::SeqCst);
        // SAFETY: `ptr` was live in `live`, so `alloc_zeroed` returned it with
        // `layout` (checked equal above) and it was not freed since.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
    }
}

/// A [`BlockAllocator`] that counts and checks every block and never fails.
#[derive(Debug, Clone)]
pub struct CountingAllocator(Arc<Tracker>);

impl CountingAllocator {
    /// The allocator and the tracker a test keeps.
    pub fn new() -> (Self, Arc<Tracker>) {
        let tracker = Arc::new(Tracker::default());
        (CountingAllocator(Arc::clone(&tracker)), tracker)
    }
}

// SAFETY: forwards to `std::alloc::alloc_zeroed`/`dealloc`, which zero and
// align; `deallocate` checks pointer and layout before freeing, and panics
// only on a broken caller promise, before giving any memory back.
unsafe impl BlockAllocator for CountingAllocator {
    fn allocate_zeroed(&self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.allocate(layout, false)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.deallocate(ptr, layout) }
    }
}

/// A [`BlockAllocator`] like [`CountingAllocator`] that returns `None` when
/// the shared [`Tracker::fail_next`] schedule says so.
#[derive(Debug, Clone)]
pub struct FailingAllocator(Arc<Tracker>);

impl FailingAllocator {
    /// The allocator and the tracker a test keeps.
    pub fn new() -> (Self, Arc<Tracker>) {
        let tracker = Arc::new(Tracker::default());
        (FailingAllocator(Arc::clone(&tracker)), tracker)
    }
}

// SAFETY: as for `CountingAllocator`; returning `None` is always allowed.
unsafe impl BlockAllocator for FailingAllocator {
    fn allocate_zeroed(&self, layout: Layout) -> Option<NonNull<u8>> {
        self.0.allocate(layout, true)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.deallocate(ptr, layout) }
    }
}

/// Scales a loop count down under Miri, which is ~1000x slower.
pub const fn iterations(native: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        native
    }
}

/// Proptest settings of the model tests: 256 cases, 4 under Miri (about
/// 1000x slower), and no failure files (Miri cannot write them).
pub fn proptest_config() -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases: if cfg!(miri) { 4 } else { 256 },
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// libc's own `malloc`/`free` as a [`CAllocator`].
#[allow(dead_code)] // not every test file uses it
pub fn libc_allocator() -> CAllocator {
    // SAFETY: libc's malloc/free are C's own pair, callable from any thread.
    unsafe { CAllocator::new(libc::malloc, libc::free) }
}
