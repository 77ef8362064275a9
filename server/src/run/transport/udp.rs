//! SIP over UDP: one socket, one message per datagram (RFC 3261 §18.1.1, §18.2.1).
//!
//! Datagrams up to [`MAX_DATAGRAM`] bytes are read whole. A datagram of only CR and LF bytes
//! is a keep-alive (RFC 5626 §4.4.1 sends CRLF over UDP too) and is counted, not delivered.
//! When the event channel is full a datagram is dropped and counted: UDP senders retransmit.

use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;

use super::{
    BindError, Inbound, MAX_DATAGRAM, Outbound, SendFailure, Shared, Transport, TransportEvent,
    TransportStats,
};

/// Receive buffer asked of the kernel: room for bursts of INVITEs under load. The kernel caps
/// it at `net.core.rmem_max`, which is fine.
const RECV_BUFFER_BYTES: usize = 4 << 20;

fn bind_error(addr: SocketAddr) -> impl Fn(std::io::Error) -> BindError {
    move |e| BindError {
        transport: Transport::Udp,
        addr,
        reason: e.to_string(),
    }
}

/// Binds the UDP listener on `addr`.
pub(super) fn bind(addr: SocketAddr) -> Result<UdpSocket, BindError> {
    let error = bind_error(addr);
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(&error)?;
    // Best effort: a smaller buffer only means earlier drops under overload.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER_BYTES);
    socket.bind(&addr.into()).map_err(&error)?;
    socket.set_nonblocking(true).map_err(&error)?;
    UdpSocket::from_std(socket.into()).map_err(&error)
}

/// The address the socket bound (`requested` names the listener in the error).
pub(super) fn local_addr(
    socket: &UdpSocket,
    requested: SocketAddr,
) -> Result<SocketAddr, BindError> {
    socket.local_addr().map_err(bind_error(requested))
}

/// True for a datagram that is only line ends: a keep-alive, not a message.
fn is_keepalive(datagram: &[u8]) -> bool {
    datagram.iter().all(|&b| b == b'\r' || b == b'\n')
}

/// Reads datagrams into the event channel until stopped.
pub(super) async fn receive(socket: Arc<UdpSocket>, local: SocketAddr, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let received = tokio::select! {
            biased;
            () = shutdown.stopping() => return,
            received = socket.recv_from(&mut buf) => received,
        };
        let (len, peer) = match received {
            Ok(received) => received,
            // ICMP errors for earlier sends surface here on some systems: not fatal.
            Err(e) => {
                tracing::debug!(error = %e, "SIP UDP receive error");
                continue;
            }
        };
        if !shared.admits(peer) {
            continue;
        }
        let datagram = &buf[..len];
        if is_keepalive(datagram) {
            TransportStats::bump(&shared.stats.keepalives);
            continue;
        }
        let inbound = Inbound {
            transport: Transport::Udp,
            local,
            peer,
            connection: None,
            bytes: datagram.to_vec(),
        };
        match shared.events.try_send(TransportEvent::Message(inbound)) {
            Ok(()) => TransportStats::bump(&shared.stats.received),
            Err(TrySendError::Full(_)) => TransportStats::bump(&shared.stats.dropped),
            // Nobody listens any more: the SIP layer is gone.
            Err(TrySendError::Closed(_)) => return,
        }
    }
}

/// Sends one datagram.
pub(super) async fn send(socket: &UdpSocket, message: Outbound, shared: &Shared) {
    match socket.send_to(&message.bytes, message.peer).await {
        Ok(_) => TransportStats::bump(&shared.stats.sent),
        Err(e) => shared.send_failed(SendFailure {
            transport: Transport::Udp,
            peer: message.peer,
            connection: None,
            reason: e.to_string(),
        }),
    }
}
