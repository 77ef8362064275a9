//! The printer: start line, one line per header value, a computed Content-Length, the body.
//!
//! Output is canonical (RFC 3261 §7.3.1 makes these forms equivalent): full header names,
//! `Name: value` with one space; consecutive elements of a token list (Allow, Supported,
//! Require, Accept…) joined on one line with `, `, and one line per address-bearing value
//! (Via, Route, Record-Route, Contact, Path…), as most stacks print them; Content-Length last
//! and always equal to the body's length. Anything the caller put in a reason phrase that would break the framing
//! (CR, LF) is written as a space.

use std::io::Write as _;

use super::{HeaderName, Headers, Request, Response};

impl Request {
    /// Appends the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(estimate(&self.headers, self.body.len()));
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{}", self.uri);
        out.extend_from_slice(b" SIP/2.0\r\n");
        write_rest(&self.headers, &self.body, out);
    }
}

impl Response {
    /// Appends the wire form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(estimate(&self.headers, self.body.len()) + self.reason.len());
        out.extend_from_slice(b"SIP/2.0 ");
        let _ = write!(out, "{} ", self.status.as_u16());
        out.extend(
            self.reason
                .bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
        write_rest(&self.headers, &self.body, out);
    }
}

/// A guess of the printed size, to reserve once.
fn estimate(headers: &Headers, body: usize) -> usize {
    headers.len() * 40 + body + 96
}

fn write_rest(headers: &Headers, body: &[u8], out: &mut Vec<u8>) {
    // The list header whose line is still open, to which the next element may be added.
    let mut open: Option<HeaderName> = None;
    for (known, name, value) in headers.entries() {
        if known == Some(HeaderName::ContentLength) {
            continue;
        }
        let joins = known.is_some_and(joins_on_one_line);
        if joins && open == known && !value.is_empty() {
            out.extend_from_slice(b", ");
            out.extend_from_slice(value.as_bytes());
            continue;
        }
        if open.is_some() {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        // An empty element cannot be joined (it would vanish on re-parsing): close its line.
        open = if joins && !value.is_empty() {
            known
        } else {
            None
        };
        if open.is_none() {
            out.extend_from_slice(b"\r\n");
        }
    }
    if open.is_some() {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    let _ = write!(out, "{}", body.len());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// List headers whose elements share one line when printed: token lists. Address-bearing
/// lists get a line per value (easier to read, and what peers expect for Via and Route).
fn joins_on_one_line(name: HeaderName) -> bool {
    name.is_list()
        && !matches!(
            name,
            HeaderName::Via
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Contact
                | HeaderName::Path
                | HeaderName::ServiceRoute
                | HeaderName::PAssertedIdentity
                | HeaderName::PPreferredIdentity
                | HeaderName::AlertInfo
                | HeaderName::CallInfo
                | HeaderName::ErrorInfo
                | HeaderName::Warning
                | HeaderName::Reason
                | HeaderName::AcceptContact
                | HeaderName::RejectContact
        )
}

#[cfg(test)]
mod tests {
    use crate::message::{HeaderName, Message, Response, StatusCode};

    #[test]
    fn token_lists_share_a_line_and_addresses_do_not() {
        let mut r = Response::new(StatusCode::OK);
        r.headers
            .push(HeaderName::Via, "SIP/2.0/UDP a;branch=z9hG4bK1");
        r.headers
            .push(HeaderName::Via, "SIP/2.0/UDP b;branch=z9hG4bK2");
        r.headers.push(HeaderName::Allow, "INVITE, ACK");
        r.headers.push(HeaderName::Supported, "");
        r.headers.push(HeaderName::Supported, "timer");
        r.headers.push(HeaderName::Allow, "BYE");
        r.reason = "O\r\nK".into();
        let mut out = Vec::new();
        r.write_to(&mut out);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "SIP/2.0 200 O  K\r\n\
Via: SIP/2.0/UDP a;branch=z9hG4bK1\r\n\
Via: SIP/2.0/UDP b;branch=z9hG4bK2\r\n\
Allow: INVITE, ACK\r\n\
Supported: \r\n\
Supported: timer\r\n\
Allow: BYE\r\n\
Content-Length: 0\r\n\r\n"
        );
        r.reason = "O  K".into();
        assert_eq!(Message::parse(&out), Ok(Message::Response(r)));
    }
}
