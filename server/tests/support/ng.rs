//! A minimal ng client over UDP for the tests: one socket connected to `tandem run`'s ng
//! port, a fresh cookie per command, the reply's dictionary back; and the media runtime
//! that tests of the ng command layer (`tandem::ng::Calls`) run their calls on.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tandem::ng::bencode::{Value, decode};
use tandem_core::runtime::{Runtime, RuntimeConfig};
use tandem_drivers::packet::PortRange;

/// A one-worker, unpinned media runtime on 127.0.0.1, RTP ports `min..=max`.
pub(crate) fn loopback_runtime(min: u16, max: u16) -> Arc<Runtime> {
    Arc::new(
        Runtime::start(RuntimeConfig {
            workers: 1,
            pin: false,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: PortRange::new(min, max).unwrap(),
            ..RuntimeConfig::default()
        })
        .unwrap(),
    )
}

/// An ng client. Panics (failing the test) when no reply comes within 3 s.
pub(crate) struct NgClient {
    socket: UdpSocket,
    next: u32,
}

impl NgClient {
    pub(crate) fn new(port: u16) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        socket.connect(("127.0.0.1", port)).unwrap();
        Self { socket, next: 0 }
    }

    /// Sends `pairs` as a dictionary and returns the reply's dictionary.
    pub(crate) fn call(&mut self, pairs: &[(&str, Value)]) -> Value {
        self.next += 1;
        let cookie = format!("t{}", self.next);
        let body = Value::Dict(
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
                .collect(),
        );
        let mut datagram = format!("{cookie} ").into_bytes();
        datagram.extend_from_slice(&body.to_bytes());
        self.socket.send(&datagram).unwrap();
        let mut buf = vec![0u8; 65_535];
        let len = self.socket.recv(&mut buf).expect("an ng reply");
        let reply = buf[..len]
            .strip_prefix(format!("{cookie} ").as_bytes())
            .expect("the cookie")
            .to_vec();
        decode(&reply).unwrap()
    }

    /// Sets up call `call` between a peer at `pa` (from-tag `ta`) and one at `pb` (to-tag
    /// `tb`), both offering PCMU and telephone-events: the `offer` and `answer` replies,
    /// checked to be `ok`. The offer's media port is where `pb`'s peer sends, the answer's
    /// where `pa`'s does.
    pub(crate) fn pcmu_call(&mut self, call: &str, pa: u16, pb: u16) -> (Value, Value) {
        let ok = |reply: &Value| reply.get("result").and_then(Value::as_str) == Some("ok");
        let offer = self.command(
            "offer",
            call,
            &[
                ("from-tag", Value::str("ta")),
                ("sdp", sdp_with_events(pa, "0")),
            ],
        );
        assert!(ok(&offer), "{offer:?}");
        let answer = self.command(
            "answer",
            call,
            &[
                ("from-tag", Value::str("ta")),
                ("to-tag", Value::str("tb")),
                ("sdp", sdp_with_events(pb, "0")),
            ],
        );
        assert!(ok(&answer), "{answer:?}");
        (offer, answer)
    }

    /// Sends `{command, call-id, entries...}` and returns the reply's dictionary.
    pub(crate) fn command(
        &mut self,
        command: &str,
        call: &str,
        entries: &[(&str, Value)],
    ) -> Value {
        let mut pairs = vec![
            ("command", Value::str(command)),
            ("call-id", Value::str(call)),
        ];
        pairs.extend(entries.iter().cloned());
        self.call(&pairs)
    }
}

/// A PCMU-only offer or answer for a peer with media on `127.0.0.1:port`.
pub(crate) fn pcmu_sdp(port: u16) -> Value {
    Value::Bytes(
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        .into_bytes(),
    )
}

/// The `m=audio` port of an ng reply's SDP.
pub(crate) fn media_port(reply: &Value) -> u16 {
    let sdp =
        String::from_utf8(reply.get("sdp").and_then(Value::as_bytes).unwrap().to_vec()).unwrap();
    let line = sdp.lines().find(|l| l.starts_with("m=audio ")).unwrap();
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

/// An offer or answer for a peer with media on `127.0.0.1:port`: the static payload types
/// `formats` (`"0"` PCMU, `"8"` PCMA, in order) and telephone-event on 101.
pub(crate) fn sdp_with_events(port: u16, formats: &str) -> Value {
    let mut text = format!(
        "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {formats} 101\r\n"
    );
    for f in formats.split(' ') {
        let name = if f == "0" { "PCMU" } else { "PCMA" };
        text.push_str(&format!("a=rtpmap:{f} {name}/8000\r\n"));
    }
    text.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n");
    Value::Bytes(text.into_bytes())
}

/// An RTP peer on 127.0.0.1 whose reads give up after 50 ms.
pub(crate) fn peer() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    socket
}

/// An RTP packet: version 2, no marker.
pub(crate) fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}
