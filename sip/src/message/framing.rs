//! Stream framing (RFC 3261 §18.3): where one message ends in a TCP/TLS byte stream, and the
//! RFC 5626 §4.4.1 CRLF keep-alives between messages.
//!
//! [`frame`] only looks at what framing needs (the empty line and Content-Length); the
//! message it delimits still goes through [`super::Message::parse`]. It is bounded: a header
//! section longer than [`HEADERS_MAX`] or a body longer than [`BODY_MAX`] is an error, never
//! a reason to buffer more.

use super::grammar;
use crate::error::{ParseError, ParseErrorKind};

/// Largest header section a stream message may have (start line to empty line, inclusive).
pub const HEADERS_MAX: usize = 64 * 1024;

/// Largest body a stream message may declare.
pub const BODY_MAX: usize = 1024 * 1024;

/// What the start of a stream buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet: read more and call again with the whole buffer.
    NeedMore,
    /// `len` bytes of CRLF keep-alive to consume. `ping` is true for a double CRLF, which
    /// asks for a single-CRLF pong (RFC 5626 §4.4.1); a lone CRLF is a pong.
    KeepAlive {
        /// Bytes to consume.
        len: usize,
        /// The peer sent a ping and expects a CRLF back.
        ping: bool,
    },
    /// A complete message in the first `len` bytes: parse `&buf[..len]`, then consume them.
    Message {
        /// Length of the message, headers and body.
        len: usize,
    },
}

/// Finds the first frame in `buf`, the unconsumed bytes of a stream connection.
///
/// A split ping (one CRLF now, one later) reads as two pongs, a harmless confusion.
///
/// # Errors
/// [`ParseErrorKind::HeadersTooLong`], [`ParseErrorKind::MissingContentLength`],
/// [`ParseErrorKind::InvalidContentLength`], [`ParseErrorKind::ConflictingContentLength`] or
/// [`ParseErrorKind::BodyTooLong`]: the connection is out of sync and should be closed.
pub fn frame(buf: &[u8]) -> Result<Frame, ParseError> {
    match buf {
        [] | [b'\r'] => return Ok(Frame::NeedMore),
        [b'\r', b'\n', b'\r', b'\n', ..] => return Ok(Frame::KeepAlive { len: 4, ping: true }),
        [b'\r', b'\n', b'\r'] => return Ok(Frame::NeedMore),
        [b'\r', b'\n', ..] => {
            return Ok(Frame::KeepAlive {
                len: 2,
                ping: false,
            });
        }
        _ => {}
    }
    let mut line_start = 0;
    let mut line_no = 1u32;
    let mut content_length: Option<usize> = None;
    // The logical header being read (folding joins continuation lines): name and value span.
    let mut current: Option<(usize, u32)> = None;
    let err = |kind, offset, line| ParseError { kind, offset, line };
    loop {
        let Some(nl) = buf[line_start..].iter().position(|&b| b == b'\n') else {
            if buf.len() > HEADERS_MAX {
                return Err(err(ParseErrorKind::HeadersTooLong, HEADERS_MAX, line_no));
            }
            return Ok(Frame::NeedMore);
        };
        let line_end = line_start + nl;
        if line_end + 1 > HEADERS_MAX {
            return Err(err(ParseErrorKind::HeadersTooLong, HEADERS_MAX, line_no));
        }
        let line = buf[line_start..line_end]
            .strip_suffix(b"\r")
            .unwrap_or(&buf[line_start..line_end]);
        let continuation = line.first().is_some_and(|&b| grammar::is_ws(b));
        if !continuation {
            if let Some((value_start, value_line)) = current.take() {
                let value = &buf[value_start..line_start];
                let n = content_length_value(value).ok_or(err(
                    ParseErrorKind::InvalidContentLength,
                    value_start,
                    value_line,
                ))?;
                if content_length.is_some_and(|c| c != n) {
                    return Err(err(
                        ParseErrorKind::ConflictingContentLength,
                        value_start,
                        value_line,
                    ));
                }
                content_length = Some(n);
            }
            if line.is_empty() {
                line_start = line_end + 1;
                break;
            }
            if line_no > 1 {
                if let Some(colon) = line.iter().position(|&b| b == b':') {
                    let name = trim_end_ws(&line[..colon]);
                    if name.eq_ignore_ascii_case(b"content-length")
                        || name.eq_ignore_ascii_case(b"l")
                    {
                        current = Some((line_start + colon + 1, line_no));
                    }
                }
            }
        }
        line_start = line_end + 1;
        line_no += 1;
    }
    // `line_start` is now just past the empty line's LF: the body starts here.
    let body_start = line_start;
    let Some(body_len) = content_length else {
        return Err(err(ParseErrorKind::MissingContentLength, 0, 1));
    };
    if body_len > BODY_MAX {
        return Err(err(ParseErrorKind::BodyTooLong, body_start, line_no));
    }
    let len = body_start + body_len;
    if buf.len() < len {
        return Ok(Frame::NeedMore);
    }
    Ok(Frame::Message { len })
}

