//! Model test of the C ABI: random call sequences on two pools, one from
//! `cymem_pool_new` and one from `cymem_pool_new_with` over a counting
//! `malloc`/`free` pair that fails on demand, compared after every call with
//! a plain model (each block's handle, last address, and bytes while live).
//!
//! Blocks are read and written only through the pointers the pool returned.
//! Stale, foreign, interior and made-up pointers, and forged handles, are
//! only passed to the pool, which compares them: each must name exactly the
//! model's live block of that pool with that address or handle, or fail with
//! nothing changed and `cymem_last_error` saying why. After both pools are
//! destroyed no `malloc`ed block may remain. (The `capi` fuzz target runs the
//! same model on longer sequences.)
#![cfg(feature = "capi")]

mod common;

use core::ffi::c_void;
use core::ptr;
use std::cell::RefCell;
use std::collections::BTreeMap;

use cymem::capi::{
    cymem_alloc, cymem_find, cymem_free, cymem_free_handle, cymem_last_error, cymem_lookup,
    cymem_pool_destroy, cymem_pool_len, cymem_pool_new, cymem_pool_new_with, cymem_pool_size,
    cymem_realloc, cymem_realloc_handle, CymemHandle, CymemPool, CymemStatus,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// Every C block is whole 16-byte units, at least one.
const UNIT: usize = 16;

/// Live bytes in both pools above which allocations and growth are skipped.
const MAX_LIVE_BYTES: usize = if cfg!(miri) { 1 << 10 } else { 1 << 14 };

/// Written to out-parameters before a call, to see that a failure leaves
/// them alone.
const SENTINEL: CymemHandle = CymemHandle {
    index: 0xDEAD_BEEF,
    generation: 0x5EA1_5EA1,
    pool: u64::MAX,
};
const SENTINEL_SIZE: usize = 0x5EA1_5EA1;

#[derive(Clone, Copy, Debug)]
enum PtrProbe {
    /// The last address of a block of this pool (live or freed).
    Record(Index),
    /// The last address of a block of the other pool.
    Foreign(Index),
    /// `1 + offset` bytes into a block of this pool.
    Interior(Index, u8),
    /// Any integer.
    Raw(usize),
    Null,
}

#[derive(Clone, Copy, Debug)]
enum HandleProbe {
    /// The handle of a block of this pool (live or freed).
    Record(Index),
    /// The handle of a block of the other pool.
    Foreign(Index),
    /// A block's handle (of this pool or the other) with one field moved
    /// by `delta`: index, generation or pool id.
    Edited {
        pick: Index,
        foreign: bool,
        field: u8,
        delta: i8,
    },
    /// Any bits.
    Raw(u32, u32, u64),
    Null,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Alloc {
        pool: bool,
        number: usize,
        elem_size: usize,
        fail: bool,
        no_out: bool,
    },
    /// Writes a pattern over a live block through its pointer.
    Write {
        pool: bool,
        pick: Index,
        seed: u8,
    },
    Free {
        pool: bool,
        ptr: PtrProbe,
    },
    FreeHandle {
        pool: bool,
        handle: HandleProbe,
    },
    Realloc {
        pool: bool,
        ptr: PtrProbe,
        number: usize,
        elem_size: usize,
        fail: bool,
    },
    ReallocHandle {
        pool: bool,
        handle: HandleProbe,
        number: usize,
        elem_size: usize,
        fail: bool,
    },
    Lookup {
        pool: bool,
        handle: HandleProbe,
    },
    Find {
        pool: bool,
        ptr: PtrProbe,
    },
    /// A function called with a NULL pool.
    NullPool {
        call: u8,
    },
}

fn number() -> impl Strategy<Value = usize> {
    let max = if cfg!(miri) { 64 } else { 512 };
    prop_oneof![
        2 => Just(0usize),
        6 => 1..=40usize,
        1 => Just(max),
        1 => (0..4usize).prop_map(|n| usize::MAX - n),
    ]
}

fn elem_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => prop::sample::select(vec![0usize, 1, 3, 8, 16, 24]),
        2 => 1..40usize,
        1 => prop::sample::select(vec![usize::MAX, 1 << (usize::BITS - 1), isize::MAX as usize]),
    ]
}

