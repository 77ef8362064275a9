//! A relay forwards each payload byte for byte, under the far leg's own SSRC, a continuous
//! sequence, timestamps spaced as the input's, and the far leg's payload type.

use tandem_codecs::Format;
use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegId, LegSpec, SessionId, SessionSpec};

use crate::support::{Harness, Stream};

#[test]
fn relay_passes_payloads_unchanged_and_rewrites_headers() {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (_sb, peer_b) = h.peer.socket();
    let pt_a = PayloadType::new(111).unwrap();
    let pt_b = PayloadType::new(96).unwrap();
    let legs = h.install(
        7,
        &SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::new(Format::opus(48000), pt_a, 20)).with_remote(peer_a),
            b: LegSpec::new(CodecSpec::new(Format::opus(48000), pt_b, 20)).with_remote(peer_b),
        },
    );
    let mut stream = Stream::new(0xCAFE_0001, pt_a);
    let mut sent = Vec::new();
    for i in 0..60u32 {
        // Arbitrary bytes: a relay never decodes.
        let payload: Vec<u8> = (0..(20 + i as usize % 7))
            .map(|k| (i as u8) ^ (k as u8).wrapping_mul(31))
            .collect();
        let packet = stream.packet(&payload, 960);
        h.peer.send(h.now_us, sa, legs[0], &packet);
        sent.push(payload);
        h.tick();
        h.tick();
    }
    let got: Vec<_> = h
        .peer
        .recv_all()
        .into_iter()
        .filter(|r| r.to == peer_b)
        .collect();
    assert_eq!(got.len(), sent.len());
    let first = got[0].rtp();
    assert_ne!(
        first.ssrc().0,
        0xCAFE_0001,
        "the far leg gets the relay's own SSRC"
    );
    for (i, r) in got.iter().enumerate() {
        let p = r.rtp();
        assert_eq!(r.from, legs[1], "sent from leg B's port");
        assert_eq!(p.payload(), &sent[i][..], "payload {i} unchanged");
        assert_eq!(p.payload_type(), pt_b, "payload type mapped to leg B's");
        assert_eq!(p.ssrc(), first.ssrc());
        assert_eq!(
            p.sequence_number(),
            first.sequence_number().wrapping_add(i as u16)
        );
        assert_eq!(p.timestamp().diff(first.timestamp()), 960 * i as i32);
    }
    let a = h.worker.leg_counters(SessionId(7), LegId::A).unwrap();
    let b = h.worker.leg_counters(SessionId(7), LegId::B).unwrap();
    assert_eq!(a.rtp_accepted, 60);
    assert_eq!(b.sent, 60);
}
