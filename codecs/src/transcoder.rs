//! The transcoder. Being written.

/// Transcoder.
pub struct Transcoder;
/// Transcoder settings.
pub struct TranscoderConfig;
