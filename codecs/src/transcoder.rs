//! The transcoder: payloads of one format at one packet time in, payloads of another format
//! at another packet time out, with concealment carried across gaps.
//!
//! It is built from a [`Plan`] as two halves that are useful on their own (the file converter
//! uses them directly):
//! - [`DecodePath`]: payload → PCM at the plan's meeting rate (decoder, then resampler if the
//!   decoder cannot produce that rate itself);
//! - [`EncodePath`]: PCM → payloads of a fixed packet time (a PCM FIFO, then the encoder).
//!
//! Same-codec paths of sample-based codecs skip both and regroup bytes (repacketize).
//!
//! Every buffer is sized at construction for packets of up to [`MAX_PACKET_MS`]; after that
//! `push*`, `pop` and `flush` allocate nothing.

use crate::plan::{self, Plan};
use crate::registry::{self, EncoderConfig};
use crate::resample::Resampler;
use crate::{CodecError, CodecId, DecodeError, Decoder, EncodeError, Encoder, Format};

/// The longest packet the transcoder accepts: 120 ms, Opus' maximum (RFC 6716 §3.2.5).
pub const MAX_PACKET_MS: u32 = 120;

/// Samples in `ms` milliseconds at `rate` Hz.
fn samples(rate: u32, ms: u32) -> usize {
    (rate as usize * ms as usize) / 1000
}

/// Payload → PCM at a chosen rate: a decoder and, when needed, a resampler.
pub struct DecodePath {
    decoder: Box<dyn Decoder>,
    resampler: Option<Resampler>,
    /// Decoder output before resampling; empty when there is no resampler.
    decoded: Box<[i16]>,
    pcm_rate: u32,
}

impl std::fmt::Debug for DecodePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodePath")
            .field("from", &self.decoder.format())
            .field("pcm_rate", &self.pcm_rate)
            .field("resampler", &self.resampler.is_some())
            .finish()
    }
}

impl DecodePath {
    /// A path that decodes `from` and produces PCM at `pcm_rate`, picking the decoder rate
    /// that needs no resampler when there is one (Opus decodes at any of its rates).
    pub fn new(from: Format, pcm_rate: u32) -> Result<Self, CodecError> {
        let decode_rate = if plan::decode_rates(from).any(|r| r == pcm_rate) {
            pcm_rate
        } else {
            from.sample_rate
        };
        let decoder_format = match from.codec {
            CodecId::Opus => Format::opus(decode_rate),
            _ => from,
        };
        let decoder = registry::new_decoder(decoder_format)?;
        let (resampler, decoded) = if decode_rate == pcm_rate {
            (None, Vec::new())
        } else {
            let resampler = Resampler::new(decode_rate, pcm_rate)?;
            (
                Some(resampler),
                vec![0; samples(decode_rate, MAX_PACKET_MS)],
            )
        };
        Ok(Self {
            decoder,
            resampler,
            decoded: decoded.into_boxed_slice(),
            pcm_rate,
        })
    }

    /// The rate of the PCM this path produces.
    pub fn pcm_rate(&self) -> u32 {
        self.pcm_rate
    }

    /// The largest number of samples one call writes: the `pcm` length callers provide.
    pub fn output_max(&self) -> usize {
        samples(self.pcm_rate, MAX_PACKET_MS) + 16
    }

    /// Delay the path adds, in output samples (the resampler's; decoders add none here).
    pub fn delay(&self) -> usize {
        self.resampler.as_ref().map_or(0, Resampler::delay)
    }

    /// Decodes one payload into `pcm` and returns the samples written.
    pub fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, DecodeError> {
        match &mut self.resampler {
            None => self.decoder.decode(payload, pcm),
            Some(resampler) => {
                let n = self.decoder.decode(payload, &mut self.decoded)?;
                let needed = resampler.output_len(n);
                if pcm.len() < needed {
                    return Err(DecodeError::OutputTooSmall {
                        needed,
                        available: pcm.len(),
                    });
                }
                Ok(resampler.process(&self.decoded[..n], pcm))
            }
        }
    }

    /// Conceals `ms` milliseconds of lost audio into `pcm`; returns the samples written.
    pub fn conceal(&mut self, ms: u32, pcm: &mut [i16]) -> usize {
        self.fill_lost(ms, None, pcm)
    }

