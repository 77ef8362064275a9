//! G.711 µ-law and A-law (ITU-T G.711), bit-exact with the Recommendation.
//!
//! Both laws compress a 16-bit linear sample to one byte. The encoders look up a table indexed
//! by the sample's top 14 (µ-law) or 13 (A-law) bits, which is exactly the precision G.711
//! defines, so a table lookup is the whole per-sample cost. The tables are built at compile time
//! from the segment rules of G.711 §1-2 (see [`ulaw`] and [`alaw`]).

pub mod alaw;
pub mod ulaw;

use crate::conceal::FadingRepeat;
use crate::{DecodeError, Decoder, EncodeError, Encoder, Format};

/// Which G.711 law a codec uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    /// µ-law (North America, Japan): RTP payload type 0, "PCMU".
    MuLaw,
    /// A-law (Europe and most of the world): RTP payload type 8, "PCMA".
    ALaw,
}

impl Law {
    fn format(self) -> Format {
        match self {
            Law::MuLaw => Format::PCMU,
            Law::ALaw => Format::PCMA,
        }
    }

    /// Compresses a block of linear samples, one byte per sample.
    #[inline]
    pub fn encode_block(self, pcm: &[i16], out: &mut [u8]) {
        match self {
            Law::MuLaw => {
                for (o, &s) in out.iter_mut().zip(pcm) {
                    *o = ulaw::encode(s);
                }
            }
            Law::ALaw => {
                for (o, &s) in out.iter_mut().zip(pcm) {
                    *o = alaw::encode(s);
                }
            }
        }
    }

    /// Expands a block of codes to linear samples.
    #[inline]
    pub fn decode_block(self, codes: &[u8], pcm: &mut [i16]) {
        let table = match self {
            Law::MuLaw => &ulaw::DECODE,
            Law::ALaw => &alaw::DECODE,
        };
        // A block of one code (digital silence: what muted phones and a conference's silent
        // majority send) is one look-up and a fill; the test for it vectorises, the
        // per-sample look-ups do not.
        if let Some(&first) = codes.first() {
            if codes.iter().fold(0, |diff, &c| diff | (c ^ first)) == 0 {
                let n = codes.len().min(pcm.len());
                pcm[..n].fill(table[first as usize]);
                return;
            }
        }
        for (p, &c) in pcm.iter_mut().zip(codes) {
            *p = table[c as usize];
        }
    }
}

/// A G.711 encoder. Stateless: any number of samples per call.
#[derive(Debug, Clone)]
pub struct G711Encoder {
    law: Law,
}

impl G711Encoder {
    /// An encoder for `law`.
    pub fn new(law: Law) -> Self {
        Self { law }
    }
}

impl Encoder for G711Encoder {
    fn format(&self) -> Format {
        self.law.format()
    }

    fn encode(&mut self, pcm: &[i16], payload: &mut [u8]) -> Result<usize, EncodeError> {
        if payload.len() < pcm.len() {
            return Err(EncodeError::OutputTooSmall {
                needed: pcm.len(),
                available: payload.len(),
            });
        }
        self.law.encode_block(pcm, payload);
        Ok(pcm.len())
    }

    fn reset(&mut self) {}
}

/// A G.711 decoder with a fading-repeat concealment of lost frames.
#[derive(Debug, Clone)]
pub struct G711Decoder {
    law: Law,
    conceal: FadingRepeat,
}

impl G711Decoder {
    /// A decoder for `law`.
    pub fn new(law: Law) -> Self {
        Self {
            law,
            conceal: FadingRepeat::new(8000),
        }
    }
}

impl Decoder for G711Decoder {
    fn format(&self) -> Format {
        self.law.format()
    }

    fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, DecodeError> {
        if pcm.len() < payload.len() {
            return Err(DecodeError::OutputTooSmall {
                needed: payload.len(),
                available: pcm.len(),
            });
        }
        let out = &mut pcm[..payload.len()];
        self.law.decode_block(payload, out);
        self.conceal.remember(out);
        Ok(payload.len())
    }

    fn conceal(&mut self, pcm: &mut [i16]) -> usize {
        self.conceal.fill(pcm)
    }

    fn samples_in(&self, payload: &[u8]) -> Result<usize, DecodeError> {
        Ok(payload.len())
    }

    fn reset(&mut self) {
        self.conceal.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_decode_as_their_codes_one_by_one() {
        let mixed: Vec<u8> = (0..=255).collect();
        let mut blocks = vec![mixed];
        for code in [0xFF, 0x7F, 0xD5, 0x55, 0x00] {
            blocks.push(vec![code; 160]); // one code throughout: the fill path
            let mut almost = vec![code; 160];
            almost[159] ^= 1; // one code differs at the end: the look-up path
            blocks.push(almost);
        }
        for (law, one) in [
            (Law::MuLaw, ulaw::decode as fn(u8) -> i16),
            (Law::ALaw, alaw::decode),
        ] {
            for codes in &blocks {
                let mut pcm = vec![0i16; codes.len()];
                law.decode_block(codes, &mut pcm);
                let expected: Vec<i16> = codes.iter().map(|&c| one(c)).collect();
                assert_eq!(pcm, expected, "{law:?}");
            }
        }
    }
}
