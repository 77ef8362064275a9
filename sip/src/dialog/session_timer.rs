//! Session timers (RFC 4028): negotiating the session interval and refresher as UAC (§7) and
//! UAS (§9), and the timer that says when to refresh and when to give up (§10).
//!
//! Negotiation reads and writes Supported/Require `timer`, Session-Expires (with its
//! `refresher`) and Min-SE, and answers a too-short interval with 422 and our Min-SE. The
//! result, [`Negotiated`], says whether *we* refresh. A [`SessionTimer`] then runs in the
//! caller's time: [`SessionTimer::poll_timeout`] is the next deadline,
//! [`SessionTimer::handle_timeout`] says what to do at it:
//!
//! - the refresher sends a refresh (re-INVITE or UPDATE) at half the interval (§10);
//! - either side sends BYE when no refresh succeeded by `interval - min(32 s, interval / 3)`
//!   after the last one (§10), the refresher included when its refresh got no answer.
//!
//! Each successful refresh (a 2xx we received for ours, or sent for the peer's) restarts
//! the timer with the newly negotiated values ([`SessionTimer::handle_refreshed`]).

use std::time::{Duration, Instant};

use crate::message::{HeaderName, Refresher, Request, Response, SessionExpires, StatusCode};

/// The smallest Min-SE RFC 4028 allows, and the value assumed when a request has none (§4).
pub const MIN_SE_FLOOR: u32 = 90;

/// The option tag (RFC 4028 §3).
pub const OPTION_TAG: &str = "timer";

/// Our session timer preferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// The session interval we ask for (UAC) or grant at most (UAS), in seconds. RFC 4028
    /// §4 recommends 1800.
    pub session_expires: u32,
    /// The shortest interval we accept, in seconds; never below [`MIN_SE_FLOOR`].
    pub min_se: u32,
    /// As UAS, run a session timer (with us as refresher if the UAC does not support timers)
    /// even when the INVITE carries no Session-Expires (§9 allows it). It protects a media
    /// server from calls whose peer vanished.
    pub insert_when_absent: bool,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        Self {
            session_expires: 1800,
            min_se: MIN_SE_FLOOR,
            insert_when_absent: true,
        }
    }
}

/// The outcome of a negotiation, from our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The session interval, in seconds.
    pub interval: u32,
    /// Who refreshes, relative to the transaction that negotiated it.
    pub refresher: Refresher,
    /// True when we refresh.
    pub we_refresh: bool,
    /// True when the peer supports `timer` (as UAS we then put `Require: timer` in the 2xx).
    pub peer_supports_timer: bool,
}

impl Negotiated {
    /// Writes the negotiated values into our 2xx to the request (as UAS, §9):
    /// `Session-Expires: interval;refresher=…`, and `Require: timer` when the UAC supports it.
    pub fn add_to_response(&self, response: &mut Response) {
        response.headers.set(
            HeaderName::SessionExpires,
            SessionExpires::new(self.interval, Some(self.refresher)),
        );
        if self.peer_supports_timer
            && !response
                .headers
                .has_option_tag(HeaderName::Require, OPTION_TAG)
        {
            response.headers.push(HeaderName::Require, OPTION_TAG);
        }
    }
}

/// A request whose Session-Expires is shorter than our Min-SE: answer 422 (§9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session interval {requested} s is below our minimum {min_se} s")]
pub struct IntervalTooSmall {
    /// The interval the request asked for.
    pub requested: u32,
    /// Our Min-SE.
    pub min_se: u32,
}

impl IntervalTooSmall {
    /// The 422 Session Interval Too Small with our Min-SE (RFC 4028 §9).
    pub fn response(&self, request: &Request) -> Response {
        Response::from_request(request, StatusCode::SESSION_INTERVAL_TOO_SMALL)
            .with_header(HeaderName::MinSe, self.min_se)
    }
}

fn supports_timer(h: &crate::message::Headers) -> bool {
    h.has_option_tag(HeaderName::Supported, OPTION_TAG)
        || h.has_option_tag(HeaderName::Require, OPTION_TAG)
}

