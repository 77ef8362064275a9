//! The B2BUA behind configured `[[routes]]` and registered users: an inbound INVITE routed
//! to [`Destination::Gateway`](crate::run::routing::Destination::Gateway) becomes an
//! outbound INVITE to the route's target (to every current contact of a registered user,
//! `fork`), offering the route's codecs, and the two calls are bridged by one media
//! session (`Transcode`, or `Relay` when both sides run the same codec).
//!
//! Modules: `invite` (a new call until its branches go out), `fork` (branches and the best
//! final response), `outbound` (the branches' INVITEs and responses, CANCEL), `in_dialog` (requests in a bridged call), `late_offer`
//! (INVITEs without SDP), `media` (the runtime calls the loop makes for us), `wire` (Via,
//! Contact, hops, ACK and BYE).
//!
//! # Contract for the signalling loop
//!
//! SIP goes through the loop's [`TransactionLayer`], which every method takes: the gateway
//! sends requests, ACKs and responses on it itself (drain `poll_transmit` afterwards, as
//! after any other call). Media runtime calls block, so the gateway never makes them: it
//! returns [`MediaAction`]s, which the loop runs (through `spawn_blocking`), reporting the
//! result of [`MediaAction::Create`] back with [`Gateway::handle_media_created`];
//! [`run_media_actions`] does that on tokio's blocking pool.
//!
//! | what happened | call |
//! |---|---|
//! | a new INVITE routed to a gateway target | [`Gateway::handle_invite`] |
//! | [`Gateway::poll_locate`] has a target name to look up (per branch) | run it ([`spawn_locate`](crate::run::locate::spawn_locate)), then [`Gateway::handle_located`] |
//! | a `Create` or `Replace` finished | [`Gateway::handle_media_created`] |
//! | `Event::Response` for a transaction [`Gateway::owns_transaction`] | [`Gateway::handle_response`] |
//! | `Event::Timeout` / `Event::TransportError` for one of its transactions | [`Gateway::handle_transaction_failed`] |
//! | `Event::Cancel` for one of its server transactions | [`Gateway::handle_cancel`] |
//! | an in-dialog request (To tag) [`Gateway::owns_request`] says is ours (BYE, ACK, re-INVITE...) | [`Gateway::handle_in_dialog`] |
//! | `Event::Stray2xx` | [`Gateway::handle_stray_2xx`] |
//! | a media timeout event for a session | [`Gateway::handle_media_timeout`] |
//! | [`Gateway::poll_timeout`] is due | [`Gateway::handle_timeout`] |
//! | draining at shutdown | [`Gateway::hangup_all`] |
//!
//! # Call flow
//!
//! 1. INVITE in: an SDP offer is answered in a dry run to learn the inbound leg's codec; an
//!    INVITE without SDP (a late offer, `late_offer`) gets a guess (our first codec). The
//!    outbound leg's is the route's first codec as the SDP layer would number it, without
//!    telephone-event. → `Create`. Each target is one branch (`fork`); a target whose
//!    host is a name is looked up first ([`crate::run::locate`], RFC 3263: SRV, else
//!    A/AAAA) off the loop, and `Create` waits for every lookup; no address → that branch
//!    fails with 503, counted ([`Gateway::unresolved`]) and logged. NAPTR is not looked up.
//! 2. Media created: each branch's INVITE (its own Call-ID and tags, our Via and Contact,
//!    the same offer of the route's codecs at the outbound leg's RTP port) goes to its
//!    target's first hop, over UDP or TCP as its `;transport=` (or its SRV record) says; Via
//!    and Contact name that transport. A timeout or a transport error before any response
//!    moves that branch's INVITE (a new transaction) to its next hop (RFC 3263 §4.3); none
//!    left → the branch fails (408/503). In-dialog requests (ACK, BYE) go to each side's
//!    remote target over its `;transport=`, else over the transport that side's INVITE
//!    used; CANCEL follows its INVITE.
//! 3. The first 18x of any branch → inbound 180 (once; no early media). The first 2xx wins:
//!    ACK, CANCEL to the other branches still calling (a 2xx from one of them later is
//!    ACKed and BYEd, also after the call ended), and the answer is checked against the
//!    format the session was built with (the route's first codec, without telephone-event):
//!    when the callee chose another codec of the route, or accepted telephone-event, the
//!    session is rebuilt for what it chose on the same ports (`Replace`). Then `SetRemote`
//!    for the outbound leg, and the inbound INVITE is answered 200 with our SDP (the answer,
//!    or for a late offer our offer, whose answer comes in the ACK). A branch's failure
//!    waits for the others (a 6xx cancels them at once, RFC 3261 §16.7 step 5); all failed → the best of their statuses in
//!    (`fork::best_response`: a 6xx, else the lowest class; 408 for a timeout, 503 for a
//!    transport error, a challenge or a 3xx we do not follow), and `Remove`.
//! 4. BYE from either side → 200, BYE to the other side, `Remove`. CANCEL in → 487 in and
//!    CANCEL to every branch still calling (a 2xx crossing the CANCEL is ACKed and BYEd).
//!
//! The 200 to the caller is retransmitted until its ACK ([`Gateway::poll_timeout`],
//! [`Gateway::handle_timeout`]); no ACK within 64·T1 hangs the call up.
//!
//! 5. A re-INVITE or UPDATE from either side is answered here, 200 with our SDP at the same
//!    port, without touching the other side: hold and resume, a moved peer (`SetRemote`), a
//!    session refresh repeating its SDP keep that side's codec; a re-INVITE without SDP gets
//!    our current SDP as the offer. An offer that drops that side's codec is answered with
//!    the codec it prefers among that side's policy (the caller's capabilities, or the route's
//!    codecs for the callee; telephone-event kept when offered), and the session is rebuilt
//!    for it on the same ports (`Replace`, phase `Rebuilding`), the other side's leg as it
//!    was: Tandem transcodes, and the runtime continues that leg's RTP stream (same SSRC,
//!    next sequence number), so the other side never hears of it. Another codec change
//!    before the rebuild reports gets 491; an offer with nothing of ours 488 (the session
//!    keeps running); a failed rebuild hangs the call up. The answer's direction goes to
//!    that side's leg (`SetDirection`): Tandem stops sending RTP to a side on hold
//!    (`recvonly`/`inactive`) until it resumes, while the other side's media keeps flowing.
//! 6. DTMF: the session's RFC 4733 and in-band digits are logged by the signalling loop
//!    (`dtmf call=<call-id> digit=<d> source=rtp`, with the Call-ID of the side they came
//!    from, [`Gateway::call_id_of_leg`]); INFO digits are answered 200 and logged
//!    `source=info` (not forwarded).
//!
//! Not done: early media (183 with SDP is a 180 to the caller), forwarding the callee's
//! offer to a late-offer caller (ours goes instead: Tandem transcodes), forwarding
//! re-INVITEs and INFO to the other side (they are answered here),
//! following 3xx redirects, authenticating to a challenging target, NAPTR lookups,
//! `sips:`/TLS targets, remote targets (Contacts) by host name inside a dialog (their
//! requests are not sent), RFC 5626 flow reuse: a registered contact with `;transport=tcp` is called over the transports' latest
//! connection with its address if one is open, else over a new one; a contact registered
//! over TCP without `;transport=tcp` is called over UDP, as RFC 3263 reads its URI.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_core::bus::QualitySample;
use tandem_core::runtime::SessionHandle;
use tandem_core::session::{LegId, LegReport, LegSpec, MediaDirection, SessionId};
use tandem_sip::dialog::{Dialog, DialogId};
use tandem_sip::message::{Request, Response, StatusCode};
use tandem_sip::sdp::{LocalPolicy, LocalSession, NegotiatedStream, SessionDescription};
use tandem_sip::transaction::{TransactionId, TransactionLayer};

