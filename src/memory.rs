//! Where a pool's blocks come from: its allocator, and for allocators that
//! allow it ([`BlockAllocator::CARVE_SMALL_BLOCKS`]), chunks carved into small
//! blocks by size class.
//!
//! # Why chunks
//!
//! cymem's users allocate millions of small blocks and free them together.
//! `calloc` spends a 16-byte header and a trip through malloc's bins on each;
//! here a block of up to [`MAX_CARVED`] bytes is cut from a chunk of 1 KiB
//! to 2 MiB (one huge page, `src/pages.rs`): bump allocation in a fresh chunk
//! (which the allocator zeroed), or the head of its size class's free list
//! (zeroed on reuse). Freed small
//! blocks go on that list; chunks go back to the allocator only when the pool
//! is cleared or dropped, all at once, so dropping a pool of small blocks
//! frees a few dozen chunks instead of every block.
//!
//! Size classes: 8 bytes (aligned to 8), then every multiple of 16 up to 256
//! (aligned to 16). Types aligned to more than 16 bytes, and larger blocks,
//! go to the allocator one by one.
//!
//! # Invariants
//!
//! - **C1** Every carved block lies inside one chunk, is aligned to its
//!   class's alignment, and overlaps no other carved block.
//! - **C2** A free-list entry is a carved block of that class that no slot
//!   holds; its first 8 bytes hold the next entry (or null).
//! - **C3** The bytes from `bump` to `bump + remaining` lie in the newest
//!   chunk, belong to no block and are still zero.
//! - **C4** Chunks are deallocated only by `release_chunks`, after every
//!   carved block is out of use.

use core::alloc::Layout;
use core::ptr::{self, NonNull};

use alloc::vec::Vec;

use crate::allocator::dangling;
use crate::{BlockAllocator, PoolError};

/// The largest block carved from a chunk.
pub(crate) const MAX_CARVED: usize = 256;
const CLASSES: usize = MAX_CARVED / 16 + 1;
const CHUNK_ALIGN: usize = 16;
/// Small: a pool per document that holds a few small blocks should cost
/// about what their `calloc`s do, and the allocator zeroes a fresh chunk
/// whole. `cargo bench --bench fresh -- small-pools` (10^5 pools of three
/// 64-byte blocks) measured 33.8 ms with a 16 KiB first chunk, 12.8 ms with
/// 1 KiB (three `calloc`/`free` pairs per pool: 4.9-8.6 ms).
const FIRST_CHUNK: usize = 1024;
/// One huge page (`src/pages.rs`): chunks from the eighth on are each one.
const MAX_CHUNK: usize = crate::pages::HUGE;

/// Whether a block of `size` bytes aligned to `align` is carved from a chunk
/// when the allocator allows carving.
#[inline]
pub(crate) fn is_carvable(size: usize, align: usize) -> bool {
    size != 0 && size <= MAX_CARVED && align <= CHUNK_ALIGN
}

/// A size class: `0` holds blocks of 1 to 8 bytes, `k > 0` of up to `16 k`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Class(usize);

impl Class {
    fn size(self) -> usize {
        if self.0 == 0 {
            8
        } else {
            self.0 * 16
        }
    }

    fn align(self) -> usize {
        if self.0 == 0 {
            8
        } else {
            16
        }
    }
}

/// A pool's memory source: its allocator and the chunks carved from it.
pub(crate) struct Memory<A: BlockAllocator> {
    pub(crate) allocator: A,
    free: [*mut u8; CLASSES],
    bump: NonNull<u8>,
    remaining: usize,
    chunks: Vec<(NonNull<u8>, Layout)>,
    /// Live blocks of the allocator's own ([`from_allocator`](Self::from_allocator)):
    /// while 0, releasing the chunks frees every block.
    allocator_blocks: usize,
}

impl<A: BlockAllocator> Memory<A> {
    pub(crate) fn new(allocator: A) -> Self {
        Memory {
            allocator,
            free: [ptr::null_mut(); CLASSES],
            bump: NonNull::dangling(),
            remaining: 0,
            chunks: Vec::new(),
            allocator_blocks: 0,
        }
    }

    /// The class a block of `layout` is carved from, or `None` if it goes to
    /// the allocator (or, when zero-sized, nowhere).
    #[inline]
    pub(crate) fn class(layout: Layout) -> Option<Class> {
        let size = layout.size();
        if !A::CARVE_SMALL_BLOCKS || !is_carvable(size, layout.align()) {
            return None;
        }
        Some(Class(if size <= 8 { 0 } else { size.div_ceil(16) }))
    }

    /// Whether a block of `layout` is the allocator's own: neither carved nor
    /// zero-sized, so it must be given back one by one.
    #[inline]
    pub(crate) fn from_allocator(layout: Layout) -> bool {
        layout.size() != 0 && Self::class(layout).is_none()
    }

