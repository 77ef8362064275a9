//! The WebSocket event stream: RFC 4733 digits sent to a channel arrive as
//! `ChannelDtmfReceived`; each RTCP interval of a channel's stream is scored in a
//! `ChannelQuality` event (and in its `statistics`), a decoded channel's from what its jitter
//! buffer played; a consumer that does not read loses the oldest events, is told how
//! many with `EventsLost`, and stays connected; user events reach their application.

mod api_common;
#[allow(dead_code)]
#[path = "support/metrics.rs"]
mod metrics;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use api_common::{bridged_pair, call, local_rtp, peer, rtp, start};
use serde_json::{Value, json};
use tandem::api::ApiSettings;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket, stream::MaybeTlsStream};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

fn connect(addr: std::net::SocketAddr, app: &str) -> Socket {
    let (socket, _) = tungstenite::connect(format!("ws://{addr}/events?app={app}")).unwrap();
    if let MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    socket
}

/// The next JSON event, if one arrives within `wait`.
fn next_event(socket: &mut Socket, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("websocket: {e}"),
        }
    }
    None
}

fn wait_for(socket: &mut Socket, kind: &str, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some(e) = next_event(socket, Duration::from_millis(200)) {
            if e["type"] == kind {
                return Some(e);
            }
        }
    }
    None
}

