//! Calls as a user agent server (RFC 3261 §13; RFC 3264): a new INVITE to `echo`, `tone` or
//! `conf-<room>` becomes a media leg and a dialog; CANCEL, ACK, hanging up, and the media
//! events of a call's leg. In-dialog requests are [`in_dialog`](super::in_dialog)'s; the
//! calls' timers are [`refresh`](super::refresh)'s.
//!
//! # An incoming call
//!
//! 1. INVITE (out of dialog): refused with 503 + Retry-After while draining or over the
//!    limits (`overload`); from a configured endpoint, challenged (401) until its digest
//!    credentials verify ([`registrar`](super::registrar)), and then negotiated with the
//!    endpoint's codec preferences; handed to the [`gateway`](super::gateway) when routing
//!    picks a `[[routes]]` target, or when routing finds nothing but the user part names a
//!    registered endpoint (the gateway forks the call to every current contact); 480 Temporarily Unavailable for a configured endpoint with no
//!    current binding (RFC 3261 §21.4.18); 404 for anything else; 422 for a too-short
//!    session interval, 415/400 for a body that is not a readable SDP, 488 without a common
//!    codec. Otherwise the offer is negotiated once with a placeholder
//!    port to learn the leg (codec, telephone-events, peer address), and the media leg is
//!    created in the background. The transaction layer sends 100 Trying if that takes more
//!    than 200 ms.
//! 2. The leg exists: the offer is answered for real with the leg's RTP port, and the 200
//!    (SDP, Contact, To tag, Allow, Supported, Session-Expires) creates the dialog. The
//!    runtime refusing the leg (workers full, ports exhausted) is 503 + Retry-After; a leg it
//!    cannot build is 488.
//! 3. The 2xx is retransmitted until the ACK (RFC 3261 §13.3.1.4); no ACK within 64·T1 ends
//!    the call with a BYE.
//!
//! # A late offer (RFC 3261 §13.2.1, RFC 3264)
//!
//! An INVITE without SDP gets our offer in the 200: every codec of our policy for the caller,
//! at the leg's RTP port. The leg cannot wait for the answer, so it is built for the answer we
//! expect (our first codec, with telephone-event); when the ACK's answer chooses otherwise,
//! an echo or tone session is rebuilt for it on the same port (`sessions::replace`). A
//! conference leg cannot be rebuilt inside its room, so a late offer to a conference offers
//! only the codec its leg was built for (an answer changing telephone-events alone keeps the
//! leg as built).
//! An ACK without an answer, or with one we cannot use, ends the call with a BYE: the caller
//! had to answer (§13.2.1) and there is no session without it.
//!
//! # Ending
//!
//! CANCEL before the 200: the layer answers it 200, we answer the INVITE 487 and drop the
//! call; a leg still being created is removed when it arrives. Media timeout (no RTP for
//! `media.timeout_s`): BYE. RFC 4733 and in-band digits reported by the runtime are logged as
//! `dtmf call=<call-id> digit=<d> source=rtp`, gateway calls' too.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_core::bus::{Event, EventKind};
use tandem_core::runtime::RuntimeError;
use tandem_core::session::{LegSpec, MediaDirection};
use tandem_sip::dialog::uas::invite_response;
use tandem_sip::dialog::{Dialog, DialogId, InsertError, SessionTimer};
use tandem_sip::message::{
    ContentType, Host, NameAddr, Request, Response, SipUri, StatusCode, Transport,
};
use tandem_sip::sdp::{LocalPolicy, LocalSession, SessionDescription, answer};
use tandem_sip::transaction::TransactionId;

use super::calls::{Call, CallKey, Pending2xx};
use super::gateway::GatewayTarget;
use super::in_dialog;
use super::registrar::Location;
use super::sessions::{self, EndedCall, MediaBinding, Target};
use super::{ClientOwner, Signalling, SignallingStats};
use crate::api::quality::{self, Track};
use crate::run::config::CodecPref;
use crate::run::media::{capability, leg_spec_for};
use crate::run::routing::{self, Destination};

/// RFC 3261 T1: the first 2xx retransmission interval.
pub(super) const T1: Duration = Duration::from_millis(500);

/// RFC 3261 T2: the longest 2xx retransmission interval.
pub(super) const T2: Duration = Duration::from_secs(4);

/// How long a 2xx waits for its ACK before the call is given up (RFC 3261 §13.3.1.4: 64·T1).
pub(super) const ACK_WAIT: Duration = Duration::from_secs(32);

/// The port of the trial negotiation that learns the leg before it exists (RFC 863's discard
/// port: never sent anywhere).
const PLACEHOLDER_PORT: u16 = 9;

/// What an in-dialog request we sent was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Hanging up.
    Bye,
    /// A session timer refresh (UPDATE or re-INVITE).
    Refresh,
}

