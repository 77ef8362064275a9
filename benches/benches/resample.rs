//! Cost of resampling one 20 ms mono frame, our polyphase `tandem_codecs::resample::Resampler`
//! against rubato's FFT synchronous resampler (`rubato::Fft`, the quality reference of
//! `codecs/tests/resample_quality.rs`), side by side for the pairs the transcoder uses most.
//!
//! rubato runs as it would in our pipeline: `f32`, one FFT block per 20 ms frame
//! (`FixedSync::Both`, one sub-chunk, the configuration the quality test measures), with the
//! `i16 → f32 → i16` conversions in the timed loop since ours does them too. Every resampler
//! and buffer is built outside `b.iter`; the measured loop allocates nothing.
//!
//! Run: `cargo bench -p tandem-benches --bench resample -- --warm-up-time 1 --measurement-time 3`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};
use tandem_codecs::resample::Resampler;

const PAIRS: [(u32, u32); 6] = [
    (8000, 48000),
    (48000, 8000),
    (8000, 16000),
    (16000, 8000),
    (16000, 48000),
    (48000, 16000),
];

/// One second of a speech-like signal at `rate`: harmonics of a wobbling pitch under a syllabic
/// envelope, plus a little noise.
fn speechlike(rate: u32) -> Vec<i16> {
    let mut seed = 0x2545_f491u32;
    (0..rate as usize)
        .map(|i| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let t = i as f64 / f64::from(rate);
            let f0 = 130.0 + 25.0 * (std::f64::consts::TAU * 5.0 * t).sin();
            let voiced: f64 = (1..12)
                .map(|h| (std::f64::consts::TAU * f0 * f64::from(h) * t).sin() / f64::from(h))
                .sum();
            let envelope = 0.5 + 0.5 * (std::f64::consts::TAU * 4.0 * t).sin().abs();
            let noise = f64::from(seed % 1001) - 500.0;
            (voiced * 6000.0 * envelope + noise) as i16
        })
        .collect()
}

fn resample(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample");
    for (from, to) in PAIRS {
        let frame_in = from as usize / 50;
        let frame_out = to as usize / 50;
        let signal = speechlike(from);
        let frames: Vec<&[i16]> = signal.chunks_exact(frame_in).collect();
        group.throughput(Throughput::Elements(frame_in as u64));

        let mut ours = Resampler::new(from, to).unwrap();
        let mut out = vec![0i16; ours.output_max(frame_in)];
        let mut i = 0;
        group.bench_function(format!("ours/{from}_{to}"), |b| {
            b.iter(|| {
                let frame = frames[i % frames.len()];
                i += 1;
                let n = ours.process(black_box(frame), &mut out);
                black_box(&out[..n]);
            })
        });

        let mut rubato = Fft::<f32>::new_custom(
            from as usize,
            to as usize,
            frame_in,
            1,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .unwrap();
        assert_eq!(rubato.input_frames_next(), frame_in);
        assert_eq!(rubato.output_frames_next(), frame_out);
        let mut float_in = vec![0f32; frame_in];
        let mut float_out = vec![0f32; frame_out];
        let mut out = vec![0i16; frame_out];
        let mut i = 0;
        group.bench_function(format!("rubato_fft/{from}_{to}"), |b| {
            b.iter(|| {
                let frame = frames[i % frames.len()];
                i += 1;
                for (f, &s) in float_in.iter_mut().zip(black_box(frame)) {
                    *f = f32::from(s);
                }
                let input = InterleavedSlice::new(&float_in, 1, frame_in).unwrap();
                let mut output = InterleavedSlice::new_mut(&mut float_out, 1, frame_out).unwrap();
                let (_, n) = rubato
                    .process_into_buffer(&input, &mut output, None)
                    .unwrap();
                for (s, &f) in out.iter_mut().zip(&float_out[..n]) {
                    *s = f.round() as i16;
                }
                black_box(&out[..n]);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, resample);
criterion_main!(benches);
