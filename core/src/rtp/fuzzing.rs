//! Entry points shared by the `rtp_parse` and `rtcp_parse` fuzz targets and the corpus replay
//! test (`core/tests/fuzz_corpus.rs`), compiled in normal builds so the replay runs on stable
//! (str0m's `_internal_test_exports` pattern). Not API: hidden from the docs.
//!
//! Each entry point accepts any bytes, must not panic except on a broken invariant, and
//! returns whether the input parsed.

use std::net::{Ipv4Addr, SocketAddr};

use crate::rtp::comfort_noise::ComfortNoise;
use crate::rtp::header::{RtpHeader, RtpPacket, Ssrc};
use crate::rtp::rewrite::{RewriteConfig, Rewriter};
use crate::rtp::rtcp::{
    Compound, Goodbye, ReceiverReport, ReportBlock, RtcpPacket, RtcpRepr, SdesItem, SenderReport,
    SourceDescription,
};
use crate::rtp::source::{SourceConfig, SourceFilter};
use crate::rtp::stats::ReceiveStats;
use crate::rtp::telephone_event::{ReceiverConfig, TelephoneEvent, TelephoneEventReceiver};
use crate::rtp::{SeqNo, classify};

/// Parses `data` as RTP; on success re-emits it and checks the round trip, and runs the
/// payload parsers and the per-stream state machines over it.
pub fn rtp_parse(data: &[u8]) -> bool {
    let _ = classify(data);
    let Ok(packet) = RtpPacket::new_checked(data) else {
        return false;
    };
    let header = RtpHeader::parse(&packet);
    let payload = packet.payload();
    assert_eq!(
        packet.header_len() + payload.len() + packet.padding_len(),
        data.len()
    );
    if let Some(ext) = header.extension {
        for e in ext.elements().flatten() {
            assert!(e.data.len() <= ext.data.len());
        }
    }
    let mut out = [0u8; 2048];
    let mut owned;
    let buf: &mut [u8] = if data.len() <= out.len() {
        &mut out
    } else {
        owned = vec![0u8; data.len()];
        &mut owned
    };
    let n = header
        .emit_packet(payload, buf)
        .expect("a parsed header re-emits");
    assert_eq!(n, data.len());
    let again = RtpPacket::new_checked(&buf[..n]).expect("emitted packet parses");
    assert_eq!(RtpHeader::parse(&again), header);
    assert_eq!(again.payload(), payload);

    if let Ok(event) = TelephoneEvent::parse(payload) {
        let mut four = [0u8; 4];
        let event = TelephoneEvent {
            volume: event.volume & 0x3f,
            ..event
        };
        event.emit(&mut four).expect("volume is in range");
        assert_eq!(TelephoneEvent::parse(&four), Ok(event));
    }
    if let Ok(cn) = ComfortNoise::parse(payload) {
        let mut cn_out = vec![0u8; cn.buffer_len()];
        cn.emit(&mut cn_out).expect("level is in range");
        assert_eq!(ComfortNoise::parse(&cn_out), Ok(cn));
    }

    // The stream logic must take any header values without panicking.
    let now_us = u64::from(header.timestamp.0) * 7;
    let from = SocketAddr::from((Ipv4Addr::LOCALHOST, header.sequence_number.0));
    let mut filter = SourceFilter::new(SourceConfig {
        learn_packets: 2,
        ..SourceConfig::default()
    });
    let mut stats = ReceiveStats::new(8000);
    let mut rewriter = Rewriter::new(RewriteConfig::new(
        Ssrc(1),
        SeqNo(2),
        crate::rtp::RtpTimestamp(3),
        8000,
    ));
    let mut events = TelephoneEventReceiver::new(ReceiverConfig::default());
    for step in 0..3u64 {
        let t = now_us.wrapping_add(step * 20_000);
        let seq = header.sequence_number.wrapping_add(step as u16);
        let _ = filter.handle_packet(t, from, header.ssrc, header.payload_type, seq);
        let _ = stats.handle_packet(t, header.ssrc, seq, header.timestamp, payload.len());
        let _ = rewriter.rewrite(t, header.ssrc, seq, header.timestamp, header.marker);
        let _ = events.handle_packet(t, header.ssrc, header.timestamp, header.marker, payload);
        events.handle_timeout(t);
        while events.poll_event().is_some() {}
    }
    let _ = stats.report_block(now_us);
    true
}

