//! A decoding leg's quality samples carry its jitter buffer's figures beside RTP's: a packet
//! that arrives too late to play counts as received in RFC 3550's statistics, but the
//! listener lost it, and the MOS of the interval should say so.

use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegId, LegSpec, SessionSpec};
use tandem_drivers::packet::PacketIo;

use crate::support::{Harness, Stream};

#[test]
fn quality_samples_of_a_decoding_leg_count_what_its_jitter_buffer_lost() {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let pair_b = h.peer.pair();
    let peer_b = h.peer.io.local_addr(pair_b.rtp).unwrap();
    let legs = h.install(
        32,
        &SessionSpec::Transcode {
            a: LegSpec::new(CodecSpec::PCMU)
                .with_remote(peer_a)
                .with_adaptive_playout(false),
            b: LegSpec::new(CodecSpec::PCMA).with_remote(peer_b),
        },
    );
    // 10 s of PCMU from A; every tenth packet is held back 300 ms, far beyond the buffer's
    // delay, and sent then: received, but too late to play.
    let mut stream = Stream::new(0x5150, PayloadType::PCMU);
    let mut held = Vec::new();
    for i in 0..500u32 {
        let packet = stream.packet(&[0xFF; 160], 160);
        if i % 10 == 5 {
            held.push((h.now_us + 300_000, packet));
        } else {
            h.peer.send(h.now_us, sa, legs[0], &packet);
        }
        while held.first().is_some_and(|(due, _)| *due <= h.now_us) {
            let (_, late) = held.remove(0);
            h.peer.send(h.now_us, sa, legs[0], &late);
        }
        h.tick();
        h.tick();
        h.peer.recv_all();
    }
    let samples = h.quality_samples(LegId::A);
    assert!(samples.len() >= 2, "{samples:?}");
    let last = samples.last().unwrap();
    // RTP counts the late packets as received (one may still be on its way).
    assert!(last.cumulative_lost <= 1, "{last:?}");
    let playout = last
        .playout
        .expect("a decoding leg's sample has its playout");
    assert!(!playout.adaptive);
    let counts = playout.counts;
    // One packet in ten by the time of the last sample, give or take those on their way.
    let tenth = u64::from(last.received) / 10;
    assert!(
        counts.packets_late + 2 >= tenth && counts.packets_lost + 2 >= tenth && tenth >= 20,
        "the jitter buffer lost the late ones: {playout:?}"
    );
    // PCMU has no FEC: each lost 20 ms packet is two concealed 10 ms frames.
    assert_eq!(counts.fec_recoveries, 0, "{playout:?}");
    assert!(
        counts.frames_concealed >= 2 * counts.packets_lost,
        "{playout:?}"
    );
    // Cumulative: each sample's counts run on from the one before.
    assert!(samples.windows(2).all(|w| {
        let (a, b) = (w[0].playout.unwrap().counts, w[1].playout.unwrap().counts);
        a.packets_played < b.packets_played && a.packets_lost <= b.packets_lost
    }));
}
