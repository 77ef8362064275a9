//! Tones: the dBm0 level convention every tone block shares, a phase-continuous oscillator,
//! call-progress tone tables and their generator, and detectors for fax tones (CNG, CED) and for
//! call-progress tones.
//!
//! # Level convention: dBm0 in 16-bit linear PCM
//!
//! ITU-T G.711 §5 ("Relationship between the encoding laws and the audio level") defines 0 dBm0
//! as the 1 kHz sine produced by decoding the *digital milliwatt*, the periodic 8-byte sequence of
//! its Table 5 (A-law) and Table 6 (µ-law), and states the resulting *theoretical load capacity*
//! `T_max`: a sine that just reaches full scale is **+3.14 dBm0 for A-law** and **+3.17 dBm0 for
//! µ-law**.
//!
//! Tandem uses the A-law figure for 16-bit linear samples (full scale 32 768, as G.711's 13-bit
//! A-law range scaled by 8), exactly as spandsp does (`DBM0_MAX_SINE_POWER = 3.14` in
//! `spandsp/telephony.h`):
//!
//! * 0 dBm0 = a sine of peak [`DBM0_PEAK`] = 32 768 · 10^(−3.14/20) ≈ **22 827**, RMS ≈ 16 141;
//! * a level `L` dBm0 has mean square `DBM0_PEAK² / 2 · 10^(L/10)` ([`dbm0_to_mean_square`]).
//!
//! The µ-law figure would put 0 dBm0 at 8 159 · 4 · 10^(−3.17/20) ≈ 22 656, 0.07 dB lower; the
//! µ-law digital milliwatt (0x1E 0x0B 0x0B 0x1E 0x9E 0x8B 0x8B 0x9E) decodes to ±8 828/±20 860,
//! whose RMS is −0.07 dB on our scale, and a unit test pins that. A figure sometimes quoted,
//! "peak 5 215", is 32 767/2π and matches neither law: it is not used here.
//!
//! # Real-time
//!
//! Generators and detectors follow the crate's shape: `new` validates and allocates; the
//! per-frame calls (`generate_into`, `process`) only touch caller buffers and preallocated state.

pub mod call_progress;
pub mod fax;
pub mod generator;
pub mod tables;

mod blocks;
mod error;

pub use call_progress::{CallProgressConfig, CallProgressDetector, CallProgressEvent};
pub use error::ToneError;
pub use fax::{FaxTone, FaxToneDetector, FaxToneEvent};
pub use generator::{Cadence, ToneGenerator, ToneSpec};
pub use tables::{CallProgressTone, Country};

/// G.711 §5: the A-law theoretical load capacity `T_max`, the level of a full-scale sine, in
/// dBm0 (µ-law: +3.17).
#[allow(clippy::approx_constant)] // 3.14 dB is G.711's figure, not π.
pub const A_LAW_TMAX_DBM0: f64 = 3.14;

/// Peak amplitude, in 16-bit PCM units, of a sine at 0 dBm0 (A-law `T_max` = +3.14 dBm0 at full
/// scale 32 768; see the module documentation).
pub const DBM0_PEAK: f64 = 22_827.057_614_381_67;

/// Mean square (power), in 16-bit PCM units squared, of a sine at 0 dBm0.
pub const DBM0_MEAN_SQUARE: f64 = DBM0_PEAK * DBM0_PEAK / 2.0;

/// Peak amplitude of a sine at `dbm0`.
pub fn dbm0_to_peak(dbm0: f64) -> f64 {
    DBM0_PEAK * 10f64.powf(dbm0 / 20.0)
}

/// Mean square of a sine at `dbm0`.
pub fn dbm0_to_mean_square(dbm0: f64) -> f64 {
    DBM0_MEAN_SQUARE * 10f64.powf(dbm0 / 10.0)
}

/// Level in dBm0 of a signal whose mean square is `mean_square` (−∞ for silence).
pub fn mean_square_to_dbm0(mean_square: f64) -> f64 {
    10.0 * (mean_square / DBM0_MEAN_SQUARE).log10()
}

/// A phase-continuous sine oscillator: a unit phasor rotated once per sample, renormalised
/// periodically so its amplitude does not drift. Costs four multiplications per sample instead
/// of a `sin` call; [`Oscillator::next4`] produces four samples from one phasor with
/// independent multiplications, which a multiply chain per sample would otherwise serialise.
#[derive(Debug, Clone, Copy)]
pub struct Oscillator {
    re: f64,
    im: f64,
    /// `e^{jkω}` for k = 1 … 4, as (cos, sin).
    steps: [(f64, f64); 4],
    peak: f64,
    count: u32,
}

impl Oscillator {
    /// An oscillator at `freq_hz` for `sample_rate_hz`, with peak amplitude `peak`, starting at
    /// phase 0 (the first sample is 0, a sine).
    pub fn new(freq_hz: f64, sample_rate_hz: u32, peak: f64) -> Self {
        let w = 2.0 * std::f64::consts::PI * freq_hz / f64::from(sample_rate_hz);
        Self {
            re: 1.0,
            im: 0.0,
            steps: std::array::from_fn(|k| {
                let a = w * (k + 1) as f64;
                (a.cos(), a.sin())
            }),
            peak,
            count: 0,
        }
    }

