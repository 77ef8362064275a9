//! A `DigestClient` registering with a `DigestVerifier` in virtual time: header values go
//! between them as strings, as they would inside SIP messages; the clock is a `Duration`.

use std::time::Duration;

use tandem_sip::auth::{
    Algorithm, AuthKind, Challenge, ClientError, Credentials, DigestClient, DigestRequest,
    DigestVerifier, Ha1, HashFunction, NextStep, NonceCount, Qop, QopOptions, Rejection,
    UserSecret, VerifierConfig,
};

const SECRET: [u8; 32] = [0x42; 32];
const REGISTER: DigestRequest<'static> = DigestRequest {
    method: "REGISTER",
    uri: "sip:tandem.example",
    body: b"",
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(1_700_000_000 + s)
}

/// Deterministic per-call "randomness" for salts and cnonces.
struct Entropy(u64);
impl Entropy {
    fn next(&mut self) -> [u8; 8] {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0.to_be_bytes()
    }
}

struct Harness {
    registrar: DigestVerifier,
    client: DigestClient,
    entropy: Entropy,
}

impl Harness {
    fn new(config: VerifierConfig, password: &str) -> Self {
        Self {
            registrar: DigestVerifier::new(&SECRET, config).unwrap(),
            client: DigestClient::new("alice", password).unwrap(),
            entropy: Entropy(7),
        }
    }

    /// The registrar's 401: one header value per challenge.
    fn challenge(&mut self, now: Duration, stale: bool) -> Vec<String> {
        let salt = self.entropy.next();
        self.registrar
            .challenges(now, salt, stale)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn client_handles(&mut self, values: &[String]) -> Result<(), ClientError> {
        self.client
            .handle_challenge_values(values.iter().map(String::as_str))
    }

    fn client_authorizes(&mut self, request: &DigestRequest<'_>) -> String {
        let cnonce = self.entropy.next();
        self.client.authorize(request, &cnonce).unwrap().to_string()
    }

    fn registrar_checks(
        &mut self,
        now: Duration,
        authorization: &str,
        request: &DigestRequest<'_>,
    ) -> Result<Credentials, Rejection> {
        let credentials = self
            .registrar
            .find_credentials([authorization])
            .unwrap()
            .unwrap();
        self.registrar
            .verify(now, &credentials, request, UserSecret::Password("secret"))
            .map(|_| credentials)
    }
}

#[test]
fn registers_with_sha256_by_default_and_reuses_the_nonce_with_increasing_nc() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "secret");
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let first = h.client_authorizes(&REGISTER);
    let credentials = h.registrar_checks(secs(1), &first, &REGISTER).unwrap();
    assert_eq!(credentials.algorithm, Algorithm::Sha256);
    assert_eq!(credentials.nc, Some(NonceCount(1)));
    // Re-registration 60 s later, preemptively, with the same nonce.
    let refresh = h.client_authorizes(&REGISTER);
    let credentials = h.registrar_checks(secs(61), &refresh, &REGISTER).unwrap();
    assert_eq!(credentials.nc, Some(NonceCount(2)));
}

#[test]
fn an_expired_nonce_is_stale_and_the_client_retries_without_new_credentials() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "secret");
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let first = h.client_authorizes(&REGISTER);
    h.registrar_checks(secs(0), &first, &REGISTER).unwrap();
    let late = h.client_authorizes(&REGISTER);
    let rejection = h.registrar_checks(secs(301), &late, &REGISTER).unwrap_err();
    assert_eq!(rejection, Rejection::StaleNonce);
    assert_eq!(rejection.next_step(), NextStep::ChallengeStale);
    let stale = h.challenge(secs(301), true);
    assert!(stale[0].contains("stale=TRUE"));
    h.client_handles(&stale).unwrap();
    let retry = h.client_authorizes(&REGISTER);
    let credentials = h.registrar_checks(secs(302), &retry, &REGISTER).unwrap();
    assert_eq!(credentials.nc, Some(NonceCount(1)));
}

