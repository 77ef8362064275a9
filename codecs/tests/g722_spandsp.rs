//! Differential test: Tandem's G.722 against spandsp's (Debian `libspandsp-dev` 0.0.6), both
//! directions, bit for bit, at 64 kbit/s with spandsp options 0 (16 kHz audio, one codeword
//! per byte, the RTP packing of RFC 3551 §4.5.2).
//!
//! The decoder is compared in [`OutputOverflow::Wrap`] mode, which narrows overshooting
//! samples to 16 bits the way spandsp does; the default [`OutputOverflow::Saturate`] decoder
//! runs alongside and must equal it on every sample except overshoots, where it holds
//! `i16::MAX` or `i16::MIN`.
//!
//! Inputs: speech from espeak-ng in several voices and languages, resampled to 16 kHz by sox
//! at test time (both must be installed, as must libspandsp); synthetic tones, sweeps,
//! full-scale square waves, clipping and noise; random byte streams for the decoder, so every
//! codeword and the saturation paths of the ADPCM are exercised; and random call sizes, so
//! state carried across calls is compared too.
//!
//! spandsp is reached through its C API, declared here; this is the only unsafe code in the
//! crate's tests.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::NonNull;

use proptest::prelude::*;
use tandem_codecs::g722::{G722Decoder, G722Encoder, OutputOverflow};
use tandem_codecs::{Decoder, Encoder};

/// The part of spandsp's `<spandsp/g722.h>` this test uses.
mod ffi {
    use std::ffi::{c_int, c_void};

    #[link(name = "spandsp")]
    unsafe extern "C" {
        pub(crate) fn g722_encode_init(s: *mut c_void, rate: c_int, options: c_int) -> *mut c_void;
        pub(crate) fn g722_encode_free(s: *mut c_void) -> c_int;
        pub(crate) fn g722_encode(
            s: *mut c_void,
            g722_data: *mut u8,
            amp: *const i16,
            len: c_int,
        ) -> c_int;
        pub(crate) fn g722_decode_init(s: *mut c_void, rate: c_int, options: c_int) -> *mut c_void;
        pub(crate) fn g722_decode_free(s: *mut c_void) -> c_int;
        pub(crate) fn g722_decode(
            s: *mut c_void,
            amp: *mut i16,
            g722_data: *const u8,
            len: c_int,
        ) -> c_int;
    }
}

/// 64 kbit/s, the only rate Tandem implements.
const RATE: c_int = 64_000;
/// spandsp options: 16 kHz audio, unpacked (one codeword per byte).
const OPTIONS: c_int = 0;

/// A spandsp G.722 encoder, owned.
struct SpandspEncoder(NonNull<c_void>);

impl SpandspEncoder {
    fn new() -> Self {
        // SAFETY: with a null state pointer spandsp allocates and initialises its own state
        // and returns it, or null on failure, which we check.
        let s = unsafe { ffi::g722_encode_init(std::ptr::null_mut(), RATE, OPTIONS) };
        Self(NonNull::new(s).expect("g722_encode_init failed"))
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        assert!(out.len() >= pcm.len() / 2);
        let len = c_int::try_from(pcm.len()).unwrap();
        // SAFETY: the state is live (owned by self); `pcm` holds `len` samples and `out` at
        // least `len / 2` bytes, which is what spandsp writes at 64 kbit/s unpacked.
        let n = unsafe { ffi::g722_encode(self.0.as_ptr(), out.as_mut_ptr(), pcm.as_ptr(), len) };
        usize::try_from(n).unwrap()
    }
}

impl Drop for SpandspEncoder {
    fn drop(&mut self) {
        // SAFETY: the state came from g722_encode_init with a null pointer, so spandsp owns
        // the allocation and g722_encode_free releases it; it is not used afterwards.
        unsafe { ffi::g722_encode_free(self.0.as_ptr()) };
    }
}

/// A spandsp G.722 decoder, owned.
struct SpandspDecoder(NonNull<c_void>);

impl SpandspDecoder {
    fn new() -> Self {
        // SAFETY: as for the encoder: spandsp allocates the state, we check for null.
        let s = unsafe { ffi::g722_decode_init(std::ptr::null_mut(), RATE, OPTIONS) };
        Self(NonNull::new(s).expect("g722_decode_init failed"))
    }

    fn decode(&mut self, codes: &[u8], out: &mut [i16]) -> usize {
        assert!(out.len() >= codes.len() * 2);
        let len = c_int::try_from(codes.len()).unwrap();
        // SAFETY: the state is live; `codes` holds `len` bytes and `out` room for the
        // `2 * len` samples spandsp writes at 16 kHz.
        let n = unsafe { ffi::g722_decode(self.0.as_ptr(), out.as_mut_ptr(), codes.as_ptr(), len) };
        usize::try_from(n).unwrap()
    }
}

