//! `POST|DELETE /channels/{id}/mute?direction=in|out|both` (ARI) against `tandem run`: two
//! PCMU channels in a two-party bridge exchange RTP over real sockets, and muting one
//! direction turns exactly that direction's audio into G.711 silence while both streams
//! keep flowing; unmuting brings the audio back.

mod api_common;
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use api_common::{Response, http, local_rtp, peer, receive, rtp};
use serde_json::{Value, json};
use support::{Ports, Tandem};

struct Client {
    addr: SocketAddr,
}

impl Client {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        http(self.addr, method, path, &[], body.as_ref())
    }

    /// Waits (bounded) for the API to answer.
    fn wait_ready(&self) {
        for _ in 0..100 {
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the API did not come up on {}", self.addr);
    }
}

/// Sends `n` packets with `payload` from each of `a` (to `to_a`) and `b` (to `to_b`) and
/// returns the payloads each received.
fn exchange(
    (a, to_a, byte_a): (&UdpSocket, SocketAddr, u8),
    (b, to_b, byte_b): (&UdpSocket, SocketAddr, u8),
    seq: &mut u16,
) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    // What was in flight before.
    receive(a, Duration::from_millis(100), usize::MAX);
    receive(b, Duration::from_millis(100), usize::MAX);
    for _ in 0..10 {
        let s = *seq;
        *seq += 1;
        let ts = u32::from(s) * 160;
        a.send_to(&rtp(0, false, s, ts, 0xa, &[byte_a; 160]), to_a)
            .unwrap();
        b.send_to(&rtp(0, false, s, ts, 0xb, &[byte_b; 160]), to_b)
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let payloads = |got: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        got.into_iter()
            // RTP only (RTCP goes to the port above).
            .filter(|p| p.len() == 172)
            .map(|p| p[12..].to_vec())
            .collect()
    };
    (
        payloads(receive(a, Duration::from_secs(1), 10)),
        payloads(receive(b, Duration::from_secs(1), 10)),
    )
}

#[test]
fn muting_a_channel_silences_exactly_the_direction_asked_for() {
    let ports = Ports::for_test(31);
    let tandem = Tandem::start(&ports.run_args());
    let api = Client {
        addr: SocketAddr::from(([127, 0, 0, 1], ports.api)),
    };
    api.wait_ready();
    let (a, b) = (peer(), peer());
    let mut ids = Vec::new();
    for p in [&a, &b] {
        let c = api.call(
            "POST",
            "/channels",
            Some(json!({"codec": "PCMU", "remote": p.local_addr().unwrap().to_string()})),
        );
        assert_eq!(c.status, 201, "{}", c.text);
        ids.push(c.json["id"].as_str().unwrap().to_owned());
    }
    let bridge = api.call("POST", "/bridges", Some(json!({"type": "two_party"})));
    let bid = bridge.json["id"].as_str().unwrap().to_owned();
    for id in &ids {
        let added = api.call(
            "POST",
            &format!("/bridges/{bid}/addChannel"),
            Some(json!({"channel": id})),
        );
        assert_eq!(added.status, 200, "{}", added.text);
    }
    let channel = |id: &str| api.call("GET", &format!("/channels/{id}"), None).json;
    let (to_a, to_b) = (local_rtp(&channel(&ids[0])), local_rtp(&channel(&ids[1])));
    let mut seq = 0;
    let mut round = || exchange((&a, to_a, 0x12), (&b, to_b, 0x34), &mut seq);
    let all = |got: &[Vec<u8>], byte: u8| got.iter().all(|p| p.iter().all(|&x| x == byte));

    let (at_a, at_b) = round();
    assert!(
        at_a.len() >= 8 && at_b.len() >= 8,
        "{} {}",
        at_a.len(),
        at_b.len()
    );
    assert!(all(&at_a, 0x34) && all(&at_b, 0x12), "audio flows unmuted");

    // A muted in: B hears µ-law silence (0xFF), A still hears B.
    let muted = api.call(
        "POST",
        &format!("/channels/{}/mute?direction=in", ids[0]),
        None,
    );
    assert_eq!(muted.status, 204, "{}", muted.text);
    assert_eq!(channel(&ids[0])["muted"], "in");
    let (at_a, at_b) = round();
    assert!(
        at_b.len() >= 8,
        "the muted stream keeps flowing ({})",
        at_b.len()
    );
    assert!(all(&at_b, 0xFF), "A's audio leaked through mute in");
    assert!(all(&at_a, 0x34), "mute in does not silence what A hears");

    // Unmuted: A's audio is back.
    let unmuted = api.call("DELETE", &format!("/channels/{}/mute", ids[0]), None);
    assert_eq!(unmuted.status, 204, "{}", unmuted.text);
    assert_eq!(channel(&ids[0])["muted"], Value::Null);
    let (_, at_b) = round();
    assert!(
        at_b.len() >= 8 && all(&at_b, 0x12),
        "unmute restores A's audio"
    );

    // B muted out: B hears silence, A still hears B.
    let muted = api.call(
        "POST",
        &format!("/channels/{}/mute?direction=out", ids[1]),
        None,
    );
    assert_eq!(muted.status, 204, "{}", muted.text);
    let (at_a, at_b) = round();
    assert!(
        at_b.len() >= 8 && all(&at_b, 0xFF),
        "B muted out hears audio"
    );
    assert!(
        at_a.len() >= 8 && all(&at_a, 0x34),
        "B's own audio still reaches A"
    );

    // Bad requests.
    let bad = api.call(
        "POST",
        &format!("/channels/{}/mute?direction=up", ids[0]),
        None,
    );
    assert_eq!(bad.status, 400, "{}", bad.text);
    let missing = api.call("POST", "/channels/ch-999/mute", None);
    assert_eq!(missing.status, 404, "{}", missing.text);

    let (status, stderr) = tandem.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
}
