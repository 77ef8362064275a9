//! Who may use the API: a source-network ACL first, then credentials.
//!
//! - **ACL** (`[api] allow`, CIDR networks): a request from outside every listed network is
//!   refused with 403 before anything else; an empty list allows every source (the default
//!   listener is loopback-only).
//! - **Credentials** (`[api] keys`, `[[api.users]]`): when any is configured, a request
//!   needs an API key (`Authorization: Bearer KEY`, or `?api_key=KEY` for WebSocket clients
//!   that cannot set headers) or HTTP basic credentials (RFC 7617); otherwise 401. With
//!   none configured the API is open. Comparisons take the same time whatever matches.

use std::net::IpAddr;

use serde::Deserialize;

pub use crate::acl::Network;

/// A basic-auth user of the API (`[[api.users]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiUser {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

/// The access rules of the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// Sources allowed; empty allows all.
    pub allow: Vec<Network>,
    /// API keys.
    pub keys: Vec<String>,
    /// Basic-auth users.
    pub users: Vec<ApiUser>,
}

/// What the access check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// The source is outside the ACL (403).
    Forbidden,
    /// Credentials missing or wrong (401).
    Unauthorized,
}

/// Equal-time comparison, so a wrong key does not leak how much of it was right.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Decodes standard base64 (RFC 4648 §4, padding optional); `None` on any other byte.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

impl Access {
    /// Whether credentials are needed at all.
    pub fn needs_credentials(&self) -> bool {
        !self.keys.is_empty() || !self.users.is_empty()
    }

    /// Checks a request from `source` with this `Authorization` header and `api_key` query
    /// parameter.
    pub fn check(
        &self,
        source: IpAddr,
        authorization: Option<&str>,
        api_key: Option<&str>,
    ) -> Verdict {
        if !crate::acl::allows(&self.allow, source) {
            return Verdict::Forbidden;
        }
        if !self.needs_credentials() {
            return Verdict::Allowed;
        }
        let key_ok = |key: &str| {
            self.keys
                .iter()
                .fold(false, |ok, k| same(k.as_bytes(), key.as_bytes()) | ok)
        };
        if api_key.is_some_and(key_ok) {
            return Verdict::Allowed;
        }
        let Some(header) = authorization else {
            return Verdict::Unauthorized;
        };
        let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
        let value = value.trim();
        let ok = if scheme.eq_ignore_ascii_case("bearer") {
            key_ok(value)
        } else if scheme.eq_ignore_ascii_case("basic") {
            base64_decode(value)
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|pair| {
                    let (user, password) = pair.split_once(':')?;
                    Some(self.users.iter().fold(false, |ok, u| {
                        (same(u.username.as_bytes(), user.as_bytes())
                            & same(u.password.as_bytes(), password.as_bytes()))
                            | ok
                    }))
                })
                .unwrap_or(false)
        } else {
            false
        };
        if ok {
            Verdict::Allowed
        } else {
            Verdict::Unauthorized
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn keys_basic_and_acl() {
        let access = Access {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
            keys: vec!["s3cret".into()],
            users: vec![ApiUser {
                username: "ari".into(),
                password: "pw".into(),
            }],
        };
        let lo = ip("127.0.0.1");
        assert_eq!(
            access.check(lo, Some("Bearer s3cret"), None),
            Verdict::Allowed
        );
        assert_eq!(access.check(lo, None, Some("s3cret")), Verdict::Allowed);
        // "ari:pw" in base64.
        assert_eq!(
            access.check(lo, Some("Basic YXJpOnB3"), None),
            Verdict::Allowed
        );
        assert_eq!(
            access.check(lo, Some("Basic YXJpOng="), None),
            Verdict::Unauthorized
        );
        assert_eq!(
            access.check(lo, Some("Bearer nope"), None),
            Verdict::Unauthorized
        );
        assert_eq!(access.check(lo, None, None), Verdict::Unauthorized);
        assert_eq!(
            access.check(ip("192.0.2.1"), Some("Bearer s3cret"), None),
            Verdict::Forbidden
        );
        assert_eq!(Access::default().check(lo, None, None), Verdict::Allowed);
    }
}
