//! The SDP parser (RFC 8866 §5, §9): bytes in, a [`SessionDescription`] or an [`SdpError`] out.
//!
//! Tolerant where peers differ harmlessly, strict where structure is at stake:
//! - Lines may end in CRLF or a bare LF; trailing spaces and tabs are dropped; blank lines may
//!   follow the last line (SIP bodies often end with an extra CRLF), but not sit between lines.
//! - Each line is `<letter>=<value>` with nothing around the `=`; a letter RFC 8866 does not
//!   define rejects the whole body (§5: "MUST completely ignore any session description that
//!   contains a type letter that it does not understand").
//! - Lines come in the order of §5: `v o s i? u? e* p* c? b* (t r*)+ z? k? a* m*`, and in each
//!   media section `m i? c* b* k? a*`.
//! - Attribute values are not interpreted here (see [`crate::sdp::attributes`]); unknown
//!   attributes are kept verbatim.
//!
//! Never panics, whatever the input; work and memory are bounded by [`MAX_SDP_BYTES`],
//! [`MAX_MEDIA`] and [`MAX_FORMATS`].

use std::net::{Ipv4Addr, Ipv6Addr};

use super::attributes::is_token;
use super::error::{Field, SdpError, SdpErrorKind};
use super::model::{
    AddressType, Attribute, Bandwidth, Connection, Host, MediaDescription, MediaType, Origin,
    SessionDescription, Timing, TransportProtocol,
};
use super::payload::PayloadType;

/// The longest body accepted, in bytes. SIP over UDP cannot carry more, and no telephony
/// description comes near it.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// The most media sections accepted in one description.
pub const MAX_MEDIA: usize = 64;
/// The most formats accepted on one `m=` line (RTP has 128 payload types).
pub const MAX_FORMATS: usize = 128;

impl SessionDescription {
    /// Parses a session description; see the [module docs](self) for what is accepted.
    ///
    /// # Errors
    ///
    /// [`SdpError`] with the kind of fault and the 1-based line number where parsing stopped.
    pub fn parse(input: &[u8]) -> Result<Self, SdpError> {
        parse(input)
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s.as_bytes())
    }
}

/// Parses a session description; see the [module docs](self).
///
/// # Errors
///
/// [`SdpError`] with the kind of fault and the 1-based line number where parsing stopped.
pub fn parse(input: &[u8]) -> Result<SessionDescription, SdpError> {
    if input.len() > MAX_SDP_BYTES {
        return Err(SdpError::new(SdpErrorKind::TooLong { len: input.len() }, 0));
    }
    let lines = lex(input)?;
    if lines.is_empty() {
        return Err(SdpError::new(SdpErrorKind::Empty, 0));
    }
    let mut cursor = Cursor { lines, pos: 0 };
    let sdp = session(&mut cursor)?;
    match cursor.lines.get(cursor.pos) {
        None => Ok(sdp),
        Some(line) => Err(line.error(SdpErrorKind::Unexpected(line.field))),
    }
}

/// One non-blank line, checked for `<letter>=<value>` syntax.
#[derive(Clone, Copy)]
struct Line<'a> {
    number: u32,
    field: Field,
    value: &'a str,
}

impl Line<'_> {
    fn error(&self, kind: SdpErrorKind) -> SdpError {
        SdpError::new(kind, self.number)
    }

    fn malformed(&self) -> SdpError {
        self.error(SdpErrorKind::Malformed(self.field))
    }
}

/// Splits the body into lines and checks each one's syntax.
fn lex(input: &[u8]) -> Result<Vec<Line<'_>>, SdpError> {
    let mut lines = Vec::new();
    let mut blank: Option<u32> = None;
    for (index, raw) in input.split(|&b| b == b'\n').enumerate() {
        // At most MAX_SDP_BYTES lines, so the count fits.
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let end = raw
            .iter()
            .rposition(|&b| !matches!(b, b'\r' | b' ' | b'\t'))
            .map_or(0, |p| p + 1);
        let raw = &raw[..end];
        if raw.is_empty() {
            blank.get_or_insert(number);
            continue;
        }
        if let Some(blank) = blank {
            return Err(SdpError::new(SdpErrorKind::BlankLine, blank));
        }
        let text =
            std::str::from_utf8(raw).map_err(|_| SdpError::new(SdpErrorKind::NotUtf8, number))?;
        let bytes = text.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_alphabetic() {
            return Err(SdpError::new(SdpErrorKind::LineSyntax, number));
        }
        if bytes.iter().any(|&b| b == b'\r' || b == 0) {
            return Err(SdpError::new(SdpErrorKind::LineSyntax, number));
        }
        let field = Field::from_letter(bytes[0]).ok_or(SdpError::new(
            SdpErrorKind::UnknownType {
                letter: char::from(bytes[0]),
            },
            number,
        ))?;
        lines.push(Line {
            number,
            field,
            value: &text[2..],
        });
    }
    Ok(lines)
}

