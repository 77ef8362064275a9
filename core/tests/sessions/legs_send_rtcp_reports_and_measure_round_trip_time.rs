//! Each leg terminates RTCP: it sends SR + SDES on the RFC 3550 schedule to the peer's RTCP
//! port (RTP port + 1), reporting on what it receives, and turns the peer's report blocks
//! about its stream into a round-trip time (§6.4.1: A − LSR − DLSR). With each report, a
//! leg that receives tells the control plane its receive figures (`EventKind::Quality`).

use std::net::SocketAddr;

use tandem_core::rtp::rtcp::Compound;
use tandem_core::rtp::rtcp::{CompoundWriter, ReportBlock, RtcpRepr};
use tandem_core::rtp::{PacketKind, PayloadType, Ssrc, classify};
use tandem_core::session::{CodecSpec, LegId, LegSpec, SessionId, SessionSpec};
use tandem_drivers::packet::PacketIo;

use crate::support::{Harness, Stream};

#[test]
fn legs_send_rtcp_reports_and_measure_round_trip_time() {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let pair_b = h.peer.pair();
    let peer_b = h.peer.io.local_addr(pair_b.rtp).unwrap();
    let legs = h.install(
        30,
        &SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU).with_remote(peer_a),
            b: LegSpec::new(CodecSpec::PCMU).with_remote(peer_b),
        },
    );
    let mut stream = Stream::new(0x5150, PayloadType::PCMU);
    let mut reports = Vec::new();
    let mut media_ssrc = None;
    for _ in 0..500 {
        h.peer
            .send(h.now_us, sa, legs[0], &stream.packet(&[0xFF; 160], 160));
        for _ in 0..2 {
            h.tick();
            for r in h.peer.recv_all() {
                match classify(&r.bytes) {
                    PacketKind::Rtcp => reports.push((h.now_us, r)),
                    _ if r.to == peer_b => media_ssrc = Some(r.rtp().ssrc()),
                    _ => {}
                }
            }
        }
    }
    let media_ssrc = media_ssrc.unwrap();
    let rtcp_b = SocketAddr::new(peer_b.ip(), peer_b.port() + 1);
    let to_b: Vec<_> = reports.iter().filter(|(_, r)| r.to == rtcp_b).collect();
    // 10 s: the first report after 1.25–3.75 s, then every 2.5–7.5 s (A.7, randomised).
    assert!((2..=5).contains(&to_b.len()), "{} reports to B", to_b.len());
    let (sent_at, last) = to_b[to_b.len() - 1];
    let compound = Compound::new_checked(&last.bytes).unwrap();
    let sr = compound
        .reprs()
        .find_map(|r| match r {
            Ok(RtcpRepr::SenderReport(sr)) => Some(sr),
            _ => None,
        })
        .expect("a sender report: the leg sent RTP");
    assert_eq!(
        sr.ssrc, media_ssrc,
        "the SR describes the stream B receives"
    );
    assert_eq!(
        last.from.port(),
        legs[1].port() + 1,
        "from leg B's RTCP port"
    );
    // Leg A reports on what it receives from A's peer.
    let to_a = reports
        .iter()
        .find(|(_, r)| r.to.port() == peer_a.port() + 1)
        .unwrap();
    let a_report = Compound::new_checked(&to_a.1.bytes).unwrap();
    let blocks: Vec<ReportBlock> = a_report
        .reprs()
        .flatten()
        .flat_map(|r| match r {
            RtcpRepr::SenderReport(sr) => sr.report_blocks.collect::<Vec<_>>(),
            RtcpRepr::ReceiverReport(rr) => rr.report_blocks.collect(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].ssrc, Ssrc(0x5150));
    assert_eq!(blocks[0].cumulative_lost, 0);
    // Each of A's reports came with a quality sample of what A received; B received nothing
    // and sent none.
    let samples = h.quality_samples(LegId::A);
    let to_a_count = reports
        .iter()
        .filter(|(_, r)| r.to.port() == peer_a.port() + 1)
        .count();
    assert_eq!(samples.len(), to_a_count, "{samples:?}");
    assert!(samples.windows(2).all(|w| w[0].received < w[1].received));
    assert!(samples.iter().all(|s| s.cumulative_lost == 0));
    assert!(
        samples.iter().all(|s| s.playout.is_none()),
        "a relayed leg has no jitter buffer"
    );
    assert!(h.quality_samples(LegId::B).is_empty());

    // B's peer answers at least 150 ms after the SR with an RR that held it for 100 ms.
    let block = ReportBlock {
        ssrc: media_ssrc,
        last_sr: sr.sender_info.ntp_time.compact(),
        delay_since_last_sr: 65536 / 10,
        ..ReportBlock::default()
    };
    let sent_at = *sent_at;
    while h.now_us < sent_at + 150_000 {
        h.tick();
    }
    h.tick();
    let mut buf = [0u8; 256];
    let mut writer = CompoundWriter::new(&mut buf);
    writer.receiver_report(Ssrc(0xB0B), &[block]).unwrap();
    writer.cname(Ssrc(0xB0B), b"peer-b").unwrap();
    let len = writer.finish();
    let legs_rtcp_b = SocketAddr::new(legs[1].ip(), legs[1].port() + 1);
    h.peer.send(h.now_us, pair_b.rtcp, legs_rtcp_b, &buf[..len]);
    h.tick();
    let report = h.worker.leg_report(SessionId(30), LegId::B).unwrap();
    assert_eq!(report.counters.rtcp_received, 1);
    // The SR left at the tick `sent_at`; the RR was taken in at the tick `h.now_us` (the
    // worker stamps arrivals with its tick: 10 ms resolution).
    let expected = h.now_us - sent_at - 100_000;
    let rtt = report.rtt_us.expect("a round-trip time");
    assert!(
        rtt.abs_diff(expected) < 1_000,
        "RTT {rtt} µs, expected {expected}"
    );
    let a = h.worker.leg_report(SessionId(30), LegId::A).unwrap();
    assert_eq!(a.peer, Some(peer_a));
    // RFC 3550 A.1: a new source is on probation; its first packet is not counted.
    assert_eq!(a.received, 499);

    // Removal says goodbye on both legs (§6.6) before the ports close.
    let _ = h.peer.recv_all();
    h.worker.remove(h.now_us, SessionId(30)).unwrap();
    let byes: Vec<SocketAddr> = h
        .peer
        .recv_all()
        .into_iter()
        .filter(|r| {
            Compound::new_checked(&r.bytes).is_ok_and(|c| {
                c.reprs()
                    .any(|p| matches!(p, Ok(RtcpRepr::Goodbye(b)) if b.sources().count() == 1))
            })
        })
        .map(|r| r.to)
        .collect();
    assert_eq!(byes.len(), 2);
    assert!(byes.contains(&rtcp_b));
}
