//! Zones (`mark`/`rollback`/`commit`/`zone`), owned values (`insert`) and
//! `reserve`/`capacity`: which blocks a rollback frees, exactly once, and
//! which marks it accepts.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{CountingAllocator, FailingAllocator};
use cymem::{Handle, Mark, Pool, PoolError};

/// Counts its own drops in a shared counter.
#[derive(Debug)]
struct Counted {
    drops: Arc<AtomicUsize>,
    payload: String,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

fn counted(drops: &Arc<AtomicUsize>, payload: &str) -> Counted {
    Counted {
        drops: Arc::clone(drops),
        payload: payload.to_owned(),
    }
}

fn assert_dead<T: 'static, A: cymem::BlockAllocator>(pool: &mut Pool<A>, handle: Handle<T>) {
    assert!(!pool.contains(handle), "{handle:?} still live");
    assert!(pool.get(handle).is_none());
    assert!(pool.get_mut(handle).is_none());
    assert_eq!(pool.free(handle), Err(PoolError::InvalidHandle));
}

#[test]
fn rollback_frees_exactly_the_blocks_allocated_after_the_mark() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let a = pool.alloc_slice(&[1u8, 2, 3]).unwrap();
    let b = pool.alloc::<u64>(10).unwrap();
    let before = tracker.live_layouts();
    let size_before = pool.size();

    let mark = pool.mark().unwrap();
    let c = pool.alloc::<u8>(100).unwrap();
    let d = pool.alloc::<u64>(0).unwrap();
    let e = pool.alloc_slice(&[7u32; 9]).unwrap();
    let f = pool.insert(5u16).unwrap();
    assert_eq!(pool.len(), 6);
    assert_eq!(pool.allocations_since(mark), Some(4));

    pool.rollback(mark).unwrap();
    assert_eq!(tracker.live_layouts(), before);
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.size(), size_before);
    assert_dead(&mut pool, c);
    assert_dead(&mut pool, d);
    assert_dead(&mut pool, e);
    assert_dead(&mut pool, f);
    assert_eq!(pool[a], [1, 2, 3]);
    assert_eq!(pool[b], [0; 10]);
    drop(pool);
    assert_eq!(tracker.live_blocks(), 0);
    assert_eq!(tracker.allocations(), tracker.deallocations());
}

#[test]
fn rollback_skips_freed_blocks_and_frees_reused_slots_once() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let old = pool.alloc::<u8>(16).unwrap();
    let kept = pool.alloc::<u8>(16).unwrap();
    let mark = pool.mark().unwrap();
    let early = pool.alloc::<u8>(32).unwrap();
    pool.free(early).unwrap(); // logged, then freed: rollback must skip it
    pool.free(old).unwrap(); // from before the mark
    let reused = pool.alloc::<u8>(48).unwrap(); // takes `old`'s or `early`'s slot
    let reused_again = pool.alloc::<u8>(64).unwrap();
    pool.rollback(mark).unwrap(); // the tracker panics on a double free
    assert_dead(&mut pool, reused);
    assert_dead(&mut pool, reused_again);
    assert_dead(&mut pool, old);
    assert!(pool.contains(kept));
    assert_eq!(tracker.live_layouts(), [(16, 1)]);
}

#[test]
fn rollback_runs_each_destructor_once() {
    let drops = counter();
    let mut pool = Pool::new();
    let outside = pool.insert(counted(&drops, "outside")).unwrap();
    let mark = pool.mark().unwrap();
    let boxes = pool.alloc::<Option<Box<Counted>>>(3).unwrap();
    pool[boxes][0] = Some(Box::new(counted(&drops, "boxed")));
    pool[boxes][2] = Some(Box::new(counted(&drops, "boxed")));
    let inside = pool.insert(counted(&drops, "inside")).unwrap();
    let freed = pool.insert(counted(&drops, "freed")).unwrap();
    pool.free(freed).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    pool.rollback(mark).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    assert_dead(&mut pool, inside);
    assert_dead(&mut pool, boxes);
    assert_eq!(pool[outside][0].payload, "outside");
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}

