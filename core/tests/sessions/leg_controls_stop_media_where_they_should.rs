//! Per-leg controls (hold, mute, block) in every session kind: while a control is on, no
//! media leaks where it should not, and when it is lifted the stream continues (same SSRC,
//! the next sequence number, a timestamp that reflects the pause).

use tandem_codecs::Format;
use tandem_core::bus::EventKind;
use tandem_core::rtp::{PayloadType, RtpTimestamp};
use tandem_core::session::{
    CodecSpec, ConferenceSpec, ControlChange, LegId, LegSpec, MediaDirection, PlaySource, PlaySpec,
    PreparedMember, SessionId, SessionSpec,
};

use crate::support::{Harness, Received, Stream, decode_all, encode_all, rms, sine, tone_share};

const TE: u8 = 101;

fn mute_in() -> ControlChange {
    ControlChange {
        mute_in: Some(true),
        ..ControlChange::NONE
    }
}

fn mute_out() -> ControlChange {
    ControlChange {
        mute_out: Some(true),
        ..ControlChange::NONE
    }
}

/// RTP (not RTCP) datagrams that reached `peer`.
fn rtp_to(got: &[Received], peer: std::net::SocketAddr) -> Vec<&Received> {
    got.iter()
        .filter(|r| r.to == peer && r.bytes.get(1).is_some_and(|b| !(200..=204).contains(b)))
        .collect()
}

/// A PCMU relay A ↔ B with both peers known: (harness, A's socket, B's socket, A's and B's
/// peer addresses, the legs' addresses).
fn relay(
    codec: CodecSpec,
) -> (
    Harness,
    tandem_drivers::packet::SocketId,
    tandem_drivers::packet::SocketId,
    std::net::SocketAddr,
    std::net::SocketAddr,
    Vec<std::net::SocketAddr>,
) {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (sb, peer_b) = h.peer.socket();
    let te = PayloadType::new(TE).unwrap();
    let legs = h.install(
        3,
        &SessionSpec::Relay {
            a: LegSpec::new(codec)
                .with_remote(peer_a)
                .with_telephone_event(te),
            b: LegSpec::new(codec)
                .with_remote(peer_b)
                .with_telephone_event(te),
        },
    );
    (h, sa, sb, peer_a, peer_b, legs)
}

fn set(h: &mut Harness, session: u64, leg: LegId, change: ControlChange) {
    h.worker
        .set_leg_controls(h.now_us, SessionId(session), leg, &change)
        .unwrap();
}

#[test]
fn a_held_relay_leg_gets_no_rtp_and_resumes_its_stream_where_it_left_off() {
    let (mut h, sa, _, _, peer_b, legs) = relay(CodecSpec::PCMU);
    let mut stream = Stream::new(0xA1, PayloadType::PCMU);
    let mut send = |h: &mut Harness, n: usize| {
        for _ in 0..n {
            let p = stream.packet(&[0x55; 160], 160);
            h.peer.send(h.now_us, sa, legs[0], &p);
            h.tick();
            h.tick();
        }
    };
    send(&mut h, 20);
    let before = rtp_to(&h.peer.recv_all(), peer_b)
        .last()
        .map(|r| {
            (
                r.rtp().ssrc(),
                r.rtp().sequence_number(),
                r.rtp().timestamp(),
            )
        })
        .unwrap();
    // B put the call on hold (a=sendonly): Tandem only receives from B.
    set(
        &mut h,
        3,
        LegId::B,
        ControlChange::direction(MediaDirection::RecvOnly),
    );
    send(&mut h, 50);
    let during = h.peer.recv_all();
    assert!(
        rtp_to(&during, peer_b).is_empty(),
        "RTP leaked to the held leg"
    );
    let b = h.worker.leg_counters(SessionId(3), LegId::B).unwrap();
    assert_eq!(b.withheld, 50);
    set(
        &mut h,
        3,
        LegId::B,
        ControlChange::direction(MediaDirection::SendRecv),
    );
    send(&mut h, 10);
    let after = h.peer.recv_all();
    let after = rtp_to(&after, peer_b);
    assert_eq!(after.len(), 10);
    let first = after[0].rtp();
    assert_eq!(first.ssrc(), before.0, "same SSRC after the hold");
    assert_eq!(
        first.sequence_number(),
        before.1.wrapping_add(1),
        "sequence numbers continue"
    );
    assert!(first.marker(), "marker on the first packet after the pause");
    // 50 packets of 20 ms passed: 8000 samples at 8 kHz, give or take a packet.
    let gap = first.timestamp().diff(before.2);
    assert!((7800..=8400).contains(&gap), "timestamp gap {gap}");
    for (i, r) in after.iter().enumerate().skip(1) {
        assert_eq!(
            r.rtp().sequence_number(),
            first.sequence_number().wrapping_add(i as u16)
        );
    }
}

