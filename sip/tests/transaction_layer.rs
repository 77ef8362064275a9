//! The transaction layer through its public API, in virtual time: matching, routing, CANCEL,
//! ACK, bad input, overload, misuse and scale.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tandem_sip::message::{
    HeaderName, Host, Method, Request, Response, SipUri, StatusCode, Transport,
};
use tandem_sip::transaction::{
    Config, ConnectionId, Event, Input, Kind, State, Timer, TransactionError, TransactionId,
    TransactionLayer, Transmit, TryingPolicy,
};

#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const LOCAL: &str = "192.0.2.9:5060";
const PEER: &str = "192.0.2.1:5060";

fn layer() -> TransactionLayer {
    TransactionLayer::new(Config::default(), [1; 16])
}

/// A request as a peer would send it.
fn wire_request(method: &str, branch: &str, via_extra: &str, cseq: u32) -> Vec<u8> {
    format!(
        "{method} sip:bob@192.0.2.9 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}{via_extra}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: call-1@192.0.2.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn wire_ack(branch: &str, to_tag: &str) -> Vec<u8> {
    format!(
        "ACK sip:bob@192.0.2.9 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:bob@example.com>;tag={to_tag}\r\n\
         Call-ID: call-1@192.0.2.1\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn receive(layer: &mut TransactionLayer, now: Instant, bytes: &[u8]) {
    receive_from(layer, now, addr(PEER), Transport::Udp, None, bytes);
}

fn receive_from(
    layer: &mut TransactionLayer,
    now: Instant,
    source: SocketAddr,
    transport: Transport,
    connection: Option<ConnectionId>,
    bytes: &[u8],
) {
    layer.handle(
        now,
        Input::Received {
            source,
            local: addr(LOCAL),
            transport,
            connection,
            bytes,
        },
    );
}

fn transmits(layer: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| layer.poll_transmit()).collect()
}

fn events(layer: &mut TransactionLayer) -> Vec<Event> {
    std::iter::from_fn(|| layer.poll_event()).collect()
}

fn status_of(t: &Transmit) -> u16 {
    Response::parse(&t.bytes).unwrap().status.as_u16()
}

/// Runs every timer up to `until`.
fn run_until(layer: &mut TransactionLayer, until: Instant) {
    while let Some(at) = layer.poll_timeout().filter(|&at| at <= until) {
        layer.handle(at, Input::Timeout);
    }
    layer.handle(until, Input::Timeout);
}

fn new_request(events: &[Event]) -> (TransactionId, Request) {
    events
        .iter()
        .find_map(|e| match e {
            Event::NewRequest { id, request, .. } => Some((*id, request.clone())),
            _ => None,
        })
        .expect("a NewRequest")
}

fn options_request(via: &str) -> Request {
    Request::new(
        Method::Options,
        SipUri::new(Host::Domain("example.com".into())),
    )
    .with_header(HeaderName::Via, via)
    .with_header(HeaderName::MaxForwards, 70)
    .with_header(HeaderName::From, "<sip:tandem@example.com>;tag=t1")
    .with_header(HeaderName::To, "<sip:peer@example.com>")
    .with_header(HeaderName::CallId, "opt-1")
    .with_header(HeaderName::CSeq, "1 OPTIONS")
}

fn invite_request() -> Request {
    let mut r = options_request("SIP/2.0/UDP 192.0.2.9:5060;rport");
    r.method = Method::Invite;
    r.headers.set(HeaderName::CSeq, "1 INVITE");
    r.headers.set(HeaderName::CallId, "inv-1");
    r.headers
        .push(HeaderName::Contact, "<sip:tandem@192.0.2.9>");
    r
}

fn response_to(request_bytes: &[u8], code: u16, tag: &str) -> Vec<u8> {
    let req = Request::parse(request_bytes).unwrap();
    let mut r = Response::from_request(&req, StatusCode::new(code).unwrap());
    if code > 100 {
        r.set_to_tag(tag).unwrap();
    }
    let mut out = Vec::new();
    r.write_to(&mut out);
    out
}

#[test]
fn client_request_gets_a_branch_and_its_responses() {
    let t0 = epoch();
    let mut l = layer();
    let id = l
        .send_request(
            t0,
            options_request("SIP/2.0/UDP 192.0.2.9:5060"),
            addr(PEER),
            Transport::Udp,
        )
        .unwrap();
    assert_eq!(l.kind(id), Some(Kind::NonInviteClient));
    assert_eq!(l.state(id), Some(State::Trying));
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].destination, addr(PEER));
    let req = Request::parse(&sent[0].bytes).unwrap();
    let branch = req.headers.top_via().unwrap().branch().unwrap().to_owned();
    assert!(branch.starts_with("z9hG4bK"), "{branch}");

    // A response with another branch or method does not match.
    let ok = response_to(&sent[0].bytes, 200, "p1");
    let other = String::from_utf8(ok.clone())
        .unwrap()
        .replace(&branch, "z9hG4bKother");
    receive(&mut l, t0, other.as_bytes());
    assert!(events(&mut l).is_empty());
    assert_eq!(l.stats().stray_responses, 1);

    receive(&mut l, t0, &response_to(&sent[0].bytes, 100, ""));
    receive(&mut l, t0, &ok);
    receive(&mut l, t0, &ok);
    let ev = events(&mut l);
    assert!(
        matches!(&ev[..], [Event::Response { response: a, .. }, Event::Response { response: b, .. }]
        if a.status == StatusCode::TRYING && b.status == StatusCode::OK),
        "{ev:?}"
    );
    assert_eq!(l.state(id), Some(State::Completed));
    assert_eq!(l.stats().retransmissions_received, 1);
    run_until(&mut l, t0 + Duration::from_secs(5));
    assert_eq!(events(&mut l), [Event::Terminated { id }]);
    assert!(l.is_empty());
    assert_eq!(l.poll_timeout(), None);
}

