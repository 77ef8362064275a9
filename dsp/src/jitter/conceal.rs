//! Filling gaps for codecs without concealment of their own: waveform substitution in the
//! style of ITU-T G.711 Appendix I, and RFC 3389 comfort noise.
//!
//! # Waveform substitution ([`WaveformSubstitution`])
//!
//! The design of G.711 Appendix I ("A high quality low-complexity algorithm for packet loss
//! concealment with G.711", 09/1999), written afresh for any rate that is a multiple of 8 kHz
//! (constants below are quoted at 8 kHz and scale with the rate):
//!
//! - **Pitch** is found when a gap starts, by normalised cross-correlation of the last 20 ms of
//!   history against the same length 5 to 15 ms earlier (periods of 40 to 120 samples, 66 to
//!   200 Hz): a coarse search on every second sample and lag, then a fine search around the
//!   best lag.
//! - **Repetition.** The synthetic signal repeats the last pitch period. Where a quarter period of
//!   the audio before the gap has not been played yet, it is overlap-added with the quarter
//!   period one period earlier, so the repetition joins the real signal without a click
//!   (Appendix I's way, for which it delays its output by 3.75 ms). Where it has been played, the
//!   repetition starts one period back and the step between the last real sample and the first
//!   repeated one, beyond the step a period earlier, fades out over a quarter period: a join
//!   without look-ahead. Callers need keep nothing unplayed, which buys every jitter buffer
//!   3.75 ms (BENCHMARKS.md, "Jitter buffer"). Every pass round the loop joins its end to its
//!   start by overlap-add.
//! - **Longer gaps** repeat more history to avoid a buzzy, tonal sound: two periods after
//!   10 ms, three after 20 ms, each switch blended over a quarter period.
//! - **Attenuation** starts after 10 ms, 20 % per 10 ms, linearly per sample, so the output is
//!   silent 60 ms into the gap.
//! - **Resuming**: the first real samples after a gap are overlap-added with the synthetic
//!   continuation over a quarter period plus 4 ms per further 10 ms of gap, at most 10 ms. After
//!   a muted gap this becomes a fade-in.
//!
//! # Comfort noise ([`ComfortNoise`])
//!
//! RFC 3389 §3: the first payload byte is the noise level in -dBov (0 to 127; 0 dBov is a
//! full-scale square wave, as in [`crate::talk`]), and any further bytes are reflection
//! coefficients `k_i = (N_i - 127) / 128` of an all-pole model of the noise spectrum. Noise is
//! white noise shaped by that model and scaled to the level.
//!
//! # Real-time
//!
//! Constructors allocate; [`WaveformSubstitution::conceal_into`],
//! [`WaveformSubstitution::resume`], [`ComfortNoise::update`] and [`ComfortNoise::generate`]
//! never allocate.

/// The rates the concealment runs at: multiples of 8 kHz up to 48 kHz.
fn scale_of(sample_rate: u32) -> Option<usize> {
    (sample_rate % 8000 == 0 && (8000..=48000).contains(&sample_rate))
        .then_some((sample_rate / 8000) as usize)
}

