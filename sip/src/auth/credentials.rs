//! Digest credentials: the value of `Authorization` and `Proxy-Authorization`
//! (RFC 7616 §3.4, RFC 3261 §22.2–§22.4).
//!
//! [`Credentials::parse`] accepts what peers send (any parameter order and name case,
//! quoted or bare values, `qop="auth"` quoted by old stacks) and checks the combinations
//! RFC 7616 requires: `cnonce` and `nc` with a qop, `cnonce` with a `-sess` algorithm, a hex
//! `response`. Printing ([`Display`](std::fmt::Display)) follows RFC 7616's quoting rules
//! and is canonical: `parse(print(c)) == c` for any credentials that parse.

use std::fmt;

use crate::auth::algorithm::{Algorithm, NonceCount, Qop};
use crate::auth::error::AuthError;
use crate::auth::params::{self, ParamName, SchemeParams, write_quoted};

/// One set of Digest credentials.
///
/// Values are held unquoted and unescaped; `response` is lowercase hex. Parameters this
/// module does not know (`userhash`, `username*`, extensions) are ignored and not printed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`, copied from the challenge.
    pub realm: String,
    /// `nonce`, copied from the challenge.
    pub nonce: String,
    /// `uri`: the digest-uri, normally the Request-URI (RFC 3261 §22.4).
    pub uri: String,
    /// `response`: the request-digest, lowercase hex.
    pub response: String,
    /// `algorithm`; absent means MD5.
    pub algorithm: Algorithm,
    /// `cnonce`: the client nonce; present with a qop or a `-sess` algorithm.
    pub cnonce: Option<String>,
    /// `opaque`, copied from the challenge.
    pub opaque: Option<String>,
    /// `qop`: the chosen quality of protection; `None` for an RFC 2069 response.
    pub qop: Option<Qop>,
    /// `nc`: the nonce count; present with a qop.
    pub nc: Option<NonceCount>,
}

impl Credentials {
    /// Parses a header value holding one set of Digest credentials.
    ///
    /// # Errors
    ///
    /// Grammar errors from the auth-param parser; [`AuthError::NotDigest`];
    /// [`AuthError::TooManyChallenges`] when the value lists several credentials;
    /// [`AuthError::MissingParameter`] for an absent `username`, `realm`, `nonce`, `uri` or
    /// `response`, for `cnonce`/`nc` missing with a qop, and `cnonce` missing with a `-sess`
    /// algorithm; [`AuthError::InvalidValue`] for a `response` that is not 1 to 64 hex digits
    /// or an `nc` that is not 1 to 8; [`AuthError::UnsupportedAlgorithm`],
    /// [`AuthError::UnsupportedQop`].
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        match params::parse_list(value)?.as_slice() {
            [one] => Self::from_scheme_params(one),
            _ => Err(AuthError::TooManyChallenges { max: 1 }),
        }
    }

    pub(crate) fn from_scheme_params(item: &SchemeParams<'_>) -> Result<Self, AuthError> {
        let known = item.digest_params()?;
        let algorithm = match known.get(ParamName::Algorithm) {
            None => Algorithm::Md5,
            Some(token) => Algorithm::from_token(token).ok_or(AuthError::UnsupportedAlgorithm)?,
        };
        let qop = match known.get(ParamName::Qop) {
            None => None,
            Some(token) => Some(Qop::from_token(token).ok_or(AuthError::UnsupportedQop)?),
        };
        let nc = match known.get(ParamName::Nc) {
            None => None,
            Some(value) => {
                Some(NonceCount::parse(value).ok_or(AuthError::InvalidValue(ParamName::Nc))?)
            }
        };
        let cnonce = known.get(ParamName::Cnonce).map(str::to_owned);
        if qop.is_some() {
            known.require(ParamName::Cnonce)?;
            known.require(ParamName::Nc)?;
        }
        if algorithm.is_session() {
            known.require(ParamName::Cnonce)?;
        }
        let response = known.require(ParamName::Response)?;
        let hex_len_ok = (1..=64).contains(&response.len());
        if !hex_len_ok || !response.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::InvalidValue(ParamName::Response));
        }
        Ok(Self {
            username: known.require(ParamName::Username)?.to_owned(),
            realm: known.require(ParamName::Realm)?.to_owned(),
            nonce: known.require(ParamName::Nonce)?.to_owned(),
            uri: known.require(ParamName::Uri)?.to_owned(),
            response: response.to_ascii_lowercase(),
            algorithm,
            cnonce,
            opaque: known.get(ParamName::Opaque).map(str::to_owned),
            qop,
            nc,
        })
    }
}