#[test]
fn a_leg_that_does_not_receive_drops_what_its_peer_sends_and_reports_no_timeout() {
    let (mut h, sa, _, _, peer_b, legs) = relay(CodecSpec::PCMU);
    set(
        &mut h,
        3,
        LegId::A,
        ControlChange::direction(MediaDirection::SendOnly),
    );
    let mut stream = Stream::new(0xA2, PayloadType::PCMU);
    for _ in 0..20 {
        let p = stream.packet(&[0x55; 160], 160);
        h.peer.send(h.now_us, sa, legs[0], &p);
        h.tick();
        h.tick();
    }
    assert!(rtp_to(&h.peer.recv_all(), peer_b).is_empty());
    let a = h.worker.leg_counters(SessionId(3), LegId::A).unwrap();
    assert_eq!(a.blocked, 20);
    assert_eq!(a.rtp_accepted, 0);
    // 31 s of nothing at all on either leg: only B, which expects media, times out.
    for _ in 0..3100 {
        h.tick();
    }
    let timeouts: Vec<_> = h
        .events
        .iter()
        .filter(|e| e.kind == EventKind::MediaTimeout)
        .map(|e| e.leg)
        .collect();
    assert_eq!(timeouts, vec![Some(LegId::B)]);
}

#[test]
fn a_muted_g711_relay_sends_silence_in_place_and_other_codecs_send_nothing() {
    let (mut h, sa, sb, peer_a, peer_b, legs) = relay(CodecSpec::PCMU);
    set(&mut h, 3, LegId::A, mute_in());
    let mut from_a = Stream::new(0xA3, PayloadType::PCMU);
    let mut from_b = Stream::new(0xB3, PayloadType::PCMU);
    for _ in 0..20 {
        h.peer
            .send(h.now_us, sa, legs[0], &from_a.packet(&[0x12; 160], 160));
        h.peer
            .send(h.now_us, sb, legs[1], &from_b.packet(&[0x34; 160], 160));
        h.tick();
        h.tick();
    }
    let got = h.peer.recv_all();
    let to_b = rtp_to(&got, peer_b);
    assert_eq!(to_b.len(), 20, "the stream keeps flowing");
    assert!(to_b.iter().all(|r| r.rtp().payload() == [0xFF; 160]));
    let to_a = rtp_to(&got, peer_a);
    assert!(
        to_a.iter().all(|r| r.rtp().payload() == [0x34; 160]),
        "mute in does not silence what A hears"
    );

    let opus = CodecSpec::opus(48000, PayloadType::new(111).unwrap());
    let (mut h, sa, _, _, peer_b, legs) = relay(opus);
    set(&mut h, 3, LegId::B, mute_out());
    let mut from_a = Stream::new(0xA4, opus.payload_type);
    for _ in 0..20 {
        h.peer
            .send(h.now_us, sa, legs[0], &from_a.packet(&[0x12; 40], 960));
        h.tick();
        h.tick();
    }
    assert!(rtp_to(&h.peer.recv_all(), peer_b).is_empty());
    let b = h.worker.leg_counters(SessionId(3), LegId::B).unwrap();
    assert_eq!(b.withheld, 20);
}

#[test]
fn blocked_media_and_dtmf_are_not_relayed_but_digits_are_still_reported() {
    let (mut h, sa, sb, peer_a, peer_b, legs) = relay(CodecSpec::PCMU);
    set(
        &mut h,
        3,
        LegId::A,
        ControlChange {
            block_media: Some(true),
            ..ControlChange::NONE
        },
    );
    let te = PayloadType::new(TE).unwrap();
    let mut from_a = Stream::new(0xA5, PayloadType::PCMU);
    let mut from_b = Stream::new(0xB5, PayloadType::PCMU);
    for _ in 0..10 {
        h.peer
            .send(h.now_us, sa, legs[0], &from_a.packet(&[0x12; 160], 160));
        h.peer
            .send(h.now_us, sb, legs[1], &from_b.packet(&[0x34; 160], 160));
        h.tick();
        h.tick();
    }
    let got = h.peer.recv_all();
    assert!(rtp_to(&got, peer_b).is_empty(), "A's media leaked");
    assert_eq!(rtp_to(&got, peer_a).len(), 10, "B's media still reaches A");

    // Media unblocked, DTMF blocked: audio flows again, the digit does not, and is reported.
    set(
        &mut h,
        3,
        LegId::A,
        ControlChange {
            block_media: Some(false),
            block_dtmf: Some(true),
            ..ControlChange::NONE
        },
    );
    let ts = RtpTimestamp(from_a.ts);
    for i in 0..6u16 {
        let end = i >= 3;
        let duration = 160 * (i + 1);
        let mut payload = [5u8, 10, 0, 0];
        if end {
            payload[1] |= 0x80;
        }
        payload[2..].copy_from_slice(&duration.to_be_bytes());
        let p = from_a.packet_with(te, i == 0, ts, &payload);
        h.peer.send(h.now_us, sa, legs[0], &p);
        h.tick();
        h.tick();
    }
    for _ in 0..5 {
        h.peer
            .send(h.now_us, sa, legs[0], &from_a.packet(&[0x12; 160], 160));
        h.tick();
        h.tick();
    }
    let got = h.peer.recv_all();
    let to_b = rtp_to(&got, peer_b);
    assert!(
        to_b.iter()
            .all(|r| r.rtp().payload_type() == PayloadType::PCMU)
    );
    assert_eq!(to_b.len(), 5, "audio flows once unblocked");
    let digits: Vec<_> = h
        .leg_events(LegId::A)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::Dtmf { digit, .. } => Some(digit),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec!['5'], "the blocked digit is still reported");
}