/// Normalised cross-correlation pitch search shared by concealment and time-stretching.
///
/// Returns the lag in `min_lag..=max_lag` whose window `x[end - len - lag..end - lag]` best
/// matches the reference window `x[end - len..end]`, scoring `sum(ref * cand) / sqrt(energy of
/// cand)`. The coarse pass visits every `step`-th lag and sample; the fine pass every lag within
/// `step` of the coarse winner. Smaller lags win ties, so a period is preferred over its
/// multiples.
pub(crate) fn find_pitch(
    x: &[f32],
    len: usize,
    min_lag: usize,
    max_lag: usize,
    step: usize,
) -> usize {
    let end = x.len();
    debug_assert!(end >= len + max_lag);
    let reference = &x[end - len..];
    let score = |lag: usize, stride: usize| -> f32 {
        let cand = &x[end - len - lag..end - lag];
        let mut corr = 0.0f32;
        let mut energy = 0.0f32;
        for i in (0..len).step_by(stride) {
            corr += reference[i] * cand[i];
            energy += cand[i] * cand[i];
        }
        corr / energy.max(len as f32).sqrt()
    };
    let mut best = min_lag;
    let mut best_score = f32::MIN;
    let mut lag = min_lag;
    while lag <= max_lag {
        let s = score(lag, step);
        if s > best_score {
            best_score = s;
            best = lag;
        }
        lag += step;
    }
    let (lo, hi) = (
        best.saturating_sub(step - 1).max(min_lag),
        (best + step - 1).min(max_lag),
    );
    let mut fine = best;
    let mut fine_score = f32::MIN;
    for lag in lo..=hi {
        let s = score(lag, 1);
        if s > fine_score {
            fine_score = s;
            fine = lag;
        }
    }
    fine
}

/// Waveform-substitution concealment (ITU-T G.711 Appendix I style) for one mono stream.
#[derive(Debug, Clone)]
pub struct WaveformSubstitution {
    pitch_min: usize,
    pitch_max: usize,
    /// Reference window of the pitch search: 20 ms.
    corr_len: usize,
    /// Decimation of the coarse pitch search.
    step: usize,
    /// 10 ms.
    ten_ms: usize,
    /// Resume overlap growth per 10 ms of gap: 4 ms.
    overlap_incr: usize,
    /// The history copied when a gap starts: three periods plus a quarter period.
    pitchbuf: Box<[f32]>,
    pitch: usize,
    /// Overlap length: a quarter period.
    quarter: usize,
    /// Periods in the repetition loop (1 to 3).
    periods: usize,
    /// Next read position in `pitchbuf`, inside the loop.
    offset: usize,
    /// While switching to a longer loop: samples left of the blend and the old loop's position.
    switch_left: usize,
    switch_offset: usize,
    /// Samples synthesised since the gap started; `None` while not concealing.
    erased: Option<usize>,
    /// A join without look-ahead: the step to fade out, and the samples left of the fade.
    join_step: f32,
    join_left: usize,
}

impl WaveformSubstitution {
    /// A concealer for audio at `sample_rate`, or `None` if the rate is not a multiple of
    /// 8 kHz between 8 and 48 kHz.
    pub fn new(sample_rate: u32) -> Option<Self> {
        let s = scale_of(sample_rate)?;
        let pitch_max = 120 * s;
        let history = 3 * pitch_max + pitch_max / 4;
        Some(Self {
            pitch_min: 40 * s,
            pitch_max,
            corr_len: 160 * s,
            step: 2 * s,
            ten_ms: 80 * s,
            overlap_incr: 32 * s,
            pitchbuf: vec![0.0; history].into_boxed_slice(),
            pitch: pitch_max,
            quarter: pitch_max / 4,
            periods: 1,
            offset: 0,
            switch_left: 0,
            switch_offset: 0,
            erased: None,
            join_step: 0.0,
            join_left: 0,
        })
    }

    /// Samples of history the concealer reads when a gap starts.
    pub fn history_len(&self) -> usize {
        self.pitchbuf.len()
    }

    /// The longest period the pitch search considers (15 ms).
    pub fn pitch_max(&self) -> usize {
        self.pitch_max
    }

    /// True while a gap is being concealed (from the first concealed sample to [`Self::resume`]).
    pub fn is_concealing(&self) -> bool {
        self.erased.is_some()
    }

    /// True once the concealment has faded to silence (60 ms into a gap).
    pub fn is_muted(&self) -> bool {
        self.erased.is_some_and(|e| e >= 6 * self.ten_ms)
    }

