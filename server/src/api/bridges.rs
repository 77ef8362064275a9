//! `/bridges`: connect channels. A `mixing` bridge (ARI's default) is a conference room:
//! each added channel joins it. A `two_party` bridge (alias `proxy_media`) holds at most two
//! channels; when the second arrives both move into one relay session (same codec) or
//! transcoder (different codecs), and when one leaves the other goes back to a holding room.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tandem_core::bus::LegPorts;
use tandem_core::session::{ConferenceSpec, SessionSpec};

use super::channels::{parse_body, to_json as channel_json};
use super::error::{ApiError, ApiResult};
use super::server::{Api, blocking};
use super::state::{self, Bridge, BridgeKind, Carrier, CarrierKind, MIXING_MAX_LEGS};

/// Mixing rate of mixing bridges (wideband; narrowband legs are resampled).
const MIXING_RATE_HZ: u32 = 16000;

/// The body of `POST /bridges`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBridge {
    #[serde(rename = "type")]
    kind: Option<String>,
    app: Option<String>,
}

/// The body of `addChannel` / `removeChannel` (or `?channel=` as in ARI).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelRef {
    channel: Option<String>,
}

fn to_json(bridge: &Bridge) -> Value {
    json!({
        "id": bridge.id,
        "bridge_type": match bridge.kind { BridgeKind::Mixing => "mixing", BridgeKind::TwoParty => "two_party" },
        "application": bridge.app,
        "channels": bridge.channels,
        "transcoding": bridge.transcoding.as_ref().map(|(a, b)| json!([a, b])),
    })
}

/// `POST /bridges`.
pub(crate) async fn create(
    State(api): State<Arc<Api>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let new: NewBridge = parse_body(&body)?;
    let kind = match new.kind.as_deref().unwrap_or("mixing") {
        "mixing" => BridgeKind::Mixing,
        "two_party" | "proxy_media" => BridgeKind::TwoParty,
        other => {
            return Err(ApiError::bad_request(format!(
                "bridge type {other:?}: expected mixing or two_party"
            )));
        }
    };
    let json = blocking(&api, move |api| {
        let session = match kind {
            BridgeKind::Mixing => Some(
                api.runtime
                    .create_session(&SessionSpec::Conference(ConferenceSpec::new(
                        MIXING_RATE_HZ,
                        MIXING_MAX_LEGS,
                    )))?
                    .id,
            ),
            BridgeKind::TwoParty => None,
        };
        let mut media = api.media();
        let id = media.id("br");
        let bridge = Bridge {
            id: id.clone(),
            app: new.app.clone(),
            kind,
            channels: Vec::new(),
            session,
            transcoding: None,
        };
        let json = to_json(&bridge);
        media.bridges.insert(id, bridge);
        drop(media);
        api.hub.publish(
            new.app.as_deref(),
            json!({"type": "BridgeCreated", "bridge": json}),
        );
        Ok(json)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json)))
}

/// `GET /bridges`.
pub(crate) async fn list(State(api): State<Arc<Api>>) -> Json<Value> {
    let media = api.media();
    let mut all: Vec<&Bridge> = media.bridges.values().collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Json(Value::Array(all.into_iter().map(to_json).collect()))
}

/// `GET /bridges/{id}`.
pub(crate) async fn get_one(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let media = api.media();
    let bridge = media
        .bridges
        .get(&id)
        .ok_or_else(|| ApiError::not_found("bridge", &id))?;
    Ok(Json(to_json(bridge)))
}

fn channel_param(query: &HashMap<String, String>, body: &Bytes) -> ApiResult<String> {
    let body: ChannelRef = parse_body(body)?;
    body.channel
        .or_else(|| query.get("channel").cloned())
        .ok_or_else(|| ApiError::bad_request("`channel` (the channel id) is required"))
}

/// `POST /bridges/{id}/addChannel`.
pub(crate) async fn add_channel(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let channel_id = channel_param(&query, &body)?;
    blocking(&api, move |api| add(api, &id, &channel_id))
        .await
        .map(Json)
}

