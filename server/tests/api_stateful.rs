//! Any sequence of REST operations on channels, bridges, playbacks and recordings (creating
//! and deleting in any order, adding a channel to a bridge twice or to two bridges, removing
//! what is not there, playing on a bridged channel, muting, DTMF, recording, made-up ids):
//! never a 500, the channel and bridge lists agree with each other after every step (a
//! bridge lists exactly the channels that name it, a bridged channel is carried by its
//! bridge's kind, an unbridged one by a holding room or a playback, a playing playback is
//! its channel's and carries it), and once every bridge and channel is deleted, the media
//! runtime holds no session and no leg, and the event stream has ended everything it began
//! (ChannelCreated/Destroyed, BridgeCreated/Destroyed, ChannelEnteredBridge/LeftBridge,
//! PlaybackStarted/Finished, RecordingStarted/Finished, every recording finished).
//!
//! Ports: the API tests' 50-port slices at 23500, 23550 and 23650.

mod api_common;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use api_common::{call, eventually, peer, start_with};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tandem::api::ApiSettings;
use tandem::recordings::Recordings;
use tandem_test_support::cases::proptest_cases;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket, stream::MaybeTlsStream};

#[derive(Debug, Clone)]
enum Op {
    CreateChannel {
        codec: &'static str,
        remote: bool,
        events: bool,
        fixed: bool,
    },
    DeleteChannel(usize),
    CreateBridge(&'static str),
    DestroyBridge(usize),
    AddChannel {
        bridge: usize,
        channel: usize,
    },
    RemoveChannel {
        bridge: usize,
        channel: usize,
    },
    Play {
        channel: usize,
        media: &'static str,
    },
    StopPlayback(usize),
    Mute {
        channel: usize,
        direction: &'static str,
        on: bool,
    },
    Dtmf {
        channel: usize,
        digits: &'static str,
    },
    Record {
        channel: usize,
        name: usize,
    },
    StopRecord(usize),
    TalkDetect {
        channel: usize,
        on: bool,
    },
    Get(usize),
    /// Time for short playbacks to finish by themselves.
    Pause,
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0..8usize;
    prop_oneof![
        4 => (
            prop_oneof![Just("PCMU"), Just("PCMA"), Just("G722"), Just("opus"), Just("L16"), Just("GSM")],
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(codec, remote, events, fixed)| Op::CreateChannel { codec, remote, events, fixed }),
        2 => k.clone().prop_map(Op::DeleteChannel),
        2 => prop_oneof![Just("mixing"), Just("two_party"), Just("holding")].prop_map(Op::CreateBridge),
        1 => k.clone().prop_map(Op::DestroyBridge),
        4 => (k.clone(), k.clone()).prop_map(|(bridge, channel)| Op::AddChannel { bridge, channel }),
        2 => (k.clone(), k.clone()).prop_map(|(bridge, channel)| Op::RemoveChannel { bridge, channel }),
        2 => (
            k.clone(),
            prop_oneof![Just("digits:12#"), Just("tone:440/20"), Just("wav:/nonexistent.wav"), Just("tone:banana")],
        )
            .prop_map(|(channel, media)| Op::Play { channel, media }),
        1 => k.clone().prop_map(Op::StopPlayback),
        1 => (k.clone(), prop_oneof![Just("in"), Just("out"), Just("both"), Just("sideways")], any::<bool>())
            .prop_map(|(channel, direction, on)| Op::Mute { channel, direction, on }),
        1 => (k.clone(), prop_oneof![Just("5"), Just("12AB*#"), Just("xyz")])
            .prop_map(|(channel, digits)| Op::Dtmf { channel, digits }),
        1 => (k.clone(), 0..3usize).prop_map(|(channel, name)| Op::Record { channel, name }),
        1 => k.clone().prop_map(Op::StopRecord),
        1 => (k.clone(), any::<bool>()).prop_map(|(channel, on)| Op::TalkDetect { channel, on }),
        1 => k.prop_map(Op::Get),
        1 => Just(Op::Pause),
    ]
}

/// The ids the API gave out so far (deleted ones stay: asking for them again is part of
/// the test).
#[derive(Default)]
struct Ids {
    channels: Vec<String>,
    bridges: Vec<String>,
    playbacks: Vec<String>,
}

/// Id `k` of `ids` (counted around), or a made-up one for `k` = 7 or when there is none.
fn pick(ids: &[String], k: usize) -> String {
    match ids.len() {
        0 => format!("made-up-{k}"),
        _ if k == 7 => "made-up".to_owned(),
        n => ids[k % n].clone(),
    }
}

fn check_status(op: &Op, status: u16, text: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        status < 500 || status == 501 || status == 503,
        "{op:?} → {status} {text}"
    );
    Ok(())
}

