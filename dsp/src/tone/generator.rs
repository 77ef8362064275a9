//! `ToneGenerator`: one- or two-frequency tones with an on/off cadence, for call-progress tones
//! (tables in [`super::tables`]) and test tones, generated frame by frame.
//!
//! A [`ToneSpec`] is data: frequencies, level per frequency (dBm0, convention in [`crate::tone`])
//! and a [`Cadence`]. The generator repeats the cadence forever; each burst starts at phase 0
//! (sine) and is phase-continuous inside the burst, so bursts begin and end at a zero crossing of
//! each component. Real-time: `new` validates; `generate_into` fills the caller's buffer and
//! never allocates.

use super::{Oscillator, ToneError, dbm0_to_peak, render_into};

/// On/off pattern of a tone, repeated forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Always on (dial tones, test tones).
    Continuous,
    /// `(on_ms, off_ms)` pairs, played in order and repeated.
    Repeat(&'static [(u32, u32)]),
}

impl Cadence {
    /// Duration of one period in ms (0 for continuous).
    pub fn period_ms(&self) -> u32 {
        match self {
            Cadence::Continuous => 0,
            Cadence::Repeat(pairs) => pairs.iter().map(|&(on, off)| on + off).sum(),
        }
    }
}

/// A tone: one or two frequencies at a level per frequency, with a cadence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneSpec {
    /// Component frequencies in Hz; `freqs_hz[1] == 0.0` for a single tone.
    pub freqs_hz: [f32; 2],
    /// Level of each component, dBm0.
    pub level_dbm0: f32,
    /// On/off pattern.
    pub cadence: Cadence,
}

impl ToneSpec {
    /// The 1 kHz test tone at `level_dbm0`, continuous. (ITU-T O.6 prefers 1020 Hz at −10 dBm0
    /// for measurements through PCM links, to avoid a frequency that divides 8 kHz; build that
    /// with [`ToneSpec::single`] when it matters.)
    pub const fn test_tone_1khz(level_dbm0: f32) -> Self {
        Self::single(1000.0, level_dbm0, Cadence::Continuous)
    }

    /// A single-frequency tone.
    pub const fn single(freq_hz: f32, level_dbm0: f32, cadence: Cadence) -> Self {
        Self {
            freqs_hz: [freq_hz, 0.0],
            level_dbm0,
            cadence,
        }
    }

    /// A dual-frequency tone.
    pub const fn dual(f1_hz: f32, f2_hz: f32, level_dbm0: f32, cadence: Cadence) -> Self {
        Self {
            freqs_hz: [f1_hz, f2_hz],
            level_dbm0,
            cadence,
        }
    }

    /// The component frequencies (one or two).
    pub fn frequencies(&self) -> &[f32] {
        if self.freqs_hz[1] > 0.0 {
            &self.freqs_hz
        } else {
            &self.freqs_hz[..1]
        }
    }

    /// The same tone at another level per component.
    pub const fn with_level(mut self, level_dbm0: f32) -> Self {
        self.level_dbm0 = level_dbm0;
        self
    }
}

/// Generates a [`ToneSpec`] (see the module documentation).
///
/// ```
/// use tandem_dsp::tone::{CallProgressTone, Country, ToneGenerator};
///
/// let spec = Country::Us.tone(CallProgressTone::Busy);
/// let mut generator = ToneGenerator::new(8000, spec).unwrap();
/// let mut frame = [0i16; 160];
/// generator.generate_into(&mut frame);
/// assert!(frame.iter().any(|&s| s != 0));
/// ```
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    spec: ToneSpec,
    rate_hz: u32,
    osc: [Oscillator; 2],
    components: usize,
    /// Index of the current (on, off) pair.
    step: usize,
    /// In the on part of the pair.
    on: bool,
    /// Samples left in the current part.
    remaining: usize,
}

