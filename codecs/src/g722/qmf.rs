//! The quadrature mirror filters of G.722 (ITU-T G.722 (09/2012) §3.2 transmit QMF, §4.4
//! receive QMF, coefficients in Table 11/G.722).
//!
//! The transmit QMF splits 16 kHz audio into a lower and a higher band sampled at 8 kHz; the
//! receive QMF puts them back together. Both are the same 24-tap linear-phase filter split
//! into its even and odd polyphase branches.
//!
//! # Scaling
//!
//! The Recommendation specifies 14-bit audio at the QMF boundaries. Like spandsp and the other
//! 16-bit implementations we interoperate with, this one takes and gives 16-bit audio and
//! scales at the QMF so that the sub-band signals keep the Recommendation's 15-bit range: the
//! transmit sum is shifted by 14 (a gain of 1/2 on the band signals), the receive sum by 11
//! (a gain of 2 back). The receive QMF can overshoot 16 bits on loud input; [`Synthesis::merge`]
//! returns the full value and the decoder chooses how to narrow it (see
//! [`super::OutputOverflow`]).
//!
//! # Contract
//!
//! State is a pair of fixed arrays holding the filter history; nothing allocates. The
//! arithmetic cannot overflow `i32`: the absolute coefficients sum to 12964 and every input
//! fits in 16 bits, so a 24-tap sum stays below 2^29.

/// The 24 QMF coefficients h(0)..h(23), scaled by 2^13 (Table 11/G.722). The filter is
/// symmetric: h(i) = h(23 - i).
const H: [i32; 24] = [
    3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876, 3876, 951, -805, -210, 362, 32,
    -156, 12, 53, -11, -11, 3,
];

/// Samples the transmit QMF keeps between calls: the 22 inputs before the current pair.
pub(crate) const ANALYSIS_HISTORY: usize = 22;

/// Coefficients of the transmit QMF's lower band output, applied to a window of 24 inputs
/// oldest first. Since `H` is symmetric this is `H` itself: the newest sample takes h(0).
const ANALYSIS_LOW: [i16; 24] = {
    let mut c = [0i16; 24];
    let mut m = 0;
    while m < 24 {
        c[m] = H[23 - m] as i16;
        m += 1;
    }
    c
};

/// Coefficients of the transmit QMF's higher band output, on the same window: the even
/// branch (inputs x(2j - 2i), the newest one among them) minus the odd branch (§3.2).
const ANALYSIS_HIGH: [i16; 24] = {
    let mut c = [0i16; 24];
    let mut m = 0;
    while m < 24 {
        let k = 23 - m;
        c[m] = if k % 2 == 0 {
            H[k] as i16
        } else {
            -H[k] as i16
        };
        m += 1;
    }
    c
};

/// The transmit QMF (§3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// The last 22 input samples, oldest first.
    history: [i16; ANALYSIS_HISTORY],
}

impl Analysis {
    /// The reset state: silence in the history.
    pub(crate) const fn new() -> Self {
        Self {
            history: [0; ANALYSIS_HISTORY],
        }
    }

    /// The history as the start of a window: a caller copies it in front of new input.
    pub(crate) fn history(&self) -> &[i16; ANALYSIS_HISTORY] {
        &self.history
    }

    /// Keeps the last 22 samples of `window` (which must hold at least that many; shorter
    /// windows leave the history as it was) for the next call.
    pub(crate) fn remember(&mut self, window: &[i16]) {
        if let Some(tail) = window
            .len()
            .checked_sub(ANALYSIS_HISTORY)
            .and_then(|s| window.get(s..))
        {
            self.history.copy_from_slice(tail);
        }
    }

    /// Filters one window of 24 consecutive input samples, oldest first, whose newest sample
    /// completes a pair; returns the lower and higher band samples (XL, XH).
    #[inline(always)]
    pub(crate) fn split(window: &[i16; 24]) -> (i32, i32) {
        let low = dot(window, &ANALYSIS_LOW);
        let high = dot(window, &ANALYSIS_HIGH);
        (low >> 14, high >> 14)
    }
}

/// Sub-band samples the receive QMF keeps between calls, per branch.
pub(crate) const SYNTHESIS_HISTORY: usize = 11;

/// Coefficients of the receive QMF's first output of a pair, on a window of 12 difference
/// signals XD = RL - RH, oldest first: h(2i) on XD(j - i) (§4.4).
const SYNTHESIS_FIRST: [i16; 12] = {
    let mut c = [0i16; 12];
    let mut m = 0;
    while m < 12 {
        c[m] = H[2 * (11 - m)] as i16;
        m += 1;
    }
    c
};

