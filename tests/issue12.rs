//! Regression tests for issue 12 (soundness review): zero-size layouts
//! called directly on the allocators, handles from another process, pool ids
//! within a process, and the documented behaviour of failed allocations and
//! of a pool swapped out of its own zone.

mod common;

use core::alloc::Layout;
use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{iterations, libc_allocator, FailingAllocator};
use cymem::{BlockAllocator, DefaultAllocator, Handle, Pool, PoolError};

/// Alignments from 1 to 4096.
fn alignments() -> impl Iterator<Item = usize> {
    (0..=12).map(|shift| 1usize << shift)
}

/// An outsider's program: no unsafe code at all may reach UB through the
/// safe `allocate_zeroed`, whatever the layout.
#[forbid(unsafe_code)]
mod safe_callers {
    use super::*;

    #[test]
    fn zero_size_layout_from_default_allocator_is_sound_issue_12() {
        for align in alignments() {
            let layout = Layout::from_size_align(0, align).unwrap();
            let ptr = DefaultAllocator
                .allocate_zeroed(layout)
                .expect("a zero-size layout has an answer");
            assert_eq!(ptr.as_ptr().addr() % align, 0, "align {align}");
            // Asking again is as harmless.
            let again = DefaultAllocator.allocate_zeroed(layout).unwrap();
            assert_eq!(again.as_ptr().addr() % align, 0, "align {align}");
        }
    }

    #[test]
    fn zero_size_layout_from_a_pool_of_the_default_allocator_is_sound_issue_12() {
        let mut pool = Pool::with_allocator(DefaultAllocator);
        let empty = pool.alloc::<u64>(0).unwrap();
        let unit = pool.alloc::<()>(usize::MAX).unwrap();
        assert_eq!(pool.get(empty), Some(&[][..]));
        assert_eq!(pool.get(unit).map(<[()]>::len), Some(usize::MAX));
        assert_eq!(pool.size(), 0);
    }
}

#[test]
fn zero_size_layout_from_default_allocator_deallocates_issue_12() {
    for align in alignments() {
        let layout = Layout::from_size_align(0, align).unwrap();
        let ptr = DefaultAllocator.allocate_zeroed(layout).unwrap();
        // SAFETY: `ptr` came from `allocate_zeroed` with `layout` just above
        // and is freed once.
        unsafe { DefaultAllocator.deallocate(ptr, layout) };
    }
}

#[test]
fn reallocate_from_zero_size_gives_zeroed_memory_issue_12() {
    for align in alignments() {
        let layout = Layout::from_size_align(0, align).unwrap();
        for new_size in [1, 3, 16, 300, 4096] {
            let ptr = DefaultAllocator.allocate_zeroed(layout).unwrap();
            // SAFETY: `ptr` is a live block of `layout` from this allocator;
            // `new_size` is not zero and far below `isize::MAX`.
            let grown = unsafe { DefaultAllocator.reallocate_zeroed(ptr, layout, new_size) }
                .expect("the global allocator has memory");
            assert_eq!(grown.as_ptr().addr() % align, 0, "align {align}");
            // SAFETY: `reallocate_zeroed` returned a block of `new_size`
            // initialised (zeroed) bytes, not aliased.
            let bytes = unsafe { core::slice::from_raw_parts(grown.as_ptr(), new_size) };
            assert!(bytes.iter().all(|&b| b == 0), "align {align}, {new_size}");
            let new_layout = Layout::from_size_align(new_size, align).unwrap();
            // SAFETY: `grown` is live with `new_layout` and freed once.
            unsafe { DefaultAllocator.deallocate(grown, new_layout) };
        }
    }
}