use crate::api::Metrics;
use crate::api::quality::{self, Track};
use crate::run::config::CodecPref;
use crate::run::locate::Query;
use crate::run::media::MediaPolicy;
use crate::run::transport::Transport as Wire;

mod fork;
mod in_dialog;
mod invite;
mod late_offer;
mod media;
mod outbound;
#[cfg(test)]
mod tests;
mod wire;

use fork::{Branch, BranchState, Orphan, best_response};
pub use media::{MediaAction, MediaCreated, run_media_actions};
pub use wire::uri_destination;
use wire::{respond_inbound, send_bye};

/// RFC 3261 §17.1.1.1 T1 and T2 at their defaults, for retransmitting our 2xx (§13.3.1.4).
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);

/// Our 200 to a caller, retransmitted until its ACK.
#[derive(Debug)]
struct OkRetransmit {
    response: Response,
    next: Instant,
    interval: Duration,
    give_up: Instant,
}

/// A placeholder RTP port for dry-run negotiations (any non-zero port: only the codec
/// choice is kept from them).
const DRY_RUN_PORT: u16 = 9;

/// Identifies one bridged call for the loop (in [`MediaAction::Create`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GatewayCallId(pub u64);

impl std::fmt::Display for GatewayCallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gw{}", self.0)
    }
}