    /// Fills `out` with the continuation of `history` (the audio before the gap, oldest first),
    /// whose last `unplayed` samples have not been played yet.
    ///
    /// On the first call of a gap, if at least a quarter period is unplayed, that quarter
    /// period of `history` is rewritten to blend into the repetition; otherwise `history` is
    /// left alone. A history shorter than [`Self::history_len`] is taken as preceded by silence.
    pub fn conceal_into(&mut self, history: &mut [i16], unplayed: usize, out: &mut [i16]) {
        if self.erased.is_none() {
            self.start_gap(history, unplayed);
        }
        for o in out.iter_mut() {
            *o = self.next_sample();
        }
    }

    /// Blends the start of the first real audio after a gap with the synthetic continuation.
    /// Does nothing when no gap is being concealed.
    pub fn resume(&mut self, pcm: &mut [i16]) {
        let Some(erased) = self.erased else { return };
        let tens = erased.div_ceil(self.ten_ms).max(1);
        let olen = (self.quarter + (tens - 1) * self.overlap_incr)
            .min(self.ten_ms)
            .min(pcm.len());
        for (i, p) in pcm[..olen].iter_mut().enumerate() {
            let w = (i + 1) as f32 / (olen + 1) as f32;
            let synthetic = self.next_sample() as f32;
            *p = saturate(synthetic * (1.0 - w) + *p as f32 * w);
        }
        self.erased = None;
    }

    /// Joins audio across a discontinuity that lost nothing (a skip forward): the start of `pcm`
    /// is blended with a continuation of `history` over a quarter period. `unplayed` is as for
    /// [`Self::conceal_into`].
    pub fn splice(&mut self, history: &mut [i16], unplayed: usize, pcm: &mut [i16]) {
        if self.erased.is_none() {
            self.start_gap(history, unplayed);
        }
        self.resume(pcm);
    }

    /// Forgets any gap in progress.
    pub fn reset(&mut self) {
        self.erased = None;
        self.switch_left = 0;
        self.join_left = 0;
    }

    fn start_gap(&mut self, history: &mut [i16], unplayed: usize) {
        let len = self.pitchbuf.len();
        let have = history.len().min(len);
        self.pitchbuf[..len - have].fill(0.0);
        for (p, &h) in self.pitchbuf[len - have..]
            .iter_mut()
            .zip(&history[history.len() - have..])
        {
            *p = h as f32;
        }
        self.pitch = find_pitch(
            &self.pitchbuf,
            self.corr_len,
            self.pitch_min,
            self.pitch_max,
            self.step,
        );
        self.quarter = (self.pitch / 4).max(1);
        self.periods = 1;
        self.switch_left = 0;
        self.join_left = 0;
        self.erased = Some(0);
        if unplayed < self.quarter.min(have) {
            // Too little unplayed to blend into: repeat from one period back and fade out the
            // extra step at the join.
            self.offset = len - self.pitch;
            self.join_step = self.pitchbuf[len - 1] - self.pitchbuf[len - 1 - self.pitch];
            self.join_left = self.quarter;
            return;
        }
        // Rewrite the unplayed tail: the loop is read from a quarter period before its end, so
        // the first samples out blend the real signal into the repetition.
        let tail = have.min(self.quarter);
        self.offset = len - tail;
        let start = history.len() - tail;
        for h in &mut history[start..] {
            let s = self.loop_sample(self.periods, self.offset);
            *h = saturate(s);
            self.offset = self.advance(self.periods, self.offset);
        }
    }

    /// The repetition loop of `periods` periods at `pos`, with the blend that joins the loop's
    /// end to its start.
    fn loop_sample(&self, periods: usize, pos: usize) -> f32 {
        let len = self.pitchbuf.len();
        let blend_from = len - self.quarter;
        let x = self.pitchbuf[pos];
        if pos < blend_from {
            return x;
        }
        let w = (pos - blend_from + 1) as f32 / (self.quarter + 1) as f32;
        x * (1.0 - w) + self.pitchbuf[pos - periods * self.pitch] * w
    }

