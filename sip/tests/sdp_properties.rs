//! Property tests of the SDP layer: the parser never panics (arbitrary bytes, line soup,
//! mutated real offers), printing and parsing are inverse on every valid model, and two
//! `LocalSession`s with any policies agree on what they negotiated.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use tandem_sip::sdp::fuzzing::sdp_parse;
use tandem_sip::sdp::{
    AddressType, Attribute, Bandwidth, Codec, Connection, Direction, Host, LocalPolicy,
    LocalSession, MediaChange, MediaDescription, MediaType, Origin, SessionDescription,
    StreamOutcome, TelephoneEvents, Timing, TransportProtocol,
};

// ---------------------------------------------------------------------------------------
// Robustness: any input gives a value or a typed error, and every value keeps the
// invariants `fuzzing::sdp_parse` asserts (reprint, answer, offerer agrees).

/// The real bodies of `tests/vectors/offer_answer/`, as mutation seeds.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/offer_answer");
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sdp"))
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 10);
        seeds
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Delete { at: usize, len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    DuplicateLine { at: usize },
    SwapLines { a: usize, b: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), 1..16usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (
            any::<usize>(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 1..8),
                select(vec![
                    b"\r\n".to_vec(),
                    b" ".to_vec(),
                    b"/".to_vec(),
                    b":".to_vec(),
                    b"0".to_vec(),
                    b"\r\nm=audio 0 RTP/AVP 0".to_vec(),
                    b"\r\na=rtpmap:96 opus/48000/2".to_vec(),
                    b"\r\nc=IN IP4 0.0.0.0".to_vec(),
                    b"\r\na=sendonly".to_vec(),
                ]),
            ]
        )
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        any::<usize>().prop_map(|at| Mutation::DuplicateLine { at }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(mut body: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    let len = body.len().max(1);
    match mutation {
        Mutation::Flip { at, byte } => {
            if let Some(b) = body.get_mut(at % len) {
                *b = *byte;
            }
        }
        Mutation::Delete { at, len: n } => {
            let start = (at % len).min(body.len());
            let end = (start + n).min(body.len());
            body.drain(start..end);
        }
        Mutation::Insert { at, bytes } => {
            let at = (at % len).min(body.len());
            body.splice(at..at, bytes.iter().copied());
        }
        Mutation::DuplicateLine { at } | Mutation::SwapLines { a: at, .. } => {
            let mut lines: Vec<Vec<u8>> = body.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            let i = at % n;
            match mutation {
                Mutation::SwapLines { b, .. } => lines.swap(i, b % n),
                _ => lines.insert(i, lines[i].clone()),
            }
            body = lines.join(&b'\n');
        }
        Mutation::Truncate { at } => body.truncate(at % len),
    }
    body
}

/// Lines with real type letters and random values, to get past the line checks.
fn line_soup() -> impl Strategy<Value = Vec<u8>> {
    let letter = select(b"vosiuepcbtrzkamx".to_vec());
    let value = prop_oneof![
        "[ -~]{0,40}",
        select(vec![
            "0".to_owned(),
            "- 1 1 IN IP4 127.0.0.1".to_owned(),
            "IN IP6 ::1".to_owned(),
            "0 0".to_owned(),
            "audio 4000 RTP/AVP 0 8 96 101".to_owned(),
            "rtpmap:96 opus/48000/2".to_owned(),
            "fmtp:101 0-15".to_owned(),
            "rtcp:4001 IN IP4 10.0.0.1".to_owned(),
            "sendonly".to_owned(),
        ]),
    ];
    proptest::collection::vec((letter, value), 0..24).prop_map(|lines| {
        let mut body = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n".to_vec();
        for (letter, value) in lines {
            body.push(letter);
            body.push(b'=');
            body.extend_from_slice(value.as_bytes());
            body.extend_from_slice(b"\r\n");
        }
        body
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        sdp_parse(&bytes);
    }

    #[test]
    fn line_soup_never_breaks_invariants(body in line_soup()) {
        sdp_parse(&body);
    }

    #[test]
    fn mutated_real_offers_never_break_invariants(
        seed in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seeds();
        let mut body = seeds[seed.index(seeds.len())].clone();
        for m in &mutations {
            body = apply(body, m);
        }
        sdp_parse(&body);
    }
}

// ---------------------------------------------------------------------------------------
// print ∘ parse is the identity on valid models.

/// Text with no CR, LF or NUL and no trailing whitespace (the parser trims it).
fn text() -> impl Strategy<Value = String> {
    prop_oneof!["", "[!-~]([ -~]{0,20}[!-~])?", "[!-~]\u{e9}\u{4e2d}[!-~]?"]
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`{|}~-]{1,12}"
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Host::Ip(IpAddr::V4(Ipv4Addr::from(o)))),
        any::<[u8; 16]>().prop_map(|o| Host::Ip(IpAddr::V6(Ipv6Addr::from(o)))),
        (
            select(vec![AddressType::Ip4, AddressType::Ip6]),
            "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}"
        )
            .prop_map(|(address_type, name)| Host::Domain { address_type, name }),
    ]
}

fn connection() -> impl Strategy<Value = Connection> {
    (host(), any::<u8>(), any::<u32>(), 0..3u8).prop_map(|(address, ttl, count, shape)| {
        let (ttl, count) = match (address.address_type(), shape) {
            (_, 0) => (None, None),
            (AddressType::Ip4, 1) => (Some(ttl), None),
            (AddressType::Ip4, _) => (Some(ttl), Some(count)),
            (AddressType::Ip6, _) => (None, Some(count)),
        };
        Connection {
            address,
            ttl,
            count,
        }
    })
}

fn bandwidth() -> impl Strategy<Value = Bandwidth> {
    (select(vec!["AS", "CT", "TIAS", "X-YZ"]), any::<u64>()).prop_map(|(t, value)| Bandwidth {
        bandwidth_type: t.to_owned(),
        value,
    })
}

fn attribute() -> impl Strategy<Value = Attribute> {
    (token(), proptest::option::of(text())).prop_map(|(name, value)| Attribute { name, value })
}

fn media() -> impl Strategy<Value = MediaDescription> {
    let kind = prop_oneof![
        select(vec![
            MediaType::Audio,
            MediaType::Video,
            MediaType::Text,
            MediaType::Application,
            MediaType::Message,
            MediaType::Image,
        ]),
        "x-[a-z]{1,6}".prop_map(MediaType::Other),
    ];
    let protocol = select(vec![
        "RTP/AVP",
        "RTP/SAVP",
        "RTP/AVPF",
        "UDP/TLS/RTP/SAVPF",
        "udptl",
        "TCP/MSRP",
    ]);
    (
        kind,
        any::<u16>(),
        proptest::option::of(1..8u16),
        protocol,
        proptest::collection::vec(0..=127u8, 1..8),
        proptest::collection::vec(token(), 1..4),
        proptest::option::of(text()),
        proptest::collection::vec(connection(), 0..3),
        proptest::collection::vec(bandwidth(), 0..2),
        proptest::option::of(text()),
        proptest::collection::vec(attribute(), 0..6),
    )
        .prop_map(
            |(
                media_type,
                port,
                port_count,
                protocol,
                pts,
                tokens,
                title,
                connections,
                bandwidths,
                key,
                attributes,
            )| {
                let protocol = TransportProtocol(protocol.to_owned());
                let formats = if protocol.is_rtp() {
                    pts.iter().map(u8::to_string).collect()
                } else {
                    tokens
                };
                MediaDescription {
                    media_type,
                    port,
                    port_count,
                    protocol,
                    formats,
                    title,
                    connections,
                    bandwidths,
                    encryption_key: key,
                    attributes,
                }
            },
        )
}

fn session_description() -> impl Strategy<Value = SessionDescription> {
    let origin = ("-|[a-zA-Z0-9_.]{1,12}", any::<u64>(), any::<u64>(), host()).prop_map(
        |(username, session_id, session_version, address)| Origin {
            username,
            session_id,
            session_version,
            address,
        },
    );
    let timing = (
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec("[0-9][ 0-9a-z-]{0,12}[0-9a-z]", 0..2),
    )
        .prop_map(|(start, stop, repeats)| Timing {
            start,
            stop,
            repeats,
        });
    (
        (
            origin,
            text(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::collection::vec(text(), 0..2),
            proptest::collection::vec(text(), 0..2),
        ),
        (
            proptest::option::of(connection()),
            proptest::collection::vec(bandwidth(), 0..2),
            proptest::collection::vec(timing, 1..3),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::collection::vec(attribute(), 0..5),
            proptest::collection::vec(media(), 0..4),
        ),
    )
        .prop_map(
            |(
                (origin, session_name, information, uri, emails, phones),
                (connection, bandwidths, timings, time_zones, encryption_key, attributes, media),
            )| SessionDescription {
                origin,
                session_name,
                information,
                uri,
                emails,
                phones,
                connection,
                bandwidths,
                timings,
                time_zones,
                encryption_key,
                attributes,
                media,
            },
        )
}

proptest! {
    #[test]
    fn print_then_parse_is_identity(sdp in session_description()) {
        let printed = sdp.to_string();
        let parsed = SessionDescription::parse(printed.as_bytes());
        prop_assert_eq!(parsed.as_ref(), Ok(&sdp), "{}", printed);
        prop_assert_eq!(parsed.unwrap().to_string(), printed);
    }

    #[test]
    fn telephone_event_lists_round_trip(events in proptest::collection::vec(any::<u8>(), 1..40)) {
        let mut set = TelephoneEvents::default();
        for e in &events {
            set.insert(*e);
        }
        let printed = set.to_string();
        prop_assert_eq!(printed.parse::<TelephoneEvents>(), Ok(set));
        for e in events {
            prop_assert!(set.contains(e));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Negotiation: two sessions with any policies agree.

fn codec_pool() -> Vec<Codec> {
    vec![
        Codec::opus().with_fmtp("useinbandfec=1"),
        Codec::g722(),
        Codec::pcmu(),
        Codec::pcma(),
        Codec::g729(),
        Codec::new("L16", 16000, 1),
        Codec::new("iLBC", 8000, 1).with_fmtp("mode=30"),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    select(vec![
        Direction::SendRecv,
        Direction::SendOnly,
        Direction::RecvOnly,
        Direction::Inactive,
    ])
}

prop_compose! {
    fn policy(address: IpAddr, port: u16)(
        codecs in subsequence(codec_pool(), 0..=7).prop_shuffle(),
        events in proptest::option::of(select(vec![
            TelephoneEvents::DTMF,
            TelephoneEvents::DTMF_AND_FLASH,
            TelephoneEvents::range(16, 16),
        ])),
        ptime in proptest::option::of(select(vec![10u32, 20, 30, 60])),
        rtcp_mux in any::<bool>(),
        direction in direction(),
    ) -> LocalPolicy {
        let mut policy = LocalPolicy::new(address, codecs);
        policy.telephone_events = events;
        policy.ptime_ms = ptime;
        policy.rtp_ports = vec![port];
        policy.rtcp_mux = rtcp_mux;
        policy.direction = direction;
        policy
    }
}

fn wire(sdp: &SessionDescription) -> SessionDescription {
    SessionDescription::parse(sdp.to_string().as_bytes()).unwrap()
}

proptest! {
    #[test]
    fn offerer_and_answerer_agree(
        a in policy(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4000),
        b in policy(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)), 6000),
    ) {
        let mut alice = LocalSession::new("alice", 1, a.address);
        let mut bob = LocalSession::new("bob", 2, b.address);
        let offer = wire(&alice.create_offer(&a));
        let (answer, answered) = bob.answer(&offer, &b);
        let answer = wire(&answer);
        let offered = alice.handle_answer(&answer);
        prop_assert!(offered.is_ok(), "{:?}\n{}\n{}", offered, offer, answer);
        let offered = offered.unwrap();

        let common = a.codecs.iter().find(|c| b.supported(c).is_some());
        prop_assert_eq!(offer.media.len(), 1);
        match (common, &answered.streams[0], &offered.streams[0]) {
            (None, StreamOutcome::Rejected(_), StreamOutcome::Rejected(_)) => {}
            (Some(codec), StreamOutcome::Accepted(at_b), StreamOutcome::Accepted(at_a)) => {
                // Bob takes the first codec in Alice's order that he supports.
                prop_assert!(at_b.format.codec.same_encoding(codec));
                prop_assert!(at_a.format.codec.same_encoding(codec));
                prop_assert_eq!(at_a.format.payload_type, at_b.receive_payload_type);
                prop_assert_eq!(at_b.format.codec.fmtp.as_ref(), codec.fmtp.as_ref());
                prop_assert_eq!(at_a.format.codec.fmtp.as_ref(), b.supported(codec).unwrap().fmtp.as_ref());
                prop_assert_eq!(at_a.remote_rtp, Some(std::net::SocketAddr::new(b.address, 6000)));
                prop_assert_eq!(at_b.remote_rtp, Some(std::net::SocketAddr::new(a.address, 4000)));
                // Each sends exactly when its policy sends and the other's receives.
                prop_assert_eq!(at_a.sends(), a.direction.sends() && b.direction.receives());
                prop_assert_eq!(at_b.sends(), b.direction.sends() && a.direction.receives());
                prop_assert_eq!(at_a.receives(), at_b.sends());
                prop_assert_eq!(at_a.rtcp_mux, a.rtcp_mux && b.rtcp_mux);
                prop_assert_eq!(at_a.rtcp_mux, at_b.rtcp_mux);
                // Telephone events: both or neither, same numbers, at the codec's clock.
                prop_assert_eq!(at_a.telephone_event.is_some(), at_b.telephone_event.is_some());
                if let (Some(te_a), Some(te_b)) = (at_a.telephone_event, at_b.telephone_event) {
                    prop_assert_eq!(te_a.payload_type, te_b.receive_payload_type);
                    prop_assert_eq!(te_a.clock_rate, codec.clock_rate);
                    prop_assert_eq!(te_a.events, te_b.events);
                    prop_assert!(!te_a.events.is_empty());
                }
                prop_assert_eq!(at_b.ptime_ms, a.ptime_ms);
                prop_assert_eq!(at_a.ptime_ms, a.ptime_ms.or(b.ptime_ms));
            }
            (common, b_side, a_side) => {
                prop_assert!(false, "common {:?}, bob {:?}, alice {:?}", common, b_side, a_side);
            }
        }

        // The same exchange again changes nothing, and versions stay put.
        let again = alice.create_offer(&a);
        prop_assert_eq!(again.origin.session_version, offer.origin.session_version);
        let (answer2, answered2) = bob.answer(&wire(&again), &b);
        prop_assert_eq!(answered2.change, MediaChange::Unchanged);
        prop_assert_eq!(answer2.origin.session_version, answer.origin.session_version);
        prop_assert_eq!(alice.handle_answer(&wire(&answer2)).unwrap().change, MediaChange::Unchanged);
    }

    #[test]
    fn direction_algebra(a in direction(), b in direction()) {
        prop_assert_eq!(a.reversed().reversed(), a);
        prop_assert_eq!(a.intersect(b), b.intersect(a));
        prop_assert_eq!(a.intersect(a), a);
        prop_assert_eq!(a.intersect(Direction::SendRecv), a);
        prop_assert_eq!(Direction::from_flags(a.sends(), a.receives()), a);
    }
}
