//! Outbound registration against Tandem's own registrar behind digest authentication, in
//! virtual time: every message crosses the "wire" (printed and parsed again).

use std::time::{Duration, Instant};

use tandem_sip::auth::{
    DigestClient, DigestRequest, DigestVerifier, NextStep, UserSecret, VerifierConfig,
};
use tandem_sip::dialog::{
    Backoff, Registrar, RegistrarConfig, Registration, RegistrationConfig, RegistrationEvent,
    RegistrationState,
};
use tandem_sip::message::{HeaderName, Message, NameAddr, Request, Response, StatusCode, Uri};

/// The origin of virtual time: only offsets from it matter.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

/// A registrar that challenges with digest, then registers: what the server will wire.
struct Server {
    verifier: DigestVerifier,
    registrar: Registrar,
    password: &'static str,
    t0: Instant,
    salt: u8,
    stale_challenges: u32,
}

impl Server {
    fn new(t0: Instant, config: RegistrarConfig) -> Self {
        Self {
            verifier: DigestVerifier::new(&[42; 32], VerifierConfig::new("tandem")).unwrap(),
            registrar: Registrar::new(config),
            password: "secret",
            t0,
            salt: 0,
            stale_challenges: 0,
        }
    }

    /// The verifier's clock: Unix-like seconds derived from virtual time.
    fn unix(&self, now: Instant) -> Duration {
        Duration::from_secs(1_700_000_000) + (now - self.t0)
    }

    fn handle(&mut self, now: Instant, request: &Request) -> Response {
        let uri = request.uri.to_string();
        let digest_request = DigestRequest {
            method: "REGISTER",
            uri: &uri,
            body: &request.body,
        };
        let outcome = match self
            .verifier
            .find_credentials(request.headers.values(HeaderName::Authorization))
        {
            Some(Ok(credentials)) if credentials.username == "tandem" => self
                .verifier
                .verify(
                    self.unix(now),
                    &credentials,
                    &digest_request,
                    UserSecret::Password(self.password),
                )
                .map(drop)
                .map_err(|rejection| rejection.next_step() == NextStep::ChallengeStale),
            _ => Err(false),
        };
        if let Err(stale) = outcome {
            self.salt = self.salt.wrapping_add(1);
            self.stale_challenges += u32::from(stale);
            let mut r = Response::from_request(request, StatusCode::UNAUTHORIZED);
            r.set_to_tag("reg").unwrap();
            for c in self
                .verifier
                .challenges(self.unix(now), [self.salt; 8], stale)
            {
                r.headers.push(HeaderName::WwwAuthenticate, c);
            }
            return r;
        }
        self.registrar.handle_register(now, request, "reg")
    }
}

fn wire_request(mut r: Request, branch: u32) -> Request {
    r.headers.push_front(
        HeaderName::Via,
        format!("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{branch}"),
    );
    r.validate().unwrap();
    Request::parse(&Message::from(r).to_bytes()).unwrap()
}

fn wire_response(r: Response) -> Response {
    r.validate().unwrap();
    Response::parse(&Message::from(r).to_bytes()).unwrap()
}

fn config() -> RegistrationConfig {
    RegistrationConfig {
        registrar: Uri::parse("sip:tandem.example").unwrap(),
        aor: NameAddr::parse("<sip:tandem@tandem.example>").unwrap(),
        contact: NameAddr::parse("<sip:tandem@192.0.2.10:5060>").unwrap(),
        expires: 3600,
        call_id: "reg-42@192.0.2.10".into(),
        from_tag: "c1".into(),
        backoff: Backoff::default(),
    }
}

/// Sends every ready REGISTER through the server until none is ready; returns how many.
fn exchange(now: Instant, client: &mut Registration, server: &mut Server, branch: &mut u32) -> u32 {
    let mut sent = 0;
    while let Some(request) = client.poll_request() {
        *branch += 1;
        sent += 1;
        let request = wire_request(request, *branch);
        let response = wire_response(server.handle(now, &request));
        assert!(client.handle_response(now, &response));
        assert!(sent < 10, "no loop");
    }
    sent
}

