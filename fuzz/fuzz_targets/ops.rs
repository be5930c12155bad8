//! Random operation sequences on several element types, checked against a
//! plain model after every operation.
#![no_main]

libfuzzer_sys::fuzz_target!(|ops: Vec<cymem_fuzz::ops::Op>| cymem_fuzz::ops::run(ops));