#[test]
fn nested_marks_roll_back_inner_then_outer() {
    let mut pool = Pool::new();
    let base = pool.alloc::<u8>(1).unwrap();
    let outer = pool.mark().unwrap();
    let a = pool.alloc::<u8>(1).unwrap();
    let inner = pool.mark().unwrap();
    let b = pool.alloc::<u8>(1).unwrap();
    assert_eq!(pool.zone_depth(), 2);
    assert_eq!(pool.allocations_since(outer), Some(2));
    assert_eq!(pool.allocations_since(inner), Some(1));

    pool.rollback(inner).unwrap();
    assert_eq!(pool.zone_depth(), 1);
    assert!(pool.contains(a) && !pool.contains(b));
    let c = pool.alloc::<u8>(1).unwrap();
    pool.rollback(outer).unwrap();
    assert_eq!(pool.zone_depth(), 0);
    assert!(!pool.contains(a) && !pool.contains(c));
    assert!(pool.contains(base));
    assert_eq!(pool.len(), 1);
}

#[test]
fn rolling_back_an_outer_mark_frees_and_ends_the_inner_zones() {
    let mut pool = Pool::new();
    let outer = pool.mark().unwrap();
    let inner = pool.mark().unwrap();
    let innermost = pool.mark().unwrap();
    let h = pool.insert(String::from("deep")).unwrap();
    pool.rollback(outer).unwrap();
    assert_dead(&mut pool, h);
    assert_eq!(pool.zone_depth(), 0);
    assert_eq!(pool.rollback(inner), Err(PoolError::InvalidMark));
    assert_eq!(pool.commit(innermost), Err(PoolError::InvalidMark));
    assert_eq!(pool.allocations_since(inner), None);
}

#[test]
fn stale_and_foreign_marks_are_rejected_and_change_nothing() {
    let mut pool = Pool::new();
    let mut other = Pool::new();
    let foreign = other.mark().unwrap();
    let mark = pool.mark().unwrap();
    let h = pool.alloc::<u8>(4).unwrap();
    assert_eq!(pool.rollback(foreign), Err(PoolError::InvalidMark));
    assert_eq!(pool.commit(foreign), Err(PoolError::InvalidMark));
    assert_eq!(pool.allocations_since(foreign), None);
    assert!(pool.contains(h));
    assert_eq!(pool.zone_depth(), 1);

    pool.rollback(mark).unwrap();
    assert_eq!(pool.rollback(mark), Err(PoolError::InvalidMark));
    // A new mark takes the same place in the stack; the old one stays dead.
    let again = pool.mark().unwrap();
    assert_ne!(again, mark);
    let g = pool.alloc::<u8>(4).unwrap();
    assert_eq!(pool.rollback(mark), Err(PoolError::InvalidMark));
    assert!(pool.contains(g));
    pool.commit(again).unwrap();
    assert_eq!(pool.commit(again), Err(PoolError::InvalidMark));
    assert!(pool.contains(g));

    // `clear` ends every mark.
    let before_clear = pool.mark().unwrap();
    pool.clear();
    assert_eq!(pool.zone_depth(), 0);
    assert_eq!(pool.rollback(before_clear), Err(PoolError::InvalidMark));
    let after_clear = pool.mark().unwrap();
    assert_eq!(pool.rollback(before_clear), Err(PoolError::InvalidMark));
    pool.rollback(after_clear).unwrap();
    other.rollback(foreign).unwrap();
}

