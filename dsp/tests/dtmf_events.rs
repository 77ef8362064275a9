//! DTMF events: RFC 4733-shaped Begin / Update / End events with start timestamps and
//! durations in the caller's time base, independent of how the audio is cut into frames, and
//! the run-time contract of `process` (event buffer sizing, timestamp discontinuities).

mod dtmf_support;

use dtmf_support::*;
use tandem_dsp::dtmf::{
    Digit, DtmfConfig, DtmfDetector, DtmfError, DtmfEvent, DtmfEventKind, DtmfGenerator,
    DtmfGeneratorConfig,
};

/// Silence, then digit `d` for `on_ms`, then silence; returns the PCM and the tone's first
/// sample.
fn one_digit(d: &str, lead: usize, on_ms: u32, rate: u32, level: f64) -> (Vec<i16>, usize) {
    let mut pcm = vec![0i16; lead];
    pcm.extend(digits(d, on_ms, 300, level, 0.0, rate));
    (pcm, lead)
}

/// RFC 4733 §2.5.1: one Begin, Updates at the configured interval with growing durations, one
/// End with the total; all carry the same start. Start within 1 ms and duration within 2 ms of
/// the truth, at every block alignment, levels −3 … −26 dBm0 and 8 and 16 kHz.
#[test]
fn events_report_start_and_duration_to_the_millisecond() {
    for rate in [8000u32, 16000] {
        let ms = rate as usize / 1000;
        for lead in (0..160 * ms).step_by(13 * ms / 2 + 1) {
            for level in [-3.0, -26.0] {
                let (pcm, start) = one_digit("7", lead + 800, 230, rate, level);
                let events = run_detector(DtmfConfig::with_rate(rate), &pcm, rate as usize / 50);
                let kinds: Vec<DtmfEventKind> = events.iter().map(|e| e.kind).collect();
                assert_eq!(kinds.first(), Some(&DtmfEventKind::Begin), "{events:?}");
                assert_eq!(kinds.last(), Some(&DtmfEventKind::End), "{events:?}");
                assert_eq!(
                    kinds
                        .iter()
                        .filter(|&&k| k == DtmfEventKind::Update)
                        .count(),
                    kinds.len() - 2
                );
                for e in &events {
                    assert_eq!(e.digit, Digit::from_char('7').unwrap());
                    let err = e.start as i64 - start as i64;
                    assert!(
                        err.unsigned_abs() as usize <= ms,
                        "start off by {err}: {e:?}"
                    );
                }
                let durations: Vec<u32> = events.iter().map(|e| e.duration).collect();
                assert!(durations.windows(2).all(|w| w[0] <= w[1]), "{durations:?}");
                let end = events.last().unwrap();
                let err = end.duration as i64 - (230 * ms) as i64;
                assert!(
                    err.unsigned_abs() as usize <= 2 * ms,
                    "duration off by {err}"
                );
                // Begin at 32 ms (reported once measured), then an Update every 50 ms.
                let updates = kinds.len() - 2;
                assert!((3..=4).contains(&updates), "{updates} updates: {events:?}");
                let level_err = (end.level_dbm0 - (level as f32 + 3.0)).abs();
                assert!(level_err < 0.5, "level {} for {level}", end.level_dbm0);
                assert_eq!(end.volume(), (-(level + 3.0)).round() as u8);
            }
        }
    }
}

/// Begin comes as soon as the tone is known to be a digit: at most 60 ms after the tone
/// starts (32 ms of tone, plus up to a 20 ms block, plus a block for the first hit).
#[test]
fn begin_is_reported_within_60_ms_of_the_tone_start() {
    for lead in (0..160).step_by(7) {
        let (pcm, start) = one_digit("0", lead + 400, 500, 8000, -10.0);
        let mut det = DtmfDetector::new(DtmfConfig::default()).unwrap();
        let mut events = vec![DtmfEvent::default(); det.events_max(80)];
        let mut begun_at = None;
        for (i, chunk) in pcm.chunks(80).enumerate() {
            let mut frame = chunk.to_vec();
            let n = det.process(i as u64 * 80, &mut frame, &mut events).unwrap();
            if events[..n].iter().any(|e| e.kind == DtmfEventKind::Begin) {
                begun_at = Some((i + 1) * 80);
                break;
            }
        }
        let latency = begun_at.expect("begun") - start;
        assert!(
            latency <= 480,
            "Begin {latency} samples after the tone started"
        );
    }
}

