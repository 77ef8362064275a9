//! Tone generation: the call-progress tables (ITU-T E.180 Supplement 2, the North American
//! precise tone plan, BT SIN 350) reproduced exactly in frequency, level and cadence, the 1 kHz
//! test tone against sox's `synth`, and the DTMF generator's levels and timing.

mod dtmf_support;

use dtmf_support::*;
use tandem_dsp::dtmf::{Digit, DtmfGenerator, DtmfGeneratorConfig};
use tandem_dsp::tone::{
    Cadence, CallProgressTone, Country, ToneGenerator, ToneSpec, mean_square_to_dbm0,
};

/// Mean square of the component of `x` at `freq` (a tone `A sin` reads `A²/2`), through a Hann
/// window so that other components do not leak in.
fn component(x: &[f64], freq: f64, rate: u32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let len = x.len() as f64;
    let (mut re, mut im, mut sum_w) = (0.0, 0.0, 0.0);
    for (n, &v) in x.iter().enumerate() {
        let h = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / len).cos();
        re += h * v * (w * n as f64).cos();
        im -= h * v * (w * n as f64).sin();
        sum_w += h;
    }
    2.0 * (re * re + im * im) / (sum_w * sum_w)
}

/// Runs of non-silence: (start, length) in samples. A run ends after 5 zero samples.
fn bursts(x: &[i16]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    let mut zeros = 0;
    for (i, &v) in x.iter().enumerate() {
        if v != 0 {
            if start.is_none() {
                start = Some(i.saturating_sub(1));
            }
            zeros = 0;
        } else if let Some(s) = start {
            zeros += 1;
            if zeros > 5 {
                out.push((s, i - zeros + 1 - s));
                start = None;
            }
        }
    }
    if let Some(s) = start {
        out.push((s, x.len() - s));
    }
    out
}

