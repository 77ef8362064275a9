//! One load thread: a set of loadgen endpoints (caller or callee sockets of some calls),
//! sending paced RTP to the engine and accounting what the engine sends back.
//!
//! A shard owns its sockets (a [`UdpIo`] from tandem-drivers: `sendmmsg`/`recvmmsg`
//! batches, kernel receive timestamps) and is driven in two steps: [`Shard::spawn`] opens
//! the sockets and reports their addresses (which go into the SDP), [`Shard::start`] hands
//! it the plan (where the engine wants each stream, what to send), and [`Shard::finish`]
//! returns its counters when the run is over.
//!
//! Pacing: time is cut into 1 ms slots on absolute deadlines; endpoint `i` of `n` sends in
//! slot `i · 20 / n` of every 20 ms, so the load is spread over the packet time as real calls
//! are, rather than arriving in one burst. Each slot: send what is due (one `sendmmsg` per
//! run of packets on one socket), drain what arrived, sleep until the next deadline. A slot
//! served more than [`BEHIND_MS`] after its deadline is counted in `slots_behind`: then the
//! loadgen, not the engine, made packets late.
//!
//! Bounded: a run ends at `start + warmup + window +` [`TAIL`], whatever happens.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tandem_codecs::{Decoder, Format, registry};
use tandem_core::rtp::{PayloadType, RtpHeader, RtpPacket, RtpTimestamp, SeqNo, Ssrc};
use tandem_drivers::packet::udp::{UdpConfig, UdpIo};
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortPair, PortRange, RecvMeta, Timestamp, Transmit,
};

use crate::loadgen::rx::{RxPacket, RxStream, RxTotals};
use crate::loadgen::speech::{EncodedSpeech, PTIME_MS};

/// Slot length of the pacer.
const SLOT: Duration = Duration::from_millis(1);
/// Slots per packet time.
const SLOTS_PER_PACKET: u64 = PTIME_MS as u64;
/// A slot served this late counts as the loadgen falling behind: its packets left a whole
/// packet time late, which the receiver would blame on the engine.
pub const BEHIND_MS: u64 = 20;
/// Every this many packets of a stream, one is decoded as a check.
pub const DECODE_EVERY: u64 = 25;
/// The shard goes on sending this long after the window (what it receives then is not
/// counted): the engine is still under load, and the shard thread still alive, when the
/// step samples CPU times at the window's end (a thread's time leaves `/proc/PID/task` with it).
pub const TAIL: Duration = Duration::from_millis(200);
/// Receive buffer asked for each socket (the kernel caps it at `net.core.rmem_max`).
const RECV_BUFFER_BYTES: usize = 4 << 20;

/// One loadgen endpoint: a socket of the shard and the engine port it talks to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Index into the shard's sockets ([`Shard::addrs`]).
    pub socket: usize,
    /// The engine's address for this side (from the SDP it returned): where packets go, and
    /// where the engine's packets come from.
    pub engine: SocketAddr,
    /// Payload type sent.
    pub send_pt: u8,
    /// What is sent.
    pub speech: Arc<EncodedSpeech>,
    /// Payload type expected back.
    pub rx_pt: u8,
    /// RTP clock of what comes back.
    pub rx_clock: u32,
    /// Decoder format of what comes back (decodability checks), if the codecs crate has it.
    pub rx_format: Option<Format>,
}

/// What a shard does in one run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The shard's endpoints.
    pub endpoints: Vec<Endpoint>,
    /// When sending starts (shared by all shards).
    pub start: Instant,
    /// Warm-up before the measurement window (baselines only).
    pub warmup: Duration,
    /// The measurement window.
    pub window: Duration,
    /// Lateness threshold.
    pub late_ms: u32,
}

/// A shard's counters after a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardResult {
    /// Receive accounting over every stream.
    pub rx: RxTotals,
    /// RTP packets handed to the kernel.
    pub sent: u64,
    /// Packets the kernel refused (full send buffer).
    pub send_dropped: u64,
    /// Packets from unknown sources or not RTP.
    pub stray: u64,
    /// Packets on the RTCP sockets (ignored).
    pub rtcp: u64,
    /// Sampled packets decoded.
    pub decoded: u64,
    /// Sampled packets that failed to decode.
    pub decode_errors: u64,
    /// Pacer slots served more than [`BEHIND_MS`] late.
    pub slots_behind: u64,
    /// The latest any slot was served, µs.
    pub max_lag_us: u64,
}

