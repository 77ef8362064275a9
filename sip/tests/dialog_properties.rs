//! Property tests of the dialog layer: INFO DTMF parsing never panics and round-trips, the
//! registrar stays within its limits and its bindings only age, dialogs keep CSeq order, the
//! dialog store stays bounded.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use tandem_sip::dialog::{
    Dialog, DialogStore, DtmfRelay, DtmfSignal, InDialogRejection, Registrar, RegistrarConfig, uas,
};
use tandem_sip::message::{HeaderName, NameAddr, Request, StatusCode, Uri};

/// The origin of virtual time: only offsets from it matter.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

proptest! {
    #[test]
    fn dtmf_parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = DtmfRelay::parse(&body);
        let _ = DtmfRelay::parse_dtmf(&body);
    }

    #[test]
    fn dtmf_parsers_never_panic_on_near_valid_text(
        lines in proptest::collection::vec(
            ("(?i)(signal|duration|x)", "[ \t]{0,2}", "[0-9A-Da-d*#]{0,12}", "(\r\n|\n|)"),
            0..6,
        )
    ) {
        let body: String = lines
            .iter()
            .map(|(k, ws, v, end)| format!("{k}{ws}={ws}{v}{end}"))
            .collect();
        let _ = DtmfRelay::parse(body.as_bytes());
        let _ = DtmfRelay::parse_dtmf(body.as_bytes());
    }

    #[test]
    fn dtmf_relay_print_parse_round_trips(code in 0u8..16, duration in proptest::option::of(any::<u32>())) {
        let relay = DtmfRelay {
            signal: DtmfSignal::from_event_code(code).unwrap(),
            duration_ms: duration,
        };
        prop_assert_eq!(DtmfRelay::parse(&relay.to_body()), Ok(relay));
        let single = DtmfRelay::parse_dtmf(&relay.to_dtmf_body()).unwrap();
        prop_assert_eq!(single.signal, relay.signal);
    }
}

/// One REGISTER in a random workload.
#[derive(Debug, Clone)]
struct Op {
    advance_secs: u64,
    user: u8,
    contacts: Vec<(u8, Option<u32>)>,
    header_expires: Option<u32>,
    wildcard: bool,
    call_id: u8,
    cseq: u32,
}

fn op() -> impl Strategy<Value = Op> {
    let expires = prop_oneof![
        Just(0u32),
        Just(30),
        Just(60),
        Just(600),
        Just(3600),
        Just(100_000)
    ];
    (
        0u64..2000,
        0u8..4,
        proptest::collection::vec((0u8..6, proptest::option::of(expires.clone())), 0..4),
        proptest::option::of(expires),
        proptest::bool::weighted(0.1),
        0u8..3,
        1u32..20,
    )
        .prop_map(
            |(advance_secs, user, contacts, header_expires, wildcard, call_id, cseq)| Op {
                advance_secs,
                user,
                contacts,
                header_expires,
                wildcard,
                call_id,
                cseq,
            },
        )
}

fn aor(user: u8) -> Uri {
    Uri::parse(&format!("sip:user{user}@tandem.example")).unwrap()
}

fn register(op: &Op) -> Request {
    let mut text = format!(
        "REGISTER sip:tandem.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-x\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:user{u}@tandem.example>;tag=f\r\n\
        To: <sip:user{u}@tandem.example>\r\n\
        Call-ID: c{c}@192.0.2.1\r\n\
        CSeq: {s} REGISTER\r\n",
        u = op.user,
        c = op.call_id,
        s = op.cseq
    );
    if op.wildcard {
        text.push_str("Contact: *\r\n");
    }
    for (host, expires) in &op.contacts {
        match expires {
            Some(e) => text.push_str(&format!("Contact: <sip:u@192.0.2.{host}>;expires={e}\r\n")),
            None => text.push_str(&format!("Contact: <sip:u@192.0.2.{host}>\r\n")),
        }
    }
    if let Some(e) = op.header_expires {
        text.push_str(&format!("Expires: {e}\r\n"));
    }
    text.push_str("\r\n");
    Request::parse(text.as_bytes()).unwrap()
}

