//! Fixed-ratio telephony resampling: a polyphase FIR [`Resampler`] between any two of
//! [`SUPPORTED_RATES`] (8, 12, 16, 24, 32 and 48 kHz), used by the transcoder on the media path.
//!
//! # Contract
//!
//! - **Rates.** `from` and `to` are taken from [`SUPPORTED_RATES`]; the ratio is reduced to
//!   L/M by their gcd (8→48 is 6/1, 16→24 is 3/2, 48→32 is 2/3). Equal rates are a plain copy
//!   with no delay. Anything else is [`CodecError::UnsupportedResampleRatio`].
//! - **Lengths.** [`Resampler::process`] accepts **any** input length, including 0 and 1: it
//!   tracks the phase of the output grid across calls and writes exactly
//!   [`Resampler::output_len`] samples. A call whose length is a multiple of M (every whole
//!   number of milliseconds is) writes exactly `input_len · to / from`, whatever lengths came
//!   before; other lengths make the per-call count vary by one, and the stream as a whole
//!   stays exact (after `T` input samples it has produced `T · to / from` rounded up or down
//!   by less than one sample). Chunked and one-shot processing give bit-identical output.
//! - **Delay.** Linear phase. [`Resampler::delay`] is the group delay in output samples, exact:
//!   a signal at input time `t` appears at output time `t + delay/to`. It is 15 output samples
//!   for every downsampling pair and `⌊(16·L − 1)/M⌋` for upsampling, at most 2 ms (2 ms
//!   exactly is never reached: 8→48 is 95 samples, 1.98 ms; 48→8 is 15, 1.875 ms). It is
//!   smaller for pairs whose lower rate is above 8 kHz (1 ms and under at 16 kHz).
//! - **Response**, in terms of `min = min(from, to)`: flat within ±0.035 dB from DC to
//!   [`PASSBAND_EDGE`]`·min` (3.28 kHz at 8 kHz, 6.56 kHz at 16 kHz); at least 97 dB of
//!   rejection from [`STOPBAND_EDGE`]`·min` (4.72 kHz at 8 kHz) upward. The transition band
//!   between them straddles the lower Nyquist frequency: when downsampling, input between
//!   `min/2` and `0.59·min` aliases into `0.41·min..min/2`, above the passband; when
//!   upsampling, images of input above `0.41·min` fall in the same transition band. Measured
//!   end to end through the `i16` interface, every telephony pair rejects stop-band tones by
//!   more than 90 dB (`tests/resample_quality.rs`).
//! - **Arithmetic.** `i16` in and out, `f32` inside (every `i16` is exact in `f32`; the taps
//!   are designed in `f64` and rounded once). Output is rounded half away from zero and
//!   saturates at the `i16` range, which overshoot near full scale can reach.
//!
//! # Real-time properties
//!
//! [`Resampler::new`] designs the filter and allocates the history; it is the only call that
//! allocates. [`Resampler::process`] writes only into the caller's buffer and the resampler's
//! own preallocated state, never allocates, locks or logs, and costs K multiply-adds per output
//! sample (K = 32 taps per phase for every upsampler; 48 to 192 for downsamplers, most for
//! 48→8). Size output buffers with [`Resampler::output_max`] at session creation.
//!
//! The kernels are plain scalar Rust shaped so that LLVM vectorises them with the baseline
//! SSE2 (fixed-length `chunks_exact`, independent accumulators, no bounds checks in the loop):
//! one dot product per output, or, when upsampling by 3 or more, all the outputs that share
//! an input window in one pass (see `polyphase.rs`). Hand-written SIMD twins with runtime CPU
//! dispatch would need `unsafe` calls into `#[target_feature]` functions, which this crate does
//! not allow outside its FFI module; at 20 ms per frame the scalar kernels already run at the
//! cost of rubato's FFT resampler (`benches/benches/resample.rs`).
//!
//! ```
//! use tandem_codecs::resample::Resampler;
//!
//! let mut up = Resampler::new(8000, 48000).unwrap();
//! let frame = [0i16; 160]; // 20 ms at 8 kHz
//! let mut out = vec![0i16; up.output_max(frame.len())]; // allocated once, up front
//! assert_eq!(up.output_len(frame.len()), 960);
//! assert_eq!(up.process(&frame, &mut out), 960);
//! assert!(up.delay() <= 96); // 2 ms at 48 kHz
//! ```

mod design;
mod polyphase;

