//! A fault-injection wrapper over any backend: seeded loss (uniform or Gilbert-Elliott
//! bursts), duplication, reordering and delay with jitter, on the receive path, the send
//! path, or both (smoltcp's `FaultInjector`, netem's vocabulary).
//!
//! # Determinism
//!
//! Every decision comes from a xoshiro256++ generator seeded from [`FaultConfig::seed`]
//! (one independent stream per direction), drawn in a fixed order per packet; time comes
//! only from the `now` the caller passes. The same seed, configuration, input packets and
//! `now` sequence give the same output, bit for bit.
//!
//! # Model, per packet and direction
//!
//! 1. **Loss**: [`Loss::Uniform`] drops with a fixed probability; [`Loss::GilbertElliott`]
//!    runs the two-state Markov chain (Gilbert 1960, Elliott 1963; RFC 3611 §4.7.2 uses it to
//!    describe bursts): the packet is lost with the current state's probability, then the
//!    state moves (good → bad with `p`, bad → good with `r`). Long-run loss:
//!    `(r·loss_good + p·loss_bad) / (p + r)`.
//! 2. **Delay**: `delay` plus a uniform draw in `0..=jitter`. Packets leave in order of their
//!    release time (ties in arrival order), so jitter larger than the packet interval
//!    reorders, as on a real network.
//! 3. **Reorder**: with probability `reorder` a packet is held `reorder_delay` longer, so
//!    the packets behind it overtake it.
//! 4. **Duplication**: with probability `duplicate` a copy follows, with its own delay draw.
//!
//! Delays count from the `now` of the call that took the packet in (the `recv_batch` that
//! pulled it off the inner backend, or the `send_batch` that was given it). Received packets
//! are released by the `recv_batch` whose `now` has reached their release time, with
//! [`RecvMeta::timestamp`] set to it; sent packets by the first `send_batch`
//! (possibly with no packets) whose `now` has, so a worker calling `send_batch` every tick
//! drains them. Packets wait in a queue of [`FaultConfig::queue_packets`] slots; a packet that
//! finds it full is dropped and counted in [`DirectionStats::overflow`].
//!
//! # Real-time
//!
//! Slots, the release heap, staging buffers and the free list are allocated at
//! construction; per batch the wrapper copies payloads in and out and never allocates. Work
//! per call is bounded by the caller's arrays, [`MAX_BATCH`] and the queue size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{ConfigError, IoError, PortError};
use crate::packet::{
    IoStats, MAX_BATCH, PACKET_BUF_BYTES, PacketBuf, PacketIo, PortPair, RecvMeta, SocketId,
    Timestamp, Transmit,
};

/// How packets are lost.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Loss {
    /// No loss.
    #[default]
    None,
    /// Each packet independently, with this probability.
    Uniform {
        /// Probability of loss, `0..=1`.
        probability: f64,
    },
    /// Bursts: a two-state Markov chain (see the [module docs](self)).
    GilbertElliott {
        /// Probability of moving from the good to the bad state after a packet.
        p: f64,
        /// Probability of moving from the bad to the good state after a packet.
        r: f64,
        /// Loss probability in the good state (often 0).
        loss_good: f64,
        /// Loss probability in the bad state (often 1).
        loss_bad: f64,
    },
}

impl Loss {
    /// The long-run loss rate this model converges to.
    pub fn expected_rate(&self) -> f64 {
        match *self {
            Self::None => 0.0,
            Self::Uniform { probability } => probability,
            Self::GilbertElliott {
                p,
                r,
                loss_good,
                loss_bad,
            } => {
                if p + r == 0.0 {
                    loss_good
                } else {
                    (r * loss_good + p * loss_bad) / (p + r)
                }
            }
        }
    }
}

/// Impairments of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Loss model.
    pub loss: Loss,
    /// Probability that a packet is duplicated.
    pub duplicate: f64,
    /// Probability that a packet is held back by `reorder_delay`.
    pub reorder: f64,
    /// Extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Base delay of every packet.
    pub delay: Duration,
    /// Uniform extra delay in `0..=jitter`.
    pub jitter: Duration,
}

impl Impairment {
    /// No impairment: packets pass through unchanged (still copied, in order).
    pub const NONE: Self = Self {
        loss: Loss::None,
        duplicate: 0.0,
        reorder: 0.0,
        reorder_delay: Duration::ZERO,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
    };