#[test]
fn api_ws_receives_channel_dtmf_received_for_rfc4733_digits() {
    let server = start(23800, ApiSettings::default());
    let mut ws = connect(server.addr, "ivr");
    let a = peer();
    let c = call(
        &server,
        "POST",
        "/channels",
        Some(
            json!({"codec": "PCMU", "telephone_event": 101, "app": "ivr",
                    "remote": a.local_addr().unwrap().to_string()}),
        ),
    );
    assert_eq!(c.status, 201, "{}", c.text);
    let id = c.json["id"].as_str().unwrap().to_owned();
    let created = wait_for(&mut ws, "ChannelCreated", Duration::from_secs(2)).unwrap();
    assert_eq!(created["channel"]["id"], id.as_str());
    assert_eq!(created["application"], "ivr");
    let to = local_rtp(&c.json);
    // Some audio, then digit 7 (event 7) as RFC 4733: three updates and three end packets.
    let mut seq = 0u16;
    for i in 0..5u32 {
        a.send_to(&rtp(0, i == 0, seq, i * 160, 0x77, &[0xff; 160]), to)
            .unwrap();
        seq += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let ts = 5 * 160;
    for (n, end) in [
        (1u16, false),
        (2, false),
        (3, false),
        (4, true),
        (4, true),
        (4, true),
    ] {
        let duration = n * 160;
        let payload = [
            7,
            if end { 0x80 | 10 } else { 10 },
            (duration >> 8) as u8,
            duration as u8,
        ];
        a.send_to(&rtp(101, n == 1, seq, ts, 0x77, &payload), to)
            .unwrap();
        seq += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let dtmf = wait_for(&mut ws, "ChannelDtmfReceived", Duration::from_secs(3))
        .expect("ChannelDtmfReceived");
    assert_eq!(dtmf["digit"], "7");
    assert_eq!(dtmf["channel"]["id"], id.as_str());
    assert_eq!(dtmf["source"], "rfc4733");
    let _ = ws.close(None);
}

#[test]
fn api_ws_reports_each_rtcp_interval_of_a_channel_as_channel_quality() {
    let server = start(24000, ApiSettings::default());
    let mut ws = connect(server.addr, "monitor");
    let a = peer();
    let c = call(
        &server,
        "POST",
        "/channels",
        Some(
            json!({"codec": "PCMU", "app": "monitor", "remote": a.local_addr().unwrap().to_string()}),
        ),
    );
    assert_eq!(c.status, 201, "{}", c.text);
    let id = c.json["id"].as_str().unwrap().to_owned();
    let to = local_rtp(&c.json);
    // 2 s of packets at their own pace, every tenth never sent (10 % lost).
    let start = Instant::now();
    for i in 0..100u16 {
        if i % 10 != 5 {
            a.send_to(
                &rtp(0, i == 0, i, u32::from(i) * 160, 0x9a, &[0xd5; 160]),
                to,
            )
            .unwrap();
        }
        let due = start + Duration::from_millis(20 * (u64::from(i) + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    // The leg reports first 1.25-3.75 s after it was set up.
    let quality = wait_for(&mut ws, "ChannelQuality", Duration::from_secs(5))
        .expect("ChannelQuality within an RTCP interval");
    assert_eq!(quality["channel"]["id"], id.as_str());
    let loss = quality["loss_percent"].as_f64().unwrap();
    assert!((5.0..=15.0).contains(&loss), "{quality}");
    let mos = quality["mos"].as_f64().unwrap();
    assert!((2.5..4.0).contains(&mos), "10 % lost: {quality}");
    let got = call(&server, "GET", &format!("/channels/{id}"), None);
    let intervals = &got.json["statistics"]["mos_intervals"];
    assert!(intervals["intervals"].as_u64() >= Some(1), "{}", got.text);
    assert!(intervals["lowest"].as_f64() <= Some(mos), "{}", got.text);
    let _ = ws.close(None);
}

#[test]
fn api_ws_channel_quality_of_a_decoded_channel_counts_packets_too_late_to_play() {
    let server = start(24050, ApiSettings::default());
    let mut ws = connect(server.addr, "late");
    // A mixing bridge decodes each channel through its jitter buffer.
    let (a, _b, ids, _bridge) = bridged_pair(&server, "mixing", Some("late"));
    let got = call(&server, "GET", &format!("/channels/{}", ids[0]), None);
    let to = local_rtp(&got.json);
    // 3 s of packets at their own pace; every tenth is held back 300 ms: the network
    // delivers it (RTP's figures count no loss), the listener never hears it.
    let start = Instant::now();
    let mut held = Vec::new();
    for i in 0..150u16 {
        let packet = rtp(0, i == 0, i, u32::from(i) * 160, 0x1a7e, &[0xd5; 160]);
        if i % 10 == 5 {
            held.push((
                start + Duration::from_millis(20 * u64::from(i) + 300),
                packet,
            ));
        } else {
            a.send_to(&packet, to).unwrap();
        }
        while held.first().is_some_and(|(due, _)| *due <= Instant::now()) {
            a.send_to(&held.remove(0).1, to).unwrap();
        }
        let due = start + Duration::from_millis(20 * (u64::from(i) + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    let quality = wait_for(&mut ws, "ChannelQuality", Duration::from_secs(5))
        .expect("ChannelQuality within an RTCP interval");
    assert_eq!(quality["channel"]["id"], ids[0].as_str(), "{quality}");
    let heard = quality["loss_percent"].as_f64().unwrap();
    assert!((5.0..=15.0).contains(&heard), "{quality}");
    assert!(quality["mos"].as_f64() < Some(4.0), "{quality}");
    assert!(quality["delay_ms"].as_f64() > Some(0.0), "{quality}");
    let got = call(&server, "GET", &format!("/channels/{}", ids[0]), None);
    let network = got.json["statistics"]["loss_percent"].as_f64().unwrap();
    assert!(network < 2.0, "RTP saw no loss: {}", got.text);
    // `/metrics` keeps the buffer's delay of each interval of each decoded stream.
    let text = call(&server, "GET", "/metrics", None).text;
    let delays = metrics::value(&text, "tandem_playout_delay_ms_count").unwrap_or(0);
    assert!(delays >= 1, "{text}");
    let _ = ws.close(None);
}

#[test]
fn api_slow_consumer_gets_events_lost_and_stays_connected() {
    let server = start(
        23900,
        ApiSettings {
            queue_capacity: 8,
            ..ApiSettings::default()
        },
    );
    let mut ws = connect(server.addr, "slow");
    // Let the hub register the client.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.api.hub().clients() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    const N: u64 = 20_000;
    for n in 0..N {
        server.api.hub().publish(
            Some("slow"),
            json!({"type": "UserEvent", "n": n, "pad": "x".repeat(200)}),
        );
    }
    let (mut events, mut lost, mut markers) = (0u64, 0u64, 0u64);
    let mut last_n = None;
    while events + lost < N {
        let e = next_event(&mut ws, Duration::from_secs(3))
            .expect("the stream accounts for every event");
        if e["type"] == "EventsLost" {
            lost += e["count"].as_u64().unwrap();
            markers += 1;
        } else {
            let n = e["n"].as_u64().unwrap();
            assert!(last_n.is_none_or(|last| n > last), "order kept");
            last_n = Some(n);
            events += 1;
        }
    }
    assert_eq!(events + lost, N, "no silent loss");
    assert!(
        lost > 0 && markers > 0,
        "the slow consumer was told of its losses"
    );
    assert_eq!(last_n, Some(N - 1), "the newest event survives");
    // Still connected: a user event posted now arrives.
    let posted = call(
        &server,
        "POST",
        "/events/user/ping?application=slow",
        Some(json!({"k": 1})),
    );
    assert_eq!(posted.status, 204, "{}", posted.text);
    let ping = wait_for(&mut ws, "UserEvent", Duration::from_secs(2)).unwrap();
    assert_eq!(ping["eventname"], "ping");
    assert_eq!(ping["userevent"]["k"], 1);
}

#[test]
fn api_mixing_bridge_lifecycle_is_reported_on_the_stream() {
    let server = start(23950, ApiSettings::default());
    let mut ws = connect(server.addr, "conf");
    let bridge = call(&server, "POST", "/bridges", Some(json!({"app": "conf"})));
    assert_eq!(bridge.status, 201, "{}", bridge.text);
    assert_eq!(bridge.json["bridge_type"], "mixing");
    let bid = bridge.json["id"].as_str().unwrap().to_owned();
    let created = wait_for(&mut ws, "BridgeCreated", Duration::from_secs(2)).unwrap();
    assert_eq!(created["bridge"]["id"], bid.as_str());
    let mut ids = Vec::new();
    for codec in ["PCMU", "G722"] {
        let c = call(
            &server,
            "POST",
            "/channels",
            Some(json!({"codec": codec, "app": "conf"})),
        );
        assert_eq!(c.status, 201, "{}", c.text);
        ids.push(c.json["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let added = call(
            &server,
            "POST",
            &format!("/bridges/{bid}/addChannel?channel={id}"),
            None,
        );
        assert_eq!(added.status, 200, "{}", added.text);
        assert_eq!(added.json["channel"]["carrier"], "mixing");
        let entered = wait_for(&mut ws, "ChannelEnteredBridge", Duration::from_secs(2)).unwrap();
        assert_eq!(entered["channel"]["id"], id.as_str());
    }
    let twice = call(
        &server,
        "POST",
        &format!("/bridges/{bid}/addChannel?channel={}", ids[0]),
        None,
    );
    assert_eq!(twice.status, 409);
    assert_eq!(
        call(&server, "DELETE", &format!("/channels/{}", ids[0]), None).status,
        204
    );
    let left = wait_for(&mut ws, "ChannelLeftBridge", Duration::from_secs(2)).unwrap();
    assert_eq!(left["channel"]["id"], ids[0].as_str());
    wait_for(&mut ws, "ChannelDestroyed", Duration::from_secs(2)).unwrap();
    assert_eq!(
        call(&server, "DELETE", &format!("/bridges/{bid}"), None).status,
        204
    );
    wait_for(&mut ws, "BridgeDestroyed", Duration::from_secs(2)).unwrap();
    let remaining = call(&server, "GET", &format!("/channels/{}", ids[1]), None).json;
    assert_eq!(remaining["carrier"], "holding");
    assert!(remaining["bridge"].is_null());
}
