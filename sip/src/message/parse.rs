//! The message parser: start line, header lines and body framing (RFC 3261 §7, §18.3, §25).
//!
//! One pass over the lines. The header section is copied once, whole, into the [`Headers`]
//! buffer; each value or extension name is a span of that copy (folded lines are joined in
//! the copy) and list headers are split into spans too, so the header section costs two
//! allocations and one memcpy however many headers it has. Header names are found by their
//! colon and matched against the known names before any byte-by-byte token check. Strict where
//! RFC 3261 is: single SP in the start line, `SIP/2.0` only, tokens for methods and header
//! names, no control characters, UTF-8, a body at least as long as Content-Length. Tolerant
//! where it allows or where it costs nothing to be: leading CRLFs (§7.5), bare LF line ends,
//! whitespace before a header's colon, empty list elements, a missing reason phrase.
//!
//! Error offsets are exact for the start line and for header lines; inside a folded header
//! value they point into the first line of the header.

use super::grammar;
use super::{HeaderName, Headers, Message, Method, Request, Response, StatusCode, Uri};
use crate::error::{ParseError, ParseErrorKind};

/// Where the parser is: for error reports.
#[derive(Clone, Copy)]
struct At {
    offset: usize,
    line: u32,
}

impl At {
    fn err(self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            kind,
            offset: self.offset,
            line: self.line,
        }
    }

    fn plus(self, by: usize) -> Self {
        Self {
            offset: self.offset + by,
            line: self.line,
        }
    }
}

/// The parsed start line.
enum StartLine {
    Request(Method, Uri),
    Response(StatusCode, String),
}

/// The header being read: its value is `copy[value_start..value_end]` of the header section's
/// copy (see [`Section`]), until the next line says whether it continues.
struct Pending {
    name: PendingName,
    value_start: usize,
    value_end: usize,
    at: At,
}

#[derive(Clone, Copy)]
enum PendingName {
    Known(HeaderName),
    /// An extension name at `copy[start..end]`.
    Other(usize, usize),
}

/// Maps input offsets to offsets in the copy of the header section the [`Headers`] buffer
/// holds: the copy starts at input offset `base`, and unfolding has removed `shift` bytes
/// from it so far.
struct Section {
    base: usize,
    shift: usize,
}

impl Section {
    fn at(&self, input_offset: usize) -> usize {
        input_offset - self.base - self.shift
    }
}

/// Parses one message; see [`Message::parse`].
pub(crate) fn parse_message(input: &[u8]) -> Result<Message, ParseError> {
    let mut pos = 0;
    let mut line = 1u32;
    // RFC 3261 §7.5: ignore CRLFs before the start line (keep-alives, stream leftovers).
    while pos < input.len() && matches!(input[pos], b'\r' | b'\n') {
        if input[pos] == b'\n' {
            line += 1;
        }
        pos += 1;
    }
    if pos == input.len() {
        return Err(ParseError {
            kind: ParseErrorKind::Empty,
            offset: 0,
            line: 1,
        });
    }

    // One UTF-8 check for the whole input, up to its first invalid byte (a binary body may
    // have some): every line of the header section must lie inside this prefix.
    let text = match std::str::from_utf8(input) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&input[..e.valid_up_to()]).unwrap_or_default(),
    };

    let at = At { offset: pos, line };
    let (end, next) = scan_line(input, text.len(), at)?;
    let start = parse_start_line(&text[pos..end], at)?;
    pos = next;
    line += 1;

    // The rest of the valid text is copied once (one memcpy, cut back to the header section
    // at the end): values and extension names are spans of the copy, so no header costs a
    // copy of its own. 32 entries: a dozen headers plus the elements of split lists (Allow
    // alone has ~8).
    let mut headers = Headers::with_capacity(32, text.len() - pos);
    headers.text_mut().push_str(&text[pos..]);
    let mut section = Section {
        base: pos,
        shift: 0,
    };
    let mut content_length: Option<usize> = None;
    let mut pending: Option<Pending> = None;
    loop {
        let at = At { offset: pos, line };
        let (end, next) = scan_line(input, text.len(), at)?;
        let l = &input[pos..end];
        let line_start = pos;
        pos = next;
        line += 1;
        if l.first().is_some_and(|&b| grammar::is_ws(b)) {
            // A continuation line (LWS = [*WSP CRLF] 1*WSP): one SP replaces the fold.
            let Some(p) = &mut pending else {
                return Err(at.err(ParseErrorKind::InvalidFolding));
            };
            let more_start = grammar::skip_ws(l, 0);
            if more_start < l.len() {
                let more_end = line_start + trim_end(l, more_start, l.len());
                unfold(headers.text_mut(), &mut section, p, line_start + more_start);
                p.value_end = section.at(more_end);
            }
            continue;
        }
        // The previous header is complete: a new one starts, or the header section ends.
        if let Some(p) = pending.take() {
            finish(&mut headers, p, &mut content_length)?;
        }
        if l.is_empty() {
            break;
        }
        let (name, value_offset) = header_name(&text[line_start..end]).map_err(|k| at.err(k))?;
        let name = match name {
            Ok(k) => PendingName::Known(k),
            Err(other) => {
                PendingName::Other(section.at(line_start), section.at(line_start + other.len()))
            }
        };
        pending = Some(Pending {
            name,
            value_start: section.at(line_start + value_offset),
            value_end: section.at(end),
            at: at.plus(value_offset),
        });
    }
    // Drop the body (and the line ends) from the copy: only spans of the header section
    // remain referenced.
    headers.text_mut().truncate(section.at(pos));

    let rest = &input[pos..];
    let body = match content_length {
        // RFC 3261 §18.3: bytes past Content-Length are discarded; fewer is an error.
        Some(n) if n > rest.len() => {
            return Err(At { offset: pos, line }.err(ParseErrorKind::BodyTooShort));
        }
        Some(n) => rest[..n].to_vec(),
        None => rest.to_vec(),
    };
    Ok(match start {
        StartLine::Request(method, uri) => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        StartLine::Response(status, reason) => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    })
}