    fn advance(&self, periods: usize, pos: usize) -> usize {
        let len = self.pitchbuf.len();
        if pos + 1 >= len {
            len - periods * self.pitch
        } else {
            pos + 1
        }
    }

    fn next_sample(&mut self) -> i16 {
        let Some(erased) = self.erased else { return 0 };
        let ten = self.ten_ms;
        if erased >= 6 * ten {
            self.erased = Some(erased + 1);
            return 0;
        }
        // Lengthen the loop at 10 and 20 ms (Appendix I: more periods, less buzz), when the
        // history holds them.
        if (erased == ten || erased == 2 * ten)
            && self.periods < 3
            && (self.periods + 1) * self.pitch + self.quarter <= self.pitchbuf.len()
        {
            self.switch_offset = self.offset;
            self.periods += 1;
            // Same phase, one period further back: inside the longer loop.
            self.offset -= self.pitch;
            self.switch_left = self.quarter;
        }
        let mut s = self.loop_sample(self.periods, self.offset);
        self.offset = self.advance(self.periods, self.offset);
        if self.join_left > 0 {
            s += self.join_step * self.join_left as f32 / (self.quarter + 1) as f32;
            self.join_left -= 1;
        }
        if self.switch_left > 0 {
            let old_periods = self.periods - 1;
            let old = self.loop_sample(old_periods, self.switch_offset);
            self.switch_offset = self.advance(old_periods, self.switch_offset);
            let w = (self.quarter - self.switch_left + 1) as f32 / (self.quarter + 1) as f32;
            s = old * (1.0 - w) + s * w;
            self.switch_left -= 1;
        }
        // 20 % per 10 ms after the first 10 ms.
        let gain = if erased < ten {
            1.0
        } else {
            1.0 - 0.2 * (erased - ten) as f32 / ten as f32
        };
        self.erased = Some(erased + 1);
        saturate(s * gain)
    }
}

