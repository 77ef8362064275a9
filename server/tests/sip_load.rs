//! sipp load against `tandem run` on loopback: a sustained call rate with zero failed calls,
//! 1,000 concurrent calls, and an overload run past `limits.max_calls` that is refused with
//! 503 (and nothing else). Tandem answers OPTIONS after each run, exits 0, and its shutdown
//! line shows nothing leaked.

mod support;

use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::{Ports, Sipp, Tandem, sipp_available};

/// `tandem run` flags for test `n` with a media port range of its own (load needs more
/// ports than [`Ports::for_test`] gives: two per call).
fn args(ports: &Ports, rtp: &str, workers: &str, config: Option<&str>) -> Vec<String> {
    let mut args = ports.run_args();
    let at = args.iter().position(|a| a == "--rtp-ports").unwrap();
    args[at + 1] = rtp.to_owned();
    let at = args.iter().position(|a| a == "--workers").unwrap();
    args[at + 1] = workers.to_owned();
    if let Some(text) = config {
        let path = std::env::temp_dir().join(format!(
            "tandem-sip-load-{}-{}.toml",
            std::process::id(),
            ports.sip
        ));
        std::fs::write(&path, text).unwrap();
        args.extend(["--config".to_owned(), path.display().to_string()]);
    }
    args
}

/// True when an OPTIONS to `ports` gets a 200 within 2 s.
fn answers_options(ports: &Ports) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let local = socket.local_addr().unwrap();
    let options = format!(
        "OPTIONS sip:{0} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-load\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=p\r\nTo: <sip:{0}>\r\n\
         Call-ID: load-probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ports.sip_addr()
    );
    socket
        .send_to(options.as_bytes(), ports.sip_addr())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            if buf[..n].starts_with(b"SIP/2.0 200 ") {
                return true;
            }
        }
    }
    false
}

/// The shutdown line's counters.
fn shutdown_counter(stderr: &str, key: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("signalling stopped"))
        .unwrap_or_else(|| panic!("no shutdown line:\n{stderr}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

fn assert_no_leaks(stderr: &str) {
    for key in ["calls_live", "dialogs_live", "sessions_live", "rooms_live"] {
        assert_eq!(shutdown_counter(stderr, key), 0, "{key}:\n{stderr}");
    }
}

#[test]
fn a_sustained_call_rate_to_echo_has_no_failed_call() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(24);
    let tandem = Tandem::start(&args(&ports, "50000-51999", "1", None));
    let run = Sipp::new(
        "load",
        "uac",
        ports.peer_sip,
        ports.peer_media,
        200,
        Duration::from_secs(40),
    )
    .args(&[
        ports.sip_addr().to_string().as_str(),
        "-s",
        "echo",
        "-r",
        "20",
        "-l",
        "50",
        "-d",
        "2000",
    ])
    .run(Duration::from_secs(45));
    assert!(answers_options(&ports), "OPTIONS after the run");
    let (status, stderr) = tandem.terminate();
    let stats = run.stats.expect("a stat file");
    assert_eq!(run.code, Some(0), "{}\n{stderr}", run.output);
    assert_eq!(
        (stats.created(), stats.successful(), stats.failed()),
        (200, 200, 0)
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(shutdown_counter(&stderr, "calls_answered"), 200);
    assert_no_leaks(&stderr);
}

#[test]
fn calls_past_max_calls_get_503_and_the_others_are_served() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(25);
    let config = "[limits]\nmax_calls = 5\nretry_after_s = 3\n";
    let tandem = Tandem::start(&args(&ports, "56100-56999", "1", Some(config)));
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac_accepts_503.xml");
    let run = Sipp::new(
        "overload",
        &scenario.display().to_string(),
        ports.peer_sip,
        ports.peer_media,
        60,
        Duration::from_secs(30),
    )
    .args(&[
        ports.sip_addr().to_string().as_str(),
        "-s",
        "echo",
        "-r",
        "40",
        "-l",
        "30",
        "-d",
        "1000",
    ])
    .run(Duration::from_secs(35));
    assert!(answers_options(&ports), "OPTIONS after the overload");
    let (status, stderr) = tandem.terminate();
    let stats = run.stats.expect("a stat file");
    // Every call ended as the scenario expects: 200 then BYE, or 503.
    assert_eq!(run.code, Some(0), "{}\n{stderr}", run.output);
    assert_eq!((stats.created(), stats.failed()), (60, 0));
    let refused = shutdown_counter(&stderr, "rejected_overload");
    let answered = shutdown_counter(&stderr, "calls_answered");
    assert!(
        refused > 0,
        "no 503 at 30 calls with max_calls = 5:\n{stderr}"
    );
    assert_eq!(refused + answered, 60, "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}

/// 1,000 calls up at once (the issue's target): started at 250 per second, each held 6 s, so
/// all are up together from the 4th to the 6th second (about 10 s in all).
#[test]
fn a_thousand_concurrent_calls_to_echo() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(26);
    let tandem = Tandem::start(&args(&ports, "52000-55999", "2", None));
    let started = Instant::now();
    let run = Sipp::new(
        "thousand",
        "uac",
        ports.peer_sip,
        ports.peer_media,
        1000,
        Duration::from_secs(90),
    )
    .args(&[
        ports.sip_addr().to_string().as_str(),
        "-s",
        "echo",
        "-r",
        "250",
        "-l",
        "1000",
        "-d",
        "6000",
    ])
    .run(Duration::from_secs(95));
    let took = started.elapsed();
    assert!(answers_options(&ports), "OPTIONS after the run");
    let (status, stderr) = tandem.terminate();
    let stats = run.stats.expect("a stat file");
    eprintln!(
        "1000 calls: {took:?}, created {} ok {} failed {}, peak concurrent {}",
        stats.created(),
        stats.successful(),
        stats.failed(),
        shutdown_counter(&stderr, "calls_peak"),
    );
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert_eq!((stats.successful(), stats.failed()), (1000, 0));
    assert_eq!(shutdown_counter(&stderr, "calls_peak"), 1000, "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}

#[test]
fn calls_the_runtime_has_no_ports_for_get_503_and_the_others_are_served() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(19);
    // Four media ports: room for two legs (RTP and RTCP each), whatever the limits say.
    let tandem = Tandem::start(&args(&ports, "56000-56003", "1", None));
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/uac_accepts_503.xml");
    let run = Sipp::new(
        "no-ports",
        &scenario.display().to_string(),
        ports.peer_sip,
        ports.peer_media,
        10,
        Duration::from_secs(20),
    )
    .args(&[
        ports.sip_addr().to_string().as_str(),
        "-s",
        "echo",
        "-r",
        "10",
        "-l",
        "10",
        "-d",
        "2000",
    ])
    .run(Duration::from_secs(25));
    assert!(answers_options(&ports), "OPTIONS after the run");
    let (status, stderr) = tandem.terminate();
    let stats = run.stats.expect("a stat file");
    assert_eq!(run.code, Some(0), "{}\n{stderr}", run.output);
    assert_eq!((stats.created(), stats.failed()), (10, 0));
    let refused = shutdown_counter(&stderr, "rejected_overload");
    let answered = shutdown_counter(&stderr, "calls_answered");
    assert!(
        refused > 0 && answered >= 2,
        "refused {refused}, answered {answered}:\n{stderr}"
    );
    assert_eq!(refused + answered, 10, "{stderr}");
    assert!(stderr.contains("no media leg"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}
