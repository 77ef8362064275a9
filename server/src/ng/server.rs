//! The ng listeners: UDP datagrams, and (when `[ng] tcp` is on) TCP connections on the same
//! address (see [`super::tcp`]), both through one cookie cache and one call table; and the
//! watcher of the runtime's events (media timeouts delete their calls; digits are reported
//! to `DTMF-log-dest`).
//!
//! UDP commands run one after another on the listener's own thread, `tandem-ng`, which reads
//! a datagram, carries the command out (waiting for a media worker's reply) and sends the
//! reply itself: no hand-over to an async task and back, which cost two thread switches per
//! command and, with call setup bound by thread switches, about a third of its rate. A
//! retransmission that arrives while its command runs is read after it, and is answered from
//! the cache. TCP connections are async tasks that run their commands on the blocking pool.
//! Nothing is logged per datagram; a datagram without a cookie is dropped and counted.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak, mpsc};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tandem_core::bus::{Event, EventKind};
use tokio::net::TcpListener;

use super::calls::Calls;
use super::command::{Frame, handle};
use super::cookie_cache::CookieCache;
use super::dtmf_log::DtmfLogSender;
use crate::acl::Network;
use crate::run::shutdown::{Phase, ShutdownSignal};

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
    /// Datagrams dropped and TCP connections closed because their source is outside
    /// `[ng] allow`.
    pub forbidden: AtomicU64,
}

/// A bound ng listener, ready to [`serve`](NgServer::serve).
#[derive(Debug)]
pub struct NgServer {
    socket: std::net::UdpSocket,
    tcp: Option<TcpListener>,
    stats: Arc<NgStats>,
    allow: Arc<[Network]>,
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
            allow: Arc::new([]),
        })
    }

    /// Serves only sources in `allow` (`[ng] allow`; empty, the default, serves everyone).
    #[must_use]
    pub fn allow(mut self, allow: &[Network]) -> Self {
        self.allow = allow.into();
        self
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
        watch_events(Arc::downgrade(&calls), events);
        let dispatcher = Dispatcher {
            calls: Arc::clone(&calls),
            cache: Arc::default(),
            stats: Arc::clone(&self.stats),
            allow: self.allow,
        };
        let tcp = self.tcp.map(|listener| {
            tokio::spawn(super::tcp::serve(
                listener,
                dispatcher.clone(),
                shutdown.clone(),
            ))
        });
        let wake = self.socket.local_addr().ok().map(wake_address);
        let udp = {
            let signal = shutdown.clone();
            std::thread::Builder::new()
                .name("tandem-ng".into())
                .spawn(move || serve_udp(&self.socket, &dispatcher, &signal))
        };
        let mut shutdown = shutdown;
        shutdown.stopping().await;
        match udp {
            Ok(udp) => {
                // The thread sleeps in `recv_from`: a datagram without a cookie wakes it to
                // see the phase (the read timeout is the fallback).
                if let Some(wake) = wake {
                    let _ = std::net::UdpSocket::bind(unspecified(wake))
                        .and_then(|s| s.send_to(b"stop", wake));
                }
                let _ = tokio::task::spawn_blocking(move || udp.join()).await;
            }
            Err(e) => tracing::error!("ng: cannot start the UDP listener's thread: {e}"),
        }
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

/// How long the UDP listener's thread sleeps in `recv_from` before it looks at the shutdown
/// phase unwoken.
const STOP_POLL: Duration = Duration::from_millis(250);

/// The UDP listener on `addr`, blocking, with [`RECV_BUFFER_BYTES`] asked for (best effort)
/// and a [`STOP_POLL`] read timeout.
fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER_BYTES);
    socket.bind(&addr.into())?;
    socket.set_read_timeout(Some(STOP_POLL))?;
    Ok(socket.into())
}

/// Where a datagram reaches the listener bound at `bound`: itself, or loopback for a wildcard
/// address.
fn wake_address(bound: SocketAddr) -> SocketAddr {
    let mut to = bound;
    match bound.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            to.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            to.set_ip(std::net::Ipv6Addr::LOCALHOST.into());
        }
        _ => {}
    }
    to
}

