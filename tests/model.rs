//! Model test: random operation sequences run against a pool and a plain
//! model (the live blocks' handles and contents), compared after every step.
//!
//! The generators reach every branch: length 0, zero-sized `T`, grow, shrink,
//! same size, clear, writes, `get_disjoint_mut`, `take` (of one, none or
//! many elements), `retain`, `iter_mut`, forged bits, another pool's
//! handles, retyped and stale handles (`take` tried on each), and allocator
//! failures. `iter` of every kind is compared with the model after every
//! step: the live blocks of that kind, in the order their handles sort. The failing
//! allocator counts blocks, so after every step the allocator's live blocks
//! must be exactly the model's non-empty blocks, and none after the drop.

mod common;
// `take`, `retain`, `iter_mut` and the `iter` check, in tests/model/walk.rs.
#[path = "model/walk.rs"]
mod walk;

use std::sync::Arc;

use common::{FailingAllocator, Tracker};
use cymem::{BlockAllocator, Handle, Pool, PoolError};
use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    U8,
    U64,
    Unit,
}

/// One live block, as the model sees it.
#[derive(Clone, Debug)]
enum Block {
    U8(Handle<u8>, Vec<u8>),
    U64(Handle<u64>, Vec<u64>),
    Unit(Handle<()>, usize),
}

impl Block {
    fn kind(&self) -> Kind {
        match self {
            Block::U8(..) => Kind::U8,
            Block::U64(..) => Kind::U64,
            Block::Unit(..) => Kind::Unit,
        }
    }

    fn words(&self) -> [u32; 4] {
        match self {
            Block::U8(h, _) => bytemuck::cast(*h),
            Block::U64(h, _) => bytemuck::cast(*h),
            Block::Unit(h, _) => bytemuck::cast(*h),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Block::U8(_, data) => data.len(),
            Block::U64(_, data) => data.len() * 8,
            Block::Unit(..) => 0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Resize {
    Grow(usize),
    Shrink(Index),
    Same,
    ToZero,
}

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        kind: Kind,
        len: usize,
        fail: bool,
    },
    AllocSlice {
        values: Vec<u8>,
        fail: bool,
    },
    Free {
        pick: Index,
    },
    Realloc {
        pick: Index,
        resize: Resize,
        fail: bool,
    },
    Write {
        pick: Index,
        seed: u8,
    },
    Disjoint {
        a: Index,
        b: Index,
        seed: u8,
    },
    Clear,
    Take {
        pick: Index,
    },
    /// `retain` of one kind, keeping the blocks [`keeps`] says.
    Retain {
        kind: Kind,
        seed: u8,
    },
    /// `iter_mut` of one kind, writing the pattern of `seed + k` into the
    /// `k`-th block.
    IterMut {
        kind: Kind,
        seed: u8,
    },
    /// Arbitrary bits.
    Forged {
        words: [u32; 4],
        kind: Kind,
    },
    /// A live or dead handle's bits, as they are or with one word replaced:
    /// mostly a right pool id, index or generation, so every check of
    /// `resolve` is reached.
    Mixed {
        pick: Index,
        from_dead: bool,
        word: Index,
        value: Option<u32>,
        /// The source's kind if `None`.
        kind: Option<Kind>,
    },
    Foreign {
        pick: Index,
    },
    Retyped {
        pick: Index,
        to: Kind,
    },
    Stale {
        pick: Index,
    },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::U8), Just(Kind::U64), Just(Kind::Unit)]
}

fn len() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(0usize), 1 => Just(1usize), 6 => 1..40usize]
}

fn fail() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.1)
}

fn resize() -> impl Strategy<Value = Resize> {
    prop_oneof![
        3 => (1..30usize).prop_map(Resize::Grow),
        3 => any::<Index>().prop_map(Resize::Shrink),
        1 => Just(Resize::Same),
        1 => Just(Resize::ToZero),
    ]
}

/// A word to put into a handle's bits: none, a small one, or any.
fn replacement() -> impl Strategy<Value = Option<u32>> {
    prop::option::weighted(0.75, prop_oneof![0..4u32, any::<u32>()])
}

