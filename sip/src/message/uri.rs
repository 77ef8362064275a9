//! URIs: SIP and SIPS (RFC 3261 §19.1), tel (RFC 3966), and other absolute URIs kept opaque.
//!
//! Components are stored as written on the wire, escapes included, so printing a parsed URI
//! reproduces it (except that the scheme is printed in lower case and IPv6 references in their
//! RFC 5952 form). Comparison with RFC 3261 §19.1.4 rules (escapes decoded, case-insensitive
//! where the RFC says so, parameters matched by their rules) is [`Uri::equivalent`];
//! `PartialEq` is structural and only says two URIs print the same.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::grammar::{
    self, HNV_UNRESERVED, HOSTNAME, PASSWORD_EXTRA, UNRESERVED, URIC, USER_UNRESERVED,
};
use super::params::Params;
use crate::error::{ParseErrorKind, ValueError};

/// A URI as it appears in a Request-Line or in a name-addr.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Uri {
    /// A `sip:` or `sips:` URI (RFC 3261 §19.1).
    Sip(SipUri),
    /// A `tel:` URI (RFC 3966).
    Tel(TelUri),
    /// Any other absolute URI (RFC 3261 `absoluteURI`), kept as written.
    Other(String),
}

/// A `sip:` or `sips:` URI (RFC 3261 §19.1.1).
///
/// `user`, `password` and `headers` hold the wire text, escapes included; see
/// [`SipUri::user_unescaped`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, escaped as on the wire.
    pub user: Option<String>,
    /// The password (deprecated by RFC 3261 §19.1.1 but valid), escaped as on the wire.
    pub password: Option<String>,
    /// The host.
    pub host: Host,
    /// The port, when written.
    pub port: Option<u16>,
    /// The uri-parameters (`;transport=tcp;lr`…).
    pub params: Params,
    /// The headers component after `?`, without the `?`, escaped as on the wire.
    pub headers: Option<String>,
}

/// A `tel:` URI (RFC 3966): the subscriber number and its parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TelUri {
    /// The telephone-subscriber number as written (`+1-201-555-0123`, `7042`).
    pub number: String,
    /// Parameters (`;phone-context=…;ext=…`).
    pub params: Params,
}

