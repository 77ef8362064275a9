//! The call table and the commands that change it: rtpengine's call model on Tandem's
//! runtime.
//!
//! # Model
//!
//! A call is keyed by `call-id`; its two sides (rtpengine's monologues) by their tags: the
//! `from-tag` of the first offer is side 0, the `to-tag` of the answer side 1. One runtime
//! session carries the call's audio: leg 0 faces side 0, leg 1 faces side 1.
//!
//! - `offer` from side `o`: Tandem opens both legs at once (a relay placeholder on the
//!   offerer's codec, no media timeout) because the SDP to the answerer must carry the port
//!   of leg `1 - o` before anything is known about the answerer. The SDP returned is the
//!   offer rewritten with that port and the codecs [`plan_offer`] chose.
//! - `answer`: the answerer's codec is known; the session is replaced, on the same ports
//!   ([`Runtime::replace_session`]), by a relay when the answerer chose one of the offerer's
//!   formats, else by a transcoder from the offerer's first usable format. The SDP returned
//!   is the answer rewritten with leg `o`'s port and the offerer's format.
//! - A re-offer (either side) keeps the ports; its answer replaces the session again.
//! - `delete` removes the session and the call; a media timeout does the same (logged).
//! - `block media` / `silence media` / `block DTMF` and their `un…` twins set the
//!   [controls](tandem_core::session::controls) of the leg facing the addressed side:
//!   media (or DTMF) *from* that side is no longer forwarded (or is silenced). The side is
//!   named by `from-tag` (or `label`); `all`, or no tag at all, means both sides. The
//!   controls live in the runtime's leg and survive the session being replaced on an
//!   answer or re-offer.
//!
//! - `asymmetric` (or `symmetric`, the default) in an offer or answer says how the endpoint
//!   whose SDP it carries sends: an asymmetric one receives elsewhere than it sends from,
//!   so its leg sends to its SDP's address instead of back to its source. `media-handover`
//!   lets the leg of the side whose SDP carries it follow that side to a new source address
//!   mid-call (each offer or answer from a side says it again, as Kamailio sends it).
//! - `loop-protect`: the SDP an `offer` or `answer` returns carries this table's mark
//!   ([`Calls::loop_mark`]); an `offer` or `answer` whose SDP already carries it (the
//!   message looped back through the proxy after Tandem rewrote it) is answered with its
//!   SDP untouched and changes nothing, so that the call's media does not loop through
//!   Tandem.
//!
//! Every method here blocks on the runtime (a worker's reply): the server calls them from a
//! blocking thread, never from the async reactor.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tandem_core::bus::{CommandError, QualitySample};
use tandem_core::runtime::{Runtime, RuntimeError};
use tandem_core::session::transcode::Transcode;
use tandem_core::session::{
    ControlChange, LegId, LegReport, LegSpec, PlaySource, SessionId, SessionSpec,
};
use tandem_sip::sdp::{Connection, Host, PayloadFormat, SessionDescription};

use super::bencode::{Value, dict};
use super::codecs::{PlanError, negotiated_codec, plan_offer};
use super::dtmf_log::DigitReport;
use super::flags::{FlagError, Flags};
use super::quality;
use super::sdp_rewrite::{Advertised, StreamError, audio_stream, is_marked, mark, rewrite};
use crate::api::Metrics;
use crate::api::quality::Track;
use crate::recordings::{IfExists, Recordings, RecordingsError, name_from};
use crate::run::media::{MediaError, MediaPolicy, NegotiatedMedia, leg_spec};
use tandem_core::recording::Channels;

