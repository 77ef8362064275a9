//! The few SDP lines the loadgen writes and reads: the caller's and callee's offers and
//! answers (one audio stream, one codec), and the media endpoint an engine put in the SDP
//! it rewrote (`c=` address, `m=audio` port, the first payload type and its `a=rtpmap`).
//!
//! Only what a media proxy changes is read; full SDP parsing is `tandem-sip`'s job.

use std::net::{IpAddr, SocketAddr};

/// A codec as the loadgen offers it: `name/clock[/channels]` with its payload type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpCodec {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name as in `a=rtpmap` (`PCMU`, `opus`).
    pub name: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Channels (only written when not 1).
    pub channels: u8,
}

impl SdpCodec {
    /// PCMU/8000 on its static payload type 0.
    pub fn pcmu() -> SdpCodec {
        SdpCodec {
            pt: 0,
            name: "PCMU".into(),
            clock_rate: 8000,
            channels: 1,
        }
    }

    /// Reads `name/clock[/channels[/...]]` (the ng `transcode` syntax; further fields such as
    /// rtpengine's bitrate are ignored here), on payload type `pt`.
    pub fn parse(spec: &str, pt: u8) -> Result<SdpCodec, String> {
        let mut parts = spec.split('/');
        let name = parts
            .next()
            .filter(|n| !n.is_empty())
            .ok_or("empty codec")?;
        let clock_rate = parts
            .next()
            .ok_or(format!("{spec}: no clock rate"))?
            .parse()
            .map_err(|e| format!("{spec}: {e}"))?;
        let channels = match parts.next() {
            Some(c) if !c.is_empty() => c.parse().map_err(|e| format!("{spec}: {e}"))?,
            _ => 1,
        };
        Ok(SdpCodec {
            pt,
            name: name.into(),
            clock_rate,
            channels,
        })
    }

    fn rtpmap(&self) -> String {
        if self.channels == 1 {
            format!("a=rtpmap:{} {}/{}\r\n", self.pt, self.name, self.clock_rate)
        } else {
            format!(
                "a=rtpmap:{} {}/{}/{}\r\n",
                self.pt, self.name, self.clock_rate, self.channels
            )
        }
    }
}

/// One party's SDP: one audio stream at `media` with `codec`, 20 ms packets, sendrecv.
pub fn party(session_id: u64, media: SocketAddr, codec: &SdpCodec) -> String {
    let family = if media.is_ipv6() { "IP6" } else { "IP4" };
    let ip = media.ip();
    let mut sdp = format!(
        "v=0\r\no=loadgen {session_id} 1 IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {} RTP/AVP {}\r\n",
        media.port(),
        codec.pt
    );
    sdp.push_str(&codec.rtpmap());
    if codec.name.eq_ignore_ascii_case("opus") {
        sdp.push_str(&format!("a=fmtp:{} useinbandfec=1\r\n", codec.pt));
    }
    sdp.push_str("a=ptime:20\r\na=sendrecv\r\n");
    sdp
}

/// Where and how an engine wants media sent, read from the SDP it returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaEndpoint {
    /// `c=` address (media level over session level) and the `m=audio` port.
    pub addr: SocketAddr,
    /// The first payload type of the `m=audio` line: what the engine sends on this side.
    pub pt: u8,
    /// Its `a=rtpmap` encoding name, or the static name for PT 0/8 without one.
    pub encoding: String,
    /// Its clock rate.
    pub clock_rate: u32,
}

fn connection(line: &str) -> Option<IpAddr> {
    // c=IN IP4 127.0.0.1[/ttl]
    let addr = line.strip_prefix("c=")?.split_whitespace().nth(2)?;
    addr.split('/').next()?.parse().ok()
}

