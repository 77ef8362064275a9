//! `/channels`: RTP legs. Create one (codec, peer, packet time, telephone-event payload
//! type), read it with its statistics and a MOS estimate, send DTMF into it, delete it.
//! Also the event mapping from the runtime (DTMF, talking, timeouts) to channel events.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tandem_codecs::{CodecId, EncoderConfig, Format};
use tandem_core::bus::{DtmfSource, Event, EventKind, QualitySample};
use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegSpec};

use super::error::{ApiError, ApiResult};
use super::server::{Api, blocking};
use super::state::{self, CarrierKind, Channel};
use super::{mos, quality};
use crate::run::config::{JitterBuffer, JitterSettings};

/// The body of `POST /channels`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChannel {
    /// Encoding name: PCMU, PCMA, G722, opus, L16 (G729 when built).
    codec: String,
    /// Sample rate, Hz (the codec's default when absent).
    rate: Option<u32>,
    /// Payload type (the static one, or 111 for Opus and 96 for other dynamic codecs).
    payload_type: Option<u8>,
    /// Packet time, ms (default 20).
    ptime_ms: Option<u32>,
    /// Where to send media until the peer's source is learned.
    remote: Option<SocketAddr>,
    /// RFC 4733 telephone-event payload type, if the peer negotiated it.
    telephone_event: Option<u8>,
    /// Run the in-band DTMF detector too.
    dtmf_detect: Option<bool>,
    /// Media timeout, ms (default 0: off).
    media_timeout_ms: Option<u32>,
    /// Jitter buffer when the channel's audio is decoded (bridged to another codec, in a
    /// conference, recorded): `adaptive` or `fixed` (default: `[media] jitter_buffer`, with
    /// the delays configured there).
    jitter_buffer: Option<JitterBuffer>,
    /// The adaptive buffer's least target delay, ms (default `[media]`'s).
    jitter_buffer_min_ms: Option<u32>,
    /// The adaptive buffer's most delay, ms (default `[media]`'s).
    jitter_buffer_max_ms: Option<u32>,
    /// The fixed buffer's delay, ms (default `[media]`'s).
    jitter_buffer_fixed_ms: Option<u32>,
    /// The application whose event clients hear about this channel.
    app: Option<String>,
}

/// Parses a JSON body, with the API's error shape for anything wrong.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

/// The configured jitter buffer settings with what the channel's body overrides.
fn jitter_of(new: &NewChannel, configured: &JitterSettings) -> ApiResult<JitterSettings> {
    let settings = JitterSettings {
        mode: configured.mode,
        min_ms: new.jitter_buffer_min_ms.unwrap_or(configured.min_ms),
        max_ms: new.jitter_buffer_max_ms.unwrap_or(configured.max_ms),
        fixed_ms: new.jitter_buffer_fixed_ms.unwrap_or(configured.fixed_ms),
    };
    settings
        .check()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(settings)
}

fn leg_spec(new: &NewChannel, jitter: &JitterSettings) -> ApiResult<LegSpec> {
    let descriptor = tandem_codecs::registry::by_name(&new.codec)
        .ok_or_else(|| ApiError::bad_request(format!("unknown codec {:?}", new.codec)))?;
    let rate = new.rate.unwrap_or_else(|| descriptor.default_sample_rate());
    if !descriptor.supports_sample_rate(rate) {
        return Err(ApiError::bad_request(format!(
            "{} does not run at {rate} Hz",
            descriptor.name
        )));
    }
    let format = Format {
        codec: descriptor.id,
        sample_rate: rate,
    };
    let pt = new
        .payload_type
        .or(descriptor.static_payload_type)
        .unwrap_or(if descriptor.id == CodecId::Opus {
            111
        } else {
            96
        });
    let payload_type = PayloadType::new(pt)
        .ok_or_else(|| ApiError::bad_request(format!("payload type {pt} is not 0-127")))?;
    let mut spec = LegSpec::new(CodecSpec::new(
        format,
        payload_type,
        new.ptime_ms.unwrap_or(descriptor.default_ptime_ms),
    ))
    .with_encoder(EncoderConfig::DEFAULT)
    .with_dtmf_detect(new.dtmf_detect.unwrap_or(false))
    .with_media_timeout_ms(new.media_timeout_ms.unwrap_or(0))
    .with_playout(jitter_of(new, jitter)?.playout(new.jitter_buffer));
    if let Some(remote) = new.remote {
        spec = spec.with_remote(remote);
    }
    if let Some(te) = new.telephone_event {
        let te = PayloadType::new(te)
            .ok_or_else(|| ApiError::bad_request(format!("payload type {te} is not 0-127")))?;
        spec = spec.with_telephone_event(te);
    }
    Ok(spec)
}

