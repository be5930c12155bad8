//! The C ABI's contract, called from Rust exactly as C calls it: zeroed and
//! aligned blocks, pointer and handle keys, errors that change nothing, and
//! custom allocators that get every byte back.
#![cfg(feature = "capi")]

use core::ffi::{c_void, CStr};
use core::ptr::{self, null_mut};
use std::cell::Cell;

use cymem::capi::*;

mod common;
use common::iterations;

thread_local! {
    // Per thread: tests run in parallel, each pool on its test's thread.
    static MALLOCS: Cell<usize> = const { Cell::new(0) };
    static FREES: Cell<usize> = const { Cell::new(0) };
    static FAIL_NEXT_MALLOC: Cell<bool> = const { Cell::new(false) };
}

unsafe extern "C" fn counting_malloc(size: usize) -> *mut c_void {
    if FAIL_NEXT_MALLOC.with(|fail| fail.replace(false)) {
        return null_mut();
    }
    MALLOCS.with(|n| n.set(n.get() + 1));
    // SAFETY: plain libc malloc; any size is allowed.
    unsafe { libc::malloc(size) }
}

unsafe extern "C" fn counting_free(ptr: *mut c_void) {
    FREES.with(|n| n.set(n.get() + 1));
    // SAFETY: the pool passes back exactly what `counting_malloc` returned.
    unsafe { libc::free(ptr) }
}

fn counts() -> (usize, usize) {
    (MALLOCS.with(Cell::get), FREES.with(Cell::get))
}

/// A pool destroyed when the guard drops, so a failed assertion leaks nothing.
struct PoolGuard(*mut CymemPool);

impl PoolGuard {
    fn new() -> Self {
        let pool = cymem_pool_new();
        assert!(!pool.is_null());
        PoolGuard(pool)
    }

    fn counting() -> Self {
        // SAFETY: the counting pair behaves like malloc/free.
        let pool = unsafe { cymem_pool_new_with(Some(counting_malloc), Some(counting_free)) };
        assert!(!pool.is_null());
        PoolGuard(pool)
    }

    fn alloc(&self, number: usize, elem_size: usize) -> (*mut u8, CymemHandle) {
        let mut handle = CymemHandle::default();
        // SAFETY: a live pool and a writable handle.
        let ptr = unsafe { cymem_alloc(self.0, number, elem_size, &mut handle) };
        assert!(
            !ptr.is_null(),
            "alloc({number}, {elem_size}) failed: {:?}",
            cymem_last_error()
        );
        (ptr.cast(), handle)
    }

    fn len(&self) -> usize {
        // SAFETY: a live pool.
        unsafe { cymem_pool_len(self.0) }
    }

    fn size(&self) -> usize {
        // SAFETY: a live pool.
        unsafe { cymem_pool_size(self.0) }
    }

    fn lookup(&self, handle: CymemHandle) -> Option<(*mut u8, usize)> {
        let mut size = usize::MAX;
        // SAFETY: a live pool and a writable size.
        let ptr = unsafe { cymem_lookup(self.0, handle, &mut size) };
        (!ptr.is_null()).then_some((ptr.cast(), size))
    }
}

impl Drop for PoolGuard {
    fn drop(&mut self) {
        // SAFETY: made by `cymem_pool_new*`, destroyed only here.
        unsafe { cymem_pool_destroy(self.0) };
    }
}

/// Reads `len` bytes of a live block.
///
/// # Safety
///
/// `ptr` starts a live block of at least `len` bytes.
unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    // SAFETY: the caller's contract.
    unsafe { core::slice::from_raw_parts(ptr, len) }
}

