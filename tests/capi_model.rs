//! Model test of the C ABI: random call sequences on two pools, one from
//! `cymem_pool_new` and one from `cymem_pool_new_with` over a counting
//! `malloc`/`free` pair that fails on demand, compared after every call with
//! a plain model (each block's handle, last address, and bytes while live).
//!
//! The ops, the harness and the model are in `capi_harness/mod.rs`, which
//! the `capi` fuzz target runs too (on longer sequences); this file only
//! generates the ops.
#![cfg(feature = "capi")]

mod capi_harness;
mod common;

use capi_harness::{CapiOp, Edit, ElemSize, HandleProbe, Number, PtrProbe, MAX_NUMBER};
use proptest::prelude::*;

/// Live bytes in both pools above which allocations and growth are skipped.
const MAX_LIVE_BYTES: usize = if cfg!(miri) { 1 << 10 } else { 1 << 14 };

fn number() -> impl Strategy<Value = Number> {
    let max = if cfg!(miri) { 64 } else { MAX_NUMBER as u16 };
    prop_oneof![
        2 => Just(Number::Zero),
        1 => Just(Number::One),
        1 => any::<u8>().prop_map(Number::Small),
        6 => (1..=40u16).prop_map(Number::Up),
        1 => Just(Number::Up(max)),
        1 => (0..4u8).prop_map(Number::Huge),
    ]
}

fn elem_size() -> impl Strategy<Value = ElemSize> {
    use ElemSize::*;
    prop_oneof![
        8 => prop::sample::select(vec![Zero, One, Three, Eight, Sixteen, TwentyFour]),
        1 => any::<u8>().prop_map(Odd),
        2 => any::<u8>().prop_map(Small),
        1 => any::<u8>().prop_map(Huge),
    ]
}

fn ptr_probe() -> impl Strategy<Value = PtrProbe> {
    prop_oneof![
        6 => any::<u8>().prop_map(PtrProbe::Record),
        2 => any::<u8>().prop_map(PtrProbe::Foreign),
        2 => (any::<u8>(), 0..48u8)
            .prop_map(|(target, offset)| PtrProbe::Interior { target, offset }),
        1 => (any::<u8>(), any::<i8>()).prop_map(|(target, delta)| PtrProbe::Near { target, delta }),
        1 => any::<u64>().prop_map(PtrProbe::Raw),
        1 => Just(PtrProbe::Null),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => Just(Edit::Keep),
        3 => (-2..=2i8).prop_map(Edit::Index),
        3 => (-2..=2i8).prop_map(Edit::Generation),
        3 => (-2..=2i8).prop_map(Edit::PoolId),
        1 => any::<u32>().prop_map(Edit::SetIndex),
        1 => any::<u32>().prop_map(Edit::SetGeneration),
        1 => any::<u64>().prop_map(Edit::SetPoolId),
    ]
}

fn handle_probe() -> impl Strategy<Value = HandleProbe> {
    let edited = (any::<bool>(), any::<u8>(), edit()).prop_map(|(foreign, target, edit)| {
        HandleProbe::Edited {
            foreign,
            target,
            edit,
        }
    });
    let raw = any::<(u32, u32, u64)>().prop_map(|(index, generation, pool)| HandleProbe::Raw {
        index,
        generation,
        pool,
    });
    prop_oneof![
        6 => any::<u8>().prop_map(HandleProbe::Record),
        2 => any::<u8>().prop_map(HandleProbe::Foreign),
        4 => edited,
        1 => raw,
        1 => Just(HandleProbe::Null),
    ]
}

fn fail() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.15)
}

