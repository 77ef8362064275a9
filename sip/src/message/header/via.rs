//! Via (RFC 3261 §20.42, §18.2.1; RFC 3581 rport; RFC 5118 IPv6 sent-by).
//!
//! Via = sent-protocol LWS sent-by *( SEMI via-params ), sent-protocol =
//! "SIP" SLASH "2.0" SLASH transport. Whitespace is allowed around SLASH, COLON and SEMI; the
//! printed form has none.

use std::fmt;
use std::net::IpAddr;

use crate::error::{ParseErrorKind, ValueError};
use crate::message::grammar::{self, HOSTNAME};
use crate::message::{Host, Params};

/// The magic cookie that starts every RFC 3261 branch (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The transport of a Via's sent-protocol.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SCTP.
    Sctp,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
    /// Any other transport token, in upper case.
    Other(String),
}

impl Transport {
    /// Recognizes a transport token, case-insensitively.
    pub fn from_token(s: &str) -> Self {
        let known = [
            ("UDP", Self::Udp),
            ("TCP", Self::Tcp),
            ("TLS", Self::Tls),
            ("SCTP", Self::Sctp),
            ("WS", Self::Ws),
            ("WSS", Self::Wss),
        ];
        for (name, t) in known {
            if s.eq_ignore_ascii_case(name) {
                return t;
            }
        }
        Self::Other(s.to_ascii_uppercase())
    }

