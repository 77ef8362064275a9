//! Outbound registration (RFC 3261 §10.2): a client state machine that keeps one contact
//! registered with a registrar, answers digest challenges, follows 423, backs off on
//! failure and un-registers on shutdown.
//!
//! Sans-IO, in the caller's time. The loop:
//!
//! 1. [`Registration::poll_request`]: a REGISTER to send (add a Via, start a non-INVITE
//!    client transaction);
//! 2. [`Registration::handle_response`] with the transaction's final response (or
//!    [`Registration::handle_transaction_failure`] on timeout or transport error);
//! 3. [`Registration::poll_event`] for what changed;
//! 4. sleep until [`Registration::poll_timeout`] and call [`Registration::handle_timeout`].
//!
//! Rules kept (§10.2):
//! - one Call-ID for every REGISTER of this registration, CSeq up by one each time
//!   (§10.2: the registrar orders them with it);
//! - never two REGISTERs outstanding: a new one only after the final response (or the
//!   transaction's failure) of the previous one;
//! - refresh before expiry: after `min(expires/2, expires - 30 s)` (at least 1 s) of the
//!   interval the registrar granted (the `expires` of our Contact in the 200, else its
//!   Expires header, else what we asked);
//! - 401/407: answered once per challenge with `Authorization`/`Proxy-Authorization` from
//!   [`DigestClient`]; a repeated non-stale challenge means wrong credentials
//!   ([`RegistrationEvent::AuthenticationFailed`], then back-off);
//! - 423 Interval Too Brief: retried at once with the Min-Expires it names;
//! - other failures: retried after the response's Retry-After, else after a doubling delay
//!   bounded by [`Backoff::max`];
//! - [`Registration::unregister`]: a REGISTER with `Expires: 0` for our contact, after which
//!   the machine stops.
//!
//! The digest cnonce for each authorized request is derived from the caller's seed and a
//! counter (SHA-256), so the caller supplies randomness once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::dialog::MAX_FORWARDS;
use crate::auth::{ClientError, DigestClient, DigestRequest, HashFunction};
use crate::message::{
    CSeq, Contact, HeaderName, Method, NameAddr, Request, Response, StatusCode, Uri,
};

/// Consecutive challenges answered without a success before giving up (a registrar that
/// keeps answering `stale=true` would otherwise loop).
const MAX_CHALLENGES_IN_A_ROW: u32 = 4;

/// The doubling retry delay after failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub first: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 30 s, doubling up to 30 min (RFC 5626 §4.5 uses the same ceiling).
    fn default() -> Self {
        Self {
            first: Duration::from_secs(30),
            max: Duration::from_secs(1800),
        }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive failures (1 for the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first
            .checked_mul(1 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// What a registration is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationConfig {
    /// The Request-URI: the registrar's domain (`sip:tandem.example`, §10.2).
    pub registrar: Uri,
    /// The address-of-record: To and From (without tag).
    pub aor: NameAddr,
    /// Our contact address to bind.
    pub contact: NameAddr,
    /// The interval we ask for, in seconds.
    pub expires: u32,
    /// The Call-ID of every REGISTER (the caller's randomness).
    pub call_id: String,
    /// The From tag (the caller's randomness).
    pub from_tag: String,
    /// Retry delays after failures.
    pub backoff: Backoff,
}

/// What changed, for logs and the control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationEvent {
    /// The registrar accepted the binding for `expires` seconds.
    Registered {
        /// The granted interval.
        expires: u32,
    },
    /// The binding was removed at our request; the registration is over.
    Unregistered,
    /// A REGISTER failed (`status` is `None` for a transaction timeout or transport error);
    /// the next attempt is at `retry_at` (`None` when the machine stopped).
    Failed {
        /// The final status, if a response came.
        status: Option<StatusCode>,
        /// When the next attempt goes out.
        retry_at: Option<Instant>,
    },
    /// The registrar rejected our credentials (or challenged without end).
    AuthenticationFailed {
        /// 401 or 407.
        status: StatusCode,
    },
}

/// Where the machine is (named for what it waits for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationState {
    /// A REGISTER is ready: call [`Registration::poll_request`].
    ReadyToSend,
    /// A REGISTER is outstanding: waiting for its final response.
    ExpectResponse,
    /// Registered; the refresh goes out at `refresh_at`.
    Registered {
        /// When the refresh is sent.
        refresh_at: Instant,
        /// When the binding expires at the registrar.
        expires_at: Instant,
    },
    /// Waiting to retry after a failure.
    ExpectRetry {
        /// When the retry is sent.
        retry_at: Instant,
    },
    /// Stopped: un-registered, or given up after [`Registration::unregister`].
    Stopped,
}

