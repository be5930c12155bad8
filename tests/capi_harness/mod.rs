//! The C ABI (`cymem::capi`) checked against a plain model: the one harness
//! of the `capi_model` proptest (`tests/capi_model.rs`) and the `capi` fuzz
//! target (`fuzz/src/capi.rs` includes this file by path).
//!
//! Calls run on two pools, one from `cymem_pool_new` and one from
//! `cymem_pool_new_with` over a counting `malloc`/`free` pair that fails the
//! calls an op asks it to. After every call the pools are compared with the
//! model: every block ever made (its handle, its last address, and its bytes
//! while live). Blocks are written and read only through the pointers the
//! pool returned; every other pointer (stale, foreign, interior, any integer)
//! and every forged handle is only passed to the pool, which compares it and
//! must reject it unless it names exactly a live block of that pool. A failed
//! call changes nothing, and `cymem_last_error` always says what the last
//! call returned. After both pools are destroyed no `malloc`ed block may
//! remain.
//!
//! A block made without an `out_handle` has no handle in the pool (it sits
//! in the pool's log of handle-less blocks) and none in the model: handle
//! ops that pick it pass a forged handle, which must be rejected unless it
//! happens to name another live block. Only `cymem_find` with an
//! `out_handle` (ops `Find` and `FindHandle`) gives it one, and the model
//! learns it then. [`CapiOp::AllocMany`] and [`CapiOp::FreeEvery`] make and
//! free enough handle-less blocks for the log to be compacted (64 holes or
//! more, and more than half of it). After every op the model is compared
//! with `cymem_pool_len`, `cymem_pool_size`, `cymem_pool_blocks` (exact
//! order: handle-less blocks oldest first, then slots by index),
//! `cymem_find`, `cymem_lookup` and the bytes of every live block.
//!
//! The op types derive `arbitrary::Arbitrary` only in the fuzz crate
//! (`cfg(fuzzing)`: `cargo fuzz` passes it, and `fuzz/build.rs` sets it for
//! every other build of that crate); the proptest builds them with its own
//! strategies.

use core::ffi::{c_void, CStr};
use core::ptr;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use cymem::capi::{
    cymem_alloc, cymem_find, cymem_free, cymem_free_handle, cymem_free_with_size, cymem_last_error,
    cymem_lookup, cymem_pool_blocks, cymem_pool_destroy, cymem_pool_len, cymem_pool_new,
    cymem_pool_new_with, cymem_pool_size, cymem_realloc, cymem_realloc_handle,
    cymem_status_message, CymemHandle, CymemPool, CymemStatus,
};

/// The largest `number` an op asks for, except the huge ones.
pub const MAX_NUMBER: usize = 512;

/// The fewest blocks [`CapiOp::AllocMany`] makes: more than the 64 holes
/// the pool's log needs before it is compacted.
pub const MANY_MIN: usize = 70;

/// The most blocks [`CapiOp::AllocMany`] makes.
pub const MANY_MAX: usize = 200;

/// Live blocks per pool above which allocations are skipped: zero-byte
/// blocks count for nothing against `max_live_bytes`, and every live block
/// is checked after every op.
const MAX_LIVE_BLOCKS: usize = 400;

/// Freed blocks a side remembers (as stale pointers and handles); older
/// ones are forgotten, so that checking every record stays linear.
const MAX_FREED_RECORDS: usize = 64;

/// Every C block is whole 16-byte units, at least one.
const UNIT: usize = 16;

/// Written to out-parameters before a call, to see that a failure leaves
/// them alone.
const SENTINEL: CymemHandle = CymemHandle {
    index: 0xDEAD_BEEF,
    generation: 0x5EA1_5EA1,
    pool: u64::MAX,
};
const SENTINEL_SIZE: usize = 0x5EA1_5EA1;

/// A `number` argument, biased towards the edges.
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug)]
pub enum Number {
    /// 0.
    Zero,
    /// 1.
    One,
    /// 0..=32.
    Small(u8),
    /// 0..=MAX_NUMBER.
    Up(u16),
    /// `usize::MAX - n`: overflows unless `elem_size` is 0.
    Huge(u8),
}

impl Number {
    /// The value passed.
    pub fn get(self) -> usize {
        match self {
            Number::Zero => 0,
            Number::One => 1,
            Number::Small(n) => usize::from(n) % 33,
            Number::Up(n) => usize::from(n) % (MAX_NUMBER + 1),
            Number::Huge(n) => usize::MAX - usize::from(n),
        }
    }
}

/// An `elem_size` argument: common C sizes, odd ones, and huge ones.
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug)]
pub enum ElemSize {
    /// 0.
    Zero,
    /// 1.
    One,
    /// 3.
    Three,
    /// 8.
    Eight,
    /// 16.
    Sixteen,
    /// 24.
    TwentyFour,
    /// An odd size up to 39.
    Odd(u8),
    /// Any size from 1 to 39.
    Small(u8),
    /// At least `isize::MAX`: any `number` but 0 overflows.
    Huge(u8),
}

impl ElemSize {
    /// The value passed.
    pub fn get(self) -> usize {
        match self {
            ElemSize::Zero => 0,
            ElemSize::One => 1,
            ElemSize::Three => 3,
            ElemSize::Eight => 8,
            ElemSize::Sixteen => 16,
            ElemSize::TwentyFour => 24,
            ElemSize::Odd(n) => 2 * (usize::from(n) % 20) + 1,
            ElemSize::Small(n) => 1 + usize::from(n) % 39,
            ElemSize::Huge(n) => match n % 3 {
                0 => usize::MAX - usize::from(n),
                1 => 1 << (usize::BITS - 1),
                _ => isize::MAX as usize - usize::from(n % 8),
            },
        }
    }
}

/// A pointer given to the pool; `target`s pick a block ever made (live or
/// freed, wrapping).
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug)]
pub enum PtrProbe {
    /// The last address of a block of this pool.
    Record(u8),
    /// The last address of a block of the other pool.
    Foreign(u8),
    /// An address `1 + offset` bytes into a block of this pool (which may be
    /// the start of the next block).
    Interior {
        /// Block.
        target: u8,
        /// Offset minus one.
        offset: u8,
    },
    /// A block's address plus a small delta.
    Near {
        /// Block.
        target: u8,
        /// Delta in bytes.
        delta: i8,
    },
    /// Any integer.
    Raw(u64),
    /// NULL.
    Null,
}