    /// The token as printed (upper case).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Sctp => "SCTP",
            Self::Ws => "WS",
            Self::Wss => "WSS",
            Self::Other(s) => s,
        }
    }

    /// True for transports that deliver messages reliably (RFC 3261 §17: timers E, G, K and
    /// friends are zero on them).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// The default port (RFC 3261 §19.1.2, RFC 7118 uses 80/443 only with HTTP upgrade, so
    /// WS/WSS fall back to 5060/5061 here as SIP URIs do).
    pub fn default_port(&self) -> u16 {
        match self {
            Self::Tls | Self::Wss => 5061,
            _ => 5060,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Via {
    /// The transport of the sent-protocol (`SIP/2.0/<transport>`).
    pub transport: Transport,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, when written.
    pub port: Option<u16>,
    /// The via-params (`;branch=…;received=…;rport`…).
    pub params: Params,
}

impl Via {
    /// A Via for a request we send, with its branch (which should start with
    /// [`MAGIC_COOKIE`]; generating it needs randomness, the caller's job).
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidParameter`] when `branch` is not a token or holds a character
    /// [`Params::set`] refuses (`` ` ``, or `%` outside an escape).
    pub fn new(
        transport: Transport,
        host: impl Into<Host>,
        port: Option<u16>,
        branch: &str,
    ) -> Result<Self, ValueError> {
        let mut params = Params::new();
        if !grammar::is_token(branch.as_bytes()) {
            return Err(ValueError::new(ParseErrorKind::InvalidParameter, 0));
        }
        params.set("branch", Some(branch))?;
        Ok(Self {
            transport,
            host: host.into(),
            port,
            params,
        })
    }

    /// Parses one Via value (one element of the comma-separated list).
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidSentProtocol`], `InvalidHost`, `InvalidPort`,
    /// `InvalidParameter` or `TrailingCharacters`, with the offset in `s`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let proto_err = |at| ValueError::new(ParseErrorKind::InvalidSentProtocol, at);
        let mut i = grammar::skip_ws(b, 0);
        let mut fields = [(0usize, 0usize); 3];
        for (k, field) in fields.iter_mut().enumerate() {
            if k > 0 {
                i = grammar::skip_ws(b, i);
                if b.get(i) != Some(&b'/') {
                    return Err(proto_err(i));
                }
                i = grammar::skip_ws(b, i + 1);
            }
            let end = grammar::scan_token(b, i);
            if end == i {
                return Err(proto_err(i));
            }
            *field = (i, end);
            i = end;
        }
        let [(ns, ne), (vs, ve), (ts, te)] = fields;
        if !s[ns..ne].eq_ignore_ascii_case("SIP") || &s[vs..ve] != "2.0" {
            return Err(proto_err(ns));
        }
        let transport = Transport::from_token(&s[ts..te]);
        // LWS between sent-protocol and sent-by is mandatory.
        let host_start = grammar::skip_ws(b, i);
        if host_start == i {
            return Err(ValueError::new(ParseErrorKind::InvalidHost, i));
        }
        let host_end = if b.get(host_start) == Some(&b'[') {
            b[host_start..]
                .iter()
                .position(|&c| c == b']')
                .map(|p| host_start + p + 1)
                .ok_or(ValueError::new(ParseErrorKind::InvalidHost, host_start))?
        } else {
            b[host_start..]
                .iter()
                .position(|&c| !grammar::is(c, HOSTNAME))
                .map_or(b.len(), |p| host_start + p)
        };
        let host = Host::parse(&s[host_start..host_end]).map_err(|e| e.shifted(host_start))?;
        i = host_end;
        let mut port = None;
        let j = grammar::skip_ws(b, i);
        if b.get(j) == Some(&b':') {
            let ps = grammar::skip_ws(b, j + 1);
            let pe = b[ps..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .map_or(b.len(), |p| ps + p);
            let p = grammar::parse_u32(&b[ps..pe])
                .and_then(|p| u16::try_from(p).ok())
                .ok_or(ValueError::new(ParseErrorKind::InvalidPort, ps))?;
            port = Some(p);
            i = pe;
        }
        let (params, end) = Params::parse_generic(b, i)?;
        let end = grammar::skip_ws(b, end);
        if end != b.len() {
            return Err(ValueError::new(ParseErrorKind::TrailingCharacters, end));
        }
        Ok(Self {
            transport,
            host,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }

    /// True when the branch starts with the RFC 3261 magic cookie (§8.1.1.7), so it can
    /// identify the transaction alone (§17.2.3).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }

    /// The `received` parameter (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&str> {
        self.params.value("received")
    }

    /// The `rport` parameter (RFC 3581): `None` when absent, `Some(None)` when present as a
    /// flag (a request asking for it), `Some(Some(port))` when filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.params.value("maddr")
    }

    /// Sets `received` to the packet's source address (RFC 3261 §18.2.1; RFC 5118 §4.5: an
    /// IPv6 address without brackets).
    pub fn set_received(&mut self, source: IpAddr) {
        // An IP address always makes a valid parameter value.
        let _ = self.params.set("received", Some(&source.to_string()));
    }

    /// Fills in `rport` with the packet's source port (RFC 3581 §4).
    pub fn set_rport(&mut self, port: u16) {
        let _ = self.params.set("rport", Some(&port.to_string()));
    }

    /// The port the sent-by means: the written one, or the transport's default.
    pub fn sent_by_port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.transport.default_port())
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        f.write_str(self.params.as_str())
    }
}

impl std::str::FromStr for Via {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn parses_sent_by_and_params() {
        let v =
            Via::parse("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport").unwrap();
        assert_eq!(v.transport, Transport::Udp);
        assert_eq!(v.host, Host::Domain("pc33.atlanta.com".into()));
        assert_eq!(v.port, Some(5066));
        assert_eq!(v.branch(), Some("z9hG4bK776asdhds"));
        assert!(v.has_rfc3261_branch());
        assert_eq!(v.rport(), Some(None));
    }

    #[test]
    fn tolerates_whitespace_the_grammar_allows() {
        let v = Via::parse("  SIP / 2.0 / tcp   [2001:db8::9:1] : 5070 ; branch = z9hG4bKx ; received=2001:db8::9:255 ")
            .unwrap();
        assert_eq!(v.transport, Transport::Tcp);
        assert_eq!(
            v.host,
            Host::Ipv6("2001:db8::9:1".parse::<Ipv6Addr>().unwrap())
        );
        assert_eq!(v.port, Some(5070));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/TCP [2001:db8::9:1]:5070;branch=z9hG4bKx;received=2001:db8::9:255"
        );
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "SIP/2.0/UDP",
            "SIP/2.0/UDPhost",
            "SIP/3.0/UDP host",
            "SIP/2.0 host",
            "SIP/2.0/UDP host:99999",
            "SIP/2.0/UDP host;",
            "SIP/2.0/UDP host junk",
            "SIP/2.0/UDP [::1",
        ] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn received_and_rport_are_set() {
        let mut v = Via::new(
            Transport::Udp,
            Host::Domain("a.example".into()),
            None,
            "z9hG4bK1",
        )
        .unwrap();
        v.params.set("rport", None).unwrap();
        v.set_received("2001:db8::1".parse().unwrap());
        v.set_rport(5062);
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP a.example;branch=z9hG4bK1;rport=5062;received=2001:db8::1"
        );
        assert_eq!(v.rport(), Some(Some(5062)));
        assert_eq!(Via::parse(&v.to_string()), Ok(v));
        assert!(Via::new(Transport::Udp, Host::Domain("a".into()), None, "a b").is_err());
    }
}
