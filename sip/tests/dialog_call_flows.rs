//! Two user agents built from the dialog layer talk through a record-routing proxy, in
//! virtual time: call set-up with forking-safe early dialogs, INFO DTMF, a hold re-INVITE,
//! re-INVITE glare resolved with RFC 3261 §14.1 delays, RFC 4028 refreshes, and a BYE when a
//! refresh never comes. Every message crosses the "wire" (printed, then parsed).

use std::time::{Duration, Instant};

use tandem_sip::dialog::{
    Dialog, DialogState, DialogStore, DtmfFormat, DtmfRelay, DtmfSignal, InDialogRejection, Role,
    SessionTimer, SessionTimerAction, SessionTimerConfig, UacParams, uas,
};
use tandem_sip::message::{
    ContentType, HeaderName, Message, Method, NameAddr, Request, Response, StatusCode, Uri,
};

const PROXY_RR: &str = "<sip:proxy.example;lr>";

/// The origin of virtual time: only offsets from it matter.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A request leaving a UA: gets a Via, crosses the wire and the proxy (which record-routes
/// dialog-creating INVITEs and pops its own Route entry).
fn via_proxy(mut r: Request, from: &str, branch: &mut u32) -> Request {
    *branch += 1;
    r.headers.push_front(
        HeaderName::Via,
        format!("SIP/2.0/UDP {from};branch=z9hG4bK-{branch}"),
    );
    r.validate().unwrap();
    let mut r = Request::parse(&Message::from(r).to_bytes()).unwrap();
    let first_route = r.headers.first(HeaderName::Route).map(str::to_owned);
    if first_route.as_deref() == Some(PROXY_RR) {
        r.headers.remove_first("Route");
    } else if r.method == Method::Invite && r.headers.to().unwrap().tag().is_none() {
        r.headers.push_front(HeaderName::RecordRoute, PROXY_RR);
    }
    r.headers.push_front(
        HeaderName::Via,
        format!("SIP/2.0/UDP proxy.example;branch=z9hG4bK-p{branch}"),
    );
    Request::parse(&Message::from(r).to_bytes()).unwrap()
}

/// A response travelling back through the proxy (which strips its Via).
fn back(r: Response) -> Response {
    r.validate().unwrap();
    let mut r = Response::parse(&Message::from(r).to_bytes()).unwrap();
    r.headers.remove_first("Via");
    Response::parse(&Message::from(r).to_bytes()).unwrap()
}

fn alice_params() -> UacParams {
    UacParams::new(
        Uri::parse("sip:bob@biloxi.example").unwrap(),
        NameAddr::parse("\"Alice\" <sip:alice@atlanta.example>").unwrap(),
        "a-tag",
        NameAddr::parse("<sip:bob@biloxi.example>").unwrap(),
        "call-7@192.0.2.1",
        NameAddr::parse("<sip:alice@192.0.2.1:5060>").unwrap(),
    )
}

fn bob_contact() -> NameAddr {
    NameAddr::parse("<sip:bob@192.0.2.2:5060>").unwrap()
}

struct Call {
    alice: DialogStore,
    bob: DialogStore,
    alice_timer: SessionTimer,
    bob_timer: SessionTimer,
    branch: u32,
    t0: Instant,
}

impl Call {
    fn alice(&mut self) -> &mut Dialog {
        self.alice.iter_mut().next().unwrap()
    }

    fn bob(&mut self) -> &mut Dialog {
        self.bob.iter_mut().next().unwrap()
    }
}

