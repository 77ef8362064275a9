//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as updated by RFC 6026 §7.2),
//! and the ACK (§17.1.1.3) and CANCEL (§9.1) it builds.
//!
//! ```text
//!  Calling --1xx--> Proceeding --300-699 / send ACK--> Completed --Timer D--> Terminated
//!     |  \              |                                 ^
//!     |   \--300-699 / send ACK---------------------------+
//!     +--2xx--> Accepted <--2xx-- Proceeding      Accepted --Timer M--> Terminated
//!     +-- Timer B (64*T1) or transport error --> Terminated (TU informed)
//! ```
//!
//! - Timer A retransmits the INVITE on unreliable transports: T1, 2*T1, 4*T1… with no cap, so
//!   an unanswered INVITE is sent 7 times (at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s) before
//!   Timer B fires at 64*T1.
//! - Every provisional response, the final response and (in Accepted, RFC 6026) every 2xx is
//!   passed up. Retransmitted non-2xx finals are answered with the same ACK and absorbed.
//! - Proceeding has no timer in RFC 3261 §17.1.1; Tandem arms Timer C (§16.6, default
//!   3 min, restarted by every provisional) so that a server that never sends a final
//!   response cannot hold the transaction forever: the TU gets a timeout.
//! - Timer D is zero on reliable transports and at least 32 s otherwise.

use std::time::Instant;

use crate::error::HeaderError;
use crate::message::{CSeq, HeaderName, Method, Request, Response};

use super::route::Route;
use super::timer::{Backoff, Timer, Timers};
use super::{Event, Outbox, State, TransactionError, TransactionId};

/// Builds the CANCEL for `invite` (RFC 3261 §9.1): the same Request-URI, Call-ID, To, From and
/// CSeq number, the top Via only (same branch), the Route headers, CSeq method CANCEL, no
/// body.
///
/// # Errors
/// [`HeaderError`] when `invite` has no readable CSeq.
pub fn cancel_for(invite: &Request) -> Result<Request, HeaderError> {
    let cseq = invite.headers.cseq()?;
    let mut cancel = Request::new(Method::Cancel, invite.uri.clone());
    copy_common(invite, &mut cancel);
    cancel.headers.copy_from(&invite.headers, HeaderName::To);
    cancel
        .headers
        .push(HeaderName::CSeq, CSeq::new(cseq.seq, Method::Cancel));
    Ok(cancel)
}

/// The ACK for a non-2xx final `response` to `invite` (§17.1.1.3): as the CANCEL, but the To
/// of the response (with its tag).
fn ack_for(invite: &Request, seq: u32, response: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    copy_common(invite, &mut ack);
    ack.headers.copy_from(&response.headers, HeaderName::To);
    ack.headers
        .push(HeaderName::CSeq, CSeq::new(seq, Method::Ack));
    ack
}

/// Top Via, Route, Max-Forwards, From and Call-ID of the original request.
fn copy_common(invite: &Request, to: &mut Request) {
    let h = &mut to.headers;
    if let Some(via) = invite.headers.first(HeaderName::Via) {
        h.push(HeaderName::Via, via);
    }
    h.copy_from(&invite.headers, HeaderName::Route);
    match invite.headers.first(HeaderName::MaxForwards) {
        Some(mf) => h.push(HeaderName::MaxForwards, mf),
        None => h.push(HeaderName::MaxForwards, 70),
    }
    h.copy_from(&invite.headers, HeaderName::From);
    h.copy_from(&invite.headers, HeaderName::CallId);
}

#[derive(Debug)]
enum Phase {
    Calling {
        timer_a: Option<Backoff>,
        timer_b: Instant,
    },
    Proceeding {
        timer_c: Instant,
    },
    Completed {
        ack: Vec<u8>,
        timer_d: Instant,
    },
    Accepted {
        timer_m: Instant,
    },
    Terminated,
}

