//! Media mapping: from what SDP negotiated to what the runtime runs.
//!
//! - [`leg_spec`] turns one negotiated media stream ([`NegotiatedMedia`]: codec name, clock,
//!   channels, fmtp, payload type, packet time, telephone-event payload type, the peer's RTP
//!   address) into a `tandem-core` [`LegSpec`], resolving the codec through `tandem-codecs`'
//!   registry by name.
//! - [`capability`] lists what Tandem can terminate, in preference order, for the SDP
//!   answerer and offerer.
//! - [`builtin`] builds the sessions of the built-in destinations (echo, tone, conference).
//!
//! [`NegotiatedMedia`] is the engine's view of a stream; [`leg_spec_for`] takes
//! `tandem-sip`'s [`NegotiatedStream`] (the SDP offer/answer result) through it.

pub mod builtin;
pub mod capability;

use std::net::SocketAddr;

use tandem_codecs::{CodecId, EncoderConfig, Format, RtpClock, registry};
use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegSpec, PlayoutSpec};
use tandem_sip::sdp::NegotiatedStream;

use super::config::{Config, OpusSettings};

/// Audio rates Opus runs at (RFC 6716 §2: narrowband to fullband), ascending.
pub const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

/// One codec as negotiated: the `a=rtpmap`, `a=fmtp` and `a=ptime` of the chosen payload type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedCodec {
    /// The RTP payload type.
    pub payload_type: u8,
    /// The encoding name (`PCMU`, `opus`...), any case.
    pub name: String,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// The encoding parameters (channels), if given.
    pub channels: Option<u8>,
    /// The format parameters, if any (`useinbandfec=1; maxplaybackrate=16000`).
    pub fmtp: Option<String>,
    /// The packet time the peer asked for, if any.
    pub ptime_ms: Option<u32>,
}

/// One negotiated audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    /// The codec both sides use.
    pub codec: NegotiatedCodec,
    /// The RFC 4733 telephone-event payload type, if negotiated.
    pub telephone_event: Option<u8>,
    /// Where the peer receives RTP (SDP `c=` and `m=`), if it said (not on hold to 0.0.0.0).
    pub remote: Option<SocketAddr>,
}

/// Negotiated media the runtime cannot run. The SIP layer answers 488 (or rejects the
/// stream) with the message as reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The registry has no codec by that name.
    #[error("unknown codec {0:?}")]
    UnknownCodec(String),
    /// The codec is known but not in this build.
    #[error("codec {0} is not built in")]
    NotBuilt(CodecId),
    /// The codec does not run at that RTP clock rate.
    #[error("{codec} at an RTP clock of {clock_rate} Hz is not supported")]
    ClockRate {
        /// The codec.
        codec: CodecId,
        /// The clock rate.
        clock_rate: u32,
    },
    /// Channels the codec cannot carry here (Tandem's audio is mono).
    #[error("{codec} with {channels} channels is not supported")]
    Channels {
        /// The codec.
        codec: CodecId,
        /// The channels.
        channels: u8,
    },
    /// A payload type outside 0..=127.
    #[error("payload type {0} does not fit in 7 bits")]
    PayloadType(u8),
    /// The codec and telephone-events share a payload type.
    #[error("payload type {0} is used for both the codec and telephone-events")]
    PayloadTypeClash(u8),
    /// The peer numbers a payload differently from us (RFC 3264 §5.1 allows it); a runtime
    /// leg sends and receives one number.
    #[error("the peer sends payload type {receive} for what we send as {send}")]
    AsymmetricPayloadType {
        /// The number we send with.
        send: u8,
        /// The number the peer sends with.
        receive: u8,
    },
}

impl TryFrom<&NegotiatedStream> for NegotiatedMedia {
    type Error = MediaError;

