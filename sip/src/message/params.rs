//! Parameter lists: URI parameters (RFC 3261 §19.1.1) and header `generic-param`s (§25.1).
//!
//! A [`Params`] keeps its parameters in one string, in wire order, as `;name=value;flag`:
//! one allocation per list however many parameters it holds, and printing is a copy. Parsing
//! drops the optional whitespace around `;` and `=` (SEMI and EQUAL allow SWS), so the stored
//! text is canonical. Names compare case-insensitively (RFC 3261 §7.3.1); values are kept as
//! written, quoted strings with their quotes and URI parameters with their escapes.

use std::fmt;

use super::grammar::{self, HOSTNAME, PARAM_UNRESERVED, TOKEN, UNRESERVED};
use crate::error::{ParseErrorKind, ValueError};

/// An ordered list of `;name[=value]` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Params {
    /// `;name=value;flag…`, canonical: no whitespace, every parameter led by `;`.
    raw: String,
}

impl Params {
    /// An empty list.
    pub const fn new() -> Self {
        Self { raw: String::new() }
    }

    /// True when the list holds no parameter.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The list as printed: `;name=value;flag`, or empty.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parameters in order, as `(name, value)`; a flag parameter has no value.
    pub fn iter(&self) -> ParamsIter<'_> {
        ParamsIter {
            text: &self.raw,
            pos: 0,
        }
    }

    /// The first parameter called `name` (case-insensitive): `Some(None)` for a flag,
    /// `Some(Some(value))` when it has a value, `None` when it is absent.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of the first parameter called `name`, if it is present with a value.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).flatten()
    }

    /// True when a parameter called `name` is present (with or without a value).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value` (a flag when `None`): replaces the first parameter of that name,
    /// removes any later duplicates, or appends.
    ///
    /// Names and unquoted values must be valid in both a URI and a header: ALPHA, DIGIT,
    /// `- . ! * _ + ' ~` (and `: [ ]` in values, for IPv6 references), with `%` only as an
    /// escape (`%41`). A quoted-string value is accepted too; it is only valid in a header
    /// parameter.
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidParameter`] when `name` or `value` has another character.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), ValueError> {
        if !is_param_name(name.as_bytes()) {
            return Err(ValueError::new(ParseErrorKind::InvalidParameter, 0));
        }
        if let Some(v) = value {
            if !is_settable_value(v.as_bytes()) {
                return Err(ValueError::new(ParseErrorKind::InvalidParameter, 0));
            }
        }
        let mut out = String::with_capacity(self.raw.len() + name.len() + 2);
        let mut done = false;
        for (n, v) in self.iter() {
            if n.eq_ignore_ascii_case(name) {
                if done {
                    continue;
                }
                done = true;
                push_param(&mut out, name, value);
            } else {
                push_param(&mut out, n, v);
            }
        }
        if !done {
            push_param(&mut out, name, value);
        }
        self.raw = out;
        Ok(())
    }

    /// Removes every parameter called `name`; returns whether one was present.
    pub fn remove(&mut self, name: &str) -> bool {
        if !self.contains(name) {
            return false;
        }
        let mut out = String::with_capacity(self.raw.len());
        for (n, v) in self.iter() {
            if !n.eq_ignore_ascii_case(name) {
                push_param(&mut out, n, v);
            }
        }
        self.raw = out;
        true
    }

    /// Parses URI parameters (`*( ";" uri-parameter )`, RFC 3261 §19.1.1) from `s`, which is
    /// empty or starts with `;`. Escapes are checked and kept.
    pub(crate) fn parse_uri(s: &str) -> Result<Self, ValueError> {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b';' {
                return Err(ValueError::new(ParseErrorKind::InvalidParameter, i));
            }
            let start = i + 1;
            let end = b[start..]
                .iter()
                .position(|&c| c == b';')
                .map_or(b.len(), |p| start + p);
            let param = &b[start..end];
            let (name, value) = match param.iter().position(|&c| c == b'=') {
                Some(eq) => (&param[..eq], Some(&param[eq + 1..])),
                None => (param, None),
            };
            const PARAMCHAR: u16 = PARAM_UNRESERVED | UNRESERVED;
            if name.is_empty() || value.is_some_and(<[u8]>::is_empty) {
                return Err(ValueError::new(ParseErrorKind::InvalidParameter, start));
            }
            grammar::check_escaped(name, PARAMCHAR)
                .and_then(|()| value.map_or(Ok(()), |v| grammar::check_escaped(v, PARAMCHAR)))
                .map_err(|e| ValueError::new(ParseErrorKind::InvalidParameter, start + e.offset))?;
            i = end;
        }
        Ok(Self { raw: s.to_owned() })
    }

    /// Parses `*( SEMI generic-param )` from `s` starting at `i`, stopping before the first
    /// byte (after optional whitespace) that is not `;`. Returns the list and the stop index.
    ///
    /// generic-param = token [ EQUAL gen-value ], gen-value = token / host / quoted-string.
    pub(crate) fn parse_generic(s: &[u8], mut i: usize) -> Result<(Self, usize), ValueError> {
        let mut raw = String::new();
        loop {
            let j = grammar::skip_ws(s, i);
            if j >= s.len() || s[j] != b';' {
                return Ok((Self { raw }, i));
            }
            let name_start = grammar::skip_ws(s, j + 1);
            let name_end = grammar::scan_token(s, name_start);
            if name_end == name_start {
                return Err(ValueError::new(
                    ParseErrorKind::InvalidParameter,
                    name_start,
                ));
            }
            raw.push(';');
            raw.push_str(ascii(&s[name_start..name_end]));
            i = name_end;
            let k = grammar::skip_ws(s, i);
            if k < s.len() && s[k] == b'=' {
                let v = grammar::skip_ws(s, k + 1);
                let v_end = if s.get(v) == Some(&b'"') {
                    grammar::scan_quoted(s, v)?
                } else {
                    scan_gen_value(s, v)
                };
                if v_end == v {
                    return Err(ValueError::new(ParseErrorKind::InvalidParameter, v));
                }
                raw.push('=');
                // The value is a quoted string (any UTF-8) or ASCII: slicing at these
                // boundaries is safe because they sit on ASCII delimiters.
                raw.push_str(
                    std::str::from_utf8(&s[v..v_end])
                        .map_err(|_| ValueError::new(ParseErrorKind::InvalidUtf8, v))?,
                );
                i = v_end;
            }
        }
    }
}

/// Index just past a `token / host` gen-value starting at `i`.
fn scan_gen_value(s: &[u8], mut i: usize) -> usize {
    // host adds "[", "]" and ":" (IPv6 references) to the token characters.
    while i < s.len() && (grammar::is(s[i], TOKEN | HOSTNAME) || matches!(s[i], b'[' | b']' | b':'))
    {
        i += 1;
    }
    i
}

/// `s` as `&str`; callers only pass ASCII slices.
fn ascii(s: &[u8]) -> &str {
    std::str::from_utf8(s).unwrap_or_default()
}

fn push_param(out: &mut String, name: &str, value: Option<&str>) {
    out.push(';');
    out.push_str(name);
    if let Some(v) = value {
        out.push('=');
        out.push_str(v);
    }
}

/// True when `s` is non-empty and every byte is valid unquoted in both a URI parameter
/// (`paramchar`) and a header `generic-param` (`token` / `host`): ALPHA / DIGIT and
/// `- . ! * _ + ' ~ : [ ]`, or `%` HEXDIG HEXDIG. Checking against both grammars lets one
/// `Params` type serve URIs and headers without a setter producing text either would misread.
fn is_portable(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hex = |k: usize| s.get(k).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
                continue;
            }
            b if b.is_ascii_alphanumeric() => {}
            b'-' | b'.' | b'!' | b'*' | b'_' | b'+' | b'\'' | b'~' | b':' | b'[' | b']' => {}
            _ => return false,
        }
        i += 1;
    }
    !s.is_empty()
}

