//! Hostile media against live sessions: whatever arrives on a leg's ports (garbage, RTP with
//! any header, payload type, sequence, timestamp, SSRC, CSRCs, extension or padding, forged
//! RFC 4733 events, broken RTCP, from the peer or from anywhere) never panics the worker,
//! every datagram is accounted for in the leg's counters, every packet the worker sends is
//! valid RTP or RTCP of what the leg negotiated, and sessions next to the attacked ones carry
//! their media exactly as they would on a quiet worker.

#![allow(missing_docs)]

#[allow(dead_code)]
#[path = "sessions/support.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::OnceLock;

use proptest::prelude::*;
use tandem_codecs::Format;
use tandem_core::rtp::rtcp::Compound;
use tandem_core::rtp::{PacketKind, PayloadType, RtpPacket, classify};
use tandem_core::session::{
    CodecSpec, ConferenceSpec, LegCounters, LegId, LegSpec, PreparedMember, SessionId, SessionSpec,
};
use tandem_drivers::packet::SocketId;

use support::{Harness, Stream, encode_all, sine};

const TE: PayloadType = PayloadType::from_bits(101);
const OPUS: PayloadType = PayloadType::from_bits(96);

/// A leg under attack: where its ports are, who its signalled peer is, what it negotiated.
struct Target {
    session: SessionId,
    leg: LegId,
    rtp: SocketAddr,
    /// The peer's socket that sends to this leg (the signalled or learned remote).
    from: SocketId,
    /// Payload types the leg negotiated (media, and telephone-event where it has one).
    media_pt: PayloadType,
    /// Datagrams sent to the leg's RTP and RTCP ports.
    sent: u64,
}

/// Where the sessions' output goes, and which payload types may appear there.
struct Sink {
    to: SocketAddr,
    allowed: Vec<PayloadType>,
}

/// The bystanders: a relay and a transcoder whose peers only send clean media.
struct Bystanders {
    /// The peer's socket and the relay's A leg it sends to.
    relay_in: (SocketId, SocketAddr),
    relay_out: SocketAddr,
    relay: Stream,
    transcode_in: (SocketId, SocketAddr),
    transcode_out: SocketAddr,
    transcode: Stream,
    tone: Vec<Vec<u8>>,
}

struct World {
    h: Harness,
    targets: Vec<Target>,
    sinks: Vec<Sink>,
    bystanders: Bystanders,
    attacker: SocketId,
    /// Per target: the forged stream's sequence number and timestamp.
    streams: Vec<(u16, u32)>,
    /// What the peers received, with the step it arrived in.
    received: Vec<(usize, support::Received)>,
}

