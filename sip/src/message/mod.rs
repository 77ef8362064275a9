//! SIP messages (RFC 3261 §7, §25): the model, the parser, the printer, URIs and header views.
//!
//! # Model
//!
//! A [`Message`] is a [`Request`] or a [`Response`]; both are plain owned structs with public
//! fields: start-line data, a [`Headers`] list and a `Vec<u8>` body. Typed views of header
//! values ([`Via`], [`NameAddr`], [`CSeq`], [`ContentType`]…) are parsed on demand from the
//! list (`request.headers.top_via()`, `.cseq()`, `.from()`…), so a message that is only relayed
//! or dropped never pays for them.
//!
//! # Parsing
//!
//! [`Message::parse`] takes one datagram or one framed stream message and returns the message
//! or a [`ParseError`] saying what is wrong and where. It checks the RFC 3261 §25 grammar of
//! the start line and of every header line (names are tokens, no control characters, UTF-8),
//! splits comma-separated list headers, unfolds folded lines and frames the body by
//! Content-Length (§18.3). It does not check the values of headers it does not need to frame
//! the message; [`Message::validate`] does that for the headers a transaction layer relies on
//! (RFC 3261 §8.1.1, §8.2.2). Parsing never panics, whatever the input.
//!
//! Stream transports first cut the byte stream into messages with [`frame`] (RFC 3261 §18.3,
//! RFC 5626 keep-alives).
//!
//! # Printing
//!
//! [`Message::write_to`] appends the wire form to a caller's buffer: start line, one line per
//! header value under its full name, a Content-Length that is always the body's length, the
//! empty line and the body. `parse(print(m)) == m` for every message `parse` returns, and the
//! printed form is canonical (compact forms expanded, whitespace normalized, one value per
//! line).
//!
//! # Real-time
//!
//! Signalling, not media: parsing allocates (a handful of allocations per message: the header
//! buffer and index, the Request-URI parts, the body), printing allocates only when the
//! caller's buffer must grow.
//!
//! # Example
//!
//! ```
//! use tandem_sip::message::{HeaderName, Message, StatusCode, Response};
//!
//! let bytes = b"OPTIONS sip:tandem.example SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n\
//!     Max-Forwards: 70\r\n\
//!     To: <sip:tandem.example>\r\n\
//!     From: <sip:alice@example.com>;tag=a1\r\n\
//!     Call-ID: 42@192.0.2.1\r\n\
//!     CSeq: 1 OPTIONS\r\n\
//!     Content-Length: 0\r\n\r\n";
//! let Message::Request(request) = Message::parse(bytes)? else { unreachable!() };
//! request.validate()?;
//! assert_eq!(request.headers.top_via()?.branch(), Some("z9hG4bK-1"));
//!
//! let mut response = Response::from_request(&request, StatusCode::OK);
//! response.set_to_tag("b2")?;
//! response.headers.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, OPTIONS");
//! let mut out = Vec::new();
//! response.write_to(&mut out);
//! assert!(out.starts_with(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod framing;
mod grammar;
pub mod header;
mod headers;
mod method;
mod params;
mod parse;
mod print;
mod status;
mod uri;

pub mod fuzzing;

use std::fmt;

pub use crate::error::{HeaderError, ParseError, ParseErrorKind, ValueError};
pub use framing::{BODY_MAX, Frame, HEADERS_MAX, frame};
pub use header::{
    CSeq, Contact, ContentType, MAGIC_COOKIE, NameAddr, Refresher, RetryAfter, SessionExpires,
    Transport, Via,
};
pub use headers::{HeaderName, Headers};
pub use method::Method;
pub use params::{Params, ParamsIter};
pub use status::StatusCode;
pub use uri::{Host, SipUri, TelUri, Uri};

/// A SIP request (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers (Content-Length excluded: see [`Headers`]).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP response (RFC 3261 §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The Status-Code.
    pub status: StatusCode,
    /// The Reason-Phrase, as received (may be empty).
    pub reason: String,
    /// The headers (Content-Length excluded: see [`Headers`]).
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

