//! The soft limiter that turns a mixer's `i32` accumulator into `i16` output without wrap-around
//! and without hard clipping.
//!
//! # Contract
//!
//! - **Transparent below the threshold.** While every input sample is within
//!   ±[`LIMITER_THRESHOLD`] (-6 dBFS) and the limiter has fully recovered
//!   ([`Limiter::is_unity`]), the output equals the input exactly.
//! - **Never above the ceiling.** Output samples never exceed ±[`LIMITER_CEILING`] (about
//!   -0.2 dBFS), whatever the input: ten full-scale talkers summed come out as a loud, intact
//!   waveform, never as wrapped-around noise or a squared-off clip.
//!
//! # How
//!
//! A gain computer with a soft knee and a smoothly interpolated gain envelope, in the manner of
//! WebRTC's fixed digital limiter. Each frame is cut into sub-blocks of 1 ms. A sub-block whose
//! peak `p` exceeds the threshold `T` gets the target gain `g(p) = (T + (C - T)(1 - e^{-(p - T)
//! / (C - T)})) / p`: the output peak follows the input peak with slope 1 at the threshold and
//! approaches the ceiling `C` asymptotically. The gain at each sub-block boundary is the smaller
//! of the targets on either side, and it may rise by at most [`RELEASE_DB_PER_S`] (it falls as
//! fast as needed); inside a sub-block the gain is interpolated linearly between its two
//! boundaries, and each sample is rounded to the nearest integer. Both boundaries are at or
//! below the sub-block's own target, so no sample in it can leave the ceiling, and the gain has
//! no steps inside a frame. The only step can come at a
//! frame's first boundary, when a frame opens louder than the previous one ended: the limiter
//! has no look-ahead across frames, because that would delay every output by a sub-block.
//!
//! State is one `f32` (the gain at the end of the previous frame), so a mixer can copy a
//! limiter when a listener moves from one output to another.
//!
//! # Real-time
//!
//! [`Limiter::process`] never allocates: its per-sub-block gains live in a fixed array on the
//! stack ([`MAX_SUB_BLOCKS`] entries, so frames up to 120 ms).

/// Input peaks at or below this (-6 dBFS) pass unchanged.
pub const LIMITER_THRESHOLD: i32 = 16_384;
/// Output samples never exceed this in magnitude (about -0.2 dBFS).
pub const LIMITER_CEILING: i32 = 32_000;
/// Fastest recovery of the gain towards unity, in dB per second.
pub const RELEASE_DB_PER_S: f32 = 40.0;
/// Longest frame [`Limiter::process`] accepts, in 1 ms sub-blocks.
pub const MAX_SUB_BLOCKS: usize = 120;

use super::kernels::{gain_ramp, narrow, peak_i32};

/// The gain, at or below unity, that brings a sub-block peak `peak` to the soft-knee curve.
pub fn target_gain(peak: u32) -> f32 {
    let threshold = LIMITER_THRESHOLD as f32;
    if peak <= LIMITER_THRESHOLD as u32 {
        return 1.0;
    }
    let peak = peak as f32;
    let room = (LIMITER_CEILING - LIMITER_THRESHOLD) as f32;
    let out_peak = threshold + room * (1.0 - (-(peak - threshold) / room).exp());
    // Rounding can leave the product a hair above the curve; stay on the safe side.
    (out_peak / peak).min(1.0) * (1.0 - f32::EPSILON)
}

/// A soft limiter for one output stream. See the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Limiter {
    /// Gain at the end of the previous frame.
    gain: f32,
    sub_block: usize,
    /// Largest gain ratio from one sub-block boundary to the next.
    release: f32,
}

impl Limiter {
    /// A fully recovered limiter for audio at `rate_hz` (1 ms sub-blocks: `rate_hz / 1000`
    /// samples, at least one).
    pub fn new(rate_hz: u32) -> Self {
        let sub_block = (rate_hz as usize / 1000).max(1);
        let release = 10f32.powf(RELEASE_DB_PER_S * 0.001 / 20.0);
        Self {
            gain: 1.0,
            sub_block,
            release,
        }
    }

    /// Samples per sub-block.
    pub fn sub_block(&self) -> usize {
        self.sub_block
    }

    /// The gain at the end of the previous frame (1.0 when fully recovered).
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Whether the limiter has fully recovered, so inputs within the threshold pass unchanged.
    pub fn is_unity(&self) -> bool {
        self.gain >= 1.0
    }

    /// Lets `samples` of silence pass: the gain recovers exactly as [`Limiter::process`] would
    /// have let it recover on a frame of zeros (whose output is zeros).
    pub fn pass_silence(&mut self, samples: usize) {
        if !self.is_unity() {
            for _ in 0..samples.div_ceil(self.sub_block) {
                self.gain = (self.gain * self.release).min(1.0);
            }
        }
    }

