//! Stream framing for SIP over TCP (RFC 3261 §18.3): where one message ends in a byte stream,
//! and the CRLF keep-alives between messages (RFC 5626 §4.4.1).
//!
//! The shape ([`Frame`], [`frame`]) mirrors `tandem-sip`'s `message::framing`, so the TCP
//! reader can switch to it when it lands. Only what framing needs is read: the empty line that
//! ends the headers and the Content-Length (or compact `l`) header; the message itself is
//! parsed by the SIP layer. Bounded: a header section over [`HEADERS_MAX`] or a body over
//! [`BODY_MAX`] is an error, never a reason to buffer more.

/// Largest header section accepted (start line to the empty line, inclusive).
pub const HEADERS_MAX: usize = 64 * 1024;

/// Largest body a stream message may declare.
pub const BODY_MAX: usize = 1024 * 1024;

/// What the start of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet: read more and call again with the whole buffer.
    NeedMore,
    /// `len` bytes of CRLF keep-alive to consume; `ping` (a double CRLF) asks for a
    /// single-CRLF pong, and a lone CRLF is a pong.
    KeepAlive {
        /// Bytes to consume.
        len: usize,
        /// The peer expects a CRLF back.
        ping: bool,
    },
    /// A complete message in the first `len` bytes.
    Message {
        /// Length of the message, headers and body.
        len: usize,
    },
}

/// The stream is out of sync: the connection should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// No empty line within [`HEADERS_MAX`] bytes.
    #[error("header section longer than {HEADERS_MAX} bytes")]
    HeadersTooLong,
    /// A stream message must carry Content-Length (RFC 3261 §18.3, §20.14).
    #[error("message without Content-Length on a stream transport")]
    MissingContentLength,
    /// Content-Length is not a decimal number.
    #[error("Content-Length is not a number")]
    InvalidContentLength,
    /// Two Content-Length headers disagree.
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// The declared body is over [`BODY_MAX`].
    #[error("body of {0} bytes is over the {BODY_MAX}-byte limit")]
    BodyTooLong(usize),
}

/// Finds the first frame in `buf`, the unconsumed bytes of a stream connection.
///
/// # Errors
///
/// A [`FramingError`]: the connection is out of sync and should be closed.
pub fn frame(buf: &[u8]) -> Result<Frame, FramingError> {
    match buf {
        [] | [b'\r'] | [b'\r', b'\n', b'\r'] => return Ok(Frame::NeedMore),
        [b'\r', b'\n', b'\r', b'\n', ..] => return Ok(Frame::KeepAlive { len: 4, ping: true }),
        [b'\r', b'\n', ..] => {
            return Ok(Frame::KeepAlive {
                len: 2,
                ping: false,
            });
        }
        _ => {}
    }
    let Some(body_start) = end_of_headers(buf) else {
        return if buf.len() > HEADERS_MAX {
            Err(FramingError::HeadersTooLong)
        } else {
            Ok(Frame::NeedMore)
        };
    };
    if body_start > HEADERS_MAX {
        return Err(FramingError::HeadersTooLong);
    }
    let body_len = content_length(&buf[..body_start])?;
    if body_len > BODY_MAX {
        return Err(FramingError::BodyTooLong(body_len));
    }
    let len = body_start + body_len;
    Ok(if buf.len() < len {
        Frame::NeedMore
    } else {
        Frame::Message { len }
    })
}

/// The offset just past the empty line that ends the header section (CRLF CRLF, or a bare
/// LF LF, which RFC 3261 §7.5 tolerates), if it is in `buf`.
fn end_of_headers(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') {
        let next = at + nl + 1;
        match buf.get(next..) {
            Some([b'\r', b'\n', ..]) => return Some(next + 2),
            Some([b'\n', ..]) => return Some(next + 1),
            _ => at = next,
        }
    }
    None
}