#[test]
fn an_expired_nonce_with_a_wrong_password_is_a_bad_response_not_stale() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "wrong");
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let authorization = h.client_authorizes(&REGISTER);
    assert_eq!(
        h.registrar_checks(secs(1_000), &authorization, &REGISTER),
        Err(Rejection::BadResponse)
    );
}

#[test]
fn a_wrong_password_is_rejected_and_the_client_stops_instead_of_looping() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "wrong");
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let authorization = h.client_authorizes(&REGISTER);
    let rejection = h
        .registrar_checks(secs(1), &authorization, &REGISTER)
        .unwrap_err();
    assert_eq!(rejection, Rejection::BadResponse);
    assert_eq!(rejection.next_step(), NextStep::Challenge);
    let again = h.challenge(secs(1), false);
    assert_eq!(
        h.client_handles(&again),
        Err(ClientError::CredentialsRejected)
    );
}

#[test]
fn a_nonce_from_a_previous_secret_is_forged_and_the_client_answers_the_new_challenge() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "secret");
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let first = h.client_authorizes(&REGISTER);
    h.registrar_checks(secs(0), &first, &REGISTER).unwrap();
    // The registrar restarts with a new secret.
    h.registrar = DigestVerifier::new(&[0x17; 32], VerifierConfig::new("tandem")).unwrap();
    let reused = h.client_authorizes(&REGISTER);
    let rejection = h
        .registrar_checks(secs(60), &reused, &REGISTER)
        .unwrap_err();
    assert_eq!(rejection, Rejection::ForgedNonce);
    // Not stale, but the client had reused the nonce (nc=2): it tries once more.
    let fresh = h.challenge(secs(60), false);
    h.client_handles(&fresh).unwrap();
    let retry = h.client_authorizes(&REGISTER);
    h.registrar_checks(secs(60), &retry, &REGISTER).unwrap();
}

#[test]
fn a_nonce_made_up_by_the_client_is_forged() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "secret");
    let made_up = Challenge::new("tandem", "deadbeef", Algorithm::Sha256, QopOptions::AUTH);
    h.client.handle_challenge(made_up).unwrap();
    let authorization = h.client_authorizes(&REGISTER);
    assert_eq!(
        h.registrar_checks(secs(0), &authorization, &REGISTER),
        Err(Rejection::ForgedNonce)
    );
}

#[test]
fn replayed_credentials_are_refused_but_out_of_order_counts_are_accepted() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "secret");
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let one = h.client_authorizes(&REGISTER);
    let two = h.client_authorizes(&REGISTER);
    let three = h.client_authorizes(&REGISTER);
    h.registrar_checks(secs(1), &one, &REGISTER).unwrap();
    h.registrar_checks(secs(1), &three, &REGISTER).unwrap();
    h.registrar_checks(secs(1), &two, &REGISTER).unwrap();
    assert_eq!(
        h.registrar_checks(secs(2), &two, &REGISTER),
        Err(Rejection::NonceCountReplay { nc: NonceCount(2) })
    );
}

#[test]
fn a_replay_is_refused_even_after_the_window_forgot_its_nonce() {
    let config = VerifierConfig {
        replay_capacity: 1,
        ..VerifierConfig::new("tandem")
    };
    let mut h = Harness::new(config, "secret");
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let first = h.client_authorizes(&REGISTER);
    h.registrar_checks(secs(0), &first, &REGISTER).unwrap();
    // Another client's nonce pushes alice's out of the one-entry window.
    let mut bob = Harness::new(VerifierConfig::new("tandem"), "secret");
    bob.entropy = Entropy(99);
    let bob_challenge = bob.challenge(secs(5), false);
    bob.client_handles(&bob_challenge).unwrap();
    let bob_auth = bob.client_authorizes(&REGISTER);
    h.registrar_checks(secs(5), &bob_auth, &REGISTER).unwrap();
    let rejection = h.registrar_checks(secs(6), &first, &REGISTER).unwrap_err();
    assert_eq!(rejection, Rejection::ReplayStateLost);
    assert_eq!(rejection.next_step(), NextStep::ChallengeStale);
}

