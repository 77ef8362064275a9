//! The streaming polyphase engine: L/M rational resampling, computing only the kept samples.
//!
//! Conceptually the input is zero-stuffed by L to the common rate, low-pass filtered by the
//! prototype from [`super::design`], and every M-th sample is kept. Output `m` sits at
//! common-rate time `t = m·M + τ`; it reads the K input samples ending at `⌊t/L⌋` and uses
//! phase `t mod L` of the filter (the prototype taps `t mod L + k·L`, stored oldest-first).
//!
//! The grid offset `τ = centre mod M` (centre = the prototype's centre tap) puts every output
//! sample exactly on the input's time grid shifted by a whole number of output samples, the
//! delay `⌊centre/M⌋`, so [`super::Resampler::delay`] is exact and is the group delay.
//!
//! # Two kernels, one definition
//!
//! - **[`dot`]**: one dot product of K taps and K inputs per output. Used for downsampling
//!   (K = 48 to 192) and for upsampling by less than 3 (8→16, 16→24, 12→16, …; K = 32).
//! - **[`group`]**, for upsampling by 3 or more (8→24, 8→32, 8→48, 12→48, 16→48, 12→32 is
//!   8/3 and stays on `dot`): every output reads the window ending at one input sample, and
//!   each input sample ends the windows of ⌊L/M⌋ or ⌈L/M⌉ outputs (6 for 8→48). Those share the
//!   window, so `group` computes them together: their taps are interleaved into rows of W = 4
//!   or 8 lanes (one lane per output), and each input sample of the window is broadcast against
//!   its row, with no per-output horizontal sum. Which phases end at an input sample depends
//!   only on the first one, `t₀ mod L < M`, so there are M such tap tables. Below L/M = 3 too
//!   many lanes would idle, and `dot` measured faster.
//!
//! Both compute the same sum of products for each output, in a fixed order; they differ only in
//! `f32` rounding, and the tests hold both against an `f64` direct-form reference.
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
//! K multiply-adds per output sample (plus idle lanes when upsampling: L/M = 6 runs 8 lanes
//! for 6 outputs) and one conversion per input sample.

use std::fmt;

use super::design;

/// Input samples converted to `f32` per inner block.
const BLOCK: usize = 256;

/// Taps per phase are padded to a multiple of this (the width of [`dot`]'s accumulator, and a
/// multiple of the 4 rows [`group`] takes per step).
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
    /// The taps, laid out for the kernel in use.
    kernel: Kernel,
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

#[derive(Clone)]
enum Kernel {
    /// One dot product per output (downsampling, and upsampling by less than 3).
    Dot {
        /// `up` phases of K taps each, oldest input first, scaled by L.
        taps: Vec<f32>,
        /// For each phase: the phase of the next output and how many inputs it advances.
        steps: Vec<(usize, usize)>,
    },
    /// All outputs ending at one input sample at once (upsampling by 3 or 4), 4 lanes wide.
    Group4(Groups),
    /// The same, 8 lanes wide (more than 4 outputs per input sample: 8→48).
    Group8(Groups),
}

#[derive(Clone)]
struct Groups {
    /// For each first phase `p < M`: K rows of W lanes; lane `i` of row `j` is tap `j` of
    /// phase `p + i·M` (zero beyond the outputs of that group).
    tables: Vec<f32>,
    /// For each first phase `p < M`: the outputs in its group, `⌈(L − p)/M⌉`.
    counts: Vec<usize>,
}

