//! Tandem hangs up by itself: a call whose peer sends no RTP for `media.timeout_s` gets a BYE,
//! and so does every call still up when SIGTERM starts the drain. The sipp UAC waits for the
//! BYE and answers it; Tandem exits 0 with nothing left.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::{Ports, Sipp, Tandem, sipp_available};

fn scenario() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp/uac_waits_for_bye.xml")
        .display()
        .to_string()
}

fn assert_no_leaks(stderr: &str) {
    let line = stderr
        .lines()
        .find(|l| l.contains("signalling stopped"))
        .unwrap_or_else(|| panic!("no shutdown line:\n{stderr}"));
    for zero in ["calls_live=0", "dialogs_live=0", "sessions_live=0"] {
        assert!(line.contains(zero), "{zero}: {line}");
    }
}

#[test]
fn a_call_without_rtp_is_hung_up_at_the_media_timeout() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(27);
    let config =
        std::env::temp_dir().join(format!("tandem-sip-hangup-{}.toml", std::process::id()));
    std::fs::write(&config, "[media]\ntimeout_s = 2\n").unwrap();
    let mut args = ports.run_args();
    args.extend(["--config".to_owned(), config.display().to_string()]);
    let tandem = Tandem::start(&args);
    let run = Sipp::new(
        "timeout",
        &scenario(),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(20),
    )
    .args(&[ports.sip_addr().to_string().as_str(), "-s", "echo"])
    .run(Duration::from_secs(25));
    let (status, stderr) = tandem.terminate();
    let _ = std::fs::remove_file(&config);
    assert_eq!(run.code, Some(0), "{}\n{stderr}", run.output);
    assert!(stderr.contains("no RTP within media.timeout_s"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}

#[test]
fn sigterm_hangs_up_the_calls_in_progress_then_exits_0() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(28);
    let tandem = Tandem::start(&ports.run_args());
    let uac = Sipp::new(
        "drain",
        &scenario(),
        ports.peer_sip,
        ports.peer_media,
        1,
        Duration::from_secs(20),
    )
    .args(&[ports.sip_addr().to_string().as_str(), "-s", "echo"])
    .spawn();
    // The call is up well within this (the media timeout is 30 s: only the drain ends it).
    std::thread::sleep(Duration::from_secs(2));
    let (status, stderr) = tandem.terminate();
    let run = uac.wait(Duration::from_secs(10));
    assert_eq!(run.code, Some(0), "{}\n{stderr}", run.output);
    assert!(
        stderr.contains("draining: hanging up every call"),
        "{stderr}"
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_no_leaks(&stderr);
}