fn op() -> impl Strategy<Value = Op> {
    let unit_len = prop_oneof![len(), Just(usize::MAX), any::<usize>()];
    let source = (any::<Index>(), any::<bool>());
    let mixed = (
        source,
        any::<Index>(),
        replacement(),
        prop::option::of(kind()),
    )
        .prop_map(|((pick, from_dead), word, value, kind)| Op::Mixed {
            pick,
            from_dead,
            word,
            value,
            kind,
        });
    prop_oneof![
        8 => (kind(), len(), fail()).prop_map(|(kind, len, fail)| Op::Alloc { kind, len, fail }),
        2 => (unit_len, fail()).prop_map(|(len, fail)| Op::Alloc { kind: Kind::Unit, len, fail }),
        3 => (prop::collection::vec(any::<u8>(), 0..20), fail())
            .prop_map(|(values, fail)| Op::AllocSlice { values, fail }),
        4 => any::<Index>().prop_map(|pick| Op::Free { pick }),
        6 => (any::<Index>(), resize(), fail())
            .prop_map(|(pick, resize, fail)| Op::Realloc { pick, resize, fail }),
        4 => (any::<Index>(), any::<u8>()).prop_map(|(pick, seed)| Op::Write { pick, seed }),
        3 => (any::<Index>(), any::<Index>(), any::<u8>())
            .prop_map(|(a, b, seed)| Op::Disjoint { a, b, seed }),
        1 => Just(Op::Clear),
        3 => any::<Index>().prop_map(|pick| Op::Take { pick }),
        1 => (kind(), any::<u8>()).prop_map(|(kind, seed)| Op::Retain { kind, seed }),
        1 => (kind(), any::<u8>()).prop_map(|(kind, seed)| Op::IterMut { kind, seed }),
        2 => (any::<[u32; 4]>(), kind()).prop_map(|(words, kind)| Op::Forged { words, kind }),
        4 => mixed,
        2 => any::<Index>().prop_map(|pick| Op::Foreign { pick }),
        2 => (any::<Index>(), kind()).prop_map(|(pick, to)| Op::Retyped { pick, to }),
        2 => any::<Index>().prop_map(|pick| Op::Stale { pick }),
    ]
}

/// Asserts that `handle` names no block of `pool`: lookups say `None`,
/// `free` and `realloc` say `InvalidHandle` (the caller then checks the
/// pool is unchanged).
fn assert_rejected<T, A>(pool: &mut Pool<A>, handle: Handle<T>)
where
    T: bytemuck::Zeroable + Send + Sync + 'static,
    A: BlockAllocator,
{
    assert!(!pool.contains(handle), "{handle:?} is contained");
    assert!(pool.get(handle).is_none(), "{handle:?} resolves");
    assert!(
        pool.get_mut(handle).is_none(),
        "{handle:?} resolves mutably"
    );
    assert!(pool.as_ptr(handle).is_none(), "{handle:?} gives a pointer");
    assert!(pool.get_disjoint_mut([handle]).is_none());
    assert_eq!(pool.realloc(handle, 1), Err(PoolError::InvalidHandle));
    assert_eq!(pool.take(handle).err(), Some(PoolError::InvalidHandle));
    assert_eq!(pool.free(handle), Err(PoolError::InvalidHandle));
}

/// The bits `words`, as a handle of `kind`: if they are a live block's
/// handle of that kind, it must resolve to that block, else be rejected.
fn check_bits<A: BlockAllocator>(pool: &mut Pool<A>, live: &[Block], words: [u32; 4], kind: Kind) {
    let named = live.iter().find(|b| b.kind() == kind && b.words() == words);
    match (kind, named) {
        (Kind::U8, Some(Block::U8(_, data))) => {
            assert_eq!(
                pool.get(bytemuck::cast::<_, Handle<u8>>(words)),
                Some(&data[..])
            );
        }
        (Kind::U64, Some(Block::U64(_, data))) => {
            assert_eq!(
                pool.get(bytemuck::cast::<_, Handle<u64>>(words)),
                Some(&data[..])
            );
        }
        (Kind::Unit, Some(Block::Unit(_, len))) => {
            let block = pool.get(bytemuck::cast::<_, Handle<()>>(words));
            assert_eq!(block.map(<[()]>::len), Some(*len));
        }
        (Kind::U8, _) => assert_rejected(pool, bytemuck::cast::<_, Handle<u8>>(words)),
        (Kind::U64, _) => assert_rejected(pool, bytemuck::cast::<_, Handle<u64>>(words)),
        (Kind::Unit, _) => assert_rejected(pool, bytemuck::cast::<_, Handle<()>>(words)),
    }
}