impl ShardResult {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &ShardResult) {
        self.rx.add(&other.rx);
        self.sent += other.sent;
        self.send_dropped += other.send_dropped;
        self.stray += other.stray;
        self.rtcp += other.rtcp;
        self.decoded += other.decoded;
        self.decode_errors += other.decode_errors;
        self.slots_behind += other.slots_behind;
        self.max_lag_us = self.max_lag_us.max(other.max_lag_us);
    }
}

/// A running shard thread, waiting for its plan.
#[derive(Debug)]
pub struct Shard {
    /// The local address of each of its sockets (RTP; RTCP is on the next port).
    pub addrs: Vec<SocketAddr>,
    plan: mpsc::Sender<Option<Plan>>,
    thread: JoinHandle<Result<ShardResult, String>>,
}

impl Shard {
    /// Starts a shard thread with `sockets` RTP/RTCP pairs from `ports` on `bind`.
    pub fn spawn(bind: IpAddr, ports: PortRange, sockets: usize) -> Result<Shard, String> {
        let (addrs_tx, addrs_rx) = mpsc::channel();
        let (plan_tx, plan_rx) = mpsc::channel::<Option<Plan>>();
        let thread = std::thread::Builder::new()
            .name("loadgen-shard".into())
            .spawn(move || {
                // UdpIo is not Send: it is built here, on the thread that uses it.
                let opened = open(bind, ports, sockets);
                let (mut io, pairs) = match opened {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = addrs_tx.send(Err(e.clone()));
                        return Err(e);
                    }
                };
                let addrs: Vec<SocketAddr> =
                    pairs.iter().filter_map(|p| io.local_addr(p.rtp)).collect();
                let _ = addrs_tx.send(Ok(addrs));
                match plan_rx.recv() {
                    Ok(Some(plan)) => Ok(run(&mut io, &pairs, &plan)),
                    _ => Ok(ShardResult::default()),
                }
            })
            .map_err(|e| format!("shard thread: {e}"))?;
        let addrs = addrs_rx
            .recv()
            .map_err(|_| "shard thread ended early".to_string())??;
        Ok(Shard {
            addrs,
            plan: plan_tx,
            thread,
        })
    }

    /// Hands the shard its plan; it starts sending at `plan.start`.
    pub fn start(&self, plan: Plan) {
        let _ = self.plan.send(Some(plan));
    }

    /// Waits for the end of the run started by [`start`](Self::start).
    pub fn finish(self) -> Result<ShardResult, String> {
        self.thread
            .join()
            .map_err(|_| "shard thread panicked".to_string())?
    }

    /// Sends the shard home without running.
    pub fn cancel(self) {
        let _ = self.plan.send(None);
        let _ = self.thread.join();
    }
}

