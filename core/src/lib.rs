//! Tandem's runtime: per-core media workers that own their sessions, sockets and buffers; RTP
//! and RTCP; relay, transcoding and conference sessions; the event bus to the control plane.

pub mod error;
pub mod rtp;
