//! The codec registry: an explicit list of descriptors, lookups by name and payload type, and
//! the constructors that build encoders and decoders (the only place that allocates them).

use crate::g711::{G711Decoder, G711Encoder, Law};
use crate::g722::{G722Decoder, G722Encoder};
use crate::l16::{L16Decoder, L16Encoder};
use crate::opus::{OpusConfig, OpusDecoder, OpusEncoder};
use crate::{
    CodecDescriptor, CodecError, CodecId, Decoder, Encoder, Format, G722, G729, L16, OPUS, PCMA,
    PCMU,
};

/// Every codec Tandem knows, in the order offers prefer them when nothing else decides.
pub const ALL: &[&CodecDescriptor] = &[&OPUS, &G722, &PCMU, &PCMA, &G729, &L16];

/// Other spellings people use for the codecs, mapped to the RTP encoding name.
const ALIASES: &[(&str, CodecId)] = &[
    ("ulaw", CodecId::Pcmu),
    ("mulaw", CodecId::Pcmu),
    ("g711u", CodecId::Pcmu),
    ("alaw", CodecId::Pcma),
    ("g711a", CodecId::Pcma),
    ("slin", CodecId::L16),
    ("g729a", CodecId::G729),
];

/// Looks a codec up by its RTP encoding name or a common alias, ignoring case.
pub fn by_name(name: &str) -> Option<&'static CodecDescriptor> {
    ALL.iter()
        .copied()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .or_else(|| {
            ALIASES
                .iter()
                .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
                .map(|(_, id)| id.descriptor())
        })
}

/// Looks a codec up by its static RTP payload type (RFC 3551 Table 4).
pub fn by_static_payload_type(payload_type: u8) -> Option<&'static CodecDescriptor> {
    ALL.iter()
        .copied()
        .find(|d| d.static_payload_type == Some(payload_type))
}

/// True if this build can encode and decode `codec`.
pub fn is_built(codec: CodecId) -> bool {
    // G.729 needs the `g729` feature (bcg729); every other codec is always built.
    codec != CodecId::G729 || cfg!(feature = "g729")
}

/// Codecs this build can encode and decode.
pub fn built() -> impl Iterator<Item = &'static CodecDescriptor> {
    ALL.iter().copied().filter(|d| is_built(d.id))
}

/// Settings for encoders that have any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Opus settings.
    pub opus: OpusConfig,
    /// G.729 Annex B (voice activity detection, SID frames, DTX); SDP's `annexb=yes`, the
    /// default of RFC 4856 §2.1.9.
    pub g729_annex_b: bool,
}

