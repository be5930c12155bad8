//! Element types once `T` is erased: what a slot needs to know to find a
//! block's layout and drop its elements.

use core::alloc::Layout;
use core::any::TypeId;
use core::ptr::NonNull;

/// What a slot needs to know about its element type once `T` is erased.
pub(crate) struct ElemType {
    pub(crate) type_id: TypeId,
    pub(crate) size: usize,
    pub(crate) align: usize,
    /// `drop_in_place` on `len` elements at `ptr`; `None` if `T` needs no drop.
    pub(crate) drop_elements: Option<unsafe fn(NonNull<u8>, usize)>,
}

impl ElemType {
    /// The layout a block of `len` elements was allocated with.
    ///
    /// # Safety
    ///
    /// - `Layout::array::<T>(len)` succeeded for the `T` this describes
    ///   (I2 for an occupied slot's `len`).
    pub(crate) unsafe fn layout(&self, len: usize) -> Layout {
        debug_assert!(self.size.checked_mul(len).is_some());
        // SAFETY: the caller promises `size * len` passed `Layout::array`, so
        // it does not overflow and `align` is a power of two.
        unsafe { Layout::from_size_align_unchecked(self.size * len, self.align) }
    }
}

/// Gives every `'static` type one `ElemType` in static memory.
pub(crate) trait Element: Sized + 'static {
    const TYPE: &'static ElemType;
}

impl<T: 'static> Element for T {
    const TYPE: &'static ElemType = &ElemType {
        type_id: TypeId::of::<T>(),
        size: core::mem::size_of::<T>(),
        align: core::mem::align_of::<T>(),
        drop_elements: if core::mem::needs_drop::<T>() {
            Some(drop_elements::<T>)
        } else {
            None
        },
    };
}

/// # Safety
///
/// - `ptr` points to `len` initialised, aligned `T`s that are not used again.
unsafe fn drop_elements<T>(ptr: NonNull<u8>, len: usize) {
    let elements = core::ptr::slice_from_raw_parts_mut(ptr.cast::<T>().as_ptr(), len);
    // SAFETY: the caller promises `len` initialised `T`s, dropped only here.
    unsafe { core::ptr::drop_in_place(elements) }
}