#[test]
fn reallocate_to_and_from_zero_size_through_the_trait_default_issue_12() {
    // The trait's default `reallocate_zeroed` (CAllocator does not override
    // it) on a zero-size block: allocates, copies nothing, frees the old.
    let allocator = libc_allocator();
    for align in alignments() {
        let layout = Layout::from_size_align(0, align).unwrap();
        let ptr = allocator.allocate_zeroed(layout).unwrap();
        // SAFETY: `ptr` is live with `layout`; 40 is not zero.
        let grown = unsafe { allocator.reallocate_zeroed(ptr, layout, 40) }.unwrap();
        assert_eq!(grown.as_ptr().addr() % align, 0, "align {align}");
        // SAFETY: the block holds 40 zeroed bytes.
        let bytes = unsafe { core::slice::from_raw_parts(grown.as_ptr(), 40) };
        assert_eq!(bytes, [0; 40]);
        // SAFETY: `grown` is live with this layout and freed once.
        unsafe { allocator.deallocate(grown, Layout::from_size_align(40, align).unwrap()) };
    }
}

#[test]
fn zero_size_layout_from_c_allocator_is_sound_issue_12() {
    let allocator = libc_allocator();
    for align in alignments() {
        let layout = Layout::from_size_align(0, align).unwrap();
        let ptr = allocator
            .allocate_zeroed(layout)
            .expect("malloc has memory");
        assert_eq!(ptr.as_ptr().addr() % align, 0, "align {align}");
        // SAFETY: `ptr` came from this allocator with `layout`, freed once
        // (Miri's leak check sees that `free` got malloc's pointer).
        unsafe { allocator.deallocate(ptr, layout) };
    }
}

#[test]
fn c_allocator_pool_with_zero_size_blocks_works_issue_12() {
    let mut pool = Pool::with_allocator(libc_allocator());
    let empty = pool.alloc::<u64>(0).unwrap();
    let unit = pool.insert(()).unwrap();
    let full = pool.alloc_slice(&[1u16, 2, 3]).unwrap();
    pool.realloc(empty, 2).unwrap();
    assert_eq!(pool[empty], [0, 0]);
    pool.realloc(full, 0).unwrap();
    assert_eq!(pool.get(full), Some(&[][..]));
    assert_eq!(pool.take(unit), Ok(()));
}

// Handles from another process. The test binary runs itself with
// `--exact <test>` and one of these variables set; the child test then acts
// as "writer" (prints the handle of the first block of its first pool) or
// "reader" (checks that a handle written by another run names nothing).

const WRITER: &str = "CYMEM_ISSUE12_WRITER";
const READER: &str = "CYMEM_ISSUE12_READER";
const CHILD_TEST: &str = "handle_exchange_child_issue_12";
const PREFIX: &str = "CYMEM-HANDLE:";

/// What the writer and reader both allocate first, in their first pool.
fn first_block(pool: &mut Pool) -> Handle<u32> {
    pool.alloc_slice(&[0xdead_beef_u32, 7]).unwrap()
}

fn to_hex(handle: Handle<u32>) -> String {
    let bytes: [u8; 16] = bytemuck::cast(handle);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Handle<u32> {
    assert_eq!(hex.len(), 32, "{hex:?}");
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    bytemuck::cast(bytes)
}

/// The pool id a handle carries: bytes 8..16 (index, generation, pool id).
fn pool_id<T: 'static>(handle: Handle<T>) -> u64 {
    let words: [u64; 2] = bytemuck::cast(handle);
    words[1]
}

/// Index and generation: bytes 0..8.
fn slot<T: 'static>(handle: Handle<T>) -> u64 {
    let words: [u64; 2] = bytemuck::cast(handle);
    words[0]
}

/// Asserts that `foreign` names nothing in `pool`, though it has the same
/// slot index and generation as `local`, whose block holds the same values.
fn assert_foreign_rejected(pool: &mut Pool, local: Handle<u32>, foreign: Handle<u32>) {
    assert_eq!(slot(foreign), slot(local), "same slot: only the id differs");
    assert_ne!(pool_id(foreign), pool_id(local));
    assert_eq!(pool.get(foreign), None);
    assert!(!pool.contains(foreign));
    assert_eq!(pool.free(foreign), Err(PoolError::InvalidHandle));
    assert_eq!(pool.take(foreign), Err(PoolError::InvalidHandle));
    assert_eq!(pool[local], [0xdead_beef, 7]);
}

