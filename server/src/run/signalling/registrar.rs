//! Tandem as a registrar and as an authenticating UAS for its configured `[[endpoints]]`:
//! REGISTER with digest authentication (RFC 3261 §10.3, §22; RFC 8760), the bindings it
//! creates ([`Registrar::contacts_for`]), and the digest check of INVITEs from endpoints
//! ([`Registrar::authenticate`]).
//!
//! # Contract for the signalling loop
//!
//! - `REGISTER` (a new server transaction): send what [`Registrar::handle_register`] returns.
//! - `INVITE` (new, out of dialog): call [`Registrar::authenticate`]; `Ok(None)` means the
//!   caller is not a configured endpoint and needs no credentials, `Ok(Some(identity))` that
//!   it proved who it is, `Err(response)` is the 401/403/400 to send instead of handling the
//!   call.
//! - Now and then (at [`Registrar::poll_timeout`]): [`Registrar::handle_timeout`] drops
//!   expired bindings. Lookups ignore expired bindings anyway, so this only frees memory.
//!
//! Sans-IO: time is the caller's `Instant`; nonces are keyed by a secret drawn once at
//! construction.
//!
//! # Policy
//!
//! - Only configured endpoints may register, and only for themselves: the To user must be an
//!   endpoint (else 404), and the digest username must be that endpoint (else 403).
//! - Challenges name only MD5 (baresip 1.0 gives up on a 401 that names SHA-256; see
//!   [`tandem_sip::auth::DigestVerifier`]'s interop note); credentials with `qop=auth` or
//!   without qop are accepted.
//! - A wrong password is 403 (the client must not retry with the same secret); an expired
//!   nonce is 401 with `stale=true`; malformed credentials are 400.
//! - Bindings live in `tandem-sip`'s [`dialog::Registrar`](SipRegistrar) (expiry limits,
//!   Call-ID/CSeq ordering, per-AOR and total limits).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use tandem_sip::auth::{
    Algorithm, DigestRequest, DigestVerifier, NONCE_SALT_LEN, NextStep, Rejection, UserSecret,
    VerifierConfig,
};
use tandem_sip::dialog::{Registrar as SipRegistrar, RegistrarConfig};
use tandem_sip::message::{HeaderName, Method, Request, Response, StatusCode, Uri};

use crate::run::config::{Config, Endpoint};

/// Where a call for a user part can reach that user, as far as the registrar knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A configured endpoint with current bindings: its contacts, most recent last.
    Registered(Vec<Uri>),
    /// A configured endpoint with no current binding (RFC 3261 §21.4.18: 480).
    Unregistered,
    /// Not a configured endpoint (404).
    Unknown,
}

/// Who a request came from, once its digest credentials verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointIdentity {
    /// The endpoint's username (its `[[endpoints]] username`).
    pub username: String,
    /// The realm it authenticated in.
    pub realm: String,
}

/// The registrar and digest authenticator of `tandem run`. See the module docs.
#[derive(Debug)]
pub struct Registrar {
    /// Each endpoint with the realm it authenticates in.
    endpoints: Vec<(Endpoint, String)>,
    /// One verifier per realm endpoints use, keyed by realm.
    verifiers: HashMap<String, DigestVerifier>,
    /// The realm of each endpoint, by username (usernames are unique per realm; the first
    /// endpoint with a username wins the To-user lookup).
    realms: HashMap<String, String>,
    bindings: SipRegistrar,
    /// The last address of record each user registered, for [`Self::contacts_for`].
    aors: HashMap<String, Uri>,
    /// The origin of the verifiers' clock.
    origin: Instant,
}

/// 64 unpredictable bits, from the standard library's per-process random hash keys (enough
/// for tags and nonce salts; nothing here is a long-lived key).
fn random_u64() -> u64 {
    RandomState::new().hash_one(0u8)
}

