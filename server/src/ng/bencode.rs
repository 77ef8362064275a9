//! Bencode, the ng protocol's encoding: a reader that turns untrusted bytes into a [`Value`]
//! or a typed [`BencodeError`], and a writer.
//!
//! # Contract
//!
//! - [`decode`] never panics and never recurses deeper than [`MAX_DEPTH`] (a datagram of
//!   nested `l` would otherwise exhaust the stack); it reads at most the bytes it is given.
//! - Dictionary keys are accepted in any order (Kamailio sends them unsorted) and kept in
//!   the order they came; a repeated key is an error, so a lookup has one answer.
//! - [`Value::encode`] writes keys in the order the dictionary holds them. Replies are built
//!   in sorted order where the peer cares (rtpengine's own replies are sorted).
//!
//! Our own reader rather than `bt_bencode`: the grammar is a page long, this keeps the error
//! type ours (offset and kind, `Copy`), bounds the nesting depth explicitly, and the value
//! type is the small ordered tree the command layer walks.

use std::fmt;

/// Deepest nesting of lists and dictionaries accepted. ng messages nest three deep at most
/// (`codec` → `transcode` → a string); 32 leaves room and bounds the recursion.
pub const MAX_DEPTH: usize = 32;

/// Longest integer literal accepted, in digits (an `i64` has at most 19).
const MAX_INT_DIGITS: usize = 20;

/// One bencoded value.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// `i<n>e`.
    Int(i64),
    /// `<len>:<bytes>`.
    Bytes(Vec<u8>),
    /// `l...e`.
    List(Vec<Value>),
    /// `d...e`, in the order received (or built).
    Dict(Vec<(Vec<u8>, Value)>),
}

/// Why bytes are not bencode. `Copy`: the offset and the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bencode: {kind} at byte {offset}")]
pub struct BencodeError {
    /// Where the problem was found.
    pub offset: usize,
    /// What it is.
    pub kind: BencodeErrorKind,
}

/// The kinds of [`BencodeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BencodeErrorKind {
    /// The input ended inside a value.
    #[error("unexpected end of input")]
    Truncated,
    /// A byte that starts no value.
    #[error("unexpected byte {0:#04x}")]
    UnexpectedByte(u8),
    /// An integer or length that is not a canonical decimal number, or does not fit.
    #[error("malformed number")]
    BadNumber,
    /// A dictionary key that is not a byte string.
    #[error("dictionary key is not a string")]
    KeyNotString,
    /// The same key twice in one dictionary.
    #[error("repeated dictionary key")]
    DuplicateKey,
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Bytes after the top-level value.
    #[error("trailing bytes")]
    Trailing,
}

/// Decodes exactly one value spanning all of `input`.
///
/// # Errors
///
/// [`BencodeError`] for anything that is not one well-formed value.
pub fn decode(input: &[u8]) -> Result<Value, BencodeError> {
    let mut reader = Reader { input, pos: 0 };
    let value = reader.value(0)?;
    if reader.pos != input.len() {
        return Err(reader.error(BencodeErrorKind::Trailing));
    }
    Ok(value)
}

