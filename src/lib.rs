#![doc = include_str!("../README.md")]

mod alloc;
#[cfg(feature = "capi")]
pub mod capi;
mod error;
mod handle;
mod memory;
mod pool;
mod table;
mod zone;

pub use crate::alloc::{BlockAllocator, CAllocator, DefaultAllocator};
pub use crate::error::PoolError;
pub use crate::handle::Handle;
pub use crate::pool::Pool;
pub use crate::zone::Mark;
