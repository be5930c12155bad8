//! A pool per document should cost about what its blocks do: the slot
//! table and type list of the last small table dropped on this thread are
//! kept (emptied) and taken by the next table's first allocation, instead of
//! two `malloc`/`free` pairs per pool (`cargo bench --bench fresh --
//! small-pools`: 10^5 pools of three 64-byte blocks, 2.64x raw libc's three
//! `calloc`/`free` pairs before, 2.19x after, in CPU time). Only with `std` (thread-locals); tables of more than
//! 64 slots are freed as before.

use super::Table;

#[cfg(feature = "std")]
mod kept {
    use super::super::{Slot, TypeEntry, Vec};
    use std::cell::Cell;

    pub(in crate::table) const KEPT_SLOTS: usize = 64;
    const KEPT_TYPES: usize = 8;

    type Buffers = (Vec<Slot>, Vec<TypeEntry>);

    std::thread_local! {
        static SPARE: Cell<Option<Buffers>> = const { Cell::new(None) };
    }

    /// The kept buffers, empty, if this thread has any.
    pub(in crate::table) fn take() -> Option<Buffers> {
        SPARE.try_with(Cell::take).ok().flatten()
    }

    /// Keeps a dropped table's buffers if they are small and none are kept.
    pub(in crate::table) fn keep(mut slots: Vec<Slot>, mut types: Vec<TypeEntry>) {
        if slots.capacity() == 0 || slots.capacity() > KEPT_SLOTS || types.capacity() > KEPT_TYPES {
            return;
        }
        slots.clear();
        types.clear();
        // During thread teardown the thread-local may be gone: then the
        // buffers are simply freed.
        let _ = SPARE.try_with(|spare| {
            let previous = spare.replace(Some((slots, types)));
            drop(previous);
        });
    }
}

impl Table {
    /// A fresh table's first growth: take this thread's kept buffers.
    pub(super) fn adopt_spare_buffers(&mut self) {
        #[cfg(feature = "std")]
        if let Some((slots, types)) = kept::take() {
            debug_assert!(slots.is_empty() && types.is_empty());
            self.slots = slots;
            if self.types.capacity() == 0 {
                self.types = types;
            }
        }
    }
}

#[cfg(feature = "std")]
impl Drop for Table {
    fn drop(&mut self) {
        let slots = core::mem::take(&mut self.slots);
        let types = core::mem::take(&mut self.types);
        kept::keep(slots, types);
    }
}

#[cfg(all(test, feature = "std"))]
pub(super) use kept::KEPT_SLOTS;
