//! Hold through the B2BUA: a PCMA caller reaches an Opus-only sipp UAS that echoes RTP
//! through a configured route (a transcoding bridge), then puts the call on hold with a
//! re-INVITE `a=sendonly` and resumes it (`sipp/uac_hold_resume_media.xml`). The gateway
//! answers the re-INVITEs itself (`recvonly`, then `sendrecv`, checked by the scenario) and
//! tshark shows Tandem sending the caller nothing while on hold, though the caller and the
//! callee's echo keep going, and the caller's stream continuing afterwards.

mod support;

use std::time::Duration;

use support::capture::{Capture, RtpPacket, longest_gap};
use support::{Ports, Sipp, assert_sipp_and_tshark, scenario, scratch, start_with_route};

#[test]
fn a_gateway_caller_on_hold_gets_no_rtp_until_it_resumes() {
    assert_sipp_and_tshark();
    let ports = Ports::for_test(33);
    let (callee_sip, callee_media) = (ports.peer_sip + 1, ports.peer_media + 10);
    let dir = scratch("gw-hold");
    let tandem = start_with_route(&ports, &dir, "^sip:hold-", callee_sip, &["opus"]);
    let limit = Duration::from_secs(35);
    let capture = Capture::start(&dir, ports.rtp_min, ports.rtp_max, limit);
    let callee = Sipp::spawn_echoing_uas(
        "gw-hold-callee",
        &scenario("uas_opus_only.xml"),
        callee_sip,
        callee_media,
        limit,
    );
    let caller = Sipp::new(
        "gw-hold-caller",
        &scenario("uac_hold_resume_media.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(30),
    )
    .args(&[format!("127.0.0.1:{}", ports.sip).as_str(), "-s", "hold-1"])
    .run(limit);
    let callee = callee.wait(Duration::from_secs(10));
    let packets = capture.finish(ports.rtp_min, ports.rtp_max);
    let (status, stderr) = tandem.terminate();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(
        caller.code,
        Some(0),
        "caller: {}\ntandem: {stderr}",
        caller.output
    );
    assert_eq!(callee.code, Some(0), "callee: {}", callee.output);
    let sent: Vec<&RtpPacket> = packets
        .iter()
        .filter(|p| p.src == ports.peer_media && p.payload_type == 8)
        .collect();
    let back: Vec<&RtpPacket> = packets
        .iter()
        .filter(|p| p.dst == ports.peer_media)
        .collect();
    assert!(sent.len() >= 200, "the caller sent {} packets", sent.len());
    let (gap_at, gap) = longest_gap(&back).expect("transcoded echo reached the caller");
    assert!(
        gap >= 2.0,
        "no pause of Tandem's RTP to the caller during the hold (longest gap {gap:.3} s)"
    );
    let (last_before, first_after) = (back[gap_at], back[gap_at + 1]);
    let sent_during_hold = sent
        .iter()
        .filter(|p| p.time > last_before.time && p.time < first_after.time)
        .count();
    assert!(
        sent_during_hold >= 60,
        "the caller kept sending on hold ({sent_during_hold} packets)"
    );
    assert!(gap_at >= 20, "{gap_at} packets reached the caller before");
    let after = back.len() - gap_at - 1;
    assert!(
        after >= 80,
        "{after} packets reached the caller after the resume"
    );
    assert_eq!(first_after.ssrc, last_before.ssrc, "same SSRC after resume");
    assert_eq!(first_after.seq, last_before.seq.wrapping_add(1));
    assert!(first_after.marker, "marker bit after the pause");
    assert!(stderr.contains("gateway call: bridged"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}
