//! The HTTP/JSON control API of `tandem run`, with a WebSocket event stream and Prometheus
//! metrics. Resource and event names follow Asterisk's ARI where the concept is the same
//! (channels, bridges, playbacks, `ChannelDtmfReceived`...), so ARI users feel at home.
//!
//! # The model
//!
//! - A **channel** is one RTP leg ([`tandem_core::session::LegSpec`]: codec, peer, packet
//!   time, telephone-event payload type). The runtime has no free-standing legs, so a
//!   channel always lives in a *carrier* session: on its own it sits in a one-leg
//!   conference room (which reports its DTMF and talking, sends digits, and plays it
//!   silence); in a bridge it is a leg of the bridge's session; while a playback runs it is
//!   the leg of a play session.
//! - A **two-party bridge** is a relay session (same codec on both channels) or a
//!   transcoder, built when its second channel arrives; a **mixing bridge** is a conference
//!   room that channels join and leave.
//! - **Moving a channel re-creates its leg**: entering or leaving a bridge and starting a
//!   playback open new local ports (the runtime places sessions per worker, and a worker
//!   owns its ports). Every response and `ChannelEnteredBridge` / `ChannelLeftBridge` /
//!   `PlaybackStarted` event carries the channel's current `local_rtp`; the peer address
//!   learned so far is kept, so media resumes as soon as the peer sends to the new port.
//!
//! # Modules
//!
//! [`server`] (router, limits, serving), [`auth`] (API keys, basic auth, source ACL),
//! [`error`] (the stable error shape), [`openapi`] (the document at `/openapi.json`),
//! [`channels`], [`bridges`], [`playbacks`], [`recordings`], [`events`] (the WebSocket stream and its
//! bounded queues), [`metrics`] (`/metrics` and the registry other parts bump), [`mos`]
//! (the E-model MOS estimate).

pub mod auth;
pub mod bridges;
pub mod channels;
pub mod error;
pub mod events;
pub mod metrics;
pub mod mos;
pub mod openapi;
pub mod playbacks;
pub mod quality;
pub mod recordings;
pub mod server;
mod state;

pub use events::Hub;
pub use metrics::Metrics;
pub use server::{Api, ApiSettings, router, serve};
