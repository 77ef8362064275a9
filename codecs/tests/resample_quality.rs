//! Quality of [`tandem_codecs::resample::Resampler`], measured end to end through its `i16`
//! interface, with rubato's FFT synchronous resampler (`rubato::Fft`) as the reference.
//!
//! Method: every test signal is a sum of sines whose frequencies are whole bins of a
//! [`FFT_LEN`]-point transform at the output rate (coherent sampling: no window, no leakage;
//! `FFT_LEN` = 3·2¹³ is a multiple of every interpolation factor L, so each tone and each of its
//! images and aliases also falls on a whole bin). Phases are computed from exact integer
//! arithmetic. The analysis window starts 100 ms into the output, past every transient.
//!
//! For each input tone the test lists every component the zero-stuffed signal carries at the
//! common rate (`|k·from ± f|` up to its Nyquist frequency) and where it folds in the output:
//! - passband tones (≤ 0.41·min) are wanted: their level gives the ripple, their phase the
//!   delay;
//! - stop-band components (≥ 0.59·min: images when upsampling, aliases when downsampling) must
//!   come out ≥ 90 dB below a passband tone of the same input level;
//! - transition-band components are not specified and not measured.
//!
//! rubato's output is rounded to `i16` the same way so both are measured alike; its figures are
//! printed next to ours (`cargo test --test resample_quality -- --nocapture`).
//!
//! The property tests check the streaming contract: any input is accepted, every call writes
//! exactly `output_len`, and chunked processing is bit-identical to one-shot processing.

use proptest::prelude::*;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;
use tandem_codecs::resample::{PASSBAND_EDGE, Resampler, STOPBAND_EDGE, SUPPORTED_RATES};

/// The pairs the transcoder uses, both directions.
const TELEPHONY_PAIRS: [(u32, u32); 14] = [
    (8000, 16000),
    (16000, 8000),
    (8000, 48000),
    (48000, 8000),
    (16000, 48000),
    (48000, 16000),
    (16000, 24000),
    (24000, 16000),
    (8000, 24000),
    (24000, 8000),
    (24000, 48000),
    (48000, 24000),
    (12000, 48000),
    (48000, 12000),
];

/// Analysis length in output samples: 3·2¹³, a multiple of every L in use (1, 2, 3, 4, 6).
const FFT_LEN: usize = 24576;

/// Passband test frequencies, as fractions of the lower rate.
const PASSBAND_POINTS: [f64; 7] = [0.02, 0.1, 0.2, 0.3, 0.35, 0.39, 0.405];

/// Stop-band probes for downsampling, as fractions of the output rate (up to the input Nyquist).
const STOPBAND_POINTS: [f64; 8] = [0.595, 0.62, 0.7, 0.85, 1.07, 1.43, 2.2, 2.9];

/// Required stop-band rejection, dB.
const MIN_REJECTION_DB: f64 = 90.0;

/// Allowed passband deviation, dB.
const MAX_RIPPLE_DB: f64 = 0.1;

/// Required agreement with rubato on passband signals, dB.
const MIN_SNR_VS_RUBATO_DB: f64 = 80.0;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// One test run's geometry.
#[derive(Clone, Copy)]
struct Pair {
    from: u32,
    to: u32,
    /// Interpolation factor L.
    up: u64,
    /// Decimation factor M.
    down: u64,
}

impl Pair {
    fn new(from: u32, to: u32) -> Self {
        let g = gcd(u64::from(from), u64::from(to));
        Self {
            from,
            to,
            up: u64::from(to) / g,
            down: u64::from(from) / g,
        }
    }

    fn min_rate(self) -> f64 {
        f64::from(self.from.min(self.to))
    }

    /// Frequency in Hz of output bin `bin` (bins may exceed the output Nyquist for input tones).
    fn hz(self, bin: u64) -> f64 {
        bin as f64 * f64::from(self.to) / FFT_LEN as f64
    }

    /// An output bin near `hz`, odd and not a multiple of 3, so that the tone visits many
    /// phases and its rounding errors spread over many bins instead of a few harmonics.
    fn bin_near(self, hz: f64) -> u64 {
        let mut bin = (hz * FFT_LEN as f64 / f64::from(self.to)).round() as u64 | 1;
        while bin % 3 == 0 {
            bin += 2;
        }
        bin
    }