/// The length of the one value at the start of `input`; what follows it is not looked at.
/// This is how a stream is cut into messages (ng over TCP): the value is decoded to find its
/// end, then dropped.
///
/// # Errors
///
/// As [`decode`], but never [`BencodeErrorKind::Trailing`]; [`BencodeErrorKind::Truncated`]
/// means the value may still be completed by more bytes.
pub fn value_len(input: &[u8]) -> Result<usize, BencodeError> {
    let mut reader = Reader { input, pos: 0 };
    reader.value(0)?;
    Ok(reader.pos)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, kind: BencodeErrorKind) -> BencodeError {
        BencodeError {
            offset: self.pos,
            kind,
        }
    }

    fn peek(&self) -> Result<u8, BencodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.error(BencodeErrorKind::Truncated))
    }

    fn value(&mut self, depth: usize) -> Result<Value, BencodeError> {
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let n = self.number(b'e', true)?;
                Ok(Value::Int(n))
            }
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' => {
                if depth >= MAX_DEPTH {
                    return Err(self.error(BencodeErrorKind::TooDeep));
                }
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                if depth >= MAX_DEPTH {
                    return Err(self.error(BencodeErrorKind::TooDeep));
                }
                self.pos += 1;
                let mut entries: Vec<(Vec<u8>, Value)> = Vec::new();
                while self.peek()? != b'e' {
                    if !self.peek()?.is_ascii_digit() {
                        return Err(self.error(BencodeErrorKind::KeyNotString));
                    }
                    let at = self.pos;
                    let key = self.bytes()?;
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(BencodeError {
                            offset: at,
                            kind: BencodeErrorKind::DuplicateKey,
                        });
                    }
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                }
                self.pos += 1;
                Ok(Value::Dict(entries))
            }
            other => Err(self.error(BencodeErrorKind::UnexpectedByte(other))),
        }
    }

    /// A byte string: `<len>:<bytes>`.
    fn bytes(&mut self) -> Result<Vec<u8>, BencodeError> {
        let len = self.number(b':', false)?;
        let len = usize::try_from(len).map_err(|_| self.error(BencodeErrorKind::BadNumber))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| self.error(BencodeErrorKind::Truncated))?;
        let bytes = self.input[self.pos..end].to_vec();
        self.pos = end;
        Ok(bytes)
    }

    /// A decimal number up to `end` (consumed). Canonical only: no `+`, no leading zeros,
    /// no `-0`; a sign only where `signed`.
    fn number(&mut self, end: u8, signed: bool) -> Result<i64, BencodeError> {
        let start = self.pos;
        let rest = &self.input[start..];
        let Some(len) = rest.iter().take(MAX_INT_DIGITS + 2).position(|&b| b == end) else {
            return Err(if rest.len() <= MAX_INT_DIGITS + 1 {
                self.error(BencodeErrorKind::Truncated)
            } else {
                self.error(BencodeErrorKind::BadNumber)
            });
        };
        let text = &rest[..len];
        let digits = match text.split_first() {
            Some((b'-', digits)) if signed => digits,
            _ => text,
        };
        let canonical = !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && (digits[0] != b'0' || (digits.len() == 1 && digits.len() == text.len()));
        let parsed = std::str::from_utf8(text).ok().and_then(|s| s.parse().ok());
        match parsed {
            Some(n) if canonical => {
                self.pos = start + len + 1;
                Ok(n)
            }
            _ => Err(self.error(BencodeErrorKind::BadNumber)),
        }
    }
}

impl Value {
    /// A byte string from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if this is a UTF-8 byte string.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The number: an integer, or a byte string holding one (Kamailio sends some numbers,
    /// like `ptime`, as strings).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Bytes(_) => self.as_str()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The value under `key`, if this is a dictionary holding it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(entries) => entries
                .iter()
                .find(|(k, _)| k == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Appends the encoding of this value to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => encode_bytes(b, out),
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode(out);
                }
                out.push(b'e');
            }
            Value::Dict(entries) => {
                out.push(b'd');
                for (key, value) in entries {
                    encode_bytes(key, out);
                    value.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(bytes.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(bytes);
}

impl fmt::Debug for Value {
    /// Byte strings print as text where they are text, so test failures read well.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => write!(f, "{s:?}"),
                Err(_) => write!(f, "{b:?}"),
            },
            Value::List(items) => f.debug_list().entries(items).finish(),
            Value::Dict(entries) => f
                .debug_map()
                .entries(
                    entries
                        .iter()
                        .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), v)),
                )
                .finish(),
        }
    }
}

