//! The C layer's map from each live block's address to its slot and size.
//!
//! An open-addressing table with linear probing and backward-shift
//! deletion, keyed by address, in place of `std`'s `HashMap`: addresses
//! need no general-purpose hashing (they are distinct, 16-aligned and
//! mostly close together, so one multiply, Fibonacci hashing, spreads
//! them); without tombstones a remove leaves nothing behind to slow later
//! probes; and a grown table comes from zeroed memory (an all-empty table),
//! fresh pages instead of a fill loop. A C alloc + free pair by pointer pays
//! one insert and one remove here; what the whole pair costs today is
//! printed by `bash python/bench/callgrind_capi.sh` (instructions per pair,
//! with raw `calloc` + `free` beside it).
//!
//! All safe code: a bug here can misreport a pointer as foreign, never
//! reach memory, since the pool checks every handle taken from an entry.
//!
//! Invariants:
//! - A1: `entries.len()` is 0 or a power of two, and `shift` is
//!   `64 - log2(entries.len())`.
//! - A2: an entry with `address == 0` is empty (no block lives at address 0);
//!   every other entry is reachable from its home bucket without crossing an
//!   empty one.
//! - A3: `len` counts non-empty entries, and `len <= entries.len() * 3 / 4`
//!   after every `insert`, so probes always meet an empty entry.

/// The table could not grow.
#[derive(Debug)]
pub(super) struct OutOfMemory;

/// What the table knows about one live block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// The block's address; 0 marks an empty entry.
    pub(super) address: usize,
    /// The block's slot index and generation (its handle, less the pool id).
    pub(super) index: u32,
    pub(super) generation: u32,
}

// SAFETY: plain integers; all-zero is a valid (empty) entry.
unsafe impl bytemuck::Zeroable for Entry {}

/// The empty entry (address 0).
pub(super) const NO_ENTRY: Entry = Entry {
    address: 0,
    index: 0,
    generation: 0,
};

/// Whether `len` entries keep a table of `capacity` within its 3/4 load (A3).
fn fits(len: usize, capacity: usize) -> bool {
    len <= capacity / 4 * 3
}

#[derive(Debug, Default)]
pub(super) struct AddressTable {
    entries: Box<[Entry]>,
    len: usize,
    shift: u32,
}

impl AddressTable {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Makes room for `additional` more entries, so that many `insert`s
    /// cannot fail.
    #[inline]
    pub(super) fn try_reserve(&mut self, additional: usize) -> Result<(), OutOfMemory> {
        let needed = self.len.checked_add(additional).ok_or(OutOfMemory)?;
        if fits(needed, self.entries.len()) {
            return Ok(());
        }
        self.grow(needed)
    }

    // Zeroed memory is an all-empty table (A2): `calloc`-style allocation
    // gets large tables as fresh zero pages instead of writing every entry.
    #[cold]
    fn grow(&mut self, needed: usize) -> Result<(), OutOfMemory> {
        let mut capacity = (self.entries.len() * 2).max(16);
        while !fits(needed, capacity) {
            capacity = capacity.checked_mul(2).ok_or(OutOfMemory)?;
        }
        let grown = bytemuck::allocation::try_zeroed_slice_box::<Entry>(capacity)
            .map_err(|()| OutOfMemory)?;
        let old = core::mem::replace(&mut self.entries, grown);
        self.shift = 64 - capacity.trailing_zeros();
        self.len = 0;
        for entry in old.iter().filter(|entry| entry.address != 0) {
            self.insert(*entry);
        }
        Ok(())
    }

    /// Adds an entry for an address not in the table.
    ///
    /// `try_reserve` must have made room for it (A3).
    pub(super) fn insert(&mut self, entry: Entry) {
        debug_assert!(entry.address != 0, "A2: no block lives at address 0");
        debug_assert!(
            (self.len + 1) * 4 <= self.entries.len() * 3,
            "A3: reserve first"
        );
        let mut at = self.home(entry.address);
        while self.entries[at].address != 0 {
            debug_assert!(
                self.entries[at].address != entry.address,
                "address already mapped"
            );
            at = self.next(at);
        }
        self.entries[at] = entry;
        self.len += 1;
    }

