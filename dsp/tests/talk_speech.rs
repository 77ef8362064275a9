//! Talk detection on real speech: espeak-ng sentences, resampled by sox to the test rate, placed
//! between inserted silences, with white or pink noise added at 20 dB and 10 dB SNR, and with
//! noise and hum alone.
//!
//! The speech is generated at test time into a temporary directory (`espeak-ng -w`, then
//! `sox -r RATE`), so the repository keeps the generator rather than audio files. Noise is
//! generated here from a seeded PRNG so every run hears the same signal.
//!
//! What is asserted, per inserted sentence:
//! - exactly one `Started`, no earlier than [`MAX_EARLY_START_MS`] before the sentence and no
//!   later than [`MAX_START_LATENCY_MS`] after its onset: the first 10 ms block of the clean
//!   sentence within 30 dB of its loudest block and at least as loud as the added noise. At
//!   10 dB SNR the bound is [`MAX_START_LATENCY_10DB_MS`]: sentences that open on a fricative
//!   ("Seven…") spend their first tens of milliseconds at 0 to 3 dB over white noise;
//! - no `Finished` inside the sentence (no flapping between words);
//! - exactly one `Finished`, after the sentence ends and within the hangover plus
//!   [`MAX_FINISH_SLACK_MS`] of its end;
//! - nothing else: no talk in the gaps, nor on noise or hum alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use tandem_dsp::talk::{TalkConfig, TalkDetector, TalkEvent};

const MAX_START_LATENCY_MS: u64 = 60;
const MAX_START_LATENCY_10DB_MS: u64 = 80;
const MAX_EARLY_START_MS: u64 = 10;
const MAX_FINISH_SLACK_MS: u64 = 100;
const GAP_MS: usize = 1500;
const LEAD_MS: usize = 1000;

const SENTENCES: [(&str, &str); 4] = [
    ("en", "Please join the conference bridge now"),
    ("en-us+f3", "The quick brown fox jumps over the lazy dog"),
    (
        "en+m3",
        "Seven hundred people are listening to this meeting",
    ),
    ("en-us", "I think we should move the release to Thursday"),
];

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tandem-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads the samples of a mono 16-bit PCM WAV file.
fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let mut at = 12;
    let mut rate = 0;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            assert_eq!(u16::from_le_bytes([body[0], body[1]]), 1, "PCM");
            assert_eq!(u16::from_le_bytes([body[2], body[3]]), 1, "mono");
            rate = u32::from_le_bytes(body[4..8].try_into().unwrap());
            assert_eq!(u16::from_le_bytes([body[14], body[15]]), 16, "16-bit");
        } else if id == b"data" {
            let samples = body
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            return (rate, samples);
        }
        at += 8 + len + (len & 1);
    }
    panic!("no data chunk in {}", path.display());
}

/// Speaks `text` with espeak-ng and resamples it with sox to `rate_hz`.
fn speak(dir: &Path, voice: &str, text: &str, rate_hz: u32, index: usize) -> Vec<i16> {
    let raw = dir.join(format!("say{index}.wav"));
    let out = dir.join(format!("say{index}-{rate_hz}.wav"));
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-w"])
        .arg(&raw)
        .arg(text)
        .status()
        .expect("espeak-ng must be installed");
    assert!(status.success());
    let status = Command::new("sox")
        .arg(&raw)
        .args(["-r", &rate_hz.to_string(), "-b", "16"])
        .arg(&out)
        .status()
        .expect("sox must be installed");
    assert!(status.success());
    let (rate, samples) = read_wav(&out);
    assert_eq!(rate, rate_hz);
    samples
}

fn block_rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Cuts leading and trailing blocks quieter than 30 dB below the loudest 10 ms block.
fn trim(samples: &[i16], rate_hz: u32) -> Vec<i16> {
    let block = rate_hz as usize / 100;
    let rms: Vec<f64> = samples.chunks(block).map(block_rms).collect();
    let max = rms.iter().cloned().fold(0.0, f64::max);
    let active = |r: &f64| *r >= max * 10f64.powf(-30.0 / 20.0);
    let first = rms.iter().position(active).unwrap();
    let last = rms.iter().rposition(active).unwrap();
    samples[first * block..((last + 1) * block).min(samples.len())].to_vec()
}