/// A handle given to the pool; `target`s pick a block ever made.
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug)]
pub enum HandleProbe {
    /// The handle of a block of this pool.
    Record(u8),
    /// The handle of a block of the other pool.
    Foreign(u8),
    /// A block's handle (of this pool or the other), edited.
    Edited {
        /// From the other pool.
        foreign: bool,
        /// Block.
        target: u8,
        /// Change to its fields.
        edit: Edit,
    },
    /// Any bits.
    Raw {
        /// Index.
        index: u32,
        /// Generation.
        generation: u32,
        /// Pool id.
        pool: u64,
    },
    /// All zeroes.
    Null,
}

/// A change to a handle's fields (also used by the fuzz crate's `handles`
/// target).
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug)]
pub enum Edit {
    /// None.
    Keep,
    /// Index plus a small delta.
    Index(i8),
    /// Generation plus a small delta.
    Generation(i8),
    /// Pool id plus a small delta.
    PoolId(i8),
    /// Any index.
    SetIndex(u32),
    /// Any generation.
    SetGeneration(u32),
    /// Any pool id.
    SetPoolId(u64),
}

impl Edit {
    /// Applies the change to a handle's index, generation and pool id.
    pub fn apply(self, index: &mut u32, generation: &mut u32, pool: &mut u64) {
        match self {
            Edit::Keep => {}
            Edit::Index(delta) => *index = index.wrapping_add_signed(delta.into()),
            Edit::Generation(delta) => *generation = generation.wrapping_add_signed(delta.into()),
            Edit::PoolId(delta) => *pool = pool.wrapping_add_signed(delta.into()),
            Edit::SetIndex(value) => *index = value,
            Edit::SetGeneration(value) => *generation = value,
            Edit::SetPoolId(value) => *pool = value,
        }
    }
}

/// One call; `pool` picks the system pool (`false`) or the counting one.
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug)]
pub enum CapiOp {
    /// `cymem_alloc`.
    Alloc {
        /// Pool.
        pool: bool,
        /// `number`.
        number: Number,
        /// `elem_size`.
        size: ElemSize,
        /// The next `malloc` fails (counting pool only).
        fail: bool,
        /// Pass a NULL `out_handle`: the block has no handle until a
        /// `cymem_find` with an `out_handle` asks for one.
        no_out: bool,
    },
    /// `MANY_MIN + count % (MANY_MAX - MANY_MIN + 1)` blocks of 0 to 16
    /// bytes without a handle, each filled with a pattern.
    AllocMany {
        /// Pool.
        pool: bool,
        /// Picks how many.
        count: u8,
        /// Picks their sizes and patterns.
        seed: u8,
    },
    /// Frees by pointer the live blocks whose rank (oldest first) is a
    /// multiple of `1 + k % 4` (or, if `invert`, every other one), oldest or
    /// newest first, alternating `cymem_free` and `cymem_free_with_size`.
    FreeEvery {
        /// Pool.
        pool: bool,
        /// Picks the stride.
        k: u8,
        /// Free the ranks that are not multiples instead.
        invert: bool,
        /// Free the newest first (pops of the log) instead of the oldest
        /// first (holes in it).
        newest_first: bool,
    },
    /// `cymem_find` with an `out_handle` of a live block without a handle
    /// (wrapping over those): the pool gives it one, and the model learns it.
    FindHandle {
        /// Pool.
        pool: bool,
        /// Live block without a handle (wrapping).
        target: u8,
    },
    /// `cymem_free_with_size`: the size written must be the freed block's,
    /// and nothing may be written on failure.
    FreeWithSize {
        /// Pool.
        pool: bool,
        /// Pointer.
        ptr: PtrProbe,
        /// Pass a NULL `out_size`.
        no_out: bool,
    },
    /// Writes garbage past a live block's size up to the end of its last
    /// 16-byte unit, as a C caller overrunning its buffer would: a later
    /// growth must still read zeroes past the old size.
    Scribble {
        /// Pool.
        pool: bool,
        /// Live block (wrapping).
        target: u8,
        /// Garbage byte.
        seed: u8,
    },
    /// Writes a pattern over a live block through its pointer.
    Write {
        /// Pool.
        pool: bool,
        /// Live block (wrapping).
        target: u8,
        /// First byte of the pattern.
        seed: u8,
    },
    /// `cymem_free`.
    Free {
        /// Pool.
        pool: bool,
        /// Pointer.
        ptr: PtrProbe,
    },
    /// `cymem_free_handle`.
    FreeHandle {
        /// Pool.
        pool: bool,
        /// Handle.
        handle: HandleProbe,
    },
    /// `cymem_realloc`.
    Realloc {
        /// Pool.
        pool: bool,
        /// Pointer.
        ptr: PtrProbe,
        /// `number`.
        number: Number,
        /// `elem_size`.
        size: ElemSize,
        /// The next `malloc` fails (counting pool only).
        fail: bool,
    },
    /// `cymem_realloc_handle`.
    ReallocHandle {
        /// Pool.
        pool: bool,
        /// Handle.
        handle: HandleProbe,
        /// `number`.
        number: Number,
        /// `elem_size`.
        size: ElemSize,
        /// The next `malloc` fails (counting pool only).
        fail: bool,
    },
    /// `cymem_lookup`.
    Lookup {
        /// Pool.
        pool: bool,
        /// Handle.
        handle: HandleProbe,
        /// Pass a NULL `out_size`.
        no_out: bool,
    },
    /// `cymem_find`; with an `out_handle`, a live block without a handle
    /// gets one, and the model learns it.
    Find {
        /// Pool.
        pool: bool,
        /// Pointer.
        ptr: PtrProbe,
        /// Bit 0: NULL `out_handle`; bit 1: NULL `out_size`.
        no_out: u8,
    },
    /// A function called with a NULL pool (`call` picks which).
    NullPool {
        /// Function.
        call: u8,
        /// Pointer.
        ptr: PtrProbe,
        /// Handle.
        handle: HandleProbe,
    },
    /// `cymem_pool_new_with` with a NULL function.
    NewWithNull {
        /// Which one is NULL (or both).
        malloc: Option<bool>,
    },
    /// `cymem_status_message`.
    Message(i32),
}

