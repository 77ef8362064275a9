//! Requests inside a call's dialog (RFC 3261 §12.2.2, §14, §15; RFC 3311; RFC 6086): re-INVITE
//! and UPDATE, BYE, INFO.
//!
//! - re-INVITE / UPDATE with an offer: hold (`sendonly`/`inactive`), resume and a moved peer
//!   are answered at once with the same leg (a moved peer is [`sessions::set_remote`]; the
//!   answer's direction, `recvonly`/`inactive`/`sendrecv`, goes to the leg's controls with
//!   [`sessions::set_direction`], so Tandem stops sending to a peer on hold); an
//!   offer that changes the codec (or its packet time or telephone-events) rebuilds an echo or
//!   tone session on the same ports ([`sessions::replace`]: peers and NAT bindings keep
//!   working) and is answered once it runs; a conference leg cannot be rebuilt inside its
//!   room, so it gets a new leg, answered with its ports, and the old leg is removed. A
//!   re-INVITE without SDP gets our
//!   current SDP as the offer in the 200 (the answer comes in the ACK); an UPDATE without SDP
//!   is a session refresh. Each 2xx restarts the session timer (RFC 4028).
//! - INFO with `application/dtmf-relay` or `application/dtmf`: 200 and the log line
//!   `dtmf call=<call-id> digit=<d> source=info`; an empty INFO is a keep-alive (200);
//!   another body is 415.
//! - BYE: 200, the leg is removed, the call ends.
//!
//! Requests for no dialog, out of order or crossing our own INVITE are answered as the
//! dialog layer says (481, 500, 491).

use std::time::Instant;

use tandem_core::runtime::RuntimeError;
use tandem_core::session::MediaDirection;
use tandem_sip::dialog::uas::{ACCEPT, ALLOW, SUPPORTED};
use tandem_sip::dialog::{DtmfRelay, Negotiated, SessionTimer};
use tandem_sip::message::{
    ContentType, HeaderName, Method, Request, Response, StatusCode, Transport,
};
use tandem_sip::sdp::{LocalPolicy, SessionDescription};
use tandem_sip::transaction::TransactionId;

use super::Signalling;
use super::calls::{CallKey, Pending2xx, Renegotiation};
use super::sessions::{self, MediaBinding};
use super::uas::{
    ACK_WAIT, OfferError, T1, call_id, end_call, media_failure_status, negotiate, offer_of,
    policy_with_port, reject_in_dialog, same_leg,
};

/// A BYE.
pub(super) fn handle_bye(state: &mut Signalling, now: Instant, id: TransactionId, bye: &Request) {
    let dialog_id = match state.dialogs.handle_request(bye) {
        Err(rejection) => {
            let response = rejection.response(bye, state.random.next_u64());
            return state.respond(now, id, response);
        }
        Ok(dialog) => {
            let response = dialog.response(bye, StatusCode::OK);
            let dialog_id = dialog.id().clone();
            state.respond(now, id, response);
            dialog_id
        }
    };
    match state.calls.by_dialog(&dialog_id) {
        Some(key) => end_call(state, now, key, "BYE received", false),
        None => {
            state.dialogs.remove(&dialog_id);
        }
    }
}

/// An INFO: DTMF bodies are reported; an empty INFO is a keep-alive.
pub(super) fn handle_info(state: &mut Signalling, now: Instant, id: TransactionId, info: &Request) {
    let status = match state.dialogs.handle_request(info) {
        Err(rejection) => {
            let response = rejection.response(info, state.random.next_u64());
            return state.respond(now, id, response);
        }
        Ok(_) => match DtmfRelay::from_request(info) {
            Ok(Some(relay)) => {
                tracing::info!(
                    "dtmf call={} digit={} source=info",
                    call_id(info),
                    relay.signal.as_char()
                );
                StatusCode::OK
            }
            Ok(None) if info.body.is_empty() => StatusCode::OK,
            Ok(None) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Err(e) => {
                tracing::debug!(call = %call_id(info), "INFO refused: {e}");
                StatusCode::BAD_REQUEST
            }
        },
    };
    let mut response = Response::from_request(info, status);
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        response = response.with_header(HeaderName::Accept, ACCEPT);
    }
    state.respond(now, id, response);
}

