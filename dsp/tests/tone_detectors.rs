//! Fax tone detection (ITU-T T.30 CNG 1100 Hz and CED 2100 Hz, V.25 phase reversals, V.8
//! ANSam) and call-progress tone classification (dial, ringback, busy, congestion by frequency
//! and cadence) on our generator's tones, sox-synthesised tones, noise, speech and DTMF.

mod dtmf_support;

use dtmf_support::*;
use tandem_dsp::tone::{
    CallProgressConfig, CallProgressDetector, CallProgressEvent, CallProgressTone, Country,
    FaxTone, FaxToneDetector, FaxToneEvent, ToneGenerator, ToneSpec, dbm0_to_peak,
};

fn fax_events(pcm: &[i16], rate: u32) -> Vec<FaxToneEvent> {
    let mut det = FaxToneDetector::new(rate).unwrap();
    let frame = rate as usize / 50;
    let mut events = vec![FaxToneEvent::default(); det.events_max(frame)];
    let mut out = Vec::new();
    for (i, chunk) in pcm.chunks(frame).enumerate() {
        let n = det.process((i * frame) as u64, chunk, &mut events).unwrap();
        out.extend_from_slice(&events[..n]);
    }
    out
}

fn progress_events(pcm: &[i16], country: Country, rate: u32) -> Vec<CallProgressEvent> {
    let config = CallProgressConfig {
        sample_rate_hz: rate,
        ..CallProgressConfig::new(country)
    };
    let mut det = CallProgressDetector::new(config).unwrap();
    let frame = rate as usize / 50;
    let mut events = vec![CallProgressEvent::default(); det.events_max(frame)];
    let mut out = Vec::new();
    for (i, chunk) in pcm.chunks(frame).enumerate() {
        let n = det.process((i * frame) as u64, chunk, &mut events).unwrap();
        out.extend_from_slice(&events[..n]);
    }
    out
}

/// A sine at `freq` and `level` for `ms`, optionally with 180° phase reversals every
/// `reversal_ms` (V.25) and 15 Hz amplitude modulation of depth `am` (V.8 ANSam: 20 %).
fn tone(freq: f64, level: f64, ms: f64, reversal_ms: Option<f64>, am: f64, rate: u32) -> Vec<f64> {
    let n = (ms * f64::from(rate) / 1000.0) as usize;
    let a = dbm0_to_peak(level);
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let flips = reversal_ms.map_or(0, |r| (t * 1000.0 / r) as u64);
            let sign = if flips % 2 == 1 { -1.0 } else { 1.0 };
            let env = 1.0 + am * (2.0 * std::f64::consts::PI * 15.0 * t).sin();
            sign * a * env * (2.0 * std::f64::consts::PI * freq * t).sin()
        })
        .collect()
}

/// T.30 §5.2: CNG, 1100 Hz, 0.5 s on 3 s off, is reported once per burst, with the burst's
/// start within 20 ms and duration within 40 ms, at −10 and −40 dBm0 and 8/16 kHz.
#[test]
fn cng_bursts_are_reported() {
    const CNG: &[(u32, u32)] = &[(500, 3000)];
    for rate in [8000u32, 16000] {
        for level in [-10.0f32, -40.0] {
            let spec = ToneSpec::single(1100.0, level, tandem_dsp::tone::Cadence::Repeat(CNG));
            let mut g = ToneGenerator::new(rate, spec).unwrap();
            let mut pcm = vec![0i16; 8 * rate as usize];
            let lead = 1234 * rate as usize / 8000;
            g.generate_into(&mut pcm[lead..]);
            let events = fax_events(&pcm, rate);
            assert_eq!(events.len(), 3, "{rate} Hz {level} dBm0: {events:?}");
            let per_ms = rate as i64 / 1000;
            for (k, e) in events.iter().enumerate() {
                assert_eq!(e.tone, FaxTone::Cng);
                let want = lead as i64 + k as i64 * 3500 * per_ms;
                assert!(
                    (e.start as i64 - want).abs() <= 20 * per_ms,
                    "{e:?} vs {want}"
                );
                assert!(
                    (i64::from(e.duration) - 500 * per_ms).abs() <= 40 * per_ms,
                    "{e:?}"
                );
            }
        }
    }
}

