//! Walking the live blocks of one element type: [`Pool::iter`],
//! [`Pool::iter_mut`] and [`Pool::retain`].
//!
//! All three visit slots in index order and skip vacant slots and blocks of
//! other element types; the type is found once (`Table::type_index`), then
//! each slot costs one compare. They hand out the same handles the blocks
//! were allocated with.

use core::iter::FusedIterator;
use core::marker::PhantomData;
use core::ops::Range;

use crate::table::Table;
use crate::{BlockAllocator, Handle, Pool};

/// The live blocks of element type `T`, with their handles, in slot order;
/// made by [`Pool::iter`].
///
/// # Examples
///
/// ```
/// let mut pool = cymem::Pool::new();
/// let a = pool.alloc_slice(&[1u32, 2])?;
/// let mut iter = pool.iter::<u32>();
/// assert_eq!(iter.next(), Some((a, &[1, 2][..])));
/// assert_eq!(iter.next(), None);
/// # Ok::<(), cymem::PoolError>(())
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Iter<'a, T> {
    table: &'a Table,
    type_index: Option<u32>,
    indices: Range<usize>,
    _marker: PhantomData<&'a [T]>,
}

/// The live blocks of element type `T`, mutably, with their handles, in slot
/// order; made by [`Pool::iter_mut`].
///
/// # Examples
///
/// ```
/// let mut pool = cymem::Pool::new();
/// let a = pool.alloc::<u8>(2)?;
/// for (_, block) in pool.iter_mut::<u8>() {
///     block.fill(7);
/// }
/// assert_eq!(pool[a], [7, 7]);
/// # Ok::<(), cymem::PoolError>(())
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct IterMut<'a, T> {
    table: &'a Table,
    type_index: Option<u32>,
    indices: Range<usize>,
    _marker: PhantomData<&'a mut [T]>,
}

impl<'a, T: 'static> Iter<'a, T> {
    fn new(table: &'a Table) -> Self {
        let type_index = table.type_index::<T>();
        // No block of `T` was ever allocated: nothing to visit.
        let end = if type_index.is_some() {
            table.slot_count()
        } else {
            0
        };
        Iter {
            table,
            type_index,
            indices: 0..end,
            _marker: PhantomData,
        }
    }
}

impl<'a, T: 'static> Iterator for Iter<'a, T> {
    type Item = (Handle<T>, &'a [T]);

    fn next(&mut self) -> Option<Self::Item> {
        let type_index = self.type_index;
        self.indices.find_map(|index| {
            let (handle, ptr, len) = self.table.block_at::<T>(index, type_index)?;
            // SAFETY: `block_at` found an occupied slot of `T`'s type index
            // (so I1-I2 hold for `T`); the table is borrowed shared for 'a,
            // so no `&mut` to the block exists meanwhile.
            Some((handle, unsafe {
                core::slice::from_raw_parts(ptr.cast::<T>().as_ptr(), len)
            }))
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.indices.len()))
    }
}

impl<'a, T: 'static> Iterator for IterMut<'a, T> {
    type Item = (Handle<T>, &'a mut [T]);

    fn next(&mut self) -> Option<Self::Item> {
        let type_index = self.type_index;
        self.indices.find_map(|index| {
            let (handle, ptr, len) = self.table.block_at::<T>(index, type_index)?;
            // The pool is borrowed mutably for 'a and each index is visited
            // once, so each block (owned by its slot alone, I3) gets one `&mut`;
            // blocks never overlap the table's own memory.
            // SAFETY: as in `Iter::next` (I1-I2 for `T`), exclusive as above.
            let block = unsafe { core::slice::from_raw_parts_mut(ptr.cast::<T>().as_ptr(), len) };
            Some((handle, block))
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.indices.len()))
    }
}

impl<T: 'static> FusedIterator for Iter<'_, T> {}
impl<T: 'static> FusedIterator for IterMut<'_, T> {}

