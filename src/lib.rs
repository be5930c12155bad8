#![doc = include_str!("../README.md")]
// Without the default `std` feature the crate needs only `core` and `alloc`.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

mod access;
mod allocator;
#[cfg(feature = "capi")]
pub mod capi;
mod elem;
mod error;
mod handle;
mod iter;
mod memory;
mod pages;
mod pool;
mod pool_id;
mod release;
mod table;
mod zone;

pub use crate::allocator::{BlockAllocator, CAllocator, DefaultAllocator};
pub use crate::error::PoolError;
pub use crate::handle::Handle;
pub use crate::iter::{Iter, IterMut};
pub use crate::pool::Pool;
pub use crate::zone::Mark;
