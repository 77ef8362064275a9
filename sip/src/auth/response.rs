//! The request-digest computation (RFC 7616 §3.4.1–§3.4.3, RFC 2617 §3.2.2, RFC 2069), shared
//! by the client that sends `response=` and the verifier that recomputes it.
//!
//! ```text
//! A1       = username ":" realm ":" password                       (HA1 = H(A1))
//! A1 -sess = H(username ":" realm ":" password) ":" nonce ":" cnonce
//! A2       = method ":" uri                       (qop absent or auth)
//! A2       = method ":" uri ":" H(body)           (qop=auth-int)
//! response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2))   (qop present)
//! response = H(HA1 ":" nonce ":" H(A2))                             (RFC 2069, no qop)
//! ```
//!
//! Nothing here allocates: hashes are fed field by field and held in [`HexDigest`]s.

use crate::auth::algorithm::{Algorithm, HashFunction, HexDigest, NonceCount, Qop};

/// `H(username ":" realm ":" password)`: what a server may store instead of the password,
/// tied to one hash function (a SHA-256 HA1 cannot check an MD5 response).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ha1 {
    hash: HashFunction,
    digest: HexDigest,
}

impl Ha1 {
    /// Computes HA1 from the password (RFC 7616 §3.4.2).
    pub fn from_password(hash: HashFunction, username: &str, realm: &str, password: &str) -> Self {
        Self {
            hash,
            digest: hash.hash_fields(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()]),
        }
    }

    /// Takes a stored HA1 in hex (either case). `None` unless it has exactly the hash
    /// function's length in hex digits.
    pub fn from_hex(hash: HashFunction, hex: &str) -> Option<Self> {
        let digest = HexDigest::from_hex(hex)?;
        (digest.as_bytes().len() == hash.hex_len()).then_some(Self { hash, digest })
    }

    /// The hash function this HA1 was computed with.
    pub const fn hash_function(&self) -> HashFunction {
        self.hash
    }

    /// The HA1 in lowercase hex.
    pub fn as_str(&self) -> &str {
        self.digest.as_str()
    }
}

impl std::fmt::Debug for Ha1 {
    /// Does not print the digest: an HA1 is as good as the password for this realm.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ha1")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// The parts of a SIP request that digest authentication covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestRequest<'a> {
    /// The method (`REGISTER`, `INVITE`, …). For `ACK` and `CANCEL` RFC 3261 §22.1 says
    /// which credentials to reuse; that choice is the transaction layer's.
    pub method: &'a str,
    /// The Request-URI as it appears on the request line. The client copies it into `uri`;
    /// the verifier compares it with `uri` when
    /// [`VerifierConfig::check_request_uri`](crate::auth::VerifierConfig::check_request_uri)
    /// is set.
    pub uri: &'a str,
    /// The message body, hashed for `qop=auth-int`; empty when there is none.
    pub body: &'a [u8],
}

/// Everything besides HA1 that goes into a request-digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestInput<'a> {
    /// The algorithm named in the credentials.
    pub algorithm: Algorithm,
    /// The server nonce, unquoted.
    pub nonce: &'a str,
    /// The client nonce, unquoted; required with a qop or a `-sess` algorithm.
    pub cnonce: Option<&'a str>,
    /// The qop chosen; `None` for the RFC 2069 response.
    pub qop: Option<Qop>,
    /// The nonce count; only used with a qop.
    pub nc: NonceCount,
    /// The request method (`REGISTER`, `INVITE`, …).
    pub method: &'a str,
    /// The digest-uri, exactly as it appears in the credentials' `uri`.
    pub uri: &'a str,
    /// The message body; only used with `qop=auth-int` (empty for no body).
    pub body: &'a [u8],
}

/// Computes the request-digest (the `response` parameter).
///
/// Returns `None` when `ha1` was computed with another hash function than
/// `input.algorithm`'s, or when a cnonce is needed (qop present or `-sess`) but absent.
pub fn request_digest(ha1: &Ha1, input: &DigestInput<'_>) -> Option<HexDigest> {
    let hash = input.algorithm.hash_function();
    if ha1.hash != hash {
        return None;
    }
    let needs_cnonce = input.qop.is_some() || input.algorithm.is_session();
    if needs_cnonce && input.cnonce.is_none() {
        return None;
    }
    let cnonce = input.cnonce.unwrap_or_default().as_bytes();
    let nonce = input.nonce.as_bytes();
    let session_ha1;
    let ha1 = if input.algorithm.is_session() {
        session_ha1 = hash.hash_fields(&[ha1.digest.as_bytes(), nonce, cnonce]);
        &session_ha1
    } else {
        &ha1.digest
    };
    let method = input.method.as_bytes();
    let uri = input.uri.as_bytes();
    let ha2 = match input.qop {
        Some(Qop::AuthInt) => {
            let body = hash.hash(input.body);
            hash.hash_fields(&[method, uri, body.as_bytes()])
        }
        Some(Qop::Auth) | None => hash.hash_fields(&[method, uri]),
    };
    Some(match input.qop {
        Some(qop) => {
            let nc = nc_digits(input.nc);
            hash.hash_fields(&[
                ha1.as_bytes(),
                nonce,
                &nc,
                cnonce,
                qop.as_str().as_bytes(),
                ha2.as_bytes(),
            ])
        }
        None => hash.hash_fields(&[ha1.as_bytes(), nonce, ha2.as_bytes()]),
    })
}

/// `nc` as 8 lowercase hex digits, without allocating.
fn nc_digits(nc: NonceCount) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (i, slot) in out.iter_mut().enumerate() {
        let nibble = (nc.0 >> (28 - 4 * i)) & 0xf;
        *slot = b"0123456789abcdef"[nibble as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nc_digits_match_display() {
        for n in [0, 1, 0xabc, u32::MAX] {
            assert_eq!(
                nc_digits(NonceCount(n)),
                NonceCount(n).to_string().as_bytes()
            );
        }
    }

    #[test]
    fn ha1_from_hex_checks_length_and_lowercases() {
        // printf 'alice:tandem:secret' | md5sum
        let ha1 = Ha1::from_hex(HashFunction::Md5, "BBF8EDA42B1A71B7D24E17E18CCD85EC").unwrap();
        assert_eq!(
            ha1,
            Ha1::from_password(HashFunction::Md5, "alice", "tandem", "secret")
        );
        assert!(Ha1::from_hex(HashFunction::Sha256, ha1.as_str()).is_none());
        assert!(!format!("{ha1:?}").contains("bbf8"));
    }

    #[test]
    fn refuses_mismatched_hash_or_missing_cnonce() {
        let ha1 = Ha1::from_password(HashFunction::Md5, "u", "r", "p");
        let input = DigestInput {
            algorithm: Algorithm::Sha256,
            nonce: "n",
            cnonce: Some("c"),
            qop: Some(Qop::Auth),
            nc: NonceCount::FIRST,
            method: "REGISTER",
            uri: "sip:r",
            body: b"",
        };
        assert!(request_digest(&ha1, &input).is_none());
        let input = DigestInput {
            algorithm: Algorithm::Md5,
            cnonce: None,
            ..input
        };
        assert!(request_digest(&ha1, &input).is_none());
        let input = DigestInput { qop: None, ..input };
        assert!(request_digest(&ha1, &input).is_some());
    }
}
