//! `DtmfDetector`: block screening, frequency verification and sub-block timing of DTMF digits,
//! with RFC 4733-shaped events and optional in-band suppression (design in the parent module).
//!
//! Positions inside the detector are 8 kHz sample indices counted from the start of the current
//! *segment* (a run of contiguous timestamps); they are mapped to the caller's timestamps only
//! when an event is written. The suppression delay line counts *stream* positions (every input
//! sample ever seen) so that a timestamp jump does not disturb audio already queued.

use super::goertzel::{
    BLOCK, BankOutput, DTMF_HZ, DtmfBank, FS_HZ, FreqEstimator, PairAmplitudes, PairFit, SUB, SUBS,
    energy, hann_gain, hann_response,
};
use super::halfband::HalfbandDecimator;
use super::{Digit, DtmfError};
use crate::tone::{dbm0_to_mean_square, mean_square_to_dbm0};

/// Other tones of a group must be this far (6 dB, as a power ratio) below the group's peak.
const RELATIVE_PEAK: f32 = 0.251_188_64;
/// Screen: the strongest row and column must hold this fraction of the block's energy.
const SCREEN_RATIO: f32 = 0.5;
/// Verify: after scalloping correction the pair must hold this fraction of the block's energy.
const HIT_RATIO: f32 = 0.8;
/// Screen level: the uncorrected bin power may be this much (−3 dB) below the threshold, the
/// worst scalloping loss inside the frequency tolerance.
const SCREEN_LEVEL: f32 = 0.5;
/// A sub-block whose energy the pair fit explains less than this is treated as uncovered.
const FIT_RATIO: f32 = 0.75;
/// A tone's third harmonic (row and column) and second harmonic (column) must be this far
/// (15 dB, as a power ratio) below it.
const HARMONIC_RATIO: f32 = 0.031_622_78;
/// Noise allowance of the harmonic test: 6 × `2Σw²/(Σw)²` = 6 × 0.018 75, times the mean
/// square of what the two tones leave unexplained.
const HARMONIC_NOISE: f32 = 0.1125;
/// Sub-blocks used to measure a tone's full amplitude must be explained at least this well.
const REF_FIT_RATIO: f32 = 0.7;
/// Coverage at or above which a sub-block belongs to the tone.
const COVER_HIGH: f32 = 0.5;
/// Over the fully covered sub-blocks of a tone, the pair fit must explain this fraction of the
/// energy before the digit is reported: DTMF in white noise at 12 dB SNR gives 0.95; a sung or
/// spoken vowel whose 4th and 5th harmonics happen to sit on a DTMF pair, 0.65-0.8.
const TONE_PURITY: f32 = 0.9;
/// Amplitude (relative to the tone's) at or above which both tones count as fully present.
const COVER_FULL: f32 = 0.8;
/// Coverage below which a neighbouring sub-block is taken as noise, not a partial tone.
const COVER_PARTIAL: f32 = 0.1;
/// Mute guard before and after a suppressed tone, in 8 kHz samples (2 ms).
const MUTE_GUARD_8K: f64 = 16.0;
/// Suppression spans kept at once.
const MAX_MUTES: usize = 4;
/// Events one block can produce: End (or Begin + End) of a digit, then Begin of the next, or
/// an Update.
const EVENTS_PER_BLOCK: usize = 4;

/// Configuration of a [`DtmfDetector`]. `Default` is the narrowband (8 kHz) detector with the
/// limits in the module documentation and no suppression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfConfig {
    /// Input sample rate: 8000 or 16000.
    pub sample_rate_hz: u32,
    /// Minimum level of each tone, dBm0 (−60 … 0). Default −36.
    pub min_level_dbm0: f32,
    /// Largest accepted excess of the low-group tone over the high-group one, dB (0 … 20).
    /// Default 10 (Q.24: accept 8; the margin keeps 8 dB twist in 12 dB SNR noise).
    pub normal_twist_db: f32,
    /// Largest accepted excess of the high-group tone over the low-group one, dB (0 … 20).
    /// Default 6 (Q.24: accept 4).
    pub reverse_twist_db: f32,
    /// Frequency tolerance in percent (0.5 … 5). Default 2.5 (Q.24: accept 1.5, reject 3.5).
    pub freq_tolerance_pct: f32,
    /// Minimum tone duration in ms (10 … 200). Default 32 (Q.24: accept 40, reject ≤ 23).
    pub min_tone_ms: f32,
    /// Longest interruption bridged inside one digit, ms (0 … 30). Default 10.
    pub max_dropout_ms: f32,
    /// Interval between `Update` events while a digit lasts, ms (10 … 1000). Default 50
    /// (RFC 4733 §2.5.1.2 suggests 50 ms).
    pub update_interval_ms: u32,
    /// `Some(d)`: delay the audio by `d` ms (0 … 100) and mute recognised tones in it.
    /// Default `None` (the audio is left untouched).
    pub suppression_delay_ms: Option<u32>,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        Self {
            sample_rate_hz: 8000,
            min_level_dbm0: -36.0,
            normal_twist_db: 10.0,
            reverse_twist_db: 6.0,
            freq_tolerance_pct: 2.5,
            min_tone_ms: 32.0,
            max_dropout_ms: 10.0,
            update_interval_ms: 50,
            suppression_delay_ms: None,
        }
    }
}

