//! Replays the RTP/RTCP fuzz seed corpora (`fuzz/corpus/rtp_parse/`, `fuzz/corpus/rtcp_parse/`)
//! and the live sessions' (`fuzz/corpus/session_packets/`) through the same entry points as
//! the fuzz targets, on stable Rust, and holds the generators of those seeds.
//!
//! Parser seeds whose name starts with `valid-` must parse; the others must be rejected.
//! Regenerate them with `cargo test -p tandem-core --test fuzz_corpus -- --ignored`
//! (`write_seed_corpus` first: the session seeds are made of the parsers').

use tandem_codecs::{EncoderConfig, Format, registry};
use tandem_core::rtp::fuzzing::{rtcp_parse, rtp_parse};
use tandem_core::rtp::rtcp::{CompoundWriter, NtpTime, ReportBlock, SenderInfo, SenderReport};
use tandem_core::rtp::{
    ComfortNoise, CsrcList, EventCode, Extension, PayloadType, RtpHeader, RtpTimestamp, SeqNo,
    Ssrc, TelephoneEvent,
};
use tandem_core::session::fuzzing::session_packets;
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

#[test]
fn session_packets_corpus_replays() {
    let seeds = corpus::replay("session_packets", |_, bytes| session_packets(bytes));
    assert!(seeds >= 5, "session_packets corpus has {seeds} seeds");
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

/// A `session_packets` input under construction: records of (selector, datagram).
#[derive(Default)]
struct Throws(Vec<u8>);

impl Throws {
    /// Throws `datagram` at leg `leg` (0 relay, 1 and 2 transcoder PCMU and Opus, 3 to 5
    /// conference PCMU, Opus and G.722, 6 echo), then runs `ticks` ticks (0 to 3).
    fn at(&mut self, leg: u8, rtcp_port: bool, stranger: bool, ticks: u8, datagram: &[u8]) {
        let long = datagram.len() > 255;
        let length = if long {
            datagram.len().div_ceil(6)
        } else {
            datagram.len()
        };
        let selector = leg
            | u8::from(rtcp_port) << 3
            | u8::from(stranger) << 4
            | ticks << 5
            | u8::from(long) << 7;
        self.0.push(selector);
        self.0.push(length as u8);
        self.0.extend_from_slice(datagram);
        self.0.resize(
            self.0.len() + if long { length * 6 - datagram.len() } else { 0 },
            0,
        );
    }
}

/// One stream's packets: `payloads` on `pt`, one every 20 ms.
fn stream(pt: u8, ts_step: u32, payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let header = RtpHeader::new(
                PayloadType::new(pt).unwrap(),
                SeqNo(100 + i as u16),
                RtpTimestamp(9000 + ts_step * i as u32),
                Ssrc(0x5EED_0001),
            );
            rtp(&header, p)
        })
        .collect()
}

fn encoded(format: Format, samples: usize) -> Vec<Vec<u8>> {
    let mut encoder = registry::new_encoder(format, &EncoderConfig::default()).unwrap();
    let rate = format.sample_rate as usize;
    let frame = rate / 50;
    let pcm: Vec<i16> = (0..samples)
        .map(|n| {
            (8000.0 * (n as f64 * 2.0 * std::f64::consts::PI * 440.0 / rate as f64).sin()) as i16
        })
        .collect();
    pcm.chunks_exact(frame)
        .map(|chunk| {
            let mut out = vec![0u8; 1500];
            let n = encoder.encode(chunk, &mut out).unwrap();
            out.truncate(n);
            out
        })
        .collect()
}

/// Writes the session seeds: clean streams to every leg, DTMF events, reports, the parser
/// corpora thrown from the peer and from a stranger. Ignored: run by hand (after
/// `write_seed_corpus`).
#[test]
#[ignore]
fn write_session_seed_corpus() {
    let dir = corpus::dir("session_packets");
    std::fs::create_dir_all(&dir).unwrap();
    let pcmu = stream(0, 160, &encoded(Format::PCMU, 8000));
    let opus = stream(96, 960, &encoded(Format::opus(48_000), 48_000));
    let g722 = stream(9, 160, &encoded(Format::G722, 16_000));

    let mut relay = Throws::default();
    for p in &pcmu {
        relay.at(0, false, false, 2, p);
    }
    std::fs::write(dir.join("relay-pcmu-stream"), relay.0).unwrap();

    let mut transcode = Throws::default();
    for (a, b) in pcmu.iter().zip(&opus) {
        transcode.at(1, false, false, 0, a);
        transcode.at(2, false, false, 2, b);
    }
    std::fs::write(dir.join("transcode-both-ways"), transcode.0).unwrap();

    let mut room = Throws::default();
    for ((a, b), c) in pcmu.iter().zip(&opus).zip(&g722) {
        room.at(3, false, false, 0, a);
        room.at(4, false, false, 0, b);
        room.at(5, false, false, 2, c);
    }
    std::fs::write(dir.join("conference-three-codecs"), room.0).unwrap();

    let mut echo = Throws::default();
    for p in g722.iter().take(20) {
        echo.at(6, false, false, 2, p);
    }
    std::fs::write(dir.join("echo-learns"), echo.0).unwrap();

    // A digit as RFC 4733 events on the relay and on both transcoder legs: begin, updates,
    // three ends.
    let mut dtmf = Throws::default();
    for leg in [0u8, 1, 2] {
        for (i, (duration, end)) in [
            (160u16, false),
            (320, false),
            (480, false),
            (640, true),
            (640, true),
            (640, true),
        ]
        .into_iter()
        .enumerate()
        {
            let mut header = RtpHeader::new(
                PayloadType::new(101).unwrap(),
                SeqNo(500 + i as u16),
                RtpTimestamp(70_000),
                Ssrc(0x5EED_0001),
            );
            header.marker = i == 0;
            let event = TelephoneEvent {
                event: EventCode::from_dtmf('5').unwrap(),
                end,
                volume: 10,
                duration,
            };
            let mut payload = [0u8; 4];
            event.emit(&mut payload).unwrap();
            dtmf.at(leg, false, false, 2, &rtp(&header, &payload));
        }
    }
    std::fs::write(dir.join("dtmf-events"), dtmf.0).unwrap();

    // The parsers' seeds: every RTP seed at the relay and the transcoder, every RTCP seed at
    // the RTCP ports and multiplexed on the RTP ports, some from a stranger.
    for (parser, rtcp) in [("rtp_parse", false), ("rtcp_parse", true)] {
        let mut throws = Throws::default();
        let mut k = 0u8;
        corpus::replay(parser, |_, bytes| {
            throws.at(k % 7, rtcp && k % 2 == 0, k % 5 == 4, 1, bytes);
            k += 1;
        });
        std::fs::write(dir.join(format!("{parser}-seeds")), throws.0).unwrap();
    }
}
