//! A spaCy-like client of a memory pool, written once against the small
//! [`Store`] trait (`benches/client/store.rs`) and run for raw libc pointers
//! (the client frees every block itself), `cymem::Pool` with typed handles,
//! and `slotmap` keys; each sample a fresh process (runner:
//! `benches/common/fresh.rs`), per-phase medians and ratios to raw printed.
//! All variants must compute the same checksum.
//!
//! `cargo bench --bench client`; `cargo bench --bench client -- --test` is
//! the quick mode (sizes / 20, one sample per variant).
//!
//! # Shape, sizes and distributions (full mode)
//!
//! - **Corpus**: 2x10^4 documents of 10 + U[0, 40) tokens, plus U[0, 300)
//!   more for one document in 8 (mean ~49, ~10^6 tokens). Each token is a
//!   word drawn from a Zipf distribution (exponent 1) over 150,000 ranks,
//!   which gives ~10^5 distinct words (printed under the table). The word of
//!   rank `r` is `1 + log2(r + 1) / 2 + U[0, 5)` random lowercase letters
//!   (20 more for one rank in 101), so frequent words are short; about 70 %
//!   of the tokens are inline strings (<= 8 bytes).
//!   Generated before timing, as are the words' hashes for the later phases.
//! - **interning**: every corpus token is hashed (FNV-1a, mixed) and interned
//!   in a string store: a map (`OpenMap`, 32-byte cells `[hash, len, data]`)
//!   whose entry holds a string of <= 8 bytes inline, a longer one as the
//!   key of its own byte block (spaCy's `Utf8Str`). One store for both.
//! - **lookups by hash**: 10^6 lookups of corpus words by hash (in a strided
//!   order), each reading the string's first and last byte.
//! - **lexemes**: one 80-byte `Lexeme` per distinct word, in first-seen
//!   order, its attributes computed from the string (read through the string
//!   store), found through a vocabulary map (24-byte cells `[orth, key]`).
//! - **documents**: each document gets its OWN store (raw: the document frees
//!   its token array itself) and a token array of 120-byte `Token`s with 5
//!   tokens of padding on each side, allocated for 20 tokens and grown by
//!   `realloc` to `2n + 10` when full (spaCy's `Doc.push_back`). Every pushed
//!   token costs 4 lookups: the vocabulary table, its lexeme, the token
//!   array, and the previous token's lexeme through the key stored in the
//!   previous token; then the document is read once (the array, and each
//!   token's lexeme) and dropped.
//! - **map inserts / map lookups**: a preshed-like `u64 -> u64` map (16-byte
//!   cells, starting at 8 cells, doubled at 60 % full) gets 2x10^6 inserts of
//!   hashed keys, then 2x10^6 lookups, one in four of an absent key.
//! - **teardown**: the string store, vocabulary and map are dropped; the raw
//!   client walks its tables and frees every block.
//!
//! Stores: spaCy's `StringStore`, `Vocab` and each `PreshMap` and `Doc` own
//! a `cymem.Pool`; here each owns one store.

// Not a library: nothing here is public API.
#![allow(missing_docs)]

use std::hint::black_box;

use bytemuck::{Pod, Zeroable};
use cymem::Pool;

mod common;
use common::fresh::{self, Bench, Sample};
use common::Lcg;

#[path = "client/map.rs"]
mod map;
#[path = "client/store.rs"]
mod store;
use map::OpenMap;
use store::{Raw, Slots, Store};

struct Sizes {
    docs: usize,
    ranks: usize,
    lookups: usize,
    map_ops: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        let d = if quick { 20 } else { 1 };
        Sizes {
            docs: 20_000 / d,
            ranks: 150_000 / d,
            lookups: 1_000_000 / d,
            map_ops: 2_000_000 / d,
        }
    }
}

const INLINE: usize = 8;
const PADDING: usize = 5;
const FIRST_TOKENS: usize = 20;

fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A string's hash: FNV-1a, mixed; never 0 or 1 (empty-cell keys).
fn hash(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    mix(h).max(2)
}

/// What the workload runs on, made before timing.
struct Corpus {
    /// All words' bytes, concatenated; word `r` is `text[spans[r].0..spans[r].1]`.
    text: Vec<u8>,
    spans: Vec<(u32, u32)>,
    /// The hash of each rank's word.
    hashes: Vec<u64>,
    /// Each document's tokens, as ranks.
    tokens: Vec<u32>,
    doc_ends: Vec<usize>,
}

