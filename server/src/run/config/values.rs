//! Validated leaf values of the configuration: each type parses from the text an operator
//! writes (in the TOML file or on the command line) and cannot hold an invalid value.
//!
//! Every type implements [`FromStr`] (the command line) and `TryFrom` of what TOML carries
//! (the file), both through the same check, so the file and the flags accept exactly the same
//! spellings. A rejected value is a [`ValueError`]; the file loader adds the line and column.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use serde::Deserialize;
use tandem_codecs::{CodecDescriptor, CodecId, registry};
use tandem_core::session::PlayoutSpec;
use tandem_drivers::packet::PortRange;
use tandem_drivers::packet::kernel::IoKind;
use tandem_sip::message::{SipUri, Uri};
use tracing::level_filters::LevelFilter;

/// A configuration value that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A port range that is not written `MIN-MAX`.
    #[error("port range {0:?} is not MIN-MAX (for example 20000-29999)")]
    PortRangeSyntax(String),
    /// A port range the media runtime cannot use.
    #[error(
        "port range {min}-{max} is unusable: MIN must be even and non-zero (RTP on even ports, \
         RTCP on the next, RFC 3550 §11) and MAX above MIN"
    )]
    PortRange {
        /// First port.
        min: u16,
        /// Last port.
        max: u16,
    },
    /// A worker count outside 1..=[`Workers::MAX`].
    #[error("workers = {0}: must be between 1 and {max}", max = Workers::MAX)]
    Workers(i64),
    /// A real-time priority outside 0..=99.
    #[error("realtime_priority = {0}: must be 0 (off) or a SCHED_FIFO priority from 1 to 99")]
    RealtimePriority(i64),
    /// A packet I/O backend other than `udp` or `uring`.
    #[error("io = {0:?}: must be \"udp\" or \"uring\"")]
    MediaIo(String),
    /// A codec name the registry does not know.
    #[error("unknown codec {0:?} (known: {known})", known = known_codecs())]
    UnknownCodec(String),
    /// A codec this build does not include.
    #[error("codec {codec} is not built in (cargo feature `{feature}`)")]
    CodecNotBuilt {
        /// The codec.
        codec: CodecId,
        /// The feature that builds it.
        feature: &'static str,
    },
    /// A codec rate that is not a number or that the codec does not run at.
    #[error("{codec} does not run at {rate:?} Hz")]
    CodecRate {
        /// The codec.
        codec: CodecId,
        /// The rate as written.
        rate: String,
    },
    /// A request-URI pattern that is not a valid regular expression.
    #[error("pattern {pattern:?} is not a valid regular expression: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// The regex crate's explanation.
        reason: String,
    },
    /// Something that should be a SIP URI is not one.
    #[error("{text:?} is not a SIP URI (sip:... or sips:...): {reason}")]
    SipUri {
        /// The text.
        text: String,
        /// What `tandem-sip`'s URI parser found wrong.
        reason: String,
    },
    /// A log filter that `tracing-subscriber` cannot parse.
    #[error("log level {filter:?} is not a valid filter: {reason}")]
    LogFilter {
        /// The filter.
        filter: String,
        /// Why.
        reason: String,
    },
}

fn known_codecs() -> String {
    registry::ALL
        .iter()
        .map(|d| d.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The media port range, written `MIN-MAX`: RTP/RTCP pairs start on even ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct MediaPorts(PortRange);

impl MediaPorts {
    /// The range as the media runtime takes it.
    pub fn range(self) -> PortRange {
        self.0
    }
}

impl Default for MediaPorts {
    /// DESIGN.md's 20000–29999.
    fn default() -> Self {
        Self(PortRange::DEFAULT)
    }
}

impl FromStr for MediaPorts {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        let syntax = || ValueError::PortRangeSyntax(text.to_owned());
        let (min, max) = text.split_once('-').ok_or_else(syntax)?;
        let min: u16 = min.trim().parse().map_err(|_| syntax())?;
        let max: u16 = max.trim().parse().map_err(|_| syntax())?;
        PortRange::new(min, max)
            .map(Self)
            .map_err(|_| ValueError::PortRange { min, max })
    }
}

impl TryFrom<String> for MediaPorts {
    type Error = ValueError;

    fn try_from(text: String) -> Result<Self, ValueError> {
        text.parse()
    }
}

impl fmt::Display for MediaPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0.min(), self.0.max())
    }
}

