//! The slot table: the only code that turns a handle into a block.
//!
//! # Layout
//!
//! A pool owns one `Vec<Slot>` and a short list of the element types it has
//! seen. A slot is 24 bytes:
//!
//! | field        | bytes | meaning                                              |
//! |--------------|-------|------------------------------------------------------|
//! | `ptr`        | 8     | start of the block (aligned dangling if zero bytes)  |
//! | `len`        | 8     | elements while occupied; next free slot while vacant |
//! | `generation` | 4     | odd while occupied, even while vacant                |
//! | `type_index` | 4     | into the pool's `types` (`TypeId`, size, drop); `NONE` while vacant |
//!
//! 24 bytes, not 32 with a `&'static` type pointer, because the slot is the
//! pool's whole per-block overhead: with 32-byte blocks the pool alone takes
//! 57.8 bytes per block, about `calloc`'s 48-byte chunk plus a pointer to it
//! (`cargo bench --bench memory`); 32-byte slots would add 8 more. The type
//! list holds each type's `TypeId` beside its `ElemType`; it is scanned on
//! `alloc` (a pool sees few types; the scan is a 16-byte compare per entry)
//! and indexed on lookups.
//!
//! A [`Handle`] carries `(index, generation, pool id)`. [`Table::resolve`]
//! accepts it only if
//! 1. `index` is in bounds of `slots`,
//! 2. the handle's pool id is this table's id — ids are unique within the
//!    process and start at a random point in each (`src/pool_id.rs`), so a
//!    handle of another pool (or of this pool before a
//!    [`clear`](Table::clear)) is rejected deterministically until 2^64 - 1
//!    pools have been made, and one from another process almost surely,
//! 3. the slot's generation equals the handle's, and the slot is occupied
//!    (a vacant slot's `type_index` is `NONE`, which indexes no type), so a
//!    freed or reused slot rejects old handles,
//! 4. the `TypeId` of the slot's element type is `T`'s, so a handle retyped
//!    by casting its bytes is rejected.
//!
//! Null is all zeros: pool id 0 is never given out and generation 0 is even.
//!
//! # Invariants of an occupied slot (odd generation)
//!
//! Below, `elem` is `types[type_index].elem`.
//!
//! - **I1** `ptr` is aligned to `elem.align` and valid for reads and writes
//!   of `elem.size * len` bytes that no one else references; if that size is
//!   non-zero, the block came from the pool's allocator, or from one of the
//!   pool's chunks (`src/memory.rs`, C1), for [`ElemType::layout`]`(len)`;
//!   otherwise it is dangling and owns nothing.
//! - **I2** The block holds `len` initialised values of the type `elem`
//!   describes, and `elem.size * len` fits `Layout` (checked by
//!   `Layout::array` before the block was made).
//! - **I3** The block is owned by this slot alone; it is freed only after the
//!   slot has been made vacant or rewritten.
//!
//! Vacant slots (even generation) own nothing. The free list links every
//! vacant slot except retired ones.
//!
//! # Generations never wrap
//!
//! Freeing bumps the generation to even, reusing bumps it to odd. A slot
//! freed at generation `u32::MAX` would wrap to 0 and could, after 2^31
//! reuses, accept a handle from its first life (ABA); instead it is retired:
//! it stays vacant and off the free list for the rest of the pool's life
//! (until [`clear`](Table::clear)), costing 24 bytes.
//!
//! # Why not `slotmap`
//!
//! `slotmap` served as the model, but its table does not fit, for reasons
//! that matter here: its versions wrap after about 2^31 reuses of one slot
//! (the reason the `slotmap-careful` wrapper exists), so a stale key can
//! match again; its keys are 8 bytes with no room for a pool id, so a key of
//! another map resolves in any map with a slot of the same version; and a
//! type-erased block wants its type tag and length beside the pointer in one
//! 24-byte slot, so that `get` reads one slot and then the block.

use alloc::vec::Vec;
use core::any::TypeId;
use core::ptr::NonNull;

