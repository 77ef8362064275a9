//! Typed views of the attributes Tandem negotiates: `rtpmap`, `fmtp`, the four directions,
//! `rtcp` (RFC 3605), `ssrc` (RFC 5576) and RFC 4733 event lists.
//!
//! Each view parses from an attribute's value with [`FromStr`] and prints it back with
//! [`fmt::Display`]; `From<View> for Attribute` builds the whole attribute. The model keeps
//! attributes as text, so a malformed value is not a parse error of the session description:
//! the typed accessors skip it, as RFC 8866 §5.13 asks of attributes a receiver cannot use.
//! `crypto`, `fingerprint`, `setup`, `ice-*` and `candidate` stay generic attributes.

use std::fmt;
use std::str::FromStr;

use super::avp;
use super::model::{Attribute, Host};
use super::parse::parse_host;
use super::payload::PayloadType;

/// Attribute names, as RFC 8866 §6 and the RFCs cited spell them.
pub mod names {
    /// `a=rtpmap` (RFC 8866 §6.6).
    pub const RTPMAP: &str = "rtpmap";
    /// `a=fmtp` (RFC 8866 §6.15).
    pub const FMTP: &str = "fmtp";
    /// `a=ptime` (RFC 8866 §6.4).
    pub const PTIME: &str = "ptime";
    /// `a=maxptime` (RFC 8866 §6.5).
    pub const MAXPTIME: &str = "maxptime";
    /// `a=rtcp` (RFC 3605).
    pub const RTCP: &str = "rtcp";
    /// `a=rtcp-mux` (RFC 5761).
    pub const RTCP_MUX: &str = "rtcp-mux";
    /// `a=ssrc` (RFC 5576).
    pub const SSRC: &str = "ssrc";
    /// `a=crypto` (RFC 4568), kept generic.
    pub const CRYPTO: &str = "crypto";
    /// `a=fingerprint` (RFC 8122), kept generic.
    pub const FINGERPRINT: &str = "fingerprint";
}

/// An attribute value that does not follow its attribute's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed a={attribute} value")]
pub struct InvalidAttributeValue {
    /// The attribute's name.
    pub attribute: &'static str,
}

const fn invalid(attribute: &'static str) -> InvalidAttributeValue {
    InvalidAttributeValue { attribute }
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`
/// (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rtpmap {
    /// The payload type being mapped.
    pub payload_type: PayloadType,
    /// The encoding name, as written.
    pub encoding_name: String,
    /// The RTP clock rate in Hz.
    pub clock_rate: u32,
    /// The encoding parameters: the channel count for audio, absent when 1.
    pub channels: Option<u16>,
}

impl Rtpmap {
    /// The channel count; RFC 8866 §6.6 makes it 1 when omitted.
    pub fn channels(&self) -> u16 {
        self.channels.unwrap_or(1)
    }

    /// The RFC 3551 static assignment for `payload_type`, as if an rtpmap had said it.
    pub fn from_static(payload_type: PayloadType) -> Option<Self> {
        let row = avp::by_payload_type(payload_type.get())?;
        Some(Rtpmap {
            payload_type,
            encoding_name: row.encoding_name.to_owned(),
            clock_rate: row.clock_rate,
            channels: (row.channels != 1).then_some(row.channels),
        })
    }
}

impl FromStr for Rtpmap {
    type Err = InvalidAttributeValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = invalid(names::RTPMAP);
        let (pt, encoding) = s.trim().split_once(' ').ok_or(err)?;
        let payload_type = pt.parse().map_err(|_| err)?;
        let mut parts = encoding.trim().split('/');
        let encoding_name = parts.next().filter(|n| is_token(n)).ok_or(err)?;
        let clock_rate = parts
            .next()
            .and_then(|c| c.trim().parse::<u32>().ok())
            .filter(|&c| c > 0)
            .ok_or(err)?;
        let channels = match parts.next() {
            None => None,
            Some(c) => Some(c.trim().parse::<u16>().ok().filter(|&c| c > 0).ok_or(err)?),
        };
        if parts.next().is_some() {
            return Err(err);
        }
        Ok(Rtpmap {
            payload_type,
            encoding_name: encoding_name.to_owned(),
            clock_rate,
            channels,
        })
    }
}

impl fmt::Display for Rtpmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}/{}",
            self.payload_type, self.encoding_name, self.clock_rate
        )?;
        if let Some(channels) = self.channels {
            write!(f, "/{channels}")?;
        }
        Ok(())
    }
}

impl From<Rtpmap> for Attribute {
    fn from(rtpmap: Rtpmap) -> Self {
        Attribute::new(names::RTPMAP, rtpmap.to_string())
    }
}

/// `a=fmtp:<payload type> <format specific parameters>` (RFC 8866 §6.15).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fmtp {
    /// The payload type the parameters apply to.
    pub payload_type: PayloadType,
    /// The parameters, verbatim (trimmed).
    pub parameters: String,
}

impl Fmtp {
    /// The parameters split at `;`, each as `(key, Some(value))` for `key=value` or
    /// `(text, None)` otherwise (e.g. RFC 4733's `0-15`). Whitespace around parts is trimmed
    /// and empty parts are skipped.
    pub fn params(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        fmtp_params(&self.parameters)
    }

    /// The value of parameter `key` (ASCII case-insensitive, RFC 6838 §4.3).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v)
    }
}

/// Splits format parameters at `;` into `(key, value)` pairs; see [`Fmtp::params`].
pub fn fmtp_params(parameters: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    parameters
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (p, None),
        })
}

impl FromStr for Fmtp {
    type Err = InvalidAttributeValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = invalid(names::FMTP);
        let (pt, parameters) = s.trim().split_once(' ').ok_or(err)?;
        let parameters = parameters.trim();
        if parameters.is_empty() {
            return Err(err);
        }
        Ok(Fmtp {
            payload_type: pt.parse().map_err(|_| err)?,
            parameters: parameters.to_owned(),
        })
    }
}

impl fmt::Display for Fmtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.payload_type, self.parameters)
    }
}

impl From<Fmtp> for Attribute {
    fn from(fmtp: Fmtp) -> Self {
        Attribute::new(names::FMTP, fmtp.to_string())
    }
}

/// The direction attributes (RFC 8866 §6.7, RFC 3264 §5.1), always from the point of view of
/// the party whose SDP carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv`: send and receive (the default).
    SendRecv,
    /// `a=sendonly`: send, do not expect to receive; how RFC 3264 §8.4 puts the peer on hold.
    SendOnly,
    /// `a=recvonly`: receive only.
    RecvOnly,
    /// `a=inactive`: neither.
    Inactive,
}

