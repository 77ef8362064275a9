//! Echo sends every packet back to the address it came from, payload unchanged, as one
//! continuous stream of the echo's own.

use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegSpec, SessionSpec};

use crate::support::{Harness, Stream};

#[test]
fn echo_returns_what_was_sent() {
    let mut h = Harness::new();
    let (s, peer) = h.peer.socket();
    let legs = h.install(1, &SessionSpec::Echo(LegSpec::new(CodecSpec::PCMU)));
    let mut stream = Stream::new(0x4242, PayloadType::PCMU);
    let mut sent = Vec::new();
    for i in 0..25u8 {
        let payload = [i; 160];
        h.peer
            .send(h.now_us, s, legs[0], &stream.packet(&payload, 160));
        sent.push(payload);
        h.tick();
        h.tick();
    }
    let got = h.peer.recv_all();
    assert_eq!(got.len(), sent.len());
    let ssrc = got[0].rtp().ssrc();
    assert_ne!(ssrc.0, 0x4242);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.to, peer, "back to the sender");
        assert_eq!(r.from, legs[0]);
        let p = r.rtp();
        assert_eq!(p.payload(), &sent[i][..]);
        assert_eq!(p.ssrc(), ssrc);
        assert_eq!(
            p.sequence_number(),
            got[0].rtp().sequence_number().wrapping_add(i as u16)
        );
    }
}
