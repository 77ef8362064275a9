//! The outbound side of a gateway call until it is answered: sending each branch's INVITE
//! (with per-hop failover, RFC 3263 §4.3), their responses (the first 18x → 180 to the
//! caller; the first 2xx wins: ACK, CANCEL to the other branches, a session rebuild when
//! the callee chose another format, and the 200 to the caller; a later 2xx → ACK and BYE),
//! their failures (all failed → the best response, [`fork`](super::fork)), and the
//! caller's CANCEL (to every branch).

use std::time::Instant;

use tandem_core::session::{LegSpec, SessionSpec};
use tandem_sip::dialog::{Dialog, DialogId, uas};
use tandem_sip::message::{ContentType, HeaderName, Response, StatusCode};
use tandem_sip::sdp::{LocalSession, NegotiatedStream, SessionDescription};
use tandem_sip::transaction::{TransactionId, TransactionLayer};

use super::fork::{Branch, BranchState, Failure, Orphan};
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
    /// Sends branch `index` of call `id` to its current hop on a new client transaction,
    /// with our Via and Contact for the hop's transport; a hop the layer refuses at once
    /// gives way to the next. No hop left: the branch fails (503), and the call settles.
    pub(super) fn send_invite(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        index: usize,
    ) -> Vec<MediaAction> {
        let local = self.local;
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        let caller = call
            .inbound_request
            .headers
            .from()
            .ok()
            .and_then(|f| f.uri.as_sip().and_then(|s| s.user.clone()));
        let Some(branch) = call.branches.get_mut(index) else {
            return Vec::new();
        };
        let Some(mut request) = branch.request.take() else {
            return Vec::new();
        };
        loop {
            let hop = branch.hop;
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
                    branch.txn = Some(txn);
                    branch.request = Some(request);
                    branch.hop_answered = false;
                    branch.state = BranchState::Calling;
                    self.transactions.insert(txn, id);
                    tracing::info!(call = %id, branch = index, destination = %hop.addr, transport = %hop.transport, "gateway call: INVITE out");
                    return Vec::new();
                }
                Err(e) => {
                    tracing::warn!(call = %id, branch = index, destination = %hop.addr, "gateway call: outbound INVITE not sent: {e}");
                    if let Some(next) = branch.next_hops.pop() {
                        branch.hop = next;
                        continue;
                    }
                    branch.request = Some(request);
                    branch.state =
                        BranchState::Failed(Failure::local(StatusCode::SERVICE_UNAVAILABLE));
                    return self.settle(now, layer, id);
                }
            }
        }
    }

    /// Moves branch `index`'s INVITE to its next hop after `why` (RFC 3263 §4.3), if the
    /// call is still calling, no branch won, the current hop never answered, and a hop is
    /// left; `None` otherwise.
    fn fail_over(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        index: usize,
        why: &str,
    ) -> Option<Vec<MediaAction>> {
        let call = self.calls.get_mut(&id)?;
        if call.cancelled || call.phase != Phase::Calling || call.winner.is_some() {
            return None;
        }
        let branch = call.branches.get_mut(index)?;
        if branch.hop_answered {
            return None;
        }
        let next = branch.next_hops.pop()?;
        tracing::info!(call = %id, branch = index, failed = %branch.hop.addr, next = %next.addr, transport = %next.transport, "gateway call: {why}; trying the next hop");
        branch.hop = next;
        branch.txn = None;
        Some(self.send_invite(now, layer, id, index))
    }

    /// Ends call `id` once no branch can answer any more and none won: the caller gets the
    /// best failure ([`best_response`](super::fork::best_response)), unless it cancelled.
    pub(super) fn settle(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
    ) -> Vec<MediaAction> {
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        if call.winner.is_some() || call.branches.iter().any(Branch::is_pending) {
            return Vec::new();
        }
        if !call.cancelled && call.phase == Phase::Calling {
            let status = call.best_failure();
            tracing::info!(call = %id, %status, "gateway call: no branch answered");
            respond_inbound(now, layer, call, status);
        }
        self.end(id)
    }

    /// A response on one of the gateway's client transactions (a branch's INVITE, or a
    /// BYE we sent: those need nothing).
    pub fn handle_response(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        txn: TransactionId,
        response: &Response,
    ) -> Vec<MediaAction> {
        if self.orphans.contains_key(&txn) {
            self.handle_orphan_response(now, layer, txn, response);
            return Vec::new();
        }
        let Some(&id) = self.transactions.get(&txn) else {
            return Vec::new();
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        let Some(index) = call.branches.iter().position(|b| b.txn == Some(txn)) else {
            return Vec::new();
        };
        let code = response.status.as_u16();
        let branch = &mut call.branches[index];
        if code == 503 && !branch.hop_answered && !branch.next_hops.is_empty() {
            // An overloaded server: the next hop may do (RFC 3263 §4.3).
            self.transactions.remove(&txn);
            if let Some(actions) = self.fail_over(now, layer, id, index, "503 from the hop") {
                return actions;
            }
            return self.branch_failed(
                now,
                layer,
                id,
                index,
                Failure::from_callee(response.status),
            );
        }
        branch.hop_answered = true;
        match code {
            100 => Vec::new(),
            101..=199 => {
                let ringing = !call.ringing_sent
                    && !call.cancelled
                    && call.phase == Phase::Calling
                    && call.winner.is_none();
                if ringing {
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
            200..=299 => self.answered(now, layer, id, index, response),
            _ => {
                self.transactions.remove(&txn);
                tracing::info!(call = %id, branch = index, status = code, "gateway call: callee refused");
                let status = inbound_status(response.status);
                // A challenge or a redirect we do not follow is ours to report, not the
                // callee's word.
                let failure = if status == response.status {
                    Failure::from_callee(status)
                } else {
                    Failure::local(status)
                };
                if code >= 600 && call.winner.is_none() {
                    // A global failure (RFC 3261 §16.7 step 5): the other branches stop
                    // ringing; their 487s settle the call, and the 6xx is what the caller gets.
                    for (other, branch) in call.branches.iter().enumerate() {
                        if other != index && branch.state == BranchState::Calling {
                            if let Some(txn) = branch.txn {
                                let _ = layer.cancel(now, txn);
                            }
                        }
                    }
                }
                self.branch_failed(now, layer, id, index, failure)
            }
        }
    }

    /// Branch `index` of call `id` ended with `failure`; the call settles.
    fn branch_failed(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        index: usize,
        failure: Failure,
    ) -> Vec<MediaAction> {
        if let Some(branch) = self
            .calls
            .get_mut(&id)
            .and_then(|c| c.branches.get_mut(index))
        {
            branch.txn = None;
            branch.state = BranchState::Failed(failure);
        }
        self.settle(now, layer, id)
    }

    /// Branch `index` of call `id` answered 2xx: the first one wins the call (the other
    /// branches are cancelled); a later one is ACKed and hung up at once.
    fn answered(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        index: usize,
        response: &Response,
    ) -> Vec<MediaAction> {
        let local = self.local;
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        let wins = call.winner.is_none() && !call.cancelled && call.phase == Phase::Calling;
        let Some(branch) = call.branches.get_mut(index) else {
            return Vec::new();
        };
        let side = branch.hop.transport;
        // A retransmitted 2xx: ACK it again.
        let acked = if call.winner == Some(index) {
            call.outbound_dialog.as_ref()
        } else {
            branch.lost.as_ref()
        };
        if let Some(dialog) = acked {
            send_ack(layer, dialog, local, side);
            return Vec::new();
        }
        let Some(invite) = branch.request.as_ref() else {
            return Vec::new();
        };
        let mut dialog = match Dialog::new_uac(invite, response) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(call = %id, branch = index, "gateway call: unusable 2xx: {e}");
                return Vec::new();
            }
        };
        send_ack(layer, &dialog, local, side);
        branch.state = BranchState::Answered;
        if !wins {
            // It crossed our CANCEL, or another branch won: end it at once.
            tracing::info!(call = %id, branch = index, "gateway call: a 2xx too late; hanging it up");
            send_bye(now, layer, &mut dialog, local, side);
            branch.lost = Some(dialog);
            // A cancelled call waited for this branch's final response: it may end now.
            return self.settle(now, layer, id);
        }
        call.winner = Some(index);
        tracing::info!(call = %id, branch = index, target = %branch.target, "gateway call: answered");
        // The other branches lose (RFC 3261 §16.7 step 10): their 487s, or 2xxs that
        // cross the CANCEL, come back as responses.
        for (other, branch) in call.branches.iter().enumerate() {
            if other != index && branch.state == BranchState::Calling {
                if let Some(txn) = branch.txn {
                    let _ = layer.cancel(now, txn);
                }
            }
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
        let sdp = match &call.inbound_offer {
            Some(offer) => call.inbound_session.answer(offer, &policy).0,
            // A late offer: ours goes in the 200, the caller answers in its ACK.
            None => {
                call.awaiting_answer = true;
                call.inbound_session.create_offer(&policy)
            }
        };
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
            let side = call.callee_transport();
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
        if self.orphans.remove(&txn).is_some() {
            return Vec::new();
        }
        let Some(id) = self.transactions.remove(&txn) else {
            return Vec::new();
        };
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        let Some(index) = call.branches.iter().position(|b| b.txn == Some(txn)) else {
            return Vec::new();
        };
        let why = if timed_out {
            "no answer"
        } else {
            "transport error"
        };
        if let Some(actions) = self.fail_over(now, layer, id, index, why) {
            return actions;
        }
        let status = if timed_out {
            StatusCode::REQUEST_TIMEOUT
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        tracing::info!(call = %id, branch = index, "gateway call: callee unreachable ({status})");
        self.branch_failed(now, layer, id, index, Failure::local(status))
    }

    /// The caller cancelled the INVITE on server transaction `txn` (the layer answered the
    /// CANCEL): 487 to the caller, CANCEL to every branch still calling.
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
                for branch in &mut call.branches {
                    let cancelled = branch.txn.is_some_and(|out| layer.cancel(now, out).is_ok());
                    if !cancelled && branch.is_pending() {
                        // Nothing to wait for on it.
                        branch.txn = None;
                        branch.state =
                            BranchState::Failed(Failure::local(StatusCode::REQUEST_TERMINATED));
                    }
                }
                // The 487s (or crossing 2xxs) end the call; when none can come, now.
                self.settle(now, layer, id)
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
            send_ack(layer, dialog, self.local, call.callee_transport());
            return true;
        }
        false
    }

    /// A response on the INVITE of a branch that outlived its call: a 2xx is ACKed and
    /// hung up (once; a retransmission is ACKed again); a final response ends it.
    fn handle_orphan_response(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        txn: TransactionId,
        response: &Response,
    ) {
        let local = self.local;
        let Some(orphan) = self.orphans.get_mut(&txn) else {
            return;
        };
        if response.status.is_success() {
            if let Some(dialog) = &orphan.lost {
                send_ack(layer, dialog, local, orphan.transport);
                return;
            }
            if let Ok(mut dialog) = Dialog::new_uac(&orphan.request, response) {
                tracing::info!("gateway call: a 2xx after the call ended; hanging it up");
                send_ack(layer, &dialog, local, orphan.transport);
                send_bye(now, layer, &mut dialog, local, orphan.transport);
                orphan.lost = Some(dialog);
            }
            return;
        }
        if response.status.as_u16() >= 200 {
            self.orphans.remove(&txn);
        }
    }
}

/// What is left of a pending branch once its call ended.
impl Orphan {
    /// The branch's INVITE and transport, if it has a transaction still open.
    pub(super) fn of(branch: &Branch) -> Option<(TransactionId, Self)> {
        let txn = branch.txn.filter(|_| branch.is_pending())?;
        let request = branch.request.clone()?;
        Some((
            txn,
            Self {
                request,
                transport: branch.hop.transport,
                lost: None,
            },
        ))
    }
}
