//! Entry points shared by the `sip_message` fuzz target and the corpus replay test.
//!
//! Compiled in every build (they are small and allocate only what parsing does) so the
//! stable-Rust corpus replay exercises exactly what the fuzzer runs.

use super::{Frame, Message, Uri, frame};

/// Parses `data` as a datagram; if it parses, prints it, re-parses the print and asserts both
/// parses are equal and that printing is stable; also reads every typed header view, checks
/// that each view that parses re-parses from its own print, and runs the stream framer.
///
/// # Panics
/// When one of those properties fails: that is the bug the fuzzer looks for.
pub fn sip_message(data: &[u8]) {
    if let Ok(Frame::Message { len }) = frame(data) {
        assert!(len <= data.len());
        let _ = Message::parse(&data[..len]);
    }
    let Ok(message) = Message::parse(data) else {
        return;
    };
    let printed = message.to_bytes();
    let reparsed = match Message::parse(&printed) {
        Ok(m) => m,
        Err(e) => panic!(
            "printed message does not parse: {e}\n{}",
            String::from_utf8_lossy(&printed)
        ),
    };
    assert_eq!(message, reparsed, "round trip changed the message");
    assert_eq!(printed, reparsed.to_bytes(), "printing is not canonical");
    assert_eq!(frame(&printed), Ok(Frame::Message { len: printed.len() }));
    let _ = message.validate();
    typed_views(&message);
}

/// Every typed view that parses must print to something that parses back to it.
fn typed_views(message: &Message) {
    fn check<T: PartialEq + std::fmt::Debug + std::fmt::Display>(
        v: T,
        parse: impl Fn(&str) -> Result<T, crate::error::ValueError>,
    ) {
        let printed = v.to_string();
        match parse(&printed) {
            Ok(again) => assert_eq!(v, again, "{printed}"),
            Err(e) => panic!("{printed:?} does not re-parse: {e}"),
        }
    }
    let h = message.headers();
    for via in h.via().flatten() {
        check(via, super::Via::parse);
    }
    for c in h.contacts().flatten() {
        check(c, super::Contact::parse);
    }
    for r in h.routes().chain(h.record_routes()).flatten() {
        check(r, super::NameAddr::parse);
    }
    if let Ok(a) = h.from() {
        if let Ok(u) = Uri::parse(&a.uri.to_string()) {
            assert!(u.equivalent(&a.uri), "{u}");
        }
        check(a, super::NameAddr::parse);
    }
    if let Ok(a) = h.to() {
        check(a, super::NameAddr::parse);
    }
    if let Ok(c) = h.cseq() {
        check(c, super::CSeq::parse);
    }
    if let Ok(Some(c)) = h.content_type() {
        check(c, super::ContentType::parse);
    }
    if let Ok(Some(r)) = h.retry_after() {
        check(r, super::RetryAfter::parse);
    }
    if let Ok(Some(s)) = h.session_expires() {
        check(s, super::SessionExpires::parse);
    }
    if let Message::Request(r) = message {
        assert!(r.uri.equivalent(&r.uri));
    }
}