/// The caller's timestamps are used as given: an RTP-style base far from zero shifts every
/// event by exactly that base.
#[test]
fn timestamps_are_the_callers() {
    let (pcm, _) = one_digit("#", 333, 100, 8000, -10.0);
    let base = 4_000_000_000u64;
    let mut det = DtmfDetector::new(DtmfConfig::default()).unwrap();
    let mut events = vec![DtmfEvent::default(); det.events_max(160)];
    let mut shifted = Vec::new();
    for (i, chunk) in pcm.chunks(160).enumerate() {
        let mut frame = chunk.to_vec();
        let n = det
            .process(base + i as u64 * 160, &mut frame, &mut events)
            .unwrap();
        shifted.extend_from_slice(&events[..n]);
    }
    let plain = detect(&pcm, 8000);
    assert_eq!(shifted.len(), plain.len());
    for (a, b) in shifted.iter().zip(&plain) {
        assert_eq!(a.start, b.start + base);
        assert_eq!(a.duration, b.duration);
    }
}

/// The frame size is the caller's business: 1, 7, 80, 160, 333 and 4000-sample frames give
/// identical events.
#[test]
fn frame_size_does_not_change_events() {
    let pcm = digits("1590*#", 70, 60, -12.0, 2.0, 8000);
    let reference = run_detector(DtmfConfig::default(), &pcm, 160);
    assert_eq!(digit_string(&reference), "1590*#");
    for frame in [1, 7, 80, 333, 4000] {
        assert_eq!(
            run_detector(DtmfConfig::default(), &pcm, frame),
            reference,
            "frame {frame}"
        );
    }
    let wide = digits("1590*#", 70, 60, -12.0, 2.0, 16000);
    let reference = run_detector(DtmfConfig::with_rate(16000), &wide, 320);
    for frame in [1, 7, 333] {
        assert_eq!(
            run_detector(DtmfConfig::with_rate(16000), &wide, frame),
            reference,
            "16 kHz frame {frame}"
        );
    }
}

/// A timestamp jump (lost audio) ends the digit in progress where its tone was last seen, and
/// detection restarts cleanly after it.
#[test]
fn timestamp_jump_ends_the_digit_in_progress() {
    let tone = digits("8", 400, 0, -10.0, 0.0, 8000);
    let mut det = DtmfDetector::new(DtmfConfig::default()).unwrap();
    let mut events = vec![DtmfEvent::default(); det.events_max(160)];
    let mut all = Vec::new();
    // 200 ms of the digit, then the stream resumes 1 s later with 200 ms of it again.
    for (i, chunk) in tone[..1600].chunks(160).enumerate() {
        let mut frame = chunk.to_vec();
        let n = det
            .process(i as u64 * 160, &mut frame, &mut events)
            .unwrap();
        all.extend_from_slice(&events[..n]);
    }
    for (i, chunk) in tone[1600..3200].chunks(160).enumerate() {
        let mut frame = chunk.to_vec();
        let n = det
            .process(9600 + i as u64 * 160, &mut frame, &mut events)
            .unwrap();
        all.extend_from_slice(&events[..n]);
    }
    let n = det.flush(&mut events).unwrap();
    all.extend_from_slice(&events[..n]);
    let ends = ends(&all);
    assert_eq!(digit_string(&all), "88", "{all:?}");
    assert_eq!(ends.len(), 2);
    assert!(ends[0].end() <= 1600, "{:?}", ends[0]);
    assert!(ends[1].start >= 9600, "{:?}", ends[1]);
    assert_eq!(det.stats().discontinuities, 1);
}

/// `events_max` bounds every call: a smaller slice is an error and nothing is consumed, so the
/// caller can retry.
#[test]
fn event_buffer_smaller_than_events_max_is_refused() {
    let mut det = DtmfDetector::new(DtmfConfig::default()).unwrap();
    let mut pcm = digits("5", 100, 100, -10.0, 0.0, 8000);
    let needed = det.events_max(pcm.len());
    let mut small = vec![DtmfEvent::default(); needed - 1];
    assert_eq!(
        det.process(0, &mut pcm, &mut small),
        Err(DtmfError::EventBufferTooSmall {
            needed,
            got: needed - 1
        })
    );
    let mut events = vec![DtmfEvent::default(); needed];
    let n = det.process(0, &mut pcm, &mut events).unwrap();
    assert_eq!(digit_string(&events[..n]), "5");
}

