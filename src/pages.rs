//! Large blocks straight from the kernel, backed by transparent huge pages.
//!
//! A fresh pool's memory is fresh pages, and a first fill spends much of its
//! time in page faults; lookups spread over tens of megabytes spend theirs
//! in TLB misses. On Linux with `std`, [`DefaultAllocator`] therefore maps
//! every block of [`HUGE`] (2 MiB) or more itself — the pool's larger
//! chunks among them — at a 2 MiB-aligned address, and asks for huge pages
//! with `madvise(MADV_HUGEPAGE)` (this works in the kernel's `madvise` and
//! `always` THP modes, not in `never`). One fault then maps 2 MiB instead of
//! 4 KiB, and one TLB entry covers 512 times as much. The kernel zeroes the
//! pages, so nothing is written before the caller touches them.
//!
//! Only whole 2 MiB extents get huge pages; the tail of a block that is not
//! a multiple of 2 MiB stays on small pages, so no block takes more physical
//! memory than it touches. `reallocate_zeroed` moves such blocks (allocate,
//! copy, unmap) instead of calling `realloc`.
//!
//! Elsewhere (other systems, `no_std`, Miri) [`is_mapped`] is `false` and
//! every block goes through the global allocator.
//!
//! [`DefaultAllocator`]: crate::DefaultAllocator

use core::alloc::Layout;
#[cfg(all(feature = "std", target_os = "linux", not(miri)))]
use core::ptr::NonNull;

/// Blocks from this size on are mapped here; also the alignment of the
/// pool's largest chunks, so that each is one huge page.
pub(crate) const HUGE: usize = 2 * 1024 * 1024;

/// Whether a block of `layout` is mapped here rather than taken from the
/// global allocator.
#[inline]
pub(crate) fn is_mapped(layout: Layout) -> bool {
    cfg!(all(feature = "std", target_os = "linux", not(miri)))
        && layout.size() >= HUGE
        && layout.align() <= HUGE
}

#[cfg(all(feature = "std", target_os = "linux", not(miri)))]
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// Bytes mapped for a block of `size` bytes: whole pages.
#[cfg(all(feature = "std", target_os = "linux", not(miri)))]
fn mapped_len(size: usize) -> Option<usize> {
    let page = page_size();
    Some(size.checked_add(page - 1)? & !(page - 1))
}

/// Maps zeroed memory for `layout` (which [`is_mapped`]), aligned to
/// [`HUGE`], or `None` if the kernel refuses.
#[cfg(all(feature = "std", target_os = "linux", not(miri)))]
pub(crate) fn map(layout: Layout) -> Option<NonNull<u8>> {
    debug_assert!(is_mapped(layout));
    let len = mapped_len(layout.size())?;
    let total = len.checked_add(HUGE)?;
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing touches no existing memory.
    let base = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    let base = base.cast::<u8>();
    let head = base.addr().wrapping_neg() & (HUGE - 1);
    // SAFETY: `head < HUGE` and `head + len <= total`: both ends lie in the mapping.
    let (start, end) = unsafe { (base.add(head), base.add(head + len)) };
    // SAFETY: the unmapped head and tail are whole pages of the mapping just
    // made (`base`, `start` and `end` are page-aligned), used by nobody.
    unsafe {
        if head > 0 {
            libc::munmap(base.cast(), head);
        }
        if total - head - len > 0 {
            libc::munmap(end.cast(), total - head - len);
        }
        // Advice only: if the kernel declines, the block is on small pages.
        libc::madvise(start.cast(), len, libc::MADV_HUGEPAGE);
    }
    NonNull::new(start)
}

/// Unmaps a block of [`map`].
///
/// # Safety
///
/// - `ptr` came from [`map`] with `layout` and is not used again.
#[cfg(all(feature = "std", target_os = "linux", not(miri)))]
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, layout: Layout) {
    let len = mapped_len(layout.size()).unwrap_or(usize::MAX);
    // SAFETY: `map` mapped `len` bytes at `ptr` for this layout (the caller's
    // promise); nobody uses them any more.
    let result = unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
    debug_assert_eq!(result, 0, "munmap of a block of `map` failed");
}