/// A channel as JSON (without statistics).
pub(crate) fn to_json(channel: &Channel) -> Value {
    let codec = channel.spec.codec;
    json!({
        "id": channel.id,
        "state": "Up",
        "application": channel.app,
        "codec": {
            "name": codec.format.codec.descriptor().name,
            "rate": codec.format.sample_rate,
            "payload_type": codec.payload_type.get(),
            "ptime_ms": codec.ptime_ms,
        },
        "telephone_event": channel.spec.telephone_event.map(PayloadType::get),
        "jitter_buffer": if channel.spec.playout.is_adaptive() { "adaptive" } else { "fixed" },
        "local_rtp": channel.carrier.ports.rtp.to_string(),
        "local_rtp_port": channel.carrier.ports.rtp.port(),
        "local_rtcp_port": channel.carrier.ports.rtcp_port,
        "remote": channel.spec.remote.map(|r| r.to_string()),
        "peer": channel.peer.map(|p| p.to_string()),
        "bridge": channel.bridge,
        "playback": channel.playback,
        "carrier": match channel.carrier.kind {
            CarrierKind::Holding => "holding",
            CarrierKind::Playback => "playback",
            CarrierKind::TwoParty => "two_party",
            CarrierKind::Mixing => "mixing",
        },
        "talk_detection": channel.talk_detection,
        "muted": match (channel.mute.inbound, channel.mute.outbound) {
            (false, false) => Value::Null,
            (true, false) => json!("in"),
            (false, true) => json!("out"),
            (true, true) => json!("both"),
        },
    })
}

/// The statistics of a channel's leg, with a MOS estimate.
fn statistics(api: &Api, channel: &Channel) -> Value {
    let report = match api
        .runtime
        .leg_report(channel.carrier.session, channel.carrier.leg)
    {
        Ok(report) => report,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let c = report.counters;
    let e = mos::estimate(&report, &channel.spec);
    let codec = channel.spec.codec.format.codec;
    let (ie, bpl, listed) = mos::impairment(codec);
    json!({
        "packets_received": c.rtp_received,
        "packets_accepted": c.rtp_accepted,
        "packets_sent": c.sent,
        "packets_malformed": c.malformed,
        "packets_source_dropped": c.source_dropped,
        "packets_send_dropped": c.send_dropped,
        "packets_blocked": c.blocked,
        "packets_withheld": c.withheld,
        "telephone_events": c.telephone_events,
        "rtcp_received": c.rtcp_received,
        "rtcp_sent": c.rtcp_sent,
        "rtcp_dropped": c.rtcp_dropped,
        "received": report.received,
        "cumulative_lost": report.cumulative_lost,
        "loss_percent": e.loss_percent,
        "jitter_ms": e.jitter_ms,
        "rtt_ms": e.rtt_ms,
        "one_way_delay_ms": e.one_way_delay_ms,
        "r_factor": e.r_factor,
        "mos": e.mos,
        "mos_intervals": channel.quality.summary(&report, &channel.spec, quality::unix_now()).map(|q| json!({
            "lowest": q.lowest.estimate.mos,
            "lowest_at": q.lowest.at_unix,
            "highest": q.highest.estimate.mos,
            "average": q.average.mos,
            "intervals": q.average.intervals,
        })),
        "mos_model": {
            "ie": ie, "bpl": bpl,
            "source": if listed { "ITU-T G.113 Appendix I" } else { "not in G.113 Appendix I: scored as G.711 with PLC" },
        },
        "ssrc": report.ssrc.0,
        "playout": report.playout.map(|p| json!({
            "jitter_buffer": if p.adaptive { "adaptive" } else { "fixed" },
            "delay_ms": p.delay_ms,
            "target_delay_ms": p.target_delay_ms,
            "packets_played": p.counts.packets_played,
            "packets_late": p.counts.packets_late,
            "packets_lost": p.counts.packets_lost,
            "loss_percent": p.loss_percent(),
            "fec_recoveries": p.counts.fec_recoveries,
            "frames_concealed": p.counts.frames_concealed,
            "stretch_ops": p.counts.stretch_ops,
        })),
    })
}

/// `POST /channels`.
pub(crate) async fn create(
    State(api): State<Arc<Api>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new: NewChannel = parse_body(&body)?;
    let spec = leg_spec(&new, &api.settings.jitter)?;
    let json = blocking(&api, move |api| {
        let carrier = state::hold(&api.runtime, &spec)?;
        let mut media = api.media();
        let id = media.id("ch");
        let channel = Channel {
            id: id.clone(),
            app: new.app.clone(),
            spec,
            carrier,
            bridge: None,
            playback: None,
            peer: None,
            talk_detection: true,
            mute: state::Mute::default(),
            quality: Default::default(),
        };
        let json = to_json(&channel);
        media.channels.insert(id, channel);
        drop(media);
        api.hub.publish(
            new.app.as_deref(),
            json!({"type": "ChannelCreated", "channel": json}),
        );
        Ok(json)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json)))
}

