//! What the control plane asks of a worker: [`Command`]s, and the [`CommandError`]s a worker
//! answers with.
//!
//! # Contract
//!
//! - Everything expensive happens before a command is queued: sessions and conference legs
//!   arrive fully built ([`PreparedSession`], [`PreparedMember`]: codecs, buffers and pools
//!   allocated on the control-plane thread), so applying a command on the worker opens
//!   sockets at most (`open_pair` / `close_pair`) and never allocates.
//! - A worker applies commands in batches of at most
//!   [`MAX_COMMANDS_PER_TICK`](crate::worker::MAX_COMMANDS_PER_TICK): as they arrive while it
//!   sleeps between ticks (the control plane rings its [`Doorbell`](crate::bus::Doorbell)),
//!   and after each tick's media work.
//! - Commands carrying a [`RequestId`] are answered with a
//!   [`Notice::Reply`](crate::bus::Notice::Reply); the others are fire-and-forget.

use std::net::SocketAddr;

use tandem_drivers::PortError;

use crate::recording::Tap;
use crate::session::Announcement;
use crate::session::{ControlChange, LegId, PreparedMember, PreparedSession, SessionId};

/// Identifies a request so its reply can be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A DTMF digit string carried without allocation (up to [`Digits::MAX`] digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digits {
    digits: [u8; Digits::MAX],
    len: u8,
}

impl Digits {
    /// Most digits one command carries.
    pub const MAX: usize = 32;

    /// The digits of `s` (`0-9 * # A-D`, case-insensitive), or `None` if it holds anything
    /// else or is longer than [`Digits::MAX`].
    pub fn new(s: &str) -> Option<Self> {
        if s.len() > Self::MAX {
            return None;
        }
        let mut digits = [0u8; Self::MAX];
        for (d, c) in digits.iter_mut().zip(s.chars()) {
            let c = c.to_ascii_uppercase();
            if !matches!(c, '0'..='9' | '*' | '#' | 'A'..='D') {
                return None;
            }
            *d = c as u8;
        }
        Some(Self {
            digits,
            len: s.len() as u8,
        })
    }

    /// The digits as a string.
    pub fn as_str(&self) -> &str {
        // Only ASCII digit characters are ever stored.
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or("")
    }
}

/// A request to a worker.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// Open the legs' ports and start the session. Replied to with
    /// [`Reply::Installed`](crate::bus::Reply::Installed).
    Install {
        /// For the reply.
        request: RequestId,
        /// The session, built on the control plane.
        session: Box<PreparedSession>,
    },
    /// Swap a running one- or two-leg session for `session` (built with the same id),
    /// keeping the legs' open port pairs, so the ports signalling already advertised stay
    /// valid (an ng `offer` opens ports before the answer says which codecs run). Replied to
    /// with [`Reply::Installed`](crate::bus::Reply::Installed).
    Replace {
        /// For the reply.
        request: RequestId,
        /// The new session, built on the control plane.
        session: Box<PreparedSession>,
    },
    /// Stop a session and close its ports. Replied to with `Done` when `request` is given.
    Remove {
        /// For the reply, if wanted.
        request: Option<RequestId>,
        /// The session.
        session: SessionId,
    },
    /// Add a leg to a conference room. Replied to with
    /// [`Reply::Joined`](crate::bus::Reply::Joined).
    Join {
        /// For the reply.
        request: RequestId,
        /// The room.
        session: SessionId,
        /// The leg, built on the control plane for the room's rate.
        member: Box<PreparedMember>,
    },
    /// Remove a leg from a conference room. Replied to with `Done` when `request` is given.
    Leave {
        /// For the reply, if wanted.
        request: Option<RequestId>,
        /// The room.
        session: SessionId,
        /// The leg.
        leg: LegId,
    },
    /// Signalling moved the leg's peer (re-INVITE): send there, and learn the source again
    /// (the only way a locked source is re-learned).
    SetRemote {
        /// The session.
        session: SessionId,
        /// The leg.
        leg: LegId,
        /// The new peer address.
        remote: SocketAddr,
    },
    /// Send DTMF into a leg: RFC 4733 events when the leg negotiated them, tones otherwise
    /// (transcode, play and conference legs; relayed legs carry only what the peer sends).
    SendDigits {
        /// The session.
        session: SessionId,
        /// The leg.
        leg: LegId,
        /// The digits.
        digits: Digits,
    },
    /// Change some of a leg's media controls (direction, mute, block; see
    /// [`controls`](crate::session::controls)). Replied to with
    /// [`Reply::Controls`](crate::bus::Reply::Controls), the leg's controls after the change.
    SetLegControls {
        /// For the reply.
        request: RequestId,
        /// The session.
        session: SessionId,
        /// The leg.
        leg: LegId,
        /// What to change.
        change: ControlChange,
    },
    /// Play an announcement towards a leg of a transcoding session, in place of what the
    /// other side says. Replied to with `Done`; a replaced announcement, or this one when
    /// refused, comes back as [`Retired::Announcement`](crate::bus::Retired::Announcement).
    Announce {
        /// For the reply.
        request: RequestId,
        /// The session.
        session: SessionId,
        /// The leg that hears it.
        leg: LegId,
        /// The rendered media.
        announcement: Box<Announcement>,
    },
    /// Stop the announcement towards a leg. Replied to with `Done`.
    StopAnnouncement {
        /// For the reply.
        request: RequestId,
        /// The session.
        session: SessionId,
        /// The leg.
        leg: LegId,
    },
    /// Attach a recording to a session (one at a time). Replied to with `Done`; on failure
    /// the tap comes back as [`Retired::Tap`](crate::bus::Retired::Tap).
    StartRecording {
        /// For the reply.
        request: RequestId,
        /// The session.
        session: SessionId,
        /// The recording's worker side, built by the recorder.
        tap: Box<Tap>,
    },
    /// Pause (`paused: true`) or resume a session's recording. Replied to with `Done` when
    /// `request` is given.
    PauseRecording {
        /// For the reply, if wanted.
        request: Option<RequestId>,
        /// The session.
        session: SessionId,
        /// Pause or resume.
        paused: bool,
    },
    /// Detach a session's recording; its tap goes back as
    /// [`Retired::Tap`](crate::bus::Retired::Tap) and the recorder finishes the file.
    /// Replied to with `Done` when `request` is given.
    StopRecording {
        /// For the reply, if wanted.
        request: Option<RequestId>,
        /// The session.
        session: SessionId,
    },
    /// Read one leg's statistics ([`LegReport`](crate::session::LegReport)). Replied to
    /// with [`Reply::Leg`](crate::bus::Reply::Leg).
    QueryLeg {
        /// For the reply.
        request: RequestId,
        /// The session.
        session: SessionId,
        /// The leg.
        leg: LegId,
    },
}