impl ToneGenerator {
    /// Builds a generator for `spec` at `sample_rate_hz` (8000 or 16000).
    ///
    /// # Errors
    ///
    /// [`ToneError::UnsupportedSampleRate`]; [`ToneError::InvalidConfig`] when a frequency is
    /// not below half the sample rate, the level is outside −60 … +3 dBm0 or the components
    /// would clip together, or a cadence is empty or has a zero-length period.
    pub fn new(sample_rate_hz: u32, spec: ToneSpec) -> Result<Self, ToneError> {
        if sample_rate_hz != 8000 && sample_rate_hz != 16000 {
            return Err(ToneError::UnsupportedSampleRate {
                rate_hz: sample_rate_hz,
            });
        }
        let nyquist = sample_rate_hz as f32 / 2.0;
        let freqs = spec.frequencies();
        if freqs.iter().any(|&f| !(f > 0.0 && f < nyquist)) {
            return Err(ToneError::InvalidConfig { field: "freqs_hz" });
        }
        if !(-60.0..=3.0).contains(&spec.level_dbm0) {
            return Err(ToneError::InvalidConfig {
                field: "level_dbm0",
            });
        }
        let peak = dbm0_to_peak(f64::from(spec.level_dbm0));
        if peak * freqs.len() as f64 > 32_767.0 {
            return Err(ToneError::InvalidConfig {
                field: "level_dbm0",
            });
        }
        if let Cadence::Repeat(pairs) = spec.cadence {
            if pairs.is_empty() || spec.cadence.period_ms() == 0 {
                return Err(ToneError::InvalidConfig { field: "cadence" });
            }
        }
        let osc = [
            Oscillator::new(f64::from(spec.freqs_hz[0]), sample_rate_hz, peak),
            Oscillator::new(f64::from(spec.freqs_hz[1]), sample_rate_hz, peak),
        ];
        let mut generator = Self {
            spec,
            rate_hz: sample_rate_hz,
            osc,
            components: freqs.len(),
            step: 0,
            on: true,
            remaining: 0,
        };
        generator.remaining = generator.part_samples(0, true);
        Ok(generator)
    }

    /// The tone being generated.
    pub fn spec(&self) -> &ToneSpec {
        &self.spec
    }

    /// Restarts at the beginning of the cadence.
    pub fn reset(&mut self) {
        self.step = 0;
        self.on = true;
        self.remaining = self.part_samples(0, true);
        self.osc.iter_mut().for_each(Oscillator::reset);
    }

    fn part_samples(&self, step: usize, on: bool) -> usize {
        match self.spec.cadence {
            Cadence::Continuous => usize::MAX,
            Cadence::Repeat(pairs) => {
                let (a, b) = pairs[step];
                (if on { a } else { b }) as usize * self.rate_hz as usize / 1000
            }
        }
    }

    /// Fills `out` with the next samples of the tone. Never allocates.
    pub fn generate_into(&mut self, out: &mut [i16]) {
        let mut n = 0;
        while n < out.len() {
            if self.remaining == 0 {
                if let Cadence::Repeat(pairs) = self.spec.cadence {
                    if self.on {
                        self.on = false;
                    } else {
                        self.on = true;
                        self.step = (self.step + 1) % pairs.len();
                        self.osc.iter_mut().for_each(Oscillator::reset);
                    }
                }
                self.remaining = self.part_samples(self.step, self.on);
                continue;
            }
            let k = self.remaining.min(out.len() - n);
            let part = &mut out[n..n + k];
            if self.on {
                render_into(part, &mut self.osc[..self.components]);
            } else {
                part.fill(0);
            }
            n += k;
            if self.remaining != usize::MAX {
                self.remaining -= k;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::mean_square_to_dbm0;

    #[test]
    fn test_tone_has_its_level() {
        let mut g = ToneGenerator::new(8000, ToneSpec::test_tone_1khz(-10.0)).unwrap();
        let mut buf = vec![0i16; 8000];
        g.generate_into(&mut buf);
        let ms = buf.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / buf.len() as f64;
        assert!((mean_square_to_dbm0(ms) + 10.0).abs() < 0.02);
    }

    #[test]
    fn cadence_repeats_on_and_off_parts() {
        const CAD: &[(u32, u32)] = &[(100, 50), (20, 30)];
        let spec = ToneSpec::single(440.0, -13.0, Cadence::Repeat(CAD));
        let mut g = ToneGenerator::new(8000, spec).unwrap();
        let mut buf = vec![0i16; 2 * 1600];
        g.generate_into(&mut buf);
        let on = |r: std::ops::Range<usize>| buf[r].iter().any(|&s| s != 0);
        assert!(on(1..800) && !on(800..1200) && on(1201..1360) && !on(1360..1600));
        assert!(on(1601..2400) && !on(2400..2800));
    }

    #[test]
    fn rejects_clipping_and_bad_frequencies() {
        let loud = ToneSpec::dual(350.0, 440.0, 0.0, Cadence::Continuous);
        assert!(ToneGenerator::new(8000, loud).is_err());
        let high = ToneSpec::single(4000.0, -10.0, Cadence::Continuous);
        assert!(ToneGenerator::new(8000, high).is_err());
        assert!(ToneGenerator::new(16000, high).is_ok());
        let empty = ToneSpec::single(400.0, -10.0, Cadence::Repeat(&[]));
        assert!(ToneGenerator::new(8000, empty).is_err());
    }
}
