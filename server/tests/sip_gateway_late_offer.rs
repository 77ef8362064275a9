//! A late offer through a gateway route: a sipp caller sends an INVITE without SDP to
//! `opus-1`, which a route sends to a sipp UAS that accepts only Opus (and echoes RTP).
//! Tandem offers Opus to the callee, then puts its own offer (PCMA among its codecs) in the
//! 200 to the caller; the caller answers PCMA in its ACK, so the caller's leg, first built
//! for Tandem's first codec, is rebuilt for PCMA. tshark must see PCMA between the caller
//! and Tandem and Opus between Tandem and the callee, both ways; the BYE leaves nothing.
//!
//! Ports: test 9 (Tandem, the callee), the caller's SIP and media ports in test 9's peer
//! media range.

mod support;

use std::time::Duration;

use support::capture::{Bridged, Capture, bridged, count};
use support::{
    Ports, Sipp, assert_shutdown_clean, assert_sipp_and_tshark, scenario, scratch, start_with_route,
};

#[test]
fn a_late_offer_caller_reaches_an_opus_callee_and_media_flows_both_ways() {
    assert_sipp_and_tshark();
    let p = Ports::for_test(9);
    let dir = scratch("gw-late");
    let (callee_sip, callee_media) = (p.peer_sip, p.peer_media);
    let (caller_sip, caller_media) = (p.peer_media + 16, p.peer_media + 8);
    let tandem = start_with_route(&p, &dir, "^sip:opus-", callee_sip, &["opus"]);

    let limit = Duration::from_secs(40);
    let capture = Capture::start(&dir, p.peer_media, p.peer_media + 19, limit);
    let callee = Sipp::spawn_echoing_uas(
        "gw-late-callee",
        &scenario("uas_opus_only.xml"),
        callee_sip,
        callee_media,
        limit,
    );
    let server = p.sip_addr().to_string();
    let caller = Sipp::new(
        "gw-late-caller",
        &scenario("uac_late_offer.xml"),
        caller_sip,
        caller_media,
        1,
        Duration::from_secs(30),
    )
    .args(&[server.as_str(), "-s", "opus-1"])
    .run(limit);
    let callee = callee.wait(Duration::from_secs(10));
    let packets = capture.finish(p.peer_media, p.peer_media + 19);
    let (status, stderr) = tandem.terminate();

    assert_eq!(caller.code, Some(0), "caller: {}\n{stderr}", caller.output);
    assert_eq!(callee.code, Some(0), "callee: {}\n{stderr}", callee.output);
    assert!(
        stderr.contains("the caller answered our offer"),
        "the answer came in the ACK: {stderr}"
    );
    let Bridged {
        caller_sent,
        callee_got,
        callee_echoed,
        caller_got,
    } = bridged(&packets, (caller_media, 8), (callee_media, 96));
    // g711a.pcap holds 236 packets of 30 ms; the transcoder sends 20 ms frames.
    assert!(caller_sent > 200, "PCMA from the caller: {caller_sent}");
    assert!(callee_got > 200, "Opus to the callee: {callee_got}");
    assert!(
        callee_echoed > 200,
        "Opus echoed by the callee: {callee_echoed}"
    );
    assert!(caller_got > 200, "PCMA back to the caller: {caller_got}");
    // Each side hears only the codec it accepted.
    assert_eq!(
        count(&packets, |p| p.dst == caller_media && p.payload_type != 8),
        0
    );
    assert_eq!(
        count(&packets, |p| p.dst == callee_media && p.payload_type != 96),
        0
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_shutdown_clean(
        &stderr,
        &["dialogs_live=0", "sessions_live=0", "gateway_calls_live=0"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
