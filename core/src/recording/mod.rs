//! Call recording: a [`Tap`] on the worker copies each recorded leg's received audio payloads
//! into a preallocated lock-free ring; the [`Recorder`] thread, on the control plane, drains
//! the rings, decodes and writes WAV files.
//!
//! # What is recorded, and why payloads
//!
//! The tap sits where a leg accepts an RTP packet as media (strict source and every check
//! passed), so it works the same for every session kind: relays and echo (which never decode)
//! as well as transcoders and conference legs. It copies the payload, its RTP timestamp, the
//! codec and the arrival time — a `memcpy` of at most [`CHUNK_PAYLOAD_MAX`] bytes. Decoding
//! happens on the recorder thread: G.711 costs nothing there, every codec the registry builds
//! works, and the file is uniform 16-bit PCM whatever the legs negotiated. Each leg's audio
//! is what that leg *sent* to Tandem, before the leg's mute and block controls
//! ([`crate::session::controls`]) apply; a two-leg call is both sides of the conversation.
//!
//! # Files
//!
//! [`Channels::Stereo`] (the default; what contact centres want) writes one WAV per session
//! with leg A on the left channel and leg B on the right; [`Channels::Mixed`] sums both legs
//! into one channel (rtpengine's "mix" output); [`Channels::Leg`] records one leg, mono. The
//! sample rate is the decoding rate of the first audio recorded (8 kHz for G.711, 16 kHz for
//! G.722 and wideband Opus); a leg of another rate is resampled to it.
//!
//! Audio is placed on the file's timeline by RTP timestamp, anchored at the arrival time of
//! the leg's first packet, so reordering and jitter do not shift it and lost packets become
//! silence. A leg whose timestamps jump (a new source) or that resumes after a pause is
//! re-anchored at its arrival time. The file spans from the first recorded packet to the end
//! of the last one; time spent paused is left out.
//!
//! # Real-time contract
//!
//! The worker side ([`Tap::record`]) never allocates, locks, blocks or makes a system call:
//! the ring ([`crate::bus::spsc`]) is allocated with the tap on the control plane and travels
//! to the worker in [`Command::StartRecording`](crate::bus::Command::StartRecording). A full
//! ring (the recorder is behind) drops the packet and counts it; the count is reported in
//! [`RecordingReport::dropped_frames`]. Start, pause and stop go through the worker's command
//! ring; stopping (or removing the session) hands the tap back to the control plane, and the
//! recorder, seeing the ring abandoned, drains what is left and finishes the file.

pub mod recorder;
pub mod tap;

use std::path::PathBuf;

use crate::session::{LegId, SessionId};

pub use recorder::{FinishReason, PendingRecording, Recorder, RecordingReport};
pub use tap::{CHUNK_PAYLOAD_MAX, Chunk, RING_CHUNKS_DEFAULT, Tap};

/// Identifies a recording for its whole life; chosen by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingId(pub u64);

/// Which legs go into the file, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Channels {
    /// Two channels: leg A left, leg B right (rtpengine's per-stream output in one file).
    #[default]
    Stereo,
    /// One channel: legs A and B summed (rtpengine's "mix" output).
    Mixed,
    /// One channel: this leg only.
    Leg(LegId),
}

impl Channels {
    /// Channels in the file.
    pub fn count(self) -> u16 {
        match self {
            Channels::Stereo => 2,
            Channels::Mixed | Channels::Leg(_) => 1,
        }
    }

    /// The file channel leg `leg`'s audio goes to, if it is recorded.
    pub fn channel_of(self, leg: LegId) -> Option<u8> {
        match self {
            Channels::Stereo | Channels::Mixed => match leg.0 {
                0 => Some(0),
                1 => Some(1),
                _ => None,
            },
            Channels::Leg(only) => (leg == only).then_some(0),
        }
    }
}

/// What to record, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSpec {
    /// The WAV file to write (created, or truncated, when the recording starts).
    pub path: PathBuf,
    /// Which legs, and how.
    pub channels: Channels,
    /// Finish the file after this much audio, ms (`None`: until stopped).
    pub max_duration_ms: Option<u64>,
    /// Ring capacity in packets ([`RING_CHUNKS_DEFAULT`]: about 5 s of a two-leg call at
    /// 20 ms packets).
    pub ring_chunks: usize,
}

impl RecordingSpec {
    /// A stereo recording of a two-leg session into `path`, until stopped.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            channels: Channels::Stereo,
            max_duration_ms: None,
            ring_chunks: RING_CHUNKS_DEFAULT,
        }
    }

    /// With these channels.
    pub fn with_channels(mut self, channels: Channels) -> Self {
        self.channels = channels;
        self
    }

    /// Finishing after `ms` of audio.
    pub fn with_max_duration_ms(mut self, ms: u64) -> Self {
        self.max_duration_ms = Some(ms);
        self
    }
}

/// A recording cannot start. Construction errors: the file is checked on the caller's thread
/// before anything reaches a worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// The file cannot be created (missing or unwritable directory, bad name...).
    #[error("cannot create recording {path}: {reason}")]
    Create {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        reason: String,
    },
    /// The recorder thread is gone (the runtime is shutting down).
    #[error("the recorder thread has stopped")]
    RecorderStopped,
}

/// A started recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingHandle {
    /// Its id, named again in its [`RecordingReport`].
    pub id: RecordingId,
    /// The session recorded.
    pub session: SessionId,
    /// The file being written.
    pub path: PathBuf,
}
