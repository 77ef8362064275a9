//! The auth-param grammar shared by challenges and credentials (RFC 7235 §2.1, RFC 3261 §25.1):
//! a comma-separated list of `scheme [ 1*SP ( token68 / #auth-param ) ]`.
//!
//! Tolerances, each one something real peers send:
//! - whitespace (SP, HTAB, CR, LF) around names, `=` and commas; empty list elements (`, ,`);
//! - parameter names in any case (matching is the caller's, with [`ParamName::matches`]);
//! - a value may be a quoted string or bare text; bare text runs to the next whitespace or
//!   comma, so unquoted `uri=sip:a@b;x=y` and `nonce=abc==` parse;
//! - escapes (`\"`, `\\`, any `\c`) inside quoted strings; a folded line (CRLF then
//!   whitespace) inside a quoted string becomes one space (RFC 3261 §7.3.1).
//!
//! Rejected: control characters other than HTAB inside values (no CR or LF can reach a
//! printed header), unterminated quoted strings, more than [`MAX_CHALLENGES`] challenges or
//! [`MAX_PARAMS`] parameters per challenge. The parser is linear in the input, never panics
//! and allocates only the parameter vectors and values that contained escapes.
//!
//! [`write_quoted`] is the printing side: it escapes `"` and `\` and drops what no quoted
//! string may carry.

use std::borrow::Cow;
use std::fmt;

use crate::auth::error::AuthError;

/// Most challenges accepted in one header value (a registrar offers two or three).
pub const MAX_CHALLENGES: usize = 16;
/// Most parameters accepted in one challenge or credentials (Digest defines thirteen).
pub const MAX_PARAMS: usize = 32;

/// The Digest parameters this module understands (RFC 7616 §3.3 and §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParamName {
    /// `realm`
    Realm,
    /// `domain`
    Domain,
    /// `nonce`
    Nonce,
    /// `opaque`
    Opaque,
    /// `stale`
    Stale,
    /// `algorithm`
    Algorithm,
    /// `qop` (a list in challenges, one value in credentials)
    Qop,
    /// `username`
    Username,
    /// `uri` (the digest-uri)
    Uri,
    /// `response` (the request-digest)
    Response,
    /// `cnonce`
    Cnonce,
    /// `nc` (the nonce count)
    Nc,
}

impl ParamName {
    /// The parameter's name as printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Realm => "realm",
            Self::Domain => "domain",
            Self::Nonce => "nonce",
            Self::Opaque => "opaque",
            Self::Stale => "stale",
            Self::Algorithm => "algorithm",
            Self::Qop => "qop",
            Self::Username => "username",
            Self::Uri => "uri",
            Self::Response => "response",
            Self::Cnonce => "cnonce",
            Self::Nc => "nc",
        }
    }

    /// Whether `name` is this parameter, ignoring ASCII case (RFC 7235 §2.1).
    pub fn matches(self, name: &str) -> bool {
        self.as_str().eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for ParamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `name=value` pair; the value is unquoted and unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: Cow<'a, str>,
}

/// One challenge or credentials: the scheme and either parameters or a token68.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemeParams<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) token68: Option<&'a str>,
    pub(crate) params: Vec<Param<'a>>,
}

impl<'a> SchemeParams<'a> {
    /// Whether the scheme is `Digest` (case-insensitive, RFC 7235 §2.1).
    pub(crate) fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }

    /// Checks this is a parameter list of the Digest scheme, then collects the known
    /// parameters, rejecting duplicates (RFC 7235 §2.1: each name once). Unknown parameters
    /// are ignored (RFC 7616 §3.3, §3.4: "unrecognized … MUST be ignored").
    pub(crate) fn digest_params(&self) -> Result<KnownParams<'_>, AuthError> {
        if !self.is_digest() {
            return Err(AuthError::NotDigest);
        }
        if self.token68.is_some() {
            return Err(AuthError::Token68);
        }
        let mut known = KnownParams::default();
        for param in &self.params {
            let Some(name) = KNOWN.iter().copied().find(|n| n.matches(param.name)) else {
                continue;
            };
            let slot = known.slot(name);
            if slot.is_some() {
                return Err(AuthError::DuplicateParameter(name));
            }
            *slot = Some(&param.value);
        }
        Ok(known)
    }
}

const KNOWN: [ParamName; 12] = [
    ParamName::Realm,
    ParamName::Domain,
    ParamName::Nonce,
    ParamName::Opaque,
    ParamName::Stale,
    ParamName::Algorithm,
    ParamName::Qop,
    ParamName::Username,
    ParamName::Uri,
    ParamName::Response,
    ParamName::Cnonce,
    ParamName::Nc,
];

