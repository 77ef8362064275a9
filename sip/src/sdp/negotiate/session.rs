//! [`LocalSession`]: our side of one SDP session across offer/answer exchanges (RFC 3264 §8).

use std::net::IpAddr;

use crate::sdp::error::NegotiationError;
use crate::sdp::model::{Host, Origin, SessionDescription};

use super::answer::answer;
use super::bindings::PayloadTypeBindings;
use super::offer::{create_offer, handle_answer};
use super::policy::LocalPolicy;
use super::stream::{MediaChange, NegotiatedStream, StreamOutcome};

/// The result of an exchange: the streams now in force and whether the media changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// One outcome per `m=` line.
    pub streams: Vec<StreamOutcome>,
    /// Whether the media engine must update the session.
    pub change: MediaChange,
}

impl Negotiated {
    /// The accepted streams.
    pub fn accepted(&self) -> impl Iterator<Item = &NegotiatedStream> {
        self.streams.iter().filter_map(StreamOutcome::accepted)
    }

    /// True if there were streams and none was accepted: an offer like that is refused
    /// (SIP 488), not answered.
    pub fn rejects_everything(&self) -> bool {
        !self.streams.is_empty() && self.accepted().next().is_none()
    }
}

/// Our side of one SDP session (one per dialog, or per leg of a B2BUA).
///
/// It owns our `o=` line. RFC 3264 §8: a new SDP we send increments the version by one,
/// and an SDP with an unchanged version must be identical to the previous one; so the
/// version is incremented exactly when what we send differs from what we sent last (a
/// session-timer refresh answered with the same SDP keeps its version, RFC 4317 §2.5). It
/// also keeps the offer awaiting an answer, the payload type bindings of the session, and
/// the streams in force, to report [`MediaChange`].
///
/// Plain data, no I/O: time and randomness (the session id) come from the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSession {
    username: String,
    session_id: u64,
    version: u64,
    address: IpAddr,
    local: Option<SessionDescription>,
    pending_offer: Option<SessionDescription>,
    bindings: PayloadTypeBindings,
    /// The streams in force; `None` before the first completed exchange.
    streams: Option<Vec<StreamOutcome>>,
}

impl LocalSession {
    /// A new session. `session_id` should be unique (RFC 8866 §5.2 suggests an NTP
    /// timestamp); it is reduced to 63 bits, which RFC 3264 §5 requires. The first SDP
    /// carries version 1.
    pub fn new(username: impl Into<String>, session_id: u64, address: IpAddr) -> Self {
        let username: String = username.into();
        LocalSession {
            username: if username.is_empty() {
                "-".to_owned()
            } else {
                username
            },
            session_id: session_id & (i64::MAX as u64),
            version: 1,
            address,
            local: None,
            pending_offer: None,
            bindings: PayloadTypeBindings::new(),
            streams: None,
        }
    }

    /// Our `o=` line with the current version.
    pub fn origin(&self) -> Origin {
        Origin {
            username: self.username.clone(),
            session_id: self.session_id,
            session_version: self.version,
            address: Host::Ip(self.address),
        }
    }

    /// The last SDP we sent (offer or answer).
    pub fn local_description(&self) -> Option<&SessionDescription> {
        self.local.as_ref()
    }

    /// The offer awaiting an answer, if any.
    pub fn pending_offer(&self) -> Option<&SessionDescription> {
        self.pending_offer.as_ref()
    }

    /// The streams in force after the last completed exchange (none before the first).
    pub fn streams(&self) -> &[StreamOutcome] {
        self.streams.as_deref().unwrap_or_default()
    }

    /// Answers a (re-)offer from the peer (see [`answer`](super::answer())) and commits the
    /// answer as our current SDP.
    ///
    /// Returns the SDP to send and the streams now in force. When the answer would reject
    /// every stream ([`Negotiated::rejects_everything`]), nothing is committed: refuse the
    /// offer (SIP 488 Not Acceptable Here) instead of sending the SDP, and the session stays
    /// as it was (RFC 3261 §14.2 for a re-offer); `change` is then
    /// [`MediaChange::Unchanged`].
    ///
    /// An offer arriving while ours is pending is glare (RFC 3261 §14.2: answer it 491)
    /// and should not reach this method; answering drops our pending offer.
    pub fn answer(
        &mut self,
        offer: &SessionDescription,
        policy: &LocalPolicy,
    ) -> (SessionDescription, Negotiated) {
        let answered = answer(offer, policy, self.origin());
        if answered.rejects_everything() {
            let negotiated = Negotiated {
                streams: answered.streams,
                change: MediaChange::Unchanged,
            };
            return (answered.sdp, negotiated);
        }
        self.pending_offer = None;
        self.bindings.record(offer);
        let sdp = self.stamp(answered.sdp);
        self.bindings.record(&sdp);
        (sdp, self.settle(answered.streams))
    }

    /// Makes an offer, or a re-offer built on the SDP we sent last (see [`create_offer`]):
    /// hold with `policy.direction` `SendOnly`/`Inactive`, resume with `SendRecv`, change
    /// codecs with `policy.codecs`. The offer stays pending until
    /// [`handle_answer`](Self::handle_answer) or [`cancel_offer`](Self::cancel_offer).
    pub fn create_offer(&mut self, policy: &LocalPolicy) -> SessionDescription {
        let offer = create_offer(policy, self.origin(), self.local.as_ref(), &self.bindings);
        let offer = self.stamp(offer);
        self.bindings.record(&offer);
        self.pending_offer = Some(offer.clone());
        offer
    }

    /// Processes the answer to our pending offer (see [`handle_answer`]).
    ///
    /// # Errors
    ///
    /// [`NegotiationError::NoOfferPending`] without a pending offer, or the violation the
    /// answer commits. Either way the offer is no longer pending and the previous streams
    /// stay in force (the caller ends or renegotiates the session).
    pub fn handle_answer(
        &mut self,
        answer: &SessionDescription,
    ) -> Result<Negotiated, NegotiationError> {
        let offer = self
            .pending_offer
            .take()
            .ok_or(NegotiationError::NoOfferPending)?;
        let streams = handle_answer(&offer, answer)?;
        self.bindings.record(answer);
        Ok(self.settle(streams))
    }

    /// Forgets the pending offer: it was refused (e.g. 488 or 491 to a re-INVITE), so the
    /// previous streams stay in force (RFC 3261 §14.1). Its version stays used: the next
    /// different SDP gets a higher one.
    pub fn cancel_offer(&mut self) {
        self.pending_offer = None;
    }

    /// Puts our origin on `sdp`, incrementing the version if it differs from what we sent
    /// last (RFC 3264 §8), and remembers it.
    fn stamp(&mut self, mut sdp: SessionDescription) -> SessionDescription {
        if let Some(previous) = &self.local {
            sdp.origin = previous.origin.clone();
            if *previous == sdp {
                return sdp;
            }
            self.version = self.version.saturating_add(1);
        }
        sdp.origin = self.origin();
        self.local = Some(sdp.clone());
        sdp
    }

    fn settle(&mut self, streams: Vec<StreamOutcome>) -> Negotiated {
        let change = MediaChange::between(self.streams.as_deref(), &streams);
        self.streams = Some(streams.clone());
        Negotiated { streams, change }
    }
}
