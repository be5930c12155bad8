//! Pool ids: the third field of every handle, and why a handle of another
//! pool — in this process or another — names nothing here.
//!
//! Ids are `start + n` (wrapping, 0 skipped: it is the id of
//! [`Handle::NULL`](crate::Handle::NULL)) for the `n`-th pool made in the
//! process, so they never repeat within a process until 2^64 - 1 pools have
//! been made (584 years at one per nanosecond). `start` is drawn once per
//! process:
//!
//! - with the `std` feature, from std's `RandomState`, which the OS seeds
//!   with fresh randomness in every process. A handle written by one run of
//!   a program (to a pipe, shared memory or a file) and read by the next
//!   then carries an id the new pools do not have, except with probability
//!   about `pools / 2^64`;
//! - without `std`, from the addresses of a static and of a stack variable:
//!   as random as the platform's address-space layout randomisation, and
//!   fixed on targets without it (bare-metal firmware, where one program
//!   image runs and there is no other process whose handles could arrive).
//!
//! Targets with 64-bit atomics keep the counter in an `AtomicU64`. Others
//! (32-bit microcontrollers, some 32-bit MIPS and PowerPC) keep it behind a
//! spin lock on an `AtomicBool`, held for one increment. Targets without
//! atomic compare-and-swap at all (`thumbv6m`) are not supported.

/// A new id, never 0 and unique within the process.
pub(crate) fn next() -> u64 {
    loop {
        let id = counter::next_raw();
        if id != 0 {
            return id;
        }
    }
}

/// `start` of the module docs, drawn by the first pool; never 0, which the
/// counters below use for "not drawn yet".
fn draw_start() -> u64 {
    random_start() | 1
}

#[cfg(feature = "std")]
fn random_start() -> u64 {
    use core::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x0063_796d_656d_u64)
    // "cymem"
}

#[cfg(not(feature = "std"))]
fn random_start() -> u64 {
    static ANCHOR: u8 = 0;
    let local = 0u8;
    let a = (&ANCHOR as *const u8).addr() as u64;
    let b = (&local as *const u8).addr() as u64;
    // A 64-bit mix (splitmix64's finaliser) so that nearby addresses give
    // unrelated starts.
    let mut x = a.rotate_left(32) ^ b;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(target_has_atomic = "64")]
mod counter {
    use core::sync::atomic::{AtomicU64, Ordering};

    static START: AtomicU64 = AtomicU64::new(0);
    static COUNT: AtomicU64 = AtomicU64::new(0);

    /// `start + n` for the `n`-th call in the process.
    pub(super) fn next_raw() -> u64 {
        // Relaxed throughout: only the values matter, not their order with
        // other memory. The compare-exchange makes every thread use the
        // first start stored; fetch_add gives each `n` once.
        let start = match START.load(Ordering::Relaxed) {
            0 => {
                let drawn = super::draw_start();
                match START.compare_exchange(0, drawn, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => drawn,
                    Err(stored) => stored,
                }
            }
            start => start,
        };
        start.wrapping_add(COUNT.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(not(target_has_atomic = "64"))]
mod counter {
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicBool, Ordering};

    /// `(start, n)`, only touched while `busy` is held.
    struct Locked {
        busy: AtomicBool,
        state: UnsafeCell<(u64, u64)>,
    }

    // SAFETY: `state` is only touched while `busy` is held (below).
    unsafe impl Sync for Locked {}

    static LOCKED: Locked = Locked {
        busy: AtomicBool::new(false),
        state: UnsafeCell::new((0, 0)),
    };

    /// `start + n` for the `n`-th call in the process.
    pub(super) fn next_raw() -> u64 {
        while LOCKED
            .busy
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: the lock is held (Acquire above): no other thread touches
        // `state` until the Release store below.
        let (start, n) = unsafe {
            let state = &mut *LOCKED.state.get();
            if state.0 == 0 {
                state.0 = super::draw_start();
            }
            let taken = *state;
            state.1 = state.1.wrapping_add(1);
            taken
        };
        LOCKED.busy.store(false, Ordering::Release);
        start.wrapping_add(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_never_null() {
        let mut ids: alloc::vec::Vec<u64> = (0..1000).map(|_| next()).collect();
        assert!(ids.iter().all(|&id| id != 0));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn drawn_start_is_never_the_undrawn_marker() {
        assert!((0..100).all(|_| draw_start() != 0));
    }
}
