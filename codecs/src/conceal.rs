//! A simple, allocation-free concealment for codecs without PLC of their own (G.711, L16,
//! G.722): repeat the most recent 10 ms of audio, fading out over 60 ms, then silence.
//!
//! This keeps a single lost packet from clicking; tandem-dsp's waveform-substitution PLC
//! (G.711 Appendix I style) does better on longer gaps and is what the jitter buffer uses.

/// Fading repetition of the last 10 ms of decoded audio.
#[derive(Debug, Clone)]
pub(crate) struct FadingRepeat {
    /// The last 10 ms of audio, oldest first once `filled`.
    history: Box<[i16]>,
    /// Next write position in `history`.
    write: usize,
    /// Samples concealed since the last good frame.
    concealed: usize,
    /// Samples in 60 ms: the fade's length.
    fade_len: usize,
}

impl FadingRepeat {
    /// A concealer for audio at `sample_rate` Hz.
    pub(crate) fn new(sample_rate: u32) -> Self {
        let period = (sample_rate / 100) as usize;
        Self {
            history: vec![0; period].into_boxed_slice(),
            write: 0,
            concealed: 0,
            fade_len: period * 6,
        }
    }

    /// Records decoded audio.
    pub(crate) fn remember(&mut self, pcm: &[i16]) {
        let period = self.history.len();
        let tail = &pcm[pcm.len().saturating_sub(period)..];
        // The ring takes the tail in at most two copies: every decoded packet passes here,
        // and a modulo per sample cost more than G.711's table look-ups themselves.
        let (to_end, wrapped) = tail.split_at(tail.len().min(period - self.write));
        self.history[self.write..self.write + to_end.len()].copy_from_slice(to_end);
        self.history[..wrapped.len()].copy_from_slice(wrapped);
        self.write = (self.write + tail.len()) % period;
        self.concealed = 0;
    }

    /// Fills `pcm` with the faded repetition and returns its length.
    pub(crate) fn fill(&mut self, pcm: &mut [i16]) -> usize {
        let period = self.history.len();
        for out in pcm.iter_mut() {
            let remaining = self.fade_len.saturating_sub(self.concealed);
            let sample = self.history[(self.write + self.concealed) % period] as i32;
            *out = (sample * remaining as i32 / self.fade_len as i32) as i16;
            self.concealed += 1;
        }
        pcm.len()
    }

    /// Forgets the history.
    pub(crate) fn reset(&mut self) {
        self.history.fill(0);
        self.write = 0;
        self.concealed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fades_to_silence_after_sixty_ms() {
        let mut c = FadingRepeat::new(8000);
        c.remember(&[10_000; 160]);
        let mut out = [0i16; 480];
        c.fill(&mut out);
        assert!(out[0] > 9_000, "starts near the last level");
        assert!(out[479].abs() < 100, "ends near silence");
        let mut after = [1i16; 80];
        c.fill(&mut after);
        assert!(after.iter().all(|&s| s == 0));
    }

    /// Frames of any length, straddling the ring's end or longer than it, leave the same
    /// history as writing the samples one at a time.
    #[test]
    fn remembers_like_a_sample_at_a_time_ring() {
        let mut c = FadingRepeat::new(8000);
        let mut reference = [0i16; 80];
        let mut write = 0;
        let mut next = 1i16;
        for len in [30, 80, 7, 160, 55, 80, 1, 79, 200, 13] {
            let frame: Vec<i16> = (0..len)
                .map(|_| {
                    next = next.wrapping_mul(31).wrapping_add(7);
                    next
                })
                .collect();
            c.remember(&frame);
            for &s in &frame[frame.len().saturating_sub(80)..] {
                reference[write] = s;
                write = (write + 1) % 80;
            }
            assert_eq!(&c.history[..], &reference[..], "after a frame of {len}");
            assert_eq!(c.write, write, "after a frame of {len}");
        }
    }

    #[test]
    fn repeats_the_last_period_in_order() {
        let mut c = FadingRepeat::new(8000);
        let ramp: Vec<i16> = (0..80).map(|i| i * 100).collect();
        c.remember(&ramp);
        let mut out = [0i16; 3];
        c.fill(&mut out);
        assert_eq!(out[0], 0);
        assert!(out[1] > 0 && out[2] > out[1]);
    }
}
