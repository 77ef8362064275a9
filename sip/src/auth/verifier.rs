//! The server side (registrar, UAS, proxy): issues challenges and verifies credentials
//! (RFC 7616 §3.3–§3.5, RFC 3261 §22.2–§22.4, RFC 8760 §2.3).
//!
//! # Nonces
//!
//! Nonces are self-validating, so issuing one stores nothing:
//!
//! ```text
//! nonce = hex( issued_secs (8 bytes, big-endian) || salt (8) || MAC (16) )     64 hex digits
//! MAC   = HMAC-SHA256(secret, "tandem-sip digest nonce v1" || issued_secs || salt || realm)[..16]
//! ```
//!
//! `issued_secs` is the caller's clock (any epoch, the same on every call), `salt` the
//! caller's random bytes. A nonce whose MAC does not verify is [`Rejection::ForgedNonce`]
//! (also what nonces from before a secret change become); one older than the lifetime, or
//! more than a lifetime in the future (the caller's clock went back), is
//! [`Rejection::StaleNonce`], reported only once the response digest proved the client knows
//! the password, as RFC 7616 §3.3 asks of `stale=true`.
//!
//! # Replays
//!
//! With a qop the verifier tracks, per nonce, which `nc` values were used (a bounded window,
//! see [`VerifierConfig::replay_capacity`]) and refuses a count used twice
//! ([`Rejection::NonceCountReplay`]). Responses without a qop (RFC 2069) carry no count: a
//! captured one can be replayed until its nonce expires. Set
//! [`VerifierConfig::require_qop`] to refuse them.
//!
//! # What stays with the caller
//!
//! Looking up the user (`credentials.username` in `credentials.realm`) and deciding what an
//! unknown user gets; choosing the salt; the clock; turning a [`Rejection`] into 400, 401 or
//! 407 (see [`Rejection::next_step`]); rate-limiting repeated failures.
//!
//! # Interop note
//!
//! baresip 1.0.0 (Debian 12) fails to register, with "Function not implemented", when any
//! `WWW-Authenticate` field of the 401 names `SHA-256`, whichever comes first. A registrar
//! for such clients offers `algorithms: vec![Algorithm::Md5]`.

use std::fmt;
use std::time::Duration;

use crate::auth::algorithm::{Algorithm, HexDigest, NonceCount, Qop, QopOptions, constant_time_eq};
use crate::auth::challenge::Challenge;
use crate::auth::credentials::Credentials;
use crate::auth::error::{AuthError, VerifierConfigError};
use crate::auth::hmac::hmac_sha256;
use crate::auth::params::is_printable_quoted;
use crate::auth::replay::{NonceCheck, NonceCountWindow, NonceKey};
use crate::auth::response::{DigestInput, DigestRequest, Ha1, request_digest};

/// Domain separation for the nonce MAC, so the secret can serve other MACs safely.
const NONCE_MAC_LABEL: &[u8] = b"tandem-sip digest nonce v1";
/// Bytes of caller randomness in each nonce.
pub const NONCE_SALT_LEN: usize = 8;
const NONCE_MAC_LEN: usize = 16;
const NONCE_BYTES: usize = 8 + NONCE_SALT_LEN + NONCE_MAC_LEN;

/// Settings of a [`DigestVerifier`]; [`VerifierConfig::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// The realm challenged and required in credentials (RFC 3261 §22.1: typically the
    /// domain or host name).
    pub realm: String,
    /// How long a nonce stays valid. Default 300 s, as Kamailio's `nonce_expire`.
    pub nonce_lifetime: Duration,
    /// Algorithms offered, most preferred first: one challenge each, in this order
    /// (RFC 8760 §2.3). Default `[SHA-256, MD5]`. Credentials with another algorithm are
    /// refused.
    pub algorithms: Vec<Algorithm>,
    /// qop options offered. Default `auth`. `auth-int` makes clients hash the body.
    pub qop: QopOptions,
    /// Refuse credentials without a qop (RFC 2069 responses, replayable within the nonce
    /// lifetime). Default false, for old clients.
    pub require_qop: bool,
    /// Require the credentials' `uri` to equal the Request-URI byte for byte (RFC 7616
    /// §3.4.6). Default false: proxies may rewrite the Request-URI of requests that were
    /// authorized for the original one.
    pub check_request_uri: bool,
    /// Most nonces whose counts are tracked for replay protection; 0 turns tracking off.
    /// Default 4096 (about 200 KiB at most).
    pub replay_capacity: usize,
}

