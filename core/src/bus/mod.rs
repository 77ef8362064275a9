//! The event bus: the bounded lock-free rings between the control plane and each media
//! worker — [`Command`]s in, [`Notice`]s (events, replies, retired state) out.
//!
//! # Contract
//!
//! - One [`spsc`] ring per direction per worker, sized at start-up. Neither side ever blocks:
//!   a full command ring is an error returned to the control-plane caller
//!   ([`Full`] hands the command back); a full notice ring makes the worker drop the notice
//!   and count it. Nothing is allocated after the rings are built.
//! - The control plane may serialise several threads onto one [`Producer`] with a lock of its
//!   own; the worker side never takes a lock.
//! - Each ring has a [`Doorbell`] beside it: the control plane rings the worker's after
//!   queueing a command, so a sleeping worker applies it at once rather than at its next
//!   tick; the worker rings the runtime's reply bell after queueing replies, which wakes
//!   the callers waiting for them.
//!
//! # Loom
//!
//! The ring is model-checked: `RUSTFLAGS="--cfg loom" cargo test -p tandem-core --release bus::`
//! (capacity shrinks to two slots under loom).

#![allow(unexpected_cfgs)]

pub mod command;
pub mod doorbell;
pub mod event;
pub mod spsc;

pub use command::{Command, CommandError, Digits, RequestId};
pub use doorbell::Doorbell;
pub use event::{DtmfSource, Event, EventKind, LegPorts, Notice, QualitySample, Reply, Retired};
pub use spsc::{Consumer, Full, Producer, channel};

/// Default capacity of a worker's command ring.
#[cfg(not(loom))]
pub const COMMAND_QUEUE_DEFAULT: usize = 1024;
/// Default capacity of a worker's command ring (shrunk under loom).
#[cfg(loom)]
pub const COMMAND_QUEUE_DEFAULT: usize = 2;
/// Default capacity of a worker's notice ring.
#[cfg(not(loom))]
pub const NOTICE_QUEUE_DEFAULT: usize = 16_384;
/// Default capacity of a worker's notice ring (shrunk under loom).
#[cfg(loom)]
pub const NOTICE_QUEUE_DEFAULT: usize = 2;

/// The worker's sending side of the notice ring: never blocks, counts what it drops.
#[derive(Debug)]
pub(crate) struct Outbox {
    notices: Producer<Notice>,
    /// Notices dropped because the ring was full.
    pub(crate) dropped: u64,
}

impl Outbox {
    pub(crate) fn new(notices: Producer<Notice>) -> Self {
        Self {
            notices,
            dropped: 0,
        }
    }

    /// Queues an event, or counts it as dropped.
    #[inline]
    pub(crate) fn event(&mut self, event: Event) {
        self.notice(Notice::Event(event));
    }

    /// Queues a notice, or counts it as dropped (a retired session is then freed here, on
    /// the worker: rare, and only while the control plane is not draining).
    #[inline]
    pub(crate) fn notice(&mut self, notice: Notice) {
        if self.notices.push(notice).is_err() {
            self.dropped += 1;
        }
    }
}
