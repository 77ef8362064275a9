//! Entry point shared by the `digest_header` fuzz target and the corpus replay test
//! (`sip/tests/auth_corpus.rs`), compiled in normal builds so the replay runs on stable
//! (str0m's `_internal_test_exports` pattern). Not API: hidden from the docs.
//!
//! The entry point accepts any bytes and panics only on a broken invariant: a parsed
//! challenge or credentials value that does not survive print → parse unchanged, or whose
//! printed form is not canonical.

use std::time::Duration;

use crate::auth::{
    Challenge, Credentials, DigestClient, DigestRequest, DigestVerifier, UserSecret, VerifierConfig,
};

/// Parses `data` (if UTF-8) as a challenge, as credentials, and line by line as the
/// challenge header fields of one response; checks every round trip, answers the selected
/// challenge and verifies parsed credentials. Returns whether anything parsed.
pub fn digest_header(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let mut parsed = false;
    if let Ok(challenge) = Challenge::parse(text) {
        assert_canonical(&challenge, Challenge::parse);
        parsed = true;
    }
    if let Ok(credentials) = Credentials::parse(text) {
        assert_canonical(&credentials, Credentials::parse);
        let request = DigestRequest {
            method: "REGISTER",
            uri: &credentials.uri,
            body: b"",
        };
        let config = VerifierConfig {
            check_request_uri: true,
            ..VerifierConfig::new(credentials.realm.clone())
        };
        if let Ok(mut verifier) = DigestVerifier::new(&[7; 32], config) {
            let _ = verifier.verify(
                Duration::ZERO,
                &credentials,
                &request,
                UserSecret::Password("secret"),
            );
        }
        parsed = true;
    }
    if let Ok(challenge) = Challenge::select(text.lines()) {
        assert_canonical(&challenge, Challenge::parse);
        let request = DigestRequest {
            method: "INVITE",
            uri: "sip:bob@127.0.0.1",
            body: b"v=0\r\n",
        };
        if let Ok(mut client) = DigestClient::new("alice", "secret") {
            if client.handle_challenge(challenge).is_ok() {
                if let Ok(credentials) = client.authorize(&request, &[1; 8]) {
                    assert_canonical(&credentials, Credentials::parse);
                }
            }
        }
        parsed = true;
    }
    parsed
}

fn assert_canonical<T, E>(value: &T, parse: fn(&str) -> Result<T, E>)
where
    T: std::fmt::Display + PartialEq + std::fmt::Debug,
    E: std::fmt::Debug,
{
    let printed = value.to_string();
    match parse(&printed) {
        Ok(again) => {
            assert_eq!(&again, value, "round trip of {printed:?}");
            assert_eq!(again.to_string(), printed, "printing is not canonical");
        }
        Err(e) => panic!("printed form {printed:?} does not parse: {e:?}"),
    }
}
