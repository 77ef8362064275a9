//! The quadrature mirror filters of G.722 (ITU-T G.722 (09/2012) §3.1 transmit QMF, §4.4
//! receive QMF, §5 their computational details and coefficients).
//!
//! The transmit QMF splits 16 kHz audio into a lower and a higher band sampled at 8 kHz; the
//! receive QMF puts them back together. Both are the same 24-tap linear-phase filter h(0..23)
//! run as its two 12-tap polyphase branches: the "even" branch takes h(2i) and the newer
//! sample of each pair, the "odd" branch h(2i + 1) and the older one. In the transmit QMF the
//! lower band is the sum of the branches and the higher band their difference; the receive
//! QMF feeds the even branch with the bands' difference and the odd branch with their sum,
//! and each branch yields one of the two output samples.
//!
//! # Scaling
//!
//! The Recommendation specifies 14-bit audio at the QMF boundaries. Like spandsp and the other
//! 16-bit implementations we interoperate with, this one takes and gives 16-bit audio and
//! scales at the QMF so that the sub-band signals keep the Recommendation's 15-bit range: the
//! transmit sum is shifted by 14 (a gain of 1/2 on the band signals), the receive sum by 11
//! (a gain of 2 back). The receive QMF can overshoot 16 bits on loud input; it returns the
//! full value and the decoder chooses how to narrow it (see [`super::OutputOverflow`]).
//!
//! # Shape and contract
//!
//! Each QMF works on a block of up to [`BLOCK`] pairs at a time: the branch signals are laid
//! out contiguously after the 11 samples of history each branch keeps, and the filters run
//! tap by tap across the whole block, which the compiler turns into vector code (the ADPCM
//! between the QMFs is recursive and cannot be). State is fixed arrays; nothing allocates.
//! The arithmetic cannot overflow `i32`: the absolute coefficients of a branch sum to 6482 and
//! every input fits in 16 bits, so a branch sum stays below 2^28.

/// The 24 QMF coefficients h(0)..h(23), scaled by 2^13 (§5). The filter is
/// symmetric: h(i) = h(23 - i).
const H: [i32; 24] = [
    3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876, 3876, 951, -805, -210, 362, 32,
    -156, 12, 53, -11, -11, 3,
];

/// Pairs (8 kHz codewords) per block: 10 ms. It bounds the stack buffers of one block.
pub(crate) const BLOCK: usize = 80;

/// Taps per polyphase branch.
const TAPS: usize = 12;

/// Branch samples kept between blocks: all but the newest tap's.
const HISTORY: usize = TAPS - 1;

/// The even branch's coefficients in window order, oldest sample first: h(22), h(20), ...,
/// h(0) (the newest sample takes h(0)).
const EVEN: [i32; TAPS] = {
    let mut c = [0; TAPS];
    let mut i = 0;
    while i < TAPS {
        c[i] = H[2 * (TAPS - 1 - i)];
        i += 1;
    }
    c
};

/// The odd branch's coefficients in window order: h(23), h(21), ..., h(1).
const ODD: [i32; TAPS] = {
    let mut c = [0; TAPS];
    let mut i = 0;
    while i < TAPS {
        c[i] = H[2 * (TAPS - 1 - i) + 1];
        i += 1;
    }
    c
};

/// One polyphase branch over the first `n` pairs of a block: `out[j] = sum_i taps[i] * x[j + i]`
/// for `j < n`, with `x` holding `HISTORY` samples before the block's. Tap-outer order keeps
/// the inner loop a contiguous multiply-add across the block.
#[inline(always)]
fn branch(x: &[i16; HISTORY + BLOCK], taps: &[i32; TAPS], out: &mut [i32; BLOCK], n: usize) {
    let n = n.min(BLOCK);
    let out = &mut out[..n];
    out.fill(0);
    for (i, &tap) in taps.iter().enumerate() {
        for (acc, &x) in out.iter_mut().zip(&x[i..i + n]) {
            *acc += tap * i32::from(x);
        }
    }
}