/// Construction validates the configuration.
#[test]
fn bad_configurations_are_refused() {
    let bad = |c: DtmfConfig| DtmfDetector::new(c).err();
    assert_eq!(
        bad(DtmfConfig::with_rate(44100)),
        Some(DtmfError::UnsupportedSampleRate { rate_hz: 44100 })
    );
    assert!(matches!(
        bad(DtmfConfig {
            min_tone_ms: 5.0,
            ..DtmfConfig::default()
        }),
        Some(DtmfError::InvalidConfig {
            field: "min_tone_ms"
        })
    ));
    assert!(
        DtmfGenerator::new(DtmfGeneratorConfig {
            sample_rate_hz: 11025,
            ..DtmfGeneratorConfig::default()
        })
        .is_err()
    );
}

/// A long key press gives one digit, with an Update every 50 ms (RFC 4733 §2.5.1.2's
/// suggestion) and an End with the full duration.
#[test]
fn long_key_press_is_one_digit_with_regular_updates() {
    let (pcm, _) = one_digit("C", 160, 2000, 8000, -10.0);
    let events = detect(&pcm, 8000);
    assert_eq!(digit_string(&events), "C");
    let updates: Vec<&DtmfEvent> = events
        .iter()
        .filter(|e| e.kind == DtmfEventKind::Update)
        .collect();
    assert!((37..=40).contains(&updates.len()), "{}", updates.len());
    // Sent at 20 ms block ends, the Updates are 40 or 60 ms apart and average 50 ms.
    for w in updates.windows(2) {
        let step = w[1].duration - w[0].duration;
        assert!((300..=500).contains(&step), "update step {step}");
    }
    let end = ends(&events)[0];
    assert!((end.duration as i64 - 16_000).abs() <= 16);
}

proptest::proptest! {
    /// Any audio, cut into any frames, with timestamps that sometimes jump: `process` never
    /// panics, never writes more than `events_max` events, keeps Begin/End paired per digit,
    /// and (with suppression) returns as many samples as it was given.
    #[test]
    fn process_is_total_over_arbitrary_input(
        frames in proptest::collection::vec(
            (proptest::collection::vec(proptest::prelude::any::<i16>(), 0..400), 0u8..8),
            1..30,
        ),
        wide in proptest::prelude::any::<bool>(),
        suppress in proptest::prelude::any::<bool>(),
        digit_at in 0usize..30,
    ) {
        let rate = if wide { 16000 } else { 8000 };
        let config = DtmfConfig {
            suppression_delay_ms: suppress.then_some(20),
            ..DtmfConfig::with_rate(rate)
        };
        let mut det = DtmfDetector::new(config).unwrap();
        let tone = digits("7", 60, 0, -10.0, 0.0, rate);
        let mut ts = 0u64;
        let mut open = 0i32;
        for (i, (mut frame, jump)) in frames.into_iter().enumerate() {
            if i == digit_at {
                frame.extend_from_slice(&tone);
            }
            if jump == 0 {
                ts += 12_345;
            }
            let mut events = vec![DtmfEvent::default(); det.events_max(frame.len())];
            let len = frame.len();
            let n = det.process(ts, &mut frame, &mut events).unwrap();
            proptest::prop_assert!(n <= events.len());
            proptest::prop_assert_eq!(frame.len(), len);
            for e in &events[..n] {
                match e.kind {
                    DtmfEventKind::Begin => open += 1,
                    DtmfEventKind::End => open -= 1,
                    DtmfEventKind::Update => proptest::prop_assert_eq!(open, 1),
                }
                proptest::prop_assert!((0..=1).contains(&open));
            }
            ts += len as u64;
        }
        let mut events = vec![DtmfEvent::default(); det.events_max(0)];
        let n = det.flush(&mut events).unwrap();
        for e in &events[..n] {
            if e.kind == DtmfEventKind::End {
                open -= 1;
            } else if e.kind == DtmfEventKind::Begin {
                open += 1;
            }
        }
        proptest::prop_assert_eq!(open, 0);
    }
}