/// Names one branch of a gateway call, for a target lookup ([`Gateway::poll_locate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GatewayLookup {
    /// The call.
    pub call: GatewayCallId,
    /// Its branch (the index of its target in [`GatewayTarget::targets`]).
    pub branch: usize,
}

/// Where a gateway call goes, as [`routing`](crate::run::routing) or the registrar decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayTarget<'a> {
    /// The target URIs (capture groups substituted): one for a route, every current
    /// contact for a registered user. All are called at once (`fork`).
    pub targets: &'a [String],
    /// Codecs to offer on the outbound leg, in order.
    pub codecs: &'a [CodecPref],
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for target names to be looked up (no media session yet).
    Locating,
    /// Waiting for the media session.
    CreatingMedia,
    /// The outbound INVITEs are out, none answered 2xx yet.
    Calling,
    /// The callee answered with another format than the session's: the session is being
    /// rebuilt on the same ports.
    Replacing,
    /// Both sides answered.
    Bridged,
    /// Bridged, and one side changed codec on a re-offer (answered already): the session is
    /// being rebuilt for it on the same ports.
    Rebuilding,
    /// Ended; waiting only for the media session to be gone (a `Create` in flight).
    Ended,
}

#[derive(Debug)]
struct Call {
    phase: Phase,
    /// The inbound INVITE and its server transaction.
    inbound_request: Request,
    inbound_txn: TransactionId,
    /// Our To tag towards the caller.
    inbound_tag: String,
    inbound_session: LocalSession,
    inbound_policy: LocalPolicy,
    /// The caller's offer; `None` for a late offer (INVITE without SDP: ours goes in the
    /// 200 and the caller answers in its ACK, `late_offer`).
    inbound_offer: Option<SessionDescription>,
    /// How the caller's INVITE came (its in-dialog requests go back that way).
    inbound_transport: Wire,
    /// One outbound INVITE per target (`fork`), and the one whose 2xx won.
    branches: Vec<Branch>,
    winner: Option<usize>,
    /// The outbound leg's policy, and our SDP session towards the callee (the one offer
    /// every branch carries, answered by the winner).
    outbound_policy: LocalPolicy,
    outbound_session: LocalSession,
    /// The caller's leg of the session.
    inbound_leg: LegSpec,
    /// The callee's leg the session was built with.
    outbound_leg: LegSpec,
    /// The callee's accepted stream, once it answered.
    outbound_stream: Option<NegotiatedStream>,
    media: Option<SessionHandle>,
    inbound_dialog: Option<Dialog>,
    outbound_dialog: Option<Dialog>,
    ringing_sent: bool,
    /// Our 200 to the caller until its ACK comes (RFC 3261 §13.3.1.4).
    ok_retransmit: Option<OkRetransmit>,
    /// The caller cancelled while the outbound leg was still being set up.
    cancelled: bool,
    /// Our 200 to a late-offer caller carried our offer: its answer comes in the ACK.
    awaiting_answer: bool,
    /// Which way media flows on each leg (0 the caller's, 1 the callee's) as their last
    /// re-offers left it, seen from Tandem.
    directions: [MediaDirection; 2],
    /// Counted in `/metrics` as a call up (from the 200 to the caller until it ends).
    counted: bool,
    /// The codec pair counted in `/metrics` as a running transcoder, when the session is one.
    transcoder: Option<(String, String)>,
    /// What each side's stream sounded like, RTCP interval by interval (0 the caller's, 1 the
    /// callee's), logged when the call ends.
    quality: [Track; 2],
}

