//! The transaction layer: every transaction of one endpoint, matching (RFC 3261 §17.1.3,
//! §17.2.3), response routing (§18.2.2), CANCEL (§9), bad input and overload.
//!
//! # Contract
//!
//! - Transactions live in a `HashMap` by id, indexed by their matching keys; deadlines live
//!   in a binary heap with lazy deletion (an entry is live while it equals its transaction's
//!   current deadline), so every operation is O(log n) and [`TransactionLayer::poll_timeout`]
//!   is O(1).
//! - Expired timers fire at the start of every [`TransactionLayer::handle`] call and of every
//!   call that takes `now`, in deadline order. `now` going backwards is treated as the last
//!   `now` seen.
//! - Nothing panics on network input. Malformed input is counted in [`Stats`] and reported as
//!   [`Event::Malformed`], or answered with a stateless 400 when it is a request that can be
//!   answered. ACKs are never answered.
//! - The table holds at most [`Config::max_transactions`]: beyond it a new request gets a
//!   stateless 503 (an ACK is passed up as usual, a CANCEL of a known INVITE still gets its
//!   200 statelessly) and `send_request` fails with [`TransactionError::Full`]. CANCELs sent
//!   by [`TransactionLayer::cancel`] may exceed it by at most one per INVITE.
//! - A transport error fails every transaction whose route goes to that destination over that
//!   transport (a scan of the table: transport errors are rare).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use crate::message::{
    HeaderName, Message, Method, ParseErrorKind, Request, Response, StatusCode, Transport, Via,
};

use super::client::ClientTransaction;
use super::client_invite::{ClientInviteTransaction, cancel_for};
use super::key::{BranchGenerator, ClientKey, ServerKey};
use super::route::{self, Route};
use super::server::ServerTransaction;
use super::server_invite::ServerInviteTransaction;
use super::{
    Config, ConnectionId, Event, Input, InputError, Kind, Outbox, State, Stats, TransactionError,
    TransactionId, Transmit,
};

#[derive(Debug)]
enum Machine {
    InviteClient(ClientInviteTransaction),
    NonInviteClient(ClientTransaction),
    InviteServer(ServerInviteTransaction),
    NonInviteServer(ServerTransaction),
}

impl Machine {
    fn kind(&self) -> Kind {
        match self {
            Self::InviteClient(_) => Kind::InviteClient,
            Self::NonInviteClient(_) => Kind::NonInviteClient,
            Self::InviteServer(_) => Kind::InviteServer,
            Self::NonInviteServer(_) => Kind::NonInviteServer,
        }
    }

