//! Fuzzes the RTCP compound parser: any bytes give a compound or a typed error, never a
//! panic; every SR, RR, SDES and BYE that parses re-emits and parses back to the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tandem_core::rtp::fuzzing::rtcp_parse(data);
});
