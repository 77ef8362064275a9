//! Spectral kernels for the DTMF and tone detectors, all on 8 kHz `f32` blocks: the eight-tone
//! Goertzel bank over a Hann-windowed 20 ms block, a one-sample-shift frequency estimator, and a
//! least-squares fit of a tone pair over a 5 ms sub-block.
//!
//! # The bank ([`DtmfBank`])
//!
//! A Goertzel filter (Goertzel 1958; Proakis & Manolakis §8.3.2) per DTMF frequency over a
//! 160-sample block weighted by a periodic Hann window: bin spacing 50 Hz, main lobe ±100 Hz,
//! side lobes ≤ −31 dB and falling 18 dB/octave, so the other group's tone (≥ 268 Hz away) leaks
//! less than −55 dB into a bin. The block is run as two interleaved 80-sample halves (16
//! independent recursions, which the compiler vectorises) and the halves are joined with the
//! phase factor `e^{-jω·80}`: `X = e^{-jω·79}(y₁ + e^{-jω·80} y₂)` where `y = s[M−1] − e^{-jω}s[M−2]`
//! is the complex Goertzel output of a half. Interleaving halves the loop-carried latency of the
//! recursion, which is what bounds a Goertzel bank's speed.
//!
//! # The frequency estimator ([`FreqEstimator`])
//!
//! A Goertzel bin cannot tell 697 Hz from 697 Hz + 3.5 % (24 Hz is half a bin). The estimator
//! measures the frequency directly: with `Y_a = Σ h[n] x[n] e^{-jω₀n}` and
//! `Y_b = Σ h[n] x[n+1] e^{-jω₀n}` (the same window shifted by one sample), a steady tone
//! `e^{jωn}` gives `Y_b = e^{jω} Y_a` exactly, so `ω̂ = arg(Y_b · conj Y_a)`. This is the
//! phase-vocoder estimate with a one-sample hop (Flanagan & Golden 1966), equivalent to the
//! derivative-window reassignment of Auger & Flandrin (1995). Measured (unit tests): with the
//! other DTMF tone 8 dB stronger and ≥ 236 Hz away the error is under 2 Hz, against 9 Hz or
//! more of margin between the ±2.5 % tolerance and Q.24's limits. A tone whose amplitude changes
//! inside the block (an onset, a fade) *and* that is off the bin biases the estimate, which is
//! why the detector also measures each tone's frequency over the whole tone from the pair fit's
//! phases. It needs no frequency grid, so the fax-tone detectors use it too.
//!
//! # Harmonics ([`DtmfBank::dft_many`])
//!
//! The detector checks for harmonics (instruments and voices have them, DTMF does not) with
//! eight Hann-windowed DFTs at arbitrary frequencies, run as the same interleaved sixteen-lane
//! recursion, phases referred to the block's centre so that two nearby components can be
//! separated with the window's real response ([`hann_response`]).
//!
//! # The pair fit ([`PairFit`])
//!
//! To time a tone's edges to a millisecond, each 40-sample sub-block is fitted by least squares
//! with `a cos ω_r n + b sin ω_r n + c cos ω_c n + d sin ω_c n` at a digit's two nominal
//! frequencies (the 4×4 Gram matrices are inverted once, at construction). The fit separates the
//! two tones exactly even though 5 ms is far too short for a DFT to resolve them, and its
//! amplitudes, divided by the tone's full amplitude, give the fraction of the sub-block the tone
//! covers.
//!
//! Real-time: all tables are built by the constructors; the per-block functions only read them.

use std::f64::consts::PI;

/// The sample rate the kernels run at.
pub(crate) const FS_HZ: f32 = 8000.0;
/// Analysis block: 20 ms at 8 kHz.
pub(crate) const BLOCK: usize = 160;
/// Half of the block; the bank runs the two halves interleaved.
const HALF: usize = BLOCK / 2;
/// Sub-block used to time tone edges: 5 ms at 8 kHz.
pub(crate) const SUB: usize = 40;
/// Sub-blocks per block.
pub(crate) const SUBS: usize = BLOCK / SUB;

