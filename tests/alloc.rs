//! Allocation: zeroed memory, empty blocks, zero-sized and over-aligned
//! types, size errors, bookkeeping, `alloc_slice`, `get_disjoint_mut`,
//! `Index` panics and the error type.

mod common;

use std::error::Error;

use common::{iterations, FailingAllocator};
use cymem::{BlockAllocator, Handle, Pool, PoolError};

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
struct Marker;

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C, align(64))]
struct CacheLine([u8; 64]);

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
#[repr(C, align(4096))]
struct Page(u32);

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
#[repr(C, align(256))]
struct EmptyAligned;

/// Allocates `len` `T`s, checks they are zero bytes, fills them with a
/// non-zero pattern and frees them, so the next block of this size is likely
/// to reuse dirty memory.
fn check_zeroed_then_dirty<T, A>(pool: &mut Pool<A>, len: usize)
where
    T: bytemuck::Pod + Send + Sync,
    A: BlockAllocator,
{
    let h = pool.alloc::<T>(len).unwrap();
    let block = pool.get_mut(h).unwrap();
    assert_eq!(block.len(), len);
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(block);
    assert!(
        bytes.iter().all(|&b| b == 0),
        "{} x {len} not zeroed",
        core::any::type_name::<T>()
    );
    bytes.fill(0xA5);
    pool.free(h).unwrap();
}

fn check_zeroed_for_many_types<A: BlockAllocator>(pool: &mut Pool<A>) {
    // Twice each: the second round gets memory the first one dirtied.
    for _ in 0..2 {
        let lens: &[usize] = if cfg!(miri) {
            &[1, 3, 17]
        } else {
            &[1, 2, 3, 7, 16, 100, 1000]
        };
        for &len in lens {
            check_zeroed_then_dirty::<u8, _>(pool, len);
            check_zeroed_then_dirty::<u16, _>(pool, len);
            check_zeroed_then_dirty::<u32, _>(pool, len);
            check_zeroed_then_dirty::<u64, _>(pool, len);
            check_zeroed_then_dirty::<u128, _>(pool, len);
            check_zeroed_then_dirty::<f64, _>(pool, len);
            check_zeroed_then_dirty::<[u8; 3], _>(pool, len);
            check_zeroed_then_dirty::<[u64; 5], _>(pool, len);
            check_zeroed_then_dirty::<CacheLine, _>(pool, len);
            check_zeroed_then_dirty::<Handle<u8>, _>(pool, len);
        }
    }
    assert!(pool.is_empty());
}

#[test]
fn alloc_returns_zeroed_memory_for_many_types_and_lengths() {
    check_zeroed_for_many_types(&mut Pool::new());
}

#[test]
fn alloc_returns_zeroed_memory_from_c_malloc_which_does_not_zero() {
    check_zeroed_for_many_types(&mut Pool::with_allocator(common::libc_allocator()));
}

#[test]
fn zeroed_non_pod_types_read_as_their_zero_value() {
    let mut pool = Pool::new();
    let options = pool.alloc::<Option<core::num::NonZeroU32>>(4).unwrap();
    assert_eq!(pool[options], [None; 4]);
    let floats = pool.alloc::<f32>(2).unwrap();
    assert_eq!(pool[floats], [0.0; 2]);
    let handles = pool.alloc::<Handle<u64>>(2).unwrap();
    assert!(pool[handles].iter().all(Handle::is_null));
}

#[test]
fn zero_length_block_is_live_and_empty() {
    let mut pool = Pool::new();
    let other = pool.alloc_slice(&[1u64, 2]).unwrap();
    let empty = pool.alloc::<u64>(0).unwrap();
    assert!(pool.contains(empty));
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.size(), 16);
    assert_eq!(pool.get(empty), Some(&[][..]));
    assert_eq!(pool.get_mut(empty).map(|b| b.len()), Some(0));
    assert_eq!(pool[empty], []);
    let ptr = pool.as_ptr(empty).unwrap();
    assert!(!ptr.is_null());
    assert_eq!(ptr.addr() % align_of::<u64>(), 0);
    assert_eq!(pool.free(empty), Ok(()));
    assert!(!pool.contains(empty));
    assert_eq!(pool.free(empty), Err(PoolError::InvalidHandle));
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[other], [1, 2]);
}

