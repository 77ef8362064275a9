//! Forking: every branch rings, the first 2xx wins, the rest are cancelled or hung up, and
//! the caller gets the best refusal when all fail.

use super::*;

#[test]
fn a_fork_rings_every_contact_and_the_first_2xx_wins_the_others_are_cancelled() {
    let mut h = Harness::new();
    let (_, invites) = forked_to(&mut h, &BOTH_CONTACTS);
    assert_eq!(
        invites.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        [addr(CALLEE), addr(CALLEE_B)],
        "one INVITE per contact"
    );
    let (a, b) = (&invites[0].1, &invites[1].1);
    assert_eq!(a.body, b.body, "the same offer at the same port");
    assert_ne!(a.headers.call_id().unwrap(), b.headers.call_id().unwrap());

    // Both ring: the caller hears one 180.
    assert!(respond_from(&mut h, CALLEE_B, b, StatusCode::RINGING, "b").is_empty());
    assert!(respond_from(&mut h, CALLEE, a, StatusCode::RINGING, "a").is_empty());
    assert_eq!(
        summary(&h.sent()),
        [sent_to(CALLER, "180")],
        "one 180 for the first 18x"
    );

    // A answers: it is bridged, B is cancelled.
    let actions = respond_from(&mut h, CALLEE, a, StatusCode::OK, "a");
    assert_eq!(actions, [remote_set(7, 1, CALLEE_MEDIA)]);
    assert_eq!(
        sorted_summary(&mut h),
        [
            sent_to(CALLER, "200"),
            sent_to(CALLEE, "ACK"),
            sent_to(CALLEE_B, "CANCEL"),
        ]
    );
    // B's 487 changes nothing; a 2xx that crossed the CANCEL is ACKed and hung up once.
    assert!(respond_from(&mut h, CALLEE_B, b, StatusCode::REQUEST_TERMINATED, "b").is_empty());
    assert_eq!(summary(&h.sent()), [sent_to(CALLEE_B, "ACK")]);
    assert_eq!(h.gateway.calls(), 1);
    let call_id_a = a.headers.call_id().unwrap().to_owned();
    assert_eq!(
        h.gateway.call_id_of_leg(SessionId(7), LegId(1)),
        Some(call_id_a)
    );
}

#[test]
fn a_2xx_from_a_losing_branch_is_acked_and_hung_up() {
    let mut h = Harness::new();
    let (_, invites) = forked_to(&mut h, &BOTH_CONTACTS);
    let (a, b) = (&invites[0].1, &invites[1].1);
    respond_from(&mut h, CALLEE, a, StatusCode::OK, "a");
    h.sent();
    // B answered too before our CANCEL reached it.
    assert!(respond_from(&mut h, CALLEE_B, b, StatusCode::OK, "b").is_empty());
    assert_eq!(
        summary(&h.sent()),
        [sent_to(CALLEE_B, "ACK"), sent_to(CALLEE_B, "BYE")]
    );
    // Its retransmission is ACKed again, without a second BYE.
    assert!(respond_from(&mut h, CALLEE_B, b, StatusCode::OK, "b").is_empty());
    assert_eq!(summary(&h.sent()), [sent_to(CALLEE_B, "ACK")]);
    assert_eq!(h.gateway.calls(), 1, "the call with A runs on");
}

#[test]
fn when_every_branch_fails_the_caller_gets_the_best_response() {
    let mut h = Harness::new();
    let (_, invites) = forked_to(&mut h, &BOTH_CONTACTS);
    let (a, b) = (&invites[0].1, &invites[1].1);
    let server_error = StatusCode::new(500).unwrap();
    assert!(respond_from(&mut h, CALLEE, a, server_error, "a").is_empty());
    assert_eq!(
        summary(&h.sent()),
        [sent_to(CALLEE, "ACK")],
        "one branch failing tells the caller nothing yet"
    );
    let actions = respond_from(&mut h, CALLEE_B, b, StatusCode::BUSY_HERE, "b");
    assert_eq!(removals(&actions), [Some(7)]);
    let sent = summary(&h.sent());
    assert!(
        sent.contains(&sent_to(CALLER, "486")),
        "486 (4xx) beats 500: {sent:?}"
    );
    assert_eq!(h.gateway.calls(), 0);
}

