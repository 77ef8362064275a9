//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! ```text
//!  Trying --1xx--> Proceeding --final--> Completed --Timer K--> Terminated
//!    |  \___________final_______________^   (K = T4 unreliable, 0 reliable)
//!    +-- Timer F (64*T1) or transport error --> Terminated (TU informed)
//! ```
//!
//! Timer E retransmits the request on unreliable transports: T1, doubling up to T2 in
//! Trying, every T2 in Proceeding (§17.1.2.2). Every response received before Completed is
//! passed up; retransmitted final responses are absorbed in Completed.

use std::time::Instant;

use crate::message::Response;

use super::route::Route;
use super::timer::{Backoff, Timer, Timers};
use super::{Event, Outbox, State, TransactionId};

#[derive(Debug)]
enum Phase {
    Trying {
        timer_e: Option<Backoff>,
        timer_f: Instant,
    },
    Proceeding {
        timer_e: Option<Backoff>,
        timer_f: Instant,
    },
    Completed {
        timer_k: Instant,
    },
    Terminated,
}

/// A non-INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientTransaction {
    id: TransactionId,
    route: Route,
    request: Vec<u8>,
    timers: Timers,
    /// Layer-internal (a CANCEL sent by [`super::TransactionLayer::cancel`]): no events.
    silent: bool,
    phase: Phase,
}

impl ClientTransaction {
    /// Starts the transaction: sends the request and arms Timers E and F (§17.1.2.2).
    pub(crate) fn start(
        now: Instant,
        id: TransactionId,
        request: Vec<u8>,
        route: Route,
        timers: Timers,
        silent: bool,
        out: &mut Outbox,
    ) -> Self {
        out.transmit(route.transmit(request.clone()));
        let reliable = route.is_reliable();
        let timer_e = timers
            .duration(Timer::E, reliable)
            .map(|e| Backoff::start(now, e, Some(timers.t2)));
        let timer_f = now + timers.t1.saturating_mul(64);
        Self {
            id,
            route,
            request,
            timers,
            silent,
            phase: Phase::Trying { timer_e, timer_f },
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
            Phase::Trying { timer_e, timer_f } | Phase::Proceeding { timer_e, timer_f } => {
                Some(timer_e.map_or(*timer_f, |e| e.at.min(*timer_f)))
            }
            Phase::Completed { timer_k } => Some(*timer_k),
            Phase::Terminated => None,
        }
    }

    fn pass_up(&self, response: Response, out: &mut Outbox) {
        if !self.silent {
            out.event(Event::Response {
                id: self.id,
                response,
            });
        }
    }

