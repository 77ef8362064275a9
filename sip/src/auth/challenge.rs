//! Digest challenges: the value of `WWW-Authenticate` (401) and `Proxy-Authenticate` (407),
//! RFC 7616 §3.3, RFC 3261 §22.2–§22.3, RFC 8760 §2.
//!
//! [`Challenge::parse`] reads one challenge; [`Challenge::select`] reads every challenge of a
//! response (several header fields, each possibly a comma-separated list) and picks the one
//! to answer. Printing ([`Display`](std::fmt::Display)) is canonical: `print(parse(x))` is
//! stable and `parse(print(c)) == c`.

use std::fmt;

use crate::auth::algorithm::{Algorithm, QopOptions};
use crate::auth::error::AuthError;
use crate::auth::params::{self, ParamName, SchemeParams, write_quoted};

/// Which of RFC 3261's two authentication exchanges a header belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    /// §22.2 User-to-User: 401 with `WWW-Authenticate`, answered by `Authorization`
    /// (registrars and UASs).
    UserToUser,
    /// §22.3 Proxy-to-User: 407 with `Proxy-Authenticate`, answered by `Proxy-Authorization`.
    ProxyToUser,
}

impl AuthKind {
    /// The response status that carries the challenge: 401 or 407.
    pub const fn status_code(self) -> u16 {
        match self {
            Self::UserToUser => 401,
            Self::ProxyToUser => 407,
        }
    }

    /// The challenge header's name: `WWW-Authenticate` or `Proxy-Authenticate`.
    pub const fn challenge_header(self) -> &'static str {
        match self {
            Self::UserToUser => "WWW-Authenticate",
            Self::ProxyToUser => "Proxy-Authenticate",
        }
    }

    /// The credentials header's name: `Authorization` or `Proxy-Authorization`.
    pub const fn credentials_header(self) -> &'static str {
        match self {
            Self::UserToUser => "Authorization",
            Self::ProxyToUser => "Proxy-Authorization",
        }
    }
}

/// One Digest challenge.
///
/// Values are held unquoted and unescaped. Parameters this module does not know (`charset`,
/// `userhash`, extensions) are ignored on parsing and not printed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Challenge {
    /// `realm`: the protection space; shown to users, compared exactly.
    pub realm: String,
    /// `domain`: space-separated URIs of the protection space (rare in SIP).
    pub domain: Option<String>,
    /// `nonce`: the server's nonce, opaque to the client.
    pub nonce: String,
    /// `opaque`: returned unchanged in the credentials.
    pub opaque: Option<String>,
    /// `stale`: the previous credentials were right but their nonce had expired; retry with
    /// this nonce without asking the user again. Absent or any value but `true` is false
    /// (RFC 7616 §3.3).
    pub stale: bool,
    /// `algorithm`; absent means MD5.
    pub algorithm: Algorithm,
    /// `qop` options; empty for an RFC 2069 challenge.
    pub qop: QopOptions,
}

impl Challenge {
    /// A challenge with no domain, no opaque, not stale.
    pub fn new(
        realm: impl Into<String>,
        nonce: impl Into<String>,
        algorithm: Algorithm,
        qop: QopOptions,
    ) -> Self {
        Self {
            realm: realm.into(),
            domain: None,
            nonce: nonce.into(),
            opaque: None,
            stale: false,
            algorithm,
            qop,
        }
    }

