//! The `ops` target: alloc, alloc_slice, insert, free, realloc, reads and
//! writes, get_disjoint_mut, clear, marks with rollback and commit, take,
//! retain, iter and iter_mut (those four in [`crate::walk`]), on
//! several element types and an owned type with a destructor, checked
//! against the [`Model`] after every operation. The `allocator` target runs the same
//! interpreter on a failing allocator.

use core::alloc::Layout;
use std::rc::Rc;

use arbitrary::Arbitrary;
use cymem::{BlockAllocator, DefaultAllocator, Handle, Mark, Pool, PoolError};

use crate::allocator::Tracker;
use crate::elem::{bytes_of, bytes_of_mut, fill_pattern, forge, Elem, Len, Ty};
use crate::model::{address, Model, Owned, OwnedRecord};
use crate::{MAX_LEN, MAX_LIVE_BYTES, MAX_OPS};

/// One operation. `target`s pick a handle ever given out (live or dead),
/// wrapping around.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Op {
    /// `alloc::<ty>(len)`: a zeroed block.
    Alloc {
        /// Element type.
        ty: Ty,
        /// Length.
        len: Len,
    },
    /// `alloc_slice` of `len` elements whose bytes are `seed, seed + 1, ...`.
    AllocSlice {
        /// Element type.
        ty: Ty,
        /// Length.
        len: Len,
        /// First byte of the pattern.
        seed: u8,
    },
    /// `alloc::<ty>(usize::MAX - below_max)`: `SizeOverflow`, or a valid
    /// block for the zero-sized `()`.
    AllocHuge {
        /// Element type.
        ty: Ty,
        /// Distance from `usize::MAX`.
        below_max: u8,
    },
    /// `free`.
    Free {
        /// Handle.
        target: u8,
    },
    /// `realloc`.
    Realloc {
        /// Handle.
        target: u8,
        /// New length.
        to: Resize,
    },
    /// Writes the pattern over the whole block through `get_mut`.
    Write {
        /// Handle.
        target: u8,
        /// First byte of the pattern.
        seed: u8,
    },
    /// Writes the pattern over one element through `IndexMut`.
    WriteElement {
        /// Handle.
        target: u8,
        /// Element (wrapping).
        index: u16,
        /// First byte of the pattern.
        seed: u8,
    },
    /// `get_disjoint_mut` of two handles, retyped to the first's type;
    /// writes the pattern (`seed + k` for the `k`-th) if it succeeds.
    Disjoint2 {
        /// Handles.
        targets: [u8; 2],
        /// First byte of the patterns.
        seed: u8,
    },
    /// As `Disjoint2` with three handles.
    Disjoint3 {
        /// Handles.
        targets: [u8; 3],
        /// First byte of the patterns.
        seed: u8,
    },
    /// `clear`.
    Clear,
    /// Drops the pool and makes a new one on a clone of its allocator: the
    /// old handles (and marks) become another pool's.
    Reset,
    /// `insert` of one element whose bytes are `seed, seed + 1, ...`.
    Insert {
        /// Element type.
        ty: Ty,
        /// First byte of the pattern.
        seed: u8,
    },
    /// `insert` of an [`Owned`] value, which counts its drops.
    InsertOwned {
        /// The value.
        value: u64,
    },
    /// `free` of an owned value's handle (live or dead).
    FreeOwned {
        /// Owned handle (wrapping).
        target: u8,
    },
    /// `mark`.
    Mark,
    /// `rollback` of a mark ever made (outstanding, ended, or of a pool
    /// since reset).
    Rollback {
        /// Mark (wrapping).
        target: u8,
    },
    /// `commit` of a mark ever made.
    Commit {
        /// Mark (wrapping).
        target: u8,
    },
    /// `take` of a handle ever given out: its value if it is live and one
    /// element long, else `NotOneElement` (live) or `InvalidHandle` (dead).
    Take {
        /// Handle.
        target: u8,
    },
    /// `take` of an owned value's handle (live or dead).
    TakeOwned {
        /// Owned handle (wrapping).
        target: u8,
    },
    /// `retain::<ty>`, keeping the blocks for which a hash of `seed` and the
    /// handle is even, and writing the pattern of `seed` into them.
    Retain {
        /// Element type.
        ty: Ty,
        /// Picks the blocks kept and the pattern written.
        seed: u8,
    },
    /// `retain::<Owned>`, as `Retain`; kept values get `seed` added.
    RetainOwned {
        /// Picks the blocks kept.
        seed: u8,
    },
    /// `iter::<ty>` compared with the model, or with a seed `iter_mut::<ty>`
    /// writing the pattern of `seed + k` into the `k`-th block.
    Iter {
        /// Element type.
        ty: Ty,
        /// Writes if given.
        seed: Option<u8>,
    },
}

