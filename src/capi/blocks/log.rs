//! The log of blocks made without a handle (see `blocks.rs`): how such a
//! block is made, freed, resized, and how the log keeps itself short.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use super::{byte_size, layout_for, out_of_memory, units_for, zero_past_size, Blocks, Place, UNIT};
use crate::capi::addresses::Entry;
use crate::capi::CymemStatus;
use crate::BlockAllocator;

/// A block without a slot: its address, null once freed (a hole), and the
/// size C asked for.
#[derive(Clone, Copy)]
pub(super) struct Logged {
    pub(super) ptr: *mut u8,
    pub(super) bytes: usize,
}

const HOLE: Logged = Logged {
    ptr: ptr::null_mut(),
    bytes: 0,
};

/// An address-table entry with generation 0 (never a slot's while it is
/// occupied: occupied generations are odd) names log position `index`.
pub(super) const LOGGED: u32 = 0;

/// Log positions are `u32`s in the address table.
pub(super) const MAX_LOGGED: usize = u32::MAX as usize;

/// Holes below which the log is never compacted.
const MIN_HOLES_TO_COMPACT: usize = 64;

/// The address-table entry of the logged block at `position`.
pub(super) fn logged_entry(address: usize, position: usize) -> Entry {
    debug_assert!(position < MAX_LOGGED);
    Entry {
        address,
        index: position as u32,
        generation: LOGGED,
    }
}

impl<A: BlockAllocator> Blocks<A> {
    /// Logged blocks that are live (not holes).
    pub(super) fn live_logged(&self) -> usize {
        self.log.len() - self.holes
    }

    /// Whether `address` is the newest logged block's.
    #[inline(always)]
    pub(super) fn is_tail(&self, address: usize) -> bool {
        address != 0
            && self
                .log
                .last()
                .is_some_and(|last| last.ptr.addr() == address)
    }

    /// Whether the log entry at `position` is in the address table (M2).
    pub(super) fn in_table(&self, position: usize) -> bool {
        self.indexed && !(self.tail_unindexed && position + 1 == self.log.len())
    }

    /// Takes the live log entry at `position` out of the log: pops it if
    /// it is the newest (and the holes that uncovers), else leaves a hole.
    /// The caller has already taken its address out of the table, if it
    /// was there (M2).
    pub(super) fn unlog(&mut self, position: usize) -> Logged {
        let logged = core::mem::replace(&mut self.log[position], HOLE);
        debug_assert!(!logged.ptr.is_null(), "L1: a live entry");
        if position + 1 == self.log.len() {
            self.log.pop();
            self.tail_unindexed = false;
            self.pop_holes();
        } else {
            self.holes += 1;
            self.compact_if_sparse();
        }
        logged
    }

    /// Pops the holes the log now ends with (L1).
    #[inline(always)]
    pub(super) fn pop_holes(&mut self) {
        #[cold]
        fn pop(blocks_log: &mut Vec<Logged>, holes: &mut usize) {
            while blocks_log.last().is_some_and(|last| last.ptr.is_null()) {
                blocks_log.pop();
                *holes -= 1;
            }
        }
        if self.log.last().is_some_and(|last| last.ptr.is_null()) {
            pop(&mut self.log, &mut self.holes);
        }
    }

    /// Drops the holes once they are most of the log, and renumbers the
    /// moved entries in the address table (no allocation: every entry is
    /// already there).
    pub(super) fn compact_if_sparse(&mut self) {
        if self.holes < MIN_HOLES_TO_COMPACT || self.holes * 2 <= self.log.len() {
            return;
        }
        let last = self.log.len() - 1;
        let tail_unindexed = self.tail_unindexed;
        let mut kept = 0;
        for position in 0..self.log.len() {
            let logged = self.log[position];
            if logged.ptr.is_null() {
                continue;
            }
            self.log[kept] = logged;
            if self.indexed && !(tail_unindexed && position == last) {
                let renumbered = self.addresses.set_index(logged.ptr.addr(), kept as u32);
                debug_assert!(renumbered, "M2: a live logged block is indexed");
            }
            kept += 1;
        }
        self.log.truncate(kept);
        self.holes = 0;
    }

