//! Interop with baresip 1.0.0 (Debian 12 `baresip-core`), the peer of
//! /work/shared/peers/PEERS.md §2 ("REGISTER with digest auth"): alice / secret, realm
//! `tandem`, MD5.
//!
//! The headers below were captured on the wire: `sipp -sf uas_register_401.xml -trace_msg`
//! (the peers' registrar stand-in, moved to port 25060) challenged `baresip -f alice` (the
//! `baresip/reg` account pointed at that port), once as shipped (no qop) and once with
//! `qop="auth"` added to the challenge. sipp's `verifyauth` accepted both. What baresip sends:
//! parameters in the order username, realm, nonce, uri, response[, cnonce, qop, nc]; no
//! `algorithm`; `qop` and `nc` as tokens; a 16-hex-digit cnonce.
//!
//! The same capture showed that baresip 1.0.0 cannot register once any challenge names
//! SHA-256 ("Register: Function not implemented", whichever header comes first): a registrar
//! serving it offers MD5 only (last test).

use std::time::Duration;

use tandem_sip::auth::{
    Algorithm, Challenge, Credentials, DigestClient, DigestInput, DigestRequest, DigestVerifier,
    Ha1, HashFunction, NonceCount, QopOptions, Rejection, UserSecret, VerifierConfig,
    request_digest,
};

/// The 401 challenge sipp sent (qop run).
const SIPP_CHALLENGE_QOP: &str =
    r#"Digest realm="tandem", nonce="18758n1x47ebe028cda119c3", algorithm=MD5, qop="auth""#;
/// baresip's answer to it.
const BARESIP_AUTHORIZATION_QOP: &str = r#"Digest username="alice", realm="tandem", nonce="18758n1x47ebe028cda119c3", uri="sip:127.0.0.1:25060", response="f1a39f783ad31b48a75bbc2a30d640fc", cnonce="4a225ac451839098", qop=auth, nc=00000001"#;
/// baresip's answer to the challenge as PEERS.md ships it (`algorithm=MD5`, no qop).
const BARESIP_AUTHORIZATION_NO_QOP: &str = r#"Digest username="alice", realm="tandem", nonce="18654n1x47ebe028cda119c3", uri="sip:127.0.0.1:25060", response="816d0d486a80eea0ff085a7f758f8eb2""#;

const REGISTER: DigestRequest<'static> = DigestRequest {
    method: "REGISTER",
    uri: "sip:127.0.0.1:25060",
    body: b"",
};

/// Recomputes the digest of captured credentials (the verifier's core, without its nonce
/// check: these nonces are sipp's).
fn digest_matches(credentials: &Credentials, password: &str) -> bool {
    let ha1 = Ha1::from_password(
        credentials.algorithm.hash_function(),
        &credentials.username,
        &credentials.realm,
        password,
    );
    let input = DigestInput {
        algorithm: credentials.algorithm,
        nonce: &credentials.nonce,
        cnonce: credentials.cnonce.as_deref(),
        qop: credentials.qop,
        nc: credentials.nc.unwrap_or(NonceCount::FIRST),
        method: REGISTER.method,
        uri: &credentials.uri,
        body: b"",
    };
    request_digest(&ha1, &input).is_some_and(|d| d.as_str() == credentials.response)
}

#[test]
fn captured_baresip_credentials_parse_and_verify_with_the_right_password_only() {
    for header in [BARESIP_AUTHORIZATION_QOP, BARESIP_AUTHORIZATION_NO_QOP] {
        let credentials = Credentials::parse(header).unwrap();
        assert_eq!(credentials.username, "alice");
        assert_eq!(credentials.algorithm, Algorithm::Md5);
        assert_eq!(credentials.uri, REGISTER.uri);
        assert!(digest_matches(&credentials, "secret"), "{header}");
        assert!(!digest_matches(&credentials, "wrong"), "{header}");
    }
}

#[test]
fn our_client_answers_sipps_challenge_exactly_as_baresip_did() {
    let mut client = DigestClient::new("alice", "secret").unwrap();
    client
        .handle_challenge_values([SIPP_CHALLENGE_QOP])
        .unwrap();
    // baresip's cnonce "4a225ac451839098" is the hex of these bytes.
    let cnonce_material = [0x4a, 0x22, 0x5a, 0xc4, 0x51, 0x83, 0x90, 0x98];
    let ours = client.authorize(&REGISTER, &cnonce_material).unwrap();
    let theirs = Credentials::parse(BARESIP_AUTHORIZATION_QOP).unwrap();
    assert_eq!(ours.response, theirs.response);
    // Same fields throughout; we only print `algorithm=MD5` where baresip leaves it implied.
    assert_eq!(ours, theirs);
}