impl EncoderConfig {
    /// Every encoder on its defaults ([`OpusConfig::DEFAULT`], G.729 Annex B on).
    pub const DEFAULT: Self = Self {
        opus: OpusConfig::DEFAULT,
        g729_annex_b: true,
    };
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

fn check(format: Format) -> Result<(), CodecError> {
    let descriptor = format.descriptor();
    if !is_built(format.codec) {
        return Err(CodecError::NotBuilt {
            codec: format.codec,
            feature: descriptor.feature.unwrap_or("default"),
        });
    }
    // Opus runs at 12 kHz too, which the descriptor does not advertise for negotiation.
    if format.codec != CodecId::Opus && !descriptor.supports_sample_rate(format.sample_rate) {
        return Err(CodecError::UnsupportedSampleRate {
            codec: format.codec,
            rate: format.sample_rate,
        });
    }
    Ok(())
}

/// Builds an encoder for `format`.
pub fn new_encoder(format: Format, config: &EncoderConfig) -> Result<Box<dyn Encoder>, CodecError> {
    check(format)?;
    Ok(match format.codec {
        CodecId::Pcmu => Box::new(G711Encoder::new(Law::MuLaw)),
        CodecId::Pcma => Box::new(G711Encoder::new(Law::ALaw)),
        CodecId::L16 => Box::new(L16Encoder::new(format.sample_rate)?),
        CodecId::G722 => Box::new(G722Encoder::new()),
        CodecId::Opus => Box::new(OpusEncoder::new(format.sample_rate, &config.opus)?),
        #[cfg(feature = "g729")]
        CodecId::G729 => Box::new(crate::g729::G729Encoder::new(config.g729_annex_b)),
        #[cfg(not(feature = "g729"))]
        CodecId::G729 => unreachable!("check() rejects codecs that are not built"),
    })
}

/// Builds a decoder for `format`.
pub fn new_decoder(format: Format) -> Result<Box<dyn Decoder>, CodecError> {
    check(format)?;
    Ok(match format.codec {
        CodecId::Pcmu => Box::new(G711Decoder::new(Law::MuLaw)),
        CodecId::Pcma => Box::new(G711Decoder::new(Law::ALaw)),
        CodecId::L16 => Box::new(L16Decoder::new(format.sample_rate)?),
        CodecId::G722 => Box::new(G722Decoder::new()),
        CodecId::Opus => Box::new(OpusDecoder::new(format.sample_rate)?),
        #[cfg(feature = "g729")]
        CodecId::G729 => Box::new(crate::g729::G729Decoder::new()),
        #[cfg(not(feature = "g729"))]
        CodecId::G729 => unreachable!("check() rejects codecs that are not built"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RtpClock;

    #[test]
    fn finds_codecs_by_name_and_alias_ignoring_case() {
        assert_eq!(by_name("pcmu").map(|d| d.id), Some(CodecId::Pcmu));
        assert_eq!(by_name("OPUS").map(|d| d.id), Some(CodecId::Opus));
        assert_eq!(by_name("alaw").map(|d| d.id), Some(CodecId::Pcma));
        assert!(by_name("speex").is_none());
    }

    /// RFC 3551 Table 4: PCMU 0, PCMA 8, G722 9, G729 18.
    #[test]
    fn static_payload_types_follow_rfc3551() {
        assert_eq!(by_static_payload_type(0).map(|d| d.id), Some(CodecId::Pcmu));
        assert_eq!(by_static_payload_type(8).map(|d| d.id), Some(CodecId::Pcma));
        assert_eq!(by_static_payload_type(9).map(|d| d.id), Some(CodecId::G722));
        assert_eq!(
            by_static_payload_type(18).map(|d| d.id),
            Some(CodecId::G729)
        );
        assert!(by_static_payload_type(96).is_none());
    }

    /// RFC 3551 §4.5.2: G.722 samples at 16 kHz but its RTP clock rate is 8000 Hz.
    #[test]
    fn g722_rtp_clock_is_8000_hz() {
        assert_eq!(G722.default_sample_rate(), 16000);
        assert_eq!(G722.rtp_clock, RtpClock::Fixed(8000));
        assert_eq!(G722.rtp_clock_rate(16000), 8000);
    }

    /// RFC 7587 §4.1: the Opus RTP clock is 48 kHz whatever the coded bandwidth.
    #[test]
    fn opus_rtp_clock_is_always_48_khz() {
        for &rate in OPUS.sample_rates {
            assert_eq!(OPUS.rtp_clock_rate(rate), 48000);
        }
    }

    #[test]
    fn every_built_codec_constructs_at_every_rate() {
        for d in built() {
            for &rate in d.sample_rates {
                let format = Format {
                    codec: d.id,
                    sample_rate: rate,
                };
                let enc = new_encoder(format, &EncoderConfig::default()).unwrap();
                let dec = new_decoder(format).unwrap();
                assert_eq!(enc.format(), format);
                assert_eq!(dec.format(), format);
            }
        }
        assert!(new_encoder(Format::l16(11025), &EncoderConfig::default()).is_err());
    }

    #[test]
    fn l16_and_pcm_sizes_are_published() {
        assert_eq!(L16.max_payload_len(16000, 20), 640);
        assert_eq!(PCMU.max_payload_len(8000, 20), 160);
        assert_eq!(PCMA.max_payload_len(8000, 60), 480);
        assert_eq!(G722.max_payload_len(16000, 20), 160);
        assert!(G729.max_payload_len(8000, 20) >= 20);
    }
}