    /// A response matched (§17.1.3). Returns false when it was a retransmission absorbed.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Outbox,
    ) -> bool {
        let (timer_e, timer_f) = match &self.phase {
            Phase::Trying { timer_e, timer_f } | Phase::Proceeding { timer_e, timer_f } => {
                (*timer_e, *timer_f)
            }
            Phase::Completed { .. } | Phase::Terminated => return false,
        };
        if response.status.is_provisional() {
            self.phase = Phase::Proceeding { timer_e, timer_f };
        } else {
            self.enter_completed(now);
        }
        self.pass_up(response, out);
        true
    }

    fn enter_completed(&mut self, now: Instant) {
        let k = self
            .timers
            .duration(Timer::K, self.route.is_reliable())
            .unwrap_or_default();
        self.phase = if k.is_zero() {
            Phase::Terminated
        } else {
            Phase::Completed { timer_k: now + k }
        };
    }

    /// Fires the timers due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Outbox) {
        let proceeding = matches!(self.phase, Phase::Proceeding { .. });
        match &mut self.phase {
            Phase::Trying { timer_e, timer_f } | Phase::Proceeding { timer_e, timer_f } => {
                if *timer_f <= now {
                    // Timer F (§17.1.2.2): inform the TU, Terminated.
                    if !self.silent {
                        out.event(Event::Timeout {
                            id: self.id,
                            timer: Timer::F,
                        });
                    }
                    self.phase = Phase::Terminated;
                    return;
                }
                if let Some(e) = timer_e.as_mut().filter(|e| e.at <= now) {
                    // Timer E: retransmit; doubling capped at T2 in Trying, T2 in Proceeding.
                    if proceeding {
                        e.fire_fixed(now, self.timers.t2);
                    } else {
                        e.fire(now);
                    }
                    out.transmit(self.route.transmit(self.request.clone()));
                    out.retransmissions += 1;
                }
            }
            Phase::Completed { timer_k } => {
                if *timer_k <= now {
                    self.phase = Phase::Terminated;
                }
            }
            Phase::Terminated => {}
        }
    }

    /// The transport failed (§17.1.2.2): inform the TU unless Completed, Terminated.
    pub(crate) fn on_transport_error(&mut self, out: &mut Outbox) {
        if matches!(self.phase, Phase::Trying { .. } | Phase::Proceeding { .. }) && !self.silent {
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

    fn route(transport: Transport) -> Route {
        Route {
            destination: "192.0.2.2:5060".parse().unwrap(),
            transport,
            connection: None,
            local: None,
        }
    }

    fn response(code: u16) -> Response {
        Response::new(StatusCode::new(code).unwrap())
    }

    /// Runs timers until `until`, returning the offsets (ms) of every transmit.
    fn run(
        tx: &mut ClientTransaction,
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

    fn start(t0: Instant, transport: Transport, out: &mut Outbox) -> ClientTransaction {
        let tx = ClientTransaction::start(
            t0,
            TransactionId(1),
            b"OPTIONS".to_vec(),
            route(transport),
            Timers::default(),
            false,
            out,
        );
        assert_eq!(out.transmits.len(), 1);
        out.transmits.clear();
        tx
    }

    #[test]
    fn timer_e_doubles_to_t2_then_timer_f_times_out() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Udp, &mut out);
        assert_eq!(tx.state(), State::Trying);
        let sent = run(&mut tx, t0, Duration::from_secs(40), &mut out);
        // 10 retransmissions: 0.5, 1.5, 3.5, 7.5 then every T2, before F at 32 s.
        assert_eq!(
            sent,
            [
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        assert_eq!(tx.state(), State::Terminated);
        assert_eq!(
            out.events.pop_front(),
            Some(Event::Timeout {
                id: TransactionId(1),
                timer: Timer::F
            })
        );
        assert_eq!(out.retransmissions, 10);
    }

    #[test]
    fn proceeding_retransmits_every_t2() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Udp, &mut out);
        assert_eq!(
            run(&mut tx, t0, Duration::from_millis(600), &mut out),
            [500]
        );
        assert!(tx.on_response(t0 + Duration::from_millis(600), response(100), &mut out));
        assert_eq!(tx.state(), State::Proceeding);
        // Timer E was armed at 0.5 s for 1 s: fires at 1.5 s, then every T2.
        let sent = run(&mut tx, t0, Duration::from_secs(10), &mut out);
        assert_eq!(sent, [1500, 5500, 9500]);
        assert!(matches!(
            out.events.pop_front(),
            Some(Event::Response { .. })
        ));
    }

    #[test]
    fn final_response_completes_and_timer_k_terminates() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Udp, &mut out);
        let t = t0 + Duration::from_millis(100);
        assert!(tx.on_response(t, response(200), &mut out));
        assert_eq!(tx.state(), State::Completed);
        assert_eq!(tx.poll_timeout(), Some(t + Duration::from_secs(5)));
        // Retransmitted finals are absorbed, not passed up.
        assert!(!tx.on_response(t, response(200), &mut out));
        assert_eq!(out.events.len(), 1);
        tx.on_timeout(t + Duration::from_secs(5), &mut out);
        assert_eq!(tx.state(), State::Terminated);
        assert!(out.transmits.is_empty());
        assert_eq!(tx.poll_timeout(), None);
    }

    #[test]
    fn reliable_transport_has_no_timer_e_and_zero_timer_k() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = start(t0, Transport::Tcp, &mut out);
        assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.on_response(t0, response(404), &mut out);
        assert_eq!(tx.state(), State::Terminated);
        let mut tx = start(t0, Transport::Tcp, &mut out);
        assert!(run(&mut tx, t0, Duration::from_secs(40), &mut out).is_empty());
        assert_eq!(tx.state(), State::Terminated);
    }

    #[test]
    fn transport_error_informs_the_tu() {
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

    #[test]
    fn silent_transactions_raise_no_events() {
        let t0 = test_epoch();
        let mut out = Outbox::default();
        let mut tx = ClientTransaction::start(
            t0,
            TransactionId(2),
            b"CANCEL".to_vec(),
            route(Transport::Udp),
            Timers::default(),
            true,
            &mut out,
        );
        tx.on_response(t0, response(200), &mut out);
        run(&mut tx, t0, Duration::from_secs(40), &mut out);
        assert!(out.events.is_empty());
        assert!(tx.is_silent());
    }
}