/// E.180 Supplement 2 and national specifications: every table entry has its frequencies
/// (all of the on-time power at the listed components, each within 0.05 dB of the level) and
/// its cadence (every on and off time exact to the sample), at 8 and 16 kHz.
#[test]
fn call_progress_tones_match_their_tables() {
    for rate in [8000u32, 16000] {
        let per_ms = rate as usize / 1000;
        for country in Country::ALL {
            for tone in CallProgressTone::ALL {
                let spec = country.tone(tone);
                let mut g = ToneGenerator::new(rate, spec).unwrap();
                let mut pcm = vec![0i16; 14 * rate as usize];
                g.generate_into(&mut pcm);
                // Spectrum over the first burst (half a second of a continuous tone).
                let first = bursts(&pcm)[0];
                let len = first.1.min(rate as usize / 2);
                let on: Vec<f64> = to_f64(&pcm[first.0..first.0 + len]);
                let total = mean_square(&on);
                let mut sum = 0.0;
                for &f in spec.frequencies() {
                    let p = component(&on, f64::from(f), rate);
                    let level = mean_square_to_dbm0(p);
                    assert!(
                        (level - f64::from(spec.level_dbm0)).abs() < 0.05,
                        "{country:?} {tone:?} {f} Hz at {level} dBm0"
                    );
                    sum += p;
                }
                assert!(sum / total > 0.999, "{country:?} {tone:?}: {}", sum / total);
                match spec.cadence {
                    Cadence::Continuous => assert_eq!(bursts(&pcm).len(), 1),
                    Cadence::Repeat(pattern) => {
                        let b = bursts(&pcm);
                        assert!(b.len() >= 2 * pattern.len(), "{country:?} {tone:?}");
                        for (i, w) in b.windows(2).enumerate().take(2 * pattern.len()) {
                            let (on_ms, off_ms) = pattern[i % pattern.len()];
                            let on = w[0].1;
                            let off = w[1].0 - (w[0].0 + w[0].1);
                            assert!(
                                on.abs_diff(on_ms as usize * per_ms) <= 2,
                                "{country:?} {tone:?} on {on}"
                            );
                            assert!(
                                off.abs_diff(off_ms as usize * per_ms) <= 2,
                                "{country:?} {tone:?} off {off}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The tables' defining values (sources in `tandem_dsp::tone::tables`).
#[test]
fn tables_hold_the_published_values() {
    let us = |t| Country::Us.tone(t);
    assert_eq!(us(CallProgressTone::Dial).frequencies(), &[350.0, 440.0]);
    assert_eq!(
        us(CallProgressTone::Ringback).cadence,
        Cadence::Repeat(&[(2000, 4000)])
    );
    assert_eq!(us(CallProgressTone::Busy).frequencies(), &[480.0, 620.0]);
    assert_eq!(
        us(CallProgressTone::Congestion).cadence,
        Cadence::Repeat(&[(250, 250)])
    );
    assert_eq!(
        Country::Uk.tone(CallProgressTone::Ringback).cadence,
        Cadence::Repeat(&[(400, 200), (400, 2000)])
    );
    assert_eq!(
        Country::Uk.tone(CallProgressTone::Congestion).cadence,
        Cadence::Repeat(&[(400, 350), (225, 525)])
    );
    assert_eq!(
        Country::De.tone(CallProgressTone::Dial).frequencies(),
        &[425.0]
    );
    assert_eq!(
        Country::De.tone(CallProgressTone::Busy).cadence,
        Cadence::Repeat(&[(480, 480)])
    );
    assert_eq!(
        Country::Fr.tone(CallProgressTone::Ringback).cadence,
        Cadence::Repeat(&[(1500, 3500)])
    );
}

/// The 1 kHz test tone matches sox's `synth sine 1000` scaled to the same level, sample for
/// sample within one LSB (both start at phase 0), and measures its level.
#[test]
fn test_tone_matches_sox() {
    for level in [0.0f32, -10.0] {
        let mut g = ToneGenerator::new(8000, ToneSpec::test_tone_1khz(level)).unwrap();
        let mut ours = vec![0i16; 8000];
        g.generate_into(&mut ours);
        assert!((level_dbm0(&ours) - f64::from(level)).abs() < 0.02);
        // sox's full-scale sine peaks at 32767: scale by our peak / 32767.
        let gain_db = 20.0 * (DBM0 * 10f64.powf(f64::from(level) / 20.0) / 32767.0).log10();
        let sox = sox_synth(
            8000,
            &["synth", "1", "sine", "1000", "vol", &format!("{gain_db}dB")],
        );
        let worst = ours
            .iter()
            .zip(&sox)
            .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
            .max()
            .unwrap();
        assert!(worst <= 2, "{level} dBm0: differs from sox by {worst}");
    }
}

/// The DTMF generator: each digit's two tones at the right frequencies and levels (low group at
/// `level_dbm0`, high group at `level_dbm0 + twist_db`), on and off times exact.
#[test]
fn dtmf_generator_levels_frequencies_and_timing() {
    for rate in [8000u32, 16000] {
        for d in Digit::ALL {
            let config = DtmfGeneratorConfig {
                sample_rate_hz: rate,
                level_dbm0: -12.0,
                twist_db: 3.0,
                on_ms: 100,
                off_ms: 50,
            };
            let pcm = DtmfGenerator::render(config, &d.to_string()).unwrap();
            let per_ms = rate as usize / 1000;
            assert_eq!(pcm.len(), 150 * per_ms);
            assert!(pcm[100 * per_ms..].iter().all(|&s| s == 0));
            let on = to_f64(&pcm[..100 * per_ms]);
            let (fl, fh) = d.frequencies_hz();
            let low = mean_square_to_dbm0(component(&on, f64::from(fl), rate));
            let high = mean_square_to_dbm0(component(&on, f64::from(fh), rate));
            assert!((low + 12.0).abs() < 0.05, "{d}: low {low}");
            assert!((high + 9.0).abs() < 0.05, "{d}: high {high}");
        }
    }
}
