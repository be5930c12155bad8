//! A pool of C blocks: the crate's [`Pool`] of 16-byte units plus the
//! [`AddressTable`] that turns a C pointer back into its block.

use core::ptr::NonNull;

use super::addresses::{AddressTable, Entry};
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

/// A live block as the C layer sees it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Block {
    pub(super) handle: Handle<Unit>,
    /// `number * elem_size` as asked for (the block holds `units_for(bytes)` units).
    pub(super) bytes: usize,
}

/// A pool plus the table from each live block's address to its block.
///
/// Invariant M1: the table's addresses are exactly those of the pool's live
/// blocks, each with that block's slot index, generation and requested
/// size; `bytes` is the sum of those sizes.
pub(super) struct Blocks<A: BlockAllocator> {
    pool: Pool<A>,
    addresses: AddressTable,
    bytes: usize,
}

/// The operations of [`Blocks`], object-safe so one `match` picks the
/// allocator and every C function is written once.
pub(super) trait BlockMap {
    fn alloc(
        &mut self,
        number: usize,
        elem_size: usize,
    ) -> Result<(NonNull<u8>, Handle<Unit>), CymemStatus>;
    fn free(&mut self, address: usize) -> Result<(), CymemStatus>;
    fn realloc(
        &mut self,
        address: usize,
        number: usize,
        elem_size: usize,
    ) -> Result<NonNull<u8>, CymemStatus>;
    fn address_of(&self, handle: Handle<Unit>) -> Option<NonNull<u8>>;
    fn block_at(&self, address: usize) -> Option<Block>;
    fn len(&self) -> usize;
    fn bytes(&self) -> usize;
}

impl<A: BlockAllocator> Blocks<A> {
    pub(super) fn new(pool: Pool<A>) -> Self {
        Blocks {
            pool,
            addresses: AddressTable::default(),
            bytes: 0,
        }
    }

    fn handle(&self, entry: &Entry) -> Handle<Unit> {
        Handle::from_parts(entry.index, entry.generation, self.pool.id())
    }

    /// Reserves the table entry before the pool allocates, so no step after
    /// the allocation can fail and M1 holds on every path.
    fn reserve_entry(&mut self) -> Result<(), CymemStatus> {
        self.addresses
            .try_reserve_one()
            .map_err(|_| CymemStatus::OutOfMemory)
    }
}

impl<A: BlockAllocator> BlockMap for Blocks<A> {
    fn alloc(
        &mut self,
        number: usize,
        elem_size: usize,
    ) -> Result<(NonNull<u8>, Handle<Unit>), CymemStatus> {
        let bytes = byte_size(number, elem_size)?;
        self.reserve_entry()?;
        let (handle, ptr) = self.pool.alloc_with_address::<Unit>(units_for(bytes))?;
        self.addresses.insert(Entry {
            address: ptr.as_ptr().addr(),
            index: handle.index,
            generation: handle.generation,
            bytes,
        });
        self.bytes += bytes;
        Ok((ptr, handle))
    }

    fn free(&mut self, address: usize) -> Result<(), CymemStatus> {
        let entry = self
            .addresses
            .remove(address)
            .ok_or(CymemStatus::InvalidPointer)?;
        let freed = self.pool.free(self.handle(&entry));
        debug_assert!(freed.is_ok(), "M1: a mapped block is live");
        self.bytes -= entry.bytes;
        Ok(())
    }

    fn realloc(
        &mut self,
        address: usize,
        number: usize,
        elem_size: usize,
    ) -> Result<NonNull<u8>, CymemStatus> {
        let block = self.block_at(address).ok_or(CymemStatus::InvalidPointer)?;
        let bytes = byte_size(number, elem_size)?;
        self.reserve_entry()?;
        let old_units = units_for(block.bytes);
        let new_units = units_for(bytes);
        self.pool.realloc(block.handle, new_units)?;
        let ptr = self
            .address_of(block.handle)
            .ok_or(CymemStatus::InvalidHandle)?;
        // The pool kept `min(old_units, new_units)` units; bytes in them past
        // the old size may hold what a C caller wrote out of bounds, or data
        // from before a shrink: the caller must see zeroes there.
        let kept = block.bytes.min(bytes);
        let copied = old_units.min(new_units) * UNIT;
        if copied > kept {
            // SAFETY: the block now holds `new_units * UNIT >= copied` bytes,
            // and no reference into it is alive (the pool hands out none here).
            unsafe { ptr.as_ptr().add(kept).write_bytes(0, copied - kept) };
        }
        let new_address = ptr.as_ptr().addr();
        if new_address == address {
            if let Some(entry) = self.addresses.get_mut(address) {
                entry.bytes = bytes;
            }
        } else if let Some(entry) = self.addresses.remove(address) {
            self.addresses.insert(Entry {
                address: new_address,
                bytes,
                ..entry
            });
        }
        self.bytes = self.bytes - block.bytes + bytes;
        Ok(ptr)
    }

    fn address_of(&self, handle: Handle<Unit>) -> Option<NonNull<u8>> {
        NonNull::new(self.pool.as_ptr(handle)?.cast_mut().cast::<u8>())
    }

    fn block_at(&self, address: usize) -> Option<Block> {
        let entry = self.addresses.get(address)?;
        Some(Block {
            handle: self.handle(entry),
            bytes: entry.bytes,
        })
    }

    fn len(&self) -> usize {
        debug_assert_eq!(self.addresses.len(), self.pool.len(), "M1");
        self.pool.len()
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}