/// Any port of `to`'s address family.
fn unspecified(to: SocketAddr) -> SocketAddr {
    match to {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Answers datagrams on this thread until `shutdown` says stop.
fn serve_udp(socket: &std::net::UdpSocket, dispatcher: &Dispatcher, shutdown: &ShutdownSignal) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while shutdown.phase() != Phase::Stopping {
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            // The read timeout, or an ICMP error from an earlier reply (Linux reports them
            // here): neither is fatal.
            Err(_) => continue,
        };
        if shutdown.phase() == Phase::Stopping {
            // Most likely the wake-up datagram: not a client's, so not counted.
            break;
        }
        if !dispatcher.admits(from) {
            continue;
        }
        let Some(frame) = Frame::split(&buf[..len]) else {
            dispatcher.stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let reply = dispatcher.execute_here(frame);
        let _ = socket.send_to(&reply, from);
    }
}

/// Carries out framed commands for every listener: the cookie cache first, then the call
/// table. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Dispatcher {
    calls: Arc<Mutex<Calls>>,
    cache: Arc<Mutex<CookieCache>>,
    pub(crate) stats: Arc<NgStats>,
    /// `[ng] allow`.
    allow: Arc<[Network]>,
}

impl Dispatcher {
    /// Whether `[ng] allow` admits `peer`; a refusal is counted.
    pub(crate) fn admits(&self, peer: SocketAddr) -> bool {
        let admitted = crate::acl::allows(&self.allow, peer.ip());
        if !admitted {
            self.stats.forbidden.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }

    /// The reply to `frame` (`<cookie> <dictionary>`), from an async task: carried out on
    /// the blocking pool (a command waits for a media worker). `None` only when the blocking
    /// task died.
    pub(crate) async fn execute(&self, frame: Frame<'_>) -> Option<Vec<u8>> {
        let (cookie, body) = (frame.cookie.to_vec(), frame.body.to_vec());
        let dispatcher = self.clone();
        tokio::task::spawn_blocking(move || {
            dispatcher.execute_here(Frame {
                cookie: &cookie,
                body: &body,
            })
        })
        .await
        .ok()
    }

    /// The reply to `frame`, carried out on this thread: the cached one for a cookie seen
    /// recently, else the command's (which blocks until a media worker replies).
    pub(crate) fn execute_here(&self, frame: Frame<'_>) -> Vec<u8> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(Instant::now(), frame.cookie)
            .map(<[u8]>::to_vec);
        if let Some(reply) = cached {
            self.stats.retransmissions.fetch_add(1, Ordering::Relaxed);
            return reply;
        }
        let reply = handle(
            &mut self.calls.lock().unwrap_or_else(PoisonError::into_inner),
            frame.body,
        );
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let bytes = Frame {
            cookie: frame.cookie,
            body: &[],
        }
        .reply(&reply);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(Instant::now(), frame.cookie, bytes.clone());
        bytes
    }
}

/// Follows the runtime's events on its own thread (the subscription is a blocking channel):
/// deletes calls whose media timed out, remembers the sources legs lock onto, and sends the
/// DTMF reports of calls that have a destination ([`super::dtmf_log`]). Ends when the call
/// table is gone or the runtime stops.
fn watch_events(calls: Weak<Mutex<Calls>>, events: mpsc::Receiver<Event>) {
    let spawned = std::thread::Builder::new()
        .name("tandem-ng-events".into())
        .spawn(move || {
            let mut reports = DtmfLogSender::default();
            loop {
                let event = match events.recv_timeout(Duration::from_millis(500)) {
                    Ok(event) => event,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if calls.strong_count() == 0 {
                            return;
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                };
                let Some(calls) = calls.upgrade() else { return };
                let mut calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
                match (event.kind, event.leg) {
                    (EventKind::MediaTimeout, _) => calls.media_timeout(event.session),
                    (EventKind::Quality(sample), Some(leg)) => {
                        calls.quality(event.session, leg, &sample);
                    }
                    (EventKind::SourceLocked { address }, Some(leg)) => {
                        calls.source_locked(event.session, leg, address);
                    }
                    (
                        EventKind::Dtmf {
                            digit,
                            duration_ms,
                            volume,
                            ..
                        },
                        Some(leg),
                    ) => {
                        let report =
                            calls.dtmf_report(event.session, leg, digit, duration_ms, volume);
                        drop(calls);
                        if let Some((dest, datagram)) = report {
                            reports.send(dest, &datagram);
                        }
                    }
                    _ => {}
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("ng: media timeouts will not delete calls, nor digits be reported: {e}");
    }
}
