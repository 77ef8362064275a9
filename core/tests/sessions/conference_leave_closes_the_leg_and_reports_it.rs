//! A leg that leaves a room is reported, its port closes (later packets are unrouted), its
//! encoder bank is handed back when it was the last of its codec, and the others carry on.

use tandem_core::bus::{EventKind, Notice, Retired};
use tandem_core::rtp::PayloadType;
use tandem_core::session::{
    CodecSpec, ConferenceSpec, LegId, LegSpec, PreparedMember, SessionId, SessionSpec,
};

use crate::support::{Harness, Stream};

#[test]
fn conference_leave_closes_the_leg_and_reports_it() {
    let mut h = Harness::new();
    let room = ConferenceSpec::new(8000, 4);
    h.install(20, &SessionSpec::Conference(room));
    let mut ports = Vec::new();
    for (k, codec) in [CodecSpec::PCMU, CodecSpec::PCMU, CodecSpec::G722]
        .iter()
        .enumerate()
    {
        let (_, peer) = h.peer.socket();
        let spec = LegSpec::new(*codec).with_remote(peer);
        let member = PreparedMember::new(SessionId(20), LegId(k as u32), &spec, &room).unwrap();
        ports.push(
            h.worker
                .join(h.now_us, SessionId(20), Box::new(member))
                .map_err(|(e, _)| e)
                .unwrap()
                .rtp,
        );
    }
    // The second PCMU leg shared the first one's bank: its spare went back.
    let spares = std::iter::from_fn(|| h.control.poll_notice())
        .filter(|n| matches!(n, Notice::Retired(Retired::Encoders(_))))
        .count();
    assert_eq!(spares, 1);
    for _ in 0..10 {
        h.tick();
    }
    let member = h.worker.leave(h.now_us, SessionId(20), LegId(2)).unwrap();
    assert_eq!(member.leg(), LegId(2));
    let all: Vec<_> = std::iter::from_fn(|| h.control.poll_notice()).collect();
    let banks = all
        .iter()
        .filter(|n| matches!(n, Notice::Retired(Retired::Encoders(_))))
        .count();
    assert_eq!(banks, 1, "the G.722 bank had no other user");
    assert!(all.iter().any(|n| matches!(
        n,
        Notice::Event(e) if e.leg == Some(LegId(2)) && e.kind == EventKind::Left
    )));
    // The port is closed: the network no longer delivers to it.
    let before = h.worker.stats().snapshot().rx_packets;
    let (s, _) = h.peer.socket();
    let mut stream = Stream::new(5, PayloadType::G722);
    h.peer
        .send(h.now_us, s, ports[2], &stream.packet(&[0; 160], 160));
    h.tick();
    assert_eq!(h.worker.stats().snapshot().rx_packets, before);
    assert!(h.worker.leave(h.now_us, SessionId(20), LegId(2)).is_err());
    assert!(h.worker.leg_counters(SessionId(20), LegId(2)).is_none());
    assert!(h.worker.leg_counters(SessionId(20), LegId(0)).is_some());
}
