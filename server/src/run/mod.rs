//! `tandem run`: the server. Start-up, the life of the process, and graceful shutdown.
//!
//! # Start-up ([`run`])
//!
//! 1. Logging ([`logging`]) to stderr.
//! 2. The control-plane tokio runtime: [`CONTROL_THREADS`] threads for SIP, REST and ng (the
//!    media workers are their own pinned threads).
//! 3. The SIP listeners ([`transport`]), bound first: a taken port is the likeliest failure
//!    and the cheapest to undo.
//! 4. A check that the media interface is an address of this host, then the media
//!    [`Runtime`] (workers, interface, port range from `[media]`).
//! 5. The REST + WebSocket API ([`crate::api`]) on `[api] listen`, over the same runtime.
//! 6. SIGTERM and SIGINT handlers, then one `tandem ready:` line listing what listens where.
//!    Tests and scripts wait for that line.
//! 7. The signalling task ([`signalling::serve`]) with a [`signalling::SipContext`].
//!
//! # Shutdown
//!
//! On SIGTERM or SIGINT: [`Phase::Draining`](shutdown::Phase::Draining) with a deadline of
//! `[sip] drain_timeout_s`; the signalling task refuses new calls and ends the others. When it
//! returns, or at the deadline, or on a second signal: [`Phase::Stopping`](shutdown::Phase::Stopping)
//! (transports close, within [`STOP_GRACE`]), then the media runtime stops. [`run`] returns
//! `Ok` and the process exits 0. A signalling task that ends before any signal is a failure:
//! the same shutdown, then [`RunError::Signalling`] (exit 1).
//!
//! Failures: a bad configuration never gets here (the command line reports it and exits 2);
//! anything that fails during start-up is a [`RunError`] (exit 1) whose message names what
//! could not be done and where.

pub mod config;
pub mod locate;
pub mod logging;
pub mod media;
pub mod routing;
pub mod shutdown;
pub mod signalling;
pub mod transport;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tandem_core::runtime::{Runtime, RuntimeError};
use tokio::signal::unix::{Signal, SignalKind, signal};

use self::config::Config;
use self::shutdown::Shutdown;
use self::signalling::SipContext;
use self::transport::{BindError, TransportConfig, Transports};

/// Threads of the control-plane runtime: signalling and control traffic are light, and the
/// cores belong to the media workers.
pub const CONTROL_THREADS: usize = 2;

/// How long transports get to close once stopping, before the runtime drops their tasks.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// The marker at the start of the line logged when every listener is up.
pub const READY: &str = "tandem ready:";

