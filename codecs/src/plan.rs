//! Transcoding paths. Being written.
