//! Property tests for RTCP: the checked views and compound iteration accept any bytes without
//! panicking, and `parse(emit(x)) == x` for SR, RR, report blocks, SDES, BYE and whole
//! compounds built with the writer.

use proptest::prelude::*;
use tandem_core::rtp::rtcp::{
    Compound, CompoundWriter, Goodbye, NtpTime, ReceiverReport, ReportBlock, RtcpPacket, RtcpRepr,
    SdesItem, SdesItemType, SenderInfo, SenderReport, SourceDescription,
};
use tandem_core::rtp::{RtpTimestamp, Ssrc};

fn block() -> impl Strategy<Value = ReportBlock> {
    (
        any::<u32>(),
        any::<u8>(),
        ReportBlock::CUMULATIVE_LOST_MIN..=ReportBlock::CUMULATIVE_LOST_MAX,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(
                ssrc,
                fraction_lost,
                cumulative_lost,
                highest_sequence,
                jitter,
                last_sr,
                delay_since_last_sr,
            )| {
                ReportBlock {
                    ssrc: Ssrc(ssrc),
                    fraction_lost,
                    cumulative_lost,
                    highest_sequence,
                    jitter,
                    last_sr,
                    delay_since_last_sr,
                }
            },
        )
}

fn sender_info() -> impl Strategy<Value = SenderInfo> {
    (any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(ntp, ts, p, o)| {
        SenderInfo {
            ntp_time: NtpTime(ntp),
            rtp_timestamp: RtpTimestamp(ts),
            packet_count: p,
            octet_count: o,
        }
    })
}