fn add(api: &Api, bridge_id: &str, channel_id: &str) -> ApiResult<Value> {
    let (bridge, mut channel) = {
        let media = api.media();
        let bridge = media
            .bridges
            .get(bridge_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("bridge", bridge_id))?;
        let channel = media
            .channels
            .get(channel_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("channel", channel_id))?;
        (bridge, channel)
    };
    if let Some(other) = &channel.bridge {
        return Err(ApiError::conflict(format!(
            "the channel is already in bridge {other}"
        )));
    }
    if bridge.kind == BridgeKind::TwoParty && bridge.channels.len() >= 2 {
        return Err(ApiError::conflict("a two-party bridge holds two channels"));
    }
    if let Some(playback) = channel.playback.clone() {
        // A playback plays into a leg, not into a bridge (playing on a bridged channel is
        // refused): the channel's ends as it joins, with PlaybackFinished, as DELETE would.
        super::playbacks::stop_playback(api, &playback)?;
        channel = api
            .media()
            .channels
            .get(channel_id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("channel", channel_id))?;
    }
    match bridge.kind {
        BridgeKind::Mixing => {
            let room = bridge
                .session
                .ok_or_else(|| ApiError::conflict("the bridge has no room"))?;
            let ports = api.runtime.join(room, &channel.current_spec())?;
            state::release(&api.runtime, &channel.carrier);
            let carrier = Carrier {
                kind: CarrierKind::Mixing,
                session: room,
                leg: ports.leg,
                ports,
            };
            state::carry_mute(&api.runtime, &carrier, channel.mute);
            let mut media = api.media();
            if let Some(c) = media.channels.get_mut(channel_id) {
                c.carrier = carrier;
                c.bridge = Some(bridge_id.to_owned());
            }
            if let Some(b) = media.bridges.get_mut(bridge_id) {
                b.channels.push(channel_id.to_owned());
            }
        }
        BridgeKind::TwoParty => {
            if let Some(first_id) = bridge.channels.first() {
                let first = api
                    .media()
                    .channels
                    .get(first_id)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found("channel", first_id))?;
                let (a, b) = (first.current_spec(), channel.current_spec());
                let relay = a.codec.format == b.codec.format;
                let spec = if relay {
                    SessionSpec::Relay { a, b }
                } else {
                    SessionSpec::Transcode { a, b }
                };
                let handle = api.runtime.create_session(&spec)?;
                let (Some(pa), Some(pb)) =
                    (handle.legs.first().copied(), handle.legs.get(1).copied())
                else {
                    let _ = api.runtime.remove_session(handle.id);
                    return Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal",
                        "the bridge session has no legs",
                    ));
                };
                state::release(&api.runtime, &first.carrier);
                state::release(&api.runtime, &channel.carrier);
                let names = (
                    a.codec.format.codec.descriptor().name.to_owned(),
                    b.codec.format.codec.descriptor().name.to_owned(),
                );
                if !relay {
                    api.metrics.transcoder_started(&names.0, &names.1);
                }
                let carrier_of = |ports: LegPorts| Carrier {
                    kind: CarrierKind::TwoParty,
                    session: handle.id,
                    leg: ports.leg,
                    ports,
                };
                state::carry_mute(&api.runtime, &carrier_of(pa), first.mute);
                state::carry_mute(&api.runtime, &carrier_of(pb), channel.mute);
                let mut media = api.media();
                for (cid, ports) in [(first_id.as_str(), pa), (channel_id, pb)] {
                    if let Some(c) = media.channels.get_mut(cid) {
                        c.carrier = carrier_of(ports);
                    }
                }
                if let Some(b) = media.bridges.get_mut(bridge_id) {
                    b.session = Some(handle.id);
                    b.transcoding = (!relay).then_some(names);
                }
            }
            let mut media = api.media();
            if let Some(c) = media.channels.get_mut(channel_id) {
                c.bridge = Some(bridge_id.to_owned());
            }
            if let Some(b) = media.bridges.get_mut(bridge_id) {
                b.channels.push(channel_id.to_owned());
            }
        }
    }
    let media = api.media();
    let channel = media.channels.get(channel_id).map(channel_json);
    let bridge = media.bridges.get(bridge_id).map(to_json);
    drop(media);
    api.hub.publish(
        bridge_app(&bridge),
        json!({"type": "ChannelEnteredBridge", "bridge": bridge, "channel": channel}),
    );
    Ok(json!({"bridge": bridge, "channel": channel}))
}

fn bridge_app(bridge: &Option<Value>) -> Option<&str> {
    bridge.as_ref().and_then(|b| b["application"].as_str())
}

