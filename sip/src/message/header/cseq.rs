//! CSeq (RFC 3261 §20.16): `1*DIGIT LWS Method`.

use std::fmt;

use crate::error::{ParseErrorKind, ValueError};
use crate::message::Method;
use crate::message::grammar;

/// A CSeq value: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// The sequence number. RFC 3261 §8.1.1.5 keeps generated numbers below 2³¹; any 32-bit
    /// number is accepted on input.
    pub seq: u32,
    /// The method; it must match the request's (§8.1.1.5).
    pub method: Method,
}

impl CSeq {
    /// A CSeq.
    pub fn new(seq: u32, method: Method) -> Self {
        Self { seq, method }
    }

    /// Parses a CSeq value.
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidNumber`], `InvalidMethod` or `TrailingCharacters`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let ds = grammar::skip_ws(b, 0);
        let de = b[ds..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(b.len(), |p| ds + p);
        let seq = grammar::parse_u32(&b[ds..de])
            .ok_or(ValueError::new(ParseErrorKind::InvalidNumber, ds))?;
        let ms = grammar::skip_ws(b, de);
        if ms == de {
            return Err(ValueError::new(ParseErrorKind::InvalidMethod, de));
        }
        let me = grammar::scan_token(b, ms);
        let method = Method::parse(&s[ms..me]).map_err(|e| ValueError::new(e.kind, ms))?;
        let end = grammar::skip_ws(b, me);
        if end != b.len() {
            return Err(ValueError::new(ParseErrorKind::TrailingCharacters, end));
        }
        Ok(Self { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

impl std::str::FromStr for CSeq {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!(
            CSeq::parse("314159 INVITE"),
            Ok(CSeq::new(314159, Method::Invite))
        );
        assert_eq!(
            CSeq::parse(" 0\t NEWMETHOD "),
            Ok(CSeq::new(0, Method::Extension("NEWMETHOD".into())))
        );
        assert_eq!(CSeq::new(7, Method::Bye).to_string(), "7 BYE");
        for bad in [
            "INVITE",
            "1INVITE",
            "1 IN VITE",
            "4294967296 INVITE",
            "-1 INVITE",
            "1 ",
        ] {
            assert!(CSeq::parse(bad).is_err(), "{bad}");
        }
    }
}
