//! An outside review of the C pool's block log (`src/capi/blocks.rs`): each
//! test is a scenario that tries to break the design within the C contract
//! (pointers may be anything, handles any bytes, a failed call changes
//! nothing, destroy gives every `malloc` back). Every pool here is checked
//! against a model after each call through the public C functions only:
//! `cymem_pool_len`, `cymem_pool_size`, `cymem_pool_blocks` (log order for
//! blocks without a handle), `cymem_lookup` for blocks with one, and the
//! bytes of every live block.
//!
//! Run under Miri with
//! `cargo +nightly miri test --features capi --test review_capi`
//! (also with `MIRIFLAGS=-Zmiri-tree-borrows` and `-Zmiri-strict-provenance`).
#![cfg(feature = "capi")]

use core::ffi::c_void;
use core::ptr::{self, null_mut};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use cymem::capi::*;

// ---------------------------------------------------------------------------
// A malloc/free pair that counts, checks and fails on demand (per thread).
// ---------------------------------------------------------------------------

thread_local! {
    /// Calls to `review_malloc`, failed ones included.
    static MALLOC_CALLS: Cell<usize> = const { Cell::new(0) };
    /// The call number (1-based) that returns NULL; 0 for none.
    static FAIL_AT: Cell<usize> = const { Cell::new(0) };
    /// Successful mallocs and frees.
    static MALLOCS: Cell<usize> = const { Cell::new(0) };
    static FREES: Cell<usize> = const { Cell::new(0) };
    /// Pointers malloc returned and free has not seen yet.
    static LIVE: RefCell<HashSet<usize>> = RefCell::new(HashSet::new());
}

unsafe extern "C" fn review_malloc(size: usize) -> *mut c_void {
    let call = MALLOC_CALLS.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    if FAIL_AT.with(Cell::get) == call {
        return null_mut();
    }
    // SAFETY: plain libc malloc.
    let ptr = unsafe { libc::malloc(size) };
    if !ptr.is_null() {
        MALLOCS.with(|n| n.set(n.get() + 1));
        let inserted = untracked(|| LIVE.with(|live| live.borrow_mut().insert(ptr.addr())));
        assert!(inserted);
    }
    ptr
}

unsafe extern "C" fn review_free(ptr: *mut c_void) {
    assert!(
        untracked(|| LIVE.with(|live| live.borrow_mut().remove(&ptr.addr()))),
        "free of a pointer malloc did not return, or a double free: {ptr:?}"
    );
    FREES.with(|n| n.set(n.get() + 1));
    // SAFETY: `ptr` came from `review_malloc` and is freed once (checked above).
    unsafe { libc::free(ptr) }
}

/// Runs `f` (the test's own bookkeeping) with global failures disarmed.
fn untracked<R>(f: impl FnOnce() -> R) -> R {
    let armed = GLOBAL_FAIL_AT.with(|at| at.replace(0));
    let result = f();
    GLOBAL_FAIL_AT.with(|at| at.set(armed));
    result
}

fn reset_malloc(fail_at: usize) {
    MALLOC_CALLS.with(|n| n.set(0));
    FAIL_AT.with(|n| n.set(fail_at));
    MALLOCS.with(|n| n.set(0));
    FREES.with(|n| n.set(0));
    LIVE.with(|live| live.borrow_mut().clear());
}

fn malloc_counts() -> (usize, usize) {
    (MALLOCS.with(Cell::get), FREES.with(Cell::get))
}

// ---------------------------------------------------------------------------
// A global allocator that fails its n-th call on this thread while armed:
// the pool's own bookkeeping (log, address table, slot table, sizes, chunks)
// comes from it, so each of those allocations can be made to fail.
// ---------------------------------------------------------------------------

struct FailingGlobal;

thread_local! {
    /// The 1-based allocation (counted from arming) that fails; 0: disarmed.
    static GLOBAL_FAIL_AT: Cell<usize> = const { Cell::new(0) };
    static GLOBAL_CALLS: Cell<usize> = const { Cell::new(0) };
    static GLOBAL_HIT: Cell<bool> = const { Cell::new(false) };
}

fn global_should_fail() -> bool {
    let at = GLOBAL_FAIL_AT.with(Cell::get);
    if at == 0 {
        return false;
    }
    let call = GLOBAL_CALLS.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    if call == at {
        GLOBAL_HIT.with(|hit| hit.set(true));
        return true;
    }
    false
}