impl Registrar {
    /// A registrar for `config`'s endpoints, with nonces timed from `now`.
    ///
    /// Endpoints whose realm the digest layer refuses (control characters) cannot register
    /// and are logged once here.
    pub fn new(config: &Config, now: Instant) -> Self {
        let mut secret = [0u8; 32];
        for chunk in secret.chunks_mut(8) {
            chunk.copy_from_slice(&random_u64().to_le_bytes());
        }
        let mut verifiers = HashMap::new();
        let mut realms = HashMap::new();
        for endpoint in &config.endpoints {
            let realm = config.realm_of(endpoint).to_owned();
            realms
                .entry(endpoint.username.clone())
                .or_insert_with(|| realm.clone());
            if verifiers.contains_key(&realm) {
                continue;
            }
            let verifier_config = VerifierConfig {
                algorithms: vec![Algorithm::Md5],
                ..VerifierConfig::new(realm.clone())
            };
            match DigestVerifier::new(&secret, verifier_config) {
                Ok(v) => {
                    verifiers.insert(realm, v);
                }
                Err(e) => {
                    tracing::warn!(realm = %realm, "endpoints of this realm cannot authenticate: {e}")
                }
            }
        }
        Self {
            endpoints: config
                .endpoints
                .iter()
                .map(|e| (e.clone(), config.realm_of(e).to_owned()))
                .collect(),
            verifiers,
            realms,
            bindings: SipRegistrar::new(RegistrarConfig::default()),
            aors: HashMap::new(),
            origin: now,
        }
    }

    /// The verifiers' clock: seconds since construction (any epoch works, RFC 7616 nonces
    /// only compare times issued by the same verifier).
    fn clock(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.origin)
    }

    fn endpoint(&self, username: &str, realm: &str) -> Option<&Endpoint> {
        self.endpoints
            .iter()
            .find(|(e, r)| e.username == username && r == realm)
            .map(|(e, _)| e)
    }

    /// Answers a REGISTER received at `now` from `source` (see the module docs for the
    /// policy). The response carries our To tag.
    pub fn handle_register(
        &mut self,
        now: Instant,
        request: &Request,
        source: std::net::SocketAddr,
    ) -> Response {
        let user = match request.headers.to().map(|to| sip_user(&to.uri)) {
            Ok(Some(user)) => user,
            Ok(None) => return reply(request, StatusCode::NOT_FOUND),
            Err(_) => return reply(request, StatusCode::BAD_REQUEST),
        };
        let Some(realm) = self.realms.get(&user).cloned() else {
            tracing::info!(%source, user = %user, "REGISTER for an unknown user: 404");
            return reply(request, StatusCode::NOT_FOUND);
        };
        let identity = match self.check(now, request, &realm) {
            Ok(identity) => identity,
            Err(response) => return response,
        };
        if identity.username != user {
            tracing::info!(%source, user = %user, as_user = %identity.username, "REGISTER for another user: 403");
            return reply(request, StatusCode::FORBIDDEN);
        }
        let tag = format!("{:016x}", random_u64());
        let response = self.bindings.handle_register(now, request, &tag);
        if response.status.is_success() {
            if let Ok(to) = request.headers.to() {
                let bound = self.bindings.lookup(now, &to.uri).len();
                tracing::info!(%source, user = %user, bindings = bound, "registered");
                self.aors.insert(user, to.uri);
            }
        }
        response
    }

    /// Checks the digest credentials of an out-of-dialog request (an INVITE) whose From user
    /// is a configured endpoint.
    ///
    /// `Ok(None)`: From is not an endpoint, no credentials are needed. `Ok(Some(identity))`:
    /// the credentials verified. `Err(response)`: send it instead (401 with challenges, 403
    /// for a wrong password or another user's credentials, 400 for malformed credentials).
    ///
    /// # Errors
    ///
    /// The response to send, as above.
    pub fn authenticate(
        &mut self,
        now: Instant,
        request: &Request,
    ) -> Result<Option<EndpointIdentity>, Response> {
        let Some(user) = request
            .headers
            .from()
            .ok()
            .and_then(|from| sip_user(&from.uri))
        else {
            return Ok(None);
        };
        let Some(realm) = self.realms.get(&user).cloned() else {
            return Ok(None);
        };
        let identity = self.check(now, request, &realm)?;
        if identity.username != user {
            return Err(reply(request, StatusCode::FORBIDDEN));
        }
        Ok(Some(identity))
    }

    /// The contacts `user` has registered and that are still current, most recent binding
    /// last. Empty when the user has none.
    pub fn contacts_for(&self, now: Instant, user: &str) -> Vec<Uri> {
        self.aors.get(user).map_or_else(Vec::new, |aor| {
            self.bindings
                .lookup(now, aor)
                .into_iter()
                .map(|b| b.contact.uri)
                .collect()
        })
    }

    /// Where a call to `user` (a request URI's user part) goes: see [`Location`].
    pub fn locate(&self, now: Instant, user: &str) -> Location {
        if !self.realms.contains_key(user) {
            return Location::Unknown;
        }
        let contacts = self.contacts_for(now, user);
        if contacts.is_empty() {
            Location::Unregistered
        } else {
            Location::Registered(contacts)
        }
    }

    /// Bindings held (expired ones included until [`Self::handle_timeout`]).
    pub fn bindings(&self) -> usize {
        self.bindings.len()
    }

    /// When the next binding expires: call [`Self::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings.poll_timeout()
    }

    /// Drops the bindings expired at `now`; returns how many.
    pub fn handle_timeout(&mut self, now: Instant) -> usize {
        let dropped = self.bindings.handle_timeout(now);
        let bindings = &self.bindings;
        self.aors
            .retain(|_, aor| !bindings.lookup(now, aor).is_empty());
        dropped
    }

    /// Verifies the credentials `request` carries for `realm`.
    fn check(
        &mut self,
        now: Instant,
        request: &Request,
        realm: &str,
    ) -> Result<EndpointIdentity, Response> {
        let clock = self.clock(now);
        let Some(verifier) = self.verifiers.get(realm) else {
            return Err(reply(request, StatusCode::FORBIDDEN));
        };
        let values = request.headers.values(HeaderName::Authorization);
        let credentials = match verifier.find_credentials(values) {
            None => return Err(self.challenge(request, realm, clock, false)),
            Some(Err(e)) => {
                tracing::debug!("malformed credentials: {e}");
                return Err(reply(request, StatusCode::BAD_REQUEST));
            }
            Some(Ok(credentials)) => credentials,
        };
        let Some(password) = self
            .endpoint(&credentials.username, realm)
            .map(|e| e.password.clone())
        else {
            tracing::info!(username = %credentials.username, "credentials of an unknown user: 403");
            return Err(reply(request, StatusCode::FORBIDDEN));
        };
        let uri = request.uri.to_string();
        let digest_request = DigestRequest {
            method: request.method.as_str(),
            uri: &uri,
            body: &request.body,
        };
        let verifier = self
            .verifiers
            .get_mut(realm)
            .ok_or_else(|| reply(request, StatusCode::FORBIDDEN))?;
        match verifier.verify(
            clock,
            &credentials,
            &digest_request,
            UserSecret::Password(&password),
        ) {
            Ok(_) => Ok(EndpointIdentity {
                username: credentials.username,
                realm: realm.to_owned(),
            }),
            Err(Rejection::BadResponse) => {
                tracing::info!(username = %credentials.username, "wrong password: 403");
                Err(reply(request, StatusCode::FORBIDDEN))
            }
            Err(rejection) => {
                tracing::debug!(reason = rejection.reason(), "credentials rejected");
                Err(match rejection.next_step() {
                    NextStep::Challenge => self.challenge(request, realm, clock, false),
                    NextStep::ChallengeStale => self.challenge(request, realm, clock, true),
                    NextStep::BadRequest => reply(request, StatusCode::BAD_REQUEST),
                })
            }
        }
    }

    /// A 401 with one `WWW-Authenticate` per offered algorithm (RFC 8760 §2.3).
    fn challenge(&self, request: &Request, realm: &str, clock: Duration, stale: bool) -> Response {
        let mut response = reply(request, StatusCode::UNAUTHORIZED);
        if let Some(verifier) = self.verifiers.get(realm) {
            let salt: [u8; NONCE_SALT_LEN] = random_u64().to_le_bytes();
            for challenge in verifier.challenges(clock, salt, stale) {
                response
                    .headers
                    .push(HeaderName::WwwAuthenticate, challenge);
            }
        }
        response
    }
}

