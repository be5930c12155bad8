//! The fuzz targets' shared code: element types, the plain model every
//! target is checked against, the counting and failure-injecting allocator,
//! and one `run` function per target, so that each file in `fuzz_targets/`
//! is a few lines.
//!
//! Every target interprets an [`arbitrary`] operation sequence (at most
//! [`MAX_OPS`] operations, blocks of at most [`MAX_LEN`] elements) against a
//! `cymem::Pool` and a plain Rust model, and compares the two after every
//! operation; any difference panics, which libFuzzer reports as a crash.

/// Runs `$body` with `$T` bound to the element type `$ty` names.
macro_rules! with_elem {
    ($ty:expr, $T:ident => $body:expr) => {
        match $ty {
            $crate::elem::Ty::U8 => {
                type $T = u8;
                $body
            }
            $crate::elem::Ty::U64 => {
                type $T = u64;
                $body
            }
            $crate::elem::Ty::Unit => {
                type $T = ();
                $body
            }
            $crate::elem::Ty::Wide => {
                type $T = $crate::elem::Wide;
                $body
            }
        }
    };
}

pub mod allocator;
pub mod capi;
pub mod elem;
pub mod handles;
pub mod model;
pub mod nested;
pub mod ops;
pub mod walk;

/// Operations interpreted per input; the rest are ignored.
pub const MAX_OPS: usize = 256;

/// The longest block, in elements, that an input asks for (except the
/// deliberately huge lengths that must fail with `SizeOverflow`, and blocks
/// of zero-sized elements).
pub const MAX_LEN: usize = 4096;

/// Live bytes above which allocations are skipped, so that comparing every
/// block after every operation stays fast.
pub const MAX_LIVE_BYTES: usize = 1 << 20;
