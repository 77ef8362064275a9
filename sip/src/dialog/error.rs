//! Errors of the dialog layer, classified by what the caller does next.
//!
//! [`DialogError`] is local misuse or a message that cannot make or drive a dialog (drop it,
//! count it under [`DialogError::reason`]). What to answer to an in-dialog request that must be
//! refused is [`InDialogRejection`] (in `dialog.rs`): it carries the status code the RFC asks
//! for.

use crate::error::HeaderError;
use crate::message::StatusCode;

/// Why a dialog could not be created, driven, or asked for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog layer needs is missing or malformed.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The response cannot create a dialog: it is a 100, a final non-2xx, or the request is
    /// not an INVITE (RFC 3261 §12.1).
    #[error("a {status} response to this request does not create a dialog")]
    NotDialogCreating {
        /// The response's status.
        status: StatusCode,
    },
    /// A provisional response without a To tag cannot create an early dialog (RFC 3261
    /// §12.1), or a From has no tag where one is required.
    #[error("missing tag")]
    MissingTag,
    /// A dialog-creating message has no Contact (RFC 3261 §12.1.1, §12.1.2).
    #[error("missing Contact in a dialog-creating message")]
    MissingContact,
    /// The Contact is `*` where an address is required.
    #[error("wildcard Contact where an address is required")]
    WildcardContact,
    /// The message belongs to another dialog (Call-ID or tags differ).
    #[error("message does not belong to this dialog")]
    WrongDialog,
    /// The dialog is terminated: no request may be sent in it.
    #[error("dialog is terminated")]
    Terminated,
    /// The request is not allowed in an early dialog (a BYE from the callee, RFC 3261 §15;
    /// a re-INVITE, §14).
    #[error("not allowed in an early dialog")]
    Early,
    /// An INVITE transaction is in progress in one direction or the other: a new INVITE must
    /// wait (RFC 3261 §14.1).
    #[error("an INVITE transaction is in progress in this dialog")]
    InviteInProgress,
    /// No INVITE was sent in this dialog, so there is nothing to ACK.
    #[error("no INVITE to acknowledge")]
    NoInvite,
    /// The local CSeq would reach 2³¹ (RFC 3261 §8.1.1.5).
    #[error("local CSeq space exhausted")]
    CSeqExhausted,
    /// A tag, Call-ID or parameter supplied by the caller is not a valid token.
    #[error("invalid tag or parameter supplied")]
    InvalidToken,
}

impl DialogError {
    /// Stable label for drop counters.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Header(e) => e.reason(),
            Self::NotDialogCreating { .. } => "not_dialog_creating",
            Self::MissingTag => "missing_tag",
            Self::MissingContact => "missing_contact",
            Self::WildcardContact => "wildcard_contact",
            Self::WrongDialog => "wrong_dialog",
            Self::Terminated => "terminated",
            Self::Early => "early",
            Self::InviteInProgress => "invite_in_progress",
            Self::NoInvite => "no_invite",
            Self::CSeqExhausted => "cseq_exhausted",
            Self::InvalidToken => "invalid_token",
        }
    }
}
