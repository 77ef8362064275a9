//! SIP over TCP: the listener, the table of open connections, and one task per connection
//! that frames what it reads (`tandem-sip`'s [`frame`]: headers, then Content-Length bytes
//! of body, RFC 3261 §18.3) and writes what is queued for it.
//!
//! A connection is known by its [`ConnectionId`] and its peer address. Outgoing connections
//! are registered before they connect, so messages sent meanwhile queue behind the connect
//! instead of opening a second connection. A connection closes when the peer closes it, when
//! its stream is out of sync (a framing error), when a write fails, when it has been idle for
//! the configured timeout, or at [`Phase::Stopping`](super::super::shutdown::Phase::Stopping);
//! messages still queued for it are reported as send failures. Connection tasks are detached
//! (not in [`TransportTasks`](super::TransportTasks)): they end at `Stopping` by themselves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use tandem_sip::message::{Frame, ParseError, frame};

use super::{
    BindError, CONNECT_TIMEOUT, CONNECTION_QUEUE, ConnectionId, Inbound, MAX_CONNECTIONS, Outbound,
    SendFailure, Shared, Transport, TransportEvent, TransportStats,
};

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Pending connections the kernel queues for `accept`.
const BACKLOG: u32 = 1024;

/// How long to wait after a failed `accept` (out of file descriptors...) before trying again,
/// so a persistent error does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Binds the TCP listener on `addr`.
pub(super) fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    let error = |e: std::io::Error| BindError {
        transport: Transport::Tcp,
        addr,
        reason: e.to_string(),
    };
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(error)?;
    // A restarted server must not wait out the old connections' TIME_WAIT.
    socket.set_reuseaddr(true).map_err(error)?;
    socket.bind(addr).map_err(error)?;
    socket.listen(BACKLOG).map_err(error)
}

/// The address the listener bound (`requested` names the listener in the error).
pub(super) fn local_addr(
    listener: &TcpListener,
    requested: SocketAddr,
) -> Result<SocketAddr, BindError> {
    listener.local_addr().map_err(|e| BindError {
        transport: Transport::Tcp,
        addr: requested,
        reason: e.to_string(),
    })
}

/// One open (or opening) connection as the table knows it.
#[derive(Debug)]
struct Entry {
    peer: SocketAddr,
    writer: mpsc::Sender<Vec<u8>>,
}

/// A new connection's id, writer and write queue.
type Registered = (ConnectionId, mpsc::Sender<Vec<u8>>, mpsc::Receiver<Vec<u8>>);

#[derive(Debug, Default)]
struct Table {
    next: u64,
    by_id: HashMap<ConnectionId, Entry>,
    /// The most recent connection to or from each peer address.
    by_peer: HashMap<SocketAddr, ConnectionId>,
}

/// The open TCP connections.
#[derive(Debug)]
pub(super) struct Connections {
    idle_timeout: Option<Duration>,
    table: Mutex<Table>,
}