pub use design::{PASSBAND_EDGE, STOPBAND_EDGE};

use crate::CodecError;
use polyphase::Polyphase;

/// The sample rates, in Hz, between which [`Resampler`] converts.
pub const SUPPORTED_RATES: [u32; 6] = [8000, 12000, 16000, 24000, 32000, 48000];

/// A polyphase FIR resampler between two of the telephony rates.
///
/// See the [module documentation](self) for the length, delay and quality contract.
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
    engine: Engine,
}

#[derive(Debug, Clone)]
enum Engine {
    /// Equal rates: a copy.
    Passthrough,
    /// An L/M polyphase filter.
    Polyphase(Polyphase),
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz, both from [`SUPPORTED_RATES`].
    ///
    /// Allocates: designs the filter (a few hundred taps) and its history.
    pub fn new(from: u32, to: u32) -> Result<Self, CodecError> {
        if !SUPPORTED_RATES.contains(&from) || !SUPPORTED_RATES.contains(&to) {
            return Err(CodecError::UnsupportedResampleRatio { from, to });
        }
        let engine = if from == to {
            Engine::Passthrough
        } else {
            let gcd = gcd(from, to);
            Engine::Polyphase(Polyphase::new((to / gcd) as usize, (from / gcd) as usize))
        };
        Ok(Self { from, to, engine })
    }

    /// Input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Exactly the number of samples the next [`process`](Self::process) call writes for
    /// `input_len` input samples (given a large enough output buffer).
    ///
    /// Depends on the stream's phase; it is `input_len · to / from` whenever `input_len` is a
    /// whole number of milliseconds.
    pub fn output_len(&self, input_len: usize) -> usize {
        match &self.engine {
            Engine::Passthrough => input_len,
            Engine::Polyphase(engine) => engine.output_len(input_len),
        }
    }

    /// An upper bound of [`output_len`](Self::output_len) for any input of up to `input_max`
    /// samples in any state: `⌈input_max · to / from⌉`. Size output buffers with it.
    pub fn output_max(&self, input_max: usize) -> usize {
        match &self.engine {
            Engine::Passthrough => input_max,
            Engine::Polyphase(engine) => engine.output_max(input_max),
        }
    }

    /// Group delay in output samples (0 for equal rates): a signal at input time `t` comes out
    /// at output time `t + delay() / to`. At most 2 ms for every pair.
    pub fn delay(&self) -> usize {
        match &self.engine {
            Engine::Passthrough => 0,
            Engine::Polyphase(engine) => engine.delay(),
        }
    }

