//! The Ogg Opus container: round trips and robustness as properties, and the writer's output
//! checked by the reference tools (`opusinfo`, `opusdec` from opus-tools, RFC 7845's authors).

use std::path::PathBuf;
use std::process::Command;

use proptest::prelude::*;
use tandem_codecs::file::ogg_opus::{self, OpusHead};
use tandem_codecs::file::{FileError, OggFault, wav};
use tandem_codecs::opus::OpusEncoder;
use tandem_codecs::{Encoder, OpusConfig};

/// An Opus packet with a valid TOC: `config` (0..32), framing `code` 0..=2 (one or two
/// frames), then arbitrary bytes.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    (0u8..32, 0u8..3, prop::collection::vec(any::<u8>(), 0..400)).prop_map(
        |(config, code, body)| {
            let mut p = vec![(config << 3) | code];
            p.extend(body);
            p
        },
    )
}

/// The Ogg CRC (RFC 3533 §6: polynomial 0x04c11db7, initial value 0, no reflection).
fn crc(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0u32, |mut crc, &b| {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
        crc
    })
}

/// Recomputes every page's CRC, so that mutations reach the code behind the CRC check.
fn fix_crcs(bytes: &mut [u8]) {
    let mut at = 0;
    while at + 27 <= bytes.len() && &bytes[at..at + 4] == b"OggS" {
        let segments = usize::from(bytes[at + 26]);
        if at + 27 + segments > bytes.len() {
            return;
        }
        let body: usize = bytes[at + 27..at + 27 + segments]
            .iter()
            .map(|&s| usize::from(s))
            .sum();
        let end = at + 27 + segments + body;
        if end > bytes.len() {
            return;
        }
        bytes[at + 22..at + 26].fill(0);
        let sum = crc(&bytes[at..end]);
        bytes[at + 22..at + 26].copy_from_slice(&sum.to_le_bytes());
        at = end;
    }
}

proptest! {
    #[test]
    fn parse_inverts_the_writer(
        packets in prop::collection::vec(packet(), 0..120),
        pre_skip in 0u16..4000,
        rate in prop::sample::select(vec![0u32, 8000, 16000, 44100, 48000]),
        channels in 1u8..=2,
        trim in 0u64..960,
    ) {
        let head = OpusHead::new(channels, pre_skip, rate);
        let total: u64 = packets.iter().map(|p| u64::from(ogg_opus::packet_samples_48k(p).unwrap())).sum();
        let last = packets.last().map_or(0, |p| u64::from(ogg_opus::packet_samples_48k(p).unwrap()));
        // Real audio ends within the last packet (never before the previous one).
        let real = (total.saturating_sub(trim.min(last.saturating_sub(1)))).saturating_sub(pre_skip.into());
        let bytes = ogg_opus::to_bytes(&head, &packets, real, 0x1234).unwrap();
        let stream = ogg_opus::parse(&bytes).unwrap();
        prop_assert_eq!(stream.head, head);
        prop_assert_eq!(&stream.packets, &packets);
        prop_assert!(stream.complete);
        prop_assert_eq!(stream.start_granule, 0);
        if !packets.is_empty() && total >= u64::from(pre_skip) + real {
            prop_assert_eq!(stream.playable_samples_48k(), real);
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = ogg_opus::parse(&bytes);
        let mut ogg = b"OggS\0\x02".to_vec();
        ogg.extend_from_slice(&bytes);
        let _ = ogg_opus::parse(&ogg);
        fix_crcs(&mut ogg);
        let _ = ogg_opus::parse(&ogg);
    }

    #[test]
    fn parse_never_panics_on_mutated_streams(
        packets in prop::collection::vec(packet(), 1..70),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        fix in any::<bool>(),
    ) {
        let mut bytes = ogg_opus::to_bytes(&OpusHead::new(1, 312, 8000), &packets, 0, 9).unwrap();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if fix {
            fix_crcs(&mut bytes);
        }
        let n = cut.index(bytes.len() + 1);
        let _ = ogg_opus::parse(&bytes[..n]);
        let _ = ogg_opus::parse(&bytes);
    }

    /// Without fixing the CRC, any change to a page is caught (as a CRC error, or earlier).
    #[test]
    fn a_changed_byte_never_goes_unnoticed(packets in prop::collection::vec(packet(), 1..30), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut bytes = ogg_opus::to_bytes(&OpusHead::new(1, 312, 8000), &packets, 0, 9).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= flip;
        prop_assert!(ogg_opus::parse(&bytes).is_err());
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 1 kHz tone at 8 kHz, `n` samples long, at about -12 dBFS.
fn tone(n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI / 8.0).sin() * 8000.0) as i16)
        .collect()
}

