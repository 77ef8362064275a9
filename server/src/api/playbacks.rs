//! `/playbacks`: media played into a channel. `POST /channels/{id}/play` starts one: a WAV
//! file, DTMF digits, or a tone sequence. The channel moves into a play session for it (new
//! local ports, see the [model](super)); at the end `PlaybackFinished` is published and
//! the channel stays there, hearing silence, until it is bridged or played to again.
//! Deleting a playback stops it and puts the channel back in its holding room.
//!
//! Media, as in ARI's `media` URIs: `digits:123#`, `wav:/path/file.wav` (also `sound:`),
//! `tone:FREQ[+FREQ]/MS[,FREQ/MS...]` where `0/MS` is a pause (Asterisk's indications
//! syntax, e.g. `tone:440+480/2000,0/4000`). Playback into a bridged channel is refused (409): the
//! runtime plays into a leg, not into a bridge.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tandem_core::session::{PlaySource, PlaySpec, SessionSpec, ToneStep};
use tandem_dsp::tone::{Cadence, ToneSpec};

use super::channels::{parse_body, to_json as channel_json};
use super::error::{ApiError, ApiResult};
use super::server::{Api, blocking};
use super::state::{self, Carrier, CarrierKind, Playback};

/// Level of API tones, dBm0 (a comfortable call-progress level).
const TONE_LEVEL_DBM0: f32 = -13.0;
/// Longest tone sequence, steps.
const MAX_TONE_STEPS: usize = 64;

/// The body of `POST /channels/{id}/play`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Play {
    media: String,
    #[serde(default)]
    repeat: bool,
}

/// A playback as JSON, in `state`.
pub(crate) fn to_json_with(pb: &Playback, state: &str) -> Value {
    json!({
        "id": pb.id,
        "media_uri": pb.media,
        "target_uri": format!("channel:{}", pb.channel),
        "state": state,
    })
}

fn parse_tones(text: &str) -> ApiResult<Vec<ToneStep>> {
    let bad = || {
        ApiError::bad_request(format!(
            "tone sequence {text:?}: expected FREQ[+FREQ]/MS,..."
        ))
    };
    let steps: Vec<ToneStep> = text
        .split(',')
        .map(|step| {
            // Asterisk's indications syntax marks play-once steps with `!`; every step here
            // plays once (`repeat` loops the whole sequence).
            let step = step.trim().trim_start_matches('!');
            let (freqs, ms) = step.split_once('/').ok_or_else(bad)?;
            let duration_ms: u32 = ms.trim().parse().map_err(|_| bad())?;
            let freqs: Vec<f32> = freqs
                .split('+')
                .map(|f| f.trim().parse::<f32>().map_err(|_| bad()))
                .collect::<ApiResult<_>>()?;
            let tone = match freqs.as_slice() {
                [f] if *f == 0.0 => None,
                [f] => Some(ToneSpec::single(*f, TONE_LEVEL_DBM0, Cadence::Continuous)),
                [a, b] => Some(ToneSpec::dual(*a, *b, TONE_LEVEL_DBM0, Cadence::Continuous)),
                _ => return Err(bad()),
            };
            Ok(ToneStep { tone, duration_ms })
        })
        .collect::<ApiResult<_>>()?;
    if steps.is_empty() || steps.len() > MAX_TONE_STEPS {
        return Err(bad());
    }
    Ok(steps)
}

fn source(media: &str) -> ApiResult<PlaySource> {
    let (scheme, rest) = media
        .split_once(':')
        .ok_or_else(|| ApiError::bad_request(format!("media {media:?}: expected SCHEME:VALUE")))?;
    match scheme {
        "digits" => Ok(PlaySource::Digits(rest.to_owned())),
        "wav" | "sound" => Ok(PlaySource::Wav(rest.into())),
        "tone" => Ok(PlaySource::Tones(parse_tones(rest)?)),
        _ => Err(ApiError::bad_request(format!(
            "media scheme {scheme:?}: expected digits:, wav:, sound: or tone:"
        ))),
    }
}

