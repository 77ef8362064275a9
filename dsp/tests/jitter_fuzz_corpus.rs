//! Replays the `jitter_buffer` fuzz seed corpus (`fuzz/corpus/jitter_buffer/`) through the
//! fuzz target's entry point on stable Rust, and holds the generator of those seeds.
//! Regenerate them with `cargo test -p tandem-dsp --test jitter_fuzz_corpus -- --ignored`.

use tandem_dsp::jitter::fuzzing::jitter_buffer;
use tandem_test_support::corpus;

#[test]
fn jitter_buffer_corpus_replays() {
    let seeds = corpus::replay("jitter_buffer", |name, bytes| {
        let pops = jitter_buffer(bytes);
        assert!(pops > 0, "{name} pops no frame");
    });
    assert!(seeds >= 9, "jitter_buffer corpus has {seeds} seeds");
}

/// A script step: a packet `seq_step` after the last, `ts_quarter_ms` quarter-milliseconds
/// later in timestamp, with flags `op` (bit 2 marker, bit 3 new SSRC, bits 4-5 payload type
/// choice), a payload of `3 * len` bytes.
fn packet(op: u8, seq_step: i8, ts_quarter_ms: i16, len: u8, fill: u8) -> [u8; 8] {
    let ts = ts_quarter_ms.to_be_bytes();
    [op & !3, seq_step as u8, ts[0], ts[1], 7, len, 31, fill]
}

const POP: [u8; 8] = [3, 0, 0, 0, 0, 0, 0, 0];

/// `count` 20 ms packets, each followed by two pops; with `late`, every 7th comes after the
/// next two (a step back of three in sequence, then on again); with `lost`, every 11th never
/// comes (the next packet steps two).
fn stream(setup: u8, count: usize, late: bool, lost: bool) -> Vec<u8> {
    let mut script = vec![setup];
    let mut seq_step = 1i8;
    let mut held: Option<usize> = None;
    for i in 0..count {
        if lost && i % 11 == 10 {
            seq_step += 1;
        } else if late && i % 7 == 6 {
            held = Some(i);
            seq_step += 1;
        } else {
            // PCMU and G.722 carry 160 bytes per 20 ms; any length decodes.
            let ts = 80 * i16::from(seq_step);
            script.extend_from_slice(&packet(0, seq_step, ts, 53, i as u8));
            seq_step = 1;
            if let Some(h) = held.filter(|&h| i >= h + 2) {
                let back = (i - h) as i8;
                script.extend_from_slice(&packet(0, -back, -80 * i16::from(back), 53, h as u8));
                // Back to the newest packet's numbers: a foreign payload type, no payload.
                script.extend_from_slice(&packet(0x30, back, 80 * i16::from(back), 0, 0));
                held = None;
            }
        }
        script.extend_from_slice(&POP);
        script.extend_from_slice(&POP);
    }
    script
}

/// Writes the seed corpus. Ignored: run by hand when the script format changes.
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = corpus::dir("jitter_buffer");
    std::fs::create_dir_all(&dir).unwrap();
    for codec in 0..3u8 {
        for mode in 0..3u8 {
            let setup = codec | mode << 2;
            let name = ["pcmu", "g722", "opus"][codec as usize];
            let mode_name = ["adaptive", "fixed", "anchored"][mode as usize];
            let script = stream(setup, 60, codec == 0, mode == 1);
            std::fs::write(dir.join(format!("{name}-{mode_name}")), script).unwrap();
        }
    }
    // Garbage: SSRC changes, timestamp jumps, comfort noise, foreign types, empty payloads.
    let mut chaos = vec![0u8];
    for i in 0..80u8 {
        chaos.extend_from_slice(&[
            i.wrapping_mul(37),
            i.wrapping_mul(11),
            i,
            255 - i,
            i,
            i,
            i,
            i,
        ]);
        chaos.extend_from_slice(&POP);
    }
    std::fs::write(dir.join("pcmu-chaos"), chaos).unwrap();
    // A sender whose timestamps leap 1.5 s ahead at packet 20 and 1.5 s back at packet 40,
    // sequence numbers running on: the buffer rejoins its timeline both times.
    let mut jumps = vec![0u8];
    for i in 0..60i16 {
        let ts = match i {
            20 => 80 + 6000,
            40 => 80 - 6000,
            _ => 80,
        };
        jumps.extend_from_slice(&packet(0, 1, ts, 53, i as u8));
        jumps.extend_from_slice(&POP);
        jumps.extend_from_slice(&POP);
    }
    std::fs::write(dir.join("pcmu-timestamp-jumps"), jumps).unwrap();
}