fn ptr_probe() -> impl Strategy<Value = PtrProbe> {
    prop_oneof![
        6 => any::<Index>().prop_map(PtrProbe::Record),
        2 => any::<Index>().prop_map(PtrProbe::Foreign),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, o)| PtrProbe::Interior(i, o % 48)),
        1 => any::<usize>().prop_map(PtrProbe::Raw),
        1 => Just(PtrProbe::Null),
    ]
}

fn handle_probe() -> impl Strategy<Value = HandleProbe> {
    let edited = (any::<Index>(), any::<bool>(), 0..3u8, -2..=2i8).prop_map(
        |(pick, foreign, field, delta)| HandleProbe::Edited {
            pick,
            foreign,
            field,
            delta,
        },
    );
    prop_oneof![
        6 => any::<Index>().prop_map(HandleProbe::Record),
        2 => any::<Index>().prop_map(HandleProbe::Foreign),
        4 => edited,
        1 => any::<(u32, u32, u64)>().prop_map(|(i, g, p)| HandleProbe::Raw(i, g, p)),
        1 => Just(HandleProbe::Null),
    ]
}

fn fail() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.15)
}

fn op() -> impl Strategy<Value = Op> {
    let alloc = (any::<bool>(), number(), elem_size(), fail(), any::<bool>()).prop_map(
        |(pool, number, elem_size, fail, no_out)| Op::Alloc {
            pool,
            number,
            elem_size,
            fail,
            no_out,
        },
    );
    let realloc = (any::<bool>(), ptr_probe(), number(), elem_size(), fail()).prop_map(
        |(pool, ptr, number, elem_size, fail)| Op::Realloc {
            pool,
            ptr,
            number,
            elem_size,
            fail,
        },
    );
    let realloc_handle = (any::<bool>(), handle_probe(), number(), elem_size(), fail()).prop_map(
        |(pool, handle, number, elem_size, fail)| Op::ReallocHandle {
            pool,
            handle,
            number,
            elem_size,
            fail,
        },
    );
    prop_oneof![
        8 => alloc,
        4 => (any::<bool>(), any::<Index>(), any::<u8>())
            .prop_map(|(pool, pick, seed)| Op::Write { pool, pick, seed }),
        3 => (any::<bool>(), ptr_probe()).prop_map(|(pool, ptr)| Op::Free { pool, ptr }),
        3 => (any::<bool>(), handle_probe())
            .prop_map(|(pool, handle)| Op::FreeHandle { pool, handle }),
        4 => realloc,
        4 => realloc_handle,
        2 => (any::<bool>(), handle_probe()).prop_map(|(pool, handle)| Op::Lookup { pool, handle }),
        2 => (any::<bool>(), ptr_probe()).prop_map(|(pool, ptr)| Op::Find { pool, ptr }),
        1 => any::<u8>().prop_map(|call| Op::NullPool { call }),
    ]
}

/// What the counting `malloc`/`free` saw.
#[derive(Default)]
struct MallocState {
    fail_next: bool,
    calls: usize,
    failures: usize,
    frees: usize,
    /// Address -> size of every block given out and not taken back.
    live: BTreeMap<usize, usize>,
    /// `free` of a pointer that is not live, or `malloc` returning a live one.
    bad: usize,
}

thread_local! {
    static MALLOC: RefCell<MallocState> = RefCell::new(MallocState::default());
}

/// `libc::malloc`, counted, failing when armed; never panics (it is called
/// through a C function pointer).
unsafe extern "C" fn counting_malloc(size: usize) -> *mut c_void {
    MALLOC.with_borrow_mut(|state| {
        state.calls += 1;
        if core::mem::take(&mut state.fail_next) {
            state.failures += 1;
            return ptr::null_mut();
        }
        // SAFETY: C's malloc accepts any size.
        let block = unsafe { libc::malloc(size) };
        if !block.is_null() && state.live.insert(block.addr(), size).is_some() {
            state.bad += 1;
        }
        block
    })
}