/// The new length of a `realloc`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Resize {
    /// The same length.
    Same,
    /// Longer by at least one (up to `MAX_LEN`).
    Grow(Len),
    /// Shorter by at least one (down to 0).
    Shrink(Len),
    /// Any length up to `MAX_LEN`.
    To(Len),
    /// `usize::MAX - n`: `SizeOverflow` unless the elements are zero-sized.
    Huge(u8),
}

impl Resize {
    fn new_len(self, old: usize) -> usize {
        match self {
            Resize::Same => old,
            Resize::Grow(by) if old < MAX_LEN => (old + by.get().max(1)).min(MAX_LEN),
            Resize::Grow(_) => old,
            Resize::Shrink(by) => old.saturating_sub(by.get().max(1)),
            Resize::To(len) => len.get(),
            Resize::Huge(n) => usize::MAX - usize::from(n),
        }
    }
}

/// The `ops` target on the default allocator.
pub fn run(ops: Vec<Op>) {
    let mut harness = Harness::new(DefaultAllocator, None);
    harness.run(&ops);
}

/// A pool, its model, and (for the `allocator` target) its allocator's
/// tracker.
pub struct Harness<A: BlockAllocator + Clone> {
    pub(crate) pool: Pool<A>,
    pub(crate) model: Model,
    pub(crate) tracker: Option<Rc<Tracker>>,
    /// Outstanding marks, outermost first, with the model's record and
    /// owned-record counts when each was made.
    stack: Vec<(Mark, usize, usize)>,
    /// Every mark ever made.
    marks: Vec<Mark>,
}

/// What the allocator did during one pool call.
struct Calls {
    attempts: usize,
    failed: bool,
}

impl<A: BlockAllocator + Clone> Harness<A> {
    /// An empty pool on `allocator`; `tracker`, if given, must be the one
    /// `allocator` reports to.
    pub fn new(allocator: A, tracker: Option<Rc<Tracker>>) -> Self {
        Harness {
            pool: Pool::with_allocator(allocator),
            model: Model::default(),
            tracker,
            stack: Vec::new(),
            marks: Vec::new(),
        }
    }

    /// Applies up to [`MAX_OPS`] operations, checking after each.
    pub fn run(&mut self, ops: &[Op]) {
        self.check();
        for &op in ops.iter().take(MAX_OPS) {
            self.apply(op);
            self.check();
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Alloc { ty, len } => with_elem!(ty, T => self.alloc::<T>(len.get(), None)),
            Op::AllocSlice { ty, len, seed } => {
                with_elem!(ty, T => self.alloc::<T>(len.get(), Some(seed)))
            }
            Op::AllocHuge { ty, below_max } => {
                let len = usize::MAX - usize::from(below_max);
                with_elem!(ty, T => self.alloc::<T>(len, None))
            }
            Op::Free { target } => self.on_target(target, |h, i| with_elem!(h.ty_of(i), T => h.free::<T>(i))),
            Op::Realloc { target, to } => {
                self.on_target(target, |h, i| with_elem!(h.ty_of(i), T => h.realloc::<T>(i, to)))
            }
            Op::Write { target, seed } => {
                self.on_target(target, |h, i| with_elem!(h.ty_of(i), T => h.write::<T>(i, seed)))
            }
            Op::WriteElement {
                target,
                index,
                seed,
            } => self.on_target(target, |h, i| {
                with_elem!(h.ty_of(i), T => h.write_element::<T>(i, usize::from(index), seed))
            }),
            Op::Disjoint2 { targets, seed } => self.disjoint(targets, seed),
            Op::Disjoint3 { targets, seed } => self.disjoint(targets, seed),
            Op::Clear => {
                self.pool.clear();
                self.model.kill_all();
                self.stack.clear();
                if let Some(tracker) = &self.tracker {
                    assert_eq!(tracker.live_blocks(), 0, "blocks live after clear");
                }
            }
            Op::Reset => {
                let allocator = self.pool.allocator().clone();
                self.pool = Pool::with_allocator(allocator);
                self.model.kill_all();
                self.stack.clear();
                if let Some(tracker) = &self.tracker {
                    assert_eq!(tracker.live_blocks(), 0, "blocks live after drop");
                }
            }
            Op::Insert { ty, seed } => with_elem!(ty, T => self.insert::<T>(seed)),
            Op::InsertOwned { value } => self.insert_owned(value),
            Op::FreeOwned { target } => self.free_owned(target),
            Op::Mark => {
                let (mark, calls) = self.observe(|pool| pool.mark());
                assert_eq!(calls.attempts, 0, "mark used the block allocator");
                let mark = mark.expect("mark");
                self.stack
                    .push((mark, self.model.records.len(), self.model.owned.len()));
                self.marks.push(mark);
            }
            Op::Rollback { target } => self.end_mark(target, true),
            Op::Commit { target } => self.end_mark(target, false),
            Op::Take { target } => {
                self.on_target(target, |h, i| with_elem!(h.ty_of(i), T => h.take::<T>(i)))
            }
            Op::TakeOwned { target } => self.take_owned(target),
            Op::Retain { ty, seed } => with_elem!(ty, T => self.retain::<T>(seed)),
            Op::RetainOwned { seed } => self.retain_owned(seed),
            Op::Iter { ty, seed } => with_elem!(ty, T => self.iter::<T>(seed)),
        }
    }

