//! DTMF detection: Tandem's detector (`tandem_dsp::dtmf::DtmfDetector`) against spandsp's
//! `dtmf_rx` (Debian `libspandsp-dev` 0.0.6), side by side, per 20 ms frame (160 samples at
//! 8 kHz) per channel, the unit the media path runs. Target: ≤ 0.5 µs per frame.
//!
//! Group `dtmf`, `{silence,speech,tone}/{tandem,spandsp}`:
//!
//! * `silence`: a quiet line (white noise at −60 dBm0), the common case on a channel;
//! * `speech`: espeak-ng speech at −16 dBm0 (generated at bench start into a temporary directory
//!   and resampled by sox; a synthetic vowel-like signal if either tool is missing), cycled
//!   frame by frame so every frame is different;
//! * `tone`: a held digit `5` at −10 dBm0 (after its first blocks, the pair fit alone carries
//!   the digit);
//! * `dialling`: the sixteen digits, 100 ms on and 100 ms off, cycled: half tone (each onset
//!   through the full verification), half silence.
//!
//! State carries from frame to frame as in a call; timestamps are contiguous. Each measurement
//! is one frame. Before measuring, the bench prints what both detectors report on the speech
//! material and on the tones, as a sanity check that they are doing the same job.
//!
//! Group `dtmf_generate`: Tandem's generator, one 20 ms frame of a digit.
//!
//! Run: `cargo bench -p tandem-benches --bench dtmf -- --warm-up-time 1 --measurement-time 3`.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};
use std::hint::black_box;
use std::process::Command;
use std::ptr::NonNull;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tandem_dsp::dtmf::{
    DtmfConfig, DtmfDetector, DtmfEvent, DtmfEventKind, DtmfGenerator, DtmfGeneratorConfig,
};
use tandem_dsp::tone::dbm0_to_peak;

/// The part of spandsp's `<spandsp/dtmf.h>` the bench uses.
mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    /// `digits_rx_callback_t`.
    pub(crate) type DigitsCallback =
        Option<unsafe extern "C" fn(user_data: *mut c_void, digits: *const c_char, len: c_int)>;

    #[link(name = "spandsp")]
    unsafe extern "C" {
        pub(crate) fn dtmf_rx_init(
            s: *mut c_void,
            callback: DigitsCallback,
            user_data: *mut c_void,
        ) -> *mut c_void;
        pub(crate) fn dtmf_rx(s: *mut c_void, amp: *const i16, samples: c_int) -> c_int;
        pub(crate) fn dtmf_rx_get(s: *mut c_void, digits: *mut c_char, max: c_int) -> usize;
        pub(crate) fn dtmf_rx_free(s: *mut c_void) -> c_int;
    }
}

/// One 20 ms frame at 8 kHz.
const FRAME: usize = 160;

/// spandsp's DTMF receiver with its default parameters.
struct Spandsp(NonNull<c_void>);

impl Spandsp {
    fn new() -> Self {
        // SAFETY: with a null state pointer spandsp allocates and initialises its own state
        // (null on failure, which `NonNull::new` checks); no callback, so digits are queued
        // internally and read with `dtmf_rx_get`.
        let s = unsafe { ffi::dtmf_rx_init(std::ptr::null_mut(), None, std::ptr::null_mut()) };
        Self(NonNull::new(s).expect("dtmf_rx_init"))
    }

    fn process(&mut self, frame: &[i16]) {
        // SAFETY: the state is live and `frame` holds `frame.len()` samples, which spandsp only
        // reads.
        unsafe { ffi::dtmf_rx(self.0.as_ptr(), frame.as_ptr(), frame.len() as c_int) };
    }

    /// Digits queued since the last call.
    fn take_digits(&mut self) -> String {
        let mut buf = [0 as c_char; 128];
        // SAFETY: the state is live; spandsp writes at most `max` (127) bytes into `buf`.
        let n = unsafe { ffi::dtmf_rx_get(self.0.as_ptr(), buf.as_mut_ptr(), 127) };
        buf[..n.min(127)].iter().map(|&c| c as u8 as char).collect()
    }
}

impl Drop for Spandsp {
    fn drop(&mut self) {
        // SAFETY: the state came from `dtmf_rx_init` and is freed exactly once.
        unsafe { ffi::dtmf_rx_free(self.0.as_ptr()) };
    }
}

