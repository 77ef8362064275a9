//! The library half of the `tandem` binary: everything `tandem run` is made of, so the SIP
//! glue, the control plane and the end-to-end tests build on named, documented parts instead
//! of reaching into `main.rs`.
//!
//! - [`api`]: the REST + WebSocket control API (ARI-like) and `/metrics`.
//! - [`run`]: the `tandem run` server: configuration, start-up and graceful shutdown, SIP
//!   transports, call routing, and the mapping from negotiated media to runtime sessions.
//! - [`ng`]: the rtpengine-compatible ng control protocol (Kamailio's `rtpengine` module).
//! - [`acl`]: the source-network access lists of the SIP, ng and API listeners.
//!
//! The other subcommands (`transcode`, `dtmf`) are self-contained and live with the command
//! line in `main.rs`'s `cli` module.

pub mod acl;
pub mod api;
pub mod ng;
pub mod recordings;
pub mod run;