/// Secret, realm, clock and salt behind the nonce
/// `000000006553f1000102030405060708a3611cabd55f445adff5f62b99740f55`.
fn md5_registrar() -> DigestVerifier {
    let config = VerifierConfig {
        algorithms: vec![Algorithm::Md5],
        ..VerifierConfig::new("tandem")
    };
    DigestVerifier::new(&[0x42; 32], config).unwrap()
}

const NOW: Duration = Duration::from_secs(1_700_000_000);
const SALT: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// A REGISTER to Tandem's registrar shaped exactly as baresip shapes it, its response
/// computed with OpenSSL (see `auth_vectors.rs`: `h md5 "$HA1:$N:00000001:4a225ac451839098:auth:$HA2"`
/// with uri `sip:127.0.0.1:5060`).
#[test]
fn registrar_verifies_a_baresip_shaped_register() {
    let mut registrar = md5_registrar();
    let challenges = registrar.challenges(NOW, SALT, false);
    assert_eq!(
        challenges
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["Digest realm=\"tandem\", \
             nonce=\"000000006553f1000102030405060708a3611cabd55f445adff5f62b99740f55\", \
             algorithm=MD5, qop=\"auth\""]
    );
    let authorization = "Digest username=\"alice\", realm=\"tandem\", \
        nonce=\"000000006553f1000102030405060708a3611cabd55f445adff5f62b99740f55\", \
        uri=\"sip:127.0.0.1:5060\", response=\"0334a008126ae569a660aa8c6517148b\", \
        cnonce=\"4a225ac451839098\", qop=auth, nc=00000001";
    let request = DigestRequest {
        uri: "sip:127.0.0.1:5060",
        ..REGISTER
    };
    let credentials = registrar
        .find_credentials([authorization])
        .unwrap()
        .unwrap();
    let later = NOW + Duration::from_secs(2);
    let ok = registrar
        .verify(
            later,
            &credentials,
            &request,
            UserSecret::Password("secret"),
        )
        .unwrap();
    assert_eq!(ok.nc, Some(NonceCount(1)));
    assert_eq!(ok.nonce_age, Duration::from_secs(2));
    // A retransmitted or replayed copy of the same header is refused.
    assert_eq!(
        registrar.verify(
            later,
            &credentials,
            &request,
            UserSecret::Password("secret")
        ),
        Err(Rejection::NonceCountReplay { nc: NonceCount(1) })
    );
}

/// The RFC 2069 form baresip sends when the challenge has no qop, against a stored MD5 HA1
/// (`printf 'alice:tandem:secret' | md5sum`), response `h md5 "$HA1:$N:$HA2"`.
#[test]
fn registrar_verifies_a_baresip_shaped_register_without_qop_against_a_stored_ha1() {
    let mut registrar = md5_registrar();
    let authorization = "Digest username=\"alice\", realm=\"tandem\", \
        nonce=\"000000006553f1000102030405060708a3611cabd55f445adff5f62b99740f55\", \
        uri=\"sip:127.0.0.1:5060\", response=\"3a27f3e92c474dc1224d6f52321b9efc\"";
    let credentials = Credentials::parse(authorization).unwrap();
    let stored = [Ha1::from_hex(HashFunction::Md5, "bbf8eda42b1a71b7d24e17e18ccd85ec").unwrap()];
    let request = DigestRequest {
        uri: "sip:127.0.0.1:5060",
        ..REGISTER
    };
    let ok = registrar
        .verify(NOW, &credentials, &request, UserSecret::Ha1(&stored))
        .unwrap();
    assert_eq!((ok.qop, ok.nc), (None, None));
}

/// What a registrar for baresip 1.0.0 must send: MD5 only. The RFC 8760 default (SHA-256
/// first, then MD5) is what baresip 1.0.0 fails on.
#[test]
fn registrar_for_baresip_offers_md5_only() {
    let values: Vec<String> = md5_registrar()
        .challenges(NOW, SALT, false)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(values.iter().all(|v| !v.contains("SHA-256")));
    let default = DigestVerifier::new(&[0x42; 32], VerifierConfig::new("tandem")).unwrap();
    let algorithms: Vec<Algorithm> = default
        .challenges(NOW, SALT, false)
        .iter()
        .map(|c| c.algorithm)
        .collect();
    assert_eq!(algorithms, [Algorithm::Sha256, Algorithm::Md5]);
    let parsed = Challenge::parse(&values[0]).unwrap();
    assert_eq!(parsed.qop, QopOptions::AUTH);
}
