//! Recording through the REST API of a real `tandem run`: a channel records what its peer
//! sends (`POST /channels/{id}/record`), one second of a tone arrives over UDP,
//! `POST /recordings/{name}/stop` ends it, and the WAV served by
//! `GET /recordings/{name}/file` is mono at 8 kHz, one second long (± two packets) and holds
//! the tone (Goertzel energy). The channel's application hears `RecordingStarted` and
//! `RecordingFinished` (with the duration) on the WebSocket. Bad requests get typed errors:
//! unknown channel, bad name, unsupported format, name taken, stopping twice, deleting a
//! running recording.
//!
//! Test number 36 ([`support::Ports::for_test`]).

mod api_common;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, WebSocket, stream::MaybeTlsStream};

use api_common::{Response, eventually, http, rtp};
use support::{Ports, Tandem};

fn api(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Response {
    http(addr, method, path, &[], body.as_ref())
}

/// `GET path`, the body as bytes (the WAV file is binary).
fn get_bytes(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, raw[split + 4..].to_vec())
}

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// The first event of type `kind` on `socket` within `wait`.
fn wait_for(socket: &mut Socket, kind: &str, wait: Duration) -> Option<Value> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match socket.read() {
            Ok(Message::Text(text)) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["type"] == kind {
                    return Some(event);
                }
            }
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

/// Goertzel power of `hz` in `x` at 8 kHz.
fn power(x: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

#[test]
fn a_channel_recorded_through_the_api_serves_its_wav() {
    let ports = Ports::for_test(36);
    let dir = std::env::temp_dir().join(format!("tandem-rec-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("tandem.toml");
    std::fs::write(
        &config,
        format!("[recording]\ndir = {:?}\n", dir.join("recordings")),
    )
    .unwrap();
    let mut args = ports.run_args();
    args.extend(["--config".into(), config.display().to_string()]);
    let tandem = Tandem::start(&args);
    let addr = SocketAddr::from(([127, 0, 0, 1], ports.api));

    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/events?app=rec")).unwrap();
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let created = api(
        addr,
        "POST",
        "/channels",
        Some(json!({
            "codec": "PCMU",
            "remote": peer.local_addr().unwrap().to_string(),
            "app": "rec",
        })),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let local: SocketAddr = created.json["local_rtp"].as_str().unwrap().parse().unwrap();

    // Bad requests first: nothing is created by them.
    let unknown = api(
        addr,
        "POST",
        "/channels/nope/record",
        Some(json!({"name": "x"})),
    );
    assert_eq!(
        (unknown.status, unknown.json["code"].as_str()),
        (404, Some("not_found"))
    );
    let record = format!("/channels/{id}/record");
    for (body, status) in [
        (json!({"name": "../escape"}), 400),
        (json!({"name": "ok", "format": "mp3"}), 400),
        (json!({"name": "ok", "ifExists": "append"}), 400),
        (json!({}), 400),
    ] {
        let got = api(addr, "POST", &record, Some(body.clone()));
        assert_eq!(got.status, status, "{body}: {}", got.text);
    }

    let started = api(addr, "POST", &record, Some(json!({"name": "api-36"})));
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(started.json["state"], "recording");
    assert_eq!(started.json["target_uri"], format!("channel:{id}"));
    let event =
        wait_for(&mut ws, "RecordingStarted", Duration::from_secs(5)).expect("RecordingStarted");
    assert_eq!(event["recording"]["name"], "api-36");
    let taken = api(addr, "POST", &record, Some(json!({"name": "api-36"})));
    assert_eq!(taken.status, 409, "{}", taken.text);
    let running = api(addr, "DELETE", "/recordings/api-36", None);
    assert_eq!(running.status, 409, "{}", running.text);
    let early = get_bytes(addr, "/recordings/api-36/file");
    assert_eq!(early.0, 409);

    // One second of 800 Hz, paced in real time.
    let t0 = Instant::now();
    for i in 0..50u32 {
        let payload: Vec<u8> = (0..160u32)
            .map(|k| {
                let t = f64::from(i * 160 + k) / 8000.0;
                let s = (8000.0 * (2.0 * std::f64::consts::PI * 800.0 * t).sin()) as i16;
                tandem_codecs::g711::ulaw::encode(s)
            })
            .collect();
        peer.send_to(&rtp(0, i == 0, i as u16, i * 160, 0x3636, &payload), local)
            .unwrap();
        let next = t0 + Duration::from_millis(20 * u64::from(i + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    std::thread::sleep(Duration::from_millis(100));
    let stopped = api(addr, "POST", "/recordings/api-36/stop", None);
    assert_eq!(stopped.status, 204, "{}", stopped.text);
    let again = api(addr, "POST", "/recordings/api-36/stop", None);
    assert_eq!(again.status, 409, "{}", again.text);

    let done = eventually(Duration::from_secs(10), || {
        let got = api(addr, "GET", "/recordings/api-36", None);
        (got.json["state"] == "done").then_some(got.json)
    })
    .expect("the recording finishes");
    let finished =
        wait_for(&mut ws, "RecordingFinished", Duration::from_secs(5)).expect("RecordingFinished");
    assert_eq!(finished["recording"]["duration_ms"], done["duration_ms"]);
    let ms = done["duration_ms"].as_u64().unwrap();
    assert!(ms.abs_diff(1000) <= 40, "{done}");
    assert_eq!(done["dropped_frames"], 0);
    let list = api(addr, "GET", "/recordings", None);
    assert!(
        list.json
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "api-36"),
        "{}",
        list.text
    );

    let (status, head, wav) = get_bytes(addr, "/recordings/api-36/file");
    assert_eq!(status, 200, "{head}");
    assert!(head.to_ascii_lowercase().contains("audio/wav"), "{head}");
    let (info, pcm) = tandem_codecs::file::wav::parse(&wav).unwrap();
    assert_eq!((info.sample_rate, info.channels), (8000, 1));
    assert!((pcm.len() as u64 * 1000 / 8000).abs_diff(1000) <= 40);
    let tone = power(&pcm, 800.0);
    for other in [400.0, 1200.0, 2000.0] {
        let p = power(&pcm, other);
        assert!(tone > 100.0 * p, "800 Hz {tone:e} vs {other} Hz {p:e}");
    }

    let deleted = api(addr, "DELETE", "/recordings/api-36", None);
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(api(addr, "GET", "/recordings/api-36", None).status, 404);
    assert!(!dir.join("recordings").join("api-36.wav").exists());

    let (status, _) = tandem.terminate();
    assert!(status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
