//! Tests of the configuration: defaults, complete files, precedence, and one test per error.

use std::net::SocketAddr;
use std::path::Path;

use tandem_codecs::{CodecId, OpusApplication};
use tandem_core::session::PlayoutSpec;
use tandem_drivers::packet::kernel::IoKind;

use super::load::Origin;
use super::*;

const EXAMPLE: &str = include_str!("../../../../tandem.example.toml");

fn syntax(text: &str) -> (usize, usize, String) {
    match Config::from_toml(text) {
        Err(ConfigError::Syntax {
            line,
            column,
            message,
            ..
        }) => (line, column, message),
        other => panic!("expected a syntax error for {text:?}, got {other:?}"),
    }
}

fn invalid(text: &str) -> Invalid {
    match Config::from_toml(text) {
        Err(ConfigError::Invalid { invalid, .. }) => invalid,
        other => panic!("expected an invalid relation for {text:?}, got {other:?}"),
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn an_empty_file_is_the_default_configuration() {
    let c = Config::from_toml("").unwrap();
    assert_eq!(c.log.level.as_str(), "info");
    assert_eq!(c.sip.listen, addr("127.0.0.1:5060"));
    assert!(c.sip.udp && c.sip.tcp);
    assert_eq!(c.sip.tcp_idle_timeout(), Some(Duration::from_secs(300)));
    assert_eq!(c.sip.realm, "tandem");
    assert_eq!(c.sip.drain_timeout(), Duration::from_secs(10));
    assert_eq!(c.media.interface, "127.0.0.1".parse::<IpAddr>().unwrap());
    assert_eq!(c.media.ports.to_string(), "20000-29999");
    assert_eq!(
        c.media.workers(),
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    assert_eq!(c.media.timeout_ms(), 30_000);
    assert_eq!(c.api.listen, addr("127.0.0.1:8088"));
    assert_eq!(c.ng.listen, addr("127.0.0.1:2223"));
    assert_eq!(
        (
            c.limits.max_calls,
            c.limits.calls_per_second,
            c.limits.retry_after_s,
            c.limits.max_transactions
        ),
        (2000, 1000, 5, 131_072)
    );
    let prefs: Vec<String> = c.codecs.preferences.iter().map(|p| p.to_string()).collect();
    assert_eq!(prefs, ["opus", "G722", "PCMU", "PCMA"]);
    assert!(c.codecs.telephone_event);
    assert_eq!(c.codecs.ptime_ms, 20);
    assert_eq!(c.opus, OpusSettings::default());
    assert_eq!(c.opus.encoder, OpusConfig::default());
    assert!(c.endpoints.is_empty() && c.routes.is_empty() && c.registrations.is_empty());
}

#[test]
fn no_file_and_no_flags_is_the_default_configuration() {
    let c = Config::load(None, &Overrides::default()).unwrap();
    assert_eq!(c.sip.listen, addr("127.0.0.1:5060"));
    assert_eq!(c.media.ports.to_string(), "20000-29999");
    let runtime = c.media.runtime_config();
    assert_eq!(runtime.workers, c.media.workers());
    assert_eq!(runtime.bind, c.media.interface);
    assert_eq!(runtime.ports, c.media.ports.range());
    assert_eq!(runtime.realtime_priority, None);
}

#[test]
fn the_example_file_parses_and_shows_every_section() {
    let c = Config::from_toml(EXAMPLE).unwrap();
    // Commented-out keys are the defaults.
    assert_eq!(c.sip.listen, addr("127.0.0.1:5060"));
    assert_eq!(c.opus, OpusSettings::default());
    assert_eq!(c.endpoints.len(), 2);
    assert_eq!(c.endpoints[0].username, "alice");
    assert_eq!(c.codecs_of(&c.endpoints[0])[0].codec, CodecId::Pcmu);
    assert_eq!(c.realm_of(&c.endpoints[1]), "tandem");
    assert_eq!(c.routes.len(), 2);
    assert_eq!(
        c.routes[0].target_for("sip:9555@example.com").as_deref(),
        Some("sip:555@127.0.0.1:5080")
    );
    assert_eq!(c.codecs_of_route(&c.routes[0])[0].codec, CodecId::Opus);
    assert_eq!(
        c.routes[1].target_for("sip:gw-east@x").as_deref(),
        Some("sip:gw-east@127.0.0.1:5090")
    );
    assert_eq!(c.registrations.len(), 1);
    assert_eq!(c.registrations[0].expires_s, 3600);
}

/// Every key of the example file, uncommented, is a key the loader accepts: the example cannot
/// drift from the code without this test failing.
#[test]
fn every_commented_key_of_the_example_file_is_accepted() {
    let is_key =
        |k: &str| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let uncommented: String = EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if rest.split_once(" = ").is_some_and(|(k, _)| is_key(k)) => rest,
            _ => line,
        })
        .fold(String::new(), |mut s, l| {
            s.push_str(l);
            s.push('\n');
            s
        });
    assert!(uncommented.contains("\ncalls_per_second = 1000\n"));
    let c = Config::from_toml(&uncommented).unwrap();
    assert_eq!(c.media.workers(), 2);
    assert_eq!(c.opus.encoder.bitrate_bps, Some(32000));
}

#[test]
fn a_complete_file_sets_every_key() {
    let text = r#"
        [log]
        level = "debug,tandem=trace"
        [sip]
        listen = "127.0.0.1:35061"
        udp = true
        tcp = false
        tcp_idle_timeout_s = 0
        realm = "example.com"
        drain_timeout_s = 3
        allow = ["10.0.0.0/8"]
        [media]
        interface = "127.0.0.2"
        ports = "36000-36199"
        workers = 2
        timeout_s = 0
        jitter_buffer = "fixed"
        jitter_buffer_fixed_ms = 60
        realtime_priority = 20
        [api]
        listen = "127.0.0.1:35201"
        [ng]
        listen = "127.0.0.1:35202"
        allow = ["192.0.2.1", "::1/128"]
        dtmf_log_dest = "127.0.0.1:22223"
        [limits]
        max_calls = 10
        calls_per_second = 0
        retry_after_s = 30
        max_transactions = 4096
        [codecs]
        preferences = ["PCMA", "L16/16000"]
        telephone_event = false
        ptime_ms = 30
        [opus]
        channels = 2
        complexity = 10
        bitrate = 32000
        application = "audio"
        fec = false
        dtx = true
        sample_rate = 16000
        [[endpoints]]
        username = "carol"
        password = "pw"
        realm = "other"
        codecs = ["G722"]
        [[routes]]
        match = "^sip:x"
        target = "sip:y@127.0.0.1"
        [[registrations]]
        registrar = "sip:127.0.0.1:5070"
        user = "u"
        password = "p"
        expires_s = 120
    "#;
    let c = Config::from_toml(text).unwrap();
    assert_eq!(c.log.level.as_str(), "debug,tandem=trace");
    assert_eq!(c.sip.listen, addr("127.0.0.1:35061"));
    assert!(c.sip.udp && !c.sip.tcp);
    assert_eq!(c.sip.tcp_idle_timeout(), None);
    assert_eq!(c.sip.drain_timeout(), Duration::from_secs(3));
    assert_eq!(c.media.interface, "127.0.0.2".parse::<IpAddr>().unwrap());
    assert_eq!(c.media.workers(), 2);
    assert_eq!(c.media.timeout_ms(), 0);
    assert_eq!(
        crate::run::media::MediaPolicy::from_config(&c).playout,
        PlayoutSpec::Fixed { delay_ms: 60 }
    );
    assert_eq!(c.media.runtime_config().realtime_priority, Some(20));
    assert_eq!(c.api.listen, addr("127.0.0.1:35201"));
    assert_eq!(c.ng.listen, addr("127.0.0.1:35202"));
    assert_eq!(c.sip.allow, vec!["10.0.0.0/8".parse().unwrap()]);
    assert_eq!(c.ng.allow.len(), 2);
    assert_eq!(c.ng.dtmf_log_dest, Some(addr("127.0.0.1:22223")));
    assert_eq!(c.limits.max_calls, 10);
    assert_eq!(c.limits.retry_after_s, 30);
    assert_eq!(c.limits.max_transactions, 4096);
    assert_eq!(c.codecs.preferences[1].sample_rate, Some(16000));
    assert!(!c.codecs.telephone_event);
    assert_eq!(c.codecs.ptime_ms, 30);
    let opus = c.opus.encoder;
    assert_eq!((opus.channels, opus.complexity), (2, 10));
    assert_eq!(opus.bitrate_bps, Some(32000));
    assert_eq!(opus.application, OpusApplication::Audio);
    assert!(!opus.inband_fec && opus.dtx);
    assert_eq!(c.opus.sample_rate, 16000);
    assert!(c.endpoint("carol", "other").is_some());
    assert!(c.endpoint("carol", "example.com").is_none());
    assert_eq!(c.registrations[0].expires_s, 120);
    assert_eq!(c.registrations[0].auth_user, None);
}

#[test]
fn flags_override_the_file_which_overrides_the_defaults() {
    let dir = std::env::temp_dir().join(format!("tandem-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("precedence.toml");
    std::fs::write(
        &path,
        "[sip]\nlisten = \"127.0.0.1:35070\"\n[media]\nworkers = 1\nports = \"36000-36099\"\n",
    )
    .unwrap();
    let from_file = Config::load(Some(&path), &Overrides::default()).unwrap();
    assert_eq!(from_file.sip.listen, addr("127.0.0.1:35070"));
    assert_eq!(from_file.media.workers(), 1);
    assert_eq!(from_file.api.listen, addr("127.0.0.1:8088"));

    let flags = Overrides {
        sip: Some(addr("127.0.0.1:35071")),
        ng: Some(addr("127.0.0.1:35272")),
        ng_tcp: true,
        api: Some(addr("127.0.0.1:35271")),
        rtp_ports: Some("36100-36199".parse().unwrap()),
        workers: Some("2".parse().unwrap()),
        interface: Some("127.0.0.3".parse().unwrap()),
        io: Some("uring".parse().unwrap()),
    };
    assert!(!from_file.ng.tcp);
    assert_eq!(from_file.media.io.kind(), IoKind::Udp, "udp by default");
    let c = Config::load(Some(&path), &flags).unwrap();
    assert_eq!(c.sip.listen, addr("127.0.0.1:35071"));
    assert_eq!(c.ng.listen, addr("127.0.0.1:35272"));
    assert!(c.ng.tcp);
    assert_eq!(c.api.listen, addr("127.0.0.1:35271"));
    assert_eq!(c.media.ports.to_string(), "36100-36199");
    assert_eq!(c.media.workers(), 2);
    assert_eq!(c.media.interface, "127.0.0.3".parse::<IpAddr>().unwrap());
    assert_eq!(c.media.runtime_config().io, IoKind::Uring);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flags_are_checked_with_the_file() {
    let flags = Overrides {
        sip: Some(addr("127.0.0.1:35080")),
        ng: Some(addr("127.0.0.1:35080")),
        ..Overrides::default()
    };
    let err = Config::load(None, &flags).unwrap_err();
    assert_eq!(
        err,
        ConfigError::Invalid {
            origin: Origin::Defaults,
            invalid: Invalid::AddressClash {
                first: "[sip] listen",
                second: "[ng] listen",
                addr: addr("127.0.0.1:35080"),
                protocol: "UDP",
            }
        }
    );
    // ng over TCP shares its address with the UDP listener, so it may clash with the API.
    let flags = Overrides {
        api: Some(addr("127.0.0.1:35081")),
        ng: Some(addr("127.0.0.1:35081")),
        ng_tcp: true,
        ..Overrides::default()
    };
    let err = Config::load(None, &flags).unwrap_err();
    assert_eq!(
        err,
        ConfigError::Invalid {
            origin: Origin::Defaults,
            invalid: Invalid::AddressClash {
                first: "[api] listen",
                second: "[ng] listen",
                addr: addr("127.0.0.1:35081"),
                protocol: "TCP",
            }
        }
    );
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let err = Config::load(
        Some(Path::new("/nonexistent/tandem.toml")),
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, ConfigError::Read { ref path, .. } if path == Path::new("/nonexistent/tandem.toml"))
    );
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/tandem.toml: ")
    );
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    let (line, column, message) = syntax("[sip]\nlisten = \"127.0.0.1:5060\"\nprot = 5\n");
    assert_eq!((line, column), (3, 1));
    assert!(message.contains("unknown field `prot`"), "{message}");

    let (line, _, message) = syntax("\n\nfoo = 1\n");
    assert_eq!(line, 3);
    assert!(message.contains("unknown field `foo`"), "{message}");

    let (line, _, message) = syntax("[mdia]\n");
    assert_eq!(line, 1);
    assert!(message.contains("unknown field `mdia`"), "{message}");

    let text = "[[endpoints]]\nusername = \"a\"\npassword = \"b\"\nrealms = \"x\"\n";
    let (line, _, message) = syntax(text);
    assert_eq!(line, 4);
    assert!(message.contains("unknown field `realms`"), "{message}");

    let (line, _, message) = syntax("[[routes]]\nmatch = \"x\"\ntarget = \"sip:y\"\ncodec = []\n");
    assert_eq!(line, 4);
    assert!(message.contains("unknown field `codec`"), "{message}");

    let (line, _, message) = syntax("[opus]\nbitrate_bps = 1\n");
    assert_eq!(line, 2);
    assert!(message.contains("unknown field `bitrate_bps`"), "{message}");
}

#[test]
fn missing_required_keys_are_named() {
    let (line, _, message) = syntax("[[endpoints]]\nusername = \"a\"\n");
    assert_eq!(line, 1);
    assert!(message.contains("missing field `password`"), "{message}");
    let (_, _, message) = syntax("[[routes]]\nmatch = \"x\"\n");
    assert!(message.contains("missing field `target`"), "{message}");
    let (_, _, message) = syntax("[[registrations]]\nregistrar = \"sip:x\"\nuser = \"u\"\n");
    assert!(message.contains("missing field `password`"), "{message}");
}

#[test]
fn bad_toml_is_a_syntax_error_with_its_position() {
    let (line, _, _) = syntax("[sip]\nlisten = \n");
    assert_eq!(line, 2);
}

#[test]
fn bad_values_are_reported_at_their_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("[sip]\nlisten = \"localhost\"\n", 2, "socket address"),
        ("[sip]\nudp = \"yes\"\n", 2, "bool"),
        (
            "[media]\nports = \"29999-20000\"\n",
            2,
            "port range 29999-20000",
        ),
        ("[media]\nports = \"20000\"\n", 2, "not MIN-MAX"),
        ("[media]\ninterface = \"eth0\"\n", 2, "IP address"),
        ("[media]\nworkers = 0\n", 2, "workers = 0"),
        (
            "[media]\nrealtime_priority = 100\n",
            2,
            "realtime_priority = 100: must be 0 (off)",
        ),
        (
            "[media]\nio = \"epoll\"\n",
            2,
            "must be \"udp\" or \"uring\"",
        ),
        (
            "[media]\njitter_buffer = \"elastic\"\n",
            2,
            "unknown variant `elastic`",
        ),
        ("[log]\nlevel = \"shouting\"\n", 2, "not a valid filter"),
        (
            "[codecs]\npreferences = [\"speex\"]\n",
            2,
            "unknown codec \"speex\"",
        ),
        (
            "[codecs]\npreferences = [\"PCMU/16000\"]\n",
            2,
            "PCMU does not run at",
        ),
        ("[opus]\ncomplexity = 11\n", 1, "complexity"),
        ("[opus]\nchannels = 3\n", 1, "channels"),
        ("[opus]\nbitrate = 100\n", 1, "bitrate"),
        ("[opus]\nsample_rate = 44100\n", 1, "44100"),
        (
            "[opus]\napplication = \"music\"\n",
            2,
            "unknown variant `music`",
        ),
        (
            "[[routes]]\nmatch = \"sip:(\"\ntarget = \"sip:x\"\n",
            2,
            "not a valid regular expression",
        ),
        (
            "[[routes]]\nmatch = \"x\"\ntarget = \"tel:1\"\n",
            1,
            "not a SIP URI",
        ),
        (
            "[[routes]]\nmatch = \"x\"\ntarget = \"sip:a@-bad-host-\"\n",
            1,
            "invalid host",
        ),
        (
            "[[routes]]\nmatch = \"(x)\"\ntarget = \"tel:$1\"\n",
            1,
            "not a sip: or sips: URI",
        ),
        (
            "[[routes]]\nmatch = \"(x)\"\ntarget = \"sip:$2@h\"\n",
            1,
            "group `2`",
        ),
        (
            "[[routes]]\nmatch = \"(?P<a>x)\"\ntarget = \"sip:${b}@h\"\n",
            1,
            "group `b`",
        ),
        (
            "[[routes]]\nmatch = \"x\"\ntarget = \"sip:h\"\ncodecs = []\n",
            1,
            "empty codec list",
        ),
        (
            "[[endpoints]]\nusername = \"\"\npassword = \"p\"\n",
            1,
            "username \"\"",
        ),
        (
            "[[endpoints]]\nusername = \"a b\"\npassword = \"p\"\n",
            1,
            "username \"a b\"",
        ),
        (
            "[[endpoints]]\nusername = \"a\"\npassword = \"\"\n",
            1,
            "empty password",
        ),
        (
            "[[endpoints]]\nusername = \"a\"\npassword = \"p\"\ncodecs = []\n",
            1,
            "empty codec list",
        ),
        (
            "[[registrations]]\nregistrar = \"127.0.0.1\"\nuser = \"u\"\npassword = \"p\"\n",
            2,
            "not a SIP URI",
        ),
    ];
    for &(text, want_line, want) in cases {
        let (line, _, message) = syntax(text);
        assert!(
            message.contains(want),
            "{text:?}: {message:?} lacks {want:?}"
        );
        assert_eq!(line, want_line, "{text:?}: {message}");
    }
}

