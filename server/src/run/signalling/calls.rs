//! The call table: one [`Call`] per INVITE Tandem is handling, from its arrival until it is
//! torn down, with the indexes signalling needs to find a call from what arrives (a server
//! transaction, a dialog, a media leg) and the wake-up times of the calls' timers.
//!
//! Plain data owned by the signalling task. Removing a call removes every index entry that
//! points at it, so a late event for a call that is gone finds nothing (and is ignored).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tandem_core::session::{LegId, LegSpec, MediaDirection, SessionId};
use tandem_sip::dialog::{DialogId, Negotiated, SessionTimer};
use tandem_sip::message::{Request, Response, Transport};
use tandem_sip::sdp::{LocalPolicy, LocalSession, SessionDescription};
use tandem_sip::transaction::TransactionId;

use super::sessions::{MediaBinding, Target};
use crate::api::quality::Track;

/// Identifies a call in the table for its whole life (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct CallKey(u64);

/// A 2xx to an INVITE waiting for its ACK (RFC 3261 §13.3.1.4): retransmitted over UDP at
/// T1, 2·T1... capped at T2, and given up (the call ends with a BYE) at 64·T1.
#[derive(Debug, Clone)]
pub(super) struct Pending2xx {
    /// The INVITE's server transaction (Accepted while the 2xx is retransmitted).
    pub(super) transaction: TransactionId,
    /// The INVITE's CSeq number: only an ACK with it confirms.
    pub(super) cseq: u32,
    /// The 2xx.
    pub(super) response: Response,
    /// Retransmit it (unreliable transports only).
    pub(super) retransmit: bool,
    /// The next retransmission.
    pub(super) next: Instant,
    /// The current retransmission interval.
    pub(super) interval: Duration,
    /// When to give up.
    pub(super) give_up: Instant,
}

/// A re-INVITE or UPDATE whose offer changes the codec: answered once the session is rebuilt
/// on the same ports (echo, tone) or a new conference leg exists (new ports).
#[derive(Debug, Clone)]
pub(super) struct Renegotiation {
    /// Its server transaction.
    pub(super) transaction: TransactionId,
    /// The request.
    pub(super) request: Request,
    /// Its offer.
    pub(super) offer: SessionDescription,
    /// The leg the offer asks for.
    pub(super) leg: LegSpec,
    /// Which way media flows on it, as the answer says.
    pub(super) direction: MediaDirection,
    /// Its session timer negotiation.
    pub(super) timer: Option<Negotiated>,
}

/// One call.
#[derive(Debug)]
pub(super) struct Call {
    /// Its Call-ID, for logs.
    pub(super) call_id: String,
    /// The dialog-creating INVITE.
    pub(super) invite: Request,
    /// The INVITE's server transaction while it has no final response.
    pub(super) invite_transaction: Option<TransactionId>,
    /// Who sent the INVITE (where in-dialog requests go when the target is not an address).
    pub(super) source: SocketAddr,
    /// How it came.
    pub(super) transport: Transport,
    /// Our To tag.
    pub(super) local_tag: String,
    /// What the call is connected to.
    pub(super) target: Target,
    /// Our SDP policy for this caller (its codec preferences), without ports.
    pub(super) policy: LocalPolicy,
    /// Our side of the SDP session.
    pub(super) sdp: LocalSession,
    /// The initial offer, until it is answered; `None` for an INVITE without SDP (a late
    /// offer: ours goes in the 200, the answer comes in the ACK).
    pub(super) offer: Option<SessionDescription>,
    /// The session is being rebuilt for another codec on the same ports (the answer in the
    /// ACK chose another codec than the leg was built with); a re-INVITE meanwhile is 491.
    pub(super) replacing: bool,
    /// The leg as last negotiated.
    pub(super) leg: LegSpec,
    /// Which way media flows on the leg as last negotiated, seen from Tandem (the peer's
    /// hold is our `RecvOnly` or `Inactive`).
    pub(super) direction: MediaDirection,
    /// The media leg, once created.
    pub(super) media: Option<MediaBinding>,
    /// The dialog, once the 2xx is sent.
    pub(super) dialog: Option<DialogId>,
    /// A 2xx waiting for its ACK.
    pub(super) pending_2xx: Option<Pending2xx>,
    /// A re-INVITE or UPDATE waiting for a new media leg.
    pub(super) renegotiation: Option<Renegotiation>,
    /// The session timer negotiated with the last INVITE or UPDATE.
    pub(super) timer_negotiated: Option<Negotiated>,
    /// The running session timer (RFC 4028).
    pub(super) timer: Option<SessionTimer>,
    /// What the caller's stream sounded like, RTCP interval by interval (logged at the end).
    pub(super) quality: Track,
}

