//! Three sipp UACs call `conf-x` at once, each playing sipp's bundled PCMA capture: each
//! hears the others through Tandem's conference room (RTP comes back to every caller while
//! the others talk, and it is not silence), and the room is gone when the last caller
//! hangs up.

mod support;

use std::time::Duration;

use support::capture::{Capture, pcma_has_sound};
use support::{Ports, Sipp, Tandem, assert_sipp_and_tshark};

#[test]
fn three_callers_in_one_room_each_hear_the_others() {
    assert_sipp_and_tshark();
    let ports = Ports::for_test(23);
    let tandem = Tandem::start(&ports.run_args());
    let capture = Capture::start(
        &std::env::temp_dir(),
        ports.rtp_min,
        ports.rtp_max,
        Duration::from_secs(40),
    );
    // Each UAC has its own SIP port and media port (sipp uses -mp and -mp+2).
    let media: Vec<u16> = (0..3).map(|i| ports.peer_media + 4 * i).collect();
    let callers: Vec<_> = (0..3u16)
        .map(|i| {
            Sipp::new(
                &format!("conf-uac-{i}"),
                "uac_pcap",
                ports.peer_sip + 100 * (i + 1),
                media[usize::from(i)],
                1,
                Duration::from_secs(30),
            )
            .args(&[ports.sip_addr().to_string().as_str(), "-s", "conf-x"])
            .spawn()
        })
        .collect();
    let runs: Vec<_> = callers
        .into_iter()
        .map(|c| c.wait(Duration::from_secs(35)))
        .collect();
    let packets = capture.finish(ports.rtp_min, ports.rtp_max);
    let (status, stderr) = tandem.terminate();

    for (i, run) in runs.iter().enumerate() {
        assert_eq!(run.code, Some(0), "caller {i}: {}\n{stderr}", run.output);
    }
    for &port in &media {
        let sent = packets
            .iter()
            .filter(|p| p.src == port && p.payload_type == 8)
            .count();
        let heard: Vec<_> = packets
            .iter()
            .filter(|p| p.dst == port && p.payload_type == 8)
            .collect();
        let loud = heard.iter().filter(|p| pcma_has_sound(&p.payload)).count();
        assert!(sent >= 200, "caller on {port} sent {sent} packets");
        // The room sends 20 ms packets for the whole call; the others talk for ~7 s of it.
        assert!(
            heard.len() >= 200,
            "caller on {port} heard {} packets",
            heard.len()
        );
        assert!(
            loud >= 150,
            "caller on {port} heard {loud} packets with sound"
        );
    }
    assert_eq!(status.code(), Some(0), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("signalling stopped"))
        .unwrap_or_default();
    for zero in [
        "calls_live=0",
        "dialogs_live=0",
        "sessions_live=0",
        "rooms_live=0",
    ] {
        assert!(line.contains(zero), "{zero}: {line}\n{stderr}");
    }
}