    fn validate(&self) -> Result<(), ConfigError> {
        let check = |name: &'static str, value: f64| {
            if value.is_finite() && (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(ConfigError::Probability { name, value })
            }
        };
        match self.loss {
            Loss::None => {}
            Loss::Uniform { probability } => check("loss.probability", probability)?,
            Loss::GilbertElliott {
                p,
                r,
                loss_good,
                loss_bad,
            } => {
                check("loss.p", p)?;
                check("loss.r", r)?;
                check("loss.loss_good", loss_good)?;
                check("loss.loss_bad", loss_bad)?;
            }
        }
        check("duplicate", self.duplicate)?;
        check("reorder", self.reorder)
    }
}

/// Configuration of a [`Faulty`] wrapper.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Seed of every random decision.
    pub seed: u64,
    /// Impairments of received packets.
    pub rx: Impairment,
    /// Impairments of sent packets.
    pub tx: Impairment,
    /// Slots of each direction's delay queue.
    pub queue_packets: usize,
}

impl FaultConfig {
    /// No impairment, a queue of 1024 packets per direction.
    pub const fn new(seed: u64) -> Self {
        Self {
            seed,
            rx: Impairment::NONE,
            tx: Impairment::NONE,
            queue_packets: 1024,
        }
    }
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectionStats {
    /// Packets that entered the wrapper.
    pub seen: u64,
    /// Packets dropped by the loss model.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Packets held back by the reorder rule.
    pub reordered: u64,
    /// Packets (or copies) dropped because the queue was full.
    pub overflow: u64,
    /// Packets (and copies) that left the wrapper.
    pub released: u64,
}

/// Counters of both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultStats {
    /// Receive path.
    pub rx: DirectionStats,
    /// Send path.
    pub tx: DirectionStats,
}

/// xoshiro256++ (Blackman and Vigna), seeded with SplitMix64: small, fast, and the same on
/// every platform.
#[derive(Debug, Clone)]
struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut split_mix = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self {
            s: [split_mix(), split_mix(), split_mix(), split_mix()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn chance(&mut self, probability: f64) -> bool {
        self.next_f64() < probability
    }

    /// Uniform in `0..=max`.
    fn duration(&mut self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next_u64() % nanos.saturating_add(1).max(1))
    }
}

/// A queued packet: payload plus whatever the direction needs to send or deliver it.
#[derive(Debug, Clone, Copy)]
struct Held {
    len: usize,
    meta: RecvMeta,
    socket: SocketId,
    destination: SocketAddr,
}

/// One direction's impairment state and delay queue.
#[derive(Debug)]
struct Lane {
    impairment: Impairment,
    rng: Rng,
    bad_state: bool,
    slots: Vec<PacketBuf>,
    held: Vec<Held>,
    free: Vec<u32>,
    /// (release time, arrival sequence, slot): a min-heap by release time, then arrival.
    heap: BinaryHeap<Reverse<(Timestamp, u64, u32)>>,
    sequence: u64,
    stats: DirectionStats,
}

impl Lane {
    fn new(impairment: Impairment, seed: u64, capacity: usize) -> Self {
        Self {
            impairment,
            rng: Rng::new(seed),
            bad_state: false,
            slots: PacketBuf::new_vec(capacity),
            held: vec![
                Held {
                    len: 0,
                    meta: RecvMeta::EMPTY,
                    socket: SocketId::new(0),
                    destination: RecvMeta::EMPTY.source,
                };
                capacity
            ],
            free: (0..capacity as u32).rev().collect(),
            heap: BinaryHeap::with_capacity(capacity),
            sequence: 0,
            stats: DirectionStats::default(),
        }
    }

    fn lost(&mut self) -> bool {
        match self.impairment.loss {
            Loss::None => false,
            Loss::Uniform { probability } => self.rng.chance(probability),
            Loss::GilbertElliott {
                p,
                r,
                loss_good,
                loss_bad,
            } => {
                let lost = self
                    .rng
                    .chance(if self.bad_state { loss_bad } else { loss_good });
                let flip = self.rng.chance(if self.bad_state { r } else { p });
                self.bad_state ^= flip;
                lost
            }
        }
    }

