//! `CallProgressDetector`: recognises a country's dial, ringback, busy and congestion tones
//! (tables in [`super::tables`]) by frequency and cadence.
//!
//! Two measurements, each at the resolution it needs:
//!
//! * **Timing** from the energy envelope of 20 ms blocks. A block starts a tone when its energy
//!   reaches the level threshold (−40 dBm0 by default) and a quarter of the previous tone's
//!   level; the tone ends at the first block below a quarter of its own level. Edges are placed
//!   inside their block by the block's energy fraction (a block half covered by the tone has half
//!   the tone's energy), so on and off times are measured to a few ms, far finer than the
//!   ±20 % (at least ±50 ms) cadence tolerance used for matching (E.180 §3 allows cadence
//!   tolerances of this order).
//! * **Identity** from 100 ms Hann-windowed Goertzel filters (10 Hz bins) at the country's tone
//!   frequencies, accumulated over the windows that lie wholly inside a tone burst. A burst's
//!   frequency set is the table entry whose frequencies hold at least 60 % of the accumulated
//!   energy (each component at least 15 %): 440 + 480 Hz is told from 350 + 440 Hz, and UK
//!   ringing (400 + 450 Hz) from UK dial tone (350 + 440 Hz).
//!
//! A cadenced tone is recognised when the last bursts with their pauses match its cadence
//! within the tolerance, starting anywhere in the pattern: twice round for periods under 2 s
//! (busy, congestion; UK congestion's two-part cadence is told from UK busy this way), once for
//! longer ones (ringback), so recognition takes one to two periods. Dial tone is recognised when a
//! burst with its frequencies has lasted longer than any cadenced tone of the same frequencies
//! can (1 s, or the longest on-time of a same-frequency tone plus 0.5 s). Each recognition is
//! reported once until the pattern changes or stops; a pause longer than 6 s clears the history.
//! Speech during the pauses breaks the cadence and delays recognition; it does not cause a false
//! one unless it is itself a steady tone at the table's frequencies.
//!
//! Real-time: `new` allocates the window and buffers; `process` never allocates. Cost: one sum
//! of squares per block while silent, plus four 800-point Goertzel filters per block inside a
//! tone.

use super::blocks::BlockFeeder;
use super::generator::{Cadence, ToneSpec};
use super::tables::{CallProgressTone, Country};
use super::{ToneError, dbm0_to_mean_square};
use crate::dtmf::goertzel::{BLOCK, FS_HZ, energy};

/// Identity window: 100 ms at 8 kHz.
const WINDOW: usize = 800;
/// Bursts and pauses remembered for cadence matching.
const HISTORY: usize = 8;
/// Tone ends below this fraction of its level; a new tone must reach it of the previous one.
const EDGE_RATIO: f32 = 0.25;
/// A burst's frequency set must hold this fraction of its energy.
const SET_RATIO: f32 = 0.6;
/// Each component of a set must hold this fraction of the burst's energy.
const COMPONENT_RATIO: f32 = 0.15;
/// Silence after which the cadence history is forgotten, in 8 kHz samples (6 s).
const FORGET_AFTER: f64 = 6.0 * 8000.0;

/// Configuration of a [`CallProgressDetector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallProgressConfig {
    /// Input sample rate: 8000 or 16000.
    pub sample_rate_hz: u32,
    /// The tone table to recognise.
    pub country: Country,
    /// Minimum level of a tone (all components together), dBm0 (−60 … 0). Default −40.
    pub min_level_dbm0: f32,
}

impl CallProgressConfig {
    /// Narrowband detection of `country`'s tones.
    pub fn new(country: Country) -> Self {
        Self {
            sample_rate_hz: 8000,
            country,
            min_level_dbm0: -40.0,
        }
    }
}

/// A recognised call-progress tone. Times are input samples on the caller's timestamp scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallProgressEvent {
    /// Which tone.
    pub tone: CallProgressTone,
    /// Start of the first burst of the matched pattern.
    pub start: u64,
    /// When the recognition was made (the end of the block that completed it).
    pub detected_at: u64,
}

impl Default for CallProgressEvent {
    fn default() -> Self {
        Self {
            tone: CallProgressTone::Dial,
            start: 0,
            detected_at: 0,
        }
    }
}

/// A completed burst and the pause after it.
#[derive(Debug, Clone, Copy, Default)]
struct Burst {
    set: Option<usize>,
    start: f64,
    on_ms: f64,
    off_ms: f64,
}

