//! `Pool<A>`: the public face over the slot table and an allocator.

use core::alloc::Layout;
use core::fmt;
use core::ops::{Index, IndexMut};
use core::ptr::NonNull;

use crate::memory::Memory;
use crate::table::{Element, RawBlock, Table};
use crate::zone::Zones;
use crate::{BlockAllocator, DefaultAllocator, Handle, PoolError};

/// An owner of zeroed, typed blocks, addressed by [`Handle`]s.
///
/// Every block is freed exactly once: by [`free`](Pool::free), when
/// [`realloc`](Pool::realloc) moves it, by [`rollback`](Pool::rollback) of a
/// zone it was allocated in, by [`clear`](Pool::clear), or when the pool is
/// dropped. Element destructors (for types such as `Option<Box<X>>`, or any
/// value stored with [`insert`](Pool::insert)) run exactly once, when their
/// block is freed, shrunk, rolled back, cleared or dropped, as in a `Vec`.
///
/// Zones free everything allocated since a [`Mark`](crate::Mark) at once:
/// see [`mark`](Pool::mark), [`rollback`](Pool::rollback) and
/// [`zone`](Pool::zone). [`insert`](Pool::insert) stores any
/// `Send + Sync` value, not only zeroable ones.
///
/// # Examples
///
/// ```
/// use cymem::Pool;
///
/// let mut pool = Pool::new();
/// let ints = pool.alloc::<i32>(10)?;
/// let floats = pool.alloc_slice(&[1.0f32, 2.0])?;
/// pool[ints][3] = 7;
/// assert_eq!(pool[ints].iter().sum::<i32>(), 7);
/// assert_eq!(pool.len(), 2);
/// assert_eq!(pool.size(), 10 * 4 + 2 * 4);
/// pool.free(floats)?;
/// assert_eq!(pool.get(floats), None);
/// # Ok::<(), cymem::PoolError>(())
/// ```
pub struct Pool<A: BlockAllocator = DefaultAllocator> {
    pub(crate) table: Table,
    memory: Memory<A>,
    /// Live blocks that teardown must visit: elements to drop, or memory of
    /// the allocator's own. While 0, `clear` and drop free only the chunks.
    to_visit: usize,
    /// Outstanding marks and the allocation log (`src/zone.rs`).
    pub(crate) zones: Zones,
}

impl Pool {
    /// Creates an empty pool on the [`DefaultAllocator`]. Allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = cymem::Pool::new();
    /// assert!(pool.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_allocator(DefaultAllocator)
    }
}

impl Default for Pool {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: BlockAllocator> Pool<A> {
    /// Creates an empty pool whose blocks come from `allocator`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{CAllocator, Pool};
    ///
    /// // SAFETY: libc's malloc/free are C's own pair, callable from any thread.
    /// let mut pool = Pool::with_allocator(unsafe { CAllocator::new(libc::malloc, libc::free) });
    /// let h = pool.alloc::<u16>(4)?;
    /// assert_eq!(pool[h], [0; 4]);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn with_allocator(allocator: A) -> Self {
        Pool {
            table: Table::new(),
            memory: Memory::new(allocator),
            to_visit: 0,
            zones: Zones::default(),
        }
    }

    /// The allocator this pool's blocks come from.
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{DefaultAllocator, Pool};
    ///
    /// let pool = Pool::new();
    /// let _: &DefaultAllocator = pool.allocator();
    /// ```
    pub fn allocator(&self) -> &A {
        &self.memory.allocator
    }

