//! Hostile media against live sessions, shared by the `session_packets` fuzz target, its
//! corpus replay (`core/tests/fuzz_corpus.rs`) and the `hostile_media` property test.
//! Compiled in normal builds so the replay runs on stable (as [`crate::rtp::fuzzing`]). Not
//! API: hidden from the docs.
//!
//! [`Bench`] is one worker in virtual time on the loopback network with seven attacked legs
//! (a relay with RFC 4733 events, both legs of a PCMU ↔ Opus transcoder with DTMF
//! conversion and detection, three conference members in PCMU, Opus and G.722, and an echo
//! that learns its peer) and two bystanders whose peers send clean media (a PCMU relay, and a
//! PCMU → G.722 transcoder carrying a tone). Whatever is thrown at the attacked legs,
//! [`Bench::check`] panics — which the fuzzer and proptest report — on a datagram that no
//! counter of its leg accounts for, a packet sent on that is not valid RTP or RTCP of what
//! the receiving side negotiated, a clean packet the bystanding relay did not deliver, or a
//! session the worker cannot remove.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tandem_codecs::{EncoderConfig, Format, registry};
use tandem_drivers::packet::loopback::{Loopback, LoopbackConfig, LoopbackNet};
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortRange, RecvMeta, SocketId, Timestamp, Transmit,
};

use crate::rtp::classify;
use crate::rtp::rtcp::Compound;
use crate::rtp::{PacketKind, PayloadType, RtpHeader, RtpPacket, RtpTimestamp, SeqNo, Ssrc};
use crate::session::{
    CodecSpec, ConferenceSpec, LegId, LegSpec, PlayoutSpec, PreparedMember, PreparedSession,
    SessionId, SessionSpec,
};
use crate::worker::{TICK_US, Worker, WorkerConfig};

const WORKER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const PEER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const STRANGER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66));
/// The telephone-event payload type of every attacked leg.
pub const TELEPHONE_EVENT: PayloadType = PayloadType::from_bits(101);
const OPUS: PayloadType = PayloadType::from_bits(96);
const SESSIONS: [u64; 6] = [1, 2, 3, 4, 10, 11];

/// Throws `data`'s datagrams at the attacked legs of a [`Bench`], then checks it.
///
/// The input is a list of records `[selector, length, bytes...]`. The selector's low three
/// bits pick the leg, bit 3 sends to its RTCP port instead of its RTP port, bit 4 sends from
/// a stranger's address instead of the leg's peer, bits 5 and 6 are the number of 10 ms
/// ticks to run after it, and bit 7 multiplies the length by six (datagrams of up to 1,530
/// bytes).
pub fn session_packets(data: &[u8]) {
    let mut bench = Bench::new();
    let mut rest = data;
    while let [selector, length, tail @ ..] = rest {
        let length = usize::from(*length) * if selector & 0x80 != 0 { 6 } else { 1 };
        let (datagram, next) = tail.split_at(length.min(tail.len()));
        let target = usize::from(selector & 7) % Bench::TARGETS;
        bench.throw(target, selector & 0x08 != 0, selector & 0x10 != 0, datagram);
        for _ in 0..(selector >> 5) & 3 {
            bench.tick();
        }
        rest = next;
    }
    bench.drain();
    bench.check();
}

/// An attacked leg.
struct Target {
    session: SessionId,
    leg: LegId,
    rtp: SocketAddr,
    /// The peer's socket the leg expects media from.
    from: SocketId,
    media_pt: PayloadType,
    /// Datagrams thrown at its RTP and RTCP ports.
    thrown: u64,
}

/// Where a session's output arrives, and the payload types it may carry.
struct Sink {
    to: SocketAddr,
    allowed: Vec<PayloadType>,
}

/// A peer that sends one clean 20 ms packet every other tick to a bystanding session.
struct CleanSender {
    ssrc: Ssrc,
    from: SocketId,
    to: SocketAddr,
    payloads: Vec<Vec<u8>>,
    seq: u16,
}

/// The payloads the bystanders' far sides received, each with the tick it arrived in.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BystanderLog {
    /// From the relay.
    pub relay: Vec<(u64, Vec<u8>)>,
    /// From the transcoder (G.722 of a 700 Hz tone).
    pub transcode: Vec<(u64, Vec<u8>)>,
}

impl BystanderLog {
    /// What had arrived before tick `ticks`.
    pub fn before(&self, ticks: u64) -> BystanderLog {
        let keep =
            |log: &[(u64, Vec<u8>)]| log.iter().filter(|(t, _)| *t < ticks).cloned().collect();
        BystanderLog {
            relay: keep(&self.relay),
            transcode: keep(&self.transcode),
        }
    }
}