    /// Live blocks of the allocator's own.
    #[inline]
    pub(crate) fn allocator_blocks(&self) -> usize {
        self.allocator_blocks
    }

    /// A block of `layout.size()` zeroed bytes aligned to `layout.align()`;
    /// an aligned dangling pointer if the layout is zero-sized.
    #[inline(always)]
    pub(crate) fn allocate(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        if layout.size() == 0 {
            return Some(dangling(layout));
        }
        let ptr = match Self::class(layout) {
            Some(class) => self.carve(class, layout.size())?,
            None => {
                let block = self.allocator.allocate_zeroed(layout)?;
                self.allocator_blocks += 1;
                block
            }
        };
        debug_assert_eq!(
            ptr.as_ptr().addr() % layout.align(),
            0,
            "allocator broke its alignment promise"
        );
        Some(ptr)
    }

    /// Gives a block back: to its class's free list, or to the allocator.
    ///
    /// # Safety
    ///
    /// - `ptr` came from [`allocate`](Self::allocate) (or
    ///   [`resize`](Self::resize)) with `layout` and is not used again.
    #[inline]
    pub(crate) unsafe fn deallocate(&mut self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        match Self::class(layout) {
            Some(class) => {
                // SAFETY: a carved block of this class (C1), at least 8 bytes
                // and 8-aligned, that no slot holds any more: it may join the
                // free list (C2).
                unsafe { ptr.cast::<*mut u8>().write(self.free[class.0]) };
                self.free[class.0] = ptr.as_ptr();
            }
            None => {
                self.allocator_blocks -= 1;
                // SAFETY: not carved, so it came from the allocator with `layout`.
                unsafe { self.allocator.deallocate(ptr, layout) }
            }
        }
    }

    /// Resizes a block in place or through the allocator, keeping its first
    /// `min(old, new)` bytes and zeroing the rest. `None` where the caller
    /// must allocate, copy and free instead (carved to or from another class);
    /// `Some(Err(OutOfMemory))` if the allocator failed (the block untouched).
    ///
    /// # Safety
    ///
    /// - `ptr` came from [`allocate`](Self::allocate) (or `resize`) with `old`;
    /// - `new.align() == old.align()`;
    /// - the bytes past `new.size()` may be discarded (their values were
    ///   dropped, or need no drop).
    pub(crate) unsafe fn resize(
        &mut self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Option<Result<NonNull<u8>, PoolError>> {
        debug_assert_eq!(old.align(), new.align());
        match (Self::class(old), Self::class(new)) {
            (Some(old_class), Some(new_class)) if old_class == new_class => {
                if new.size() > old.size() {
                    // SAFETY: the class size covers `new.size()` bytes of this
                    // block (C1); the bytes past `old.size()` are not part of
                    // the block's contents and are zeroed here.
                    unsafe { ptr.add(old.size()).write_bytes(0, new.size() - old.size()) };
                }
                Some(Ok(ptr))
            }
            (None, None) if old.size() != 0 && new.size() != 0 => {
                // SAFETY: neither is carved, so `ptr` is the allocator's, with `old`.
                let resized = unsafe { self.allocator.reallocate_zeroed(ptr, old, new.size()) };
                Some(resized.ok_or(PoolError::OutOfMemory))
            }
            _ => None,
        }
    }

    /// Frees every chunk at once; the allocator's own blocks are untouched.
    ///
    /// # Safety
    ///
    /// - no carved block is in use any more (C4).
    pub(crate) unsafe fn release_chunks(&mut self) {
        for (chunk, layout) in self.chunks.drain(..) {
            // SAFETY: each chunk came from the allocator with this layout and
            // is freed once: `drain` forgets it.
            unsafe { self.allocator.deallocate(chunk, layout) };
        }
        self.free = [ptr::null_mut(); CLASSES];
        self.bump = NonNull::dangling();
        self.remaining = 0;
    }

    /// A zeroed block of `size <= class.size()` bytes of `class`.
    #[inline(always)]
    fn carve(&mut self, class: Class, size: usize) -> Option<NonNull<u8>> {
        if let Some(block) = NonNull::new(self.free[class.0]) {
            // SAFETY: a free-list entry is an unused carved block of this class
            // whose first 8 bytes link the next one (C2); `size` bytes fit it.
            unsafe {
                self.free[class.0] = block.cast::<*mut u8>().read();
                zero_reused(block, class, size);
            }
            return Some(block);
        }
        self.bump(class)
    }

    /// A fresh block of `class` from the newest chunk (or a new one).
    fn bump(&mut self, class: Class) -> Option<NonNull<u8>> {
        let pad = self.bump.as_ptr().addr().wrapping_neg() & (class.align() - 1);
        if pad + class.size() > self.remaining {
            self.new_chunk()?;
            return self.bump(class);
        }
        // SAFETY: `pad + class.size() <= remaining`, so the block lies in the
        // newest chunk's untouched, zeroed tail (C3) and is aligned by `pad`.
        unsafe {
            let block = self.bump.add(pad);
            self.bump = block.add(class.size());
            self.remaining -= pad + class.size();
            Some(block)
        }
    }

    /// Starts a new chunk, twice the size of the last (1 KiB to 2 MiB). The
    /// unused tail of the old one, under 272 bytes, is abandoned.
    #[cold]
    fn new_chunk(&mut self) -> Option<()> {
        let size = self.chunks.last().map_or(FIRST_CHUNK, |(_, layout)| {
            (layout.size() * 2).min(MAX_CHUNK)
        });
        let layout = Layout::from_size_align(size, CHUNK_ALIGN).ok()?;
        self.chunks.try_reserve(1).ok()?;
        let chunk = self.allocator.allocate_zeroed(layout)?;
        self.chunks.push((chunk, layout));
        self.bump = chunk;
        self.remaining = size;
        Some(())
    }
}

/// Zeroes at least the first `size` bytes of a reused block of `class` (all
/// of a block of 8 to 32 bytes).
///
/// Blocks of up to 32 bytes, the common case, take one or two 16-byte
/// stores here; a call to `memset` cost about 15 instructions more.
///
/// # Safety
///
/// `block` is a carved block of `class` (C1) that no one uses, and
/// `size <= class.size()`.
#[inline(always)]
unsafe fn zero_reused(block: NonNull<u8>, class: Class, size: usize) {
    debug_assert!(size <= class.size());
    match class.0 {
        // SAFETY: a class-0 block is 8 bytes aligned to 8 (C1).
        0 => unsafe { block.cast::<u64>().write(0) },
        // SAFETY: a class-1 block is 16 bytes aligned to 16 (C1).
        1 => unsafe { block.cast::<[u64; 2]>().write([0; 2]) },
        // SAFETY: a class-2 block is 32 bytes aligned to 16 (C1).
        2 => unsafe { block.cast::<[u64; 4]>().write([0; 4]) },
        // SAFETY: `size` bytes fit the block (the caller's promise).
        _ => unsafe { block.write_bytes(0, size) },
    }
}

// SAFETY: the raw pointers are into chunks this value owns; moving it to
// another thread moves that ownership, and the allocator goes with it (`A: Send`).
unsafe impl<A: BlockAllocator + Send> Send for Memory<A> {}
// SAFETY: `&Memory` only exposes `&A` (`A: Sync`); the pointers are used only
// through `&mut self`.
unsafe impl<A: BlockAllocator + Sync> Sync for Memory<A> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DefaultAllocator;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn classes_round_up_to_8_then_multiples_of_16() {
        let class = |size, align| Memory::<DefaultAllocator>::class(layout(size, align));
        assert_eq!(class(1, 1), Some(Class(0)));
        assert_eq!(class(8, 8), Some(Class(0)));
        assert_eq!(class(9, 1), Some(Class(1)));
        assert_eq!(class(32, 8), Some(Class(2)));
        assert_eq!(class(33, 1), Some(Class(3)));
        assert_eq!(class(256, 16), Some(Class(16)));
        assert_eq!(class(257, 1), None);
        assert_eq!(class(64, 32), None);
        assert_eq!(class(0, 1), None);
    }