    /// The engine's view of an accepted SDP stream: the codec we send (the peer's payload
    /// type and format parameters), telephone-events, and where RTP goes (`None` on hold).
    ///
    /// # Errors
    ///
    /// [`MediaError::AsymmetricPayloadType`] when the two sides number the codec or the
    /// events differently.
    fn try_from(stream: &NegotiatedStream) -> Result<Self, MediaError> {
        let symmetric = |send: u8, receive: u8| {
            if send == receive {
                Ok(send)
            } else {
                Err(MediaError::AsymmetricPayloadType { send, receive })
            }
        };
        let payload_type = symmetric(
            stream.format.payload_type.get(),
            stream.receive_payload_type.get(),
        )?;
        let telephone_event = stream
            .telephone_event
            .map(|te| symmetric(te.payload_type.get(), te.receive_payload_type.get()))
            .transpose()?;
        let codec = &stream.format.codec;
        Ok(Self {
            codec: NegotiatedCodec {
                payload_type,
                name: codec.name.clone(),
                clock_rate: codec.clock_rate,
                // More channels than fit in a u8 are refused by `codec_spec` all the same.
                channels: Some(u8::try_from(codec.channels).unwrap_or(u8::MAX)),
                fmtp: codec.fmtp.clone(),
                ptime_ms: stream.ptime_ms,
            },
            telephone_event,
            remote: stream.remote_rtp,
        })
    }
}

/// What the configuration decides about every leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPolicy {
    /// Opus settings (the highest rate Opus legs run at, encoder settings).
    pub opus: OpusSettings,
    /// No RTP for this long ends the call (0 = never).
    pub timeout_ms: u32,
    /// The packet time Tandem asks for in its own SDP.
    pub ptime_ms: u32,
    /// Whether telephone-events are offered and accepted.
    pub telephone_event: bool,
    /// The jitter buffer of decoded legs (`[media] jitter_buffer` and its delays).
    pub playout: PlayoutSpec,
}

impl MediaPolicy {
    /// The policy `config` describes.
    pub fn from_config(config: &Config) -> Self {
        Self {
            opus: config.opus,
            timeout_ms: config.media.timeout_ms(),
            ptime_ms: config.codecs.ptime_ms,
            telephone_event: config.codecs.telephone_event,
            playout: config.media.jitter().playout(None),
        }
    }
}

impl Default for MediaPolicy {
    fn default() -> Self {
        Self::from_config(&Config::default())
    }
}

/// The value of `key` in an `a=fmtp` parameter list (`k=v;k=v`, spaces allowed).
pub fn fmtp_value<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';').find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// The rate an Opus leg runs at: the configured highest rate, lowered to the peer's
/// `maxplaybackrate` (RFC 7587 §6.1) rounded up to a rate Opus runs at.
pub fn opus_rate(policy: &MediaPolicy, fmtp: Option<&str>) -> u32 {
    let peer_max = fmtp
        .and_then(|f| fmtp_value(f, "maxplaybackrate"))
        .and_then(|v| v.parse::<u32>().ok())
        .map(|hz| {
            OPUS_RATES
                .iter()
                .copied()
                .find(|&rate| rate >= hz)
                .unwrap_or(48000)
        });
    peer_max.map_or(policy.opus.sample_rate, |max| {
        max.min(policy.opus.sample_rate)
    })
}

/// The packet time to send with: the peer's if the codec packetizes at it, else the
/// supported packet time closest to it (`a=ptime` is a recommendation, RFC 8866 §6.4),
/// else the codec's default.
fn ptime(format: Format, asked: Option<u32>) -> u32 {
    let descriptor = format.descriptor();
    match asked {
        Some(ms) => descriptor
            .ptimes_ms
            .iter()
            .copied()
            .min_by_key(|&p| p.abs_diff(ms))
            .unwrap_or(descriptor.default_ptime_ms),
        None => descriptor.default_ptime_ms,
    }
}

/// The [`CodecSpec`] of a negotiated codec.
///
/// # Errors
///
/// [`MediaError`] when the codec is unknown, not built, at an unsupported clock or channel
/// count, or its payload type does not fit.
pub fn codec_spec(codec: &NegotiatedCodec, policy: &MediaPolicy) -> Result<CodecSpec, MediaError> {
    let descriptor = registry::by_name(&codec.name)
        .ok_or_else(|| MediaError::UnknownCodec(codec.name.clone()))?;
    let id = descriptor.id;
    if !registry::is_built(id) {
        return Err(MediaError::NotBuilt(id));
    }
    let bad_clock = MediaError::ClockRate {
        codec: id,
        clock_rate: codec.clock_rate,
    };
    let sample_rate = match descriptor.rtp_clock {
        RtpClock::SampleRate if descriptor.supports_sample_rate(codec.clock_rate) => {
            codec.clock_rate
        }
        RtpClock::Fixed(clock) if clock == codec.clock_rate => match id {
            CodecId::Opus => opus_rate(policy, codec.fmtp.as_deref()),
            _ => descriptor.default_sample_rate(),
        },
        _ => return Err(bad_clock),
    };
    // RFC 7587 §7 writes Opus as 2 channels whatever is coded; everything else here is mono.
    let channels = codec.channels.unwrap_or(1);
    let channels_ok = match id {
        CodecId::Opus => matches!(channels, 1 | 2),
        _ => channels == 1,
    };
    if !channels_ok {
        return Err(MediaError::Channels {
            codec: id,
            channels,
        });
    }
    let payload_type =
        PayloadType::new(codec.payload_type).ok_or(MediaError::PayloadType(codec.payload_type))?;
    let format = Format {
        codec: id,
        sample_rate,
    };
    Ok(CodecSpec::new(
        format,
        payload_type,
        ptime(format, codec.ptime_ms),
    ))
}