/// The media workers' packet I/O backend, `udp` or `uring` (see
/// [`tandem_drivers::packet::kernel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "String")]
pub struct MediaIo(IoKind);

impl MediaIo {
    /// The backend.
    pub fn kind(self) -> IoKind {
        self.0
    }
}

impl fmt::Display for MediaIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<String> for MediaIo {
    type Error = ValueError;

    fn try_from(text: String) -> Result<Self, ValueError> {
        text.parse()
    }
}

impl FromStr for MediaIo {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        text.parse::<IoKind>()
            .map(Self)
            .map_err(|_| ValueError::MediaIo(text.to_owned()))
    }
}

/// The jitter buffer of the legs Tandem decodes (transcoding, conference, recording to
/// mixed audio): `adaptive` (the default; its delay follows the network's, see
/// `tandem_dsp::jitter`) or `fixed` (a constant 40 ms playout delay, late packets lost: cheaper
/// per leg, and a delay that never moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JitterBuffer {
    /// Delay from the observed arrival-delay distribution, time-stretched.
    #[default]
    Adaptive,
    /// A constant delay.
    Fixed,
}

/// `[media]`'s jitter buffer keys together: which buffer decoded legs take, and the delays of
/// each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterSettings {
    /// `jitter_buffer`: the buffer a leg takes unless asked for the other.
    pub mode: JitterBuffer,
    /// `jitter_buffer_min_ms`: the adaptive buffer's least target delay.
    pub min_ms: u32,
    /// `jitter_buffer_max_ms`: the adaptive buffer's most delay.
    pub max_ms: u32,
    /// `jitter_buffer_fixed_ms`: the fixed buffer's delay.
    pub fixed_ms: u32,
}

impl Default for JitterSettings {
    fn default() -> Self {
        Self {
            mode: JitterBuffer::default(),
            min_ms: PlayoutSpec::DEFAULT_MIN_DELAY_MS,
            max_ms: PlayoutSpec::DEFAULT_MAX_DELAY_MS,
            fixed_ms: PlayoutSpec::DEFAULT_FIXED_DELAY_MS,
        }
    }
}

/// Jitter buffer delays the buffers cannot run with (named as the `[media]` keys and the REST
/// channel fields that set them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JitterDelayError {
    /// The adaptive buffer's bounds are out of range or crossed.
    #[error(
        "jitter_buffer_min_ms = {min_ms} and jitter_buffer_max_ms = {max_ms}: the most must be \
         10 to {limit} ms and the least no more than the most"
    )]
    Bounds {
        /// The least target delay.
        min_ms: u32,
        /// The most delay.
        max_ms: u32,
        /// The largest most delay.
        limit: u32,
    },
    /// The fixed buffer's delay is more than it can hold.
    #[error("jitter_buffer_fixed_ms = {delay_ms}: at most {max_ms}")]
    Fixed {
        /// The delay.
        delay_ms: u32,
        /// The most the fixed buffer holds.
        max_ms: u32,
    },
}

impl JitterSettings {
    /// Checks that both buffers can run with these delays.
    ///
    /// # Errors
    ///
    /// The first [`JitterDelayError`] found.
    pub fn check(&self) -> Result<(), JitterDelayError> {
        let limit = tandem_dsp::jitter::MAX_DELAY_LIMIT_MS;
        if !(10..=limit).contains(&self.max_ms) || self.min_ms > self.max_ms {
            return Err(JitterDelayError::Bounds {
                min_ms: self.min_ms,
                max_ms: self.max_ms,
                limit,
            });
        }
        let max_ms = PlayoutSpec::FIXED_MAX_DELAY_MS;
        if self.fixed_ms > max_ms {
            return Err(JitterDelayError::Fixed {
                delay_ms: self.fixed_ms,
                max_ms,
            });
        }
        Ok(())
    }