/// Which REGISTER goes out next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Register,
    Unregister,
}

/// An outbound registration state machine.
#[derive(Debug, Clone)]
pub struct Registration {
    config: RegistrationConfig,
    state: RegistrationState,
    /// The kind of the request to send or outstanding.
    kind: Kind,
    /// CSeq of the last REGISTER built.
    cseq: u32,
    /// The interval asked for (raised by 423).
    expires: u32,
    registered_until: Option<Instant>,
    failures: u32,
    challenges_in_a_row: u32,
    stopping: bool,
    sent_any: bool,
    www: Option<DigestClient>,
    proxy: Option<DigestClient>,
    cnonce_seed: [u8; 32],
    cnonce_count: u64,
    events: VecDeque<RegistrationEvent>,
}

impl Registration {
    /// A registration whose first REGISTER is ready at once. `credentials` answers 401 and
    /// 407 challenges (the same user for both); `cnonce_seed` is the caller's randomness for
    /// digest cnonces.
    pub fn new(
        config: RegistrationConfig,
        credentials: Option<DigestClient>,
        cnonce_seed: [u8; 32],
    ) -> Self {
        let proxy = credentials.clone().map(|mut c| {
            c.reset();
            c
        });
        Self {
            expires: config.expires,
            config,
            state: RegistrationState::ReadyToSend,
            kind: Kind::Register,
            cseq: 0,
            registered_until: None,
            failures: 0,
            challenges_in_a_row: 0,
            stopping: false,
            sent_any: false,
            www: credentials,
            proxy,
            cnonce_seed,
            cnonce_count: 0,
            events: VecDeque::new(),
        }
    }

    /// The state.
    pub fn state(&self) -> RegistrationState {
        self.state
    }

    /// True when a binding granted by the registrar is current at `now`.
    pub fn is_registered(&self, now: Instant) -> bool {
        self.registered_until.is_some_and(|t| t > now)
    }

    /// The interval asked for in the next REGISTER (the configured one, or a 423's
    /// Min-Expires).
    pub fn requested_expires(&self) -> u32 {
        self.expires
    }