/// `libc::free` of a block [`counting_malloc`] gave out; anything else is
/// counted as bad and not freed.
unsafe extern "C" fn counting_free(block: *mut c_void) {
    MALLOC.with_borrow_mut(|state| {
        state.frees += 1;
        if state.live.remove(&block.addr()).is_none() {
            state.bad += 1;
            return;
        }
        // SAFETY: `block` was live, so `libc::malloc` returned it and it was
        // not freed since; it left `live`, so it is freed once.
        unsafe { libc::free(block) }
    })
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Calls {
    mallocs: usize,
    failed: bool,
    frees: usize,
}

/// The byte count the pool must accept, or `SizeOverflow` if the product
/// overflows or its 16-byte units exceed `isize::MAX` bytes.
fn byte_count(number: usize, elem_size: usize) -> Result<usize, CymemStatus> {
    let bytes = number
        .checked_mul(elem_size)
        .ok_or(CymemStatus::SizeOverflow)?;
    if units(bytes) > isize::MAX as usize / UNIT {
        return Err(CymemStatus::SizeOverflow);
    }
    Ok(bytes)
}

fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

/// The last error after a call returning `ptr`: `Ok` exactly if non-NULL.
fn status_of(ptr: *const c_void) -> CymemStatus {
    let status = cymem_last_error();
    assert_eq!(ptr.is_null(), status != CymemStatus::Ok, "{status:?}");
    status
}

fn pattern(bytes: &mut [u8], seed: u8) {
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = seed.wrapping_add(i as u8).wrapping_mul(31);
    }
}

#[derive(Debug)]
struct Record {
    handle: CymemHandle,
    /// The pointer last returned for it: dereferenced only while live.
    ptr: *mut u8,
    /// Its bytes while live.
    bytes: Option<Vec<u8>>,
}

struct Side {
    pool: *mut CymemPool,
    counted: bool,
    records: Vec<Record>,
}

impl Side {
    fn size(&self) -> usize {
        self.records
            .iter()
            .flat_map(|r| &r.bytes)
            .map(Vec::len)
            .sum()
    }

    fn len(&self) -> usize {
        self.records.iter().filter(|r| r.bytes.is_some()).count()
    }

    fn pick(&self, pick: Index) -> Option<&Record> {
        (!self.records.is_empty()).then(|| &self.records[pick.index(self.records.len())])
    }

    fn live_at(&self, addr: usize) -> Option<usize> {
        self.records
            .iter()
            .position(|r| r.bytes.is_some() && r.ptr.addr() == addr)
    }

    fn live_with(&self, handle: CymemHandle) -> Option<usize> {
        self.records
            .iter()
            .position(|r| r.bytes.is_some() && r.handle == handle)
    }
}

struct Harness {
    sides: [Side; 2],
}

impl Harness {
    fn new() -> Self {
        MALLOC.with_borrow_mut(|state| *state = MallocState::default());
        let system = cymem_pool_new();
        // SAFETY: libc's malloc/free with bookkeeping, callable for the
        // program's lifetime.
        let counted = unsafe { cymem_pool_new_with(Some(counting_malloc), Some(counting_free)) };
        assert!(!system.is_null() && !counted.is_null());
        let side = |pool, counted| Side {
            pool,
            counted,
            records: Vec::new(),
        };
        Harness {
            sides: [side(system, false), side(counted, true)],
        }
    }

    fn pointer(&self, p: usize, probe: PtrProbe) -> *mut c_void {
        let at = |side: &Side, pick, offset: usize| {
            side.pick(pick).map_or(ptr::null_mut(), |r| {
                r.ptr.wrapping_add(offset).cast::<c_void>()
            })
        };
        match probe {
            PtrProbe::Record(pick) => at(&self.sides[p], pick, 0),
            PtrProbe::Foreign(pick) => at(&self.sides[1 - p], pick, 0),
            PtrProbe::Interior(pick, offset) => at(&self.sides[p], pick, 1 + usize::from(offset)),
            PtrProbe::Raw(addr) => ptr::without_provenance_mut(addr),
            PtrProbe::Null => ptr::null_mut(),
        }
    }