    /// Recovers `ms` lost milliseconds from the FEC data of `next_payload` where the codec
    /// carries any (Opus), concealing otherwise; returns the samples written.
    pub fn recover_from_next(&mut self, ms: u32, next_payload: &[u8], pcm: &mut [i16]) -> usize {
        self.fill_lost(ms, Some(next_payload), pcm)
    }

    fn fill_lost(&mut self, ms: u32, next: Option<&[u8]>, pcm: &mut [i16]) -> usize {
        let ms = ms.min(MAX_PACKET_MS);
        let decode_rate = self.decoder.format().sample_rate;
        let lost = samples(decode_rate, ms);
        let target: &mut [i16] = match self.resampler {
            None => {
                let n = lost.min(pcm.len());
                &mut pcm[..n]
            }
            Some(_) => &mut self.decoded[..lost],
        };
        let n = match next {
            Some(next) => self.decoder.recover_from_next(next, target),
            None => self.decoder.conceal(target),
        };
        match &mut self.resampler {
            None => n,
            Some(resampler) => {
                let n = n.min(pcm.len() * decode_rate as usize / self.pcm_rate as usize);
                resampler.process(&self.decoded[..n], pcm)
            }
        }
    }

    /// Forgets all history.
    pub fn reset(&mut self) {
        self.decoder.reset();
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
    }
}

/// PCM → payloads of a fixed packet time: a FIFO and an encoder.
pub struct EncodePath {
    encoder: Box<dyn Encoder>,
    fifo: Box<[i16]>,
    /// Samples waiting in `fifo`, from its start.
    buffered: usize,
    frame: usize,
    max_payload: usize,
}

impl std::fmt::Debug for EncodePath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodePath")
            .field("to", &self.encoder.format())
            .field("frame", &self.frame)
            .field("buffered", &self.buffered)
            .finish()
    }
}

/// The PCM FIFO of an [`EncodePath`] has no room for more samples: the caller pushed more
/// than one packet's worth without popping. A bug in the caller; the samples are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("PCM FIFO full: {pushed} samples pushed, room for {room}")]
pub struct FifoFull {
    /// Samples the caller tried to push.
    pub pushed: usize,
    /// Samples there was room for.
    pub room: usize,
}

impl EncodePath {
    /// A path that encodes PCM at `pcm_rate` into packets of `to` lasting `ptime_ms`.
    ///
    /// `pcm_rate` must be a rate the encoder consumes: the format's own, or for Opus any of
    /// its rates up to the format's (the stream is then coded at that bandwidth).
    pub fn new(
        to: Format,
        pcm_rate: u32,
        ptime_ms: u32,
        config: &EncoderConfig,
    ) -> Result<Self, CodecError> {
        if !plan::encode_rates(to).any(|r| r == pcm_rate) {
            return Err(CodecError::UnsupportedSampleRate {
                codec: to.codec,
                rate: pcm_rate,
            });
        }
        if !to.descriptor().supports_ptime(ptime_ms) {
            return Err(CodecError::UnsupportedPtime {
                codec: to.codec,
                ptime_ms,
            });
        }
        let encoder_format = match to.codec {
            CodecId::Opus => Format::opus(pcm_rate),
            _ => to,
        };
        let encoder = registry::new_encoder(encoder_format, config)?;
        let frame = samples(pcm_rate, ptime_ms);
        let fifo = vec![0; frame + samples(pcm_rate, MAX_PACKET_MS) + 16].into_boxed_slice();
        let max_payload = to.descriptor().max_payload_len(pcm_rate, ptime_ms);
        Ok(Self {
            encoder,
            fifo,
            buffered: 0,
            frame,
            max_payload,
        })
    }

    /// The PCM rate this path consumes.
    pub fn pcm_rate(&self) -> u32 {
        self.encoder.format().sample_rate
    }

    /// Samples in one output packet.
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// The payload buffer size callers of `pop_packet` and `flush` provide.
    pub fn max_payload_len(&self) -> usize {
        self.max_payload
    }

    /// The encoder's algorithmic delay in samples at [`Self::pcm_rate`].
    pub fn lookahead(&self) -> usize {
        self.encoder.lookahead()
    }

