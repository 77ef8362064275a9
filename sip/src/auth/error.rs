//! Errors of the digest module, one enum per caller decision.
//!
//! - [`AuthError`]: a header value did not parse or cannot be used (malformed input: answer
//!   400 on the server side, give up on the client side). `Copy`, with byte offsets.
//! - [`ClientError`]: the client cannot (or should no longer) answer a challenge.
//! - [`VerifierConfigError`]: a [`DigestVerifier`](crate::auth::DigestVerifier) was built
//!   with settings it refuses (construction time only).
//!
//! Verification outcomes are not here: a rejected request is a
//! [`Rejection`](crate::auth::Rejection), classified by what the server answers next.

use crate::auth::params::ParamName;

/// A challenge or credentials header value that does not parse, or that this module cannot
/// use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The value holds nothing but whitespace and commas.
    #[error("header value holds no challenge or credentials")]
    Empty,
    /// The scheme is not `Digest` (e.g. `Basic`, `Bearer`).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// A character the auth-param grammar does not allow here (byte offset into the value).
    #[error("unexpected character at byte {at}")]
    UnexpectedCharacter {
        /// Byte offset into the header value.
        at: usize,
    },
    /// A quoted string that is never closed (offset of its opening quote).
    #[error("quoted string opened at byte {at} is not closed")]
    UnterminatedQuotedString {
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// A control character (other than HTAB) inside a value.
    #[error("control character at byte {at}")]
    ControlCharacter {
        /// Byte offset of the character.
        at: usize,
    },
    /// More parameters in one challenge or credentials than the parser accepts.
    #[error("more than {max} parameters in one challenge or credentials")]
    TooManyParameters {
        /// The limit, [`MAX_PARAMS`](crate::auth::MAX_PARAMS).
        max: usize,
    },
    /// More challenges in one header value than the parser accepts.
    #[error("more than {max} challenges in one header value")]
    TooManyChallenges {
        /// The limit, [`MAX_CHALLENGES`](crate::auth::MAX_CHALLENGES).
        max: usize,
    },
    /// `Digest` followed by a token68 instead of parameters.
    #[error("Digest carries a token68 instead of parameters")]
    Token68,
    /// A Digest parameter appears twice (RFC 7235 §2.1 allows each name once).
    #[error("parameter {0} appears twice")]
    DuplicateParameter(ParamName),
    /// A required Digest parameter is absent.
    #[error("required parameter {0} is missing")]
    MissingParameter(ParamName),
    /// A Digest parameter's value does not fit its grammar (e.g. `nc=xyz`, empty `response`).
    #[error("parameter {0} has an invalid value")]
    InvalidValue(ParamName),
    /// The `algorithm` is not one this module implements.
    #[error("digest algorithm not implemented")]
    UnsupportedAlgorithm,
    /// The credentials' `qop` is neither `auth` nor `auth-int`.
    #[error("qop value not implemented")]
    UnsupportedQop,
    /// The header values hold challenges, but no Digest challenge with an algorithm this
    /// module implements.
    #[error("no Digest challenge with an algorithm we implement")]
    NoSupportedChallenge,
}

impl AuthError {
    /// Stable label for counters (`tandem_sip_auth_parse_errors_total{reason="…"}`).
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::NotDigest => "not_digest",
            Self::UnexpectedCharacter { .. } => "unexpected_character",
            Self::UnterminatedQuotedString { .. } => "unterminated_quoted_string",
            Self::ControlCharacter { .. } => "control_character",
            Self::TooManyParameters { .. } => "too_many_parameters",
            Self::TooManyChallenges { .. } => "too_many_challenges",
            Self::Token68 => "token68",
            Self::DuplicateParameter(_) => "duplicate_parameter",
            Self::MissingParameter(_) => "missing_parameter",
            Self::InvalidValue(_) => "invalid_value",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::UnsupportedQop => "unsupported_qop",
            Self::NoSupportedChallenge => "no_supported_challenge",
        }
    }
}

/// Why a [`DigestClient`](crate::auth::DigestClient) will not produce credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No challenge has been handled yet: send the request without credentials first.
    #[error("no challenge to answer yet")]
    NoChallenge,
    /// The server challenged again, without `stale=true`, right after credentials computed
    /// for a fresh nonce: the username or password is wrong. Retrying would loop; report
    /// the failure (RFC 7616 §3.3 `stale`, RFC 3261 §22.2).
    #[error("the server rejected the credentials")]
    CredentialsRejected,
    /// The challenge header values could not be used.
    #[error(transparent)]
    Challenge(#[from] AuthError),
    /// The caller's cnonce material is shorter than the client requires.
    #[error("cnonce material of {len} bytes is shorter than {min}")]
    CnonceTooShort {
        /// Bytes supplied.
        len: usize,
        /// Bytes required, [`DigestClient::CNONCE_MIN_LEN`](crate::auth::DigestClient::CNONCE_MIN_LEN).
        min: usize,
    },
    /// The username cannot be printed in a header (it holds CR, LF or another control
    /// character).
    #[error("username holds a control character")]
    InvalidUsername,
    /// The nonce was used 2³² − 1 times: wait for a new challenge.
    #[error("nonce count exhausted for this nonce")]
    NonceCountExhausted,
}

/// Settings a [`DigestVerifier`](crate::auth::DigestVerifier) refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierConfigError {
    /// The nonce key is too short to resist guessing.
    #[error("nonce secret of {len} bytes is shorter than {min}")]
    SecretTooShort {
        /// Bytes supplied.
        len: usize,
        /// Bytes required, [`DigestVerifier::SECRET_MIN_LEN`](crate::auth::DigestVerifier::SECRET_MIN_LEN).
        min: usize,
    },
    /// The realm holds CR, LF or another control character and cannot be printed.
    #[error("realm {0:?} holds a control character")]
    InvalidRealm(String),
    /// A nonce lifetime of zero seconds would make every nonce stale.
    #[error("nonce lifetime must be at least one second")]
    ZeroNonceLifetime,
    /// The list of algorithms to offer is empty.
    #[error("no digest algorithm to offer")]
    NoAlgorithms,
}
