//! Talk detection: decides, frame by frame, whether a participant is talking, and measures how
//! loudly, for conference talker selection and `TalkingStarted` / `TalkingFinished` events.
//!
//! # How it decides
//!
//! Every 10 ms hop the detector takes a 16 ms Hann-windowed real FFT of the latest samples. The
//! window length is `rate / 62.5` samples at every supported rate, so every rate sees the same
//! 62.5 Hz bins and the same nine speech bands between 187.5 Hz and 3812.5 Hz; from 12 kHz up,
//! fricative bands (3812.5–5500 Hz, 5500–8000 Hz) that keep at least 8 bins below Nyquist are
//! added. The level and the decision thus barely depend on the rate, and mains hum below
//! 187.5 Hz is ignored outright. Band powers are averaged over two hops (a 26 ms span): the
//! harmonics of a hum are closer together than a bin and beat from hop to hop, and the average
//! smooths that beating away.
//!
//! - **Adaptive noise floor, per band.** Each band's floor (in dB) follows the band level both
//!   ways on hops that look like noise (statistic below [`TalkConfig::stop_db`]), only creeps up
//!   on hops that look like speech, so talk does not raise its own floor, and falls quickly
//!   when the band drops more than 10 dB below it.
//! - **Stationarity.** While talk is declared, once the band spectrum has stayed within
//!   [`TalkConfig::stationary_db`] of its own recent average for [`TalkConfig::stationary_ms`]
//!   (speech never does: syllables change the spectrum several times a second), the floor
//!   rises quickly. A fan, a hum or a noise source that appears mid-call is thereby absorbed
//!   into the floor; what it costs is one talk spurt of about `stationary_ms + hangover_ms` plus
//!   200 ms at its onset (about 1 s with the defaults).
//! - **Decision.** The hop's statistic is the mean over the bands of the band level's excess
//!   over its floor, each clamped to -10..=30 dB; on stationary noise it hovers around 0 dB.
//!   Talk starts when Page's CUSUM of the statistic, `S = max(0, S + excess - onset_bias_db)`,
//!   reaches [`TalkConfig::onset_evidence_db`], counting only hops at least
//!   [`TalkConfig::min_level_dbov`] loud: a vowel 7 dB or more over the floor starts talk on its
//!   first hop, a fricative 2–3 dB over the floor within about five hops, and noise, whose
//!   statistic stays below the bias in the mean, practically never (its CUSUM peaks near
//!   2.3 dB on white, pink and hum in the tests, against a threshold of 6). Talk ends once the
//!   statistic, smoothed over a few hops, has stayed below `stop_db` for
//!   [`TalkConfig::hangover_ms`]: the hangover bridges the pauses between words.
//! - **Warm-up.** The first 100 ms only learn the floor: the detector assumes a stream does not
//!   open mid-word. Speech that starts within them is found at its next onset.
//!
//! Measured on espeak-ng sentences (`dsp/tests/talk_speech.rs`, 8 and 16 kHz): talk starts
//! 10 ms after the onset in silence, within 50 ms with white or pink noise at 20 dB SNR and
//! within 70 ms at 10 dB SNR (the slow cases open on a fricative); it finishes 330–440 ms after
//! the sentence with the default 400 ms hangover, and never flaps inside a sentence.
//!
//! # Levels
//!
//! [`TalkDetector::level_dbov`] is the speech-band level in dBov (0 dBov is a full-scale square
//! wave; a full-scale sine reads -3 dBov), rising at once and falling by at most
//! [`LEVEL_RELEASE_DB_PER_HOP`] per hop. It is comparable across participants and rates and is
//! what [`crate::mixer::Mixer::submit`] ranks talkers by.
//!
//! # Contract
//!
//! - Input is mono signed 16-bit PCM at the configured rate, in chunks of any length (10, 20,
//!   30 ms frames are typical). Analysis runs on whole 10 ms hops; a partial hop waits for the
//!   next call.
//! - [`TalkDetector::process`] reports at most one event per call. If the state would flip twice
//!   within one call (only possible with frames longer than two hops), the second flip is held
//!   back and reported by the next call.
//! - Event positions count samples from construction (or the last [`TalkDetector::reset`]) and
//!   mark the end of the hop on which the decision was taken.
//!
//! # Real-time
//!
//! [`TalkDetector::new`] allocates the FFT plan and every buffer. `process`, `reset` and the
//! accessors never allocate, lock, log or make system calls; their cost is one real FFT of
//! 128 (8 kHz), 256 (16 kHz) or 768 (48 kHz) points per 10 ms of input, except while the
//! whole window is digital silence (every sample zero, as muted phones and many gateways
//! send): the spectrum of zeros is zeros, so the FFT is skipped. Once a few seconds of such
//! silence have brought every level and floor to rest (a hop leaves them unchanged to the
//! float's last bit), later silent hops only advance the counters. The decisions and levels
//! are exactly those of the full analysis (a test compares them). In a conference most
//! participants are silent at any moment, and this is their common case.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Analysis window in milliseconds: 62.5 Hz bins at every rate.
const WINDOW_MS: usize = 16;
/// Hop length in milliseconds.
pub const HOP_MS: u32 = 10;
/// Band edges in FFT bins of 62.5 Hz: nine bands from 187.5 Hz to 3812.5 Hz, narrower at the
/// bottom where pitch harmonics and the first formant sit, and a fricative band up to 8 kHz
/// that only rates of 12 kHz and more use (clipped two bins below Nyquist).
const BAND_EDGES: [usize; BANDS + 1] = [3, 6, 9, 13, 18, 24, 31, 39, 49, 61, 88, 128];
/// Most bands any rate uses.
const BANDS: usize = 11;
/// Bands below 4 kHz, used at every rate.
const SPEECH_BANDS: usize = 9;
/// Hops that only learn the noise floor after construction or reset.
const WARMUP_HOPS: u32 = 10;
/// Per-hop smoothing of the floor towards the band level on hops that look like noise.
const FLOOR_FOLLOW: f32 = 0.05;
/// How far below its floor a band must fall for the floor to follow it quickly, in dB.
const FLOOR_FALL_DB: f32 = 10.0;
/// Per-hop smoothing of the floor towards a band level far below it.
const FLOOR_FALL: f32 = 0.2;
/// Per-hop smoothing of the floor towards the band level on hops that look like speech.
const FLOOR_CREEP: f32 = 0.002;
/// Per-hop smoothing of the floor during talk once the spectrum has been stationary for
/// `stationary_ms`.
const FLOOR_STATIONARY: f32 = 0.3;
/// Per-hop smoothing of the floor during warm-up.
const FLOOR_WARMUP: f32 = 0.3;
/// Per-hop smoothing of the statistic for the stop test.
const EXCESS_SMOOTHING: f32 = 0.3;
/// Per-hop smoothing of the short-term spectrum average the stationarity test compares against.
const STATIONARY_AVERAGE: f32 = 0.2;
/// Largest shortfall of a band below its floor that counts towards the statistic, in dB.
const EXCESS_LOW_CLAMP_DB: f32 = 10.0;
/// Largest excess of a band over its floor that counts towards the statistic, in dB.
const EXCESS_CLAMP_DB: f32 = 30.0;
/// Largest fall of [`TalkDetector::level_dbov`] per 10 ms hop, in dB.
pub const LEVEL_RELEASE_DB_PER_HOP: f32 = 1.0;
/// The floor of every level and band floor: anything quieter reads as this, in dBov.
pub const LEVEL_FLOOR_DBOV: f32 = -100.0;