proptest! {
    #[test]
    fn registrar_stays_within_its_limits_and_bindings_only_age(ops in proptest::collection::vec(op(), 1..60)) {
        let config = RegistrarConfig {
            max_bindings: 7,
            max_bindings_per_aor: 3,
            ..RegistrarConfig::default()
        };
        let mut registrar = Registrar::new(config);
        let mut now = origin();
        for op in &ops {
            let before: Vec<_> = (0..4).map(|u| registrar.lookup(now, &aor(u))).collect();
            let later = now + Duration::from_secs(op.advance_secs);
            // Without a REGISTER, time only shortens bindings or removes them.
            for (u, earlier) in before.iter().enumerate() {
                for b in registrar.lookup(later, &aor(u as u8)) {
                    let was = earlier.iter().find(|e| e.contact == b.contact);
                    prop_assert!(was.is_some_and(|e| e.expires >= b.expires));
                }
            }
            now = later;
            let response = registrar.handle_register(now, &register(op), "t");
            prop_assert!(response.status.as_u16() >= 200);
            prop_assert!(registrar.len() <= config.max_bindings);
            let mut current = 0;
            for u in 0..4 {
                let bindings = registrar.lookup(now, &aor(u));
                prop_assert!(bindings.len() <= config.max_bindings_per_aor);
                for b in &bindings {
                    prop_assert!(b.expires >= 1 && b.expires <= config.max_expires);
                }
                current += bindings.len();
            }
            if response.status == StatusCode::OK {
                let listed = response.headers.values(HeaderName::Contact).count();
                prop_assert_eq!(listed, registrar.lookup(now, &aor(op.user)).len());
            }
            registrar.handle_timeout(now);
            prop_assert_eq!(registrar.len(), current);
            prop_assert!(registrar.poll_timeout().is_none_or(|t| t > now));
        }
    }
}

const INVITE: &str = "INVITE sip:echo@tandem.example SIP/2.0\r\n\
    Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-a\r\n\
    Max-Forwards: 70\r\n\
    From: <sip:alice@example.com>;tag=a1\r\n\
    To: <sip:echo@tandem.example>\r\n\
    Call-ID: prop@192.0.2.1\r\n\
    CSeq: 1 INVITE\r\n\
    Contact: <sip:alice@192.0.2.1>\r\n\r\n";

fn confirmed_uas(call_id: &str) -> Dialog {
    let invite =
        Request::parse(INVITE.replace("prop@", &format!("{call_id}@")).as_bytes()).unwrap();
    let contact = NameAddr::parse("<sip:tandem@192.0.2.10>").unwrap();
    let ok = uas::invite_response(&invite, StatusCode::OK, "t1", &contact).unwrap();
    Dialog::new_uas(&invite, &ok).unwrap()
}

fn in_dialog(method: &str, seq: u32) -> Request {
    Request::parse(
        format!(
            "{method} sip:tandem@192.0.2.10 SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-{seq}\r\n\
            Max-Forwards: 70\r\n\
            From: <sip:alice@example.com>;tag=a1\r\n\
            To: <sip:echo@tandem.example>;tag=t1\r\n\
            Call-ID: prop@192.0.2.1\r\n\
            CSeq: {seq} {method}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap()
}

proptest! {
    #[test]
    fn remote_cseq_never_goes_back_and_only_lower_ones_are_refused(
        seqs in proptest::collection::vec((0u32..40, prop_oneof![Just("INFO"), Just("OPTIONS"), Just("UPDATE")]), 1..40)
    ) {
        let mut dialog = confirmed_uas("prop");
        for (seq, method) in seqs {
            let before = dialog.remote_seq().unwrap();
            let outcome = dialog.handle_request(&in_dialog(method, seq));
            if seq < before {
                prop_assert_eq!(outcome, Err(InDialogRejection::OutOfOrder { seq, remote_seq: before }));
                prop_assert_eq!(dialog.remote_seq(), Some(before));
            } else {
                prop_assert_eq!(outcome, Ok(()));
                prop_assert_eq!(dialog.remote_seq(), Some(seq));
            }
        }
    }

    #[test]
    fn local_cseq_only_grows(ops in proptest::collection::vec(0u8..4, 1..50)) {
        let mut dialog = confirmed_uas("prop");
        let mut last = 0;
        for op in ops {
            let r = match op {
                0 => dialog.options(),
                1 => dialog.update(b""),
                2 => dialog.info(&tandem_sip::dialog::DtmfFormat::Dtmf.content_type(), "1"),
                _ => dialog.ack(),
            };
            if let Ok(r) = r {
                let seq = r.headers.cseq().unwrap().seq;
                if op == 3 {
                    continue;
                }
                prop_assert!(seq > last);
                last = seq;
            }
        }
    }

    #[test]
    fn dialog_store_never_exceeds_its_capacity(ops in proptest::collection::vec((any::<bool>(), 0u8..20), 1..100)) {
        let mut store = DialogStore::new(5);
        for (insert, n) in ops {
            let dialog = confirmed_uas(&format!("d{n}"));
            if insert {
                let full = store.len() == store.capacity();
                let exists = store.get(dialog.id()).is_some();
                let result = store.insert(dialog);
                prop_assert_eq!(result.is_ok(), !full && !exists);
            } else {
                store.remove(&dialog.id().clone());
            }
            prop_assert!(store.len() <= store.capacity());
        }
    }
}
