//! A pool of C blocks: the crate's [`Pool`] of 16-byte units, each block's
//! requested size, and the [`AddressTable`] that turns a C pointer back into
//! its block.
//!
//! The address table is built on the first call that names a block by
//! pointer (`cymem_free`, `cymem_realloc`, `cymem_find`; `cymem_pool_blocks`
//! does not need it) and kept up to date from then on. cymem's own pattern
//! — build a structure, drop the pool — never frees one block, and the
//! handle functions never need it, so neither pays for its inserts or for
//! the page faults of its fresh memory. `bash python/bench/callgrind_capi.sh`
//! prints the instructions per block of such a fill + destroy (`fill`) and
//! per alloc + free pair by pointer (`pair`) on today's code.

use core::ptr::NonNull;

use super::addresses::{AddressTable, Entry, NO_ENTRY};
use super::CymemStatus;
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
/// address. A length too large for memory makes the pool report
/// `PoolError::SizeOverflow`.
fn units_for(bytes: usize) -> usize {
    bytes.div_ceil(UNIT).max(1)
}

fn byte_size(number: usize, elem_size: usize) -> Result<usize, CymemStatus> {
    number
        .checked_mul(elem_size)
        .ok_or(CymemStatus::SizeOverflow)
}

fn out_of_memory<E>(_: E) -> CymemStatus {
    CymemStatus::OutOfMemory
}

/// A pool plus what C needs beside it.
///
/// Invariants:
/// - M1: for every live block, `sizes[index]` is the size C asked for
///   (`<= units * 16`), and `bytes` is the sum of them.
/// - M2: once `indexed`, every live block is either in the address table
///   or is `newest`, never both, with its slot index and generation; every
///   entry and `newest` (unless its address is 0) is a live block.
pub(super) struct Blocks<A: BlockAllocator> {
    pool: Pool<A>,
    /// Requested bytes by slot index (vacant slots' entries are stale).
    sizes: Vec<usize>,
    addresses: AddressTable,
    /// Once indexed, the newest block, kept out of the address table until
    /// the next `alloc` (address 0: none). A block freed (or reallocated,
    /// or found) right after it was allocated, cymem's temporary-buffer
    /// pattern, then costs no table insert and no table remove.
    newest: Entry,
    indexed: bool,
    bytes: usize,
}

/// The operations of [`Blocks`], object-safe so one `match` picks the
/// allocator and every C function is written once. Results stay small
/// (returned in registers): the handle goes out through a reference.
pub(super) trait BlockMap {
    fn alloc(
        &mut self,
        number: usize,
        elem_size: usize,
        handle: &mut Handle<Unit>,
    ) -> Result<NonNull<u8>, CymemStatus>;
    fn free(&mut self, handle: Handle<Unit>) -> Result<(), CymemStatus>;
    /// Frees the block that starts at `address` (one probe of the address
    /// table, where `handle_at` and `free` would take two).
    fn free_at(&mut self, address: usize) -> Result<(), CymemStatus>;
    fn realloc(
        &mut self,
        handle: Handle<Unit>,
        number: usize,
        elem_size: usize,
    ) -> Result<NonNull<u8>, CymemStatus>;
    /// The block's address and requested size.
    fn lookup(&self, handle: Handle<Unit>) -> Option<(NonNull<u8>, usize)>;
    /// The handle of the block that starts at `address`, building the
    /// address table first if needed.
    fn handle_at(&mut self, address: usize) -> Result<Handle<Unit>, CymemStatus>;
    fn len(&self) -> usize;
    fn bytes(&self) -> usize;
    /// Calls `f` with each live block's address and requested size, in slot
    /// order, until it returns false.
    fn each_block(&self, f: &mut dyn FnMut(NonNull<u8>, usize) -> bool);
}

impl<A: BlockAllocator> Blocks<A> {
    pub(super) fn new(pool: Pool<A>) -> Self {
        Blocks {
            pool,
            sizes: Vec::new(),
            addresses: AddressTable::default(),
            newest: NO_ENTRY,
            indexed: false,
            bytes: 0,
        }
    }

    /// Builds the address table from the pool's live blocks (M2).
    fn index(&mut self) -> Result<(), CymemStatus> {
        let mut addresses = AddressTable::default();
        addresses
            .try_reserve(self.pool.len())
            .map_err(out_of_memory)?;
        for (index, generation, ptr) in self.pool.table.occupied() {
            addresses.insert(Entry {
                address: ptr.as_ptr().addr(),
                index,
                generation,
            });
        }
        self.addresses = addresses;
        self.newest = NO_ENTRY;
        self.indexed = true;
        Ok(())
    }

    /// Takes the entry for the block at `address` out of the index (M2).
    #[inline]
    fn unindex(&mut self, address: usize) -> Option<Entry> {
        if self.newest.address == address && address != 0 {
            return Some(core::mem::replace(&mut self.newest, NO_ENTRY));
        }
        self.addresses.remove(address)
    }

    /// The entry for the block at `address`, if it is indexed (M2).
    #[inline]
    fn indexed_at(&self, address: usize) -> Option<Entry> {
        if self.newest.address == address && address != 0 {
            return Some(self.newest);
        }
        self.addresses.get(address).copied()
    }

