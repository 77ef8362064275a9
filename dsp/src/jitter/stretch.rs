//! Time-scale modification of speech without a change of pitch: removing or repeating one
//! pitch period at a time by overlap-add (pitch-synchronous OLA, the technique of WebRTC
//! NetEq's `Accelerate` and `PreemptiveExpand` and of WSOLA, Verhelst & Roelands, ICASSP 1993).
//!
//! # Contract
//!
//! Both operations work on the newest `2·P` samples of a signal, where `P` is a length within
//! 2.5 to 15 ms (a pitch period found by normalised cross-correlation, coarse then fine, as in
//! [`super::conceal`]), and change only audio the caller says is unplayed:
//!
//! - [`TimeStretch::accelerate`] cross-fades the older period `A` into the newer period `B` and
//!   drops what is left of `B`: the signal becomes `P` samples shorter. All of `A` and `B` must
//!   be unplayed.
//! - [`TimeStretch::decelerate`] cross-fades `B` into `A` behind `B` and appends `B` again: the
//!   signal becomes `P` samples longer. `A` may already have been played; `B` must not.
//!
//! Either happens only where it is inaudible, and only as the caller allows ([`Allow`]):
//!
//! - **Quiet audio** (the newest `2·P` samples below [`QUIET_RMS`], about -45 dBov: a pause
//!   between words) is shortened or lengthened by as much as the caller asks, up to 15 ms per
//!   call, with `P` that length.
//! - **Voiced speech** ([`Allow::Any`] only) is changed by one pitch period when its two newest
//!   periods correlate (normalised correlation at least [`MIN_CORRELATION`]); loud audio that is
//!   neither quiet nor periodic (fricatives, onsets) is left alone.
//!
//! Otherwise nothing changes and the call returns 0; the caller tries again on the next frame.
//! Each join is continuous by construction: the cross-fade starts on the sample that was there
//! and ends on the sample that naturally precedes what follows.
//!
//! # Real-time
//!
//! [`TimeStretch::new`] allocates its scratch buffers (three periods); the operations never
//! allocate.

/// The least normalised correlation between the two periods for which a period is removed or
/// repeated (NetEq uses 0.9; a little lower keeps voiced correction from stalling on breathy
/// voices, and the cross-fade hides the rest).
pub const MIN_CORRELATION: f32 = 0.7;

/// Audio quieter than this RMS (about -45 dBov) is stretched whatever its correlation.
pub const QUIET_RMS: f32 = 180.0;

/// What audio a stretching operation may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    /// Only quiet audio (pauses between words): changes there are inaudible and leave the
    /// timing of speech itself alone.
    Quiet,
    /// Quiet audio, or voiced speech whose periods correlate.
    Any,
}

/// Pitch-synchronous time-stretching of mono speech.
#[derive(Debug, Clone)]
pub struct TimeStretch {
    pitch_min: usize,
    pitch_max: usize,
    step: usize,
    /// Scratch for the repeated period.
    scratch: Box<[f32]>,
    /// Scratch for the pitch search's signal copy.
    window: Box<[f32]>,
}

impl TimeStretch {
    /// A stretcher for audio at `sample_rate`, or `None` unless the rate is a multiple of 8 kHz
    /// between 8 and 48 kHz.
    pub fn new(sample_rate: u32) -> Option<Self> {
        if sample_rate % 8000 != 0 || !(8000..=48000).contains(&sample_rate) {
            return None;
        }
        let s = (sample_rate / 8000) as usize;
        let pitch_max = 120 * s;
        Some(Self {
            pitch_min: 20 * s,
            pitch_max,
            step: 2 * s,
            scratch: vec![0.0; pitch_max].into_boxed_slice(),
            window: vec![0.0; 2 * pitch_max].into_boxed_slice(),
        })
    }

    /// The longest period removed or inserted: the most one call changes the length by.
    pub fn pitch_max(&self) -> usize {
        self.pitch_max
    }

    /// Unplayed samples [`Self::accelerate`] needs to consider every period.
    pub fn accelerate_needs(&self) -> usize {
        2 * self.pitch_max
    }