#[test]
fn echo_honours_hold_and_block() {
    let mut h = Harness::new();
    let (s, peer) = h.peer.socket();
    let legs = h.install(4, &SessionSpec::Echo(LegSpec::new(CodecSpec::PCMU)));
    let mut stream = Stream::new(0x4243, PayloadType::PCMU);
    let mut round = |h: &mut Harness, change: ControlChange| {
        set(h, 4, LegId::A, change);
        for _ in 0..10 {
            h.peer
                .send(h.now_us, s, legs[0], &stream.packet(&[7; 160], 160));
            h.tick();
            h.tick();
        }
        rtp_to(&h.peer.recv_all(), peer)
            .iter()
            .map(|r| r.rtp().payload()[0])
            .collect::<Vec<_>>()
    };
    assert_eq!(round(&mut h, ControlChange::NONE), vec![7; 10]);
    let hold = ControlChange::direction(MediaDirection::RecvOnly);
    assert!(round(&mut h, hold).is_empty());
    let resume = ControlChange::direction(MediaDirection::SendRecv);
    assert_eq!(round(&mut h, resume), vec![7; 10]);
    assert_eq!(round(&mut h, mute_out()), vec![0xFF; 10]);
    let block = ControlChange {
        mute_out: Some(false),
        block_media: Some(true),
        ..ControlChange::NONE
    };
    assert!(round(&mut h, block).is_empty());
}

/// A PCMU ↔ PCMA transcoder; A sends a 700 Hz tone.
#[test]
fn a_transcoded_leg_muted_out_hears_encoded_silence_and_a_held_one_nothing() {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (_sb, peer_b) = h.peer.socket();
    let legs = h.install(
        5,
        &SessionSpec::Transcode {
            a: LegSpec::new(CodecSpec::PCMU).with_remote(peer_a),
            b: LegSpec::new(CodecSpec::PCMA).with_remote(peer_b),
        },
    );
    let payloads = encode_all(Format::PCMU, &sine(700.0, 8000.0, 8000, 8000 * 4), 160);
    let mut stream = Stream::new(0xA6, PayloadType::PCMU);
    let mut next = 0;
    let mut send = |h: &mut Harness, n: usize| {
        for _ in 0..n {
            let p = stream.packet(&payloads[next], 160);
            next += 1;
            h.peer.send(h.now_us, sa, legs[0], &p);
            h.tick();
            h.tick();
        }
        let got = h.peer.recv_all();
        let payloads: Vec<Vec<u8>> = rtp_to(&got, peer_b)
            .iter()
            .map(|r| r.rtp().payload().to_vec())
            .collect();
        (
            payloads.len(),
            decode_all(Format::PCMA, payloads.iter().map(Vec::as_slice)),
        )
    };
    let (n, heard) = send(&mut h, 40);
    assert!(n >= 35);
    assert!(tone_share(&heard[heard.len() / 2..], 700.0, 8000) > 0.8);
    set(&mut h, 5, LegId::B, mute_out());
    let (n, heard) = send(&mut h, 40);
    assert!(n >= 38, "the stream keeps flowing while muted ({n})");
    // After the 40 ms playout delay's worth of packets already encoded, silence.
    assert!(rms(&heard[800..]) < 20.0, "muted audio leaked");
    set(
        &mut h,
        5,
        LegId::B,
        ControlChange {
            mute_out: Some(false),
            direction: Some(MediaDirection::Inactive),
            ..ControlChange::NONE
        },
    );
    let (n, _) = send(&mut h, 40);
    assert_eq!(n, 0, "RTP leaked to an inactive leg");
    set(&mut h, 5, LegId::A, mute_in());
    set(
        &mut h,
        5,
        LegId::B,
        ControlChange::direction(MediaDirection::SendRecv),
    );
    let (n, heard) = send(&mut h, 40);
    assert!(n >= 38);
    assert!(rms(&heard[800..]) < 20.0, "A muted in still heard");
}

