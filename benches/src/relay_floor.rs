//! The relay's zero-overhead floor: the kernel work of relaying RTP between legs, with no
//! engine around it.
//!
//! Tandem's relay targets are set in calls per core, and most of a relayed packet's cost is
//! the kernel's (receive, send, and on loopback the delivery into the peer's socket). To
//! tell the engine's share from the kernel's, `engine_bench --engine floor` replaces the
//! runtime with this loop and runs the same load against it in the same run, as the
//! transcoding figures are measured against a tight loop of the same codec calls.
//!
//! The floor makes exactly the system calls a media worker makes for a relay, through the
//! same backend ([`KernelIo`], `udp` or `uring`, sockets configured as `Runtime::start`
//! configures them, kernel receive timestamps included), paced the same way (an
//! absolute-deadline [`TickClock`] of 10 ms, on one pinned thread): each tick it drains the
//! receive side and sends every datagram out of the other leg of its pair to the address
//! that leg last heard from, in one flush. It does nothing else: no RTP parsing, no source
//! locking, no header rewriting, no RTCP, no control plane. Whatever the engine costs above
//! it is the engine's own code.
//!
//! Steady state allocates nothing: the buffers and the peer table are built before the
//! first tick.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use tandem_core::worker::{
    MAX_RX_BATCHES_PER_TICK, StatsSnapshot, TICK, TICK_COST_BUCKETS_US, TickClock,
};
use tandem_drivers::packet::kernel::{IoKind, KernelIo};
use tandem_drivers::packet::udp::UdpConfig;
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortPair, RecvMeta, SocketId, Timestamp, Transmit,
};

/// What the floor counted, readable while it runs, in a worker's terms.
#[derive(Debug, Default)]
pub struct FloorCounters {
    missed: AtomicU64,
    received: AtomicU64,
    sent: AtomicU64,
    ticks: AtomicU64,
    max_tick_ns: AtomicU64,
    /// Tick costs in the worker's histogram buckets ([`TICK_COST_BUCKETS_US`], then the rest).
    cost_buckets: [AtomicU64; TICK_COST_BUCKETS_US.len() + 1],
}

impl FloorCounters {
    /// The counts so far as a worker's [`StatsSnapshot`] (ticks, missed deadlines, tick
    /// costs, datagrams in and out), so that the bench reports both alike.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = Ordering::Relaxed;
        let mut s = StatsSnapshot {
            ticks: self.ticks.load(r),
            missed_deadlines: self.missed.load(r),
            cost_max_ns: self.max_tick_ns.load(r),
            rx_packets: self.received.load(r),
            tx_packets: self.sent.load(r),
            ..StatsSnapshot::default()
        };
        for (to, from) in s.cost_buckets.iter_mut().zip(&self.cost_buckets) {
            *to = from.load(r);
        }
        s
    }

    fn record_tick(&self, cost_ns: u64) {
        let us = cost_ns / 1000;
        let bucket = TICK_COST_BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(TICK_COST_BUCKETS_US.len());
        self.cost_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.max_tick_ns.fetch_max(cost_ns, Ordering::Relaxed);
    }
}