impl DtmfConfig {
    /// The default configuration at `sample_rate_hz`.
    pub fn with_rate(sample_rate_hz: u32) -> Self {
        Self {
            sample_rate_hz,
            ..Self::default()
        }
    }

    /// Default suppression delay: 40 ms, enough that no part of a tone leaks.
    pub const DEFAULT_SUPPRESSION_DELAY_MS: u32 = 40;

    fn validate(&self) -> Result<(), DtmfError> {
        fn check(ok: bool, field: &'static str) -> Result<(), DtmfError> {
            if ok {
                Ok(())
            } else {
                Err(DtmfError::InvalidConfig { field })
            }
        }
        if self.sample_rate_hz != 8000 && self.sample_rate_hz != 16000 {
            return Err(DtmfError::UnsupportedSampleRate {
                rate_hz: self.sample_rate_hz,
            });
        }
        check(
            (-60.0..=0.0).contains(&self.min_level_dbm0),
            "min_level_dbm0",
        )?;
        check(
            (0.0..=20.0).contains(&self.normal_twist_db),
            "normal_twist_db",
        )?;
        check(
            (0.0..=20.0).contains(&self.reverse_twist_db),
            "reverse_twist_db",
        )?;
        check(
            (0.5..=5.0).contains(&self.freq_tolerance_pct),
            "freq_tolerance_pct",
        )?;
        check((10.0..=200.0).contains(&self.min_tone_ms), "min_tone_ms")?;
        check(
            (0.0..=30.0).contains(&self.max_dropout_ms),
            "max_dropout_ms",
        )?;
        check(
            (10..=1000).contains(&self.update_interval_ms),
            "update_interval_ms",
        )?;
        check(
            self.suppression_delay_ms.is_none_or(|d| d <= 100),
            "suppression_delay_ms",
        )
    }
}

/// What a [`DtmfEvent`] reports, mirroring RFC 4733 §2.5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfEventKind {
    /// The digit is recognised; `duration` is how long it has lasted so far.
    #[default]
    Begin,
    /// The digit continues; `duration` is how long it has lasted so far.
    Update,
    /// The digit ended; `duration` is its total duration (the RFC 4733 E bit).
    End,
}

/// A DTMF event. Times are in input samples on the timestamp scale the caller passes to
/// [`DtmfDetector::process`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfEvent {
    /// Begin, Update or End.
    pub kind: DtmfEventKind,
    /// The digit.
    pub digit: Digit,
    /// Timestamp of the tone's first sample (the same in every event of one digit).
    pub start: u64,
    /// Duration in input samples: so far (Begin, Update) or total (End).
    pub duration: u32,
    /// Level of the two tones together, dBm0.
    pub level_dbm0: f32,
}

impl Default for DtmfEvent {
    fn default() -> Self {
        Self {
            kind: DtmfEventKind::Begin,
            digit: Digit::ALL[13],
            start: 0,
            duration: 0,
            level_dbm0: 0.0,
        }
    }
}

impl DtmfEvent {
    /// Timestamp just past the tone's last sample so far.
    pub fn end(&self) -> u64 {
        self.start + u64::from(self.duration)
    }

    /// The RFC 4733 §2.3.4 volume field: the level in dBm0 with the sign dropped, 0 … 63.
    pub fn volume(&self) -> u8 {
        (-self.level_dbm0).round().clamp(0.0, 63.0) as u8
    }
}

/// Counters of a [`DtmfDetector`], for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtmfStats {
    /// Blocks skipped by the energy pre-check.
    pub blocks_skipped: u64,
    /// Blocks that went through the Goertzel screen.
    pub blocks_screened: u64,
    /// Blocks inside a reported digit, carried by the pair fit alone.
    pub blocks_tracked: u64,
    /// Blocks that passed every check (hits).
    pub blocks_hit: u64,
    /// Digits reported (Begin events).
    pub digits: u64,
    /// DTMF-like tones dropped for being shorter than `min_tone_ms`.
    pub short_tones: u64,
    /// DTMF-like tones dropped because their frequency, measured over the whole tone, was out
    /// of tolerance, or because a block where both tones were fully present failed the checks.
    pub inconsistent_tones: u64,
    /// Timestamp discontinuities seen.
    pub discontinuities: u64,
}

/// A block that passed every check.
#[derive(Debug, Clone, Copy)]
struct Hit {
    digit: Digit,
    /// Corrected power of the two tones (mean square).
    tone_ms: f32,
}

