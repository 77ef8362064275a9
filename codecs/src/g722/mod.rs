//! G.722 at 64 kbit/s (ITU-T G.722). Being written: see the helper brief.

use crate::{DecodeError, Decoder, EncodeError, Encoder, Format};

/// G.722 encoder (16 kHz PCM in, 4 bits per sample out).
#[derive(Debug, Clone, Default)]
pub struct G722Encoder {}

impl G722Encoder {
    /// A new encoder in its reset state.
    pub fn new() -> Self {
        Self {}
    }
}

impl Encoder for G722Encoder {
    fn format(&self) -> Format {
        Format::G722
    }
    fn encode(&mut self, pcm: &[i16], _payload: &mut [u8]) -> Result<usize, EncodeError> {
        Err(EncodeError::InvalidFrameLength { samples: pcm.len() })
    }
    fn reset(&mut self) {}
}

/// G.722 decoder.
#[derive(Debug, Clone, Default)]
pub struct G722Decoder {}

impl G722Decoder {
    /// A new decoder in its reset state.
    pub fn new() -> Self {
        Self {}
    }
}

impl Decoder for G722Decoder {
    fn format(&self) -> Format {
        Format::G722
    }
    fn decode(&mut self, payload: &[u8], _pcm: &mut [i16]) -> Result<usize, DecodeError> {
        Err(DecodeError::Malformed { len: payload.len() })
    }
    fn conceal(&mut self, pcm: &mut [i16]) -> usize {
        pcm.fill(0);
        pcm.len()
    }
    fn samples_in(&self, payload: &[u8]) -> Result<usize, DecodeError> {
        Ok(payload.len() * 2)
    }
    fn reset(&mut self) {}
}