    /// Runs one packet through loss, delay, reorder and duplication, queueing what
    /// survives.
    fn admit(&mut self, now: Timestamp, payload: &[u8], held: Held) {
        self.stats.seen += 1;
        if self.lost() {
            self.stats.lost += 1;
            return;
        }
        let imp = self.impairment;
        let duplicate = self.rng.chance(imp.duplicate);
        let reorder = self.rng.chance(imp.reorder);
        let mut delay = imp.delay + self.rng.duration(imp.jitter);
        if reorder {
            self.stats.reordered += 1;
            delay += imp.reorder_delay;
        }
        self.enqueue(now.saturating_add(delay), payload, held);
        if duplicate {
            self.stats.duplicated += 1;
            let delay = imp.delay + self.rng.duration(imp.jitter);
            self.enqueue(now.saturating_add(delay), payload, held);
        }
    }

    fn enqueue(&mut self, release: Timestamp, payload: &[u8], held: Held) {
        let Some(slot) = self.free.pop() else {
            self.stats.overflow += 1;
            return;
        };
        let len = payload.len().min(PACKET_BUF_BYTES);
        self.slots[slot as usize].bytes_mut()[..len].copy_from_slice(&payload[..len]);
        self.held[slot as usize] = Held { len, ..held };
        self.heap.push(Reverse((release, self.sequence, slot)));
        self.sequence += 1;
    }

    /// The slot of the next packet due at `now`, taken off the heap (its slot is still
    /// reserved; give it back with `release_slot`).
    fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, u32)> {
        let &Reverse((release, _, slot)) = self.heap.peek()?;
        if release > now {
            return None;
        }
        self.heap.pop();
        self.stats.released += 1;
        Some((release, slot))
    }

    fn release_slot(&mut self, slot: u32) {
        self.free.push(slot);
    }

    fn pending(&self) -> usize {
        self.heap.len()
    }
}

/// Impairs the packets of any backend; see the [module docs](self).
#[derive(Debug)]
pub struct Faulty<B> {
    inner: B,
    rx: Lane,
    tx: Lane,
    stage_bufs: Vec<PacketBuf>,
    stage_meta: Vec<RecvMeta>,
}

impl<B: PacketIo> Faulty<B> {
    /// Wraps `inner`. Allocates the queues and staging buffers.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Probability`] for a probability outside `0..=1`;
    /// [`ConfigError::Capacity`] for an empty queue.
    pub fn new(inner: B, config: FaultConfig) -> Result<Self, ConfigError> {
        config.rx.validate()?;
        config.tx.validate()?;
        if config.queue_packets == 0 || config.queue_packets > u32::MAX as usize {
            return Err(ConfigError::Capacity {
                name: "queue_packets",
                value: config.queue_packets,
                min: 1,
            });
        }
        // Independent streams per direction, so send traffic never shifts receive decisions.
        let mut seeds = Rng::new(config.seed);
        Ok(Self {
            inner,
            rx: Lane::new(config.rx, seeds.next_u64(), config.queue_packets),
            tx: Lane::new(config.tx, seeds.next_u64(), config.queue_packets),
            stage_bufs: PacketBuf::new_vec(MAX_BATCH),
            stage_meta: RecvMeta::new_vec(MAX_BATCH),
        })
    }

    /// The wrapped backend.
    pub const fn inner(&self) -> &B {
        &self.inner
    }

    /// The wrapped backend.
    pub const fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// Counters of both directions.
    pub const fn fault_stats(&self) -> FaultStats {
        FaultStats {
            rx: self.rx.stats,
            tx: self.tx.stats,
        }
    }

    /// Packets waiting in the receive and send queues.
    pub fn pending(&self) -> (usize, usize) {
        (self.rx.pending(), self.tx.pending())
    }
}

