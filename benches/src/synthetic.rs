//! A packet backend that plays the remote peers itself: the load source of a benchmark lives
//! inside each media worker's backend, so every worker carries its own load on its own core
//! and no other process needs CPU (`scaling_bench`).
//!
//! [`SyntheticIo`] implements [`PacketIo`] without a network. Every RTP socket the worker
//! opens gets a *stream*: pre-encoded speech in the codec the leg was set up with, sent from
//! a peer address of its own ([`SyntheticIo::peer_of`]). On each
//! [`recv_batch`](PacketIo::recv_batch)`(now, ..)` the backend hands the worker, for every
//! stream whose next 20 ms packet is due at `now`, one real RTP packet with continuous
//! sequence number, timestamp and SSRC; packets that fell due while the worker was late are
//! all delivered, in order, as a socket would have queued them. On
//! [`send_batch`](PacketIo::send_batch) it accounts what the worker sends back per socket:
//! RTP to the stream's peer with the stream's payload type, RTCP, and anything else; one
//! packet in [`SyntheticConfig::sample_every`] is decoded, to see speech come back, not
//! just packets. The worker cannot tell it from a network: the runtime, sessions, jitter
//! buffers and codecs run unchanged; what it does not have is the kernel's UDP work.
//!
//! # Which codec a socket carries
//!
//! The backend cannot see the sessions, so it is told in advance: a [`Plan`] lists voice
//! indices that the opened pairs take in turn, in the order the worker opens them (a
//! transcoding session opens leg A, then leg B: `[pcmu, opus]` gives every A leg PCMU and
//! every B leg Opus). The bench creates its sessions in that order.
//!
//! # Pacing
//!
//! A stream's first packet is due at the first `recv_batch` after its pair was opened, plus
//! 10 ms for every other stream, so that half the streams arrive in even ticks and half in
//! odd ones, as packets from independent phones do (all in one tick would double every other
//! tick's cost). After that, one packet every 20 ms on the caller's clock. Each packet's
//! [`RecvMeta::timestamp`] is the time it fell due, on the caller's clock (as the loopback
//! network stamps with its sender's `now`): workers on the default tick arrival clock ignore
//! it.
//!
//! # Real-time
//!
//! Every buffer is allocated in [`SyntheticIo::new`] (streams for every socket id of the
//! range, the decoders and their output): `recv_batch` and `send_batch` copy pre-encoded
//! payloads, patch 12-byte headers, count, and publish their totals to [`SyntheticStats`]
//! with `Relaxed` atomic stores (no lock). A `recv_batch` resumes its scan where the previous
//! call of the same tick stopped, so a tick's batches cost one pass over the streams.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tandem_codecs::{Decoder, EncoderConfig, registry};
use tandem_core::rtp::{RtpHeader, RtpPacket, RtpTimestamp, SeqNo, Ssrc};
use tandem_core::session::CodecSpec;
use tandem_drivers::packet::{
    IoStats, PACKET_BUF_BYTES, PacketBuf, PacketIo, PortAllocator, PortPair, PortRange, RecvMeta,
    SocketId, Timestamp, Transmit,
};
use tandem_drivers::{IoError, PortError};

use crate::loadgen::speech;

/// Packet time of every stream, µs.
pub const PTIME_US: u64 = 20_000;
/// The offset of every other stream's first packet, µs (one tick).
const PHASE_US: u64 = 10_000;
/// Decoded frames whose RMS reaches this are counted as voiced.
const VOICED_RMS: f64 = 100.0;
/// Most PCM samples one sampled frame decodes to (20 ms at 48 kHz).
const MAX_FRAME_SAMPLES: usize = 960;

/// One stream's audio: every 20 ms frame of some speech, encoded once, looped.
#[derive(Debug, Clone)]
pub struct Voice {
    codec: CodecSpec,
    frames: Vec<Vec<u8>>,
    ts_step: u32,
    /// Espeak-ng speech (false: tone bursts or silence).
    pub real_speech: bool,
}