impl Direction {
    /// The direction with these capabilities.
    pub const fn from_flags(sends: bool, receives: bool) -> Self {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The attribute name (`sendrecv`, ...), if `name` is one (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.as_str().eq_ignore_ascii_case(name))
    }

    /// The attribute name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// True if this side sends media.
    pub const fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// True if this side receives media.
    pub const fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end: what one sends the other receives
    /// (RFC 3264 §6.1: `sendonly` is answered `recvonly` and the reverse).
    pub const fn reversed(self) -> Self {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What both allow.
    pub const fn intersect(self, other: Direction) -> Self {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// This direction without sending.
    pub const fn without_sending(self) -> Self {
        Direction::from_flags(false, self.receives())
    }

    /// This direction without receiving.
    pub const fn without_receiving(self) -> Self {
        Direction::from_flags(self.sends(), false)
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Direction> for Attribute {
    fn from(direction: Direction) -> Self {
        Attribute::property(direction.as_str())
    }
}

/// `a=rtcp:<port> [IN <addrtype> <address>]` (RFC 3605 §2.1): where RTCP goes when it is not
/// RTP's port + 1 on RTP's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when not the media's connection address.
    pub address: Option<Host>,
}

impl FromStr for Rtcp {
    type Err = InvalidAttributeValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = invalid(names::RTCP);
        let mut fields = s.split(' ').filter(|f| !f.is_empty());
        let port = fields
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or(err)?;
        let address = match (fields.next(), fields.next(), fields.next()) {
            (None, _, _) => None,
            (Some("IN"), Some(addrtype), Some(address)) => {
                Some(parse_host(addrtype, address).ok_or(err)?)
            }
            _ => return Err(err),
        };
        if fields.next().is_some() {
            return Err(err);
        }
        Ok(Rtcp { port, address })
    }
}

impl fmt::Display for Rtcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some(address) = &self.address {
            write!(f, " IN {} {address}", address.address_type().as_str())?;
        }
        Ok(())
    }
}

impl From<Rtcp> for Attribute {
    fn from(rtcp: Rtcp) -> Self {
        Attribute::new(names::RTCP, rtcp.to_string())
    }
}

/// `a=ssrc:<ssrc-id> <attribute>[:<value>]` (RFC 5576 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssrc {
    /// The synchronisation source.
    pub ssrc: u32,
    /// The source attribute's name (`cname`, `msid`, ...).
    pub attribute: String,
    /// The source attribute's value.
    pub value: Option<String>,
}