    /// The live block `handle` names: its address, slot index and size.
    fn resolve(&self, handle: Handle<Unit>) -> Option<(NonNull<u8>, usize, usize)> {
        let ptr = NonNull::new(self.pool.as_ptr(handle)?.cast_mut().cast::<u8>())?;
        let index = handle.index as usize;
        Some((ptr, index, *self.sizes.get(index)?))
    }
}

impl<A: BlockAllocator> BlockMap for Blocks<A> {
    fn alloc(
        &mut self,
        number: usize,
        elem_size: usize,
        out: &mut Handle<Unit>,
    ) -> Result<NonNull<u8>, CymemStatus> {
        let bytes = byte_size(number, elem_size)?;
        // Room first, for the size and the address of the block, so that no
        // step after the allocation can fail (M1, M2 on every path).
        let new_slot = self.pool.table.slot_count();
        self.sizes
            .try_reserve((new_slot + 1).saturating_sub(self.sizes.len()))
            .map_err(out_of_memory)?;
        if self.indexed && self.newest.address != 0 {
            self.addresses.try_reserve(1).map_err(out_of_memory)?;
        }
        let (handle, ptr) = self.pool.alloc_with_address::<Unit>(units_for(bytes))?;
        let index = handle.index as usize;
        if index >= self.sizes.len() {
            self.sizes.resize(index + 1, 0);
        }
        self.sizes[index] = bytes;
        if self.indexed {
            let newest = Entry {
                address: ptr.as_ptr().addr(),
                index: handle.index,
                generation: handle.generation,
            };
            let previous = core::mem::replace(&mut self.newest, newest);
            if previous.address != 0 {
                self.addresses.insert(previous);
            }
        }
        self.bytes += bytes;
        *out = handle;
        Ok(ptr)
    }

    fn free(&mut self, handle: Handle<Unit>) -> Result<(), CymemStatus> {
        let (ptr, _, bytes) = self.resolve(handle).ok_or(CymemStatus::InvalidHandle)?;
        if self.indexed {
            let removed = self.unindex(ptr.as_ptr().addr());
            debug_assert!(removed.is_some(), "M2: a live block is indexed");
        }
        self.pool.free(handle)?;
        self.bytes -= bytes;
        Ok(())
    }

    fn free_at(&mut self, address: usize) -> Result<(), CymemStatus> {
        if !self.indexed {
            self.index()?;
        }
        let entry = self.unindex(address).ok_or(CymemStatus::InvalidPointer)?;
        let handle =
            Handle::<Unit>::from_parts(entry.index, entry.generation, self.pool.table.pool_id());
        let bytes = self.sizes.get(entry.index as usize).copied();
        debug_assert!(bytes.is_some(), "M1: a live block has a size");
        let freed = self.pool.free(handle);
        debug_assert!(freed.is_ok(), "M2: an indexed block is live");
        self.bytes -= bytes.unwrap_or(0);
        Ok(())
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
        // The pool kept `min(old_units, new_units)` units; bytes in them past
        // the old size may hold what a C caller wrote out of bounds, or data
        // from before a shrink: the caller must see zeroes there.
        let kept = old_bytes.min(bytes);
        let copied = old_units.min(new_units) * UNIT;
        if copied > kept {
            // SAFETY: `kept < copied <= new_units * UNIT`, the bytes the block
            // now holds (whatever `sizes` says), and no reference into it is
            // alive (the pool hands out none here).
            unsafe { ptr.as_ptr().add(kept).write_bytes(0, copied - kept) };
        }
        if self.indexed && ptr != old_ptr {
            let moved = Entry {
                address: ptr.as_ptr().addr(),
                index: handle.index,
                generation: handle.generation,
            };
            if self.newest.address == old_ptr.as_ptr().addr() {
                self.newest = moved;
            } else {
                let removed = self.addresses.remove(old_ptr.as_ptr().addr());
                debug_assert!(removed.is_some(), "M2: a live block is indexed");
                self.addresses.insert(moved);
            }
        }
        self.sizes[index] = bytes;
        self.bytes = self.bytes - old_bytes + bytes;
        Ok(ptr)
    }

    fn lookup(&self, handle: Handle<Unit>) -> Option<(NonNull<u8>, usize)> {
        let (ptr, _, bytes) = self.resolve(handle)?;
        Some((ptr, bytes))
    }

    fn handle_at(&mut self, address: usize) -> Result<Handle<Unit>, CymemStatus> {
        if !self.indexed {
            self.index()?;
        }
        let entry = self.indexed_at(address).ok_or(CymemStatus::InvalidPointer)?;
        Ok(Handle::from_parts(
            entry.index,
            entry.generation,
            self.pool.table.pool_id(),
        ))
    }

    fn len(&self) -> usize {
        debug_assert!(
            !self.indexed
                || self.addresses.len() + usize::from(self.newest.address != 0) == self.pool.len(),
            "M2"
        );
        self.pool.len()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }

    fn each_block(&self, f: &mut dyn FnMut(NonNull<u8>, usize) -> bool) {
        for (index, _, ptr) in self.pool.table.occupied() {
            let bytes = self.sizes.get(index as usize).copied();
            debug_assert!(bytes.is_some(), "M1: a live block has a size");
            if !f(ptr, bytes.unwrap_or(0)) {
                break;
            }
        }
    }
}
