//! Late offers on gateway calls (RFC 3261 §13.2.1, RFC 3264 §2): the caller's INVITE has no
//! SDP, so the gateway makes the offers on both sides.
//!
//! The outbound INVITE carries the route's codecs as for any call. When a branch answers,
//! our offer to the caller goes in our 200: the caller's policy (its endpoint's codecs, or
//! `[codecs]`; all of them transcode to whatever the callee chose), with telephone-event
//! when we have it. The caller answers in its ACK ([`Gateway::handle_late_answer`]): the
//! caller's leg, built on a guess (our first codec, no telephone-event, no address), gets
//! the caller's address (`SetRemote`), or the session is rebuilt on the same ports
//! (`Replace`) when the caller chose another format. An ACK without an answer, or with one
//! that accepts nothing of ours, hangs up both sides.

use std::time::Instant;

use tandem_core::session::{LegSpec, MediaDirection};
use tandem_sip::message::Request;
use tandem_sip::sdp::{LocalSession, SessionDescription};
use tandem_sip::transaction::TransactionLayer;

use super::media::{MediaAction, recount_transcoder, same_format, session_spec};
use super::{Gateway, GatewayCallId, Phase};
use crate::run::media::{MediaPolicy, leg_spec_for};

/// The leg and media direction (seen from Tandem) the caller's answer `body` gives, applied
/// to `session` (which holds our offer); `None` for no SDP or nothing of ours accepted.
fn accept_answer(
    session: &mut LocalSession,
    body: &[u8],
    media: &MediaPolicy,
) -> Option<(LegSpec, MediaDirection)> {
    if body.is_empty() {
        session.cancel_offer();
        return None;
    }
    let Ok(answer) = SessionDescription::parse(body) else {
        session.cancel_offer();
        return None;
    };
    let negotiated = session.handle_answer(&answer).ok()?;
    let stream = negotiated.accepted().next()?;
    let leg = leg_spec_for(stream, media).ok()?;
    let direction = MediaDirection::from_flags(stream.sends(), stream.receives());
    Some((leg, direction))
}

impl Gateway {
    /// The caller's ACK to our 200 of a late-offer call `id`, with its answer: the caller's
    /// leg is pointed at it or rebuilt for it; no usable answer hangs up both sides.
    pub(super) fn handle_late_answer(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: GatewayCallId,
        ack: &Request,
    ) -> Vec<MediaAction> {
        let Some(call) = self.calls.get_mut(&id) else {
            return Vec::new();
        };
        call.awaiting_answer = false;
        call.ok_retransmit = None;
        if let Some(dialog) = call.inbound_dialog.as_mut() {
            let _ = dialog.handle_request(ack);
        }
        let Some((leg, direction)) =
            accept_answer(&mut call.inbound_session, &ack.body, &self.policy)
        else {
            tracing::info!(call = %id, "gateway call: the caller's ACK has no usable answer; hanging up");
            return self.hangup(now, layer, id);
        };
        let Some((session, leg_id)) = call
            .media
            .as_ref()
            .and_then(|m| Some((m.id, m.legs.first()?.leg)))
        else {
            return self.hangup(now, layer, id);
        };
        let mut actions = Vec::new();
        if same_format(&leg, &call.inbound_leg) {
            call.inbound_leg = leg;
            actions.extend(leg.remote.map(|remote| MediaAction::SetRemote {
                session,
                leg: leg_id,
                remote,
            }));
        } else {
            // The caller chose another of our codecs than the session was built with:
            // rebuild it on the same ports, the callee's leg as it runs.
            tracing::info!(call = %id, chosen = ?leg.codec.format, "gateway call: the caller's answer chose another format; rebuilding the session");
            call.inbound_leg = leg;
            let mut callee = call.outbound_leg;
            if callee.remote.is_none() {
                callee.remote = call.outbound_stream.as_ref().and_then(|s| s.remote_rtp);
            }
            let spec = session_spec(leg, callee);
            recount_transcoder(&self.metrics, &mut call.transcoder, &spec);
            call.phase = Phase::Rebuilding;
            actions.push(MediaAction::Replace {
                call: id,
                session,
                spec,
            });
        }
        if direction != call.directions[0] {
            call.directions[0] = direction;
            actions.push(MediaAction::SetDirection {
                session,
                leg: leg_id,
                direction,
            });
        }
        tracing::info!(call = %id, "gateway call: the caller answered our offer");
        actions
    }
}
