//! The ng listener under a burst, as a proxy with many worker processes drives it: rounds of
//! 24 calls whose offers are all sent before any reply is read, then their answers, then
//! their deletes. Every command gets exactly one reply, to its own cookie, `ok`; each call
//! gets ports of its own; and the deletes free them for the next round (the port range holds
//! 25 calls), so nothing leaks however the commands interleave.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use tandem::ng::bencode::{Value, decode};

use support::ng::{media_port, pcmu_sdp};
use support::{Ports, Tandem};

const TEST: u16 = 15;
const ROUNDS: usize = 8;
const CALLS: usize = 24;

/// Sends one command per call of `calls` without waiting, then collects every reply: each
/// cookie answered once, `ok`. Returns the replies by call.
fn burst(
    socket: &UdpSocket,
    round: usize,
    command: &str,
    calls: &[String],
    extra: impl Fn(usize) -> Vec<(&'static str, Value)>,
) -> HashMap<String, Value> {
    let mut cookies = HashMap::new();
    for (i, call) in calls.iter().enumerate() {
        let cookie = format!("r{round}-{command}-{i}");
        let mut pairs = vec![
            (b"command".to_vec(), Value::str(command)),
            (b"call-id".to_vec(), Value::str(call)),
            (b"from-tag".to_vec(), Value::str("caller")),
        ];
        pairs.extend(
            extra(i)
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v)),
        );
        let mut datagram = format!("{cookie} ").into_bytes();
        datagram.extend_from_slice(&Value::Dict(pairs.into_iter().collect()).to_bytes());
        socket.send(&datagram).unwrap();
        cookies.insert(cookie, call.clone());
    }
    let mut replies = HashMap::new();
    let mut buf = vec![0u8; 65_535];
    let deadline = Instant::now() + Duration::from_secs(30);
    while replies.len() < calls.len() && Instant::now() < deadline {
        let Ok(len) = socket.recv(&mut buf) else {
            continue;
        };
        let (cookie, body) =
            buf[..len].split_at(buf[..len].iter().position(|&b| b == b' ').unwrap());
        let cookie = String::from_utf8(cookie.to_vec()).unwrap();
        let call = cookies
            .get(&cookie)
            .unwrap_or_else(|| panic!("a reply to an unknown cookie {cookie}"));
        let reply = decode(&body[1..]).unwrap();
        assert_eq!(
            reply.get("result").and_then(Value::as_str),
            Some("ok"),
            "{command} of {call}: {reply:?}"
        );
        assert!(
            replies.insert(call.clone(), reply).is_none(),
            "{command} of {call} answered twice"
        );
    }
    assert_eq!(
        replies.len(),
        calls.len(),
        "every {command} answered in 30 s"
    );
    replies
}

#[test]
fn a_burst_of_commands_in_flight_is_answered_in_full() {
    let ports = Ports::for_test(TEST);
    let _tandem = Tandem::start(&ports.run_args());
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    socket.connect(("127.0.0.1", ports.ng)).unwrap();
    for round in 0..ROUNDS {
        let calls: Vec<String> = (0..CALLS).map(|i| format!("burst-{round}-{i}")).collect();
        let offers = burst(&socket, round, "offer", &calls, |i| {
            vec![("sdp", pcmu_sdp(40_000 + 2 * i as u16))]
        });
        let offered: HashSet<u16> = offers.values().map(media_port).collect();
        assert_eq!(offered.len(), CALLS, "one port towards each callee");
        let answers = burst(&socket, round, "answer", &calls, |i| {
            vec![
                ("to-tag", Value::str("callee")),
                ("sdp", pcmu_sdp(41_000 + 2 * i as u16)),
            ]
        });
        let answered: HashSet<u16> = answers.values().map(media_port).collect();
        assert_eq!(answered.len(), CALLS, "one port towards each caller");
        assert!(answered.is_disjoint(&offered));
        burst(&socket, round, "delete", &calls, |_| Vec::new());
    }
}
