//! Digest response vectors: the RFC examples, and SIP REGISTER/INVITE vectors whose expected
//! digests were computed by independent tools (coreutils/OpenSSL), not by this crate.
//!
//! How the SIP vectors were computed (bash; `h ALG TEXT` prints the hex digest):
//!
//! ```text
//! h() { printf '%s' "$2" | openssl dgst -$1 -r | cut -d' ' -f1; }
//! N=000000006553f1000102030405060708a3611cabd55f445adff5f62b99740f55
//! HA1=$(h md5 'alice:tandem:secret'); HA2=$(h md5 'REGISTER:sip:127.0.0.1:5060')
//! h md5 "$HA1:$N:00000001:4a225ac451839098:auth:$HA2"           # qop=auth
//! h md5 "$HA1:$N:$HA2"                                           # RFC 2069, no qop
//! h md5 "$(h md5 "$HA1:$N:4a225ac451839098"):$N:00000001:4a225ac451839098:auth:$HA2"  # MD5-sess
//! ```
//!
//! and the same with `sha256` and `sha512-256` (`printf 'alice:tandem:secret' | md5sum`
//! gives the same HA1 as `h md5`). `N` is the nonce the verifier in `auth_registrar.rs` and
//! `auth_interop.rs` issues for its fixed secret, clock and salt.

use tandem_sip::auth::{
    Algorithm, Challenge, Credentials, DigestInput, DigestRequest, Ha1, HashFunction, NonceCount,
    Qop, answer, request_digest,
};

/// The nonce `DigestVerifier` issues for secret `[0x42; 32]`, realm `tandem`, 1 700 000 000 s,
/// salt `01..08` (cross-checked with Python's `hmac` module when written).
const NONCE: &str = "000000006553f1000102030405060708a3611cabd55f445adff5f62b99740f55";
const CNONCE: &str = "4a225ac451839098";

fn register_input(algorithm: Algorithm, qop: Option<Qop>) -> DigestInput<'static> {
    DigestInput {
        algorithm,
        nonce: NONCE,
        cnonce: Some(CNONCE),
        qop,
        nc: NonceCount(1),
        method: "REGISTER",
        uri: "sip:127.0.0.1:5060",
        body: b"",
    }
}

fn digest(algorithm: Algorithm, qop: Option<Qop>) -> String {
    let ha1 = Ha1::from_password(algorithm.hash_function(), "alice", "tandem", "secret");
    request_digest(&ha1, &register_input(algorithm, qop))
        .unwrap()
        .to_string()
}

