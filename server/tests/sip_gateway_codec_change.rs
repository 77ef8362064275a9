//! A codec change on one side of a gateway call: a PCMU caller reaches a PCMU sipp UAS that
//! echoes RTP through a configured route (a relay), talks, then re-INVITEs to PCMA
//! (`sipp/uac_gateway_codec_change.xml`). The gateway answers PCMA itself at the same port
//! and rebuilds the session as a transcoder on its ports; the callee hears nothing of it.
//! tshark shows the caller getting PCMU, then PCMA, from the same Tandem port, and the
//! callee's stream from Tandem one continuous RTP stream across the change (one SSRC,
//! every sequence number in turn, the marker where it resumed); `/metrics` shows no
//! session left after the BYE.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use support::capture::{Capture, RtpPacket};
use support::metrics::{scrape, value};
use support::{Ports, Sipp, assert_sipp_and_tshark, scratch, start_with_route};
use tandem_codecs::g711::{alaw, ulaw};

fn sipp_xml(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
        .display()
        .to_string()
}

/// sipp's `g711a.pcap` (Ethernet, IPv4, UDP, RTP PCMA) re-coded to PCMU, payload type 0:
/// the same speech for a caller that negotiated PCMU. (UDP checksums are zeroed: optional
/// over IPv4, and sipp sends only the payload anyway.)
fn pcmu_pcap() -> Vec<u8> {
    let mut pcap = std::fs::read("/usr/share/sip-tester/g711a.pcap").expect("sipp's g711a.pcap");
    assert_eq!(&pcap[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    assert_eq!(pcap[20], 1, "Ethernet frames");
    let mut at = 24;
    let mut packets = 0;
    while at + 16 <= pcap.len() {
        let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = at + 16;
        at = frame + len;
        let ip = frame + 14;
        let udp = ip + usize::from(pcap[ip] & 0x0f) * 4;
        let rtp = udp + 8;
        if at > pcap.len() || rtp + 12 > at || pcap[ip + 9] != 17 {
            continue;
        }
        pcap[udp + 6..udp + 8].fill(0);
        let payload = rtp + 12 + usize::from(pcap[rtp] & 0x0f) * 4;
        pcap[rtp + 1] &= 0x80;
        for byte in &mut pcap[payload..at] {
            *byte = ulaw::encode(alaw::decode(*byte));
        }
        packets += 1;
    }
    assert!(packets > 200, "{packets} RTP packets re-coded");
    pcap
}

/// Sessions on the one media worker.
const SESSIONS: &str = "tandem_worker_sessions{worker=\"0\"}";

#[test]
fn a_gateway_caller_changes_codec_and_the_callee_sees_one_stream() {
    assert_sipp_and_tshark();
    let ports = Ports::for_test(3);
    let (callee_sip, callee_media) = (ports.peer_sip + 1, ports.peer_media + 10);
    let dir = scratch("gw-codec");
    let tandem = start_with_route(&ports, &dir, "^sip:gwcc-", callee_sip, &["PCMU"]);
    let limit = Duration::from_secs(40);
    let capture = Capture::start(&dir, ports.rtp_min, ports.rtp_max, limit);
    // sipp's built-in UAS answers PCMU and waits for the BYE.
    let callee = Sipp::spawn_echoing_uas("gw-codec-callee", "uas", callee_sip, callee_media, limit);
    let caller = Sipp::new(
        "gw-codec-caller",
        &sipp_xml("uac_gateway_codec_change.xml"),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(35),
    )
    .with_file("pcmu.pcap", &pcmu_pcap())
    .args(&[format!("127.0.0.1:{}", ports.sip).as_str(), "-s", "gwcc-1"])
    .run(limit);
    let callee = callee.wait(Duration::from_secs(10));
    let packets = capture.finish(ports.rtp_min, ports.rtp_max);
    // The session goes when the BYE is done (bounded wait: removal is asynchronous).
    let mut after = String::new();
    for _ in 0..50 {
        after = scrape(SocketAddr::from(([127, 0, 0, 1], ports.api)));
        if value(&after, SESSIONS) == Some(0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, stderr) = tandem.terminate();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(
        caller.code,
        Some(0),
        "caller: {}\ntandem: {stderr}",
        caller.output
    );
    assert_eq!(callee.code, Some(0), "callee: {}", callee.output);
    assert!(stderr.contains("codec changed; rebuilding"), "{stderr}");
    assert!(stderr.contains("session rebuilt"), "{stderr}");

    // The caller: PCMU, then PCMA, always from the one Tandem port its 200s named.
    let to_caller: Vec<&RtpPacket> = packets
        .iter()
        .filter(|p| p.dst == ports.peer_media)
        .collect();
    let pcmu = to_caller.iter().filter(|p| p.payload_type == 0).count();
    let pcma = to_caller.iter().filter(|p| p.payload_type == 8).count();
    assert!(
        pcmu >= 100 && pcma >= 100,
        "to the caller: {pcmu} PCMU, {pcma} PCMA"
    );
    let first_pcma = to_caller.iter().position(|p| p.payload_type == 8).unwrap();
    assert!(
        to_caller[first_pcma..].iter().all(|p| p.payload_type == 8),
        "PCMU after the change"
    );
    assert!(
        to_caller.iter().all(|p| p.src == to_caller[0].src),
        "the caller's media moved port"
    );

    // The callee: one stream from Tandem across the change.
    let to_callee: Vec<&RtpPacket> = packets.iter().filter(|p| p.dst == callee_media).collect();
    assert!(
        to_callee.len() >= 400,
        "{} packets to the callee",
        to_callee.len()
    );
    assert!(to_callee.iter().all(|p| p.payload_type == 0), "PCMU only");
    assert!(to_callee.iter().all(|p| p.src == to_callee[0].src));
    let ssrc = to_callee[0].ssrc;
    assert!(
        to_callee.iter().all(|p| p.ssrc == ssrc),
        "the callee's stream changed SSRC"
    );
    for pair in to_callee.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq.wrapping_add(1),
            "the callee's sequence broke at {:.3} s",
            pair[1].time
        );
    }

    assert_eq!(value(&after, SESSIONS), Some(0), "{after}");
    assert_eq!(value(&after, "tandem_calls"), Some(0), "{after}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}