/// A parameter name a setter accepts: portable, and no `:`, `[` or `]` (tokens only).
fn is_param_name(s: &[u8]) -> bool {
    is_portable(s) && !s.iter().any(|b| matches!(b, b':' | b'[' | b']'))
}

/// A parameter value a setter accepts: portable, or a complete quoted string (which only a
/// header parameter may carry).
fn is_settable_value(s: &[u8]) -> bool {
    if s.first() == Some(&b'"') {
        return grammar::scan_quoted(s, 0) == Ok(s.len());
    }
    is_portable(s)
}

/// Iterator over a [`Params`] list, yielding `(name, value)`.
#[derive(Debug, Clone)]
pub struct ParamsIter<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for ParamsIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.text.as_bytes();
        if self.pos >= b.len() {
            return None;
        }
        // Invariant: b[pos] == ';' and the list is canonical (see `Params::raw`).
        let start = self.pos + 1;
        let mut i = start;
        let mut eq = None;
        while i < b.len() && b[i] != b';' {
            match b[i] {
                b'=' if eq.is_none() => {
                    eq = Some(i);
                    i += 1;
                }
                b'"' => i = grammar::scan_quoted(b, i).unwrap_or(b.len()),
                _ => i += 1,
            }
        }
        self.pos = i;
        Some(match eq {
            Some(e) => (&self.text[start..e], Some(&self.text[e + 1..i])),
            None => (&self.text[start..i], None),
        })
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_params_drop_whitespace_and_keep_quotes() {
        let s = br#" ; branch = z9hG4bK1 ;rport; received=[::1] ;x="a;b" >"#;
        let (p, end) = Params::parse_generic(s, 0).unwrap();
        assert_eq!(
            p.as_str(),
            r#";branch=z9hG4bK1;rport;received=[::1];x="a;b""#
        );
        assert_eq!(&s[end..], b" >");
        assert_eq!(p.value("BRANCH"), Some("z9hG4bK1"));
        assert_eq!(p.get("rport"), Some(None));
        assert_eq!(p.value("x"), Some(r#""a;b""#));
        assert_eq!(p.get("maddr"), None);
    }

    #[test]
    fn set_replaces_and_remove_deletes() {
        let mut p = Params::new();
        p.set("tag", Some("abc")).unwrap();
        p.set("lr", None).unwrap();
        p.set("TAG", Some("def")).unwrap();
        assert_eq!(p.as_str(), ";TAG=def;lr");
        assert!(p.remove("tag"));
        assert_eq!(p.as_str(), ";lr");
        assert!(p.set("a", Some("x;y")).is_err());
        assert!(p.set("a b", None).is_err());
    }

    #[test]
    fn uri_params_check_escapes() {
        assert!(Params::parse_uri(";transport=tcp;lr;x=%41").is_ok());
        assert!(Params::parse_uri(";x=%4").is_err());
        assert!(Params::parse_uri(";=a").is_err());
        assert!(Params::parse_uri("x").is_err());
    }
}