#[test]
fn server_stamps_received_and_rport_and_routes_responses_there() {
    let t0 = epoch();
    let mut l = layer();
    let nat = addr("203.0.113.7:40123");
    let invite = wire_request("INVITE", "z9hG4bKinv", ";rport", 1);
    receive_from(&mut l, t0, nat, Transport::Udp, None, &invite);
    let (id, request) = new_request(&events(&mut l));
    assert_eq!(l.kind(id), Some(Kind::InviteServer));
    let via = request.headers.top_via().unwrap();
    assert_eq!(via.received(), Some("203.0.113.7"));
    assert_eq!(via.rport(), Some(Some(40123)));

    // 100 Trying after 200 ms of TU silence, to the NAT's address.
    assert_eq!(l.poll_timeout(), Some(t0 + Duration::from_millis(200)));
    run_until(&mut l, t0 + Duration::from_millis(200));
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert_eq!(status_of(&sent[0]), 100);
    assert_eq!(sent[0].destination, nat);
    assert_eq!(sent[0].local, Some(addr(LOCAL)));

    let mut ringing = Response::from_request(&request, StatusCode::RINGING);
    ringing.set_to_tag("b1").unwrap();
    l.send_response(t0, id, ringing).unwrap();
    assert_eq!(status_of(&transmits(&mut l)[0]), 180);
    // The retransmitted INVITE gets the 180 again.
    receive_from(&mut l, t0, nat, Transport::Udp, None, &invite);
    let again = transmits(&mut l);
    assert_eq!(again.len(), 1);
    assert_eq!(status_of(&again[0]), 180);
    assert!(events(&mut l).is_empty());

    let mut ok = Response::from_request(&request, StatusCode::OK);
    ok.set_to_tag("b1").unwrap();
    l.send_response(t0, id, ok.clone()).unwrap();
    assert_eq!(l.state(id), Some(State::Accepted));
    // The TU retransmits its 2xx; INVITE retransmissions are absorbed (RFC 6026).
    l.send_response(t0 + Duration::from_millis(500), id, ok)
        .unwrap();
    receive_from(&mut l, t0, nat, Transport::Udp, None, &invite);
    assert_eq!(transmits(&mut l).len(), 2);

    // The ACK for the 2xx has its own branch: passed up without an id.
    let t1 = t0 + Duration::from_secs(1);
    receive_from(
        &mut l,
        t1,
        nat,
        Transport::Udp,
        None,
        &wire_ack("z9hG4bKack", "b1"),
    );
    let ev = events(&mut l);
    assert!(
        matches!(&ev[..], [Event::Ack { id: None, request, source, .. }]
            if request.method == Method::Ack && *source == nat),
        "{ev:?}"
    );
    // Timer L from the 2xx (sent at 200 ms: `now` never goes back).
    run_until(&mut l, t0 + Duration::from_millis(32_199));
    assert_eq!(l.state(id), Some(State::Accepted));
    run_until(&mut l, t0 + Duration::from_millis(32_200));
    assert_eq!(events(&mut l), [Event::Terminated { id }]);
}