impl World {
    fn new() -> Self {
        let mut h = Harness::new();
        let (attacker, _) = h.attacker.socket();
        let mut targets = Vec::new();
        let mut sinks = Vec::new();

        // 1. A relay with telephone-events, the hostile peer signalled on A.
        let (from, peer) = h.peer.socket();
        let (_, out) = h.peer.socket();
        let legs = h.install(
            1,
            &SessionSpec::Relay {
                a: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(peer)
                    .with_telephone_event(TE),
                b: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(out)
                    .with_telephone_event(TE),
            },
        );
        targets.push(target(1, LegId::A, legs[0], from, CodecSpec::PCMU));
        sinks.push(Sink {
            to: out,
            allowed: vec![PayloadType::PCMU, TE, PayloadType::CN],
        });

        // 2. A transcoder PCMU <-> Opus, DTMF both ways, both legs hostile.
        let (from_a, peer_a) = h.peer.socket();
        let (from_b, peer_b) = h.peer.socket();
        let opus = CodecSpec::opus(48_000, OPUS);
        let legs = h.install(
            2,
            &SessionSpec::Transcode {
                a: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(peer_a)
                    .with_telephone_event(TE)
                    .with_dtmf_detect(true),
                b: LegSpec::new(opus)
                    .with_remote(peer_b)
                    .with_telephone_event(TE)
                    .with_adaptive_playout(true),
            },
        );
        targets.push(target(2, LegId::A, legs[0], from_a, CodecSpec::PCMU));
        targets.push(target(2, LegId::B, legs[1], from_b, opus));
        sinks.push(Sink {
            to: peer_a,
            allowed: vec![PayloadType::PCMU, TE],
        });
        sinks.push(Sink {
            to: peer_b,
            allowed: vec![OPUS, TE],
        });

        // 3. A conference of three codecs at 16 kHz, every member hostile.
        let room = ConferenceSpec::new(16_000, 8);
        h.install(3, &SessionSpec::Conference(room));
        for (k, (codec, adaptive)) in [
            (CodecSpec::PCMU, true),
            (opus, false),
            (CodecSpec::G722, true),
        ]
        .into_iter()
        .enumerate()
        {
            let (from, peer) = h.peer.socket();
            let spec = LegSpec::new(codec)
                .with_remote(peer)
                .with_telephone_event(TE)
                .with_adaptive_playout(adaptive);
            let member = PreparedMember::new(SessionId(3), LegId(k as u32), &spec, &room).unwrap();
            let ports = h
                .worker
                .join(h.now_us, SessionId(3), Box::new(member))
                .map_err(|(e, _)| e)
                .unwrap();
            targets.push(target(3, LegId(k as u32), ports.rtp, from, codec));
            sinks.push(Sink {
                to: peer,
                allowed: vec![codec.payload_type, TE],
            });
        }

        // 4. An echo whose peer is learned, not signalled.
        let (from, peer) = h.peer.socket();
        let legs = h.install(4, &SessionSpec::Echo(LegSpec::new(CodecSpec::G722)));
        targets.push(target(4, LegId::A, legs[0], from, CodecSpec::G722));
        // An echo returns whatever it accepted: only the negotiated type, or another the
        // learning accepted (comfort noise), never one it dropped.
        sinks.push(Sink {
            to: peer,
            allowed: vec![PayloadType::G722, PayloadType::CN],
        });

        let bystanders = Bystanders::install(&mut h);
        let streams = targets.iter().map(|_| (1, 1000)).collect();
        World {
            h,
            targets,
            sinks,
            bystanders,
            attacker,
            streams,
            received: Vec::new(),
        }
    }

    /// One 20 ms step: the bystanders' packets, `attack`'s datagrams, two ticks.
    fn step(&mut self, i: usize, attack: &[Datagram]) {
        self.bystanders.send(&mut self.h, i);
        for d in attack {
            let k = d.target % self.targets.len();
            let bytes = d.bytes(&mut self.streams[k], self.targets[k].media_pt);
            let t = &mut self.targets[k];
            let to = if d.to_rtcp_port {
                SocketAddr::new(t.rtp.ip(), t.rtp.port() + 1)
            } else {
                t.rtp
            };
            if d.from_attacker {
                self.h
                    .attacker
                    .send(self.h.now_us, self.attacker, to, &bytes);
            } else {
                self.h.peer.send(self.h.now_us, t.from, to, &bytes);
            }
            t.sent += 1;
        }
        self.h.tick();
        self.h.tick();
        let got = self.h.peer.recv_all();
        self.received.extend(got.into_iter().map(|r| (i, r)));
    }
}

fn target(session: u64, leg: LegId, rtp: SocketAddr, from: SocketId, codec: CodecSpec) -> Target {
    Target {
        session: SessionId(session),
        leg,
        rtp,
        from,
        media_pt: codec.payload_type,
        sent: 0,
    }
}