/// The values of the known Digest parameters present in one challenge or credentials.
#[derive(Debug, Default)]
pub(crate) struct KnownParams<'p> {
    values: [Option<&'p str>; KNOWN.len()],
}

impl<'p> KnownParams<'p> {
    fn slot(&mut self, name: ParamName) -> &mut Option<&'p str> {
        &mut self.values[name as usize]
    }

    /// The value of `name`, if present.
    pub(crate) fn get(&self, name: ParamName) -> Option<&'p str> {
        self.values[name as usize]
    }

    /// The value of `name`, or [`AuthError::MissingParameter`].
    pub(crate) fn require(&self, name: ParamName) -> Result<&'p str, AuthError> {
        self.get(name).ok_or(AuthError::MissingParameter(name))
    }
}

/// Splits a header value into challenges (or credentials), each with its parameters.
///
/// # Errors
///
/// [`AuthError::Empty`] when the value holds only whitespace and commas; grammar errors
/// carry the byte offset where parsing stopped.
pub(crate) fn parse_list(input: &str) -> Result<Vec<SchemeParams<'_>>, AuthError> {
    let mut cursor = Cursor { input, pos: 0 };
    let mut list = Vec::new();
    loop {
        cursor.skip_separators();
        if cursor.at_end() {
            break;
        }
        if list.len() == MAX_CHALLENGES {
            return Err(AuthError::TooManyChallenges {
                max: MAX_CHALLENGES,
            });
        }
        list.push(cursor.scheme_params()?);
    }
    if list.is_empty() {
        return Err(AuthError::Empty);
    }
    Ok(list)
}