/// The child's side; does nothing in an ordinary test run.
#[test]
fn handle_exchange_child_issue_12() {
    if std::env::var_os(WRITER).is_some() {
        let mut pool = Pool::new();
        let handle = first_block(&mut pool);
        println!("{PREFIX}{}", to_hex(handle));
    } else if let Some(hex) = std::env::var_os(READER) {
        let foreign = from_hex(hex.to_str().unwrap());
        let mut pool = Pool::new();
        let local = first_block(&mut pool);
        assert_foreign_rejected(&mut pool, local, foreign);
        println!("{PREFIX}rejected");
    }
}

/// Runs this test binary's child test with `var=value`; returns the line
/// it printed after [`PREFIX`].
fn run_child(var: &str, value: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(var, value)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The harness prints `test <name> ... ` before the child's own output.
    let line = stdout.lines().find_map(|line| line.split_once(PREFIX));
    let (_, printed) = line.unwrap_or_else(|| panic!("child printed no {PREFIX} line: {stdout}"));
    printed.trim().to_owned()
}

#[test]
// Miri cannot spawn processes.
#[cfg_attr(miri, ignore)]
fn handle_from_another_process_is_rejected_issue_12() {
    let written = run_child(WRITER, "1");
    let foreign = from_hex(&written);
    assert_ne!(pool_id(foreign), 0);

    // This process (other tests make pools here too) ...
    let mut pool = Pool::new();
    let local = first_block(&mut pool);
    assert_foreign_rejected(&mut pool, local, foreign);

    // ... and another run's first pool, exactly as in the report.
    assert_eq!(run_child(READER, &written), "rejected");
}

#[test]
// Miri cannot spawn processes.
#[cfg_attr(miri, ignore)]
fn first_pool_ids_differ_between_processes_issue_12() {
    let ids: Vec<u64> = (0..3)
        .map(|_| pool_id(from_hex(&run_child(WRITER, "1"))))
        .collect();
    // A counter starting at a fixed value gave every run the same first id.
    assert_ne!(ids[0], ids[1], "{ids:x?}");
    assert_ne!(ids[1], ids[2], "{ids:x?}");
    assert_ne!(ids[0], ids[2], "{ids:x?}");
}

#[test]
fn pool_ids_are_unique_and_never_zero_across_threads_and_clears_issue_12() {
    let per_thread = iterations(500, 10);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for _ in 0..per_thread {
                    let mut pool = Pool::new();
                    ids.push(pool_id(pool.alloc::<u8>(1).unwrap()));
                    pool.clear();
                    ids.push(pool_id(pool.alloc::<u8>(1).unwrap()));
                    pool.clear();
                    ids.push(pool_id(pool.alloc::<u8>(0).unwrap()));
                }
                ids
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for thread in threads {
        for id in thread.join().unwrap() {
            assert_ne!(id, 0, "pool id 0 is the null handle's");
            assert!(seen.insert(id), "pool id {id:#x} given out twice");
        }
    }
    assert_eq!(seen.len(), 4 * 3 * per_thread);
}

#[test]
fn handles_of_a_pool_before_clear_name_nothing_after_issue_12() {
    let mut pool = Pool::new();
    let old = first_block(&mut pool);
    pool.clear();
    let new = first_block(&mut pool);
    assert_eq!(slot(old), slot(new), "the slot is reused");
    assert_ne!(pool_id(old), pool_id(new));
    assert_eq!(pool.get(old), None);
    assert_eq!(pool.free(old), Err(PoolError::InvalidHandle));
}

// Documented behaviour (issue 12, item 5).