struct Cursor<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// Takes the next line if it is a `field` line.
    fn take(&mut self, field: Field) -> Option<Line<'a>> {
        let line = *self.lines.get(self.pos).filter(|l| l.field == field)?;
        self.pos += 1;
        Some(line)
    }

    /// Takes the next line, which must be a `field` line.
    fn require(&mut self, field: Field) -> Result<Line<'a>, SdpError> {
        let number = self.lines.get(self.pos).map_or_else(
            || self.lines.last().map_or(1, |l| l.number.saturating_add(1)),
            |l| l.number,
        );
        self.take(field)
            .ok_or(SdpError::new(SdpErrorKind::Missing(field), number))
    }

    /// Takes every consecutive `field` line.
    fn take_all<T>(
        &mut self,
        field: Field,
        mut parse: impl FnMut(&Line<'a>) -> Result<T, SdpError>,
    ) -> Result<Vec<T>, SdpError> {
        let mut values = Vec::new();
        while let Some(line) = self.take(field) {
            values.push(parse(&line)?);
        }
        Ok(values)
    }

    fn take_text(&mut self, field: Field) -> Option<String> {
        self.take(field).map(|l| l.value.to_owned())
    }
}

fn session(cursor: &mut Cursor<'_>) -> Result<SessionDescription, SdpError> {
    let version = cursor.require(Field::Version)?;
    if version.value != "0" {
        return Err(version.error(SdpErrorKind::UnsupportedVersion));
    }
    let origin = origin(&cursor.require(Field::Origin)?)?;
    let session_name = cursor.require(Field::SessionName)?.value.to_owned();
    let information = cursor.take_text(Field::Information);
    let uri = cursor.take_text(Field::Uri);
    let emails = cursor.take_all(Field::Email, |l| Ok(l.value.to_owned()))?;
    let phones = cursor.take_all(Field::Phone, |l| Ok(l.value.to_owned()))?;
    let session_connection = cursor
        .take(Field::Connection)
        .map(|l| connection(&l))
        .transpose()?;
    let bandwidths = cursor.take_all(Field::Bandwidth, bandwidth)?;
    let mut timings = vec![timing(&cursor.require(Field::Timing)?)?];
    timings[0].repeats = cursor.take_all(Field::Repeat, |l| Ok(l.value.to_owned()))?;
    while let Some(line) = cursor.take(Field::Timing) {
        let mut next = timing(&line)?;
        next.repeats = cursor.take_all(Field::Repeat, |l| Ok(l.value.to_owned()))?;
        timings.push(next);
    }
    let time_zones = cursor.take_text(Field::TimeZone);
    let encryption_key = cursor.take_text(Field::EncryptionKey);
    let attributes = cursor.take_all(Field::Attribute, attribute)?;
    let mut media = Vec::new();
    while let Some(line) = cursor.take(Field::Media) {
        if media.len() == MAX_MEDIA {
            return Err(line.error(SdpErrorKind::TooManyMedia));
        }
        let mut section = media_line(&line)?;
        section.title = cursor.take_text(Field::Information);
        section.connections = cursor.take_all(Field::Connection, connection)?;
        section.bandwidths = cursor.take_all(Field::Bandwidth, bandwidth)?;
        section.encryption_key = cursor.take_text(Field::EncryptionKey);
        section.attributes = cursor.take_all(Field::Attribute, attribute)?;
        media.push(section);
    }
    Ok(SessionDescription {
        origin,
        session_name,
        information,
        uri,
        emails,
        phones,
        connection: session_connection,
        bandwidths,
        timings,
        time_zones,
        encryption_key,
        attributes,
        media,
    })
}

