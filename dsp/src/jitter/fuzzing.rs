//! The entry point of the `jitter_buffer` fuzz target and its corpus replay test
//! (`dsp/tests/jitter_fuzz_corpus.rs`), compiled in normal builds so the replay runs on stable.
//! Not API: hidden from the docs.
//!
//! The input is a script: a first byte choosing the codec and the playout mode, then 8-byte
//! steps, each either a packet arriving (its sequence number, timestamp, SSRC, payload type,
//! marker and payload all derived from the step's bytes, so duplicates, reordering, jumps,
//! SSRC changes, foreign payload types and garbage payloads all occur) or the clock moving on
//! by one 10 ms frame, which pops one. The buffer must never panic and every pop must fill
//! its frame. (The delay bound is the property test's, `dsp/tests/jitter_properties.rs`:
//! here a timestamp may leap ahead within one stream by less than what the buffer takes for
//! a jump, the maximum delay plus 0.2 s, and the reported delay,
//! measured from the stream position being played, then exceeds the maximum until playout
//! reaches the packet after the leap, which itself waits no longer than the target.)

use tandem_codecs::Format;

use super::{JitterBuffer, JitterConfig, PlayoutMode, RtpPacket};

/// Bytes per script step.
const STEP: usize = 8;
/// The maximum delay the buffer is configured with.
const MAX_DELAY_MS: u32 = 300;

/// Runs the script in `data` through a jitter buffer; returns the number of frames popped.
pub fn jitter_buffer(data: &[u8]) -> usize {
    let Some((&setup, steps)) = data.split_first() else {
        return 0;
    };
    let (format, payload_type) = match setup & 3 {
        0 => (Format::PCMU, 0),
        1 => (Format::G722, 9),
        _ => (Format::opus(16000), 111),
    };
    let mode = match (setup >> 2) % 3 {
        0 => PlayoutMode::Adaptive,
        1 => PlayoutMode::Fixed { delay_ms: 60 },
        _ => PlayoutMode::Anchored { delay_ms: 60 },
    };
    let mut config = JitterConfig::new(payload_type);
    config.max_delay_ms = MAX_DELAY_MS;
    config.mode = mode;
    let mut jb = JitterBuffer::new(format, &config).expect("a valid configuration");
    let mut pcm = vec![0i16; jb.frame_samples()];
    // RTP timestamps count the codec's RTP clock (8 kHz for G.722, 48 kHz for Opus).
    let ts_per_ms = format.descriptor().rtp_clock_rate(format.sample_rate) / 1000;
    let mut payload = [0u8; 400];
    let (mut now_us, mut arrival_us) = (0u64, 0u64);
    let (mut seq, mut ts, mut ssrc) = (1000u16, 5000u32, 0x5eedu32);
    let mut pops = 0;
    for step in steps.chunks_exact(STEP) {
        let op = step[0];
        if op & 3 == 3 {
            now_us += 10_000;
            jb.pop(now_us, &mut pcm)
                .expect("a frame of the right length");
            pops += 1;
            continue;
        }
        // Mostly the next packet, sometimes a step back or a jump.
        seq = seq.wrapping_add(i8::from_ne_bytes([step[1]]) as u16);
        let ts_step = i16::from_be_bytes([step[2], step[3]]);
        ts = ts.wrapping_add((i32::from(ts_step) * ts_per_ms as i32 / 4) as u32);
        if op & 8 != 0 {
            ssrc = ssrc.wrapping_add(u32::from(step[4]));
        }
        let pt = match (op >> 4) & 3 {
            0 | 1 => payload_type,
            2 => 13,
            _ => step[4] & 0x7f,
        };
        let len = (usize::from(step[5]) * 3) % payload.len();
        for (i, b) in payload[..len].iter_mut().enumerate() {
            *b = step[6].wrapping_mul(i as u8).wrapping_add(step[7]);
        }
        let packet = RtpPacket {
            sequence_number: seq,
            timestamp: ts,
            marker: op & 4 != 0,
            ssrc,
            payload_type: pt,
            payload: &payload[..len],
        };
        // Time only moves forward (the buffer's contract): arrivals are stamped in order,
        // within the frame before the next pop.
        arrival_us = (arrival_us.max(now_us) + u64::from(step[7] % 4) * 1000).min(now_us + 9_000);
        let _ = jb.push(arrival_us, &packet);
    }
    pops
}