/// Bursts of a tone (300 ms on, 100 ms off), like syllables, so the talk detector declares
/// talk.
fn talker(hz: f64, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let amp = if t % 0.4 < 0.3 { 6000.0 } else { 0.0 };
            (amp * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

#[test]
fn a_conference_leg_muted_in_is_not_heard_and_one_muted_out_hears_silence() {
    let mut h = Harness::new();
    let room = ConferenceSpec::new(8000, 4);
    h.install(6, &SessionSpec::Conference(room));
    let mut legs = Vec::new();
    for k in 0..3u32 {
        let (socket, peer) = h.peer.socket();
        let spec = LegSpec::new(CodecSpec::PCMU).with_remote(peer);
        let member = PreparedMember::new(SessionId(6), LegId(k), &spec, &room).unwrap();
        let ports = h
            .worker
            .join(h.now_us, SessionId(6), Box::new(member))
            .map_err(|(e, _)| e)
            .unwrap();
        legs.push((
            socket,
            peer,
            ports.rtp,
            Stream::new(0x600 + k, PayloadType::PCMU),
        ));
    }
    // Leg 0 talks at 600 Hz; leg 1, muted in, at 1300 Hz; leg 2 listens, muted out.
    let tones = [
        encode_all(Format::PCMU, &talker(600.0, 8000 * 4), 160),
        encode_all(Format::PCMU, &talker(1300.0, 8000 * 4), 160),
    ];
    set(&mut h, 6, LegId(1), mute_in());
    set(&mut h, 6, LegId(2), mute_out());
    for i in 0..150 {
        for (k, tone) in tones.iter().enumerate() {
            let (socket, _, to, stream) = &mut legs[k];
            let p = stream.packet(&tone[i], 160);
            h.peer.send(h.now_us, *socket, *to, &p);
        }
        h.tick();
        h.tick();
    }
    let got = h.peer.recv_all();
    let heard = |k: usize| {
        let payloads: Vec<Vec<u8>> = rtp_to(&got, legs[k].1)
            .iter()
            .map(|r| r.rtp().payload().to_vec())
            .collect();
        (
            payloads.len(),
            decode_all(Format::PCMU, payloads.iter().map(Vec::as_slice)),
        )
    };
    let (n0, at0) = heard(0);
    assert!(n0 > 100);
    let share = tone_share(&at0[8000..], 1300.0, 8000);
    assert!(share < 0.01, "leg 0 hears muted leg 1: share {share}");
    let (n1, at1) = heard(1);
    assert!(n1 > 100);
    assert!(
        tone_share(&at1[8000..], 600.0, 8000) > 0.5,
        "leg 1 hears leg 0"
    );
    let (n2, at2) = heard(2);
    assert!(n2 > 140, "the muted-out leg's stream keeps flowing ({n2})");
    assert!(
        rms(&at2) < 20.0,
        "leg 2 is muted out but hears rms {}",
        rms(&at2)
    );
}

#[test]
fn a_play_leg_muted_out_hears_silence() {
    let mut h = Harness::new();
    let (_s, peer) = h.peer.socket();
    h.install(
        8,
        &SessionSpec::Play(PlaySpec {
            leg: LegSpec::new(CodecSpec::PCMU).with_remote(peer),
            source: PlaySource::Pcm {
                rate_hz: 8000,
                samples: sine(900.0, 8000.0, 8000, 8000 * 2).into(),
            },
            repeat: true,
        }),
    );
    set(&mut h, 8, LegId::A, mute_out());
    for _ in 0..100 {
        h.tick();
    }
    let got = h.peer.recv_all();
    let payloads: Vec<Vec<u8>> = rtp_to(&got, peer)
        .iter()
        .map(|r| r.rtp().payload().to_vec())
        .collect();
    assert!(payloads.len() >= 45);
    assert!(payloads.iter().all(|p| p.iter().all(|&b| b == 0xFF)));
}

#[test]
fn controls_of_an_unknown_leg_are_refused() {
    let (mut h, ..) = relay(CodecSpec::PCMU);
    assert!(
        h.worker
            .set_leg_controls(h.now_us, SessionId(3), LegId(7), &mute_in())
            .is_err()
    );
    assert!(
        h.worker
            .set_leg_controls(h.now_us, SessionId(99), LegId::A, &mute_in())
            .is_err()
    );
}