#[test]
fn non_2xx_final_ack_is_absorbed_by_the_invite_transaction() {
    let t0 = epoch();
    let mut l = TransactionLayer::new(
        Config {
            trying: TryingPolicy::Never,
            ..Config::default()
        },
        [2; 16],
    );
    receive(&mut l, t0, &wire_request("INVITE", "z9hG4bK1", "", 1));
    let (id, request) = new_request(&events(&mut l));
    let mut busy = Response::from_request(&request, StatusCode::BUSY_HERE);
    busy.set_to_tag("b2").unwrap();
    l.send_response(t0, id, busy).unwrap();
    assert_eq!(l.state(id), Some(State::Completed));
    assert_eq!(transmits(&mut l).len(), 1);
    // Timer G retransmits until the ACK.
    run_until(&mut l, t0 + Duration::from_millis(600));
    assert_eq!(transmits(&mut l).len(), 1);
    receive(&mut l, t0, &wire_ack("z9hG4bK1", "b2"));
    assert_eq!(l.state(id), Some(State::Confirmed));
    assert!(events(&mut l).is_empty(), "not passed up");
    receive(&mut l, t0, &wire_ack("z9hG4bK1", "b2"));
    assert!(events(&mut l).is_empty());
    run_until(&mut l, t0 + Duration::from_secs(6));
    assert!(transmits(&mut l).is_empty());
    assert_eq!(events(&mut l), [Event::Terminated { id }]);
    assert_eq!(l.stats().acks_passed_up, 0);
}

#[test]
fn cancel_is_answered_and_passed_up_with_the_invite_id() {
    let t0 = epoch();
    let mut l = layer();
    receive(&mut l, t0, &wire_request("INVITE", "z9hG4bKc", "", 1));
    let (id, request) = new_request(&events(&mut l));
    let mut ringing = Response::from_request(&request, StatusCode::RINGING);
    ringing.set_to_tag("b3").unwrap();
    l.send_response(t0, id, ringing).unwrap();
    transmits(&mut l);

    let cancel = wire_request("CANCEL", "z9hG4bKc", "", 1);
    receive(&mut l, t0, &cancel);
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let ok = Response::parse(&sent[0].bytes).unwrap();
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers.cseq().unwrap().method, Method::Cancel);
    assert_eq!(
        ok.headers.to().unwrap().tag(),
        Some("b3"),
        "§9.2: same To tag"
    );
    let ev = events(&mut l);
    assert!(
        matches!(&ev[..], [Event::Cancel { id: i, request }] if *i == id && request.method == Method::Cancel),
        "{ev:?}"
    );
    // A retransmitted CANCEL gets the 200 again, and is not passed up again.
    receive(&mut l, t0, &cancel);
    assert_eq!(status_of(&transmits(&mut l)[0]), 200);
    assert!(events(&mut l).is_empty());

    let mut terminated = Response::from_request(&request, StatusCode::REQUEST_TERMINATED);
    terminated.set_to_tag("b3").unwrap();
    l.send_response(t0, id, terminated).unwrap();
    assert_eq!(status_of(&transmits(&mut l)[0]), 487);

    // A CANCEL matching nothing: 481.
    receive(&mut l, t0, &wire_request("CANCEL", "z9hG4bKnothing", "", 1));
    assert_eq!(status_of(&transmits(&mut l)[0]), 481);
    assert_eq!(l.stats().cancels_unmatched, 1);
    // A CANCEL after the final response: 200, but nothing for the TU.
    receive(&mut l, t0, &wire_request("CANCEL", "z9hG4bKc", ";x=1", 1));
    assert!(events(&mut l).is_empty());
    run_until(&mut l, t0 + Duration::from_secs(64));
    let ev = events(&mut l);
    assert!(ev.contains(&Event::Terminated { id }));
    assert!(l.is_empty());
}

