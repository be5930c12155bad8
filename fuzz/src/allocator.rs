//! The counting, failure-injecting [`BlockAllocator`], and the `allocator`
//! target: the `ops` interpreter on a pool whose allocator fails the calls
//! the input picks.

use core::alloc::Layout;
use core::cell::{Cell, RefCell};
use core::ptr::NonNull;
use std::collections::HashMap;
use std::rc::Rc;

use arbitrary::Arbitrary;
use cymem::BlockAllocator;

use crate::ops::{Harness, Op};

/// What the allocator saw; shared with the harness, outlives the pool.
#[derive(Debug, Default)]
pub struct Tracker {
    /// Call `n` of `allocate_zeroed` fails if `schedule[n]` is `true`.
    schedule: Vec<bool>,
    attempts: Cell<usize>,
    failures: Cell<usize>,
    /// Address -> layout of every block handed out and not given back.
    live: RefCell<HashMap<usize, Layout>>,
}

impl Tracker {
    /// A tracker whose allocator fails the calls `schedule` marks `true`
    /// (counting from 0); later calls succeed.
    pub fn new(schedule: Vec<bool>) -> Rc<Self> {
        Rc::new(Tracker {
            schedule,
            ..Tracker::default()
        })
    }

    /// Calls to `allocate_zeroed`, failed ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.get()
    }

    /// Calls to `allocate_zeroed` that returned `None` on purpose.
    pub fn failures(&self) -> usize {
        self.failures.get()
    }

    /// Blocks handed out and not given back.
    pub fn live_blocks(&self) -> usize {
        self.live.borrow().len()
    }

    /// Bytes in blocks handed out and not given back.
    pub fn live_bytes(&self) -> usize {
        self.live.borrow().values().map(Layout::size).sum()
    }

    /// The layout of the live block at `addr`.
    pub fn layout_of(&self, addr: usize) -> Option<Layout> {
        self.live.borrow().get(&addr).copied()
    }
}

/// A [`BlockAllocator`] over `std::alloc` that counts and checks every block
/// and fails the calls its [`Tracker`]'s schedule says.
#[derive(Debug, Clone)]
pub struct TrackingAllocator(pub Rc<Tracker>);

// SAFETY: forwards to `std::alloc::alloc_zeroed`/`dealloc`, which zero and
// align; `deallocate` checks pointer and layout against `live` before freeing
// and panics (aborting the fuzz run) only on a broken caller promise.
unsafe impl BlockAllocator for TrackingAllocator {
    fn allocate_zeroed(&self, layout: Layout) -> Option<NonNull<u8>> {
        let tracker = &self.0;
        let call = tracker.attempts.get();
        tracker.attempts.set(call + 1);
        assert_ne!(layout.size(), 0, "a zero-sized block reached the allocator");
        if tracker.schedule.get(call).copied().unwrap_or(false) {
            tracker.failures.set(tracker.failures.get() + 1);
            return None;
        }
        // SAFETY: `layout.size()` is not zero (asserted above).
        let ptr = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        let previous = tracker
            .live
            .borrow_mut()
            .insert(ptr.as_ptr().addr(), layout);
        assert_eq!(previous, None, "allocator returned a live address twice");
        Some(ptr)
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        let allocated = self.0.live.borrow_mut().remove(&ptr.as_ptr().addr());
        match allocated {
            None => panic!("deallocate of {ptr:?}, which is not live (double free or foreign)"),
            Some(allocated) => assert_eq!(
                allocated, layout,
                "deallocate of {ptr:?} with a layout other than its allocation's"
            ),
        }
        // SAFETY: `ptr` was live, so `alloc_zeroed` returned it with `layout`
        // (checked equal above) and it was not freed since.
        unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) }
    }
}

/// Input of the `allocator` target.
#[derive(Arbitrary, Debug)]
pub struct Input {
    /// Which calls of `allocate_zeroed` fail, by call number.
    pub fail: Vec<bool>,
    /// The operations, as in the `ops` target.
    pub ops: Vec<Op>,
}

/// The `allocator` target: after every operation the allocator's live
/// blocks are exactly the pool's blocks of non-zero size, with their
/// layouts; every `OutOfMemory` leaves the pool as it was; after the pool is
/// dropped no block is live.
pub fn run(input: Input) {
    let tracker = Tracker::new(input.fail);
    let mut harness = Harness::new(
        TrackingAllocator(Rc::clone(&tracker)),
        Some(Rc::clone(&tracker)),
    );
    harness.run(&input.ops);
    drop(harness);
    assert_eq!(
        tracker.live_blocks(),
        0,
        "blocks leaked after the pool dropped"
    );
}