/// The Content-Length of a header section (start line included, folded lines joined).
fn content_length(headers: &[u8]) -> Result<usize, FramingError> {
    let mut found: Option<usize> = None;
    // Logical header lines: a line starting with space or tab continues the previous one.
    let mut logical: Vec<Vec<u8>> = Vec::new();
    for line in headers.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match (line.first(), logical.last_mut()) {
            (Some(b' ' | b'\t'), Some(previous)) => {
                previous.push(b' ');
                previous.extend_from_slice(line);
            }
            _ if line.is_empty() => {}
            _ => logical.push(line.to_vec()),
        }
    }
    for line in &logical {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let value = line[colon + 1..].trim_ascii();
        let n = std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or(FramingError::InvalidContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(FramingError::ConflictingContentLength);
        }
        found = Some(n);
    }
    found.ok_or(FramingError::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:echo@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/TCP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
        Content-Length: 0\r\n\r\n";

    fn message(body: &str) -> Vec<u8> {
        format!(
            "INVITE sip:echo@127.0.0.1 SIP/2.0\r\nl: {}\r\nContent-Type: application/sdp\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn frames_a_message_without_body() {
        assert_eq!(frame(OPTIONS), Ok(Frame::Message { len: OPTIONS.len() }));
    }

    #[test]
    fn frames_a_body_by_compact_content_length_and_leaves_the_next_message() {
        let mut buf = message("v=0\r\n");
        let first = buf.len();
        buf.extend_from_slice(OPTIONS);
        assert_eq!(frame(&buf), Ok(Frame::Message { len: first }));
        assert_eq!(
            frame(&buf[first..]),
            Ok(Frame::Message { len: OPTIONS.len() })
        );
    }

    #[test]
    fn needs_more_until_the_headers_and_body_are_complete() {
        let whole = message("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n");
        for cut in 0..whole.len() {
            assert_eq!(frame(&whole[..cut]), Ok(Frame::NeedMore), "cut at {cut}");
        }
        assert_eq!(frame(&whole), Ok(Frame::Message { len: whole.len() }));
    }

    #[test]
    fn reads_keepalives_between_messages() {
        assert_eq!(
            frame(b"\r\n\r\nOPT"),
            Ok(Frame::KeepAlive { len: 4, ping: true })
        );
        assert_eq!(
            frame(b"\r\nOPT"),
            Ok(Frame::KeepAlive {
                len: 2,
                ping: false
            })
        );
        assert_eq!(frame(b"\r\n\r"), Ok(Frame::NeedMore));
    }

    #[test]
    fn joins_folded_content_length_and_tolerates_bare_lf() {
        let folded = b"BYE sip:a@b SIP/2.0\r\nContent-Length:\r\n  3\r\n\r\nabc";
        assert_eq!(frame(folded), Ok(Frame::Message { len: folded.len() }));
        let bare = b"BYE sip:a@b SIP/2.0\nContent-Length: 2\n\nok";
        assert_eq!(frame(bare), Ok(Frame::Message { len: bare.len() }));
    }

    #[test]
    fn rejects_streams_that_are_out_of_sync() {
        assert_eq!(
            frame(b"BYE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"),
            Err(FramingError::MissingContentLength)
        );
        assert_eq!(
            frame(b"BYE sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n"),
            Err(FramingError::InvalidContentLength)
        );
        assert_eq!(
            frame(b"BYE sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab"),
            Err(FramingError::ConflictingContentLength)
        );
        assert_eq!(
            frame(b"BYE sip:a@b SIP/2.0\r\nContent-Length: 2000000\r\n\r\n"),
            Err(FramingError::BodyTooLong(2_000_000))
        );
        let endless = vec![b'a'; HEADERS_MAX + 1];
        assert_eq!(frame(&endless), Err(FramingError::HeadersTooLong));
        let mut long = b"BYE sip:a@b SIP/2.0\r\nX: ".to_vec();
        long.resize(HEADERS_MAX + 10, b'x');
        long.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(frame(&long), Err(FramingError::HeadersTooLong));
    }
}
