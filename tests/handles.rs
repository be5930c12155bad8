//! What handles guarantee: null, freed, stale, foreign, retyped and forged
//! handles are rejected by every lookup and leave the pool untouched; handles
//! are 16 plain bytes with `Eq`/`Hash`/`Debug` for any `T`.

mod common;

use std::collections::HashSet;

use cymem::{BlockAllocator, Handle, Pool, PoolError};

/// Asserts that `handle` names no block: every lookup says `None` or
/// `InvalidHandle`, and the pool's block count and size do not change.
fn assert_rejected<T, A>(pool: &mut Pool<A>, handle: Handle<T>)
where
    T: bytemuck::Zeroable + Send + Sync + 'static,
    A: BlockAllocator,
{
    let (len, size) = (pool.len(), pool.size());
    assert!(!pool.contains(handle), "{handle:?} is contained");
    assert!(pool.get(handle).is_none(), "{handle:?} gets a block");
    assert!(
        pool.get_mut(handle).is_none(),
        "{handle:?} gets a block mutably"
    );
    assert!(pool.as_ptr(handle).is_none(), "{handle:?} gives a pointer");
    assert!(
        pool.as_mut_ptr(handle).is_none(),
        "{handle:?} gives a mutable pointer"
    );
    assert!(
        pool.get_disjoint_mut([handle]).is_none(),
        "{handle:?} gets a disjoint block"
    );
    assert_eq!(pool.realloc(handle, 3), Err(PoolError::InvalidHandle));
    assert_eq!(pool.realloc(handle, 0), Err(PoolError::InvalidHandle));
    assert_eq!(pool.free(handle), Err(PoolError::InvalidHandle));
    assert_eq!(
        (pool.len(), pool.size()),
        (len, size),
        "a rejected handle changed the pool"
    );
}

/// The 16 bytes of a handle as four words, independent of the field order.
fn words<T: 'static>(handle: Handle<T>) -> [u32; 4] {
    bytemuck::cast(handle)
}

/// How many of the four words of two handles differ.
fn differing_words<T: 'static>(a: Handle<T>, b: Handle<T>) -> usize {
    words(a)
        .iter()
        .zip(words(b))
        .filter(|(x, y)| **x != *y)
        .count()
}

#[test]
fn null_handle_is_rejected_by_every_lookup() {
    let mut pool = Pool::new();
    let live = pool.alloc_slice(&[1u8, 2, 3]).unwrap();
    assert_rejected(&mut pool, Handle::<u8>::NULL);
    assert_rejected(&mut pool, Handle::<u64>::NULL);
    assert_rejected(&mut pool, Handle::<()>::NULL);
    assert_eq!(pool[live], [1, 2, 3]);
}

#[test]
fn null_handle_is_rejected_by_an_empty_pool() {
    let mut pool = Pool::new();
    assert_rejected(&mut pool, Handle::<u32>::NULL);
    assert!(pool.is_empty());
}

#[test]
fn freed_handle_is_rejected_by_every_lookup() {
    let mut pool = Pool::new();
    let freed = pool.alloc_slice(&[7u32; 4]).unwrap();
    let kept = pool.alloc_slice(&[8u32; 2]).unwrap();
    pool.free(freed).unwrap();
    assert_rejected(&mut pool, freed);
    assert_eq!(pool[kept], [8, 8]);
    assert_eq!(pool.len(), 1);
}

#[test]
fn free_twice_returns_invalid_handle() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u16>(5).unwrap();
    assert_eq!(pool.free(h), Ok(()));
    assert_eq!(pool.free(h), Err(PoolError::InvalidHandle));
    assert!(pool.is_empty());
}

#[test]
fn freed_empty_block_handle_is_rejected() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u8>(0).unwrap();
    pool.free(h).unwrap();
    assert_rejected(&mut pool, h);
}

#[test]
fn stale_handle_does_not_see_the_block_reusing_its_slot() {
    let mut pool = Pool::new();
    let old = pool.alloc_slice(&[1u8, 2, 3]).unwrap();
    pool.free(old).unwrap();
    let new = pool.alloc_slice(&[9u8, 9]).unwrap();
    // Same slot, same pool: only the generation differs.
    assert_ne!(old, new);
    assert_eq!(
        differing_words(old, new),
        1,
        "{old:?} vs {new:?}: slot not reused"
    );
    assert_rejected(&mut pool, old);
    assert_eq!(pool[new], [9, 9]);
    assert_eq!(pool.get(old), None);
}

