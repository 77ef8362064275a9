//! Any sequence of ng commands against Tandem's command layer over a real media runtime:
//! offers and answers with many kinds of SDP and flags (some broken), re-offers, deletes,
//! queries, DTMF, media controls, recordings, garbage. Whatever the order, every reply is a
//! well-formed `ok` or `error` with a reason, the calls `list` shows are exactly those a
//! successful offer created and no delete removed, SDP that Tandem returns points at its own
//! address and port range, and once every call is deleted the runtime holds no session and
//! every port is free again (a fresh offer for as many calls as the range holds succeeds).
//!
//! Ports: test 46's RTP range (see `support`), 40 ports of it.

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use tandem::ng::Calls;
use tandem::ng::bencode::Value;
use tandem::ng::command::handle;
use tandem::recordings::{RecordingState, Recordings};
use tandem::run::media::MediaPolicy;
use tandem_core::runtime::Runtime;
use tandem_test_support::cases::proptest_cases;
use tandem_test_support::settle::settle;

use support::Ports;
use support::ng::loopback_runtime;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Port pairs in the runtime's range: as many two-legged calls as half of it.
const PORTS: u16 = 40;
const CALL_IDS: usize = 4;

fn rtp_range() -> (u16, u16) {
    let min = Ports::for_test(46).rtp_min;
    (min, min + PORTS - 1)
}

/// `base` with `options` added; an option whose key is already there replaces its value
/// (a repeated key is malformed bencode, refused before any command runs).
fn with_options(mut base: Vec<(&'static str, Value)>, options: &[(&'static str, Value)]) -> Value {
    for (key, value) in options {
        match base.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.clone(),
            None => base.push((key, value.clone())),
        }
    }
    dict(base)
}

fn dict(entries: Vec<(&str, Value)>) -> Value {
    Value::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| Value::str(s)).collect())
}

/// The SDP a peer offers or answers with.
#[derive(Debug, Clone, Copy)]
enum Sdp {
    Pcmu,
    PcmaPcmuEvents,
    Opus,
    OpusPcmu,
    G722,
    WithIce,
    SendOnly,
    PortZero,
    Ipv6,
    AudioAndVideo,
    NoMedia,
    UnknownCodecOnly,
    Garbage,
}

impl Sdp {
    fn text(self, port: u16) -> String {
        let head = "v=0\r\no=peer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n";
        match self {
            Sdp::Pcmu => format!("{head}m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"),
            Sdp::PcmaPcmuEvents => format!(
                "{head}m=audio {port} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\n\
                 a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
                 a=ptime:20\r\n"
            ),
            Sdp::Opus => format!(
                "{head}m=audio {port} RTP/AVP 96 101\r\na=rtpmap:96 opus/48000/2\r\n\
                 a=fmtp:96 useinbandfec=1\r\na=rtpmap:101 telephone-event/48000\r\n"
            ),
            Sdp::OpusPcmu => format!(
                "{head}m=audio {port} RTP/AVP 111 0\r\na=rtpmap:111 opus/48000/2\r\n\
                 a=rtpmap:0 PCMU/8000\r\n"
            ),
            Sdp::G722 => format!("{head}m=audio {port} RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"),
            Sdp::WithIce => format!(
                "{head}m=audio {port} RTP/AVP 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n\
                 a=candidate:1 1 UDP 2130706431 127.0.0.1 {port} typ host\r\na=rtcp-mux\r\n"
            ),
            Sdp::SendOnly => format!(
                "{head}m=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n"
            ),
            Sdp::PortZero => format!("{head}m=audio 0 RTP/AVP 0\r\n"),
            Sdp::Ipv6 => format!(
                "v=0\r\no=peer 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"
            ),
            Sdp::AudioAndVideo => format!(
                "{head}m=audio {port} RTP/AVP 0\r\nm=video {} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
                port + 2
            ),
            Sdp::NoMedia => head.to_owned(),
            Sdp::UnknownCodecOnly => {
                format!("{head}m=audio {port} RTP/AVP 98\r\na=rtpmap:98 AMR-WB/16000\r\n")
            }
            Sdp::Garbage => "v=0\r\nm=audio banana\r\nc=IN IP4\r\n\0\u{7f}".to_owned(),
        }
    }
}

fn sdp_kind() -> impl Strategy<Value = Sdp> {
    prop_oneof![
        4 => Just(Sdp::Pcmu),
        3 => Just(Sdp::PcmaPcmuEvents),
        3 => Just(Sdp::Opus),
        2 => Just(Sdp::OpusPcmu),
        2 => Just(Sdp::G722),
        1 => Just(Sdp::WithIce),
        1 => Just(Sdp::SendOnly),
        1 => Just(Sdp::PortZero),
        1 => Just(Sdp::Ipv6),
        1 => Just(Sdp::AudioAndVideo),
        1 => Just(Sdp::NoMedia),
        1 => Just(Sdp::UnknownCodecOnly),
        1 => Just(Sdp::Garbage),
    ]
}