#[test]
fn client_cancel_waits_for_a_provisional_and_hides_its_own_responses() {
    let t0 = epoch();
    let mut l = layer();
    let id = l
        .send_request(t0, invite_request(), addr(PEER), Transport::Udp)
        .unwrap();
    let invite = transmits(&mut l).remove(0);
    l.cancel(t0, id).unwrap();
    assert!(
        transmits(&mut l).is_empty(),
        "§9.1: not before a provisional"
    );
    receive(&mut l, t0, &response_to(&invite.bytes, 180, "r1"));
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let cancel = Request::parse(&sent[0].bytes).unwrap();
    assert_eq!(cancel.method, Method::Cancel);
    let invite_req = Request::parse(&invite.bytes).unwrap();
    assert_eq!(
        cancel.headers.top_via().unwrap(),
        invite_req.headers.top_via().unwrap()
    );
    l.cancel(t0, id).unwrap();
    assert!(transmits(&mut l).is_empty(), "once");
    // The CANCEL's 200 is absorbed; the INVITE's 487 is passed up and ACKed.
    receive(&mut l, t0, &response_to(&sent[0].bytes, 200, "r1"));
    receive(&mut l, t0, &response_to(&invite.bytes, 487, "r1"));
    let ack = transmits(&mut l);
    assert_eq!(ack.len(), 1);
    assert_eq!(Request::parse(&ack[0].bytes).unwrap().method, Method::Ack);
    let statuses: Vec<u16> = events(&mut l)
        .iter()
        .filter_map(|e| match e {
            Event::Response { id: i, response } if *i == id => Some(response.status.as_u16()),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [180, 487]);
    assert_eq!(l.cancel(t0, id), Err(TransactionError::NotCancellable(id)));
    run_until(&mut l, t0 + Duration::from_secs(40));
    assert_eq!(events(&mut l), [Event::Terminated { id }], "silent CANCEL");
    assert!(l.is_empty());
}

#[test]
fn stray_2xx_is_passed_up_and_other_strays_are_counted() {
    let t0 = epoch();
    let mut l = layer();
    let id = l
        .send_request(t0, invite_request(), addr(PEER), Transport::Udp)
        .unwrap();
    let invite = transmits(&mut l).remove(0);
    let ok = response_to(&invite.bytes, 200, "r2");
    receive(&mut l, t0, &ok);
    assert_eq!(l.state(id), Some(State::Accepted));
    receive(&mut l, t0, &ok);
    assert_eq!(events(&mut l).len(), 2, "Accepted passes every 2xx up");
    run_until(&mut l, t0 + Duration::from_secs(32));
    assert_eq!(events(&mut l), [Event::Terminated { id }]);
    receive(&mut l, t0 + Duration::from_secs(33), &ok);
    let ev = events(&mut l);
    assert!(
        matches!(&ev[..], [Event::Stray2xx { response, source, .. }] if response.status == StatusCode::OK && *source == addr(PEER)),
        "{ev:?}"
    );
    receive(
        &mut l,
        t0 + Duration::from_secs(33),
        &response_to(&invite.bytes, 486, "r2"),
    );
    assert!(events(&mut l).is_empty());
    let s = l.stats();
    assert_eq!((s.stray_2xx, s.stray_responses), (1, 1));
}

#[test]
fn bad_input_is_counted_answered_with_400_or_reported() {
    let t0 = epoch();
    let mut l = layer();
    receive(&mut l, t0, b"\r\n\r\n");
    receive(&mut l, t0, b"");
    assert_eq!(l.stats().keepalives, 2);
    receive(&mut l, t0, b"\x00\xffgarbage\r\n\r\n");
    let ev = events(&mut l);
    assert!(matches!(&ev[..], [Event::Malformed { .. }]), "{ev:?}");

    // Readable Via/From/To/Call-ID/CSeq but a broken Max-Forwards: 400 with the reason.
    let bad = String::from_utf8(wire_request("OPTIONS", "z9hG4bKb", "", 1))
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: many");
    receive(&mut l, t0, bad.as_bytes());
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    let r = Response::parse(&sent[0].bytes).unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.reason.contains("Max-Forwards"), "{}", r.reason);
    assert!(r.headers.to().unwrap().tag().is_some());
    assert!(events(&mut l).is_empty());

    // No Call-ID: cannot be answered, reported.
    let no_call_id = String::from_utf8(wire_request("OPTIONS", "z9hG4bKb", "", 1))
        .unwrap()
        .replace("Call-ID: call-1@192.0.2.1\r\n", "");
    receive(&mut l, t0, no_call_id.as_bytes());
    assert!(transmits(&mut l).is_empty());
    assert!(matches!(&events(&mut l)[..], [Event::Malformed { .. }]));
    // A malformed ACK is never answered; a response without CSeq is dropped and reported.
    let bad_ack = String::from_utf8(wire_ack("z9hG4bKb", "x"))
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: x");
    receive(&mut l, t0, bad_ack.as_bytes());
    assert!(transmits(&mut l).is_empty());
    receive(
        &mut l,
        t0,
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n\r\n",
    );
    assert_eq!(events(&mut l).len(), 2);
    let s = l.stats();
    assert_eq!((s.malformed, s.rejected_bad_request), (4, 1));
    assert!(l.is_empty());
}

