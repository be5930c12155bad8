//! The workloads of issue 13 as a program meets them: each sample a fresh
//! process (empty heap, untouched pages), only the measured phase timed, for
//! raw `libc::calloc`/`free`/`realloc` (the baseline), `cymem::Pool` and
//! `slotmap::SlotMap<Box<[u8]>>`. Runner and output: `benches/common/fresh.rs`.
//!
//! `cargo bench --bench fresh` (11 samples per variant; `CYMEM_BENCH_SAMPLES`
//! sets more), `cargo bench --bench fresh -- get` for one workload,
//! `cargo bench --bench fresh -- --test` for the quick mode (1 sample, sizes
//! / 100, checksums still compared).
//!
//! | workload | measured phase |
//! |---|---|
//! | pair | alloc + free one 32 B block, 10^6 times |
//! | fill | 10^6 live 32 B blocks into a new pool, the first 8 bytes of each written |
//! | teardown | dropping that pool (raw: a free loop), same child as fill |
//! | get | 10^7 lookups (10 passes over a random permutation of 10^6 blocks of 32 B), summing byte 0; raw: pointer deref |
//! | mixed | 2x10^6 random alloc (8-256 B) / free / update, at most 10^5 live |
//! | realloc-lockstep | 10^4 blocks grown 8 B -> 64 KiB by doubling, all blocks per round (`grow`), then all freed (`free`) |
//! | realloc-sequential | the same, one block after another, each freed when grown |
//! | small-pools | 10^5 pools, each: new, three 64 B blocks written and read, dropped (raw: three calloc/free; slotmap: a map per pool) |
//!
//! In fill, every variant keeps the keys a user needs (pointers, 16-byte
//! handles, 8-byte keys) in a `Vec` made and touched before timing, so its
//! page faults are not counted. The raw realloc zeroes the grown tail, as
//! the pool does. slotmap grows its blocks as `Vec<u8>` with `resize` in the
//! realloc workloads (a boxed slice cannot grow in place).
//!
//! glibc's dynamic mmap threshold matters here: once a process frees an
//! mmapped block, blocks up to that size come from the heap instead (the
//! pool's slot table and chunks included, which then copy when they grow).
//! The children free nothing large before the measured phase; run with
//! `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432` to see the other
//! regime.

// Not a library: nothing here is public API.
#![allow(missing_docs)]

use std::hint::black_box;
use std::ptr::NonNull;

use cymem::{Handle, Pool};
use slotmap::{DefaultKey, SlotMap};

mod common;
use common::fresh::{self, Bench, Sample};
use common::{mixed_ops, permutation, raw_calloc, raw_free, MixedOp};

const BLOCK_BYTES: usize = 32;
const GROW_FROM: usize = 8;
const GROW_TO: usize = 64 * 1024;

/// Workload sizes; quick mode divides the counts by 100.
struct Sizes {
    blocks: usize,
    get_passes: usize,
    mixed_ops: usize,
    mixed_live: usize,
    grow_blocks: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        let d = if quick { 100 } else { 1 };
        Sizes {
            blocks: 1_000_000 / d,
            get_passes: 10,
            mixed_ops: 2_000_000 / d,
            mixed_live: 100_000 / d,
            grow_blocks: 10_000 / d,
        }
    }
}

/// A vector of `len` keys whose pages are already touched, then emptied.
/// (`resize` writes every element; `vec![null; len]` would come from
/// `calloc` and leave the pages untouched.)
fn touched_vec<K: Copy>(len: usize, fill: K) -> Vec<K> {
    let mut keys = Vec::with_capacity(len);
    keys.resize(len, fill);
    black_box(&mut keys);
    keys.clear();
    keys
}

fn zeroed_box(bytes: usize) -> Box<[u8]> {
    vec![0u8; bytes].into_boxed_slice()
}

/// A raw block as a byte slice.
///
/// # Safety
///
/// - `ptr` is a live block of at least `len` bytes, not otherwise referenced
///   while the slice lives.
unsafe fn raw_bytes<'a>(ptr: *mut u8, len: usize) -> &'a mut [u8] {
    // SAFETY: the caller promises a live, unaliased block of `len` bytes.
    unsafe { std::slice::from_raw_parts_mut(ptr, len) }
}