#[test]
fn zero_length_blocks_are_distinct_blocks() {
    let mut pool = Pool::new();
    let a = pool.alloc::<u8>(0).unwrap();
    let b = pool.alloc::<u8>(0).unwrap();
    let c = pool.alloc_slice::<u8>(&[]).unwrap();
    assert!(a != b && b != c && a != c);
    pool.free(b).unwrap();
    assert!(pool.contains(a) && !pool.contains(b) && pool.contains(c));
    assert_eq!(pool.len(), 2);
}

#[test]
fn zero_sized_type_with_huge_len_is_a_live_block_of_zero_bytes() {
    let mut pool = Pool::new();
    let units = pool.alloc::<()>(usize::MAX).unwrap();
    let markers = pool.alloc::<Marker>(usize::MAX / 2).unwrap();
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.size(), 0);
    assert_eq!(pool[units].len(), usize::MAX);
    assert_eq!(pool[markers].len(), usize::MAX / 2);
    assert_eq!(pool[markers][usize::MAX / 2 - 1], Marker);
    pool[units][12345] = ();
    let [u, m] = [
        pool.as_ptr(units).unwrap().addr(),
        pool.as_ptr(markers).unwrap().addr(),
    ];
    assert!(u != 0 && m != 0);
    pool.free(units).unwrap();
    assert_eq!(pool.get(units), None);
    assert_eq!(pool[markers].len(), usize::MAX / 2);
}

#[test]
fn zero_sized_type_with_large_alignment_gets_an_aligned_pointer() {
    let mut pool = Pool::new();
    let h = pool.alloc::<EmptyAligned>(1000).unwrap();
    assert_eq!(pool.as_ptr(h).unwrap().addr() % 256, 0);
    assert_eq!(pool[h].len(), 1000);
    assert_eq!(pool.size(), 0);
}

/// Allocates blocks of `T` of several lengths, checks alignment, writes a
/// distinct pattern into each through `get_mut`, and reads all back.
fn check_aligned<T, A>(pool: &mut Pool<A>, make: impl Fn(u8) -> T)
where
    T: bytemuck::Zeroable + PartialEq + core::fmt::Debug + Send + Sync + 'static,
    A: BlockAllocator,
{
    let lens = [0usize, 1, 2, 3, 5];
    let handles: Vec<Handle<T>> = lens
        .iter()
        .map(|&len| pool.alloc::<T>(len).unwrap())
        .collect();
    for (b, &h) in handles.iter().enumerate() {
        let ptr = pool.as_ptr(h).unwrap();
        assert_eq!(
            ptr.addr() % align_of::<T>(),
            0,
            "{} misaligned",
            core::any::type_name::<T>()
        );
        for (i, x) in pool.get_mut(h).unwrap().iter_mut().enumerate() {
            *x = make((b * 16 + i + 1) as u8);
        }
    }
    for (b, (&h, &len)) in handles.iter().zip(&lens).enumerate() {
        let expected: Vec<T> = (0..len).map(|i| make((b * 16 + i + 1) as u8)).collect();
        assert_eq!(pool[h], expected[..]);
        pool.free(h).unwrap();
    }
}

fn check_aligned_for_every_type<A: BlockAllocator>(pool: &mut Pool<A>) {
    check_aligned(pool, |x| x);
    check_aligned(pool, u16::from);
    check_aligned(pool, u32::from);
    check_aligned(pool, u64::from);
    check_aligned(pool, u128::from);
    check_aligned(pool, |x| [x; 3]);
    check_aligned(pool, |x| CacheLine([x; 64]));
    check_aligned(pool, |x| Page(u32::from(x) * 1000));
    check_aligned(pool, |_| Marker);
    check_aligned(pool, |_| EmptyAligned);
    assert!(pool.is_empty());
}

#[test]
fn blocks_are_aligned_for_every_type_with_the_default_allocator() {
    check_aligned_for_every_type(&mut Pool::new());
}

#[test]
fn blocks_are_aligned_for_every_type_with_c_malloc() {
    check_aligned_for_every_type(&mut Pool::with_allocator(common::libc_allocator()));
}

/// Contents and counts of a pool, to compare before and after an error.
fn snapshot<A: BlockAllocator>(
    pool: &Pool<A>,
    bytes: Handle<u8>,
    longs: Handle<u64>,
) -> (usize, usize, Vec<u8>, Vec<u64>) {
    (
        pool.len(),
        pool.size(),
        pool[bytes].to_vec(),
        pool[longs].to_vec(),
    )
}

