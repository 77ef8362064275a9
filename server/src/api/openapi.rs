//! The OpenAPI 3.1 document served at `/openapi.json`, built from [`ROUTES`], the same table
//! a test checks against the router (every documented operation is routed; nothing else).

use axum::Json;
use serde_json::{Map, Value, json};

/// One documented operation: method, path (OpenAPI template syntax), summary, whether it
/// answers 501 in this build, and the success status.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// HTTP method, lower case.
    pub method: &'static str,
    /// Path template.
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Answers 501 `not_implemented` in this build.
    pub not_implemented: bool,
    /// Success status.
    pub status: u16,
}

const fn route(
    method: &'static str,
    path: &'static str,
    status: u16,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        summary,
        not_implemented: false,
        status,
    }
}

/// Every operation of the API.
pub const ROUTES: &[Route] = &[
    route("get", "/openapi.json", 200, "This document."),
    route(
        "get",
        "/metrics",
        200,
        "Prometheus text exposition: workers (tick cost histogram, missed deadlines, packets, drops by reason), legs, calls, DTMF, transcoders per codec pair, SIP responses by code.",
    ),
    route("get", "/channels", 200, "List channels."),
    route(
        "post",
        "/channels",
        201,
        "Create a channel: an RTP leg. Body: {codec, rate?, payload_type?, ptime_ms?, remote?, telephone_event?, dtmf_detect?, media_timeout_ms?, jitter_buffer? (adaptive|fixed; default [media] jitter_buffer), jitter_buffer_min_ms?, jitter_buffer_max_ms?, jitter_buffer_fixed_ms? (default [media]'s), app?}. Returns its id and local_rtp.",
    ),
    route(
        "get",
        "/channels/{id}",
        200,
        "A channel with its statistics (packets, loss, jitter, RTT from RTCP; `playout`: its jitter buffer's delay, late and lost packets, concealment, when the channel is decoded) and a MOS estimate (ITU-T G.107 E-model, Ie/Bpl from G.113 Appendix I; for a decoded channel, from the buffer's delay and losses).",
    ),
    route(
        "delete",
        "/channels/{id}",
        204,
        "Hang up: leave the bridge, close the ports.",
    ),
    route(
        "post",
        "/channels/{id}/dtmf",
        204,
        "Send DTMF digits ({dtmf} or ?dtmf=): RFC 4733 when negotiated, tones otherwise. 409 in a relayed two-party bridge.",
    ),
    route(
        "post",
        "/channels/{id}/play",
        201,
        "Start a playback ({media: digits:123 | wav:/path | tone:440+480/2000,0/4000, repeat?}). 409 while bridged.",
    ),
    route(
        "post",
        "/channels/{id}/mute",
        204,
        "Mute (?direction=in|out|both, default both, as ARI): in silences what the channel says for the others, out what it hears. Streams keep flowing (encoded silence; a relay of a non-G.711 codec sends nothing). Kept across bridges.",
    ),
    route(
        "delete",
        "/channels/{id}/mute",
        204,
        "Unmute (?direction=in|out|both, default both).",
    ),
    route(
        "post",
        "/channels/{id}/talk_detect",
        204,
        "Report ChannelTalkingStarted/Finished for this channel (default on).",
    ),
    route(
        "delete",
        "/channels/{id}/talk_detect",
        204,
        "Stop reporting talking for this channel.",
    ),
    route(
        "post",
        "/channels/{id}/record",
        201,
        "Record what the channel sends, mono WAV ({name, format=wav, maxDurationSeconds?, ifExists=fail|overwrite}, body or query). Follows the channel's session: moving the channel finishes it.",
    ),
    route(
        "delete",
        "/channels/{id}/record",
        204,
        "Stop the channel's recording.",
    ),
    route(
        "get",
        "/recordings",
        200,
        "List recordings (API and ng), running and finished.",
    ),
    route("get", "/recordings/{name}", 200, "A recording."),
    route(
        "delete",
        "/recordings/{name}",
        204,
        "Delete a finished recording and its file.",
    ),
    route(
        "get",
        "/recordings/{name}/file",
        200,
        "The WAV file of a finished recording (audio/wav).",
    ),
    route(
        "post",
        "/recordings/{name}/stop",
        204,
        "Stop a recording; RecordingFinished follows once the file is complete.",
    ),
    route(
        "post",
        "/recordings/{name}/pause",
        204,
        "Pause a recording (paused time is left out of the file).",
    ),
    route(
        "delete",
        "/recordings/{name}/pause",
        204,
        "Resume a paused recording.",
    ),
    route("get", "/bridges", 200, "List bridges."),
    route(
        "post",
        "/bridges",
        201,
        "Create a bridge ({type: mixing | two_party, app?}); mixing is a conference room, two_party a relay or transcoder.",
    ),
    route("get", "/bridges/{id}", 200, "A bridge."),
    route(
        "delete",
        "/bridges/{id}",
        204,
        "Destroy a bridge; its channels go back to holding rooms.",
    ),
    route(
        "post",
        "/bridges/{id}/addChannel",
        200,
        "Add a channel ({channel} or ?channel=). The channel's leg is re-created: its local_rtp changes. A playback on the channel ends (PlaybackFinished, stopped).",
    ),
    route(
        "post",
        "/bridges/{id}/removeChannel",
        200,
        "Remove a channel; it goes back to a holding room (new local_rtp).",
    ),
    route("get", "/playbacks", 200, "List playbacks."),
    route("get", "/playbacks/{id}", 200, "A playback."),
    route("delete", "/playbacks/{id}", 204, "Stop a playback."),
    route(
        "get",
        "/events",
        101,
        "WebSocket event stream (?app=NAME): ChannelCreated/Destroyed, ChannelDtmfReceived, ChannelTalkingStarted/Finished, ChannelMediaTimeout, ChannelQuality {mos, loss_percent, jitter_ms, rtt_ms, delay_ms} (each RTCP interval of the channel's incoming stream; a decoded channel's loss counts the packets its jitter buffer could not play), BridgeCreated/Destroyed, ChannelEnteredBridge/LeftBridge, PlaybackStarted/Finished, UserEvent, and EventsLost {count} when a slow client's queue overflowed.",
    ),
    route(
        "post",
        "/events/user/{name}",
        204,
        "Post a UserEvent to the clients of ?application=NAME; the JSON body is carried as userevent.",
    ),
];

