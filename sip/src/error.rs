//! Errors of the SIP crate, classified by what the caller does next.
//!
//! Message errors are `Copy` and carry numbers, never strings: a datagram that fails to parse
//! is counted under [`ParseErrorKind::reason`] and dropped (or, for a request whose mandatory
//! headers are readable, answered with a 400 whose reason phrase can be the error's `Display`).

use crate::message::HeaderName;

/// What is wrong in a SIP message or in one of its header values (RFC 3261 §25 grammar).
///
/// The variants are facts about the input. [`ParseErrorKind::reason`] gives each a stable label
/// for drop counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input holds nothing but keep-alive CRLFs (RFC 5626 §4.4.1) or nothing at all.
    #[error("empty message")]
    Empty,
    /// The header section does not end with an empty line.
    #[error("header section not terminated by an empty line")]
    Unterminated,
    /// The header section exceeds the framing limit ([`crate::message::HEADERS_MAX`]).
    #[error("header section too long")]
    HeadersTooLong,
    /// A line holds a control character (other than HTAB) or a bare CR.
    #[error("control character")]
    ControlCharacter,
    /// The start line or a header is not valid UTF-8 (RFC 3261 §7.1 mandates UTF-8 text).
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// The first line is neither a Request-Line nor a Status-Line.
    #[error("malformed start line")]
    InvalidStartLine,
    /// The method of a Request-Line is not a token.
    #[error("method is not a token")]
    InvalidMethod,
    /// The SIP-Version is not `SIP/2.0`.
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    /// The Status-Code is not three digits from 100 to 699.
    #[error("invalid status code")]
    InvalidStatusCode,
    /// The Reason-Phrase holds a character RFC 3261 §25.1 does not allow.
    #[error("invalid reason phrase")]
    InvalidReasonPhrase,
    /// A header line has no colon after its name.
    #[error("header line without a colon")]
    MissingColon,
    /// A header name is empty or not a token.
    #[error("header name is not a token")]
    InvalidHeaderName,
    /// A continuation line (folding) comes before any header.
    #[error("continuation line before the first header")]
    InvalidFolding,
    /// A Content-Length value is not a decimal number that fits in 32 bits.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Two Content-Length headers disagree.
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// The body is shorter than Content-Length says (RFC 3261 §18.3).
    #[error("body shorter than Content-Length")]
    BodyTooShort,
    /// A message on a stream transport declares a body longer than
    /// [`crate::message::BODY_MAX`].
    #[error("body too long")]
    BodyTooLong,
    /// A message on a stream transport has no Content-Length (RFC 3261 §18.3).
    #[error("missing Content-Length on a stream")]
    MissingContentLength,
    /// A URI is malformed (scheme, user part, parameters or headers).
    #[error("invalid URI")]
    InvalidUri,
    /// A `%` is not followed by two hexadecimal digits.
    #[error("invalid escape sequence")]
    InvalidEscape,
    /// A host is neither a hostname, an IPv4 address nor an IPv6 reference.
    #[error("invalid host")]
    InvalidHost,
    /// A port is not a decimal number below 65536.
    #[error("invalid port")]
    InvalidPort,
    /// A parameter name or value is malformed.
    #[error("invalid parameter")]
    InvalidParameter,
    /// A quoted string is not closed.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A `<` has no matching `>`.
    #[error("unterminated angle bracket")]
    UnterminatedAngle,
    /// A token was expected.
    #[error("token expected")]
    InvalidToken,
    /// A number was expected, or it does not fit.
    #[error("invalid number")]
    InvalidNumber,
    /// The sent-protocol of a Via is not `SIP/2.0/<transport>`.
    #[error("invalid Via sent-protocol")]
    InvalidSentProtocol,
    /// A display name is malformed.
    #[error("invalid display name")]
    InvalidDisplayName,
    /// Characters follow a complete value.
    #[error("unexpected trailing characters")]
    TrailingCharacters,
    /// A value is empty where the grammar needs one.
    #[error("empty value")]
    EmptyValue,
}

impl ParseErrorKind {
    /// Stable label for drop counters, e.g. `tandem_sip_dropped_total{reason="…"}`.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Unterminated => "unterminated",
            Self::HeadersTooLong => "headers_too_long",
            Self::ControlCharacter => "control_character",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidStartLine => "invalid_start_line",
            Self::InvalidMethod => "invalid_method",
            Self::UnsupportedVersion => "unsupported_version",
            Self::InvalidStatusCode => "invalid_status_code",
            Self::InvalidReasonPhrase => "invalid_reason_phrase",
            Self::MissingColon => "missing_colon",
            Self::InvalidHeaderName => "invalid_header_name",
            Self::InvalidFolding => "invalid_folding",
            Self::InvalidContentLength => "invalid_content_length",
            Self::ConflictingContentLength => "conflicting_content_length",
            Self::BodyTooShort => "body_too_short",
            Self::BodyTooLong => "body_too_long",
            Self::MissingContentLength => "missing_content_length",
            Self::InvalidUri => "invalid_uri",
            Self::InvalidEscape => "invalid_escape",
            Self::InvalidHost => "invalid_host",
            Self::InvalidPort => "invalid_port",
            Self::InvalidParameter => "invalid_parameter",
            Self::UnterminatedQuote => "unterminated_quote",
            Self::UnterminatedAngle => "unterminated_angle",
            Self::InvalidToken => "invalid_token",
            Self::InvalidNumber => "invalid_number",
            Self::InvalidSentProtocol => "invalid_sent_protocol",
            Self::InvalidDisplayName => "invalid_display_name",
            Self::TrailingCharacters => "trailing_characters",
            Self::EmptyValue => "empty_value",
        }
    }
}

/// A message that cannot be parsed: what is wrong and where.
///
/// `offset` counts bytes from the start of the input given to the parser; `line` counts lines
/// from 1 (the start line) in the same input, including any leading keep-alive CRLFs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{kind} at line {line}, byte {offset}")]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset of the offending input.
    pub offset: usize,
    /// Line number (from 1) of the offending input.
    pub line: u32,
}

/// A malformed value given to a URI or header-value parser: what is wrong and where.
///
/// `offset` counts bytes from the start of the value (after the header's colon and leading
/// whitespace when the value came from a [`crate::message::Headers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{kind} at byte {offset} of the value")]
pub struct ValueError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset within the value.
    pub offset: usize,
}

impl ValueError {
    /// Creates an error of `kind` at `offset`.
    pub const fn new(kind: ParseErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// The same error moved `by` bytes further, for a value parsed inside a larger one.
    pub(crate) const fn shifted(self, by: usize) -> Self {
        Self {
            kind: self.kind,
            offset: self.offset + by,
        }
    }
}

/// A typed header view that cannot be produced: the header is missing or its value is malformed.
///
/// A request with a missing or malformed mandatory header (RFC 3261 §8.1.1) deserves a 400
/// when it can be answered at all; the `Display` text makes a usable reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header is absent.
    #[error("missing {0} header")]
    Missing(HeaderName),
    /// The header appears more often than its grammar allows.
    #[error("more than one {0} header")]
    Repeated(HeaderName),
    /// The header's value is malformed.
    #[error("malformed {header} header: {error}")]
    Invalid {
        /// The header.
        header: HeaderName,
        /// What is wrong in its value, and where.
        error: ValueError,
    },
}

impl HeaderError {
    /// Stable label for drop counters.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing_header",
            Self::Repeated(_) => "repeated_header",
            Self::Invalid { error, .. } => error.kind.reason(),
        }
    }
}