fn op() -> impl Strategy<Value = CapiOp> {
    let alloc = (any::<bool>(), number(), elem_size(), fail(), any::<bool>()).prop_map(
        |(pool, number, size, fail, no_out)| CapiOp::Alloc {
            pool,
            number,
            size,
            fail,
            no_out,
        },
    );
    let realloc = (any::<bool>(), ptr_probe(), number(), elem_size(), fail()).prop_map(
        |(pool, ptr, number, size, fail)| CapiOp::Realloc {
            pool,
            ptr,
            number,
            size,
            fail,
        },
    );
    let realloc_handle = (any::<bool>(), handle_probe(), number(), elem_size(), fail()).prop_map(
        |(pool, handle, number, size, fail)| CapiOp::ReallocHandle {
            pool,
            handle,
            number,
            size,
            fail,
        },
    );
    let lookup =
        (any::<bool>(), handle_probe(), any::<bool>()).prop_map(|(pool, handle, no_out)| {
            CapiOp::Lookup {
                pool,
                handle,
                no_out,
            }
        });
    let find = (any::<bool>(), ptr_probe(), 0..4u8).prop_map(|(pool, ptr, no_out)| CapiOp::Find {
        pool,
        ptr,
        no_out,
    });
    let null_pool = (any::<u8>(), ptr_probe(), handle_probe())
        .prop_map(|(call, ptr, handle)| CapiOp::NullPool { call, ptr, handle });
    let new_with_null =
        proptest::option::of(any::<bool>()).prop_map(|malloc| CapiOp::NewWithNull { malloc });
    let message = prop_oneof![-2..=8i32, any::<i32>()].prop_map(CapiOp::Message);
    // Under Miri, the fewest blocks that still give the log 64 holes.
    let count = if cfg!(miri) { 0..=10u8 } else { 0..=u8::MAX };
    let alloc_many = (any::<bool>(), count, any::<u8>())
        .prop_map(|(pool, count, seed)| CapiOp::AllocMany { pool, count, seed });
    let free_every = (any::<bool>(), any::<u8>(), any::<bool>(), any::<bool>()).prop_map(
        |(pool, k, invert, newest_first)| CapiOp::FreeEvery {
            pool,
            k,
            invert,
            newest_first,
        },
    );
    let find_handle =
        (any::<bool>(), any::<u8>()).prop_map(|(pool, target)| CapiOp::FindHandle { pool, target });
    let free_with_size = (any::<bool>(), ptr_probe(), prop::bool::weighted(0.2))
        .prop_map(|(pool, ptr, no_out)| CapiOp::FreeWithSize { pool, ptr, no_out });
    let scribble = (any::<bool>(), any::<u8>(), any::<u8>())
        .prop_map(|(pool, target, seed)| CapiOp::Scribble { pool, target, seed });
    prop_oneof![
        8 => alloc,
        4 => (any::<bool>(), any::<u8>(), any::<u8>())
            .prop_map(|(pool, target, seed)| CapiOp::Write { pool, target, seed }),
        3 => (any::<bool>(), ptr_probe()).prop_map(|(pool, ptr)| CapiOp::Free { pool, ptr }),
        3 => (any::<bool>(), handle_probe())
            .prop_map(|(pool, handle)| CapiOp::FreeHandle { pool, handle }),
        4 => realloc,
        4 => realloc_handle,
        2 => lookup,
        2 => find,
        1 => null_pool,
        1 => prop_oneof![new_with_null, message],
        1 => alloc_many,
        2 => free_every,
        2 => find_handle,
        2 => free_with_size,
        1 => scribble,
    ]
}

proptest! {
    #![proptest_config(common::proptest_config())]

    #[test]
    fn capi_matches_the_model_after_every_call(
        ops in prop::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 120 }),
    ) {
        capi_harness::run(ops, MAX_LIVE_BYTES);
    }
}

#[test]
fn shrink_then_grow_reads_zero_past_the_shrink() {
    let mut ops = Vec::new();
    for pool in [false, true] {
        // The side's only block, 40 bytes of a pattern, resized by handle
        // through shrinks and growths; the model expects zeroes past each
        // shrink when the block grows again.
        ops.push(CapiOp::Alloc {
            pool,
            number: Number::Up(40),
            size: ElemSize::One,
            fail: false,
            no_out: false,
        });
        ops.push(CapiOp::Write {
            pool,
            target: 0,
            seed: 7,
        });
        for number in [3, 40, 1, 17, 0, 33] {
            ops.push(CapiOp::ReallocHandle {
                pool,
                handle: HandleProbe::Record(0),
                number: Number::Up(number),
                size: ElemSize::One,
                fail: false,
            });
        }
    }
    capi_harness::run(ops, MAX_LIVE_BYTES);
}

#[test]
fn many_handle_less_blocks_survive_log_compaction() {
    let mut ops = Vec::new();
    for pool in [false, true] {
        // 200 blocks without a handle (fewer under Miri, where the live
        // bytes run out first), three of them then given a slot.
        ops.push(CapiOp::AllocMany {
            pool,
            count: u8::MAX,
            seed: 3,
        });
        for target in [0, 50, 120] {
            ops.push(CapiOp::FindHandle { pool, target });
        }
        // Three quarters freed oldest first, each leaving a hole: past 64
        // holes and half the log it is compacted, and the frees after that
        // find their blocks at renumbered positions. The model then checks
        // every survivor's size, bytes and place in `cymem_pool_blocks`.
        ops.push(CapiOp::FreeEvery {
            pool,
            k: 3,
            invert: true,
            newest_first: false,
        });
        // The survivors still resize and free by pointer.
        for target in [0, 1, 7] {
            ops.push(CapiOp::Scribble {
                pool,
                target,
                seed: 0xEE,
            });
            ops.push(CapiOp::Realloc {
                pool,
                ptr: PtrProbe::Record(target),
                number: Number::Up(40),
                size: ElemSize::One,
                fail: false,
            });
        }
        ops.push(CapiOp::FreeEvery {
            pool,
            k: 0,
            invert: false,
            newest_first: true,
        });
    }
    capi_harness::run(ops, MAX_LIVE_BYTES);
}