/// What the counting `malloc`/`free` saw.
#[derive(Default)]
struct MallocState {
    /// The next `malloc` returns NULL.
    fail_next: bool,
    calls: usize,
    failures: usize,
    frees: usize,
    /// Address -> size of every block `malloc` gave out and `free` did not
    /// take back.
    live: BTreeMap<usize, usize>,
    /// `free` of a pointer that is not live, or `malloc` returning a live one.
    bad: usize,
}

thread_local! {
    static MALLOC: RefCell<MallocState> = RefCell::new(MallocState::default());
}

/// `libc::malloc`, counted, failing when armed. Never panics (it is called
/// from the pool through a C function pointer).
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
/// counted as bad and not freed. Never panics.
unsafe extern "C" fn counting_free(block: *mut c_void) {
    MALLOC.with_borrow_mut(|state| {
        state.frees += 1;
        if state.live.remove(&block.addr()).is_none() {
            state.bad += 1;
            return;
        }
        // SAFETY: `block` was live, so `libc::malloc` returned it and it was
        // not freed since; it leaves `live`, so it is freed once.
        unsafe { libc::free(block) }
    })
}

/// What the counting allocator did during one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Calls {
    mallocs: usize,
    failed: bool,
    frees: usize,
}

/// `number * elem_size` as the pool must see it: the byte count, or
/// `SizeOverflow` if it overflows or its 16-byte units exceed `isize::MAX`.
fn byte_count(number: usize, elem_size: usize) -> Result<usize, CymemStatus> {
    let bytes = number
        .checked_mul(elem_size)
        .ok_or(CymemStatus::SizeOverflow)?;
    if units(bytes) > isize::MAX as usize / UNIT {
        Err(CymemStatus::SizeOverflow)
    } else {
        Ok(bytes)
    }
}

/// Units a block of `bytes` bytes takes.
fn units(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

fn status_of(ptr: *const c_void) -> CymemStatus {
    let status = cymem_last_error();
    assert_eq!(
        ptr.is_null(),
        status != CymemStatus::Ok,
        "NULL exactly on failure (last error {status:?})"
    );
    status
}

fn as_result(status: CymemStatus) -> Result<(), CymemStatus> {
    match status {
        CymemStatus::Ok => Ok(()),
        error => Err(error),
    }
}

/// Fills `bytes` with a pattern that starts from `seed`.
fn pattern(bytes: &mut [u8], seed: u8) {
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = seed.wrapping_add(i as u8).wrapping_mul(31);
    }
}

/// A block a pool made.
#[derive(Debug)]
struct Record {
    /// Its handle, once the pool gave it one (at alloc, or at a
    /// `cymem_find` with an `out_handle`).
    handle: Option<CymemHandle>,
    /// The pointer last returned for it: read and written only while live.
    ptr: *mut u8,
    /// Its bytes while live.
    bytes: Option<Vec<u8>>,
}

/// A pool and the blocks it made (live ones, and the last freed ones).
struct Side {
    pool: *mut CymemPool,
    /// Its blocks come from `counting_malloc`.
    counted: bool,
    /// In the order they were made, which is the order of the pool's log
    /// for those without a handle.
    records: Vec<Record>,
    /// The pool id of this pool's handles, once one is known: forged
    /// handles for blocks without one use it.
    pool_id: Option<u64>,
    /// Live blocks by address and by handle (`reindex` after each op).
    by_addr: HashMap<usize, usize>,
    by_handle: HashMap<CymemHandle, usize>,
}

impl Side {
    fn live(&self) -> impl Iterator<Item = (&Record, &Vec<u8>)> + '_ {
        self.records
            .iter()
            .filter_map(|record| Some((record, record.bytes.as_ref()?)))
    }

    fn size(&self) -> usize {
        self.live().map(|(_, bytes)| bytes.len()).sum()
    }

    fn live_count(&self) -> usize {
        self.by_addr.len()
    }

    fn pick(&self, target: u8) -> Option<&Record> {
        match self.records.len() {
            0 => None,
            n => Some(&self.records[usize::from(target) % n]),
        }
    }

    /// The live block that starts at `addr`.
    fn live_at(&self, addr: usize) -> Option<usize> {
        self.by_addr.get(&addr).copied()
    }

    /// The live block whose handle is `handle`: the only one it may name.
    fn live_with(&self, handle: CymemHandle) -> Option<usize> {
        self.by_handle.get(&handle).copied()
    }

    /// The handle ops pass for `record`: its own, or for a block without
    /// one, a forged handle that looks like this pool's (odd generation,
    /// this pool's id if known), which must not reach that block.
    fn handle_of(&self, index: usize) -> CymemHandle {
        self.records[index].handle.unwrap_or(CymemHandle {
            index: index as u32,
            generation: 1,
            pool: self.pool_id.unwrap_or(0),
        })
    }

    /// Forgets the oldest freed records beyond [`MAX_FREED_RECORDS`] and
    /// rebuilds the lookup maps.
    fn reindex(&mut self) {
        let freed = self.records.len() - self.live().count();
        if freed > 2 * MAX_FREED_RECORDS {
            let mut forget = freed - MAX_FREED_RECORDS;
            self.records.retain(|record| {
                let drop = forget > 0 && record.bytes.is_none();
                forget -= usize::from(drop);
                !drop
            });
        }
        self.by_addr.clear();
        self.by_handle.clear();
        for (index, record) in self.records.iter().enumerate() {
            if record.bytes.is_none() {
                continue;
            }
            let previous = self.by_addr.insert(record.ptr.addr(), index);
            assert_eq!(previous, None, "two live blocks at {:?}", record.ptr);
            if let Some(handle) = record.handle {
                let previous = self.by_handle.insert(handle, index);
                assert_eq!(previous, None, "two live blocks with {handle:?}");
            }
        }
    }

    /// Records a block the pool just made.
    fn push(&mut self, handle: Option<CymemHandle>, ptr: *mut u8, bytes: Vec<u8>) {
        if let Some(handle) = handle {
            self.pool_id.get_or_insert(handle.pool);
        }
        self.records.push(Record {
            handle,
            ptr,
            bytes: Some(bytes),
        });
    }
}

/// The two pools and their models.
struct Harness {
    sides: [Side; 2],
    /// Live bytes in both pools above which allocations and growth are
    /// skipped, so that reading every block after every call stays fast.
    max_live_bytes: usize,
}

