//! The element types stored in blocks, and helpers to view them as bytes.

use arbitrary::Arbitrary;
use bytemuck::{Pod, Zeroable};
use cymem::Handle;

use crate::MAX_LEN;

/// Tag of an element type a target stores.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    /// `u8`.
    U8,
    /// `u64`.
    U64,
    /// `()`, zero-sized: its blocks never reach the allocator.
    Unit,
    /// [`Wide`], aligned to 64 bytes.
    Wide,
}

/// An over-aligned element: 64 bytes, aligned to 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Zeroable, Pod)]
#[repr(C, align(64))]
pub struct Wide(pub [u8; 64]);

/// An element type with its tag.
pub trait Elem: Pod + Send + Sync + 'static {
    /// The tag naming `Self`.
    const TY: Ty;
}

impl Elem for u8 {
    const TY: Ty = Ty::U8;
}

impl Elem for u64 {
    const TY: Ty = Ty::U64;
}

impl Elem for () {
    const TY: Ty = Ty::Unit;
}

impl Elem for Wide {
    const TY: Ty = Ty::Wide;
}

impl Ty {
    /// `size_of` the element type.
    pub fn size(self) -> usize {
        with_elem!(self, T => core::mem::size_of::<T>())
    }

    /// `align_of` the element type.
    pub fn align(self) -> usize {
        with_elem!(self, T => core::mem::align_of::<T>())
    }
}

/// A block length chosen by the input, biased towards the edges.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Len {
    /// 0.
    Zero,
    /// 1.
    One,
    /// 0..64.
    Small(u8),
    /// 0..=MAX_LEN.
    Large(u16),
}

impl Len {
    /// The length in elements.
    pub fn get(self) -> usize {
        match self {
            Len::Zero => 0,
            Len::One => 1,
            Len::Small(n) => usize::from(n) % 64,
            Len::Large(n) => usize::from(n) % (MAX_LEN + 1),
        }
    }
}

/// The elements' bytes (none for a zero-sized `T`).
pub fn bytes_of<T: Pod>(elements: &[T]) -> &[u8] {
    if core::mem::size_of::<T>() == 0 {
        &[]
    } else {
        bytemuck::cast_slice(elements)
    }
}

/// The elements' bytes, mutably (none for a zero-sized `T`).
pub fn bytes_of_mut<T: Pod>(elements: &mut [T]) -> &mut [u8] {
    if core::mem::size_of::<T>() == 0 {
        &mut []
    } else {
        bytemuck::cast_slice_mut(elements)
    }
}

/// Fills `bytes` with `seed, seed + 1, ...` (wrapping).
pub fn fill_pattern(bytes: &mut [u8], seed: u8) {
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = seed.wrapping_add(i as u8);
    }
}

/// The 16 bytes of a handle.
pub fn raw<T: 'static>(handle: Handle<T>) -> [u8; 16] {
    bytemuck::cast(handle)
}

/// A handle made from 16 bytes.
pub fn forge<T: 'static>(raw: [u8; 16]) -> Handle<T> {
    bytemuck::cast(raw)
}

/// The documented fields of a handle's bytes, for editing forged handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Zeroable, Pod)]
#[repr(C)]
pub struct HandleFields {
    /// Slot index.
    pub index: u32,
    /// Slot generation.
    pub generation: u32,
    /// Id of the pool that made the handle.
    pub pool: u64,
}
