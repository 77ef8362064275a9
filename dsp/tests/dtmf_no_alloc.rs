//! The real-time contract of the DTMF and tone blocks, as a test rather than a promise
//! (STYLE.md, "allocation-failing test"): once built, `DtmfDetector::process` (with
//! suppression, at 8 and 16 kHz), `flush`, `DtmfGenerator::generate_into`,
//! `ToneGenerator::generate_into`, `FaxToneDetector::process` and
//! `CallProgressDetector::process` perform no heap allocation, over seconds of digits, tones,
//! noise and silence.

mod dtmf_support;

use dtmf_support::*;
use tandem_dsp::dtmf::{DtmfConfig, DtmfDetector, DtmfEvent, DtmfGenerator, DtmfGeneratorConfig};
use tandem_dsp::tone::{
    CallProgressConfig, CallProgressDetector, CallProgressEvent, CallProgressTone, Country,
    FaxToneDetector, FaxToneEvent, ToneGenerator,
};
use tandem_test_support::alloc::{CountingAllocator, allocations_in};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// STYLE.md rule 2 and the crate's real-time contract: the per-frame calls never allocate.
#[test]
fn per_frame_calls_never_allocate() {
    // The counter counts.
    assert_eq!(
        allocations_in(|| {
            std::hint::black_box(vec![1u8; 10]);
        })
        .count,
        1
    );
    for rate in [8000u32, 16000] {
        let frame = rate as usize / 50;
        // Material, built before counting: digits, a dial tone, noise, silence, a fax tone.
        let mut material = digits("0123456789*#ABCD", 45, 45, -10.0, 0.0, rate);
        let mut dial = ToneGenerator::new(rate, Country::Us.tone(CallProgressTone::Busy)).unwrap();
        let mut tone = vec![0i16; 3 * rate as usize];
        dial.generate_into(&mut tone);
        material.extend_from_slice(&tone);
        material.extend(to_pcm(&white_noise(rate as usize, 1.0e6, 9)));
        material.extend(vec![0i16; rate as usize / 2]);

        let mut detector = DtmfDetector::new(DtmfConfig {
            suppression_delay_ms: Some(40),
            ..DtmfConfig::with_rate(rate)
        })
        .unwrap();
        let mut events = vec![DtmfEvent::default(); detector.events_max(frame)];
        let mut generator = DtmfGenerator::new(DtmfGeneratorConfig {
            sample_rate_hz: rate,
            ..DtmfGeneratorConfig::default()
        })
        .unwrap();
        let mut tones =
            ToneGenerator::new(rate, Country::Uk.tone(CallProgressTone::Congestion)).unwrap();
        let mut fax = FaxToneDetector::new(rate).unwrap();
        let mut fax_events = vec![FaxToneEvent::default(); fax.events_max(frame)];
        let mut progress = CallProgressDetector::new(CallProgressConfig {
            sample_rate_hz: rate,
            ..CallProgressConfig::new(Country::Us)
        })
        .unwrap();
        let mut progress_events = vec![CallProgressEvent::default(); progress.events_max(frame)];
        let mut buf = vec![0i16; frame];
        let mut out = vec![0i16; frame];
        let mut reported = 0;

        let n = allocations_in(|| {
            for (i, chunk) in material.chunks_exact(frame).enumerate() {
                let ts = (i * frame) as u64;
                buf.copy_from_slice(chunk);
                reported += detector.process(ts, &mut buf, &mut events).unwrap_or(0);
                reported += fax.process(ts, chunk, &mut fax_events).unwrap_or(0);
                reported += progress
                    .process(ts, chunk, &mut progress_events)
                    .unwrap_or(0);
                if generator.is_idle() {
                    let _ = generator.push_digits("159#");
                }
                generator.generate_into(&mut out);
                tones.generate_into(&mut out);
            }
            reported += detector.flush(&mut events).unwrap_or(0);
        })
        .count;
        assert_eq!(n, 0, "{rate} Hz: {n} allocations in the per-frame calls");
        assert!(
            reported >= 32,
            "{rate} Hz: the blocks did work ({reported} events)"
        );
    }
}
