//! Nested blocks holding handles (sparse matrices), built, resized and torn
//! down, read back against plain `Vec`s after every operation.
#![no_main]

libfuzzer_sys::fuzz_target!(|ops: Vec<cymem_fuzz::nested::NestedOp>| {
    cymem_fuzz::nested::run(ops)
});