    /// Finds the period to remove or repeat at the end of `x`, at most `max_p` long: the whole
    /// `max_p` when the newest `2·max_p` samples are quiet, otherwise (if `allow` permits) the
    /// period `P` whose `A = x[len-2P..len-P]` and `B = x[len-P..]` correlate best, by a
    /// coarse pass over every `step`-th period and sample and a fine pass near the winner, if
    /// that correlation reaches [`MIN_CORRELATION`].
    fn period(&mut self, x: &[i16], max_p: usize, allow: Allow) -> Option<usize> {
        if max_p < self.pitch_min {
            return None;
        }
        let span = 2 * max_p;
        let window = &mut self.window[..span];
        let mut energy = 0.0f32;
        for (w, &s) in window.iter_mut().zip(&x[x.len() - span..]) {
            *w = s as f32;
            energy += *w * *w;
        }
        if energy / (span as f32) < QUIET_RMS * QUIET_RMS {
            return Some(max_p);
        }
        if allow == Allow::Quiet {
            return None;
        }
        let window = &self.window[..span];
        let score = |p: usize, stride: usize| -> f32 {
            let a = &window[span - 2 * p..span - p];
            let b = &window[span - p..];
            let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
            for i in (0..p).step_by(stride) {
                ab += a[i] * b[i];
                aa += a[i] * a[i];
                bb += b[i] * b[i];
            }
            ab / (aa * bb).sqrt().max(1.0)
        };
        // Shorter periods first; a longer one must be clearly better, so a period wins over
        // its multiples.
        let mut best = self.pitch_min;
        let mut best_score = f32::MIN;
        let mut p = self.pitch_min;
        while p <= max_p {
            let s = score(p, self.step);
            if s > best_score + 0.02 {
                best_score = s;
                best = p;
            }
            p += self.step;
        }
        let lo = best.saturating_sub(self.step - 1).max(self.pitch_min);
        let hi = (best + self.step - 1).min(max_p);
        let mut fine = best;
        let mut fine_score = f32::MIN;
        for p in lo..=hi {
            let s = score(p, 1);
            if s > fine_score {
                fine_score = s;
                fine = p;
            }
        }
        (fine_score >= MIN_CORRELATION).then_some(fine)
    }

    /// Removes up to `max_change` samples (one period, or a stretch of quiet) from the end of
    /// `signal[..len]`, whose samples from `unplayed` on have not been played. Returns the
    /// samples removed (0 if nothing could be removed inaudibly); the signal then ends at `len`
    /// minus that.
    pub fn accelerate(
        &mut self,
        signal: &mut [i16],
        len: usize,
        unplayed: usize,
        allow: Allow,
        max_change: usize,
    ) -> usize {
        let available = len.saturating_sub(unplayed) / 2;
        let max_p = available.min(self.pitch_max).min(max_change);
        let Some(p) = self.period(&signal[..len], max_p, allow) else {
            return 0;
        };
        let start = len - 2 * p;
        for i in 0..p {
            let w = (i + 1) as f32 / (p + 1) as f32;
            let a = signal[start + i] as f32;
            let b = signal[start + p + i] as f32;
            signal[start + i] = (a * (1.0 - w) + b * w).round() as i16;
        }
        p
    }

    /// Repeats up to `max_change` samples (one period, or a stretch of quiet) at the end of
    /// `signal[..len]`, whose samples from `unplayed` on have not been played; `signal` must
    /// have room behind `len` for what is inserted. Returns the samples inserted (0 if nothing
    /// could be inserted inaudibly).
    pub fn decelerate(
        &mut self,
        signal: &mut [i16],
        len: usize,
        unplayed: usize,
        allow: Allow,
        max_change: usize,
    ) -> usize {
        let room = signal.len().saturating_sub(len);
        let max_p = (len / 2)
            .min(len.saturating_sub(unplayed))
            .min(room)
            .min(self.pitch_max)
            .min(max_change);
        let Some(p) = self.period(&signal[..len], max_p, allow) else {
            return 0;
        };
        let (a0, b0) = (len - 2 * p, len - p);
        for (s, &x) in self.scratch.iter_mut().zip(&signal[b0..len]) {
            *s = x as f32;
        }
        for i in 0..p {
            let w = (i + 1) as f32 / (p + 1) as f32;
            let a = signal[a0 + i] as f32;
            signal[b0 + i] = (self.scratch[i] * (1.0 - w) + a * w).round() as i16;
        }
        for i in 0..p {
            signal[len + i] = self.scratch[i] as i16;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voiced(rate: u32, f0: f32, len: usize) -> Vec<i16> {
        // A few harmonics, like a vowel.
        (0..len)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let mut s = 0.0;
                for (h, amp) in [(1.0, 6000.0), (2.0, 3000.0), (3.0, 1500.0)] {
                    s += amp * (2.0 * std::f32::consts::PI * f0 * h * t).sin();
                }
                s as i16
            })
            .collect()
    }