/// DTMF frequencies (ITU-T Q.23 §2): low group then high group.
pub(crate) const DTMF_HZ: [f32; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];

/// Eight Goertzel recursions over each half of a (windowed) block, interleaved: lanes 0-7 run
/// over `xw[..80]` and lanes 8-15 over `xw[80..]`, with coefficients `coef[k] = 2 cos ω_k`.
/// Sixteen independent recursions hide the latency of each one's multiply-add chain; the
/// compiler vectorises the lanes. The loop is unrolled by two with the two state arrays
/// trading roles (`s[n] = x[n] + c·s[n−1] − s[n−2]` overwrites `s[n−2]`), so no state is copied
/// and the 8 state vectors, 4 coefficient vectors and the inputs fit in SSE2's 16 registers.
/// Returns `(s[M−1], s[M−2])` per lane.
///
/// Kept out of line: inlined into its callers, the lanes were no longer vectorised.
#[inline(never)]
fn goertzel_halves(xw: &[f32; BLOCK], coef: &[f32; 16]) -> ([f32; 16], [f32; 16]) {
    // `older` holds s[n−2] and `newer` s[n−1] at the top of each step.
    let mut older = [0.0f32; 16];
    let mut newer = [0.0f32; 16];
    for n in (0..HALF).step_by(2) {
        let (a0, b0) = (xw[n], xw[n + HALF]);
        for k in 0..8 {
            older[k] = (a0 - older[k]) + coef[k] * newer[k];
        }
        for k in 8..16 {
            older[k] = (b0 - older[k]) + coef[k] * newer[k];
        }
        let (a1, b1) = (xw[n + 1], xw[n + 1 + HALF]);
        for k in 0..8 {
            newer[k] = (a1 - newer[k]) + coef[k] * older[k];
        }
        for k in 8..16 {
            newer[k] = (b1 - newer[k]) + coef[k] * older[k];
        }
    }
    (newer, older)
}

/// Sum of a periodic Hann window of length [`BLOCK`].
const HANN_SUM: f32 = BLOCK as f32 / 2.0;
/// Sum of squares of a periodic Hann window of length [`BLOCK`].
const HANN_SUM_SQ: f32 = BLOCK as f32 * 3.0 / 8.0;

/// Periodic Hann window of length `n`.
fn hann(n: usize) -> impl Iterator<Item = f32> {
    (0..n).map(move |i| (0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos()) as f32)
}

/// Dot product with eight partial sums, so the compiler may vectorise it without reassociating.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    acc.iter().sum::<f32>() + tail
}

/// Sum of squares with eight partial sums.
#[inline]
pub(crate) fn energy(a: &[f32]) -> f32 {
    dot(a, a)
}

/// Amplitude response of the length-160 periodic Hann window, normalised to 1 at its centre,
/// at `offset_hz` from the bin: `sinc(b) / (1 − b²)` with `b = offset · 160 / 8000`. Used to undo
/// the scalloping loss of a tone that is off its bin by a measured amount.
pub(crate) fn hann_gain(offset_hz: f32) -> f32 {
    hann_response(offset_hz).abs()
}

/// Output of [`DtmfBank::analyse`]: each tone's estimated mean square (a tone `A cos` reads
/// `A²/2`), and the block's Hann-weighted mean square on the same scale.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BankOutput {
    pub(crate) tone_ms: [f32; 8],
    pub(crate) total_ms: f32,
}

/// The eight-tone Goertzel bank (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct DtmfBank {
    /// `2 cos ω` for the 8 tones, twice (first half, second half).
    coef: [f32; 16],
    cos_w: [f32; 8],
    sin_w: [f32; 8],
    /// `e^{-jω·80}` as (re, im).
    rot: [(f32, f32); 8],
    window: [f32; BLOCK],
}

