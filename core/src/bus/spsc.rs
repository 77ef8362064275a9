//! A bounded single-producer single-consumer ring: the only channel between the control plane
//! and a media worker (commands in, notices out).
//!
//! # Contract
//!
//! - [`channel`] allocates the ring once; [`Producer::push`] and [`Consumer::pop`] never
//!   allocate, lock, block or make a system call. Each is wait-free: one atomic load (only when
//!   the cached view of the other side says full / empty), one slot access, one atomic store.
//! - A full ring hands the value back: `Err(Full(value))`. The caller decides (the control
//!   plane reports an error, a worker counts a dropped notice); nothing ever waits.
//! - Values come out in the order they went in, each exactly once. Values still queued when
//!   both ends are gone are dropped with the ring.
//! - The two indices are monotonically increasing counters (wrapping at `usize::MAX`, which a
//!   ring of any capacity survives because only their difference is used), each on its own
//!   cache line; each side also caches the other's index so that the common case touches
//!   only its own line (Lamport's queue with the cached-index refinement rtrb uses).
//!
//! # Memory ordering
//!
//! The producer writes the slot, then publishes `tail` with `Release`; the consumer loads
//! `tail` with `Acquire` before reading the slot, so the write happens-before the read. In the
//! other direction the consumer moves the value out, then publishes `head` with `Release`; the
//! producer loads `head` with `Acquire` before overwriting that slot. Under `--cfg loom` the
//! tests at the bottom of this file check exactly this in every interleaving:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p tandem-core --release bus::
//! ```
//!
//! # Unsafe code
//!
//! The slots are `UnsafeCell<MaybeUninit<T>>`: the ring hands slot ownership back and forth
//! through the two indices, which the type system cannot see. This file is the crate's only
//! `unsafe` code; every block says why it is sound.

#![allow(unsafe_code)]
#![allow(unexpected_cfgs)]

use std::fmt;
use std::mem::MaybeUninit;

use crate::sync::{Arc, AtomicUsize, CachePadded, Ordering, UnsafeCell};

/// The ring was full: the value is handed back to the caller (rtrb's `PushError::Full`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> Full<T> {
    /// The value that was not queued.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is full")
    }
}

impl<T> std::error::Error for Full<T> {}

struct Shared<T> {
    /// Next position the consumer reads; written by the consumer only.
    head: CachePadded<AtomicUsize>,
    /// Next position the producer writes; written by the producer only.
    tail: CachePadded<AtomicUsize>,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: a slot is accessed by one side at a time, as handed over through `head` and `tail`
// (module docs), so sharing `Shared` between the producer's and the consumer's threads only
// ever moves `T` values from one thread to the other: `T: Send` suffices.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: as above; `Shared` owns the queued `T`s, which may be dropped on any thread.
unsafe impl<T: Send> Send for Shared<T> {}

impl<T> Shared<T> {
    fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn slot(&self, position: usize) -> &UnsafeCell<MaybeUninit<T>> {
        &self.slots[position % self.slots.len()]
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Both ends are gone (the last `Arc` is being dropped, with the acquire fence `Arc`
        // provides), so the indices are final.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut position = head;
        while position != tail {
            self.slot(position).with_mut(|slot| {
                // SAFETY: positions in head..tail were written by the producer and not yet
                // read by the consumer, so each holds an initialised value that nobody else
                // can reach any more; it is dropped exactly once here.
                unsafe { (*slot).assume_init_drop() }
            });
            position = position.wrapping_add(1);
        }
    }
}

/// The sending end. Not `Clone`: one producer. Move it to the producing thread.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    tail: usize,
    head_cache: usize,
}

/// The receiving end. Not `Clone`: one consumer. Move it to the consuming thread.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    head: usize,
    tail_cache: usize,
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.shared.capacity())
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("capacity", &self.shared.capacity())
            .finish_non_exhaustive()
    }
}

/// A ring of `capacity` slots. Allocates the slots; nothing else in this module allocates.
///
/// # Panics
///
/// If `capacity` is zero (a configuration bug).
pub fn channel<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    assert!(capacity > 0, "an SPSC ring needs at least one slot");
    let slots = (0..capacity)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let shared = Arc::new(Shared {
        head: CachePadded(AtomicUsize::new(0)),
        tail: CachePadded(AtomicUsize::new(0)),
        slots,
    });
    (
        Producer {
            shared: Arc::clone(&shared),
            tail: 0,
            head_cache: 0,
        },
        Consumer {
            shared,
            head: 0,
            tail_cache: 0,
        },
    )
}

