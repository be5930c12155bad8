//! `realloc`: grow, shrink and same size keep the prefix and the handle,
//! new elements are zero, and errors leave the block as it was.

mod common;

use common::{iterations, CountingAllocator, FailingAllocator};
use cymem::{BlockAllocator, Handle, Pool, PoolError};

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct CacheLine([u8; 64]);

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
#[repr(C, align(4096))]
struct Page(u64);

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
struct Marker;

/// Leaves freed, dirty memory of several sizes behind, so that a grown block
/// whose tail were not zeroed would likely show it.
fn dirty<A: BlockAllocator>(pool: &mut Pool<A>) {
    let blocks: Vec<Handle<u8>> = [8, 64, 100, 800, 1000]
        .iter()
        .map(|&len| pool.alloc_slice(&vec![0xEEu8; len]).unwrap())
        .collect();
    for h in blocks {
        pool.free(h).unwrap();
    }
}

fn check_grow_keeps_prefix_and_zeroes_tail<A: BlockAllocator>(pool: &mut Pool<A>) {
    dirty(pool);
    let h = pool.alloc_slice(&[1u64, 2, 3]).unwrap();
    pool.realloc(h, 100).unwrap();
    assert_eq!(pool[h][..3], [1, 2, 3]);
    assert!(
        pool[h][3..].iter().all(|&x| x == 0),
        "grown tail not zeroed"
    );
    assert_eq!(pool[h].len(), 100);

    let bytes = pool.alloc_slice(&[0xFFu8; 7]).unwrap();
    pool.realloc(bytes, 1000).unwrap();
    assert_eq!(pool[bytes][..7], [0xFF; 7]);
    assert!(
        pool[bytes][7..].iter().all(|&x| x == 0),
        "grown tail not zeroed"
    );
}

#[test]
fn grow_keeps_prefix_and_zeroes_tail() {
    check_grow_keeps_prefix_and_zeroes_tail(&mut Pool::new());
}

#[test]
fn grow_keeps_prefix_and_zeroes_tail_with_c_malloc() {
    check_grow_keeps_prefix_and_zeroes_tail(&mut Pool::with_allocator(common::libc_allocator()));
}

#[test]
fn shrink_keeps_prefix() {
    let mut pool = Pool::new();
    let values: Vec<u32> = (0..50).collect();
    let h = pool.alloc_slice(&values).unwrap();
    pool.realloc(h, 10).unwrap();
    assert_eq!(pool[h], values[..10]);
    pool.realloc(h, 1).unwrap();
    assert_eq!(pool[h], [0]);
    // Growing again does not bring the cut-off values back.
    pool.realloc(h, 4).unwrap();
    assert_eq!(pool[h], [0, 0, 0, 0]);
}

#[test]
fn same_size_realloc_changes_nothing_and_does_not_allocate() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let h = pool.alloc_slice(&[4u16, 5, 6]).unwrap();
    let ptr = pool.as_ptr(h).unwrap();
    let calls = (tracker.attempts(), tracker.deallocations());
    pool.realloc(h, 3).unwrap();
    assert_eq!(pool.as_ptr(h), Some(ptr));
    assert_eq!(pool[h], [4, 5, 6]);
    assert_eq!((tracker.attempts(), tracker.deallocations()), calls);
    assert_eq!((pool.len(), pool.size()), (1, 6));
}

#[test]
fn handle_stays_valid_and_other_blocks_are_untouched() {
    let mut pool = Pool::new();
    let before = pool.alloc_slice(&[1u8; 5]).unwrap();
    let h = pool.alloc_slice(&[2u8; 5]).unwrap();
    let after = pool.alloc_slice(&[3u8; 5]).unwrap();
    let copy = h;
    for new_len in [6, 200, 3, 3, 0, 9, 1] {
        pool.realloc(h, new_len).unwrap();
        assert!(pool.contains(copy));
        assert_eq!(pool[copy].len(), new_len);
        assert_eq!(pool[before], [1; 5]);
        assert_eq!(pool[after], [3; 5]);
        assert_eq!(pool.len(), 3);
    }
}