/// Sample rates the detector accepts, in Hz.
pub const SUPPORTED_RATES_HZ: [u32; 6] = [8000, 12000, 16000, 24000, 32000, 48000];

/// Configuration of a [`TalkDetector`]. Start from [`TalkConfig::new`] and adjust.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TalkConfig {
    /// Sample rate of the PCM given to [`TalkDetector::process`], one of
    /// [`SUPPORTED_RATES_HZ`].
    pub rate_hz: u32,
    /// The CUSUM's bias, in dB: hops whose statistic is below it count against a start.
    /// Default 1 dB.
    pub onset_bias_db: f32,
    /// The CUSUM's threshold, in dB × hops: talk starts when the accumulated excess over the
    /// bias reaches it. Default 10 dB.
    pub onset_evidence_db: f32,
    /// The smoothed statistic below which a hop counts towards the hangover, in dB. Default
    /// 3 dB.
    pub stop_db: f32,
    /// Time the statistic must stay below `stop_db` before talk finishes, in ms. Default 400 ms.
    pub hangover_ms: u32,
    /// Speech-band level a hop needs, in dBov, to count towards a start: quieter sound is never
    /// talk, whatever the floor. Default -55 dBov.
    pub min_level_dbov: f32,
    /// How close to its recent average the band spectrum must stay, in dB, to count as
    /// stationary. Default 2.5 dB.
    pub stationary_db: f32,
    /// How long the spectrum must stay stationary before the floor rises quickly, in ms.
    /// Default 400 ms.
    pub stationary_ms: u32,
}

impl TalkConfig {
    /// The default configuration at `rate_hz`.
    pub const fn new(rate_hz: u32) -> Self {
        Self {
            rate_hz,
            onset_bias_db: 1.0,
            onset_evidence_db: 6.0,
            stop_db: 3.0,
            hangover_ms: 400,
            min_level_dbov: -55.0,
            stationary_db: 2.5,
            stationary_ms: 400,
        }
    }
}