impl FromStr for Ssrc {
    type Err = InvalidAttributeValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = invalid(names::SSRC);
        let (id, rest) = s.split_once(' ').ok_or(err)?;
        let ssrc = id.parse().map_err(|_| err)?;
        let (attribute, value) = match rest.split_once(':') {
            Some((a, v)) => (a, Some(v.to_owned())),
            None => (rest, None),
        };
        if !is_token(attribute) {
            return Err(err);
        }
        Ok(Ssrc {
            ssrc,
            attribute: attribute.to_owned(),
            value,
        })
    }
}

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.ssrc, self.attribute)?;
        if let Some(value) = &self.value {
            write!(f, ":{value}")?;
        }
        Ok(())
    }
}

impl From<Ssrc> for Attribute {
    fn from(ssrc: Ssrc) -> Self {
        Attribute::new(names::SSRC, ssrc.to_string())
    }
}

/// A set of RFC 4733 event codes (0 to 255), as the telephone-event `a=fmtp` lists them:
/// `0-15`, `0-11,16`, `0-15,66,70`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TelephoneEvents([u64; 4]);

impl TelephoneEvents {
    /// The DTMF digits 0-9, `*`, `#`, A-D: events 0 to 15 (RFC 4733 §3.2). Also what a
    /// telephone-event format without `a=fmtp` supports (RFC 4733 §7.1.1).
    pub const DTMF: TelephoneEvents = TelephoneEvents::range(0, 15);
    /// DTMF plus flash (event 16): what most PBXes offer, `0-16`.
    pub const DTMF_AND_FLASH: TelephoneEvents = TelephoneEvents::range(0, 16);

    /// Events `first` to `last` inclusive (empty if `first > last`).
    pub const fn range(first: u8, last: u8) -> Self {
        let mut bits = [0u64; 4];
        let mut event = first as usize;
        while event <= last as usize {
            bits[event / 64] |= 1 << (event % 64);
            event += 1;
        }
        TelephoneEvents(bits)
    }

    /// True if `event` is in the set.
    pub const fn contains(&self, event: u8) -> bool {
        self.0[event as usize / 64] & (1 << (event as usize % 64)) != 0
    }

    /// Adds `event`.
    pub fn insert(&mut self, event: u8) {
        self.0[event as usize / 64] |= 1 << (event as usize % 64);
    }

    /// True if no event is in the set.
    pub fn is_empty(&self) -> bool {
        self.0 == [0; 4]
    }

    /// The events in both sets.
    pub fn intersection(&self, other: &TelephoneEvents) -> TelephoneEvents {
        let mut bits = self.0;
        for (b, o) in bits.iter_mut().zip(other.0) {
            *b &= o;
        }
        TelephoneEvents(bits)
    }

    /// The events, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|&e| self.contains(e))
    }

    /// The events of a telephone-event format with parameters `fmtp` (RFC 4733 §7.1.1):
    /// the listed ones, or DTMF when there is no `a=fmtp`. A list that does not parse yields
    /// `None`.
    pub fn from_fmtp(fmtp: Option<&str>) -> Option<Self> {
        match fmtp {
            None => Some(TelephoneEvents::DTMF),
            Some(text) => text.parse().ok(),
        }
    }
}

impl FromStr for TelephoneEvents {
    type Err = InvalidAttributeValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = invalid(names::FMTP);
        let mut events = TelephoneEvents::default();
        for item in s.split(',').map(str::trim) {
            let (first, last) = match item.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (item, item),
            };
            let first: u8 = first.parse().map_err(|_| err)?;
            let last: u8 = last.parse().map_err(|_| err)?;
            if first > last {
                return Err(err);
            }
            for event in first..=last {
                events.insert(event);
            }
        }
        Ok(events)
    }
}