    fn insert<T: Elem>(&mut self, seed: u8) {
        let mut value = T::zeroed();
        fill_pattern(bytes_of_mut(core::slice::from_mut(&mut value)), seed);
        let bytes = bytes_of(core::slice::from_ref(&value)).to_vec();
        let (result, calls) = self.observe(|pool| pool.insert(value));
        assert_eq!(
            result.map(|_| ()),
            Self::expected(Some(Layout::new::<T>()), &calls),
            "insert::<{:?}>",
            T::TY
        );
        if let Ok(handle) = result {
            self.model.insert(&self.pool, handle, 1, bytes);
        }
    }

    fn insert_owned(&mut self, value: u64) {
        let owned = Owned::new(value, &self.model.owned_live);
        let (result, calls) = self.observe(|pool| pool.insert(owned));
        assert_eq!(
            result.map(|_| ()),
            Self::expected(Some(Layout::new::<Owned>()), &calls),
            "insert of an owned value"
        );
        if let Ok(handle) = result {
            self.model.owned.push(OwnedRecord {
                raw: crate::elem::raw(handle),
                value: Some(value),
            });
        }
    }

    fn free_owned(&mut self, target: u8) {
        if self.model.owned.is_empty() {
            return;
        }
        let index = usize::from(target) % self.model.owned.len();
        let record = &mut self.model.owned[index];
        let handle = forge::<Owned>(record.raw);
        let expected = match record.value.take() {
            Some(_) => Ok(()),
            None => Err(PoolError::InvalidHandle),
        };
        assert_eq!(self.pool.free(handle), expected, "free of {handle:?}");
    }

    /// Rolls back or commits a mark ever made: only outstanding marks of the
    /// current pool are accepted, and end the marks made after them.
    fn end_mark(&mut self, target: u8, rollback: bool) {
        if self.marks.is_empty() {
            return;
        }
        let mark = self.marks[usize::from(target) % self.marks.len()];
        let (result, calls) = self.observe(|pool| {
            if rollback {
                pool.rollback(mark)
            } else {
                pool.commit(mark)
            }
        });
        assert_eq!(calls.attempts, 0, "ending a mark allocated");
        match self.stack.iter().position(|&(m, _, _)| m == mark) {
            Some(depth) => {
                assert_eq!(result, Ok(()), "end of outstanding {mark:?}");
                let (_, records, owned) = self.stack[depth];
                self.stack.truncate(depth);
                if rollback {
                    self.model.kill_since(records, owned);
                }
            }
            None => assert_eq!(result, Err(PoolError::InvalidMark), "end of ended {mark:?}"),
        }
    }

