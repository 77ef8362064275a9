//! The ng listener of `tandem run` over UDP: a retransmitted command (same cookie) is
//! answered from the reply cache, not carried out twice; a datagram without a cookie gets
//! no reply; a malformed one gets an error reply; `delete` frees the call.

mod support;

use std::net::UdpSocket;
use std::time::Duration;

use tandem::ng::bencode::{Value, decode};

use support::Tandem;

const NG: u16 = 22401;

fn start() -> Tandem {
    Tandem::start(&[
        "run",
        "--sip",
        "127.0.0.1:22400",
        "--ng",
        "127.0.0.1:22401",
        "--rtp-ports",
        "22410-22449",
        "--workers",
        "1",
    ])
}

fn socket() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket.connect(("127.0.0.1", NG)).unwrap();
    socket
}

fn exchange(socket: &UdpSocket, datagram: &[u8]) -> Vec<u8> {
    socket.send(datagram).unwrap();
    let mut buf = vec![0u8; 65_535];
    let len = socket.recv(&mut buf).expect("a reply");
    buf.truncate(len);
    buf
}

fn body(reply: &[u8], cookie: &str) -> Value {
    decode(
        reply
            .strip_prefix(format!("{cookie} ").as_bytes())
            .expect("the cookie"),
    )
    .unwrap()
}

const OFFER: &[u8] = b"d3:sdp188:v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6100 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n7:call-id4:udp18:from-tag1:a\
7:command5:offere";

#[test]
fn retransmissions_are_answered_from_the_cache_not_run_again() {
    let tandem = start();
    let ng = socket();
    let mut offer = b"c1 ".to_vec();
    offer.extend_from_slice(OFFER);
    let first = exchange(&ng, &offer);
    assert_eq!(
        body(&first, "c1").get("result").and_then(Value::as_str),
        Some("ok"),
        "{}",
        String::from_utf8_lossy(&first)
    );
    // The same datagram again: the same bytes back, and still one call.
    assert_eq!(exchange(&ng, &offer), first);
    let stats = body(&exchange(&ng, b"c2 d7:command10:statisticse"), "c2");
    let current = stats
        .get("statistics")
        .and_then(|s| s.get("currentstatistics"))
        .unwrap();
    assert_eq!(current.get("sessionsown"), Some(&Value::Int(1)));
    // A new cookie with the same offer is a re-offer: same ports, still one call.
    let mut again = b"c3 ".to_vec();
    again.extend_from_slice(OFFER);
    let reoffer = exchange(&ng, &again);
    assert_eq!(reoffer[3..], first[3..]);
    // No cookie: dropped without a reply; the next command is answered as usual.
    ng.send(b"d7:command4:pinge").unwrap();
    let pong = body(&exchange(&ng, b"c4 d7:command4:pinge"), "c4");
    assert_eq!(pong.get("result").and_then(Value::as_str), Some("pong"));
    let bad = body(&exchange(&ng, b"c5 d7:command"), "c5");
    assert_eq!(bad.get("result").and_then(Value::as_str), Some("error"));
    let deleted = body(
        &exchange(&ng, b"c6 d7:command6:delete7:call-id4:udp18:from-tag1:ae"),
        "c6",
    );
    assert_eq!(deleted.get("result").and_then(Value::as_str), Some("ok"));
    let list = body(&exchange(&ng, b"c7 d7:command4:liste"), "c7");
    assert_eq!(list.get("calls"), Some(&Value::List(Vec::new())));
    let (status, _) = tandem.terminate();
    assert!(status.success());
}