struct Cursor<'a> {
    input: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Skips whitespace; returns whether there was any.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Skips whitespace and commas (empty list elements).
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n' | b',')) {
            self.pos += 1;
        }
    }

    /// Consumes a run of `tchar` (RFC 7230 §3.2.6), possibly empty.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    fn unexpected(&self) -> AuthError {
        AuthError::UnexpectedCharacter { at: self.pos }
    }

    /// `scheme [ 1*SP ( token68 / #auth-param ) ]`, leaving the cursor before the comma that
    /// starts the next challenge (or at the end).
    fn scheme_params(&mut self) -> Result<SchemeParams<'a>, AuthError> {
        let scheme = self.token();
        if scheme.is_empty() {
            return Err(self.unexpected());
        }
        let mut item = SchemeParams {
            scheme,
            token68: None,
            params: Vec::new(),
        };
        let spaced = self.skip_ws();
        if self.at_end() {
            return Ok(item);
        }
        if self.peek() != Some(b',') {
            if !spaced {
                return Err(self.unexpected());
            }
            // A token68 can only come right after the scheme, before any comma.
            if let Some(token68) = self.try_token68() {
                item.token68 = Some(token68);
                return Ok(item);
            }
        }
        loop {
            let separators_start = self.pos;
            self.skip_separators();
            if self.at_end() {
                return Ok(item);
            }
            let after_comma = self.input[separators_start..self.pos].contains(',');
            let element_start = self.pos;
            let name = self.token();
            if name.is_empty() {
                return Err(self.unexpected());
            }
            self.skip_ws();
            if self.peek() != Some(b'=') {
                // Not `name=`: this token is the scheme of the next challenge, which must
                // follow a comma.
                if !after_comma {
                    return Err(AuthError::UnexpectedCharacter { at: element_start });
                }
                self.pos = element_start;
                return Ok(item);
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value()?;
            if item.params.len() == MAX_PARAMS {
                return Err(AuthError::TooManyParameters { max: MAX_PARAMS });
            }
            item.params.push(Param { name, value });
            self.skip_ws();
            match self.peek() {
                None | Some(b',') => {}
                Some(_) => return Err(self.unexpected()),
            }
        }
    }

    /// A token68 (RFC 7235 §2.1) followed by the end or a comma; otherwise rewinds.
    fn try_token68(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(is_token68_char) {
            self.pos += 1;
        }
        let body_end = self.pos;
        while self.peek() == Some(b'=') {
            self.pos += 1;
        }
        let end = self.pos;
        self.skip_ws();
        let terminated = self.at_end() || self.peek() == Some(b',');
        // `abc=` followed by a value is a parameter, not a token68.
        if body_end == start || !terminated {
            self.pos = start;
            return None;
        }
        Some(&self.input[start..end])
    }

    /// A quoted string or bare text up to whitespace or a comma.
    fn value(&mut self) -> Result<Cow<'a, str>, AuthError> {
        if self.peek() == Some(b'"') {
            return self.quoted_string();
        }
        let start = self.pos;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b',' => break,
                b'"' => return Err(self.unexpected()),
                _ if is_forbidden_control(b) => {
                    return Err(AuthError::ControlCharacter { at: self.pos });
                }
                _ => self.pos += 1,
            }
        }
        Ok(Cow::Borrowed(&self.input[start..self.pos]))
    }

    /// `DQUOTE *(qdtext / quoted-pair) DQUOTE`, unescaped.
    fn quoted_string(&mut self) -> Result<Cow<'a, str>, AuthError> {
        let open = self.pos;
        self.pos += 1;
        let content_start = self.pos;
        let bytes = self.input.as_bytes();
        let mut owned: Option<String> = None;
        // Start of the run of plain text not yet copied into `owned`.
        let mut run_start = content_start;
        loop {
            let Some(b) = self.peek() else {
                return Err(AuthError::UnterminatedQuotedString { at: open });
            };
            match b {
                b'"' => {
                    let tail = &self.input[run_start..self.pos];
                    self.pos += 1;
                    return Ok(match owned {
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                        None => Cow::Borrowed(tail),
                    });
                }
                b'\\' => {
                    let escaped_at = self.pos + 1;
                    let Some(&next) = bytes.get(escaped_at) else {
                        return Err(AuthError::UnterminatedQuotedString { at: open });
                    };
                    if is_forbidden_control(next) {
                        return Err(AuthError::ControlCharacter { at: escaped_at });
                    }
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.input[run_start..self.pos]);
                    // The escaped character may be multi-byte UTF-8: copy all of it.
                    let width = utf8_width(next);
                    let end = (escaped_at + width).min(self.input.len());
                    let Some(escaped) = self.input.get(escaped_at..end) else {
                        return Err(AuthError::UnexpectedCharacter { at: escaped_at });
                    };
                    s.push_str(escaped);
                    self.pos = end;
                    run_start = end;
                }
                b'\r' | b'\n' => {
                    // A fold (CRLF or a lone LF, then whitespace) is one space; anything else
                    // is a control character.
                    let mut after = self.pos + 1;
                    if b == b'\r' && bytes.get(after) == Some(&b'\n') {
                        after += 1;
                    }
                    if !matches!(bytes.get(after), Some(b' ' | b'\t')) {
                        return Err(AuthError::ControlCharacter { at: self.pos });
                    }
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.input[run_start..self.pos]);
                    s.push(' ');
                    while matches!(bytes.get(after), Some(b' ' | b'\t')) {
                        after += 1;
                    }
                    self.pos = after;
                    run_start = after;
                }
                _ if is_forbidden_control(b) => {
                    return Err(AuthError::ControlCharacter { at: self.pos });
                }
                _ => self.pos += 1,
            }
        }
    }
}

/// RFC 7230 §3.2.6 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 7235 §2.1 `token68` body characters (the trailing `=` are handled apart).
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

/// Control characters no value may hold: all C0 controls but HTAB, and DEL. CR and LF are
/// handled apart (folding) by the quoted-string scanner.
fn is_forbidden_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

/// Length of the UTF-8 sequence that starts with `lead`.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// Writes `value` as a quoted string: `"` and `\` are escaped, and characters no quoted
/// string may carry (CR, LF and other controls but HTAB, RFC 3261 §25.1) are dropped, so a
/// printed header can never be split. Values that came out of the parser never hold those.
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    f.write_str("\"")?;
    let mut rest = value;
    while let Some(i) = rest.find(|c: char| matches!(c, '"' | '\\') || is_forbidden_char(c)) {
        f.write_str(&rest[..i])?;
        let c = rest.as_bytes()[i];
        if c == b'"' || c == b'\\' {
            f.write_str("\\")?;
            f.write_str(&rest[i..=i])?;
        }
        rest = &rest[i + 1..];
    }
    f.write_str(rest)?;
    f.write_str("\"")
}

fn is_forbidden_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(|b| b == b'\r' || b == b'\n' || is_forbidden_control(b))
}