/// The lists agree with each other: bridges name exactly the channels that name them, and
/// each channel's carrier fits where it is.
fn check_consistent(server: &api_common::Server, after: &Op) -> Result<(), TestCaseError> {
    let channels = call(server, "GET", "/channels", None).json;
    let bridges = call(server, "GET", "/bridges", None).json;
    let channels = channels.as_array().cloned().unwrap_or_default();
    let bridges = bridges.as_array().cloned().unwrap_or_default();
    let mut members: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for b in &bridges {
        let id = b["id"].as_str().unwrap_or_default().to_owned();
        let kind = b["bridge_type"].as_str().unwrap_or_default().to_owned();
        let listed = b["channels"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        members.insert(id, (kind, listed));
    }
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in &channels {
        let id = c["id"].as_str().unwrap_or_default().to_owned();
        let carrier = c["carrier"].as_str().unwrap_or_default();
        match c["bridge"].as_str() {
            Some(bridge) => {
                let Some((kind, _)) = members.get(bridge) else {
                    return Err(TestCaseError::fail(format!(
                        "after {after:?}: channel {id} names bridge {bridge}, which is not listed"
                    )));
                };
                // A two-party bridge with one channel holds it in a holding room until the
                // second comes.
                let fits = carrier == kind || (kind == "two_party" && carrier == "holding");
                prop_assert!(
                    fits,
                    "after {after:?}: channel {id} in a {kind} bridge is carried by {carrier}"
                );
                named.entry(bridge.to_owned()).or_default().insert(id);
            }
            None => prop_assert!(
                matches!(carrier, "holding" | "playback"),
                "after {after:?}: unbridged channel {id} is carried by {carrier}"
            ),
        }
    }
    // A playing playback is its channel's, and carries it; a channel carried by a playback
    // names it.
    let playbacks = call(server, "GET", "/playbacks", None).json;
    let playing: BTreeMap<String, String> = playbacks
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|p| p["state"] == "playing")
        .filter_map(|p| {
            let channel = p["target_uri"].as_str()?.strip_prefix("channel:")?;
            Some((p["id"].as_str()?.to_owned(), channel.to_owned()))
        })
        .collect();
    for (playback, channel) in &playing {
        let c = channels.iter().find(|c| c["id"] == channel.as_str());
        prop_assert!(
            c.is_some_and(|c| c["playback"] == playback.as_str() && c["carrier"] == "playback"),
            "after {after:?}: playback {playback} plays to channel {channel}: {c:?}"
        );
    }
    for c in channels.iter().filter(|c| c["carrier"] == "playback") {
        let named = c["playback"].as_str().unwrap_or_default();
        prop_assert!(
            playbacks
                .as_array()
                .is_some_and(|all| all.iter().any(|p| p["id"] == named)),
            "after {after:?}: channel {} is carried by playback {named}, which is not listed",
            c["id"]
        );
    }
    for (bridge, (_, listed)) in &members {
        let naming = named.remove(bridge).unwrap_or_default();
        prop_assert_eq!(
            listed,
            &naming,
            "after {:?}: bridge {} lists other channels than name it",
            after,
            bridge
        );
    }
    Ok(())
}

