//! Retry-After (RFC 3261 §20.33): `delta-seconds [comment] *(SEMI retry-param)`.

use std::fmt;

use crate::error::{ParseErrorKind, ValueError};
use crate::message::Params;
use crate::message::grammar;

use super::session_expires::parse_delta;

/// A Retry-After value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RetryAfter {
    /// Seconds to wait.
    pub seconds: u32,
    /// The comment, without its parentheses.
    pub comment: Option<String>,
    /// Parameters (`;duration=…`).
    pub params: Params,
}

impl RetryAfter {
    /// Parses a Retry-After value.
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidNumber`], `UnterminatedQuote` (comment), `InvalidParameter` or
    /// `TrailingCharacters`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let ds = grammar::skip_ws(b, 0);
        let de = b[ds..]
            .iter()
            .position(|c| !c.is_ascii_digit())
            .map_or(b.len(), |p| ds + p);
        let seconds =
            parse_delta(&b[ds..de]).ok_or(ValueError::new(ParseErrorKind::InvalidNumber, ds))?;
        let mut i = grammar::skip_ws(b, de);
        let mut comment = None;
        if b.get(i) == Some(&b'(') {
            let end = scan_comment(b, i)?;
            comment = Some(s[i + 1..end - 1].to_owned());
            i = end;
        }
        let (params, end) = Params::parse_generic(b, i)?;
        let end = grammar::skip_ws(b, end);
        if end != b.len() {
            return Err(ValueError::new(ParseErrorKind::TrailingCharacters, end));
        }
        Ok(Self {
            seconds,
            comment,
            params,
        })
    }
}

/// Index just past a (possibly nested) comment starting at `i`.
fn scan_comment(b: &[u8], i: usize) -> Result<usize, ValueError> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j + 1);
                }
            }
            b'\\' => j += 1,
            _ => {}
        }
        j += 1;
    }
    Err(ValueError::new(ParseErrorKind::UnterminatedQuote, i))
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seconds)?;
        if let Some(c) = &self.comment {
            write!(f, " ({c})")?;
        }
        write!(f, "{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comment_and_params() {
        let r = RetryAfter::parse("18000;duration=3600").unwrap();
        assert_eq!(
            (r.seconds, r.params.value("duration")),
            (18000, Some("3600"))
        );
        let r = RetryAfter::parse("120 (I'm in a (long) meeting)").unwrap();
        assert_eq!(r.comment.as_deref(), Some("I'm in a (long) meeting"));
        assert_eq!(RetryAfter::parse(&r.to_string()), Ok(r));
        assert!(RetryAfter::parse("120 (open").is_err());
    }
}