/// Why an offer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum OfferError {
    /// No body: a late offer (ours goes in the 2xx, the answer comes in the ACK).
    #[error("no SDP offer")]
    Missing,
    /// A body of another type.
    #[error("the body is not application/sdp")]
    NotSdp,
    /// An SDP that does not parse.
    #[error("malformed SDP: {0}")]
    Malformed(String),
}

impl OfferError {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::Missing => StatusCode::NOT_ACCEPTABLE_HERE,
            Self::NotSdp => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }
}

/// The SDP offer a request carries.
pub(super) fn offer_of(request: &Request) -> Result<SessionDescription, OfferError> {
    if request.body.is_empty() {
        return Err(OfferError::Missing);
    }
    match request.headers.content_type() {
        Ok(Some(ct)) if ct.is("application", "sdp") => {}
        _ => return Err(OfferError::NotSdp),
    }
    SessionDescription::parse(&request.body).map_err(|e| OfferError::Malformed(e.to_string()))
}

/// Our policy with one RTP port.
pub(super) fn policy_with_port(base: &LocalPolicy, port: u16) -> LocalPolicy {
    let mut policy = base.clone();
    policy.rtp_ports = vec![port];
    policy
}

/// Answers `offer` on a copy of `session` at `port`: the committed copy, the answer, and the
/// leg it asks for; or why the offer is refused (488).
pub(super) fn negotiate(
    state: &Signalling,
    base: &LocalPolicy,
    session: &LocalSession,
    offer: &SessionDescription,
    port: u16,
) -> Result<(LocalSession, SessionDescription, LegSpec, MediaDirection), String> {
    let mut trial = session.clone();
    let (answer, negotiated) = trial.answer(offer, &policy_with_port(base, port));
    if negotiated.rejects_everything() {
        return Err("no common codec".into());
    }
    let stream = negotiated
        .accepted()
        .next()
        .ok_or_else(|| "no audio stream".to_owned())?;
    let leg = leg_spec_for(stream, &state.media_policy).map_err(|e| e.to_string())?;
    let direction = MediaDirection::from_flags(stream.sends(), stream.receives());
    Ok((trial, answer, leg, direction))
}

/// The leg a late offer's call starts with: what our offer under `policy` gives when the
/// caller takes our first codec and our telephone-events (answered here in a dry run by such
/// a caller). The ACK's answer may still choose otherwise (see the module docs).
fn late_offer_leg(state: &Signalling, policy: &LocalPolicy) -> Result<LegSpec, String> {
    let ours_policy = policy_with_port(policy, PLACEHOLDER_PORT);
    let mut ours = LocalSession::new("-", 0, state.media_address());
    let offer = ours.create_offer(&ours_policy);
    let mut caller = ours_policy;
    caller.codecs.truncate(1);
    let caller_origin = LocalSession::new("-", 1, state.media_address());
    let answered = answer(&offer, &caller, caller_origin.origin());
    let negotiated = ours
        .handle_answer(&answered.sdp)
        .map_err(|e| e.to_string())?;
    let stream = negotiated
        .accepted()
        .next()
        .ok_or_else(|| "no codec to offer".to_owned())?;
    let mut leg = leg_spec_for(stream, &state.media_policy).map_err(|e| e.to_string())?;
    // The caller's address comes with its answer.
    leg.remote = None;
    Ok(leg)
}

/// True when `new` runs on the leg that `old` describes (only the peer's address may
/// differ, which the runtime can change in place).
pub(super) fn same_leg(old: &LegSpec, new: &LegSpec) -> bool {
    old.codec == new.codec && old.telephone_event == new.telephone_event
}

/// Our Contact for `transport`.
fn contact(state: &Signalling, transport: &Transport) -> NameAddr {
    let local = state
        .local_addr(transport)
        .unwrap_or_else(|| SocketAddr::new(state.media_address(), 5060));
    let param = if matches!(transport, Transport::Tcp) {
        ";transport=tcp"
    } else {
        ""
    };
    let text = format!("<sip:tandem@{local}{param}>");
    // Always parses (an IP literal and a port); the bare host is a fallback that cannot fail.
    NameAddr::parse(&text)
        .unwrap_or_else(|_| NameAddr::new(SipUri::new(Host::Ipv4(Ipv4Addr::LOCALHOST))))
}

/// A final response to a dialog-creating INVITE with our tag (and, for a 2xx, our Contact,
/// Allow and Supported).
fn invite_reply(
    state: &Signalling,
    invite: &Request,
    status: StatusCode,
    tag: &str,
    transport: Transport,
) -> Response {
    invite_response(invite, status, tag, &contact(state, &transport))
        .unwrap_or_else(|_| Response::from_request(invite, status))
}

