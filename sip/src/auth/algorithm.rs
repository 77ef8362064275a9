//! Digest algorithms (RFC 7616 §3.2, RFC 8760 §2.2), quality of protection (RFC 7616 §3.3),
//! and the hex digests they produce.
//!
//! Hashing never allocates: a [`HexDigest`] lives on the stack. Algorithm tokens are matched
//! case-insensitively, as RFC 7616 §3.3 requires (`md5`, `Sha-256-Sess` are accepted), and
//! printed with the RFC's spelling.

use std::fmt;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

/// The hash function behind an [`Algorithm`] (RFC 7616 §3.2's `H`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HashFunction {
    /// MD5 (RFC 1321): 32 hex digits. Broken for collisions, still what most SIP peers speak.
    Md5,
    /// SHA-256 (FIPS 180-4): 64 hex digits. RFC 8760's preferred algorithm.
    Sha256,
    /// SHA-512/256 (FIPS 180-4): 64 hex digits.
    Sha512_256,
}

impl HashFunction {
    /// Number of hex digits in this function's output (`H(data)` is printed in lowercase hex).
    pub const fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha256 | Self::Sha512_256 => 64,
        }
    }

    /// `H(fields[0] ":" fields[1] ":" …)`: hashes the fields joined by colons, the shape
    /// every RFC 7616 §3.4.1 formula has, without building the joined string.
    pub fn hash_fields(self, fields: &[&[u8]]) -> HexDigest {
        match self {
            Self::Md5 => hash_with::<Md5>(fields),
            Self::Sha256 => hash_with::<Sha256>(fields),
            Self::Sha512_256 => hash_with::<Sha512_256>(fields),
        }
    }

    /// `H(data)`: the hash of one byte string (e.g. the body for `qop=auth-int`).
    pub fn hash(self, data: &[u8]) -> HexDigest {
        self.hash_fields(&[data])
    }
}

fn hash_with<D: Digest>(fields: &[&[u8]]) -> HexDigest {
    let mut hasher = D::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(field);
    }
    HexDigest::from_bytes(&hasher.finalize())
}

