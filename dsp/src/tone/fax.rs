//! `FaxToneDetector`: the fax calling tone CNG (1100 Hz) and the answer tone CED (2100 Hz).
//!
//! ITU-T T.30 §5.2: the calling terminal sends CNG, 1100 Hz ± 38 Hz, 0.5 s on and 3 s off; the
//! called terminal answers with CED, 2100 Hz ± 15 Hz, for 2.6 to 4 s (ITU-T V.25's answer tone,
//! which may carry 180° phase reversals every 450 ms, and V.8's ANSam, the same tone amplitude
//! modulated at 15 Hz).
//!
//! Every 20 ms block at 8 kHz, each tone's frequency is *measured* with the one-sample-shift
//! estimator of [`crate::dtmf`] (to about 1 Hz), its power corrected for the window's
//! scalloping, and the block counts as tone if the frequency is within the T.30 tolerance, the
//! level is at least −43 dBm0 (our threshold), and the tone holds at least 70 % of the block's
//! energy (speech and music do not). One missing block inside a run is bridged, for the phase
//! reversals.
//!
//! * **CNG** is reported when a run of 1100 Hz blocks ends with a duration of 380 … 640 ms
//!   (0.5 s ± 15 % plus a block of measurement slack): a single burst suffices, and a longer
//!   1100 Hz tone is not CNG.
//! * **CED** is reported once per run, as soon as 2100 Hz has lasted 500 ms: well inside the
//!   2.6 s minimum, so a gateway can switch to T.38 or disable its echo canceller early.
//!
//! Real-time: `new` allocates nothing large; `process` never allocates.

use super::blocks::BlockFeeder;
use super::{ToneError, dbm0_to_mean_square};
use crate::dtmf::goertzel::{BLOCK, FreqEstimator, energy, hann_gain};

/// Which fax tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaxTone {
    /// Calling tone, 1100 Hz (T.30).
    Cng,
    /// Called-terminal identification / answer tone, 2100 Hz (T.30, V.25).
    Ced,
}

/// A detected fax tone. Times are input samples on the caller's timestamp scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaxToneEvent {
    /// CNG or CED.
    pub tone: FaxTone,
    /// Timestamp where the tone started.
    pub start: u64,
    /// Duration measured: the whole burst for CNG, the time until detection for CED.
    pub duration: u32,
}

impl Default for FaxToneEvent {
    fn default() -> Self {
        Self {
            tone: FaxTone::Cng,
            start: 0,
            duration: 0,
        }
    }
}

const NOMINAL_HZ: [f32; 2] = [1100.0, 2100.0];
const TOLERANCE_HZ: [f32; 2] = [38.0, 15.0];
const MIN_LEVEL_DBM0: f64 = -43.0;
const TONE_RATIO: f32 = 0.7;
/// Blocks of absence bridged inside a run.
const MAX_MISSES: u32 = 1;
/// CNG burst duration window, in blocks of 20 ms.
const CNG_MIN_BLOCKS: u64 = 19;
const CNG_MAX_BLOCKS: u64 = 32;
/// CED detection delay, in blocks.
const CED_BLOCKS: u64 = 25;

#[derive(Debug, Clone, Copy, Default)]
struct Run {
    active: bool,
    first: u64,
    last: u64,
    misses: u32,
    reported: bool,
}

#[derive(Debug, Clone)]
struct State {
    estimators: [FreqEstimator; 2],
    min_ms: f32,
    runs: [Run; 2],
}

/// Detector of CNG and CED (see the module documentation).
#[derive(Debug, Clone)]
pub struct FaxToneDetector {
    feeder: BlockFeeder,
    state: Box<State>,
}

impl FaxToneDetector {
    /// Builds a detector for 8000 or 16000 Hz input.
    ///
    /// # Errors
    ///
    /// [`ToneError::UnsupportedSampleRate`].
    pub fn new(sample_rate_hz: u32) -> Result<Self, ToneError> {
        Ok(Self {
            feeder: BlockFeeder::new(sample_rate_hz)?,
            state: Box::new(State {
                estimators: [
                    FreqEstimator::new(NOMINAL_HZ[0]),
                    FreqEstimator::new(NOMINAL_HZ[1]),
                ],
                min_ms: dbm0_to_mean_square(MIN_LEVEL_DBM0) as f32,
                runs: [Run::default(); 2],
            }),
        })
    }

    /// The largest number of events one `process` call with `samples` samples can write.
    pub fn events_max(&self, samples: usize) -> usize {
        2 * (samples / self.feeder.block_input_len() + 1)
    }

    /// Processes `pcm` (first sample at `timestamp`), writing events into `events`; returns
    /// how many. A timestamp jump restarts detection. Never allocates.
    ///
    /// # Errors
    ///
    /// [`ToneError::EventBufferTooSmall`] when `events` is shorter than
    /// [`events_max(pcm.len())`](Self::events_max); nothing is processed then.
    pub fn process(
        &mut self,
        timestamp: u64,
        pcm: &[i16],
        events: &mut [FaxToneEvent],
    ) -> Result<usize, ToneError> {
        let needed = self.events_max(pcm.len());
        if events.len() < needed {
            return Err(ToneError::EventBufferTooSmall {
                needed,
                got: events.len(),
            });
        }
        if self.feeder.begin(timestamp) {
            self.state.runs = [Run::default(); 2];
        }
        let map = self.feeder.time_map();
        let Self { feeder, state } = self;
        let mut n = 0;
        feeder.feed(pcm, |block, index| {
            for (tone, first, blocks) in state.block(block, index).into_iter().flatten() {
                if let Some(slot) = events.get_mut(n) {
                    *slot = FaxToneEvent {
                        tone,
                        start: map.timestamp_of(first * BLOCK as u64),
                        duration: map.input_samples(blocks * BLOCK as u64),
                    };
                    n += 1;
                }
            }
        });
        Ok(n)
    }
}

impl State {
    /// Classifies one block; returns up to two detections `(tone, first block, blocks)`.
    fn block(&mut self, x: &[f32; BLOCK], index: u64) -> [Option<(FaxTone, u64, u64)>; 2] {
        let total = energy(x) / BLOCK as f32;
        let mut out = [None, None];
        for k in 0..2 {
            let present = total >= self.min_ms && {
                let e = self.estimators[k].estimate(x);
                let off = e.freq_hz - NOMINAL_HZ[k];
                let p = e.tone_ms / hann_gain(off).powi(2);
                off.abs() <= TOLERANCE_HZ[k] && p >= self.min_ms && p >= TONE_RATIO * total
            };
            let run = &mut self.runs[k];
            if present {
                if !run.active {
                    *run = Run {
                        active: true,
                        first: index,
                        last: index,
                        misses: 0,
                        reported: false,
                    };
                }
                run.last = index;
                run.misses = 0;
                let blocks = run.last - run.first + 1;
                if k == 1 && !run.reported && blocks >= CED_BLOCKS {
                    run.reported = true;
                    out[k] = Some((FaxTone::Ced, run.first, blocks));
                }
            } else if run.active {
                run.misses += 1;
                if run.misses > MAX_MISSES {
                    let blocks = run.last - run.first + 1;
                    if k == 0 && (CNG_MIN_BLOCKS..=CNG_MAX_BLOCKS).contains(&blocks) {
                        out[k] = Some((FaxTone::Cng, run.first, blocks));
                    }
                    *run = Run::default();
                }
            }
        }
        out
    }
}
