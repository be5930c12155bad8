//! Forged, stale, foreign and retyped handles against two populated pools:
//! each names exactly the right block or nothing.
#![no_main]

libfuzzer_sys::fuzz_target!(|ops: Vec<cymem_fuzz::handles::HandleOp>| {
    cymem_fuzz::handles::run(ops)
});
