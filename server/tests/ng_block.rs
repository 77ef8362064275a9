//! ng `block media` / `unblock media` / `silence media` / `unsilence media` / `block DTMF` /
//! `unblock DTMF` against `tandem run` over UDP, with two real RTP peers: media from the
//! addressed side stops (or turns to silence) while the other direction flows, DTMF is held
//! back while audio flows, errors name the unknown call or tag, and `/metrics` counts the ng
//! calls and their transcoders.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use tandem::ng::bencode::Value;

use support::ng::{NgClient, media_port as port_of, peer, rtp, sdp_with_events as sdp};
use support::{Ports, Tandem, metrics};

fn api(ports: &Ports) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], ports.api))
}

fn result(reply: &Value) -> &str {
    reply.get("result").and_then(Value::as_str).unwrap_or("")
}

/// RTP packets as (payload type, payload).
type Packets = Vec<(u8, Vec<u8>)>;

/// RTP datagrams `socket` receives within `wait`.
fn received(socket: &UdpSocket, wait: Duration) -> Packets {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let is_rtcp = (200..=204).contains(&buf[1]);
            if n > 12 && !is_rtcp {
                got.push((buf[1] & 0x7F, buf[12..n].to_vec()));
            }
        }
    }
    got
}

/// A call between two peers, relayed in PCMU.
struct Call {
    a: UdpSocket,
    b: UdpSocket,
    to_a_leg: SocketAddr,
    to_b_leg: SocketAddr,
    seq: u16,
}