/// `GET /channels`.
pub(crate) async fn list(State(api): State<Arc<Api>>) -> Json<Value> {
    let media = api.media();
    let mut all: Vec<&Channel> = media.channels.values().collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Json(Value::Array(all.into_iter().map(to_json).collect()))
}

/// `GET /channels/{id}`: the channel with its `statistics`.
pub(crate) async fn get_one(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    blocking(&api, move |api| {
        let channel = api
            .media()
            .channels
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("channel", &id))?;
        let mut json = to_json(&channel);
        json["statistics"] = statistics(api, &channel);
        Ok(Json(json))
    })
    .await
}

/// `DELETE /channels/{id}`: leaves its bridge, closes its ports.
pub(crate) async fn destroy(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(&api, move |api| {
        if !api.media().channels.contains_key(&id) {
            return Err(ApiError::not_found("channel", &id));
        }
        super::bridges::leave_bridge(api, &id)?;
        let mut media = api.media();
        let Some(channel) = media.channels.remove(&id) else {
            return Err(ApiError::not_found("channel", &id));
        };
        let playback = channel.playback.as_ref().and_then(|p| media.playbacks.remove(p));
        // One that finished by itself was reported then.
        if let Some(pb) = playback.filter(|pb| pb.state == "playing") {
            api.hub.publish(
                channel.app.as_deref(),
                json!({"type": "PlaybackFinished", "playback": super::playbacks::to_json_with(&pb, "stopped")}),
            );
        }
        drop(media);
        state::release(&api.runtime, &channel.carrier);
        api.hub.publish(
            channel.app.as_deref(),
            json!({"type": "ChannelDestroyed", "channel": to_json(&channel)}),
        );
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// The body of `POST /channels/{id}/dtmf` (or `?dtmf=` as in ARI).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendDtmf {
    dtmf: Option<String>,
}

/// `POST /channels/{id}/dtmf`: RFC 4733 events when the channel negotiated them, tones
/// otherwise.
pub(crate) async fn dtmf(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let body: SendDtmf = parse_body(&body)?;
    let digits = body
        .dtmf
        .or_else(|| query.get("dtmf").cloned())
        .ok_or_else(|| ApiError::bad_request("`dtmf` (the digits) is required"))?;
    blocking(&api, move |api| {
        let media = api.media();
        let channel = media
            .channels
            .get(&id)
            .ok_or_else(|| ApiError::not_found("channel", &id))?;
        if channel.carrier.kind == CarrierKind::TwoParty {
            let relayed = channel
                .bridge
                .as_ref()
                .and_then(|b| media.bridges.get(b))
                .is_some_and(|b| b.transcoding.is_none());
            if relayed {
                return Err(ApiError::conflict(
                    "the channel is in a two-party bridge that relays without decoding; \
                     relayed legs carry only what the peer sends",
                ));
            }
        }
        let carrier = channel.carrier;
        drop(media);
        api.runtime
            .send_digits(carrier.session, carrier.leg, &digits)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `POST /channels/{id}/mute?direction=in|out|both` (ARI; `both` by default): `in` makes
/// what the channel says silence for everyone else, `out` makes what it hears silence. The
/// RTP streams keep flowing (see `tandem_core::session::controls` for how each session kind
/// makes silence). The mute stays with the channel when it moves between bridges.
pub(crate) async fn mute(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    set_mute(api, id, &query, true).await
}

/// `DELETE /channels/{id}/mute?direction=in|out|both`: unmute those directions.
pub(crate) async fn unmute(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    set_mute(api, id, &query, false).await
}

async fn set_mute(
    api: Arc<Api>,
    id: String,
    query: &HashMap<String, String>,
    on: bool,
) -> ApiResult<StatusCode> {
    let (inbound, outbound) = match query.get("direction").map(String::as_str) {
        None | Some("both") => (true, true),
        Some("in") => (true, false),
        Some("out") => (false, true),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "direction must be in, out or both, not {other:?}"
            )));
        }
    };
    blocking(&api, move |api| {
        let mut media = api.media();
        let channel = media
            .channels
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found("channel", &id))?;
        let mut mute = channel.mute;
        if inbound {
            mute.inbound = on;
        }
        if outbound {
            mute.outbound = on;
        }
        channel.mute = mute;
        let carrier = channel.carrier;
        drop(media);
        api.runtime
            .set_leg_controls(carrier.session, carrier.leg, mute.change())?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn set_talk_detection(api: Arc<Api>, id: String, on: bool) -> ApiResult<StatusCode> {
    let mut media = api.media();
    let channel = media
        .channels
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("channel", &id))?;
    channel.talk_detection = on;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /channels/{id}/talk_detect`: report `ChannelTalkingStarted/Finished` (default).
pub(crate) async fn talk_detect_on(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    set_talk_detection(api, id, true).await
}

/// `DELETE /channels/{id}/talk_detect`: stop reporting talking (the detector keeps running
/// where the session needs it: a mixing bridge seats talkers by it).
pub(crate) async fn talk_detect_off(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    set_talk_detection(api, id, false).await
}

/// A channel's leg sent an RTCP report: its interval is scored, counted in `/metrics`, and
/// told to the channel's application (`ChannelQuality`).
fn on_quality(api: &Api, event: &Event, sample: &QualitySample) {
    let mut media = api.media();
    let Some(id) = media
        .channel_of(event.session, event.leg)
        .map(|c| c.id.clone())
    else {
        return;
    };
    let Some(channel) = media.channels.get_mut(&id) else {
        return;
    };
    let Some(point) = channel
        .quality
        .record(sample, &channel.spec, quality::unix_now())
    else {
        return;
    };
    api.metrics.stream_interval(point.estimate.mos, sample);
    let app = channel.app.clone();
    let object = to_json(channel);
    drop(media);
    let e = point.estimate;
    api.hub.publish(
        app.as_deref(),
        json!({
            "type": "ChannelQuality",
            "channel": object,
            "mos": e.mos,
            "loss_percent": e.heard_loss_percent,
            "jitter_ms": e.jitter_ms,
            "rtt_ms": e.rtt_ms,
            "delay_ms": e.one_way_delay_ms,
        }),
    );
}

/// Turns one runtime event into API events.
pub(crate) fn on_runtime_event(api: &Api, event: &Event) {
    if let EventKind::Quality(sample) = event.kind {
        on_quality(api, event, &sample);
        return;
    }
    let mut media = api.media();
    if event.kind == EventKind::PlaybackFinished {
        let done = media
            .playbacks
            .values_mut()
            .find(|p| p.session == event.session && p.state == "playing");
        if let Some(pb) = done {
            pb.state = "done";
            let json = super::playbacks::to_json_with(pb, "done");
            let channel = pb.channel.clone();
            let app = media.channels.get(&channel).and_then(|c| c.app.clone());
            drop(media);
            api.hub.publish(
                app.as_deref(),
                json!({"type": "PlaybackFinished", "playback": json}),
            );
        }
        return;
    }
    let Some(channel) = media.channel_of(event.session, event.leg) else {
        return;
    };
    // As in ARI, channel events carry the channel object.
    let (app, id, talk) = (
        channel.app.clone(),
        channel.id.clone(),
        channel.talk_detection,
    );
    let object = to_json(channel);
    let published = match event.kind {
        EventKind::Dtmf {
            digit,
            duration_ms,
            source,
            ..
        } => Some(json!({
            "type": "ChannelDtmfReceived",
            "channel": object,
            "digit": digit.to_string(),
            "duration_ms": duration_ms,
            "source": match source { DtmfSource::Rfc4733 => "rfc4733", DtmfSource::InBand => "inband" },
        })),
        EventKind::TalkingStarted if talk => {
            Some(json!({"type": "ChannelTalkingStarted", "channel": object}))
        }
        EventKind::TalkingStopped if talk => {
            Some(json!({"type": "ChannelTalkingFinished", "channel": object}))
        }
        EventKind::MediaTimeout => Some(json!({"type": "ChannelMediaTimeout", "channel": object})),
        EventKind::SourceLocked { address } => {
            if let Some(channel) = media.channels.get_mut(&id) {
                channel.peer = Some(address);
            }
            None
        }
        _ => None,
    };
    drop(media);
    if let Some(event) = published {
        api.hub.publish(app.as_deref(), event);
    }
}
