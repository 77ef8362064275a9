//! name-addr / addr-spec with header parameters: From, To, Contact, Route, Record-Route
//! (RFC 3261 §20.10, §20.20, §20.30, §20.34, §20.39, §25.1).
//!
//! A value is `[display-name] <URI> *(SEMI param)` or `URI *(SEMI param)` (addr-spec: then
//! the URI ends at the first `;`, which starts the header's parameters, §20.10). Display names
//! are stored unquoted with escapes removed; printing always quotes them and always puts the
//! URI in angle brackets, so the printed form is unambiguous.

use std::fmt;

use crate::error::{ParseErrorKind, ValueError};
use crate::message::grammar::{self, TOKEN};
use crate::message::{Params, Uri};

/// An address with an optional display name and header parameters (`tag`, `expires`, `q`…).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameAddr {
    /// The display name, unquoted and unescaped.
    pub display_name: Option<String>,
    /// The address.
    pub uri: Uri,
    /// The header parameters after the address.
    pub params: Params,
}

impl NameAddr {
    /// An address with no display name or parameters.
    pub fn new(uri: impl Into<Uri>) -> Self {
        Self {
            display_name: None,
            uri: uri.into(),
            params: Params::new(),
        }
    }

    /// Parses one value.
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidDisplayName`], `UnterminatedQuote`, `UnterminatedAngle`, a URI
    /// error, `InvalidParameter` or `TrailingCharacters`, with the offset in `s`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let start = grammar::skip_ws(b, 0);
        let mut display_name = None;
        let mut i = start;
        if b.get(i) == Some(&b'"') {
            let end = grammar::scan_quoted(b, i)?;
            display_name = Some(grammar::unquote(&s[i + 1..end - 1]));
            i = grammar::skip_ws(b, end);
            if b.get(i) != Some(&b'<') {
                return Err(ValueError::new(ParseErrorKind::InvalidDisplayName, i));
            }
        } else if let Some(lt) = b.iter().position(|&c| c == b'<') {
            // display-name = *(token LWS): everything before "<" must be tokens and spaces (we
            // also let through UTF-8, which real user agents send unquoted).
            let name = &b[start..lt];
            if let Some(p) = name
                .iter()
                .position(|&c| !(grammar::is(c, TOKEN) || grammar::is_ws(c) || c >= 0x80))
            {
                return Err(ValueError::new(
                    ParseErrorKind::InvalidDisplayName,
                    start + p,
                ));
            }
            let name = grammar::trim_ws(&s[start..lt]);
            if !name.is_empty() {
                display_name = Some(name.to_owned());
            }
            i = lt;
        }
        let (uri, after) = if b.get(i) == Some(&b'<') {
            let close = b[i..]
                .iter()
                .position(|&c| c == b'>')
                .map(|p| i + p)
                .ok_or(ValueError::new(ParseErrorKind::UnterminatedAngle, i))?;
            let uri = Uri::parse(&s[i + 1..close]).map_err(|e| e.shifted(i + 1))?;
            (uri, close + 1)
        } else {
            // addr-spec: the URI cannot hold ";", "," or whitespace here (§20.10).
            let end = b[i..]
                .iter()
                .position(|&c| c == b';' || c == b',' || grammar::is_ws(c))
                .map_or(b.len(), |p| i + p);
            if end == i {
                return Err(ValueError::new(ParseErrorKind::InvalidUri, i));
            }
            // A URI with headers must be in angle brackets (§20.10; RFC 4475 §3.1.2.13).
            if let Some(q) = b[i..end].iter().position(|&c| c == b'?') {
                return Err(ValueError::new(ParseErrorKind::InvalidUri, i + q));
            }
            (Uri::parse(&s[i..end]).map_err(|e| e.shifted(i))?, end)
        };
        let (params, end) = Params::parse_generic(b, after)?;
        let end = grammar::skip_ws(b, end);
        if end != b.len() {
            return Err(ValueError::new(ParseErrorKind::TrailingCharacters, end));
        }
        Ok(Self {
            display_name,
            uri,
            params,
        })
    }

    /// The `tag` parameter (From/To, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.value("tag")
    }

    /// Sets the `tag` parameter.
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidParameter`] when `tag` is not a token or holds a character
    /// [`Params::set`] refuses (`` ` ``, or `%` outside an escape).
    pub fn set_tag(&mut self, tag: &str) -> Result<(), ValueError> {
        if !grammar::is_token(tag.as_bytes()) {
            return Err(ValueError::new(ParseErrorKind::InvalidParameter, 0));
        }
        self.params.set("tag", Some(tag))
    }

    /// The same address with a `tag` (builder form of [`NameAddr::set_tag`]).
    ///
    /// # Errors
    /// As [`NameAddr::set_tag`].
    pub fn with_tag(mut self, tag: &str) -> Result<Self, ValueError> {
        self.set_tag(tag)?;
        Ok(self)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.display_name {
            let mut q = String::with_capacity(name.len() + 3);
            grammar::write_quoted(&mut q, name);
            f.write_str(&q)?;
            f.write_str(" ")?;
        }
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

impl std::str::FromStr for NameAddr {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// One Contact value (RFC 3261 §20.10): an address, or `*` in a REGISTER that removes every
/// binding (§10.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Contact {
    /// `*`.
    Wildcard,
    /// An address with its parameters (`expires`, `q`…).
    Address(NameAddr),
}

impl Contact {
    /// Parses one Contact value.
    ///
    /// # Errors
    /// As [`NameAddr::parse`].
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        if grammar::trim_ws(s) == "*" {
            return Ok(Self::Wildcard);
        }
        NameAddr::parse(s).map(Self::Address)
    }

    /// The address, unless this is `*`.
    pub fn address(&self) -> Option<&NameAddr> {
        match self {
            Self::Wildcard => None,
            Self::Address(a) => Some(a),
        }
    }

    /// The `expires` parameter as seconds, when present and numeric.
    pub fn expires(&self) -> Option<u32> {
        self.address()?
            .params
            .value("expires")
            .and_then(|v| grammar::parse_u32(v.as_bytes()))
    }
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Wildcard => f.write_str("*"),
            Self::Address(a) => a.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_three_forms() {
        let a = NameAddr::parse(r#""Bob \"B\" Smith" <sip:bob@biloxi.com>;tag=a6c85cf"#).unwrap();
        assert_eq!(a.display_name.as_deref(), Some(r#"Bob "B" Smith"#));
        assert_eq!(a.tag(), Some("a6c85cf"));
        let a = NameAddr::parse("Bob  Smith <sip:bob@biloxi.com;lr>").unwrap();
        assert_eq!(a.display_name.as_deref(), Some("Bob  Smith"));
        assert!(a.uri.as_sip().unwrap().lr());
        assert!(a.params.is_empty());
        let a = NameAddr::parse("sip:bob@biloxi.com;tag=1928301774").unwrap();
        assert_eq!(a.display_name, None);
        assert!(a.uri.as_sip().unwrap().params.is_empty());
        assert_eq!(a.tag(), Some("1928301774"));
        assert_eq!(a.to_string(), "<sip:bob@biloxi.com>;tag=1928301774");
    }

    #[test]
    fn printing_quotes_and_reparses() {
        let a = NameAddr::parse(r#""a\\b\"c" <sip:x@y>;tag=1"#).unwrap();
        assert_eq!(a.to_string(), r#""a\\b\"c" <sip:x@y>;tag=1"#);
        assert_eq!(NameAddr::parse(&a.to_string()), Ok(a));
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            r#""unterminated <sip:x@y>"#,
            "<sip:x@y",
            r#""a" sip:x@y"#,
            "Bob@ <sip:x@y>",
            "<sip:x@y> junk",
            "",
            "<>",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn contact_wildcard_and_expires() {
        assert_eq!(Contact::parse(" * "), Ok(Contact::Wildcard));
        let c = Contact::parse("<sip:a@b>;expires=60;q=0.5").unwrap();
        assert_eq!(c.expires(), Some(60));
    }
}
