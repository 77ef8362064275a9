//! Bad requests against every documented operation of the REST API ([`ROUTES`]): any method
//! the route has, its path parameters from real resources or made up, and any JSON body
//! (shaped like the API's own bodies or not). Each answer is a status below 500 (or 501
//! for what this build does not implement, 503 when full) and errors carry the API's one
//! error shape; the server never drops a connection, and it still works afterwards.

mod api_common;
mod support;

use api_common::{call, peer, start_with};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};
use tandem::api::ApiSettings;
use tandem::api::openapi::ROUTES;
use tandem::recordings::Recordings;

/// Field names the API's bodies use, and a few it does not.
const FIELDS: &[&str] = &[
    "codec",
    "rate",
    "payload_type",
    "ptime_ms",
    "remote",
    "telephone_event",
    "dtmf_detect",
    "dtmf",
    "duration_ms",
    "media",
    "repeat",
    "name",
    "format",
    "max_duration_seconds",
    "if_exists",
    "kind",
    "type",
    "app",
    "channel",
    "gain_db",
    "direction",
    "bogus",
];

/// Any JSON value, leaning towards what the API's fields hold.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u32..70_000).prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,20}".prop_map(Value::from),
        prop::sample::select(vec![
            "PCMU",
            "opus",
            "G722",
            "PCMA",
            "telephone-event",
            "127.0.0.1:9",
            "[::1]:9",
            "1234#*ABCD",
            "tone:ring",
            "sound:x.wav",
            "../../etc/passwd",
            "wav",
            "mixing",
            "two_party",
            "",
            "\u{0}",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS), inner), 0..6).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// A path parameter: a real channel, bridge or recording, or anything else.
fn any_param(real: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(real),
        1 => "[a-zA-Z0-9_-]{0,12}",
        1 => Just("%2e%2e%2f".to_string()),
        1 => Just("18446744073709551616".to_string()),
    ]
}

#[test]
fn bad_requests_get_typed_errors_and_the_api_keeps_working() {
    let recordings_dir = support::scratch("api-properties");
    let server = start_with(23750, |runtime| ApiSettings {
        recordings: Some(Recordings::new(runtime.clone(), recordings_dir.clone())),
        ..ApiSettings::default()
    });
    let a = peer();
    let channel = |server: &api_common::Server| {
        let made = call(
            server,
            "POST",
            "/channels",
            Some(json!({"codec": "PCMU", "remote": a.local_addr().unwrap().to_string()})),
        );
        assert_eq!(made.status, 201, "{}", made.text);
        made.json["id"].as_str().unwrap().to_owned()
    };
    // Several of each, since the requests delete some.
    let mut real: Vec<String> = (0..6).map(|_| channel(&server)).collect();
    let first = real[0].clone();
    for kind in ["mixing", "two_party", "mixing"] {
        let bridge = call(&server, "POST", "/bridges", Some(json!({"type": kind})));
        assert!(bridge.status < 300, "{}", bridge.text);
        real.push(bridge.json["id"].as_str().unwrap().to_owned());
    }
    real.push("rec-1".to_string());

    // Routes whose answer is a stream or a document: the WebSocket upgrade is tested elsewhere.
    let routes: Vec<_> = ROUTES.iter().filter(|r| r.path != "/events").collect();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::sample::select(routes),
        any_param(real),
        prop::option::of(any_json()),
    );
    runner
        .run(&strategy, |(route, param, body)| {
            let path = route.path.replace("{id}", &param).replace("{name}", &param);
            let method = route.method.to_ascii_uppercase();
            let got = call(&server, &method, &path, body.clone());
            prop_assert!(
                got.status != 0,
                "{method} {path} {body:?}: connection dropped"
            );
            prop_assert!(
                got.status < 500 || got.status == 501 || got.status == 503,
                "{method} {path} {body:?}: {} {}",
                got.status,
                got.text
            );
            if got.status >= 400 {
                prop_assert!(
                    got.json["error"].is_string() && got.json["code"].is_string(),
                    "{method} {path} {body:?}: {} {}",
                    got.status,
                    got.text
                );
            }
            Ok(())
        })
        .unwrap();

    // Still serving: the first channel answers, a new one is made and removed.
    let still = call(&server, "GET", &format!("/channels/{first}"), None);
    assert!(matches!(still.status, 200 | 404), "{}", still.text);
    let next = channel(&server);
    assert_eq!(
        call(&server, "DELETE", &format!("/channels/{next}"), None).status,
        204
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&recordings_dir);
}
