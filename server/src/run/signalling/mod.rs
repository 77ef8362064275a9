//! The SIP user agent server of `tandem run`: the task that drives `tandem-sip`'s transaction
//! layer with tokio and turns calls into media sessions. Everything it is given at start-up is
//! a [`SipContext`]; [`serve`] runs it.
//!
//! # Contract for the task
//!
//! - It owns the transport event channel: every received message and send failure arrives
//!   there ([`TransportEvent`]), and replies and requests go out through
//!   [`SipContext::outbound`].
//! - While [`ShutdownSignal::is_running`], it accepts calls. When draining begins
//!   ([`ShutdownSignal::draining`] returns the deadline) it refuses new calls (503), ends the
//!   others (BYE), and returns once they have ended; at [`Phase::Stopping`] it returns at once.
//!   Start-up waits for it until the deadline, then stops everything.
//! - Media runtime calls block the calling thread until the worker replies (at most the
//!   runtime's reply timeout), so the task makes them on tokio's blocking pool (the
//!   `sessions` module) and hears back through a channel: a slow worker never stalls
//!   signalling.
//!
//! # The loop ([`serve`])
//!
//! One task owns all signalling state (transactions, dialogs, calls): no locks. It waits on
//! whichever comes first: a message from the transports, a finished media operation or
//! target lookup ([`locate`](super::locate): DNS never runs on this task), an event from the media runtime (DTMF, media timeout), the next timer (the transaction
//! layer's [`poll_timeout`](TransactionLayer::poll_timeout), 2xx retransmissions, session
//! timers), or a shutdown phase. After each, it drains the transaction layer (events, then
//! transmits) until both are empty, as the layer's drain contract asks.
//!
//! Requests are dispatched by method in `Signalling::handle_request`, one arm per module:
//! [`registrar`] (REGISTER, and the digest check of INVITEs from configured endpoints),
//! `uas`, `in_dialog` and `refresh` (INVITE, re-INVITE, UPDATE, ACK, BYE, CANCEL, INFO,
//! 2xx retransmission and session timers for echo, tone and conference calls), [`gateway`] (INVITEs that routing sends to a `[[routes]]` target, and every
//! in-dialog request of those calls), and `options`. Events of client transactions go to
//! whoever sent the request: [`registration`] and [`gateway`] say which transactions are
//! theirs (`owns_transaction`); the calls' own requests (BYE, session refreshes) are
//! recorded with a `ClientOwner`.
//!
//! # Counting
//!
//! [`SignallingStats`] counts live calls, dialogs and media sessions, and what was refused
//! and why; [`serve`] logs them on return (`calls_live=0 dialogs_live=0 sessions_live=0 ...`),
//! which the end-to-end tests read to prove nothing leaked. The shared `/metrics` registry
//! ([`SipContext::metrics`]) gets every response sent (by code), each call from its 200 to its
//! end (echo, tone, conference and gateway calls), and the gateway's transcoders by codec
//! pair.
//!
//! [`Phase::Stopping`]: super::shutdown::Phase::Stopping

mod calls;
mod drain;
pub mod gateway;
mod in_dialog;
mod options;
mod overload;
mod random;
mod refresh;
pub mod registrar;
pub mod registration;
mod sessions;
mod uas;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tandem_core::runtime::Runtime;
use tandem_sip::dialog::{DialogStore, SessionTimerConfig};
use tandem_sip::message::{HeaderName, Request, Response, StatusCode, Transport as SipTransport};
use tandem_sip::sdp::LocalPolicy;
use tandem_sip::transaction::{
    self, ConnectionId as SipConnectionId, Event, Input, TransactionId, TransactionLayer,
};
use tokio::sync::mpsc;

use self::calls::{CallKey, CallTable};
use self::gateway::{Gateway, GatewayLookup, MediaAction, MediaCreated, run_media_actions};
use self::overload::Admission;
use self::random::Random;
use self::registrar::Registrar;
use self::registration::Registrations;
use self::sessions::{MediaDone, Rooms};
use super::config::Config;
use super::locate::{Located, Locator, spawn_locate};
use super::media::{MediaPolicy, capability};
use super::shutdown::ShutdownSignal;
use super::transport::{
    ConnectionId, Outbound, OutboundSender, Transport, TransportEvent, TransportStats,
};
use crate::api::Metrics;

/// The most dialogs held at once; a call beyond it is refused with 503.
pub const MAX_DIALOGS: usize = 65_536;