    /// Samples waiting for a full packet.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Appends PCM; at most one maximal packet's worth may wait unpopped.
    pub fn push_pcm(&mut self, pcm: &[i16]) -> Result<(), FifoFull> {
        let room = self.fifo.len() - self.buffered;
        if pcm.len() > room {
            return Err(FifoFull {
                pushed: pcm.len(),
                room,
            });
        }
        self.fifo[self.buffered..self.buffered + pcm.len()].copy_from_slice(pcm);
        self.buffered += pcm.len();
        Ok(())
    }

    /// Encodes one packet if a full packet's worth of PCM is buffered.
    pub fn pop_packet(&mut self, payload: &mut [u8]) -> Result<Option<usize>, EncodeError> {
        if self.buffered < self.frame {
            return Ok(None);
        }
        let result = self.encoder.encode(&self.fifo[..self.frame], payload);
        self.fifo.copy_within(self.frame..self.buffered, 0);
        self.buffered -= self.frame;
        result.map(Some)
    }

    /// Pads what is buffered with silence to a whole packet and encodes it, if anything is
    /// buffered: the end of a stream.
    pub fn flush(&mut self, payload: &mut [u8]) -> Result<Option<usize>, EncodeError> {
        if self.buffered == 0 {
            return Ok(None);
        }
        self.fifo[self.buffered..self.frame.max(self.buffered)].fill(0);
        self.buffered = self.frame.max(self.buffered);
        self.pop_packet(payload)
    }

    /// Forgets buffered PCM and encoder history.
    pub fn reset(&mut self) {
        self.buffered = 0;
        self.encoder.reset();
    }
}

/// What a [`Transcoder`] converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TranscoderConfig {
    /// The incoming format.
    pub from: Format,
    /// The packet time of incoming payloads when nothing says otherwise: the length
    /// [`Transcoder::push_lost`] conceals.
    pub from_ptime_ms: u32,
    /// The outgoing format.
    pub to: Format,
    /// The packet time of outgoing payloads.
    pub to_ptime_ms: u32,
    /// Settings of the outgoing encoder.
    pub encoder: EncoderConfig,
}

/// Turns payloads of format A at packet time p into payloads of format B at packet time q.
///
/// Push every received payload (or a loss) in order, then pop packets until `pop` returns
/// `None`. Lost packets are concealed by the incoming codec's PLC (or recovered from the next
/// packet's FEC), so the outgoing stream has no gap.
pub struct Transcoder {
    plan: Plan,
    decode: DecodePath,
    /// Decoded PCM between the halves.
    pcm: Box<[i16]>,
    from_ptime_ms: u32,
    output: Output,
}

/// Where decoded audio goes.
enum Output {
    /// Decoded PCM is re-encoded.
    Encode(EncodePath),
    /// Payload bytes are regrouped; the decoder only runs to keep concealment ready, and a
    /// concealed gap is encoded back into bytes of the same codec.
    Repacketize {
        fifo: ByteFifo,
        encoder: Box<dyn Encoder>,
    },
}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoder")
            .field("plan", &self.plan.to_string())
            .finish_non_exhaustive()
    }
}

/// Payload bytes of a sample-based codec, regrouped into packets of a fixed byte length.
struct ByteFifo {
    bytes: Box<[u8]>,
    buffered: usize,
    packet: usize,
}

impl ByteFifo {
    /// Room left at the end.
    fn spare(&mut self) -> &mut [u8] {
        &mut self.bytes[self.buffered..]
    }
}

impl Transcoder {
    /// Plans the cheapest path and builds it.
    pub fn new(config: &TranscoderConfig) -> Result<Self, CodecError> {
        let plan = plan::plan(config.from, config.to)?;
        for (format, ptime_ms) in [
            (config.from, config.from_ptime_ms),
            (config.to, config.to_ptime_ms),
        ] {
            if !format.descriptor().supports_ptime(ptime_ms) {
                return Err(CodecError::UnsupportedPtime {
                    codec: format.codec,
                    ptime_ms,
                });
            }
        }
        let output = match plan.pcm_rate() {
            Some(pcm_rate) => Output::Encode(EncodePath::new(
                config.to,
                pcm_rate,
                config.to_ptime_ms,
                &config.encoder,
            )?),
            None => {
                let to = config.to;
                let packet = to
                    .descriptor()
                    .max_payload_len(to.sample_rate, config.to_ptime_ms);
                let max_in = to
                    .descriptor()
                    .max_payload_len(to.sample_rate, MAX_PACKET_MS);
                let fifo = ByteFifo {
                    bytes: vec![0; packet + max_in].into_boxed_slice(),
                    buffered: 0,
                    packet,
                };
                Output::Repacketize {
                    fifo,
                    encoder: registry::new_encoder(to, &config.encoder)?,
                }
            }
        };
        let pcm_rate = plan.pcm_rate().unwrap_or(config.from.sample_rate);
        let decode = DecodePath::new(config.from, pcm_rate)?;
        let pcm = vec![0; decode.output_max()].into_boxed_slice();
        Ok(Self {
            plan,
            decode,
            pcm,
            from_ptime_ms: config.from_ptime_ms,
            output,
        })
    }

