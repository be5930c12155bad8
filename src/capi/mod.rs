//! The C ABI (cargo feature `capi`): the pool for C, C++ and Cython callers.
//!
//! Build it with
//! `cargo rustc --release --lib --features capi --crate-type cdylib,staticlib`
//! (`target/release/libcymem.so` and `libcymem.a`) and include
//! `include/cymem.h`, which cbindgen generates from this file; Cython code
//! `cimport`s `include/cymem_capi.pxd`. The crate types are chosen on the
//! command line, not in `Cargo.toml`, because Cargo would then also link a
//! cdylib and a staticlib for every Rust crate that depends on `cymem`.
//!
//! # Design
//!
//! C speaks in `void *`, so this layer adds to a [`Pool`](crate::Pool) what a C caller of
//! cymem's `Pool.alloc` expects:
//!
//! - **Element type.** Every block is an array of 16-byte, 16-aligned
//!   units, so a pointer is aligned for any C type (`max_align_t`) as from
//!   `calloc`. The exact byte size asked for is kept with the block, for
//!   [`cymem_pool_size`], [`cymem_lookup`] and [`cymem_find`], and bytes past
//!   it are zeroed again on realloc. A zero-byte block still takes one unit,
//!   so every live block has its own address.
//! - **Blocks without handles.** cymem's callers never ask for a handle, so
//!   a block made with a NULL `out_handle` gets no slot: the pool logs its
//!   address and size (16 bytes, where a slot and its size take 32), and
//!   freeing the newest such block pops the log. `blocks.rs` has the design.
//! - **Pointers as keys.** [`cymem_free`], [`cymem_realloc`] and
//!   [`cymem_find`] take the pointer [`cymem_alloc`] returned, as in cymem
//!   (whose Python dict plays this part). The newest block is recognised by
//!   one compare; any other through a table from each live block's address
//!   (`addresses.rs`, open addressing keyed by address; its docs give the
//!   measurements that made it replace `HashMap`), built by the first call
//!   that needs it and kept from then on: a pool that is only filled and
//!   destroyed, or used through handles, never pays for it. A pointer that
//!   is not a key (foreign, interior, freed, NULL) is rejected without ever
//!   being dereferenced.
//! - **Handles.** [`CymemHandle`] is the crate's 16-byte [`Handle`](crate::Handle) in a C
//!   struct, for blocks made with an `out_handle` (or given one later by
//!   [`cymem_find`]): the `_handle` functions check it (index, generation,
//!   pool id) exactly as [`Pool::get`](crate::Pool::get) does, and catch
//!   what an address cannot: a freed address that a later block reuses.
//! - **Errors.** Functions that return a pointer return NULL on failure;
//!   every fallible function records a [`CymemStatus`] for
//!   [`cymem_last_error`] (per thread, like `errno`, reset to
//!   [`CymemStatus::Ok`] on success); the others return it. A failed call
//!   changes nothing: room for the block's size and address is reserved
//!   before the pool allocates, so no step after the allocation can fail.
//! - **Allocators.** [`cymem_pool_new`] carves small blocks as the Rust
//!   [`Pool::new`](crate::Pool::new) does; [`cymem_pool_new_with`] sends every block to the
//!   caller's `malloc`/`free` (cymem's `WrapMalloc`/`WrapFree`) through
//!   [`CAllocator`](crate::CAllocator).
//!
//! Files: `status.rs` (codes, the per-thread last error), `pool.rs` (a
//! pool's lifetime and totals, the checks on pool and out-pointer
//! arguments), `by_pointer.rs` and `by_handle.rs` (the two ways to name a
//! block), `blocks.rs` (the pool of C blocks behind them, its slots; its log
//! in `blocks/log.rs`) and `addresses.rs` (its address table).
//!
//! What the pool cannot check, C must: the pool pointer is one from
//! `cymem_pool_new*` not yet destroyed, out-pointers are NULL or writable,
//! and a pool is used by one thread at a time.

mod addresses;
mod blocks;
mod by_handle;
mod by_pointer;
mod pool;
mod status;

pub use self::by_handle::{cymem_free_handle, cymem_lookup, cymem_realloc_handle, CymemHandle};
pub use self::by_pointer::{
    cymem_alloc, cymem_find, cymem_free, cymem_free_with_size, cymem_realloc,
};
pub use self::pool::{
    cymem_pool_blocks, cymem_pool_destroy, cymem_pool_len, cymem_pool_mirror_size, cymem_pool_new,
    cymem_pool_new_with, cymem_pool_size, CymemFreeFn, CymemMallocFn, CymemPool,
};
pub use self::status::{cymem_last_error, cymem_status_message, CymemStatus};
