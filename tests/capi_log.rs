//! The C pool's blocks without a handle (`cymem_alloc` with a NULL
//! `out_handle`): they live in a log, not in slots (`src/capi/blocks.rs`).
//! These tests pin what the log must do, through the C functions only:
//! freeing the newest block pops it and the holes before it, freeing older
//! ones leaves holes that are compacted away once they are 64 or more and
//! more than half the log, `cymem_find` with an `out_handle` moves a block
//! into a slot, `cymem_realloc` keeps a block's place and zeroes its tail,
//! `cymem_free_with_size` reports the size, and destroying a pool gives
//! every block back (to a custom `free`, or to the global allocator, which
//! this file counts per thread; run it under Miri for the blocks of 2 MiB
//! and more, which are mapped outside the global allocator natively).
#![cfg(feature = "capi")]

use core::ffi::c_void;
use core::ptr::{self, null_mut};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use cymem::capi::*;

mod common;
use common::iterations;

/// The system allocator, counting on each thread the blocks that thread
/// has allocated minus those it has freed: a pool used and destroyed on one
/// thread must leave the count where it found it.
struct PerThreadCount;

thread_local! {
    // `const`, `Copy` and without `Drop`: no lazy initialisation and no
    // destructor, so the global allocator may use it at any time.
    static GLOBAL_LIVE: Cell<isize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for PerThreadCount {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            GLOBAL_LIVE.with(|n| n.set(n.get() + 1));
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            GLOBAL_LIVE.with(|n| n.set(n.get() + 1));
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        GLOBAL_LIVE.with(|n| n.set(n.get() - 1));
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded from the caller; one block in, one out (or the
        // old one kept on failure).
        unsafe { System.realloc(block, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: PerThreadCount = PerThreadCount;

fn global_live() -> isize {
    GLOBAL_LIVE.with(Cell::get)
}

/// What the counting `malloc`/`free` pair saw on this thread.
#[derive(Default)]
struct MallocLog {
    mallocs: usize,
    frees: usize,
    /// Fail the next `malloc`.
    fail_next: bool,
    /// Blocks `malloc` gave out and `free` did not take back.
    live: HashSet<usize>,
    /// `free` of a pointer that was not live: a double or foreign free.
    bad_frees: usize,
}

thread_local! {
    // Per thread: tests run in parallel, each pool on its test's thread.
    static MALLOC: RefCell<MallocLog> = RefCell::new(MallocLog::default());
}

unsafe extern "C" fn counting_malloc(size: usize) -> *mut c_void {
    let fail = MALLOC.with_borrow_mut(|log| core::mem::take(&mut log.fail_next));
    if fail {
        return null_mut();
    }
    // SAFETY: plain libc malloc; any size is allowed.
    let block = unsafe { libc::malloc(size) };
    MALLOC.with_borrow_mut(|log| {
        log.mallocs += 1;
        log.live.insert(block.addr());
    });
    block
}

unsafe extern "C" fn counting_free(block: *mut c_void) {
    let known = MALLOC.with_borrow_mut(|log| {
        log.frees += 1;
        log.live.remove(&block.addr())
    });
    if known {
        // SAFETY: `counting_malloc` returned it and it was not freed since.
        unsafe { libc::free(block) }
    } else {
        MALLOC.with_borrow_mut(|log| log.bad_frees += 1);
    }
}

/// (mallocs, frees) so far on this thread.
fn malloc_counts() -> (usize, usize) {
    MALLOC.with_borrow(|log| (log.mallocs, log.frees))
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

    /// Both kinds of pool, for tests that must hold on each.
    fn both() -> [(PoolGuard, &'static str); 2] {
        [
            (PoolGuard::new(), "default pool"),
            (PoolGuard::counting(), "malloc/free pool"),
        ]
    }

    /// A block of `bytes` bytes without a handle.
    fn alloc(&self, bytes: usize) -> *mut u8 {
        // SAFETY: a live pool; a NULL `out_handle`.
        let ptr = unsafe { cymem_alloc(self.0, bytes, 1, null_mut()) };
        assert!(!ptr.is_null(), "alloc({bytes}): {:?}", cymem_last_error());
        ptr.cast()
    }

    /// A block of `bytes` bytes with a handle.
    fn alloc_with_handle(&self, bytes: usize) -> (*mut u8, CymemHandle) {
        let mut handle = CymemHandle::default();
        // SAFETY: a live pool and a writable handle.
        let ptr = unsafe { cymem_alloc(self.0, bytes, 1, &mut handle) };
        assert!(!ptr.is_null(), "alloc({bytes}): {:?}", cymem_last_error());
        (ptr.cast(), handle)
    }

    fn free(&self, ptr: *mut u8) -> CymemStatus {
        // SAFETY: a live pool; `ptr` is only compared.
        unsafe { cymem_free(self.0, ptr.cast()) }
    }

    /// `cymem_free_with_size`: the status, and the size written (None if
    /// the sentinel was left alone).
    fn free_with_size(&self, ptr: *mut u8) -> (CymemStatus, Option<usize>) {
        let mut size = SENTINEL;
        // SAFETY: a live pool, a writable size; `ptr` is only compared.
        let status = unsafe { cymem_free_with_size(self.0, ptr.cast(), &mut size) };
        (status, (size != SENTINEL).then_some(size))
    }

    fn realloc(&self, ptr: *mut u8, bytes: usize) -> *mut u8 {
        // SAFETY: a live pool; `ptr` is only compared.
        let moved = unsafe { cymem_realloc(self.0, ptr.cast(), bytes, 1) };
        assert!(
            !moved.is_null(),
            "realloc to {bytes}: {:?}",
            cymem_last_error()
        );
        moved.cast()
    }

    /// `cymem_find` without a handle: the size, or the error.
    fn find(&self, ptr: *mut u8) -> Result<usize, CymemStatus> {
        let mut size = SENTINEL;
        // SAFETY: a live pool, a writable size; `ptr` is only compared.
        match unsafe { cymem_find(self.0, ptr.cast(), null_mut(), &mut size) } {
            CymemStatus::Ok => Ok(size),
            error => {
                assert_eq!(size, SENTINEL, "a failed find wrote a size");
                Err(error)
            }
        }
    }

    /// `cymem_find` with a handle: the handle and size, or the error.
    fn find_handle(&self, ptr: *mut u8) -> Result<(CymemHandle, usize), CymemStatus> {
        let (mut handle, mut size) = (CymemHandle::default(), SENTINEL);
        // SAFETY: a live pool, writable outs; `ptr` is only compared.
        match unsafe { cymem_find(self.0, ptr.cast(), &mut handle, &mut size) } {
            CymemStatus::Ok => Ok((handle, size)),
            error => Err(error),
        }
    }

    fn lookup(&self, handle: CymemHandle) -> Option<(*mut u8, usize)> {
        let mut size = SENTINEL;
        // SAFETY: a live pool and a writable size.
        let ptr = unsafe { cymem_lookup(self.0, handle, &mut size) };
        (!ptr.is_null()).then_some((ptr.cast(), size))
    }

    fn len(&self) -> usize {
        // SAFETY: a live pool.
        unsafe { cymem_pool_len(self.0) }
    }

    fn size(&self) -> usize {
        // SAFETY: a live pool.
        unsafe { cymem_pool_size(self.0) }
    }

    /// Every live block's (address, size), in `cymem_pool_blocks` order.
    fn blocks(&self) -> Vec<(*mut u8, usize)> {
        let capacity = self.len() + 1;
        let mut addresses = vec![null_mut::<c_void>(); capacity];
        let mut sizes = vec![0; capacity];
        // SAFETY: a live pool; both arrays hold `capacity` elements.
        let n = unsafe {
            cymem_pool_blocks(self.0, addresses.as_mut_ptr(), sizes.as_mut_ptr(), capacity)
        };
        assert_eq!(n, capacity - 1, "pool_blocks and pool_len disagree");
        (addresses.into_iter().map(|a| a.cast::<u8>()))
            .zip(sizes)
            .take(n)
            .collect()
    }

    /// Checks len, size and `cymem_pool_blocks` against `expected`, the
    /// live blocks in the pool's order.
    fn assert_blocks(&self, expected: &[(*mut u8, usize)], context: &str) {
        assert_eq!(self.len(), expected.len(), "pool_len {context}");
        let total: usize = expected.iter().map(|&(_, size)| size).sum();
        assert_eq!(self.size(), total, "pool_size {context}");
        assert_eq!(self.blocks(), expected, "pool_blocks {context}");
    }
}

impl Drop for PoolGuard {
    fn drop(&mut self) {
        // SAFETY: made by `cymem_pool_new*`, destroyed only here.
        unsafe { cymem_pool_destroy(self.0) };
    }
}

/// Written to out-parameters, to see that a call left them alone.
const SENTINEL: usize = 0x5EA1_5EA1;

/// The byte at offset `i` of a block filled by [`fill`] with `seed`.
fn pattern_byte(seed: usize, i: usize) -> u8 {
    (seed.wrapping_mul(131) ^ i.wrapping_mul(7)) as u8 | 1
}

/// Writes a pattern (no zero byte) over `len` bytes at `ptr`.
///
/// # Safety
///
/// `ptr` starts a live block of at least `len` bytes, with no reference
/// into it held.
unsafe fn fill(ptr: *mut u8, len: usize, seed: usize) {
    for i in 0..len {
        // SAFETY: the caller's contract.
        unsafe { ptr.add(i).write(pattern_byte(seed, i)) };
    }
}

/// Whether `len` bytes at `ptr` hold [`fill`]'s pattern for `seed`.
///
/// # Safety
///
/// As for [`fill`].
unsafe fn holds(ptr: *const u8, len: usize, seed: usize) -> bool {
    // SAFETY: the caller's contract.
    (0..len).all(|i| unsafe { ptr.add(i).read() } == pattern_byte(seed, i))
}

#[test]
fn lifo_frees_pop_the_log_and_then_the_holes_they_uncover() {
    for (pool, name) in PoolGuard::both() {
        // Without the address table: every free is of the newest block, a pop.
        let blocks: Vec<_> = (0..6).map(|i| (pool.alloc(i * 10), i * 10)).collect();
        pool.assert_blocks(&blocks, &format!("after 6 allocs ({name})"));
        for n in (0..blocks.len()).rev() {
            let (status, size) = pool.free_with_size(blocks[n].0);
            assert_eq!(
                (status, size),
                (CymemStatus::Ok, Some(blocks[n].1)),
                "{name}"
            );
            pool.assert_blocks(&blocks[..n], &format!("after popping {n} ({name})"));
            assert_eq!(
                pool.free(blocks[n].0),
                CymemStatus::InvalidPointer,
                "{name}"
            );
        }

        // With holes: frees of older blocks build the address table and
        // leave holes; freeing the newest then pops it and every hole
        // before it, so the block before the holes is the newest again.
        let mut blocks: Vec<_> = (0..8).map(|i| (pool.alloc(i + 1), i + 1)).collect();
        for hole in [5, 3, 4] {
            assert_eq!(pool.free(blocks[hole].0), CymemStatus::Ok, "{name}");
        }
        let live: Vec<_> = [0, 1, 2, 6, 7].iter().map(|&i| blocks[i]).collect();
        pool.assert_blocks(&live, &format!("after 3 holes ({name})"));
        assert_eq!(pool.free(blocks[7].0), CymemStatus::Ok, "{name}");
        pool.assert_blocks(&live[..4], &format!("after freeing 7 ({name})"));
        // Block 6 is newest now; freeing it uncovers the holes 5, 4 and 3.
        assert_eq!(pool.free_with_size(blocks[6].0), (CymemStatus::Ok, Some(7)));
        pool.assert_blocks(&live[..3], &format!("after freeing 6 ({name})"));
        // The log ends at block 2: a new block follows it, and block 2 is
        // still found and freed by pointer.
        blocks.push((pool.alloc(100), 100));
        let mut expected = live[..3].to_vec();
        expected.push(blocks[8]);
        pool.assert_blocks(&expected, &format!("after a new block ({name})"));
        assert_eq!(pool.find(blocks[2].0), Ok(3), "{name}");
        for &(ptr, size) in expected.iter().rev() {
            assert_eq!(pool.free_with_size(ptr), (CymemStatus::Ok, Some(size)));
            assert_eq!(pool.find(ptr), Err(CymemStatus::InvalidPointer), "{name}");
        }
        pool.assert_blocks(&[], &format!("at the end ({name})"));
        for &(ptr, _) in &blocks {
            assert_eq!(pool.free(ptr), CymemStatus::InvalidPointer, "{name}");
        }
    }
}

/// Allocates `count` handle-less blocks of 0 to 24 bytes, each filled with
/// its own pattern; returns (pointer, size) by age.
fn patterned_blocks(pool: &PoolGuard, count: usize) -> Vec<(*mut u8, usize)> {
    (0..count)
        .map(|i| {
            let size = (i * 5) % 25;
            let ptr = pool.alloc(size);
            // SAFETY: a live block of `size` bytes.
            unsafe { fill(ptr, size, i) };
            (ptr, size)
        })
        .collect()
}

/// Checks that every survivor is found by pointer with its size and still
/// holds its pattern, and that the pool lists exactly them, in order.
fn assert_survivors(pool: &PoolGuard, blocks: &[(*mut u8, usize)], live: &[usize], context: &str) {
    for &i in live {
        let (ptr, size) = blocks[i];
        assert_eq!(pool.find(ptr), Ok(size), "find of block {i} {context}");
        // SAFETY: a live block of `size` bytes.
        let intact = unsafe { holds(ptr, size, i) };
        assert!(intact, "contents of block {i} {context}");
    }
    let expected: Vec<_> = live.iter().map(|&i| blocks[i]).collect();
    pool.assert_blocks(&expected, context);
}

#[test]
fn compaction_keeps_every_survivor_findable_intact_and_freeable() {
    // 300 blocks, 200 freed in a scattered order: the log is compacted once
    // its holes reach 64 and more than half of it, and the address table's
    // positions are renumbered; any survivor with a wrong position would be
    // missed, or its neighbour freed or resized in its place.
    let count = iterations(300, 120);
    let freed = count * 2 / 3;
    for (pool, name) in PoolGuard::both() {
        let blocks = patterned_blocks(&pool, count);
        // 7 is prime to 300 and 120: a permutation that jumps around.
        let order: Vec<usize> = (0..count).map(|i| (i * 7 + 3) % count).collect();
        for (n, &i) in order[..freed].iter().enumerate() {
            let (status, size) = pool.free_with_size(blocks[i].0);
            assert_eq!(
                (status, size),
                (CymemStatus::Ok, Some(blocks[i].1)),
                "{name}, free {n}"
            );
        }
        let mut live: Vec<usize> = order[freed..].to_vec();
        live.sort_unstable();
        assert_survivors(&pool, &blocks, &live, &format!("after compaction ({name})"));

        // The renumbered positions are used: a resize goes to the right
        // entry (its size), and the blocks keep their order.
        let mut blocks = blocks;
        for &i in live.iter().step_by(5) {
            let (ptr, size) = blocks[i];
            let grown = pool.realloc(ptr, size + 40);
            // SAFETY: a live block of `size + 40` bytes.
            unsafe {
                assert!(holds(grown, size, i), "{name}: block {i} after realloc");
                assert!(
                    (size..size + 40).all(|j| *grown.add(j) == 0),
                    "{name}: tail"
                );
                fill(grown, size + 40, i);
            }
            blocks[i] = (grown, size + 40);
        }
        assert_survivors(&pool, &blocks, &live, &format!("after reallocs ({name})"));

        for (n, &i) in live.iter().enumerate() {
            let (ptr, size) = blocks[i];
            assert_eq!(
                pool.free_with_size(ptr),
                (CymemStatus::Ok, Some(size)),
                "{name}, {n}"
            );
            assert_eq!(
                pool.free(ptr),
                CymemStatus::InvalidPointer,
                "{name}: double free"
            );
        }
        pool.assert_blocks(&[], &format!("at the end ({name})"));
        for &(ptr, _) in &blocks {
            assert_eq!(pool.free(ptr), CymemStatus::InvalidPointer, "{name}");
        }
    }
}

#[test]
fn compaction_while_the_newest_block_is_out_of_the_address_table() {
    // The newest block stays out of the address table until the next
    // alloc; a compaction then must leave it out (and still find it as the
    // newest), and renumber only the others.
    let count = iterations(130, 100);
    for (pool, name) in PoolGuard::both() {
        let mut blocks = patterned_blocks(&pool, count);
        // Builds the table (block 0 is not the newest) and leaves a hole.
        assert_eq!(pool.free(blocks[0].0), CymemStatus::Ok);
        // The newest block, not in the table.
        let newest = pool.alloc(33);
        // SAFETY: a live block of 33 bytes.
        unsafe { fill(newest, 33, count) };
        blocks.push((newest, 33));
        // Oldest first: every one leaves a hole, and the 64th (or a later
        // one, once holes are more than half the log) compacts it.
        let holes = count * 2 / 3;
        for (i, &(ptr, _)) in blocks.iter().enumerate().take(holes).skip(1) {
            assert_eq!(pool.free(ptr), CymemStatus::Ok, "{name}: block {i}");
        }
        let live: Vec<usize> = (holes..=count).collect();
        assert_survivors(&pool, &blocks, &live, &format!("after compaction ({name})"));
        // The newest is still the newest: a pop, then the next one.
        assert_eq!(pool.free_with_size(newest), (CymemStatus::Ok, Some(33)));
        assert_survivors(&pool, &blocks, &live[..live.len() - 1], name);
        let (ptr, size) = blocks[count - 1];
        assert_eq!(pool.free_with_size(ptr), (CymemStatus::Ok, Some(size)));
        assert_survivors(&pool, &blocks, &live[..live.len() - 2], name);
    }
}

#[test]
fn find_with_out_handle_gives_a_handle_less_block_a_slot() {
    // Three orders: the first find is of the newest block (no address
    // table needed), or of the oldest (builds the table), or of the middle.
    let orders: [[usize; 3]; 3] = [[4, 2, 0], [0, 2, 4], [2, 4, 0]];
    for order in orders {
        for (pool, name) in PoolGuard::both() {
            let name = &format!("{name}, order {order:?}");
            let mut blocks = patterned_blocks(&pool, 5);
            let mut handles = Vec::new();
            for &i in &order {
                let (ptr, size) = blocks[i];
                let (handle, found) = pool.find_handle(ptr).expect("find of a live block");
                assert_eq!(found, size, "{name}: size of block {i}");
                assert_eq!(pool.lookup(handle), Some((ptr, size)), "{name}: lookup {i}");
                // Asked again, the block has that same handle now.
                assert_eq!(pool.find_handle(ptr), Ok((handle, size)), "{name}: again");
                assert!(!handles.contains(&handle), "{name}: handle given twice");
                handles.push(handle);
            }
            // The slots come after the blocks still without a handle, in
            // slot order (the order the handles were given, in a new pool).
            let mut expected: Vec<_> = (0..5)
                .filter(|i| !order.contains(i))
                .map(|i| blocks[i])
                .collect();
            expected.extend(order.iter().map(|&i| blocks[i]));
            pool.assert_blocks(&expected, &format!("after finds ({name})"));

            // The table exists now; a new newest block stays out of it until
            // the next alloc, and can be given a slot too.
            blocks.push((pool.alloc(48), 48));
            let (late, late_size) = blocks[5];
            let (late_handle, size) = pool.find_handle(late).expect("find of the newest");
            assert_eq!(size, late_size);
            assert_eq!(pool.lookup(late_handle), Some((late, late_size)), "{name}");
            handles.push(late_handle);

            // A handle frees the block; its pointer is then rejected.
            for (&i, &handle) in order.iter().chain([5].iter()).zip(&handles) {
                let ptr = blocks[i].0;
                // SAFETY: a live pool; handles are checked.
                let status = unsafe { cymem_free_handle(pool.0, handle) };
                assert_eq!(status, CymemStatus::Ok, "{name}: free_handle of {i}");
                assert_eq!(pool.lookup(handle), None, "{name}: freed handle {i}");
                assert_eq!(pool.find(ptr), Err(CymemStatus::InvalidPointer), "{name}");
                assert_eq!(pool.free(ptr), CymemStatus::InvalidPointer, "{name}: {i}");
            }
            let rest: Vec<usize> = (0..5).filter(|i| !order.contains(i)).collect();
            assert_survivors(&pool, &blocks, &rest, name);
            for &i in &rest {
                assert_eq!(pool.free(blocks[i].0), CymemStatus::Ok, "{name}: block {i}");
            }
            pool.assert_blocks(&[], name);
        }
    }
}

#[test]
fn a_handle_less_block_is_not_reached_by_any_handle_of_its_slot_index() {
    // A handle names a slot; a block without one has none, so handles
    // with small indices and any odd generation must all be rejected while
    // the pool holds only handle-less blocks.
    let pool = PoolGuard::new();
    let (_, made) = pool.alloc_with_handle(8);
    // SAFETY: a live pool; the handle is checked.
    assert_eq!(unsafe { cymem_free_handle(pool.0, made) }, CymemStatus::Ok);
    let blocks = patterned_blocks(&pool, 8);
    for index in 0..10 {
        for generation in 0..6 {
            let forged = CymemHandle {
                index,
                generation,
                pool: made.pool,
            };
            assert_eq!(pool.lookup(forged), None, "{forged:?}");
            assert_eq!(cymem_last_error(), CymemStatus::InvalidHandle);
        }
    }
    assert_survivors(
        &pool,
        &blocks,
        &(0..8).collect::<Vec<_>>(),
        "after forged handles",
    );
}

/// Writes `0xEE` over the bytes of `ptr`'s block past `size`, to the end of
/// its last 16-byte unit, as a C caller overrunning its buffer would.
///
/// # Safety
///
/// `ptr` starts a live block of `size` bytes (`size > 0`): the pool gives
/// whole 16-byte units.
unsafe fn scribble_past(ptr: *mut u8, size: usize) {
    let end = size.div_ceil(16) * 16;
    // SAFETY: the caller's contract: the block's memory is whole units.
    unsafe { ptr.add(size).write_bytes(0xEE, end - size) };
}

#[test]
fn realloc_of_handle_less_blocks_keeps_contents_and_zeroes_the_tail() {
    // Within a unit, across size classes, to and from the allocator's own
    // blocks, and back: every step keeps the first min(old, new) bytes,
    // reads zero past the old size even where the caller wrote out of
    // bounds, keeps the block's place in the log, and retires a moved
    // block's old address.
    let sizes = [8, 12, 200, 4000, 5000, 16, 1, 0, 24];
    for (pool, name) in PoolGuard::both() {
        for newest in [true, false] {
            let context = |step: usize| format!("{name}, newest {newest}, step {step}");
            let before = pool.alloc(3);
            let (mut ptr, mut size) = (pool.alloc(sizes[0]), sizes[0]);
            let after = (!newest).then(|| pool.alloc(5));
            let expected = |ptr: *mut u8, size: usize| {
                let mut blocks = vec![(before, 3), (ptr, size)];
                blocks.extend(after.map(|after| (after, 5)));
                blocks
            };
            for (step, &new_size) in sizes.iter().enumerate().skip(1) {
                // SAFETY: a live block of `size` bytes (whole units).
                unsafe {
                    fill(ptr, size, step);
                    if size > 0 {
                        scribble_past(ptr, size);
                    }
                }
                let moved = pool.realloc(ptr, new_size);
                assert_eq!(moved.addr() % 16, 0, "{}", context(step));
                let kept = size.min(new_size);
                // SAFETY: a live block of `new_size` bytes.
                unsafe {
                    assert!(holds(moved, kept, step), "{}: kept bytes", context(step));
                    let tail = (kept..new_size).find(|&j| *moved.add(j) != 0);
                    assert_eq!(
                        tail,
                        None,
                        "{}: a nonzero byte past the old size",
                        context(step)
                    );
                }
                if moved != ptr {
                    let old = pool.find(ptr);
                    assert_eq!(old, Err(CymemStatus::InvalidPointer), "{}", context(step));
                    assert_eq!(pool.free(ptr), CymemStatus::InvalidPointer);
                }
                assert_eq!(pool.find(moved), Ok(new_size), "{}", context(step));
                pool.assert_blocks(&expected(moved, new_size), &context(step));
                (ptr, size) = (moved, new_size);
            }
            for (block, size) in expected(ptr, size).into_iter().rev() {
                assert_eq!(pool.free_with_size(block), (CymemStatus::Ok, Some(size)));
            }
            pool.assert_blocks(&[], name);
        }
    }
}

#[test]
fn same_units_realloc_of_a_handle_less_block_calls_no_malloc() {
    let pool = PoolGuard::counting();
    let (with_handle, _) = pool.alloc_with_handle(5);
    let handle_less = pool.alloc(5);
    let _newer = pool.alloc(5);
    for (ptr, kind) in [
        (with_handle, "with a handle"),
        (handle_less, "without a handle"),
    ] {
        let before = malloc_counts();
        // 5 -> 12 bytes: one 16-byte unit either way.
        let resized = pool.realloc(ptr, 12);
        assert_eq!(
            malloc_counts(),
            before,
            "malloc/free calls of a block {kind}"
        );
        assert_eq!(resized, ptr, "a block {kind} moved");
        // And so a failing malloc cannot fail it.
        MALLOC.with_borrow_mut(|log| log.fail_next = true);
        // SAFETY: a live pool; `ptr` is only compared.
        let again = unsafe { cymem_realloc(pool.0, ptr.cast(), 10, 1) };
        MALLOC.with_borrow_mut(|log| log.fail_next = false);
        assert_eq!(
            (again.cast::<u8>(), cymem_last_error()),
            (ptr, CymemStatus::Ok),
            "same-units realloc of a block {kind} with malloc failing"
        );
    }
}

#[test]
fn free_with_size_writes_the_size_only_on_success() {
    for (pool, name) in PoolGuard::both() {
        let other = PoolGuard::new();
        let foreign = other.alloc(8);
        let sizes = [0, 1, 30, 256, 257, 5000];
        let blocks: Vec<_> = sizes.iter().map(|&size| pool.alloc(size)).collect();
        let (slotted, _) = pool.alloc_with_handle(77);
        let interior = blocks[3].wrapping_add(16);
        for bad in [
            null_mut(),
            interior,
            foreign,
            ptr::without_provenance_mut(8),
        ] {
            assert_eq!(
                pool.free_with_size(bad),
                (CymemStatus::InvalidPointer, None)
            );
            assert_eq!(cymem_last_error(), CymemStatus::InvalidPointer, "{name}");
        }
        let total: usize = sizes.iter().sum::<usize>() + 77;
        assert_eq!(
            (pool.len(), pool.size()),
            (sizes.len() + 1, total),
            "{name}"
        );
        // By pointer, a block with a handle reports its size too.
        assert_eq!(pool.free_with_size(slotted), (CymemStatus::Ok, Some(77)));
        // Middle first (through the address table), then the newest (a pop).
        for i in [2, 0, 5, 4, 1, 3] {
            let size_before = pool.size();
            assert_eq!(
                pool.free_with_size(blocks[i]),
                (CymemStatus::Ok, Some(sizes[i]))
            );
            assert_eq!(cymem_last_error(), CymemStatus::Ok);
            assert_eq!(
                pool.size(),
                size_before - sizes[i],
                "{name}: size after {i}"
            );
            // Freed: a second call fails and writes nothing.
            assert_eq!(
                pool.free_with_size(blocks[i]),
                (CymemStatus::InvalidPointer, None)
            );
        }
        assert_eq!((pool.len(), pool.size()), (0, 0), "{name}");
        // A NULL `out_size` is allowed; a NULL pool writes nothing.
        let last = pool.alloc(9);
        // SAFETY: a live pool; NULL `out_size`.
        let status = unsafe { cymem_free_with_size(pool.0, last.cast(), null_mut()) };
        assert_eq!((status, pool.len()), (CymemStatus::Ok, 0), "{name}");
        let mut size = SENTINEL;
        // SAFETY: a NULL pool is rejected before anything is read or written.
        let status = unsafe { cymem_free_with_size(null_mut(), foreign.cast(), &mut size) };
        assert_eq!((status, size), (CymemStatus::NullPool, SENTINEL));
        assert_eq!(
            other.free(foreign),
            CymemStatus::Ok,
            "{name}: the foreign block"
        );
    }
}

#[test]
fn custom_allocator_pool_frees_every_malloc_once_on_destroy() {
    let (mallocs_before, frees_before) = malloc_counts();
    let big = iterations(5000, 600);
    {
        let pool = PoolGuard::counting();
        // Handle-less blocks small and big, blocks with handles small and
        // big, a handle-less block given a slot, and a handle-less block
        // grown from small to big: each is one malloc.
        let mut handle_less: Vec<*mut u8> = [0, 8, 16, 100, 256, 257, 300, big]
            .iter()
            .map(|&size| pool.alloc(size))
            .collect();
        for size in [8, 300, big] {
            pool.alloc_with_handle(size);
        }
        let given_slot = pool.alloc(400);
        assert!(pool.find_handle(given_slot).is_ok());
        handle_less[1] = pool.realloc(handle_less[1], 1000);
        // Then a compacted log: 100 blocks, the 70 oldest freed.
        let many = patterned_blocks(&pool, 100);
        for &(ptr, _) in &many[..70] {
            assert_eq!(pool.free(ptr), CymemStatus::Ok);
        }
        // Some freed before the destroy, through each path.
        assert_eq!(pool.free(handle_less[6]), CymemStatus::Ok);
        assert_eq!(
            pool.free_with_size(handle_less[0]),
            (CymemStatus::Ok, Some(0))
        );
        let live = pool.len();
        assert_eq!(live, 8 - 2 + 3 + 1 + 30);
        let (mallocs, frees) = malloc_counts();
        // One malloc per live block: none for a block's slot or the log.
        assert_eq!((mallocs - mallocs_before) - (frees - frees_before), live);
        assert_eq!(MALLOC.with_borrow(|log| log.live.len()), live);
    }
    let (mallocs, frees) = malloc_counts();
    assert!(mallocs > mallocs_before, "the pool used malloc_fn");
    assert_eq!(
        mallocs - mallocs_before,
        frees - frees_before,
        "malloc'd blocks not freed by cymem_pool_destroy"
    );
    MALLOC.with_borrow(|log| {
        assert_eq!(
            log.bad_frees, 0,
            "free_fn got a pointer twice or not from malloc_fn"
        );
        assert!(log.live.is_empty(), "blocks left: {:?}", log.live);
    });
}

#[test]
fn default_pool_gives_back_big_handle_less_blocks_on_destroy() {
    // Blocks past 256 bytes come from the allocator one by one, not from
    // the pool's chunks, so the pool must free each; blocks of 2 MiB and
    // more are mapped outside the global allocator natively (Miri, which
    // reports leaks, sees them all).
    let huge = 2 * 1024 * 1024;
    let sizes = [257, 300, 4096, 70_000, huge, huge + 4000];
    // A dropped pool's small slot table is kept for this thread's next
    // pool (`src/table/spare.rs`): make one kept now, so that the pool
    // below takes it and gives it back instead of looking like a leak.
    {
        let warm = PoolGuard::new();
        warm.alloc_with_handle(1);
    }
    let before = global_live();
    {
        let pool = PoolGuard::new();
        let blocks: Vec<*mut u8> = sizes.iter().map(|&size| pool.alloc(size)).collect();
        // Some small ones between them, and one with a handle.
        let small: Vec<*mut u8> = (0..20).map(|i| pool.alloc(i)).collect();
        let (slotted, _) = pool.alloc_with_handle(huge);
        // Touch the ends of each big block: zeroed, writable.
        for (&ptr, &size) in blocks.iter().zip(&sizes) {
            // SAFETY: a live block of `size` bytes.
            unsafe {
                assert_eq!((*ptr, *ptr.add(size - 1)), (0, 0));
                ptr.write(1);
                ptr.add(size - 1).write(2);
            }
        }
        // One freed by pointer, one grown across the 2 MiB line, one given
        // a slot; the rest are still logged when the pool is destroyed.
        assert_eq!(pool.free(blocks[1]), CymemStatus::Ok);
        let grown = pool.realloc(blocks[3], huge + 1);
        // SAFETY: a live block of `huge + 1` bytes; the first 70 000 kept.
        let ends = unsafe { (*grown, *grown.add(69_999), *grown.add(huge)) };
        assert_eq!(ends, (1, 2, 0));
        assert!(pool.find_handle(blocks[2]).is_ok());
        assert_eq!(pool.len(), sizes.len() - 1 + small.len() + 1);
        assert_eq!(pool.find(slotted), Ok(huge));
    }
    assert_eq!(
        global_live(),
        before,
        "global-allocator blocks left on this thread by the destroyed pool"
    );
}

/// `cymem_pool_mirror_size` keeps a caller's field equal to
/// `cymem_pool_size` through every call that changes the total, leaves it
/// alone on failure, and stops when given NULL.
#[test]
fn size_mirror_follows_every_change_and_stops_on_null() {
    use core::ptr::null_mut;
    use cymem::capi::*;
    // SAFETY: live pools; `total` outlives them; handles and sizes are
    // written only through valid pointers.
    unsafe {
        for pool in [
            cymem_pool_new(),
            cymem_pool_new_with(Some(libc::malloc), Some(libc::free)),
        ] {
            let mut total = usize::MAX;
            cymem_pool_mirror_size(pool, &mut total);
            assert_eq!(total, 0);
            let check = |total: usize| assert_eq!(total, cymem_pool_size(pool));
            let a = cymem_alloc(pool, 3, 10, null_mut());
            check(total);
            assert_eq!(total, 30);
            let mut handle = CymemHandle::default();
            let b = cymem_alloc(pool, 1, 300, &mut handle);
            assert!(!b.is_null());
            assert_eq!(total, 330);
            let a = cymem_realloc(pool, a, 5, 1);
            assert_eq!(total, 305);
            assert!(!cymem_realloc_handle(pool, handle, 2, 100).is_null());
            assert_eq!(total, 205);
            // Failures change nothing.
            assert!(cymem_alloc(pool, usize::MAX, 2, null_mut()).is_null());
            assert_eq!(
                cymem_free(pool, a.cast::<u8>().add(1).cast()),
                CymemStatus::InvalidPointer
            );
            assert_eq!(total, 205);
            let mut freed = 0;
            assert_eq!(cymem_free_with_size(pool, a, &mut freed), CymemStatus::Ok);
            assert_eq!((freed, total), (5, 200));
            assert_eq!(cymem_free_handle(pool, handle), CymemStatus::Ok);
            assert_eq!(total, 0);
            cymem_pool_mirror_size(pool, null_mut());
            let c = cymem_alloc(pool, 1, 8, null_mut());
            assert!(!c.is_null());
            assert_eq!((total, cymem_pool_size(pool)), (0, 8));
            cymem_pool_destroy(pool);
        }
    }
}