    /// The next REGISTER to send, if one is ready. It has no Via: add one (the transaction
    /// layer fills in its branch).
    pub fn poll_request(&mut self) -> Option<Request> {
        if self.state != RegistrationState::ReadyToSend {
            return None;
        }
        self.cseq = self.cseq.saturating_add(1);
        self.sent_any = true;
        self.state = RegistrationState::ExpectResponse;
        Some(self.build())
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RegistrationEvent> {
        self.events.pop_front()
    }

    /// When [`Registration::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            RegistrationState::Registered { refresh_at, .. } => Some(refresh_at),
            RegistrationState::ExpectRetry { retry_at } => Some(retry_at),
            _ => None,
        }
    }

    /// Makes the refresh or the retry ready when its time has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = match self.state {
            RegistrationState::Registered { refresh_at, .. } => now >= refresh_at,
            RegistrationState::ExpectRetry { retry_at } => now >= retry_at,
            _ => false,
        };
        if due {
            self.state = RegistrationState::ReadyToSend;
        }
    }

    /// Takes a response to the outstanding REGISTER. Responses that do not match it (other
    /// Call-ID, older CSeq, not REGISTER) and provisional ones are ignored; returns whether
    /// the response was used.
    pub fn handle_response(&mut self, now: Instant, response: &Response) -> bool {
        if self.state != RegistrationState::ExpectResponse
            || response.status.is_provisional()
            || response.headers.call_id() != Ok(self.config.call_id.as_str())
            || response.headers.cseq() != Ok(CSeq::new(self.cseq, Method::Register))
        {
            return false;
        }
        let code = response.status.as_u16();
        if response.status.is_success() {
            self.challenges_in_a_row = 0;
            self.on_success(now, response);
        } else if code == 401 || code == 407 {
            self.on_challenge(now, response);
        } else if code == 423 {
            match response.headers.min_expires() {
                Ok(Some(min)) if min > self.expires && self.kind == Kind::Register => {
                    self.expires = min;
                    self.state = RegistrationState::ReadyToSend;
                }
                _ => self.on_failure(now, Some(response)),
            }
        } else {
            self.on_failure(now, Some(response));
        }
        true
    }

    /// The outstanding REGISTER's transaction timed out or could not be sent (RFC 3261
    /// §8.1.3.1 treats both like a 408).
    pub fn handle_transaction_failure(&mut self, now: Instant) {
        if self.state == RegistrationState::ExpectResponse {
            self.on_failure(now, None);
        }
    }

    /// Shutdown: removes our binding with a REGISTER carrying `Expires: 0`, sent as soon as
    /// no REGISTER is outstanding; the machine then stops whatever the answer. Stops at once
    /// when nothing was ever sent.
    pub fn unregister(&mut self, _now: Instant) {
        self.stopping = true;
        match self.state {
            RegistrationState::Stopped | RegistrationState::ExpectResponse => {}
            _ if !self.sent_any => self.state = RegistrationState::Stopped,
            _ => {
                self.kind = Kind::Unregister;
                self.state = RegistrationState::ReadyToSend;
            }
        }
    }

    fn on_success(&mut self, now: Instant, response: &Response) {
        self.failures = 0;
        if self.kind == Kind::Unregister {
            self.stop();
            self.events.push_back(RegistrationEvent::Unregistered);
            return;
        }
        let granted = self.granted_expires(response);
        if granted == 0 {
            // The registrar did not keep our binding: try again later.
            self.on_failure(now, Some(response));
            return;
        }
        let expires_at = now + Duration::from_secs(u64::from(granted));
        self.registered_until = Some(expires_at);
        self.events
            .push_back(RegistrationEvent::Registered { expires: granted });
        if self.stopping {
            self.kind = Kind::Unregister;
            self.state = RegistrationState::ReadyToSend;
        } else {
            self.state = RegistrationState::Registered {
                refresh_at: now + refresh_delay(granted),
                expires_at,
            };
        }
    }

    /// Our Contact's `expires` in the 200, else its Expires header, else what we asked.
    fn granted_expires(&self, response: &Response) -> u32 {
        let ours = response.headers.contacts().find_map(|c| match c {
            Ok(c @ Contact::Address(_)) => {
                let a = c.address()?;
                a.uri
                    .equivalent(&self.config.contact.uri)
                    .then(|| c.expires())
            }
            _ => None,
        });
        match ours {
            Some(Some(e)) => e,
            _ => response
                .headers
                .expires()
                .ok()
                .flatten()
                .unwrap_or(self.expires),
        }
    }

    fn on_challenge(&mut self, now: Instant, response: &Response) {
        let status = response.status;
        let (client, header) = if status.as_u16() == 401 {
            (self.www.as_mut(), HeaderName::WwwAuthenticate)
        } else {
            (self.proxy.as_mut(), HeaderName::ProxyAuthenticate)
        };
        self.challenges_in_a_row += 1;
        let answered = client.map(|c| c.handle_challenge_values(response.headers.values(header)));
        match answered {
            Some(Ok(())) if self.challenges_in_a_row <= MAX_CHALLENGES_IN_A_ROW => {
                self.state = RegistrationState::ReadyToSend;
            }
            Some(Ok(())) | Some(Err(ClientError::CredentialsRejected)) | None => {
                self.challenges_in_a_row = 0;
                self.events
                    .push_back(RegistrationEvent::AuthenticationFailed { status });
                self.on_failure(now, Some(response));
            }
            Some(Err(_)) => {
                self.challenges_in_a_row = 0;
                self.on_failure(now, Some(response));
            }
        }
    }

    fn on_failure(&mut self, now: Instant, response: Option<&Response>) {
        if self.kind == Kind::Unregister || self.stopping {
            self.events.push_back(RegistrationEvent::Failed {
                status: response.map(|r| r.status),
                retry_at: None,
            });
            self.stop();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let retry_after = response
            .and_then(|r| r.headers.retry_after().ok().flatten())
            .map(|r| Duration::from_secs(u64::from(r.seconds)).min(self.config.backoff.max));
        let delay = retry_after
            .filter(|d| !d.is_zero())
            .unwrap_or_else(|| self.config.backoff.delay(self.failures));
        let retry_at = now + delay;
        self.state = RegistrationState::ExpectRetry { retry_at };
        self.events.push_back(RegistrationEvent::Failed {
            status: response.map(|r| r.status),
            retry_at: Some(retry_at),
        });
    }

    fn stop(&mut self) {
        self.state = RegistrationState::Stopped;
        self.registered_until = None;
    }

    /// The REGISTER for the current CSeq and kind (§10.2).
    fn build(&mut self) -> Request {
        let c = &self.config;
        let mut from = c.aor.clone();
        // The tag was given by the caller; an invalid one is left out rather than sent broken.
        let _ = from.set_tag(&c.from_tag);
        let mut to = c.aor.clone();
        to.params.remove("tag");
        let expires = match self.kind {
            Kind::Register => self.expires,
            Kind::Unregister => 0,
        };
        let mut contact = c.contact.clone();
        contact.params.remove("expires");
        let mut r = Request::new(Method::Register, c.registrar.clone())
            .with_header(HeaderName::MaxForwards, MAX_FORWARDS)
            .with_header(HeaderName::From, from)
            .with_header(HeaderName::To, to)
            .with_header(HeaderName::CallId, &c.call_id)
            .with_header(HeaderName::CSeq, CSeq::new(self.cseq, Method::Register))
            .with_header(HeaderName::Contact, contact)
            .with_header(HeaderName::Expires, expires);
        let uri = r.uri.to_string();
        for (proxy, header) in [
            (false, HeaderName::Authorization),
            (true, HeaderName::ProxyAuthorization),
        ] {
            let material = self.next_cnonce();
            let client = if proxy {
                self.proxy.as_mut()
            } else {
                self.www.as_mut()
            };
            let Some(client) = client.filter(|c| c.challenge().is_some()) else {
                continue;
            };
            let request = DigestRequest {
                method: "REGISTER",
                uri: &uri,
                body: b"",
            };
            if let Ok(credentials) = client.authorize(&request, &material) {
                r.headers.push(header, credentials);
            }
        }
        r
    }

    /// 32 bytes of cnonce material: SHA-256 of the seed and a counter, hex.
    fn next_cnonce(&mut self) -> [u8; 32] {
        self.cnonce_count += 1;
        let digest = HashFunction::Sha256
            .hash_fields(&[&self.cnonce_seed, &self.cnonce_count.to_be_bytes()]);
        let mut out = [0u8; 32];
        for (o, b) in out.iter_mut().zip(digest.as_bytes()) {
            *o = *b;
        }
        out
    }
}