/// A host on the loopback network.
struct Host {
    io: Loopback,
    bufs: Vec<PacketBuf>,
    meta: Vec<RecvMeta>,
}

impl Host {
    fn new(net: &LoopbackNet, ip: IpAddr, min: u16) -> Self {
        let range = PortRange::new(min, min + 999).expect("a valid range");
        Self {
            io: net
                .endpoint(LoopbackConfig::new(ip, range))
                .expect("a loopback endpoint"),
            bufs: PacketBuf::new_vec(MAX_BATCH),
            meta: RecvMeta::new_vec(MAX_BATCH),
        }
    }

    fn socket(&mut self) -> (SocketId, SocketAddr) {
        let pair = self.io.open_pair().expect("a free port pair");
        let address = self.io.local_addr(pair.rtp).expect("an open socket");
        (pair.rtp, address)
    }

    fn send(&mut self, now_us: u64, socket: SocketId, destination: SocketAddr, payload: &[u8]) {
        let transmit = Transmit {
            socket,
            destination,
            payload,
        };
        let _ = self
            .io
            .send_batch(Timestamp::from_micros(now_us), &[transmit]);
    }

    /// Hands every datagram that arrived to `on(destination, bytes)`.
    fn drain(&mut self, mut on: impl FnMut(SocketAddr, &[u8])) {
        loop {
            let n = self
                .io
                .recv_batch(Timestamp::ZERO, &mut self.bufs, &mut self.meta)
                .unwrap_or(0);
            for (buf, meta) in self.bufs.iter().zip(&self.meta).take(n) {
                on(meta.destination, buf.payload(meta.len));
            }
            if n < MAX_BATCH {
                return;
            }
        }
    }
}

/// One worker with attacked and bystanding sessions. See the module docs.
pub struct Bench {
    worker: Worker<Loopback>,
    peer: Host,
    stranger: Host,
    stranger_socket: SocketId,
    now_us: u64,
    ticks: u64,
    targets: Vec<Target>,
    sinks: Vec<Sink>,
    clean: Vec<CleanSender>,
    relay_out: SocketAddr,
    transcode_out: SocketAddr,
    log: BystanderLog,
    relay_sent: u64,
    _net: LoopbackNet,
}

impl Default for Bench {
    fn default() -> Self {
        Self::new()
    }
}

impl Bench {
    /// How many legs are attacked; [`Bench::throw`] takes `0..TARGETS`.
    pub const TARGETS: usize = 7;

    /// The worker and its sessions, nothing sent yet.
    pub fn new() -> Self {
        let net = LoopbackNet::new();
        let range = PortRange::new(20_000, 20_999).expect("a valid range");
        let io = net
            .endpoint(LoopbackConfig::new(WORKER_IP, range))
            .expect("a loopback endpoint");
        let (worker, _control) = Worker::new(WorkerConfig::new(0), io);
        let mut stranger = Host::new(&net, STRANGER_IP, 40_000);
        let (stranger_socket, _) = stranger.socket();
        let unset = SocketAddr::new(PEER_IP, 0);
        let mut bench = Self {
            worker,
            peer: Host::new(&net, PEER_IP, 30_000),
            stranger,
            stranger_socket,
            now_us: 1_000_000,
            ticks: 0,
            targets: Vec::new(),
            sinks: Vec::new(),
            clean: Vec::new(),
            relay_out: unset,
            transcode_out: unset,
            log: BystanderLog::default(),
            relay_sent: 0,
            _net: net,
        };
        bench.install_attacked();
        bench.install_bystanders();
        bench
    }