impl Connections {
    pub(super) fn new(idle_timeout: Option<Duration>) -> Self {
        Self {
            idle_timeout,
            table: Mutex::new(Table::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection with `peer`: its id, writer and write queue; `None` at
    /// [`MAX_CONNECTIONS`].
    fn register(&self, peer: SocketAddr) -> Option<Registered> {
        let mut table = self.lock();
        if table.by_id.len() >= MAX_CONNECTIONS {
            return None;
        }
        table.next += 1;
        let id = ConnectionId(table.next);
        let (writer, writes) = mpsc::channel(CONNECTION_QUEUE);
        table.by_id.insert(
            id,
            Entry {
                peer,
                writer: writer.clone(),
            },
        );
        table.by_peer.insert(peer, id);
        Some((id, writer, writes))
    }

    fn remove(&self, id: ConnectionId) {
        let mut table = self.lock();
        if let Some(entry) = table.by_id.remove(&id) {
            if table.by_peer.get(&entry.peer) == Some(&id) {
                table.by_peer.remove(&entry.peer);
            }
        }
    }

    /// The writer of `connection` if it is open, else of the latest connection with `peer`.
    fn writer_for(
        &self,
        connection: Option<ConnectionId>,
        peer: SocketAddr,
    ) -> Option<(ConnectionId, mpsc::Sender<Vec<u8>>)> {
        let table = self.lock();
        connection
            .filter(|id| table.by_id.contains_key(id))
            .or_else(|| table.by_peer.get(&peer).copied())
            .and_then(|id| table.by_id.get(&id).map(|e| (id, e.writer.clone())))
    }
}

/// Accepts connections until stopped.
pub(super) async fn accept(
    listener: TcpListener,
    connections: Arc<Connections>,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.stopping() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        if !shared.admits(peer) {
            continue;
        }
        let Some((id, _, writes)) = connections.register(peer) else {
            TransportStats::bump(&shared.stats.refused);
            tracing::warn!(%peer, "SIP TCP connection refused: {MAX_CONNECTIONS} already open");
            continue;
        };
        TransportStats::bump(&shared.stats.accepted);
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(
            stream,
            id,
            peer,
            writes,
            Arc::clone(&connections),
            Arc::clone(&shared),
        ));
    }
}

/// Sends `message` over its connection, another open one to the peer, or a new one.
pub(super) fn send(connections: &Arc<Connections>, message: Outbound, shared: &Arc<Shared>) {
    let Outbound {
        peer,
        connection,
        bytes,
        ..
    } = message;
    let fail = |connection, reason: &str| {
        shared.send_failed(SendFailure {
            transport: Transport::Tcp,
            peer,
            connection,
            reason: reason.to_owned(),
        });
    };
    let bytes = match connections.writer_for(connection, peer) {
        Some((id, writer)) => match writer.try_send(bytes) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => {
                return fail(Some(id), "the connection's write queue is full");
            }
            // The connection closed a moment ago: connect again below.
            Err(TrySendError::Closed(bytes)) => bytes,
        },
        None => bytes,
    };
    let Some((id, writer, writes)) = connections.register(peer) else {
        return fail(None, "too many open TCP connections");
    };
    // A fresh queue has room, and its receiver is alive until `outgoing` ends.
    let _ = writer.try_send(bytes);
    tokio::spawn(outgoing(
        id,
        peer,
        writes,
        Arc::clone(connections),
        Arc::clone(shared),
    ));
}

/// Connects a registered outgoing connection, then serves it.
async fn outgoing(
    id: ConnectionId,
    peer: SocketAddr,
    writes: mpsc::Receiver<Vec<u8>>,
    connections: Arc<Connections>,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.clone();
    let connected = tokio::select! {
        biased;
        () = shutdown.stopping() => Err("shutting down".to_owned()),
        connected = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer)) => {
            match connected {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no connection within {CONNECT_TIMEOUT:?}")),
            }
        }
    };
    match connected {
        Ok(stream) => {
            TransportStats::bump(&shared.stats.connected);
            let _ = stream.set_nodelay(true);
            serve(stream, id, peer, writes, connections, shared).await;
        }
        Err(reason) => {
            connections.remove(id);
            fail_queued(writes, id, peer, &reason, &shared);
        }
    }
}

/// Reports every message still queued for a closed connection as a send failure.
fn fail_queued(
    mut writes: mpsc::Receiver<Vec<u8>>,
    id: ConnectionId,
    peer: SocketAddr,
    reason: &str,
    shared: &Shared,
) {
    writes.close();
    while writes.try_recv().is_ok() {
        shared.send_failed(SendFailure {
            transport: Transport::Tcp,
            peer,
            connection: Some(id),
            reason: reason.to_owned(),
        });
    }
}