mod spare;

pub(crate) use crate::elem::{ElemType, Element};
use crate::{pages, pool_id, Handle, PoolError};

/// A live block found by [`Table::resolve`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) index: usize,
    pub(crate) ptr: NonNull<u8>,
    pub(crate) len: usize,
}

/// A block as the table hands it back when a slot lets go of it.
pub(crate) struct RawBlock {
    pub(crate) ptr: NonNull<u8>,
    pub(crate) len: usize,
    pub(crate) elem: &'static ElemType,
}

#[derive(Clone, Copy)]
struct Slot {
    ptr: NonNull<u8>,
    /// Elements while occupied; the next vacant slot (or `NONE`) while vacant.
    len: usize,
    generation: u32,
    /// Index into `Table::types` while occupied; `NONE` while vacant.
    type_index: u32,
}

// 24 bytes on 64-bit targets.
const _: () = assert!(core::mem::size_of::<Slot>() == 2 * core::mem::size_of::<usize>() + 8);

/// End of the free list.
const NONE: u32 = u32::MAX;

/// Slots are numbered by `u32`; `NONE` is not an index.
const MAX_SLOTS: usize = NONE as usize;

fn is_type<T: 'static>(elem: &'static ElemType) -> bool {
    elem.type_id == TypeId::of::<T>()
}

/// An entry of [`Table::types`]: the element type, with its `TypeId` beside
/// the pointer, so that a lookup's type check compares 16 bytes it has
/// already loaded with `TypeId::of::<T>()`, a constant, instead of following
/// the pointer first. (Comparing the pointer with `T::TYPE` is no shortcut:
/// the constant may be placed once per codegen unit, so equal types can have
/// unequal pointers, and that comparison failed on every lookup of
/// `benches/fresh.rs`'s `get`.)
#[derive(Clone, Copy)]
struct TypeEntry {
    type_id: TypeId,
    elem: &'static ElemType,
}

pub(crate) struct Table {
    slots: Vec<Slot>,
    /// Every element type a block of this table has had; slots index it.
    types: Vec<TypeEntry>,
    free_head: u32,
    pool_id: u64,
    live: usize,
    bytes: usize,
    /// Vacant slots off the free list for good (generation exhausted).
    retired: usize,
}

