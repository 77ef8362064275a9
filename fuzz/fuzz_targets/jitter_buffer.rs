//! Fuzzes the jitter buffer: a script of packet arrivals (any sequence numbers, timestamps,
//! SSRCs, payload types and payloads) and 10 ms pops, for PCMU, G.722 and Opus in every
//! playout mode; never a panic, every pop a whole frame, the delay within its maximum.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tandem_dsp::jitter::fuzzing::jitter_buffer(data);
});