    /// Limits one frame of `input` into `out`. Never allocates.
    ///
    /// # Panics
    /// If the lengths differ, or the frame is longer than [`MAX_SUB_BLOCKS`] sub-blocks.
    pub fn process(&mut self, input: &[i32], out: &mut [i16]) {
        assert_eq!(
            input.len(),
            out.len(),
            "limiter input and output lengths differ"
        );
        let blocks = input.len().div_ceil(self.sub_block);
        assert!(
            blocks <= MAX_SUB_BLOCKS,
            "frame of {blocks} sub-blocks is too long"
        );
        let mut targets = [1.0f32; MAX_SUB_BLOCKS];
        let mut limited = false;
        for (target, chunk) in targets.iter_mut().zip(input.chunks(self.sub_block)) {
            *target = target_gain(peak_i32(chunk));
            limited |= *target < 1.0;
        }
        if !limited && self.is_unity() {
            // Every sample is within the threshold, so the narrowing is exact.
            narrow(out, input);
            return;
        }
        // Boundary gains: boundary j opens sub-block j.
        let mut bounds = [1.0f32; MAX_SUB_BLOCKS + 1];
        bounds[0] = self.gain.min(targets[0]);
        for j in 1..=blocks {
            let right = if j < blocks { targets[j] } else { 1.0 };
            let released = (bounds[j - 1] * self.release).min(1.0);
            bounds[j] = targets[j - 1].min(right).min(released);
        }
        for (j, (chunk_in, chunk_out)) in input
            .chunks(self.sub_block)
            .zip(out.chunks_mut(self.sub_block))
            .enumerate()
        {
            let start = bounds[j];
            let step = (bounds[j + 1] - start) / chunk_in.len() as f32;
            gain_ramp(chunk_out, chunk_in, start, step);
        }
        self.gain = bounds[blocks];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_transparent_at_and_below_the_threshold() {
        let mut limiter = Limiter::new(8000);
        let input: Vec<i32> = (0..160)
            .map(|n| (n * 211 % 32_769) - LIMITER_THRESHOLD)
            .collect();
        assert!(input.iter().all(|v| v.abs() <= LIMITER_THRESHOLD));
        let mut out = vec![0; 160];
        limiter.process(&input, &mut out);
        assert!(out.iter().zip(&input).all(|(&o, &i)| i32::from(o) == i));
        assert!(limiter.is_unity());
    }

    #[test]
    fn ten_full_scale_talkers_stay_under_the_ceiling_without_wrapping() {
        let mut limiter = Limiter::new(8000);
        let mut out = vec![0i16; 160];
        for frame in 0..50 {
            // Ten in-phase full-scale 500 Hz sines: the sum peaks at 327,670.
            let input: Vec<i32> = (0..160)
                .map(|n| {
                    let t = (frame * 160 + n) as f32 / 8000.0;
                    let one = 32_767.0 * (2.0 * std::f32::consts::PI * 500.0 * t).sin();
                    10 * one as i32
                })
                .collect();
            limiter.process(&input, &mut out);
            for (&o, &i) in out.iter().zip(&input) {
                assert!(i32::from(o).abs() <= LIMITER_CEILING);
                // No wrap-around: the output keeps the input's sign.
                assert!(i32::from(o) * i.signum() >= 0, "frame {frame}: {i} -> {o}");
            }
            if frame > 0 {
                // And it is still loud: a limiter, not a mute.
                assert!(out.iter().map(|v| v.unsigned_abs()).max().unwrap() > 20_000);
            }
        }
    }

    #[test]
    fn soft_knee_has_slope_one_at_the_threshold_and_approaches_the_ceiling() {
        assert_eq!(target_gain(LIMITER_THRESHOLD as u32), 1.0);
        let just_above = LIMITER_THRESHOLD as u32 + 10;
        let out = target_gain(just_above) * just_above as f32;
        assert!((out - just_above as f32).abs() < 0.5, "{out}");
        let huge = 2_000_000;
        let out = target_gain(huge) * huge as f32;
        assert!(
            out <= LIMITER_CEILING as f32 && out > LIMITER_CEILING as f32 - 1.0,
            "{out}"
        );
        let mut previous = 0.0;
        for peak in (LIMITER_THRESHOLD as u32..400_000).step_by(997) {
            let out = target_gain(peak) * peak as f32;
            assert!(
                out >= previous - 0.01,
                "output peak must grow with input peak"
            );
            previous = out;
        }
    }

    #[test]
    fn gain_moves_smoothly_inside_a_frame_and_recovers_at_the_release_rate() {
        let mut limiter = Limiter::new(8000);
        let loud = vec![65_536; 160];
        let mut out = vec![0; 160];
        limiter.process(&loud, &mut out);
        let limited_gain = limiter.gain();
        assert!(limited_gain < 0.5);
        // Quiet input afterwards: the gain climbs by at most 40 dB/s.
        let quiet = vec![1000; 160];
        limiter.process(&quiet, &mut out);
        let rise_db = 20.0 * (limiter.gain() / limited_gain).log10();
        assert!(
            (rise_db - RELEASE_DB_PER_S * 0.020).abs() < 0.01,
            "{rise_db} dB"
        );
        // Within the frame, consecutive samples of a constant input differ by tiny steps.
        for pair in out.windows(2) {
            assert!((i32::from(pair[1]) - i32::from(pair[0])).abs() <= 1);
        }
        // Silence lets it recover fully, after which it is transparent again.
        limiter.pass_silence(8000);
        assert!(limiter.is_unity());
        limiter.process(&quiet, &mut out);
        assert!(out.iter().all(|&v| v == 1000));
    }
}