#[derive(Debug, Clone)]
struct State {
    country: Country,
    /// Goertzel coefficients of the table's distinct frequencies.
    coefs: [f32; 4],
    n_freqs: usize,
    /// Frequency sets: indices into `freqs`, per distinct set.
    sets: [[usize; 2]; 4],
    set_len: [usize; 4],
    n_sets: usize,
    /// Set index of each table tone (dial, ringback, busy, congestion).
    tone_set: [usize; 4],
    dial_after: f64,
    min_ms: f32,

    window: Box<[f32; WINDOW]>,
    ring: Box<[f32; WINDOW]>,
    ring_pos: usize,

    on: bool,
    /// Start of the current burst (on) or pause (off).
    edge: f64,
    /// Energy of the block that started the burst, for refining `edge`.
    onset_energy: f32,
    onset_refined: bool,
    level: f32,
    last_level: f32,
    acc: [f32; 4],
    acc_total: f32,
    dial_reported: bool,

    /// The burst that ended, waiting for its pause to end.
    pending: Option<Burst>,
    history: [Burst; HISTORY],
    history_len: usize,
    last_reported: Option<CallProgressTone>,
}

/// Recognises call-progress tones (see the module documentation).
#[derive(Debug, Clone)]
pub struct CallProgressDetector {
    feeder: BlockFeeder,
    state: Box<State>,
}

impl CallProgressDetector {
    /// Builds a detector.
    ///
    /// # Errors
    ///
    /// [`ToneError::UnsupportedSampleRate`], or [`ToneError::InvalidConfig`] for a level out of
    /// range.
    pub fn new(config: CallProgressConfig) -> Result<Self, ToneError> {
        let feeder = BlockFeeder::new(config.sample_rate_hz)?;
        if !(-60.0..=0.0).contains(&config.min_level_dbm0) {
            return Err(ToneError::InvalidConfig {
                field: "min_level_dbm0",
            });
        }
        let specs: [ToneSpec; 4] = CallProgressTone::ALL.map(|t| config.country.tone(t));
        let mut freqs = [0.0f32; 4];
        let mut n_freqs = 0;
        for s in &specs {
            for &f in s.frequencies() {
                if !freqs[..n_freqs].contains(&f) {
                    freqs[n_freqs] = f;
                    n_freqs += 1;
                }
            }
        }
        let mut sets = [[0usize; 2]; 4];
        let mut set_len = [0usize; 4];
        let mut n_sets = 0;
        let mut tone_set = [0usize; 4];
        for (t, s) in specs.iter().enumerate() {
            let mut idx = [0usize; 2];
            let fs = s.frequencies();
            for (i, f) in fs.iter().enumerate() {
                idx[i] = freqs[..n_freqs].iter().position(|g| g == f).unwrap_or(0);
            }
            let existing = (0..n_sets)
                .find(|&k| set_len[k] == fs.len() && sets[k][..fs.len()] == idx[..fs.len()]);
            tone_set[t] = match existing {
                Some(k) => k,
                None => {
                    sets[n_sets] = idx;
                    set_len[n_sets] = fs.len();
                    n_sets += 1;
                    n_sets - 1
                }
            };
        }
        // Dial tone must outlast every cadenced burst of the same frequencies.
        let mut dial_ms = 1000.0f64;
        for t in 1..4 {
            if tone_set[t] == tone_set[0] {
                if let Cadence::Repeat(pairs) = specs[t].cadence {
                    for &(on, _) in pairs {
                        dial_ms = dial_ms.max(f64::from(on) + 500.0);
                    }
                }
            }
        }
        let mut coefs = [0.0f32; 4];
        for k in 0..n_freqs {
            coefs[k] = (2.0
                * (2.0 * std::f64::consts::PI * f64::from(freqs[k]) / f64::from(FS_HZ)).cos())
                as f32;
        }
        let mut window = Box::new([0.0f32; WINDOW]);
        for (i, w) in window.iter_mut().enumerate() {
            *w = (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / WINDOW as f64).cos()) as f32;
        }
        Ok(Self {
            feeder,
            state: Box::new(State {
                country: config.country,
                coefs,
                n_freqs,
                sets,
                set_len,
                n_sets,
                tone_set,
                dial_after: dial_ms * 8.0,
                min_ms: dbm0_to_mean_square(f64::from(config.min_level_dbm0)) as f32,
                window,
                ring: Box::new([0.0; WINDOW]),
                ring_pos: 0,
                on: false,
                edge: 0.0,
                onset_energy: 0.0,
                onset_refined: false,
                level: 0.0,
                last_level: 0.0,
                acc: [0.0; 4],
                acc_total: 0.0,
                dial_reported: false,
                pending: None,
                history: [Burst::default(); HISTORY],
                history_len: 0,
                last_reported: None,
            }),
        })
    }

    /// The country whose tones are recognised.
    pub fn country(&self) -> Country {
        self.state.country
    }

    /// The largest number of events one `process` call with `samples` samples can write.
    pub fn events_max(&self, samples: usize) -> usize {
        samples / self.feeder.block_input_len() + 1
    }

    /// Processes `pcm` (first sample at `timestamp`), writing recognitions into `events`;
    /// returns how many. A timestamp jump restarts detection. Never allocates.
    ///
    /// # Errors
    ///
    /// [`ToneError::EventBufferTooSmall`] when `events` is shorter than
    /// [`events_max(pcm.len())`](Self::events_max); nothing is processed then.
    pub fn process(
        &mut self,
        timestamp: u64,
        pcm: &[i16],
        events: &mut [CallProgressEvent],
    ) -> Result<usize, ToneError> {
        let needed = self.events_max(pcm.len());
        if events.len() < needed {
            return Err(ToneError::EventBufferTooSmall {
                needed,
                got: events.len(),
            });
        }
        if self.feeder.begin(timestamp) {
            self.state.restart();
        }
        let map = self.feeder.time_map();
        let Self { feeder, state } = self;
        let mut n = 0;
        feeder.feed(pcm, |block, index| {
            if let Some((tone, start)) = state.block(block, index) {
                if let Some(slot) = events.get_mut(n) {
                    *slot = CallProgressEvent {
                        tone,
                        start: map.timestamp_of(start.max(0.0).round() as u64),
                        detected_at: map.timestamp_of((index + 1) * BLOCK as u64),
                    };
                    n += 1;
                }
            }
        });
        Ok(n)
    }
}

