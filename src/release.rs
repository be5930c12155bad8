//! How blocks leave a pool: one at a time ([`Pool::free_slot`], the path of
//! `free`, `retain`, `take` and `rollback`) or all at once ([`teardown`], for
//! `clear` and drop), dropping elements exactly once even if a destructor
//! panics.

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::memory::Memory;
use crate::table::RawBlock;
use crate::{BlockAllocator, Pool};

impl<A: BlockAllocator> Pool<A> {
    /// Whether teardown must walk the blocks: some may hold elements to drop,
    /// or memory of the allocator's own. Otherwise freeing the chunks frees
    /// everything, and a pool of a million small blocks drops in microseconds.
    pub(crate) fn must_visit_blocks(&self) -> bool {
        self.table.holds_droppable() || self.memory.allocator_blocks() > 0
    }

    /// Frees the block of an occupied slot, dropping its elements.
    #[inline]
    pub(crate) fn free_slot(&mut self, index: usize) {
        let block = self.table.remove(index);
        self.release(block);
    }

    /// Drops a block's elements and gives its memory back.
    #[inline(always)]
    pub(crate) fn release(&mut self, block: RawBlock) {
        if block.elem.drop_elements.is_some() {
            // SAFETY: the table handed the block over (I3); it satisfies I1-I2.
            unsafe { destroy(&mut self.memory, block, 0) };
        } else {
            let layout = block_layout(&block);
            // SAFETY: as above, the block is ours (I3); no element needs
            // dropping, so only the memory goes back, with its layout (I1).
            unsafe { self.memory.deallocate(block.ptr, layout) };
        }
    }
}

/// Drops the elements `moved..len` of a block and gives its memory back,
/// also if an element's destructor panics.
///
/// # Safety
///
/// - `block` satisfies I1-I2 and the caller owns it (I3); it is not used again;
/// - its first `moved <= len` elements were moved out and must not be dropped.
pub(crate) unsafe fn destroy<A: BlockAllocator>(
    memory: &mut Memory<A>,
    block: RawBlock,
    moved: usize,
) {
    struct Deallocate<'a, A: BlockAllocator> {
        memory: &'a mut Memory<A>,
        ptr: NonNull<u8>,
        layout: Layout,
    }
    impl<A: BlockAllocator> Drop for Deallocate<'_, A> {
        fn drop(&mut self) {
            // SAFETY: the block came from this memory with this layout (I1)
            // and is freed only here (I3, the caller's promise).
            unsafe { self.memory.deallocate(self.ptr, self.layout) }
        }
    }
    debug_assert!(moved <= block.len);
    // SAFETY: `block.len` passed `Layout::array` when the block was made (I2).
    let layout = unsafe { block.elem.layout(block.len) };
    let _deallocate = Deallocate {
        memory,
        ptr: block.ptr,
        layout,
    };
    if let Some(drop_elements) = block.elem.drop_elements {
        // SAFETY: elements `moved..len` are initialised (I2) and not used
        // again; the offset stays inside the block (I1).
        unsafe { drop_elements(block.ptr.add(moved * block.elem.size), block.len - moved) };
    }
}

/// The layout a block was allocated with.
fn block_layout(block: &RawBlock) -> Layout {
    // SAFETY: `block.len` passed `Layout::array` when the block was made (I2).
    unsafe { block.elem.layout(block.len) }
}

/// Whether teardown must destroy a block one by one: to drop its elements,
/// or to give its memory back to the allocator (carved blocks go with their
/// chunks, zero-byte ones own nothing).
fn must_visit<A: BlockAllocator>(block: &RawBlock) -> bool {
    block.elem.drop_elements.is_some() || Memory::<A>::from_allocator(block_layout(block))
}

/// Ends every block at once: destroys each of `blocks` (if given) that has
/// elements to drop or memory of the allocator's own, then frees every
/// chunk. Continues past a panicking destructor (a second panic aborts, as
/// in `Vec`).
///
/// # Safety
///
/// - `blocks` is every live block of `memory`, or `None` if none has
///   elements to drop or memory of the allocator's own; the caller owns them
///   all (I3) and none is used again.
pub(crate) unsafe fn teardown<A: BlockAllocator>(
    memory: &mut Memory<A>,
    blocks: Option<impl Iterator<Item = RawBlock>>,
) {
    struct Finish<'a, A: BlockAllocator, I: Iterator<Item = RawBlock>> {
        memory: &'a mut Memory<A>,
        blocks: Option<I>,
    }
    impl<A: BlockAllocator, I: Iterator<Item = RawBlock>> Finish<'_, A, I> {
        fn destroy_rest(&mut self) {
            for block in self.blocks.iter_mut().flatten() {
                // SAFETY: the caller of `teardown` owns every block.
                unsafe { destroy(self.memory, block, 0) }
            }
        }
    }
    impl<A: BlockAllocator, I: Iterator<Item = RawBlock>> Drop for Finish<'_, A, I> {
        fn drop(&mut self) {
            // Nothing is left after the call below returns; while a
            // destructor unwinds, the blocks after it are destroyed here.
            self.destroy_rest();
            // SAFETY: every carved block was destroyed above or needs no
            // visit, and none is used again (C4).
            unsafe { self.memory.release_chunks() }
        }
    }
    let blocks = blocks.map(|blocks| blocks.filter(must_visit::<A>));
    Finish { memory, blocks }.destroy_rest();
}

impl<A: BlockAllocator> Drop for Pool<A> {
    fn drop(&mut self) {
        debug_assert_eq!(
            self.memory.allocator_blocks(),
            (self.table.blocks())
                .filter(|block| Memory::<A>::from_allocator(block_layout(block)))
                .count(),
            "the allocator-block count is out of step with the slots"
        );
        let blocks = self.must_visit_blocks().then(|| self.table.blocks());
        // SAFETY: the table is dropped right after, so every block it still
        // holds is owned here (I3) and never used again.
        unsafe { teardown(&mut self.memory, blocks) }
    }
}