impl SessionTimerConfig {
    /// Our Min-SE, never below the floor.
    fn floor(&self) -> u32 {
        self.min_se.max(MIN_SE_FLOOR)
    }

    /// Adds our offer to an INVITE or UPDATE we send as UAC (§7.1): `Supported: timer`
    /// (unless present), `Session-Expires` without refresher (the UAS picks), and `Min-SE`.
    pub fn add_to_request(&self, request: &mut Request) {
        let h = &mut request.headers;
        if !h.has_option_tag(HeaderName::Supported, OPTION_TAG) {
            h.push(HeaderName::Supported, OPTION_TAG);
        }
        let se = self.session_expires.max(self.floor());
        h.set(HeaderName::SessionExpires, SessionExpires::new(se, None));
        h.set(HeaderName::MinSe, self.floor());
    }

    /// Negotiates as UAS from a received INVITE or UPDATE (§9). `Ok(None)`: no session
    /// timer (the request has none and [`Self::insert_when_absent`] is off).
    ///
    /// The interval is the request's, lowered to ours when larger but never below the
    /// request's Min-SE; without a Session-Expires it is ours, raised to the request's
    /// Min-SE. The refresher is the request's when given, else the UAC when it supports
    /// timers, else us (§9).
    ///
    /// # Errors
    /// [`IntervalTooSmall`] when the requested interval is below our Min-SE: answer 422.
    /// Malformed Session-Expires or Min-SE headers are treated as absent (the message layer's
    /// `validate` rejects them first).
    pub fn negotiate_uas(&self, request: &Request) -> Result<Option<Negotiated>, IntervalTooSmall> {
        let h = &request.headers;
        let peer_supports_timer = supports_timer(h);
        let their_min = h
            .min_se()
            .ok()
            .flatten()
            .unwrap_or(MIN_SE_FLOOR)
            .max(MIN_SE_FLOOR);
        let (interval, requested_refresher) = match h.session_expires().ok().flatten() {
            Some(se) => {
                if se.seconds < self.floor() {
                    return Err(IntervalTooSmall {
                        requested: se.seconds,
                        min_se: self.floor(),
                    });
                }
                let granted = se.seconds.min(self.session_expires.max(self.floor()));
                (granted.max(their_min).min(se.seconds), se.refresher())
            }
            None if self.insert_when_absent => {
                (self.session_expires.max(self.floor()).max(their_min), None)
            }
            None => return Ok(None),
        };
        let refresher = match (requested_refresher, peer_supports_timer) {
            (Some(r), true) => r,
            (None, true) => Refresher::Uac,
            (_, false) => Refresher::Uas,
        };
        Ok(Some(Negotiated {
            interval,
            refresher,
            we_refresh: refresher == Refresher::Uas,
            peer_supports_timer,
        }))
    }

    /// Negotiates as UAC from the 2xx to our INVITE or UPDATE (§7.2): the response's
    /// Session-Expires decides; a missing `refresher` leaves the refreshing to us. `None`:
    /// the 2xx has no Session-Expires, there is no session timer.
    pub fn negotiate_uac(&self, response: &Response) -> Option<Negotiated> {
        let se = response.headers.session_expires().ok().flatten()?;
        let refresher = se.refresher().unwrap_or(Refresher::Uac);
        Some(Negotiated {
            interval: se.seconds.max(MIN_SE_FLOOR),
            refresher,
            we_refresh: refresher == Refresher::Uac,
            peer_supports_timer: supports_timer(&response.headers),
        })
    }

    /// After a 422 (§7.3): the configuration for the retried request, with Session-Expires
    /// and Min-SE raised to the response's Min-SE. `None` when the 422 has no usable Min-SE
    /// or does not raise anything (retrying would loop).
    pub fn after_interval_too_small(&self, response: &Response) -> Option<Self> {
        let min = response.headers.min_se().ok().flatten()?;
        let sent = self.session_expires.max(self.floor());
        if response.status != StatusCode::SESSION_INTERVAL_TOO_SMALL || min <= sent {
            return None;
        }
        Some(Self {
            session_expires: min,
            min_se: min,
            insert_when_absent: self.insert_when_absent,
        })
    }
}

