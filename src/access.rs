//! Reaching blocks through handles: `get`, `get_mut`, `get_disjoint_mut`,
//! `contains`, indexing, and the raw pointers for FFI. Every one of them
//! goes through `Table::resolve`, so a handle that names no live block of
//! this pool with element type `T` reaches nothing.

use core::ops::{Index, IndexMut};
use core::ptr::NonNull;

use crate::{BlockAllocator, Handle, Pool, PoolError};

impl<A: BlockAllocator> Pool<A> {
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
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
    #[must_use]
    pub fn contains<T: 'static>(&self, handle: Handle<T>) -> bool {
        self.table.resolve(handle).is_some()
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
    #[must_use]
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
    #[must_use]
    pub fn as_mut_ptr<T: 'static>(&mut self, handle: Handle<T>) -> Option<*mut T> {
        // As in `as_ptr`: the slot's pointer, valid across later accesses.
        Some(self.table.resolve(handle)?.ptr.cast::<T>().as_ptr())
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