#[test]
fn credentials_for_another_realm_are_not_ours() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "secret");
    let other = Challenge::new("elsewhere", "n", Algorithm::Md5, QopOptions::AUTH);
    h.client.handle_challenge(other).unwrap();
    let authorization = h.client_authorizes(&REGISTER);
    assert!(
        h.registrar
            .find_credentials([authorization.as_str()])
            .is_none()
    );
    let credentials = Credentials::parse(&authorization).unwrap();
    assert_eq!(
        h.registrar.verify(
            secs(0),
            &credentials,
            &REGISTER,
            UserSecret::Password("secret")
        ),
        Err(Rejection::RealmMismatch)
    );
}

#[test]
fn find_credentials_skips_other_schemes_and_realms_and_reports_malformed_ones() {
    let h = Harness::new(VerifierConfig::new("tandem"), "secret");
    let ours = r#"Digest username="a", realm="tandem", nonce="n", uri="u", response="00""#;
    let theirs = r#"Digest username="a", realm="proxy", nonce="n", uri="u", response="00""#;
    let found = h
        .registrar
        .find_credentials(["Bearer abc", theirs, ours])
        .unwrap()
        .unwrap();
    assert_eq!(found.realm, "tandem");
    assert!(
        h.registrar
            .find_credentials(["Bearer abc", theirs])
            .is_none()
    );
    assert!(matches!(
        h.registrar.find_credentials([r#"Digest username="a"#]),
        Some(Err(_))
    ));
}

#[test]
fn an_md5_only_registrar_refuses_sha256_credentials() {
    let config = VerifierConfig {
        algorithms: vec![Algorithm::Md5],
        ..VerifierConfig::new("tandem")
    };
    let mut h = Harness::new(config, "secret");
    let nonce = h.registrar.issue_nonce(secs(0), [0; 8]);
    let sha = Challenge::new("tandem", nonce, Algorithm::Sha256, QopOptions::AUTH);
    h.client.handle_challenge(sha).unwrap();
    let authorization = h.client_authorizes(&REGISTER);
    assert_eq!(
        h.registrar_checks(secs(0), &authorization, &REGISTER),
        Err(Rejection::AlgorithmNotOffered(Algorithm::Sha256))
    );
}

#[test]
fn qop_policy_is_enforced() {
    let config = VerifierConfig {
        require_qop: true,
        ..VerifierConfig::new("tandem")
    };
    let mut h = Harness::new(config, "secret");
    let nonce = h.registrar.issue_nonce(secs(0), [0; 8]);
    let rfc2069 = Challenge::new("tandem", nonce.clone(), Algorithm::Sha256, QopOptions::NONE);
    h.client.handle_challenge(rfc2069).unwrap();
    let authorization = h.client_authorizes(&REGISTER);
    assert_eq!(
        h.registrar_checks(secs(0), &authorization, &REGISTER),
        Err(Rejection::QopRequired)
    );
    h.client.reset();
    let auth_int = QopOptions {
        auth: false,
        auth_int: true,
    };
    let int_only = Challenge::new("tandem", nonce, Algorithm::Sha256, auth_int);
    h.client.handle_challenge(int_only).unwrap();
    let authorization = h.client_authorizes(&REGISTER);
    assert_eq!(
        h.registrar_checks(secs(0), &authorization, &REGISTER),
        Err(Rejection::QopNotOffered(Qop::AuthInt))
    );
}

#[test]
fn auth_int_binds_the_body() {
    let config = VerifierConfig {
        qop: QopOptions {
            auth: false,
            auth_int: true,
        },
        ..VerifierConfig::new("tandem")
    };
    let mut h = Harness::new(config, "secret");
    let invite = DigestRequest {
        method: "INVITE",
        uri: "sip:echo@tandem.example",
        body: b"v=0\r\nm=audio 10100 RTP/AVP 0\r\n",
    };
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let authorization = h.client_authorizes(&invite);
    let swapped_body = DigestRequest {
        body: b"v=0\r\nm=audio 6666 RTP/AVP 0\r\n",
        ..invite
    };
    assert_eq!(
        h.registrar_checks(secs(0), &authorization, &swapped_body),
        Err(Rejection::BadResponse)
    );
    let credentials = h
        .registrar_checks(secs(0), &authorization, &invite)
        .unwrap();
    assert_eq!(credentials.qop, Some(Qop::AuthInt));
}

#[test]
fn the_method_is_covered() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "secret");
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let authorization = h.client_authorizes(&REGISTER);
    let as_invite = DigestRequest {
        method: "INVITE",
        ..REGISTER
    };
    assert_eq!(
        h.registrar_checks(secs(0), &authorization, &as_invite),
        Err(Rejection::BadResponse)
    );
}

