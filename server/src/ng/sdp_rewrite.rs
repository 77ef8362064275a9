//! Rewriting an SDP so that its media goes through Tandem: the address and port of the
//! handled audio stream become ours, its format list becomes the one negotiated here, and
//! what Tandem cannot honour (ICE candidates, crypto, rtcp-mux) is removed.
//!
//! # What changes ([`rewrite`])
//!
//! - `o=`: the address becomes ours with `replace: [origin]`.
//! - `c=`: session and media level, always ours: the handled stream's media flows through
//!   Tandem whatever `replace` says.
//! - The handled `m=` line: our RTP port, the given formats with their `a=rtpmap` /
//!   `a=fmtp`, the transport protocol from `transport-protocol` if given, `a=rtcp:<port+1>`
//!   (unless `no-rtcp-attribute`), a direction attribute (`a=sendrecv` if there was none, as
//!   rtpengine adds), `a=ptime` when one is set here.
//! - Removed everywhere: ICE (`ice-ufrag`, `ice-pwd`, `ice-options`, `ice-lite`,
//!   `candidate`, `remote-candidates`, `end-of-candidates`), `rtcp-mux`, `rtcp`, and
//!   `crypto` / `fingerprint` / `setup` (Tandem sends plain RTP).
//! - Every other `m=` line is disabled (port 0): Tandem relays one audio stream per call,
//!   and a stream it does not carry must not point the peer at an address that is not ours.
//!
//! `strip-extmap` removes `a=extmap` and `a=extmap-allow-mixed` everywhere; `generate-mid`
//! gives every stream without an `a=mid` one (its index).
//!
//! With `loop-protect`, the handled stream also gets `a=rtpengine:<mark>` ([`mark`]), the
//! attribute rtpengine uses for the same purpose: an SDP that comes back carrying this
//! instance's mark ([`is_marked`]) went through Tandem already and is left alone.

use std::net::IpAddr;

use tandem_sip::sdp::{
    Attribute, Connection, Direction, Host, MediaType, PayloadFormat, SessionDescription,
    TransportProtocol,
};

use super::flags::Flags;

/// Attributes that describe transport Tandem does not offer.
const DROPPED: &[&str] = &[
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-mismatch",
    "candidate",
    "remote-candidates",
    "end-of-candidates",
    "rtcp-mux",
    "rtcp",
    "crypto",
    "fingerprint",
    "setup",
];

/// The attribute that marks an SDP as rewritten by this media proxy (rtpengine's name for
/// it, so that tools that know rtpengine's mark recognise ours).
pub const LOOP_MARK_ATTRIBUTE: &str = "rtpengine";

/// True when `sdp` carries `a=rtpengine:<mark>` at session level or on any stream.
pub fn is_marked(sdp: &SessionDescription, mark: &str) -> bool {
    let marked = |attributes: &[Attribute]| {
        attributes
            .iter()
            .any(|a| a.is(LOOP_MARK_ATTRIBUTE) && a.value.as_deref() == Some(mark))
    };
    marked(&sdp.attributes) || sdp.media.iter().any(|m| marked(&m.attributes))
}

/// Adds `a=rtpengine:<mark>` to the handled stream `index`.
pub fn mark(sdp: &mut SessionDescription, index: usize, mark: &str) {
    if let Some(media) = sdp.media.get_mut(index) {
        media
            .attributes
            .push(Attribute::new(LOOP_MARK_ATTRIBUTE, mark));
    }
}

/// Why an SDP cannot be handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// No audio stream with a port and an RTP protocol.
    #[error("no active RTP audio stream in the SDP")]
    NoAudio,
    /// The audio stream is secure (SRTP/DTLS), which Tandem does not terminate.
    #[error("{0} (SRTP/DTLS) is not supported")]
    Secure(String),
}