/// The number in a (possibly folded) Content-Length value.
fn content_length_value(value: &[u8]) -> Option<usize> {
    let trimmed = trim_ws_crlf(value);
    grammar::parse_u32(trimmed).map(|n| n as usize)
}

fn trim_end_ws(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|&b| !grammar::is_ws(b))
        .map_or(0, |p| p + 1);
    &s[..end]
}

fn trim_ws_crlf(s: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |p| p + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"BYE sip:x SIP/2.0\r\nl: 3\r\n\r\nabc";

    #[test]
    fn frames_messages_and_keep_alives() {
        assert_eq!(frame(b""), Ok(Frame::NeedMore));
        assert_eq!(frame(b"\r"), Ok(Frame::NeedMore));
        assert_eq!(
            frame(b"\r\n"),
            Ok(Frame::KeepAlive {
                len: 2,
                ping: false
            })
        );
        assert_eq!(frame(b"\r\n\r"), Ok(Frame::NeedMore));
        assert_eq!(
            frame(b"\r\n\r\nBYE"),
            Ok(Frame::KeepAlive { len: 4, ping: true })
        );
        assert_eq!(
            frame(b"\r\nBYE"),
            Ok(Frame::KeepAlive {
                len: 2,
                ping: false
            })
        );
        assert_eq!(frame(MSG), Ok(Frame::Message { len: MSG.len() }));
        let mut two = MSG.to_vec();
        two.extend_from_slice(MSG);
        assert_eq!(frame(&two), Ok(Frame::Message { len: MSG.len() }));
        for cut in 0..MSG.len() {
            assert_eq!(frame(&MSG[..cut]), Ok(Frame::NeedMore), "cut at {cut}");
        }
    }

    #[test]
    fn reads_folded_and_repeated_content_length() {
        let m = b"BYE sip:x SIP/2.0\r\nContent-Length :\r\n 2\r\nl: 2\r\n\r\nab";
        assert_eq!(frame(m), Ok(Frame::Message { len: m.len() }));
    }

    #[test]
    fn rejects_what_would_desynchronize_the_stream() {
        let kind = |b: &[u8]| frame(b).map_err(|e| e.kind);
        assert_eq!(
            kind(b"BYE sip:x SIP/2.0\r\n\r\n"),
            Err(ParseErrorKind::MissingContentLength)
        );
        assert_eq!(
            kind(b"BYE sip:x SIP/2.0\r\nl: x\r\n\r\n"),
            Err(ParseErrorKind::InvalidContentLength)
        );
        assert_eq!(
            kind(b"BYE sip:x SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\n"),
            Err(ParseErrorKind::ConflictingContentLength)
        );
        assert_eq!(
            kind(b"BYE sip:x SIP/2.0\r\nl: 99999999\r\n\r\n"),
            Err(ParseErrorKind::BodyTooLong)
        );
        let mut long = b"BYE sip:x SIP/2.0\r\nX: ".to_vec();
        long.resize(HEADERS_MAX + 10, b'a');
        assert_eq!(kind(&long), Err(ParseErrorKind::HeadersTooLong));
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(kind(&long), Err(ParseErrorKind::HeadersTooLong));
    }
}
