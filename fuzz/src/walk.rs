//! The `ops` target's `take`, `retain`, `iter` and `iter_mut`: each checks
//! what the pool hands out against the [`Model`](crate::model::Model) and
//! then updates the model the same way; `check` compares the rest after.

use core::slice;

use cymem::{BlockAllocator, Handle, PoolError};

use crate::elem::{bytes_of, bytes_of_mut, fill_pattern, forge, raw, Elem};
use crate::model::Owned;
use crate::ops::Harness;

/// The predicate of `Op::Retain`: keeps a block if a hash of the seed and
/// the handle's bytes is even, so every seed keeps another subset.
fn keeps(seed: u8, raw: [u8; 16]) -> bool {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ u64::from(seed);
    for byte in raw {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash >> 32).count_ones().is_multiple_of(2)
}

impl<A: BlockAllocator + Clone> Harness<A> {
    /// The attempts the allocator saw so far (0 without a tracker).
    fn attempts(&self) -> usize {
        self.tracker.as_ref().map_or(0, |t| t.attempts())
    }

    pub(crate) fn take<T: Elem>(&mut self, index: usize) {
        let handle = self.handle::<T>(index);
        let attempts = self.attempts();
        let result = self.pool.take(handle);
        assert_eq!(self.attempts(), attempts, "take allocated");
        let record = &mut self.model.records[index];
        match &record.block {
            Some(block) if block.len == 1 => {
                let value = result.unwrap_or_else(|e| panic!("take of {handle:?}: {e}"));
                assert!(
                    bytes_of(slice::from_ref(&value)) == &block.bytes[..],
                    "take of {handle:?} returned other contents"
                );
                record.block = None;
            }
            Some(block) => assert_eq!(
                result.err(),
                Some(PoolError::NotOneElement),
                "take of {handle:?}, {} elements long",
                block.len
            ),
            None => assert_eq!(
                result.err(),
                Some(PoolError::InvalidHandle),
                "take of dead {handle:?}"
            ),
        }
    }

    pub(crate) fn take_owned(&mut self, target: u8) {
        if self.model.owned.is_empty() {
            return;
        }
        let index = usize::from(target) % self.model.owned.len();
        let record = &mut self.model.owned[index];
        let handle = forge::<Owned>(record.raw);
        let result = self.pool.take(handle);
        match record.value.take() {
            Some(value) => {
                let taken = result.unwrap_or_else(|e| panic!("take of {handle:?}: {e}"));
                assert_eq!(taken.value, value, "take of {handle:?}");
                // Dropped here, once; `check` counts the live ones.
            }
            None => assert_eq!(
                result.err(),
                Some(PoolError::InvalidHandle),
                "take of dead {handle:?}"
            ),
        }
    }

    /// The model's live blocks of `T`, as `(handle, record index)`, in the
    /// order handles sort: the order `iter` and `retain` must visit them.
    fn live_of<T: Elem>(&self) -> Vec<(Handle<T>, usize)> {
        let mut live: Vec<_> = (0..self.model.records.len())
            .filter(|&i| {
                let record = &self.model.records[i];
                record.ty == T::TY && record.block.is_some()
            })
            .map(|i| (self.handle::<T>(i), i))
            .collect();
        live.sort();
        live
    }

    pub(crate) fn retain<T: Elem>(&mut self, seed: u8) {
        let expected = self.live_of::<T>();
        let attempts = self.attempts();
        let mut visited = Vec::new();
        let model = &self.model;
        self.pool.retain::<T>(|handle, block| {
            let index = model
                .find_live(T::TY, raw(handle))
                .unwrap_or_else(|| panic!("retain visits {handle:?}, not live in the model"));
            let bytes = &model.records[index].block.as_ref().expect("live").bytes;
            assert!(
                bytes_of(block) == &bytes[..],
                "retain sees other contents in {handle:?}"
            );
            visited.push((handle, index));
            let keep = keeps(seed, raw(handle));
            if keep {
                fill_pattern(bytes_of_mut(block), seed);
            }
            keep
        });
        assert_eq!(self.attempts(), attempts, "retain allocated");
        assert_eq!(visited, expected, "retain visits the live blocks in order");
        for (handle, index) in expected {
            let record = &mut self.model.records[index];
            if keeps(seed, raw(handle)) {
                fill_pattern(&mut record.block.as_mut().expect("live").bytes, seed);
            } else {
                record.block = None;
            }
        }
    }

    pub(crate) fn retain_owned(&mut self, seed: u8) {
        let mut expected: Vec<_> = (0..self.model.owned.len())
            .filter(|&i| self.model.owned[i].value.is_some())
            .map(|i| (forge::<Owned>(self.model.owned[i].raw), i))
            .collect();
        expected.sort();
        let mut visited = Vec::new();
        let owned = &self.model.owned;
        self.pool.retain::<Owned>(|handle, block| {
            let index = owned
                .iter()
                .position(|r| r.raw == raw(handle) && r.value.is_some())
                .unwrap_or_else(|| panic!("retain visits {handle:?}, not live in the model"));
            assert_eq!(block.len(), 1, "owned block {handle:?}");
            assert_eq!(Some(block[0].value), owned[index].value, "{handle:?}");
            visited.push((handle, index));
            let keep = keeps(seed, raw(handle));
            if keep {
                block[0].value = block[0].value.wrapping_add(u64::from(seed));
            }
            keep
        });
        assert_eq!(
            visited, expected,
            "retain visits the live owned values in order"
        );
        for (handle, index) in expected {
            let value = &mut self.model.owned[index].value;
            if keeps(seed, raw(handle)) {
                *value = value.map(|v| v.wrapping_add(u64::from(seed)));
            } else {
                *value = None; // dropped once; `check` counts the live ones
            }
        }
    }

    pub(crate) fn iter<T: Elem>(&mut self, seed: Option<u8>) {
        let expected = self.live_of::<T>();
        let handles: Vec<(Handle<T>, usize)> = match seed {
            None => self
                .pool
                .iter::<T>()
                .zip(&expected)
                .map(|((handle, block), &(want, index))| {
                    assert_eq!(handle, want, "iter order");
                    let bytes = &self.model.records[index]
                        .block
                        .as_ref()
                        .expect("live")
                        .bytes;
                    assert!(bytes_of(block) == &bytes[..], "iter contents of {handle:?}");
                    (handle, index)
                })
                .collect(),
            Some(seed) => {
                let model = &mut self.model;
                self.pool
                    .iter_mut::<T>()
                    .zip(&expected)
                    .enumerate()
                    .map(|(k, ((handle, block), &(want, index)))| {
                        assert_eq!(handle, want, "iter_mut order");
                        let model_block = model.records[index].block.as_mut().expect("live");
                        assert!(
                            bytes_of(block) == &model_block.bytes[..],
                            "iter_mut contents of {handle:?}"
                        );
                        let seed = seed.wrapping_add(k as u8);
                        fill_pattern(bytes_of_mut(block), seed);
                        fill_pattern(&mut model_block.bytes, seed);
                        (handle, index)
                    })
                    .collect()
            }
        };
        assert_eq!(handles, expected, "iter yields the live blocks in order");
        assert_eq!(self.pool.iter::<T>().count(), expected.len(), "iter length");
    }
}
