//! Codec choices of the ng call model: which of the offerer's formats Tandem can run, what
//! to offer the answerer after `codec` `strip` / `mask` / `transcode` / `except`, and the
//! formats Tandem adds to transcode to.
//!
//! rtpengine's semantics, in the subset Kamailio uses: a codec string is
//! `name[/clock[/channels[/bitrate]]]` matched case-insensitively, `all` matches every format
//! (telephone-event included); stripped formats are gone from both sides, masked ones only
//! from the SDP sent on (the offerer may still send them: Tandem transcodes), transcode
//! formats are appended when absent, `except` exempts formats from `all`.

use tandem_codecs::{RtpClock, registry};
use tandem_sip::sdp::{Codec, PayloadFormat, PayloadType};

use super::flags::CodecFlags;
use crate::run::media::{MediaPolicy, NegotiatedCodec, codec_spec};

/// A codec as an ng option names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecName {
    /// The encoding name, or `all`.
    pub name: String,
    /// The clock rate, if given.
    pub clock_rate: Option<u32>,
    /// The channels, if given.
    pub channels: Option<u16>,
    /// The bitrate (bit/s) to encode at, if given (`opus/48000/2/32000`).
    pub bitrate_bps: Option<u32>,
}

impl CodecName {
    /// Reads `name[/clock[/channels[/bitrate]]]`; a part that is not a number is left out.
    pub fn parse(text: &str) -> CodecName {
        let mut parts = text.split('/');
        let name = parts.next().unwrap_or_default().trim().to_owned();
        let mut number = || parts.next().and_then(|p| p.trim().parse::<u32>().ok());
        let clock_rate = number();
        let channels = number().and_then(|c| u16::try_from(c).ok());
        let bitrate_bps = number();
        CodecName {
            name,
            clock_rate,
            channels,
            bitrate_bps,
        }
    }

    /// True for `all`.
    pub fn is_all(&self) -> bool {
        self.name.eq_ignore_ascii_case("all")
    }

    /// Whether `format` is this codec (or this is `all`).
    pub fn matches(&self, format: &PayloadFormat) -> bool {
        let codec = &format.codec;
        self.is_all()
            || (codec.name.eq_ignore_ascii_case(&self.name)
                && self.clock_rate.is_none_or(|c| c == codec.clock_rate)
                && self.channels.is_none_or(|c| c == codec.channels))
    }
}

fn any_matches(names: &[String], format: &PayloadFormat) -> bool {
    names.iter().any(|n| CodecName::parse(n).matches(format))
}

/// Whether Tandem can terminate `format` (decode, encode, or relay it).
pub fn runnable(format: &PayloadFormat, policy: &MediaPolicy) -> bool {
    codec_spec(&negotiated_codec(format, None), policy).is_ok()
}

/// The media layer's view of a payload format.
pub fn negotiated_codec(format: &PayloadFormat, ptime_ms: Option<u32>) -> NegotiatedCodec {
    NegotiatedCodec {
        payload_type: format.payload_type.get(),
        name: format.codec.name.clone(),
        clock_rate: format.codec.clock_rate,
        channels: Some(u8::try_from(format.codec.channels).unwrap_or(u8::MAX)),
        fmtp: format.codec.fmtp.clone(),
        ptime_ms,
    }
}

/// What the codec options make of the offerer's formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferPlan {
    /// The offerer's media formats Tandem may use on the offerer's side, in the offerer's
    /// order: not stripped, runnable.
    pub offerer: Vec<PayloadFormat>,
    /// The offerer's telephone-event format, if any and not stripped.
    pub offerer_event: Option<PayloadFormat>,
    /// What goes in the SDP to the answerer, in order.
    pub answerer: Vec<PayloadFormat>,
    /// Bitrates asked per added format (payload type, bit/s).
    pub bitrates: Vec<(u8, u32)>,
    /// Formats left out because Tandem cannot run them, for a warning.
    pub unsupported: Vec<String>,
}