#[test]
fn handles_from_every_earlier_life_of_a_slot_stay_invalid() {
    let mut pool = Pool::new();
    let mut earlier = Vec::new();
    let mut current = pool.alloc_slice(&[0u32]).unwrap();
    for i in 1..common::iterations(2_000, 50) as u32 {
        pool.free(current).unwrap();
        earlier.push(current);
        current = pool.alloc_slice(&[i]).unwrap();
        assert_eq!(differing_words(earlier[0], current), 1, "slot not reused");
    }
    assert_eq!(pool.len(), 1);
    let distinct: HashSet<_> = earlier.iter().chain([&current]).collect();
    assert_eq!(distinct.len(), earlier.len() + 1, "a generation repeated");
    for &old in &earlier {
        assert_eq!(pool.get(old), None, "{old:?} from an earlier life resolves");
    }
    assert_eq!(pool[current], [earlier.len() as u32]);
}

#[test]
fn handle_of_another_pool_with_same_index_and_generation_is_rejected() {
    let mut a = Pool::new();
    let mut b = Pool::new();
    let in_a = a.alloc_slice(&[1u64, 2]).unwrap();
    let in_b = b.alloc_slice(&[3u64, 4]).unwrap();
    // Both are the first block of a fresh pool: only the pool id differs.
    assert_ne!(in_a, in_b);
    assert!((1..=2).contains(&differing_words(in_a, in_b)));
    assert_rejected(&mut b, in_a);
    assert_rejected(&mut a, in_b);
    assert_eq!(a[in_a], [1, 2]);
    assert_eq!(b[in_b], [3, 4]);
}

#[test]
fn handle_of_a_dropped_pool_is_rejected_by_a_new_pool() {
    let old = {
        let mut pool = Pool::new();
        pool.alloc::<u8>(4).unwrap()
    };
    let mut pool = Pool::new();
    let new = pool.alloc::<u8>(4).unwrap();
    assert_rejected(&mut pool, old);
    assert!(pool.contains(new));
}

#[test]
fn handle_cast_to_another_element_type_is_rejected() {
    let mut pool = Pool::new();
    let h = pool.alloc_slice(&[1u32, 2, 3, 4]).unwrap();
    assert_rejected(&mut pool, bytemuck::cast::<Handle<u32>, Handle<i32>>(h));
    assert_rejected(&mut pool, bytemuck::cast::<Handle<u32>, Handle<u64>>(h));
    assert_rejected(&mut pool, bytemuck::cast::<Handle<u32>, Handle<u8>>(h));
    assert_rejected(&mut pool, bytemuck::cast::<Handle<u32>, Handle<[u8; 4]>>(h));
    assert_rejected(&mut pool, bytemuck::cast::<Handle<u32>, Handle<()>>(h));
    assert_eq!(pool[h], [1, 2, 3, 4]);
    assert_eq!(pool.len(), 1);
}

#[test]
fn handle_cast_to_another_type_and_back_is_valid_again() {
    let mut pool = Pool::new();
    let h = pool.alloc_slice(&[5u32]).unwrap();
    let back: Handle<u32> = bytemuck::cast(bytemuck::cast::<Handle<u32>, Handle<f32>>(h));
    assert_eq!(back, h);
    assert_eq!(pool[back], [5]);
}

/// A small deterministic generator, so that failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Checks a forged handle against the oracle: if its bits equal a live
/// handle's of the same type, it names that block; otherwise it is rejected.
/// Returns whether it named a block.
fn check_forged<T, A>(pool: &mut Pool<A>, forged: Handle<T>, live: &[Handle<T>]) -> bool
where
    T: bytemuck::Zeroable + PartialEq + core::fmt::Debug + Send + Sync + 'static,
    A: BlockAllocator,
{
    match live.iter().find(|&&h| h == forged) {
        Some(&h) => {
            assert_eq!(pool.get(forged), pool.get(h));
            assert!(pool.get(forged).is_some());
            true
        }
        None => {
            assert_rejected(pool, forged);
            false
        }
    }
}

