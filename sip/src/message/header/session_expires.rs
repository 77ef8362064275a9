//! Session-Expires and Min-SE (RFC 4028 §4, §5): `delta-seconds *(SEMI params)`.

use std::fmt;

use crate::error::{ParseErrorKind, ValueError};
use crate::message::Params;
use crate::message::grammar;

/// Who refreshes the session (RFC 4028 §4 `refresher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refresher {
    /// The user agent client of the session's INVITE (or UPDATE).
    Uac,
    /// The user agent server.
    Uas,
}

/// A Session-Expires value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionExpires {
    /// The session interval in seconds.
    pub seconds: u32,
    /// Parameters, including `refresher`.
    pub params: Params,
}

impl SessionExpires {
    /// A Session-Expires with an optional refresher.
    pub fn new(seconds: u32, refresher: Option<Refresher>) -> Self {
        let mut params = Params::new();
        if let Some(r) = refresher {
            let v = match r {
                Refresher::Uac => "uac",
                Refresher::Uas => "uas",
            };
            // Constant tokens are valid values.
            let _ = params.set("refresher", Some(v));
        }
        Self { seconds, params }
    }

    /// Parses a Session-Expires value.
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidNumber`], `InvalidParameter` or `TrailingCharacters`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let (seconds, params) = parse_delta_with_params(s)?;
        Ok(Self { seconds, params })
    }

    /// The `refresher` parameter, when it is `uac` or `uas`.
    pub fn refresher(&self) -> Option<Refresher> {
        match self.params.value("refresher") {
            Some(v) if v.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(v) if v.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            _ => None,
        }
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.seconds, self.params)
    }
}

/// Parses `delta-seconds *(SEMI generic-param)`; a number too large for 32 bits saturates
/// (RFC 3261 §20.19's advice for Expires, applied alike).
pub(crate) fn parse_delta_with_params(s: &str) -> Result<(u32, Params), ValueError> {
    let b = s.as_bytes();
    let ds = grammar::skip_ws(b, 0);
    let de = b[ds..]
        .iter()
        .position(|c| !c.is_ascii_digit())
        .map_or(b.len(), |p| ds + p);
    let seconds =
        parse_delta(&b[ds..de]).ok_or(ValueError::new(ParseErrorKind::InvalidNumber, ds))?;
    let (params, end) = Params::parse_generic(b, de)?;
    let end = grammar::skip_ws(b, end);
    if end != b.len() {
        return Err(ValueError::new(ParseErrorKind::TrailingCharacters, end));
    }
    Ok((seconds, params))
}

/// `1*DIGIT`, saturating at `u32::MAX`.
pub(crate) fn parse_delta(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(grammar::parse_u32(digits).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_refresher() {
        let s = SessionExpires::parse("1800 ; refresher=UAS").unwrap();
        assert_eq!(s.seconds, 1800);
        assert_eq!(s.refresher(), Some(Refresher::Uas));
        assert_eq!(
            SessionExpires::new(90, Some(Refresher::Uac)).to_string(),
            "90;refresher=uac"
        );
        assert_eq!(parse_delta(b"99999999999999999999"), Some(u32::MAX));
        assert!(SessionExpires::parse("x").is_err());
        assert!(SessionExpires::parse("90 x").is_err());
    }
}
