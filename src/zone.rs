//! Zones: free every block allocated since a [`Mark`], in time proportional
//! to those blocks.
//!
//! # Design
//!
//! A pool keeps a stack of outstanding marks and, while that stack is not
//! empty, a *log*: one `(slot index, generation)` entry per block allocated
//! (by `alloc`, `alloc_slice` or `insert`), in allocation order. A mark is
//! the log's length when it was made, plus what is needed to recognise it.
//!
//! - [`Pool::rollback`] pops the log down to the mark's position and frees
//!   each popped entry whose slot is still occupied at the logged generation
//!   (newest first). An entry whose block was freed since, or whose slot was
//!   freed and reused, does not match: the reuse has its own entry if it
//!   happened inside the zone, and is older than the mark otherwise. Each
//!   entry is 8 bytes and one slot lookup, so a rollback costs time
//!   proportional to the allocations made since the mark, not to the pool.
//! - [`Pool::commit`] ends a mark and keeps its blocks; they now belong to
//!   the enclosing zone, if any (its log position is lower, so a later
//!   rollback of it still finds them).
//! - Ending a mark ends every mark made after it (the inner zones): the
//!   marks form a stack, and a rolled-back, committed or inner-ended mark is
//!   rejected afterwards with [`PoolError::InvalidMark`].
//! - `realloc` keeps a block's slot and generation, and the log records only
//!   allocations, so a block allocated before a mark and resized inside the
//!   zone outlives the rollback (with its new length), and a block allocated
//!   inside the zone is freed by it, however often it was resized.
//! - While no mark is outstanding, nothing is logged: a pool that never uses
//!   zones pays one branch per allocation. **Z1**: the log is empty whenever
//!   no mark is outstanding, so the outermost mark is at position 0 and the
//!   log never outgrows the zones.
//!
//! # Recognising marks
//!
//! A [`Mark`] carries the pool id, its depth in the stack and a serial number
//! from a per-pool counter. It is outstanding if the pool id is the pool's
//! current one (`clear` takes a new one, so marks from before a `clear` and
//! marks of other pools fail) and the stack entry at its depth has its
//! serial (so a mark whose place in the stack was ended, and perhaps taken
//! by a newer mark, fails).
//!
//! Nothing here is `unsafe`: the log holds indices and generations, never
//! pointers, and every entry is checked against its slot before its block
//! is freed (`Table::resolve_logged`), so a stale entry is harmless.

use alloc::vec::Vec;

use crate::{BlockAllocator, Pool, PoolError};

/// A position in a pool's allocation history, made by [`Pool::mark`];
/// [`Pool::rollback`] frees every block allocated after it.
///
/// A mark is a small `Copy` token. It is outstanding until it is rolled
/// back or committed, until a mark made before it is, or until the pool is
/// cleared; after that every use of it returns [`PoolError::InvalidMark`],
/// as does a mark of another pool.
///
/// # Examples
///
/// ```
/// let mut pool = cymem::Pool::new();
/// let kept = pool.alloc::<u8>(4)?;
/// let mark = pool.mark()?;
/// let scratch = pool.alloc::<u64>(100)?;
/// pool.rollback(mark)?;
/// assert!(pool.contains(kept) && !pool.contains(scratch));
/// assert!(pool.rollback(mark).is_err()); // a mark ends once
/// # Ok::<(), cymem::PoolError>(())
/// ```
///
/// A mark is `#[must_use]`: one made and dropped would keep its zone open
/// for the life of the pool, so the compiler warns (here made an error):
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// fn open_a_zone(pool: &mut cymem::Pool) -> Result<(), cymem::PoolError> {
///     pool.mark()?; // the mark is dropped: warning
///     Ok(())
/// }
/// ```
#[must_use = "a mark left unused keeps its zone open, and every allocation after it is logged"]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark {
    pool: u64,
    serial: u64,
    depth: usize,
}

/// An outstanding mark: its serial and the log's length when it was made.
#[derive(Debug, Clone, Copy)]
struct Outstanding {
    serial: u64,
    position: usize,
}

/// The marks stack and the allocation log of one pool.
#[derive(Debug, Default)]
pub(crate) struct Zones {
    /// `(slot index, generation)` of each allocation while a mark is
    /// outstanding, oldest first; empty otherwise (Z1).
    log: Vec<(u32, u32)>,
    marks: Vec<Outstanding>,
    next_serial: u64,
}

impl Zones {
    /// Outstanding marks.
    #[inline]
    pub(crate) fn depth(&self) -> usize {
        self.marks.len()
    }

    /// Makes sure the next [`record`](Self::record) does not allocate.
    #[inline]
    pub(crate) fn reserve_entry(&mut self) -> Result<(), PoolError> {
        if self.marks.is_empty() {
            return Ok(());
        }
        self.log.try_reserve(1).map_err(|_| PoolError::OutOfMemory)
    }