#[test]
fn too_large_requests_return_size_overflow_and_leave_the_pool_unchanged() {
    let mut pool = Pool::new();
    let bytes = pool.alloc_slice(&[1u8, 2, 3]).unwrap();
    let longs = pool.alloc_slice(&[4u64, 5]).unwrap();
    let before = snapshot(&pool, bytes, longs);
    let just_over = isize::MAX as usize + 1;
    assert_eq!(pool.alloc::<u64>(usize::MAX), Err(PoolError::SizeOverflow));
    assert_eq!(
        pool.alloc::<u64>(usize::MAX / 4),
        Err(PoolError::SizeOverflow)
    );
    assert_eq!(
        pool.alloc::<u64>(usize::MAX / 8),
        Err(PoolError::SizeOverflow)
    );
    assert_eq!(pool.alloc::<u8>(just_over), Err(PoolError::SizeOverflow));
    assert_eq!(pool.alloc::<u8>(usize::MAX), Err(PoolError::SizeOverflow));
    assert_eq!(
        pool.alloc::<u64>(just_over / 8),
        Err(PoolError::SizeOverflow)
    );
    assert_eq!(
        pool.alloc::<[u8; 3]>(just_over / 3 + 1),
        Err(PoolError::SizeOverflow)
    );
    assert_eq!(
        pool.alloc::<CacheLine>(just_over / 64),
        Err(PoolError::SizeOverflow)
    );
    assert_eq!(pool.alloc::<Page>(usize::MAX), Err(PoolError::SizeOverflow));
    assert_eq!(snapshot(&pool, bytes, longs), before);
    // Still usable.
    let next = pool.alloc_slice(&[6u8]).unwrap();
    assert_eq!(pool[next], [6]);
    assert_eq!(pool.len(), 3);
}

#[test]
#[cfg_attr(miri, ignore)] // Miri aborts on a 16 TiB allocation instead of returning null.
fn request_larger_than_memory_returns_out_of_memory_and_leaves_the_pool_unchanged() {
    let mut pool = Pool::new();
    let bytes = pool.alloc_slice(&[1u8, 2, 3]).unwrap();
    let longs = pool.alloc_slice(&[4u64, 5]).unwrap();
    let before = snapshot(&pool, bytes, longs);
    assert_eq!(pool.alloc::<u8>(1 << 44), Err(PoolError::OutOfMemory));
    assert_eq!(pool.alloc::<u64>(1 << 41), Err(PoolError::OutOfMemory));
    assert_eq!(
        pool.alloc::<u8>(isize::MAX as usize),
        Err(PoolError::OutOfMemory)
    );
    assert_eq!(snapshot(&pool, bytes, longs), before);
    let next = pool.alloc_slice(&[6u8]).unwrap();
    assert_eq!(pool[next], [6]);
}

#[test]
fn failing_allocator_gives_out_of_memory_and_leaves_the_pool_unchanged() {
    let (allocator, tracker) = FailingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let bytes = pool.alloc_slice(&[1u8, 2, 3]).unwrap();
    let longs = pool.alloc_slice(&[4u64, 5]).unwrap();
    let before = snapshot(&pool, bytes, longs);

    tracker.fail_next(1);
    assert_eq!(pool.alloc::<u8>(1 << 44), Err(PoolError::OutOfMemory));
    tracker.fail_next(1);
    assert_eq!(pool.alloc::<u64>(3), Err(PoolError::OutOfMemory));
    tracker.fail_next(1);
    assert_eq!(pool.alloc_slice(&[9u32; 4]), Err(PoolError::OutOfMemory));
    assert_eq!(tracker.failures(), 3);
    assert_eq!(snapshot(&pool, bytes, longs), before);
    assert_eq!(tracker.live_blocks(), 2);

    // The next request succeeds and gets a working block.
    let next = pool.alloc_slice(&[6u8, 7]).unwrap();
    assert_eq!(pool[next], [6, 7]);
    assert_eq!(pool.len(), 3);
    assert_eq!(tracker.live_blocks(), 3);
}

#[test]
fn alloc_slice_copies_the_values() {
    let mut pool = Pool::new();
    let mut values = vec![1u32, 2, 3];
    let h = pool.alloc_slice(&values).unwrap();
    values[0] = 100;
    assert_eq!(pool[h], [1, 2, 3]);
    pool[h][1] = 200;
    assert_eq!(values, [100, 2, 3]);
    assert_eq!(pool[h], [1, 200, 3]);
}

