//! The `tandem run` configuration: one TOML file in which every key has a default, so an
//! empty file (or none) is a working configuration, and command-line overrides on top.
//!
//! # Contract
//!
//! - A [`Config`] is always valid: leaf values are validated types ([`values`]) checked while
//!   the file is read, so a bad value is reported with its line and column; relations between
//!   keys are checked by [`Config::validate`] after the command-line [`Overrides`] are applied.
//! - Unknown keys are errors (every table is `deny_unknown_fields`): a misspelt key never
//!   silently falls back to a default.
//! - Precedence: command line > file > defaults ([`Config::load`]).
//!
//! `tandem.example.toml` at the repository root documents every key; a test parses it.

mod load;
mod overrides;
pub mod values;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use tandem_codecs::{CodecError, CodecId, EncoderConfig, Format, OpusApplication, OpusConfig};
use tandem_core::runtime::RuntimeConfig;

pub use load::ConfigError;
pub use overrides::Overrides;
pub use values::{
    CodecPref, JitterBuffer, JitterDelayError, JitterSettings, LogFilter, MediaIo, MediaPorts,
    RealtimePriority, SipUriText, UriPattern, ValueError, Workers,
};

/// The whole configuration. See the module docs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[log]`: what is logged.
    pub log: LogSection,
    /// `[sip]`: SIP listeners and behaviour.
    pub sip: SipSection,
    /// `[media]`: the media runtime.
    pub media: MediaSection,
    /// `[api]`: the REST + WebSocket control API.
    pub api: ApiSection,
    /// `[ng]`: the rtpengine-compatible ng control protocol.
    pub ng: NgSection,
    /// `[recording]`: where call recordings go.
    pub recording: RecordingSection,
    /// `[limits]`: overload protection.
    pub limits: Limits,
    /// `[codecs]`: what Tandem offers and prefers.
    pub codecs: CodecSection,
    /// `[opus]`: Opus encoder settings.
    pub opus: OpusSettings,
    /// `[[endpoints]]`: SIP users that authenticate to Tandem.
    pub endpoints: Vec<Endpoint>,
    /// `[[routes]]`: request URIs routed to other SIP targets (B2BUA gateway), tried in order.
    pub routes: Vec<Route>,
    /// `[[registrations]]`: upstream registrars Tandem registers with.
    pub registrations: Vec<Registration>,
    /// `[dns]`: how SIP targets given by host name are looked up.
    pub dns: DnsSection,
}

/// `[dns]`: the resolver for route targets, registered contacts and registrars given by
/// name (RFC 3263: SRV, then A/AAAA; `/etc/hosts` first).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsSection {
    /// DNS servers to ask (`"IP:PORT"`); empty uses the system's `/etc/resolv.conf`.
    pub servers: Vec<SocketAddr>,
    /// How long one DNS query may take, milliseconds (default 2000; 1 to 30000).
    pub timeout_ms: u64,
}

impl Default for DnsSection {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            timeout_ms: 2000,
        }
    }
}

impl DnsSection {
    /// The longest `timeout_ms` accepted: a call waits this long (twice) for a name at most.
    pub const MAX_TIMEOUT_MS: u64 = 30_000;

    /// [`Self::timeout_ms`] as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// A `tracing-subscriber` filter (default `info`). `RUST_LOG`, when set, wins.
    pub level: LogFilter,
}

/// `[sip]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipSection {
    /// Address of the SIP listeners (default 127.0.0.1:5060). Port 0 picks a free port, the
    /// same one for UDP and TCP.
    pub listen: SocketAddr,
    /// Listen on UDP (default on).
    pub udp: bool,
    /// Listen on TCP (default on).
    pub tcp: bool,
    /// A TCP connection with no traffic either way for this long is closed; 0 keeps idle
    /// connections open (default 300 s).
    pub tcp_idle_timeout_s: u64,
    /// The digest realm of endpoints that do not name their own (default `tandem`).
    pub realm: String,
    /// On SIGTERM/SIGINT, how long calls may take to end (BYE) before the process stops
    /// anyway (default 10 s).
    pub drain_timeout_s: u64,
    /// Source networks SIP is served to, CIDR (default: every source); messages from
    /// elsewhere are dropped unanswered and TCP connections closed at once.
    pub allow: Vec<crate::acl::Network>,
}

impl Default for SipSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5060),
            udp: true,
            tcp: true,
            tcp_idle_timeout_s: 300,
            realm: "tandem".into(),
            drain_timeout_s: 10,
            allow: Vec::new(),
        }
    }
}

