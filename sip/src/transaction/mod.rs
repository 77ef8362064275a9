//! RFC 3261 §17 transactions (with RFC 6026): client and server, INVITE and non-INVITE.
//!
//! A [`TransactionLayer`] owns every transaction of one SIP endpoint. It is sans-IO: the
//! caller feeds it what arrived and the time ([`TransactionLayer::handle`]), asks it to send
//! requests and responses ([`TransactionLayer::send_request`],
//! [`TransactionLayer::send_response`], [`TransactionLayer::cancel`]), and drains what it wants
//! done.
//!
//! **After every call that takes `now`, drain [`TransactionLayer::poll_transmit`] and
//! [`TransactionLayer::poll_event`] until they return `None`, then sleep until
//! [`TransactionLayer::poll_timeout`] (or the next datagram) and call `handle` with
//! [`Input::Timeout`].**
//!
//! # The four machines
//!
//! | machine | file | states |
//! |---|---|---|
//! | INVITE client (§17.1.1, RFC 6026 §7.2) | `client_invite.rs` | Calling, Proceeding, Completed, Accepted, Terminated |
//! | non-INVITE client (§17.1.2) | `client.rs` | Trying, Proceeding, Completed, Terminated |
//! | INVITE server (§17.2.1, RFC 6026 §7.1) | `server_invite.rs` | Proceeding, Completed, Confirmed, Accepted, Terminated |
//! | non-INVITE server (§17.2.2) | `server.rs` | Trying, Proceeding, Completed, Terminated |
//!
//! Timers are [`Timer::A`] … [`Timer::M`] with the base values of [`Timers`] (T1 = 500 ms,
//! T2 = 4 s, T4 = 5 s by default). A, E and G only run on unreliable transports; D, I, J and K
//! are zero on reliable ones (the transaction terminates at once).
//!
//! # What the layer does for the TU, and what it leaves to it
//!
//! - It sends the ACK for a non-2xx final response (§17.1.1.3) and absorbs every
//!   retransmission it can. The ACK for a 2xx is the TU's ([`TransactionLayer::send_ack`]),
//!   and so is retransmitting a 2xx until the ACK comes (§13.3.1.4: call `send_response` again
//!   while the server transaction is Accepted).
//! - INVITE server transactions send 100 Trying when the TU has not answered within 200 ms
//!   (§17.2.1; see [`TryingPolicy`]).
//! - It answers a CANCEL itself (§9.2: 200 when it matches a transaction, 481 otherwise) and
//!   passes it up as [`Event::Cancel`] with the INVITE's id while that INVITE still awaits its
//!   final response; the TU then sends 487 to the INVITE.
//! - [`TransactionLayer::cancel`] builds and sends a CANCEL (§9.1), holding it back until the
//!   INVITE has received a provisional response as §9.1 asks.
//! - Requests that fail [`crate::message::Request::validate`] get a stateless 400 when they
//!   can be answered; unparseable input is counted and reported as [`Event::Malformed`]. When
//!   the table holds [`Config::max_transactions`], new requests get a stateless 503.
//! - 2xx responses matching no transaction and ACKs matching no INVITE transaction are
//!   passed up ([`Event::Stray2xx`], [`Event::Ack`]): they belong to dialogs.
//! - Every transaction ends with exactly one [`Event::Terminated`].
//!
//! # Limits and choices
//!
//! - Not in RFC 3261 §17, added so nothing waits forever on a peer or a TU: Timer C on INVITE
//!   client transactions in Proceeding, and an answer guard ([`Timer::Answer`]) on server
//!   transactions whose TU never sends a final response. Both report [`Event::Timeout`].
//! - Requests whose branch lacks the magic cookie (RFC 2543 peers) are matched with a
//!   simplified key, not the full §17.2.3 procedure; see `key.rs`.
//! - Responses are matched by branch and CSeq method only; the §18.1.2 check that the top
//!   Via's sent-by is ours is not made (the layer does not know every name it is reached by).
//! - A transport error fails transactions by destination and transport (a scan of the
//!   table); a server transaction does not try the RFC 3263 backup addresses of §17.2.4.
//! - [`Transmit`] owns its bytes rather than writing into a caller's buffer (STYLE's quinn
//!   shape): transactions keep every message for retransmission anyway, and the server's
//!   outbound queue takes a `Vec<u8>`, so owning saves a copy. This is signalling, not media.
//!
//! # Run loop
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use tandem_sip::message::Transport;
//! use tandem_sip::transaction::{Config, Event, Input, TransactionLayer};
//!
//! # fn recv() -> Option<(SocketAddr, Vec<u8>)> { None }
//! # fn send(_: SocketAddr, _: &[u8]) {}
//! # #[allow(clippy::disallowed_methods)] fn clock() -> Instant { Instant::now() }
//! let local: SocketAddr = "192.0.2.9:5060".parse()?;
//! let mut layer = TransactionLayer::new(Config::default(), [42; 16]); // seed from an OS RNG
//! for _ in 0..1 {
//!     let now = clock();
//!     match recv() {
//!         Some((source, bytes)) => layer.handle(now, Input::Received {
//!             source, local, transport: Transport::Udp, connection: None, bytes: &bytes,
//!         }),
//!         None => layer.handle(now, Input::Timeout),
//!     }
//!     while let Some(t) = layer.poll_transmit() {
//!         send(t.destination, &t.bytes);
//!     }
//!     while let Some(event) = layer.poll_event() {
//!         if let Event::NewRequest { id, request, .. } = event {
//!             let ok = tandem_sip::message::Response::from_request(
//!                 &request, tandem_sip::message::StatusCode::OK);
//!             layer.send_response(now, id, ok)?; // then drain poll_transmit again
//!         }
//!     }
//!     let _sleep_until = layer.poll_timeout().unwrap_or(now + Duration::from_secs(1));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod client_invite;
mod key;
mod layer;
mod route;
mod server;
mod server_invite;
mod timer;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{HeaderError, ParseError};
use crate::message::{Request, Response, StatusCode, Transport};