/// INVITE (with a session-timer offer), 180, 200, ACK.
fn set_up() -> Call {
    let t0 = origin();
    let timers = SessionTimerConfig::default();
    let mut branch = 0;
    let mut invite = alice_params().invite(b"v=0\r\no=alice\r\n").unwrap();
    timers.add_to_request(&mut invite);
    let sent_invite = invite.clone();
    let at_bob = via_proxy(invite, "192.0.2.1", &mut branch);
    assert_eq!(
        at_bob.headers.first(HeaderName::RecordRoute),
        Some(PROXY_RR)
    );

    let mut alice = DialogStore::new(4);
    let mut bob = DialogStore::new(4);

    // Bob rings: an early dialog on both sides.
    let ringing =
        uas::invite_response(&at_bob, StatusCode::RINGING, "b-tag", &bob_contact()).unwrap();
    bob.insert(Dialog::new_uas(&at_bob, &ringing).unwrap())
        .unwrap();
    let ringing = back(ringing);
    assert!(alice.handle_response(&ringing).unwrap().is_none());
    alice
        .insert(Dialog::new_uac(&sent_invite, &ringing).unwrap())
        .unwrap();

    // Bob answers with the negotiated session timer (Alice refreshes: refresher=uac).
    let negotiated_at_bob = timers.negotiate_uas(&at_bob).unwrap().unwrap();
    assert!(!negotiated_at_bob.we_refresh);
    let mut ok = uas::invite_response(&at_bob, StatusCode::OK, "b-tag", &bob_contact())
        .unwrap()
        .with_body(&ContentType::sdp(), "v=0\r\no=bob\r\n");
    negotiated_at_bob.add_to_response(&mut ok);
    let bob_id = tandem_sip::dialog::DialogId::of_sent_response(&ok).unwrap();
    bob.get_mut(&bob_id)
        .unwrap()
        .record_sent_response(&ok)
        .unwrap();
    let bob_timer = SessionTimer::start(t0, &negotiated_at_bob);

    let ok = back(ok);
    let dialog = alice.handle_response(&ok).unwrap().unwrap();
    assert_eq!(dialog.state(), DialogState::Confirmed);
    let negotiated_at_alice = timers.negotiate_uac(&ok).unwrap();
    assert!(negotiated_at_alice.we_refresh);
    assert_eq!(negotiated_at_alice.interval, 1800);
    let alice_timer = SessionTimer::start(t0, &negotiated_at_alice);

    // ACK: same CSeq as the INVITE, loose-routed through the proxy to Bob's Contact.
    let ack = dialog.ack().unwrap();
    assert_eq!(ack.headers.first(HeaderName::Route), Some(PROXY_RR));
    assert_eq!(ack.uri.to_string(), "sip:bob@192.0.2.2:5060");
    let ack = via_proxy(ack, "192.0.2.1", &mut branch);
    assert!(!ack.headers.contains("Route"));
    let at_bob = bob.handle_request(&ack).unwrap();
    assert_eq!(at_bob.state(), DialogState::Confirmed);
    assert_eq!(at_bob.route_set()[0].to_string(), PROXY_RR);

    Call {
        alice,
        bob,
        alice_timer,
        bob_timer,
        branch,
        t0,
    }
}

#[test]
fn info_dtmf_and_a_hold_reinvite_flow_through_the_dialogs() {
    let mut call = set_up();
    let relay = DtmfRelay {
        signal: DtmfSignal::Pound,
        duration_ms: Some(160),
    };
    let info = call
        .alice()
        .info(&DtmfFormat::Relay.content_type(), relay.to_body())
        .unwrap();
    assert_eq!(info.headers.cseq().unwrap().seq, 2);
    let info = via_proxy(info, "192.0.2.1", &mut call.branch);
    let at_bob = call.bob.handle_request(&info).unwrap();
    assert_eq!(DtmfRelay::from_request(&info), Ok(Some(relay)));
    let ok = back(at_bob.response(&info, StatusCode::OK));
    call.alice().handle_response(&ok).unwrap();

    // Bob puts Alice on hold: a re-INVITE from the callee, routed back through the proxy.
    let hold = call.bob().reinvite(b"v=0\r\na=sendonly\r\n").unwrap();
    assert_eq!(hold.uri.to_string(), "sip:alice@192.0.2.1:5060");
    assert_eq!(hold.headers.cseq().unwrap().seq, 1, "Bob's first request");
    let hold = via_proxy(hold, "192.0.2.2", &mut call.branch);
    let at_alice = call.alice.handle_request(&hold).unwrap();
    assert!(at_alice.remote_invite_pending());
    let ok = at_alice
        .response(&hold, StatusCode::OK)
        .with_body(&ContentType::sdp(), "v=0\r\na=recvonly\r\n");
    at_alice.record_sent_response(&ok).unwrap();
    call.bob().handle_response(&back(ok)).unwrap();
    let ack = call.bob().ack().unwrap();
    assert_eq!(ack.headers.cseq().unwrap().seq, 1);
    let ack = via_proxy(ack, "192.0.2.2", &mut call.branch);
    call.alice.handle_request(&ack).unwrap();
    assert!(!call.alice().remote_invite_pending());
    assert!(!call.bob().local_invite_pending());
}