impl Bystanders {
    fn install(h: &mut Harness) -> Self {
        let (relay_from, relay_peer) = h.peer.socket();
        let (_, relay_out) = h.peer.socket();
        let relay_legs = h.install(
            10,
            &SessionSpec::Relay {
                a: LegSpec::new(CodecSpec::PCMU).with_remote(relay_peer),
                b: LegSpec::new(CodecSpec::PCMU).with_remote(relay_out),
            },
        );
        let (transcode_from, transcode_peer) = h.peer.socket();
        let (_, transcode_out) = h.peer.socket();
        let transcode_legs = h.install(
            11,
            &SessionSpec::Transcode {
                a: LegSpec::new(CodecSpec::PCMU)
                    .with_remote(transcode_peer)
                    .with_adaptive_playout(true),
                b: LegSpec::new(CodecSpec::G722).with_remote(transcode_out),
            },
        );
        Self {
            relay_in: (relay_from, relay_legs[0]),
            relay_out,
            relay: Stream::new(0xB1, PayloadType::PCMU),
            transcode_in: (transcode_from, transcode_legs[0]),
            transcode_out,
            transcode: Stream::new(0xB2, PayloadType::PCMU),
            tone: encode_all(Format::PCMU, &sine(700.0, 6000.0, 8000, 8000 * 4), 160),
        }
    }

    fn relay_payload(i: usize) -> [u8; 160] {
        let mut p = [0u8; 160];
        for (j, b) in p.iter_mut().enumerate() {
            *b = (i * 7 + j) as u8;
        }
        p
    }

    fn send(&mut self, h: &mut Harness, i: usize) {
        let p = self.relay.packet(&Self::relay_payload(i), 160);
        h.peer.send(h.now_us, self.relay_in.0, self.relay_in.1, &p);
        let p = self.transcode.packet(&self.tone[i % self.tone.len()], 160);
        h.peer
            .send(h.now_us, self.transcode_in.0, self.transcode_in.1, &p);
    }
}

/// What one forged datagram is made of. The header fields are steps from the target's
/// previous forged packet, so that streams look continuous often enough to reach the jitter
/// buffers, the decoders and the DTMF receivers behind the checks.
#[derive(Debug, Clone)]
struct Datagram {
    target: usize,
    to_rtcp_port: bool,
    from_attacker: bool,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Any bytes.
    Raw(Vec<u8>),
    /// An RTP packet built field by field.
    Rtp(RtpFields),
    /// An RTCP compound of well-formed packets (reports, SDES, BYE, APP, unknown) with any
    /// contents, some with a length field that lies.
    Rtcp(Vec<RtcpPart>),
}

#[derive(Debug, Clone)]
struct RtcpPart {
    pt: u8,
    count: u8,
    /// The body after the 4-byte header, a multiple of 4 bytes.
    body: Vec<u8>,
    /// Added to the true length in words (0: the truth).
    length_error: i8,
}

#[derive(Debug, Clone)]
struct RtpFields {
    pt: PtChoice,
    marker: bool,
    seq_step: i32,
    ts_step: i64,
    ssrc: u32,
    csrcs: u8,
    /// Extension: profile, length claimed in words, words present.
    extension: Option<(u16, u16, u8)>,
    /// Padding: count claimed in the last byte, bytes present.
    padding: Option<(u8, u8)>,
    payload: Payload,
}

#[derive(Debug, Clone)]
enum PtChoice {
    Negotiated,
    TelephoneEvent,
    ComfortNoise,
    Any(u8),
}

#[derive(Debug, Clone)]
enum Payload {
    Bytes(Vec<u8>),
    /// An RFC 4733 event payload with any fields.
    Event {
        event: u8,
        end: bool,
        volume: u8,
        duration: u16,
    },
    /// A G.711-sized payload of one byte value (digital silence and its neighbours).
    Constant(u8, u16),
}