#[test]
fn a_full_table_answers_503_and_refuses_new_client_transactions() {
    let t0 = epoch();
    let mut l = TransactionLayer::new(
        Config {
            max_transactions: 1,
            overload_retry_after: Some(5),
            ..Config::default()
        },
        [3; 16],
    );
    receive(&mut l, t0, &wire_request("INVITE", "z9hG4bK1", "", 1));
    let (id, _) = new_request(&events(&mut l));
    receive(&mut l, t0, &wire_request("OPTIONS", "z9hG4bK2", "", 2));
    let sent = transmits(&mut l);
    let r = Response::parse(&sent[0].bytes).unwrap();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers.get("Retry-After"), Some("5"));
    assert!(events(&mut l).is_empty());
    // The INVITE's retransmission still matches, and its CANCEL still gets a 200.
    receive(&mut l, t0, &wire_request("INVITE", "z9hG4bK1", "", 1));
    receive(&mut l, t0, &wire_request("CANCEL", "z9hG4bK1", "", 1));
    let sent = transmits(&mut l);
    assert_eq!(sent.iter().map(status_of).collect::<Vec<_>>(), [100, 200]);
    assert!(matches!(&events(&mut l)[..], [Event::Cancel { id: i, .. }] if *i == id));
    assert_eq!(
        l.send_request(t0, invite_request(), addr(PEER), Transport::Udp),
        Err(TransactionError::Full { limit: 1 })
    );
    assert_eq!(l.stats().rejected_overload, 1);
    assert_eq!(l.len(), 1);
}

#[test]
fn misuse_is_a_typed_error() {
    let t0 = epoch();
    let mut l = layer();
    let never = {
        let mut other = layer();
        other
            .send_request(t0, invite_request(), addr(PEER), Transport::Udp)
            .unwrap();
        other
            .send_request(t0, invite_request(), addr(PEER), Transport::Udp)
            .unwrap()
    };
    let ok = Response::new(StatusCode::OK);
    assert_eq!(
        l.send_response(t0, never, ok.clone()),
        Err(TransactionError::Unknown(never))
    );
    let id = l
        .send_request(t0, invite_request(), addr(PEER), Transport::Udp)
        .unwrap();
    assert_eq!(
        l.send_response(t0, id, ok.clone()),
        Err(TransactionError::WrongKind {
            id,
            kind: Kind::InviteClient
        })
    );
    let mut options = options_request("SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKfixed");
    let o = l
        .send_request(t0, options.clone(), addr(PEER), Transport::Tcp)
        .unwrap();
    assert_eq!(
        l.send_request(t0, options.clone(), addr(PEER), Transport::Tcp),
        Err(TransactionError::DuplicateBranch)
    );
    assert_eq!(
        l.cancel(t0, o),
        Err(TransactionError::WrongKind {
            id: o,
            kind: Kind::NonInviteClient
        })
    );
    options.method = Method::Ack;
    options.headers.set(HeaderName::CSeq, "1 ACK");
    assert_eq!(
        l.send_request(t0, options.clone(), addr(PEER), Transport::Udp),
        Err(TransactionError::AckIsNotATransaction)
    );
    l.send_ack(options, addr(PEER), Transport::Udp).unwrap();
    assert!(matches!(
        l.send_ack(invite_request(), addr(PEER), Transport::Udp),
        Err(TransactionError::AckIsNotATransaction)
    ));
    let mut broken = invite_request();
    broken.headers.remove("Call-ID");
    assert!(matches!(
        l.send_request(t0, broken, addr(PEER), Transport::Udp),
        Err(TransactionError::InvalidMessage(_))
    ));
    // A response missing its mandatory headers is refused.
    receive(&mut l, t0, &wire_request("OPTIONS", "z9hG4bKm", "", 1));
    let (server, _) = new_request(&events(&mut l));
    assert!(matches!(
        l.send_response(t0, server, ok.clone()),
        Err(TransactionError::InvalidMessage(_))
    ));
    // A terminated transaction's id is dead; time going backwards is harmless.
    let sent = transmits(&mut l);
    receive_from(
        &mut l,
        t0,
        addr(PEER),
        Transport::Tcp,
        None,
        &response_to(&sent[1].bytes, 200, "x"),
    );
    assert_eq!(l.state(o), None);
    assert_eq!(l.cancel(t0, o), Err(TransactionError::Terminated(o)));
    l.handle(t0 - Duration::from_secs(1), Input::Timeout);
    assert!(l.poll_timeout().is_some());
}

