//! Forking to every contact of a registered user (RFC 3261 §16.7, done by Tandem's B2BUA).
//!
//! Two sipp processes register as `alice` with digest authentication, each binding its own
//! contact. A call to alice rings both: one rings until it is cancelled, the other answers
//! (sipp's built-in `uas`, PCMU, echoing RTP). The caller (`uac_pcap`, PCMA) must be bridged
//! to the one that answered, with media both ways through Tandem's transcoder and none to
//! the other; the ringing one must get a CANCEL (its scenario fails without one); after the
//! BYE, `/metrics` and the shutdown line show no call, session or dialog left.
//!
//! When every contact refuses, the caller gets the best response: 486 over 500 (the lowest
//! class), 603 over an earlier 486 (a 6xx wins); a 603 while the other contact rings cancels
//! it at once and reaches the caller.
//!
//! Ports: test 6 (Tandem, and the first contact on its peer SIP port) and test 9 (the second
//! contact on its peer SIP port); the caller's SIP port and every sipp media port are in test
//! 6's peer media range. The refusal test runs Tandem on test 9 with its contacts in test 9's
//! peer media range.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use support::capture::{Bridged, Capture, bridged, count};
use support::metrics::{self, total};
use support::{
    Ports, Sipp, assert_shutdown_clean, assert_sipp_and_tshark, register_alice, scenario, scratch,
    sipp_available, start_with_alice,
};

/// The shutdown line must report nothing left.
fn assert_no_leaks(stderr: &str) {
    assert_shutdown_clean(
        stderr,
        &[
            "calls_live=0",
            "dialogs_live=0",
            "sessions_live=0",
            "gateway_calls_live=0",
        ],
    );
}