#[test]
fn blocks_are_zeroed_aligned_and_distinct() {
    let pool = PoolGuard::new();
    let mut seen = Vec::new();
    for bytes_wanted in [0, 1, 7, 8, 9, 15, 16, 17, 100, 256, 257, 4096, 70_000] {
        let (ptr, _) = pool.alloc(bytes_wanted, 1);
        assert_eq!(ptr.addr() % 16, 0, "{bytes_wanted} bytes");
        // SAFETY: the block holds `bytes_wanted` bytes.
        assert!(unsafe { bytes(ptr, bytes_wanted) }.iter().all(|&b| b == 0));
        assert!(!seen.contains(&ptr.addr()), "address reused while live");
        seen.push(ptr.addr());
    }
    assert_eq!(pool.len(), 13);
    assert_eq!(
        pool.size(),
        [0, 1, 7, 8, 9, 15, 16, 17, 100, 256, 257, 4096, 70_000]
            .iter()
            .sum()
    );
}

#[test]
fn pointer_and_handle_name_the_same_block() {
    let pool = PoolGuard::new();
    let (ptr, handle) = pool.alloc(6, 4);
    assert_eq!(pool.lookup(handle), Some((ptr, 24)));
    let (mut found, mut size) = (CymemHandle::default(), 0);
    // SAFETY: a live pool, writable out-pointers.
    let status = unsafe { cymem_find(pool.0, ptr.cast(), &mut found, &mut size) };
    assert_eq!((status, found, size), (CymemStatus::Ok, handle, 24));
}

#[test]
fn foreign_interior_and_freed_pointers_change_nothing() {
    let pool = PoolGuard::new();
    let other = PoolGuard::new();
    let (kept, _) = pool.alloc(4, 8);
    // SAFETY: writes within the 32-byte block.
    unsafe { kept.write_bytes(0xAB, 32) };
    let (freed, _) = pool.alloc(2, 8);
    let (theirs, _) = other.alloc(2, 8);
    let mut local = 0u64;
    // SAFETY: a live pool; every pointer below is only compared.
    unsafe {
        assert_eq!(cymem_free(pool.0, freed.cast()), CymemStatus::Ok);
        let foreign: [*mut c_void; 6] = [
            null_mut(),
            freed.cast(),
            theirs.cast(),
            kept.add(1).cast(),
            (&raw mut local).cast(),
            ptr::without_provenance_mut(0xdead_beef),
        ];
        for ptr in foreign {
            assert_eq!(cymem_free(pool.0, ptr), CymemStatus::InvalidPointer);
            assert_eq!(cymem_last_error(), CymemStatus::InvalidPointer);
            assert!(cymem_realloc(pool.0, ptr, 8, 8).is_null());
            assert_eq!(cymem_last_error(), CymemStatus::InvalidPointer);
            assert_eq!(
                cymem_find(pool.0, ptr, null_mut(), null_mut()),
                CymemStatus::InvalidPointer
            );
        }
        assert_eq!(bytes(kept, 32), [0xAB; 32]);
    }
    assert_eq!((pool.len(), pool.size()), (1, 32));
    assert_eq!((other.len(), other.size()), (1, 16));
}

#[test]
fn stale_foreign_and_forged_handles_are_rejected() {
    let pool = PoolGuard::new();
    let other = PoolGuard::new();
    let (_, live) = pool.alloc(3, 8);
    let (_, freed) = pool.alloc(3, 8);
    let (_, theirs) = other.alloc(3, 8);
    // SAFETY: a live pool.
    assert_eq!(unsafe { cymem_free_handle(pool.0, freed) }, CymemStatus::Ok);
    // The freed slot is reused: the old handle must not reach the new block.
    let (_, reused) = pool.alloc(3, 8);
    assert_eq!(reused.index, freed.index);
    let forged = [
        CymemHandle::default(),
        freed,
        theirs,
        CymemHandle {
            pool: theirs.pool,
            ..live
        },
        CymemHandle {
            generation: live.generation.wrapping_add(1),
            ..live
        },
        CymemHandle {
            generation: live.generation.wrapping_sub(1),
            ..live
        },
        CymemHandle {
            generation: live.generation.wrapping_add(2),
            ..live
        },
        CymemHandle {
            index: live.index + 100,
            ..live
        },
        CymemHandle {
            index: u32::MAX,
            ..live
        },
        CymemHandle {
            index: 0x1234_5678,
            generation: 0x9abc_def1,
            pool: u64::MAX,
        },
    ];
    for handle in forged {
        assert_eq!(pool.lookup(handle), None, "{handle:?}");
        assert_eq!(cymem_last_error(), CymemStatus::InvalidHandle);
        // SAFETY: a live pool; the handle is only checked.
        unsafe {
            assert_eq!(
                cymem_free_handle(pool.0, handle),
                CymemStatus::InvalidHandle
            );
            assert!(cymem_realloc_handle(pool.0, handle, 1, 1).is_null());
            assert_eq!(cymem_last_error(), CymemStatus::InvalidHandle);
        }
    }
    assert_eq!((pool.len(), pool.size()), (2, 48));
    assert!(pool.lookup(live).is_some() && pool.lookup(reused).is_some());
}