#[test]
fn relations_between_keys_are_checked() {
    assert_eq!(
        invalid("[sip]\nudp = false\ntcp = false\n"),
        Invalid::NoSipTransport
    );
    assert_eq!(
        invalid("[media]\nports = \"36000-36003\"\nworkers = 3\n"),
        Invalid::PortsPerWorker {
            ports: "36000-36003".into(),
            pairs: 2,
            workers: 3
        }
    );
    let twice = "[[endpoints]]\nusername = \"a\"\npassword = \"p\"\n\
                 [[endpoints]]\nusername = \"a\"\npassword = \"q\"\nrealm = \"tandem\"\n";
    assert_eq!(
        invalid(twice),
        Invalid::DuplicateEndpoint {
            username: "a".into(),
            realm: "tandem".into()
        }
    );
    let other_realm = "[[endpoints]]\nusername = \"a\"\npassword = \"p\"\n\
                       [[endpoints]]\nusername = \"a\"\npassword = \"q\"\nrealm = \"b\"\n";
    assert!(Config::from_toml(other_realm).is_ok());
    assert_eq!(
        invalid("[sip]\nlisten = \"127.0.0.1:8088\"\n"),
        Invalid::AddressClash {
            first: "[sip] listen",
            second: "[api] listen",
            addr: addr("127.0.0.1:8088"),
            protocol: "TCP"
        }
    );
    // No TCP listener for SIP: sharing the API's TCP port number over UDP is fine.
    assert!(Config::from_toml("[sip]\nlisten = \"127.0.0.1:8088\"\ntcp = false\n").is_ok());
    // Port 0 never clashes.
    assert!(
        Config::from_toml("[sip]\nlisten = \"127.0.0.1:0\"\n[ng]\nlisten = \"127.0.0.1:0\"\n")
            .is_ok()
    );
    assert_eq!(
        invalid("[codecs]\nptime_ms = 25\n"),
        Invalid::Ptime {
            ptime_ms: 25,
            codec: CodecId::Opus
        }
    );
    assert_eq!(invalid("[codecs]\npreferences = []\n"), Invalid::NoCodecs);
    assert_eq!(invalid("[dns]\ntimeout_ms = 0\n"), Invalid::DnsTimeout(0));
    assert_eq!(
        invalid("[media]\njitter_buffer_min_ms = 120\njitter_buffer_max_ms = 100\n"),
        Invalid::JitterBuffer(JitterDelayError::Bounds {
            min_ms: 120,
            max_ms: 100,
            limit: 2000
        })
    );
    assert_eq!(
        invalid("[media]\njitter_buffer_max_ms = 5000\n"),
        Invalid::JitterBuffer(JitterDelayError::Bounds {
            min_ms: 50,
            max_ms: 5000,
            limit: 2000
        })
    );
    assert_eq!(
        invalid("[media]\njitter_buffer_fixed_ms = 500\n"),
        Invalid::JitterBuffer(JitterDelayError::Fixed {
            delay_ms: 500,
            max_ms: 140
        })
    );
    assert_eq!(
        invalid("[dns]\ntimeout_ms = 30001\n"),
        Invalid::DnsTimeout(30_001)
    );
}

