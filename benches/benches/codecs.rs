//! Per-codec encode and decode cost per 20 ms frame, with the references measured side by side
//! in the same run:
//! - G.711 encode + decode of one 160-sample frame (target ≤ 0.2 µs);
//! - our Opus wrapper against direct libopus calls with identical settings (target: ≤ 2%
//!   overhead), and the bundled libopus 1.5 against Debian's libopus 1.3.1 (`libopus.so.0`,
//!   loaded at run time so both live in one process), to justify the bundled build.
//!
//! Run: `cargo bench -p tandem-benches --bench codecs`.
#![allow(unsafe_code, missing_docs)]

use std::ffi::{c_int, c_void};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use libopus_sys as ffi;
use tandem_codecs::{EncoderConfig, Format, OpusConfig, registry};

/// One second of speech-like test signal at `rate`: a voiced source with vibrato and a
/// syllabic envelope, plus a little noise, so encoders see changing content.
fn speechlike(rate: u32) -> Vec<i16> {
    let mut seed = 0x2545_f491u32;
    (0..rate as usize)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let t = i as f64 / rate as f64;
            let f0 = 130.0 + 25.0 * (2.0 * std::f64::consts::PI * 5.0 * t).sin();
            let voiced: f64 = (1..12)
                .map(|h| (2.0 * std::f64::consts::PI * f0 * h as f64 * t).sin() / h as f64)
                .sum();
            let envelope = 0.5 + 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).sin().abs();
            let noise = (seed % 1001) as f64 - 500.0;
            (voiced * 6000.0 * envelope + noise) as i16
        })
        .collect()
}

fn g711(c: &mut Criterion) {
    let pcm = speechlike(8000);
    let frames: Vec<&[i16]> = pcm.chunks_exact(160).collect();
    let mut group = c.benchmark_group("g711");
    for format in [Format::PCMU, Format::PCMA] {
        let mut encoder = registry::new_encoder(format, &EncoderConfig::default()).unwrap();
        let mut decoder = registry::new_decoder(format).unwrap();
        let mut payload = [0u8; 160];
        let mut out = [0i16; 160];
        let mut i = 0;
        group.bench_function(format!("{}_encode_decode_20ms", format.codec), |b| {
            b.iter(|| {
                let frame = frames[i % frames.len()];
                i += 1;
                let n = encoder.encode(black_box(frame), &mut payload).unwrap();
                decoder.decode(black_box(&payload[..n]), &mut out).unwrap();
                black_box(&out);
            })
        });
    }
    group.finish();
}

fn opus_config() -> OpusConfig {
    OpusConfig {
        complexity: 5,
        bitrate_bps: Some(24000),
        ..OpusConfig::default()
    }
}

type CreateFn = unsafe extern "C" fn(i32, c_int, c_int, *mut c_int) -> *mut c_void;
type CtlFn = unsafe extern "C" fn(*mut c_void, c_int, ...) -> c_int;
type EncodeFn = unsafe extern "C" fn(*mut c_void, *const i16, c_int, *mut u8, i32) -> i32;
type DestroyFn = unsafe extern "C" fn(*mut c_void);

/// The libopus entry points the comparison needs, from the bundled library or from Debian's.
struct OpusApi {
    create: CreateFn,
    ctl: CtlFn,
    encode: EncodeFn,
    destroy: DestroyFn,
    version: unsafe extern "C" fn() -> *const std::ffi::c_char,
}

fn bundled_api() -> OpusApi {
    // SAFETY: the function pointers have the signatures libopus declares in opus.h; the
    // casts only erase the opaque struct type.
    unsafe {
        OpusApi {
            create: std::mem::transmute::<*const (), CreateFn>(
                ffi::opus_encoder_create as *const (),
            ),
            ctl: std::mem::transmute::<*const (), CtlFn>(ffi::opus_encoder_ctl as *const ()),
            encode: std::mem::transmute::<*const (), EncodeFn>(ffi::opus_encode as *const ()),
            destroy: std::mem::transmute::<*const (), DestroyFn>(
                ffi::opus_encoder_destroy as *const (),
            ),
            version: ffi::opus_get_version_string,
        }
    }
}

/// Debian's libopus, if installed; `None` otherwise (the comparison is then skipped).
fn debian_api() -> Option<(libloading::Library, OpusApi)> {
    // SAFETY: loading libopus runs no initialisers with preconditions; symbols are looked up
    // by their opus.h names and typed with opus.h's signatures.
    unsafe {
        let lib = libloading::Library::new("libopus.so.0").ok()?;
        let api = OpusApi {
            create: *lib.get(b"opus_encoder_create\0").ok()?,
            ctl: *lib.get(b"opus_encoder_ctl\0").ok()?,
            encode: *lib.get(b"opus_encode\0").ok()?,
            destroy: *lib.get(b"opus_encoder_destroy\0").ok()?,
            version: *lib.get(b"opus_get_version_string\0").ok()?,
        };
        Some((lib, api))
    }
}

/// A raw libopus encoder configured exactly as `tandem_codecs::opus::OpusEncoder` configures
/// its own for `opus_config()`.
struct RawEncoder<'a> {
    api: &'a OpusApi,
    state: *mut c_void,
}