impl State {
    fn restart(&mut self) {
        self.ring.fill(0.0);
        self.ring_pos = 0;
        self.on = false;
        self.edge = 0.0;
        self.level = 0.0;
        self.last_level = 0.0;
        self.acc = [0.0; 4];
        self.acc_total = 0.0;
        self.dial_reported = false;
        self.pending = None;
        self.history_len = 0;
        self.last_reported = None;
    }

    /// Handles one block; returns a recognition `(tone, start position)`.
    fn block(&mut self, x: &[f32; BLOCK], index: u64) -> Option<(CallProgressTone, f64)> {
        let start = (index * BLOCK as u64) as f64;
        let end = start + BLOCK as f64;
        for &s in x {
            self.ring[self.ring_pos] = s;
            self.ring_pos = (self.ring_pos + 1) % WINDOW;
        }
        let e = energy(x) / BLOCK as f32;
        let mut found = None;

        if !self.on {
            let loud =
                e >= self.min_ms && (self.last_level == 0.0 || e >= EDGE_RATIO * self.last_level);
            if loud {
                self.on = true;
                self.edge = end - BLOCK as f64;
                self.onset_energy = e;
                self.onset_refined = false;
                self.level = e;
                self.acc = [0.0; 4];
                self.acc_total = 0.0;
                self.dial_reported = false;
                if let Some(mut b) = self.pending.take() {
                    b.off_ms = (self.edge - (b.start + b.on_ms * 8.0)) / 8.0;
                    found = self.push_burst(b);
                }
            } else if self
                .pending
                .is_some_and(|b| start - (b.start + b.on_ms * 8.0) > FORGET_AFTER)
            {
                self.pending = None;
                self.history_len = 0;
                self.last_reported = None;
                self.last_level = 0.0;
            }
            return found;
        }

        if e < EDGE_RATIO * self.level {
            // The burst ended inside this block, after the fraction of it that is still tone.
            let off_at = start + (e / self.level).min(1.0) as f64 * BLOCK as f64;
            let burst = Burst {
                set: self.best_set(),
                start: self.edge,
                on_ms: (off_at - self.edge) / 8.0,
                off_ms: 0.0,
            };
            self.on = false;
            self.last_level = self.level;
            self.pending = Some(burst);
            return None;
        }
        if !self.onset_refined {
            // The first block after the onset block is fully covered: place the onset inside
            // the onset block by its energy fraction.
            self.onset_refined = true;
            let c = (self.onset_energy / e).min(1.0) as f64;
            self.edge = start - c * BLOCK as f64;
        }
        self.level = self.level.max(e);
        if end - self.edge >= WINDOW as f64 + BLOCK as f64 {
            self.accumulate();
        }
        if !self.dial_reported && end - self.edge >= self.dial_after {
            let dial_set = self.tone_set[0];
            if self.best_set() == Some(dial_set) {
                self.dial_reported = true;
                self.history_len = 0;
                if self.last_reported != Some(CallProgressTone::Dial) {
                    self.last_reported = Some(CallProgressTone::Dial);
                    found = Some((CallProgressTone::Dial, self.edge));
                }
            }
        }
        found
    }