#[test]
fn handles_from_arbitrary_bytes_are_rejected_unless_they_equal_a_live_one() {
    let mut pool = Pool::new();
    let mut other = Pool::new();
    let mut bytes: Vec<Handle<u8>> = (0..8u8)
        .map(|i| pool.alloc_slice(&[i; 3]).unwrap())
        .collect();
    let longs: Vec<Handle<u64>> = (0..4u64)
        .map(|i| pool.alloc_slice(&[i; 2]).unwrap())
        .collect();
    let freed = bytes.remove(2);
    pool.free(freed).unwrap();
    let foreign = other.alloc::<u8>(1).unwrap();
    let (len, size) = (pool.len(), pool.size());

    // Forged handles start from a real one's bits (live, freed, foreign or
    // of the other type) and replace some words with words of other handles
    // or noise, so that index, generation and pool id are each often right.
    let mut sources: Vec<[u32; 4]> = bytes.iter().map(|&h| words(h)).collect();
    sources.extend(longs.iter().map(|&h| words(h)));
    sources.extend([words(freed), words(foreign)]);
    let mut noise: Vec<u32> = sources.iter().flatten().copied().collect();
    noise.extend([0, 1, 2, 3, u32::MAX, u32::MAX - 1, 1 << 31]);

    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut forged_words = vec![
        bytemuck::cast::<[u8; 16], [u32; 4]>([0xFF; 16]),
        bytemuck::cast::<[u8; 16], [u32; 4]>(core::array::from_fn(|i| i as u8)),
        [0, 1, 0, 0],
        [1, 1, 1, 1],
    ];
    for _ in 0..common::iterations(4_000, 80) {
        let mut forged = sources[rng.next() as usize % sources.len()];
        for word in &mut forged {
            match rng.next() % 6 {
                0 => *word = rng.next() as u32,
                1 => *word = noise[rng.next() as usize % noise.len()],
                _ => {}
            }
        }
        forged_words.push(forged);
    }

    let (mut named_u8, mut named_u64) = (0, 0);
    for forged in forged_words {
        named_u8 += usize::from(check_forged(&mut pool, bytemuck::cast(forged), &bytes));
        named_u64 += usize::from(check_forged(&mut pool, bytemuck::cast(forged), &longs));
        check_forged::<u32, _>(&mut pool, bytemuck::cast(forged), &[]);
    }
    assert!(
        named_u8 > 0 && named_u64 > 0,
        "generator never reproduced a live handle"
    );
    assert_eq!((pool.len(), pool.size()), (len, size));
    for (&h, i) in bytes.iter().zip([0u8, 1, 3, 4, 5, 6, 7]) {
        assert_eq!(pool[h], [i; 3], "u8 block {i} changed");
    }
    for (i, &h) in longs.iter().enumerate() {
        assert_eq!(pool[h], [i as u64; 2], "u64 block {i} changed");
    }
}

#[test]
fn handles_invalidated_by_clear_stay_invalid_after_refilling_the_slots() {
    let mut pool = Pool::new();
    let before: Vec<Handle<u16>> = (0..5u16)
        .map(|i| pool.alloc_slice(&[i; 2]).unwrap())
        .collect();
    let empty_before = pool.alloc::<u16>(0).unwrap();
    pool.clear();
    for &h in before.iter().chain([&empty_before]) {
        assert_rejected(&mut pool, h);
    }
    let after: Vec<Handle<u16>> = (0..5u16)
        .map(|i| pool.alloc_slice(&[100 + i; 2]).unwrap())
        .collect();
    let empty_after = pool.alloc::<u16>(0).unwrap();
    for (&old, &new) in before.iter().zip(&after) {
        assert_ne!(old, new);
        assert!(
            (1..=2).contains(&differing_words(old, new)),
            "not the same slot and generation"
        );
    }
    for &h in before.iter().chain([&empty_before]) {
        assert_rejected(&mut pool, h);
    }
    for (i, &h) in after.iter().enumerate() {
        assert_eq!(pool[h], [100 + i as u16; 2]);
    }
    assert!(pool.contains(empty_after));
    assert_eq!(pool.len(), 6);
}

#[test]
fn handle_is_sixteen_bytes_for_every_element_type() {
    use core::mem::size_of;
    assert_eq!(size_of::<Handle<u8>>(), 16);
    assert_eq!(size_of::<Handle<()>>(), 16);
    assert_eq!(size_of::<Handle<String>>(), 16);
    assert_eq!(size_of::<Handle<[u64; 1000]>>(), 16);
    assert_eq!(size_of::<Handle<Handle<u8>>>(), 16);
}