/// What the SIP layer is given at start-up.
#[derive(Debug)]
pub struct SipContext {
    /// The configuration (endpoints, routes, limits, codecs...).
    pub config: Arc<Config>,
    /// The media runtime.
    pub media: Arc<Runtime>,
    /// Messages received and send failures.
    pub events: mpsc::Receiver<TransportEvent>,
    /// Where to send.
    pub outbound: OutboundSender,
    /// The transports' counters, for metrics.
    pub transport_stats: Arc<TransportStats>,
    /// The bound UDP listener, if UDP is on (for Via and Contact).
    pub udp_local: Option<SocketAddr>,
    /// The bound TCP listener, if TCP is on.
    pub tcp_local: Option<SocketAddr>,
    /// Shutdown: refuse calls when draining, return when stopping.
    pub shutdown: ShutdownSignal,
    /// The `/metrics` registry: SIP responses sent, calls, transcoders.
    pub metrics: Arc<Metrics>,
}

/// Signalling counters: gauges of what is alive and totals since start. Updated by the
/// signalling task (and, for media sessions, by the blocking threads that create and remove
/// them); [`serve`] logs them when it returns. Atomics, so a metrics endpoint can share them.
#[derive(Debug, Default)]
pub struct SignallingStats {
    /// Calls in the call table (from the INVITE until torn down).
    pub calls_live: AtomicU64,
    /// The most calls ever in the call table at once.
    pub calls_peak: AtomicU64,
    /// Dialogs held.
    pub dialogs_live: AtomicU64,
    /// Media legs alive on the runtime (an echo or tone session, or a conference leg).
    pub sessions_live: AtomicU64,
    /// Conference rooms alive on the runtime.
    pub rooms_live: AtomicU64,
    /// Calls answered with 200.
    pub calls_answered: AtomicU64,
    /// INVITEs refused with 503 (limits, runtime full, draining).
    pub rejected_overload: AtomicU64,
    /// INVITEs refused for their media (488) or their request URI (404).
    pub rejected_call: AtomicU64,
    /// Input the transaction layer could not use.
    pub malformed: AtomicU64,
    /// Messages dropped because the outbound queue was full.
    pub send_dropped: AtomicU64,
    /// Gateway (B2BUA) calls in progress.
    pub gateway_calls_live: AtomicU64,
    /// Gateway targets (route targets, registered contacts) whose host name had no address.
    pub gateway_unresolved: AtomicU64,
}

impl SignallingStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn set(counter: &AtomicU64, value: usize) {
        counter.store(value as u64, Ordering::Relaxed);
    }

    /// One line of `key=value` pairs, for the shutdown log.
    pub fn summary(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "calls_live={} calls_peak={} dialogs_live={} sessions_live={} rooms_live={} \
             gateway_calls_live={} gateway_unresolved={} \
             calls_answered={} rejected_overload={} rejected_call={} malformed={} send_dropped={}",
            get(&self.calls_live),
            get(&self.calls_peak),
            get(&self.dialogs_live),
            get(&self.sessions_live),
            get(&self.rooms_live),
            get(&self.gateway_calls_live),
            get(&self.gateway_unresolved),
            get(&self.calls_answered),
            get(&self.rejected_overload),
            get(&self.rejected_call),
            get(&self.malformed),
            get(&self.send_dropped),
        )
    }
}

/// Who sent a request on a client transaction, so its responses reach them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientOwner {
    /// A call's in-dialog request (BYE, session refresh).
    Call {
        /// The call (it may be gone by the time the response comes).
        call: CallKey,
        /// What the request was for.
        purpose: uas::Purpose,
    },
}

/// Everything the signalling task owns.
struct Signalling {
    config: Arc<Config>,
    runtime: Arc<Runtime>,
    outbound: OutboundSender,
    udp_local: Option<SocketAddr>,
    tcp_local: Option<SocketAddr>,
    running: bool,
    layer: TransactionLayer,
    dialogs: DialogStore,
    calls: CallTable,
    clients: HashMap<TransactionId, ClientOwner>,
    registrar: Registrar,
    registrations: Registrations,
    gateway: Gateway,
    /// Where the gateway's media operations report.
    gateway_media: mpsc::UnboundedSender<MediaCreated>,
    /// Looks up target names (RFC 3263) off the loop.
    locator: Arc<Locator>,
    /// Where the gateway's lookups report.
    gateway_located: mpsc::UnboundedSender<Located<GatewayLookup>>,
    /// Where the registrations' lookups report (by entry index).
    registrar_located: mpsc::UnboundedSender<Located<usize>>,
    rooms: Arc<Rooms>,
    media_done: mpsc::UnboundedSender<MediaDone>,
    /// Media operations started and not yet reported back.
    media_pending: usize,
    admission: Admission,
    random: Random,
    stats: Arc<SignallingStats>,
    /// The `/metrics` registry (see [`SipContext::metrics`]).
    metrics: Arc<Metrics>,
    media_policy: MediaPolicy,
    /// Our SDP policy without ports (each call adds its own).
    local_policy: LocalPolicy,
    timer_config: SessionTimerConfig,
}