/// A digit being timed, from its first hit until it ends.
#[derive(Debug, Clone, Copy)]
struct Track {
    digit: Digit,
    /// Full amplitude of each tone (max over well-fitted sub-blocks of hit blocks).
    a_ref: [f32; 2],
    /// Start of the tone (8 kHz segment position), once a covered sub-block was seen.
    start: Option<f64>,
    /// Coverage of the sub-block before the first covered one.
    prev_cover: f32,
    /// End of the last covered sub-block.
    covered_end: f64,
    /// Coverage of the last covered sub-block.
    last_cover: f32,
    /// Uncovered sub-blocks since the last covered one.
    gap: u32,
    /// Partial coverage of the first uncovered sub-block after a fully covered one, in samples.
    tail: f64,
    /// A Begin event was sent.
    begun: bool,
    /// Duration at which the next Update is due (8 kHz samples): the Begin's duration plus a
    /// whole number of update intervals, so Updates average the interval even though they are
    /// sent at block ends.
    next_update: f64,
    /// Largest corrected tone power of its hits.
    tone_ms: f32,
    /// Index of its suppression span.
    mute: Option<usize>,
    /// Phasors of the previous sub-block, when it was covered.
    last_phasors: Option<[(f32, f32); 2]>,
    /// Sum over consecutive covered sub-blocks of `z[m+1]·conj(z[m])·e^{-jω·40}` per tone: its
    /// angle is the tone's frequency offset times 40 samples.
    rotation: [(f32, f32); 2],
    /// Fitted and total energy of the fully covered sub-blocks (the tone's purity).
    purity: (f32, f32),
    /// A block in which both tones were present at full amplitude failed the checks before the
    /// digit was reported: the tone is the tail of something that is not DTMF (a decaying
    /// musical note, a vowel).
    tainted: bool,
}

impl Track {
    /// Feeds the coverage of the next sub-block; returns true when the tone has ended.
    ///
    /// Edges are placed inside their sub-block by its coverage: a tone that starts in a
    /// sub-block covered to `c < 0.5` starts `c·40` samples before the next one; one that starts
    /// in a sub-block covered to `c ≥ 0.5` starts `(1 − c)·40` samples into it; ends likewise.
    fn feed(&mut self, sub_start: f64, cover: f32, max_gap: u32) -> bool {
        let sub = SUB as f64;
        let c = f64::from(cover.min(1.0));
        if self.start.is_none() {
            if cover >= COVER_HIGH {
                let start = if self.prev_cover >= COVER_PARTIAL {
                    sub_start - f64::from(self.prev_cover.min(1.0)) * sub
                } else {
                    sub_start + (1.0 - c) * sub
                };
                self.start = Some(start);
                self.covered_end = sub_start + sub;
                self.last_cover = cover;
                self.gap = 0;
            } else {
                self.prev_cover = cover;
            }
            return false;
        }
        if cover >= COVER_HIGH {
            self.covered_end = sub_start + sub;
            self.last_cover = cover;
            self.gap = 0;
            self.tail = 0.0;
            false
        } else {
            if self.gap == 0 {
                self.tail = if cover >= COVER_PARTIAL { c * sub } else { 0.0 };
            }
            self.gap += 1;
            self.gap > max_gap
        }
    }

    /// End of the tone (valid once `feed` returned true, or as an estimate before).
    fn end(&self) -> f64 {
        if self.tail > 0.0 {
            self.covered_end + self.tail
        } else {
            self.covered_end - (1.0 - f64::from(self.last_cover.min(1.0))) * SUB as f64
        }
    }

    /// Duration so far (8 kHz samples).
    fn duration(&self) -> f64 {
        self.start.map_or(0.0, |s| self.end() - s)
    }

    /// Accumulates the phase advance of each tone between consecutive covered sub-blocks, and
    /// the energies of the fully covered ones.
    /// `nominal_rotation` is `e^{-jω·40}` of the two nominal frequencies.
    fn observe_phase(
        &mut self,
        fit: &PairAmplitudes,
        cover: f32,
        nominal_rotation: [(f32, f32); 2],
    ) {
        if cover >= COVER_FULL {
            self.purity.0 += fit.fit_energy;
            self.purity.1 += fit.energy;
        }
        if cover < COVER_HIGH {
            self.last_phasors = None;
            return;
        }
        if let Some(prev) = self.last_phasors {
            for k in 0..2 {
                let (zr, zi) = fit.phasors[k];
                let (pr, pi) = prev[k];
                // z · conj(prev)
                let (ar, ai) = (zr * pr + zi * pi, zi * pr - zr * pi);
                let (rr, ri) = nominal_rotation[k];
                self.rotation[k].0 += ar * rr - ai * ri;
                self.rotation[k].1 += ar * ri + ai * rr;
            }
        }
        self.last_phasors = Some(fit.phasors);
    }

    /// Frequency offsets (Hz) of the two tones measured over the covered sub-blocks, if any
    /// pair of consecutive covered sub-blocks was seen.
    fn frequency_offsets(&self) -> Option<[f32; 2]> {
        let mut out = [0.0f32; 2];
        for (k, o) in out.iter_mut().enumerate() {
            let (re, im) = self.rotation[k];
            if re == 0.0 && im == 0.0 {
                return None;
            }
            *o = im.atan2(re) / SUB as f32 * FS_HZ / (2.0 * std::f32::consts::PI);
        }
        Some(out)
    }
}

/// A span of output (stream positions) to mute.
#[derive(Debug, Clone, Copy)]
struct Mute {
    start: u64,
    end: u64,
}

