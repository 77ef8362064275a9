//! A minimal user agent on top of the transaction layer, for call-flow tests only.
//!
//! It does what RFC 3261 asks of a UA core and nothing more: as UAC it sends INVITE, ACKs
//! every 2xx (again for each retransmission, §13.2.2.4), hangs up with BYE or cancels after
//! ringing; as UAS it rings, answers, rejects or waits, retransmits its 2xx until the ACK
//! (T1 doubling to T2, §13.3.1.4), answers CANCEL's INVITE with 487, BYE and OPTIONS with 200.
//! One call per UA; no SDP, no dialog state beyond tags.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tandem_sip::message::{
    HeaderName, Host, Method, Request, Response, SipUri, StatusCode, Transport,
};
use tandem_sip::transaction::{Event, TransactionId, TransactionLayer};

use super::netsim::Tu;

/// What the UA does with an incoming INVITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 180 after `ring`, 200 after `answer` (from the INVITE).
    Answer { ring: Duration, answer: Duration },
    /// 486 after `after`.
    Busy { after: Duration },
    /// 180 after `ring`, then nothing (the caller cancels).
    NoAnswer { ring: Duration },
}

/// What the UA does with its own outgoing call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// BYE this long after the call is established.
    HangUpAfter(Duration),
    /// CANCEL this long after placing the call (the user gives up; the layer holds the
    /// CANCEL until a provisional response arrives, §9.1).
    CancelAfter(Duration),
}

/// The caller's view of its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerState {
    Calling,
    Ringing,
    Established,
    /// BYE sent.
    HangingUp,
    /// BYE answered.
    Ended,
    /// The INVITE failed with this status (408 for a timeout, 503 for a transport error).
    Failed(u16),
}

/// The callee's view of its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalleeState {
    Idle,
    Ringing,
    /// 2xx sent, waiting for the ACK.
    Answered,
    /// ACK received.
    Confirmed,
    /// CANCEL received, 487 sent.
    Cancelled,
    /// Rejected with a non-2xx final response.
    Rejected(u16),
    /// BYE received and answered.
    Ended,
    /// No ACK within 64*T1 (§13.3.1.4).
    AckTimeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Ring,
    Answer,
    Reject(u16),
    RetransmitOk,
    GiveUpOk,
    Bye,
    Cancel,
}

/// The test UA.
pub struct Ua {
    pub addr: SocketAddr,
    pub behaviour: Behaviour,
    pub caller: Option<CallerState>,
    pub callee: CalleeState,
    /// Final status of the OPTIONS sent by [`Ua::options`].
    pub options_result: Option<u16>,
    /// Events seen, by name, for assertions.
    pub log: Vec<String>,
    t1: Duration,
    t2: Duration,
    actions: Vec<(Instant, Action)>,
    // Caller side.
    peer: SocketAddr,
    plan: Option<Plan>,
    invite: Option<Request>,
    invite_id: Option<TransactionId>,
    ack: Option<Request>,
    remote_to: Option<String>,
    remote_target: Option<String>,
    options_id: Option<TransactionId>,
    bye_id: Option<TransactionId>,
    // Callee side.
    incoming: Option<(TransactionId, Request)>,
    ok: Option<Response>,
    ok_interval: Duration,
    acks_seen: u32,
}

impl Ua {
    pub fn new(addr: SocketAddr, behaviour: Behaviour) -> Self {
        Self {
            addr,
            behaviour,
            caller: None,
            callee: CalleeState::Idle,
            options_result: None,
            log: Vec::new(),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            actions: Vec::new(),
            peer: addr,
            plan: None,
            invite: None,
            invite_id: None,
            ack: None,
            remote_to: None,
            remote_target: None,
            options_id: None,
            bye_id: None,
            incoming: None,
            ok: None,
            ok_interval: Duration::ZERO,
            acks_seen: 0,
        }
    }

    fn uri(addr: SocketAddr, user: &str) -> SipUri {
        SipUri::new(Host::from(addr.ip()))
            .with_user(user)
            .with_port(addr.port())
    }

    fn base(&self, method: Method, uri: SipUri, call_id: &str, seq: u32) -> Request {
        Request::new(method.clone(), uri)
            .with_header(HeaderName::Via, format!("SIP/2.0/UDP {};rport", self.addr))
            .with_header(HeaderName::MaxForwards, 70)
            .with_header(
                HeaderName::From,
                format!("<sip:ua@{}>;tag=from-{}", self.addr, self.addr.port()),
            )
            .with_header(HeaderName::To, format!("<sip:peer@{}>", self.peer))
            .with_header(HeaderName::CallId, call_id)
            .with_header(HeaderName::CSeq, format!("{seq} {method}"))
    }

    /// Places a call to `peer`.
    pub fn call(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        peer: SocketAddr,
        plan: Plan,
    ) {
        self.peer = peer;
        self.plan = Some(plan);
        let call_id = format!("call-{}", self.addr.port());
        let invite = self
            .base(Method::Invite, Self::uri(peer, "peer"), &call_id, 1)
            .with_header(HeaderName::Contact, format!("<sip:ua@{}>", self.addr));
        let id = layer
            .send_request(now, invite.clone(), peer, Transport::Udp)
            .expect("INVITE accepted");
        self.invite = Some(invite);
        self.invite_id = Some(id);
        if let Plan::CancelAfter(d) = plan {
            self.schedule(now + d, Action::Cancel);
        }
        self.caller = Some(CallerState::Calling);
    }

