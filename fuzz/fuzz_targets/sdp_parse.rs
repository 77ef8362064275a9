//! Fuzzes the SDP parser and the offer/answer logic: any bytes give a session description or
//! a typed error, never a panic; whatever parses prints to SDP that parses back equal (and
//! prints the same again), is answered against a fixed policy, and that answer passes the
//! offerer's checks and agrees with the answerer stream by stream. The checks live in
//! `tandem_sip::sdp::fuzzing` so that `sip/tests/sdp_corpus.rs` replays the seeds on stable Rust.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tandem_sip::sdp::fuzzing::sdp_parse(data);
});
