//! SDP parse/print vectors: every body in `tests/vectors/offer_answer/` (real peers and
//! RFC 4317), the RFC 8866 §5 example, and the typed accessors on what peers really send.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use tandem_sip::sdp::{
    Attribute, Codec, Direction, Field, Host, MediaType, PayloadType, Rtcp, SdpError, SdpErrorKind,
    SessionDescription, TelephoneEvents,
};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/offer_answer")
}

fn sdp_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sdp_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "sdp") {
            out.push(path);
        }
    }
}

fn read(name: &str) -> SessionDescription {
    SessionDescription::parse(&std::fs::read(vectors().join(name)).unwrap()).unwrap()
}

fn pt(n: u8) -> PayloadType {
    PayloadType::new(n).unwrap()
}

/// Every vector parses, prints canonically, and re-parses to the same value; bodies that
/// came off the wire in canonical form print back byte for byte.
#[test]
fn every_vector_round_trips() {
    let mut files = Vec::new();
    sdp_files(&vectors(), &mut files);
    assert!(files.len() >= 45, "{} vectors", files.len());
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let sdp =
            SessionDescription::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let printed = sdp.to_string();
        let again = SessionDescription::parse(printed.as_bytes()).unwrap();
        assert_eq!(again, sdp, "{}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        if name.starts_with("sipp") || name.starts_with("baresip") || name.starts_with("tandem") {
            assert_eq!(printed.as_bytes(), &bytes[..], "{}", path.display());
        }
    }
}

/// LF-only bodies (sipp scenario files are often written that way) parse the same.
#[test]
fn lf_and_crlf_bodies_are_equal() {
    let crlf = std::fs::read_to_string(vectors().join("baresip-1.0.offer.sdp")).unwrap();
    let lf = crlf.replace("\r\n", "\n");
    assert_eq!(
        SessionDescription::parse(lf.as_bytes()),
        SessionDescription::parse(crlf.as_bytes())
    );
}

/// The example session description of RFC 8866 §5.
#[test]
fn rfc_8866_example() {
    let text = "v=0\r\n\
        o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1\r\n\
        s=Call to John Smith\r\n\
        i=SDP Offer #1\r\n\
        u=http://www.jdoe.example.com/home.html\r\n\
        e=Jane Doe <jane@jdoe.example.com>\r\n\
        p=+1 617 555-6011\r\n\
        c=IN IP4 198.51.100.1\r\n\
        t=0 0\r\n\
        m=audio 49170 RTP/AVP 0\r\n\
        m=audio 49180 RTP/AVP 0\r\n\
        m=video 51372 RTP/AVP 99\r\n\
        c=IN IP6 2001:db8::2\r\n\
        a=rtpmap:99 h263-1998/90000\r\n";
    let sdp = SessionDescription::parse(text.as_bytes()).unwrap();
    assert_eq!(sdp.origin.username, "jdoe");
    assert_eq!(sdp.origin.session_version, 3724394405);
    assert_eq!(sdp.emails, ["Jane Doe <jane@jdoe.example.com>"]);
    assert_eq!(sdp.media.len(), 3);
    let video = sdp.media_connection(2).unwrap();
    assert_eq!(
        video.address,
        Host::Ip(IpAddr::V6("2001:db8::2".parse::<Ipv6Addr>().unwrap()))
    );
    assert_eq!(
        sdp.media_connection(0).unwrap().address,
        Host::Ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)))
    );
    let h263 = sdp.media[2].rtpmap(pt(99)).unwrap();
    assert_eq!(
        (h263.encoding_name.as_str(), h263.clock_rate),
        ("h263-1998", 90000)
    );
    assert_eq!(sdp.to_string(), text);
}

