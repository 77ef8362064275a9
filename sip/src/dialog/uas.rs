//! Responses a UAS core builds to requests outside a dialog (RFC 3261 §8.2.6, §13.3.1), and
//! Tandem's capability header values (Allow, Accept, Supported).

use super::DialogError;
use crate::message::{HeaderName, NameAddr, Request, Response, StatusCode};

/// The methods Tandem accepts, as an Allow value (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REGISTER";

/// The body types Tandem accepts, as an Accept value (RFC 3261 §20.1): SDP offers and answers,
/// and INFO DTMF.
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, application/dtmf";

/// The option tags Tandem supports, as a Supported value (RFC 3261 §20.37): session timers
/// (RFC 4028).
pub const SUPPORTED: &str = "timer";

/// A response to a dialog-creating INVITE (RFC 3261 §13.3.1): [`Response::from_request`],
/// our `local_tag` on the To (any status but 100), and for 101–299 our Contact, Allow and
/// Supported. Add the SDP answer with [`Response::with_body`], then create the dialog with
/// [`Dialog::new_uas`](super::Dialog::new_uas) (for a 1xx with tag or a 2xx).
///
/// # Errors
/// [`DialogError::InvalidToken`] when `local_tag` is not a token; [`DialogError::Header`]
/// when the INVITE's To is malformed.
pub fn invite_response(
    invite: &Request,
    status: StatusCode,
    local_tag: &str,
    contact: &NameAddr,
) -> Result<Response, DialogError> {
    let mut r = Response::from_request(invite, status);
    let code = status.as_u16();
    if code != 100 {
        set_tag(&mut r, local_tag)?;
    }
    if (101..300).contains(&code) {
        r.headers.push(HeaderName::Contact, contact);
        r.headers.push(HeaderName::Allow, ALLOW);
        r.headers.push(HeaderName::Supported, SUPPORTED);
    }
    Ok(r)
}

/// A 200 to an out-of-dialog OPTIONS (RFC 3261 §11.2): Allow, Accept and Supported, our tag.
///
/// # Errors
/// As [`invite_response`].
pub fn options_response(options: &Request, local_tag: &str) -> Result<Response, DialogError> {
    let mut r = Response::from_request(options, StatusCode::OK);
    set_tag(&mut r, local_tag)?;
    r.headers.push(HeaderName::Allow, ALLOW);
    r.headers.push(HeaderName::Accept, ACCEPT);
    r.headers.push(HeaderName::Supported, SUPPORTED);
    Ok(r)
}

fn set_tag(r: &mut Response, tag: &str) -> Result<(), DialogError> {
    r.headers.to()?;
    r.set_to_tag(tag).map_err(|_| DialogError::InvalidToken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ContentType, Message};

    const INVITE: &[u8] = b"INVITE sip:conf-1@tandem.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-a\r\n\
        Record-Route: <sip:p1.example;lr>\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:alice@example.com>;tag=a1\r\n\
        To: <sip:conf-1@tandem.example>\r\n\
        Call-ID: c1@192.0.2.1\r\n\
        CSeq: 1 INVITE\r\n\
        Contact: <sip:alice@192.0.2.1>\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 5\r\n\r\nv=0\r\n";

    #[test]
    fn ok_to_invite_has_tag_contact_capabilities_and_answer() {
        let invite = Request::parse(INVITE).unwrap();
        let contact = NameAddr::parse("<sip:tandem@192.0.2.10>").unwrap();
        let ok = invite_response(&invite, StatusCode::OK, "t1", &contact)
            .unwrap()
            .with_body(&ContentType::sdp(), "v=0\r\n");
        ok.validate().unwrap();
        let ok = Response::parse(&Message::from(ok).to_bytes()).unwrap();
        assert_eq!(ok.headers.to().unwrap().tag(), Some("t1"));
        assert_eq!(
            ok.headers.first(HeaderName::RecordRoute),
            Some("<sip:p1.example;lr>")
        );
        assert_eq!(
            ok.headers.first(HeaderName::Contact),
            Some("<sip:tandem@192.0.2.10>")
        );
        assert_eq!(ok.headers.count("Allow"), 8);
        assert!(ok.headers.has_option_tag(HeaderName::Supported, "timer"));
        assert_eq!(ok.body, b"v=0\r\n");
    }

    #[test]
    fn trying_has_no_tag_and_errors_keep_only_the_tag() {
        let invite = Request::parse(INVITE).unwrap();
        let contact = NameAddr::parse("<sip:tandem@192.0.2.10>").unwrap();
        let trying = invite_response(&invite, StatusCode::TRYING, "t1", &contact).unwrap();
        assert_eq!(trying.headers.to().unwrap().tag(), None);
        let busy = invite_response(&invite, StatusCode::BUSY_HERE, "t1", &contact).unwrap();
        assert_eq!(busy.headers.to().unwrap().tag(), Some("t1"));
        assert!(!busy.headers.contains("Contact"));
        assert_eq!(
            invite_response(&invite, StatusCode::OK, "a b", &contact),
            Err(DialogError::InvalidToken)
        );
        let opts = options_response(&invite, "t2").unwrap();
        assert!(opts.headers.contains("Accept"));
    }
}
