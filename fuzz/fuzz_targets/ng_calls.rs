//! Fuzzes the ng command layer over a real media runtime: the input is a sequence of ng
//! message bodies (bencode, without the cookie) separated by `\n--\n`, carried out one after
//! another on one `Calls` by `tandem::ng::command::handle_sequence`, as the ng listener hands
//! them over, which then deletes every call left. Offers, answers, deletes and the rest meet
//! whatever SDP and options the fuzzer makes of the seeds (Kamailio's own datagrams): no
//! input may panic, nor leave the runtime in a state the next input trips on.
//!
//! One runtime (one worker, 127.0.0.1, RTP ports 47000-47999) and one `Calls` serve every
//! input; recordings go to a temporary directory.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use tandem::ng::Calls;
use tandem::ng::command::handle_sequence;
use tandem::recordings::Recordings;
use tandem::run::media::MediaPolicy;
use tandem_core::runtime::{Runtime, RuntimeConfig};
use tandem_drivers::packet::PortRange;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn calls() -> &'static Mutex<Calls> {
    static CALLS: OnceLock<Mutex<Calls>> = OnceLock::new();
    CALLS.get_or_init(|| {
        let runtime = Arc::new(
            Runtime::start(RuntimeConfig {
                workers: 1,
                pin: false,
                bind: LOOPBACK,
                ports: PortRange::new(47000, 47999).expect("a port range"),
                ..RuntimeConfig::default()
            })
            .expect("the media runtime starts"),
        );
        let dir = std::env::temp_dir().join(format!("tandem-fuzz-ng-calls-{}", std::process::id()));
        let recordings = Recordings::new(Arc::clone(&runtime), dir);
        Mutex::new(
            Calls::new(runtime, MediaPolicy::default(), LOOPBACK).with_recordings(recordings),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let mut calls = calls().lock().unwrap_or_else(|e| e.into_inner());
    handle_sequence(&mut calls, data);
});