/// The [`LegSpec`] of a negotiated stream: its codec, telephone-events, peer address, the
/// configured media timeout and jitter buffer. Detection options stay at `LegSpec::new`'s
/// defaults; the caller sets what its destination needs.
///
/// # Errors
///
/// [`MediaError`] as [`codec_spec`], and [`MediaError::PayloadTypeClash`].
pub fn leg_spec(media: &NegotiatedMedia, policy: &MediaPolicy) -> Result<LegSpec, MediaError> {
    let codec = codec_spec(&media.codec, policy)?;
    let encoder = EncoderConfig {
        opus: policy.opus.encoder,
        ..EncoderConfig::DEFAULT
    };
    let mut leg = LegSpec::new(codec)
        .with_media_timeout_ms(policy.timeout_ms)
        .with_encoder(encoder)
        .with_playout(policy.playout);
    if let Some(pt) = media.telephone_event {
        if pt == media.codec.payload_type {
            return Err(MediaError::PayloadTypeClash(pt));
        }
        leg = leg.with_telephone_event(PayloadType::new(pt).ok_or(MediaError::PayloadType(pt))?);
    }
    if let Some(remote) = media.remote {
        leg = leg.with_remote(remote);
    }
    Ok(leg)
}

/// The [`LegSpec`] of a stream the SDP layer accepted: [`NegotiatedMedia::try_from`] then
/// [`leg_spec`].
///
/// # Errors
///
/// [`MediaError`] as both.
pub fn leg_spec_for(
    stream: &NegotiatedStream,
    policy: &MediaPolicy,
) -> Result<LegSpec, MediaError> {
    leg_spec(&NegotiatedMedia::try_from(stream)?, policy)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use tandem_sip::sdp::{LocalSession, PayloadType as SdpPayloadType, SessionDescription};

    use super::*;

    fn codec(pt: u8, name: &str, clock_rate: u32) -> NegotiatedCodec {
        NegotiatedCodec {
            payload_type: pt,
            name: name.into(),
            clock_rate,
            channels: None,
            fmtp: None,
            ptime_ms: None,
        }
    }

    fn policy() -> MediaPolicy {
        MediaPolicy::default()
    }

    #[test]
    fn legs_take_the_configured_jitter_buffer() {
        let media = NegotiatedMedia {
            codec: codec(0, "PCMU", 8000),
            telephone_event: None,
            remote: None,
        };
        assert_eq!(
            leg_spec(&media, &policy()).unwrap().playout,
            PlayoutSpec::ADAPTIVE,
            "adaptive by default"
        );
        let fixed = MediaPolicy {
            playout: PlayoutSpec::Fixed { delay_ms: 80 },
            ..policy()
        };
        assert_eq!(
            leg_spec(&media, &fixed).unwrap().playout,
            PlayoutSpec::Fixed { delay_ms: 80 }
        );
    }

    #[test]
    fn legs_encode_with_the_configured_opus_settings() {
        let mut p = policy();
        p.opus.encoder.channels = 2;
        p.opus.encoder.complexity = 10;
        p.opus.encoder.bitrate_bps = Some(32_000);
        let mut opus = codec(96, "opus", 48000);
        opus.channels = Some(2);
        let media = NegotiatedMedia {
            codec: opus,
            telephone_event: None,
            remote: None,
        };
        let leg = leg_spec(&media, &p).unwrap();
        assert_eq!(leg.encoder.opus, p.opus.encoder);
    }

    #[test]
    fn g711_and_g722_map_to_their_formats() {
        let p = policy();
        assert_eq!(codec_spec(&codec(0, "PCMU", 8000), &p), Ok(CodecSpec::PCMU));
        assert_eq!(codec_spec(&codec(8, "pcma", 8000), &p), Ok(CodecSpec::PCMA));
        // RFC 3551 §4.5.2: G.722's RTP clock is 8000 although it samples at 16 kHz.
        assert_eq!(codec_spec(&codec(9, "G722", 8000), &p), Ok(CodecSpec::G722));
        assert_eq!(
            codec_spec(&codec(9, "G722", 16000), &p),
            Err(MediaError::ClockRate {
                codec: CodecId::G722,
                clock_rate: 16000
            })
        );
    }

    #[test]
    fn l16_runs_at_its_clock_rate() {
        let spec = codec_spec(&codec(97, "L16", 16000), &policy()).unwrap();
        assert_eq!(spec.format, Format::l16(16000));
        assert_eq!(spec.payload_type, PayloadType::new(97).unwrap());
        assert!(codec_spec(&codec(97, "L16", 11025), &policy()).is_err());
    }

    #[test]
    fn opus_runs_at_the_configured_rate_lowered_by_maxplaybackrate() {
        let mut opus = codec(111, "opus", 48000);
        opus.channels = Some(2);
        let p = policy();
        assert_eq!(codec_spec(&opus, &p).unwrap().format, Format::opus(48000));
        opus.fmtp = Some("useinbandfec=1; maxplaybackrate=16000".into());
        assert_eq!(codec_spec(&opus, &p).unwrap().format, Format::opus(16000));
        opus.fmtp = Some("maxplaybackrate=22050".into());
        assert_eq!(codec_spec(&opus, &p).unwrap().format, Format::opus(24000));
        let mut low = p;
        low.opus.sample_rate = 16000;
        assert_eq!(codec_spec(&opus, &low).unwrap().format, Format::opus(16000));
        opus.fmtp = Some("maxplaybackrate=8000".into());
        assert_eq!(codec_spec(&opus, &low).unwrap().format, Format::opus(8000));
        // RFC 7587 §4.1: the Opus RTP clock is 48 kHz whatever the coded rate.
        assert_eq!(codec_spec(&opus, &low).unwrap().clock_rate(), 48000);
        assert!(codec_spec(&codec(111, "opus", 16000), &p).is_err());
    }

    #[test]
    fn channels_must_be_mono_except_opus_which_says_two() {
        let mut pcmu = codec(0, "PCMU", 8000);
        pcmu.channels = Some(2);
        assert_eq!(
            codec_spec(&pcmu, &policy()),
            Err(MediaError::Channels {
                codec: CodecId::Pcmu,
                channels: 2
            })
        );
        let mut opus = codec(96, "opus", 48000);
        opus.channels = Some(3);
        assert!(matches!(
            codec_spec(&opus, &policy()),
            Err(MediaError::Channels { .. })
        ));
    }

    #[test]
    fn packet_times_follow_the_peer_within_what_the_codec_supports() {
        let mut pcmu = codec(0, "PCMU", 8000);
        assert_eq!(codec_spec(&pcmu, &policy()).unwrap().ptime_ms, 20);
        pcmu.ptime_ms = Some(30);
        assert_eq!(codec_spec(&pcmu, &policy()).unwrap().ptime_ms, 30);
        pcmu.ptime_ms = Some(25);
        assert_eq!(codec_spec(&pcmu, &policy()).unwrap().ptime_ms, 20);
        pcmu.ptime_ms = Some(200);
        assert_eq!(codec_spec(&pcmu, &policy()).unwrap().ptime_ms, 60);
    }

    #[test]
    fn unknown_codecs_and_bad_payload_types_are_errors() {
        assert_eq!(
            codec_spec(&codec(96, "speex", 8000), &policy()),
            Err(MediaError::UnknownCodec("speex".into()))
        );
        assert_eq!(
            codec_spec(&codec(200, "PCMU", 8000), &policy()),
            Err(MediaError::PayloadType(200))
        );
    }

    #[test]
    fn legs_carry_telephone_events_the_peer_and_the_media_timeout() {
        let remote: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        let media = NegotiatedMedia {
            codec: codec(8, "PCMA", 8000),
            telephone_event: Some(101),
            remote: Some(remote),
        };
        let leg = leg_spec(&media, &policy()).unwrap();
        assert_eq!(leg.codec, CodecSpec::PCMA);
        assert_eq!(leg.telephone_event, PayloadType::new(101));
        assert_eq!(leg.remote, Some(remote));
        assert_eq!(leg.media_timeout_ms, 30_000);

        let held = NegotiatedMedia {
            telephone_event: None,
            remote: None,
            ..media.clone()
        };
        let leg = leg_spec(&held, &policy()).unwrap();
        assert_eq!((leg.telephone_event, leg.remote), (None, None));

        let clash = NegotiatedMedia {
            telephone_event: Some(8),
            ..media
        };
        assert_eq!(
            leg_spec(&clash, &policy()),
            Err(MediaError::PayloadTypeClash(8))
        );
    }

    #[test]
    fn fmtp_values_are_found_by_key_ignoring_case_and_spaces() {
        let fmtp = "minptime=10; useinbandfec=1;MaxPlaybackRate = 16000";
        assert_eq!(fmtp_value(fmtp, "useinbandfec"), Some("1"));
        assert_eq!(fmtp_value(fmtp, "maxplaybackrate"), Some("16000"));
        assert_eq!(fmtp_value(fmtp, "stereo"), None);
        assert_eq!(fmtp_value("0-15", "x"), None);
    }

    /// Answers `offer` with the default capabilities and returns the accepted stream.
    fn negotiate(offer: &str) -> NegotiatedStream {
        let config = Config::default();
        let media = MediaPolicy::from_config(&config);
        let ours = IpAddr::from([127, 0, 0, 1]);
        let caps = capability::capabilities(&config.codecs.preferences, &media);
        let mut local = capability::local_policy(&caps, &media, ours);
        local.rtp_ports = vec![36000];
        let offer = SessionDescription::parse(offer.as_bytes()).unwrap();
        let (_, negotiated) = LocalSession::new("tandem", 1, ours).answer(&offer, &local);
        negotiated.streams[0]
            .accepted()
            .expect("a common codec")
            .clone()
    }

    const SIPP_OFFER: &str = "v=0\r\no=user1 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6100 RTP/AVP 8 101\r\n\
        a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-11,16\r\na=ptime:30\r\n";

    #[test]
    fn an_sdp_answer_maps_to_a_leg() {
        let stream = negotiate(SIPP_OFFER);
        let leg = leg_spec_for(&stream, &policy()).unwrap();
        assert_eq!(leg.codec.format, Format::PCMA);
        assert_eq!(leg.codec.payload_type, PayloadType::PCMA);
        assert_eq!(leg.codec.ptime_ms, 30);
        assert_eq!(leg.telephone_event, PayloadType::new(101));
        assert_eq!(leg.remote, Some("127.0.0.1:6100".parse().unwrap()));
    }

    #[test]
    fn an_opus_answer_runs_at_the_peers_playback_rate() {
        let stream = negotiate(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 6000 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n\
             a=fmtp:111 maxplaybackrate=16000;useinbandfec=1\r\n",
        );
        let leg = leg_spec_for(&stream, &policy()).unwrap();
        assert_eq!(leg.codec.format, Format::opus(16000));
        assert_eq!(leg.codec.payload_type, PayloadType::new(111).unwrap());
        assert_eq!(leg.telephone_event, None);
    }

    #[test]
    fn a_peer_on_hold_gives_a_leg_without_remote() {
        let stream = negotiate(&SIPP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"));
        assert_eq!(leg_spec_for(&stream, &policy()).unwrap().remote, None);
    }

    #[test]
    fn renumbered_payload_types_are_refused() {
        let mut stream = negotiate(SIPP_OFFER);
        stream.receive_payload_type = SdpPayloadType::new(9).unwrap();
        assert_eq!(
            leg_spec_for(&stream, &policy()),
            Err(MediaError::AsymmetricPayloadType {
                send: 8,
                receive: 9
            })
        );
        let mut stream = negotiate(SIPP_OFFER);
        if let Some(te) = stream.telephone_event.as_mut() {
            te.receive_payload_type = SdpPayloadType::new(100).unwrap();
        }
        assert_eq!(
            leg_spec_for(&stream, &policy()),
            Err(MediaError::AsymmetricPayloadType {
                send: 101,
                receive: 100
            })
        );
    }
}
