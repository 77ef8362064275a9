//! The outbound side of a gateway call before and while it is answered: sending the INVITE
//! (with per-hop failover, RFC 3263 §4.3), its responses (18x → 180 to the caller, 2xx →
//! ACK, a session rebuild when the callee chose another format, and the 200 to the caller),
//! its failures, and the caller's CANCEL.

use std::time::Instant;

use tandem_core::session::{LegSpec, SessionSpec};
use tandem_sip::dialog::{Dialog, DialogId, uas};
use tandem_sip::message::{ContentType, HeaderName, Response, StatusCode};
use tandem_sip::sdp::{LocalSession, NegotiatedStream, SessionDescription};
use tandem_sip::transaction::{TransactionId, TransactionLayer};

use super::media::{MediaAction, session_spec};
use super::wire::{contact, inbound_status, respond_inbound, send_ack, send_bye, via};
use super::{Gateway, GatewayCallId, OkRetransmit, Phase, T1};
use crate::run::media::leg_spec_for;

/// The accepted stream of the SDP answer in `response`, processed by `session` (which
/// holds our pending offer).
pub(super) fn answer_stream(
    session: &mut LocalSession,
    response: &Response,
) -> Option<NegotiatedStream> {
    let sdp = SessionDescription::parse(&response.body).ok()?;
    let negotiated = session.handle_answer(&sdp).ok()?;
    negotiated.accepted().next().cloned()
}

impl Gateway {
    /// Sends call `id`'s outbound INVITE to its current hop on a new client transaction,
    /// with our Via and Contact for the hop's transport; a hop the layer refuses at once
    /// gives way to the next. No hop left: 503 to the caller, and the call ends.
    pub(super) fn send_invite(
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
    pub(super) fn fail_over(
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
    pub(super) fn answered(
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
    pub(super) fn bridge(
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
    pub(super) fn fail_bridged(
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
}