    fn handle(&self, p: usize, probe: HandleProbe) -> CymemHandle {
        let of = |side: &Side, pick| side.pick(pick).map(|r| r.handle).unwrap_or_default();
        match probe {
            HandleProbe::Record(pick) => of(&self.sides[p], pick),
            HandleProbe::Foreign(pick) => of(&self.sides[1 - p], pick),
            HandleProbe::Edited {
                pick,
                foreign,
                field,
                delta,
            } => {
                let mut h = of(&self.sides[p ^ usize::from(foreign)], pick);
                match field {
                    0 => h.index = h.index.wrapping_add_signed(delta.into()),
                    1 => h.generation = h.generation.wrapping_add_signed(delta.into()),
                    _ => h.pool = h.pool.wrapping_add_signed(delta.into()),
                }
                h
            }
            HandleProbe::Raw(index, generation, pool) => CymemHandle {
                index,
                generation,
                pool,
            },
            HandleProbe::Null => CymemHandle::default(),
        }
    }

    fn live_bytes(&self) -> usize {
        self.sides.iter().map(Side::size).sum()
    }

    /// Runs `call` with the counting `malloc` armed to fail if `fail` (on
    /// the counting pool), and reports what that allocator did.
    fn observe<R>(&self, p: usize, fail: bool, call: impl FnOnce() -> R) -> (R, Calls) {
        let counts = || MALLOC.with_borrow(|s| (s.calls, s.failures, s.frees));
        let before = counts();
        MALLOC.with_borrow_mut(|s| s.fail_next = fail && self.sides[p].counted);
        let result = call();
        MALLOC.with_borrow_mut(|s| s.fail_next = false);
        let after = counts();
        let calls = Calls {
            mallocs: after.0 - before.0,
            failed: after.1 > before.1,
            frees: after.2 - before.2,
        };
        if !self.sides[p].counted {
            assert_eq!(calls, Calls::default(), "the system pool used malloc_fn");
        }
        (result, calls)
    }

    /// The status a call must give: `expected`, unless the counting
    /// `malloc` failed the one block it allocates (`allocates`).
    fn outcome(
        &self,
        p: usize,
        expected: Result<(), CymemStatus>,
        allocates: bool,
        calls: Calls,
    ) -> CymemStatus {
        let expected = expected.err().unwrap_or(CymemStatus::Ok);
        if !self.sides[p].counted {
            return expected;
        }
        let mallocs = usize::from(expected == CymemStatus::Ok && allocates);
        assert_eq!(calls.mallocs, mallocs, "malloc_fn calls");
        if calls.failed {
            CymemStatus::OutOfMemory
        } else {
            expected
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Alloc {
                pool,
                number,
                elem_size,
                fail,
                no_out,
            } => self.alloc(usize::from(pool), number, elem_size, fail, no_out),
            Op::Write { pool, pick, seed } => {
                let p = usize::from(pool);
                let live: Vec<usize> = (0..self.sides[p].records.len())
                    .filter(|&i| self.sides[p].records[i].bytes.is_some())
                    .collect();
                if !live.is_empty() {
                    self.write(p, live[pick.index(live.len())], seed);
                }
            }
            Op::Free { pool, ptr } => {
                let p = usize::from(pool);
                let ptr = self.pointer(p, ptr);
                let target = self.sides[p].live_at(ptr.addr());
                let pool = self.sides[p].pool;
                // SAFETY: a live pool; `ptr` is only compared.
                let (status, calls) = self.observe(p, false, || unsafe { cymem_free(pool, ptr) });
                self.freed(p, target, status, calls, CymemStatus::InvalidPointer);
            }
            Op::FreeHandle { pool, handle } => {
                let p = usize::from(pool);
                let handle = self.handle(p, handle);
                let target = self.sides[p].live_with(handle);
                let pool = self.sides[p].pool;
                let (status, calls) = self.observe(p, false, || {
                    // SAFETY: a live pool; any handle bits are allowed.
                    unsafe { cymem_free_handle(pool, handle) }
                });
                self.freed(p, target, status, calls, CymemStatus::InvalidHandle);
            }
            Op::Realloc {
                pool,
                ptr,
                number,
                elem_size,
                fail,
            } => {
                let p = usize::from(pool);
                let ptr = self.pointer(p, ptr);
                let target = self.sides[p].live_at(ptr.addr());
                let invalid = CymemStatus::InvalidPointer;
                self.realloc(p, target, invalid, (number, elem_size), fail, |pool| {
                    // SAFETY: a live pool; `ptr` is only compared.
                    unsafe { cymem_realloc(pool, ptr, number, elem_size) }
                });
            }
            Op::ReallocHandle {
                pool,
                handle,
                number,
                elem_size,
                fail,
            } => {
                let p = usize::from(pool);
                let handle = self.handle(p, handle);
                let target = self.sides[p].live_with(handle);
                let invalid = CymemStatus::InvalidHandle;
                self.realloc(p, target, invalid, (number, elem_size), fail, |pool| {
                    // SAFETY: a live pool; any handle bits are allowed.
                    unsafe { cymem_realloc_handle(pool, handle, number, elem_size) }
                });
            }
            Op::Lookup { pool, handle } => {
                let p = usize::from(pool);
                self.expect_lookup(p, self.handle(p, handle));
            }
            Op::Find { pool, ptr } => {
                let p = usize::from(pool);
                self.expect_find(p, self.pointer(p, ptr));
            }
            Op::NullPool { call } => null_pool(call),
        }
    }