/// The gateway calls in progress. See the module docs.
#[derive(Debug)]
pub struct Gateway {
    /// Our SIP address (Via, Contact).
    local: SocketAddr,
    /// Our media address (SDP `c=`).
    media_address: IpAddr,
    policy: MediaPolicy,
    calls: HashMap<GatewayCallId, Call>,
    /// Transactions (server and client) of each call.
    transactions: HashMap<TransactionId, GatewayCallId>,
    /// Dialogs (either side) of each call.
    dialogs: HashMap<DialogId, GatewayCallId>,
    sessions: HashMap<SessionId, GatewayCallId>,
    next_call: u64,
    /// The `/metrics` registry: bridged calls and their transcoders.
    metrics: Arc<Metrics>,
    /// Target names to look up, for the loop ([`Self::poll_locate`]).
    lookups: Vec<(GatewayLookup, Query)>,
    /// Targets whose name had no address.
    unresolved: u64,
    /// Branches still pending when their call ended: a 2xx on one is ACKed and hung up.
    orphans: HashMap<TransactionId, Orphan>,
}

impl Call {
    /// The branch whose 2xx won.
    fn winner(&self) -> Option<&Branch> {
        self.branches.get(self.winner?)
    }

    /// The transport towards the callee that answered (its in-dialog requests go that way
    /// unless its Contact names one).
    fn callee_transport(&self) -> Wire {
        self.winner().map_or(Wire::Udp, |b| b.hop.transport)
    }

    /// What the caller gets when every branch failed ([`best_response`]).
    fn best_failure(&self) -> StatusCode {
        best_response(self.branches.iter().filter_map(|b| match &b.state {
            BranchState::Failed(failure) => Some(failure),
            _ => None,
        }))
    }
}

impl Gateway {
    /// A gateway sending SIP from `local` and media from `media_address`.
    pub fn new(local: SocketAddr, media_address: IpAddr, policy: MediaPolicy) -> Self {
        Self {
            local,
            media_address,
            policy,
            calls: HashMap::new(),
            transactions: HashMap::new(),
            dialogs: HashMap::new(),
            sessions: HashMap::new(),
            next_call: 1,
            metrics: Arc::new(Metrics::default()),
            lookups: Vec::new(),
            unresolved: 0,
            orphans: HashMap::new(),
        }
    }

    /// The next target name to look up; report the answer with [`Self::handle_located`].
    pub fn poll_locate(&mut self) -> Option<(GatewayLookup, Query)> {
        self.lookups.pop()
    }

    /// Targets so far whose name had no address.
    pub fn unresolved(&self) -> u64 {
        self.unresolved
    }

