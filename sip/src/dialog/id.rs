//! The dialog identifier (RFC 3261 §12): Call-ID, local tag and remote tag.
//!
//! Which tag is local depends on the direction of the message: in a request we receive the
//! local tag is the To tag and the remote tag the From tag; in a response we receive (to a
//! request we sent) it is the other way round (§12.1.1, §12.1.2, §12.2.2). Call-IDs and tags
//! compare byte for byte.

use std::fmt;

use super::DialogError;
use crate::message::{Request, Response};

/// Identifies one dialog from our side: `(Call-ID, local tag, remote tag)`.
///
/// The remote tag is empty for a dialog with an RFC 2543 peer that answered without a To tag
/// (RFC 3261 §12.1.2 calls that tag "null").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag (empty when the peer sent none).
    pub remote_tag: String,
}

impl DialogId {
    /// A dialog id from its three parts.
    pub fn new(
        call_id: impl Into<String>,
        local_tag: impl Into<String>,
        remote_tag: impl Into<String>,
    ) -> Self {
        Self {
            call_id: call_id.into(),
            local_tag: local_tag.into(),
            remote_tag: remote_tag.into(),
        }
    }

    /// The id of the dialog a received request belongs to: local tag from To, remote tag from
    /// From (RFC 3261 §12.2.2). `Ok(None)` when the To has no tag: the request is outside any
    /// dialog.
    ///
    /// # Errors
    /// [`DialogError::Header`] when Call-ID, From or To is missing or malformed.
    pub fn of_received_request(request: &Request) -> Result<Option<Self>, DialogError> {
        let h = &request.headers;
        let to = h.to()?;
        let Some(local) = to.tag() else {
            return Ok(None);
        };
        let from = h.from()?;
        Ok(Some(Self::new(
            h.call_id()?,
            local,
            from.tag().unwrap_or_default(),
        )))
    }

    /// The id of the dialog a received response belongs to (a response to a request we
    /// sent): local tag from From, remote tag from To, empty when absent (§12.1.2).
    ///
    /// # Errors
    /// [`DialogError::Header`] when Call-ID, From or To is missing or malformed;
    /// [`DialogError::MissingTag`] when From has no tag (we always send one).
    pub fn of_received_response(response: &Response) -> Result<Self, DialogError> {
        let h = &response.headers;
        let from = h.from()?;
        let local = from.tag().ok_or(DialogError::MissingTag)?;
        let to = h.to()?;
        Ok(Self::new(h.call_id()?, local, to.tag().unwrap_or_default()))
    }

    /// The id of the dialog a response we send (as UAS) creates or belongs to: local tag from
    /// To, remote tag from From.
    ///
    /// # Errors
    /// [`DialogError::Header`] when a header is missing or malformed;
    /// [`DialogError::MissingTag`] when the To has no tag yet (see
    /// [`Response::set_to_tag`]).
    pub fn of_sent_response(response: &Response) -> Result<Self, DialogError> {
        let h = &response.headers;
        let to = h.to()?;
        let local = to.tag().ok_or(DialogError::MissingTag)?;
        let from = h.from()?;
        Ok(Self::new(
            h.call_id()?,
            local,
            from.tag().unwrap_or_default(),
        ))
    }

    /// True when `other` is in the same dialog set (RFC 3261 §12: same Call-ID and local
    /// tag; forked early dialogs differ only by remote tag).
    pub fn same_dialog_set(&self, other: &Self) -> bool {
        self.call_id == other.call_id && self.local_tag == other.local_tag
    }
}

impl fmt::Display for DialogId {
    /// `call-id;local=tag;remote=tag`, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYE: &[u8] = b"BYE sip:alice@192.0.2.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK-b\r\n\
        Max-Forwards: 70\r\n\
        From: <sip:bob@example.com>;tag=bob-tag\r\n\
        To: <sip:alice@example.com>;tag=alice-tag\r\n\
        Call-ID: c1@192.0.2.1\r\n\
        CSeq: 5 BYE\r\n\r\n";

    #[test]
    fn received_request_takes_local_tag_from_to() {
        let r = Request::parse(BYE).unwrap();
        let id = DialogId::of_received_request(&r).unwrap().unwrap();
        assert_eq!(id, DialogId::new("c1@192.0.2.1", "alice-tag", "bob-tag"));
        assert_eq!(
            id.to_string(),
            "c1@192.0.2.1;local=alice-tag;remote=bob-tag"
        );
    }

    #[test]
    fn request_without_to_tag_is_outside_any_dialog() {
        let mut r = Request::parse(BYE).unwrap();
        r.headers
            .set(crate::message::HeaderName::To, "<sip:alice@example.com>");
        assert_eq!(DialogId::of_received_request(&r), Ok(None));
    }

    #[test]
    fn received_response_takes_local_tag_from_from_and_tolerates_no_to_tag() {
        let r = Response::parse(
            b"SIP/2.0 200 OK\r\n\
            Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-a\r\n\
            From: <sip:alice@example.com>;tag=alice-tag\r\n\
            To: <sip:bob@example.com>\r\n\
            Call-ID: c1@192.0.2.1\r\n\
            CSeq: 1 INVITE\r\n\r\n",
        )
        .unwrap();
        let id = DialogId::of_received_response(&r).unwrap();
        assert_eq!(id, DialogId::new("c1@192.0.2.1", "alice-tag", ""));
        assert_eq!(DialogId::of_sent_response(&r), Err(DialogError::MissingTag));
        assert!(id.same_dialog_set(&DialogId::new("c1@192.0.2.1", "alice-tag", "x")));
    }
}
