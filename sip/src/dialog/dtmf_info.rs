//! DTMF in SIP INFO bodies: `application/dtmf-relay` and, for tolerance, `application/dtmf`.
//!
//! Neither format has an RFC; RFC 6086 (INFO) leaves the package to deployments, and these
//! two are what phones and gateways send (Cisco's `dtmf-relay`, Asterisk, FreeSWITCH,
//! Polycom):
//!
//! ```text
//! Content-Type: application/dtmf-relay
//!
//! Signal=5
//! Duration=160
//! ```
//!
//! `Signal` is one of `0`–`9 * # A`–`D`; some phones send the RFC 4733 §3.2 event code
//! instead (`10` for `*`, `11` for `#`, `12`–`15` for `A`–`D`), which is accepted too.
//! `Duration` is in milliseconds and optional. Keys are case-insensitive, whitespace around
//! keys and values is ignored, lines end with CRLF or LF, unknown keys and lines without `=`
//! are skipped. `application/dtmf` is a body holding only the signal.
//!
//! Parsing never panics and never allocates; errors are `Copy` with a stable
//! [`DtmfInfoError::reason`] label.

use std::fmt;

use crate::message::{ContentType, Method, Request};

/// Longest body accepted, in bytes: real ones are under 40.
pub const BODY_MAX: usize = 512;

/// One DTMF signal (the RFC 4733 §3.2 events 0–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DtmfSignal {
    /// A digit key, `0` to `9` (event codes 0–9).
    Digit(Digit),
    /// `*` (event 10).
    Star,
    /// `#` (event 11).
    Pound,
    /// `A` (event 12).
    A,
    /// `B` (event 13).
    B,
    /// `C` (event 14).
    C,
    /// `D` (event 15).
    D,
}

/// A decimal digit, 0 to 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digit(u8);

impl Digit {
    /// The digit `d`, or `None` when above 9.
    pub const fn new(d: u8) -> Option<Self> {
        if d <= 9 { Some(Self(d)) } else { None }
    }

    /// The value, 0 to 9.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl DtmfSignal {
    /// The signal for a key character (`0`–`9`, `*`, `#`, `A`–`D` in either case).
    pub const fn from_char(c: char) -> Option<Self> {
        Some(match c {
            '0'..='9' => Self::Digit(Digit(c as u8 - b'0')),
            '*' => Self::Star,
            '#' => Self::Pound,
            'A' | 'a' => Self::A,
            'B' | 'b' => Self::B,
            'C' | 'c' => Self::C,
            'D' | 'd' => Self::D,
            _ => return None,
        })
    }

    /// The key character (`A`–`D` upper case).
    pub const fn as_char(self) -> char {
        match self {
            Self::Digit(d) => (b'0' + d.0) as char,
            Self::Star => '*',
            Self::Pound => '#',
            Self::A => 'A',
            Self::B => 'B',
            Self::C => 'C',
            Self::D => 'D',
        }
    }

    /// The RFC 4733 §3.2 event code, 0 to 15.
    pub const fn event_code(self) -> u8 {
        match self {
            Self::Digit(d) => d.0,
            Self::Star => 10,
            Self::Pound => 11,
            Self::A => 12,
            Self::B => 13,
            Self::C => 14,
            Self::D => 15,
        }
    }

    /// The signal for an RFC 4733 event code 0–15.
    pub const fn from_event_code(code: u8) -> Option<Self> {
        Some(match code {
            0..=9 => Self::Digit(Digit(code)),
            10 => Self::Star,
            11 => Self::Pound,
            12 => Self::A,
            13 => Self::B,
            14 => Self::C,
            15 => Self::D,
            _ => return None,
        })
    }

    /// Parses a `Signal` value: one key character, or an event code `0`–`15`.
    fn parse_value(v: &[u8]) -> Result<Self, DtmfInfoError> {
        match v {
            [c] => Self::from_char(*c as char).ok_or(DtmfInfoError::InvalidSignal),
            [b'1', c @ b'0'..=b'5'] => {
                Self::from_event_code(10 + (c - b'0')).ok_or(DtmfInfoError::InvalidSignal)
            }
            _ => Err(DtmfInfoError::InvalidSignal),
        }
    }
}