    pub(super) fn get(&self, address: usize) -> Option<&Entry> {
        self.position(address).map(|at| &self.entries[at])
    }

    /// Sets the index of the entry for `address`; false if there is none.
    pub(super) fn set_index(&mut self, address: usize, index: u32) -> bool {
        let Some(at) = self.position(address) else {
            return false;
        };
        self.entries[at].index = index;
        true
    }

    /// Removes and returns the entry for `address`, if there is one.
    pub(super) fn remove(&mut self, address: usize) -> Option<Entry> {
        let mut hole = self.position(address)?;
        let removed = self.entries[hole];
        // Backward shift: pull later entries of the run into the hole when
        // their home is not between the hole and them (A2 stays true).
        let mut at = self.next(hole);
        while self.entries[at].address != 0 {
            let home = self.home(self.entries[at].address);
            if self.distance(home, at) >= self.distance(hole, at) {
                self.entries[hole] = self.entries[at];
                hole = at;
            }
            at = self.next(at);
        }
        self.entries[hole] = NO_ENTRY;
        self.len -= 1;
        Some(removed)
    }

    fn position(&self, address: usize) -> Option<usize> {
        if self.entries.is_empty() || address == 0 {
            return None;
        }
        let mut at = self.home(address);
        loop {
            match self.entries[at].address {
                0 => return None,
                found if found == address => return Some(at),
                _ => at = self.next(at),
            }
        }
    }

    /// The bucket an address probes first: the top bits of a Fibonacci hash
    /// of the address without its always-zero low bits.
    #[inline]
    fn home(&self, address: usize) -> usize {
        let hash = ((address >> 4) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // `shift` <= 60 when entries exist (A1: at least 16 of them).
        (hash >> self.shift) as usize
    }

    #[inline]
    fn next(&self, at: usize) -> usize {
        (at + 1) & (self.entries.len() - 1)
    }

    /// Buckets from `from` forward to `to`, wrapping around.
    #[inline]
    fn distance(&self, from: usize, to: usize) -> usize {
        to.wrapping_sub(from) & (self.entries.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn entry(address: usize, index: u32) -> Entry {
        Entry {
            address,
            index,
            generation: index * 2 + 1,
        }
    }

    #[test]
    fn empty_table_finds_nothing_and_allocates_nothing() {
        let mut table = AddressTable::default();
        assert_eq!(table.get(0x1000), None);
        assert_eq!(table.remove(0x1000), None);
        assert_eq!(table.get(0), None);
        assert!(table.entries.is_empty());
    }

    #[test]
    fn matches_a_hash_map_through_inserts_and_removes() {
        // Addresses in clusters that collide in their home buckets, removed
        // in an order that exercises backward shifts across the wrap-around.
        let mut table = AddressTable::default();
        let mut model = HashMap::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let rounds = if cfg!(miri) { 300 } else { 20_000 };
        for step in 0..rounds {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let address = 16 * (1 + (state % 512) as usize);
            if state.is_multiple_of(3) || model.contains_key(&address) {
                assert_eq!(table.remove(address), model.remove(&address));
            } else {
                table.try_reserve(1).unwrap();
                table.insert(entry(address, step));
                model.insert(address, entry(address, step));
            }
            assert_eq!(table.len(), model.len());
            assert!(table.len() * 4 <= table.entries.len() * 3);
            if step.is_multiple_of(64) {
                for probe in (0..=8208).step_by(16) {
                    assert_eq!(table.get(probe), model.get(&probe), "address {probe}");
                }
            }
        }
    }

    #[test]
    fn a_bulk_reserve_covers_that_many_inserts() {
        let mut table = AddressTable::default();
        let count = if cfg!(miri) { 50 } else { 1000 };
        table.try_reserve(count).unwrap();
        let capacity = table.entries.len();
        for i in 0..count {
            table.insert(entry(16 * (i + 1), i as u32));
        }
        assert_eq!((table.len(), table.entries.len()), (count, capacity));
        assert!(table.try_reserve(usize::MAX).is_err());
        assert_eq!(table.get(16), Some(&entry(16, 0)));
    }
}