    fn max_step(x: &[i16]) -> i32 {
        x.windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .max()
            .unwrap()
    }

    #[test]
    fn accelerate_removes_one_period_of_voiced_speech_smoothly() {
        for (rate, f0) in [(8000, 110.0), (8000, 210.0), (16000, 140.0)] {
            let mut x = voiced(rate, f0, (rate / 20) as usize);
            let len = x.len();
            let before = max_step(&x);
            let mut ts = TimeStretch::new(rate).unwrap();
            let removed = ts.accelerate(&mut x, len, 0, Allow::Any, usize::MAX);
            let period = rate as f32 / f0;
            assert!(
                (removed as f32 - period).abs() <= 1.5
                    || (removed as f32 - 2.0 * period).abs() <= 2.0,
                "rate {rate} f0 {f0}: removed {removed}, period {period}"
            );
            assert!(max_step(&x[..len - removed]) <= before + before / 4);
        }
    }

    #[test]
    fn decelerate_inserts_one_period_smoothly() {
        let rate = 8000;
        let mut x = voiced(rate, 125.0, 400);
        x.resize(400 + 120, 0);
        let before = max_step(&x[..400]);
        let mut ts = TimeStretch::new(rate).unwrap();
        let inserted = ts.decelerate(&mut x, 400, 300, Allow::Any, usize::MAX);
        assert!((inserted as i32 - 64).abs() <= 1, "inserted {inserted}");
        assert!(max_step(&x[..400 + inserted]) <= before + before / 4);
    }

    #[test]
    fn leaves_unvoiced_loud_audio_alone() {
        let mut seed = 1u32;
        let mut noise: Vec<i16> = (0..400)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((seed >> 16) as i16) / 4
            })
            .collect();
        let copy = noise.clone();
        let mut ts = TimeStretch::new(8000).unwrap();
        assert_eq!(ts.accelerate(&mut noise, 400, 0, Allow::Any, usize::MAX), 0);
        assert_eq!(noise, copy);
    }

    #[test]
    fn quiet_audio_is_stretched_by_the_most_allowed_and_voiced_only_when_allowed() {
        let mut ts = TimeStretch::new(8000).unwrap();
        let mut quiet: Vec<i16> = (0..400).map(|i| ((i * 37) % 200 - 100) as i16).collect();
        assert_eq!(ts.accelerate(&mut quiet, 400, 0, Allow::Quiet, 100), 100);
        let mut x = voiced(8000, 125.0, 400);
        assert_eq!(ts.accelerate(&mut x, 400, 0, Allow::Quiet, usize::MAX), 0);
        assert!(ts.accelerate(&mut x, 400, 0, Allow::Any, usize::MAX) > 0);
    }

    #[test]
    fn never_touches_played_audio() {
        let copy = voiced(8000, 100.0, 400);
        let mut ts = TimeStretch::new(8000).unwrap();
        // Only 100 unplayed samples: no period of 80 fits twice, 40..=50 would.
        let mut x = copy.clone();
        let removed = ts.accelerate(&mut x, 400, 300, Allow::Any, usize::MAX);
        assert!(removed <= 50);
        assert_eq!(x[..300], copy[..300]);
        let mut x = copy.clone();
        x.resize(600, 0);
        let inserted = ts.decelerate(&mut x, 400, 380, Allow::Any, usize::MAX);
        assert!(inserted <= 20);
        assert_eq!(x[..380], copy[..380]);
    }
}
