//! A preshed-like open-addressing map over any [`Store`]: cells of `W`
//! `u64`s (the key first, 0 meaning empty), linear probing from
//! `key & (capacity - 1)`; when an insert would make it 60 % full, a zeroed
//! table of twice the capacity is allocated, every cell reinserted and the
//! old table freed (preshed's `map_set` and `_resize`). Keys are hashes and
//! must not be 0. The table is one block of the store, so every operation
//! looks its key up once.

use crate::store::{Elem, Store};

pub struct OpenMap<S: Store, const W: usize>
where
    [u64; W]: Elem,
{
    cells: S::Key<[u64; W]>,
    capacity: usize,
    filled: usize,
}

/// The cell holding `key`, or the empty cell where it would go.
fn find<const W: usize>(cells: &[[u64; W]], key: u64) -> usize {
    let mask = cells.len() - 1;
    let mut i = key as usize & mask;
    loop {
        let k = cells[i][0];
        if k == key || k == 0 {
            return i;
        }
        i = (i + 1) & mask;
    }
}

impl<S: Store, const W: usize> OpenMap<S, W>
where
    [u64; W]: Elem,
{
    /// An empty map of `capacity` (a power of two) cells.
    pub fn new(store: &mut S, capacity: usize) -> Self {
        assert!(capacity.is_power_of_two());
        OpenMap {
            cells: store.alloc(capacity),
            capacity,
            filled: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.filled
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The cell whose key is `key`, if any.
    #[inline]
    pub fn get(&self, store: &S, key: u64) -> Option<[u64; W]> {
        let cells = store.get(self.cells, self.capacity);
        let cell = cells[find(cells, key)];
        (cell[0] == key).then_some(cell)
    }

    /// Inserts or overwrites the cell of key `cell[0]`.
    pub fn insert(&mut self, store: &mut S, cell: [u64; W]) {
        debug_assert_ne!(cell[0], 0);
        if (self.filled + 1) * 5 >= self.capacity * 3 {
            self.resize(store);
        }
        let cells = store.get_mut(self.cells, self.capacity);
        let i = find(cells, cell[0]);
        self.filled += usize::from(cells[i][0] == 0);
        cells[i] = cell;
    }

    fn resize(&mut self, store: &mut S) {
        let capacity = self.capacity * 2;
        let cells = store.alloc::<[u64; W]>(capacity);
        let (old, new) = store.get_two((self.cells, self.capacity), (cells, capacity));
        for cell in old.iter().filter(|cell| cell[0] != 0) {
            new[find(new, cell[0])] = *cell;
        }
        store.free(self.cells, self.capacity);
        self.cells = cells;
        self.capacity = capacity;
    }

    /// Cell `i` of the table (for a walk over every cell).
    pub fn cell(&self, store: &S, i: usize) -> [u64; W] {
        store.get(self.cells, self.capacity)[i]
    }

    /// Frees the table (only the raw client needs to).
    pub fn free(self, store: &mut S) {
        store.free(self.cells, self.capacity)
    }
}