#[test]
fn tcp_responses_go_back_on_the_connection_and_skip_wait_timers() {
    let t0 = epoch();
    let mut l = layer();
    let peer = addr("198.51.100.4:50123");
    let bytes = String::from_utf8(wire_request("OPTIONS", "z9hG4bKt", "", 1))
        .unwrap()
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    receive_from(
        &mut l,
        t0,
        peer,
        Transport::Tcp,
        Some(ConnectionId(7)),
        bytes.as_bytes(),
    );
    let (id, request) = new_request(&events(&mut l));
    l.send_response(t0, id, Response::from_request(&request, StatusCode::OK))
        .unwrap();
    let sent = transmits(&mut l);
    assert_eq!(sent[0].destination, peer);
    assert_eq!(sent[0].connection, Some(ConnectionId(7)));
    assert_eq!(sent[0].transport, Transport::Tcp);
    // Timer J is zero on TCP.
    assert_eq!(events(&mut l), [Event::Terminated { id }]);
    assert!(l.is_empty());
}

#[test]
fn transport_errors_fail_the_transactions_sending_there() {
    let t0 = epoch();
    let mut l = layer();
    let a = l
        .send_request(t0, invite_request(), addr(PEER), Transport::Udp)
        .unwrap();
    let b = l
        .send_request(
            t0,
            options_request("SIP/2.0/UDP 192.0.2.9"),
            addr("192.0.2.77:5060"),
            Transport::Udp,
        )
        .unwrap();
    l.handle(
        t0,
        Input::TransportError {
            destination: addr(PEER),
            transport: Transport::Udp,
        },
    );
    assert_eq!(
        events(&mut l),
        [Event::TransportError { id: a }, Event::Terminated { id: a }]
    );
    assert_eq!(l.state(b), Some(State::Trying));
    assert_eq!(l.stats().transport_errors, 1);
}

#[test]
fn timeouts_are_reported_then_terminated() {
    let t0 = epoch();
    let mut l = layer();
    let inv = l
        .send_request(t0, invite_request(), addr(PEER), Transport::Udp)
        .unwrap();
    let opt = l
        .send_request(
            t0,
            options_request("SIP/2.0/UDP 192.0.2.9"),
            addr(PEER),
            Transport::Udp,
        )
        .unwrap();
    run_until(&mut l, t0 + Duration::from_secs(40));
    // 7 INVITE transmissions (Timer A) and 11 OPTIONS transmissions (Timer E) in 64*T1.
    let sent = transmits(&mut l);
    let count = |m: &str| {
        sent.iter()
            .filter(|t| t.bytes.starts_with(m.as_bytes()))
            .count()
    };
    assert_eq!((count("INVITE"), count("OPTIONS")), (7, 11));
    let ev = events(&mut l);
    assert!(ev.contains(&Event::Timeout {
        id: inv,
        timer: Timer::B
    }));
    assert!(ev.contains(&Event::Timeout {
        id: opt,
        timer: Timer::F
    }));
    assert_eq!(ev.len(), 4);
    assert_eq!(l.stats().timeouts, 2);
}

#[test]
fn thousands_of_concurrent_transactions() {
    let t0 = epoch();
    let mut l = TransactionLayer::new(
        Config {
            max_transactions: 100_000,
            ..Config::default()
        },
        [4; 16],
    );
    let n = 20_000u32;
    for i in 0..n {
        let mut r = options_request("SIP/2.0/UDP 192.0.2.9");
        r.headers.set(HeaderName::CallId, format!("c{i}"));
        l.send_request(
            t0 + Duration::from_micros(u64::from(i)),
            r,
            addr(PEER),
            Transport::Udp,
        )
        .unwrap();
    }
    for i in 0..n {
        let mut r =
            String::from_utf8(wire_request("INVITE", &format!("z9hG4bKs{i}"), "", 1)).unwrap();
        r = r.replace("call-1", &format!("s{i}"));
        receive(&mut l, t0 + Duration::from_millis(30), r.as_bytes());
    }
    assert_eq!(l.len(), 2 * n as usize);
    let mut wakeups = 0;
    while let Some(at) = l.poll_timeout() {
        l.handle(at, Input::Timeout);
        while l.poll_transmit().is_some() {}
        while l.poll_event().is_some() {}
        wakeups += 1;
    }
    assert!(l.is_empty());
    assert!(wakeups > 0);
}