/// CNG from sox (`synth 0.5 sine 1100`, 3 s pause) in white noise at 10 dB SNR.
#[test]
fn cng_from_sox_in_noise_is_reported() {
    let mut pcm = Vec::new();
    for _ in 0..2 {
        pcm.extend(sox_synth(
            8000,
            &[
                "synth", "0.5", "sine", "1100", "vol", "-15dB", "pad", "0.3", "3",
            ],
        ));
    }
    let x = to_f64(&pcm);
    let tone_ms = (32767.0 * 10f64.powf(-15.0 / 20.0)).powi(2) / 2.0;
    let noisy = to_pcm(&add(&x, &white_noise(x.len(), tone_ms / 10.0, 3)));
    let events = fax_events(&noisy, 8000);
    assert_eq!(
        events.iter().filter(|e| e.tone == FaxTone::Cng).count(),
        2,
        "{events:?}"
    );
}

/// T.30: CED, 2100 Hz for 2.6-4 s, is reported once, 500 ms after it starts, plain, with V.25
/// phase reversals every 450 ms, and as V.8 ANSam (15 Hz AM, 20 %).
#[test]
fn ced_is_reported_once_after_500_ms() {
    for (name, reversal, am) in [
        ("plain", None, 0.0),
        ("V.25", Some(450.0), 0.0),
        ("ANSam", Some(450.0), 0.2),
    ] {
        let x = concat(&[
            &silence(300.0, 8000),
            &tone(2100.0, -12.0, 3300.0, reversal, am, 8000),
            &silence(500.0, 8000),
        ]);
        let events = fax_events(&to_pcm(&x), 8000);
        assert_eq!(events.len(), 1, "{name}: {events:?}");
        let e = events[0];
        assert_eq!(e.tone, FaxTone::Ced);
        assert!((e.start as i64 - 2400).abs() <= 160, "{name}: {e:?}");
        assert!((i64::from(e.duration) - 4000).abs() <= 160, "{name}: {e:?}");
    }
}

/// Frequency tolerances of T.30 (CNG ±38 Hz, CED ±15 Hz): tones inside are detected, tones
/// well outside (±60 Hz, ±30 Hz) are not; a continuous 1100 Hz tone (2 s) is not CNG.
#[test]
fn fax_tones_respect_frequency_tolerance_and_cadence() {
    let burst = |f: f64, ms: f64| {
        to_pcm(&concat(&[
            &silence(200.0, 8000),
            &tone(f, -12.0, ms, None, 0.0, 8000),
            &silence(600.0, 8000),
        ]))
    };
    for f in [1070.0, 1130.0] {
        assert_eq!(fax_events(&burst(f, 500.0), 8000).len(), 1, "{f} Hz");
    }
    for f in [1040.0, 1160.0] {
        assert!(fax_events(&burst(f, 500.0), 8000).is_empty(), "{f} Hz");
    }
    for f in [2090.0, 2110.0] {
        assert_eq!(fax_events(&burst(f, 1000.0), 8000).len(), 1, "{f} Hz");
    }
    for f in [2070.0, 2130.0] {
        assert!(fax_events(&burst(f, 1000.0), 8000).is_empty(), "{f} Hz");
    }
    assert!(fax_events(&burst(1100.0, 2000.0), 8000).is_empty());
}

/// No fax tone on speech, DTMF or call-progress tones.
#[test]
fn fax_detector_ignores_speech_dtmf_and_call_progress() {
    let speech = normalise_active(
        &espeak(
            "Hello, this is the fax machine speaking, please send your document now.",
            "en-us+f3",
            160,
            70,
            8000,
        ),
        -10.0,
    );
    assert!(fax_events(&speech, 8000).is_empty());
    let dtmf = digits("123A456B789C*0#D", 100, 100, -6.0, 0.0, 8000);
    assert!(fax_events(&dtmf, 8000).is_empty());
    for country in Country::ALL {
        for t in CallProgressTone::ALL {
            let mut g = ToneGenerator::new(8000, country.tone(t)).unwrap();
            let mut pcm = vec![0i16; 48_000];
            g.generate_into(&mut pcm);
            assert!(fax_events(&pcm, 8000).is_empty(), "{country:?} {t:?}");
        }
    }
}