/// Runs `f(n)`, with `n` a compile-time constant when the block is full: the common case
/// (every 10 ms multiple) then gets loops of fixed trip count.
#[inline(always)]
fn specialise<T>(n: usize, mut f: impl FnMut(usize) -> T) -> T {
    if n == BLOCK { f(BLOCK) } else { f(n) }
}

/// Keeps the last `HISTORY` samples of `x` in `history` (if `x` has that many).
fn remember(history: &mut [i16; HISTORY], x: &[i16]) {
    if let Some(tail) = x.len().checked_sub(HISTORY).and_then(|s| x.get(s..)) {
        history.copy_from_slice(tail);
    }
}

/// The transmit QMF (§3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// The newer sample of each of the last 11 pairs, oldest first.
    even: [i16; HISTORY],
    /// The older sample of each of the last 11 pairs, oldest first.
    odd: [i16; HISTORY],
}

impl Analysis {
    /// The reset state: silence in the history.
    pub(crate) const fn new() -> Self {
        Self {
            even: [0; HISTORY],
            odd: [0; HISTORY],
        }
    }

    /// Splits `pcm` (pairs of 16 kHz samples, at most [`BLOCK`] of them; a trailing odd sample
    /// is ignored) into lower and higher band samples (XL, XH): one of each per pair, written
    /// to the start of `low` and `high`. Returns the number of pairs.
    pub(crate) fn split(
        &mut self,
        pcm: &[i16],
        low: &mut [i32; BLOCK],
        high: &mut [i32; BLOCK],
    ) -> usize {
        let n = (pcm.len() / 2).min(BLOCK);
        let mut even = [0i16; HISTORY + BLOCK];
        let mut odd = [0i16; HISTORY + BLOCK];
        even[..HISTORY].copy_from_slice(&self.even);
        odd[..HISTORY].copy_from_slice(&self.odd);
        let new = even[HISTORY..].iter_mut().zip(&mut odd[HISTORY..]);
        for ((e, o), pair) in new.zip(pcm.chunks_exact(2)) {
            (*o, *e) = (pair[0], pair[1]);
        }
        let mut sum_even = [0i32; BLOCK];
        let mut sum_odd = [0i32; BLOCK];
        specialise(n, |n| {
            branch(&even, &EVEN, &mut sum_even, n);
            branch(&odd, &ODD, &mut sum_odd, n);
            let sums = sum_even[..n].iter().zip(&sum_odd[..n]);
            for ((l, h), (&e, &o)) in low.iter_mut().zip(high.iter_mut()).zip(sums) {
                *l = (e + o) >> 14;
                *h = (e - o) >> 14;
            }
        });

        remember(&mut self.even, &even[..HISTORY + n]);
        remember(&mut self.odd, &odd[..HISTORY + n]);
        n
    }
}

/// The receive QMF (§4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Synthesis {
    /// The last 11 difference signals XD = RL - RH, oldest first.
    difference: [i16; HISTORY],
    /// The last 11 sum signals XS = RL + RH, oldest first.
    sum: [i16; HISTORY],
}

impl Synthesis {
    /// The reset state: silence in the history.
    pub(crate) const fn new() -> Self {
        Self {
            difference: [0; HISTORY],
            sum: [0; HISTORY],
        }
    }