/// The host of a URI or of a Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A hostname, as written (compare case-insensitively).
    Domain(String),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address, printed as an IPv6 reference in brackets (RFC 5118).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// Parses a `host`: hostname, IPv4address or `[` IPv6address `]`.
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidHost`] with the offset of the offending byte.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let bad = |at| Err(ValueError::new(ParseErrorKind::InvalidHost, at));
        match b.first() {
            None => bad(0),
            Some(b'[') => {
                if b.len() < 3 || b[b.len() - 1] != b']' {
                    return bad(0);
                }
                let inner = &s[1..s.len() - 1];
                match inner.parse::<Ipv6Addr>() {
                    Ok(a) => Ok(Self::Ipv6(a)),
                    // RFC 5118 §4.10: RFC 3261's IPv6reference ABNF lets a third colon precede
                    // an embedded IPv4 address (`2001:db8:::192.0.2.1`); be liberal and read it
                    // as the `::` it means.
                    Err(_) => match inner.split_once(":::") {
                        Some((head, tail)) if tail.parse::<Ipv4Addr>().is_ok() => {
                            format!("{head}::{tail}")
                                .parse::<Ipv6Addr>()
                                .map(Self::Ipv6)
                                .or(bad(1))
                        }
                        _ => bad(1),
                    },
                }
            }
            Some(_) => {
                // One pass: hostname = *( domainlabel "." ) toplabel [ "." ], labels non-empty
                // and neither starting nor ending with "-"; digits and dots only means IPv4.
                let mut numeric = true;
                let mut label_start = 0;
                for (i, &c) in b.iter().enumerate() {
                    if grammar::is(c, grammar::ALPHANUM) {
                        // Digits sort below letters.
                        numeric &= c <= b'9';
                        continue;
                    }
                    match c {
                        b'.' if i == label_start || b[i - 1] == b'-' => return bad(label_start),
                        b'.' => label_start = i + 1,
                        b'-' if i == label_start => return bad(i),
                        b'-' => numeric = false,
                        _ => return bad(i),
                    }
                }
                if numeric {
                    return match s.parse::<Ipv4Addr>() {
                        Ok(a) => Ok(Self::Ipv4(a)),
                        Err(_) => bad(0),
                    };
                }
                if b[b.len() - 1] == b'-' {
                    return bad(label_start);
                }
                Ok(Self::Domain(s.to_owned()))
            }
        }
    }

    /// Same host under RFC 3261 §19.1.4: hostnames case-insensitively, addresses by value.
    /// A hostname never equals an address (no resolution happens here).
    pub fn equivalent(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Domain(a), Self::Domain(b)) => a.eq_ignore_ascii_case(b),
            (Self::Ipv4(a), Self::Ipv4(b)) => a == b,
            (Self::Ipv6(a), Self::Ipv6(b)) => a == b,
            _ => false,
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(a) => Self::Ipv4(a),
            IpAddr::V6(a) => Self::Ipv6(a),
        }
    }
}

impl From<Ipv4Addr> for Host {
    fn from(ip: Ipv4Addr) -> Self {
        Self::Ipv4(ip)
    }
}

impl From<Ipv6Addr> for Host {
    fn from(ip: Ipv6Addr) -> Self {
        Self::Ipv6(ip)
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(d) => f.write_str(d),
            Self::Ipv4(a) => write!(f, "{a}"),
            Self::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

impl std::str::FromStr for Host {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Uri {
    /// Parses a URI: `sip:`/`sips:` and `tel:` (schemes are case-insensitive) into their
    /// structures, any other `scheme:` followed by URI characters into [`Uri::Other`].
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidUri`], `InvalidEscape`, `InvalidHost`, `InvalidPort` or
    /// `InvalidParameter`, with the offset in `s`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let colon = b
            .iter()
            .position(|&c| c == b':')
            .ok_or(ValueError::new(ParseErrorKind::InvalidUri, 0))?;
        let scheme = &b[..colon];
        let rest = &s[colon + 1..];
        let shift = |e: ValueError| e.shifted(colon + 1);
        if scheme.eq_ignore_ascii_case(b"sip") {
            return SipUri::parse_after_scheme(rest, false)
                .map(Self::Sip)
                .map_err(shift);
        }
        if scheme.eq_ignore_ascii_case(b"sips") {
            return SipUri::parse_after_scheme(rest, true)
                .map(Self::Sip)
                .map_err(shift);
        }
        if scheme.eq_ignore_ascii_case(b"tel") {
            return TelUri::parse_after_scheme(rest)
                .map(Self::Tel)
                .map_err(shift);
        }
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); the rest is 1*uric (RFC 2396).
        let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(ValueError::new(ParseErrorKind::InvalidUri, 0));
        }
        if rest.is_empty() {
            return Err(ValueError::new(ParseErrorKind::InvalidUri, colon + 1));
        }
        grammar::check_escaped(rest.as_bytes(), URIC).map_err(shift)?;
        Ok(Self::Other(s.to_owned()))
    }

    /// The SIP/SIPS URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Self::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The SIP/SIPS URI, mutably, if this is one.
    pub fn as_sip_mut(&mut self) -> Option<&mut SipUri> {
        match self {
            Self::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The scheme in lower case (`sip`, `sips`, `tel`), or as written for other URIs.
    pub fn scheme(&self) -> &str {
        match self {
            Self::Sip(u) if u.secure => "sips",
            Self::Sip(_) => "sip",
            Self::Tel(_) => "tel",
            Self::Other(s) => s.split(':').next().unwrap_or_default(),
        }
    }

    /// RFC 3261 §19.1.4 equivalence for SIP/SIPS URIs; tel URIs compare their number (without
    /// visual separators) and parameters case-insensitively; other URIs compare their text
    /// with the scheme case-insensitive.
    pub fn equivalent(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Sip(a), Self::Sip(b)) => a.equivalent(b),
            (Self::Tel(a), Self::Tel(b)) => a.equivalent(b),
            (Self::Other(a), Self::Other(b)) => {
                let (sa, ra) = a.split_once(':').unwrap_or((a, ""));
                let (sb, rb) = b.split_once(':').unwrap_or((b, ""));
                sa.eq_ignore_ascii_case(sb) && ra == rb
            }
            _ => false,
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sip(u) => u.fmt(f),
            Self::Tel(u) => u.fmt(f),
            Self::Other(s) => f.write_str(s),
        }
    }
}

impl std::str::FromStr for Uri {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<SipUri> for Uri {
    fn from(u: SipUri) -> Self {
        Self::Sip(u)
    }
}

impl SipUri {
    /// A `sip:` URI for `host` with no user, port, parameters or headers.
    pub fn new(host: impl Into<Host>) -> Self {
        Self {
            secure: false,
            user: None,
            password: None,
            host: host.into(),
            port: None,
            params: Params::new(),
            headers: None,
        }
    }

