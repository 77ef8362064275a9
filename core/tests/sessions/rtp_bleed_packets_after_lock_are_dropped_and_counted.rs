//! RTP bleed: once a leg has locked its peer, packets from any other address — even with the
//! peer's SSRC and the next sequence numbers — are dropped and counted, and nothing of them
//! reaches the far leg.

use tandem_core::bus::EventKind;
use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegId, LegSpec, SessionId, SessionSpec};

use crate::support::{Harness, Stream};

const PEER: u8 = 0xA1;
const EVIL: u8 = 0xEE;

#[test]
fn rtp_bleed_packets_after_lock_are_dropped_and_counted() {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (_sb, peer_b) = h.peer.socket();
    let (evil_socket, _) = h.attacker.socket();
    // Leg A's peer is not signalled (NAT): it is learned from the first packets.
    let legs = h.install(
        3,
        &SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU),
            b: LegSpec::new(CodecSpec::PCMU).with_remote(peer_b),
        },
    );
    let mut stream = Stream::new(0x1111, PayloadType::PCMU);
    for _ in 0..10 {
        let p = stream.packet(&[PEER; 160], 160);
        h.peer.send(h.now_us, sa, legs[0], &p);
        h.tick();
        h.tick();
    }
    // The attacker copies the SSRC and guesses the next sequence numbers.
    let mut forged = Stream::new(0x1111, PayloadType::PCMU);
    forged.seq = stream.seq;
    forged.ts = stream.ts;
    for _ in 0..20 {
        let p = forged.packet(&[EVIL; 160], 160);
        h.attacker.send(h.now_us, evil_socket, legs[0], &p);
        let p = stream.packet(&[PEER; 160], 160);
        h.peer.send(h.now_us, sa, legs[0], &p);
        h.tick();
        h.tick();
    }
    let got: Vec<_> = h
        .peer
        .recv_all()
        .into_iter()
        .filter(|r| r.to == peer_b)
        .collect();
    assert_eq!(got.len(), 30);
    assert!(got.iter().all(|r| r.rtp().payload()[0] == PEER));
    let counters = h.worker.leg_counters(SessionId(3), LegId::A).unwrap();
    assert_eq!(counters.source_dropped, 20);
    assert_eq!(counters.rtp_accepted, 30);
    let locked: Vec<_> = h
        .leg_events(LegId::A)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::SourceLocked { address } => Some(address),
            _ => None,
        })
        .collect();
    assert_eq!(locked, [peer_a]);
}