    fn state(&self) -> State {
        match self {
            Self::InviteClient(m) => m.state(),
            Self::NonInviteClient(m) => m.state(),
            Self::InviteServer(m) => m.state(),
            Self::NonInviteServer(m) => m.state(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Self::InviteClient(m) => m.poll_timeout(),
            Self::NonInviteClient(m) => m.poll_timeout(),
            Self::InviteServer(m) => m.poll_timeout(),
            Self::NonInviteServer(m) => m.poll_timeout(),
        }
    }

    fn on_timeout(&mut self, now: Instant, out: &mut Outbox) {
        match self {
            Self::InviteClient(m) => m.on_timeout(now, out),
            Self::NonInviteClient(m) => m.on_timeout(now, out),
            Self::InviteServer(m) => m.on_timeout(now, out),
            Self::NonInviteServer(m) => m.on_timeout(now, out),
        }
    }

    fn on_transport_error(&mut self, out: &mut Outbox) {
        match self {
            Self::InviteClient(m) => m.on_transport_error(out),
            Self::NonInviteClient(m) => m.on_transport_error(out),
            Self::InviteServer(m) => m.on_transport_error(out),
            Self::NonInviteServer(m) => m.on_transport_error(out),
        }
    }

    fn route(&self) -> &Route {
        match self {
            Self::InviteClient(m) => m.route(),
            Self::NonInviteClient(m) => m.route(),
            Self::InviteServer(m) => m.route(),
            Self::NonInviteServer(m) => m.route(),
        }
    }

    /// Layer-internal transactions raise no events.
    fn is_silent(&self) -> bool {
        match self {
            Self::NonInviteClient(m) => m.is_silent(),
            Self::NonInviteServer(m) => m.is_silent(),
            Self::InviteClient(_) | Self::InviteServer(_) => false,
        }
    }
}

#[derive(Debug, Clone)]
enum Key {
    Client(ClientKey),
    Server(ServerKey),
}

#[derive(Debug)]
struct Slot {
    machine: Machine,
    key: Key,
    /// The deadline that has a live entry in the heap.
    scheduled: Option<Instant>,
}

/// Where a received message came from.
#[derive(Debug, Clone)]
struct Origin {
    source: SocketAddr,
    local: SocketAddr,
    transport: Transport,
    connection: Option<ConnectionId>,
}

/// Every transaction of one SIP endpoint, sans-IO. See the [module docs](super) for the drain
/// contract and a run loop.
#[derive(Debug)]
pub struct TransactionLayer {
    config: Config,
    branches: BranchGenerator,
    transactions: HashMap<TransactionId, Slot>,
    clients: HashMap<ClientKey, TransactionId>,
    servers: HashMap<ServerKey, TransactionId>,
    deadlines: BinaryHeap<Reverse<(Instant, TransactionId)>>,
    out: Outbox,
    next_id: u64,
    last_now: Option<Instant>,
    stats: Stats,
}

impl TransactionLayer {
    /// A layer with no transactions. `seed` makes its branch ids and tags: give it 16 random
    /// bytes (the layer draws no randomness of its own); two layers with the same seed make
    /// the same branches.
    pub fn new(config: Config, seed: [u8; 16]) -> Self {
        Self {
            config,
            branches: BranchGenerator::new(seed),
            transactions: HashMap::new(),
            clients: HashMap::new(),
            servers: HashMap::new(),
            deadlines: BinaryHeap::new(),
            out: Outbox::default(),
            next_id: 0,
            last_now: None,
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.retransmissions_sent = self.out.retransmissions;
        s
    }

    /// Transactions alive.
    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    /// True when no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    /// The state of a live transaction; `None` once it has terminated.
    pub fn state(&self, id: TransactionId) -> Option<State> {
        self.transactions.get(&id).map(|s| s.machine.state())
    }

    /// The kind of a live transaction.
    pub fn kind(&self, id: TransactionId) -> Option<Kind> {
        self.transactions.get(&id).map(|s| s.machine.kind())
    }

    /// Feeds what happened at `now`: a received message, a timeout or a transport error.
    /// Then drain [`Self::poll_transmit`] and [`Self::poll_event`].
    pub fn handle(&mut self, now: Instant, input: Input<'_>) {
        let now = self.advance(now);
        match input {
            Input::Received {
                source,
                local,
                transport,
                connection,
                bytes,
            } => {
                let origin = Origin {
                    source,
                    local,
                    transport,
                    connection,
                };
                self.handle_received(now, origin, bytes);
            }
            Input::Timeout => {}
            Input::TransportError {
                destination,
                transport,
            } => self.handle_transport_error(destination, &transport),
        }
        self.prune_deadlines();
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When [`Self::handle`] should next be called with [`Input::Timeout`] if nothing arrives.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Starts a client transaction for `request` (not ACK: see [`Self::send_ack`]), sending
    /// it to `destination` over `transport`. A top Via without a branch gets a new RFC 3261
    /// branch; the rest of the request is sent as given.
    ///
    /// # Errors
    /// [`TransactionError::InvalidMessage`] when `request` fails
    /// [`Request::validate`]; [`TransactionError::AckIsNotATransaction`] for an ACK;
    /// [`TransactionError::DuplicateBranch`] when its branch and method are in use;
    /// [`TransactionError::Full`] at the transaction limit.
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        destination: SocketAddr,
        transport: Transport,
    ) -> Result<TransactionId, TransactionError> {
        let now = self.advance(now);
        if request.method == Method::Ack {
            return Err(TransactionError::AckIsNotATransaction);
        }
        request
            .validate()
            .map_err(TransactionError::InvalidMessage)?;
        if self.transactions.len() >= self.config.max_transactions {
            return Err(TransactionError::Full {
                limit: self.config.max_transactions,
            });
        }
        let branch = self.ensure_branch(&mut request)?;
        let key = ClientKey::new(&branch, request.method.clone());
        if self.clients.contains_key(&key) {
            return Err(TransactionError::DuplicateBranch);
        }
        let route = Route {
            destination,
            transport,
            connection: None,
            local: None,
        };
        let id = self.start_client(now, request, route, key, false);
        self.prune_deadlines();
        Ok(id)
    }

    /// Sends an ACK for a 2xx (§13.2.2.4): no transaction, sent once per call (call it again
    /// for each retransmitted 2xx). A top Via without a branch gets a new one.
    ///
    /// # Errors
    /// [`TransactionError::AckIsNotATransaction`] when `ack` is not an ACK,
    /// [`TransactionError::InvalidMessage`] when it fails [`Request::validate`].
    pub fn send_ack(
        &mut self,
        mut ack: Request,
        destination: SocketAddr,
        transport: Transport,
    ) -> Result<(), TransactionError> {
        if ack.method != Method::Ack {
            return Err(TransactionError::AckIsNotATransaction);
        }
        ack.validate().map_err(TransactionError::InvalidMessage)?;
        self.ensure_branch(&mut ack)?;
        let mut bytes = Vec::new();
        ack.write_to(&mut bytes);
        self.out.transmit(Transmit {
            destination,
            transport,
            connection: None,
            local: None,
            bytes,
        });
        Ok(())
    }

    /// Sends `response` on server transaction `id`: provisional responses any number of
    /// times, then one final response; 2xx again while the INVITE transaction is Accepted
    /// (the TU's 2xx retransmissions, §13.3.1.4). It goes where §18.2.2 says, computed when
    /// the request arrived.
    ///
    /// # Errors
    /// [`TransactionError::Unknown`] / [`TransactionError::Terminated`] for a dead id,
    /// [`TransactionError::WrongKind`] for a client transaction,
    /// [`TransactionError::InvalidMessage`] when `response` fails [`Response::validate`],
    /// [`TransactionError::InvalidState`] when the state does not allow this response.
    pub fn send_response(
        &mut self,
        now: Instant,
        id: TransactionId,
        response: Response,
    ) -> Result<(), TransactionError> {
        let now = self.advance(now);
        let slot = lookup(&mut self.transactions, self.next_id, id)?;
        if matches!(
            slot.machine,
            Machine::InviteServer(_) | Machine::NonInviteServer(_)
        ) {
            response
                .validate()
                .map_err(TransactionError::InvalidMessage)?;
        }
        let result = match &mut slot.machine {
            Machine::InviteServer(m) => m.send_response(now, &response, &mut self.out),
            Machine::NonInviteServer(m) => m.send_response(now, &response, &mut self.out),
            other => Err(TransactionError::WrongKind {
                id,
                kind: other.kind(),
            }),
        };
        self.settle(id);
        self.prune_deadlines();
        result
    }

    /// Cancels INVITE client transaction `id` (§9.1): builds the CANCEL and sends it on a
    /// client transaction of its own, once the INVITE has had a provisional response (at once
    /// if it has). The TU then sees the INVITE's final response (487, or a 2xx that crossed
    /// the CANCEL). The CANCEL's own responses are absorbed by the layer. Calling it again is
    /// harmless.
    ///
    /// # Errors
    /// [`TransactionError::Unknown`] / [`TransactionError::Terminated`] for a dead id,
    /// [`TransactionError::WrongKind`] unless it is an INVITE client transaction,
    /// [`TransactionError::NotCancellable`] once the INVITE has a final response.
    pub fn cancel(&mut self, now: Instant, id: TransactionId) -> Result<(), TransactionError> {
        let now = self.advance(now);
        let slot = self.slot_mut(id)?;
        match &mut slot.machine {
            Machine::InviteClient(m) => m.request_cancel()?,
            other => {
                return Err(TransactionError::WrongKind {
                    id,
                    kind: other.kind(),
                });
            }
        }
        self.maybe_send_cancel(now, id);
        self.prune_deadlines();
        Ok(())
    }

    // ---- internals -------------------------------------------------------------------

    /// Clamps `now` to be monotonic and fires every timer due by then.
    fn advance(&mut self, now: Instant) -> Instant {
        let now = match self.last_now {
            Some(last) if now < last => last,
            _ => now,
        };
        self.last_now = Some(now);
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let Some(slot) = self.transactions.get_mut(&id) else {
                continue;
            };
            if slot.scheduled != Some(at) {
                continue;
            }
            slot.scheduled = None;
            let before = self.out.events.len();
            slot.machine.on_timeout(now, &mut self.out);
            let timed_out = self.out.events.len() > before
                && matches!(self.out.events.back(), Some(Event::Timeout { .. }));
            self.stats.timeouts += u64::from(timed_out);
            self.settle(id);
        }
        now
    }