pub use client_invite::cancel_for;
pub use layer::TransactionLayer;
pub use timer::{TIMER_D_MIN, Timer, Timers};

/// Identifies one transaction for its whole life. Ids are never reused within a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(u64);

impl TransactionId {
    /// The id's number (for logs and maps).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx{}", self.0)
    }
}

/// Identifies a stream connection (TCP, TLS, WS) in the caller's transport. The layer only
/// passes it through: responses go back on the connection their request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Something that happened, fed to [`TransactionLayer::handle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    /// A message arrived: one datagram, or one message framed from a stream
    /// ([`crate::message::frame`]).
    Received {
        /// Who sent it.
        source: SocketAddr,
        /// The local address it arrived on (responses are sent from it).
        local: SocketAddr,
        /// How it came.
        transport: Transport,
        /// The stream connection it came on; `None` for datagrams.
        connection: Option<ConnectionId>,
        /// The message bytes.
        bytes: &'a [u8],
    },
    /// Time passed: fire the timers due at `now`. Expired timers also fire at the start of
    /// every other input, so this is only needed when nothing else happens.
    Timeout,
    /// Sending to `destination` over `transport` failed (ICMP unreachable, connection
    /// refused or reset): every transaction sending there fails (§17.1.4, §17.2.4).
    TransportError {
        /// Where the failed message was going.
        destination: SocketAddr,
        /// Over which transport.
        transport: Transport,
    },
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    /// The connection to use if it is still open (responses to requests that came over a
    /// stream); otherwise connect to `destination`.
    pub connection: Option<ConnectionId>,
    /// The local address to send from (responses: where the request arrived); `None` lets
    /// the caller choose.
    pub local: Option<SocketAddr>,
    /// The message.
    pub bytes: Vec<u8>,
}

