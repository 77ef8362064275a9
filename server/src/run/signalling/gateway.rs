//! The B2BUA behind configured `[[routes]]`: an inbound INVITE routed to
//! [`Destination::Gateway`](crate::run::routing::Destination::Gateway) becomes an outbound
//! INVITE to the route's target, offering the route's codecs, and the two calls are bridged
//! by one media session (`Transcode`, or `Relay` when both sides run the same codec).
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
//! | [`Gateway::poll_locate`] has a target name to look up | run it ([`spawn_locate`](crate::run::locate::spawn_locate)), then [`Gateway::handle_located`] |
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
//! 1. INVITE in (with an SDP offer; a late offer is refused with 488): the offer is answered
//!    in a dry run to learn the inbound leg's codec; the outbound leg's is the route's first
//!    codec as the SDP layer would number it, without telephone-event. → `Create`.
//!    A target whose host is a name is looked up first ([`crate::run::locate`], RFC 3263:
//!    SRV, else A/AAAA) off the loop; no address → 503 to the caller, counted
//!    ([`Gateway::unresolved`]) and logged. NAPTR is not looked up.
//! 2. Media created: the outbound INVITE (new Call-ID and tags, our Via and Contact, the
//!    route's codecs at the outbound leg's RTP port) goes to the target's first hop, over UDP
//!    or TCP as its `;transport=` (or its SRV record) says; Via and Contact name that
//!    transport. A timeout or a transport error before any response moves the INVITE (a new
//!    transaction) to the next hop (RFC 3263 §4.3); none left → 408/503 to the caller.
//!    In-dialog requests (ACK, BYE) go to each side's remote target over its `;transport=`,
//!    else over the transport that side's INVITE used; CANCEL follows its INVITE.
//! 3. Outbound 18x → inbound 180 (once; no early media). Outbound 2xx → ACK, and the
//!    answer is checked against the format the session was built with (the route's first
//!    codec, without telephone-event): when the callee chose another codec of the route, or
//!    accepted telephone-event, the session is rebuilt for what it chose on the same ports
//!    (`Replace`). Then `SetRemote` for the outbound leg, and the inbound INVITE is
//!    answered 200 with our SDP. Outbound failure →
//!    the same status in (408 for a timeout, 503 for a transport error, a challenge or a
//!    3xx we do not follow), and `Remove`.
//! 4. BYE from either side → 200, BYE to the other side, `Remove`. CANCEL in → 487 in and
//!    CANCEL out (a 2xx crossing the CANCEL is ACKed and BYEd).
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
//! Not done: forwarding re-INVITEs and INFO to the other side (they are answered here),
//! following 3xx redirects, authenticating to a challenging target, NAPTR lookups,
//! `sips:`/TLS targets, remote targets (Contacts) by host name inside a dialog (their
//! requests are not sent), RFC 5626 flow reuse: a registered contact with `;transport=tcp` is called over the transports' latest
//! connection with its address if one is open, else over a new one; a contact registered
//! over TCP without `;transport=tcp` is called over UDP, as RFC 3263 reads its URI.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_core::runtime::{Runtime, SessionHandle};
use tandem_core::session::{ControlChange, LegId, LegSpec, MediaDirection, SessionId, SessionSpec};
use tandem_sip::dialog::{Dialog, DialogId, DtmfRelay, UacParams, uas};
use tandem_sip::message::{
    ContentType, HeaderName, Host, Method, NameAddr, Request, Response, StatusCode, Transport, Uri,
};
use tandem_sip::sdp::{LocalPolicy, LocalSession, NegotiatedStream, SessionDescription, answer};
use tandem_sip::transaction::{TransactionId, TransactionLayer};
use tokio::sync::mpsc;

use crate::api::Metrics;
use crate::run::config::CodecPref;
use crate::run::locate::{Hop, LocateError, Plan, Query, plan};
use crate::run::media::{MediaPolicy, capability, leg_spec_for};
use crate::run::transport::Transport as Wire;

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
            MediaAction::Remove { session } => {
                if let Err(e) = runtime.remove_session(session) {
                    tracing::debug!(?session, "gateway: remove_session failed: {e}");
                }
            }
        });
    }
}

/// Where a gateway call goes, as [`routing`](crate::run::routing) decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayTarget<'a> {
    /// The target URI (capture groups substituted).
    pub target: &'a str,
    /// Codecs to offer on the outbound leg, in order.
    pub codecs: &'a [CodecPref],
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the target's name to be looked up (no media session yet).
    Locating,
    /// Waiting for the media session.
    CreatingMedia,
    /// The outbound INVITE is out, no final response yet.
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
    inbound_offer: SessionDescription,
    /// How the caller's INVITE came (its in-dialog requests go back that way).
    inbound_transport: Wire,
    /// The target, the hop the INVITE goes to, the hops left to try, and the outbound
    /// leg's policy.
    target: Uri,
    hop: Hop,
    next_hops: Vec<Hop>,
    /// The current hop answered something: no failover to the next one any more.
    hop_answered: bool,
    outbound_policy: LocalPolicy,
    outbound_session: LocalSession,
    /// The caller's leg of the session.
    inbound_leg: LegSpec,
    /// The callee's leg the session was built with.
    outbound_leg: LegSpec,
    /// The callee's accepted stream, once it answered.
    outbound_stream: Option<NegotiatedStream>,
    /// The outbound INVITE (for the dialog and the CANCEL) and its client transaction.
    outbound_request: Option<Request>,
    outbound_txn: Option<TransactionId>,
    media: Option<SessionHandle>,
    inbound_dialog: Option<Dialog>,
    outbound_dialog: Option<Dialog>,
    ringing_sent: bool,
    /// Our 200 to the caller until its ACK comes (RFC 3261 §13.3.1.4).
    ok_retransmit: Option<OkRetransmit>,
    /// The caller cancelled while the outbound leg was still being set up.
    cancelled: bool,
    /// Which way media flows on each leg (0 the caller's, 1 the callee's) as their last
    /// re-offers left it, seen from Tandem.
    directions: [MediaDirection; 2],
    /// Counted in `/metrics` as a call up (from the 200 to the caller until it ends).
    counted: bool,
    /// The codec pair counted in `/metrics` as a running transcoder, when the session is one.
    transcoder: Option<(String, String)>,
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
    lookups: Vec<(GatewayCallId, Query)>,
    /// Calls refused because their target's name had no address.
    unresolved: u64,
}

/// 64 unpredictable bits (per-process random hash keys: enough for tags and Call-IDs).
fn random_u64() -> u64 {
    RandomState::new().hash_one(0u8)
}

fn token() -> String {
    format!("{:016x}", random_u64())
}

/// The address a request to `uri` goes to: its host, which must be an IP literal, and its
/// port (5060 when absent).
pub fn uri_destination(uri: &Uri) -> Option<SocketAddr> {
    let sip = uri.as_sip()?;
    let ip = match &sip.host {
        Host::Ipv4(ip) => IpAddr::V4(*ip),
        Host::Ipv6(ip) => IpAddr::V6(*ip),
        Host::Domain(_) => return None,
    };
    Some(SocketAddr::new(ip, sip.port.unwrap_or(5060)))
}

/// The accepted stream of the SDP answer in `response`, processed by `session` (which
/// holds our pending offer).
fn answer_stream(session: &mut LocalSession, response: &Response) -> Option<NegotiatedStream> {
    let sdp = SessionDescription::parse(&response.body).ok()?;
    let negotiated = session.handle_answer(&sdp).ok()?;
    negotiated.accepted().next().cloned()
}

/// The two-leg session for caller leg `a` and callee leg `b`: a relay when both run the
/// same codec and events, else a transcoder.
fn session_spec(a: LegSpec, b: LegSpec) -> SessionSpec {
    if a.codec == b.codec && a.telephone_event == b.telephone_event {
        SessionSpec::Relay { a, b }
    } else {
        SessionSpec::Transcode { a, b }
    }
}

/// Where an in-dialog request built by [`Dialog`] goes: its first Route (loose routing),
/// else its Request-URI, over the URI's `;transport=`, else over `side` (the transport that
/// side's INVITE used). `None` for a URI by host name: inside a dialog there is no lookup.
fn next_hop(request: &Request, side: Wire) -> Option<Hop> {
    let uri = match request.headers.routes().next() {
        Some(Ok(route)) => route.uri,
        Some(Err(_)) => return None,
        None => request.uri.clone(),
    };
    let explicit = uri.as_sip()?.transport().is_some();
    match plan(&uri).ok()? {
        Plan::Ready(hop) if explicit => Some(hop),
        Plan::Ready(hop) => Some(Hop {
            transport: side,
            ..hop
        }),
        Plan::Lookup(_) => None,
    }
}

/// How a request arrived, from its top Via (UDP when it names anything else).
fn arrived_over(request: &Request) -> Wire {
    match request.headers.top_via().map(|v| v.transport) {
        Ok(Transport::Tcp) => Wire::Tcp,
        _ => Wire::Udp,
    }
}

/// Our Via for requests we send from `local` over `transport` (the layer adds the branch).
fn via(local: SocketAddr, transport: Wire) -> String {
    format!("SIP/2.0/{transport} {local};rport")
}

/// Our Contact at `local`, with `user` (escaped as on the wire) when there is one, and
/// `;transport=tcp` when the peer must reach us over TCP.
fn contact(local: SocketAddr, user: Option<&str>, transport: Wire) -> NameAddr {
    let param = match transport {
        Wire::Tcp => ";transport=tcp",
        Wire::Udp => "",
    };
    let text = match user {
        Some(u) if !u.is_empty() => format!("<sip:{u}@{local}{param}>"),
        _ => format!("<sip:tandem@{local}{param}>"),
    };
    NameAddr::parse(&text).unwrap_or_else(|_| NameAddr::new(Uri::Other(text)))
}

