//! Where blocks come from: the [`BlockAllocator`] trait, the
//! [`DefaultAllocator`] and [`CAllocator`] for a C library's malloc/free pair.
//!
//! A pool asks its allocator for every block of non-zero size, exactly once,
//! and gives every such block back exactly once with the same [`Layout`].
//! Blocks of zero bytes (`len == 0` or a zero-sized `T`) never reach the
//! allocator: the pool uses an aligned dangling pointer for them.

use core::alloc::Layout;
use core::ffi::c_void;
use core::fmt;
use core::ptr::{self, NonNull};

/// A source of zeroed, aligned memory for a [`Pool`](crate::Pool).
///
/// # Safety
///
/// Implementors must guarantee that:
/// - `allocate_zeroed` returns `None` or a pointer to `layout.size()` bytes
///   that are all zero, aligned to `layout.align()`, valid for reads and
///   writes, not aliased by any other live allocation, and not read or
///   written by the allocator itself until passed to `deallocate` with the
///   same layout;
/// - a block stays valid when the allocator value is moved (a `Pool` owns
///   and moves its allocator), until it is deallocated or the allocator is
///   dropped: memory inside the allocator value itself does not qualify;
/// - `reallocate_zeroed`, if overridden, either returns `None` and leaves the
///   block untouched, or frees it and returns a block as `allocate_zeroed`
///   would for the new size, holding the old block's first bytes;
/// - the methods do not unwind into the pool (panicking is allowed only
///   before any memory is handed out);
/// - if the implementor is `Send`/`Sync`, blocks may be allocated on one
///   thread and deallocated on another.
///
/// # Zero-sized layouts
///
/// The pool never asks for zero bytes: such blocks get an aligned dangling
/// pointer and never reach the allocator. `allocate_zeroed` is a safe
/// method, though, so anyone may call it with a zero-sized layout, and an
/// implementation must answer soundly: `None`, or a pointer aligned to
/// `layout.align()` that `deallocate` accepts with the same layout
/// ([`DefaultAllocator`] returns an aligned dangling pointer and ignores it on
/// `deallocate`; [`CAllocator`] asks `malloc` for its header as for any block).
///
/// # Examples
///
/// A counting wrapper around the [`DefaultAllocator`], which also answers
/// zero-sized layouts:
///
/// ```
/// use core::alloc::Layout;
/// use core::ptr::NonNull;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use cymem::{BlockAllocator, DefaultAllocator, Pool};
///
/// #[derive(Default)]
/// struct Counting { live: AtomicUsize }
///
/// // SAFETY: forwards every call to `DefaultAllocator`, which keeps the
/// // trait's promises (zeroed, aligned, zero-sized layouts included).
/// unsafe impl BlockAllocator for Counting {
///     fn allocate_zeroed(&self, layout: Layout) -> Option<NonNull<u8>> {
///         let block = DefaultAllocator.allocate_zeroed(layout)?;
///         self.live.fetch_add(1, Ordering::Relaxed);
///         Some(block)
///     }
///     unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
///         self.live.fetch_sub(1, Ordering::Relaxed);
///         // SAFETY: the caller passes a block of `allocate_zeroed` with its
///         // layout, and every such block came from `DefaultAllocator`.
///         unsafe { DefaultAllocator.deallocate(ptr, layout) }
///     }
/// }
///
/// let mut pool = Pool::with_allocator(Counting::default());
/// let a = pool.alloc::<u64>(8)?;
/// pool.alloc::<u8>(0)?; // zero bytes: never reaches the allocator
/// assert_eq!(pool.allocator().live.load(Ordering::Relaxed), 1);
/// pool.free(a)?;
/// assert_eq!(pool.allocator().live.load(Ordering::Relaxed), 0);
/// # Ok::<(), cymem::PoolError>(())
/// ```
pub unsafe trait BlockAllocator {
    /// Allocates `layout.size()` zeroed bytes aligned to `layout.align()`,
    /// or returns `None` if the memory cannot be provided.
    ///
    /// Sound for every layout, zero-sized ones included (see the trait docs).
    ///
    /// # Examples
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use cymem::{BlockAllocator, DefaultAllocator};
    ///
    /// let layout = Layout::new::<[u32; 4]>();
    /// let ptr = DefaultAllocator.allocate_zeroed(layout).unwrap();
    /// // SAFETY: a live, zeroed 16-byte block, freed once with its layout.
    /// unsafe {
    ///     assert_eq!(ptr.cast::<[u32; 4]>().read(), [0; 4]);
    ///     DefaultAllocator.deallocate(ptr, layout);
    /// }
    /// ```
    fn allocate_zeroed(&self, layout: Layout) -> Option<NonNull<u8>>;

