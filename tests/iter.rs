//! The API of issue 12: `iter`, `iter_mut`, `retain`, `take` and
//! `Handle: Ord`. Iteration visits the live blocks of one element type in
//! slot order (the order handles sort in), skipping vacant slots and other
//! types; `retain` and `take` free blocks with their elements dropped (or
//! moved out) exactly once.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{iterations, CountingAllocator};
use cymem::{Handle, Pool, PoolError};

/// A value that counts its drops.
#[derive(Debug)]
struct Counted {
    id: usize,
    drops: Arc<AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted(id: usize, drops: &Arc<AtomicUsize>) -> Counted {
    Counted {
        id,
        drops: Arc::clone(drops),
    }
}

/// A zero-sized value that counts its drops in a static.
struct Marker;

static MARKER_DROPS: AtomicUsize = AtomicUsize::new(0);

impl Drop for Marker {
    fn drop(&mut self) {
        MARKER_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// `u32` blocks with their contents.
type Blocks = Vec<(Handle<u32>, Vec<u32>)>;

/// A pool with blocks of `u32`, `u8` and `()` interleaved, some freed and
/// their slots reused by other types, so slot order differs from
/// allocation order. Returns the live `u32` blocks with their contents.
fn mixed_pool() -> (Pool, Blocks) {
    let mut pool = Pool::new();
    let mut live = Vec::new();
    let mut doomed = Vec::new();
    for i in 0..iterations(24, 8) as u32 {
        let values: Vec<u32> = (0..i % 4).map(|k| i * 10 + k).collect();
        let h = pool.alloc_slice(&values).unwrap();
        pool.alloc_slice(&[i as u8; 3]).unwrap();
        if i % 3 == 0 {
            doomed.push(h);
        } else {
            live.push((h, values));
        }
        if i % 5 == 0 {
            pool.alloc::<()>(i as usize).unwrap();
        }
    }
    for h in doomed {
        pool.free(h).unwrap();
    }
    // Freed slots are reused: some by `u8` blocks, some by newer `u32` blocks.
    for i in 0..4u32 {
        pool.alloc::<u8>(1).unwrap();
        let values = vec![1000 + i; 2];
        live.push((pool.alloc_slice(&values).unwrap(), values));
    }
    (pool, live)
}

#[test]
fn iter_yields_the_live_blocks_of_one_type_in_slot_order() {
    let (pool, mut live) = mixed_pool();
    let got: Blocks = pool
        .iter::<u32>()
        .map(|(h, block)| (h, block.to_vec()))
        .collect();
    let allocation_order = live.clone();
    live.sort_by_key(|&(h, _)| h);
    assert_eq!(got, live);
    // Meaningful only if slot order differs from allocation order here.
    assert_ne!(allocation_order, live, "no slot was reused");
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0), "not in slot order");
    for (h, block) in pool.iter::<u32>() {
        assert_eq!(pool.get(h), Some(block), "a yielded handle is live");
    }
    // Every other type has its own blocks only.
    assert_eq!(
        pool.iter::<u8>().count() + pool.iter::<u32>().count() + pool.iter::<()>().count(),
        pool.len()
    );
    assert!(pool
        .iter::<u8>()
        .all(|(_, block)| block.len() == 3 || block == [0]));
}

#[test]
fn iter_of_a_type_never_allocated_or_all_freed_is_empty() {
    let mut pool = Pool::new();
    assert_eq!(pool.iter::<u64>().next(), None);
    let a = pool.alloc::<u64>(2).unwrap();
    pool.alloc::<u8>(2).unwrap();
    assert_eq!(pool.iter::<u16>().count(), 0);
    assert_eq!(
        pool.iter::<i64>().count(),
        0,
        "same size and alignment, other type"
    );
    pool.free(a).unwrap();
    assert_eq!(pool.iter::<u64>().count(), 0);
    pool.clear();
    assert_eq!(pool.iter::<u8>().count(), 0);
    pool.alloc::<u8>(1).unwrap();
    assert_eq!(pool.iter::<u8>().count(), 1);
}

#[test]
fn iter_includes_empty_and_zero_sized_blocks() {
    let mut pool = Pool::new();
    let empty = pool.alloc::<u32>(0).unwrap();
    let units = pool.alloc::<()>(usize::MAX).unwrap();
    let one = pool.alloc::<u32>(1).unwrap();
    let got: Vec<_> = pool.iter::<u32>().collect();
    assert_eq!(got, [(empty, &[][..]), (one, &[0][..])]);
    let got: Vec<_> = pool.iter::<()>().map(|(h, b)| (h, b.len())).collect();
    assert_eq!(got, [(units, usize::MAX)]);
}

#[test]
fn iter_is_fused_cloneable_and_its_size_hint_bounds_it() {
    let (pool, live) = mixed_pool();
    let mut iter = pool.iter::<u32>();
    let (low, high) = iter.size_hint();
    assert!(low <= live.len() && high.unwrap() >= live.len());
    iter.next();
    let rest: Vec<_> = iter.clone().collect();
    assert_eq!(rest.len(), live.len() - 1);
    assert_eq!(iter.by_ref().count(), live.len() - 1);
    assert_eq!(iter.next(), None);
    assert_eq!(iter.next(), None);
}

#[test]
fn iter_mut_yields_the_same_blocks_and_its_writes_are_visible() {
    let (mut pool, live) = mixed_pool();
    let before: Vec<_> = pool.iter::<u32>().map(|(h, b)| (h, b.to_vec())).collect();
    let mut seen = Vec::new();
    for (h, block) in pool.iter_mut::<u32>() {
        seen.push((h, block.to_vec()));
        for x in block.iter_mut() {
            *x = !*x;
        }
    }
    assert_eq!(seen, before);
    for (h, values) in &live {
        let flipped: Vec<u32> = values.iter().map(|x| !x).collect();
        assert_eq!(pool[*h], flipped[..]);
    }
    // The `u8` blocks were not touched.
    assert!(pool
        .iter::<u8>()
        .all(|(_, b)| b == [0] || b.iter().all(|&x| x == b[0])));
    let units: Vec<_> = pool.iter_mut::<()>().map(|(_, b)| b.len()).collect();
    assert_eq!(
        units,
        pool.iter::<()>().map(|(_, b)| b.len()).collect::<Vec<_>>()
    );
}

#[test]
fn iter_mut_of_owned_values_mutates_them_in_place() {
    let mut pool = Pool::new();
    let words: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|w| pool.insert(w.to_string()).unwrap())
        .collect();
    for (_, block) in pool.iter_mut::<String>() {
        block[0].push('!');
    }
    let got: Vec<_> = words.iter().map(|&h| pool[h][0].as_str()).collect();
    assert_eq!(got, ["a!", "b!", "c!"]);
}