    /// Drops stale heap entries from the top, so that `poll_timeout` is exact.
    fn prune_deadlines(&mut self) {
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            let live = self
                .transactions
                .get(&id)
                .is_some_and(|s| s.scheduled == Some(at));
            if live {
                break;
            }
            self.deadlines.pop();
        }
    }

    fn slot_mut(&mut self, id: TransactionId) -> Result<&mut Slot, TransactionError> {
        lookup(&mut self.transactions, self.next_id, id)
    }

    fn alloc_id(&mut self) -> TransactionId {
        let id = TransactionId(self.next_id);
        self.next_id += 1;
        self.stats.transactions_created += 1;
        id
    }

    fn insert(&mut self, id: TransactionId, machine: Machine, key: Key) {
        match &key {
            Key::Client(k) => self.clients.insert(k.clone(), id),
            Key::Server(k) => self.servers.insert(k.clone(), id),
        };
        self.transactions.insert(
            id,
            Slot {
                machine,
                key,
                scheduled: None,
            },
        );
        self.settle(id);
    }

    /// After a machine changed: removes it if it terminated, else makes sure its deadline
    /// has a live heap entry.
    fn settle(&mut self, id: TransactionId) {
        let Some(slot) = self.transactions.get_mut(&id) else {
            return;
        };
        if slot.machine.state() == State::Terminated {
            let silent = slot.machine.is_silent();
            if let Some(slot) = self.transactions.remove(&id) {
                match slot.key {
                    Key::Client(k) => self.clients.remove(&k),
                    Key::Server(k) => self.servers.remove(&k),
                };
            }
            if !silent {
                self.out.event(Event::Terminated { id });
            }
            return;
        }
        let next = slot.machine.poll_timeout();
        if next != slot.scheduled {
            slot.scheduled = next;
            if let Some(at) = next {
                self.deadlines.push(Reverse((at, id)));
            }
        }
    }

