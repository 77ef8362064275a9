//! SIP transports on tokio: UDP and TCP sockets that turn bytes on the wire into
//! [`TransportEvent`]s and [`Outbound`] messages into bytes on the wire. No SIP logic: what
//! the bytes mean is the SIP layer's business.
//!
//! # Contract
//!
//! - [`Transports::bind`] binds every enabled listener or fails with a [`BindError`] naming
//!   the transport and address; nothing is left bound on failure.
//! - Everything received comes out of one channel ([`Transports::into_parts`]): a UDP
//!   datagram is one [`Inbound`]; a TCP byte stream is framed into messages by headers and
//!   Content-Length (`tandem_sip::message::frame`) and each message is one [`Inbound`] carrying its
//!   [`ConnectionId`]. CRLF keep-alives never reach the channel (a double-CRLF ping over TCP
//!   is answered with a CRLF pong, RFC 5626 §4.4.1).
//! - Everything sent goes through one [`OutboundSender`]. A TCP [`Outbound`] goes over its
//!   connection if that is still open, else over any open connection to the same peer, else
//!   over a new connection (RFC 3261 §18.2.2: responses go back over the connection the
//!   request came on; when it is gone the SIP layer names the address to connect to).
//!   Failures come back on the event channel as [`TransportEvent::SendFailed`], so the
//!   transaction layer can report a transport error (RFC 3261 §17.1.4).
//! - Bounded everywhere: the event channel holds [`EVENT_QUEUE`] events (a full queue drops
//!   UDP datagrams, which are retransmitted, and pauses reading TCP connections), at most
//!   [`MAX_CONNECTIONS`] TCP connections are open, each with [`CONNECTION_QUEUE`] messages
//!   waiting to be written, and idle connections close after the configured timeout.
//! - Every task returns when the [`ShutdownSignal`] reaches [`Phase::Stopping`]
//!   (draining keeps the transports running, for the BYEs); [`TransportTasks::join`] waits
//!   for them.
//!
//! [`Phase::Stopping`]: super::shutdown::Phase::Stopping

mod tcp;
mod udp;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::config::SipSection;
use super::shutdown::ShutdownSignal;
use crate::acl::Network;

/// Events the channel holds before UDP datagrams are dropped and TCP reading pauses.
pub const EVENT_QUEUE: usize = 4096;

/// Outbound messages waiting for the dispatcher.
pub const OUTBOUND_QUEUE: usize = 4096;

/// Open TCP connections at most; further connections are refused (closed at once).
pub const MAX_CONNECTIONS: usize = 4096;

/// Messages waiting to be written to one TCP connection; beyond it a send fails.
pub const CONNECTION_QUEUE: usize = 64;

/// The largest UDP datagram accepted (the largest UDP payload over IPv4).
pub const MAX_DATAGRAM: usize = 65_507;

/// How long a new outgoing TCP connection may take to connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A SIP transport protocol (the `transport` of a Via, RFC 3261 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: one message per datagram.
    Udp,
    /// TCP: messages framed in a byte stream.
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        })
    }
}

/// Identifies one TCP connection for its whole life (ids are never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// One SIP message (or what claims to be one) as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// How it came.
    pub transport: Transport,
    /// The local address it arrived on.
    pub local: SocketAddr,
    /// Who sent it (the datagram's source, or the connection's peer).
    pub peer: SocketAddr,
    /// The TCP connection it came on; `None` for UDP.
    pub connection: Option<ConnectionId>,
    /// The message bytes: one datagram, or one framed stream message.
    pub bytes: Vec<u8>,
}

/// One SIP message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// How to send it.
    pub transport: Transport,
    /// Where to: the datagram's destination, or the address to connect to when no open
    /// connection fits.
    pub peer: SocketAddr,
    /// The TCP connection to use if it is still open (a response goes back on the
    /// request's connection).
    pub connection: Option<ConnectionId>,
    /// The message bytes.
    pub bytes: Vec<u8>,
}

/// An [`Outbound`] that could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// The transport it was for.
    pub transport: Transport,
    /// The destination.
    pub peer: SocketAddr,
    /// The connection it was for, if any.
    pub connection: Option<ConnectionId>,
    /// Why.
    pub reason: String,
}

/// What the transports report to the SIP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// A message arrived.
    Message(Inbound),
    /// A message could not be sent (RFC 3261 §17.1.4 transport error).
    SendFailed(SendFailure),
}

/// The SIP layer's handle for sending; cheap to clone.
#[derive(Debug, Clone)]
pub struct OutboundSender {
    queue: mpsc::Sender<Outbound>,
}

/// The transports have stopped; the message comes back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the SIP transports have stopped")]
pub struct Stopped(pub Outbound);