impl Voice {
    /// Speech ([`speech::pcm`]: espeak-ng, or tone bursts without it) encoded for `codec`
    /// by an encoder set up with `peer` (the remote phone's settings). Allocates; encodes the
    /// whole sample once.
    ///
    /// # Errors
    ///
    /// The codec cannot be built or refuses the audio.
    pub fn speech(codec: CodecSpec, peer: &EncoderConfig) -> Result<Self, String> {
        let (pcm, real) = speech::pcm(codec.format.sample_rate);
        let mut voice = Self::encode(codec, peer, &pcm)?;
        voice.real_speech = real;
        Ok(voice)
    }

    /// One second of digital silence in `codec` (a muted phone), looped.
    ///
    /// # Errors
    ///
    /// The codec cannot be built.
    pub fn silence(codec: CodecSpec) -> Result<Self, String> {
        let pcm = vec![0i16; codec.format.sample_rate as usize];
        Self::encode(codec, &EncoderConfig::DEFAULT, &pcm)
    }

    fn encode(codec: CodecSpec, config: &EncoderConfig, pcm: &[i16]) -> Result<Self, String> {
        let frames = speech::encode_frames(codec.format, config, pcm, codec.ptime_ms)?;
        Ok(Self {
            codec,
            frames,
            ts_step: codec.clock_rate() * codec.ptime_ms / 1000,
            real_speech: false,
        })
    }

    /// The codec it is encoded in.
    pub fn codec(&self) -> CodecSpec {
        self.codec
    }
}

/// Which voice each opened pair takes: `voices[order[k % order.len()]]` for the `k`-th pair.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The voices.
    pub voices: Arc<[Voice]>,
    /// Voice indices, taken in turn by the opened pairs.
    pub order: Vec<usize>,
}

/// How one backend is set up.
#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    /// The worker's address (as its sockets would be bound).
    pub ip: IpAddr,
    /// The worker's ports.
    pub ports: PortRange,
    /// The peers' address; each peer uses the port number of the socket it talks to.
    pub peer_ip: IpAddr,
    /// What every opened pair plays.
    pub plan: Plan,
    /// Decode one returned RTP packet in this many (at least 1).
    pub sample_every: u64,
}

/// Counters of one backend, readable from any thread while the worker runs (each field is
/// stored by the worker after each batch call; fields are mutually consistent to within one
/// call). Aligned to two cache lines, so that two workers' counters never share one (the
/// stores would then cost each worker the other's writes: a scaling bench must not add that).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct SyntheticStats {
    streams: AtomicU64,
    delivered: AtomicU64,
    delivered_late: AtomicU64,
    returned: AtomicU64,
    returned_bytes: AtomicU64,
    rtcp: AtomicU64,
    wrong_payload_type: AtomicU64,
    misdirected: AtomicU64,
    unknown_socket: AtomicU64,
    sampled: AtomicU64,
    sampled_voiced: AtomicU64,
    decode_errors: AtomicU64,
}

/// A copy of [`SyntheticStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyntheticSnapshot {
    /// RTP streams open now (one per open pair).
    pub streams: u64,
    /// RTP packets handed to the worker.
    pub delivered: u64,
    /// Of those, packets handed over a tick or more after they were due on the caller's
    /// clock. Under `Worker::run`, which serves missed deadlines one by one with their own
    /// times, this stays zero unless the worker fell so far behind that it skipped deadlines
    /// (`MAX_CATCH_UP`); a manual driver sees every late read.
    pub delivered_late: u64,
    /// RTP packets the worker sent to a stream's peer with the stream's payload type.
    pub returned: u64,
    /// Their bytes.
    pub returned_bytes: u64,
    /// RTCP packets the worker sent.
    pub rtcp: u64,
    /// RTP packets with another payload type than the stream's (not in `returned`).
    pub wrong_payload_type: u64,
    /// RTP packets to another address than the stream's peer (not in `returned`).
    pub misdirected: u64,
    /// Packets from a socket that is not open.
    pub unknown_socket: u64,
    /// Returned packets decoded as a sample.
    pub sampled: u64,
    /// Sampled frames that carried sound (RMS over a floor).
    pub sampled_voiced: u64,
    /// Sampled packets the decoder refused.
    pub decode_errors: u64,
}