    /// Sets the user part from unescaped text, escaping what RFC 3261 §25.1 `user` does not
    /// allow as it is.
    pub fn with_user(mut self, user: &str) -> Self {
        self.user = Some(escape(user, UNRESERVED | USER_UNRESERVED));
        self
    }

    /// Sets the port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// The user part with escapes decoded (bytes, since `%FF` need not be UTF-8).
    pub fn user_unescaped(&self) -> Option<Cow<'_, [u8]>> {
        self.user.as_deref().map(unescape)
    }

    /// The `transport` uri-parameter.
    pub fn transport(&self) -> Option<&str> {
        self.params.value("transport")
    }

    /// The `maddr` uri-parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.params.value("maddr")
    }

    /// True when the `lr` parameter marks a loose router (RFC 3261 §19.1.1).
    pub fn lr(&self) -> bool {
        self.params.contains("lr")
    }

    /// Parses what follows `sip:` or `sips:`.
    fn parse_after_scheme(s: &str, secure: bool) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        // `user` may hold ";" and "?" but never "@", and neither may the host, parameters
        // or headers: the first "@" ends the userinfo.
        let (user, password, host_start) = match b.iter().position(|&c| c == b'@') {
            Some(at) => {
                let userinfo = &s[..at];
                let (user, password) = match userinfo.find(':') {
                    Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                    None => (userinfo, None),
                };
                if user.is_empty() {
                    return Err(ValueError::new(ParseErrorKind::InvalidUri, 0));
                }
                grammar::check_escaped(user.as_bytes(), UNRESERVED | USER_UNRESERVED)?;
                if let Some(p) = password {
                    grammar::check_escaped(p.as_bytes(), UNRESERVED | PASSWORD_EXTRA)
                        .map_err(|e| e.shifted(user.len() + 1))?;
                }
                (Some(user.to_owned()), password.map(str::to_owned), at + 1)
            }
            None => (None, None, 0),
        };
        let hb = &b[host_start..];
        let host_len = if hb.first() == Some(&b'[') {
            hb.iter()
                .position(|&c| c == b']')
                .map(|p| p + 1)
                .ok_or(ValueError::new(ParseErrorKind::InvalidHost, host_start))?
        } else {
            hb.iter()
                .position(|&c| !grammar::is(c, HOSTNAME))
                .unwrap_or(hb.len())
        };
        let host = Host::parse(&s[host_start..host_start + host_len])
            .map_err(|e| e.shifted(host_start))?;
        let mut i = host_start + host_len;
        let mut port = None;
        if b.get(i) == Some(&b':') {
            let p_start = i + 1;
            let p_end = b[p_start..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .map_or(b.len(), |p| p_start + p);
            port = Some(
                parse_port(&b[p_start..p_end])
                    .ok_or(ValueError::new(ParseErrorKind::InvalidPort, p_start))?,
            );
            i = p_end;
        }
        let q = b[i..]
            .iter()
            .position(|&c| c == b'?')
            .map_or(b.len(), |p| i + p);
        let params = Params::parse_uri(&s[i..q]).map_err(|e| e.shifted(i))?;
        let headers = if q < b.len() {
            let h = &s[q + 1..];
            check_uri_headers(h.as_bytes()).map_err(|e| e.shifted(q + 1))?;
            Some(h.to_owned())
        } else {
            None
        };
        Ok(Self {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// RFC 3261 §19.1.4 equivalence.
    pub fn equivalent(&self, other: &Self) -> bool {
        if self.secure != other.secure
            || self.port != other.port
            || !self.host.equivalent(&other.host)
            || !opt_eq(&self.user, &other.user)
            || !opt_eq(&self.password, &other.password)
        {
            return false;
        }
        // user, ttl, method, maddr and transport must match when either URI has them; any
        // other parameter must match only when both have it.
        const MUST_MATCH: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];
        let (mine, theirs) = (
            canonical_params(&self.params),
            canonical_params(&other.params),
        );
        let find = |list: &[(Vec<u8>, Option<Vec<u8>>)], name: &[u8]| {
            list.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        };
        for (name, value) in &mine {
            match find(&theirs, name) {
                Some(v) if v != *value => return false,
                None if MUST_MATCH.iter().any(|m| m.as_bytes() == name.as_slice()) => {
                    return false;
                }
                _ => {}
            }
        }
        for name in MUST_MATCH {
            if find(&theirs, name.as_bytes()).is_some() && find(&mine, name.as_bytes()).is_none() {
                return false;
            }
        }
        // Header components are never ignored: each must be present in both and match.
        let a = self.headers.as_deref().unwrap_or_default();
        let b = other.headers.as_deref().unwrap_or_default();
        headers_subset(a, b) && headers_subset(b, a)
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(user) = &self.user {
            f.write_str(user)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        f.write_str(self.params.as_str())?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

impl TelUri {
    fn parse_after_scheme(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let end = b.iter().position(|&c| c == b';').unwrap_or(b.len());
        // telephone-subscriber digits, hex digits of local numbers, "*", "#", "+" and the
        // visual separators "-", ".", "(", ")" (RFC 3966 §3).
        let ok = |c: u8| {
            c.is_ascii_hexdigit() || matches!(c, b'*' | b'#' | b'+' | b'-' | b'.' | b'(' | b')')
        };
        if end == 0 {
            return Err(ValueError::new(ParseErrorKind::InvalidUri, 0));
        }
        if let Some(p) = b[..end].iter().position(|&c| !ok(c)) {
            return Err(ValueError::new(ParseErrorKind::InvalidUri, p));
        }
        let params = Params::parse_uri(&s[end..]).map_err(|e| e.shifted(end))?;
        Ok(Self {
            number: s[..end].to_owned(),
            params,
        })
    }

    /// RFC 3966 §4 equivalence: numbers without visual separators, parameters by name
    /// case-insensitively in any order.
    pub fn equivalent(&self, other: &Self) -> bool {
        let digits = |s: &str| {
            s.bytes()
                .filter(|c| !matches!(c, b'-' | b'.' | b'(' | b')'))
                .map(|c| c.to_ascii_lowercase())
                .collect::<Vec<u8>>()
        };
        let (mine, theirs) = (
            canonical_params(&self.params),
            canonical_params(&other.params),
        );
        digits(&self.number) == digits(&other.number)
            && mine.len() == theirs.len()
            && mine.iter().all(|p| theirs.contains(p))
    }
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tel:{}{}", self.number, self.params)
    }
}

fn parse_port(s: &[u8]) -> Option<u16> {
    if s.is_empty() || s.len() > 5 {
        return None;
    }
    grammar::parse_u32(s).and_then(|p| u16::try_from(p).ok())
}

/// headers = "?" header *( "&" header ), header = hname "=" hvalue (hvalue may be empty).
fn check_uri_headers(s: &[u8]) -> Result<(), ValueError> {
    let mut at = 0;
    for header in s.split(|&c| c == b'&') {
        let eq = header
            .iter()
            .position(|&c| c == b'=')
            .ok_or(ValueError::new(ParseErrorKind::InvalidUri, at))?;
        if eq == 0 {
            return Err(ValueError::new(ParseErrorKind::InvalidUri, at));
        }
        grammar::check_escaped(&header[..eq], HNV_UNRESERVED | UNRESERVED)
            .and_then(|()| grammar::check_escaped(&header[eq + 1..], HNV_UNRESERVED | UNRESERVED))
            .map_err(|e| e.shifted(at))?;
        at += header.len() + 1;
    }
    Ok(())
}

/// Decodes `%XX` escapes. Input is assumed validated; a stray `%` is kept as is.
pub(crate) fn unescape(s: &str) -> Cow<'_, [u8]> {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return Cow::Borrowed(b);
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(grammar::hex_value(b[i + 1]) << 4 | grammar::hex_value(b[i + 2]));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Cow::Owned(out)
}

/// Escapes every byte of `s` outside `allowed` as `%XX`.
pub(crate) fn escape(s: &str, allowed: u16) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if grammar::is(b, allowed) {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
    out
}

/// Userinfo comparison: case-sensitive, escapes decoded.
fn opt_eq(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => unescape(a) == unescape(b),
        _ => false,
    }
}

/// Parameters for comparison: names and values unescaped and in lower case (§19.1.4
/// compares them case-insensitively after unescaping), first occurrence of each name only.
fn canonical_params(params: &Params) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut out: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for (name, value) in params.iter() {
        let name = unescape(name).to_ascii_lowercase();
        if out.iter().all(|(n, _)| *n != name) {
            out.push((name, value.map(|v| unescape(v).to_ascii_lowercase())));
        }
    }
    out
}