/// Options an offer or answer may carry, as Kamailio's rtpengine module sends them (and
/// some it would not).
fn options() -> impl Strategy<Value = Vec<(&'static str, Value)>> {
    let option = prop_oneof![
        Just(("flags", list(&["trust-address"]))),
        Just(("flags", list(&["SIP-source-address", "loop-protect"]))),
        Just(("replace", list(&["origin", "session-connection"]))),
        Just(("ICE", Value::str("remove"))),
        Just(("transport-protocol", Value::str("RTP/AVP"))),
        Just(("transport-protocol", Value::str("RTP/SAVPF"))),
        Just(("address family", Value::str("IP4"))),
        Just(("address family", Value::str("IP6"))),
        Just(("direction", list(&["internal", "external"]))),
        Just((
            "codec",
            dict(vec![("transcode", list(&["opus/48000/2/32000"]))])
        )),
        Just(("codec", dict(vec![("transcode", list(&["PCMA"]))]))),
        Just(("codec", dict(vec![("strip", list(&["PCMU"]))]))),
        Just((
            "codec",
            dict(vec![
                ("mask", list(&["all"])),
                ("transcode", list(&["G722"]))
            ])
        )),
        Just(("codec", dict(vec![("except", list(&["opus"]))]))),
        Just(("codec", dict(vec![("accept", list(&["PCMU"]))]))),
        Just(("codec", Value::str("not a dictionary"))),
        Just(("ptime", Value::Int(30))),
        Just(("ptime", Value::Int(-20))),
        Just(("label", Value::str("caller"))),
        Just(("record call", Value::str("yes"))),
        Just(("DTMF-log-dest", Value::str("127.0.0.1:9"))),
        Just(("DTMF-log-dest", Value::str("nowhere"))),
        Just(("via-branch", Value::str("z9hG4bK-1"))),
        Just(("media timeout", Value::Int(1))),
        Just(("rtcp-mux", list(&["demux"]))),
        Just(("sdp", Value::Int(7))),
    ];
    // One value per key: a repeated key is malformed bencode, refused before any command.
    prop::collection::vec(option, 0..3).prop_map(|mut options| {
        let mut seen = BTreeSet::new();
        options.retain(|(key, _)| seen.insert(*key));
        options
    })
}