impl SipSection {
    /// [`Self::tcp_idle_timeout_s`] as a duration; `None` when idle connections stay open.
    pub fn tcp_idle_timeout(&self) -> Option<Duration> {
        (self.tcp_idle_timeout_s > 0).then(|| Duration::from_secs(self.tcp_idle_timeout_s))
    }

    /// [`Self::drain_timeout_s`] as a duration.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_s)
    }
}

/// `[media]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSection {
    /// Address RTP/RTCP sockets bind and SDP advertises (default 127.0.0.1).
    pub interface: IpAddr,
    /// RTP/RTCP port range, `MIN-MAX` (default `20000-29999`), split between workers.
    pub ports: MediaPorts,
    /// Media workers; absent means one per core.
    pub workers: Option<Workers>,
    /// A call whose peer sends no RTP for this long is torn down; 0 disables it (default 30 s).
    pub timeout_s: u32,
    /// Packet I/O backend of the workers: `udp` (default) or `uring`, which falls back to
    /// `udp` with a log line where the kernel refuses io_uring.
    pub io: MediaIo,
    /// The jitter buffer of decoded legs: `adaptive` (default) or `fixed`.
    pub jitter_buffer: JitterBuffer,
    /// The adaptive buffer's least target delay, ms (default 50).
    pub jitter_buffer_min_ms: u32,
    /// The adaptive buffer's most delay, ms (default 500): a packet later is lost.
    pub jitter_buffer_max_ms: u32,
    /// The fixed buffer's delay, ms (default 40).
    pub jitter_buffer_fixed_ms: u32,
    /// `SCHED_FIFO` priority of the worker threads, 1–99; 0 (default) leaves them at normal
    /// priority. Needs `CAP_SYS_NICE` or `LimitRTPRIO=`; refused, the workers run anyway
    /// (a log line and `tandem_worker_realtime 0` say so).
    pub realtime_priority: RealtimePriority,
}

impl Default for MediaSection {
    fn default() -> Self {
        Self {
            interface: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: MediaPorts::default(),
            workers: None,
            timeout_s: 30,
            io: MediaIo::default(),
            jitter_buffer: JitterBuffer::default(),
            jitter_buffer_min_ms: JitterSettings::default().min_ms,
            jitter_buffer_max_ms: JitterSettings::default().max_ms,
            jitter_buffer_fixed_ms: JitterSettings::default().fixed_ms,
            realtime_priority: RealtimePriority::default(),
        }
    }
}

impl MediaSection {
    /// The worker count: as configured, else one per core.
    pub fn workers(&self) -> usize {
        self.workers.unwrap_or_else(Workers::per_core).get()
    }

    /// The jitter buffer keys together.
    pub fn jitter(&self) -> JitterSettings {
        JitterSettings {
            mode: self.jitter_buffer,
            min_ms: self.jitter_buffer_min_ms,
            max_ms: self.jitter_buffer_max_ms,
            fixed_ms: self.jitter_buffer_fixed_ms,
        }
    }

    /// The media timeout in ms as [`tandem_core::session::LegSpec`] takes it (0 = off).
    pub fn timeout_ms(&self) -> u32 {
        self.timeout_s.saturating_mul(1000)
    }

    /// The media runtime's configuration: workers, bind address, port range and packet I/O
    /// backend; everything else at the runtime's defaults.
    pub fn runtime_config(&self) -> RuntimeConfig {
        RuntimeConfig {
            workers: self.workers(),
            bind: self.interface,
            io: self.io.kind(),
            ports: self.ports.range(),
            realtime_priority: self.realtime_priority.get(),
            ..RuntimeConfig::default()
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// REST + WebSocket listen address (default 127.0.0.1:8088).
    pub listen: SocketAddr,
    /// API keys accepted as `Authorization: Bearer KEY` or `?api_key=KEY` (default none).
    pub keys: Vec<String>,
    /// `[[api.users]]`: basic-auth users (default none). With no keys and no users the API
    /// needs no credentials.
    pub users: Vec<crate::api::auth::ApiUser>,
    /// Source networks allowed to use the API, CIDR (default: every source).
    pub allow: Vec<crate::acl::Network>,
}

impl Default for ApiSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8088),
            keys: Vec::new(),
            users: Vec::new(),
            allow: Vec::new(),
        }
    }
}

