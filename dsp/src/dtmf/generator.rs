//! `DtmfGenerator`: DTMF digits as 16-bit PCM at 8 or 16 kHz, with configurable on/off times,
//! level and twist, generated frame by frame from a fixed-capacity digit queue.
//!
//! Each digit is `on_ms` of the sum of its two tones (ITU-T Q.23 §2 frequencies, exact) followed
//! by `off_ms` of silence. Each tone starts at phase 0 (a sine) and is phase-continuous for the
//! whole digit. `level_dbm0` is the level of the low-group tone; the high-group tone is
//! `level_dbm0 + twist_db` (a positive twist makes the high group louder, as spandsp's
//! `dtmf_tx_set_level(level, twist)` does). Levels follow the convention in [`crate::tone`]
//! (0 dBm0 = sine peak 22 827). Q.23 §3 recommends a high group about 2 dB above the low group
//! at the sender; the default here is no twist, at −10 dBm0 per tone, with 100 ms on and off.
//!
//! Real-time: `new` is the only allocating call besides [`DtmfGenerator::render`], which is
//! named and documented as allocating; `push_digits` and `generate_into` use the preallocated
//! queue and the caller's buffer.

use super::{Digit, DtmfError};
use crate::tone::{Oscillator, dbm0_to_peak, render_into};

/// Configuration of a [`DtmfGenerator`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfGeneratorConfig {
    /// Output sample rate: 8000 or 16000.
    pub sample_rate_hz: u32,
    /// Level of the low-group tone, dBm0 (−60 … 0; the sum of both tones must not clip).
    pub level_dbm0: f64,
    /// High-group level minus low-group level, dB (−20 … 20).
    pub twist_db: f64,
    /// Tone duration per digit, ms (1 … 10 000).
    pub on_ms: u32,
    /// Silence after each digit, ms (0 … 10 000).
    pub off_ms: u32,
}

impl Default for DtmfGeneratorConfig {
    fn default() -> Self {
        Self {
            sample_rate_hz: 8000,
            level_dbm0: -10.0,
            twist_db: 0.0,
            on_ms: 100,
            off_ms: 100,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Idle,
    On {
        remaining: usize,
        low: Oscillator,
        high: Oscillator,
    },
    Off {
        remaining: usize,
    },
}

/// The DTMF generator (see the module documentation).
///
/// ```
/// use tandem_dsp::dtmf::{DtmfGenerator, DtmfGeneratorConfig};
///
/// let mut generator = DtmfGenerator::new(DtmfGeneratorConfig::default()).unwrap();
/// generator.push_digits("123").unwrap();
/// let mut frame = [0i16; 160];
/// let mut total = 0;
/// loop {
///     let n = generator.generate_into(&mut frame);
///     total += n;
///     if n < frame.len() {
///         break;
///     }
/// }
/// assert_eq!(total, 3 * 1600);
/// ```
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    config: DtmfGeneratorConfig,
    low_peak: f64,
    high_peak: f64,
    on_samples: usize,
    off_samples: usize,
    queue: [Digit; Self::QUEUE_CAPACITY],
    head: usize,
    len: usize,
    state: State,
}

impl DtmfGenerator {
    /// Digits the queue holds.
    pub const QUEUE_CAPACITY: usize = 64;

