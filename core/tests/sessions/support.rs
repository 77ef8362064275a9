//! A manually ticked worker on the loopback network, peers that send and receive RTP, and
//! the audio helpers the behaviour tests share.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tandem_codecs::{EncoderConfig, Format, registry};
use tandem_core::bus::{Event, EventKind, Notice, QualitySample};
use tandem_core::rtp::{PayloadType, RtpHeader, RtpPacket, RtpTimestamp, SeqNo, Ssrc};
use tandem_core::session::{LegId, PreparedSession, SessionId, SessionSpec};
use tandem_core::worker::{TICK_US, Worker, WorkerConfig, WorkerControl};
use tandem_drivers::packet::loopback::{Loopback, LoopbackConfig, LoopbackNet};
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortRange, RecvMeta, SocketId, Timestamp, Transmit,
};

pub(crate) const WORKER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
pub(crate) const PEER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
pub(crate) const ATTACKER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66));

/// A datagram a peer received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// The peer's local address it arrived on.
    pub(crate) to: SocketAddr,
    /// Who sent it.
    pub(crate) from: SocketAddr,
    pub(crate) bytes: Vec<u8>,
}

impl Received {
    pub(crate) fn rtp(&self) -> RtpPacket<&[u8]> {
        RtpPacket::new_checked(&self.bytes[..]).expect("valid RTP")
    }
}

/// One host on the loopback network that tests send from and receive on.
pub(crate) struct Peer {
    pub(crate) io: Loopback,
    bufs: Vec<PacketBuf>,
    meta: Vec<RecvMeta>,
}

impl Peer {
    pub(crate) fn new_on(net: &LoopbackNet, ip: IpAddr, min: u16) -> Self {
        Self::new(net, ip, min)
    }

    fn new(net: &LoopbackNet, ip: IpAddr, min: u16) -> Self {
        let io = net
            .endpoint(LoopbackConfig::new(
                ip,
                PortRange::new(min, min + 999).unwrap(),
            ))
            .unwrap();
        Self {
            io,
            bufs: PacketBuf::new_vec(MAX_BATCH),
            meta: RecvMeta::new_vec(MAX_BATCH),
        }
    }

    /// Opens an RTP/RTCP pair.
    pub(crate) fn pair(&mut self) -> tandem_drivers::packet::PortPair {
        self.io.open_pair().unwrap()
    }

    /// Opens a socket (the RTP half of a pair) and returns it with its address.
    pub(crate) fn socket(&mut self) -> (SocketId, SocketAddr) {
        let pair = self.io.open_pair().unwrap();
        (pair.rtp, self.io.local_addr(pair.rtp).unwrap())
    }

    pub(crate) fn send(&mut self, now_us: u64, from: SocketId, to: SocketAddr, bytes: &[u8]) {
        let t = Transmit {
            socket: from,
            destination: to,
            payload: bytes,
        };
        self.io
            .send_batch(Timestamp::from_micros(now_us), &[t])
            .unwrap();
    }

    pub(crate) fn recv_all(&mut self) -> Vec<Received> {
        let mut out = Vec::new();
        loop {
            let n = self
                .io
                .recv_batch(Timestamp::ZERO, &mut self.bufs, &mut self.meta)
                .unwrap();
            for i in 0..n {
                out.push(Received {
                    to: self.meta[i].destination,
                    from: self.meta[i].source,
                    bytes: self.bufs[i].payload(self.meta[i].len).to_vec(),
                });
            }
            if n < MAX_BATCH {
                return out;
            }
        }
    }
}

/// A threaded runtime over `net`, its workers on `ip`, worker `i` on ports
/// `first_port + 1000 i` to `+ 999`.
pub(crate) fn runtime_on_loopback(
    net: &LoopbackNet,
    ip: IpAddr,
    first_port: u16,
    config: tandem_core::runtime::RuntimeConfig,
) -> tandem_core::runtime::Runtime {
    let net = net.clone();
    tandem_core::runtime::Runtime::start_with(config, move |i| {
        let min = first_port + 1000 * i as u16;
        Ok(net
            .endpoint(LoopbackConfig::new(
                ip,
                PortRange::new(min, min + 999).unwrap(),
            ))
            .unwrap())
    })
    .unwrap()
}

