//! The conference mixer: mix-minus over the top-N talkers, with per-participant gain, mute and
//! deaf, a soft limiter, and outputs shared by every listener who hears the same mix.
//!
//! # The model
//!
//! A room has up to `max_participants` participants and up to `max_talkers` talker *seats*
//! (default 3). Each tick (one frame of `frame_samples` at the room rate) the runtime
//! [`submits`](Mixer::submit) the participants who have audio worth mixing (in practice those
//! whose [`crate::talk::TalkDetector`] declares talk), with their talk level. The mixer seats
//! the loudest of them with hysteresis (see [`talkers`]), asks for the PCM of the seated
//! talkers only, and produces:
//!
//! - one **common mix**, [`OutputId::COMMON`]: the limited sum of every seated talker, which
//!   every participant who is not seated hears, and
//! - one **minus mix** per seated talker: the same sum minus that talker's own contribution
//!   (mix-minus, as Asterisk's softmix does it: sum once, subtract each talker).
//!
//! [`Mixer::output_of`] tells which output a participant receives. At most `1 + max_talkers`
//! outputs exist, however many participants there are, so the runtime encodes once per
//! (output, codec) and sends the same payload to every listener of that output; a room of
//! thousands with three talkers costs three accumulations, four output passes, and one encode
//! per codec for its silent majority. An output id stays the same for as long as a talker keeps
//! its seat, so per-output encoder state (G.722, Opus) stays continuous.
//!
//! # Rates
//!
//! The mixer works at the room rate ([`MixerConfig::rate_hz`], one of 8, 12, 16, 24, 32 or
//! 48 kHz) and nothing else: participants at other rates are resampled by the caller, before
//! [`Mixer::submit`] and after reading an output (the runtime uses
//! `tandem_codecs::resample::Resampler`). Talk levels are comparable across rates.
//!
//! # Gain, mute, deaf
//!
//! - [`Gain`] scales a participant's contribution (what others hear of them), from silence to
//!   +12 dB, in Q12 fixed point; unity is exact. There is no per-listener gain: it would give
//!   every listener a mix of their own and defeat the shared encode.
//! - A **muted** participant's submissions are ignored and a muted talker leaves its seat at
//!   once: their audio is never mixed. They still hear the room.
//! - A **deaf** participant receives nothing: [`Mixer::output_of`] returns `None`, and a deaf
//!   talker's minus mix is not even computed. Others still hear them.
//!
//! # Clipping
//!
//! Sums are accumulated in `i32` and narrowed through a per-output [`Limiter`]: exact below
//! -6 dBFS, a smooth gain envelope above, never beyond -0.2 dBFS and never wrapping. A talker's
//! seat limiter starts from the common mix's state when the talker sits down. When the
//! talkers' peaks prove that no sum can pass -6 dBFS (most ticks of a conversation), the tick
//! is mixed in `i16` instead, bit-identical and several times faster (the private
//! `mix_minus` module documents both paths).
//!
//! # A tick
//!
//! ```
//! use tandem_dsp::mixer::{Mixer, MixerConfig, OutputId};
//!
//! let mut mixer = Mixer::new(MixerConfig::new(8000, 160, 1000)).unwrap();
//! let alice = mixer.add_participant().unwrap();
//! let bob = mixer.add_participant().unwrap();
//! let carol = mixer.add_participant().unwrap();
//! // Decoded 20 ms frames; in the runtime these live in each leg's own buffer.
//! let alice_pcm = [1000i16; 160];
//! let bob_pcm = [-300i16; 160];
//!
//! // Per tick: submit who talks (with the talk detector's level), then mix.
//! mixer.submit(alice, -20.0).unwrap();
//! mixer.submit(bob, -26.0).unwrap();
//! mixer.mix_with(|id| {
//!     if id == alice { Some(&alice_pcm[..]) } else if id == bob { Some(&bob_pcm[..]) } else { None }
//! }).unwrap();
//!
//! // Encode each distinct output once per codec, then route.
//! assert_eq!(mixer.outputs().count(), 3);
//! assert_eq!(mixer.output_of(carol).unwrap(), Some(OutputId::COMMON));
//! assert_eq!(mixer.output(OutputId::COMMON)[0], 700);
//! let alice_hears = mixer.output_of(alice).unwrap().unwrap();
//! assert_eq!(mixer.output(alice_hears)[0], -300);
//! ```
//!
//! # Real-time
//!
//! [`Mixer::new`] allocates everything: the participant table, the submission list, the
//! accumulator and the outputs. [`Mixer::add_participant`] and [`Mixer::remove_participant`]
//! only reuse that capacity (and fail with [`MixerError::Full`] when it is used up);
//! [`Mixer::submit`], [`Mixer::mix_with`], [`Mixer::mix`] and every accessor never allocate,
//! lock, log or make system calls (`dsp/tests/mixer_no_alloc.rs` checks this with a counting
//! allocator). A tick costs `O(submissions × max_talkers)` for selection plus about two passes
//! over the frame per talker and one per output for mixing; participants who did not submit
//! cost nothing, so a room of 1,000 mixes as fast as a room of 10.