/// A running floor: `legs` RTP sockets in pairs (leg `2k` and `2k + 1` relay to each other).
#[derive(Debug)]
pub struct RelayFloor {
    /// The legs' RTP addresses, for the load process.
    pub legs: Vec<SocketAddr>,
    /// What it counted.
    pub counters: Arc<FloorCounters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RelayFloor {
    /// Opens `calls` pairs of legs on `kind` over `socket` and starts relaying on a thread
    /// pinned to `cpu` (when the system lets it).
    ///
    /// # Errors
    ///
    /// When the backend or a socket cannot be opened, or io_uring was asked for and is
    /// unavailable (the floor must measure the backend it names).
    pub fn start(
        kind: IoKind,
        mut socket: UdpConfig,
        calls: usize,
        cpu: Option<usize>,
    ) -> Result<Self, String> {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(FloorCounters::default());
        socket.rx_timestamps = true;
        let thread = {
            let (stop, counters) = (Arc::clone(&stop), Arc::clone(&counters));
            std::thread::Builder::new()
                .name("relay-floor".into())
                .spawn(move || {
                    if let Some(cpu) = cpu {
                        pin_to(cpu);
                    }
                    // Built on its own thread, as a worker builds its backend.
                    let opened = open(kind, socket, calls);
                    let (mut io, pairs) = match opened {
                        Ok(built) => built,
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                            return;
                        }
                    };
                    let legs = pairs
                        .iter()
                        .map(|p| io.local_addr(p.rtp).ok_or("a leg has no address"))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(str::to_owned);
                    let failed = legs.is_err();
                    let _ = started_tx.send(legs);
                    if !failed {
                        relay(&mut io, &pairs, &stop, &counters);
                    }
                })
                .map_err(|e| e.to_string())?
        };
        let legs = started_rx
            .recv()
            .map_err(|_| "the floor's thread died".to_owned())??;
        Ok(Self {
            legs,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the loop and closes the sockets.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RelayFloor {
    fn drop(&mut self) {
        self.halt();
    }
}

fn open(
    kind: IoKind,
    socket: UdpConfig,
    calls: usize,
) -> Result<(KernelIo, Vec<PortPair>), String> {
    let (mut io, fallback) = KernelIo::open(kind, socket).map_err(|e| e.to_string())?;
    if let Some(reason) = fallback {
        return Err(format!("io_uring unavailable ({reason})"));
    }
    let pairs = (0..2 * calls)
        .map(|_| io.open_pair().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((io, pairs))
}

/// Pins the calling thread to `cpu` (best effort: unpinned if the system refuses).
pub fn pin_to(cpu: usize) {
    use nix::sched::{CpuSet, sched_setaffinity};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = sched_setaffinity(Pid::from_raw(0), &set);
    }
}

/// The loop: every tick, each datagram received on leg `i` leaves from leg `i ^ 1` towards
/// the address leg `i ^ 1` last heard from (dropped until it has heard from one).
fn relay(io: &mut KernelIo, pairs: &[PortPair], stop: &AtomicBool, counters: &FloorCounters) {
    // Socket index → leg, and each leg's peer: built once.
    let mut leg_of = vec![usize::MAX; io.socket_id_max()];
    for (leg, pair) in pairs.iter().enumerate() {
        if let Some(slot) = leg_of.get_mut(pair.rtp.index()) {
            *slot = leg;
        }
    }
    let mut peer: Vec<Option<SocketAddr>> = vec![None; pairs.len()];
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    let mut clock = TickClock::new(TICK);
    let (mut received, mut sent) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let info = clock.wait();
        let started = std::time::Instant::now();
        if info.missed() > 0 {
            counters.missed.fetch_add(info.missed(), Ordering::Relaxed);
        }
        let now = Timestamp::from_micros(info.now_us);
        for _ in 0..MAX_RX_BATCHES_PER_TICK {
            let n = io.recv_batch(now, &mut bufs, &mut meta).unwrap_or(0);
            received += n as u64;
            let unused = SocketId::new(0);
            let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
            let mut out = [Transmit {
                socket: unused,
                destination: nowhere,
                payload: &[],
            }; MAX_BATCH];
            let mut queued = 0;
            for (buf, m) in bufs.iter().zip(&meta).take(n) {
                let Some(&leg) = leg_of.get(m.socket.index()) else {
                    continue;
                };
                if leg == usize::MAX || m.truncated {
                    continue;
                }
                peer[leg] = Some(m.source);
                let other = leg ^ 1;
                if let Some(destination) = peer[other] {
                    out[queued] = Transmit {
                        socket: pairs[other].rtp,
                        destination,
                        payload: buf.payload(m.len),
                    };
                    queued += 1;
                }
            }
            sent += io.queue_batch(now, &out[..queued]).unwrap_or(0) as u64;
            if n < MAX_BATCH {
                break;
            }
        }
        let _ = io.flush(now);
        counters.received.store(received, Ordering::Relaxed);
        counters.sent.store(sent, Ordering::Relaxed);
        counters.record_tick(started.elapsed().as_nanos() as u64);
    }
}
