//! Media operations for calls, off the signalling task: creating and removing echo and tone
//! sessions, joining and leaving conference rooms (creating a room for its first caller and
//! removing it with its last), rebuilding an echo or tone session for another codec on the
//! same ports, moving a leg's peer or changing its direction (hold), and forwarding the
//! runtime's events.
//!
//! Runtime calls block until the worker replies, so each operation runs on tokio's blocking
//! pool and reports back on a channel ([`MediaDone`]) that the signalling loop reads; the loop
//! counts operations in flight so that draining waits for them. The live counts in
//! [`SignallingStats`] are updated here, where the runtime confirms each change.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tandem_core::bus::{Event, EventKind};
use tandem_core::runtime::{Runtime, RuntimeError, SessionHandle};
use tandem_core::session::{ControlChange, LegId, LegReport, LegSpec, MediaDirection, SessionId};
use tokio::sync::mpsc;

use super::calls::CallKey;
use super::{Signalling, SignallingStats, uas};
use crate::api::quality::{self, Track};
use crate::run::media::builtin;

/// What a call is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// The echo test.
    Echo,
    /// The test tone.
    Tone,
    /// A conference room, by name.
    Conference {
        /// The room's name.
        room: String,
    },
}

/// A call's media leg on the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MediaBinding {
    /// The session (for a conference leg, the room).
    pub(super) session: SessionId,
    /// The leg.
    pub(super) leg: LegId,
    /// The leg's local RTP address (for the SDP answer).
    pub(super) rtp: SocketAddr,
    /// The room's name, for a conference leg.
    pub(super) room: Option<String>,
}

impl MediaBinding {
    /// Whether `other` is this very leg: a session rebuilt on the same ports
    /// ([`replace`]) is, a new leg in the same conference room is not.
    pub(super) fn is_leg(&self, other: &MediaBinding) -> bool {
        self.session == other.session && self.leg == other.leg
    }
}

/// A finished media operation.
#[derive(Debug)]
pub(super) enum MediaDone {
    /// A leg was created (or not) for `call`.
    Created {
        /// The call.
        call: CallKey,
        /// The new leg, or why there is none.
        result: Result<MediaBinding, RuntimeError>,
    },
    /// An echo or tone session was rebuilt (or not) for `call` on the same ports.
    Replaced {
        /// The call.
        call: CallKey,
        /// The rebuilt leg, or why it was not rebuilt.
        result: Result<MediaBinding, RuntimeError>,
    },
    /// A leg was removed.
    Released,
}

impl Target {
    /// True when the call's session can be rebuilt in place ([`replace`]): echo and tone
    /// sessions belong to their call alone; a conference leg shares its room's session.
    pub(super) fn replaceable(&self) -> bool {
        matches!(self, Self::Echo | Self::Tone)
    }
}

/// Events the signalling task waits for; a slow task makes the forwarder wait (the runtime
/// queues events for it on the control plane).
const EVENT_QUEUE: usize = 1024;

/// The conference rooms alive, by name.
#[derive(Debug, Default)]
pub(super) struct Rooms {
    rooms: Mutex<HashMap<String, Room>>,
}

#[derive(Debug, Clone, Copy)]
struct Room {
    session: SessionId,
    members: usize,
}

impl Rooms {
    /// Joins `leg` to room `name`, creating the room for its first caller. The lock is held
    /// across the runtime calls so that two first callers make one room.
    fn join(
        &self,
        runtime: &Runtime,
        stats: &SignallingStats,
        name: &str,
        leg: &LegSpec,
    ) -> Result<MediaBinding, RuntimeError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let (session, created) = match rooms.get(name) {
            Some(room) => (room.session, false),
            None => {
                let handle = runtime.create_session(&builtin::conference_room())?;
                stats.rooms_live.fetch_add(1, Ordering::Relaxed);
                rooms.insert(
                    name.to_owned(),
                    Room {
                        session: handle.id,
                        members: 0,
                    },
                );
                (handle.id, true)
            }
        };
        match runtime.join(session, leg) {
            Ok(ports) => {
                if let Some(room) = rooms.get_mut(name) {
                    room.members += 1;
                }
                Ok(MediaBinding {
                    session,
                    leg: ports.leg,
                    rtp: ports.rtp,
                    room: Some(name.to_owned()),
                })
            }
            Err(e) => {
                if created {
                    rooms.remove(name);
                    remove_room(runtime, stats, session);
                }
                Err(e)
            }
        }
    }

    /// Takes a leg out of its room, removing the room when it was the last.
    fn leave(
        &self,
        runtime: &Runtime,
        stats: &SignallingStats,
        name: &str,
        media: &MediaBinding,
    ) -> Result<(), RuntimeError> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let left = runtime.leave(media.session, media.leg);
        if let Some(room) = rooms.get_mut(name).filter(|r| r.session == media.session) {
            room.members = room.members.saturating_sub(1);
            if room.members == 0 {
                rooms.remove(name);
                remove_room(runtime, stats, media.session);
            }
        }
        left
    }
}