impl Drop for SpandspDecoder {
    fn drop(&mut self) {
        // SAFETY: allocated by g722_decode_init with a null pointer; released once here.
        unsafe { ffi::g722_decode_free(self.0.as_ptr()) };
    }
}

/// Where two sequences first differ, for a readable failure.
fn first_difference<T: PartialEq + std::fmt::Debug>(ours: &[T], theirs: &[T]) -> Option<String> {
    if ours.len() != theirs.len() {
        return Some(format!(
            "lengths differ: ours {}, spandsp {}",
            ours.len(),
            theirs.len()
        ));
    }
    let at = ours.iter().zip(theirs).position(|(a, b)| a != b)?;
    let from = at.saturating_sub(3);
    let to = (at + 4).min(ours.len());
    Some(format!(
        "first difference at {at} of {}: ours {:?}, spandsp {:?}",
        ours.len(),
        &ours[from..to],
        &theirs[from..to]
    ))
}

/// Encodes `pcm` with both encoders in calls of `call` samples (even) and compares the bytes;
/// then decodes spandsp's bytes with both decoders in calls of `call / 2` bytes and compares
/// the samples. Returns the first difference found, or how many decoded samples overshot.
fn compare(pcm: &[i16], call: usize) -> Result<usize, String> {
    let mut ours = G722Encoder::new();
    let mut theirs = SpandspEncoder::new();
    let mut our_codes = vec![0u8; pcm.len() / 2];
    let mut their_codes = vec![0u8; pcm.len() / 2];
    for (i, chunk) in pcm.chunks(call).enumerate() {
        let at = i * call / 2;
        let n = ours
            .encode(chunk, &mut our_codes[at..])
            .map_err(|e| e.to_string())?;
        let m = theirs.encode(chunk, &mut their_codes[at..]);
        if n != m {
            return Err(format!(
                "encode call {i}: ours wrote {n} bytes, spandsp {m}"
            ));
        }
    }
    if let Some(diff) = first_difference(&our_codes, &their_codes) {
        return Err(format!("encode: {diff}"));
    }
    compare_decode(&their_codes, (call / 2).max(1))
}

/// Decodes `codes` with spandsp and with our wrapping decoder in calls of `call` bytes and
/// compares the samples; checks that our saturating decoder differs from our wrapping one
/// only by holding overshoots at the 16-bit limits. Returns how many samples overshot.
fn compare_decode(codes: &[u8], call: usize) -> Result<usize, String> {
    let mut wrapping = G722Decoder::with_overflow(OutputOverflow::Wrap);
    let mut saturating = G722Decoder::new();
    let mut theirs = SpandspDecoder::new();
    let mut wrapped_pcm = vec![0i16; codes.len() * 2];
    let mut saturated_pcm = vec![0i16; codes.len() * 2];
    let mut their_pcm = vec![0i16; codes.len() * 2];
    for (i, chunk) in codes.chunks(call).enumerate() {
        let at = i * call * 2;
        let n = wrapping
            .decode(chunk, &mut wrapped_pcm[at..])
            .map_err(|e| e.to_string())?;
        let s = saturating
            .decode(chunk, &mut saturated_pcm[at..])
            .map_err(|e| e.to_string())?;
        let m = theirs.decode(chunk, &mut their_pcm[at..]);
        if n != m || s != m {
            return Err(format!(
                "decode call {i}: ours wrote {n} and {s} samples, spandsp {m}"
            ));
        }
    }
    if let Some(diff) = first_difference(&wrapped_pcm, &their_pcm) {
        return Err(format!("decode: {diff}"));
    }
    let overshoot = |(&w, &s): (&i16, &i16)| w == s || s == i16::MAX || s == i16::MIN;
    match wrapped_pcm
        .iter()
        .zip(&saturated_pcm)
        .position(|p| !overshoot(p))
    {
        Some(at) => Err(format!(
            "saturating decoder differs at {at} by more than saturation: {} vs wrapped {}",
            saturated_pcm[at], wrapped_pcm[at]
        )),
        None => Ok(wrapped_pcm
            .iter()
            .zip(&saturated_pcm)
            .filter(|(w, s)| w != s)
            .count()),
    }
}