/// Whether the TU asked to cancel (§9.1: not before a provisional response arrived).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CancelRequest {
    None,
    /// Asked in Calling: send when the first provisional response arrives.
    Pending,
    /// Due now: the layer takes it with [`ClientInviteTransaction::take_cancel`].
    Due,
    Sent,
}

/// An INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientInviteTransaction {
    id: TransactionId,
    route: Route,
    invite: Request,
    seq: u32,
    bytes: Vec<u8>,
    timers: Timers,
    cancel: CancelRequest,
    phase: Phase,
}

impl ClientInviteTransaction {
    /// Starts the transaction: sends the INVITE (`bytes` is its wire form), arms Timer A
    /// (unreliable only) and Timer B (§17.1.1.2). `invite` must have passed `validate()`.
    pub(crate) fn start(
        now: Instant,
        id: TransactionId,
        invite: Request,
        bytes: Vec<u8>,
        route: Route,
        timers: Timers,
        out: &mut Outbox,
    ) -> Self {
        out.transmit(route.transmit(bytes.clone()));
        let timer_a = timers
            .duration(Timer::A, route.is_reliable())
            .map(|a| Backoff::start(now, a, None));
        let seq = invite.headers.cseq().map_or(0, |c| c.seq);
        Self {
            id,
            route,
            invite,
            seq,
            bytes,
            timers,
            cancel: CancelRequest::None,
            phase: Phase::Calling {
                timer_a,
                timer_b: now + timers.t1.saturating_mul(64),
            },
        }
    }

    pub(crate) fn state(&self) -> State {
        match self.phase {
            Phase::Calling { .. } => State::Calling,
            Phase::Proceeding { .. } => State::Proceeding,
            Phase::Completed { .. } => State::Completed,
            Phase::Accepted { .. } => State::Accepted,
            Phase::Terminated => State::Terminated,
        }
    }

    pub(crate) fn route(&self) -> &Route {
        &self.route
    }