/// The unescaped user part of a SIP URI, if it has one in UTF-8.
fn sip_user(uri: &Uri) -> Option<String> {
    let user = uri.as_sip()?.user_unescaped()?;
    String::from_utf8(user.into_owned()).ok()
}

/// A final response to an out-of-dialog request, with a To tag of ours.
fn reply(request: &Request, status: StatusCode) -> Response {
    let mut response = Response::from_request(request, status);
    // A malformed To leaves the response untagged; it still answers the transaction.
    let _ = response.set_to_tag(&format!("{:016x}", random_u64()));
    if request.method == Method::Register && status == StatusCode::NOT_FOUND {
        response.reason = "Not Found (not a configured endpoint)".to_owned();
    }
    response
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tandem_sip::auth::DigestClient;

    use super::*;

    const CONFIG: &str = r#"
        [[endpoints]]
        username = "alice"
        password = "secret"
        [[endpoints]]
        username = "bob"
        password = "hunter2"
        realm = "other"
    "#;

    fn source() -> SocketAddr {
        "127.0.0.1:5091".parse().unwrap()
    }

    /// The origin of virtual time: only offsets from it matter.
    fn origin() -> Instant {
        Instant::now()
    }

    fn register(user: &str, cseq: u32, extra: &str) -> Request {
        Request::parse(
            format!(
                "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-{cseq}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:{user}@127.0.0.1:5060>;tag=f1\r\n\
                 To: <sip:{user}@127.0.0.1:5060>\r\n\
                 Call-ID: reg-{user}@127.0.0.1\r\n\
                 CSeq: {cseq} REGISTER\r\n\
                 Contact: <sip:{user}-0x55@127.0.0.1:5091>;expires=60\r\n{extra}\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
    }

    /// Answers `response`'s challenge as `client` and returns the request with credentials.
    fn authorized(client: &mut DigestClient, response: &Response, mut request: Request) -> Request {
        client
            .handle_challenge_values(response.headers.values(HeaderName::WwwAuthenticate))
            .unwrap();
        let uri = request.uri.to_string();
        let credentials = client
            .authorize(
                &DigestRequest {
                    method: request.method.as_str(),
                    uri: &uri,
                    body: &request.body,
                },
                &[7; 16],
            )
            .unwrap();
        request.headers.push(HeaderName::Authorization, credentials);
        request
    }

    fn registrar(now: Instant) -> Registrar {
        Registrar::new(&Config::from_toml(CONFIG).unwrap(), now)
    }

    #[test]
    fn an_endpoint_registers_after_an_md5_challenge_and_can_be_found() {
        let t0 = origin();
        let mut reg = registrar(t0);
        let first = reg.handle_register(t0, &register("alice", 1, ""), source());
        assert_eq!(first.status, StatusCode::UNAUTHORIZED);
        let challenges: Vec<&str> = first.headers.values(HeaderName::WwwAuthenticate).collect();
        assert_eq!(challenges.len(), 1, "MD5 only: {challenges:?}");
        assert!(challenges[0].contains("realm=\"tandem\""));
        assert!(challenges[0].contains("algorithm=MD5"));
        assert!(first.headers.to().unwrap().tag().is_some());

        let mut client = DigestClient::new("alice", "secret").unwrap();
        let second = authorized(&mut client, &first, register("alice", 2, ""));
        let ok = reg.handle_register(t0, &second, source());
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(
            ok.headers.first(HeaderName::Contact),
            Some("<sip:alice-0x55@127.0.0.1:5091>;expires=60")
        );
        assert_eq!(
            reg.contacts_for(t0, "alice"),
            [Uri::parse("sip:alice-0x55@127.0.0.1:5091").unwrap()]
        );
        assert!(reg.contacts_for(t0, "bob").is_empty());
        assert_eq!(
            reg.locate(t0, "alice"),
            Location::Registered(vec![Uri::parse("sip:alice-0x55@127.0.0.1:5091").unwrap()])
        );
        assert_eq!(reg.locate(t0, "bob"), Location::Unregistered);
        assert_eq!(reg.locate(t0, "carol"), Location::Unknown);
        assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(reg.handle_timeout(t0 + Duration::from_secs(60)), 1);
        assert!(
            reg.contacts_for(t0 + Duration::from_secs(60), "alice")
                .is_empty()
        );
        // Expired: still a configured endpoint, now unreachable (480, not 404).
        assert_eq!(
            reg.locate(t0 + Duration::from_secs(60), "alice"),
            Location::Unregistered
        );
    }

    /// RFC 3261 §10.2.1.2: a REGISTER may carry several Contacts; each is a binding, and
    /// a call to the user forks to all of them.
    #[test]
    fn two_contacts_in_one_register_are_both_current() {
        let t0 = origin();
        let mut reg = registrar(t0);
        let second_contact = "Contact: <sip:alice-desk@127.0.0.1:5092>;expires=60\r\n";
        let first = reg.handle_register(t0, &register("alice", 1, second_contact), source());
        let mut client = DigestClient::new("alice", "secret").unwrap();
        let second = authorized(&mut client, &first, register("alice", 2, second_contact));
        assert_eq!(
            reg.handle_register(t0, &second, source()).status,
            StatusCode::OK
        );
        let mut contacts: Vec<String> = reg
            .contacts_for(t0, "alice")
            .iter()
            .map(ToString::to_string)
            .collect();
        contacts.sort();
        assert_eq!(
            contacts,
            [
                "sip:alice-0x55@127.0.0.1:5091",
                "sip:alice-desk@127.0.0.1:5092"
            ]
        );
        assert_eq!(reg.bindings(), 2);
    }

    #[test]
    fn a_wrong_password_is_forbidden_and_binds_nothing() {
        let t0 = origin();
        let mut reg = registrar(t0);
        let first = reg.handle_register(t0, &register("alice", 1, ""), source());
        let mut client = DigestClient::new("alice", "wrong").unwrap();
        let second = authorized(&mut client, &first, register("alice", 2, ""));
        let r = reg.handle_register(t0, &second, source());
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(reg.bindings(), 0);
        assert!(reg.contacts_for(t0, "alice").is_empty());
    }

    #[test]
    fn unknown_users_are_not_found_and_others_credentials_forbidden() {
        let t0 = origin();
        let mut reg = registrar(t0);
        let r = reg.handle_register(t0, &register("mallory", 1, ""), source());
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        // bob's valid credentials do not register alice (and bob is in another realm).
        let first = reg.handle_register(t0, &register("bob", 1, ""), source());
        assert!(
            first
                .headers
                .first(HeaderName::WwwAuthenticate)
                .unwrap()
                .contains("realm=\"other\"")
        );
        let mut client = DigestClient::new("bob", "hunter2").unwrap();
        let as_bob = authorized(&mut client, &first, register("bob", 2, ""));
        assert_eq!(
            reg.handle_register(t0, &as_bob, source()).status,
            StatusCode::OK
        );
        let alice_first = reg.handle_register(t0, &register("alice", 1, ""), source());
        let mut client = DigestClient::new("bob", "hunter2").unwrap();
        // Answering alice's (realm tandem) challenge with bob's name: bob is not in tandem.
        let forged = authorized(&mut client, &alice_first, register("alice", 2, ""));
        assert_eq!(
            reg.handle_register(t0, &forged, source()).status,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn an_expired_nonce_is_challenged_again_as_stale() {
        let t0 = origin();
        let mut reg = registrar(t0);
        let first = reg.handle_register(t0, &register("alice", 1, ""), source());
        let mut client = DigestClient::new("alice", "secret").unwrap();
        let late = authorized(&mut client, &first, register("alice", 2, ""));
        let later = t0 + VerifierConfig::DEFAULT_NONCE_LIFETIME + Duration::from_secs(5);
        let r = reg.handle_register(later, &late, source());
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(
            r.headers
                .first(HeaderName::WwwAuthenticate)
                .unwrap()
                .contains("stale=TRUE")
        );
        // The client answers the stale challenge without asking anyone.
        let again = authorized(&mut client, &r, register("alice", 3, ""));
        assert_eq!(
            reg.handle_register(later, &again, source()).status,
            StatusCode::OK
        );
    }

    fn invite(from: &str, extra: &str) -> Request {
        Request::parse(
            format!(
                "INVITE sip:conf-x@127.0.0.1:5060 SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 127.0.0.1:5091;branch=z9hG4bK-i\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:{from}@127.0.0.1:5060>;tag=f1\r\n\
                 To: <sip:conf-x@127.0.0.1:5060>\r\n\
                 Call-ID: call-1@127.0.0.1\r\n\
                 CSeq: 1 INVITE\r\n\
                 Contact: <sip:{from}@127.0.0.1:5091>\r\n{extra}\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn invites_from_endpoints_need_credentials_others_do_not() {
        let t0 = origin();
        let mut reg = registrar(t0);
        assert_eq!(reg.authenticate(t0, &invite("sipp", "")), Ok(None));
        let challenge = reg.authenticate(t0, &invite("alice", "")).unwrap_err();
        assert_eq!(challenge.status, StatusCode::UNAUTHORIZED);
        let mut client = DigestClient::new("alice", "secret").unwrap();
        let retry = authorized(&mut client, &challenge, invite("alice", ""));
        assert_eq!(
            reg.authenticate(t0, &retry),
            Ok(Some(EndpointIdentity {
                username: "alice".into(),
                realm: "tandem".into()
            }))
        );
        // The same credentials again: nc=1 replayed, challenged afresh.
        assert_eq!(
            reg.authenticate(t0, &retry).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        let bad = retry.clone();
        let mut bad = bad;
        bad.headers.set(
            HeaderName::Authorization,
            "Digest realm=\"tandem\", username=",
        );
        assert_eq!(
            reg.authenticate(t0, &bad).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