/// Why a command failed; the reply's `error-reason` is the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// A required key is absent or not a string.
    #[error("missing or malformed key {0:?}")]
    Key(&'static str),
    /// No call with this `call-id`.
    #[error("Unknown call-ID")]
    UnknownCall,
    /// A tag that is neither side of the call.
    #[error("Unknown tag {0:?}")]
    UnknownTag(String),
    /// An `answer` without a pending offer.
    #[error("no offer is pending for this call")]
    NoOffer,
    /// The SDP does not parse.
    #[error("unparsable SDP: {0}")]
    Sdp(String),
    /// The SDP has no stream Tandem can carry.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The options are refused.
    #[error(transparent)]
    Flags(#[from] FlagError),
    /// The codec options leave nothing to offer.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The answer chose nothing that was offered.
    #[error("the answer accepts none of the offered codecs")]
    NoCommonCodec,
    /// The negotiated media cannot run.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The runtime refused (ports exhausted, overloaded...).
    #[error("media runtime: {0}")]
    Runtime(#[from] RuntimeError),
    /// A recording cannot start, stop or pause.
    #[error(transparent)]
    Recording(#[from] RecordingsError),
    /// `stop media` with nothing playing towards that side.
    #[error("no media is playing")]
    NotPlaying,
    /// `stop recording` or `pause recording` on a call that is not being recorded.
    #[error("the call is not being recorded")]
    NotRecording,
    /// The command or option is not implemented.
    #[error("{0} is not supported yet")]
    NotSupported(String),
    /// `delete` with `fatal` found no call with those tags.
    #[error("{}", NOT_DELETED)]
    NotDeleted,
}

/// What `delete` says when it finds no call with the given call-id and tags (rtpengine's
/// words, which Kamailio logs).
pub const NOT_DELETED: &str = "Call-ID not found or tags didn't match";

/// What one side sent in its last SDP.
#[derive(Debug, Clone, Default)]
struct Side {
    tag: String,
    label: Option<String>,
    /// Where its RTP goes (its SDP's address), `None` on hold.
    remote: Option<SocketAddr>,
    /// The format Tandem speaks with it, once answered.
    codec: Option<PayloadFormat>,
    /// Where its RTP comes from: the address its leg locked onto.
    source: Option<SocketAddr>,
    /// It receives elsewhere than it sends from (`asymmetric`): its leg sends to `remote`.
    asymmetric: bool,
    /// It may change address mid-call (`media-handover`): its leg follows it.
    media_handover: bool,
}

/// The first offerer of a call, as [`Calls::create`] opens it.
struct Offerer<'a> {
    tag: &'a str,
    format: &'a PayloadFormat,
    remote: Option<SocketAddr>,
    asymmetric: bool,
    media_handover: bool,
}

/// An offer waiting for its answer.
#[derive(Debug, Clone)]
struct PendingOffer {
    offerer: usize,
    plan: super::codecs::OfferPlan,
    offerer_ptime: Option<u32>,
    /// `ptime` of the offer: what Tandem sends towards the answerer.
    answerer_ptime: Option<u32>,
}

#[derive(Debug)]
struct Call {
    created: u64,
    created_us: u64,
    last_signal: u64,
    sides: [Side; 2],
    session: SessionId,
    ports: [SocketAddr; 2],
    via_branch: Option<String>,
    pending: Option<PendingOffer>,
    transcoding: bool,
    answered: bool,
    /// The legs of the answered session, to rebuild it (a relay becomes a transcoder when
    /// digits must be inserted).
    legs: Option<[LegSpec; 2]>,
    /// The codec pair counted in the metrics' transcoders while the session transcodes.
    transcoder: Option<(String, String)>,
    /// `DTMF-log-dest` of its offer or answer: where its digits are reported.
    dtmf_log_dest: Option<SocketAddr>,
    /// What each side's stream sounded like over time (leg index order).
    quality: [Track; 2],
}

/// The codec pair of a transcoding session with legs `legs`, by encoding name.
fn codec_pair(legs: &[LegSpec; 2]) -> (String, String) {
    let name = |leg: &LegSpec| leg.codec.format.codec.descriptor().name.to_owned();
    (name(&legs[0]), name(&legs[1]))
}

/// Moves a call's count in the metrics' transcoders from `counted` to `now`.
fn retally(
    metrics: &Metrics,
    counted: &mut Option<(String, String)>,
    now: Option<(String, String)>,
) {
    if *counted == now {
        return;
    }
    if let Some((a, b)) = counted.take() {
        metrics.transcoder_stopped(&a, &b);
    }
    if let Some((a, b)) = &now {
        metrics.transcoder_started(a, b);
    }
    *counted = now;
}

/// What a blocking command does to the addressed sides' legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaControl {
    /// `block media` (true) / `unblock media` (false): the side's media is not forwarded.
    BlockMedia(bool),
    /// `silence media` / `unsilence media`: the side's audio is forwarded as silence.
    SilenceMedia(bool),
    /// `block DTMF` / `unblock DTMF`: the side's DTMF is not forwarded (still reported).
    BlockDtmf(bool),
}

impl MediaControl {
    fn change(self) -> ControlChange {
        let mut change = ControlChange::NONE;
        match self {
            Self::BlockMedia(on) => change.block_media = Some(on),
            Self::SilenceMedia(on) => change.mute_in = Some(on),
            Self::BlockDtmf(on) => change.block_dtmf = Some(on),
        }
        change
    }
}

/// True when the message's `flags` list holds `name`.
fn has_flag(message: &Value, name: &str) -> bool {
    message
        .get("flags")
        .and_then(Value::as_list)
        .is_some_and(|flags| flags.iter().any(|f| f.as_str() == Some(name)))
}

/// The sides a blocking command addresses, as rtpengine reads them: `from-tag`, `label` or
/// `address` (the side whose SDP advertised that media address) names one; `all` (a key
/// or a flag), or none of them, means both.
fn addressed_sides(call: &Call, message: &Value) -> Result<[Option<usize>; 2], CallError> {
    let flagged_all = has_flag(message, "all");
    let keyed_all = message.get("all").is_some_and(|v| {
        v.as_int().is_some_and(|n| n != 0)
            || v.as_str()
                .is_some_and(|s| matches!(s, "all" | "yes" | "true"))
    });
    let by = |found: Option<usize>, name: String| {
        found
            .map(|i| [Some(i), None])
            .ok_or(CallError::UnknownTag(name))
    };
    let address = optional(message, "address");
    match (
        optional(message, "from-tag"),
        optional(message, "label"),
        address,
    ) {
        _ if flagged_all || keyed_all => Ok([Some(0), Some(1)]),
        (Some(tag), _, _) => by(call.sides.iter().position(|s| s.tag == tag), tag),
        (None, Some(label), _) => by(
            call.sides
                .iter()
                .position(|s| s.label.as_deref() == Some(label.as_str())),
            label,
        ),
        (None, None, Some(address)) => {
            // Every side whose SDP advertised that address (both, when they share it).
            let ip = address.trim().parse::<IpAddr>().ok();
            let at = |i: usize| {
                let side: &Side = &call.sides[i];
                (ip.is_some() && side.remote.map(|r| r.ip()) == ip).then_some(i)
            };
            match (at(0), at(1)) {
                (None, None) => Err(CallError::UnknownTag(address)),
                sides => Ok([sides.0, sides.1]),
            }
        }
        (None, None, None) => Ok([Some(0), Some(1)]),
    }
}

/// Counts for `statistics`.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    calls: u64,
    timeouts: u64,
    deleted: u64,
}

/// The call table. See the module docs.
#[derive(Debug)]
pub struct Calls {
    runtime: Arc<Runtime>,
    policy: MediaPolicy,
    interface: IpAddr,
    calls: HashMap<String, Call>,
    by_session: HashMap<SessionId, String>,
    totals: Totals,
    recordings: Arc<Recordings>,
    /// The `/metrics` counters: calls started and ended, transcoders per codec pair.
    metrics: Arc<Metrics>,
    /// `[ng] dtmf_log_dest`.
    dtmf_log_dest: Option<SocketAddr>,
    /// The value of `a=rtpengine` in SDPs rewritten with `loop-protect`: random per table,
    /// so that two Tandems in a chain each process the SDP once.
    loop_mark: String,
}

/// A fresh loop mark: 16 hex digits from the standard library's per-process random hash
/// keys (no dependency needed for a value that only has to differ between instances).
fn new_loop_mark() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_unix().1);
    format!("tandem-{:016x}", hasher.finish())
}

fn now_unix() -> (u64, u64) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (since.as_secs(), since.as_micros() as u64)
}

fn text<'a>(message: &'a Value, key: &'static str) -> Result<&'a str, CallError> {
    message
        .get(key)
        .and_then(Value::as_str)
        .ok_or(CallError::Key(key))
}