/// Why a worker refused a command. `Copy`, numbers only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// No session with this id runs on the worker.
    #[error("no session {0:?} on this worker")]
    UnknownSession(SessionId),
    /// The session has no such leg.
    #[error("session {session:?} has no leg {leg:?}")]
    UnknownLeg {
        /// The session.
        session: SessionId,
        /// The leg.
        leg: LegId,
    },
    /// A session with this id already runs.
    #[error("session {0:?} already exists")]
    DuplicateSession(SessionId),
    /// The worker's session table is full (a resource limit).
    #[error("the worker runs its maximum of {max} sessions")]
    SessionsFull {
        /// The limit.
        max: usize,
    },
    /// The conference room is full (a resource limit).
    #[error("the room holds its maximum of {max} legs")]
    RoomFull {
        /// The limit.
        max: usize,
    },
    /// The command does not apply to this kind of session.
    #[error("session {0:?} does not support this command")]
    WrongKind(SessionId),
    /// No announcement plays towards the leg.
    #[error("nothing is playing towards leg {leg:?} of session {session:?}")]
    NothingPlaying {
        /// The session.
        session: SessionId,
        /// The leg.
        leg: LegId,
    },
    /// The session is already being recorded.
    #[error("session {0:?} is already being recorded")]
    RecordingActive(SessionId),
    /// The session is not being recorded.
    #[error("session {0:?} is not being recorded")]
    NotRecording(SessionId),
    /// Opening the leg's ports failed.
    #[error("opening ports failed: {0}")]
    Ports(#[from] PortError),
    /// The socket table cannot route a socket id the backend handed out (a backend bug).
    #[error("socket id {0} is beyond the demultiplexing table")]
    SocketId(u32),
}

impl CommandError {
    /// Stable label for `tandem_commands_failed_total{reason="…"}`.
    pub const fn label(&self) -> &'static str {
        match self {
            Self::UnknownSession(_) => "unknown_session",
            Self::UnknownLeg { .. } => "unknown_leg",
            Self::DuplicateSession(_) => "duplicate_session",
            Self::SessionsFull { .. } => "sessions_full",
            Self::RoomFull { .. } => "room_full",
            Self::WrongKind(_) => "wrong_kind",
            Self::NothingPlaying { .. } => "nothing_playing",
            Self::RecordingActive(_) => "recording_active",
            Self::NotRecording(_) => "not_recording",
            Self::Ports(_) => "ports",
            Self::SocketId(_) => "socket_id",
        }
    }
}
