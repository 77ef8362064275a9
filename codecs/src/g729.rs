//! G.729 Annex A with Annex B silence compression, through `g729-sys` (a pure-Rust port of
//! bcg729, bit-exact with it). Behind the non-default `g729` cargo feature: bcg729 is GPL-3
//! and g729-sys, though MIT-licensed itself, descends from it; see the README's licence note.
//!
//! Payload layout (RFC 3551 §4.5.6): a packet holds whole 10 ms frames of 10 bytes, optionally
//! ending with one 2-byte Annex B SID frame. With Annex B on, a frame can also be "not
//! transmitted" (DTX); such frames are left out of the packet.

use g729_sys::{FRAME_SAMPLES, VOICE_FRAME_BYTES};

use crate::conceal::FadingRepeat;
use crate::{DecodeError, Decoder, EncodeError, Encoder, Format};

/// Bytes of an Annex B SID frame.
const SID_FRAME_BYTES: usize = 2;

/// A G.729A encoder, with Annex B VAD/DTX when asked.
pub struct G729Encoder {
    inner: g729_sys::Encoder,
    annex_b: bool,
}

impl std::fmt::Debug for G729Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G729Encoder")
            .field("annex_b", &self.annex_b)
            .finish_non_exhaustive()
    }
}

impl G729Encoder {
    /// An encoder; `annex_b` turns on voice activity detection and silence compression.
    pub fn new(annex_b: bool) -> Self {
        Self {
            inner: g729_sys::Encoder::new(annex_b),
            annex_b,
        }
    }
}

impl Encoder for G729Encoder {
    fn format(&self) -> Format {
        Format::G729
    }

    fn encode(&mut self, pcm: &[i16], payload: &mut [u8]) -> Result<usize, EncodeError> {
        if pcm.is_empty() || pcm.len() % FRAME_SAMPLES != 0 {
            return Err(EncodeError::InvalidFrameLength { samples: pcm.len() });
        }
        let needed = pcm.len() / FRAME_SAMPLES * VOICE_FRAME_BYTES;
        if payload.len() < needed {
            return Err(EncodeError::OutputTooSmall {
                needed,
                available: payload.len(),
            });
        }
        let mut written = 0;
        let mut ends_with_sid = false;
        let mut frame_bytes = [0u8; VOICE_FRAME_BYTES];
        for chunk in pcm.chunks_exact(FRAME_SAMPLES) {
            let frame: &[i16; FRAME_SAMPLES] = chunk.try_into().expect("chunks_exact");
            let len = self.inner.encode_into(frame, &mut frame_bytes) as usize;
            if len == 0 {
                continue; // Not transmitted (DTX).
            }
            // A SID frame may only end a packet (RFC 3551 §4.5.6): a later frame replaces it.
            if ends_with_sid {
                written -= SID_FRAME_BYTES;
            }
            payload[written..written + len].copy_from_slice(&frame_bytes[..len]);
            written += len;
            ends_with_sid = len == SID_FRAME_BYTES;
        }
        Ok(written)
    }

    fn reset(&mut self) {
        self.inner = g729_sys::Encoder::new(self.annex_b);
    }
}

/// A G.729 decoder (Annex A and B payloads), with the codec's own frame-erasure concealment.
pub struct G729Decoder {
    inner: g729_sys::Decoder,
    /// Fallback history, used only when a lost stretch is not a whole number of frames.
    tail: FadingRepeat,
}

impl std::fmt::Debug for G729Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("G729Decoder").finish_non_exhaustive()
    }
}

impl Default for G729Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl G729Decoder {
    /// A decoder in its initial state.
    pub fn new() -> Self {
        Self {
            inner: g729_sys::Decoder::new(),
            tail: FadingRepeat::new(8000),
        }
    }
}

impl Decoder for G729Decoder {
    fn format(&self) -> Format {
        Format::G729
    }

    fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, DecodeError> {
        let needed = self.samples_in(payload)?;
        if pcm.len() < needed {
            return Err(DecodeError::OutputTooSmall {
                needed,
                available: pcm.len(),
            });
        }
        let voice = payload.len() / VOICE_FRAME_BYTES;
        let mut out = pcm.chunks_exact_mut(FRAME_SAMPLES);
        for frame in payload[..voice * VOICE_FRAME_BYTES].chunks_exact(VOICE_FRAME_BYTES) {
            let decoded = self.inner.decode(frame, false, false, false);
            out.next().expect("sized above").copy_from_slice(&decoded);
        }
        let sid = &payload[voice * VOICE_FRAME_BYTES..];
        if !sid.is_empty() {
            let decoded = self.inner.decode(sid, false, true, false);
            out.next().expect("sized above").copy_from_slice(&decoded);
        }
        self.tail.remember(&pcm[..needed]);
        Ok(needed)
    }

    fn conceal(&mut self, pcm: &mut [i16]) -> usize {
        let whole = pcm.len() / FRAME_SAMPLES * FRAME_SAMPLES;
        for frame in pcm[..whole].chunks_exact_mut(FRAME_SAMPLES) {
            frame.copy_from_slice(&self.inner.decode(&[], true, false, false));
        }
        self.tail.remember(&pcm[..whole]);
        self.tail.fill(&mut pcm[whole..]);
        pcm.len()
    }

    fn samples_in(&self, payload: &[u8]) -> Result<usize, DecodeError> {
        let voice = payload.len() / VOICE_FRAME_BYTES;
        match payload.len() % VOICE_FRAME_BYTES {
            0 if voice > 0 => Ok(voice * FRAME_SAMPLES),
            SID_FRAME_BYTES => Ok((voice + 1) * FRAME_SAMPLES),
            _ => Err(DecodeError::Malformed { len: payload.len() }),
        }
    }

    fn reset(&mut self) {
        self.inner = g729_sys::Decoder::new();
        self.tail.reset();
    }
}
