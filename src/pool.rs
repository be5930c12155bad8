//! `Pool<A>`: the public face over the slot table and an allocator.

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use crate::memory::Memory;
use crate::release::{destroy, teardown};
use crate::table::{Element, Table};
use crate::zone::Zones;
use crate::{BlockAllocator, DefaultAllocator, Handle, PoolError};

/// An owner of zeroed, typed blocks, addressed by [`Handle`]s.
///
/// Every block is freed exactly once: by [`free`](Pool::free), when
/// [`realloc`](Pool::realloc) moves it, by [`retain`](Pool::retain) or
/// [`take`](Pool::take), by [`rollback`](Pool::rollback) of a zone it was
/// allocated in, by [`clear`](Pool::clear), or when the pool is dropped.
/// Element destructors (for types such as `Option<Box<X>>`, or any value
/// stored with [`insert`](Pool::insert)) run exactly once, when their block
/// is freed, shrunk, rolled back, cleared or dropped, as in a `Vec`;
/// [`take`](Pool::take) moves the value out instead.
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
    pub(crate) memory: Memory<A>,
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
    #[must_use]
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
    #[must_use]
    pub fn with_allocator(allocator: A) -> Self {
        Pool {
            table: Table::new(),
            memory: Memory::new(allocator),
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
    #[must_use]
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
    /// After an error no block was allocated and every handle is as valid as
    /// before; only [`capacity`](Pool::capacity) may have grown, as the slot
    /// table makes room before the block is allocated.
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
        // SAFETY: `layout` is `Layout::array::<T>(len)`; the block comes
        // zeroed, which is `len` valid `T`s as `T: Zeroable`.
        unsafe { self.add_block(layout, len, |_| {}) }
    }

    /// Moves `value` into a new block of one element and returns its handle.
    ///
    /// Any `T: Send + Sync + 'static` can be stored, not only
    /// [`Zeroable`](bytemuck::Zeroable) ones: strings, boxes, vectors, your
    /// own types with destructors. The block is an ordinary one: `pool[h][0]`,
    /// [`get`](Pool::get), [`get_mut`](Pool::get_mut) and
    /// [`free`](Pool::free) work on it, [`take`](Pool::take) moves the value
    /// back out, and otherwise `value` is dropped exactly once, when the block
    /// is freed, rolled back, cleared or dropped with the pool (cymem's
    /// `own_pyref`, for any Rust value). [`realloc`](Pool::realloc) needs
    /// `T: Zeroable`, as it must make new elements out of zeroes.
    ///
    /// # Errors
    ///
    /// [`PoolError::OutOfMemory`] as for [`alloc`](Pool::alloc). `value` is
    /// then dropped (once) before this returns; as after a failed `alloc`,
    /// no block was allocated, though [`capacity`](Pool::capacity) may have
    /// grown.
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
        let write = |ptr: NonNull<u8>| {
            // SAFETY: `add_block` passes a fresh block of `Layout::new::<T>()`,
            // aligned for one `T` and owned by no one (or dangling and aligned
            // if `T` is zero-sized, where a write touches no memory).
            unsafe { ptr.cast::<T>().write(value) }
        };
        // SAFETY: `Layout::new::<T>()` equals `Layout::array::<T>(1)`, and
        // `write` leaves one initialised `T` in the block.
        let (handle, _) = unsafe { self.add_block(Layout::new::<T>(), 1, write)? };
        Ok(handle)
    }

    /// Frees the one-element block `handle` names and returns its value,
    /// instead of dropping it: the way back out of [`insert`](Pool::insert).
    /// Every copy of the handle becomes invalid.
    ///
    /// # Errors
    ///
    /// - [`PoolError::InvalidHandle`] as for [`free`](Pool::free);
    /// - [`PoolError::NotOneElement`] if the block holds no element or more
    ///   than one (from [`alloc`](Pool::alloc) or a `realloc`): the block is
    ///   then left as it was, still live, with all its elements.
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{Pool, PoolError};
    ///
    /// let mut pool = Pool::new();
    /// let name = pool.insert(String::from("lexeme"))?;
    /// assert_eq!(pool.take(name)?, "lexeme");
    /// assert_eq!(pool.take(name), Err(PoolError::InvalidHandle));
    ///
    /// let pair = pool.alloc::<u64>(2)?;
    /// assert_eq!(pool.take(pair), Err(PoolError::NotOneElement));
    /// assert_eq!(pool[pair], [0, 0]);
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn take<T: 'static>(&mut self, handle: Handle<T>) -> Result<T, PoolError> {
        let found = self.table.resolve(handle).ok_or(PoolError::InvalidHandle)?;
        if found.len != 1 {
            return Err(PoolError::NotOneElement);
        }
        let block = self.table.remove(found.index);
        // SAFETY: the resolved block held one initialised, aligned `T`
        // (I1-I2) and `remove` handed it over (I3): reading moves it out.
        let value = unsafe { block.ptr.cast::<T>().read() };
        // SAFETY: the block came from the pool's memory for
        // `Layout::array::<T>(1)` (I1); its element was moved out above, so
        // only the memory goes back.
        unsafe { self.memory.deallocate(block.ptr, Layout::new::<T>()) };
        Ok(value)
    }

    /// The one path by which a block enters the pool: reserve its slot (and
    /// log entry), allocate, let `fill` initialise it, record it. `fill` is
    /// dropped unused if a step before it fails, and nothing after it can
    /// fail, so the pool is unchanged after an error.
    ///
    /// # Safety
    ///
    /// - `layout` is `Layout::array::<T>(len)`;
    /// - `fill`, given the new zeroed block, leaves `len` initialised `T`s in it.
    #[inline(always)]
    unsafe fn add_block<T: Send + Sync + 'static>(
        &mut self,
        layout: Layout,
        len: usize,
        fill: impl FnOnce(NonNull<u8>),
    ) -> Result<(Handle<T>, NonNull<u8>), PoolError> {
        debug_assert_eq!(Layout::array::<T>(len).ok(), Some(layout));
        let type_index = self.table.reserve_one::<T>()?;
        self.zones.reserve_entry()?;
        let ptr = self.memory.allocate(layout).ok_or(PoolError::OutOfMemory)?;
        fill(ptr);
        // SAFETY: the block is fresh from the pool's memory for `layout`,
        // holds `len` initialised `T`s (the caller's promise for `fill`) and
        // is owned by no one else (I1-I3); the slot was reserved for `T` above.
        let handle = unsafe { self.table.insert::<T>(ptr, len, type_index) };
        self.zones.record(handle.index, handle.generation);
        Ok((handle, ptr))
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
    /// than `u32::MAX` slots, or the global allocator fails); the pool's
    /// blocks are then unchanged, though capacity may have grown.
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
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Allocates a block holding a copy of `values`.
    ///
    /// # Errors
    ///
    /// As [`alloc`](Pool::alloc), with the same guarantees after an error.
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
        // `resolve` checked the slot holds `T`s: the type is known statically.
        let block = self.table.remove_as(found.index, T::TYPE);
        self.release(block);
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
        let kept = old_len.min(new_len);
        if new_len > old_len || !needs_drop {
            // SAFETY: the block is this slot's, with `old_layout` (I1); the
            // bytes past `new_layout.size()` hold no element that needs drop.
            if let Some(resized) = unsafe { self.memory.resize(old_ptr, old_layout, new_layout) } {
                let ptr = resized?;
                // SAFETY: `resize` kept the first `kept` elements and zeroed the
                // rest (valid: `T: Zeroable`); the old block is gone (I1-I3).
                unsafe { self.table.replace(index, ptr, new_len) };
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
        // SAFETY: the first `kept` elements of the old block were moved out,
        // so only the tail is dropped, then the whole old block is freed once.
        unsafe { destroy(&mut self.memory, old, kept) };
        Ok(())
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
        let visit = self.must_visit_blocks();
        let blocks = self.table.clear();
        // SAFETY: `clear` handed over every block (I3), each satisfying I1-I2.
        unsafe { teardown(&mut self.memory, visit.then_some(blocks)) };
    }
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