    /// Resamples `input` into `output` and returns the samples written, which is
    /// [`output_len`](Self::output_len)`(input.len())`. Any input length is accepted; history
    /// carries over to the next call. Never allocates.
    ///
    /// `output` must hold at least `output_len(input.len())` samples. A shorter buffer is a
    /// caller bug: debug builds panic; release builds fill `output`, drop the samples that do
    /// not fit (the stream stays in step) and return `output.len()`.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        debug_assert!(
            output.len() >= self.output_len(input.len()),
            "resampler output buffer holds {} samples, needs {}",
            output.len(),
            self.output_len(input.len())
        );
        match &mut self.engine {
            Engine::Passthrough => {
                let len = input.len().min(output.len());
                output[..len].copy_from_slice(&input[..len]);
                len
            }
            Engine::Polyphase(engine) => engine.process(input, output),
        }
    }

    /// Forgets all history, as if newly built.
    pub fn reset(&mut self) {
        if let Engine::Polyphase(engine) = &mut self.engine {
            engine.reset();
        }
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> impl Iterator<Item = (u32, u32)> {
        SUPPORTED_RATES
            .into_iter()
            .flat_map(|a| SUPPORTED_RATES.into_iter().map(move |b| (a, b)))
    }

    #[test]
    fn rejects_unsupported_rates() {
        for (from, to) in [
            (44100, 48000),
            (8000, 11025),
            (0, 8000),
            (8000, 0),
            (96000, 48000),
        ] {
            assert_eq!(
                Resampler::new(from, to).unwrap_err(),
                CodecError::UnsupportedResampleRatio { from, to }
            );
        }
    }

    #[test]
    fn reports_its_rates() {
        let r = Resampler::new(16000, 24000).unwrap();
        assert_eq!((r.from_rate(), r.to_rate()), (16000, 24000));
    }

    #[test]
    fn equal_rates_copy() {
        let mut r = Resampler::new(16000, 16000).unwrap();
        let input: Vec<i16> = (0..320).map(|i| (i * 97 % 6000) as i16).collect();
        let mut out = vec![0; 320];
        assert_eq!(r.delay(), 0);
        assert_eq!(r.process(&input, &mut out), 320);
        assert_eq!(out, input);
    }

    #[test]
    fn whole_milliseconds_give_exact_lengths_in_any_state() {
        for (from, to) in pairs() {
            let mut r = Resampler::new(from, to).unwrap();
            let per_ms_in = from as usize / 1000;
            let per_ms_out = to as usize / 1000;
            let mut out = vec![0; r.output_max(20 * per_ms_in)];
            // Put the stream at an odd phase first: 7 samples, then whole milliseconds.
            let odd = r.output_len(7);
            assert_eq!(r.process(&[1; 7], &mut out), odd);
            for ms in [10, 20, 1, 3] {
                assert_eq!(
                    r.output_len(ms * per_ms_in),
                    ms * per_ms_out,
                    "{from}->{to}"
                );
                assert_eq!(
                    r.process(&vec![0; ms * per_ms_in], &mut out),
                    ms * per_ms_out
                );
            }
        }
    }

    #[test]
    fn delay_is_at_most_two_milliseconds() {
        for (from, to) in pairs() {
            let r = Resampler::new(from, to).unwrap();
            assert!(
                r.delay() * 1000 <= 2 * to as usize,
                "{from}->{to}: {}",
                r.delay()
            );
        }
        assert_eq!(Resampler::new(8000, 48000).unwrap().delay(), 95);
        assert_eq!(Resampler::new(48000, 8000).unwrap().delay(), 15);
    }

    /// A click at input sample `i`, with `i` on the output grid, peaks exactly `delay()` output
    /// samples after its position `i · to / from`.
    #[test]
    fn impulse_peaks_after_exactly_delay_samples() {
        for (from, to) in pairs().filter(|(a, b)| a != b) {
            let mut r = Resampler::new(from, to).unwrap();
            let click_at = from as usize / 100; // 10 ms
            let mut input = vec![0i16; 4 * click_at];
            input[click_at] = 20000;
            let mut out = vec![0; r.output_max(input.len())];
            let n = r.process(&input, &mut out);
            let peak = (0..n).max_by_key(|&i| out[i].unsigned_abs()).unwrap();
            assert_eq!(
                peak,
                click_at * to as usize / from as usize + r.delay(),
                "{from}->{to}"
            );
        }
    }

    #[test]
    fn reset_behaves_as_new() {
        let mut used = Resampler::new(12000, 32000).unwrap();
        let mut out = vec![0; 2000];
        used.process(&[3000; 333], &mut out);
        used.reset();
        let mut fresh = Resampler::new(12000, 32000).unwrap();
        let input: Vec<i16> = (0..480)
            .map(|i| ((i * 7919) % 20000) as i16 - 10000)
            .collect();
        let mut a = vec![0; 1280];
        let mut b = vec![0; 1280];
        assert_eq!(used.process(&input, &mut a), fresh.process(&input, &mut b));
        assert_eq!(a, b);
    }

    #[test]
    fn dc_passes_at_unit_gain() {
        for (from, to) in pairs() {
            let mut r = Resampler::new(from, to).unwrap();
            let input = vec![10000i16; from as usize / 25]; // 40 ms
            let mut out = vec![0; r.output_max(input.len())];
            let n = r.process(&input, &mut out);
            // After the filter has filled, DC comes through within one LSB.
            for &y in &out[n / 2..n] {
                assert!((i32::from(y) - 10000).abs() <= 1, "{from}->{to}: {y}");
            }
        }
    }

    #[test]
    fn full_scale_saturates_instead_of_wrapping() {
        let mut r = Resampler::new(8000, 48000).unwrap();
        // A full-scale square wave at 2 kHz overshoots after filtering (Gibbs).
        let input: Vec<i16> = (0..800)
            .map(|i| if i / 2 % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        let mut out = vec![0; 4800];
        let n = r.process(&input, &mut out);
        assert!(out[..n].contains(&i16::MAX) && out[..n].contains(&i16::MIN));
        // No wrap-around: a sample next to a positive clip is never a large negative value.
        for w in out[..n].windows(2) {
            assert!((i32::from(w[0]) - i32::from(w[1])).abs() < 40000);
        }
    }
}
