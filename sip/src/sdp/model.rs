//! The SDP data model (RFC 8866 §5): a session description, its media descriptions, and the
//! values of their lines.
//!
//! The model is a validated representation: [`crate::sdp::parse`] only builds values that print
//! back to SDP that parses to the same value. Attributes are kept as name and value text, in
//! order, so unknown ones re-print verbatim; typed views over the ones Tandem understands live
//! in [`crate::sdp::attributes`] and are reached through accessors here. Text fields must not
//! contain CR, LF or NUL: the printer drops those characters so that no value can inject a line.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::attributes::{Direction, Fmtp, Rtcp, Rtpmap, Ssrc, TelephoneEvents, names};
use super::payload::{PayloadFormat, PayloadType};

/// A whole session description: the session-level lines and the media descriptions
/// (RFC 8866 §5, in the order §5 requires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`: who created the session, its id and version.
    pub origin: Origin,
    /// `s=`: the session name (RFC 8866 §5.3; `-` when it has no meaningful name).
    pub session_name: String,
    /// `i=`: session information.
    pub information: Option<String>,
    /// `u=`: a URI with more information.
    pub uri: Option<String>,
    /// `e=` lines: email addresses.
    pub emails: Vec<String>,
    /// `p=` lines: phone numbers.
    pub phones: Vec<String>,
    /// `c=` at session level: the default connection for media that have none.
    pub connection: Option<Connection>,
    /// `b=` lines at session level.
    pub bandwidths: Vec<Bandwidth>,
    /// `t=` lines, each with its `r=` lines; at least one (RFC 8866 §5.9).
    pub timings: Vec<Timing>,
    /// `z=`: time zone adjustments, verbatim.
    pub time_zones: Option<String>,
    /// `k=`: the obsolete encryption key line (RFC 8866 §5.12), verbatim.
    pub encryption_key: Option<String>,
    /// `a=` lines at session level, in order.
    pub attributes: Vec<Attribute>,
    /// `m=` sections, in order. Offer/answer matches streams by this index (RFC 3264 §6).
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// A session with `origin`, the name `-`, one `t=0 0` and nothing else: the skeleton of
    /// every offer and answer (RFC 3264 §5 asks for `t=0 0`).
    pub fn new(origin: Origin) -> Self {
        SessionDescription {
            origin,
            session_name: "-".to_owned(),
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            timings: vec![Timing::PERMANENT],
            time_zones: None,
            encryption_key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// The first session-level attribute called `name` (ASCII case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find_attribute(&self.attributes, name)
    }

    /// The session-level direction attribute, if any (RFC 3264 §5.1).
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// The direction that applies to media section `index`: its own attribute, else the
    /// session-level one, else `sendrecv` (RFC 3264 §5.1). `None` if there is no such section.
    pub fn media_direction(&self, index: usize) -> Option<Direction> {
        let media = self.media.get(index)?;
        Some(
            media
                .direction()
                .or_else(|| self.direction())
                .unwrap_or(Direction::SendRecv),
        )
    }

    /// The connection that applies to media section `index`: its first own `c=`, else the
    /// session's (RFC 8866 §5.7). `None` if neither exists or there is no such section.
    pub fn media_connection(&self, index: usize) -> Option<&Connection> {
        let media = self.media.get(index)?;
        media.connections.first().or(self.connection.as_ref())
    }
}

/// The `o=` line (RFC 8866 §5.2): `o=<username> <sess-id> <sess-version> IN <addrtype> <address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The user's login on the originating host, or `-`.
    pub username: String,
    /// The session id: with the username and address, globally unique for the session.
    pub session_id: u64,
    /// The version of this description; RFC 3264 §8 increments it on every change.
    pub session_version: u64,
    /// The originating host.
    pub address: Host,
}

/// A host in `o=`, `c=` or `a=rtcp`: an IP literal or a domain name, with its address type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 (`IN IP4`) or IPv6 (`IN IP6`) literal.
    Ip(IpAddr),
    /// A fully qualified domain name, resolved by the caller if at all (sans-IO: no DNS here).
    Domain {
        /// `IP4` or `IP6`.
        address_type: AddressType,
        /// The name as written.
        name: String,
    },
}

impl Host {
    /// The address type this host prints with.
    pub fn address_type(&self) -> AddressType {
        match self {
            Host::Ip(IpAddr::V4(_)) => AddressType::Ip4,
            Host::Ip(IpAddr::V6(_)) => AddressType::Ip6,
            Host::Domain { address_type, .. } => *address_type,
        }
    }

    /// The IP address, if this host is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::Domain { .. } => None,
        }
    }

    /// True for `0.0.0.0` and `::`: the RFC 2543 way of putting a stream on hold, which
    /// RFC 3264 §8.4 still asks answerers to understand (the peer receives nothing).
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        Host::Ip(ip)
    }
}