/// Every call, and the ways to find one.
#[derive(Debug, Default)]
pub(super) struct CallTable {
    calls: HashMap<CallKey, Call>,
    next: u64,
    by_transaction: HashMap<TransactionId, CallKey>,
    by_dialog: HashMap<DialogId, CallKey>,
    by_leg: HashMap<(SessionId, LegId), CallKey>,
    /// When each call wants to be woken, earliest first; stale entries (the call is gone or
    /// rescheduled) are skipped.
    wakeups: BinaryHeap<Reverse<(Instant, CallKey)>>,
}

impl CallTable {
    /// Calls in the table.
    pub(super) fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when there are none.
    pub(super) fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Adds a call and returns its key.
    pub(super) fn insert(&mut self, call: Call) -> CallKey {
        let key = CallKey(self.next);
        self.next += 1;
        self.calls.insert(key, call);
        key
    }

    /// The call with `key`.
    pub(super) fn get(&self, key: CallKey) -> Option<&Call> {
        self.calls.get(&key)
    }

    /// The call with `key`, mutably.
    pub(super) fn get_mut(&mut self, key: CallKey) -> Option<&mut Call> {
        self.calls.get_mut(&key)
    }

    /// Every call's key.
    pub(super) fn keys(&self) -> Vec<CallKey> {
        self.calls.keys().copied().collect()
    }

    /// Removes a call and every index entry that points at it.
    pub(super) fn remove(&mut self, key: CallKey) -> Option<Call> {
        let call = self.calls.remove(&key)?;
        self.by_transaction.retain(|_, k| *k != key);
        if let Some(dialog) = &call.dialog {
            self.by_dialog.remove(dialog);
        }
        if let Some(media) = &call.media {
            self.by_leg.remove(&(media.session, media.leg));
        }
        Some(call)
    }

    /// Server transaction `id` belongs to `key`.
    pub(super) fn bind_transaction(&mut self, id: TransactionId, key: CallKey) {
        self.by_transaction.insert(id, key);
    }

    /// The call of server transaction `id`.
    pub(super) fn by_transaction(&self, id: TransactionId) -> Option<CallKey> {
        self.by_transaction.get(&id).copied()
    }

    /// Transaction `id` has terminated.
    pub(super) fn forget_transaction(&mut self, id: TransactionId) {
        self.by_transaction.remove(&id);
    }

    /// Dialog `id` belongs to `key`.
    pub(super) fn bind_dialog(&mut self, id: DialogId, key: CallKey) {
        self.by_dialog.insert(id, key);
    }

    /// The call of dialog `id`.
    pub(super) fn by_dialog(&self, id: &DialogId) -> Option<CallKey> {
        self.by_dialog.get(id).copied()
    }

    /// Media leg `(session, leg)` belongs to `key`.
    pub(super) fn bind_leg(&mut self, media: &MediaBinding, key: CallKey) {
        self.by_leg.insert((media.session, media.leg), key);
    }

    /// Media leg `(session, leg)` no longer belongs to anyone.
    pub(super) fn unbind_leg(&mut self, media: &MediaBinding) {
        self.by_leg.remove(&(media.session, media.leg));
    }

    /// The call of a media leg.
    pub(super) fn by_leg(&self, session: SessionId, leg: LegId) -> Option<CallKey> {
        self.by_leg.get(&(session, leg)).copied()
    }

    /// Wakes `key` at `at` (its timers decide what is due then).
    pub(super) fn schedule(&mut self, at: Instant, key: CallKey) {
        self.wakeups.push(Reverse((at, key)));
    }

    /// The earliest wake-up of a live call; stale entries on top are dropped.
    pub(super) fn next_wakeup(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.wakeups.peek().copied() {
            if self.calls.contains_key(&key) {
                return Some(at);
            }
            self.wakeups.pop();
        }
        None
    }

    /// Takes the calls due at `now` (each once, however many entries it had).
    pub(super) fn due(&mut self, now: Instant) -> Vec<CallKey> {
        let mut due = Vec::new();
        while let Some(Reverse((at, key))) = self.wakeups.peek().copied() {
            if at > now {
                break;
            }
            self.wakeups.pop();
            if self.calls.contains_key(&key) && !due.contains(&key) {
                due.push(key);
            }
        }
        due
    }
}