/// Counts drops of the values a test inserts.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn failed_alloc_and_insert_leave_every_block_unchanged_issue_12() {
    let (allocator, tracker) = FailingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let drops = Arc::new(AtomicUsize::new(0));
    let mut bytes = Vec::new();
    let mut owned = Vec::new();
    // Fill the slot table exactly, so the failing calls must grow it first.
    let mut i = 0u8;
    while pool.len() < pool.capacity() || pool.len() < 3 {
        if i.is_multiple_of(2) {
            bytes.push((pool.alloc_slice(&[i; 5]).unwrap(), [i; 5]));
        } else {
            let h = pool.insert((Counted(Arc::clone(&drops)), i)).unwrap();
            owned.push((h, i));
        }
        i += 1;
    }
    let dead = pool.alloc::<u8>(1).unwrap();
    pool.free(dead).unwrap();
    let (len, size, capacity) = (pool.len(), pool.size(), pool.capacity());
    let layouts = tracker.live_layouts();

    tracker.fail_next(1);
    assert_eq!(pool.alloc::<u64>(4), Err(PoolError::OutOfMemory));
    tracker.fail_next(1);
    let value = (Counted(Arc::clone(&drops)), 99);
    assert_eq!(pool.insert(value).err(), Some(PoolError::OutOfMemory));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the value not stored drops once"
    );
    tracker.fail_next(1);
    assert_eq!(pool.alloc_slice(&[1u8; 3]), Err(PoolError::OutOfMemory));

    assert_eq!((pool.len(), pool.size()), (len, size));
    assert!(
        pool.capacity() >= capacity,
        "capacity may grow, never shrink"
    );
    assert_eq!(tracker.live_layouts(), layouts);
    assert_eq!(tracker.failures(), 3);
    for &(h, values) in &bytes {
        assert_eq!(pool[h], values);
    }
    for &(h, tag) in &owned {
        assert_eq!(pool[h][0].1, tag);
    }
    assert!(!pool.contains(dead));
    // The pool works on: new blocks do not disturb the old ones.
    let after = pool.alloc_slice(&[42u8]).unwrap();
    assert!(!bytes.iter().any(|&(h, _)| h == after));
    assert_eq!(pool[after], [42]);
    assert_eq!(pool[bytes[0].0], bytes[0].1);
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 1 + owned.len());
    assert_eq!(tracker.live_blocks(), 0);
}

#[test]
fn swapping_the_pool_out_inside_zone_leaves_the_zone_in_the_swapped_out_pool_issue_12() {
    let mut outer = Pool::new();
    let mut spare = Pool::new();
    let before = outer.alloc_slice(&[1u32]).unwrap();
    let spare_block = spare.alloc_slice(&[2u32]).unwrap();
    let spare_mark = spare.mark().unwrap();
    let mut inside = Handle::NULL;
    let result = outer.zone(|pool| {
        inside = pool.alloc_slice(&[3u32]).unwrap();
        std::mem::swap(pool, &mut spare);
    });
    // The zone's rollback reached the pool swapped in, whose marks are its own.
    assert!(result.is_ok());
    // `outer` now holds the pool swapped in: untouched.
    assert_eq!(
        outer.zone_depth(),
        1,
        "the swapped-in pool keeps its own mark"
    );
    assert_eq!(outer.allocations_since(spare_mark), Some(0));
    assert_eq!(outer.len(), 1);
    assert_eq!(outer[spare_block], [2]);
    // `spare` now holds the pool swapped out: its zone is still open.
    assert_eq!(spare.zone_depth(), 1);
    assert_eq!((spare[before][0], spare[inside][0]), (1, 3));
    assert_eq!(spare.len(), 2);
    // It keeps logging until it ends (here by clear).
    spare.alloc::<u8>(1).unwrap();
    spare.clear();
    assert_eq!(spare.zone_depth(), 0);
    outer.rollback(spare_mark).unwrap();
    assert_eq!(outer.zone_depth(), 0);
    assert_eq!(outer[spare_block], [2]);
}

#[test]
fn swapping_the_pool_out_inside_zone_then_back_closes_it_issue_12() {
    let mut pool = Pool::new();
    let mut spare = Pool::new();
    pool.zone(|p| {
        p.alloc::<u8>(4).unwrap();
        std::mem::swap(p, &mut spare);
        assert_eq!(p.zone_depth(), 0);
        std::mem::swap(p, &mut spare);
        assert_eq!(p.zone_depth(), 1);
    })
    .unwrap();
    assert_eq!((pool.zone_depth(), pool.len()), (0, 0));
    assert_eq!((spare.zone_depth(), spare.len()), (0, 0));
}
