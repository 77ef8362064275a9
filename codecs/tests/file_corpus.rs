//! Replays the fuzz seed corpora (`fuzz/corpus/<target>/`) through the parsers on stable Rust,
//! with the same checks as the fuzz targets, and holds the generator of those seeds.
//!
//! Seeds whose name starts with `valid-` must parse; the others must fail with a typed error.
//! Regenerate them with `cargo test -p tandem-codecs --test file_corpus -- --ignored`.

use tandem_codecs::file::ogg_opus::{self, OpusHead};
use tandem_codecs::file::wav;
use tandem_codecs::opus::OpusEncoder;
use tandem_codecs::{Encoder, OpusConfig};
use tandem_test_support::corpus;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut seeds = Vec::new();
    corpus::replay(target, |name, bytes| {
        seeds.push((name.to_owned(), bytes.to_vec()))
    });
    assert!(
        seeds.len() >= 3,
        "{target} corpus has {} seeds",
        seeds.len()
    );
    seeds
}

#[test]
fn wav_parse_corpus_replays() {
    for (name, bytes) in seeds("wav_parse") {
        match wav::parse(&bytes) {
            Ok((info, samples)) => {
                assert!(name.starts_with("valid-"), "{name} parsed");
                let again = wav::parse(&wav::to_bytes(info.sample_rate, &samples)).unwrap();
                assert_eq!(again.1, samples, "{name}");
            }
            Err(e) => assert!(!name.starts_with("valid-"), "{name}: {e}"),
        }
    }
}

#[test]
fn ogg_opus_read_corpus_replays() {
    for (name, bytes) in seeds("ogg_opus_read") {
        match ogg_opus::parse(&bytes) {
            Ok(stream) => {
                assert!(name.starts_with("valid-"), "{name} parsed");
                let bytes = ogg_opus::to_bytes(&stream.head, &stream.packets, 0, 1).unwrap();
                let again = ogg_opus::parse(&bytes).unwrap();
                assert_eq!(
                    (again.head, again.packets),
                    (stream.head, stream.packets),
                    "{name}"
                );
            }
            Err(e) => assert!(!name.starts_with("valid-"), "{name}: {e}"),
        }
    }
}

/// A little of a 1 kHz tone at 8 kHz.
fn tone(n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| ((i as f64 * std::f64::consts::PI / 4.0).sin() * 6000.0) as i16)
        .collect()
}

fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
    let mut out = b"RIFF\0\0\0\0WAVE".to_vec();
    for (id, body) in chunks {
        out.extend_from_slice(*id);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
    }
    let size = (out.len() - 8) as u32;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    out
}

/// Writes the seed corpora. Ignored: run by hand when the formats change.
#[test]
#[ignore]
fn write_seed_corpus() {
    let wav_dir = corpus::dir("wav_parse");
    std::fs::create_dir_all(&wav_dir).unwrap();
    let mono = wav::to_bytes(8000, &tone(16));
    std::fs::write(wav_dir.join("valid-mono-8k.wav"), &mono).unwrap();
    let mut extensible_fmt = Vec::new();
    for field in [
        &0xFFFEu16.to_le_bytes()[..],
        &2u16.to_le_bytes(),
        &16000u32.to_le_bytes(),
    ] {
        extensible_fmt.extend_from_slice(field);
    }
    extensible_fmt.extend_from_slice(&64000u32.to_le_bytes());
    extensible_fmt.extend_from_slice(&4u16.to_le_bytes());
    extensible_fmt.extend_from_slice(&16u16.to_le_bytes());
    extensible_fmt.extend_from_slice(&22u16.to_le_bytes());
    extensible_fmt.extend_from_slice(&16u16.to_le_bytes());
    extensible_fmt.extend_from_slice(&3u32.to_le_bytes());
    extensible_fmt.extend_from_slice(&[
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B,
        0x71,
    ]);
    let stereo: Vec<u8> = tone(16).iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(
        wav_dir.join("valid-stereo-extensible-list.wav"),
        riff(&[
            (b"fmt ", &extensible_fmt),
            (b"LIST", b"odd"),
            (b"data", &stereo),
        ]),
    )
    .unwrap();
    std::fs::write(wav_dir.join("truncated-data.wav"), &mono[..mono.len() - 7]).unwrap();
    let mut eight_bit = mono.clone();
    eight_bit[34] = 8;
    std::fs::write(wav_dir.join("eight-bit.wav"), eight_bit).unwrap();

    let ogg_dir = corpus::dir("ogg_opus_read");
    std::fs::create_dir_all(&ogg_dir).unwrap();
    let config = OpusConfig {
        bitrate_bps: Some(6000),
        ..OpusConfig::default()
    };
    let mut encoder = OpusEncoder::new(8000, &config).unwrap();
    let pcm = tone(160 * 4);
    let mut buf = [0u8; 400];
    let packets: Vec<Vec<u8>> = pcm
        .chunks_exact(160)
        .map(|frame| {
            let n = encoder.encode(frame, &mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect();
    let head = OpusHead::new(1, 312, 8000);
    let stream = ogg_opus::to_bytes(&head, &packets, 480 * 6, 0x5eed).unwrap();
    std::fs::write(ogg_dir.join("valid-tone-80ms.opus"), &stream).unwrap();
    std::fs::write(
        ogg_dir.join("valid-headers-only.opus"),
        ogg_opus::to_bytes(&head, &[], 0, 0x5eed).unwrap(),
    )
    .unwrap();
    let mut corrupt = stream.clone();
    let n = corrupt.len();
    corrupt[n - 5] ^= 0xFF;
    std::fs::write(ogg_dir.join("crc-mismatch.opus"), corrupt).unwrap();
    std::fs::write(
        ogg_dir.join("truncated-page.opus"),
        &stream[..stream.len() - 9],
    )
    .unwrap();
}

/// The `codec_decode` target's seeds: the first byte picks a built format, the rest is one
/// payload; decoding never panics and never reports more samples than `samples_in` does.
#[test]
fn codec_decode_corpus_replays() {
    use tandem_codecs::{Format, registry};
    let formats: Vec<Format> = registry::built()
        .flat_map(|d| {
            d.sample_rates.iter().map(move |&rate| Format {
                codec: d.id,
                sample_rate: rate,
            })
        })
        .collect();
    for (name, bytes) in seeds("codec_decode") {
        let Some((&selector, payload)) = bytes.split_first() else {
            continue;
        };
        let format = formats[selector as usize % formats.len()];
        let mut decoder = registry::new_decoder(format).unwrap();
        let mut pcm = vec![0i16; format.samples_in_ms(120)];
        if let Ok(n) = decoder.decode(payload, &mut pcm) {
            assert_eq!(Ok(n), decoder.samples_in(payload), "{name}");
        }
        decoder.recover_from_next(payload, &mut pcm[..format.samples_in_ms(20)]);
        decoder.conceal(&mut pcm[..format.samples_in_ms(20)]);
    }
}