    #[test]
    fn freed_block_is_reused_zeroed() {
        let mut memory = Memory::new(DefaultAllocator);
        let l = layout(24, 8);
        let a = memory.allocate(l).unwrap();
        // SAFETY: `a` is a live 24-byte block.
        unsafe { a.write_bytes(0xff, 24) };
        // SAFETY: `a` came from `allocate(l)` and is not used again.
        unsafe { memory.deallocate(a, l) };
        let b = memory.allocate(l).unwrap();
        assert_eq!(a, b);
        // SAFETY: `b` is a live 24-byte block.
        assert!(unsafe { core::slice::from_raw_parts(b.as_ptr(), 24) }
            .iter()
            .all(|&x| x == 0));
        // SAFETY: no carved block is used after this.
        unsafe { memory.release_chunks() };
    }

    #[test]
    fn carved_blocks_are_aligned_and_disjoint_across_chunks() {
        let mut memory = Memory::new(DefaultAllocator);
        let count = if cfg!(miri) { 300 } else { 5000 };
        let mut blocks: Vec<(usize, usize)> = (0..count)
            .map(|i| {
                let size = 1 + (i * 37) % MAX_CARVED;
                let ptr = memory.allocate(layout(size, 1)).unwrap();
                let align = if size <= 8 { 8 } else { 16 };
                assert_eq!(ptr.as_ptr().addr() % align, 0);
                (ptr.as_ptr().addr(), size)
            })
            .collect();
        blocks.sort();
        assert!(blocks.windows(2).all(|w| w[0].0 + w[0].1 <= w[1].0));
        assert!(memory.chunks.len() > 1);
        // SAFETY: no carved block is used after this.
        unsafe { memory.release_chunks() };
    }
}