mod kernels;
pub mod limiter;
mod mix_minus;
pub mod talkers;

pub use limiter::Limiter;

use kernels::UNITY_Q12;
use talkers::{Candidate, SeatChange, Talkers};

/// Most talker seats a room may have.
pub const MAX_TALKERS: usize = 16;
/// Most participants a room may have.
pub const MAX_PARTICIPANTS: usize = 1 << 20;
/// Longest frame, in milliseconds.
pub const MAX_FRAME_MS: usize = 120;
/// Room rates the mixer accepts, in Hz.
pub const SUPPORTED_RATES_HZ: [u32; 6] = [8000, 12000, 16000, 24000, 32000, 48000];

/// Configuration of a [`Mixer`]. Start from [`MixerConfig::new`] and adjust.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MixerConfig {
    /// The room rate, in Hz: every input and output is at this rate.
    pub rate_hz: u32,
    /// Samples per frame (per tick) at the room rate: a whole number of milliseconds, at most
    /// [`MAX_FRAME_MS`].
    pub frame_samples: usize,
    /// Capacity of the participant table.
    pub max_participants: usize,
    /// Talker seats, 1..=[`MAX_TALKERS`]. Default 3.
    pub max_talkers: usize,
    /// How long a seated talker who stops submitting keeps the seat, in ms. Default 200 ms.
    pub hold_ms: u32,
    /// How much louder, in dB, a newcomer must be than the weakest seated talker to replace it
    /// when every seat is taken. Default 6 dB.
    pub replace_margin_db: f32,
}

impl MixerConfig {
    /// The default configuration for a room at `rate_hz` with `frame_samples` per tick and room
    /// for `max_participants`.
    pub const fn new(rate_hz: u32, frame_samples: usize, max_participants: usize) -> Self {
        Self {
            rate_hz,
            frame_samples,
            max_participants,
            max_talkers: 3,
            hold_ms: 200,
            replace_margin_db: 6.0,
        }
    }
}

/// A [`MixerConfig`] the mixer cannot run with.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MixerConfigError {
    /// The rate is not one of [`SUPPORTED_RATES_HZ`].
    #[error(
        "the mixer does not run at {rate_hz} Hz (supported: 8000, 12000, 16000, 24000, 32000, 48000)"
    )]
    UnsupportedRate {
        /// The rate asked for, in Hz.
        rate_hz: u32,
    },
    /// The frame is empty, not a whole number of milliseconds, or longer than
    /// [`MAX_FRAME_MS`].
    #[error("a frame of {frame_samples} samples at {rate_hz} Hz is not 1..=120 whole milliseconds")]
    FrameSamples {
        /// The frame length asked for.
        frame_samples: usize,
        /// The room rate, in Hz.
        rate_hz: u32,
    },
    /// `max_participants` is 0 or above [`MAX_PARTICIPANTS`].
    #[error("max_participants = {0} is out of range (1..=1048576)")]
    MaxParticipants(usize),
    /// `max_talkers` is 0 or above [`MAX_TALKERS`].
    #[error("max_talkers = {0} is out of range (1..=16)")]
    MaxTalkers(usize),
    /// `replace_margin_db` is negative or not finite.
    #[error("replace_margin_db = {0} must be a finite, non-negative number of dB")]
    ReplaceMargin(f32),
}

