//! The printer: start line, one line per header value, a computed Content-Length, the body.
//!
//! Output is canonical (RFC 3261 §7.3.1 makes these forms equivalent): full header names,
//! `Name: value` with one space, one value per line, Content-Length last and always equal to
//! the body's length. Anything the caller put in a reason phrase that would break the framing
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
    let content_length = HeaderName::ContentLength.as_str();
    for (name, value) in headers.iter() {
        if name == content_length {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    let _ = write!(out, "{}", body.len());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}