/// 502 Bad Gateway (RFC 3261 §21.5.3): the route's target cannot be reached as written.
fn bad_gateway() -> StatusCode {
    StatusCode::new(502).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

/// The inbound final status for an outbound final non-2xx status.
fn inbound_status(outbound: StatusCode) -> StatusCode {
    match outbound.as_u16() {
        // Redirects are not followed, and a challenge was for us, not for the caller.
        300..=399 | 401 | 407 => StatusCode::SERVICE_UNAVAILABLE,
        _ => outbound,
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
        }
    }

    /// The next target name to look up; report the answer with [`Self::handle_located`].
    pub fn poll_locate(&mut self) -> Option<(GatewayCallId, Query)> {
        self.lookups.pop()
    }

    /// Calls refused so far because their target's name had no address.
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
        self.transactions.contains_key(&id)
    }

    /// True when `request` (with a To tag) belongs to one of the gateway's dialogs.
    pub fn owns_request(&self, request: &Request) -> bool {
        matches!(DialogId::of_received_request(request), Ok(Some(id)) if self.dialogs.contains_key(&id))
    }

    /// The call a media session belongs to.
    pub fn call_of_session(&self, session: SessionId) -> Option<GatewayCallId> {
        self.sessions.get(&session).copied()
    }

    /// The Call-ID of the side whose media runs on `leg` of `session`: the caller's for
    /// the first leg, the callee's (our outbound INVITE's) for the second.
    pub fn call_id_of_leg(&self, session: SessionId, leg: LegId) -> Option<String> {
        let call = self.calls.get(self.sessions.get(&session)?)?;
        let index = call
            .media
            .as_ref()?
            .legs
            .iter()
            .position(|l| l.leg == leg)?;
        let request = match index {
            0 => &call.inbound_request,
            _ => call.outbound_request.as_ref()?,
        };
        request.headers.call_id().ok().map(str::to_owned)
    }

    /// Takes a new INVITE (server transaction `server`) routed to `target`, whose caller is
    /// answered with `inbound_codecs` (its endpoint's preferences or `[codecs]`).
    ///
    /// Refusals are answered here (488 without a usable offer, 502 for a target Tandem cannot
    /// send to: not a `sip:` URI, or a transport other than UDP and TCP) and return no
    /// action. A target by host name returns no action either: the call waits for
    /// [`Self::handle_located`].
    pub fn handle_invite(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        server: TransactionId,
        request: &Request,
        target: &GatewayTarget<'_>,
        inbound_codecs: &[CodecPref],
    ) -> Vec<MediaAction> {
        let refuse = |layer: &mut TransactionLayer, status: StatusCode, why: &str| {
            tracing::info!(
                target = target.target,
                "gateway call refused ({status}): {why}"
            );
            let mut r = Response::from_request(request, status);
            let _ = r.set_to_tag(&token());
            let _ = layer.send_response(now, server, r);
            Vec::new()
        };
        let Ok(uri) = Uri::parse(target.target) else {
            return refuse(layer, bad_gateway(), "target is not a SIP URI");
        };
        let planned = match plan(&uri) {
            Ok(planned) => planned,
            Err(e) => return refuse(layer, bad_gateway(), &e.to_string()),
        };
        let Ok(offer) = SessionDescription::parse(&request.body) else {
            return refuse(
                layer,
                StatusCode::NOT_ACCEPTABLE_HERE,
                "no usable SDP offer",
            );
        };
        let inbound_policy = capability::local_policy(
            &capability::capabilities(inbound_codecs, &self.policy),
            &self.policy,
            self.media_address,
        );
        let Some(inbound_leg) = self.dry_answer(&offer, &inbound_policy) else {
            return refuse(layer, StatusCode::NOT_ACCEPTABLE_HERE, "no common codec");
        };
        let outbound_policy = capability::local_policy(
            &capability::offer(target.codecs, &self.policy),
            &self.policy,
            self.media_address,
        );
        let Some(outbound_leg) = self.dry_offer(&outbound_policy) else {
            return refuse(
                layer,
                StatusCode::NOT_ACCEPTABLE_HERE,
                "route has no codec we run",
            );
        };
        let id = GatewayCallId(self.next_call);
        self.next_call += 1;
        let spec = session_spec(inbound_leg, outbound_leg);
        let (phase, hop) = match &planned {
            Plan::Ready(hop) => (Phase::CreatingMedia, *hop),
            // A placeholder until the lookup answers.
            Plan::Lookup(_) => (
                Phase::Locating,
                Hop {
                    addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                    transport: Wire::Udp,
                },
            ),
        };
        let session_id = random_u64();
        self.calls.insert(
            id,
            Call {
                phase,
                inbound_request: request.clone(),
                inbound_transport: arrived_over(request),
                inbound_txn: server,
                inbound_tag: token(),
                inbound_session: LocalSession::new("tandem", session_id, self.media_address),
                inbound_policy,
                inbound_offer: offer,
                target: uri,
                hop,
                next_hops: Vec::new(),
                hop_answered: false,
                outbound_policy,
                outbound_session: LocalSession::new(
                    "tandem",
                    session_id.wrapping_add(1),
                    self.media_address,
                ),
                inbound_leg,
                outbound_leg,
                outbound_stream: None,
                outbound_request: None,
                outbound_txn: None,
                media: None,
                inbound_dialog: None,
                outbound_dialog: None,
                ringing_sent: false,
                ok_retransmit: None,
                cancelled: false,
                directions: [MediaDirection::SendRecv; 2],
                counted: false,
                transcoder: None,
            },
        );
        self.transactions.insert(server, id);
        if let Plan::Lookup(query) = planned {
            tracing::info!(call = %id, target = target.target, "gateway call: looking up the target");
            self.lookups.push((id, query));
            return Vec::new();
        }
        tracing::info!(call = %id, target = target.target, "gateway call: creating media");
        vec![MediaAction::Create { call: id, spec }]
    }

    /// The lookup of call `id`'s target name finished: the media session is created for
    /// the first hop, or the caller gets 503 (counted in [`Self::unresolved`]).
    pub fn handle_located(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        hops: Result<Vec<Hop>, LocateError>,
    ) -> Vec<MediaAction> {
        let Some(call) = self.calls.get_mut(&id) else {
            // Cancelled or hung up meanwhile.
            return Vec::new();
        };
        if call.phase != Phase::Locating {
            return Vec::new();
        }
        let mut hops = match hops {
            Ok(hops) if !hops.is_empty() => hops,
            failed => {
                let why = failed
                    .err()
                    .map_or_else(|| "no address".to_owned(), |e| e.to_string());
                self.unresolved += 1;
                self.metrics.target_unresolved();
                tracing::warn!(call = %id, target = %call.target, "gateway call: target not resolved: {why}");
                respond_inbound(now, layer, call, StatusCode::SERVICE_UNAVAILABLE);
                self.forget(id);
                return Vec::new();
            }
        };
        call.hop = hops.remove(0);
        hops.reverse();
        call.next_hops = hops;
        call.phase = Phase::CreatingMedia;
        tracing::info!(call = %id, hop = %call.hop.addr, transport = %call.hop.transport, "gateway call: target located; creating media");
        vec![MediaAction::Create {
            call: id,
            spec: session_spec(call.inbound_leg, call.outbound_leg),
        }]
    }

    /// The leg the caller's `offer` gives under `policy`, by answering it in a dry run.
    fn dry_answer(&self, offer: &SessionDescription, policy: &LocalPolicy) -> Option<LegSpec> {
        let mut policy = policy.clone();
        policy.rtp_ports = vec![DRY_RUN_PORT];
        let answered = answer(
            offer,
            &policy,
            LocalSession::new("-", 0, self.media_address).origin(),
        );
        let stream = answered.accepted().next()?;
        leg_spec_for(stream, &self.policy).ok()
    }

    /// The leg our offer under `policy` gives when the callee picks its first codec and no
    /// telephone-event: our offer, answered in a dry run by a peer that supports only that
    /// codec. (Guessing without events means a callee that leaves them out never receives
    /// a payload type it did not accept; one that accepts them costs a session rebuild.)
    fn dry_offer(&self, policy: &LocalPolicy) -> Option<LegSpec> {
        let mut policy = policy.clone();
        policy.rtp_ports = vec![DRY_RUN_PORT];
        let mut ours = LocalSession::new("-", 0, self.media_address);
        let offer = ours.create_offer(&policy);
        let mut callee_policy = policy.clone();
        callee_policy.codecs.truncate(1);
        callee_policy.telephone_events = None;
        let answered = answer(
            &offer,
            &callee_policy,
            LocalSession::new("-", 1, self.media_address).origin(),
        );
        let negotiated = ours.handle_answer(&answered.sdp).ok()?;
        let stream = negotiated.accepted().next()?;
        let mut leg = leg_spec_for(stream, &self.policy).ok()?;
        // The callee's address comes with its real answer (`SetRemote`).
        leg.remote = None;
        Some(leg)
    }

    /// The result of [`MediaAction::Create`] for `call`: the outbound INVITE goes out, or
    /// the caller gets 503. `Err` carries the runtime's reason, for the log.
    pub fn handle_media_created(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        created: Result<SessionHandle, String>,
    ) -> Vec<MediaAction> {
        let Some(call) = self.calls.get_mut(&id) else {
            // The call is gone; a session created anyway must not leak.
            return created
                .map(|h| vec![MediaAction::Remove { session: h.id }])
                .unwrap_or_default();
        };
        let handle = match created {
            Ok(handle) => handle,
            Err(reason) => {
                tracing::warn!(call = %id, "gateway call: no media session: {reason}");
                if call.phase == Phase::Replacing {
                    return self.fail_bridged(now, layer, id, StatusCode::SERVICE_UNAVAILABLE);
                }
                if call.phase == Phase::Rebuilding {
                    // The side was answered with a codec its leg does not run: end the call.
                    call.phase = Phase::Bridged;
                    return self.hangup(now, layer, id);
                }
                if !call.cancelled && call.phase != Phase::Ended {
                    let status = StatusCode::SERVICE_UNAVAILABLE;
                    respond_inbound(now, layer, call, status);
                }
                self.forget(id);
                return Vec::new();
            }
        };
        self.sessions.insert(handle.id, id);
        let session = handle.id;
        call.media = Some(handle.clone());
        if call.cancelled || call.phase == Phase::Ended {
            self.forget(id);
            return vec![MediaAction::Remove { session }];
        }
        if call.phase == Phase::Replacing {
            return self.bridge(now, layer, id);
        }
        if call.phase == Phase::Rebuilding {
            call.phase = Phase::Bridged;
            tracing::info!(call = %id, session = ?session, "gateway call: session rebuilt");
            return Vec::new();
        }
        let Some(port) = handle.legs.get(1).map(|l| l.rtp.port()) else {
            respond_inbound(now, layer, call, StatusCode::SERVER_INTERNAL_ERROR);
            self.forget(id);
            return vec![MediaAction::Remove { session }];
        };
        let mut policy = call.outbound_policy.clone();
        policy.rtp_ports = vec![port];
        let offer = call.outbound_session.create_offer(&policy);
        let caller = call
            .inbound_request
            .headers
            .from()
            .ok()
            .and_then(|f| f.uri.as_sip().and_then(|s| s.user.clone()));
        let from_text = format!(
            "<sip:{}@{}>",
            caller.as_deref().unwrap_or("tandem"),
            self.local
        );
        let Ok(from) = NameAddr::parse(&from_text) else {
            respond_inbound(now, layer, call, StatusCode::SERVER_INTERNAL_ERROR);
            self.forget(id);
            return vec![MediaAction::Remove { session }];
        };
        let params = UacParams::new(
            call.target.clone(),
            from,
            token(),
            NameAddr::new(call.target.clone()),
            format!("{}@tandem", token()),
            contact(self.local, caller.as_deref(), call.hop.transport),
        );
        match params.invite(offer.to_string().as_bytes()) {
            Ok(request) => {
                call.outbound_request = Some(request);
                call.phase = Phase::Calling;
                self.send_invite(now, layer, id)
            }
            Err(e) => {
                tracing::warn!(call = %id, "gateway call: outbound INVITE not built: {e}");
                respond_inbound(now, layer, call, StatusCode::SERVER_INTERNAL_ERROR);
                self.forget(id);
                vec![MediaAction::Remove { session }]
            }
        }
    }

    /// Sends call `id`'s outbound INVITE to its current hop on a new client transaction,
    /// with our Via and Contact for the hop's transport; a hop the layer refuses at once
    /// gives way to the next. No hop left: 503 to the caller, and the call ends.
    fn send_invite(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
    ) -> Vec<MediaAction> {
        let local = self.local;
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        let Some(mut request) = call.outbound_request.take() else {
            return Vec::new();
        };
        loop {
            let hop = call.hop;
            let caller = call
                .inbound_request
                .headers
                .from()
                .ok()
                .and_then(|f| f.uri.as_sip().and_then(|s| s.user.clone()));
            request
                .headers
                .set(HeaderName::Via, via(local, hop.transport));
            request.headers.set(
                HeaderName::Contact,
                contact(local, caller.as_deref(), hop.transport),
            );
            let sent = layer.send_request(now, request.clone(), hop.addr, hop.sip_transport());
            match sent {
                Ok(txn) => {
                    call.outbound_txn = Some(txn);
                    call.outbound_request = Some(request);
                    call.hop_answered = false;
                    self.transactions.insert(txn, id);
                    tracing::info!(call = %id, destination = %hop.addr, transport = %hop.transport, "gateway call: INVITE out");
                    return Vec::new();
                }
                Err(e) => {
                    tracing::warn!(call = %id, destination = %hop.addr, "gateway call: outbound INVITE not sent: {e}");
                    if let Some(next) = call.next_hops.pop() {
                        call.hop = next;
                        continue;
                    }
                    call.outbound_request = Some(request);
                    respond_inbound(now, layer, call, StatusCode::SERVICE_UNAVAILABLE);
                    return self.end(id);
                }
            }
        }
    }

    /// Moves call `id`'s INVITE to its next hop after `why` (RFC 3263 §4.3), if it is still
    /// calling, its current hop never answered, and a hop is left; `None` otherwise.
    fn fail_over(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        why: &str,
    ) -> Option<Vec<MediaAction>> {
        let call = self.calls.get_mut(&id)?;
        if call.cancelled || call.phase != Phase::Calling || call.hop_answered {
            return None;
        }
        let next = call.next_hops.pop()?;
        tracing::info!(call = %id, failed = %call.hop.addr, next = %next.addr, transport = %next.transport, "gateway call: {why}; trying the next hop");
        call.hop = next;
        call.outbound_txn = None;
        Some(self.send_invite(now, layer, id))
    }

    /// A response on one of the gateway's client transactions (the outbound INVITE, or a
    /// BYE we sent: those need nothing).
    pub fn handle_response(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        txn: TransactionId,
        response: &Response,
    ) -> Vec<MediaAction> {
        let Some(&id) = self.transactions.get(&txn) else {
            return Vec::new();
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        if call.outbound_txn != Some(txn) {
            return Vec::new();
        }
        let code = response.status.as_u16();
        if code == 503 && !call.hop_answered && !call.next_hops.is_empty() {
            // An overloaded server: the next hop may do (RFC 3263 §4.3).
            self.transactions.remove(&txn);
            if let Some(actions) = self.fail_over(now, layer, id, "503 from the hop") {
                return actions;
            }
            let Some(call) = self.calls.get_mut(&id) else {
                return Vec::new();
            };
            call.outbound_txn = None;
            return self.end(id);
        }
        call.hop_answered = true;
        match code {
            100 => Vec::new(),
            101..=199 => {
                if !call.ringing_sent && !call.cancelled && call.phase == Phase::Calling {
                    call.ringing_sent = true;
                    let contact = contact(self.local, None, call.inbound_transport);
                    if let Ok(ringing) = uas::invite_response(
                        &call.inbound_request,
                        StatusCode::RINGING,
                        &call.inbound_tag,
                        &contact,
                    ) {
                        let _ = layer.send_response(now, call.inbound_txn, ringing);
                    }
                }
                Vec::new()
            }
            200..=299 => self.answered(now, layer, id, response),
            _ => {
                call.outbound_txn = None;
                self.transactions.remove(&txn);
                if !call.cancelled && call.phase == Phase::Calling {
                    tracing::info!(call = %id, status = code, "gateway call: callee refused");
                    respond_inbound(now, layer, call, inbound_status(response.status));
                }
                self.end(id)
            }
        }
    }

    /// The callee answered 2xx.
    fn answered(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        response: &Response,
    ) -> Vec<MediaAction> {
        let local = self.local;
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        let side = call.hop.transport;
        // A retransmitted 2xx: ACK it again.
        if let Some(dialog) = &call.outbound_dialog {
            send_ack(layer, dialog, local, side);
            return Vec::new();
        }
        let Some(invite) = call.outbound_request.as_ref() else {
            return Vec::new();
        };
        let mut dialog = match Dialog::new_uac(invite, response) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(call = %id, "gateway call: unusable 2xx: {e}");
                return Vec::new();
            }
        };
        send_ack(layer, &dialog, local, side);
        if call.cancelled || call.phase != Phase::Calling {
            // It crossed our CANCEL: end it at once.
            send_bye(now, layer, &mut dialog, local, side);
            return Vec::new();
        }
        self.dialogs.insert(dialog.id().clone(), id);
        call.outbound_dialog = Some(dialog);
        let stream = answer_stream(&mut call.outbound_session, response);
        let leg = stream
            .as_ref()
            .and_then(|s| leg_spec_for(s, &self.policy).ok());
        let (Some(stream), Some(leg)) = (stream, leg) else {
            tracing::info!(call = %id, "gateway call: the callee's answer is unusable");
            return self.fail_bridged(now, layer, id, StatusCode::NOT_ACCEPTABLE_HERE);
        };
        let same = leg.codec == call.outbound_leg.codec
            && leg.telephone_event == call.outbound_leg.telephone_event;
        if !same {
            // The session runs another codec (or telephone-event) than the callee chose:
            // rebuild it for what the callee chose, on the ports already offered.
            tracing::info!(
                call = %id,
                chosen = ?leg.codec.format,
                "gateway call: the callee chose another format; rebuilding the session"
            );
            let Some(session) = call.media.as_ref().map(|m| m.id) else {
                return self.fail_bridged(now, layer, id, StatusCode::SERVER_INTERNAL_ERROR);
            };
            call.outbound_leg = leg;
            call.outbound_stream = Some(stream);
            call.phase = Phase::Replacing;
            return vec![MediaAction::Replace {
                call: id,
                session,
                spec: session_spec(call.inbound_leg, leg),
            }];
        }
        call.outbound_stream = Some(stream);
        self.bridge(now, layer, id)
    }

    /// The session exists and the callee's answer matches it: point the outbound leg at
    /// the callee and answer the caller.
    fn bridge(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
    ) -> Vec<MediaAction> {
        let local = self.local;
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        let Some(media) = call.media.clone() else {
            return Vec::new();
        };
        let session = media.id;
        let mut actions = Vec::new();
        let remote = call.outbound_stream.as_ref().and_then(|s| s.remote_rtp);
        if let (Some(remote), Some(leg)) = (remote, media.legs.get(1)) {
            actions.push(MediaAction::SetRemote {
                session,
                leg: leg.leg,
                remote,
            });
        }
        // Answer the caller with the inbound leg's port.
        let mut policy = call.inbound_policy.clone();
        policy.rtp_ports = media
            .legs
            .first()
            .map(|l| l.rtp.port())
            .into_iter()
            .collect();
        let (sdp, _) = call.inbound_session.answer(&call.inbound_offer, &policy);
        let user = call
            .inbound_request
            .uri
            .as_sip()
            .and_then(|s| s.user.clone());
        let ok = uas::invite_response(
            &call.inbound_request,
            StatusCode::OK,
            &call.inbound_tag,
            &contact(local, user.as_deref(), call.inbound_transport),
        )
        .map(|r| r.with_body(&ContentType::sdp(), sdp.to_string()));
        match ok {
            Ok(ok) => {
                if let Ok(dialog) = Dialog::new_uas(&call.inbound_request, &ok) {
                    self.dialogs.insert(dialog.id().clone(), id);
                    call.inbound_dialog = Some(dialog);
                }
                let _ = layer.send_response(now, call.inbound_txn, ok.clone());
                call.ok_retransmit = Some(OkRetransmit {
                    response: ok,
                    next: now + T1,
                    interval: T1,
                    give_up: now + 64 * T1,
                });
                call.phase = Phase::Bridged;
                call.counted = true;
                self.metrics.call_started();
                if let SessionSpec::Transcode { a, b } =
                    session_spec(call.inbound_leg, call.outbound_leg)
                {
                    let name = |leg: &LegSpec| leg.codec.format.codec.descriptor().name.to_owned();
                    let pair = (name(&a), name(&b));
                    self.metrics.transcoder_started(&pair.0, &pair.1);
                    call.transcoder = Some(pair);
                }
                tracing::info!(call = %id, session = ?session, "gateway call: bridged");
                actions
            }
            Err(e) => {
                tracing::warn!(call = %id, "gateway call: 200 not built: {e}");
                self.fail_bridged(now, layer, id, StatusCode::SERVER_INTERNAL_ERROR)
            }
        }
    }

    /// Gives up on a call whose callee answered but that cannot be bridged: BYE to the
    /// callee, `status` to the caller.
    fn fail_bridged(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        status: StatusCode,
    ) -> Vec<MediaAction> {
        let local = self.local;
        if let Some(call) = self.calls.get_mut(&id) {
            let side = call.hop.transport;
            if let Some(d) = call.outbound_dialog.as_mut() {
                send_bye(now, layer, d, local, side);
            }
            if !call.cancelled {
                respond_inbound(now, layer, call, status);
            }
        }
        self.end(id)
    }

    /// One of the gateway's transactions timed out or could not be sent.
    pub fn handle_transaction_failed(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        txn: TransactionId,
        timed_out: bool,
    ) -> Vec<MediaAction> {
        let Some(id) = self.transactions.remove(&txn) else {
            return Vec::new();
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        if call.outbound_txn != Some(txn) {
            return Vec::new();
        }
        let why = if timed_out {
            "no answer"
        } else {
            "transport error"
        };
        if let Some(actions) = self.fail_over(now, layer, id, why) {
            return actions;
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        call.outbound_txn = None;
        let status = if timed_out {
            StatusCode::REQUEST_TIMEOUT
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        tracing::info!(call = %id, "gateway call: callee unreachable ({status})");
        if !call.cancelled && call.phase == Phase::Calling {
            respond_inbound(now, layer, call, status);
        }
        self.end(id)
    }

    /// The caller cancelled the INVITE on server transaction `txn` (the layer answered the
    /// CANCEL): 487 to the caller, CANCEL to the callee.
    pub fn handle_cancel(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        txn: TransactionId,
    ) -> Vec<MediaAction> {
        let Some(&id) = self.transactions.get(&txn) else {
            return Vec::new();
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        if call.inbound_txn != txn
            || call.cancelled
            || matches!(call.phase, Phase::Bridged | Phase::Rebuilding)
        {
            return Vec::new();
        }
        call.cancelled = true;
        respond_inbound(now, layer, call, StatusCode::REQUEST_TERMINATED);
        tracing::info!(call = %id, "gateway call: cancelled by the caller");
        match call.phase {
            // No media yet, nothing sent out: the lookup's answer finds no call.
            Phase::Locating => {
                self.forget(id);
                Vec::new()
            }
            // The Create result ends it.
            Phase::CreatingMedia => Vec::new(),
            Phase::Calling => {
                if let Some(out) = call.outbound_txn {
                    if layer.cancel(now, out).is_ok() {
                        // The 487 (or a crossing 2xx) ends the call.
                        return Vec::new();
                    }
                }
                self.end(id)
            }
            // The callee answered already: hang it up.
            Phase::Replacing => self.fail_bridged(now, layer, id, StatusCode::REQUEST_TERMINATED),
            Phase::Bridged | Phase::Rebuilding | Phase::Ended => Vec::new(),
        }
    }

    /// A request inside one of the gateway's dialogs ([`Self::owns_request`]), on server
    /// transaction `txn` (`None` for an ACK, which has none).
    pub fn handle_in_dialog(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        txn: Option<TransactionId>,
        request: &Request,
    ) -> Vec<MediaAction> {
        let local = self.local;
        let Ok(Some(dialog_id)) = DialogId::of_received_request(request) else {
            return Vec::new();
        };
        let Some(&id) = self.dialogs.get(&dialog_id) else {
            return Vec::new();
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        let from_caller = call
            .inbound_dialog
            .as_ref()
            .is_some_and(|d| d.id() == &dialog_id);
        // The transport of the other side, for the BYE that goes there.
        let other_side = if from_caller {
            call.hop.transport
        } else {
            call.inbound_transport
        };
        // The other side's leg as it runs, for a rebuild when this side changes codec (its
        // callee address may have come by `SetRemote` only: put it in the spec).
        let mut other_leg = if from_caller {
            call.outbound_leg
        } else {
            call.inbound_leg
        };
        if from_caller && other_leg.remote.is_none() {
            other_leg.remote = call.outbound_stream.as_ref().and_then(|s| s.remote_rtp);
        }
        let (this, other) = if from_caller {
            (&mut call.inbound_dialog, &mut call.outbound_dialog)
        } else {
            (&mut call.outbound_dialog, &mut call.inbound_dialog)
        };
        let (side_session, side_policy, side_leg, leg_index) = if from_caller {
            (
                &mut call.inbound_session,
                &call.inbound_policy,
                &mut call.inbound_leg,
                0,
            )
        } else {
            (
                &mut call.outbound_session,
                &call.outbound_policy,
                &mut call.outbound_leg,
                1,
            )
        };
        let rebuilding = call.phase == Phase::Rebuilding;
        let side_direction = &mut call.directions[leg_index];
        let side_media = call.media.as_ref().and_then(|m| {
            let ports = m.legs.get(leg_index)?;
            Some((m.id, ports.leg, ports.rtp.port()))
        });
        let Some(dialog) = this.as_mut() else {
            return Vec::new();
        };
        let checked = dialog.handle_request(request);
        if request.method == Method::Ack && from_caller {
            call.ok_retransmit = None;
        }
        let mut actions = Vec::new();
        // The session's new description when a re-offer changed this side's codec.
        let mut replaced: Option<SessionSpec> = None;
        let Some(txn) = txn else {
            // ACK: it may answer the offer we put in a 200 to a re-INVITE without SDP.
            if side_session.pending_offer().is_some() {
                match SessionDescription::parse(&request.body) {
                    Ok(answer) if !request.body.is_empty() => {
                        let _ = side_session.handle_answer(&answer);
                    }
                    _ => side_session.cancel_offer(),
                }
            }
            return actions;
        };
        let response = match checked {
            Err(rejection) => rejection.response(request, random_u64()),
            Ok(()) => match request.method {
                Method::Bye => dialog.response(request, StatusCode::OK),
                // One rebuild at a time (RFC 3261 §14.2: the side retries after a while).
                Method::Invite | Method::Update if rebuilding && !request.body.is_empty() => {
                    dialog.response(request, StatusCode::REQUEST_PENDING)
                }
                Method::Invite | Method::Update => {
                    let offer = SessionDescription::parse(&request.body);
                    let sdp = match (&offer, side_media) {
                        (_, None) => None,
                        (Ok(offer), Some((session, leg, port))) if !request.body.is_empty() => {
                            let running = *side_leg;
                            answer_locally(
                                side_session,
                                side_policy,
                                &self.policy,
                                offer,
                                port,
                                &running,
                            )
                            .map(|(sdp, new, direction)| {
                                if !same_format(&new, &running) {
                                    // Another codec on this side only: rebuild the session
                                    // on the same ports, the other side's leg as it is
                                    // (Tandem transcodes; it never hears of the change).
                                    *side_leg = new;
                                    let spec = if from_caller {
                                        session_spec(new, other_leg)
                                    } else {
                                        session_spec(other_leg, new)
                                    };
                                    replaced = Some(spec.clone());
                                    actions.push(MediaAction::Replace {
                                        call: id,
                                        session,
                                        spec,
                                    });
                                } else if new.remote.is_some() && new.remote != side_leg.remote {
                                    side_leg.remote = new.remote;
                                    actions.extend(new.remote.map(|remote| {
                                        MediaAction::SetRemote {
                                            session,
                                            leg,
                                            remote,
                                        }
                                    }));
                                }
                                // Hold and resume reach the leg: no RTP to a peer on hold.
                                if direction != *side_direction {
                                    *side_direction = direction;
                                    actions.push(MediaAction::SetDirection {
                                        session,
                                        leg,
                                        direction,
                                    });
                                }
                                sdp
                            })
                        }
                        // No SDP: an UPDATE is a refresh; a re-INVITE gets our offer.
                        (_, Some(_)) if request.body.is_empty() => {
                            (request.method == Method::Invite).then(|| {
                                let mut policy = running_policy(side_session, side_policy);
                                if let Some((_, _, port)) = side_media {
                                    policy.rtp_ports = vec![port];
                                }
                                side_session.create_offer(&policy)
                            })
                        }
                        _ => None,
                    };
                    match sdp {
                        Some(sdp) => dialog
                            .response(request, StatusCode::OK)
                            .with_body(&ContentType::sdp(), sdp.to_string()),
                        None if request.body.is_empty() && request.method == Method::Update => {
                            dialog.response(request, StatusCode::OK)
                        }
                        // No codec of ours in the offer: the call runs on as it was.
                        None => dialog.response(request, StatusCode::NOT_ACCEPTABLE_HERE),
                    }
                }
                Method::Info => {
                    if let Ok(Some(relay)) = DtmfRelay::from_request(request) {
                        tracing::info!(
                            "dtmf call={} digit={} source=info",
                            request.headers.call_id().unwrap_or("-"),
                            relay.signal.as_char()
                        );
                    }
                    dialog.response(request, StatusCode::OK)
                }
                _ => dialog.response(request, StatusCode::OK),
            },
        };
        let _ = dialog.record_sent_response(&response);
        let _ = layer.send_response(now, txn, response);
        if let Some(spec) = replaced {
            tracing::info!(call = %id, from_caller, "gateway call: codec changed; rebuilding the session");
            call.phase = Phase::Rebuilding;
            recount_transcoder(&self.metrics, &mut call.transcoder, &spec);
        }
        if request.method != Method::Bye || !dialog.is_terminated() {
            return actions;
        }
        tracing::info!(call = %id, from_caller, "gateway call: hung up");
        if let Some(other) = other.as_mut() {
            send_bye(now, layer, other, local, other_side);
        }
        self.end(id)
    }

    /// A 2xx to INVITE that matched no transaction: a retransmission of a callee's 2xx after
    /// the transaction ended; ACK it again if it is ours.
    pub fn handle_stray_2xx(&mut self, layer: &mut TransactionLayer, response: &Response) -> bool {
        let Ok(id) = DialogId::of_received_response(response) else {
            return false;
        };
        let Some(call) = self.dialogs.get(&id).and_then(|c| self.calls.get(c)) else {
            return false;
        };
        if let Some(dialog) = call.outbound_dialog.as_ref().filter(|d| d.id() == &id) {
            send_ack(layer, dialog, self.local, call.hop.transport);
            return true;
        }
        false
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
                let sides = [
                    (&mut call.inbound_dialog, call.inbound_transport),
                    (&mut call.outbound_dialog, call.hop.transport),
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
                if let Some(out) = call.outbound_txn {
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
        self.forget(id);
        session
            .map(|session| vec![MediaAction::Remove { session }])
            .unwrap_or_default()
    }

    /// Drops every trace of call `id`. The BYEs it sent run on without an owner: their
    /// responses need no action.
    fn forget(&mut self, id: GatewayCallId) {
        if let Some(call) = self.calls.remove(&id) {
            if call.counted {
                self.metrics.call_ended();
            }
            if let Some((a, b)) = &call.transcoder {
                self.metrics.transcoder_stopped(a, b);
            }
            if let Some(media) = call.media {
                self.sessions.remove(&media.id);
            }
            for dialog in [call.inbound_dialog, call.outbound_dialog]
                .into_iter()
                .flatten()
            {
                self.dialogs.remove(dialog.id());
            }
            self.transactions.retain(|_, c| *c != id);
        }
    }
}

/// Our policy for one side narrowed to the codec that side runs: what an answer or re-offer
/// that must not change the session uses.
fn running_policy(session: &LocalSession, policy: &LocalPolicy) -> LocalPolicy {
    let mut policy = policy.clone();
    let running = session
        .streams()
        .iter()
        .find_map(|s| s.accepted())
        .map(|stream| stream.format.codec.clone());
    if let Some(mut codec) = running {
        codec.fmtp = policy.supported(&codec).and_then(|ours| ours.fmtp.clone());
        policy.codecs = vec![codec];
    }
    policy
}

/// Answers a re-offer from one side on its own, at RTP `port`: the answer, the leg it
/// describes and which way media now flows on it (seen from Tandem), committed to
/// `session`. The codec `running` that side runs is kept when the offer still has it;
/// otherwise the side's whole `policy` answers (the leg then has another format, and the
/// session must be rebuilt for it). `None` when nothing in the offer is ours (the session is
/// left as it was).
fn answer_locally(
    session: &mut LocalSession,
    policy: &LocalPolicy,
    media: &MediaPolicy,
    offer: &SessionDescription,
    port: u16,
    running: &LegSpec,
) -> Option<(SessionDescription, LegSpec, MediaDirection)> {
    let mut narrowed = running_policy(session, policy);
    narrowed.rtp_ports = vec![port];
    let mut whole = policy.clone();
    whole.rtp_ports = vec![port];
    let keeps = |policy: &LocalPolicy| {
        let mut trial = session.clone();
        let (answer, negotiated) = trial.answer(offer, policy);
        let stream = negotiated.accepted().next()?;
        let leg = leg_spec_for(stream, media).ok()?;
        let direction = MediaDirection::from_flags(stream.sends(), stream.receives());
        Some((trial, answer, leg, direction))
    };
    let (trial, answer, leg, direction) = keeps(&narrowed)
        .filter(|(_, _, leg, _)| same_format(leg, running))
        .or_else(|| keeps(&whole))?;
    *session = trial;
    Some((answer, leg, direction))
}

/// Moves the `/metrics` count of a call's running transcoder (`counted`) to what `spec` runs.
fn recount_transcoder(
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
fn same_format(new: &LegSpec, old: &LegSpec) -> bool {
    new.codec == old.codec && new.telephone_event == old.telephone_event
}

/// A final response to the caller's INVITE, with our tag.
fn respond_inbound(now: Instant, layer: &mut TransactionLayer, call: &Call, status: StatusCode) {
    let mut r = Response::from_request(&call.inbound_request, status);
    let _ = r.set_to_tag(&call.inbound_tag);
    if let Err(e) = layer.send_response(now, call.inbound_txn, r) {
        tracing::debug!("gateway: response {status} to the caller not sent: {e}");
    }
}

/// The ACK for the 2xx that created `dialog`, sent from `local` to its next hop (over
/// `side` unless the remote target names a transport).
fn send_ack(layer: &mut TransactionLayer, dialog: &Dialog, local: SocketAddr, side: Wire) {
    let Ok(mut ack) = dialog.ack() else {
        return;
    };
    let Some(hop) = next_hop(&ack, side) else {
        tracing::debug!("gateway: ACK has no IP destination");
        return;
    };
    ack.headers
        .push_front(HeaderName::Via, via(local, hop.transport));
    if let Err(e) = layer.send_ack(ack, hop.addr, hop.sip_transport()) {
        tracing::debug!("gateway: ACK not sent: {e}");
    }
}

/// A BYE in `dialog`, on a client transaction of its own, sent from `local` as
/// [`send_ack`] sends.
fn send_bye(
    now: Instant,
    layer: &mut TransactionLayer,
    dialog: &mut Dialog,
    local: SocketAddr,
    side: Wire,
) {
    let Ok(mut bye) = dialog.bye() else {
        return;
    };
    let Some(hop) = next_hop(&bye, side) else {
        tracing::debug!("gateway: BYE has no IP destination");
        return;
    };
    bye.headers
        .push_front(HeaderName::Via, via(local, hop.transport));
    if let Err(e) = layer.send_request(now, bye, hop.addr, hop.sip_transport()) {
        tracing::debug!("gateway: BYE not sent: {e}");
    }
}

#[cfg(test)]
mod tests {
    use tandem_core::bus::LegPorts;
    use tandem_sip::message::Message;
    use tandem_sip::transaction::{Config as LayerConfig, Event, Input, Transmit};

    use super::*;
    use crate::run::config::Config;

    const LOCAL: &str = "127.0.0.1:5060";
    const CALLER: &str = "127.0.0.1:5062";
    const CALLEE: &str = "127.0.0.1:5080";
    /// Where [`OPUS_ANSWER`] receives RTP.
    const CALLEE_MEDIA: &str = "127.0.0.1:6000";

    /// The origin of virtual time: only offsets from it matter.
    fn origin() -> Instant {
        Instant::now()
    }

    /// sipp's `uac_pcap` INVITE: PCMA and telephone-event.
    fn caller_invite(branch: &str) -> Vec<u8> {
        let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
                   c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6100 RTP/AVP 8 101\r\n\
                   a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
                   a=fmtp:101 0-11,16\r\n";
        format!(
            "INVITE sip:opus-1@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP {CALLER};branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             From: sipp <sip:sipp@{CALLER}>;tag=caller1\r\n\
             To: <sip:opus-1@127.0.0.1:5060>\r\n\
             Call-ID: in-1@127.0.0.1\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:sipp@{CALLER}>\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .into_bytes()
    }

    /// `uas_opus_only.xml`'s answer.
    const OPUS_ANSWER: &str = "v=0\r\no=user1 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 96\r\n\
        a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\na=ptime:20\r\n";

    struct Harness {
        now: Instant,
        layer: TransactionLayer,
        gateway: Gateway,
        config: Config,
    }

    impl Harness {
        fn new() -> Self {
            Self::with_codecs(r#"["opus"]"#)
        }

        /// A gateway whose `opus-` route offers `codecs` (a TOML list).
        fn with_codecs(codecs: &str) -> Self {
            let config = Config::from_toml(&format!(
                "[[routes]]\nmatch = '^sip:opus-'\ntarget = \"sip:127.0.0.1:5080\"\n\
                 codecs = {codecs}\n"
            ))
            .unwrap();
            let policy = MediaPolicy::from_config(&config);
            Self {
                now: origin(),
                layer: TransactionLayer::new(LayerConfig::default(), [9; 16]),
                gateway: Gateway::new(LOCAL.parse().unwrap(), [127, 0, 0, 1].into(), policy),
                config,
            }
        }

        /// Feeds `bytes` from `source` and returns the layer's events.
        fn receive(&mut self, source: &str, bytes: &[u8]) -> Vec<Event> {
            self.layer.handle(
                self.now,
                Input::Received {
                    source: source.parse().unwrap(),
                    local: LOCAL.parse().unwrap(),
                    transport: Transport::Udp,
                    connection: None,
                    bytes,
                },
            );
            std::iter::from_fn(|| self.layer.poll_event()).collect()
        }

        fn sent(&mut self) -> Vec<Transmit> {
            std::iter::from_fn(|| self.layer.poll_transmit()).collect()
        }

        /// The INVITE arrives and is routed to the opus route; returns its transaction.
        fn invite(&mut self) -> (TransactionId, Vec<MediaAction>) {
            let events = self.receive(CALLER, &caller_invite("z9hG4bK-in1"));
            let Some(Event::NewRequest { id, request, .. }) = events.into_iter().next() else {
                panic!("a new INVITE");
            };
            let route = &self.config.routes[0];
            let target = GatewayTarget {
                target: &route.target,
                codecs: self.config.codecs_of_route(route),
            };
            let prefs = self.config.codecs.preferences.clone();
            let actions = self.gateway.handle_invite(
                self.now,
                &mut self.layer,
                id,
                &request,
                &target,
                &prefs,
            );
            (id, actions)
        }

        /// The session is created with inbound port 36000 and outbound port 36002; returns
        /// the outbound INVITE.
        fn media_created(&mut self, call: GatewayCallId) -> Request {
            self.session_created(call, 7, 36000)
        }

        /// Session `session` is created with inbound port `port` and outbound port
        /// `port + 2`; returns the request that goes out to the callee.
        fn session_created(&mut self, call: GatewayCallId, session: u64, port: u16) -> Request {
            let ports = |leg: u32, rtp: u16| LegPorts {
                leg: LegId(leg),
                rtp: SocketAddr::from(([127, 0, 0, 1], rtp)),
                rtcp_port: rtp + 1,
            };
            let handle = SessionHandle {
                id: SessionId(session),
                worker: 0,
                legs: vec![ports(0, port), ports(1, port + 2)],
            };
            let actions =
                self.gateway
                    .handle_media_created(self.now, &mut self.layer, call, Ok(handle));
            assert!(actions.is_empty());
            let sent = self.sent();
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0].destination, CALLEE.parse().unwrap());
            Request::parse(&sent[0].bytes).unwrap()
        }

        /// The callee answers `invite` with `status` (and the opus SDP for a 2xx); returns
        /// the gateway's actions.
        fn callee_answers(&mut self, invite: &Request, status: StatusCode) -> Vec<MediaAction> {
            self.callee_answers_with(invite, status, OPUS_ANSWER)
        }

        /// As [`Self::callee_answers`], with `sdp` in a 2xx.
        fn callee_answers_with(
            &mut self,
            invite: &Request,
            status: StatusCode,
            sdp: &str,
        ) -> Vec<MediaAction> {
            let mut r = Response::from_request(invite, status);
            if status.as_u16() != 100 && r.headers.to().unwrap().tag().is_none() {
                r.set_to_tag("callee1").unwrap();
            }
            if status.is_success() {
                r.headers
                    .push(HeaderName::Contact, format!("<sip:{CALLEE}>"));
                r = r.with_body(&ContentType::sdp(), sdp);
            }
            let bytes = Message::from(r).to_bytes();
            let mut actions = Vec::new();
            for event in self.receive(CALLEE, &bytes) {
                if let Event::Response { id, response } = event {
                    assert!(self.gateway.owns_transaction(id));
                    actions.extend(self.gateway.handle_response(
                        self.now,
                        &mut self.layer,
                        id,
                        &response,
                    ));
                }
            }
            actions
        }
    }

    fn spec_call(actions: &[MediaAction]) -> (GatewayCallId, &SessionSpec) {
        match actions {
            [MediaAction::Create { call, spec }] => (*call, spec),
            other => panic!("{other:?}"),
        }
    }

    fn response_of(t: &Transmit) -> Response {
        Response::parse(&t.bytes).unwrap()
    }

    #[test]
    fn a_pcma_caller_is_bridged_to_an_opus_callee_and_hangs_up() {
        let mut h = Harness::new();
        let (_, actions) = h.invite();
        let (call, spec) = spec_call(&actions);
        let SessionSpec::Transcode { a, b } = spec else {
            panic!("PCMA to opus transcodes: {spec:?}");
        };
        assert_eq!(a.codec.format, tandem_codecs::Format::PCMA);
        assert_eq!(a.remote, Some("127.0.0.1:6100".parse().unwrap()));
        assert_eq!(b.codec.format.codec, tandem_codecs::CodecId::Opus);
        assert_eq!(b.remote, None, "known from the answer");

        let invite = h.media_created(call);
        let body = String::from_utf8(invite.body.clone()).unwrap();
        assert!(body.contains("m=audio 36002 RTP/AVP 96"), "{body}");
        assert!(body.contains("opus/48000/2"), "{body}");
        assert!(!body.contains("PCMA"), "{body}");
        assert_ne!(invite.headers.call_id().unwrap(), "in-1@127.0.0.1");
        assert_eq!(invite.uri.to_string(), "sip:127.0.0.1:5080");
        assert!(invite.headers.top_via().unwrap().branch().is_some());

        assert!(h.callee_answers(&invite, StatusCode::RINGING).is_empty());
        let ringing = h.sent();
        assert_eq!(ringing.len(), 1);
        assert_eq!(ringing[0].destination, CALLER.parse().unwrap());
        assert_eq!(response_of(&ringing[0]).status, StatusCode::RINGING);

        let actions = h.callee_answers(&invite, StatusCode::OK);
        assert_eq!(
            actions,
            [MediaAction::SetRemote {
                session: SessionId(7),
                leg: LegId(1),
                remote: "127.0.0.1:6000".parse().unwrap()
            }]
        );
        let sent = h.sent();
        assert_eq!(sent.len(), 2, "ACK out and 200 in");
        let ack = Request::parse(&sent[0].bytes).unwrap();
        assert_eq!(
            (ack.method.clone(), sent[0].destination),
            (Method::Ack, CALLEE.parse().unwrap())
        );
        let ok = response_of(&sent[1]);
        assert_eq!(
            (ok.status, sent[1].destination),
            (StatusCode::OK, CALLER.parse().unwrap())
        );
        let answer = String::from_utf8(ok.body.clone()).unwrap();
        assert!(answer.contains("m=audio 36000 RTP/AVP 8 101"), "{answer}");

        // The caller ACKs and hangs up.
        let to = ok.headers.to().unwrap();
        let bye = format!(
            "BYE sip:opus-1@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-bye1\r\n\
             Max-Forwards: 70\r\nFrom: sipp <sip:sipp@{CALLER}>;tag=caller1\r\nTo: {to}\r\n\
             Call-ID: in-1@127.0.0.1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        );
        let events = h.receive(CALLER, bye.as_bytes());
        let Some(Event::NewRequest { id, request, .. }) = events.into_iter().next() else {
            panic!("a BYE");
        };
        assert!(h.gateway.owns_request(&request));
        let actions = h
            .gateway
            .handle_in_dialog(h.now, &mut h.layer, Some(id), &request);
        assert_eq!(
            actions,
            [MediaAction::Remove {
                session: SessionId(7)
            }]
        );
        let sent = h.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(response_of(&sent[0]).status, StatusCode::OK);
        let bye_out = Request::parse(&sent[1].bytes).unwrap();
        assert_eq!(bye_out.method, Method::Bye);
        assert_eq!(sent[1].destination, CALLEE.parse().unwrap());
        assert_eq!(h.gateway.calls(), 0);
        assert!(!h.gateway.owns_request(&request));
    }

    /// A caller's in-dialog INVITE after `ok` (the 200 it got), CSeq `cseq`, with `sdp`.
    fn caller_reinvite(ok: &Response, cseq: u32, sdp: &str) -> String {
        let to = ok.headers.to().unwrap();
        let content_type = if sdp.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "INVITE sip:opus-1@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-re{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: sipp <sip:sipp@{CALLER}>;tag=caller1\r\nTo: {to}\r\n\
             Call-ID: in-1@127.0.0.1\r\nCSeq: {cseq} INVITE\r\nContact: <sip:sipp@{CALLER}>\r\n\
             {content_type}Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }

    #[test]
    fn hold_resume_and_a_codec_change_on_a_bridged_call_are_answered_locally() {
        let mut h = Harness::new();
        let (_, actions) = h.invite();
        let (call, _) = spec_call(&actions);
        let invite = h.media_created(call);
        h.callee_answers(&invite, StatusCode::OK);
        let ok = response_of(&h.sent()[1]);
        let offer = |direction: &str, port: u16, codecs: &str| {
            format!(
                "v=0\r\no=user1 53655765 2353687638 IN IP4 127.0.0.1\r\ns=-\r\n\
                 c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {codecs}\r\n\
                 a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
                 a=rtpmap:96 opus/48000/2\r\na=fmtp:101 0-11,16\r\na={direction}\r\n"
            )
        };
        let reinvite = |h: &mut Harness, cseq: u32, sdp: &str| {
            let bytes = caller_reinvite(&ok, cseq, sdp);
            let events = h.receive(CALLER, bytes.as_bytes());
            let Some(Event::NewRequest { id, request, .. }) = events.into_iter().next() else {
                panic!("a re-INVITE");
            };
            assert!(h.gateway.owns_request(&request));
            let actions = h
                .gateway
                .handle_in_dialog(h.now, &mut h.layer, Some(id), &request);
            let sent = h.sent();
            assert_eq!(sent.len(), 1, "only the caller hears of it");
            assert_eq!(sent[0].destination, CALLER.parse().unwrap());
            (response_of(&sent[0]), actions)
        };
        // Hold: answered recvonly at the same port, the callee untouched.
        let (held, actions) = reinvite(&mut h, 2, &offer("sendonly", 6100, "8 101"));
        assert_eq!(held.status, StatusCode::OK);
        let body = String::from_utf8(held.body.clone()).unwrap();
        assert!(body.contains("m=audio 36000 RTP/AVP 8 101"), "{body}");
        assert!(body.contains("a=recvonly"), "{body}");
        assert_eq!(
            actions,
            [MediaAction::SetDirection {
                session: SessionId(7),
                leg: LegId(0),
                direction: MediaDirection::RecvOnly
            }]
        );
        // Resume from another port: sendrecv, and the caller's leg follows it.
        let (resumed, actions) = reinvite(&mut h, 3, &offer("sendrecv", 6200, "8 101"));
        assert_eq!(resumed.status, StatusCode::OK);
        let body = String::from_utf8(resumed.body.clone()).unwrap();
        assert!(body.contains("m=audio 36000 RTP/AVP 8 101"), "{body}");
        assert!(body.contains("a=sendrecv"), "{body}");
        assert_eq!(
            actions,
            [
                MediaAction::SetRemote {
                    session: SessionId(7),
                    leg: LegId(0),
                    remote: "127.0.0.1:6200".parse().unwrap()
                },
                MediaAction::SetDirection {
                    session: SessionId(7),
                    leg: LegId(0),
                    direction: MediaDirection::SendRecv
                }
            ]
        );
        // Another codec: answered with it at the same port, and the session rebuilt for it
        // on its ports, the callee's leg as it was (the callee hears nothing of it).
        let (changed, actions) = reinvite(&mut h, 4, &offer("sendrecv", 6200, "0 101"));
        assert_eq!(changed.status, StatusCode::OK);
        let body = String::from_utf8(changed.body.clone()).unwrap();
        assert!(body.contains("m=audio 36000 RTP/AVP 0 101"), "{body}");
        let [
            MediaAction::Replace {
                call: again,
                session,
                spec,
            },
        ] = actions.as_slice()
        else {
            panic!("{actions:?}");
        };
        assert_eq!((*again, *session), (call, SessionId(7)));
        let (SessionSpec::Relay { a, b } | SessionSpec::Transcode { a, b }) = spec else {
            panic!("{spec:?}");
        };
        assert_eq!(a.codec.format.codec, tandem_codecs::CodecId::Pcmu);
        assert_eq!(a.telephone_event.map(|pt| pt.get()), Some(101));
        assert_eq!(a.remote, Some("127.0.0.1:6200".parse().unwrap()));
        assert_eq!(b.codec.format.codec, tandem_codecs::CodecId::Opus);
        assert_eq!(
            b.remote,
            Some(CALLEE_MEDIA.parse().unwrap()),
            "the callee's leg kept"
        );
        // A second codec change before the rebuild is done waits its turn.
        let (pending, actions) = reinvite(&mut h, 5, &offer("sendrecv", 6200, "8 101"));
        assert_eq!(pending.status, StatusCode::REQUEST_PENDING);
        assert!(actions.is_empty());
        let ports = |leg: u32, rtp: u16| LegPorts {
            leg: LegId(leg),
            rtp: SocketAddr::from(([127, 0, 0, 1], rtp)),
            rtcp_port: rtp + 1,
        };
        let handle = SessionHandle {
            id: SessionId(7),
            worker: 0,
            legs: vec![ports(0, 36000), ports(1, 36002)],
        };
        assert!(
            h.gateway
                .handle_media_created(h.now, &mut h.layer, call, Ok(handle))
                .is_empty()
        );
        assert!(h.sent().is_empty(), "nobody hears of the rebuild");
        // Nothing of ours in the offer: 488, the session keeps running.
        let (refused, actions) = reinvite(
            &mut h,
            6,
            "v=0\r\no=user1 53655765 2353687639 IN IP4 127.0.0.1\r\ns=-\r\n\
             c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6200 RTP/AVP 97\r\n\
             a=rtpmap:97 speex/8000\r\n",
        );
        assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE_HERE);
        assert!(actions.is_empty());
        // No SDP: our current SDP is the offer.
        let (offered, _) = reinvite(&mut h, 7, "");
        assert_eq!(offered.status, StatusCode::OK);
        let body = String::from_utf8(offered.body.clone()).unwrap();
        assert!(body.contains("m=audio 36000 RTP/AVP 0 101"), "{body}");
        assert_eq!(h.gateway.calls(), 1);
    }

    #[test]
    fn a_busy_callee_makes_a_busy_caller_and_frees_the_session() {
        let mut h = Harness::new();
        let (server, actions) = h.invite();
        let (call, _) = spec_call(&actions);
        let invite = h.media_created(call);
        let actions = h.callee_answers(&invite, StatusCode::BUSY_HERE);
        assert_eq!(
            actions,
            [MediaAction::Remove {
                session: SessionId(7)
            }]
        );
        let sent = h.sent();
        // The layer ACKs the 486 itself; the caller gets 486.
        assert!(sent.iter().any(|t| t.destination == CALLER.parse().unwrap()
            && response_of(t).status == StatusCode::BUSY_HERE));
        assert_eq!(h.gateway.calls(), 0);
        assert!(!h.gateway.owns_transaction(server));
    }

    #[test]
    fn a_silent_callee_times_out_as_408() {
        let mut h = Harness::new();
        let (_, actions) = h.invite();
        let (call, _) = spec_call(&actions);
        let _invite = h.media_created(call);
        h.now += Duration::from_secs(40);
        h.layer.handle(h.now, Input::Timeout);
        let events: Vec<Event> = std::iter::from_fn(|| h.layer.poll_event()).collect();
        let mut actions = Vec::new();
        for event in events {
            if let Event::Timeout { id, .. } = event {
                if h.gateway.owns_transaction(id) {
                    actions.extend(h.gateway.handle_transaction_failed(
                        h.now,
                        &mut h.layer,
                        id,
                        true,
                    ));
                }
            }
        }
        assert_eq!(
            actions,
            [MediaAction::Remove {
                session: SessionId(7)
            }]
        );
        let to_caller: Vec<u16> = h
            .sent()
            .iter()
            .filter(|t| t.destination == CALLER.parse().unwrap())
            .filter_map(|t| Response::parse(&t.bytes).ok())
            .map(|r| r.status.as_u16())
            .collect();
        assert!(to_caller.contains(&408), "{to_caller:?}");
    }

    #[test]
    fn a_cancel_before_the_session_exists_removes_it_when_it_comes() {
        let mut h = Harness::new();
        let (server, actions) = h.invite();
        let (call, _) = spec_call(&actions);
        assert!(
            h.gateway
                .handle_cancel(h.now, &mut h.layer, server)
                .is_empty()
        );
        assert_eq!(
            response_of(&h.sent()[0]).status,
            StatusCode::REQUEST_TERMINATED
        );
        let handle = SessionHandle {
            id: SessionId(8),
            worker: 0,
            legs: Vec::new(),
        };
        let actions = h
            .gateway
            .handle_media_created(h.now, &mut h.layer, call, Ok(handle));
        assert_eq!(
            actions,
            [MediaAction::Remove {
                session: SessionId(8)
            }]
        );
        assert!(h.sent().is_empty(), "no INVITE goes out");
        assert_eq!(h.gateway.calls(), 0);
    }

    #[test]
    fn a_cancel_while_ringing_cancels_the_callee() {
        let mut h = Harness::new();
        let (server, actions) = h.invite();
        let (call, _) = spec_call(&actions);
        let invite = h.media_created(call);
        h.callee_answers(&invite, StatusCode::RINGING);
        h.sent();
        assert!(
            h.gateway
                .handle_cancel(h.now, &mut h.layer, server)
                .is_empty()
        );
        let sent = h.sent();
        assert!(sent.iter().any(|t| t.destination == CALLER.parse().unwrap()
            && response_of(t).status == StatusCode::REQUEST_TERMINATED));
        let cancel = sent
            .iter()
            .find(|t| t.destination == CALLEE.parse().unwrap())
            .map(|t| Request::parse(&t.bytes).unwrap())
            .expect("a CANCEL to the callee");
        assert_eq!(cancel.method, Method::Cancel);
        let actions = h.callee_answers(&invite, StatusCode::REQUEST_TERMINATED);
        assert_eq!(
            actions,
            [MediaAction::Remove {
                session: SessionId(7)
            }]
        );
        assert_eq!(h.gateway.calls(), 0);
    }

    #[test]
    fn a_callee_choosing_another_route_codec_gets_its_session_rebuilt_on_the_same_ports() {
        let mut h = Harness::with_codecs(r#"["opus", "PCMU"]"#);
        let (_, actions) = h.invite();
        let (call, spec) = spec_call(&actions);
        let SessionSpec::Transcode { b, .. } = spec else {
            panic!("{spec:?}");
        };
        assert_eq!(
            b.codec.format.codec,
            tandem_codecs::CodecId::Opus,
            "the first codec"
        );
        assert_eq!(b.telephone_event, None);
        let invite = h.media_created(call);
        let body = String::from_utf8(invite.body.clone()).unwrap();
        assert!(body.contains("a=rtpmap:0 PCMU/8000"), "{body}");

        let pcmu = "v=0\r\no=callee 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                    t=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                    a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";
        let actions = h.callee_answers_with(&invite, StatusCode::OK, pcmu);
        let [
            MediaAction::Replace {
                call: again,
                session,
                spec,
            },
        ] = actions.as_slice()
        else {
            panic!("{actions:?}");
        };
        assert_eq!((*session, *again), (SessionId(7), call));
        let SessionSpec::Transcode { a, b } = spec else {
            panic!("{spec:?}");
        };
        assert_eq!(a.codec.format, tandem_codecs::Format::PCMA);
        assert_eq!(b.codec.format, tandem_codecs::Format::PCMU);
        assert_eq!(b.telephone_event.map(|pt| pt.get()), Some(101));
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "the ACK; the caller waits");
        assert_eq!(Request::parse(&sent[0].bytes).unwrap().method, Method::Ack);

        // The runtime rebuilt it on the same ports: the caller is answered, no re-INVITE.
        let ports = |leg: u32, rtp: u16| LegPorts {
            leg: LegId(leg),
            rtp: SocketAddr::from(([127, 0, 0, 1], rtp)),
            rtcp_port: rtp + 1,
        };
        let handle = SessionHandle {
            id: SessionId(7),
            worker: 0,
            legs: vec![ports(0, 36000), ports(1, 36002)],
        };
        let actions = h
            .gateway
            .handle_media_created(h.now, &mut h.layer, call, Ok(handle));
        assert_eq!(
            actions,
            [MediaAction::SetRemote {
                session: SessionId(7),
                leg: LegId(1),
                remote: "127.0.0.1:6000".parse().unwrap()
            }]
        );
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "only the 200 to the caller");
        assert_eq!(sent[0].destination, CALLER.parse().unwrap());
        let ok = response_of(&sent[0]);
        assert_eq!(ok.status, StatusCode::OK);
        let answer = String::from_utf8(ok.body).unwrap();
        assert!(answer.contains("m=audio 36000 RTP/AVP 8 101"), "{answer}");
        assert_eq!(h.gateway.call_of_session(SessionId(7)), Some(call));
    }

    #[test]
    fn the_200_to_the_caller_is_retransmitted_until_its_ack() {
        let mut h = Harness::new();
        let (_, actions) = h.invite();
        let (call, _) = spec_call(&actions);
        let invite = h.media_created(call);
        h.callee_answers(&invite, StatusCode::OK);
        let ok = response_of(&h.sent()[1]);
        assert_eq!(h.gateway.poll_timeout(), Some(h.now + T1));
        // T1, then 2·T1 later: the same 200 again each time.
        for wait in [T1, 2 * T1] {
            h.now += wait;
            assert!(h.gateway.handle_timeout(h.now, &mut h.layer).is_empty());
            let again = h.sent();
            assert_eq!(again.len(), 1);
            assert_eq!(response_of(&again[0]), ok);
        }
        let ack = format!(
            "ACK sip:opus-1@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-ack1\r\n\
             Max-Forwards: 70\r\nFrom: sipp <sip:sipp@{CALLER}>;tag=caller1\r\nTo: {}\r\n\
             Call-ID: in-1@127.0.0.1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
            ok.headers.to().unwrap()
        );
        let events = h.receive(CALLER, ack.as_bytes());
        let Some(Event::Ack { request, .. }) = events.into_iter().next() else {
            panic!("an ACK");
        };
        assert!(h.gateway.owns_request(&request));
        assert!(
            h.gateway
                .handle_in_dialog(h.now, &mut h.layer, None, &request)
                .is_empty()
        );
        assert_eq!(h.gateway.poll_timeout(), None);
    }

    #[test]
    fn a_caller_that_never_acks_is_hung_up_after_64_t1() {
        let mut h = Harness::new();
        let (_, actions) = h.invite();
        let (call, _) = spec_call(&actions);
        let invite = h.media_created(call);
        h.callee_answers(&invite, StatusCode::OK);
        h.sent();
        let start = h.now;
        let mut actions = Vec::new();
        while let Some(at) = h.gateway.poll_timeout() {
            assert!(at <= start + 64 * T1 + T2, "bounded");
            h.now = at;
            actions.extend(h.gateway.handle_timeout(h.now, &mut h.layer));
        }
        assert_eq!(
            actions,
            [MediaAction::Remove {
                session: SessionId(7)
            }]
        );
        let byes = h
            .sent()
            .iter()
            .filter_map(|t| Request::parse(&t.bytes).ok())
            .filter(|r| r.method == Method::Bye)
            .count();
        assert_eq!(byes, 2, "both sides hung up");
        assert_eq!(h.gateway.calls(), 0);
    }

    /// A new INVITE routed to `target` (a URI text); returns the gateway's actions.
    fn invite_to(h: &mut Harness, branch: &str, target: &str) -> Vec<MediaAction> {
        let events = h.receive(CALLER, &caller_invite(branch));
        let Some(Event::NewRequest { id, request, .. }) = events.into_iter().next() else {
            panic!("a new INVITE");
        };
        let codecs = h.config.codecs_of_route(&h.config.routes[0]).to_vec();
        let prefs = h.config.codecs.preferences.clone();
        let target = GatewayTarget {
            target,
            codecs: &codecs,
        };
        h.gateway
            .handle_invite(h.now, &mut h.layer, id, &request, &target, &prefs)
    }

    #[test]
    fn a_target_by_name_is_looked_up_first_and_an_unresolved_one_is_503() {
        let mut h = Harness::new();
        // Not a SIP URI Tandem can send to: 502 at once.
        assert!(invite_to(&mut h, "z9hG4bK-in2", "sips:callee@127.0.0.1").is_empty());
        assert_eq!(response_of(&h.sent()[0]).status.as_u16(), 502);
        // A name: no media yet, a lookup for the loop.
        assert!(invite_to(&mut h, "z9hG4bK-in3", "sip:callee@gw.example;transport=tcp").is_empty());
        let (call, query) = h.gateway.poll_locate().expect("a lookup");
        assert_eq!(
            query,
            Query {
                host: "gw.example".into(),
                port: None,
                transport: Some(Wire::Tcp)
            }
        );
        assert!(h.gateway.poll_locate().is_none());
        assert_eq!(h.gateway.calls(), 1);
        let actions = h.gateway.handle_located(
            h.now,
            &mut h.layer,
            call,
            Err(LocateError::NotFound("gw.example".into())),
        );
        assert!(actions.is_empty());
        let to_caller: Vec<u16> = h
            .sent()
            .iter()
            .map(|t| response_of(t).status.as_u16())
            .collect();
        assert!(to_caller.contains(&503), "{to_caller:?}");
        assert_eq!((h.gateway.calls(), h.gateway.unresolved()), (0, 1));
    }

    #[test]
    fn a_hop_that_fails_at_the_transport_gives_way_to_the_next() {
        let mut h = Harness::new();
        assert!(invite_to(&mut h, "z9hG4bK-in4", "sip:gw.example").is_empty());
        let (call, _) = h.gateway.poll_locate().expect("a lookup");
        let first = Hop {
            addr: "127.0.0.1:5090".parse().unwrap(),
            transport: Wire::Tcp,
        };
        let second = Hop {
            addr: CALLEE.parse().unwrap(),
            transport: Wire::Udp,
        };
        let actions = h
            .gateway
            .handle_located(h.now, &mut h.layer, call, Ok(vec![first, second]));
        assert_eq!(spec_call(&actions).0, call);
        let ports = |leg: u32, rtp: u16| LegPorts {
            leg: LegId(leg),
            rtp: SocketAddr::from(([127, 0, 0, 1], rtp)),
            rtcp_port: rtp + 1,
        };
        let handle = SessionHandle {
            id: SessionId(9),
            worker: 0,
            legs: vec![ports(0, 36000), ports(1, 36002)],
        };
        assert!(
            h.gateway
                .handle_media_created(h.now, &mut h.layer, call, Ok(handle))
                .is_empty()
        );
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].destination, &sent[0].transport),
            (first.addr, &Transport::Tcp)
        );
        let invite = Request::parse(&sent[0].bytes).unwrap();
        let via = invite.headers.top_via().unwrap();
        assert_eq!(via.transport, Transport::Tcp);
        let contact = invite.headers.get("Contact").unwrap().to_owned();
        assert!(contact.contains(";transport=tcp"), "{contact}");

        // The connection is refused: the transports report it, the layer fails the INVITE.
        h.layer.handle(
            h.now,
            Input::TransportError {
                destination: first.addr,
                transport: Transport::Tcp,
            },
        );
        let mut actions = Vec::new();
        for event in std::iter::from_fn(|| h.layer.poll_event()).collect::<Vec<_>>() {
            if let Event::TransportError { id } = event {
                actions.extend(
                    h.gateway
                        .handle_transaction_failed(h.now, &mut h.layer, id, false),
                );
            }
        }
        assert!(actions.is_empty(), "{actions:?}");
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "the INVITE again, to the next hop");
        assert_eq!(
            (sent[0].destination, &sent[0].transport),
            (second.addr, &Transport::Udp)
        );
        let again = Request::parse(&sent[0].bytes).unwrap();
        assert_eq!(again.headers.top_via().unwrap().transport, Transport::Udp);
        assert_eq!(
            again.headers.call_id().unwrap(),
            invite.headers.call_id().unwrap()
        );
        assert_ne!(
            again.headers.top_via().unwrap().branch(),
            via.branch(),
            "a new transaction"
        );
        // The second hop answers: the call is bridged as usual.
        let actions = h.callee_answers(&again, StatusCode::OK);
        assert!(
            matches!(actions.as_slice(), [MediaAction::SetRemote { .. }]),
            "{actions:?}"
        );
    }

    #[test]
    fn in_dialog_requests_follow_the_remote_target_transport_or_the_side_s() {
        let bye = |uri: &str| {
            Request::parse(
                format!(
                    "BYE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {LOCAL};branch=z9hG4bK-x\r\n\
                     Max-Forwards: 70\r\nFrom: <sip:a@{LOCAL}>;tag=a\r\nTo: <sip:b@{CALLEE}>;tag=b\r\n\
                     Call-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let hop = |addr: &str, transport| {
            Some(Hop {
                addr: addr.parse().unwrap(),
                transport,
            })
        };
        assert_eq!(
            next_hop(&bye("sip:b@127.0.0.1:5080;transport=tcp"), Wire::Udp),
            hop(CALLEE, Wire::Tcp)
        );
        assert_eq!(
            next_hop(&bye("sip:b@127.0.0.1:5080"), Wire::Tcp),
            hop(CALLEE, Wire::Tcp)
        );
        assert_eq!(next_hop(&bye("sip:b@host.example"), Wire::Udp), None);
    }
}