/// Why no offer can be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A `transcode` codec Tandem does not have.
    #[error("cannot transcode to {0}: unknown or not built codec")]
    UnknownCodec(String),
    /// Nothing left to offer, or nothing Tandem can run on the offerer's side.
    #[error("no codec left to offer after the codec options")]
    NoCodec,
}

/// Plans the offer to the answerer from the offerer's `formats`. See the module docs.
///
/// # Errors
///
/// [`PlanError`] when a transcode codec is unknown or nothing usable remains.
pub fn plan_offer(
    formats: &[PayloadFormat],
    options: &CodecFlags,
    policy: &MediaPolicy,
) -> Result<OfferPlan, PlanError> {
    let mut plan = OfferPlan {
        offerer: Vec::new(),
        offerer_event: None,
        answerer: Vec::new(),
        bitrates: Vec::new(),
        unsupported: Vec::new(),
    };
    let exempt = |f: &PayloadFormat| any_matches(&options.except, f);
    for format in formats {
        let stripped = any_matches(&options.strip, format) && !exempt(format);
        let masked = any_matches(&options.mask, format) && !exempt(format);
        if stripped || format.codec.is_comfort_noise() {
            continue;
        }
        if format.codec.is_telephone_event() {
            if plan.offerer_event.is_none() && format.codec.clock_rate == 8000 {
                plan.offerer_event = Some(format.clone());
                if !masked {
                    plan.answerer.push(format.clone());
                }
            }
            continue;
        }
        if !runnable(format, policy) {
            plan.unsupported.push(format.rtpmap().to_string());
            continue;
        }
        plan.offerer.push(format.clone());
        if !masked {
            plan.answerer.push(format.clone());
        }
    }
    if plan.offerer.is_empty() {
        return Err(PlanError::NoCodec);
    }
    for text in &options.transcode {
        let wanted = CodecName::parse(text);
        let format = added_format(&wanted, formats, &plan.answerer)
            .filter(|f| runnable(f, policy))
            .ok_or_else(|| PlanError::UnknownCodec(text.clone()))?;
        let present = plan
            .answerer
            .iter()
            .find(|f| wanted.matches(f))
            .map(|f| f.payload_type.get());
        let pt = match present {
            Some(pt) => pt,
            None => {
                let pt = format.payload_type.get();
                // Media formats before telephone-event, as offers usually list them.
                let at = plan
                    .answerer
                    .iter()
                    .position(|f| f.codec.is_telephone_event())
                    .unwrap_or(plan.answerer.len());
                plan.answerer.insert(at, format);
                pt
            }
        };
        if let Some(bps) = wanted.bitrate_bps {
            plan.bitrates.push((pt, bps));
        }
    }
    if !plan.answerer.iter().any(|f| f.codec.is_media()) {
        return Err(PlanError::NoCodec);
    }
    Ok(plan)
}

/// The format to add for `wanted`: the registry's spelling and clock, its static payload
/// type if free, else the first dynamic one no format in `taken` or `original` uses.
fn added_format(
    wanted: &CodecName,
    original: &[PayloadFormat],
    taken: &[PayloadFormat],
) -> Option<PayloadFormat> {
    let descriptor = registry::by_name(&wanted.name)?;
    let default_clock = match descriptor.rtp_clock {
        RtpClock::Fixed(clock) => clock,
        RtpClock::SampleRate => descriptor.sample_rates.first().copied()?,
    };
    let clock_rate = wanted.clock_rate.unwrap_or(default_clock);
    let channels = wanted
        .channels
        .unwrap_or(if descriptor.name.eq_ignore_ascii_case("opus") {
            2
        } else {
            1
        });
    let used = |pt: u8| {
        original
            .iter()
            .chain(taken)
            .any(|f| f.payload_type.get() == pt)
    };
    let pt = descriptor
        .static_payload_type
        .filter(|&pt| clock_rate == default_clock && !used(pt))
        .or_else(|| (PayloadType::DYNAMIC_START..=127).find(|&pt| !used(pt)))?;
    Some(PayloadFormat {
        payload_type: PayloadType::new(pt)?,
        codec: Codec::new(descriptor.name, clock_rate, channels),
    })
}

