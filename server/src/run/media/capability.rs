//! What Tandem can terminate, as the payload types of an SDP `m=audio` line: for the
//! answerer ([`capabilities`]: every codec this build runs, preferred ones first) and the
//! offerer of a gateway leg ([`offer`]: exactly the route's codecs).
//!
//! Payload types: the RFC 3551 static type where the codec has one, else dynamic types from
//! 96 up; `telephone-event/8000` takes the customary 101, and telephone-events at other clock
//! rates (one per clock rate among the codecs, RFC 4733 §2.3.1: the event clock is the
//! audio codec's) take the next free dynamic types.

use tandem_codecs::{CodecId, Format, registry};

use super::MediaPolicy;
use crate::run::config::CodecPref;

/// First dynamic payload type (RFC 3551 §6).
pub const DYNAMIC_FIRST: u8 = 96;

/// Last dynamic payload type.
pub const DYNAMIC_LAST: u8 = 127;

/// The payload type `telephone-event/8000` takes (the customary choice of most stacks).
pub const TELEPHONE_EVENT_8000: u8 = 101;

/// One payload type Tandem can send and receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// The payload type.
    pub payload_type: u8,
    /// The encoding name for `a=rtpmap`.
    pub name: &'static str,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// The encoding parameters (`2` for Opus, RFC 7587 §7), if any.
    pub channels: Option<u8>,
    /// `a=fmtp` parameters, if any.
    pub fmtp: Option<String>,
    /// The format the runtime runs for it; `None` for telephone-events.
    pub format: Option<Format>,
}

/// An ordered list of payload types, codecs first, then telephone-events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Audio codecs in order of preference.
    pub codecs: Vec<Capability>,
    /// `telephone-event` payload types, one per clock rate among the codecs.
    pub telephone_events: Vec<Capability>,
    /// The packet time to ask for (`a=ptime`).
    pub ptime_ms: u32,
}

impl Capabilities {
    /// Every payload type, codecs first.
    pub fn iter(&self) -> impl Iterator<Item = &Capability> {
        self.codecs.iter().chain(&self.telephone_events)
    }
}

/// The formats a preference stands for: its rate if it names one; else Opus at the policy's
/// rate, and every rate of other codecs (L16 runs at three).
fn formats_of(pref: &CodecPref, policy: &MediaPolicy) -> Vec<Format> {
    let descriptor = pref.descriptor();
    let format = |sample_rate| Format {
        codec: pref.codec,
        sample_rate,
    };
    match (pref.sample_rate, pref.codec) {
        (Some(rate), _) => vec![format(rate)],
        (None, CodecId::Opus) => vec![format(policy.opus.sample_rate)],
        (None, _) => descriptor.sample_rates.iter().map(|&r| format(r)).collect(),
    }
}

/// `a=fmtp` for Opus (RFC 7587 §6.1): FEC and DTX as configured, and the rate we play back
/// at when it is below 48 kHz.
fn opus_fmtp(format: Format, policy: &MediaPolicy) -> String {
    let mut params = vec!["minptime=10".to_owned()];
    if policy.opus.encoder.inband_fec {
        params.push("useinbandfec=1".into());
    }
    if policy.opus.encoder.dtx {
        params.push("usedtx=1".into());
    }
    if format.sample_rate < 48000 {
        params.push(format!("maxplaybackrate={}", format.sample_rate));
    }
    params.join(";")
}

/// Hands out dynamic payload types, skipping the reserved telephone-event type.
struct DynamicTypes {
    next: u8,
    reserved: Option<u8>,
}

impl DynamicTypes {
    fn take(&mut self) -> Option<u8> {
        while self.next <= DYNAMIC_LAST {
            let pt = self.next;
            self.next += 1;
            if Some(pt) != self.reserved {
                return Some(pt);
            }
        }
        None
    }
}

fn build(formats: Vec<Format>, policy: &MediaPolicy) -> Capabilities {
    let mut unique: Vec<Format> = Vec::with_capacity(formats.len());
    for format in formats {
        if !unique.contains(&format) && registry::is_built(format.codec) {
            unique.push(format);
        }
    }
    let reserved = policy.telephone_event.then_some(TELEPHONE_EVENT_8000);
    let mut dynamic = DynamicTypes {
        next: DYNAMIC_FIRST,
        reserved,
    };
    let mut codecs = Vec::with_capacity(unique.len());
    for format in unique {
        let descriptor = format.descriptor();
        let static_pt = descriptor
            .static_payload_type
            .filter(|_| format.sample_rate == descriptor.default_sample_rate());
        // Dynamic types run out only past 31 formats, more than the registry holds.
        let Some(payload_type) = static_pt.or_else(|| dynamic.take()) else {
            break;
        };
        let opus = format.codec == CodecId::Opus;
        codecs.push(Capability {
            payload_type,
            name: descriptor.name,
            clock_rate: descriptor.rtp_clock_rate(format.sample_rate),
            channels: opus.then_some(2),
            fmtp: opus.then(|| opus_fmtp(format, policy)),
            format: Some(format),
        });
    }
    let mut telephone_events = Vec::new();
    if policy.telephone_event {
        let mut seen: Vec<u32> = Vec::new();
        for clock in codecs.iter().map(|c| c.clock_rate) {
            if seen.contains(&clock) {
                continue;
            }
            seen.push(clock);
            let payload_type = match clock {
                8000 => Some(TELEPHONE_EVENT_8000),
                _ => dynamic.take(),
            };
            if let Some(payload_type) = payload_type {
                telephone_events.push(Capability {
                    payload_type,
                    name: "telephone-event",
                    clock_rate: clock,
                    channels: None,
                    fmtp: Some("0-16".into()),
                    format: None,
                });
            }
        }
    }
    Capabilities {
        codecs,
        telephone_events,
        ptime_ms: policy.ptime_ms,
    }
}

