//! A pool of C blocks: the crate's [`Pool`] (its memory, and its slot table
//! for blocks that have a handle), a log of the blocks that have none, and
//! the [`AddressTable`] that turns a C pointer back into its block.
//!
//! # Two kinds of block
//!
//! cymem's callers name blocks by address and never ask for a handle, so a
//! block made without one (`cymem_alloc` with a NULL `out_handle`) gets no
//! slot: it is carved from the pool's memory and appended to a log of
//! `(address, requested size)`, 16 bytes, where a slot and its size take 32.
//! A block made with a handle, or asked for one later (`cymem_find` with an
//! `out_handle`, which moves a logged block into a slot), lives in the slot
//! table as before, so handles are checked exactly as [`Pool::get`] checks
//! them. A block has no handle until someone asks for one, and a handle can
//! only name a slot: a logged block cannot be reached by any handle.
//!
//! Freeing the newest logged block by address, cymem's temporary-buffer
//! pattern (and an alloc + free pair), pops the log: one compare, no hash,
//! no slot. Any other block is found through the address table, built by
//! the first call that needs it (`cymem_free`, `cymem_realloc` or
//! `cymem_find` of a block that is not the newest) and kept from then on;
//! a freed logged block leaves a hole in the log, and the log is compacted
//! when holes are more than half of it. A pool that is only filled and
//! destroyed, cymem's own pattern, never builds the table.
//!
//! `blocks/log.rs` holds the log's side (making, freeing, resizing a
//! logged block, compaction); this file the slots' side, the address table's
//! upkeep and the [`BlockMap`] operations that pick between the two.
//!
//! `bash python/bench/callgrind_capi.sh` prints the instructions per block
//! of such a fill + destroy (`fill`) and per alloc + free pair by pointer
//! (`pair`) on today's code.

use core::alloc::Layout;
use core::ptr::NonNull;

mod log;

use self::log::{logged_entry, Logged, LOGGED};
use super::addresses::{AddressTable, Entry};
use super::CymemStatus;
use crate::memory::Memory;
use crate::{BlockAllocator, Handle, Pool};

/// The element type of every C block: 16 bytes, aligned like `max_align_t`.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub(super) struct Unit([u8; UNIT]);

const UNIT: usize = 16;

// SAFETY: `Unit` is a byte array (with no padding at size 16); all-zero bytes
// are a valid value.
unsafe impl bytemuck::Zeroable for Unit {}