    /// Sends OPTIONS to `peer`.
    pub fn options(&mut self, now: Instant, layer: &mut TransactionLayer, peer: SocketAddr) {
        self.peer = peer;
        let options = self.base(
            Method::Options,
            Self::uri(peer, "peer"),
            &format!("options-{}", self.addr.port()),
            1,
        );
        self.options_id = Some(
            layer
                .send_request(now, options, peer, Transport::Udp)
                .expect("OPTIONS accepted"),
        );
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        self.actions.push((at, action));
    }

    fn unschedule(&mut self, pred: impl Fn(Action) -> bool) {
        self.actions.retain(|(_, a)| !pred(*a));
    }

    // ---- caller ----------------------------------------------------------------------

    fn on_invite_response(&mut self, now: Instant, layer: &mut TransactionLayer, r: Response) {
        let code = r.status.as_u16();
        if r.status.is_provisional() {
            if self.caller == Some(CallerState::Calling) && code > 100 {
                self.caller = Some(CallerState::Ringing);
            }
        } else if r.status.is_success() {
            self.ack_2xx(now, layer, &r);
        } else if matches!(
            self.caller,
            Some(CallerState::Calling | CallerState::Ringing)
        ) {
            self.caller = Some(CallerState::Failed(code));
        }
    }

    /// ACKs a 2xx (every copy of it); the first one establishes the call.
    fn ack_2xx(&mut self, now: Instant, layer: &mut TransactionLayer, r: &Response) {
        if self.ack.is_none() {
            let invite = self.invite.as_ref().expect("a call");
            let to = r.headers.get("To").unwrap_or_default().to_owned();
            let target = r
                .headers
                .contacts()
                .next()
                .and_then(|c| c.ok())
                .and_then(|c| c.address().map(|a| a.uri.to_string()))
                .unwrap_or_else(|| invite.uri.to_string());
            let mut ack = self.base(
                Method::Ack,
                Self::uri(self.peer, "peer"),
                invite.headers.call_id().unwrap(),
                1,
            );
            ack.uri = target.parse().unwrap();
            ack.headers.set(HeaderName::To, &to);
            ack.headers.set(
                HeaderName::Via,
                format!(
                    "SIP/2.0/UDP {};rport;branch=z9hG4bK-ack-{}",
                    self.addr,
                    self.addr.port()
                ),
            );
            self.ack = Some(ack);
            self.remote_to = Some(to);
            self.remote_target = Some(target);
            if matches!(
                self.caller,
                Some(CallerState::Calling | CallerState::Ringing)
            ) {
                self.caller = Some(CallerState::Established);
                self.unschedule(|a| a == Action::Cancel);
                let hold = match self.plan {
                    Some(Plan::HangUpAfter(d)) => d,
                    // A 2xx crossed our CANCEL: ACK it, then BYE at once (RFC 3665 §3.8).
                    _ => Duration::ZERO,
                };
                self.schedule(now + hold, Action::Bye);
            }
        }
        self.log.push("ack".into());
        let ack = self.ack.clone().unwrap();
        layer.send_ack(ack, self.peer, Transport::Udp).unwrap();
    }

    fn send_bye(&mut self, now: Instant, layer: &mut TransactionLayer) {
        let invite = self.invite.as_ref().expect("a call");
        let mut bye = self.base(
            Method::Bye,
            Self::uri(self.peer, "peer"),
            invite.headers.call_id().unwrap(),
            2,
        );
        bye.uri = self.remote_target.as_ref().unwrap().parse().unwrap();
        bye.headers
            .set(HeaderName::To, self.remote_to.as_ref().unwrap());
        self.bye_id = Some(
            layer
                .send_request(now, bye, self.peer, Transport::Udp)
                .unwrap(),
        );
        self.caller = Some(CallerState::HangingUp);
    }

    // ---- callee ----------------------------------------------------------------------

    fn respond(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        code: u16,
    ) -> Option<Response> {
        let (id, invite) = self.incoming.as_ref()?;
        let mut r = Response::from_request(invite, StatusCode::new(code).unwrap());
        r.set_to_tag(&format!("to-{}", self.addr.port())).unwrap();
        if code < 300 {
            r.headers
                .push(HeaderName::Contact, format!("<sip:ua@{}>", self.addr));
        }
        layer.send_response(now, *id, r.clone()).ok()?;
        Some(r)
    }