#[test]
fn a_caller_cancel_cancels_every_branch() {
    let mut h = Harness::new();
    let (server, invites) = forked_to(&mut h, &BOTH_CONTACTS);
    let (a, b) = (&invites[0].1, &invites[1].1);
    ring_both_branches(&mut h, a, b);
    assert!(
        h.gateway
            .handle_cancel(h.now, &mut h.layer, server)
            .is_empty()
    );
    assert_eq!(
        sorted_summary(&mut h),
        [
            sent_to(CALLER, "487"),
            sent_to(CALLEE, "CANCEL"),
            sent_to(CALLEE_B, "CANCEL"),
        ]
    );
    assert!(respond_from(&mut h, CALLEE, a, StatusCode::REQUEST_TERMINATED, "a").is_empty());
    let actions = respond_from(&mut h, CALLEE_B, b, StatusCode::REQUEST_TERMINATED, "b");
    assert_eq!(removals(&actions), [Some(7)]);
    assert_eq!(h.gateway.calls(), 0);
}

#[test]
fn a_branch_still_ringing_when_the_call_ends_is_hung_up_if_it_answers_later() {
    let mut h = Harness::new();
    let (server, invites) = forked_to(&mut h, &["sip:alice@127.0.0.1:5080"]);
    let a = &invites[0].1;
    respond_from(&mut h, CALLEE, a, StatusCode::RINGING, "a");
    h.gateway.hangup_all(h.now, &mut h.layer);
    assert_eq!(h.gateway.calls(), 0);
    h.sent();
    let _ = server;
    // The callee answers anyway: the orphaned branch hangs it up.
    assert!(respond_from(&mut h, CALLEE, a, StatusCode::OK, "a").is_empty());
    assert_eq!(
        summary(&h.sent()),
        [sent_to(CALLEE, "ACK"), sent_to(CALLEE, "BYE")]
    );
}

#[test]
fn a_fork_waits_for_every_lookup_and_calls_the_contacts_that_resolved() {
    let mut h = Harness::new();
    let (_, actions) = invite_fork(
        &mut h,
        true,
        &["sip:alice@phone.example", "sip:alice@127.0.0.1:5081"],
    );
    assert!(
        actions.is_empty(),
        "no media before every target is located"
    );
    let (lookup, _) = h.gateway.poll_locate().expect("a lookup");
    assert_eq!(lookup.branch, 0);
    let actions = h.gateway.handle_located(
        h.now,
        &mut h.layer,
        lookup,
        Err(LocateError::NotFound("phone.example".into())),
    );
    let (call, _) = spec_call(&actions);
    assert_eq!(call, lookup.call);
    assert_eq!(h.gateway.unresolved(), 1);
    assert!(
        h.sent().is_empty(),
        "the caller waits for the other contact"
    );
    let invites = fork_created(&mut h, call);
    assert_eq!(
        invites.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        [addr(CALLEE_B)]
    );
    // It refuses: the caller gets its refusal, not the lookup's 503 (4xx before 5xx).
    let actions = respond_from(&mut h, CALLEE_B, &invites[0].1, StatusCode::BUSY_HERE, "b");
    assert_eq!(removals(&actions), [Some(7)]);
    assert!(summary(&h.sent()).contains(&sent_to(CALLER, "486")));
    assert_eq!(h.gateway.calls(), 0);
}

#[test]
fn a_6xx_from_one_branch_cancels_the_others_and_reaches_the_caller() {
    let mut h = Harness::new();
    let (_, invites) = forked_to(&mut h, &BOTH_CONTACTS);
    let (a, b) = (&invites[0].1, &invites[1].1);
    respond_from(&mut h, CALLEE_B, b, StatusCode::RINGING, "b");
    h.sent();
    let decline = StatusCode::new(603).unwrap();
    assert!(respond_from(&mut h, CALLEE, a, decline, "a").is_empty());
    assert_eq!(
        sorted_summary(&mut h),
        [sent_to(CALLEE, "ACK"), sent_to(CALLEE_B, "CANCEL")],
        "the ringing branch stops at once"
    );
    let actions = respond_from(&mut h, CALLEE_B, b, StatusCode::REQUEST_TERMINATED, "b");
    assert_eq!(removals(&actions), [Some(7)]);
    assert!(summary(&h.sent()).contains(&sent_to(CALLER, "603")));
    assert_eq!(h.gateway.calls(), 0);
}