impl SyntheticSnapshot {
    /// `self - earlier`, field by field (`streams` is this snapshot's).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            streams: self.streams,
            // The counters only grow; `streams`, which may shrink, is set above.
            ..self.zip(earlier, u64::wrapping_sub)
        }
    }

    /// The sum of two snapshots (of two workers).
    pub fn plus(&self, other: &Self) -> Self {
        self.zip(other, |a, b| a + b)
    }

    /// `op` applied to each pair of counters.
    fn zip(&self, other: &Self, op: impl Fn(u64, u64) -> u64) -> Self {
        Self {
            streams: op(self.streams, other.streams),
            delivered: op(self.delivered, other.delivered),
            delivered_late: op(self.delivered_late, other.delivered_late),
            returned: op(self.returned, other.returned),
            returned_bytes: op(self.returned_bytes, other.returned_bytes),
            rtcp: op(self.rtcp, other.rtcp),
            wrong_payload_type: op(self.wrong_payload_type, other.wrong_payload_type),
            misdirected: op(self.misdirected, other.misdirected),
            unknown_socket: op(self.unknown_socket, other.unknown_socket),
            sampled: op(self.sampled, other.sampled),
            sampled_voiced: op(self.sampled_voiced, other.sampled_voiced),
            decode_errors: op(self.decode_errors, other.decode_errors),
        }
    }
}

impl SyntheticStats {
    /// A copy of every counter.
    pub fn snapshot(&self) -> SyntheticSnapshot {
        let r = Ordering::Relaxed;
        SyntheticSnapshot {
            streams: self.streams.load(r),
            delivered: self.delivered.load(r),
            delivered_late: self.delivered_late.load(r),
            returned: self.returned.load(r),
            returned_bytes: self.returned_bytes.load(r),
            rtcp: self.rtcp.load(r),
            wrong_payload_type: self.wrong_payload_type.load(r),
            misdirected: self.misdirected.load(r),
            unknown_socket: self.unknown_socket.load(r),
            sampled: self.sampled.load(r),
            sampled_voiced: self.sampled_voiced.load(r),
            decode_errors: self.decode_errors.load(r),
        }
    }

    fn publish(&self, t: &SyntheticSnapshot) {
        let r = Ordering::Relaxed;
        self.streams.store(t.streams, r);
        self.delivered.store(t.delivered, r);
        self.delivered_late.store(t.delivered_late, r);
        self.returned.store(t.returned, r);
        self.returned_bytes.store(t.returned_bytes, r);
        self.rtcp.store(t.rtcp, r);
        self.wrong_payload_type.store(t.wrong_payload_type, r);
        self.misdirected.store(t.misdirected, r);
        self.unknown_socket.store(t.unknown_socket, r);
        self.sampled.store(t.sampled, r);
        self.sampled_voiced.store(t.sampled_voiced, r);
        self.decode_errors.store(t.decode_errors, r);
    }
}

/// What one socket id is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Closed,
    /// The RTP socket of an open pair, with its stream.
    Rtp,
    Rtcp,
}

/// The remote phone of one RTP socket.
#[derive(Debug, Clone, Copy)]
struct Stream {
    slot: Slot,
    voice: usize,
    peer: SocketAddr,
    /// When its next packet is due (µs on the caller's clock); `None` until the first
    /// `recv_batch` after the pair was opened.
    next_due_us: Option<u64>,
    /// Added to the first `now` seen: 0 or [`PHASE_US`].
    phase_us: u64,
    seq: SeqNo,
    ts: RtpTimestamp,
    ssrc: Ssrc,
    frame: usize,
}

impl Stream {
    const CLOSED: Stream = Stream {
        slot: Slot::Closed,
        voice: 0,
        peer: SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0),
        next_due_us: None,
        phase_us: 0,
        seq: SeqNo(0),
        ts: RtpTimestamp(0),
        ssrc: Ssrc(0),
        frame: 0,
    };
}

/// The in-process load source; see the [module docs](self).
pub struct SyntheticIo {
    config: SyntheticConfig,
    ports: PortAllocator,
    streams: Vec<Stream>,
    /// Pairs opened so far (the plan's position, the streams' phases and SSRCs).
    opened: u64,
    /// One decoder per voice, for the sampled packets.
    checkers: Vec<Box<dyn Decoder>>,
    pcm: Vec<i16>,
    /// The `now` of the scan in progress, and where it stopped.
    scan_now: Option<u64>,
    cursor: usize,
    totals: SyntheticSnapshot,
    stats: Arc<SyntheticStats>,
    io: IoStats,
}