/// Units holding `bytes` bytes; at least one, so every block has its own
/// address.
fn units_for(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

/// The layout of a block of `bytes` requested bytes, or
/// [`CymemStatus::SizeOverflow`] if it is too large for memory.
#[inline]
fn layout_for(bytes: usize) -> Result<Layout, CymemStatus> {
    Layout::array::<Unit>(units_for(bytes)).map_err(|_| CymemStatus::SizeOverflow)
}

fn byte_size(number: usize, elem_size: usize) -> Result<usize, CymemStatus> {
    number
        .checked_mul(elem_size)
        .ok_or(CymemStatus::SizeOverflow)
}

fn out_of_memory<E>(_: E) -> CymemStatus {
    CymemStatus::OutOfMemory
}

/// Where a live block is recorded.
enum Place {
    /// At this log position.
    Log(usize),
    /// In a slot.
    Slot(Handle<Unit>),
}

/// A pool plus what C needs beside it.
///
/// Invariants:
/// - L1: every log entry that is not a hole is a live block that came from
///   `pool.memory.allocate(layout_for(bytes))`, owned by that entry alone
///   (no slot holds it); `holes` counts the holes, and the last entry is
///   never one.
/// - L2: `log_room` is at most the log's capacity and at most
///   `log::MAX_LOGGED`, so a log position always fits the table's `u32`.
/// - M1: for every block with a slot, `sizes[index]` is the size C asked for
///   (`<= units * 16`), and `bytes` is the sum of every live block's size.
/// - M2: once `indexed`, the address table holds every live block's address
///   (log entries with generation [`LOGGED`] and their position, slots with
///   their index and generation) except the last log entry's while
///   `tail_unindexed`, and nothing else.
pub(super) struct Blocks<A: BlockAllocator> {
    pool: Pool<A>,
    /// Requested bytes by slot index (vacant slots' entries are stale).
    sizes: Vec<usize>,
    /// Blocks without a slot, oldest first.
    log: Vec<Logged>,
    /// Entries the log can hold without growing (L2).
    log_room: usize,
    holes: usize,
    addresses: AddressTable,
    indexed: bool,
    /// Whether the newest log entry is left out of the address table: it
    /// goes in when the next block is logged, so a block freed right after
    /// it was made costs no insert and no remove.
    tail_unindexed: bool,
    bytes: usize,
}

// SAFETY: the log's pointers are blocks of the pool's memory that this value
// owns (L1), like the pointers inside `Pool<A>`, which is Send when `A` is.
unsafe impl<A: BlockAllocator + Send> Send for Blocks<A> {}

/// The operations of [`Blocks`], object-safe so one `match` picks the
/// allocator and every C function is written once. Results stay small
/// (returned in registers): a handle goes out through a reference.
pub(super) trait BlockMap {
    /// A new block; it gets a slot, and its handle goes to `handle`, only if
    /// `handle` is given.
    fn alloc(
        &mut self,
        number: usize,
        elem_size: usize,
        handle: Option<&mut Handle<Unit>>,
    ) -> Result<NonNull<u8>, CymemStatus>;
    fn free(&mut self, handle: Handle<Unit>) -> Result<(), CymemStatus>;
    /// Frees the block that starts at `address` and returns its requested size.
    fn free_at(&mut self, address: usize) -> Result<usize, CymemStatus>;
    fn realloc(
        &mut self,
        handle: Handle<Unit>,
        number: usize,
        elem_size: usize,
    ) -> Result<NonNull<u8>, CymemStatus>;
    /// Resizes the block that starts at `address`.
    fn realloc_at(
        &mut self,
        address: usize,
        number: usize,
        elem_size: usize,
    ) -> Result<NonNull<u8>, CymemStatus>;
    /// The block's address and requested size.
    fn lookup(&self, handle: Handle<Unit>) -> Option<(NonNull<u8>, usize)>;
    /// The requested size of the block that starts at `address`, and its
    /// handle if `handle` is given (giving the block a slot if it has none).
    fn find(
        &mut self,
        address: usize,
        handle: Option<&mut Handle<Unit>>,
    ) -> Result<usize, CymemStatus>;
    fn len(&self) -> usize;
    fn bytes(&self) -> usize;
    /// Calls `f` with each live block's address and requested size (blocks
    /// without a handle oldest first, then the others in slot order) until
    /// it returns false.
    fn each_block(&self, f: &mut dyn FnMut(NonNull<u8>, usize) -> bool);
}

impl<A: BlockAllocator> Blocks<A> {
    pub(super) fn new(pool: Pool<A>) -> Self {
        debug_assert_eq!(pool.zones.depth(), 0, "C pools open no zones");
        Blocks {
            pool,
            sizes: Vec::new(),
            log: Vec::new(),
            log_room: 0,
            holes: 0,
            addresses: AddressTable::default(),
            indexed: false,
            tail_unindexed: false,
            bytes: 0,
        }
    }

    /// Builds the address table from every live block (M2).
    fn index(&mut self) -> Result<(), CymemStatus> {
        let mut addresses = AddressTable::default();
        addresses
            .try_reserve(self.live_logged() + self.pool.len())
            .map_err(out_of_memory)?;
        for (position, logged) in self.log.iter().enumerate() {
            if !logged.ptr.is_null() {
                addresses.insert(logged_entry(logged.ptr.addr(), position));
            }
        }
        for (index, generation, ptr) in self.pool.table.occupied() {
            addresses.insert(Entry {
                address: ptr.as_ptr().addr(),
                index,
                generation,
            });
        }
        self.addresses = addresses;
        self.tail_unindexed = false;
        self.indexed = true;
        Ok(())
    }

    /// Where the block at `address` is recorded, building the address table
    /// if it is needed and missing.
    fn place_of(&mut self, address: usize) -> Result<Place, CymemStatus> {
        if self.is_tail(address) {
            return Ok(Place::Log(self.log.len() - 1));
        }
        if !self.indexed {
            self.index()?;
        }
        let entry = self
            .addresses
            .get(address)
            .ok_or(CymemStatus::InvalidPointer)?;
        Ok(self.place(entry))
    }

    fn place(&self, entry: &Entry) -> Place {
        if entry.generation == LOGGED {
            Place::Log(entry.index as usize)
        } else {
            Place::Slot(Handle::from_parts(
                entry.index,
                entry.generation,
                self.pool.table.pool_id(),
            ))
        }
    }

    /// A new block in a slot.
    #[inline(never)]
    fn alloc_with_slot(
        &mut self,
        bytes: usize,
        out: &mut Handle<Unit>,
    ) -> Result<NonNull<u8>, CymemStatus> {
        self.reserve_slot_records()?;
        let (handle, ptr) = self.pool.alloc_with_address::<Unit>(units_for(bytes))?;
        self.record_slot(handle, ptr, bytes);
        self.bytes += bytes;
        *out = handle;
        Ok(ptr)
    }

    /// Room for [`record_slot`](Self::record_slot) of one new slot: its
    /// size, and its address if the table is kept. Reserved before the
    /// block is made, so that no step after it can fail (M1, M2).
    fn reserve_slot_records(&mut self) -> Result<(), CymemStatus> {
        let new_slot = self.pool.table.slot_count();
        self.sizes
            .try_reserve((new_slot + 1).saturating_sub(self.sizes.len()))
            .map_err(out_of_memory)?;
        if self.indexed {
            self.addresses.try_reserve(1).map_err(out_of_memory)?;
        }
        Ok(())
    }

    /// Records a block that just got a slot: its size, and its address if
    /// the table is kept (room for both was reserved).
    fn record_slot(&mut self, handle: Handle<Unit>, ptr: NonNull<u8>, bytes: usize) {
        let index = handle.index as usize;
        if index >= self.sizes.len() {
            self.sizes.resize(index + 1, 0);
        }
        self.sizes[index] = bytes;
        if self.indexed {
            self.addresses.insert(Entry {
                address: ptr.as_ptr().addr(),
                index: handle.index,
                generation: handle.generation,
            });
        }
    }

    /// Moves the logged block at `position` into a slot and returns its
    /// handle.
    fn give_slot(&mut self, position: usize) -> Result<Handle<Unit>, CymemStatus> {
        let logged = self.log[position];
        let units = units_for(logged.bytes);
        let type_index = self.pool.table.reserve_one::<Unit>()?;
        self.reserve_slot_records()?;
        if self.in_table(position) {
            let removed = self.addresses.remove(logged.ptr.addr());
            debug_assert!(removed.is_some(), "M2: a live logged block is indexed");
        }
        let logged = self.unlog(position);
        // SAFETY: `logged.ptr` is non-null (L1: the entry was live).
        let ptr = unsafe { NonNull::new_unchecked(logged.ptr) };
        // C pools open no zones, so the block needs no zone log entry.
        // SAFETY: I1-I3 for `Unit`: from the pool's memory for
        // `Layout::array::<Unit>(units)` (L1), any bytes are valid units, and
        // it has left the log; `reserve_one::<Unit>` gave `type_index` above.
        let handle = unsafe { self.pool.table.insert::<Unit>(ptr, units, type_index) };
        self.record_slot(handle, ptr, logged.bytes);
        Ok(handle)
    }

    /// The live block `handle` names: its address, slot index and size.
    fn resolve(&self, handle: Handle<Unit>) -> Option<(NonNull<u8>, usize, usize)> {
        let ptr = NonNull::new(self.pool.as_ptr(handle)?.cast_mut().cast::<u8>())?;
        let index = handle.index as usize;
        Some((ptr, index, *self.sizes.get(index)?))
    }
}

/// Zeroes the bytes of a resized block from its kept size to the end of
/// what was copied: they may hold what a C caller wrote out of bounds, or
/// data from before a shrink, and the caller must see zeroes there.
fn zero_past_size(ptr: NonNull<u8>, old_bytes: usize, bytes: usize, copied: usize) {
    let kept = old_bytes.min(bytes);
    if copied > kept {
        // SAFETY: `kept < copied <=` the new block's size (units), and no
        // reference into it is alive (the pool hands out none here).
        unsafe { ptr.as_ptr().add(kept).write_bytes(0, copied - kept) };
    }
}

impl<A: BlockAllocator> BlockMap for Blocks<A> {
    #[inline(always)]
    fn alloc(
        &mut self,
        number: usize,
        elem_size: usize,
        handle: Option<&mut Handle<Unit>>,
    ) -> Result<NonNull<u8>, CymemStatus> {
        let bytes = byte_size(number, elem_size)?;
        match handle {
            None => self.alloc_logged(bytes),
            Some(out) => self.alloc_with_slot(bytes, out),
        }
    }

    fn free(&mut self, handle: Handle<Unit>) -> Result<(), CymemStatus> {
        let (ptr, _, bytes) = self.resolve(handle).ok_or(CymemStatus::InvalidHandle)?;
        if self.indexed {
            let removed = self.addresses.remove(ptr.as_ptr().addr());
            debug_assert!(removed.is_some(), "M2: a live block is indexed");
        }
        self.pool.free(handle)?;
        self.bytes -= bytes;
        Ok(())
    }

    #[inline(always)]
    fn free_at(&mut self, address: usize) -> Result<usize, CymemStatus> {
        // The newest block, not in the address table: a pop, and nothing
        // here needs more than a few registers.
        if (self.tail_unindexed || !self.indexed) && self.is_tail(address) {
            if let Some(logged) = self.log.pop() {
                debug_assert!(!logged.ptr.is_null(), "L1: the last entry is live");
                self.tail_unindexed = false;
                self.pop_holes();
                self.release_logged(logged);
                return Ok(logged.bytes);
            }
        }
        self.free_at_indexed(address)
    }

    fn realloc(
        &mut self,
        handle: Handle<Unit>,
        number: usize,
        elem_size: usize,
    ) -> Result<NonNull<u8>, CymemStatus> {
        let (old_ptr, index, old_bytes) = self.resolve(handle).ok_or(CymemStatus::InvalidHandle)?;
        let bytes = byte_size(number, elem_size)?;
        if self.indexed {
            self.addresses.try_reserve(1).map_err(out_of_memory)?;
        }
        let old_units = units_for(old_bytes);
        let new_units = units_for(bytes);
        self.pool.realloc(handle, new_units)?;
        let (ptr, _, _) = self.resolve(handle).ok_or(CymemStatus::InvalidHandle)?;
        // The pool kept `min(old_units, new_units)` units.
        zero_past_size(ptr, old_bytes, bytes, old_units.min(new_units) * UNIT);
        if self.indexed && ptr != old_ptr {
            let removed = self.addresses.remove(old_ptr.as_ptr().addr());
            debug_assert!(removed.is_some(), "M2: a live block is indexed");
            self.addresses.insert(Entry {
                address: ptr.as_ptr().addr(),
                index: handle.index,
                generation: handle.generation,
            });
        }
        self.sizes[index] = bytes;
        self.bytes = self.bytes - old_bytes + bytes;
        Ok(ptr)
    }

    fn realloc_at(
        &mut self,
        address: usize,
        number: usize,
        elem_size: usize,
    ) -> Result<NonNull<u8>, CymemStatus> {
        match self.place_of(address)? {
            Place::Log(position) => self.realloc_logged(position, number, elem_size),
            Place::Slot(handle) => self.realloc(handle, number, elem_size),
        }
    }

    fn lookup(&self, handle: Handle<Unit>) -> Option<(NonNull<u8>, usize)> {
        let (ptr, _, bytes) = self.resolve(handle)?;
        Some((ptr, bytes))
    }

    fn find(
        &mut self,
        address: usize,
        out: Option<&mut Handle<Unit>>,
    ) -> Result<usize, CymemStatus> {
        let handle = match (self.place_of(address)?, out) {
            (Place::Log(position), None) => return Ok(self.log[position].bytes),
            (Place::Log(position), Some(out)) => {
                *out = self.give_slot(position)?;
                *out
            }
            (Place::Slot(handle), out) => {
                if let Some(out) = out {
                    *out = handle;
                }
                handle
            }
        };
        let (_, _, bytes) = self.resolve(handle).ok_or(CymemStatus::InvalidPointer)?;
        Ok(bytes)
    }

    fn len(&self) -> usize {
        let len = self.live_logged() + self.pool.len();
        debug_assert!(
            !self.indexed || self.addresses.len() + usize::from(self.tail_unindexed) == len,
            "M2"
        );
        len
    }

    fn bytes(&self) -> usize {
        self.bytes
    }

    fn each_block(&self, f: &mut dyn FnMut(NonNull<u8>, usize) -> bool) {
        for logged in &self.log {
            if let Some(ptr) = NonNull::new(logged.ptr) {
                if !f(ptr, logged.bytes) {
                    return;
                }
            }
        }
        for (index, _, ptr) in self.pool.table.occupied() {
            let bytes = self.sizes.get(index as usize).copied();
            debug_assert!(bytes.is_some(), "M1: a live block has a size");
            if !f(ptr, bytes.unwrap_or(0)) {
                break;
            }
        }
    }
}

impl<A: BlockAllocator> Drop for Blocks<A> {
    /// Gives back the logged blocks that came from the allocator one by one;
    /// carved ones go with the pool's chunks when the pool drops next.
    fn drop(&mut self) {
        if self.pool.memory.allocator_blocks() == 0 {
            return;
        }
        for logged in core::mem::take(&mut self.log) {
            let Some(ptr) = NonNull::new(logged.ptr) else {
                continue;
            };
            let layout = layout_for(logged.bytes).unwrap_or(Layout::new::<Unit>());
            if Memory::<A>::from_allocator(layout) {
                // SAFETY: a live entry's block came from this memory with
                // `layout` (L1); the log is gone, so it is not used again.
                unsafe { self.pool.memory.deallocate(ptr, layout) };
            }
        }
    }
}
