//! The sipp helper the end-to-end tests drive their SIP peers with: a real sipp UAC calls a
//! real sipp UAS through it, and the stat file is read back. (No Tandem here: this pins the
//! helper, so a failing Tandem test never has to be debugged through a broken harness.)

mod support;

use std::time::Duration;

use support::{Ports, Sipp, SippStats, sipp_available};

#[test]
fn stat_files_are_read_by_column_from_the_last_line() {
    let text = "StartTime;TotalCallCreated;SuccessfulCall(C);FailedCall(C);\n\
                2026-01-01;0;0;0;\n\
                2026-01-01;20;19;1;\n";
    let stats = SippStats::parse(text).unwrap();
    assert_eq!(
        (stats.created(), stats.successful(), stats.failed()),
        (20, 19, 1)
    );
    assert_eq!(stats.counter("StartTime"), None);
    assert!(SippStats::parse("StartTime;TotalCallCreated;\n").is_none());
    assert!(SippStats::parse("").is_none());
}

#[test]
fn a_sipp_uac_calls_a_sipp_uas_through_the_helper() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    let ports = Ports::for_test(10);
    let limit = Duration::from_secs(20);
    // The built-in UAS ends each call with a 4 s timewait, then exits after its one call.
    let uas = Sipp::new("uas", "uas", ports.peer_sip, ports.peer_media, 1, limit).spawn();
    std::thread::sleep(Duration::from_millis(300));
    let uac = Sipp::new("uac", "uac", ports.sip, ports.peer_media + 10, 1, limit)
        .args(&[
            format!("127.0.0.1:{}", ports.peer_sip).as_str(),
            "-d",
            "200",
        ])
        .run(limit);
    let stats = uac.stats.as_ref().expect("the UAC wrote its stat file");
    assert_eq!(uac.code, Some(0), "{}", uac.output);
    assert_eq!(
        (stats.created(), stats.successful(), stats.failed()),
        (1, 1, 0)
    );
    let uas = uas.wait(limit);
    assert_eq!(uas.code, Some(0), "{}", uas.output);
    assert_eq!(uas.stats.map(|s| s.successful()), Some(1));
}
