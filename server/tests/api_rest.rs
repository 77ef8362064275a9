//! The REST API in-process over a real media runtime on loopback: channels carry and count
//! RTP, two-party bridges relay both ways, DTMF goes out as RFC 4733, playbacks play, the
//! OpenAPI document matches the router, credentials and the ACL are enforced, `/metrics`
//! is well-formed Prometheus text, channels take the configured jitter buffer.

mod api_common;
#[allow(dead_code)]
#[path = "support/metrics.rs"]
mod metrics;

use std::time::Duration;

use api_common::{bridged_pair, call, eventually, http, local_rtp, peer, receive, rtp, start};
use serde_json::json;
use tandem::api::ApiSettings;
use tandem::api::auth::Access;
use tandem::api::openapi::{ROUTES, document};
use tandem::run::config::{JitterBuffer, JitterSettings};

#[test]
fn api_channel_statistics_move_with_rtp() {
    let server = start(23000, ApiSettings::default());
    let a = peer();
    let created = call(
        &server,
        "POST",
        "/channels",
        Some(json!({"codec": "PCMU", "remote": a.local_addr().unwrap().to_string()})),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let to = local_rtp(&created.json);
    // At their own pace: the holding room decodes them, and a burst would sit in its jitter
    // buffer (and in the estimate's delay) all at once.
    for i in 0..20u16 {
        a.send_to(
            &rtp(0, i == 0, i, u32::from(i) * 160, 0x1234, &[0xff; 160]),
            to,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = eventually(Duration::from_secs(3), || {
        let got = call(&server, "GET", &format!("/channels/{id}"), None);
        let s = got.json["statistics"].clone();
        (s["packets_accepted"].as_u64() == Some(20)).then_some(s)
    })
    .expect("statistics count the 20 packets");
    assert_eq!(stats["cumulative_lost"], 0);
    let mos = stats["mos"].as_f64().unwrap();
    assert!((4.0..=4.5).contains(&mos), "{mos}: {stats}");
    assert_eq!(
        call(&server, "GET", "/channels", None)
            .json
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        call(&server, "DELETE", &format!("/channels/{id}"), None).status,
        204
    );
    let gone = call(&server, "GET", &format!("/channels/{id}"), None);
    assert_eq!(
        (gone.status, gone.json["code"].as_str()),
        (404, Some("not_found"))
    );
    let bad = call(
        &server,
        "POST",
        "/channels",
        Some(json!({"codec": "nonsense"})),
    );
    assert_eq!(
        (bad.status, bad.json["code"].as_str()),
        (400, Some("bad_request"))
    );
}

#[test]
fn api_two_party_bridge_carries_rtp_both_ways() {
    let server = start(23100, ApiSettings::default());
    let (a, b, ids, bid) = bridged_pair(&server, "two_party", None);
    let ca = call(&server, "GET", &format!("/channels/{}", ids[0]), None).json;
    let cb = call(&server, "GET", &format!("/channels/{}", ids[1]), None).json;
    assert_eq!(ca["carrier"], "two_party");
    let (to_a, to_b) = (local_rtp(&ca), local_rtp(&cb));
    // Drain what the holding rooms sent before the move.
    receive(&a, Duration::from_millis(100), usize::MAX);
    receive(&b, Duration::from_millis(100), usize::MAX);
    for i in 0..5u16 {
        a.send_to(
            &rtp(0, false, i, u32::from(i) * 160, 0xa, &[i as u8; 160]),
            to_a,
        )
        .unwrap();
        b.send_to(
            &rtp(0, false, i, u32::from(i) * 160, 0xb, &[0x40 + i as u8; 160]),
            to_b,
        )
        .unwrap();
    }
    let at_b = receive(&b, Duration::from_secs(2), 5);
    let at_a = receive(&a, Duration::from_secs(2), 5);
    assert_eq!(at_b.len(), 5, "a -> b");
    assert_eq!(at_a.len(), 5, "b -> a");
    assert_eq!(at_b[4][12], 4);
    assert_eq!(at_a[4][12], 0x44);
    // A relayed leg has no jitter buffer to report.
    let relayed = call(&server, "GET", &format!("/channels/{}", ids[0]), None).json;
    assert!(relayed["statistics"]["playout"].is_null(), "{relayed}");
    // Removing a channel puts both back in holding rooms.
    let removed = call(
        &server,
        "POST",
        &format!("/bridges/{bid}/removeChannel?channel={}", ids[0]),
        None,
    );
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.json["channel"]["carrier"], "holding");
    assert_eq!(
        call(&server, "DELETE", &format!("/bridges/{bid}"), None).status,
        204
    );
    assert_eq!(call(&server, "GET", "/bridges", None).json, json!([]));
}

#[test]
fn api_statistics_report_the_jitter_buffer_of_a_decoded_leg() {
    let server = start(23850, ApiSettings::default());
    let (a, _b, ids, _bridge) = bridged_pair(&server, "mixing", None);
    let to_a = local_rtp(&call(&server, "GET", &format!("/channels/{}", ids[0]), None).json);
    // 60 packets of a 400 Hz tone at their own pace, the 30th never sent.
    let tone: Vec<u8> = (0..160)
        .map(|n| {
            let x = (f64::from(n) * 2.0 * std::f64::consts::PI * 400.0 / 8000.0).sin();
            tandem_codecs::g711::ulaw::encode((x * 8000.0) as i16)
        })
        .collect();
    let start = std::time::Instant::now();
    for i in 0..60u16 {
        if i != 30 {
            a.send_to(&rtp(0, i == 0, i, u32::from(i) * 160, 0xa, &tone), to_a)
                .unwrap();
        }
        let due = start + Duration::from_millis(20 * (u64::from(i) + 1));
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
    }
    let stats = eventually(Duration::from_secs(3), || {
        let got = call(&server, "GET", &format!("/channels/{}", ids[0]), None);
        let s = got.json["statistics"].clone();
        (s["playout"]["packets_played"].as_u64() >= Some(55)).then_some(s)
    })
    .expect("the mixing bridge decodes a's packets");
    let playout = &stats["playout"];
    assert_eq!(playout["jitter_buffer"], "adaptive", "{stats}");
    assert_eq!(playout["packets_lost"], 1, "{stats}");
    let loss = playout["loss_percent"].as_f64().unwrap();
    assert!((1.0..2.0).contains(&loss), "{stats}");
    let delay = playout["delay_ms"].as_u64().unwrap();
    assert!((1..=200).contains(&delay), "{stats}");
    assert!(playout["target_delay_ms"].as_u64() >= Some(1), "{stats}");
    // The estimate counts what the buffer lost, not only what RTCP says the network lost.
    let mos = stats["mos"].as_f64().unwrap();
    assert!(mos < 4.35, "{stats}");
    // `/metrics` sums the same counters over the workers' decoding legs (b sent nothing).
    let text = call(&server, "GET", "/metrics", None).text;
    assert_eq!(
        metrics::total(&text, "tandem_playout_packets_lost_total"),
        1.0
    );
    let played = metrics::total(&text, "tandem_playout_packets_played_total");
    assert!(
        played >= playout["packets_played"].as_f64().unwrap(),
        "{text}"
    );
    let concealed = metrics::total(&text, "tandem_playout_frames_concealed_total");
    assert!(
        concealed >= playout["frames_concealed"].as_f64().unwrap(),
        "{text}"
    );
}

#[test]
fn api_channels_take_the_configured_jitter_buffer_unless_they_ask_for_the_other() {
    let jitter = JitterSettings {
        mode: JitterBuffer::Fixed,
        fixed_ms: 80,
        ..JitterSettings::default()
    };
    let server = start(
        24100,
        ApiSettings {
            jitter,
            ..ApiSettings::default()
        },
    );
    let (a, _b, ids, _bridge) = bridged_pair(&server, "mixing", None);
    let channel = call(&server, "GET", &format!("/channels/{}", ids[0]), None);
    assert_eq!(channel.json["jitter_buffer"], "fixed", "{}", channel.text);
    let to_a = local_rtp(&channel.json);
    for i in 0..10u16 {
        a.send_to(
            &rtp(0, i == 0, i, u32::from(i) * 160, 0xb, &[0xd5; 160]),
            to_a,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let playout = eventually(Duration::from_secs(3), || {
        let got = call(&server, "GET", &format!("/channels/{}", ids[0]), None);
        let playout = got.json["statistics"]["playout"].clone();
        (playout["packets_played"].as_u64() >= Some(1)).then_some(playout)
    })
    .expect("the mixing bridge decodes a's packets");
    assert_eq!(playout["jitter_buffer"], "fixed", "{playout}");
    assert_eq!(playout["delay_ms"], 80, "the configured delay: {playout}");
    // A channel may ask for the other buffer.
    let adaptive = call(
        &server,
        "POST",
        "/channels",
        Some(json!({"codec": "PCMU", "jitter_buffer": "adaptive"})),
    );
    assert_eq!(adaptive.status, 201, "{}", adaptive.text);
    assert_eq!(
        adaptive.json["jitter_buffer"], "adaptive",
        "{}",
        adaptive.text
    );
    // ... and other delays, within what the buffers hold.
    let bounded = json!({"codec": "PCMU", "jitter_buffer_min_ms": 60, "jitter_buffer_max_ms": 200});
    let bounded = call(&server, "POST", "/channels", Some(bounded));
    assert_eq!(bounded.status, 201, "{}", bounded.text);
    for (body, says) in [
        (
            json!({"codec": "PCMU", "jitter_buffer_fixed_ms": 300}),
            "jitter_buffer_fixed_ms = 300: at most 140",
        ),
        (
            json!({"codec": "PCMU", "jitter_buffer_min_ms": 200, "jitter_buffer_max_ms": 100}),
            "the least no more than the most",
        ),
    ] {
        let refused = call(&server, "POST", "/channels", Some(body));
        assert_eq!(refused.status, 400, "{}", refused.text);
        assert!(refused.text.contains(says), "{}", refused.text);
    }
}

#[test]
fn api_dtmf_send_arrives_as_rfc4733() {
    let server = start(23200, ApiSettings::default());
    let a = peer();
    let c = call(
        &server,
        "POST",
        "/channels",
        Some(
            json!({"codec": "PCMU", "telephone_event": 101, "remote": a.local_addr().unwrap().to_string()}),
        ),
    );
    let id = c.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        c.json["jitter_buffer"], "adaptive",
        "the default: {}",
        c.text
    );
    let fixed = call(
        &server,
        "POST",
        "/channels",
        Some(json!({"codec": "PCMU", "jitter_buffer": "fixed"})),
    );
    assert_eq!(fixed.json["jitter_buffer"], "fixed", "{}", fixed.text);
    let bad = call(
        &server,
        "POST",
        "/channels",
        Some(json!({"codec": "PCMU", "jitter_buffer": "elastic"})),
    );
    assert_eq!(bad.status, 400, "{}", bad.text);
    let sent = call(
        &server,
        "POST",
        &format!("/channels/{id}/dtmf"),
        Some(json!({"dtmf": "5"})),
    );
    assert_eq!(sent.status, 204, "{}", sent.text);
    let events = eventually(Duration::from_secs(3), || {
        let got: Vec<Vec<u8>> = receive(&a, Duration::from_millis(100), usize::MAX)
            .into_iter()
            .filter(|p| p.len() >= 16 && p[1] & 0x7f == 101)
            .collect();
        (!got.is_empty()).then_some(got)
    })
    .expect("RFC 4733 packets arrive");
    assert_eq!(events[0][12], 5, "event code of digit 5");
    let bad = call(
        &server,
        "POST",
        &format!("/channels/{id}/dtmf"),
        Some(json!({"dtmf": "x"})),
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn api_playback_plays_tones_and_finishes() {
    let server = start(23300, ApiSettings::default());
    let a = peer();
    let c = call(
        &server,
        "POST",
        "/channels",
        Some(json!({"codec": "PCMA", "remote": a.local_addr().unwrap().to_string()})),
    );
    let id = c.json["id"].as_str().unwrap().to_owned();
    let pb = call(
        &server,
        "POST",
        &format!("/channels/{id}/play"),
        Some(json!({"media": "tone:440+480/200,0/100"})),
    );
    assert_eq!(pb.status, 201, "{}", pb.text);
    let pid = pb.json["id"].as_str().unwrap().to_owned();
    assert!(
        !receive(&a, Duration::from_millis(300), 5).is_empty(),
        "media arrives"
    );
    let done = eventually(Duration::from_secs(3), || {
        let p = call(&server, "GET", &format!("/playbacks/{pid}"), None).json;
        (p["state"] == "done").then_some(p)
    });
    assert!(done.is_some(), "the playback finishes");
    let wrong = call(
        &server,
        "POST",
        &format!("/channels/{id}/play"),
        Some(json!({"media": "video:x"})),
    );
    assert_eq!(wrong.status, 400);
    // Mute (both directions by default, as ARI) is on the channel.
    assert_eq!(
        call(&server, "POST", &format!("/channels/{id}/mute"), None).status,
        204
    );
    let muted = call(&server, "GET", &format!("/channels/{id}"), None).json;
    assert_eq!(muted["muted"], "both");
}

#[test]
fn api_auth_rejects_missing_or_wrong_key_and_foreign_sources() {
    let settings = ApiSettings {
        access: Access {
            keys: vec!["s3cret".into()],
            ..Access::default()
        },
        ..ApiSettings::default()
    };
    let server = start(23400, settings);
    let none = http(server.addr, "GET", "/channels", &[], None);
    assert_eq!(
        (none.status, none.json["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let wrong = http(
        server.addr,
        "GET",
        "/channels",
        &[("Authorization", "Bearer nope")],
        None,
    );
    assert_eq!(wrong.status, 401);
    let right = http(
        server.addr,
        "GET",
        "/channels",
        &[("Authorization", "Bearer s3cret")],
        None,
    );
    assert_eq!(right.status, 200);
    assert_eq!(
        http(server.addr, "GET", "/channels?api_key=s3cret", &[], None).status,
        200
    );

    let fenced = start(
        23500,
        ApiSettings {
            access: Access {
                allow: vec!["192.0.2.0/24".parse().unwrap()],
                ..Access::default()
            },
            ..ApiSettings::default()
        },
    );
    let refused = http(fenced.addr, "GET", "/channels", &[], None);
    assert_eq!(
        (refused.status, refused.json["code"].as_str()),
        (403, Some("forbidden"))
    );
}

/// Every line is a comment (`# HELP name text`, `# TYPE name kind`) or a sample
/// (`name{label="value",...} number`), as the Prometheus text format 0.0.4 defines them.
fn prometheus_line_ok(line: &str) -> bool {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    if let Some(rest) = line.strip_prefix("# HELP ") {
        return rest.split_once(' ').is_some_and(|(n, _)| name_ok(n));
    }
    if let Some(rest) = line.strip_prefix("# TYPE ") {
        return rest.split_once(' ').is_some_and(|(n, kind)| {
            name_ok(n) && ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
        });
    }
    let (series, value) = match line.rsplit_once(' ') {
        Some(parts) => parts,
        None => return false,
    };
    let value_ok = value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value);
    let series_ok = match series.split_once('{') {
        None => name_ok(series),
        Some((name, labels)) => {
            name_ok(name)
                && labels.strip_suffix('}').is_some_and(|labels| {
                    labels.split(',').all(|pair| {
                        pair.split_once('=').is_some_and(|(k, v)| {
                            name_ok(k) && v.len() >= 2 && v.starts_with('"') && v.ends_with('"')
                        })
                    })
                })
        }
    };
    value_ok && series_ok
}

#[test]
fn api_metrics_parse_as_prometheus_text() {
    let server = start(23600, ApiSettings::default());
    server.api.metrics_registry().sip_response(200);
    std::thread::sleep(Duration::from_millis(50));
    let got = call(&server, "GET", "/metrics", None);
    assert_eq!(got.status, 200);
    for line in got.text.lines().filter(|l| !l.is_empty()) {
        assert!(prometheus_line_ok(line), "not Prometheus text: {line:?}");
    }
    for needle in [
        "tandem_worker_tick_cost_seconds_bucket{worker=\"0\",le=\"+Inf\"}",
        "tandem_worker_tick_cost_seconds_count{worker=\"0\"}",
        "tandem_worker_missed_deadlines_total{worker=\"0\"}",
        "tandem_packets_dropped_total{worker=\"0\",reason=\"unrouted\"}",
        "tandem_sip_responses_total{code=\"200\"} 1",
        "tandem_legs ",
    ] {
        assert!(got.text.contains(needle), "missing {needle}");
    }
}

#[test]
fn api_openapi_document_matches_the_router() {
    let server = start(23700, ApiSettings::default());
    let doc = call(&server, "GET", "/openapi.json", None).json;
    assert_eq!(doc, document());
    assert_eq!(doc["openapi"], "3.1.0");
    for route in ROUTES {
        let documented = &doc["paths"][route.path][route.method];
        assert!(
            documented.is_object(),
            "{} {} documented",
            route.method,
            route.path
        );
        let path = route.path.replace("{id}", "x").replace("{name}", "x");
        let got = call(&server, &route.method.to_ascii_uppercase(), &path, None);
        assert_ne!(got.status, 405, "{} {} is routed", route.method, route.path);
        assert_ne!(
            got.json["error"], "no such resource",
            "{} {} is routed",
            route.method, route.path
        );
        if route.not_implemented {
            assert_eq!(got.status, 501, "{} {}", route.method, route.path);
        }
    }
    let unknown = call(&server, "GET", "/nowhere", None);
    assert_eq!(
        (unknown.status, unknown.json["code"].as_str()),
        (404, Some("not_found"))
    );
}
