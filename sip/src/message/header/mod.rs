//! Typed views of header values, parsed on demand from a [`Headers`] list.
//!
//! Each view is an owned struct with `parse(&str)` and a `Display` that prints its canonical
//! form, so `parse(view.to_string()) == view`. The accessors on [`Headers`] below pick the
//! right values and attach the header's name to any error; optional headers come back as
//! `Ok(None)` when absent. Authorization, Proxy-Authorization, WWW-Authenticate and
//! Proxy-Authenticate are read raw (`headers.first(HeaderName::Authorization)`): the `auth`
//! module parses their parameters.

mod content_type;
mod cseq;
mod date;
mod name_addr;
mod retry_after;
mod session_expires;
mod via;

pub use content_type::ContentType;
pub use cseq::CSeq;
pub use name_addr::{Contact, NameAddr};
pub use retry_after::RetryAfter;
pub use session_expires::{Refresher, SessionExpires};
pub use via::{MAGIC_COOKIE, Transport, Via};

use super::grammar::{self, WORD};
use super::{HeaderName, Headers, Method};
use crate::error::{HeaderError, ParseErrorKind, ValueError};

fn invalid(header: HeaderName) -> impl Fn(ValueError) -> HeaderError {
    move |error| HeaderError::Invalid { header, error }
}

/// Parses the only value of a single-valued header.
fn single<T>(
    headers: &Headers,
    name: HeaderName,
    parse: impl Fn(&str) -> Result<T, ValueError>,
) -> Result<Option<T>, HeaderError> {
    match headers.first(name) {
        None => Ok(None),
        Some(v) => parse(v).map(Some).map_err(invalid(name)),
    }
}

/// Parses `1*DIGIT` with surrounding whitespace, saturating at `u32::MAX`.
fn delta_seconds(s: &str) -> Result<u32, ValueError> {
    let t = grammar::trim_ws(s);
    session_expires::parse_delta(t.as_bytes())
        .ok_or(ValueError::new(ParseErrorKind::InvalidNumber, 0))
}

/// Checks `Call-ID = word [ "@" word ]` (RFC 3261 §25.1).
pub(crate) fn check_call_id(s: &str) -> Result<(), ValueError> {
    let b = s.as_bytes();
    let ok = |w: &[u8]| !w.is_empty() && w.iter().all(|&c| grammar::is(c, WORD));
    let valid = match b.iter().position(|&c| c == b'@') {
        Some(at) => ok(&b[..at]) && ok(&b[at + 1..]),
        None => ok(b),
    };
    if valid {
        Ok(())
    } else {
        let at = b.iter().position(|&c| !grammar::is(c, WORD)).unwrap_or(0);
        Err(ValueError::new(ParseErrorKind::InvalidToken, at))
    }
}

