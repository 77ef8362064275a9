//! The API's view of the media: channels, bridges and playbacks, and the runtime sessions
//! that carry them (see the model in the [module docs](super)). One mutex guards it all;
//! handlers take it on a blocking thread because runtime calls wait for a worker.

use std::collections::HashMap;
use std::net::SocketAddr;

use tandem_core::bus::LegPorts;

use super::quality::Track;
use tandem_core::runtime::{Runtime, RuntimeError};
use tandem_core::session::{ConferenceSpec, ControlChange, LegId, LegSpec, SessionId, SessionSpec};

/// What kind of session carries a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CarrierKind {
    /// Its own one-leg room: not bridged, nothing playing.
    Holding,
    /// A play session.
    Playback,
    /// A two-party bridge's relay or transcoder (shared with the other channel).
    TwoParty,
    /// A mixing bridge's room (shared with the other members).
    Mixing,
}

/// The session and leg that carry a channel now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Carrier {
    pub(crate) kind: CarrierKind,
    pub(crate) session: SessionId,
    pub(crate) leg: LegId,
    pub(crate) ports: LegPorts,
}

/// A channel.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub(crate) id: String,
    pub(crate) app: Option<String>,
    pub(crate) spec: LegSpec,
    pub(crate) carrier: Carrier,
    pub(crate) bridge: Option<String>,
    pub(crate) playback: Option<String>,
    /// The peer address the runtime learned (source locked), kept across moves.
    pub(crate) peer: Option<SocketAddr>,
    /// Whether the runtime's talk detection reports for this channel (the API filters).
    pub(crate) talk_detection: bool,
    /// ARI mute, kept across carriers (each new carrier gets it again).
    pub(crate) mute: Mute,
    /// What the channel's incoming stream sounded like, RTCP interval by interval.
    pub(crate) quality: Track,
}

/// Which ARI mute directions are on: `in` (what the channel says reaches nobody) and `out`
/// (the channel hears silence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Mute {
    pub(crate) inbound: bool,
    pub(crate) outbound: bool,
}

impl Mute {
    /// The runtime change that sets exactly these directions.
    pub(crate) fn change(self) -> ControlChange {
        ControlChange {
            mute_in: Some(self.inbound),
            mute_out: Some(self.outbound),
            ..ControlChange::NONE
        }
    }
}

/// Gives a channel's new carrier its mute (a new carrier starts unmuted).
pub(crate) fn carry_mute(runtime: &Runtime, carrier: &Carrier, mute: Mute) {
    if mute == Mute::default() {
        return;
    }
    if let Err(e) = runtime.set_leg_controls(carrier.session, carrier.leg, mute.change()) {
        tracing::warn!("muting {carrier:?} again failed: {e}");
    }
}

impl Channel {
    /// The leg spec to re-create the channel with: the learned peer, if any, as its remote.
    pub(crate) fn current_spec(&self) -> LegSpec {
        match self.peer {
            Some(peer) => self.spec.with_remote(peer),
            None => self.spec,
        }
    }
}

/// A bridge's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BridgeKind {
    /// A conference room.
    Mixing,
    /// A relay or transcoder between two channels.
    TwoParty,
}

/// A bridge.
#[derive(Debug, Clone)]
pub(crate) struct Bridge {
    pub(crate) id: String,
    pub(crate) app: Option<String>,
    pub(crate) kind: BridgeKind,
    pub(crate) channels: Vec<String>,
    /// The room (mixing) or the relay/transcoder once two channels are in (two-party).
    pub(crate) session: Option<SessionId>,
    /// For a two-party transcoder: the codec pair (for the metrics).
    pub(crate) transcoding: Option<(String, String)>,
}

/// A playback.
#[derive(Debug, Clone)]
pub(crate) struct Playback {
    pub(crate) id: String,
    pub(crate) channel: String,
    pub(crate) media: String,
    pub(crate) session: SessionId,
    pub(crate) state: &'static str,
}

/// Everything the API tracks.
#[derive(Debug, Default)]
pub(crate) struct State {
    next: u64,
    pub(crate) channels: HashMap<String, Channel>,
    pub(crate) bridges: HashMap<String, Bridge>,
    pub(crate) playbacks: HashMap<String, Playback>,
}

/// Rate of a holding room or mixing bridge for a leg: 16 kHz when the codec is wideband
/// (the DTMF detector runs at 8 or 16 kHz).
pub(crate) fn room_rate(spec: &LegSpec) -> u32 {
    if spec.codec.format.sample_rate > 8000 {
        16000
    } else {
        8000
    }
}

/// Most members of a mixing bridge.
pub(crate) const MIXING_MAX_LEGS: usize = 64;

impl State {
    /// A fresh id with `prefix` (`ch-1`, `br-2`, `pb-3`...).
    pub(crate) fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}-{}", self.next)
    }

    /// The channel carried by `session`'s leg `leg`, if any.
    pub(crate) fn channel_of(&self, session: SessionId, leg: Option<LegId>) -> Option<&Channel> {
        self.channels
            .values()
            .find(|c| c.carrier.session == session && leg.is_none_or(|l| l == c.carrier.leg))
    }
}

/// Creates a holding room with `spec` as its only leg.
pub(crate) fn hold(runtime: &Runtime, spec: &LegSpec) -> Result<Carrier, RuntimeError> {
    let room = runtime.create_session(&SessionSpec::Conference(ConferenceSpec::new(
        room_rate(spec),
        1,
    )))?;
    match runtime.join(room.id, spec) {
        Ok(ports) => Ok(Carrier {
            kind: CarrierKind::Holding,
            session: room.id,
            leg: ports.leg,
            ports,
        }),
        Err(e) => {
            let _ = runtime.remove_session(room.id);
            Err(e)
        }
    }
}

/// Takes a channel out of whatever carries it (the holding room or playback is removed; a
/// mixing room is left). Two-party carriers are the bridge's to tear down.
pub(crate) fn release(runtime: &Runtime, carrier: &Carrier) {
    let result = match carrier.kind {
        CarrierKind::Holding | CarrierKind::Playback => runtime.remove_session(carrier.session),
        CarrierKind::Mixing => runtime.leave(carrier.session, carrier.leg),
        CarrierKind::TwoParty => Ok(()),
    };
    if let Err(e) = result {
        tracing::debug!("releasing {carrier:?}: {e}");
    }
}