impl<T> Producer<T> {
    /// Queues `value`, or hands it back in `Err(Full(value))` when the ring is full. Never
    /// blocks, never allocates.
    ///
    /// # Errors
    ///
    /// [`Full`] with the value when every slot is taken.
    pub fn push(&mut self, value: T) -> Result<(), Full<T>> {
        let capacity = self.shared.capacity();
        if self.tail.wrapping_sub(self.head_cache) == capacity {
            self.head_cache = self.shared.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head_cache) == capacity {
                return Err(Full(value));
            }
        }
        self.shared.slot(self.tail).with_mut(|slot| {
            // SAFETY: `tail - head < capacity` with `head` loaded with Acquire: the consumer
            // has finished moving out of every position below `head` (it publishes `head`
            // with Release after the read), so position `tail` (whose slot last held
            // position `tail - capacity < head`) is free, and the consumer will not touch it
            // until we publish `tail + 1`. We are the only producer.
            unsafe { (*slot).write(value) };
        });
        self.tail = self.tail.wrapping_add(1);
        self.shared.tail.store(self.tail, Ordering::Release);
        Ok(())
    }

    /// Slots free right now (a lower bound: the consumer may free more meanwhile).
    pub fn free(&mut self) -> usize {
        self.head_cache = self.shared.head.load(Ordering::Acquire);
        self.shared.capacity() - self.tail.wrapping_sub(self.head_cache)
    }

    /// The ring's capacity.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }
}