    /// Frees a block.
    ///
    /// # Safety
    ///
    /// - `ptr` was returned by `allocate_zeroed` (or `reallocate_zeroed`) on
    ///   this allocator with this `layout`;
    /// - it has not been deallocated since.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use cymem::{BlockAllocator, DefaultAllocator};
    ///
    /// let empty = Layout::new::<()>();
    /// let ptr = DefaultAllocator.allocate_zeroed(empty).unwrap();
    /// // SAFETY: `ptr` came from this allocator with this layout, freed once.
    /// unsafe { DefaultAllocator.deallocate(ptr, empty) };
    /// ```
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout);

    /// Resizes a block to `new_size` bytes, keeping the first
    /// `min(old, new)` bytes and zeroing the rest; the block may move.
    ///
    /// Returns `None` if the memory cannot be provided; the old block is then
    /// untouched and still owned by the caller. The default allocates,
    /// copies and deallocates, so an allocator that counts blocks sees one
    /// allocation and one deallocation; [`DefaultAllocator`] overrides it with
    /// the system's `realloc` and zeroes only the new tail.
    ///
    /// # Safety
    ///
    /// - `ptr` was returned by `allocate_zeroed` or `reallocate_zeroed` on this
    ///   allocator with `layout`, and has not been deallocated since;
    /// - `new_size` is not zero, and rounded up to `layout.align()` does not
    ///   exceed `isize::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use cymem::{BlockAllocator, DefaultAllocator};
    ///
    /// let layout = Layout::array::<u8>(4).unwrap();
    /// let ptr = DefaultAllocator.allocate_zeroed(layout).unwrap();
    /// // SAFETY: `ptr` is a live 4-byte block of this allocator.
    /// let grown = unsafe { DefaultAllocator.reallocate_zeroed(ptr, layout, 8) }.unwrap();
    /// // SAFETY: `grown` holds 8 bytes; it is freed once, with its new layout.
    /// unsafe {
    ///     assert_eq!(core::slice::from_raw_parts(grown.as_ptr(), 8), [0; 8]);
    ///     DefaultAllocator.deallocate(grown, Layout::array::<u8>(8).unwrap());
    /// }
    /// ```
    unsafe fn reallocate_zeroed(
        &self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller's promises are `move_block`'s.
        unsafe { move_block(self, ptr, layout, new_size) }
    }

    /// Whether a [`Pool`](crate::Pool) may carve blocks of up to 256 bytes
    /// (aligned to at most 16) out of larger chunks it allocates here,
    /// instead of asking for each block.
    ///
    /// `false` by default: the allocator then sees every block of non-zero
    /// size, one call each. [`DefaultAllocator`] says `true`, which makes small
    /// blocks several times cheaper and frees them all at once on `clear` or
    /// drop; freed small blocks are reused by the pool, not returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::{BlockAllocator, CAllocator, DefaultAllocator};
    ///
    /// assert!(DefaultAllocator::CARVE_SMALL_BLOCKS);
    /// assert!(!CAllocator::CARVE_SMALL_BLOCKS);
    /// ```
    const CARVE_SMALL_BLOCKS: bool = false;
}

/// The allocator of [`Pool::new`](crate::Pool::new): Rust's global
/// allocator (by default the system's `calloc`/`realloc`/`free`), with small
/// blocks carved from chunks by the pool ([`BlockAllocator::CARVE_SMALL_BLOCKS`]).
///
/// # Examples
///
/// ```
/// use cymem::{DefaultAllocator, Pool};
///
/// let mut pool: Pool<DefaultAllocator> = Pool::with_allocator(DefaultAllocator);
/// let h = pool.alloc::<u32>(3)?;
/// assert_eq!(pool[h], [0, 0, 0]);
/// # Ok::<(), cymem::PoolError>(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultAllocator;