/// A [`TalkConfig`] the detector cannot run with.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TalkConfigError {
    /// The rate is not one of [`SUPPORTED_RATES_HZ`].
    #[error(
        "talk detection does not run at {rate_hz} Hz (supported: 8000, 12000, 16000, 24000, 32000, 48000)"
    )]
    UnsupportedRate {
        /// The rate asked for, in Hz.
        rate_hz: u32,
    },
    /// A threshold is not a finite number, or the onset bias is negative, or the onset
    /// evidence is not positive.
    #[error("talk threshold {what} = {value} is out of range")]
    Threshold {
        /// The field's name.
        what: &'static str,
        /// The value given.
        value: f32,
    },
    /// A duration is zero or above 10 s.
    #[error("{what} = {ms} ms is out of range (1..=10000)")]
    Duration {
        /// The field's name.
        what: &'static str,
        /// The value given, in ms.
        ms: u32,
    },
}

/// Whether the detector currently declares talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TalkState {
    /// No talk: noise, hum or silence.
    Silent,
    /// Talk, including the hangover after the last speech-like hop.
    Talking,
}

/// A change of [`TalkState`], as reported by [`TalkDetector::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TalkEvent {
    /// Talk started (`TalkingStarted`).
    Started {
        /// Stream position of the decision, in samples since construction or reset.
        at_samples: u64,
    },
    /// Talk finished (`TalkingFinished`), after the hangover.
    Finished {
        /// Stream position of the decision, in samples since construction or reset.
        at_samples: u64,
        /// Samples between the matching `Started` and this event.
        talk_samples: u64,
    },
}

/// What the detector measured on the latest hop, for metrics and tuning.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TalkFeatures {
    /// Mean band excess over the noise floor, in dB (the decision statistic).
    pub excess_db: f32,
    /// The onset CUSUM after this hop, in dB × hops; talk starts when it reaches
    /// [`TalkConfig::onset_evidence_db`].
    pub evidence_db: f32,
    /// Mean distance of the band spectrum from its recent average, in dB.
    pub change_db: f32,
    /// Speech-band level of the hop, in dBov (unsmoothed).
    pub hop_level_dbov: f32,
    /// Speech-band level of the noise floor, in dBov.
    pub floor_dbov: f32,
}

/// The levels a hop updates (see [`TalkDetector::levels`]).
#[derive(Clone, Copy, PartialEq)]
struct Levels {
    band_db: [f32; BANDS],
    previous_power: [f32; BANDS],
    floor_db: [f32; BANDS],
    average_db: [f32; BANDS],
    scalars: [f32; 3],
    features: TalkFeatures,
}

/// Energy- and spectrum-based talk detector for one mono stream. See the module docs.
pub struct TalkDetector {
    config: TalkConfig,
    hop_samples: usize,
    /// Bands in use at this rate.
    bands: usize,
    hangover_hops: u32,
    stationary_hops: u32,

    fft: Arc<dyn RealToComplex<f32>>,
    /// The latest `window.len()` samples, oldest first, scaled to ±1.
    history: Vec<f32>,
    /// Samples of the current hop already written at the end of `history`.
    filled: usize,
    /// How many of the latest samples in `history` are zero (capped at its length): when the
    /// whole window is, the hop's spectrum is zero without an FFT.
    zero_run: usize,
    /// `floor_db` as it was when `floor_power` was last summed from it.
    floor_power_of: [f32; BANDS],
    /// The floor's total power, summed from `floor_power_of`.
    floor_power: f32,
    /// Set after a hop of digital silence that left every level where it found them (to
    /// the float's last bit), with whether that hop's floor moved at the stationary rate: the
    /// next such hop will leave them there too, and only moves the counters.
    settled: Option<bool>,
    /// Tests turn the digital-silence shortcut off to compare against the full analysis.
    #[cfg(test)]
    always_fft: bool,
    /// Hops whose FFT the shortcut skipped, and hops that only moved the counters.
    #[cfg(test)]
    skipped_ffts: u32,
    #[cfg(test)]
    settled_hops: u32,
    window: Vec<f32>,
    fft_in: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Converts a sum of squared bin magnitudes into a mean square of the ±1 signal.
    power_scale: f32,

    floor_db: [f32; BANDS],
    average_db: [f32; BANDS],
    band_db: [f32; BANDS],
    /// Each band's power on the previous hop.
    previous_power: [f32; BANDS],

    state: TalkState,
    hops: u32,
    evidence: f32,
    below_stop: u32,
    /// The statistic smoothed over a few hops; the stop test uses it.
    excess_smooth: f32,
    stationary: u32,
    level_dbov: f32,
    features: TalkFeatures,
    position: u64,
    started_at: u64,
}

impl std::fmt::Debug for TalkDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalkDetector")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("level_dbov", &self.level_dbov)
            .field("features", &self.features)
            .finish_non_exhaustive()
    }
}

fn ms_to_hops(ms: u32) -> u32 {
    ms.div_ceil(HOP_MS)
}

