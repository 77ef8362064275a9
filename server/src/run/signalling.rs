//! The seam where the SIP layer plugs into `tandem run`: everything it is given at start-up
//! ([`SipContext`]) and the task that owns it ([`serve`]).
//!
//! # Contract for the task
//!
//! - It owns the transport event channel: every received message and send failure arrives
//!   there ([`TransportEvent`]), and replies and requests go out through
//!   [`SipContext::outbound`].
//! - While [`ShutdownSignal::is_running`], it accepts calls. When draining begins
//!   ([`ShutdownSignal::draining`] returns the deadline) it refuses new calls, ends the
//!   others, and returns once they have ended; at [`Phase::Stopping`] it returns at once.
//!   Start-up waits for it until the deadline, then stops everything.
//! - Media runtime calls block the calling thread until the worker replies (at most the
//!   runtime's reply timeout), so the task makes them through `spawn_blocking`.
//!
//! Until the SIP message layer exists, [`serve`] reads the channel, logs each message at
//! debug level and leaves it unanswered (a UAC sees a timeout, exactly as if nothing
//! listened), and returns as soon as draining begins: there are no calls to end.
//!
//! [`Phase::Stopping`]: super::shutdown::Phase::Stopping

use std::net::SocketAddr;
use std::sync::Arc;

use tandem_core::runtime::Runtime;
use tokio::sync::mpsc;

use super::config::Config;
use super::shutdown::ShutdownSignal;
use super::transport::{OutboundSender, TransportEvent, TransportStats};

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
}

/// Runs signalling until drained or stopped. See the module docs.
pub async fn serve(mut context: SipContext) {
    loop {
        tokio::select! {
            biased;
            _ = context.shutdown.draining() => return,
            event = context.events.recv() => match event {
                Some(TransportEvent::Message(message)) => tracing::debug!(
                    transport = %message.transport,
                    peer = %message.peer,
                    bytes = message.bytes.len(),
                    "SIP message left unanswered: no SIP message layer yet"
                ),
                Some(TransportEvent::SendFailed(failure)) => tracing::debug!(
                    peer = %failure.peer,
                    reason = %failure.reason,
                    "SIP send failed"
                ),
                None => return,
            },
        }
    }
}