/// What the layer tells its TU.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A request that starts a server transaction: answer it with
    /// [`TransactionLayer::send_response`]. Its top Via carries `received`/`rport` as stamped
    /// on arrival (§18.2.1, RFC 3581).
    NewRequest {
        /// The new server transaction.
        id: TransactionId,
        /// The request.
        request: Request,
        /// Who sent it.
        source: SocketAddr,
        /// The local address it arrived on.
        local: SocketAddr,
        /// How it came.
        transport: Transport,
    },
    /// A response to a client transaction: provisional, final, or (while the INVITE
    /// transaction is Accepted, RFC 6026) a retransmitted or forked 2xx, which the TU ACKs.
    Response {
        /// The client transaction.
        id: TransactionId,
        /// The response.
        response: Response,
    },
    /// A CANCEL matched INVITE server transaction `id`, which has no final response yet. The
    /// layer has answered the CANCEL with 200; the TU should answer the INVITE with 487
    /// (§9.2).
    Cancel {
        /// The INVITE server transaction.
        id: TransactionId,
        /// The CANCEL request.
        request: Request,
    },
    /// An ACK that is not the ACK of a non-2xx final response: the ACK for a 2xx, which the
    /// dialog layer handles (§13.3.1.4, §17.2.3). `id` is the INVITE server transaction
    /// when it matched one in the Accepted state (RFC 6026 §7.1), else `None`.
    Ack {
        /// The matched INVITE server transaction, if any.
        id: Option<TransactionId>,
        /// The ACK.
        request: Request,
        /// Who sent it.
        source: SocketAddr,
        /// The local address it arrived on.
        local: SocketAddr,
        /// How it came.
        transport: Transport,
    },
    /// A 2xx response to INVITE matching no transaction: a retransmission after Timer M or a
    /// late fork. The TU ACKs it (or ACKs and BYEs it) (RFC 6026 §7.2, §8.4).
    Stray2xx {
        /// The response.
        response: Response,
        /// Who sent it.
        source: SocketAddr,
        /// How it came.
        transport: Transport,
    },
    /// The transaction timed out: Timer B or F (no final response), H (no ACK), C (client
    /// INVITE stuck in Proceeding) or the answer guard (the TU never answered). A
    /// [`Event::Terminated`] follows.
    Timeout {
        /// The transaction.
        id: TransactionId,
        /// Which timer fired.
        timer: Timer,
    },
    /// Sending for this transaction failed; it is terminated (§17.1.4, §17.2.4).
    TransportError {
        /// The transaction.
        id: TransactionId,
    },
    /// The transaction reached Terminated and is forgotten; its id is dead.
    Terminated {
        /// The transaction.
        id: TransactionId,
    },
    /// Input that could not be used: unparseable, or a message missing headers a
    /// transaction needs and that could not be answered with 400. Counted in [`Stats`].
    Malformed {
        /// Who sent it.
        source: SocketAddr,
        /// What is wrong.
        error: InputError,
    },
}

/// What is wrong with a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// It does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A header transactions rely on is missing or malformed.
    #[error(transparent)]
    Header(#[from] HeaderError),
}

impl InputError {
    /// Stable label for drop counters.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Parse(e) => e.kind.reason(),
            Self::Header(e) => e.reason(),
        }
    }
}

/// The state of a transaction, named as RFC 3261 §17 and RFC 6026 draw them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// INVITE client: request sent, nothing received.
    Calling,
    /// Non-INVITE client or server: request sent / received, no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server), or (INVITE server) the
    /// TU has not answered yet.
    Proceeding,
    /// A non-2xx final response (INVITE) or any final response (non-INVITE) was received or
    /// sent; absorbing retransmissions.
    Completed,
    /// INVITE server: the ACK for the non-2xx final response arrived.
    Confirmed,
    /// RFC 6026: a 2xx final response to INVITE was received or sent.
    Accepted,
    /// Done.
    Terminated,
}

/// The four kinds of transaction (RFC 3261 §17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// INVITE client transaction (§17.1.1).
    InviteClient,
    /// Non-INVITE client transaction (§17.1.2).
    NonInviteClient,
    /// INVITE server transaction (§17.2.1).
    InviteServer,
    /// Non-INVITE server transaction (§17.2.2).
    NonInviteServer,
}

/// When an INVITE server transaction sends 100 Trying on its own (RFC 3261 §17.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryingPolicy {
    /// Never: the TU always answers within 200 ms (or a proxy ahead sends 100).
    Never,
    /// At once, when the INVITE arrives.
    Immediately,
    /// When the TU has sent nothing after this long (§17.2.1: 200 ms). A retransmitted INVITE
    /// also triggers it early.
    After(Duration),
}

