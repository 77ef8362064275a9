//! A session rebuilt on its ports (a renegotiation: one side changes codec) keeps the
//! stream towards the side that did not change one continuous RTP stream: same SSRC,
//! sequence numbers following on, timestamps following real time, the marker bit where it
//! resumes; across relay → transcoder → relay, which send through different paths.

use tandem_core::rtp::PayloadType;
use tandem_core::session::PreparedSession;
use tandem_core::session::{CodecSpec, LegSpec, SessionId, SessionSpec};

use crate::support::{Harness, Received, Stream};

/// Sends 20 ms of `pt` audio from A every other tick for `frames` frames; returns what B got.
fn talk(
    h: &mut Harness,
    stream: &mut Stream,
    from: tandem_drivers::packet::SocketId,
    to: std::net::SocketAddr,
    b: std::net::SocketAddr,
    frames: usize,
) -> Vec<Received> {
    let mut got = Vec::new();
    for _ in 0..frames {
        let packet = stream.packet(&[0x55; 160], 160);
        h.peer.send(h.now_us, from, to, &packet);
        h.tick();
        h.tick();
        got.extend(h.peer.recv_all().into_iter().filter(|r| r.to == b));
    }
    got
}

fn replace(h: &mut Harness, spec: &SessionSpec) {
    let session = PreparedSession::new(SessionId(3), spec).unwrap();
    h.worker
        .replace(h.now_us, Box::new(session))
        .map_err(|(e, _)| e)
        .unwrap();
}

#[test]
fn replace_continues_each_legs_stream() {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (_sb, peer_b) = h.peer.socket();
    let leg = |codec: CodecSpec, remote| LegSpec::new(codec).with_remote(remote);
    let relay = SessionSpec::Relay {
        a: leg(CodecSpec::PCMU, peer_a),
        b: leg(CodecSpec::PCMU, peer_b),
    };
    let legs = h.install(3, &relay);
    let mut pcmu = Stream::new(0xA0A0_0001, PayloadType::PCMU);
    let mut got = talk(&mut h, &mut pcmu, sa, legs[0], peer_b, 25);
    let relayed = got.len();
    // A re-offers PCMA: the session becomes a transcoder; B's leg is unchanged.
    replace(
        &mut h,
        &SessionSpec::Transcode {
            a: leg(CodecSpec::PCMA, peer_a),
            b: leg(CodecSpec::PCMU, peer_b),
        },
    );
    let mut pcma = Stream::new(0xA0A0_0002, PayloadType::PCMA);
    got.extend(talk(&mut h, &mut pcma, sa, legs[0], peer_b, 25));
    let transcoded = got.len();
    // And back: a relay again.
    replace(&mut h, &relay);
    got.extend(talk(&mut h, &mut pcmu, sa, legs[0], peer_b, 25));

    assert!(relayed >= 20, "{relayed} packets relayed to B");
    assert!(
        transcoded - relayed >= 15,
        "{} transcoded",
        transcoded - relayed
    );
    assert!(
        got.len() - transcoded >= 20,
        "{} relayed again",
        got.len() - transcoded
    );
    let first = got[0].rtp();
    for (i, pair) in got.windows(2).enumerate() {
        let (before, after) = (pair[0].rtp(), pair[1].rtp());
        assert_eq!(after.ssrc(), first.ssrc(), "packet {} changed SSRC", i + 1);
        assert_eq!(
            after.sequence_number(),
            before.sequence_number().wrapping_add(1),
            "sequence broken at packet {}",
            i + 1
        );
        let step = after.timestamp().diff(before.timestamp());
        assert!(
            (1..=960).contains(&step),
            "timestamp step {step} at packet {}",
            i + 1
        );
        assert_eq!(after.payload_type(), PayloadType::PCMU);
    }
    for resumed in [relayed, transcoded] {
        assert!(
            got[resumed].rtp().marker(),
            "marker where the stream resumes"
        );
    }
}