/// What Tandem accepts from a caller: `preferences` first, then every other codec this build
/// runs, in the registry's order.
pub fn capabilities(preferences: &[CodecPref], policy: &MediaPolicy) -> Capabilities {
    let rest = registry::built().map(|d| CodecPref::any_rate(d.id));
    let formats = preferences
        .iter()
        .copied()
        .chain(rest)
        .flat_map(|p| formats_of(&p, policy))
        .collect();
    build(formats, policy)
}

/// What Tandem offers on an outgoing leg: exactly `codecs`, in order.
pub fn offer(codecs: &[CodecPref], policy: &MediaPolicy) -> Capabilities {
    build(
        codecs.iter().flat_map(|p| formats_of(p, policy)).collect(),
        policy,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::config::Config;

    fn names(caps: &Capabilities) -> Vec<String> {
        caps.iter()
            .map(|c| format!("{} {}/{}", c.payload_type, c.name, c.clock_rate))
            .collect()
    }

    #[test]
    fn the_default_answerer_lists_preferences_then_every_built_codec() {
        let config = Config::default();
        let policy = MediaPolicy::from_config(&config);
        let caps = capabilities(&config.codecs.preferences, &policy);
        let mut want = vec!["96 opus/48000", "9 G722/8000", "0 PCMU/8000", "8 PCMA/8000"];
        if registry::is_built(CodecId::G729) {
            want.push("18 G729/8000");
        }
        want.extend(["97 L16/8000", "98 L16/16000", "99 L16/48000"]);
        want.extend([
            "100 telephone-event/48000",
            "101 telephone-event/8000",
            "102 telephone-event/16000",
        ]);
        assert_eq!(names(&caps), want);
        assert_eq!(caps.ptime_ms, 20);
        let opus = &caps.codecs[0];
        assert_eq!(opus.channels, Some(2));
        assert_eq!(opus.fmtp.as_deref(), Some("minptime=10;useinbandfec=1"));
        assert_eq!(opus.format, Some(Format::opus(48000)));
        assert_eq!(caps.codecs[1].format, Some(Format::G722));
    }

    #[test]
    fn every_payload_type_is_distinct() {
        let config = Config::default();
        let policy = MediaPolicy::from_config(&config);
        let caps = capabilities(&config.codecs.preferences, &policy);
        let mut pts: Vec<u8> = caps.iter().map(|c| c.payload_type).collect();
        let count = pts.len();
        pts.sort_unstable();
        pts.dedup();
        assert_eq!(pts.len(), count);
    }

    #[test]
    fn offers_hold_exactly_the_route_codecs() {
        let mut policy = MediaPolicy::default();
        policy.opus.sample_rate = 16000;
        let caps = offer(&["opus".parse().unwrap()], &policy);
        assert_eq!(names(&caps), ["96 opus/48000", "97 telephone-event/48000"]);
        assert_eq!(
            caps.codecs[0].fmtp.as_deref(),
            Some("minptime=10;useinbandfec=1;maxplaybackrate=16000")
        );
        assert_eq!(caps.codecs[0].format, Some(Format::opus(16000)));

        let caps = offer(&["PCMU".parse().unwrap(), "ulaw".parse().unwrap()], &policy);
        assert_eq!(names(&caps), ["0 PCMU/8000", "101 telephone-event/8000"]);
    }

    #[test]
    fn without_telephone_events_101_is_an_ordinary_dynamic_type() {
        let policy = MediaPolicy {
            telephone_event: false,
            ..MediaPolicy::default()
        };
        let prefs: Vec<CodecPref> = ["L16/8000", "L16/16000", "L16/48000", "opus/24000"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let caps = offer(&prefs, &policy);
        assert_eq!(
            names(&caps),
            [
                "96 L16/8000",
                "97 L16/16000",
                "98 L16/48000",
                "99 opus/48000"
            ]
        );
        assert!(caps.telephone_events.is_empty());
    }

    #[test]
    fn dynamic_types_skip_the_telephone_event_type() {
        let mut dynamic = DynamicTypes {
            next: 100,
            reserved: Some(101),
        };
        assert_eq!(dynamic.take(), Some(100));
        assert_eq!(dynamic.take(), Some(102));
        let mut last = DynamicTypes {
            next: 127,
            reserved: None,
        };
        assert_eq!(last.take(), Some(127));
        assert_eq!(last.take(), None);
    }
}
