//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! ```text
//!  Trying --TU 1xx--> Proceeding --TU final--> Completed --Timer J--> Terminated
//!    \__________________TU final______________^     (J = 64*T1 unreliable, 0 reliable)
//! ```
//!
//! Retransmitted requests are absorbed in Trying, answered with the last provisional response
//! in Proceeding and with the final response in Completed. Not in the RFC: the answer guard
//! ([`Timer::Answer`], 64*T1) ends a transaction whose TU never answers, with a timeout
//! event, since the client gave up by Timer F anyway.

use std::time::Instant;

use crate::message::Response;

use super::route::Route;
use super::timer::{Timer, Timers};
use super::{Event, Outbox, State, TransactionError, TransactionId};

#[derive(Debug)]
enum Phase {
    Trying {
        guard: Instant,
    },
    Proceeding {
        provisional: Vec<u8>,
        guard: Instant,
    },
    Completed {
        response: Vec<u8>,
        timer_j: Instant,
    },
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerTransaction {
    id: TransactionId,
    route: Route,
    timers: Timers,
    /// Layer-internal (a CANCEL the layer answers itself): no events.
    silent: bool,
    phase: Phase,
}

impl ServerTransaction {
    /// A request arrived that matches no transaction: Trying (§17.2.2).
    pub(crate) fn new(
        now: Instant,
        id: TransactionId,
        route: Route,
        timers: Timers,
        silent: bool,
    ) -> Self {
        let guard = now
            + timers
                .duration(Timer::Answer, false)
                .unwrap_or(timers.t1.saturating_mul(64));
        Self {
            id,
            route,
            timers,
            silent,
            phase: Phase::Trying { guard },
        }
    }

    pub(crate) fn state(&self) -> State {
        match self.phase {
            Phase::Trying { .. } => State::Trying,
            Phase::Proceeding { .. } => State::Proceeding,
            Phase::Completed { .. } => State::Completed,
            Phase::Terminated => State::Terminated,
        }
    }

    pub(crate) fn route(&self) -> &Route {
        &self.route
    }

    pub(crate) fn is_silent(&self) -> bool {
        self.silent
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Trying { guard } | Phase::Proceeding { guard, .. } => Some(*guard),
            Phase::Completed { timer_j, .. } => Some(*timer_j),
            Phase::Terminated => None,
        }
    }

    /// The request was retransmitted: answer with the last response, if any (§17.2.2).
    pub(crate) fn on_retransmission(&mut self, out: &mut Outbox) {
        let last = match &self.phase {
            Phase::Proceeding { provisional, .. } => provisional,
            Phase::Completed { response, .. } => response,
            Phase::Trying { .. } | Phase::Terminated => return,
        };
        out.transmit(self.route.transmit(last.clone()));
        out.retransmissions += 1;
    }

    /// The TU answers.
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        response: &Response,
        out: &mut Outbox,
    ) -> Result<(), TransactionError> {
        let guard = match self.phase {
            Phase::Trying { guard } | Phase::Proceeding { guard, .. } => guard,
            Phase::Completed { .. } | Phase::Terminated => {
                return Err(TransactionError::InvalidState {
                    id: self.id,
                    state: self.state(),
                    status: response.status,
                });
            }
        };
        let mut bytes = Vec::new();
        response.write_to(&mut bytes);
        out.transmit(self.route.transmit(bytes.clone()));
        if response.status.is_provisional() {
            self.phase = Phase::Proceeding {
                provisional: bytes,
                guard,
            };
        } else {
            let j = self
                .timers
                .duration(Timer::J, self.route.is_reliable())
                .unwrap_or_default();
            self.phase = if j.is_zero() {
                Phase::Terminated
            } else {
                Phase::Completed {
                    response: bytes,
                    timer_j: now + j,
                }
            };
        }
        Ok(())
    }

    /// Fires the timers due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Outbox) {
        match &self.phase {
            Phase::Trying { guard } | Phase::Proceeding { guard, .. } if *guard <= now => {
                if !self.silent {
                    out.event(Event::Timeout {
                        id: self.id,
                        timer: Timer::Answer,
                    });
                }
                self.phase = Phase::Terminated;
            }
            Phase::Completed { timer_j, .. } if *timer_j <= now => {
                self.phase = Phase::Terminated;
            }
            _ => {}
        }
    }

    /// The transport failed sending a response (§17.2.4): inform the TU, Terminated.
    pub(crate) fn on_transport_error(&mut self, out: &mut Outbox) {
        if self.state() != State::Terminated && !self.silent {
            out.event(Event::TransportError { id: self.id });
        }
        self.phase = Phase::Terminated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{StatusCode, Transport};
    use crate::transaction::test_epoch;
    use std::time::Duration;

    fn tx(t0: Instant, transport: Transport) -> ServerTransaction {
        let route = Route {
            destination: "192.0.2.1:5060".parse().unwrap(),
            transport,
            connection: None,
            local: None,
        };
        ServerTransaction::new(t0, TransactionId(5), route, Timers::default(), false)
    }

    fn response(code: u16) -> Response {
        Response::new(StatusCode::new(code).unwrap())
    }

    #[test]
    fn trying_absorbs_then_proceeding_and_completed_answer_retransmissions() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Udp);
        assert_eq!(tx.state(), State::Trying);
        tx.on_retransmission(&mut out);
        assert!(out.transmits.is_empty());
        tx.send_response(t0, &response(183), &mut out).unwrap();
        assert_eq!(tx.state(), State::Proceeding);
        tx.on_retransmission(&mut out);
        let sent: Vec<_> = out.transmits.drain(..).map(|t| t.bytes).collect();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0], sent[1]);
        assert!(sent[0].starts_with(b"SIP/2.0 183"));
        tx.send_response(t0, &response(200), &mut out).unwrap();
        assert_eq!(tx.state(), State::Completed);
        tx.on_retransmission(&mut out);
        tx.on_retransmission(&mut out);
        assert_eq!(out.transmits.len(), 3);
        assert!(
            out.transmits
                .iter()
                .all(|t| t.bytes.starts_with(b"SIP/2.0 200"))
        );
        assert_eq!(out.retransmissions, 3);
        // A second final response is misuse.
        assert_eq!(
            tx.send_response(t0, &response(500), &mut out),
            Err(TransactionError::InvalidState {
                id: TransactionId(5),
                state: State::Completed,
                status: StatusCode::SERVER_INTERNAL_ERROR
            })
        );
        // Timer J: 64*T1 on UDP.
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(tx.state(), State::Terminated);
        assert!(out.events.is_empty());
    }

    #[test]
    fn timer_j_is_zero_on_reliable_transports() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Tcp);
        tx.send_response(t0, &response(200), &mut out).unwrap();
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn answer_guard_ends_a_transaction_the_tu_never_answers() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Udp);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.on_timeout(t0 + Duration::from_secs(31), &mut out);
        assert_eq!(tx.state(), State::Trying);
        tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(
            out.events.pop_front(),
            Some(Event::Timeout {
                id: TransactionId(5),
                timer: Timer::Answer
            })
        );
    }

    #[test]
    fn transport_error_informs_the_tu() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = tx(t0, Transport::Udp);
        tx.send_response(t0, &response(100), &mut out).unwrap();
        tx.on_transport_error(&mut out);
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(out.events.len(), 1);
    }
}