impl fmt::Display for DtmfSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Why an INFO DTMF body was not understood: answer the INFO with 400 (or 415 for
/// [`DtmfInfoError::UnsupportedContentType`]) and count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfInfoError {
    /// The body is longer than [`BODY_MAX`].
    #[error("DTMF body of {len} bytes is too long")]
    TooLong {
        /// The body's length.
        len: usize,
    },
    /// The body is not ASCII text.
    #[error("DTMF body is not ASCII text")]
    NotText,
    /// No `Signal=` line (or an empty `application/dtmf` body).
    #[error("no DTMF signal in the body")]
    MissingSignal,
    /// Two `Signal=` lines.
    #[error("more than one DTMF signal in the body")]
    DuplicateSignal,
    /// The signal is not one of `0-9 * # A-D` nor an event code 0–15.
    #[error("invalid DTMF signal")]
    InvalidSignal,
    /// The duration is not a number of milliseconds that fits in 32 bits.
    #[error("invalid DTMF duration")]
    InvalidDuration,
    /// The INFO's Content-Type is missing or malformed where a DTMF body was expected.
    #[error("missing or malformed Content-Type")]
    UnsupportedContentType,
}

impl DtmfInfoError {
    /// Stable label for counters.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "too_long",
            Self::NotText => "not_text",
            Self::MissingSignal => "missing_signal",
            Self::DuplicateSignal => "duplicate_signal",
            Self::InvalidSignal => "invalid_signal",
            Self::InvalidDuration => "invalid_duration",
            Self::UnsupportedContentType => "unsupported_content_type",
        }
    }
}

/// One DTMF event carried in an INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DtmfRelay {
    /// The key.
    pub signal: DtmfSignal,
    /// How long the key was pressed, in milliseconds, when given.
    pub duration_ms: Option<u32>,
}

/// Which INFO DTMF format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfFormat {
    /// `application/dtmf-relay`: `Signal=…` and `Duration=…` lines.
    Relay,
    /// `application/dtmf`: the signal alone.
    Dtmf,
}

impl DtmfFormat {
    /// The format of a Content-Type, if it is a DTMF one.
    pub fn of(content_type: &ContentType) -> Option<Self> {
        if content_type.is("application", "dtmf-relay") {
            Some(Self::Relay)
        } else if content_type.is("application", "dtmf") {
            Some(Self::Dtmf)
        } else {
            None
        }
    }

    /// The Content-Type to send.
    pub fn content_type(self) -> ContentType {
        let subtype = match self {
            Self::Relay => "dtmf-relay",
            Self::Dtmf => "dtmf",
        };
        ContentType {
            mtype: "application".into(),
            subtype: subtype.into(),
            params: Default::default(),
        }
    }
}

