//! A doorbell: one thread sleeps until an absolute deadline or until another thread rings,
//! whichever comes first (a Linux futex).
//!
//! It is how a command reaches a sleeping media worker at once instead of waiting for the
//! worker's next 10 ms tick, and how a worker's reply wakes the caller waiting for it at once
//! instead of at the runtime's next poll of the notice rings: without it every control-plane request (an ng `offer`, a REST call,
//! a conference join) cost a tick or more, and commands issued one after another ran at
//! about 60 per second.
//!
//! # Protocol
//!
//! The sleeper reads [`Doorbell::rings`], checks whatever it is waiting for (a ring is
//! empty), then calls [`Doorbell::sleep_until`] with the count it read: a ring that came in
//! between is not lost, the sleep returns at once. That is the futex's own guarantee: the
//! kernel compares the count with the one read under the same lock as the wake-up takes,
//! and a ring increments the count before it wakes. A ring is always one `futex` system
//! call, whether anyone sleeps or not: rings come with control-plane commands and their
//! replies, never per packet, and skipping the call when nobody sleeps would need a second
//! counter and sequentially consistent ordering between the two to stay correct.
//!
//! Nothing here allocates or takes a lock; the sleep is one `futex` call (the same single
//! system call per tick as the `clock_nanosleep` it replaces on a worker).

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_nanosleep};

/// See the module docs.
#[derive(Debug, Default)]
pub struct Doorbell {
    /// Rings so far (wrapping): the futex word.
    rings: AtomicU32,
}

impl Doorbell {
    /// A bell nobody has rung.
    pub const fn new() -> Self {
        Self {
            rings: AtomicU32::new(0),
        }
    }

    /// The count of rings so far, to pass to [`Doorbell::sleep_until`].
    pub fn rings(&self) -> u32 {
        self.rings.load(Ordering::Acquire)
    }

    /// Wakes every thread sleeping on the bell, or makes the next sleep (begun with a count
    /// read before this ring) return at once.
    pub fn ring(&self) {
        // Release: what the ringer queued before ringing is visible to the woken thread.
        self.rings.fetch_add(1, Ordering::Release);
        futex_wake_all(&self.rings);
    }

    /// Sleeps until `deadline_ns` on `CLOCK_MONOTONIC` (absolute, ns) unless the bell has
    /// been rung since [`Doorbell::rings`] returned `seen`. True when rung (possibly also
    /// after the deadline), false at the deadline.
    pub fn sleep_until(&self, seen: u32, deadline_ns: u64) -> bool {
        loop {
            if self.rings.load(Ordering::Acquire) != seen {
                return true;
            }
            match futex_wait_until(&self.rings, seen, deadline_ns) {
                // Woken, or the count had moved on already, or a signal: look again.
                Ok(()) | Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                Err(Errno::ETIMEDOUT) => return false,
                // No futex (never on Linux ≥ 2.6.25): the plain timer, no early wake-ups.
                Err(_) => {
                    sleep_until_monotonic(deadline_ns);
                    return self.rings.load(Ordering::Acquire) != seen;
                }
            }
        }
    }
}

/// Now on `CLOCK_MONOTONIC`, ns (vDSO, no system call).
pub fn monotonic_now_ns() -> u64 {
    nix::time::clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        (t.tv_sec() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(t.tv_nsec() as u64)
    })
}

fn timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    }
}

/// `FUTEX_WAIT_BITSET` on `word` while it holds `expected`, until the absolute
/// `CLOCK_MONOTONIC` time `deadline_ns` (the only futex wait that takes an absolute time).
fn futex_wait_until(word: &AtomicU32, expected: u32, deadline_ns: u64) -> Result<(), Errno> {
    let deadline = timespec(deadline_ns);
    // SAFETY: `word` is a live, aligned 32-bit atomic for the whole call (borrowed), the
    // timeout points at a timespec on this stack frame, and the unused second address is
    // null as FUTEX_WAIT_BITSET allows. The kernel only reads both.
    let result = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG,
            expected,
            &deadline as *const libc::timespec,
            std::ptr::null::<u32>(),
            libc::FUTEX_BITSET_MATCH_ANY,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// `FUTEX_WAKE` every waiter on `word`.
fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic (borrowed); FUTEX_WAKE reads no other
    // argument. A failure only means nobody was woken, which the protocol tolerates.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

/// Sleeps until `deadline_ns` on `CLOCK_MONOTONIC` (absolute; at once if it has passed),
/// through signals: the plain timer, no bell.
pub(crate) fn sleep_until_monotonic(deadline_ns: u64) {
    let request = TimeSpec::from(timespec(deadline_ns));
    while let Err(Errno::EINTR) = clock_nanosleep(
        ClockId::CLOCK_MONOTONIC,
        nix::time::ClockNanosleepFlags::TIMER_ABSTIME,
        &request,
    ) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// A deadline so far away that reaching it means the ring was lost (the test then fails
    /// instead of hanging).
    const FAR_NS: u64 = 20_000_000_000;

    #[test]
    fn the_deadline_ends_a_sleep_nobody_rings() {
        let bell = Doorbell::new();
        let seen = bell.rings();
        assert!(!bell.sleep_until(seen, monotonic_now_ns() + 2_000_000));
        // A deadline in the past returns at once.
        assert!(!bell.sleep_until(seen, 1));
    }

    #[test]
    fn a_ring_between_reading_the_count_and_sleeping_is_not_lost() {
        let bell = Doorbell::new();
        let seen = bell.rings();
        bell.ring();
        assert!(bell.sleep_until(seen, monotonic_now_ns() + FAR_NS));
        // The next sleep, from the new count, waits again.
        assert!(!bell.sleep_until(bell.rings(), monotonic_now_ns() + 1_000_000));
    }

    #[test]
    fn a_ring_wakes_a_sleeping_thread_before_its_deadline() {
        let bell = Arc::new(Doorbell::new());
        for _ in 0..20 {
            let seen = bell.rings();
            let sleeper = {
                let bell = Arc::clone(&bell);
                std::thread::spawn(move || bell.sleep_until(seen, monotonic_now_ns() + FAR_NS))
            };
            // Ring whether or not the sleeper is asleep yet: both orders must wake it.
            std::thread::sleep(Duration::from_micros(200));
            bell.ring();
            assert!(sleeper.join().expect("sleeper"), "woken by the deadline");
        }
    }
}