    /// Allocates a block of `len` zeroed `T`s.
    ///
    /// `len == 0` gives a valid, live, empty block; zero-sized `T` works and
    /// never reaches the allocator.
    ///
    /// # Errors
    ///
    /// - [`PoolError::SizeOverflow`] if `len * size_of::<T>()` overflows or
    ///   exceeds `isize::MAX`;
    /// - [`PoolError::OutOfMemory`] if the allocator returns null or the slot
    ///   table (or, inside a zone, the zone log) cannot grow.
    ///
    /// The pool is unchanged after an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{Pool, PoolError};
    ///
    /// let mut pool = Pool::new();
    /// let h = pool.alloc::<f64>(3)?;
    /// assert_eq!(pool[h], [0.0; 3]);
    /// assert_eq!(pool.alloc::<u32>(usize::MAX / 2), Err(PoolError::SizeOverflow));
    /// # Ok::<(), PoolError>(())
    /// ```
    // `always`: returned through memory, the 24-byte `Result<Handle<T>, _>`
    // is written field by field and read back whole by the caller, a
    // store-forwarding stall that cost ~60% of an alloc/free pair in
    // `benches/pool.rs`; inlined, the handle stays in registers.
    #[inline(always)]
    pub fn alloc<T: bytemuck::Zeroable + Send + Sync + 'static>(
        &mut self,
        len: usize,
    ) -> Result<Handle<T>, PoolError> {
        self.alloc_with_address(len).map(|(handle, _)| handle)
    }

    /// [`alloc`](Pool::alloc), also returning the block's address (the
    /// slot's own pointer, as [`as_mut_ptr`](Pool::as_mut_ptr) gives it), so
    /// the C API need not look the new block up again.
    #[inline(always)]
    pub(crate) fn alloc_with_address<T: bytemuck::Zeroable + Send + Sync + 'static>(
        &mut self,
        len: usize,
    ) -> Result<(Handle<T>, NonNull<u8>), PoolError> {
        let layout = Layout::array::<T>(len).map_err(|_| PoolError::SizeOverflow)?;
        let type_index = self.table.reserve_one::<T>()?;
        self.zones.reserve_entry()?;
        let ptr = self.memory.allocate(layout).ok_or(PoolError::OutOfMemory)?;
        self.to_visit += usize::from(Self::must_visit(core::mem::needs_drop::<T>(), layout));
        // SAFETY: `allocate` returned a fresh block of `len` zeroed `T`s
        // (I1-I3; all-zero is a valid `T` as `T: Zeroable`), and the slot
        // was reserved for `T` just before.
        let handle = unsafe { self.table.insert::<T>(ptr, len, type_index) };
        self.zones.record(handle.index, handle.generation);
        Ok((handle, ptr))
    }

    /// Moves `value` into a new block of one element and returns its handle.
    ///
    /// Any `T: Send + Sync + 'static` can be stored, not only
    /// [`Zeroable`](bytemuck::Zeroable) ones: strings, boxes, vectors, your
    /// own types with destructors. The block is an ordinary one: `pool[h][0]`,
    /// [`get`](Pool::get), [`get_mut`](Pool::get_mut) and
    /// [`free`](Pool::free) work on it, and `value` is dropped exactly once,
    /// when the block is freed, rolled back, cleared or dropped with the pool
    /// (cymem's `own_pyref`, for any Rust value). [`realloc`](Pool::realloc)
    /// needs `T: Zeroable`, as it must make new elements out of zeroes.
    ///
    /// # Errors
    ///
    /// [`PoolError::OutOfMemory`] as for [`alloc`](Pool::alloc). `value` is
    /// then dropped (once) before this returns, and the pool is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let name = pool.insert(String::from("Vocab"))?;
    /// let ids = pool.insert(vec![3u32, 1, 4])?;
    /// pool[name][0].push_str("ulary");
    /// assert_eq!(pool[name][0], "Vocabulary");
    /// assert_eq!(pool.get(ids).map(|block| block[0].len()), Some(3));
    /// pool.free(ids)?; // drops the Vec
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn insert<T: Send + Sync + 'static>(&mut self, value: T) -> Result<Handle<T>, PoolError> {
        let layout = Layout::new::<T>();
        let type_index = self.table.reserve_one::<T>()?;
        self.zones.reserve_entry()?;
        let ptr = self.memory.allocate(layout).ok_or(PoolError::OutOfMemory)?;
        // SAFETY: `allocate` returned a fresh block of `layout`, aligned for
        // one `T` and owned by no one (or dangling and aligned if `T` is
        // zero-sized, where a write touches no memory).
        unsafe { ptr.cast::<T>().write(value) };
        self.to_visit += usize::from(Self::must_visit(core::mem::needs_drop::<T>(), layout));
        // SAFETY: the block holds one initialised `T`, came from the pool's
        // memory for `Layout::array::<T>(1)` (equal to `layout`) and is owned
        // by no one else (I1-I3); the slot was reserved for `T` just before.
        let handle = unsafe { self.table.insert::<T>(ptr, 1, type_index) };
        self.zones.record(handle.index, handle.generation);
        Ok(handle)
    }

    /// Makes room for at least `additional` more live blocks than the pool
    /// holds now, so that as many allocations do not grow the slot table
    /// (nor, while a mark is outstanding, the zone log).
    ///
    /// Only the pool's bookkeeping is reserved; the blocks themselves are
    /// still allocated one by one.
    ///
    /// # Errors
    ///
    /// [`PoolError::OutOfMemory`] if the table cannot grow that much (more
    /// than `u32::MAX - 1` slots, or the global allocator fails); the pool
    /// is then unchanged, though capacity may have grown.
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{Pool, PoolError};
    ///
    /// let mut pool = Pool::new();
    /// pool.reserve(1000)?;
    /// assert!(pool.capacity() >= 1000);
    /// assert_eq!(pool.reserve(usize::MAX), Err(PoolError::OutOfMemory));
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn reserve(&mut self, additional_blocks: usize) -> Result<(), PoolError> {
        self.table.reserve(additional_blocks)?;
        self.zones.reserve(additional_blocks)
    }

    /// The number of blocks the pool can hold without growing its slot
    /// table: live blocks plus room for new ones.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// assert_eq!(pool.capacity(), 0);
    /// pool.reserve(10)?;
    /// let capacity = pool.capacity();
    /// for _ in 0..10 {
    ///     pool.alloc::<u8>(1)?;
    /// }
    /// assert_eq!(pool.capacity(), capacity);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Allocates a block holding a copy of `values`.
    ///
    /// # Errors
    ///
    /// As [`alloc`](Pool::alloc); the pool is unchanged after an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let h = pool.alloc_slice(&[3u8, 1, 4])?;
    /// assert_eq!(pool[h], [3, 1, 4]);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn alloc_slice<T: bytemuck::Zeroable + Copy + Send + Sync + 'static>(
        &mut self,
        values: &[T],
    ) -> Result<Handle<T>, PoolError> {
        let handle = self.alloc::<T>(values.len())?;
        if let Some(block) = self.get_mut(handle) {
            block.copy_from_slice(values);
        }
        Ok(handle)
    }

    /// The block `handle` names, or `None` if it names no live block of this
    /// pool with element type `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{Handle, Pool};
    ///
    /// let mut pool = Pool::new();
    /// let h = pool.alloc_slice(&[1u32, 2])?;
    /// assert_eq!(pool.get(h), Some(&[1, 2][..]));
    /// let retyped: Handle<i32> = bytemuck::cast(h);
    /// assert_eq!(pool.get(retyped), None);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    #[inline]
    pub fn get<T: 'static>(&self, handle: Handle<T>) -> Option<&[T]> {
        let found = self.table.resolve(handle)?;
        // SAFETY: resolve() checked index, pool, generation and type (I1-I2),
        // so `ptr` holds `len` initialised, aligned `T`s; `&self` keeps the
        // block alive and unaliased by `&mut` for the returned lifetime.
        Some(unsafe { core::slice::from_raw_parts(found.ptr.cast::<T>().as_ptr(), found.len) })
    }

    /// The block `handle` names, mutably, or `None` if it names no live block
    /// of this pool with element type `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let h = pool.alloc::<u8>(2)?;
    /// pool.get_mut(h).unwrap()[1] = 9;
    /// assert_eq!(pool[h], [0, 9]);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    #[inline]
    pub fn get_mut<T: 'static>(&mut self, handle: Handle<T>) -> Option<&mut [T]> {
        let found = self.table.resolve(handle)?;
        // SAFETY: as in `get` (I1-I2); `&mut self` makes this the only
        // reference into the block (I3) for the returned lifetime.
        Some(unsafe { core::slice::from_raw_parts_mut(found.ptr.cast::<T>().as_ptr(), found.len) })
    }

    /// Mutable access to `N` distinct blocks at once.
    ///
    /// Returns `None` if any handle is invalid or two handles name the same
    /// block.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let a = pool.alloc_slice(&[1u64, 2])?;
    /// let b = pool.alloc::<u64>(2)?;
    /// let [src, dst] = pool.get_disjoint_mut([a, b]).unwrap();
    /// dst.copy_from_slice(src);
    /// assert_eq!(pool[b], [1, 2]);
    /// assert!(pool.get_disjoint_mut([a, a]).is_none());
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn get_disjoint_mut<T: 'static, const N: usize>(
        &mut self,
        handles: [Handle<T>; N],
    ) -> Option<[&mut [T]; N]> {
        let mut blocks = [(NonNull::<u8>::dangling(), 0usize, usize::MAX); N];
        for (i, handle) in handles.into_iter().enumerate() {
            let found = self.table.resolve(handle)?;
            if blocks[..i]
                .iter()
                .any(|&(_, _, index)| index == found.index)
            {
                return None;
            }
            blocks[i] = (found.ptr, found.len, found.index);
        }
        Some(blocks.map(|(ptr, len, _)| {
            // SAFETY: each block was resolved for `T` (I1-I2), unchanged since;
            // pairwise distinct slots own distinct blocks (I3), so the `&mut`
            // slices do not overlap, and `&mut self` excludes all others.
            unsafe { core::slice::from_raw_parts_mut(ptr.cast::<T>().as_ptr(), len) }
        }))
    }

    /// Frees the block `handle` names, dropping its elements; every copy of
    /// the handle becomes invalid.
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidHandle`] if `handle` names no live block of this
    /// pool with element type `T` (for instance, freeing twice).
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{Pool, PoolError};
    ///
    /// let mut pool = Pool::new();
    /// let h = pool.alloc::<u32>(4)?;
    /// pool.free(h)?;
    /// assert_eq!(pool.free(h), Err(PoolError::InvalidHandle));
    /// assert!(pool.is_empty());
    /// # Ok::<(), PoolError>(())
    /// ```
    #[inline]
    pub fn free<T: 'static>(&mut self, handle: Handle<T>) -> Result<(), PoolError> {
        let found = self.table.resolve(handle).ok_or(PoolError::InvalidHandle)?;
        self.free_slot(found.index);
        Ok(())
    }

    /// Resizes the block `handle` names to `new_len` elements.
    ///
    /// The handle stays valid; the first `min(old, new)` elements are kept,
    /// new ones are zeroed, and on shrinking the cut-off elements are
    /// dropped. Grow, shrink and same size are all allowed. The block may
    /// move: pointers from [`as_ptr`](Pool::as_ptr) are invalidated.
    ///
    /// # Errors
    ///
    /// - [`PoolError::InvalidHandle`] as for [`free`](Pool::free);
    /// - [`PoolError::SizeOverflow`] and [`PoolError::OutOfMemory`] as for
    ///   [`alloc`](Pool::alloc).
    ///
    /// The block and the pool are unchanged after an error.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let h = pool.alloc_slice(&[1u8, 2, 3])?;
    /// pool.realloc(h, 5)?;
    /// assert_eq!(pool[h], [1, 2, 3, 0, 0]);
    /// pool.realloc(h, 2)?;
    /// assert_eq!(pool[h], [1, 2]);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn realloc<T: bytemuck::Zeroable + Send + Sync + 'static>(
        &mut self,
        handle: Handle<T>,
        new_len: usize,
    ) -> Result<(), PoolError> {
        let found = self.table.resolve(handle).ok_or(PoolError::InvalidHandle)?;
        let (index, old_ptr, old_len) = (found.index, found.ptr, found.len);
        if new_len == old_len {
            return Ok(());
        }
        let new_layout = Layout::array::<T>(new_len).map_err(|_| PoolError::SizeOverflow)?;
        // SAFETY: `old_len` passed `Layout::array::<T>` when the block was made (I2).
        let old_layout = unsafe { T::TYPE.layout(old_len) };
        let needs_drop = core::mem::needs_drop::<T>();
        let visits = usize::from(Self::must_visit(needs_drop, old_layout));
        let kept = old_len.min(new_len);
        if new_len > old_len || !needs_drop {
            // SAFETY: the block is this slot's, with `old_layout` (I1); the
            // bytes past `new_layout.size()` hold no element that needs drop.
            if let Some(resized) = unsafe { self.memory.resize(old_ptr, old_layout, new_layout) } {
                let ptr = resized?;
                // SAFETY: `resize` kept the first `kept` elements and zeroed the
                // rest (valid: `T: Zeroable`); the old block is gone (I1-I3).
                unsafe { self.table.replace(index, ptr, new_len) };
                self.to_visit =
                    self.to_visit - visits + usize::from(Self::must_visit(needs_drop, new_layout));
                return Ok(());
            }
        }
        let new_ptr = self
            .memory
            .allocate(new_layout)
            .ok_or(PoolError::OutOfMemory)?;
        // SAFETY: both blocks hold at least `kept` aligned `T`s (I1; the new
        // one has `new_len >= kept` zeroed ones) and are distinct allocations
        // (or dangling with `kept * size_of::<T>() == 0`).
        unsafe {
            core::ptr::copy_nonoverlapping(
                old_ptr.cast::<T>().as_ptr(),
                new_ptr.cast::<T>().as_ptr(),
                kept,
            )
        };
        // SAFETY: the new block holds `kept` moved and `new_len - kept` zeroed
        // `T`s (valid: `T: Zeroable`), is aligned and owned by no one (I1-I3).
        let old = unsafe { self.table.replace(index, new_ptr, new_len) };
        self.to_visit =
            self.to_visit - visits + usize::from(Self::must_visit(needs_drop, new_layout));
        // SAFETY: the first `kept` elements of the old block were moved out,
        // so only the tail is dropped, then the whole old block is freed once.
        unsafe { destroy(&mut self.memory, old, kept) };
        Ok(())
    }

    /// Returns `true` if `handle` names a live block of this pool with element
    /// type `T`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let h = pool.alloc::<u8>(1)?;
    /// assert!(pool.contains(h));
    /// pool.clear();
    /// assert!(!pool.contains(h));
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn contains<T: 'static>(&self, handle: Handle<T>) -> bool {
        self.table.resolve(handle).is_some()
    }

    /// The number of live blocks.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// pool.alloc::<u8>(0)?;
    /// pool.alloc::<u64>(5)?;
    /// assert_eq!(pool.len(), 2);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Returns `true` if the pool holds no live block.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// assert!(pool.is_empty());
    /// let h = pool.alloc::<u8>(3)?;
    /// assert!(!pool.is_empty());
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in live blocks: the sum of `len * size_of::<T>()` over them (the
    /// pool's own bookkeeping and allocator overhead are not counted).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let h = pool.alloc::<u64>(4)?;
    /// pool.alloc::<u8>(3)?;
    /// assert_eq!(pool.size(), 35);
    /// pool.realloc(h, 1)?;
    /// assert_eq!(pool.size(), 11);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn size(&self) -> usize {
        self.table.bytes()
    }

    /// Frees every block; every handle made before becomes invalid, also
    /// after new blocks are allocated. Every outstanding [`Mark`](crate::Mark)
    /// ends too.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let old = pool.alloc::<u8>(8)?;
    /// pool.clear();
    /// assert!(pool.is_empty());
    /// let new = pool.alloc::<u8>(8)?;
    /// assert!(pool.contains(new) && !pool.contains(old));
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn clear(&mut self) {
        self.zones.clear();
        let visit = core::mem::take(&mut self.to_visit) > 0;
        let blocks = self.table.clear();
        // SAFETY: `clear` handed over every block (I3); each satisfies I1-I2.
        unsafe { teardown(&mut self.memory, visit.then_some(blocks)) };
    }

    /// The address of the block `handle` names, for FFI.
    ///
    /// The pointer is aligned and valid for reads of the block's elements
    /// until that block is freed or reallocated, or the pool is cleared or
    /// dropped. For an empty block or zero-sized `T` it is dangling. Writing
    /// through it requires [`as_mut_ptr`](Pool::as_mut_ptr).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let h = pool.alloc_slice(&[5i32, 6])?;
    /// let ptr = pool.as_ptr(h).unwrap();
    /// // SAFETY: the block is live and holds two i32s.
    /// assert_eq!(unsafe { *ptr.add(1) }, 6);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn as_ptr<T: 'static>(&self, handle: Handle<T>) -> Option<*const T> {
        // The slot's own pointer, not one derived from a `&[T]`: a reference
        // made later (`pool[h][0] = 1`) must not invalidate this pointer.
        Some(
            self.table
                .resolve(handle)?
                .ptr
                .cast::<T>()
                .as_ptr()
                .cast_const(),
        )
    }

    /// The address of the block `handle` names, for FFI writes.
    ///
    /// Valid for reads and writes of the block's elements for as long as
    /// [`as_ptr`](Pool::as_ptr)'s pointer. Accesses through the pool
    /// (`pool[h]`, `get_mut`) may interleave with accesses through the
    /// pointer, as long as no reference from the pool is alive while the
    /// pointer is used (the usual rule for raw pointers and references).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let h = pool.alloc::<u32>(2)?;
    /// let ptr = pool.as_mut_ptr(h).unwrap();
    /// // SAFETY: the block is live, holds two u32s, and nothing else refers to it.
    /// unsafe { ptr.add(1).write(42) };
    /// assert_eq!(pool[h], [0, 42]);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn as_mut_ptr<T: 'static>(&mut self, handle: Handle<T>) -> Option<*mut T> {
        // As in `as_ptr`: the slot's pointer, valid across later accesses.
        Some(self.table.resolve(handle)?.ptr.cast::<T>().as_ptr())
    }

    /// Frees the block of an occupied slot, dropping its elements.
    #[inline]
    pub(crate) fn free_slot(&mut self, index: usize) {
        let block = self.table.remove(index);
        // SAFETY: `block.len` passed `Layout::array` when the block was made (I2).
        let layout = unsafe { block.elem.layout(block.len) };
        let needs_drop = block.elem.drop_elements.is_some();
        self.to_visit -= usize::from(Self::must_visit(needs_drop, layout));
        if needs_drop {
            // SAFETY: `remove` handed the block over (I3); it satisfies I1-I2.
            unsafe { destroy(&mut self.memory, block, 0) };
        } else {
            // SAFETY: as above; no element needs dropping, so only the memory
            // goes back, with the layout it came with (I1).
            unsafe { self.memory.deallocate(block.ptr, layout) };
        }
    }

    /// Whether teardown must visit a block: to drop its elements, or to give
    /// its memory back to the allocator (carved blocks go with their chunks).
    #[inline]
    fn must_visit(needs_drop: bool, layout: Layout) -> bool {
        needs_drop || (layout.size() != 0 && Memory::<A>::class(layout).is_none())
    }

    fn block_must_visit(block: &RawBlock) -> bool {
        // SAFETY: `block.len` passed `Layout::array` when the block was made (I2).
        let layout = unsafe { block.elem.layout(block.len) };
        Self::must_visit(block.elem.drop_elements.is_some(), layout)
    }
}

