//! Forking: the branches of one gateway call, and the final response the caller gets when
//! none of them answered.
//!
//! A call to a registered user rings every current contact at once (RFC 3261 §16.7, done
//! as a B2BUA): one [`Branch`] per contact, each its own outbound INVITE (its own Call-ID,
//! tags and client transaction) with the same SDP offer at the same RTP port, and its own
//! hop list for DNS/TCP failover. A route's call is a fork of one branch.
//!
//! The first 2xx wins and is bridged; the others still pending are cancelled, and a 2xx
//! that loses the race is ACKed and hung up at once. A 6xx (a global failure, such as 603
//! Decline) cancels the branches still ringing. When every branch failed, the caller gets
//! [`best_response`].

use tandem_sip::dialog::Dialog;
use tandem_sip::message::{Request, StatusCode, Uri};
use tandem_sip::transaction::TransactionId;

use crate::run::locate::Hop;
use crate::run::transport::Transport as Wire;

/// Where one branch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BranchState {
    /// Its target's name is being looked up.
    Locating,
    /// Its hop is known; its INVITE goes out once the media session exists.
    Ready,
    /// Its INVITE is out, no final response yet.
    Calling,
    /// It answered 2xx (the winner, or a loser that was ACKed and hung up).
    Answered,
    /// It ended without a 2xx.
    Failed(Failure),
}

/// How a branch failed: the status the caller would get for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Failure {
    /// The status for the caller (a challenge or redirect already mapped to 503).
    pub(super) status: StatusCode,
    /// It is the callee's own answer, not one Tandem made up (a timeout, a transport
    /// error, an unresolved name): within a class, the callee's word says more.
    pub(super) from_callee: bool,
}

impl Failure {
    /// A status the callee sent.
    pub(super) fn from_callee(status: StatusCode) -> Self {
        Self {
            status,
            from_callee: true,
        }
    }

    /// A status Tandem made up for the branch.
    pub(super) fn local(status: StatusCode) -> Self {
        Self {
            status,
            from_callee: false,
        }
    }
}

/// One outbound INVITE of a call.
#[derive(Debug)]
pub(super) struct Branch {
    /// The contact (or route target) it calls.
    pub(super) target: Uri,
    pub(super) state: BranchState,
    /// The hop its INVITE goes to now (a placeholder while `Locating`).
    pub(super) hop: Hop,
    /// The hops left to try, the next one last.
    pub(super) next_hops: Vec<Hop>,
    /// The current hop answered something: no failover to the next one any more.
    pub(super) hop_answered: bool,
    /// Its INVITE (for the dialog and the CANCEL), once built.
    pub(super) request: Option<Request>,
    /// Its client transaction while it has one.
    pub(super) txn: Option<TransactionId>,
    /// A 2xx that lost the race: its dialog, ACKed and hung up (a retransmission of the
    /// 2xx is ACKed again, without another BYE).
    pub(super) lost: Option<Dialog>,
}

impl Branch {
    /// A branch to `target` whose first hop is `hop`.
    pub(super) fn new(target: Uri, state: BranchState, hop: Hop) -> Self {
        Self {
            target,
            state,
            hop,
            next_hops: Vec::new(),
            hop_answered: false,
            request: None,
            txn: None,
            lost: None,
        }
    }

    /// It may still answer (no final response yet).
    pub(super) fn is_pending(&self) -> bool {
        matches!(
            self.state,
            BranchState::Locating | BranchState::Ready | BranchState::Calling
        )
    }
}

/// A branch still calling when its call ended (the caller hung up or cancelled before it
/// answered): kept until its INVITE transaction ends, so that a 2xx on it is ACKed and hung
/// up rather than left ringing a dialog nobody owns.
#[derive(Debug)]
pub(super) struct Orphan {
    /// Its INVITE.
    pub(super) request: Request,
    /// How its INVITE went.
    pub(super) transport: Wire,
    /// Its 2xx's dialog, once ACKed and hung up.
    pub(super) lost: Option<Dialog>,
}

/// The final response for a caller whose every branch failed (RFC 3261 §16.7 step 6): a
/// 6xx if any branch gave one, else a status from the lowest class; within a class the
/// callee's own answer beats one Tandem made up, then the first to arrive. 503 when there
/// is no failure at all (no branch to call).
pub(super) fn best_response<'a>(failures: impl IntoIterator<Item = &'a Failure>) -> StatusCode {
    let rank = |f: &Failure| {
        let class = f.status.as_u16() / 100;
        // 6xx first, then 3xx (not forwarded, so never seen here), 4xx, 5xx.
        let class_rank = if class == 6 { 0 } else { class };
        (class_rank, !f.from_callee)
    };
    failures
        .into_iter()
        .enumerate()
        .min_by_key(|(order, f)| (rank(f), *order))
        .map_or(StatusCode::SERVICE_UNAVAILABLE, |(_, f)| f.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::new(code).unwrap()
    }

    /// RFC 3261 §16.7 step 6: "the proxy MUST choose from the 6xx class responses if any
    /// exist in the context".
    #[test]
    fn a_6xx_wins_over_every_other_class() {
        let failures = [
            Failure::from_callee(status(486)),
            Failure::from_callee(status(603)),
            Failure::from_callee(status(500)),
        ];
        assert_eq!(best_response(&failures), status(603));
    }

    /// RFC 3261 §16.7 step 6: "the proxy SHOULD choose from the lowest response class".
    #[test]
    fn otherwise_the_lowest_class_wins() {
        let failures = [
            Failure::from_callee(status(500)),
            Failure::from_callee(status(486)),
        ];
        assert_eq!(best_response(&failures), status(486));
    }

    #[test]
    fn within_a_class_the_callee_s_answer_beats_tandem_s_and_then_the_first() {
        let failures = [
            Failure::local(status(408)),
            Failure::from_callee(status(486)),
            Failure::from_callee(status(404)),
        ];
        assert_eq!(best_response(&failures), status(486));
        let failures = [Failure::local(status(503)), Failure::local(status(408))];
        assert_eq!(best_response(&failures), status(408), "4xx before 5xx");
    }

    #[test]
    fn no_failure_at_all_is_503() {
        assert_eq!(best_response(&[]), StatusCode::SERVICE_UNAVAILABLE);
    }
}