// ---------------------------------------------------------------- pair

fn pair(variant: &str, s: &Sizes, out: &mut Sample) {
    let mut check = 0u64;
    match variant {
        "raw" => out.time("pair", || {
            for i in 0..s.blocks {
                let ptr = black_box(raw_calloc(BLOCK_BYTES));
                // SAFETY: a fresh 32-byte block, freed below.
                let block = unsafe { raw_bytes(ptr, BLOCK_BYTES) };
                block[0] = i as u8;
                check += u64::from(block[0] + block[31]);
                raw_free(ptr);
            }
        }),
        "cymem" => out.time("pair", || {
            let mut pool = Pool::new();
            for i in 0..s.blocks {
                let h = black_box(pool.alloc::<u8>(BLOCK_BYTES).unwrap());
                let block = &mut pool[h];
                block[0] = i as u8;
                check += u64::from(block[0] + block[31]);
                pool.free(h).unwrap();
            }
        }),
        "slotmap" => out.time("pair", || {
            let mut map = SlotMap::new();
            for i in 0..s.blocks {
                let key = black_box(map.insert(zeroed_box(BLOCK_BYTES)));
                let block = &mut map[key];
                block[0] = i as u8;
                check += u64::from(block[0] + block[31]);
                map.remove(key);
            }
        }),
        _ => unreachable!(),
    }
    out.check = check;
}

// ---------------------------------------------------------------- small pools

/// Blocks per small pool, and their size: a document's few small structs.
const SMALL_POOL_BLOCKS: usize = 3;
const SMALL_BLOCK_BYTES: usize = 64;

fn small_pools(variant: &str, s: &Sizes, out: &mut Sample) {
    let pools = s.blocks / 10;
    let mut check = 0u64;
    match variant {
        "raw" => out.time("small-pools", || {
            for i in 0..pools {
                let ptrs = [(); SMALL_POOL_BLOCKS].map(|_| raw_calloc(SMALL_BLOCK_BYTES));
                for &ptr in &ptrs {
                    // SAFETY: a fresh 64-byte block, freed below.
                    let block = unsafe { raw_bytes(ptr, SMALL_BLOCK_BYTES) };
                    block[0] = i as u8;
                    check += u64::from(block[0] + block[63]);
                }
                ptrs.into_iter().for_each(raw_free);
            }
        }),
        "cymem" => out.time("small-pools", || {
            for i in 0..pools {
                let mut pool = Pool::new();
                for _ in 0..SMALL_POOL_BLOCKS {
                    let h = pool.alloc::<u8>(SMALL_BLOCK_BYTES).unwrap();
                    let block = &mut pool[h];
                    block[0] = i as u8;
                    check += u64::from(block[0] + block[63]);
                }
                black_box(&pool);
            }
        }),
        "slotmap" => out.time("small-pools", || {
            for i in 0..pools {
                let mut map = SlotMap::new();
                for _ in 0..SMALL_POOL_BLOCKS {
                    let key = map.insert(zeroed_box(SMALL_BLOCK_BYTES));
                    let block = &mut map[key];
                    block[0] = i as u8;
                    check += u64::from(block[0] + block[63]);
                }
                black_box(&map);
            }
        }),
        _ => unreachable!(),
    }
    out.check = check;
}

// ---------------------------------------------------------------- fill, teardown

/// Sums the first 8 bytes of every 997th block: the fill wrote `i` there.
fn spot_check(len: usize, read: impl Fn(usize) -> u64) -> u64 {
    (0..len).step_by(997).map(read).sum()
}

