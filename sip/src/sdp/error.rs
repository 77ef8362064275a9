//! Errors of the SDP layer: [`SdpError`] for bodies that do not parse, [`NegotiationError`]
//! for answers that break RFC 3264.
//!
//! Both are `Copy`, carry numbers rather than text, and have a stable [`SdpErrorKind::reason`]
//! / [`NegotiationError::reason`] label for counters. What the caller does next: a body that
//! does not parse is a malformed request (SIP 400, or 488 for an answer inside a dialog); an
//! answer that fails negotiation ends the offer/answer exchange (RFC 3261 §13.2.1: the UAC
//! acknowledges the 2xx and sends BYE).

use std::fmt;

/// A session description that does not parse, and the line (1-based) where parsing stopped.
/// Line 0 means the body as a whole (too long, or empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("SDP line {line}: {kind}")]
pub struct SdpError {
    /// What is wrong.
    pub kind: SdpErrorKind,
    /// The 1-based line number, or 0 for the whole body.
    pub line: u32,
}

impl SdpError {
    pub(crate) const fn new(kind: SdpErrorKind, line: u32) -> Self {
        SdpError { kind, line }
    }
}

/// The SDP line types of RFC 8866 §5, named for what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `v=`, protocol version.
    Version,
    /// `o=`, originator and session identifier.
    Origin,
    /// `s=`, session name.
    SessionName,
    /// `i=`, session or media information.
    Information,
    /// `u=`, URI of description.
    Uri,
    /// `e=`, email address.
    Email,
    /// `p=`, phone number.
    Phone,
    /// `c=`, connection information.
    Connection,
    /// `b=`, bandwidth information.
    Bandwidth,
    /// `t=`, time the session is active.
    Timing,
    /// `r=`, repeat times.
    Repeat,
    /// `z=`, time zone adjustments.
    TimeZone,
    /// `k=`, encryption key (obsolete).
    EncryptionKey,
    /// `a=`, attribute.
    Attribute,
    /// `m=`, media name and transport address.
    Media,
}

impl Field {
    /// The field a type letter names, if RFC 8866 defines it.
    pub const fn from_letter(letter: u8) -> Option<Field> {
        Some(match letter {
            b'v' => Field::Version,
            b'o' => Field::Origin,
            b's' => Field::SessionName,
            b'i' => Field::Information,
            b'u' => Field::Uri,
            b'e' => Field::Email,
            b'p' => Field::Phone,
            b'c' => Field::Connection,
            b'b' => Field::Bandwidth,
            b't' => Field::Timing,
            b'r' => Field::Repeat,
            b'z' => Field::TimeZone,
            b'k' => Field::EncryptionKey,
            b'a' => Field::Attribute,
            b'm' => Field::Media,
            _ => return None,
        })
    }

    /// The type letter.
    pub const fn letter(self) -> char {
        match self {
            Field::Version => 'v',
            Field::Origin => 'o',
            Field::SessionName => 's',
            Field::Information => 'i',
            Field::Uri => 'u',
            Field::Email => 'e',
            Field::Phone => 'p',
            Field::Connection => 'c',
            Field::Bandwidth => 'b',
            Field::Timing => 't',
            Field::Repeat => 'r',
            Field::TimeZone => 'z',
            Field::EncryptionKey => 'k',
            Field::Attribute => 'a',
            Field::Media => 'm',
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.letter())
    }
}

/// Why a session description does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpErrorKind {
    /// The body is empty.
    #[error("empty body")]
    Empty,
    /// The body is longer than [`crate::sdp::MAX_SDP_BYTES`].
    #[error("body of {len} bytes exceeds the limit")]
    TooLong {
        /// The body's length in bytes.
        len: usize,
    },
    /// The line is not UTF-8 (RFC 8866 §5: text is UTF-8 unless `a=charset` says otherwise,
    /// which Tandem does not support).
    #[error("line is not UTF-8")]
    NotUtf8,
    /// The line is not `<letter>=<value>`, or holds a CR or NUL inside it.
    #[error("line is not <type>=<value>")]
    LineSyntax,
    /// A blank line before the end of the body.
    #[error("blank line inside the description")]
    BlankLine,
    /// A type letter RFC 8866 does not define; §5 says to ignore the whole description.
    #[error("unknown line type {letter:?}")]
    UnknownType {
        /// The letter.
        letter: char,
    },
    /// A required line is missing (`v=`, `o=`, `s=`, `t=`).
    #[error("missing {0} line")]
    Missing(Field),
    /// A line out of the order RFC 8866 §5 requires, or repeated where only one is allowed.
    #[error("{0} line out of order or repeated")]
    Unexpected(Field),
    /// `v=` is not 0.
    #[error("unsupported SDP version")]
    UnsupportedVersion,
    /// A network or address type other than `IN IP4` / `IN IP6`.
    #[error("unsupported network or address type")]
    UnsupportedAddress,
    /// A line's value does not follow its grammar.
    #[error("malformed {0} line")]
    Malformed(Field),
    /// More `m=` sections than [`crate::sdp::MAX_MEDIA`].
    #[error("too many media descriptions")]
    TooManyMedia,
    /// More formats on one `m=` line than [`crate::sdp::MAX_FORMATS`].
    #[error("too many formats on one m= line")]
    TooManyFormats,
}