#[test]
fn reinvite_glare_both_get_491_and_the_callee_retries_first() {
    let mut call = set_up();
    let from_alice = call.alice().reinvite(b"v=0\r\no=alice-2\r\n").unwrap();
    let from_bob = call.bob().reinvite(b"v=0\r\no=bob-2\r\n").unwrap();
    let from_alice = via_proxy(from_alice, "192.0.2.1", &mut call.branch);
    let from_bob = via_proxy(from_bob, "192.0.2.2", &mut call.branch);

    let e = call.bob.handle_request(&from_alice).unwrap_err();
    assert_eq!(e, InDialogRejection::RequestPending);
    let to_alice = back(e.response(&from_alice, 0));
    let e = call.alice.handle_request(&from_bob).unwrap_err();
    let to_bob = back(e.response(&from_bob, 0));
    assert_eq!(to_alice.status, StatusCode::REQUEST_PENDING);
    call.alice().handle_response(&to_alice).unwrap();
    call.bob().handle_response(&to_bob).unwrap();

    // Alice owns the Call-ID (2.1–4 s), Bob does not (0–2 s): Bob goes first.
    assert_eq!(call.alice().role(), Role::Uac);
    let alice_wait = call.alice().glare_retry_delay(77);
    let bob_wait = call.bob().glare_retry_delay(77);
    assert!(bob_wait < alice_wait);
    let retry = call.bob().reinvite(b"v=0\r\no=bob-2\r\n").unwrap();
    let retry = via_proxy(retry, "192.0.2.2", &mut call.branch);
    let at_alice = call.alice.handle_request(&retry).unwrap();
    let ok = at_alice.response(&retry, StatusCode::OK);
    at_alice.record_sent_response(&ok).unwrap();
    call.bob().handle_response(&back(ok)).unwrap();
    assert!(!call.bob().local_invite_pending());
    // Alice's own retry, after Bob's transaction completed, is accepted.
    let retry = call.alice().reinvite(b"v=0\r\no=alice-2\r\n").unwrap();
    let retry = via_proxy(retry, "192.0.2.1", &mut call.branch);
    assert!(call.bob.handle_request(&retry).is_ok());
}

#[test]
fn session_refreshes_keep_the_call_and_a_missing_refresh_ends_it_with_bye() {
    let mut call = set_up();
    let t0 = call.t0;
    let timers = SessionTimerConfig::default();
    assert_eq!(call.alice_timer.poll_timeout(), Some(t0 + secs(900)));
    assert_eq!(call.bob_timer.poll_timeout(), Some(t0 + secs(1768)));

    // Alice refreshes with an UPDATE at half the interval.
    let now = t0 + secs(900);
    assert_eq!(
        call.alice_timer.handle_timeout(now),
        Some(SessionTimerAction::SendRefresh)
    );
    let mut update = call.alice().update(b"").unwrap();
    call.alice_timer.add_to_request(&mut update, &timers);
    let update = via_proxy(update, "192.0.2.1", &mut call.branch);
    assert_eq!(
        update.headers.first(HeaderName::SessionExpires),
        Some("1800;refresher=uac")
    );
    let at_bob = call.bob.handle_request(&update).unwrap();
    let negotiated = timers.negotiate_uas(&update).unwrap().unwrap();
    let mut ok = at_bob.response(&update, StatusCode::OK);
    negotiated.add_to_response(&mut ok);
    call.bob_timer.handle_refreshed(now, &negotiated);
    let ok = back(ok);
    call.alice().handle_response(&ok).unwrap();
    call.alice_timer
        .handle_refreshed(now, &timers.negotiate_uac(&ok).unwrap());
    assert_eq!(call.bob_timer.poll_timeout(), Some(now + secs(1768)));

    // Alice goes silent: Bob's timer fires 32 s before the interval ends and Bob hangs up.
    let deadline = call.bob_timer.poll_timeout().unwrap();
    assert_eq!(call.bob_timer.handle_timeout(deadline - secs(1)), None);
    assert_eq!(
        call.bob_timer.handle_timeout(deadline),
        Some(SessionTimerAction::SendBye)
    );
    let bye = call.bob().bye().unwrap();
    assert_eq!(bye.headers.cseq().unwrap().seq, 1);
    let bye = via_proxy(bye, "192.0.2.2", &mut call.branch);
    let at_alice = call.alice.handle_request(&bye).unwrap();
    assert_eq!(at_alice.state(), DialogState::Terminated);
    let ok = back(at_alice.response(&bye, StatusCode::OK));
    assert_eq!(ok.status, StatusCode::OK);

    // No leak: both stores drop their terminated dialogs.
    assert_eq!(call.alice.remove_terminated(), 1);
    assert_eq!(call.bob.remove_terminated(), 1);
    assert!(call.alice.is_empty() && call.bob.is_empty());
}
