//! The SDP printer: [`fmt::Display`] for the model, CRLF line ends, lines in RFC 8866 §5 order.
//!
//! `parse(print(x)) == x` for every value the parser produces, and printing is canonical: the
//! network type is written `IN`, IP literals in their shortest form, and CR, LF and NUL are
//! dropped from text so that no value can add a line.

use std::fmt::{self, Write};

use super::model::{
    Attribute, Bandwidth, Connection, Host, MediaDescription, Origin, SessionDescription, Timing,
};

impl SessionDescription {
    /// The description as SDP bytes: what a SIP body carries.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=0\r\n")?;
        write!(f, "o={}\r\n", self.origin)?;
        line(f, 's', &self.session_name)?;
        if let Some(information) = &self.information {
            line(f, 'i', information)?;
        }
        if let Some(uri) = &self.uri {
            line(f, 'u', uri)?;
        }
        for email in &self.emails {
            line(f, 'e', email)?;
        }
        for phone in &self.phones {
            line(f, 'p', phone)?;
        }
        if let Some(connection) = &self.connection {
            write!(f, "c={connection}\r\n")?;
        }
        for bandwidth in &self.bandwidths {
            write!(f, "b={bandwidth}\r\n")?;
        }
        for timing in &self.timings {
            write!(f, "{timing}")?;
        }
        if let Some(zones) = &self.time_zones {
            line(f, 'z', zones)?;
        }
        if let Some(key) = &self.encryption_key {
            line(f, 'k', key)?;
        }
        for attribute in &self.attributes {
            write!(f, "a={attribute}\r\n")?;
        }
        for media in &self.media {
            write!(f, "{media}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MediaDescription {
    /// The `m=` line and the section's other lines, each ending in CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m={} {}", Text(self.media_type.as_str()), self.port)?;
        if let Some(count) = self.port_count {
            write!(f, "/{count}")?;
        }
        write!(f, " {}", Text(self.protocol.as_str()))?;
        for format in &self.formats {
            write!(f, " {}", Text(format))?;
        }
        f.write_str("\r\n")?;
        if let Some(title) = &self.title {
            line(f, 'i', title)?;
        }
        for connection in &self.connections {
            write!(f, "c={connection}\r\n")?;
        }
        for bandwidth in &self.bandwidths {
            write!(f, "b={bandwidth}\r\n")?;
        }
        if let Some(key) = &self.encryption_key {
            line(f, 'k', key)?;
        }
        for attribute in &self.attributes {
            write!(f, "a={attribute}\r\n")?;
        }
        Ok(())
    }
}

impl fmt::Display for Origin {
    /// The value of the `o=` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} IN {} {}",
            Text(&self.username),
            self.session_id,
            self.session_version,
            self.address.address_type().as_str(),
            self.address
        )
    }
}

impl fmt::Display for Host {
    /// The address alone: an IP literal or the domain name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Domain { name, .. } => write!(f, "{}", Text(name)),
        }
    }
}

impl fmt::Display for Connection {
    /// The value of the `c=` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IN {} {}",
            self.address.address_type().as_str(),
            self.address
        )?;
        if let Some(ttl) = self.ttl {
            write!(f, "/{ttl}")?;
        }
        if let Some(count) = self.count {
            write!(f, "/{count}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Bandwidth {
    /// The value of the `b=` line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", Text(&self.bandwidth_type), self.value)
    }
}

impl fmt::Display for Timing {
    /// The `t=` line and its `r=` lines, each ending in CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={} {}\r\n", self.start, self.stop)?;
        for repeat in &self.repeats {
            line(f, 'r', repeat)?;
        }
        Ok(())
    }
}

impl fmt::Display for Attribute {
    /// The value of the `a=` line: `name` or `name:value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Text(&self.name))?;
        if let Some(value) = &self.value {
            write!(f, ":{}", Text(value))?;
        }
        Ok(())
    }
}

/// Writes `<letter>=<text>` and CRLF. An empty session name is written `s= ` (RFC 8866 §5.3
/// recommends a single space), which parses back to the empty name.
fn line(f: &mut fmt::Formatter<'_>, letter: char, text: &str) -> fmt::Result {
    f.write_char(letter)?;
    f.write_char('=')?;
    if text.is_empty() && letter == 's' {
        f.write_char(' ')?;
    }
    write!(f, "{}\r\n", Text(text))
}

/// Text with the characters that would end or corrupt a line removed.
struct Text<'a>(&'a str);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in self.0.split(['\r', '\n', '\0']) {
            f.write_str(part)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::sdp::{MediaType, TransportProtocol};

    #[test]
    fn text_cannot_inject_lines() {
        let mut sdp = SessionDescription::new(Origin {
            username: "a\r\nm=video".into(),
            session_id: 1,
            session_version: 1,
            address: Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        });
        sdp.session_name = "x\r\nb=AS:1".into();
        let mut m = MediaDescription::new(
            MediaType::Audio,
            1,
            TransportProtocol::rtp_avp(),
            vec!["0".into()],
        );
        m.attributes.push(Attribute::new("x", "1\r\na=y"));
        sdp.media.push(m);
        let text = sdp.to_string();
        assert_eq!(text.matches("\r\n").count(), text.lines().count());
        assert_eq!(text.lines().count(), 6, "{text}");
        assert!(text.contains("s=xb=AS:1\r\n"));
    }

    #[test]
    fn empty_session_name_prints_as_one_space() {
        let sdp = SessionDescription {
            session_name: String::new(),
            ..SessionDescription::new(Origin {
                username: "-".into(),
                session_id: 1,
                session_version: 1,
                address: Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            })
        };
        let text = sdp.to_string();
        assert!(text.contains("\r\ns= \r\n"), "{text}");
        assert_eq!(SessionDescription::parse(text.as_bytes()).unwrap(), sdp);
    }
}