/// Layer configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// T1, T2, T4, Timer C and Timer D.
    pub timers: Timers,
    /// 100 Trying from INVITE server transactions; 200 ms by default.
    pub trying: TryingPolicy,
    /// The most transactions alive at once; new requests beyond it get a stateless 503 and
    /// [`TransactionLayer::send_request`] fails with [`TransactionError::Full`].
    pub max_transactions: usize,
    /// The Retry-After (seconds) of the overload 503, if any.
    pub overload_retry_after: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            timers: Timers::default(),
            trying: TryingPolicy::After(Duration::from_millis(200)),
            max_transactions: 32_768,
            overload_retry_after: None,
        }
    }
}

/// Counters, for metrics. All are totals since the layer was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests received (parsed), retransmissions included.
    pub requests_received: u64,
    /// Responses received (parsed), retransmissions included.
    pub responses_received: u64,
    /// Requests and responses absorbed as retransmissions by a transaction.
    pub retransmissions_received: u64,
    /// Messages sent again by a retransmission timer or in answer to a retransmission.
    pub retransmissions_sent: u64,
    /// Empty datagrams and keep-alive CRLFs, ignored.
    pub keepalives: u64,
    /// Input that could not be used ([`Event::Malformed`]).
    pub malformed: u64,
    /// Requests answered with a stateless 400.
    pub rejected_bad_request: u64,
    /// Requests answered with a stateless 503 because the table was full.
    pub rejected_overload: u64,
    /// Responses matching no transaction and dropped (stray 2xx to INVITE excluded).
    pub stray_responses: u64,
    /// 2xx responses to INVITE matching no transaction, passed up.
    pub stray_2xx: u64,
    /// ACKs passed up ([`Event::Ack`]).
    pub acks_passed_up: u64,
    /// CANCELs received that matched no transaction (answered 481).
    pub cancels_unmatched: u64,
    /// Transactions created.
    pub transactions_created: u64,
    /// Transactions that timed out ([`Event::Timeout`]).
    pub timeouts: u64,
    /// Transactions failed by a transport error.
    pub transport_errors: u64,
}

/// Misuse of the layer by its TU, or a request the layer cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// No transaction with this id was ever created by this layer.
    #[error("unknown transaction {0}")]
    Unknown(TransactionId),
    /// The transaction has terminated (or the id is from another layer).
    #[error("transaction {0} has terminated")]
    Terminated(TransactionId),
    /// The operation needs another kind of transaction (e.g. `send_response` on a client
    /// transaction, `cancel` on a non-INVITE one).
    #[error("transaction {id} is a {kind:?} transaction")]
    WrongKind {
        /// The transaction.
        id: TransactionId,
        /// What it is.
        kind: Kind,
    },
    /// The response is not allowed in the transaction's state (e.g. a second final response,
    /// or a non-2xx after a 2xx).
    #[error("cannot send {status} in state {state:?} of {id}")]
    InvalidState {
        /// The transaction.
        id: TransactionId,
        /// Its state.
        state: State,
        /// The refused response's status.
        status: StatusCode,
    },
    /// The INVITE already has a final response: there is nothing left to cancel (§9.1).
    #[error("transaction {0} has a final response: nothing to cancel")]
    NotCancellable(TransactionId),
    /// The request or response given is missing a header a transaction needs, or it is
    /// malformed ([`crate::message::Request::validate`]).
    #[error("invalid message: {0}")]
    InvalidMessage(HeaderError),
    /// ACK is not a transaction: use [`TransactionLayer::send_ack`]; `send_ack` only takes ACK.
    #[error("ACK is sent with send_ack, and send_ack only sends ACK")]
    AckIsNotATransaction,
    /// A client transaction with this branch and method exists already.
    #[error("a client transaction with this branch and method exists")]
    DuplicateBranch,
    /// The table holds [`Config::max_transactions`].
    #[error("transaction table full ({limit})")]
    Full {
        /// The configured limit.
        limit: usize,
    },
}

/// Where the machines put what they want done; the layer drains it through `poll_*`.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    /// Retransmissions sent (for [`Stats`]).
    pub(crate) retransmissions: u64,
}

impl Outbox {
    pub(crate) fn event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    pub(crate) fn transmit(&mut self, transmit: Transmit) {
        self.transmits.push_back(transmit);
    }
}

/// One `Instant` per test, the only clock read in this crate's tests.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_epoch() -> std::time::Instant {
    std::time::Instant::now()
}