fn saturate(x: f32) -> i16 {
    x.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

/// The highest model order [`ComfortNoise`] uses; RFC 3389 leaves the order open, and G.711
/// Appendix II and WebRTC use up to 12.
pub const COMFORT_NOISE_MAX_ORDER: usize = 12;

/// An RFC 3389 comfort-noise generator.
#[derive(Debug, Clone)]
pub struct ComfortNoise {
    /// Excitation scale: RMS of the white noise before the all-pole filter.
    excitation_rms: f32,
    /// Direct-form predictor `a_1..a_order` of `1 / (1 + sum a_i z^-i)`.
    lpc: [f32; COMFORT_NOISE_MAX_ORDER],
    order: usize,
    /// Past outputs, newest first.
    memory: [f32; COMFORT_NOISE_MAX_ORDER],
    seed: u32,
}

impl Default for ComfortNoise {
    fn default() -> Self {
        Self::new()
    }
}

impl ComfortNoise {
    /// A generator producing silence until [`Self::update`] gives it a level.
    pub fn new() -> Self {
        Self {
            excitation_rms: 0.0,
            lpc: [0.0; COMFORT_NOISE_MAX_ORDER],
            order: 0,
            memory: [0.0; COMFORT_NOISE_MAX_ORDER],
            seed: 0x1234_5678,
        }
    }

    /// Takes the parameters of an RFC 3389 payload. An empty payload keeps the old ones.
    pub fn update(&mut self, payload: &[u8]) {
        let Some((&level, coefficients)) = payload.split_first() else {
            return;
        };
        let dbov = -f32::from(level & 0x7f);
        // 0 dBov: a full-scale square wave, RMS 32768.
        let rms = 32768.0 * 10f32.powf(dbov / 20.0);
        let order = coefficients.len().min(COMFORT_NOISE_MAX_ORDER);
        // Step-up recursion from reflection coefficients to the direct form; the prediction
        // gain product tells how much the filter amplifies white noise.
        let mut a = [0.0f32; COMFORT_NOISE_MAX_ORDER];
        let mut power_gain = 1.0f32;
        for (m, &n) in coefficients[..order].iter().enumerate() {
            let k = ((f32::from(n) - 127.0) / 128.0).clamp(-0.995, 0.995);
            let prev = a;
            for i in 0..m {
                a[i] = prev[i] + k * prev[m - 1 - i];
            }
            a[m] = k;
            power_gain *= 1.0 - k * k;
        }
        self.lpc = a;
        self.order = order;
        self.excitation_rms = rms * power_gain.sqrt();
    }

    /// Fills `out` with comfort noise.
    pub fn generate(&mut self, out: &mut [i16]) {
        // Uniform noise in [-1, 1) has RMS 1/sqrt(3).
        let scale = self.excitation_rms * 3f32.sqrt();
        for o in out.iter_mut() {
            // xorshift32
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 17;
            self.seed ^= self.seed << 5;
            let e = (self.seed as i32 as f32 / 2_147_483_648.0) * scale;
            let mut y = e;
            for i in 0..self.order {
                y -= self.lpc[i] * self.memory[i];
            }
            if self.order > 0 {
                self.memory.copy_within(0..self.order - 1, 1);
                self.memory[0] = y;
            }
            *o = saturate(y);
        }
    }

    /// Back to silence.
    pub fn reset(&mut self) {
        *self = Self {
            seed: self.seed,
            ..Self::new()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, len: usize, amplitude: f32) -> Vec<i16> {
        (0..len)
            .map(|i| {
                (amplitude * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
                    as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f32 {
        (x.iter().map(|&s| (s as f32).powi(2)).sum::<f32>() / x.len() as f32).sqrt()
    }

    #[test]
    fn finds_the_period_of_a_voiced_like_signal() {
        for (rate, freq) in [(8000, 100.0), (8000, 160.0), (16000, 125.0), (48000, 200.0)] {
            let x: Vec<f32> = sine(freq, rate, 2000 * (rate as usize / 8000), 8000.0)
                .iter()
                .map(|&s| s as f32)
                .collect();
            let s = (rate / 8000) as usize;
            let lag = find_pitch(&x, 160 * s, 40 * s, 120 * s, 2 * s);
            // A whole number of periods repeats in phase just as well.
            let period = rate as f32 / freq;
            let periods = (lag as f32 / period).round();
            assert!(
                periods >= 1.0 && (lag as f32 - periods * period).abs() <= periods,
                "rate {rate} freq {freq}: lag {lag}, period {period}"
            );
        }
    }

    /// The largest sample-to-sample step in `x`.
    fn max_step(x: &[i16]) -> i32 {
        x.windows(2)
            .map(|w| (w[1] as i32 - w[0] as i32).abs())
            .max()
            .unwrap()
    }

    #[test]
    fn continues_a_periodic_signal_in_phase() {
        let rate = 8000;
        let x = sine(125.0, rate, 800, 10_000.0);
        // With a quarter period unplayed (blended into) and with none (joined after it).
        for unplayed in [0, 40] {
            let mut history = x[..600].to_vec();
            let mut plc = WaveformSubstitution::new(rate).unwrap();
            let mut out = vec![0i16; 80];
            plc.conceal_into(&mut history, unplayed, &mut out);
            // The first 10 ms are unattenuated and should track the true continuation closely.
            let err: f32 = out
                .iter()
                .zip(&x[600..680])
                .map(|(&a, &b)| (a as f32 - b as f32).powi(2))
                .sum::<f32>()
                / 80.0;
            assert!(
                err.sqrt() < 500.0,
                "unplayed {unplayed}: rms error {} against a 10 000 sine",
                err.sqrt()
            );
        }
    }

    #[test]
    fn joins_played_audio_without_a_click() {
        // A period the search cannot match exactly (137 Hz at 8 kHz: 58.4 samples) and a sum
        // of two tones, so the repetition is off by a fraction of a sample at the join.
        let rate = 8000;
        let a = sine(137.0, rate, 800, 7000.0);
        let b = sine(411.0, rate, 800, 3000.0);
        let x: Vec<i16> = a.iter().zip(&b).map(|(&a, &b)| a + b).collect();
        let own = max_step(&x);
        for cut in [600, 611, 623, 640] {
            let mut history = x[..cut].to_vec();
            let mut plc = WaveformSubstitution::new(rate).unwrap();
            let mut out = vec![0i16; 80];
            plc.conceal_into(&mut history, 0, &mut out);
            assert_eq!(history, x[..cut], "played audio is never rewritten");
            let mut joined = history[cut - 40..].to_vec();
            joined.extend_from_slice(&out);
            let step = max_step(&joined);
            assert!(
                step <= own + own / 4,
                "cut {cut}: step {step} against the signal's own {own}"
            );
        }
    }

    #[test]
    fn attenuates_after_ten_ms_and_mutes_at_sixty() {
        let rate = 8000;
        let mut history = sine(200.0, rate, 800, 10_000.0);
        let mut plc = WaveformSubstitution::new(rate).unwrap();
        let mut out = vec![0i16; 560];
        plc.conceal_into(&mut history, 0, &mut out);
        let first = rms(&out[..80]);
        let third = rms(&out[160..240]);
        assert!(first > 6_000.0, "first 10 ms at full level: {first}");
        assert!(
            third < 0.85 * first && third > 0.5 * first,
            "20-30 ms attenuated by about 30 %: {third} vs {first}"
        );
        assert!(out[480..].iter().all(|&s| s == 0), "silent after 60 ms");
        assert!(plc.is_muted());
    }

    #[test]
    fn rewrites_at_most_a_quarter_period_of_unplayed_history() {
        let rate = 16000;
        let x = sine(180.0, rate, 1600, 9000.0);
        let mut history = x.clone();
        let mut plc = WaveformSubstitution::new(rate).unwrap();
        let mut out = vec![0i16; 160];
        plc.conceal_into(&mut history, 400, &mut out);
        let keep = history.len() - plc.pitch_max() / 4;
        assert_eq!(history[..keep], x[..keep]);
        assert_ne!(
            history, x,
            "the unplayed quarter period is blended into the repetition"
        );
    }

    #[test]
    fn resumes_without_a_click() {
        let rate = 8000;
        let x = sine(150.0, rate, 2000, 10_000.0);
        for unplayed in [0, 40] {
            let mut history = x[..800].to_vec();
            let mut plc = WaveformSubstitution::new(rate).unwrap();
            let mut gap = vec![0i16; 160];
            plc.conceal_into(&mut history, unplayed, &mut gap);
            let mut next = x[960..1120].to_vec();
            plc.resume(&mut next);
            assert!(!plc.is_concealing());
            // The largest sample-to-sample step across the junction stays within what the
            // sine itself does (about 1200 per sample at 150 Hz and 10 000 peak) plus a margin.
            let mut joined = gap.clone();
            joined.extend_from_slice(&next);
            let step = max_step(&joined);
            assert!(step < 3000, "unplayed {unplayed}: step {step}");
        }
    }

    #[test]
    fn comfort_noise_matches_the_signalled_level() {
        let mut cn = ComfortNoise::new();
        let mut out = vec![0i16; 8000];
        cn.generate(&mut out);
        assert!(out.iter().all(|&s| s == 0), "silent before any payload");
        // -40 dBov, flat spectrum.
        cn.update(&[40]);
        cn.generate(&mut out);
        let expected = 32768.0 * 10f32.powf(-2.0);
        let got = rms(&out);
        assert!((got / expected - 1.0).abs() < 0.1, "{got} vs {expected}");
        // -40 dBov with a strongly low-pass model keeps the level.
        cn.update(&[40, 20, 127, 127]);
        cn.generate(&mut out);
        let got = rms(&out[1000..]);
        assert!((got / expected - 1.0).abs() < 0.25, "{got} vs {expected}");
    }
}