impl DtmfBank {
    pub(crate) fn new() -> Self {
        let mut coef = [0.0f32; 16];
        let mut cos_w = [0.0f32; 8];
        let mut sin_w = [0.0f32; 8];
        let mut rot = [(0.0f32, 0.0f32); 8];
        for (k, &f) in DTMF_HZ.iter().enumerate() {
            let w = 2.0 * PI * f64::from(f) / f64::from(FS_HZ);
            coef[k] = (2.0 * w.cos()) as f32;
            coef[k + 8] = coef[k];
            cos_w[k] = w.cos() as f32;
            sin_w[k] = w.sin() as f32;
            let wm = w * HALF as f64;
            rot[k] = (wm.cos() as f32, -wm.sin() as f32);
        }
        let mut window = [0.0f32; BLOCK];
        for (w, h) in window.iter_mut().zip(hann(BLOCK)) {
            *w = h;
        }
        Self {
            coef,
            cos_w,
            sin_w,
            rot,
            window,
        }
    }

    /// Runs the bank over one block.
    pub(crate) fn analyse(&self, x: &[f32; BLOCK]) -> BankOutput {
        let mut xw = [0.0f32; BLOCK];
        for ((o, &s), &w) in xw.iter_mut().zip(x).zip(&self.window) {
            *o = s * w;
        }
        let total = energy(&xw);

        let (s1, s2) = goertzel_halves(&xw, &self.coef);

        let norm = 2.0 / (HANN_SUM * HANN_SUM);
        let mut tone_ms = [0.0f32; 8];
        for k in 0..8 {
            let (c, s) = (self.cos_w[k], self.sin_w[k]);
            let y1 = (s1[k] - c * s2[k], s * s2[k]);
            let y2 = (s1[k + 8] - c * s2[k + 8], s * s2[k + 8]);
            let (rr, ri) = self.rot[k];
            let re = y1.0 + rr * y2.0 - ri * y2.1;
            let im = y1.1 + rr * y2.1 + ri * y2.0;
            tone_ms[k] = (re * re + im * im) * norm;
        }
        BankOutput {
            tone_ms,
            total_ms: total / HANN_SUM_SQ,
        }
    }
}

impl DtmfBank {
    /// Hann-windowed DFTs of `x` at eight arbitrary frequencies in one pass (above 4 kHz a
    /// frequency reads its alias, where a harmonic of an unfiltered synthetic tone lands), with
    /// phases referred to the block's centre so that a component's contribution to a nearby
    /// frequency is its amplitude times the real [`hann_response`]. Scaled so that a tone
    /// `A cos(ωn + φ)` reads `(A/2)·e^{jφ'}`; its mean square on the bank's scale is `2|X|²`.
    ///
    /// For each half, `y = s[M−1] − e^{−jω}s[M−2]` gives `Σ v[n]e^{−jωn} = e^{−jω·79}(y₁ +
    /// e^{−jω·80}y₂)`; referring the phase to sample 79.5 multiplies by `e^{jω·79.5}`.
    pub(crate) fn dft_many(&self, x: &[f32; BLOCK], freqs_hz: &[f32; 8]) -> [(f32, f32); 8] {
        let mut xw = [0.0f32; BLOCK];
        for ((o, &s), &w) in xw.iter_mut().zip(x).zip(&self.window) {
            *o = s * w;
        }
        // One sin_cos per frequency: e^{jω/2}; e^{jω} and e^{jω·80} (80 = 64 + 16) follow by
        // squaring.
        let sq = |(s, c): (f32, f32)| (2.0 * s * c, c * c - s * s);
        let half: [(f32, f32); 8] =
            std::array::from_fn(|k| (std::f32::consts::PI * freqs_hz[k] / FS_HZ).sin_cos());
        let mut coef = [0.0f32; 16];
        for k in 0..8 {
            coef[k] = 2.0 * sq(half[k]).1;
            coef[k + 8] = coef[k];
        }
        let (s1, s2) = goertzel_halves(&xw, &coef);
        std::array::from_fn(|k| {
            let (sin_h, cos_h) = half[k];
            let (sin_w, cos_w) = sq(half[k]);
            let e16 = sq(sq(sq(sq((sin_w, cos_w)))));
            let e64 = sq(sq(e16));
            let (sin_m, cos_m) = (e64.0 * e16.1 + e64.1 * e16.0, e64.1 * e16.1 - e64.0 * e16.0);
            let y1 = (s1[k] - cos_w * s2[k], sin_w * s2[k]);
            let y2 = (s1[k + 8] - cos_w * s2[k + 8], sin_w * s2[k + 8]);
            // y₁ + e^{−jω·80}·y₂
            let re = y1.0 + cos_m * y2.0 + sin_m * y2.1;
            let im = y1.1 + cos_m * y2.1 - sin_m * y2.0;
            // · e^{jω/2}
            (
                (re * cos_h - im * sin_h) / HANN_SUM,
                (re * sin_h + im * cos_h) / HANN_SUM,
            )
        })
    }
}