impl Corpus {
    fn new(s: &Sizes) -> Self {
        let mut text = Vec::new();
        let mut spans = Vec::with_capacity(s.ranks);
        for rank in 0..s.ranks as u64 {
            let mut h = mix(rank + 1);
            let mut len = 1 + (rank + 1).ilog2() as usize / 2 + (h % 5) as usize;
            if h.is_multiple_of(101) {
                len += 20;
            }
            let start = text.len() as u32;
            for _ in 0..len {
                h = mix(h);
                text.push(b'a' + (h % 26) as u8);
            }
            spans.push((start, text.len() as u32));
        }
        let hashes = spans
            .iter()
            .map(|&(a, b)| hash(&text[a as usize..b as usize]))
            .collect();
        let mut cdf = Vec::with_capacity(s.ranks);
        let mut total = 0.0;
        for rank in 0..s.ranks {
            total += 1.0 / (rank + 1) as f64;
            cdf.push(total);
        }
        let mut rng = Lcg(2026);
        let mut tokens = Vec::new();
        let mut doc_ends = Vec::with_capacity(s.docs);
        for _ in 0..s.docs {
            let mut len = 10 + rng.below(40);
            if rng.below(8) == 0 {
                len += rng.below(300);
            }
            for _ in 0..len {
                let u = rng.next() as f64 / (1u64 << 31) as f64 * total;
                let rank = cdf.partition_point(|&c| c < u).min(s.ranks - 1);
                tokens.push(rank as u32);
            }
            doc_ends.push(tokens.len());
        }
        Corpus {
            text,
            spans,
            hashes,
            tokens,
            doc_ends,
        }
    }

    fn word(&self, rank: u32) -> &[u8] {
        let (a, b) = self.spans[rank as usize];
        &self.text[a as usize..b as usize]
    }
}

/// spaCy's `LexemeC`, 80 bytes.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Lexeme {
    flags: u64,
    id: u32,
    length: u32,
    orth: u64,
    lower: u64,
    norm: u64,
    shape: u64,
    prefix: u64,
    suffix: u64,
    cluster: u64,
    prob: u64,
}

/// spaCy's `TokenC`, 120 bytes; `lex` is the lexeme's key.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Token {
    lex: [u64; 2],
    idx: u64,
    i: u32,
    spacy: u32,
    norm: u64,
    lemma: u64,
    tag: u64,
    pos: u64,
    dep: u64,
    head: i64,
    ent_type: u64,
    ent_id: u64,
    l_kids: u32,
    r_kids: u32,
    l_edge: u32,
    r_edge: u32,
    sent_start: i32,
    ent_iob: u32,
}

const _: () = assert!(size_of::<Lexeme>() == 80 && size_of::<Token>() == 120);

/// spaCy's `StringStore`: hash -> `[hash, len, data0, data1]`, the data
/// either the bytes (<= 8) or the key of the string's own block.
struct Strings<S: Store> {
    store: S,
    map: OpenMap<S, 4>,
}

impl<S: Store> Strings<S> {
    fn new() -> Self {
        let mut store = S::new();
        let map = OpenMap::new(&mut store, 8);
        Strings { store, map }
    }

    /// Interns `bytes`; returns its hash and whether it was new.
    fn intern(&mut self, bytes: &[u8]) -> (u64, bool) {
        let h = hash(bytes);
        if self.map.get(&self.store, h).is_some() {
            return (h, false);
        }
        let data = if bytes.len() <= INLINE {
            let mut inline = [0u8; 8];
            inline[..bytes.len()].copy_from_slice(bytes);
            [u64::from_ne_bytes(inline), 0]
        } else {
            let key = self.store.alloc::<u8>(bytes.len());
            self.store.get_mut(key, bytes.len()).copy_from_slice(bytes);
            S::to_bits(key)
        };
        let entry = [h, bytes.len() as u64, data[0], data[1]];
        self.map.insert(&mut self.store, entry);
        (h, true)
    }