/// A SIP message: a request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Parses one message from a datagram or from a stream frame cut by [`frame`].
    ///
    /// Leading CRLFs are skipped (RFC 3261 §7.5). Content-Length frames the body: bytes past
    /// it are discarded and a shorter body is an error (§18.3); without Content-Length the
    /// body is the rest of the input (datagram transports only; [`frame`] insists on it for
    /// streams). Lines may also end with a bare LF (a tolerance; RFC 3261 requires CRLF).
    ///
    /// # Errors
    /// A [`ParseError`] with the kind, byte offset and line of the first problem found.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        parse::parse_message(bytes)
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(r) => &r.headers,
            Self::Response(r) => &r.headers,
        }
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Self::Request(r) => &mut r.headers,
            Self::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        match self {
            Self::Request(r) => &r.body,
            Self::Response(r) => &r.body,
        }
    }

    /// Appends the wire form to `out` (see the module docs for its shape).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Request(r) => r.write_to(out),
            Self::Response(r) => r.write_to(out),
        }
    }

    /// The wire form in a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.headers().len() * 48 + self.body().len() + 64);
        self.write_to(&mut out);
        out
    }

    /// Checks the headers a transaction and dialog layer rely on (RFC 3261 §8.1.1,
    /// §8.2.2): exactly one To, From, Call-ID and CSeq, at least one Via, all well-formed;
    /// the CSeq method equal to a request's method; and every Via, Contact, Route,
    /// Record-Route, Max-Forwards, Expires, Min-Expires, Content-Type, Retry-After,
    /// Session-Expires, Min-SE and Date present well-formed.
    ///
    /// # Errors
    /// The first [`HeaderError`] found; a UAS answers a request that fails with 400 when it
    /// can build a response at all (its Via, From, To, Call-ID and CSeq are readable).
    pub fn validate(&self) -> Result<(), HeaderError> {
        match self {
            Self::Request(r) => r.validate(),
            Self::Response(r) => r.validate(),
        }
    }
}

/// Checks every header both requests and responses must carry well-formed.
fn validate_headers(h: &Headers) -> Result<CSeq, HeaderError> {
    for name in [
        HeaderName::To,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::MaxForwards,
        HeaderName::ContentType,
        HeaderName::Expires,
    ] {
        if h.values(name).nth(1).is_some() {
            return Err(HeaderError::Repeated(name));
        }
    }
    h.to()?;
    h.from()?;
    h.call_id()?;
    let cseq = h.cseq()?;
    h.top_via()?;
    for via in h.via() {
        via?;
    }
    for c in h.contacts() {
        c?;
    }
    for r in h.routes().chain(h.record_routes()) {
        r?;
    }
    h.max_forwards()?;
    h.expires()?;
    h.min_expires()?;
    h.content_type()?;
    h.retry_after()?;
    h.session_expires()?;
    h.min_se()?;
    h.check_date()?;
    Ok(cseq)
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: impl Into<Uri>) -> Self {
        Self {
            method,
            uri: uri.into(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// Parses a message that must be a request.
    ///
    /// # Errors
    /// As [`Message::parse`]; a response gives [`ParseErrorKind::InvalidMethod`] at offset 0.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        match Message::parse(bytes)? {
            Message::Request(r) => Ok(r),
            Message::Response(_) => Err(ParseError {
                kind: ParseErrorKind::InvalidMethod,
                offset: 0,
                line: 1,
            }),
        }
    }

    /// Appends a known header (builder form of [`Headers::push`]).
    pub fn with_header(mut self, name: HeaderName, value: impl fmt::Display) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets the body and its Content-Type (replacing any).
    pub fn with_body(mut self, content_type: &ContentType, body: impl Into<Vec<u8>>) -> Self {
        self.headers.set(HeaderName::ContentType, content_type);
        self.body = body.into();
        self
    }

    /// See [`Message::validate`].
    ///
    /// # Errors
    /// As [`Message::validate`].
    pub fn validate(&self) -> Result<(), HeaderError> {
        let cseq = validate_headers(&self.headers)?;
        if cseq.method != self.method {
            return Err(HeaderError::Invalid {
                header: HeaderName::CSeq,
                error: ValueError::new(ParseErrorKind::InvalidMethod, 0),
            });
        }
        Ok(())
    }
}

impl Response {
    /// A response with the status's canonical reason phrase, no headers and no body.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            reason: status.canonical_reason().to_owned(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// A response to `request` as a UAS builds it (RFC 3261 §8.2.6): the Via values (all of
    /// them, in order), From, To, Call-ID and CSeq copied; Timestamp copied into a 100
    /// (§8.2.6.1); Record-Route copied into 101–299 responses to requests that can establish a
    /// dialog (INVITE, SUBSCRIBE, REFER, NOTIFY: §12.1.1, RFC 6665). The To tag is the
    /// caller's to add ([`Response::set_to_tag`]), since it needs randomness.
    pub fn from_request(request: &Request, status: StatusCode) -> Self {
        let mut r = Self::new(status);
        let h = &mut r.headers;
        h.copy_from(&request.headers, HeaderName::Via);
        let code = status.as_u16();
        let dialog_creating = matches!(
            request.method,
            Method::Invite | Method::Subscribe | Method::Refer | Method::Notify
        );
        if dialog_creating && (101..300).contains(&code) {
            h.copy_from(&request.headers, HeaderName::RecordRoute);
        }
        for name in [
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            h.copy_from(&request.headers, name);
        }
        if code == 100 {
            h.copy_from(&request.headers, HeaderName::Timestamp);
        }
        r
    }

