//! The mixer's inner loops: widening accumulation with per-sub-block peaks, and the fused
//! "sum minus own contribution, narrowed to `i16`" pass of mix-minus.
//!
//! These scalar loops are the definition of the arithmetic (a contribution is
//! `(sample * gain_q12) >> 12`, an arithmetic shift, so unity gain is exact) and are written so
//! that LLVM vectorises them at the baseline target (SSE2 on x86_64, NEON on aarch64): straight
//! zips over equal-length slices, no early exits, `i16 -> i32` widening. There are no
//! hand-written SIMD twins: selecting one at run time needs `#[target_feature]` calls, which
//! are `unsafe`, and `tandem-dsp` forbids `unsafe`; `benches/benches/mixer.rs` shows the
//! vectorised scalar loops already meet the cost target with room to spare.
//!
//! All functions are pure, never allocate, and require equal slice lengths (checked with
//! `debug_assert!`; release builds process the shorter length).

/// Unity gain in Q12.
pub(crate) const UNITY_Q12: i32 = 1 << 12;

/// `sample * gain_q12 >> 12`: one participant's contribution to the mix.
#[inline(always)]
pub(crate) fn contribution(sample: i16, gain_q12: i32) -> i32 {
    (i32::from(sample) * gain_q12) >> 12
}

/// Largest `|sample|` of a block.
#[inline]
pub(crate) fn peak(samples: &[i16]) -> u32 {
    u32::from(samples.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0))
}

/// Bound on `|contribution|` over a block whose largest `|sample|` is `peak`.
#[inline]
pub(crate) fn contribution_bound(peak: u32, gain_q12: i32) -> u32 {
    if gain_q12 == UNITY_Q12 {
        peak
    } else {
        // The shift floors, so a negative contribution can be one larger in magnitude.
        ((peak * gain_q12 as u32) >> 12) + 1
    }
}

/// `sum = contribution(x)` (the first talker of a frame) or `sum += contribution(x)`.
#[inline]
pub(crate) fn accumulate(sum: &mut [i32], x: &[i16], gain_q12: i32, first: bool) {
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
pub(crate) fn minus_narrow(out: &mut [i16], sum: &[i32], x: &[i16], gain_q12: i32) {
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
pub(crate) fn minus_wide(out: &mut [i32], sum: &[i32], x: &[i16], gain_q12: i32) {
    debug_assert_eq!(out.len(), sum.len());
    debug_assert_eq!(out.len(), x.len());
    for ((o, &s), &v) in out.iter_mut().zip(sum).zip(x) {
        *o = s - contribution(v, gain_q12);
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
            for v in (i16::MIN..=i16::MAX).step_by(7) {
                let bound = contribution_bound(u32::from(v.unsigned_abs()), gain);
                assert!(
                    contribution(v, gain).unsigned_abs() <= bound,
                    "{v} x {gain}"
                );
            }
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
    }
}
