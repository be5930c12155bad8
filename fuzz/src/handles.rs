//! The `handles` target: forged, stale, reused-slot, foreign and retyped
//! handles against two populated pools. A handle may only ever name the
//! live block of the same pool and element type whose handle has the same
//! 16 bytes; every other handle must be rejected by every method.

use arbitrary::Arbitrary;
use cymem::{Handle, Pool};

use crate::capi::Edit;
use crate::elem::{bytes_of, bytes_of_mut, fill_pattern, forge, Elem, HandleFields, Ty};
use crate::model::{address, check_dead, Model};
use crate::{MAX_LIVE_BYTES, MAX_OPS};

/// One operation; `pool` picks one of the two pools.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum HandleOp {
    /// `alloc_slice` of `len` elements holding a pattern.
    Alloc {
        /// Pool.
        pool: bool,
        /// Element type.
        ty: Ty,
        /// Length.
        len: u8,
        /// First byte of the pattern.
        seed: u8,
    },
    /// `free` of a handle the pool gave out (live or dead).
    Free {
        /// Pool.
        pool: bool,
        /// Handle (wrapping).
        target: u8,
    },
    /// `clear`.
    Clear {
        /// Pool.
        pool: bool,
    },
    /// Arbitrary bytes as a handle.
    Forge {
        /// Pool asked.
        pool: bool,
        /// Element type.
        ty: Ty,
        /// The handle's bytes.
        raw: [u8; 16],
        /// What to do with it.
        action: Action,
    },
    /// A handle one of the pools gave out, edited, retyped, and given to
    /// either pool.
    Edit {
        /// Pool that gave the handle out.
        from: bool,
        /// Handle (wrapping).
        target: u8,
        /// Pool asked.
        pool: bool,
        /// Element type it is cast to.
        ty: Ty,
        /// Change to its bytes.
        edit: Edit,
        /// What to do with it.
        action: Action,
    },
}

/// What is done with a probed handle, besides every read.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Action {
    /// Reads only.
    Look,
    /// `free`.
    Free,
    /// `realloc` to `n % 64` elements.
    Realloc(u8),
    /// Writes the pattern through `get_mut`.
    Write(u8),
    /// `get_disjoint_mut` with another handle the pool gave out.
    DisjointWith(u8),
}

/// The `handles` target.
pub fn run(ops: Vec<HandleOp>) {
    let mut pools = [Pool::new(), Pool::new()];
    let mut models = [Model::default(), Model::default()];
    for op in ops.into_iter().take(MAX_OPS) {
        match op {
            HandleOp::Alloc {
                pool,
                ty,
                len,
                seed,
            } => {
                let p = usize::from(pool);
                let (pool, model) = (&mut pools[p], &mut models[p]);
                with_elem!(ty, T => alloc::<T>(pool, model, usize::from(len), seed));
            }
            HandleOp::Free { pool, target } => {
                let p = usize::from(pool);
                if let Some(index) = models[p].pick(target) {
                    let record = &models[p].records[index];
                    let ty = record.ty;
                    let raw = record.raw;
                    with_elem!(ty, T => probe::<T>(&mut pools[p], &mut models[p], raw, Action::Free));
                }
            }
            HandleOp::Clear { pool } => {
                let p = usize::from(pool);
                pools[p].clear();
                models[p].kill_all();
            }
            HandleOp::Forge {
                pool,
                ty,
                raw,
                action,
            } => {
                let p = usize::from(pool);
                with_elem!(ty, T => probe::<T>(&mut pools[p], &mut models[p], raw, action));
            }
            HandleOp::Edit {
                from,
                target,
                pool,
                ty,
                edit,
                action,
            } => {
                let Some(index) = models[usize::from(from)].pick(target) else {
                    continue;
                };
                let raw = edited(models[usize::from(from)].records[index].raw, edit);
                let p = usize::from(pool);
                with_elem!(ty, T => probe::<T>(&mut pools[p], &mut models[p], raw, action));
            }
        }
        for (pool, model) in pools.iter_mut().zip(&models) {
            model.check(pool);
        }
    }
}

fn alloc<T: Elem>(pool: &mut Pool, model: &mut Model, len: usize, seed: u8) {
    if model.size() > MAX_LIVE_BYTES / 4 {
        return;
    }
    let mut values = vec![T::zeroed(); len];
    fill_pattern(bytes_of_mut(&mut values), seed);
    let handle = pool.alloc_slice(&values).expect("small alloc_slice");
    model.insert(pool, handle, len, bytes_of(&values).to_vec());
}

fn edited(raw: [u8; 16], edit: Edit) -> [u8; 16] {
    let mut fields: HandleFields = bytemuck::cast(raw);
    edit.apply(&mut fields.index, &mut fields.generation, &mut fields.pool);
    bytemuck::cast(fields)
}

/// Asks `pool` about the handle with bytes `raw` and element type `T`: it
/// must name exactly the live block of the model with the same type and
/// bytes, or nothing.
fn probe<T: Elem>(pool: &mut Pool, model: &mut Model, raw: [u8; 16], action: Action) {
    let handle = forge::<T>(raw);
    let Some(index) = model.find_live(T::TY, raw) else {
        check_dead(pool, handle);
        if let Action::DisjointWith(target) = action {
            if let Some(other) = model.pick(target) {
                let other = forge::<T>(model.records[other].raw);
                assert!(
                    pool.get_disjoint_mut([other, handle]).is_none(),
                    "get_disjoint_mut with dead {handle:?}"
                );
            }
        }
        return;
    };
    let block = model.records[index].block.as_mut().expect("live");
    let got = pool.get(handle).expect("get of a live handle's bytes");
    assert_eq!(
        (got.as_ptr().addr(), got.len()),
        (block.addr, block.len),
        "{handle:?} names another block"
    );
    assert!(bytes_of(got) == &block.bytes[..], "contents of {handle:?}");
    assert!(pool.contains(handle));
    match action {
        Action::Look => {}
        Action::Free => {
            assert_eq!(pool.free(handle), Ok(()), "free of live {handle:?}");
            model.records[index].block = None;
        }
        Action::Realloc(n) => {
            let len = usize::from(n) % 64;
            assert_eq!(
                pool.realloc(handle, len),
                Ok(()),
                "realloc of live {handle:?}"
            );
            block.len = len;
            block.bytes.resize(len * core::mem::size_of::<T>(), 0);
            block.addr = address(pool, handle);
        }
        Action::Write(seed) => {
            fill_pattern(bytes_of_mut(pool.get_mut(handle).expect("live")), seed);
            fill_pattern(&mut block.bytes, seed);
        }
        Action::DisjointWith(target) => {
            let other = model.pick(target).expect("records exist");
            let record = &model.records[other];
            let expect_some = other != index && record.ty == T::TY && record.block.is_some();
            let other: Handle<T> = forge(record.raw);
            let got = pool.get_disjoint_mut([handle, other]);
            assert_eq!(
                got.is_some(),
                expect_some,
                "get_disjoint_mut([{handle:?}, {other:?}])"
            );
        }
    }
}