/// Reads the first audio stream of `sdp`. Fails when it is missing, rejected (port 0) or
/// has no address.
pub fn media_endpoint(sdp: &str) -> Result<MediaEndpoint, String> {
    let mut session_addr = None;
    let mut media_addr = None;
    let mut audio: Option<(u16, u8)> = None;
    let mut in_audio = false;
    let mut seen_media = false;
    let mut rtpmap: Option<(String, u32)> = None;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            if audio.is_some() {
                break; // Only the first audio stream counts.
            }
            let fields: Vec<&str> = m.split_whitespace().collect();
            seen_media = true;
            in_audio = fields.first() == Some(&"audio");
            if in_audio {
                let port = fields
                    .get(1)
                    .and_then(|p| p.split('/').next()?.parse().ok())
                    .ok_or(format!("bad m= line: {line}"))?;
                let pt = fields
                    .get(3)
                    .and_then(|p| p.parse().ok())
                    .ok_or(format!("m= line without a payload type: {line}"))?;
                audio = Some((port, pt));
            }
        } else if line.starts_with("c=") {
            if in_audio {
                media_addr = connection(line);
            } else if !seen_media {
                session_addr = connection(line);
            }
        } else if let (true, Some((_, pt)), Some(map)) =
            (in_audio, audio, line.strip_prefix("a=rtpmap:"))
        {
            let (number, encoding) = map.split_once(' ').unwrap_or((map, ""));
            if number.parse::<u8>().ok() == Some(pt) {
                let mut e = encoding.split('/');
                let name = e.next().unwrap_or("").to_string();
                let clock = e.next().and_then(|c| c.parse().ok()).unwrap_or(8000);
                rtpmap = Some((name, clock));
            }
        }
    }
    let (port, pt) = audio.ok_or("no audio stream in the SDP")?;
    if port == 0 {
        return Err("the audio stream was rejected (port 0)".into());
    }
    let ip = media_addr
        .or(session_addr)
        .ok_or("no c= address in the SDP")?;
    let (encoding, clock_rate) = rtpmap.unwrap_or_else(|| match pt {
        0 => ("PCMU".into(), 8000),
        8 => ("PCMA".into(), 8000),
        9 => ("G722".into(), 8000),
        _ => (String::new(), 8000),
    });
    Ok(MediaEndpoint {
        addr: SocketAddr::new(ip, port),
        pt,
        encoding,
        clock_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rtpengine_rewritten_offer() {
        // rtpengine's reply to Kamailio's transcoding offer (kamailio/ng-samples.txt).
        let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
                   c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 96\r\n\
                   a=rtpmap:96 opus/48000/2\r\na=sendrecv\r\na=rtcp:30001\r\n";
        let e = media_endpoint(sdp).unwrap();
        assert_eq!(e.addr, "127.0.0.1:30000".parse().unwrap());
        assert_eq!(
            (e.pt, e.encoding.as_str(), e.clock_rate),
            (96, "opus", 48000)
        );
    }

    #[test]
    fn static_payload_type_without_rtpmap_and_media_level_address() {
        let sdp = "v=0\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 30010 RTP/AVP 0 101\r\n\
                   c=IN IP4 127.0.0.1\r\na=rtpmap:101 telephone-event/8000\r\n";
        let e = media_endpoint(sdp).unwrap();
        assert_eq!(e.addr, "127.0.0.1:30010".parse().unwrap());
        assert_eq!((e.pt, e.encoding.as_str(), e.clock_rate), (0, "PCMU", 8000));
    }

    #[test]
    fn rejected_or_missing_streams_are_errors() {
        assert!(media_endpoint("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n").is_err());
        assert!(media_endpoint("v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 4 RTP/AVP 96\r\n").is_err());
        assert!(media_endpoint("v=0\r\nm=audio 4000 RTP/AVP 0\r\n").is_err());
    }

    #[test]
    fn party_sdp_round_trips_through_the_reader() {
        let opus = SdpCodec::parse("opus/48000/2/32000", 96).unwrap();
        assert_eq!(opus.channels, 2);
        let sdp = party(7, "127.0.0.1:61000".parse().unwrap(), &opus);
        assert!(sdp.contains("a=rtpmap:96 opus/48000/2\r\n"), "{sdp}");
        let e = media_endpoint(&sdp).unwrap();
        assert_eq!((e.addr.port(), e.pt, e.clock_rate), (61000, 96, 48000));
        let pcmu = party(8, "127.0.0.1:61002".parse().unwrap(), &SdpCodec::pcmu());
        assert!(
            pcmu.contains("m=audio 61002 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"),
            "{pcmu}"
        );
    }
}