fn power_db(power: f32) -> f32 {
    if power > 1e-10 {
        (10.0 * power.log10()).max(LEVEL_FLOOR_DBOV)
    } else {
        LEVEL_FLOOR_DBOV
    }
}

impl TalkDetector {
    /// Builds a detector; allocates its FFT plan and buffers.
    ///
    /// # Errors
    /// [`TalkConfigError`] if the rate is unsupported, the thresholds are inverted or not
    /// finite, or a duration is out of range.
    pub fn new(config: TalkConfig) -> Result<Self, TalkConfigError> {
        if !SUPPORTED_RATES_HZ.contains(&config.rate_hz) {
            return Err(TalkConfigError::UnsupportedRate {
                rate_hz: config.rate_hz,
            });
        }
        for (what, value, ok) in [
            (
                "onset_bias_db",
                config.onset_bias_db,
                config.onset_bias_db >= 0.0,
            ),
            (
                "onset_evidence_db",
                config.onset_evidence_db,
                config.onset_evidence_db > 0.0,
            ),
            ("stop_db", config.stop_db, true),
            ("min_level_dbov", config.min_level_dbov, true),
            (
                "stationary_db",
                config.stationary_db,
                config.stationary_db >= 0.0,
            ),
        ] {
            if !value.is_finite() || !ok {
                return Err(TalkConfigError::Threshold { what, value });
            }
        }
        for (what, ms) in [
            ("hangover_ms", config.hangover_ms),
            ("stationary_ms", config.stationary_ms),
        ] {
            if ms == 0 || ms > 10_000 {
                return Err(TalkConfigError::Duration { what, ms });
            }
        }
        let rate = config.rate_hz as usize;
        let hop_samples = rate * HOP_MS as usize / 1000;
        let window_len = rate * WINDOW_MS / 1000;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(window_len);
        // Periodic Hann, with the i16 -> ±1 scaling folded in.
        let window: Vec<f32> = (0..window_len)
            .map(|i| {
                let phase = 2.0 * std::f64::consts::PI * i as f64 / window_len as f64;
                (0.5 - 0.5 * phase.cos()) as f32
            })
            .collect();
        let window_energy: f32 = window.iter().map(|w| w * w).sum();
        let power_scale = 2.0 / (window_len as f32 * window_energy);
        let window = window.into_iter().map(|w| w / 32768.0).collect();
        let mut detector = Self {
            config,
            hop_samples,
            // Every band that keeps at least 8 bins below Nyquist.
            bands: (SPEECH_BANDS..BANDS)
                .take_while(|&band| window_len / 2 > BAND_EDGES[band] + 8)
                .count()
                + SPEECH_BANDS,
            hangover_hops: ms_to_hops(config.hangover_ms),
            stationary_hops: ms_to_hops(config.stationary_ms),
            fft_in: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            history: vec![0.0; window_len],
            filled: 0,
            zero_run: 0,
            settled: None,
            floor_power_of: [f32::NAN; BANDS],
            floor_power: 0.0,
            #[cfg(test)]
            always_fft: false,
            #[cfg(test)]
            skipped_ffts: 0,
            #[cfg(test)]
            settled_hops: 0,
            window,
            power_scale,
            floor_db: [LEVEL_FLOOR_DBOV; BANDS],
            average_db: [LEVEL_FLOOR_DBOV; BANDS],
            band_db: [LEVEL_FLOOR_DBOV; BANDS],
            previous_power: [0.0; BANDS],
            state: TalkState::Silent,
            hops: 0,
            evidence: 0.0,
            below_stop: 0,
            excess_smooth: 0.0,
            stationary: 0,
            level_dbov: LEVEL_FLOOR_DBOV,
            features: TalkFeatures::default(),
            position: 0,
            started_at: 0,
        };
        detector.reset();
        Ok(detector)
    }

    /// The configuration the detector was built with.
    pub fn config(&self) -> &TalkConfig {
        &self.config
    }

    /// Samples per analysis hop (10 ms at the configured rate).
    pub fn hop_samples(&self) -> usize {
        self.hop_samples
    }

    /// Forgets everything heard: the floor is learned again and the state is
    /// [`TalkState::Silent`]. Positions count from zero again. Does not allocate.
    pub fn reset(&mut self) {
        self.history.fill(0.0);
        self.filled = 0;
        self.zero_run = self.history.len();
        self.settled = None;
        self.floor_db = [LEVEL_FLOOR_DBOV; BANDS];
        self.average_db = [LEVEL_FLOOR_DBOV; BANDS];
        self.band_db = [LEVEL_FLOOR_DBOV; BANDS];
        self.previous_power = [0.0; BANDS];
        self.state = TalkState::Silent;
        self.hops = 0;
        self.evidence = 0.0;
        self.below_stop = 0;
        self.excess_smooth = 0.0;
        self.stationary = 0;
        self.level_dbov = LEVEL_FLOOR_DBOV;
        self.features = TalkFeatures::default();
        self.position = 0;
        self.started_at = 0;
    }

