//! The mixer's inner loops: widening accumulation, peaks, the fused "sum minus own
//! contribution, narrowed to `i16`" pass of mix-minus, and the limiter's gain ramp.
//!
//! These scalar loops are the definition of the arithmetic (a contribution is
//! `(sample * gain_q12) >> 12`, an arithmetic shift, so unity gain is exact) and are written so
//! that LLVM vectorises them at the baseline target (SSE2 on x86_64, NEON on aarch64):
//!
//! - gains are `i16` (Q12, at most 16384), so `i16 × i16 → i32` products map to `pmullw` /
//!   `pmulhw` rather than an emulated 32-bit multiply;
//! - peaks are a maximum and a minimum reduced side by side (`pmaxsw` / `pminsw` for `i16`),
//!   combined into a magnitude once at the end;
//! - quiet ticks mix in `i16` outright ([`accumulate_narrow`], [`minus_from_narrow`]): the
//!   caller has bounded every partial sum within `i16`, so the wrapping operations never wrap;
//! - float-to-integer conversion in the limiter uses the 1.5 × 2²³ rounding constant and a bit
//!   cast instead of Rust's saturating `as` (which LLVM scalarises for SSE2); it is exact for
//!   the limiter's range, `|x| < 2²²`.
//!
//! There are no hand-written SIMD twins: selecting one at run time needs `#[target_feature]`
//! calls, which are `unsafe`, and `tandem-dsp` forbids `unsafe`; `benches/benches/mixer.rs`
//! shows these loops meet the cost target at the baseline target.
//!
//! All functions are pure, never allocate, and require equal slice lengths (checked with
//! `debug_assert!`; release builds process the shorter length).

/// Unity gain in Q12.
pub(crate) const UNITY_Q12: i16 = 1 << 12;

/// `sample * gain_q12 >> 12`: one participant's contribution to the mix.
#[inline(always)]
pub(crate) fn contribution(sample: i16, gain_q12: i16) -> i32 {
    (i32::from(sample) * i32::from(gain_q12)) >> 12
}

/// Largest `|sample|` of a frame.
#[inline]
pub(crate) fn peak_i16(samples: &[i16]) -> u32 {
    let (mut high, mut low) = (0i16, 0i16);
    for &v in samples {
        high = high.max(v);
        low = low.min(v);
    }
    u32::from(high.unsigned_abs()).max(u32::from(low.unsigned_abs()))
}

/// Largest `|value|` of a block of the accumulator.
#[inline]
pub(crate) fn peak_i32(values: &[i32]) -> u32 {
    const LANES: usize = 8;
    let mut high = [0i32; LANES];
    let mut low = [0i32; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for lane in 0..LANES {
            high[lane] = high[lane].max(chunk[lane]);
            low[lane] = low[lane].min(chunk[lane]);
        }
    }
    for (lane, &v) in chunks.remainder().iter().enumerate() {
        high[lane] = high[lane].max(v);
        low[lane] = low[lane].min(v);
    }
    let high = high.iter().copied().max().unwrap_or(0);
    let low = low.iter().copied().min().unwrap_or(0);
    high.unsigned_abs().max(low.unsigned_abs())
}

/// Bound on `|contribution|` over a block whose largest `|sample|` is `peak`.
#[inline]
pub(crate) fn contribution_bound(peak: u32, gain_q12: i16) -> u32 {
    if gain_q12 == UNITY_Q12 {
        peak
    } else {
        // The shift floors, so a negative contribution can be one larger in magnitude.
        ((peak * gain_q12.unsigned_abs() as u32) >> 12) + 1
    }
}

/// `sum = contribution(x)` (the first talker of a frame) or `sum += contribution(x)`.
#[inline]
pub(crate) fn accumulate(sum: &mut [i32], x: &[i16], gain_q12: i16, first: bool) {
    debug_assert_eq!(sum.len(), x.len());
    match (first, gain_q12 == UNITY_Q12) {
        (true, true) => {
            for (s, &v) in sum.iter_mut().zip(x) {
                *s = i32::from(v);
            }
        }
        (true, false) => {
            for (s, &v) in sum.iter_mut().zip(x) {
                *s = contribution(v, gain_q12);
            }
        }
        (false, true) => {
            for (s, &v) in sum.iter_mut().zip(x) {
                *s += i32::from(v);
            }
        }
        (false, false) => {
            for (s, &v) in sum.iter_mut().zip(x) {
                *s += contribution(v, gain_q12);
            }
        }
    }
}