#[test]
fn a_reused_address_fools_pointers_but_not_handles() {
    let pool = PoolGuard::new();
    let (first, first_handle) = pool.alloc(4, 8);
    // SAFETY: a live pool.
    assert_eq!(unsafe { cymem_free(pool.0, first.cast()) }, CymemStatus::Ok);
    let (second, _) = pool.alloc(4, 8);
    // Carved blocks of one size class are reused last-in, first-out.
    assert_eq!(second, first);
    assert_eq!(pool.lookup(first_handle), None);
    // SAFETY: a live pool.
    let status = unsafe { cymem_free_handle(pool.0, first_handle) };
    assert_eq!(status, CymemStatus::InvalidHandle);
    assert_eq!(pool.len(), 1);
}

#[test]
fn realloc_keeps_the_prefix_and_zeroes_everything_past_it() {
    for pool in [PoolGuard::new(), PoolGuard::counting()] {
        let (ptr, handle) = pool.alloc(5, 1);
        // SAFETY: the C caller writes past its 5 bytes but within the 16-byte
        // unit, which the pool cannot see; bytes 5.. must still read zero later.
        unsafe { ptr.write_bytes(0x11, 16) };
        // SAFETY: a live pool; reads within the resized blocks.
        unsafe {
            let grown = cymem_realloc(pool.0, ptr.cast(), 40, 1).cast::<u8>();
            assert!(!grown.is_null());
            assert_eq!(bytes(grown, 5), [0x11; 5]);
            assert!(bytes(grown.add(5), 35).iter().all(|&b| b == 0));
            grown.write_bytes(0x22, 40);
            let shrunk = cymem_realloc_handle(pool.0, handle, 3, 1).cast::<u8>();
            assert_eq!(bytes(shrunk, 3), [0x22; 3]);
            let regrown = cymem_realloc_handle(pool.0, handle, 40, 1).cast::<u8>();
            assert_eq!(bytes(regrown, 3), [0x22; 3]);
            assert!(
                bytes(regrown.add(3), 37).iter().all(|&b| b == 0),
                "old data after shrink"
            );
            assert_eq!(pool.lookup(handle), Some((regrown, 40)));
        }
        assert_eq!((pool.len(), pool.size()), (1, 40));
    }
}

#[test]
fn realloc_moves_the_address_key_with_the_block() {
    let pool = PoolGuard::new();
    let (small, handle) = pool.alloc(1, 16);
    // SAFETY: a live pool; pointers are only compared.
    unsafe {
        let big = cymem_realloc(pool.0, small.cast(), 1 << 16, 1);
        assert_ne!(
            big.cast::<u8>(),
            small,
            "a carved block cannot grow in place to 64 KiB"
        );
        assert_eq!(
            cymem_free(pool.0, small.cast()),
            CymemStatus::InvalidPointer
        );
        let mut found = CymemHandle::default();
        assert_eq!(
            cymem_find(pool.0, big, &mut found, null_mut()),
            CymemStatus::Ok
        );
        assert_eq!(found, handle);
        assert_eq!(cymem_free(pool.0, big), CymemStatus::Ok);
    }
    assert_eq!((pool.len(), pool.size()), (0, 0));
}