/// A run-time error of the mixer. `Copy`, carries numbers, and maps to a stable counter label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MixerError {
    /// Every participant slot is taken; the caller rejects the join.
    #[error("the room is full ({max_participants} participants)")]
    Full {
        /// The room's capacity.
        max_participants: usize,
    },
    /// The id was never issued by this mixer or its participant has left: a caller bug.
    #[error("participant {0:?} is not in this room")]
    UnknownParticipant(ParticipantId),
    /// A seated talker's PCM frame has the wrong length: a caller bug (a missed resample or
    /// packet-time mismatch). Nothing was mixed this tick; every output is silence.
    #[error("participant {participant:?} gave {actual} samples, the frame is {expected}")]
    FrameLength {
        /// Whose frame.
        participant: ParticipantId,
        /// The room's frame length.
        expected: usize,
        /// The length given.
        actual: usize,
    },
}

impl MixerError {
    /// Stable label for `tandem_mixer_errors_total{reason="…"}`.
    pub const fn label(&self) -> &'static str {
        match self {
            Self::Full { .. } => "full",
            Self::UnknownParticipant(_) => "unknown_participant",
            Self::FrameLength { .. } => "frame_length",
        }
    }
}

/// A participant of one [`Mixer`]: a slot index plus a generation, so an id kept after
/// [`Mixer::remove_participant`] is refused rather than confused with a newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParticipantId {
    index: u32,
    generation: u32,
}

impl ParticipantId {
    /// The slot index, below `max_participants`: dense, so callers can keep per-participant
    /// tables in plain vectors. Reused after the participant leaves.
    pub const fn index(self) -> usize {
        self.index as usize
    }
}

/// One of the mixer's outputs: [`OutputId::COMMON`] or a talker seat's minus mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OutputId(u8);

impl OutputId {
    /// The mix every participant who is not seated as a talker hears.
    pub const COMMON: OutputId = OutputId(0);

    /// Dense index, `0..Mixer::outputs_max()`: 0 is the common mix, `1 + seat` a seat's
    /// minus mix. Suitable for indexing per-output encoder tables.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A participant's contribution gain, from silence to +12 dB, in Q12 fixed point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gain(u16);

impl Gain {
    /// 0 dB: the participant's samples enter the mix unchanged.
    pub const UNITY: Gain = Gain(UNITY_Q12 as u16);
    /// The largest gain, in dB.
    pub const MAX_DB: f32 = 12.0;
    const MAX_Q12: u16 = 16_384;

    /// The gain for `db` decibels; `None` above [`Gain::MAX_DB`] or for NaN. Very low values
    /// (and `-inf`) round to silence.
    pub fn from_db(db: f32) -> Option<Gain> {
        if db.is_nan() || db > Self::MAX_DB + 1e-3 {
            return None;
        }
        let q12 = (f32::from(Self::UNITY.0) * 10f32.powf(db / 20.0)).round();
        Some(Gain(q12.min(f32::from(Self::MAX_Q12)) as u16))
    }

    /// The gain whose Q12 value (4096 = unity) is `q12`; `None` above 16384 (+12 dB).
    pub const fn from_q12(q12: u16) -> Option<Gain> {
        if q12 <= Self::MAX_Q12 {
            Some(Gain(q12))
        } else {
            None
        }
    }