#[test]
fn dns_servers_default_to_the_system_and_can_be_listed() {
    let c = Config::from_toml("").unwrap();
    assert!(c.dns.servers.is_empty());
    assert_eq!(c.dns.timeout(), Duration::from_secs(2));
    let c = Config::from_toml(
        "[dns]\nservers = [\"127.0.0.1:35353\", \"[::1]:53\"]\ntimeout_ms = 500\n",
    )
    .unwrap();
    assert_eq!(c.dns.servers, [addr("127.0.0.1:35353"), addr("[::1]:53")]);
    assert_eq!(c.dns.timeout(), Duration::from_millis(500));
    let (line, _, message) = syntax("[dns]\nservers = [\"dns.example\"]\n");
    assert_eq!(line, 2, "{message}");
}

#[test]
fn errors_print_as_one_line_naming_the_origin() {
    let err = Config::from_toml("[sip]\nbogus = 1\n").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("<config>:2:1: unknown field `bogus`"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text:?}");
    let err = Config::from_toml("[sip]\nudp = false\ntcp = false\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "<config>: [sip] udp and tcp are both false: nothing would listen for SIP"
    );
}

#[test]
fn route_targets_substitute_capture_groups() {
    let route: Route = toml::from_str::<Config>(
        "[[routes]]\nmatch = '^sip:(?P<pre>\\d{2})(\\d+)@'\ntarget = \"sip:$2@gw-${pre}.example;x=$$\"\n",
    )
    .unwrap()
    .routes
    .remove(0);
    assert_eq!(
        route.target_for("sip:44123@tandem").as_deref(),
        Some("sip:123@gw-44.example;x=$")
    );
    assert_eq!(route.target_for("sip:abc@tandem"), None);
}