/// RFC 7616 §3.9.1: the MD5 and SHA-256 responses for Mufasa / "Circle of Life".
#[test]
fn rfc7616_mufasa_example_md5_and_sha256() {
    let challenge = Challenge {
        opaque: Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS".into()),
        ..Challenge::new(
            "http-auth@example.org",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            Algorithm::Md5,
            tandem_sip::auth::QopOptions::AUTH_AND_AUTH_INT,
        )
    };
    let request = DigestRequest {
        method: "GET",
        uri: "/dir/index.html",
        body: b"",
    };
    let cnonce = Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ".to_owned());
    let md5 = answer(
        &challenge,
        "Mufasa",
        "Circle of Life",
        &request,
        Some(Qop::Auth),
        cnonce.clone(),
        NonceCount(1),
    );
    assert_eq!(md5.response, "8ca523f5e9506fed4657c9700eebdbec");
    let sha = answer(
        &Challenge {
            algorithm: Algorithm::Sha256,
            ..challenge
        },
        "Mufasa",
        "Circle of Life",
        &request,
        Some(Qop::Auth),
        cnonce,
        NonceCount(1),
    );
    assert_eq!(
        sha.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    // The credentials print as RFC 7616 sends them, modulo order and line breaks.
    assert_eq!(
        sha.to_string(),
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
         nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", uri=\"/dir/index.html\", \
         response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
         algorithm=SHA-256, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", qop=auth, nc=00000001"
    );
}

/// RFC 2617 §3.5: the MD5 example (note "Circle Of Life" with a capital O there).
#[test]
fn rfc2617_example_from_its_authorization_header() {
    let header = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let credentials = Credentials::parse(header).unwrap();
    let ha1 = Ha1::from_password(
        HashFunction::Md5,
        &credentials.username,
        &credentials.realm,
        "Circle Of Life",
    );
    let input = DigestInput {
        algorithm: credentials.algorithm,
        nonce: &credentials.nonce,
        cnonce: credentials.cnonce.as_deref(),
        qop: credentials.qop,
        nc: credentials.nc.unwrap(),
        method: "GET",
        uri: &credentials.uri,
        body: b"",
    };
    assert_eq!(
        request_digest(&ha1, &input).unwrap().as_str(),
        credentials.response
    );
}

#[test]
fn sip_register_ha1_values_match_coreutils_and_openssl() {
    // printf 'alice:tandem:secret' | md5sum ; … | sha256sum ; openssl dgst -sha512-256
    let ha1 = |hash| Ha1::from_password(hash, "alice", "tandem", "secret");
    assert_eq!(
        ha1(HashFunction::Md5).as_str(),
        "bbf8eda42b1a71b7d24e17e18ccd85ec"
    );
    assert_eq!(
        ha1(HashFunction::Sha256).as_str(),
        "217b5d1ed1f73dc133d020e40a577da821c7eab27af1d379f843c2f885ee34af"
    );
    assert_eq!(
        ha1(HashFunction::Sha512_256).as_str(),
        "e4e86a026637f350adeba81cd991727a285e17ad4caf7fe5f2cf90589cdb9e92"
    );
}

#[test]
fn sip_register_responses_match_independent_computation() {
    assert_eq!(
        digest(Algorithm::Md5, Some(Qop::Auth)),
        "0334a008126ae569a660aa8c6517148b"
    );
    assert_eq!(
        digest(Algorithm::Md5, None),
        "3a27f3e92c474dc1224d6f52321b9efc"
    );
    assert_eq!(
        digest(Algorithm::Md5Sess, Some(Qop::Auth)),
        "3285d1793f1b705360bebb52207abaf0"
    );
    assert_eq!(
        digest(Algorithm::Sha256, Some(Qop::Auth)),
        "73bd54573df19b2d4275e1934868c0b0b1edac96efaa1d8b64deec53d5cd741b"
    );
    assert_eq!(
        digest(Algorithm::Sha256Sess, Some(Qop::Auth)),
        "979707806bcbb88eed9254c4d42653572e2f3e5af40cc59a1836ad6db31cb828"
    );
    assert_eq!(
        digest(Algorithm::Sha512_256, Some(Qop::Auth)),
        "3b9b31438867e5396183293660ed9c97a76ef5b43c8ee482f76f92a5dea62458"
    );
}

/// `qop=auth-int` hashes the body into A2 (RFC 7616 §3.4.3):
///
/// ```text
/// HB=$(printf 'v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 10100 RTP/AVP 0\r\n' | openssl dgst -sha256 -r | cut -c1-64)
/// HA2=$(h sha256 "INVITE:sip:echo@127.0.0.1:5060:$HB")
/// h sha256 "$(h sha256 alice:tandem:secret):$N:00000002:0123456789abcdef:auth-int:$HA2"
/// ```
#[test]
fn sip_invite_auth_int_response_covers_the_body() {
    let body = b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio 10100 RTP/AVP 0\r\n";
    assert_eq!(
        HashFunction::Sha256.hash(body).as_str(),
        "0b55c9e06dd42eda14e431819936374ee0ef127ee24644e665fade9245769e0c"
    );
    let ha1 = Ha1::from_password(HashFunction::Sha256, "alice", "tandem", "secret");
    let input = DigestInput {
        algorithm: Algorithm::Sha256,
        nonce: NONCE,
        cnonce: Some("0123456789abcdef"),
        qop: Some(Qop::AuthInt),
        nc: NonceCount(2),
        method: "INVITE",
        uri: "sip:echo@127.0.0.1:5060",
        body,
    };
    assert_eq!(
        request_digest(&ha1, &input).unwrap().as_str(),
        "8abf2faf59c9897f170f7900f4b7283d79d4c5c36a7c4643eff6d29b5f981acc"
    );
    let tampered = DigestInput {
        body: b"v=0\r\n",
        ..input
    };
    assert_ne!(
        request_digest(&ha1, &tampered).unwrap().as_str(),
        "8abf2faf59c9897f170f7900f4b7283d79d4c5c36a7c4643eff6d29b5f981acc"
    );
}
