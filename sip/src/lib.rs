//! Tandem's SIP stack, sans-IO.
//!
//! Nothing in this crate opens a socket, reads a clock, spawns a task or sleeps. The caller
//! owns the I/O: it feeds received datagrams and the current time in through `handle(now, ..)`
//! calls and drains what the stack wants done through `poll_transmit()`, `poll_event()` and
//! `poll_timeout()`. That makes every state machine testable in virtual time and reusable by
//! anyone, whatever their runtime.
//!
//! - [`message`]: RFC 3261 messages: parser, printer, URIs and typed header views.
//! - [`transaction`]: the four RFC 3261 §17 transaction state machines (with RFC 6026).
//! - [`dialog`]: dialogs, registrations and session timers on top of transactions.
//! - [`auth`]: HTTP digest authentication for SIP (RFC 8760: MD5 and SHA-256).
//! - [`sdp`]: SDP (RFC 8866) and the offer/answer model (RFC 3264).
#![forbid(unsafe_code)]

pub mod auth;
pub mod dialog;
pub mod error;
pub mod message;
pub mod sdp;
pub mod transaction;