    /// Calls `f` with the bytes of the string of hash `h`.
    #[inline]
    fn read<R>(&self, h: u64, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let [_, len, d0, d1] = self.map.get(&self.store, h)?;
        let len = len as usize;
        Some(if len <= INLINE {
            f(&d0.to_ne_bytes()[..len])
        } else {
            f(self.store.get(S::from_bits::<u8>([d0, d1]), len))
        })
    }

    fn teardown(self) {
        let Strings { mut store, map } = self;
        if !S::DROP_FREES {
            for i in 0..map.capacity() {
                let [h, len, d0, d1] = map.cell(&store, i);
                if h != 0 && len as usize > INLINE {
                    store.free(S::from_bits::<u8>([d0, d1]), len as usize);
                }
            }
            map.free(&mut store);
        }
        drop(store);
    }
}

/// spaCy's `Vocab`: orth -> the key of its `Lexeme`.
struct Vocab<S: Store> {
    store: S,
    map: OpenMap<S, 3>,
}

impl<S: Store> Vocab<S> {
    fn new() -> Self {
        let mut store = S::new();
        let map = OpenMap::new(&mut store, 8);
        Vocab { store, map }
    }

    /// Makes the lexeme of a new string; its attributes come from the string.
    fn add(&mut self, orth: u64, bytes: &[u8]) {
        let n = bytes.len();
        let lex = Lexeme {
            flags: u64::from(n > 3) | u64::from(bytes[0] < b'n') << 1,
            id: self.map.len() as u32,
            length: n as u32,
            orth,
            lower: orth,
            norm: orth ^ 1,
            shape: hash(&bytes[..n.min(4)]),
            prefix: hash(&bytes[..1]),
            suffix: hash(&bytes[n.saturating_sub(3)..]),
            cluster: orth % 1000,
            prob: orth >> 40,
        };
        let key = self.store.alloc::<Lexeme>(1);
        self.store.get_mut(key, 1)[0] = lex;
        let [k0, k1] = S::to_bits(key);
        self.map.insert(&mut self.store, [orth, k0, k1]);
    }

    #[inline]
    fn lexeme_key(&self, orth: u64) -> S::Key<Lexeme> {
        let [_, k0, k1] = self.map.get(&self.store, orth).expect("known word");
        S::from_bits([k0, k1])
    }

    #[inline]
    fn lexeme(&self, key: S::Key<Lexeme>) -> &Lexeme {
        &self.store.get(key, 1)[0]
    }

    fn teardown(self) {
        let Vocab { mut store, map } = self;
        if !S::DROP_FREES {
            for i in 0..map.capacity() {
                let [orth, k0, k1] = map.cell(&store, i);
                if orth != 0 {
                    store.free(S::from_bits::<Lexeme>([k0, k1]), 1);
                }
            }
            map.free(&mut store);
        }
        drop(store);
    }
}

/// One document: built token by token in its own store, read once, dropped.
/// Never inlined, so that profiles count instructions per document.
#[inline(never)]
fn document<S: Store>(vocab: &Vocab<S>, hashes: impl Iterator<Item = u64>) -> u64 {
    let mut store = S::new();
    let mut max_length = FIRST_TOKENS;
    let mut tokens = store.alloc::<Token>(max_length + 2 * PADDING);
    let mut length = 0;
    let mut offset = 0u64;
    for orth in hashes {
        let lex_key = vocab.lexeme_key(orth);
        let lex = *vocab.lexeme(lex_key);
        if length == max_length {
            let new_length = 2 * max_length;
            store.realloc(
                &mut tokens,
                max_length + 2 * PADDING,
                new_length + 2 * PADDING,
            );
            max_length = new_length;
        }
        let array = store.get_mut(tokens, max_length + 2 * PADDING);
        let at = PADDING + length;
        let mut token = Token {
            lex: S::to_bits(lex_key),
            idx: offset,
            i: length as u32,
            spacy: 1,
            norm: lex.norm,
            ..Token::zeroed()
        };
        if length > 0 {
            let prev = vocab.lexeme(S::from_bits(array[at - 1].lex));
            token.lemma = prev.suffix ^ lex.prefix;
            token.sent_start = i32::from(prev.flags & 1 == 0);
        }
        array[at] = token;
        offset += u64::from(lex.length) + 1;
        length += 1;
    }
    let mut check = 0u64;
    for token in &store.get(tokens, max_length + 2 * PADDING)[PADDING..PADDING + length] {
        let lex = vocab.lexeme(S::from_bits(token.lex));
        check = check.wrapping_add(lex.orth ^ token.idx ^ token.lemma);
    }
    if !S::DROP_FREES {
        store.free(tokens, max_length + 2 * PADDING);
    }
    drop(black_box(store));
    check
}