impl<B: PacketIo> PacketIo for Faulty<B> {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        self.inner.open_pair()
    }

    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        self.inner.close_pair(pair)
    }

    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        self.inner.local_addr(socket)
    }

    fn socket_id_max(&self) -> usize {
        self.inner.socket_id_max()
    }

    fn recv_batch(
        &mut self,
        now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        // Pull at most what the queue can hold, so the inner backend keeps the rest.
        let room = self.rx.free.len().min(MAX_BATCH);
        if room > 0 {
            let n = self.inner.recv_batch(
                now,
                &mut self.stage_bufs[..room],
                &mut self.stage_meta[..room],
            )?;
            for (buf, m) in self.stage_bufs.iter().zip(&self.stage_meta).take(n) {
                let held = Held {
                    len: m.len,
                    meta: *m,
                    socket: m.socket,
                    destination: m.destination,
                };
                self.rx.admit(now, buf.payload(m.len), held);
            }
        }
        let mut filled = 0;
        for (buf, m) in bufs.iter_mut().zip(meta.iter_mut()) {
            let Some((release, slot)) = self.rx.pop_due(now) else {
                break;
            };
            let held = self.rx.held[slot as usize];
            buf.bytes_mut()[..held.len]
                .copy_from_slice(self.rx.slots[slot as usize].payload(held.len));
            *m = RecvMeta {
                len: held.len,
                timestamp: Some(release),
                ..held.meta
            };
            self.rx.release_slot(slot);
            filled += 1;
        }
        Ok(filled)
    }

    fn send_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        for p in packets {
            let held = Held {
                len: p.payload.len(),
                meta: RecvMeta::EMPTY,
                socket: p.socket,
                destination: p.destination,
            };
            self.tx.admit(now, p.payload, held);
        }
        let mut sent = 0;
        // Bounded by the queue: each round releases up to MAX_BATCH due packets.
        loop {
            let mut due = [0u32; MAX_BATCH];
            let mut n = 0;
            while n < MAX_BATCH {
                let Some((_, slot)) = self.tx.pop_due(now) else {
                    break;
                };
                due[n] = slot;
                n += 1;
            }
            if n == 0 {
                break;
            }
            let lane = &self.tx;
            let transmits: [Transmit<'_>; MAX_BATCH] = std::array::from_fn(|k| {
                let slot = due[k.min(n - 1)] as usize;
                let held = &lane.held[slot];
                Transmit {
                    socket: held.socket,
                    destination: held.destination,
                    payload: lane.slots[slot].payload(held.len),
                }
            });
            let result = self.inner.send_batch(now, &transmits[..n]);
            for &slot in &due[..n] {
                self.tx.release_slot(slot);
            }
            sent += result?;
        }
        Ok(sent)
    }

    fn stats(&self) -> IoStats {
        self.inner.stats()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::packet::PortRange;

    /// A backend that yields `total` packets, one per call slot, each holding its sequence
    /// number, and records what is sent through it.
    struct Source {
        next: u32,
        total: u32,
        sent: Vec<u32>,
    }

    impl Source {
        fn new(total: u32) -> Self {
            Self {
                next: 0,
                total,
                sent: Vec::new(),
            }
        }
    }

    impl PacketIo for Source {
        fn open_pair(&mut self) -> Result<PortPair, PortError> {
            Err(PortError::Exhausted { min: 0, max: 0 })
        }
        fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
            Err(PortError::NotOpen {
                port: pair.rtp_port,
            })
        }
        fn local_addr(&self, _: SocketId) -> Option<SocketAddr> {
            None
        }
        fn socket_id_max(&self) -> usize {
            1
        }
        fn recv_batch(
            &mut self,
            _now: Timestamp,
            bufs: &mut [PacketBuf],
            meta: &mut [RecvMeta],
        ) -> Result<usize, IoError> {
            let mut n = 0;
            for (b, m) in bufs.iter_mut().zip(meta.iter_mut()) {
                if self.next == self.total {
                    break;
                }
                b.bytes_mut()[..4].copy_from_slice(&self.next.to_be_bytes());
                *m = RecvMeta {
                    len: 4,
                    ..RecvMeta::EMPTY
                };
                self.next += 1;
                n += 1;
            }
            Ok(n)
        }
        fn send_batch(
            &mut self,
            _now: Timestamp,
            packets: &[Transmit<'_>],
        ) -> Result<usize, IoError> {
            for p in packets {
                self.sent
                    .push(u32::from_be_bytes(p.payload[..4].try_into().unwrap()));
            }
            Ok(packets.len())
        }
        fn stats(&self) -> IoStats {
            IoStats::default()
        }
    }

    /// Receives everything through the wrapper, advancing `now` by 1 ms per call, and
    /// returns the sequence numbers in delivery order.
    fn drain(faulty: &mut Faulty<Source>, calls: u64) -> Vec<u32> {
        let mut bufs = PacketBuf::new_vec(MAX_BATCH);
        let mut meta = RecvMeta::new_vec(MAX_BATCH);
        let mut out = Vec::new();
        for t in 0..calls {
            let n = faulty
                .recv_batch(Timestamp::from_millis(t), &mut bufs, &mut meta)
                .unwrap();
            for buf in &bufs[..n] {
                out.push(u32::from_be_bytes(buf.payload(4).try_into().unwrap()));
            }
        }
        out
    }

    fn rx_only(seed: u64, rx: Impairment) -> FaultConfig {
        FaultConfig {
            rx,
            queue_packets: 4096,
            ..FaultConfig::new(seed)
        }
    }

    const N: u32 = 100_000;

    #[test]
    fn uniform_loss_matches_the_configured_rate() {
        let config = rx_only(
            7,
            Impairment {
                loss: Loss::Uniform { probability: 0.05 },
                ..Impairment::NONE
            },
        );
        let mut f = Faulty::new(Source::new(N), config).unwrap();
        let got = drain(&mut f, u64::from(N) / 16);
        let rate = 1.0 - got.len() as f64 / f64::from(N);
        assert!((rate - 0.05).abs() < 0.005, "loss rate {rate}");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "no delay: order kept");
        let stats = f.fault_stats().rx;
        assert_eq!(stats.seen, u64::from(N));
        assert_eq!(stats.lost + stats.released, stats.seen);
    }

    #[test]
    fn gilbert_elliott_loss_matches_its_stationary_rate_and_comes_in_bursts() {
        let loss = Loss::GilbertElliott {
            p: 0.02,
            r: 0.25,
            loss_good: 0.0,
            loss_bad: 1.0,
        };
        let expected = loss.expected_rate();
        assert!((expected - 0.02 / 0.27).abs() < 1e-12);
        let mut f = Faulty::new(
            Source::new(N),
            rx_only(
                11,
                Impairment {
                    loss,
                    ..Impairment::NONE
                },
            ),
        )
        .unwrap();
        let got = drain(&mut f, u64::from(N) / 16);
        let rate = 1.0 - got.len() as f64 / f64::from(N);
        assert!(
            (rate - expected).abs() < 0.01,
            "loss rate {rate}, expected {expected}"
        );
        // Mean burst length of the bad state is 1 / r = 4 packets.
        let bursts = got.windows(2).filter(|w| w[1] - w[0] > 1).count();
        let mean_burst = (f64::from(N) - got.len() as f64) / bursts as f64;
        assert!((mean_burst - 4.0).abs() < 0.4, "mean burst {mean_burst}");
    }

    #[test]
    fn duplication_and_reordering_match_their_rates() {
        let config = rx_only(
            3,
            Impairment {
                duplicate: 0.02,
                reorder: 0.03,
                reorder_delay: Duration::from_millis(2),
                ..Impairment::NONE
            },
        );
        let mut f = Faulty::new(Source::new(N), config).unwrap();
        let got = drain(&mut f, u64::from(N) / 16 + 10);
        let stats = f.fault_stats().rx;
        let n = f64::from(N);
        assert!((stats.duplicated as f64 / n - 0.02).abs() < 0.003);
        assert!((stats.reordered as f64 / n - 0.03).abs() < 0.003);
        assert_eq!(got.len() as u64, u64::from(N) + stats.duplicated);
        assert_eq!(stats.overflow, 0);
        let late = got.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(late > 0, "held packets arrive after later ones");
        let mut sorted = got.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), N as usize, "nothing lost");
    }

    #[test]
    fn delay_with_jitter_holds_packets_until_due() {
        let config = rx_only(
            5,
            Impairment {
                delay: Duration::from_millis(40),
                jitter: Duration::from_millis(10),
                ..Impairment::NONE
            },
        );
        let mut f = Faulty::new(Source::new(64), config).unwrap();
        let mut bufs = PacketBuf::new_vec(MAX_BATCH);
        let mut meta = RecvMeta::new_vec(MAX_BATCH);
        let mut total = 0;
        for t in 0..70u64 {
            let now = Timestamp::from_millis(t);
            let n = f.recv_batch(now, &mut bufs, &mut meta).unwrap();
            if t < 40 {
                assert_eq!(n, 0, "nothing before the base delay");
            }
            for m in &meta[..n] {
                let ts = m.timestamp.unwrap();
                assert!(ts <= now && ts >= Timestamp::from_millis(40));
            }
            total += n;
        }
        assert_eq!(total, 64, "all released within delay + jitter");
    }

    #[test]
    fn identical_seeds_give_identical_outcomes() {
        let imp = Impairment {
            loss: Loss::GilbertElliott {
                p: 0.05,
                r: 0.3,
                loss_good: 0.01,
                loss_bad: 0.7,
            },
            duplicate: 0.01,
            reorder: 0.02,
            reorder_delay: Duration::from_millis(3),
            delay: Duration::from_millis(1),
            jitter: Duration::from_millis(4),
        };
        let run = |seed| {
            let mut f = Faulty::new(Source::new(20_000), rx_only(seed, imp)).unwrap();
            (drain(&mut f, 2_000), f.fault_stats())
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a.0, run(43).0);
    }

    #[test]
    fn send_path_delays_and_loses_independently_of_receive() {
        let config = FaultConfig {
            tx: Impairment {
                loss: Loss::Uniform { probability: 0.1 },
                delay: Duration::from_millis(5),
                ..Impairment::NONE
            },
            ..FaultConfig::new(9)
        };
        let mut f = Faulty::new(Source::new(0), config).unwrap();
        let dest = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9);
        let payloads: Vec<[u8; 4]> = (0u32..1000).map(u32::to_be_bytes).collect();
        for (t, chunk) in payloads.chunks(10).enumerate() {
            let packets: Vec<_> = chunk
                .iter()
                .map(|p| Transmit {
                    socket: SocketId::new(0),
                    destination: dest,
                    payload: p,
                })
                .collect();
            f.send_batch(Timestamp::from_millis(t as u64), &packets)
                .unwrap();
        }
        assert!(f.pending().1 > 0, "the last 5 ms are still queued");
        f.send_batch(Timestamp::from_millis(1_000), &[]).unwrap();
        assert_eq!(f.pending().1, 0);
        let sent = &f.inner().sent;
        let rate = 1.0 - sent.len() as f64 / 1000.0;
        assert!((rate - 0.1).abs() < 0.03, "tx loss {rate}");
        assert!(sent.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(f.fault_stats().rx, DirectionStats::default());
    }

    #[test]
    fn rejects_probabilities_outside_zero_to_one() {
        let mut config = FaultConfig::new(1);
        config.rx.duplicate = 1.5;
        assert!(matches!(
            Faulty::new(Source::new(0), config),
            Err(ConfigError::Probability {
                name: "duplicate",
                ..
            })
        ));
        let mut config = FaultConfig::new(1);
        config.tx.loss = Loss::Uniform {
            probability: f64::NAN,
        };
        assert!(Faulty::new(Source::new(0), config).is_err());
    }

    #[test]
    fn wraps_a_loopback_endpoint() {
        use crate::packet::loopback::{LoopbackConfig, LoopbackNet};
        let net = LoopbackNet::new();
        let ip = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
        let mut a = net
            .endpoint(LoopbackConfig::new(ip, PortRange::new(1000, 1009).unwrap()))
            .unwrap();
        let b = net
            .endpoint(LoopbackConfig::new(
                IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)),
                PortRange::new(2000, 2009).unwrap(),
            ))
            .unwrap();
        let mut b = Faulty::new(
            b,
            rx_only(
                1,
                Impairment {
                    delay: Duration::from_millis(20),
                    ..Impairment::NONE
                },
            ),
        )
        .unwrap();
        let pa = a.open_pair().unwrap();
        let pb = b.open_pair().unwrap();
        let t = Transmit {
            socket: pa.rtp,
            destination: b.local_addr(pb.rtp).unwrap(),
            payload: b"rtp",
        };
        a.send_batch(Timestamp::ZERO, &[t]).unwrap();
        let mut bufs = PacketBuf::new_vec(2);
        let mut meta = RecvMeta::new_vec(2);
        // The delay counts from the call that pulled the packet off the inner backend.
        assert_eq!(
            b.recv_batch(Timestamp::from_millis(10), &mut bufs, &mut meta),
            Ok(0)
        );
        assert_eq!(
            b.recv_batch(Timestamp::from_millis(29), &mut bufs, &mut meta),
            Ok(0)
        );
        assert_eq!(
            b.recv_batch(Timestamp::from_millis(30), &mut bufs, &mut meta),
            Ok(1)
        );
        assert_eq!(meta[0].socket, pb.rtp);
        assert_eq!(bufs[0].payload(meta[0].len), b"rtp");
    }
}