/// A re-INVITE or an UPDATE (RFC 3311) in a dialog: a new offer, a session refresh, or both.
pub(super) fn handle_reinvite(
    state: &mut Signalling,
    now: Instant,
    id: TransactionId,
    request: Request,
) {
    let dialog_id = match state.dialogs.handle_request(&request) {
        Err(rejection) => {
            let response = rejection.response(&request, state.random.next_u64());
            return state.respond(now, id, response);
        }
        Ok(dialog) => dialog.id().clone(),
    };
    let reject = |state: &mut Signalling, status| {
        reject_in_dialog(state, now, id, Some(&dialog_id), &request, status);
    };
    let Some(key) = state.calls.by_dialog(&dialog_id) else {
        return reject(state, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST);
    };
    let Some(call) = state.calls.get(key) else {
        return reject(state, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST);
    };
    let Some(media) = call.media.clone() else {
        return reject(state, StatusCode::REQUEST_PENDING);
    };
    if call.renegotiation.is_some() || call.replacing {
        return reject(state, StatusCode::REQUEST_PENDING);
    }
    let timer = match state.timer_config.negotiate_uas(&request) {
        Ok(timer) => timer,
        Err(too_small) => {
            let response = too_small.response(&request);
            if let Some(dialog) = state.dialogs.get_mut(&dialog_id) {
                let _ = dialog.record_sent_response(&response);
            }
            return state.respond(now, id, response);
        }
    };
    let is_invite = request.method == Method::Invite;
    let body = match offer_of(&request) {
        Ok(offer) => {
            let (trial, answer, leg, direction) =
                match negotiate(state, &call.policy, &call.sdp, &offer, media.rtp.port()) {
                    Ok(negotiated) => negotiated,
                    Err(reason) => {
                        tracing::info!(
                            call = %call.call_id,
                            "{} refused with 488: {reason}",
                            request.method
                        );
                        return reject(state, StatusCode::NOT_ACCEPTABLE_HERE);
                    }
                };
            if !same_leg(&call.leg, &leg) {
                // A new codec: the session rebuilt on the same ports, or a new conference
                // leg; answered when it runs.
                let target = call.target.clone();
                if let Some(call) = state.calls.get_mut(key) {
                    call.renegotiation = Some(Renegotiation {
                        transaction: id,
                        request,
                        offer,
                        leg,
                        direction,
                        timer,
                    });
                }
                state.calls.bind_transaction(id, key);
                if target.replaceable() {
                    if let Some(call) = state.calls.get_mut(key) {
                        call.replacing = true;
                    }
                    return sessions::replace(state, key, &media, &target, leg);
                }
                return sessions::create(state, key, target, leg);
            }
            let moved = leg.remote.filter(|&r| Some(r) != call.leg.remote);
            let turned = (direction != call.direction).then_some(direction);
            if let Some(call) = state.calls.get_mut(key) {
                call.sdp = trial;
                call.leg = leg;
                call.direction = direction;
            }
            if let Some(remote) = moved {
                sessions::set_remote(state, &media, remote);
            }
            if let Some(direction) = turned {
                // Hold or resume: the same leg, told which way media flows now.
                tracing::debug!(call = %call_id(&request), ?direction, "media direction");
                sessions::set_direction(state, &media, direction);
            }
            Some(answer)
        }
        Err(OfferError::Missing) if is_invite => {
            // RFC 3261 §14.2: the offer goes in our 2xx. Offer what runs now, so the
            // answer cannot change the leg.
            let policy = current_policy(state, key, media.rtp.port());
            state
                .calls
                .get_mut(key)
                .map(|call| call.sdp.create_offer(&policy))
        }
        Err(OfferError::Missing) => None,
        Err(e) => {
            tracing::info!(call = %call.call_id, "{} refused: {e}", request.method);
            return reject(state, e.status());
        }
    };
    accept_in_dialog(state, now, key, id, &request, body, timer);
}

/// Our policy narrowed to the codec the call runs, at `port`: what a re-offer that must not
/// change the leg offers.
pub(super) fn current_policy(state: &Signalling, key: CallKey, port: u16) -> LocalPolicy {
    let Some(call) = state.calls.get(key) else {
        return policy_with_port(&state.local_policy, port);
    };
    let mut policy = policy_with_port(&call.policy, port);
    let running = Some(call)
        .and_then(|call| call.sdp.streams().iter().find_map(|s| s.accepted()))
        .map(|stream| stream.format.codec.clone());
    if let Some(mut codec) = running {
        codec.fmtp = policy.supported(&codec).and_then(|ours| ours.fmtp.clone());
        policy.codecs = vec![codec];
    }
    policy
}