fn pattern_u8(seed: u8, i: usize) -> u8 {
    seed.wrapping_add(i as u8).wrapping_mul(31)
}

fn pattern_u64(seed: u8, i: usize) -> u64 {
    u64::from(seed) << 40 | i as u64
}

/// Writes the pattern of `seed` into a block and its model.
fn write(block: &mut [u8], model: &mut [u8], seed: u8) {
    for (i, (x, m)) in block.iter_mut().zip(model.iter_mut()).enumerate() {
        *x = pattern_u8(seed, i);
        *m = *x;
    }
}

fn write_u64(block: &mut [u64], model: &mut [u64], seed: u8) {
    for (i, (x, m)) in block.iter_mut().zip(model.iter_mut()).enumerate() {
        *x = pattern_u64(seed, i);
        *m = *x;
    }
}

/// Keeps the list of dead handles bounded; older ones are checked less.
const MAX_DEAD: usize = 64;

struct Harness {
    pool: Pool<FailingAllocator>,
    tracker: Arc<Tracker>,
    live: Vec<Block>,
    /// Handles of freed or cleared blocks, with their kind.
    dead: Vec<(Kind, [u32; 4])>,
    other: Pool,
    foreign: Vec<(Kind, [u32; 4])>,
    /// Failures the model expects the allocator to have reported.
    failures: usize,
}

impl Harness {
    fn new() -> Self {
        let (allocator, tracker) = FailingAllocator::new();
        // Another pool with blocks of each kind in the first slots, so its
        // handles share index and generation with this pool's.
        let mut other = Pool::new();
        let mut foreign = Vec::new();
        for i in 0..4u8 {
            foreign.push((
                Kind::U8,
                bytemuck::cast(other.alloc_slice(&[i; 3]).unwrap()),
            ));
            foreign.push((Kind::U64, bytemuck::cast(other.alloc::<u64>(2).unwrap())));
            foreign.push((Kind::Unit, bytemuck::cast(other.alloc::<()>(5).unwrap())));
        }
        Harness {
            pool: Pool::with_allocator(allocator),
            tracker,
            live: Vec::new(),
            dead: Vec::new(),
            other,
            foreign,
            failures: 0,
        }
    }

    fn bury(&mut self, block: Block) {
        if self.dead.len() == MAX_DEAD {
            self.dead.remove(0);
        }
        self.dead.push((block.kind(), block.words()));
    }