    fn install_attacked(&mut self) {
        let opus = CodecSpec::opus(48_000, OPUS);
        let te = TELEPHONE_EVENT;
        // A relay with telephone-events, the hostile peer signalled on A.
        let (from, peer) = self.peer.socket();
        let (_, out) = self.peer.socket();
        let legs = self.install(
            1,
            &SessionSpec::Relay {
                a: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(peer)
                    .with_telephone_event(te),
                b: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(out)
                    .with_telephone_event(te),
            },
        );
        self.target(1, LegId::A, legs[0], from, CodecSpec::PCMU);
        self.sink(out, &[PayloadType::PCMU, te, PayloadType::CN]);

        // A transcoder PCMU <-> Opus, DTMF both ways, both legs hostile.
        let (from_a, peer_a) = self.peer.socket();
        let (from_b, peer_b) = self.peer.socket();
        let legs = self.install(
            2,
            &SessionSpec::Transcode {
                a: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(peer_a)
                    .with_telephone_event(te)
                    .with_dtmf_detect(true),
                b: LegSpec::new(opus)
                    .with_remote(peer_b)
                    .with_telephone_event(te)
                    .with_adaptive_playout(true),
            },
        );
        self.target(2, LegId::A, legs[0], from_a, CodecSpec::PCMU);
        self.target(2, LegId::B, legs[1], from_b, opus);
        self.sink(peer_a, &[PayloadType::PCMU, te]);
        self.sink(peer_b, &[OPUS, te]);

        // A conference of three codecs at 16 kHz, every member hostile, each with another
        // jitter buffer: the adaptive default, the fixed one with no delay at all, and the
        // adaptive one within the tightest bounds a configuration allows.
        let room = ConferenceSpec::new(16_000, 8);
        self.install(3, &SessionSpec::Conference(room));
        let buffers = [
            PlayoutSpec::ADAPTIVE,
            PlayoutSpec::Fixed { delay_ms: 0 },
            PlayoutSpec::Adaptive {
                min_delay_ms: 0,
                max_delay_ms: 10,
            },
        ];
        for (k, (codec, playout)) in [CodecSpec::PCMU, opus, CodecSpec::G722]
            .into_iter()
            .zip(buffers)
            .enumerate()
        {
            let (from, peer) = self.peer.socket();
            let leg = LegId(k as u32);
            let spec = LegSpec::new(codec)
                .with_remote(peer)
                .with_telephone_event(te)
                .with_playout(playout);
            let member = PreparedMember::new(SessionId(3), leg, &spec, &room)
                .expect("a valid conference member");
            let ports = self
                .worker
                .join(self.now_us, SessionId(3), Box::new(member))
                .map_err(|(e, _)| e)
                .expect("the room takes the member");
            self.target(3, leg, ports.rtp, from, codec);
            self.sink(peer, &[codec.payload_type, te]);
        }

        // An echo whose peer is learned, not signalled. It returns what it accepted: the
        // negotiated type, or comfort noise, never what it dropped.
        let (from, peer) = self.peer.socket();
        let legs = self.install(4, &SessionSpec::Echo(LegSpec::new(CodecSpec::G722)));
        self.target(4, LegId::A, legs[0], from, CodecSpec::G722);
        self.sink(peer, &[PayloadType::G722, PayloadType::CN]);
    }

    fn install_bystanders(&mut self) {
        let (from, peer) = self.peer.socket();
        let (_, out) = self.peer.socket();
        let legs = self.install(
            10,
            &SessionSpec::Relay {
                a: LegSpec::new(CodecSpec::PCMU).with_remote(peer),
                b: LegSpec::new(CodecSpec::PCMU).with_remote(out),
            },
        );
        let counting: Vec<Vec<u8>> = (0..=255u8).map(|i| vec![i; 160]).collect();
        self.clean.push(CleanSender {
            ssrc: Ssrc(0xB1),
            from,
            to: legs[0],
            payloads: counting,
            seq: 0,
        });
        self.relay_out = out;

        let (from, peer) = self.peer.socket();
        let (_, out) = self.peer.socket();
        let legs = self.install(
            11,
            &SessionSpec::Transcode {
                a: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(peer)
                    .with_adaptive_playout(true),
                b: LegSpec::new(CodecSpec::G722).with_remote(out),
            },
        );
        self.clean.push(CleanSender {
            ssrc: Ssrc(0xB2),
            from,
            to: legs[0],
            payloads: pcmu_tone(700.0, 50),
            seq: 0,
        });
        self.transcode_out = out;
    }

    fn install(&mut self, id: u64, spec: &SessionSpec) -> Vec<SocketAddr> {
        let session = PreparedSession::new(SessionId(id), spec).expect("a valid session");
        let legs = self
            .worker
            .install(self.now_us, Box::new(session))
            .map_err(|(e, _)| e)
            .expect("the worker takes the session");
        legs.into_iter().flatten().map(|p| p.rtp).collect()
    }

    fn target(
        &mut self,
        session: u64,
        leg: LegId,
        rtp: SocketAddr,
        from: SocketId,
        codec: CodecSpec,
    ) {
        self.targets.push(Target {
            session: SessionId(session),
            leg,
            rtp,
            from,
            media_pt: codec.payload_type,
            thrown: 0,
        });
    }

    fn sink(&mut self, to: SocketAddr, allowed: &[PayloadType]) {
        self.sinks.push(Sink {
            to,
            allowed: allowed.to_vec(),
        });
    }

    /// The media payload type attacked leg `target` negotiated.
    pub fn media_pt(&self, target: usize) -> PayloadType {
        self.targets[target].media_pt
    }

    /// Sends `datagram` to leg `target`'s RTP port (or its RTCP port), from its peer's
    /// address (or a stranger's).
    pub fn throw(&mut self, target: usize, rtcp_port: bool, from_stranger: bool, datagram: &[u8]) {
        let t = &mut self.targets[target];
        let to = if rtcp_port {
            SocketAddr::new(t.rtp.ip(), t.rtp.port() + 1)
        } else {
            t.rtp
        };
        if from_stranger {
            self.stranger
                .send(self.now_us, self.stranger_socket, to, datagram);
        } else {
            self.peer.send(self.now_us, t.from, to, datagram);
        }
        t.thrown += 1;
    }