    fn on_new_request(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        id: TransactionId,
        request: Request,
    ) {
        match request.method {
            Method::Invite if self.incoming.is_none() => {
                self.incoming = Some((id, request));
                match self.behaviour {
                    Behaviour::Answer { ring, answer } => {
                        self.schedule(now + ring, Action::Ring);
                        self.schedule(now + answer, Action::Answer);
                    }
                    Behaviour::Busy { after } => self.schedule(now + after, Action::Reject(486)),
                    Behaviour::NoAnswer { ring } => self.schedule(now + ring, Action::Ring),
                }
            }
            Method::Bye | Method::Options => {
                if request.method == Method::Bye {
                    self.callee = CalleeState::Ended;
                    self.unschedule(|a| matches!(a, Action::RetransmitOk | Action::GiveUpOk));
                }
                let mut ok = Response::from_request(&request, StatusCode::OK);
                ok.set_to_tag(&format!("to-{}", self.addr.port())).unwrap();
                ok.headers
                    .push(HeaderName::Allow, "INVITE, ACK, CANCEL, BYE, OPTIONS");
                layer.send_response(now, id, ok).unwrap();
            }
            _ => {
                let mut r = Response::from_request(&request, StatusCode::new(486).unwrap());
                r.set_to_tag("busy").unwrap();
                layer.send_response(now, id, r).unwrap();
            }
        }
    }
}

impl Tu for Ua {
    fn on_event(&mut self, now: Instant, layer: &mut TransactionLayer, event: Event) {
        match event {
            Event::NewRequest { id, request, .. } => {
                self.log.push(format!("new {}", request.method));
                self.on_new_request(now, layer, id, request);
            }
            Event::Response { id, response } => {
                self.log
                    .push(format!("response {}", response.status.as_u16()));
                if Some(id) == self.invite_id {
                    self.on_invite_response(now, layer, response);
                } else if Some(id) == self.bye_id && response.status.is_final() {
                    self.caller = Some(CallerState::Ended);
                } else if Some(id) == self.options_id && response.status.is_final() {
                    self.options_result = Some(response.status.as_u16());
                }
            }
            Event::Stray2xx { response, .. } => {
                self.log.push("stray 2xx".into());
                if self.invite.is_some() {
                    self.ack_2xx(now, layer, &response);
                }
            }
            Event::Cancel { id, .. } => {
                self.log.push("cancel".into());
                if self.incoming.as_ref().is_some_and(|(i, _)| *i == id) {
                    self.unschedule(|a| {
                        matches!(a, Action::Ring | Action::Answer | Action::Reject(_))
                    });
                    self.respond(now, layer, 487);
                    self.callee = CalleeState::Cancelled;
                }
            }
            Event::Ack { .. } => {
                self.log.push("ack received".into());
                self.acks_seen += 1;
                if self.callee == CalleeState::Answered {
                    self.callee = CalleeState::Confirmed;
                    self.unschedule(|a| matches!(a, Action::RetransmitOk | Action::GiveUpOk));
                }
            }
            Event::Timeout { id, timer } => {
                self.log.push(format!("timeout {timer}"));
                if Some(id) == self.invite_id
                    && matches!(
                        self.caller,
                        Some(CallerState::Calling | CallerState::Ringing)
                    )
                {
                    self.caller = Some(CallerState::Failed(408));
                }
                if Some(id) == self.options_id {
                    self.options_result = Some(408);
                }
            }
            Event::TransportError { id } => {
                if Some(id) == self.invite_id {
                    self.caller = Some(CallerState::Failed(503));
                }
            }
            Event::Terminated { .. } => {}
            other => self.log.push(format!("{other:?}")),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.actions.iter().map(|(at, _)| *at).min()
    }

    fn on_timeout(&mut self, now: Instant, layer: &mut TransactionLayer) {
        let due: Vec<Action> = self
            .actions
            .iter()
            .filter(|(at, _)| *at <= now)
            .map(|(_, a)| *a)
            .collect();
        self.actions.retain(|(at, _)| *at > now);
        for action in due {
            match action {
                Action::Ring => {
                    if self.respond(now, layer, 180).is_some() {
                        self.callee = CalleeState::Ringing;
                    }
                }
                Action::Answer => {
                    if let Some(ok) = self.respond(now, layer, 200) {
                        self.ok = Some(ok);
                        self.callee = CalleeState::Answered;
                        self.ok_interval = self.t1;
                        self.schedule(now + self.t1, Action::RetransmitOk);
                        self.schedule(now + self.t1 * 64, Action::GiveUpOk);
                    }
                }
                Action::Reject(code) => {
                    if self.respond(now, layer, code).is_some() {
                        self.callee = CalleeState::Rejected(code);
                    }
                }
                Action::RetransmitOk => {
                    // §13.3.1.4: T1, doubling up to T2, until the ACK.
                    let (id, _) = self.incoming.as_ref().unwrap();
                    if layer
                        .send_response(now, *id, self.ok.clone().unwrap())
                        .is_ok()
                    {
                        self.ok_interval = (self.ok_interval * 2).min(self.t2);
                        self.schedule(now + self.ok_interval, Action::RetransmitOk);
                    }
                }
                Action::GiveUpOk => {
                    self.callee = CalleeState::AckTimeout;
                    self.unschedule(|a| a == Action::RetransmitOk);
                }
                Action::Bye => self.send_bye(now, layer),
                Action::Cancel => {
                    if let Some(id) = self.invite_id {
                        let _ = layer.cancel(now, id);
                    }
                }
            }
        }
    }
}