impl OutboundSender {
    /// Queues `message`, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Stopped`] once the transports have shut down.
    pub async fn send(&self, message: Outbound) -> Result<(), Stopped> {
        self.queue.send(message).await.map_err(|e| Stopped(e.0))
    }

    /// Queues `message` if there is room, without waiting.
    ///
    /// # Errors
    ///
    /// The message comes back when the queue is full or the transports have stopped.
    pub fn try_send(&self, message: Outbound) -> Result<(), mpsc::error::TrySendError<Outbound>> {
        self.queue.try_send(message)
    }
}

/// A listener could not be bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot listen for SIP over {transport} on {addr}: {reason}")]
pub struct BindError {
    /// Which listener.
    pub transport: Transport,
    /// The address.
    pub addr: SocketAddr,
    /// The operating system's reason.
    pub reason: String,
}

/// How the transports are set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// The listen address (UDP and TCP; port 0 picks a free port, the same for both).
    pub listen: SocketAddr,
    /// Listen on UDP.
    pub udp: bool,
    /// Listen on TCP.
    pub tcp: bool,
    /// Close TCP connections idle this long; `None` keeps them.
    pub idle_timeout: Option<Duration>,
    /// Sources served (`[sip] allow`); empty serves every source.
    pub allow: Vec<Network>,
}

impl TransportConfig {
    /// The transports `[sip]` asks for.
    pub fn from_sip(sip: &SipSection) -> Self {
        Self {
            listen: sip.listen,
            udp: sip.udp,
            tcp: sip.tcp,
            idle_timeout: sip.tcp_idle_timeout(),
            allow: sip.allow.clone(),
        }
    }
}

/// Counters, for logs and metrics.
#[derive(Debug, Default)]
pub struct TransportStats {
    received: AtomicU64,
    dropped: AtomicU64,
    keepalives: AtomicU64,
    sent: AtomicU64,
    send_failures: AtomicU64,
    accepted: AtomicU64,
    refused: AtomicU64,
    connected: AtomicU64,
    framing_errors: AtomicU64,
    idle_closed: AtomicU64,
    forbidden: AtomicU64,
}

/// A copy of [`TransportStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStatsSnapshot {
    /// Messages delivered to the event channel.
    pub received: u64,
    /// UDP datagrams dropped because the event channel was full.
    pub dropped: u64,
    /// CRLF keep-alives seen (UDP and TCP).
    pub keepalives: u64,
    /// Messages written to a socket.
    pub sent: u64,
    /// Messages that could not be sent.
    pub send_failures: u64,
    /// TCP connections accepted.
    pub accepted: u64,
    /// TCP connections refused at [`MAX_CONNECTIONS`].
    pub refused: u64,
    /// Outgoing TCP connections established.
    pub connected: u64,
    /// TCP connections closed because their stream was out of sync.
    pub framing_errors: u64,
    /// TCP connections closed for idleness.
    pub idle_closed: u64,
    /// UDP datagrams dropped and TCP connections closed because their source is outside
    /// `[sip] allow`.
    pub forbidden: u64,
}

impl TransportStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> TransportStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStatsSnapshot {
            received: get(&self.received),
            dropped: get(&self.dropped),
            keepalives: get(&self.keepalives),
            sent: get(&self.sent),
            send_failures: get(&self.send_failures),
            accepted: get(&self.accepted),
            refused: get(&self.refused),
            connected: get(&self.connected),
            framing_errors: get(&self.framing_errors),
            idle_closed: get(&self.idle_closed),
            forbidden: get(&self.forbidden),
        }
    }
}

/// What the transport tasks share.
#[derive(Debug)]
struct Shared {
    events: mpsc::Sender<TransportEvent>,
    stats: Arc<TransportStats>,
    shutdown: ShutdownSignal,
    /// `[sip] allow`.
    allow: Vec<Network>,
}

impl Shared {
    /// Whether `[sip] allow` admits `peer`; a refusal is counted.
    fn admits(&self, peer: SocketAddr) -> bool {
        let admitted = crate::acl::allows(&self.allow, peer.ip());
        if !admitted {
            TransportStats::bump(&self.stats.forbidden);
        }
        admitted
    }

    /// Reports a failed send (best effort: a full or closed channel loses the report, and
    /// the transaction layer's own timers cover it).
    fn send_failed(&self, failure: SendFailure) {
        TransportStats::bump(&self.stats.send_failures);
        tracing::debug!(
            transport = %failure.transport,
            peer = %failure.peer,
            reason = %failure.reason,
            "SIP send failed"
        );
        let _ = self.events.try_send(TransportEvent::SendFailed(failure));
    }
}