/// `[ng]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NgSection {
    /// ng protocol listen address, UDP (default 127.0.0.1:2223, rtpengine's customary port).
    pub listen: SocketAddr,
    /// Also listen on TCP at the same address, as rtpengine's `listen-tcp-ng` (default off,
    /// as in rtpengine: Kamailio and OpenSIPS speak UDP unless told `tcp:`).
    pub tcp: bool,
    /// Source networks the ng protocol is served to, CIDR (default: every source);
    /// datagrams from elsewhere are dropped unanswered and TCP connections closed at once.
    pub allow: Vec<crate::acl::Network>,
    /// Where the digits of ng calls are reported, one JSON datagram each, as rtpengine's
    /// `dtmf-log-dest` (default: nowhere); a call's own `DTMF-log-dest` overrides it.
    pub dtmf_log_dest: Option<SocketAddr>,
}

impl Default for NgSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2223),
            tcp: false,
            allow: Vec::new(),
            dtmf_log_dest: None,
        }
    }
}

/// `[recording]`: call recordings (ng `start recording`, `record call`; REST
/// `POST /channels/{id}/record`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingSection {
    /// Directory of the WAV files, created when the first recording starts (default
    /// `recordings`, relative to the working directory).
    pub dir: std::path::PathBuf,
}

impl Default for RecordingSection {
    fn default() -> Self {
        Self {
            dir: std::path::PathBuf::from("recordings"),
        }
    }
}

/// `[limits]`: when to answer new calls with 503 and Retry-After.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most calls at once; 0 means only the workers' capacity limits them (default 2000).
    pub max_calls: u32,
    /// Most new calls per second; 0 means no rate limit (default 1000).
    pub calls_per_second: u32,
    /// The Retry-After of a 503, seconds (default 5).
    pub retry_after_s: u32,
    /// Most SIP transactions alive at once; beyond it new requests get a stateless 503
    /// (default 131,072). Finished transactions linger for retransmissions (RFC 3261 Timer
    /// J, RFC 6026 Timer L: 32 s over UDP), two per call, so a sustained rate of R calls/s
    /// needs about 64 × R.
    pub max_transactions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_calls: 2000,
            calls_per_second: 1000,
            retry_after_s: 5,
            max_transactions: 131_072,
        }
    }
}

/// `[codecs]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodecSection {
    /// Codecs in order of preference (default opus, G722, PCMU, PCMA). Endpoints without
    /// their own list use it; codecs not listed are still accepted, after these.
    pub preferences: Vec<CodecPref>,
    /// Offer and accept RFC 4733 telephone-events (default on).
    pub telephone_event: bool,
    /// The packet time Tandem asks for in its SDP (`a=ptime`), ms (default 20).
    pub ptime_ms: u32,
}

impl Default for CodecSection {
    fn default() -> Self {
        Self {
            preferences: [CodecId::Opus, CodecId::G722, CodecId::Pcmu, CodecId::Pcma]
                .map(CodecPref::any_rate)
                .to_vec(),
            telephone_event: true,
            ptime_ms: 20,
        }
    }
}

/// What the Opus encoder optimises for (`[opus] application`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Application {
    /// Speech intelligibility (default).
    #[default]
    Voip,
    /// Fidelity for music and mixed content.
    Audio,
    /// The lowest delay.
    #[serde(alias = "low-delay")]
    LowDelay,
}

impl From<Application> for OpusApplication {
    fn from(a: Application) -> Self {
        match a {
            Application::Voip => OpusApplication::Voip,
            Application::Audio => OpusApplication::Audio,
            Application::LowDelay => OpusApplication::LowDelay,
        }
    }
}

/// `[opus]` as written in the file, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawOpus {
    channels: u8,
    complexity: u8,
    bitrate: Option<u32>,
    application: Application,
    fec: bool,
    dtx: bool,
    sample_rate: u32,
}

impl Default for RawOpus {
    fn default() -> Self {
        let d = OpusConfig::default();
        Self {
            channels: d.channels,
            complexity: d.complexity,
            bitrate: d.bitrate_bps,
            application: Application::Voip,
            fec: d.inband_fec,
            dtx: d.dtx,
            sample_rate: 48000,
        }
    }
}

/// `[opus]`: Opus encoder settings, checked by building an encoder with them (so the rules
/// are libopus's and `tandem-codecs`', not a copy of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawOpus")]
pub struct OpusSettings {
    /// The encoder configuration (channels, complexity, bitrate, application, FEC, DTX).
    pub encoder: OpusConfig,
    /// The highest rate Opus legs run at, Hz (8000, 12000, 16000, 24000 or 48000; default
    /// 48000); a peer's `maxplaybackrate` lowers it (RFC 7587 §6.1).
    pub sample_rate: u32,
}

