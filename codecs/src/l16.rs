//! L16: linear 16-bit PCM in network byte order (RFC 3551 §4.5.11), at 8, 16 or 48 kHz.

use crate::conceal::FadingRepeat;
use crate::{CodecError, CodecId, DecodeError, Decoder, EncodeError, Encoder, Format};

fn check_rate(sample_rate: u32) -> Result<Format, CodecError> {
    let format = Format::l16(sample_rate);
    if format.descriptor().supports_sample_rate(sample_rate) {
        Ok(format)
    } else {
        Err(CodecError::UnsupportedSampleRate {
            codec: CodecId::L16,
            rate: sample_rate,
        })
    }
}

/// Writes samples big-endian.
#[derive(Debug, Clone)]
pub struct L16Encoder {
    format: Format,
}

impl L16Encoder {
    /// An encoder at `sample_rate` (8000, 16000 or 48000 Hz).
    pub fn new(sample_rate: u32) -> Result<Self, CodecError> {
        Ok(Self {
            format: check_rate(sample_rate)?,
        })
    }
}

impl Encoder for L16Encoder {
    fn format(&self) -> Format {
        self.format
    }

    fn encode(&mut self, pcm: &[i16], payload: &mut [u8]) -> Result<usize, EncodeError> {
        let needed = pcm.len() * 2;
        if payload.len() < needed {
            return Err(EncodeError::OutputTooSmall {
                needed,
                available: payload.len(),
            });
        }
        for (bytes, &s) in payload.chunks_exact_mut(2).zip(pcm) {
            bytes.copy_from_slice(&s.to_be_bytes());
        }
        Ok(needed)
    }

    fn reset(&mut self) {}
}

/// Reads big-endian samples; conceals with a fading repeat.
#[derive(Debug, Clone)]
pub struct L16Decoder {
    format: Format,
    conceal: FadingRepeat,
}

impl L16Decoder {
    /// A decoder at `sample_rate` (8000, 16000 or 48000 Hz).
    pub fn new(sample_rate: u32) -> Result<Self, CodecError> {
        Ok(Self {
            format: check_rate(sample_rate)?,
            conceal: FadingRepeat::new(sample_rate),
        })
    }
}

impl Decoder for L16Decoder {
    fn format(&self) -> Format {
        self.format
    }

    fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, DecodeError> {
        let samples = self.samples_in(payload)?;
        if pcm.len() < samples {
            return Err(DecodeError::OutputTooSmall {
                needed: samples,
                available: pcm.len(),
            });
        }
        for (s, bytes) in pcm.iter_mut().zip(payload.chunks_exact(2)) {
            *s = i16::from_be_bytes([bytes[0], bytes[1]]);
        }
        self.conceal.remember(&pcm[..samples]);
        Ok(samples)
    }

    fn conceal(&mut self, pcm: &mut [i16]) -> usize {
        self.conceal.fill(pcm)
    }

    fn samples_in(&self, payload: &[u8]) -> Result<usize, DecodeError> {
        if payload.len() % 2 != 0 {
            return Err(DecodeError::Malformed { len: payload.len() });
        }
        Ok(payload.len() / 2)
    }

    fn reset(&mut self) {
        self.conceal.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_network_byte_order() {
        let mut enc = L16Encoder::new(16000).unwrap();
        let mut dec = L16Decoder::new(16000).unwrap();
        let pcm = [0x0102i16, -2, i16::MIN, i16::MAX];
        let mut payload = [0u8; 8];
        assert_eq!(enc.encode(&pcm, &mut payload), Ok(8));
        assert_eq!(&payload[..4], &[0x01, 0x02, 0xFF, 0xFE]);
        let mut back = [0i16; 4];
        assert_eq!(dec.decode(&payload, &mut back), Ok(4));
        assert_eq!(back, pcm);
    }

    #[test]
    fn rejects_odd_payloads_and_unsupported_rates() {
        let mut dec = L16Decoder::new(8000).unwrap();
        let mut out = [0i16; 4];
        assert_eq!(
            dec.decode(&[1, 2, 3], &mut out),
            Err(DecodeError::Malformed { len: 3 })
        );
        assert!(L16Encoder::new(44100).is_err());
    }
}