#[test]
fn group_references_follow_the_regex_crate_syntax() {
    assert_eq!(group_references("sip:$1@h"), ["1"]);
    assert_eq!(
        group_references("sip:${user}x@$host_2;$$"),
        ["user", "host_2"]
    );
    assert!(group_references("sip:$$1@h").is_empty());
    assert!(group_references("sip:a$").is_empty());
}

/// Every key of the example file, by section: what the property tests below write values
/// for.
const KEYS: &[(&str, &[&str])] = &[
    ("log", &["level"]),
    (
        "sip",
        &[
            "listen",
            "udp",
            "tcp",
            "tcp_idle_timeout_s",
            "realm",
            "drain_timeout_s",
            "allow",
        ],
    ),
    (
        "media",
        &[
            "interface",
            "ports",
            "workers",
            "timeout_s",
            "io",
            "jitter_buffer",
            "jitter_buffer_min_ms",
            "jitter_buffer_max_ms",
            "jitter_buffer_fixed_ms",
            "realtime_priority",
        ],
    ),
    ("api", &["listen", "keys", "allow", "users"]),
    ("ng", &["listen", "tcp", "allow", "dtmf_log_dest"]),
    ("recording", &["dir"]),
    (
        "limits",
        &[
            "max_calls",
            "calls_per_second",
            "retry_after_s",
            "max_transactions",
        ],
    ),
    ("codecs", &["preferences", "telephone_event", "ptime_ms"]),
    (
        "opus",
        &[
            "channels",
            "complexity",
            "bitrate",
            "application",
            "fec",
            "dtx",
            "sample_rate",
        ],
    ),
    ("dns", &["servers", "timeout_ms"]),
];