fn remove_room(runtime: &Runtime, stats: &SignallingStats, session: SessionId) {
    if let Err(e) = runtime.remove_session(session) {
        tracing::warn!(?session, "removing an empty conference room failed: {e}");
    }
    stats.rooms_live.fetch_sub(1, Ordering::Relaxed);
}

/// The binding of a one-leg session.
fn single_leg(handle: &SessionHandle) -> Result<MediaBinding, RuntimeError> {
    // Echo and play sessions have exactly one leg; a handle without one is a session the
    // runtime does not know as such.
    let ports = handle
        .legs
        .first()
        .ok_or(RuntimeError::UnknownSession(handle.id))?;
    Ok(MediaBinding {
        session: handle.id,
        leg: ports.leg,
        rtp: ports.rtp,
        room: None,
    })
}

/// Creates `call`'s media leg for `target` in the background; the result comes back as
/// [`MediaDone::Created`].
pub(super) fn create(state: &mut Signalling, call: CallKey, target: Target, leg: LegSpec) {
    state.media_pending += 1;
    let runtime = Arc::clone(&state.runtime);
    let rooms = Arc::clone(&state.rooms);
    let stats = Arc::clone(&state.stats);
    let done = state.media_done.clone();
    tokio::task::spawn_blocking(move || {
        let result = match &target {
            Target::Echo => runtime
                .create_session(&builtin::echo(leg))
                .and_then(|h| single_leg(&h)),
            Target::Tone => runtime
                .create_session(&builtin::tone(leg))
                .and_then(|h| single_leg(&h)),
            Target::Conference { room } => rooms.join(&runtime, &stats, room, &leg),
        };
        if result.is_ok() {
            stats.sessions_live.fetch_add(1, Ordering::Relaxed);
        }
        // A closed channel means signalling has stopped; the runtime's shutdown removes
        // what is left.
        let _ = done.send(MediaDone::Created { call, result });
    });
}

/// Rebuilds `media`'s echo or tone session for `target` with leg `leg` in the background, on
/// the same worker and RTP port (peers and NAT bindings keep working); the result comes back
/// as [`MediaDone::Replaced`]. Only for [`Target::replaceable`] targets (a conference is
/// refused by the runtime). The live count does not change: one session replaces another.
pub(super) fn replace(
    state: &mut Signalling,
    call: CallKey,
    media: &MediaBinding,
    target: &Target,
    leg: LegSpec,
) {
    state.media_pending += 1;
    let runtime = Arc::clone(&state.runtime);
    let done = state.media_done.clone();
    let session = media.session;
    let spec = match target {
        Target::Tone => builtin::tone(leg),
        _ => builtin::echo(leg),
    };
    tokio::task::spawn_blocking(move || {
        let result = runtime
            .replace_session(session, &spec)
            .and_then(|h| single_leg(&h));
        let _ = done.send(MediaDone::Replaced { call, result });
    });
}

/// An answered call that ended, to be logged once its leg's last figures are read.
#[derive(Debug)]
pub(super) struct EndedCall {
    /// Its Call-ID.
    pub(super) call_id: String,
    /// Why it ended.
    pub(super) reason: &'static str,
    /// Its RTCP intervals.
    pub(super) quality: Track,
    /// Its leg as last negotiated.
    pub(super) leg: LegSpec,
}

impl EndedCall {
    /// Logs `call ended` with the quality of what the leg received: its RTCP intervals, or,
    /// for a call that ended before the first, its figures so far (`report`, when the leg
    /// could still be read).
    pub(super) fn log(&self, report: Option<&LegReport>) {
        let quality = quality::log_field(&self.quality, report.map(|r| (r, &self.leg)));
        let (call, reason) = (&self.call_id, self.reason);
        tracing::info!(call, reason, %quality, "call ended");
    }
}

