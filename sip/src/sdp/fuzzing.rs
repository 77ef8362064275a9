//! Entry points for the `sdp_parse` fuzz target and its corpus replay on stable Rust.
//!
//! They check the invariants the parser and the negotiator promise, panicking when one
//! breaks: that is how the fuzzer sees a bug. Not for production use.

use std::net::{IpAddr, Ipv4Addr};

use super::attributes::TelephoneEvents;
use super::model::{Host, Origin, SessionDescription};
use super::negotiate::{
    LocalPolicy, LocalSession, MediaChange, StreamOutcome, answer, handle_answer,
};
use super::payload::Codec;

/// Parses `data`; whatever parses must print and re-parse to the same value, print the same
/// again, and go through [`answer`] against a fixed policy, whose answer must in turn pass
/// [`handle_answer`] as the answer to `data` and agree with it stream by stream; then the
/// same through a [`LocalSession`], followed by a re-offer and its answer.
///
/// Returns whether `data` parsed.
///
/// # Panics
///
/// When one of those invariants breaks.
pub fn sdp_parse(data: &[u8]) -> bool {
    let Ok(offer) = SessionDescription::parse(data) else {
        return false;
    };
    assert_reprints(&offer);
    let policy = fuzz_policy();
    let answered = answer(&offer, &policy, fuzz_origin());
    assert_reprints(&answered.sdp);
    assert_eq!(answered.sdp.media.len(), offer.media.len());
    let seen_by_offerer = match handle_answer(&offer, &answered.sdp) {
        Ok(streams) => streams,
        Err(e) => panic!("our own answer fails negotiation: {e}"),
    };
    for (ours, theirs) in answered.streams.iter().zip(&seen_by_offerer) {
        match (ours, theirs) {
            (StreamOutcome::Accepted(a), StreamOutcome::Accepted(o)) => {
                assert_eq!(a.format.payload_type, o.receive_payload_type);
                assert!(a.format.codec.same_encoding(&o.format.codec));
                assert!(!o.sends() || a.receives(), "offerer sends, answerer deaf");
                assert!(!a.sends() || o.receives(), "answerer sends, offerer deaf");
            }
            (StreamOutcome::Rejected(_), StreamOutcome::Rejected(_)) => {}
            _ => panic!("answerer and offerer disagree on stream {}", ours.index()),
        }
    }
    assert_session_flow(&offer, &policy);
    true
}

/// Through a [`LocalSession`]: answering the same offer twice changes nothing; a re-offer
/// built on what the offer left (payload type bindings, `m=` lines) reprints, numbers each
/// format of a live stream once, keeps every `m=` line, and negotiates with a peer of the
/// same policy.
fn assert_session_flow(offer: &SessionDescription, policy: &LocalPolicy) {
    let mut session = LocalSession::new("tandem", 1, policy.address);
    let (first, negotiated) = session.answer(offer, policy);
    let (again, renegotiated) = session.answer(offer, policy);
    assert_eq!(again, first, "answering the same offer twice differs");
    if !negotiated.rejects_everything() {
        assert_eq!(renegotiated.change, MediaChange::Unchanged);
    }
    let reoffer = session.create_offer(policy);
    assert_reprints(&reoffer);
    if !negotiated.rejects_everything() {
        assert!(
            reoffer.media.len() >= offer.media.len(),
            "a re-offer lost m= lines"
        );
    }
    // Live streams only: a disabled one echoes whatever formats it had, duplicates included.
    for media in reoffer.media.iter().filter(|m| m.port != 0) {
        let mut numbers: Vec<_> = media.payload_types().collect();
        numbers.sort();
        let count = numbers.len();
        numbers.dedup();
        assert_eq!(numbers.len(), count, "a payload type is offered twice");
    }
    let peer = answer(&reoffer, policy, fuzz_origin());
    if let Err(e) = session.handle_answer(&peer.sdp) {
        panic!("a peer's answer to our re-offer fails negotiation: {e}");
    }
}

fn assert_reprints(sdp: &SessionDescription) {
    let printed = sdp.to_string();
    match SessionDescription::parse(printed.as_bytes()) {
        Ok(again) => {
            assert_eq!(&again, sdp, "print then parse changed the value");
            assert_eq!(again.to_string(), printed, "printing is not canonical");
        }
        Err(e) => panic!("printed SDP does not parse: {e}\n{printed}"),
    }
}

/// The policy the fuzz target answers with: Opus, G.722, G.711, DTMF and flash, two ports.
pub fn fuzz_policy() -> LocalPolicy {
    let mut policy = LocalPolicy::new(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        vec![
            Codec::opus().with_fmtp("useinbandfec=1"),
            Codec::g722(),
            Codec::pcmu(),
            Codec::pcma(),
        ],
    );
    policy.telephone_events = Some(TelephoneEvents::DTMF_AND_FLASH);
    policy.ptime_ms = Some(20);
    policy.rtp_ports = vec![20000, 20002];
    policy.rtcp_mux = true;
    policy
}

fn fuzz_origin() -> Origin {
    Origin {
        username: "tandem".to_owned(),
        session_id: 1,
        session_version: 1,
        address: Host::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
    }
}
