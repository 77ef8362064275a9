//! The gateway's side of the media runtime: the [`MediaAction`]s it asks the signalling loop
//! to run (runtime calls block, so the gateway never makes them), [`run_media_actions`] that
//! runs them on tokio's blocking pool, and the facts about a call's two-leg session (relay or
//! transcoder, and its `/metrics` count).

use std::net::SocketAddr;
use std::sync::Arc;

use tandem_core::runtime::{Runtime, SessionHandle};
use tandem_core::session::{ControlChange, LegId, LegSpec, MediaDirection, SessionId, SessionSpec};
use tokio::sync::mpsc;

use super::{EndedGatewayCall, GatewayCallId};
use crate::api::Metrics;

/// A media runtime call for the loop to make (blocking: through `spawn_blocking`).
#[derive(Debug, Clone, PartialEq)]
pub enum MediaAction {
    /// Create `spec` and report the result with [`Gateway::handle_media_created`].
    Create {
        /// The call it is for.
        call: GatewayCallId,
        /// The two-leg session: leg 0 the caller, leg 1 the callee.
        spec: SessionSpec,
    },
    /// Rebuild `session` from `spec` on the same ports (the callee chose another format
    /// than the session was built with) and report it like a `Create`, with
    /// [`Gateway::handle_media_created`].
    Replace {
        /// The call it is for.
        call: GatewayCallId,
        /// The session to rebuild.
        session: SessionId,
        /// Its new description.
        spec: SessionSpec,
    },
    /// The callee's RTP address, known from its answer.
    SetRemote {
        /// The session.
        session: SessionId,
        /// The outbound leg.
        leg: LegId,
        /// Where the callee receives RTP.
        remote: SocketAddr,
    },
    /// One side put the call on hold or resumed it (re-INVITE/UPDATE): which way media
    /// flows on its leg now.
    SetDirection {
        /// The session.
        session: SessionId,
        /// The leg of the side that sent the offer.
        leg: LegId,
        /// Seen from Tandem (the peer's `sendonly` is our `RecvOnly`).
        direction: MediaDirection,
    },
    /// The call ended: remove its session.
    Remove {
        /// The session.
        session: SessionId,
        /// An answered call, logged first with its legs' last figures.
        ended: Option<Box<EndedGatewayCall>>,
    },
}

/// The result of a [`MediaAction::Create`], for [`Gateway::handle_media_created`].
#[derive(Debug)]
pub struct MediaCreated {
    /// The call it was for.
    pub call: GatewayCallId,
    /// The session, or why the runtime refused it.
    pub created: Result<SessionHandle, String>,
}

/// Runs `actions` on tokio's blocking pool (runtime calls block until the worker replies)
/// and reports each `Create`'s result on `results`. `SetRemote` and `Remove` failures are
/// only logged: the session is gone or going either way. Needs a tokio runtime.
pub fn run_media_actions(
    runtime: &Arc<Runtime>,
    actions: Vec<MediaAction>,
    results: &mpsc::UnboundedSender<MediaCreated>,
) {
    for action in actions {
        let runtime = Arc::clone(runtime);
        let results = results.clone();
        tokio::task::spawn_blocking(move || match action {
            MediaAction::Create { call, spec } => {
                let created = runtime.create_session(&spec).map_err(|e| e.to_string());
                if let Err(mpsc::error::SendError(MediaCreated {
                    created: Ok(handle),
                    ..
                })) = results.send(MediaCreated { call, created })
                {
                    // Nobody listens any more: do not leak the session.
                    let _ = runtime.remove_session(handle.id);
                }
            }
            MediaAction::Replace {
                call,
                session,
                spec,
            } => {
                let created = runtime
                    .replace_session(session, &spec)
                    .map_err(|e| e.to_string());
                if results.send(MediaCreated { call, created }).is_err() {
                    let _ = runtime.remove_session(session);
                }
            }
            MediaAction::SetRemote {
                session,
                leg,
                remote,
            } => {
                if let Err(e) = runtime.set_remote(session, leg, remote) {
                    tracing::debug!(?session, "gateway: set_remote failed: {e}");
                }
            }
            MediaAction::SetDirection {
                session,
                leg,
                direction,
            } => {
                let change = ControlChange::direction(direction);
                if let Err(e) = runtime.set_leg_controls(session, leg, change) {
                    tracing::debug!(?session, "gateway: set_leg_controls failed: {e}");
                }
            }
            MediaAction::Remove { session, ended } => {
                if let Some(ended) = ended {
                    ended.log([0, 1].map(|leg| runtime.leg_report(session, LegId(leg)).ok()));
                }
                if let Err(e) = runtime.remove_session(session) {
                    tracing::debug!(?session, "gateway: remove_session failed: {e}");
                }
            }
        });
    }
}

/// The two-leg session for caller leg `a` and callee leg `b`: a relay when both run the
/// same codec and events, else a transcoder.
pub(super) fn session_spec(a: LegSpec, b: LegSpec) -> SessionSpec {
    if a.codec == b.codec && a.telephone_event == b.telephone_event {
        SessionSpec::Relay { a, b }
    } else {
        SessionSpec::Transcode { a, b }
    }
}

/// Moves the `/metrics` count of a call's running transcoder (`counted`) to what `spec` runs.
pub(super) fn recount_transcoder(
    metrics: &Metrics,
    counted: &mut Option<(String, String)>,
    spec: &SessionSpec,
) {
    if let Some((a, b)) = counted.take() {
        metrics.transcoder_stopped(&a, &b);
    }
    if let SessionSpec::Transcode { a, b } = spec {
        let name = |leg: &LegSpec| leg.codec.format.codec.descriptor().name.to_owned();
        let pair = (name(a), name(b));
        metrics.transcoder_started(&pair.0, &pair.1);
        *counted = Some(pair);
    }
}

/// True when `new` runs the codec and telephone-events of `old` (only the peer or the
/// direction changed).
pub(super) fn same_format(new: &LegSpec, old: &LegSpec) -> bool {
    new.codec == old.codec && new.telephone_event == old.telephone_event
}
