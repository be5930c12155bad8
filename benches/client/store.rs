//! The small storage trait the client benchmark is written against, and its
//! three implementations: raw libc pointers, `cymem::Pool` handles and
//! `slotmap` keys.
//!
//! The client code passes the length it knows (as C code does) to every
//! call; the pool and slotmap carry their own and only `debug_assert` it.

use std::marker::PhantomData;
use std::ptr::NonNull;

use bytemuck::Pod;
use cymem::{Handle, Pool};
use slotmap::{DefaultKey, Key, KeyData, SlotMap};

/// What a block may hold: plain data that the pool accepts.
pub trait Elem: Pod + Send + Sync {}
impl<T: Pod + Send + Sync> Elem for T {}

/// An owner of zeroed blocks of `T`s addressed by `Key<T>`.
pub trait Store {
    type Key<T: Elem>: Copy;
    /// `true` if dropping the store frees its blocks; `false` (raw) if the
    /// client must free each block itself.
    const DROP_FREES: bool;

    fn new() -> Self;
    fn alloc<T: Elem>(&mut self, len: usize) -> Self::Key<T>;
    /// Resizes to `new_len` elements, keeping the first `min(old, new)` and
    /// zeroing the rest; `key` may change (raw) or stay (pool, slotmap).
    fn realloc<T: Elem>(&mut self, key: &mut Self::Key<T>, old_len: usize, new_len: usize);
    fn get<T: Elem>(&self, key: Self::Key<T>, len: usize) -> &[T];
    fn get_mut<T: Elem>(&mut self, key: Self::Key<T>, len: usize) -> &mut [T];
    /// Two distinct blocks at once: `a` shared, `b` mutable.
    fn get_two<T: Elem>(
        &mut self,
        a: (Self::Key<T>, usize),
        b: (Self::Key<T>, usize),
    ) -> (&[T], &mut [T]);
    fn free<T: Elem>(&mut self, key: Self::Key<T>, len: usize);
    /// The key as 16 bytes, to be kept inside another block (a token's
    /// lexeme, a string entry's bytes), and back.
    fn to_bits<T: Elem>(key: Self::Key<T>) -> [u64; 2];
    fn from_bits<T: Elem>(bits: [u64; 2]) -> Self::Key<T>;
}

/// Raw libc: a key is the block's pointer, and the client frees every
/// block. As in the C code this imitates, the methods trust the client:
/// a key must name a live block of this store with the length passed (the
/// workload guarantees it, and its checksum is compared with the other
/// variants'); they are not sound for arbitrary arguments.
pub struct Raw;

impl Store for Raw {
    type Key<T: Elem> = NonNull<T>;
    const DROP_FREES: bool = false;

    fn new() -> Self {
        Raw
    }

    fn alloc<T: Elem>(&mut self, len: usize) -> NonNull<T> {
        assert!(len * size_of::<T>() > 0);
        // SAFETY: calloc has no preconditions; null is checked.
        let ptr = unsafe { libc::calloc(len, size_of::<T>()) };
        NonNull::new(ptr.cast()).expect("calloc failed")
    }

    fn realloc<T: Elem>(&mut self, key: &mut NonNull<T>, old_len: usize, new_len: usize) {
        // SAFETY: `key` is a live calloc'd block (the client's promise);
        // it is replaced by the result, and null is checked.
        let ptr = unsafe { libc::realloc(key.as_ptr().cast(), new_len * size_of::<T>()) };
        *key = NonNull::new(ptr.cast()).expect("realloc failed");
        if new_len > old_len {
            // SAFETY: the block now holds `new_len` elements; the tail is
            // zeroed before anyone reads it (all-zero is a valid `T: Pod`).
            unsafe { key.as_ptr().add(old_len).write_bytes(0, new_len - old_len) };
        }
    }

    fn get<T: Elem>(&self, key: NonNull<T>, len: usize) -> &[T] {
        // SAFETY: the client passes a live block of `len` elements.
        unsafe { std::slice::from_raw_parts(key.as_ptr(), len) }
    }

    fn get_mut<T: Elem>(&mut self, key: NonNull<T>, len: usize) -> &mut [T] {
        // SAFETY: as in `get`; the client holds no other reference to it.
        unsafe { std::slice::from_raw_parts_mut(key.as_ptr(), len) }
    }

    fn get_two<T: Elem>(
        &mut self,
        (a, a_len): (NonNull<T>, usize),
        (b, b_len): (NonNull<T>, usize),
    ) -> (&[T], &mut [T]) {
        assert_ne!(a, b);
        // SAFETY: as in `get`, for two distinct live blocks.
        unsafe {
            (
                std::slice::from_raw_parts(a.as_ptr(), a_len),
                std::slice::from_raw_parts_mut(b.as_ptr(), b_len),
            )
        }
    }

    fn free<T: Elem>(&mut self, key: NonNull<T>, _len: usize) {
        // SAFETY: a live calloc'd block, freed once (the client's promise).
        unsafe { libc::free(key.as_ptr().cast()) }
    }

