//! Model test for zones: random sequences of allocations, owned values,
//! frees, reallocs, writes, `take`, `retain`, `iter_mut`, marks, rollbacks,
//! commits, closure zones (some panicking) and clears, run against a pool and
//! a plain model, compared after every step (`iter` included: the live
//! blocks of each type, in the order their handles sort).
//!
//! The model keeps every block ever allocated in allocation order, so "the
//! blocks allocated after a mark" are a suffix of it: a mark is a position in
//! that list, and a rollback kills the live records past it. Marks form a
//! stack; any mark ever made (or one of another pool) can be picked, and
//! must be rejected unless it is on the stack. Owned values count their live
//! instances, which must equal the model's after every step (each dropped
//! exactly once), and the counting allocator's live blocks must be exactly
//! the model's non-empty ones.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use common::{FailingAllocator, Tracker};
use cymem::{Handle, Mark, Pool, PoolError};
use proptest::prelude::*;
use proptest::sample::Index;

/// An owned value that counts its live instances.
#[derive(Debug)]
struct Owned {
    text: String,
    live: Arc<AtomicIsize>,
}

impl Owned {
    fn new(text: String, live: &Arc<AtomicIsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Owned {
            text,
            live: Arc::clone(live),
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A block the pool gave out, in allocation order; `None` once dead.
#[derive(Debug)]
enum Record {
    Bytes(Handle<u8>, Option<Vec<u8>>),
    Owned(Handle<Owned>, Option<String>),
}

impl Record {
    fn is_live(&self) -> bool {
        match self {
            Record::Bytes(_, data) => data.is_some(),
            Record::Owned(_, text) => text.is_some(),
        }
    }

    fn kill(&mut self) {
        match self {
            Record::Bytes(_, data) => *data = None,
            Record::Owned(_, text) => *text = None,
        }
    }
}

/// An operation that may also run inside a closure zone.
#[derive(Clone, Debug)]
enum Step {
    Alloc {
        len: usize,
        fail: bool,
    },
    Insert {
        text: String,
        fail: bool,
    },
    Free {
        pick: Index,
    },
    Realloc {
        pick: Index,
        len: usize,
    },
    Write {
        pick: Index,
        seed: u8,
    },
    /// `take` of a live record, or of any record ever made (`any`).
    Take {
        pick: Index,
        any: bool,
    },
    /// `retain` of the bytes or the owned blocks, keeping those for which
    /// [`keeps`] of the seed and handle is true, and writing to them.
    Retain {
        bytes: bool,
        seed: u8,
    },
    /// `iter_mut` over the bytes blocks, writing the pattern of `seed`
    /// (or only reading, compared with the model).
    IterMut {
        seed: Option<u8>,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Step(Step),
    Mark,
    Rollback { pick: Index },
    Commit { pick: Index },
    Foreign,
    Zone { body: Vec<Step>, panic: bool },
    Clear,
}

fn step() -> impl Strategy<Value = Step> {
    let len = prop_oneof![
        1 => Just(0usize),
        1 => Just(1usize),
        4 => 1..64usize,
        1 => 200..400usize,
    ];
    let fail = prop::bool::weighted(0.1);
    prop_oneof![
        4 => (len.clone(), fail).prop_map(|(len, fail)| Step::Alloc { len, fail }),
        3 => ("[a-z]{0,12}", fail).prop_map(|(text, fail)| Step::Insert { text, fail }),
        2 => any::<Index>().prop_map(|pick| Step::Free { pick }),
        2 => (any::<Index>(), len).prop_map(|(pick, len)| Step::Realloc { pick, len }),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(pick, seed)| Step::Write { pick, seed }),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(pick, any)| Step::Take { pick, any }),
        1 => (any::<bool>(), any::<u8>()).prop_map(|(bytes, seed)| Step::Retain { bytes, seed }),
        1 => prop::option::of(any::<u8>()).prop_map(|seed| Step::IterMut { seed }),
    ]
}

/// The predicate of `Step::Retain`: a bit of the handle's bits mixed with
/// the seed, so every seed keeps another subset.
fn keeps<T: 'static>(seed: u8, handle: Handle<T>) -> bool {
    let words: [u32; 4] = bytemuck::cast(handle);
    let mixed =
        words[0].wrapping_mul(0x9e37_79b9) ^ words[1] ^ u32::from(seed).wrapping_mul(0x85eb_ca6b);
    mixed.count_ones().is_multiple_of(2)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => step().prop_map(Op::Step),
        3 => Just(Op::Mark),
        3 => any::<Index>().prop_map(|pick| Op::Rollback { pick }),
        1 => any::<Index>().prop_map(|pick| Op::Commit { pick }),
        1 => Just(Op::Foreign),
        2 => (prop::collection::vec(step(), 0..8), prop::bool::weighted(0.2))
            .prop_map(|(body, panic)| Op::Zone { body, panic }),
        1 => Just(Op::Clear),
    ]
}

