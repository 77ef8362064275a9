//! SIP hold stops media for real: a sipp UAC calls `echo`, sends RTP the whole call, puts
//! the call on hold with a re-INVITE `a=sendonly` and resumes it with `a=sendrecv`
//! (`sipp/uac_hold_resume_media.xml`). tshark captures the RTP: while the call is on hold,
//! Tandem sends the caller nothing though the caller keeps sending; after the resume the
//! echo comes back on the same leg, as the same stream continued.

mod support;

use std::time::Duration;

use support::capture::{Capture, RtpPacket, longest_gap};
use support::{Ports, Sipp, Tandem, assert_shutdown_clean, assert_sipp_and_tshark, scenario};

fn assert_no_leaks(stderr: &str) {
    assert_shutdown_clean(
        stderr,
        &["calls_live=0", "dialogs_live=0", "sessions_live=0"],
    );
}

#[test]
fn a_caller_on_hold_gets_no_rtp_until_it_resumes() {
    assert_sipp_and_tshark();
    let ports = Ports::for_test(30);
    let tandem = Tandem::start(&ports.run_args());
    let capture = Capture::start(
        &std::env::temp_dir(),
        ports.rtp_min,
        ports.rtp_max,
        Duration::from_secs(40),
    );
    let uac = Sipp::new(
        "hold-uac",
        &scenario("uac_hold_resume_media.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(30),
    )
    .args(&[ports.sip_addr().to_string().as_str(), "-s", "echo"])
    .run(Duration::from_secs(35));
    let packets = capture.finish(ports.rtp_min, ports.rtp_max);
    let (status, stderr) = tandem.terminate();
    assert_eq!(uac.code, Some(0), "{}\n{stderr}", uac.output);
    assert_eq!(
        uac.stats.map(|s| (s.successful(), s.failed())),
        Some((1, 0)),
        "hold answered recvonly, resume sendrecv"
    );

    let sent: Vec<&RtpPacket> = packets
        .iter()
        .filter(|p| p.src == ports.peer_media && p.payload_type == 8)
        .collect();
    let back: Vec<&RtpPacket> = packets
        .iter()
        .filter(|p| p.dst == ports.peer_media)
        .collect();
    assert!(sent.len() >= 200, "the caller sent {} packets", sent.len());
    // The hold is the longest silence from Tandem: 2.5 s in the scenario, less the time the
    // re-INVITEs take.
    let (gap_at, gap) = longest_gap(&back).expect("echoed packets");
    assert!(
        gap >= 2.0,
        "no pause of Tandem's RTP during the hold (longest gap {gap:.3} s)"
    );
    let (last_before, first_after) = (back[gap_at], back[gap_at + 1]);
    let sent_during_hold = sent
        .iter()
        .filter(|p| p.time > last_before.time && p.time < first_after.time)
        .count();
    assert!(
        sent_during_hold >= 60,
        "the caller kept sending on hold ({sent_during_hold} packets) and none came back"
    );
    // Echo before and after the hold, as one stream continued.
    assert!(gap_at >= 20, "{gap_at} packets echoed before the hold");
    let after = back.len() - gap_at - 1;
    assert!(after >= 80, "{after} packets echoed after the resume");
    assert_eq!(first_after.ssrc, last_before.ssrc, "same SSRC after resume");
    assert_eq!(
        first_after.seq,
        last_before.seq.wrapping_add(1),
        "sequence numbers continue across the hold"
    );
    assert!(first_after.marker, "marker bit on the first packet after");
    assert!(
        back.iter().all(|p| p.payload_type == 8),
        "only PCMA comes back"
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}
