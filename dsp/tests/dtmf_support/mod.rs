//! Shared helpers of the DTMF and tone integration tests: signal synthesis (our generator,
//! exact-frequency dual tones, seeded white noise), external material (sox `synth`, espeak-ng
//! speech resampled by sox, generated at test time into a temporary directory) and detector
//! drivers. Nothing here is audio in git: every signal is generated.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use tandem_dsp::dtmf::{
    DtmfConfig, DtmfDetector, DtmfEvent, DtmfEventKind, DtmfGenerator, DtmfGeneratorConfig,
};
use tandem_dsp::tone::{DBM0_PEAK, dbm0_to_peak, mean_square_to_dbm0};

/// Our generator: `digits` with the given timing, level (low group) and twist.
pub fn digits(
    digits: &str,
    on_ms: u32,
    off_ms: u32,
    level_dbm0: f64,
    twist_db: f64,
    rate: u32,
) -> Vec<i16> {
    DtmfGenerator::render(
        DtmfGeneratorConfig {
            sample_rate_hz: rate,
            level_dbm0,
            twist_db,
            on_ms,
            off_ms,
        },
        digits,
    )
    .expect("valid generator config")
}

/// Two sines at exact frequencies and levels (dBm0), `ms` long, starting at phase 0.
pub fn dual(f1: f64, l1: f64, f2: f64, l2: f64, ms: f64, rate: u32) -> Vec<f64> {
    let n = (ms * f64::from(rate) / 1000.0).round() as usize;
    let (a1, a2) = (dbm0_to_peak(l1), dbm0_to_peak(l2));
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            a1 * (2.0 * std::f64::consts::PI * f1 * t).sin()
                + a2 * (2.0 * std::f64::consts::PI * f2 * t).sin()
        })
        .collect()
}

/// Silence, `ms` long.
pub fn silence(ms: f64, rate: u32) -> Vec<f64> {
    vec![0.0; (ms * f64::from(rate) / 1000.0).round() as usize]
}