    /// Counts bridged calls and their transcoders in `metrics` (a registry of its own
    /// otherwise).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// When [`Self::handle_timeout`] must run next: the next retransmission of a 200 to a
    /// caller that has not ACKed it.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.calls
            .values()
            .filter_map(|c| c.ok_retransmit.as_ref().map(|r| r.next))
            .min()
    }

    /// Retransmits the 200s due at `now` (RFC 3261 §13.3.1.4: T1 doubling up to T2) and
    /// hangs up calls whose caller never ACKed within 64·T1.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
    ) -> Vec<MediaAction> {
        let due: Vec<GatewayCallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.ok_retransmit.as_ref().is_some_and(|r| r.next <= now))
            .map(|(&id, _)| id)
            .collect();
        let mut actions = Vec::new();
        for id in due {
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            let Some(retransmit) = call.ok_retransmit.as_mut() else {
                continue;
            };
            if now >= retransmit.give_up {
                tracing::info!(call = %id, "gateway call: the caller never ACKed our 200");
                call.ok_retransmit = None;
                actions.extend(self.hangup(now, layer, id));
                continue;
            }
            let _ = layer.send_response(now, call.inbound_txn, retransmit.response.clone());
            retransmit.interval = (retransmit.interval * 2).min(T2);
            retransmit.next = now + retransmit.interval;
        }
        actions
    }

    /// Calls in progress (for leak checks and metrics).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// True when transaction `id` (server or client) belongs to a gateway call.
    pub fn owns_transaction(&self, id: TransactionId) -> bool {
        self.transactions.contains_key(&id) || self.orphans.contains_key(&id)
    }

    /// True when `request` (with a To tag) belongs to one of the gateway's dialogs.
    pub fn owns_request(&self, request: &Request) -> bool {
        matches!(DialogId::of_received_request(request), Ok(Some(id)) if self.dialogs.contains_key(&id))
    }

    /// The call a media session belongs to.
    pub fn call_of_session(&self, session: SessionId) -> Option<GatewayCallId> {
        self.sessions.get(&session).copied()
    }

    /// The call whose media runs on `leg` of `session`, and which side that leg faces: 0
    /// the caller, 1 the callee.
    fn side_of(&self, session: SessionId, leg: LegId) -> Option<(GatewayCallId, usize)> {
        let id = *self.sessions.get(&session)?;
        let legs = &self.calls.get(&id)?.media.as_ref()?.legs;
        let side = legs.iter().position(|l| l.leg == leg)?;
        Some((id, side.min(1)))
    }

    /// Leg `leg` of `session` sent an RTCP report with these receive figures: one more
    /// interval of its side's quality, counted in `/metrics`.
    pub fn record_quality(&mut self, session: SessionId, leg: LegId, sample: &QualitySample) {
        let Some((id, side)) = self.side_of(session, leg) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let spec = match side {
            0 => &call.inbound_leg,
            _ => &call.outbound_leg,
        };
        if let Some(point) = call.quality[side].record(sample, spec, quality::unix_now()) {
            self.metrics.stream_interval(point.estimate.mos, sample);
        }
    }

    /// The Call-ID of the side whose media runs on `leg` of `session`: the caller's for
    /// the first leg, the callee's (our outbound INVITE's) for the second.
    pub fn call_id_of_leg(&self, session: SessionId, leg: LegId) -> Option<String> {
        let (id, side) = self.side_of(session, leg)?;
        let call = self.calls.get(&id)?;
        let request = match side {
            0 => &call.inbound_request,
            _ => call.winner()?.request.as_ref()?,
        };
        request.headers.call_id().ok().map(str::to_owned)
    }

    /// The media session `session` saw no RTP for the configured time: BYE both sides.
    pub fn handle_media_timeout(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        session: SessionId,
    ) -> Vec<MediaAction> {
        match self.sessions.get(&session).copied() {
            Some(id) => {
                tracing::info!(call = %id, "gateway call: media timeout");
                self.hangup(now, layer, id)
            }
            None => Vec::new(),
        }
    }

    /// Ends every call (shutdown): BYE to bridged calls, 503 to callers still waiting,
    /// CANCEL to callees still ringing.
    pub fn hangup_all(&mut self, now: Instant, layer: &mut TransactionLayer) -> Vec<MediaAction> {
        let ids: Vec<GatewayCallId> = self.calls.keys().copied().collect();
        ids.into_iter()
            .flat_map(|id| self.hangup(now, layer, id))
            .collect()
    }

    fn hangup(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
    ) -> Vec<MediaAction> {
        let local = self.local;
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        match call.phase {
            Phase::Bridged | Phase::Rebuilding => {
                let callee_transport = call.callee_transport();
                let sides = [
                    (&mut call.inbound_dialog, call.inbound_transport),
                    (&mut call.outbound_dialog, callee_transport),
                ];
                for (dialog, side) in sides {
                    if let Some(dialog) = dialog {
                        send_bye(now, layer, dialog, local, side);
                    }
                }
                self.end(id)
            }
            Phase::Locating => {
                respond_inbound(now, layer, call, StatusCode::SERVICE_UNAVAILABLE);
                self.forget(id);
                Vec::new()
            }
            Phase::Calling | Phase::CreatingMedia => {
                if !call.cancelled {
                    respond_inbound(now, layer, call, StatusCode::SERVICE_UNAVAILABLE);
                }
                call.cancelled = true;
                for out in call.branches.iter().filter_map(|b| b.txn) {
                    let _ = layer.cancel(now, out);
                }
                if call.phase == Phase::CreatingMedia {
                    Vec::new()
                } else {
                    self.end(id)
                }
            }
            Phase::Replacing => self.fail_bridged(now, layer, id, StatusCode::SERVICE_UNAVAILABLE),
            Phase::Ended => Vec::new(),
        }
    }

    /// Ends call `id`: its session is removed; a `Create` still in flight is removed when it
    /// reports.
    fn end(&mut self, id: GatewayCallId) -> Vec<MediaAction> {
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        if call.phase == Phase::CreatingMedia {
            call.phase = Phase::Ended;
            return Vec::new();
        }
        if call.phase == Phase::Locating {
            self.forget(id);
            return Vec::new();
        }
        let session = call.media.as_ref().map(|m| m.id);
        let ended = self.take(id);
        match (session, ended) {
            // Logged as the session is removed, with its legs' last figures.
            (Some(session), ended) => vec![MediaAction::Remove {
                session,
                ended: ended.map(Box::new),
            }],
            (None, Some(ended)) => {
                ended.log([None, None]);
                Vec::new()
            }
            (None, None) => Vec::new(),
        }
    }

    /// Drops every trace of call `id`, and logs its end if it was answered. The BYEs it sent
    /// run on without an owner: their responses need no action.
    fn forget(&mut self, id: GatewayCallId) {
        if let Some(ended) = self.take(id) {
            ended.log([None, None]);
        }
    }

    /// [`Gateway::forget`], handing an answered call's end back to be logged.
    fn take(&mut self, id: GatewayCallId) -> Option<EndedGatewayCall> {
        let call = self.calls.remove(&id)?;
        let ended = call.counted.then(|| {
            self.metrics.call_ended();
            EndedGatewayCall {
                call_id: call
                    .inbound_request
                    .headers
                    .call_id()
                    .unwrap_or("-")
                    .to_owned(),
                quality: call.quality,
                legs: [call.inbound_leg, call.outbound_leg],
            }
        });
        if let Some((a, b)) = &call.transcoder {
            self.metrics.transcoder_stopped(a, b);
        }
        if let Some(media) = call.media {
            self.sessions.remove(&media.id);
        }
        // Branches still calling live on until their INVITE ends (a late 2xx is hung up).
        self.orphans
            .extend(call.branches.iter().filter_map(Orphan::of));
        for dialog in [call.inbound_dialog, call.outbound_dialog]
            .into_iter()
            .flatten()
        {
            self.dialogs.remove(dialog.id());
        }
        self.transactions.retain(|_, c| *c != id);
        ended
    }
}

/// An answered gateway call that ended, to be logged with its sides' quality.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedGatewayCall {
    /// The caller's Call-ID.
    call_id: String,
    /// The caller's and the callee's RTCP intervals.
    quality: [Track; 2],
    /// The caller's and the callee's legs.
    legs: [LegSpec; 2],
}

impl EndedGatewayCall {
    /// Logs `gateway call ended` with the quality of what each side's leg received: its RTCP
    /// intervals, or, for a call that ended before the first, its figures so far (`reports`,
    /// leg 0 the caller's, when the legs could still be read).
    pub fn log(&self, reports: [Option<LegReport>; 2]) {
        let [caller, callee] = [0, 1].map(|side| {
            let last = reports[side].as_ref().map(|r| (r, &self.legs[side]));
            quality::log_field(&self.quality[side], last)
        });
        tracing::info!(call = %self.call_id, %caller, %callee, "gateway call ended");
    }
}
