//! RFC 3261 §25.1 character classes and the small scanners every header parser shares.
//!
//! Classes are one 256-entry table of bit flags, so a class test is one load and one mask.
//! Scanners work on `&[u8]` positions and never panic: every index they return is within the
//! slice they were given.

use crate::error::{ParseErrorKind, ValueError};

/// `alphanum` (ALPHA / DIGIT).
pub(crate) const ALPHANUM: u16 = 1 << 0;
/// `token` characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
pub(crate) const TOKEN: u16 = 1 << 1;
/// `unreserved`: alphanum / mark, mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")".
pub(crate) const UNRESERVED: u16 = 1 << 2;
/// `user-unreserved`: "&" / "=" / "+" / "$" / "," / ";" / "?" / "/".
pub(crate) const USER_UNRESERVED: u16 = 1 << 3;
/// Password characters beyond unreserved: "&" / "=" / "+" / "$" / ",".
pub(crate) const PASSWORD_EXTRA: u16 = 1 << 4;
/// `param-unreserved`: "[" / "]" / "/" / ":" / "&" / "+" / "$".
pub(crate) const PARAM_UNRESERVED: u16 = 1 << 5;
/// `hnv-unreserved`: "[" / "]" / "/" / "?" / ":" / "+" / "$".
pub(crate) const HNV_UNRESERVED: u16 = 1 << 6;
/// `word` characters (Call-ID): token characters plus "(" / ")" / "<" / ">" / ":" / "\" /
/// DQUOTE / "/" / "[" / "]" / "?" / "{" / "}".
pub(crate) const WORD: u16 = 1 << 7;
/// `reserved`: ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ",".
pub(crate) const RESERVED: u16 = 1 << 8;
/// Characters of a hostname: alphanum / "-" / ".".
pub(crate) const HOSTNAME: u16 = 1 << 9;
/// `uric` of an absoluteURI (RFC 2396): reserved / unreserved / escaped ("%").
pub(crate) const URIC: u16 = 1 << 10;

const fn build_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() {
            t[c] |= ALPHANUM | TOKEN | UNRESERVED | WORD | HOSTNAME | URIC;
        }
        c += 1;
    }
    let token = b"-.!%*_+`'~";
    let mut i = 0;
    while i < token.len() {
        t[token[i] as usize] |= TOKEN | WORD;
        i += 1;
    }
    let mark = b"-_.!~*'()";
    i = 0;
    while i < mark.len() {
        t[mark[i] as usize] |= UNRESERVED | URIC;
        i += 1;
    }
    let user = b"&=+$,;?/";
    i = 0;
    while i < user.len() {
        t[user[i] as usize] |= USER_UNRESERVED;
        i += 1;
    }
    let password = b"&=+$,";
    i = 0;
    while i < password.len() {
        t[password[i] as usize] |= PASSWORD_EXTRA;
        i += 1;
    }
    let param = b"[]/:&+$";
    i = 0;
    while i < param.len() {
        t[param[i] as usize] |= PARAM_UNRESERVED;
        i += 1;
    }
    let hnv = b"[]/?:+$";
    i = 0;
    while i < hnv.len() {
        t[hnv[i] as usize] |= HNV_UNRESERVED;
        i += 1;
    }
    let word = b"()<>:\\\"/[]?{}";
    i = 0;
    while i < word.len() {
        t[word[i] as usize] |= WORD;
        i += 1;
    }
    let reserved = b";/?:@&=+$,";
    i = 0;
    while i < reserved.len() {
        t[reserved[i] as usize] |= RESERVED | URIC;
        i += 1;
    }
    t[b'-' as usize] |= HOSTNAME;
    t[b'.' as usize] |= HOSTNAME;
    t[b'%' as usize] |= URIC;
    t
}

static TABLE: [u16; 256] = build_table();

/// True when `b` belongs to any of the classes in `mask`.
#[inline(always)]
pub(crate) fn is(b: u8, mask: u16) -> bool {
    TABLE[b as usize] & mask != 0
}

const LO: u64 = u64::from_ne_bytes([0x01; 8]);
const HI: u64 = u64::from_ne_bytes([0x80; 8]);

/// Flags (0x80 in the byte's lane) the bytes of the little-endian word `w` that are below
/// 0x20 (controls, CR, LF, HTAB), DEL (0x7F) or not ASCII: the bytes a line scanner must look
/// at one by one. Every lane is exact (no carry crosses a lane), so `trailing_zeros() / 8` of
/// a non-zero result is the index of the first such byte.
#[inline(always)]
pub(crate) fn special_bytes(w: u64) -> u64 {
    // On the low seven bits of each byte, adding 0x01 reaches 0x80 only from 0x7F, and adding
    // 0x60 reaches 0x80 from 0x20 up; neither sum leaves its lane. A byte is special when the
    // first sum, the byte itself (non-ASCII) or the inverse of the second sum has bit 7 set.
    let low7 = w & !HI;
    let del = low7 + LO;
    let printable_or_above = low7 + LO * 0x60;
    (del | w | !printable_or_above) & HI
}