/// Joins the continuation whose content starts at input offset `more_start` to the pending
/// value in the copy: the value's trailing whitespace, the line end and the continuation's
/// leading whitespace become one SP (nothing when the value is still empty), and the bytes
/// after it move left.
#[cold]
fn unfold(copy: &mut String, section: &mut Section, p: &Pending, more_start: usize) {
    let kept = trim_end(copy.as_bytes(), p.value_start, p.value_end);
    let more = section.at(more_start);
    let sp = if kept > p.value_start { " " } else { "" };
    copy.replace_range(kept..more, sp);
    section.shift += more - kept - sp.len();
}

/// Reads `header-name HCOLON` (a token, optional SP/HTAB, ":", optional LWS) at the start
/// of header line `l`: returns the known name, or the spelling of an extension name, and
/// where the value starts.
///
/// The colon is found first, eight bytes at a time; a known name is a token by construction,
/// so only extension names are checked byte by byte.
#[inline]
fn header_name(l: &str) -> Result<(Result<HeaderName, &str>, usize), ParseErrorKind> {
    let lb = l.as_bytes();
    let colon = grammar::find_byte(lb, 0, b':');
    if colon == lb.len() {
        return Err(if grammar::scan_token(lb, 0) == 0 {
            ParseErrorKind::InvalidHeaderName
        } else {
            ParseErrorKind::MissingColon
        });
    }
    // Cut before ASCII bytes only, so always on a character boundary.
    let name = l.get(..trim_end(lb, 0, colon)).unwrap_or_default();
    let name = match HeaderName::from_name(name) {
        Some(k) => Ok(k),
        None if grammar::is_token(name.as_bytes()) => Err(name),
        None => return Err(ParseErrorKind::InvalidHeaderName),
    };
    Ok((name, grammar::skip_ws(lb, colon + 1)))
}