    /// The path this transcoder runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The payload buffer size callers of `pop` provide.
    pub fn max_payload_len(&self) -> usize {
        match &self.output {
            Output::Encode(encode) => encode.max_payload_len(),
            Output::Repacketize { fifo, .. } => fifo.packet,
        }
    }

    /// Takes one received payload. On error the payload is dropped; push a loss for it if
    /// the gap should be concealed.
    pub fn push(&mut self, payload: &[u8]) -> Result<(), DecodeError> {
        let n = self.decode.decode(payload, &mut self.pcm)?;
        match &mut self.output {
            Output::Encode(encode) => {
                encode
                    .push_pcm(&self.pcm[..n])
                    .map_err(|full| DecodeError::OutputTooSmall {
                        needed: n,
                        available: full.room,
                    })
            }
            Output::Repacketize { fifo, .. } => {
                let spare = fifo.spare();
                if payload.len() > spare.len() {
                    return Err(DecodeError::OutputTooSmall {
                        needed: payload.len(),
                        available: spare.len(),
                    });
                }
                spare[..payload.len()].copy_from_slice(payload);
                fifo.buffered += payload.len();
                Ok(())
            }
        }
    }

    /// Conceals one lost incoming packet of the configured incoming packet time.
    pub fn push_lost(&mut self) {
        let n = self.decode.conceal(self.from_ptime_ms, &mut self.pcm);
        self.push_concealed(n);
    }

    /// Conceals `ms` lost milliseconds, recovering them from `next_payload`'s forward error
    /// correction when the codec carries any (Opus in-band FEC). Push `next_payload` itself
    /// afterwards as usual.
    pub fn push_lost_before(&mut self, ms: u32, next_payload: &[u8]) {
        let n = self
            .decode
            .recover_from_next(ms, next_payload, &mut self.pcm);
        self.push_concealed(n);
    }

    fn push_concealed(&mut self, n: usize) {
        let pcm = &self.pcm[..n];
        // A concealment that does not fit is dropped: the caller pushed losses without
        // popping, and the stream is already broken there.
        match &mut self.output {
            Output::Encode(encode) => {
                let _ = encode.push_pcm(pcm);
            }
            Output::Repacketize { fifo, encoder } => {
                // Sample-based codecs encode any number of samples in one call.
                if let Ok(len) = encoder.encode(pcm, fifo.spare()) {
                    fifo.buffered += len;
                }
            }
        }
    }

    /// Produces the next outgoing payload into `payload` if a whole packet is ready.
    pub fn pop(&mut self, payload: &mut [u8]) -> Result<Option<usize>, EncodeError> {
        match &mut self.output {
            Output::Encode(encode) => encode.pop_packet(payload),
            Output::Repacketize { fifo, .. } => {
                let packet = fifo.packet;
                if fifo.buffered < packet {
                    return Ok(None);
                }
                if payload.len() < packet {
                    return Err(EncodeError::OutputTooSmall {
                        needed: packet,
                        available: payload.len(),
                    });
                }
                payload[..packet].copy_from_slice(&fifo.bytes[..packet]);
                fifo.bytes.copy_within(packet..fifo.buffered, 0);
                fifo.buffered -= packet;
                Ok(Some(packet))
            }
        }
    }

    /// Forgets everything buffered and all codec history.
    pub fn reset(&mut self) {
        self.decode.reset();
        match &mut self.output {
            Output::Encode(encode) => encode.reset(),
            Output::Repacketize { fifo, encoder } => {
                fifo.buffered = 0;
                encoder.reset();
            }
        }
    }
}