    /// The INVITE as sent.
    pub(crate) fn invite(&self) -> &Request {
        &self.invite
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Calling { timer_a, timer_b } => {
                Some(timer_a.map_or(*timer_b, |a| a.at.min(*timer_b)))
            }
            Phase::Proceeding { timer_c } => Some(*timer_c),
            Phase::Completed { timer_d, .. } => Some(*timer_d),
            Phase::Accepted { timer_m } => Some(*timer_m),
            Phase::Terminated => None,
        }
    }

    /// The TU wants to cancel (§9.1). In Calling the CANCEL waits for a provisional response;
    /// in Proceeding it is due at once ([`Self::take_cancel`]). Asking twice is harmless.
    pub(crate) fn request_cancel(&mut self) -> Result<(), TransactionError> {
        match self.phase {
            Phase::Calling { .. } if self.cancel == CancelRequest::None => {
                self.cancel = CancelRequest::Pending;
            }
            Phase::Proceeding { .. } if self.cancel == CancelRequest::None => {
                self.cancel = CancelRequest::Due;
            }
            Phase::Calling { .. } | Phase::Proceeding { .. } => {}
            Phase::Completed { .. } | Phase::Accepted { .. } | Phase::Terminated => {
                return Err(TransactionError::NotCancellable(self.id));
            }
        }
        Ok(())
    }

    /// True once when a CANCEL should be sent now.
    pub(crate) fn take_cancel(&mut self) -> bool {
        if self.cancel == CancelRequest::Due {
            self.cancel = CancelRequest::Sent;
            return true;
        }
        false
    }

    /// A response matched (§17.1.3). Returns false when it was absorbed (a retransmission,
    /// or a response the state ignores).
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Outbox,
    ) -> bool {
        let status = response.status;
        match &mut self.phase {
            Phase::Calling { .. } | Phase::Proceeding { .. } => {
                if status.is_provisional() {
                    self.phase = Phase::Proceeding {
                        timer_c: now + self.timers.timer_c,
                    };
                    if self.cancel == CancelRequest::Pending {
                        self.cancel = CancelRequest::Due;
                    }
                } else if status.is_success() {
                    // RFC 6026 §7.2: Accepted, Timer M; the TU ACKs.
                    self.phase = Phase::Accepted {
                        timer_m: now + self.timers.t1.saturating_mul(64),
                    };
                } else {
                    // §17.1.1.2: ACK, Completed, Timer D.
                    let mut ack = Vec::new();
                    ack_for(&self.invite, self.seq, &response).write_to(&mut ack);
                    out.transmit(self.route.transmit(ack.clone()));
                    let d = self
                        .timers
                        .duration(Timer::D, self.route.is_reliable())
                        .unwrap_or_default();
                    self.phase = if d.is_zero() {
                        Phase::Terminated
                    } else {
                        Phase::Completed {
                            ack,
                            timer_d: now + d,
                        }
                    };
                }
            }
            Phase::Completed { ack, .. } => {
                if status.is_success() {
                    // A 2xx after a non-2xx final (a forking proxy): it makes a dialog the
                    // TU must ACK and end; pass it up.
                } else {
                    if status.is_final() {
                        out.transmit(self.route.transmit(ack.clone()));
                        out.retransmissions += 1;
                    }
                    return false;
                }
            }
            Phase::Accepted { .. } => {
                // RFC 6026 §7.2: 2xx passed up, anything else discarded.
                if !status.is_success() {
                    return false;
                }
            }
            Phase::Terminated => return false,
        }
        out.event(Event::Response {
            id: self.id,
            response,
        });
        true
    }

    /// Fires the timers due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Outbox) {
        let expired = match &mut self.phase {
            Phase::Calling { timer_a, timer_b } => {
                if *timer_b <= now {
                    Some(Timer::B)
                } else {
                    if let Some(a) = timer_a.as_mut().filter(|a| a.at <= now) {
                        a.fire(now);
                        out.transmit(self.route.transmit(self.bytes.clone()));
                        out.retransmissions += 1;
                    }
                    None
                }
            }
            Phase::Proceeding { timer_c } => (*timer_c <= now).then_some(Timer::C),
            Phase::Completed { timer_d, .. } => {
                if *timer_d <= now {
                    self.phase = Phase::Terminated;
                }
                None
            }
            Phase::Accepted { timer_m } => {
                if *timer_m <= now {
                    self.phase = Phase::Terminated;
                }
                None
            }
            Phase::Terminated => None,
        };
        if let Some(timer) = expired {
            out.event(Event::Timeout { id: self.id, timer });
            self.phase = Phase::Terminated;
        }
    }

    /// The transport failed (§17.1.1.2): the TU is informed in Calling and Proceeding; the
    /// transaction terminates in every state but Accepted, where the TU's own ACKs are
    /// involved, not the transaction.
    pub(crate) fn on_transport_error(&mut self, out: &mut Outbox) {
        match self.phase {
            Phase::Calling { .. } | Phase::Proceeding { .. } => {
                out.event(Event::TransportError { id: self.id });
                self.phase = Phase::Terminated;
            }
            Phase::Completed { .. } => self.phase = Phase::Terminated,
            Phase::Accepted { .. } | Phase::Terminated => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Host, SipUri, StatusCode, Transport};
    use crate::transaction::test_epoch;
    use std::time::Duration;

    fn invite() -> Request {
        Request::new(
            Method::Invite,
            SipUri::new(Host::Domain("b.example".into())).with_user("bob"),
        )
        .with_header(HeaderName::Via, "SIP/2.0/UDP a.example;branch=z9hG4bKx")
        .with_header(HeaderName::Route, "<sip:p1.example;lr>")
        .with_header(HeaderName::MaxForwards, 70)
        .with_header(HeaderName::From, "<sip:alice@a.example>;tag=f1")
        .with_header(HeaderName::To, "<sip:bob@b.example>")
        .with_header(HeaderName::CallId, "call-1")
        .with_header(HeaderName::CSeq, "7 INVITE")
        .with_header(HeaderName::Contact, "<sip:alice@192.0.2.1>")
    }

    fn response(code: u16) -> Response {
        let mut r = Response::from_request(&invite(), StatusCode::new(code).unwrap());
        if code > 100 {
            r.set_to_tag("t9").unwrap();
        }
        r
    }

    fn start(t0: Instant, transport: Transport, out: &mut Outbox) -> ClientInviteTransaction {
        let route = Route {
            destination: "192.0.2.2:5060".parse().unwrap(),
            transport,
            connection: None,
            local: None,
        };
        let tx = ClientInviteTransaction::start(
            t0,
            TransactionId(1),
            invite(),
            b"INVITE".to_vec(),
            route,
            Timers::default(),
            out,
        );
        assert_eq!(out.transmits.len(), 1);
        out.transmits.clear();
        tx
    }

    fn run(
        tx: &mut ClientInviteTransaction,
        t0: Instant,
        until: Duration,
        out: &mut Outbox,
    ) -> Vec<u128> {
        let mut sent = Vec::new();
        while let Some(at) = tx.poll_timeout().filter(|&at| at <= t0 + until) {
            tx.on_timeout(at, out);
            while out.transmits.pop_front().is_some() {
                sent.push((at - t0).as_millis());
            }
        }
        sent
    }

    #[test]
    fn timer_a_doubles_without_cap_and_timer_b_times_out_at_64_t1() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Udp, &mut out);
        assert_eq!(tx.state(), State::Calling);
        let sent = run(&mut tx, t0, Duration::from_secs(60), &mut out);
        // 6 retransmissions: 7 transmissions in all before Timer B at 32 s.
        assert_eq!(sent, [500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(
            out.events.pop_front(),
            Some(Event::Timeout {
                id: TransactionId(1),
                timer: Timer::B
            })
        );
    }

    #[test]
    fn provisional_stops_retransmission_and_arms_timer_c() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Udp, &mut out);
        let t = t0 + Duration::from_millis(700);
        assert_eq!(
            run(&mut tx, t0, Duration::from_millis(700), &mut out),
            [500]
        );
        assert!(tx.on_response(t, response(180), &mut out));
        assert_eq!(tx.state(), State::Proceeding);
        assert_eq!(tx.poll_timeout(), Some(t + Duration::from_secs(180)));
        // Each provisional restarts Timer C.
        let t2 = t + Duration::from_secs(100);
        assert!(tx.on_response(t2, response(183), &mut out));
        assert_eq!(tx.poll_timeout(), Some(t2 + Duration::from_secs(180)));
        assert!(run(&mut tx, t0, Duration::from_secs(600), &mut out).is_empty());
        assert_eq!(tx.state(), State::Terminated);
        let events: Vec<_> = out.events.drain(..).collect();
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[2],
            Event::Timeout {
                id: TransactionId(1),
                timer: Timer::C
            }
        );
    }

    #[test]
    fn non_2xx_final_is_acked_per_17_1_1_3_and_timer_d_terminates() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Udp, &mut out);
        assert!(tx.on_response(t0, response(180), &mut out));
        let t = t0 + Duration::from_secs(1);
        assert!(tx.on_response(t, response(486), &mut out));
        assert_eq!(tx.state(), State::Completed);
        let ack = out.transmits.pop_front().unwrap();
        let ack = Request::parse(&ack.bytes).unwrap();
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri, invite().uri);
        assert_eq!(ack.headers.count("Via"), 1);
        assert_eq!(ack.headers.top_via().unwrap().branch(), Some("z9hG4bKx"));
        assert_eq!(ack.headers.get("Route"), Some("<sip:p1.example;lr>"));
        assert_eq!(ack.headers.to().unwrap().tag(), Some("t9"));
        assert_eq!(ack.headers.from().unwrap().tag(), Some("f1"));
        assert_eq!(ack.headers.cseq().unwrap(), CSeq::new(7, Method::Ack));
        assert!(!ack.headers.contains("Contact"));
        ack.validate().unwrap();
        // A retransmitted 486 gets the same ACK, and is not passed up.
        assert!(!tx.on_response(t, response(486), &mut out));
        assert_eq!(out.transmits.len(), 1);
        assert_eq!(out.events.len(), 2);
        assert_eq!(tx.poll_timeout(), Some(t + Duration::from_secs(32)));
        run(&mut tx, t0, Duration::from_secs(40), &mut out);
        assert_eq!(tx.state(), State::Terminated);
    }

    #[test]
    fn reliable_transport_no_timer_a_and_timer_d_zero() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Tcp, &mut out);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        assert!(tx.on_response(t0, response(603), &mut out));
        assert_eq!(out.transmits.len(), 1, "the ACK");
        assert_eq!(tx.state(), State::Terminated);
    }

    #[test]
    fn rfc6026_accepted_passes_2xx_up_until_timer_m() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Udp, &mut out);
        assert!(tx.on_response(t0, response(200), &mut out));
        assert_eq!(tx.state(), State::Accepted);
        assert!(out.transmits.is_empty(), "the TU ACKs a 2xx");
        assert!(tx.on_response(t0, response(200), &mut out));
        assert!(!tx.on_response(t0, response(180), &mut out));
        assert!(!tx.on_response(t0, response(500), &mut out));
        assert_eq!(out.events.len(), 2);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        // Timer M is 64*T1 on reliable transports too.
        tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(tx.state(), State::Terminated);
        // A transport error in Accepted does not touch the TU's 2xx handling.
        let mut tx = start(t0, Transport::Udp, &mut out);
        tx.on_response(t0, response(200), &mut out);
        tx.on_transport_error(&mut out);
        assert_eq!(tx.state(), State::Accepted);
    }

    #[test]
    fn cancel_waits_for_a_provisional_response() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Udp, &mut out);
        tx.request_cancel().unwrap();
        assert!(!tx.take_cancel());
        tx.on_response(t0, response(100), &mut out);
        assert!(tx.take_cancel());
        assert!(!tx.take_cancel());
        tx.request_cancel().unwrap();
        assert!(!tx.take_cancel(), "sent once");
        tx.on_response(t0, response(487), &mut out);
        assert_eq!(
            tx.request_cancel(),
            Err(TransactionError::NotCancellable(TransactionId(1)))
        );
        // Final before provisional: the pending CANCEL is never due.
        out.transmits.clear();
        let mut tx = start(t0, Transport::Udp, &mut out);
        tx.request_cancel().unwrap();
        tx.on_response(t0, response(200), &mut out);
        assert!(!tx.take_cancel());
    }

    #[test]
    fn cancel_request_per_9_1() {
        let c = cancel_for(&invite()).unwrap();
        assert_eq!(c.method, Method::Cancel);
        assert_eq!(c.uri, invite().uri);
        assert_eq!(c.headers.get("To"), Some("<sip:bob@b.example>"));
        assert_eq!(c.headers.cseq().unwrap(), CSeq::new(7, Method::Cancel));
        assert_eq!(c.headers.top_via().unwrap().branch(), Some("z9hG4bKx"));
        assert_eq!(c.headers.get("Route"), Some("<sip:p1.example;lr>"));
        assert!(c.body.is_empty());
        c.validate().unwrap();
    }

    #[test]
    fn transport_error_in_calling_informs_the_tu() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Udp, &mut out);
        tx.on_transport_error(&mut out);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(
            out.events.pop_front(),
            Some(Event::TransportError {
                id: TransactionId(1)
            })
        );
    }
}