fn map_key(i: usize) -> u64 {
    mix(i as u64 + 7).max(2)
}

fn client<S: Store>(s: &Sizes, out: &mut Sample) {
    let corpus = Corpus::new(s);
    let tokens = &corpus.tokens;
    let mut check = 0u64;

    let mut strings = Strings::<S>::new();
    let seen = out.time("interning", || {
        let mut seen = Vec::new();
        for &rank in tokens {
            if strings.intern(corpus.word(rank)).1 {
                seen.push(rank);
            }
        }
        seen
    });
    check = check.wrapping_add(seen.len() as u64);

    check = check.wrapping_add(out.time("lookups by hash", || {
        let mut sum = 0u64;
        for j in 0..s.lookups {
            let rank = tokens[j * 7919 % tokens.len()];
            let h = corpus.hashes[rank as usize];
            sum += strings
                .read(h, |b| u64::from(b[0]) + u64::from(b[b.len() - 1]))
                .expect("interned");
        }
        sum
    }));

    let mut vocab = Vocab::<S>::new();
    out.time("lexemes", || {
        for &rank in &seen {
            let h = corpus.hashes[rank as usize];
            // The string is read through the store, as spaCy's lexeme
            // constructor reads it; copied out to keep the borrows apart.
            let mut word = [0u8; 64];
            let n = strings
                .read(h, |b| {
                    word[..b.len()].copy_from_slice(b);
                    b.len()
                })
                .expect("interned");
            vocab.add(h, &word[..n]);
        }
    });

    check = check.wrapping_add(out.time("documents", || {
        let mut sum = 0u64;
        let mut start = 0;
        for &end in &corpus.doc_ends {
            let hashes = tokens[start..end]
                .iter()
                .map(|&rank| corpus.hashes[rank as usize]);
            sum = sum.wrapping_add(document(&vocab, hashes));
            start = end;
        }
        sum
    }));

    let mut store = S::new();
    let mut map = OpenMap::<S, 2>::new(&mut store, 8);
    out.time("map inserts", || {
        for i in 0..s.map_ops {
            map.insert(&mut store, [map_key(i), i as u64]);
        }
    });
    check = check.wrapping_add(out.time("map lookups", || {
        let mut sum = 0u64;
        for j in 0..s.map_ops {
            let i = j * 7919 % s.map_ops;
            let key = if j % 4 == 3 {
                map_key(s.map_ops + i)
            } else {
                map_key(i)
            };
            sum += map.get(&store, key).map_or(1, |cell| cell[1]);
        }
        sum
    }));

    out.time("teardown", || {
        strings.teardown();
        vocab.teardown();
        if !S::DROP_FREES {
            map.free(&mut store);
        }
        drop(black_box(store));
    });

    out.record_total("total");
    out.check = check;
    out.info = vec![format!(
        "{} documents, {} tokens, {} distinct words ({} of {} tokens inline), {} lookups by hash, {} map inserts and lookups",
        corpus.doc_ends.len(),
        tokens.len(),
        seen.len(),
        tokens
            .iter()
            .filter(|&&rank| corpus.word(rank).len() <= INLINE)
            .count(),
        tokens.len(),
        s.lookups,
        s.map_ops,
    )];
}

fn run(_workload: &str, variant: &str, quick: bool) -> Sample {
    let sizes = Sizes::new(quick);
    let mut out = Sample::new();
    match variant {
        "raw" => client::<Raw>(&sizes, &mut out),
        "cymem" => client::<Pool>(&sizes, &mut out),
        "slotmap" => client::<Slots>(&sizes, &mut out),
        other => panic!("unknown variant {other}"),
    }
    out
}

fn main() {
    fresh::main(Bench {
        title: "spaCy-like client (medians per phase; ratios to raw libc)",
        workloads: &["client"],
        variants: &["raw", "cymem", "slotmap"],
        run,
    });
}
