//! The ng listener: UDP datagrams in, replies out, through the cookie cache and the call
//! table; and the watcher that deletes calls whose media timed out.
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

use tandem_core::bus::{Event, EventKind};
use tokio::net::UdpSocket;

use super::calls::Calls;
use super::command::{Frame, handle};
use super::cookie_cache::CookieCache;
use crate::run::shutdown::ShutdownSignal;

/// Largest datagram read: an ng message with a large SDP stays well under this.
pub const MAX_DATAGRAM: usize = 65_535;

/// What the listener counts.
#[derive(Debug, Default)]
pub struct NgStats {
    /// Commands carried out.
    pub commands: AtomicU64,
    /// Retransmissions answered from the cache.
    pub retransmissions: AtomicU64,
    /// Datagrams dropped: no cookie.
    pub dropped: AtomicU64,
}

/// A bound ng listener, ready to [`serve`](NgServer::serve).
#[derive(Debug)]
pub struct NgServer {
    socket: UdpSocket,
    stats: Arc<NgStats>,
}

impl NgServer {
    /// Binds the UDP socket.
    ///
    /// # Errors
    ///
    /// The bind error.
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        Ok(Self {
            socket: UdpSocket::bind(addr).await?,
            stats: Arc::default(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
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
        mut shutdown: ShutdownSignal,
    ) {
        let calls = Arc::new(Mutex::new(calls));
        watch_timeouts(Arc::downgrade(&calls), events);
        let mut cache = CookieCache::default();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let (len, from) = tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok(r) => r,
                    // ICMP errors from earlier replies surface here on Linux: not fatal.
                    Err(_) => continue,
                },
                () = shutdown.stopping() => break,
            };
            let Some(frame) = Frame::split(&buf[..len]) else {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let now = Instant::now();
            if let Some(reply) = cache.get(now, frame.cookie) {
                self.stats.retransmissions.fetch_add(1, Ordering::Relaxed);
                let _ = self.socket.send_to(reply, from).await;
                continue;
            }
            let (cookie, body) = (frame.cookie.to_vec(), frame.body.to_vec());
            let table = Arc::clone(&calls);
            let reply = tokio::task::spawn_blocking(move || {
                let mut calls = table.lock().unwrap_or_else(PoisonError::into_inner);
                handle(&mut calls, &body)
            })
            .await;
            let Ok(reply) = reply else { continue };
            self.stats.commands.fetch_add(1, Ordering::Relaxed);
            let bytes = Frame {
                cookie: &cookie,
                body: &[],
            }
            .reply(&reply);
            let _ = self.socket.send_to(&bytes, from).await;
            cache.insert(Instant::now(), &cookie, bytes);
        }
        let _ = tokio::task::spawn_blocking(move || {
            calls.lock().unwrap_or_else(PoisonError::into_inner).clear();
        })
        .await;
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