/// TOML values of every shape a key might be given, well-formed or not for that key.
fn any_value() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (0u32..70_000).prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-zA-Z0-9:.\\-\\[\\]/ ]{0,24}".prop_map(|s| format!("{s:?}")),
        Just("\"127.0.0.1:0\"".to_string()),
        Just("\"[::1]:5060\"".to_string()),
        Just("\"20000-20001\"".to_string()),
        Just("\"30000-20000\"".to_string()),
        Just("[]".to_string()),
        Just("[\"PCMU\", \"opus\", \"nonsense\"]".to_string()),
        Just("[\"10.0.0.0/33\"]".to_string()),
        Just("[{ username = \"a\", password = \"\" }]".to_string()),
        Just("1.5e300".to_string()),
        Just("{}".to_string()),
    ]
}

/// A configuration file: known sections with known keys set to any value.
fn any_config() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    proptest::collection::vec(
        (
            0..KEYS.len(),
            proptest::collection::vec((any::<prop::sample::Index>(), any_value()), 0..4),
        ),
        0..6,
    )
    .prop_map(|sections| {
        let mut text = String::new();
        let mut seen = std::collections::HashSet::new();
        for (section, entries) in sections {
            let (name, keys) = KEYS[section];
            // A section twice is a TOML error of its own; keep the files about the values.
            if !seen.insert(name) {
                continue;
            }
            text.push_str(&format!("[{name}]\n"));
            let mut set = std::collections::HashSet::new();
            for (key, value) in entries {
                let key = keys[key.index(keys.len())];
                if set.insert(key) {
                    text.push_str(&format!("{key} = {value}\n"));
                }
            }
        }
        text
    })
}

