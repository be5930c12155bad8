//! Raw pointers for FFI: `as_ptr`/`as_mut_ptr` point at the block, stay put
//! while other blocks come and go, are `None` for invalid handles, and work
//! with C functions.

mod common;

use core::ffi::c_void;

use common::iterations;
use cymem::{BlockAllocator, Handle, Pool};

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable)]
#[repr(C, align(4096))]
struct Page([u8; 4096]);

#[test]
fn write_through_as_mut_ptr_is_read_through_get() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u32>(4).unwrap();
    let ptr = pool.as_mut_ptr(h).unwrap();
    for i in 0..4 {
        // SAFETY: the block is live, holds 4 u32s, and no reference to it is
        // used until the loop ends.
        unsafe { ptr.add(i).write(i as u32 * 11) };
    }
    assert_eq!(pool.get(h), Some(&[0, 11, 22, 33][..]));
    assert_eq!(pool.as_ptr(h), Some(ptr.cast_const()));
}

#[test]
fn as_ptr_reads_what_get_mut_wrote() {
    let mut pool = Pool::new();
    let h = pool.alloc::<u64>(3).unwrap();
    pool.get_mut(h).unwrap().copy_from_slice(&[7, 8, 9]);
    let ptr = pool.as_ptr(h).unwrap();
    // SAFETY: the block is live and holds 3 initialised u64s; nothing
    // mutates it while `ptr` is read.
    let read = unsafe { core::slice::from_raw_parts(ptr, 3) };
    assert_eq!(read, [7, 8, 9]);
    assert_eq!(read.as_ptr(), pool[h].as_ptr());
}

fn check_pointers_stable<A: BlockAllocator>(pool: &mut Pool<A>) {
    let h = pool.alloc_slice(&[5u64, 6, 7]).unwrap();
    let read_ptr = pool.as_ptr(h).unwrap();
    let mut others: Vec<Handle<u64>> = Vec::new();
    for i in 0..iterations(300, 20) {
        others.push(pool.alloc::<u64>(i % 7).unwrap());
        if i % 3 == 0 {
            let freed = others.swap_remove(i % others.len());
            pool.free(freed).unwrap();
        }
        if let Some(&grown) = others.get(i % 5) {
            pool.realloc(grown, i % 11).unwrap();
        }
        assert_eq!(pool.as_ptr(h), Some(read_ptr), "block moved after step {i}");
    }
    // SAFETY: the block was neither freed nor reallocated, and never
    // accessed mutably since `read_ptr` was taken.
    let read = unsafe { core::slice::from_raw_parts(read_ptr, 3) };
    assert_eq!(read, [5, 6, 7]);

    let write_ptr = pool.as_mut_ptr(h).unwrap();
    for i in 0..iterations(100, 10) {
        let other = pool.alloc_slice(&[i as u64]).unwrap();
        // SAFETY: block `h` is live, holds 3 u64s, and no reference to it
        // was obtained since `write_ptr`; other blocks are other memory.
        unsafe { write_ptr.add(i % 3).write(i as u64) };
        pool.free(other).unwrap();
    }
    let last = iterations(100, 10) - 1;
    assert!(pool[h].contains(&(last as u64)));
}

#[test]
fn pointers_stay_put_while_other_blocks_come_and_go() {
    check_pointers_stable(&mut Pool::new());
}

#[test]
fn pointers_stay_put_while_other_blocks_come_and_go_with_c_malloc() {
    check_pointers_stable(&mut Pool::with_allocator(common::libc_allocator()));
}

#[test]
fn pointers_of_invalid_handles_are_none() {
    let mut pool = Pool::new();
    let mut other = Pool::new();
    let live = pool.alloc::<u8>(4).unwrap();
    let freed = pool.alloc::<u8>(4).unwrap();
    pool.free(freed).unwrap();
    let foreign = other.alloc::<u8>(4).unwrap();
    let retyped: Handle<i8> = bytemuck::cast(live);
    for h in [Handle::NULL, freed, foreign] {
        assert_eq!(pool.as_ptr(h), None);
        assert_eq!(pool.as_mut_ptr(h), None);
    }
    assert_eq!(pool.as_ptr(retyped), None);
    assert_eq!(pool.as_mut_ptr(retyped), None);
    assert!(pool.as_ptr(live).is_some());
    pool.clear();
    assert_eq!(pool.as_ptr(live), None);
    assert_eq!(pool.as_mut_ptr(live), None);
}

