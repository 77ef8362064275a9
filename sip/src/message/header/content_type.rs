//! Content-Type (RFC 3261 §20.15): `m-type SLASH m-subtype *(SEMI m-parameter)`.

use std::fmt;

use crate::error::{ParseErrorKind, ValueError};
use crate::message::Params;
use crate::message::grammar;

/// A media type such as `application/sdp`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentType {
    /// The type (`application`), as written.
    pub mtype: String,
    /// The subtype (`sdp`), as written.
    pub subtype: String,
    /// Parameters (`;charset=…`).
    pub params: Params,
}

impl ContentType {
    /// `application/sdp`, the type of an SDP offer or answer (RFC 3264).
    pub fn sdp() -> Self {
        Self {
            mtype: "application".into(),
            subtype: "sdp".into(),
            params: Params::new(),
        }
    }

    /// True when this is `type/subtype`, case-insensitively (RFC 3261 §7.3.1).
    pub fn is(&self, mtype: &str, subtype: &str) -> bool {
        self.mtype.eq_ignore_ascii_case(mtype) && self.subtype.eq_ignore_ascii_case(subtype)
    }

    /// Parses a Content-Type value.
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidToken`], `InvalidParameter` or `TrailingCharacters`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let ts = grammar::skip_ws(b, 0);
        let te = grammar::scan_token(b, ts);
        let slash = grammar::skip_ws(b, te);
        if te == ts || b.get(slash) != Some(&b'/') {
            return Err(ValueError::new(ParseErrorKind::InvalidToken, ts));
        }
        let ss = grammar::skip_ws(b, slash + 1);
        let se = grammar::scan_token(b, ss);
        if se == ss {
            return Err(ValueError::new(ParseErrorKind::InvalidToken, ss));
        }
        let (params, end) = Params::parse_generic(b, se)?;
        let end = grammar::skip_ws(b, end);
        if end != b.len() {
            return Err(ValueError::new(ParseErrorKind::TrailingCharacters, end));
        }
        Ok(Self {
            mtype: s[ts..te].to_owned(),
            subtype: s[ss..se].to_owned(),
            params,
        })
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.mtype, self.subtype, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_subtype_and_params() {
        let c = ContentType::parse("Application / SDP ; charset=utf-8").unwrap();
        assert!(c.is("application", "sdp"));
        assert_eq!(c.params.value("charset"), Some("utf-8"));
        assert_eq!(c.to_string(), "Application/SDP;charset=utf-8");
        assert!(ContentType::parse("application").is_err());
        assert!(ContentType::parse("application/").is_err());
        assert!(ContentType::parse("a/b c").is_err());
    }
}