/// Converts a transport name to the SIP layer's.
fn sip_transport(transport: Transport) -> SipTransport {
    match transport {
        Transport::Udp => SipTransport::Udp,
        Transport::Tcp => SipTransport::Tcp,
    }
}

impl Signalling {
    fn new(
        now: Instant,
        context: &SipContext,
        stats: Arc<SignallingStats>,
        media_done: mpsc::UnboundedSender<MediaDone>,
        gateway_media: mpsc::UnboundedSender<MediaCreated>,
        gateway_located: mpsc::UnboundedSender<Located<GatewayLookup>>,
        registrar_located: mpsc::UnboundedSender<Located<usize>>,
    ) -> Self {
        let config = Arc::clone(&context.config);
        let mut random = Random::new();
        let limits = &config.limits;
        let layer_config = transaction::Config {
            overload_retry_after: Some(limits.retry_after_s),
            max_transactions: limits.max_transactions.max(1),
            ..transaction::Config::default()
        };
        let media_policy = MediaPolicy::from_config(&config);
        let caps = capability::capabilities(&config.codecs.preferences, &media_policy);
        let local_policy = capability::local_policy(&caps, &media_policy, config.media.interface);
        // The address the gateway and outbound registrations send from (Via, Contact).
        let sip_local = context
            .udp_local
            .or(context.tcp_local)
            .unwrap_or(config.sip.listen);
        Self {
            registrar: Registrar::new(&config, now),
            registrations: Registrations::new(&config.registrations, sip_local),
            gateway: Gateway::new(sip_local, config.media.interface, media_policy)
                .with_metrics(Arc::clone(&context.metrics)),
            metrics: Arc::clone(&context.metrics),
            gateway_media,
            locator: Arc::new(Locator::new(&config.dns)),
            gateway_located,
            registrar_located,
            runtime: Arc::clone(&context.media),
            outbound: context.outbound.clone(),
            udp_local: context.udp_local,
            tcp_local: context.tcp_local,
            running: true,
            layer: TransactionLayer::new(layer_config, random.seed()),
            dialogs: DialogStore::new(MAX_DIALOGS),
            calls: CallTable::default(),
            clients: HashMap::new(),
            rooms: Arc::new(Rooms::default()),
            media_done,
            media_pending: 0,
            admission: Admission::new(limits),
            random,
            stats,
            media_policy,
            local_policy,
            timer_config: SessionTimerConfig::default(),
            config,
        }
    }

    /// Our address for `transport` (Via, Contact).
    fn local_addr(&self, transport: &SipTransport) -> Option<SocketAddr> {
        match transport {
            SipTransport::Tcp => self.tcp_local.or(self.udp_local),
            _ => self.udp_local.or(self.tcp_local),
        }
    }

    /// The media address in our SDP.
    fn media_address(&self) -> IpAddr {
        self.config.media.interface
    }

    /// Feeds one transport event to the transaction layer.
    fn handle_transport(&mut self, now: Instant, event: TransportEvent) {
        match event {
            TransportEvent::Message(message) => self.layer.handle(
                now,
                Input::Received {
                    source: message.peer,
                    local: message.local,
                    transport: sip_transport(message.transport),
                    connection: message.connection.map(|c| SipConnectionId(c.0)),
                    bytes: &message.bytes,
                },
            ),
            TransportEvent::SendFailed(failure) => self.layer.handle(
                now,
                Input::TransportError {
                    destination: failure.peer,
                    transport: sip_transport(failure.transport),
                },
            ),
        }
    }

