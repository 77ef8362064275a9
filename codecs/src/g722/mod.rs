//! G.722 at 64 kbit/s (ITU-T G.722 (09/2012), "7 kHz audio-coding within 64 kbit/s"), written
//! from the Recommendation.
//!
//! # Interoperability
//!
//! The encoder is bit-exact with spandsp 0.0.6 (Debian's libspandsp). So is the decoder,
//! with one deliberate exception: when loud input makes the receive QMF overshoot 16 bits,
//! spandsp wraps the sample (a click) while [`G722Decoder::new`] saturates it, as the ITU-T
//! reference software does. [`G722Decoder::with_overflow`]`(`[`OutputOverflow::Wrap`]`)`
//! reproduces spandsp exactly. The `g722_spandsp` integration test compares both directions
//! on speech, tones, noise and random codewords, and checks that the two overflow modes differ
//! only on overshooting samples.
//!
//! 16 kHz audio is split by a quadrature mirror filter (`qmf.rs`, §3.1 and §4.4) into two
//! 8 kHz sub-bands, each coded by backward-adaptive ADPCM (`adpcm.rs`, §3.2–§3.6 and
//! §4.1–§4.3): 6 bits for the lower band, 2 for the higher band. Only mode 1 (64 kbit/s) is
//! produced and consumed; the decoder reconstructs the lower band from all 6 bits.
//!
//! # Payload format
//!
//! One byte per pair of input samples, as RTP carries G.722 (RFC 3551 §4.5.2): the higher
//! band's 2 bits in the most significant bits, the lower band's 6 bits below them (the order
//! of the Recommendation's 64 kbit/s octet). A 20 ms frame of 320 samples is 160 bytes. The
//! RTP clock runs at 8000 Hz (see [`crate::G722`]).
//!
//! # Real-time contract
//!
//! The encoder accepts any even number of samples per call and the decoder any number of
//! bytes; state carries across calls, so splitting a stream into calls anywhere gives the
//! same output. Neither allocates, locks or panics; state is fixed-size arrays. Each call works
//! through 10 ms blocks with a few kilobytes of stack: the QMFs run across a block as vector
//! code, and each band's ADPCM recursion runs over the block in its own loop.
//!
//! On the reference machine a 20 ms frame encodes and decodes in about half the time spandsp
//! takes (`benches/benches/g722.rs`).
//!
//! # Delay
//!
//! The two QMFs add 23 samples (1.44 ms) of delay end to end, 22 of it as whole samples
//! (`decode(encode(x))` is close to `x` delayed by 22 samples). The codec has no lookahead
//! in the Opus sense, so [`Encoder::lookahead`] stays 0.
//!
//! # Loss
//!
//! G.722 has no concealment of its own (G.722 Appendix III/IV define optional ones). A lost
//! frame is filled by a fading repeat of the last 10 ms decoded. The ADPCM and QMF state is
//! left exactly as the last good frame left it: the next frame decodes from there. The
//! encoder meanwhile moved on, so the two predictors disagree for a while; both leak towards
//! zero (pole coefficients by 2^-7 and 2^-8 per sample, zero coefficients by 2^-8) and both
//! adapt from the same codes again, so the mismatch dies away within tens of milliseconds, as
//! in any G.722 receiver without Appendix III/IV concealment (a unit test checks a tone is
//! back above 20 dB SNR 80 ms after a 60 ms loss).

pub(crate) mod adpcm;
pub(crate) mod qmf;

use crate::conceal::FadingRepeat;
use crate::{DecodeError, Decoder, EncodeError, Encoder, Format};
use adpcm::{HigherBand, LowerBand};
use qmf::{Analysis, BLOCK, Synthesis};

/// Packs one codeword: higher band in bits 7–6, lower band in bits 5–0 (RFC 3551 §4.5.2).
#[inline(always)]
fn pack(low: u8, high: u8) -> u8 {
    (high << 6) | low
}

/// Narrows a receive QMF output to 16 bits: wrapping (spandsp) or saturating (ITU-T).
#[inline(always)]
fn narrow<const WRAP: bool>(x: i32) -> i16 {
    if WRAP {
        x as i16
    } else {
        x.clamp(i16::MIN.into(), i16::MAX.into()) as i16
    }
}

/// A G.722 encoder: 16 kHz PCM in, one byte per two samples out.
#[derive(Debug, Clone)]
pub struct G722Encoder {
    analysis: Analysis,
    low: LowerBand,
    high: HigherBand,
}