/// Encodes `pcm` (8 kHz) into an Ogg Opus file the way `tandem transcode` does: pre-skip from
/// the encoder's lookahead, padded so the lookahead's worth of real audio is coded too.
fn encode_file(pcm: &[i16]) -> Vec<u8> {
    let mut encoder = OpusEncoder::new(8000, &OpusConfig::default()).unwrap();
    let lookahead = encoder.lookahead();
    let pre_skip = (lookahead * 6) as u16;
    let mut input = pcm.to_vec();
    input.resize(pcm.len() + lookahead, 0);
    input.resize(input.len().div_ceil(160) * 160, 0);
    let mut packets = Vec::new();
    let mut buf = [0u8; 1500];
    for frame in input.chunks_exact(160) {
        let n = encoder.encode(frame, &mut buf).unwrap();
        packets.push(buf[..n].to_vec());
    }
    ogg_opus::to_bytes(
        &OpusHead::new(1, pre_skip, 8000),
        &packets,
        pcm.len() as u64 * 6,
        42,
    )
    .unwrap()
}

#[test]
fn opusinfo_accepts_the_writers_output() {
    let dir = temp_dir("opusinfo");
    let path = dir.join("tone.opus");
    std::fs::write(&path, encode_file(&tone(8000 * 3 + 37))).unwrap();
    let out = Command::new("opusinfo")
        .arg(&path)
        .output()
        .expect("opusinfo (opus-tools) is installed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("WARNING") && !text.contains("ERROR"),
        "{text}"
    );
    assert!(text.contains("Pre-skip: 312"), "{text}");
    assert!(text.contains("Original sample rate: 8000"), "{text}");
    assert!(text.contains("Encoded with Tandem"), "{text}");
    // 24037 samples at 8 kHz = 3.004625 s; opusinfo prints the playback length.
    assert!(
        text.contains("Playback length: 0m:03.005s")
            || text.contains("Playback length: 0m:03.004s"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn opusdec_plays_the_writers_output_at_its_exact_length() {
    let dir = temp_dir("opusdec");
    let opus = dir.join("tone.opus");
    let decoded = dir.join("tone.wav");
    let pcm = tone(8000 * 2 + 123);
    std::fs::write(&opus, encode_file(&pcm)).unwrap();
    let out = Command::new("opusdec")
        .args(["--quiet", "--rate", "8000"])
        .arg(&opus)
        .arg(&decoded)
        .output()
        .expect("opusdec (opus-tools) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (info, back) = wav::read(&decoded).unwrap();
    assert_eq!(info.sample_rate, 8000);
    assert_eq!(back.len(), pcm.len(), "pre-skip and end trimming honoured");
    // The tone survives: compare energy in the middle (Opus is lossy, the level is close).
    let rms =
        |s: &[i16]| (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
    let mid = 4000..12000;
    let ratio = rms(&back[mid.clone()]) / rms(&pcm[mid.clone()]);
    assert!((0.8..1.25).contains(&ratio), "level ratio {ratio}");
    // Aligned: the decoded tone is in phase with the original (pre-skip removed the delay).
    let corr: f64 = back[mid.clone()]
        .iter()
        .zip(&pcm[mid.clone()])
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum();
    let norm = rms(&back[mid.clone()]) * rms(&pcm[mid.clone()]) * mid.len() as f64;
    assert!(corr / norm > 0.9, "correlation {}", corr / norm);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reads_what_opusenc_writes() {
    let dir = temp_dir("opusenc");
    let input = dir.join("in.wav");
    let opus = dir.join("in.opus");
    let pcm = tone(8000);
    wav::write(&input, 8000, &pcm).unwrap();
    let out = Command::new("opusenc")
        .args(["--quiet", "--bitrate", "24"])
        .arg(&input)
        .arg(&opus)
        .output()
        .expect("opusenc (opus-tools) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stream = ogg_opus::read(&opus).unwrap();
    assert_eq!(stream.head.input_sample_rate, 8000);
    assert!(stream.complete);
    assert_eq!(stream.playable_samples_48k(), 48000, "one second at 48 kHz");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_pages_are_typed_errors() {
    let mut bytes = encode_file(&tone(4000));
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    assert!(matches!(
        ogg_opus::parse(&bytes),
        Err(FileError::OggPage {
            fault: OggFault::Crc { .. },
            ..
        })
    ));
}