/// Whatever the file holds, loading it is a configuration or one typed error that prints as
/// one line, and a configuration yields the runtime's.
fn loads_or_refuses_on_one_line(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
    match Config::from_toml(text) {
        Ok(config) => {
            let runtime = config.media.runtime_config();
            let _ = config.media.timeout_ms();
            proptest::prop_assert!(runtime.workers >= 1);
        }
        Err(e) => {
            let line = e.to_string();
            proptest::prop_assert!(!line.is_empty());
            proptest::prop_assert!(!line.contains('\n'), "{:?}", line);
        }
    }
    Ok(())
}

proptest::proptest! {
    #[test]
    fn any_values_for_known_keys_load_or_are_refused_on_one_line(text in any_config()) {
        loads_or_refuses_on_one_line(&text)?;
    }

    #[test]
    fn any_route_pattern_loads_or_is_refused_on_one_line(
        pattern in "[()\\[\\]{}*+?^$|.a-z0-9\\\\]{0,16}",
    ) {
        let text = format!("[[routes]]\nmatch = {pattern:?}\ntarget = \"sip:x@127.0.0.1\"\n");
        loads_or_refuses_on_one_line(&text)?;
    }

    #[test]
    fn any_text_loads_or_is_refused_on_one_line(text in "(?s).{0,300}") {
        loads_or_refuses_on_one_line(&text)?;
    }

    #[test]
    fn the_example_file_damaged_loads_or_is_refused_on_one_line(
        cut in 0..EXAMPLE.len(),
        insert in "[\\[\\]={}\"'#\n a-z0-9.,]{0,8}",
    ) {
        let cut = (0..=cut).rev().find(|&i| EXAMPLE.is_char_boundary(i)).unwrap_or(0);
        let text = format!("{}{insert}{}", &EXAMPLE[..cut], &EXAMPLE[cut..]);
        loads_or_refuses_on_one_line(&text)?;
    }
}