/// Coefficients of the receive QMF's second output, on a window of 12 sum signals
/// XS = RL + RH, oldest first: h(2i + 1) on XS(j - i) (§4.4).
const SYNTHESIS_SECOND: [i16; 12] = {
    let mut c = [0i16; 12];
    let mut m = 0;
    while m < 12 {
        c[m] = H[2 * (11 - m) + 1] as i16;
        m += 1;
    }
    c
};

/// The receive QMF (§4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Synthesis {
    /// The last 11 difference signals, oldest first.
    difference: [i16; SYNTHESIS_HISTORY],
    /// The last 11 sum signals, oldest first.
    sum: [i16; SYNTHESIS_HISTORY],
}

impl Synthesis {
    /// The reset state: silence in the history.
    pub(crate) const fn new() -> Self {
        Self {
            difference: [0; SYNTHESIS_HISTORY],
            sum: [0; SYNTHESIS_HISTORY],
        }
    }

    /// The histories (difference, sum) as the start of windows.
    pub(crate) fn history(&self) -> (&[i16; SYNTHESIS_HISTORY], &[i16; SYNTHESIS_HISTORY]) {
        (&self.difference, &self.sum)
    }

    /// Keeps the last 11 samples of each branch for the next call (shorter branches leave the
    /// history as it was).
    pub(crate) fn remember(&mut self, difference: &[i16], sum: &[i16]) {
        if let (Some(d), Some(s)) = (history_tail(difference), history_tail(sum)) {
            self.difference.copy_from_slice(d);
            self.sum.copy_from_slice(s);
        }
    }

    /// The two branch signals XD and XS of one pair of reconstructed band samples. Both fit
    /// in 16 bits because each band is limited to 15.
    #[inline(always)]
    pub(crate) fn branches(rl: i32, rh: i32) -> (i16, i16) {
        ((rl - rh) as i16, (rl + rh) as i16)
    }

    /// Filters one window of 12 difference and 12 sum signals, oldest first; returns the two
    /// output samples in time order, not yet narrowed to 16 bits (they lie within ±103712).
    #[inline(always)]
    pub(crate) fn merge(difference: &[i16; 12], sum: &[i16; 12]) -> [i32; 2] {
        [
            dot(difference, &SYNTHESIS_FIRST) >> 11,
            dot(sum, &SYNTHESIS_SECOND) >> 11,
        ]
    }
}

/// The last `SYNTHESIS_HISTORY` samples of `x`, if it has that many.
fn history_tail(x: &[i16]) -> Option<&[i16]> {
    x.get(x.len().checked_sub(SYNTHESIS_HISTORY)?..)
}

/// A fixed-length dot product of 16-bit values in 32-bit arithmetic (pmaddwd-shaped).
#[inline(always)]
fn dot<const N: usize>(x: &[i16; N], c: &[i16; N]) -> i32 {
    x.iter()
        .zip(c)
        .map(|(&x, &c)| i32::from(x) * i32::from(c))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_are_symmetric_with_unit_gain() {
        assert!((0..24).all(|i| H[i] == H[23 - i]));
        assert_eq!(H.iter().sum::<i32>(), 1 << 13);
        let even: i32 = SYNTHESIS_FIRST.iter().map(|&c| i32::from(c)).sum();
        let odd: i32 = SYNTHESIS_SECOND.iter().map(|&c| i32::from(c)).sum();
        assert_eq!((even, odd), (1 << 12, 1 << 12));
    }

    #[test]
    fn dc_goes_to_the_lower_band_at_half_gain() {
        let (low, high) = Analysis::split(&[10_000; 24]);
        assert_eq!(low, 5_000);
        assert_eq!(high, 0);
    }

    #[test]
    fn full_scale_cannot_overflow() {
        let worst: [i16; 24] = core::array::from_fn(|m| {
            if ANALYSIS_HIGH[m] < 0 {
                i16::MIN
            } else {
                i16::MAX
            }
        });
        let (_, high) = Analysis::split(&worst);
        assert!(high.abs() < 1 << 15);
        let d: [i16; 12] = core::array::from_fn(|m| {
            if SYNTHESIS_FIRST[m] < 0 {
                i16::MIN
            } else {
                i16::MAX
            }
        });
        let [first, _] = Synthesis::merge(&d, &d);
        assert!((100_000..=103_712).contains(&first), "{first}");
    }
}