struct Harness {
    pool: Pool<FailingAllocator>,
    tracker: Arc<Tracker>,
    live: Arc<AtomicIsize>,
    records: Vec<Record>,
    /// Outstanding marks with their position in `records` and in the zone
    /// log, outermost first.
    stack: Vec<(Mark, usize, usize)>,
    /// Allocations the pool's zone log holds: made while a mark was
    /// outstanding, and not popped by a rollback since.
    logged: usize,
    /// Every mark ever made, outstanding or not.
    marks: Vec<Mark>,
    /// 1 while a closure zone's body runs (its mark is not in `stack`).
    in_zone: usize,
    other: Pool,
    foreign: Mark,
}

impl Harness {
    fn new() -> Self {
        let (allocator, tracker) = FailingAllocator::new();
        let mut other = Pool::new();
        let foreign = other.mark().unwrap();
        Harness {
            pool: Pool::with_allocator(allocator),
            tracker,
            live: Arc::new(AtomicIsize::new(0)),
            records: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            in_zone: 0,
            logged: 0,
            other,
            foreign,
        }
    }

    /// Live records, picked by `pick`.
    fn pick_live(&self, pick: Index) -> Option<usize> {
        let live: Vec<usize> = (0..self.records.len())
            .filter(|&i| self.records[i].is_live())
            .collect();
        (!live.is_empty()).then(|| live[pick.index(live.len())])
    }

    fn step(&mut self, step: &Step) {
        match *step {
            Step::Alloc { len, fail } => {
                self.tracker.fail_next(usize::from(fail));
                match self.pool.alloc::<u8>(len) {
                    Ok(h) => {
                        assert!(!fail || len == 0, "alloc did not fail as scheduled");
                        self.records.push(Record::Bytes(h, Some(vec![0; len])));
                        self.log();
                    }
                    Err(e) => assert_eq!((e, fail, len > 0), (PoolError::OutOfMemory, true, true)),
                }
            }
            Step::Insert { ref text, fail } => {
                self.tracker.fail_next(usize::from(fail));
                match self.pool.insert(Owned::new(text.clone(), &self.live)) {
                    Ok(h) => {
                        assert!(!fail, "insert did not fail as scheduled");
                        self.records.push(Record::Owned(h, Some(text.clone())));
                        self.log();
                    }
                    Err(e) => assert_eq!((e, fail), (PoolError::OutOfMemory, true)),
                }
            }
            Step::Free { pick } => {
                let Some(i) = self.pick_live(pick) else {
                    return;
                };
                let result = match &self.records[i] {
                    Record::Bytes(h, _) => self.pool.free(*h),
                    Record::Owned(h, _) => self.pool.free(*h),
                };
                assert_eq!(result, Ok(()));
                self.records[i].kill();
            }
            Step::Realloc { pick, len } => {
                let Some(i) = self.pick_live(pick) else {
                    return;
                };
                if let Record::Bytes(h, Some(data)) = &mut self.records[i] {
                    self.pool.realloc(*h, len).unwrap();
                    data.resize(len, 0);
                }
            }
            Step::Take { pick, any } => self.take(pick, any),
            Step::Retain { bytes, seed } => self.retain(bytes, seed),
            Step::IterMut { seed } => self.iter_mut(seed),
            Step::Write { pick, seed } => {
                let Some(i) = self.pick_live(pick) else {
                    return;
                };
                match &mut self.records[i] {
                    Record::Bytes(h, Some(data)) => {
                        for (k, (x, m)) in self.pool[*h].iter_mut().zip(data.iter_mut()).enumerate()
                        {
                            *x = seed.wrapping_add(k as u8);
                            *m = *x;
                        }
                    }
                    Record::Owned(h, Some(text)) => {
                        self.pool[*h][0].text.push(char::from(b'a' + seed % 26));
                        text.push(char::from(b'a' + seed % 26));
                    }
                    _ => unreachable!("picked a dead record"),
                }
            }
        }
        self.tracker.fail_next(0);
    }

