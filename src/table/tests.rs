//! Unit tests of the slot table: generations, retirement, growth, kept buffers.

use super::*;
use alloc::vec::Vec;

fn insert_bytes(table: &mut Table) -> Handle<u8> {
    let type_index = table.reserve_one::<u8>().unwrap();
    // SAFETY: zero-length block: dangling, aligned, owns nothing (I1-I3).
    unsafe { table.insert::<u8>(NonNull::dangling(), 0, type_index) }
}

#[test]
fn freed_slot_is_reused_with_the_next_odd_generation() {
    let mut table = Table::new();
    let first = insert_bytes(&mut table);
    table.remove(table.resolve(first).unwrap().index);
    let second = insert_bytes(&mut table);
    assert_eq!((second.index, second.generation), (first.index, 3));
    assert_eq!(table.resolve(first), None);
    assert_eq!(table.resolve(second).map(|found| found.index), Some(0));
}

#[test]
fn exhausted_generation_retires_the_slot() {
    let mut table = Table::new();
    let first = insert_bytes(&mut table);
    table.remove(table.resolve(first).unwrap().index);
    // As if the slot had been reused 2^31 - 1 times: the next life is its last.
    table.set_generation(0, u32::MAX - 1);
    let last = insert_bytes(&mut table);
    assert_eq!((last.index, last.generation), (0, u32::MAX));
    table.remove(table.resolve(last).unwrap().index);
    assert_eq!(table.resolve(last), None);
    // The retired slot is not reused: a new slot is pushed instead, and
    // no generation ever wraps back to 1 on slot 0.
    let next = insert_bytes(&mut table);
    assert_eq!(next.index, 1);
    assert_eq!(table.slot_count(), 2);
    let forged = Handle::<u8>::from_parts(0, 0, table.pool_id);
    assert_eq!(table.resolve(forged), None);
    let forged_first_life = Handle::<u8>::from_parts(0, 1, table.pool_id);
    assert_eq!(table.resolve(forged_first_life), None);
}

#[test]
fn even_generation_matching_a_vacant_slot_is_rejected() {
    let mut table = Table::new();
    let h = insert_bytes(&mut table);
    table.remove(table.resolve(h).unwrap().index);
    let forged = Handle::<u8>::from_parts(0, 2, table.pool_id);
    assert_eq!(table.resolve(forged), None);
}

#[test]
fn clear_changes_the_pool_id_and_restarts_slots() {
    let mut table = Table::new();
    let before = insert_bytes(&mut table);
    assert_eq!(table.clear().count(), 1);
    let after = insert_bytes(&mut table);
    assert_eq!(
        (after.index, after.generation),
        (before.index, before.generation)
    );
    assert_ne!(after.pool, before.pool);
    assert_eq!(table.resolve(before), None);
}

#[test]
fn reserve_counts_vacant_slots_and_capacity_skips_retired_ones() {
    let mut table = Table::new();
    let handles: Vec<_> = (0..4).map(|_| insert_bytes(&mut table)).collect();
    for h in &handles[..2] {
        table.remove(table.resolve(*h).unwrap().index);
    }
    // Two vacant slots on the free list cover two of the three.
    let before = table.slots.capacity();
    table.reserve(2).unwrap();
    assert_eq!(table.slots.capacity(), before);
    table.reserve(before - 2 + 1).unwrap();
    assert!(table.capacity() >= 2 + before - 1);
    let capacity = table.capacity();
    // Retiring a slot takes it out of the capacity.
    let index = table.resolve(handles[2]).unwrap().index;
    table.set_generation(index, u32::MAX);
    let last = Handle::<u8>::from_parts(index as u32, u32::MAX, table.pool_id);
    table.remove(table.resolve(last).unwrap().index);
    assert_eq!(table.capacity(), capacity - 1);
    assert_eq!(table.reserve(usize::MAX), Err(PoolError::OutOfMemory));
}

#[test]
#[cfg(feature = "std")]
fn a_dropped_small_tables_buffers_serve_the_next_table_on_the_thread() {
    let mut first = Table::new();
    first.reserve(40).unwrap();
    let kept = first.slots.capacity();
    let h = insert_bytes(&mut first);
    drop(first);
    let mut second = Table::new();
    assert_eq!(second.slots.capacity(), 0); // nothing allocated before the first block
    let fresh = insert_bytes(&mut second);
    assert_eq!(second.slots.capacity(), kept); // the kept buffer, not a new one of 4
    assert!(second.types.capacity() >= 1);
    assert_eq!((fresh.index, fresh.generation), (h.index, h.generation));
    assert_eq!(second.resolve(h), None); // another pool id
    assert_eq!(second.len(), 1);
    // A large table's buffers are not kept.
    let mut large = Table::new();
    large.reserve(spare::KEPT_SLOTS + 1).unwrap();
    drop(large);
    let mut third = Table::new();
    insert_bytes(&mut third);
    assert!(third.slots.capacity() <= spare::KEPT_SLOTS);
}

#[test]
fn growing_past_two_mebibytes_keeps_every_slot() {
    // Past `pages::HUGE` bytes of slots the table moves to a fresh buffer
    // (`grow`); under Miri a smaller table checks the same bookkeeping.
    let count = if cfg!(miri) {
        2_000
    } else {
        2 * pages::HUGE / core::mem::size_of::<Slot>()
    };
    let mut table = Table::new();
    let handles: Vec<_> = (0..count).map(|_| insert_bytes(&mut table)).collect();
    table.remove(table.resolve(handles[7]).unwrap().index);
    let capacity = table.capacity();
    assert!(capacity >= count);
    assert!(handles
        .iter()
        .enumerate()
        .all(|(i, &h)| table.resolve(h).is_some() == (i != 7)));
    // The freed slot is reused before the table grows again.
    let reused = insert_bytes(&mut table);
    assert_eq!((reused.index, table.capacity()), (7, capacity));
}

#[test]
fn resolve_logged_matches_only_the_occupied_generation() {
    let mut table = Table::new();
    let h = insert_bytes(&mut table);
    assert_eq!(table.resolve_logged(h.index, h.generation), Some(0));
    assert_eq!(table.resolve_logged(h.index, h.generation + 2), None);
    assert_eq!(table.resolve_logged(7, 1), None);
    table.remove(0);
    assert_eq!(table.resolve_logged(h.index, h.generation), None);
    assert_eq!(table.resolve_logged(h.index, h.generation + 1), None);
}
