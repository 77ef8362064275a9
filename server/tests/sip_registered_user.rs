//! Calls to users registered with Tandem: a configured endpoint (`alice`) that is not
//! registered is 480 Temporarily Unavailable, an unknown user 404; once a sipp client has
//! registered alice with digest authentication (its Contact naming the sipp UAS that answers
//! her calls), a sipp `uac_pcap` call to `sip:alice@<tandem>` is bridged by Tandem's B2BUA to
//! that contact. The caller sends PCMA and alice accepts only PCMU, so tshark must see PCMA
//! on the caller's side and PCMU on alice's, both ways; the caller's RFC 4733 digits are
//! logged, and again from alice's side (they reach her in-band and she echoes them); the BYE ends both legs, and the shutdown line reports nothing left.
//!
//! Ports: test 11 (Tandem, the caller), and test 12's peer ports for alice (the registering
//! client, then the UAS on the same SIP port: the binding outlives the client).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use support::capture::{Bridged, Capture, bridged, count};
use support::{
    Ports, Sipp, assert_sipp_and_tshark, register_alice, scenario, scratch, start_with_alice,
};

/// Sends an INVITE with an SDP offer for `user` from a bare UDP socket and returns the
/// first final response's status code (within 5 s).
fn invite_status(server: SocketAddr, user: &str) -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let sdp = "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 7000 RTP/AVP 0\r\n";
    let invite = format!(
        "INVITE sip:{user}@{server} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{user};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:raw@127.0.0.1:{port}>;tag=raw-{user}\r\n\
         To: <sip:{user}@{server}>\r\n\
         Call-ID: raw-{user}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:raw@127.0.0.1:{port}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    socket.send_to(invite.as_bytes(), server).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0; 65_536];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            let code = text
                .strip_prefix("SIP/2.0 ")
                .and_then(|t| t.get(..3))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if code >= 200 {
                return code;
            }
        }
    }
    panic!("no final response to the INVITE for {user} within 5 s");
}