#[test]
fn pointers_of_empty_and_zero_sized_blocks_are_aligned_and_not_null() {
    let mut pool = Pool::new();
    let empty = pool.alloc::<Point>(0).unwrap();
    let units = pool.alloc::<()>(10).unwrap();
    let pages = pool.alloc::<Page>(0).unwrap();
    for addr in [
        pool.as_ptr(empty).unwrap().addr(),
        pool.as_ptr(units).unwrap().addr(),
        pool.as_ptr(pages).unwrap().addr(),
        pool.as_mut_ptr(empty).unwrap().addr(),
    ] {
        assert_ne!(addr, 0);
    }
    assert_eq!(pool.as_ptr(empty).unwrap().addr() % align_of::<Point>(), 0);
    assert_eq!(pool.as_ptr(pages).unwrap().addr() % 4096, 0);
}

#[test]
fn memset_through_as_mut_ptr_fills_the_block() {
    let mut pool = Pool::new();
    let before = pool.alloc_slice(&[1u8; 4]).unwrap();
    let h = pool.alloc::<u8>(100).unwrap();
    let after = pool.alloc_slice(&[2u8; 4]).unwrap();
    let ptr = pool.as_mut_ptr(h).unwrap();
    // SAFETY: the block is live and holds 100 bytes; nothing else refers to it.
    unsafe { libc::memset(ptr.cast::<c_void>(), 0x5A, 100) };
    assert!(pool[h].iter().all(|&b| b == 0x5A));
    assert_eq!(pool[before], [1; 4]);
    assert_eq!(pool[after], [2; 4]);
}

#[test]
fn memcpy_between_blocks_copies_structs() {
    let mut pool = Pool::with_allocator(common::libc_allocator());
    let points = [Point { x: 1.0, y: 2.0 }, Point { x: -3.5, y: 0.25 }];
    let src = pool.alloc_slice(&points).unwrap();
    let dst = pool.alloc::<Point>(2).unwrap();
    let src_ptr = pool.as_ptr(src).unwrap();
    let dst_ptr = pool.as_mut_ptr(dst).unwrap();
    // SAFETY: both blocks are live, distinct, hold 2 `Point`s each; nothing
    // else refers to `dst` and nothing writes to `src` meanwhile.
    unsafe {
        libc::memcpy(
            dst_ptr.cast::<c_void>(),
            src_ptr.cast::<c_void>(),
            2 * size_of::<Point>(),
        )
    };
    assert_eq!(pool[dst], points);
    assert_eq!(pool[src], points);
}

#[test]
fn memset_on_an_over_aligned_block_from_c_malloc() {
    let mut pool = Pool::with_allocator(common::libc_allocator());
    let h = pool.alloc::<Page>(2).unwrap();
    let ptr = pool.as_mut_ptr(h).unwrap();
    assert_eq!(ptr.addr() % 4096, 0);
    // SAFETY: the block is live and holds 2 pages; nothing else refers to it.
    unsafe { libc::memset(ptr.add(1).cast::<c_void>(), 0xC3, size_of::<Page>()) };
    assert!(pool[h][0].0.iter().all(|&b| b == 0));
    assert!(pool[h][1].0.iter().all(|&b| b == 0xC3));
}

/// A function with C's ABI, as a C library would export it.
extern "C" fn sum_u32(ptr: *const u32, len: usize) -> u64 {
    // SAFETY: callers pass a pointer to `len` initialised u32s.
    let values = unsafe { core::slice::from_raw_parts(ptr, len) };
    values.iter().map(|&v| u64::from(v)).sum()
}

#[test]
fn block_pointer_and_length_pass_to_a_c_abi_function() {
    let mut pool = Pool::new();
    let h = pool.alloc_slice(&[10u32, 20, 30, u32::MAX]).unwrap();
    let len = pool[h].len();
    let total = sum_u32(pool.as_ptr(h).unwrap(), len);
    assert_eq!(total, 60 + u64::from(u32::MAX));
}

#[test]
fn pointer_after_realloc_points_at_the_resized_block() {
    let mut pool = Pool::new();
    let h = pool.alloc_slice(&[1u16, 2, 3]).unwrap();
    pool.realloc(h, 1000).unwrap();
    let ptr = pool.as_ptr(h).unwrap();
    assert_eq!(ptr, pool[h].as_ptr());
    // SAFETY: the block is live and holds 1000 u16s after the realloc.
    let read = unsafe { core::slice::from_raw_parts(ptr, 1000) };
    assert_eq!(read[..4], [1, 2, 3, 0]);
}
