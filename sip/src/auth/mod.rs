//! HTTP digest authentication for SIP (RFC 8760: MD5 and SHA-256): challenges, credentials,
//! verification.
//!
//! Digest as SIP uses it: RFC 3261 §22 with RFC 7616's algorithms and qop as RFC 8760 brings
//! them to SIP. The module works on header *values* (the text after `WWW-Authenticate:`,
//! `Proxy-Authenticate:`, `Authorization:`, `Proxy-Authorization:`), so it depends on nothing
//! else in the crate, and it is sans-IO: the clock and the random bytes (nonce salt, cnonce)
//! are arguments.
//!
//! - [`Challenge`] and [`Credentials`]: parse and print the two header values, tolerant of
//!   what peers send, canonical when printed.
//! - [`DigestClient`]: the UAC side: answers challenges, handles `stale=true`, counts `nc`.
//! - [`DigestVerifier`]: the registrar/UAS/proxy side: stateless HMAC-keyed nonces,
//!   challenges in preference order (SHA-256 before MD5, RFC 8760 §2.3), verification with a
//!   password or a stored [`Ha1`], replay protection on `nc`, outcomes classified by what to
//!   answer ([`Rejection::next_step`]).
//! - [`Algorithm`]: MD5, SHA-256, SHA-512/256, each with its `-sess` variant; [`Qop`]:
//!   `auth`, `auth-int` (the body is an argument), or none (RFC 2069).
//!
//! # Example: a registrar and a client
//!
//! ```
//! use std::time::Duration;
//! use tandem_sip::auth::{
//!     DigestClient, DigestRequest, DigestVerifier, NextStep, UserSecret, VerifierConfig,
//! };
//!
//! // Registrar: one verifier per realm, keyed by 32 random bytes kept by the caller.
//! let mut registrar = DigestVerifier::new(&[42; 32], VerifierConfig::new("tandem"))?;
//! let now = Duration::from_secs(1_700_000_000); // the caller's clock
//!
//! // 1. REGISTER without credentials: 401, one WWW-Authenticate field per challenge.
//! let www_authenticate: Vec<String> = registrar
//!     .challenges(now, [1, 2, 3, 4, 5, 6, 7, 8], false) // salt: caller's random bytes
//!     .iter()
//!     .map(ToString::to_string)
//!     .collect();
//!
//! // Client (UAC): picks the strongest challenge and answers it.
//! let mut client = DigestClient::new("alice", "secret")?;
//! client.handle_challenge_values(www_authenticate.iter().map(String::as_str))?;
//! let register = DigestRequest { method: "REGISTER", uri: "sip:tandem.example", body: b"" };
//! let authorization = client.authorize(&register, &[9; 16])?.to_string(); // cnonce material
//! assert!(authorization.starts_with("Digest username=\"alice\", realm=\"tandem\""));
//!
//! // 2. REGISTER with an Authorization field.
//! let status = match registrar.find_credentials([authorization.as_str()]) {
//!     None => 401,              // no credentials for our realm: challenge
//!     Some(Err(_)) => 400,      // malformed credentials
//!     Some(Ok(credentials)) => {
//!         // The user database is the caller's: look up credentials.username here.
//!         let secret = UserSecret::Password("secret");
//!         match registrar.verify(now, &credentials, &register, secret) {
//!             Ok(_) => 200,
//!             Err(rejection) => match rejection.next_step() {
//!                 NextStep::Challenge | NextStep::ChallengeStale => 401, // + challenges()
//!                 NextStep::BadRequest => 400,
//!             },
//!         }
//!     }
//! };
//! assert_eq!(status, 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Real-time
//!
//! Signalling path only. Parsing allocates the parameter list and the owned values;
//! hashing and verification do not allocate (except the replay window's entries, bounded by
//! [`VerifierConfig::replay_capacity`]). Nothing blocks.

mod algorithm;
mod challenge;
mod client;
mod credentials;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod hmac;
mod params;
mod replay;
mod response;
mod verifier;

pub use algorithm::{Algorithm, HashFunction, HexDigest, NonceCount, Qop, QopOptions};
pub use challenge::{AuthKind, Challenge};
pub use client::{DigestClient, answer};
pub use credentials::Credentials;
pub use error::{AuthError, ClientError, VerifierConfigError};
pub use params::{MAX_CHALLENGES, MAX_PARAMS, ParamName};
pub use response::{DigestInput, DigestRequest, Ha1, request_digest};
pub use verifier::{
    Authenticated, DigestVerifier, NONCE_SALT_LEN, NextStep, Rejection, UserSecret, VerifierConfig,
};
