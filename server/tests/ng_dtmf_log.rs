//! `DTMF-log-dest` and `[ng] dtmf_log_dest` against `tandem run`: a digit one side of an ng
//! call sends as RFC 4733 reaches the call's log destination as one JSON datagram with
//! rtpengine's keys; a call without its own destination reports to the configured one.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use serde_json::Value as Json;
use tandem::ng::bencode::Value;

use support::ng::{NgClient, media_port, peer, rtp, sdp_with_events};
use support::{Ports, scratch, start_with_config};

/// A listener for reports, reads bounded by `wait`.
fn listener(wait: Duration) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(wait)).unwrap();
    socket
}

/// The next report `socket` receives, if one comes in time.
fn report(socket: &UdpSocket) -> Option<Json> {
    let mut buf = [0u8; 2048];
    let len = socket.recv(&mut buf).ok()?;
    Some(serde_json::from_slice(&buf[..len]).expect("a JSON report"))
}

/// Sets up relayed call `id` between two new peers (`extra` goes into the offer) and has
/// side `a` press `5` for 100 ms at volume 12 in RFC 4733, with audio around it; returns
/// side a's address.
fn call_pressing_5(ng: &mut NgClient, id: &str, extra: &[(&str, Value)]) -> SocketAddr {
    let (a, b) = (peer(), peer());
    let mut offer_entries = vec![
        ("from-tag", Value::str("alice")),
        ("sdp", sdp_with_events(a.local_addr().unwrap().port(), "0")),
    ];
    offer_entries.extend(extra.iter().cloned());
    let offer = ng.command("offer", id, &offer_entries);
    assert_eq!(
        offer.get("result").and_then(Value::as_str),
        Some("ok"),
        "{offer:?}"
    );
    let answer = ng.command(
        "answer",
        id,
        &[
            ("from-tag", Value::str("alice")),
            ("to-tag", Value::str("bob")),
            ("sdp", sdp_with_events(b.local_addr().unwrap().port(), "0")),
        ],
    );
    assert_eq!(
        answer.get("result").and_then(Value::as_str),
        Some("ok"),
        "{answer:?}"
    );
    let to_a_leg = SocketAddr::from(([127, 0, 0, 1], media_port(&answer)));
    let (mut seq, mut ts) = (0u16, 0u32);
    let send = |packet: &[u8]| {
        a.send_to(packet, to_a_leg).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    };
    for _ in 0..5 {
        send(&rtp(0, seq, ts, 0xa11ce, &[0xff; 160]));
        (seq, ts) = (seq + 1, ts + 160);
    }
    // Digit 5, volume 12: updates every 20 ms, then three end packets (RFC 4733 §2.5.1.4).
    let digit_ts = ts;
    for step in 1..=5u16 {
        let duration = step * 160;
        let end = step == 5;
        let repeats = if end { 3 } else { 1 };
        for _ in 0..repeats {
            let flags = if end { 0x80 | 12 } else { 12 };
            let d = duration.to_be_bytes();
            send(&rtp(101, seq, digit_ts, 0xa11ce, &[5, flags, d[0], d[1]]));
            seq += 1;
        }
    }
    ts = digit_ts + 800;
    for _ in 0..5 {
        send(&rtp(0, seq, ts, 0xa11ce, &[0xff; 160]));
        (seq, ts) = (seq + 1, ts + 160);
    }
    a.local_addr().unwrap()
}

#[test]
fn digits_are_reported_to_the_calls_log_destination_with_rtpengines_keys() {
    let ports = Ports::for_test(42);
    let (configured, per_call) = (
        listener(Duration::from_secs(3)),
        listener(Duration::from_secs(3)),
    );
    let dir = scratch("ng-dtmf-log");
    let tandem = start_with_config(
        &ports,
        &dir,
        &format!(
            "[ng]\ndtmf_log_dest = \"{}\"\n",
            configured.local_addr().unwrap()
        ),
    );
    let mut ng = NgClient::new(ports.ng);

    // A call with its own destination reports there, and only there.
    let dest = per_call.local_addr().unwrap().to_string();
    let source = call_pressing_5(&mut ng, "log-1", &[("DTMF-log-dest", Value::str(&dest))]);
    let got = report(&per_call).expect("a report at the call's DTMF-log-dest");
    assert_eq!(got["callid"], "log-1", "{got}");
    assert_eq!(got["source_tag"], "alice", "{got}");
    let mut tags: Vec<_> = got["tags"].as_array().unwrap().iter().collect();
    tags.sort_by_key(|t| t.as_str().unwrap_or_default().to_owned());
    assert_eq!(tags, [&Json::from("alice"), &Json::from("bob")], "{got}");
    assert_eq!(got["type"], "DTMF", "{got}");
    assert_eq!(got["event"], 5, "{got}");
    assert_eq!(got["volume"], 12, "{got}");
    assert_eq!(got["duration"], 100, "{got}");
    assert_eq!(got["source_ip"], source.ip().to_string(), "{got}");
    assert!(got["timestamp"].as_u64().unwrap() > 1_700_000_000, "{got}");
    for socket in [&per_call, &configured] {
        socket
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    assert!(report(&per_call).is_none(), "one report per digit");
    assert!(
        report(&configured).is_none(),
        "nothing at the configured destination"
    );
    configured
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();

    // A call without one reports to [ng] dtmf_log_dest.
    call_pressing_5(&mut ng, "log-2", &[]);
    let got = report(&configured).expect("a report at [ng] dtmf_log_dest");
    assert_eq!(
        (got["callid"].as_str(), got["event"].as_u64()),
        (Some("log-2"), Some(5)),
        "{got}"
    );
    drop(tandem);
}