impl Default for OpusSettings {
    fn default() -> Self {
        Self {
            encoder: OpusConfig::default(),
            sample_rate: 48000,
        }
    }
}

impl TryFrom<RawOpus> for OpusSettings {
    type Error = CodecError;

    fn try_from(raw: RawOpus) -> Result<Self, CodecError> {
        let encoder = OpusConfig {
            channels: raw.channels,
            complexity: raw.complexity,
            bitrate_bps: raw.bitrate,
            application: raw.application.into(),
            inband_fec: raw.fec,
            dtx: raw.dtx,
            ..OpusConfig::default()
        };
        let config = EncoderConfig {
            opus: encoder,
            ..EncoderConfig::default()
        };
        tandem_codecs::registry::new_encoder(Format::opus(raw.sample_rate), &config)?;
        Ok(Self {
            encoder,
            sample_rate: raw.sample_rate,
        })
    }
}

/// `[[endpoints]]` as written, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    username: String,
    password: String,
    realm: Option<String>,
    codecs: Option<Vec<CodecPref>>,
}

/// An endpoint problem found while reading `[[endpoints]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The username is empty or holds characters a SIP user part cannot carry unescaped.
    #[error("endpoint username {0:?} must be non-empty with no whitespace, '@' or ':'")]
    Username(String),
    /// The password is empty.
    #[error("endpoint {0:?} has an empty password")]
    EmptyPassword(String),
    /// The codec list is empty.
    #[error("endpoint {0:?} has an empty codec list (leave `codecs` out to use [codecs])")]
    NoCodecs(String),
}

/// A SIP user that authenticates to Tandem with digest authentication (RFC 8760).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawEndpoint")]
pub struct Endpoint {
    /// The digest username (and the user part of its address of record).
    pub username: String,
    /// The digest password.
    pub password: String,
    /// Its realm; `None` uses `[sip] realm` ([`Config::realm_of`]).
    pub realm: Option<String>,
    /// Its codec preferences; `None` uses `[codecs] preferences` ([`Config::codecs_of`]).
    pub codecs: Option<Vec<CodecPref>>,
}

impl TryFrom<RawEndpoint> for Endpoint {
    type Error = EndpointError;

    fn try_from(raw: RawEndpoint) -> Result<Self, EndpointError> {
        if raw.username.is_empty()
            || raw
                .username
                .contains(|c: char| c.is_whitespace() || c == '@' || c == ':')
        {
            return Err(EndpointError::Username(raw.username));
        }
        if raw.password.is_empty() {
            return Err(EndpointError::EmptyPassword(raw.username));
        }
        if raw.codecs.as_ref().is_some_and(Vec::is_empty) {
            return Err(EndpointError::NoCodecs(raw.username));
        }
        Ok(Self {
            username: raw.username,
            password: raw.password,
            realm: raw.realm,
            codecs: raw.codecs,
        })
    }
}

/// `[[routes]]` as written, before validation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(rename = "match")]
    pattern: UriPattern,
    target: String,
    codecs: Option<Vec<CodecPref>>,
}

/// A route problem found while reading `[[routes]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The target is not a SIP URI.
    #[error(transparent)]
    Target(#[from] ValueError),
    /// The target refers to a capture group the pattern does not have.
    #[error("target {target:?} refers to group `{group}`, which pattern {pattern:?} does not have")]
    UnknownGroup {
        /// The target template.
        target: String,
        /// The group reference.
        group: String,
        /// The pattern.
        pattern: String,
    },
    /// The codec list is empty.
    #[error("route {pattern:?} has an empty codec list (leave `codecs` out to use [codecs])")]
    NoCodecs {
        /// The pattern.
        pattern: String,
    },
}

/// A gateway route: request URIs matching `pattern` are bridged to `target` (a B2BUA call).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawRoute")]
pub struct Route {
    /// Matched against the whole printed request URI (`match` in the file).
    pub pattern: UriPattern,
    /// The target URI; `$1`, `${name}` insert the pattern's capture groups (`$$` is a `$`).
    /// Without groups it was parsed as a SIP URI at load time; with groups only its scheme
    /// was checked, and the SIP layer parses each expanded target.
    pub target: String,
    /// Codecs to offer on the outgoing leg, in order; `None` uses `[codecs] preferences`.
    pub codecs: Option<Vec<CodecPref>>,
}