// ---------------------------------------------------------------------------------------------
// Speech from espeak-ng.

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("tandem-g722-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// Speaks `text` with espeak-ng `voice`, and has sox resample it to 16 kHz mono 16-bit,
/// applying `gain_db` after normalising to -1 dBFS (a positive gain clips).
fn speech(dir: &Path, voice: &str, text: &str, gain_db: i32) -> Vec<i16> {
    let spoken = dir.join(format!("{voice}.wav"));
    let resampled = dir.join(format!("{voice}-16k-{gain_db}.wav"));
    run(Command::new("espeak-ng")
        .arg("-v")
        .arg(voice)
        .arg("-w")
        .arg(&spoken)
        .arg(text));
    run(Command::new("sox")
        .arg(&spoken)
        .args(["-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer"])
        .arg(&resampled)
        .args(["gain", "-n", "-1", "gain", &gain_db.to_string()]));
    let bytes = std::fs::read(&resampled).expect("read resampled WAV");
    let pcm = wav_samples(&bytes).expect("sox wrote a 16 kHz mono 16-bit WAV");
    assert!(
        pcm.len() > 16_000,
        "{voice}: only {} samples of speech",
        pcm.len()
    );
    pcm
}

/// The samples of a RIFF/WAVE file holding 16 kHz mono 16-bit PCM; `None` for anything else.
fn wav_samples(bytes: &[u8]) -> Option<Vec<i16>> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut at = 12;
    let mut format_ok = false;
    while at + 8 <= bytes.len() {
        let id = bytes.get(at..at + 4)?;
        let len = u32_at(at + 4)? as usize;
        let body = at + 8;
        match id {
            b"fmt " => {
                // WAVE_FORMAT_PCM (1) or WAVE_FORMAT_EXTENSIBLE (0xFFFE), mono, 16 kHz, 16-bit.
                let tag = u16_at(body)?;
                format_ok = (tag == 1 || tag == 0xFFFE)
                    && u16_at(body + 2)? == 1
                    && u32_at(body + 4)? == 16_000
                    && u16_at(body + 14)? == 16;
            }
            b"data" if format_ok => {
                let data = bytes.get(body..(body + len).min(bytes.len()))?;
                return Some(
                    data.chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]))
                        .collect(),
                );
            }
            _ => {}
        }
        at = body + len + (len & 1);
    }
    None
}