    /// The Q12 value: a contribution is `(sample * q12) >> 12`.
    pub const fn q12(self) -> u16 {
        self.0
    }
}

/// One talker's frame for [`Mixer::mix`].
#[derive(Debug, Clone, Copy)]
pub struct TalkerFrame<'a> {
    /// Whose frame.
    pub participant: ParticipantId,
    /// The talk level, as [`crate::talk::TalkDetector::level_dbov`] reports it.
    pub level_dbov: f32,
    /// `frame_samples` of PCM at the room rate.
    pub pcm: &'a [i16],
}

/// What one tick produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MixSummary {
    /// Seated talkers whose audio was mixed.
    pub talkers: usize,
    /// Distinct outputs to encode: the common mix plus one per seated, non-deaf talker.
    pub outputs: usize,
    /// Outputs whose limiter reduced the gain this tick.
    pub limited: usize,
}

#[derive(Debug, Clone, Copy)]
struct Participant {
    generation: u32,
    in_use: bool,
    gain_q12: i16,
    muted: bool,
    deaf: bool,
    seat: Option<u8>,
    /// The tick of this participant's latest submission, and where it sits in the list.
    submitted_tick: u64,
    candidate: u32,
}

/// Per-output facts of the last tick.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct OutputState {
    live: bool,
    silent: bool,
}

/// The conference mixer of one room. See the module docs.
#[derive(Debug)]
pub struct Mixer {
    config: MixerConfig,
    participants: Vec<Participant>,
    /// Free slab indices, popped from the end.
    free: Vec<u32>,
    candidates: Vec<Candidate>,
    /// Ticks mixed so far: tells this tick's submissions from older ones.
    tick: u64,
    talkers: Talkers,
    work: mix_minus::Work,
    /// `1 + max_talkers` outputs of `frame_samples`, back to back.
    outputs: Vec<i16>,
    output_state: Vec<OutputState>,
    limiters: Vec<Limiter>,
}

impl Mixer {
    /// Builds a mixer; allocates every buffer it will use.
    ///
    /// # Errors
    /// [`MixerConfigError`] when a setting is out of range.
    pub fn new(config: MixerConfig) -> Result<Self, MixerConfigError> {
        if !SUPPORTED_RATES_HZ.contains(&config.rate_hz) {
            return Err(MixerConfigError::UnsupportedRate {
                rate_hz: config.rate_hz,
            });
        }
        let sub_block = config.rate_hz as usize / 1000;
        let frame = config.frame_samples;
        if frame == 0 || frame % sub_block != 0 || frame / sub_block > MAX_FRAME_MS {
            return Err(MixerConfigError::FrameSamples {
                frame_samples: frame,
                rate_hz: config.rate_hz,
            });
        }
        if config.max_participants == 0 || config.max_participants > MAX_PARTICIPANTS {
            return Err(MixerConfigError::MaxParticipants(config.max_participants));
        }
        if config.max_talkers == 0 || config.max_talkers > MAX_TALKERS {
            return Err(MixerConfigError::MaxTalkers(config.max_talkers));
        }
        if !config.replace_margin_db.is_finite() || config.replace_margin_db < 0.0 {
            return Err(MixerConfigError::ReplaceMargin(config.replace_margin_db));
        }
        let frame_ms = frame / sub_block;
        let hold_frames = (config.hold_ms as usize).div_ceil(frame_ms) as u32;
        let outputs = 1 + config.max_talkers;
        Ok(Self {
            config,
            participants: vec![
                Participant {
                    generation: 0,
                    in_use: false,
                    gain_q12: UNITY_Q12,
                    muted: false,
                    deaf: false,
                    seat: None,
                    submitted_tick: u64::MAX,
                    candidate: 0,
                };
                config.max_participants
            ],
            free: (0..config.max_participants as u32).rev().collect(),
            candidates: Vec::with_capacity(config.max_participants),
            tick: 0,
            talkers: Talkers::new(
                config.max_talkers,
                hold_frames,
                config.replace_margin_db,
                frame_ms as f32,
            ),
            work: mix_minus::Work::new(frame),
            outputs: vec![0; outputs * frame],
            output_state: vec![
                OutputState {
                    live: false,
                    silent: true
                };
                outputs
            ],
            limiters: vec![Limiter::new(config.rate_hz); outputs],
        })
    }