impl<T> Consumer<T> {
    /// The oldest queued value, if any. Never blocks, never allocates.
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.tail_cache {
            self.tail_cache = self.shared.tail.load(Ordering::Acquire);
            if self.head == self.tail_cache {
                return None;
            }
        }
        let value = self.shared.slot(self.head).with(|slot| {
            // SAFETY: `head < tail` with `tail` loaded with Acquire: the producer wrote this
            // slot before publishing `tail` with Release, so it holds an initialised value,
            // and the producer will not overwrite it until we publish `head + 1`. Reading
            // moves the value out; the slot is treated as uninitialised from then on.
            unsafe { (*slot).assume_init_read() }
        });
        self.head = self.head.wrapping_add(1);
        self.shared.head.store(self.head, Ordering::Release);
        Some(value)
    }

    /// Values queued right now (a lower bound: the producer may add more meanwhile).
    pub fn len(&mut self) -> usize {
        self.tail_cache = self.shared.tail.load(Ordering::Acquire);
        self.tail_cache.wrapping_sub(self.head)
    }

    /// True once the [`Producer`] is gone: after this returns true, [`pop`](Self::pop)
    /// sees every value the producer pushed, and nothing more will come.
    pub fn is_abandoned(&self) -> bool {
        let alone = Arc::strong_count(&self.shared) == 1;
        if alone {
            // The producer's `Arc` drop is a Release decrement; this fence pairs with it, so
            // every `tail` it published is visible to the next `pop`.
            crate::sync::fence(Ordering::Acquire);
        }
        alone
    }

    /// True when nothing is queued right now.
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// The ring's capacity.
    pub fn capacity(&self) -> usize {
        self.shared.capacity()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;

    #[test]
    fn values_come_out_in_order_once_each() {
        let (mut tx, mut rx) = channel(4);
        for i in 0..3 {
            tx.push(i).unwrap();
        }
        assert_eq!(rx.len(), 3);
        assert_eq!(
            (rx.pop(), rx.pop(), rx.pop(), rx.pop()),
            (Some(0), Some(1), Some(2), None)
        );
        assert!(rx.is_empty());
    }

    #[test]
    fn a_full_ring_hands_the_value_back() {
        let (mut tx, mut rx) = channel(2);
        tx.push("a").unwrap();
        tx.push("b").unwrap();
        assert_eq!(tx.push("c"), Err(Full("c")));
        assert_eq!(tx.free(), 0);
        assert_eq!(rx.pop(), Some("a"));
        assert_eq!(tx.free(), 1);
        tx.push("c").unwrap();
        assert_eq!((rx.pop(), rx.pop(), rx.pop()), (Some("b"), Some("c"), None));
    }

    #[test]
    fn indices_wrap_around_the_ring_many_times() {
        let (mut tx, mut rx) = channel(3);
        let mut next = 0u32;
        for round in 0..1000u32 {
            let burst = round % 4;
            let mut pushed = 0;
            for _ in 0..burst {
                if tx.push(round * 10 + pushed).is_ok() {
                    pushed += 1;
                }
            }
            for k in 0..pushed {
                assert_eq!(rx.pop(), Some(round * 10 + k));
                next += 1;
            }
        }
        assert!(next > 1000);
        assert_eq!(rx.pop(), None);
    }

    #[test]
    fn indices_survive_the_usize_wrap() {
        let (mut tx, mut rx) = channel(2);
        tx.tail = usize::MAX - 1;
        tx.head_cache = usize::MAX - 1;
        tx.shared.tail.store(usize::MAX - 1, Ordering::Relaxed);
        tx.shared.head.store(usize::MAX - 1, Ordering::Relaxed);
        rx.head = usize::MAX - 1;
        rx.tail_cache = usize::MAX - 1;
        for i in 0..10 {
            tx.push(i).unwrap();
            tx.push(i + 100).unwrap();
            assert!(tx.push(0).is_err());
            assert_eq!(rx.pop(), Some(i));
            assert_eq!(rx.pop(), Some(i + 100));
        }
    }

    #[test]
    fn values_left_in_the_ring_are_dropped_with_it() {
        static DROPS: StdAtomicUsize = StdAtomicUsize::new(0);
        struct Counted;
        impl Drop for Counted {
            fn drop(&mut self) {
                DROPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let (mut tx, mut rx) = channel(4);
        for _ in 0..3 {
            assert!(tx.push(Counted).is_ok());
        }
        drop(rx.pop());
        assert_eq!(DROPS.load(std::sync::atomic::Ordering::Relaxed), 1);
        drop(tx);
        drop(rx);
        assert_eq!(DROPS.load(std::sync::atomic::Ordering::Relaxed), 3);
    }

    #[test]
    fn threads_pass_many_values_in_order() {
        let (mut tx, mut rx) = channel(64);
        const N: u64 = 100_000;
        let producer = std::thread::spawn(move || {
            let mut i = 0;
            while i < N {
                if tx.push(i).is_ok() {
                    i += 1;
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        let mut expected = 0;
        while expected < N {
            if let Some(v) = rx.pop() {
                assert_eq!(v, expected);
                expected += 1;
            } else {
                std::hint::spin_loop();
            }
        }
        producer.join().unwrap();
    }
}

/// Model-checked under `RUSTFLAGS="--cfg loom"`: every interleaving of a producer and a
/// consumer thread on a ring shrunk to two slots.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    /// The ring capacity under loom: small, so that full, empty and wrap-around are all
    /// reached within a few operations.
    const CAPACITY: usize = 2;

    /// Explores every interleaving with at most three preemptions (tokio's CI bound; enough
    /// for a two-thread ring, whose bugs need one or two), overridable with loom's
    /// `LOOM_MAX_PREEMPTIONS`.
    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        builder.check(f);
    }

    #[test]
    fn push_then_pop_across_threads_delivers_in_order() {
        model(|| {
            let (mut tx, mut rx) = channel::<usize>(CAPACITY);
            let producer = thread::spawn(move || {
                let mut sent = 0;
                while sent < 3 {
                    match tx.push(sent) {
                        Ok(()) => sent += 1,
                        Err(Full(_)) => thread::yield_now(),
                    }
                }
            });
            let mut expected = 0;
            while expected < 3 {
                match rx.pop() {
                    Some(v) => {
                        assert_eq!(v, expected);
                        expected += 1;
                    }
                    None => thread::yield_now(),
                }
            }
            producer.join().unwrap();
            assert_eq!(rx.pop(), None);
        });
    }

    #[test]
    fn full_ring_returns_the_value_and_never_overwrites() {
        model(|| {
            let (mut tx, mut rx) = channel::<usize>(CAPACITY);
            tx.push(10).unwrap();
            tx.push(11).unwrap();
            let consumer = thread::spawn(move || {
                let first = rx.pop();
                (first, rx)
            });
            // Racing the consumer: either still full (value handed back) or one slot free.
            let third = tx.push(12);
            let (first, mut rx) = consumer.join().unwrap();
            assert_eq!(first, Some(10));
            let mut rest = Vec::new();
            while let Some(v) = rx.pop() {
                rest.push(v);
            }
            match third {
                Ok(()) => assert_eq!(rest, [11, 12]),
                Err(Full(v)) => {
                    assert_eq!(v, 12);
                    assert_eq!(rest, [11]);
                }
            }
        });
    }

    #[test]
    fn empty_ring_pops_nothing_until_published() {
        model(|| {
            let (mut tx, mut rx) = channel::<usize>(CAPACITY);
            let producer = thread::spawn(move || {
                tx.push(7).unwrap();
                tx
            });
            let seen = rx.pop();
            let _tx = producer.join().unwrap();
            match seen {
                Some(v) => {
                    assert_eq!(v, 7);
                    assert_eq!(rx.pop(), None);
                }
                None => assert_eq!(rx.pop(), Some(7)),
            }
        });
    }

    #[test]
    fn indices_wrap_around_while_both_sides_run() {
        model(|| {
            let (mut tx, mut rx) = channel::<usize>(CAPACITY);
            // Four values through two slots: every slot is reused.
            let producer = thread::spawn(move || {
                for v in 0..4 {
                    let mut value = v;
                    loop {
                        match tx.push(value) {
                            Ok(()) => break,
                            Err(Full(back)) => {
                                value = back;
                                thread::yield_now();
                            }
                        }
                    }
                }
            });
            let mut got = 0;
            while got < 4 {
                if let Some(v) = rx.pop() {
                    assert_eq!(v, got);
                    got += 1;
                } else {
                    thread::yield_now();
                }
            }
            producer.join().unwrap();
        });
    }

    #[test]
    fn values_left_behind_are_dropped_once() {
        model(|| {
            let value = loom::sync::Arc::new(());
            let (mut tx, rx) = channel::<loom::sync::Arc<()>>(CAPACITY);
            tx.push(loom::sync::Arc::clone(&value)).unwrap();
            let t = thread::spawn(move || drop(rx));
            drop(tx);
            t.join().unwrap();
            assert_eq!(loom::sync::Arc::strong_count(&value), 1);
        });
    }
}
