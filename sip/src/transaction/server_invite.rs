//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as updated by RFC 6026 §7.1).
//!
//! ```text
//!              +--TU 1xx (sent; retransmitted INVITE -> last 1xx again)
//!  Proceeding -+--TU 2xx--> Accepted --Timer L--> Terminated
//!              +--TU 300-699--> Completed --ACK--> Confirmed --Timer I--> Terminated
//!                                  +--Timer H (no ACK) --> Terminated (TU informed)
//! ```
//!
//! - 100 Trying: sent by the transaction when the TU has sent no provisional response within
//!   200 ms ([`Timer::Trying`], §17.2.1), or at once, or never ([`TryingPolicy`]). A
//!   retransmitted INVITE before any provisional response gets the 100 at once.
//! - Completed: Timer G retransmits the final response on unreliable transports (T1,
//!   doubling up to T2) until the ACK or Timer H (64*T1, TU informed). Confirmed absorbs ACK
//!   retransmissions for Timer I (T4 unreliable, 0 reliable).
//! - Accepted (RFC 6026): retransmitted INVITEs are absorbed (the TU retransmits its 2xx
//!   itself, §13.3.1.4, by sending it again here); ACKs are passed up; Timer L (64*T1) ends it.
//! - Not in the RFC: the answer guard ([`Timer::Answer`], Timer C's duration) ends a
//!   transaction whose TU never sends a final response, with a timeout event.

use std::time::Instant;

use crate::message::{Request, Response, StatusCode};

use super::route::Route;
use super::timer::{Backoff, Timer, Timers};
use super::{Event, Outbox, State, TransactionError, TransactionId, TryingPolicy};

#[derive(Debug)]
enum Phase {
    Proceeding {
        provisional: Option<Vec<u8>>,
        trying_at: Option<Instant>,
        guard: Instant,
    },
    Completed {
        response: Vec<u8>,
        timer_g: Option<Backoff>,
        timer_h: Instant,
    },
    Confirmed {
        timer_i: Instant,
    },
    Accepted {
        timer_l: Instant,
    },
    Terminated,
}

/// An INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerInviteTransaction {
    id: TransactionId,
    route: Route,
    timers: Timers,
    /// The 100 Trying the transaction may send itself (built when the INVITE arrived).
    trying: Option<Response>,
    /// The To tag of the TU's responses, for the 200 to a CANCEL (§9.2).
    to_tag: Option<String>,
    phase: Phase,
}

impl ServerInviteTransaction {
    /// An INVITE arrived that matches no transaction: Proceeding (§17.2.1).
    pub(crate) fn new(
        now: Instant,
        id: TransactionId,
        invite: &Request,
        route: Route,
        timers: Timers,
        policy: TryingPolicy,
        out: &mut Outbox,
    ) -> Self {
        let trying = (policy != TryingPolicy::Never)
            .then(|| Response::from_request(invite, StatusCode::TRYING));
        let mut tx = Self {
            id,
            route,
            timers,
            trying,
            to_tag: None,
            phase: Phase::Proceeding {
                provisional: None,
                trying_at: None,
                guard: now + timers.timer_c,
            },
        };
        match policy {
            TryingPolicy::Immediately => tx.send_trying(out),
            TryingPolicy::After(delay) => {
                if let Phase::Proceeding { trying_at, .. } = &mut tx.phase {
                    *trying_at = Some(now + delay);
                }
            }
            TryingPolicy::Never => {}
        }
        tx
    }

    /// Sends the 100 Trying (once), as the last provisional response.
    fn send_trying(&mut self, out: &mut Outbox) {
        let Some(trying) = self.trying.take() else {
            return;
        };
        if let Phase::Proceeding {
            provisional,
            trying_at,
            ..
        } = &mut self.phase
        {
            let mut bytes = Vec::new();
            trying.write_to(&mut bytes);
            out.transmit(self.route.transmit(bytes.clone()));
            *provisional = Some(bytes);
            *trying_at = None;
        }
    }

    pub(crate) fn state(&self) -> State {
        match self.phase {
            Phase::Proceeding { .. } => State::Proceeding,
            Phase::Completed { .. } => State::Completed,
            Phase::Confirmed { .. } => State::Confirmed,
            Phase::Accepted { .. } => State::Accepted,
            Phase::Terminated => State::Terminated,
        }
    }