/// Whether `value` can be printed as a quoted string without losing characters.
pub(crate) fn is_printable_quoted(value: &str) -> bool {
    !value.chars().any(is_forbidden_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_and_values<'a>(item: &'a SchemeParams<'a>) -> Vec<(&'a str, &'a str)> {
        item.params
            .iter()
            .map(|p| (p.name, p.value.as_ref()))
            .collect()
    }

    #[test]
    fn known_names_are_indexed_by_their_discriminant() {
        for (i, name) in KNOWN.iter().enumerate() {
            assert_eq!(*name as usize, i, "{name}");
        }
    }

    #[test]
    fn splits_two_challenges_in_one_value() {
        let list =
            parse_list(r#"Digest realm="a", nonce="n1", Digest realm="b",nonce=n2"#).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            names_and_values(&list[0]),
            [("realm", "a"), ("nonce", "n1")]
        );
        assert_eq!(
            names_and_values(&list[1]),
            [("realm", "b"), ("nonce", "n2")]
        );
    }

    #[test]
    fn skips_token68_schemes_between_digest_challenges() {
        let list = parse_list(r#"Negotiate YIIx+/==, Basic realm="x", Digest realm=y"#).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].token68, Some("YIIx+/=="));
        assert_eq!(list[1].scheme, "Basic");
        assert_eq!(names_and_values(&list[2]), [("realm", "y")]);
    }

    #[test]
    fn tolerates_whitespace_empty_elements_and_folds() {
        let list = parse_list(" ,Digest \t realm = \"a b\" ,, nonce\r\n =\"x\r\n y\" , ").unwrap();
        assert_eq!(
            names_and_values(&list[0]),
            [("realm", "a b"), ("nonce", "x y")]
        );
    }

    #[test]
    fn unescapes_quoted_pairs_including_multibyte() {
        let list = parse_list(r#"Digest realm="a\"b\\c\é""#).unwrap();
        assert_eq!(names_and_values(&list[0]), [("realm", "a\"b\\cé")]);
    }

    #[test]
    fn a_lone_word_after_the_scheme_is_a_token68() {
        let list = parse_list("Digest realm").unwrap();
        assert_eq!(list[0].token68, Some("realm"));
        assert_eq!(list[0].digest_params().unwrap_err(), AuthError::Token68);
    }

    #[test]
    fn bare_values_run_to_the_next_comma() {
        let list = parse_list("Digest uri=sip:a@b;x=y, nonce=abc==").unwrap();
        assert_eq!(
            names_and_values(&list[0]),
            [("uri", "sip:a@b;x=y"), ("nonce", "abc==")]
        );
    }

    #[test]
    fn rejects_broken_grammar_with_offsets() {
        assert_eq!(parse_list(" , "), Err(AuthError::Empty));
        assert_eq!(
            parse_list(r#"Digest realm="abc"#),
            Err(AuthError::UnterminatedQuotedString { at: 13 })
        );
        assert_eq!(
            parse_list("Digest realm=\"a\rb\""),
            Err(AuthError::ControlCharacter { at: 15 })
        );
        assert_eq!(
            parse_list("Digest realm=\"a\" nonce=\"b\""),
            Err(AuthError::UnexpectedCharacter { at: 17 })
        );
        assert_eq!(
            parse_list("Digest realm=a b"),
            Err(AuthError::UnexpectedCharacter { at: 15 })
        );
        assert_eq!(
            parse_list("Digest=realm"),
            Err(AuthError::UnexpectedCharacter { at: 6 })
        );
    }

    #[test]
    fn bounds_the_number_of_parameters_and_challenges() {
        let many_params = format!("Digest {}", vec!["a=b"; MAX_PARAMS + 1].join(","));
        assert_eq!(
            parse_list(&many_params),
            Err(AuthError::TooManyParameters { max: MAX_PARAMS })
        );
        let many_challenges = vec!["Basic x"; MAX_CHALLENGES + 1].join(",");
        assert_eq!(
            parse_list(&many_challenges),
            Err(AuthError::TooManyChallenges {
                max: MAX_CHALLENGES
            })
        );
    }

    #[test]
    fn digest_params_rejects_duplicates_in_any_case() {
        let list = parse_list("Digest realm=a, REALM=b").unwrap();
        assert_eq!(
            list[0].digest_params().unwrap_err(),
            AuthError::DuplicateParameter(ParamName::Realm)
        );
    }

    struct Quoted<'a>(&'a str);
    impl fmt::Display for Quoted<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_quoted(f, self.0)
        }
    }

    #[test]
    fn write_quoted_escapes_and_drops_line_breaks() {
        assert_eq!(Quoted("a\"b\\c").to_string(), r#""a\"b\\c""#);
        assert_eq!(Quoted("evil\r\nVia: x").to_string(), "\"evilVia: x\"");
        assert_eq!(Quoted("tab\tok é").to_string(), "\"tab\tok é\"");
    }
}
