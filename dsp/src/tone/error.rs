//! `ToneError`: what can go wrong building or driving the tone generator and tone detectors.
//!
//! All variants are construction-time or caller-misuse facts; they are `Copy` and carry numbers.

/// Errors of the tone generator and the fax and call-progress detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToneError {
    /// Only 8000 and 16000 Hz are supported.
    #[error("sample rate {rate_hz} Hz is not supported (8000 or 16000)")]
    UnsupportedSampleRate {
        /// The rate that was asked for.
        rate_hz: u32,
    },
    /// A configuration field or tone specification is outside its documented range.
    #[error("configuration field `{field}` is out of range")]
    InvalidConfig {
        /// The field's name.
        field: &'static str,
    },
    /// The caller's event slice cannot hold the events this call may produce; nothing was
    /// processed. Size it with `events_max`.
    #[error("event buffer holds {got} events, this call may produce {needed}")]
    EventBufferTooSmall {
        /// `events_max` for this call.
        needed: usize,
        /// The slice length given.
        got: usize,
    },
}

impl ToneError {
    /// Stable label for counters.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::UnsupportedSampleRate { .. } => "unsupported_sample_rate",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::EventBufferTooSmall { .. } => "event_buffer_too_small",
        }
    }
}
