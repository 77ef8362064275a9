//! A peer that receives elsewhere than it sends from (rtpengine's `asymmetric`): with
//! `LegSpec::symmetric` off, once its source is locked, media still goes to the address
//! signalling gave; a symmetric leg (the default) sends back to the locked source.

use tandem_core::rtp::{PayloadType, RtpPacket};
use tandem_core::session::{CodecSpec, LegSpec, SessionSpec};

use crate::support::{Harness, Stream};

/// Relays 20 packets each way between peer A (sending from one socket, signalled at
/// another) and peer B; returns how many of B's packets reached A's signalled socket and
/// how many A's sending socket.
fn where_a_is_sent_to(symmetric: bool) -> (usize, usize) {
    let mut h = Harness::new();
    let (a_sends_from, a_send_addr) = h.peer.socket();
    let (_a_receives_on, a_signalled) = h.peer.socket();
    let (b, peer_b) = h.peer.socket();
    let legs = h.install(
        1,
        &SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU)
                .with_remote(a_signalled)
                .with_symmetric(symmetric),
            b: LegSpec::new(CodecSpec::PCMU).with_remote(peer_b),
        },
    );
    let (mut from_a, mut from_b) = (
        Stream::new(0xA, PayloadType::PCMU),
        Stream::new(0xB, PayloadType::PCMU),
    );
    for _ in 0..20 {
        let packet = from_a.packet(&[0xFF; 160], 160);
        h.peer.send(h.now_us, a_sends_from, legs[0], &packet);
        let packet = from_b.packet(&[0xFF; 160], 160);
        h.peer.send(h.now_us, b, legs[1], &packet);
        h.tick();
        h.tick();
    }
    let received = h.peer.recv_all();
    let to = |addr| {
        received
            .iter()
            .filter(|r| r.to == addr && r.from == legs[0])
            .filter(|r| {
                RtpPacket::new_checked(&r.bytes[..])
                    .is_ok_and(|p| p.payload_type() == PayloadType::PCMU)
            })
            .count()
    };
    (to(a_signalled), to(a_send_addr))
}

#[test]
fn an_asymmetric_peer_is_sent_to_its_signalled_address() {
    let (signalled, source) = where_a_is_sent_to(false);
    assert_eq!(
        (signalled, source),
        (20, 0),
        "asymmetric: all to the SDP address"
    );
}

#[test]
fn a_symmetric_peer_is_sent_to_where_it_sends_from() {
    let (signalled, source) = where_a_is_sent_to(true);
    assert!(
        source >= 15,
        "symmetric: back to the locked source ({signalled} / {source})"
    );
}