/// Parses `data` as a compound RTCP datagram (and as a single packet); on success re-emits
/// every understood packet and checks the round trip.
pub fn rtcp_parse(data: &[u8]) -> bool {
    let _ = classify(data);
    if let Ok(single) = RtcpPacket::new_checked(data) {
        assert!(single.body().len() + 4 <= single.packet_len());
        let _ = RtcpRepr::parse(&single);
    }
    let Ok(compound) = Compound::new_checked(data) else {
        return false;
    };
    let total: usize = compound.packets().map(|p| p.packet_len()).sum();
    assert_eq!(total, data.len());
    let mut buf = vec![0u8; 4096];
    let mut reprs = compound.reprs();
    for repr in reprs.by_ref() {
        match repr {
            Ok(RtcpRepr::SenderReport(sr)) => {
                let blocks: Vec<ReportBlock> = sr.report_blocks.collect();
                let n = SenderReport::emit(sr.ssrc, &sr.sender_info, &blocks, &mut buf)
                    .expect("a parsed SR re-emits");
                let p = RtcpPacket::new_checked(&buf[..n]).expect("emitted SR parses");
                let again = SenderReport::parse(&p).expect("emitted SR parses");
                assert_eq!((again.ssrc, again.sender_info), (sr.ssrc, sr.sender_info));
                assert!(again.report_blocks.eq(blocks.iter().copied()));
            }
            Ok(RtcpRepr::ReceiverReport(rr)) => {
                let blocks: Vec<ReportBlock> = rr.report_blocks.collect();
                let n =
                    ReceiverReport::emit(rr.ssrc, &blocks, &mut buf).expect("a parsed RR re-emits");
                let p = RtcpPacket::new_checked(&buf[..n]).expect("emitted RR parses");
                let again = ReceiverReport::parse(&p).expect("emitted RR parses");
                assert_eq!(again.ssrc, rr.ssrc);
                assert!(again.report_blocks.eq(blocks.iter().copied()));
            }
            Ok(RtcpRepr::SourceDescription(sdes)) => {
                let chunks: Vec<(Ssrc, Vec<SdesItem<'_>>)> = sdes
                    .chunks()
                    .map(|c| (c.ssrc, c.items().filter(|i| i.item_type.0 != 0).collect()))
                    .collect();
                assert_eq!(chunks.len(), sdes.len());
                let borrowed: Vec<(Ssrc, &[SdesItem<'_>])> =
                    chunks.iter().map(|(s, i)| (*s, i.as_slice())).collect();
                let n =
                    SourceDescription::emit(&borrowed, &mut buf).expect("a parsed SDES re-emits");
                let p = RtcpPacket::new_checked(&buf[..n]).expect("emitted SDES parses");
                let again = SourceDescription::parse(&p).expect("emitted SDES parses");
                let again: Vec<(Ssrc, Vec<SdesItem<'_>>)> = again
                    .chunks()
                    .map(|c| (c.ssrc, c.items().collect()))
                    .collect();
                assert_eq!(again, chunks);
            }
            Ok(RtcpRepr::Goodbye(bye)) => {
                let sources: Vec<Ssrc> = bye.sources().collect();
                let n = Goodbye::emit(&sources, bye.reason, &mut buf).expect("a BYE re-emits");
                let p = RtcpPacket::new_checked(&buf[..n]).expect("emitted BYE parses");
                let again = Goodbye::parse(&p).expect("emitted BYE parses");
                assert!(again.sources().eq(sources.iter().copied()));
                assert_eq!(again.reason, bye.reason);
            }
            Err(_) => {}
        }
    }
    assert!(reprs.skipped_unknown() as usize <= total / 4);
    true
}