impl Harness {
    fn new(max_live_bytes: usize) -> Self {
        MALLOC.with_borrow_mut(|state| *state = MallocState::default());
        let system = cymem_pool_new();
        assert_eq!(cymem_last_error(), CymemStatus::Ok);
        // SAFETY: `counting_malloc`/`counting_free` are libc's malloc/free
        // with bookkeeping, and stay callable for the program's lifetime.
        let counted = unsafe { cymem_pool_new_with(Some(counting_malloc), Some(counting_free)) };
        assert_eq!(cymem_last_error(), CymemStatus::Ok);
        assert!(!system.is_null() && !counted.is_null(), "pool_new failed");
        let side = |pool, counted| Side {
            pool,
            counted,
            records: Vec::new(),
            pool_id: None,
            by_addr: HashMap::new(),
            by_handle: HashMap::new(),
        };
        Harness {
            sides: [side(system, false), side(counted, true)],
            max_live_bytes,
        }
    }

    fn pointer(&self, p: usize, probe: PtrProbe) -> *mut c_void {
        let at = |side: &Side, target: u8, delta: isize| {
            side.pick(target).map_or(ptr::null_mut(), |record| {
                record.ptr.wrapping_offset(delta).cast::<c_void>()
            })
        };
        match probe {
            PtrProbe::Record(target) => at(&self.sides[p], target, 0),
            PtrProbe::Foreign(target) => at(&self.sides[1 - p], target, 0),
            PtrProbe::Interior { target, offset } => {
                at(&self.sides[p], target, 1 + isize::from(offset))
            }
            PtrProbe::Near { target, delta } => at(&self.sides[p], target, isize::from(delta)),
            PtrProbe::Raw(addr) => ptr::without_provenance_mut(addr as usize),
            PtrProbe::Null => ptr::null_mut(),
        }
    }

