//! Property tests of the WAV container: `parse(to_bytes(x)) == x` for any mono audio, and the
//! parser never panics on arbitrary bytes or on mutations of valid files (STYLE.md, tests).

use proptest::prelude::*;
use tandem_codecs::file::FileError;
use tandem_codecs::file::wav::{self, WavInfo};

/// A WAV file with `channels` interleaved channels and an extra chunk before `data`.
fn wav_with(channels: u16, rate: u32, extra: &[u8], frames: &[i16]) -> Vec<u8> {
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    fmt.extend_from_slice(&(2 * channels).to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes());
    let data: Vec<u8> = frames.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut out = b"RIFF\0\0\0\0WAVE".to_vec();
    for (id, body) in [(b"fmt ", &fmt[..]), (b"junk", extra), (b"data", &data[..])] {
        out.extend_from_slice(id);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
    }
    let riff = (out.len() - 8) as u32;
    out[4..8].copy_from_slice(&riff.to_le_bytes());
    out
}

proptest! {
    #[test]
    fn parse_inverts_to_bytes(rate in 1000u32..=384_000, samples in prop::collection::vec(any::<i16>(), 0..2000)) {
        let bytes = wav::to_bytes(rate, &samples);
        let (info, back) = wav::parse(&bytes).unwrap();
        prop_assert_eq!(info, WavInfo { sample_rate: rate, channels: 1 });
        prop_assert_eq!(back, samples);
    }

    #[test]
    fn multichannel_files_downmix_to_the_rounded_mean(
        channels in 1u16..=8,
        frames in prop::collection::vec(any::<i16>(), 0..64),
        extra in prop::collection::vec(any::<u8>(), 0..9),
    ) {
        let interleaved: Vec<i16> = frames.iter().flat_map(|&s| {
            (0..channels).map(move |c| s.wrapping_add(c as i16 * 3))
        }).collect();
        let (info, mono) = wav::parse(&wav_with(channels, 8000, &extra, &interleaved)).unwrap();
        prop_assert_eq!(info.channels, channels);
        prop_assert_eq!(mono.len(), frames.len());
        for (frame, &m) in interleaved.chunks(usize::from(channels)).zip(&mono) {
            let mean = frame.iter().map(|&s| f64::from(s)).sum::<f64>() / f64::from(channels);
            prop_assert!((f64::from(m) - mean).abs() <= 0.5, "{frame:?} -> {m}");
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = wav::parse(&bytes);
        let mut riff = b"RIFF\0\0\0\0WAVE".to_vec();
        riff.extend_from_slice(&bytes);
        let _ = wav::parse(&riff);
    }

    #[test]
    fn parse_never_panics_on_mutated_files(
        samples in prop::collection::vec(any::<i16>(), 0..100),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = wav_with(2, 16000, b"abc", &samples);
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = wav::parse(&bytes);
        let n = cut.index(bytes.len() + 1);
        let _ = wav::parse(&bytes[..n]);
    }

    /// Any cut inside the data chunk is reported with the declared and the present sizes.
    #[test]
    fn truncation_reports_expected_and_found(samples in prop::collection::vec(any::<i16>(), 1..200), cut in any::<prop::sample::Index>()) {
        let bytes = wav::to_bytes(8000, &samples);
        let keep = 44 + cut.index(samples.len() * 2);
        match wav::parse(&bytes[..keep]) {
            Err(FileError::WavTruncated { chunk, expected, found, .. }) => {
                prop_assert_eq!(chunk, "data");
                prop_assert_eq!(expected, samples.len() as u64 * 2);
                prop_assert_eq!(found, keep as u64 - 44);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
