//! Fuzzes the RTP parser: any bytes give a checked packet or a typed error, never a panic;
//! whatever parses re-emits to the same header and payload, and its payload and header values
//! go through the telephone-event, comfort noise, source, statistics and rewriting logic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tandem_core::rtp::fuzzing::rtp_parse(data);
});
