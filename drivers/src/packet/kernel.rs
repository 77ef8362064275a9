//! The kernel-socket backend a deployment chooses by configuration: [`udp`](super::udp)
//! (`recvmmsg`/`sendmmsg` per socket) or [`uring`](super::uring) (one io_uring per worker),
//! with the guaranteed fallback: where io_uring cannot be set up (old kernel, seccomp,
//! `kernel.io_uring_disabled`), [`KernelIo::open`] builds the UDP backend instead and says
//! why, so the caller can log it. Both open the same ordinary UDP sockets, so everything
//! above behaves identically.
//!
//! An enum rather than a `Box<dyn PacketIo>`: one predictable branch per batch call.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use crate::error::{ConfigError, IoError, PortError};
use crate::packet::udp::{UdpConfig, UdpIo};
use crate::packet::uring::{UringConfig, UringIo};
use crate::packet::{
    IoStats, PacketBuf, PacketIo, PortPair, RecvMeta, SocketId, Timestamp, Transmit,
};

/// Which kernel-socket backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IoKind {
    /// `recvmmsg`/`sendmmsg` per socket, epoll readiness ([`UdpIo`]).
    #[default]
    Udp,
    /// One io_uring per worker for every socket ([`UringIo`]).
    Uring,
}

impl IoKind {
    /// The configuration name: `udp` or `uring`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Uring => "uring",
        }
    }
}

impl fmt::Display for IoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name other than `udp` or `uring`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown packet I/O backend {0:?} (known: udp, uring)")]
pub struct UnknownIoKind(pub String);

impl FromStr for IoKind {
    type Err = UnknownIoKind;

    fn from_str(text: &str) -> Result<Self, UnknownIoKind> {
        match text.trim() {
            "udp" => Ok(Self::Udp),
            "uring" | "io_uring" => Ok(Self::Uring),
            other => Err(UnknownIoKind(other.to_owned())),
        }
    }
}

/// The backend [`KernelIo::open`] chose.
// One per worker, built once and never moved on the media path: the size difference costs
// nothing, and a box would add an indirection to every batch call.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum KernelIo {
    /// The UDP batch backend.
    Udp(UdpIo),
    /// The io_uring backend.
    Uring(UringIo),
}

impl KernelIo {
    /// Builds the backend `kind` names over sockets configured as `socket`. When io_uring
    /// was asked for and cannot be set up, builds the UDP backend and returns the reason
    /// with it (log it: the engine works, with more system calls per packet).
    ///
    /// # Errors
    ///
    /// When the UDP backend itself cannot be built.
    pub fn open(
        kind: IoKind,
        socket: UdpConfig,
    ) -> Result<(Self, Option<ConfigError>), ConfigError> {
        if kind == IoKind::Uring {
            match UringIo::new(UringConfig::from_udp(socket)) {
                Ok(io) => return Ok((Self::Uring(io), None)),
                Err(reason) => return Ok((Self::Udp(UdpIo::new(socket)?), Some(reason))),
            }
        }
        Ok((Self::Udp(UdpIo::new(socket)?), None))
    }

    /// Which backend this is.
    pub const fn kind(&self) -> IoKind {
        match self {
            Self::Udp(_) => IoKind::Udp,
            Self::Uring(_) => IoKind::Uring,
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $io:ident => $call:expr) => {
        match $self {
            KernelIo::Udp($io) => $call,
            KernelIo::Uring($io) => $call,
        }
    };
}

impl PacketIo for KernelIo {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        dispatch!(self, io => io.open_pair())
    }
    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        dispatch!(self, io => io.close_pair(pair))
    }
    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        dispatch!(self, io => io.local_addr(socket))
    }
    fn socket_id_max(&self) -> usize {
        dispatch!(self, io => io.socket_id_max())
    }
    fn recv_batch(
        &mut self,
        now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        dispatch!(self, io => io.recv_batch(now, bufs, meta))
    }
    fn send_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        dispatch!(self, io => io.send_batch(now, packets))
    }
    fn queue_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        dispatch!(self, io => io.queue_batch(now, packets))
    }
    fn flush(&mut self, now: Timestamp) -> Result<(), IoError> {
        dispatch!(self, io => io.flush(now))
    }
    fn stats(&self) -> IoStats {
        dispatch!(self, io => io.stats())
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::packet::PortRange;

    #[test]
    fn names_parse_and_print() {
        assert_eq!("udp".parse(), Ok(IoKind::Udp));
        assert_eq!(" uring ".parse(), Ok(IoKind::Uring));
        assert_eq!(
            "epoll".parse::<IoKind>(),
            Err(UnknownIoKind("epoll".into()))
        );
        assert_eq!(IoKind::Uring.to_string(), "uring");
        assert_eq!(IoKind::default(), IoKind::Udp);
    }

    #[test]
    fn opens_the_backend_asked_for() {
        let socket = UdpConfig::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            PortRange::new(29700, 29703).unwrap(),
        );
        let (udp, reason) = KernelIo::open(IoKind::Udp, socket).unwrap();
        assert_eq!((udp.kind(), reason), (IoKind::Udp, None));
        // This kernel has io_uring (6.x): no fallback here.
        let (uring, reason) = KernelIo::open(IoKind::Uring, socket).unwrap();
        assert_eq!((uring.kind(), reason), (IoKind::Uring, None));
        assert_eq!(uring.socket_id_max(), 4);
    }
}