/// Rounds and saturates to 16 bits.
pub fn to_pcm(x: &[f64]) -> Vec<i16> {
    x.iter()
        .map(|&v| v.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Converts PCM to `f64`.
pub fn to_f64(x: &[i16]) -> Vec<f64> {
    x.iter().map(|&v| f64::from(v)).collect()
}

/// xorshift64* PRNG: seeded, so every run hears the same noise.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// White Gaussian noise with mean square `mean_square`.
pub fn white_noise(len: usize, mean_square: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let sd = mean_square.sqrt();
    (0..len).map(|_| rng.normal() * sd).collect()
}

/// Mean square of a signal.
pub fn mean_square(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64
}

/// Level in dBm0 of a PCM signal.
pub fn level_dbm0(x: &[i16]) -> f64 {
    mean_square_to_dbm0(mean_square(&to_f64(x)))
}

/// `a + b` sample by sample (lengths must match).
pub fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Concatenates pieces.
pub fn concat(pieces: &[&[f64]]) -> Vec<f64> {
    pieces.iter().flat_map(|p| p.iter().copied()).collect()
}

/// Peak amplitude at 0 dBm0, re-exported for tests that state levels as amplitudes.
pub const DBM0: f64 = DBM0_PEAK;

/// Runs a detector over `pcm` in frames of `frame` samples (timestamps from 0), then flushes.
pub fn run_detector(config: DtmfConfig, pcm: &[i16], frame: usize) -> Vec<DtmfEvent> {
    let mut det = DtmfDetector::new(config).expect("valid detector config");
    let mut events = vec![DtmfEvent::default(); det.events_max(frame)];
    let mut out = Vec::new();
    let mut buf = vec![0i16; frame];
    for (i, chunk) in pcm.chunks(frame).enumerate() {
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = det
            .process((i * frame) as u64, &mut buf[..chunk.len()], &mut events)
            .expect("event buffer sized by events_max");
        out.extend_from_slice(&events[..n]);
    }
    let n = det
        .flush(&mut events)
        .expect("event buffer sized by events_max");
    out.extend_from_slice(&events[..n]);
    out
}

/// Detects with the default configuration at `rate` in 20 ms frames.
pub fn detect(pcm: &[i16], rate: u32) -> Vec<DtmfEvent> {
    run_detector(DtmfConfig::with_rate(rate), pcm, rate as usize / 50)
}

/// The digits of the Begin events.
pub fn digit_string(events: &[DtmfEvent]) -> String {
    events
        .iter()
        .filter(|e| e.kind == DtmfEventKind::Begin)
        .map(|e| e.digit.as_char())
        .collect()
}

/// The End events.
pub fn ends(events: &[DtmfEvent]) -> Vec<DtmfEvent> {
    events
        .iter()
        .filter(|e| e.kind == DtmfEventKind::End)
        .copied()
        .collect()
}

static TEMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary file path with extension `ext`.
pub fn temp_path(ext: &str) -> PathBuf {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tandem-dtmf-{}-{n}.{ext}", std::process::id()))
}

/// Runs `sox -D -r RATE -n -r RATE -b 16 -e signed -c 1 -t raw OUT <effects…>` and returns
/// the samples: sox synthesises at `RATE` directly (no hidden resampling), without dither.
pub fn sox_synth(rate: u32, effects: &[&str]) -> Vec<i16> {
    sox_synth_at(rate, rate, effects)
}

/// Like [`sox_synth`], but synthesises at 48 kHz and lets sox resample to `rate`: sox's
/// `pluck` only runs at 44.1-48 kHz.
pub fn sox_synth_resampled(rate: u32, effects: &[&str]) -> Vec<i16> {
    sox_synth_at(48_000, rate, effects)
}

fn sox_synth_at(synth_rate: u32, rate: u32, effects: &[&str]) -> Vec<i16> {
    let out = temp_path("raw");
    let (s, r) = (synth_rate.to_string(), rate.to_string());
    let status = Command::new("sox")
        .args([
            "-D", "-r", &s, "-n", "-r", &r, "-b", "16", "-e", "signed", "-c", "1",
        ])
        .arg("-t")
        .arg("raw")
        .arg(&out)
        .args(effects)
        .status()
        .expect("sox is installed");
    assert!(status.success(), "sox {effects:?} failed");
    read_raw(out)
}

/// Reads a raw little-endian 16-bit file and deletes it.
pub fn read_raw(path: PathBuf) -> Vec<i16> {
    let bytes = std::fs::read(&path).expect("sox wrote its output");
    let _ = std::fs::remove_file(&path);
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Speaks `text` with espeak-ng (`voice`, `speed` wpm, `pitch` 0-99) and resamples it with sox
/// to `rate`, 16-bit mono.
pub fn espeak(text: &str, voice: &str, speed: u32, pitch: u32, rate: u32) -> Vec<i16> {
    let wav = temp_path("wav");
    let status = Command::new("espeak-ng")
        .args([
            "-v",
            voice,
            "-s",
            &speed.to_string(),
            "-p",
            &pitch.to_string(),
            "-w",
        ])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng is installed");
    assert!(status.success(), "espeak-ng -v {voice} failed");
    let raw = temp_path("raw");
    let status = Command::new("sox")
        .arg("-G")
        .arg(&wav)
        .args([
            "-r",
            &rate.to_string(),
            "-b",
            "16",
            "-e",
            "signed",
            "-c",
            "1",
            "-t",
            "raw",
        ])
        .arg(&raw)
        .status()
        .expect("sox is installed");
    let _ = std::fs::remove_file(&wav);
    assert!(status.success(), "sox resampling failed");
    read_raw(raw)
}

/// Scales `x` so its active level (mean square over samples above −50 dBm0 peak) is `dbm0`.
pub fn normalise_active(x: &[i16], dbm0: f64) -> Vec<i16> {
    let floor = dbm0_to_peak(-50.0);
    let active: Vec<f64> = x
        .iter()
        .map(|&v| f64::from(v))
        .filter(|v| v.abs() > floor)
        .collect();
    let current = mean_square_to_dbm0(mean_square(&active));
    let gain = 10f64.powf((dbm0 - current) / 20.0);
    x.iter()
        .map(|&v| (f64::from(v) * gain).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}