impl Table {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Table {
            slots: Vec::new(),
            types: Vec::new(),
            free_head: NONE,
            pool_id: pool_id::next(),
            live: 0,
            bytes: 0,
            retired: 0,
        }
    }

    /// Whether a live block may hold elements that need dropping: teardown
    /// must then visit the blocks. Derived, not counted: a pool sees few
    /// types, and this is asked only when the pool is cleared or dropped.
    pub(crate) fn holds_droppable(&self) -> bool {
        self.live > 0 && (self.types.iter()).any(|entry| entry.elem.drop_elements.is_some())
    }

    /// The id handles of this table carry; it changes on [`clear`](Self::clear).
    #[inline]
    pub(crate) fn pool_id(&self) -> u64 {
        self.pool_id
    }

    /// Blocks the table can hold without growing: every slot it has room
    /// for, except retired ones.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.capacity() - self.retired
    }

    /// Makes room for `additional` more live blocks than there are now, so
    /// that that many [`reserve_one`](Self::reserve_one) calls of types the
    /// table has seen do not allocate.
    pub(crate) fn reserve(&mut self, additional: usize) -> Result<(), PoolError> {
        let vacant = self.slots.len() - self.live - self.retired;
        let new_slots = additional.saturating_sub(vacant);
        if new_slots > self.slots.capacity() - self.slots.len() {
            self.grow(new_slots)?;
        }
        Ok(())
    }

    /// Room for `additional` more slots than `slots.len()`, never past
    /// `MAX_SLOTS`.
    ///
    /// A table of 2 MiB or more moves to a fresh buffer that asks for huge
    /// pages (`src/pages.rs`) before anything is written to it, then copies
    /// the slots over: its pages then fault in 2 MiB at a time, where
    /// `Vec`'s own growth would copy into 4 KiB pages (a first fill of 10^6
    /// blocks spent most of its time in those faults; `cargo bench --bench
    /// fresh -- fill`). The copy is what `realloc` does for a heap block
    /// anyway; the old buffer is kept until the new one exists, so a failure
    /// changes nothing.
    #[cold]
    fn grow(&mut self, additional: usize) -> Result<(), PoolError> {
        if self.slots.capacity() == 0 {
            self.adopt_spare_buffers();
            if self.slots.capacity() >= additional {
                return Ok(());
            }
        }
        let len = self.slots.len();
        if additional > MAX_SLOTS - len {
            return Err(PoolError::OutOfMemory);
        }
        let slot_size = core::mem::size_of::<Slot>();
        let capacity = (len + additional).max(2 * self.slots.capacity());
        if capacity.saturating_mul(slot_size) < pages::HUGE {
            return (self.slots.try_reserve(additional)).map_err(|_| PoolError::OutOfMemory);
        }
        let capacity = capacity.min(MAX_SLOTS).max(len + additional);
        let mut slots = Vec::<Slot>::new();
        (slots.try_reserve_exact(capacity)).map_err(|_| PoolError::OutOfMemory)?;
        pages::advise_huge(slots.as_ptr().cast(), slots.capacity() * slot_size);
        slots.extend_from_slice(&self.slots);
        self.slots = slots;
        Ok(())
    }

    /// Live blocks.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Bytes of live blocks.
    #[inline]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The live block `handle` names, if it names one (checks 1-4 of the
    /// module docs). Every lookup goes through here.
    ///
    /// The result satisfies I1-I2 for `T` until the table is next changed.
    #[inline]
    pub(crate) fn resolve<T: 'static>(&self, handle: Handle<T>) -> Option<Resolved> {
        let index = handle.index as usize;
        let slot = self.slots.get(index)?;
        if handle.pool != self.pool_id || handle.generation != slot.generation {
            return None;
        }
        // A vacant slot's `type_index` is `NONE`, out of bounds of `types`:
        // this lookup is also the "occupied" half of check 3.
        let entry = self.types.get(slot.type_index as usize)?;
        if entry.type_id != TypeId::of::<T>() {
            return None;
        }
        debug_assert!(
            slot.generation & 1 == 1,
            "occupied slot with an even generation"
        );
        debug_assert_eq!(slot.ptr.as_ptr().addr() % entry.elem.align, 0);
        Some(Resolved {
            index,
            ptr: slot.ptr,
            len: slot.len,
        })
    }

    /// The index of slot `index` if it is occupied at `generation`: the block
    /// an entry of the zone log (`src/zone.rs`) names, if it is still live.
    ///
    /// Checks 1 and 3 of the module docs; the pool id and type need no
    /// check, as the log is the table's own record of what it handed out
    /// (and is emptied with [`clear`](Self::clear)).
    #[inline]
    pub(crate) fn resolve_logged(&self, index: u32, generation: u32) -> Option<usize> {
        let slot = self.slots.get(index as usize)?;
        (slot.generation == generation && slot.type_index != NONE).then_some(index as usize)
    }

    /// Makes sure [`insert`](Self::insert) of a `T` will not need to
    /// allocate, and returns `T`'s index in `types` for it.
    #[inline]
    pub(crate) fn reserve_one<T: 'static>(&mut self) -> Result<u32, PoolError> {
        if self.free_head == NONE {
            if self.slots.len() >= MAX_SLOTS {
                return Err(PoolError::OutOfMemory);
            }
            if self.slots.len() == self.slots.capacity() {
                self.grow(1)?;
            }
        }
        if let Some(type_index) = self.type_index::<T>() {
            return Ok(type_index);
        }
        self.types
            .try_reserve(1)
            .map_err(|_| PoolError::OutOfMemory)?;
        self.types.push(TypeEntry {
            type_id: TypeId::of::<T>(),
            elem: T::TYPE,
        });
        Ok((self.types.len() - 1) as u32)
    }

    /// Puts a block in a vacant slot and returns its handle.
    ///
    /// # Safety
    ///
    /// - [`reserve_one::<T>`](Self::reserve_one) returned `type_index` with no
    ///   insert since;
    /// - `ptr` and `len` satisfy I1-I3 for `T`: `Layout::array::<T>(len)`
    ///   succeeded, and `ptr` holds `len` initialised `T`s, is owned by no
    ///   one else and, if the layout is not zero-sized, came from the pool's
    ///   allocator or chunks for it.
    #[inline]
    pub(crate) unsafe fn insert<T: 'static>(
        &mut self,
        ptr: NonNull<u8>,
        len: usize,
        type_index: u32,
    ) -> Handle<T> {
        debug_assert!(is_type::<T>(self.types[type_index as usize].elem));
        debug_assert_eq!(ptr.as_ptr().addr() % core::mem::align_of::<T>(), 0);
        let (index, generation) = if self.free_head != NONE {
            let index = self.free_head;
            let slot = &mut self.slots[index as usize];
            debug_assert!(slot.generation & 1 == 0 && slot.generation != u32::MAX);
            self.free_head = slot.len as u32;
            slot.generation += 1;
            slot.ptr = ptr;
            slot.len = len;
            slot.type_index = type_index;
            (index, slot.generation)
        } else {
            debug_assert!(
                self.slots.len() < self.slots.capacity(),
                "reserve_one not called"
            );
            let index = self.slots.len() as u32;
            self.slots.push(Slot {
                ptr,
                len,
                generation: 1,
                type_index,
            });
            (index, 1)
        };
        self.live += 1;
        self.bytes += core::mem::size_of::<T>() * len;
        Handle::from_parts(index, generation, self.pool_id)
    }

    /// Makes a resolved slot vacant and returns its block, which the caller
    /// now owns (I3). Retires the slot if its generation is exhausted.
    #[inline]
    pub(crate) fn remove(&mut self, index: usize) -> RawBlock {
        let elem = self.types[self.slots[index].type_index as usize].elem;
        self.remove_as(index, elem)
    }

    /// [`remove`](Self::remove) of a slot whose element type is known to be
    /// `elem` (a caller that resolved it for `T` passes `T::TYPE`, which the
    /// compiler then folds into the size and drop checks that follow).
    #[inline(always)]
    pub(crate) fn remove_as(&mut self, index: usize, elem: &'static ElemType) -> RawBlock {
        let slot = &mut self.slots[index];
        debug_assert!(slot.generation & 1 == 1, "remove() on a vacant slot");
        debug_assert!(self.types[slot.type_index as usize].type_id == elem.type_id);
        let block = RawBlock {
            ptr: slot.ptr,
            len: slot.len,
            elem,
        };
        slot.ptr = NonNull::dangling();
        slot.type_index = NONE;
        if slot.generation == u32::MAX {
            // Retired: even (vacant), never on the free list, never reused.
            slot.generation = 0;
            slot.len = NONE as usize;
            self.retired += 1;
        } else {
            slot.generation += 1;
            slot.len = self.free_head as usize;
            self.free_head = index as u32;
        }
        self.live -= 1;
        self.bytes -= block.elem.size * block.len;
        block
    }

    /// Points a resolved slot at a new block of `len` elements of the same
    /// type and returns the old block, which the caller now owns (I3).
    ///
    /// # Safety
    ///
    /// - `ptr` and `len` satisfy I1-I3 for the slot's element type.
    pub(crate) unsafe fn replace(
        &mut self,
        index: usize,
        ptr: NonNull<u8>,
        len: usize,
    ) -> RawBlock {
        let slot = &mut self.slots[index];
        debug_assert!(slot.generation & 1 == 1, "replace() on a vacant slot");
        let elem = self.types[slot.type_index as usize].elem;
        debug_assert_eq!(ptr.as_ptr().addr() % elem.align, 0);
        let old = RawBlock {
            ptr: slot.ptr,
            len: slot.len,
            elem,
        };
        slot.ptr = ptr;
        slot.len = len;
        self.bytes = self.bytes - elem.size * old.len + elem.size * len;
        old
    }

    /// Empties the table and returns every block it held; the caller now
    /// owns them (I3). The table takes a fresh pool id, so every handle made
    /// before is rejected by check 2, and slots start over at generation 1.
    /// Dropping the iterator early still empties the table.
    pub(crate) fn clear(&mut self) -> impl Iterator<Item = RawBlock> + '_ {
        self.pool_id = pool_id::next();
        self.free_head = NONE;
        self.live = 0;
        self.bytes = 0;
        self.retired = 0;
        let (slots, types) = (&mut self.slots, &self.types);
        slots
            .drain(..)
            .filter_map(|slot| Self::block_of(types, &slot))
    }

    /// Every occupied slot's block, leaving the table as it is; for `Drop`.
    pub(crate) fn blocks(&self) -> impl Iterator<Item = RawBlock> + '_ {
        (self.slots.iter()).filter_map(|slot| Self::block_of(&self.types, slot))
    }

    /// The block of an occupied slot, as `clear` and `blocks` hand it over.
    fn block_of(types: &[TypeEntry], slot: &Slot) -> Option<RawBlock> {
        (slot.generation & 1 == 1).then(|| RawBlock {
            ptr: slot.ptr,
            len: slot.len,
            elem: types[slot.type_index as usize].elem,
        })
    }

    /// The index `T` has in `types`, if a block of `T` was ever allocated.
    pub(crate) fn type_index<T: 'static>(&self) -> Option<u32> {
        let wanted = TypeId::of::<T>();
        let position = (self.types.iter()).position(|entry| entry.type_id == wanted)?;
        Some(position as u32)
    }

    /// The handle, address and length of slot `index` if it is occupied by
    /// a block of the type at `type_index` (any type if `None`).
    ///
    /// The block satisfies I1-I2 for that type until the table is next changed.
    #[inline]
    pub(crate) fn block_at<T>(
        &self,
        index: usize,
        type_index: Option<u32>,
    ) -> Option<(Handle<T>, NonNull<u8>, usize)> {
        let slot = self.slots.get(index)?;
        let occupied = slot.generation & 1 == 1;
        if !occupied || type_index.is_some_and(|wanted| wanted != slot.type_index) {
            return None;
        }
        // Indices fit in u32: `reserve_one` never lets `slots` pass MAX_SLOTS.
        let handle = Handle::from_parts(index as u32, slot.generation, self.pool_id);
        Some((handle, slot.ptr, slot.len))
    }

    /// Slots allocated in the table, vacant and retired ones included; a new
    /// slot gets this index.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Index, generation and block address of every occupied slot; for the
    /// C layer, which indexes blocks by address.
    #[cfg(feature = "capi")]
    pub(crate) fn occupied(&self) -> impl Iterator<Item = (u32, u32, NonNull<u8>)> + '_ {
        (0..self.slots.len()).filter_map(|index| {
            let (handle, ptr, _) = self.block_at::<()>(index, None)?;
            Some((handle.index, handle.generation, ptr))
        })
    }

    /// Test hook: sets a slot's generation as if it had been reused so often.
    #[cfg(test)]
    fn set_generation(&mut self, index: usize, generation: u32) {
        self.slots[index].generation = generation;
    }
}

// SAFETY: a `Table` is plain bookkeeping over blocks it does not
// dereference; the pool that owns it decides who may touch the blocks, and
// only stores `T: Send + Sync` in them (see `Pool`'s impls).
unsafe impl Send for Table {}
// SAFETY: as above; `&Table` gives only reads of integers and pointers.
unsafe impl Sync for Table {}

#[cfg(test)]
mod tests;