    /// Writes a pattern over live block `index` through its pointer.
    fn write(&mut self, p: usize, index: usize, seed: u8) {
        let record = &mut self.sides[p].records[index];
        let bytes = record.bytes.as_mut().expect("live");
        if bytes.is_empty() {
            return; // a zero-byte block must not be touched
        }
        // SAFETY: the block is live and holds `bytes.len()` bytes at the
        // pointer the pool last returned; no reference into it is held.
        let block = unsafe { core::slice::from_raw_parts_mut(record.ptr, bytes.len()) };
        pattern(block, seed);
        pattern(bytes, seed);
    }

    fn alloc(&mut self, p: usize, number: usize, elem_size: usize, fail: bool, no_out: bool) {
        let expected = byte_count(number, elem_size);
        if expected.is_ok_and(|bytes| self.live_bytes() + bytes > MAX_LIVE_BYTES) {
            return;
        }
        let pool = self.sides[p].pool;
        let mut handle = SENTINEL;
        let out: *mut CymemHandle = if no_out { ptr::null_mut() } else { &mut handle };
        let (ptr, calls) = self.observe(p, fail, || {
            // SAFETY: a live pool; `out` is NULL or a local.
            unsafe { cymem_alloc(pool, number, elem_size, out) }
        });
        let status = status_of(ptr);
        let want = self.outcome(p, expected.map(|_| ()), true, calls);
        assert_eq!(status, want, "alloc({number}, {elem_size}) on pool {p}");
        assert_eq!(calls.frees, 0, "alloc freed");
        let (Ok(bytes), CymemStatus::Ok) = (expected, status) else {
            assert_eq!(handle, SENTINEL, "failed alloc wrote its handle");
            return;
        };
        assert_eq!(ptr.addr() % UNIT, 0, "block not 16-aligned");
        if no_out {
            let mut size = SENTINEL_SIZE;
            // SAFETY: a live pool; `ptr` is only compared; the outs are locals.
            let found = unsafe { cymem_find(pool, ptr, &mut handle, &mut size) };
            assert_eq!((found, size), (CymemStatus::Ok, bytes));
        }
        assert!(self.sides.iter().all(|s| s.live_with(handle).is_none()));
        if bytes != 0 {
            // SAFETY: a new block of `bytes` bytes, read through its pointer.
            let block = unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), bytes) };
            assert!(block.iter().all(|&b| b == 0), "new block not zeroed");
        }
        self.sides[p].records.push(Record {
            handle,
            ptr: ptr.cast(),
            bytes: Some(vec![0; bytes]),
        });
    }

    fn freed(
        &mut self,
        p: usize,
        target: Option<usize>,
        status: CymemStatus,
        calls: Calls,
        invalid: CymemStatus,
    ) {
        assert_eq!(cymem_last_error(), status, "last error after free");
        let expected = target.map_or(Err(invalid), |_| Ok(()));
        assert_eq!(status, self.outcome(p, expected, false, calls), "free");
        let frees = usize::from(self.sides[p].counted && target.is_some());
        assert_eq!(calls.frees, frees, "free_fn calls of a free");
        if let Some(index) = target {
            self.sides[p].records[index].bytes = None;
        }
    }

    fn realloc(
        &mut self,
        p: usize,
        target: Option<usize>,
        invalid: CymemStatus,
        (number, elem_size): (usize, usize),
        fail: bool,
        call: impl FnOnce(*mut CymemPool) -> *mut c_void,
    ) {
        let old = target.map_or(0, |i| {
            self.sides[p].records[i].bytes.as_ref().map_or(0, Vec::len)
        });
        let expected = target.map_or(Err(invalid), |_| byte_count(number, elem_size));
        if expected.is_ok_and(|bytes| self.live_bytes() - old + bytes > MAX_LIVE_BYTES) {
            return;
        }
        let moves = expected.is_ok_and(|bytes| units(bytes) != units(old));
        let pool = self.sides[p].pool;
        let (ptr, calls) = self.observe(p, fail, || call(pool));
        let status = status_of(ptr);
        let want = self.outcome(p, expected.map(|_| ()), moves, calls);
        assert_eq!(
            status, want,
            "realloc of {target:?} to ({number}, {elem_size})"
        );
        let frees = usize::from(self.sides[p].counted && moves && status == CymemStatus::Ok);
        assert_eq!(calls.frees, frees, "free_fn calls of a realloc");
        let (Some(index), Ok(bytes), CymemStatus::Ok) = (target, expected, status) else {
            return;
        };
        assert_eq!(ptr.addr() % UNIT, 0, "block not 16-aligned");
        let record = &mut self.sides[p].records[index];
        record.ptr = ptr.cast();
        // Kept prefix, zero tail (also past an earlier shrink).
        record.bytes.as_mut().expect("live").resize(bytes, 0);
    }

    /// `cymem_lookup` names exactly the live block with this handle, or
    /// fails without writing the size.
    fn expect_lookup(&self, p: usize, handle: CymemHandle) {
        let side = &self.sides[p];
        let mut size = SENTINEL_SIZE;
        // SAFETY: a live pool; the out is a local.
        let got = unsafe { cymem_lookup(side.pool, handle, &mut size) };
        let status = status_of(got);
        match side.live_with(handle) {
            Some(i) => {
                let record = &side.records[i];
                let bytes = record.bytes.as_ref().map(Vec::len);
                assert_eq!((got.cast(), Some(size)), (record.ptr, bytes), "{handle:?}");
            }
            None => {
                assert_eq!(status, CymemStatus::InvalidHandle, "lookup of {handle:?}");
                assert_eq!(size, SENTINEL_SIZE, "failed lookup wrote its size");
            }
        }
    }

    /// `cymem_find` names exactly the live block at this address, or fails
    /// without writing the outs.
    fn expect_find(&self, p: usize, ptr: *const c_void) {
        let side = &self.sides[p];
        let (mut handle, mut size) = (SENTINEL, SENTINEL_SIZE);
        // SAFETY: a live pool; `ptr` is only compared; the outs are locals.
        let status = unsafe { cymem_find(side.pool, ptr, &mut handle, &mut size) };
        assert_eq!(cymem_last_error(), status, "last error after find");
        match side.live_at(ptr.addr()) {
            Some(i) => {
                let record = &side.records[i];
                let bytes = record.bytes.as_ref().map(Vec::len);
                let found = (status, handle, Some(size));
                assert_eq!(found, (CymemStatus::Ok, record.handle, bytes), "{ptr:?}");
            }
            None => {
                let found = (status, handle, size);
                let rejected = (CymemStatus::InvalidPointer, SENTINEL, SENTINEL_SIZE);
                assert_eq!(found, rejected, "find of {ptr:?}");
            }
        }
    }

    /// Compares both pools with the model.
    fn check(&self) {
        let mut ranges = Vec::new();
        for (p, side) in self.sides.iter().enumerate() {
            let last = cymem_last_error();
            // SAFETY: a live pool.
            let (len, size) = unsafe { (cymem_pool_len(side.pool), cymem_pool_size(side.pool)) };
            assert_eq!(cymem_last_error(), last, "pool_len/size set the last error");
            assert_eq!((len, size), (side.len(), side.size()), "len, size of {p}");
            for record in &side.records {
                self.expect_lookup(p, record.handle);
                self.expect_lookup(1 - p, record.handle);
                self.expect_find(p, record.ptr.cast());
                let Some(bytes) = &record.bytes else {
                    continue;
                };
                ranges.push((record.ptr.addr(), units(bytes.len()) * UNIT, p));
                if !bytes.is_empty() {
                    // SAFETY: the block is live and holds `bytes.len()` bytes
                    // at the pointer the pool last returned.
                    let block = unsafe { core::slice::from_raw_parts(record.ptr, bytes.len()) };
                    assert_eq!(block, &bytes[..], "contents of {:?}", record.handle);
                }
            }
        }
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            assert!(pair[0].0 + pair[0].1 <= pair[1].0, "overlap: {pair:?}");
        }
        MALLOC.with_borrow(|state| {
            assert_eq!(state.bad, 0, "free_fn got a pointer malloc_fn did not give");
            assert_eq!(state.live.len(), self.sides[1].len(), "malloc'd blocks");
            for &(addr, len, _) in ranges.iter().filter(|range| range.2 == 1) {
                let within = state
                    .live
                    .range(..=addr)
                    .next_back()
                    .is_some_and(|(start, size)| addr + len <= start + size);
                assert!(within, "block {addr:#x} outside malloc'd memory");
            }
        });
    }

    fn destroy(self) {
        for side in &self.sides {
            // SAFETY: each pool is destroyed once, and not used after.
            unsafe { cymem_pool_destroy(side.pool) };
        }
    }
}

