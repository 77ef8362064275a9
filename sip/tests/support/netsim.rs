//! A virtual lossy network for transaction-layer tests (STYLE rule 9: virtual time).
//!
//! Datagrams are delayed by a seeded random delay (so they may reorder), dropped with
//! probability `loss` and duplicated with probability `duplicate`. The clock never reads the
//! wall: [`Sim::run`] jumps to the earliest of the next delivery, the next layer timeout and
//! the next timer of a node's TU. Everything is deterministic for a given seed.

#![allow(dead_code, unreachable_pub)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tandem_sip::message::{Message, Transport};
use tandem_sip::transaction::{Event, Input, TransactionLayer, Transmit};

/// The one wall-clock read of a test: virtual time starts here.
#[allow(clippy::disallowed_methods)]
pub fn epoch() -> Instant {
    Instant::now()
}

/// SplitMix64: small, seeded, good enough to draw faults.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = (hi - lo).as_micros() as u64;
        lo + Duration::from_micros(if span == 0 {
            0
        } else {
            self.next_u64() % (span + 1)
        })
    }

    /// 16 bytes for a layer's branch seed.
    pub fn seed16(&mut self) -> [u8; 16] {
        let mut s = [0u8; 16];
        s[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        s[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        s
    }
}

/// What the network does to datagrams.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// One-way delay bounds.
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Faults {
    /// A perfect network with a fixed 10 ms delay (no reordering).
    pub const PERFECT: Self = Self {
        loss: 0.0,
        duplicate: 0.0,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };

    /// Lossy: `loss`, 5% duplicates, 5–150 ms delay (so reordering too).
    pub fn lossy(loss: f64) -> Self {
        Self {
            loss,
            duplicate: 0.05,
            min_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(150),
        }
    }
}

/// One datagram on the wire, for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wire {
    pub at: Duration,
    pub from: SocketAddr,
    pub to: SocketAddr,
    /// `INVITE`, `ACK`, `180`, `200/INVITE`…: the method, or status and CSeq method.
    pub what: String,
    pub dropped: bool,
}

/// A node's TU: reacts to the layer's events and may have timers of its own.
pub trait Tu {
    /// Handles one event (may call the layer).
    fn on_event(&mut self, now: Instant, layer: &mut TransactionLayer, event: Event);
    /// The TU's next timer.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Fires the TU's timers due at `now`.
    fn on_timeout(&mut self, now: Instant, layer: &mut TransactionLayer);
}

/// A node: an address, a transaction layer and its TU.
pub struct Node<T> {
    pub addr: SocketAddr,
    pub layer: TransactionLayer,
    pub tu: T,
}

struct InFlight {
    to: SocketAddr,
    from: SocketAddr,
    transport: Transport,
    bytes: Vec<u8>,
}

/// Nodes on one virtual network.
pub struct Sim<T> {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Node<T>>,
    pub faults: Faults,
    pub rng: Rng,
    pub trace: Vec<Wire>,
    queue: BinaryHeap<Reverse<(Instant, u64)>>,
    flights: std::collections::HashMap<u64, InFlight>,
    seq: u64,
}

/// Summarizes a message for the trace.
pub fn describe(bytes: &[u8]) -> String {
    match Message::parse(bytes) {
        Ok(Message::Request(r)) => r.method.to_string(),
        Ok(Message::Response(r)) => {
            let method = r
                .headers
                .cseq()
                .map(|c| c.method.to_string())
                .unwrap_or_default();
            format!("{}/{method}", r.status.as_u16())
        }
        Err(_) => "garbage".into(),
    }
}

impl<T: Tu> Sim<T> {
    pub fn new(t0: Instant, nodes: Vec<Node<T>>, faults: Faults, seed: u64) -> Self {
        Self {
            t0,
            now: t0,
            nodes,
            faults,
            rng: Rng::new(seed),
            trace: Vec::new(),
            queue: BinaryHeap::new(),
            flights: std::collections::HashMap::new(),
            seq: 0,
        }
    }

    fn send(&mut self, from: SocketAddr, t: Transmit) {
        let lost = self.rng.chance(self.faults.loss);
        self.trace.push(Wire {
            at: self.now - self.t0,
            from,
            to: t.destination,
            what: describe(&t.bytes),
            dropped: lost,
        });
        if lost {
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = self
                .rng
                .between(self.faults.min_delay, self.faults.max_delay);
            self.seq += 1;
            self.queue.push(Reverse((self.now + delay, self.seq)));
            self.flights.insert(
                self.seq,
                InFlight {
                    to: t.destination,
                    from,
                    transport: t.transport.clone(),
                    bytes: t.bytes.clone(),
                },
            );
        }
    }

    /// Drains every node's events and transmits until nothing is left.
    pub fn settle(&mut self) {
        loop {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                while let Some(e) = self.nodes[i].layer.poll_event() {
                    busy = true;
                    let node = &mut self.nodes[i];
                    node.tu.on_event(self.now, &mut node.layer, e);
                }
                while let Some(t) = self.nodes[i].layer.poll_transmit() {
                    busy = true;
                    let from = self.nodes[i].addr;
                    self.send(from, t);
                }
            }
            if !busy {
                return;
            }
        }
    }

    /// The next instant anything happens.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let deliveries = self.queue.peek().map(|Reverse((at, _))| *at);
        self.nodes
            .iter()
            .flat_map(|n| [n.layer.poll_timeout(), n.tu.poll_timeout()])
            .chain([deliveries])
            .flatten()
            .min()
    }

    /// Runs until nothing is left to happen or `until` (from t0) passes.
    pub fn run(&mut self, until: Duration) {
        self.settle();
        while let Some(at) = self.next_wakeup() {
            if at > self.t0 + until {
                break;
            }
            self.step(at.max(self.now));
        }
    }

    /// Advances to `now` and does everything due then.
    pub fn step(&mut self, now: Instant) {
        self.now = now;
        while let Some(&Reverse((at, seq))) = self.queue.peek() {
            if at > now {
                break;
            }
            self.queue.pop();
            let Some(f) = self.flights.remove(&seq) else {
                continue;
            };
            if let Some(node) = self.nodes.iter_mut().find(|n| n.addr == f.to) {
                node.layer.handle(
                    now,
                    Input::Received {
                        source: f.from,
                        local: f.to,
                        transport: f.transport,
                        connection: None,
                        bytes: &f.bytes,
                    },
                );
            }
            self.settle();
        }
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            if node.layer.poll_timeout().is_some_and(|t| t <= now) {
                node.layer.handle(now, Input::Timeout);
            }
            if node.tu.poll_timeout().is_some_and(|t| t <= now) {
                node.tu.on_timeout(now, &mut node.layer);
            }
            self.settle();
        }
    }

    /// The delivered (not dropped) trace as `from->to what` with node indexes, for flows.
    pub fn delivered(&self) -> Vec<String> {
        let index = |a: SocketAddr| self.nodes.iter().position(|n| n.addr == a).unwrap_or(99);
        self.trace
            .iter()
            .filter(|w| !w.dropped)
            .map(|w| format!("{}->{} {}", index(w.from), index(w.to), w.what))
            .collect()
    }
}