impl VerifierConfig {
    /// Default nonce lifetime.
    pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);
    /// Default replay-window capacity.
    pub const DEFAULT_REPLAY_CAPACITY: usize = 4096;

    /// The defaults for `realm`.
    pub fn new(realm: impl Into<String>) -> Self {
        Self {
            realm: realm.into(),
            nonce_lifetime: Self::DEFAULT_NONCE_LIFETIME,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            qop: QopOptions::AUTH,
            require_qop: false,
            check_request_uri: false,
            replay_capacity: Self::DEFAULT_REPLAY_CAPACITY,
        }
    }
}

/// The user's secret, as the caller's user database holds it.
#[derive(Debug, Clone, Copy)]
pub enum UserSecret<'a> {
    /// The cleartext password.
    Password(&'a str),
    /// Stored HA1 values, one per hash function the user has (an MD5 HA1 cannot check a
    /// SHA-256 response). The one matching the credentials' algorithm is used.
    Ha1(&'a [Ha1]),
}

/// A request whose credentials verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    /// The algorithm the client used.
    pub algorithm: Algorithm,
    /// The qop the client used; `None` for an RFC 2069 response.
    pub qop: Option<Qop>,
    /// The nonce count, with a qop.
    pub nc: Option<NonceCount>,
    /// Time since the nonce was issued (whole seconds).
    pub nonce_age: Duration,
}

/// What the server does after a [`Rejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextStep {
    /// Answer 401/407 with fresh challenges ([`DigestVerifier::challenges`], not stale).
    Challenge,
    /// Answer 401/407 with fresh challenges marked `stale=true`: the client knows the
    /// password and retries without asking its user.
    ChallengeStale,
    /// Answer 400 Bad Request (RFC 7616 §3.4.6 for a `uri` mismatch).
    BadRequest,
}

/// Why credentials did not verify. Each variant is a fact; [`Rejection::next_step`] says
/// what to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The credentials are for another realm (perhaps another proxy's).
    #[error("credentials are for another realm")]
    RealmMismatch,
    /// The client used an algorithm this verifier does not offer.
    #[error("algorithm {0} is not offered")]
    AlgorithmNotOffered(Algorithm),
    /// The client used a qop this verifier does not offer.
    #[error("qop {0} is not offered")]
    QopNotOffered(Qop),
    /// The client sent an RFC 2069 response (no qop) and the verifier requires one.
    #[error("credentials without qop are refused")]
    QopRequired,
    /// The nonce was not issued with this secret and realm (or is not one of ours at all).
    #[error("nonce was not issued by this verifier")]
    ForgedNonce,
    /// The credentials are right but their nonce expired: challenge with `stale=true`.
    #[error("nonce expired")]
    StaleNonce,
    /// The `uri` differs from the Request-URI (only with `check_request_uri`).
    #[error("digest uri differs from the Request-URI")]
    UriMismatch,
    /// The response digest is wrong: wrong password, or the request was changed on the way.
    #[error("response digest does not match")]
    BadResponse,
    /// This nonce count was already used with this nonce.
    #[error("nonce count {nc} was already used with this nonce")]
    NonceCountReplay {
        /// The count received.
        nc: NonceCount,
    },
    /// The replay window forgot this nonce while it was still valid, so a replay cannot be
    /// ruled out: challenge with `stale=true`.
    #[error("replay state for this nonce was evicted")]
    ReplayStateLost,
    /// [`UserSecret::Ha1`] holds no HA1 for this algorithm's hash function.
    #[error("no stored HA1 for {0}")]
    NoHa1ForAlgorithm(Algorithm),
}

impl Rejection {
    /// What to answer (RFC 7616 §3.3, §3.4.6; RFC 3261 §22.2).
    pub const fn next_step(&self) -> NextStep {
        match self {
            Self::StaleNonce | Self::ReplayStateLost => NextStep::ChallengeStale,
            Self::UriMismatch => NextStep::BadRequest,
            Self::RealmMismatch
            | Self::AlgorithmNotOffered(_)
            | Self::QopNotOffered(_)
            | Self::QopRequired
            | Self::ForgedNonce
            | Self::BadResponse
            | Self::NonceCountReplay { .. }
            | Self::NoHa1ForAlgorithm(_) => NextStep::Challenge,
        }
    }

