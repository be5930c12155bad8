//! Element destructors run exactly once: when their block is freed, shrunk
//! (only the cut-off elements), cleared or dropped, never when a block grows.
//! A panicking destructor still lets every block go back to the allocator,
//! and the pool stays usable.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{iterations, CountingAllocator};
use cymem::{Handle, Pool};

/// The ids of dropped elements, in drop order.
#[derive(Default)]
struct DropLog(Mutex<Vec<usize>>);

impl DropLog {
    fn dropped(&self) -> Vec<usize> {
        let mut ids = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        ids.sort_unstable();
        ids
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

struct Tracked {
    id: usize,
    log: Arc<DropLog>,
    panic_on_drop: bool,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.log
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.id);
        if self.panic_on_drop {
            panic!("element {} panics on drop", self.id);
        }
    }
}

/// An element that owns heap memory and logs its drop; zeroed, it is `None`.
#[repr(transparent)]
struct Item(Option<Box<Tracked>>);

// SAFETY: all-zero bytes are `None` for `Option<Box<_>>` (the null pointer
// optimisation is guaranteed for `Box`), so a zeroed `Item` is valid.
unsafe impl bytemuck::Zeroable for Item {}

fn item(log: &Arc<DropLog>, id: usize) -> Item {
    Item(Some(Box::new(Tracked {
        id,
        log: Arc::clone(log),
        panic_on_drop: false,
    })))
}

fn panicking_item(log: &Arc<DropLog>, id: usize) -> Item {
    Item(Some(Box::new(Tracked {
        id,
        log: Arc::clone(log),
        panic_on_drop: true,
    })))
}

fn ids(block: &[Item]) -> Vec<Option<usize>> {
    block
        .iter()
        .map(|item| item.0.as_ref().map(|t| t.id))
        .collect()
}

/// Allocates `len` items with ids `first..first + len`.
fn filled<A: cymem::BlockAllocator>(
    pool: &mut Pool<A>,
    log: &Arc<DropLog>,
    first: usize,
    len: usize,
) -> Handle<Item> {
    let h = pool.alloc::<Item>(len).unwrap();
    for (i, slot) in pool[h].iter_mut().enumerate() {
        *slot = item(log, first + i);
    }
    h
}

#[test]
fn zeroed_elements_are_none_and_dropping_them_logs_nothing() {
    let log = Arc::new(DropLog::default());
    let mut pool = Pool::new();
    let h = pool.alloc::<Item>(4).unwrap();
    assert_eq!(ids(&pool[h]), [None; 4]);
    pool.free(h).unwrap();
    assert_eq!(log.count(), 0);
}

#[test]
fn elements_are_dropped_once_on_free() {
    let log = Arc::new(DropLog::default());
    let mut pool = Pool::new();
    let h = pool.alloc::<Item>(5).unwrap();
    for i in [0, 2, 4] {
        pool[h][i] = item(&log, i);
    }
    let other = filled(&mut pool, &log, 10, 2);
    assert_eq!(log.count(), 0);
    pool.free(h).unwrap();
    assert_eq!(log.dropped(), [0, 2, 4]);
    assert!(pool.free(h).is_err());
    assert_eq!(log.dropped(), [0, 2, 4]);
    assert_eq!(ids(&pool[other]), [Some(10), Some(11)]);
}

#[test]
fn realloc_shrink_drops_only_the_cut_off_elements() {
    let log = Arc::new(DropLog::default());
    let mut pool = Pool::new();
    let h = filled(&mut pool, &log, 0, 6);
    pool.realloc(h, 2).unwrap();
    assert_eq!(log.dropped(), [2, 3, 4, 5]);
    assert_eq!(ids(&pool[h]), [Some(0), Some(1)]);
    pool.realloc(h, 0).unwrap();
    assert_eq!(log.dropped(), [0, 1, 2, 3, 4, 5]);
    drop(pool);
    assert_eq!(log.count(), 6);
}

#[test]
fn realloc_grow_moves_elements_without_dropping_them() {
    let log = Arc::new(DropLog::default());
    let mut pool = Pool::new();
    let h = filled(&mut pool, &log, 0, 3);
    pool.realloc(h, 8).unwrap();
    assert_eq!(log.count(), 0);
    assert_eq!(
        ids(&pool[h]),
        [Some(0), Some(1), Some(2), None, None, None, None, None]
    );
    pool[h][7] = item(&log, 7);
    pool.realloc(h, 8).unwrap();
    assert_eq!(log.count(), 0);
    pool.free(h).unwrap();
    assert_eq!(log.dropped(), [0, 1, 2, 7]);
}