/// The space-separated fields of a value; repeated spaces are tolerated.
fn fields(value: &str) -> impl Iterator<Item = &str> {
    value.split(' ').filter(|f| !f.is_empty())
}

/// A number written as plain decimal digits (no sign, no spaces).
fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
fn origin(line: &Line<'_>) -> Result<Origin, SdpError> {
    let f: Vec<&str> = fields(line.value).take(7).collect();
    let [username, id, version, net, addrtype, address] = f[..] else {
        return Err(line.malformed());
    };
    let session_id = digits(id).ok_or_else(|| line.malformed())?;
    let session_version = digits(version).ok_or_else(|| line.malformed())?;
    let address_type =
        address_type(net, addrtype).ok_or_else(|| line.error(SdpErrorKind::UnsupportedAddress))?;
    let address = host(address_type, address).ok_or_else(|| line.malformed())?;
    Ok(Origin {
        username: username.to_owned(),
        session_id,
        session_version,
        address,
    })
}

/// `c=<nettype> <addrtype> <connection-address>` with IPv4 `/ttl[/count]` or IPv6 `/count`.
fn connection(line: &Line<'_>) -> Result<Connection, SdpError> {
    let f: Vec<&str> = fields(line.value).take(4).collect();
    let [net, addrtype, address] = f[..] else {
        return Err(line.malformed());
    };
    let address_type =
        address_type(net, addrtype).ok_or_else(|| line.error(SdpErrorKind::UnsupportedAddress))?;
    let mut parts = address.split('/');
    let address = parts
        .next()
        .and_then(|a| host(address_type, a))
        .ok_or_else(|| line.malformed())?;
    let suffix: Vec<&str> = parts.collect();
    let (ttl, count) = match (address_type, &suffix[..]) {
        (_, []) => (None, None),
        (AddressType::Ip4, &[ttl]) => (Some(digits(ttl)), None),
        (AddressType::Ip4, &[ttl, count]) => (Some(digits(ttl)), Some(digits(count))),
        (AddressType::Ip6, &[count]) => (None, Some(digits(count))),
        _ => return Err(line.malformed()),
    };
    let ttl = ttl.map(|t| t.ok_or_else(|| line.malformed())).transpose()?;
    let count = count
        .map(|c| c.ok_or_else(|| line.malformed()))
        .transpose()?;
    Ok(Connection {
        address,
        ttl,
        count,
    })
}

fn address_type(net: &str, addrtype: &str) -> Option<AddressType> {
    if !net.eq_ignore_ascii_case("IN") {
        return None;
    }
    if addrtype.eq_ignore_ascii_case("IP4") {
        Some(AddressType::Ip4)
    } else if addrtype.eq_ignore_ascii_case("IP6") {
        Some(AddressType::Ip6)
    } else {
        None
    }
}

/// An address of the given type: an IP literal of that family, or a domain name.
fn host(address_type: AddressType, text: &str) -> Option<Host> {
    let ip = match address_type {
        AddressType::Ip4 => text.parse::<Ipv4Addr>().ok().map(Into::into),
        AddressType::Ip6 => text.parse::<Ipv6Addr>().ok().map(Into::into),
    };
    ip.map(Host::Ip).or_else(|| {
        is_domain(text).then(|| Host::Domain {
            address_type,
            name: text.to_owned(),
        })
    })
}

/// Parses `<addrtype> <address>` as `a=rtcp` and other attributes carry them after `IN`.
pub(crate) fn parse_host(addrtype: &str, address: &str) -> Option<Host> {
    host(address_type("IN", addrtype)?, address)
}

/// A host name (RFC 8866 §9 `FQDN`): letters, digits, `-` and `.`, with at least one letter
/// so that a mistyped IP literal is not taken for a name.
fn is_domain(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 255
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && text.bytes().any(|b| b.is_ascii_alphabetic())
}

/// `b=<bwtype>:<bandwidth>`.
fn bandwidth(line: &Line<'_>) -> Result<Bandwidth, SdpError> {
    let (kind, value) = line.value.split_once(':').ok_or_else(|| line.malformed())?;
    if !is_token(kind) {
        return Err(line.malformed());
    }
    Ok(Bandwidth {
        bandwidth_type: kind.to_owned(),
        value: digits(value).ok_or_else(|| line.malformed())?,
    })
}