    /// The configuration the mixer was built with.
    pub fn config(&self) -> &MixerConfig {
        &self.config
    }

    /// Most outputs a tick can produce: `1 + max_talkers`. Preallocate encoders per codec for
    /// this many.
    pub fn outputs_max(&self) -> usize {
        1 + self.config.max_talkers
    }

    /// Participants in the room.
    pub fn participant_count(&self) -> usize {
        self.config.max_participants - self.free.len()
    }

    /// Adds a participant with unity gain, neither muted nor deaf. Reuses preallocated
    /// capacity; never allocates.
    ///
    /// # Errors
    /// [`MixerError::Full`] when `max_participants` are already in the room.
    pub fn add_participant(&mut self) -> Result<ParticipantId, MixerError> {
        let index = self.free.pop().ok_or(MixerError::Full {
            max_participants: self.config.max_participants,
        })?;
        let p = &mut self.participants[index as usize];
        p.in_use = true;
        p.gain_q12 = UNITY_Q12;
        p.muted = false;
        p.deaf = false;
        p.seat = None;
        p.submitted_tick = u64::MAX;
        Ok(ParticipantId {
            index,
            generation: p.generation,
        })
    }

    /// Removes a participant; their seat, if any, is freed at once. Never allocates.
    ///
    /// # Errors
    /// [`MixerError::UnknownParticipant`] for an id that is not in the room.
    pub fn remove_participant(&mut self, id: ParticipantId) -> Result<(), MixerError> {
        let p = self.participant_mut(id)?;
        p.in_use = false;
        p.generation = p.generation.wrapping_add(1);
        let seat = p.seat.take();
        if let Some(seat) = seat {
            self.talkers.vacate(seat);
        }
        self.free.push(id.index);
        Ok(())
    }

    /// Sets what others hear of `id`: their contribution is scaled by `gain`.
    ///
    /// # Errors
    /// [`MixerError::UnknownParticipant`] for an id that is not in the room.
    pub fn set_gain(&mut self, id: ParticipantId, gain: Gain) -> Result<(), MixerError> {
        self.participant_mut(id)?.gain_q12 = gain.q12() as i16;
        Ok(())
    }

    /// Mutes or unmutes `id`. A muted participant is never mixed: a seated one leaves its seat
    /// at once, and their submissions are ignored.
    ///
    /// # Errors
    /// [`MixerError::UnknownParticipant`] for an id that is not in the room.
    pub fn set_muted(&mut self, id: ParticipantId, muted: bool) -> Result<(), MixerError> {
        let p = self.participant_mut(id)?;
        p.muted = muted;
        if muted {
            if let Some(seat) = p.seat.take() {
                self.talkers.vacate(seat);
            }
        }
        Ok(())
    }

    /// Makes `id` deaf or not. A deaf participant receives nothing ([`Mixer::output_of`] is
    /// `None`); they are still heard.
    ///
    /// # Errors
    /// [`MixerError::UnknownParticipant`] for an id that is not in the room.
    pub fn set_deaf(&mut self, id: ParticipantId, deaf: bool) -> Result<(), MixerError> {
        let p = self.participant_mut(id)?;
        let was_deaf = std::mem::replace(&mut p.deaf, deaf);
        if was_deaf && !deaf {
            if let Some(seat) = p.seat {
                // Their seat's limiter has not run while they were deaf.
                self.limiters[1 + usize::from(seat)] = self.limiters[0].clone();
            }
        }
        Ok(())
    }

    /// `id`'s gain, mute and deaf settings.
    ///
    /// # Errors
    /// [`MixerError::UnknownParticipant`] for an id that is not in the room.
    pub fn settings(&self, id: ParticipantId) -> Result<(Gain, bool, bool), MixerError> {
        let p = self.participant(id)?;
        Ok((Gain(p.gain_q12 as u16), p.muted, p.deaf))
    }