/// A worker in manual-tick mode with a peer and an attacker host.
pub(crate) struct Harness {
    pub(crate) worker: Worker<Loopback>,
    pub(crate) control: WorkerControl,
    pub(crate) peer: Peer,
    pub(crate) attacker: Peer,
    pub(crate) now_us: u64,
    pub(crate) events: Vec<Event>,
    _net: LoopbackNet,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(WorkerConfig::new(0))
    }

    pub(crate) fn with_config(config: WorkerConfig) -> Self {
        let net = LoopbackNet::new();
        let io = net
            .endpoint(LoopbackConfig::new(
                WORKER_IP,
                PortRange::new(20000, 20999).unwrap(),
            ))
            .unwrap();
        let (worker, control) = Worker::new(config, io);
        Self {
            worker,
            control,
            peer: Peer::new(&net, PEER_IP, 30000),
            attacker: Peer::new(&net, ATTACKER_IP, 40000),
            now_us: 1_000_000,
            events: Vec::new(),
            _net: net,
        }
    }

    /// Builds and installs a session; returns its legs' RTP addresses.
    pub(crate) fn install(&mut self, id: u64, spec: &SessionSpec) -> Vec<SocketAddr> {
        let session = PreparedSession::new(SessionId(id), spec).unwrap();
        let legs = self
            .worker
            .install(self.now_us, Box::new(session))
            .map_err(|(e, _)| e)
            .unwrap();
        legs.into_iter().flatten().map(|p| p.rtp).collect()
    }

    /// One tick: advances virtual time by 10 ms and runs the worker.
    pub(crate) fn tick(&mut self) {
        self.now_us += TICK_US;
        self.worker.tick(self.now_us);
        while let Some(notice) = self.control.poll_notice() {
            if let Notice::Event(e) = notice {
                self.events.push(e);
            }
        }
    }

    /// Events of `leg` so far, in order.
    pub(crate) fn leg_events(&self, leg: LegId) -> Vec<Event> {
        self.events
            .iter()
            .filter(|e| e.leg == Some(leg))
            .copied()
            .collect()
    }

    /// The quality samples `leg` reported with its RTCP reports so far, in order.
    pub(crate) fn quality_samples(&self, leg: LegId) -> Vec<QualitySample> {
        self.leg_events(leg)
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Quality(sample) => Some(sample),
                _ => None,
            })
            .collect()
    }
}

/// An RTP sender on the test side.
pub(crate) struct Stream {
    pub(crate) ssrc: u32,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) pt: PayloadType,
}

impl Stream {
    pub(crate) fn new(ssrc: u32, pt: PayloadType) -> Self {
        Self {
            ssrc,
            seq: 1000,
            ts: 50_000,
            pt,
        }
    }

    /// The next packet with `payload`; the timestamp then advances by `ts_step`.
    pub(crate) fn packet(&mut self, payload: &[u8], ts_step: u32) -> Vec<u8> {
        let p = self.packet_with(self.pt, false, RtpTimestamp(self.ts), payload);
        self.ts = self.ts.wrapping_add(ts_step);
        p
    }

    /// A packet with explicit payload type, marker and timestamp (the sequence advances).
    pub(crate) fn packet_with(
        &mut self,
        pt: PayloadType,
        marker: bool,
        ts: RtpTimestamp,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut header = RtpHeader::new(pt, SeqNo(self.seq), ts, Ssrc(self.ssrc));
        header.marker = marker;
        let mut buf = vec![0u8; header.buffer_len(payload.len())];
        header.emit_packet(payload, &mut buf).unwrap();
        self.seq = self.seq.wrapping_add(1);
        buf
    }
}

/// `seconds` of a sine at `hz`, amplitude `amp`, at `rate`.
pub(crate) fn sine(hz: f64, amp: f64, rate: u32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|n| {
            (amp * (2.0 * std::f64::consts::PI * hz * n as f64 / f64::from(rate)).sin()) as i16
        })
        .collect()
}

/// Power of `hz` in `pcm` relative to the signal's total power (0..=1), by Goertzel.
pub(crate) fn tone_share(pcm: &[i16], hz: f64, rate: u32) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0;
    for &x in pcm {
        let x = f64::from(x);
        energy += x * x;
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    if energy == 0.0 {
        0.0
    } else {
        // A pure sine of N samples gives power = (N * A / 2)^2 and energy = N * A^2 / 2.
        (2.0 * power / (pcm.len() as f64 * energy)).min(1.0)
    }
}

/// RMS of `pcm`.
pub(crate) fn rms(pcm: &[i16]) -> f64 {
    if pcm.is_empty() {
        return 0.0;
    }
    (pcm.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        / pcm.len() as f64)
        .sqrt()
}

/// Encodes `pcm` into payloads of `frame` samples each.
pub(crate) fn encode_all(format: Format, pcm: &[i16], frame: usize) -> Vec<Vec<u8>> {
    let mut encoder = registry::new_encoder(format, &EncoderConfig::default()).unwrap();
    pcm.chunks_exact(frame)
        .map(|chunk| {
            let mut out = vec![0u8; 4000];
            let n = encoder.encode(chunk, &mut out).unwrap();
            out.truncate(n);
            out
        })
        .collect()
}

/// Decodes payloads in order into one PCM stream.
pub(crate) fn decode_all<'a>(
    format: Format,
    payloads: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<i16> {
    let mut decoder = registry::new_decoder(format).unwrap();
    let mut out = Vec::new();
    let mut pcm = vec![0i16; 48_000];
    for p in payloads {
        let n = decoder.decode(p, &mut pcm).unwrap();
        out.extend_from_slice(&pcm[..n]);
    }
    out
}