/// `POST /channels/{id}/play`.
pub(crate) async fn play(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let play: Play = parse_body(&body)?;
    let source = source(&play.media)?;
    let json = blocking(&api, move |api| {
        let channel = api
            .media()
            .channels
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found("channel", &id))?;
        if channel.bridge.is_some() {
            return Err(ApiError::conflict(
                "the channel is in a bridge; remove it first (the runtime plays into a leg, not a bridge)",
            ));
        }
        let handle = api.runtime.create_session(&SessionSpec::Play(PlaySpec {
            leg: channel.current_spec(),
            source,
            repeat: play.repeat,
        }))?;
        let Some(ports) = handle.legs.first().copied() else {
            let _ = api.runtime.remove_session(handle.id);
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the play session has no leg"));
        };
        state::release(&api.runtime, &channel.carrier);
        let carrier = Carrier {
            kind: CarrierKind::Playback,
            session: handle.id,
            leg: ports.leg,
            ports,
        };
        // A muted-out channel hears silence instead of the playback, as in ARI.
        state::carry_mute(&api.runtime, &carrier, channel.mute);
        let mut media = api.media();
        let pb_id = media.id("pb");
        let pb = Playback {
            id: pb_id.clone(),
            channel: id.clone(),
            media: play.media.clone(),
            session: handle.id,
            state: "playing",
        };
        let mut previous = None;
        let channel_now = media.channels.get_mut(&id).map(|c| {
            c.carrier = carrier;
            previous = c.playback.replace(pb_id.clone());
            channel_json(c)
        });
        let previous = previous.and_then(|p| media.playbacks.remove(&p));
        let json = to_json_with(&pb, "playing");
        media.playbacks.insert(pb_id, pb);
        drop(media);
        if let Some(old) = previous.filter(|p| p.state == "playing") {
            api.hub.publish(channel.app.as_deref(), json!({"type": "PlaybackFinished", "playback": to_json_with(&old, "stopped")}));
        }
        api.hub.publish(
            channel.app.as_deref(),
            json!({"type": "PlaybackStarted", "playback": json, "channel": channel_now}),
        );
        Ok(json)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json)))
}

/// `GET /playbacks`.
pub(crate) async fn list(State(api): State<Arc<Api>>) -> Json<Value> {
    let media = api.media();
    let mut all: Vec<&Playback> = media.playbacks.values().collect();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Json(Value::Array(
        all.into_iter().map(|p| to_json_with(p, p.state)).collect(),
    ))
}

/// `GET /playbacks/{id}`.
pub(crate) async fn get_one(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let media = api.media();
    let pb = media
        .playbacks
        .get(&id)
        .ok_or_else(|| ApiError::not_found("playback", &id))?;
    Ok(Json(to_json_with(pb, pb.state)))
}

/// `DELETE /playbacks/{id}`: stops it; the channel goes back to a holding room.
pub(crate) async fn stop(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(&api, move |api| {
        stop_playback(api, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Ends playback `id`: its record goes, its channel (if the playback still carries it) goes
/// back to a holding room, and `PlaybackFinished` (stopped) is published if it was playing.
pub(crate) fn stop_playback(api: &Api, id: &str) -> ApiResult<()> {
    let (pb, channel) = {
        let mut media = api.media();
        let pb = media
            .playbacks
            .remove(id)
            .ok_or_else(|| ApiError::not_found("playback", id))?;
        let channel = media.channels.get(&pb.channel).cloned();
        (pb, channel)
    };
    if let Some(channel) = channel.filter(|c| c.carrier.session == pb.session) {
        let carrier = state::hold(&api.runtime, &channel.current_spec())?;
        state::carry_mute(&api.runtime, &carrier, channel.mute);
        state::release(&api.runtime, &channel.carrier);
        if let Some(c) = api.media().channels.get_mut(&channel.id) {
            c.carrier = carrier;
            c.playback = None;
        }
    }
    if pb.state == "playing" {
        let app = api
            .media()
            .channels
            .get(&pb.channel)
            .and_then(|c| c.app.clone());
        api.hub.publish(
            app.as_deref(),
            json!({"type": "PlaybackFinished", "playback": to_json_with(&pb, "stopped")}),
        );
    }
    Ok(())
}
