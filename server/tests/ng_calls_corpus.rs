//! Replays the `ng_calls` fuzz seed corpus (`fuzz/corpus/ng_calls/`) through the fuzz
//! target's entry point (`tandem::ng::command::handle_sequence`) over a real media runtime, on
//! stable Rust: every seed runs without a panic, and leaves no call behind.
//!
//! The seeds are sequences of Kamailio's own datagrams (offer, answer, DTMF, re-offer,
//! delete); the ones whose names start with `ok-` must get an `ok` reply to every message
//! (`seq-` seeds need not: they feed the fuzzer odd options).
//! Add crashers found by `cargo fuzz run ng_calls` here with a descriptive name.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use tandem::ng::Calls;
use tandem::ng::bencode::Value;
use tandem::ng::command::{handle, handle_sequence};
use tandem::recordings::Recordings;
use tandem::run::media::MediaPolicy;

use support::Ports;
use support::ng::loopback_runtime;

#[test]
fn ng_calls_corpus_replays() {
    let ports = Ports::for_test(43);
    let runtime = loopback_runtime(ports.rtp_min, ports.rtp_max);
    let recordings = Recordings::new(
        Arc::clone(&runtime),
        std::env::temp_dir().join(format!("tandem-ng-calls-corpus-{}", std::process::id())),
    );
    let mut calls = Calls::new(
        Arc::clone(&runtime),
        MediaPolicy::default(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    )
    .with_recordings(recordings);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ng_calls");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let replies = handle_sequence(&mut calls, &std::fs::read(&path).unwrap());
        if name.starts_with("ok-") {
            for (i, reply) in replies.iter().enumerate() {
                let result = reply.get("result").and_then(Value::as_str);
                assert_eq!(result, Some("ok"), "seed {name}, message {i}: {reply:?}");
            }
        }
        let listed = handle(&mut calls, b"d7:command4:list5:limiti100ee");
        let left = listed
            .get("calls")
            .and_then(Value::as_list)
            .map(<[Value]>::len);
        assert_eq!(left, Some(0), "seed {name} left calls behind");
        seeds += 1;
    }
    assert!(seeds >= 4, "{} holds {seeds} seeds", dir.display());
}
