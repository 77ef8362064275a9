//! `DtmfError`: what can go wrong building or driving the DTMF detector and generator.
//!
//! Construction errors (`InvalidConfig`, `UnsupportedSampleRate`) mean "fix the configuration";
//! run-time errors are `Copy`, carry numbers, and leave the block's state unchanged, so the
//! caller can retry with a larger buffer or fewer digits.

/// Errors of [`DtmfDetector`](super::DtmfDetector) and [`DtmfGenerator`](super::DtmfGenerator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// Only 8000 and 16000 Hz are supported.
    #[error("sample rate {rate_hz} Hz is not supported (8000 or 16000)")]
    UnsupportedSampleRate {
        /// The rate that was asked for.
        rate_hz: u32,
    },
    /// A configuration field is outside its documented range.
    #[error("configuration field `{field}` is out of range")]
    InvalidConfig {
        /// The field's name in the config struct.
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
    /// A character that is not one of `0-9 * # A-D` (case-insensitive); nothing was queued.
    #[error("byte 0x{byte:02x} is not a DTMF digit")]
    InvalidDigit {
        /// The offending byte.
        byte: u8,
    },
    /// The generator's digit queue cannot take that many digits; nothing was queued.
    #[error("digit queue full: {queued} queued, capacity {capacity}")]
    QueueFull {
        /// Digits already queued.
        queued: usize,
        /// Queue capacity ([`DtmfGenerator::QUEUE_CAPACITY`](super::DtmfGenerator::QUEUE_CAPACITY)).
        capacity: usize,
    },
}

impl DtmfError {
    /// Stable label for counters, e.g. `tandem_dtmf_errors_total{reason="…"}`.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::UnsupportedSampleRate { .. } => "unsupported_sample_rate",
            Self::InvalidConfig { .. } => "invalid_config",
            Self::EventBufferTooSmall { .. } => "event_buffer_too_small",
            Self::InvalidDigit { .. } => "invalid_digit",
            Self::QueueFull { .. } => "queue_full",
        }
    }
}