#[test]
fn elements_are_dropped_once_on_clear() {
    let log = Arc::new(DropLog::default());
    let mut pool = Pool::new();
    let a = filled(&mut pool, &log, 0, 3);
    filled(&mut pool, &log, 3, 2);
    pool.free(a).unwrap();
    filled(&mut pool, &log, 5, 1);
    pool.clear();
    assert_eq!(log.dropped(), [0, 1, 2, 3, 4, 5]);
    pool.clear();
    drop(pool);
    assert_eq!(log.dropped(), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn elements_are_dropped_once_on_pool_drop() {
    let log = Arc::new(DropLog::default());
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let n = iterations(100, 10);
    let mut expected = Vec::new();
    for b in 0..n {
        let h = filled(&mut pool, &log, b * 10, b % 4);
        expected.extend((0..b % 4).map(|i| b * 10 + i));
        if b % 3 == 0 {
            pool.realloc(h, b % 4 + 2).unwrap();
        }
    }
    assert_eq!(log.count(), 0);
    drop(pool);
    assert_eq!(log.dropped(), expected);
    assert_eq!(tracker.live_blocks(), 0);
    // Only the log is left referring to itself: every element let go of it.
    assert_eq!(Arc::strong_count(&log), 1);
}

static UNIT_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A zero-sized element with a destructor.
#[derive(bytemuck::Zeroable)]
struct UnitDrop;

impl Drop for UnitDrop {
    fn drop(&mut self) {
        UNIT_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn zero_sized_elements_are_dropped_like_any_other() {
    // The only test touching UNIT_DROPS.
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let h = pool.alloc::<UnitDrop>(10).unwrap();
    pool.realloc(h, 3).unwrap();
    assert_eq!(UNIT_DROPS.load(Ordering::SeqCst), 7);
    pool.realloc(h, 8).unwrap();
    assert_eq!(UNIT_DROPS.load(Ordering::SeqCst), 7);
    let freed = pool.alloc::<UnitDrop>(4).unwrap();
    pool.free(freed).unwrap();
    assert_eq!(UNIT_DROPS.load(Ordering::SeqCst), 11);
    drop(pool);
    assert_eq!(UNIT_DROPS.load(Ordering::SeqCst), 19);
    assert_eq!(tracker.attempts(), 0);
}

#[test]
fn panicking_drop_in_free_still_frees_the_block_and_drops_the_rest() {
    let log = Arc::new(DropLog::default());
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let kept = filled(&mut pool, &log, 100, 2);
    let h = filled(&mut pool, &log, 0, 4);
    pool[h][1] = panicking_item(&log, 1);
    assert_eq!(log.dropped(), [1]); // the replaced item
    let live_before = tracker.live_blocks();

    let result = catch_unwind(AssertUnwindSafe(|| pool.free(h)));
    assert!(result.is_err(), "the element's panic did not propagate");
    assert_eq!(log.dropped(), [0, 1, 1, 2, 3]);
    assert_eq!(tracker.live_blocks(), live_before - 1);
    assert!(!pool.contains(h));
    assert_eq!((pool.len(), pool.size()), (1, 2 * size_of::<Item>()));
    assert_eq!(ids(&pool[kept]), [Some(100), Some(101)]);

    // Still usable.
    let again = filled(&mut pool, &log, 200, 1);
    pool.free(again).unwrap();
    assert_eq!(log.count(), 6);
    drop(pool);
    assert_eq!(log.count(), 8);
    assert_eq!(tracker.live_blocks(), 0);
}

#[test]
fn panicking_drop_in_realloc_shrink_still_frees_the_old_block() {
    let log = Arc::new(DropLog::default());
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let h = pool.alloc::<Item>(4).unwrap();
    pool[h][0] = item(&log, 0);
    pool[h][3] = panicking_item(&log, 3);
    pool[h][2] = item(&log, 2);

    let result = catch_unwind(AssertUnwindSafe(|| pool.realloc(h, 1)));
    assert!(result.is_err());
    assert_eq!(log.dropped(), [2, 3]);
    assert_eq!(tracker.live_blocks(), 1);
    assert_eq!(tracker.live_bytes(), size_of::<Item>());
    assert_eq!(ids(&pool[h]), [Some(0)]);
    pool.realloc(h, 2).unwrap();
    assert_eq!(ids(&pool[h]), [Some(0), None]);
    drop(pool);
    assert_eq!(log.dropped(), [0, 2, 3]);
    assert_eq!(tracker.live_blocks(), 0);
}

#[test]
fn panicking_drop_in_clear_still_frees_every_block() {
    let log = Arc::new(DropLog::default());
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let blocks: Vec<_> = (0..5).map(|b| filled(&mut pool, &log, b * 10, 3)).collect();
    pool[blocks[2]][1] = panicking_item(&log, 21);
    let replaced = log.count();
    assert_eq!(tracker.live_blocks(), 5);

    let result = catch_unwind(AssertUnwindSafe(|| pool.clear()));
    assert!(result.is_err());
    assert_eq!(log.count(), replaced + 15, "not every element was dropped");
    assert_eq!(tracker.live_blocks(), 0);
    assert_eq!((pool.len(), pool.size()), (0, 0));
    assert!(blocks.iter().all(|&h| !pool.contains(h)));

    let again = filled(&mut pool, &log, 99, 1);
    assert_eq!(ids(&pool[again]), [Some(99)]);
    drop(pool);
    assert_eq!(tracker.live_blocks(), 0);
    assert_eq!(Arc::strong_count(&log), 1);
}

#[test]
fn panicking_drop_in_pool_drop_still_frees_every_block() {
    let log = Arc::new(DropLog::default());
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let blocks: Vec<_> = (0..4).map(|b| filled(&mut pool, &log, b * 10, 2)).collect();
    pool[blocks[0]][0] = panicking_item(&log, 0);
    let replaced = log.count();

    let result = catch_unwind(AssertUnwindSafe(|| drop(pool)));
    assert!(result.is_err());
    assert_eq!(log.count(), replaced + 8);
    assert_eq!(tracker.live_blocks(), 0);
    assert_eq!(tracker.allocations(), tracker.deallocations());
    assert_eq!(Arc::strong_count(&log), 1);
}
