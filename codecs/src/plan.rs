//! Transcoding paths: the cheapest chain of steps from one [`Format`] to another.
//!
//! The graph has a node per encoded format and per linear PCM rate. Edges are *decode* (an
//! encoded format to PCM at a rate its decoder can produce), *resample* (PCM at one rate to
//! another, by [`crate::resample::Resampler`]) and *encode* (PCM at a rate the encoder accepts to
//! an encoded format), plus *repacketize* between identical sample-based formats, which
//! regroups bytes without decoding. Opus decodes to, and encodes from, any of its rates up to
//! the format's own, so an Opus leg facing a G.711 leg is coded at 8 kHz and no resampler runs.
//!
//! Costs are ordered the way Asterisk's translation matrix orders them: first avoid lossy
//! generations (every lossy encode costs [`LOSSY_GENERATION`]), then avoid losing bandwidth
//! the source had and the target can carry ([`BANDWIDTH_LOSS`]), then minimise CPU
//! ([`crate::CodecCost`] plus a resampling cost that grows with the rates). Decode and encode
//! edges meet at one PCM node, so every shortest path has the form
//! `decode → [resample] → encode`, and [`plan`] finds it by trying every meeting rate: the
//! result is what Dijkstra's algorithm gives on this graph, without building it.

use std::fmt;

use crate::{CodecError, CodecId, Format};

/// The PCM rates paths may meet at.
const PCM_RATES: &[u32] = &[8000, 12000, 16000, 24000, 48000];
/// Cost of one lossy encode: larger than any CPU cost, so fewer generations always win.
pub const LOSSY_GENERATION: u32 = 1_000_000;
/// Cost of losing bandwidth both ends could carry: larger than any CPU cost.
pub const BANDWIDTH_LOSS: u32 = 100_000;
/// Cost of regrouping bytes without decoding.
const REPACKETIZE: u32 = 1;

/// One step of a transcoding path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Regroup the payload bytes into packets of another packet time; no decoding.
    Repacketize(Format),
    /// Decode `from` to PCM at `rate` Hz.
    Decode {
        /// The encoded format.
        from: Format,
        /// The PCM rate the decoder produces.
        rate: u32,
    },
    /// Resample PCM from one rate to another.
    Resample {
        /// Input rate in Hz.
        from: u32,
        /// Output rate in Hz.
        to: u32,
    },
    /// Encode PCM at `rate` Hz into `to`.
    Encode {
        /// The encoded format.
        to: Format,
        /// The PCM rate the encoder consumes.
        rate: u32,
    },
}

/// The cheapest path between two formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Where the path starts.
    pub from: Format,
    /// Where it ends.
    pub to: Format,
    /// The steps, in order (at most three).
    pub steps: Vec<Step>,
    /// The total cost in the units of this module.
    pub cost: u32,
}

impl Plan {
    /// The rate of the PCM between decoding (and resampling) and encoding, if the path
    /// decodes at all.
    pub fn pcm_rate(&self) -> Option<u32> {
        self.steps.iter().find_map(|s| match s {
            Step::Encode { rate, .. } => Some(*rate),
            _ => None,
        })
    }

    /// True if the path only regroups bytes.
    pub fn is_repacketize(&self) -> bool {
        matches!(self.steps.as_slice(), [Step::Repacketize(_)])
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(" -> ")?;
            }
            match step {
                Step::Repacketize(format) => write!(f, "repacketize {format}")?,
                Step::Decode { from, rate } => write!(f, "decode {from} @{rate}")?,
                Step::Resample { from, to } => write!(f, "resample {from}->{to}")?,
                Step::Encode { to, rate } => write!(f, "encode {to} @{rate}")?,
            }
        }
        Ok(())
    }
}

/// PCM rates a decoder of `format` can produce directly.
pub fn decode_rates(format: Format) -> impl Iterator<Item = u32> {
    PCM_RATES
        .iter()
        .copied()
        .filter(move |&rate| match format.codec {
            // libopus decodes any stream at any of its rates.
            CodecId::Opus => true,
            _ => rate == format.sample_rate,
        })
}

/// PCM rates an encoder of `format` can consume directly.
pub fn encode_rates(format: Format) -> impl Iterator<Item = u32> {
    PCM_RATES
        .iter()
        .copied()
        .filter(move |&rate| match format.codec {
            // An Opus stream may be coded at any rate up to its cap; the RTP clock stays 48 kHz.
            CodecId::Opus => rate <= format.sample_rate,
            _ => rate == format.sample_rate,
        })
}

/// Cost of resampling between two rates: proportional to the higher rate (the filter runs
/// there), plus a fixed step cost so that one direct step beats two.
pub fn resample_cost(from: u32, to: u32) -> u32 {
    if from == to {
        0
    } else {
        20 + 10 * from.max(to) / 8000
    }
}

/// Codecs whose payload is a plain sequence of samples (or sample pairs), so packets can be
/// cut and joined at any whole millisecond without decoding.
fn is_sample_based(codec: CodecId) -> bool {
    matches!(
        codec,
        CodecId::Pcmu | CodecId::Pcma | CodecId::L16 | CodecId::G722
    )
}