#[test]
fn size_overflow_is_an_error_not_a_wrap() {
    let pool = PoolGuard::new();
    let (ptr, handle) = pool.alloc(2, 2);
    let mut out = CymemHandle::default();
    for (number, elem_size) in [
        (usize::MAX, 2),
        (2, usize::MAX),
        (usize::MAX / 2 + 1, 1),
        (1, isize::MAX as usize),
    ] {
        // SAFETY: a live pool and a writable handle.
        unsafe {
            assert!(cymem_alloc(pool.0, number, elem_size, &mut out).is_null());
            assert_eq!(cymem_last_error(), CymemStatus::SizeOverflow);
            assert!(cymem_realloc(pool.0, ptr.cast(), number, elem_size).is_null());
            assert_eq!(cymem_last_error(), CymemStatus::SizeOverflow);
        }
    }
    assert_eq!(out, CymemHandle::default(), "no handle written on failure");
    assert_eq!(pool.lookup(handle), Some((ptr, 4)));
    assert_eq!((pool.len(), pool.size()), (1, 4));
}

#[test]
fn null_pool_is_reported_by_every_function() {
    let null = null_mut();
    let mut handle = CymemHandle::default();
    let mut size = 7;
    // SAFETY: a NULL pool is checked before anything else.
    unsafe {
        assert!(cymem_alloc(null, 1, 1, &mut handle).is_null());
        assert_eq!(cymem_last_error(), CymemStatus::NullPool);
        assert_eq!(cymem_free(null, null_mut()), CymemStatus::NullPool);
        assert_eq!(cymem_free_handle(null, handle), CymemStatus::NullPool);
        assert!(cymem_realloc(null, null_mut(), 1, 1).is_null());
        assert_eq!(cymem_last_error(), CymemStatus::NullPool);
        assert!(cymem_realloc_handle(null, handle, 1, 1).is_null());
        assert_eq!(cymem_last_error(), CymemStatus::NullPool);
        assert!(cymem_lookup(null, handle, &mut size).is_null());
        assert_eq!(cymem_last_error(), CymemStatus::NullPool);
        assert_eq!(
            cymem_find(null, ptr::null(), &mut handle, &mut size),
            CymemStatus::NullPool
        );
        assert_eq!((cymem_pool_len(null), cymem_pool_size(null)), (0, 0));
        cymem_pool_destroy(null);
    }
    assert_eq!(size, 7);
}

#[test]
fn custom_allocator_gets_every_block_back() {
    let (mallocs_before, frees_before) = counts();
    {
        let pool = PoolGuard::counting();
        let blocks: Vec<_> = (0..iterations(200, 20))
            .map(|i| pool.alloc(i % 50, 8))
            .collect();
        let made = counts().0 - mallocs_before;
        assert_eq!(
            made,
            blocks.len(),
            "one malloc per block, zero-byte ones included"
        );
        for (ptr, _) in blocks.iter().step_by(3) {
            // SAFETY: a live pool and a live block.
            assert_eq!(unsafe { cymem_free(pool.0, ptr.cast()) }, CymemStatus::Ok);
        }
        assert_eq!(counts().1 - frees_before, blocks.len().div_ceil(3));
    }
    let (mallocs, frees) = counts();
    assert_eq!(
        mallocs - mallocs_before,
        frees - frees_before,
        "destroy frees the rest"
    );
}