    fn to_bits<T: Elem>(key: NonNull<T>) -> [u64; 2] {
        [key.as_ptr().expose_provenance() as u64, 0]
    }

    fn from_bits<T: Elem>(bits: [u64; 2]) -> NonNull<T> {
        NonNull::new(std::ptr::with_exposed_provenance_mut(bits[0] as usize)).expect("null key")
    }
}

/// This crate: a key is a typed 16-byte handle; dropping the pool frees all.
impl Store for Pool {
    type Key<T: Elem> = Handle<T>;
    const DROP_FREES: bool = true;

    fn new() -> Self {
        Pool::new()
    }

    fn alloc<T: Elem>(&mut self, len: usize) -> Handle<T> {
        Pool::alloc(self, len).expect("alloc")
    }

    fn realloc<T: Elem>(&mut self, key: &mut Handle<T>, _old_len: usize, new_len: usize) {
        Pool::realloc(self, *key, new_len).expect("realloc")
    }

    fn get<T: Elem>(&self, key: Handle<T>, len: usize) -> &[T] {
        let block = &self[key];
        debug_assert_eq!(block.len(), len);
        block
    }

    fn get_mut<T: Elem>(&mut self, key: Handle<T>, len: usize) -> &mut [T] {
        let block = &mut self[key];
        debug_assert_eq!(block.len(), len);
        block
    }

    fn get_two<T: Elem>(
        &mut self,
        (a, _): (Handle<T>, usize),
        (b, _): (Handle<T>, usize),
    ) -> (&[T], &mut [T]) {
        let [a, b] = self.get_disjoint_mut([a, b]).expect("two live blocks");
        (a, b)
    }

    fn free<T: Elem>(&mut self, key: Handle<T>, _len: usize) {
        Pool::free(self, key).expect("free")
    }

    fn to_bits<T: Elem>(key: Handle<T>) -> [u64; 2] {
        bytemuck::cast(key)
    }

    fn from_bits<T: Elem>(bits: [u64; 2]) -> Handle<T> {
        bytemuck::cast(bits)
    }
}

/// slotmap: a key is 8 bytes; blocks are `Vec<u64>` (8-byte aligned, so
/// any `Elem` of alignment <= 8 can be viewed in them), grown by `resize`.
pub struct Slots(SlotMap<DefaultKey, Vec<u64>>);

/// A slotmap key with the element type it was allocated for.
pub struct SlotKey<T>(DefaultKey, PhantomData<fn() -> T>);

impl<T> Clone for SlotKey<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SlotKey<T> {}

fn words<T>(len: usize) -> usize {
    (len * size_of::<T>()).div_ceil(8)
}

fn view<T: Elem>(words: &[u64], len: usize) -> &[T] {
    bytemuck::cast_slice(&bytemuck::cast_slice::<u64, u8>(words)[..len * size_of::<T>()])
}

fn view_mut<T: Elem>(words: &mut [u64], len: usize) -> &mut [T] {
    bytemuck::cast_slice_mut(
        &mut bytemuck::cast_slice_mut::<u64, u8>(words)[..len * size_of::<T>()],
    )
}

impl Store for Slots {
    type Key<T: Elem> = SlotKey<T>;
    const DROP_FREES: bool = true;

    fn new() -> Self {
        Slots(SlotMap::new())
    }

    fn alloc<T: Elem>(&mut self, len: usize) -> SlotKey<T> {
        SlotKey(self.0.insert(vec![0; words::<T>(len)]), PhantomData)
    }

    fn realloc<T: Elem>(&mut self, key: &mut SlotKey<T>, _old_len: usize, new_len: usize) {
        self.0[key.0].resize(words::<T>(new_len), 0);
    }

    fn get<T: Elem>(&self, key: SlotKey<T>, len: usize) -> &[T] {
        view(&self.0[key.0], len)
    }

    fn get_mut<T: Elem>(&mut self, key: SlotKey<T>, len: usize) -> &mut [T] {
        view_mut(&mut self.0[key.0], len)
    }

    fn get_two<T: Elem>(
        &mut self,
        (a, a_len): (SlotKey<T>, usize),
        (b, b_len): (SlotKey<T>, usize),
    ) -> (&[T], &mut [T]) {
        let [a, b] = self
            .0
            .get_disjoint_mut([a.0, b.0])
            .expect("two live blocks");
        (view(a, a_len), view_mut(b, b_len))
    }

    fn free<T: Elem>(&mut self, key: SlotKey<T>, _len: usize) {
        drop(self.0.remove(key.0))
    }

    fn to_bits<T: Elem>(key: SlotKey<T>) -> [u64; 2] {
        [key.0.data().as_ffi(), 0]
    }

    fn from_bits<T: Elem>(bits: [u64; 2]) -> SlotKey<T> {
        SlotKey(KeyData::from_ffi(bits[0]).into(), PhantomData)
    }
}
