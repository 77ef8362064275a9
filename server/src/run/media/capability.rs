//! What Tandem can terminate, as `tandem-sip`'s SDP negotiation takes it: for the answerer
//! ([`capabilities`]: every codec this build runs, preferred ones first) and the offerer of a
//! gateway leg ([`offer`]: exactly the route's codecs), and the [`LocalPolicy`] built from
//! either ([`local_policy`]).
//!
//! Payload type numbers and telephone-event formats (one per clock rate, 101 for 8000 Hz) are
//! the SDP layer's business; this module only says which encodings, in which order, with
//! which format parameters, and which runtime [`Format`] each one runs as.

use std::net::IpAddr;

use tandem_codecs::{CodecId, Format, registry};
use tandem_sip::sdp::{Codec, LocalPolicy, TelephoneEvents};

use super::MediaPolicy;
use crate::run::config::CodecPref;

/// One encoding Tandem can send and receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// The SDP description: encoding name, RTP clock, channels, `a=fmtp`.
    pub codec: Codec,
    /// The format the runtime runs for it.
    pub format: Format,
}

/// The formats a preference stands for: its rate if it names one; else Opus at the policy's
/// rate, and every rate of other codecs (L16 runs at three).
fn formats_of(pref: &CodecPref, policy: &MediaPolicy) -> Vec<Format> {
    let format = |sample_rate| Format {
        codec: pref.codec,
        sample_rate,
    };
    match (pref.sample_rate, pref.codec) {
        (Some(rate), _) => vec![format(rate)],
        (None, CodecId::Opus) => vec![format(policy.opus.sample_rate)],
        (None, _) => pref
            .descriptor()
            .sample_rates
            .iter()
            .map(|&r| format(r))
            .collect(),
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

/// The capability of `format`.
fn capability(format: Format, policy: &MediaPolicy) -> Capability {
    let descriptor = format.descriptor();
    let clock_rate = descriptor.rtp_clock_rate(format.sample_rate);
    let codec = match format.codec {
        // RFC 7587 §7: always opus/48000/2, whatever is coded.
        CodecId::Opus => Codec::opus().with_fmtp(opus_fmtp(format, policy)),
        _ => Codec::new(descriptor.name, clock_rate, 1),
    };
    Capability { codec, format }
}

/// One capability per distinct SDP encoding, in order, for codecs this build runs.
fn build(formats: impl Iterator<Item = Format>, policy: &MediaPolicy) -> Vec<Capability> {
    let mut out: Vec<Capability> = Vec::new();
    for format in formats.filter(|f| registry::is_built(f.codec)) {
        let candidate = capability(format, policy);
        // Two Opus rates are one SDP encoding: the first (preferred) one wins.
        if !out.iter().any(|c| c.codec.same_encoding(&candidate.codec)) {
            out.push(candidate);
        }
    }
    out
}

/// What Tandem accepts from a caller: `preferences` first, then every other codec this build
/// runs, in the registry's order.
pub fn capabilities(preferences: &[CodecPref], policy: &MediaPolicy) -> Vec<Capability> {
    let rest = registry::built().map(|d| CodecPref::any_rate(d.id));
    let formats = preferences
        .iter()
        .copied()
        .chain(rest)
        .flat_map(|p| formats_of(&p, policy));
    build(formats, policy)
}

/// What Tandem offers on an outgoing leg: exactly `codecs`, in order.
pub fn offer(codecs: &[CodecPref], policy: &MediaPolicy) -> Vec<Capability> {
    build(codecs.iter().flat_map(|p| formats_of(p, policy)), policy)
}

/// The SDP layer's policy for `capabilities` at our media `address`: telephone-events (DTMF
/// and flash) when configured, our packet time, and no ports yet (the caller adds the ports
/// the runtime gave the session).
pub fn local_policy(
    capabilities: &[Capability],
    policy: &MediaPolicy,
    address: IpAddr,
) -> LocalPolicy {
    let codecs = capabilities.iter().map(|c| c.codec.clone()).collect();
    let mut local = LocalPolicy::new(address, codecs);
    local.telephone_events = policy
        .telephone_event
        .then_some(TelephoneEvents::DTMF_AND_FLASH);
    local.ptime_ms = Some(policy.ptime_ms);
    local
}

#[cfg(test)]
mod tests {
    use tandem_sip::sdp::{LocalSession, SessionDescription};

    use super::*;
    use crate::run::config::Config;

    fn names(caps: &[Capability]) -> Vec<String> {
        caps.iter().map(|c| c.codec.to_string()).collect()
    }

    #[test]
    fn the_default_answerer_lists_preferences_then_every_built_codec() {
        let config = Config::default();
        let policy = MediaPolicy::from_config(&config);
        let caps = capabilities(&config.codecs.preferences, &policy);
        let mut want = vec!["opus/48000/2", "G722/8000", "PCMU/8000", "PCMA/8000"];
        if registry::is_built(CodecId::G729) {
            want.push("G729/8000");
        }
        want.extend(["L16/8000", "L16/16000", "L16/48000"]);
        assert_eq!(names(&caps), want);
        assert_eq!(
            caps[0].codec.fmtp.as_deref(),
            Some("minptime=10;useinbandfec=1")
        );
        assert_eq!(caps[0].format, Format::opus(48000));
        // G.722 samples at 16 kHz on an 8000 Hz RTP clock (RFC 3551 §4.5.2).
        assert_eq!(caps[1].format, Format::G722);
    }

    #[test]
    fn offers_hold_exactly_the_route_codecs_once_each() {
        let mut policy = MediaPolicy::default();
        policy.opus.sample_rate = 16000;
        let caps = offer(&["opus".parse().unwrap()], &policy);
        assert_eq!(names(&caps), ["opus/48000/2"]);
        assert_eq!(
            caps[0].codec.fmtp.as_deref(),
            Some("minptime=10;useinbandfec=1;maxplaybackrate=16000")
        );
        assert_eq!(caps[0].format, Format::opus(16000));

        let prefs: Vec<CodecPref> = ["PCMU", "ulaw", "opus/24000", "opus"]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect();
        let caps = offer(&prefs, &policy);
        assert_eq!(names(&caps), ["PCMU/8000", "opus/48000/2"]);
        assert_eq!(caps[1].format, Format::opus(24000));
    }

    #[test]
    fn the_sdp_layer_answers_with_our_preferred_common_codec() {
        let config = Config::default();
        let media = MediaPolicy::from_config(&config);
        let ours = IpAddr::from([127, 0, 0, 1]);
        let mut local = local_policy(
            &capabilities(&config.codecs.preferences, &media),
            &media,
            ours,
        );
        local.rtp_ports = vec![36000];
        assert_eq!(local.ptime_ms, Some(20));
        assert!(local.telephone_events.is_some());
        // sipp's uac_pcap offer: PCMA and telephone-event/8000.
        let offer = SessionDescription::parse(
            b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
              c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6100 RTP/AVP 8 101\r\n\
              a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n",
        )
        .unwrap();
        let mut session = LocalSession::new("tandem", 1, ours);
        let (answer, negotiated) = session.answer(&offer, &local);
        let stream = negotiated.streams[0].accepted().expect("PCMA is common");
        assert_eq!(stream.format.codec.name, "PCMA");
        assert!(
            answer
                .to_string()
                .contains("m=audio 36000 RTP/AVP 8 101\r\n")
        );

        let without = MediaPolicy {
            telephone_event: false,
            ..media
        };
        let local = local_policy(&offer_caps(&without), &without, ours);
        assert_eq!(local.telephone_events, None);
    }

    fn offer_caps(policy: &MediaPolicy) -> Vec<Capability> {
        offer(&["PCMU".parse().unwrap()], policy)
    }
}