    /// The buffer of a leg: `mode` if the leg asks for one, else the configured mode; with
    /// that mode's configured delays.
    pub fn playout(&self, mode: Option<JitterBuffer>) -> PlayoutSpec {
        match mode.unwrap_or(self.mode) {
            JitterBuffer::Adaptive => PlayoutSpec::Adaptive {
                min_delay_ms: self.min_ms,
                max_delay_ms: self.max_ms,
            },
            JitterBuffer::Fixed => PlayoutSpec::Fixed {
                delay_ms: self.fixed_ms,
            },
        }
    }
}

/// How many media workers to run: 1..=[`Workers::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Workers(usize);

impl Workers {
    /// More workers than any machine we target has cores; a typo guard, not a tuning limit.
    pub const MAX: usize = 1024;

    /// One worker per core the process may run on.
    pub fn per_core() -> Self {
        Self(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// The count.
    pub fn get(self) -> usize {
        self.0
    }
}

impl TryFrom<i64> for Workers {
    type Error = ValueError;

    fn try_from(n: i64) -> Result<Self, ValueError> {
        match usize::try_from(n) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(ValueError::Workers(n)),
        }
    }
}

impl FromStr for Workers {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        // An unparsable number is reported as out of range: there is no useful difference.
        let n = text.trim().parse::<i64>().unwrap_or(-1);
        Self::try_from(n)
    }
}

/// `[media] realtime_priority`: 0 (default) leaves the workers at normal priority; 1..=99
/// runs them `SCHED_FIFO` at that priority (see `tandem_core::worker::priority`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct RealtimePriority(u8);

impl RealtimePriority {
    /// The priority asked for, `None` when off.
    pub fn get(self) -> Option<u8> {
        (self.0 > 0).then_some(self.0)
    }
}

impl TryFrom<i64> for RealtimePriority {
    type Error = ValueError;

    fn try_from(n: i64) -> Result<Self, ValueError> {
        match u8::try_from(n) {
            Ok(n) if n <= tandem_core::worker::priority::MAX_REALTIME_PRIORITY => Ok(Self(n)),
            _ => Err(ValueError::RealtimePriority(n)),
        }
    }
}

/// One entry of a codec preference list: a codec the registry knows, by RTP encoding name or
/// alias (`PCMU`, `ulaw`, `opus`...), optionally at one rate (`L16/16000`, `opus/16000`).
/// Without a rate, the codec runs at the rate media negotiation picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct CodecPref {
    /// The codec.
    pub codec: CodecId,
    /// The audio sample rate, when one is required.
    pub sample_rate: Option<u32>,
}

impl CodecPref {
    /// `codec` at whatever rate negotiation picks.
    pub const fn any_rate(codec: CodecId) -> Self {
        Self {
            codec,
            sample_rate: None,
        }
    }

    /// The codec's static facts.
    pub fn descriptor(&self) -> &'static CodecDescriptor {
        self.codec.descriptor()
    }
}

impl FromStr for CodecPref {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        let (name, rate) = match text.split_once('/') {
            Some((name, rate)) => (name, Some(rate)),
            None => (text, None),
        };
        let descriptor =
            registry::by_name(name.trim()).ok_or_else(|| ValueError::UnknownCodec(text.into()))?;
        let codec = descriptor.id;
        if !registry::is_built(codec) {
            return Err(ValueError::CodecNotBuilt {
                codec,
                feature: descriptor.feature.unwrap_or("default"),
            });
        }
        let sample_rate = match rate {
            None => None,
            Some(rate) => {
                let bad = || ValueError::CodecRate {
                    codec,
                    rate: rate.to_owned(),
                };
                let hz: u32 = rate.trim().parse().map_err(|_| bad())?;
                if !descriptor.supports_sample_rate(hz) {
                    return Err(bad());
                }
                Some(hz)
            }
        };
        Ok(Self { codec, sample_rate })
    }
}

impl TryFrom<String> for CodecPref {
    type Error = ValueError;