/// Flags the zero bytes of `w`: the lowest flag is exact; lanes above it may be flagged
/// spuriously (a borrow moves up), so only the first hit's index is meaningful.
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

/// Index of the first byte at or after `i` equal to `a`, `b` or `c`, eight bytes at a time;
/// `s.len()` when there is none.
#[inline]
pub(crate) fn find_any3(s: &[u8], mut i: usize, a: u8, b: u8, c: u8) -> usize {
    while let Some(word) = s.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let w = u64::from_le_bytes(*word);
        let hits = zero_bytes(w ^ (LO * u64::from(a)))
            | zero_bytes(w ^ (LO * u64::from(b)))
            | zero_bytes(w ^ (LO * u64::from(c)));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() && s[i] != a && s[i] != b && s[i] != c {
        i += 1;
    }
    i.min(s.len())
}

/// Index of the first `a` at or after `i`, eight bytes at a time; `s.len()` when there is none.
#[inline]
pub(crate) fn find_byte(s: &[u8], mut i: usize, a: u8) -> usize {
    while let Some(word) = s.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let hits = zero_bytes(u64::from_le_bytes(*word) ^ (LO * u64::from(a)));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() && s[i] != a {
        i += 1;
    }
    i.min(s.len())
}

/// True when `s` is a non-empty `token`.
#[inline]
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is(b, TOKEN))
}

/// Linear whitespace inside one unfolded line: SP or HTAB.
#[inline(always)]
pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Index of the first byte at or after `i` that is not SP/HTAB.
#[inline]
pub(crate) fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_ws(s[i]) {
        i += 1;
    }
    i
}

/// `s` without leading and trailing SP/HTAB.
#[inline]
pub(crate) fn trim_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Index just past a token starting at `i` (equal to `i` when there is none).
#[inline]
pub(crate) fn scan_token(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is(s[i], TOKEN) {
        i += 1;
    }
    i
}

/// Checks that every `%` in `s` starts an `escaped` triplet (`%` HEXDIG HEXDIG) and that every
/// other byte is in `mask`. Returns the offset of the first offending byte.
pub(crate) fn check_escaped(s: &[u8], mask: u16) -> Result<(), ValueError> {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            let hex = |k: usize| s.get(k).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(ValueError::new(ParseErrorKind::InvalidEscape, i));
            }
            i += 3;
        } else if is(b, mask) {
            i += 1;
        } else {
            return Err(ValueError::new(ParseErrorKind::InvalidUri, i));
        }
    }
    Ok(())
}

/// Index just past a `quoted-string` whose opening DQUOTE is at `i`; `quoted-pair` escapes
/// are honoured (RFC 3261 §25.1).
pub(crate) fn scan_quoted(s: &[u8], i: usize) -> Result<usize, ValueError> {
    debug_assert_eq!(s.get(i), Some(&b'"'));
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'"' => return Ok(j + 1),
            // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): CR and LF cannot be escaped.
            b'\\' => {
                if j + 1 >= s.len() || matches!(s[j + 1], b'\r' | b'\n') || s[j + 1] > 0x7f {
                    return Err(ValueError::new(ParseErrorKind::UnterminatedQuote, i));
                }
                j += 2;
            }
            _ => j += 1,
        }
    }
    Err(ValueError::new(ParseErrorKind::UnterminatedQuote, i))
}

/// The content of a quoted string (without its DQUOTEs) with `quoted-pair` escapes removed.
pub(crate) fn unquote(inner: &str) -> String {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `s` as a quoted string, escaping `"`, `\\` and control characters as quoted-pairs.
/// CR and LF cannot appear in a quoted string (not even escaped), so they are written as
/// spaces.
pub(crate) fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\r' | '\n' => out.push(' '),
            '"' | '\\' | '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// Index of the first `sep` at or after `i` that is outside quoted strings and `<…>`.
/// Returns `s.len()` when there is none.
#[inline]
pub(crate) fn find_unquoted(s: &[u8], mut i: usize, sep: u8) -> Result<usize, ValueError> {
    while i < s.len() {
        i = find_any3(s, i, b'"', b'<', sep);
        let Some(&byte) = s.get(i) else { break };
        match byte {
            b'"' => i = scan_quoted(s, i)?,
            b'<' => match find_byte(s, i, b'>') {
                close if close < s.len() => i = close + 1,
                _ => return Err(ValueError::new(ParseErrorKind::UnterminatedAngle, i)),
            },
            b if b == sep => return Ok(i),
            _ => i += 1,
        }
    }
    Ok(s.len())
}

/// Value of one hexadecimal digit.
#[inline]
pub(crate) fn hex_value(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        b'A'..=b'F' => b - b'A' + 10,
        _ => 0,
    }
}