/// Builds a dictionary from `(key, value)` pairs, in the given order.
pub fn dict<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn kind(input: &[u8]) -> BencodeErrorKind {
        decode(input).unwrap_err().kind
    }

    #[test]
    fn kamailio_ping_and_rtpengine_pong() {
        let ping = decode(b"d7:command4:pinge").unwrap();
        assert_eq!(ping.get("command").and_then(Value::as_str), Some("ping"));
        let pong = dict([("result", Value::str("pong"))]);
        assert_eq!(pong.to_bytes(), b"d6:result4:ponge");
    }

    #[test]
    fn value_len_finds_where_the_first_value_ends() {
        assert_eq!(value_len(b"d7:command4:pinge"), Ok(17));
        assert_eq!(value_len(b"d7:command4:pingec2 d"), Ok(17));
        assert_eq!(value_len(b"i-3eli1ee"), Ok(4));
        let truncated = |input: &[u8]| value_len(input).map_err(|e| e.kind);
        assert_eq!(
            truncated(b"d7:command4:pin"),
            Err(BencodeErrorKind::Truncated)
        );
        assert_eq!(truncated(b"d7:comm"), Err(BencodeErrorKind::Truncated));
        assert_eq!(truncated(b""), Err(BencodeErrorKind::Truncated));
        assert_eq!(truncated(b"x"), Err(BencodeErrorKind::UnexpectedByte(b'x')));
        assert_eq!(truncated(b"di1ei2ee"), Err(BencodeErrorKind::KeyNotString));
    }

    #[test]
    fn unsorted_keys_are_kept_in_order() {
        let v = decode(b"d8:supportsl10:load limite7:command5:offere").unwrap();
        let Value::Dict(entries) = &v else { panic!() };
        assert_eq!(entries[0].0, b"supports");
        assert_eq!(v.to_bytes(), b"d8:supportsl10:load limite7:command5:offere");
    }

    #[test]
    fn integers_are_canonical() {
        assert_eq!(decode(b"i-42e").unwrap(), Value::Int(-42));
        assert_eq!(decode(b"i0e").unwrap(), Value::Int(0));
        for bad in [&b"i-0e"[..], b"i01e", b"ie", b"i-e", b"i+1e", b"i1.5e"] {
            assert_eq!(kind(bad), BencodeErrorKind::BadNumber, "{bad:?}");
        }
        assert_eq!(kind(b"i99999999999999999999e"), BencodeErrorKind::BadNumber);
        assert_eq!(kind(b"i12"), BencodeErrorKind::Truncated);
        assert_eq!(kind(b"01:a"), BencodeErrorKind::BadNumber);
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        assert_eq!(kind(b""), BencodeErrorKind::Truncated);
        assert_eq!(kind(b"5:abc"), BencodeErrorKind::Truncated);
        assert_eq!(kind(b"d3:abc"), BencodeErrorKind::Truncated);
        assert_eq!(kind(b"di1e1:ae"), BencodeErrorKind::KeyNotString);
        assert_eq!(kind(b"d1:ai1e1:ai2ee"), BencodeErrorKind::DuplicateKey);
        assert_eq!(kind(b"x"), BencodeErrorKind::UnexpectedByte(b'x'));
        assert_eq!(kind(b"i1ei2e"), BencodeErrorKind::Trailing);
        let deep = [vec![b'l'; MAX_DEPTH + 1], vec![b'e'; MAX_DEPTH + 1]].concat();
        assert_eq!(kind(&deep), BencodeErrorKind::TooDeep);
        let ok = [vec![b'l'; MAX_DEPTH], vec![b'e'; MAX_DEPTH]].concat();
        assert!(decode(&ok).is_ok());
        assert_eq!(
            kind(b"99999999999999999999999:a"),
            BencodeErrorKind::BadNumber
        );
    }

    #[test]
    fn numbers_sent_as_strings_read_as_numbers() {
        assert_eq!(Value::str("20").as_int(), Some(20));
        assert_eq!(Value::str("x").as_int(), None);
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
                proptest::collection::btree_map(
                    proptest::collection::vec(any::<u8>(), 0..6),
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Dict(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(v in value()) {
            prop_assert_eq!(decode(&v.to_bytes()).unwrap(), v);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn corrupted_encodings_never_panic(v in value(), at in any::<usize>(), byte in any::<u8>()) {
            let mut bytes = v.to_bytes();
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = byte;
                let _ = decode(&bytes);
                bytes.truncate(i);
                let _ = decode(&bytes);
            }
        }
    }
}
