//! The C ABI on a system pool and a counting, failing malloc/free pool:
//! forged pointers and handles, checked against a plain model after every call.
#![no_main]

libfuzzer_sys::fuzz_target!(|ops: Vec<cymem_fuzz::capi::CapiOp>| cymem_fuzz::capi::run(ops));