#[cfg(test)]
mod tests {
    use tandem_sip::sdp::SessionDescription;

    use super::*;

    fn formats(m: &str) -> Vec<PayloadFormat> {
        let sdp =
            format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{m}");
        SessionDescription::parse(sdp.as_bytes()).unwrap().media[0]
            .payload_formats()
            .collect()
    }

    fn names(list: &[PayloadFormat]) -> Vec<String> {
        list.iter().map(|f| f.rtpmap().to_string()).collect()
    }

    const SIPP: &str = "m=audio 6100 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    #[test]
    fn without_options_the_offer_passes_through() {
        let plan = plan_offer(
            &formats(SIPP),
            &CodecFlags::default(),
            &MediaPolicy::default(),
        )
        .unwrap();
        assert_eq!(
            names(&plan.answerer),
            ["8 PCMA/8000", "101 telephone-event/8000"]
        );
        assert_eq!(names(&plan.offerer), ["8 PCMA/8000"]);
        assert!(plan.offerer_event.is_some());
    }

    #[test]
    fn mask_all_and_transcode_opus_offers_only_opus_as_rtpengine_does() {
        let options = CodecFlags {
            mask: vec!["all".into()],
            transcode: vec!["opus/48000/2/32000".into()],
            ..CodecFlags::default()
        };
        let plan = plan_offer(&formats(SIPP), &options, &MediaPolicy::default()).unwrap();
        assert_eq!(names(&plan.answerer), ["96 opus/48000/2"]);
        assert_eq!(names(&plan.offerer), ["8 PCMA/8000"]);
        assert_eq!(plan.bitrates, [(96, 32_000)]);
    }

    #[test]
    fn strip_removes_from_both_sides_except_exempts() {
        let two = "m=audio 6100 RTP/AVP 0 8\r\n";
        let options = CodecFlags {
            strip: vec!["all".into()],
            except: vec!["PCMA".into()],
            ..CodecFlags::default()
        };
        let plan = plan_offer(&formats(two), &options, &MediaPolicy::default()).unwrap();
        assert_eq!(names(&plan.answerer), ["8 PCMA/8000"]);
        assert_eq!(names(&plan.offerer), ["8 PCMA/8000"]);
        let everything = CodecFlags {
            strip: vec!["all".into()],
            ..CodecFlags::default()
        };
        assert_eq!(
            plan_offer(&formats(two), &everything, &MediaPolicy::default()),
            Err(PlanError::NoCodec)
        );
    }

    #[test]
    fn unknown_transcode_targets_and_codecs_are_reported() {
        let options = CodecFlags {
            transcode: vec!["speex/8000".into()],
            ..CodecFlags::default()
        };
        assert!(matches!(
            plan_offer(&formats(SIPP), &options, &MediaPolicy::default()),
            Err(PlanError::UnknownCodec(_))
        ));
        let odd = "m=audio 6100 RTP/AVP 97 0\r\na=rtpmap:97 speex/8000\r\n";
        let plan = plan_offer(
            &formats(odd),
            &CodecFlags::default(),
            &MediaPolicy::default(),
        )
        .unwrap();
        assert_eq!(plan.unsupported, ["97 speex/8000"]);
        assert_eq!(names(&plan.answerer), ["0 PCMU/8000"]);
    }

    #[test]
    fn codec_names_read_every_part() {
        let n = CodecName::parse("opus/48000/2/32000");
        assert_eq!(
            (n.name.as_str(), n.clock_rate, n.channels, n.bitrate_bps),
            ("opus", Some(48000), Some(2), Some(32000))
        );
        assert!(CodecName::parse("ALL").is_all());
    }
}