#[test]
fn registers_through_a_challenge_refreshes_and_unregisters() {
    let t0 = origin();
    let mut server = Server::new(t0, RegistrarConfig::default());
    let credentials = DigestClient::new("tandem", "secret").unwrap();
    let mut client = Registration::new(config(), Some(credentials), [3; 32]);
    let mut branch = 0;

    // REGISTER → 401 → REGISTER with Authorization → 200.
    assert_eq!(exchange(t0, &mut client, &mut server, &mut branch), 2);
    assert_eq!(
        client.poll_event(),
        Some(RegistrationEvent::Registered { expires: 3600 })
    );
    let aor = Uri::parse("sip:tandem@tandem.example").unwrap();
    let bindings = server.registrar.lookup(t0, &aor);
    assert_eq!(bindings.len(), 1);
    assert_eq!(
        bindings[0].contact.to_string(),
        "<sip:tandem@192.0.2.10:5060>"
    );

    // The refresh at half the interval: the nonce (300 s lifetime) is stale by then, so the
    // registrar challenges with stale=true and the client answers without giving up.
    let t1 = client.poll_timeout().unwrap();
    assert_eq!(t1, t0 + Duration::from_secs(1800));
    client.handle_timeout(t1);
    assert_eq!(exchange(t1, &mut client, &mut server, &mut branch), 2);
    assert_eq!(server.stale_challenges, 1);
    assert!(matches!(
        client.poll_event(),
        Some(RegistrationEvent::Registered { expires: 3600 })
    ));
    assert_eq!(server.registrar.lookup(t1, &aor)[0].expires, 3600);

    // Shutdown: Expires: 0 removes the binding.
    client.unregister(t1);
    assert_eq!(exchange(t1, &mut client, &mut server, &mut branch), 1);
    assert_eq!(client.poll_event(), Some(RegistrationEvent::Unregistered));
    assert_eq!(client.state(), RegistrationState::Stopped);
    assert!(server.registrar.lookup(t1, &aor).is_empty());
    assert!(server.registrar.is_empty());
}

#[test]
fn wrong_password_stops_after_one_answered_challenge_and_backs_off() {
    let t0 = origin();
    let mut server = Server::new(t0, RegistrarConfig::default());
    server.password = "other";
    let credentials = DigestClient::new("tandem", "secret").unwrap();
    let mut client = Registration::new(config(), Some(credentials), [3; 32]);
    let mut branch = 0;
    assert_eq!(exchange(t0, &mut client, &mut server, &mut branch), 2);
    assert_eq!(
        client.poll_event(),
        Some(RegistrationEvent::AuthenticationFailed {
            status: StatusCode::UNAUTHORIZED
        })
    );
    assert!(matches!(
        client.poll_event(),
        Some(RegistrationEvent::Failed {
            retry_at: Some(_),
            ..
        })
    ));
    assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    assert!(server.registrar.is_empty());
}

#[test]
fn registrar_minimum_is_learnt_from_423() {
    let t0 = origin();
    let mut server = Server::new(
        t0,
        RegistrarConfig {
            min_expires: 1200,
            ..RegistrarConfig::default()
        },
    );
    let credentials = DigestClient::new("tandem", "secret").unwrap();
    let mut cfg = config();
    cfg.expires = 300;
    let mut client = Registration::new(cfg, Some(credentials), [9; 32]);
    let mut branch = 0;
    // 401, then 423, then 200 (the nonce is reused with nc=2 for the third request).
    assert_eq!(exchange(t0, &mut client, &mut server, &mut branch), 3);
    assert_eq!(
        client.poll_event(),
        Some(RegistrationEvent::Registered { expires: 1200 })
    );
    assert_eq!(client.requested_expires(), 1200);
    assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(600)));
    assert_eq!(server.stale_challenges, 0);
}

#[test]
fn refresh_within_the_nonce_lifetime_is_authorized_preemptively() {
    let t0 = origin();
    let mut server = Server::new(t0, RegistrarConfig::default());
    let credentials = DigestClient::new("tandem", "secret").unwrap();
    let mut cfg = config();
    cfg.expires = 120;
    let mut client = Registration::new(cfg, Some(credentials), [1; 32]);
    let mut branch = 0;
    assert_eq!(exchange(t0, &mut client, &mut server, &mut branch), 2);
    for _ in 0..2 {
        let at = client.poll_timeout().unwrap();
        client.handle_timeout(at);
        assert_eq!(exchange(at, &mut client, &mut server, &mut branch), 1);
    }
    assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(180)));
    let events: Vec<_> = std::iter::from_fn(|| client.poll_event()).collect();
    assert_eq!(
        events,
        vec![RegistrationEvent::Registered { expires: 120 }; 3]
    );
}