/// Refuses an initial INVITE.
fn refuse(
    state: &mut Signalling,
    now: Instant,
    id: TransactionId,
    invite: &Request,
    status: StatusCode,
    transport: Transport,
) {
    let tag = state.random.tag();
    let mut response = invite_reply(state, invite, status, &tag, transport);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response = state.admission.retry_after(response);
        SignallingStats::bump(&state.stats.rejected_overload);
    } else {
        SignallingStats::bump(&state.stats.rejected_call);
    }
    state.respond(now, id, response);
}

/// The call's Call-ID, for logs.
pub(super) fn call_id(request: &Request) -> String {
    request.headers.call_id().unwrap_or("-").to_owned()
}

/// An initial INVITE. See the module docs.
pub(super) fn handle_invite(
    state: &mut Signalling,
    now: Instant,
    id: TransactionId,
    request: Request,
    source: SocketAddr,
    transport: Transport,
) {
    let call_id = call_id(&request);
    if !state.running {
        tracing::debug!(call = %call_id, "INVITE refused: draining");
        return refuse(
            state,
            now,
            id,
            &request,
            StatusCode::SERVICE_UNAVAILABLE,
            transport,
        );
    }
    let identity = match state.registrar.authenticate(now, &request) {
        Ok(identity) => identity,
        // A challenge (401) or a refusal (403, 400) for a configured endpoint.
        Err(response) => return state.respond(now, id, response),
    };
    let live = state.calls.len() + state.gateway.calls();
    if let Err(refusal) = state.admission.admit(now, live) {
        tracing::debug!(call = %call_id, "INVITE refused: {refusal}");
        return refuse(
            state,
            now,
            id,
            &request,
            StatusCode::SERVICE_UNAVAILABLE,
            transport,
        );
    }
    if !request.headers.contains("Contact") {
        tracing::debug!(call = %call_id, "INVITE refused: no Contact");
        return refuse(state, now, id, &request, StatusCode::BAD_REQUEST, transport);
    }
    let user = request
        .uri
        .as_sip()
        .and_then(|u| u.user_unescaped())
        .map(|u| String::from_utf8_lossy(&u).into_owned());
    let uri = request.uri.to_string();
    let config = Arc::clone(&state.config);
    // An authenticated endpoint gets its own codec preferences.
    let preferences = identity
        .as_ref()
        .and_then(|who| config.endpoint(&who.username, &who.realm))
        .map_or(config.codecs.preferences.as_slice(), |e| {
            config.codecs_of(e)
        });
    let target = match routing::route(&config, &uri, user.as_deref()) {
        Destination::Echo => Target::Echo,
        Destination::Tone => Target::Tone,
        Destination::Conference { room } => Target::Conference { room },
        Destination::Gateway {
            route,
            target,
            codecs,
        } => {
            tracing::debug!(call = %call_id, route, %target, "INVITE to a gateway route");
            let targets = [target];
            let target = GatewayTarget {
                targets: &targets,
                codecs,
            };
            return to_gateway(state, now, id, &request, &target, preferences);
        }
        Destination::NotFound => {
            let location = user.as_deref().map(|u| (u, state.registrar.locate(now, u)));
            return match location {
                Some((user, Location::Registered(contacts))) => {
                    // Every current contact rings at once (the gateway forks).
                    let targets: Vec<String> = contacts.iter().map(ToString::to_string).collect();
                    tracing::info!(call = %call_id, user, contacts = ?targets, "INVITE to a registered user");
                    let target = GatewayTarget {
                        targets: &targets,
                        codecs: config
                            .endpoints
                            .iter()
                            .find(|e| e.username == user)
                            .map_or(config.codecs.preferences.as_slice(), |e| {
                                config.codecs_of(e)
                            }),
                    };
                    to_gateway(state, now, id, &request, &target, preferences)
                }
                Some((user, Location::Unregistered)) => {
                    tracing::info!(call = %call_id, user, "INVITE refused with 480: not registered");
                    let status = StatusCode::TEMPORARILY_UNAVAILABLE;
                    refuse(state, now, id, &request, status, transport)
                }
                Some((_, Location::Unknown)) | None => {
                    tracing::debug!(call = %call_id, %uri, "INVITE refused: no such destination");
                    refuse(state, now, id, &request, StatusCode::NOT_FOUND, transport)
                }
            };
        }
    };
    let timer = match state.timer_config.negotiate_uas(&request) {
        Ok(timer) => timer,
        Err(too_small) => {
            let mut response = too_small.response(&request);
            let _ = response.set_to_tag(&state.random.tag());
            return state.respond(now, id, response);
        }
    };
    let offer = match offer_of(&request) {
        Ok(offer) => Some(offer),
        Err(OfferError::Missing) => None,
        Err(e) => {
            tracing::info!(call = %call_id, "INVITE refused with {}: {e}", e.status().as_u16());
            let status = e.status();
            return refuse(state, now, id, &request, status, transport);
        }
    };
    let sdp = LocalSession::new("tandem", state.random.next_u64(), state.media_address());
    let policy = match identity {
        Some(_) => {
            let caps = capability::capabilities(preferences, &state.media_policy);
            capability::local_policy(&caps, &state.media_policy, state.media_address())
        }
        None => state.local_policy.clone(),
    };
    let negotiated = match &offer {
        Some(offer) => negotiate(state, &policy, &sdp, offer, PLACEHOLDER_PORT)
            .map(|(_, _, leg, direction)| (leg, direction)),
        // A late offer: the direction comes with the caller's answer (sendrecv until then).
        None => late_offer_leg(state, &policy).map(|leg| (leg, MediaDirection::SendRecv)),
    };
    let (leg, direction) = match negotiated {
        Ok(negotiated) => negotiated,
        Err(reason) => {
            tracing::info!(call = %call_id, "INVITE refused with 488: {reason}");
            return refuse(
                state,
                now,
                id,
                &request,
                StatusCode::NOT_ACCEPTABLE_HERE,
                transport,
            );
        }
    };
    let local_tag = state.random.tag();
    let key = state.calls.insert(Call {
        call_id,
        invite: request,
        invite_transaction: Some(id),
        source,
        transport,
        local_tag,
        target: target.clone(),
        policy,
        sdp,
        offer,
        replacing: false,
        leg,
        direction,
        media: None,
        dialog: None,
        pending_2xx: None,
        renegotiation: None,
        timer_negotiated: timer,
        timer: None,
        quality: Track::default(),
    });
    state.calls.bind_transaction(id, key);
    sessions::create(state, key, target, leg);
}

