//! The workloads of the performance issue, for this crate and its peers, in
//! one criterion run so that ratios are same-run. Run with `cargo bench`;
//! `cargo bench -- --test` only checks that every bench executes once.
//!
//! Every workload works on zeroed blocks of bytes (or u64s) and is measured
//! for: raw `libc::calloc`/`libc::free` (the baseline), `cymem::Pool`,
//! `slotmap::SlotMap<Box<[u8]>>`, `thunderdome::Arena<Box<[u8]>>`, and
//! `bumpalo::Bump` where it applies (it cannot free one block).
//!
//! The `rollback` group measures cymem alone: ending a zone of 10^5 blocks
//! by `rollback`, `clear` or one `free` per block, same-run
//! (`cargo bench --bench pool -- rollback`).

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use cymem::{Handle, Pool};

mod common;
use common::{config, mixed_ops, permutation, raw_calloc, raw_free, MixedOp};

const BLOCKS: usize = 1_000_000;
const BLOCK_BYTES: usize = 32;
const MIXED_OPS: usize = 2_000_000;
const MIXED_LIVE: usize = 100_000;
const GET_PASSES: usize = 10;
const GROW_BLOCKS: usize = 10_000;
const GROW_FROM: usize = 8;
const GROW_TO: usize = 64 * 1024;
const ZONE_BLOCKS: usize = 100_000;

/// Raw blocks with their frees, so that dropping them (outside the timed part
/// of `iter_batched`) does not leak.
struct RawBlocks(Vec<*mut u8>);

impl Drop for RawBlocks {
    fn drop(&mut self) {
        self.0.drain(..).for_each(raw_free);
    }
}

fn zeroed_box(bytes: usize) -> Box<[u8]> {
    vec![0u8; bytes].into_boxed_slice()
}

fn pair(c: &mut Criterion) {
    let mut group = c.benchmark_group("pair");
    group.throughput(Throughput::Elements(BLOCKS as u64));
    group.bench_function("raw", |b| {
        b.iter(|| {
            for _ in 0..BLOCKS {
                raw_free(black_box(raw_calloc(BLOCK_BYTES)));
            }
        })
    });
    group.bench_function("cymem", |b| {
        let mut pool = Pool::new();
        b.iter(|| {
            for _ in 0..BLOCKS {
                let h = black_box(pool.alloc::<u8>(BLOCK_BYTES).unwrap());
                pool.free(h).unwrap();
            }
        })
    });
    group.bench_function("slotmap", |b| {
        let mut map = slotmap::SlotMap::new();
        b.iter(|| {
            for _ in 0..BLOCKS {
                let key = black_box(map.insert(zeroed_box(BLOCK_BYTES)));
                map.remove(key);
            }
        })
    });
    group.bench_function("thunderdome", |b| {
        let mut arena = thunderdome::Arena::new();
        b.iter(|| {
            for _ in 0..BLOCKS {
                let index = black_box(arena.insert(zeroed_box(BLOCK_BYTES)));
                arena.remove(index);
            }
        })
    });
    group.finish();
}

fn fill_raw() -> RawBlocks {
    let mut blocks = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        blocks.push(raw_calloc(BLOCK_BYTES));
    }
    RawBlocks(blocks)
}

fn fill_cymem() -> (Pool, Vec<Handle<u8>>) {
    let mut pool = Pool::new();
    let mut handles = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        handles.push(pool.alloc::<u8>(BLOCK_BYTES).unwrap());
    }
    (pool, handles)
}

fn fill_slotmap() -> (
    slotmap::SlotMap<slotmap::DefaultKey, Box<[u8]>>,
    Vec<slotmap::DefaultKey>,
) {
    let mut map = slotmap::SlotMap::new();
    let mut keys = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        keys.push(map.insert(zeroed_box(BLOCK_BYTES)));
    }
    (map, keys)
}

fn fill_thunderdome() -> (thunderdome::Arena<Box<[u8]>>, Vec<thunderdome::Index>) {
    let mut arena = thunderdome::Arena::new();
    let mut keys = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        keys.push(arena.insert(zeroed_box(BLOCK_BYTES)));
    }
    (arena, keys)
}

fn fill_bumpalo() -> (bumpalo::Bump, Vec<*mut u8>) {
    let bump = bumpalo::Bump::new();
    let mut blocks = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        blocks.push(bump.alloc_slice_fill_copy(BLOCK_BYTES, 0u8).as_mut_ptr());
    }
    (bump, blocks)
}

