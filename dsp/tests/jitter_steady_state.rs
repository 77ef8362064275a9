//! The real-time contract, checked: once built, jitter buffers allocate nothing in `push` and
//! `pop`, whatever the network does (jitter, loss, reordering, duplicates, a stall, a silence
//! with comfort noise, an SSRC change), for codecs with our concealment and with their own.
//!
//! A counting global allocator wraps the system one; the test fails on any allocation made on
//! this thread while the loop runs.

use tandem_codecs::{EncoderConfig, Format, registry};
use tandem_dsp::jitter::{JitterBuffer, JitterConfig, PlayoutMode, RtpPacket};
use tandem_test_support::alloc::{Counting, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

struct Delivery {
    at_us: u64,
    seq: u16,
    ts: u32,
    ssrc: u32,
    pt: u8,
    payload: Vec<u8>,
}

/// Ten seconds of a rough network, prepared before counting starts.
fn deliveries(format: Format, pt: u8) -> Vec<Delivery> {
    let mut encoder = registry::new_encoder(format, &EncoderConfig::default()).unwrap();
    let frame = format.samples_in_ms(20);
    let ts_step = format.descriptor().rtp_clock_rate(format.sample_rate) / 50;
    let mut buf = vec![0u8; 4000];
    let mut seed = 0x5eed_u64;
    let mut rand = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut out = Vec::new();
    for i in 0..500u32 {
        let pcm: Vec<i16> = (0..frame)
            .map(|k| {
                let t = (i as usize * frame + k) as f64 / format.sample_rate as f64;
                ((t * 2.0 * std::f64::consts::PI * 140.0).sin() * 6000.0) as i16
            })
            .collect();
        let n = encoder.encode(&pcm, &mut buf).unwrap();
        let sent = u64::from(i + 1) * 20_000;
        // Silence between 4 and 5 s: one comfort-noise packet, then nothing.
        if (200..250).contains(&i) {
            if i == 200 {
                out.push(Delivery {
                    at_us: sent + 30_000,
                    seq: i as u16,
                    ts: i * ts_step,
                    ssrc: 1,
                    pt: 13,
                    payload: vec![60, 120, 130],
                });
            }
            continue;
        }
        if rand(100) < 4 {
            continue;
        }
        let mut at = sent + 30_000 + rand(40_000);
        // A 200 ms stall at 2 s.
        if (100..110).contains(&i) {
            at = 2_000_000 + 30_000 + 200_000;
        }
        // A new SSRC with its own numbering from 8 s.
        let (ssrc, seq, ts) = if i >= 400 {
            (2, 30_000 + i as u16, 77 + i * ts_step)
        } else {
            (1, i as u16, i * ts_step)
        };
        let payload = buf[..n].to_vec();
        if rand(100) < 3 {
            out.push(Delivery {
                at_us: at + 5_000,
                seq,
                ts,
                ssrc,
                pt,
                payload: payload.clone(),
            });
        }
        out.push(Delivery {
            at_us: at,
            seq,
            ts,
            ssrc,
            pt,
            payload,
        });
    }
    out.sort_by_key(|d| d.at_us);
    out
}

#[test]
fn push_and_pop_allocate_nothing() {
    let cases = [
        (Format::PCMU, 0, PlayoutMode::Adaptive),
        (Format::G722, 9, PlayoutMode::Adaptive),
        (Format::opus(16000), 111, PlayoutMode::Adaptive),
        (Format::PCMA, 8, PlayoutMode::Fixed { delay_ms: 60 }),
        (Format::PCMA, 8, PlayoutMode::Anchored { delay_ms: 60 }),
    ];
    for (format, pt, mode) in cases {
        let input = deliveries(format, pt);
        let mut config = JitterConfig::new(pt);
        config.mode = mode;
        let mut jb = JitterBuffer::new(format, &config).unwrap();
        let mut pcm = vec![0i16; jb.frame_samples()];
        let window = Counting::start();
        let mut next = 0;
        let mut now = 0u64;
        while now < 11_000_000 {
            while next < input.len() && input[next].at_us <= now {
                let d = &input[next];
                let packet = RtpPacket {
                    sequence_number: d.seq,
                    timestamp: d.ts,
                    marker: false,
                    ssrc: d.ssrc,
                    payload_type: d.pt,
                    payload: &d.payload,
                };
                let _ = jb.push(d.at_us, &packet);
                next += 1;
            }
            jb.pop(now, &mut pcm).unwrap();
            now += 10_000;
        }
        let allocated = window.finish().count;
        let stats = *jb.stats();
        assert_eq!(allocated, 0, "{format}: allocated while running");
        assert!(stats.packets_played > 300, "{format}: {stats:?}");
        assert!(
            stats.frames_concealed > 0 && stats.stream_resets == 1,
            "{format}: {stats:?}"
        );
    }
}
