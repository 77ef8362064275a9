//! `/recordings` and `POST|DELETE /channels/{id}/record`: ARI-like recordings over the
//! shared [`Recordings`](crate::recordings::Recordings) table (ng's recordings are listed
//! too, with an `ng:` target).
//!
//! - `POST /channels/{id}/record` (`name`, `format=wav`, `maxDurationSeconds`,
//!   `ifExists=fail|overwrite`, in the JSON body or the query) records what the channel
//!   sends, mono, into `<[recording] dir>/<name>.wav`; 201 with the recording.
//!   `DELETE /channels/{id}/record` stops the channel's recording.
//! - `GET /recordings`, `GET /recordings/{name}`, `GET /recordings/{name}/file` (the WAV
//!   bytes, once finished), `DELETE /recordings/{name}` (a finished one, file included),
//!   `POST /recordings/{name}/stop`, `POST|DELETE /recordings/{name}/pause`.
//! - Events: `RecordingStarted` and `RecordingFinished` (with `duration_ms` and
//!   `dropped_frames`), to the channel's application (every client for ng recordings).
//!
//! A recording follows the channel's *session*: moving the channel (into a bridge, a
//! playback) ends the session, which finishes the recording (`RecordingFinished`).

use std::collections::HashMap;
use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tandem_core::recording::Channels;

use super::channels::parse_body;
use super::error::{ApiError, ApiResult};
use super::server::{Api, blocking};
use crate::recordings::{IfExists, Recording, RecordingEvent, RecordingsError};

impl From<RecordingsError> for ApiError {
    fn from(e: RecordingsError) -> Self {
        let message = e.to_string();
        match e {
            RecordingsError::InvalidName(_) => Self::bad_request(message),
            RecordingsError::Unknown(name) => Self::not_found("recording", &name),
            RecordingsError::Exists(_)
            | RecordingsError::Running(_)
            | RecordingsError::Finished(_)
            | RecordingsError::SessionRecorded(_) => Self::conflict(message),
            RecordingsError::Directory { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "recording_storage",
                message,
            ),
            RecordingsError::Runtime(e) => e.into(),
        }
    }
}

/// A recording as JSON (ARI's `LiveRecording` fields, plus Tandem's figures once done).
pub(crate) fn to_json(r: &Recording) -> Value {
    let mut json = json!({
        "name": r.name,
        "format": "wav",
        "target_uri": r.target,
        "state": r.state.as_str(),
        "file_uri": format!("/recordings/{}/file", r.name),
    });
    if let Some(report) = &r.report {
        json["duration"] = json!(report.duration_ms / 1000);
        json["duration_ms"] = json!(report.duration_ms);
        json["sample_rate"] = json!(report.sample_rate);
        json["channels"] = json!(report.channels);
        json["dropped_frames"] = json!(report.dropped_frames);
        json["late_frames"] = json!(report.late_frames);
        if let Some(error) = &report.error {
            json["cause"] = json!(error);
        }
    }
    json
}

/// The options of `POST /channels/{id}/record`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    name: Option<String>,
    format: Option<String>,
    #[serde(rename = "maxDurationSeconds")]
    max_duration_seconds: Option<u64>,
    #[serde(rename = "ifExists")]
    if_exists: Option<String>,
}