fn fill(c: &mut Criterion) {
    let mut group = c.benchmark_group("fill");
    group.throughput(Throughput::Elements(BLOCKS as u64));
    // Outputs are dropped by criterion outside the timed part.
    group.bench_function("raw", |b| {
        b.iter_batched(|| (), |()| fill_raw(), BatchSize::PerIteration)
    });
    group.bench_function("cymem", |b| {
        b.iter_batched(|| (), |()| fill_cymem(), BatchSize::PerIteration)
    });
    group.bench_function("slotmap", |b| {
        b.iter_batched(|| (), |()| fill_slotmap(), BatchSize::PerIteration)
    });
    group.bench_function("thunderdome", |b| {
        b.iter_batched(|| (), |()| fill_thunderdome(), BatchSize::PerIteration)
    });
    group.bench_function("bumpalo", |b| {
        b.iter_batched(|| (), |()| fill_bumpalo(), BatchSize::PerIteration)
    });
    group.finish();
}

fn teardown(c: &mut Criterion) {
    let mut group = c.benchmark_group("teardown");
    group.throughput(Throughput::Elements(BLOCKS as u64));
    // The key vectors are the caller's, not the container's: kept out of the timing.
    group.bench_function("raw", |b| {
        b.iter_batched(fill_raw, drop, BatchSize::PerIteration)
    });
    group.bench_function("cymem", |b| {
        b.iter_batched(
            fill_cymem,
            |(pool, handles)| (drop(pool), handles).1,
            BatchSize::PerIteration,
        )
    });
    group.bench_function("slotmap", |b| {
        b.iter_batched(
            fill_slotmap,
            |(map, keys)| (drop(map), keys).1,
            BatchSize::PerIteration,
        )
    });
    group.bench_function("thunderdome", |b| {
        b.iter_batched(
            fill_thunderdome,
            |(arena, keys)| (drop(arena), keys).1,
            BatchSize::PerIteration,
        )
    });
    group.bench_function("bumpalo", |b| {
        b.iter_batched(
            fill_bumpalo,
            |(bump, blocks)| (drop(bump), blocks).1,
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// `GET_PASSES` passes over `order`, summing what `read` returns for each index.
fn sum_passes(order: &[usize], read: impl Fn(usize) -> u64) -> u64 {
    let mut sum = 0u64;
    for _ in 0..GET_PASSES {
        for &i in order {
            sum = sum.wrapping_add(read(i));
        }
    }
    sum
}

fn get(c: &mut Criterion) {
    let mut group = c.benchmark_group("get");
    group.throughput(Throughput::Elements((BLOCKS * GET_PASSES) as u64));
    let order = permutation(BLOCKS);
    // Each variant builds its blocks inside its closure, so that a filtered
    // run (`cargo bench -- get/raw`) builds only what it measures.
    group.bench_function("raw", |b| {
        let raw = RawBlocks(
            (0..BLOCKS)
                .map(|i| {
                    let ptr = raw_calloc(BLOCK_BYTES);
                    // SAFETY: a fresh 32-byte block, aligned for u64 by calloc.
                    unsafe { ptr.cast::<u64>().write(i as u64) };
                    ptr
                })
                .collect(),
        );
        // SAFETY: every pointer is live until `raw` drops.
        b.iter(|| black_box(sum_passes(&order, |i| unsafe { *raw.0[i].cast::<u64>() })))
    });
    group.bench_function("cymem", |b| {
        let mut pool = Pool::new();
        let handles: Vec<Handle<u64>> = (0..BLOCKS)
            .map(|i| pool.alloc_slice(&[i as u64, 0, 0, 0]).unwrap())
            .collect();
        b.iter(|| {
            black_box(sum_passes(&order, |i| {
                pool.get(handles[i]).map_or(0, |block| block[0])
            }))
        })
    });
    group.bench_function("slotmap", |b| {
        let mut map = slotmap::SlotMap::new();
        let keys: Vec<_> = (0..BLOCKS)
            .map(|i| map.insert(vec![i as u64, 0, 0, 0].into_boxed_slice()))
            .collect();
        b.iter(|| {
            black_box(sum_passes(&order, |i| {
                map.get(keys[i]).map_or(0, |block| block[0])
            }))
        })
    });
    group.bench_function("thunderdome", |b| {
        let mut arena = thunderdome::Arena::new();
        let keys: Vec<_> = (0..BLOCKS)
            .map(|i| arena.insert(vec![i as u64, 0, 0, 0].into_boxed_slice()))
            .collect();
        b.iter(|| {
            black_box(sum_passes(&order, |i| {
                arena.get(keys[i]).map_or(0, |block| block[0])
            }))
        })
    });
    group.finish();
}

/// Runs the mixed workload over any container: `alloc`, `free` and `update`
/// act on a live-key vector that all variants manage identically. An alloc
/// with `MIXED_LIVE` blocks live frees one instead, so the live set stays bounded.
fn run_mixed<K: Copy>(
    ops: &[MixedOp],
    mut alloc: impl FnMut(usize) -> K,
    mut free: impl FnMut(K),
    mut update: impl FnMut(K),
) {
    let mut live: Vec<K> = Vec::with_capacity(MIXED_LIVE);
    for &op in ops {
        match op {
            MixedOp::Alloc { bytes } if live.len() < MIXED_LIVE => live.push(alloc(bytes)),
            MixedOp::Alloc { bytes } => free(live.swap_remove(bytes % live.len())),
            MixedOp::Free { pick } if !live.is_empty() => free(live.swap_remove(pick % live.len())),
            MixedOp::Update { pick } if !live.is_empty() => update(live[pick % live.len()]),
            _ => {}
        }
    }
    live.into_iter().for_each(free);
}

fn mixed(c: &mut Criterion) {
    let mut group = c.benchmark_group("mixed");
    group.throughput(Throughput::Elements(MIXED_OPS as u64));
    let ops = mixed_ops(MIXED_OPS);
    group.bench_function("raw", |b| {
        b.iter(|| {
            run_mixed(
                &ops,
                raw_calloc,
                raw_free,
                // SAFETY: live blocks are at least 8 bytes.
                |ptr| unsafe { *ptr = ptr.read().wrapping_add(1) },
            )
        })
    });
    group.bench_function("cymem", |b| {
        let mut pool = Pool::new();
        b.iter(|| {
            let pool = std::cell::RefCell::new(&mut pool);
            run_mixed(
                &ops,
                |bytes| pool.borrow_mut().alloc::<u8>(bytes).unwrap(),
                |h| pool.borrow_mut().free(h).unwrap(),
                |h| {
                    let mut pool = pool.borrow_mut();
                    let block = &mut pool[h];
                    block[0] = block[0].wrapping_add(1);
                },
            )
        })
    });
    group.bench_function("slotmap", |b| {
        let mut map = slotmap::SlotMap::new();
        b.iter(|| {
            let map = std::cell::RefCell::new(&mut map);
            run_mixed(
                &ops,
                |bytes| map.borrow_mut().insert(zeroed_box(bytes)),
                |key| drop(map.borrow_mut().remove(key)),
                |key| {
                    let mut map = map.borrow_mut();
                    let block = &mut map[key];
                    block[0] = block[0].wrapping_add(1);
                },
            )
        })
    });
    group.bench_function("thunderdome", |b| {
        let mut arena = thunderdome::Arena::new();
        b.iter(|| {
            let arena = std::cell::RefCell::new(&mut arena);
            run_mixed(
                &ops,
                |bytes| arena.borrow_mut().insert(zeroed_box(bytes)),
                |key| drop(arena.borrow_mut().remove(key)),
                |key| {
                    let mut arena = arena.borrow_mut();
                    let block = &mut arena[key];
                    block[0] = block[0].wrapping_add(1);
                },
            )
        })
    });
    group.finish();
}

fn realloc_grow(c: &mut Criterion) {
    let mut group = c.benchmark_group("realloc_grow");
    group.throughput(Throughput::Elements(GROW_BLOCKS as u64));
    group.bench_function("raw", |b| {
        b.iter(|| {
            for _ in 0..GROW_BLOCKS {
                let mut ptr = raw_calloc(GROW_FROM);
                let mut len = GROW_FROM;
                while len < GROW_TO {
                    // SAFETY: `ptr` is a live block of `len` bytes; the new
                    // tail is zeroed before use.
                    unsafe {
                        ptr = libc::realloc(ptr.cast(), 2 * len).cast();
                        assert!(!ptr.is_null());
                        ptr.add(len).write_bytes(0, len);
                    }
                    len *= 2;
                }
                raw_free(black_box(ptr));
            }
        })
    });
    group.bench_function("cymem", |b| {
        let mut pool = Pool::new();
        b.iter(|| {
            for _ in 0..GROW_BLOCKS {
                let h = pool.alloc::<u8>(GROW_FROM).unwrap();
                let mut len = GROW_FROM;
                while len < GROW_TO {
                    len *= 2;
                    pool.realloc(h, len).unwrap();
                }
                pool.free(black_box(h)).unwrap();
            }
        })
    });
    group.bench_function("slotmap", |b| {
        let mut map = slotmap::SlotMap::new();
        b.iter(|| {
            for _ in 0..GROW_BLOCKS {
                let key = map.insert(vec![0u8; GROW_FROM]);
                let mut len = GROW_FROM;
                while len < GROW_TO {
                    len *= 2;
                    map[key].resize(len, 0);
                }
                black_box(map.remove(key));
            }
        })
    });
    group.finish();
}

/// Runs `iters` times: `fill` (untimed) makes a zone's worth of blocks in
/// `pool`, which is reused across iterations, then `end` (timed) ends it.
fn time_end<S>(
    pool: &mut Pool,
    iters: u64,
    mut fill: impl FnMut(&mut Pool) -> S,
    mut end: impl FnMut(&mut Pool, S),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let state = fill(pool);
        let start = Instant::now();
        end(pool, black_box(state));
        total += start.elapsed();
    }
    total
}

fn alloc_zone(pool: &mut Pool) -> Vec<Handle<u8>> {
    (0..ZONE_BLOCKS)
        .map(|_| pool.alloc::<u8>(BLOCK_BYTES).unwrap())
        .collect()
}

fn insert_zone(pool: &mut Pool) {
    for i in 0..ZONE_BLOCKS {
        pool.insert(format!("token {i}")).unwrap();
    }
}

/// Ending a zone of 10^5 blocks of 32 bytes: `rollback` to a mark (in an
/// otherwise empty pool, and in a pool whose 10^6 older blocks stay),
/// `clear`, and `free` of each block; then the same for 10^5 owned
/// `String`s, whose destructors run.
fn rollback(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollback");
    group.throughput(Throughput::Elements(ZONE_BLOCKS as u64));
    group.bench_function("rollback", |b| {
        let mut pool = Pool::new();
        b.iter_custom(|iters| {
            time_end(
                &mut pool,
                iters,
                |pool| {
                    let mark = pool.mark().unwrap();
                    alloc_zone(pool);
                    mark
                },
                |pool, mark| pool.rollback(mark).unwrap(),
            )
        })
    });
    group.bench_function("rollback_in_1m_pool", |b| {
        let (mut pool, _older) = fill_cymem();
        b.iter_custom(|iters| {
            time_end(
                &mut pool,
                iters,
                |pool| {
                    let mark = pool.mark().unwrap();
                    alloc_zone(pool);
                    mark
                },
                |pool, mark| pool.rollback(mark).unwrap(),
            )
        })
    });
    group.bench_function("clear", |b| {
        let mut pool = Pool::new();
        b.iter_custom(|iters| time_end(&mut pool, iters, alloc_zone, |pool, _| pool.clear()))
    });
    group.bench_function("free", |b| {
        let mut pool = Pool::new();
        b.iter_custom(|iters| {
            time_end(&mut pool, iters, alloc_zone, |pool, handles| {
                for h in handles {
                    pool.free(h).unwrap();
                }
            })
        })
    });
    group.bench_function("rollback_strings", |b| {
        let mut pool = Pool::new();
        b.iter_custom(|iters| {
            time_end(
                &mut pool,
                iters,
                |pool| {
                    let mark = pool.mark().unwrap();
                    insert_zone(pool);
                    mark
                },
                |pool, mark| pool.rollback(mark).unwrap(),
            )
        })
    });
    group.bench_function("clear_strings", |b| {
        let mut pool = Pool::new();
        b.iter_custom(|iters| time_end(&mut pool, iters, insert_zone, |pool, ()| pool.clear()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Each workload is tens of ms; few samples keep `cargo bench` near 3 minutes.
    config = config();
    targets = pair, fill, teardown, get, mixed, realloc_grow, rollback
}
criterion_main!(benches);