#[test]
fn commit_keeps_blocks_for_the_enclosing_zone() {
    let mut pool = Pool::new();
    let outer = pool.mark().unwrap();
    let inner = pool.mark().unwrap();
    let h = pool.alloc::<u32>(2).unwrap();
    pool.commit(inner).unwrap();
    assert!(pool.contains(h));
    assert_eq!(pool.zone_depth(), 1);
    pool.rollback(outer).unwrap();
    assert!(!pool.contains(h));

    // Committing the outermost mark keeps the blocks for good.
    let only = pool.mark().unwrap();
    let kept = pool.alloc::<u32>(2).unwrap();
    pool.commit(only).unwrap();
    let later = pool.mark().unwrap();
    assert_eq!(pool.allocations_since(later), Some(0));
    pool.rollback(later).unwrap();
    assert!(pool.contains(kept));
}

#[test]
fn zone_returns_the_closure_value_and_frees_its_blocks() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let kept = pool.alloc::<u8>(8).unwrap();
    let (escaped, sum) = pool
        .zone(|pool| {
            let h = pool.alloc_slice(&[1u64, 2, 3]).unwrap();
            let inner = pool.mark().unwrap(); // left open: ends with the zone
            pool.alloc::<u8>(1000).unwrap();
            assert_eq!(pool.zone_depth(), 2);
            assert!(pool.allocations_since(inner).is_some());
            (h, pool[h].iter().sum::<u64>())
        })
        .unwrap();
    assert_eq!(sum, 6);
    assert_dead(&mut pool, escaped);
    assert_eq!(pool.zone_depth(), 0);
    assert_eq!(tracker.live_layouts(), [(8, 1)]);
    assert!(pool.contains(kept));
}

#[test]
fn panic_inside_a_zone_rolls_back() {
    let drops = counter();
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let kept = pool.insert(counted(&drops, "kept")).unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        pool.zone(|pool| {
            pool.insert(counted(&drops, "lost")).unwrap();
            pool.alloc::<u64>(64).unwrap();
            panic!("request failed");
        })
    }));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(pool.zone_depth(), 0);
    assert_eq!(pool.len(), 1);
    assert_eq!(tracker.live_blocks(), 1);
    assert_eq!(pool[kept][0].payload, "kept");
    // The pool is fully usable afterwards.
    let n = pool.zone(|pool| pool.alloc::<u8>(3).map(|h| pool[h].len()));
    assert_eq!(n, Ok(Ok(3)));
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_eq!(tracker.live_blocks(), 0);
}

#[test]
fn zone_whose_closure_ends_its_mark_frees_nothing_twice() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let outer = pool.mark().unwrap();
    pool.zone(|pool| {
        pool.alloc::<u8>(5).unwrap();
        pool.rollback(outer).unwrap();
        pool.alloc::<u8>(6).unwrap(); // no mark left: kept
    })
    .unwrap();
    assert_eq!(tracker.live_layouts(), [(6, 1)]);
    pool.zone(|pool| {
        pool.alloc::<u8>(7).unwrap();
        pool.clear();
    })
    .unwrap();
    assert_eq!(tracker.live_blocks(), 0);
    assert!(pool.is_empty());
}

#[test]
fn a_destructor_panicking_during_rollback_still_frees_the_other_blocks() {
    struct Bomb(Arc<AtomicUsize>);
    impl Drop for Bomb {
        fn drop(&mut self) {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("first drop panics");
            }
        }
    }
    let drops = counter();
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let kept = pool.alloc::<u8>(1).unwrap();
    let mark = pool.mark().unwrap();
    for _ in 0..3 {
        pool.insert(Bomb(Arc::clone(&drops))).unwrap();
        pool.alloc::<u64>(4).unwrap();
    }
    let result = catch_unwind(AssertUnwindSafe(|| pool.rollback(mark)));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert_eq!(pool.len(), 1);
    assert_eq!(tracker.live_layouts(), [(1, 1)]);
    assert_eq!(pool.zone_depth(), 0);
    assert!(pool.contains(kept));
}