/// `mix = contribution(x)` (the first talker) or `mix += contribution(x)`, in `i16`, and
/// returns the largest `|x|`. The sums are exact when every partial sum stays within `i16`,
/// which the caller checks afterwards from the returned peaks (the fast path of a tick whose
/// peak bound is within the limiter threshold); otherwise they wrap and the caller discards
/// them.
#[inline]
pub(crate) fn accumulate_narrow(mix: &mut [i16], x: &[i16], gain_q12: i16, first: bool) -> u32 {
    debug_assert_eq!(mix.len(), x.len());
    let (mut high, mut low) = (0i16, 0i16);
    match (first, gain_q12 == UNITY_Q12) {
        (true, true) => {
            for (m, &v) in mix.iter_mut().zip(x) {
                *m = v;
                high = high.max(v);
                low = low.min(v);
            }
        }
        (true, false) => {
            for (m, &v) in mix.iter_mut().zip(x) {
                *m = contribution(v, gain_q12) as i16;
                high = high.max(v);
                low = low.min(v);
            }
        }
        (false, true) => {
            for (m, &v) in mix.iter_mut().zip(x) {
                *m = m.wrapping_add(v);
                high = high.max(v);
                low = low.min(v);
            }
        }
        (false, false) => {
            for (m, &v) in mix.iter_mut().zip(x) {
                *m = m.wrapping_add(contribution(v, gain_q12) as i16);
                high = high.max(v);
                low = low.min(v);
            }
        }
    }
    u32::from(high.unsigned_abs()).max(u32::from(low.unsigned_abs()))
}

/// `out = mix - contribution(x)` in `i16`, under the same bound as [`accumulate_narrow`].
#[inline]
pub(crate) fn minus_from_narrow(out: &mut [i16], mix: &[i16], x: &[i16], gain_q12: i16) {
    debug_assert_eq!(out.len(), mix.len());
    debug_assert_eq!(out.len(), x.len());
    if gain_q12 == UNITY_Q12 {
        for ((o, &m), &v) in out.iter_mut().zip(mix).zip(x) {
            *o = m.wrapping_sub(v);
        }
    } else {
        for ((o, &m), &v) in out.iter_mut().zip(mix).zip(x) {
            *o = m.wrapping_sub(contribution(v, gain_q12) as i16);
        }
    }
}

/// `out = sum` narrowed; the caller guarantees every value fits in `i16`.
#[inline]
pub(crate) fn narrow(out: &mut [i16], sum: &[i32]) {
    debug_assert_eq!(out.len(), sum.len());
    for (o, &s) in out.iter_mut().zip(sum) {
        *o = s as i16;
    }
}

/// `out = sum - contribution(x)` narrowed; the caller guarantees every value fits in `i16`.
#[inline]
pub(crate) fn minus_narrow(out: &mut [i16], sum: &[i32], x: &[i16], gain_q12: i16) {
    debug_assert_eq!(out.len(), sum.len());
    debug_assert_eq!(out.len(), x.len());
    if gain_q12 == UNITY_Q12 {
        for ((o, &s), &v) in out.iter_mut().zip(sum).zip(x) {
            *o = (s - i32::from(v)) as i16;
        }
    } else {
        for ((o, &s), &v) in out.iter_mut().zip(sum).zip(x) {
            *o = (s - contribution(v, gain_q12)) as i16;
        }
    }
}

/// `out = sum - contribution(x)`, kept at full width for the limiter.
#[inline]
pub(crate) fn minus_wide(out: &mut [i32], sum: &[i32], x: &[i16], gain_q12: i16) {
    debug_assert_eq!(out.len(), sum.len());
    debug_assert_eq!(out.len(), x.len());
    if gain_q12 == UNITY_Q12 {
        for ((o, &s), &v) in out.iter_mut().zip(sum).zip(x) {
            *o = s - i32::from(v);
        }
    } else {
        for ((o, &s), &v) in out.iter_mut().zip(sum).zip(x) {
            *o = s - contribution(v, gain_q12);
        }
    }
}

/// Adding this to an `f32` of magnitude below 2²² leaves the value rounded to the nearest
/// integer (ties to even) in the low mantissa bits.
const ROUNDING: f32 = 12_582_912.0; // 1.5 × 2^23

