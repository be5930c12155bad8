//! The model test's `take`, `retain`, `iter_mut` and `iter` (issue 12):
//! each checks what the pool hands out against the model, then updates the
//! model the same way.

use super::{write, write_u64, Block, Handle, Harness, Kind, PoolError};

/// The predicate of `Op::Retain`: a hash of the seed and the handle's bits.
fn keeps(seed: u8, words: [u32; 4]) -> bool {
    let mixed = words[0].wrapping_mul(0x9e37_79b9) ^ words[1] ^ u32::from(seed) << 8;
    mixed.count_ones().is_multiple_of(2)
}

impl Harness {
    /// `take` of a live block: its one element, or `NotOneElement` and
    /// the block left as it was.
    pub(super) fn take(&mut self, i: usize) {
        let (result, len) = match &self.live[i] {
            Block::U8(h, data) => (self.pool.take(*h).map(|x| vec![u64::from(x)]), data.len()),
            Block::U64(h, data) => (self.pool.take(*h).map(|x| vec![x]), data.len()),
            Block::Unit(h, len) => (self.pool.take(*h).map(|()| vec![]), *len),
        };
        if len != 1 {
            assert_eq!(result, Err(PoolError::NotOneElement), "take of {len}");
            return;
        }
        let expected = match &self.live[i] {
            Block::U8(_, data) => vec![u64::from(data[0])],
            Block::U64(_, data) => data.clone(),
            Block::Unit(..) => vec![],
        };
        assert_eq!(result, Ok(expected));
        let block = self.live.swap_remove(i);
        self.bury(block);
    }

    /// `retain` of `kind`: visits the live blocks of that kind in handle
    /// order with the model's contents, frees those [`keeps`] rejects.
    pub(super) fn retain(&mut self, kind: Kind, seed: u8) {
        let live = &self.live;
        let find = |words: [u32; 4]| {
            live.iter()
                .find(|b| b.kind() == kind && b.words() == words)
                .unwrap_or_else(|| panic!("retain visits {words:?}, not live"))
        };
        let mut visited = Vec::new();
        match kind {
            Kind::U8 => self.pool.retain::<u8>(|h, block| {
                let words = bytemuck::cast(h);
                assert!(matches!(find(words), Block::U8(_, d) if d[..] == *block));
                visited.push(h);
                keeps(seed, words)
            }),
            Kind::U64 => self.pool.retain::<u64>(|h, block| {
                let words = bytemuck::cast(h);
                assert!(matches!(find(words), Block::U64(_, d) if d[..] == *block));
                visited.push(bytemuck::cast(h));
                keeps(seed, words)
            }),
            Kind::Unit => self.pool.retain::<()>(|h, block| {
                let words = bytemuck::cast(h);
                assert!(matches!(find(words), Block::Unit(_, len) if *len == block.len()));
                visited.push(bytemuck::cast(h));
                keeps(seed, words)
            }),
        }
        let mut expected: Vec<Handle<u8>> = live
            .iter()
            .filter(|b| b.kind() == kind)
            .map(|b| bytemuck::cast(b.words()))
            .collect();
        expected.sort();
        assert_eq!(
            visited, expected,
            "retain visits the live blocks in slot order"
        );
        let (kept, freed) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|b| b.kind() != kind || keeps(seed, b.words()));
        self.live = kept;
        for block in freed {
            self.bury(block);
        }
    }

    /// `iter_mut` of `kind`, in the order `check` verified, writing patterns.
    pub(super) fn iter_mut(&mut self, kind: Kind, seed: u8) {
        let mut order: Vec<usize> = (0..self.live.len())
            .filter(|&i| self.live[i].kind() == kind)
            .collect();
        order.sort_by_key(|&i| bytemuck::cast::<_, Handle<u8>>(self.live[i].words()));
        let mut order = order.into_iter();
        let seed = |k: usize| seed.wrapping_add(k as u8);
        match kind {
            Kind::U8 => self
                .pool
                .iter_mut::<u8>()
                .enumerate()
                .for_each(
                    |(k, (h, block))| match &mut self.live[order.next().unwrap()] {
                        Block::U8(mh, data) if *mh == h => write(block, data, seed(k)),
                        other => panic!("iter_mut yields {h:?}, the model {other:?}"),
                    },
                ),
            Kind::U64 => self
                .pool
                .iter_mut::<u64>()
                .enumerate()
                .for_each(
                    |(k, (h, block))| match &mut self.live[order.next().unwrap()] {
                        Block::U64(mh, data) if *mh == h => write_u64(block, data, seed(k)),
                        other => panic!("iter_mut yields {h:?}, the model {other:?}"),
                    },
                ),
            Kind::Unit => self.pool.iter_mut::<()>().for_each(|(h, block)| {
                match &self.live[order.next().unwrap()] {
                    Block::Unit(mh, len) if *mh == h && *len == block.len() => {}
                    other => panic!("iter_mut yields {h:?}, the model {other:?}"),
                }
            }),
        }
        assert_eq!(order.next(), None, "iter_mut skipped live blocks");
    }

    /// `iter` of each kind: the model's live blocks of it, sorted by handle.
    pub(super) fn check_iter(&self) {
        let (mut u8s, mut u64s, mut units) = (Vec::new(), Vec::new(), Vec::new());
        for block in &self.live {
            match block {
                Block::U8(h, data) => u8s.push((*h, data.clone())),
                Block::U64(h, data) => u64s.push((*h, data.clone())),
                Block::Unit(h, len) => units.push((*h, *len)),
            }
        }
        u8s.sort_by_key(|&(h, _)| h);
        u64s.sort_by_key(|&(h, _)| h);
        units.sort_by_key(|&(h, _)| h);
        let pool = &self.pool;
        let got: Vec<_> = pool.iter::<u8>().map(|(h, b)| (h, b.to_vec())).collect();
        assert_eq!(got, u8s, "iter::<u8>");
        let got: Vec<_> = pool.iter::<u64>().map(|(h, b)| (h, b.to_vec())).collect();
        assert_eq!(got, u64s, "iter::<u64>");
        let got: Vec<_> = pool.iter::<()>().map(|(h, b)| (h, b.len())).collect();
        assert_eq!(got, units, "iter::<()>");
    }
}
