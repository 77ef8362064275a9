//! The entry point of the `session_packets` fuzz target and its corpus replay
//! (`core/tests/fuzz_corpus.rs`): any sequence of datagrams thrown at the legs of live
//! sessions on one worker. Compiled in normal builds so the replay runs on stable (as
//! [`crate::rtp::fuzzing`]). Not API: hidden from the docs.
//!
//! The input is a list of records `[selector, length, bytes...]`. The selector's low three
//! bits pick the attacked leg, bit 3 sends to its RTCP port instead of its RTP port, bit 4
//! sends from a stranger's address instead of the leg's peer, bits 5 and 6 are the number
//! of 10 ms ticks to run after it, and bit 7 multiplies the length by six (datagrams of up to
//! 1,530 bytes). The attacked legs: a relay with RFC 4733 events, both legs of a PCMU ↔ Opus
//! transcoder with DTMF conversion and detection, three conference members (PCMU, Opus,
//! G.722) and an echo that learns its peer. Beside them a relay carries a clean stream.
//!
//! Panics — which the fuzzer reports — on a panic inside the worker, a datagram that no
//! counter of its leg accounts for, or a clean packet the bystanding relay did not deliver.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tandem_drivers::packet::loopback::{Loopback, LoopbackConfig, LoopbackNet};
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortRange, RecvMeta, SocketId, Timestamp, Transmit,
};

use crate::rtp::{PayloadType, RtpHeader, RtpTimestamp, SeqNo, Ssrc};
use crate::session::{
    CodecSpec, ConferenceSpec, LegId, LegSpec, PreparedMember, PreparedSession, SessionId,
    SessionSpec,
};
use crate::worker::{TICK_US, Worker, WorkerConfig};

const WORKER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const PEER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const STRANGER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66));
const TELEPHONE_EVENT: PayloadType = PayloadType::from_bits(101);
const OPUS: PayloadType = PayloadType::from_bits(96);
const BYSTANDER: SessionId = SessionId(10);

/// Throws `data`'s datagrams at the legs of live sessions (see the module docs).
pub fn session_packets(data: &[u8]) {
    let mut bench = Bench::new();
    let mut rest = data;
    while let [selector, length, tail @ ..] = rest {
        let length = usize::from(*length) * if selector & 0x80 != 0 { 6 } else { 1 };
        let (datagram, next) = tail.split_at(length.min(tail.len()));
        bench.throw(*selector, datagram);
        for _ in 0..(selector >> 5) & 3 {
            bench.step();
        }
        rest = next;
    }
    for _ in 0..10 {
        bench.step();
    }
    bench.check();
}

/// An attacked leg and how many datagrams were thrown at it.
struct Target {
    session: SessionId,
    leg: LegId,
    rtp: SocketAddr,
    /// The peer's socket the leg expects media from.
    from: SocketId,
    thrown: u64,
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

    /// Reads everything that arrived; returns how many datagrams reached `to`.
    fn drain(&mut self, to: SocketAddr) -> u64 {
        let mut count = 0;
        loop {
            let n = self
                .io
                .recv_batch(Timestamp::ZERO, &mut self.bufs, &mut self.meta)
                .unwrap_or(0);
            count += self.meta[..n]
                .iter()
                .filter(|m| m.destination == to)
                .count() as u64;
            if n < MAX_BATCH {
                return count;
            }
        }
    }
}

struct Bench {
    worker: Worker<Loopback>,
    peer: Host,
    stranger: Host,
    stranger_socket: SocketId,
    now_us: u64,
    targets: Vec<Target>,
    bystander: Option<Bystander>,
    _net: LoopbackNet,
}

/// The relay beside the attacked sessions, whose peer sends a clean stream.
struct Bystander {
    /// The peer's socket and the leg it sends to.
    from: SocketId,
    to: SocketAddr,
    /// Where the far side listens.
    out: SocketAddr,
    seq: u16,
    sent: u64,
    received: u64,
}

impl Bench {
    fn new() -> Self {
        let net = LoopbackNet::new();
        let range = PortRange::new(20_000, 20_999).expect("a valid range");
        let io = net
            .endpoint(LoopbackConfig::new(WORKER_IP, range))
            .expect("a loopback endpoint");
        let (worker, _control) = Worker::new(WorkerConfig::new(0), io);
        let mut stranger = Host::new(&net, STRANGER_IP, 40_000);
        let (stranger_socket, _) = stranger.socket();
        let mut bench = Self {
            worker,
            peer: Host::new(&net, PEER_IP, 30_000),
            stranger,
            stranger_socket,
            now_us: 1_000_000,
            targets: Vec::new(),
            bystander: None,
            _net: net,
        };
        bench.install_sessions();
        bench
    }