    /// The next sample (not rounded).
    #[inline]
    pub fn next_sample(&mut self) -> f64 {
        let v = self.im * self.peak;
        self.advance(0, 1);
        v
    }

    /// The next four samples (not rounded).
    #[inline]
    pub fn next4(&mut self) -> [f64; 4] {
        let (re, im) = (self.re, self.im);
        let mut out = [im * self.peak; 4];
        for (o, &(c, s)) in out[1..].iter_mut().zip(&self.steps) {
            *o = (re * s + im * c) * self.peak;
        }
        self.advance(3, 4);
        out
    }

    /// Rotates the phasor by `steps[index]`, which is `n` samples.
    #[inline]
    fn advance(&mut self, index: usize, n: u32) {
        let (c, s) = self.steps[index];
        let re = self.re * c - self.im * s;
        let im = self.re * s + self.im * c;
        self.re = re;
        self.im = im;
        self.count += n;
        if self.count >= 256 {
            self.count = 0;
            // One Newton step towards |z| = 1; the drift over 256 steps is ~1e-14.
            let g = 1.5 - 0.5 * (re * re + im * im);
            self.re *= g;
            self.im *= g;
        }
    }

    /// Restarts at phase 0.
    pub fn reset(&mut self) {
        self.re = 1.0;
        self.im = 0.0;
        self.count = 0;
    }
}

/// Sums `oscillators` into `out`, rounded and saturated to 16 bits, four samples at a time.
#[inline]
pub(crate) fn render_into(out: &mut [i16], oscillators: &mut [Oscillator]) {
    let mut chunks = out.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let mut acc = [0.0f64; 4];
        for osc in oscillators.iter_mut() {
            let v = osc.next4();
            for k in 0..4 {
                acc[k] += v[k];
            }
        }
        for (o, a) in chunk.iter_mut().zip(acc) {
            *o = to_i16(a);
        }
    }
    for o in chunks.into_remainder() {
        *o = to_i16(oscillators.iter_mut().map(Oscillator::next_sample).sum());
    }
}

/// Rounds (half away from zero) and saturates a sample to 16 bits.
#[inline]
pub(crate) fn to_i16(v: f64) -> i16 {
    // `f64::round` is a libm call on baseline x86-64; adding ±0.5 and truncating is the same
    // rounding, and `as` saturates on overflow and maps NaN to 0.
    (v + 0.5f64.copysign(v)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulaw_decode(code: u8) -> i32 {
        let c = !code;
        let exponent = i32::from((c >> 4) & 7);
        let mantissa = i32::from(c & 0x0f);
        let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
        if c & 0x80 != 0 { -magnitude } else { magnitude }
    }

    /// G.711 Table 5: the µ-law digital milliwatt is a 0 dBm0 sine; on our scale it measures
    /// within 0.1 dB of 0 dBm0 (the A-law/µ-law `T_max` difference is 0.03 dB).
    #[test]
    fn ulaw_digital_milliwatt_is_zero_dbm0() {
        let dmw = [0x1e, 0x0b, 0x0b, 0x1e, 0x9e, 0x8b, 0x8b, 0x9e];
        let ms: f64 = dmw
            .iter()
            .map(|&c| f64::from(ulaw_decode(c)).powi(2))
            .sum::<f64>()
            / 8.0;
        let level = mean_square_to_dbm0(ms);
        assert!(level.abs() < 0.1, "digital milliwatt measured {level} dBm0");
    }

    #[test]
    fn dbm0_peak_matches_a_law_tmax() {
        assert!((DBM0_PEAK - 32_768.0 * 10f64.powf(-A_LAW_TMAX_DBM0 / 20.0)).abs() < 1e-6);
        assert!((dbm0_to_peak(A_LAW_TMAX_DBM0) - 32_768.0).abs() < 1e-6);
        assert!(mean_square_to_dbm0(dbm0_to_mean_square(-26.0)) + 26.0 < 1e-9);
    }

    #[test]
    fn next4_continues_the_same_sine() {
        let mut a = Oscillator::new(697.0, 8000, 1000.0);
        let mut b = a;
        for _ in 0..1000 {
            let four = a.next4();
            for v in four {
                assert!((v - b.next_sample()).abs() < 1e-9);
            }
            // Interleave single steps too.
            assert!((a.next_sample() - b.next_sample()).abs() < 1e-9);
        }
    }

    #[test]
    fn oscillator_matches_sin_over_a_long_run() {
        let mut osc = Oscillator::new(1000.0, 8000, 1.0);
        for n in 0..100_000 {
            let want = (2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / 8000.0).sin();
            let got = osc.next_sample();
            assert!((got - want).abs() < 1e-9, "sample {n}: {got} vs {want}");
        }
    }
}