impl From<Ipv4Addr> for Host {
    fn from(ip: Ipv4Addr) -> Self {
        Host::Ip(IpAddr::V4(ip))
    }
}

impl From<Ipv6Addr> for Host {
    fn from(ip: Ipv6Addr) -> Self {
        Host::Ip(IpAddr::V6(ip))
    }
}

/// The address types of the `IN` network type (RFC 8866 §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
}

impl AddressType {
    /// The token as SDP spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            AddressType::Ip4 => "IP4",
            AddressType::Ip6 => "IP6",
        }
    }
}

/// A `c=` line (RFC 8866 §5.7): `c=IN <addrtype> <address>[/<ttl>][/<number of addresses>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Where media go.
    pub address: Host,
    /// IPv4 multicast time to live.
    pub ttl: Option<u8>,
    /// Multicast: the number of consecutive addresses.
    pub count: Option<u32>,
}

impl Connection {
    /// A unicast connection to `address`.
    pub fn new(address: impl Into<Host>) -> Self {
        Connection {
            address: address.into(),
            ttl: None,
            count: None,
        }
    }
}

/// A `b=` line (RFC 8866 §5.8): `b=<bwtype>:<bandwidth>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    /// `AS`, `CT`, `TIAS` (RFC 3890) or another token.
    pub bandwidth_type: String,
    /// Kilobits per second for `AS` and `CT`, bits per second for `TIAS`.
    pub value: u64,
}

/// A `t=` line and its `r=` lines (RFC 8866 §5.9, §5.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Start time in NTP seconds; 0 for unbounded.
    pub start: u64,
    /// Stop time in NTP seconds; 0 for unbounded.
    pub stop: u64,
    /// `r=` lines, verbatim.
    pub repeats: Vec<String>,
}

impl Timing {
    /// `t=0 0`: a permanent session, what SIP uses (RFC 3264 §5).
    pub const PERMANENT: Timing = Timing {
        start: 0,
        stop: 0,
        repeats: Vec::new(),
    };
}

/// An `a=` line (RFC 8866 §5.13): `a=<name>` (a property) or `a=<name>:<value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The attribute name (a token).
    pub name: String,
    /// The value after the first `:`, if there was one.
    pub value: Option<String>,
}

impl Attribute {
    /// A value attribute, `a=<name>:<value>`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// A property attribute, `a=<name>`.
    pub fn property(name: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: None,
        }
    }

    /// True if the name is `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// The media types of RFC 8866 §5.14, and any other token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// `text` (RFC 4103 real-time text).
    Text,
    /// `application`.
    Application,
    /// `message` (MSRP).
    Message,
    /// `image` (T.38 fax).
    Image,
    /// Another token, as written.
    Other(String),
}

impl MediaType {
    /// Parses a media token; the known ones are matched ignoring ASCII case.
    pub fn from_token(token: &str) -> Self {
        const KNOWN: [(&str, MediaType); 6] = [
            ("audio", MediaType::Audio),
            ("video", MediaType::Video),
            ("text", MediaType::Text),
            ("application", MediaType::Application),
            ("message", MediaType::Message),
            ("image", MediaType::Image),
        ];
        KNOWN
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(token))
            .map(|(_, media)| media)
            .unwrap_or_else(|| MediaType::Other(token.to_owned()))
    }

    /// The token as SDP spells it.
    pub fn as_str(&self) -> &str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
            MediaType::Text => "text",
            MediaType::Application => "application",
            MediaType::Message => "message",
            MediaType::Image => "image",
            MediaType::Other(token) => token,
        }
    }
}

/// The transport protocol of an `m=` line (RFC 8866 §5.14, RFC 5124, RFC 5764): `RTP/AVP`,
/// `RTP/SAVP`, `RTP/AVPF`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVPF`, `udptl`, ...
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransportProtocol(pub String);

impl TransportProtocol {
    /// `RTP/AVP`: RTP under the audio/video profile (RFC 3551), no encryption.
    pub fn rtp_avp() -> Self {
        TransportProtocol("RTP/AVP".to_owned())
    }

    /// The protocol as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if the protocol carries RTP, so formats are payload types (RFC 8866 §5.14).
    pub fn is_rtp(&self) -> bool {
        self.0
            .split('/')
            .any(|part| part.eq_ignore_ascii_case("RTP"))
    }

    /// True for the SRTP profiles (`RTP/SAVP`, `RTP/SAVPF`, `UDP/TLS/RTP/SAVP[F]`), which need
    /// keys (`a=crypto` or DTLS) that this module does not negotiate.
    pub fn is_secure(&self) -> bool {
        self.0
            .split('/')
            .any(|part| part.eq_ignore_ascii_case("SAVP") || part.eq_ignore_ascii_case("SAVPF"))
    }

