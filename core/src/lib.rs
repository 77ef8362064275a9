//! Tandem's runtime: per-core media workers that own their sessions, sockets and buffers; RTP
//! and RTCP; relay, transcoding and conference sessions; the event bus to the control plane;
//! call recording.

pub mod bus;
pub mod error;
pub mod recording;
pub mod rtp;
pub mod runtime;
pub mod session;
pub(crate) mod sync;
pub mod worker;