impl Route {
    /// The target for `request_uri`, with capture groups substituted, if the pattern matches.
    pub fn target_for(&self, request_uri: &str) -> Option<String> {
        let captures = self.pattern.regex().captures(request_uri)?;
        let mut target = String::new();
        captures.expand(&self.target, &mut target);
        Some(target)
    }
}

/// The capture-group references in a `regex` replacement template (`$1`, `$name`, `${x}`).
fn group_references(template: &str) -> Vec<&str> {
    let mut refs = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            rest = after;
        } else if let Some(braced) = rest.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => {
                    refs.push(&braced[..end]);
                    rest = &braced[end + 1..];
                }
                None => rest = braced,
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end > 0 {
                refs.push(&rest[..end]);
            }
            rest = &rest[end..];
        }
    }
    refs
}

impl TryFrom<RawRoute> for Route {
    type Error = RouteError;

    fn try_from(raw: RawRoute) -> Result<Self, RouteError> {
        let groups = group_references(&raw.target);
        if groups.is_empty() {
            raw.target.parse::<SipUriText>()?;
        } else {
            // A template is a URI only once its groups are in: check what can be checked now
            // (the scheme); the SIP layer parses each expanded target.
            let lower = raw.target.to_ascii_lowercase();
            if !(lower.starts_with("sip:") || lower.starts_with("sips:")) {
                return Err(RouteError::Target(ValueError::SipUri {
                    text: raw.target,
                    reason: "not a sip: or sips: URI".into(),
                }));
            }
        }
        let regex = raw.pattern.regex();
        for group in groups {
            let known = match group.parse::<usize>() {
                Ok(index) => index < regex.captures_len(),
                Err(_) => regex.capture_names().flatten().any(|n| n == group),
            };
            if !known {
                return Err(RouteError::UnknownGroup {
                    target: raw.target.clone(),
                    group: group.to_owned(),
                    pattern: regex.as_str().to_owned(),
                });
            }
        }
        if raw.codecs.as_ref().is_some_and(Vec::is_empty) {
            return Err(RouteError::NoCodecs {
                pattern: regex.as_str().to_owned(),
            });
        }
        Ok(Self {
            pattern: raw.pattern,
            target: raw.target,
            codecs: raw.codecs,
        })
    }
}

/// An outbound registration: Tandem registers with an upstream registrar and keeps the
/// binding fresh, re-registering before it lapses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// The registrar's URI (the REGISTER's request URI).
    pub registrar: SipUriText,
    /// The user registered (the address of record's user part).
    pub user: String,
    /// The digest password.
    pub password: String,
    /// The digest username, when it differs from `user`.
    pub auth_user: Option<String>,
    /// The address of record; absent means `sip:<user>@<registrar host>`.
    pub aor: Option<SipUriText>,
    /// The binding lifetime asked for, seconds (default 3600).
    #[serde(default = "default_expires_s")]
    pub expires_s: u32,
}

fn default_expires_s() -> u32 {
    3600
}

/// A relation between keys that does not hold (checked by [`Config::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// Neither SIP transport is on.
    #[error("[sip] udp and tcp are both false: nothing would listen for SIP")]
    NoSipTransport,
    /// Fewer port pairs than workers.
    #[error(
        "[media] ports {ports} hold {pairs} RTP/RTCP pairs, fewer than the {workers} workers \
         that share them"
    )]
    PortsPerWorker {
        /// The range.
        ports: String,
        /// Its pairs.
        pairs: usize,
        /// The workers.
        workers: usize,
    },
    /// Two endpoints with the same username in the same realm.
    #[error("[[endpoints]] username {username:?} appears twice in realm {realm:?}")]
    DuplicateEndpoint {
        /// The username.
        username: String,
        /// The realm.
        realm: String,
    },
    /// Two listeners on the same address and protocol.
    #[error("{first} and {second} are both {addr} ({protocol})")]
    AddressClash {
        /// One key.
        first: &'static str,
        /// The other.
        second: &'static str,
        /// The address.
        addr: SocketAddr,
        /// UDP or TCP.
        protocol: &'static str,
    },
    /// The packet time cannot be used with a preferred codec.
    #[error("[codecs] ptime_ms = {ptime_ms}: {codec} does not packetize at that packet time")]
    Ptime {
        /// The packet time.
        ptime_ms: u32,
        /// The codec.
        codec: CodecId,
    },
    /// The preference list is empty.
    #[error("[codecs] preferences is empty: Tandem would have nothing to offer")]
    NoCodecs,
    /// The DNS timeout is zero or too long.
    #[error("[dns] timeout_ms = {0}: must be 1 to 30000")]
    DnsTimeout(u64),
    /// The jitter buffer's delays are out of range.
    #[error("[media] {0}")]
    JitterBuffer(#[from] JitterDelayError),
}