    /// Room for `additional` entries, if a mark is outstanding.
    pub(crate) fn reserve(&mut self, additional: usize) -> Result<(), PoolError> {
        if self.marks.is_empty() {
            return Ok(());
        }
        self.log
            .try_reserve(additional)
            .map_err(|_| PoolError::OutOfMemory)
    }

    /// Logs an allocation if a mark is outstanding; after
    /// [`reserve_entry`](Self::reserve_entry), this never allocates.
    #[inline]
    pub(crate) fn record(&mut self, index: u32, generation: u32) {
        if !self.marks.is_empty() {
            debug_assert!(
                self.log.len() < self.log.capacity(),
                "reserve_entry not called"
            );
            self.log.push((index, generation));
        }
    }

    /// A new innermost mark of the pool whose id is `pool`.
    pub(crate) fn mark(&mut self, pool: u64) -> Result<Mark, PoolError> {
        self.marks
            .try_reserve(1)
            .map_err(|_| PoolError::OutOfMemory)?;
        // Starting a log: reserve a little, so short zones never grow it.
        if self.marks.is_empty() {
            self.log
                .try_reserve(16)
                .map_err(|_| PoolError::OutOfMemory)?;
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let depth = self.marks.len();
        self.marks.push(Outstanding {
            serial,
            position: self.log.len(),
        });
        Ok(Mark {
            pool,
            serial,
            depth,
        })
    }

    /// Where `mark` starts in the log, if it is an outstanding mark of the
    /// pool whose id is `pool`.
    pub(crate) fn position(&self, pool: u64, mark: Mark) -> Option<usize> {
        let outstanding = self.marks.get(mark.depth)?;
        (mark.pool == pool && outstanding.serial == mark.serial).then_some(outstanding.position)
    }

    /// Ends `mark` and every mark made after it; returns where it starts in
    /// the log. The caller pops the entries above that position (rollback)
    /// or calls [`keep`](Self::keep) (commit).
    pub(crate) fn end(&mut self, pool: u64, mark: Mark) -> Result<usize, PoolError> {
        let position = self.position(pool, mark).ok_or(PoolError::InvalidMark)?;
        self.marks.truncate(mark.depth);
        Ok(position)
    }

    /// After a commit: the entries stay for the enclosing zone, if any.
    pub(crate) fn keep(&mut self) {
        if self.marks.is_empty() {
            self.log.clear(); // Z1
        }
    }

    /// The newest entry above `position`, removed from the log.
    #[inline]
    pub(crate) fn pop_above(&mut self, position: usize) -> Option<(u32, u32)> {
        if self.log.len() > position {
            self.log.pop()
        } else {
            None
        }
    }

    /// Allocations logged since the mark at `position`.
    pub(crate) fn since(&self, position: usize) -> usize {
        self.log.len() - position
    }

    /// Forgets every mark and entry (the pool was cleared).
    pub(crate) fn clear(&mut self) {
        self.log.clear();
        self.marks.clear();
    }
}

impl<A: BlockAllocator> Pool<A> {
    /// Marks the pool's allocation history: a later
    /// [`rollback`](Pool::rollback) of the mark frees every block allocated
    /// after it (by `alloc`, `alloc_slice` or `insert`) that is still live.
    ///
    /// Marks nest: a mark made while another is outstanding opens an inner
    /// zone, and rolling back or committing the outer mark ends the inner
    /// one too. While any mark is outstanding, each allocation also writes
    /// 8 bytes to the pool's zone log; with none, nothing is logged.
    /// Prefer [`zone`](Pool::zone), which cannot forget to end the mark.
    ///
    /// # Errors
    ///
    /// [`PoolError::OutOfMemory`] if the mark or the log cannot be recorded;
    /// the pool is then unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let outer = pool.mark()?;
    /// let a = pool.alloc::<u8>(1)?;
    /// let inner = pool.mark()?;
    /// let b = pool.alloc::<u8>(1)?;
    /// assert_eq!(pool.zone_depth(), 2);
    /// pool.rollback(inner)?;
    /// assert!(pool.contains(a) && !pool.contains(b));
    /// pool.rollback(outer)?;
    /// assert!(pool.is_empty());
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    #[must_use = "a mark left unused keeps its zone open, and every allocation after it is logged"]
    pub fn mark(&mut self) -> Result<Mark, PoolError> {
        self.zones.mark(self.table.pool_id())
    }