    /// Adds the powers of the last 100 ms at the table's frequencies.
    fn accumulate(&mut self) {
        let mut xw = [0.0f32; WINDOW];
        let (older, newer) = self.ring.split_at(self.ring_pos);
        for ((o, &s), &w) in xw
            .iter_mut()
            .zip(newer.iter().chain(older.iter()))
            .zip(self.window.iter())
        {
            *o = s * w;
        }
        for k in 0..self.n_freqs {
            let c = self.coefs[k];
            let (mut s1, mut s2) = (0.0f32, 0.0f32);
            for &v in &xw {
                let s0 = v + c * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            // |X|² of a Goertzel filter; a tone A·cos gives (A·Σw/2)².
            self.acc[k] += s1 * s1 + s2 * s2 - c * s1 * s2;
        }
        // Same scale: a tone A·cos has Σ(w·x)² = A²/2 · Σw², and (A·Σw/2)² = A²·Σw²·(Σw)²/(4Σw²).
        let sum_w = WINDOW as f32 / 2.0;
        let sum_w2 = WINDOW as f32 * 3.0 / 8.0;
        self.acc_total += energy(&xw) * sum_w * sum_w / (2.0 * sum_w2);
    }

    /// The frequency set that explains the accumulated energy, if any.
    fn best_set(&self) -> Option<usize> {
        if self.acc_total <= 0.0 {
            return None;
        }
        let mut best = None;
        let mut best_score = SET_RATIO;
        for s in 0..self.n_sets {
            let comps = &self.sets[s][..self.set_len[s]];
            if comps
                .iter()
                .any(|&k| self.acc[k] < COMPONENT_RATIO * self.acc_total)
            {
                continue;
            }
            let score: f32 = comps.iter().map(|&k| self.acc[k]).sum::<f32>() / self.acc_total;
            if score >= best_score {
                best_score = score;
                best = Some(s);
            }
        }
        best
    }

    /// Records a burst and its pause; returns a cadence recognition.
    fn push_burst(&mut self, b: Burst) -> Option<(CallProgressTone, f64)> {
        if self.history_len == HISTORY {
            self.history.copy_within(1.., 0);
            self.history_len -= 1;
        }
        self.history[self.history_len] = b;
        self.history_len += 1;

        let mut best: Option<(CallProgressTone, usize)> = None;
        for tone in [
            CallProgressTone::Ringback,
            CallProgressTone::Busy,
            CallProgressTone::Congestion,
        ] {
            let Cadence::Repeat(pattern) = self.country.tone(tone).cadence else {
                continue;
            };
            let set = self.tone_set[tone as usize];
            let period: u32 = pattern.iter().map(|&(a, b)| a + b).sum();
            let k = pattern.len() * if period < 2000 { 2 } else { 1 };
            if self.history_len < k {
                continue;
            }
            let recent = &self.history[self.history_len - k..self.history_len];
            if recent.iter().any(|b| b.set != Some(set)) {
                continue;
            }
            let matches = (0..pattern.len()).any(|r| {
                recent.iter().enumerate().all(|(i, b)| {
                    let (on, off) = pattern[(r + i) % pattern.len()];
                    close(b.on_ms, on) && close(b.off_ms, off)
                })
            });
            if matches && best.is_none_or(|(_, bk)| k > bk) {
                best = Some((tone, k));
            }
        }
        match best {
            Some((tone, k)) => {
                if self.last_reported == Some(tone) {
                    return None;
                }
                self.last_reported = Some(tone);
                Some((tone, self.history[self.history_len - k].start))
            }
            None => {
                self.last_reported = None;
                None
            }
        }
    }
}

/// Cadence tolerance: ±20 %, at least ±50 ms.
fn close(measured_ms: f64, nominal_ms: u32) -> bool {
    let nominal = f64::from(nominal_ms);
    (measured_ms - nominal).abs() <= (0.2 * nominal).max(50.0)
}
