//! A conference of three legs in three codecs: each leg hears the other two and not itself
//! (mix-minus), and the room reports joins and talking.

use tandem_codecs::Format;
use tandem_core::bus::EventKind;
use tandem_core::rtp::PayloadType;
use tandem_core::session::{
    CodecSpec, ConferenceSpec, LegId, LegSpec, PreparedMember, SessionId, SessionSpec,
};

use crate::support::{Harness, Stream, decode_all, encode_all, tone_share};

/// A talker: bursts of a tone (300 ms on, 100 ms off, varying level), like syllables, so the
/// talk detector declares talk.
fn talker(hz: f64, rate: u32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|n| {
            let t = n as f64 / f64::from(rate);
            let burst = (t / 0.4) as usize;
            let on = t % 0.4 < 0.3;
            let amp = if on {
                5000.0 + 2000.0 * (burst % 3) as f64
            } else {
                0.0
            };
            (amp * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

#[test]
fn conference_legs_hear_the_others_not_themselves() {
    hear_the_others(false);
}

/// The same with `tandem-dsp`'s adaptive jitter buffer on every leg.
#[test]
fn conference_legs_hear_the_others_through_adaptive_jitter_buffers() {
    hear_the_others(true);
}

fn hear_the_others(adaptive: bool) {
    let mut h = Harness::new();
    let room = ConferenceSpec::new(8000, 16);
    h.install(9, &SessionSpec::Conference(room));
    let specs = [
        (CodecSpec::PCMU, 500.0),
        (CodecSpec::PCMA, 1100.0),
        (CodecSpec::G722, 1700.0),
    ];
    let mut legs = Vec::new();
    for (k, (codec, hz)) in specs.iter().enumerate() {
        let (socket, peer) = h.peer.socket();
        let spec = LegSpec::new(*codec)
            .with_remote(peer)
            .with_adaptive_playout(adaptive);
        let member = PreparedMember::new(SessionId(9), LegId(k as u32), &spec, &room).unwrap();
        let ports = h
            .worker
            .join(h.now_us, SessionId(9), Box::new(member))
            .map_err(|(e, _)| e)
            .unwrap();
        let rate = codec.format.sample_rate;
        let frame = rate as usize / 50;
        let payloads = encode_all(codec.format, &talker(*hz, rate, rate as usize * 3), frame);
        let step = codec.clock_rate() / 50;
        legs.push((
            socket,
            peer,
            ports.rtp,
            payloads,
            Stream::new(0x100 + k as u32, codec.payload_type),
            step,
        ));
    }
    for i in 0..150 {
        for (socket, _, to, payloads, stream, step) in &mut legs {
            let p = stream.packet(&payloads[i], *step);
            h.peer.send(h.now_us, *socket, *to, &p);
        }
        h.tick();
        h.tick();
    }
    let got = h.peer.recv_all();
    for (k, (codec, hz)) in specs.iter().enumerate() {
        let peer = legs[k].1;
        let payloads: Vec<Vec<u8>> = got
            .iter()
            .filter(|r| r.to == peer)
            .map(|r| {
                assert_eq!(r.rtp().payload_type(), codec.payload_type);
                r.rtp().payload().to_vec()
            })
            .collect();
        assert!(
            payloads.len() > 120,
            "leg {k} got {} packets",
            payloads.len()
        );
        let rate = codec.format.sample_rate;
        let heard = decode_all(codec.format, payloads.iter().map(Vec::as_slice));
        let tail = &heard[heard.len() - rate as usize..];
        let own = tone_share(tail, *hz, rate);
        assert!(own < 0.01, "leg {k} hears itself: {own}");
        for (j, (_, other)) in specs.iter().enumerate().filter(|&(j, _)| j != k) {
            let share = tone_share(tail, *other, rate);
            assert!(share > 0.15, "leg {k} hears leg {j} at share {share}");
        }
    }
    for k in 0..3 {
        let kinds: Vec<EventKind> = h.leg_events(LegId(k)).iter().map(|e| e.kind).collect();
        assert_eq!(kinds.iter().filter(|e| **e == EventKind::Joined).count(), 1);
        assert!(
            kinds.contains(&EventKind::TalkingStarted),
            "leg {k}: {kinds:?}"
        );
    }
    let _ = PayloadType::PCMU;
    let _ = Format::PCMU;
}