/// Finds the end of the line starting at `at.offset`: returns where its content ends (before
/// CRLF, or before a bare LF, a tolerance) and where the next line starts. On the way it
/// checks the line: no control character but HTAB, except after a backslash (a `quoted-pair`
/// may escape any octet but CR and LF: RFC 3261 §25.1; RFC 4475 §3.1.1.2 puts NUL, BEL and
/// DEL in a display name that way), no bare CR, and nothing past `utf8_len`, the valid UTF-8
/// prefix of the input.
///
/// Sixteen bytes at a time: a word without a byte below 0x20, 0x7F or above 0x7F
/// is skipped whole, and otherwise the scan jumps to its first such byte, so per-byte work is
/// spent only on those bytes.
#[inline]
fn scan_line(input: &[u8], utf8_len: usize, at: At) -> Result<(usize, usize), ParseError> {
    let start = at.offset;
    let mut i = start;
    loop {
        // Two words per step: one branch for sixteen bytes.
        while let Some(pair) = input.get(i..).and_then(<[u8]>::first_chunk::<16>) {
            let (lo, hi) = pair.split_at(8);
            let word = |w: &[u8]| u64::from_le_bytes(w.try_into().unwrap_or_default());
            let (lo, hi) = (
                grammar::special_bytes(word(lo)),
                grammar::special_bytes(word(hi)),
            );
            if lo | hi != 0 {
                i += if lo != 0 {
                    (lo.trailing_zeros() / 8) as usize
                } else {
                    8 + (hi.trailing_zeros() / 8) as usize
                };
                break;
            }
            i += 16;
        }
        let Some(&b) = input.get(i) else {
            return Err(at.err(ParseErrorKind::Unterminated));
        };
        let end = match b {
            b'\n' => Some((i, i + 1)),
            b'\r' if input.get(i + 1) == Some(&b'\n') => Some((i, i + 2)),
            b'\t' | 0x20..=0x7e | 0x80.. => None,
            // A control character (bare CR included) is only allowed as a quoted-pair.
            _ if b != b'\r' && i > start && input[i - 1] == b'\\' => None,
            _ => return Err(at.plus(i - start).err(ParseErrorKind::ControlCharacter)),
        };
        if let Some((end, next)) = end {
            if end > utf8_len {
                return Err(at.plus(utf8_len - start).err(ParseErrorKind::InvalidUtf8));
            }
            return Ok((end, next));
        }
        i += 1;
    }
}

/// Stores the pending header: trims, splits list headers, takes Content-Length out.
#[inline]
fn finish(
    headers: &mut Headers,
    p: Pending,
    content_length: &mut Option<usize>,
) -> Result<(), ParseError> {
    let end = trim_end(headers.text_mut().as_bytes(), p.value_start, p.value_end);
    match p.name {
        PendingName::Known(HeaderName::ContentLength) => {
            let n = grammar::parse_u32(&headers.text_mut().as_bytes()[p.value_start..end])
                .ok_or(p.at.err(ParseErrorKind::InvalidContentLength))?
                as usize;
            if content_length.is_some_and(|c| c != n) {
                return Err(p.at.err(ParseErrorKind::ConflictingContentLength));
            }
            // The printer writes the body's length; the stored headers never hold it.
            *content_length = Some(n);
        }
        PendingName::Known(k) if k.is_list() => {
            let mut i = p.value_start;
            let mut any = false;
            while i <= end {
                let b = headers.text_mut().as_bytes();
                let comma = grammar::find_unquoted(&b[..end], i, b',')
                    .map_err(|e| p.at.plus(e.offset - p.value_start).err(e.kind))?;
                let (s, e) = trim_range(b, i, comma);
                if s < e {
                    headers.commit_known(k, s, e);
                    any = true;
                }
                i = comma + 1;
            }
            if !any {
                headers.commit_known(k, p.value_start, p.value_start);
            }
        }
        PendingName::Known(k) => headers.commit_known(k, p.value_start, end),
        PendingName::Other(ns, ne) => headers.commit_other(ns, ne, p.value_start, end),
    }
    Ok(())
}

/// The end of `b[start..end]` without its trailing SP/HTAB.
#[inline]
fn trim_end(b: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && grammar::is_ws(b[end - 1]) {
        end -= 1;
    }
    end
}

/// `[s, e)` without leading and trailing SP/HTAB.
fn trim_range(b: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && grammar::is_ws(b[s]) {
        s += 1;
    }
    while e > s && grammar::is_ws(b[e - 1]) {
        e -= 1;
    }
    (s, e)
}