/// `t=<start-time> <stop-time>`.
fn timing(line: &Line<'_>) -> Result<Timing, SdpError> {
    let f: Vec<&str> = fields(line.value).take(3).collect();
    let [start, stop] = f[..] else {
        return Err(line.malformed());
    };
    Ok(Timing {
        start: digits(start).ok_or_else(|| line.malformed())?,
        stop: digits(stop).ok_or_else(|| line.malformed())?,
        repeats: Vec::new(),
    })
}

/// `a=<attribute-name>[:<attribute-value>]`.
fn attribute(line: &Line<'_>) -> Result<Attribute, SdpError> {
    let (name, value) = match line.value.split_once(':') {
        Some((name, value)) => (name, Some(value.to_owned())),
        None => (line.value, None),
    };
    if !is_token(name) {
        return Err(line.malformed());
    }
    Ok(Attribute {
        name: name.to_owned(),
        value,
    })
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`. For RTP protocols every format
/// must be a payload type (RFC 8866 §5.14). A rejected stream (port 0) may list no format:
/// some answerers write `m=video 0 RTP/AVP`.
fn media_line(line: &Line<'_>) -> Result<MediaDescription, SdpError> {
    let mut f = fields(line.value);
    let (Some(media), Some(port), Some(protocol)) = (f.next(), f.next(), f.next()) else {
        return Err(line.malformed());
    };
    if !is_token(media) || !protocol.split('/').all(is_token) {
        return Err(line.malformed());
    }
    let (port, port_count) = match port.split_once('/') {
        Some((port, count)) => (port, Some(digits(count).ok_or_else(|| line.malformed())?)),
        None => (port, None),
    };
    let port: u16 = digits(port).ok_or_else(|| line.malformed())?;
    let protocol = TransportProtocol(protocol.to_owned());
    let mut formats = Vec::new();
    for format in f {
        if formats.len() == MAX_FORMATS {
            return Err(line.error(SdpErrorKind::TooManyFormats));
        }
        let valid = if protocol.is_rtp() {
            format.parse::<PayloadType>().is_ok()
        } else {
            is_token(format)
        };
        if !valid {
            return Err(line.malformed());
        }
        formats.push(format.to_owned());
    }
    if formats.is_empty() && port != 0 {
        return Err(line.malformed());
    }
    let mut section = MediaDescription::new(MediaType::from_token(media), port, protocol, formats);
    section.port_count = port_count;
    Ok(section)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    const MINIMAL: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

    fn err(text: &str) -> SdpError {
        parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn minimal_description_parses() {
        let sdp = parse(MINIMAL.as_bytes()).unwrap();
        assert_eq!(sdp.origin.session_id, 1);
        assert_eq!(sdp.origin.session_version, 2);
        assert_eq!(sdp.session_name, "-");
        assert_eq!(sdp.timings, vec![Timing::PERMANENT]);
        assert!(sdp.media.is_empty());
    }

    #[test]
    fn bare_lf_trailing_whitespace_and_trailing_blank_lines_are_tolerated() {
        let text = "v=0\no=- 1 2 IN IP4 127.0.0.1 \ns=-\t\nt=0 0\r\n\r\n\n";
        assert_eq!(parse(text.as_bytes()), parse(MINIMAL.as_bytes()));
    }

    #[test]
    fn blank_line_inside_is_rejected_at_its_line() {
        let e = err("v=0\r\n\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n");
        assert_eq!(e, SdpError::new(SdpErrorKind::BlankLine, 2));
    }

    #[test]
    fn empty_and_oversized_bodies_are_rejected_as_a_whole() {
        assert_eq!(err("").kind, SdpErrorKind::Empty);
        assert_eq!(err("\r\n\r\n").kind, SdpErrorKind::Empty);
        let big = "a".repeat(MAX_SDP_BYTES + 1);
        assert_eq!(
            err(&big),
            SdpError::new(
                SdpErrorKind::TooLong {
                    len: MAX_SDP_BYTES + 1
                },
                0
            )
        );
    }

    #[test]
    fn line_syntax_is_strict() {
        let with = |line: &str| format!("{MINIMAL}{line}\r\n");
        assert_eq!(err(&with("a = b")).kind, SdpErrorKind::LineSyntax);
        assert_eq!(err(&with(" a=b")).kind, SdpErrorKind::LineSyntax);
        assert_eq!(err(&with("=b")).kind, SdpErrorKind::LineSyntax);
        assert_eq!(err(&with("a")).kind, SdpErrorKind::LineSyntax);
        assert_eq!(err(&with("a=x\ry")).kind, SdpErrorKind::LineSyntax);
        assert_eq!(
            err(&with("x=unknown")),
            SdpError::new(SdpErrorKind::UnknownType { letter: 'x' }, 5)
        );
        assert_eq!(
            parse(b"v=0\r\ns=\xff\r\n").unwrap_err(),
            SdpError::new(SdpErrorKind::NotUtf8, 2)
        );
    }

    #[test]
    fn order_of_lines_is_enforced() {
        let e = err("v=0\r\ns=-\r\no=- 1 2 IN IP4 127.0.0.1\r\nt=0 0\r\n");
        assert_eq!(e, SdpError::new(SdpErrorKind::Missing(Field::Origin), 2));
        let e = err("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n");
        assert_eq!(e, SdpError::new(SdpErrorKind::Missing(Field::Timing), 4));
        let e = err(&format!("{MINIMAL}a=sendrecv\r\nc=IN IP4 1.2.3.4\r\n"));
        assert_eq!(
            e,
            SdpError::new(SdpErrorKind::Unexpected(Field::Connection), 6)
        );
        let e = err(&format!(
            "{MINIMAL}m=audio 1 RTP/AVP 0\r\na=x\r\nc=IN IP4 1.2.3.4\r\n"
        ));
        assert_eq!(
            e,
            SdpError::new(SdpErrorKind::Unexpected(Field::Connection), 7)
        );
        let e = err(&format!("{MINIMAL}v=0\r\n"));
        assert_eq!(e.kind, SdpErrorKind::Unexpected(Field::Version));
        assert_eq!(err("v=1\r\n").kind, SdpErrorKind::UnsupportedVersion);
    }

    #[test]
    fn full_session_level_grammar() {
        let text = "v=0\r\n\
            o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1\r\n\
            s=Call to John Smith\r\n\
            i=SDP Offer #1\r\n\
            u=http://www.jdoe.example.com/home.html\r\n\
            e=Jane Doe <jane@jdoe.example.com>\r\n\
            p=+1 617 555-6011\r\n\
            c=IN IP4 198.51.100.1\r\n\
            b=CT:128\r\n\
            t=0 0\r\n\
            r=7d 1h 0 25h\r\n\
            t=3724394400 3724398000\r\n\
            z=2882844526 -1h 2898848070 0\r\n\
            k=prompt\r\n\
            a=recvonly\r\n\
            m=audio 49170 RTP/AVP 0\r\n\
            m=audio 49180 RTP/AVP 0\r\n\
            m=video 51372/2 RTP/AVP 99\r\n\
            i=video\r\n\
            c=IN IP6 ff15::101/3\r\n\
            c=IN IP4 233.252.0.1/127/2\r\n\
            b=AS:512\r\n\
            k=clear:x\r\n\
            a=rtpmap:99 h263-1998/90000\r\n";
        let sdp = parse(text.as_bytes()).unwrap();
        assert_eq!(sdp.timings.len(), 2);
        assert_eq!(sdp.timings[0].repeats, vec!["7d 1h 0 25h".to_owned()]);
        assert_eq!(
            sdp.time_zones.as_deref(),
            Some("2882844526 -1h 2898848070 0")
        );
        assert_eq!(sdp.media.len(), 3);
        let video = &sdp.media[2];
        assert_eq!(video.port_count, Some(2));
        assert_eq!(video.connections[0].count, Some(3));
        assert_eq!(video.connections[1].ttl, Some(127));
        assert_eq!(video.connections[1].count, Some(2));
        assert_eq!(video.bandwidths[0].value, 512);
        assert_eq!(sdp.to_string(), text);
    }

    #[test]
    fn addresses_are_typed_and_checked() {
        let with_c =
            |c: &str| format!("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc={c}\r\nt=0 0\r\n");
        let sdp = parse(with_c("IN IP6 ::1").as_bytes()).unwrap();
        assert_eq!(
            sdp.connection.unwrap().address,
            Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        let sdp = parse(with_c("IN IP4 host.atlanta.example.com").as_bytes()).unwrap();
        assert_eq!(
            sdp.connection.unwrap().address,
            Host::Domain {
                address_type: AddressType::Ip4,
                name: "host.atlanta.example.com".into()
            }
        );
        assert_eq!(
            err(&with_c("IN IP4 ::1")).kind,
            SdpErrorKind::Malformed(Field::Connection)
        );
        assert_eq!(
            err(&with_c("IN IP4 1.2.3.999")).kind,
            SdpErrorKind::Malformed(Field::Connection)
        );
        assert_eq!(
            err(&with_c("IN IP6 ::1/5/5")).kind,
            SdpErrorKind::Malformed(Field::Connection)
        );
        assert_eq!(
            err(&with_c("TN RFC2543 +1-555")).kind,
            SdpErrorKind::UnsupportedAddress
        );
        assert_eq!(
            err(&with_c("IN IPX 1.2.3.4")).kind,
            SdpErrorKind::UnsupportedAddress
        );
        assert_eq!(
            err(&with_c("IN IP4")).kind,
            SdpErrorKind::Malformed(Field::Connection)
        );
    }

    #[test]
    fn origin_fields_are_checked() {
        let with_o = |o: &str| format!("v=0\r\no={o}\r\ns=-\r\nt=0 0\r\n");
        assert!(parse(with_o("- 18446744073709551615 0 IN IP4 127.0.0.1").as_bytes()).is_ok());
        for bad in [
            "- 18446744073709551616 0 IN IP4 127.0.0.1",
            "- 1 x IN IP4 127.0.0.1",
            "- 1 2 IN IP4",
            "- 1 2 IN IP4 127.0.0.1 extra",
            "- -1 2 IN IP4 127.0.0.1",
        ] {
            assert_eq!(
                err(&with_o(bad)).kind,
                SdpErrorKind::Malformed(Field::Origin),
                "{bad}"
            );
        }
    }

    #[test]
    fn media_formats_are_payload_types_for_rtp_and_tokens_otherwise() {
        let with_m = |m: &str| format!("{MINIMAL}m={m}\r\n");
        let sdp = parse(with_m("image 0 udptl t38").as_bytes()).unwrap();
        assert_eq!(sdp.media[0].formats, vec!["t38".to_owned()]);
        let sdp =
            parse(with_m("application 9 UDP/DTLS/SCTP webrtc-datachannel").as_bytes()).unwrap();
        assert_eq!(sdp.media[0].media_type, MediaType::Application);
        let sdp = parse(with_m("video 0 RTP/AVP").as_bytes()).unwrap();
        assert!(sdp.media[0].formats.is_empty());
        for bad in [
            "audio 1 RTP/AVP",
            "audio 1 RTP/AVP 128",
            "audio 1 RTP/AVP t38",
            "audio 65536 RTP/AVP 0",
            "audio x RTP/AVP 0",
            "audio 1/x RTP/AVP 0",
            "audio 1",
            "au:dio 1 RTP/AVP 0",
        ] {
            assert_eq!(
                err(&with_m(bad)).kind,
                SdpErrorKind::Malformed(Field::Media),
                "{bad}"
            );
        }
        let many = format!("audio 1 RTP/AVP{}", " 0".repeat(MAX_FORMATS + 1));
        assert_eq!(err(&with_m(&many)).kind, SdpErrorKind::TooManyFormats);
        let sections = "m=audio 1 RTP/AVP 0\r\n".repeat(MAX_MEDIA + 1);
        assert_eq!(
            err(&format!("{MINIMAL}{sections}")).kind,
            SdpErrorKind::TooManyMedia
        );
    }

    #[test]
    fn attributes_keep_their_value_verbatim() {
        let text =
            format!("{MINIMAL}a=tool:baresip 1.0.0\r\na=x-odd:a:b: c\r\na=flag\r\na=empty:\r\n");
        let sdp = parse(text.as_bytes()).unwrap();
        assert_eq!(sdp.attributes[0], Attribute::new("tool", "baresip 1.0.0"));
        assert_eq!(sdp.attributes[1], Attribute::new("x-odd", "a:b: c"));
        assert_eq!(sdp.attributes[2], Attribute::property("flag"));
        assert_eq!(sdp.attributes[3], Attribute::new("empty", ""));
        assert_eq!(sdp.to_string(), text);
        assert_eq!(
            err(&format!("{MINIMAL}a=bad name:1\r\n")).kind,
            SdpErrorKind::Malformed(Field::Attribute)
        );
    }
}