    /// Parses a message that must be a response.
    ///
    /// # Errors
    /// As [`Message::parse`]; a request gives [`ParseErrorKind::InvalidStatusCode`] at
    /// offset 0.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        match Message::parse(bytes)? {
            Message::Response(r) => Ok(r),
            Message::Request(_) => Err(ParseError {
                kind: ParseErrorKind::InvalidStatusCode,
                offset: 0,
                line: 1,
            }),
        }
    }

    /// Adds a `tag` to the To header unless it already has one (RFC 3261 §8.2.6.2).
    ///
    /// # Errors
    /// [`HeaderError::Missing`] or [`HeaderError::Invalid`] when To is absent or malformed,
    /// or `tag` is not a token.
    pub fn set_to_tag(&mut self, tag: &str) -> Result<(), HeaderError> {
        let mut to = self.headers.to()?;
        if to.tag().is_none() {
            to.set_tag(tag).map_err(|error| HeaderError::Invalid {
                header: HeaderName::To,
                error,
            })?;
            self.headers.set(HeaderName::To, &to);
        }
        Ok(())
    }

    /// Appends a known header (builder form of [`Headers::push`]).
    pub fn with_header(mut self, name: HeaderName, value: impl fmt::Display) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Sets the body and its Content-Type (replacing any).
    pub fn with_body(mut self, content_type: &ContentType, body: impl Into<Vec<u8>>) -> Self {
        self.headers.set(HeaderName::ContentType, content_type);
        self.body = body.into();
        self
    }

    /// See [`Message::validate`].
    ///
    /// # Errors
    /// As [`Message::validate`].
    pub fn validate(&self) -> Result<(), HeaderError> {
        validate_headers(&self.headers).map(drop)
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Self {
        Self::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Self {
        Self::Response(r)
    }
}

/// Prints the wire form; a body that is not UTF-8 is shown lossily.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// Prints the wire form; a body that is not UTF-8 is shown lossily.
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        self.write_to(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

/// Prints the wire form; a body that is not UTF-8 is shown lossily.
impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        self.write_to(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Request {
        let uri = SipUri::new(Host::Domain("biloxi.example.com".into())).with_user("bob");
        Request::new(Method::Invite, uri)
            .with_header(HeaderName::Via, "SIP/2.0/UDP a.example;branch=z9hG4bK1")
            .with_header(HeaderName::Via, "SIP/2.0/UDP b.example;branch=z9hG4bK2")
            .with_header(HeaderName::RecordRoute, "<sip:p.example;lr>")
            .with_header(HeaderName::MaxForwards, 70)
            .with_header(HeaderName::From, "<sip:alice@atlanta.example.com>;tag=1")
            .with_header(HeaderName::To, "<sip:bob@biloxi.example.com>")
            .with_header(HeaderName::CallId, "c@a")
            .with_header(HeaderName::CSeq, CSeq::new(1, Method::Invite))
            .with_header(HeaderName::Timestamp, "54")
            .with_body(&ContentType::sdp(), "v=0\r\n")
    }

    #[test]
    fn built_request_prints_and_parses_back() {
        let r = invite();
        r.validate().unwrap();
        let bytes = Message::from(r.clone()).to_bytes();
        assert!(
            bytes.ends_with(b"Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n")
        );
        assert_eq!(Request::parse(&bytes), Ok(r));
        assert!(Response::parse(&bytes).is_err());
    }

    #[test]
    fn response_from_request_copies_rfc3261_8_2_6_headers() {
        let req = invite();
        let mut ringing = Response::from_request(&req, StatusCode::RINGING);
        ringing.set_to_tag("t1").unwrap();
        ringing.set_to_tag("ignored: already tagged").unwrap();
        let names: Vec<_> = ringing.headers.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "Via",
                "Via",
                "Record-Route",
                "From",
                "To",
                "Call-ID",
                "CSeq"
            ]
        );
        assert_eq!(ringing.headers.to().unwrap().tag(), Some("t1"));
        assert_eq!(ringing.reason, "Ringing");
        ringing.validate().unwrap();

        let trying = Response::from_request(&req, StatusCode::TRYING);
        assert_eq!(trying.headers.get("Timestamp"), Some("54"));
        assert!(!trying.headers.contains("Record-Route"));
        let mut busy = Response::from_request(&req, StatusCode::BUSY_HERE);
        assert!(!busy.headers.contains("Record-Route"));
        assert!(busy.set_to_tag("not a token").is_err());
    }

    #[test]
    fn validate_reports_missing_repeated_and_mismatched_headers() {
        let mut r = invite();
        r.headers.remove("Call-ID");
        assert_eq!(r.validate(), Err(HeaderError::Missing(HeaderName::CallId)));
        let mut r = invite();
        r.headers.push(HeaderName::CSeq, "2 INVITE");
        assert_eq!(r.validate(), Err(HeaderError::Repeated(HeaderName::CSeq)));
        let mut r = invite();
        r.method = Method::Bye;
        assert!(matches!(
            r.validate(),
            Err(HeaderError::Invalid {
                header: HeaderName::CSeq,
                ..
            })
        ));
        let mut r = invite();
        r.headers.push(HeaderName::Contact, "<sip:x@y");
        assert!(r.validate().is_err());
    }
}
