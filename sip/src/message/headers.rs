//! The header list of a message: ordered, case-insensitive, compact forms normalized.
//!
//! The storage contract is on [`Headers`].

use std::fmt::{self, Write as _};

use super::grammar;
use crate::error::{ParseErrorKind, ValueError};

macro_rules! header_names {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $lower:literal $(| $compact:literal = $compact_str:literal)?, list: $list:literal; )*) => {
        /// A header name RFC 3261 or a common extension defines; other names are kept as text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( $(#[$doc])* $variant, )*
        }

        impl HeaderName {
            /// Every known name, in alphabetical order.
            pub const ALL: &'static [HeaderName] = &[$(HeaderName::$variant,)*];

            /// The full name, as printed.
            pub const fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $name, )* }
            }

            /// The compact form (RFC 3261 §7.3.3 and later RFCs), if the header has one.
            pub const fn compact_form(self) -> Option<&'static str> {
                match self {
                    $( $( Self::$variant => Some($compact_str), )? )*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            /// True for headers whose grammar is a comma-separated list (`#element`): their
            /// values are split into one entry per element.
            pub const fn is_list(self) -> bool {
                match self { $( Self::$variant => $list, )* }
            }

            /// Recognizes a full or compact name, case-insensitively.
            pub fn from_name(name: &str) -> Option<Self> {
                // Most peers write the canonical spelling: try it before folding case.
                match name {
                    $( $name => return Some(Self::$variant), )*
                    _ => {}
                }
                let b = name.as_bytes();
                let mut buf = [0u8; 24];
                if b.len() > buf.len() {
                    return None;
                }
                for (d, s) in buf.iter_mut().zip(b) {
                    *d = s.to_ascii_lowercase();
                }
                match &buf[..b.len()] {
                    $( $lower $(| $compact)? => Some(Self::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

header_names! {
    /// Accept (RFC 3261 §20.1).
    Accept = "Accept", b"accept", list: true;
    /// Accept-Contact (RFC 3841).
    AcceptContact = "Accept-Contact", b"accept-contact" | b"a" = "a", list: true;
    /// Accept-Encoding (RFC 3261 §20.2).
    AcceptEncoding = "Accept-Encoding", b"accept-encoding", list: true;
    /// Accept-Language (RFC 3261 §20.3).
    AcceptLanguage = "Accept-Language", b"accept-language", list: true;
    /// Alert-Info (RFC 3261 §20.4).
    AlertInfo = "Alert-Info", b"alert-info", list: true;
    /// Allow (RFC 3261 §20.5).
    Allow = "Allow", b"allow", list: true;
    /// Allow-Events (RFC 6665).
    AllowEvents = "Allow-Events", b"allow-events" | b"u" = "u", list: true;
    /// Authentication-Info (RFC 3261 §20.6).
    AuthenticationInfo = "Authentication-Info", b"authentication-info", list: false;
    /// Authorization (RFC 3261 §20.7).
    Authorization = "Authorization", b"authorization", list: false;
    /// Call-ID (RFC 3261 §20.8).
    CallId = "Call-ID", b"call-id" | b"i" = "i", list: false;
    /// Call-Info (RFC 3261 §20.9).
    CallInfo = "Call-Info", b"call-info", list: true;
    /// Contact (RFC 3261 §20.10).
    Contact = "Contact", b"contact" | b"m" = "m", list: true;
    /// Content-Disposition (RFC 3261 §20.11).
    ContentDisposition = "Content-Disposition", b"content-disposition", list: false;
    /// Content-Encoding (RFC 3261 §20.12).
    ContentEncoding = "Content-Encoding", b"content-encoding" | b"e" = "e", list: true;
    /// Content-Language (RFC 3261 §20.13).
    ContentLanguage = "Content-Language", b"content-language", list: true;
    /// Content-Length (RFC 3261 §20.14).
    ContentLength = "Content-Length", b"content-length" | b"l" = "l", list: false;
    /// Content-Type (RFC 3261 §20.15).
    ContentType = "Content-Type", b"content-type" | b"c" = "c", list: false;
    /// CSeq (RFC 3261 §20.16).
    CSeq = "CSeq", b"cseq", list: false;
    /// Date (RFC 3261 §20.17).
    Date = "Date", b"date", list: false;
    /// Error-Info (RFC 3261 §20.18).
    ErrorInfo = "Error-Info", b"error-info", list: true;
    /// Event (RFC 6665).
    Event = "Event", b"event" | b"o" = "o", list: false;
    /// Expires (RFC 3261 §20.19).
    Expires = "Expires", b"expires", list: false;
    /// From (RFC 3261 §20.20).
    From = "From", b"from" | b"f" = "f", list: false;
    /// Identity (RFC 8224).
    Identity = "Identity", b"identity" | b"y" = "y", list: false;
    /// In-Reply-To (RFC 3261 §20.21).
    InReplyTo = "In-Reply-To", b"in-reply-to", list: true;
    /// Max-Forwards (RFC 3261 §20.22).
    MaxForwards = "Max-Forwards", b"max-forwards", list: false;
    /// MIME-Version (RFC 3261 §20.24).
    MimeVersion = "MIME-Version", b"mime-version", list: false;
    /// Min-Expires (RFC 3261 §20.23).
    MinExpires = "Min-Expires", b"min-expires", list: false;
    /// Min-SE (RFC 4028).
    MinSe = "Min-SE", b"min-se", list: false;
    /// Organization (RFC 3261 §20.25).
    Organization = "Organization", b"organization", list: false;
    /// P-Asserted-Identity (RFC 3325).
    PAssertedIdentity = "P-Asserted-Identity", b"p-asserted-identity", list: true;
    /// P-Preferred-Identity (RFC 3325).
    PPreferredIdentity = "P-Preferred-Identity", b"p-preferred-identity", list: true;
    /// Path (RFC 3327).
    Path = "Path", b"path", list: true;
    /// Priority (RFC 3261 §20.26).
    Priority = "Priority", b"priority", list: false;
    /// Privacy (RFC 3323).
    Privacy = "Privacy", b"privacy", list: false;
    /// Proxy-Authenticate (RFC 3261 §20.27).
    ProxyAuthenticate = "Proxy-Authenticate", b"proxy-authenticate", list: false;
    /// Proxy-Authorization (RFC 3261 §20.28).
    ProxyAuthorization = "Proxy-Authorization", b"proxy-authorization", list: false;
    /// Proxy-Require (RFC 3261 §20.29).
    ProxyRequire = "Proxy-Require", b"proxy-require", list: true;
    /// RAck (RFC 3262).
    RAck = "RAck", b"rack", list: false;
    /// Reason (RFC 3326).
    Reason = "Reason", b"reason", list: true;
    /// Record-Route (RFC 3261 §20.30).
    RecordRoute = "Record-Route", b"record-route", list: true;
    /// Refer-To (RFC 3515).
    ReferTo = "Refer-To", b"refer-to" | b"r" = "r", list: false;
    /// Referred-By (RFC 3892).
    ReferredBy = "Referred-By", b"referred-by" | b"b" = "b", list: false;
    /// Reject-Contact (RFC 3841).
    RejectContact = "Reject-Contact", b"reject-contact" | b"j" = "j", list: true;
    /// Replaces (RFC 3891).
    Replaces = "Replaces", b"replaces", list: false;
    /// Reply-To (RFC 3261 §20.31).
    ReplyTo = "Reply-To", b"reply-to", list: false;
    /// Request-Disposition (RFC 3841).
    RequestDisposition = "Request-Disposition", b"request-disposition" | b"d" = "d", list: true;
    /// Require (RFC 3261 §20.32).
    Require = "Require", b"require", list: true;
    /// Retry-After (RFC 3261 §20.33).
    RetryAfter = "Retry-After", b"retry-after", list: false;
    /// Route (RFC 3261 §20.34).
    Route = "Route", b"route", list: true;
    /// RSeq (RFC 3262).
    RSeq = "RSeq", b"rseq", list: false;
    /// Server (RFC 3261 §20.35).
    Server = "Server", b"server", list: false;
    /// Service-Route (RFC 3608).
    ServiceRoute = "Service-Route", b"service-route", list: true;
    /// Session-Expires (RFC 4028).
    SessionExpires = "Session-Expires", b"session-expires" | b"x" = "x", list: false;
    /// Subject (RFC 3261 §20.36).
    Subject = "Subject", b"subject" | b"s" = "s", list: false;
    /// Subscription-State (RFC 6665).
    SubscriptionState = "Subscription-State", b"subscription-state", list: false;
    /// Supported (RFC 3261 §20.37).
    Supported = "Supported", b"supported" | b"k" = "k", list: true;
    /// Timestamp (RFC 3261 §20.38).
    Timestamp = "Timestamp", b"timestamp", list: false;
    /// To (RFC 3261 §20.39).
    To = "To", b"to" | b"t" = "t", list: false;
    /// Unsupported (RFC 3261 §20.40).
    Unsupported = "Unsupported", b"unsupported", list: true;
    /// User-Agent (RFC 3261 §20.41).
    UserAgent = "User-Agent", b"user-agent", list: false;
    /// Via (RFC 3261 §20.42).
    Via = "Via", b"via" | b"v" = "v", list: true;
    /// Warning (RFC 3261 §20.43).
    Warning = "Warning", b"warning", list: true;
    /// WWW-Authenticate (RFC 3261 §20.44).
    WwwAuthenticate = "WWW-Authenticate", b"www-authenticate", list: false;
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for HeaderName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// The name of a stored entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Known(HeaderName),
    /// An extension header: its original spelling at `text[start..end]`.
    Other {
        start: u32,
        end: u32,
    },
}

/// One stored value: `text[start..end]`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    name: Name,
    start: u32,
    end: u32,
}

/// What a lookup looks for.
#[derive(Clone, Copy)]
enum Key<'a> {
    Known(HeaderName),
    Other(&'a str),
}

impl<'a> Key<'a> {
    fn of(name: &'a str) -> Self {
        HeaderName::from_name(name).map_or(Key::Other(name), Key::Known)
    }
}

/// An ordered list of headers.
///
/// [`Headers`] keeps every value in one string buffer and a vector of entries pointing into
/// it, so parsing a message allocates twice for its headers however many it has. Each entry is
/// one value: list headers (Via, Contact, Route, Supported… see [`HeaderName::is_list`]) written
/// as `a, b` on one line are split into two entries, in order, so that "the top Via" or "the
/// first Route" is simply the first entry of that name. Printing writes each entry under the
/// header's full name, joining consecutive elements of token lists (Allow, Supported…) on one
/// line and giving each address (Via, Route, Contact…) its own (RFC 3261 §7.3.1 makes both
/// forms equivalent).
///
/// Known names ([`HeaderName`]) and their compact forms (RFC 3261 §7.3.3) are recognized
/// case-insensitively; other names keep their original spelling. Content-Length is not stored
/// by the parser: the body's length is the truth and the printer always writes it.
///
/// Values are stored unfolded (RFC 3261 §7.3.1: a folded line is one SP) and without leading or
/// trailing whitespace. A value never holds CR or LF: the setters replace them with spaces.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    text: String,
    entries: Vec<Entry>,
}

impl Headers {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            text: String::new(),
            entries: Vec::new(),
        }
    }

    /// An empty list with room for `entries` values totalling `bytes` bytes.
    pub fn with_capacity(entries: usize, bytes: usize) -> Self {
        Self {
            text: String::with_capacity(bytes),
            entries: Vec::with_capacity(entries),
        }
    }

    /// Number of values (a list header written `a, b` counts two).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no header.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every header in order as `(name, value)`. Known names come in their full form,
    /// extension names as written.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries
            .iter()
            .map(|e| (self.name_of(e), self.value_of(e)))
    }

    /// Every header in order as `(known name, name, value)`, for the printer.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (Option<HeaderName>, &str, &str)> + '_ {
        self.entries.iter().map(|e| {
            let known = match e.name {
                Name::Known(k) => Some(k),
                Name::Other { .. } => None,
            };
            (known, self.name_of(e), self.value_of(e))
        })
    }

    /// The first value of `name` (full or compact form, any case, or a [`HeaderName`]).
    pub fn get(&self, name: impl AsRef<str>) -> Option<&str> {
        let key = Key::of(name.as_ref());
        self.entries
            .iter()
            .find(|e| self.matches(e, key))
            .map(|e| self.value_of(e))
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let key = Key::of(name);
        self.entries
            .iter()
            .filter(move |e| self.matches(e, key))
            .map(|e| self.value_of(e))
    }

    /// Every value of a known header, in order (faster than [`Headers::get_all`]: no name
    /// lookup).
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.entries
            .iter()
            .filter(move |e| e.name == Name::Known(name))
            .map(|e| self.value_of(e))
    }

    /// The first value of a known header.
    pub fn first(&self, name: HeaderName) -> Option<&str> {
        self.values(name).next()
    }

    /// True when at least one `name` header is present.
    pub fn contains(&self, name: impl AsRef<str>) -> bool {
        self.get(name).is_some()
    }

    /// Number of values of `name`.
    pub fn count(&self, name: impl AsRef<str>) -> usize {
        let key = Key::of(name.as_ref());
        self.entries.iter().filter(|e| self.matches(e, key)).count()
    }

    /// Appends a known header; `value` is written with its `Display` impl straight into the
    /// buffer. CR and LF in the written text become spaces; surrounding whitespace is trimmed.
    /// A list header's value is split at its top-level commas into one entry per element, as
    /// the parser does, so `push(Allow, "INVITE, BYE")` adds two entries.
    pub fn push(&mut self, name: HeaderName, value: impl fmt::Display) {
        self.append(Name::Known(name), value);
    }

    /// Appends a header by name: known names (full or compact, any case) become their
    /// [`HeaderName`] (and list values are split, as [`Headers::push`] does), others are kept
    /// as spelled with their value whole.
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidHeaderName`] when `name` is not a token.
    pub fn push_raw(&mut self, name: &str, value: impl fmt::Display) -> Result<(), ValueError> {
        let name = self.intern_name(name)?;
        self.append(name, value);
        Ok(())
    }

    /// Inserts a known header before the first header of the same name, or at the top when
    /// there is none (a proxy's new Via, a pre-loaded Route).
    pub fn push_front(&mut self, name: HeaderName, value: impl fmt::Display) {
        let at = self
            .entries
            .iter()
            .position(|e| e.name == Name::Known(name))
            .unwrap_or(0);
        let added = self.append(Name::Known(name), value);
        self.entries[at..].rotate_right(added);
    }

    /// Replaces every value of a known header by `value` (split if a list), placed where the
    /// first one was, or appended.
    pub fn set(&mut self, name: HeaderName, value: impl fmt::Display) {
        let at = self
            .entries
            .iter()
            .position(|e| e.name == Name::Known(name));
        self.entries.retain(|e| e.name != Name::Known(name));
        let added = self.append(Name::Known(name), value);
        if let Some(at) = at {
            // Entries before `at` were not of this name, so `at` is still their count.
            self.entries[at..].rotate_right(added);
        }
    }

    /// Removes every value of `name`; returns how many there were.
    pub fn remove(&mut self, name: impl AsRef<str>) -> usize {
        let key = Key::of(name.as_ref());
        let before = self.entries.len();
        let text = &self.text;
        self.entries.retain(|e| !Self::matches_in(text, e, key));
        before - self.entries.len()
    }

    /// Removes the first value of `name` (the top Via, the first Route); returns whether there
    /// was one.
    pub fn remove_first(&mut self, name: impl AsRef<str>) -> bool {
        let key = Key::of(name.as_ref());
        match self.entries.iter().position(|e| self.matches(e, key)) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }

    /// Appends every value of `name` found in `other`, in order (e.g. Via and Record-Route
    /// into a response, RFC 3261 §8.2.6.2).
    pub fn copy_from(&mut self, other: &Headers, name: HeaderName) {
        for v in other.values(name) {
            self.push(name, v);
        }
    }

    /// Drops the buffer space that removed values still occupy.
    pub fn compact(&mut self) {
        let mut text = String::with_capacity(self.text.len());
        for e in &mut self.entries {
            if let Name::Other { start, end } = e.name {
                let s = text.len() as u32;
                text.push_str(&self.text[start as usize..end as usize]);
                e.name = Name::Other {
                    start: s,
                    end: text.len() as u32,
                };
            }
            let s = text.len() as u32;
            text.push_str(&self.text[e.start as usize..e.end as usize]);
            e.start = s;
            e.end = text.len() as u32;
        }
        self.text = text;
    }

    // ----- crate-internal construction (the parser) -----

    /// The buffer the parser appends values to; pair with `commit_known` or `commit_other`.
    pub(crate) fn text_mut(&mut self) -> &mut String {
        &mut self.text
    }

    /// Records `text[start..end]` (already in the buffer) as a value of `name`.
    pub(crate) fn commit_known(&mut self, name: HeaderName, start: usize, end: usize) {
        self.entries.push(Entry {
            name: Name::Known(name),
            start: start as u32,
            end: end as u32,
        });
    }

    /// Records `text[start..end]` as a value of the extension header at `text[ns..ne]`.
    pub(crate) fn commit_other(&mut self, ns: usize, ne: usize, start: usize, end: usize) {
        self.entries.push(Entry {
            name: Name::Other {
                start: ns as u32,
                end: ne as u32,
            },
            start: start as u32,
            end: end as u32,
        });
    }

    // ----- helpers -----

    fn intern_name(&mut self, name: &str) -> Result<Name, ValueError> {
        if let Some(k) = HeaderName::from_name(name) {
            return Ok(Name::Known(k));
        }
        if !grammar::is_token(name.as_bytes()) {
            return Err(ValueError::new(ParseErrorKind::InvalidHeaderName, 0));
        }
        let start = self.text.len() as u32;
        self.text.push_str(name);
        Ok(Name::Other {
            start,
            end: self.text.len() as u32,
        })
    }

    /// Writes `value` and appends its entries (one, or one per element of a list header);
    /// returns how many.
    fn append(&mut self, name: Name, value: impl fmt::Display) -> usize {
        let (start, end) = self.write_value(value);
        let entry = |start: usize, end: usize| Entry {
            name,
            start: start as u32,
            end: end as u32,
        };
        let list = matches!(name, Name::Known(k) if k.is_list());
        if !list || !self.text.as_bytes()[start..end].contains(&b',') {
            self.entries.push(entry(start, end));
            return 1;
        }
        let before = self.entries.len();
        let mut i = start;
        while i <= end {
            let b = &self.text.as_bytes()[..end];
            let Ok(comma) = grammar::find_unquoted(b, i, b',') else {
                // An unbalanced quote or angle: keep the value whole, as written.
                self.entries.truncate(before);
                self.entries.push(entry(start, end));
                return 1;
            };
            let s = grammar::skip_ws(b, i);
            let mut e = comma;
            while e > s && grammar::is_ws(b[e - 1]) {
                e -= 1;
            }
            if s < e {
                self.entries.push(entry(s, e));
            }
            i = comma + 1;
        }
        if self.entries.len() == before {
            self.entries.push(entry(start, start));
        }
        self.entries.len() - before
    }

    /// Writes `value` at the end of the buffer: CR and LF become spaces, surrounding
    /// whitespace is trimmed. Returns the value's span.
    fn write_value(&mut self, value: impl fmt::Display) -> (usize, usize) {
        let start = self.text.len();
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{value}");
        if self.text.as_bytes()[start..]
            .iter()
            .any(|&b| b == b'\r' || b == b'\n')
        {
            let fixed = self.text[start..].replace(['\r', '\n'], " ");
            self.text.truncate(start);
            self.text.push_str(&fixed);
        }
        let b = self.text.as_bytes();
        let s = grammar::skip_ws(b, start);
        let mut e = b.len();
        while e > s && grammar::is_ws(b[e - 1]) {
            e -= 1;
        }
        (s, e)
    }

    fn name_of<'a>(&'a self, e: &Entry) -> &'a str {
        match e.name {
            Name::Known(k) => k.as_str(),
            Name::Other { start, end } => &self.text[start as usize..end as usize],
        }
    }

    fn value_of<'a>(&'a self, e: &Entry) -> &'a str {
        &self.text[e.start as usize..e.end as usize]
    }

    fn matches(&self, e: &Entry, key: Key<'_>) -> bool {
        Self::matches_in(&self.text, e, key)
    }

    fn matches_in(text: &str, e: &Entry, key: Key<'_>) -> bool {
        match (e.name, key) {
            (Name::Known(a), Key::Known(b)) => a == b,
            (Name::Other { start, end }, Key::Other(n)) => {
                text[start as usize..end as usize].eq_ignore_ascii_case(n)
            }
            _ => false,
        }
    }
}

impl PartialEq for Headers {
    /// Same names (known names by identity, extension names as spelled) and values, in the
    /// same order.
    fn eq(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self.entries.iter().zip(&other.entries).all(|(a, b)| {
                let same_name = match (a.name, b.name) {
                    (Name::Known(x), Name::Known(y)) => x == y,
                    (Name::Other { .. }, Name::Other { .. }) => self.name_of(a) == other.name_of(b),
                    _ => false,
                };
                same_name && self.value_of(a) == other.value_of(b)
            })
    }
}

impl Eq for Headers {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_compact_forms_map_to_full_names() {
        assert_eq!(HeaderName::from_name("v"), Some(HeaderName::Via));
        assert_eq!(HeaderName::from_name("CALL-id"), Some(HeaderName::CallId));
        assert_eq!(HeaderName::from_name("I"), Some(HeaderName::CallId));
        assert_eq!(HeaderName::from_name("X-Custom"), None);
        assert_eq!(HeaderName::Via.compact_form(), Some("v"));
        assert_eq!(HeaderName::CSeq.compact_form(), None);
        for &n in HeaderName::ALL {
            assert_eq!(HeaderName::from_name(n.as_str()), Some(n), "{n}");
            if let Some(c) = n.compact_form() {
                assert_eq!(HeaderName::from_name(c), Some(n), "{n}");
            }
        }
    }

    #[test]
    fn lookups_find_values_in_order() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "SIP/2.0/UDP a");
        h.push_raw("X-Thing", " one ").unwrap();
        h.push(HeaderName::Via, "SIP/2.0/UDP b");
        h.push_raw("m", "<sip:c@d>").unwrap();
        assert_eq!(h.get("via"), Some("SIP/2.0/UDP a"));
        assert_eq!(h.get("v"), Some("SIP/2.0/UDP a"));
        assert_eq!(h.get("x-thing"), Some("one"));
        assert_eq!(h.get(HeaderName::Contact), Some("<sip:c@d>"));
        assert_eq!(h.count("Via"), 2);
        let names: Vec<_> = h.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["Via", "X-Thing", "Via", "Contact"]);
        assert!(h.push_raw("bad name", "x").is_err());
    }

    #[test]
    fn mutations_keep_order() {
        let mut h = Headers::new();
        h.push(HeaderName::Via, "a");
        h.push(HeaderName::Via, "b");
        h.push(HeaderName::CSeq, "1 INVITE");
        h.push_front(HeaderName::Via, "z");
        assert!(h.remove_first("Via"));
        h.set(HeaderName::CSeq, "2 INVITE");
        assert_eq!(h.remove("via"), 2);
        h.push(HeaderName::Subject, "evil\r\nVia: injected");
        h.compact();
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            [("CSeq", "2 INVITE"), ("Subject", "evil  Via: injected")]
        );
    }

    #[test]
    fn list_values_are_split_like_the_parser_splits_them() {
        let mut h = Headers::new();
        h.push(HeaderName::Allow, "INVITE, ACK ,BYE");
        h.push(HeaderName::Contact, "\"a, b\" <sip:a@b;x=1,2>, <sip:c@d>");
        h.push(HeaderName::Subject, "not, a list");
        h.push(HeaderName::Supported, "");
        h.push(HeaderName::Route, "\"unbalanced, <sip:x>");
        h.push_front(HeaderName::Allow, "OPTIONS, INFO");
        h.set(HeaderName::Contact, "*");
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            [
                ("Allow", "OPTIONS"),
                ("Allow", "INFO"),
                ("Allow", "INVITE"),
                ("Allow", "ACK"),
                ("Allow", "BYE"),
                ("Contact", "*"),
                ("Subject", "not, a list"),
                ("Supported", ""),
                ("Route", "\"unbalanced, <sip:x>"),
            ]
        );
    }

    #[test]
    fn equality_ignores_buffer_layout() {
        let mut a = Headers::new();
        a.push(HeaderName::To, "x");
        a.push(HeaderName::From, "y");
        a.remove("To");
        let mut b = Headers::new();
        b.push(HeaderName::From, "y");
        assert_eq!(a, b);
        b.push_raw("X-A", "1").unwrap();
        a.push_raw("x-a", "1").unwrap();
        assert_ne!(a, b);
    }
}