impl Config {
    /// Checks the relations between keys that single values cannot check alone.
    ///
    /// # Errors
    ///
    /// The first [`Invalid`] relation found.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !self.sip.udp && !self.sip.tcp {
            return Err(Invalid::NoSipTransport);
        }
        let range = self.media.ports.range();
        let workers = self.media.workers();
        if range.pairs() < workers {
            return Err(Invalid::PortsPerWorker {
                ports: self.media.ports.to_string(),
                pairs: range.pairs(),
                workers,
            });
        }
        let mut seen = std::collections::HashSet::new();
        for endpoint in &self.endpoints {
            let realm = self.realm_of(endpoint);
            if !seen.insert((endpoint.username.as_str(), realm)) {
                return Err(Invalid::DuplicateEndpoint {
                    username: endpoint.username.clone(),
                    realm: realm.to_owned(),
                });
            }
        }
        self.check_clashes()?;
        if self.codecs.preferences.is_empty() {
            return Err(Invalid::NoCodecs);
        }
        self.media.jitter().check()?;
        if !(1..=DnsSection::MAX_TIMEOUT_MS).contains(&self.dns.timeout_ms) {
            return Err(Invalid::DnsTimeout(self.dns.timeout_ms));
        }
        let ptime_ms = self.codecs.ptime_ms;
        if let Some(pref) = self
            .codecs
            .preferences
            .iter()
            .find(|p| !p.descriptor().supports_ptime(ptime_ms))
        {
            return Err(Invalid::Ptime {
                ptime_ms,
                codec: pref.codec,
            });
        }
        Ok(())
    }

    /// Listeners of one protocol must not share an address (port 0 never clashes: each bind
    /// gets its own port).
    fn check_clashes(&self) -> Result<(), Invalid> {
        let mut listeners: Vec<(&'static str, SocketAddr, &'static str)> = Vec::new();
        if self.sip.udp {
            listeners.push(("[sip] listen", self.sip.listen, "UDP"));
        }
        if self.sip.tcp {
            listeners.push(("[sip] listen", self.sip.listen, "TCP"));
        }
        listeners.push(("[api] listen", self.api.listen, "TCP"));
        listeners.push(("[ng] listen", self.ng.listen, "UDP"));
        if self.ng.tcp {
            listeners.push(("[ng] listen", self.ng.listen, "TCP"));
        }
        for (i, &(first, addr, protocol)) in listeners.iter().enumerate() {
            let clash = listeners[i + 1..]
                .iter()
                .find(|&&(_, other, p)| p == protocol && other == addr && addr.port() != 0);
            if let Some(&(second, ..)) = clash {
                return Err(Invalid::AddressClash {
                    first,
                    second,
                    addr,
                    protocol,
                });
            }
        }
        Ok(())
    }

    /// The endpoint with `username` in `realm`, for digest authentication.
    pub fn endpoint(&self, username: &str, realm: &str) -> Option<&Endpoint> {
        self.endpoints
            .iter()
            .find(|e| e.username == username && self.realm_of(e) == realm)
    }

    /// The realm `endpoint` authenticates in: its own, else `[sip] realm`.
    pub fn realm_of<'a>(&'a self, endpoint: &'a Endpoint) -> &'a str {
        endpoint.realm.as_deref().unwrap_or(&self.sip.realm)
    }

    /// The codec preferences of `endpoint`: its own, else `[codecs] preferences`.
    pub fn codecs_of<'a>(&'a self, endpoint: &'a Endpoint) -> &'a [CodecPref] {
        endpoint
            .codecs
            .as_deref()
            .unwrap_or(&self.codecs.preferences)
    }

    /// The codecs to offer on a route's outgoing leg: its own, else `[codecs] preferences`.
    pub fn codecs_of_route<'a>(&'a self, route: &'a Route) -> &'a [CodecPref] {
        route.codecs.as_deref().unwrap_or(&self.codecs.preferences)
    }
}

#[cfg(test)]
mod tests;