/// Why `tandem run` could not start or keep running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A SIP listener could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The media interface is not an address of this host.
    #[error("media interface {interface} cannot be used: {reason}")]
    Interface {
        /// The address.
        interface: IpAddr,
        /// The operating system's reason.
        reason: String,
    },
    /// The media runtime did not start.
    #[error("the media runtime did not start: {0}")]
    Media(#[from] RuntimeError),
    /// The signalling task ended (returned or panicked) before any signal asked it to; the
    /// rest was shut down cleanly.
    #[error("the signalling task ended unasked: {reason}")]
    Signalling {
        /// It returned, or its panic message.
        reason: String,
    },
    /// The process could not set up its own machinery (threads, signal handlers).
    #[error("{what}: {reason}")]
    Setup {
        /// What was being set up.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

fn setup(what: &'static str) -> impl FnOnce(std::io::Error) -> RunError {
    move |e| RunError::Setup {
        what,
        reason: e.to_string(),
    }
}

/// RTP sockets are bound per call, long after start-up: bind one throw-away socket now so an
/// interface that is not ours fails at start, not at the first call.
fn check_interface(interface: IpAddr) -> Result<(), RunError> {
    UdpSocket::bind(SocketAddr::new(interface, 0))
        .map(drop)
        .map_err(|e| RunError::Interface {
            interface,
            reason: e.to_string(),
        })
}

/// SIGTERM and SIGINT.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> Result<Self, RunError> {
        Ok(Self {
            terminate: signal(SignalKind::terminate()).map_err(setup("installing SIGTERM"))?,
            interrupt: signal(SignalKind::interrupt()).map_err(setup("installing SIGINT"))?,
        })
    }

    /// Waits for the next signal and names it.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// Runs the server until SIGTERM or SIGINT, then shuts down gracefully. See the module docs.
///
/// # Errors
///
/// [`RunError`] when start-up fails; nothing is left running.
pub fn run(config: Config) -> Result<(), RunError> {
    logging::init(&config.log.level);
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CONTROL_THREADS)
        .thread_name("tandem-control")
        .enable_all()
        .build()
        .map_err(setup("starting the control-plane runtime"))?;
    let shutdown = Shutdown::new();
    let transports = control.block_on(Transports::bind(
        &TransportConfig::from_sip(&config.sip),
        shutdown.signal(),
    ))?;
    check_interface(config.media.interface)?;
    let media = Arc::new(Runtime::start(config.media.runtime_config())?);
    for (worker, reason) in media.io_fallbacks() {
        tracing::warn!("media worker {worker}: io_uring unavailable ({reason}); using udp");
    }
    if media.io_fallbacks().is_empty() {
        tracing::info!("media packet I/O: {}", config.media.io);
    }
    if let Some(priority) = config.media.realtime_priority.get() {
        // Each worker raised itself before it reported ready.
        let refused = media.worker_stats().iter().filter(|s| !s.realtime).count();
        if refused > 0 {
            tracing::warn!(
                "media workers: SCHED_FIFO priority {priority} refused for {refused} of them \
                 (needs CAP_SYS_NICE or LimitRTPRIO); they run at normal priority"
            );
        } else {
            tracing::info!("media workers: SCHED_FIFO priority {priority}");
        }
    }
    let ng = control
        .block_on(crate::ng::NgServer::bind(config.ng.listen, config.ng.tcp))
        .map_err(setup("binding the ng listener"))?
        .allow(&config.ng.allow);
    let ng_transports = if ng.serves_tcp() {
        "udp and tcp"
    } else {
        "udp"
    };
    tracing::info!(
        "ng listening on {ng_transports} {}",
        ng.local_addr().unwrap_or(config.ng.listen)
    );
    let api_listener = control
        .block_on(tokio::net::TcpListener::bind(config.api.listen))
        .map_err(|e| RunError::Setup {
            what: "binding the API listener",
            reason: format!("{}: {e}", config.api.listen),
        })?;
    let api_local = api_listener.local_addr().ok();
    let metrics = Arc::new(crate::api::Metrics::default());
    metrics.attach_ng(ng.stats());
    metrics.attach_sip(transports.stats());
    let recordings =
        crate::recordings::Recordings::new(Arc::clone(&media), config.recording.dir.clone());
    let api = crate::api::Api::new(
        Arc::clone(&media),
        Arc::clone(&metrics),
        crate::api::ApiSettings {
            recordings: Some(Arc::clone(&recordings)),
            jitter: config.media.jitter(),
            ..crate::api::ApiSettings::from_config(&config.api)
        },
    );
    let mut api_stop = shutdown.signal();
    let api_task = control.spawn(crate::api::serve(api, api_listener, async move {
        api_stop.stopping().await;
    }));
    // Installed before the ready line, so a signal sent on seeing it is handled, not fatal.
    let mut signals = control.block_on(async { Signals::install() })?;

    let (udp_local, tcp_local) = (transports.udp_local(), transports.tcp_local());
    let show = |addr: Option<SocketAddr>| addr.map_or_else(|| "off".to_owned(), |a| a.to_string());
    tracing::info!(
        "{READY} sip udp={} tcp={}; media {} ports {} on {} workers; api {}",
        show(udp_local),
        show(tcp_local),
        config.media.interface,
        config.media.ports,
        media.workers(),
        show(api_local),
    );

    let ng_calls = crate::ng::Calls::new(
        Arc::clone(&media),
        media::MediaPolicy::from_config(&config),
        config.media.interface,
    )
    .with_recordings(recordings)
    .with_metrics(Arc::clone(&metrics))
    .with_dtmf_log_dest(config.ng.dtmf_log_dest);
    let ng_task = control.spawn(ng.serve(ng_calls, media.subscribe(), shutdown.signal()));
    let drain_timeout = config.sip.drain_timeout();
    let parts = transports.into_parts();
    let mut signalling = control.spawn(signalling::serve(SipContext {
        config: Arc::new(config),
        media: Arc::clone(&media),
        events: parts.events,
        outbound: parts.outbound,
        transport_stats: parts.stats,
        udp_local,
        tcp_local,
        shutdown: shutdown.signal(),
        metrics: Arc::clone(&metrics),
    }));

    let failure = control.block_on(async {
        let first = tokio::select! {
            name = signals.next() => Ok(name),
            ended = &mut signalling => Err(match ended {
                Ok(()) => "it returned".to_owned(),
                Err(e) => e.to_string(),
            }),
        };
        match &first {
            Ok(name) => {
                let deadline = tokio::time::Instant::now() + drain_timeout;
                tracing::info!("{name}: draining calls for up to {drain_timeout:?}");
                shutdown.drain(deadline);
                tokio::select! {
                    _ = &mut signalling => {}
                    () = tokio::time::sleep_until(deadline) => {
                        tracing::warn!("drain deadline reached with calls still up");
                    }
                    name = signals.next() => tracing::info!("{name} again: stopping now"),
                }
            }
            Err(reason) => {
                tracing::error!("the signalling task ended unasked ({reason}): stopping")
            }
        }
        shutdown.stop();
        if tokio::time::timeout(STOP_GRACE, parts.tasks.join())
            .await
            .is_err()
        {
            tracing::warn!("SIP transports did not close within {STOP_GRACE:?}");
        }
        if tokio::time::timeout(STOP_GRACE, api_task).await.is_err() {
            tracing::warn!("the API did not close within {STOP_GRACE:?}");
        }
        let _ = tokio::time::timeout(STOP_GRACE, ng_task).await;
        first.err()
    });
    control.shutdown_timeout(STOP_GRACE);
    // Every task holding the runtime is gone with the control plane.
    if let Ok(media) = Arc::try_unwrap(media) {
        media.shutdown();
    }
    tracing::info!("tandem stopped");
    match failure {
        Some(reason) => Err(RunError::Signalling { reason }),
        None => Ok(()),
    }
}
