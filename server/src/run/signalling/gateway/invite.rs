//! A new gateway call until its branches are out: the INVITE in (its offer, or a late
//! offer, and the legs the session is built with), the lookups of target names, and the
//! media session, once created, that lets each branch's INVITE go out.

use std::net::SocketAddr;
use std::time::Instant;

use tandem_core::runtime::SessionHandle;
use tandem_core::session::{LegSpec, MediaDirection};
use tandem_sip::dialog::UacParams;
use tandem_sip::message::{NameAddr, Request, Response, StatusCode, Uri};
use tandem_sip::sdp::{LocalPolicy, LocalSession, SessionDescription, answer};
use tandem_sip::transaction::{TransactionId, TransactionLayer};

use super::fork::{Branch, BranchState, Failure, best_response};
use super::media::{MediaAction, session_spec};
use super::wire::{arrived_over, bad_gateway, contact, random_u64, respond_inbound, token};
use super::{Call, DRY_RUN_PORT, Gateway, GatewayCallId, GatewayLookup, GatewayTarget, Phase};
use crate::run::config::CodecPref;
use crate::run::locate::{Hop, LocateError, Plan, plan};
use crate::run::media::{capability, leg_spec_for};
use crate::run::transport::Transport as Wire;

impl Gateway {
    /// Takes a new INVITE (server transaction `server`) routed to `target`, whose caller is
    /// answered with `inbound_codecs` (its endpoint's preferences or `[codecs]`).
    ///
    /// Refusals are answered here (488 for an unusable offer, 502 when no target is one
    /// Tandem can send to: not a `sip:` URI, or a transport other than UDP and TCP) and
    /// return no action. A target by host name returns no action either: the call waits for
    /// [`Self::handle_located`]. An INVITE without SDP is a late offer (`late_offer`).
    pub fn handle_invite(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        server: TransactionId,
        request: &Request,
        target: &GatewayTarget<'_>,
        inbound_codecs: &[CodecPref],
    ) -> Vec<MediaAction> {
        let targets = target.targets.join(", ");
        let refuse = |layer: &mut TransactionLayer, status: StatusCode, why: &str| {
            tracing::info!(targets, "gateway call refused ({status}): {why}");
            let mut r = Response::from_request(request, status);
            let _ = r.set_to_tag(&token());
            let _ = layer.send_response(now, server, r);
            Vec::new()
        };
        let offer = if request.body.is_empty() {
            None
        } else {
            match SessionDescription::parse(&request.body) {
                Ok(offer) => Some(offer),
                Err(_) => {
                    return refuse(layer, StatusCode::NOT_ACCEPTABLE_HERE, "unusable SDP offer");
                }
            }
        };
        let inbound_policy = capability::local_policy(
            &capability::capabilities(inbound_codecs, &self.policy),
            &self.policy,
            self.media_address,
        );
        let inbound_leg = match &offer {
            Some(offer) => self.dry_answer(offer, &inbound_policy),
            // Our offer goes in the 200: guess the caller takes its first codec.
            None => self.dry_offer(&inbound_policy),
        };
        let Some(inbound_leg) = inbound_leg else {
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
        let mut queries = Vec::new();
        let branches: Vec<Branch> = target
            .targets
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let planned = Uri::parse(text)
                    .map_err(|_| "target is not a SIP URI".to_owned())
                    .and_then(|uri| plan(&uri).map(|p| (uri, p)).map_err(|e| e.to_string()));
                match planned {
                    Ok((uri, Plan::Ready(hop))) => Branch::new(uri, BranchState::Ready, hop),
                    Ok((uri, Plan::Lookup(query))) => {
                        queries.push((index, query));
                        // A placeholder hop until the lookup answers.
                        let hop = Hop {
                            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                            transport: Wire::Udp,
                        };
                        Branch::new(uri, BranchState::Locating, hop)
                    }
                    Err(why) => {
                        tracing::info!(target = text.as_str(), "gateway branch not called: {why}");
                        let failed = BranchState::Failed(Failure::local(bad_gateway()));
                        let hop = Hop {
                            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                            transport: Wire::Udp,
                        };
                        Branch::new(Uri::Other(text.clone()), failed, hop)
                    }
                }
            })
            .collect();
        if !branches.iter().any(Branch::is_pending) {
            let failures = branches.iter().filter_map(|b| match &b.state {
                BranchState::Failed(f) => Some(f),
                _ => None,
            });
            return refuse(layer, best_response(failures), "no target Tandem can call");
        }
        let id = GatewayCallId(self.next_call);
        self.next_call += 1;
        let spec = session_spec(inbound_leg, outbound_leg);
        let phase = if queries.is_empty() {
            Phase::CreatingMedia
        } else {
            Phase::Locating
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
                branches,
                winner: None,
                outbound_policy,
                outbound_session: LocalSession::new(
                    "tandem",
                    session_id.wrapping_add(1),
                    self.media_address,
                ),
                inbound_leg,
                outbound_leg,
                outbound_stream: None,
                media: None,
                inbound_dialog: None,
                outbound_dialog: None,
                ringing_sent: false,
                ok_retransmit: None,
                cancelled: false,
                awaiting_answer: false,
                directions: [MediaDirection::SendRecv; 2],
                counted: false,
                transcoder: None,
                quality: Default::default(),
            },
        );
        self.transactions.insert(server, id);
        if !queries.is_empty() {
            tracing::info!(call = %id, targets, "gateway call: looking up targets");
            for (branch, query) in queries {
                self.lookups
                    .push((GatewayLookup { call: id, branch }, query));
            }
            return Vec::new();
        }
        tracing::info!(call = %id, targets, "gateway call: creating media");
        vec![MediaAction::Create { call: id, spec }]
    }

    /// The lookup of one branch's target name finished. Once no branch waits for one, the
    /// media session is created, or the caller gets the best failure (503 when no name had
    /// an address; each counted in [`Self::unresolved`]).
    pub fn handle_located(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        key: GatewayLookup,
        hops: Result<Vec<Hop>, LocateError>,
    ) -> Vec<MediaAction> {
        let id = key.call;
        let Some(call) = self.calls.get_mut(&id) else {
            // Cancelled or hung up meanwhile.
            return Vec::new();
        };
        if call.phase != Phase::Locating {
            return Vec::new();
        }
        let Some(branch) = call
            .branches
            .get_mut(key.branch)
            .filter(|b| b.state == BranchState::Locating)
        else {
            return Vec::new();
        };
        match hops {
            Ok(mut hops) if !hops.is_empty() => {
                branch.hop = hops.remove(0);
                hops.reverse();
                branch.next_hops = hops;
                branch.state = BranchState::Ready;
                tracing::info!(call = %id, hop = %branch.hop.addr, transport = %branch.hop.transport, "gateway call: target located");
            }
            failed => {
                let why = failed
                    .err()
                    .map_or_else(|| "no address".to_owned(), |e| e.to_string());
                self.unresolved += 1;
                self.metrics.target_unresolved();
                tracing::warn!(call = %id, target = %branch.target, "gateway call: target not resolved: {why}");
                branch.state = BranchState::Failed(Failure::local(StatusCode::SERVICE_UNAVAILABLE));
            }
        }
        if call
            .branches
            .iter()
            .any(|b| b.state == BranchState::Locating)
        {
            return Vec::new();
        }
        if !call.branches.iter().any(Branch::is_pending) {
            let status = call.best_failure();
            respond_inbound(now, layer, call, status);
            self.forget(id);
            return Vec::new();
        }
        call.phase = Phase::CreatingMedia;
        tracing::info!(call = %id, "gateway call: targets located; creating media");
        vec![MediaAction::Create {
            call: id,
            spec: session_spec(call.inbound_leg, call.outbound_leg),
        }]
    }

    /// The leg the caller's `offer` gives under `policy`, by answering it in a dry run.
    pub(super) fn dry_answer(
        &self,
        offer: &SessionDescription,
        policy: &LocalPolicy,
    ) -> Option<LegSpec> {
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
    pub(super) fn dry_offer(&self, policy: &LocalPolicy) -> Option<LegSpec> {
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
                .map(|h| {
                    vec![MediaAction::Remove {
                        session: h.id,
                        ended: None,
                    }]
                })
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
            return vec![MediaAction::Remove {
                session,
                ended: None,
            }];
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
            return vec![MediaAction::Remove {
                session,
                ended: None,
            }];
        };
        let mut policy = call.outbound_policy.clone();
        policy.rtp_ports = vec![port];
        // One offer for every branch: only the winner's answer is ever applied to it.
        let offer = call.outbound_session.create_offer(&policy).to_string();
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
            return vec![MediaAction::Remove {
                session,
                ended: None,
            }];
        };
        call.phase = Phase::Calling;
        for branch in call
            .branches
            .iter_mut()
            .filter(|b| b.state == BranchState::Ready)
        {
            // Each branch is a call of its own towards its contact: new Call-ID and tags.
            let params = UacParams::new(
                branch.target.clone(),
                from.clone(),
                token(),
                NameAddr::new(branch.target.clone()),
                format!("{}@tandem", token()),
                contact(self.local, caller.as_deref(), branch.hop.transport),
            );
            match params.invite(offer.as_bytes()) {
                Ok(request) => branch.request = Some(request),
                Err(e) => {
                    tracing::warn!(call = %id, target = %branch.target, "gateway call: outbound INVITE not built: {e}");
                    branch.state =
                        BranchState::Failed(Failure::local(StatusCode::SERVER_INTERNAL_ERROR));
                }
            }
        }
        let ready: Vec<usize> = (0..call.branches.len())
            .filter(|&i| call.branches[i].state == BranchState::Ready)
            .collect();
        let mut actions = Vec::new();
        for index in ready {
            actions.extend(self.send_invite(now, layer, id, index));
        }
        actions.extend(self.settle(now, layer, id));
        actions
    }
}