impl Datagram {
    fn bytes(&self, stream: &mut (u16, u32), media_pt: PayloadType) -> Vec<u8> {
        match &self.kind {
            Kind::Raw(b) => b.clone(),
            Kind::Rtcp(packets) => {
                let mut out = Vec::new();
                for part in packets {
                    let words = (part.body.len() / 4) as i32 + i32::from(part.length_error);
                    out.push(0x80 | (part.count & 0x1f));
                    out.push(part.pt);
                    out.extend_from_slice(&(words.max(0) as u16).to_be_bytes());
                    out.extend_from_slice(&part.body);
                }
                out
            }
            Kind::Rtp(f) => {
                stream.0 = (i32::from(stream.0) + f.seq_step) as u16;
                stream.1 = (i64::from(stream.1) + f.ts_step) as u32;
                let pt = match f.pt {
                    PtChoice::Negotiated => media_pt.get(),
                    PtChoice::TelephoneEvent => TE.get(),
                    PtChoice::ComfortNoise => PayloadType::CN.get(),
                    PtChoice::Any(pt) => pt & 0x7f,
                };
                let mut out = vec![
                    0x80 | u8::from(f.padding.is_some()) << 5
                        | u8::from(f.extension.is_some()) << 4
                        | (f.csrcs & 0x0f),
                    u8::from(f.marker) << 7 | pt,
                ];
                out.extend_from_slice(&stream.0.to_be_bytes());
                out.extend_from_slice(&stream.1.to_be_bytes());
                out.extend_from_slice(&f.ssrc.to_be_bytes());
                for c in 0..(f.csrcs & 0x0f) {
                    out.extend_from_slice(&u32::from(c).to_be_bytes());
                }
                if let Some((profile, claimed, present)) = f.extension {
                    out.extend_from_slice(&profile.to_be_bytes());
                    out.extend_from_slice(&claimed.to_be_bytes());
                    out.extend(std::iter::repeat_n(0x5a, usize::from(present) * 4));
                }
                match &f.payload {
                    Payload::Bytes(b) => out.extend_from_slice(b),
                    Payload::Event {
                        event,
                        end,
                        volume,
                        duration,
                    } => {
                        out.push(*event);
                        out.push(u8::from(*end) << 7 | (volume & 0x3f));
                        out.extend_from_slice(&duration.to_be_bytes());
                    }
                    Payload::Constant(b, n) => {
                        out.extend(std::iter::repeat_n(*b, usize::from(*n)));
                    }
                }
                if let Some((claimed, present)) = f.padding {
                    out.extend(std::iter::repeat_n(0, usize::from(present)));
                    out.push(claimed);
                }
                out
            }
        }
    }
}

fn rtp_fields() -> impl Strategy<Value = RtpFields> {
    let pt = prop_oneof![
        6 => Just(PtChoice::Negotiated),
        3 => Just(PtChoice::TelephoneEvent),
        1 => Just(PtChoice::ComfortNoise),
        2 => any::<u8>().prop_map(PtChoice::Any),
    ];
    let seq_step = prop_oneof![8 => Just(1), 1 => Just(0), 1 => -40i32..40, 1 => any::<u16>().prop_map(i32::from)];
    let ts_step = prop_oneof![
        6 => Just(160i64),
        2 => Just(960),
        1 => Just(0),
        1 => -20_000i64..20_000,
        1 => any::<u32>().prop_map(i64::from),
    ];
    let ssrc = prop_oneof![8 => Just(0x5eed_0001u32), 1 => Just(0x5eed_0002), 1 => any::<u32>()];
    let payload = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..400).prop_map(Payload::Bytes),
        2 => (any::<u8>(), any::<bool>(), any::<u8>(), any::<u16>()).prop_map(
            |(event, end, volume, duration)| Payload::Event { event: event % 20, end, volume, duration }
        ),
        1 => (prop_oneof![Just(0xffu8), Just(0x7f), Just(0xd5), any::<u8>()], 0u16..1200)
            .prop_map(|(b, n)| Payload::Constant(b, n)),
    ];
    (
        pt,
        prop::bool::weighted(0.1),
        seq_step,
        ts_step,
        ssrc,
        prop_oneof![8 => Just(0u8), 1 => 0u8..16],
        prop::option::weighted(0.1, (any::<u16>(), 0u16..8, 0u8..6)),
        prop::option::weighted(0.1, (any::<u8>(), 0u8..8)),
        payload,
    )
        .prop_map(
            |(pt, marker, seq_step, ts_step, ssrc, csrcs, extension, padding, payload)| RtpFields {
                pt,
                marker,
                seq_step,
                ts_step,
                ssrc,
                csrcs,
                extension,
                padding,
                payload,
            },
        )
}

