//! The streaming polyphase engine: L/M rational resampling with one FIR phase per output.
//!
//! Conceptually the input is zero-stuffed by L to the common rate, low-pass filtered by the
//! prototype from [`super::design`], and every M-th sample is kept. Only the kept samples are
//! computed: output `m` sits at common-rate time `t = m·M + τ`, reads the K input samples ending
//! at `⌊t/L⌋` and uses phase `t mod L` of the filter, whose K taps are stored oldest-first so the
//! kernel is a plain dot product of two equal-length slices.
//!
//! The grid offset `τ = centre mod M` (centre = the prototype's centre tap) puts every output
//! sample exactly on the input's time grid shifted by a whole number of output samples, the
//! delay `⌊centre/M⌋`, so [`super::Resampler::delay`] is exact and is the group delay.
//!
//! # State and lengths
//!
//! The only stream state is the position of the next output relative to the next input sample,
//! `t₀ = next·L + phase`, always in `0..M`, plus the last K − 1 input samples (as `f32`). A call
//! with `n` input samples writes `⌈(n·L − t₀)/M⌉` samples (0 if that is negative), so after `T`
//! samples in total the stream has produced `⌈(T·L − τ)/M⌉`: every call whose length is a
//! multiple of M (any whole number of milliseconds is) writes exactly `n·L/M`, whatever came
//! before. The value of each output depends only on the stream, never on how it was cut into
//! calls: chunked and one-shot processing give bit-identical results.
//!
//! # Real-time properties
//!
//! `process` allocates nothing: input is converted to `f32` in blocks of [`BLOCK`] samples into
//! a buffer sized at construction (K − 1 + BLOCK), behind the K − 1 samples of history. Work is
//! K multiply-adds per output sample plus one conversion per input sample.

use std::fmt;

use super::design;

/// Input samples converted to `f32` per inner block.
const BLOCK: usize = 256;

/// Multiply-add lanes of the kernel; taps per phase are padded to a multiple of this.
const LANES: usize = 8;

/// An L/M polyphase FIR resampler over `i16` samples.
#[derive(Clone)]
pub(super) struct Polyphase {
    /// Interpolation factor L.
    up: usize,
    /// Decimation factor M.
    down: usize,
    /// Taps per phase K, a multiple of [`LANES`].
    taps_per_phase: usize,
    /// `up` phases of `taps_per_phase` taps each, oldest input first, scaled by L.
    taps: Vec<f32>,
    /// For each phase: the phase of the next output and how many input samples it advances.
    steps: Vec<(usize, usize)>,
    /// K − 1 samples of history followed by room for one block of input.
    buf: Vec<f32>,
    /// Phase of the next output.
    phase: usize,
    /// Index of the newest input sample the next output reads, relative to the next input.
    next: usize,
    /// Grid offset τ of output 0, in samples of the common rate.
    offset: usize,
    /// Group delay in output samples.
    delay: usize,
}

impl Polyphase {
    /// A resampler by `up`/`down`, which must be coprime and differ.
    pub(super) fn new(up: usize, down: usize) -> Self {
        let oversampling = up.max(down);
        let prototype = design::lowpass(oversampling);
        let center = prototype.len() / 2;
        let taps_per_phase = prototype.len().div_ceil(up).next_multiple_of(LANES);
        let gain = up as f64;
        let mut taps = vec![0.0f32; up * taps_per_phase];
        for (phase, phase_taps) in taps.chunks_exact_mut(taps_per_phase).enumerate() {
            for (j, tap) in phase_taps.iter_mut().enumerate() {
                // Slot j multiplies the input sample (K − 1 − j) steps before the newest one.
                let index = phase + (taps_per_phase - 1 - j) * up;
                if let Some(h) = prototype.get(index) {
                    *tap = (h * gain) as f32;
                }
            }
        }
        let steps = (0..up)
            .map(|p| ((p + down) % up, (p + down) / up))
            .collect();
        let offset = center % down;
        let mut engine = Self {
            up,
            down,
            taps_per_phase,
            taps,
            steps,
            buf: vec![0.0; taps_per_phase - 1 + BLOCK],
            phase: 0,
            next: 0,
            offset,
            delay: center / down,
        };
        engine.reset();
        engine
    }