    /// Builds a generator.
    ///
    /// # Errors
    ///
    /// [`DtmfError::UnsupportedSampleRate`], or [`DtmfError::InvalidConfig`] for an out-of-range
    /// field or a level and twist whose sum would clip.
    pub fn new(config: DtmfGeneratorConfig) -> Result<Self, DtmfError> {
        if config.sample_rate_hz != 8000 && config.sample_rate_hz != 16000 {
            return Err(DtmfError::UnsupportedSampleRate {
                rate_hz: config.sample_rate_hz,
            });
        }
        let bad = |field| Err(DtmfError::InvalidConfig { field });
        if !(-60.0..=0.0).contains(&config.level_dbm0) {
            return bad("level_dbm0");
        }
        if !(-20.0..=20.0).contains(&config.twist_db) {
            return bad("twist_db");
        }
        if !(1..=10_000).contains(&config.on_ms) {
            return bad("on_ms");
        }
        if config.off_ms > 10_000 {
            return bad("off_ms");
        }
        let low_peak = dbm0_to_peak(config.level_dbm0);
        let high_peak = dbm0_to_peak(config.level_dbm0 + config.twist_db);
        if low_peak + high_peak > 32_767.0 {
            return bad("level_dbm0");
        }
        let per_ms = config.sample_rate_hz as usize / 1000;
        Ok(Self {
            config,
            low_peak,
            high_peak,
            on_samples: config.on_ms as usize * per_ms,
            off_samples: config.off_ms as usize * per_ms,
            queue: [Digit::ALL[0]; Self::QUEUE_CAPACITY],
            head: 0,
            len: 0,
            state: State::Idle,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DtmfGeneratorConfig {
        &self.config
    }

    /// Samples one digit takes (tone plus pause).
    pub fn samples_per_digit(&self) -> usize {
        self.on_samples + self.off_samples
    }

    /// Queues `digits` (`0-9 * # A-D`, case-insensitive), all or none.
    ///
    /// # Errors
    ///
    /// [`DtmfError::InvalidDigit`] for a character outside the set, [`DtmfError::QueueFull`]
    /// when they do not all fit; nothing is queued then.
    pub fn push_digits(&mut self, digits: &str) -> Result<(), DtmfError> {
        let mut count = 0;
        for b in digits.bytes() {
            if Digit::from_char(char::from(b)).is_none() || !b.is_ascii() {
                return Err(DtmfError::InvalidDigit { byte: b });
            }
            count += 1;
        }
        if self.len + count > Self::QUEUE_CAPACITY {
            return Err(DtmfError::QueueFull {
                queued: self.len,
                capacity: Self::QUEUE_CAPACITY,
            });
        }
        for c in digits.chars() {
            if let Some(d) = Digit::from_char(c) {
                self.queue[(self.head + self.len) % Self::QUEUE_CAPACITY] = d;
                self.len += 1;
            }
        }
        Ok(())
    }

    /// True when no digit is queued or playing.
    pub fn is_idle(&self) -> bool {
        self.len == 0 && matches!(self.state, State::Idle)
    }

    /// Writes the next samples into `out` and returns how many it wrote: `out.len()` while
    /// digits remain, fewer (possibly 0) once the last digit's pause is complete. Never
    /// allocates.
    pub fn generate_into(&mut self, out: &mut [i16]) -> usize {
        let mut n = 0;
        while n < out.len() {
            match &mut self.state {
                State::Idle => {
                    if self.len == 0 {
                        break;
                    }
                    let d = self.queue[self.head];
                    self.head = (self.head + 1) % Self::QUEUE_CAPACITY;
                    self.len -= 1;
                    let (fl, fh) = d.frequencies_hz();
                    let rate = self.config.sample_rate_hz;
                    self.state = State::On {
                        remaining: self.on_samples,
                        low: Oscillator::new(f64::from(fl), rate, self.low_peak),
                        high: Oscillator::new(f64::from(fh), rate, self.high_peak),
                    };
                }
                State::On {
                    remaining,
                    low,
                    high,
                } => {
                    let k = (*remaining).min(out.len() - n);
                    let mut pair = [*low, *high];
                    render_into(&mut out[n..n + k], &mut pair);
                    [*low, *high] = pair;
                    n += k;
                    *remaining -= k;
                    if *remaining == 0 {
                        self.state = State::Off {
                            remaining: self.off_samples,
                        };
                    }
                }
                State::Off { remaining } => {
                    let k = (*remaining).min(out.len() - n);
                    out[n..n + k].fill(0);
                    n += k;
                    *remaining -= k;
                    if *remaining == 0 {
                        self.state = State::Idle;
                    }
                }
            }
        }
        n
    }

    /// Renders `digits` into a new buffer: a convenience for tests and tools. **Allocates.**
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new) and [`push_digits`](Self::push_digits) (any number of digits is
    /// accepted here).
    pub fn render(config: DtmfGeneratorConfig, digits: &str) -> Result<Vec<i16>, DtmfError> {
        let mut generator = Self::new(config)?;
        let mut out = Vec::with_capacity(digits.len() * generator.samples_per_digit());
        let mut chars = digits.chars().peekable();
        let mut buf = [0i16; 1024];
        let mut piece = String::with_capacity(Self::QUEUE_CAPACITY);
        loop {
            if generator.is_idle() {
                piece.clear();
                while piece.len() < Self::QUEUE_CAPACITY {
                    match chars.next() {
                        Some(c) => piece.push(c),
                        None => break,
                    }
                }
                if piece.is_empty() {
                    break;
                }
                generator.push_digits(&piece)?;
            }
            let n = generator.generate_into(&mut buf);
            out.extend_from_slice(&buf[..n]);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_on_and_off_times_exactly() {
        let config = DtmfGeneratorConfig {
            on_ms: 40,
            off_ms: 60,
            ..DtmfGeneratorConfig::default()
        };
        let pcm = DtmfGenerator::render(config, "1#").unwrap();
        assert_eq!(pcm.len(), 2 * 800);
        assert!(pcm[1..320].iter().any(|&s| s != 0));
        assert!(pcm[320..800].iter().all(|&s| s == 0));
        assert!(pcm[1120..1600].iter().all(|&s| s == 0));
    }

    #[test]
    fn level_and_twist_set_each_tone_peak() {
        let config = DtmfGeneratorConfig {
            level_dbm0: -3.0,
            twist_db: -20.0,
            on_ms: 1000,
            off_ms: 0,
            ..DtmfGeneratorConfig::default()
        };
        let pcm = DtmfGenerator::render(config, "1").unwrap();
        let peak = pcm.iter().map(|&s| i32::from(s).abs()).max().unwrap();
        let want = dbm0_to_peak(-3.0) + dbm0_to_peak(-23.0);
        assert!(
            (f64::from(peak) - want).abs() < 0.01 * want,
            "{peak} vs {want}"
        );
    }

    #[test]
    fn rejects_bad_digits_and_clipping_levels() {
        let mut g = DtmfGenerator::new(DtmfGeneratorConfig::default()).unwrap();
        assert_eq!(
            g.push_digits("12x"),
            Err(DtmfError::InvalidDigit { byte: b'x' })
        );
        assert!(g.is_idle());
        let loud = DtmfGeneratorConfig {
            level_dbm0: 0.0,
            ..DtmfGeneratorConfig::default()
        };
        assert!(DtmfGenerator::new(loud).is_err());
        let many = "1".repeat(DtmfGenerator::QUEUE_CAPACITY + 1);
        assert!(matches!(
            g.push_digits(&many),
            Err(DtmfError::QueueFull { .. })
        ));
        assert_eq!(
            DtmfGenerator::render(DtmfGeneratorConfig::default(), &many)
                .unwrap()
                .len(),
            (DtmfGenerator::QUEUE_CAPACITY + 1) * 1600
        );
    }
}
