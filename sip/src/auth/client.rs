//! The client side (UAC: outbound registration, calls through a challenging proxy): answers
//! challenges with credentials (RFC 7616 §3.4, RFC 3261 §22.2–§22.3, RFC 8760 §2.4).
//!
//! A [`DigestClient`] holds one username and password and the nonce state for one realm:
//! the last challenge and how many requests were sent with its nonce. It answers
//! - the first challenge;
//! - a `stale=true` challenge, with the new nonce, without asking for new credentials;
//! - later requests preemptively, reusing the nonce with the next `nc` (RFC 7616 §3.4);
//!
//! and it gives up ([`ClientError::CredentialsRejected`]) when the server challenges again,
//! not stale, right after credentials computed for a fresh nonce: the password is wrong, and
//! retrying would loop. A non-stale challenge after a reused nonce (`nc > 1`) is answered
//! once more, since servers that restarted or rotated their secret reply that way.
//!
//! Keep one client per realm (and per [`AuthKind`](crate::auth::AuthKind) if a proxy and a
//! registrar both challenge). The cnonce material is the caller's randomness: 8 bytes or
//! more, fresh for every request.

use std::fmt;

use crate::auth::algorithm::{HexDigest, NonceCount, Qop};
use crate::auth::challenge::Challenge;
use crate::auth::credentials::Credentials;
use crate::auth::error::ClientError;
use crate::auth::params::is_printable_quoted;
use crate::auth::response::{DigestInput, DigestRequest, Ha1, request_digest};

/// Answers Digest challenges for one user in one realm.
#[derive(Clone)]
pub struct DigestClient {
    username: String,
    password: String,
    nonce: Option<NonceState>,
}

#[derive(Debug, Clone)]
struct NonceState {
    challenge: Challenge,
    /// Requests sent with this nonce so far (0: none yet).
    used: u32,
}

impl fmt::Debug for DigestClient {
    /// Leaves the password out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestClient")
            .field("username", &self.username)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}

impl DigestClient {
    /// Fewest bytes of cnonce material accepted per request.
    pub const CNONCE_MIN_LEN: usize = 8;

    /// A client for `username` with `password`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUsername`] when the username holds CR, LF or another control
    /// character (it could not be printed in a header).
    pub fn new(
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, ClientError> {
        let username = username.into();
        if !is_printable_quoted(&username) {
            return Err(ClientError::InvalidUsername);
        }
        Ok(Self {
            username,
            password: password.into(),
            nonce: None,
        })
    }

    /// The challenge currently answered, if any.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.nonce.as_ref().map(|n| &n.challenge)
    }

    /// Forgets the nonce: the next request goes without credentials.
    pub fn reset(&mut self) {
        self.nonce = None;
    }

    /// Takes the challenge of a 401/407 response.
    ///
    /// # Errors
    ///
    /// [`ClientError::CredentialsRejected`] when this challenge, not stale and for the same
    /// realm, follows credentials computed for the previous nonce's first use. The nonce
    /// state is then cleared, so a later challenge is answered afresh (a periodic
    /// re-registration tries once more).
    pub fn handle_challenge(&mut self, challenge: Challenge) -> Result<(), ClientError> {
        let rejected = self.nonce.as_ref().is_some_and(|state| {
            state.used == 1 && !challenge.stale && state.challenge.realm == challenge.realm
        });
        if rejected {
            self.nonce = None;
            return Err(ClientError::CredentialsRejected);
        }
        self.nonce = Some(NonceState { challenge, used: 0 });
        Ok(())
    }

    /// Picks the challenge to answer among a response's `WWW-Authenticate` (or
    /// `Proxy-Authenticate`) header values ([`Challenge::select`]) and takes it.
    ///
    /// # Errors
    ///
    /// [`ClientError::Challenge`] when no challenge is usable, else as
    /// [`DigestClient::handle_challenge`].
    pub fn handle_challenge_values<'a>(
        &mut self,
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ClientError> {
        let challenge = Challenge::select(values)?;
        self.handle_challenge(challenge)
    }