/// The DTMF detector. See the [module documentation](super) for the design and the contract.
///
/// ```
/// use tandem_dsp::dtmf::{DtmfConfig, DtmfDetector, DtmfEvent, DtmfEventKind, DtmfGenerator,
///     DtmfGeneratorConfig};
///
/// let audio = DtmfGenerator::render(DtmfGeneratorConfig::default(), "159#").unwrap();
/// let mut det = DtmfDetector::new(DtmfConfig::default()).unwrap();
/// let mut events = [DtmfEvent::default(); 16];
/// let mut digits = String::new();
/// for (i, frame) in audio.chunks(160).enumerate() {
///     let mut frame = frame.to_vec();
///     let n = det.process(i as u64 * 160, &mut frame, &mut events).unwrap();
///     for e in &events[..n] {
///         if e.kind == DtmfEventKind::Begin {
///             digits.push(e.digit.as_char());
///         }
///     }
/// }
/// assert_eq!(digits, "159#");
/// ```
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    config: DtmfConfig,
    /// Input samples per 8 kHz sample: 1 or 2.
    factor: u64,
    decimator: HalfbandDecimator,
    bank: DtmfBank,
    estimators: Box<[FreqEstimator; 8]>,
    fit: Box<PairFit>,
    /// `e^{-jω·40}` of each DTMF frequency, for the phase tracking of [`Track`].
    sub_rotation: [(f32, f32); 8],

    /// Level threshold per tone (mean square).
    min_tone_ms: f32,
    normal_twist: f32,
    reverse_twist: f32,
    tolerance: f32,
    min_duration: f64,
    max_gap: u32,
    update_interval: f64,

    /// Two blocks: the one being filled and the previous one (history for back-dating).
    blocks: Box<[[f32; BLOCK]; 2]>,
    cur: usize,
    fill: usize,
    /// Segment position (8 kHz) of `blocks[cur][0]`.
    block_start: u64,
    /// Whether `blocks[1 - cur]` holds the previous block of this segment.
    have_prev: bool,
    /// Sub-blocks starting before this segment position belong to an earlier digit.
    valid_from: u64,
    track: Option<Track>,

    /// Caller timestamp of the segment's first input sample.
    seg_ts: u64,
    /// Stream position of the segment's first input sample.
    seg_stream: u64,
    /// Input samples consumed in this segment.
    seg_in: u64,
    /// Whether a segment has started.
    started: bool,
    /// Input samples consumed since construction.
    stream_pos: u64,

    delay_line: Vec<i16>,
    delay_idx: usize,
    mutes: [Option<Mute>; MAX_MUTES],

    stats: DtmfStats,
}