#[test]
fn retain_frees_exactly_the_rejected_blocks_and_drops_them_once() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let drops = Arc::new(AtomicUsize::new(0));
    let n = iterations(40, 10);
    // Other types first, so the `Counted` blocks fill the slots to the end.
    let bytes = pool.alloc_slice(&[7u8; 9]).unwrap();
    let words = pool.alloc::<u64>(3).unwrap();
    let handles: Vec<_> = (0..n)
        .map(|i| pool.insert(counted(i, &drops)).unwrap())
        .collect();
    let mut visited = Vec::new();
    pool.retain::<Counted>(|h, block| {
        assert_eq!(block.len(), 1);
        visited.push((h, block[0].id));
        block[0].id += 1000;
        block[0].id % 3 != 1000 % 3
    });
    let expected: Vec<_> = handles.iter().copied().zip(0..n).collect();
    assert_eq!(visited, expected, "each block once, in slot order");
    let freed: Vec<_> = (0..n).filter(|i| (i + 1000) % 3 == 1000 % 3).collect();
    assert_eq!(drops.load(Ordering::SeqCst), freed.len());
    for (i, &h) in handles.iter().enumerate() {
        if freed.contains(&i) {
            assert!(!pool.contains(h));
            assert_eq!(pool.take(h).err(), Some(PoolError::InvalidHandle));
        } else {
            assert_eq!(pool[h][0].id, i + 1000, "writes to kept blocks stay");
        }
    }
    assert_eq!((pool[bytes].len(), &pool[words]), (9, &[0u64; 3][..]));
    assert_eq!(pool.len(), n - freed.len() + 2);
    assert_eq!(tracker.live_blocks(), pool.len());
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), n, "every value dropped once");
    assert_eq!(tracker.live_blocks(), 0);
}

#[test]
fn retain_visits_every_slot_first_and_last_included() {
    let mut pool = Pool::new();
    let handles: Vec<_> = (0..5u32).map(|i| pool.insert(i).unwrap()).collect();
    let mut visited = Vec::new();
    pool.retain::<u32>(|h, _| {
        visited.push(h);
        false
    });
    assert_eq!(visited, handles);
    assert!(pool.is_empty());
    assert!(handles.iter().all(|&h| !pool.contains(h)));
}

