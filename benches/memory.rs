//! Peak resident memory per live block: 10^6 live zeroed 32-byte blocks, for
//! this crate and its peers, each measured in a fresh child process (peak RSS
//! from `/proc/self/status`, `VmHWM`, minus the peak before allocating).
//!
//! Run with `cargo bench --bench memory`; prints a table. Every variant keeps
//! what a user needs to reach and free the blocks: the raw baseline a `Vec` of
//! pointers, the pool a `Vec` of handles (also shown without it: the pool's
//! own cost), slotmap a `Vec` of keys.

// Not a library: nothing here is public API.
#![allow(missing_docs)]

use std::hint::black_box;
use std::process::Command;

const BLOCKS: usize = 1_000_000;
const BLOCK_BYTES: usize = 32;
const VARIANTS: &[&str] = &[
    "raw",
    "cymem",
    "cymem-without-handles",
    "slotmap",
    "bumpalo",
];

fn peak_rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("VmHWM value");
    kib * 1024
}

/// Allocates the blocks of one variant and returns the peak RSS growth.
fn measure(variant: &str) -> usize {
    let before = peak_rss_bytes();
    match variant {
        "raw" => {
            let mut blocks = Vec::with_capacity(BLOCKS);
            for _ in 0..BLOCKS {
                // SAFETY: calloc has no preconditions; checked for null below.
                let ptr = unsafe { libc::calloc(1, BLOCK_BYTES) };
                assert!(!ptr.is_null());
                blocks.push(ptr);
            }
            let peak = peak_rss_bytes();
            // SAFETY: each pointer came from calloc and is freed once.
            blocks
                .into_iter()
                .for_each(|ptr| unsafe { libc::free(ptr) });
            peak - before
        }
        "cymem" | "cymem-without-handles" => {
            let mut pool = cymem::Pool::new();
            let mut handles = Vec::with_capacity(if variant == "cymem" { BLOCKS } else { 0 });
            for _ in 0..BLOCKS {
                let h = pool.alloc::<u8>(BLOCK_BYTES).expect("alloc");
                if variant == "cymem" {
                    handles.push(h);
                } else {
                    black_box(h);
                }
            }
            assert_eq!(pool.len(), BLOCKS);
            peak_rss_bytes() - before
        }
        "slotmap" => {
            let mut map = slotmap::SlotMap::new();
            let mut keys = Vec::with_capacity(BLOCKS);
            for _ in 0..BLOCKS {
                keys.push(map.insert(vec![0u8; BLOCK_BYTES].into_boxed_slice()));
            }
            black_box(&keys);
            peak_rss_bytes() - before
        }
        "bumpalo" => {
            let bump = bumpalo::Bump::new();
            let mut blocks = Vec::with_capacity(BLOCKS);
            for _ in 0..BLOCKS {
                blocks.push(bump.alloc_slice_fill_copy(BLOCK_BYTES, 0u8).as_mut_ptr());
            }
            black_box(&blocks);
            peak_rss_bytes() - before
        }
        other => panic!("unknown variant {other}"),
    }
}

fn main() {
    if let Ok(variant) = std::env::var("CYMEM_MEMORY_VARIANT") {
        println!("{}", measure(&variant));
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut rows = Vec::new();
    for variant in VARIANTS {
        let out = Command::new(&exe)
            .env("CYMEM_MEMORY_VARIANT", variant)
            .output()
            .expect("spawn");
        assert!(
            out.status.success(),
            "{variant} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes: usize = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("bytes");
        rows.push((*variant, bytes));
    }
    let raw = rows[0].1 as f64;
    println!("peak RSS growth for {BLOCKS} live {BLOCK_BYTES}-byte zeroed blocks");
    println!("| variant | MiB | bytes/block | ratio to raw |");
    println!("|---|---|---|---|");
    for (variant, bytes) in rows {
        println!(
            "| {variant} | {:.1} | {:.1} | {:.2} |",
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / BLOCKS as f64,
            bytes as f64 / raw
        );
    }
}