    pub(crate) fn on_target(&mut self, target: u8, f: impl FnOnce(&mut Self, usize)) {
        if let Some(index) = self.model.pick(target) {
            f(self, index);
        }
    }

    pub(crate) fn ty_of(&self, index: usize) -> Ty {
        self.model.records[index].ty
    }

    /// Runs `call` on the pool and reports what the allocator did.
    fn observe<R>(&mut self, call: impl FnOnce(&mut Pool<A>) -> R) -> (R, Calls) {
        let before = self
            .tracker
            .as_ref()
            .map_or((0, 0), |t| (t.attempts(), t.failures()));
        let result = call(&mut self.pool);
        let after = self
            .tracker
            .as_ref()
            .map_or((0, 0), |t| (t.attempts(), t.failures()));
        let calls = Calls {
            attempts: after.0 - before.0,
            failed: after.1 > before.1,
        };
        assert!(
            calls.attempts <= 1,
            "one pool call allocated {} times",
            calls.attempts
        );
        (result, calls)
    }

    /// The result a call that may allocate `layout` must have given.
    fn expected(layout: Option<Layout>, calls: &Calls) -> Result<(), PoolError> {
        match layout {
            None => {
                assert_eq!(
                    calls.attempts, 0,
                    "an overflowing size reached the allocator"
                );
                Err(PoolError::SizeOverflow)
            }
            Some(layout) if layout.size() == 0 => {
                assert_eq!(calls.attempts, 0, "a zero-byte block reached the allocator");
                Ok(())
            }
            Some(_) if calls.failed => Err(PoolError::OutOfMemory),
            Some(_) => Ok(()),
        }
    }

    fn alloc<T: Elem>(&mut self, len: usize, seed: Option<u8>) {
        let layout = Layout::array::<T>(len).ok();
        if let Some(layout) = layout {
            if self.model.size() + layout.size() > MAX_LIVE_BYTES {
                return;
            }
        }
        let mut bytes = vec![0; layout.map_or(0, |l| l.size())];
        let (result, calls) = match seed {
            None => self.observe(|pool| pool.alloc::<T>(len)),
            Some(seed) => {
                // Only `Len`-sized here: a `Vec` of `usize::MAX` `()`s is not built.
                let mut values = vec![T::zeroed(); len];
                fill_pattern(bytes_of_mut(&mut values), seed);
                fill_pattern(&mut bytes, seed);
                self.observe(|pool| pool.alloc_slice(&values))
            }
        };
        assert_eq!(
            result.map(|_| ()),
            Self::expected(layout, &calls),
            "alloc::<{:?}>({len})",
            T::TY
        );
        if let Ok(handle) = result {
            self.model.insert(&self.pool, handle, len, bytes);
        }
    }

    pub(crate) fn handle<T: Elem>(&self, index: usize) -> Handle<T> {
        forge(self.model.records[index].raw)
    }

    fn free<T: Elem>(&mut self, index: usize) {
        let handle = self.handle::<T>(index);
        let (result, calls) = self.observe(|pool| pool.free(handle));
        assert_eq!(calls.attempts, 0, "free allocated");
        let record = &mut self.model.records[index];
        if record.block.take().is_some() {
            assert_eq!(result, Ok(()), "free of live {handle:?}");
        } else {
            assert_eq!(
                result,
                Err(PoolError::InvalidHandle),
                "free of dead {handle:?}"
            );
        }
    }

    fn realloc<T: Elem>(&mut self, index: usize, to: Resize) {
        let handle = self.handle::<T>(index);
        let Some(block) = &self.model.records[index].block else {
            let len = to.new_len(1);
            let (result, _) = self.observe(|pool| pool.realloc(handle, len));
            // Which error wins for a dead handle and an overflowing length
            // is not specified; either leaves the pool unchanged.
            let overflow = Layout::array::<T>(len).is_err();
            assert!(
                result == Err(PoolError::InvalidHandle)
                    || (overflow && result == Err(PoolError::SizeOverflow)),
                "realloc of dead {handle:?} to {len}: {result:?}"
            );
            return;
        };
        let new_len = to.new_len(block.len);
        let layout = Layout::array::<T>(new_len).ok();
        if let Some(layout) = layout {
            if self.model.size() - block.bytes.len() + layout.size() > MAX_LIVE_BYTES {
                return;
            }
        }
        let old_len = block.len;
        let (result, calls) = self.observe(|pool| pool.realloc(handle, new_len));
        let expected = if new_len == old_len {
            Ok(())
        } else {
            Self::expected(layout, &calls)
        };
        assert_eq!(
            result, expected,
            "realloc of {handle:?} from {old_len} to {new_len}"
        );
        if result.is_ok() {
            let addr = address(&self.pool, handle);
            let block = self.model.records[index].block.as_mut().expect("live");
            block.len = new_len;
            block.bytes.resize(new_len * core::mem::size_of::<T>(), 0);
            block.addr = addr;
        }
    }

