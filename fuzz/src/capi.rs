//! The `capi` target: the C ABI (`cymem::capi`, feature `capi`) on a system
//! pool and a pool over a counting `malloc`/`free` pair that fails the calls
//! the input picks, checked against a plain model after every call.
//!
//! The ops, the harness and the model are the ones `tests/capi_model.rs`
//! runs under proptest (and Miri), kept in one file both crates compile:
//! `tests/capi_harness/mod.rs`.

#[path = "../../tests/capi_harness/mod.rs"]
mod harness;

pub use harness::{CapiOp, Edit, ElemSize, HandleProbe, Number, PtrProbe, MAX_NUMBER};

use crate::MAX_OPS;

/// Live bytes in both pools above which allocations and growth are skipped,
/// so that reading every block after every call stays fast.
const MAX_CAPI_BYTES: usize = 1 << 16;

/// The `capi` target: up to [`MAX_OPS`] calls, the model checked after
/// each; then both pools are destroyed and no `malloc`ed block may remain.
pub fn run(ops: Vec<CapiOp>) {
    harness::run(ops.into_iter().take(MAX_OPS), MAX_CAPI_BYTES);
}
