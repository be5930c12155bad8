//! Pools and handles across threads: `Send`/`Sync`, concurrent reads through
//! `&Pool`, handles passed between threads, disjoint blocks written in
//! parallel, and a pool dropped on another thread.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use common::{iterations, CountingAllocator};
use cymem::{CAllocator, DefaultAllocator, Handle, Pool};

#[test]
fn pool_is_send_and_sync() {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    assert_send::<Pool>();
    assert_sync::<Pool>();
    assert_send::<Pool<DefaultAllocator>>();
    assert_sync::<Pool<DefaultAllocator>>();
    assert_send::<Pool<CAllocator>>();
    assert_sync::<Pool<CAllocator>>();
    assert_send::<Pool<CountingAllocator>>();
    assert_sync::<Pool<CountingAllocator>>();
    assert_send::<cymem::PoolError>();
    assert_sync::<cymem::PoolError>();
}

#[test]
fn pool_shared_by_reference_is_read_concurrently() {
    let mut pool = Pool::new();
    let blocks: Vec<(Handle<u64>, u64)> = (0..8u64)
        .map(|b| (pool.alloc_slice(&[b * 1000; 50]).unwrap(), b * 1000))
        .collect();
    let bytes = pool.alloc_slice(b"shared").unwrap();
    let freed = pool.alloc::<u64>(3).unwrap();
    pool.free(freed).unwrap();
    let pool = &pool;
    let rounds = iterations(200, 3);
    thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|t| {
                let blocks = &blocks;
                s.spawn(move || {
                    let mut sum = 0;
                    for round in 0..rounds {
                        for &(h, value) in blocks.iter().cycle().skip(t + round).take(blocks.len())
                        {
                            let block = pool.get(h).unwrap();
                            assert!(block.iter().all(|&x| x == value));
                            sum += block[0];
                        }
                        assert_eq!(&pool[bytes], b"shared");
                        assert!(pool.get(freed).is_none());
                        assert!(pool.get(Handle::<u64>::NULL).is_none());
                    }
                    sum
                })
            })
            .collect();
        for reader in readers {
            assert_eq!(reader.join().unwrap(), 28_000 * rounds as u64);
        }
    });
    assert_eq!(pool.len(), 9);
}

#[test]
fn disjoint_blocks_are_written_in_parallel() {
    let mut pool = Pool::new();
    let handles = [(); 4].map(|_| pool.alloc::<u32>(64).unwrap());
    let blocks = pool.get_disjoint_mut(handles).unwrap();
    thread::scope(|s| {
        for (t, block) in blocks.into_iter().enumerate() {
            s.spawn(move || {
                for (i, x) in block.iter_mut().enumerate() {
                    *x = (t * 100 + i) as u32;
                }
            });
        }
    });
    for (t, &h) in handles.iter().enumerate() {
        assert!(pool[h]
            .iter()
            .enumerate()
            .all(|(i, &x)| x == (t * 100 + i) as u32));
    }
}

#[test]
fn handles_sent_across_threads_name_the_same_blocks() {
    let mut pool = Pool::new();
    let (to_reader, from_main) = mpsc::channel::<Handle<u16>>();
    let (to_main, from_reader) = mpsc::channel::<(Handle<u16>, Vec<u16>)>();
    let handles: Vec<Handle<u16>> = (0..5u16)
        .map(|i| pool.alloc_slice(&[i; 4]).unwrap())
        .collect();
    let pool = &pool;
    thread::scope(|s| {
        s.spawn(move || {
            for h in from_main {
                to_main.send((h, pool[h].to_vec())).unwrap();
            }
        });
        for &h in &handles {
            to_reader.send(h).unwrap();
        }
        drop(to_reader);
    });
    let received: Vec<_> = from_reader.iter().collect();
    assert_eq!(received.len(), 5);
    for ((h, contents), (&sent, i)) in received.into_iter().zip(handles.iter().zip(0u16..)) {
        assert_eq!(h, sent);
        assert_eq!(contents, [i; 4]);
    }
}

#[test]
fn handles_made_on_another_thread_work_after_the_pool_comes_back() {
    let pool = Pool::new();
    let (pool, handles) = thread::spawn(move || {
        let mut pool = pool;
        let handles: Vec<Handle<u8>> = (1..=3u8)
            .map(|i| pool.alloc_slice(&[i; 2]).unwrap())
            .collect();
        (pool, handles)
    })
    .join()
    .unwrap();
    for (&h, i) in handles.iter().zip(1u8..) {
        assert_eq!(pool[h], [i; 2]);
    }
}

#[test]
fn pool_moved_to_another_thread_is_dropped_there_and_frees_everything() {
    let (allocator, tracker) = CountingAllocator::new();
    let mut pool = Pool::with_allocator(allocator);
    let kept: Vec<Handle<u32>> = (0..10u32)
        .map(|i| pool.alloc_slice(&[i; 8]).unwrap())
        .collect();
    let freed = kept[3];
    assert_eq!(tracker.live_blocks(), 10);
    thread::spawn(move || {
        pool.free(freed).unwrap();
        let grown = kept[5];
        pool.realloc(grown, 100).unwrap();
        assert_eq!(pool[kept[9]], [9; 8]);
        drop(pool);
    })
    .join()
    .unwrap();
    assert_eq!(tracker.live_blocks(), 0);
    assert_eq!(tracker.allocations(), 11);
    assert_eq!(tracker.deallocations(), 11);
}

#[test]
fn pool_behind_a_mutex_is_used_from_many_threads() {
    let (allocator, tracker) = CountingAllocator::new();
    let pool = Arc::new(Mutex::new(Pool::with_allocator(allocator)));
    let per_thread = iterations(100, 5);
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..per_thread as u32 {
                    let mut pool = pool.lock().unwrap();
                    let h = pool.alloc_slice(&[t, i]).unwrap();
                    if i % 2 == 0 {
                        pool.free(h).unwrap();
                    } else {
                        mine.push((h, i));
                    }
                }
                let pool = pool.lock().unwrap();
                for &(h, i) in &mine {
                    assert_eq!(pool[h], [t, i]);
                }
                mine.len()
            })
        })
        .collect();
    let kept: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(pool.lock().unwrap().len(), kept);
    assert_eq!(tracker.live_blocks(), kept);
    drop(pool);
    assert_eq!(tracker.live_blocks(), 0);
}