/// Deletes every bridge, channel and playback the API lists (what a failed case left
/// behind).
fn wipe(server: &api_common::Server) {
    for (list, path) in [
        ("/bridges", "/bridges"),
        ("/channels", "/channels"),
        ("/playbacks", "/playbacks"),
    ] {
        let listed = call(server, "GET", list, None).json;
        for item in listed.as_array().cloned().unwrap_or_default() {
            if let Some(id) = item["id"].as_str() {
                call(server, "DELETE", &format!("{path}/{id}"), None);
            }
        }
    }
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// The event stream, every application's.
fn subscribe(server: &api_common::Server) -> Socket {
    let (socket, _) = tungstenite::connect(format!("ws://{}/events", server.addr)).unwrap();
    if let MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    socket
}

/// The events that arrive until the stream has been quiet for 100 ms (at most 5 s).
fn drain(socket: &mut Socket) -> Vec<Value> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => events.extend(serde_json::from_str::<Value>(&text).ok()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => panic!("websocket: {e}"),
        }
    }
    events
}

/// Every begin has its end, per object: ChannelCreated/Destroyed, BridgeCreated/Destroyed,
/// ChannelEnteredBridge/LeftBridge, PlaybackStarted/Finished, RecordingStarted/Finished.
fn check_balanced(events: &[Value]) -> Result<(), TestCaseError> {
    prop_assert!(
        !events.iter().any(|e| e["type"] == "EventsLost"),
        "the test's consumer lost events"
    );
    let mut open: BTreeMap<(String, String), i64> = BTreeMap::new();
    for e in events {
        let (pair, object, step) = match e["type"].as_str().unwrap_or_default() {
            "ChannelCreated" => ("channel", &e["channel"], 1),
            "ChannelDestroyed" => ("channel", &e["channel"], -1),
            "BridgeCreated" => ("bridge", &e["bridge"], 1),
            "BridgeDestroyed" => ("bridge", &e["bridge"], -1),
            "ChannelEnteredBridge" => ("membership", &e["channel"], 1),
            "ChannelLeftBridge" => ("membership", &e["channel"], -1),
            "PlaybackStarted" => ("playback", &e["playback"], 1),
            "PlaybackFinished" => ("playback", &e["playback"], -1),
            "RecordingStarted" => ("recording", &e["recording"], 1),
            "RecordingFinished" => ("recording", &e["recording"], -1),
            _ => continue,
        };
        let id = object["id"]
            .as_str()
            .or(object["name"].as_str())
            .unwrap_or_default()
            .to_owned();
        let count = open.entry((pair.to_owned(), id.clone())).or_default();
        *count += step;
        prop_assert!(
            (0..=1).contains(count),
            "{pair} {id}: {} makes {count} open",
            e["type"]
        );
    }
    let unended: Vec<_> = open.iter().filter(|(_, n)| **n != 0).collect();
    prop_assert!(unended.is_empty(), "begun and never ended: {unended:?}");
    Ok(())
}

