//! The calls' own timers and the requests they send: 2xx retransmission until the ACK
//! (RFC 3261 §13.3.1.4: T1 doubling to T2, given up at 64·T1 with a BYE), and session timers
//! (RFC 4028 §10): a refresh when we are the refresher (UPDATE when the peer allows it, else
//! a re-INVITE with our current SDP, ACKed here), BYE when the session expires; and what
//! comes back for those requests.

use std::time::Instant;

use tandem_sip::dialog::SessionTimerAction;
use tandem_sip::message::{HeaderName, Method, Response, Transport};
use tandem_sip::sdp::SessionDescription;

use super::Signalling;
use super::calls::CallKey;
use super::in_dialog::current_policy;
use super::uas::{Purpose, T2, destination, end_call, send_in_dialog};

/// The calls' own timers: 2xx retransmissions and ACK give-up, session timers.
pub(super) fn handle_timers(state: &mut Signalling, now: Instant) {
    for key in state.calls.due(now) {
        let Some(call) = state.calls.get_mut(key) else {
            continue;
        };
        let mut resend = None;
        let mut give_up = false;
        let mut wake = Vec::new();
        if let Some(pending) = call.pending_2xx.as_mut() {
            if now >= pending.give_up {
                give_up = true;
            } else {
                if pending.retransmit && now >= pending.next {
                    resend = Some((pending.transaction, pending.response.clone()));
                    pending.interval = (pending.interval * 2).min(T2);
                    pending.next = now + pending.interval;
                }
                wake.push(if pending.retransmit {
                    pending.next.min(pending.give_up)
                } else {
                    pending.give_up
                });
            }
        }
        let mut action = None;
        if let Some(timer) = call.timer.as_mut() {
            if timer.poll_timeout().is_some_and(|at| now >= at) {
                action = timer.handle_timeout(now);
            }
            wake.extend(timer.poll_timeout());
        }
        if give_up {
            tracing::info!(call = %call.call_id, "no ACK for the 2xx: hanging up");
            end_call(state, now, key, "no ACK", true);
            continue;
        }
        for at in wake {
            state.calls.schedule(at, key);
        }
        if let Some((id, response)) = resend {
            state.respond(now, id, response);
        }
        match action {
            Some(SessionTimerAction::SendBye) => {
                tracing::info!("session timer expired: hanging up");
                end_call(state, now, key, "session expired", true);
            }
            Some(SessionTimerAction::SendRefresh) => refresh(state, now, key),
            _ => {}
        }
    }
}

/// Sends a session refresh (RFC 4028 §7.4): an UPDATE without SDP when the peer allows
/// UPDATE, else a re-INVITE with our current SDP.
fn refresh(state: &mut Signalling, now: Instant, key: CallKey) {
    let Some(call) = state.calls.get(key) else {
        return;
    };
    let allows_update = call
        .invite
        .headers
        .allow()
        .any(|m| m.is_ok_and(|m| m == Method::Update));
    let port = call.media.as_ref().map_or(0, |m| m.rtp.port());
    let policy = current_policy(state, key, port);
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    let Some(dialog) = call.dialog.as_ref().and_then(|d| state.dialogs.get_mut(d)) else {
        return;
    };
    let request = if allows_update {
        dialog.update(&[])
    } else {
        let offer = call.sdp.create_offer(&policy);
        dialog.reinvite(offer.to_string().as_bytes())
    };
    match request {
        Ok(mut request) => {
            if let Some(timer) = &call.timer {
                timer.add_to_request(&mut request, &state.timer_config);
            }
            send_in_dialog(state, now, key, request, Purpose::Refresh);
        }
        Err(e) => {
            call.sdp.cancel_offer();
            tracing::debug!(call = %call.call_id, "no session refresh: {e}");
        }
    }
}

/// A response to a request a call sent.
pub(super) fn handle_response(
    state: &mut Signalling,
    now: Instant,
    key: CallKey,
    purpose: Purpose,
    response: &Response,
) {
    if purpose == Purpose::Bye || !response.status.is_final() {
        return;
    }
    let Some(call) = state.calls.get_mut(key) else {
        return;
    };
    let Some(dialog) = call.dialog.as_ref().and_then(|d| state.dialogs.get_mut(d)) else {
        return;
    };
    let _ = dialog.handle_response(response);
    let is_invite = response
        .headers
        .cseq()
        .is_ok_and(|c| c.method == Method::Invite);
    if !response.status.is_success() {
        if is_invite {
            call.sdp.cancel_offer();
        }
        let code = response.status.as_u16();
        if code == 481 || code == 408 {
            tracing::info!(
                call = %call.call_id,
                "session refresh answered {code}: the call is gone"
            );
            end_call(state, now, key, "refresh refused", false);
        }
        return;
    }
    let mut ack = None;
    if is_invite {
        ack = dialog.ack().ok();
        if let Ok(answer) = SessionDescription::parse(&response.body) {
            if let Err(e) = call.sdp.handle_answer(&answer) {
                tracing::debug!(call = %call.call_id, "refresh answer refused: {e}");
            }
        } else {
            call.sdp.cancel_offer();
        }
    }
    let negotiated = state
        .timer_config
        .negotiate_uac(response)
        .or(call.timer_negotiated);
    let mut wake = None;
    if let (Some(timer), Some(negotiated)) = (call.timer.as_mut(), negotiated) {
        timer.handle_refreshed(now, &negotiated);
        wake = timer.poll_timeout();
    }
    if let Some(at) = wake {
        state.calls.schedule(at, key);
    }
    if let Some(mut ack) = ack {
        let Some(call) = state.calls.get(key) else {
            return;
        };
        let transport = call.transport.clone();
        let fallback = call.source;
        let destination = call
            .dialog
            .as_ref()
            .and_then(|d| state.dialogs.get(d))
            .map_or(fallback, |d| destination(d, fallback));
        let Some(local) = state.local_addr(&transport) else {
            return;
        };
        let name = if matches!(transport, Transport::Tcp) {
            "TCP"
        } else {
            "UDP"
        };
        ack.headers
            .push_front(HeaderName::Via, format!("SIP/2.0/{name} {local};rport"));
        if let Err(e) = state.layer.send_ack(ack, destination, transport) {
            tracing::debug!("ACK not sent: {e}");
        }
    }
}

/// A request a call sent timed out or could not be sent. A failed refresh leaves the
/// session timer to end the call; a failed BYE has nothing left to end.
pub(super) fn handle_request_failed(
    _state: &mut Signalling,
    _now: Instant,
    _key: CallKey,
    purpose: Purpose,
) {
    tracing::debug!(?purpose, "in-dialog request failed");
}