/// Finds the cheapest path from `from` to `to`.
pub fn plan(from: Format, to: Format) -> Result<Plan, CodecError> {
    for format in [from, to] {
        let descriptor = format.descriptor();
        if format.codec != CodecId::Opus && !descriptor.supports_sample_rate(format.sample_rate) {
            return Err(CodecError::UnsupportedSampleRate {
                codec: format.codec,
                rate: format.sample_rate,
            });
        }
    }
    if from == to && is_sample_based(from.codec) {
        return Ok(Plan {
            from,
            to,
            steps: vec![Step::Repacketize(from)],
            cost: REPACKETIZE,
        });
    }
    let wanted_bandwidth = from.sample_rate.min(to.sample_rate);
    let lossy = if to.descriptor().lossless {
        0
    } else {
        LOSSY_GENERATION
    };
    let mut best: Option<(u32, u32, u32)> = None;
    for decode_rate in decode_rates(from) {
        for encode_rate in encode_rates(to) {
            let bandwidth = decode_rate.min(encode_rate).min(from.sample_rate);
            let cost = from.descriptor().cost.decode
                + resample_cost(decode_rate, encode_rate)
                + to.descriptor().cost.encode
                + lossy
                + if bandwidth < wanted_bandwidth {
                    BANDWIDTH_LOSS
                } else {
                    0
                };
            if best.is_none_or(|(c, _, _)| cost < c) {
                best = Some((cost, decode_rate, encode_rate));
            }
        }
    }
    let (cost, decode_rate, encode_rate) =
        best.expect("every format has at least one decode and one encode rate");
    let mut steps = vec![Step::Decode {
        from,
        rate: decode_rate,
    }];
    if decode_rate != encode_rate {
        steps.push(Step::Resample {
            from: decode_rate,
            to: encode_rate,
        });
    }
    steps.push(Step::Encode {
        to,
        rate: encode_rate,
    });
    Ok(Plan {
        from,
        to,
        steps,
        cost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_sample_codec_is_repacketized_without_decoding() {
        let p = plan(Format::PCMU, Format::PCMU).unwrap();
        assert!(p.is_repacketize());
        assert_eq!(p.pcm_rate(), None);
    }

    #[test]
    fn g711_laws_convert_at_8_khz_without_resampling() {
        let p = plan(Format::PCMU, Format::PCMA).unwrap();
        assert_eq!(
            p.steps,
            vec![
                Step::Decode {
                    from: Format::PCMU,
                    rate: 8000
                },
                Step::Encode {
                    to: Format::PCMA,
                    rate: 8000
                }
            ]
        );
    }

    /// A narrowband source needs no 48 kHz Opus encoder: coding at 8 kHz keeps every bit of
    /// the source's bandwidth and skips the resampler.
    #[test]
    fn opus_facing_g711_is_coded_at_8_khz() {
        let p = plan(Format::PCMU, Format::opus(48000)).unwrap();
        assert_eq!(p.pcm_rate(), Some(8000));
        assert_eq!(p.steps.len(), 2);
        let back = plan(Format::opus(48000), Format::PCMA).unwrap();
        assert_eq!(
            back.steps[0],
            Step::Decode {
                from: Format::opus(48000),
                rate: 8000
            }
        );
        assert_eq!(back.steps.len(), 2);
    }

    #[test]
    fn wideband_is_kept_when_both_ends_carry_it() {
        let p = plan(Format::G722, Format::opus(48000)).unwrap();
        assert_eq!(p.pcm_rate(), Some(16000));
        let p = plan(Format::opus(48000), Format::G722).unwrap();
        assert_eq!(
            p.steps[0],
            Step::Decode {
                from: Format::opus(48000),
                rate: 16000
            }
        );
    }

    #[test]
    fn rates_that_differ_are_resampled_in_one_step() {
        let p = plan(Format::PCMU, Format::l16(48000)).unwrap();
        assert_eq!(
            p.steps,
            vec![
                Step::Decode {
                    from: Format::PCMU,
                    rate: 8000
                },
                Step::Resample {
                    from: 8000,
                    to: 48000
                },
                Step::Encode {
                    to: Format::l16(48000),
                    rate: 48000
                }
            ]
        );
        assert!(
            p.cost < LOSSY_GENERATION,
            "L16 is lossless: no generation penalty"
        );
    }

    #[test]
    fn lossy_targets_cost_one_generation() {
        let p = plan(Format::l16(16000), Format::G722).unwrap();
        assert!(p.cost >= LOSSY_GENERATION && p.cost < 2 * LOSSY_GENERATION);
        assert_eq!(
            p.to_string(),
            "decode L16/16000 @16000 -> encode G722/16000 @16000"
        );
    }

    #[test]
    fn unsupported_rates_are_rejected() {
        assert!(plan(Format::l16(44100), Format::PCMU).is_err());
        assert!(
            plan(
                Format {
                    codec: CodecId::Pcmu,
                    sample_rate: 16000
                },
                Format::PCMA
            )
            .is_err()
        );
    }
}