fn run(server: &api_common::Server, ops: &[Op]) -> Result<(), TestCaseError> {
    wipe(server);
    let mut events = subscribe(server);
    let mut ids = Ids::default();
    let remote = peer();
    for op in ops {
        let (method, path, body) = match op {
            Op::CreateChannel {
                codec,
                remote: with_remote,
                events,
                fixed,
            } => {
                let mut body = json!({"codec": codec, "jitter_buffer": if *fixed { "fixed" } else { "adaptive" }});
                if *with_remote {
                    body["remote"] = json!(remote.local_addr().unwrap().to_string());
                }
                if *events {
                    body["telephone_event"] = json!(101);
                }
                ("POST", "/channels".to_owned(), Some(body))
            }
            Op::DeleteChannel(k) => (
                "DELETE",
                format!("/channels/{}", pick(&ids.channels, *k)),
                None,
            ),
            Op::CreateBridge(kind) => ("POST", "/bridges".to_owned(), Some(json!({"type": kind}))),
            Op::DestroyBridge(k) => (
                "DELETE",
                format!("/bridges/{}", pick(&ids.bridges, *k)),
                None,
            ),
            Op::AddChannel { bridge, channel } => (
                "POST",
                format!("/bridges/{}/addChannel", pick(&ids.bridges, *bridge)),
                Some(json!({"channel": pick(&ids.channels, *channel)})),
            ),
            Op::RemoveChannel { bridge, channel } => (
                "POST",
                format!("/bridges/{}/removeChannel", pick(&ids.bridges, *bridge)),
                Some(json!({"channel": pick(&ids.channels, *channel)})),
            ),
            Op::Play { channel, media } => (
                "POST",
                format!("/channels/{}/play", pick(&ids.channels, *channel)),
                Some(json!({"media": media})),
            ),
            Op::StopPlayback(k) => (
                "DELETE",
                format!("/playbacks/{}", pick(&ids.playbacks, *k)),
                None,
            ),
            Op::Mute {
                channel,
                direction,
                on,
            } => (
                if *on { "POST" } else { "DELETE" },
                format!(
                    "/channels/{}/mute?direction={direction}",
                    pick(&ids.channels, *channel)
                ),
                None,
            ),
            Op::Dtmf { channel, digits } => (
                "POST",
                format!("/channels/{}/dtmf", pick(&ids.channels, *channel)),
                Some(json!({"dtmf": digits})),
            ),
            Op::Record { channel, name } => (
                "POST",
                format!("/channels/{}/record", pick(&ids.channels, *channel)),
                Some(json!({"name": format!("stateful-{name}"), "ifExists": "overwrite"})),
            ),
            Op::StopRecord(k) => (
                "DELETE",
                format!("/channels/{}/record", pick(&ids.channels, *k)),
                None,
            ),
            Op::TalkDetect { channel, on } => (
                if *on { "POST" } else { "DELETE" },
                format!("/channels/{}/talk_detect", pick(&ids.channels, *channel)),
                None,
            ),
            Op::Get(k) => (
                "GET",
                format!("/channels/{}", pick(&ids.channels, *k)),
                None,
            ),
            Op::Pause => {
                std::thread::sleep(Duration::from_millis(60));
                ("GET", "/playbacks".to_owned(), None)
            }
        };
        let response = call(server, method, &path, body);
        check_status(op, response.status, &response.text)?;
        if response.status == 201 {
            let id = response.json["id"].as_str().map(str::to_owned);
            match (op, id) {
                (Op::CreateChannel { .. }, Some(id)) => ids.channels.push(id),
                (Op::CreateBridge(_), Some(id)) => ids.bridges.push(id),
                (Op::Play { .. }, Some(id)) => ids.playbacks.push(id),
                _ => {}
            }
        }
        check_consistent(server, op)?;
    }
    // Delete everything: no session and no leg may be left on the runtime.
    for id in &ids.bridges {
        let status = call(server, "DELETE", &format!("/bridges/{id}"), None).status;
        prop_assert!(
            matches!(status, 204 | 404),
            "destroying bridge {id}: {status}"
        );
    }
    for id in &ids.channels {
        let status = call(server, "DELETE", &format!("/channels/{id}"), None).status;
        prop_assert!(
            matches!(status, 204 | 404),
            "deleting channel {id}: {status}"
        );
    }
    prop_assert_eq!(call(server, "GET", "/channels", None).json, json!([]));
    prop_assert_eq!(call(server, "GET", "/bridges", None).json, json!([]));
    let idle = eventually(Duration::from_secs(2), || {
        let stats = server.runtime.worker_stats();
        let (sessions, legs): (u64, u64) = (
            stats.iter().map(|s| s.sessions).sum(),
            stats.iter().map(|s| s.legs).sum(),
        );
        (sessions == 0 && legs == 0).then_some(())
    });
    // Every recording finishes with its channel (the recorder thread closes the file, then
    // reports it).
    let finished = eventually(Duration::from_secs(3), || {
        let all = call(server, "GET", "/recordings", None).json;
        let all = all.as_array().cloned().unwrap_or_default();
        all.iter()
            .all(|r| matches!(r["state"].as_str(), Some("done" | "failed")))
            .then_some(())
    });
    prop_assert!(
        finished.is_some(),
        "recordings not finished: {}",
        call(server, "GET", "/recordings", None).text
    );
    check_balanced(&drain(&mut events))?;
    let stats = server.runtime.worker_stats();
    prop_assert!(
        idle.is_some(),
        "sessions {:?}, legs {:?} left after deleting everything",
        stats.iter().map(|s| s.sessions).collect::<Vec<_>>(),
        stats.iter().map(|s| s.legs).collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn any_sequence_of_rest_operations_keeps_the_lists_consistent_and_leaks_nothing() {
    let recordings = support::scratch("api-stateful");
    let server = start_with(23500, |runtime| ApiSettings {
        recordings: Some(Recordings::new(runtime.clone(), recordings.clone())),
        ..ApiSettings::default()
    });
    let mut runner = TestRunner::new(Config {
        cases: proptest_cases(24),
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(op(), 1..30), |ops| {
            run(&server, &ops)
        })
        .unwrap();
}

/// A new PCMU channel playing `media`: its id and the playback's.
fn playing_channel(server: &api_common::Server, media: &str) -> (String, String) {
    let channel = call(server, "POST", "/channels", Some(json!({"codec": "PCMU"})));
    let id = channel.json["id"].as_str().unwrap().to_owned();
    let played = call(
        server,
        "POST",
        &format!("/channels/{id}/play"),
        Some(json!({"media": media})),
    );
    assert_eq!(played.status, 201, "{}", played.text);
    let playback = played.json["id"].as_str().unwrap().to_owned();
    (id, playback)
}

/// Found by the sequence test: a channel that joined a bridge while playing kept its
/// playback "playing" forever (no `PlaybackFinished`; as the first of a two-party bridge it
/// even went on playing while bridged). Joining ends the playback as `DELETE` would.
#[test]
fn a_playing_channel_that_joins_a_bridge_ends_its_playback() {
    let server = start_with(23550, |_| ApiSettings::default());
    for kind in ["mixing", "two_party"] {
        let (id, playback) = playing_channel(&server, "tone:440/60000");
        let bridge = call(&server, "POST", "/bridges", Some(json!({"type": kind})));
        let bridge = bridge.json["id"].as_str().unwrap().to_owned();
        let added = call(
            &server,
            "POST",
            &format!("/bridges/{bridge}/addChannel"),
            Some(json!({"channel": id})),
        );
        assert_eq!(added.status, 200, "{kind}: {}", added.text);
        assert_eq!(added.json["channel"]["playback"], json!(null), "{kind}");
        assert_ne!(added.json["channel"]["carrier"], "playback", "{kind}");
        let gone = call(&server, "GET", &format!("/playbacks/{playback}"), None);
        assert_eq!(gone.status, 404, "{kind}: {}", gone.text);
        assert_eq!(
            call(&server, "DELETE", &format!("/bridges/{bridge}"), None).status,
            204
        );
        assert_eq!(
            call(&server, "DELETE", &format!("/channels/{id}"), None).status,
            204
        );
    }
}

/// A playback that finished by itself is not reported finished a second time when its
/// channel is deleted.
#[test]
fn a_finished_playback_is_not_finished_again_when_its_channel_goes() {
    let server = start_with(23650, |_| ApiSettings::default());
    let mut events = subscribe(&server);
    let (id, playback) = playing_channel(&server, "tone:440/40");
    let done = eventually(Duration::from_secs(3), || {
        let pb = call(&server, "GET", &format!("/playbacks/{playback}"), None).json;
        (pb["state"] == "done").then_some(())
    });
    assert!(done.is_some(), "the 40 ms tone finishes");
    assert_eq!(
        call(&server, "DELETE", &format!("/channels/{id}"), None).status,
        204
    );
    let finished = drain(&mut events)
        .iter()
        .filter(|e| e["type"] == "PlaybackFinished")
        .count();
    assert_eq!(finished, 1, "one PlaybackFinished");
}