/// Signed amplitude response of the length-160 periodic Hann window at `offset_hz`,
/// normalised to 1 at 0 (phase referred to the window's centre): `sinc(b) / (1 − b²)`.
pub(crate) fn hann_response(offset_hz: f32) -> f32 {
    let b = f64::from(offset_hz) * BLOCK as f64 / f64::from(FS_HZ);
    if b.abs() < 1e-6 {
        return 1.0;
    }
    let denom = 1.0 - b * b;
    if denom.abs() < 1e-6 {
        return 0.5;
    }
    ((PI * b).sin() / (PI * b) / denom) as f32
}

/// One-sample-shift frequency estimator around a nominal frequency (see the module
/// documentation). Works on 160-sample blocks at 8 kHz.
#[derive(Debug, Clone)]
pub(crate) struct FreqEstimator {
    /// `h[n] cos ω₀n`, with `h` a 159-point Hann and a trailing zero.
    re: [f32; BLOCK],
    /// `−h[n] sin ω₀n`, likewise.
    im: [f32; BLOCK],
}

/// Result of [`FreqEstimator::estimate`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct FreqEstimate {
    /// Measured frequency (Hz).
    pub(crate) freq_hz: f32,
    /// Mean square of the tone at the nominal frequency (not corrected for scalloping).
    pub(crate) tone_ms: f32,
}

impl FreqEstimator {
    pub(crate) fn new(freq_hz: f32) -> Self {
        let w0 = 2.0 * PI * f64::from(freq_hz) / f64::from(FS_HZ);
        let len = BLOCK - 1;
        let mut re = [0.0f32; BLOCK];
        let mut im = [0.0f32; BLOCK];
        for n in 0..len {
            let h = (PI * (n + 1) as f64 / (len + 1) as f64).sin().powi(2);
            re[n] = (h * (w0 * n as f64).cos()) as f32;
            im[n] = (-h * (w0 * n as f64).sin()) as f32;
        }
        Self { re, im }
    }

    /// Estimates the frequency of the dominant tone near the nominal one in `x`.
    pub(crate) fn estimate(&self, x: &[f32; BLOCK]) -> FreqEstimate {
        let mut shifted = [0.0f32; BLOCK];
        shifted[..BLOCK - 1].copy_from_slice(&x[1..]);
        let (ar, ai) = (dot(&self.re, x), dot(&self.im, x));
        let (br, bi) = (dot(&self.re, &shifted), dot(&self.im, &shifted));
        // Y_b · conj(Y_a)
        let cr = br * ar + bi * ai;
        let ci = bi * ar - br * ai;
        let w = ci.atan2(cr);
        let h_sum = BLOCK as f32 / 2.0;
        FreqEstimate {
            freq_hz: w * FS_HZ / (2.0 * std::f32::consts::PI),
            tone_ms: 2.0 * (ar * ar + ai * ai) / (h_sum * h_sum),
        }
    }
}