    pub(crate) fn route(&self) -> &Route {
        &self.route
    }

    /// The To tag the TU put in its responses so far.
    pub(crate) fn to_tag(&self) -> Option<&str> {
        self.to_tag.as_deref()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Proceeding {
                trying_at, guard, ..
            } => Some(trying_at.map_or(*guard, |t| t.min(*guard))),
            Phase::Completed {
                timer_g, timer_h, ..
            } => Some(timer_g.map_or(*timer_h, |g| g.at.min(*timer_h))),
            Phase::Confirmed { timer_i } => Some(*timer_i),
            Phase::Accepted { timer_l } => Some(*timer_l),
            Phase::Terminated => None,
        }
    }

    /// The INVITE was retransmitted (§17.2.1): the last provisional response again (the 100
    /// now if none was sent yet), the final response again in Completed, nothing otherwise.
    pub(crate) fn on_retransmission(&mut self, out: &mut Outbox) {
        match &self.phase {
            Phase::Proceeding {
                provisional: Some(p),
                ..
            } => {
                out.transmit(self.route.transmit(p.clone()));
                out.retransmissions += 1;
            }
            Phase::Proceeding {
                provisional: None, ..
            } => self.send_trying(out),
            Phase::Completed { response, .. } => {
                out.transmit(self.route.transmit(response.clone()));
                out.retransmissions += 1;
            }
            Phase::Confirmed { .. } | Phase::Accepted { .. } | Phase::Terminated => {}
        }
    }

    /// An ACK matched. Returns true when it is for the TU (RFC 6026: an ACK in Accepted).
    pub(crate) fn on_ack(&mut self, now: Instant) -> bool {
        match self.phase {
            Phase::Completed { .. } => {
                let i = self
                    .timers
                    .duration(Timer::I, self.route.is_reliable())
                    .unwrap_or_default();
                self.phase = if i.is_zero() {
                    Phase::Terminated
                } else {
                    Phase::Confirmed { timer_i: now + i }
                };
                false
            }
            Phase::Accepted { .. } => true,
            // An ACK before any final response is meaningless; one in Confirmed is a
            // retransmission.
            Phase::Proceeding { .. } | Phase::Confirmed { .. } | Phase::Terminated => false,
        }
    }

    /// True while the INVITE awaits its final response (a CANCEL still means something).
    pub(crate) fn is_cancellable(&self) -> bool {
        matches!(self.phase, Phase::Proceeding { .. })
    }

    /// The TU answers.
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        response: &Response,
        out: &mut Outbox,
    ) -> Result<(), TransactionError> {
        let status = response.status;
        let allowed = match self.phase {
            Phase::Proceeding { .. } => true,
            Phase::Accepted { .. } => status.is_success(),
            _ => false,
        };
        if !allowed {
            return Err(TransactionError::InvalidState {
                id: self.id,
                state: self.state(),
                status,
            });
        }
        if self.to_tag.is_none() && status.as_u16() > 100 {
            self.to_tag = response
                .headers
                .to()
                .ok()
                .and_then(|to| to.tag().map(str::to_owned));
        }
        let mut bytes = Vec::new();
        response.write_to(&mut bytes);
        out.transmit(self.route.transmit(bytes.clone()));
        if status.is_provisional() {
            if let Phase::Proceeding {
                provisional,
                trying_at,
                ..
            } = &mut self.phase
            {
                *provisional = Some(bytes);
                *trying_at = None;
            }
        } else if status.is_success() {
            if let Phase::Proceeding { .. } = self.phase {
                // RFC 6026 §7.1: Accepted, Timer L.
                self.phase = Phase::Accepted {
                    timer_l: now + self.timers.t1.saturating_mul(64),
                };
            }
        } else {
            // §17.2.1: Completed, Timers G and H.
            let reliable = self.route.is_reliable();
            self.phase = Phase::Completed {
                response: bytes,
                timer_g: self
                    .timers
                    .duration(Timer::G, reliable)
                    .map(|g| Backoff::start(now, g, Some(self.timers.t2))),
                timer_h: now + self.timers.t1.saturating_mul(64),
            };
        }
        self.trying = None;
        Ok(())
    }

    /// Fires the timers due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Outbox) {
        match &mut self.phase {
            Phase::Proceeding {
                trying_at, guard, ..
            } => {
                if *guard <= now {
                    self.timeout(Timer::Answer, out);
                } else if trying_at.is_some_and(|t| t <= now) {
                    self.send_trying(out);
                }
            }
            Phase::Completed {
                response,
                timer_g,
                timer_h,
            } => {
                if *timer_h <= now {
                    self.timeout(Timer::H, out);
                } else if let Some(g) = timer_g.as_mut().filter(|g| g.at <= now) {
                    g.fire(now);
                    out.transmit(self.route.transmit(response.clone()));
                    out.retransmissions += 1;
                }
            }
            Phase::Confirmed { timer_i: at } | Phase::Accepted { timer_l: at } => {
                if *at <= now {
                    self.phase = Phase::Terminated;
                }
            }
            Phase::Terminated => {}
        }
    }

    fn timeout(&mut self, timer: Timer, out: &mut Outbox) {
        out.event(Event::Timeout { id: self.id, timer });
        self.phase = Phase::Terminated;
    }

    /// The transport failed sending a response (§17.2.4): inform the TU, Terminated.
    pub(crate) fn on_transport_error(&mut self, out: &mut Outbox) {
        if self.state() != State::Terminated {
            out.event(Event::TransportError { id: self.id });
        }
        self.phase = Phase::Terminated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{HeaderName, Host, Method, SipUri, Transport};
    use crate::transaction::test_epoch;
    use std::time::Duration;

    fn invite() -> Request {
        Request::new(
            Method::Invite,
            SipUri::new(Host::Domain("b.example".into())),
        )
        .with_header(HeaderName::Via, "SIP/2.0/UDP a.example;branch=z9hG4bKx")
        .with_header(HeaderName::From, "<sip:alice@a.example>;tag=f1")
        .with_header(HeaderName::To, "<sip:bob@b.example>")
        .with_header(HeaderName::CallId, "call-1")
        .with_header(HeaderName::CSeq, "1 INVITE")
    }

    fn response(code: u16) -> Response {
        let mut r = Response::from_request(&invite(), StatusCode::new(code).unwrap());
        r.set_to_tag("b1").unwrap();
        r
    }

    fn tx(t0: Instant, transport: Transport, policy: TryingPolicy) -> ServerInviteTransaction {
        let route = Route {
            destination: "192.0.2.1:5060".parse().unwrap(),
            transport,
            connection: None,
            local: None,
        };
        let mut out = Outbox::default();
        let tx = ServerInviteTransaction::new(
            t0,
            TransactionId(3),
            &invite(),
            route,
            Timers::default(),
            policy,
            &mut out,
        );
        assert_eq!(
            out.transmits.len(),
            usize::from(policy == TryingPolicy::Immediately)
        );
        tx
    }

    const AFTER_200MS: TryingPolicy = TryingPolicy::After(Duration::from_millis(200));

    fn statuses(out: &mut Outbox) -> Vec<String> {
        out.transmits
            .drain(..)
            .map(|t| String::from_utf8_lossy(&t.bytes[8..11]).into_owned())
            .collect()
    }

    #[test]
    fn sends_100_trying_when_the_tu_is_silent_for_200ms() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Udp, AFTER_200MS);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_millis(200)));
        tx.on_timeout(t0 + Duration::from_millis(200), &mut out);
        assert_eq!(statuses(&mut out), ["100"]);
        // The retransmitted INVITE gets the 100 again.
        tx.on_retransmission(&mut out);
        assert_eq!(statuses(&mut out), ["100"]);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(180)));
    }

    #[test]
    fn no_100_when_the_tu_answers_in_time() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Udp, AFTER_200MS);
        tx.send_response(t0 + Duration::from_millis(50), &response(180), &mut out)
            .unwrap();
        tx.on_timeout(t0 + Duration::from_millis(200), &mut out);
        tx.on_retransmission(&mut out);
        assert_eq!(statuses(&mut out), ["180", "180"]);
        assert_eq!(tx.to_tag(), Some("b1"));
        // Never: a retransmission before any answer gets nothing.
        let mut tx = super::tests::tx(t0, Transport::Udp, TryingPolicy::Never);
        tx.on_retransmission(&mut out);
        assert!(out.transmits.is_empty());
        // After: a retransmission before the delay brings the 100 forward.
        let mut tx = super::tests::tx(t0, Transport::Udp, AFTER_200MS);
        tx.on_retransmission(&mut out);
        assert_eq!(statuses(&mut out), ["100"]);
    }

    #[test]
    fn non_2xx_final_timer_g_until_ack_then_timer_i() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Udp, TryingPolicy::Immediately);
        tx.send_response(t0, &response(486), &mut out).unwrap();
        out.transmits.clear();
        assert_eq!(tx.state(), State::Completed);
        let mut sent = Vec::new();
        while let Some(at) = tx
            .poll_timeout()
            .filter(|&at| at <= t0 + Duration::from_secs(10))
        {
            tx.on_timeout(at, &mut out);
            sent.extend(out.transmits.drain(..).map(|_| (at - t0).as_millis()));
        }
        // Timer G: T1 doubling, capped at T2.
        assert_eq!(sent, [500, 1500, 3500, 7500]);
        tx.on_retransmission(&mut out);
        assert_eq!(statuses(&mut out), ["486"]);
        let t = t0 + Duration::from_secs(10);
        assert!(!tx.on_ack(t));
        assert_eq!(tx.state(), State::Confirmed);
        assert!(!tx.on_ack(t), "ACK retransmission absorbed");
        tx.on_retransmission(&mut out);
        assert!(out.transmits.is_empty(), "Confirmed absorbs INVITEs");
        assert_eq!(tx.poll_timeout(), Some(t + Duration::from_secs(5)));
        tx.on_timeout(t + Duration::from_secs(5), &mut out);
        assert_eq!(tx.state(), State::Terminated);
        assert!(out.events.is_empty());
    }

    #[test]
    fn timer_h_reports_a_missing_ack() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Udp, TryingPolicy::Never);
        tx.send_response(t0, &response(404), &mut out).unwrap();
        let mut count = 0;
        while let Some(at) = tx.poll_timeout() {
            tx.on_timeout(at, &mut out);
            count += out.transmits.drain(..).count();
            assert!(at <= t0 + Duration::from_secs(32));
        }
        // 1 + retransmissions at 0.5, 1.5, 3.5, 7.5, 11.5 … 31.5.
        assert_eq!(count, 1 + 10);
        assert_eq!(
            out.events.pop_front(),
            Some(Event::Timeout {
                id: TransactionId(3),
                timer: Timer::H
            })
        );
    }

    #[test]
    fn reliable_transport_no_timer_g_and_timer_i_zero() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Tcp, TryingPolicy::Never);
        tx.send_response(t0, &response(500), &mut out).unwrap();
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.on_ack(t0);
        assert_eq!(tx.state(), State::Terminated);
    }

    #[test]
    fn rfc6026_accepted_absorbs_invites_passes_acks_and_allows_2xx_again() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Udp, AFTER_200MS);
        tx.send_response(t0, &response(200), &mut out).unwrap();
        assert_eq!(tx.state(), State::Accepted);
        assert!(!tx.is_cancellable());
        tx.on_retransmission(&mut out);
        assert_eq!(statuses(&mut out), ["200"]);
        tx.send_response(t0 + Duration::from_millis(500), &response(200), &mut out)
            .unwrap();
        assert_eq!(statuses(&mut out), ["200"]);
        assert!(matches!(
            tx.send_response(t0, &response(180), &mut out),
            Err(TransactionError::InvalidState {
                state: State::Accepted,
                ..
            })
        ));
        assert!(tx.send_response(t0, &response(486), &mut out).is_err());
        assert!(tx.on_ack(t0));
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(tx.state(), State::Terminated);
    }

    #[test]
    fn answer_guard_and_transport_error() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Udp, TryingPolicy::Never);
        assert!(tx.is_cancellable());
        assert!(!tx.on_ack(t0), "ACK before a final response is ignored");
        tx.on_timeout(t0 + Duration::from_secs(180), &mut out);
        assert_eq!(
            out.events.pop_front(),
            Some(Event::Timeout {
                id: TransactionId(3),
                timer: Timer::Answer
            })
        );
        let mut tx = super::tests::tx(t0, Transport::Udp, TryingPolicy::Never);
        tx.on_transport_error(&mut out);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(
            out.events.pop_front(),
            Some(Event::TransportError {
                id: TransactionId(3)
            })
        );
    }
}