// SAFETY: forwards to `System`, or returns NULL (allowed for any call).
unsafe impl std::alloc::GlobalAlloc for FailingGlobal {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if global_should_fail() {
            return null_mut();
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if global_should_fail() {
            return null_mut();
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if global_should_fail() {
            return null_mut();
        }
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: FailingGlobal = FailingGlobal;

/// Runs `call` with the `fail_at`-th global allocation failing (none if 0).
fn with_global_failure<R>(fail_at: usize, call: impl FnOnce() -> R) -> R {
    GLOBAL_CALLS.with(|n| n.set(0));
    GLOBAL_HIT.with(|hit| hit.set(false));
    GLOBAL_FAIL_AT.with(|at| at.set(fail_at));
    let result = call();
    GLOBAL_FAIL_AT.with(|at| at.set(0));
    result
}

// ---------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------

const UNIT: usize = 16;
/// Bytes of each block that hold a pattern; the rest must stay zero.
const PATTERNED: usize = 1024;
const MIB2: usize = 2 << 20;

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

fn pattern(tag: u8, i: usize) -> u8 {
    tag.wrapping_add((i as u8).wrapping_mul(7)) | 1
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `cymem_pool_new`: small blocks carved from chunks.
    System,
    /// `cymem_pool_new_with` over `review_malloc`/`review_free`.
    Counting,
}

const KINDS: [Kind; 2] = [Kind::System, Kind::Counting];

#[derive(Clone, Copy, Debug)]
struct Block {
    ptr: *mut u8,
    bytes: usize,
    handle: Option<CymemHandle>,
    tag: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FreeBy {
    Pointer,
    PointerWithSize,
    Handle,
}

/// A pool and what it must hold.
struct Model {
    pool: *mut CymemPool,
    kind: Kind,
    /// Live blocks in the order they were made.
    blocks: Vec<Block>,
    /// Addresses of blocks freed or moved (they may be reused later).
    dead: Vec<*mut u8>,
    /// Handles of blocks freed.
    dead_handles: Vec<CymemHandle>,
    next_tag: u8,
    /// Whether an `OutOfMemory` result is expected now and then.
    may_fail: bool,
    /// Calls that failed with `OutOfMemory`.
    failures: usize,
    /// The global allocation that fails during the next alloc, free,
    /// realloc or find call (0: none).
    global_fail_at: usize,
    /// Calls of `check_often`.
    checks: usize,
}

impl Model {
    fn new(kind: Kind) -> Self {
        let pool = match kind {
            Kind::System => cymem_pool_new(),
            // SAFETY: the pair behaves like malloc/free.
            Kind::Counting => unsafe {
                cymem_pool_new_with(Some(review_malloc), Some(review_free))
            },
        };
        assert!(!pool.is_null());
        Model {
            pool,
            kind,
            blocks: Vec::new(),
            dead: Vec::new(),
            dead_handles: Vec::new(),
            next_tag: 1,
            may_fail: false,
            failures: 0,
            global_fail_at: 0,
            checks: 0,
        }
    }

    fn position_of(&self, address: usize) -> Option<usize> {
        (self.blocks.iter()).position(|block| block.ptr.addr() == address)
    }

    fn logged(&self) -> Vec<usize> {
        (0..self.blocks.len())
            .filter(|&i| self.blocks[i].handle.is_none())
            .collect()
    }

    fn handled(&self) -> Vec<usize> {
        (0..self.blocks.len())
            .filter(|&i| self.blocks[i].handle.is_some())
            .collect()
    }

    /// A failed call: allowed only if it is an out-of-memory while failures
    /// are expected; the pool must then be as before.
    fn failed(&mut self, what: &str, status: CymemStatus) {
        assert!(
            self.may_fail && status == CymemStatus::OutOfMemory,
            "{what} failed with {status:?}"
        );
        self.failures += 1;
        self.check();
    }

    // --- the calls ---------------------------------------------------------

    fn alloc(&mut self, bytes: usize, with_handle: bool) -> Option<usize> {
        let sentinel = CymemHandle {
            index: 0xDEAD,
            generation: 0xBEEF,
            pool: 7,
        };
        let mut handle = sentinel;
        let out = if with_handle {
            &mut handle as *mut CymemHandle
        } else {
            null_mut()
        };
        // SAFETY: a live pool and a writable (or NULL) out-pointer.
        let ptr = with_global_failure(self.global_fail_at, || unsafe {
            cymem_alloc(self.pool, bytes, 1, out)
        })
        .cast::<u8>();
        if ptr.is_null() {
            assert_eq!(handle, sentinel, "a failed alloc wrote its handle");
            self.failed("alloc", cymem_last_error());
            return None;
        }
        assert_eq!(cymem_last_error(), CymemStatus::Ok);
        assert_eq!(ptr.addr() % UNIT, 0, "aligned to 16");
        let (start, end) = (ptr.addr(), ptr.addr() + units(bytes) * UNIT);
        for block in &self.blocks {
            let (s, e) = (
                block.ptr.addr(),
                block.ptr.addr() + units(block.bytes) * UNIT,
            );
            assert!(end <= s || e <= start, "{ptr:?} overlaps {block:?}");
        }
        // SAFETY: a fresh block of `units * 16` bytes.
        unsafe {
            check_zero(ptr, 0, units(bytes) * UNIT);
        }
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(37);
        let block = Block {
            ptr,
            bytes,
            handle: with_handle.then_some(handle),
            tag,
        };
        // SAFETY: the block's own bytes.
        unsafe { fill(&block, 0) };
        self.blocks.push(block);
        self.dead.retain(|&dead| dead != ptr);
        Some(self.blocks.len() - 1)
    }

    fn free(&mut self, i: usize, by: FreeBy) -> bool {
        let block = self.blocks[i];
        let fail_at = self.global_fail_at;
        let status = match by {
            // SAFETY: a live pool.
            FreeBy::Pointer => with_global_failure(fail_at, || unsafe {
                cymem_free(self.pool, block.ptr.cast())
            }),
            FreeBy::PointerWithSize => {
                let mut size = 0xABCD;
                // SAFETY: a live pool, a writable size.
                let status = with_global_failure(fail_at, || unsafe {
                    cymem_free_with_size(self.pool, block.ptr.cast(), &mut size)
                });
                if status == CymemStatus::Ok {
                    assert_eq!(size, block.bytes, "freed size");
                } else {
                    assert_eq!(size, 0xABCD, "a failed free wrote its size");
                }
                status
            }
            FreeBy::Handle => {
                let handle = block.handle.expect("free by handle of a block with one");
                // SAFETY: a live pool.
                with_global_failure(fail_at, || unsafe { cymem_free_handle(self.pool, handle) })
            }
        };
        assert_eq!(cymem_last_error(), status);
        if status != CymemStatus::Ok {
            self.failed("free", status);
            return false;
        }
        self.blocks.remove(i);
        self.dead.push(block.ptr);
        if let Some(handle) = block.handle {
            self.dead_handles.push(handle);
        }
        true
    }

    /// Resizes block `i` to `bytes`, checking the kept prefix and zeroed rest.
    fn realloc(&mut self, i: usize, bytes: usize, by_handle: bool) -> bool {
        let old = self.blocks[i];
        // SAFETY: a live pool.
        let ptr = with_global_failure(self.global_fail_at, || unsafe {
            if by_handle {
                cymem_realloc_handle(self.pool, old.handle.expect("a handle"), bytes, 1)
            } else {
                cymem_realloc(self.pool, old.ptr.cast(), bytes, 1)
            }
        })
        .cast::<u8>();
        if ptr.is_null() {
            self.failed("realloc", cymem_last_error());
            return false;
        }
        assert_eq!(cymem_last_error(), CymemStatus::Ok);
        assert_eq!(ptr.addr() % UNIT, 0);
        let kept = old.bytes.min(bytes);
        let new = Block { ptr, bytes, ..old };
        // SAFETY: the new block's own bytes.
        unsafe {
            for at in 0..kept.min(PATTERNED) {
                assert_eq!(*ptr.add(at), pattern(old.tag, at), "kept byte {at}");
            }
            check_zero(ptr, kept, units(bytes) * UNIT);
            fill(&new, kept);
        }
        self.blocks[i] = new;
        if ptr != old.ptr {
            self.dead.push(old.ptr);
            self.dead.retain(|&dead| dead != ptr);
        }
        true
    }

    /// `cymem_find` of block `i`, asking for its handle if `want_handle`.
    fn find(&mut self, i: usize, want_handle: bool) -> bool {
        let block = self.blocks[i];
        let sentinel = CymemHandle {
            index: 1,
            generation: 2,
            pool: 3,
        };
        let (mut handle, mut size) = (sentinel, 0x5EA1);
        let out = if want_handle {
            &mut handle as *mut CymemHandle
        } else {
            null_mut()
        };
        // SAFETY: a live pool, writable out-pointers.
        let status = with_global_failure(self.global_fail_at, || unsafe {
            cymem_find(self.pool, block.ptr.cast(), out, &mut size)
        });
        assert_eq!(cymem_last_error(), status);
        if status != CymemStatus::Ok {
            assert_eq!((handle, size), (sentinel, 0x5EA1), "a failed find wrote");
            self.failed("find", status);
            return false;
        }
        assert_eq!(size, block.bytes);
        if want_handle {
            match block.handle {
                Some(known) => assert_eq!(handle, known, "find gives the same handle"),
                None => {
                    assert_ne!(handle, CymemHandle::default());
                    self.blocks[i].handle = Some(handle);
                }
            }
        } else {
            assert_eq!(handle, sentinel);
        }
        true
    }

    /// Passes `address` to every pointer function: it must be rejected with
    /// nothing changed unless a live block starts there.
    fn probe(&mut self, address: *mut u8) {
        if let Some(i) = self.position_of(address.addr()) {
            self.find(i, false);
            return;
        }
        let (len, size) = (self.len(), self.size());
        // SAFETY: a live pool; `address` is only compared.
        unsafe {
            assert_eq!(
                cymem_free(self.pool, address.cast()),
                CymemStatus::InvalidPointer,
                "free({address:?})"
            );
            let mut out = 0xFEED;
            assert_eq!(
                cymem_free_with_size(self.pool, address.cast(), &mut out),
                CymemStatus::InvalidPointer
            );
            assert_eq!(out, 0xFEED);
            assert!(cymem_realloc(self.pool, address.cast(), 8, 1).is_null());
            assert_eq!(cymem_last_error(), CymemStatus::InvalidPointer);
            let mut handle = CymemHandle {
                index: 9,
                generation: 9,
                pool: 9,
            };
            assert_eq!(
                cymem_find(self.pool, address.cast(), &mut handle, &mut out),
                CymemStatus::InvalidPointer
            );
            assert_eq!((handle.index, out), (9, 0xFEED));
        }
        assert_eq!((self.len(), self.size()), (len, size));
    }

    /// Passes `handle` to every handle function: rejected unless it names a
    /// live block of this model.
    fn probe_handle(&mut self, handle: CymemHandle) {
        if let Some(block) = (self.blocks.iter()).find(|block| block.handle == Some(handle)) {
            let mut size = 0;
            // SAFETY: a live pool, a writable size.
            let ptr = unsafe { cymem_lookup(self.pool, handle, &mut size) };
            assert_eq!((ptr.cast::<u8>(), size), (block.ptr, block.bytes));
            return;
        }
        // SAFETY: a live pool; handles may hold any bits.
        unsafe {
            let mut size = 77;
            assert!(cymem_lookup(self.pool, handle, &mut size).is_null());
            assert_eq!(size, 77);
            assert_eq!(cymem_last_error(), CymemStatus::InvalidHandle);
            assert!(cymem_realloc_handle(self.pool, handle, 3, 3).is_null());
            assert_eq!(cymem_last_error(), CymemStatus::InvalidHandle);
            assert_eq!(
                cymem_free_handle(self.pool, handle),
                CymemStatus::InvalidHandle
            );
        }
        self.check();
    }

    /// Probes every interesting non-block address: NULL, foreign, interior,
    /// one past each block, every dead address, and every dead handle.
    fn probe_all(&mut self) {
        let local = 0u64;
        let boxed = Box::new([0u8; 32]);
        let mut addresses = vec![
            null_mut(),
            ptr::without_provenance_mut(16),
            ptr::without_provenance_mut(usize::MAX & !15),
            (&local as *const u64).cast_mut().cast::<u8>(),
            boxed.as_ptr().cast_mut(),
        ];
        for block in &self.blocks {
            addresses.push(block.ptr.wrapping_add(1));
            addresses.push(block.ptr.wrapping_add(8));
            addresses.push(block.ptr.wrapping_add(UNIT));
            addresses.push(block.ptr.wrapping_add(units(block.bytes) * UNIT));
            addresses.push(block.ptr.wrapping_sub(UNIT));
        }
        addresses.extend_from_slice(&self.dead);
        for address in addresses {
            self.probe(address);
        }
        for handle in self.dead_handles.clone() {
            self.probe_handle(handle);
        }
        for forged in [
            CymemHandle::default(),
            CymemHandle {
                index: 0,
                generation: 0,
                pool: 1,
            },
            CymemHandle {
                index: u32::MAX,
                generation: 1,
                pool: u64::MAX,
            },
        ] {
            self.probe_handle(forged);
        }
        // Logged blocks have no handle: forge one with generation 0 (the
        // address table's mark for a logged block) at every small index, with
        // this pool's id taken from a real handle if there is one.
        if let Some(real) = self.blocks.iter().find_map(|block| block.handle) {
            for index in 0..4 {
                for generation in [0, 2, real.generation + 2] {
                    self.probe_handle(CymemHandle {
                        index,
                        generation,
                        ..real
                    });
                }
            }
        }
        self.check();
    }

    // --- what the pool reports ----------------------------------------------

    fn len(&self) -> usize {
        // SAFETY: a live pool.
        unsafe { cymem_pool_len(self.pool) }
    }

    fn size(&self) -> usize {
        // SAFETY: a live pool.
        unsafe { cymem_pool_size(self.pool) }
    }

    fn reported(&self) -> Vec<(*mut u8, usize)> {
        let capacity = self.blocks.len() + 3;
        let mut addresses = vec![null_mut::<c_void>(); capacity];
        let mut sizes = vec![0usize; capacity];
        // SAFETY: a live pool; both arrays hold `capacity` elements.
        let n = unsafe {
            cymem_pool_blocks(
                self.pool,
                addresses.as_mut_ptr(),
                sizes.as_mut_ptr(),
                capacity,
            )
        };
        assert!(n <= capacity);
        (0..n)
            .map(|i| (addresses[i].cast::<u8>(), sizes[i]))
            .collect()
    }

    /// The pool agrees with the model; under Miri, every block's bytes only
    /// now and then (they are checked after every failure and at destroy).
    fn check_often(&mut self) {
        self.checks += 1;
        if miri() && !self.checks.is_multiple_of(16) {
            self.check_bookkeeping();
        } else {
            self.check();
        }
    }

    /// The pool agrees with the model.
    fn check(&self) {
        self.check_bookkeeping();
        for block in &self.blocks {
            // SAFETY: a live block.
            unsafe { check_block(block) };
        }
    }

    /// The pool agrees with the model, bytes aside.
    fn check_bookkeeping(&self) {
        assert_eq!(self.len(), self.blocks.len(), "cymem_pool_len");
        let size: usize = self.blocks.iter().map(|block| block.bytes).sum();
        assert_eq!(self.size(), size, "cymem_pool_size");
        let reported = self.reported();
        assert_eq!(reported.len(), self.blocks.len(), "cymem_pool_blocks count");
        let logged = self.logged();
        let expected_logged: Vec<_> = (logged.iter())
            .map(|&i| (self.blocks[i].ptr, self.blocks[i].bytes))
            .collect();
        assert_eq!(
            reported[..logged.len()],
            expected_logged[..],
            "blocks without a handle, oldest first"
        );
        let mut rest: Vec<_> = reported[logged.len()..].to_vec();
        let mut expected_rest: Vec<_> = (self.handled().iter())
            .map(|&i| (self.blocks[i].ptr, self.blocks[i].bytes))
            .collect();
        rest.sort();
        expected_rest.sort();
        assert_eq!(rest, expected_rest, "blocks with a handle");
        for block in &self.blocks {
            if let Some(handle) = block.handle {
                let mut size = 0;
                // SAFETY: a live pool, a writable size.
                let ptr = unsafe { cymem_lookup(self.pool, handle, &mut size) };
                assert_eq!((ptr.cast::<u8>(), size), (block.ptr, block.bytes));
            }
        }
        // A short buffer gets a prefix of the same list.
        if !reported.is_empty() {
            let mut one = [null_mut::<c_void>(); 1];
            // SAFETY: a live pool; one element, sizes skipped.
            let n = unsafe { cymem_pool_blocks(self.pool, one.as_mut_ptr(), null_mut(), 1) };
            assert_eq!((n, one[0].cast::<u8>()), (1, reported[0].0));
        }
    }

    /// Destroys the pool; a counting pool must have freed every malloc.
    fn destroy(self) {
        self.check();
        let kind = self.kind;
        // SAFETY: made by `cymem_pool_new*`, destroyed once.
        unsafe { cymem_pool_destroy(self.pool) };
        if kind == Kind::Counting {
            let (mallocs, frees) = malloc_counts();
            assert_eq!(mallocs, frees, "destroy gives every malloc back");
            assert!(LIVE.with(|live| live.borrow().is_empty()));
        }
    }
}

/// # Safety
///
/// `block` is live.
unsafe fn fill(block: &Block, from: usize) {
    for at in from..block.bytes.min(PATTERNED) {
        // SAFETY: within the block's requested bytes.
        unsafe { *block.ptr.add(at) = pattern(block.tag, at) };
    }
}

/// Checks that bytes `from..to` of a block are zero (sampled past 8 KiB).
///
/// # Safety
///
/// `ptr` is live for `to` bytes.
unsafe fn check_zero(ptr: *const u8, from: usize, to: usize) {
    let step = if to - from.min(to) > 8192 {
        997
    } else if miri() {
        3
    } else {
        1
    };
    let mut at = from;
    while at < to {
        // SAFETY: the caller's contract.
        let byte = unsafe { *ptr.add(at) };
        assert_eq!(byte, 0, "byte {at} of {ptr:?} is not zero");
        at += step;
    }
    if to > from {
        // SAFETY: the caller's contract.
        assert_eq!(unsafe { *ptr.add(to - 1) }, 0);
    }
}

/// # Safety
///
/// `block` is live.
unsafe fn check_block(block: &Block) {
    // Under Miri every 5th byte (and the last patterned one): reads are slow there.
    let step = if miri() { 5 } else { 1 };
    let patterned = block.bytes.min(PATTERNED);
    for at in (0..patterned).step_by(step).chain(patterned.checked_sub(1)) {
        // SAFETY: within the block.
        let byte = unsafe { *block.ptr.add(at) };
        assert_eq!(byte, pattern(block.tag, at), "byte {at} of {block:?}");
    }
    // SAFETY: within the block's units.
    unsafe { check_zero(block.ptr, PATTERNED.min(block.bytes), block.bytes) };
}

fn miri() -> bool {
    cfg!(miri)
}

// ---------------------------------------------------------------------------
// Scenarios.
// ---------------------------------------------------------------------------

/// Interior, one-past, NULL, foreign, freed pointers and forged handles are
/// rejected with nothing changed: before the address table exists, after it
/// is built, while the newest block is out of it, and after compaction.
#[test]
fn non_block_pointers_are_rejected_in_every_state() {
    for kind in KINDS {
        reset_malloc(0);
        let mut m = Model::new(kind);
        for bytes in [1, 16, 17, 256, 300] {
            m.alloc(bytes, false);
        }
        // No table yet: pointers into the newest block first.
        let newest = m.blocks[4].ptr;
        m.probe(newest.wrapping_add(1));
        m.probe(null_mut());
        m.probe_all(); // builds the table
        m.alloc(40, false); // the previous newest goes in, this one stays out
        m.alloc(0, true);
        m.probe_all();
        // Free older logged blocks to leave holes, then compact.
        let start = m.blocks.len();
        for i in 0..150 {
            m.alloc(i % 70, false);
        }
        for _ in 0..100 {
            m.free(start, FreeBy::Pointer);
        }
        m.probe_all();
        m.destroy();
    }
}

/// A block freed twice, through either free function, is rejected the
/// second time: the newest (a pop), an older one (a hole), one with a
/// handle, and after compaction.
#[test]
fn double_frees_are_rejected() {
    for kind in KINDS {
        for by in [FreeBy::Pointer, FreeBy::PointerWithSize] {
            reset_malloc(0);
            let mut m = Model::new(kind);
            for bytes in [8, 24, 1000] {
                m.alloc(bytes, false);
            }
            // The newest, before any table.
            let newest = m.blocks[2].ptr;
            assert!(m.free(2, by));
            m.probe(newest);
            // An older one: builds the table.
            let oldest = m.blocks[0].ptr;
            assert!(m.free(0, by));
            m.probe(oldest);
            // The newest again, now that the table exists.
            m.alloc(5, false);
            let newest = m.blocks[1].ptr;
            m.alloc(6, false);
            assert!(m.free(1, by)); // the block before the newest, indexed
            m.probe(newest);
            let i = m.blocks.len() - 1;
            let newest = m.blocks[i].ptr;
            assert!(m.free(i, by)); // the unindexed newest
            m.probe(newest);
            // With a handle.
            let i = m.alloc(33, true).unwrap();
            let ptr = m.blocks[i].ptr;
            assert!(m.free(i, by));
            m.probe(ptr);
            // After compaction.
            let start = m.blocks.len();
            for _ in 0..140 {
                m.alloc(48, false);
            }
            let mut freed = Vec::new();
            for _ in 0..100 {
                freed.push(m.blocks[start].ptr);
                assert!(m.free(start, by));
            }
            for ptr in freed {
                m.probe(ptr);
            }
            m.probe_all();
            m.destroy();
        }
    }
}

/// Realloc of the newest and of older blocks without a handle, and of
/// blocks with one (by pointer and by handle): to 0, the same size, across
/// the 256-byte carving limit, to 2 MiB and back. The prefix is kept, the
/// rest reads zero, and the stale pointer is rejected after a move.
#[test]
fn realloc_matrix() {
    let mut cases = vec![
        (10, 0),
        (0, 10),
        (10, 10),
        (17, 32),
        (33, 31),
        (200, 256),
        (256, 257),
        (257, 256),
        (100, 300),
        (300, 100),
        (300, 5000),
        (5000, 300),
    ];
    cases.push((300, MIB2));
    cases.push((MIB2, 100));
    cases.push((MIB2, MIB2 + 1));
    #[derive(Clone, Copy, Debug)]
    enum Which {
        Newest,
        NewestIndexed,
        Older,
        Oldest,
        SlotByPointer,
        SlotByHandle,
        GivenSlotByHandle,
    }
    for kind in KINDS {
        for &(from, to) in &cases {
            for which in [
                Which::Newest,
                Which::NewestIndexed,
                Which::Older,
                Which::Oldest,
                Which::SlotByPointer,
                Which::SlotByHandle,
                Which::GivenSlotByHandle,
            ] {
                reset_malloc(0);
                let mut m = Model::new(kind);
                let with_handle = matches!(which, Which::SlotByPointer | Which::SlotByHandle);
                let target = match which {
                    Which::Oldest => {
                        let i = m.alloc(from, false).unwrap();
                        m.alloc(20, false);
                        m.alloc(300, false);
                        i
                    }
                    Which::Older | Which::GivenSlotByHandle => {
                        m.alloc(20, false);
                        let i = m.alloc(from, with_handle).unwrap();
                        m.alloc(300, false);
                        i
                    }
                    Which::Newest => {
                        m.alloc(20, false);
                        m.alloc(from, false).unwrap()
                    }
                    Which::NewestIndexed => {
                        m.alloc(20, false);
                        m.alloc(21, false);
                        m.find(0, false); // not the newest: builds the table
                        let i = m.alloc(from, false).unwrap();
                        m.alloc(7, false); // `i` goes into the table
                        m.free(3, FreeBy::Pointer); // pop: `i` is the newest, indexed
                        i
                    }
                    Which::SlotByPointer | Which::SlotByHandle => {
                        m.alloc(20, false);
                        let i = m.alloc(from, true).unwrap();
                        m.alloc(300, false);
                        i
                    }
                };
                if matches!(which, Which::GivenSlotByHandle) {
                    assert!(m.find(target, true));
                }
                let old = m.blocks[target].ptr;
                let by_handle = matches!(which, Which::SlotByHandle | Which::GivenSlotByHandle);
                assert!(
                    m.realloc(target, to, by_handle),
                    "{kind:?} {which:?} {from}->{to}"
                );
                let new = m.blocks[target].ptr;
                m.check();
                if new != old {
                    m.probe(old);
                }
                // Again back to the first size, then free by pointer.
                assert!(m.realloc(target, from, false));
                if !miri() {
                    m.probe_all();
                }
                assert!(m.free(target, FreeBy::PointerWithSize));
                m.probe(new);
                m.destroy();
            }
        }
    }
}

/// Bytes a C caller wrote past its requested size, inside the block's last
/// unit, read zero after a realloc that grows it (the docs promise "the rest
/// are zero").
#[test]
fn realloc_zeroes_bytes_written_past_the_requested_size() {
    for kind in KINDS {
        for newest in [true, false] {
            for to in [12, 16, 100, 300] {
                reset_malloc(0);
                let mut m = Model::new(kind);
                let i = m.alloc(5, false).unwrap();
                if !newest {
                    m.alloc(5, false);
                }
                let ptr = m.blocks[i].ptr;
                // SAFETY: within the block's one 16-byte unit.
                unsafe { ptr.add(5).write_bytes(0xAA, 11) };
                // SAFETY: a live pool.
                let q = unsafe { cymem_realloc(m.pool, ptr.cast(), to, 1) }.cast::<u8>();
                assert!(!q.is_null());
                // SAFETY: the block is `to` bytes.
                unsafe {
                    for at in 0..5 {
                        assert_eq!(*q.add(at), pattern(m.blocks[i].tag, at));
                    }
                    check_zero(q, 5, to);
                }
                m.blocks[i].ptr = q;
                m.blocks[i].bytes = to;
                // SAFETY: the block's own bytes.
                unsafe { fill(&m.blocks[i], 5) };
                m.destroy();
            }
        }
    }
}

/// `cymem_find` with an out_handle moves a logged block into a slot, at
/// every log position, with and without the address table; afterwards the
/// block is reachable by pointer and by handle, its log entry is gone, and
/// the neighbours (in particular the new newest block) are still found.
#[test]
fn find_gives_a_slot_at_every_position() {
    #[derive(Clone, Copy, Debug)]
    enum Then {
        FreeByPointer,
        FreeHandle,
        ReallocHandle,
        ReallocPointer,
        Lookup,
        AllocThenFreeNeighbours,
    }
    for kind in KINDS {
        for position in 0..4 {
            for table_first in [false, true] {
                for then in [
                    Then::FreeByPointer,
                    Then::FreeHandle,
                    Then::ReallocHandle,
                    Then::ReallocPointer,
                    Then::Lookup,
                    Then::AllocThenFreeNeighbours,
                ] {
                    reset_malloc(0);
                    let mut m = Model::new(kind);
                    for bytes in [3, 40, 270, 16] {
                        m.alloc(bytes, false);
                    }
                    if table_first {
                        m.probe(m.blocks[0].ptr.wrapping_add(16));
                    }
                    assert!(m.find(position, true), "{kind:?} {position} {then:?}");
                    m.check();
                    assert!(m.find(position, true), "the same handle again");
                    assert!(m.find(position, false));
                    let handle = m.blocks[position].handle.unwrap();
                    match then {
                        Then::FreeByPointer => {
                            assert!(m.free(position, FreeBy::Pointer));
                            m.probe_handle(handle);
                        }
                        Then::FreeHandle => {
                            let ptr = m.blocks[position].ptr;
                            assert!(m.free(position, FreeBy::Handle));
                            m.probe(ptr);
                        }
                        Then::ReallocHandle => {
                            assert!(m.realloc(position, 600, true));
                            assert!(m.find(position, true));
                        }
                        Then::ReallocPointer => {
                            assert!(m.realloc(position, 1, false));
                            assert!(m.find(position, true));
                        }
                        Then::Lookup => m.probe_handle(handle),
                        Then::AllocThenFreeNeighbours => {
                            m.alloc(50, false);
                            m.alloc(51, false);
                            // Free everything else by pointer, newest first.
                            while m.blocks.len() > 1 {
                                let i = m.blocks.len() - 1;
                                let i = if i == position { i - 1 } else { i };
                                assert!(m.free(i, FreeBy::Pointer));
                            }
                            m.probe_handle(handle);
                        }
                    }
                    if miri() {
                        m.check();
                    } else {
                        m.probe_all();
                    }
                    m.destroy();
                }
            }
        }
    }
}

/// Compaction while the newest block is out of the address table, then the
/// newest freed, then a new block pushing the old newest into the table at
/// its renumbered position; every block is still found and freed.
#[test]
fn compaction_renumbers_and_keeps_the_newest_reachable() {
    for kind in KINDS {
        for free_order_reversed in [false, true] {
            reset_malloc(0);
            let mut m = Model::new(kind);
            for i in 0..200 {
                m.alloc(8 + i % 300, false);
            }
            m.find(0, false); // the table
            m.alloc(64, false); // newest, unindexed
                                // Free 130 older blocks (never the newest): holes >= 64 and > half.
            let mut victims: Vec<usize> = (0..130).map(|k| k * 3 / 2).collect();
            if free_order_reversed {
                victims.reverse();
            }
            let victims: Vec<*mut u8> = victims.iter().map(|&k| m.blocks[k].ptr).collect();
            for ptr in victims {
                let i = m.position_of(ptr.addr()).unwrap();
                assert!(m.free(i, FreeBy::Pointer));
            }
            m.check();
            // The newest, a pop; then every remaining one is found.
            let last = m.blocks.len() - 1;
            assert!(m.free(last, FreeBy::PointerWithSize));
            m.alloc(1, false);
            m.alloc(2, false);
            for i in 0..m.blocks.len() {
                assert!(m.find(i, false));
            }
            m.probe_all();
            // Give slots to some, realloc others, then free all in a
            // scattered order.
            for i in (0..m.blocks.len()).step_by(5) {
                assert!(m.find(i, true));
            }
            for i in (1..m.blocks.len()).step_by(7) {
                assert!(m.realloc(i, 333, false));
            }
            m.probe_all();
            while !m.blocks.is_empty() {
                let i = (m.blocks.len() * 7 / 13) % m.blocks.len();
                let by = if m.blocks[i].handle.is_some() && i.is_multiple_of(2) {
                    FreeBy::Handle
                } else {
                    FreeBy::Pointer
                };
                assert!(m.free(i, by));
            }
            m.probe_all();
            m.destroy();
        }
    }
}

/// A freed address reused by a later block: the stale pointer names the new
/// block (documented), the stale handle does not.
#[test]
fn reused_addresses_name_the_new_block_only_by_pointer() {
    reset_malloc(0);
    let mut m = Model::new(Kind::System);
    let a = m.alloc(24, true).unwrap();
    m.alloc(24, false);
    let (ptr, handle) = (m.blocks[a].ptr, m.blocks[a].handle.unwrap());
    assert!(m.free(a, FreeBy::Pointer));
    let b = m.alloc(24, false).unwrap();
    assert_eq!(m.blocks[b].ptr, ptr, "the free list gives the address back");
    m.probe_handle(handle);
    m.probe(ptr); // a live block now: found, size 24
                  // Same with the newest popped and reused while the table exists.
    let c = m.alloc(100, false).unwrap();
    let ptr = m.blocks[c].ptr;
    assert!(m.free(c, FreeBy::Pointer));
    let d = m.alloc(100, false).unwrap();
    assert_eq!(m.blocks[d].ptr, ptr);
    assert!(m.find(d, false));
    m.probe_all();
    m.destroy();
}

/// Failed calls change nothing: size overflow on alloc and realloc of every
/// kind of block, and a NULL pool.
#[test]
fn size_overflow_changes_nothing() {
    for kind in KINDS {
        reset_malloc(0);
        let mut m = Model::new(kind);
        m.alloc(10, false);
        m.alloc(20, true);
        m.alloc(30, false);
        let too_big = [(usize::MAX, 2), (2, usize::MAX), (isize::MAX as usize, 1)];
        for (number, elem) in too_big {
            for i in 0..3 {
                let block = m.blocks[i];
                // SAFETY: a live pool.
                unsafe {
                    assert!(cymem_realloc(m.pool, block.ptr.cast(), number, elem).is_null());
                    assert_eq!(cymem_last_error(), CymemStatus::SizeOverflow);
                    if let Some(handle) = block.handle {
                        assert!(cymem_realloc_handle(m.pool, handle, number, elem).is_null());
                        assert_eq!(cymem_last_error(), CymemStatus::SizeOverflow);
                    }
                    let mut handle = CymemHandle::default();
                    assert!(cymem_alloc(m.pool, number, elem, &mut handle).is_null());
                    assert_eq!(handle, CymemHandle::default());
                    assert!(cymem_alloc(m.pool, number, elem, null_mut()).is_null());
                    assert_eq!(cymem_last_error(), CymemStatus::SizeOverflow);
                }
                m.check();
            }
        }
        // SAFETY: NULL pools are checked.
        unsafe {
            assert_eq!(
                cymem_free(null_mut(), m.blocks[0].ptr.cast()),
                CymemStatus::NullPool
            );
            assert!(cymem_realloc(null_mut(), m.blocks[0].ptr.cast(), 1, 1).is_null());
            assert_eq!(cymem_last_error(), CymemStatus::NullPool);
        }
        m.check();
        m.destroy();
    }
}

// ---------------------------------------------------------------------------
// Allocation failure on the k-th malloc.
// ---------------------------------------------------------------------------

/// Which block an op names.
#[derive(Clone, Copy, Debug)]
enum Pick {
    Newest,
    Oldest,
    Middle,
    NewestLogged,
    OldestLogged,
    AnyHandled,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Alloc(usize, bool),
    Free(Pick, FreeBy),
    Realloc(Pick, usize, bool),
    Find(Pick, bool),
    ProbeAll,
}

impl Model {
    fn pick(&self, pick: Pick) -> Option<usize> {
        let n = self.blocks.len();
        let logged = self.logged();
        let handled = self.handled();
        match pick {
            Pick::Newest => n.checked_sub(1),
            Pick::Oldest => (n > 0).then_some(0),
            Pick::Middle => (n > 0).then_some(n / 2),
            Pick::NewestLogged => logged.last().copied(),
            Pick::OldestLogged => logged.first().copied(),
            Pick::AnyHandled => handled.get(handled.len() / 2).copied(),
        }
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::Alloc(bytes, handle) => {
                self.alloc(bytes, handle);
            }
            Op::Free(pick, by) => {
                if let Some(i) = self.pick(pick) {
                    let by = if by == FreeBy::Handle && self.blocks[i].handle.is_none() {
                        FreeBy::Pointer
                    } else {
                        by
                    };
                    self.free(i, by);
                }
            }
            Op::Realloc(pick, bytes, by_handle) => {
                if let Some(i) = self.pick(pick) {
                    let by_handle = by_handle && self.blocks[i].handle.is_some();
                    self.realloc(i, bytes, by_handle);
                }
            }
            Op::Find(pick, handle) => {
                if let Some(i) = self.pick(pick) {
                    self.find(i, handle);
                }
            }
            Op::ProbeAll => self.probe_all(),
        }
        self.check_often();
    }
}

fn failure_script() -> Vec<Op> {
    use FreeBy::*;
    use Op::*;
    use Pick::*;
    let mut script = vec![
        Alloc(10, false),
        Alloc(0, false),
        Alloc(300, false),
        Free(Newest, Pointer), // pop, no table
        Alloc(40, false),
        Realloc(Newest, 500, false), // newest, no table
        Realloc(Oldest, 700, false), // builds the table
        Alloc(16, true),
        Alloc(17, false), // previous newest goes into the table
        Realloc(Middle, 1, false),
        Find(OldestLogged, true), // give_slot
        Realloc(AnyHandled, 2000, true),
        Alloc(5, false),
        Find(NewestLogged, true), // give_slot of the unindexed newest
        Alloc(6, false),
        Realloc(NewestLogged, 90, false),
        Free(Middle, PointerWithSize),
        Free(AnyHandled, Handle),
        ProbeAll,
    ];
    // Enough logged blocks, freed from the front, to compact.
    for i in 0..140 {
        script.push(Alloc(i % 50, false));
    }
    for _ in 0..90 {
        script.push(Free(OldestLogged, Pointer));
    }
    script.extend([
        Realloc(OldestLogged, 1000, false),
        Realloc(NewestLogged, 1000, false),
        Find(Middle, true),
        Alloc(64, false),
        Realloc(Newest, 3, false),
        ProbeAll,
    ]);
    script
}

/// A pool over a malloc that fails on its k-th call, for every k: each
/// failed call is an `OutOfMemory` that changes nothing (checked after every
/// call), the pool stays usable, and destroy frees every successful malloc
/// exactly once.
#[test]
fn malloc_failing_at_every_call_changes_nothing() {
    let script = failure_script();
    // How many mallocs the script makes when none fails.
    reset_malloc(0);
    let mut m = Model::new(Kind::Counting);
    for &op in &script {
        m.run(op);
    }
    let total = MALLOC_CALLS.with(Cell::get);
    m.destroy();
    assert!(total > 100);
    let ks: Vec<usize> = if miri() {
        // Every early call, then a stride (each run replays the whole script).
        (1..=4).chain((5..=total + 1).step_by(total / 4)).collect()
    } else {
        (1..=total + 1).collect()
    };
    for k in ks {
        reset_malloc(k);
        let mut m = Model::new(Kind::Counting);
        m.may_fail = true;
        for &op in &script {
            m.run(op);
        }
        assert_eq!(m.failures, usize::from(k <= total), "k = {k}");
        m.destroy();
    }
}

// ---------------------------------------------------------------------------
// Long random interleavings.
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_size(rng: &mut Rng) -> usize {
    const SIZES: [usize; 16] = [
        0, 1, 8, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 300, 1000, 5000,
    ];
    if rng.below(500) == 0 && !miri() {
        return MIB2 + rng.below(3);
    }
    SIZES[rng.below(SIZES.len())]
}

fn random_walk(kind: Kind, seed: u64, steps: usize, fail_every: usize) {
    reset_malloc(0);
    let mut rng = Rng(seed);
    let mut m = Model::new(kind);
    m.may_fail = fail_every > 0;
    for step in 0..steps {
        if fail_every > 0 && rng.below(fail_every) == 0 {
            // The next malloc fails.
            let next = MALLOC_CALLS.with(Cell::get) + 1;
            FAIL_AT.with(|n| n.set(next));
        }
        if fail_every > 0 && rng.below(fail_every) == 0 {
            // One of the next call's own allocations fails.
            m.global_fail_at = 1 + rng.below(3);
        }
        let n = m.blocks.len();
        // Bias: grow to a few hundred blocks, then shrink, in waves, so that
        // logs fill and compact.
        let wave = (step / if miri() { 150 } else { 300 }) % 2 == 0;
        let choice = rng.below(100);
        match choice {
            0..=34 if wave || n < 10 => {
                let bytes = random_size(&mut rng);
                m.alloc(bytes, rng.below(4) == 0);
            }
            0..=49 if n > 0 => {
                let i = if rng.below(3) == 0 {
                    n - 1
                } else {
                    rng.below(n)
                };
                let by = match rng.below(3) {
                    0 => FreeBy::Pointer,
                    1 => FreeBy::PointerWithSize,
                    _ if m.blocks[i].handle.is_some() => FreeBy::Handle,
                    _ => FreeBy::Pointer,
                };
                m.free(i, by);
            }
            50..=64 if n > 0 => {
                let i = if rng.below(3) == 0 {
                    n - 1
                } else {
                    rng.below(n)
                };
                let by_handle = m.blocks[i].handle.is_some() && rng.below(2) == 0;
                let bytes = random_size(&mut rng);
                m.realloc(i, bytes, by_handle);
            }
            65..=79 if n > 0 => {
                let i = if rng.below(3) == 0 {
                    n - 1
                } else {
                    rng.below(n)
                };
                m.find(i, rng.below(3) == 0);
            }
            80..=89 => {
                // A pointer near a live or dead block, or anything.
                let base = match rng.below(3) {
                    0 if n > 0 => m.blocks[rng.below(n)].ptr,
                    1 if !m.dead.is_empty() => m.dead[rng.below(m.dead.len())],
                    _ => ptr::without_provenance_mut(rng.below(1 << 20) * 16),
                };
                let offset = [0usize, 1, 8, 16, 32, 4096][rng.below(6)];
                m.probe(base.wrapping_add(offset));
            }
            90..=94 if !m.dead_handles.is_empty() => {
                let h = m.dead_handles[rng.below(m.dead_handles.len())];
                m.probe_handle(h);
            }
            _ => {
                if rng.below(40) == 0 {
                    m.probe_all();
                }
            }
        }
        FAIL_AT.with(|n| n.set(0));
        m.global_fail_at = 0;
        m.check_often();
        if m.dead.len() > 512 {
            m.dead.drain(..256);
        }
    }
    m.probe_all();
    if fail_every > 0 {
        eprintln!("{kind:?} seed {seed:#x}: {} failed calls", m.failures);
    }
    m.destroy();
}

#[test]
fn random_interleavings_system() {
    let steps = if miri() { 250 } else { 20_000 };
    let seeds: &[u64] = if miri() {
        &[0x9E37_79B9_7F4A_7C15]
    } else {
        &[0x9E37_79B9_7F4A_7C15, 0x2545_F491_4F6C_DD1D]
    };
    for &seed in seeds {
        random_walk(Kind::System, seed, steps, 0);
        random_walk(Kind::System, seed ^ 1, steps, 25);
    }
}

#[test]
fn random_interleavings_counting_with_failures() {
    let steps = if miri() { 250 } else { 20_000 };
    let seeds: &[u64] = if miri() {
        &[0xD1B5_4A32_D192_ED03]
    } else {
        &[0xD1B5_4A32_D192_ED03, 0x94D0_49BB_1331_11EB]
    };
    for &seed in seeds {
        random_walk(Kind::Counting, seed, steps, 0);
        random_walk(Kind::Counting, seed ^ 1, steps, 25);
    }
}

/// Every global allocation of every call of the failure script fails in
/// turn (the pool's log, address table, slot table, sizes and chunks): each
/// such call reports `OutOfMemory` and changes nothing, and the same call
/// then succeeds once nothing fails.
#[test]
fn bookkeeping_allocation_failing_at_every_point_changes_nothing() {
    let script = failure_script();
    let script: &[Op] = if miri() { &script[..40] } else { &script };
    for kind in KINDS {
        reset_malloc(0);
        let mut m = Model::new(kind);
        m.may_fail = true;
        let mut injected = 0;
        for &op in script {
            // Fail the 1st, 2nd, ... allocation of this op until it gets
            // through; the pool must be unchanged after each failure.
            for fail_at in 1.. {
                let failures = m.failures;
                m.global_fail_at = fail_at;
                m.run(op);
                m.global_fail_at = 0;
                if m.failures == failures {
                    break;
                }
                injected += 1;
            }
        }
        assert_eq!(m.failures, injected);
        eprintln!("{kind:?}: {injected} bookkeeping failures injected");
        assert!(injected >= 5, "{kind:?}: only {injected} failures injected");
        m.destroy();
    }
}

/// Pointers and handles of one pool passed to another are rejected, and
/// neither pool changes (with and without each pool's address table).
#[test]
fn pointers_and_handles_of_another_pool_are_rejected() {
    for (kind_a, kind_b) in [
        (Kind::System, Kind::System),
        (Kind::System, Kind::Counting),
        (Kind::Counting, Kind::System),
    ] {
        reset_malloc(0);
        let mut a = Model::new(kind_a);
        let mut b = Model::new(kind_b);
        for bytes in [0, 16, 40, 300] {
            a.alloc(bytes, false);
            a.alloc(bytes + 1, true);
            b.alloc(bytes + 2, false);
            b.alloc(bytes + 3, true);
        }
        a.find(0, true); // a slot for a logged block of `a`
        for round in 0..2 {
            let theirs: Vec<Block> = a.blocks.clone();
            for block in &theirs {
                b.probe(block.ptr);
                if let Some(handle) = block.handle {
                    b.probe_handle(handle);
                }
            }
            // Same slot index and generation as a live block of `b`, but
            // `a`'s pool id.
            for block in b.blocks.clone() {
                if let (Some(mine), Some(other)) = (block.handle, a.blocks[1].handle) {
                    b.probe_handle(CymemHandle {
                        pool: other.pool,
                        ..mine
                    });
                }
            }
            a.check();
            b.check();
            if round == 0 {
                b.probe_all();
            }
        }
        // Destroy `b` first: `a`'s counts are checked when `a` goes.
        let b_kind = b.kind;
        b.check();
        // SAFETY: made by `cymem_pool_new*`, destroyed once.
        unsafe { cymem_pool_destroy(b.pool) };
        let _ = b_kind;
        // The malloc counts cover both pools: checked below, not by `destroy`.
        a.kind = Kind::System;
        a.destroy();
        let (mallocs, frees) = malloc_counts();
        assert_eq!(mallocs, frees);
    }
}
