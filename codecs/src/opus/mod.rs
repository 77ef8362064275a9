//! Opus (RFC 6716) through the `opus2` binding, linked to the libopus 1.5 that `libopus_sys`
//! builds from source (`bundled`): about 30% faster to encode than Debian's 1.3.1. The decoder
//! calls libopus directly (`ffi.rs`), since it keeps its state in memory of its own to save and
//! restore it ([`Decoder::checkpoint`]).
//!
//! The PCM interface is mono like every codec here. With `channels = 2` the encoder codes a
//! stereo stream (what `opus/48000/2` peers such as rtpengine send) by duplicating the mono
//! frame into a preallocated interleaved buffer; the decoder is always mono, and libopus
//! downmixes stereo packets for it.
//!
//! Frame sizes: libopus codes 2.5, 5, 10, 20, 40 and 60 ms frames. A 30 ms packet is three
//! 10 ms frames joined by the repacketizer into one code-3 packet (RFC 6716 §3.2.5).

mod ffi;

use opus2::{Application, Bitrate, Channels, Repacketizer};

use crate::{CodecError, CodecId, DecodeError, Decoder, EncodeError, Encoder, Format};

/// Sample rates libopus runs at.
const RATES: &[u32] = &[8000, 12000, 16000, 24000, 48000];
/// The longest packet we encode or decode: 120 ms (RFC 6716 §3.2.5), in 48 kHz samples.
const MAX_PACKET_SAMPLES_48K: usize = 5760;
/// The largest encoded frame (RFC 6716 §3.2.1).
const MAX_FRAME_BYTES: usize = 1275;

/// What libopus should optimise for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpusApplication {
    /// Speech intelligibility (the default for telephony).
    #[default]
    Voip,
    /// Fidelity for music and mixed content.
    Audio,
    /// The lowest delay, no speech-specific modes.
    LowDelay,
}

/// Encoder settings. The defaults serve telephony: mono, complexity 5, variable bitrate at
/// [`default_bitrate`] for the coded rate, in-band FEC tuned for 5% loss, no DTX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    /// Coded channels, 1 or 2 (the PCM interface stays mono).
    pub channels: u8,
    /// 0 (fastest) to 10 (best).
    pub complexity: u8,
    /// Target bitrate in bit/s (6000..=510000), or `None` for [`default_bitrate`].
    pub bitrate_bps: Option<u32>,
    /// Variable bitrate (true) or constant bitrate (false).
    pub vbr: bool,
    /// In-band forward error correction (LBRR), decodable from the next packet.
    pub inband_fec: bool,
    /// The loss rate (0..=100 %) FEC should be tuned for.
    pub expected_loss_pct: u8,
    /// Discontinuous transmission: send almost nothing during silence.
    pub dtx: bool,
    /// What to optimise for.
    pub application: OpusApplication,
}

impl OpusConfig {
    /// Tandem's telephony defaults: mono, complexity 5, VBR at [`default_bitrate`], in-band
    /// FEC for 5% expected loss, no DTX, VoIP application.
    pub const DEFAULT: Self = Self {
        channels: 1,
        complexity: 5,
        bitrate_bps: None,
        vbr: true,
        inband_fec: true,
        expected_loss_pct: 5,
        dtx: false,
        application: OpusApplication::Voip,
    };
}

impl Default for OpusConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Tandem's default bitrate for an encoder running at `sample_rate`: high enough that libopus
/// keeps in-band FEC on at 5% expected loss. (libopus 1.5 turns LBRR off when the bitrate is
/// below about 1.2 times its per-bandwidth threshold of 12/14/16 kbit/s for narrow, medium and
/// wide band, and its own automatic bitrate, about 19 kbit/s at 16 kHz, falls below that.)
pub fn default_bitrate(sample_rate: u32) -> u32 {
    match sample_rate {
        8000 => 20_000,
        12000 => 24_000,
        16000 => 28_000,
        _ => 32_000,
    }
}

fn check_rate(sample_rate: u32) -> Result<(), CodecError> {
    if RATES.contains(&sample_rate) {
        Ok(())
    } else {
        Err(CodecError::UnsupportedSampleRate {
            codec: CodecId::Opus,
            rate: sample_rate,
        })
    }
}

fn range(option: &'static str, value: i64, min: i64, max: i64) -> Result<(), CodecError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(CodecError::OptionOutOfRange {
            codec: CodecId::Opus,
            option,
            value,
            min,
            max,
        })
    }
}