/// Where one inserted sentence sits in the test signal, in samples.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// A test signal: sentences separated by silences, with the ground truth.
struct Scene {
    rate_hz: u32,
    clean: Vec<i16>,
    spans: Vec<Span>,
}

fn build_scene(dir: &Path, rate_hz: u32, sentences: &[(&str, &str)]) -> Scene {
    let ms = |ms: usize| ms * rate_hz as usize / 1000;
    let mut clean = vec![0i16; ms(LEAD_MS)];
    let mut spans = Vec::new();
    for (index, (voice, text)) in sentences.iter().enumerate() {
        let speech = trim(&speak(dir, voice, text, rate_hz, index), rate_hz);
        let start = clean.len();
        clean.extend_from_slice(&speech);
        spans.push(Span {
            start,
            end: clean.len(),
        });
        clean.extend(std::iter::repeat_n(0, ms(GAP_MS)));
    }
    Scene {
        rate_hz,
        clean,
        spans,
    }
}

/// xorshift64*: a small seeded generator so the noise is the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gaussian(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Noise {
    White,
    Pink,
}

/// Unit-RMS noise of `len` samples.
fn noise(kind: Noise, len: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng(seed | 1);
    let mut out: Vec<f64> = match kind {
        Noise::White => (0..len).map(|_| rng.gaussian()).collect(),
        Noise::Pink => {
            // Paul Kellett's refined pink filter (-3 dB/octave within 0.05 dB above 9 Hz at
            // 44.1 kHz; close enough at telephony rates for a noise test).
            let mut b = [0.0f64; 7];
            (0..len)
                .map(|_| {
                    let w = rng.gaussian();
                    b[0] = 0.99886 * b[0] + w * 0.0555179;
                    b[1] = 0.99332 * b[1] + w * 0.0750759;
                    b[2] = 0.96900 * b[2] + w * 0.1538520;
                    b[3] = 0.86650 * b[3] + w * 0.3104856;
                    b[4] = 0.55000 * b[4] + w * 0.5329522;
                    b[5] = -0.7616 * b[5] - w * 0.0168980;
                    let pink = b.iter().sum::<f64>() + w * 0.5362;
                    b[6] = w * 0.115926;
                    pink
                })
                .collect()
        }
    };
    let rms = (out.iter().map(|v| v * v).sum::<f64>() / len as f64).sqrt();
    out.iter_mut().for_each(|v| *v /= rms);
    out
}

/// RMS of the sentence samples over their active blocks (within 30 dB of the loudest).
fn active_rms(scene: &Scene) -> f64 {
    let block = scene.rate_hz as usize / 100;
    let blocks: Vec<f64> = scene
        .spans
        .iter()
        .flat_map(|s| scene.clean[s.start..s.end].chunks(block).map(block_rms))
        .collect();
    let max = blocks.iter().cloned().fold(0.0, f64::max);
    let active: Vec<f64> = blocks
        .into_iter()
        .filter(|&r| r >= max * 10f64.powf(-30.0 / 20.0))
        .collect();
    (active.iter().map(|r| r * r).sum::<f64>() / active.len() as f64).sqrt()
}