    fn try_from(text: String) -> Result<Self, ValueError> {
        text.parse()
    }
}

impl fmt::Display for CodecPref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.descriptor().name)?;
        match self.sample_rate {
            Some(hz) => write!(f, "/{hz}"),
            None => Ok(()),
        }
    }
}

/// A regular expression matched against the whole printed request URI.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct UriPattern(Regex);

impl UriPattern {
    /// The compiled expression.
    pub fn regex(&self) -> &Regex {
        &self.0
    }
}

impl FromStr for UriPattern {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        Regex::new(text).map(Self).map_err(|e| ValueError::Pattern {
            pattern: text.to_owned(),
            reason: regex_reason(&e),
        })
    }
}

/// What is wrong with a pattern, on one line: a syntax error from the regex crate spans
/// several (the pattern, a caret under the fault, `error: ...`), and configuration errors are
/// printed as one log line that already names the pattern.
fn regex_reason(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().map(str::trim).rfind(|l| !l.is_empty());
    last.map_or(text.clone(), |l| {
        l.strip_prefix("error: ").unwrap_or(l).to_owned()
    })
}

impl TryFrom<String> for UriPattern {
    type Error = ValueError;

    fn try_from(text: String) -> Result<Self, ValueError> {
        text.parse()
    }
}

/// A `sip:` or `sips:` URI, parsed by `tandem-sip` (RFC 3261 §19.1), kept with its text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SipUriText {
    text: String,
    uri: SipUri,
}

impl SipUriText {
    /// The URI as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URI.
    pub fn uri(&self) -> &SipUri {
        &self.uri
    }
}

impl FromStr for SipUriText {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        let error = |reason: String| ValueError::SipUri {
            text: text.to_owned(),
            reason,
        };
        match Uri::parse(text) {
            Ok(Uri::Sip(uri)) => Ok(Self {
                text: text.to_owned(),
                uri,
            }),
            Ok(_) => Err(error("not a sip: or sips: URI".into())),
            Err(e) => Err(error(e.to_string())),
        }
    }
}

impl TryFrom<String> for SipUriText {
    type Error = ValueError;

    fn try_from(text: String) -> Result<Self, ValueError> {
        text.parse()
    }
}