/// Result of [`PairFit::fit`] for one sub-block.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PairAmplitudes {
    /// Fitted amplitude of the low-group tone.
    pub(crate) low: f32,
    /// Fitted amplitude of the high-group tone.
    pub(crate) high: f32,
    /// Complex amplitudes `a − jb` of the low and high tone (`x ≈ Re(z e^{jωn})`, `n` counted
    /// from the sub-block's start), as (re, im).
    pub(crate) phasors: [(f32, f32); 2],
    /// Energy of the fitted two-tone signal over the sub-block.
    pub(crate) fit_energy: f32,
    /// Energy of the sub-block.
    pub(crate) energy: f32,
}

/// Least-squares two-tone fit over a 40-sample sub-block, for every DTMF digit (see the module
/// documentation).
#[derive(Debug, Clone)]
pub(crate) struct PairFit {
    /// `cos ω_k n` and `sin ω_k n`, n < 40, for the 8 tones.
    basis: [[[f32; SUB]; 2]; 8],
    /// Inverse Gram matrix per (row, column) pair, index `row * 4 + col`.
    gram_inv: [[[f32; 4]; 4]; 16],
}

impl PairFit {
    pub(crate) fn new() -> Self {
        let mut basis = [[[0.0f32; SUB]; 2]; 8];
        let mut basis64 = [[[0.0f64; SUB]; 2]; 8];
        for (k, &f) in DTMF_HZ.iter().enumerate() {
            let w = 2.0 * PI * f64::from(f) / f64::from(FS_HZ);
            for n in 0..SUB {
                basis64[k][0][n] = (w * n as f64).cos();
                basis64[k][1][n] = (w * n as f64).sin();
                basis[k][0][n] = basis64[k][0][n] as f32;
                basis[k][1][n] = basis64[k][1][n] as f32;
            }
        }
        let mut gram_inv = [[[0.0f32; 4]; 4]; 16];
        for row in 0..4 {
            for col in 0..4 {
                let b = [
                    &basis64[row][0],
                    &basis64[row][1],
                    &basis64[4 + col][0],
                    &basis64[4 + col][1],
                ];
                let mut g = [[0.0f64; 4]; 4];
                for i in 0..4 {
                    for j in 0..4 {
                        g[i][j] = b[i].iter().zip(b[j].iter()).map(|(p, q)| p * q).sum();
                    }
                }
                let inv = invert4(g);
                for i in 0..4 {
                    for j in 0..4 {
                        gram_inv[row * 4 + col][i][j] = inv[i][j] as f32;
                    }
                }
            }
        }
        Self { basis, gram_inv }
    }

    /// Fits tones `row` (0..4) and `4 + col` to the sub-block `x` (40 samples).
    pub(crate) fn fit(&self, row: usize, col: usize, x: &[f32]) -> PairAmplitudes {
        let b = [
            &self.basis[row][0],
            &self.basis[row][1],
            &self.basis[4 + col][0],
            &self.basis[4 + col][1],
        ];
        let r = [dot(b[0], x), dot(b[1], x), dot(b[2], x), dot(b[3], x)];
        let g = &self.gram_inv[row * 4 + col];
        let mut theta = [0.0f32; 4];
        for i in 0..4 {
            theta[i] = g[i][0] * r[0] + g[i][1] * r[1] + g[i][2] * r[2] + g[i][3] * r[3];
        }
        PairAmplitudes {
            low: (theta[0] * theta[0] + theta[1] * theta[1]).sqrt(),
            high: (theta[2] * theta[2] + theta[3] * theta[3]).sqrt(),
            phasors: [(theta[0], -theta[1]), (theta[2], -theta[3])],
            fit_energy: (theta[0] * r[0] + theta[1] * r[1] + theta[2] * r[2] + theta[3] * r[3])
                .max(0.0),
            energy: energy(x),
        }
    }
}

