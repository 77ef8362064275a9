//! Tandem's signal processing: DTMF and tone detection and generation, talk detection, the
//! jitter buffer with loss concealment, and the conference mixer.
//!
//! Pure signal processing: no sockets, no threads, no clocks (time is an argument). Every block
//! has one shape: a constructor that validates and allocates, and a per-frame call that only
//! touches the caller's buffers and its own preallocated state.

pub mod dtmf;
pub mod jitter;
pub mod mixer;
pub mod talk;
pub mod tone;
