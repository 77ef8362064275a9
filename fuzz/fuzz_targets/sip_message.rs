//! Fuzzes the SIP message parser: any bytes give a message or a typed error, never a panic;
//! whatever parses prints to a message that parses back equal (and prints the same again),
//! frames as one stream message, and every typed header view that parses re-parses from its
//! own print. The checks live in `tandem_sip::message::fuzzing` so that
//! `sip/tests/message_corpus.rs` replays the seeds on stable Rust.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tandem_sip::message::fuzzing::sip_message(data);
});