    /// Parses a header value holding exactly one Digest challenge.
    ///
    /// # Errors
    ///
    /// Grammar errors from the auth-param parser; [`AuthError::NotDigest`] for another
    /// scheme; [`AuthError::TooManyChallenges`] when the value lists more than one challenge
    /// (use [`Challenge::select`] for those); [`AuthError::MissingParameter`] without
    /// `realm` or `nonce`; [`AuthError::UnsupportedAlgorithm`]; [`AuthError::UnsupportedQop`]
    /// when `qop` is present but names no option we implement.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        match params::parse_list(value)?.as_slice() {
            [one] => Self::from_scheme_params(one),
            _ => Err(AuthError::TooManyChallenges { max: 1 }),
        }
    }

    /// Picks the challenge to answer among all the challenge header values of one response
    /// (one string per `WWW-Authenticate` or `Proxy-Authenticate` field, in message order).
    ///
    /// Non-Digest schemes and Digest challenges we cannot use are skipped (RFC 8760 §2.4:
    /// "MUST ignore any challenge it does not support"). Among the rest the strongest hash
    /// wins, and between equals the topmost, which is the server's preference (RFC 8760
    /// §2.4). Preferring strength over position is the local policy §2.4 allows: it keeps a
    /// server (or anyone who can prepend a header) from steering us down to MD5 while it
    /// also offers SHA-256.
    ///
    /// # Errors
    ///
    /// When nothing usable is found: the first error met (a malformed value or an unusable
    /// Digest challenge), or [`AuthError::NoSupportedChallenge`] when there were only other
    /// schemes, or [`AuthError::Empty`] when there was nothing at all.
    pub fn select<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, AuthError> {
        let mut best: Option<Self> = None;
        let mut first_error = None;
        let mut saw_any = false;
        for value in values {
            let list = match params::parse_list(value) {
                Ok(list) => list,
                Err(AuthError::Empty) => continue,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            saw_any = true;
            for item in list.iter().filter(|item| item.is_digest()) {
                match Self::from_scheme_params(item) {
                    Ok(challenge) => {
                        let stronger = best.as_ref().is_none_or(|b| {
                            challenge.algorithm.strength() > b.algorithm.strength()
                        });
                        if stronger {
                            best = Some(challenge);
                        }
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        match (best, first_error) {
            (Some(challenge), _) => Ok(challenge),
            (None, Some(e)) => Err(e),
            (None, None) if saw_any => Err(AuthError::NoSupportedChallenge),
            (None, None) => Err(AuthError::Empty),
        }
    }

    pub(crate) fn from_scheme_params(item: &SchemeParams<'_>) -> Result<Self, AuthError> {
        let known = item.digest_params()?;
        let algorithm = match known.get(ParamName::Algorithm) {
            None => Algorithm::Md5,
            Some(token) => Algorithm::from_token(token).ok_or(AuthError::UnsupportedAlgorithm)?,
        };
        let qop = match known.get(ParamName::Qop) {
            None => QopOptions::NONE,
            Some(list) => {
                let options = QopOptions::from_list(list);
                if options.is_empty() {
                    return Err(AuthError::UnsupportedQop);
                }
                options
            }
        };
        Ok(Self {
            realm: known.require(ParamName::Realm)?.to_owned(),
            domain: known.get(ParamName::Domain).map(str::to_owned),
            nonce: known.require(ParamName::Nonce)?.to_owned(),
            opaque: known.get(ParamName::Opaque).map(str::to_owned),
            stale: known
                .get(ParamName::Stale)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            algorithm,
            qop,
        })
    }
}

impl fmt::Display for Challenge {
    /// `Digest realm="…", [domain="…", ]nonce="…"[, opaque="…"][, stale=TRUE],
    /// algorithm=…[, qop="…"]`: quoted where RFC 7616 §3.3 says senders quote, tokens where
    /// it says they must not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest realm=")?;
        write_quoted(f, &self.realm)?;
        if let Some(domain) = &self.domain {
            f.write_str(", domain=")?;
            write_quoted(f, domain)?;
        }
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        if self.stale {
            f.write_str(", stale=TRUE")?;
        }
        write!(f, ", algorithm={}", self.algorithm)?;
        if !self.qop.is_empty() {
            write!(f, ", qop=\"{}\"", self.qop)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc7616_example_challenge() {
        // RFC 7616 §3.9.1.
        let c = Challenge::parse(
            "Digest\n realm=\"http-auth@example.org\",\n qop=\"auth, auth-int\",\n \
             algorithm=SHA-256,\n nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\n \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        )
        .unwrap();
        assert_eq!(c.realm, "http-auth@example.org");
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(c.qop, QopOptions::AUTH_AND_AUTH_INT);
        assert_eq!(c.nonce, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v");
        assert_eq!(
            c.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        assert!(!c.stale);
    }

    #[test]
    fn absent_algorithm_is_md5_and_stale_is_case_insensitive() {
        let c = Challenge::parse(r#"digest REALM=tandem, Nonce="n", STALE="True""#).unwrap();
        assert_eq!(c.algorithm, Algorithm::Md5);
        assert!(c.stale);
        assert!(c.qop.is_empty());
        let c = Challenge::parse(r#"Digest realm=tandem, nonce=n, stale=yes"#).unwrap();
        assert!(!c.stale);
    }

    #[test]
    fn prints_canonically() {
        let mut c = Challenge::new("tandem", "abc", Algorithm::Sha256, QopOptions::AUTH);
        c.stale = true;
        c.opaque = Some("o\"q".into());
        assert_eq!(
            c.to_string(),
            r#"Digest realm="tandem", nonce="abc", opaque="o\"q", stale=TRUE, algorithm=SHA-256, qop="auth""#
        );
        assert_eq!(Challenge::parse(&c.to_string()), Ok(c));
    }

    #[test]
    fn missing_and_unsupported_fields_are_typed_errors() {
        assert_eq!(
            Challenge::parse(r#"Digest nonce="n""#),
            Err(AuthError::MissingParameter(ParamName::Realm))
        );
        assert_eq!(
            Challenge::parse(r#"Digest realm="r", nonce="n", algorithm=SHA-1"#),
            Err(AuthError::UnsupportedAlgorithm)
        );
        assert_eq!(
            Challenge::parse(r#"Digest realm="r", nonce="n", qop="auth-conf""#),
            Err(AuthError::UnsupportedQop)
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="r""#),
            Err(AuthError::NotDigest)
        );
        assert_eq!(
            Challenge::parse(r#"Digest realm=a, nonce=b, Digest realm=c, nonce=d"#),
            Err(AuthError::TooManyChallenges { max: 1 })
        );
    }

    #[test]
    fn select_prefers_the_strongest_then_the_topmost() {
        let md5 = r#"Digest realm="r", nonce="1", algorithm=MD5"#;
        let sha = r#"Digest realm="r", nonce="2", algorithm=SHA-256"#;
        let sha_too = r#"Digest realm="r", nonce="3", algorithm=sha-256-sess"#;
        assert_eq!(Challenge::select([md5, sha, sha_too]).unwrap().nonce, "2");
        let one_value = format!("Basic realm=\"x\", {md5}, {sha_too}, {sha}");
        assert_eq!(Challenge::select([one_value.as_str()]).unwrap().nonce, "3");
    }

    #[test]
    fn select_skips_what_it_cannot_use() {
        let unknown = r#"Digest realm="r", nonce="1", algorithm=SHA-1"#;
        let broken = r#"Digest realm="r", nonce="2"#;
        let md5 = r#"Digest realm="r", nonce="3""#;
        assert_eq!(
            Challenge::select([unknown, broken, md5]).unwrap().nonce,
            "3"
        );
        assert_eq!(
            Challenge::select([unknown, broken]),
            Err(AuthError::UnsupportedAlgorithm)
        );
        assert_eq!(
            Challenge::select([r#"Basic realm="x""#]),
            Err(AuthError::NoSupportedChallenge)
        );
        assert_eq!(Challenge::select([" ", ""]), Err(AuthError::Empty));
    }
}
