//! G.711 is bit-exact with independent implementations:
//! - sox's µ-law and A-law conversion, over every one of the 65,536 linear inputs and every one
//!   of the 256 codes;
//! - spandsp's G.711 (Debian's libspandsp), over all 256 codes and every input on G.711's own
//!   14-bit (µ-law) and 13-bit (A-law) grid. Off that grid spandsp truncates the extra bits
//!   where sox and Tandem round them, so the two references differ there by design.
//!
//! Needs `sox` and `libspandsp-dev`, which the README's test command installs.

use std::path::Path;
use std::process::Command;

use std::ffi::c_int;

use tandem_codecs::g711::{alaw, ulaw};

/// spandsp's G.711 API (spandsp/g711.h).
#[allow(unsafe_code)]
mod spandsp {
    use super::c_int;

    pub(crate) const G711_ALAW: c_int = 0;
    pub(crate) const G711_ULAW: c_int = 1;

    #[repr(C)]
    pub(crate) struct G711State {
        _opaque: [u8; 0],
    }

    #[link(name = "spandsp")]
    unsafe extern "C" {
        pub(crate) fn g711_init(s: *mut G711State, mode: c_int) -> *mut G711State;
        pub(crate) fn g711_free(s: *mut G711State) -> c_int;
        pub(crate) fn g711_encode(
            s: *mut G711State,
            out: *mut u8,
            amp: *const i16,
            len: c_int,
        ) -> c_int;
        pub(crate) fn g711_decode(
            s: *mut G711State,
            amp: *mut i16,
            data: *const u8,
            len: c_int,
        ) -> c_int;
    }

    /// Encodes `amp` with spandsp.
    pub(crate) fn encode(mode: c_int, amp: &[i16]) -> Vec<u8> {
        let mut out = vec![0u8; amp.len()];
        // SAFETY: g711_init(NULL, ..) allocates a state we free below; the buffers are valid
        // for `len` elements each.
        unsafe {
            let s = g711_init(std::ptr::null_mut(), mode);
            assert!(!s.is_null());
            g711_encode(s, out.as_mut_ptr(), amp.as_ptr(), amp.len() as c_int);
            g711_free(s);
        }
        out
    }

    /// Decodes `data` with spandsp.
    pub(crate) fn decode(mode: c_int, data: &[u8]) -> Vec<i16> {
        let mut out = vec![0i16; data.len()];
        // SAFETY: as in `encode`.
        unsafe {
            let s = g711_init(std::ptr::null_mut(), mode);
            assert!(!s.is_null());
            g711_decode(s, out.as_mut_ptr(), data.as_ptr(), data.len() as c_int);
            g711_free(s);
        }
        out
    }
}

fn sox(args: &[&str]) {
    let status = Command::new("sox")
        .args(args)
        .status()
        .expect("sox is installed (README)");
    assert!(status.success(), "sox {args:?} failed");
}

fn every_linear_sample() -> Vec<i16> {
    (i16::MIN..=i16::MAX).collect()
}

fn write_s16(path: &Path, samples: &[i16]) {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_s16(path: &Path) -> Vec<i16> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Encodes all 65,536 samples with sox (no dither: `-D`) and compares each code.
fn check_encoder(encoding: &str, ext: &str, ours: fn(i16) -> u8) {
    let dir = tempdir();
    let linear = dir.join("linear.raw");
    let coded = dir.join(format!("coded.{ext}"));
    let samples = every_linear_sample();
    write_s16(&linear, &samples);
    let linear_s = linear.to_str().unwrap();
    let coded_s = coded.to_str().unwrap();
    sox(&[
        "-D", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-L", linear_s,
        "-t", "raw", "-e", encoding, "-b", "8", coded_s,
    ]);
    let theirs = std::fs::read(&coded).unwrap();
    assert_eq!(theirs.len(), samples.len());
    let mismatches: Vec<_> = samples
        .iter()
        .zip(&theirs)
        .filter(|&(&s, &code)| ours(s) != code)
        .map(|(&s, &code)| (s, ours(s), code))
        .take(5)
        .collect();
    assert!(
        mismatches.is_empty(),
        "{encoding}: (sample, ours, sox) {mismatches:?}"
    );
}

/// Decodes all 256 codes with sox and compares each linear value.
fn check_decoder(encoding: &str, ext: &str, ours: fn(u8) -> i16) {
    let dir = tempdir();
    let coded = dir.join(format!("codes.{ext}"));
    let linear = dir.join("decoded.raw");
    let codes: Vec<u8> = (0..=255).collect();
    std::fs::write(&coded, &codes).unwrap();
    sox(&[
        "-D",
        "-t",
        "raw",
        "-r",
        "8000",
        "-e",
        encoding,
        "-b",
        "8",
        "-c",
        "1",
        coded.to_str().unwrap(),
        "-t",
        "raw",
        "-e",
        "signed",
        "-b",
        "16",
        "-L",
        linear.to_str().unwrap(),
    ]);
    let theirs = read_s16(&linear);
    for (&code, &value) in codes.iter().zip(&theirs) {
        assert_eq!(ours(code), value, "{encoding} code {code:#04x}");
    }
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tandem-g711-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn ulaw_encoder_matches_sox_on_all_65536_inputs() {
    check_encoder("u-law", "ul", ulaw::encode);
}

#[test]
fn alaw_encoder_matches_sox_on_all_65536_inputs() {
    check_encoder("a-law", "al", alaw::encode);
}

#[test]
fn ulaw_decoder_matches_sox_on_all_256_codes() {
    check_decoder("u-law", "ul", ulaw::decode);
}

#[test]
fn alaw_decoder_matches_sox_on_all_256_codes() {
    check_decoder("a-law", "al", alaw::decode);
}

/// G.711 §3 and §4 fix a few codes: µ-law 0xFF and A-law 0xD5 are the smallest positive
/// values, µ-law 0x80 / A-law 0xAA the largest.
#[test]
fn pinned_codes_from_the_recommendation() {
    assert_eq!(ulaw::encode(0), 0xFF);
    assert_eq!(alaw::encode(0), 0xD5);
    assert_eq!(ulaw::decode(0x80), 32124);
    assert_eq!(alaw::decode(0xAA), 32256);
    assert_eq!(ulaw::encode(i16::MAX), 0x80);
    assert_eq!(alaw::encode(i16::MAX), 0xAA);
}

fn check_against_spandsp(mode: c_int, grid: i16, encode: fn(i16) -> u8, decode: fn(u8) -> i16) {
    let on_grid: Vec<i16> = every_linear_sample()
        .into_iter()
        .filter(|s| s % grid == 0)
        .collect();
    let theirs = spandsp::encode(mode, &on_grid);
    for (&s, &code) in on_grid.iter().zip(&theirs) {
        assert_eq!(encode(s), code, "sample {s}");
    }
    let codes: Vec<u8> = (0..=255).collect();
    let theirs = spandsp::decode(mode, &codes);
    for (&code, &value) in codes.iter().zip(&theirs) {
        assert_eq!(decode(code), value, "code {code:#04x}");
    }
}

#[test]
fn ulaw_matches_spandsp_on_the_14_bit_grid_and_all_codes() {
    check_against_spandsp(spandsp::G711_ULAW, 4, ulaw::encode, ulaw::decode);
}

#[test]
fn alaw_matches_spandsp_on_the_13_bit_grid_and_all_codes() {
    check_against_spandsp(spandsp::G711_ALAW, 8, alaw::encode, alaw::decode);
}