#[test]
fn a_failing_malloc_leaves_the_pool_unchanged_and_usable() {
    let pool = PoolGuard::counting();
    let (ptr, handle) = pool.alloc(4, 4);
    // SAFETY: within the 16-byte block.
    unsafe { ptr.write_bytes(9, 16) };
    FAIL_NEXT_MALLOC.with(|fail| fail.set(true));
    // SAFETY: a live pool.
    unsafe {
        assert!(cymem_alloc(pool.0, 1, 8, null_mut()).is_null());
        assert_eq!(cymem_last_error(), CymemStatus::OutOfMemory);
    }
    FAIL_NEXT_MALLOC.with(|fail| fail.set(true));
    // SAFETY: a live pool; the block is read within its 16 bytes.
    unsafe {
        assert!(cymem_realloc(pool.0, ptr.cast(), 1000, 1).is_null());
        assert_eq!(cymem_last_error(), CymemStatus::OutOfMemory);
        assert_eq!(bytes(ptr, 16), [9; 16]);
    }
    assert_eq!(pool.lookup(handle), Some((ptr, 16)));
    assert_eq!((pool.len(), pool.size()), (1, 16));
    pool.alloc(1, 8);
    assert_eq!(pool.len(), 2);
}

#[test]
fn new_with_rejects_missing_functions() {
    // SAFETY: NULL functions are checked before use.
    unsafe {
        assert!(cymem_pool_new_with(None, Some(counting_free)).is_null());
        assert_eq!(cymem_last_error(), CymemStatus::InvalidArgument);
        assert!(cymem_pool_new_with(Some(counting_malloc), None).is_null());
        assert_eq!(cymem_last_error(), CymemStatus::InvalidArgument);
    }
}

#[test]
fn last_error_is_per_thread() {
    // SAFETY: a NULL pool is checked before anything else.
    let status = unsafe { cymem_free(null_mut(), null_mut()) };
    assert_eq!(status, CymemStatus::NullPool);
    let seen = std::thread::spawn(|| cymem_last_error()).join().unwrap();
    assert_eq!(seen, CymemStatus::Ok);
    assert_eq!(cymem_last_error(), CymemStatus::NullPool);
}

#[test]
fn every_status_has_its_own_message() {
    let message = |status: i32| {
        // SAFETY: `cymem_status_message` returns a static C string.
        unsafe { CStr::from_ptr(cymem_status_message(status)) }
            .to_str()
            .unwrap()
    };
    let known: Vec<_> = (0..7).map(message).collect();
    for (i, text) in known.iter().enumerate() {
        assert!(!text.is_empty() && !known[..i].contains(text), "{text}");
    }
    assert_eq!(
        message(CymemStatus::InvalidHandle as i32),
        cymem::PoolError::InvalidHandle.to_string()
    );
    for unknown in [-1, 7, 99, i32::MIN, i32::MAX] {
        assert_eq!(message(unknown), "unknown status");
    }
}

#[test]
fn cymem_readme_example_builds_and_reads_back() {
    // cymem's README: an array of sparse matrices, rows owning index and value
    // arrays, all from one pool; destroying it is the only free.
    #[repr(C)]
    struct SparseRow {
        length: usize,
        indices: *mut usize,
        values: *mut f64,
    }
    #[repr(C)]
    struct SparseMatrix {
        length: usize,
        rows: *mut SparseRow,
    }
    let (mallocs_before, frees_before) = counts();
    let pool = PoolGuard::counting();
    let matrix_count = iterations(20, 3);
    let (matrices, _) = pool.alloc(matrix_count, size_of::<*mut SparseMatrix>());
    let matrices = matrices.cast::<*mut SparseMatrix>();
    let value = |m: usize, r: usize, j: usize| (m * 10_000 + r * 100 + j) as f64 / 4.0;
    for m in 0..matrix_count {
        let row_count = m % 7;
        let (matrix, _) = pool.alloc(1, size_of::<SparseMatrix>());
        let (rows, _) = pool.alloc(row_count, size_of::<SparseRow>());
        let (matrix, rows) = (matrix.cast::<SparseMatrix>(), rows.cast::<SparseRow>());
        // SAFETY: every block is live, zeroed (valid for these plain structs)
        // and as large as the number of elements written.
        unsafe {
            (*matrix).length = row_count;
            (*matrix).rows = rows;
            for r in 0..row_count {
                let length = (m + r) % 5;
                let row = &mut *rows.add(r);
                row.length = length;
                row.indices = pool.alloc(length, size_of::<usize>()).0.cast();
                row.values = pool.alloc(length, size_of::<f64>()).0.cast();
                for j in 0..length {
                    *row.indices.add(j) = j * 3;
                    *row.values.add(j) = value(m, r, j);
                }
            }
            *matrices.add(m) = matrix;
        }
    }
    // SAFETY: read back through the same live blocks.
    unsafe {
        for m in 0..matrix_count {
            let matrix = &**matrices.add(m);
            assert_eq!(matrix.length, m % 7);
            for r in 0..matrix.length {
                let row = &*matrix.rows.add(r);
                for j in 0..row.length {
                    assert_eq!(
                        (*row.indices.add(j), *row.values.add(j)),
                        (j * 3, value(m, r, j))
                    );
                }
            }
        }
    }
    let blocks = pool.len();
    drop(pool);
    let (mallocs, frees) = counts();
    assert_eq!(mallocs - mallocs_before, blocks);
    assert_eq!(frees - frees_before, blocks);
}