    /// Stable label for counters (`tandem_sip_auth_rejected_total{reason="…"}`).
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::RealmMismatch => "realm_mismatch",
            Self::AlgorithmNotOffered(_) => "algorithm_not_offered",
            Self::QopNotOffered(_) => "qop_not_offered",
            Self::QopRequired => "qop_required",
            Self::ForgedNonce => "forged_nonce",
            Self::StaleNonce => "stale_nonce",
            Self::UriMismatch => "uri_mismatch",
            Self::BadResponse => "bad_response",
            Self::NonceCountReplay { .. } => "nonce_count_replay",
            Self::ReplayStateLost => "replay_state_lost",
            Self::NoHa1ForAlgorithm(_) => "no_ha1_for_algorithm",
        }
    }
}

/// Issues Digest challenges and verifies credentials for one realm, with stateless nonces
/// keyed by a caller-supplied secret. Sans-IO: time and randomness are arguments.
pub struct DigestVerifier {
    secret: Box<[u8]>,
    config: VerifierConfig,
    replay: NonceCountWindow,
}

impl fmt::Debug for DigestVerifier {
    /// Leaves the secret out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestVerifier")
            .field("config", &self.config)
            .field("tracked_nonces", &self.replay.len())
            .finish_non_exhaustive()
    }
}

impl DigestVerifier {
    /// Shortest secret accepted, in bytes. Use 32 random bytes, kept across restarts if
    /// nonces should survive them (and shared by the nodes of a cluster that share users).
    pub const SECRET_MIN_LEN: usize = 16;