fn mix_in(clean: &[i16], extra: &[f64], gain: f64) -> Vec<i16> {
    clean
        .iter()
        .zip(extra)
        .map(|(&s, &n)| (f64::from(s) + n * gain).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Adds noise at `snr_db` below the speech's active level.
fn with_noise(scene: &Scene, kind: Noise, snr_db: f64, seed: u64) -> Vec<i16> {
    let gain = active_rms(scene) / 10f64.powf(snr_db / 20.0);
    mix_in(&scene.clean, &noise(kind, scene.clean.len(), seed), gain)
}

/// A mains buzz at `hz` (50 or 60): a band-limited sawtooth, harmonics at 1/k up to 3.5 kHz,
/// unit RMS.
fn hum(rate_hz: u32, hz: u32, len: usize) -> Vec<f64> {
    // One period is a whole number of samples at every test rate; compute it once and tile.
    let period = (rate_hz / hz) as usize;
    let harmonics = 3500 / hz;
    let cycle: Vec<f64> = (0..period)
        .map(|n| {
            let phase = 2.0 * std::f64::consts::PI * n as f64 / period as f64;
            (1..=harmonics)
                .map(|k| (phase * f64::from(k)).sin() / f64::from(k))
                .sum()
        })
        .collect();
    let rms = (cycle.iter().map(|v| v * v).sum::<f64>() / period as f64).sqrt();
    (0..len).map(|n| cycle[n % period] / rms).collect()
}

fn dbov_gain(dbov: f64) -> f64 {
    32768.0 * 10f64.powf(dbov / 20.0)
}

/// Runs the detector over `signal` in 20 ms frames and returns its events.
fn detect(config: TalkConfig, signal: &[i16]) -> Vec<TalkEvent> {
    let mut detector = TalkDetector::new(config).unwrap();
    let frame = config.rate_hz as usize / 50;
    signal
        .chunks(frame)
        .filter_map(|f| detector.process(f))
        .collect()
}

fn at(event: &TalkEvent) -> u64 {
    match *event {
        TalkEvent::Started { at_samples } | TalkEvent::Finished { at_samples, .. } => at_samples,
    }
}

/// Where speech becomes audible in span `span`: the first 10 ms block of the clean sentence
/// within 30 dB of its loudest block and at least as loud as the added noise.
fn onset(scene: &Scene, span: Span, noise_rms: f64) -> usize {
    let block = scene.rate_hz as usize / 100;
    let rms: Vec<f64> = scene.clean[span.start..span.end]
        .chunks(block)
        .map(block_rms)
        .collect();
    let max = rms.iter().cloned().fold(0.0, f64::max);
    let threshold = (max * 10f64.powf(-30.0 / 20.0)).max(noise_rms);
    span.start + block * rms.iter().position(|&r| r >= threshold).unwrap()
}

/// Checks the events against the scene's spans; returns a description of every failure.
fn judge(
    scene: &Scene,
    noise_rms: f64,
    max_latency_ms: u64,
    config: &TalkConfig,
    events: &[TalkEvent],
) -> Vec<String> {
    let per_ms = u64::from(scene.rate_hz) / 1000;
    let ms = |samples: u64| samples as f64 / per_ms as f64;
    let mut failures = Vec::new();
    let mut consumed = vec![false; events.len()];
    let mut latencies = Vec::new();
    let mut tails = Vec::new();
    for (i, span) in scene.spans.iter().enumerate() {
        let (start, end) = (onset(scene, *span, noise_rms) as u64, span.end as u64);
        let next = scene.spans.get(i + 1).map_or(u64::MAX, |s| s.start as u64);
        let starts: Vec<usize> = (0..events.len())
            .filter(|&e| matches!(events[e], TalkEvent::Started { .. }))
            .filter(|&e| {
                at(&events[e]) + MAX_EARLY_START_MS * per_ms >= span.start as u64
                    && at(&events[e]) < end
            })
            .collect();
        match starts.as_slice() {
            [one] => {
                consumed[*one] = true;
                let latency = at(&events[*one]).saturating_sub(start);
                latencies.push(ms(latency));

                if latency > max_latency_ms * per_ms {
                    failures.push(format!(
                        "sentence {i}: started {:.0} ms after onset",
                        ms(latency)
                    ));
                }
            }
            other => failures.push(format!("sentence {i}: {} starts", other.len())),
        }
        let latest_finish = end + (u64::from(config.hangover_ms) + MAX_FINISH_SLACK_MS) * per_ms;
        let finishes: Vec<usize> = (0..events.len())
            .filter(|&e| matches!(events[e], TalkEvent::Finished { .. }))
            .filter(|&e| at(&events[e]) > start && at(&events[e]) < next.min(latest_finish + 1))
            .collect();
        match finishes.as_slice() {
            [one] => {
                consumed[*one] = true;
                let when = at(&events[*one]);
                tails.push(ms(when) - ms(end));
                if when < end {
                    failures.push(format!(
                        "sentence {i}: finished {:.0} ms before its end",
                        ms(end - when)
                    ));
                }
            }
            other => failures.push(format!(
                "sentence {i}: {} finishes at {:?} (end {:.0} ms)",
                other.len(),
                other
                    .iter()
                    .map(|&e| ms(at(&events[e])))
                    .collect::<Vec<_>>(),
                ms(end)
            )),
        }
    }
    println!("start latencies {latencies:?} ms, finish after end {tails:?} ms");
    for (e, used) in consumed.iter().enumerate() {
        if !used {
            failures.push(format!(
                "stray {:?} at {:.0} ms",
                events[e],
                ms(at(&events[e]))
            ));
        }
    }
    failures
}

fn check(
    name: &str,
    scene: &Scene,
    signal: &[i16],
    noise_rms: f64,
    max_latency_ms: u64,
) -> Vec<String> {
    let config = TalkConfig::new(scene.rate_hz);
    let events = detect(config, signal);
    print!("{name} @ {} Hz: ", scene.rate_hz);
    judge(scene, noise_rms, max_latency_ms, &config, &events)
        .into_iter()
        .map(|f| format!("{name} @ {} Hz: {f}", scene.rate_hz))
        .collect()
}

fn assert_none(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn speech_between_silences_at_8_16_and_48_khz() {
    let dir = TempDir::new("talk-clean");
    let mut failures = Vec::new();
    for rate in [8000, 16000, 48000] {
        let scene = build_scene(&dir.0, rate, &SENTENCES);
        failures.extend(check(
            "clean",
            &scene,
            &scene.clean,
            0.0,
            MAX_START_LATENCY_MS,
        ));
    }
    assert_none(failures);
}

#[test]
fn speech_in_white_and_pink_noise_at_20_and_10_db_snr() {
    let dir = TempDir::new("talk-noisy");
    let mut failures = Vec::new();
    for rate in [8000, 16000] {
        let scene = build_scene(&dir.0, rate, &SENTENCES);
        let level = active_rms(&scene);
        for kind in [Noise::White, Noise::Pink] {
            for snr in [20.0, 10.0] {
                let signal = with_noise(&scene, kind, snr, 11 + rate as u64);
                let name = format!("{kind:?} {snr} dB");
                let max_latency = if snr < 20.0 {
                    MAX_START_LATENCY_10DB_MS
                } else {
                    MAX_START_LATENCY_MS
                };
                let noise_rms = level / 10f64.powf(snr / 20.0);
                failures.extend(check(&name, &scene, &signal, noise_rms, max_latency));
            }
        }
    }
    assert_none(failures);
}

/// Runs the detector over `signal` and returns its events and the largest onset evidence seen
/// after the warm-up.
fn detect_alone(rate_hz: u32, signal: &[i16]) -> (Vec<TalkEvent>, f32) {
    let mut detector = TalkDetector::new(TalkConfig::new(rate_hz)).unwrap();
    let mut events = Vec::new();
    let mut max_evidence = 0.0f32;
    for frame in signal.chunks(rate_hz as usize / 50) {
        events.extend(detector.process(frame));
        max_evidence = max_evidence.max(detector.features().evidence_db);
    }
    (events, max_evidence)
}

#[test]
fn no_talk_on_stationary_noise_alone() {
    let mut failures = Vec::new();
    for rate in [8000, 16000, 48000] {
        let seconds = if rate == 48000 { 20 } else { 60 };
        let len = rate as usize * seconds;
        for kind in [Noise::White, Noise::Pink] {
            for dbov in [-60.0, -40.0, -20.0] {
                let signal = mix_in(
                    &vec![0; len],
                    &noise(kind, len, 5 + rate as u64),
                    dbov_gain(dbov),
                );
                let (events, evidence) = detect_alone(rate, &signal);
                println!("{kind:?} at {dbov} dBov, {rate} Hz: max evidence {evidence:.1} dB");
                if !events.is_empty() {
                    failures.push(format!("{kind:?} at {dbov} dBov, {rate} Hz: {events:?}"));
                }
            }
        }
    }
    assert_none(failures);
}

#[test]
fn no_talk_on_steady_hum_alone_or_under_noise() {
    let mut failures = Vec::new();
    for rate in [8000, 16000, 48000] {
        let len = rate as usize * 20;
        for hz in [50, 60] {
            for dbov in [-40.0, -20.0] {
                let buzz = hum(rate, hz, len);
                let alone = mix_in(&vec![0; len], &buzz, dbov_gain(dbov));
                let noisy = mix_in(&alone, &noise(Noise::Pink, len, 3), dbov_gain(dbov - 15.0));
                for (name, signal) in [("alone", alone), ("with pink noise", noisy)] {
                    let (events, evidence) = detect_alone(rate, &signal);
                    println!(
                        "{hz} Hz hum {name} at {dbov} dBov, {rate} Hz: max evidence {evidence:.1} dB"
                    );
                    if !events.is_empty() {
                        failures.push(format!(
                            "{hz} Hz hum {name} at {dbov} dBov, {rate} Hz: {events:?}"
                        ));
                    }
                }
            }
        }
    }
    assert_none(failures);
}

#[test]
fn speech_over_hum_and_noise() {
    let dir = TempDir::new("talk-hum");
    let mut failures = Vec::new();
    for rate in [8000, 16000] {
        let scene = build_scene(&dir.0, rate, &SENTENCES);
        let level = active_rms(&scene);
        let len = scene.clean.len();
        // The buzz 20 dB under the speech, pink noise 25 dB under.
        let buzz = mix_in(&scene.clean, &hum(rate, 50, len), level / 10.0);
        let signal = mix_in(
            &buzz,
            &noise(Noise::Pink, len, 9),
            level / 10f64.powf(25.0 / 20.0),
        );
        failures.extend(check(
            "hum + pink noise",
            &scene,
            &signal,
            level / 10.0,
            MAX_START_LATENCY_MS,
        ));
    }
    assert_none(failures);
}

/// Noise switched on after digital silence is new to the floor: the detector may take it for
/// talk, but only once, and must absorb it into the floor within the stationarity time plus the
/// hangover (the module docs promise this; it is the price of starting talk within tens of
/// milliseconds).
#[test]
fn noise_switched_on_mid_stream_costs_at_most_one_short_spurt() {
    let mut failures = Vec::new();
    for rate in [8000, 16000] {
        let config = TalkConfig::new(rate);
        let len = rate as usize * 20;
        let switch_on = rate as usize * 2;
        for kind in [Noise::White, Noise::Pink] {
            let mut added = noise(kind, len, 21);
            added[..switch_on].fill(0.0);
            let buzz = hum(rate, 50, len);
            for (name, extra) in [
                (format!("{kind:?} noise"), added),
                ("50 Hz hum".into(), buzz),
            ] {
                let mut extra = extra;
                extra[..switch_on].fill(0.0);
                let signal = mix_in(&vec![0; len], &extra, dbov_gain(-35.0));
                let (events, _) = detect_alone(rate, &signal);
                let limit = (config.stationary_ms + config.hangover_ms + 300) as u64;
                let ok = match events.as_slice() {
                    [] => true,
                    [
                        TalkEvent::Started { .. },
                        TalkEvent::Finished { talk_samples, .. },
                    ] => *talk_samples * 1000 / u64::from(rate) <= limit,
                    _ => false,
                };
                println!("{name} switched on, {rate} Hz: {events:?}");
                if !ok {
                    failures.push(format!("{name} switched on, {rate} Hz: {events:?}"));
                }
            }
        }
    }
    assert_none(failures);
}
