//! G.722 at 64 kbit/s: Tandem's codec (`tandem_codecs::g722`) against spandsp's (Debian
//! `libspandsp-dev` 0.0.6), side by side, on the unit the media path runs: one 20 ms frame
//! (320 samples at 16 kHz, 160 bytes).
//!
//! Group `g722`: `encode+decode/{tandem,spandsp}` is the figure to compare (one frame encoded
//! then its payload decoded, state carried from frame to frame as in a call); `encode/*` and
//! `decode/*` split it. The input is a speech-like mix of harmonics, a slow vibrato and a little
//! noise at about -12 dBFS, so the quantizers see varied intervals rather than one.
//!
//! Run: `cargo bench -p tandem-benches --bench g722 -- --warm-up-time 1 --measurement-time 3`.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::hint::black_box;
use std::ptr::NonNull;

use criterion::{Criterion, criterion_group, criterion_main};
use tandem_codecs::g722::{G722Decoder, G722Encoder};
use tandem_codecs::{Decoder, Encoder};

/// The part of spandsp's `<spandsp/g722.h>` the bench uses.
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

/// One 20 ms frame at 16 kHz.
const FRAME: usize = 320;
/// Frames of input cycled through, so the codecs never see one frame repeated.
const FRAMES: usize = 50;

/// spandsp's encoder and decoder at 64 kbit/s, 16 kHz, unpacked: the same job as ours.
struct Spandsp {
    encoder: NonNull<c_void>,
    decoder: NonNull<c_void>,
}

impl Spandsp {
    fn new() -> Self {
        // SAFETY: with a null state pointer spandsp allocates and initialises its own state,
        // returning null on failure, which `NonNull::new` checks.
        let encoder = unsafe { ffi::g722_encode_init(std::ptr::null_mut(), 64_000, 0) };
        // SAFETY: as above, for the decoder.
        let decoder = unsafe { ffi::g722_decode_init(std::ptr::null_mut(), 64_000, 0) };
        Self {
            encoder: NonNull::new(encoder).expect("g722_encode_init"),
            decoder: NonNull::new(decoder).expect("g722_decode_init"),
        }
    }

    fn encode(&mut self, pcm: &[i16; FRAME], payload: &mut [u8; FRAME / 2]) -> usize {
        // SAFETY: the state is live; `pcm` holds FRAME samples and `payload` the FRAME / 2
        // bytes spandsp writes for them at 64 kbit/s unpacked.
        let n = unsafe {
            ffi::g722_encode(
                self.encoder.as_ptr(),
                payload.as_mut_ptr(),
                pcm.as_ptr(),
                FRAME as c_int,
            )
        };
        n as usize
    }

    fn decode(&mut self, payload: &[u8; FRAME / 2], pcm: &mut [i16; FRAME]) -> usize {
        // SAFETY: the state is live; `payload` holds FRAME / 2 bytes and `pcm` room for the
        // FRAME samples spandsp writes for them at 16 kHz.
        let n = unsafe {
            ffi::g722_decode(
                self.decoder.as_ptr(),
                pcm.as_mut_ptr(),
                payload.as_ptr(),
                (FRAME / 2) as c_int,
            )
        };
        n as usize
    }
}

impl Drop for Spandsp {
    fn drop(&mut self) {
        // SAFETY: both states came from the *_init calls with a null pointer, so spandsp owns
        // them and the *_free calls release them; neither is used afterwards.
        unsafe {
            ffi::g722_encode_free(self.encoder.as_ptr());
            ffi::g722_decode_free(self.decoder.as_ptr());
        }
    }
}

/// A speech-like test signal: a 140 Hz voice with decaying harmonics and vibrato, a formant-ish
/// 2.3 kHz component, and a little noise, about -12 dBFS.
fn input() -> Vec<[i16; FRAME]> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut phase = 0.0f64;
    let mut frames = vec![[0i16; FRAME]; FRAMES];
    for (n, s) in frames.iter_mut().flatten().enumerate() {
        let t = n as f64 / 16_000.0;
        let f0 = 140.0 * (1.0 + 0.05 * (2.0 * std::f64::consts::PI * 3.0 * t).sin());
        phase += 2.0 * std::f64::consts::PI * f0 / 16_000.0;
        let voice: f64 = (1..=12).map(|k| (k as f64 * phase).sin() / k as f64).sum();
        let formant = 0.3 * (2.0 * std::f64::consts::PI * 2_300.0 * t).sin();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed >> 52) as f64 / 4096.0 - 0.5;
        *s = (4_000.0 * (voice + formant) + 200.0 * noise) as i16;
    }
    frames
}

fn bench_g722(c: &mut Criterion) {
    let frames = input();
    let mut group = c.benchmark_group("g722");

    let mut encoder = G722Encoder::new();
    let mut decoder = G722Decoder::new();
    let mut spandsp = Spandsp::new();
    let mut payload = [0u8; FRAME / 2];
    let mut pcm = [0i16; FRAME];

    let mut frame = frames.iter().cycle();
    group.bench_function("encode+decode/tandem", |b| {
        b.iter(|| {
            let input = black_box(frame.next().unwrap());
            let n = encoder.encode(input, &mut payload).unwrap();
            let m = decoder.decode(&payload[..n], &mut pcm).unwrap();
            black_box(&pcm[..m]);
        })
    });
    let mut frame = frames.iter().cycle();
    group.bench_function("encode+decode/spandsp", |b| {
        b.iter(|| {
            let input = black_box(frame.next().unwrap());
            spandsp.encode(input, &mut payload);
            let m = spandsp.decode(&payload, &mut pcm);
            black_box(&pcm[..m]);
        })
    });

    let mut frame = frames.iter().cycle();
    group.bench_function("encode/tandem", |b| {
        b.iter(|| {
            let n = encoder
                .encode(black_box(frame.next().unwrap()), &mut payload)
                .unwrap();
            black_box(&payload[..n]);
        })
    });
    let mut frame = frames.iter().cycle();
    group.bench_function("encode/spandsp", |b| {
        b.iter(|| {
            let n = spandsp.encode(black_box(frame.next().unwrap()), &mut payload);
            black_box(&payload[..n]);
        })
    });

    // Decode real payloads: the encoded input, cycled.
    let mut payloads = vec![[0u8; FRAME / 2]; FRAMES];
    let mut reference = G722Encoder::new();
    for (input, out) in frames.iter().zip(payloads.iter_mut()) {
        reference.encode(input, out).unwrap();
    }
    let mut payload = payloads.iter().cycle();
    group.bench_function("decode/tandem", |b| {
        b.iter(|| {
            let m = decoder
                .decode(black_box(payload.next().unwrap()), &mut pcm)
                .unwrap();
            black_box(&pcm[..m]);
        })
    });
    let mut payload = payloads.iter().cycle();
    group.bench_function("decode/spandsp", |b| {
        b.iter(|| {
            let m = spandsp.decode(black_box(payload.next().unwrap()), &mut pcm);
            black_box(&pcm[..m]);
        })
    });

    group.finish();
}

criterion_group!(benches, bench_g722);
criterion_main!(benches);