/// Asks for huge pages under the whole 2 MiB extents of `len` bytes at
/// `ptr`: memory the caller owns but did not map here (the slot table, a
/// `Vec` on the global allocator). Advice only: the contents stay as they
/// are, and a refusal changes nothing.
#[inline]
pub(crate) fn advise_huge(ptr: *const u8, len: usize) {
    let start = ptr.addr().next_multiple_of(HUGE);
    let end = (ptr.addr() + len) & !(HUGE - 1);
    #[cfg(all(feature = "std", target_os = "linux", not(miri)))]
    if end > start {
        // SAFETY: MADV_HUGEPAGE only marks the range, which lies inside the
        // caller's allocation; it never changes what the memory holds.
        unsafe {
            libc::madvise(
                ptr.with_addr(start).cast_mut().cast(),
                end - start,
                libc::MADV_HUGEPAGE,
            );
        }
    }
    #[cfg(not(all(feature = "std", target_os = "linux", not(miri))))]
    let _ = (start, end);
}

#[cfg(not(all(feature = "std", target_os = "linux", not(miri))))]
pub(crate) fn map(_: Layout) -> Option<core::ptr::NonNull<u8>> {
    unreachable!("is_mapped is false on this target")
}

/// Never called here: [`is_mapped`] is `false` on this target.
///
/// # Safety
///
/// - none needed; it is never called.
#[cfg(not(all(feature = "std", target_os = "linux", not(miri))))]
pub(crate) unsafe fn unmap(_: core::ptr::NonNull<u8>, _: Layout) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockAllocator, DefaultAllocator};

    /// [`HUGE`], or a small stand-in under Miri, where nothing is mapped
    /// here and megabytes of checks would take minutes.
    const SIZE: usize = if cfg!(miri) { 4096 } else { HUGE };

    fn bytes(ptr: core::ptr::NonNull<u8>, len: usize) -> &'static mut [u8] {
        // SAFETY: each caller passes a live block of at least `len` bytes
        // that nothing else references while the slice is used.
        unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), len) }
    }

    #[test]
    fn large_blocks_are_zeroed_huge_aligned_and_survive_resizes_across_the_threshold() {
        let small = Layout::from_size_align(SIZE / 2, 16).unwrap();
        let ptr = DefaultAllocator.allocate_zeroed(small).unwrap();
        bytes(ptr, small.size()).fill(7);
        // Up across the threshold: moved into a mapping, prefix kept, tail zeroed.
        let big_size = SIZE + 12_345;
        // SAFETY: a live block of `small`, grown to a size that fits a layout.
        let big = unsafe { DefaultAllocator.reallocate_zeroed(ptr, small, big_size) }.unwrap();
        if is_mapped(Layout::from_size_align(big_size, 16).unwrap()) {
            assert_eq!(big.as_ptr().addr() % HUGE, 0);
        }
        let contents = bytes(big, big_size);
        assert!(contents[..small.size()].iter().all(|&b| b == 7));
        assert!(contents[small.size()..].iter().all(|&b| b == 0));
        contents[big_size - 1] = 9;
        // And back down: the prefix survives the move out of the mapping.
        let big_layout = Layout::from_size_align(big_size, 16).unwrap();
        // SAFETY: the live block of `big_layout` made above.
        let shrunk = unsafe { DefaultAllocator.reallocate_zeroed(big, big_layout, 100) }.unwrap();
        assert!(bytes(shrunk, 100).iter().all(|&b| b == 7));
        // SAFETY: freed once, with the layout of its last size.
        unsafe { DefaultAllocator.deallocate(shrunk, Layout::from_size_align(100, 16).unwrap()) };
    }

    #[test]
    fn advice_on_memory_of_the_global_allocator_keeps_its_contents() {
        let mut table = alloc::vec![3u8; 3 * SIZE];
        advise_huge(table.as_ptr(), table.len());
        advise_huge(table.as_ptr(), 10); // less than an extent: nothing to do
        assert!(table.iter().all(|&b| b == 3));
        table[SIZE] = 4;
        assert_eq!(
            table.iter().map(|&b| usize::from(b)).sum::<usize>(),
            3 * 3 * SIZE + 1
        );
    }
}