impl Headers {
    /// Every Via value, top first.
    pub fn via(&self) -> impl Iterator<Item = Result<Via, HeaderError>> + '_ {
        self.values(HeaderName::Via)
            .map(|v| Via::parse(v).map_err(invalid(HeaderName::Via)))
    }

    /// The top Via (the one a response travels back on, RFC 3261 §18.2.2).
    ///
    /// # Errors
    /// [`HeaderError::Missing`] or [`HeaderError::Invalid`].
    pub fn top_via(&self) -> Result<Via, HeaderError> {
        self.via()
            .next()
            .unwrap_or(Err(HeaderError::Missing(HeaderName::Via)))
    }

    /// The From header.
    ///
    /// # Errors
    /// [`HeaderError::Missing`] or [`HeaderError::Invalid`].
    pub fn from(&self) -> Result<NameAddr, HeaderError> {
        single(self, HeaderName::From, NameAddr::parse)?
            .ok_or(HeaderError::Missing(HeaderName::From))
    }

    /// The To header.
    ///
    /// # Errors
    /// [`HeaderError::Missing`] or [`HeaderError::Invalid`].
    pub fn to(&self) -> Result<NameAddr, HeaderError> {
        single(self, HeaderName::To, NameAddr::parse)?.ok_or(HeaderError::Missing(HeaderName::To))
    }

    /// The Call-ID.
    ///
    /// # Errors
    /// [`HeaderError::Missing`], or [`HeaderError::Invalid`] when it is not
    /// `word [ "@" word ]`.
    pub fn call_id(&self) -> Result<&str, HeaderError> {
        let v = self
            .first(HeaderName::CallId)
            .ok_or(HeaderError::Missing(HeaderName::CallId))?;
        check_call_id(v).map_err(invalid(HeaderName::CallId))?;
        Ok(v)
    }

    /// The CSeq.
    ///
    /// # Errors
    /// [`HeaderError::Missing`] or [`HeaderError::Invalid`].
    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        single(self, HeaderName::CSeq, CSeq::parse)?.ok_or(HeaderError::Missing(HeaderName::CSeq))
    }

    /// Every Contact value, in order.
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact, HeaderError>> + '_ {
        self.values(HeaderName::Contact)
            .map(|v| Contact::parse(v).map_err(invalid(HeaderName::Contact)))
    }

    /// Every Route value, in order.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr, HeaderError>> + '_ {
        self.values(HeaderName::Route)
            .map(|v| NameAddr::parse(v).map_err(invalid(HeaderName::Route)))
    }

    /// Every Record-Route value, in order.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr, HeaderError>> + '_ {
        self.values(HeaderName::RecordRoute)
            .map(|v| NameAddr::parse(v).map_err(invalid(HeaderName::RecordRoute)))
    }

    /// Max-Forwards.
    ///
    /// # Errors
    /// [`HeaderError::Invalid`] when it is not a number.
    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        single(self, HeaderName::MaxForwards, delta_seconds)
    }

    /// Expires, in seconds (values beyond 32 bits saturate).
    ///
    /// # Errors
    /// [`HeaderError::Invalid`] when it is not a number.
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        single(self, HeaderName::Expires, delta_seconds)
    }

    /// Min-Expires, in seconds.
    ///
    /// # Errors
    /// [`HeaderError::Invalid`] when it is not a number.
    pub fn min_expires(&self) -> Result<Option<u32>, HeaderError> {
        single(self, HeaderName::MinExpires, delta_seconds)
    }

    /// Content-Type.
    ///
    /// # Errors
    /// [`HeaderError::Invalid`] when it is malformed.
    pub fn content_type(&self) -> Result<Option<ContentType>, HeaderError> {
        single(self, HeaderName::ContentType, ContentType::parse)
    }

    /// Retry-After.
    ///
    /// # Errors
    /// [`HeaderError::Invalid`] when it is malformed.
    pub fn retry_after(&self) -> Result<Option<RetryAfter>, HeaderError> {
        single(self, HeaderName::RetryAfter, RetryAfter::parse)
    }

    /// Session-Expires (RFC 4028).
    ///
    /// # Errors
    /// [`HeaderError::Invalid`] when it is malformed.
    pub fn session_expires(&self) -> Result<Option<SessionExpires>, HeaderError> {
        single(self, HeaderName::SessionExpires, SessionExpires::parse)
    }

    /// Min-SE (RFC 4028), in seconds; its parameters are ignored.
    ///
    /// # Errors
    /// [`HeaderError::Invalid`] when it is malformed.
    pub fn min_se(&self) -> Result<Option<u32>, HeaderError> {
        single(self, HeaderName::MinSe, |s| {
            session_expires::parse_delta_with_params(s).map(|(secs, _)| secs)
        })
    }

    /// Checks the Date header, when present, is an RFC 1123 date in GMT (RFC 3261 §20.17).
    ///
    /// # Errors
    /// [`HeaderError::Invalid`] when it is not.
    pub fn check_date(&self) -> Result<(), HeaderError> {
        single(self, HeaderName::Date, |v| {
            date::check_date(grammar::trim_ws(v))
        })
        .map(drop)
    }

    /// The methods of every Allow header.
    pub fn allow(&self) -> impl Iterator<Item = Result<Method, HeaderError>> + '_ {
        self.values(HeaderName::Allow)
            .filter(|v| !v.is_empty())
            .map(|v| Method::parse(v).map_err(invalid(HeaderName::Allow)))
    }

    /// The option tags of every `name` header (Supported, Require, Proxy-Require,
    /// Unsupported), skipping empty values (`Supported:` with nothing listed is legal).
    pub fn option_tags(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.values(name).filter(|v| !v.is_empty())
    }

    /// True when a `name` header lists `tag`, compared exactly as written.
    pub fn has_option_tag(&self, name: HeaderName, tag: &str) -> bool {
        self.option_tags(name).any(|t| t == tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in lines {
            h.push_raw(n, v).unwrap();
        }
        h
    }

    #[test]
    fn accessors_read_typed_values() {
        let h = headers(&[
            ("v", "SIP/2.0/UDP a.example;branch=z9hG4bK1"),
            ("Via", "SIP/2.0/TCP b.example;branch=z9hG4bK2"),
            ("f", "<sip:a@a.example>;tag=1"),
            ("t", "sip:b@b.example"),
            ("i", "abc@host"),
            ("CSeq", "2 INVITE"),
            ("Max-Forwards", "70"),
            ("Expires", "99999999999"),
            ("k", "timer"),
            ("Allow", "INVITE"),
        ]);
        assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK1"));
        assert_eq!(h.via().count(), 2);
        assert_eq!(h.from().unwrap().tag(), Some("1"));
        assert_eq!(h.to().unwrap().tag(), None);
        assert_eq!(h.call_id(), Ok("abc@host"));
        assert_eq!(h.cseq().unwrap().seq, 2);
        assert_eq!(h.max_forwards(), Ok(Some(70)));
        assert_eq!(h.expires(), Ok(Some(u32::MAX)));
        assert_eq!(h.min_expires(), Ok(None));
        assert!(h.has_option_tag(HeaderName::Supported, "timer"));
        assert_eq!(h.allow().collect::<Vec<_>>(), [Ok(Method::Invite)]);
    }

    #[test]
    fn errors_name_the_header() {
        let h = headers(&[("CSeq", "x INVITE"), ("Call-ID", "a b")]);
        assert!(matches!(
            h.cseq(),
            Err(HeaderError::Invalid {
                header: HeaderName::CSeq,
                ..
            })
        ));
        assert!(h.call_id().is_err());
        assert_eq!(h.from(), Err(HeaderError::Missing(HeaderName::From)));
        assert_eq!(h.top_via(), Err(HeaderError::Missing(HeaderName::Via)));
    }
}