    /// Makes sure the top Via has a branch; returns it.
    fn ensure_branch(&mut self, request: &mut Request) -> Result<String, TransactionError> {
        let mut via = request
            .headers
            .top_via()
            .map_err(TransactionError::InvalidMessage)?;
        if let Some(b) = via.branch().filter(|b| !b.is_empty()) {
            return Ok(b.to_owned());
        }
        let branch = self.branches.branch();
        // A generated branch is always a valid token.
        let _ = via.params.set("branch", Some(&branch));
        replace_top_via(request, &via);
        Ok(branch)
    }

    fn start_client(
        &mut self,
        now: Instant,
        request: Request,
        route: Route,
        key: ClientKey,
        silent: bool,
    ) -> TransactionId {
        let id = self.alloc_id();
        let mut bytes = Vec::new();
        request.write_to(&mut bytes);
        let timers = self.config.timers;
        let machine = if request.method == Method::Invite {
            Machine::InviteClient(ClientInviteTransaction::start(
                now,
                id,
                request,
                bytes,
                route,
                timers,
                &mut self.out,
            ))
        } else {
            Machine::NonInviteClient(ClientTransaction::start(
                now,
                id,
                bytes,
                route,
                timers,
                silent,
                &mut self.out,
            ))
        };
        self.insert(id, machine, Key::Client(key));
        id
    }