    /// Frees every block allocated after `mark` that is still live, dropping
    /// its elements; their handles become invalid. Ends `mark` and every mark
    /// made after it.
    ///
    /// Blocks allocated before the mark stay, also if they were reallocated
    /// or written after it (a `realloc` keeps its new length). Runs in time
    /// proportional to the allocations made since the mark, whatever the
    /// size of the pool. Blocks are freed newest first; if a destructor
    /// panics, the other blocks are still freed and the panic continues
    /// (a second panic aborts, as in `Vec`).
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidMark`] if `mark` is not outstanding in this pool
    /// (see [`Mark`]); nothing is freed then.
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{Pool, PoolError};
    ///
    /// let mut pool = Pool::new();
    /// let old = pool.alloc_slice(&[1u32, 2])?;
    /// let mark = pool.mark()?;
    /// let name = pool.insert(String::from("scratch"))?;
    /// pool.realloc(old, 3)?;          // allocated before the mark: survives
    /// pool.rollback(mark)?;
    /// assert_eq!(pool.get(name), None);
    /// assert_eq!(pool[old], [1, 2, 0]);
    /// assert_eq!(pool.rollback(mark), Err(PoolError::InvalidMark));
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn rollback(&mut self, mark: Mark) -> Result<(), PoolError> {
        let position = self.zones.end(self.table.pool_id(), mark)?;
        struct Finish<'a, A: BlockAllocator> {
            pool: &'a mut Pool<A>,
            position: usize,
        }
        impl<A: BlockAllocator> Drop for Finish<'_, A> {
            fn drop(&mut self) {
                // Nothing left after the loop below; while a destructor
                // unwinds, frees the entries it did not reach.
                self.pool.free_logged(self.position);
            }
        }
        let finish = Finish {
            pool: &mut *self,
            position,
        };
        finish.pool.free_logged(position);
        drop(finish);
        debug_assert!(self.zones.depth() > 0 || self.zones.since(0) == 0, "Z1");
        Ok(())
    }

    /// Ends `mark` and every mark made after it, keeping their blocks: they
    /// now belong to the enclosing zone, if there is one, and are freed when
    /// it is rolled back.
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidMark`] if `mark` is not outstanding in this pool.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let outer = pool.mark()?;
    /// let inner = pool.mark()?;
    /// let h = pool.alloc::<u8>(8)?;
    /// pool.commit(inner)?;
    /// assert!(pool.contains(h));
    /// pool.rollback(outer)?; // the committed block was inside `outer` too
    /// assert!(!pool.contains(h));
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn commit(&mut self, mark: Mark) -> Result<(), PoolError> {
        self.zones.end(self.table.pool_id(), mark)?;
        self.zones.keep();
        Ok(())
    }