impl SdpErrorKind {
    /// Stable label for `tandem_sdp_rejected_total{reason="…"}`.
    pub const fn reason(&self) -> &'static str {
        match self {
            SdpErrorKind::Empty => "empty",
            SdpErrorKind::TooLong { .. } => "too_long",
            SdpErrorKind::NotUtf8 => "not_utf8",
            SdpErrorKind::LineSyntax => "line_syntax",
            SdpErrorKind::BlankLine => "blank_line",
            SdpErrorKind::UnknownType { .. } => "unknown_type",
            SdpErrorKind::Missing(_) => "missing_line",
            SdpErrorKind::Unexpected(_) => "unexpected_line",
            SdpErrorKind::UnsupportedVersion => "unsupported_version",
            SdpErrorKind::UnsupportedAddress => "unsupported_address",
            SdpErrorKind::Malformed(_) => "malformed_line",
            SdpErrorKind::TooManyMedia => "too_many_media",
            SdpErrorKind::TooManyFormats => "too_many_formats",
        }
    }
}

/// An answer that breaks the offer/answer rules of RFC 3264 §6 against the offer it answers.
/// `stream` is the index of the `m=` section at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// An answer arrived but no offer of ours is waiting for one.
    #[error("no offer is waiting for an answer")]
    NoOfferPending,
    /// The answer does not have one `m=` line per offered one (RFC 3264 §6).
    #[error("answer has {answered} media descriptions for {offered} offered")]
    MediaCountMismatch {
        /// `m=` lines in the offer.
        offered: usize,
        /// `m=` lines in the answer.
        answered: usize,
    },
    /// An answered stream's media type differs from the offered one.
    #[error("stream {stream}: answered media type differs from the offer")]
    MediaTypeMismatch {
        /// The stream index.
        stream: usize,
    },
    /// An answered stream's transport protocol differs from the offered one (RFC 3264 §6).
    #[error("stream {stream}: answered transport protocol differs from the offer")]
    ProtocolMismatch {
        /// The stream index.
        stream: usize,
    },
    /// The answer accepts a stream the offer disabled with port 0 (RFC 3264 §6).
    #[error("stream {stream}: answer accepts a stream offered with port 0")]
    AcceptedDisabledStream {
        /// The stream index.
        stream: usize,
    },
    /// An accepted stream has no connection address, neither its own nor the session's.
    #[error("stream {stream}: no connection address")]
    NoConnectionAddress {
        /// The stream index.
        stream: usize,
    },
    /// An accepted stream lists only codecs the offer did not (RFC 3264 §6.1: at least one
    /// answered format must be an offered one).
    #[error("stream {stream}: payload type {payload_type} is not a codec that was offered")]
    UnofferedCodec {
        /// The stream index.
        stream: usize,
        /// The first payload type the answer listed, as it wrote it.
        payload_type: u8,
    },
    /// An accepted stream lists no payload type at all.
    #[error("stream {stream}: accepted with no codec")]
    NoCodec {
        /// The stream index.
        stream: usize,
    },
}

impl NegotiationError {
    /// Stable label for `tandem_sdp_negotiation_failed_total{reason="…"}`.
    pub const fn reason(&self) -> &'static str {
        match self {
            NegotiationError::NoOfferPending => "no_offer_pending",
            NegotiationError::MediaCountMismatch { .. } => "media_count_mismatch",
            NegotiationError::MediaTypeMismatch { .. } => "media_type_mismatch",
            NegotiationError::ProtocolMismatch { .. } => "protocol_mismatch",
            NegotiationError::AcceptedDisabledStream { .. } => "accepted_disabled_stream",
            NegotiationError::NoConnectionAddress { .. } => "no_connection_address",
            NegotiationError::UnofferedCodec { .. } => "unoffered_codec",
            NegotiationError::NoCodec { .. } => "no_codec",
        }
    }
}