#[test]
fn alloc_slice_of_many_types_holds_the_values() {
    let mut pool = Pool::new();
    let bytes: Vec<u8> = (0..=255).collect();
    let h = pool.alloc_slice(&bytes).unwrap();
    let floats = pool.alloc_slice(&[1.5f64, -0.0, f64::MAX]).unwrap();
    let lines = pool
        .alloc_slice(&[CacheLine([7; 64]), CacheLine([8; 64])])
        .unwrap();
    let units = pool.alloc_slice(&[(); 9]).unwrap();
    assert_eq!(pool[h], bytes[..]);
    assert_eq!(pool[floats], [1.5, -0.0, f64::MAX]);
    assert_eq!(pool[lines], [CacheLine([7; 64]), CacheLine([8; 64])]);
    assert_eq!(pool[units].len(), 9);
    assert_eq!(pool.size(), 256 + 24 + 128);
}

#[test]
fn len_size_and_is_empty_track_alloc_free_realloc_and_clear() {
    let mut pool = Pool::new();
    assert!(pool.is_empty());
    assert_eq!((pool.len(), pool.size()), (0, 0));
    let a = pool.alloc::<u64>(4).unwrap();
    assert_eq!((pool.len(), pool.size(), pool.is_empty()), (1, 32, false));
    let b = pool.alloc::<u8>(3).unwrap();
    let c = pool.alloc::<()>(1000).unwrap();
    let d = pool.alloc::<u16>(0).unwrap();
    assert_eq!((pool.len(), pool.size()), (4, 35));
    pool.realloc(a, 10).unwrap();
    assert_eq!((pool.len(), pool.size()), (4, 83));
    pool.realloc(b, 1).unwrap();
    assert_eq!((pool.len(), pool.size()), (4, 81));
    pool.realloc(d, 5).unwrap();
    assert_eq!((pool.len(), pool.size()), (4, 91));
    pool.realloc(c, 5).unwrap();
    assert_eq!((pool.len(), pool.size()), (4, 91));
    pool.free(a).unwrap();
    assert_eq!((pool.len(), pool.size()), (3, 11));
    assert_eq!(pool.free(a), Err(PoolError::InvalidHandle));
    assert_eq!((pool.len(), pool.size()), (3, 11));
    pool.free(c).unwrap();
    assert_eq!((pool.len(), pool.size()), (2, 11));
    pool.clear();
    assert!(pool.is_empty());
    assert_eq!((pool.len(), pool.size()), (0, 0));
    pool.alloc::<u32>(2).unwrap();
    assert_eq!((pool.len(), pool.size()), (1, 8));
}

#[test]
fn len_and_size_track_many_allocations_and_frees() {
    let mut pool = Pool::new();
    let n = iterations(1_000, 40);
    let handles: Vec<Handle<u32>> = (0..n).map(|i| pool.alloc::<u32>(i % 7).unwrap()).collect();
    let total: usize = (0..n).map(|i| i % 7 * 4).sum();
    assert_eq!((pool.len(), pool.size()), (n, total));
    let mut size = total;
    for (i, &h) in handles.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        pool.free(h).unwrap();
        size -= i % 7 * 4;
    }
    assert_eq!((pool.len(), pool.size()), (n / 2, size));
}

#[test]
fn get_disjoint_mut_gives_distinct_blocks() {
    let mut pool = Pool::new();
    let a = pool.alloc_slice(&[1u32, 2]).unwrap();
    let b = pool.alloc_slice(&[3u32]).unwrap();
    let c = pool.alloc::<u32>(3).unwrap();
    let [x, y, z] = pool.get_disjoint_mut([a, b, c]).unwrap();
    assert_eq!((&*x, &*y, &*z), (&[1, 2][..], &[3][..], &[0, 0, 0][..]));
    z[0] = x[0] + y[0];
    x[1] = 20;
    y[0] = 30;
    assert_eq!(pool[a], [1, 20]);
    assert_eq!(pool[b], [30]);
    assert_eq!(pool[c], [4, 0, 0]);
    // Order of the handles is the order of the slices.
    let [first, second] = pool.get_disjoint_mut([c, a]).unwrap();
    assert_eq!((first.len(), second.len()), (3, 2));
}

#[test]
fn get_disjoint_mut_with_a_duplicate_returns_none() {
    let mut pool = Pool::new();
    let a = pool.alloc_slice(&[1u8]).unwrap();
    let b = pool.alloc_slice(&[2u8]).unwrap();
    assert!(pool.get_disjoint_mut([a, a]).is_none());
    assert!(pool.get_disjoint_mut([a, b, a]).is_none());
    assert!(pool.get_disjoint_mut([b, a, b]).is_none());
    assert!(pool.get_disjoint_mut([a, b, b]).is_none());
    assert_eq!((pool[a][0], pool[b][0]), (1, 2));
}

