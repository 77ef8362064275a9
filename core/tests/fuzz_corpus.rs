//! Replays the RTP/RTCP fuzz seed corpora (`fuzz/corpus/rtp_parse/`, `fuzz/corpus/rtcp_parse/`)
//! through the same entry points as the fuzz targets, on stable Rust, and holds the generator
//! of those seeds.
//!
//! Seeds whose name starts with `valid-` must parse; the others must be rejected.
//! Regenerate them with `cargo test -p tandem-core --test fuzz_corpus -- --ignored`.

use tandem_core::rtp::fuzzing::{rtcp_parse, rtp_parse};
use tandem_core::rtp::rtcp::{CompoundWriter, NtpTime, ReportBlock, SenderInfo, SenderReport};
use tandem_core::rtp::{
    ComfortNoise, CsrcList, EventCode, Extension, PayloadType, RtpHeader, RtpTimestamp, SeqNo,
    Ssrc, TelephoneEvent,
};
use tandem_test_support::corpus;

fn replay(target: &str, parse: fn(&[u8]) -> bool) {
    let seeds = corpus::replay(target, |name, bytes| {
        assert_eq!(parse(bytes), name.starts_with("valid-"), "{target}/{name}");
    });
    assert!(seeds >= 3, "{target} corpus has {seeds} seeds");
}

#[test]
fn rtp_parse_corpus_replays() {
    replay("rtp_parse", rtp_parse);
}

#[test]
fn rtcp_parse_corpus_replays() {
    replay("rtcp_parse", rtcp_parse);
}

fn rtp(header: &RtpHeader<'_>, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; header.buffer_len(payload.len())];
    header.emit_packet(payload, &mut buf).unwrap();
    buf
}

/// Writes the seed corpora. Ignored: run by hand when the formats change.
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = corpus::dir("rtp_parse");
    std::fs::create_dir_all(&dir).unwrap();
    let pcmu = RtpHeader::new(
        PayloadType::PCMU,
        SeqNo(4711),
        RtpTimestamp(160_000),
        Ssrc(0x1234_5678),
    );
    let media = rtp(&pcmu, &[0xFF; 160]);
    std::fs::write(dir.join("valid-pcmu-20ms.rtp"), &media).unwrap();
    let ext_data = [0x10, 0xAA, 0x21, 0xBB, 0xCC, 0, 0, 0];
    let full = RtpHeader {
        marker: true,
        payload_type: PayloadType::new(96).unwrap(),
        csrcs: CsrcList::new(&[Ssrc(1), Ssrc(2)]).unwrap(),
        extension: Some(Extension {
            profile: 0xBEDE,
            data: &ext_data,
        }),
        padding: 4,
        ..pcmu
    };
    std::fs::write(
        dir.join("valid-csrc-extension-padding.rtp"),
        rtp(&full, b"abc"),
    )
    .unwrap();
    let mut event = [0u8; 4];
    TelephoneEvent {
        event: EventCode(11),
        end: true,
        volume: 10,
        duration: 1600,
    }
    .emit(&mut event)
    .unwrap();
    let te = RtpHeader {
        payload_type: PayloadType::new(101).unwrap(),
        ..pcmu
    };
    std::fs::write(dir.join("valid-telephone-event.rtp"), rtp(&te, &event)).unwrap();
    let mut cn = [0u8; 5];
    ComfortNoise {
        level: 62,
        coefficients: &[127, 140, 100, 20],
    }
    .emit(&mut cn)
    .unwrap();
    let cn_header = RtpHeader {
        payload_type: PayloadType::CN,
        ..pcmu
    };
    std::fs::write(dir.join("valid-comfort-noise.rtp"), rtp(&cn_header, &cn)).unwrap();
    std::fs::write(dir.join("truncated-header.rtp"), &media[..11]).unwrap();
    let mut version = media.clone();
    version[0] = 0x40;
    std::fs::write(dir.join("version-1.rtp"), version).unwrap();
    let mut padding = media.clone();
    padding[0] |= 0x20;
    std::fs::write(dir.join("padding-too-long.rtp"), padding).unwrap();
    let mut extension = media[..16].to_vec();
    extension[0] |= 0x10;
    extension[14] = 0x10;
    std::fs::write(dir.join("extension-overrun.rtp"), extension).unwrap();

    let dir = corpus::dir("rtcp_parse");
    std::fs::create_dir_all(&dir).unwrap();
    let mut buf = [0u8; 512];
    let info = SenderInfo {
        ntp_time: NtpTime::from_unix_micros(1_700_000_000_000_000),
        rtp_timestamp: RtpTimestamp(160_000),
        packet_count: 1000,
        octet_count: 160_000,
    };
    let block = ReportBlock {
        ssrc: Ssrc(0xCAFE),
        fraction_lost: 3,
        cumulative_lost: 17,
        highest_sequence: 70_000,
        jitter: 12,
        last_sr: 0x1234_5678,
        delay_since_last_sr: 0x0000_8000,
    };
    let mut w = CompoundWriter::new(&mut buf);
    w.sender_report(Ssrc(0x1234_5678), &info, &[block])
        .unwrap()
        .cname(Ssrc(0x1234_5678), b"tandem@192.0.2.1")
        .unwrap();
    let n = w.finish();
    let sr = buf[..n].to_vec();
    std::fs::write(dir.join("valid-sr-sdes.rtcp"), &sr).unwrap();
    let mut w = CompoundWriter::new(&mut buf);
    w.receiver_report(Ssrc(0xCAFE), &[block])
        .unwrap()
        .cname(Ssrc(0xCAFE), b"peer")
        .unwrap();
    let bye_at = w.len();
    w.goodbye(&[Ssrc(0xCAFE)], Some(b"hangup")).unwrap();
    let n = w.finish();
    let mut rr = buf[..n].to_vec();
    // An APP packet between the SDES and the BYE: skipped and counted.
    let app = [0x80, 204, 0, 2, 0, 0, 0xCA, 0xFE, b't', b'e', b's', b't'];
    rr.splice(bye_at..bye_at, app);
    std::fs::write(dir.join("valid-rr-sdes-app-bye.rtcp"), &rr).unwrap();
    std::fs::write(dir.join("truncated.rtcp"), &sr[..sr.len() - 3]).unwrap();
    // A valid padding count on the SR, which is not the last packet (RFC 3550 A.2).
    let mut padded = sr.clone();
    padded[0] |= 0x20;
    padded[SenderReport::buffer_len(1) - 1] = 4;
    std::fs::write(dir.join("padding-not-last.rtcp"), padded).unwrap();
    let mut count = sr;
    count[0] = 0x80 | 5;
    std::fs::write(dir.join("valid-framing-bad-report-count.rtcp"), count).unwrap();
}