#[test]
fn request_uri_check_is_opt_in() {
    let moved = DigestRequest {
        uri: "sip:registrar.internal",
        ..REGISTER
    };
    let mut lenient = Harness::new(VerifierConfig::new("tandem"), "secret");
    let challenge = lenient.challenge(secs(0), false);
    lenient.client_handles(&challenge).unwrap();
    let authorization = lenient.client_authorizes(&REGISTER);
    lenient
        .registrar_checks(secs(0), &authorization, &moved)
        .unwrap();

    let config = VerifierConfig {
        check_request_uri: true,
        ..VerifierConfig::new("tandem")
    };
    let mut strict = Harness::new(config, "secret");
    let challenge = strict.challenge(secs(0), false);
    strict.client_handles(&challenge).unwrap();
    let authorization = strict.client_authorizes(&REGISTER);
    let rejection = strict
        .registrar_checks(secs(0), &authorization, &moved)
        .unwrap_err();
    assert_eq!(rejection, Rejection::UriMismatch);
    assert_eq!(rejection.next_step(), NextStep::BadRequest);
    strict
        .registrar_checks(secs(0), &authorization, &REGISTER)
        .unwrap();
}

#[test]
fn stored_ha1_values_verify_each_algorithm_and_a_missing_one_is_reported() {
    let mut h = Harness::new(VerifierConfig::new("tandem"), "secret");
    let challenge = h.challenge(secs(0), false);
    h.client_handles(&challenge).unwrap();
    let authorization = h.client_authorizes(&REGISTER);
    let credentials = Credentials::parse(&authorization).unwrap();
    let md5_only = [Ha1::from_password(
        HashFunction::Md5,
        "alice",
        "tandem",
        "secret",
    )];
    assert_eq!(
        h.registrar
            .verify(secs(0), &credentials, &REGISTER, UserSecret::Ha1(&md5_only)),
        Err(Rejection::NoHa1ForAlgorithm(Algorithm::Sha256))
    );
    let both = [
        md5_only[0],
        Ha1::from_password(HashFunction::Sha256, "alice", "tandem", "secret"),
    ];
    h.registrar
        .verify(secs(0), &credentials, &REGISTER, UserSecret::Ha1(&both))
        .unwrap();
}

#[test]
fn session_algorithms_work_end_to_end() {
    for algorithm in [
        Algorithm::Md5Sess,
        Algorithm::Sha256Sess,
        Algorithm::Sha512_256,
        Algorithm::Sha512_256Sess,
    ] {
        let config = VerifierConfig {
            algorithms: vec![algorithm],
            ..VerifierConfig::new("tandem")
        };
        let mut h = Harness::new(config, "secret");
        let challenge = h.challenge(secs(0), false);
        h.client_handles(&challenge).unwrap();
        let authorization = h.client_authorizes(&REGISTER);
        let credentials = h
            .registrar_checks(secs(0), &authorization, &REGISTER)
            .unwrap();
        assert_eq!(credentials.algorithm, algorithm);
    }
}

#[test]
fn proxy_authentication_uses_the_407_header_names() {
    let kind = AuthKind::ProxyToUser;
    assert_eq!(kind.status_code(), 407);
    assert_eq!(kind.challenge_header(), "Proxy-Authenticate");
    assert_eq!(kind.credentials_header(), "Proxy-Authorization");
    assert_eq!(AuthKind::UserToUser.challenge_header(), "WWW-Authenticate");
    assert_eq!(AuthKind::UserToUser.credentials_header(), "Authorization");
}