/// Each country's dial, ringback, busy and congestion tone (our generator) is classified as
/// itself, once, within its detection time: dial within 2.5 s, busy and congestion within
/// three periods, ringback within two periods; at 8 and 16 kHz.
#[test]
fn call_progress_tones_are_classified() {
    for rate in [8000u32, 16000] {
        for country in Country::ALL {
            for t in CallProgressTone::ALL {
                let spec = country.tone(t);
                let mut g = ToneGenerator::new(rate, spec).unwrap();
                let lead = rate as usize / 4;
                let mut pcm = vec![0i16; 14 * rate as usize];
                g.generate_into(&mut pcm[lead..]);
                let events = progress_events(&pcm, country, rate);
                assert_eq!(events.len(), 1, "{rate} Hz {country:?} {t:?}: {events:?}");
                let e = events[0];
                assert_eq!(e.tone, t, "{country:?}");
                let period = u64::from(spec.cadence.period_ms()) * u64::from(rate) / 1000;
                let limit = match t {
                    CallProgressTone::Dial => 5 * u64::from(rate) / 2,
                    CallProgressTone::Ringback => 2 * period,
                    _ => 3 * period,
                };
                let after = e.detected_at - lead as u64;
                assert!(after <= limit, "{country:?} {t:?} took {after} samples");
                assert!((e.start as i64 - lead as i64).abs() <= 80 * i64::from(rate) / 8000);
            }
        }
    }
}

/// sox-synthesised US tones (independent generator), in white noise at 20 dB SNR.
#[test]
fn sox_us_tones_in_noise_are_classified() {
    let cases: [(CallProgressTone, &[&str]); 3] = [
        (
            CallProgressTone::Busy,
            &[
                "synth", "0.5", "sine", "480", "synth", "0.5", "sine", "mix", "620", "pad", "0",
                "0.5",
            ],
        ),
        (
            CallProgressTone::Congestion,
            &[
                "synth", "0.25", "sine", "480", "synth", "0.25", "sine", "mix", "620", "pad", "0",
                "0.25",
            ],
        ),
        (
            CallProgressTone::Ringback,
            &[
                "synth", "2", "sine", "440", "synth", "2", "sine", "mix", "480", "pad", "0", "4",
            ],
        ),
    ];
    for (t, args) in cases {
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["vol", "-20dB"]);
        let period = sox_synth(8000, &args);
        let mut pcm = Vec::new();
        while pcm.len() < 13 * 8000 {
            pcm.extend_from_slice(&period);
        }
        let x = to_f64(&pcm);
        let noisy = to_pcm(&add(&x, &white_noise(x.len(), mean_square(&x) / 100.0, 5)));
        let events = progress_events(&noisy, Country::Us, 8000);
        assert_eq!(events.first().map(|e| e.tone), Some(t), "{events:?}");
    }
    let dial = sox_synth(
        8000,
        &[
            "synth", "3", "sine", "350", "synth", "3", "sine", "mix", "440", "vol", "-10dB",
        ],
    );
    let events = progress_events(&dial, Country::Us, 8000);
    assert_eq!(events.first().map(|e| e.tone), Some(CallProgressTone::Dial));
}

/// Another country's tones, speech and DTMF are not classified as this country's tones.
#[test]
fn call_progress_detector_ignores_foreign_tones_speech_and_dtmf() {
    let us_ringback = {
        let mut g = ToneGenerator::new(8000, Country::Us.tone(CallProgressTone::Ringback)).unwrap();
        let mut pcm = vec![0i16; 13 * 8000];
        g.generate_into(&mut pcm);
        pcm
    };
    assert!(progress_events(&us_ringback, Country::De, 8000).is_empty());
    assert!(progress_events(&us_ringback, Country::Uk, 8000).is_empty());
    let speech = normalise_active(
        &espeak(
            "Hello? Yes, I am still here, the line is busy, please call again later.",
            "en-gb",
            160,
            40,
            8000,
        ),
        -12.0,
    );
    for country in Country::ALL {
        assert!(
            progress_events(&speech, country, 8000).is_empty(),
            "{country:?}"
        );
        let dtmf = digits("0123456789", 200, 300, -8.0, 0.0, 8000);
        assert!(
            progress_events(&dtmf, country, 8000).is_empty(),
            "{country:?}"
        );
    }
}