impl Default for G722Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Encoder {
    /// A new encoder in the Recommendation's reset state.
    pub fn new() -> Self {
        Self {
            analysis: Analysis::new(),
            low: LowerBand::new(),
            high: HigherBand::new(),
        }
    }

    /// Encodes one block of at most `2 * BLOCK` samples (an even number) into
    /// `out.len() == input.len() / 2` bytes.
    fn encode_block(&mut self, input: &[i16], out: &mut [u8]) {
        let mut xl = [0; BLOCK];
        let mut xh = [0; BLOCK];
        let n = self.analysis.split(input, &mut xl, &mut xh);
        // One band at a time: each ADPCM loop is a recursion over its own state, which then
        // stays in registers.
        let mut low = [0u8; BLOCK];
        for (code, &x) in low.iter_mut().zip(&xl[..n]) {
            *code = self.low.encode(x);
        }
        for ((byte, &x), &low) in out.iter_mut().zip(&xh[..n]).zip(&low) {
            *byte = pack(low, self.high.encode(x));
        }
    }
}

impl Encoder for G722Encoder {
    fn format(&self) -> Format {
        Format::G722
    }

    /// Encodes an even number of samples into half as many bytes.
    fn encode(&mut self, pcm: &[i16], payload: &mut [u8]) -> Result<usize, EncodeError> {
        if pcm.len() % 2 != 0 {
            return Err(EncodeError::InvalidFrameLength { samples: pcm.len() });
        }
        let needed = pcm.len() / 2;
        if payload.len() < needed {
            return Err(EncodeError::OutputTooSmall {
                needed,
                available: payload.len(),
            });
        }
        for (input, out) in pcm.chunks(2 * BLOCK).zip(payload.chunks_mut(BLOCK)) {
            self.encode_block(input, out);
        }
        Ok(needed)
    }

    fn reset(&mut self) {
        *self = Self::new();
    }
}

/// What the decoder does with an output sample that the receive QMF puts outside 16 bits.
///
/// Each band is limited to 15 bits, but the QMF's overshoot can take the sum past full scale
/// (by up to about 10 dB) on loud or clipped input. The ADPCM state never depends on this
/// choice, only the samples written do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputOverflow {
    /// Clamp to the 16-bit range, as the ITU-T reference software does (its receive QMF
    /// saturates). The default: an overshoot becomes a flat top, not a click.
    #[default]
    Saturate,
    /// Keep the low 16 bits, as spandsp 0.0.6 does (it casts to `int16_t`): an overshoot flips
    /// sign, a loud click. Only for bit-exact comparison with spandsp and its descendants.
    Wrap,
}

/// A G.722 decoder: one byte in, two 16 kHz samples out; a fading repeat conceals lost frames.
#[derive(Debug, Clone)]
pub struct G722Decoder {
    synthesis: Synthesis,
    low: LowerBand,
    high: HigherBand,
    conceal: FadingRepeat,
    overflow: OutputOverflow,
}

impl Default for G722Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G722Decoder {
    /// A new decoder in the Recommendation's reset state, saturating its output. Allocates the
    /// concealment history (10 ms); nothing else ever does.
    pub fn new() -> Self {
        Self::with_overflow(OutputOverflow::Saturate)
    }

    /// A new decoder that narrows its output to 16 bits as `overflow` says.
    pub fn with_overflow(overflow: OutputOverflow) -> Self {
        Self {
            synthesis: Synthesis::new(),
            low: LowerBand::new(),
            high: HigherBand::new(),
            conceal: FadingRepeat::new(16_000),
            overflow,
        }
    }

    /// Decodes at most `BLOCK` bytes into `out.len() == 2 * codes.len()` samples, wrapping
    /// overshoots if `WRAP`, else saturating them.
    fn decode_block<const WRAP: bool>(&mut self, codes: &[u8], out: &mut [i16]) {
        // The ADPCM passes are recursive, codeword by codeword, one band at a time so each
        // band's state stays in registers; the QMF pass that follows is not recursive.
        let mut rl = [0; BLOCK];
        let mut rh = [0; BLOCK];
        for (r, &code) in rl.iter_mut().zip(codes) {
            *r = self.low.decode(code);
        }
        for (r, &code) in rh.iter_mut().zip(codes) {
            *r = self.high.decode(code >> 6);
        }
        let n = codes.len().min(BLOCK);
        self.synthesis
            .merge(&rl[..n], &rh[..n], out, narrow::<WRAP>);
    }
}

impl Decoder for G722Decoder {
    fn format(&self) -> Format {
        Format::G722
    }