/// `POST /channels/{id}/record`.
pub(crate) async fn record(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let body: Record = parse_body(&body)?;
    let name = body
        .name
        .or_else(|| query.get("name").cloned())
        .ok_or_else(|| ApiError::bad_request("`name` is required"))?;
    let format = body
        .format
        .or_else(|| query.get("format").cloned())
        .unwrap_or_else(|| "wav".into());
    if format != "wav" {
        return Err(ApiError::bad_request(format!(
            "format {format:?}: only wav is recorded"
        )));
    }
    let max_seconds = match body.max_duration_seconds {
        Some(s) => Some(s),
        None => query
            .get("maxDurationSeconds")
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_request("maxDurationSeconds: a whole number"))
            })
            .transpose()?,
    }
    .filter(|&s| s > 0);
    let if_exists = match body
        .if_exists
        .or_else(|| query.get("ifExists").cloned())
        .as_deref()
    {
        None | Some("fail") => IfExists::Fail,
        Some("overwrite") => IfExists::Overwrite,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "ifExists {other:?}: fail or overwrite (append is not supported)"
            )));
        }
    };
    blocking(&api, move |api| {
        let carrier = api
            .media()
            .channels
            .get(&id)
            .map(|c| c.carrier)
            .ok_or_else(|| ApiError::not_found("channel", &id))?;
        let recording = api.recordings.start(
            &name,
            &format!("channel:{id}"),
            carrier.session,
            Channels::Leg(carrier.leg),
            max_seconds.map(|s| s.saturating_mul(1000)),
            if_exists,
        )?;
        Ok((StatusCode::CREATED, Json(to_json(&recording))))
    })
    .await
}

/// `DELETE /channels/{id}/record`: stops the channel's recording.
pub(crate) async fn stop_channel(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(&api, move |api| {
        let session = api
            .media()
            .channels
            .get(&id)
            .map(|c| c.carrier.session)
            .ok_or_else(|| ApiError::not_found("channel", &id))?;
        let recording = api
            .recordings
            .of_session(session)
            .ok_or_else(|| ApiError::not_found("recording of channel", &id))?;
        api.recordings.stop(&recording.name)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `GET /recordings`.
pub(crate) async fn list(State(api): State<Arc<Api>>) -> Json<Value> {
    Json(Value::Array(
        api.recordings.list().iter().map(to_json).collect(),
    ))
}

/// `GET /recordings/{name}`.
pub(crate) async fn get_one(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let recording = api
        .recordings
        .get(&name)
        .ok_or_else(|| ApiError::not_found("recording", &name))?;
    Ok(Json(to_json(&recording)))
}

/// `GET /recordings/{name}/file`: the WAV file of a finished recording.
pub(crate) async fn file(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let recording = api
        .recordings
        .get(&name)
        .ok_or_else(|| ApiError::not_found("recording", &name))?;
    if recording.state.is_open() {
        return Err(ApiError::conflict(format!(
            "recording {name:?} is still running: its file is complete once it is done"
        )));
    }
    let bytes = blocking(&api, move |_| {
        std::fs::read(&recording.path).map_err(|e| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("the file of recording {name:?}: {e}"),
            )
        })
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response())
}

/// `DELETE /recordings/{name}`: a finished recording and its file.
pub(crate) async fn delete(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(&api, move |api| {
        api.recordings.delete(&name)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `POST /recordings/{name}/stop`.
pub(crate) async fn stop(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    blocking(&api, move |api| {
        api.recordings.stop(&name)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `POST /recordings/{name}/pause`.
pub(crate) async fn pause(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    set_paused(api, name, true).await
}

/// `DELETE /recordings/{name}/pause`.
pub(crate) async fn unpause(
    State(api): State<Arc<Api>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    set_paused(api, name, false).await
}

async fn set_paused(api: Arc<Api>, name: String, paused: bool) -> ApiResult<StatusCode> {
    blocking(&api, move |api| {
        api.recordings.pause(&name, paused)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Publishes `RecordingStarted` / `RecordingFinished` until the API is gone.
pub(crate) fn pump(api: &Weak<Api>, events: &mpsc::Receiver<RecordingEvent>) {
    loop {
        let event = match events.recv_timeout(Duration::from_millis(200)) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if api.strong_count() == 0 {
                    return;
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let Some(api) = api.upgrade() else { return };
        let (kind, recording) = match &event {
            RecordingEvent::Started(r) => ("RecordingStarted", r),
            RecordingEvent::Finished(r) => ("RecordingFinished", r),
        };
        let app = recording
            .target
            .strip_prefix("channel:")
            .and_then(|id| api.media().channels.get(id).and_then(|c| c.app.clone()));
        api.hub.publish(
            app.as_deref(),
            json!({"type": kind, "recording": to_json(recording)}),
        );
    }
}
