//! A long-running server loop in the shape of spaCy's: a vocabulary that
//! lives as long as the process, and per request a document whose strings,
//! token arrays and scratch buffers live only for that request. Each request
//! runs in `pool.zone`, so everything it allocated is freed when it ends
//! and the process's memory stays flat however many requests it serves.
//!
//! Prints the resident set size (VmRSS from /proc/self/status) at a few
//! points, and asserts that it stops growing after the first requests.
//!
//! Run with `cargo run --release --example request_loop [REQUESTS]`.

use cymem::{Handle, Pool, PoolError};

/// One interned token of a request: its text and its id in the vocabulary.
#[derive(Clone, Copy, Default, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
struct Token {
    vocab_id: u64,
    text: Handle<u8>,
}

const VOCAB: usize = 5_000;
const CHECKPOINTS: usize = 5;
/// Allowed RSS growth after the warm-up requests.
const MAX_GROWTH_KIB: u64 = 4 * 1024;

/// VmRSS in KiB, or 0 where /proc is unavailable.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A deterministic "document": 20 to 120 words drawn from a small language.
fn document(request: usize) -> String {
    let mut state = request as u64 * 2_654_435_761 + 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let words = 20 + next() % 100;
    (0..words)
        .map(|_| format!("w{}", next() % (VOCAB as u64 * 2)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Serves one request inside the current zone: interns its text, tokenises
/// it into pool blocks, counts words known to the vocabulary.
fn serve(pool: &mut Pool, vocab: Handle<u32>, text: String) -> Result<usize, PoolError> {
    let text = pool.insert(text)?; // the request's own copy, freed with the zone
    let words: Vec<String> = pool[text][0].split(' ').map(str::to_owned).collect();
    let tokens = pool.alloc::<Token>(words.len())?;
    let mut known = 0;
    for (i, word) in words.iter().enumerate() {
        let bytes = pool.alloc_slice(word.as_bytes())?;
        let id: u64 = word[1..].parse().unwrap_or(u64::MAX);
        if id < VOCAB as u64 {
            pool[vocab][id as usize] += 1;
            known += 1;
        }
        pool[tokens][i] = Token {
            vocab_id: id,
            text: bytes,
        };
    }
    // Scratch that grows while the request is served.
    let scratch = pool.alloc::<u64>(16)?;
    pool.realloc(scratch, 4096)?;
    assert_eq!(pool[pool[tokens][0].text], *words[0].as_bytes());
    Ok(known)
}

fn main() -> Result<(), PoolError> {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(200_000);
    let mut pool = Pool::new();
    let vocab = pool.alloc::<u32>(VOCAB)?; // lives as long as the pool
    let mut known = 0;
    let mut figures = Vec::new();
    println!(
        "{:>10} {:>10} {:>12}",
        "requests", "VmRSS KiB", "live blocks"
    );
    for request in 0..requests {
        known += pool.zone(|pool| serve(pool, vocab, document(request)))??;
        if request == requests / 10 || (request + 1) % (requests / CHECKPOINTS).max(1) == 0 {
            let rss = rss_kib();
            println!("{:>10} {:>10} {:>12}", request + 1, rss, pool.len());
            figures.push(rss);
        }
    }
    assert_eq!(pool.len(), 1, "only the vocabulary outlives the requests");
    let counted: u64 = pool[vocab].iter().map(|&n| u64::from(n)).sum();
    assert_eq!(counted, known as u64);
    println!("{known} known words counted over {requests} requests");
    // The first checkpoint is after a tenth of the requests (warmed up).
    let first = figures.first().copied().unwrap_or(0);
    let peak = figures.iter().copied().max().unwrap_or(0);
    println!("RSS after warm-up {first} KiB, peak {peak} KiB");
    assert!(
        peak <= first + MAX_GROWTH_KIB,
        "RSS grew from {first} KiB to {peak} KiB"
    );
    Ok(())
}