/// A digest algorithm as named in the `algorithm` parameter (RFC 7616 §3.3, RFC 8760 §2.2).
///
/// The `-sess` variants hash the client nonce into `A1` (RFC 7616 §3.4.2). An absent
/// `algorithm` parameter means [`Algorithm::Md5`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `MD5`: the default when the parameter is absent (RFC 3261 §22.4, RFC 7616 §3.3).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`: RFC 8760's first choice.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256`.
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl Algorithm {
    /// Every algorithm this module implements, strongest hash first.
    pub const ALL: [Algorithm; 6] = [
        Self::Sha512_256,
        Self::Sha512_256Sess,
        Self::Sha256,
        Self::Sha256Sess,
        Self::Md5,
        Self::Md5Sess,
    ];

    /// Parses an `algorithm` token, ignoring ASCII case. `None` for algorithms we do not
    /// implement (RFC 7616 §3.7: the client ignores such challenges).
    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    /// The token as the RFCs spell it (`MD5`, `SHA-256-sess`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// The hash function `H` this algorithm uses.
    pub const fn hash_function(self) -> HashFunction {
        match self {
            Self::Md5 | Self::Md5Sess => HashFunction::Md5,
            Self::Sha256 | Self::Sha256Sess => HashFunction::Sha256,
            Self::Sha512_256 | Self::Sha512_256Sess => HashFunction::Sha512_256,
        }
    }

    /// Whether this is a `-sess` variant (A1 includes the nonce and cnonce, RFC 7616 §3.4.2).
    pub const fn is_session(self) -> bool {
        matches!(
            self,
            Self::Md5Sess | Self::Sha256Sess | Self::Sha512_256Sess
        )
    }

    /// Rank used to pick among several challenges: higher is stronger. Session variants rank
    /// with their hash; ties are broken by the server's order.
    pub(crate) const fn strength(self) -> u8 {
        match self.hash_function() {
            HashFunction::Md5 => 1,
            HashFunction::Sha256 => 2,
            HashFunction::Sha512_256 => 3,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quality of protection value (RFC 7616 §3.3 `qop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Qop {
    /// `auth`: authentication of the method and request URI.
    Auth,
    /// `auth-int`: `auth` plus the hash of the message body.
    AuthInt,
}

impl Qop {
    /// Parses a qop token, ignoring ASCII case; `None` for unknown tokens.
    pub fn from_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("auth") {
            Some(Self::Auth)
        } else if token.eq_ignore_ascii_case("auth-int") {
            Some(Self::AuthInt)
        } else {
            None
        }
    }

    /// The token as printed (`auth`, `auth-int`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of qop values a challenge offers (RFC 7616 §3.3 `qop-options`). Empty means the
/// server does not use qop (RFC 2069 compatibility).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QopOptions {
    /// `auth` is offered.
    pub auth: bool,
    /// `auth-int` is offered.
    pub auth_int: bool,
}

impl QopOptions {
    /// No qop: the RFC 2069 response.
    pub const NONE: Self = Self {
        auth: false,
        auth_int: false,
    };
    /// `qop="auth"`.
    pub const AUTH: Self = Self {
        auth: true,
        auth_int: false,
    };
    /// `qop="auth,auth-int"`.
    pub const AUTH_AND_AUTH_INT: Self = Self {
        auth: true,
        auth_int: true,
    };

    /// Parses a comma-separated `qop-options` value. Unknown tokens are ignored
    /// (RFC 7616 §3.3: "unrecognized options MUST be ignored"); surrounding whitespace and
    /// empty list elements are tolerated.
    pub fn from_list(list: &str) -> Self {
        let mut options = Self::NONE;
        for token in list.split(',').map(|t| t.trim_matches([' ', '\t'])) {
            options.insert_token(token);
        }
        options
    }

    fn insert_token(&mut self, token: &str) {
        match Qop::from_token(token) {
            Some(Qop::Auth) => self.auth = true,
            Some(Qop::AuthInt) => self.auth_int = true,
            None => {}
        }
    }

    /// Whether no qop is offered.
    pub const fn is_empty(self) -> bool {
        !self.auth && !self.auth_int
    }

    /// Whether `qop` is in the set.
    pub const fn contains(self, qop: Qop) -> bool {
        match qop {
            Qop::Auth => self.auth,
            Qop::AuthInt => self.auth_int,
        }
    }
}

impl fmt::Display for QopOptions {
    /// Prints the list without quotes (`auth,auth-int`); the challenge printer quotes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.auth, self.auth_int) {
            (true, true) => f.write_str("auth,auth-int"),
            (true, false) => f.write_str("auth"),
            (false, true) => f.write_str("auth-int"),
            (false, false) => Ok(()),
        }
    }
}

/// The nonce count (RFC 7616 §3.4 `nc`): how many requests the client has sent with one
/// nonce, counting from 1, printed as 8 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NonceCount(pub u32);

impl NonceCount {
    /// The count of the first request sent with a nonce.
    pub const FIRST: Self = Self(1);

    /// The next count, or `None` once the 32-bit counter is exhausted (a new nonce is needed).
    pub const fn next(self) -> Option<Self> {
        match self.0.checked_add(1) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// Parses `nc`: 1 to 8 hex digits, either case (RFC 7616 says exactly 8 `LHEX`; shorter
    /// forms are accepted from lenient peers).
    pub fn parse(value: &str) -> Option<Self> {
        if value.is_empty() || value.len() > 8 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(value, 16).ok().map(Self)
    }
}

impl fmt::Display for NonceCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// A hash printed as lowercase hex, held inline (up to 64 digits: SHA-256 and SHA-512/256).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HexDigest {
    digits: [u8; HexDigest::MAX_LEN],
    len: u8,
}

impl HexDigest {
    /// Longest digest held: 32 bytes as 64 hex digits.
    pub const MAX_LEN: usize = 64;

    /// Hex-encodes `bytes` (at most 32 of them; longer input is truncated, which cannot
    /// happen for the hash functions here).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = Self {
            digits: [0; Self::MAX_LEN],
            len: 0,
        };
        for (pair, byte) in out.digits.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
            out.len += 2;
        }
        out
    }

    /// Copies a hex string, lowercasing it; `None` unless it is 1 to 64 hex digits.
    pub(crate) fn from_hex(hex: &str) -> Option<Self> {
        if hex.is_empty()
            || hex.len() > Self::MAX_LEN
            || !hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        let mut out = Self {
            digits: [0; Self::MAX_LEN],
            len: 0,
        };
        for (slot, byte) in out.digits.iter_mut().zip(hex.bytes()) {
            *slot = byte.to_ascii_lowercase();
        }
        out.len = hex.len() as u8;
        Some(out)
    }

    /// The digits as a string.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The digits as ASCII bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..usize::from(self.len)]
    }
}

impl fmt::Display for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexDigest({})", self.as_str())
    }
}

/// Compares two byte strings in time that depends only on their lengths, not on where they
/// differ: used for response digests and nonce MACs so a timing oracle leaks nothing.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_tokens_ignore_case_and_print_canonically() {
        assert_eq!(Algorithm::from_token("md5"), Some(Algorithm::Md5));
        assert_eq!(
            Algorithm::from_token("Sha-256-SESS"),
            Some(Algorithm::Sha256Sess)
        );
        assert_eq!(
            Algorithm::from_token("sha-512-256"),
            Some(Algorithm::Sha512_256)
        );
        assert_eq!(Algorithm::from_token("SHA-1"), None);
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_token(a.as_str()), Some(a));
        }
    }

    #[test]
    fn hashes_match_known_values() {
        // printf '' | md5sum ; printf '' | sha256sum
        assert_eq!(
            HashFunction::Md5.hash(b"").as_str(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            HashFunction::Sha256.hash(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // FIPS 180-4 example "abc" for SHA-512/256.
        assert_eq!(
            HashFunction::Sha512_256.hash(b"abc").as_str(),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
        // printf 'a:b' | md5sum
        assert_eq!(
            HashFunction::Md5.hash_fields(&[b"a", b"b"]),
            HashFunction::Md5.hash(b"a:b")
        );
    }

    #[test]
    fn qop_options_ignore_unknown_tokens_and_spaces() {
        assert_eq!(
            QopOptions::from_list(" auth , auth-int "),
            QopOptions::AUTH_AND_AUTH_INT
        );
        assert_eq!(QopOptions::from_list("AUTH,x-other,,"), QopOptions::AUTH);
        assert!(QopOptions::from_list("").is_empty());
        assert_eq!(QopOptions::AUTH_AND_AUTH_INT.to_string(), "auth,auth-int");
    }

    #[test]
    fn nonce_count_prints_eight_lowercase_digits_and_parses_leniently() {
        assert_eq!(NonceCount(0xab).to_string(), "000000ab");
        assert_eq!(NonceCount::parse("000000AB"), Some(NonceCount(0xab)));
        assert_eq!(NonceCount::parse("1"), Some(NonceCount(1)));
        assert_eq!(NonceCount::parse("123456789"), None);
        assert_eq!(NonceCount::parse("+1"), None);
        assert_eq!(NonceCount(u32::MAX).next(), None);
    }

    #[test]
    fn hex_digest_from_hex_lowercases_and_rejects_non_hex() {
        assert_eq!(
            HexDigest::from_hex("ABcd").map(|h| h.to_string()),
            Some("abcd".into())
        );
        assert!(HexDigest::from_hex("xyz").is_none());
        assert!(HexDigest::from_hex("").is_none());
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