/// The index of the first audio stream Tandem handles: an `m=audio` with a port and an RTP
/// protocol.
///
/// # Errors
///
/// [`StreamError`] when there is none, or when it is SRTP/DTLS.
pub fn audio_stream(sdp: &SessionDescription) -> Result<usize, StreamError> {
    let index = sdp
        .media
        .iter()
        .position(|m| m.media_type == MediaType::Audio && m.port != 0 && m.protocol.is_rtp())
        .ok_or(StreamError::NoAudio)?;
    let protocol = &sdp.media[index].protocol;
    if protocol.is_secure() {
        return Err(StreamError::Secure(protocol.as_str().to_owned()));
    }
    Ok(index)
}

/// Where the handled stream's media goes once rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advertised {
    /// Our media address.
    pub address: IpAddr,
    /// Our RTP port (RTCP is the next one).
    pub rtp_port: u16,
}

/// Rewrites `sdp` in place. See the module docs. Returns the number of other streams that
/// were disabled, for a warning.
pub fn rewrite(
    sdp: &mut SessionDescription,
    index: usize,
    formats: &[PayloadFormat],
    ours: Advertised,
    flags: &Flags,
    ptime_ms: Option<u32>,
) -> usize {
    let host = Host::Ip(ours.address);
    if flags.replace_origin {
        sdp.origin.address = host.clone();
    }
    if let Some(connection) = sdp.connection.as_mut() {
        *connection = Connection::new(host.clone());
    }
    sdp.attributes
        .retain(|a| !DROPPED.contains(&a.name.as_str()));
    let mut disabled = 0;
    for (i, media) in sdp.media.iter_mut().enumerate() {
        if i != index {
            if media.port != 0 {
                media.port = 0;
                disabled += 1;
            }
            continue;
        }
        media.port = ours.rtp_port;
        media.port_count = None;
        if let Some(protocol) = &flags.transport_protocol {
            media.protocol = TransportProtocol(protocol.clone());
        }
        if !media.connections.is_empty() || sdp.connection.is_none() {
            media.connections = vec![Connection::new(host.clone())];
        }
        media.formats = formats
            .iter()
            .map(|f| f.payload_type.get().to_string())
            .collect();
        let direction = media.direction();
        // Formats are rewritten below; a ptime set here replaces the peer's.
        let replaced = |name: &str| {
            DROPPED.contains(&name)
                || matches!(name, "rtpmap" | "fmtp")
                || (ptime_ms.is_some() && name == "ptime")
        };
        media.attributes.retain(|a| !replaced(&a.name));
        let mut head = Vec::with_capacity(formats.len() * 2);
        for format in formats {
            head.push(Attribute::new("rtpmap", format.rtpmap().to_string()));
            if let Some(fmtp) = &format.codec.fmtp {
                head.push(Attribute::new(
                    "fmtp",
                    format!("{} {fmtp}", format.payload_type.get()),
                ));
            }
        }
        head.append(&mut media.attributes);
        media.attributes = head;
        media.set_direction(direction.unwrap_or(Direction::SendRecv));
        if !flags.no_rtcp_attribute {
            let rtcp_port = ours.rtp_port.saturating_add(1);
            let value = if flags.full_rtcp_attribute {
                let family = if ours.address.is_ipv4() { "IP4" } else { "IP6" };
                format!("{rtcp_port} IN {family} {}", ours.address)
            } else {
                rtcp_port.to_string()
            };
            media.push_attribute(Attribute::new("rtcp", value));
        }
        if let Some(ms) = ptime_ms {
            media.push_attribute(Attribute::new("ptime", ms.to_string()));
        }
    }
    if flags.strip_extmap {
        let extmap = |a: &Attribute| a.is("extmap") || a.is("extmap-allow-mixed");
        sdp.attributes.retain(|a| !extmap(a));
        for media in &mut sdp.media {
            media.attributes.retain(|a| !extmap(a));
        }
    }
    if flags.generate_mid {
        for (i, media) in sdp.media.iter_mut().enumerate() {
            if !media.attributes.iter().any(|a| a.is("mid")) {
                media.push_attribute(Attribute::new("mid", i.to_string()));
            }
        }
    }
    disabled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_extmap_and_generate_mid_do_what_they_say() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
            a=extmap-allow-mixed\r\nm=audio 6100 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
            a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
            m=video 6200 RTP/AVP 96\r\na=mid:v\r\n";
        let ours = Advertised {
            address: "127.0.0.1".parse().unwrap(),
            rtp_port: 30000,
        };
        let formats: Vec<PayloadFormat> =
            SessionDescription::parse(offer.as_bytes()).unwrap().media[0]
                .payload_formats()
                .collect();
        let rewritten = |flags: &Flags| {
            let mut sdp = SessionDescription::parse(offer.as_bytes()).unwrap();
            rewrite(&mut sdp, 0, &formats, ours, flags, None);
            String::from_utf8(sdp.to_bytes()).unwrap()
        };
        let plain = rewritten(&Flags::default());
        assert!(plain.contains("a=extmap:1 ") && plain.contains("a=extmap-allow-mixed"));
        assert!(!plain.contains("a=mid:0"));
        let asked = rewritten(&Flags {
            strip_extmap: true,
            generate_mid: true,
            ..Flags::default()
        });
        assert!(!asked.contains("extmap"), "{asked}");
        assert!(asked.contains("a=mid:0"), "{asked}");
        assert!(
            asked.contains("a=mid:v") && !asked.contains("a=mid:1"),
            "{asked}"
        );
    }

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6100 RTP/AVP 8 101\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    #[test]
    fn the_plain_offer_is_rewritten_as_rtpengine_does() {
        let mut sdp = SessionDescription::parse(SIPP_OFFER.as_bytes()).unwrap();
        let index = audio_stream(&sdp).unwrap();
        let formats: Vec<_> = sdp.media[index].payload_formats().collect();
        let flags = Flags {
            replace_origin: true,
            ..Flags::default()
        };
        let ours = Advertised {
            address: "127.0.0.2".parse().unwrap(),
            rtp_port: 30000,
        };
        assert_eq!(rewrite(&mut sdp, index, &formats, ours, &flags, None), 0);
        assert_eq!(
            sdp.to_string(),
            "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.2\r\ns=-\r\n\
             c=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 30000 RTP/AVP 8 101\r\n\
             a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=fmtp:101 0-11,16\r\na=sendrecv\r\na=rtcp:30001\r\n"
        );
    }

    #[test]
    fn ice_is_removed_other_streams_disabled_direction_kept() {
        let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n\
            m=audio 6100 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\na=ice-ufrag:x\r\na=ice-pwd:y\r\n\
            a=candidate:1 1 UDP 1 192.0.2.1 6100 typ host\r\na=rtcp-mux\r\na=sendonly\r\n\
            m=video 6200 RTP/AVP 96\r\nc=IN IP4 192.0.2.1\r\na=rtpmap:96 VP8/90000\r\n";
        let mut sdp = SessionDescription::parse(offer.as_bytes()).unwrap();
        let formats: Vec<_> = sdp.media[0].payload_formats().collect();
        let ours = Advertised {
            address: "127.0.0.1".parse().unwrap(),
            rtp_port: 40000,
        };
        let disabled = rewrite(&mut sdp, 0, &formats, ours, &Flags::default(), Some(20));
        assert_eq!(disabled, 1);
        let text = sdp.to_string();
        assert!(text.contains("o=- 1 1 IN IP4 192.0.2.1\r\n"), "{text}");
        assert!(
            text.contains(
                "m=audio 40000 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:0 PCMU/8000\r\n\
                 a=sendonly\r\na=rtcp:40001\r\na=ptime:20\r\nm=video 0 "
            ),
            "{text}"
        );
        for gone in ["ice", "candidate", "rtcp-mux"] {
            assert!(!text.contains(gone), "{gone} in {text}");
        }
    }

    #[test]
    fn secure_or_missing_audio_is_an_error() {
        let srtp = SIPP_OFFER.replace("RTP/AVP", "RTP/SAVP");
        let sdp = SessionDescription::parse(srtp.as_bytes()).unwrap();
        assert_eq!(
            audio_stream(&sdp),
            Err(StreamError::Secure("RTP/SAVP".into()))
        );
        let held = SIPP_OFFER.replace("m=audio 6100", "m=audio 0");
        let sdp = SessionDescription::parse(held.as_bytes()).unwrap();
        assert_eq!(audio_stream(&sdp), Err(StreamError::NoAudio));
    }
}