/// What a [`SessionTimer`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionTimerAction {
    /// Send a session refresh (re-INVITE or UPDATE with [`SessionTimer::add_to_request`]).
    SendRefresh,
    /// The session expired without a refresh: send BYE (§10).
    SendBye,
}

/// The running session timer of one dialog, in the caller's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    interval: Duration,
    we_refresh: bool,
    /// When the last refresh (or the session) was established.
    refreshed_at: Instant,
    refresh_sent: bool,
    expired: bool,
}

impl SessionTimer {
    /// Starts the timer at `now` (when the negotiating 2xx was sent or received).
    pub fn start(now: Instant, negotiated: &Negotiated) -> Self {
        Self {
            interval: Duration::from_secs(u64::from(negotiated.interval)),
            we_refresh: negotiated.we_refresh,
            refreshed_at: now,
            refresh_sent: false,
            expired: false,
        }
    }

    /// The session interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// True when we refresh.
    pub fn we_refresh(&self) -> bool {
        self.we_refresh
    }

    /// True once [`SessionTimerAction::SendBye`] was returned.
    pub fn is_expired(&self) -> bool {
        self.expired
    }

    /// When a refresh is due: half the interval after the last refresh (§10).
    pub fn refresh_at(&self) -> Instant {
        self.refreshed_at + self.interval / 2
    }

    /// When to give up and send BYE: the interval minus min(32 s, interval / 3) after the
    /// last refresh (§10).
    pub fn bye_at(&self) -> Instant {
        let margin = (self.interval / 3).min(Duration::from_secs(32));
        self.refreshed_at + (self.interval - margin)
    }