    /// Feeds one frame of PCM and returns the state change it caused, if any.
    ///
    /// At most one event is returned per call (see the module docs). Never allocates.
    pub fn process(&mut self, pcm: &[i16]) -> Option<TalkEvent> {
        let window_len = self.history.len();
        let mut event = None;
        let mut rest = pcm;
        while !rest.is_empty() {
            let take = (self.hop_samples - self.filled).min(rest.len());
            let start = window_len - self.hop_samples + self.filled;
            let chunk = &rest[..take];
            // Digital silence is the common case (muted phones, a room's silent majority): an
            // OR over the chunk vectorises, a search from its end does not (about 1,000
            // instructions per 10 ms leg in a conference tick, a seventh of a participant).
            let last_sound = match chunk.iter().fold(0, |any, &x| any | x) {
                0 => None,
                _ => chunk.iter().rposition(|&x| x != 0),
            };
            // While the window is all zeros, so is every slot of `history` (the slots of the
            // hop being filled hold samples at most a hop old), and zeros written over zeros
            // or shifted onto zeros change nothing: skip both.
            let settled = self.zero_run >= window_len && !self.always_analyze();
            if !(settled && last_sound.is_none()) {
                for (dst, &src) in self.history[start..start + take]
                    .iter_mut()
                    .zip(&rest[..take])
                {
                    *dst = f32::from(src);
                }
            }
            self.zero_run = match last_sound {
                Some(last) => take - 1 - last,
                None => (self.zero_run + take).min(window_len),
            };
            self.filled += take;
            self.position += take as u64;
            rest = &rest[take..];
            if self.filled == self.hop_samples {
                let hop_event = self.analyze_hop(event.is_none());
                event = event.or(hop_event);
                if self.zero_run < window_len || self.always_analyze() {
                    self.history.copy_within(self.hop_samples.., 0);
                }
                self.filled = 0;
            }
        }
        event
    }

    /// Whether the digital-silence shortcuts are off (tests compare against that).
    #[inline]
    fn always_analyze(&self) -> bool {
        #[cfg(test)]
        return self.always_fft;
        #[cfg(not(test))]
        false
    }

    /// The current state.
    pub fn state(&self) -> TalkState {
        self.state
    }

    /// Whether talk is currently declared.
    pub fn is_talking(&self) -> bool {
        self.state == TalkState::Talking
    }

    /// The smoothed speech-band level in dBov (see the module docs); the ranking key for the
    /// conference mixer.
    pub fn level_dbov(&self) -> f32 {
        self.level_dbov
    }

    /// What the latest hop measured.
    pub fn features(&self) -> TalkFeatures {
        self.features
    }