    /// Time passed: the layer's timers and ours.
    fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle(now, Input::Timeout);
        refresh::handle_timers(self, now);
        if self.registrar.poll_timeout().is_some_and(|at| at <= now) {
            self.registrar.handle_timeout(now);
        }
        if self
            .registrations
            .poll_timeout()
            .is_some_and(|at| at <= now)
        {
            self.registrations.handle_timeout(now, &mut self.layer);
            self.run_registrations();
        }
        if self.gateway.poll_timeout().is_some_and(|at| at <= now) {
            let actions = self.gateway.handle_timeout(now, &mut self.layer);
            self.run_gateway(actions);
        }
    }

    /// When the loop must wake up if nothing arrives.
    fn next_wakeup(&mut self) -> Option<Instant> {
        [
            self.layer.poll_timeout(),
            self.calls.next_wakeup(),
            self.registrar.poll_timeout(),
            self.registrations.poll_timeout(),
            self.gateway.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the gateway's media operations and target lookups (in the background; they
    /// report back).
    fn run_gateway(&mut self, actions: Vec<MediaAction>) {
        if !actions.is_empty() {
            run_media_actions(&self.runtime, actions, &self.gateway_media);
        }
        while let Some((call, query)) = self.gateway.poll_locate() {
            spawn_locate(&self.locator, call, query, &self.gateway_located);
        }
    }

    /// Starts the registrar lookups the registrations wait for.
    fn run_registrations(&mut self) {
        while let Some((entry, query)) = self.registrations.poll_locate() {
            spawn_locate(&self.locator, entry, query, &self.registrar_located);
        }
    }

    /// A registrar lookup finished.
    fn handle_registrar_located(&mut self, now: Instant, located: Located<usize>) {
        self.registrations
            .handle_located(now, &mut self.layer, located.key, located.hops);
        self.run_registrations();
    }

    /// A gateway target lookup finished.
    fn handle_gateway_located(&mut self, now: Instant, located: Located<GatewayLookup>) {
        let actions = self
            .gateway
            .handle_located(now, &mut self.layer, located.key, located.hops);
        self.run_gateway(actions);
    }

    /// A gateway media session was created (or not).
    fn handle_gateway_media(&mut self, now: Instant, created: MediaCreated) {
        let actions =
            self.gateway
                .handle_media_created(now, &mut self.layer, created.call, created.created);
        self.run_gateway(actions);
    }

    /// Drains the transaction layer: events (which may send more), then transmits, until
    /// both are empty.
    fn flush(&mut self, now: Instant) {
        loop {
            let mut any = false;
            while let Some(event) = self.layer.poll_event() {
                any = true;
                self.handle_layer_event(now, event);
            }
            while let Some(transmit) = self.layer.poll_transmit() {
                any = true;
                self.transmit(transmit);
            }
            if !any {
                break;
            }
        }
        SignallingStats::set(&self.stats.calls_live, self.calls.len());
        self.stats
            .calls_peak
            .fetch_max(self.calls.len() as u64, Ordering::Relaxed);
        SignallingStats::set(&self.stats.dialogs_live, self.dialogs.len());
        SignallingStats::set(&self.stats.gateway_calls_live, self.gateway.calls());
        self.stats
            .gateway_unresolved
            .store(self.gateway.unresolved(), Ordering::Relaxed);
    }

    /// Hands one message to the transports. A full queue drops it: UDP retransmissions
    /// cover the loss, and TCP peers retry on their own timers. Every response handed over
    /// is counted by status code for `/metrics` (retransmissions included: they are sent).
    fn transmit(&mut self, transmit: transaction::Transmit) {
        if let Some(code) = response_code(&transmit.bytes) {
            self.metrics.sip_response(code);
        }
        let transport = match transmit.transport {
            SipTransport::Tcp => Transport::Tcp,
            _ => Transport::Udp,
        };
        let message = Outbound {
            transport,
            peer: transmit.destination,
            connection: transmit.connection.map(|c| ConnectionId(c.0)),
            bytes: transmit.bytes,
        };
        if self.outbound.try_send(message).is_err() {
            SignallingStats::bump(&self.stats.send_dropped);
        }
    }

    fn handle_layer_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::NewRequest {
                id,
                request,
                source,
                transport,
                ..
            } => self.handle_request(now, id, request, source, transport),
            Event::Response { id, response } => self.handle_response(now, id, response),
            Event::Cancel { id, .. } if self.gateway.owns_transaction(id) => {
                let actions = self.gateway.handle_cancel(now, &mut self.layer, id);
                self.run_gateway(actions);
            }
            Event::Cancel { id, .. } => uas::handle_cancel(self, now, id),
            Event::Ack { request, .. } if self.gateway.owns_request(&request) => {
                let actions = self
                    .gateway
                    .handle_in_dialog(now, &mut self.layer, None, &request);
                self.run_gateway(actions);
            }
            Event::Ack { request, .. } => uas::handle_ack(self, now, &request),
            Event::Stray2xx { response, .. } => {
                if !self.gateway.handle_stray_2xx(&mut self.layer, &response) {
                    tracing::debug!(
                        status = response.status.as_u16(),
                        "a 2xx matching no transaction was ignored"
                    );
                }
            }
            Event::Timeout { id, timer } => {
                tracing::debug!(%id, ?timer, "SIP transaction timed out");
                self.handle_transaction_failed(now, id, true);
            }
            Event::TransportError { id } => {
                tracing::debug!(%id, "SIP transaction failed: transport error");
                self.handle_transaction_failed(now, id, false);
            }
            Event::Terminated { id } => {
                self.clients.remove(&id);
                self.calls.forget_transaction(id);
            }
            Event::Malformed { source, error } => {
                SignallingStats::bump(&self.stats.malformed);
                tracing::debug!(
                    %source,
                    reason = error.reason(),
                    "malformed SIP input dropped: {error}"
                );
            }
            other => tracing::debug!(?other, "SIP transaction event ignored"),
        }
    }

    /// A new server transaction: one arm per module.
    fn handle_request(
        &mut self,
        now: Instant,
        id: TransactionId,
        request: Request,
        source: SocketAddr,
        transport: SipTransport,
    ) {
        use tandem_sip::message::Method;
        let to_tagged = request
            .headers
            .to()
            .is_ok_and(|to| to.tag().is_some_and(|t| !t.is_empty()));
        if to_tagged && self.gateway.owns_request(&request) {
            let actions = self
                .gateway
                .handle_in_dialog(now, &mut self.layer, Some(id), &request);
            return self.run_gateway(actions);
        }
        match request.method {
            Method::Invite if to_tagged => in_dialog::handle_reinvite(self, now, id, request),
            Method::Invite => uas::handle_invite(self, now, id, request, source, transport),
            Method::Update => in_dialog::handle_reinvite(self, now, id, request),
            Method::Bye => in_dialog::handle_bye(self, now, id, &request),
            Method::Info => in_dialog::handle_info(self, now, id, &request),
            Method::Options => {
                let response = options::response(&request, &mut self.random);
                self.respond(now, id, response);
            }
            Method::Register => {
                let response = self.registrar.handle_register(now, &request, source);
                self.respond(now, id, response);
            }
            _ => {
                let response = Response::from_request(&request, StatusCode::METHOD_NOT_ALLOWED)
                    .with_header(HeaderName::Allow, tandem_sip::dialog::uas::ALLOW);
                self.respond(now, id, response);
            }
        }
    }

    /// A response to one of our client transactions goes to whoever sent the request.
    fn handle_response(&mut self, now: Instant, id: TransactionId, response: Response) {
        if self.registrations.owns_transaction(id) {
            return self
                .registrations
                .handle_response(now, &mut self.layer, id, &response);
        }
        if self.gateway.owns_transaction(id) {
            let actions = self
                .gateway
                .handle_response(now, &mut self.layer, id, &response);
            return self.run_gateway(actions);
        }
        let owner = self.clients.get(&id).copied();
        // A non-INVITE transaction is done for its owner at the final response (the layer
        // keeps it a while longer to absorb retransmissions: Timer K); draining waits for
        // owners only. An INVITE's owner stays to ACK retransmitted 2xx.
        let invite = response
            .headers
            .cseq()
            .is_ok_and(|c| c.method == tandem_sip::message::Method::Invite);
        if response.status.is_final() && !invite {
            self.clients.remove(&id);
        }
        match owner {
            Some(ClientOwner::Call { call, purpose }) => {
                refresh::handle_response(self, now, call, purpose, &response);
            }
            None => tracing::debug!(%id, "response for a request nobody waits for"),
        }
    }

    /// A transaction timed out (`timed_out`) or could not be sent.
    fn handle_transaction_failed(&mut self, now: Instant, id: TransactionId, timed_out: bool) {
        if self.registrations.owns_transaction(id) {
            self.registrations
                .handle_transaction_failed(now, &mut self.layer, id);
            return self.run_registrations();
        }
        if self.gateway.owns_transaction(id) {
            let actions =
                self.gateway
                    .handle_transaction_failed(now, &mut self.layer, id, timed_out);
            return self.run_gateway(actions);
        }
        if let Some(ClientOwner::Call { call, purpose }) = self.clients.get(&id).copied() {
            refresh::handle_request_failed(self, now, call, purpose);
        } else {
            uas::handle_server_failed(self, now, id);
        }
    }

    /// Sends a response on server transaction `id`; a refusal by the layer is a bug in the
    /// caller or a transaction that already ended, logged and otherwise ignored.
    fn respond(&mut self, now: Instant, id: TransactionId, response: Response) {
        if let Err(e) = self.layer.send_response(now, id, response) {
            tracing::debug!(%id, "response not sent: {e}");
        }
    }

    /// Sends `request` on a new client transaction owned by `owner`, to `destination`.
    fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        destination: SocketAddr,
        transport: SipTransport,
        owner: ClientOwner,
    ) {
        let Some(local) = self.local_addr(&transport) else {
            tracing::warn!("no SIP listener to send {} from", request.method);
            return;
        };
        let name = if matches!(transport, SipTransport::Tcp) {
            "TCP"
        } else {
            "UDP"
        };
        request
            .headers
            .push_front(HeaderName::Via, format!("SIP/2.0/{name} {local};rport"));
        match self
            .layer
            .send_request(now, request, destination, transport)
        {
            Ok(id) => {
                self.clients.insert(id, owner);
            }
            Err(e) => tracing::warn!(%destination, "request not sent: {e}"),
        }
    }

    /// True once draining has nothing left to wait for.
    fn drained(&self) -> bool {
        self.calls.is_empty()
            && self.media_pending == 0
            && self.clients.is_empty()
            && self.gateway.calls() == 0
            && self.registrations.is_settled()
    }
}