    /// Offers `id` as a talker for the next [`Mixer::mix_with`], at `level_dbov` (the talk
    /// detector's level; NaN counts as silence). A second submission in the same tick replaces
    /// the first; a muted participant's submission is ignored. Never allocates.
    ///
    /// # Errors
    /// [`MixerError::UnknownParticipant`] for an id that is not in the room.
    pub fn submit(&mut self, id: ParticipantId, level_dbov: f32) -> Result<(), MixerError> {
        let tick = self.tick;
        let next = self.candidates.len() as u32;
        let p = self.participant_mut(id)?;
        if p.muted {
            return Ok(());
        }
        let level_dbov = if level_dbov.is_nan() {
            f32::NEG_INFINITY
        } else {
            level_dbov
        };
        if p.submitted_tick == tick {
            let existing = p.candidate as usize;
            self.candidates[existing].level_dbov = level_dbov;
            return Ok(());
        }
        p.submitted_tick = tick;
        p.candidate = next;
        // Capacity is max_participants and each participant appears at most once per tick,
        // so this push never reallocates.
        self.candidates.push(Candidate {
            index: id.index,
            generation: id.generation,
            level_dbov,
            seat: None,
            done: false,
        });
        Ok(())
    }

    /// Mixes one tick: seats talkers from this tick's submissions, calls `pcm_of` once for each
    /// seated talker (and for nobody else) to borrow their frame, and writes every output.
    /// `pcm_of` returning `None` means the talker has no audio this tick: they are mixed as
    /// silence and keep their seat under the hold rules. Never allocates.
    ///
    /// # Errors
    /// [`MixerError::FrameLength`] when a frame is not `frame_samples` long; every output is
    /// then silence for this tick. Submissions are consumed either way.
    pub fn mix_with<'a, F>(&mut self, mut pcm_of: F) -> Result<MixSummary, MixerError>
    where
        F: FnMut(ParticipantId) -> Option<&'a [i16]>,
    {
        self.select();
        let frame = self.config.frame_samples;
        let mut inputs: [Option<(&'a [i16], i16)>; MAX_TALKERS] = [None; MAX_TALKERS];
        for (seat, held) in self.talkers.seats().iter().enumerate() {
            let Some(held) = held else { continue };
            let p = &self.participants[held.index as usize];
            let id = ParticipantId {
                index: held.index,
                generation: p.generation,
            };
            if let Some(pcm) = pcm_of(id) {
                if pcm.len() != frame {
                    self.silence_all();
                    return Err(MixerError::FrameLength {
                        participant: id,
                        expected: frame,
                        actual: pcm.len(),
                    });
                }
                inputs[seat] = Some((pcm, p.gain_q12));
            }
        }
        let mut deaf = [false; MAX_TALKERS];
        for (seat, held) in self.talkers.seats().iter().enumerate() {
            if let Some(held) = held {
                deaf[seat] = self.participants[held.index as usize].deaf;
            }
        }
        Ok(self.work.mix(
            &inputs[..self.config.max_talkers],
            self.talkers.seats(),
            &deaf[..self.config.max_talkers],
            &mut self.outputs,
            &mut self.output_state,
            &mut self.limiters,
        ))
    }

    /// [`Mixer::submit`] every frame, then [`Mixer::mix_with`] borrowing from `frames`. For
    /// callers that hold their talkers' frames in a slice.
    ///
    /// # Errors
    /// [`MixerError::UnknownParticipant`] if any frame's participant is not in the room
    /// (nothing is submitted or mixed then), and as [`Mixer::mix_with`].
    pub fn mix(&mut self, frames: &[TalkerFrame<'_>]) -> Result<MixSummary, MixerError> {
        for frame in frames {
            self.participant(frame.participant)?;
        }
        for frame in frames {
            self.submit(frame.participant, frame.level_dbov)?;
        }
        self.mix_with(|id| frames.iter().find(|f| f.participant == id).map(|f| f.pcm))
    }

    /// Which output `id` should receive: `Some(OutputId::COMMON)` for listeners, their seat's
    /// minus mix for seated talkers, `None` for deaf participants. Valid until the next tick.
    ///
    /// # Errors
    /// [`MixerError::UnknownParticipant`] for an id that is not in the room.
    pub fn output_of(&self, id: ParticipantId) -> Result<Option<OutputId>, MixerError> {
        let p = self.participant(id)?;
        Ok(match (p.deaf, p.seat) {
            (true, _) => None,
            (false, None) => Some(OutputId::COMMON),
            (false, Some(seat)) => Some(OutputId(1 + seat)),
        })
    }

    /// The last tick's PCM for `output`, `frame_samples` long. An output that was not live
    /// last tick holds silence or stale audio: route by [`Mixer::output_of`].
    ///
    /// # Panics
    /// If `output` is not below [`Mixer::outputs_max`].
    pub fn output(&self, output: OutputId) -> &[i16] {
        let frame = self.config.frame_samples;
        &self.outputs[output.index() * frame..][..frame]
    }

    /// Whether `output` was pure silence last tick (no talkers, or a talker alone hearing
    /// nobody): the caller may send comfort noise or nothing instead of encoding it.
    pub fn is_silent(&self, output: OutputId) -> bool {
        self.output_state
            .get(output.index())
            .is_none_or(|s| s.silent)
    }

    /// The distinct outputs of the last tick: the common mix, then each seated, non-deaf
    /// talker's minus mix. Encode each once per codec.
    pub fn outputs(&self) -> impl Iterator<Item = OutputId> + '_ {
        self.output_state
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, _)| OutputId(i as u8))
    }