/// One RTCP packet: a sender or receiver report with 0 to 3 blocks, SDES, BYE, APP or an
/// unknown type, its body the size its type and count call for (any bytes inside).
fn rtcp_part() -> impl Strategy<Value = RtcpPart> {
    let length_error = prop_oneof![8 => Just(0i8), 1 => -2i8..3, 1 => any::<i8>()];
    let words = |n: usize| prop::collection::vec(any::<u8>(), n * 4);
    let shaped = prop_oneof![
        (0u8..4)
            .prop_flat_map(move |rc| words(6 + 6 * rc as usize).prop_map(move |b| (200u8, rc, b))),
        (0u8..4)
            .prop_flat_map(move |rc| words(1 + 6 * rc as usize).prop_map(move |b| (201u8, rc, b))),
        (0u8..3, 0usize..8)
            .prop_flat_map(move |(sc, n)| words(n).prop_map(move |b| (202u8, sc, b))),
        (0u8..3).prop_flat_map(move |sc| words(sc as usize + 1).prop_map(move |b| (203u8, sc, b))),
        (any::<u8>(), 0usize..6)
            .prop_flat_map(move |(pt, n)| words(n).prop_map(move |b| (pt, 0, b))),
    ];
    (shaped, length_error).prop_map(|((pt, count, body), length_error)| RtcpPart {
        pt,
        count,
        body,
        length_error,
    })
}

fn datagram() -> impl Strategy<Value = Datagram> {
    let rtcp = prop::collection::vec(rtcp_part(), 1..4);
    let kind = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Kind::Raw),
        8 => rtp_fields().prop_map(Kind::Rtp),
        2 => rtcp.prop_map(Kind::Rtcp),
    ];
    (
        0usize..64,
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.1),
        kind,
    )
        .prop_map(|(target, to_rtcp_port, from_attacker, kind)| Datagram {
            target,
            to_rtcp_port,
            from_attacker,
            kind,
        })
}

/// 20 ms steps, each with 0 to 6 hostile datagrams.
fn attack() -> impl Strategy<Value = Vec<Vec<Datagram>>> {
    prop::collection::vec(prop::collection::vec(datagram(), 0..6), 40..MAX_STEPS)
}

/// What the bystanders' far peers received by the end of a step: the relay's payloads,
/// the transcoder's.
#[derive(Debug, PartialEq, Eq)]
struct BystanderOutput {
    relay: Vec<Vec<u8>>,
    transcode: Vec<Vec<u8>>,
}

/// Steps after the attack in which only the bystanders send, so buffers drain.
const DRAIN_STEPS: usize = 10;

fn run(attack: &[Vec<Datagram>]) -> World {
    let mut world = World::new();
    for (i, datagrams) in attack.iter().enumerate() {
        world.step(i, datagrams);
    }
    for i in attack.len()..attack.len() + DRAIN_STEPS {
        world.step(i, &[]);
    }
    world
}

/// The bystanders' payloads with the step each arrived in.
struct BystanderLog {
    relay: Vec<(usize, Vec<u8>)>,
    transcode: Vec<(usize, Vec<u8>)>,
}

impl BystanderLog {
    /// What had arrived by the end of step `steps - 1`.
    fn until(&self, steps: usize) -> BystanderOutput {
        let upto = |log: &[(usize, Vec<u8>)]| -> Vec<Vec<u8>> {
            log.iter()
                .filter(|(step, _)| *step < steps)
                .map(|(_, p)| p.clone())
                .collect()
        };
        BystanderOutput {
            relay: upto(&self.relay),
            transcode: upto(&self.transcode),
        }
    }
}

impl World {
    fn bystander_log(&self) -> BystanderLog {
        let payloads_to = |to: SocketAddr| -> Vec<(usize, Vec<u8>)> {
            self.received
                .iter()
                .filter(|(_, r)| r.to == to && classify(&r.bytes) == PacketKind::Rtp)
                .filter_map(|(step, r)| {
                    let p = RtpPacket::new_checked(&r.bytes[..]).ok()?;
                    Some((*step, p.payload().to_vec()))
                })
                .collect()
        };
        BystanderLog {
            relay: payloads_to(self.bystanders.relay_out),
            transcode: payloads_to(self.bystanders.transcode_out),
        }
    }
}