/// The status code of a printed response (`SIP/2.0 NNN ...`), `None` for a request.
fn response_code(bytes: &[u8]) -> Option<u16> {
    let code = bytes.strip_prefix(b"SIP/2.0 ")?.get(..3)?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// Runs signalling until drained or stopped. See the module docs.
pub async fn serve(mut context: SipContext) {
    let (media_done, mut media_results) = mpsc::unbounded_channel();
    let (gateway_done, mut gateway_results) = mpsc::unbounded_channel();
    let (gateway_located, mut gateway_lookups) = mpsc::unbounded_channel();
    let (registrar_located, mut registrar_lookups) = mpsc::unbounded_channel();
    let mut runtime_events = sessions::forward_events(&context.media);
    let stats = Arc::new(SignallingStats::default());
    let start = Instant::now();
    let mut state = Signalling::new(
        start,
        &context,
        Arc::clone(&stats),
        media_done,
        gateway_done,
        gateway_located,
        registrar_located,
    );
    // The first REGISTERs go out at once.
    state.registrations.handle_timeout(start, &mut state.layer);
    state.run_registrations();
    state.flush(start);
    let mut stopping = context.shutdown.clone();
    let mut draining = context.shutdown.clone();
    let mut drain_started = false;
    loop {
        let wakeup = state.next_wakeup();
        let sleep = async {
            match wakeup {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = stopping.stopping() => break,
            _ = draining.draining(), if !drain_started => {
                drain_started = true;
                drain::begin(&mut state, Instant::now());
            }
            Some(done) = media_results.recv() => {
                sessions::handle_done(&mut state, Instant::now(), done);
            }
            Some(created) = gateway_results.recv() => {
                state.handle_gateway_media(Instant::now(), created);
            }
            Some(located) = gateway_lookups.recv() => {
                state.handle_gateway_located(Instant::now(), located);
            }
            Some(located) = registrar_lookups.recv() => {
                state.handle_registrar_located(Instant::now(), located);
            }
            event = context.events.recv() => match event {
                Some(event) => state.handle_transport(Instant::now(), event),
                None => break,
            },
            Some(event) = runtime_events.recv() => {
                uas::handle_media_event(&mut state, Instant::now(), event);
            }
            () = sleep => state.handle_timeout(Instant::now()),
        }
        state.flush(Instant::now());
        if drain_started && state.drained() {
            break;
        }
    }
    state.flush(Instant::now());
    tracing::info!(
        "signalling stopped: {} transactions_live={}",
        stats.summary(),
        state.layer.len()
    );
}