impl Polyphase {
    /// A resampler by `up`/`down`, which must be coprime and differ.
    pub(super) fn new(up: usize, down: usize) -> Self {
        let oversampling = up.max(down);
        let prototype = design::lowpass(oversampling);
        let center = prototype.len() / 2;
        let k = prototype.len().div_ceil(up).next_multiple_of(LANES);
        // Tap `j` of `phase` (oldest input first): slot j multiplies the input K − 1 − j steps
        // before the newest one, which meets prototype tap `phase + (K − 1 − j)·L`.
        let tap = |phase: usize, j: usize| {
            let index = phase + (k - 1 - j) * up;
            prototype.get(index).map_or(0.0, |h| (h * up as f64) as f32)
        };
        let kernel = if up < 3 * down {
            let taps = (0..up)
                .flat_map(|p| (0..k).map(move |j| (p, j)))
                .map(|(p, j)| tap(p, j));
            let steps = (0..up)
                .map(|p| ((p + down) % up, (p + down) / up))
                .collect();
            Kernel::Dot {
                taps: taps.collect(),
                steps,
            }
        } else {
            let counts: Vec<usize> = (0..down).map(|p| (up - p).div_ceil(down)).collect();
            let width = if counts[0] > 4 { 8 } else { 4 };
            let mut tables = Vec::with_capacity(down * k * width);
            for (first, &count) in counts.iter().enumerate() {
                for j in 0..k {
                    for lane in 0..width {
                        let value = if lane < count {
                            tap(first + lane * down, j)
                        } else {
                            0.0
                        };
                        tables.push(value);
                    }
                }
            }
            let groups = Groups { tables, counts };
            if width == 8 {
                Kernel::Group8(groups)
            } else {
                Kernel::Group4(groups)
            }
        };
        let offset = center % down;
        let mut engine = Self {
            up,
            down,
            taps_per_phase: k,
            kernel,
            buf: vec![0.0; k - 1 + BLOCK],
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
        let history = self.taps_per_phase - 1;
        let mut written = 0;
        for block in input.chunks(BLOCK) {
            let len = block.len();
            for (slot, &sample) in self.buf[history..history + len].iter_mut().zip(block) {
                *slot = f32::from(sample);
            }
            let out = match &self.kernel {
                Kernel::Dot { .. } => self.run_dot(len, output, written),
                Kernel::Group4(_) => self.run_groups::<4>(len, output, written),
                Kernel::Group8(_) => self.run_groups::<8>(len, output, written),
            };
            written = out;
            self.buf.copy_within(len..len + history, 0);
        }
        written.min(output.len())
    }

    /// Computes the outputs whose windows end in the `len` samples just converted, one dot
    /// product each; returns the new count of outputs produced (written or not).
    fn run_dot(&mut self, len: usize, output: &mut [i16], mut written: usize) -> usize {
        let Kernel::Dot { taps, steps } = &self.kernel else {
            return written;
        };
        let k = self.taps_per_phase;
        let (mut phase, mut next) = (self.phase, self.next);
        while next < len {
            if let Some(out) = output.get_mut(written) {
                *out = to_i16(dot(
                    &taps[phase * k..(phase + 1) * k],
                    &self.buf[next..next + k],
                ));
            }
            written += 1;
            let (next_phase, advance) = steps[phase];
            phase = next_phase;
            next += advance;
        }
        self.phase = phase;
        self.next = next - len;
        written
    }

    /// Upsampling: for each of the `len` samples just converted, computes the outputs whose
    /// windows end there, together; returns the new count of outputs produced.
    fn run_groups<const W: usize>(
        &mut self,
        len: usize,
        output: &mut [i16],
        mut written: usize,
    ) -> usize {
        let (Kernel::Group4(groups) | Kernel::Group8(groups)) = &self.kernel else {
            return written;
        };
        let k = self.taps_per_phase;
        let table_len = k * W;
        // With L ≥ 3M, `next` is always 0 here: every input sample ends at least one window.
        let mut first = self.phase;
        for window in self.buf.windows(k).take(len) {
            let table = &groups.tables[first * table_len..(first + 1) * table_len];
            let count = groups.counts[first];
            let ys: [f32; W] = group(table, window);
            for &y in &ys[..count.min(W)] {
                if let Some(out) = output.get_mut(written) {
                    *out = to_i16(y);
                }
                written += 1;
            }
            first = first + count * self.down - self.up;
        }
        self.phase = first;
        written
    }
}

impl fmt::Debug for Polyphase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kernel = match self.kernel {
            Kernel::Dot { .. } => "dot",
            Kernel::Group4(_) => "group4",
            Kernel::Group8(_) => "group8",
        };
        f.debug_struct("Polyphase")
            .field("up", &self.up)
            .field("down", &self.down)
            .field("taps_per_phase", &self.taps_per_phase)
            .field("kernel", &kernel)
            .field("delay", &self.delay)
            .field("phase", &self.phase)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// The downsampling kernel: `Σ taps[i]·window[i]` over equal-length slices whose length is a
/// multiple of [`LANES`]. Lane `j` accumulates products `j, j + LANES, …`; the lanes are then
/// summed in order. The order is fixed, so the result is deterministic, and it is the shape
/// LLVM turns into two 4-wide multiply-adds per step with SSE2 alone (a tree-shaped final
/// reduction makes it fall back to 2-wide vectors, so keep the plain sum).
#[inline]
fn dot(taps: &[f32], window: &[f32]) -> f32 {
    debug_assert_eq!(taps.len(), window.len());
    debug_assert_eq!(taps.len() % LANES, 0);
    let mut acc = [0.0f32; LANES];
    for (t, w) in taps.chunks_exact(LANES).zip(window.chunks_exact(LANES)) {
        for ((a, &t), &w) in acc.iter_mut().zip(t).zip(w) {
            *a += t * w;
        }
    }
    acc.iter().sum()
}

/// The upsampling kernel: `W` dot products over one shared window. `table` holds one row of
/// `W` taps per window sample (`table.len() = W · window.len()`, `window.len()` a multiple of
/// 4). Rows are taken four at a time into four independent accumulators, so the additions of
/// consecutive rows do not wait on each other, then summed pairwise.
#[inline]
fn group<const W: usize>(table: &[f32], window: &[f32]) -> [f32; W] {
    debug_assert_eq!(table.len(), W * window.len());
    debug_assert_eq!(window.len() % 4, 0);
    let mut acc = [[0.0f32; W]; 4];
    for (rows, x) in table.chunks_exact(4 * W).zip(window.chunks_exact(4)) {
        for (s, acc) in acc.iter_mut().enumerate() {
            for (a, &t) in acc.iter_mut().zip(&rows[s * W..(s + 1) * W]) {
                *a += t * x[s];
            }
        }
    }
    let mut out = [0.0f32; W];
    for (lane, y) in out.iter_mut().enumerate() {
        *y = (acc[0][lane] + acc[1][lane]) + (acc[2][lane] + acc[3][lane]);
    }
    out
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

    /// Every L/M the supported rates produce (reduced ratios, both directions).
    const RATIOS: [(usize, usize); 14] = [
        (2, 1),
        (3, 1),
        (4, 1),
        (6, 1),
        (3, 2),
        (4, 3),
        (8, 3),
        (1, 2),
        (1, 3),
        (1, 4),
        (1, 6),
        (2, 3),
        (3, 4),
        (3, 8),
    ];

    /// The definition, in `f64` and direct form: zero-stuff by L, filter with the prototype
    /// scaled by L, keep common-rate samples `m·M + τ`.
    fn reference(up: usize, down: usize, input: &[i16]) -> Vec<f64> {
        let prototype = design::lowpass(up.max(down));
        let offset = (prototype.len() / 2) % down;
        let count = (input.len() * up).saturating_sub(offset).div_ceil(down);
        (0..count)
            .map(|m| {
                let t = m * down + offset;
                let oldest = (t + 1).saturating_sub(prototype.len()).div_ceil(up);
                (oldest..=t / up)
                    .filter_map(|n| prototype.get(t - n * up).map(|h| h * f64::from(input[n])))
                    .sum::<f64>()
                    * up as f64
            })
            .collect()
    }

    #[test]
    fn both_kernels_match_the_direct_form_reference() {
        let mut seed = 0x9e37_79b9u32;
        let input: Vec<i16> = (0..700)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (seed >> 16) as i16 / 2
            })
            .collect();
        for (up, down) in RATIOS {
            let mut engine = Polyphase::new(up, down);
            let expected = reference(up, down, &input);
            let mut out = vec![0i16; engine.output_max(input.len())];
            let n = engine.process(&input, &mut out);
            assert_eq!(n, expected.len(), "{up}/{down}");
            for (i, (&y, &r)) in out.iter().zip(&expected).enumerate() {
                let r = r.round().clamp(-32768.0, 32767.0);
                assert!(
                    (f64::from(y) - r).abs() <= 1.0,
                    "{up}/{down} sample {i}: {y} vs {r}"
                );
            }
        }
    }

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
    fn group_matches_naive_sums() {
        let window: Vec<f32> = (0..32).map(|i| (i as f32 * 1.3).cos() * 1000.0).collect();
        let table: Vec<f32> = (0..32 * 8).map(|i| (i as f32 * 0.37).sin()).collect();
        let ys: [f32; 8] = group(&table, &window);
        for (lane, &y) in ys.iter().enumerate() {
            let naive: f64 = (0..32)
                .map(|j| f64::from(table[j * 8 + lane]) * f64::from(window[j]))
                .sum();
            assert!((f64::from(y) - naive).abs() < 1e-3);
        }
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
        let Kernel::Group8(groups) = &engine.kernel else {
            panic!("8→48 groups 6 outputs")
        };
        for lane in 0..6 {
            let sum: f32 = groups.tables.iter().skip(lane).step_by(8).sum();
            assert!((sum - 1.0).abs() < 1e-4, "phase {lane}: sum {sum}");
        }
    }

    #[test]
    fn state_stays_within_one_decimation_step() {
        for (up, down) in RATIOS {
            let mut engine = Polyphase::new(up, down);
            let mut out = [0i16; 400];
            for len in [0, 1, 2, 3, 5, 7, 11, 13, 17, 40] {
                engine.process(&vec![100; len], &mut out);
                assert!(engine.next * engine.up + engine.phase < engine.down);
            }
        }
    }
}
