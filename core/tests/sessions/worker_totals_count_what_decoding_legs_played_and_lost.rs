//! A worker's playout totals (what `/metrics` reports) add up what its decoding legs played,
//! lost and concealed, agree with the legs' own reports, and keep a leg's counts after the
//! leg leaves.

use tandem_core::rtp::PayloadType;
use tandem_core::session::{
    CodecSpec, ConferenceSpec, LegId, LegSpec, PreparedMember, SessionId, SessionSpec,
};

use crate::support::{Harness, Stream};

#[test]
fn worker_totals_count_what_decoding_legs_played_and_lost() {
    for adaptive in [false, true] {
        counts_of_a_room(adaptive);
    }
}

fn counts_of_a_room(adaptive: bool) {
    let mut h = Harness::new();
    let room = ConferenceSpec::new(8000, 4);
    h.install(31, &SessionSpec::Conference(room));
    let mut legs = Vec::new();
    for k in 0..2u32 {
        let (socket, peer) = h.peer.socket();
        let spec = LegSpec::new(CodecSpec::PCMU)
            .with_remote(peer)
            .with_adaptive_playout(adaptive);
        let member = PreparedMember::new(SessionId(31), LegId(k), &spec, &room).unwrap();
        let ports = h
            .worker
            .join(h.now_us, SessionId(31), Box::new(member))
            .map_err(|(e, _)| e)
            .unwrap();
        legs.push((socket, ports.rtp, Stream::new(0x200 + k, PayloadType::PCMU)));
    }
    // 100 packets from each leg; leg 0 never sends 5 of them, leg 1 every one.
    let payload = [0x55u8; 160];
    for i in 0..100 {
        for (k, (socket, to, stream)) in legs.iter_mut().enumerate() {
            let p = stream.packet(&payload, 160);
            if k == 1 || i % 20 != 10 {
                h.peer.send(h.now_us, *socket, *to, &p);
            }
        }
        h.tick();
        h.tick();
    }
    for _ in 0..20 {
        h.tick();
    }
    let totals = h.worker.stats().snapshot().playout;
    let reports: Vec<_> = (0..2)
        .map(|k| {
            h.worker
                .leg_report(SessionId(31), LegId(k))
                .and_then(|r| r.playout)
                .expect("a decoding leg reports its playout")
        })
        .collect();
    let played: u64 = reports.iter().map(|r| r.counts.packets_played).sum();
    let lost: u64 = reports.iter().map(|r| r.counts.packets_lost).sum();
    assert_eq!(
        totals.packets_played, played,
        "adaptive {adaptive}: {totals:?}"
    );
    assert_eq!(totals.packets_lost, lost, "adaptive {adaptive}: {totals:?}");
    assert!(played >= 190, "adaptive {adaptive}: {reports:?}");
    assert_eq!(lost, 5, "adaptive {adaptive}: {reports:?}");
    assert!(
        totals.frames_concealed >= 5,
        "adaptive {adaptive}: {totals:?}"
    );
    // Leg 0 leaves: what it counted stays in the worker's totals.
    h.worker.leave(h.now_us, SessionId(31), LegId(0)).unwrap();
    h.tick();
    let after = h.worker.stats().snapshot().playout;
    assert!(after.packets_played >= totals.packets_played, "{after:?}");
    assert_eq!(after.packets_lost, totals.packets_lost, "{after:?}");
}