    /// Credentials for `request`, with the next nonce count and a cnonce made from
    /// `cnonce_material` (the caller's random bytes, hex-encoded). Print them as the
    /// `Authorization` value (or `Proxy-Authorization` after a 407).
    ///
    /// The qop is `auth` when offered, else `auth-int` (hashing `request.body`), else none.
    ///
    /// # Errors
    ///
    /// [`ClientError::NoChallenge`] before any challenge; [`ClientError::CnonceTooShort`]
    /// when a cnonce is needed and `cnonce_material` is shorter than
    /// [`CNONCE_MIN_LEN`](Self::CNONCE_MIN_LEN); [`ClientError::NonceCountExhausted`].
    pub fn authorize(
        &mut self,
        request: &DigestRequest<'_>,
        cnonce_material: &[u8],
    ) -> Result<Credentials, ClientError> {
        let state = self.nonce.as_mut().ok_or(ClientError::NoChallenge)?;
        let challenge = &state.challenge;
        let qop = if challenge.qop.auth {
            Some(Qop::Auth)
        } else if challenge.qop.auth_int {
            Some(Qop::AuthInt)
        } else {
            None
        };
        let needs_cnonce = qop.is_some() || challenge.algorithm.is_session();
        let cnonce = if needs_cnonce {
            if cnonce_material.len() < Self::CNONCE_MIN_LEN {
                return Err(ClientError::CnonceTooShort {
                    len: cnonce_material.len(),
                    min: Self::CNONCE_MIN_LEN,
                });
            }
            Some(hex_cnonce(cnonce_material))
        } else {
            None
        };
        let used = state
            .used
            .checked_add(1)
            .ok_or(ClientError::NonceCountExhausted)?;
        let credentials = answer(
            challenge,
            &self.username,
            &self.password,
            request,
            qop,
            cnonce,
            NonceCount(used),
        );
        state.used = used;
        Ok(credentials)
    }
}