fn optional(message: &Value, key: &str) -> Option<String> {
    message.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Where a side's RTP goes: the stream's (or session's) `c=` and the `m=` port; `None` for
/// hold (`0.0.0.0`) or a name Tandem would have to resolve. `SIP-source-address` takes
/// the address from `received-from` instead.
fn remote_of(sdp: &SessionDescription, index: usize, flags: &Flags) -> Option<SocketAddr> {
    let port = sdp.media[index].port;
    let ip = sdp
        .media_connection(index)
        .and_then(|c: &Connection| match &c.address {
            Host::Ip(ip) if !ip.is_unspecified() => Some(*ip),
            _ => None,
        })?;
    let ip = match (flags.sip_source_address, flags.received_from) {
        (true, Some(from)) => from,
        _ => ip,
    };
    Some(SocketAddr::new(ip, port))
}

fn parse_sdp(message: &Value) -> Result<SessionDescription, CallError> {
    let bytes = message
        .get("sdp")
        .and_then(Value::as_bytes)
        .ok_or(CallError::Key("sdp"))?;
    SessionDescription::parse(bytes).map_err(|e| CallError::Sdp(e.to_string()))
}

/// The reply to a successful `offer` or `answer`.
fn sdp_reply(sdp: &SessionDescription, warnings: &[String]) -> Value {
    let mut entries = vec![(b"sdp".to_vec(), Value::Bytes(sdp.to_bytes()))];
    if !warnings.is_empty() {
        entries.push((b"warning".to_vec(), Value::str(&warnings.join("; "))));
    }
    entries.push((b"result".to_vec(), Value::str("ok")));
    Value::Dict(entries)
}

impl Calls {
    /// An empty table whose sessions run on `runtime`, legs built by `policy`, SDP
    /// advertising `interface`.
    /// Recordings go to [`crate::run::config::RecordingSection`]'s default directory until
    /// [`with_recordings`](Self::with_recordings) says otherwise.
    pub fn new(runtime: Arc<Runtime>, policy: MediaPolicy, interface: IpAddr) -> Self {
        let recordings = Recordings::new(
            Arc::clone(&runtime),
            crate::run::config::RecordingSection::default().dir,
        );
        Self {
            recordings,
            runtime,
            policy,
            interface,
            calls: HashMap::new(),
            by_session: HashMap::new(),
            totals: Totals::default(),
            metrics: Arc::new(Metrics::default()),
            dtmf_log_dest: None,
            loop_mark: new_loop_mark(),
        }
    }

    /// The value of `a=rtpengine` this table writes with `loop-protect`.
    pub fn loop_mark(&self) -> &str {
        &self.loop_mark
    }

    /// Counts calls and transcoders in `metrics` (the ones `/metrics` shows) instead of a
    /// private set.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// With recordings kept in `recordings` (shared with the REST API).
    pub fn with_recordings(mut self, recordings: Arc<Recordings>) -> Self {
        self.recordings = recordings;
        self
    }

    /// The recordings ng starts.
    pub fn recordings(&self) -> &Arc<Recordings> {
        &self.recordings
    }

    /// Calls in the table.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when no call is up.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The media policy legs are built with.
    pub fn policy(&self) -> &MediaPolicy {
        &self.policy
    }

    /// The legs of an answered call, leg 0 facing the first offerer: what the runtime runs.
    pub fn legs(&self, call_id: &str) -> Option<[LegSpec; 2]> {
        self.calls.get(call_id)?.legs
    }

    /// `offer`. See the module docs.
    ///
    /// # Errors
    ///
    /// [`CallError`]; nothing changes on error.
    pub fn offer(&mut self, message: &Value) -> Result<Value, CallError> {
        let call_id = text(message, "call-id")?.to_owned();
        let from_tag = text(message, "from-tag")?.to_owned();
        let mut flags = Flags::parse(message)?;
        // Checked before anything is opened.
        Self::advertised(self.interface, &flags, SocketAddr::new(self.interface, 0))?;
        let mut sdp = parse_sdp(message)?;
        if flags.loop_protect && is_marked(&sdp, &self.loop_mark) {
            return Ok(sdp_reply(&sdp, &flags.warnings));
        }
        let index = audio_stream(&sdp)?;
        let offered: Vec<PayloadFormat> = sdp.media[index].payload_formats().collect();
        let plan = plan_offer(&offered, &flags.codec, &self.policy)?;
        if !plan.unsupported.is_empty() {
            flags.warnings.push(format!(
                "codecs Tandem cannot run were removed: {}",
                plan.unsupported.join(", ")
            ));
        }
        let remote = remote_of(&sdp, index, &flags);
        let offerer_ptime = sdp.media[index].ptime_ms();
        let (now, now_us) = now_unix();
        let offerer = match self.calls.get(&call_id) {
            Some(call) if call.sides[0].tag == from_tag => 0,
            Some(call) if call.sides[1].tag == from_tag => 1,
            Some(_) => return Err(CallError::UnknownTag(from_tag)),
            None => {
                let first = Offerer {
                    tag: &from_tag,
                    format: &plan.offerer[0],
                    remote,
                    asymmetric: flags.asymmetric.unwrap_or(false),
                    media_handover: flags.media_handover,
                };
                self.create(&call_id, first, now, now_us)?;
                0
            }
        };
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Err(CallError::UnknownCall);
        };
        if let Some(moved) = remote.filter(|r| call.sides[offerer].remote != Some(*r)) {
            // A re-offer that moved: send there at once, learn the source again.
            self.runtime
                .set_remote(call.session, LegId(offerer as u32), moved)?;
        }
        let side = &mut call.sides[offerer];
        side.remote = remote;
        if let Some(asymmetric) = flags.asymmetric {
            side.asymmetric = asymmetric;
        }
        side.media_handover = flags.media_handover;
        if flags.label.is_some() {
            side.label = flags.label.clone();
        }
        if let Some(branch) = optional(message, "via-branch") {
            call.via_branch = Some(branch);
        }
        if flags.dtmf_log_dest.is_some() {
            call.dtmf_log_dest = flags.dtmf_log_dest;
        }
        call.last_signal = now;
        let ours = call.ports[1 - offerer];
        let advertised = Self::advertised(self.interface, &flags, ours)?;
        let disabled = rewrite(
            &mut sdp,
            index,
            &plan.answerer,
            advertised,
            &flags,
            flags.ptime_ms,
        );
        if disabled > 0 {
            flags.warnings.push(format!(
                "{disabled} other media stream(s) disabled: Tandem carries one audio stream"
            ));
        }
        if flags.loop_protect {
            mark(&mut sdp, index, &self.loop_mark);
        }
        call.pending = Some(PendingOffer {
            offerer,
            plan,
            offerer_ptime,
            answerer_ptime: flags.ptime_ms,
        });
        if flags.record_call {
            self.record(&call_id)?;
        }
        Ok(sdp_reply(&sdp, &flags.warnings))
    }

    fn advertised(
        interface: IpAddr,
        flags: &Flags,
        port: SocketAddr,
    ) -> Result<Advertised, CallError> {
        let address = flags.media_address.unwrap_or(interface);
        let family_ok = match flags.address_family.as_deref() {
            Some("IP4") => address.is_ipv4(),
            Some("IP6") => address.is_ipv6(),
            _ => true,
        };
        if !family_ok {
            return Err(
                FlagError::AddressFamily(flags.address_family.clone().unwrap_or_default()).into(),
            );
        }
        Ok(Advertised {
            address,
            rtp_port: port.port(),
        })
    }

    /// Opens the call's ports: a relay placeholder on the offerer's first format, leg 0
    /// sending to the offerer, no media timeout until the answer.
    fn create(
        &mut self,
        call_id: &str,
        offerer: Offerer<'_>,
        now: u64,
        now_us: u64,
    ) -> Result<(), CallError> {
        let Offerer {
            tag: from_tag,
            format,
            remote,
            asymmetric,
            media_handover,
        } = offerer;
        let mut policy = self.policy;
        policy.timeout_ms = 0;
        let media = NegotiatedMedia {
            codec: negotiated_codec(format, None),
            telephone_event: None,
            remote,
        };
        let a = leg_spec(&media, &policy)?
            .with_symmetric(!asymmetric)
            .with_media_handover(media_handover);
        let b = leg_spec(
            &NegotiatedMedia {
                remote: None,
                ..media
            },
            &policy,
        )?;
        let handle = self.runtime.create_session(&SessionSpec::Relay { a, b })?;
        let port = |i: usize| {
            handle
                .legs
                .iter()
                .find(|l| l.leg == LegId(i as u32))
                .map(|l| l.rtp)
        };
        let (Some(p0), Some(p1)) = (port(0), port(1)) else {
            let _ = self.runtime.remove_session(handle.id);
            return Err(CallError::Runtime(RuntimeError::UnknownSession(handle.id)));
        };
        self.by_session.insert(handle.id, call_id.to_owned());
        self.totals.calls += 1;
        self.metrics.call_started();
        self.calls.insert(
            call_id.to_owned(),
            Call {
                created: now,
                created_us: now_us,
                last_signal: now,
                sides: [
                    Side {
                        tag: from_tag.to_owned(),
                        remote,
                        asymmetric,
                        media_handover,
                        ..Side::default()
                    },
                    Side::default(),
                ],
                session: handle.id,
                ports: [p0, p1],
                via_branch: None,
                pending: None,
                transcoding: false,
                answered: false,
                legs: None,
                transcoder: None,
                dtmf_log_dest: None,
                quality: Default::default(),
            },
        );
        Ok(())
    }

    /// `answer`. See the module docs.
    ///
    /// # Errors
    ///
    /// [`CallError`]; the call keeps its previous media on error.
    pub fn answer(&mut self, message: &Value) -> Result<Value, CallError> {
        let call_id = text(message, "call-id")?;
        let from_tag = text(message, "from-tag")?;
        let to_tag = optional(message, "to-tag");
        let flags = Flags::parse(message)?;
        let mut sdp = parse_sdp(message)?;
        if flags.loop_protect && is_marked(&sdp, &self.loop_mark) {
            return Ok(sdp_reply(&sdp, &flags.warnings));
        }
        let index = audio_stream(&sdp)?;
        let call = self.calls.get_mut(call_id).ok_or(CallError::UnknownCall)?;
        let pending = call.pending.clone().ok_or(CallError::NoOffer)?;
        let o = pending.offerer;
        let a = 1 - o;
        if call.sides[o].tag != from_tag {
            return Err(CallError::UnknownTag(from_tag.to_owned()));
        }
        if flags.dtmf_log_dest.is_some() {
            call.dtmf_log_dest = flags.dtmf_log_dest;
        }
        let remote = remote_of(&sdp, index, &flags);
        let answer_formats: Vec<PayloadFormat> = sdp.media[index].payload_formats().collect();
        let offered = &pending.plan.answerer;
        // The first media format of the answer that was offered (RFC 3264 §6.1: the
        // answerer lists what it will receive, preferred first).
        let chosen = answer_formats
            .iter()
            .filter(|f| f.codec.is_media())
            .find(|f| {
                offered
                    .iter()
                    .any(|o| o.payload_type == f.payload_type || o.codec.same_encoding(&f.codec))
            })
            .cloned()
            .ok_or(CallError::NoCommonCodec)?;
        let answer_event = answer_formats
            .iter()
            .find(|f| f.codec.is_telephone_event() && f.codec.clock_rate == 8000)
            .cloned();
        let answerer_ptime = sdp.media[index].ptime_ms();
        // Relay when the offerer offered the chosen format itself; else transcode from the
        // offerer's first usable format.
        let relayed = pending
            .plan
            .offerer
            .iter()
            .find(|f| f.payload_type == chosen.payload_type && f.codec.same_encoding(&chosen.codec))
            .cloned();
        let offerer_format = relayed
            .clone()
            .unwrap_or_else(|| pending.plan.offerer[0].clone());
        let offerer_event = match &relayed {
            // A relay passes RFC 4733 through only when both sides have it.
            Some(_) => pending
                .plan
                .offerer_event
                .clone()
                .filter(|_| answer_event.is_some()),
            // A transcoder converts between RFC 4733 and in-band as each side negotiated.
            None => pending.plan.offerer_event.clone(),
        };
        let mut answerer_policy = self.policy;
        if let Some((_, bps)) = pending
            .plan
            .bitrates
            .iter()
            .find(|(pt, _)| *pt == chosen.payload_type.get())
        {
            answerer_policy.opus.encoder.bitrate_bps = Some(*bps);
        }
        let offerer_leg = leg_spec(
            &NegotiatedMedia {
                codec: negotiated_codec(&offerer_format, flags.ptime_ms.or(pending.offerer_ptime)),
                telephone_event: offerer_event.as_ref().map(|f| f.payload_type.get()),
                remote: call.sides[o].remote,
            },
            &self.policy,
        )?
        .with_symmetric(!call.sides[o].asymmetric)
        .with_media_handover(call.sides[o].media_handover);
        let answerer_asymmetric = flags.asymmetric.unwrap_or(call.sides[a].asymmetric);
        let answerer_leg = leg_spec(
            &NegotiatedMedia {
                codec: negotiated_codec(&chosen, pending.answerer_ptime.or(answerer_ptime)),
                telephone_event: answer_event
                    .as_ref()
                    .filter(|_| offered.iter().any(|f| f.codec.is_telephone_event()))
                    .map(|f| f.payload_type.get()),
                remote,
            },
            &answerer_policy,
        )?
        .with_symmetric(!answerer_asymmetric)
        .with_media_handover(flags.media_handover);
        // A `ptime` the proxy asked for is honoured by repacketizing (rtpengine engages its
        // transcoder for it); packet times that merely differ between the endpoints' own
        // SDPs are passed through, as rtpengine does.
        let ptime_asked = pending.answerer_ptime.is_some() || flags.ptime_ms.is_some();
        let repacketize = ptime_asked && offerer_leg.codec.ptime_ms != answerer_leg.codec.ptime_ms;
        let transcoding = relayed.is_none()
            || offerer_leg.codec.format != answerer_leg.codec.format
            || repacketize;
        let mut legs: [LegSpec; 2] = [offerer_leg, answerer_leg];
        if o == 1 {
            legs.swap(0, 1);
        }
        let [leg0, leg1] = legs;
        let spec = if transcoding {
            SessionSpec::Transcode { a: leg0, b: leg1 }
        } else {
            SessionSpec::Relay { a: leg0, b: leg1 }
        };
        // A repeated answer (183 then 200 with the same SDP) changes nothing: keep the
        // session, whose legs have learnt their peers already.
        if call.legs != Some([leg0, leg1]) {
            self.runtime.replace_session(call.session, &spec)?;
        }
        let (now, _) = now_unix();
        call.last_signal = now;
        call.transcoding = transcoding;
        call.answered = true;
        call.legs = Some([leg0, leg1]);
        let pair = transcoding.then(|| codec_pair(&[leg0, leg1]));
        retally(&self.metrics, &mut call.transcoder, pair);
        // The offer stays pending: a provisional and a final answer may both carry SDP.
        call.sides[o].codec = Some(offerer_format.clone());
        call.sides[a].codec = Some(chosen.clone());
        let chosen_format = chosen;
        call.sides[a].remote = remote;
        call.sides[a].asymmetric = answerer_asymmetric;
        call.sides[a].media_handover = flags.media_handover;
        if let Some(tag) = to_tag {
            call.sides[a].tag = tag;
        }
        if flags.label.is_some() {
            call.sides[a].label = flags.label.clone();
        }
        // A relay tells the offerer what the answerer accepts (its format parameters, the
        // same payload types); a transcoder tells it what Tandem accepts from it.
        let mut towards_offerer = vec![relayed.map_or(offerer_format, |_| chosen_format)];
        towards_offerer.extend(match (&answer_event, offerer_event) {
            (Some(answer), Some(ours))
                if !transcoding && answer.payload_type == ours.payload_type =>
            {
                Some(answer.clone())
            }
            (_, ours) => ours,
        });
        let advertised = Self::advertised(self.interface, &flags, call.ports[o])?;
        // rtpengine writes the packet time it sends with when it transcodes.
        let ptime = flags
            .ptime_ms
            .or_else(|| transcoding.then_some(legs_ptime(&spec, o)));
        rewrite(&mut sdp, index, &towards_offerer, advertised, &flags, ptime);
        if flags.loop_protect {
            mark(&mut sdp, index, &self.loop_mark);
        }
        if flags.record_call {
            let call_id = call_id.to_owned();
            self.record(&call_id)?;
        }
        Ok(sdp_reply(&sdp, &flags.warnings))
    }
}

fn legs_ptime(spec: &SessionSpec, leg: usize) -> u32 {
    match spec {
        SessionSpec::Relay { a, b } | SessionSpec::Transcode { a, b } => {
            if leg == 0 {
                a.codec.ptime_ms
            } else {
                b.codec.ptime_ms
            }
        }
        _ => 20,
    }
}

/// `{packets, bytes, errors}`.
fn counts(packets: u64, bytes: Option<u64>, errors: u64) -> Value {
    let mut entries = vec![(b"packets".to_vec(), Value::Int(packets as i64))];
    if let Some(bytes) = bytes {
        entries.push((b"bytes".to_vec(), Value::Int(bytes as i64)));
    }
    entries.push((b"errors".to_vec(), Value::Int(errors as i64)));
    Value::Dict(entries)
}

fn endpoint(address: SocketAddr) -> Value {
    dict([
        (
            "family",
            Value::str(if address.is_ipv4() { "IPv4" } else { "IPv6" }),
        ),
        ("address", Value::str(&address.ip().to_string())),
        ("port", Value::Int(i64::from(address.port()))),
    ])
}

impl Calls {
    fn call_id(message: &Value) -> Result<&str, CallError> {
        text(message, "call-id")
    }

    /// The statistics of a call in rtpengine's shape (a subset): `created`, `last signal`,
    /// `tags` with one `medias` entry per side holding the stream's local port, peer and
    /// received counters, and `totals` (RTP and RTCP received). RTCP is counted in
    /// packets only: Tandem does not count RTCP bytes, and says so by leaving `bytes` out.
    fn stats(&self, call: &Call) -> Result<Vec<(Vec<u8>, Value)>, CallError> {
        let mut reports: [Option<LegReport>; 2] = [None, None];
        for (i, report) in reports.iter_mut().enumerate() {
            *report = Some(self.runtime.leg_report(call.session, LegId(i as u32))?);
        }
        let mut tags = Vec::new();
        let mut ssrcs = Vec::new();
        let now = now_unix().0;
        let (mut rtp, mut rtp_bytes, mut rtp_errors, mut rtcp, mut rtcp_errors) = (0, 0, 0, 0, 0);
        for (i, side) in call.sides.iter().enumerate() {
            let Some(report) = reports[i] else { continue };
            let c = report.counters;
            rtp += c.rtp_accepted;
            rtp_bytes += c.rtp_bytes_accepted;
            rtp_errors += c.malformed + c.source_dropped;
            rtcp += c.rtcp_received;
            rtcp_errors += c.rtcp_dropped;
            let mut stream = vec![
                (
                    b"local port".to_vec(),
                    Value::Int(i64::from(call.ports[i].port())),
                ),
                (
                    b"local address".to_vec(),
                    Value::str(&call.ports[i].ip().to_string()),
                ),
            ];
            if let Some(peer) = report.peer.or(side.remote) {
                stream.push((b"endpoint".to_vec(), endpoint(peer)));
            }
            if let Some(advertised) = side.remote {
                stream.push((b"advertised endpoint".to_vec(), endpoint(advertised)));
            }
            stream.push((
                b"stats".to_vec(),
                counts(
                    c.rtp_accepted,
                    Some(c.rtp_bytes_accepted),
                    c.malformed + c.source_dropped,
                ),
            ));
            if let (Some(ssrc), Some(legs)) = (report.source_ssrc, &call.legs) {
                stream.push((b"SSRC".to_vec(), Value::Int(i64::from(ssrc.0))));
                if let Some(summary) = call.quality[i].summary(&report, &legs[i], now) {
                    let entry = quality::ssrc_entry(&summary);
                    ssrcs.push((ssrc.0.to_string().into_bytes(), entry));
                }
            }
            // Tandem's own: what it sent to this peer.
            stream.push((
                b"sent".to_vec(),
                counts(c.sent, Some(c.bytes_sent), c.send_dropped),
            ));
            let mut media = vec![
                (b"index".to_vec(), Value::Int(1)),
                (b"type".to_vec(), Value::str("audio")),
                (b"protocol".to_vec(), Value::str("RTP/AVP")),
            ];
            if let Some(codec) = &side.codec {
                let r = codec.rtpmap();
                let name = match r.channels {
                    Some(ch) => format!("{}/{}/{ch}", r.encoding_name, r.clock_rate),
                    None => format!("{}/{}", r.encoding_name, r.clock_rate),
                };
                media.push((b"codec".to_vec(), Value::str(&name)));
            }
            media.push((b"streams".to_vec(), Value::List(vec![Value::Dict(stream)])));
            let mut tag = vec![
                (b"tag".to_vec(), Value::str(&side.tag)),
                (b"created".to_vec(), Value::Int(call.created as i64)),
            ];
            if let Some(label) = &side.label {
                tag.push((b"label".to_vec(), Value::str(label)));
            }
            tag.push((
                b"in dialogue with".to_vec(),
                Value::str(&call.sides[1 - i].tag),
            ));
            tag.push((b"medias".to_vec(), Value::List(vec![Value::Dict(media)])));
            let key = if side.tag.is_empty() {
                format!("(side {i})")
            } else {
                side.tag.clone()
            };
            tags.push((key.into_bytes(), Value::Dict(tag)));
        }
        Ok(vec![
            (b"created".to_vec(), Value::Int(call.created as i64)),
            (
                b"created_us".to_vec(),
                Value::Int((call.created_us % 1_000_000) as i64),
            ),
            (b"last signal".to_vec(), Value::Int(call.last_signal as i64)),
            (b"tags".to_vec(), Value::Dict(tags)),
            (b"SSRC".to_vec(), Value::Dict(ssrcs)),
            (
                b"totals".to_vec(),
                dict([
                    ("RTP", counts(rtp, Some(rtp_bytes), rtp_errors)),
                    ("RTCP", counts(rtcp, None, rtcp_errors)),
                ]),
            ),
        ])
    }

    fn ok_with(mut entries: Vec<(Vec<u8>, Value)>) -> Value {
        entries.push((b"result".to_vec(), Value::str("ok")));
        Value::Dict(entries)
    }

    /// `delete`: the call's final statistics, then its session and entry are gone. As
    /// rtpengine: the `from-tag` (when given) must be one side's tag, and a `to-tag` the
    /// other side's once that side has one; otherwise, or when there is no such call, nothing
    /// is deleted and the reply is `ok` with a warning ([`NOT_DELETED`]), or an error when
    /// `flags` has `fatal`. A failed branch's `to-tag` therefore does not end the call that
    /// another branch answered. The whole call goes when the tags match (Tandem keeps no
    /// per-branch state to delete separately).
    ///
    /// # Errors
    ///
    /// [`CallError::NotDeleted`] with `fatal`; [`CallError::Key`] without a `call-id`.
    pub fn delete(&mut self, message: &Value) -> Result<Value, CallError> {
        let call_id = Self::call_id(message)?;
        let fatal = has_flag(message, "fatal");
        let found = self.calls.get(call_id).filter(|call| {
            let from = optional(message, "from-tag");
            let to = optional(message, "to-tag").filter(|t| !t.is_empty());
            let Some(from) = from else {
                return true;
            };
            let Some(side) = call.sides.iter().position(|s| s.tag == from) else {
                return false;
            };
            let other = &call.sides[1 - side].tag;
            to.is_none_or(|to| other.is_empty() || *other == to)
        });
        let Some(call) = found else {
            if fatal {
                return Err(CallError::NotDeleted);
            }
            return Ok(dict([
                ("warning", Value::str(NOT_DELETED)),
                ("result", Value::str("ok")),
            ]));
        };
        // Statistics are best effort: a stalled worker must not keep the call alive.
        let stats = self.stats(call).unwrap_or_default();
        self.remove(call_id);
        Ok(Self::ok_with(stats))
    }

    fn remove(&mut self, call_id: &str) {
        if let Some(mut call) = self.calls.remove(call_id) {
            self.by_session.remove(&call.session);
            self.totals.deleted += 1;
            self.metrics.call_ended();
            retally(&self.metrics, &mut call.transcoder, None);
            if let Err(e) = self.runtime.remove_session(call.session) {
                tracing::warn!("ng: removing the session of call {call_id}: {e}");
            }
        }
    }

    /// `query`: the call's statistics.
    ///
    /// # Errors
    ///
    /// [`CallError::UnknownCall`], [`CallError::Runtime`].
    pub fn query(&self, message: &Value) -> Result<Value, CallError> {
        let call = self
            .calls
            .get(Self::call_id(message)?)
            .ok_or(CallError::UnknownCall)?;
        Ok(Self::ok_with(self.stats(call)?))
    }

    /// `list`: up to `limit` (default 32) call-ids.
    pub fn list(&self, message: &Value) -> Value {
        let limit = message
            .get("limit")
            .and_then(Value::as_int)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(32);
        let mut ids: Vec<&String> = self.calls.keys().collect();
        ids.sort();
        let calls = ids
            .into_iter()
            .take(limit)
            .map(|id| Value::str(id))
            .collect();
        Self::ok_with(vec![(b"calls".to_vec(), Value::List(calls))])
    }

    /// `statistics`: current and total counts (a subset of rtpengine's: sessions own and
    /// total, transcoded media, calls timed out and deleted).
    pub fn statistics(&self) -> Value {
        let own = self.calls.len() as i64;
        let transcoded = self.calls.values().filter(|c| c.transcoding).count() as i64;
        let current = dict([
            ("sessionsown", Value::Int(own)),
            ("sessionsforeign", Value::Int(0)),
            ("sessionstotal", Value::Int(own)),
            ("transcodedmedia", Value::Int(transcoded)),
        ]);
        let total = dict([
            ("managedsessions", Value::Int(self.totals.calls as i64)),
            ("deletedsessions", Value::Int(self.totals.deleted as i64)),
            ("timeoutsessions", Value::Int(self.totals.timeouts as i64)),
        ]);
        Self::ok_with(vec![(
            b"statistics".to_vec(),
            dict([("currentstatistics", current), ("totalstatistics", total)]),
        )])
    }

    /// `play DTMF`: the side named by `from-tag` (or `label`) "generates" the digit, so it
    /// is sent to the other side, as RFC 4733 events where that side negotiated them, else
    /// as tones (transcoded calls). `duration`, `volume` and `pause` are the runtime's
    /// (a warning says so when given).
    ///
    /// # Errors
    ///
    /// [`CallError`] for an unknown call or tag, a bad `code`, a relay whose receiving side
    /// has no telephone-event (a relay cannot insert tones).
    pub fn play_dtmf(&mut self, message: &Value) -> Result<Value, CallError> {
        let call = self
            .calls
            .get(Self::call_id(message)?)
            .ok_or(CallError::UnknownCall)?;
        let code = message
            .get("code")
            .or_else(|| message.get("digit"))
            .ok_or(CallError::Key("code"))?;
        let digit = match code {
            Value::Int(n @ 0..=15) => b"0123456789*#ABCD"[*n as usize] as char,
            other => match other.as_str().map(str::trim) {
                Some(s) if s.len() == 1 => s.chars().next().unwrap_or('?'),
                _ => return Err(CallError::Key("code")),
            },
        };
        let generator = match (optional(message, "from-tag"), optional(message, "label")) {
            (Some(tag), _) => call
                .sides
                .iter()
                .position(|s| s.tag == tag)
                .ok_or(CallError::UnknownTag(tag))?,
            (None, Some(label)) => call
                .sides
                .iter()
                .position(|s| s.label.as_deref() == Some(label.as_str()))
                .ok_or(CallError::UnknownTag(label))?,
            (None, None) => return Err(CallError::Key("from-tag")),
        };
        let receiver = LegId((1 - generator) as u32);
        let call = self
            .calls
            .get_mut(Self::call_id(message)?)
            .ok_or(CallError::UnknownCall)?;
        if !call.transcoding {
            // A relay only forwards what the peers send; inserting a digit needs an encoder.
            // The call becomes a same-codec transcoder on the same ports (rtpengine switches
            // to transcoding for DTMF injection too).
            let [a, b] = call
                .legs
                .ok_or_else(|| CallError::NotSupported("play DTMF before the answer".into()))?;
            self.runtime
                .replace_session(call.session, &SessionSpec::Transcode { a, b })?;
            call.transcoding = true;
            retally(
                &self.metrics,
                &mut call.transcoder,
                Some(codec_pair(&[a, b])),
            );
        }
        self.runtime
            .send_digits(call.session, receiver, &digit.to_string())
            .map_err(|e| match e {
                RuntimeError::InvalidDigits => CallError::Key("code"),
                other => CallError::Runtime(other),
            })?;
        let ignored: Vec<&str> = ["duration", "volume", "pause"]
            .into_iter()
            .filter(|k| message.get(k).is_some())
            .collect();
        let mut entries = Vec::new();
        if !ignored.is_empty() {
            entries.push((
                b"warning".to_vec(),
                Value::str(&format!(
                    "{} not supported: the runtime's digit timing is used",
                    ignored.join(", ")
                )),
            ));
        }
        Ok(Self::ok_with(entries))
    }

    /// Starts recording `call_id` unless it is recorded already (a paused recording
    /// resumes, as rtpengine's does). The file is `<call-id>.wav` (unsafe characters
    /// replaced), or `<call-id>-N.wav` after an earlier recording of the same call.
    fn record(&mut self, call_id: &str) -> Result<(), CallError> {
        let call = self.calls.get(call_id).ok_or(CallError::UnknownCall)?;
        if let Some(running) = self.recordings.of_session(call.session) {
            self.recordings.pause(&running.name, false)?;
            return Ok(());
        }
        let base = name_from(call_id);
        let mut attempt = 1;
        loop {
            let name = if attempt == 1 {
                base.clone()
            } else {
                format!("{base}-{attempt}")
            };
            match self.recordings.start(
                &name,
                &format!("ng:{call_id}"),
                call.session,
                Channels::Stereo,
                None,
                IfExists::Fail,
            ) {
                Err(RecordingsError::Exists(_)) if attempt < 100 => attempt += 1,
                Err(e) => return Err(e.into()),
                Ok(_) => return Ok(()),
            }
        }
    }

    /// The running recording of the call `message` names.
    fn running_recording(
        &self,
        message: &Value,
    ) -> Result<crate::recordings::Recording, CallError> {
        let call = self
            .calls
            .get(Self::call_id(message)?)
            .ok_or(CallError::UnknownCall)?;
        self.recordings
            .of_session(call.session)
            .ok_or(CallError::NotRecording)
    }

    /// `start recording`: records the whole call into one stereo WAV (leg 0, facing the
    /// first offerer, left). Starting a recorded call again changes nothing (resumes it when
    /// paused). `output-destination` and `recording-dir` are not followed (a warning says
    /// so): files go to `[recording] dir`.
    ///
    /// # Errors
    ///
    /// [`CallError::UnknownCall`], [`CallError::Recording`] (directory not writable...).
    pub fn start_recording(&mut self, message: &Value) -> Result<Value, CallError> {
        let call_id = Self::call_id(message)?.to_owned();
        self.record(&call_id)?;
        let ignored: Vec<&str> = ["output-destination", "recording-dir", "recording-file"]
            .into_iter()
            .filter(|k| message.get(k).is_some())
            .collect();
        let mut entries = Vec::new();
        if !ignored.is_empty() {
            entries.push((
                b"warning".to_vec(),
                Value::str(&format!(
                    "{} not supported: recordings go to {}",
                    ignored.join(", "),
                    self.recordings.dir().display()
                )),
            ));
        }
        Ok(Self::ok_with(entries))
    }

    /// `stop recording`: the call's recording ends; its file is complete moments later.
    ///
    /// # Errors
    ///
    /// [`CallError::UnknownCall`], [`CallError::NotRecording`], [`CallError::Recording`].
    pub fn stop_recording(&mut self, message: &Value) -> Result<Value, CallError> {
        let recording = self.running_recording(message)?;
        self.recordings.stop(&recording.name)?;
        Ok(Self::ok_with(Vec::new()))
    }

    /// `pause recording`: nothing is written until `start recording`; the paused time is
    /// left out of the file.
    ///
    /// # Errors
    ///
    /// As [`stop_recording`](Self::stop_recording).
    pub fn pause_recording(&mut self, message: &Value) -> Result<Value, CallError> {
        let recording = self.running_recording(message)?;
        self.recordings.pause(&recording.name, true)?;
        Ok(Self::ok_with(Vec::new()))
    }

    /// `block media`, `unblock media`, `silence media`, `unsilence media`, `block DTMF`,
    /// `unblock DTMF`: `control` applied to the legs facing the addressed sides (see the
    /// module docs).
    ///
    /// # Errors
    ///
    /// [`CallError::UnknownCall`], [`CallError::UnknownTag`] for a tag or label that is
    /// neither side, [`CallError::Runtime`] when the worker does not answer.
    pub fn control(&mut self, message: &Value, control: MediaControl) -> Result<Value, CallError> {
        let call = self
            .calls
            .get(Self::call_id(message)?)
            .ok_or(CallError::UnknownCall)?;
        let sides = addressed_sides(call, message)?;
        let change = control.change();
        for side in sides.into_iter().flatten() {
            self.runtime
                .set_leg_controls(call.session, LegId(side as u32), change)?;
        }
        Ok(Self::ok_with(Vec::new()))
    }

    /// The side a command names by `from-tag` (or `label`).
    fn side_of(call: &Call, message: &Value) -> Result<usize, CallError> {
        match (optional(message, "from-tag"), optional(message, "label")) {
            (Some(tag), _) => call
                .sides
                .iter()
                .position(|s| s.tag == tag)
                .ok_or(CallError::UnknownTag(tag)),
            (None, Some(label)) => call
                .sides
                .iter()
                .position(|s| s.label.as_deref() == Some(label.as_str()))
                .ok_or(CallError::UnknownTag(label)),
            (None, None) => Err(CallError::Key("from-tag")),
        }
    }

    /// `play media`: plays a WAV file (`file`) to the side named by `from-tag` (or
    /// `label`), `repeat-times` times (default once), in place of what the other side says;
    /// the reply's `duration` is its length in ms, all repetitions. A relayed call becomes a
    /// same-codec transcoder on the same ports first (playing needs an encoder). `blob` and
    /// `db-id` are not supported.
    ///
    /// # Errors
    ///
    /// [`CallError`]: unknown call or tag, no `file`, an unreadable or invalid WAV file
    /// (`Runtime`), a call not answered yet.
    pub fn play_media(&mut self, message: &Value) -> Result<Value, CallError> {
        let call_id = Self::call_id(message)?.to_owned();
        let call = self.calls.get_mut(&call_id).ok_or(CallError::UnknownCall)?;
        let side = Self::side_of(call, message)?;
        if message.get("blob").is_some() || message.get("db-id").is_some() {
            return Err(CallError::NotSupported(
                "play media from a blob or db-id".into(),
            ));
        }
        let file = text(message, "file")?;
        let repeat_times = match message.get("repeat-times") {
            None => 1,
            Some(v) => v
                .as_int()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=1000).contains(n))
                .ok_or(CallError::Key("repeat-times"))?,
        };
        let [a, b] = call
            .legs
            .ok_or_else(|| CallError::NotSupported("play media before the answer".into()))?;
        if !call.transcoding {
            self.runtime
                .replace_session(call.session, &SessionSpec::Transcode { a, b })?;
            call.transcoding = true;
        }
        let duration_ms = self.runtime.announce(
            call.session,
            LegId(side as u32),
            &PlaySource::Wav(file.into()),
            repeat_times,
            Transcode::rate_for(&a, &b),
        )?;
        Ok(Self::ok_with(vec![(
            b"duration".to_vec(),
            Value::Int(duration_ms as i64),
        )]))
    }

    /// `stop media`: stops what `play media` plays to the side named by `from-tag`.
    ///
    /// # Errors
    ///
    /// [`CallError::UnknownCall`], [`CallError::UnknownTag`], [`CallError::NotPlaying`].
    pub fn stop_media(&mut self, message: &Value) -> Result<Value, CallError> {
        let call = self
            .calls
            .get(Self::call_id(message)?)
            .ok_or(CallError::UnknownCall)?;
        let side = Self::side_of(call, message)?;
        match self
            .runtime
            .stop_announcement(call.session, LegId(side as u32))
        {
            Ok(()) => Ok(Self::ok_with(Vec::new())),
            Err(RuntimeError::Command(
                CommandError::NothingPlaying { .. } | CommandError::WrongKind(_),
            )) => Err(CallError::NotPlaying),
            Err(e) => Err(e.into()),
        }
    }

    /// A leg of `session` saw no RTP for its media timeout: its call is deleted (logged),
    /// as rtpengine does. Sessions not in the table (already deleted) are ignored.
    pub fn media_timeout(&mut self, session: SessionId) {
        let Some(call_id) = self.by_session.get(&session).cloned() else {
            return;
        };
        if self.calls.get(&call_id).is_some_and(|c| c.answered) {
            tracing::info!("ng: call {call_id} timed out (no media): deleted");
            self.totals.timeouts += 1;
            self.remove(&call_id);
        }
    }

    /// Remembers where the RTP of the side facing `leg` of `session` comes from (the
    /// runtime's [`EventKind::SourceLocked`](tandem_core::bus::EventKind::SourceLocked)), for
    /// DTMF reports.
    pub fn source_locked(&mut self, session: SessionId, leg: LegId, address: SocketAddr) {
        let Some(call) = self.call_of_mut(session) else {
            return;
        };
        if let Some(side) = call.sides.get_mut(leg.0 as usize) {
            side.source = Some(address);
        }
    }

    /// Leg `leg` of `session` sent an RTCP report with these receive figures: one more
    /// interval of its side's quality.
    pub fn quality(&mut self, session: SessionId, leg: LegId, sample: &QualitySample) {
        let Some(call) = self.call_of_mut(session) else {
            return;
        };
        let index = leg.0 as usize;
        if let (Some(track), Some(spec)) = (
            call.quality.get_mut(index),
            call.legs.as_ref().and_then(|legs| legs.get(index)),
        ) {
            if let Some(point) = track.record(sample, spec, now_unix().0) {
                self.metrics.stream_interval(point.estimate.mos, sample);
            }
        }
    }

    /// The call whose media `session` carries.
    fn call_of_mut(&mut self, session: SessionId) -> Option<&mut Call> {
        let id = self.by_session.get(&session)?;
        self.calls.get_mut(id)
    }

    /// The report of a digit that the side facing `leg` of `session` sent, and where it goes
    /// (the call's `DTMF-log-dest`, else `[ng] dtmf_log_dest`); `None` when the call has no
    /// destination. See [`super::dtmf_log`].
    pub fn dtmf_report(
        &self,
        session: SessionId,
        leg: LegId,
        digit: char,
        duration_ms: u32,
        volume: u8,
    ) -> Option<(SocketAddr, Vec<u8>)> {
        let call_id = self.by_session.get(&session)?;
        let call = self.calls.get(call_id)?;
        let dest = call.dtmf_log_dest.or(self.dtmf_log_dest)?;
        let side = call.sides.get(leg.0 as usize)?;
        let report = DigitReport {
            call_id,
            source_tag: &side.tag,
            source_label: side.label.as_deref(),
            tags: call
                .sides
                .iter()
                .map(|s| s.tag.as_str())
                .filter(|t| !t.is_empty())
                .collect(),
            source: side.source,
            digit,
            duration_ms,
            volume,
            unix_seconds: now_unix().0,
        };
        Some((dest, report.to_json()?))
    }

    /// Reports the digits of calls without a `DTMF-log-dest` of their own to `dest`
    /// (`[ng] dtmf_log_dest`).
    pub fn with_dtmf_log_dest(mut self, dest: Option<SocketAddr>) -> Self {
        self.dtmf_log_dest = dest;
        self
    }

    /// Removes every call (shutdown).
    pub fn clear(&mut self) {
        let ids: Vec<String> = self.calls.keys().cloned().collect();
        for id in ids {
            self.remove(&id);
        }
    }
}
