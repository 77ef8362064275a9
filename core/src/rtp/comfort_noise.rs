//! RFC 3389 comfort noise payload: the noise level and the quantized reflection coefficients
//! of a spectral model, sent while a source is silent.
//!
//! # Contract
//!
//! - [`ComfortNoise::parse`] never panics and borrows the coefficients from the payload
//!   (no allocation). A payload of one byte carries the level only (RFC 3389 §3: the model
//!   order may be zero). The unused most significant bit of the level byte is ignored on
//!   receipt (§3.1: "always set to 0" by the sender).
//! - [`ComfortNoise::emit`] writes into the caller's buffer and returns the length;
//!   `parse(emit(x)) == x` for every level 0–127 and every coefficient list (property-tested).
//! - Coefficients dequantize as `k = (q − 127) / 128` (§3.2's uniform 8-bit quantizer over
//!   −1…1, as FFmpeg's `cngdec` applies it); [`quantize_reflection`] is the inverse.

use crate::error::{EmitError, PayloadError};
use crate::rtp::take_mut;

/// The meaning of a comfort noise payload (RFC 3389 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComfortNoise<'a> {
    /// Noise level magnitude in −dBov, 0–127 (§3.1): 0 is a full-scale noise, 127 is −127 dBov.
    pub level: u8,
    /// Quantized reflection coefficients, one byte each; the model order is their count (§3.2).
    pub coefficients: &'a [u8],
}

impl<'a> ComfortNoise<'a> {
    /// Reads a comfort noise payload.
    ///
    /// # Errors
    ///
    /// [`PayloadError::Truncated`] for an empty payload.
    pub fn parse(payload: &'a [u8]) -> Result<ComfortNoise<'a>, PayloadError> {
        match payload {
            [level, coefficients @ ..] => Ok(ComfortNoise {
                level: level & 0x7f,
                coefficients,
            }),
            [] => Err(PayloadError::Truncated { len: 0, needed: 1 }),
        }
    }

    /// The noise level in dBov (0 to −127).
    pub fn level_dbov(&self) -> i16 {
        -i16::from(self.level)
    }

    /// Reflection coefficient `index` dequantized to −1…1, or `None` past the model order.
    pub fn reflection_coefficient(&self, index: usize) -> Option<f32> {
        self.coefficients
            .get(index)
            .map(|&q| dequantize_reflection(q))
    }

    /// Bytes this payload takes.
    pub fn buffer_len(&self) -> usize {
        1 + self.coefficients.len()
    }

    /// Writes the payload into `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// [`EmitError::Range`] if `level > 127`; [`EmitError::BufferTooSmall`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        if self.level > 127 {
            return Err(EmitError::Range(u32::from(self.level)));
        }
        let len = self.buffer_len();
        let out = take_mut(buf, 0, len)?;
        out[0] = self.level;
        out[1..].copy_from_slice(self.coefficients);
        Ok(len)
    }
}

/// The reflection coefficient a quantized byte stands for (§3.2).
pub fn dequantize_reflection(q: u8) -> f32 {
    (f32::from(q) - 127.0) / 128.0
}

/// The byte that carries reflection coefficient `k` (clamped to the quantizer's range).
pub fn quantize_reflection(k: f32) -> u8 {
    (k * 128.0 + 127.0).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3389 §3 layout: level byte (−62 dBov), then M = 3 coefficient bytes.
    const SID: [u8; 4] = [0x3E, 0x7F, 0xFF, 0x00];

    #[test]
    fn parses_level_and_coefficients() {
        let cn = ComfortNoise::parse(&SID).unwrap();
        assert_eq!(cn.level, 62);
        assert_eq!(cn.level_dbov(), -62);
        assert_eq!(cn.coefficients, &[0x7F, 0xFF, 0x00]);
        assert_eq!(cn.reflection_coefficient(0), Some(0.0));
        assert_eq!(cn.reflection_coefficient(1), Some(1.0));
        assert_eq!(cn.reflection_coefficient(2), Some(-127.0 / 128.0));
        assert_eq!(cn.reflection_coefficient(3), None);
        let mut out = [0u8; 8];
        assert_eq!(cn.emit(&mut out), Ok(4));
        assert_eq!(out[..4], SID);
    }

    #[test]
    fn level_only_payload_and_empty_payload() {
        let cn = ComfortNoise::parse(&[0x85]).unwrap();
        assert_eq!((cn.level, cn.coefficients.len()), (5, 0));
        assert_eq!(
            ComfortNoise::parse(&[]),
            Err(PayloadError::Truncated { len: 0, needed: 1 })
        );
        let bad = ComfortNoise {
            level: 128,
            coefficients: &[],
        };
        assert_eq!(bad.emit(&mut [0u8; 4]), Err(EmitError::Range(128)));
        assert_eq!(
            cn.emit(&mut []),
            Err(EmitError::BufferTooSmall {
                needed: 1,
                available: 0
            })
        );
    }

    #[test]
    fn quantizer_round_trips_every_byte() {
        for q in 0..=255u8 {
            assert_eq!(quantize_reflection(dequantize_reflection(q)), q);
        }
        assert_eq!(quantize_reflection(-2.0), 0);
        assert_eq!(quantize_reflection(2.0), 255);
    }
}
