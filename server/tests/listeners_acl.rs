//! `tandem run` with `[sip] allow` and `[ng] allow`: a source outside the lists gets nothing
//! back, neither over UDP (an OPTIONS, an ng `ping`) nor over TCP (the connection closes at
//! once), and `/metrics` counts each refusal; listed sources are served as before.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use support::{Ports, Tandem, metrics, scratch};

const TEST: u16 = 39;

/// What the test reads from `/metrics`: the refusals, and what got through anyway.
const COUNTERS: &[&str] = &[
    "tandem_ng_forbidden_total",
    "tandem_sip_forbidden_total",
    "tandem_ng_commands_total",
    "tandem_sip_messages_received_total",
];

fn start(allow: &str) -> Tandem {
    let dir = scratch("listeners-acl");
    let config = dir.join("tandem.toml");
    std::fs::write(
        &config,
        format!("[sip]\nallow = {allow}\n[ng]\nallow = {allow}\n"),
    )
    .unwrap();
    let mut args = Ports::for_test(TEST).run_args_ng_tcp();
    args.extend(["--config".to_owned(), config.to_string_lossy().into_owned()]);
    Tandem::start(&args)
}

/// Sends the datagram `made` for a fresh socket's address to `to` and returns the reply, if
/// one comes within `wait`.
fn ask(
    to: SocketAddr,
    made: impl FnOnce(SocketAddr) -> Vec<u8>,
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    socket
        .send_to(&made(socket.local_addr().unwrap()), to)
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    let (len, _) = socket.recv_from(&mut buf).ok()?;
    buf.truncate(len);
    Some(buf)
}

fn options(from: SocketAddr) -> Vec<u8> {
    format!(
        "OPTIONS sip:anyone@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-acl-1\r\n\
         From: <sip:probe@127.0.0.1>;tag=acl\r\nTo: <sip:anyone@127.0.0.1>\r\nCall-ID: acl-1\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Connects and writes `bytes`; true when the server closed the connection without a byte.
fn closed_unanswered(to: SocketAddr, bytes: &[u8]) -> bool {
    let Ok(mut stream) = TcpStream::connect(to) else {
        return true;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0) | Err(_))
}

#[test]
fn sources_outside_sip_and_ng_allow_lists_get_nothing_and_are_counted() {
    let ports = Ports::for_test(TEST);
    let ng = SocketAddr::from(([127, 0, 0, 1], ports.ng_tcp()));
    let api = SocketAddr::from(([127, 0, 0, 1], ports.api));
    let ping = b"acl-1 d7:command4:pinge";

    let tandem = start(r#"["192.0.2.0/24", "::1"]"#);
    assert_eq!(
        ask(ng, |_| ping.to_vec(), Duration::from_millis(500)),
        None,
        "ng ping"
    );
    assert_eq!(
        ask(ports.sip_addr(), options, Duration::from_millis(500)),
        None,
        "OPTIONS"
    );
    assert!(closed_unanswered(ng, ping), "ng over TCP");
    assert!(
        closed_unanswered(ports.sip_addr(), &options(ports.sip_addr())),
        "SIP over TCP"
    );
    let text = metrics::scrape(api);
    assert_eq!(
        metrics::values(&text, COUNTERS),
        [Some(2), Some(2), Some(0), Some(0)],
        "{COUNTERS:?} in {text}"
    );
    drop(tandem);

    let tandem = start(r#"["127.0.0.0/8"]"#);
    let pong =
        ask(ng, |_| ping.to_vec(), Duration::from_secs(3)).expect("a listed source is answered");
    assert!(
        String::from_utf8_lossy(&pong).contains("pong"),
        "{}",
        String::from_utf8_lossy(&pong)
    );
    let answer = ask(ports.sip_addr(), options, Duration::from_secs(3)).expect("an OPTIONS answer");
    assert!(
        answer.starts_with(b"SIP/2.0 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let text = metrics::scrape(api);
    assert_eq!(
        metrics::values(&text, &COUNTERS[..2]),
        [Some(0), Some(0)],
        "{text}"
    );
    drop(tandem);
}