    /// Decodes every byte of `payload` into two samples. Any byte is a valid codeword.
    fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, DecodeError> {
        let needed = payload.len().saturating_mul(2);
        if pcm.len() < needed {
            return Err(DecodeError::OutputTooSmall {
                needed,
                available: pcm.len(),
            });
        }
        let pcm = &mut pcm[..needed];
        for (codes, out) in payload.chunks(BLOCK).zip(pcm.chunks_mut(2 * BLOCK)) {
            match self.overflow {
                OutputOverflow::Saturate => self.decode_block::<false>(codes, out),
                OutputOverflow::Wrap => self.decode_block::<true>(codes, out),
            }
        }
        self.conceal.remember(pcm);
        Ok(needed)
    }

    /// Fills `pcm` with a fading repeat of the last 10 ms. The ADPCM and QMF state is left
    /// as the last good frame left it (see the module docs, "Loss").
    fn conceal(&mut self, pcm: &mut [i16]) -> usize {
        self.conceal.fill(pcm)
    }

    fn samples_in(&self, payload: &[u8]) -> Result<usize, DecodeError> {
        Ok(payload.len().saturating_mul(2))
    }

    fn reset(&mut self) {
        self.synthesis = Synthesis::new();
        self.low = LowerBand::new();
        self.high = HigherBand::new();
        self.conceal.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A tone at `freq` Hz, 16 kHz, amplitude `amp`.
    fn tone(freq: f64, amp: f64, len: usize) -> Vec<i16> {
        (0..len)
            .map(|n| (amp * (2.0 * std::f64::consts::PI * freq * n as f64 / 16_000.0).sin()) as i16)
            .collect()
    }

    fn round_trip(pcm: &[i16]) -> Vec<i16> {
        let mut enc = G722Encoder::new();
        let mut dec = G722Decoder::new();
        let mut payload = vec![0u8; pcm.len() / 2];
        let mut out = vec![0i16; pcm.len()];
        for (p, (b, o)) in pcm
            .chunks(320)
            .zip(payload.chunks_mut(160).zip(out.chunks_mut(320)))
        {
            let n = enc.encode(p, b).unwrap();
            assert_eq!(dec.decode(&b[..n], o).unwrap(), p.len());
        }
        out
    }

    /// SNR in dB of `out` against `input` delayed by `delay` samples, skipping the start-up.
    fn snr_db(input: &[i16], out: &[i16], delay: usize) -> f64 {
        let (mut signal, mut noise) = (0.0, 0.0);
        for n in 1600..input.len() {
            let x = f64::from(input[n - delay]);
            let e = f64::from(out[n]) - x;
            signal += x * x;
            noise += e * e;
        }
        10.0 * (signal / noise.max(1.0)).log10()
    }

    /// The whole-sample delay that best aligns `out` with `input`.
    fn best_delay(input: &[i16], out: &[i16]) -> usize {
        (0..40)
            .max_by(|&a, &b| snr_db(input, out, a).total_cmp(&snr_db(input, out, b)))
            .unwrap()
    }

    #[test]
    fn tones_round_trip_above_20_db() {
        for freq in [300.0, 1000.0, 3000.0, 5500.0] {
            let input = tone(freq, 12_000.0, 16_000);
            let out = round_trip(&input);
            let delay = best_delay(&input, &out);
            let snr = snr_db(&input, &out, delay);
            assert!(snr > 20.0, "{freq} Hz: {snr:.1} dB at delay {delay}");
        }
    }

    #[test]
    fn end_to_end_delay_is_22_samples() {
        let input = tone(440.0, 8_000.0, 8_000);
        assert_eq!(best_delay(&input, &round_trip(&input)), 22);
    }

    #[test]
    fn silence_stays_near_silence() {
        let out = round_trip(&[0i16; 16_000]);
        assert!(
            out.iter().all(|&s| s.abs() <= 8),
            "max {:?}",
            out.iter().map(|s| s.abs()).max()
        );
    }

    #[test]
    fn call_boundaries_do_not_matter() {
        let input = tone(1234.0, 10_000.0, 4_000);
        let mut whole = G722Encoder::new();
        let mut expected = vec![0u8; 2_000];
        whole.encode(&input, &mut expected).unwrap();
        let mut split = G722Encoder::new();
        let mut got = vec![0u8; 2_000];
        let mut at = 0;
        for size in [2, 18, 160, 162, 320, 1000, 338].iter().cycle() {
            let end = (at + size).min(input.len());
            split
                .encode(&input[at..end], &mut got[at / 2..end / 2])
                .unwrap();
            at = end;
            if at == input.len() {
                break;
            }
        }
        assert_eq!(got, expected);

        let mut whole = G722Decoder::new();
        let mut expected_pcm = vec![0i16; 4_000];
        whole.decode(&expected, &mut expected_pcm).unwrap();
        let mut split = G722Decoder::new();
        let mut got_pcm = vec![0i16; 4_000];
        for (codes, out) in expected.chunks(77).zip(got_pcm.chunks_mut(154)) {
            split.decode(codes, out).unwrap();
        }
        assert_eq!(got_pcm, expected_pcm);
    }

    #[test]
    fn length_errors() {
        let mut enc = G722Encoder::new();
        assert_eq!(
            enc.encode(&[0; 3], &mut [0; 2]),
            Err(EncodeError::InvalidFrameLength { samples: 3 })
        );
        assert_eq!(
            enc.encode(&[0; 320], &mut [0; 159]),
            Err(EncodeError::OutputTooSmall {
                needed: 160,
                available: 159
            })
        );
        assert_eq!(enc.encode(&[], &mut []), Ok(0));
        let mut dec = G722Decoder::new();
        let mut pcm = [7i16; 319];
        assert_eq!(
            dec.decode(&[0; 160], &mut pcm),
            Err(DecodeError::OutputTooSmall {
                needed: 320,
                available: 319
            })
        );
        assert!(pcm.iter().all(|&s| s == 7), "pcm untouched on error");
        assert_eq!(dec.samples_in(&[0; 160]), Ok(320));
    }

    #[test]
    fn reset_forgets_history() {
        let input = tone(700.0, 9_000.0, 640);
        let mut enc = G722Encoder::new();
        let mut first = [0u8; 320];
        enc.encode(&input, &mut first).unwrap();
        enc.reset();
        let mut second = [0u8; 320];
        enc.encode(&input, &mut second).unwrap();
        assert_eq!(first, second);

        let mut dec = G722Decoder::new();
        let mut a = [0i16; 640];
        dec.decode(&first, &mut a).unwrap();
        dec.reset();
        let mut b = [0i16; 640];
        dec.decode(&first, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn conceal_fades_and_decoding_resumes() {
        let input = tone(500.0, 10_000.0, 3_200);
        let mut enc = G722Encoder::new();
        let mut payload = vec![0u8; 1_600];
        enc.encode(&input, &mut payload).unwrap();
        let mut dec = G722Decoder::new();
        let mut pcm = [0i16; 320];
        dec.decode(&payload[..160], &mut pcm).unwrap();
        let state = (dec.low.clone(), dec.high.clone(), dec.synthesis.clone());
        // Three lost frames: 60 ms fades to silence, and the ADPCM state is untouched.
        let mut concealed = [0i16; 960];
        assert_eq!(dec.conceal(&mut concealed), 960);
        assert!(concealed[..160].iter().any(|&s| s.abs() > 1_000));
        assert!(concealed[940..].iter().all(|&s| s.abs() < 300));
        assert_eq!(
            (dec.low.clone(), dec.high.clone(), dec.synthesis.clone()),
            state
        );
        // Decoding resumes and converges on the tone again within a few frames.
        let mut out = vec![0i16; 2_240];
        dec.decode(&payload[480..], &mut out).unwrap();
        let tail = &out[1_280..];
        let reference = &input[960 + 1_280 - 22..960 + 2_240 - 22];
        let noise: f64 = tail
            .iter()
            .zip(reference)
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum();
        let signal: f64 = reference.iter().map(|&b| f64::from(b).powi(2)).sum();
        assert!(10.0 * (signal / noise).log10() > 20.0);
    }

    proptest! {
        #[test]
        fn encode_never_panics(pcm in proptest::collection::vec(any::<i16>(), 0..1200)) {
            let mut enc = G722Encoder::new();
            let mut payload = vec![0u8; 600];
            let result = enc.encode(&pcm, &mut payload);
            if pcm.len() % 2 == 0 {
                prop_assert_eq!(result, Ok(pcm.len() / 2));
            } else {
                prop_assert_eq!(result, Err(EncodeError::InvalidFrameLength { samples: pcm.len() }));
            }
        }

        #[test]
        fn decode_never_panics(payload in proptest::collection::vec(any::<u8>(), 0..600), spare in 0usize..3) {
            let mut dec = G722Decoder::new();
            let mut pcm = vec![0i16; payload.len() * 2 + spare];
            prop_assert_eq!(dec.decode(&payload, &mut pcm), Ok(payload.len() * 2));
            let mut lost = vec![0i16; 160];
            prop_assert_eq!(dec.conceal(&mut lost), 160);
        }
    }
}