/// Bytes that look like a compound often enough to reach the per-type parsers: each 4-byte
/// word boundary may start an RTCP header of a known type with a plausible length.
fn rtcp_like() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        (
            any::<u8>(),
            200u8..=207,
            0u8..8,
            prop::collection::vec(any::<u8>(), 0..40),
        ),
        1..4,
    )
    .prop_map(|packets| {
        let mut out = Vec::new();
        for (flags, pt, words, body) in packets {
            out.push(0x80 | (flags & 0x3f));
            out.push(pt);
            out.extend_from_slice(&u16::from(words).to_be_bytes());
            let len = usize::from(words) * 4;
            out.extend((0..len).map(|i| body.get(i).copied().unwrap_or(0)));
        }
        out
    })
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = tandem_core::rtp::fuzzing::rtcp_parse(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_rtcp_like_bytes(bytes in rtcp_like()) {
        if let Ok(p) = RtcpPacket::new_checked(&bytes[..]) {
            let _ = (p.count(), p.packet_type(), p.body().len());
            let _ = RtcpRepr::parse(&p);
        }
        if let Ok(c) = Compound::new_checked(&bytes) {
            for repr in c.reprs().flatten() {
                match repr {
                    RtcpRepr::SenderReport(sr) => { let _ = sr.report_blocks.count(); }
                    RtcpRepr::ReceiverReport(rr) => { let _ = rr.report_blocks.count(); }
                    RtcpRepr::SourceDescription(s) => {
                        for chunk in s.chunks() { let _ = chunk.items().count(); }
                    }
                    RtcpRepr::Goodbye(b) => { let _ = b.sources().count(); }
                    _ => {}
                }
            }
        }
        let _ = tandem_core::rtp::fuzzing::rtcp_parse(&bytes);
    }

    #[test]
    fn sender_report_round_trips(ssrc in any::<u32>(), info in sender_info(), blocks in prop::collection::vec(block(), 0..=31)) {
        let mut buf = vec![0u8; SenderReport::buffer_len(blocks.len())];
        let n = SenderReport::emit(Ssrc(ssrc), &info, &blocks, &mut buf).unwrap();
        prop_assert_eq!(n, buf.len());
        let p = RtcpPacket::new_checked(&buf[..]).unwrap();
        let sr = SenderReport::parse(&p).unwrap();
        prop_assert_eq!(sr.ssrc, Ssrc(ssrc));
        prop_assert_eq!(sr.sender_info, info);
        prop_assert_eq!(sr.report_blocks.collect::<Vec<_>>(), blocks);
    }

    #[test]
    fn receiver_report_round_trips(ssrc in any::<u32>(), blocks in prop::collection::vec(block(), 0..=31)) {
        let mut buf = vec![0u8; ReceiverReport::buffer_len(blocks.len())];
        ReceiverReport::emit(Ssrc(ssrc), &blocks, &mut buf).unwrap();
        let p = RtcpPacket::new_checked(&buf[..]).unwrap();
        let rr = ReceiverReport::parse(&p).unwrap();
        prop_assert_eq!(rr.ssrc, Ssrc(ssrc));
        prop_assert_eq!(rr.report_blocks.collect::<Vec<_>>(), blocks);
    }

    #[test]
    fn sdes_round_trips(
        chunks in prop::collection::vec(
            (any::<u32>(), prop::collection::vec((1u8..=8, prop::collection::vec(any::<u8>(), 0..40)), 0..4)),
            0..6,
        )
    ) {
        let items: Vec<(Ssrc, Vec<SdesItem<'_>>)> = chunks
            .iter()
            .map(|(ssrc, items)| {
                (Ssrc(*ssrc), items.iter().map(|(t, v)| SdesItem { item_type: SdesItemType(*t), value: v }).collect())
            })
            .collect();
        let borrowed: Vec<(Ssrc, &[SdesItem<'_>])> = items.iter().map(|(s, i)| (*s, i.as_slice())).collect();
        let mut buf = vec![0u8; SourceDescription::buffer_len(&borrowed)];
        SourceDescription::emit(&borrowed, &mut buf).unwrap();
        let p = RtcpPacket::new_checked(&buf[..]).unwrap();
        let sdes = SourceDescription::parse(&p).unwrap();
        let parsed: Vec<(Ssrc, Vec<SdesItem<'_>>)> = sdes.chunks().map(|c| (c.ssrc, c.items().collect())).collect();
        prop_assert_eq!(parsed, items);
    }

    #[test]
    fn bye_round_trips(sources in prop::collection::vec(any::<u32>(), 0..=31), reason in prop::option::of(prop::collection::vec(any::<u8>(), 0..=255))) {
        let sources: Vec<Ssrc> = sources.into_iter().map(Ssrc).collect();
        let mut buf = vec![0u8; Goodbye::buffer_len(sources.len(), reason.as_ref().map(Vec::len))];
        Goodbye::emit(&sources, reason.as_deref(), &mut buf).unwrap();
        let p = RtcpPacket::new_checked(&buf[..]).unwrap();
        let bye = Goodbye::parse(&p).unwrap();
        prop_assert_eq!(bye.sources().collect::<Vec<_>>(), sources);
        prop_assert_eq!(bye.reason, reason.as_deref());
    }

    #[test]
    fn compound_written_by_the_writer_parses_back(
        ssrc in any::<u32>(),
        info in prop::option::of(sender_info()),
        blocks in prop::collection::vec(block(), 0..4),
        cname in prop::collection::vec(any::<u8>(), 0..64),
        bye in any::<bool>(),
    ) {
        let mut buf = [0u8; 1024];
        let mut w = CompoundWriter::new(&mut buf);
        match &info {
            Some(info) => w.sender_report(Ssrc(ssrc), info, &blocks).unwrap(),
            None => w.receiver_report(Ssrc(ssrc), &blocks).unwrap(),
        };
        w.cname(Ssrc(ssrc), &cname).unwrap();
        if bye {
            w.goodbye(&[Ssrc(ssrc)], None).unwrap();
        }
        let n = w.finish();
        let c = Compound::new_checked(&buf[..n]).unwrap();
        prop_assert!(c.starts_with_report());
        let reprs: Vec<_> = c.reprs().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(reprs.len(), 2 + usize::from(bye));
        match (&reprs[0], &info) {
            (RtcpRepr::SenderReport(sr), Some(info)) => {
                prop_assert_eq!(&sr.sender_info, info);
                prop_assert_eq!(sr.report_blocks.collect::<Vec<_>>(), blocks);
            }
            (RtcpRepr::ReceiverReport(rr), None) => {
                prop_assert_eq!(rr.report_blocks.collect::<Vec<_>>(), blocks);
            }
            other => prop_assert!(false, "{:?}", other),
        }
        match &reprs[1] {
            RtcpRepr::SourceDescription(s) => {
                prop_assert_eq!(s.chunks().next().and_then(|c| c.cname()), Some(&cname[..]));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