fn checked_text(body: &[u8]) -> Result<&[u8], DtmfInfoError> {
    if body.len() > BODY_MAX {
        return Err(DtmfInfoError::TooLong { len: body.len() });
    }
    if !body.is_ascii() {
        return Err(DtmfInfoError::NotText);
    }
    Ok(body)
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

impl DtmfRelay {
    /// Parses an `application/dtmf-relay` body.
    ///
    /// # Errors
    /// A [`DtmfInfoError`] saying what is wrong.
    pub fn parse(body: &[u8]) -> Result<Self, DtmfInfoError> {
        let body = checked_text(body)?;
        let mut signal = None;
        let mut duration_ms = None;
        for line in body.split(|&c| c == b'\n') {
            let Some(eq) = line.iter().position(|&c| c == b'=') else {
                continue;
            };
            let key = trim(&line[..eq]);
            let value = trim(&line[eq + 1..]);
            if key.eq_ignore_ascii_case(b"signal") {
                if signal.is_some() {
                    return Err(DtmfInfoError::DuplicateSignal);
                }
                signal = Some(DtmfSignal::parse_value(value)?);
            } else if key.eq_ignore_ascii_case(b"duration") {
                duration_ms = Some(parse_ms(value)?);
            }
        }
        Ok(Self {
            signal: signal.ok_or(DtmfInfoError::MissingSignal)?,
            duration_ms,
        })
    }

    /// Parses an `application/dtmf` body (the signal alone, surrounding whitespace allowed).
    ///
    /// # Errors
    /// [`DtmfInfoError::MissingSignal`] for an empty body, else as [`DtmfRelay::parse`].
    pub fn parse_dtmf(body: &[u8]) -> Result<Self, DtmfInfoError> {
        let v = trim(checked_text(body)?);
        if v.is_empty() {
            return Err(DtmfInfoError::MissingSignal);
        }
        Ok(Self {
            signal: DtmfSignal::parse_value(v)?,
            duration_ms: None,
        })
    }

    /// Parses a body in `format`.
    ///
    /// # Errors
    /// As [`DtmfRelay::parse`] and [`DtmfRelay::parse_dtmf`].
    pub fn parse_as(format: DtmfFormat, body: &[u8]) -> Result<Self, DtmfInfoError> {
        match format {
            DtmfFormat::Relay => Self::parse(body),
            DtmfFormat::Dtmf => Self::parse_dtmf(body),
        }
    }

    /// The DTMF event of a received INFO: `Ok(None)` when the request is not an INFO or its
    /// body is not a DTMF type (another INFO package: answer as the application decides).
    ///
    /// # Errors
    /// [`DtmfInfoError::UnsupportedContentType`] for a malformed Content-Type, else as
    /// [`DtmfRelay::parse_as`].
    pub fn from_request(request: &Request) -> Result<Option<Self>, DtmfInfoError> {
        if request.method != Method::Info {
            return Ok(None);
        }
        let Some(ct) = request
            .headers
            .content_type()
            .map_err(|_| DtmfInfoError::UnsupportedContentType)?
        else {
            return Ok(None);
        };
        match DtmfFormat::of(&ct) {
            None => Ok(None),
            Some(format) => Self::parse_as(format, &request.body).map(Some),
        }
    }

    /// The `application/dtmf-relay` body: `Signal=5\r\nDuration=160\r\n` (the Duration line
    /// only when known).
    pub fn to_body(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// The `application/dtmf` body: the key character alone.
    pub fn to_dtmf_body(&self) -> Vec<u8> {
        vec![self.signal.as_char() as u8]
    }
}

/// Prints the `application/dtmf-relay` form.
impl fmt::Display for DtmfRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signal={}\r\n", self.signal)?;
        if let Some(d) = self.duration_ms {
            write!(f, "Duration={d}\r\n")?;
        }
        Ok(())
    }
}