// The contract, part by part: `alloc_zeroed` (or a fresh mapping from
// `pages::map`, zeroed by the kernel) gives zeroed, aligned, writable memory
// or null; a zero-sized layout gets an aligned dangling pointer that owns
// nothing and that `deallocate` ignores; blocks live outside the (empty)
// allocator value, so moving it changes nothing.
// SAFETY: as above; each block goes back with the layout it came with, as
// the trait's caller promises, through the path that made it.
unsafe impl BlockAllocator for DefaultAllocator {
    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Option<NonNull<u8>> {
        if layout.size() == 0 {
            return Some(dangling(layout));
        }
        if crate::pages::is_mapped(layout) {
            return crate::pages::map(layout);
        }
        // SAFETY: the size is not zero (checked above).
        NonNull::new(unsafe { alloc::alloc::alloc_zeroed(layout) })
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return; // the dangling pointer of `allocate_zeroed`: nothing to free
        }
        if crate::pages::is_mapped(layout) {
            // SAFETY: `allocate_zeroed` mapped this block for this layout.
            return unsafe { crate::pages::unmap(ptr, layout) };
        }
        // SAFETY: the caller passes a live block of `allocate_zeroed` with its
        // layout, of non-zero size, so `alloc_zeroed` made it.
        unsafe { alloc::alloc::dealloc(ptr.as_ptr(), layout) }
    }

    unsafe fn reallocate_zeroed(
        &self,
        ptr: NonNull<u8>,
        layout: Layout,
        new_size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: the caller promises `new_size` fits a layout of this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if layout.size() == 0
            || crate::pages::is_mapped(layout)
            || crate::pages::is_mapped(new_layout)
        {
            // Not (only) the global allocator's: move the block.
            // SAFETY: the caller's promises are `move_block`'s.
            return unsafe { move_block(self, ptr, layout, new_size) };
        }
        // SAFETY: the caller passes a live block of non-zero size with its
        // layout and a non-zero `new_size` that fits a layout of this alignment.
        let new = NonNull::new(unsafe { alloc::alloc::realloc(ptr.as_ptr(), layout, new_size) })?;
        if new_size > layout.size() {
            // SAFETY: `realloc` kept `layout.size()` bytes; the tail up to
            // `new_size` is the block's and uninitialised: zero it.
            unsafe {
                new.add(layout.size())
                    .write_bytes(0, new_size - layout.size())
            };
        }
        Some(new)
    }

    const CARVE_SMALL_BLOCKS: bool = true;
}

/// Resizes by allocating a new block, copying `min(old, new)` bytes and
/// freeing the old one: `reallocate_zeroed`'s default, and `DefaultAllocator`'s
/// way for blocks that `realloc` cannot take.
///
/// # Safety
///
/// As for [`BlockAllocator::reallocate_zeroed`].
unsafe fn move_block<A: BlockAllocator + ?Sized>(
    allocator: &A,
    ptr: NonNull<u8>,
    layout: Layout,
    new_size: usize,
) -> Option<NonNull<u8>> {
    // SAFETY: the caller promises `new_size` fits a layout of this alignment.
    let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
    let new = allocator.allocate_zeroed(new_layout)?;
    // SAFETY: both blocks are live and distinct (or the old one holds no
    // bytes), and at least this long.
    unsafe { ptr::copy_nonoverlapping(ptr.as_ptr(), new.as_ptr(), layout.size().min(new_size)) };
    // SAFETY: the caller's block, with its layout, not used again.
    unsafe { allocator.deallocate(ptr, layout) };
    Some(new)
}

/// An aligned, non-null pointer that owns nothing: a zero-byte block.
#[inline]
pub(crate) fn dangling(layout: Layout) -> NonNull<u8> {
    // SAFETY: an alignment is a power of two, so never zero.
    unsafe { NonNull::new_unchecked(ptr::without_provenance_mut::<u8>(layout.align())) }
}