    /// Analyses the hop that ends at `self.position`. `may_flip` is false when this call
    /// already reported an event: the state then holds until the next call.
    fn analyze_hop(&mut self, may_flip: bool) -> Option<TalkEvent> {
        // A window of zeros has a spectrum of zeros: skip the FFT (see "Real-time").
        let silent = self.zero_run >= self.history.len() && !self.always_analyze();
        #[cfg(test)]
        {
            self.skipped_ffts += u32::from(silent);
        }
        if silent && let Some(event) = self.settled_hop(may_flip) {
            return event;
        }
        let before = silent.then(|| self.levels());
        if !silent {
            for ((dst, &x), &w) in self.fft_in.iter_mut().zip(&self.history).zip(&self.window) {
                *dst = x * w;
            }
            if self
                .fft
                .process_with_scratch(&mut self.fft_in, &mut self.spectrum, &mut self.scratch)
                .is_err()
            {
                // Unreachable: every buffer came from the plan itself.
                return None;
            }
        }
        let mut total = 0.0;
        let top_bin = self.spectrum.len() - 2;
        for band in 0..self.bands {
            let (low, high) = (BAND_EDGES[band], BAND_EDGES[band + 1].min(top_bin));
            let power: f32 = if silent {
                0.0
            } else {
                self.spectrum[low..high]
                    .iter()
                    .map(|c| c.norm_sqr())
                    .sum::<f32>()
                    * self.power_scale
            };
            // Two hops averaged: hum and other periodic sounds whose harmonics are closer than
            // a bin beat from hop to hop; over 26 ms the beating averages out.
            let smoothed = 0.5 * (power + self.previous_power[band]);
            self.previous_power[band] = power;
            total += smoothed;
            self.band_db[band] = power_db(smoothed);
        }
        let hop_level = power_db(total);
        self.hops = self.hops.saturating_add(1);

        let warming = self.hops <= WARMUP_HOPS;
        if self.hops == 1 {
            self.floor_db = self.band_db;
            self.average_db = self.band_db;
        }

        let mut excess = 0.0;
        let mut change = 0.0;
        for band in 0..self.bands {
            excess += (self.band_db[band] - self.floor_db[band])
                .clamp(-EXCESS_LOW_CLAMP_DB, EXCESS_CLAMP_DB);
            change += (self.band_db[band] - self.average_db[band]).abs();
        }
        excess /= self.bands as f32;
        change /= self.bands as f32;

        if change <= self.config.stationary_db {
            self.stationary = self.stationary.saturating_add(1);
        } else {
            self.stationary = 0;
        }
        // Only talk needs rescuing from a stationary sound; while silent, a stationary stretch
        // may be the steady start of a fricative, which must not be absorbed.
        let is_stationary =
            self.state == TalkState::Talking && self.stationary >= self.stationary_hops;

        // Hops that look like noise move the floor both ways; hops that look like speech only
        // nudge it, so talk does not raise its own floor and the floor stays an unbiased
        // estimate of the noise between words.
        let noise_like = excess < self.config.stop_db;
        for band in 0..self.bands {
            let level = self.band_db[band];
            let floor = &mut self.floor_db[band];
            let rate = if warming {
                FLOOR_WARMUP
            } else if level < *floor - FLOOR_FALL_DB {
                FLOOR_FALL
            } else if is_stationary {
                FLOOR_STATIONARY
            } else if noise_like {
                FLOOR_FOLLOW
            } else {
                FLOOR_CREEP
            };
            *floor += rate * (level - *floor);
            self.average_db[band] += STATIONARY_AVERAGE * (level - self.average_db[band]);
        }

        self.level_dbov = if hop_level >= self.level_dbov {
            hop_level
        } else {
            (self.level_dbov - LEVEL_RELEASE_DB_PER_HOP).max(hop_level)
        };
        // The floor settles in steady noise or silence: sum its power only when it moved.
        if self.floor_db != self.floor_power_of {
            self.floor_power_of = self.floor_db;
            self.floor_power = self.floor_db[..self.bands]
                .iter()
                .map(|&db| 10f32.powf(db / 10.0))
                .sum();
        }
        let floor_power = self.floor_power;
        if warming || hop_level < self.config.min_level_dbov {
            self.evidence = 0.0;
        } else {
            self.evidence = (self.evidence + excess - self.config.onset_bias_db).max(0.0);
        }
        self.features = TalkFeatures {
            excess_db: excess,
            evidence_db: self.evidence,
            change_db: change,
            hop_level_dbov: hop_level,
            floor_dbov: power_db(floor_power),
        };
        self.excess_smooth += EXCESS_SMOOTHING * (excess - self.excess_smooth);
        if self.excess_smooth < self.config.stop_db || hop_level < self.config.min_level_dbov {
            self.below_stop = self.below_stop.saturating_add(1);
        } else {
            self.below_stop = 0;
        }

        let event = self.decide(may_flip);
        self.settled = match before {
            Some(levels) if !warming && levels == self.levels() => Some(is_stationary),
            _ => None,
        };
        event
    }

    /// A hop of digital silence after one that left every level unchanged: if its floor
    /// would move at the same rate, it leaves them unchanged too, so only the counters move
    /// and the decision is taken; returns `None` (having changed nothing) otherwise.
    fn settled_hop(&mut self, may_flip: bool) -> Option<Option<TalkEvent>> {
        let stationary_rate = self.settled?;
        let stationary = if self.features.change_db <= self.config.stationary_db {
            self.stationary.saturating_add(1)
        } else {
            0
        };
        let is_stationary = self.state == TalkState::Talking && stationary >= self.stationary_hops;
        if is_stationary != stationary_rate {
            return None;
        }
        self.hops = self.hops.saturating_add(1);
        self.stationary = stationary;
        #[cfg(test)]
        {
            self.settled_hops += 1;
        }
        if self.excess_smooth < self.config.stop_db
            || self.features.hop_level_dbov < self.config.min_level_dbov
        {
            self.below_stop = self.below_stop.saturating_add(1);
        } else {
            self.below_stop = 0;
        }
        let event = self.decide(may_flip);
        if event.is_some() {
            // The decision may reset the evidence: the next hop takes the full path.
            self.settled = None;
        }
        Some(event)
    }

    /// Every level a hop updates, for telling whether a hop of digital silence changed any.
    fn levels(&self) -> Levels {
        Levels {
            band_db: self.band_db,
            previous_power: self.previous_power,
            floor_db: self.floor_db,
            average_db: self.average_db,
            scalars: [self.level_dbov, self.evidence, self.excess_smooth],
            features: self.features,
        }
    }