fn open(bind: IpAddr, ports: PortRange, sockets: usize) -> Result<(UdpIo, Vec<PortPair>), String> {
    let config = UdpConfig {
        recv_buffer_bytes: Some(RECV_BUFFER_BYTES),
        send_buffer_bytes: Some(RECV_BUFFER_BYTES),
        rx_timestamps: true,
        ..UdpConfig::new(bind, ports)
    };
    let mut io = UdpIo::new(config).map_err(|e| e.to_string())?;
    let pairs = (0..sockets)
        .map(|_| io.open_pair().map_err(|e| format!("loadgen sockets: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((io, pairs))
}

/// Nanoseconds since the UNIX epoch (the clock of kernel receive timestamps).
fn unix_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The send state of one endpoint.
struct Sender {
    seq: u16,
    ts: u32,
    ssrc: u32,
    frame: usize,
}

/// The send side of a run: every endpoint's RTP state, which endpoints send in which slot,
/// and one packet buffer per endpoint.
struct Pacer {
    senders: Vec<Sender>,
    by_slot: Vec<Vec<usize>>,
    out: Vec<Vec<u8>>,
    lens: Vec<usize>,
}

impl Pacer {
    fn new(endpoints: &[Endpoint]) -> Pacer {
        let n = endpoints.len();
        let senders = (0..n)
            .map(|i| Sender {
                seq: (i as u16).wrapping_mul(4099),
                ts: (i as u32).wrapping_mul(2_654_435_761),
                ssrc: 0x4c47_0000 ^ (i as u32).wrapping_mul(40_503),
                // Streams start at different points of the speech.
                frame: i * 37,
            })
            .collect();
        let mut by_slot = vec![Vec::new(); SLOTS_PER_PACKET as usize];
        for i in 0..n {
            by_slot[i * SLOTS_PER_PACKET as usize / n].push(i);
        }
        // Callers and callees alternate sockets; grouped by socket, each run of a slot's
        // packets on one socket is one sendmmsg.
        for slot in &mut by_slot {
            slot.sort_by_key(|&i| endpoints[i].socket);
        }
        Pacer {
            senders,
            by_slot,
            out: vec![vec![0u8; 1600]; n],
            lens: vec![0; n],
        }
    }

    /// Builds and sends the packets due in `slot`.
    fn send(
        &mut self,
        io: &mut UdpIo,
        pairs: &[PortPair],
        plan: &Plan,
        slot: u64,
        result: &mut ShardResult,
    ) {
        let due = &self.by_slot[(slot % SLOTS_PER_PACKET) as usize];
        for &i in due {
            let e = &plan.endpoints[i];
            let s = &mut self.senders[i];
            let header = RtpHeader::new(
                PayloadType::new(e.send_pt).unwrap_or(PayloadType::PCMU),
                SeqNo(s.seq),
                RtpTimestamp(s.ts),
                Ssrc(s.ssrc),
            );
            let body = &e.speech.frames[s.frame % e.speech.frames.len()];
            self.lens[i] = header.emit_packet(body, &mut self.out[i]).unwrap_or(0);
            s.seq = s.seq.wrapping_add(1);
            s.ts = s.ts.wrapping_add(e.speech.ts_step);
            s.frame += 1;
        }
        for chunk in due.chunks(MAX_BATCH) {
            let batch: Vec<Transmit<'_>> = chunk
                .iter()
                .map(|&i| Transmit {
                    socket: pairs[plan.endpoints[i].socket].rtp,
                    destination: plan.endpoints[i].engine,
                    payload: &self.out[i][..self.lens[i]],
                })
                .collect();
            let sent = io.send_batch(Timestamp::ZERO, &batch).unwrap_or(0);
            result.sent += sent as u64;
            result.send_dropped += (batch.len() - sent) as u64;
        }
    }
}

/// The receive side of a run: one [`RxStream`] per endpoint, found by the engine address
/// the packet came from, the measurement window on the kernel timestamps' clock, and the
/// decoders of the sampled decodability check.
struct Receiver {
    streams: Vec<RxStream>,
    formats: Vec<Option<Format>>,
    by_source: HashMap<SocketAddr, usize>,
    rtcp_sockets: Vec<bool>,
    decoders: Vec<(Format, Box<dyn Decoder>)>,
    pcm: Vec<i16>,
    bufs: Vec<PacketBuf>,
    meta: Vec<RecvMeta>,
    window: (i64, i64),
}

impl Receiver {
    fn new(io: &UdpIo, pairs: &[PortPair], plan: &Plan) -> Receiver {
        let mut rtcp_sockets = vec![false; io.socket_id_max()];
        for p in pairs {
            if let Some(slot) = rtcp_sockets.get_mut(p.rtcp.index()) {
                *slot = true;
            }
        }
        let mut decoders: Vec<(Format, Box<dyn Decoder>)> = Vec::new();
        for f in plan.endpoints.iter().filter_map(|e| e.rx_format) {
            if !decoders.iter().any(|(g, _)| *g == f) {
                if let Ok(d) = registry::new_decoder(f) {
                    decoders.push((f, d));
                }
            }
        }
        // Kernel timestamps are on the realtime clock; the window is placed on it once.
        let (now_instant, now_realtime) = (Instant::now(), unix_ns());
        let start = if plan.start >= now_instant {
            now_realtime + (plan.start - now_instant).as_nanos() as i64
        } else {
            now_realtime - (now_instant - plan.start).as_nanos() as i64
        };
        let window_start = start + plan.warmup.as_nanos() as i64;
        Receiver {
            streams: plan
                .endpoints
                .iter()
                .map(|e| RxStream::new(e.rx_pt, e.rx_clock, plan.late_ms))
                .collect(),
            formats: plan.endpoints.iter().map(|e| e.rx_format).collect(),
            by_source: plan
                .endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| (e.engine, i))
                .collect(),
            rtcp_sockets,
            decoders,
            // 100 ms at 48 kHz: more than any packet of the run decodes to.
            pcm: vec![0i16; 4800],
            bufs: PacketBuf::new_vec(MAX_BATCH),
            meta: RecvMeta::new_vec(MAX_BATCH),
            window: (window_start, window_start + plan.window.as_nanos() as i64),
        }
    }

    /// Reads everything that has arrived, accounting each packet.
    fn drain(&mut self, io: &mut UdpIo, result: &mut ShardResult) {
        loop {
            let got = io
                .recv_batch(Timestamp::ZERO, &mut self.bufs, &mut self.meta)
                .unwrap_or(0);
            let fallback_now = unix_ns();
            for k in 0..got {
                let m = self.meta[k];
                let arrival = m.timestamp.map_or(fallback_now, |t| t.as_nanos() as i64);
                self.account(k, &m, arrival, result);
            }
            if got < MAX_BATCH {
                break;
            }
        }
    }

    fn account(&mut self, k: usize, m: &RecvMeta, arrival: i64, result: &mut ShardResult) {
        if self
            .rtcp_sockets
            .get(m.socket.index())
            .copied()
            .unwrap_or(false)
        {
            result.rtcp += 1;
            return;
        }
        let (Some(&stream), Ok(packet)) = (
            self.by_source.get(&m.source),
            RtpPacket::new_checked(self.bufs[k].payload(m.len)),
        ) else {
            result.stray += 1;
            return;
        };
        let p = RxPacket {
            arrival_ns: arrival,
            pt: packet.payload_type().get(),
            seq: packet.sequence_number().0,
            ts: packet.timestamp().0,
            ssrc: packet.ssrc().0,
        };
        let in_window = arrival >= self.window.0 && arrival < self.window.1;
        let rx = &mut self.streams[stream];
        if !rx.on_packet(&p, in_window) || rx.received() % DECODE_EVERY != 1 {
            return;
        }
        let format = self.formats[stream];
        if let Some((_, d)) = self.decoders.iter_mut().find(|(f, _)| Some(*f) == format) {
            result.decoded += 1;
            if !matches!(d.decode(packet.payload(), &mut self.pcm), Ok(n) if n > 0) {
                result.decode_errors += 1;
            }
        }
    }
}

fn run(io: &mut UdpIo, pairs: &[PortPair], plan: &Plan) -> ShardResult {
    let mut result = ShardResult::default();
    if plan.endpoints.is_empty() {
        return result;
    }
    let mut pacer = Pacer::new(&plan.endpoints);
    let mut receiver = Receiver::new(io, pairs, plan);
    let end = plan.start + plan.warmup + plan.window + TAIL;
    let mut slot: u64 = 0;
    loop {
        let deadline = plan.start + SLOT * slot as u32;
        if deadline >= end {
            break;
        }
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        } else {
            let lag = now - deadline;
            result.max_lag_us = result.max_lag_us.max(lag.as_micros() as u64);
            if lag > Duration::from_millis(BEHIND_MS) {
                result.slots_behind += 1;
            }
        }
        pacer.send(io, pairs, plan, slot, &mut result);
        receiver.drain(io, &mut result);
        slot += 1;
    }
    let window_slots = plan.window.as_millis() as u64 / u64::from(PTIME_MS);
    for s in &receiver.streams {
        result.rx.add(&s.totals(window_slots));
    }
    result
}