#[test]
fn speech_in_several_voices_matches_spandsp() {
    let dir = TempDir::new("speech");
    let voices = [
        (
            "en",
            "The quick brown fox jumps over the lazy dog, twice, at seven o'clock.",
        ),
        (
            "en-us",
            "Please hold while we transfer your call to the next available agent.",
        ),
        (
            "de",
            "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
        ),
        (
            "fr",
            "Portez ce vieux whisky au juge blond qui fume, s'il vous plaît.",
        ),
        (
            "es",
            "El veloz murciélago hindú comía feliz cardillo y kiwi.",
        ),
        ("cmn", "我们明天下午三点在会议室开会。"),
    ];
    for (voice, text) in voices {
        for gain_db in [-20, 0, 6] {
            let pcm = speech(&dir.0, voice, text, gain_db);
            let pcm = &pcm[..pcm.len() & !1];
            for call in [320, 2, 162] {
                if let Err(e) = compare(pcm, call) {
                    panic!("{voice} at {gain_db} dB, calls of {call} samples: {e}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic signals.

/// A small deterministic generator (xorshift64*), so the test needs no extra crates.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn sample(&mut self) -> i16 {
        (self.next() >> 48) as i16
    }
}

const SECOND: usize = 16_000;

fn clip(x: f64) -> i16 {
    x.round().clamp(-32768.0, 32767.0) as i16
}

fn tone(freq: f64, amp: f64, len: usize) -> Vec<i16> {
    let w = 2.0 * std::f64::consts::PI * freq / 16_000.0;
    (0..len).map(|n| clip(amp * (w * n as f64).sin())).collect()
}

/// A logarithmic sweep from 20 Hz to 7.99 kHz.
fn sweep(amp: f64, len: usize) -> Vec<i16> {
    let (f0, f1) = (20.0f64, 7_990.0f64);
    let k = (f1 / f0).ln() / len as f64;
    let mut phase = 0.0;
    (0..len)
        .map(|n| {
            phase += 2.0 * std::f64::consts::PI * f0 * (k * n as f64).exp() / 16_000.0;
            clip(amp * phase.sin())
        })
        .collect()
}

fn square(period: usize, len: usize) -> Vec<i16> {
    (0..len)
        .map(|n| {
            if (n / (period / 2)) % 2 == 0 {
                i16::MAX
            } else {
                i16::MIN
            }
        })
        .collect()
}

fn signals() -> Vec<(String, Vec<i16>)> {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut v = vec![
        ("silence".to_string(), vec![0i16; SECOND]),
        ("dc +max".to_string(), vec![i16::MAX; SECOND]),
        ("dc min".to_string(), vec![i16::MIN; SECOND]),
        ("sweep -6 dBFS".to_string(), sweep(16_384.0, 4 * SECOND)),
        ("sweep full scale".to_string(), sweep(32_767.0, 4 * SECOND)),
        (
            "sweep clipped x4".to_string(),
            sweep(4.0 * 32_767.0, 2 * SECOND),
        ),
        (
            "white noise full scale".to_string(),
            (0..2 * SECOND).map(|_| noise.sample()).collect(),
        ),
        (
            "white noise -40 dBFS".to_string(),
            (0..2 * SECOND).map(|_| noise.sample() / 100).collect(),
        ),
        (
            "alternating extremes".to_string(),
            (0..SECOND)
                .map(|n| if n % 2 == 0 { i16::MAX } else { i16::MIN })
                .collect(),
        ),
    ];
    for freq in [50.0, 300.0, 1_000.0, 3_400.0, 4_000.0, 6_000.0, 7_900.0] {
        for amp in [100.0, 10_000.0, 32_767.0, 60_000.0] {
            v.push((
                format!("tone {freq} Hz amplitude {amp}"),
                tone(freq, amp, SECOND),
            ));
        }
    }
    for period in [4, 16, 40, 160, 320] {
        v.push((format!("square period {period}"), square(period, SECOND)));
    }
    // Speech-like bursts: tones switched on and off, so the adaptation restarts often.
    let mut bursts = Vec::new();
    for n in 0..40 {
        let f = 200.0 + 170.0 * f64::from(n);
        bursts.extend(tone(f, 25_000.0, 800));
        bursts.extend(std::iter::repeat_n(0, 400));
    }
    v.push(("bursts".to_string(), bursts));
    v
}

#[test]
fn synthetic_signals_match_spandsp() {
    let mut overshoots = 0;
    for (name, pcm) in signals() {
        for call in [320, 2, 640] {
            match compare(&pcm, call) {
                Ok(n) => overshoots += n,
                Err(e) => panic!("{name}, calls of {call} samples: {e}"),
            }
        }
    }
    // The full-scale signals must reach the overflow path, or it went untested.
    assert!(overshoots > 0, "no decoded sample overshot 16 bits");
}

/// Long runs of one codeword drive the scale factors and the predictor coefficients to their
/// limits, where the order of saturation matters (FILTEZ sums its six products before
/// saturating; a run of lower-band code 4 followed by a few 224s tells the difference). Every
/// codeword is run, followed by its complement, deterministically.
#[test]
fn codeword_runs_decode_like_spandsp() {
    let mut codes = Vec::new();
    codes.extend(std::iter::repeat_n(4u8, 206));
    codes.extend(std::iter::repeat_n(224u8, 6));
    for c in 0..=255u8 {
        codes.extend(std::iter::repeat_n(c, 200));
        codes.extend(std::iter::repeat_n(!c, 50));
        codes.extend(std::iter::repeat_n(c ^ 0x80, 20));
    }
    for call in [160, 7] {
        if let Err(e) = compare_decode(&codes, call) {
            panic!("calls of {call} bytes: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary codewords and arbitrary audio.

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every codeword sequence decodes the same, including the ones no encoder would send
    /// (lower-band codes 0-3, long runs of outer codes that drive the scale factors and the
    /// predictor to their limits).
    #[test]
    fn random_codewords_decode_like_spandsp(
        codes in proptest::collection::vec(any::<u8>(), 0..4000),
        call in 1usize..400,
    ) {
        if let Err(e) = compare_decode(&codes, call) {
            prop_assert!(false, "{}", e);
        }
    }

    /// Runs of a few codewords repeated: the saturation paths of block 4 and the QMF output.
    #[test]
    fn repeated_codewords_decode_like_spandsp(
        runs in proptest::collection::vec((any::<u8>(), 1usize..300), 1..40),
    ) {
        let codes: Vec<u8> = runs.iter().flat_map(|&(c, n)| std::iter::repeat_n(c, n)).collect();
        if let Err(e) = compare_decode(&codes, 160) {
            prop_assert!(false, "{}", e);
        }
    }

    /// Arbitrary audio, in arbitrary even call sizes, encodes (and decodes) the same.
    #[test]
    fn random_audio_matches_spandsp(
        pcm in proptest::collection::vec(any::<i16>(), 0..4000),
        call in 1usize..300,
    ) {
        let pcm = &pcm[..pcm.len() & !1];
        if let Err(e) = compare(pcm, call * 2) {
            prop_assert!(false, "{}", e);
        }
    }
}