#[test]
fn realloc_to_and_from_length_zero() {
    let mut pool = Pool::new();
    let h = pool.alloc_slice(&[7i32, 8]).unwrap();
    pool.realloc(h, 0).unwrap();
    assert!(pool.contains(h));
    assert_eq!(pool[h], []);
    assert_eq!(pool.size(), 0);
    pool.realloc(h, 3).unwrap();
    assert_eq!(pool[h], [0, 0, 0]);
    assert_eq!(pool.size(), 12);

    let empty = pool.alloc::<i32>(0).unwrap();
    pool.realloc(empty, 2).unwrap();
    assert_eq!(pool[empty], [0, 0]);
    pool[empty][1] = 5;
    pool.realloc(empty, 0).unwrap();
    pool.realloc(empty, 0).unwrap();
    assert_eq!(pool[empty], []);
    assert_eq!(pool.len(), 2);
}

#[test]
fn realloc_of_zero_sized_type_changes_only_the_length() {
    let mut pool = Pool::new();
    let units = pool.alloc::<()>(5).unwrap();
    let markers = pool.alloc::<Marker>(0).unwrap();
    for len in [usize::MAX, 0, 3, usize::MAX / 2, 1] {
        pool.realloc(units, len).unwrap();
        pool.realloc(markers, len).unwrap();
        assert_eq!(pool[units].len(), len);
        assert_eq!(pool[markers].len(), len);
        assert_eq!(pool.size(), 0);
        assert_eq!(pool.len(), 2);
    }
}

fn check_over_aligned<A: BlockAllocator>(pool: &mut Pool<A>) {
    let mut line_model = vec![CacheLine([1; 64]), CacheLine([2; 64])];
    let mut page_model = vec![Page(10), Page(20)];
    let lines = pool.alloc_slice(&line_model).unwrap();
    let pages = pool.alloc_slice(&page_model).unwrap();
    for (step, new_len) in [5, 1, 0, 3, 2, 6].into_iter().enumerate() {
        pool.realloc(lines, new_len).unwrap();
        pool.realloc(pages, new_len).unwrap();
        line_model.resize(new_len, CacheLine([0; 64]));
        page_model.resize(new_len, Page(0));
        assert_eq!(pool.as_ptr(lines).unwrap().addr() % 64, 0);
        assert_eq!(pool.as_ptr(pages).unwrap().addr() % 4096, 0);
        assert_eq!(pool[lines], line_model[..]);
        assert_eq!(pool[pages], page_model[..]);
        // Mark the last element, so the next step has something to keep.
        let mark = 100 + step as u8;
        if let Some(last) = pool.get_mut(lines).unwrap().last_mut() {
            *last = CacheLine([mark; 64]);
            *line_model.last_mut().unwrap() = CacheLine([mark; 64]);
        }
        if let Some(last) = pool.get_mut(pages).unwrap().last_mut() {
            *last = Page(mark.into());
            *page_model.last_mut().unwrap() = Page(mark.into());
        }
    }
    assert_eq!(page_model[..2], [Page(0), Page(104)]);
}

#[test]
fn realloc_of_over_aligned_type_keeps_alignment_and_data() {
    check_over_aligned(&mut Pool::new());
}

#[test]
fn realloc_of_over_aligned_type_keeps_alignment_and_data_with_c_malloc() {
    check_over_aligned(&mut Pool::with_allocator(common::libc_allocator()));
}

#[test]
fn realloc_of_an_invalid_handle_returns_invalid_handle() {
    let mut pool = Pool::new();
    let mut other = Pool::new();
    let kept = pool.alloc_slice(&[1u32, 2]).unwrap();
    let freed = pool.alloc::<u32>(2).unwrap();
    pool.free(freed).unwrap();
    let foreign = other.alloc_slice(&[3u32, 4]).unwrap();
    let retyped: Handle<i32> = bytemuck::cast(kept);
    for new_len in [0, 2, 5] {
        assert_eq!(pool.realloc(freed, new_len), Err(PoolError::InvalidHandle));
        assert_eq!(
            pool.realloc(foreign, new_len),
            Err(PoolError::InvalidHandle)
        );
        assert_eq!(
            pool.realloc(Handle::<u32>::NULL, new_len),
            Err(PoolError::InvalidHandle)
        );
        assert_eq!(
            pool.realloc(retyped, new_len),
            Err(PoolError::InvalidHandle)
        );
    }
    assert_eq!(pool[kept], [1, 2]);
    assert_eq!(other[foreign], [3, 4]);
    assert_eq!((pool.len(), pool.size()), (1, 8));
}