fn parse_ms(v: &[u8]) -> Result<u32, DtmfInfoError> {
    if v.is_empty() || v.len() > 10 || !v.iter().all(u8::is_ascii_digit) {
        return Err(DtmfInfoError::InvalidDuration);
    }
    v.iter()
        .try_fold(0u32, |acc, &c| {
            acc.checked_mul(10)?.checked_add(u32::from(c - b'0'))
        })
        .ok_or(DtmfInfoError::InvalidDuration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(c: char) -> DtmfSignal {
        DtmfSignal::from_char(c).unwrap()
    }

    #[test]
    fn parses_the_common_relay_body() {
        assert_eq!(
            DtmfRelay::parse(b"Signal=5\r\nDuration=160\r\n"),
            Ok(DtmfRelay {
                signal: sig('5'),
                duration_ms: Some(160)
            })
        );
        // LF only, spaces, lower-case keys, no duration, unknown keys and junk lines.
        assert_eq!(
            DtmfRelay::parse(b"signal = # \nfoo=bar\ngarbage\n"),
            Ok(DtmfRelay {
                signal: DtmfSignal::Pound,
                duration_ms: None
            })
        );
        assert_eq!(DtmfRelay::parse(b"Signal=d").unwrap().signal, DtmfSignal::D);
    }

    #[test]
    fn event_codes_10_to_15_are_accepted_as_signals() {
        assert_eq!(
            DtmfRelay::parse(b"Signal=10\r\n").unwrap().signal,
            DtmfSignal::Star
        );
        assert_eq!(
            DtmfRelay::parse(b"Signal=11\r\n").unwrap().signal,
            DtmfSignal::Pound
        );
        assert_eq!(
            DtmfRelay::parse(b"Signal=15\r\n").unwrap().signal,
            DtmfSignal::D
        );
        for code in 0..16 {
            let s = DtmfSignal::from_event_code(code).unwrap();
            assert_eq!(s.event_code(), code);
            assert_eq!(DtmfSignal::from_char(s.as_char()), Some(s));
        }
        assert_eq!(DtmfSignal::from_event_code(16), None);
    }

    #[test]
    fn rejects_what_it_cannot_use_with_typed_errors() {
        let cases: [(&[u8], DtmfInfoError); 9] = [
            (b"", DtmfInfoError::MissingSignal),
            (b"Duration=100\r\n", DtmfInfoError::MissingSignal),
            (b"Signal=E\r\n", DtmfInfoError::InvalidSignal),
            (b"Signal=16\r\n", DtmfInfoError::InvalidSignal),
            (b"Signal=\r\n", DtmfInfoError::InvalidSignal),
            (b"Signal=1\r\nSignal=2\r\n", DtmfInfoError::DuplicateSignal),
            (
                b"Signal=1\r\nDuration=-5\r\n",
                DtmfInfoError::InvalidDuration,
            ),
            (
                b"Signal=1\r\nDuration=4294967296\r\n",
                DtmfInfoError::InvalidDuration,
            ),
            ("Signal=\u{e9}".as_bytes(), DtmfInfoError::NotText),
        ];
        for (body, err) in cases {
            assert_eq!(DtmfRelay::parse(body), Err(err), "{body:?}");
        }
        assert_eq!(
            DtmfRelay::parse(&[b'x'; BODY_MAX + 1]),
            Err(DtmfInfoError::TooLong { len: BODY_MAX + 1 })
        );
    }

    #[test]
    fn application_dtmf_is_the_signal_alone() {
        assert_eq!(DtmfRelay::parse_dtmf(b"7\r\n").unwrap().signal, sig('7'));
        assert_eq!(
            DtmfRelay::parse_dtmf(b" * ").unwrap().signal,
            DtmfSignal::Star
        );
        assert_eq!(
            DtmfRelay::parse_dtmf(b"\r\n"),
            Err(DtmfInfoError::MissingSignal)
        );
        assert_eq!(
            DtmfRelay::parse_dtmf(b"12"),
            Ok(DtmfRelay {
                signal: DtmfSignal::A,
                duration_ms: None
            })
        );
        assert_eq!(
            DtmfRelay::parse_dtmf(b"5 5"),
            Err(DtmfInfoError::InvalidSignal)
        );
    }

    #[test]
    fn prints_the_relay_and_dtmf_forms() {
        let r = DtmfRelay {
            signal: DtmfSignal::Star,
            duration_ms: Some(250),
        };
        assert_eq!(r.to_body(), b"Signal=*\r\nDuration=250\r\n");
        assert_eq!(r.to_dtmf_body(), b"*");
        assert_eq!(DtmfRelay::parse(&r.to_body()), Ok(r));
        assert_eq!(
            DtmfFormat::Relay.content_type().to_string(),
            "application/dtmf-relay"
        );
    }

    #[test]
    fn reads_the_event_of_an_info_request() {
        let info = |ct: &str, body: &str| {
            Request::parse(
                format!(
                    "INFO sip:tandem@192.0.2.10 SIP/2.0\r\n\
                    Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-i\r\n\
                    From: <sip:a@example.com>;tag=a\r\nTo: <sip:t@example.com>;tag=t\r\n\
                    Call-ID: i@192.0.2.1\r\nCSeq: 3 INFO\r\n{ct}\
                    Content-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .unwrap()
        };
        let r = info(
            "Content-Type: application/dtmf-relay\r\n",
            "Signal=9\r\nDuration=100\r\n",
        );
        assert_eq!(
            DtmfRelay::from_request(&r).unwrap().unwrap().signal,
            sig('9')
        );
        let r = info("Content-Type: Application/DTMF\r\n", "#");
        assert_eq!(
            DtmfRelay::from_request(&r).unwrap().unwrap().signal,
            DtmfSignal::Pound
        );
        let r = info("Content-Type: application/sdp\r\n", "v=0\r\n");
        assert_eq!(DtmfRelay::from_request(&r), Ok(None));
        let r = info("", "");
        assert_eq!(DtmfRelay::from_request(&r), Ok(None));
        let r = info("Content-Type: application/dtmf-relay\r\n", "Signal=X\r\n");
        assert_eq!(
            DtmfRelay::from_request(&r),
            Err(DtmfInfoError::InvalidSignal)
        );
    }
}
