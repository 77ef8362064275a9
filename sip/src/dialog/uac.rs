//! Requests a UAC sends outside any dialog (RFC 3261 §8.1.1): the initial INVITE (§13.2.1)
//! and OPTIONS (§11.1).
//!
//! The builders fill every header §8.1.1 requires except Via, which the caller adds with its
//! transport address and a fresh branch (the caller's randomness) before handing the request
//! to a client transaction. Call-ID and From tag are the caller's randomness too, passed in
//! [`UacParams`].

use super::DialogError;
use super::dialog::MAX_FORWARDS;
use super::uas::{ALLOW, SUPPORTED};
use crate::message::header::check_call_id;
use crate::message::{CSeq, ContentType, HeaderName, Method, NameAddr, Request, Uri};

/// What a UAC needs to start a request outside a dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UacParams {
    /// The Request-URI (usually the To URI, or a next hop's URI).
    pub request_uri: Uri,
    /// From, without tag: the tag is [`UacParams::from_tag`].
    pub from: NameAddr,
    /// The From tag (caller's randomness, RFC 3261 §19.3: at least 32 random bits).
    pub from_tag: String,
    /// To, without tag.
    pub to: NameAddr,
    /// The Call-ID (caller's randomness, RFC 3261 §8.1.1.4).
    pub call_id: String,
    /// Our Contact (where the peer sends in-dialog requests).
    pub contact: NameAddr,
    /// The CSeq number: 1 for a new request, the previous one plus one for a retry with the
    /// same Call-ID (after a 401/407/422, RFC 3261 §8.1.3.5).
    pub cseq: u32,
}

impl UacParams {
    /// Parameters with CSeq 1.
    pub fn new(
        request_uri: impl Into<Uri>,
        from: NameAddr,
        from_tag: impl Into<String>,
        to: NameAddr,
        call_id: impl Into<String>,
        contact: NameAddr,
    ) -> Self {
        Self {
            request_uri: request_uri.into(),
            from,
            from_tag: from_tag.into(),
            to,
            call_id: call_id.into(),
            contact,
            cseq: 1,
        }
    }

    /// A request of `method` with Request-URI, From (tagged), To, Call-ID, CSeq and
    /// Max-Forwards 70 (RFC 3261 §8.1.1).
    ///
    /// # Errors
    /// [`DialogError::InvalidToken`] when the tag or the Call-ID is not valid.
    pub fn request(&self, method: Method) -> Result<Request, DialogError> {
        check_call_id(&self.call_id).map_err(|_| DialogError::InvalidToken)?;
        let from = self
            .from
            .clone()
            .with_tag(&self.from_tag)
            .map_err(|_| DialogError::InvalidToken)?;
        let mut to = self.to.clone();
        to.params.remove("tag");
        Ok(Request::new(method.clone(), self.request_uri.clone())
            .with_header(HeaderName::MaxForwards, MAX_FORWARDS)
            .with_header(HeaderName::From, from)
            .with_header(HeaderName::To, to)
            .with_header(HeaderName::CallId, &self.call_id)
            .with_header(HeaderName::CSeq, CSeq::new(self.cseq, method)))
    }

    /// The initial INVITE (RFC 3261 §13.2.1): [`UacParams::request`] plus Contact, Allow,
    /// Supported and, when `sdp` is not empty, the offer with `Content-Type: application/sdp`.
    ///
    /// # Errors
    /// As [`UacParams::request`].
    pub fn invite(&self, sdp: &[u8]) -> Result<Request, DialogError> {
        let mut r = self
            .request(Method::Invite)?
            .with_header(HeaderName::Contact, &self.contact)
            .with_header(HeaderName::Allow, ALLOW)
            .with_header(HeaderName::Supported, SUPPORTED);
        if !sdp.is_empty() {
            r = r.with_body(&ContentType::sdp(), sdp);
        }
        Ok(r)
    }

    /// An OPTIONS (RFC 3261 §11.1) with our Contact, Allow, Accept and Supported.
    ///
    /// # Errors
    /// As [`UacParams::request`].
    pub fn options(&self) -> Result<Request, DialogError> {
        Ok(self
            .request(Method::Options)?
            .with_header(HeaderName::Contact, &self.contact)
            .with_header(HeaderName::Allow, ALLOW)
            .with_header(HeaderName::Accept, super::uas::ACCEPT)
            .with_header(HeaderName::Supported, SUPPORTED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, Uri};

    fn params() -> UacParams {
        UacParams::new(
            Uri::parse("sip:bob@biloxi.example.com").unwrap(),
            NameAddr::parse("\"Tandem\" <sip:tandem@192.0.2.10>").unwrap(),
            "f00d",
            NameAddr::parse("<sip:bob@biloxi.example.com>").unwrap(),
            "call-1@192.0.2.10",
            NameAddr::parse("<sip:tandem@192.0.2.10:5060>").unwrap(),
        )
    }

    #[test]
    fn invite_carries_every_mandatory_header_and_the_offer() {
        let mut r = params().invite(b"v=0\r\n").unwrap();
        r.headers
            .push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-1");
        r.validate().unwrap();
        let wire = Message::from(r).to_bytes();
        let text = String::from_utf8(wire.clone()).unwrap();
        assert!(text.starts_with("INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"));
        let r = Request::parse(&wire).unwrap();
        assert_eq!(r.headers.from().unwrap().tag(), Some("f00d"));
        assert_eq!(r.headers.to().unwrap().tag(), None);
        assert_eq!(r.headers.cseq().unwrap(), CSeq::new(1, Method::Invite));
        assert_eq!(r.headers.max_forwards(), Ok(Some(70)));
        assert!(r.headers.has_option_tag(HeaderName::Supported, "timer"));
        assert!(r.headers.allow().any(|m| m == Ok(Method::Update)));
        assert!(
            r.headers
                .content_type()
                .unwrap()
                .unwrap()
                .is("application", "sdp")
        );
        assert_eq!(r.body, b"v=0\r\n");
        assert_eq!(
            r.headers.first(HeaderName::Contact),
            Some("<sip:tandem@192.0.2.10:5060>")
        );
    }

    #[test]
    fn options_and_bad_tokens() {
        let r = params().options().unwrap();
        assert_eq!(r.method, Method::Options);
        assert!(r.headers.contains("Accept"));
        let mut p = params();
        p.from_tag = "bad tag".into();
        assert_eq!(p.invite(b""), Err(DialogError::InvalidToken));
        let mut p = params();
        p.call_id = "a b".into();
        assert_eq!(p.options(), Err(DialogError::InvalidToken));
    }
}
