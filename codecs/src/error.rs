//! Errors of the codecs crate, split by when they happen and what the caller does next.
//!
//! - [`CodecError`]: construction and configuration. Rich context; the caller rejects the
//!   session, the SDP offer or the command line that asked for it.
//! - [`DecodeError`] and [`EncodeError`]: per-frame, on the media path. They are `Copy`, carry
//!   numbers rather than strings, and map to a stable counter label with `label()`. A decode error
//!   means: drop this payload, conceal the frame, continue. An encode error means the caller's
//!   buffers were mis-sized (a bug) or the library failed: drop the frame and count it.

use crate::CodecId;

/// A codec, resampler or transcoder could not be built with the requested configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The codec does not run at this audio sample rate.
    #[error("{codec} does not support a sample rate of {rate} Hz")]
    UnsupportedSampleRate {
        /// The codec asked for.
        codec: CodecId,
        /// The rate asked for, in Hz.
        rate: u32,
    },
    /// The packet time is not one the codec can produce or consume.
    #[error("{codec} does not support a packet time of {ptime_ms} ms")]
    UnsupportedPtime {
        /// The codec asked for.
        codec: CodecId,
        /// The packet time asked for, in milliseconds.
        ptime_ms: u32,
    },
    /// A numeric option is outside the range the codec accepts.
    #[error("{option} = {value} is out of range for {codec} (allowed {min}..={max})")]
    OptionOutOfRange {
        /// The codec being configured.
        codec: CodecId,
        /// The option's name as the CLI and config files spell it.
        option: &'static str,
        /// The value given.
        value: i64,
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// The codec is known but this build does not include it (a cargo feature is off).
    #[error("{codec} is not built into this binary (enable the `{feature}` cargo feature)")]
    NotBuilt {
        /// The codec asked for.
        codec: CodecId,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
    /// The resampler only handles ratios between the telephony rates (8, 12, 16, 24, 32, 48 kHz).
    #[error(
        "no fixed-ratio resampler from {from} Hz to {to} Hz (supported: 8000, 12000, 16000, 24000, 32000, 48000)"
    )]
    UnsupportedResampleRatio {
        /// Input rate in Hz.
        from: u32,
        /// Output rate in Hz.
        to: u32,
    },
    /// The underlying codec library refused the configuration.
    #[error("{codec} library error {code} while configuring: {what}")]
    Library {
        /// The codec being configured.
        codec: CodecId,
        /// The library's own error code.
        code: i32,
        /// What was being configured.
        what: &'static str,
    },
}

/// A payload could not be decoded. The caller drops it, conceals the frame and continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The payload's length or structure is not valid for this codec.
    #[error("malformed payload of {len} bytes")]
    Malformed {
        /// Payload length in bytes.
        len: usize,
    },
    /// The PCM buffer cannot hold the decoded frame.
    #[error("output buffer holds {available} samples, frame needs {needed}")]
    OutputTooSmall {
        /// Samples the frame decodes to.
        needed: usize,
        /// Samples the caller provided.
        available: usize,
    },
    /// The codec library reported an error.
    #[error("codec library error {code}")]
    Library {
        /// The library's own error code.
        code: i32,
    },
}

impl DecodeError {
    /// A stable label for the drop counter this error increments.
    pub fn label(&self) -> &'static str {
        match self {
            DecodeError::Malformed { .. } => "decode_malformed",
            DecodeError::OutputTooSmall { .. } => "decode_output_too_small",
            DecodeError::Library { .. } => "decode_library",
        }
    }
}

/// A frame could not be encoded. The caller drops the frame and counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The PCM frame's length is not one the codec can encode.
    #[error("cannot encode a frame of {samples} samples")]
    InvalidFrameLength {
        /// Samples given.
        samples: usize,
    },
    /// The payload buffer cannot hold the encoded frame.
    #[error("payload buffer holds {available} bytes, frame needs up to {needed}")]
    OutputTooSmall {
        /// Bytes the frame may need.
        needed: usize,
        /// Bytes the caller provided.
        available: usize,
    },
    /// The codec library reported an error.
    #[error("codec library error {code}")]
    Library {
        /// The library's own error code.
        code: i32,
    },
}

impl EncodeError {
    /// A stable label for the drop counter this error increments.
    pub fn label(&self) -> &'static str {
        match self {
            EncodeError::InvalidFrameLength { .. } => "encode_invalid_frame_length",
            EncodeError::OutputTooSmall { .. } => "encode_output_too_small",
            EncodeError::Library { .. } => "encode_library",
        }
    }
}
