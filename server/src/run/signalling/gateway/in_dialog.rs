//! Requests inside a bridged call's dialogs, answered by the gateway itself: BYE (hung up
//! on the other side too), ACK, re-INVITE and UPDATE (hold, resume, a moved peer, a codec
//! change on one side rebuilt on the same ports), and INFO digits.

use std::time::Instant;

use tandem_core::session::{LegSpec, MediaDirection, SessionSpec};
use tandem_sip::dialog::{DialogId, DtmfRelay};
use tandem_sip::message::{ContentType, Method, Request, StatusCode};
use tandem_sip::sdp::{LocalPolicy, LocalSession, SessionDescription};
use tandem_sip::transaction::{TransactionId, TransactionLayer};

use super::media::{MediaAction, recount_transcoder, same_format, session_spec};
use super::wire::{random_u64, send_bye};
use super::{Gateway, Phase};
use crate::run::media::{MediaPolicy, leg_spec_for};

impl Gateway {
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
        if from_caller && request.method == Method::Ack && call.awaiting_answer {
            return self.handle_late_answer(now, layer, id, request);
        }
        // The transport of the other side, for the BYE that goes there.
        let other_side = if from_caller {
            call.callee_transport()
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
}

/// Our policy for one side narrowed to the codec that side runs: what an answer or re-offer
/// that must not change the session uses.
pub(super) fn running_policy(session: &LocalSession, policy: &LocalPolicy) -> LocalPolicy {
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
pub(super) fn answer_locally(
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