    fn install_sessions(&mut self) {
        let opus = CodecSpec::opus(48_000, OPUS);
        let (from, peer) = self.peer.socket();
        let (_, out) = self.peer.socket();
        let legs = self.install(
            1,
            &SessionSpec::Relay {
                a: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(peer)
                    .with_telephone_event(TELEPHONE_EVENT),
                b: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(out)
                    .with_telephone_event(TELEPHONE_EVENT),
            },
        );
        self.target(1, LegId::A, legs[0], from);

        let (from_a, peer_a) = self.peer.socket();
        let (from_b, peer_b) = self.peer.socket();
        let legs = self.install(
            2,
            &SessionSpec::Transcode {
                a: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(peer_a)
                    .with_telephone_event(TELEPHONE_EVENT)
                    .with_dtmf_detect(true),
                b: LegSpec::new(opus)
                    .with_remote(peer_b)
                    .with_telephone_event(TELEPHONE_EVENT)
                    .with_adaptive_playout(true),
            },
        );
        self.target(2, LegId::A, legs[0], from_a);
        self.target(2, LegId::B, legs[1], from_b);

        let room = ConferenceSpec::new(16_000, 8);
        self.install(3, &SessionSpec::Conference(room));
        for (k, codec) in [CodecSpec::PCMU, opus, CodecSpec::G722]
            .into_iter()
            .enumerate()
        {
            let (from, peer) = self.peer.socket();
            let leg = LegId(k as u32);
            let spec = LegSpec::new(codec)
                .with_remote(peer)
                .with_telephone_event(TELEPHONE_EVENT)
                .with_adaptive_playout(k != 1);
            let member = PreparedMember::new(SessionId(3), leg, &spec, &room)
                .expect("a valid conference member");
            let ports = self
                .worker
                .join(self.now_us, SessionId(3), Box::new(member))
                .map_err(|(e, _)| e)
                .expect("the room takes the member");
            self.target(3, leg, ports.rtp, from);
        }

        let (from, _) = self.peer.socket();
        let legs = self.install(4, &SessionSpec::Echo(LegSpec::new(CodecSpec::G722)));
        self.target(4, LegId::A, legs[0], from);

        let (from, peer) = self.peer.socket();
        let (_, out) = self.peer.socket();
        let legs = self.install(
            BYSTANDER.0,
            &SessionSpec::Relay {
                a: LegSpec::new(CodecSpec::PCMU).with_remote(peer),
                b: LegSpec::new(CodecSpec::PCMU).with_remote(out),
            },
        );
        self.bystander = Some(Bystander {
            from,
            to: legs[0],
            out,
            seq: 0,
            sent: 0,
            received: 0,
        });
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

    fn target(&mut self, session: u64, leg: LegId, rtp: SocketAddr, from: SocketId) {
        self.targets.push(Target {
            session: SessionId(session),
            leg,
            rtp,
            from,
            thrown: 0,
        });
    }

    fn throw(&mut self, selector: u8, datagram: &[u8]) {
        let count = self.targets.len();
        let target = &mut self.targets[usize::from(selector & 7) % count];
        let to = if selector & 0x08 != 0 {
            SocketAddr::new(target.rtp.ip(), target.rtp.port() + 1)
        } else {
            target.rtp
        };
        if selector & 0x10 != 0 {
            self.stranger
                .send(self.now_us, self.stranger_socket, to, datagram);
        } else {
            self.peer.send(self.now_us, target.from, to, datagram);
        }
        target.thrown += 1;
    }

    /// 10 ms: the bystander's packet every other tick, one tick of the worker, the hosts
    /// drained.
    fn step(&mut self) {
        let Some(b) = &mut self.bystander else { return };
        if self.now_us % (2 * TICK_US) == 0 {
            let header = RtpHeader::new(
                PayloadType::PCMU,
                SeqNo(b.seq),
                RtpTimestamp(u32::from(b.seq).wrapping_mul(160)),
                Ssrc(0xB1),
            );
            let mut packet = [0u8; 12 + 160];
            if header.emit_packet(&[0x55; 160], &mut packet).is_ok() {
                self.peer.send(self.now_us, b.from, b.to, &packet);
                b.seq = b.seq.wrapping_add(1);
                b.sent += 1;
            }
        }
        self.now_us += TICK_US;
        self.worker.tick(self.now_us);
        b.received += self.peer.drain(b.out);
        let _ = self.stranger.drain(b.out);
    }

    fn check(&mut self) {
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
        if let Some(b) = &self.bystander {
            assert_eq!(b.received, b.sent, "the bystanding relay lost packets");
        }
        for id in [1, 2, 3, 4, BYSTANDER.0] {
            assert!(self.worker.remove(self.now_us, SessionId(id)).is_ok());
        }
    }
}