/// What baresip 1.0 really sends: every codec resolves, ptime and minptime, a session-level
/// tool attribute and the media-level attributes Tandem does not interpret survive.
#[test]
fn baresip_offer_accessors() {
    let sdp = read("baresip-1.0.offer.sdp");
    assert_eq!(
        sdp.attribute("tool"),
        Some(&Attribute::new("tool", "baresip 1.0.0"))
    );
    let audio = &sdp.media[0];
    assert_eq!(audio.media_type, MediaType::Audio);
    let formats: Vec<_> = audio.payload_formats().collect();
    let names: Vec<_> = formats.iter().map(|f| f.codec.to_string()).collect();
    assert_eq!(
        names,
        [
            "PCMU/8000",
            "PCMA/8000",
            "G722/8000",
            "opus/48000/2",
            "telephone-event/8000"
        ]
    );
    assert_eq!(
        formats[3].codec.fmtp.as_deref(),
        Some("stereo=1;sprop-stereo=1;maxaveragebitrate=32000")
    );
    let opus_fmtp = audio.fmtp(pt(96)).unwrap();
    assert_eq!(opus_fmtp.get("maxaveragebitrate"), Some("32000"));
    assert_eq!(
        TelephoneEvents::from_fmtp(formats[4].codec.fmtp.as_deref()),
        Some(TelephoneEvents::DTMF)
    );
    assert_eq!(audio.ptime_ms(), Some(20));
    assert_eq!(audio.attribute_value("minptime"), Some("20"));
    assert_eq!(audio.max_ptime_ms(), None);
    assert_eq!(audio.direction(), Some(Direction::SendRecv));
    assert!(audio.has_attribute("rtcp-rsize"));
    assert!(!audio.rtcp_mux());
    let ssrc: Vec<_> = audio.ssrcs().collect();
    assert_eq!(ssrc.len(), 1);
    assert_eq!(ssrc[0].ssrc, 5862953);
    assert_eq!(ssrc[0].attribute, "cname");
    assert_eq!(ssrc[0].value.as_deref(), Some("sip:bob@127.0.0.1:15090"));
}

/// rtpengine's rewrite carries `a=rtcp:30001` (RFC 3605) without an address.
#[test]
fn rtpengine_rtcp_attribute() {
    let sdp = read("rtpengine-relay.offer.sdp");
    assert_eq!(
        sdp.media[0].rtcp(),
        Some(Rtcp {
            port: 30001,
            address: None
        })
    );
    assert_eq!(sdp.media_direction(0), Some(Direction::SendRecv));
}

/// RFC 3551 static types resolve without rtpmap; an rtpmap, when present, wins.
#[test]
fn static_payload_types_and_their_rtpmaps() {
    let sdp = read("rfc4317/2.1-offer.sdp");
    let video: Vec<_> = sdp.media[1].payload_formats().map(|f| f.codec).collect();
    assert_eq!(
        video,
        [Codec::new("H261", 90000, 1), Codec::new("MPV", 90000, 1)]
    );
    let bare = SessionDescription::parse(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0 3 9 13 18 97\r\n",
    )
    .unwrap();
    let codecs: Vec<_> = bare.media[0]
        .payload_formats()
        .map(|f| f.codec.to_string())
        .collect();
    assert_eq!(
        codecs,
        ["PCMU/8000", "GSM/8000", "G722/8000", "CN/8000", "G729/8000"],
        "97 has no rtpmap and is skipped"
    );
}

/// Errors name the fault and the line: truncations and corruptions of a real offer.
#[test]
fn broken_peer_offers_report_their_line() {
    let good = std::fs::read_to_string(vectors().join("sipp-uac-pcap.offer.sdp")).unwrap();
    let cases: [(&str, &str, SdpError); 5] = [
        (
            "t=0 0\r\n",
            "",
            SdpError {
                kind: SdpErrorKind::Missing(Field::Timing),
                line: 5,
            },
        ),
        (
            "m=audio 6100 RTP/AVP 8 101",
            "m=audio 6100 RTP/AVP 8 1010",
            SdpError {
                kind: SdpErrorKind::Malformed(Field::Media),
                line: 6,
            },
        ),
        (
            "c=IN IP4 127.0.0.1",
            "c=IN IP4 127.0.0.1.5",
            SdpError {
                kind: SdpErrorKind::Malformed(Field::Connection),
                line: 4,
            },
        ),
        (
            "a=rtpmap:8",
            "A=rtpmap:8",
            SdpError {
                kind: SdpErrorKind::UnknownType { letter: 'A' },
                line: 7,
            },
        ),
        (
            "s=-",
            "s=-\r\nx-header: 1",
            SdpError {
                kind: SdpErrorKind::LineSyntax,
                line: 4,
            },
        ),
    ];
    for (from, to, expected) in cases {
        let broken = good.replacen(from, to, 1);
        assert_eq!(
            SessionDescription::parse(broken.as_bytes()),
            Err(expected),
            "{from:?} -> {to:?}"
        );
        assert!(!expected.kind.reason().is_empty());
    }
}