#[test]
fn default_and_zeroed_handles_are_null() {
    let zeroed: Handle<u32> = bytemuck::Zeroable::zeroed();
    assert_eq!(Handle::<u32>::default(), Handle::NULL);
    assert_eq!(zeroed, Handle::NULL);
    assert!(zeroed.is_null() && Handle::<u32>::default().is_null());
    assert_eq!(
        bytemuck::cast::<Handle<u32>, [u8; 16]>(Handle::NULL),
        [0; 16]
    );
}

#[test]
fn allocated_handles_are_not_null() {
    let mut pool = Pool::new();
    for h in [pool.alloc::<u8>(0).unwrap(), pool.alloc::<u8>(1).unwrap()] {
        assert!(!h.is_null());
        assert_ne!(h, Handle::NULL);
    }
    let unit = pool.alloc::<()>(3).unwrap();
    assert!(!unit.is_null());
}

#[test]
fn handle_of_a_type_without_copy_eq_hash_debug_is_copy_eq_hash_debug() {
    let a: Handle<String> = bytemuck::cast([1u32, 1, 7, 0]);
    let b: Handle<String> = bytemuck::cast([2u32, 1, 7, 0]);
    let a_copy = a;
    assert_eq!(a, a_copy);
    assert_ne!(a, b);
    let set: HashSet<Handle<String>> = [a, b, a_copy, Handle::NULL].into_iter().collect();
    assert_eq!(set.len(), 3);
    assert!(set.contains(&a) && set.contains(&b) && set.contains(&Handle::NULL));
    let (debug_a, debug_b) = (format!("{a:?}"), format!("{b:?}"));
    assert_ne!(debug_a, debug_b);
    assert!(debug_a.contains("Handle"), "{debug_a}");
    assert!(format!("{:?}", Handle::<String>::NULL).contains("null"));
}

#[test]
fn handle_is_send_and_sync_for_a_type_that_is_neither() {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    fn assert_copy<T: Copy>() {}
    assert_send::<Handle<std::rc::Rc<u8>>>();
    assert_sync::<Handle<std::rc::Rc<u8>>>();
    assert_copy::<Handle<std::rc::Rc<u8>>>();
    assert_send::<Handle<std::cell::Cell<u8>>>();
    assert_sync::<Handle<std::cell::Cell<u8>>>();
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
struct SparseRow {
    length: usize,
    indices: Handle<usize>,
    values: Handle<f64>,
}

#[test]
fn struct_of_handles_is_pod_and_is_stored_inside_blocks() {
    let mut pool = Pool::new();
    let rows = pool.alloc::<SparseRow>(3).unwrap();
    // Zeroed memory holds null handles, which name nothing.
    for row in &pool[rows] {
        assert_eq!(row.length, 0);
        assert!(row.indices.is_null() && row.values.is_null());
        assert_eq!(pool.get(row.values), None);
    }
    for (r, n) in [(0, 2usize), (2, 3)] {
        let indices: Vec<usize> = (0..n).map(|i| i * 10 + r).collect();
        let values: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
        let row = SparseRow {
            length: n,
            indices: pool.alloc_slice(&indices).unwrap(),
            values: pool.alloc_slice(&values).unwrap(),
        };
        pool[rows][r] = row;
    }
    assert_eq!(pool.len(), 5);
    let row = pool[rows][2];
    assert_eq!(pool[row.indices], [2, 12, 22]);
    assert_eq!(pool[row.values], [0.5, 1.5, 2.5]);
    assert!(pool[rows][1].values.is_null());

    // Through bytes and back, as if written to a file: the handles still work.
    let saved: Vec<u8> = bytemuck::cast_slice(&pool[rows]).to_vec();
    let loaded: SparseRow = bytemuck::pod_read_unaligned(&saved[..size_of::<SparseRow>()]);
    assert_eq!(loaded, pool[rows][0]);
    assert_eq!(pool[loaded.indices], [0, 10]);

    pool.free(row.values).unwrap();
    assert_eq!(pool.get(pool[rows][2].values), None);
}

#[test]
fn struct_of_handles_has_no_padding() {
    assert_eq!(size_of::<SparseRow>(), size_of::<usize>() + 2 * 16);
}