#[derive(Debug, Clone)]
enum Op {
    Offer {
        call: usize,
        from: usize,
        sdp: Sdp,
        port: u16,
        options: Vec<(&'static str, Value)>,
    },
    Answer {
        call: usize,
        from: usize,
        to: usize,
        sdp: Sdp,
        port: u16,
        options: Vec<(&'static str, Value)>,
    },
    Delete {
        call: usize,
    },
    Query {
        call: usize,
    },
    /// `play DTMF`, `block DTMF`, `unblock media`...: commands naming a call and a side.
    Side {
        command: &'static str,
        call: usize,
        tag: usize,
        extra: Vec<(&'static str, Value)>,
    },
    List,
    Statistics,
    Ping,
    /// A message that is not a well-formed command.
    Garbage(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let call = 0..CALL_IDS;
    // Mostly the tags of the dialog's first branch, so that answers and side commands find
    // the call's sides.
    let tag = || prop_oneof![6 => Just(0usize), 1 => Just(1)];
    let side_command = prop_oneof![
        Just("play DTMF"),
        Just("block DTMF"),
        Just("unblock DTMF"),
        Just("block media"),
        Just("unblock media"),
        Just("silence media"),
        Just("unsilence media"),
        Just("start recording"),
        Just("stop recording"),
        Just("pause recording"),
        Just("play media"),
        Just("stop media"),
        Just("start forwarding"),
    ];
    let extra = prop_oneof![
        Just(vec![("code", Value::str("5"))]),
        Just(vec![
            ("code", Value::str("#")),
            ("duration", Value::Int(300))
        ]),
        Just(vec![("code", Value::str("xyz"))]),
        Just(vec![("code", Value::Int(12)), ("volume", Value::Int(-3))]),
        Just(vec![("file", Value::str("/nonexistent/prompt.wav"))]),
        Just(vec![("blob", Value::Bytes(b"RIFF\0\0\0\0WAVE".to_vec()))]),
        Just(vec![]),
    ];
    prop_oneof![
        6 => (call.clone(), tag(), sdp_kind(), 1024u16..60000, options()).prop_map(
            |(call, from, sdp, port, options)| Op::Offer { call, from, sdp, port, options }
        ),
        5 => (call.clone(), tag(), tag(), sdp_kind(), 1024u16..60000, options()).prop_map(
            |(call, from, to, sdp, port, options)| Op::Answer { call, from, to, sdp, port, options }
        ),
        2 => call.clone().prop_map(|call| Op::Delete { call }),
        1 => call.clone().prop_map(|call| Op::Query { call }),
        3 => (side_command, call, prop_oneof![Just(0usize), Just(1), Just(2)], extra).prop_map(|(command, call, tag, extra)| Op::Side {
            command, call, tag, extra
        }),
        1 => Just(Op::List),
        1 => Just(Op::Statistics),
        1 => Just(Op::Ping),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Op::Garbage),
    ]
}

fn call_id(call: usize) -> String {
    format!("prop-call-{call}@127.0.0.1")
}

fn from_tag(i: usize) -> String {
    format!("from-{i}")
}

fn to_tag(i: usize) -> String {
    format!("to-{i}")
}

impl Op {
    fn message(&self) -> Vec<u8> {
        let message = match self {
            Op::Offer {
                call,
                from,
                sdp,
                port,
                options,
            } => {
                let m = vec![
                    ("command", Value::str("offer")),
                    ("call-id", Value::str(&call_id(*call))),
                    ("from-tag", Value::str(&from_tag(*from))),
                    ("sdp", Value::Bytes(sdp.text(*port).into_bytes())),
                ];
                with_options(m, options)
            }
            Op::Answer {
                call,
                from,
                to,
                sdp,
                port,
                options,
            } => {
                let m = vec![
                    ("command", Value::str("answer")),
                    ("call-id", Value::str(&call_id(*call))),
                    ("from-tag", Value::str(&from_tag(*from))),
                    ("to-tag", Value::str(&to_tag(*to))),
                    ("sdp", Value::Bytes(sdp.text(*port).into_bytes())),
                ];
                with_options(m, options)
            }
            Op::Delete { call } => dict(vec![
                ("command", Value::str("delete")),
                ("call-id", Value::str(&call_id(*call))),
            ]),
            Op::Query { call } => dict(vec![
                ("command", Value::str("query")),
                ("call-id", Value::str(&call_id(*call))),
            ]),
            Op::Side {
                command,
                call,
                tag,
                extra,
            } => {
                let tag = match tag {
                    0 => from_tag(0),
                    1 => to_tag(0),
                    _ => "nobody".to_owned(),
                };
                let m = vec![
                    ("command", Value::str(command)),
                    ("call-id", Value::str(&call_id(*call))),
                    ("from-tag", Value::str(&tag)),
                ];
                with_options(m, extra)
            }
            Op::List => dict(vec![("command", Value::str("list"))]),
            Op::Statistics => dict(vec![("command", Value::str("statistics"))]),
            Op::Ping => dict(vec![("command", Value::str("ping"))]),
            Op::Garbage(bytes) => return bytes.clone(),
        };
        message.to_bytes()
    }
}

fn result(reply: &Value) -> &str {
    reply.get("result").and_then(Value::as_str).unwrap_or("")
}

fn listed(calls: &mut Calls) -> BTreeSet<String> {
    let reply = handle(calls, b"d7:command4:list5:limiti100ee");
    reply
        .get("calls")
        .and_then(Value::as_list)
        .expect("list names the calls")
        .iter()
        .map(|v| v.as_str().expect("a call-id").to_owned())
        .collect()
}

fn runtime() -> Arc<Runtime> {
    let (min, max) = rtp_range();
    loopback_runtime(min, max)
}

/// The runtime's sessions and legs, once `settled` holds for them or after 2 s (its stats
/// are written as workers install and remove sessions).
fn sessions_and_legs(runtime: &Runtime, settled: impl Fn(&(u64, u64)) -> bool) -> (u64, u64) {
    let read = || {
        let stats = runtime.worker_stats();
        (
            stats.iter().map(|s| s.sessions).sum(),
            stats.iter().map(|s| s.legs).sum(),
        )
    };
    settle(Duration::from_secs(2), read, settled)
}

/// Checks what the offer or answer reply says about its SDP.
fn check_sdp(reply: &Value) -> Result<(), TestCaseError> {
    let (min, max) = rtp_range();
    let sdp = reply
        .get("sdp")
        .and_then(Value::as_str)
        .ok_or_else(|| TestCaseError::fail(format!("an ok reply without SDP: {reply:?}")))?;
    for line in sdp.lines().filter(|l| l.starts_with("m=")) {
        let port: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| TestCaseError::fail(format!("m= line: {line}")))?;
        prop_assert!(
            port == 0 || (min..=max).contains(&port),
            "port {port} outside {min}-{max}: {sdp}"
        );
    }
    if sdp
        .lines()
        .any(|l| l.starts_with("m=audio ") && !l.starts_with("m=audio 0 "))
    {
        prop_assert!(
            sdp.lines().any(|l| l == "c=IN IP4 127.0.0.1"),
            "live audio is not on Tandem's address: {sdp}"
        );
    }
    Ok(())
}

/// Where `record call` and `start recording` write: a folder of this test process's
/// under the system's temporary directory, emptied after each case.
fn recordings_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tandem-ng-properties-{}", std::process::id()))
}

fn check(ops: &[Op]) -> Result<(), TestCaseError> {
    let runtime = runtime();
    let recordings = Recordings::new(Arc::clone(&runtime), recordings_dir());
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST)
        .with_recordings(Arc::clone(&recordings));
    let mut model: BTreeSet<String> = BTreeSet::new();
    for op in ops {
        let reply = handle(&mut calls, &op.message());
        let outcome = result(&reply);
        prop_assert!(
            matches!(outcome, "ok" | "error" | "pong"),
            "{op:?} → {reply:?}"
        );
        if outcome == "error" {
            prop_assert!(
                reply
                    .get("error-reason")
                    .and_then(Value::as_str)
                    .is_some_and(|r| !r.is_empty()),
                "an error without a reason: {op:?} → {reply:?}"
            );
        }
        match op {
            Op::Offer { call, .. } if outcome == "ok" => {
                check_sdp(&reply)?;
                model.insert(call_id(*call));
            }
            Op::Answer { call, .. } if outcome == "ok" => {
                check_sdp(&reply)?;
                prop_assert!(model.contains(&call_id(*call)), "answered an unknown call");
            }
            Op::Delete { call } => {
                // rtpengine's way: a delete that finds nothing is `ok` with a warning.
                prop_assert_eq!(outcome, "ok", "{:?}", reply);
                prop_assert_eq!(
                    reply.get("warning").is_none(),
                    model.remove(&call_id(*call)),
                    "{:?}",
                    reply
                );
            }
            Op::Query { call } => {
                prop_assert_eq!(
                    outcome == "ok",
                    model.contains(&call_id(*call)),
                    "{:?}",
                    reply
                );
            }
            Op::Statistics => {
                let own = reply
                    .get("statistics")
                    .and_then(|s| s.get("currentstatistics"))
                    .and_then(|c| c.get("sessionsown"))
                    .and_then(Value::as_int);
                prop_assert_eq!(own, Some(model.len() as i64));
            }
            Op::Ping => prop_assert_eq!(outcome, "pong"),
            _ => {}
        }
        prop_assert_eq!(&listed(&mut calls), &model, "after {:?} → {:?}", op, reply);
    }
    // One session per call on the runtime; none once every call is deleted.
    let calls_now = model.len() as u64;
    let (sessions, _) = sessions_and_legs(&runtime, |(s, _)| *s == calls_now);
    prop_assert_eq!(sessions, calls_now);
    for id in &model {
        let delete = dict(vec![
            ("command", Value::str("delete")),
            ("call-id", Value::str(id)),
        ]);
        let reply = handle(&mut calls, &delete.to_bytes());
        prop_assert_eq!(result(&reply), "ok");
    }
    prop_assert_eq!(sessions_and_legs(&runtime, |now| *now == (0, 0)), (0, 0));
    // Every recording finished with its call, into a WAV file that reads back whole.
    let open = |all: &Vec<tandem::recordings::Recording>| all.iter().any(|r| r.state.is_open());
    let all = settle(
        Duration::from_secs(3),
        || recordings.list(),
        |all| !open(all),
    );
    prop_assert!(!open(&all), "recordings still open: {:?}", all);
    for r in all.iter().filter(|r| r.state == RecordingState::Done) {
        let read = tandem_codecs::file::wav::read(&r.path);
        prop_assert!(read.is_ok(), "{}: {:?}", r.path.display(), read.err());
    }
    // No port leaked: the range takes as many fresh two-legged calls as it has pairs for.
    for i in 0..PORTS / 4 {
        let offer = Op::Offer {
            call: 100 + i as usize,
            from: 0,
            sdp: Sdp::Pcmu,
            port: 20_000,
            options: Vec::new(),
        };
        let reply = handle(&mut calls, &offer.message());
        prop_assert_eq!(result(&reply), "ok", "fresh call {}: {:?}", i, reply);
        let answer = Op::Answer {
            call: 100 + i as usize,
            from: 0,
            to: 0,
            sdp: Sdp::Pcmu,
            port: 20_002,
            options: Vec::new(),
        };
        let reply = handle(&mut calls, &answer.message());
        prop_assert_eq!(result(&reply), "ok", "fresh answer {}: {:?}", i, reply);
    }
    calls.clear();
    let _ = std::fs::remove_dir_all(recordings_dir());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: proptest_cases(24), ..ProptestConfig::default() })]

    #[test]
    fn any_ng_command_sequence_keeps_calls_and_ports_consistent(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        check(&ops)?;
    }
}