/// Parses a non-empty decimal number that fits in `u32`.
pub(crate) fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
    }
    u32::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_rfc3261_section_25_1() {
        assert!(is_token(b"INVITE"));
        assert!(is_token(b"!interesting-Method0123456789_*+`.%indeed'~"));
        assert!(!is_token(b"IN VITE"));
        assert!(!is_token(b""));
        assert!(is(b'(', WORD) && !is(b'(', TOKEN));
        assert!(is(b';', USER_UNRESERVED) && !is(b'@', USER_UNRESERVED));
    }

    #[test]
    fn special_bytes_flag_exactly_the_bytes_a_line_scanner_must_look_at() {
        for b in 0..=255u8 {
            let special = !(0x20..0x7f).contains(&b);
            for at in 0..8 {
                let mut s = *b"abcdefgh";
                s[at] = b;
                let m = special_bytes(u64::from_le_bytes(s));
                let expected = if special { 0x80u64 << (8 * at) } else { 0 };
                assert_eq!(m, expected, "{b:#x} at {at}");
            }
        }
    }

    #[test]
    fn special_bytes_are_found_first_one_exactly() {
        let first = |s: &[u8; 8]| match special_bytes(u64::from_le_bytes(*s)) {
            0 => None,
            m => Some(m.trailing_zeros() / 8),
        };
        assert_eq!(first(b"Via: SIP"), None);
        assert_eq!(first(b" ~!09AZz"), None);
        for special in [0u8, b'\t', b'\r', b'\n', 0x1f, 0x7f, 0x80, 0xff] {
            for at in 0..8 {
                let mut s = *b"abcdefgh";
                s[at] = special;
                assert_eq!(first(&s), Some(at as u32), "{special:#x} at {at}");
                // A second special byte later never hides the first.
                if at < 7 {
                    s[7] = 0x01;
                    assert_eq!(first(&s), Some(at as u32), "{special:#x} at {at}");
                }
            }
        }
    }

    #[test]
    fn find_any3_finds_the_first_of_three() {
        let s = b"INVITE, ACK, \"x\" <y>";
        assert_eq!(find_any3(s, 0, b'"', b'<', b','), 6);
        assert_eq!(find_any3(s, 7, b'"', b'<', b','), 11);
        assert_eq!(find_any3(s, 12, b'"', b'<', b','), 13);
        assert_eq!(find_any3(s, 14, b'"', b'<', b','), 15);
        assert_eq!(find_any3(s, 16, b'"', b'<', b','), 17);
        assert_eq!(find_any3(s, 18, b'"', b'<', b','), s.len());
        assert_eq!(find_any3(b"", 0, b'a', b'b', b'c'), 0);
        assert_eq!(find_byte(b"Max-Forwards: 70", 0, b':'), 12);
        assert_eq!(find_byte(b"To: x", 0, b':'), 2);
        assert_eq!(find_byte(b"To: x", 3, b':'), 5);
        assert_eq!(find_byte(b"", 0, b':'), 0);
    }

    #[test]
    fn quoted_strings_honour_escapes() {
        let s = br#""a \"b\" \\" rest"#;
        assert_eq!(scan_quoted(s, 0), Ok(12));
        assert_eq!(unquote(r#"a \"b\" \\"#), r#"a "b" \"#);
        assert!(scan_quoted(br#""abc"#, 0).is_err());
        assert!(scan_quoted(b"\"abc\\", 0).is_err());
    }

    #[test]
    fn find_unquoted_skips_quotes_and_angles() {
        let s = br#""a,b" <sip:x;a=b,c>, next"#;
        assert_eq!(find_unquoted(s, 0, b','), Ok(19));
        assert_eq!(find_unquoted(b"abc", 0, b','), Ok(3));
        assert!(find_unquoted(b"<sip:x", 0, b',').is_err());
    }

    #[test]
    fn escapes_are_checked() {
        assert!(check_escaped(b"al%20ice", UNRESERVED).is_ok());
        assert_eq!(
            check_escaped(b"al%2", UNRESERVED).map_err(|e| e.offset),
            Err(2)
        );
        assert!(check_escaped(b"a%zz", UNRESERVED).is_err());
    }
}