/// One function called with a NULL pool: `NullPool` (or 0), nothing written.
fn null_pool(call: u8) {
    let pool = ptr::null_mut::<CymemPool>();
    let any = ptr::without_provenance_mut::<c_void>(0x1000);
    let handle = CymemHandle::default();
    let (mut out_handle, mut out_size) = (SENTINEL, SENTINEL_SIZE);
    // SAFETY: a NULL pool is checked before anything else; the outs are locals.
    let status = unsafe {
        match call % 8 {
            0 => status_of(cymem_alloc(pool, 1, 8, &mut out_handle)),
            1 => cymem_free(pool, any),
            2 => cymem_free_handle(pool, handle),
            3 => status_of(cymem_realloc(pool, any, 1, 8)),
            4 => status_of(cymem_realloc_handle(pool, handle, 1, 8)),
            5 => status_of(cymem_lookup(pool, handle, &mut out_size)),
            6 => cymem_find(pool, any, &mut out_handle, &mut out_size),
            _ => {
                assert_eq!((cymem_pool_len(pool), cymem_pool_size(pool)), (0, 0));
                cymem_pool_destroy(pool);
                return;
            }
        }
    };
    assert_eq!(status, CymemStatus::NullPool, "call {call}");
    assert_eq!(cymem_last_error(), CymemStatus::NullPool);
    assert_eq!((out_handle, out_size), (SENTINEL, SENTINEL_SIZE));
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn capi_matches_the_model_after_every_call(
        ops in prop::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 120 }),
    ) {
        let mut harness = Harness::new();
        harness.check();
        for op in ops {
            harness.apply(op);
            harness.check();
        }
        harness.destroy();
        let (live, bad) = MALLOC.with_borrow(|state| (state.live.len(), state.bad));
        prop_assert_eq!((live, bad), (0, 0), "malloc'd blocks after destroy");
    }
}

#[test]
fn shrink_then_grow_reads_zero_past_the_shrink() {
    let mut harness = Harness::new();
    for pool in [false, true] {
        let p = usize::from(pool);
        harness.apply(Op::Alloc {
            pool,
            number: 40,
            elem_size: 1,
            fail: false,
            no_out: false,
        });
        let record = harness.sides[p].records.len() - 1;
        harness.write(p, record, 7);
        let handle = harness.sides[p].records[record].handle;
        for number in [3, 40, 1, 17, 0, 33] {
            let invalid = CymemStatus::InvalidHandle;
            harness.realloc(p, Some(record), invalid, (number, 1), false, |pool| {
                // SAFETY: a live pool and a live handle.
                unsafe { cymem_realloc_handle(pool, handle, number, 1) }
            });
            harness.check();
        }
    }
    harness.destroy();
}