/// Request-Line = Method SP Request-URI SP SIP-Version;
/// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase.
fn parse_start_line(s: &str, at: At) -> Result<StartLine, ParseError> {
    let b = s.as_bytes();
    let sp1 = b
        .iter()
        .position(|&c| c == b' ')
        .ok_or(at.err(ParseErrorKind::InvalidStartLine))?;
    let first = &s[..sp1];
    if first.len() >= 4 && first.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
        check_version(first).map_err(|k| at.err(k))?;
        let code = b
            .get(sp1 + 1..sp1 + 4)
            .filter(|d| d.iter().all(u8::is_ascii_digit));
        let after = b.get(sp1 + 4).copied();
        let status = code
            .filter(|_| after.is_none() || after == Some(b' '))
            .and_then(grammar::parse_u32)
            .and_then(|c| StatusCode::new(c as u16))
            .ok_or(at.plus(sp1 + 1).err(ParseErrorKind::InvalidStatusCode))?;
        // A missing SP before an empty Reason-Phrase is tolerated.
        let reason = s.get(sp1 + 5..).unwrap_or_default();
        return Ok(StartLine::Response(status, reason.to_owned()));
    }
    let method = Method::parse(first).map_err(|_| at.err(ParseErrorKind::InvalidMethod))?;
    let rest = &s[sp1 + 1..];
    let sp2 = rest
        .bytes()
        .position(|c| c == b' ')
        .ok_or(at.plus(sp1 + 1).err(ParseErrorKind::InvalidStartLine))?;
    let uri_at = at.plus(sp1 + 1);
    if sp2 == 0 {
        return Err(uri_at.err(ParseErrorKind::InvalidUri));
    }
    check_version(&rest[sp2 + 1..]).map_err(|k| uri_at.plus(sp2 + 1).err(k))?;
    let uri = Uri::parse(&rest[..sp2]).map_err(|e| uri_at.plus(e.offset).err(e.kind))?;
    // RFC 3261 §19.1.1 table 1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
    if let Uri::Sip(u) = &uri {
        if u.headers.is_some() {
            return Err(uri_at.err(ParseErrorKind::InvalidUri));
        }
    }
    Ok(StartLine::Request(method, uri))
}

/// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT, case-insensitive (§7.1); only 2.0 is spoken.
fn check_version(v: &str) -> Result<(), ParseErrorKind> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    let well_formed = v.len() > 4
        && v.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/")
        && v[4..].split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|c| c.is_ascii_digit())
                && minor.bytes().all(|c| c.is_ascii_digit())
        });
    Err(if well_formed {
        ParseErrorKind::UnsupportedVersion
    } else {
        ParseErrorKind::InvalidStartLine
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    fn request(bytes: &[u8]) -> Request {
        match parse_message(bytes) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn error(bytes: &[u8]) -> ParseError {
        parse_message(bytes).expect_err("must not parse")
    }

    #[test]
    fn parses_a_request() {
        let r = request(INVITE);
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.uri.to_string(), "sip:bob@biloxi.example.com");
        assert_eq!(r.headers.len(), 8);
        assert_eq!(r.headers.get("content-length"), None);
        assert_eq!(r.body, b"v=0\n");
        r.validate().unwrap();
    }

    #[test]
    fn parses_a_response() {
        let m = parse_message(b"\r\n\r\nSIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP h\r\n\r\n").unwrap();
        let Message::Response(r) = m else { panic!() };
        assert_eq!(r.status, StatusCode::RINGING);
        assert_eq!(r.reason, "Ringing");
        assert_eq!(r.headers.get("Via"), Some("SIP/2.0/UDP h"));
        assert!(r.body.is_empty());
    }

    #[test]
    fn unfolds_splits_and_normalizes() {
        let r = request(
            b"OPTIONS sip:x SIP/2.0\r\nSubject: one\r\n   two \r\n\tthree\r\n\
v: SIP/2.0/UDP a, SIP/2.0/UDP b ,\r\n SIP/2.0/UDP c\r\n\
m: \"a, b\" <sip:a@b;x=1,2>, <sip:c@d>\r\nX-Odd : kept , as is\r\nSupported:\r\nl: 0\r\n\r\n",
        );
        let all: Vec<_> = r.headers.iter().collect();
        assert_eq!(
            all,
            [
                ("Subject", "one two three"),
                ("Via", "SIP/2.0/UDP a"),
                ("Via", "SIP/2.0/UDP b"),
                ("Via", "SIP/2.0/UDP c"),
                ("Contact", "\"a, b\" <sip:a@b;x=1,2>"),
                ("Contact", "<sip:c@d>"),
                ("X-Odd", "kept , as is"),
                ("Supported", ""),
            ]
        );
    }

    #[test]
    fn content_length_frames_the_body() {
        let head = b"MESSAGE sip:x SIP/2.0\r\nl: 3\r\n\r\n";
        let mut m = head.to_vec();
        m.extend_from_slice(b"abcdef");
        assert_eq!(request(&m).body, b"abc");
        let e = error(b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 9\r\n\r\nabc");
        assert_eq!(
            (e.kind, e.offset, e.line),
            (ParseErrorKind::BodyTooShort, 44, 4)
        );
        assert_eq!(request(b"MESSAGE sip:x SIP/2.0\r\n\r\nabc").body, b"abc");
        let e = error(b"MESSAGE sip:x SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nabc");
        assert_eq!(e.kind, ParseErrorKind::ConflictingContentLength);
        assert_eq!(e.line, 3);
        let e = error(b"MESSAGE sip:x SIP/2.0\r\nl: -1\r\n\r\n");
        assert_eq!(e.kind, ParseErrorKind::InvalidContentLength);
    }

    #[test]
    fn errors_say_what_and_where() {
        let cases: &[(&[u8], ParseErrorKind, usize, u32)] = &[
            (b"", ParseErrorKind::Empty, 0, 1),
            (b"\r\n\r\n", ParseErrorKind::Empty, 0, 1),
            (
                b"INVITE sip:x SIP/2.0\r\nTo: x\r\n",
                ParseErrorKind::Unterminated,
                29,
                3,
            ),
            (b"INVITE sip:x SIP/2.0", ParseErrorKind::Unterminated, 0, 1),
            (
                b"INVITE  sip:x SIP/2.0\r\n\r\n",
                ParseErrorKind::InvalidUri,
                7,
                1,
            ),
            (
                b"INVITE sip:x SIP/3.0\r\n\r\n",
                ParseErrorKind::UnsupportedVersion,
                13,
                1,
            ),
            (
                b"INVITE sip:x SIP/2.0 \r\n\r\n",
                ParseErrorKind::InvalidStartLine,
                13,
                1,
            ),
            (
                b"IN\"VITE sip:x SIP/2.0\r\n\r\n",
                ParseErrorKind::InvalidMethod,
                0,
                1,
            ),
            (
                b"INVITE sip:x@[::1 SIP/2.0\r\n\r\n",
                ParseErrorKind::InvalidHost,
                13,
                1,
            ),
            (
                b"SIP/2.0 99 Odd\r\n\r\n",
                ParseErrorKind::InvalidStatusCode,
                8,
                1,
            ),
            (
                b"SIP/2.0 2000 OK\r\n\r\n",
                ParseErrorKind::InvalidStatusCode,
                8,
                1,
            ),
            (
                b"SIP/1.0 200 OK\r\n\r\n",
                ParseErrorKind::UnsupportedVersion,
                0,
                1,
            ),
            (
                b"\r\nINVITE sip:x SIP/2.0\r\nTo x\r\n\r\n",
                ParseErrorKind::MissingColon,
                24,
                3,
            ),
            (
                b"INVITE sip:x SIP/2.0\r\n To: x\r\n\r\n",
                ParseErrorKind::InvalidFolding,
                22,
                2,
            ),
            (
                b"INVITE sip:x SIP/2.0\r\nT o: x\r\n\r\n",
                ParseErrorKind::InvalidHeaderName,
                22,
                2,
            ),
            (
                b"INVITE sip:x SIP/2.0\r\nTo: a\rb\r\n\r\n",
                ParseErrorKind::ControlCharacter,
                27,
                2,
            ),
            (
                b"INVITE sip:x SIP/2.0\r\nTo: a\xffb\r\n\r\n",
                ParseErrorKind::InvalidUtf8,
                27,
                2,
            ),
            (
                b"INVITE sip:x SIP/2.0\r\nv: \"a, b\r\n\r\n",
                ParseErrorKind::UnterminatedQuote,
                25,
                2,
            ),
        ];
        for &(input, kind, offset, line) in cases {
            let e = error(input);
            assert_eq!(
                (e.kind, e.offset, e.line),
                (kind, offset, line),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        let e = error(b"INVITE sip:x SIP/3.0\r\n\r\n");
        assert_eq!(e.to_string(), "unsupported SIP version at line 1, byte 13");
    }

    #[test]
    fn tolerates_bare_lf_and_empty_reason() {
        let m = parse_message(b"SIP/2.0 200\nCSeq: 1 BYE\n\n").unwrap();
        let Message::Response(r) = m else { panic!() };
        assert_eq!((r.status.as_u16(), r.reason.as_str()), (200, ""));
        assert_eq!(r.headers.cseq().unwrap().method, Method::Bye);
    }
}