/// The running transports, before the SIP layer takes its parts.
#[derive(Debug)]
pub struct Transports {
    udp_local: Option<SocketAddr>,
    tcp_local: Option<SocketAddr>,
    events: mpsc::Receiver<TransportEvent>,
    outbound: OutboundSender,
    stats: Arc<TransportStats>,
    tasks: TransportTasks,
}

/// The transports' tasks, to wait for at shutdown.
#[derive(Debug)]
pub struct TransportTasks {
    tasks: JoinSet<()>,
}

impl TransportTasks {
    /// Waits until the listener and dispatcher tasks have returned (they return at
    /// [`Phase::Stopping`](super::shutdown::Phase::Stopping); connection tasks end by
    /// themselves at the same moment).
    pub async fn join(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// What the SIP layer takes from [`Transports::into_parts`].
#[derive(Debug)]
pub struct TransportParts {
    /// Everything received, and send failures.
    pub events: mpsc::Receiver<TransportEvent>,
    /// Where to send.
    pub outbound: OutboundSender,
    /// The counters.
    pub stats: Arc<TransportStats>,
    /// The tasks, to join at shutdown.
    pub tasks: TransportTasks,
}

impl Transports {
    /// Binds the enabled listeners and starts their tasks on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`BindError`] for the first listener that cannot be bound.
    pub async fn bind(
        config: &TransportConfig,
        shutdown: ShutdownSignal,
    ) -> Result<Self, BindError> {
        let udp = config.udp.then(|| udp::bind(config.listen)).transpose()?;
        let udp_local = udp
            .as_ref()
            .map(|s| udp::local_addr(s, config.listen))
            .transpose()?;
        let tcp_addr = match udp_local {
            // Port 0: TCP takes the port UDP got, so SIP has one port.
            Some(local) if config.listen.port() == 0 => local,
            _ => config.listen,
        };
        let listener = config.tcp.then(|| tcp::bind(tcp_addr)).transpose()?;
        let tcp_local = listener
            .as_ref()
            .map(|l| tcp::local_addr(l, tcp_addr))
            .transpose()?;

        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let (outbound_tx, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let stats = Arc::new(TransportStats::default());
        let shared = Arc::new(Shared {
            events: events_tx,
            stats: Arc::clone(&stats),
            shutdown,
            allow: config.allow.clone(),
        });
        let mut tasks = JoinSet::new();
        let udp = udp.map(Arc::new);
        if let (Some(socket), Some(local)) = (&udp, udp_local) {
            tasks.spawn(udp::receive(Arc::clone(socket), local, Arc::clone(&shared)));
        }
        let connections = Arc::new(tcp::Connections::new(config.idle_timeout));
        if let Some(listener) = listener {
            tasks.spawn(tcp::accept(
                listener,
                Arc::clone(&connections),
                Arc::clone(&shared),
            ));
        }
        let tcp_enabled = config.tcp;
        tasks.spawn(dispatch(
            outbound_rx,
            udp,
            tcp_enabled.then_some(connections),
            shared,
        ));
        Ok(Self {
            udp_local,
            tcp_local,
            events,
            outbound: OutboundSender { queue: outbound_tx },
            stats,
            tasks: TransportTasks { tasks },
        })
    }

    /// The bound UDP address, if UDP is on.
    pub fn udp_local(&self) -> Option<SocketAddr> {
        self.udp_local
    }

    /// The bound TCP address, if TCP is on.
    pub fn tcp_local(&self) -> Option<SocketAddr> {
        self.tcp_local
    }

    /// The counters (shared: they keep counting after [`Self::into_parts`]).
    pub fn stats(&self) -> Arc<TransportStats> {
        Arc::clone(&self.stats)
    }

    /// The parts the SIP layer works with.
    pub fn into_parts(self) -> TransportParts {
        TransportParts {
            events: self.events,
            outbound: self.outbound,
            stats: self.stats,
            tasks: self.tasks,
        }
    }
}

/// Sends queued [`Outbound`]s until stopped: UDP directly, TCP through the connection's
/// writer queue (so one slow peer never holds up the others).
async fn dispatch(
    mut queue: mpsc::Receiver<Outbound>,
    udp: Option<Arc<tokio::net::UdpSocket>>,
    connections: Option<Arc<tcp::Connections>>,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let message = tokio::select! {
            biased;
            () = shutdown.stopping() => return,
            message = queue.recv() => match message {
                Some(message) => message,
                None => return,
            },
        };
        match (message.transport, &udp, &connections) {
            (Transport::Udp, Some(socket), _) => udp::send(socket, message, &shared).await,
            (Transport::Tcp, _, Some(connections)) => {
                tcp::send(connections, message, &shared);
            }
            (transport, ..) => shared.send_failed(SendFailure {
                transport,
                peer: message.peer,
                connection: message.connection,
                reason: format!("SIP over {transport} is not enabled"),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