/// Every `name=value` of `a` appears in `b` (names case-insensitive, values unescaped).
fn headers_subset(a: &str, b: &str) -> bool {
    let pairs = |s: &'_ str| -> Vec<(Vec<u8>, Vec<u8>)> {
        s.split('&')
            .filter(|h| !h.is_empty())
            .map(|h| {
                let (n, v) = h.split_once('=').unwrap_or((h, ""));
                (unescape(n).to_ascii_lowercase(), unescape(v).into_owned())
            })
            .collect()
    };
    let bs = pairs(b);
    pairs(a).iter().all(|p| bs.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s) {
            Ok(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn parses_every_component() {
        let u = sip("sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=x&h=");
        assert!(u.secure);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, Host::Domain("atlanta.example.com".into()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.lr());
        assert_eq!(u.headers.as_deref(), Some("subject=x&h="));
        assert_eq!(
            u.to_string(),
            "sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=x&h="
        );
    }

    #[test]
    fn user_may_hold_semicolons_and_escapes() {
        let u = sip("sip:alice;day=tuesday@example.com");
        assert_eq!(u.user.as_deref(), Some("alice;day=tuesday"));
        let u = sip("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(
            u.user_unescaped().as_deref(),
            Some(&b"sips:user@example.com"[..])
        );
        assert!(Uri::parse("sip:a%4@example.com").is_err());
    }

    #[test]
    fn hosts_are_ipv4_ipv6_or_hostnames() {
        assert_eq!(
            sip("sip:[2001:db8::10]:5070").host,
            Host::Ipv6("2001:db8::10".parse().unwrap())
        );
        assert_eq!(
            sip("sip:192.0.2.1").host,
            Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert!(Uri::parse("sip:2001:db8::10").is_err());
        assert!(Uri::parse("sip:[2001:db8::10").is_err());
        assert!(Uri::parse("sip:192.0.2.300").is_err());
        assert!(Uri::parse("sip:-bad.example.com").is_err());
        assert!(Uri::parse("sip:host:99999").is_err());
        assert!(Uri::parse("sip:host:").is_err());
        assert!(Uri::parse("sip:").is_err());
    }

    #[test]
    fn other_schemes_are_opaque() {
        assert_eq!(
            Uri::parse("http://example.com/x?y").unwrap(),
            Uri::Other("http://example.com/x?y".into())
        );
        let t = Uri::parse("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(
            t.to_string(),
            "tel:+1-201-555-0123;phone-context=example.com"
        );
        assert!(Uri::parse("1http:x").is_err());
        assert!(Uri::parse("nocolon").is_err());
    }

    #[test]
    fn equivalence_follows_rfc3261_section_19_1_4() {
        let eq = |a: &str, b: &str| Uri::parse(a).unwrap().equivalent(&Uri::parse(b).unwrap());
        // The RFC's equivalent pairs.
        assert!(eq(
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp"
        ));
        assert!(eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;newparam=5"
        ));
        assert!(eq(
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
        ));
        assert!(eq(
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
        ));
        // The RFC's non-equivalent pairs.
        assert!(!eq(
            "SIP:ALICE@AtLanTa.CoM;Transport=udp",
            "sip:alice@AtLanTa.CoM;Transport=UDP"
        ));
        assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
        assert!(!eq(
            "sip:bob@biloxi.com",
            "sip:bob@biloxi.com;transport=udp"
        ));
        assert!(!eq(
            "sip:bob@biloxi.com:6000;transport=tcp",
            "sip:bob@biloxi.com"
        ));
        assert!(!eq(
            "sip:carol@chicago.com",
            "sip:carol@chicago.com?Subject=next%20meeting"
        ));
        assert!(!eq("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"));
        assert!(!eq(
            "sip:carol@chicago.com;security=on",
            "sip:carol@chicago.com;security=off"
        ));
        assert!(!eq("sip:a@b", "sips:a@b"));
        // Escaped parameter names, and duplicates (the first one counts).
        assert!(eq("sip:a@b;%6C%72", "sip:a@b;lr"));
        assert!(eq("sip:a@b;x=1;x=2", "sip:a@b;x=1;x=2"));
        assert!(eq("tel:+1-555;a=1;a=2", "tel:+1555;A=1"));
    }

    #[test]
    fn with_user_escapes() {
        let u = SipUri::new(Ipv4Addr::LOCALHOST)
            .with_user("a b@c")
            .with_port(5060);
        assert_eq!(u.to_string(), "sip:a%20b%40c@127.0.0.1:5060");
        assert!(Uri::Sip(u.clone()).equivalent(&Uri::parse(&u.to_string()).unwrap()));
    }
}