    pub(super) fn delay(&self) -> usize {
        self.delay
    }

    pub(super) fn output_len(&self, input_len: usize) -> usize {
        let start = self.next * self.up + self.phase;
        input_len
            .saturating_mul(self.up)
            .saturating_sub(start)
            .div_ceil(self.down)
    }

    pub(super) fn output_max(&self, input_max: usize) -> usize {
        input_max.saturating_mul(self.up).div_ceil(self.down)
    }

    pub(super) fn reset(&mut self) {
        self.buf.fill(0.0);
        self.phase = self.offset % self.up;
        self.next = self.offset / self.up;
    }

    pub(super) fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        let k = self.taps_per_phase;
        let history = k - 1;
        let mut phase = self.phase;
        let mut next = self.next;
        let mut written = 0;
        for block in input.chunks(BLOCK) {
            let len = block.len();
            for (slot, &sample) in self.buf[history..history + len].iter_mut().zip(block) {
                *slot = f32::from(sample);
            }
            while next < len {
                if let Some(out) = output.get_mut(written) {
                    let taps = &self.taps[phase * k..(phase + 1) * k];
                    *out = to_i16(dot(taps, &self.buf[next..next + k]));
                }
                written += 1;
                let (next_phase, advance) = self.steps[phase];
                phase = next_phase;
                next += advance;
            }
            next -= len;
            self.buf.copy_within(len..len + history, 0);
        }
        self.phase = phase;
        self.next = next;
        written.min(output.len())
    }
}

impl fmt::Debug for Polyphase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Polyphase")
            .field("up", &self.up)
            .field("down", &self.down)
            .field("taps_per_phase", &self.taps_per_phase)
            .field("delay", &self.delay)
            .field("phase", &self.phase)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// The kernel: `Σ taps[i]·window[i]` over equal-length slices whose length is a multiple of
/// [`LANES`], accumulated in [`LANES`] independent sums (which the compiler keeps in vector
/// registers) and reduced pairwise in a fixed order, so the result is deterministic.
#[inline]
fn dot(taps: &[f32], window: &[f32]) -> f32 {
    debug_assert_eq!(taps.len(), window.len());
    debug_assert_eq!(taps.len() % LANES, 0);
    let mut acc = [0.0f32; LANES];
    for (t, w) in taps.chunks_exact(LANES).zip(window.chunks_exact(LANES)) {
        for lane in 0..LANES {
            acc[lane] += t[lane] * w[lane];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// Rounds half away from zero and saturates to the `i16` range (`as` saturates).
#[inline]
fn to_i16(y: f32) -> i16 {
    let rounded = if y >= 0.0 { y + 0.5 } else { y - 0.5 };
    rounded as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum() {
        let taps: Vec<f32> = (0..32).map(|i| (i as f32 * 0.37).sin()).collect();
        let window: Vec<f32> = (0..32).map(|i| (i as f32 * 1.3).cos() * 1000.0).collect();
        let naive: f64 = taps
            .iter()
            .zip(&window)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        assert!((f64::from(dot(&taps, &window)) - naive).abs() < 1e-3);
    }

    #[test]
    fn to_i16_rounds_and_saturates() {
        assert_eq!(to_i16(0.49), 0);
        assert_eq!(to_i16(0.5), 1);
        assert_eq!(to_i16(-0.5), -1);
        assert_eq!(to_i16(-1.49), -1);
        assert_eq!(to_i16(40000.0), i16::MAX);
        assert_eq!(to_i16(-40000.0), i16::MIN);
    }

    #[test]
    fn every_phase_of_an_upsampler_has_unit_dc_gain() {
        // A DC input must come out as DC: each phase's taps sum to 1 within the stop-band level.
        let engine = Polyphase::new(6, 1);
        for phase in engine.taps.chunks_exact(engine.taps_per_phase) {
            let sum: f32 = phase.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "phase sum {sum}");
        }
    }

    #[test]
    fn state_stays_within_one_decimation_step() {
        let mut engine = Polyphase::new(3, 4);
        let mut out = [0i16; 64];
        for len in [0, 1, 2, 3, 5, 7, 11, 13, 17, 40] {
            engine.process(&vec![100; len], &mut out);
            assert!(engine.next * engine.up + engine.phase < engine.down);
        }
    }
}