impl fmt::Display for SipUriText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A `tracing-subscriber` filter: a level (`info`) or directives (`info,tandem=debug`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LogFilter(String);

impl LogFilter {
    /// The filter as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LogFilter {
    fn default() -> Self {
        Self("info".into())
    }
}

impl FromStr for LogFilter {
    type Err = ValueError;

    fn from_str(text: &str) -> Result<Self, ValueError> {
        // `tracing-subscriber` reads a bare word as a target name ("verbose" enables
        // everything logged under a target called verbose, i.e. nothing); in a key called
        // `level` a bare word is meant as a level, so it must be one.
        if let Some(word) = text
            .split(',')
            .map(str::trim)
            .find(|d| !d.is_empty() && !d.contains(['=', '[']) && d.parse::<LevelFilter>().is_err())
        {
            return Err(ValueError::LogFilter {
                filter: text.to_owned(),
                reason: format!(
                    "{word:?} is not a level (off, error, warn, info, debug, trace);                      write target=level for a target"
                ),
            });
        }
        tracing_subscriber::EnvFilter::try_new(text)
            .map(|_| Self(text.to_owned()))
            .map_err(|e| ValueError::LogFilter {
                filter: text.to_owned(),
                reason: e.to_string(),
            })
    }
}

impl TryFrom<String> for LogFilter {
    type Error = ValueError;

    fn try_from(text: String) -> Result<Self, ValueError> {
        text.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_and_reject_odd_or_inverted_bounds() {
        let p: MediaPorts = "36000-36099".parse().unwrap();
        assert_eq!((p.range().min(), p.range().max()), (36000, 36099));
        assert_eq!(p.to_string(), "36000-36099");
        assert_eq!(
            "20001-29999".parse::<MediaPorts>(),
            Err(ValueError::PortRange {
                min: 20001,
                max: 29999
            })
        );
        assert_eq!(
            "30000-20000".parse::<MediaPorts>(),
            Err(ValueError::PortRange {
                min: 30000,
                max: 20000
            })
        );
        for bad in ["20000", "a-b", "20000-70000", "-5", ""] {
            assert_eq!(
                bad.parse::<MediaPorts>(),
                Err(ValueError::PortRangeSyntax(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn worker_counts_are_bounded() {
        assert_eq!("4".parse::<Workers>().unwrap().get(), 4);
        assert_eq!(Workers::try_from(0), Err(ValueError::Workers(0)));
        assert_eq!(Workers::try_from(-3), Err(ValueError::Workers(-3)));
        assert_eq!(Workers::try_from(5000), Err(ValueError::Workers(5000)));
        assert!("many".parse::<Workers>().is_err());
        assert!(Workers::per_core().get() >= 1);
    }

    #[test]
    fn codec_preferences_accept_names_aliases_and_rates() {
        let opus: CodecPref = "opus".parse().unwrap();
        assert_eq!(opus, CodecPref::any_rate(CodecId::Opus));
        let ulaw: CodecPref = "ulaw".parse().unwrap();
        assert_eq!(ulaw.codec, CodecId::Pcmu);
        assert_eq!(ulaw.to_string(), "PCMU");
        let l16: CodecPref = "L16/16000".parse().unwrap();
        assert_eq!(l16.sample_rate, Some(16000));
        assert_eq!(l16.to_string(), "L16/16000");
        assert_eq!(
            "speex".parse::<CodecPref>(),
            Err(ValueError::UnknownCodec("speex".into()))
        );
        assert_eq!(
            "PCMU/16000".parse::<CodecPref>(),
            Err(ValueError::CodecRate {
                codec: CodecId::Pcmu,
                rate: "16000".into()
            })
        );
        assert!(matches!(
            "opus/fast".parse::<CodecPref>(),
            Err(ValueError::CodecRate { .. })
        ));
    }

    #[test]
    fn g729_is_refused_unless_built() {
        let parsed = "G729".parse::<CodecPref>();
        if registry::is_built(CodecId::G729) {
            assert!(parsed.is_ok());
        } else {
            assert_eq!(
                parsed,
                Err(ValueError::CodecNotBuilt {
                    codec: CodecId::G729,
                    feature: "g729"
                })
            );
        }
    }

    #[test]
    fn patterns_must_compile() {
        let p: UriPattern = r"^sip:9(\d+)@".parse().unwrap();
        assert!(p.regex().is_match("sip:9123@example.com"));
        let err = "sip:(".parse::<UriPattern>().unwrap_err();
        assert!(matches!(err, ValueError::Pattern { ref pattern, .. } if pattern == "sip:("));
    }

    #[test]
    fn sip_uris_are_parsed_by_tandem_sip() {
        let uri: SipUriText = "sip:bob@127.0.0.1:5080".parse().unwrap();
        assert_eq!(uri.as_str(), "sip:bob@127.0.0.1:5080");
        assert_eq!(uri.uri().port, Some(5080));
        assert_eq!(uri.uri().user.as_deref(), Some("bob"));
        assert!(
            "SIPS:alice@example.com"
                .parse::<SipUriText>()
                .unwrap()
                .uri()
                .secure
        );
        for bad in [
            "bob@example.com",
            "sip:",
            "tel:+123",
            "sip:bob @x",
            "http://x",
        ] {
            assert!(
                matches!(bad.parse::<SipUriText>(), Err(ValueError::SipUri { ref text, .. }) if text == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn log_filters_are_checked_by_tracing_subscriber() {
        assert!("debug".parse::<LogFilter>().is_ok());
        assert!("info,tandem=trace".parse::<LogFilter>().is_ok());
        assert!("off".parse::<LogFilter>().is_ok());
        for bad in ["info,tandem=loud", "verbose", "info,chatty"] {
            assert!(
                matches!(bad.parse::<LogFilter>(), Err(ValueError::LogFilter { .. })),
                "{bad}"
            );
        }
    }
}