    /// True if this is the same protocol as `other`, ignoring ASCII case.
    pub fn matches(&self, other: &TransportProtocol) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

/// One `m=` section (RFC 8866 §5.14) with its `i=`, `c=`, `b=`, `k=` and `a=` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The media type.
    pub media_type: MediaType,
    /// The transport port; 0 means the stream is disabled or rejected (RFC 3264 §6, §8.2).
    pub port: u16,
    /// The number of ports (`m=audio 49170/2 ...`), when given.
    pub port_count: Option<u16>,
    /// The transport protocol.
    pub protocol: TransportProtocol,
    /// The media formats: RTP payload type numbers for RTP protocols (checked by the parser),
    /// opaque tokens otherwise.
    pub formats: Vec<String>,
    /// `i=`: the media title.
    pub title: Option<String>,
    /// `c=` lines; several only for layered multicast.
    pub connections: Vec<Connection>,
    /// `b=` lines.
    pub bandwidths: Vec<Bandwidth>,
    /// `k=`: the obsolete encryption key line, verbatim.
    pub encryption_key: Option<String>,
    /// `a=` lines, in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// An `m=` line with no other lines.
    pub fn new(
        media_type: MediaType,
        port: u16,
        protocol: TransportProtocol,
        formats: Vec<String>,
    ) -> Self {
        MediaDescription {
            media_type,
            port,
            port_count: None,
            protocol,
            formats,
            title: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            encryption_key: None,
            attributes: Vec::new(),
        }
    }

    /// The first attribute called `name` (ASCII case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        find_attribute(&self.attributes, name)
    }

    /// Every attribute called `name` (ASCII case-insensitive), in order.
    pub fn attributes_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Attribute> {
        self.attributes.iter().filter(move |a| a.is(name))
    }

    /// The value of the first attribute called `name`.
    pub fn attribute_value(&self, name: &str) -> Option<&str> {
        self.attribute(name).and_then(|a| a.value.as_deref())
    }

    /// True if an attribute called `name` is present (with or without a value).
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// Appends an attribute.
    pub fn push_attribute(&mut self, attribute: impl Into<Attribute>) {
        self.attributes.push(attribute.into());
    }

    /// The payload types in the format list, in order; tokens that are not payload types
    /// (non-RTP protocols) are skipped.
    pub fn payload_types(&self) -> impl Iterator<Item = PayloadType> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }

    /// Valid `a=rtpmap` attributes, in order; malformed ones are ignored (RFC 8866 §5.13).
    pub fn rtpmaps(&self) -> impl Iterator<Item = Rtpmap> + '_ {
        self.attributes_named(names::RTPMAP)
            .filter_map(|a| a.value.as_deref()?.parse().ok())
    }

    /// The encoding of `payload_type`: its `a=rtpmap`, else the RFC 3551 static assignment.
    pub fn rtpmap(&self, payload_type: PayloadType) -> Option<Rtpmap> {
        self.rtpmaps()
            .find(|r| r.payload_type == payload_type)
            .or_else(|| Rtpmap::from_static(payload_type))
    }

    /// The `a=fmtp` for `payload_type`, if any.
    pub fn fmtp(&self, payload_type: PayloadType) -> Option<Fmtp> {
        self.attributes_named(names::FMTP)
            .filter_map(|a| a.value.as_deref()?.parse::<Fmtp>().ok())
            .find(|f| f.payload_type == payload_type)
    }

    /// Each listed payload type with its encoding and format parameters, in `m=` order.
    /// Dynamic types without an `a=rtpmap` are skipped: nothing says what they are.
    pub fn payload_formats(&self) -> impl Iterator<Item = PayloadFormat> + '_ {
        self.payload_types().filter_map(|pt| {
            let rtpmap = self.rtpmap(pt)?;
            let fmtp = self.fmtp(pt).map(|f| f.parameters);
            Some(PayloadFormat::from_rtpmap(rtpmap, fmtp))
        })
    }

    /// The RFC 4733 telephone-event formats with the events each supports (its `a=fmtp`
    /// list, or DTMF 0-15 without one, RFC 4733 §7.1.1). A format whose list does not parse
    /// is skipped.
    pub fn telephone_events(&self) -> impl Iterator<Item = (PayloadFormat, TelephoneEvents)> + '_ {
        self.payload_formats()
            .filter(|f| f.codec.is_telephone_event())
            .filter_map(|f| {
                let events = TelephoneEvents::from_fmtp(f.codec.fmtp.as_deref())?;
                Some((f, events))
            })
    }

    /// `a=ptime` in milliseconds (RFC 8866 §6.4). A fractional value is rounded down.
    pub fn ptime_ms(&self) -> Option<u32> {
        self.attribute_value(names::PTIME).and_then(parse_ms)
    }

    /// `a=maxptime` in milliseconds (RFC 8866 §6.5).
    pub fn max_ptime_ms(&self) -> Option<u32> {
        self.attribute_value(names::MAXPTIME).and_then(parse_ms)
    }

    /// The media-level direction attribute, if any (RFC 3264 §5.1).
    pub fn direction(&self) -> Option<Direction> {
        direction_of(&self.attributes)
    }

    /// Replaces every direction attribute with `direction`.
    pub fn set_direction(&mut self, direction: Direction) {
        self.attributes
            .retain(|a| a.value.is_some() || Direction::from_name(&a.name).is_none());
        self.attributes.push(direction.into());
    }

    /// `a=rtcp` (RFC 3605): where the peer wants RTCP, when not at the RTP port + 1.
    pub fn rtcp(&self) -> Option<Rtcp> {
        self.attribute_value(names::RTCP)
            .and_then(|v| v.parse().ok())
    }

    /// True if `a=rtcp-mux` is present (RFC 5761 §5.1.1).
    pub fn rtcp_mux(&self) -> bool {
        self.has_attribute(names::RTCP_MUX)
    }

    /// Valid `a=ssrc` attributes (RFC 5576 §4.1), in order.
    pub fn ssrcs(&self) -> impl Iterator<Item = Ssrc> + '_ {
        self.attributes_named(names::SSRC)
            .filter_map(|a| a.value.as_deref()?.parse().ok())
    }
}