#[test]
fn pointers_find_blocks_made_moved_and_freed_before_the_first_pointer_call() {
    // Handles only at first: the address index does not exist yet. The first
    // call by pointer builds it from the pool as it is then.
    let pool = PoolGuard::new();
    let blocks: Vec<_> = (0..iterations(64, 12))
        .map(|i| pool.alloc(i % 9, 8))
        .collect();
    let mut live = Vec::new();
    for (i, &(ptr, handle)) in blocks.iter().enumerate() {
        // SAFETY: a live pool; handles are checked.
        unsafe {
            match i % 3 {
                0 => assert_eq!(cymem_free_handle(pool.0, handle), CymemStatus::Ok),
                1 => {
                    let moved = cymem_realloc_handle(pool.0, handle, 300, 1).cast::<u8>();
                    assert!(!moved.is_null());
                    live.push((moved, handle, 300, Some(ptr)));
                }
                _ => live.push((ptr, handle, (i % 9) * 8, None)),
            }
        }
    }
    for &(ptr, handle, size, old) in &live {
        let (mut found, mut found_size) = (CymemHandle::default(), 0);
        // SAFETY: a live pool, writable out-pointers; pointers are only compared.
        unsafe {
            let status = cymem_find(pool.0, ptr.cast(), &mut found, &mut found_size);
            assert_eq!((status, found, found_size), (CymemStatus::Ok, handle, size));
            if let Some(old) = old.filter(|&old| old != ptr && live.iter().all(|l| l.0 != old)) {
                let status = cymem_find(pool.0, old.cast(), null_mut(), null_mut());
                assert_eq!(
                    status,
                    CymemStatus::InvalidPointer,
                    "a moved block's old address"
                );
            }
        }
    }
    for &(ptr, handle) in blocks.iter().step_by(3) {
        if live.iter().all(|l| l.0 != ptr) {
            // SAFETY: a live pool; the pointer is only compared.
            let status = unsafe { cymem_free(pool.0, ptr.cast()) };
            assert_eq!(
                status,
                CymemStatus::InvalidPointer,
                "{handle:?} was freed by handle"
            );
        }
    }
    // From now on the index follows every change.
    let (late, late_handle) = pool.alloc(5, 5);
    for &(ptr, _, _, _) in &live {
        // SAFETY: a live pool and a live block.
        assert_eq!(unsafe { cymem_free(pool.0, ptr.cast()) }, CymemStatus::Ok);
    }
    // SAFETY: a live pool; pointers are only compared.
    unsafe {
        let moved = cymem_realloc(pool.0, late.cast(), 1000, 1);
        let mut found = CymemHandle::default();
        assert_eq!(
            cymem_find(pool.0, moved, &mut found, null_mut()),
            CymemStatus::Ok
        );
        assert_eq!(found, late_handle);
    }
    assert_eq!((pool.len(), pool.size()), (1, 1000));
}
