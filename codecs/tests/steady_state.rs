//! The real-time contract, checked: once built and warmed up, transcoders of every kind
//! allocate nothing per frame, and decoders survive any payload without panicking.
//!
//! A counting global allocator wraps the system one; the test fails on any allocation made
//! while the steady-state loop runs on this thread.

use proptest::prelude::*;
use tandem_codecs::{EncoderConfig, Format, Transcoder, TranscoderConfig, registry};
use tandem_test_support::alloc::{Counting, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn tone(rate: u32, ms: u32) -> Vec<i16> {
    (0..(rate * ms / 1000) as usize)
        .map(|i| ((i as f64 * 0.07).sin() * 9000.0) as i16)
        .collect()
}

#[test]
fn transcoding_allocates_nothing_in_steady_state() {
    let pairs = [
        (Format::PCMU, 20, Format::opus(48000), 20),
        (Format::opus(48000), 20, Format::PCMA, 30),
        (Format::G722, 20, Format::opus(16000), 60),
        (Format::PCMA, 20, Format::G722, 10),
        (Format::l16(48000), 10, Format::PCMU, 20),
        (Format::PCMU, 20, Format::PCMU, 40),
        (Format::opus(16000), 20, Format::opus(48000), 30),
    ];
    for (from, from_ptime, to, to_ptime) in pairs {
        // Input payloads are prepared before counting.
        let mut encoder = registry::new_encoder(from, &EncoderConfig::default()).unwrap();
        let frame = from.samples_in_ms(from_ptime);
        let pcm = tone(from.sample_rate, 2000);
        let mut buf = vec![
            0u8;
            from.descriptor()
                .max_payload_len(from.sample_rate, from_ptime)
        ];
        let input: Vec<Vec<u8>> = pcm
            .chunks_exact(frame)
            .map(|f| {
                let n = encoder.encode(f, &mut buf).unwrap();
                buf[..n].to_vec()
            })
            .collect();
        let config = TranscoderConfig {
            from,
            from_ptime_ms: from_ptime,
            to,
            to_ptime_ms: to_ptime,
            encoder: EncoderConfig::default(),
        };
        let mut t = Transcoder::new(&config).unwrap();
        let mut out = vec![0u8; t.max_payload_len()];
        let (warm_up, steady) = input.split_at(input.len() / 4);
        for p in warm_up {
            t.push(p).unwrap();
            while t.pop(&mut out).unwrap().is_some() {}
        }
        let window = Counting::start();
        for (i, p) in steady.iter().enumerate() {
            if i % 7 == 3 {
                t.push_lost();
            } else if i % 11 == 5 && i + 1 < steady.len() {
                t.push_lost_before(from_ptime, &steady[i + 1]);
            } else {
                t.push(p).unwrap();
            }
            while t.pop(&mut out).unwrap().is_some() {}
        }
        let allocated = window.finish().count;
        assert_eq!(
            allocated, 0,
            "{from} -> {to}: {allocated} allocations in steady state"
        );
    }
}

proptest! {
    /// Any bytes, any length: every decoder returns a result, never panics, and never writes
    /// more samples than it reports.
    #[test]
    fn decoders_survive_any_payload(payload in proptest::collection::vec(any::<u8>(), 0..1500)) {
        for d in registry::built() {
            for &rate in d.sample_rates {
                let format = Format { codec: d.id, sample_rate: rate };
                let mut decoder = registry::new_decoder(format).unwrap();
                let mut pcm = vec![0i16; format.samples_in_ms(120) + 1];
                if let Ok(n) = decoder.decode(&payload, &mut pcm) {
                    prop_assert!(n <= pcm.len());
                }
                let n = decoder.conceal(&mut pcm[..format.samples_in_ms(20)]);
                prop_assert!(n <= format.samples_in_ms(20));
            }
        }
    }

    /// Any payload pushed into a transcoder is decoded or rejected, never a panic.
    #[test]
    fn transcoders_survive_any_payload(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 1..8)
    ) {
        for (from, to) in [(Format::opus(48000), Format::PCMU), (Format::G722, Format::PCMA), (Format::PCMU, Format::PCMU)] {
            let config = TranscoderConfig { from, from_ptime_ms: 20, to, to_ptime_ms: 20, encoder: EncoderConfig::default() };
            let mut t = Transcoder::new(&config).unwrap();
            let mut out = vec![0u8; t.max_payload_len()];
            for p in &payloads {
                let _ = t.push(p);
                while let Ok(Some(_)) = t.pop(&mut out) {}
            }
        }
    }
}