    /// Filters the reconstructed band samples `rl` and `rh` (each limited to 15 bits, at most
    /// [`BLOCK`] of them; the shorter length counts) into twice as many output samples at the
    /// start of `out`, each narrowed from its full width (within ±103712) by `narrow`, and
    /// keeps the branch signals' tail as history. Returns the samples written.
    #[inline(always)]
    pub(crate) fn merge(
        &mut self,
        rl: &[i32],
        rh: &[i32],
        out: &mut [i16],
        mut narrow: impl FnMut(i32) -> i16,
    ) -> usize {
        let n = rl.len().min(rh.len()).min(out.len() / 2).min(BLOCK);
        let mut difference = [0i16; HISTORY + BLOCK];
        let mut sum = [0i16; HISTORY + BLOCK];
        difference[..HISTORY].copy_from_slice(&self.difference);
        sum[..HISTORY].copy_from_slice(&self.sum);
        let mut first = [0i32; BLOCK];
        let mut second = [0i32; BLOCK];
        specialise(n, |n| {
            // Both bands are limited to 15 bits, so XD and XS fit in 16.
            let branches = difference[HISTORY..HISTORY + n]
                .iter_mut()
                .zip(&mut sum[HISTORY..]);
            for ((d, s), (&l, &h)) in branches.zip(rl.iter().zip(rh)) {
                *d = (l - h) as i16;
                *s = (l + h) as i16;
            }
            branch(&difference, &EVEN, &mut first, n);
            branch(&sum, &ODD, &mut second, n);
            let pairs = first[..n].iter().zip(&second[..n]);
            for (pair, (&f, &s)) in out.chunks_exact_mut(2).zip(pairs) {
                pair[0] = narrow(f >> 11);
                pair[1] = narrow(s >> 11);
            }
        });
        remember(&mut self.difference, &difference[..HISTORY + n]);
        remember(&mut self.sum, &sum[..HISTORY + n]);
        2 * n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_are_symmetric_with_unit_gain() {
        assert!((0..24).all(|i| H[i] == H[23 - i]));
        assert_eq!(H.iter().sum::<i32>(), 1 << 13);
        assert_eq!(
            (EVEN.iter().sum::<i32>(), ODD.iter().sum::<i32>()),
            (1 << 12, 1 << 12)
        );
        assert_eq!((EVEN[TAPS - 1], ODD[TAPS - 1]), (H[0], H[1]));
    }

    #[test]
    fn dc_goes_to_the_lower_band_at_half_gain() {
        let mut qmf = Analysis::new();
        let (mut low, mut high) = ([0; BLOCK], [0; BLOCK]);
        // Fill the history, then look at a steady block.
        qmf.split(&[10_000; 2 * BLOCK], &mut low, &mut high);
        assert_eq!(qmf.split(&[10_000; 2 * BLOCK], &mut low, &mut high), BLOCK);
        assert!(low.iter().all(|&l| l == 5_000));
        assert!(high.iter().all(|&h| h == 0));
    }

    #[test]
    fn blocks_of_any_size_filter_the_same() {
        let pcm: Vec<i16> = (0..2 * BLOCK)
            .map(|n| ((n * 7919) % 65536) as u16 as i16)
            .collect();
        let mut whole = Analysis::new();
        let (mut low, mut high) = ([0; BLOCK], [0; BLOCK]);
        whole.split(&pcm, &mut low, &mut high);
        let mut pieces = Analysis::new();
        let (mut l, mut h) = ([0; BLOCK], [0; BLOCK]);
        let mut at = 0;
        for chunk in pcm.chunks(2 * 13) {
            let n = pieces.split(chunk, &mut l, &mut h);
            assert_eq!((&low[at..at + n], &high[at..at + n]), (&l[..n], &h[..n]));
            at += n;
        }
        assert_eq!(pieces, whole);
    }

    #[test]
    fn full_scale_cannot_overflow() {
        let mut qmf = Synthesis::new();
        let rl = [16_383; BLOCK];
        let rh = [-16_384; BLOCK];
        let mut out = [0i16; 2 * BLOCK];
        let mut full = Vec::new();
        qmf.merge(&rl, &rh, &mut out, |x| {
            full.push(x);
            0
        });
        // The partial sums while the filter fills overshoot the steady state, but no output
        // exceeds the absolute coefficient sum times full scale.
        assert!(full.iter().all(|x| x.abs() <= (6482 * 32768) >> 11));
        assert!(full.iter().any(|&x| x > 32767));
        // Steady state: XD = 32767 through the even branch (gain 4096), XS = -1 through the odd.
        assert_eq!(full[2 * BLOCK - 2..], [(4096 * 32767) >> 11, (-4096) >> 11]);
    }
}
