//! `tandem run` as a SIP UAS with real peers on loopback: OPTIONS over UDP and TCP, refused
//! INVITEs (404, 488), a late offer, CANCEL, a sipp `uac_pcap` call to `echo` whose RTP and
//! RFC 2833 digits come back, a call that lives through INFO DTMF, hold, resume, a codec
//! change, UPDATE, in-dialog OPTIONS and BYE, a call to `tone` that hears the test tone, and
//! calls over TCP. Every test ends with Tandem's shutdown line
//! reporting no call, dialog or media session left.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::capture::Capture;
use support::{Ports, Sipp, Tandem, assert_sipp_and_tshark, sipp_available};

/// Our scenario files.
fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
        .display()
        .to_string()
}

/// Asserts the shutdown line says nothing leaked, and returns it.
pub(crate) fn assert_no_leaks(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("signalling stopped"))
        .unwrap_or_else(|| panic!("no shutdown line in:\n{stderr}"))
        .to_owned();
    for zero in [
        "calls_live=0",
        "dialogs_live=0",
        "sessions_live=0",
        "rooms_live=0",
    ] {
        assert!(line.contains(zero), "{zero} expected: {line}");
    }
    line
}

/// A bare SIP UAC over UDP, for requests sipp scenarios make awkward.
struct RawUac {
    socket: UdpSocket,
    server: SocketAddr,
}

