//! What workers tell the control plane: [`Event`]s for subscribers (DTMF digits, talking,
//! media timeouts, joins and leaves, finished playback), [`Reply`]s to commands, and
//! [`Notice`], the one type the worker → control ring carries.
//!
//! # Contract
//!
//! - [`Event`] is `Copy` and carries numbers only: a worker builds it on the media path
//!   without allocating. Its `at_us` is the worker's clock (µs since the runtime started, or
//!   the virtual time of a manually ticked worker).
//! - A worker never blocks on the ring: when it is full, events are dropped and counted
//!   ([`WorkerStats`](crate::worker::WorkerStats)`::events_dropped`).
//! - [`Notice::Retired`] hands session state back so that it is freed on the control plane,
//!   not on the worker.

use std::net::SocketAddr;

use crate::bus::command::{CommandError, RequestId};
use crate::recording::Tap;
use crate::session::Announcement;
use crate::session::conference::EncoderBank;
use crate::session::{
    LegControls, LegId, LegReport, PlayoutReport, PreparedMember, PreparedSession, SessionId,
};

/// How a DTMF digit reached Tandem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// Tones in the audio, found by the in-band detector.
    InBand,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A DTMF digit ended (reported once per key press, when it ends).
    Dtmf {
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
        /// How long it lasted, in ms.
        duration_ms: u32,
        /// Its level as RFC 4733 §2.3.4 gives it: dBm0 with the sign dropped, 0 (loud) to 63:
        /// the telephone-event's volume field, or the level the in-band detector measured.
        volume: u8,
        /// Telephone-event or in-band.
        source: DtmfSource,
    },
    /// The leg's talk detector declared talk (conference legs).
    TalkingStarted,
    /// The leg's talk detector declared the end of talk, after its hangover.
    TalkingStopped,
    /// No RTP arrived on the leg for its media timeout. Reported once until media resumes.
    MediaTimeout,
    /// The leg's peer address was learned and locked (strict source).
    SourceLocked {
        /// The locked address.
        address: SocketAddr,
    },
    /// The leg joined (conference rooms).
    Joined,
    /// The leg left (conference rooms).
    Left,
    /// A play session reached the end of its source.
    PlaybackFinished,
    /// The leg's receive figures when it sent an RTCP report (every few seconds while its
    /// peer's stream is known): the samples from which a control plane follows a call's
    /// quality over time (ng's lowest and highest MOS).
    Quality(QualitySample),
}

/// A leg's RFC 3550 receive figures at one instant. Cumulative counts, so that a sample lost
/// to a full ring only merges two intervals into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualitySample {
    /// Packets received from the current source (A.3).
    pub received: u32,
    /// Packets lost from it (A.3; negative when duplicates outnumber losses).
    pub cumulative_lost: i32,
    /// Interarrival jitter, RTP timestamp units (A.8).
    pub jitter: u32,
    /// Round-trip time from the peer's last report about our stream, µs, once measured.
    pub rtt_us: Option<u32>,
    /// A decoding leg's jitter buffer at the same instant (cumulative too): what the listener
    /// got, late packets included, which RTP's receive figures do not count as lost.
    pub playout: Option<PlayoutReport>,
}

/// One event of one session (and leg, where it concerns a leg).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The session.
    pub session: SessionId,
    /// The leg, for leg events.
    pub leg: Option<LegId>,
    /// When, on the worker's clock, µs.
    pub at_us: u64,
    /// What.
    pub kind: EventKind,
}

/// The local ports of one leg, for SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegPorts {
    /// The leg.
    pub leg: LegId,
    /// The local RTP address (the backend's bind address and the even port).
    pub rtp: SocketAddr,
    /// The RTCP port (RTP port + 1).
    pub rtcp_port: u16,
}

/// A worker's answer to a command that asked for one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// The session is installed; its legs (one or two; none for a conference room) have
    /// these ports.
    Installed {
        /// The session.
        session: SessionId,
        /// The legs' ports.
        legs: [Option<LegPorts>; 2],
    },
    /// The leg joined the room on these ports.
    Joined {
        /// The room.
        session: SessionId,
        /// The leg's ports.
        leg: LegPorts,
    },
    /// The command was carried out.
    Done,
    /// One leg's statistics, for [`Command::QueryLeg`](crate::bus::Command::QueryLeg)
    /// (boxed: a notice is as large as its largest kind, and this one is rare).
    Leg(Box<LegReport>),
    /// A leg's controls after a
    /// [`Command::SetLegControls`](crate::bus::Command::SetLegControls).
    Controls(LegControls),
    /// The command failed; the state is as before it.
    Failed(CommandError),
}

/// State a worker hands back so that it is dropped off the media path.
#[derive(Debug)]
#[non_exhaustive]
pub enum Retired {
    /// A removed session (or one whose installation failed).
    Session(Box<PreparedSession>),
    /// A conference leg that left (or whose join failed).
    Member(Box<PreparedMember>),
    /// A conference encoder bank no leg uses any more (or a joining leg's spare).
    Encoders(Box<EncoderBank>),
    /// An announcement replaced, stopped or refused.
    Announcement(Box<Announcement>),
    /// A stopped recording's tap (or one that could not be attached): dropping it tells the
    /// recorder to finish the file.
    Tap(Box<Tap>),
}

/// Everything the worker → control-plane ring carries.
#[derive(Debug)]
#[non_exhaustive]
pub enum Notice {
    /// An event for subscribers.
    Event(Event),
    /// The answer to request `request`.
    Reply {
        /// The request it answers.
        request: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// State to drop on the control plane.
    Retired(Retired),
}