/// `GET /metrics` from the API at `api`: the exposition text, or why there is none.
fn metrics(api: SocketAddr) -> String {
    let mut stream = match TcpStream::connect(api) {
        Ok(stream) => stream,
        Err(e) => return format!("GET /metrics from {api} failed: {e}"),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: tandem\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

/// The value of the sample `name` (with its labels, as printed) in an exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn a_registered_user_is_called_at_its_contact_and_others_get_480_or_404() {
    assert_sipp_and_tshark();
    let ports = Ports::for_test(11);
    let alice = Ports::for_test(12);
    let dir = scratch("reg-call");
    let tandem = start_with_alice(&ports, &dir);
    let server = ports.sip_addr().to_string();

    // Not registered yet: 480. Nobody by that name: 404.
    assert_eq!(invite_status(ports.sip_addr(), "alice"), 480);
    assert_eq!(invite_status(ports.sip_addr(), "carol"), 404);

    register_alice(
        &tandem,
        &server,
        alice.peer_sip,
        alice.peer_media,
        alice.peer_sip,
    );

    let limit = Duration::from_secs(40);
    let capture = Capture::start(&dir, ports.rtp_min, ports.rtp_max, limit);
    let callee = Sipp::new(
        "alice-uas",
        "uas",
        alice.peer_sip,
        alice.peer_media,
        1,
        limit,
    )
    .args(&["-rtp_echo"])
    .spawn();
    std::thread::sleep(Duration::from_millis(500));
    let api = SocketAddr::from(([127, 0, 0, 1], ports.api));
    let caller = Sipp::new(
        "alice-caller",
        &scenario("uac_pcap_digits.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(35),
    )
    .args(&[server.as_str(), "-s", "alice"])
    .spawn();
    // While the call is up (it lasts about 14 s), /metrics shows it and its transcoder.
    let deadline = Instant::now() + Duration::from_secs(10);
    let during = loop {
        let text = metrics(api);
        if sample(&text, "tandem_calls") == Some(1.0) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let caller = caller.wait(limit);
    let callee = callee.wait(Duration::from_secs(10));
    let after = metrics(api);
    let stderr_so_far = tandem.stderr();
    assert!(
        during.starts_with("HTTP/1.1 200") && after.starts_with("HTTP/1.1 200"),
        "{during}\n{after}\n{stderr_so_far}"
    );
    let packets = capture.finish(ports.rtp_min, ports.rtp_max);
    let (status, stderr) = tandem.terminate();

    assert_eq!(caller.code, Some(0), "caller: {}\n{stderr}", caller.output);
    assert_eq!(callee.code, Some(0), "alice: {}\n{stderr}", callee.output);
    let (caller_port, alice_port) = (ports.peer_media, alice.peer_media);
    let Bridged {
        caller_sent,
        callee_got: alice_got,
        callee_echoed: alice_echoed,
        caller_got,
    } = bridged(&packets, (caller_port, 8), (alice_port, 0));
    // g711a.pcap holds 236 packets of 30 ms; the transcoder sends 20 ms frames.
    assert!(caller_sent > 200, "PCMA from the caller: {caller_sent}");
    assert!(alice_got > 200, "PCMU to alice: {alice_got}");
    assert!(alice_echoed > 200, "PCMU echoed by alice: {alice_echoed}");
    assert!(caller_got > 200, "PCMA back to the caller: {caller_got}");
    // Each side sees only the codec it accepted.
    assert_eq!(
        count(&packets, |p| p.dst == alice_port && p.payload_type == 8),
        0
    );
    assert_eq!(
        count(&packets, |p| p.dst == caller_port && p.payload_type == 0),
        0
    );
    assert!(stderr.contains("INVITE to a registered user"), "{stderr}");
    // The caller's RFC 4733 digits are logged once each with its Call-ID, as for any other
    // call; alice has no telephone-event, so they reach her in-band, and her echo of them is
    // logged with the Call-ID of Tandem's INVITE to her (which Tandem made up: `...@tandem`).
    let digits = |to_alice: bool| -> Vec<&str> {
        stderr
            .lines()
            .filter(|l| l.contains("dtmf call=") && l.contains("source=rtp"))
            .filter(|l| l.contains("@tandem digit=") == to_alice)
            .filter_map(|l| l.split("digit=").nth(1)?.split(' ').next())
            .collect()
    };
    assert_eq!(digits(false), ["1", "2", "3", "#"], "{stderr}");
    assert_eq!(digits(true), ["1", "2", "3", "#"], "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("signalling stopped"))
        .unwrap_or_else(|| panic!("no shutdown line:\n{stderr}"));
    for zero in [
        "calls_live=0",
        "dialogs_live=0",
        "sessions_live=0",
        "gateway_calls_live=0",
    ] {
        assert!(line.contains(zero), "{zero} expected: {line}");
    }
    // The SIP side's counters: the refusals, the call, its PCMA-PCMU transcoder.
    assert_eq!(sample(&during, "tandem_calls"), Some(1.0), "{during}");
    let pair = "tandem_transcoders{a=\"PCMA\",b=\"PCMU\"}";
    assert_eq!(sample(&during, pair), Some(1.0), "{during}");
    assert_eq!(sample(&after, pair), Some(0.0), "{after}");
    assert_eq!(sample(&after, "tandem_calls"), Some(0.0), "{after}");
    assert_eq!(sample(&after, "tandem_calls_total"), Some(1.0), "{after}");
    // Responses are counted as sent, retransmissions included: the bare INVITEs above
    // never ACK their 480 and 404, which Tandem then retransmits (RFC 3261 Timer G).
    for code in ["480", "404", "401"] {
        let name = format!("tandem_sip_responses_total{{code=\"{code}\"}}");
        let sent = sample(&after, &name).unwrap_or(0.0);
        assert!(sent >= 1.0, "{code}: {after}");
    }
    let never = "tandem_sip_responses_total{code=\"503\"}";
    assert_eq!(sample(&after, never), None, "{after}");
    // 200s: the REGISTER, the caller's INVITE, its BYE (2xx retransmissions count too).
    let ok = sample(&after, "tandem_sip_responses_total{code=\"200\"}").unwrap_or(0.0);
    assert!(ok >= 3.0, "{after}");
    let _ = std::fs::remove_dir_all(&dir);
}