impl fmt::Display for TelephoneEvents {
    /// The shortest list of ranges, e.g. `0-11,16`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first_item = true;
        let mut events = self.iter().peekable();
        while let Some(start) = events.next() {
            let mut end = start;
            while events.peek() == Some(&end.wrapping_add(1)) && end < 255 {
                end += 1;
                events.next();
            }
            if !first_item {
                f.write_str(",")?;
            }
            first_item = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

/// True for an RFC 8866 `token`: one or more visible ASCII characters other than space and
/// the separators `"(),/:;<=>?@[\]`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            matches!(b, 0x21 | 0x23..=0x27 | 0x2A..=0x2B | 0x2D..=0x2E | 0x30..=0x39 | 0x41..=0x5A | 0x5E..=0x7E)
        })
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn pt(n: u8) -> PayloadType {
        PayloadType::new(n).unwrap()
    }

    #[test]
    fn rtpmap_parses_channels_and_prints_back() {
        let r: Rtpmap = "96 opus/48000/2".parse().unwrap();
        assert_eq!(
            (
                r.payload_type,
                r.encoding_name.as_str(),
                r.clock_rate,
                r.channels()
            ),
            (pt(96), "opus", 48000, 2)
        );
        assert_eq!(r.to_string(), "96 opus/48000/2");
        let r: Rtpmap = "101 telephone-event/8000".parse().unwrap();
        assert_eq!((r.channels, r.channels()), (None, 1));
        for bad in [
            "96",
            "96 opus",
            "96 opus/",
            "96 opus/0",
            "200 opus/48000",
            "x opus/8000",
            "96 opus/8000/2/1",
            "96 /8000",
        ] {
            assert!(bad.parse::<Rtpmap>().is_err(), "{bad}");
        }
    }

    #[test]
    fn fmtp_parameters_split_into_keys_and_values() {
        let f: Fmtp = "96 stereo=1; sprop-stereo=1;maxaveragebitrate=32000"
            .parse()
            .unwrap();
        assert_eq!(f.get("STEREO"), Some("1"));
        assert_eq!(f.get("maxaveragebitrate"), Some("32000"));
        assert_eq!(f.get("useinbandfec"), None);
        let f: Fmtp = "101 0-11,16".parse().unwrap();
        assert_eq!(f.params().collect::<Vec<_>>(), vec![("0-11,16", None)]);
        assert!("101".parse::<Fmtp>().is_err());
        assert!("101 ".parse::<Fmtp>().is_err());
    }

    #[test]
    fn directions_reverse_and_intersect() {
        use Direction::*;
        assert_eq!(SendOnly.reversed(), RecvOnly);
        assert_eq!(RecvOnly.reversed(), SendOnly);
        assert_eq!(Inactive.reversed(), Inactive);
        assert_eq!(SendRecv.reversed(), SendRecv);
        assert_eq!(SendRecv.intersect(RecvOnly), RecvOnly);
        assert_eq!(SendOnly.intersect(RecvOnly), Inactive);
        assert_eq!(SendRecv.without_sending(), RecvOnly);
        assert_eq!(Direction::from_name("SENDONLY"), Some(SendOnly));
        assert_eq!(Direction::from_name("sendrecv2"), None);
    }

    #[test]
    fn rtcp_attribute_with_and_without_address() {
        let r: Rtcp = "53020".parse().unwrap();
        assert_eq!(
            r,
            Rtcp {
                port: 53020,
                address: None
            }
        );
        let r: Rtcp = "53020 IN IP4 126.16.64.4".parse().unwrap();
        assert_eq!(
            r.address,
            Some(Host::Ip(IpAddr::V4(Ipv4Addr::new(126, 16, 64, 4))))
        );
        assert_eq!(r.to_string(), "53020 IN IP4 126.16.64.4");
        let r: Rtcp = "9 IN IP6 2001:db8::1".parse().unwrap();
        assert_eq!(r.to_string(), "9 IN IP6 2001:db8::1");
        for bad in [
            "",
            "x",
            "70000",
            "1 IN IP4",
            "1 IN IP4 1.2.3.4 extra",
            "1 ATM NSAP x",
        ] {
            assert!(bad.parse::<Rtcp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ssrc_attribute_keeps_its_source_attribute() {
        let s: Ssrc = "3684039217 cname:sip:bob@127.0.0.1:15090".parse().unwrap();
        assert_eq!(s.ssrc, 3684039217);
        assert_eq!(s.attribute, "cname");
        assert_eq!(s.value.as_deref(), Some("sip:bob@127.0.0.1:15090"));
        assert_eq!(s.to_string(), "3684039217 cname:sip:bob@127.0.0.1:15090");
    }

    #[test]
    fn telephone_event_lists_parse_and_print_compactly() {
        let e: TelephoneEvents = "0-11,16".parse().unwrap();
        assert!(e.contains(11) && !e.contains(12) && e.contains(16));
        assert_eq!(e.to_string(), "0-11,16");
        assert_eq!(TelephoneEvents::DTMF.to_string(), "0-15");
        assert_eq!(
            "0-15,66,70,255"
                .parse::<TelephoneEvents>()
                .unwrap()
                .to_string(),
            "0-15,66,70,255"
        );
        assert_eq!(
            TelephoneEvents::DTMF_AND_FLASH
                .intersection(&"0-11,16".parse().unwrap())
                .to_string(),
            "0-11,16"
        );
        for bad in ["", "5-3", "0-256", "a", "1,,2"] {
            assert!(bad.parse::<TelephoneEvents>().is_err(), "{bad}");
        }
        assert_eq!(
            TelephoneEvents::from_fmtp(None),
            Some(TelephoneEvents::DTMF)
        );
    }

    #[test]
    fn tokens_exclude_separators() {
        assert!(is_token("telephone-event"));
        assert!(is_token("X-foo.bar_1"));
        assert!(!is_token(""));
        assert!(!is_token("a b"));
        assert!(!is_token("a:b"));
        assert!(!is_token("a/b"));
    }
}
