//! The C ABI's cost over the Rust pool and over raw `calloc`/`free`, in one
//! criterion run so ratios are same-run:
//! `cargo bench --features capi --bench capi`.
//!
//! - `capi_pair`: one `alloc(1, 32)` and its free, repeated; by pointer
//!   (`cymem_free`, cymem's `Pool.free`), by handle (`cymem_free_handle`),
//!   the Rust `Pool`, and raw calloc/free.
//! - `capi_build_drop`: a structure's life in cymem terms: 10^5 blocks of
//!   32 bytes, then the pool is destroyed (raw: calloc each, free each),
//!   for the default pool and one over libc's malloc/free pair, and the
//!   Rust `Pool` doing the same (no address table).

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use core::ptr::null_mut;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use cymem::capi::*;
use cymem::Pool;

mod common;
use common::{config, raw_calloc, raw_free};

const PAIRS: usize = 1_000_000;
const BUILD_BLOCKS: usize = 100_000;
const BLOCK_BYTES: usize = 32;

fn capi_alloc(pool: *mut CymemPool, handle: *mut CymemHandle) -> *mut libc::c_void {
    // SAFETY: `pool` is live (made by the caller, destroyed after the loop);
    // `handle` is NULL or writable.
    let ptr = unsafe { cymem_alloc(pool, 1, BLOCK_BYTES, handle) };
    assert!(!ptr.is_null(), "cymem_alloc failed");
    ptr
}

fn capi_pair(c: &mut Criterion) {
    let mut group = c.benchmark_group("capi_pair");
    group.throughput(Throughput::Elements(PAIRS as u64));
    group.bench_function("raw", |b| {
        b.iter(|| {
            for _ in 0..PAIRS {
                raw_free(black_box(raw_calloc(BLOCK_BYTES)));
            }
        })
    });
    group.bench_function("pointer", |b| {
        let pool = cymem_pool_new();
        b.iter(|| {
            for _ in 0..PAIRS {
                let ptr = black_box(capi_alloc(pool, null_mut()));
                // SAFETY: a live pool.
                let status = unsafe { cymem_free(pool, ptr) };
                debug_assert_eq!(status, CymemStatus::Ok);
            }
        });
        // SAFETY: destroyed once, after its last use.
        unsafe { cymem_pool_destroy(pool) };
    });
    group.bench_function("handle", |b| {
        let pool = cymem_pool_new();
        b.iter(|| {
            for _ in 0..PAIRS {
                let mut handle = CymemHandle::default();
                black_box(capi_alloc(pool, &mut handle));
                // SAFETY: a live pool.
                let status = unsafe { cymem_free_handle(pool, black_box(handle)) };
                debug_assert_eq!(status, CymemStatus::Ok);
            }
        });
        // SAFETY: destroyed once, after its last use.
        unsafe { cymem_pool_destroy(pool) };
    });
    group.bench_function("rust_pool", |b| {
        let mut pool = Pool::new();
        b.iter(|| {
            for _ in 0..PAIRS {
                let h = black_box(pool.alloc::<u8>(BLOCK_BYTES).unwrap());
                pool.free(h).unwrap();
            }
        })
    });
    group.finish();
}

/// Fills a new pool with `BUILD_BLOCKS` blocks, then destroys it.
fn build_and_destroy(pool: *mut CymemPool) {
    assert!(!pool.is_null());
    for _ in 0..BUILD_BLOCKS {
        black_box(capi_alloc(pool, null_mut()));
    }
    // SAFETY: made by the caller, destroyed once, here.
    unsafe { cymem_pool_destroy(pool) };
}

fn capi_build_drop(c: &mut Criterion) {
    let mut group = c.benchmark_group("capi_build_drop");
    group.throughput(Throughput::Elements(BUILD_BLOCKS as u64));
    group.bench_function("raw", |b| {
        let mut blocks = Vec::with_capacity(BUILD_BLOCKS);
        b.iter(|| {
            blocks.extend((0..BUILD_BLOCKS).map(|_| raw_calloc(BLOCK_BYTES)));
            blocks.drain(..).for_each(raw_free);
        })
    });
    group.bench_function("pool_new", |b| {
        b.iter(|| build_and_destroy(cymem_pool_new()))
    });
    group.bench_function("rust_pool", |b| {
        b.iter(|| {
            let mut pool = Pool::new();
            for _ in 0..BUILD_BLOCKS {
                black_box(pool.alloc::<u8>(BLOCK_BYTES).unwrap());
            }
        })
    });
    group.bench_function("pool_new_with_libc", |b| {
        b.iter(|| {
            // SAFETY: libc's malloc/free pair.
            build_and_destroy(unsafe { cymem_pool_new_with(Some(libc::malloc), Some(libc::free)) })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = capi_pair, capi_build_drop
}
criterion_main!(benches);