/// When to refresh a binding granted for `expires` seconds: the sooner of half the interval
/// and 30 s before expiry, but at least 1 s.
pub fn refresh_delay(expires: u32) -> Duration {
    let half = expires / 2;
    let early = expires.checked_sub(30).filter(|&d| d > 0).unwrap_or(half);
    Duration::from_secs(u64::from(half.min(early).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The origin of virtual time: only offsets from it matter.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn config() -> RegistrationConfig {
        RegistrationConfig {
            registrar: Uri::parse("sip:registrar.example").unwrap(),
            aor: NameAddr::parse("<sip:tandem@registrar.example>").unwrap(),
            contact: NameAddr::parse("<sip:tandem@192.0.2.10:5060>").unwrap(),
            expires: 600,
            call_id: "reg-1@192.0.2.10".into(),
            from_tag: "rt1".into(),
            backoff: Backoff::default(),
        }
    }

    /// The registrar's answer to `request`, with extra header lines.
    fn answer(request: &Request, code: u16, extra: &[(HeaderName, &str)]) -> Response {
        let mut r = Response::from_request(request, StatusCode::new(code).unwrap());
        for (n, v) in extra {
            r.headers.push(*n, v);
        }
        r
    }

    #[test]
    fn registers_then_refreshes_with_the_same_call_id_and_a_higher_cseq() {
        let t0 = origin();
        let mut reg = Registration::new(config(), None, [7; 32]);
        assert_eq!(reg.state(), RegistrationState::ReadyToSend);
        let first = reg.poll_request().unwrap();
        assert!(
            reg.poll_request().is_none(),
            "one REGISTER outstanding at a time"
        );
        assert_eq!(first.uri.to_string(), "sip:registrar.example");
        assert_eq!(
            first.headers.cseq().unwrap(),
            CSeq::new(1, Method::Register)
        );
        assert_eq!(first.headers.expires(), Ok(Some(600)));
        assert_eq!(first.headers.from().unwrap().tag(), Some("rt1"));
        assert_eq!(first.headers.to().unwrap().tag(), None);
        assert_eq!(
            first.headers.first(HeaderName::Contact),
            Some("<sip:tandem@192.0.2.10:5060>")
        );
        assert!(!reg.handle_response(t0, &answer(&first, 100, &[])));
        // The registrar shortens the interval to 300 in our Contact.
        let ok = answer(
            &first,
            200,
            &[
                (HeaderName::Contact, "<sip:other@192.0.2.99>;expires=3600"),
                (
                    HeaderName::Contact,
                    "<sip:tandem@192.0.2.10:5060>;expires=300",
                ),
            ],
        );
        assert!(reg.handle_response(t0, &ok));
        assert!(!reg.handle_response(t0, &ok), "a retransmission is ignored");
        assert_eq!(
            reg.poll_event(),
            Some(RegistrationEvent::Registered { expires: 300 })
        );
        assert!(reg.is_registered(t0 + secs(299)));
        assert!(!reg.is_registered(t0 + secs(300)));
        assert_eq!(reg.poll_timeout(), Some(t0 + secs(150)));
        reg.handle_timeout(t0 + secs(149));
        assert!(reg.poll_request().is_none());
        reg.handle_timeout(t0 + secs(150));
        let refresh = reg.poll_request().unwrap();
        assert_eq!(refresh.headers.call_id(), Ok("reg-1@192.0.2.10"));
        assert_eq!(refresh.headers.cseq().unwrap().seq, 2);
        // A 200 without our Contact listed: the Expires header decides.
        assert!(reg.handle_response(
            t0 + secs(151),
            &answer(&refresh, 200, &[(HeaderName::Expires, "100")])
        ));
        assert_eq!(reg.poll_timeout(), Some(t0 + secs(151 + 50)));
    }

    #[test]
    fn interval_too_brief_is_retried_with_min_expires() {
        let t0 = origin();
        let mut reg = Registration::new(config(), None, [0; 32]);
        let first = reg.poll_request().unwrap();
        reg.handle_response(
            t0,
            &answer(&first, 423, &[(HeaderName::MinExpires, "1800")]),
        );
        let retry = reg.poll_request().unwrap();
        assert_eq!(retry.headers.expires(), Ok(Some(1800)));
        assert_eq!(retry.headers.cseq().unwrap().seq, 2);
        assert_eq!(reg.requested_expires(), 1800);
        // A 423 that does not raise the interval is a failure, not a loop.
        reg.handle_response(t0, &answer(&retry, 423, &[(HeaderName::MinExpires, "60")]));
        assert!(matches!(reg.state(), RegistrationState::ExpectRetry { .. }));
    }

    #[test]
    fn failures_back_off_doubling_up_to_the_bound_and_honour_retry_after() {
        let t0 = origin();
        let mut reg = Registration::new(config(), None, [0; 32]);
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..9 {
            let r = reg.poll_request().unwrap();
            reg.handle_response(now, &answer(&r, 500, &[]));
            let at = reg.poll_timeout().unwrap();
            delays.push((at - now).as_secs());
            assert!(matches!(
                reg.poll_event(),
                Some(RegistrationEvent::Failed { status: Some(s), retry_at: Some(_) }) if s.as_u16() == 500
            ));
            now = at;
            reg.handle_timeout(now);
        }
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
        let r = reg.poll_request().unwrap();
        reg.handle_response(now, &answer(&r, 503, &[(HeaderName::RetryAfter, "17")]));
        assert_eq!(reg.poll_timeout(), Some(now + secs(17)));
        reg.handle_timeout(now + secs(17));
        reg.poll_request().unwrap();
        reg.handle_transaction_failure(now + secs(50));
        assert_eq!(
            reg.poll_event(),
            Some(RegistrationEvent::Failed {
                status: Some(StatusCode::SERVICE_UNAVAILABLE),
                retry_at: Some(now + secs(17))
            })
        );
        assert!(matches!(
            reg.poll_event(),
            Some(RegistrationEvent::Failed { status: None, .. })
        ));
    }

    #[test]
    fn unregister_sends_expires_zero_after_the_outstanding_register_and_stops() {
        let t0 = origin();
        let mut reg = Registration::new(config(), None, [0; 32]);
        let first = reg.poll_request().unwrap();
        reg.unregister(t0);
        assert!(
            reg.poll_request().is_none(),
            "waits for the outstanding one"
        );
        reg.handle_response(t0, &answer(&first, 200, &[(HeaderName::Expires, "600")]));
        let bye = reg.poll_request().unwrap();
        assert_eq!(bye.headers.expires(), Ok(Some(0)));
        assert_eq!(bye.headers.cseq().unwrap().seq, 2);
        reg.handle_response(t0, &answer(&bye, 200, &[]));
        assert_eq!(reg.state(), RegistrationState::Stopped);
        assert!(!reg.is_registered(t0));
        assert_eq!(reg.poll_timeout(), None);
        let events: Vec<_> = std::iter::from_fn(|| reg.poll_event()).collect();
        assert_eq!(
            events,
            [
                RegistrationEvent::Registered { expires: 600 },
                RegistrationEvent::Unregistered
            ]
        );
        // Never sent anything: stopping is immediate.
        let mut idle = Registration::new(config(), None, [0; 32]);
        idle.unregister(t0);
        assert_eq!(idle.state(), RegistrationState::Stopped);
        assert!(idle.poll_request().is_none());
    }

    #[test]
    fn challenge_without_credentials_is_an_authentication_failure() {
        let t0 = origin();
        let mut reg = Registration::new(config(), None, [0; 32]);
        let r = reg.poll_request().unwrap();
        reg.handle_response(
            t0,
            &answer(
                &r,
                401,
                &[(
                    HeaderName::WwwAuthenticate,
                    "Digest realm=\"x\", nonce=\"n\"",
                )],
            ),
        );
        assert_eq!(
            reg.poll_event(),
            Some(RegistrationEvent::AuthenticationFailed {
                status: StatusCode::UNAUTHORIZED
            })
        );
        assert!(matches!(reg.state(), RegistrationState::ExpectRetry { .. }));
    }

    #[test]
    fn refresh_delay_is_the_sooner_of_half_and_thirty_seconds_early() {
        assert_eq!(refresh_delay(3600), secs(1800));
        assert_eq!(refresh_delay(60), secs(30));
        assert_eq!(refresh_delay(40), secs(10));
        assert_eq!(refresh_delay(30), secs(15));
        assert_eq!(refresh_delay(1), secs(1));
        assert_eq!(refresh_delay(0), secs(1));
        for e in 1..5000 {
            let d = refresh_delay(e).as_secs();
            assert!(d >= 1 && (d < u64::from(e) || e == 1), "{e}");
        }
    }
}