/// Why a connection ended.
enum Closed {
    Shutdown,
    ByPeer,
    Idle,
    Io(std::io::Error),
    Framing(ParseError),
    /// The SIP layer dropped the event channel.
    NoListener,
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Closed::Shutdown => f.write_str("shutting down"),
            Closed::ByPeer => f.write_str("closed by the peer"),
            Closed::Idle => f.write_str("idle"),
            Closed::Io(e) => write!(f, "I/O error: {e}"),
            Closed::Framing(e) => write!(f, "stream out of sync: {e}"),
            Closed::NoListener => f.write_str("nobody reads SIP messages any more"),
        }
    }
}

/// Serves one connection until it closes.
async fn serve(
    mut stream: TcpStream,
    id: ConnectionId,
    peer: SocketAddr,
    mut writes: mpsc::Receiver<Vec<u8>>,
    connections: Arc<Connections>,
    shared: Arc<Shared>,
) {
    let local = stream.local_addr().unwrap_or(peer);
    let mut shutdown = shared.shutdown.clone();
    let mut pending: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut last_activity = Instant::now();
    let idle_timeout = connections.idle_timeout;
    let closed = loop {
        let idle = async {
            match idle_timeout {
                Some(timeout) => tokio::time::sleep_until(last_activity + timeout).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shutdown.stopping() => break Closed::Shutdown,
            write = writes.recv() => {
                let Some(bytes) = write else { break Closed::Shutdown };
                if let Err(e) = stream.write_all(&bytes).await {
                    shared.send_failed(SendFailure {
                        transport: Transport::Tcp,
                        peer,
                        connection: Some(id),
                        reason: e.to_string(),
                    });
                    break Closed::Io(e);
                }
                TransportStats::bump(&shared.stats.sent);
                last_activity = Instant::now();
            }
            read = stream.read(&mut chunk) => match read {
                Ok(0) => break Closed::ByPeer,
                Ok(n) => {
                    last_activity = Instant::now();
                    pending.extend_from_slice(&chunk[..n]);
                    let inbound = Inbound {
                        transport: Transport::Tcp,
                        local,
                        peer,
                        connection: Some(id),
                        bytes: Vec::new(),
                    };
                    if let Err(closed) = deliver(&mut pending, &mut stream, inbound, &shared).await {
                        break closed;
                    }
                }
                Err(e) => break Closed::Io(e),
            },
            () = idle => {
                TransportStats::bump(&shared.stats.idle_closed);
                break Closed::Idle;
            }
        }
    };
    tracing::debug!(%peer, connection = id.0, reason = %closed, "SIP TCP connection closed");
    connections.remove(id);
    fail_queued(writes, id, peer, "the connection closed", &shared);
}

/// Delivers every complete message at the start of `pending` (each as a copy of `template`
/// with its bytes) and answers keep-alive pings.
async fn deliver(
    pending: &mut Vec<u8>,
    stream: &mut TcpStream,
    template: Inbound,
    shared: &Shared,
) -> Result<(), Closed> {
    loop {
        match frame(pending) {
            Ok(Frame::NeedMore) => return Ok(()),
            Ok(Frame::KeepAlive { len, ping }) => {
                pending.drain(..len);
                TransportStats::bump(&shared.stats.keepalives);
                if ping {
                    stream.write_all(b"\r\n").await.map_err(Closed::Io)?;
                }
            }
            Ok(Frame::Message { len }) => {
                let inbound = Inbound {
                    bytes: pending.drain(..len).collect(),
                    ..template.clone()
                };
                // Waiting here pauses reading this connection: TCP's own backpressure.
                shared
                    .events
                    .send(TransportEvent::Message(inbound))
                    .await
                    .map_err(|_| Closed::NoListener)?;
                TransportStats::bump(&shared.stats.received);
            }
            Err(e) => {
                TransportStats::bump(&shared.stats.framing_errors);
                return Err(Closed::Framing(e));
            }
        }
    }
}