    /// The seated talkers and their seats' outputs, in seat order.
    pub fn talkers(&self) -> impl Iterator<Item = (ParticipantId, OutputId)> + '_ {
        self.talkers
            .seats()
            .iter()
            .enumerate()
            .filter_map(|(seat, held)| {
                held.map(|held| {
                    let generation = self.participants[held.index as usize].generation;
                    (
                        ParticipantId {
                            index: held.index,
                            generation,
                        },
                        OutputId(1 + seat as u8),
                    )
                })
            })
    }

    fn participant(&self, id: ParticipantId) -> Result<&Participant, MixerError> {
        self.participants
            .get(id.index as usize)
            .filter(|p| p.in_use && p.generation == id.generation)
            .ok_or(MixerError::UnknownParticipant(id))
    }

    fn participant_mut(&mut self, id: ParticipantId) -> Result<&mut Participant, MixerError> {
        self.participants
            .get_mut(id.index as usize)
            .filter(|p| p.in_use && p.generation == id.generation)
            .ok_or(MixerError::UnknownParticipant(id))
    }

    /// Seats this tick's talkers and consumes the submissions.
    fn select(&mut self) {
        let Self {
            participants,
            candidates,
            talkers,
            limiters,
            ..
        } = self;
        for candidate in candidates.iter_mut() {
            let p = &participants[candidate.index as usize];
            let current = p.in_use && p.generation == candidate.generation && !p.muted;
            candidate.done = !current;
            candidate.seat = p.seat;
        }
        talkers.select(candidates, |change| match change {
            SeatChange::Left { index, .. } => participants[index as usize].seat = None,
            SeatChange::Entered { seat, index } => {
                participants[index as usize].seat = Some(seat);
                limiters[1 + usize::from(seat)] = limiters[0].clone();
            }
        });
        candidates.clear();
        self.tick += 1;
    }

    fn silence_all(&mut self) {
        self.outputs.fill(0);
        for state in &mut self.output_state {
            *state = OutputState {
                live: false,
                silent: true,
            };
        }
        self.output_state[0].live = true;
        for (seat, held) in self.talkers.seats().iter().enumerate() {
            if let Some(held) = held {
                self.output_state[1 + seat].live = !self.participants[held.index as usize].deaf;
            }
        }
    }
}