#[test]
fn realloc_overflow_returns_size_overflow_and_keeps_the_block() {
    let mut pool = Pool::new();
    let h = pool.alloc_slice(&[5u64, 6, 7]).unwrap();
    let lines = pool.alloc_slice(&[CacheLine([3; 64])]).unwrap();
    let ptr = pool.as_ptr(h).unwrap();
    let just_over = isize::MAX as usize + 1;
    assert_eq!(pool.realloc(h, usize::MAX), Err(PoolError::SizeOverflow));
    assert_eq!(
        pool.realloc(h, usize::MAX / 4),
        Err(PoolError::SizeOverflow)
    );
    assert_eq!(pool.realloc(h, just_over / 8), Err(PoolError::SizeOverflow));
    assert_eq!(
        pool.realloc(lines, just_over / 64),
        Err(PoolError::SizeOverflow)
    );
    assert_eq!(pool[h], [5, 6, 7]);
    assert_eq!(pool.as_ptr(h), Some(ptr));
    assert_eq!(pool[lines], [CacheLine([3; 64])]);
    assert_eq!((pool.len(), pool.size()), (2, 24 + 64));
    pool.realloc(h, 4).unwrap();
    assert_eq!(pool[h], [5, 6, 7, 0]);
}

#[test]
fn realloc_out_of_memory_keeps_the_block_and_the_handle() {
    let (allocator, tracker) = FailingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let h = pool.alloc_slice(&[5u64, 6, 7]).unwrap();
    let other = pool.alloc_slice(&[1u8]).unwrap();
    let ptr = pool.as_ptr(h).unwrap();
    let live = tracker.live_layouts();
    for new_len in [1, 2, 4, 1000] {
        tracker.fail_next(1);
        assert_eq!(pool.realloc(h, new_len), Err(PoolError::OutOfMemory));
        assert_eq!(pool[h], [5, 6, 7]);
        assert_eq!(pool.as_ptr(h), Some(ptr));
        assert_eq!((pool.len(), pool.size()), (2, 25));
        assert_eq!(tracker.live_layouts(), live);
    }
    assert_eq!(tracker.failures(), 4);
    assert_eq!(pool[other], [1]);
    pool.realloc(h, 4).unwrap();
    assert_eq!(pool[h], [5, 6, 7, 0]);
}

#[test]
#[cfg_attr(miri, ignore)] // Miri aborts on a 16 TiB allocation instead of returning null.
fn realloc_larger_than_memory_returns_out_of_memory_and_keeps_the_block() {
    let mut pool = Pool::new();
    let h = pool.alloc_slice(&[5u8, 6, 7]).unwrap();
    assert_eq!(pool.realloc(h, 1 << 44), Err(PoolError::OutOfMemory));
    assert_eq!(pool[h], [5, 6, 7]);
    assert_eq!((pool.len(), pool.size()), (1, 3));
}

#[test]
fn size_follows_every_realloc() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u32>(1).unwrap();
    let other = pool.alloc::<u8>(3).unwrap();
    for new_len in [10, 2, 2, 0, 7, 1] {
        pool.realloc(h, new_len).unwrap();
        assert_eq!(pool.size(), new_len * 4 + 3);
    }
    pool.free(other).unwrap();
    assert_eq!(pool.size(), 4);
}

#[test]
fn repeated_growth_keeps_every_written_value() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u32>(0).unwrap();
    let n = iterations(500, 25) as u32;
    for i in 0..n {
        pool.realloc(h, i as usize + 1).unwrap();
        pool[h][i as usize] = i * 3 + 1;
    }
    assert!(pool[h]
        .iter()
        .enumerate()
        .all(|(i, &x)| x == i as u32 * 3 + 1));
    for i in (0..n).rev() {
        pool.realloc(h, i as usize).unwrap();
        assert_eq!(pool[h].last().copied(), i.checked_sub(1).map(|j| j * 3 + 1));
    }
}
