//! Shared by the `api_*` tests: the API served in-process over a real media runtime on
//! loopback UDP (each test on its own 50-port slice of 23000–23999), a minimal HTTP/1.1
//! client, and RTP packet builders.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem::api::{Api, ApiSettings, Metrics, serve};
use tandem_core::runtime::{Runtime, RuntimeConfig};
use tandem_core::worker::WorkerConfig;
use tandem_drivers::packet::PortRange;

/// A running API.
pub struct Server {
    pub addr: SocketAddr,
    pub api: Arc<Api>,
    pub runtime: Arc<Runtime>,
    _rt: tokio::runtime::Runtime,
}

/// Starts the API with `settings` over a one-worker runtime on ports `first..=first+49`.
pub fn start(first: u16, settings: ApiSettings) -> Server {
    start_with(first, |_| settings)
}

/// [`start`], with settings made from the runtime (to share its recordings table, say).
pub fn start_with(first: u16, settings: impl FnOnce(&Arc<Runtime>) -> ApiSettings) -> Server {
    let config = RuntimeConfig {
        workers: 1,
        pin: false,
        ports: PortRange::new(first, first + 49).unwrap(),
        worker: WorkerConfig {
            max_sessions: 64,
            tx_queue: 256,
            ..WorkerConfig::new(0)
        },
        ..RuntimeConfig::default()
    };
    let runtime = Arc::new(Runtime::start(config).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let settings = settings(&runtime);
    let api = Api::new(Arc::clone(&runtime), Arc::new(Metrics::default()), settings);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve(Arc::clone(&api), listener, std::future::pending()));
    Server {
        addr,
        api,
        runtime,
        _rt: rt,
    }
}

/// A response: status and body (JSON when it parses, else a string value).
pub struct Response {
    pub status: u16,
    pub text: String,
    pub json: Value,
}

/// One request on a fresh connection.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Response {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let text = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(text)
    } else {
        text.to_owned()
    };
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    Response { status, text, json }
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        text = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Shorthand: `http` without headers.
pub fn call(server: &Server, method: &str, path: &str, body: Option<Value>) -> Response {
    http(server.addr, method, path, &[], body.as_ref())
}

/// A UDP peer on 127.0.0.1.
pub fn peer() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    socket
}

/// An RTP packet.
pub fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Datagrams received on `socket` within `wait` (or until `enough` of them).
pub fn receive(socket: &UdpSocket, wait: Duration, enough: usize) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline && got.len() < enough {
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
    }
    got
}

/// Polls `f` every 20 ms for up to `wait` until it returns `Some`.
pub fn eventually<T>(wait: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + wait;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The address in a channel's `local_rtp`.
pub fn local_rtp(channel: &Value) -> SocketAddr {
    channel["local_rtp"].as_str().unwrap().parse().unwrap()
}

/// Two PCMU channels towards two fresh peers, of application `app`, joined in a new bridge
/// of `kind`: the peers, the channels' ids and the bridge's.
pub fn bridged_pair(
    server: &Server,
    kind: &str,
    app: Option<&str>,
) -> (UdpSocket, UdpSocket, Vec<String>, String) {
    let (a, b) = (peer(), peer());
    let mut ids = Vec::new();
    for p in [&a, &b] {
        let c = call(
            server,
            "POST",
            "/channels",
            Some(json!({
                "codec": "PCMU",
                "remote": p.local_addr().unwrap().to_string(),
                "app": app,
            })),
        );
        assert_eq!(c.status, 201, "{}", c.text);
        ids.push(c.json["id"].as_str().unwrap().to_owned());
    }
    let bridge = call(server, "POST", "/bridges", Some(json!({"type": kind})));
    assert_eq!(bridge.status, 201, "{}", bridge.text);
    let bid = bridge.json["id"].as_str().unwrap().to_owned();
    for id in &ids {
        let added = call(
            server,
            "POST",
            &format!("/bridges/{bid}/addChannel"),
            Some(json!({"channel": id})),
        );
        assert_eq!(added.status, 200, "{}", added.text);
    }
    (a, b, ids, bid)
}
