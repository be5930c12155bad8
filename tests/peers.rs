//! The README compares key sizes with peer crates; these keep the table true.

use core::mem::size_of;

#[test]
fn key_sizes_in_the_readme_comparison_hold() {
    assert_eq!(size_of::<cymem::Handle<u8>>(), 16);
    assert_eq!(size_of::<cymem::Handle<[u64; 100]>>(), 16);
    assert_eq!(size_of::<slotmap::DefaultKey>(), 8);
    assert_eq!(size_of::<*mut core::ffi::c_void>(), 8);
}

#[test]
fn option_of_a_handle_is_larger_than_a_handle_because_every_bit_pattern_is_valid() {
    // No niche: a Handle is Pod, so NULL (all zeros) is the "no block" value.
    assert_eq!(size_of::<Option<cymem::Handle<u8>>>(), 24);
}