impl std::fmt::Debug for SyntheticIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticIo")
            .field("ip", &self.config.ip)
            .field("opened", &self.opened)
            .field("totals", &self.totals)
            .finish_non_exhaustive()
    }
}

impl SyntheticIo {
    /// A backend over `config.ports`, publishing its counters to `stats`. Allocates every
    /// buffer it will use.
    ///
    /// # Errors
    ///
    /// An empty plan, a plan naming a missing voice, or a voice whose decoder cannot be built.
    pub fn new(config: SyntheticConfig, stats: Arc<SyntheticStats>) -> Result<Self, String> {
        let voices = &config.plan.voices;
        if config.plan.order.is_empty() || config.plan.order.iter().any(|&v| v >= voices.len()) {
            return Err("the plan names no voice, or a voice it does not have".into());
        }
        let checkers = voices
            .iter()
            .map(|v| registry::new_decoder(v.codec.format).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            ports: PortAllocator::new(config.ports),
            streams: vec![Stream::CLOSED; config.ports.ports()],
            opened: 0,
            checkers,
            pcm: vec![0; MAX_FRAME_SAMPLES],
            scan_now: None,
            cursor: 0,
            totals: SyntheticSnapshot::default(),
            stats,
            io: IoStats::default(),
            config,
        })
    }

    /// The peer that talks to local `port`: the same port number on the peers' address.
    pub fn peer_of(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.config.peer_ip, port)
    }

    /// Hands over every due packet of stream `index`, as far as the buffers go. Returns how
    /// many it wrote; stops early when the buffers are full.
    fn deliver(
        &mut self,
        index: usize,
        now_us: u64,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> usize {
        let mut n = 0;
        let local = self
            .config
            .ports
            .port(SocketId::new(index as u32))
            .map(|p| SocketAddr::new(self.config.ip, p));
        let Some(local) = local else { return 0 };
        let stream = &mut self.streams[index];
        let mut due = *stream.next_due_us.get_or_insert(now_us + stream.phase_us);
        let voice = &self.config.plan.voices[stream.voice];
        while due <= now_us && n < bufs.len().min(meta.len()) {
            let payload = &voice.frames[stream.frame % voice.frames.len()];
            let header =
                RtpHeader::new(voice.codec.payload_type, stream.seq, stream.ts, stream.ssrc);
            // A payload that does not fit is skipped (it cannot happen with 20 ms frames).
            let len = header
                .emit_packet(payload, bufs[n].bytes_mut())
                .unwrap_or(0);
            stream.seq = stream.seq.wrapping_add(1);
            stream.ts = stream.ts.wrapping_add(voice.ts_step);
            stream.frame += 1;
            let sent_at = due;
            due += PTIME_US;
            if len == 0 {
                continue;
            }
            meta[n] = RecvMeta {
                len,
                source: stream.peer,
                destination: local,
                socket: SocketId::new(index as u32),
                timestamp: Some(Timestamp::from_micros(sent_at)),
                truncated: false,
            };
            self.io.rx_packets += 1;
            self.io.rx_bytes += len as u64;
            self.totals.delivered += 1;
            self.totals.delivered_late += u64::from(now_us >= sent_at + PHASE_US);
            n += 1;
        }
        stream.next_due_us = Some(due);
        n
    }

    /// Accounts one RTP packet the worker sent from stream `index`'s socket.
    fn account_rtp(&mut self, index: usize, destination: SocketAddr, payload: &[u8]) {
        let stream = self.streams[index];
        let voice = &self.config.plan.voices[stream.voice];
        if destination != stream.peer {
            self.totals.misdirected += 1;
            return;
        }
        let Ok(packet) = RtpPacket::new_checked(payload) else {
            self.totals.wrong_payload_type += 1;
            return;
        };
        if packet.payload_type() != voice.codec.payload_type {
            self.totals.wrong_payload_type += 1;
            return;
        }
        self.totals.returned += 1;
        self.totals.returned_bytes += payload.len() as u64;
        if self.totals.returned % self.config.sample_every.max(1) == 0 {
            self.totals.sampled += 1;
            match self.checkers[stream.voice].decode(packet.payload(), &mut self.pcm) {
                Ok(samples) => {
                    let pcm = &self.pcm[..samples.min(self.pcm.len())];
                    let energy: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
                    let rms = (energy / pcm.len().max(1) as f64).sqrt();
                    self.totals.sampled_voiced += u64::from(rms >= VOICED_RMS);
                }
                Err(_) => self.totals.decode_errors += 1,
            }
        }
    }
}

