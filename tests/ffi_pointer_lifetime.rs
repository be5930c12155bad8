//! Regression (Miri): pointers from `as_ptr`/`as_mut_ptr` stay valid across
//! later accesses through the pool, as their docs promise (found by review).

use cymem::Pool;

#[test]
fn as_ptr_survives_a_later_write_through_the_pool() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u32>(2).unwrap();
    let ptr = pool.as_ptr(h).unwrap();
    pool[h][0] = 5;
    // SAFETY: the block is live (not freed, reallocated or cleared) and no
    // reference from the pool is alive now.
    assert_eq!(unsafe { *ptr }, 5);
}

#[test]
fn two_as_mut_ptr_pointers_to_one_block_both_stay_valid() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u64>(2).unwrap();
    let first = pool.as_mut_ptr(h).unwrap();
    let second = pool.as_mut_ptr(h).unwrap();
    // SAFETY: both point to the live block; no reference is alive.
    unsafe {
        first.write(1);
        second.add(1).write(2);
        assert_eq!(*second, 1);
    }
    assert_eq!(pool[h], [1, 2]);
}

#[test]
fn boxes_live_in_blocks_and_are_dropped_with_them() {
    let mut pool = Pool::new();
    let h = pool.alloc::<Option<Box<String>>>(2).unwrap();
    pool[h][1] = Some(Box::new("kept".to_string()));
    assert!(pool[h][0].is_none());
    assert_eq!(pool[h][1].as_deref().map(String::as_str), Some("kept"));
    pool.free(h).unwrap(); // Miri reports a leak if the box is not dropped
}