/// Sends the 2xx to an in-dialog INVITE or UPDATE carrying `body` (an answer, or for a
/// re-INVITE without SDP our offer), and restarts the session timer.
fn accept_in_dialog(
    state: &mut Signalling,
    now: Instant,
    key: CallKey,
    id: TransactionId,
    request: &Request,
    body: Option<SessionDescription>,
    timer: Option<Negotiated>,
) {
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    let Some(dialog) = call.dialog.as_ref().and_then(|d| state.dialogs.get_mut(d)) else {
        return;
    };
    let mut ok = dialog
        .response(request, StatusCode::OK)
        .with_header(HeaderName::Allow, ALLOW)
        .with_header(HeaderName::Supported, SUPPORTED);
    if let Some(sdp) = body {
        ok = ok.with_body(&ContentType::sdp(), sdp.to_string());
    }
    if let Some(negotiated) = &timer {
        negotiated.add_to_response(&mut ok);
        call.timer_negotiated = Some(*negotiated);
        match call.timer.as_mut() {
            Some(running) => running.handle_refreshed(now, negotiated),
            None => call.timer = Some(SessionTimer::start(now, negotiated)),
        }
    }
    let _ = dialog.record_sent_response(&ok);
    let timer_at = call.timer.as_ref().and_then(SessionTimer::poll_timeout);
    let mut wake = timer_at;
    if request.method == Method::Invite {
        let reliable = !matches!(call.transport, Transport::Udp);
        let pending = Pending2xx {
            transaction: id,
            cseq: request.headers.cseq().map_or(0, |c| c.seq),
            response: ok.clone(),
            retransmit: !reliable,
            next: now + T1,
            interval: T1,
            give_up: now + ACK_WAIT,
        };
        let at = if reliable {
            pending.give_up
        } else {
            pending.next
        };
        wake = Some(wake.map_or(at, |w| w.min(at)));
        call.pending_2xx = Some(pending);
        state.calls.bind_transaction(id, key);
    }
    if let Some(at) = wake {
        state.calls.schedule(at, key);
    }
    if let Some(at) = timer_at {
        state.calls.schedule(at, key);
    }
    state.respond(now, id, ok);
}

/// The session for a renegotiation was rebuilt, or its new conference leg exists (or not):
/// answer with its ports, and remove the old leg when it was another.
pub(super) fn answer_renegotiation(
    state: &mut Signalling,
    now: Instant,
    key: CallKey,
    result: Result<MediaBinding, RuntimeError>,
) {
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    let Some(reneg) = call.renegotiation.take() else {
        // Cancelled, or the call moved on: the new leg is not wanted.
        if let Ok(media) = result {
            sessions::release(state, media);
        }
        return;
    };
    let dialog_id = call.dialog.clone();
    let media = match result {
        Ok(media) => media,
        Err(e) => {
            tracing::info!(
                call = %call.call_id,
                "{} refused: no new media leg: {e}",
                reneg.request.method
            );
            let status = media_failure_status(&e);
            return reject_in_dialog(
                state,
                now,
                reneg.transaction,
                dialog_id.as_ref(),
                &reneg.request,
                status,
            );
        }
    };
    let policy = policy_with_port(&call.policy, media.rtp.port());
    let (answer, negotiated) = call.sdp.answer(&reneg.offer, &policy);
    if negotiated.rejects_everything() {
        // A rebuilt session is still the call's (it ends with the call); a new leg is not.
        if call.media.as_ref().is_none_or(|m| !m.is_leg(&media)) {
            sessions::release(state, media);
        }
        return reject_in_dialog(
            state,
            now,
            reneg.transaction,
            dialog_id.as_ref(),
            &reneg.request,
            StatusCode::NOT_ACCEPTABLE_HERE,
        );
    }
    let old = call.media.replace(media.clone());
    call.leg = reneg.leg;
    // A rebuilt session keeps its legs' controls, a new conference leg starts sending both
    // ways: tell the leg unless both already agree with the answer.
    let previous = std::mem::replace(&mut call.direction, reneg.direction);
    if reneg.direction != MediaDirection::SendRecv || previous != MediaDirection::SendRecv {
        sessions::set_direction(state, &media, reneg.direction);
    }
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    tracing::debug!(call = %call.call_id, port = media.rtp.port(), "media leg replaced");
    if let Some(old) = old {
        state.calls.unbind_leg(&old);
        // A rebuilt session is the old one, on the same ports: nothing to remove. A new
        // conference leg is in the same room as the old one, which leaves it.
        if !old.is_leg(&media) {
            sessions::release(state, old);
        }
    }
    state.calls.bind_leg(&media, key);
    accept_in_dialog(
        state,
        now,
        key,
        reneg.transaction,
        &reneg.request,
        Some(answer),
        reneg.timer,
    );
}