impl fmt::Display for Credentials {
    /// `Digest username="…", realm="…", nonce="…", uri="…", response="…", algorithm=…
    /// [, cnonce="…"][, opaque="…"][, qop=…][, nc=…]`. `qop`, `nc` and `algorithm` are
    /// tokens (RFC 7616 §3.4), the rest quoted strings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest username=")?;
        write_quoted(f, &self.username)?;
        f.write_str(", realm=")?;
        write_quoted(f, &self.realm)?;
        f.write_str(", nonce=")?;
        write_quoted(f, &self.nonce)?;
        f.write_str(", uri=")?;
        write_quoted(f, &self.uri)?;
        f.write_str(", response=")?;
        write_quoted(f, &self.response)?;
        write!(f, ", algorithm={}", self.algorithm)?;
        if let Some(cnonce) = &self.cnonce {
            f.write_str(", cnonce=")?;
            write_quoted(f, cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            f.write_str(", opaque=")?;
            write_quoted(f, opaque)?;
        }
        if let Some(qop) = self.qop {
            write!(f, ", qop={qop}")?;
        }
        if let Some(nc) = self.nc {
            write!(f, ", nc={nc}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1, the SHA-256 Authorization header (line breaks as in the RFC).
    const RFC7616_SHA256: &str = "Digest username=\"Mufasa\",\n realm=\"http-auth@example.org\",\n \
        uri=\"/dir/index.html\",\n algorithm=SHA-256,\n \
        nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\n nc=00000001,\n \
        cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\n qop=auth,\n \
        response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\",\n \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

    #[test]
    fn parses_rfc7616_example_credentials() {
        let c = Credentials::parse(RFC7616_SHA256).unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.uri, "/dir/index.html");
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.nc, Some(NonceCount(1)));
        assert_eq!(
            c.cnonce.as_deref(),
            Some("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
        );
        assert_eq!(Credentials::parse(&c.to_string()), Ok(c));
    }

    #[test]
    fn accepts_quoted_tokens_and_uppercase_hex() {
        let c = Credentials::parse(
            r#"DIGEST USERNAME="a", Realm="r", NONCE="n", URI="sip:r", RESPONSE="ABCDEF01",
               QOP="auth", NC="0000000A", CNONCE="c", ALGORITHM="md5-SESS""#,
        )
        .unwrap();
        assert_eq!(c.response, "abcdef01");
        assert_eq!(c.nc, Some(NonceCount(10)));
        assert_eq!(c.algorithm, Algorithm::Md5Sess);
        assert_eq!(
            c.to_string(),
            r#"Digest username="a", realm="r", nonce="n", uri="sip:r", response="abcdef01", algorithm=MD5-sess, cnonce="c", qop=auth, nc=0000000a"#
        );
    }

    #[test]
    fn checks_required_combinations() {
        let base = r#"Digest username="a", realm="r", nonce="n", uri="u", response="00""#;
        assert!(Credentials::parse(base).is_ok());
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth, nc=00000001")),
            Err(AuthError::MissingParameter(ParamName::Cnonce))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth, cnonce=x")),
            Err(AuthError::MissingParameter(ParamName::Nc))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, algorithm=SHA-256-sess")),
            Err(AuthError::MissingParameter(ParamName::Cnonce))
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, qop=auth-conf")),
            Err(AuthError::UnsupportedQop)
        );
        assert_eq!(
            Credentials::parse(&format!("{base}, nc=zz")),
            Err(AuthError::InvalidValue(ParamName::Nc))
        );
        assert_eq!(
            Credentials::parse(
                r#"Digest username="a", realm="r", nonce="n", uri="u", response="""#
            ),
            Err(AuthError::InvalidValue(ParamName::Response))
        );
        assert_eq!(
            Credentials::parse(r#"Digest username="a", realm="r", nonce="n", response="00""#),
            Err(AuthError::MissingParameter(ParamName::Uri))
        );
    }
}