/// Removes a media leg in the background; [`MediaDone::Released`] reports it.
pub(super) fn release(state: &mut Signalling, media: MediaBinding) {
    remove_in_background(state, media, None);
}

/// [`release`] for the leg of a call that ended, which is logged first with the leg's last
/// figures ([`EndedCall::log`]).
pub(super) fn release_ended(state: &mut Signalling, media: MediaBinding, ended: EndedCall) {
    remove_in_background(state, media, Some(ended));
}

fn remove_in_background(state: &mut Signalling, media: MediaBinding, ended: Option<EndedCall>) {
    state.media_pending += 1;
    let runtime = Arc::clone(&state.runtime);
    let rooms = Arc::clone(&state.rooms);
    let stats = Arc::clone(&state.stats);
    let done = state.media_done.clone();
    tokio::task::spawn_blocking(move || {
        if let Some(ended) = ended {
            let report = runtime.leg_report(media.session, media.leg).ok();
            ended.log(report.as_ref());
        }
        let removed = match &media.room {
            Some(room) => rooms.leave(&runtime, &stats, room, &media),
            None => runtime.remove_session(media.session),
        };
        if let Err(e) = removed {
            // The runtime has forgotten the leg either way (a stalled worker drops it when
            // it wakes up), so it no longer counts as live.
            tracing::warn!(session = ?media.session, "removing a media leg failed: {e}");
        }
        stats.sessions_live.fetch_sub(1, Ordering::Relaxed);
        let _ = done.send(MediaDone::Released);
    });
}

/// Points a leg at a new peer address (a re-INVITE moved it). Fire and forget: the command
/// is queued, not answered.
pub(super) fn set_remote(state: &Signalling, media: &MediaBinding, remote: SocketAddr) {
    let runtime = Arc::clone(&state.runtime);
    let (session, leg) = (media.session, media.leg);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = runtime.set_remote(session, leg, remote) {
            tracing::warn!(?session, %remote, "moving a media leg failed: {e}");
        }
    });
}

/// Tells a leg which way media flows now (hold, resume). Fire and forget: applied by the
/// worker as soon as it gets it (between ticks, see `tandem_core::bus::doorbell`).
pub(super) fn set_direction(state: &Signalling, media: &MediaBinding, direction: MediaDirection) {
    let runtime = Arc::clone(&state.runtime);
    let (session, leg) = (media.session, media.leg);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = runtime.set_leg_controls(session, leg, ControlChange::direction(direction))
        {
            tracing::warn!(
                ?session,
                ?direction,
                "changing a media leg's direction failed: {e}"
            );
        }
    });
}

/// Takes a finished operation.
pub(super) fn handle_done(state: &mut Signalling, now: Instant, done: MediaDone) {
    state.media_pending = state.media_pending.saturating_sub(1);
    match done {
        MediaDone::Created { call, result } => uas::handle_media_created(state, now, call, result),
        MediaDone::Replaced { call, result } => {
            uas::handle_media_replaced(state, now, call, result);
        }
        MediaDone::Released => {}
    }
}

/// True for the events signalling acts on (the rest, such as talk detection in rooms, is
/// not forwarded): digits, media timeouts, and the quality samples logged at a call's end.
fn wanted(event: &Event) -> bool {
    matches!(
        event.kind,
        EventKind::Dtmf { .. } | EventKind::MediaTimeout | EventKind::Quality(_)
    )
}

/// How often the forwarder checks that signalling still listens when no event comes.
const FORWARD_POLL: Duration = Duration::from_millis(200);

/// Subscribes to the runtime's events and forwards those signalling acts on, from a thread
/// of its own (the subscription is a blocking channel). The thread ends when the returned
/// receiver is dropped or the runtime stops.
pub(super) fn forward_events(runtime: &Runtime) -> mpsc::Receiver<Event> {
    let events = runtime.subscribe();
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    let spawned = std::thread::Builder::new()
        .name("tandem-sip-events".into())
        .spawn(move || {
            loop {
                match events.recv_timeout(FORWARD_POLL) {
                    Ok(event) if wanted(&event) => {
                        if tx.blocking_send(event).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !tx.is_closed() => {}
                    Err(_) => return,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("no thread for media events (DTMF and media timeouts are lost): {e}");
    }
    rx
}