    /// `take` moves a one-element block's value out and frees it; other
    /// lengths are `NotOneElement` and leave it; dead handles are invalid.
    fn take(&mut self, pick: Index, any: bool) {
        let i = if any && !self.records.is_empty() {
            pick.index(self.records.len())
        } else {
            let Some(i) = self.pick_live(pick) else {
                return;
            };
            i
        };
        match &self.records[i] {
            Record::Bytes(h, Some(data)) => {
                let result = self.pool.take(*h);
                if data.len() == 1 {
                    assert_eq!(result, Ok(data[0]));
                    self.records[i].kill();
                } else {
                    assert_eq!(result, Err(PoolError::NotOneElement));
                }
            }
            Record::Owned(h, Some(text)) => {
                let live = self.live.load(Ordering::SeqCst);
                let value = self.pool.take(*h).expect("take of a live owned value");
                assert_eq!(&value.text, text);
                assert_eq!(self.live.load(Ordering::SeqCst), live, "moved, not dropped");
                drop(value);
                self.records[i].kill();
            }
            Record::Bytes(h, None) => {
                assert_eq!(self.pool.take(*h), Err(PoolError::InvalidHandle));
            }
            Record::Owned(h, None) => {
                assert_eq!(self.pool.take(*h).err(), Some(PoolError::InvalidHandle));
            }
        }
    }

    /// `retain` over one type: the closure must see exactly the live blocks
    /// of that type, in handle order, with the model's contents; the model
    /// then frees the same ones and applies the same writes.
    fn retain(&mut self, bytes: bool, seed: u8) {
        let Harness { pool, records, .. } = self;
        let mut visited = Vec::new();
        if bytes {
            pool.retain::<u8>(|h, block| {
                let data = records.iter().find_map(|r| match r {
                    Record::Bytes(rh, Some(data)) if *rh == h => Some(data),
                    _ => None,
                });
                assert_eq!(Some(&*block), data.map(|d| &d[..]), "retain saw {h:?}");
                visited.push(bytemuck::cast::<_, [u32; 4]>(h));
                block.iter_mut().for_each(|x| *x ^= seed);
                keeps(seed, h)
            });
        } else {
            pool.retain::<Owned>(|h, block| {
                let text = records.iter().find_map(|r| match r {
                    Record::Owned(rh, Some(text)) if *rh == h => Some(text),
                    _ => None,
                });
                assert_eq!(Some(&block[0].text), text, "retain saw {h:?}");
                visited.push(bytemuck::cast::<_, [u32; 4]>(h));
                block[0].text.push(char::from(b'a' + seed % 26));
                keeps(seed, h)
            });
        }
        let mut expected = Vec::new();
        for record in records.iter_mut() {
            match record {
                Record::Bytes(h, Some(data)) if bytes => {
                    expected.push(*h);
                    data.iter_mut().for_each(|x| *x ^= seed);
                    if !keeps(seed, *h) {
                        record.kill();
                    }
                }
                Record::Owned(h, Some(text)) if !bytes => {
                    expected.push(bytemuck::cast(*h));
                    text.push(char::from(b'a' + seed % 26));
                    if !keeps(seed, *h) {
                        record.kill();
                    }
                }
                _ => {}
            }
        }
        expected.sort();
        let expected: Vec<[u32; 4]> = expected.into_iter().map(bytemuck::cast).collect();
        assert_eq!(
            visited, expected,
            "retain visits the live blocks in slot order"
        );
    }