    /// Gives a logged block's memory back.
    #[inline(always)]
    pub(super) fn release_logged(&mut self, logged: Logged) {
        self.bytes -= logged.bytes;
        // SAFETY: `layout_for` succeeded for this size when the block was
        // made (L1): `units * 16` with align 16 is a valid layout.
        let layout =
            unsafe { Layout::from_size_align_unchecked(units_for(logged.bytes) * UNIT, UNIT) };
        debug_assert_eq!(Ok(layout), layout_for(logged.bytes));
        // SAFETY: the entry was live, so its block came from this memory
        // with `layout` (L1), and it has left the log: it is not used again.
        unsafe {
            self.pool
                .memory
                .deallocate(NonNull::new_unchecked(logged.ptr), layout)
        };
    }

    /// [`BlockMap::free_at`] of any block but the unindexed newest one.
    #[inline(never)]
    pub(super) fn free_at_indexed(&mut self, address: usize) -> Result<usize, CymemStatus> {
        if self.is_tail(address) {
            let position = self.log.len() - 1;
            debug_assert!(self.in_table(position));
            let removed = self.addresses.remove(address);
            debug_assert!(removed.is_some(), "M2: a live logged block is indexed");
            let logged = self.unlog(position);
            self.release_logged(logged);
            return Ok(logged.bytes);
        }
        if !self.indexed {
            self.index()?;
        }
        let entry = (self.addresses.remove(address)).ok_or(CymemStatus::InvalidPointer)?;
        match self.place(&entry) {
            Place::Log(position) => {
                let logged = self.unlog(position);
                self.release_logged(logged);
                Ok(logged.bytes)
            }
            Place::Slot(handle) => {
                let bytes = self.sizes.get(handle.index as usize).copied();
                debug_assert!(bytes.is_some(), "M1: a live block has a size");
                let freed = self.pool.free(handle);
                debug_assert!(freed.is_ok(), "M2: an indexed block is live");
                let bytes = bytes.unwrap_or(0);
                self.bytes -= bytes;
                Ok(bytes)
            }
        }
    }

    /// A new block with no slot, at the end of the log.
    #[inline(always)]
    pub(super) fn alloc_logged(&mut self, bytes: usize) -> Result<NonNull<u8>, CymemStatus> {
        let layout = layout_for(bytes)?;
        // The common case, kept to a few registers: the log has room and no
        // previous newest block needs indexing, so only the allocation can
        // fail, and it changes nothing when it does.
        if self.log.len() < self.log_room && !(self.indexed && self.tail_unindexed) {
            // SAFETY: `layout_for` gives at least one unit.
            unsafe { core::hint::assert_unchecked(layout.size() >= UNIT) };
            let ptr = (self.pool.memory.allocate(layout)).ok_or(CymemStatus::OutOfMemory)?;
            self.push_logged(ptr, bytes);
            return Ok(ptr);
        }
        self.alloc_logged_with_room(layout, bytes)
    }

    /// [`alloc_logged`](Self::alloc_logged) when the log must grow or the
    /// previous newest block must go into the address table.
    #[inline(never)]
    pub(super) fn alloc_logged_with_room(
        &mut self,
        layout: Layout,
        bytes: usize,
    ) -> Result<NonNull<u8>, CymemStatus> {
        // Room first, for the log entry and the previous newest block's
        // table entry, so that no step after the allocation can fail.
        if self.log.len() == self.log_room {
            self.grow_log()?;
        }
        let previous_unindexed = self.indexed && self.tail_unindexed;
        if previous_unindexed {
            self.addresses.try_reserve(1).map_err(out_of_memory)?;
        }
        let ptr = (self.pool.memory.allocate(layout)).ok_or(CymemStatus::OutOfMemory)?;
        if previous_unindexed {
            let position = self.log.len() - 1;
            self.addresses
                .insert(logged_entry(self.log[position].ptr.addr(), position));
            self.tail_unindexed = false;
        }
        self.push_logged(ptr, bytes);
        Ok(ptr)
    }