/// `out[i] = round(x[i] * (start + step * i))`, for `|x[i] * gain| < 2²²`.
#[inline]
pub(crate) fn gain_ramp(out: &mut [i16], x: &[i32], start: f32, step: f32) {
    debug_assert_eq!(out.len(), x.len());
    let bias = ROUNDING.to_bits() as i32;
    for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
        let gain = start + step * (i as i32 as f32);
        let scaled = v as f32 * gain + ROUNDING;
        *o = (scaled.to_bits() as i32 - bias) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unity_gain_is_exact_and_other_gains_floor() {
        for v in [i16::MIN, -1, 0, 1, i16::MAX] {
            assert_eq!(contribution(v, UNITY_Q12), i32::from(v));
        }
        assert_eq!(contribution(3, UNITY_Q12 / 2), 1);
        assert_eq!(contribution(-3, UNITY_Q12 / 2), -2);
    }

    #[test]
    fn contribution_bound_bounds_every_contribution() {
        for gain in [0, 1, 100, 2048, 4095, 4096, 4097, 8192, 16_384] {
            for v in (i16::MIN..=i16::MAX).step_by(7).chain([i16::MIN, i16::MAX]) {
                let bound = contribution_bound(u32::from(v.unsigned_abs()), gain);
                assert!(
                    contribution(v, gain).unsigned_abs() <= bound,
                    "{v} x {gain}"
                );
            }
        }
    }

    #[test]
    fn peaks_equal_the_plain_definition() {
        for len in [0, 1, 7, 8, 15, 16, 17, 48, 160, 961] {
            for seed in 0..20u32 {
                let x: Vec<i16> = (0..len)
                    .map(|n| {
                        let mixed =
                            (n as u32 + 1).wrapping_mul(seed.wrapping_mul(2_654_435_761) | 1);
                        (mixed >> 16) as u16 as i16
                    })
                    .chain((seed == 3).then_some(i16::MIN))
                    .collect();
                let plain = x
                    .iter()
                    .map(|v| u32::from(v.unsigned_abs()))
                    .max()
                    .unwrap_or(0);
                assert_eq!(peak_i16(&x), plain);
                let wide: Vec<i32> = x.iter().map(|&v| i32::from(v) * 37).collect();
                let plain = wide.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
                assert_eq!(peak_i32(&wide), plain);
            }
        }
    }

    #[test]
    fn gain_ramp_rounds_to_nearest() {
        let x: Vec<i32> = (-2000..2000).map(|v| v * 997).collect();
        let mut out = vec![0i16; x.len()];
        gain_ramp(&mut out, &x, 0.01, 0.000_001);
        for (i, (&o, &v)) in out.iter().zip(&x).enumerate() {
            let exact = f64::from(v) * f64::from(0.01f32 + 0.000_001f32 * i as f32);
            assert!(
                (f64::from(o) - exact).abs() <= 0.5 + 1e-3,
                "{v}: {o} vs {exact}"
            );
        }
    }

    #[test]
    fn fused_paths_equal_the_definition() {
        let x: Vec<i16> = (0..480)
            .map(|n| ((n * 7919) % 65_536 - 32_768) as i16)
            .collect();
        let y: Vec<i16> = (0..480)
            .map(|n| ((n * 104_729) % 65_536 - 32_768) as i16)
            .collect();
        for gain in [UNITY_Q12, 3000, 16_384] {
            let mut sum = vec![0; 480];
            accumulate(&mut sum, &x, gain, true);
            accumulate(&mut sum, &y, UNITY_Q12, false);
            for n in 0..480 {
                assert_eq!(sum[n], contribution(x[n], gain) + i32::from(y[n]));
            }
            let mut wide = vec![0; 480];
            minus_wide(&mut wide, &sum, &x, gain);
            assert!(wide.iter().zip(&y).all(|(&w, &v)| w == i32::from(v)));
            let mut out = vec![0; 480];
            minus_narrow(&mut out, &sum, &x, gain);
            assert_eq!(out, y);
            narrow(&mut out, &wide);
            assert_eq!(out, y);
        }
        // The i16 paths, on inputs whose sums stay within i16.
        let quiet_x: Vec<i16> = x.iter().map(|v| v / 8).collect();
        let quiet_y: Vec<i16> = y.iter().map(|v| v / 8).collect();
        for gain in [UNITY_Q12, 3000, 16_384] {
            let mut mix = vec![0i16; 480];
            assert_eq!(
                accumulate_narrow(&mut mix, &quiet_x, gain, true),
                peak_i16(&quiet_x)
            );
            assert_eq!(
                accumulate_narrow(&mut mix, &quiet_y, UNITY_Q12, false),
                peak_i16(&quiet_y)
            );
            for n in 0..480 {
                let want = contribution(quiet_x[n], gain) + i32::from(quiet_y[n]);
                assert_eq!(i32::from(mix[n]), want);
            }
            let mut out = vec![0i16; 480];
            minus_from_narrow(&mut out, &mix, &quiet_x, gain);
            assert_eq!(out, quiet_y);
        }
    }
}