    /// The next deadline, or `None` once expired.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.expired {
            None
        } else if self.we_refresh && !self.refresh_sent {
            Some(self.refresh_at())
        } else {
            Some(self.bye_at())
        }
    }

    /// What to do at `now`: a refresh when we refresh and it is due (once per interval),
    /// BYE when no refresh succeeded in time (once), else nothing.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<SessionTimerAction> {
        if self.expired {
            return None;
        }
        if now >= self.bye_at() {
            self.expired = true;
            return Some(SessionTimerAction::SendBye);
        }
        if self.we_refresh && !self.refresh_sent && now >= self.refresh_at() {
            self.refresh_sent = true;
            return Some(SessionTimerAction::SendRefresh);
        }
        None
    }

    /// A refresh succeeded at `now` (a 2xx to our refresh, or our 2xx to the peer's):
    /// restarts the timer with the newly negotiated interval and refresher.
    pub fn handle_refreshed(&mut self, now: Instant, negotiated: &Negotiated) {
        *self = Self::start(now, negotiated);
    }

    /// Adds Session-Expires (keeping the current refresher: `uac` when we refresh, since we
    /// send this request, `uas` otherwise), Min-SE and `Supported: timer` to a refresh or
    /// other re-INVITE/UPDATE we send (§7.4).
    pub fn add_to_request(&self, request: &mut Request, config: &SessionTimerConfig) {
        let refresher = if self.we_refresh {
            Refresher::Uac
        } else {
            Refresher::Uas
        };
        let secs = u32::try_from(self.interval.as_secs()).unwrap_or(u32::MAX);
        let h = &mut request.headers;
        if !h.has_option_tag(HeaderName::Supported, OPTION_TAG) {
            h.push(HeaderName::Supported, OPTION_TAG);
        }
        h.set(
            HeaderName::SessionExpires,
            SessionExpires::new(secs, Some(refresher)),
        );
        h.set(HeaderName::MinSe, config.floor());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> Request {
        Request::parse(
            format!(
                "INVITE sip:echo@tandem.example SIP/2.0\r\n\
                Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-a\r\n\
                Max-Forwards: 70\r\n\
                From: <sip:alice@example.com>;tag=a1\r\n\
                To: <sip:echo@tandem.example>\r\n\
                Call-ID: st@192.0.2.1\r\n\
                CSeq: 1 INVITE\r\n\
                Contact: <sip:alice@192.0.2.1>\r\n{extra}\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn ok_with(request: &Request, extra: &[(HeaderName, &str)]) -> Response {
        let mut r = Response::from_request(request, StatusCode::OK);
        for (n, v) in extra {
            r.headers.push(*n, v);
        }
        r
    }

    #[test]
    fn uas_keeps_the_uac_refresher_and_requires_timer() {
        let cfg = SessionTimerConfig::default();
        let req =
            invite("Supported: timer\r\nSession-Expires: 600;refresher=uac\r\nMin-SE: 120\r\n");
        let n = cfg.negotiate_uas(&req).unwrap().unwrap();
        assert_eq!(
            n,
            Negotiated {
                interval: 600,
                refresher: Refresher::Uac,
                we_refresh: false,
                peer_supports_timer: true
            }
        );
        let mut ok = Response::from_request(&req, StatusCode::OK);
        n.add_to_response(&mut ok);
        assert_eq!(
            ok.headers.first(HeaderName::SessionExpires),
            Some("600;refresher=uac")
        );
        assert!(ok.headers.has_option_tag(HeaderName::Require, "timer"));
    }

    #[test]
    fn uas_lowers_a_long_interval_to_its_own_but_not_below_the_request_min_se() {
        let cfg = SessionTimerConfig {
            session_expires: 300,
            ..Default::default()
        };
        let n = cfg
            .negotiate_uas(&invite("Supported: timer\r\nSession-Expires: 7200\r\n"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (n.interval, n.refresher, n.we_refresh),
            (300, Refresher::Uac, false)
        );
        let n = cfg
            .negotiate_uas(&invite(
                "Supported: timer\r\nSession-Expires: 7200\r\nMin-SE: 1000\r\n",
            ))
            .unwrap()
            .unwrap();
        assert_eq!(n.interval, 1000);
    }

    #[test]
    fn uas_refreshes_itself_when_the_uac_lacks_timer_support() {
        let cfg = SessionTimerConfig::default();
        // A proxy inserted Session-Expires; the UAC does not support timers.
        let n = cfg
            .negotiate_uas(&invite("Session-Expires: 900;refresher=uac\r\n"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (n.interval, n.refresher, n.we_refresh),
            (900, Refresher::Uas, true)
        );
        let mut ok = Response::from_request(&invite(""), StatusCode::OK);
        n.add_to_response(&mut ok);
        assert!(!ok.headers.contains("Require"));
        // No Session-Expires at all: we insert ours, or not, as configured.
        let n = cfg.negotiate_uas(&invite("")).unwrap().unwrap();
        assert_eq!((n.interval, n.we_refresh), (1800, true));
        let off = SessionTimerConfig {
            insert_when_absent: false,
            ..cfg
        };
        assert_eq!(off.negotiate_uas(&invite("")), Ok(None));
    }

    #[test]
    fn interval_below_our_min_se_is_rejected_with_422_and_min_se() {
        let cfg = SessionTimerConfig {
            min_se: 300,
            ..Default::default()
        };
        let req = invite("Supported: timer\r\nSession-Expires: 120\r\n");
        let e = cfg.negotiate_uas(&req).unwrap_err();
        assert_eq!(
            e,
            IntervalTooSmall {
                requested: 120,
                min_se: 300
            }
        );
        let r = e.response(&req);
        assert_eq!(r.status.as_u16(), 422);
        assert_eq!(r.headers.min_se(), Ok(Some(300)));
        // A UAC retries with the 422's Min-SE, once.
        let ours = SessionTimerConfig {
            session_expires: 120,
            min_se: 90,
            insert_when_absent: true,
        };
        let retry = ours.after_interval_too_small(&r).unwrap();
        assert_eq!((retry.session_expires, retry.min_se), (300, 300));
        assert_eq!(retry.after_interval_too_small(&r), None);
        let mut again = invite("");
        retry.add_to_request(&mut again);
        assert_eq!(
            again.headers.session_expires().unwrap().unwrap().seconds,
            300
        );
        assert_eq!(again.headers.min_se(), Ok(Some(300)));
        assert!(cfg.negotiate_uas(&again).is_ok());
    }

    #[test]
    fn uac_reads_the_2xx() {
        let cfg = SessionTimerConfig::default();
        let mut req = invite("");
        cfg.add_to_request(&mut req);
        cfg.add_to_request(&mut req);
        assert_eq!(req.headers.count("Supported"), 1);
        assert_eq!(req.headers.first(HeaderName::SessionExpires), Some("1800"));
        let n = cfg
            .negotiate_uac(&ok_with(
                &req,
                &[
                    (HeaderName::SessionExpires, "1200;refresher=uas"),
                    (HeaderName::Require, "timer"),
                ],
            ))
            .unwrap();
        assert_eq!(
            (n.interval, n.refresher, n.we_refresh),
            (1200, Refresher::Uas, false)
        );
        let n = cfg
            .negotiate_uac(&ok_with(&req, &[(HeaderName::SessionExpires, "1200")]))
            .unwrap();
        assert!(n.we_refresh);
        assert_eq!(cfg.negotiate_uac(&ok_with(&req, &[])), None);
    }

    /// The origin of virtual time: only offsets from it matter, no test reads the clock again.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn negotiated(interval: u32, we_refresh: bool) -> Negotiated {
        Negotiated {
            interval,
            refresher: if we_refresh {
                Refresher::Uas
            } else {
                Refresher::Uac
            },
            we_refresh,
            peer_supports_timer: true,
        }
    }

    #[test]
    fn refresher_refreshes_at_half_the_interval_and_restarts_on_success() {
        let t0 = origin();
        let s = |n| Duration::from_secs(n);
        let mut timer = SessionTimer::start(t0, &negotiated(1800, true));
        assert_eq!(timer.poll_timeout(), Some(t0 + s(900)));
        assert_eq!(timer.handle_timeout(t0 + s(899)), None);
        assert_eq!(
            timer.handle_timeout(t0 + s(900)),
            Some(SessionTimerAction::SendRefresh)
        );
        assert_eq!(
            timer.handle_timeout(t0 + s(901)),
            None,
            "one refresh per interval"
        );
        // 1800 - min(32, 600) = 1768 s: the refresh got no answer by then.
        assert_eq!(timer.poll_timeout(), Some(t0 + s(1768)));
        timer.handle_refreshed(t0 + s(905), &negotiated(1800, true));
        assert_eq!(timer.poll_timeout(), Some(t0 + s(1805)));
        assert_eq!(
            timer.handle_timeout(t0 + s(1805)),
            Some(SessionTimerAction::SendRefresh)
        );
        assert_eq!(
            timer.handle_timeout(t0 + s(905 + 1768)),
            Some(SessionTimerAction::SendBye)
        );
        assert!(timer.is_expired());
        assert_eq!(timer.poll_timeout(), None);
        assert_eq!(timer.handle_timeout(t0 + s(99_999)), None);
    }

    #[test]
    fn non_refresher_sends_bye_before_expiry_without_a_refresh() {
        let t0 = origin();
        let s = |n| Duration::from_secs(n);
        // 90 s: the margin is 90 / 3 = 30 s (below 32).
        let mut timer = SessionTimer::start(t0, &negotiated(90, false));
        assert_eq!(timer.poll_timeout(), Some(t0 + s(60)));
        assert_eq!(timer.handle_timeout(t0 + s(45)), None);
        assert_eq!(
            timer.handle_timeout(t0 + s(60)),
            Some(SessionTimerAction::SendBye)
        );
        let mut req = invite("");
        let timer = SessionTimer::start(t0, &negotiated(1800, false));
        timer.add_to_request(&mut req, &SessionTimerConfig::default());
        assert_eq!(
            req.headers.first(HeaderName::SessionExpires),
            Some("1800;refresher=uas")
        );
    }
}