    /// Sends the CANCEL of INVITE client transaction `id` if it is due.
    fn maybe_send_cancel(&mut self, now: Instant, id: TransactionId) {
        let Some(Slot {
            machine: Machine::InviteClient(m),
            ..
        }) = self.transactions.get_mut(&id)
        else {
            return;
        };
        if !m.take_cancel() {
            return;
        }
        // The INVITE passed validate(), so its CANCEL builds.
        let Ok(cancel) = cancel_for(m.invite()) else {
            return;
        };
        let route = m.route().clone();
        let Some(branch) = cancel
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_owned))
        else {
            return;
        };
        let key = ClientKey::new(&branch, Method::Cancel);
        if !self.clients.contains_key(&key) {
            self.start_client(now, cancel, route, key, true);
        }
    }

    fn malformed(&mut self, source: SocketAddr, error: InputError) {
        self.stats.malformed += 1;
        self.out.event(Event::Malformed { source, error });
    }

    fn handle_received(&mut self, now: Instant, origin: Origin, bytes: &[u8]) {
        match Message::parse(bytes) {
            Ok(Message::Request(r)) => self.handle_request(now, r, origin),
            Ok(Message::Response(r)) => self.handle_response(now, r, origin),
            Err(e) if e.kind == ParseErrorKind::Empty => self.stats.keepalives += 1,
            Err(e) => self.malformed(origin.source, e.into()),
        }
    }

    fn handle_request(&mut self, now: Instant, mut request: Request, origin: Origin) {
        self.stats.requests_received += 1;
        let mut via = match request.headers.top_via() {
            Ok(v) => v,
            Err(e) => return self.malformed(origin.source, e.into()),
        };
        if route::stamp_via(&mut via, origin.source) {
            replace_top_via(&mut request, &via);
        }
        let route = route::response_route(
            &via,
            origin.source,
            origin.transport.clone(),
            origin.connection,
            origin.local,
        );
        if let Err(e) = request.validate() {
            return self.reject_bad_request(&request, &route, e.into(), origin.source);
        }
        let key = ServerKey::for_request(&request, &via);
        match request.method {
            Method::Ack => self.handle_ack(now, request, &key, origin),
            Method::Cancel => self.handle_cancel(now, request, key, route),
            _ => {
                if let Some(&id) = self.servers.get(&key) {
                    self.stats.retransmissions_received += 1;
                    if let Some(slot) = self.transactions.get_mut(&id) {
                        match &mut slot.machine {
                            Machine::InviteServer(m) => m.on_retransmission(&mut self.out),
                            Machine::NonInviteServer(m) => m.on_retransmission(&mut self.out),
                            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {}
                        }
                    }
                    self.settle(id);
                    return;
                }
                if self.transactions.len() >= self.config.max_transactions {
                    return self.reject_overload(&request, &route);
                }
                let id = self.alloc_id();
                let timers = self.config.timers;
                let machine = if request.method == Method::Invite {
                    Machine::InviteServer(ServerInviteTransaction::new(
                        now,
                        id,
                        &request,
                        route,
                        timers,
                        self.config.trying,
                        &mut self.out,
                    ))
                } else {
                    Machine::NonInviteServer(ServerTransaction::new(now, id, route, timers, false))
                };
                self.out.event(Event::NewRequest {
                    id,
                    request,
                    source: origin.source,
                    local: origin.local,
                    transport: origin.transport,
                });
                self.insert(id, machine, Key::Server(key));
            }
        }
    }

    fn handle_ack(&mut self, now: Instant, ack: Request, key: &ServerKey, origin: Origin) {
        let mut matched = None;
        if let Some(&id) = self.servers.get(key) {
            if let Some(Slot {
                machine: Machine::InviteServer(m),
                ..
            }) = self.transactions.get_mut(&id)
            {
                if !m.on_ack(now) {
                    self.stats.retransmissions_received += u64::from(m.state() != State::Confirmed);
                    self.settle(id);
                    return;
                }
                matched = Some(id);
            }
        }
        self.stats.acks_passed_up += 1;
        self.out.event(Event::Ack {
            id: matched,
            request: ack,
            source: origin.source,
            local: origin.local,
            transport: origin.transport,
        });
    }

    /// §9.2: a CANCEL gets its own server transaction, answered by the layer: 200 when it
    /// matches a transaction (and the TU hears of it while the INVITE has no final response),
    /// 481 otherwise.
    fn handle_cancel(&mut self, now: Instant, cancel: Request, key: ServerKey, route: Route) {
        if let Some(&id) = self.servers.get(&key) {
            // A retransmitted CANCEL: the transaction answers it again.
            self.stats.retransmissions_received += 1;
            if let Some(Slot {
                machine: Machine::NonInviteServer(m),
                ..
            }) = self.transactions.get_mut(&id)
            {
                m.on_retransmission(&mut self.out);
            }
            return;
        }
        let invite = self.servers.get(&key.with_method(Method::Invite)).copied();
        let target = invite.and_then(|id| match self.transactions.get(&id) {
            Some(Slot {
                machine: Machine::InviteServer(m),
                ..
            }) => Some((id, m.is_cancellable(), m.to_tag().map(str::to_owned))),
            _ => None,
        });
        let status = if target.is_some() {
            StatusCode::OK
        } else {
            self.stats.cancels_unmatched += 1;
            StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST
        };
        let mut response = Response::from_request(&cancel, status);
        let tag = match target.as_ref().and_then(|(_, _, tag)| tag.clone()) {
            Some(tag) => tag,
            None => self.branches.tag(),
        };
        let _ = response.set_to_tag(&tag);
        let full = self.transactions.len() >= self.config.max_transactions;
        if full && target.is_none() {
            return self.reject_overload(&cancel, &route);
        }
        if full {
            // Answer statelessly rather than refuse a CANCEL of a call we hold.
            let mut bytes = Vec::new();
            response.write_to(&mut bytes);
            self.out.transmit(route.transmit(bytes));
        } else {
            let id = self.alloc_id();
            let mut tx = ServerTransaction::new(now, id, route, self.config.timers, true);
            // A fresh transaction in Trying always takes a final response.
            let _ = tx.send_response(now, &response, &mut self.out);
            self.insert(id, Machine::NonInviteServer(tx), Key::Server(key));
        }
        if let Some((invite_id, true, _)) = target {
            self.out.event(Event::Cancel {
                id: invite_id,
                request: cancel,
            });
        }
    }

    fn handle_response(&mut self, now: Instant, response: Response, origin: Origin) {
        self.stats.responses_received += 1;
        if let Err(e) = response.validate() {
            return self.malformed(origin.source, e.into());
        }
        let (Ok(via), Ok(cseq)) = (response.headers.top_via(), response.headers.cseq()) else {
            return;
        };
        let key = via.branch().map(|b| ClientKey::new(b, cseq.method.clone()));
        let id = key.and_then(|k| self.clients.get(&k).copied());
        let Some(id) = id else {
            if response.status.is_success() && cseq.method == Method::Invite {
                self.stats.stray_2xx += 1;
                self.out.event(Event::Stray2xx {
                    response,
                    source: origin.source,
                    transport: origin.transport,
                });
            } else {
                self.stats.stray_responses += 1;
            }
            return;
        };
        let passed = match self.transactions.get_mut(&id).map(|s| &mut s.machine) {
            Some(Machine::InviteClient(m)) => m.on_response(now, response, &mut self.out),
            Some(Machine::NonInviteClient(m)) => m.on_response(now, response, &mut self.out),
            _ => true,
        };
        if !passed {
            self.stats.retransmissions_received += 1;
        }
        self.maybe_send_cancel(now, id);
        self.settle(id);
    }

    fn handle_transport_error(&mut self, destination: SocketAddr, transport: &Transport) {
        let failed: Vec<TransactionId> = self
            .transactions
            .iter()
            .filter(|(_, s)| {
                let r = s.machine.route();
                r.destination == destination && r.transport == *transport
            })
            .map(|(&id, _)| id)
            .collect();
        for id in failed {
            if let Some(slot) = self.transactions.get_mut(&id) {
                let before = self.out.events.len();
                slot.machine.on_transport_error(&mut self.out);
                self.stats.transport_errors += (self.out.events.len() - before) as u64;
            }
            self.settle(id);
        }
    }

    /// A request that fails validation: a stateless 400 when it can be answered (not an ACK,
    /// and Via, From, To, Call-ID and CSeq are readable), else counted as malformed.
    fn reject_bad_request(
        &mut self,
        request: &Request,
        route: &Route,
        error: InputError,
        source: SocketAddr,
    ) {
        let h = &request.headers;
        let answerable = request.method != Method::Ack
            && h.from().is_ok()
            && h.to().is_ok()
            && h.call_id().is_ok()
            && h.cseq().is_ok();
        if !answerable {
            return self.malformed(source, error);
        }
        self.stats.rejected_bad_request += 1;
        let mut response = Response::from_request(request, StatusCode::BAD_REQUEST);
        response.reason = error.to_string();
        self.stateless(response, route);
    }

    /// The table is full: a stateless 503 (never to an ACK, which is not a transaction).
    fn reject_overload(&mut self, request: &Request, route: &Route) {
        self.stats.rejected_overload += 1;
        let mut response = Response::from_request(request, StatusCode::SERVICE_UNAVAILABLE);
        if let Some(secs) = self.config.overload_retry_after {
            response.headers.push(HeaderName::RetryAfter, secs);
        }
        self.stateless(response, route);
    }

    fn stateless(&mut self, mut response: Response, route: &Route) {
        let tag = self.branches.tag();
        let _ = response.set_to_tag(&tag);
        let mut bytes = Vec::new();
        response.write_to(&mut bytes);
        self.out.transmit(route.transmit(bytes));
    }
}

/// The live transaction `id`, or why there is none.
fn lookup(
    transactions: &mut HashMap<TransactionId, Slot>,
    next_id: u64,
    id: TransactionId,
) -> Result<&mut Slot, TransactionError> {
    transactions.get_mut(&id).ok_or(if id.0 < next_id {
        TransactionError::Terminated(id)
    } else {
        TransactionError::Unknown(id)
    })
}

/// Replaces the top Via value with `via`, keeping the others in order.
fn replace_top_via(request: &mut Request, via: &Via) {
    request.headers.remove_first(HeaderName::Via);
    request.headers.push_front(HeaderName::Via, via);
}
