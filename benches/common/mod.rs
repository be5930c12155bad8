//! What the benches share: the raw `calloc`/`free` baseline, the criterion
//! settings, a deterministic generator, and the fresh-process runner
//! (`fresh.rs`).
#![allow(dead_code)]

use std::time::Duration;

use criterion::Criterion;

pub mod fresh;

pub fn raw_calloc(bytes: usize) -> *mut u8 {
    // SAFETY: calloc has no preconditions; null is checked below.
    let ptr = unsafe { libc::calloc(1, bytes) }.cast::<u8>();
    assert!(!ptr.is_null(), "calloc failed");
    ptr
}

pub fn raw_free(ptr: *mut u8) {
    // SAFETY: every pointer passed here came from `raw_calloc`/`libc::realloc`
    // and is freed once.
    unsafe { libc::free(ptr.cast()) }
}

/// Each workload is a few to tens of ms; few samples keep a bench file to a
/// few minutes.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

/// A small deterministic generator, so every variant sees the same sequence.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// `0..len` in a random order, the same in every run and variant.
pub fn permutation(len: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng = Lcg(7);
    for i in (1..len).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
}

/// One step of the mixed workload: what to do and the random numbers it uses.
#[derive(Clone, Copy)]
pub enum MixedOp {
    Alloc { bytes: usize },
    Free { pick: usize },
    Update { pick: usize },
}

/// `len` steps of the mixed workload (50 % alloc of 8-256 B, 30 % free,
/// 20 % update), the same in every run and variant.
pub fn mixed_ops(len: usize) -> Vec<MixedOp> {
    let mut rng = Lcg(42);
    (0..len)
        .map(|_| match rng.below(10) {
            0..=4 => MixedOp::Alloc {
                bytes: 8 + rng.below(249),
            },
            5..=7 => MixedOp::Free {
                pick: rng.next() as usize,
            },
            _ => MixedOp::Update {
                pick: rng.next() as usize,
            },
        })
        .collect()
}
