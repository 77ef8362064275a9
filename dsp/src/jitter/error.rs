//! Errors of the jitter buffer, split by when they happen and what the caller does next.
//!
//! - [`JitterConfigError`]: construction. The caller rejects the session (or the SDP that asked
//!   for it) and fixes the configuration.
//! - [`PushError`]: a packet was not stored. Every variant means "drop it and count it" under
//!   its [`PushError::label`]; nothing about the buffer changed except its counters.
//! - [`PopError`]: the caller passed a frame of the wrong length: a bug in the caller. Nothing
//!   was written and the buffer's state is unchanged.

use tandem_codecs::{CodecError, CodecId};

/// A jitter buffer could not be built with the requested configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JitterConfigError {
    /// A configuration field is outside its documented range.
    #[error("jitter buffer setting `{field}` = {value} is out of range ({allowed})")]
    OutOfRange {
        /// The field's name in [`JitterConfig`](super::JitterConfig).
        field: &'static str,
        /// The value given.
        value: u32,
        /// What is allowed, in words.
        allowed: &'static str,
    },
    /// Concealment and time-stretching run at multiples of 8 kHz up to 48 kHz only.
    #[error("{codec} at {rate_hz} Hz: the jitter buffer runs at 8, 16, 24, 32 or 48 kHz")]
    UnsupportedSampleRate {
        /// The codec.
        codec: CodecId,
        /// The decoder's output rate.
        rate_hz: u32,
    },
    /// The decoder could not be built.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Why a pushed packet was dropped. `Copy`, numbers only, one counter label per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The packet was already stored or played.
    #[error("duplicate of packet {sequence_number}")]
    Duplicate {
        /// RTP sequence number.
        sequence_number: u16,
    },
    /// Playout has already passed the packet's position (it was concealed or skipped).
    #[error("packet {sequence_number} arrived after its playout time")]
    Late {
        /// RTP sequence number.
        sequence_number: u16,
    },
    /// The payload cannot be decoded by the buffer's codec, or is empty.
    #[error("malformed payload of {len} bytes")]
    Malformed {
        /// Payload length in bytes.
        len: usize,
    },
    /// The payload is longer than a slot holds (the codec's largest payload at
    /// [`JitterConfig::max_ptime_ms`](super::JitterConfig::max_ptime_ms)).
    #[error("payload of {len} bytes exceeds the {max}-byte slot")]
    TooLarge {
        /// Payload length in bytes.
        len: usize,
        /// Slot capacity in bytes.
        max: usize,
    },
    /// The payload decodes to more audio than
    /// [`JitterConfig::max_ptime_ms`](super::JitterConfig::max_ptime_ms).
    #[error("packet of {samples} samples exceeds the {max}-sample maximum")]
    TooLong {
        /// Samples the payload decodes to.
        samples: usize,
        /// The most samples one packet may carry.
        max: usize,
    },
    /// The packet is so far ahead of playout that its slot still holds an unplayed packet.
    #[error("packet {sequence_number} is too far ahead of playout")]
    Overflow {
        /// RTP sequence number.
        sequence_number: u16,
    },
    /// A straggler from the SSRC the stream just switched away from.
    #[error("packet from the previous SSRC {ssrc:#010x}")]
    StaleSsrc {
        /// The packet's SSRC.
        ssrc: u32,
    },
    /// An older packet (a lower sequence number than the newest) whose timestamp fits none
    /// of the stream's timelines (the current one, and those the last two timestamp jumps
    /// left): it places it after the newest packet, or much further back than its sequence
    /// number allows. A corrupt timestamp, or a straggler from before older jumps; placed,
    /// it would move the transit floor (and with it every packet's deadline).
    #[error("packet {sequence_number} does not fit the stream's timeline")]
    StaleTimeline {
        /// RTP sequence number.
        sequence_number: u16,
    },
    /// The sequence number or timestamp jumped; the packet is held on probation (RFC 3550
    /// §A.1) and the stream restarts there if the next packet follows it.
    #[error("sequence or timestamp discontinuity at packet {sequence_number}")]
    Discontinuity {
        /// RTP sequence number.
        sequence_number: u16,
    },
}

impl PushError {
    /// A stable label for the drop counter this error increments.
    pub const fn label(&self) -> &'static str {
        match self {
            PushError::Duplicate { .. } => "jitter_duplicate",
            PushError::Late { .. } => "jitter_late",
            PushError::Malformed { .. } => "jitter_malformed",
            PushError::TooLarge { .. } => "jitter_too_large",
            PushError::TooLong { .. } => "jitter_too_long",
            PushError::Overflow { .. } => "jitter_overflow",
            PushError::StaleSsrc { .. } => "jitter_stale_ssrc",
            PushError::StaleTimeline { .. } => "jitter_stale_timeline",
            PushError::Discontinuity { .. } => "jitter_discontinuity",
        }
    }
}

/// The caller's frame has the wrong length: pass exactly
/// [`JitterBuffer::frame_samples`](super::JitterBuffer::frame_samples) samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame of {actual} samples, the buffer pops {expected}")]
pub struct PopError {
    /// Samples per frame.
    pub expected: usize,
    /// Samples given.
    pub actual: usize,
}
