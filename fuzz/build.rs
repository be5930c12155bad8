//! Sets `cfg(fuzzing)` for every build of this crate, as `cargo fuzz` does:
//! the ops in `tests/capi_harness/mod.rs` (shared with cymem's proptest
//! tests) derive `arbitrary::Arbitrary` only under it, and the targets need
//! that in a plain `cargo check`/`clippy` too.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
    println!("cargo::rustc-cfg=fuzzing");
}