#[test]
fn get_disjoint_mut_with_an_invalid_handle_returns_none() {
    let mut pool = Pool::new();
    let mut other = Pool::new();
    let a = pool.alloc_slice(&[1u8]).unwrap();
    let freed = pool.alloc_slice(&[2u8]).unwrap();
    pool.free(freed).unwrap();
    let foreign = other.alloc::<u8>(1).unwrap();
    assert!(pool.get_disjoint_mut([a, freed]).is_none());
    assert!(pool.get_disjoint_mut([Handle::NULL, a]).is_none());
    assert!(pool.get_disjoint_mut([a, foreign]).is_none());
    assert!(pool
        .get_disjoint_mut([bytemuck::cast::<Handle<u8>, Handle<i8>>(a)])
        .is_none());
    assert!(pool.get_disjoint_mut([a]).is_some());
}

#[test]
fn get_disjoint_mut_of_no_handles_returns_no_slices() {
    let mut pool = Pool::new();
    let empty: [Handle<u8>; 0] = [];
    assert_eq!(pool.get_disjoint_mut(empty).map(|s| s.len()), Some(0));
    pool.alloc::<u8>(2).unwrap();
    assert!(pool.get_disjoint_mut::<u8, 0>([]).is_some());
}

#[test]
fn get_disjoint_mut_rejects_duplicate_empty_and_zero_sized_blocks() {
    let mut pool = Pool::new();
    let e1 = pool.alloc::<u64>(0).unwrap();
    let e2 = pool.alloc::<u64>(0).unwrap();
    assert!(pool.get_disjoint_mut([e1, e1]).is_none());
    assert_eq!(
        pool.get_disjoint_mut([e1, e2])
            .map(|[x, y]| (x.len(), y.len())),
        Some((0, 0))
    );
    let u1 = pool.alloc::<()>(3).unwrap();
    let u2 = pool.alloc::<()>(4).unwrap();
    assert!(pool.get_disjoint_mut([u2, u2]).is_none());
    assert_eq!(
        pool.get_disjoint_mut([u1, u2])
            .map(|[x, y]| (x.len(), y.len())),
        Some((3, 4))
    );
}

#[test]
#[should_panic(expected = "handle does not name a live block")]
fn index_with_a_freed_handle_panics() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u8>(1).unwrap();
    pool.free(h).unwrap();
    let _ = pool[h].len();
}

#[test]
#[should_panic(expected = "handle does not name a live block")]
fn index_mut_with_the_null_handle_panics() {
    let mut pool = Pool::new();
    pool.alloc::<u8>(1).unwrap();
    pool[Handle::<u8>::NULL][0] = 1;
}

#[test]
#[should_panic(expected = "handle does not name a live block")]
fn index_with_a_retyped_handle_panics() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u32>(1).unwrap();
    let _ = pool[bytemuck::cast::<Handle<u32>, Handle<f32>>(h)].len();
}

#[test]
fn error_messages_are_lowercase_without_a_trailing_period() {
    let errors = [
        PoolError::InvalidHandle,
        PoolError::SizeOverflow,
        PoolError::OutOfMemory,
        PoolError::InvalidMark,
    ];
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for message in &messages {
        assert!(!message.is_empty());
        assert!(!message.starts_with(char::is_uppercase), "{message:?}");
        assert!(!message.ends_with('.'), "{message:?}");
        assert_eq!(message.trim(), message);
    }
    assert!(
        messages[0].contains("handle does not name a live block"),
        "{}",
        messages[0]
    );
    assert!(messages[1].contains("overflow"), "{}", messages[1]);
    assert!(messages[2].contains("allocator"), "{}", messages[2]);
    assert!(messages[3].contains("mark"), "{}", messages[3]);
}

#[test]
fn pool_error_converts_to_a_boxed_std_error() {
    fn allocate_too_much() -> Result<(), Box<dyn Error + Send + Sync>> {
        Pool::new().alloc::<u64>(usize::MAX)?;
        Ok(())
    }
    let error = allocate_too_much().unwrap_err();
    assert_eq!(error.to_string(), PoolError::SizeOverflow.to_string());
    assert!(error.source().is_none());
    assert_eq!(
        error.downcast_ref::<PoolError>(),
        Some(&PoolError::SizeOverflow)
    );
    let boxed: Box<dyn Error> = PoolError::OutOfMemory.into();
    assert_eq!(
        boxed.to_string(),
        "the allocator could not provide the block"
    );
}