#[test]
fn realloc_inside_a_zone_does_not_change_which_blocks_it_frees() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let old = pool.alloc_slice(&[1u8, 2, 3]).unwrap();
    let mark = pool.mark().unwrap();
    pool.realloc(old, 300).unwrap(); // allocated before the mark: stays
    pool[old][299] = 9;
    let young = pool.alloc::<u8>(2).unwrap();
    pool.realloc(young, 500).unwrap(); // allocated inside: freed, moved or not
    pool.realloc(old, 5).unwrap();
    pool.realloc(old, 400).unwrap();
    pool.rollback(mark).unwrap();
    assert_dead(&mut pool, young);
    assert_eq!(pool[old].len(), 400);
    assert_eq!(pool[old][..4], [1, 2, 3, 0]);
    assert_eq!(tracker.live_layouts(), [(400, 1)]);
}

#[test]
fn allocation_failure_inside_a_zone_changes_nothing() {
    let (allocator, tracker) = FailingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let mark = pool.mark().unwrap();
    let a = pool.alloc::<u8>(10).unwrap();
    tracker.fail_next(1);
    assert_eq!(pool.alloc::<u8>(10), Err(PoolError::OutOfMemory));
    assert_eq!(pool.allocations_since(mark), Some(1));
    pool.rollback(mark).unwrap();
    assert_dead(&mut pool, a);
    assert_eq!(tracker.live_blocks(), 0);
}

#[test]
fn insert_drops_owned_values_exactly_once_on_every_path() {
    let drops = counter();
    let mut pool = Pool::new();
    let freed = pool.insert(counted(&drops, "freed")).unwrap();
    let cleared = pool.insert(counted(&drops, "cleared")).unwrap();
    assert_eq!(pool[cleared][0].payload, "cleared");
    pool.free(freed).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(pool.free(freed), Err(PoolError::InvalidHandle));
    pool.clear();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert_dead(&mut pool, cleared);
    let mark = pool.mark().unwrap();
    pool.insert(counted(&drops, "rolled back")).unwrap();
    pool.rollback(mark).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    pool.insert(counted(&drops, "dropped with the pool"))
        .unwrap();
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

#[test]
fn insert_stores_boxes_strings_and_vecs_and_frees_their_memory() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let boxed = pool.insert(Box::new([7u64; 40])).unwrap();
    let string = pool.insert(String::from("interned")).unwrap();
    let vec = pool.insert(vec![vec![1u8], vec![2, 3]]).unwrap();
    let big = pool.insert([5u8; 1000]).unwrap(); // larger than any carved block
    pool[string][0].push('!');
    pool.get_mut(vec).unwrap()[0][0].push(4);
    assert_eq!(pool[boxed][0][39], 7);
    assert_eq!(pool[string], [String::from("interned!")]);
    assert_eq!(pool[vec][0], [vec![1, 4], vec![2, 3]]);
    assert_eq!(pool[big][0][999], 5);
    assert_eq!(pool.len(), 4);
    assert_eq!(
        pool.size(),
        core::mem::size_of::<Box<[u64; 40]>>()
            + core::mem::size_of::<String>()
            + core::mem::size_of::<Vec<Vec<u8>>>()
            + 1000
    );
    // One block per value on an allocator that does not carve.
    assert_eq!(tracker.live_blocks(), 4);
    let retyped: Handle<Vec<u8>> = bytemuck::cast(string);
    assert_eq!(pool.get(retyped), None);
    assert!(pool.get_disjoint_mut([string, string]).is_none());
    let other = pool.insert(String::from("other")).unwrap();
    let [a, b] = pool.get_disjoint_mut([string, other]).unwrap();
    core::mem::swap(&mut a[0], &mut b[0]);
    assert_eq!(pool[other][0], "interned!");
    assert_eq!(tracker.live_blocks(), 5);
    drop(pool);
    assert_eq!(tracker.live_blocks(), 0);
}