#[test]
fn retain_leaves_other_types_alone() {
    let (mut pool, live) = mixed_pool();
    let bytes_before: Vec<_> = pool.iter::<u8>().map(|(h, b)| (h, b.to_vec())).collect();
    let units_before = pool.iter::<()>().count();
    pool.retain::<u32>(|_, block| block.len() >= 2);
    let kept: Vec<_> = live.iter().filter(|(_, v)| v.len() >= 2).cloned().collect();
    let mut got: Vec<_> = pool.iter::<u32>().map(|(h, b)| (h, b.to_vec())).collect();
    got.sort_by_key(|&(h, _)| h);
    let mut kept_sorted = kept.clone();
    kept_sorted.sort_by_key(|&(h, _)| h);
    assert_eq!(got, kept_sorted);
    for (h, values) in &live {
        assert_eq!(pool.contains(*h), values.len() >= 2);
    }
    let bytes_after: Vec<_> = pool.iter::<u8>().map(|(h, b)| (h, b.to_vec())).collect();
    assert_eq!(bytes_after, bytes_before);
    assert_eq!(pool.iter::<()>().count(), units_before);
    // A type with no blocks: nothing is visited.
    pool.retain::<u16>(|_, _| panic!("no u16 block exists"));
    pool.retain::<u32>(|_, _| false);
    assert_eq!(pool.iter::<u32>().count(), 0);
    assert_eq!(pool.len(), bytes_before.len() + units_before);
}

#[test]
fn retain_after_a_panic_in_the_closure_leaves_the_pool_consistent() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let drops = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..10)
        .map(|i| pool.insert(counted(i, &drops)).unwrap())
        .collect();
    let result = catch_unwind(AssertUnwindSafe(|| {
        pool.retain::<Counted>(|_, block| {
            if block[0].id == 6 {
                panic!("keep panics");
            }
            block[0].id % 2 == 1
        })
    }));
    assert!(result.is_err());
    // Visited before the panic: even ids 0, 2, 4 freed; the rest kept.
    let freed = [0, 2, 4];
    assert_eq!(drops.load(Ordering::SeqCst), freed.len());
    for (i, &h) in handles.iter().enumerate() {
        assert_eq!(pool.contains(h), !freed.contains(&i), "block {i}");
    }
    assert_eq!(pool.len(), 10 - freed.len());
    assert_eq!(tracker.live_blocks(), pool.len());
    let ids: Vec<_> = pool.iter::<Counted>().map(|(_, b)| b[0].id).collect();
    assert_eq!(ids, [1, 3, 5, 6, 7, 8, 9]);
    // Usable afterwards: a second retain, new blocks into the freed slots.
    pool.retain::<Counted>(|_, block| block[0].id != 6);
    let h = pool.insert(counted(42, &drops)).unwrap();
    assert_eq!(pool[h][0].id, 42);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 11);
    assert_eq!(tracker.live_blocks(), 0);
}

#[test]
fn retain_and_take_inside_a_zone_are_not_freed_again_by_rollback() {
    let mut pool = Pool::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let outside = pool.insert(counted(0, &drops)).unwrap();
    let taken = pool
        .zone(|pool| {
            let a = pool.insert(counted(1, &drops)).unwrap();
            let b = pool.insert(counted(2, &drops)).unwrap();
            pool.insert(counted(3, &drops)).unwrap();
            pool.retain::<Counted>(|h, _| h != a && h != outside);
            assert_eq!(drops.load(Ordering::SeqCst), 2, "outside and a");
            pool.take(b).unwrap()
        })
        .unwrap();
    assert_eq!(taken.id, 2);
    // The rollback freed only block 3; a, b and outside were gone already.
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    assert!(pool.is_empty());
    drop(taken);
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

#[test]
fn take_returns_the_value_of_an_inserted_block_and_frees_it() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let drops = Arc::new(AtomicUsize::new(0));
    let other = pool.insert(counted(1, &drops)).unwrap();
    let h = pool.insert(counted(7, &drops)).unwrap();
    assert_eq!(tracker.live_blocks(), 2);
    let value = pool.take(h).unwrap();
    assert_eq!(value.id, 7);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "moved out, not dropped");
    assert_eq!(tracker.live_blocks(), 1, "its memory went back");
    assert_eq!(
        (pool.len(), pool.size()),
        (1, core::mem::size_of::<Counted>())
    );
    assert!(!pool.contains(h));
    assert_eq!(pool.get(h).map(<[Counted]>::len), None);
    assert_eq!(pool.free(h), Err(PoolError::InvalidHandle));
    assert_eq!(pool.take(h).err(), Some(PoolError::InvalidHandle));
    assert_eq!(pool[other][0].id, 1);
    drop(value);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // The slot is reused; the old handle stays dead.
    let again = pool.insert(counted(8, &drops)).unwrap();
    assert!(!pool.contains(h));
    assert_eq!(pool.take(again).unwrap().id, 8);
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 3, "each value dropped once");
    assert_eq!(tracker.live_blocks(), 0);
}