fn fill_teardown(variant: &str, s: &Sizes, out: &mut Sample) {
    let n = s.blocks;
    match variant {
        "raw" => {
            let mut ptrs = touched_vec(n, std::ptr::null_mut::<u8>());
            out.time("fill", || {
                for i in 0..n {
                    let ptr = raw_calloc(BLOCK_BYTES);
                    // SAFETY: a fresh 32-byte block, aligned for u64 by calloc.
                    unsafe { ptr.cast::<u64>().write(i as u64) };
                    ptrs.push(ptr);
                }
            });
            // SAFETY: every pointer is a live block written above.
            out.check = spot_check(n, |i| unsafe { ptrs[i].cast::<u64>().read() });
            out.time("teardown", || ptrs.iter().for_each(|&ptr| raw_free(ptr)));
        }
        "cymem" => {
            let mut handles = touched_vec(n, Handle::<u64>::NULL);
            let mut pool = Pool::new();
            out.time("fill", || {
                for i in 0..n {
                    let h = pool.alloc::<u64>(BLOCK_BYTES / 8).unwrap();
                    pool[h][0] = i as u64;
                    handles.push(h);
                }
            });
            out.check = spot_check(n, |i| pool[handles[i]][0]);
            out.time("teardown", || drop(black_box(pool)));
        }
        "slotmap" => {
            let mut keys = touched_vec(n, DefaultKey::default());
            let mut map = SlotMap::new();
            out.time("fill", || {
                for i in 0..n {
                    let key = map.insert(zeroed_box(BLOCK_BYTES));
                    map[key][..8].copy_from_slice(&(i as u64).to_ne_bytes());
                    keys.push(key);
                }
            });
            out.check = spot_check(n, |i| {
                u64::from_ne_bytes(map[keys[i]][..8].try_into().unwrap())
            });
            out.time("teardown", || drop(black_box(map)));
        }
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------- get

/// Sums what `read` returns (byte 0 of block `i`, which is `i as u8`) over
/// `passes` passes over `order`; generic, so `read` is inlined. Never
/// inlined itself, so that profiles show the measured loop by name.
#[inline(never)]
fn sum_passes(order: &[usize], passes: usize, read: impl Fn(usize) -> u8) -> u64 {
    let mut sum = 0u64;
    for _ in 0..passes {
        for &i in order {
            sum += u64::from(read(i));
        }
    }
    sum
}

fn get(variant: &str, s: &Sizes, out: &mut Sample) {
    let n = s.blocks;
    let order = permutation(n);
    out.check = match variant {
        "raw" => {
            let ptrs: Vec<*mut u8> = (0..n)
                .map(|i| {
                    let ptr = raw_calloc(BLOCK_BYTES);
                    // SAFETY: a fresh 32-byte block.
                    unsafe { ptr.write(i as u8) };
                    ptr
                })
                .collect();
            let ptrs = black_box(ptrs);
            let check = out.time("get", || {
                sum_passes(&order, s.get_passes, |i| {
                    // SAFETY: every pointer is live until the free loop below.
                    unsafe { *ptrs[i] }
                })
            });
            ptrs.into_iter().for_each(raw_free);
            check
        }
        "cymem" => {
            let mut pool = Pool::new();
            let handles: Vec<Handle<u8>> = (0..n)
                .map(|i| {
                    let h = pool.alloc::<u8>(BLOCK_BYTES).unwrap();
                    pool[h][0] = i as u8;
                    h
                })
                .collect();
            let handles = black_box(handles);
            out.time("get", || {
                sum_passes(&order, s.get_passes, |i| pool[handles[i]][0])
            })
        }
        "slotmap" => {
            let mut map = SlotMap::new();
            let keys: Vec<DefaultKey> = (0..n)
                .map(|i| {
                    let key = map.insert(zeroed_box(BLOCK_BYTES));
                    map[key][0] = i as u8;
                    key
                })
                .collect();
            let keys = black_box(keys);
            out.time("get", || {
                sum_passes(&order, s.get_passes, |i| map[keys[i]][0])
            })
        }
        _ => unreachable!(),
    };
}

// ---------------------------------------------------------------- mixed

/// Blocks under the mixed workload: alloc zeroed bytes, add 1 to byte 0,
/// free returning byte 0.
trait Blocks {
    type Key: Copy;
    fn alloc(&mut self, bytes: usize) -> Self::Key;
    fn update(&mut self, key: Self::Key);
    fn free(&mut self, key: Self::Key) -> u8;
}

struct RawBlocks;

impl Blocks for RawBlocks {
    type Key = *mut u8;
    fn alloc(&mut self, bytes: usize) -> *mut u8 {
        raw_calloc(bytes)
    }
    fn update(&mut self, ptr: *mut u8) {
        // SAFETY: `run_mixed` passes only live blocks (of at least 8 bytes).
        unsafe { *ptr = (*ptr).wrapping_add(1) }
    }
    fn free(&mut self, ptr: *mut u8) -> u8 {
        // SAFETY: as in `update`; the block is freed right after.
        let first = unsafe { *ptr };
        raw_free(ptr);
        first
    }
}

impl Blocks for Pool {
    type Key = Handle<u8>;
    fn alloc(&mut self, bytes: usize) -> Handle<u8> {
        Pool::alloc(self, bytes).unwrap()
    }
    fn update(&mut self, h: Handle<u8>) {
        let block = &mut self[h];
        block[0] = block[0].wrapping_add(1);
    }
    fn free(&mut self, h: Handle<u8>) -> u8 {
        let first = self[h][0];
        Pool::free(self, h).unwrap();
        first
    }
}

impl Blocks for SlotMap<DefaultKey, Box<[u8]>> {
    type Key = DefaultKey;
    fn alloc(&mut self, bytes: usize) -> DefaultKey {
        self.insert(zeroed_box(bytes))
    }
    fn update(&mut self, key: DefaultKey) {
        let block = &mut self[key];
        block[0] = block[0].wrapping_add(1);
    }
    fn free(&mut self, key: DefaultKey) -> u8 {
        self.remove(key).unwrap()[0]
    }
}

/// An alloc with `max_live` blocks live frees one instead, so the live set
/// stays bounded; all variants manage the live-key vector identically.
fn run_mixed<B: Blocks>(blocks: &mut B, ops: &[MixedOp], max_live: usize) -> u64 {
    let mut live: Vec<B::Key> = Vec::with_capacity(max_live);
    let mut check = 0u64;
    for &op in ops {
        match op {
            MixedOp::Alloc { bytes } if live.len() < max_live => live.push(blocks.alloc(bytes)),
            MixedOp::Alloc { bytes } => {
                check += u64::from(blocks.free(live.swap_remove(bytes % live.len())))
            }
            MixedOp::Free { pick } if !live.is_empty() => {
                check += u64::from(blocks.free(live.swap_remove(pick % live.len())))
            }
            MixedOp::Update { pick } if !live.is_empty() => blocks.update(live[pick % live.len()]),
            _ => {}
        }
    }
    for key in live {
        check += u64::from(blocks.free(key));
    }
    check
}

fn mixed(variant: &str, s: &Sizes, out: &mut Sample) {
    let ops = mixed_ops(s.mixed_ops);
    let live = s.mixed_live;
    out.check = match variant {
        "raw" => out.time("mixed", || run_mixed(&mut RawBlocks, &ops, live)),
        "cymem" => out.time("mixed", || run_mixed(&mut Pool::new(), &ops, live)),
        "slotmap" => out.time("mixed", || run_mixed(&mut SlotMap::new(), &ops, live)),
        _ => unreachable!(),
    };
}

// ---------------------------------------------------------------- realloc

/// Growable zeroed byte blocks.
trait Growable {
    type Key: Copy;
    fn alloc(&mut self, bytes: usize) -> Self::Key;
    /// Grows `key` from `len` to `2 * len` bytes (zeroed tail), then returns
    /// byte `len - 1` (written by the last round) plus byte `len` (zero) and
    /// writes 1 to the new last byte.
    fn grow(&mut self, key: &mut Self::Key, len: usize) -> u64;
    fn free(&mut self, key: Self::Key);
}

struct RawGrow;

impl Growable for RawGrow {
    type Key = NonNull<u8>;
    fn alloc(&mut self, bytes: usize) -> NonNull<u8> {
        NonNull::new(raw_calloc(bytes)).unwrap()
    }
    fn grow(&mut self, ptr: &mut NonNull<u8>, len: usize) -> u64 {
        // SAFETY: `ptr` is a live block of `len` bytes (from calloc or the
        // last round), replaced by the result; null is checked.
        let grown = unsafe { libc::realloc(ptr.as_ptr().cast(), 2 * len) };
        *ptr = NonNull::new(grown.cast()).expect("realloc failed");
        // SAFETY: the block now has `2 * len` bytes, its tail not yet zeroed.
        let block = unsafe { raw_bytes(ptr.as_ptr(), 2 * len) };
        block[len..].fill(0);
        let seen = u64::from(block[len - 1]) + u64::from(block[len]);
        block[2 * len - 1] = 1;
        seen
    }
    fn free(&mut self, ptr: NonNull<u8>) {
        raw_free(ptr.as_ptr())
    }
}

impl Growable for Pool {
    type Key = Handle<u8>;
    fn alloc(&mut self, bytes: usize) -> Handle<u8> {
        Pool::alloc(self, bytes).unwrap()
    }
    fn grow(&mut self, h: &mut Handle<u8>, len: usize) -> u64 {
        self.realloc(*h, 2 * len).unwrap();
        let block = &mut self[*h];
        let seen = u64::from(block[len - 1]) + u64::from(block[len]);
        block[2 * len - 1] = 1;
        seen
    }
    fn free(&mut self, h: Handle<u8>) {
        Pool::free(self, h).unwrap()
    }
}

impl Growable for SlotMap<DefaultKey, Vec<u8>> {
    type Key = DefaultKey;
    fn alloc(&mut self, bytes: usize) -> DefaultKey {
        self.insert(vec![0; bytes])
    }
    fn grow(&mut self, key: &mut DefaultKey, len: usize) -> u64 {
        let block = &mut self[*key];
        block.resize(2 * len, 0);
        let seen = u64::from(block[len - 1]) + u64::from(block[len]);
        block[2 * len - 1] = 1;
        seen
    }
    fn free(&mut self, key: DefaultKey) {
        drop(self.remove(key))
    }
}

fn lockstep<G: Growable>(mut blocks: G, n: usize, out: &mut Sample) -> u64 {
    let mut keys = Vec::with_capacity(n);
    let check = out.time("grow", || {
        keys.extend((0..n).map(|_| blocks.alloc(GROW_FROM)));
        let mut check = 0;
        let mut len = GROW_FROM;
        while len < GROW_TO {
            for key in &mut keys {
                check += blocks.grow(key, len);
            }
            len *= 2;
        }
        check
    });
    out.time("free", || {
        keys.iter().for_each(|&key| blocks.free(key));
        drop(black_box(blocks));
    });
    check
}

fn sequential<G: Growable>(mut blocks: G, n: usize, out: &mut Sample) -> u64 {
    out.time("grow+free", || {
        let mut check = 0;
        for _ in 0..n {
            let mut key = blocks.alloc(GROW_FROM);
            let mut len = GROW_FROM;
            while len < GROW_TO {
                check += blocks.grow(&mut key, len);
                len *= 2;
            }
            blocks.free(black_box(key));
        }
        drop(black_box(blocks));
        check
    })
}

fn realloc(variant: &str, lockstep_order: bool, s: &Sizes, out: &mut Sample) {
    let n = s.grow_blocks;
    out.check = match (variant, lockstep_order) {
        ("raw", true) => lockstep(RawGrow, n, out),
        ("cymem", true) => lockstep(Pool::new(), n, out),
        ("slotmap", true) => lockstep(SlotMap::new(), n, out),
        ("raw", false) => sequential(RawGrow, n, out),
        ("cymem", false) => sequential(Pool::new(), n, out),
        ("slotmap", false) => sequential(SlotMap::new(), n, out),
        _ => unreachable!(),
    };
}

fn run(workload: &str, variant: &str, quick: bool) -> Sample {
    let sizes = Sizes::new(quick);
    let mut out = Sample::new();
    match workload {
        "pair" => pair(variant, &sizes, &mut out),
        "fill+teardown" => fill_teardown(variant, &sizes, &mut out),
        "get" => get(variant, &sizes, &mut out),
        "mixed" => mixed(variant, &sizes, &mut out),
        "realloc-lockstep" => realloc(variant, true, &sizes, &mut out),
        "realloc-sequential" => realloc(variant, false, &sizes, &mut out),
        "small-pools" => small_pools(variant, &sizes, &mut out),
        other => panic!("unknown workload {other}"),
    }
    out
}

fn main() {
    fresh::main(Bench {
        title: "fresh-process workloads of issue 13 (medians; ratios to raw libc)",
        workloads: &[
            "pair",
            "fill+teardown",
            "get",
            "mixed",
            "realloc-lockstep",
            "realloc-sequential",
            "small-pools",
        ],
        variants: &["raw", "cymem", "slotmap"],
        run,
    });
}