/// Tandem's detector, frame by frame with contiguous timestamps.
struct Tandem {
    detector: DtmfDetector,
    events: Vec<DtmfEvent>,
    frame: [i16; FRAME],
    timestamp: u64,
}

impl Tandem {
    fn new() -> Self {
        let detector = DtmfDetector::new(DtmfConfig::default()).expect("default config");
        let events = vec![DtmfEvent::default(); detector.events_max(FRAME)];
        Self {
            detector,
            events,
            frame: [0; FRAME],
            timestamp: 0,
        }
    }

    /// Processes one frame; returns the digits that began in it.
    fn process(&mut self, frame: &[i16]) -> usize {
        self.frame.copy_from_slice(frame);
        let n = self
            .detector
            .process(self.timestamp, &mut self.frame, &mut self.events)
            .unwrap_or(0);
        self.timestamp += FRAME as u64;
        n
    }

    fn begun(&self, n: usize) -> impl Iterator<Item = char> + '_ {
        self.events[..n]
            .iter()
            .filter(|e| e.kind == DtmfEventKind::Begin)
            .map(|e| e.digit.as_char())
    }
}

/// xorshift64*: seeded noise.
fn noise(len: usize, rms: f64, mut seed: u64) -> Vec<i16> {
    (0..len)
        .map(|_| {
            let mut sum = 0.0;
            for _ in 0..12 {
                seed ^= seed >> 12;
                seed ^= seed << 25;
                seed ^= seed >> 27;
                let u =
                    (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
                sum += u;
            }
            ((sum - 6.0) * rms).round() as i16
        })
        .collect()
}

/// espeak-ng speech resampled to 8 kHz by sox, scaled to −16 dBm0 RMS over its active part;
/// `None` if the tools are missing.
fn espeak_speech() -> Option<Vec<i16>> {
    let dir = std::env::temp_dir();
    let wav = dir.join(format!("tandem-bench-dtmf-{}.wav", std::process::id()));
    let raw = dir.join(format!("tandem-bench-dtmf-{}.raw", std::process::id()));
    let text = "Thank you for calling. Please listen carefully, as our menu options have \
                changed. For billing, press one. To speak with an operator, stay on the line. \
                Guten Tag, bitte haben Sie Ihre Kundennummer bereit. Merci de patienter.";
    let ok = Command::new("espeak-ng")
        .args(["-v", "en-us+f3", "-s", "170", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .ok()?
        .success()
        && Command::new("sox")
            .arg("-G")
            .arg(&wav)
            .args([
                "-r", "8000", "-b", "16", "-e", "signed", "-c", "1", "-t", "raw",
            ])
            .arg(&raw)
            .status()
            .ok()?
            .success();
    let bytes = std::fs::read(&raw).ok();
    let _ = std::fs::remove_file(&wav);
    let _ = std::fs::remove_file(&raw);
    if !ok {
        return None;
    }
    let pcm: Vec<i16> = bytes?
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let floor = dbm0_to_peak(-50.0);
    let active: Vec<f64> = pcm
        .iter()
        .map(|&v| f64::from(v))
        .filter(|v| v.abs() > floor)
        .collect();
    let rms = (active.iter().map(|v| v * v).sum::<f64>() / active.len().max(1) as f64).sqrt();
    let gain = dbm0_to_peak(-16.0) / 2f64.sqrt() / rms.max(1.0);
    Some(
        pcm.iter()
            .map(|&v| (f64::from(v) * gain).round().clamp(-32768.0, 32767.0) as i16)
            .collect(),
    )
}

/// A vowel-like fallback: harmonics of a 140 Hz voice with a slow vibrato.
fn synthetic_speech(len: usize) -> Vec<i16> {
    (0..len)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let f0 = 140.0 * (1.0 + 0.05 * (2.0 * std::f64::consts::PI * 3.0 * t).sin());
            let v: f64 = (1..20)
                .map(|h| (2.0 * std::f64::consts::PI * f0 * f64::from(h) * t).sin() / f64::from(h))
                .sum();
            (v * 3000.0) as i16
        })
        .collect()
}

/// Frames of `pcm`, whole frames only.
fn frames(pcm: &[i16]) -> Vec<[i16; FRAME]> {
    pcm.chunks_exact(FRAME)
        .map(|c| {
            let mut f = [0i16; FRAME];
            f.copy_from_slice(c);
            f
        })
        .collect()
}

/// What each detector reports on `frames` (run once, before measuring).
fn sanity(name: &str, frames: &[[i16; FRAME]]) {
    let mut ours = Tandem::new();
    let mut theirs = Spandsp::new();
    let mut a = String::new();
    let mut b = String::new();
    for f in frames {
        let n = ours.process(f);
        a.extend(ours.begun(n));
        theirs.process(f);
        b.push_str(&theirs.take_digits());
    }
    eprintln!(
        "dtmf bench input {name} ({:.1} s): tandem reports {a:?}, spandsp reports {b:?}",
        (frames.len() * FRAME) as f64 / 8000.0
    );
}

/// Runs Tandem's detector over `n` frames of `input` (cycled).
#[inline(never)]
fn count_tandem(input: &[[i16; FRAME]], n: usize) -> usize {
    let mut ours = Tandem::new();
    (0..n).map(|i| ours.process(&input[i % input.len()])).sum()
}

/// Runs spandsp's detector over `n` frames of `input` (cycled).
#[inline(never)]
fn count_spandsp(input: &[[i16; FRAME]], n: usize) -> usize {
    let mut theirs = Spandsp::new();
    for i in 0..n {
        theirs.process(&input[i % input.len()]);
    }
    theirs.take_digits().len()
}

fn bench_detect(c: &mut Criterion) {
    let silence = frames(&noise(FRAME * 50, dbm0_to_peak(-60.0) / 2f64.sqrt(), 7));
    let speech = frames(&espeak_speech().unwrap_or_else(|| synthetic_speech(8000 * 10)));
    let tone = frames(
        &DtmfGenerator::render(
            DtmfGeneratorConfig {
                on_ms: 2000,
                off_ms: 0,
                ..DtmfGeneratorConfig::default()
            },
            "5",
        )
        .expect("valid generator config"),
    );
    let dtmf_sequence = frames(
        &DtmfGenerator::render(DtmfGeneratorConfig::default(), "0123456789*#ABCD")
            .expect("valid generator config"),
    );
    sanity("speech", &speech);
    sanity("digits 0123456789*#ABCD", &dtmf_sequence);

    // Instruction-count mode, for a load-independent comparison under valgrind:
    // `TANDEM_DTMF_COUNT=speech valgrind --tool=callgrind <bench binary> --bench`, then
    // `callgrind_annotate --inclusive=yes` shows `count_tandem` and `count_spandsp`, each
    // over 1000 frames.
    if let Ok(which) = std::env::var("TANDEM_DTMF_COUNT") {
        let input = match which.as_str() {
            "silence" => &silence,
            "tone" => &tone,
            "dialling" => &dtmf_sequence,
            _ => &speech,
        };
        black_box(count_tandem(input, 1000));
        black_box(count_spandsp(input, 1000));
        std::process::exit(0);
    }

    let mut group = c.benchmark_group("dtmf");
    group.throughput(Throughput::Elements(FRAME as u64));
    for (name, input) in [
        ("silence", &silence),
        ("speech", &speech),
        ("tone", &tone),
        ("dialling", &dtmf_sequence),
    ] {
        let mut ours = Tandem::new();
        let mut i = 0;
        group.bench_function(format!("{name}/tandem"), |b| {
            b.iter(|| {
                let n = ours.process(black_box(&input[i % input.len()]));
                i += 1;
                black_box(n)
            })
        });
        let mut theirs = Spandsp::new();
        let mut j = 0;
        group.bench_function(format!("{name}/spandsp"), |b| {
            b.iter(|| {
                theirs.process(black_box(&input[j % input.len()]));
                j += 1;
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("dtmf_generate");
    group.throughput(Throughput::Elements(FRAME as u64));
    let mut generator = DtmfGenerator::new(DtmfGeneratorConfig {
        on_ms: 10_000,
        off_ms: 0,
        ..DtmfGeneratorConfig::default()
    })
    .expect("valid generator config");
    let mut out = [0i16; FRAME];
    group.bench_function("frame/tandem", |b| {
        b.iter(|| {
            if generator.is_idle() {
                let _ = generator.push_digits("5");
            }
            black_box(generator.generate_into(black_box(&mut out)))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_detect);
criterion_main!(benches);