// SAFETY: an `Iter` hands out `&[T]` (shared access, `T: Sync` needed to
// send it) and reads the table, which is `Sync`.
unsafe impl<T: Sync> Send for Iter<'_, T> {}
// SAFETY: as above; `&Iter` gives no access at all.
unsafe impl<T: Sync> Sync for Iter<'_, T> {}
// SAFETY: an `IterMut` hands out `&mut [T]`, which may cross threads if `T: Send`.
unsafe impl<T: Send> Send for IterMut<'_, T> {}
// SAFETY: `&IterMut` gives no access to the blocks.
unsafe impl<T: Sync> Sync for IterMut<'_, T> {}

impl<T> Clone for Iter<'_, T> {
    fn clone(&self) -> Self {
        Iter {
            table: self.table,
            type_index: self.type_index,
            indices: self.indices.clone(),
            _marker: PhantomData,
        }
    }
}

impl<A: BlockAllocator> Pool<A> {
    /// The live blocks of element type `T` and their handles, in slot order.
    ///
    /// Blocks of other element types are skipped; a handle yielded here is
    /// the one `alloc` returned for its block. For serialising, debugging and
    /// migrations.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let a = pool.alloc_slice(&[1u32, 2])?;
    /// pool.alloc_slice(&[9u8])?; // another type: skipped
    /// let b = pool.alloc_slice(&[3u32])?;
    /// let all: Vec<_> = pool.iter::<u32>().collect();
    /// assert_eq!(all, [(a, &[1, 2][..]), (b, &[3][..])]);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn iter<T: 'static>(&self) -> Iter<'_, T> {
        Iter::new(&self.table)
    }

    /// The live blocks of element type `T` and their handles, mutably, in
    /// slot order; blocks of other element types are skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let a = pool.alloc_slice(&[1u32, 2])?;
    /// let b = pool.alloc_slice(&[3u32])?;
    /// for (_, block) in pool.iter_mut::<u32>() {
    ///     block.iter_mut().for_each(|x| *x *= 10);
    /// }
    /// assert_eq!((&pool[a], &pool[b]), (&[10, 20][..], &[30][..]));
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn iter_mut<T: 'static>(&mut self) -> IterMut<'_, T> {
        let Iter {
            table,
            type_index,
            indices,
            ..
        } = Iter::<T>::new(&self.table);
        IterMut {
            table,
            type_index,
            indices,
            _marker: PhantomData,
        }
    }

    /// Frees every block of element type `T` for which `keep` returns
    /// `false`, dropping its elements; blocks of other types are untouched.
    ///
    /// `keep` sees each block once, in slot order, with its handle and
    /// mutable access to its elements. If `keep` panics, the blocks visited
    /// before stay freed or kept as decided, and the rest are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let words: Vec<_> = ["a", "bb", "ccc"]
    ///     .into_iter()
    ///     .map(|w| pool.insert(w.to_string()))
    ///     .collect::<Result<_, _>>()?;
    /// pool.retain::<String>(|_, block| block[0].len() != 2);
    /// assert!(pool.contains(words[0]) && !pool.contains(words[1]));
    /// assert_eq!(pool.len(), 2);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn retain<T: 'static>(&mut self, mut keep: impl FnMut(Handle<T>, &mut [T]) -> bool) {
        let Some(type_index) = self.table.type_index::<T>() else {
            return;
        };
        for index in 0..self.table.slot_count() {
            let Some((handle, ptr, len)) = self.table.block_at::<T>(index, Some(type_index)) else {
                continue;
            };
            // SAFETY: an occupied slot of `T`'s type index (I1-I2 for `T`);
            // `&mut self` excludes every other reference, and the slice is
            // gone before the slot is freed below.
            let block = unsafe { core::slice::from_raw_parts_mut(ptr.cast::<T>().as_ptr(), len) };
            if !keep(handle, block) {
                self.free_slot(index);
            }
        }
    }
}