    /// Makes room for at least one more log entry (L2).
    pub(super) fn grow_log(&mut self) -> Result<(), CymemStatus> {
        let len = self.log.len();
        if len >= MAX_LOGGED {
            return Err(CymemStatus::OutOfMemory);
        }
        let additional = len.max(8).min(MAX_LOGGED - len);
        self.log.try_reserve(additional).map_err(out_of_memory)?;
        self.log_room = self.log.capacity().min(MAX_LOGGED);
        Ok(())
    }

    /// Logs a new block; the log has room for it, and the newest block
    /// before it is in the address table if the table is kept (M2).
    #[inline(always)]
    pub(super) fn push_logged(&mut self, ptr: NonNull<u8>, bytes: usize) {
        let len = self.log.len();
        debug_assert!(len < self.log_room && self.log_room <= self.log.capacity());
        debug_assert!(!(self.indexed && self.tail_unindexed));
        self.tail_unindexed = self.indexed;
        let entry = Logged {
            ptr: ptr.as_ptr(),
            bytes,
        };
        // SAFETY: `len < log_room <= capacity` (the callers' checks, L2):
        // the slot past the end is allocated, and the new length counts one
        // initialised entry more. (`push` would test the capacity again.)
        unsafe {
            self.log.as_mut_ptr().add(len).write(entry);
            self.log.set_len(len + 1);
        }
        self.bytes += bytes;
    }

    /// Resizes the logged block at `position`.
    pub(super) fn realloc_logged(
        &mut self,
        position: usize,
        number: usize,
        elem_size: usize,
    ) -> Result<NonNull<u8>, CymemStatus> {
        let old = self.log[position];
        let bytes = byte_size(number, elem_size)?;
        let new_layout = layout_for(bytes)?;
        let old_layout = layout_for(old.bytes)?;
        let in_table = self.in_table(position);
        if in_table {
            self.addresses.try_reserve(1).map_err(out_of_memory)?;
        }
        // SAFETY: non-null (L1: a live entry).
        let old_ptr = unsafe { NonNull::new_unchecked(old.ptr) };
        if new_layout == old_layout {
            // The same units: the block stays where it is, as a block with a
            // slot does (`Pool::realloc` of the same length), with no trip to
            // the allocator.
            zero_past_size(old_ptr, old.bytes, bytes, old_layout.size());
            self.log[position].bytes = bytes;
            self.bytes = self.bytes - old.bytes + bytes;
            return Ok(old_ptr);
        }
        // SAFETY: the block came from this memory with `old_layout` (L1);
        // units are plain bytes, so the ones past the new size need no drop.
        let resized = unsafe { self.pool.memory.resize(old_ptr, old_layout, new_layout) };
        let ptr = match resized {
            Some(Ok(ptr)) => ptr,
            Some(Err(_)) => return Err(CymemStatus::OutOfMemory),
            None => {
                let ptr =
                    (self.pool.memory.allocate(new_layout)).ok_or(CymemStatus::OutOfMemory)?;
                let copied = old_layout.size().min(new_layout.size());
                // SAFETY: two distinct live blocks of at least `copied` bytes.
                unsafe { ptr::copy_nonoverlapping(old_ptr.as_ptr(), ptr.as_ptr(), copied) };
                // SAFETY: the old block came from this memory with
                // `old_layout` (L1) and is replaced below: not used again.
                unsafe { self.pool.memory.deallocate(old_ptr, old_layout) };
                ptr
            }
        };
        zero_past_size(
            ptr,
            old.bytes,
            bytes,
            old_layout.size().min(new_layout.size()),
        );
        if in_table && ptr != old_ptr {
            let removed = self.addresses.remove(old_ptr.as_ptr().addr());
            debug_assert!(removed.is_some(), "M2: a live logged block is indexed");
            self.addresses
                .insert(logged_entry(ptr.as_ptr().addr(), position));
        }
        self.log[position] = Logged {
            ptr: ptr.as_ptr(),
            bytes,
        };
        self.bytes = self.bytes - old.bytes + bytes;
        Ok(ptr)
    }
}