    /// 10 ms: the bystanders' packets every other tick, one tick of the worker, and what
    /// arrived read and checked.
    pub fn tick(&mut self) {
        if self.ticks % 2 == 0 {
            for sender in &mut self.clean {
                let payload = &sender.payloads[usize::from(sender.seq) % sender.payloads.len()];
                let header = RtpHeader::new(
                    PayloadType::PCMU,
                    SeqNo(sender.seq),
                    RtpTimestamp(u32::from(sender.seq).wrapping_mul(160)),
                    sender.ssrc,
                );
                let mut packet = vec![0u8; header.buffer_len(payload.len())];
                header
                    .emit_packet(payload, &mut packet)
                    .expect("a clean packet fits");
                self.peer.send(self.now_us, sender.from, sender.to, &packet);
                sender.seq = sender.seq.wrapping_add(1);
            }
            self.relay_sent += 1;
        }
        self.now_us += TICK_US;
        self.worker.tick(self.now_us);
        let tick = self.ticks;
        let (sinks, log) = (&self.sinks, &mut self.log);
        let (relay_out, transcode_out) = (self.relay_out, self.transcode_out);
        self.peer.drain(|to, bytes| {
            let kind = classify(bytes);
            if to == relay_out || to == transcode_out {
                if kind == PacketKind::Rtp {
                    let packet = RtpPacket::new_checked(bytes).expect("the bystanders send RTP");
                    let entry = (tick, packet.payload().to_vec());
                    if to == relay_out {
                        log.relay.push(entry);
                    } else {
                        log.transcode.push(entry);
                    }
                }
                return;
            }
            let Some(sink) = sinks.iter().find(|s| s.to == to) else {
                return;
            };
            if kind == PacketKind::Rtcp {
                // Reports, on the RTP port once the peer multiplexed RTCP there.
                assert!(
                    Compound::new_checked(bytes).is_ok(),
                    "malformed RTCP to {to}: {bytes:02x?}"
                );
                return;
            }
            let packet = RtpPacket::new_checked(bytes)
                .unwrap_or_else(|_| panic!("not RTP to {to}: {bytes:02x?}"));
            assert!(
                sink.allowed.contains(&packet.payload_type()),
                "payload type {} sent to {to}, which negotiated {:?}",
                packet.payload_type().get(),
                sink.allowed
            );
        });
        self.stranger.drain(|_, _| {});
        self.ticks += 1;
    }

    /// Ticks that have run.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// 100 ms of clean media only, so that buffers drain.
    pub fn drain(&mut self) {
        for _ in 0..10 {
            self.tick();
        }
    }

    /// What the bystanders' far sides received so far.
    pub fn bystander_log(&self) -> &BystanderLog {
        &self.log
    }

    /// The checks of the module docs; removes every session.
    ///
    /// # Panics
    ///
    /// When one fails.
    pub fn check(&mut self) {
        for t in &self.targets {
            let c = self
                .worker
                .leg_counters(t.session, t.leg)
                .expect("the leg is still there");
            assert_eq!(
                t.thrown,
                c.rtp_received + c.rtcp_received + c.rtcp_dropped,
                "a datagram to {:?} leg {:?} is in no counter: {c:?}",
                t.session,
                t.leg
            );
            assert_eq!(
                c.rtp_received,
                c.rtp_accepted + c.malformed + c.source_dropped + c.blocked,
                "an RTP datagram to {:?} leg {:?} is in no counter: {c:?}",
                t.session,
                t.leg
            );
        }
        assert_eq!(
            self.log.relay.len() as u64,
            self.relay_sent,
            "the bystanding relay lost packets"
        );
        for id in SESSIONS {
            assert!(self.worker.remove(self.now_us, SessionId(id)).is_ok());
        }
    }
}

/// `frames` 20 ms PCMU payloads of a tone at `hz`.
fn pcmu_tone(hz: f64, frames: usize) -> Vec<Vec<u8>> {
    let mut encoder = registry::new_encoder(Format::PCMU, &EncoderConfig::default())
        .expect("PCMU is always built");
    (0..frames)
        .map(|f| {
            let pcm: Vec<i16> = (0..160)
                .map(|i| {
                    let t = (f * 160 + i) as f64 / 8000.0;
                    (6000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
                })
                .collect();
            let mut payload = vec![0u8; 160];
            let n = encoder.encode(&pcm, &mut payload).expect("160 samples fit");
            payload.truncate(n);
            payload
        })
        .collect()
}
