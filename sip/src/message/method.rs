//! SIP methods (RFC 3261 §7.1 and the extensions Tandem knows by name).
//!
//! Methods are case-sensitive tokens (RFC 3261 §7.1): `invite` is an extension method, not
//! INVITE. Any token is accepted as [`Method::Extension`].

use std::fmt;

use super::grammar;
use crate::error::{ParseErrorKind, ValueError};

/// A SIP request method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// INVITE (RFC 3261).
    Invite,
    /// ACK (RFC 3261).
    Ack,
    /// BYE (RFC 3261).
    Bye,
    /// CANCEL (RFC 3261).
    Cancel,
    /// OPTIONS (RFC 3261).
    Options,
    /// REGISTER (RFC 3261).
    Register,
    /// INFO (RFC 6086).
    Info,
    /// UPDATE (RFC 3311).
    Update,
    /// PRACK (RFC 3262).
    Prack,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// REFER (RFC 3515).
    Refer,
    /// MESSAGE (RFC 3428).
    Message,
    /// PUBLISH (RFC 3903).
    Publish,
    /// Any other token. Never holds the name of one of the variants above.
    Extension(String),
}

impl Method {
    /// Parses a method token. Known names map to their variant; other tokens become
    /// [`Method::Extension`].
    ///
    /// # Errors
    /// [`ParseErrorKind::InvalidMethod`] when `s` is not a token.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        Ok(match s.as_bytes() {
            b"INVITE" => Self::Invite,
            b"ACK" => Self::Ack,
            b"BYE" => Self::Bye,
            b"CANCEL" => Self::Cancel,
            b"OPTIONS" => Self::Options,
            b"REGISTER" => Self::Register,
            b"INFO" => Self::Info,
            b"UPDATE" => Self::Update,
            b"PRACK" => Self::Prack,
            b"SUBSCRIBE" => Self::Subscribe,
            b"NOTIFY" => Self::Notify,
            b"REFER" => Self::Refer,
            b"MESSAGE" => Self::Message,
            b"PUBLISH" => Self::Publish,
            other if grammar::is_token(other) => Self::Extension(s.to_owned()),
            _ => return Err(ValueError::new(ParseErrorKind::InvalidMethod, 0)),
        })
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Register => "REGISTER",
            Self::Info => "INFO",
            Self::Update => "UPDATE",
            Self::Prack => "PRACK",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Refer => "REFER",
            Self::Message => "MESSAGE",
            Self::Publish => "PUBLISH",
            Self::Extension(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Method {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_methods_are_case_sensitive() {
        assert_eq!(Method::parse("INVITE"), Ok(Method::Invite));
        assert_eq!(
            Method::parse("invite"),
            Ok(Method::Extension("invite".into()))
        );
        assert!(Method::parse("IN VITE").is_err());
        assert!(Method::parse("").is_err());
        assert_eq!(Method::Publish.to_string(), "PUBLISH");
    }
}