    /// `iter_mut` over the bytes blocks, writing a pattern if `seed` is given.
    fn iter_mut(&mut self, seed: Option<u8>) {
        let Harness { pool, records, .. } = self;
        for (h, block) in pool.iter_mut::<u8>() {
            let data = records
                .iter_mut()
                .find_map(|r| match r {
                    Record::Bytes(rh, Some(data)) if *rh == h => Some(data),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("iter_mut yields {h:?}, not live in the model"));
            assert_eq!(&*block, &data[..]);
            if let Some(seed) = seed {
                for (k, (x, m)) in block.iter_mut().zip(data.iter_mut()).enumerate() {
                    *x = seed.wrapping_mul(3).wrapping_add(k as u8);
                    *m = *x;
                }
            }
        }
        // Which blocks and in what order: `check` compares `iter`.
    }

    /// `iter` of both types equals the model's live blocks sorted by handle.
    fn check_iter(&self) {
        let mut bytes = Vec::new();
        let mut owned = Vec::new();
        for record in &self.records {
            match record {
                Record::Bytes(h, Some(data)) => bytes.push((*h, data.clone())),
                Record::Owned(h, Some(text)) => owned.push((*h, text.clone())),
                _ => {}
            }
        }
        bytes.sort_by_key(|&(h, _)| h);
        owned.sort_by_key(|&(h, _)| h);
        let got: Vec<_> = self
            .pool
            .iter::<u8>()
            .map(|(h, b)| (h, b.to_vec()))
            .collect();
        assert_eq!(got, bytes, "iter::<u8>");
        let got: Vec<_> = self
            .pool
            .iter::<Owned>()
            .map(|(h, b)| (h, b.iter().map(|o| o.text.clone()).collect::<Vec<_>>()))
            .collect();
        let owned: Vec<_> = owned.into_iter().map(|(h, t)| (h, vec![t])).collect();
        assert_eq!(got, owned, "iter::<Owned>");
    }

    /// An allocation succeeded: the pool logs it if a mark is outstanding.
    fn log(&mut self) {
        if !self.stack.is_empty() || self.in_zone > 0 {
            self.logged += 1;
        }
    }

    /// Marks ended: without marks, the log is empty.
    fn forget_log_if_unmarked(&mut self) {
        if self.stack.is_empty() && self.in_zone == 0 {
            self.logged = 0;
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Step(step) => self.step(step),
            Op::Mark => {
                let mark = self.pool.mark().unwrap();
                self.stack.push((mark, self.records.len(), self.logged));
                self.marks.push(mark);
            }
            Op::Rollback { pick } => self.end(*pick, true),
            Op::Commit { pick } => self.end(*pick, false),
            Op::Foreign => {
                assert_eq!(
                    self.pool.rollback(self.foreign),
                    Err(PoolError::InvalidMark)
                );
                assert_eq!(self.pool.commit(self.foreign), Err(PoolError::InvalidMark));
                assert_eq!(self.pool.allocations_since(self.foreign), None);
            }
            Op::Zone { body, panic } => self.zone(body, *panic),
            Op::Clear => {
                self.pool.clear();
                self.records.iter_mut().for_each(Record::kill);
                self.stack.clear();
                self.logged = 0;
            }
        }
    }

    /// Rolls back or commits a mark ever made: only outstanding ones work.
    fn end(&mut self, pick: Index, rollback: bool) {
        if self.marks.is_empty() {
            return;
        }
        let mark = self.marks[pick.index(self.marks.len())];
        let result = if rollback {
            self.pool.rollback(mark)
        } else {
            self.pool.commit(mark)
        };
        match self.stack.iter().position(|&(m, _, _)| m == mark) {
            Some(depth) => {
                assert_eq!(result, Ok(()));
                let (_, position, logged) = self.stack[depth];
                self.stack.truncate(depth);
                if rollback {
                    self.records[position..].iter_mut().for_each(Record::kill);
                    self.logged = logged;
                }
                self.forget_log_if_unmarked();
            }
            None => assert_eq!(result, Err(PoolError::InvalidMark)),
        }
    }

    /// Runs `body` in `pool.zone`, checking after each step; then the model
    /// rolls back too.
    fn zone(&mut self, body: &[Step], panic: bool) {
        let position = self.records.len();
        let logged = self.logged;
        let depth = self.stack.len();
        // The closure needs the pool and the rest of the harness at once:
        // take the pool out for the call.
        let placeholder = Pool::with_allocator(self.pool.allocator().clone());
        let mut pool = std::mem::replace(&mut self.pool, placeholder);
        let result = catch_unwind(AssertUnwindSafe(|| {
            pool.zone(|pool| {
                std::mem::swap(pool, &mut self.pool);
                self.in_zone = 1;
                assert_eq!(self.pool.zone_depth(), depth + 1);
                for step in body {
                    self.step(step);
                    self.check();
                }
                self.in_zone = 0;
                std::mem::swap(pool, &mut self.pool);
                if panic {
                    panic!("zone body panics");
                }
            })
        }));
        self.pool = pool;
        match result {
            Ok(value) => assert!(!panic && value.is_ok()),
            // Only the planned panic: a failed check inside must not pass.
            Err(payload) => assert_eq!(
                (panic, payload.downcast_ref::<&str>()),
                (true, Some(&"zone body panics"))
            ),
        }
        self.records[position..].iter_mut().for_each(Record::kill);
        self.logged = logged;
    }

    fn check(&mut self) {
        let mut len = 0;
        let mut size = 0;
        let mut owned = 0;
        let mut non_empty = 0;
        for record in &self.records {
            match record {
                Record::Bytes(h, Some(data)) => {
                    assert_eq!(self.pool.get(*h), Some(&data[..]));
                    len += 1;
                    size += data.len();
                    non_empty += usize::from(!data.is_empty());
                }
                Record::Owned(h, Some(text)) => {
                    let block = self.pool.get(*h).expect("live owned value");
                    assert_eq!((block.len(), &block[0].text), (1, text));
                    len += 1;
                    owned += 1;
                    size += core::mem::size_of::<Owned>();
                    non_empty += 1;
                }
                Record::Bytes(h, None) => {
                    assert!(self.pool.get(*h).is_none());
                    assert_eq!(self.pool.free(*h), Err(PoolError::InvalidHandle));
                }
                Record::Owned(h, None) => {
                    assert!(self.pool.get(*h).is_none());
                    assert_eq!(self.pool.free(*h), Err(PoolError::InvalidHandle));
                }
            }
        }
        assert_eq!(self.pool.len(), len);
        assert_eq!(self.pool.size(), size);
        self.check_iter();
        assert_eq!(self.live.load(Ordering::SeqCst), owned);
        assert_eq!(self.tracker.live_blocks(), non_empty);
        assert_eq!(self.pool.zone_depth(), self.stack.len() + self.in_zone);
        for &(mark, _, logged) in &self.stack {
            assert_eq!(
                self.pool.allocations_since(mark),
                Some(self.logged - logged)
            );
        }
        assert_eq!(self.other.zone_depth(), 1);
    }
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn zones_match_the_model_after_every_operation(
        ops in prop::collection::vec(op(), 0..if cfg!(miri) { 30 } else { 80 }),
    ) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.apply(op);
            harness.check();
        }
        let (tracker, live) = (Arc::clone(&harness.tracker), Arc::clone(&harness.live));
        drop(harness);
        prop_assert_eq!(tracker.live_blocks(), 0);
        prop_assert_eq!(live.load(Ordering::SeqCst), 0);
    }
}
