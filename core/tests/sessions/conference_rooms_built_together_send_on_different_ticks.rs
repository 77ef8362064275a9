//! Two conference rooms installed one after the other (as a burst of joins over ng or the API
//! now builds them, within one tick) send their 20 ms packets on different ticks, so that no
//! tick carries every room's sends; and a listener who starts talking, and so moves to its
//! own mix-minus, keeps its room's cadence.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use tandem_core::bus::EventKind;
use tandem_core::session::{
    CodecSpec, ConferenceSpec, LegId, LegSpec, PreparedMember, SessionId, SessionSpec,
};

use crate::support::{Harness, Stream, encode_all, sine};

const LEGS: u32 = 4;

#[test]
fn conference_rooms_built_together_send_on_different_ticks() {
    let mut h = Harness::new();
    let room = ConferenceSpec::new(8000, 8);
    // Leg address -> its room; the first leg of room 1 talks.
    let mut room_of: HashMap<SocketAddr, u64> = HashMap::new();
    let mut talker = None;
    for id in [1, 2] {
        h.install(id, &SessionSpec::Conference(room));
        for k in 0..LEGS {
            let (socket, peer) = h.peer.socket();
            let spec = LegSpec::new(CodecSpec::PCMU).with_remote(peer);
            let member = PreparedMember::new(SessionId(id), LegId(k), &spec, &room).unwrap();
            let ports = h
                .worker
                .join(h.now_us, SessionId(id), Box::new(member))
                .map_err(|(e, _)| e)
                .unwrap();
            room_of.insert(peer, id);
            if id == 1 && k == 0 {
                talker = Some((socket, ports.rtp));
            }
        }
    }
    let (socket, to) = talker.unwrap();
    let payloads = encode_all(
        tandem_codecs::Format::PCMU,
        &sine(440.0, 8000.0, 8000, 8000 * 2),
        160,
    );
    let mut stream = Stream::new(0x5150, CodecSpec::PCMU.payload_type);
    // Ticks (by index) on which each room's legs got packets.
    // The talker's own packets count with its room's: once seated it hears a mix-minus.
    let mut ticks_of: HashMap<u64, BTreeSet<u64>> = HashMap::new();
    for tick in 0..100u64 {
        if tick % 2 == 0 {
            let p = stream.packet(&payloads[(tick / 2) as usize], 160);
            h.peer.send(h.now_us, socket, to, &p);
        }
        h.tick();
        for r in h.peer.recv_all() {
            ticks_of.entry(room_of[&r.to]).or_default().insert(tick);
        }
    }
    let one = &ticks_of[&1];
    let two = &ticks_of[&2];
    assert!(one.len() >= 45 && two.len() >= 45, "{one:?} {two:?}");
    assert!(
        one.is_disjoint(two),
        "both rooms sent in ticks {:?}",
        one.intersection(two)
    );
    let parity = |ticks: &BTreeSet<u64>| ticks.iter().map(|t| t % 2).collect::<BTreeSet<_>>();
    assert_eq!(parity(one).len(), 1, "room 1 keeps one cadence: {one:?}");
    assert_eq!(parity(two).len(), 1, "room 2 keeps one cadence: {two:?}");
    assert!(
        h.leg_events(LegId(0))
            .iter()
            .any(|e| e.session == SessionId(1) && e.kind == EventKind::TalkingStarted),
        "the talker was seated (and so moved to its own mix)"
    );
}