impl<'a> RawEncoder<'a> {
    fn new(api: &'a OpusApi, rate: i32) -> Self {
        let config = opus_config();
        let mut error = 0;
        // SAFETY: documented libopus calls on a state we own; ctl requests take one int.
        unsafe {
            let state = (api.create)(rate, 1, ffi::OPUS_APPLICATION_VOIP as c_int, &mut error);
            assert!(!state.is_null() && error == 0);
            (api.ctl)(
                state,
                ffi::OPUS_SET_COMPLEXITY_REQUEST as c_int,
                config.complexity as c_int,
            );
            (api.ctl)(
                state,
                ffi::OPUS_SET_BITRATE_REQUEST as c_int,
                config.bitrate_bps.unwrap() as c_int,
            );
            (api.ctl)(
                state,
                ffi::OPUS_SET_VBR_REQUEST as c_int,
                config.vbr as c_int,
            );
            (api.ctl)(
                state,
                ffi::OPUS_SET_INBAND_FEC_REQUEST as c_int,
                config.inband_fec as c_int,
            );
            (api.ctl)(
                state,
                ffi::OPUS_SET_PACKET_LOSS_PERC_REQUEST as c_int,
                config.expected_loss_pct as c_int,
            );
            (api.ctl)(
                state,
                ffi::OPUS_SET_DTX_REQUEST as c_int,
                config.dtx as c_int,
            );
            Self { api, state }
        }
    }

    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> i32 {
        // SAFETY: `pcm` holds one whole frame, `out` is writable for its length.
        unsafe {
            (self.api.encode)(
                self.state,
                pcm.as_ptr(),
                pcm.len() as c_int,
                out.as_mut_ptr(),
                out.len() as i32,
            )
        }
    }
}

impl Drop for RawEncoder<'_> {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, destroyed once.
        unsafe { (self.api.destroy)(self.state) }
    }
}

fn version(api: &OpusApi) -> String {
    // SAFETY: libopus returns a static NUL-terminated string.
    unsafe {
        std::ffi::CStr::from_ptr((api.version)())
            .to_string_lossy()
            .into_owned()
    }
}

fn opus_encode(c: &mut Criterion) {
    for rate in [16000u32, 48000] {
        let pcm = speechlike(rate);
        let frame = (rate / 50) as usize;
        let frames: Vec<&[i16]> = pcm.chunks_exact(frame).collect();
        let mut group = c.benchmark_group(format!("opus_encode_{}k_c5_20ms", rate / 1000));
        let mut out = [0u8; 1500];

        let mut ours = registry::new_encoder(
            Format::opus(rate),
            &EncoderConfig {
                opus: opus_config(),
                ..EncoderConfig::default()
            },
        )
        .unwrap();
        let mut i = 0;
        group.bench_function("tandem_wrapper", |b| {
            b.iter(|| {
                i += 1;
                black_box(
                    ours.encode(black_box(frames[i % frames.len()]), &mut out)
                        .unwrap(),
                )
            })
        });

        let bundled = bundled_api();
        let mut raw = RawEncoder::new(&bundled, rate as i32);
        let mut i = 0;
        group.bench_function(format!("libopus_direct_{}", version(&bundled)), |b| {
            b.iter(|| {
                i += 1;
                black_box(raw.encode(black_box(frames[i % frames.len()]), &mut out))
            })
        });

        if let Some((_lib, debian)) = debian_api() {
            let mut raw = RawEncoder::new(&debian, rate as i32);
            let mut i = 0;
            group.bench_function(format!("libopus_direct_debian_{}", version(&debian)), |b| {
                b.iter(|| {
                    i += 1;
                    black_box(raw.encode(black_box(frames[i % frames.len()]), &mut out))
                })
            });
        }
        group.finish();
    }
}

fn opus_decode(c: &mut Criterion) {
    let rate = 16000;
    let pcm = speechlike(rate);
    let format = Format::opus(rate);
    let config = EncoderConfig {
        opus: opus_config(),
        ..EncoderConfig::default()
    };
    let mut encoder = registry::new_encoder(format, &config).unwrap();
    let mut buf = [0u8; 1500];
    let packets: Vec<Vec<u8>> = pcm
        .chunks_exact(320)
        .map(|f| {
            let n = encoder.encode(f, &mut buf).unwrap();
            buf[..n].to_vec()
        })
        .collect();
    let mut group = c.benchmark_group("opus_decode_16k_20ms");
    let mut ours = registry::new_decoder(format).unwrap();
    let mut out = [0i16; 320];
    let mut i = 0;
    group.bench_function("tandem_wrapper", |b| {
        b.iter(|| {
            i += 1;
            black_box(
                ours.decode(black_box(&packets[i % packets.len()]), &mut out)
                    .unwrap(),
            )
        })
    });
    let mut error = 0;
    // SAFETY: a decoder state we own, destroyed after the benchmark.
    let raw = unsafe { ffi::opus_decoder_create(rate as i32, 1, &mut error) };
    assert!(!raw.is_null());
    let mut i = 0;
    group.bench_function("libopus_direct", |b| {
        b.iter(|| {
            i += 1;
            let p = &packets[i % packets.len()];
            // SAFETY: valid packet and output buffers for their lengths.
            black_box(unsafe {
                ffi::opus_decode(raw, p.as_ptr(), p.len() as i32, out.as_mut_ptr(), 320, 0)
            })
        })
    });
    // SAFETY: created above, destroyed once.
    unsafe { ffi::opus_decoder_destroy(raw) };
    group.finish();
}

criterion_group!(benches, g711, opus_encode, opus_decode);
criterion_main!(benches);
