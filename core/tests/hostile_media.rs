//! Hostile media against live sessions: whatever arrives on a leg's ports (garbage, RTP with
//! any header, payload type, sequence, timestamp, SSRC, CSRCs, extension or padding, forged
//! RFC 4733 events, broken RTCP, from the peer or from anywhere) never panics the worker,
//! every datagram is accounted for in the leg's counters, every packet the worker sends is
//! valid RTP or RTCP of what the leg negotiated, and sessions next to the attacked ones carry
//! their media exactly as they would on a quiet worker.

#![allow(missing_docs)]

use std::sync::OnceLock;

use proptest::prelude::*;
use tandem_codecs::Format;
use tandem_core::rtp::PayloadType;
use tandem_core::session::fuzzing::{Bench, BystanderLog, TELEPHONE_EVENT};
use tandem_test_support::cases::proptest_cases;

#[allow(dead_code)]
#[path = "sessions/support.rs"]
mod support;

use support::{decode_all, tone_share};

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
    /// The datagram's bytes; `stream` is the target's forged sequence number and timestamp.
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
                    PtChoice::TelephoneEvent => TELEPHONE_EVENT.get(),
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

/// The longest attack, in 20 ms steps.
const MAX_STEPS: usize = 120;

/// Throws `attack` at a [`Bench`], one step every 20 ms, and lets it drain; returns it with
/// what its bystanders received.
fn run(attack: &[Vec<Datagram>]) -> (Bench, BystanderLog) {
    let mut bench = Bench::new();
    let mut streams = [(1u16, 1000u32); Bench::TARGETS];
    for datagrams in attack {
        for d in datagrams {
            let target = d.target % Bench::TARGETS;
            let bytes = d.bytes(&mut streams[target], bench.media_pt(target));
            bench.throw(target, d.to_rtcp_port, d.from_attacker, &bytes);
        }
        bench.tick();
        bench.tick();
    }
    bench.drain();
    let log = bench.bystander_log().clone();
    (bench, log)
}

/// The bystanders' output on a worker nobody attacks: one run as long as the longest
/// attack and its drain, read up to any tick (the worker is deterministic in virtual time,
/// so a shorter quiet run is a prefix of it).
fn quiet_before(ticks: u64) -> BystanderLog {
    static QUIET: OnceLock<BystanderLog> = OnceLock::new();
    QUIET
        .get_or_init(|| run(&vec![Vec::new(); MAX_STEPS]).1)
        .before(ticks)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(24), ..ProptestConfig::default() })]

    /// No panic; every datagram counted once by its leg; only negotiated payload types
    /// sent on (`Bench::check`); the bystanders' output the same as on a quiet worker.
    #[test]
    fn hostile_media_harms_nothing_but_itself(
        attack in prop::collection::vec(prop::collection::vec(datagram(), 0..6), 1..MAX_STEPS)
    ) {
        let (mut bench, log) = run(&attack);
        bench.check();
        prop_assert_eq!(log, quiet_before(bench.ticks()));
    }
}

/// The quiet run itself delivers what it should, so that comparing against it means
/// something: every relayed payload in order, and transcoded audio that carries the tone.
#[test]
fn the_quiet_worker_carries_the_bystanders_media() {
    let quiet = quiet_before(120);
    assert_eq!(quiet.relay.len(), 60);
    for (i, (_, payload)) in quiet.relay.iter().enumerate() {
        assert_eq!(payload[..], [i as u8; 160][..]);
    }
    assert!(quiet.transcode.len() >= 55, "{}", quiet.transcode.len());
    let pcm = decode_all(Format::G722, quiet.transcode.iter().map(|(_, p)| &p[..]));
    let tail = &pcm[pcm.len() / 2..];
    assert!(tone_share(tail, 700.0, 16_000) > 0.8);
}