    /// A verifier keyed by `secret` (allocates the replay window lazily, up to
    /// `config.replay_capacity` entries).
    ///
    /// # Errors
    ///
    /// [`VerifierConfigError`] for a short secret, a realm with control characters, a zero
    /// nonce lifetime, or no algorithms.
    pub fn new(secret: &[u8], config: VerifierConfig) -> Result<Self, VerifierConfigError> {
        if secret.len() < Self::SECRET_MIN_LEN {
            return Err(VerifierConfigError::SecretTooShort {
                len: secret.len(),
                min: Self::SECRET_MIN_LEN,
            });
        }
        if !is_printable_quoted(&config.realm) {
            return Err(VerifierConfigError::InvalidRealm(config.realm));
        }
        if config.nonce_lifetime.as_secs() == 0 {
            return Err(VerifierConfigError::ZeroNonceLifetime);
        }
        if config.algorithms.is_empty() {
            return Err(VerifierConfigError::NoAlgorithms);
        }
        Ok(Self {
            secret: secret.into(),
            replay: NonceCountWindow::new(config.replay_capacity),
            config,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// A fresh nonce issued at `now` (the caller's clock), made unique by `salt` (random
    /// bytes from the caller).
    pub fn issue_nonce(&self, now: Duration, salt: [u8; NONCE_SALT_LEN]) -> String {
        let issued = now.as_secs().to_be_bytes();
        let mac = self.nonce_mac(&issued, &salt);
        let mut raw = [0u8; NONCE_BYTES];
        raw[..8].copy_from_slice(&issued);
        raw[8..8 + NONCE_SALT_LEN].copy_from_slice(&salt);
        raw[8 + NONCE_SALT_LEN..].copy_from_slice(&mac);
        HexDigest::from_bytes(&raw).as_str().to_owned()
    }

    /// The challenges for one 401/407: one per configured algorithm, most preferred first
    /// (RFC 8760 §2.3), sharing one nonce. Send each as its own `WWW-Authenticate` (or
    /// `Proxy-Authenticate`) header field, in this order.
    pub fn challenges(
        &self,
        now: Duration,
        salt: [u8; NONCE_SALT_LEN],
        stale: bool,
    ) -> Vec<Challenge> {
        let nonce = self.issue_nonce(now, salt);
        self.config
            .algorithms
            .iter()
            .map(|&algorithm| Challenge {
                stale,
                ..Challenge::new(&self.config.realm, &nonce, algorithm, self.config.qop)
            })
            .collect()
    }

    /// Finds the credentials addressed to this realm among a request's `Authorization` (or
    /// `Proxy-Authorization`) header values, in message order.
    ///
    /// `None` when no value is Digest credentials for this realm: challenge. `Some(Err)`
    /// when none is but one did not parse: answer 400.
    pub fn find_credentials<'a>(
        &self,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Option<Result<Credentials, AuthError>> {
        let mut first_error = None;
        for value in values {
            match Credentials::parse(value) {
                Ok(c) if c.realm == self.config.realm => return Some(Ok(c)),
                Ok(_) | Err(AuthError::NotDigest) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map(Err)
    }

    /// Verifies `credentials` for `request` against the user's secret at `now`.
    ///
    /// Checks, in order: realm, algorithm and qop against what is offered, the nonce's MAC,
    /// the `uri` (if configured), the response digest (constant-time), the nonce's age, and
    /// the nonce count against replays. A fresh count is recorded only after everything
    /// else passed.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] naming the first check that failed.
    pub fn verify(
        &mut self,
        now: Duration,
        credentials: &Credentials,
        request: &DigestRequest<'_>,
        secret: UserSecret<'_>,
    ) -> Result<Authenticated, Rejection> {
        let config = &self.config;
        if credentials.realm != config.realm {
            return Err(Rejection::RealmMismatch);
        }
        let algorithm = credentials.algorithm;
        if !config.algorithms.contains(&algorithm) {
            return Err(Rejection::AlgorithmNotOffered(algorithm));
        }
        match credentials.qop {
            Some(qop) if !config.qop.contains(qop) => return Err(Rejection::QopNotOffered(qop)),
            None if config.require_qop => return Err(Rejection::QopRequired),
            _ => {}
        }
        let nonce = self.open_nonce(&credentials.nonce)?;
        if config.check_request_uri && credentials.uri != request.uri {
            return Err(Rejection::UriMismatch);
        }
        let ha1 = match secret {
            UserSecret::Password(password) => Ha1::from_password(
                algorithm.hash_function(),
                &credentials.username,
                &credentials.realm,
                password,
            ),
            UserSecret::Ha1(stored) => *stored
                .iter()
                .find(|h| h.hash_function() == algorithm.hash_function())
                .ok_or(Rejection::NoHa1ForAlgorithm(algorithm))?,
        };
        let nc = match credentials.qop {
            Some(_) => credentials.nc.ok_or(Rejection::BadResponse)?,
            None => NonceCount::FIRST,
        };
        let input = DigestInput {
            algorithm,
            nonce: &credentials.nonce,
            cnonce: credentials.cnonce.as_deref(),
            qop: credentials.qop,
            nc,
            method: request.method,
            uri: &credentials.uri,
            body: request.body,
        };
        let expected = request_digest(&ha1, &input).ok_or(Rejection::BadResponse)?;
        if !constant_time_eq(expected.as_bytes(), credentials.response.as_bytes()) {
            return Err(Rejection::BadResponse);
        }
        let now_secs = now.as_secs();
        let lifetime_secs = config.nonce_lifetime.as_secs();
        let expired = now_secs.saturating_sub(nonce.issued_secs) > lifetime_secs
            || nonce.issued_secs.saturating_sub(now_secs) > lifetime_secs;
        if expired {
            return Err(Rejection::StaleNonce);
        }
        if credentials.qop.is_some() {
            let check =
                self.replay
                    .check(nonce.key, nonce.issued_secs, nc.0, now_secs, lifetime_secs);
            match check {
                NonceCheck::Fresh => {}
                NonceCheck::Replay => return Err(Rejection::NonceCountReplay { nc }),
                NonceCheck::StateLost => return Err(Rejection::ReplayStateLost),
            }
        }
        Ok(Authenticated {
            algorithm,
            qop: credentials.qop,
            nc: credentials.qop.map(|_| nc),
            nonce_age: Duration::from_secs(now_secs.saturating_sub(nonce.issued_secs)),
        })
    }

    fn nonce_mac(&self, issued: &[u8; 8], salt: &[u8]) -> [u8; NONCE_MAC_LEN] {
        let mac = hmac_sha256(
            &self.secret,
            &[NONCE_MAC_LABEL, issued, salt, self.config.realm.as_bytes()],
        );
        let mut out = [0u8; NONCE_MAC_LEN];
        out.copy_from_slice(&mac[..NONCE_MAC_LEN]);
        out
    }

    /// Decodes a nonce and checks its MAC.
    fn open_nonce(&self, nonce: &str) -> Result<OpenedNonce, Rejection> {
        let raw = decode_hex::<NONCE_BYTES>(nonce).ok_or(Rejection::ForgedNonce)?;
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&raw[..8]);
        let salt = &raw[8..8 + NONCE_SALT_LEN];
        let mut key: NonceKey = [0; NONCE_MAC_LEN];
        key.copy_from_slice(&raw[8 + NONCE_SALT_LEN..]);
        if !constant_time_eq(&self.nonce_mac(&issued, salt), &key) {
            return Err(Rejection::ForgedNonce);
        }
        Ok(OpenedNonce {
            issued_secs: u64::from_be_bytes(issued),
            key,
        })
    }
}

struct OpenedNonce {
    issued_secs: u64,
    key: NonceKey,
}

/// Decodes exactly `2 * N` hex digits.
fn decode_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let digits = hex.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(high << 4 | low).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn verifier() -> DigestVerifier {
        DigestVerifier::new(SECRET, VerifierConfig::new("tandem")).unwrap()
    }

    #[test]
    fn nonces_are_64_hex_digits_and_open_again() {
        let v = verifier();
        let nonce = v.issue_nonce(Duration::from_secs(1_000), [7; 8]);
        assert_eq!(nonce.len(), 64);
        let opened = v.open_nonce(&nonce).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(opened.issued_secs, 1_000);
        assert_ne!(nonce, v.issue_nonce(Duration::from_secs(1_000), [8; 8]));
    }

    #[test]
    fn a_nonce_from_another_secret_or_realm_is_forged() {
        let nonce = verifier().issue_nonce(Duration::from_secs(5), [1; 8]);
        let other_secret = DigestVerifier::new(&[9; 32], VerifierConfig::new("tandem")).unwrap();
        assert!(matches!(
            other_secret.open_nonce(&nonce),
            Err(Rejection::ForgedNonce)
        ));
        let other_realm = DigestVerifier::new(SECRET, VerifierConfig::new("other")).unwrap();
        assert!(matches!(
            other_realm.open_nonce(&nonce),
            Err(Rejection::ForgedNonce)
        ));
        let mut tampered = nonce.into_bytes();
        tampered[15] = if tampered[15] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(matches!(
            verifier().open_nonce(&tampered),
            Err(Rejection::ForgedNonce)
        ));
        assert!(matches!(
            verifier().open_nonce("short"),
            Err(Rejection::ForgedNonce)
        ));
    }

    #[test]
    fn construction_refuses_weak_or_unprintable_settings() {
        assert_eq!(
            DigestVerifier::new(b"short", VerifierConfig::new("r")).unwrap_err(),
            VerifierConfigError::SecretTooShort { len: 5, min: 16 }
        );
        assert!(matches!(
            DigestVerifier::new(SECRET, VerifierConfig::new("a\r\nb")),
            Err(VerifierConfigError::InvalidRealm(_))
        ));
        let config = VerifierConfig {
            nonce_lifetime: Duration::from_millis(500),
            ..VerifierConfig::new("r")
        };
        assert_eq!(
            DigestVerifier::new(SECRET, config).unwrap_err(),
            VerifierConfigError::ZeroNonceLifetime
        );
        let config = VerifierConfig {
            algorithms: vec![],
            ..VerifierConfig::new("r")
        };
        assert_eq!(
            DigestVerifier::new(SECRET, config).unwrap_err(),
            VerifierConfigError::NoAlgorithms
        );
        assert!(!format!("{:?}", verifier()).contains("0123456789abcdef"));
    }

    #[test]
    fn decode_hex_takes_exact_length_either_case() {
        assert_eq!(decode_hex::<2>("aBcD"), Some([0xab, 0xcd]));
        assert_eq!(decode_hex::<2>("abc"), None);
        assert_eq!(decode_hex::<2>("abcg"), None);
        assert_eq!(decode_hex::<1>("é"), None);
    }
}