    /// Flips the state on the hop's evidence or hangover.
    fn decide(&mut self, may_flip: bool) -> Option<TalkEvent> {
        match self.state {
            TalkState::Silent if may_flip && self.evidence >= self.config.onset_evidence_db => {
                self.state = TalkState::Talking;
                self.below_stop = 0;
                self.started_at = self.position;
                self.stationary = 0;
                Some(TalkEvent::Started {
                    at_samples: self.position,
                })
            }
            TalkState::Talking if may_flip && self.below_stop >= self.hangover_hops => {
                self.state = TalkState::Silent;
                self.evidence = 0.0;
                Some(TalkEvent::Finished {
                    at_samples: self.position,
                    talk_samples: self.position - self.started_at,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 8000;

    /// A voiced-speech stand-in: 150 Hz with 20 harmonics at 1/k, RMS at `dbov`.
    fn buzz(rate: u32, samples: usize, dbov: f64) -> Vec<i16> {
        let raw: Vec<f64> = (0..samples)
            .map(|n| {
                let t = n as f64 / f64::from(rate);
                (1..=20)
                    .map(|k| {
                        (2.0 * std::f64::consts::PI * 150.0 * f64::from(k) * t).sin() / f64::from(k)
                    })
                    .sum()
            })
            .collect();
        let rms = (raw.iter().map(|v| v * v).sum::<f64>() / samples as f64).sqrt();
        let gain = 32768.0 * 10f64.powf(dbov / 20.0) / rms;
        raw.iter().map(|v| (v * gain).round() as i16).collect()
    }

    /// One second of silence, `burst_ms` of buzz, then `tail_ms` of silence.
    fn burst(rate: u32, burst_ms: usize, tail_ms: usize) -> Vec<i16> {
        let per_ms = rate as usize / 1000;
        let mut signal = vec![0; 1000 * per_ms];
        signal.extend(buzz(rate, burst_ms * per_ms, -20.0));
        signal.extend(std::iter::repeat_n(0, tail_ms * per_ms));
        signal
    }

    fn events(detector: &mut TalkDetector, signal: &[i16], chunk: usize) -> Vec<TalkEvent> {
        signal
            .chunks(chunk)
            .filter_map(|c| detector.process(c))
            .collect()
    }

    #[test]
    fn rejects_unsupported_rates_and_bad_settings() {
        assert_eq!(
            TalkDetector::new(TalkConfig::new(44100)).unwrap_err(),
            TalkConfigError::UnsupportedRate { rate_hz: 44100 }
        );
        let bad_bias = TalkConfig {
            onset_bias_db: -1.0,
            ..TalkConfig::new(RATE)
        };
        assert!(matches!(
            TalkDetector::new(bad_bias),
            Err(TalkConfigError::Threshold {
                what: "onset_bias_db",
                ..
            })
        ));
        let nan = TalkConfig {
            stop_db: f32::NAN,
            ..TalkConfig::new(RATE)
        };
        assert!(TalkDetector::new(nan).is_err());
        let no_hangover = TalkConfig {
            hangover_ms: 0,
            ..TalkConfig::new(RATE)
        };
        assert_eq!(
            TalkDetector::new(no_hangover).unwrap_err(),
            TalkConfigError::Duration {
                what: "hangover_ms",
                ms: 0
            }
        );
        for rate in SUPPORTED_RATES_HZ {
            let detector = TalkDetector::new(TalkConfig::new(rate)).unwrap();
            assert_eq!(detector.hop_samples(), rate as usize / 100);
        }
    }

    #[test]
    fn a_sine_at_minus_20_dbfs_reads_minus_23_dbov_at_every_rate() {
        for rate in SUPPORTED_RATES_HZ {
            let mut detector = TalkDetector::new(TalkConfig::new(rate)).unwrap();
            let amplitude = 32768.0 * 0.1;
            let sine: Vec<i16> = (0..rate as usize / 2)
                .map(|n| {
                    let t = n as f64 / f64::from(rate);
                    (amplitude * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()).round() as i16
                })
                .collect();
            detector.process(&sine);
            let level = detector.level_dbov();
            assert!((level + 23.01).abs() < 0.3, "{rate} Hz: {level} dBov");
        }
    }

    #[test]
    fn digital_silence_is_never_talk() {
        let mut detector = TalkDetector::new(TalkConfig::new(RATE)).unwrap();
        assert!(events(&mut detector, &vec![0; RATE as usize * 5], 160).is_empty());
        assert_eq!(detector.state(), TalkState::Silent);
        assert_eq!(detector.level_dbov(), LEVEL_FLOOR_DBOV);
    }

    #[test]
    fn a_voiced_burst_starts_on_its_first_hop_and_finishes_after_the_hangover() {
        for rate in [8000, 16000, 48000] {
            let config = TalkConfig::new(rate);
            let mut detector = TalkDetector::new(config).unwrap();
            let per_ms = u64::from(rate) / 1000;
            let found = events(&mut detector, &burst(rate, 500, 1000), rate as usize / 50);
            let [
                TalkEvent::Started { at_samples: start },
                TalkEvent::Finished {
                    at_samples: end,
                    talk_samples,
                },
            ] = found[..]
            else {
                panic!("{rate} Hz: {found:?}");
            };
            assert_eq!(
                start,
                1010 * per_ms,
                "{rate} Hz: the first hop of the burst"
            );
            let burst_end = 1500 * per_ms;
            let hangover = u64::from(config.hangover_ms) * per_ms;
            assert!(end >= burst_end + hangover, "{rate} Hz: finished at {end}");
            assert!(
                end <= burst_end + hangover + 40 * per_ms,
                "{rate} Hz: finished at {end}"
            );
            assert_eq!(talk_samples, end - start);
        }
    }

    #[test]
    fn decisions_do_not_depend_on_the_frame_length() {
        let signal = burst(RATE, 300, 800);
        let mut reference = None;
        for chunk in [80, 160, 240, 480, 37, 1] {
            let mut detector = TalkDetector::new(TalkConfig::new(RATE)).unwrap();
            let found = events(&mut detector, &signal, chunk);
            assert_eq!(found.len(), 2, "{chunk}-sample frames: {found:?}");
            match &reference {
                None => reference = Some(found),
                Some(expected) => assert_eq!(&found, expected, "{chunk}-sample frames"),
            }
        }
    }

    #[test]
    fn a_call_reports_one_event_and_holds_the_second_flip_for_the_next_call() {
        let mut detector = TalkDetector::new(TalkConfig::new(RATE)).unwrap();
        // Start and finish both fall inside this one 2.5 s frame.
        let signal = burst(RATE, 100, 1400);
        let first = detector.process(&signal);
        assert!(
            matches!(first, Some(TalkEvent::Started { .. })),
            "{first:?}"
        );
        assert!(detector.is_talking());
        let second = detector.process(&[0; 80]);
        assert!(
            matches!(second, Some(TalkEvent::Finished { .. })),
            "{second:?}"
        );
        assert!(!detector.is_talking());
    }

    /// Digital silence skips the FFT and changes nothing: a detector that always runs it
    /// reports the same events and the same features after every call, through speech,
    /// low noise, silence and speech again, fed in chunks that straddle hop boundaries.
    #[test]
    fn digital_silence_shortcut_matches_the_full_analysis() {
        for rate in [8000, 16000, 48000] {
            let per_ms = rate as usize / 1000;
            let mut signal = vec![0; 300 * per_ms];
            signal.extend(buzz(rate, 400 * per_ms, -20.0));
            signal.extend(std::iter::repeat_n(0, 900 * per_ms));
            // A lone sample amid zeros, then faint noise: both end the shortcut.
            signal.push(1);
            signal.extend(std::iter::repeat_n(0, 300 * per_ms));
            signal.extend((0..200 * per_ms).map(|n| [-2i16, 1, 3, -1, 0][n % 5]));
            signal.extend(std::iter::repeat_n(0, 600 * per_ms));
            signal.extend(buzz(rate, 300 * per_ms, -30.0));
            // Long enough for every level to settle to its last bit.
            signal.extend(std::iter::repeat_n(0, 8000 * per_ms));

            let mut fast = TalkDetector::new(TalkConfig::new(rate)).unwrap();
            let mut full = TalkDetector::new(TalkConfig::new(rate)).unwrap();
            full.always_fft = true;
            let mut events = 0;
            for chunk in signal.chunks(7 * per_ms + 3) {
                let event = fast.process(chunk);
                assert_eq!(event, full.process(chunk), "{rate} Hz at {}", fast.position);
                assert_eq!(
                    fast.features(),
                    full.features(),
                    "{rate} Hz at {}",
                    fast.position
                );
                assert_eq!(fast.level_dbov(), full.level_dbov());
                events += usize::from(event.is_some());
            }
            assert_eq!(events, 4, "{rate} Hz: two talk spurts");
            assert_eq!(full.skipped_ffts, 0);
            // Roughly the 10.1 s of zeros minus a window after each sound.
            assert!(fast.skipped_ffts > 900, "{rate} Hz: {}", fast.skipped_ffts);
            assert!(fast.settled_hops > 300, "{rate} Hz: {}", fast.settled_hops);
            assert_eq!(full.settled_hops, 0);
        }
    }

    #[test]
    fn reset_forgets_talk_and_position() {
        let mut detector = TalkDetector::new(TalkConfig::new(RATE)).unwrap();
        let signal = burst(RATE, 300, 0);
        assert_eq!(events(&mut detector, &signal, 160).len(), 1);
        detector.reset();
        assert_eq!(detector.state(), TalkState::Silent);
        let again = events(&mut detector, &burst(RATE, 300, 0), 160);
        assert_eq!(
            again,
            vec![TalkEvent::Started {
                at_samples: 1010 * 8
            }]
        );
    }
}
