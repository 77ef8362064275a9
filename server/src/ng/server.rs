//! The ng listeners: UDP datagrams, and (when `[ng] tcp` is on) TCP connections on the same
//! address (see [`super::tcp`]), both through one cookie cache and one call table; and the
//! watcher that deletes calls whose media timed out.
//!
//! Commands run one after another on a blocking thread (each waits for a media worker's
//! reply): a retransmission that arrives while its command runs is read after it, and is
//! answered from the cache. Nothing is logged per datagram; a datagram without a cookie is
//! dropped and counted.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak, mpsc};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tandem_core::bus::{Event, EventKind};
use tokio::net::{TcpListener, UdpSocket};

use super::calls::Calls;
use super::command::{Frame, handle};
use super::cookie_cache::CookieCache;
use crate::run::shutdown::ShutdownSignal;

/// Largest datagram read: an ng message with a large SDP stays well under this.
pub const MAX_DATAGRAM: usize = 65_535;

/// What the listeners count.
#[derive(Debug, Default)]
pub struct NgStats {
    /// Commands carried out.
    pub commands: AtomicU64,
    /// Retransmissions answered from the cache.
    pub retransmissions: AtomicU64,
    /// Datagrams dropped: no cookie.
    pub dropped: AtomicU64,
    /// TCP connections accepted.
    pub tcp_connections: AtomicU64,
    /// TCP connections closed at once: [`super::tcp::MAX_CONNECTIONS`] were open.
    pub tcp_refused: AtomicU64,
    /// TCP connections closed for bad input: no cookie, not bencode, a message too long or
    /// too slow to arrive.
    pub tcp_bad_input: AtomicU64,
}

/// A bound ng listener, ready to [`serve`](NgServer::serve).
#[derive(Debug)]
pub struct NgServer {
    socket: UdpSocket,
    tcp: Option<TcpListener>,
    stats: Arc<NgStats>,
}

impl NgServer {
    /// Binds the UDP socket and, when `tcp`, a TCP listener on the same address and port (the
    /// port UDP got, when `addr` asks for port 0).
    ///
    /// # Errors
    ///
    /// The bind error.
    pub async fn bind(addr: SocketAddr, tcp: bool) -> io::Result<Self> {
        let socket = bind_udp(addr)?;
        let tcp = match tcp {
            true => Some(TcpListener::bind(socket.local_addr()?).await?),
            false => None,
        };
        Ok(Self {
            socket,
            tcp,
            stats: Arc::default(),
        })
    }

    /// The bound address (UDP, and TCP when on).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }

    /// True when the TCP listener is bound.
    pub fn serves_tcp(&self) -> bool {
        self.tcp.is_some()
    }

    /// The counters.
    pub fn stats(&self) -> Arc<NgStats> {
        Arc::clone(&self.stats)
    }

    /// Serves until `shutdown` says stop. `events` is a runtime subscription: media timeouts
    /// in it delete their calls. On return every call has been removed.
    pub async fn serve(
        self,
        calls: Calls,
        events: mpsc::Receiver<Event>,
        shutdown: ShutdownSignal,
    ) {
        let calls = Arc::new(Mutex::new(calls));
        watch_timeouts(Arc::downgrade(&calls), events);
        let dispatcher = Dispatcher {
            calls: Arc::clone(&calls),
            cache: Arc::default(),
            stats: Arc::clone(&self.stats),
        };
        let tcp = self.tcp.map(|listener| {
            tokio::spawn(super::tcp::serve(
                listener,
                dispatcher.clone(),
                shutdown.clone(),
            ))
        });
        serve_udp(&self.socket, &dispatcher, shutdown).await;
        if let Some(tcp) = tcp {
            let _ = tcp.await;
        }
        let _ = tokio::task::spawn_blocking(move || {
            calls.lock().unwrap_or_else(PoisonError::into_inner).clear();
        })
        .await;
    }
}

/// Receive buffer asked for the UDP listener: a proxy with many worker processes sends its
/// commands in bursts (Kamailio's children each have one outstanding), and the default
/// (about 200 kB, some 90 small datagrams) drops part of a burst of a few hundred. The kernel
/// caps it at `net.core.rmem_max`.
const RECV_BUFFER_BYTES: usize = 4 << 20;

/// The UDP listener on `addr`, with [`RECV_BUFFER_BYTES`] asked for (best effort).
fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER_BYTES);
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

/// Answers datagrams until `shutdown` says stop.
async fn serve_udp(socket: &UdpSocket, dispatcher: &Dispatcher, mut shutdown: ShutdownSignal) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, from) = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                // ICMP errors from earlier replies surface here on Linux: not fatal.
                Err(_) => continue,
            },
            () = shutdown.stopping() => break,
        };
        let Some(frame) = Frame::split(&buf[..len]) else {
            dispatcher.stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if let Some(reply) = dispatcher.execute(frame).await {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

/// Carries out framed commands for every listener: the cookie cache first, then the call
/// table, on a blocking thread. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Dispatcher {
    calls: Arc<Mutex<Calls>>,
    cache: Arc<Mutex<CookieCache>>,
    pub(crate) stats: Arc<NgStats>,
}

impl Dispatcher {
    /// The reply to `frame` (`<cookie> <dictionary>`): the cached one for a cookie seen
    /// recently, else the command's. `None` only when the blocking task died.
    pub(crate) async fn execute(&self, frame: Frame<'_>) -> Option<Vec<u8>> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(Instant::now(), frame.cookie)
            .map(<[u8]>::to_vec);
        if let Some(reply) = cached {
            self.stats.retransmissions.fetch_add(1, Ordering::Relaxed);
            return Some(reply);
        }
        let (cookie, body) = (frame.cookie.to_vec(), frame.body.to_vec());
        let table = Arc::clone(&self.calls);
        let reply = tokio::task::spawn_blocking(move || {
            let mut calls = table.lock().unwrap_or_else(PoisonError::into_inner);
            handle(&mut calls, &body)
        })
        .await
        .ok()?;
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let bytes = Frame {
            cookie: &cookie,
            body: &[],
        }
        .reply(&reply);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(Instant::now(), &cookie, bytes.clone());
        Some(bytes)
    }
}

/// Deletes calls whose media timed out, on its own thread (the runtime's subscription is a
/// blocking channel). Ends when the call table is gone or the runtime stops.
fn watch_timeouts(calls: Weak<Mutex<Calls>>, events: mpsc::Receiver<Event>) {
    let spawned = std::thread::Builder::new()
        .name("tandem-ng-timeouts".into())
        .spawn(move || {
            loop {
                match events.recv_timeout(Duration::from_millis(500)) {
                    Ok(Event {
                        session,
                        kind: EventKind::MediaTimeout,
                        ..
                    }) => {
                        let Some(calls) = calls.upgrade() else { return };
                        calls
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .media_timeout(session);
                    }
                    Ok(_) => {}
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if calls.strong_count() == 0 {
                            return;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("ng: media timeouts will not delete calls: {e}");
    }
}
