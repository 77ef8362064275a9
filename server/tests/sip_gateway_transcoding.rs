//! A configured route bridges a PCMA caller to an Opus-only callee through Tandem's
//! transcoder: sipp's `uac_pcap` (PCMA + RFC 2833 digit) calls `opus-1`, the route sends the
//! call to a sipp UAS that answers only Opus (`sipp/uas_opus_only.xml`, echoing RTP), and
//! tshark on loopback sees PCMA on the caller's side and Opus (PT 96) on the callee's.
//!
//! Ports (gateway tests use 42..49 of the `Ports` scheme's numbering, outside the glue
//! tests' 0..40): Tandem SIP 15060+n, RTP 16000+100n..+99; peers in 21000-21999.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{Ports, Sipp, sipp_available, start_with_route};

/// The ports of gateway test `n` (42..50): Tandem's as `Ports::for_test` would give them,
/// the sipp peers' in 21000-21999.
fn ports(n: u16) -> Ports {
    assert!((42..50).contains(&n));
    let k = n - 40;
    Ports {
        peer_sip: 21000 + 10 * k,
        peer_media: 21500 + 40 * k,
        ..Ports::for_test(n)
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-gw-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sipp_xml(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// tshark capturing loopback UDP on `filter` into `file`, for at most `limit`.
fn capture(file: &Path, filter: &str, limit: Duration) -> Child {
    let child = Command::new("timeout")
        .arg(format!("{}", limit.as_secs() + 5))
        .args(["tshark", "-n", "-q", "-i", "lo", "-a"])
        .arg(format!("duration:{}", limit.as_secs()))
        .args(["-f", filter, "-w"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tshark starts");
    // tshark needs a moment to open the interface (PEERS.md §4).
    std::thread::sleep(Duration::from_secs(2));
    child
}

/// Stops a capture started by [`capture`]: SIGTERM to its `timeout`, which passes it on to
/// tshark, which then closes its file; SIGKILL if that takes more than 10 s.
fn stop_capture(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.wait();
}

/// (source port, destination port, payload type) of every RTP packet in `file`, decoding
/// UDP on each of `rtp_ports` (a port or a `MIN-MAX` range) as RTP.
fn rtp_packets(file: &Path, rtp_ports: &[String]) -> Vec<(u16, u16, u8)> {
    let mut command = Command::new("timeout");
    command.args(["30", "tshark", "-n", "-r"]).arg(file);
    for ports in rtp_ports {
        command.args(["-d", &format!("udp.port=={ports},rtp")]);
    }
    let out = command
        .args(["-Y", "rtp", "-T", "fields"])
        .args(["-e", "udp.srcport", "-e", "udp.dstport", "-e", "rtp.p_type"])
        .stderr(Stdio::null())
        .output()
        .expect("tshark reads the capture");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            Some((
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
                f.next()?.parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn a_pcma_caller_reaches_an_opus_only_callee_through_the_transcoder() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let p = ports(42);
    let (caller_sip, caller_media) = (p.peer_sip, p.peer_media);
    let (callee_sip, callee_media) = (p.peer_sip + 1, p.peer_media + 20);
    let dir = scratch("transcoding");
    let tandem = start_with_route(&p, &dir, "^sip:opus-", callee_sip, &["opus"]);

    let limit = Duration::from_secs(40);
    let pcap = dir.join("call.pcapng");
    let filter = format!(
        "udp and host 127.0.0.1 and (portrange {}-{} or port {caller_media} or port {callee_media})",
        p.rtp_min, p.rtp_max
    );
    let mut tshark = capture(&pcap, &filter, limit);

    let callee = Sipp::spawn_echoing_uas(
        "gw-callee",
        &sipp_xml("uas_opus_only.xml"),
        callee_sip,
        callee_media,
        limit,
    );
    let caller = Sipp::new("gw-caller", "uac_pcap", caller_sip, caller_media, 1, limit)
        .args(&[format!("127.0.0.1:{}", p.sip).as_str(), "-s", "opus-1"])
        .run(limit);
    let callee = callee.wait(Duration::from_secs(10));
    stop_capture(&mut tshark);
    let (_, stderr) = tandem.terminate();

    assert_eq!(
        caller.code,
        Some(0),
        "caller: {}\ntandem: {stderr}",
        caller.output
    );
    assert_eq!(
        callee.code,
        Some(0),
        "callee: {}\ntandem: {stderr}",
        callee.output
    );
    let packets = rtp_packets(
        &pcap,
        &[
            format!("{}-{}", p.rtp_min, p.rtp_max),
            caller_media.to_string(),
            callee_media.to_string(),
        ],
    );
    let count = |pred: &dyn Fn(&(u16, u16, u8)) -> bool| packets.iter().filter(|x| pred(x)).count();
    let caller_sent_pcma = count(&|&(s, _, pt)| s == caller_media && pt == 8);
    let caller_got_pcma = count(&|&(_, d, pt)| d == caller_media && pt == 8);
    let callee_got_opus = count(&|&(_, d, pt)| d == callee_media && pt == 96);
    let callee_sent_opus = count(&|&(s, _, pt)| s == callee_media && pt == 96);
    let opus_to_caller = count(&|&(_, d, pt)| d == caller_media && pt == 96);
    // The callee accepted only Opus: nothing else (not even telephone-events) reaches it.
    let other_to_callee = count(&|&(_, d, pt)| d == callee_media && pt != 96);
    assert!(
        caller_sent_pcma > 200,
        "PCMA from the caller: {caller_sent_pcma}"
    );
    assert!(
        callee_got_opus > 200,
        "Opus to the callee: {callee_got_opus}"
    );
    assert!(
        callee_sent_opus > 200,
        "Opus echoed by the callee: {callee_sent_opus}"
    );
    assert!(
        caller_got_pcma > 200,
        "PCMA back to the caller: {caller_got_pcma}"
    );
    assert_eq!(
        (opus_to_caller, other_to_callee),
        (0, 0),
        "each side only sees what it accepted"
    );
    assert!(stderr.contains("gateway call: bridged"), "{stderr}");
    // The end of the call is logged with each side's quality, RTCP interval by interval:
    // seven seconds of RTP each way, at least one interval each.
    let ended = stderr
        .lines()
        .find(|l| l.contains("gateway call ended"))
        .unwrap_or_else(|| panic!("no end line: {stderr}"));
    for side in ["caller=MOS ", "callee=MOS "] {
        assert!(ended.contains(side), "{side}: {ended}");
    }
    // Each side's clean stretch scores above 4 (its digit, replayed with sequence numbers of
    // its own, reads as losses in its interval).
    assert_eq!(ended.matches(", highest 4.").count(), 2, "{ended}");
}
