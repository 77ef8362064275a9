//! Late offers: our offer in the 200 to the caller, its answer in the ACK.

use super::*;

/// The caller's ACK to `ok` carrying `sdp` (empty for none).
fn caller_ack(ok: &Response, sdp: &str) -> Vec<u8> {
    let content_type = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "ACK sip:opus-1@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-ack1\r\n\
         Max-Forwards: 70\r\nFrom: sipp <sip:sipp@{CALLER}>;tag=caller1\r\nTo: {}\r\n\
         Call-ID: in-1@127.0.0.1\r\nCSeq: 1 ACK\r\n{content_type}Content-Length: {}\r\n\r\n{sdp}",
        ok.headers.to().unwrap(),
        sdp.len()
    )
    .into_bytes()
}

/// A late-offer call, bridged up to our 200 with our offer; returns that 200.
fn late_offer_answered(h: &mut Harness) -> Response {
    let (_, actions) = invite_fork(h, false, &["sip:127.0.0.1:5080"]);
    let (call, spec) = spec_call(&actions);
    // Built on a guess: the caller takes our first codec (opus, as the callee's leg).
    let SessionSpec::Relay { a, .. } = spec else {
        panic!("{spec:?}");
    };
    assert_eq!(a.codec.format.codec, tandem_codecs::CodecId::Opus);
    assert_eq!(a.remote, None, "the caller's address comes with its answer");
    let invites = fork_created(h, call);
    let out = text_of(&invites[0].1.body);
    assert!(out.contains("opus/48000/2"), "the route's codecs: {out}");
    let actions = respond_from(h, CALLEE, &invites[0].1, StatusCode::OK, "a");
    assert_eq!(actions, [remote_set(7, 1, CALLEE_MEDIA)]);
    let sent = h.sent();
    let ok = sent
        .iter()
        .find(|t| t.destination == addr(CALLER))
        .map(response_of)
        .expect("a 200 to the caller");
    assert_eq!(ok.status, StatusCode::OK);
    ok
}

/// The ACK `bytes` reach the gateway; returns its actions.
fn ack_in(h: &mut Harness, bytes: &[u8]) -> Vec<MediaAction> {
    let events = h.receive(CALLER, bytes);
    let Some(Event::Ack { request, .. }) = events.into_iter().next() else {
        panic!("an ACK");
    };
    assert!(h.gateway.owns_request(&request));
    h.gateway
        .handle_in_dialog(h.now, &mut h.layer, None, &request)
}

#[test]
fn a_late_offer_gets_our_offer_in_the_200_and_its_answer_from_the_ack() {
    let mut h = Harness::new();
    let ok = late_offer_answered(&mut h);
    let offer = text_of(&ok.body);
    // [codecs] preferences, all transcodable to the callee's opus, with telephone-event.
    assert!(offer.contains("m=audio 36000 RTP/AVP"), "{offer}");
    for codec in [
        "opus/48000/2",
        "PCMU/8000",
        "PCMA/8000",
        "telephone-event/8000",
    ] {
        assert!(offer.contains(codec), "{codec} in {offer}");
    }
    // The caller answers PCMA (not our first codec): its leg is rebuilt on the same ports.
    let answer = "v=0\r\no=user1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                  m=audio 6100 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n";
    let actions = ack_in(&mut h, &caller_ack(&ok, answer));
    let [
        MediaAction::Replace {
            session: SessionId(7),
            spec: SessionSpec::Transcode { a, b },
            ..
        },
    ] = actions.as_slice()
    else {
        panic!("{actions:?}");
    };
    assert_eq!(a.codec.format, tandem_codecs::Format::PCMA);
    assert_eq!(a.remote, Some(addr("127.0.0.1:6100")));
    assert_eq!(
        b.remote,
        Some(addr(CALLEE_MEDIA)),
        "the callee's leg as it runs"
    );
    assert!(h.sent().is_empty(), "nothing on the wire");
    assert_eq!(h.gateway.poll_timeout(), None, "the 200 is not resent");
}

#[test]
fn a_late_offer_ack_without_an_answer_hangs_up_both_sides() {
    let mut h = Harness::new();
    let ok = late_offer_answered(&mut h);
    let actions = ack_in(&mut h, &caller_ack(&ok, ""));
    assert_eq!(removals(&actions), [Some(7)]);
    assert_eq!(
        sorted_summary(&mut h),
        [sent_to(CALLER, "BYE"), sent_to(CALLEE, "BYE")]
    );
    assert_eq!(h.gateway.calls(), 0);
}

#[test]
fn a_late_offer_answered_with_the_codec_the_session_guessed_only_learns_the_caller_s_address() {
    let mut h = Harness::new();
    let ok = late_offer_answered(&mut h);
    let answer = "v=0\r\no=user1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                  m=audio 6100 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n";
    let actions = ack_in(&mut h, &caller_ack(&ok, answer));
    assert_eq!(actions, [remote_set(7, 0, "127.0.0.1:6100")]);
    assert!(h.sent().is_empty());
    assert_eq!(h.gateway.calls(), 1);
}