    fn write<T: Elem>(&mut self, index: usize, seed: u8) {
        let handle = self.handle::<T>(index);
        let got = self.pool.get_mut(handle);
        match &mut self.model.records[index].block {
            Some(block) => {
                let got = got.expect("get_mut of a live handle");
                fill_pattern(bytes_of_mut(got), seed);
                fill_pattern(&mut block.bytes, seed);
            }
            None => assert!(got.is_none(), "get_mut of dead {handle:?}"),
        }
    }

    fn write_element<T: Elem>(&mut self, index: usize, element: usize, seed: u8) {
        let handle = self.handle::<T>(index);
        let Some(block) = &mut self.model.records[index].block else {
            return; // check() tries every method on dead handles
        };
        if block.len == 0 {
            return;
        }
        let element = element % block.len;
        let size = core::mem::size_of::<T>();
        fill_pattern(
            bytes_of_mut(core::slice::from_mut(&mut self.pool[handle][element])),
            seed,
        );
        fill_pattern(&mut block.bytes[element * size..(element + 1) * size], seed);
    }

    /// `get_disjoint_mut` of the picked handles, all retyped to the first's
    /// type: `Some` exactly if all are live, of that type and distinct.
    fn disjoint<const N: usize>(&mut self, targets: [u8; N], seed: u8) {
        let Some(first) = self.model.pick(targets[0]) else {
            return;
        };
        with_elem!(self.ty_of(first), T => self.disjoint_as::<T, N>(targets, seed))
    }

    fn disjoint_as<T: Elem, const N: usize>(&mut self, targets: [u8; N], seed: u8) {
        let indices = targets.map(|target| self.model.pick(target).expect("records exist"));
        let handles = indices.map(|index| self.handle::<T>(index));
        let expect_some = indices.iter().enumerate().all(|(k, &index)| {
            let record = &self.model.records[index];
            record.ty == T::TY && record.block.is_some() && !indices[..k].contains(&index)
        });
        let got = self.pool.get_disjoint_mut(handles);
        assert_eq!(
            got.is_some(),
            expect_some,
            "get_disjoint_mut({handles:?}) of records {indices:?}"
        );
        let Some(blocks) = got else {
            return;
        };
        for (k, (got, index)) in blocks.into_iter().zip(indices).enumerate() {
            let block = self.model.records[index].block.as_mut().expect("live");
            assert!(
                bytes_of(got) == &block.bytes[..],
                "get_disjoint_mut contents"
            );
            let seed = seed.wrapping_add(k as u8);
            fill_pattern(bytes_of_mut(got), seed);
            fill_pattern(&mut block.bytes, seed);
        }
    }

    /// Compares pool and model; with a tracker, also the allocator's live
    /// blocks with the pool's blocks of non-zero size.
    fn check(&mut self) {
        self.model.check(&mut self.pool);
        assert_eq!(self.pool.zone_depth(), self.stack.len(), "zone_depth");
        let Some(tracker) = &self.tracker else {
            return;
        };
        let mut blocks = 0;
        for (ty, block) in self.model.live() {
            if block.bytes.is_empty() {
                continue;
            }
            blocks += 1;
            let layout = Layout::from_size_align(block.bytes.len(), ty.align()).expect("layout");
            assert_eq!(
                tracker.layout_of(block.addr),
                Some(layout),
                "block at {:#x} not live in the allocator with its layout",
                block.addr
            );
        }
        // Every owned value is a block of non-zero size.
        let blocks = blocks + self.model.owned_len();
        assert_eq!(tracker.live_blocks(), blocks, "allocator's live blocks");
        assert_eq!(
            tracker.live_bytes(),
            self.pool.size(),
            "allocator's live bytes"
        );
    }
}