#[test]
fn take_of_a_one_element_alloc_block_returns_its_element() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u64>(1).unwrap();
    pool[h][0] = 0xfeed;
    assert_eq!(pool.take(h), Ok(0xfeed));
    assert!(!pool.contains(h));
    let wide = pool.alloc::<u64>(3).unwrap();
    pool[wide].copy_from_slice(&[4, 5, 6]);
    pool.realloc(wide, 1).unwrap();
    assert_eq!(pool.take(wide), Ok(4));
    let slice = pool.alloc_slice(&[9u16]).unwrap();
    assert_eq!(pool.take(slice), Ok(9));
    assert!(pool.is_empty());
}

#[test]
fn take_of_a_block_of_zero_or_several_elements_leaves_it_unchanged() {
    let mut pool = Pool::new();
    let empty = pool.alloc::<u32>(0).unwrap();
    let pair = pool.alloc_slice(&[1u32, 2]).unwrap();
    let many = pool.alloc::<u32>(100).unwrap();
    pool[many][99] = 5;
    let units = pool.alloc::<()>(2).unwrap();
    let (len, size) = (pool.len(), pool.size());
    assert_eq!(pool.take(empty), Err(PoolError::NotOneElement));
    assert_eq!(pool.take(pair), Err(PoolError::NotOneElement));
    assert_eq!(pool.take(many), Err(PoolError::NotOneElement));
    assert_eq!(pool.take(units), Err(PoolError::NotOneElement));
    assert_eq!((pool.len(), pool.size()), (len, size));
    assert_eq!(pool.get(empty), Some(&[][..]));
    assert_eq!(pool[pair], [1, 2]);
    assert_eq!(pool[many][99], 5);
    assert_eq!(pool[units].len(), 2);
    // Made one element long, the same handle can be taken.
    pool.realloc(pair, 1).unwrap();
    assert_eq!(pool.take(pair), Ok(1));
    pool.realloc(empty, 1).unwrap();
    assert_eq!(pool.take(empty), Ok(0));
}

#[test]
fn take_of_a_block_of_owned_values_not_one_long_drops_nothing() {
    let mut pool = Pool::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let boxes = pool.alloc::<Option<Box<Counted>>>(2).unwrap();
    pool[boxes][1] = Some(Box::new(counted(1, &drops)));
    assert_eq!(pool.take(boxes).err(), Some(PoolError::NotOneElement));
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(pool[boxes][1].as_ref().map(|c| c.id), Some(1));
    pool.realloc(boxes, 1).unwrap();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "shrinking dropped element 1"
    );
    assert!(pool.take(boxes).unwrap().is_none());
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn take_rejects_stale_foreign_retyped_and_null_handles() {
    let mut pool = Pool::new();
    let mut other = Pool::new();
    let stale = pool.insert(5u32).unwrap();
    pool.free(stale).unwrap();
    let reused = pool.insert(6u32).unwrap();
    let foreign = other.insert(7u32).unwrap();
    let retyped: Handle<i32> = bytemuck::cast(reused);
    assert_eq!(pool.take(stale), Err(PoolError::InvalidHandle));
    assert_eq!(pool.take(foreign), Err(PoolError::InvalidHandle));
    assert_eq!(pool.take(retyped), Err(PoolError::InvalidHandle));
    assert_eq!(
        pool.take(Handle::<u32>::NULL),
        Err(PoolError::InvalidHandle)
    );
    assert_eq!(pool[reused], [6]);
    assert_eq!(other[foreign], [7]);
    assert_eq!(pool.take(reused), Ok(6));
}

