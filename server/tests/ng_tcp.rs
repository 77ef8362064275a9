//! The ng listener of `tandem run --ng-tcp` over TCP, framed as rtpengine's `listen-tcp-ng`
//! frames it: `<cookie> <bencode>` messages back to back on one connection, replies in order
//! in the same framing. A message split across writes, or several in one write, is cut where
//! its dictionary ends; bad input gets an error reply (when it has a cookie) and the
//! connection closes, counted in `/metrics`; UDP keeps working on the same port.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use tandem::ng::bencode::{Value, decode, value_len};

use support::{Ports, Tandem, metrics};

/// The two tests' numbers (their SIP and RTP ports); each puts ng on 15900 + its number.
const ORDER: u16 = 38;
const BAD_INPUT: u16 = 39;

fn ng_port(test: u16) -> u16 {
    Ports::for_test(test).ng_tcp()
}

fn start(test: u16) -> Tandem {
    Tandem::start(&Ports::for_test(test).run_args_ng_tcp())
}

fn connect(test: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", ng_port(test))).expect("ng over TCP accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream
}

/// Reads one `<cookie> <bencode>` reply off the stream (cut the way the server cuts), with a
/// bounded number of reads.
fn read_reply(stream: &mut TcpStream, pending: &mut Vec<u8>, cookie: &str) -> Value {
    let prefix = format!("{cookie} ");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(rest) = pending.strip_prefix(prefix.as_bytes()) {
            if let Ok(len) = value_len(rest) {
                let value = decode(&rest[..len]).unwrap();
                pending.drain(..prefix.len() + len);
                return value;
            }
        }
        assert!(
            pending.len() < prefix.len() || pending.starts_with(prefix.as_bytes()),
            "reply for another cookie: {}",
            String::from_utf8_lossy(pending)
        );
        assert!(Instant::now() < deadline, "no whole reply for {cookie}");
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("a reply");
        assert!(n > 0, "closed before the reply for {cookie}");
        pending.extend_from_slice(&buf[..n]);
    }
}

fn result(reply: &Value) -> Option<&str> {
    reply.get("result").and_then(Value::as_str)
}

/// True when the server closes the connection (EOF) within the read timeout.
fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    matches!(stream.read(&mut buf), Ok(0))
}

const OFFER: &[u8] = b"d3:sdp188:v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6100 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n7:call-id4:tcp18:from-tag1:a\
7:command5:offere";

#[test]
fn commands_over_tcp_are_cut_by_their_bencode_and_answered_in_order() {
    let tandem = start(ORDER);
    let mut ng = connect(ORDER);
    let mut pending = Vec::new();

    ng.write_all(b"t1 d7:command4:pinge").unwrap();
    assert_eq!(
        result(&read_reply(&mut ng, &mut pending, "t1")),
        Some("pong")
    );

    // An offer split mid-SDP across two writes: one message, one reply.
    let mut offer = b"t2 ".to_vec();
    offer.extend_from_slice(OFFER);
    let (head, tail) = offer.split_at(60);
    ng.write_all(head).unwrap();
    ng.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    ng.write_all(tail).unwrap();
    let answer = read_reply(&mut ng, &mut pending, "t2");
    assert_eq!(result(&answer), Some("ok"), "{answer:?}");
    let sdp = answer.get("sdp").and_then(Value::as_str).expect("an SDP");
    let ports = Ports::for_test(ORDER);
    let port: u16 = sdp
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|m| m.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("an m=audio port");
    assert!((ports.rtp_min..=ports.rtp_max).contains(&port), "{sdp}");

    // Three commands in one write: three replies, in order.
    ng.write_all(
        b"t3 d7:command4:liste\
t4 d7:command6:delete7:call-id4:tcp18:from-tag1:ae\
t5 d7:command4:liste",
    )
    .unwrap();
    let listed = read_reply(&mut ng, &mut pending, "t3");
    assert_eq!(
        listed.get("calls"),
        Some(&Value::List(vec![Value::str("tcp1")]))
    );
    assert_eq!(result(&read_reply(&mut ng, &mut pending, "t4")), Some("ok"));
    let listed = read_reply(&mut ng, &mut pending, "t5");
    assert_eq!(listed.get("calls"), Some(&Value::List(Vec::new())));

    // The same port still answers datagrams.
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    udp.send_to(b"u1 d7:command4:pinge", ("127.0.0.1", ng_port(ORDER)))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = udp.recv(&mut buf).expect("a UDP reply");
    assert_eq!(&buf[..n], b"u1 d6:result4:ponge");

    ng.shutdown(Shutdown::Write).unwrap();
    assert!(closed(&mut ng), "the server closes after the client");
    let (status, _) = tandem.terminate();
    assert!(status.success());
}

#[test]
fn bad_input_gets_an_error_reply_and_the_connection_closes() {
    let tandem = start(BAD_INPUT);

    // A cookie, then something that is not bencode: an error reply, then EOF.
    let mut ng = connect(BAD_INPUT);
    let mut pending = Vec::new();
    ng.write_all(b"b1 d7:command4:pingeb2 x").unwrap();
    assert_eq!(
        result(&read_reply(&mut ng, &mut pending, "b1")),
        Some("pong")
    );
    let error = read_reply(&mut ng, &mut pending, "b2");
    assert_eq!(result(&error), Some("error"));
    assert_eq!(
        error.get("error-reason").and_then(Value::as_str),
        Some("the message is not bencode")
    );
    assert!(closed(&mut ng));

    // No cookie: nothing to answer, closed.
    let mut ng = connect(BAD_INPUT);
    ng.write_all(b" d7:command4:pinge").unwrap();
    assert!(closed(&mut ng));

    // A dictionary with no command is a well-framed message: an error reply, and the
    // connection stays usable.
    let mut ng = connect(BAD_INPUT);
    let mut pending = Vec::new();
    ng.write_all(b"b3 d3:fooi1eeb4 d7:command4:pinge").unwrap();
    assert_eq!(
        result(&read_reply(&mut ng, &mut pending, "b3")),
        Some("error")
    );
    assert_eq!(
        result(&read_reply(&mut ng, &mut pending, "b4")),
        Some("pong")
    );
    drop(ng);

    // Three connections, two of them closed for bad input (not bencode; no cookie).
    let text = metrics::scrape(SocketAddr::from((
        [127, 0, 0, 1],
        Ports::for_test(BAD_INPUT).api,
    )));
    assert_eq!(
        metrics::value(&text, "tandem_ng_tcp_connections_total"),
        Some(3),
        "{text}"
    );
    assert_eq!(
        metrics::value(&text, "tandem_ng_tcp_bad_input_total"),
        Some(2),
        "{text}"
    );
    assert_eq!(
        metrics::value(&text, "tandem_ng_tcp_refused_total"),
        Some(0),
        "{text}"
    );

    let (status, _) = tandem.terminate();
    assert!(status.success());
}