/// A C library's private `malloc`/`free` pair as a [`BlockAllocator`]
/// (cymem's `WrapMalloc`/`WrapFree`).
///
/// `malloc` need not zero (the pool's allocator does) and need not align
/// beyond one byte: every request is over-allocated by `align - 1` bytes plus
/// one pointer, the block starts at the first aligned address after that
/// pointer, and the pointer `malloc` returned is stored just below the block
/// so that `free` receives exactly it.
///
/// Making one is `unsafe` ([`CAllocator::new`]): the pool's soundness rests
/// on what the two functions do, which no type can express.
///
/// # Examples
///
/// ```
/// use cymem::{CAllocator, Pool};
///
/// #[derive(Clone, Copy, bytemuck::Zeroable)]
/// #[repr(C, align(64))]
/// struct CacheLine([u8; 64]);
///
/// // SAFETY: libc's malloc/free are C's own pair, callable from any thread.
/// let mut pool = Pool::with_allocator(unsafe { CAllocator::new(libc::malloc, libc::free) });
/// let h = pool.alloc::<CacheLine>(2)?;
/// let ptr = pool.as_ptr(h).unwrap();
/// assert_eq!(ptr as usize % 64, 0);
/// assert!(pool[h].iter().all(|line| line.0 == [0; 64]));
/// # Ok::<(), cymem::PoolError>(())
/// ```
#[derive(Clone, Copy)]
pub struct CAllocator {
    malloc: unsafe extern "C" fn(usize) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
}

impl CAllocator {
    /// Wraps a `malloc`/`free` pair.
    ///
    /// # Safety
    ///
    /// The pair must behave as C's `malloc` and `free` do, for as long as
    /// any pool holds this allocator:
    /// - `malloc(n)` returns null or a pointer to at least `n` bytes that
    ///   are readable, writable and not used by anyone else until passed to
    ///   `free`; the pointer need not be aligned beyond one byte;
    /// - `free(p)` accepts every pointer `malloc` returned, exactly once;
    /// - neither unwinds, and both may be called from any thread
    ///   (`CAllocator` is `Send + Sync`, so a pool on it may move to or be
    ///   shared with other threads).
    ///
    /// # Examples
    ///
    /// ```
    /// use cymem::CAllocator;
    ///
    /// // SAFETY: libc's malloc/free are C's own pair, callable from any thread.
    /// let c = unsafe { CAllocator::new(libc::malloc, libc::free) };
    /// let pool = cymem::Pool::with_allocator(c);
    /// assert!(pool.is_empty());
    /// ```
    pub unsafe fn new(
        malloc: unsafe extern "C" fn(usize) -> *mut c_void,
        free: unsafe extern "C" fn(*mut c_void),
    ) -> Self {
        CAllocator { malloc, free }
    }

    /// Bytes requested from `malloc` for `layout`: the block, the stored
    /// original pointer, and room to align.
    fn request_size(layout: Layout) -> Option<usize> {
        layout
            .size()
            .checked_add(HEADER)?
            .checked_add(layout.align() - 1)
    }
}

/// Room below each block for the pointer `malloc` returned.
const HEADER: usize = core::mem::size_of::<*mut c_void>();

impl fmt::Debug for CAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CAllocator")
            .field("malloc", &(self.malloc as *const ()))
            .field("free", &(self.free as *const ()))
            .finish()
    }
}

// SAFETY: blocks start at an aligned address >= HEADER bytes into the malloc'd
// request, which leaves `layout.size()` bytes after it, zeroed before return;
// `deallocate` hands `free` the exact pointer `malloc` returned.
unsafe impl BlockAllocator for CAllocator {
    fn allocate_zeroed(&self, layout: Layout) -> Option<NonNull<u8>> {
        let request = Self::request_size(layout)?;
        // SAFETY: `CAllocator::new`'s caller promised C's contract: null or
        // `request` usable bytes.
        let raw = NonNull::new(unsafe { (self.malloc)(request) })?.cast::<u8>();
        let align = layout.align();
        let start = (raw.as_ptr().addr() + HEADER + align - 1) & !(align - 1);
        let offset = start - raw.as_ptr().addr();
        debug_assert!(offset >= HEADER && offset + layout.size() <= request);
        // SAFETY: `offset + layout.size() <= request` (request_size), so the
        // block and the header below it lie inside the `malloc`ed bytes.
        unsafe {
            let block = raw.as_ptr().add(offset);
            block
                .sub(HEADER)
                .cast::<*mut u8>()
                .write_unaligned(raw.as_ptr());
            block.write_bytes(0, layout.size());
            Some(NonNull::new_unchecked(block))
        }
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, _layout: Layout) {
        // SAFETY: `ptr` came from `allocate_zeroed` (caller's promise), which
        // stored the original `malloc` pointer in the HEADER bytes below it.
        unsafe {
            let raw = ptr.as_ptr().sub(HEADER).cast::<*mut u8>().read_unaligned();
            (self.free)(raw.cast::<c_void>());
        }
    }
}