#[test]
fn take_of_a_zero_sized_value_drops_it_once_overall() {
    let mut pool = Pool::new();
    let before = MARKER_DROPS.load(Ordering::SeqCst);
    let h = pool.insert(Marker).unwrap();
    let kept = pool.insert(Marker).unwrap();
    let unit = pool.insert(()).unwrap();
    assert_eq!(pool.size(), 0);
    let marker = pool.take(h).unwrap();
    assert_eq!(MARKER_DROPS.load(Ordering::SeqCst), before);
    assert!(!pool.contains(h) && pool.contains(kept));
    assert_eq!(pool.take(h).err(), Some(PoolError::InvalidHandle));
    drop(marker);
    assert_eq!(MARKER_DROPS.load(Ordering::SeqCst), before + 1);
    assert_eq!(pool.take(unit), Ok(()));
    drop(pool);
    assert_eq!(MARKER_DROPS.load(Ordering::SeqCst), before + 2);
}

#[test]
fn handles_of_one_pool_sort_in_slot_order() {
    let (pool, live) = mixed_pool();
    let mut sorted: Vec<_> = live.iter().map(|&(h, _)| h).collect();
    sorted.sort();
    let iterated: Vec<_> = pool.iter::<u32>().map(|(h, _)| h).collect();
    assert_eq!(sorted, iterated);
}

#[test]
fn handle_ord_is_consistent_with_eq() {
    let mut pool = Pool::new();
    let mut handles = Vec::new();
    for i in 0..iterations(30, 8) {
        let h = pool.alloc::<u8>(i % 3).unwrap();
        handles.push(h);
        if i % 4 == 0 {
            pool.free(h).unwrap(); // the next block reuses the slot
        }
    }
    let mut other = Pool::new();
    handles.push(other.alloc::<u8>(1).unwrap());
    handles.push(Handle::NULL);
    for &a in &handles {
        for &b in &handles {
            assert_eq!(a.cmp(&b) == core::cmp::Ordering::Equal, a == b);
            assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
            assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        }
    }
    assert_eq!(
        handles.iter().min(),
        Some(&Handle::NULL),
        "null sorts first"
    );
    let set: BTreeSet<_> = handles.iter().copied().collect();
    let mut deduped = handles.clone();
    deduped.sort();
    deduped.dedup();
    assert_eq!(set.into_iter().collect::<Vec<_>>(), deduped);
}

#[test]
fn handles_work_as_btree_map_keys() {
    let mut pool = Pool::new();
    let mut map = BTreeMap::new();
    for i in 0..iterations(50, 10) as u32 {
        let h = pool.insert(i).unwrap();
        map.insert(h, i);
    }
    for (&h, &i) in &map {
        assert_eq!(pool[h], [i]);
    }
    let keys: Vec<_> = map.keys().copied().collect();
    let iterated: Vec<_> = pool.iter::<u32>().map(|(h, _)| h).collect();
    assert_eq!(keys, iterated);
    let first = keys[0];
    assert_eq!(
        map.remove(&pool.take(first).map(|_| first).unwrap()),
        Some(0)
    );
    assert_eq!(map.len(), pool.len());
}

/// A value whose destructor panics if `panics` is set; counts its drops.
struct Bomb {
    panics: bool,
    drops: Arc<AtomicUsize>,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panics {
            panic!("bomb destructor panics");
        }
    }
}

#[test]
fn retain_whose_freed_destructor_panics_still_gives_the_memory_back() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let drops = Arc::new(AtomicUsize::new(0));
    let bomb = |panics| Bomb {
        panics,
        drops: Arc::clone(&drops),
    };
    let handles = [
        pool.insert(bomb(false)).unwrap(),
        pool.insert(bomb(true)).unwrap(),
        pool.insert(bomb(false)).unwrap(),
    ];
    let result = catch_unwind(AssertUnwindSafe(|| pool.retain::<Bomb>(|_, _| false)));
    assert!(result.is_err(), "the destructor's panic propagates");
    // Blocks 0 and 1 were freed (1's memory too, by the drop guard); 2 kept.
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert!(!pool.contains(handles[0]) && !pool.contains(handles[1]));
    assert!(pool.contains(handles[2]));
    assert_eq!((pool.len(), tracker.live_blocks()), (1, 1));
    let taken = pool.take(handles[2]).unwrap();
    assert_eq!((pool.len(), tracker.live_blocks()), (0, 0));
    drop(taken);
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}