impl RawUac {
    fn new(server: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Self { socket, server }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    fn send(&self, message: &str) {
        self.socket
            .send_to(message.as_bytes(), self.server)
            .unwrap();
    }

    /// The next response whose status line starts with `SIP/2.0 {code}` within 5 s; other
    /// responses (100 Trying) are skipped.
    fn expect(&self, code: u16) -> String {
        let status = format!("SIP/2.0 {code} ");
        self.expect_where(&format!("{code}"), |text| text.starts_with(&status))
    }

    /// The INVITE's final response (status 200 or more, CSeq INVITE) on call `call` within
    /// 5 s; other responses (the CANCEL's 200, other calls' retransmissions) are skipped.
    fn expect_invite_final(&self, call: &str) -> String {
        self.expect_where(&format!("final response to the INVITE of {call}"), |text| {
            let final_status = text
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
                .is_some_and(|c| c >= 200);
            final_status
                && header(text, "Call-ID") == Some(call)
                && header(text, "CSeq").is_some_and(|c| c.ends_with("INVITE"))
        })
    }

    /// The next message `wanted` accepts within 5 s, skipping the others; panics naming
    /// `what` and listing the status lines skipped.
    fn expect_where(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = Vec::new();
        let mut buf = [0; 65_536];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if wanted(&text) {
                    return text;
                }
                seen.push(text.lines().next().unwrap_or("").to_owned());
            }
        }
        panic!("no {what} within 5 s; saw {seen:?}");
    }

    /// `request` (one of [`Self::request`]'s) moved into the dialog that `response`, from the
    /// callee, set up: its To, with the callee's tag.
    fn in_dialog(&self, request: String, response: &str) -> String {
        let to = header(response, "To").expect("a To header");
        let start = request.find("\r\nTo: ").expect("a To header") + 2;
        let end = start + request[start..].find("\r\n").expect("a CRLF");
        format!("{}To: {to}{}", &request[..start], &request[end..])
    }

    /// An out-of-dialog request with `body` (SDP when not empty).
    fn request(
        &self,
        method: &str,
        user: &str,
        call: &str,
        branch: &str,
        cseq: u32,
        body: &str,
    ) -> String {
        let port = self.port();
        let server = self.server;
        let content_type = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_owned()
        };
        format!(
            "{method} sip:{user}@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:raw@127.0.0.1:{port}>;tag=raw-{call}\r\n\
             To: <sip:{user}@{server}>\r\n\
             Call-ID: {call}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:raw@127.0.0.1:{port}>\r\n\
             {content_type}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

fn offer(port: u16, codec_line: &str) -> String {
    format!(
        "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {codec_line}\r\n"
    )
}

fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn options_get_200_with_capabilities_and_bad_invites_get_the_right_refusals() {
    let ports = Ports::for_test(20);
    let tandem = Tandem::start(&ports.run_args());
    let uac = RawUac::new(ports.sip_addr());

    // OPTIONS over UDP.
    uac.send(&uac.request("OPTIONS", "anyone", "o-1", "o1", 1, ""));
    let ok = uac.expect(200);
    for name in ["Allow", "Accept", "Supported"] {
        assert!(header(&ok, name).is_some(), "{name} in {ok}");
    }
    assert!(header(&ok, "Allow").unwrap().contains("INVITE"), "{ok}");
    assert!(header(&ok, "To").unwrap().contains("tag="), "{ok}");

    // OPTIONS over TCP.
    let mut tcp = TcpStream::connect_timeout(&ports.sip_addr(), Duration::from_secs(2)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = tcp.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:{} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bK-t1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:raw@{local}>;tag=t\r\nTo: <sip:{}>\r\n\
         Call-ID: o-tcp\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ports.sip_addr(),
        ports.sip_addr()
    );
    tcp.write_all(options.as_bytes()).unwrap();
    let mut buf = [0; 4096];
    let n = tcp.read(&mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("SIP/2.0 200 "), "{reply}");
    assert!(header(&reply, "Supported").is_some(), "{reply}");

    // Nobody by that name: 404.
    let pcmu = offer(40_000, "0\r\na=rtpmap:0 PCMU/8000");
    uac.send(&uac.request("INVITE", "nobody", "i-404", "i1", 1, &pcmu));
    let refused = uac.expect(404);
    assert!(
        header(&refused, "To").unwrap().contains("tag="),
        "{refused}"
    );
    // No common codec: 488. (GSM, which Tandem never implements: G.729 is an optional
    // feature that the test command enables.)
    let gsm = offer(40_000, "3\r\na=rtpmap:3 GSM/8000");
    uac.send(&uac.request("INVITE", "echo", "i-488", "i2", 1, &gsm));
    uac.expect(488);
    // No offer: Tandem's offer comes in the 200 (a late offer, RFC 3261 §13.2.1), the
    // answer goes in the ACK. (sip_offer_answer.rs checks the media and the unanswered case.)
    uac.send(&uac.request("INVITE", "echo", "i-late", "i3", 1, ""));
    let late = uac.expect(200);
    assert!(late.contains("a=rtpmap:0 PCMU/8000"), "{late}");
    let in_dialog = |method: &str, branch: &str, cseq: u32, body: &str| {
        uac.in_dialog(
            uac.request(method, "echo", "i-late", branch, cseq, body),
            &late,
        )
    };
    uac.send(&in_dialog("ACK", "i3a", 1, &pcmu));
    uac.send(&in_dialog("BYE", "i3b", 2, ""));
    // The BYE's 200 (a retransmission of the INVITE's 200 may cross the ACK).
    let bye_ok = (0..3)
        .map(|_| uac.expect(200))
        .find(|r| header(r, "CSeq").is_some_and(|c| c.ends_with("BYE")));
    assert!(bye_ok.is_some(), "no 200 to the BYE");

    // CANCEL before the answer: 200 to the CANCEL, 487 to the INVITE, nothing left behind.
    // The echo answers as soon as its media leg is made, so on a busy machine its 200 can
    // cross the CANCEL (which then changes nothing, RFC 3261 §9.2): that call is hung up and
    // the CANCEL tried again on a new one.
    let mut crossed = 0;
    let (call, terminated) = loop {
        let call = format!("i-cancel-{crossed}");
        let branch = format!("i4-{crossed}");
        uac.send(&uac.request("INVITE", "echo", &call, &branch, 1, &pcmu));
        uac.send(&uac.request("CANCEL", "echo", &call, &branch, 1, ""));
        let response = uac.expect_invite_final(&call);
        if !response.starts_with("SIP/2.0 200 ") {
            break (call, response);
        }
        assert!(crossed < 3, "the answer crossed the CANCEL four times");
        crossed += 1;
        for (method, branch, cseq) in [
            ("ACK", format!("i4a-{crossed}"), 1),
            ("BYE", format!("i4b-{crossed}"), 2),
        ] {
            let request = uac.request(method, "echo", &call, &branch, cseq, "");
            uac.send(&uac.in_dialog(request, &response));
        }
    };
    assert!(terminated.starts_with("SIP/2.0 487 "), "{terminated}");
    // RFC 3261 §17.1.1.3: the ACK of a non-2xx has the INVITE's branch and the response's To.
    let ack = uac.request("ACK", "echo", &call, &format!("i4-{crossed}"), 1, "");
    uac.send(&uac.in_dialog(ack, &terminated));

    // An INVITE to echo is answered with SDP carrying a port of our RTP range.
    uac.send(&uac.request("INVITE", "echo", "i-ok", "i5", 1, &pcmu));
    let answer = uac.expect(200);
    let m_line = answer
        .lines()
        .find(|l| l.starts_with("m=audio "))
        .expect("an m= line");
    let port: u16 = m_line.split(' ').nth(1).unwrap().parse().unwrap();
    assert!((ports.rtp_min..=ports.rtp_max).contains(&port), "{m_line}");
    assert!(m_line.contains("RTP/AVP 0"), "{m_line}");
    uac.send(&uac.in_dialog(uac.request("ACK", "echo", "i-ok", "i6", 1, ""), &answer));
    uac.send(&uac.in_dialog(uac.request("BYE", "echo", "i-ok", "i7", 2, ""), &answer));
    uac.expect(200);

    let (status, stderr) = tandem.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let line = assert_no_leaks(&stderr);
    // The late-offer call and the last, plus any answer that crossed the CANCEL.
    let answered = format!("calls_answered={}", 2 + crossed);
    assert!(line.contains(&answered), "{answered} expected: {line}");
}

#[test]
fn a_sipp_uac_pcap_call_to_echo_gets_its_rtp_and_digits_back() {
    assert_sipp_and_tshark();
    let ports = Ports::for_test(21);
    let tandem = Tandem::start(&ports.run_args());
    let dir = std::env::temp_dir();
    let capture = Capture::start(&dir, ports.rtp_min, ports.rtp_max, Duration::from_secs(40));
    let limit = Duration::from_secs(40);
    let uac = Sipp::new(
        "echo-uac",
        &scenario("uac_pcap_digits.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(35),
    )
    .args(&[ports.sip_addr().to_string().as_str(), "-s", "echo"])
    .run(limit);
    let packets = capture.finish(ports.rtp_min, ports.rtp_max);
    let (status, stderr) = tandem.terminate();

    assert_eq!(uac.code, Some(0), "{}\n{stderr}", uac.output);
    let stats = uac.stats.expect("a stat file");
    assert_eq!((stats.successful(), stats.failed()), (1, 0));
    let sent = packets
        .iter()
        .filter(|p| p.src == ports.peer_media && p.payload_type == 8)
        .count();
    let back: Vec<_> = packets
        .iter()
        .filter(|p| p.dst == ports.peer_media && p.payload_type == 8)
        .collect();
    // g711a.pcap holds 236 packets; every one is echoed (a few may be in flight at BYE).
    assert!((230..=240).contains(&sent), "sent {sent}");
    assert!(
        back.len() + 5 >= sent && back.len() <= sent + 5,
        "sent {sent}, back {}",
        back.len()
    );
    let sent_payloads: Vec<_> = packets
        .iter()
        .filter(|p| p.src == ports.peer_media && p.payload_type == 8)
        .map(|p| &p.payload)
        .collect();
    assert!(
        back.iter().all(|p| p.payload.len() == 240),
        "30 ms PCMA payloads"
    );
    let same = back
        .iter()
        .filter(|p| sent_payloads.contains(&&p.payload))
        .count();
    assert!(
        same + 5 >= back.len(),
        "{same} of {} echoed payloads match what was sent",
        back.len()
    );
    // The digits, reported once each, in order.
    let digits: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("dtmf call=") && l.contains("source=rtp"))
        .filter_map(|l| l.split("digit=").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(digits, ["1", "2", "3", "#"], "{stderr}");
    // The end of the call is logged with the caller's stream quality, RTCP interval by
    // interval: the clean PCMA scores above 4; the digits' pcaps, replayed with sequence
    // numbers of their own, read as losses in the interval they fall in.
    let ended = stderr
        .lines()
        .find(|l| l.contains("call ended"))
        .unwrap_or_else(|| panic!("no end line: {stderr}"));
    assert!(ended.contains("quality=MOS "), "{ended}");
    assert!(ended.contains(", highest 4."), "{ended}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}

#[test]
fn a_call_shorter_than_one_rtcp_interval_is_logged_with_its_quality() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(44);
    let tandem = Tandem::start(&ports.run_args());
    // 800 ms of PCMA, then BYE: before the leg's first RTCP report.
    let uac = Sipp::new(
        "short-uac",
        &scenario("uac_short_pcap.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(15),
    )
    .args(&[ports.sip_addr().to_string().as_str(), "-s", "echo"])
    .run(Duration::from_secs(20));
    let (status, stderr) = tandem.terminate();
    assert_eq!(uac.code, Some(0), "{}\n{stderr}", uac.output);
    // Scored from the leg's figures as it was removed: one interval, the whole call, clean.
    let ended = stderr
        .lines()
        .find(|l| l.contains("call ended"))
        .unwrap_or_else(|| panic!("no end line: {stderr}"));
    assert!(ended.contains("quality=MOS 4."), "{ended}");
    assert!(ended.contains(" 1 intervals)"), "{ended}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}

#[test]
fn a_call_lives_through_info_hold_resume_codec_change_update_and_bye() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(22);
    let tandem = Tandem::start(&ports.run_args());
    let uac = Sipp::new(
        "dialog-life",
        &scenario("uac_dialog_life.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(20),
    )
    .args(&[ports.sip_addr().to_string().as_str(), "-s", "echo"])
    .run(Duration::from_secs(25));
    let (status, stderr) = tandem.terminate();
    assert_eq!(uac.code, Some(0), "{}\n{stderr}", uac.output);
    assert_eq!(
        uac.stats.map(|s| (s.successful(), s.failed())),
        Some((1, 0))
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("dtmf call=") && l.contains("digit=5 source=info")),
        "{stderr}"
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}

#[test]
fn a_call_to_tone_hears_the_test_tone() {
    assert_sipp_and_tshark();
    let ports = Ports::for_test(29);
    let tandem = Tandem::start(&ports.run_args());
    let capture = Capture::start(
        &std::env::temp_dir(),
        ports.rtp_min,
        ports.rtp_max,
        Duration::from_secs(30),
    );
    // sipp's basic UAC offers PCMU, sends no RTP, and hangs up after 5 s.
    let uac = Sipp::new(
        "tone-uac",
        "uac",
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(20),
    )
    .args(&[
        ports.sip_addr().to_string().as_str(),
        "-s",
        "tone",
        "-d",
        "5000",
    ])
    .run(Duration::from_secs(25));
    let packets = capture.finish(ports.rtp_min, ports.rtp_max);
    let (status, stderr) = tandem.terminate();
    assert_eq!(uac.code, Some(0), "{}\n{stderr}", uac.output);
    let tone: Vec<_> = packets
        .iter()
        .filter(|p| p.dst == ports.peer_media && p.payload_type == 0)
        .collect();
    // 5 s of 20 ms packets (250), each a full-scale-ish 1020 Hz tone (PCMU silence is
    // 0xFF/0x7F); at least 2.4 s of them even when a loaded machine starts tshark late.
    assert!(tone.len() >= 120, "{} tone packets", tone.len());
    let loud = tone
        .iter()
        .filter(|p| p.payload.len() == 160 && p.payload.iter().any(|&b| b & 0x7F < 0x60))
        .count();
    assert!(
        loud + 2 >= tone.len(),
        "{loud} of {} packets carry the tone",
        tone.len()
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}

#[test]
fn calls_over_tcp_are_answered_on_their_connection() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(18);
    let tandem = Tandem::start(&ports.run_args());
    // sipp's basic UAC over one TCP connection (-t t1): INVITE, 200, ACK, BYE, 200.
    let uac = Sipp::new(
        "tcp-uac",
        "uac",
        ports.peer_sip,
        ports.peer_media,
        10,
        Duration::from_secs(20),
    )
    .args(&[
        ports.sip_addr().to_string().as_str(),
        "-t",
        "t1",
        "-s",
        "echo",
        "-r",
        "5",
        "-d",
        "500",
    ])
    .run(Duration::from_secs(25));
    let (status, stderr) = tandem.terminate();
    assert_eq!(uac.code, Some(0), "{}\n{stderr}", uac.output);
    let stats = uac.stats.expect("a stat file");
    assert_eq!((stats.successful(), stats.failed()), (10, 0));
    assert_eq!(status.code(), Some(0), "{stderr}");
    let line = assert_no_leaks(&stderr);
    assert!(line.contains("calls_answered=10"), "{line}");
}
