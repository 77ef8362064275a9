//! Offer/answer beyond an offer in the INVITE, against sipp on loopback:
//!
//! - a late offer (RFC 3261 §13.2.1): an INVITE to `echo` without SDP gets Tandem's offer in
//!   the 200, the ACK answers PCMA (not the codec Tandem built the leg for first), and the
//!   PCMA sipp plays comes back; an ACK without the answer gets a BYE; a late offer to a
//!   conference offers only the codec its leg runs;
//! - a codec change on a re-INVITE (PCMU, then PCMA) keeps Tandem's RTP port, and the PCMA
//!   sipp plays then comes back from that port.
//!
//! Both end with Tandem's shutdown line reporting no call, dialog or session left.
//! Ports: tests 13 and 14.

mod support;

use std::time::Duration;

use support::capture::{Capture, RtpPacket};
use support::{
    Ports, Sipp, Tandem, assert_shutdown_clean, assert_sipp_and_tshark, scenario, scratch,
};

fn assert_no_leaks(stderr: &str) {
    assert_shutdown_clean(
        stderr,
        &["calls_live=0", "dialogs_live=0", "sessions_live=0"],
    );
}

fn preconditions() {
    assert_sipp_and_tshark();
}

/// PCMA packets sent from `peer` and echoed back to it.
fn pcma_each_way(packets: &[RtpPacket], peer: u16) -> (usize, Vec<&RtpPacket>) {
    let sent = packets
        .iter()
        .filter(|p| p.src == peer && p.payload_type == 8)
        .count();
    let back = packets.iter().filter(|p| p.dst == peer).collect();
    (sent, back)
}

#[test]
fn a_late_offer_is_answered_in_the_ack_and_an_ack_without_answer_hangs_up() {
    preconditions();
    let ports = Ports::for_test(13);
    let dir = scratch("oa-late");
    let tandem = Tandem::start(&ports.run_args());
    let server = ports.sip_addr().to_string();
    let limit = Duration::from_secs(30);
    let capture = Capture::start(&dir, ports.rtp_min, ports.rtp_max, limit);
    let late = Sipp::new(
        "late-offer",
        &scenario("uac_late_offer.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(25),
    )
    .args(&[server.as_str(), "-s", "echo"])
    .run(limit);
    let packets = capture.finish(ports.rtp_min, ports.rtp_max);
    let unanswered = Sipp::new(
        "late-offer-no-answer",
        &scenario("uac_late_offer_no_answer.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(10),
    )
    .args(&[server.as_str(), "-s", "echo"])
    .run(Duration::from_secs(15));
    // A conference leg cannot be rebuilt for the answer: only its codec is offered.
    let conference_trace = dir.join("conference.log");
    let conference = Sipp::new(
        "late-offer-conference",
        &scenario("uac_late_offer_no_answer.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(10),
    )
    .args(&[
        server.as_str(),
        "-s",
        "conf-late",
        "-trace_msg",
        "-message_file",
    ])
    .args(&[conference_trace.display().to_string()])
    .run(Duration::from_secs(15));
    let (status, stderr) = tandem.terminate();

    assert_eq!(late.code, Some(0), "late offer: {}\n{stderr}", late.output);
    assert_eq!(
        unanswered.code,
        Some(0),
        "no answer in the ACK: {}\n{stderr}",
        unanswered.output
    );
    let (sent, back) = pcma_each_way(&packets, ports.peer_media);
    // g711a.pcap holds 236 packets; every one is echoed (a few may be in flight at BYE),
    // as PCMA: the leg first built for Tandem's first codec (Opus) was rebuilt for PCMA.
    assert!((230..=240).contains(&sent), "sent {sent}");
    assert!(back.len() + 5 >= sent, "sent {sent}, back {}", back.len());
    assert!(
        back.iter().all(|p| p.payload_type == 8),
        "only PCMA comes back: {:?}",
        back.iter().map(|p| p.payload_type).collect::<Vec<_>>()
    );
    assert_eq!(
        conference.code,
        Some(0),
        "conference: {}\n{stderr}",
        conference.output
    );
    let trace = std::fs::read_to_string(&conference_trace).expect("sipp's message trace");
    let offered: Vec<&str> = trace
        .lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))
        .map(|m| m.split(' ').skip(2).collect())
        .unwrap_or_default();
    let codecs = offered
        .iter()
        .filter(|pt| !trace.contains(&format!("a=rtpmap:{pt} telephone-event")))
        .count();
    assert_eq!(
        codecs, 1,
        "one codec offered to the conference: {offered:?}\n{trace}"
    );
    assert!(
        stderr.contains("the ACK has no answer"),
        "the unanswered offer is logged: {stderr}"
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `m=audio` port of each 200 to an INVITE in a sipp message trace, in order.
fn ports_of_invite_200s(trace: &str) -> Vec<u16> {
    trace
        .split("message received [")
        .skip(1)
        .filter(|m| m.contains("SIP/2.0 200"))
        .filter(|m| {
            m.lines()
                .any(|l| l.trim().starts_with("CSeq:") && l.trim().ends_with("INVITE"))
        })
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.trim().strip_prefix("m=audio "))?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn a_codec_change_on_a_reinvite_keeps_the_rtp_port() {
    preconditions();
    let ports = Ports::for_test(14);
    let dir = scratch("oa-reinvite");
    let trace = dir.join("messages.log");
    let tandem = Tandem::start(&ports.run_args());
    let server = ports.sip_addr().to_string();
    let limit = Duration::from_secs(30);
    let capture = Capture::start(&dir, ports.rtp_min, ports.rtp_max, limit);
    let uac = Sipp::new(
        "reinvite-codec",
        &scenario("uac_reinvite_codec_change.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(25),
    )
    .args(&[server.as_str(), "-s", "echo", "-trace_msg", "-message_file"])
    .args(&[trace.display().to_string()])
    .run(limit);
    let packets = capture.finish(ports.rtp_min, ports.rtp_max);
    let (status, stderr) = tandem.terminate();

    assert_eq!(uac.code, Some(0), "{}\n{stderr}", uac.output);
    let trace = std::fs::read_to_string(&trace).expect("sipp's message trace");
    let answered = ports_of_invite_200s(&trace);
    assert_eq!(
        answered.len(),
        2,
        "two 200s with SDP: {answered:?}\n{trace}"
    );
    assert_eq!(
        answered[0], answered[1],
        "the codec change keeps Tandem's RTP port"
    );
    let (sent, back) = pcma_each_way(&packets, ports.peer_media);
    assert!((230..=240).contains(&sent), "sent {sent}");
    assert!(back.len() + 5 >= sent, "sent {sent}, back {}", back.len());
    assert!(
        back.iter()
            .all(|p| p.payload_type == 8 && p.src == answered[0]),
        "PCMA comes back from the port both answers named"
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