    /// Runs `f` inside a zone: every block allocated during `f` and still
    /// live when it returns is freed, also if `f` panics. Returns `f`'s
    /// value.
    ///
    /// This is [`mark`](Pool::mark) and [`rollback`](Pool::rollback) with a
    /// drop guard. Zones nest; marks that `f` makes and does not end are
    /// ended with the zone. If `f` itself ends the zone's mark (by clearing
    /// the pool, or by rolling back or committing a mark from outside the
    /// zone), there is nothing left to roll back: those calls decide.
    ///
    /// The zone belongs to the pool, not to the place it is stored: if `f`
    /// swaps the pool out (`core::mem::swap` or `replace` on its argument),
    /// the zone stays open in the pool swapped out, which keeps logging its
    /// allocations until that pool rolls back or commits an earlier mark,
    /// is cleared, or is dropped; the pool swapped in is left alone.
    ///
    /// # Errors
    ///
    /// [`PoolError::OutOfMemory`] if the mark cannot be recorded; `f` does
    /// not run then.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let vocab = pool.alloc::<u32>(16)?;
    /// let tokens = pool.zone(|pool| -> Result<usize, cymem::PoolError> {
    ///     let doc = pool.insert(String::from("a zone per request"))?;
    ///     pool[vocab][0] += 1;
    ///     Ok(pool[doc][0].split(' ').count())
    /// })??;
    /// assert_eq!(tokens, 4);
    /// assert_eq!(pool.len(), 1); // only `vocab` is left
    /// assert_eq!(pool[vocab][0], 1);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    pub fn zone<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> Result<R, PoolError> {
        struct Guard<'a, A: BlockAllocator> {
            pool: &'a mut Pool<A>,
            mark: Mark,
        }
        impl<A: BlockAllocator> Drop for Guard<'_, A> {
            fn drop(&mut self) {
                // An error means `f` ended the mark itself; nothing is left.
                let _ = self.pool.rollback(self.mark);
            }
        }
        let mark = self.mark()?;
        let guard = Guard { pool: self, mark };
        Ok(f(&mut *guard.pool))
    }

    /// The number of outstanding marks: how deeply zones are nested now.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// assert_eq!(pool.zone_depth(), 0);
    /// let depth = pool.zone(|pool| pool.zone(|pool| pool.zone_depth()))??;
    /// assert_eq!(depth, 2);
    /// assert_eq!(pool.zone_depth(), 0);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    #[must_use]
    pub fn zone_depth(&self) -> usize {
        self.zones.depth()
    }

    /// The number of allocations made since `mark`, not counting those an
    /// inner zone has rolled back already; `None` if `mark` is not
    /// outstanding in this pool.
    ///
    /// This is the work a [`rollback`](Pool::rollback) of `mark` would do,
    /// and an upper bound on the blocks it would free (some may have been
    /// freed already).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut pool = cymem::Pool::new();
    /// let mark = pool.mark()?;
    /// let a = pool.alloc::<u8>(1)?;
    /// pool.alloc::<u8>(1)?;
    /// pool.free(a)?;
    /// assert_eq!(pool.allocations_since(mark), Some(2));
    /// pool.zone(|pool| pool.alloc::<u8>(1))??;
    /// assert_eq!(pool.allocations_since(mark), Some(2));
    /// pool.rollback(mark)?;
    /// assert_eq!(pool.allocations_since(mark), None);
    /// # Ok::<(), cymem::PoolError>(())
    /// ```
    #[must_use]
    pub fn allocations_since(&self, mark: Mark) -> Option<usize> {
        let position = self.zones.position(self.table.pool_id(), mark)?;
        Some(self.zones.since(position))
    }

    /// Frees the live blocks of the log entries above `position`, newest
    /// first, removing the entries.
    fn free_logged(&mut self, position: usize) {
        while let Some((index, generation)) = self.zones.pop_above(position) {
            if let Some(index) = self.table.resolve_logged(index, generation) {
                self.free_slot(index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_logged_without_a_mark() {
        let mut zones = Zones::default();
        zones.reserve_entry().unwrap();
        zones.record(0, 1);
        zones.reserve(100).unwrap();
        assert_eq!(zones.log.len(), 0);
        assert_eq!(zones.log.capacity(), 0);
    }

    #[test]
    fn marks_remember_their_log_position() {
        let mut zones = Zones::default();
        let outer = zones.mark(7).unwrap();
        zones.reserve_entry().unwrap();
        zones.record(3, 1);
        let inner = zones.mark(7).unwrap();
        assert_eq!(zones.position(7, outer), Some(0));
        assert_eq!(zones.position(7, inner), Some(1));
        assert_eq!(zones.depth(), 2);
    }

    #[test]
    fn ending_a_mark_ends_the_inner_ones_and_pops_only_above_it() {
        let mut zones = Zones::default();
        let outer = zones.mark(7).unwrap();
        for index in 0..3 {
            zones.reserve_entry().unwrap();
            zones.record(index, 1);
        }
        let inner = zones.mark(7).unwrap();
        zones.reserve_entry().unwrap();
        zones.record(9, 3);
        assert_eq!(zones.end(7, outer), Ok(0));
        assert_eq!(zones.position(7, inner), None);
        let popped: Vec<_> = core::iter::from_fn(|| zones.pop_above(0)).collect();
        assert_eq!(popped, [(9, 3), (2, 1), (1, 1), (0, 1)]);
        assert_eq!(zones.end(7, inner), Err(PoolError::InvalidMark));
    }

    #[test]
    fn a_new_mark_at_an_ended_depth_does_not_revive_the_old_one() {
        let mut zones = Zones::default();
        let first = zones.mark(7).unwrap();
        zones.end(7, first).unwrap();
        let second = zones.mark(7).unwrap();
        assert_eq!(first.depth, second.depth);
        assert_eq!(zones.position(7, first), None);
        assert_eq!(zones.position(7, second), Some(0));
    }

    #[test]
    fn a_mark_of_another_pool_id_is_rejected() {
        let mut zones = Zones::default();
        let mark = zones.mark(7).unwrap();
        assert_eq!(zones.position(8, mark), None);
        assert_eq!(zones.end(8, mark), Err(PoolError::InvalidMark));
        assert_eq!(zones.depth(), 1);
    }

    #[test]
    fn committing_the_outermost_mark_empties_the_log() {
        let mut zones = Zones::default();
        let outer = zones.mark(7).unwrap();
        let inner = zones.mark(7).unwrap();
        zones.reserve_entry().unwrap();
        zones.record(0, 1);
        zones.end(7, inner).unwrap();
        zones.keep();
        assert_eq!(zones.log, [(0, 1)]); // still the outer zone's
        zones.end(7, outer).unwrap();
        zones.keep();
        assert!(zones.log.is_empty()); // Z1
        zones.record(1, 1);
        assert!(zones.log.is_empty());
    }
}