/// The longest attack, in steps.
const MAX_STEPS: usize = 120;

/// The bystanders' output on a worker nobody attacks: one run as long as the longest
/// attack and its drain, read up to any step (the worker is deterministic in virtual time, so a shorter
/// quiet run is a prefix of it).
fn quiet_output(steps: usize) -> BystanderOutput {
    static QUIET: OnceLock<BystanderLog> = OnceLock::new();
    QUIET
        .get_or_init(|| run(&vec![Vec::new(); MAX_STEPS]).bystander_log())
        .until(steps)
}

fn check(attack: &[Vec<Datagram>]) -> Result<(), TestCaseError> {
    let mut world = run(attack);
    let steps = attack.len() + DRAIN_STEPS;
    // The bystanders carried their media exactly as on a quiet worker.
    let output = world.bystander_log().until(steps);
    let quiet = quiet_output(steps);
    prop_assert_eq!(output.relay.len(), steps);
    prop_assert_eq!(&output.relay, &quiet.relay);
    prop_assert_eq!(&output.transcode, &quiet.transcode);
    // Every datagram sent to an attacked leg is counted once, under one reason.
    for t in &world.targets {
        let c: LegCounters = world.h.worker.leg_counters(t.session, t.leg).unwrap();
        prop_assert_eq!(
            t.sent,
            c.rtp_received + c.rtcp_received + c.rtcp_dropped,
            "leg {:?}/{:?}: {:?}",
            t.session,
            t.leg,
            c
        );
        prop_assert_eq!(
            c.rtp_received,
            c.rtp_accepted + c.malformed + c.source_dropped + c.blocked,
            "leg {:?}/{:?}: {:?}",
            t.session,
            t.leg,
            c
        );
    }
    // Whatever the attacked sessions sent is valid RTP (or RTCP) of what the far leg
    // negotiated.
    for sink in &world.sinks {
        for (_, r) in world.received.iter().filter(|(_, r)| r.to == sink.to) {
            if classify(&r.bytes) == PacketKind::Rtcp {
                // Reports, on the RTP port once the peer multiplexed RTCP there.
                prop_assert!(Compound::new_checked(&r.bytes[..]).is_ok());
                continue;
            }
            let Ok(p) = RtpPacket::new_checked(&r.bytes[..]) else {
                prop_assert!(false, "not RTP to {}: {:02x?}", sink.to, &r.bytes);
                unreachable!()
            };
            prop_assert!(
                sink.allowed.contains(&p.payload_type()),
                "payload type {} to {}",
                p.payload_type().get(),
                sink.to
            );
        }
    }
    // The worker still removes every session cleanly.
    for id in [1, 2, 3, 4, 10, 11] {
        prop_assert!(world.h.worker.remove(world.h.now_us, SessionId(id)).is_ok());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn hostile_media_harms_nothing_but_itself(attack in attack()) {
        check(&attack)?;
    }
}

/// The quiet run itself delivers what it should, so that comparing against it means
/// something: every relayed payload, and transcoded audio that carries the tone.
#[test]
fn the_quiet_worker_carries_the_bystanders_media() {
    let quiet = quiet_output(60);
    assert_eq!(quiet.relay.len(), 60);
    for (i, p) in quiet.relay.iter().enumerate() {
        assert_eq!(p[..], Bystanders::relay_payload(i)[..]);
    }
    assert!(quiet.transcode.len() >= 55, "{}", quiet.transcode.len());
    let pcm = support::decode_all(Format::G722, quiet.transcode.iter().map(Vec::as_slice));
    let tail = &pcm[pcm.len() / 2..];
    assert!(support::tone_share(tail, 700.0, 16_000) > 0.8);
}