fn library(what: &'static str) -> impl Fn(opus2::Error) -> CodecError {
    move |e| CodecError::Library {
        codec: CodecId::Opus,
        code: e.code() as i32,
        what,
    }
}

/// An Opus encoder.
pub struct OpusEncoder {
    inner: opus2::Encoder,
    repacketizer: Repacketizer,
    sample_rate: u32,
    lookahead: usize,
    dtx: bool,
    /// Interleaved copy of the mono input when coding two channels.
    stereo: Box<[i16]>,
    /// Scratch for the 10 ms frames of a 30 ms packet.
    frames: Box<[[u8; MAX_FRAME_BYTES]; 3]>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder")
            .field("sample_rate", &self.sample_rate)
            .field("stereo", &!self.stereo.is_empty())
            .finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// An encoder at `sample_rate` (8, 12, 16, 24 or 48 kHz) with `config`.
    pub fn new(sample_rate: u32, config: &OpusConfig) -> Result<Self, CodecError> {
        check_rate(sample_rate)?;
        range("channels", config.channels.into(), 1, 2)?;
        range("complexity", config.complexity.into(), 0, 10)?;
        range("expected_loss_pct", config.expected_loss_pct.into(), 0, 100)?;
        if let Some(bps) = config.bitrate_bps {
            range("bitrate", bps.into(), 6000, 510_000)?;
        }
        let channels = if config.channels == 2 {
            Channels::Stereo
        } else {
            Channels::Mono
        };
        let application = match config.application {
            OpusApplication::Voip => Application::Voip,
            OpusApplication::Audio => Application::Audio,
            OpusApplication::LowDelay => Application::LowDelay,
        };
        let mut inner =
            opus2::Encoder::new(sample_rate, channels, application).map_err(library("create"))?;
        inner
            .set_complexity(config.complexity.into())
            .map_err(library("complexity"))?;
        let bitrate = config
            .bitrate_bps
            .unwrap_or_else(|| default_bitrate(sample_rate));
        let bitrate = Bitrate::Bits(bitrate as i32);
        inner.set_bitrate(bitrate).map_err(library("bitrate"))?;
        inner.set_vbr(config.vbr).map_err(library("vbr"))?;
        inner
            .set_inband_fec(config.inband_fec)
            .map_err(library("inband_fec"))?;
        inner
            .set_packet_loss_perc(config.expected_loss_pct.into())
            .map_err(library("packet_loss_perc"))?;
        inner.set_dtx(config.dtx).map_err(library("dtx"))?;
        let lookahead = inner.get_lookahead().map_err(library("lookahead"))? as usize;
        let max_samples = MAX_PACKET_SAMPLES_48K * sample_rate as usize / 48000;
        let stereo_len = if config.channels == 2 {
            max_samples * 2
        } else {
            0
        };
        Ok(Self {
            inner,
            repacketizer: Repacketizer::new().map_err(library("repacketizer"))?,
            sample_rate,
            lookahead,
            dtx: config.dtx,
            stereo: vec![0; stereo_len].into_boxed_slice(),
            frames: Box::new([[0; MAX_FRAME_BYTES]; 3]),
        })
    }
}

/// Codes one libopus frame (2.5 to 60 ms) of mono `pcm`, duplicating it into `stereo` first
/// when the encoder codes two channels.
fn encode_frame(
    inner: &mut opus2::Encoder,
    stereo: &mut [i16],
    pcm: &[i16],
    payload: &mut [u8],
) -> Result<usize, EncodeError> {
    let result = if stereo.is_empty() {
        inner.encode(pcm, payload)
    } else {
        let stereo = &mut stereo[..pcm.len() * 2];
        for (pair, &s) in stereo.chunks_exact_mut(2).zip(pcm) {
            pair[0] = s;
            pair[1] = s;
        }
        inner.encode(stereo, payload)
    };
    result.map_err(|e| EncodeError::Library {
        code: e.code() as i32,
    })
}

impl Encoder for OpusEncoder {
    fn format(&self) -> Format {
        Format::opus(self.sample_rate)
    }