/// `POST /bridges/{id}/removeChannel`: the channel goes back to a holding room.
pub(crate) async fn remove_channel(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let channel_id = channel_param(&query, &body)?;
    blocking(&api, move |api| {
        let in_it = api
            .media()
            .channels
            .get(&channel_id)
            .map(|c| c.bridge.as_deref() == Some(id.as_str()));
        match in_it {
            None => return Err(ApiError::not_found("channel", &channel_id)),
            Some(false) => {
                return Err(ApiError::conflict(format!(
                    "the channel is not in bridge {id}"
                )));
            }
            Some(true) => {}
        }
        leave_bridge(api, &channel_id)?;
        let channel = api.media().channels.get(&channel_id).map(channel_json);
        Ok(Json(json!({"channel": channel})))
    })
    .await
}

/// Takes channel `channel_id` out of its bridge, if it is in one, back into a holding room
/// (a two-party partner goes back to one too). Publishes `ChannelLeftBridge`.
pub(crate) fn leave_bridge(api: &Api, channel_id: &str) -> ApiResult<()> {
    let (bridge, channel) = {
        let media = api.media();
        let Some(channel) = media.channels.get(channel_id).cloned() else {
            return Ok(());
        };
        let Some(bridge) = channel
            .bridge
            .as_ref()
            .and_then(|b| media.bridges.get(b))
            .cloned()
        else {
            return Ok(());
        };
        (bridge, channel)
    };
    if channel.carrier.kind == CarrierKind::Holding {
        // Alone in a two-party bridge: it never left its holding room.
        let mut media = api.media();
        if let Some(c) = media.channels.get_mut(channel_id) {
            c.bridge = None;
        }
        if let Some(b) = media.bridges.get_mut(&bridge.id) {
            b.channels.retain(|c| c != channel_id);
        }
        let channel = media.channels.get(channel_id).map(channel_json);
        let bridge = media.bridges.get(&bridge.id).map(to_json);
        drop(media);
        api.hub.publish(
            bridge_app(&bridge),
            json!({"type": "ChannelLeftBridge", "bridge": bridge, "channel": channel}),
        );
        return Ok(());
    }
    // Who needs a new holding room: the channel, and a two-party partner whose relay goes.
    let mut rehome = vec![channel.clone()];
    if bridge.kind == BridgeKind::TwoParty && channel.carrier.kind == CarrierKind::TwoParty {
        let media = api.media();
        rehome.extend(
            bridge
                .channels
                .iter()
                .filter(|c| c.as_str() != channel_id)
                .filter_map(|c| media.channels.get(c).cloned()),
        );
    }
    let mut carriers = Vec::with_capacity(rehome.len());
    for c in &rehome {
        let carrier = state::hold(&api.runtime, &c.current_spec())?;
        state::carry_mute(&api.runtime, &carrier, c.mute);
        carriers.push(carrier);
    }
    match channel.carrier.kind {
        CarrierKind::TwoParty => {
            let _ = api.runtime.remove_session(channel.carrier.session);
            if let Some((a, b)) = &bridge.transcoding {
                api.metrics.transcoder_stopped(a, b);
            }
        }
        _ => state::release(&api.runtime, &channel.carrier),
    }
    let mut media = api.media();
    for (c, carrier) in rehome.iter().zip(carriers) {
        if let Some(c) = media.channels.get_mut(&c.id) {
            c.carrier = carrier;
        }
    }
    if let Some(c) = media.channels.get_mut(channel_id) {
        c.bridge = None;
    }
    if let Some(b) = media.bridges.get_mut(&bridge.id) {
        b.channels.retain(|c| c != channel_id);
        if b.kind == BridgeKind::TwoParty {
            b.session = None;
            b.transcoding = None;
        }
    }
    let channel = media.channels.get(channel_id).map(channel_json);
    let bridge = media.bridges.get(&bridge.id).map(to_json);
    drop(media);
    api.hub.publish(
        bridge_app(&bridge),
        json!({"type": "ChannelLeftBridge", "bridge": bridge, "channel": channel}),
    );
    Ok(())
}

/// `DELETE /bridges/{id}`: its channels go back to holding rooms.
pub(crate) async fn destroy(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(&api, move |api| {
        let channels = api
            .media()
            .bridges
            .get(&id)
            .map(|b| b.channels.clone())
            .ok_or_else(|| ApiError::not_found("bridge", &id))?;
        for c in channels {
            leave_bridge(api, &c)?;
        }
        let Some(bridge) = api.media().bridges.remove(&id) else {
            return Err(ApiError::not_found("bridge", &id));
        };
        if let (BridgeKind::Mixing, Some(room)) = (bridge.kind, bridge.session) {
            let _ = api.runtime.remove_session(room);
        }
        api.hub.publish(
            bridge.app.as_deref(),
            json!({"type": "BridgeDestroyed", "bridge": to_json(&bridge)}),
        );
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