#[test]
fn insert_of_a_zero_sized_value_with_a_destructor_drops_it() {
    static ZST_DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Zst;
    impl Drop for Zst {
        fn drop(&mut self) {
            ZST_DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let zst = pool.insert(Zst).unwrap();
    assert_eq!(pool[zst].len(), 1);
    assert_eq!(
        tracker.attempts(),
        0,
        "a zero-sized value reached the allocator"
    );
    let mark = pool.mark().unwrap();
    pool.insert(Zst).unwrap();
    pool.rollback(mark).unwrap();
    assert_eq!(ZST_DROPS.load(Ordering::SeqCst), 1);
    drop(pool);
    assert_eq!(ZST_DROPS.load(Ordering::SeqCst), 2);
}

#[test]
fn insert_that_fails_drops_the_value_once_and_changes_nothing() {
    let drops = counter();
    let (allocator, tracker) = FailingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let kept = pool.insert(counted(&drops, "kept")).unwrap();
    let mark = pool.mark().unwrap();
    tracker.fail_next(1);
    assert_eq!(
        pool.insert(counted(&drops, "refused")).map(|_| ()),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.allocations_since(mark), Some(0));
    assert_eq!(tracker.live_blocks(), 1);
    assert_eq!(pool[kept][0].payload, "kept");
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn reserve_makes_capacity_that_allocations_then_use() {
    let mut pool = Pool::new();
    assert_eq!(pool.capacity(), 0);
    pool.reserve(100).unwrap();
    let capacity = pool.capacity();
    assert!(capacity >= 100);
    let handles: Vec<_> = (0..100).map(|_| pool.alloc::<u8>(1).unwrap()).collect();
    assert_eq!(pool.capacity(), capacity);
    for h in &handles[..50] {
        pool.free(*h).unwrap();
    }
    // Freed slots count: no growth needed for 50 more.
    pool.reserve(50).unwrap();
    assert_eq!(pool.capacity(), capacity);
    assert_eq!(pool.reserve(usize::MAX), Err(PoolError::OutOfMemory));
    assert_eq!(pool.reserve(u32::MAX as usize), Err(PoolError::OutOfMemory));
    assert_eq!(pool.len(), 50);
    // Inside a zone, reserving covers the log too.
    let capacity = pool.capacity();
    pool.zone(|pool| {
        pool.reserve(10).unwrap();
        assert!(pool.capacity() >= pool.len() + 10);
        for _ in 0..10 {
            pool.alloc::<u8>(1).unwrap();
        }
    })
    .unwrap();
    assert_eq!(pool.len(), 50);
    assert!(pool.capacity() >= capacity);
}

#[test]
fn marks_are_small_copy_tokens_that_cross_threads() {
    fn assert_send_sync_copy<T: Send + Sync + Copy + core::fmt::Debug + Eq>() {}
    assert_send_sync_copy::<Mark>();
    assert!(core::mem::size_of::<Mark>() <= 24);
    let mut pool = Pool::new();
    let mark = pool.mark().unwrap();
    let h = pool.insert(String::from("x")).unwrap();
    let pool = std::thread::spawn(move || {
        let mut pool = pool;
        pool.rollback(mark).unwrap();
        pool
    })
    .join()
    .unwrap();
    assert!(!pool.contains(h));
    assert!(format!("{pool:?}").contains("zone_depth: 0"));
}

#[test]
fn rollback_costs_follow_the_zone_not_the_pool() {
    let mut pool = Pool::new();
    let n = common::iterations(10_000, 200);
    for _ in 0..n {
        pool.alloc::<u8>(8).unwrap();
    }
    for _ in 0..common::iterations(100, 5) {
        let mark = pool.mark().unwrap();
        pool.alloc::<u8>(8).unwrap();
        pool.insert(String::from("tmp")).unwrap();
        assert_eq!(pool.allocations_since(mark), Some(2));
        pool.rollback(mark).unwrap();
        assert_eq!(pool.len(), n);
    }
}