/// Drops the elements `moved..len` of a block and gives its memory back,
/// also if an element's destructor panics.
///
/// # Safety
///
/// - `block` satisfies I1-I2 and the caller owns it (I3); it is not used again;
/// - its first `moved <= len` elements were moved out and must not be dropped.
unsafe fn destroy<A: BlockAllocator>(memory: &mut Memory<A>, block: RawBlock, moved: usize) {
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

/// Ends every block at once: visits `blocks` (if given) to drop elements and
/// free the allocator's own blocks, then frees every chunk. Continues past a
/// panicking destructor (a second panic aborts, as in `Vec`).
///
/// # Safety
///
/// - every live block of `memory` is in `blocks`, or needs no visit; the
///   caller owns them all (I3) and none is used again.
unsafe fn teardown<A: BlockAllocator>(
    memory: &mut Memory<A>,
    blocks: Option<impl Iterator<Item = RawBlock>>,
) {
    struct Finish<'a, A: BlockAllocator, I: Iterator<Item = RawBlock>> {
        memory: &'a mut Memory<A>,
        blocks: Option<I>,
    }
    impl<A: BlockAllocator, I: Iterator<Item = RawBlock>> Drop for Finish<'_, A, I> {
        fn drop(&mut self) {
            // Runs after the loop below (nothing left to visit) or while a
            // destructor unwinds (the blocks after it are still visited).
            if let Some(blocks) = &mut self.blocks {
                for block in blocks.filter(Pool::<A>::block_must_visit) {
                    // SAFETY: the caller of `teardown` owns every block.
                    unsafe { destroy(self.memory, block, 0) }
                }
            }
            // SAFETY: every carved block was dropped above or needs no drop,
            // and none is used again (C4).
            unsafe { self.memory.release_chunks() }
        }
    }
    let mut finish = Finish { memory, blocks };
    if let Some(blocks) = &mut finish.blocks {
        for block in blocks.by_ref().filter(Pool::<A>::block_must_visit) {
            // SAFETY: the caller of `teardown` owns every block.
            unsafe { destroy(finish.memory, block, 0) }
        }
    }
}