/// Builds the document.
pub fn document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let mut paths = Map::new();
    for r in ROUTES {
        let mut responses = Map::new();
        responses.insert(r.status.to_string(), json!({"description": if r.not_implemented { "Not implemented in this build." } else { "Success." }}));
        for (code, what) in [
            ("400", "Bad request."),
            ("401", "Missing or wrong credentials."),
            ("403", "Source not allowed."),
            ("404", "No such resource."),
            ("409", "Conflicts with the resource's state."),
            ("503", "Busy or out of capacity."),
        ] {
            responses.insert(
                code.into(),
                json!({"description": what, "content": {"application/json": {"schema": error}}}),
            );
        }
        let mut op = json!({"summary": r.summary, "responses": responses});
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        paths
            .entry(r.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(|m| m.insert(r.method.into(), op));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Tandem control API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "ARI-like REST and WebSocket control of Tandem's media engine. Errors are {error, code}. Authenticate with Authorization: Bearer KEY, ?api_key=KEY, or basic auth, when [api] configures credentials.",
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "code"],
                    "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
                },
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "apiKey": {"type": "apiKey", "in": "query", "name": "api_key"},
            },
        },
        "security": [{"bearer": []}, {"basic": []}, {"apiKey": []}],
        "paths": paths,
    })
}

/// `GET /openapi.json`.
pub(crate) async fn serve() -> Json<Value> {
    Json(document())
}