    /// Schedules one allocator failure if `fail`; returns whether the
    /// operation is then expected to fail (it needs an allocation).
    fn arm(&mut self, fail: bool, needs_allocation: bool) -> bool {
        if fail {
            self.tracker.fail_next(1);
        }
        let expected = fail && needs_allocation;
        self.failures += usize::from(expected);
        expected
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Alloc { kind, len, fail } => self.alloc(kind, len, fail),
            Op::AllocSlice { ref values, fail } => {
                let fails = self.arm(fail, !values.is_empty());
                match self.pool.alloc_slice(values) {
                    Ok(h) => {
                        assert!(!fails);
                        self.live.push(Block::U8(h, values.clone()));
                    }
                    Err(e) => assert_eq!((e, fails), (PoolError::OutOfMemory, true)),
                }
            }
            Op::Free { pick } => {
                if self.live.is_empty() {
                    return;
                }
                let block = self.live.swap_remove(pick.index(self.live.len()));
                let result = match &block {
                    Block::U8(h, _) => self.pool.free(*h),
                    Block::U64(h, _) => self.pool.free(*h),
                    Block::Unit(h, _) => self.pool.free(*h),
                };
                assert_eq!(result, Ok(()));
                self.bury(block);
            }
            Op::Realloc { pick, resize, fail } => {
                if self.live.is_empty() {
                    return;
                }
                self.realloc(pick.index(self.live.len()), resize, fail);
            }
            Op::Write { pick, seed } => {
                if self.live.is_empty() {
                    return;
                }
                let i = pick.index(self.live.len());
                match &mut self.live[i] {
                    Block::U8(h, data) => write(self.pool.get_mut(*h).unwrap(), data, seed),
                    Block::U64(h, data) => write_u64(self.pool.get_mut(*h).unwrap(), data, seed),
                    Block::Unit(h, len) => assert_eq!(self.pool.get_mut(*h).unwrap().len(), *len),
                }
            }
            Op::Disjoint { a, b, seed } => {
                if self.live.is_empty() {
                    return;
                }
                let (a, b) = (a.index(self.live.len()), b.index(self.live.len()));
                self.disjoint(a, b, seed);
            }
            Op::Clear => {
                self.pool.clear();
                for block in std::mem::take(&mut self.live) {
                    self.bury(block);
                }
            }
            Op::Take { pick } => {
                if !self.live.is_empty() {
                    self.take(pick.index(self.live.len()));
                }
            }
            Op::Retain { kind, seed } => self.retain(kind, seed),
            Op::IterMut { kind, seed } => self.iter_mut(kind, seed),
            Op::Forged { words, kind } => check_bits(&mut self.pool, &self.live, words, kind),
            Op::Mixed {
                pick,
                from_dead,
                word,
                value,
                kind,
            } => {
                let source = if from_dead || self.live.is_empty() {
                    self.dead.get(pick.index(self.dead.len().max(1))).copied()
                } else {
                    let block = &self.live[pick.index(self.live.len())];
                    Some((block.kind(), block.words()))
                };
                if let Some((source_kind, mut words)) = source {
                    if let Some(value) = value {
                        words[word.index(4)] = value;
                    }
                    let kind = kind.unwrap_or(source_kind);
                    check_bits(&mut self.pool, &self.live, words, kind);
                }
            }
            Op::Foreign { pick } => {
                let (kind, words) = self.foreign[pick.index(self.foreign.len())];
                // Not a handle of this pool, whatever blocks live here.
                check_bits(&mut self.pool, &[], words, kind);
            }
            Op::Retyped { pick, to } => {
                if self.live.is_empty() {
                    return;
                }
                let block = &self.live[pick.index(self.live.len())];
                if block.kind() != to {
                    check_bits(&mut self.pool, &[], block.words(), to);
                }
            }
            Op::Stale { pick } => {
                if let Some(&(kind, words)) = self.dead.get(pick.index(self.dead.len().max(1))) {
                    check_bits(&mut self.pool, &[], words, kind);
                }
            }
        }
        self.tracker.fail_next(0);
    }

    fn alloc(&mut self, kind: Kind, len: usize, fail: bool) {
        let bytes = match kind {
            Kind::U8 => len,
            Kind::U64 => len * 8,
            Kind::Unit => 0,
        };
        let fails = self.arm(fail, bytes != 0);
        let result = match kind {
            Kind::U8 => self
                .pool
                .alloc::<u8>(len)
                .map(|h| Block::U8(h, vec![0; len])),
            Kind::U64 => self
                .pool
                .alloc::<u64>(len)
                .map(|h| Block::U64(h, vec![0; len])),
            Kind::Unit => self.pool.alloc::<()>(len).map(|h| Block::Unit(h, len)),
        };
        match result {
            Ok(block) => {
                assert!(!fails, "allocation did not fail as scheduled");
                self.live.push(block);
            }
            Err(e) => assert_eq!((e, fails), (PoolError::OutOfMemory, true)),
        }
    }

    fn realloc(&mut self, i: usize, resize: Resize, fail: bool) {
        let (old_len, size) = match &self.live[i] {
            Block::U8(_, data) => (data.len(), 1),
            Block::U64(_, data) => (data.len(), 8),
            Block::Unit(_, len) => (*len, 0),
        };
        let new_len = match resize {
            Resize::Grow(n) => old_len.saturating_add(n),
            Resize::Shrink(at) => at.index(old_len.max(1)),
            Resize::Same => old_len,
            Resize::ToZero => 0,
        };
        let fails = self.arm(fail, new_len != old_len && new_len * size != 0);
        let result = match &mut self.live[i] {
            Block::U8(h, data) => self
                .pool
                .realloc(*h, new_len)
                .map(|()| data.resize(new_len, 0)),
            Block::U64(h, data) => self
                .pool
                .realloc(*h, new_len)
                .map(|()| data.resize(new_len, 0)),
            Block::Unit(h, len) => self.pool.realloc(*h, new_len).map(|()| *len = new_len),
        };
        match result {
            Ok(()) => assert!(!fails, "realloc did not fail as scheduled"),
            Err(e) => assert_eq!((e, fails), (PoolError::OutOfMemory, true)),
        }
    }

    fn disjoint(&mut self, a: usize, b: usize, seed: u8) {
        let pool = &mut self.pool;
        if a == b {
            match &self.live[a] {
                Block::U8(h, _) => assert!(pool.get_disjoint_mut([*h, *h]).is_none()),
                Block::U64(h, _) => assert!(pool.get_disjoint_mut([*h, *h]).is_none()),
                Block::Unit(h, _) => assert!(pool.get_disjoint_mut([*h, *h]).is_none()),
            }
            return;
        }
        let (first, second) = if a < b {
            let (left, right) = self.live.split_at_mut(b);
            (&mut left[a], &mut right[0])
        } else {
            let (left, right) = self.live.split_at_mut(a);
            (&mut right[0], &mut left[b])
        };
        match (first, second) {
            (Block::U8(ha, da), Block::U8(hb, db)) => {
                let [x, y] = pool.get_disjoint_mut([*ha, *hb]).unwrap();
                assert_eq!((&*x, &*y), (&da[..], &db[..]));
                write(x, da, seed);
                write(y, db, seed.wrapping_add(1));
            }
            (Block::U64(ha, da), Block::U64(hb, db)) => {
                let [x, y] = pool.get_disjoint_mut([*ha, *hb]).unwrap();
                assert_eq!((&*x, &*y), (&da[..], &db[..]));
                write_u64(x, da, seed);
                write_u64(y, db, seed.wrapping_add(1));
            }
            (Block::Unit(ha, la), Block::Unit(hb, lb)) => {
                let [x, y] = pool.get_disjoint_mut([*ha, *hb]).unwrap();
                assert_eq!((x.len(), y.len()), (*la, *lb));
            }
            // Different element types: the second handle, cast to the first
            // one's type, names nothing, so the pair is rejected.
            (Block::U8(ha, _), other) => {
                let hb: Handle<u8> = bytemuck::cast(other.words());
                assert!(pool.get_disjoint_mut([*ha, hb]).is_none());
            }
            (Block::U64(ha, _), other) => {
                let hb: Handle<u64> = bytemuck::cast(other.words());
                assert!(pool.get_disjoint_mut([*ha, hb]).is_none());
            }
            (Block::Unit(ha, _), other) => {
                let hb: Handle<()> = bytemuck::cast(other.words());
                assert!(pool.get_disjoint_mut([*ha, hb]).is_none());
            }
        }
    }

    /// Compares the whole pool with the model.
    fn check(&self) {
        let pool = &self.pool;
        assert_eq!(pool.len(), self.live.len());
        assert_eq!(pool.is_empty(), self.live.is_empty());
        let size: usize = self.live.iter().map(Block::bytes).sum();
        assert_eq!(pool.size(), size);
        for block in &self.live {
            match block {
                Block::U8(h, data) => assert_eq!(pool.get(*h), Some(&data[..])),
                Block::U64(h, data) => assert_eq!(pool.get(*h), Some(&data[..])),
                Block::Unit(h, len) => assert_eq!(pool.get(*h).map(<[()]>::len), Some(*len)),
            }
        }
        self.check_iter();
        for &(kind, words) in &self.dead {
            let contained = match kind {
                Kind::U8 => pool.contains(bytemuck::cast::<_, Handle<u8>>(words)),
                Kind::U64 => pool.contains(bytemuck::cast::<_, Handle<u64>>(words)),
                Kind::Unit => pool.contains(bytemuck::cast::<_, Handle<()>>(words)),
            };
            assert!(!contained, "dead handle {words:?} is live again");
        }
        let non_empty = self.live.iter().filter(|b| b.bytes() != 0).count();
        assert_eq!(self.tracker.live_blocks(), non_empty);
        assert_eq!(self.tracker.live_bytes(), size);
        assert_eq!(self.tracker.failures(), self.failures);
        assert_eq!(self.other.len(), 12);
    }
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn pool_matches_the_model_after_every_operation(
        ops in prop::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 80 }),
    ) {
        let mut harness = Harness::new();
        for op in &ops {
            harness.apply(op);
            harness.check();
        }
        let tracker = Arc::clone(&harness.tracker);
        drop(harness);
        prop_assert_eq!(tracker.live_blocks(), 0);
        prop_assert_eq!(tracker.allocations(), tracker.deallocations());
    }
}