impl PacketIo for SyntheticIo {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        let range = self.config.ports;
        let rtp_port = self.ports.allocate().ok_or(PortError::Exhausted {
            min: range.min(),
            max: range.max(),
        })?;
        let (Some(rtp), Some(rtcp)) = (
            range.socket_id(rtp_port),
            range.socket_id(rtp_port.wrapping_add(1)),
        ) else {
            self.ports.release(rtp_port);
            return Err(PortError::NotOpen { port: rtp_port });
        };
        let order = &self.config.plan.order;
        let k = self.opened;
        self.streams[rtp.index()] = Stream {
            slot: Slot::Rtp,
            voice: order[(k % order.len() as u64) as usize],
            peer: self.peer_of(rtp_port),
            next_due_us: None,
            phase_us: if k % 2 == 0 { 0 } else { PHASE_US },
            // Streams start at different points of the speech and of the number spaces.
            seq: SeqNo((k as u16).wrapping_mul(7919)),
            ts: RtpTimestamp((k as u32).wrapping_mul(104_729)),
            ssrc: Ssrc(0x5e00_0000 | k as u32),
            frame: (k as usize).wrapping_mul(37),
        };
        self.streams[rtcp.index()] = Stream {
            slot: Slot::Rtcp,
            ..Stream::CLOSED
        };
        self.opened += 1;
        self.totals.streams += 1;
        self.stats.publish(&self.totals);
        Ok(PortPair {
            rtp,
            rtcp,
            rtp_port,
        })
    }

    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        let range = self.config.ports;
        if range.socket_id(pair.rtp_port) != Some(pair.rtp)
            || range.socket_id(pair.rtcp_port()) != Some(pair.rtcp)
            || !self.ports.release(pair.rtp_port)
        {
            return Err(PortError::NotOpen {
                port: pair.rtp_port,
            });
        }
        self.streams[pair.rtp.index()] = Stream::CLOSED;
        self.streams[pair.rtcp.index()] = Stream::CLOSED;
        self.totals.streams = self.totals.streams.saturating_sub(1);
        self.stats.publish(&self.totals);
        Ok(())
    }

    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        let open = self.streams.get(socket.index())?.slot != Slot::Closed;
        let port = self.config.ports.port(socket)?;
        open.then_some(SocketAddr::new(self.config.ip, port))
    }

    fn socket_id_max(&self) -> usize {
        self.config.ports.ports()
    }

    fn recv_batch(
        &mut self,
        now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        let now_us = now.as_nanos() / 1000;
        if self.scan_now != Some(now_us) {
            self.scan_now = Some(now_us);
            self.cursor = 0;
        }
        let room = bufs.len().min(meta.len());
        let mut n = 0;
        while self.cursor < self.streams.len() && n < room {
            let index = self.cursor;
            if self.streams[index].slot == Slot::Rtp {
                n += self.deliver(index, now_us, &mut bufs[n..room], &mut meta[n..room]);
                if self.streams[index]
                    .next_due_us
                    .is_some_and(|due| due <= now_us)
                {
                    // The buffers filled before this stream was served: resume here.
                    break;
                }
            }
            self.cursor += 1;
        }
        self.stats.publish(&self.totals);
        Ok(n)
    }

    fn send_batch(&mut self, _now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        let mut sent = 0;
        for p in packets {
            let index = p.socket.index();
            let slot = self.streams.get(index).map_or(Slot::Closed, |s| s.slot);
            if p.payload.len() > PACKET_BUF_BYTES || slot == Slot::Closed {
                self.totals.unknown_socket += u64::from(slot == Slot::Closed);
                self.io.tx_dropped += 1;
                continue;
            }
            match slot {
                Slot::Rtp => self.account_rtp(index, p.destination, p.payload),
                _ => self.totals.rtcp += 1,
            }
            self.io.tx_packets += 1;
            self.io.tx_bytes += p.payload.len() as u64;
            sent += 1;
        }
        self.stats.publish(&self.totals);
        Ok(sent)
    }

    fn stats(&self) -> IoStats {
        self.io
    }
}