impl DtmfDetector {
    /// Builds a detector; the only allocating call.
    ///
    /// # Errors
    ///
    /// [`DtmfError::UnsupportedSampleRate`] or [`DtmfError::InvalidConfig`] when `config` is out
    /// of range.
    pub fn new(config: DtmfConfig) -> Result<Self, DtmfError> {
        config.validate()?;
        let factor = u64::from(config.sample_rate_hz / 8000);
        let estimators = Box::new(std::array::from_fn(|k| FreqEstimator::new(DTMF_HZ[k])));
        let delay = config
            .suppression_delay_ms
            .map_or(0, |d| d as usize * config.sample_rate_hz as usize / 1000);
        let db = |v: f32| 10f32.powf(v / 10.0);
        Ok(Self {
            config,
            factor,
            decimator: HalfbandDecimator::default(),
            bank: DtmfBank::new(),
            estimators,
            fit: Box::new(PairFit::new()),
            sub_rotation: std::array::from_fn(|k| {
                let w = 2.0 * std::f64::consts::PI * f64::from(DTMF_HZ[k]) / 8000.0 * SUB as f64;
                (w.cos() as f32, -w.sin() as f32)
            }),
            min_tone_ms: dbm0_to_mean_square(f64::from(config.min_level_dbm0)) as f32,
            normal_twist: db(config.normal_twist_db),
            reverse_twist: db(config.reverse_twist_db),
            tolerance: config.freq_tolerance_pct / 100.0,
            min_duration: f64::from(config.min_tone_ms) * 8.0,
            max_gap: (config.max_dropout_ms / 5.0).round() as u32,
            update_interval: f64::from(config.update_interval_ms) * 8.0,
            blocks: Box::new([[0.0; BLOCK]; 2]),
            cur: 0,
            fill: 0,
            block_start: 0,
            have_prev: false,
            valid_from: 0,
            track: None,
            seg_ts: 0,
            seg_stream: 0,
            seg_in: 0,
            started: false,
            stream_pos: 0,
            delay_line: vec![0; delay],
            delay_idx: 0,
            mutes: [None; MAX_MUTES],
            stats: DtmfStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DtmfConfig {
        &self.config
    }

    /// The largest number of events one `process` call with `samples` input samples can write.
    /// Size the event slice with it once, for the largest frame you will pass.
    pub fn events_max(&self, samples: usize) -> usize {
        (samples / (BLOCK * self.factor as usize) + 1) * EVENTS_PER_BLOCK + 2
    }

    /// Delay that suppression adds to the audio, in input samples (0 without suppression).
    pub fn delay_samples(&self) -> usize {
        self.delay_line.len()
    }

    /// Counters since construction.
    pub fn stats(&self) -> DtmfStats {
        self.stats
    }

    /// Processes `pcm`, whose first sample has timestamp `timestamp` (in input samples, on any
    /// monotonic scale, e.g. an extended RTP timestamp). Writes events into `events` and returns
    /// how many it wrote. With suppression on, `pcm` is replaced by the delayed, muted audio;
    /// otherwise it is left unchanged.
    ///
    /// A timestamp other than the previous call's end is a discontinuity (lost or inserted
    /// audio): the digit in progress ends where its tone was last seen, and analysis restarts.
    ///
    /// Never allocates.
    ///
    /// # Errors
    ///
    /// [`DtmfError::EventBufferTooSmall`] if `events` is shorter than
    /// [`events_max(pcm.len())`](Self::events_max); nothing is processed then.
    pub fn process(
        &mut self,
        timestamp: u64,
        pcm: &mut [i16],
        events: &mut [DtmfEvent],
    ) -> Result<usize, DtmfError> {
        let needed = self.events_max(pcm.len());
        if events.len() < needed {
            return Err(DtmfError::EventBufferTooSmall {
                needed,
                got: events.len(),
            });
        }
        let mut n = 0;
        if !self.started || timestamp != self.seg_ts + self.seg_in {
            if self.started {
                self.stats.discontinuities += 1;
                self.end_track_now(events, &mut n);
            }
            self.new_segment(timestamp);
        }
        let mut done = 0;
        while done < pcm.len() {
            let room = BLOCK - self.fill;
            let take = if self.factor == 1 {
                room.min(pcm.len() - done)
            } else {
                let odd_first = usize::from(self.decimator_first_outputs());
                (2 * room - odd_first).min(pcm.len() - done)
            };
            let chunk = &mut pcm[done..done + take];
            let cur = self.cur;
            if self.factor == 1 {
                for (o, &s) in self.blocks[cur][self.fill..].iter_mut().zip(chunk.iter()) {
                    *o = f32::from(s);
                }
                self.fill += take;
            } else {
                self.fill += self
                    .decimator
                    .decimate_into(chunk, &mut self.blocks[cur][self.fill..]);
            }
            self.seg_in += take as u64;
            if self.fill == BLOCK {
                self.analyse_block(events, &mut n);
            }
            if self.config.suppression_delay_ms.is_some() {
                self.suppress(chunk);
            }
            self.stream_pos += take as u64;
            done += take;
        }
        Ok(n)
    }

    /// Ends the input: analyses the partial block (zero-padded) and ends the digit in progress.
    /// Returns the number of events written (at most `events_max(0)`).
    ///
    /// # Errors
    ///
    /// [`DtmfError::EventBufferTooSmall`] as for [`process`](Self::process).
    pub fn flush(&mut self, events: &mut [DtmfEvent]) -> Result<usize, DtmfError> {
        let needed = self.events_max(0);
        if events.len() < needed {
            return Err(DtmfError::EventBufferTooSmall {
                needed,
                got: events.len(),
            });
        }
        let mut n = 0;
        if self.fill > 0 {
            let cur = self.cur;
            self.blocks[cur][self.fill..].fill(0.0);
            self.fill = BLOCK;
            self.analyse_block(events, &mut n);
        }
        self.end_track_now(events, &mut n);
        Ok(n)
    }

    /// Forgets all state (including queued audio and statistics), as if newly constructed.
    pub fn reset(&mut self) {
        self.decimator.reset();
        self.fill = 0;
        self.block_start = 0;
        self.have_prev = false;
        self.valid_from = 0;
        self.track = None;
        self.started = false;
        self.seg_in = 0;
        self.stream_pos = 0;
        self.delay_line.fill(0);
        self.delay_idx = 0;
        self.mutes = [None; MAX_MUTES];
        self.stats = DtmfStats::default();
    }

    fn decimator_first_outputs(&self) -> bool {
        // The decimator emits on every second input; with an odd number consumed so far in
        // this segment, the next input completes an output.
        self.seg_in % 2 == 1
    }

    fn new_segment(&mut self, timestamp: u64) {
        self.decimator.reset();
        self.fill = 0;
        self.block_start = 0;
        self.have_prev = false;
        self.valid_from = 0;
        self.track = None;
        self.started = true;
        self.seg_ts = timestamp;
        self.seg_stream = self.stream_pos;
        self.seg_in = 0;
    }

    /// Input-sample offset in the segment of an 8 kHz segment position.
    fn input_offset(&self, pos: f64) -> f64 {
        if self.factor == 1 {
            pos
        } else {
            (2.0 * pos + 1.0 - HalfbandDecimator::DELAY_INPUT_SAMPLES as f64).max(0.0)
        }
    }

    fn event(&self, kind: DtmfEventKind, t: &Track, duration: f64) -> DtmfEvent {
        let start = self.input_offset(t.start.unwrap_or(0.0)).round();
        let duration = (duration * self.factor as f64).round().max(0.0);
        DtmfEvent {
            kind,
            digit: t.digit,
            start: self.seg_ts + start as u64,
            duration: duration.min(f64::from(u32::MAX)) as u32,
            level_dbm0: mean_square_to_dbm0(f64::from(t.tone_ms)) as f32,
        }
    }

    fn analyse_block(&mut self, events: &mut [DtmfEvent], n: &mut usize) {
        let cur = self.cur;
        // A reported digit whose two tones cover every sub-block of this block cannot have
        // given way to anything else here: the pair fit alone carries it, and the screen and
        // the verification are skipped (most blocks of a long key press).
        let track_fits = self.track.map(|t| (t, self.fit_block(t.digit, cur)));
        let steady = track_fits
            .is_some_and(|(t, fits)| t.begun && fits.iter().all(|f| coverage(&t, f) >= COVER_FULL));
        let hit = if steady {
            self.stats.blocks_tracked += 1;
            None
        } else if energy(&self.blocks[cur]) >= self.min_tone_ms * BLOCK as f32 {
            self.stats.blocks_screened += 1;
            self.identify(cur)
        } else {
            self.stats.blocks_skipped += 1;
            None
        };
        if hit.is_some() {
            self.stats.blocks_hit += 1;
        }

        if let Some((mut t, fits)) = track_fits {
            self.track = None;
            if let Some(h) = hit.filter(|h| h.digit == t.digit) {
                update_reference(&mut t, &fits);
                t.tone_ms = t.tone_ms.max(h.tone_ms);
            } else if !t.begun && fully_present(&t, &fits) {
                t.tainted = true;
            }
            let rot = self.rotations(t.digit);
            let mut ended = false;
            for (i, f) in fits.iter().enumerate() {
                let pos = (self.block_start + (i * SUB) as u64) as f64;
                let c = coverage(&t, f);
                t.observe_phase(f, c, rot);
                if t.feed(pos, c, self.max_gap) {
                    ended = true;
                    break;
                }
            }
            if ended {
                self.finish(t, events, n);
            } else {
                self.report_progress(&mut t, events, n);
                self.track = Some(t);
            }
        }
        if self.track.is_none() {
            if let Some(h) = hit {
                self.start_track(h, events, n);
            }
        }

        self.cur = 1 - cur;
        self.have_prev = true;
        self.block_start += BLOCK as u64;
        self.fill = 0;
    }

    /// The screen and the verification of one block (module documentation, steps 1 and 2).
    fn identify(&self, cur: usize) -> Option<Hit> {
        let x = &self.blocks[cur];
        let BankOutput { tone_ms, total_ms } = self.bank.analyse(x);
        let (row, p_row) = strongest(&tone_ms[..4]);
        let (col, p_col) = strongest(&tone_ms[4..]);
        let screen_level = self.min_tone_ms * SCREEN_LEVEL;
        if p_row < screen_level || p_col < screen_level {
            return None;
        }
        let others_low = |group: &[f32], best: usize, peak: f32| {
            group
                .iter()
                .enumerate()
                .all(|(i, &p)| i == best || p <= peak * RELATIVE_PEAK)
        };
        if !others_low(&tone_ms[..4], row, p_row) || !others_low(&tone_ms[4..], col, p_col) {
            return None;
        }
        if p_row + p_col < SCREEN_RATIO * total_ms {
            return None;
        }
        let f_row = self.estimators[row].estimate(x).freq_hz;
        let off_row = f_row - DTMF_HZ[row];
        if off_row.abs() > self.tolerance * DTMF_HZ[row] {
            return None;
        }
        let f_col = self.estimators[4 + col].estimate(x).freq_hz;
        let off_col = f_col - DTMF_HZ[4 + col];
        if off_col.abs() > self.tolerance * DTMF_HZ[4 + col] {
            return None;
        }
        let p_row = p_row / hann_gain(off_row).powi(2);
        let p_col = p_col / hann_gain(off_col).powi(2);
        if p_row < self.min_tone_ms || p_col < self.min_tone_ms {
            return None;
        }
        if p_col > p_row * self.reverse_twist || p_row > p_col * self.normal_twist {
            return None;
        }
        if p_row + p_col < HIT_RATIO * total_ms {
            return None;
        }
        // Harmonics: DTMF tones are pure; notes of instruments and voiced speech are not. A
        // harmonic counts when it exceeds its share of the fundamental and stands out of the
        // noise: white noise of mean square `r` reads `r·2Σw²/(Σw)²` in a bin, and six times
        // that is exceeded by noise alone in 0.25 % of blocks.
        let noise_floor = HARMONIC_NOISE * (total_ms - p_row - p_col).max(0.0);
        let f = [
            3.0 * f_row,
            2.0 * f_col,
            3.0 * f_col,
            2.0 * f_row,
            f_col,
            f_col,
            f_col,
            f_col,
        ];
        let dft = self.bank.dft_many(x, &f);
        let power = |(re, im): (f32, f32)| 2.0 * (re * re + im * im);
        if power(dft[0]) > HARMONIC_RATIO * p_row + noise_floor
            || power(dft[1]) > HARMONIC_RATIO * p_col + noise_floor
            || power(dft[2]) > HARMONIC_RATIO * p_col + noise_floor
        {
            return None;
        }
        // The row tone's second harmonic falls 58 … 93 Hz from some column tones, inside the
        // window's main lobe: separate the two. With `X_h`, `X_c` the centred DFTs at `2·f_row`
        // and `f_col` and `d` the window's response at their distance, `X_h = A_h + d·A_c` and
        // `X_c = A_c + d·A_h`, so `A_h = (X_h − d·X_c)/(1 − d²)`.
        let d = hann_response(2.0 * f_row - f_col);
        let (x_h, x_c) = (dft[3], dft[4]);
        let det = 1.0 - d * d;
        let a_h = ((x_h.0 - d * x_c.0) / det, (x_h.1 - d * x_c.1) / det);
        if power(a_h) > HARMONIC_RATIO * p_row + noise_floor {
            return None;
        }
        Some(Hit {
            digit: Digit::from_row_col(row, col)?,
            tone_ms: p_row + p_col,
        })
    }

    /// Pair fits of the 4 sub-blocks of block `which` for `digit`.
    fn fit_block(&self, digit: Digit, which: usize) -> [PairAmplitudes; SUBS] {
        let x = &self.blocks[which];
        std::array::from_fn(|i| {
            self.fit
                .fit(digit.row(), digit.col(), &x[i * SUB..(i + 1) * SUB])
        })
    }

    fn start_track(&mut self, hit: Hit, events: &mut [DtmfEvent], n: &mut usize) {
        let cur_fits = self.fit_block(hit.digit, self.cur);
        let mut t = Track {
            digit: hit.digit,
            a_ref: [0.0; 2],
            start: None,
            prev_cover: 0.0,
            covered_end: 0.0,
            last_cover: 0.0,
            gap: 0,
            tail: 0.0,
            begun: false,
            next_update: 0.0,
            tone_ms: hit.tone_ms,
            mute: None,
            last_phasors: None,
            rotation: [(0.0, 0.0); 2],
            purity: (0.0, 0.0),
            tainted: false,
        };
        let rot = self.rotations(hit.digit);
        update_reference(&mut t, &cur_fits);
        if t.a_ref[0] <= 0.0 || t.a_ref[1] <= 0.0 {
            return;
        }
        if self.have_prev {
            let prev_start = self.block_start - BLOCK as u64;
            let prev_fits = self.fit_block(hit.digit, 1 - self.cur);
            if prev_start >= self.valid_from && fully_present(&t, &prev_fits) {
                t.tainted = true;
            }
            for (i, f) in prev_fits.iter().enumerate() {
                let pos = prev_start + (i * SUB) as u64;
                let c = if pos >= self.valid_from {
                    coverage(&t, f)
                } else {
                    0.0
                };
                t.observe_phase(f, c, rot);
                if t.feed(pos as f64, c, self.max_gap) {
                    // A covered stretch that ended inside the previous block predates the
                    // hit: time the tone from the current block only.
                    t.start = None;
                    t.prev_cover = 0.0;
                    t.gap = 0;
                    t.tail = 0.0;
                    t.rotation = [(0.0, 0.0); 2];
                    t.purity = (0.0, 0.0);
                }
            }
        }
        let mut ended = false;
        for (i, f) in cur_fits.iter().enumerate() {
            let pos = self.block_start + (i * SUB) as u64;
            let c = if pos >= self.valid_from {
                coverage(&t, f)
            } else {
                0.0
            };
            t.observe_phase(f, c, rot);
            if t.feed(pos as f64, c, self.max_gap) {
                ended = true;
                break;
            }
        }
        let Some(start) = t.start else {
            return;
        };
        t.mute = self.open_mute(start);
        if ended {
            self.finish(t, events, n);
        } else {
            self.report_progress(&mut t, events, n);
            self.track = Some(t);
        }
    }

    /// Sends Begin once the tone is long enough, then Updates.
    fn report_progress(&mut self, t: &mut Track, events: &mut [DtmfEvent], n: &mut usize) {
        let d = t.duration();
        if !t.begun {
            if d >= self.min_duration && self.consistent(t) {
                t.begun = true;
                t.next_update = d + self.update_interval;
                self.stats.digits += 1;
                push(events, n, self.event(DtmfEventKind::Begin, t, d));
            }
        } else if d >= t.next_update {
            while t.next_update <= d {
                t.next_update += self.update_interval;
            }
            push(events, n, self.event(DtmfEventKind::Update, t, d));
        }
    }

    /// The tone ended: End (or Begin + End for a digit that only now proved long enough), or
    /// nothing for a short tone.
    fn finish(&mut self, t: Track, events: &mut [DtmfEvent], n: &mut usize) {
        let end = t.end();
        let d = end - t.start.unwrap_or(end);
        if t.begun {
            push(events, n, self.event(DtmfEventKind::End, &t, d));
        } else if d >= self.min_duration && self.consistent(&t) {
            self.stats.digits += 1;
            push(events, n, self.event(DtmfEventKind::Begin, &t, d));
            push(events, n, self.event(DtmfEventKind::End, &t, d));
        } else if d >= self.min_duration {
            self.stats.inconsistent_tones += 1;
        } else {
            self.stats.short_tones += 1;
        }
        if let Some(i) = t.mute {
            self.close_mute(i, end);
        }
        self.valid_from = self.valid_from.max(end.ceil() as u64);
    }

    /// `e^{-jω·40}` of the digit's two nominal frequencies.
    fn rotations(&self, digit: Digit) -> [(f32, f32); 2] {
        [
            self.sub_rotation[digit.row()],
            self.sub_rotation[4 + digit.col()],
        ]
    }

    /// Whether the tone is consistently DTMF: not tainted, pure enough over its fully covered
    /// sub-blocks, and both tones, measured over the whole tone so far, within tolerance.
    fn consistent(&self, t: &Track) -> bool {
        !t.tainted
            && t.purity.0 >= TONE_PURITY * t.purity.1
            && t.purity.1 > 0.0
            && t.frequency_offsets().is_some_and(|off| {
                off[0].abs() <= self.tolerance * DTMF_HZ[t.digit.row()]
                    && off[1].abs() <= self.tolerance * DTMF_HZ[4 + t.digit.col()]
            })
    }

    /// Ends the digit in progress where its tone was last seen (discontinuity or flush).
    fn end_track_now(&mut self, events: &mut [DtmfEvent], n: &mut usize) {
        if let Some(t) = self.track.take() {
            self.finish(t, events, n);
        }
    }

    fn stream_of(&self, pos: f64) -> u64 {
        let off = self.input_offset(pos.max(0.0)).round() as u64;
        self.seg_stream + off
    }

    fn open_mute(&mut self, start: f64) -> Option<usize> {
        self.config.suppression_delay_ms?;
        let s = self.stream_of(start - MUTE_GUARD_8K);
        let slot = match self.mutes.iter().position(Option::is_none) {
            Some(i) => i,
            // All spans busy: reuse the one that ends first.
            None => (0..MAX_MUTES)
                .min_by_key(|&i| self.mutes[i].map_or(0, |m| m.end))
                .unwrap_or(0),
        };
        self.mutes[slot] = Some(Mute {
            start: s,
            end: u64::MAX,
        });
        Some(slot)
    }

    fn close_mute(&mut self, slot: usize, end: f64) {
        let e = self.stream_of(end + MUTE_GUARD_8K);
        if let Some(m) = &mut self.mutes[slot] {
            m.end = e.max(m.start);
        }
    }

    /// Delays `chunk` through the delay line and mutes the spans (stream positions).
    fn suppress(&mut self, chunk: &mut [i16]) {
        let d = self.delay_line.len();
        let first_in = self.stream_pos;
        for (k, s) in chunk.iter_mut().enumerate() {
            let input = *s;
            let out = if d == 0 {
                input
            } else {
                let o = self.delay_line[self.delay_idx];
                self.delay_line[self.delay_idx] = input;
                self.delay_idx = if self.delay_idx + 1 == d {
                    0
                } else {
                    self.delay_idx + 1
                };
                o
            };
            let pos = first_in + k as u64;
            let muted = pos >= d as u64 && {
                let p = pos - d as u64;
                self.mutes
                    .iter()
                    .flatten()
                    .any(|m| p >= m.start && p < m.end)
            };
            *s = if muted { 0 } else { out };
        }
        // Forget spans that are fully output.
        let out_pos = (first_in + chunk.len() as u64).saturating_sub(d as u64);
        let track_slot = self.track.and_then(|t| t.mute);
        for (i, m) in self.mutes.iter_mut().enumerate() {
            if m.is_some_and(|m| m.end <= out_pos) && track_slot != Some(i) {
                *m = None;
            }
        }
    }
}

/// Index and value of the largest of four powers.
fn strongest(p: &[f32]) -> (usize, f32) {
    let mut best = 0;
    for i in 1..p.len() {
        if p[i] > p[best] {
            best = i;
        }
    }
    (best, p[best])
}

/// Raises the track's full-amplitude reference from well-fitted sub-blocks of a hit block.
fn update_reference(t: &mut Track, fits: &[PairAmplitudes; SUBS]) {
    for f in fits {
        if f.energy > 0.0 && f.fit_energy >= REF_FIT_RATIO * f.energy {
            t.a_ref[0] = t.a_ref[0].max(f.low);
            t.a_ref[1] = t.a_ref[1].max(f.high);
        }
    }
}

/// Whether both tones are at full amplitude in every sub-block of a block, whatever else is
/// there.
fn fully_present(t: &Track, fits: &[PairAmplitudes; SUBS]) -> bool {
    fits.iter()
        .all(|f| f.low >= COVER_FULL * t.a_ref[0] && f.high >= COVER_FULL * t.a_ref[1])
}

/// Fraction of a sub-block covered by the track's tones, 0 when the pair does not explain the
/// sub-block's energy. A tone covering a fraction `c` of a sub-block, silence elsewhere, is
/// explained only to about `c` by a full-length sinusoid, so a partly covered sub-block needs
/// `FIT_RATIO · c` rather than `FIT_RATIO`.
fn coverage(t: &Track, f: &PairAmplitudes) -> f32 {
    if f.energy <= 0.0 || t.a_ref[0] <= 0.0 || t.a_ref[1] <= 0.0 {
        return 0.0;
    }
    let c = (f.low / t.a_ref[0]).min(f.high / t.a_ref[1]);
    if f.fit_energy < FIT_RATIO * c.min(1.0) * f.energy {
        return 0.0;
    }
    c
}

fn push(events: &mut [DtmfEvent], n: &mut usize, e: DtmfEvent) {
    // `process` checked the slice against `events_max`; a miss here would be a bug in that
    // bound, so drop rather than panic on the media path.
    if let Some(slot) = events.get_mut(*n) {
        *slot = e;
        *n += 1;
    }
}