    fn handle(&self, p: usize, probe: HandleProbe) -> CymemHandle {
        let of = |side: &Side, target: u8| match side.records.len() {
            0 => None,
            n => Some(side.handle_of(usize::from(target) % n)),
        };
        match probe {
            HandleProbe::Record(target) => of(&self.sides[p], target).unwrap_or_default(),
            HandleProbe::Foreign(target) => of(&self.sides[1 - p], target).unwrap_or_default(),
            HandleProbe::Edited {
                foreign,
                target,
                edit,
            } => of(&self.sides[p ^ usize::from(foreign)], target).map_or_else(
                CymemHandle::default,
                |mut handle| {
                    edit.apply(&mut handle.index, &mut handle.generation, &mut handle.pool);
                    handle
                },
            ),
            HandleProbe::Raw {
                index,
                generation,
                pool,
            } => CymemHandle {
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

    /// Arms the counting `malloc` to fail if `fail` and pool `p` is the
    /// counting one, runs `call`, disarms, and reports what it did.
    fn observe<R>(&self, p: usize, fail: bool, call: impl FnOnce() -> R) -> (R, Calls) {
        let counts = || MALLOC.with_borrow(|s| (s.calls, s.failures, s.frees));
        let before = counts();
        if fail && self.sides[p].counted {
            MALLOC.with_borrow_mut(|s| s.fail_next = true);
        }
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

    /// The status a call must return that the model expects to end as
    /// `expected`, allocating one new block (`allocates`) on success.
    fn outcome(
        &self,
        p: usize,
        expected: Result<(), CymemStatus>,
        allocates: bool,
        calls: Calls,
    ) -> Result<(), CymemStatus> {
        if !self.sides[p].counted {
            return expected;
        }
        let mallocs = usize::from(expected.is_ok() && allocates);
        assert_eq!(calls.mallocs, mallocs, "malloc_fn calls");
        if calls.failed {
            Err(CymemStatus::OutOfMemory)
        } else {
            expected
        }
    }

    fn apply(&mut self, op: CapiOp) {
        self.apply_op(op);
        for side in &mut self.sides {
            side.reindex();
        }
    }

    fn apply_op(&mut self, op: CapiOp) {
        match op {
            CapiOp::Alloc {
                pool,
                number,
                size,
                fail,
                no_out,
            } => self.alloc(usize::from(pool), number.get(), size.get(), fail, no_out),
            CapiOp::AllocMany { pool, count, seed } => {
                let count = MANY_MIN + usize::from(count) % (MANY_MAX - MANY_MIN + 1);
                self.alloc_many(usize::from(pool), count, seed);
            }
            CapiOp::FreeEvery {
                pool,
                k,
                invert,
                newest_first,
            } => self.free_every(
                usize::from(pool),
                1 + usize::from(k) % 4,
                invert,
                newest_first,
            ),
            CapiOp::FindHandle { pool, target } => {
                let p = usize::from(pool);
                let side = &self.sides[p];
                let handle_less: Vec<*mut u8> = side
                    .live()
                    .filter(|(record, _)| record.handle.is_none())
                    .map(|(record, _)| record.ptr)
                    .collect();
                if handle_less.is_empty() {
                    return;
                }
                let ptr = handle_less[usize::from(target) % handle_less.len()];
                let learned = self.find(p, ptr.cast(), true, true);
                assert!(learned, "find with an out_handle of a handle-less block");
            }
            CapiOp::FreeWithSize { pool, ptr, no_out } => {
                let p = usize::from(pool);
                let ptr = self.pointer(p, ptr);
                let target = self.sides[p].live_at(ptr.addr());
                self.free_with_size(p, ptr, target, no_out);
            }
            CapiOp::Scribble { pool, target, seed } => {
                let side = &self.sides[usize::from(pool)];
                let live: Vec<(*mut u8, usize)> = side
                    .live()
                    .map(|(record, bytes)| (record.ptr, bytes.len()))
                    .filter(|&(_, len)| len != 0) // a zero-byte block must not be touched
                    .collect();
                if live.is_empty() {
                    return;
                }
                let (ptr, len) = live[usize::from(target) % live.len()];
                let slack = units(len) * UNIT - len;
                // SAFETY: the block's memory is whole units (`cymem_alloc`
                // gives `units(len) * 16` bytes), so its last unit's bytes
                // past `len` are the pool's, which it must zero again when
                // the block grows. No reference into it is held.
                unsafe { ptr.add(len).write_bytes(seed | 1, slack) };
            }
            CapiOp::Write { pool, target, seed } => {
                let side = &mut self.sides[usize::from(pool)];
                let live: Vec<usize> = (0..side.records.len())
                    .filter(|&i| side.records[i].bytes.is_some())
                    .collect();
                if live.is_empty() {
                    return;
                }
                let record = &mut side.records[live[usize::from(target) % live.len()]];
                let bytes = record.bytes.as_mut().expect("live");
                if bytes.is_empty() {
                    return; // a zero-byte block must not be touched
                }
                // SAFETY: the block is live and holds `bytes.len()` bytes at
                // the pointer the pool last returned; no reference into it is held.
                let block = unsafe { core::slice::from_raw_parts_mut(record.ptr, bytes.len()) };
                pattern(block, seed);
                pattern(bytes, seed);
            }
            CapiOp::Free { pool, ptr } => {
                let p = usize::from(pool);
                let ptr = self.pointer(p, ptr);
                let target = self.sides[p].live_at(ptr.addr());
                let side = &self.sides[p];
                let (status, calls) = self.observe(p, false, || {
                    // SAFETY: a live pool; `ptr` is only compared.
                    unsafe { cymem_free(side.pool, ptr) }
                });
                self.freed(p, target, status, calls, CymemStatus::InvalidPointer);
            }
            CapiOp::FreeHandle { pool, handle } => {
                let p = usize::from(pool);
                let handle = self.handle(p, handle);
                let target = self.sides[p].live_with(handle);
                let side = &self.sides[p];
                let (status, calls) = self.observe(p, false, || {
                    // SAFETY: a live pool; any handle bits are allowed.
                    unsafe { cymem_free_handle(side.pool, handle) }
                });
                self.freed(p, target, status, calls, CymemStatus::InvalidHandle);
            }
            CapiOp::Realloc {
                pool,
                ptr,
                number,
                size,
                fail,
            } => {
                let p = usize::from(pool);
                let ptr = self.pointer(p, ptr);
                let target = self.sides[p].live_at(ptr.addr());
                let invalid = CymemStatus::InvalidPointer;
                let resized = (number.get(), size.get());
                self.realloc(p, target, invalid, resized, fail, |pool| {
                    // SAFETY: a live pool; `ptr` is only compared.
                    unsafe { cymem_realloc(pool, ptr, number.get(), size.get()) }
                });
            }
            CapiOp::ReallocHandle {
                pool,
                handle,
                number,
                size,
                fail,
            } => {
                let p = usize::from(pool);
                let handle = self.handle(p, handle);
                let target = self.sides[p].live_with(handle);
                let invalid = CymemStatus::InvalidHandle;
                let resized = (number.get(), size.get());
                self.realloc(p, target, invalid, resized, fail, |pool| {
                    // SAFETY: a live pool; any handle bits are allowed.
                    unsafe { cymem_realloc_handle(pool, handle, number.get(), size.get()) }
                });
            }
            CapiOp::Lookup {
                pool,
                handle,
                no_out,
            } => {
                let p = usize::from(pool);
                self.expect_lookup(p, self.handle(p, handle), !no_out);
            }
            CapiOp::Find { pool, ptr, no_out } => {
                let p = usize::from(pool);
                self.find(p, self.pointer(p, ptr), no_out & 1 == 0, no_out & 2 == 0);
            }
            CapiOp::NullPool { call, ptr, handle } => {
                let ptr = self.pointer(0, ptr);
                let handle = self.handle(0, handle);
                null_pool(call, ptr, handle);
            }
            CapiOp::NewWithNull { malloc } => {
                type Malloc = unsafe extern "C" fn(usize) -> *mut c_void;
                type Free = unsafe extern "C" fn(*mut c_void);
                let (m, f): (Option<Malloc>, Option<Free>) = match malloc {
                    Some(true) => (None, Some(counting_free)),
                    Some(false) => (Some(counting_malloc), None),
                    None => (None, None),
                };
                // SAFETY: a NULL function is rejected before any call.
                let pool = unsafe { cymem_pool_new_with(m, f) };
                assert!(pool.is_null(), "pool_new_with accepted a NULL function");
                assert_eq!(cymem_last_error(), CymemStatus::InvalidArgument);
            }
            CapiOp::Message(status) => {
                let last = cymem_last_error();
                let text = cymem_status_message(status);
                assert!(!text.is_null());
                // SAFETY: a static, NUL-terminated string.
                let text = unsafe { CStr::from_ptr(text) };
                assert_eq!(
                    text == c"unknown status",
                    !(0..=6).contains(&status),
                    "message of {status}: {text:?}"
                );
                assert_eq!(
                    cymem_last_error(),
                    last,
                    "status_message set the last error"
                );
            }
        }
    }

    fn alloc(&mut self, p: usize, number: usize, elem_size: usize, fail: bool, no_out: bool) {
        let expected = byte_count(number, elem_size);
        if let Ok(bytes) = expected {
            if !self.has_room(p, bytes) {
                return;
            }
        }
        let side = &self.sides[p];
        let mut handle = SENTINEL;
        let out: *mut CymemHandle = if no_out { ptr::null_mut() } else { &mut handle };
        let (ptr, calls) = self.observe(p, fail, || {
            // SAFETY: a live pool; `out` is NULL or a local.
            unsafe { cymem_alloc(side.pool, number, elem_size, out) }
        });
        let status = status_of(ptr);
        assert_eq!(
            as_result(status),
            self.outcome(p, expected.map(|_| ()), true, calls),
            "alloc({number}, {elem_size}) on pool {p}"
        );
        assert_eq!(calls.frees, 0, "alloc freed");
        let Ok(bytes) = expected else {
            assert_eq!(handle, SENTINEL, "failed alloc wrote its handle");
            return;
        };
        if status != CymemStatus::Ok {
            assert_eq!(handle, SENTINEL, "failed alloc wrote its handle");
            return;
        }
        assert_eq!(ptr.addr() % UNIT, 0, "block not 16-aligned");
        let handle = if no_out {
            assert_eq!(handle, SENTINEL, "alloc without out_handle wrote one");
            None
        } else {
            self.assert_new_handle(handle);
            Some(handle)
        };
        if bytes != 0 {
            // SAFETY: a new block of `bytes` bytes, read through its pointer.
            let block = unsafe { core::slice::from_raw_parts(ptr.cast::<u8>(), bytes) };
            assert!(block.iter().all(|&b| b == 0), "new block not zeroed");
        }
        self.sides[p].push(handle, ptr.cast(), vec![0; bytes]);
    }

    /// Whether pool `p` may take one more block of `bytes` bytes.
    fn has_room(&self, p: usize, bytes: usize) -> bool {
        self.live_bytes() + bytes <= self.max_live_bytes
            && self.sides[p].live_count() < MAX_LIVE_BLOCKS
    }

    /// A handle the pool just gave out must name no other live block.
    fn assert_new_handle(&self, handle: CymemHandle) {
        assert!(
            self.sides.iter().all(|s| s.live_with(handle).is_none()),
            "new handle {handle:?} equals a live one"
        );
    }

    /// `count` blocks of 0 to 16 bytes without a handle, each filled with
    /// a pattern; stops early when the pool has no room.
    fn alloc_many(&mut self, p: usize, count: usize, seed: u8) {
        for i in 0..count {
            let bytes = (usize::from(seed) + 7 * i) % 17;
            // The model's maps are rebuilt only after the op: count the
            // blocks made so far here.
            let live = self.sides[p].live_count() + i;
            if self.live_bytes() + bytes > self.max_live_bytes || live >= MAX_LIVE_BLOCKS {
                return;
            }
            let pool = self.sides[p].pool;
            let (ptr, calls) = self.observe(p, false, || {
                // SAFETY: a live pool; a NULL `out_handle`.
                unsafe { cymem_alloc(pool, bytes, 1, ptr::null_mut()) }
            });
            assert_eq!(status_of(ptr), CymemStatus::Ok, "alloc {i} of {count}");
            let mallocs = usize::from(self.sides[p].counted);
            assert_eq!((calls.mallocs, calls.frees), (mallocs, 0), "alloc {i}");
            assert_eq!(ptr.addr() % UNIT, 0, "block not 16-aligned");
            let mut contents = vec![0; bytes];
            if bytes != 0 {
                // SAFETY: a new block of `bytes` bytes; no reference into it is held.
                let block = unsafe { core::slice::from_raw_parts_mut(ptr.cast::<u8>(), bytes) };
                assert!(block.iter().all(|&b| b == 0), "new block not zeroed");
                pattern(block, seed.wrapping_add(i as u8));
                pattern(&mut contents, seed.wrapping_add(i as u8));
            }
            self.sides[p].push(None, ptr.cast(), contents);
        }
    }

    /// Frees by pointer the live blocks of pool `p` whose rank among them
    /// (oldest first) is a multiple of `k` (or is not, if `invert`).
    fn free_every(&mut self, p: usize, k: usize, invert: bool, newest_first: bool) {
        let side = &self.sides[p];
        let mut chosen: Vec<usize> = (0..side.records.len())
            .filter(|&i| side.records[i].bytes.is_some())
            .enumerate()
            .filter(|&(rank, _)| (rank % k == 0) != invert)
            .map(|(_, index)| index)
            .collect();
        if newest_first {
            chosen.reverse();
        }
        for (n, index) in chosen.into_iter().enumerate() {
            let record = &self.sides[p].records[index];
            let (ptr, bytes) = (record.ptr, record.bytes.as_ref().expect("live").len());
            let pool = self.sides[p].pool;
            let mut size = SENTINEL_SIZE;
            let (status, calls) = self.observe(p, false, || {
                // SAFETY: a live pool; `ptr` is only compared; `size` a local.
                unsafe {
                    if n % 2 == 0 {
                        cymem_free(pool, ptr.cast())
                    } else {
                        cymem_free_with_size(pool, ptr.cast(), &mut size)
                    }
                }
            });
            assert_eq!(
                status,
                CymemStatus::Ok,
                "free {n} of block {index} ({ptr:?})"
            );
            assert_eq!(cymem_last_error(), CymemStatus::Ok);
            let expected = if n % 2 == 0 { SENTINEL_SIZE } else { bytes };
            assert_eq!(size, expected, "size of freed block {index}");
            let frees = usize::from(self.sides[p].counted);
            assert_eq!((calls.mallocs, calls.frees), (0, frees), "free {n}");
            self.sides[p].records[index].bytes = None;
        }
    }

    /// `cymem_free_with_size` of `ptr`, which names the live block `target`
    /// of pool `p` (or none: then it must fail and write nothing).
    fn free_with_size(&mut self, p: usize, ptr: *mut c_void, target: Option<usize>, no_out: bool) {
        let pool = self.sides[p].pool;
        let mut size = SENTINEL_SIZE;
        let out: *mut usize = if no_out { ptr::null_mut() } else { &mut size };
        let (status, calls) = self.observe(p, false, || {
            // SAFETY: a live pool; `ptr` is only compared; `out` NULL or a local.
            unsafe { cymem_free_with_size(pool, ptr, out) }
        });
        let expected = match target {
            Some(index) if !no_out => self.sides[p].records[index]
                .bytes
                .as_ref()
                .expect("live")
                .len(),
            _ => SENTINEL_SIZE,
        };
        self.freed(p, target, status, calls, CymemStatus::InvalidPointer);
        assert_eq!(size, expected, "size written by free_with_size of {ptr:?}");
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
        assert_eq!(
            as_result(status),
            self.outcome(p, expected, false, calls),
            "free on pool {p}"
        );
        let frees = usize::from(self.sides[p].counted && target.is_some());
        assert_eq!(calls.frees, frees, "free_fn calls of a free");
        if let Some(index) = target {
            self.sides[p].records[index].bytes = None;
        }
    }

    /// A `realloc` of `target`, the live block of pool `p` that the pointer
    /// or handle names (if `None`, the call must fail with `invalid`), to
    /// `number * elem_size` bytes.
    fn realloc(
        &mut self,
        p: usize,
        target: Option<usize>,
        invalid: CymemStatus,
        (number, elem_size): (usize, usize),
        fail: bool,
        call: impl FnOnce(*mut CymemPool) -> *mut c_void,
    ) {
        let old = target.map(|index| self.sides[p].records[index].bytes.as_ref().expect("live"));
        let old_bytes = old.map_or(0, Vec::len);
        let expected = match target {
            None => Err(invalid),
            Some(_) => byte_count(number, elem_size),
        };
        if let Ok(bytes) = expected {
            if self.live_bytes() - old_bytes + bytes > self.max_live_bytes {
                return;
            }
        }

        // Same units: resized in place, with or without a handle.
        let moves = expected.is_ok_and(|bytes| units(bytes) != units(old_bytes));
        let pool = self.sides[p].pool;
        let (ptr, calls) = self.observe(p, fail, || call(pool));
        let status = status_of(ptr);
        assert_eq!(
            as_result(status),
            self.outcome(p, expected.map(|_| ()), moves, calls),
            "realloc of {target:?} on pool {p} to ({number}, {elem_size})"
        );
        let frees = usize::from(self.sides[p].counted && moves && status == CymemStatus::Ok);
        assert_eq!(calls.frees, frees, "free_fn calls of a realloc");
        let (Some(index), Ok(bytes), CymemStatus::Ok) = (target, expected, status) else {
            return;
        };
        assert_eq!(ptr.addr() % UNIT, 0, "block not 16-aligned");
        let record = &mut self.sides[p].records[index];
        record.ptr = ptr.cast();
        record.bytes.as_mut().expect("live").resize(bytes, 0);
    }

    /// `cymem_lookup` of `handle` names exactly the model's live block of
    /// pool `p` with that handle, or fails leaving `*out_size` alone.
    fn expect_lookup(&self, p: usize, handle: CymemHandle, out: bool) {
        let side = &self.sides[p];
        let mut size = SENTINEL_SIZE;
        let out_size: *mut usize = if out { &mut size } else { ptr::null_mut() };
        // SAFETY: a live pool; `out_size` is NULL or a local.
        let got = unsafe { cymem_lookup(side.pool, handle, out_size) };
        let status = status_of(got);
        match side.live_with(handle) {
            Some(index) => {
                let record = &side.records[index];
                let bytes = record.bytes.as_ref().expect("live").len();
                assert_eq!(
                    (got.cast::<u8>(), status),
                    (record.ptr, CymemStatus::Ok),
                    "lookup of {handle:?}"
                );
                let expected = if out { bytes } else { SENTINEL_SIZE };
                assert_eq!(size, expected, "lookup size of {handle:?}");
            }
            None => {
                assert_eq!(status, CymemStatus::InvalidHandle, "lookup of {handle:?}");
                assert_eq!(size, SENTINEL_SIZE, "failed lookup wrote its size");
            }
        }
    }

    /// [`expect_find`](Self::expect_find), then the model learns the handle
    /// the pool gave a block that had none. Returns whether it did.
    fn find(&mut self, p: usize, ptr: *const c_void, out_handle: bool, out_size: bool) -> bool {
        let Some((index, handle)) = self.expect_find(p, ptr, out_handle, out_size) else {
            return false;
        };
        self.assert_new_handle(handle);
        let side = &mut self.sides[p];
        side.pool_id.get_or_insert(handle.pool);
        assert_eq!(
            handle.pool,
            side.pool_id.unwrap(),
            "handle of another pool id"
        );
        side.records[index].handle = Some(handle);
        side.by_handle.insert(handle, index);
        true
    }

    /// `cymem_find` of `ptr` names exactly the model's live block of pool
    /// `p` at that address, or fails leaving the outs alone. With an
    /// `out_handle`, a block that has a handle must report it; one that has
    /// none gets one, returned with the block's record index for the model
    /// to learn. It calls neither `malloc_fn` nor `free_fn`.
    fn expect_find(
        &self,
        p: usize,
        ptr: *const c_void,
        out_handle: bool,
        out_size: bool,
    ) -> Option<(usize, CymemHandle)> {
        let side = &self.sides[p];
        let (mut handle, mut size) = (SENTINEL, SENTINEL_SIZE);
        let handle_out: *mut CymemHandle = if out_handle {
            &mut handle
        } else {
            ptr::null_mut()
        };
        let size_out: *mut usize = if out_size { &mut size } else { ptr::null_mut() };
        let (status, calls) = self.observe(p, false, || {
            // SAFETY: a live pool; `ptr` is only compared; the outs are NULL or locals.
            unsafe { cymem_find(side.pool, ptr, handle_out, size_out) }
        });
        assert_eq!(calls, Calls::default(), "find called malloc_fn or free_fn");
        assert_eq!(cymem_last_error(), status, "last error after find");
        let mut learned = None;
        match side.live_at(ptr.addr()) {
            Some(index) => {
                let record = &side.records[index];
                let bytes = record.bytes.as_ref().expect("live").len();
                assert_eq!(status, CymemStatus::Ok, "find of {ptr:?}");
                if out_handle {
                    match record.handle {
                        Some(known) => assert_eq!(handle, known, "find handle of {ptr:?}"),
                        None => {
                            assert_ne!(handle, SENTINEL, "find wrote no handle");
                            learned = Some((index, handle));
                        }
                    }
                }
                if out_size {
                    assert_eq!(size, bytes, "find size of {ptr:?}");
                }
            }
            None => assert_eq!(status, CymemStatus::InvalidPointer, "find of {ptr:?}"),
        }
        if status != CymemStatus::Ok || !out_handle {
            assert_eq!(handle, SENTINEL, "find wrote a handle it should not");
        }
        if status != CymemStatus::Ok || !out_size {
            assert_eq!(size, SENTINEL_SIZE, "find wrote a size it should not");
        }
        learned
    }

    /// `cymem_pool_blocks` reports exactly the model's live blocks of pool
    /// `p`, in the pool's order: those without a handle oldest first, then
    /// the others by slot index; a smaller capacity gets a prefix.
    fn expect_blocks(&self, p: usize) {
        let side = &self.sides[p];
        let mut expected: Vec<(usize, usize)> = side
            .live()
            .filter(|(record, _)| record.handle.is_none())
            .map(|(record, bytes)| (record.ptr.addr(), bytes.len()))
            .collect();
        let mut slots: Vec<(u32, usize, usize)> = side
            .live()
            .filter_map(|(record, bytes)| {
                Some((record.handle?.index, record.ptr.addr(), bytes.len()))
            })
            .collect();
        slots.sort_unstable();
        expected.extend(slots.iter().map(|&(_, addr, len)| (addr, len)));
        let capacity = expected.len() + 1;
        let mut addresses = vec![ptr::null_mut::<c_void>(); capacity];
        let mut sizes = vec![SENTINEL_SIZE; capacity];
        let last = cymem_last_error();
        // SAFETY: a live pool; both arrays hold `capacity` elements.
        let n = unsafe {
            cymem_pool_blocks(
                side.pool,
                addresses.as_mut_ptr(),
                sizes.as_mut_ptr(),
                capacity,
            )
        };
        assert_eq!(cymem_last_error(), last, "pool_blocks set the last error");
        assert_eq!(n, expected.len(), "pool_blocks count of pool {p}");
        let got: Vec<(usize, usize)> = (addresses.iter().map(|a| a.addr()))
            .zip(sizes.iter().copied())
            .take(n)
            .collect();
        assert_eq!(got, expected, "pool_blocks of pool {p}");
        assert_eq!(
            (addresses[n], sizes[n]),
            (ptr::null_mut(), SENTINEL_SIZE),
            "pool_blocks wrote past its count"
        );
        // Half the capacity, sizes not asked for: the first half, in order.
        let half = expected.len() / 2;
        let mut prefix = vec![ptr::null_mut::<c_void>(); half];
        // SAFETY: a live pool; `prefix` holds `half` elements.
        let n = unsafe { cymem_pool_blocks(side.pool, prefix.as_mut_ptr(), ptr::null_mut(), half) };
        assert_eq!(n, half, "pool_blocks with capacity {half}");
        let prefix: Vec<usize> = prefix.iter().map(|a| a.addr()).collect();
        let first: Vec<usize> = expected[..half].iter().map(|&(addr, _)| addr).collect();
        assert_eq!(prefix, first, "pool_blocks prefix of pool {p}");
    }

    /// Compares both pools with the model.
    fn check(&self) {
        let mut ranges = Vec::new();
        for (p, side) in self.sides.iter().enumerate() {
            let last = cymem_last_error();
            // SAFETY: a live pool.
            let (len, size) = unsafe { (cymem_pool_len(side.pool), cymem_pool_size(side.pool)) };
            assert_eq!(cymem_last_error(), last, "pool_len/size set the last error");
            assert_eq!(len, side.live().count(), "pool_len of pool {p}");
            assert_eq!(size, side.size(), "pool_size of pool {p}");
            self.expect_blocks(p);
            for (index, record) in side.records.iter().enumerate() {
                let handle = side.handle_of(index);
                self.expect_lookup(p, handle, true);
                self.expect_lookup(1 - p, handle, true);
                // Asking for a handle would give a block that has none a
                // slot: only ops may do that, so that the model sees it.
                let gives_slot = side
                    .live_at(record.ptr.addr())
                    .is_some_and(|at| side.records[at].handle.is_none());
                let learned = self.expect_find(p, record.ptr.cast(), !gives_slot, true);
                assert_eq!(learned, None);
                let Some(bytes) = &record.bytes else {
                    continue;
                };
                ranges.push((record.ptr.addr(), units(bytes.len()) * UNIT, p));
                if !bytes.is_empty() {
                    // SAFETY: the block is live and holds `bytes.len()` bytes
                    // at the pointer the pool last returned.
                    let block = unsafe { core::slice::from_raw_parts(record.ptr, bytes.len()) };
                    assert!(block == &bytes[..], "contents of {:?}", record.ptr);
                }
            }
        }
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            let ((a, a_len, _), (b, _, _)) = (pair[0], pair[1]);
            assert!(a + a_len <= b, "live blocks overlap: {pair:?}");
        }
        MALLOC.with_borrow(|state| {
            assert_eq!(state.bad, 0, "free_fn got a pointer malloc_fn did not give");
            let counted = &self.sides[1];
            assert_eq!(state.live.len(), counted.live().count(), "malloc'd blocks");
            for &(addr, len, p) in ranges.iter().filter(|range| range.2 == 1) {
                let within = state
                    .live
                    .range(..=addr)
                    .next_back()
                    .is_some_and(|(start, size)| addr + len <= start + size);
                assert!(
                    within,
                    "block {addr:#x} of pool {p} outside malloc'd memory"
                );
            }
        });
    }

    fn destroy(self) {
        for side in &self.sides {
            // SAFETY: each pool is destroyed once, and not used after.
            unsafe { cymem_pool_destroy(side.pool) };
        }
        MALLOC.with_borrow(|state| {
            assert_eq!(state.bad, 0, "free_fn got a pointer malloc_fn did not give");
            assert_eq!(state.live.len(), 0, "malloc'd blocks live after destroy");
        });
    }
}

/// Calls one function with a NULL pool: it must fail with `NullPool` (or
/// return 0) and write nothing.
fn null_pool(call: u8, ptr: *mut c_void, handle: CymemHandle) {
    let pool = ptr::null_mut::<CymemPool>();
    let (mut out_handle, mut out_size) = (SENTINEL, SENTINEL_SIZE);
    // SAFETY: a NULL pool is checked before anything else; the outs are locals.
    unsafe {
        let status = match call % 10 {
            0 => status_of(cymem_alloc(pool, 1, 8, &mut out_handle)),
            1 => cymem_free(pool, ptr),
            2 => cymem_free_handle(pool, handle),
            3 => status_of(cymem_realloc(pool, ptr, 1, 8)),
            4 => status_of(cymem_realloc_handle(pool, handle, 1, 8)),
            5 => status_of(cymem_lookup(pool, handle, &mut out_size)),
            6 => cymem_find(pool, ptr, &mut out_handle, &mut out_size),
            7 => {
                let last = cymem_last_error();
                assert_eq!((cymem_pool_len(pool), cymem_pool_size(pool)), (0, 0));
                cymem_pool_destroy(pool);
                assert_eq!(cymem_last_error(), last, "NULL pool_len/size/destroy");
                return;
            }
            8 => cymem_free_with_size(pool, ptr, &mut out_size),
            _ => status_of(cymem_alloc(pool, usize::MAX, 2, ptr::null_mut())),
        };
        assert_eq!(
            status,
            CymemStatus::NullPool,
            "call {call} with a NULL pool"
        );
        assert_eq!(cymem_last_error(), CymemStatus::NullPool);
    }
    assert_eq!((out_handle, out_size), (SENTINEL, SENTINEL_SIZE));
}

/// Runs `ops` on a new harness, the model checked after each; then both
/// pools are destroyed and no `malloc`ed block may remain.
pub fn run(ops: impl IntoIterator<Item = CapiOp>, max_live_bytes: usize) {
    let mut harness = Harness::new(max_live_bytes);
    harness.check();
    for op in ops {
        harness.apply(op);
        harness.check();
    }
    harness.destroy();
}