/// A `ptime`-style value: whole milliseconds; some peers write `20.0`, which is 20.
fn parse_ms(value: &str) -> Option<u32> {
    let whole = match value.split_once('.') {
        Some((whole, fraction)) if fraction.bytes().all(|b| b.is_ascii_digit()) => whole,
        Some(_) => return None,
        None => value,
    };
    whole.parse().ok()
}

fn find_attribute<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes.iter().find(|a| a.is(name))
}

fn direction_of(attributes: &[Attribute]) -> Option<Direction> {
    attributes
        .iter()
        .filter(|a| a.value.is_none())
        .find_map(|a| Direction::from_name(&a.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_ptime_is_rounded_down_and_garbage_ignored() {
        assert_eq!(parse_ms("20"), Some(20));
        assert_eq!(parse_ms("20.0"), Some(20));
        assert_eq!(parse_ms("20.x"), None);
        assert_eq!(parse_ms("-1"), None);
    }

    #[test]
    fn telephone_events_come_with_their_event_lists() {
        let sdp: SessionDescription = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=audio 1 RTP/AVP 96 101 102 103\r\na=rtpmap:96 opus/48000/2\r\n\
            a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
            a=rtpmap:102 telephone-event/48000\r\n\
            a=rtpmap:103 telephone-event/16000\r\na=fmtp:103 x\r\n"
            .parse()
            .unwrap();
        let events: Vec<_> = sdp.media[0]
            .telephone_events()
            .map(|(f, e)| (f.payload_type.get(), f.codec.clock_rate, e))
            .collect();
        assert_eq!(
            events,
            [
                (101, 8000, TelephoneEvents::DTMF_AND_FLASH),
                (102, 48000, TelephoneEvents::DTMF)
            ]
        );
    }

    #[test]
    fn rtp_and_secure_profiles_are_recognised() {
        let p = |s: &str| TransportProtocol(s.to_owned());
        assert!(p("RTP/AVP").is_rtp() && !p("RTP/AVP").is_secure());
        assert!(p("RTP/SAVPF").is_secure());
        assert!(p("UDP/TLS/RTP/SAVPF").is_rtp() && p("UDP/TLS/RTP/SAVPF").is_secure());
        assert!(!p("udptl").is_rtp());
        assert!(!p("UDP/DTLS/SCTP").is_rtp());
    }

    #[test]
    fn media_direction_falls_back_to_session_then_sendrecv() {
        let mut sdp = SessionDescription::new(Origin {
            username: "-".into(),
            session_id: 1,
            session_version: 1,
            address: Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        });
        let m = MediaDescription::new(
            MediaType::Audio,
            1000,
            TransportProtocol::rtp_avp(),
            vec!["0".into()],
        );
        sdp.media.push(m.clone());
        assert_eq!(sdp.media_direction(0), Some(Direction::SendRecv));
        sdp.attributes.push(Direction::SendOnly.into());
        assert_eq!(sdp.media_direction(0), Some(Direction::SendOnly));
        sdp.media[0].set_direction(Direction::Inactive);
        assert_eq!(sdp.media_direction(0), Some(Direction::Inactive));
        assert_eq!(sdp.media_direction(1), None);
    }
}