/// Computes credentials answering `challenge`: the building block under [`DigestClient`],
/// public for callers that keep their own nonce state (and for test vectors).
///
/// `cnonce` must be present when `qop` is or the algorithm is `-sess`; without it the
/// response is computed with an empty cnonce.
pub fn answer(
    challenge: &Challenge,
    username: &str,
    password: &str,
    request: &DigestRequest<'_>,
    qop: Option<Qop>,
    cnonce: Option<String>,
    nc: NonceCount,
) -> Credentials {
    let algorithm = challenge.algorithm;
    let ha1 = Ha1::from_password(
        algorithm.hash_function(),
        username,
        &challenge.realm,
        password,
    );
    let input = DigestInput {
        algorithm,
        nonce: &challenge.nonce,
        cnonce: Some(cnonce.as_deref().unwrap_or_default()),
        qop,
        nc,
        method: request.method,
        uri: request.uri,
        body: request.body,
    };
    let response = request_digest(&ha1, &input)
        .map(|r| r.as_str().to_owned())
        .unwrap_or_default();
    Credentials {
        username: username.to_owned(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: request.uri.to_owned(),
        response,
        algorithm,
        cnonce,
        opaque: challenge.opaque.clone(),
        qop,
        nc: qop.map(|_| nc),
    }
}

/// Hex of up to 32 bytes of cnonce material (more adds nothing a server can use).
fn hex_cnonce(material: &[u8]) -> String {
    let take = material.len().min(32);
    HexDigest::from_bytes(&material[..take]).as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::algorithm::{Algorithm, QopOptions};

    const REGISTER: DigestRequest<'static> = DigestRequest {
        method: "REGISTER",
        uri: "sip:127.0.0.1:5060",
        body: b"",
    };

    fn challenge(nonce: &str, qop: QopOptions) -> Challenge {
        Challenge::new("tandem", nonce, Algorithm::Md5, qop)
    }

    #[test]
    fn counts_requests_per_nonce_and_restarts_on_a_new_one() {
        let mut client = DigestClient::new("alice", "secret").unwrap();
        assert_eq!(
            client.authorize(&REGISTER, &[0; 8]),
            Err(ClientError::NoChallenge)
        );
        client
            .handle_challenge(challenge("n1", QopOptions::AUTH))
            .unwrap();
        let first = client.authorize(&REGISTER, &[1; 8]).unwrap();
        let second = client.authorize(&REGISTER, &[2; 8]).unwrap();
        assert_eq!(first.nc, Some(NonceCount(1)));
        assert_eq!(second.nc, Some(NonceCount(2)));
        assert_eq!(second.cnonce.as_deref(), Some("0202020202020202"));
        assert_ne!(first.response, second.response);
        let mut stale = challenge("n2", QopOptions::AUTH);
        stale.stale = true;
        client.handle_challenge(stale).unwrap();
        assert_eq!(
            client.authorize(&REGISTER, &[3; 8]).unwrap().nc,
            Some(NonceCount(1))
        );
    }

    #[test]
    fn gives_up_when_fresh_credentials_are_challenged_again() {
        let mut client = DigestClient::new("alice", "wrong").unwrap();
        client
            .handle_challenge(challenge("n1", QopOptions::NONE))
            .unwrap();
        client.authorize(&REGISTER, &[]).unwrap();
        assert_eq!(
            client.handle_challenge(challenge("n2", QopOptions::NONE)),
            Err(ClientError::CredentialsRejected)
        );
        assert!(client.challenge().is_none());
        // A later attempt (the next re-registration) starts afresh.
        client
            .handle_challenge(challenge("n3", QopOptions::NONE))
            .unwrap();
    }

    #[test]
    fn answers_a_non_stale_challenge_after_a_reused_nonce() {
        let mut client = DigestClient::new("alice", "secret").unwrap();
        client
            .handle_challenge(challenge("n1", QopOptions::AUTH))
            .unwrap();
        client.authorize(&REGISTER, &[1; 8]).unwrap();
        client.authorize(&REGISTER, &[2; 8]).unwrap();
        client
            .handle_challenge(challenge("n2", QopOptions::AUTH))
            .unwrap();
    }

    #[test]
    fn a_challenge_never_answered_is_simply_replaced() {
        let mut client = DigestClient::new("alice", "secret").unwrap();
        client
            .handle_challenge(challenge("n1", QopOptions::AUTH))
            .unwrap();
        client
            .handle_challenge(challenge("n2", QopOptions::AUTH))
            .unwrap();
        assert_eq!(client.challenge().map(|c| c.nonce.as_str()), Some("n2"));
    }

    #[test]
    fn refuses_short_cnonce_material_only_when_a_cnonce_is_needed() {
        let mut client = DigestClient::new("alice", "secret").unwrap();
        client
            .handle_challenge(challenge("n1", QopOptions::AUTH))
            .unwrap();
        assert_eq!(
            client.authorize(&REGISTER, &[1; 4]),
            Err(ClientError::CnonceTooShort { len: 4, min: 8 })
        );
        client
            .handle_challenge(challenge("n2", QopOptions::NONE))
            .unwrap();
        let c = client.authorize(&REGISTER, &[]).unwrap();
        assert_eq!((c.cnonce, c.nc, c.qop), (None, None, None));
    }

    #[test]
    fn prefers_auth_over_auth_int_and_hashes_the_body_for_auth_int() {
        let mut client = DigestClient::new("alice", "secret").unwrap();
        client
            .handle_challenge(challenge("n", QopOptions::AUTH_AND_AUTH_INT))
            .unwrap();
        assert_eq!(
            client.authorize(&REGISTER, &[1; 8]).unwrap().qop,
            Some(Qop::Auth)
        );
        let only_int = QopOptions {
            auth: false,
            auth_int: true,
        };
        client.reset();
        client.handle_challenge(challenge("m", only_int)).unwrap();
        let with_body = DigestRequest {
            body: b"v=0\r\n",
            ..REGISTER
        };
        let a = client.authorize(&with_body, &[1; 8]).unwrap();
        assert_eq!(a.qop, Some(Qop::AuthInt));
        client.reset();
        client.handle_challenge(challenge("m", only_int)).unwrap();
        let b = client.authorize(&REGISTER, &[1; 8]).unwrap();
        assert_ne!(a.response, b.response);
    }

    #[test]
    fn refuses_a_username_that_would_split_the_header() {
        assert_eq!(
            DigestClient::new("alice\r\nX: y", "p").unwrap_err(),
            ClientError::InvalidUsername
        );
        assert!(!format!("{:?}", DigestClient::new("a", "hunter2").unwrap()).contains("hunter2"));
    }
}