    /// Output bin where a component at `bin` (in output-bin units, at the common rate) lands.
    fn fold(self, bin: u64) -> u64 {
        let n = FFT_LEN as u64;
        let r = bin % n;
        if r > n / 2 { n - r } else { r }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Band {
    Pass,
    Transition,
    Stop,
}

/// A component of one input tone in the output: where it lands and what it must be.
#[derive(Clone, Copy, Debug)]
struct Component {
    tone: usize,
    out_bin: u64,
    band: Band,
}

/// Every component that input tone `bin` produces at the common rate, with its output bin.
fn components(pair: Pair, tone: usize, bin: u64) -> Vec<Component> {
    let n = FFT_LEN as u64;
    let period = n * pair.down / pair.up; // the input rate, in output bins
    let nyquist = n * pair.down / 2; // half the common rate, in output bins
    let band = |b: u64| {
        let hz = pair.hz(b);
        if hz <= PASSBAND_EDGE * pair.min_rate() {
            Band::Pass
        } else if hz >= STOPBAND_EDGE * pair.min_rate() {
            Band::Stop
        } else {
            Band::Transition
        }
    };
    let mut out = vec![Component {
        tone,
        out_bin: pair.fold(bin),
        band: band(bin),
    }];
    for k in 1.. {
        let below = k * period - bin;
        if below > nyquist {
            break;
        }
        out.push(Component {
            tone,
            out_bin: pair.fold(below),
            band: band(below),
        });
        let above = k * period + bin;
        if above <= nyquist {
            out.push(Component {
                tone,
                out_bin: pair.fold(above),
                band: band(above),
            });
        }
    }
    out
}

/// `Σ amp·sin(2π·bin·n/N·(to/from) + phase)`, rounded to `i16`, with exact phase arithmetic.
fn synthesize(pair: Pair, tones: &[(u64, f64)], amplitude: f64, len: usize) -> Vec<i16> {
    let modulus = FFT_LEN as u64 * pair.down;
    (0..len as u64)
        .map(|n| {
            let sum: f64 = tones
                .iter()
                .map(|&(bin, phase)| {
                    let cycles = (bin * pair.up % modulus) * n % modulus;
                    let angle = std::f64::consts::TAU * cycles as f64 / modulus as f64;
                    amplitude * (angle + phase).sin()
                })
                .sum();
            sum.round() as i16
        })
        .collect()
}

/// Our resampler, fed in 20 ms frames as the transcoder does.
fn run_ours(pair: Pair, input: &[i16]) -> (Vec<i16>, usize) {
    let mut resampler = Resampler::new(pair.from, pair.to).unwrap();
    let frame = pair.from as usize / 50;
    let mut out = vec![0i16; resampler.output_max(input.len())];
    let mut written = 0;
    for chunk in input.chunks(frame) {
        written += resampler.process(chunk, &mut out[written..]);
    }
    out.truncate(written);
    (out, resampler.delay())
}

/// rubato's FFT synchronous resampler over the whole clip (`process_all` trims its start-up
/// delay, so its output is aligned with the input), rounded to `i16` like ours; and the delay
/// it would add when streaming, in output samples.
fn run_rubato(pair: Pair, input: &[i16]) -> (Vec<i16>, usize) {
    // One FFT block per 20 ms frame (`sub_chunks` = 1): rubato's default splits chunks into
    // ~256-frame blocks, which at 48 kHz input makes the block, hence the filter, too short to
    // keep the 8 kHz passband flat (28 dB of droop measured at 3.2 kHz for 48→8).
    let chunk = pair.from as usize / 50;
    let mut resampler = Fft::<f64>::new_custom(
        pair.from as usize,
        pair.to as usize,
        chunk,
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Input,
    )
    .unwrap();
    let samples: Vec<f64> = input.iter().map(|&s| f64::from(s)).collect();
    let adapter = InterleavedSlice::new(&samples, 1, samples.len()).unwrap();
    let out = resampler
        .process_all(&adapter, samples.len(), None)
        .unwrap();
    let rounded = out
        .take_data()
        .into_iter()
        .map(|y: f64| y.round().clamp(-32768.0, 32767.0) as i16);
    (rounded.collect(), resampler.output_delay())
}

/// The complex spectrum of `FFT_LEN` samples starting at `start`.
fn spectrum(signal: &[i16], start: usize) -> Vec<Complex<f64>> {
    let mut buf: Vec<Complex<f64>> = signal[start..start + FFT_LEN]
        .iter()
        .map(|&s| Complex::new(f64::from(s), 0.0))
        .collect();
    FftPlanner::new()
        .plan_fft_forward(FFT_LEN)
        .process(&mut buf);
    buf
}

fn amplitude(spectrum: &[Complex<f64>], bin: u64) -> f64 {
    2.0 * spectrum[bin as usize].norm() / FFT_LEN as f64
}

/// What one resampler did to one multi-tone signal.
#[derive(Debug)]
struct Measured {
    /// Largest passband deviation, dB.
    ripple_db: f64,
    /// Smallest stop-band rejection, dB, and the input frequency (Hz) it came from.
    rejection_db: f64,
    worst_hz: f64,
    /// Delay from the tones' phases, in output samples: min and max over the tones.
    delay_range: (f64, f64),
}

/// Measures `output` against the tones; `lag` is the delay the output claims, in output samples
/// (the phase check reports the delay actually measured).
fn measure(pair: Pair, tones: &[(u64, f64)], amp: f64, output: &[i16], lag: f64) -> Measured {
    let start = pair.to as usize / 10;
    let spec = spectrum(output, start);
    let all: Vec<Component> = tones
        .iter()
        .enumerate()
        .flat_map(|(i, &(bin, _))| components(pair, i, bin))
        .collect();
    let shared = |c: &Component| {
        all.iter().any(|o| {
            (o.tone != c.tone || o.out_bin != c.out_bin || o.band != c.band)
                && o.band != Band::Stop
                && o.out_bin.abs_diff(c.out_bin) <= 1
        })
    };
    let mut ripple_db: f64 = 0.0;
    let mut reference = f64::INFINITY;
    let mut delay_range = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, &(bin, phase)) in tones.iter().enumerate() {
        if pair.hz(bin) > PASSBAND_EDGE * pair.min_rate() {
            continue;
        }
        let wanted = Component {
            tone: i,
            out_bin: bin,
            band: Band::Pass,
        };
        assert!(
            !shared(&wanted),
            "{}->{}: tone plan collides at bin {bin}",
            pair.from,
            pair.to
        );
        let level = amplitude(&spec, bin);
        ripple_db = ripple_db.max((20.0 * (level / amp).log10()).abs());
        reference = reference.min(level);
        // y[start + j] = A·sin(2π·bin·j/N + θ) with θ = 2π·f·(start − lag)/to + phase; the bin's
        // phase is θ − π/2. The residual against `lag` converts to samples at this frequency.
        let cycles_per_sample = bin as f64 / FFT_LEN as f64;
        let expected = std::f64::consts::TAU * cycles_per_sample * (start as f64 - lag) + phase;
        let measured = spec[bin as usize].arg() + std::f64::consts::FRAC_PI_2;
        let residual = (expected - measured).rem_euclid(std::f64::consts::TAU);
        let residual = if residual > std::f64::consts::PI {
            residual - std::f64::consts::TAU
        } else {
            residual
        };
        let delay = lag - residual / (std::f64::consts::TAU * cycles_per_sample);
        delay_range = (delay_range.0.min(delay), delay_range.1.max(delay));
    }
    let mut rejection_db = f64::INFINITY;
    let mut worst_hz = 0.0;
    for c in all.iter().filter(|c| c.band == Band::Stop && !shared(c)) {
        let level = amplitude(&spec, c.out_bin).max(1e-12);
        let rejection = 20.0 * (reference / level).log10();
        if rejection < rejection_db {
            rejection_db = rejection;
            worst_hz = pair.hz(tones[c.tone].0);
        }
    }
    Measured {
        ripple_db,
        rejection_db,
        worst_hz,
        delay_range,
    }
}

/// The tone plan for a pair: passband tones at [`PASSBAND_POINTS`] (which, when upsampling, also
/// make every image), plus stop-band probes at [`STOPBAND_POINTS`] when downsampling.
fn tone_plan(pair: Pair) -> Vec<(u64, f64)> {
    let mut bins: Vec<u64> = PASSBAND_POINTS
        .iter()
        .map(|&p| pair.bin_near(p * pair.min_rate()))
        .collect();
    if pair.from > pair.to {
        let input_nyquist = f64::from(pair.from) / 2.0;
        bins.extend(
            STOPBAND_POINTS
                .iter()
                .map(|&p| p * f64::from(pair.to))
                .filter(|&hz| hz < 0.98 * input_nyquist)
                .map(|hz| pair.bin_near(hz)),
        );
        // The stop-band edge itself, the worst case.
        bins.push(pair.bin_near(STOPBAND_EDGE * pair.min_rate()) + 2);
    }
    bins.iter()
        .enumerate()
        .map(|(i, &bin)| (bin, 0.7 * i as f64))
        .collect()
}

fn input_len(pair: Pair) -> usize {
    // 100 ms lead-in, the analysis window, 100 ms tail; whole milliseconds.
    let ms = (pair.to as usize / 10 + FFT_LEN).div_ceil(pair.to as usize / 1000) + 100;
    ms * pair.from as usize / 1000
}

#[test]
fn ripple_rejection_and_delay_against_rubato() {
    println!(
        "{:>11} | {:>13} | {:>19} | {:>33} | {:>11}",
        "pair",
        "delay",
        "ripple dB ours/rub",
        "worst rejection dB ours/rubato",
        "rubato delay (trim residual)"
    );
    let mut failures = Vec::new();
    for (from, to) in TELEPHONY_PAIRS {
        let pair = Pair::new(from, to);
        let tones = tone_plan(pair);
        let amp = 30000.0 / tones.len() as f64;
        let input = synthesize(pair, &tones, amp, input_len(pair));
        let (ours, delay) = run_ours(pair, &input);
        let (rubato, rubato_delay) = run_rubato(pair, &input);
        let m = measure(pair, &tones, amp, &ours, delay as f64);
        let r = measure(pair, &tones, amp, &rubato, 0.0);
        let delay_ms = delay as f64 * 1000.0 / f64::from(to);
        println!(
            "{from:>5}>{to:<5} | {delay:>3} = {delay_ms:.3}ms | {:>8.4} / {:>8.4} | {:>6.1} ({:>5.0} Hz) / {:>6.1} ({:>5.0} Hz) | {:>4.1} ms ({:+.3})",
            m.ripple_db,
            r.ripple_db,
            m.rejection_db,
            m.worst_hz,
            r.rejection_db,
            r.worst_hz,
            rubato_delay as f64 * 1000.0 / f64::from(to),
            (r.delay_range.0 + r.delay_range.1) / 2.0,
        );
        if m.ripple_db > MAX_RIPPLE_DB {
            failures.push(format!("{from}->{to}: ripple {:.4} dB", m.ripple_db));
        }
        if m.rejection_db < MIN_REJECTION_DB {
            failures.push(format!(
                "{from}->{to}: rejection {:.1} dB at {:.0} Hz",
                m.rejection_db, m.worst_hz
            ));
        }
        if delay_ms > 2.0 {
            failures.push(format!("{from}->{to}: delay {delay_ms} ms"));
        }
        // Linear phase: the delay read from every passband tone's phase is `delay()`.
        let (lo, hi) = m.delay_range;
        if (lo - delay as f64).abs() > 0.01 || (hi - delay as f64).abs() > 0.01 {
            failures.push(format!(
                "{from}->{to}: phase delay {lo:.4}..{hi:.4}, delay() {delay}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// On passband-only signals our output, shifted by `delay()`, matches rubato's.
#[test]
fn passband_output_matches_rubato() {
    let mut failures = Vec::new();
    for (from, to) in TELEPHONY_PAIRS {
        let pair = Pair::new(from, to);
        // Twelve tones spread over the passband, at unrelated phases.
        let tones: Vec<(u64, f64)> = (0..12)
            .map(|i| {
                let hz = (0.015 + 0.033 * f64::from(i)) * pair.min_rate();
                (pair.bin_near(hz), 1.9 * f64::from(i))
            })
            .collect();
        let amp = 30000.0 / tones.len() as f64;
        let input = synthesize(pair, &tones, amp, input_len(pair));
        let (ours, delay) = run_ours(pair, &input);
        let (rubato, _) = run_rubato(pair, &input);
        let start = to as usize / 10;
        let (mut signal, mut error) = (0.0, 0.0);
        for m in start..start + FFT_LEN {
            let reference = f64::from(rubato[m]);
            signal += reference * reference;
            error += (f64::from(ours[m + delay]) - reference).powi(2);
        }
        let snr = 10.0 * (signal / error).log10();
        println!("{from:>5}>{to:<5}: ours vs rubato over the passband, SNR {snr:.1} dB");
        if snr < MIN_SNR_VS_RUBATO_DB {
            failures.push(format!("{from}->{to}: SNR {snr:.1} dB"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

fn any_pair() -> impl Strategy<Value = (u32, u32)> {
    (0..SUPPORTED_RATES.len(), 0..SUPPORTED_RATES.len())
        .prop_map(|(a, b)| (SUPPORTED_RATES[a], SUPPORTED_RATES[b]))
}

proptest! {
    /// Any input is accepted, every call writes exactly `output_len` (within `output_max`),
    /// and cutting the stream into arbitrary chunks changes nothing, bit for bit.
    #[test]
    fn chunked_equals_one_shot(
        (from, to) in any_pair(),
        input in proptest::collection::vec(any::<i16>(), 0..1500),
        cuts in proptest::collection::vec(0..400usize, 0..10),
    ) {
        let mut whole = Resampler::new(from, to).unwrap();
        let expected_len = whole.output_len(input.len());
        prop_assert!(expected_len <= whole.output_max(input.len()));
        let mut expected = vec![0; expected_len];
        prop_assert_eq!(whole.process(&input, &mut expected), expected_len);

        let mut chunked = Resampler::new(from, to).unwrap();
        let mut got = Vec::new();
        let mut rest = &input[..];
        for cut in cuts.into_iter().chain([usize::MAX]) {
            let (chunk, tail) = rest.split_at(cut.min(rest.len()));
            rest = tail;
            let len = chunked.output_len(chunk.len());
            prop_assert!(len <= chunked.output_max(chunk.len()));
            let mut out = vec![0; len];
            prop_assert_eq!(chunked.process(chunk, &mut out), len);
            got.extend_from_slice(&out);
        }
        prop_assert_eq!(got, expected);
    }
}
