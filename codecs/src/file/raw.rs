//! Headerless files: `.ul` / `.al` (G.711 bytes as sox writes them), `.g722` (G.722 bytes at
//! 64 kbit/s, 16 kHz audio) and `.raw` / `.sln16` (signed 16-bit PCM in host byte order).
//!
//! None of them says its sample rate: G.711 is 8 kHz and G.722 16 kHz by definition
//! (ITU-T G.711, G.722); raw PCM runs at whatever rate the user gives. Readers cut the audio
//! into 20 ms payloads (the last may be shorter), which is what RTP would carry
//! (RFC 3551 §4.5: 20 ms is the default packet time); 16-bit PCM becomes L16 in network byte
//! order (RFC 3551 §4.5.11).

use super::{AudioInput, FileError, FileFormat};
use crate::Format;

/// Sample rates accepted for PCM files, in Hz.
const RATES: std::ops::RangeInclusive<u32> = 1000..=384_000;

/// Checks that a PCM file's rate is one Tandem converts (1 kHz to 384 kHz).
///
/// # Errors
/// [`FileError::UnsupportedSampleRate`] otherwise.
pub fn check_rate(rate: u32) -> Result<(), FileError> {
    if RATES.contains(&rate) {
        Ok(())
    } else {
        Err(FileError::UnsupportedSampleRate { rate })
    }
}

/// Parses a raw file of host-order 16-bit samples.
///
/// # Errors
/// [`FileError::RawPartialSample`] if the length is odd.
pub fn parse_l16_host(bytes: &[u8]) -> Result<Vec<i16>, FileError> {
    if bytes.len() % 2 != 0 {
        return Err(FileError::RawPartialSample {
            bytes: bytes.len() as u64,
        });
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|b| i16::from_ne_bytes([b[0], b[1]]))
        .collect())
}

/// The bytes of a raw host-order 16-bit file holding `samples`.
pub fn l16_host_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_ne_bytes()).collect()
}

/// Mono PCM at `sample_rate` as 20 ms L16 payloads.
pub(crate) fn pcm_input(
    file_format: FileFormat,
    sample_rate: u32,
    channels: u16,
    samples: &[i16],
) -> AudioInput {
    let format = Format::l16(sample_rate);
    let per_payload = format.samples_in_ms(20).max(1);
    let payloads = samples
        .chunks(per_payload)
        .map(|chunk| chunk.iter().flat_map(|s| s.to_be_bytes()).collect())
        .collect();
    AudioInput {
        file_format,
        format,
        payloads,
        timing_rate: sample_rate,
        pre_skip: 0,
        length: samples.len() as u64,
        source_rate: Some(sample_rate),
        channels,
    }
}

/// Codec bytes (`.ul`, `.al`, `.g722`) as 20 ms payloads.
pub(crate) fn byte_codec_input(file_format: FileFormat, bytes: &[u8]) -> AudioInput {
    let format = Format::default_for(file_format.codec());
    // G.711: one byte per 8 kHz sample. G.722: one byte per two 16 kHz samples.
    let samples_per_byte = if file_format == FileFormat::G722 {
        2
    } else {
        1
    };
    let per_payload = format.samples_in_ms(20) / samples_per_byte;
    AudioInput {
        file_format,
        format,
        payloads: bytes.chunks(per_payload).map(<[u8]>::to_vec).collect(),
        timing_rate: format.sample_rate,
        pre_skip: 0,
        length: (bytes.len() * samples_per_byte) as u64,
        source_rate: Some(format.sample_rate),
        channels: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CodecId;

    #[test]
    fn raw_pcm_is_host_order_and_becomes_20_ms_l16_payloads() {
        let samples: Vec<i16> = (0..170).map(|i| i * 100 - 8000).collect();
        let bytes = l16_host_bytes(&samples);
        assert_eq!(bytes[0..2], (-8000i16).to_ne_bytes());
        let back = parse_l16_host(&bytes).unwrap();
        assert_eq!(back, samples);
        let input = pcm_input(FileFormat::Raw, 8000, 1, &back);
        assert_eq!(input.format, Format::l16(8000));
        assert_eq!(input.payloads.len(), 2);
        assert_eq!(input.payloads[0].len(), 320);
        assert_eq!(input.payloads[1].len(), 20);
        assert_eq!(input.payloads[0][0..2], (-8000i16).to_be_bytes());
        assert_eq!(input.length, 170);
    }

    #[test]
    fn odd_raw_files_are_rejected() {
        assert!(matches!(
            parse_l16_host(&[1, 2, 3]),
            Err(FileError::RawPartialSample { bytes: 3 })
        ));
    }

    #[test]
    fn g722_payloads_are_160_bytes_of_16_khz_audio() {
        let input = byte_codec_input(FileFormat::G722, &[0u8; 400]);
        assert_eq!(input.format, Format::G722);
        assert_eq!(
            input.payloads.iter().map(Vec::len).collect::<Vec<_>>(),
            [160, 160, 80]
        );
        assert_eq!(input.length, 800);
        let ulaw = byte_codec_input(FileFormat::Ulaw, &[0xFF; 161]);
        assert_eq!(ulaw.format.codec, CodecId::Pcmu);
        assert_eq!(ulaw.payloads.len(), 2);
        assert_eq!(ulaw.length, 161);
    }

    #[test]
    fn rates_outside_1_to_384_khz_are_refused() {
        assert!(check_rate(8000).is_ok());
        assert!(check_rate(44100).is_ok());
        assert!(check_rate(999).is_err());
        assert!(check_rate(400_000).is_err());
    }
}