impl Call {
    /// 10 packets each way (A sends `byte_a`, B `0x34`; with `dtmf`, A's packets alternate
    /// with RFC 4733 events); returns what A and B received.
    fn exchange(&mut self, byte_a: u8, dtmf: bool) -> (Packets, Packets) {
        received(&self.a, Duration::from_millis(100));
        received(&self.b, Duration::from_millis(100));
        for i in 0..10u16 {
            let s = self.seq;
            self.seq += 1;
            let ts = u32::from(s) * 160;
            let from_a = if dtmf && i % 2 == 1 {
                rtp(101, s, ts, 0xa, &[1, 10, 0, 160])
            } else {
                rtp(0, s, ts, 0xa, &[byte_a; 160])
            };
            self.a.send_to(&from_a, self.to_a_leg).unwrap();
            self.b
                .send_to(&rtp(0, s, ts, 0xb, &[0x34; 160]), self.to_b_leg)
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        (
            received(&self.a, Duration::from_millis(400)),
            received(&self.b, Duration::from_millis(400)),
        )
    }
}

#[test]
fn ng_blocking_commands_stop_exactly_the_media_they_name() {
    let ports = Ports::for_test(32);
    let tandem = Tandem::start(&ports.run_args());
    let mut ng = NgClient::new(ports.ng);
    let (a, b) = (peer(), peer());
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let (offer, answer) = ng.pcmu_call("blk", pa, pb);
    let mut call = Call {
        to_a_leg: SocketAddr::from(([127, 0, 0, 1], port_of(&answer))),
        to_b_leg: SocketAddr::from(([127, 0, 0, 1], port_of(&offer))),
        a,
        b,
        seq: 0,
    };
    let audio = |got: &[(u8, Vec<u8>)], byte: u8| {
        got.iter()
            .filter(|(pt, p)| *pt == 0 && p.iter().all(|&x| x == byte))
            .count()
    };

    let (at_a, at_b) = call.exchange(0x12, false);
    assert!(
        audio(&at_b, 0x12) >= 8 && audio(&at_a, 0x34) >= 8,
        "relayed both ways"
    );

    let tag = |t: &str| [("from-tag", Value::str(t))];
    let blocked = ng.command("block media", "blk", &tag("ta"));
    assert_eq!(result(&blocked), "ok", "{blocked:?}");
    let (at_a, at_b) = call.exchange(0x12, false);
    assert!(
        at_b.is_empty(),
        "media from the blocked side leaked: {}",
        at_b.len()
    );
    assert!(audio(&at_a, 0x34) >= 8, "the other direction still flows");

    assert_eq!(
        result(&ng.command("unblock media", "blk", &tag("ta"))),
        "ok"
    );
    let (_, at_b) = call.exchange(0x12, false);
    assert!(audio(&at_b, 0x12) >= 8, "unblocked media flows again");

    assert_eq!(
        result(&ng.command("silence media", "blk", &tag("ta"))),
        "ok"
    );
    let (at_a, at_b) = call.exchange(0x12, false);
    assert!(
        audio(&at_b, 0xFF) >= 8,
        "silenced media arrives as PCMU silence"
    );
    assert_eq!(audio(&at_b, 0x12), 0, "the silenced audio leaked");
    assert!(audio(&at_a, 0x34) >= 8);
    assert_eq!(
        result(&ng.command("unsilence media", "blk", &tag("ta"))),
        "ok"
    );

    // No tag: the whole call. Audio keeps flowing, the events do not.
    assert_eq!(result(&ng.command("block DTMF", "blk", &[])), "ok");
    let (_, at_b) = call.exchange(0x12, true);
    assert!(audio(&at_b, 0x12) >= 4, "audio flows while DTMF is blocked");
    assert!(
        !at_b.iter().any(|(pt, _)| *pt == 101),
        "blocked DTMF leaked"
    );
    assert_eq!(result(&ng.command("unblock DTMF", "blk", &[])), "ok");
    let (_, at_b) = call.exchange(0x12, true);
    assert!(
        at_b.iter().any(|(pt, _)| *pt == 101),
        "unblocked DTMF is relayed"
    );

    // rtpengine's errors.
    let unknown = ng.command("block media", "nosuchcall", &tag("ta"));
    assert_eq!(result(&unknown), "error");
    assert_eq!(
        unknown.get("error-reason").and_then(Value::as_str),
        Some("Unknown call-ID")
    );
    let bad_tag = ng.command("block DTMF", "blk", &tag("nobody"));
    assert_eq!(result(&bad_tag), "error");
    assert!(
        bad_tag
            .get("error-reason")
            .and_then(Value::as_str)
            .is_some_and(|r| r.contains("Unknown tag")),
        "{bad_tag:?}"
    );

    // A second call transcodes PCMU -> PCMA: /metrics counts both calls and the transcoder.
    let offer = ng.command(
        "offer",
        "tc",
        &[
            ("from-tag", Value::str("x")),
            ("sdp", sdp(pa, "0")),
            (
                "codec",
                Value::Dict(vec![(
                    b"transcode".to_vec(),
                    Value::List(vec![Value::str("PCMA")]),
                )]),
            ),
        ],
    );
    assert_eq!(result(&offer), "ok", "{offer:?}");
    let answer = ng.command(
        "answer",
        "tc",
        &[
            ("from-tag", Value::str("x")),
            ("to-tag", Value::str("y")),
            ("sdp", sdp(pb, "8")),
        ],
    );
    assert_eq!(result(&answer), "ok", "{answer:?}");
    let text = metrics::scrape(api(&ports));
    assert_eq!(
        metrics::value(&text, "tandem_calls_total"),
        Some(2),
        "{text}"
    );
    assert_eq!(metrics::value(&text, "tandem_calls"), Some(2), "{text}");
    assert_eq!(
        metrics::value(&text, "tandem_transcoders{a=\"PCMA\",b=\"PCMU\"}"),
        Some(1),
        "{text}"
    );
    assert_eq!(result(&ng.command("delete", "tc", &tag("x"))), "ok");
    assert_eq!(result(&ng.command("delete", "blk", &tag("ta"))), "ok");
    let text = metrics::scrape(api(&ports));
    assert_eq!(metrics::value(&text, "tandem_calls"), Some(0), "{text}");
    assert_eq!(
        metrics::value(&text, "tandem_transcoders{a=\"PCMA\",b=\"PCMU\"}"),
        Some(0),
        "{text}"
    );

    let (status, stderr) = tandem.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
}
