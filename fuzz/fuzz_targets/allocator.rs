//! The `ops` sequences on a counting allocator that fails the calls the
//! input picks: no leak, no wrong layout, and errors leave the pool intact.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: cymem_fuzz::allocator::Input| {
    cymem_fuzz::allocator::run(input)
});
