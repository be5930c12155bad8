//! The plain model: every handle a pool gave out, and the bytes of its block
//! while it is live.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytemuck::Zeroable;
use cymem::{BlockAllocator, Handle, Pool, PoolError};

use crate::elem::{bytes_of, forge, Elem, Ty};

/// What a live block holds.
#[derive(Debug)]
pub struct Block {
    /// Length in elements.
    pub len: usize,
    /// Its bytes, `len * size_of::<T>()` of them.
    pub bytes: Vec<u8>,
    /// Its address, as observed when it was made or last reallocated: blocks
    /// move only on `realloc`.
    pub addr: usize,
}

/// One handle the pool gave out.
#[derive(Debug)]
pub struct Record {
    /// Element type of the block.
    pub ty: Ty,
    /// The handle's bytes.
    pub raw: [u8; 16],
    /// The block while it is live; `None` once freed, cleared or dropped.
    pub block: Option<Block>,
}

/// A value stored with `Pool::insert` (not `Zeroable`, has a destructor):
/// counts its live instances in its model's `owned_live`.
#[derive(Debug)]
pub struct Owned {
    /// What the model expects to read back.
    pub value: u64,
    live: Arc<AtomicUsize>,
}

impl Owned {
    /// A new value, counted live in `live`.
    pub fn new(value: u64, live: &Arc<AtomicUsize>) -> Self {
        live.fetch_add(1, Ordering::SeqCst);
        Owned {
            value,
            live: Arc::clone(live),
        }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One handle to an [`Owned`] value the pool gave out.
#[derive(Debug)]
pub struct OwnedRecord {
    /// The handle's bytes.
    pub raw: [u8; 16],
    /// The value while its block is live.
    pub value: Option<u64>,
}

/// Every handle a pool (or its predecessors, for `Reset`) gave out.
#[derive(Debug, Default)]
pub struct Model {
    /// In the order given out.
    pub records: Vec<Record>,
    /// Handles of `insert`ed [`Owned`] values, in the order given out.
    pub owned: Vec<OwnedRecord>,
    /// Live [`Owned`] instances: must equal the live `owned` records.
    pub owned_live: Arc<AtomicUsize>,
}

impl Model {
    /// Live blocks.
    pub fn len(&self) -> usize {
        self.live().count() + self.owned_len()
    }

    /// Live [`Owned`] blocks.
    pub fn owned_len(&self) -> usize {
        self.owned
            .iter()
            .filter(|record| record.value.is_some())
            .count()
    }

    /// Returns `true` if no block is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in live blocks.
    pub fn size(&self) -> usize {
        self.live()
            .map(|(_, block)| block.bytes.len())
            .sum::<usize>()
            + self.owned_len() * core::mem::size_of::<Owned>()
    }

    /// Every live block with its element type.
    pub fn live(&self) -> impl Iterator<Item = (Ty, &Block)> + '_ {
        self.records
            .iter()
            .filter_map(|record| Some((record.ty, record.block.as_ref()?)))
    }

    /// The record `target` selects (wrapping), if there are any.
    pub fn pick(&self, target: u8) -> Option<usize> {
        if self.records.is_empty() {
            None
        } else {
            Some(usize::from(target) % self.records.len())
        }
    }

    /// The live record whose handle has these bytes and element type: the
    /// only block a handle with these bytes may name.
    pub fn find_live(&self, ty: Ty, raw: [u8; 16]) -> Option<usize> {
        self.records
            .iter()
            .position(|record| record.ty == ty && record.raw == raw && record.block.is_some())
    }

    /// Records a new live block, reading its address from the pool.
    pub fn insert<T: Elem, A: BlockAllocator>(
        &mut self,
        pool: &Pool<A>,
        handle: Handle<T>,
        len: usize,
        bytes: Vec<u8>,
    ) -> usize {
        let addr = address(pool, handle);
        self.records.push(Record {
            ty: T::TY,
            raw: crate::elem::raw(handle),
            block: Some(Block { len, bytes, addr }),
        });
        self.records.len() - 1
    }

    /// Marks every block dead (`clear` or drop of the pool).
    pub fn kill_all(&mut self) {
        self.kill_since(0, 0);
    }

    /// Marks every block dead that was given out after the first `records`
    /// records and `owned` owned records (a rollback).
    pub fn kill_since(&mut self, records: usize, owned: usize) {
        for record in &mut self.records[records..] {
            record.block = None;
        }
        for record in &mut self.owned[owned..] {
            record.value = None;
        }
    }

    /// Compares the pool with the model: length, size, and for every handle
    /// ever given out, its block's contents and address if it is live, or
    /// that every method rejects it if it is dead.
    pub fn check<A: BlockAllocator>(&self, pool: &mut Pool<A>) {
        assert_eq!(pool.len(), self.len(), "pool.len()");
        assert_eq!(pool.is_empty(), self.is_empty(), "pool.is_empty()");
        assert_eq!(pool.size(), self.size(), "pool.size()");
        for record in &self.records {
            with_elem!(record.ty, T => check_record::<T, A>(pool, record));
        }
        for record in &self.owned {
            let handle = forge::<Owned>(record.raw);
            match record.value {
                Some(value) => {
                    let got = pool.get(handle).expect("get of a live owned value");
                    assert_eq!((got.len(), got[0].value), (1, value), "{handle:?}");
                    assert_eq!(pool[handle][0].value, value);
                }
                None => {
                    assert!(!pool.contains(handle), "dead {handle:?} contained");
                    assert!(pool.get_mut(handle).is_none(), "dead {handle:?}");
                    assert_eq!(pool.free(handle), Err(PoolError::InvalidHandle));
                }
            }
        }
        assert_eq!(
            self.owned_live.load(Ordering::SeqCst),
            self.owned_len(),
            "owned values alive (each must drop exactly once)"
        );
    }
}

/// The address of a live block.
pub fn address<T: Elem, A: BlockAllocator>(pool: &Pool<A>, handle: Handle<T>) -> usize {
    let ptr = pool.as_ptr(handle).expect("as_ptr of a live handle");
    assert_eq!(
        ptr.addr() % core::mem::align_of::<T>(),
        0,
        "block of {:?} misaligned",
        T::TY
    );
    ptr.addr()
}

fn check_record<T: Elem, A: BlockAllocator>(pool: &mut Pool<A>, record: &Record) {
    let handle = forge::<T>(record.raw);
    match &record.block {
        Some(block) => {
            assert!(pool.contains(handle), "live {handle:?} not contained");
            let got = pool.get(handle).expect("get of a live handle");
            assert_eq!(got.len(), block.len, "length of {handle:?}");
            assert!(
                bytes_of(got) == &block.bytes[..],
                "contents of {handle:?} differ from the model"
            );
            assert_eq!(got.as_ptr().addr(), block.addr, "{handle:?} moved");
            assert_eq!(
                pool.as_ptr(handle),
                Some(got.as_ptr()),
                "as_ptr of {handle:?}"
            );
            assert_eq!(pool[handle].len(), block.len, "pool[{handle:?}]");
            let mutable = pool.get_mut(handle).expect("get_mut of a live handle");
            assert_eq!(mutable.as_ptr().addr(), block.addr, "get_mut of {handle:?}");
        }
        None => check_dead(pool, handle),
    }
}

/// Every method rejects `handle`, which names no live block of `pool`.
pub fn check_dead<T: Zeroable + Send + Sync + 'static, A: BlockAllocator>(
    pool: &mut Pool<A>,
    handle: Handle<T>,
) {
    assert!(!pool.contains(handle), "dead {handle:?} contained");
    assert!(pool.get(handle).is_none(), "get of dead {handle:?}");
    assert!(pool.get_mut(handle).is_none(), "get_mut of dead {handle:?}");
    assert!(pool.as_ptr(handle).is_none(), "as_ptr of dead {handle:?}");
    assert!(
        pool.as_mut_ptr(handle).is_none(),
        "as_mut_ptr of dead {handle:?}"
    );
    assert!(
        pool.get_disjoint_mut([handle]).is_none(),
        "get_disjoint_mut of dead {handle:?}"
    );
    assert_eq!(
        pool.free(handle),
        Err(PoolError::InvalidHandle),
        "free of dead {handle:?}"
    );
    for len in [0, 1] {
        assert_eq!(
            pool.realloc(handle, len),
            Err(PoolError::InvalidHandle),
            "realloc of dead {handle:?}"
        );
    }
}