/// Inverse of a symmetric positive-definite 4×4 matrix by Gauss-Jordan elimination with partial
/// pivoting (construction time only).
fn invert4(mut a: [[f64; 4]; 4]) -> [[f64; 4]; 4] {
    let mut inv = [[0.0f64; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for c in 0..4 {
        let p = (c..4)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        a.swap(c, p);
        inv.swap(c, p);
        let d = a[c][c];
        for j in 0..4 {
            a[c][j] /= d;
            inv[c][j] /= d;
        }
        for r in 0..4 {
            if r != c {
                let f = a[r][c];
                for j in 0..4 {
                    a[r][j] -= f * a[c][j];
                    inv[r][j] -= f * inv[c][j];
                }
            }
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, amp: f64, phase: f64) -> [f32; BLOCK] {
        let mut x = [0.0f32; BLOCK];
        for (n, v) in x.iter_mut().enumerate() {
            *v = (amp * (2.0 * PI * freq * n as f64 / 8000.0 + phase).cos()) as f32;
        }
        x
    }

    #[test]
    fn bank_reads_tone_power_in_its_bin() {
        let bank = DtmfBank::new();
        for (k, &f) in DTMF_HZ.iter().enumerate() {
            let x = tone(f64::from(f), 1000.0, 0.3);
            let out = bank.analyse(&x);
            let want = 1000.0f32 * 1000.0 / 2.0;
            assert!(
                (out.tone_ms[k] / want - 1.0).abs() < 0.02,
                "{f}: {}",
                out.tone_ms[k]
            );
            assert!((out.total_ms / want - 1.0).abs() < 0.02);
            for (j, &p) in out.tone_ms.iter().enumerate() {
                if j != k && (j < 4) != (k < 4) {
                    assert!(p < want * 1e-5, "leak {f} -> {}: {p}", DTMF_HZ[j]);
                }
            }
        }
    }

    #[test]
    fn estimator_measures_offset_tones_with_the_other_tone_present() {
        for &(f0, other) in &[(697.0f32, 1633.0f64), (941.0, 1209.0), (1633.0, 697.0)] {
            let est = FreqEstimator::new(f0);
            for pct in [-3.5f64, -1.5, 0.0, 1.5, 3.5] {
                let f = f64::from(f0) * (1.0 + pct / 100.0);
                let a = tone(f, 3000.0, 0.7);
                let b = tone(other, 7500.0, 1.9);
                let mut x = [0.0f32; BLOCK];
                for n in 0..BLOCK {
                    x[n] = a[n] + b[n];
                }
                let got = est.estimate(&x).freq_hz;
                // The other tone, 8 dB stronger and ≥ 236 Hz away, moves the estimate < 2 Hz,
                // against a margin of 9 Hz or more between the tolerance and Q.24's limits.
                assert!(
                    (f64::from(got) - f).abs() < 2.0,
                    "{f0} {pct}%: {got} vs {f}"
                );
            }
        }
    }

    #[test]
    fn pair_fit_separates_the_two_tones_of_a_sub_block() {
        let fit = PairFit::new();
        let a = tone(941.0, 2000.0, 0.4);
        let b = tone(1209.0, 5000.0, 2.0);
        let mut x = [0.0f32; SUB];
        for n in 0..SUB {
            x[n] = a[n + 17] + b[n + 17];
        }
        let p = fit.fit(3, 0, &x);
        assert!((p.low - 2000.0).abs() < 2.0, "{p:?}");
        assert!((p.high - 5000.0).abs() < 2.0, "{p:?}");
        assert!((p.fit_energy / p.energy - 1.0).abs() < 1e-3);
    }

    #[test]
    fn hann_gain_matches_the_bank_off_bin() {
        let bank = DtmfBank::new();
        for off in [5.0f32, 10.0, 24.5, 40.0] {
            let x = tone(f64::from(1633.0 + off), 1000.0, 0.1);
            let out = bank.analyse(&x);
            let measured = (out.tone_ms[7] / 500_000.0).sqrt();
            assert!(
                (measured - hann_gain(off)).abs() < 0.02,
                "{off}: {measured} vs {}",
                hann_gain(off)
            );
        }
    }
}