/// Hands an initial INVITE to the B2BUA for `target`, the caller answered with `preferences`.
fn to_gateway(
    state: &mut Signalling,
    now: Instant,
    id: TransactionId,
    request: &Request,
    target: &GatewayTarget<'_>,
    preferences: &[CodecPref],
) {
    let actions =
        state
            .gateway
            .handle_invite(now, &mut state.layer, id, request, target, preferences);
    state.run_gateway(actions);
}

/// A media leg was created (or not) for `key`: the initial INVITE's, or a
/// renegotiation's.
pub(super) fn handle_media_created(
    state: &mut Signalling,
    now: Instant,
    key: CallKey,
    result: Result<MediaBinding, RuntimeError>,
) {
    let Some(call) = state.calls.get(key) else {
        // The call ended (CANCEL, BYE, drain) while its leg was being made.
        if let Ok(media) = result {
            sessions::release(state, media);
        }
        return;
    };
    if call.media.is_none() {
        answer_invite(state, now, key, result);
    } else {
        in_dialog::answer_renegotiation(state, now, key, result);
    }
}

/// The status for a leg the runtime did not create: 488 for a leg it cannot build, 503 when
/// it is full or stalled.
pub(super) fn media_failure_status(error: &RuntimeError) -> StatusCode {
    match error {
        RuntimeError::Session(_) => StatusCode::NOT_ACCEPTABLE_HERE,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Sends the 200 to the initial INVITE, now that the leg exists.
fn answer_invite(
    state: &mut Signalling,
    now: Instant,
    key: CallKey,
    result: Result<MediaBinding, RuntimeError>,
) {
    let media = match result {
        Ok(media) => media,
        Err(e) => {
            let Some(call) = state.calls.remove(key) else {
                return;
            };
            let status = media_failure_status(&e);
            tracing::info!(
                call = %call.call_id,
                "INVITE refused with {}: no media leg: {e}",
                status.as_u16()
            );
            if let Some(id) = call.invite_transaction {
                refuse_call(state, now, id, &call, status);
            }
            return;
        }
    };
    let port = media.rtp.port();
    let Some(base) = state.calls.get(key).map(|c| c.policy.clone()) else {
        return;
    };
    let policy = policy_with_port(&base, port);
    let contact = {
        let transport = state
            .calls
            .get(key)
            .map_or(Transport::Udp, |c| c.transport.clone());
        contact(state, &transport)
    };
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    let Some(id) = call.invite_transaction else {
        return;
    };
    let sdp = match call.offer.take() {
        Some(offer) => {
            let (answer, negotiated) = call.sdp.answer(&offer, &policy);
            if negotiated.rejects_everything() {
                let call = state.calls.remove(key);
                sessions::release(state, media);
                if let Some(call) = call {
                    refuse_call(state, now, id, &call, StatusCode::NOT_ACCEPTABLE_HERE);
                }
                return;
            }
            answer
        }
        // A late offer: ours, answered in the ACK. A conference leg cannot be rebuilt for
        // another codec, so it offers only the one it was built for (our first).
        None if !call.target.replaceable() => {
            let mut only_first = policy.clone();
            only_first.codecs.truncate(1);
            call.sdp.create_offer(&only_first)
        }
        None => call.sdp.create_offer(&policy),
    };
    let ok = invite_response(&call.invite, StatusCode::OK, &call.local_tag, &contact).map(|r| {
        let mut r = r.with_body(&ContentType::sdp(), sdp.to_string());
        if let Some(timer) = &call.timer_negotiated {
            timer.add_to_response(&mut r);
        }
        r
    });
    let created =
        ok.map_err(|e| e.to_string())
            .and_then(|ok| match Dialog::new_uas(&call.invite, &ok) {
                Ok(dialog) => Ok((ok, dialog)),
                Err(e) => Err(e.to_string()),
            });
    let (ok, dialog) = match created {
        Ok(created) => created,
        Err(reason) => {
            tracing::info!(call = %call.call_id, "INVITE refused with 400: {reason}");
            let call = state.calls.remove(key);
            sessions::release(state, media);
            if let Some(call) = call {
                refuse_call(state, now, id, &call, StatusCode::BAD_REQUEST);
            }
            return;
        }
    };
    let dialog_id = match state.dialogs.insert(dialog) {
        Ok(dialog) => {
            let _ = dialog.record_sent_response(&ok);
            dialog.id().clone()
        }
        Err(InsertError::Exists(_)) | Err(_) => {
            tracing::info!(call = %call.call_id, "INVITE refused with 503: dialog store full");
            let call = state.calls.remove(key);
            sessions::release(state, media);
            if let Some(call) = call {
                refuse_call(state, now, id, &call, StatusCode::SERVICE_UNAVAILABLE);
            }
            return;
        }
    };
    let cseq = call.invite.headers.cseq().map_or(0, |c| c.seq);
    call.invite_transaction = None;
    call.dialog = Some(dialog_id.clone());
    call.media = Some(media.clone());
    call.timer = call
        .timer_negotiated
        .as_ref()
        .map(|n| SessionTimer::start(now, n));
    let timer_at = call.timer.as_ref().and_then(SessionTimer::poll_timeout);
    let reliable = !matches!(call.transport, Transport::Udp);
    let pending = Pending2xx {
        transaction: id,
        cseq,
        response: ok.clone(),
        retransmit: !reliable,
        next: now + T1,
        interval: T1,
        give_up: now + ACK_WAIT,
    };
    let wake = if reliable {
        pending.give_up
    } else {
        pending.next
    };
    call.pending_2xx = Some(pending);
    let direction = call.direction;
    tracing::debug!(call = %call.call_id, port, "call answered");
    if direction != MediaDirection::SendRecv {
        // An INVITE that starts on hold.
        sessions::set_direction(state, &media, direction);
    }
    state.calls.bind_dialog(dialog_id, key);
    state.calls.bind_leg(&media, key);
    state.calls.schedule(wake, key);
    if let Some(at) = timer_at {
        state.calls.schedule(at, key);
    }
    SignallingStats::bump(&state.stats.calls_answered);
    state.metrics.call_started();
    state.respond(now, id, ok);
}

/// Refuses the initial INVITE of a call already taken out of the table.
fn refuse_call(
    state: &mut Signalling,
    now: Instant,
    id: TransactionId,
    call: &Call,
    status: StatusCode,
) {
    let mut response = invite_reply(
        state,
        &call.invite,
        status,
        &call.local_tag,
        call.transport.clone(),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response = state.admission.retry_after(response);
        SignallingStats::bump(&state.stats.rejected_overload);
    } else if status != StatusCode::REQUEST_TERMINATED {
        SignallingStats::bump(&state.stats.rejected_call);
    }
    state.respond(now, id, response);
}

/// CANCEL matched the INVITE of server transaction `id` before its final response.
pub(super) fn handle_cancel(state: &mut Signalling, now: Instant, id: TransactionId) {
    let Some(key) = state.calls.by_transaction(id) else {
        return;
    };
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    if call.invite_transaction == Some(id) {
        // The initial INVITE: the call ends here. A leg still being made is removed when
        // it arrives (the call is gone by then).
        if let Some(call) = state.calls.remove(key) {
            tracing::debug!(call = %call.call_id, "call cancelled");
            refuse_call(state, now, id, &call, StatusCode::REQUEST_TERMINATED);
            if let Some(media) = call.media {
                sessions::release(state, media);
            }
        }
    } else if call
        .renegotiation
        .as_ref()
        .is_some_and(|r| r.transaction == id)
    {
        // A re-INVITE waiting for a new leg: the session stays as it was (RFC 3261 §9.2).
        let Some(reneg) = call.renegotiation.take() else {
            return;
        };
        let dialog_id = call.dialog.clone();
        reject_in_dialog(
            state,
            now,
            id,
            dialog_id.as_ref(),
            &reneg.request,
            StatusCode::REQUEST_TERMINATED,
        );
    }
}

/// Sends `status` to an in-dialog request, and tells the dialog when it answers an INVITE.
pub(super) fn reject_in_dialog(
    state: &mut Signalling,
    now: Instant,
    id: TransactionId,
    dialog: Option<&DialogId>,
    request: &Request,
    status: StatusCode,
) {
    let response = match dialog.and_then(|d| state.dialogs.get_mut(d)) {
        Some(dialog) => {
            let response = dialog.response(request, status);
            let _ = dialog.record_sent_response(&response);
            response
        }
        None => Response::from_request(request, status),
    };
    state.respond(now, id, response);
}

/// An ACK for a 2xx (the layer handles ACKs for non-2xx responses).
pub(super) fn handle_ack(state: &mut Signalling, now: Instant, ack: &Request) {
    let Ok(Some(dialog_id)) = DialogId::of_received_request(ack) else {
        return;
    };
    if let Some(dialog) = state.dialogs.get_mut(&dialog_id) {
        let _ = dialog.handle_request(ack);
    }
    let Some(key) = state.calls.by_dialog(&dialog_id) else {
        return;
    };
    let seq = ack.headers.cseq().map_or(0, |c| c.seq);
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    if call.pending_2xx.as_ref().is_some_and(|p| p.cseq == seq) {
        call.pending_2xx = None;
    }
    if call.sdp.pending_offer().is_none() {
        return;
    }
    // The answer to the offer we put in a 2xx: a late offer's (the INVITE's CSeq), or a
    // re-INVITE's without SDP.
    let initial = call.invite.headers.cseq().is_ok_and(|c| c.seq == seq);
    let answered = if ack.body.is_empty() {
        Err("the ACK has no answer".to_owned())
    } else {
        SessionDescription::parse(&ack.body)
            .map_err(|e| format!("the answer in the ACK does not parse: {e}"))
            .and_then(|answer| {
                call.sdp
                    .handle_answer(&answer)
                    .map_err(|e| format!("the answer in the ACK is refused: {e}"))
            })
            .and_then(|negotiated| {
                let stream = negotiated.accepted().next().ok_or("no stream accepted")?;
                let direction = MediaDirection::from_flags(stream.sends(), stream.receives());
                leg_spec_for(stream, &state.media_policy)
                    .map(|leg| (leg, direction))
                    .map_err(|e| e.to_string())
            })
    };
    let (leg, direction) = match answered {
        Ok(answered) => answered,
        Err(reason) => {
            call.sdp.cancel_offer();
            tracing::info!(call = %call.call_id, "{reason}");
            if initial {
                // RFC 3261 §13.2.1: the caller must answer our offer; without an answer
                // there is no session to keep.
                end_call(state, now, key, "no usable answer in the ACK", true);
            }
            return;
        }
    };
    let Some(media) = call.media.clone() else {
        return;
    };
    // The answer may put the call on hold (or take it off): the leg follows it. A session
    // rebuilt below keeps its legs' controls, whichever of the two lands first.
    if std::mem::replace(&mut call.direction, direction) != direction {
        sessions::set_direction(state, &media, direction);
    }
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    if same_leg(&call.leg, &leg) {
        if let Some(remote) = leg.remote.filter(|&r| Some(r) != call.leg.remote) {
            call.leg.remote = Some(remote);
            sessions::set_remote(state, &media, remote);
        }
    } else if call.target.replaceable() {
        // The caller chose another codec than the leg was built for: rebuild the session
        // for it on the port our offer named.
        tracing::debug!(call = %call.call_id, "the answer chose another codec: rebuilding");
        call.leg = leg;
        call.replacing = true;
        let target = call.target.clone();
        sessions::replace(state, key, &media, &target, leg);
    } else {
        tracing::info!(
            call = %call.call_id,
            "the answer chose another codec than the conference leg runs; the leg is kept"
        );
        if let Some(remote) = leg.remote {
            sessions::set_remote(state, &media, remote);
        }
    }
}

/// An echo or tone session was rebuilt (or not) for call `key` on the same ports: for a
/// re-INVITE's codec change, or for the answer in a late offer's ACK.
pub(super) fn handle_media_replaced(
    state: &mut Signalling,
    now: Instant,
    key: CallKey,
    result: Result<MediaBinding, RuntimeError>,
) {
    // A call that ended meanwhile released its session, old or rebuilt: nothing is left.
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    call.replacing = false;
    if call.renegotiation.is_some() {
        return in_dialog::answer_renegotiation(state, now, key, result);
    }
    match result {
        Ok(media) => {
            if let Some(old) = call.media.replace(media.clone()) {
                state.calls.unbind_leg(&old);
            }
            state.calls.bind_leg(&media, key);
        }
        Err(e) => {
            tracing::info!(call = %call.call_id, "the answered codec cannot run: {e}");
            end_call(state, now, key, "session not rebuilt for the answer", true);
        }
    }
}

/// Where in-dialog requests of `dialog` go: the first route or the remote target when it is
/// an address, else where the INVITE came from.
pub(super) fn destination(dialog: &Dialog, fallback: SocketAddr) -> SocketAddr {
    let target = dialog
        .route_set()
        .first()
        .map(|r| &r.uri)
        .unwrap_or_else(|| dialog.remote_target());
    let Some(sip) = target.as_sip() else {
        return fallback;
    };
    let ip = match &sip.host {
        Host::Ipv4(ip) => IpAddr::V4(*ip),
        Host::Ipv6(ip) => IpAddr::V6(*ip),
        Host::Domain(_) => return fallback,
    };
    let port = sip.port.unwrap_or(if sip.secure { 5061 } else { 5060 });
    SocketAddr::new(ip, port)
}

/// Sends an in-dialog request of call `key`.
pub(super) fn send_in_dialog(
    state: &mut Signalling,
    now: Instant,
    key: CallKey,
    request: Request,
    purpose: Purpose,
) {
    let Some(call) = state.calls.get(key) else {
        return;
    };
    let fallback = call.source;
    let transport = call.transport.clone();
    let Some(dialog) = call.dialog.as_ref().and_then(|d| state.dialogs.get(d)) else {
        return;
    };
    let destination = destination(dialog, fallback);
    state.send_request(
        now,
        request,
        destination,
        transport,
        ClientOwner::Call { call: key, purpose },
    );
}

/// Ends call `key`: BYE when `bye` and a dialog exists, the final response to an unanswered
/// INVITE (503 while draining, else 487), the leg removed, the dialog forgotten.
pub(super) fn end_call(
    state: &mut Signalling,
    now: Instant,
    key: CallKey,
    reason: &'static str,
    bye: bool,
) {
    if bye {
        let request = state
            .calls
            .get(key)
            .and_then(|call| call.dialog.as_ref())
            .and_then(|d| state.dialogs.get_mut(d))
            .map(Dialog::bye);
        match request {
            Some(Ok(request)) => send_in_dialog(state, now, key, request, Purpose::Bye),
            Some(Err(e)) => tracing::debug!("no BYE: {e}"),
            None => {}
        }
    }
    let Some(call) = state.calls.remove(key) else {
        return;
    };
    let ended = if call.dialog.is_some() {
        // Answered: it was counted as started.
        state.metrics.call_ended();
        Some(EndedCall {
            call_id: call.call_id.clone(),
            reason,
            quality: call.quality,
            leg: call.leg,
        })
    } else {
        tracing::debug!(call = %call.call_id, reason, "call ended");
        None
    };
    if let Some(id) = call.invite_transaction {
        let status = if state.running {
            StatusCode::REQUEST_TERMINATED
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        refuse_call(state, now, id, &call, status);
    }
    if let Some(reneg) = &call.renegotiation {
        reject_in_dialog(
            state,
            now,
            reneg.transaction,
            call.dialog.as_ref(),
            &reneg.request,
            StatusCode::REQUEST_TERMINATED,
        );
    }
    if let Some(dialog) = &call.dialog {
        state.dialogs.remove(dialog);
    }
    match (call.media, ended) {
        (Some(media), Some(ended)) => sessions::release_ended(state, media, ended),
        (Some(media), None) => sessions::release(state, media),
        (None, Some(ended)) => ended.log(None),
        (None, None) => {}
    }
}

/// A server transaction timed out or failed: a call still waiting on it is over.
pub(super) fn handle_server_failed(state: &mut Signalling, now: Instant, id: TransactionId) {
    let Some(key) = state.calls.by_transaction(id) else {
        return;
    };
    let Some(call) = state.calls.get(key) else {
        return;
    };
    if call.invite_transaction == Some(id) {
        // The INVITE transaction gave up before we answered (the answer guard).
        end_call(state, now, key, "INVITE transaction failed", false);
    } else if call
        .pending_2xx
        .as_ref()
        .is_some_and(|p| p.transaction == id)
    {
        end_call(state, now, key, "the 2xx could not be sent", true);
    }
}

/// An event from the runtime about one of our legs.
pub(super) fn handle_media_event(state: &mut Signalling, now: Instant, event: Event) {
    if state.gateway.call_of_session(event.session).is_some() {
        match event.kind {
            EventKind::MediaTimeout => {
                let actions =
                    state
                        .gateway
                        .handle_media_timeout(now, &mut state.layer, event.session);
                state.run_gateway(actions);
            }
            EventKind::Quality(sample) => {
                if let Some(leg) = event.leg {
                    state.gateway.record_quality(event.session, leg, &sample);
                }
            }
            // Logged as for other calls, with the Call-ID of the side the digit came from.
            EventKind::Dtmf { digit, .. } => {
                let call = event
                    .leg
                    .and_then(|leg| state.gateway.call_id_of_leg(event.session, leg))
                    .unwrap_or_else(|| "-".to_owned());
                tracing::info!("dtmf call={call} digit={digit} source=rtp");
            }
            _ => {}
        }
        return;
    }
    let Some(key) = event
        .leg
        .and_then(|leg| state.calls.by_leg(event.session, leg))
    else {
        return;
    };
    if let EventKind::Quality(sample) = event.kind {
        if let Some(call) = state.calls.get_mut(key) {
            if let Some(point) = call.quality.record(&sample, &call.leg, quality::unix_now()) {
                state.metrics.stream_interval(point.estimate.mos, &sample);
            }
        }
        return;
    }
    let Some(call) = state.calls.get(key) else {
        return;
    };
    match event.kind {
        EventKind::Dtmf { digit, .. } => {
            tracing::info!("dtmf call={} digit={digit} source=rtp", call.call_id);
        }
        EventKind::MediaTimeout => {
            tracing::info!(call = %call.call_id, "no RTP within media.timeout_s: hanging up");
            end_call(state, now, key, "media timeout", true);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use tandem_core::rtp::PayloadType;
    use tandem_core::session::CodecSpec;
    use tandem_sip::message::HeaderName;

    use super::*;

    fn request(extra: &str, body: &str) -> Request {
        Request::parse(
            format!(
                "INVITE sip:echo@127.0.0.1 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-u\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:a@127.0.0.1>;tag=f\r\n\
                 To: <sip:echo@127.0.0.1>\r\n\
                 Call-ID: u1\r\n\
                 CSeq: 1 INVITE\r\n\
                 Contact: <sip:a@127.0.0.1:5062>\r\n\
                 {extra}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn offers_are_told_apart_from_missing_foreign_and_broken_bodies() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 6000 RTP/AVP 0\r\n";
        let sdp_type = "Content-Type: application/sdp\r\n";
        assert!(offer_of(&request(sdp_type, sdp)).is_ok());
        assert_eq!(offer_of(&request("", "")), Err(OfferError::Missing));
        assert_eq!(
            offer_of(&request("Content-Type: text/plain\r\n", "hello")),
            Err(OfferError::NotSdp)
        );
        let broken = offer_of(&request(sdp_type, "v=9\r\n")).unwrap_err();
        assert!(matches!(broken, OfferError::Malformed(_)), "{broken:?}");
        assert_eq!(
            OfferError::Missing.status(),
            StatusCode::NOT_ACCEPTABLE_HERE
        );
        assert_eq!(
            OfferError::NotSdp.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_moved_peer_keeps_the_leg_and_a_new_codec_does_not() {
        let leg = LegSpec::new(CodecSpec::PCMU);
        let moved = leg.with_remote("127.0.0.1:7000".parse().unwrap());
        assert!(same_leg(&leg, &moved));
        assert!(!same_leg(&leg, &LegSpec::new(CodecSpec::PCMA)));
        let events = leg.with_telephone_event(PayloadType::new(101).unwrap());
        assert!(!same_leg(&leg, &events));
    }

    #[test]
    fn in_dialog_requests_go_to_the_first_route_or_the_target_when_they_are_addresses() {
        let fallback: SocketAddr = "127.0.0.1:5999".parse().unwrap();
        let dialog = |contact: &str, record_route: &str| {
            let mut invite = request(record_route, "");
            invite.headers.remove("Contact");
            invite.headers.push(HeaderName::Contact, contact);
            let contact = NameAddr::parse("<sip:tandem@127.0.0.1:5060>").unwrap();
            let ok = invite_response(&invite, StatusCode::OK, "t", &contact).unwrap();
            Dialog::new_uas(&invite, &ok).unwrap()
        };
        let direct = dialog("<sip:a@127.0.0.1:5062>", "");
        assert_eq!(
            destination(&direct, fallback),
            "127.0.0.1:5062".parse().unwrap()
        );
        let default_port = dialog("<sip:a@192.0.2.7>", "");
        assert_eq!(
            destination(&default_port, fallback),
            "192.0.2.7:5060".parse().unwrap()
        );
        let by_name = dialog("<sip:a@phone.example>", "");
        assert_eq!(destination(&by_name, fallback), fallback);
        let routed = dialog(
            "<sip:a@127.0.0.1:5062>",
            "Record-Route: <sip:127.0.0.1:5070;lr>\r\n",
        );
        assert_eq!(
            destination(&routed, fallback),
            "127.0.0.1:5070".parse().unwrap()
        );
    }

    #[test]
    fn legs_the_runtime_cannot_build_are_488_and_a_full_runtime_is_503() {
        let full = RuntimeError::QueueFull { worker: 0 };
        assert_eq!(media_failure_status(&full), StatusCode::SERVICE_UNAVAILABLE);
        let timeout = RuntimeError::Timeout { worker: 1 };
        assert_eq!(
            media_failure_status(&timeout),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
