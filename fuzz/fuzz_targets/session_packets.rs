//! Fuzzes live sessions: datagrams of any shape thrown at the legs of a relay, a transcoder,
//! a conference and an echo on one worker never panic it, are each counted once by their
//! leg, and never disturb the relay beside them (`tandem_core::session::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tandem_core::session::fuzzing::session_packets(data);
});