#[test]
fn a_call_to_a_user_with_two_contacts_is_bridged_to_the_one_that_answers() {
    assert_sipp_and_tshark();
    let ports = Ports::for_test(6);
    let ringing_sip = ports.peer_sip;
    let answering_sip = Ports::for_test(9).peer_sip;
    // Test 6's peer media range (20 ports): each sipp gets 4 (audio, RTCP, video).
    let ringing_media = ports.peer_media;
    let answering_media = ports.peer_media + 4;
    let caller_media = ports.peer_media + 8;
    let caller_sip = ports.peer_media + 16;
    let dir = scratch("fork-answered");
    let tandem = start_with_alice(&ports, &dir);
    let server = ports.sip_addr().to_string();
    register_alice(&tandem, &server, ringing_sip, ringing_media, ringing_sip);
    register_alice(
        &tandem,
        &server,
        answering_sip,
        answering_media,
        answering_sip,
    );

    let limit = Duration::from_secs(40);
    let capture = Capture::start(&dir, ports.peer_media, ports.peer_media + 19, limit);
    let ringing = Sipp::new(
        "fork-ringing",
        &scenario("uas_ring_until_cancel.xml"),
        ringing_sip,
        ringing_media,
        1,
        limit,
    )
    .spawn();
    let answering = Sipp::spawn_echoing_uas(
        "fork-answering",
        "uas",
        answering_sip,
        answering_media,
        limit,
    );
    let caller = Sipp::new(
        "fork-caller",
        "uac_pcap",
        caller_sip,
        caller_media,
        1,
        limit,
    )
    .args(&[server.as_str(), "-s", "alice"])
    .run(limit);
    let ringing = ringing.wait(Duration::from_secs(10));
    let answering = answering.wait(Duration::from_secs(10));
    let api = SocketAddr::from(([127, 0, 0, 1], ports.api));
    let after = metrics::scrape_when_idle(api, Duration::from_secs(5));
    let packets = capture.finish(ports.peer_media, ports.peer_media + 19);
    let (status, stderr) = tandem.terminate();

    assert_eq!(caller.code, Some(0), "caller: {}\n{stderr}", caller.output);
    assert_eq!(
        answering.code,
        Some(0),
        "answering contact: {}\n{stderr}",
        answering.output
    );
    assert_eq!(
        ringing.code,
        Some(0),
        "the ringing contact must be cancelled: {}\n{stderr}",
        ringing.output
    );
    let Bridged {
        caller_sent,
        callee_got: answering_got,
        callee_echoed: answering_echoed,
        caller_got,
    } = bridged(&packets, (caller_media, 8), (answering_media, 0));
    // g711a.pcap holds 236 packets of 30 ms; the transcoder sends 20 ms frames.
    assert!(caller_sent > 200, "PCMA from the caller: {caller_sent}");
    assert!(
        answering_got > 200,
        "PCMU to the contact that answered: {answering_got}"
    );
    assert!(
        answering_echoed > 200,
        "PCMU echoed by it: {answering_echoed}"
    );
    assert!(caller_got > 200, "PCMA back to the caller: {caller_got}");
    let to_ringing = count(&packets, |p| {
        p.dst == ringing_media || p.dst == ringing_media + 1
    });
    assert_eq!(to_ringing, 0, "no media to the contact that never answered");

    assert!(after.starts_with("HTTP/1.1 200"), "{after}");
    assert_eq!(total(&after, "tandem_calls"), 0.0, "{after}");
    assert_eq!(total(&after, "tandem_calls_total"), 1.0, "{after}");
    assert_eq!(total(&after, "tandem_worker_sessions"), 0.0, "{after}");
    assert_eq!(total(&after, "tandem_transcoders"), 0.0, "{after}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends an INVITE with a PCMU offer for `user` to `server` from a bare UDP socket, ACKs the
/// final response, and returns its status code; `None` without one within 10 s.
fn final_status(server: SocketAddr, user: &str, call: &str) -> Option<u16> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let sdp = "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 7000 RTP/AVP 0\r\n";
    let via = format!("SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{call};rport");
    let from = format!("<sip:raw@127.0.0.1:{port}>;tag=raw-{call}");
    let invite = format!(
        "INVITE sip:{user}@{server} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
         From: {from}\r\nTo: <sip:{user}@{server}>\r\nCall-ID: {call}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:raw@127.0.0.1:{port}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    socket.send_to(invite.as_bytes(), server).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0; 65_536];
    while Instant::now() < deadline {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let code: u16 = text
            .strip_prefix("SIP/2.0 ")
            .and_then(|t| t.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if code < 200 {
            continue;
        }
        // RFC 3261 §17.1.1.3: the ACK for a non-2xx takes the response's To (with its tag).
        let to = text
            .lines()
            .find_map(|l| l.strip_prefix("To: "))
            .unwrap_or_default();
        let ack = format!(
            "ACK sip:{user}@{server} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call}\r\nCSeq: 1 ACK\r\n\
             Content-Length: 0\r\n\r\n"
        );
        socket.send_to(ack.as_bytes(), server).unwrap();
        return Some(code);
    }
    None
}

#[test]
fn when_every_contact_refuses_the_caller_gets_the_best_response() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(9);
    let (first_sip, second_sip) = (ports.peer_media + 12, ports.peer_media + 16);
    let (first_media, second_media) = (ports.peer_media, ports.peer_media + 4);
    let dir = scratch("fork-refused");
    let tandem = start_with_alice(&ports, &dir);
    let server = ports.sip_addr().to_string();
    register_alice(&tandem, &server, first_sip, first_media, first_sip);
    register_alice(&tandem, &server, second_sip, second_media, second_sip);

    // sipp checks status codes when it loads a scenario: one copy of the template each.
    let template = std::fs::read_to_string(scenario("uas_refuse.xml")).unwrap();
    let refuse = |name: &str, port: u16, media: u16, status: u16, delay_ms: u32| {
        let file = dir.join(format!("uas_{status}_{delay_ms}.xml"));
        let text = template
            .replace("STATUS", &status.to_string())
            .replace("DELAY", &delay_ms.to_string());
        std::fs::write(&file, text).unwrap();
        let file = file.display().to_string();
        Sipp::new(name, &file, port, media, 1, Duration::from_secs(20)).spawn()
    };
    let ringing = |name: &str, port: u16, media: u16| {
        let file = scenario("uas_ring_until_cancel.xml");
        Sipp::new(name, &file, port, media, 1, Duration::from_secs(20)).spawn()
    };
    let call = |round: &str| {
        let status = final_status(ports.sip_addr(), "alice", &format!("refused-{round}"));
        status.unwrap_or_else(|| panic!("no final response within 10 s\n{}", tandem.stderr()))
    };
    let mut chosen = Vec::new();
    // 500 and 486 in any order: the lowest class wins.
    let a = refuse("refuse-500", first_sip, first_media, 500, 0);
    let b = refuse("refuse-486", second_sip, second_media, 486, 0);
    std::thread::sleep(Duration::from_millis(500));
    chosen.push(call("lowest-class"));
    let ends = [
        a.wait(Duration::from_secs(10)),
        b.wait(Duration::from_secs(10)),
    ];
    // 486 first, then 603: the 6xx wins although the 486 came first.
    let a = refuse("refuse-486-first", first_sip, first_media, 486, 0);
    let b = refuse("refuse-603-later", second_sip, second_media, 603, 500);
    std::thread::sleep(Duration::from_millis(500));
    chosen.push(call("6xx-later"));
    let ends2 = [
        a.wait(Duration::from_secs(10)),
        b.wait(Duration::from_secs(10)),
    ];
    // 603 while the other contact rings: it is cancelled at once (RFC 3261 §16.7 step 5).
    let a = refuse("refuse-603", first_sip, first_media, 603, 500);
    let b = ringing("ringing-until-603", second_sip, second_media);
    std::thread::sleep(Duration::from_millis(500));
    chosen.push(call("6xx-cancels"));
    let ends3 = [
        a.wait(Duration::from_secs(10)),
        b.wait(Duration::from_secs(10)),
    ];
    for end in ends.iter().chain(&ends2).chain(&ends3) {
        assert_eq!(end.code, Some(0), "{}\n{}", end.output, tandem.stderr());
    }
    let api = SocketAddr::from(([127, 0, 0, 1], ports.api));
    let after = metrics::scrape_when_idle(api, Duration::from_secs(5));
    let (status, stderr) = tandem.terminate();

    assert_eq!(
        chosen,
        [486, 603, 603],
        "4xx beats 5xx, 6xx beats all\n{stderr}"
    );
    assert_eq!(total(&after, "tandem_calls"), 0.0, "{after}");
    assert_eq!(total(&after, "tandem_worker_sessions"), 0.0, "{after}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