    fn encode(&mut self, pcm: &[i16], payload: &mut [u8]) -> Result<usize, EncodeError> {
        let per_2_5ms = self.sample_rate as usize / 400;
        let units = pcm.len() / per_2_5ms;
        if pcm.len() % per_2_5ms != 0 {
            return Err(EncodeError::InvalidFrameLength { samples: pcm.len() });
        }
        match units {
            // 2.5, 5, 10, 20, 40, 60 ms: one libopus call.
            1 | 2 | 4 | 8 | 16 | 24 => {
                let len = encode_frame(&mut self.inner, &mut self.stereo, pcm, payload)?;
                // libopus: "if the return value is 2 bytes or less, then the packet does not
                // need to be transmitted (DTX)"; our contract says that with 0.
                Ok(if self.dtx && len <= 2 { 0 } else { len })
            }
            // 30 ms: three 10 ms frames in one code-3 packet.
            12 => {
                let tenth = pcm.len() / 3;
                let mut lens = [0usize; 3];
                for ((chunk, frame), len) in pcm
                    .chunks_exact(tenth)
                    .zip(self.frames.iter_mut())
                    .zip(&mut lens)
                {
                    *len = encode_frame(&mut self.inner, &mut self.stereo, chunk, frame)?;
                }
                let [a, b, c] = &*self.frames;
                let parts = [&a[..lens[0]], &b[..lens[1]], &c[..lens[2]]];
                self.repacketizer
                    .combine(&parts, payload)
                    .map_err(|e| EncodeError::Library {
                        code: e.code() as i32,
                    })
            }
            _ => Err(EncodeError::InvalidFrameLength { samples: pcm.len() }),
        }
    }

    fn lookahead(&self) -> usize {
        self.lookahead
    }

    fn reset(&mut self) {
        // Resetting an existing encoder cannot fail for a valid state.
        let _ = self.inner.reset_state();
    }
}

/// An Opus decoder producing mono PCM, with libopus' PLC and in-band FEC recovery, whose
/// concealment can be taken back ([`Decoder::checkpoint`]).
pub struct OpusDecoder {
    inner: ffi::RawDecoder,
    sample_rate: u32,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder producing audio at `sample_rate` (8, 12, 16, 24 or 48 kHz) whatever rate the
    /// sender coded at.
    pub fn new(sample_rate: u32) -> Result<Self, CodecError> {
        check_rate(sample_rate)?;
        let inner = ffi::RawDecoder::new(sample_rate).map_err(|code| CodecError::Library {
            codec: CodecId::Opus,
            code,
            what: "create",
        })?;
        Ok(Self { inner, sample_rate })
    }

    /// Rounds a request down to whole 2.5 ms steps, the unit libopus conceals in.
    fn whole_steps(&self, pcm_len: usize) -> usize {
        let step = self.sample_rate as usize / 400;
        pcm_len / step * step
    }
}

impl Decoder for OpusDecoder {
    fn format(&self) -> Format {
        Format::opus(self.sample_rate)
    }

    fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, DecodeError> {
        if payload.is_empty() {
            // libopus would treat an empty payload as loss; to us it is malformed.
            return Err(DecodeError::Malformed { len: 0 });
        }
        let needed = self.samples_in(payload)?;
        if pcm.len() < needed {
            return Err(DecodeError::OutputTooSmall {
                needed,
                available: pcm.len(),
            });
        }
        self.inner
            .decode(payload, &mut pcm[..needed], false)
            .map_err(|code| DecodeError::Library { code })
    }

    fn conceal(&mut self, pcm: &mut [i16]) -> usize {
        let len = self.whole_steps(pcm.len());
        match self.inner.decode(&[], &mut pcm[..len], false) {
            Ok(n) => n,
            Err(_) => {
                pcm.fill(0);
                pcm.len()
            }
        }
    }

    fn recover_from_next(&mut self, next_payload: &[u8], pcm: &mut [i16]) -> usize {
        let len = self.whole_steps(pcm.len());
        if next_payload.is_empty() {
            return self.conceal(pcm);
        }
        // With fec = true libopus decodes the LBRR data of `next_payload`, which describes the
        // frame before it; without LBRR in the packet it falls back to PLC by itself.
        match self.inner.decode(next_payload, &mut pcm[..len], true) {
            Ok(n) => n,
            Err(_) => self.conceal(pcm),
        }
    }

    fn samples_in(&self, payload: &[u8]) -> Result<usize, DecodeError> {
        let samples = opus2::packet::get_nb_samples(payload, self.sample_rate)
            .map_err(|_| DecodeError::Malformed { len: payload.len() })?;
        if samples > MAX_PACKET_SAMPLES_48K * self.sample_rate as usize / 48000 {
            return Err(DecodeError::Malformed { len: payload.len() });
        }
        Ok(samples)
    }

    fn checkpoint(&mut self) -> bool {
        self.inner.save();
        true
    }

    fn rewind(&mut self) {
        self.inner.restore();
    }

    fn reset(&mut self) {
        self.inner.reset();
    }
}
