//! Property tests for the digest module: the parsers never panic, printing round-trips, and a
//! client's credentials always verify at a registrar that agrees on the password (and never
//! when it does not).

use std::time::Duration;

use proptest::prelude::*;
use tandem_sip::auth::fuzzing::digest_header;
use tandem_sip::auth::{
    Algorithm, Challenge, Credentials, DigestClient, DigestRequest, DigestVerifier, NonceCount,
    Qop, QopOptions, Rejection, UserSecret, VerifierConfig,
};

/// Text a quoted string can carry: anything but control characters (HTAB included), with
/// quotes, backslashes, commas and non-ASCII made common.
fn quotable() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[\"\\\\, =a-zé\t]{0,12}",
        "[A-Za-z0-9/+=._:@;-]{1,40}",
    ]
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

fn qop_options() -> impl Strategy<Value = QopOptions> {
    (any::<bool>(), any::<bool>()).prop_map(|(auth, auth_int)| QopOptions { auth, auth_int })
}

fn challenge() -> impl Strategy<Value = Challenge> {
    (
        quotable(),
        prop::option::of(quotable()),
        quotable(),
        prop::option::of(quotable()),
        any::<bool>(),
        algorithm(),
        qop_options(),
    )
        .prop_map(
            |(realm, domain, nonce, opaque, stale, algorithm, qop)| Challenge {
                realm,
                domain,
                nonce,
                opaque,
                stale,
                algorithm,
                qop,
            },
        )
}

fn credentials() -> impl Strategy<Value = Credentials> {
    (
        (quotable(), quotable(), quotable(), quotable()),
        "[0-9a-f]{1,64}",
        algorithm(),
        prop::option::of(quotable()),
        prop::option::of(quotable()),
        prop::option::of(prop::sample::select(vec![Qop::Auth, Qop::AuthInt])),
        any::<u32>(),
    )
        .prop_map(
            |((username, realm, nonce, uri), response, algorithm, cnonce, opaque, qop, nc)| {
                let needs_cnonce = qop.is_some() || algorithm.is_session();
                Credentials {
                    username,
                    realm,
                    nonce,
                    uri,
                    response,
                    algorithm,
                    cnonce: cnonce.or_else(|| needs_cnonce.then(String::new)),
                    opaque,
                    qop,
                    nc: qop.map(|_| NonceCount(nc)),
                }
            },
        )
}

/// Near-misses of real header values: grammar characters shuffled around Digest keywords.
fn header_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("Digest ".to_owned()),
        Just("Basic ".to_owned()),
        Just("realm=".to_owned()),
        Just("nonce=".to_owned()),
        Just("username=".to_owned()),
        Just("uri=".to_owned()),
        Just("response=".to_owned()),
        Just("qop=".to_owned()),
        Just("nc=".to_owned()),
        Just("cnonce=".to_owned()),
        Just("algorithm=".to_owned()),
        Just("stale=".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just(", ".to_owned()),
        Just("\r\n ".to_owned()),
        Just("\n".to_owned()),
        "[a-zA-Z0-9 =,\"\\\\\t-]{0,8}",
        Just("SHA-256".to_owned()),
        Just("MD5-sess".to_owned()),
        Just("auth,auth-int".to_owned()),
        Just("0000000a".to_owned()),
        Just("\"deadbeef\"".to_owned()),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_text(text in "\\PC*|.*") {
        let _ = Challenge::parse(&text);
        let _ = Credentials::parse(&text);
        let _ = Challenge::select(text.lines());
        digest_header(text.as_bytes());
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        digest_header(&bytes);
    }

    /// `digest_header` asserts print → parse round trips on whatever parses.
    #[test]
    fn header_like_text_round_trips_whenever_it_parses(text in header_like()) {
        digest_header(text.as_bytes());
    }

    #[test]
    fn challenges_round_trip_through_print(c in challenge()) {
        let printed = c.to_string();
        prop_assert_eq!(Challenge::parse(&printed), Ok(c.clone()));
        prop_assert_eq!(Challenge::select([printed.as_str()]), Ok(c));
    }

    #[test]
    fn credentials_round_trip_through_print(c in credentials()) {
        let printed = c.to_string();
        prop_assert_eq!(Credentials::parse(&printed), Ok(c));
    }

    #[test]
    fn client_credentials_verify_with_the_right_password_only(
        realm in quotable(),
        username in quotable(),
        password in ".{0,16}",
        method in "[A-Z]{3,9}",
        uri in quotable(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        algorithm in algorithm(),
        qop in qop_options(),
        salt in any::<[u8; 8]>(),
        cnonce in any::<[u8; 8]>(),
        now_secs in 0u64..(1 << 40),
    ) {
        let config = VerifierConfig {
            algorithms: vec![algorithm],
            qop,
            ..VerifierConfig::new(realm)
        };
        let mut registrar = DigestVerifier::new(&[3; 32], config).unwrap();
        let now = Duration::from_secs(now_secs);
        let mut client = DigestClient::new(username, password.clone()).unwrap();
        let values: Vec<String> =
            registrar.challenges(now, salt, false).iter().map(ToString::to_string).collect();
        client.handle_challenge_values(values.iter().map(String::as_str)).unwrap();
        let request = DigestRequest { method: &method, uri: &uri, body: &body };
        let header = client.authorize(&request, &cnonce).unwrap().to_string();
        let credentials = registrar.find_credentials([header.as_str()]).unwrap().unwrap();
        let wrong = format!("{password}x");
        prop_assert_eq!(
            registrar.verify(now, &credentials, &request, UserSecret::Password(&wrong)),
            Err(Rejection::BadResponse)
        );
        let ok = registrar.verify(now, &credentials, &request, UserSecret::Password(&password));
        prop_assert!(ok.is_ok(), "{:?} for {}", ok, header);
    }
}