impl<A: BlockAllocator> Drop for Pool<A> {
    fn drop(&mut self) {
        debug_assert_eq!(
            self.to_visit,
            self.table.blocks().filter(Self::block_must_visit).count()
        );
        let blocks = (self.to_visit > 0).then(|| self.table.blocks());
        // SAFETY: the table is dropped right after, so every block it still
        // holds is owned here (I3) and never used again.
        unsafe { teardown(&mut self.memory, blocks) }
    }
}

impl<A: BlockAllocator, T: 'static> Index<Handle<T>> for Pool<A> {
    type Output = [T];

    /// # Panics
    ///
    /// If `handle` names no live block of this pool with element type `T`.
    #[track_caller]
    #[inline]
    fn index(&self, handle: Handle<T>) -> &[T] {
        match self.get(handle) {
            Some(block) => block,
            None => invalid_handle(),
        }
    }
}

impl<A: BlockAllocator, T: 'static> IndexMut<Handle<T>> for Pool<A> {
    /// # Panics
    ///
    /// If `handle` names no live block of this pool with element type `T`.
    #[track_caller]
    #[inline]
    fn index_mut(&mut self, handle: Handle<T>) -> &mut [T] {
        match self.get_mut(handle) {
            Some(block) => block,
            None => invalid_handle(),
        }
    }
}

#[cold]
#[track_caller]
fn invalid_handle() -> ! {
    panic!("{}", PoolError::InvalidHandle)
}

impl<A: BlockAllocator + fmt::Debug> fmt::Debug for Pool<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("len", &self.len())
            .field("size", &self.size())
            .field("zone_depth", &self.zone_depth())
            .field("allocator", self.allocator())
            .finish_non_exhaustive()
    }
}

// SAFETY: every element type stored is `Send + Sync` (bounds of `alloc`,
// `alloc_slice`, `insert`, `realloc`), so moving the pool moves only sendable values,
// dropped on the new thread; blocks go back to an `A: Send` allocator.
unsafe impl<A: BlockAllocator + Send> Send for Pool<A> {}
// SAFETY: `&Pool` gives only `&[T]` with `T: Sync`, and calls no allocator
// method except through `&mut`; so `A: Sync` suffices.
unsafe impl<A: BlockAllocator + Sync> Sync for Pool<A> {}
