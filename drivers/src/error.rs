//! Errors of the drivers crate, classified by what the caller does next.
//!
//! - [`IoError`]: a packet could not be sent or received. Media-path errors: `Copy`, numbers
//!   only, a stable [`IoError::reason`] label for drop counters. Backends count them in
//!   [`IoStats`](crate::packet::IoStats) and carry on; a batch call returns one only when the
//!   whole backend failed.
//! - [`PortError`]: opening or closing a port pair failed (session setup: reject the session,
//!   or retry later on `Exhausted`).
//! - [`ConfigError`]: a backend was constructed with a configuration that cannot work (a bug
//!   or a bad configuration file: report it at start-up).
//! - [`PcapError`] / [`FrameError`]: a capture file, or one frame in it, is malformed (drop the
//!   file or skip the frame and count it).
//!
//! All are `#[non_exhaustive]`; errno values are carried as the raw `i32`.

use std::io::ErrorKind;
use std::net::IpAddr;

/// A packet could not be sent or received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// A [`Transmit`](crate::packet::Transmit) named a socket that is not open (local misuse:
    /// the session was closed, or the id came from another backend).
    #[error("socket {socket} is not open on this backend")]
    UnknownSocket {
        /// The [`SocketId`](crate::packet::SocketId) index.
        socket: u32,
    },
    /// The destination's address family cannot be reached from the socket (an IPv6 peer on
    /// an IPv4-only socket, or the reverse).
    #[error("destination address family is not reachable from socket {socket}")]
    AddressFamily {
        /// The [`SocketId`](crate::packet::SocketId) index.
        socket: u32,
    },
    /// The socket's send buffer (or the in-memory queue) is full: the packet is dropped,
    /// since a late media packet is worth nothing.
    #[error("send queue of socket {socket} is full")]
    SendBufferFull {
        /// The [`SocketId`](crate::packet::SocketId) index.
        socket: u32,
    },
    /// The payload is larger than the backend can carry.
    #[error("payload of {len} bytes exceeds the limit of {max} bytes")]
    Oversize {
        /// Payload length.
        len: usize,
        /// The backend's limit.
        max: usize,
    },
    /// The kernel reported an error not listed above.
    #[error("the kernel reported errno {errno}")]
    Os {
        /// The raw errno value.
        errno: i32,
    },
}

impl IoError {
    /// Stable label for `tandem_packet_dropped_total{reason="…"}`.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::UnknownSocket { .. } => "unknown_socket",
            Self::AddressFamily { .. } => "address_family",
            Self::SendBufferFull { .. } => "send_buffer_full",
            Self::Oversize { .. } => "oversize",
            Self::Os { .. } => "os",
        }
    }
}

/// Opening or closing a port pair failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// Every pair of the range is in use (a resource limit: reject the session).
    #[error("all port pairs in {min}..={max} are in use")]
    Exhausted {
        /// First port of the range.
        min: u16,
        /// Last port of the range.
        max: u16,
    },
    /// Binding failed (usually `EADDRINUSE`: another process holds the port).
    #[error("binding port {port} failed with errno {errno}")]
    Bind {
        /// The port that could not be bound.
        port: u16,
        /// The raw errno value.
        errno: i32,
    },
    /// Creating or configuring the socket failed.
    #[error("creating a socket failed with errno {errno}")]
    Socket {
        /// The raw errno value.
        errno: i32,
    },
    /// Registering the socket for readiness (epoll) or in the io_uring file table failed.
    #[error("registering a socket for readiness failed with errno {errno}")]
    Poll {
        /// The raw errno value.
        errno: i32,
    },
    /// The pair to close is not open on this backend (local misuse).
    #[error("port {port} is not open")]
    NotOpen {
        /// The RTP port of the pair.
        port: u16,
    },
}

/// A backend configuration cannot work.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A port range must start on an even port and hold at least one RTP/RTCP pair.
    #[error("port range {min}..={max} must start on an even port and hold at least one pair")]
    PortRange {
        /// First port.
        min: u16,
        /// Last port.
        max: u16,
    },
    /// A range cannot be split into that many parts (each part needs one pair).
    #[error("port range of {pairs} pairs cannot give part {index} of {parts}")]
    PortRangeSplit {
        /// Pairs in the range.
        pairs: usize,
        /// Requested number of parts.
        parts: usize,
        /// Requested part.
        index: usize,
    },
    /// A probability outside `0.0..=1.0` (or not finite).
    #[error("{name} = {value} is not a probability in 0..=1")]
    Probability {
        /// Name of the setting.
        name: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A queue or buffer capacity of zero or below the backend's minimum.
    #[error("{name} = {value} is below the minimum of {min}")]
    Capacity {
        /// Name of the setting.
        name: &'static str,
        /// The rejected value.
        value: usize,
        /// The minimum.
        min: usize,
    },
    /// An in-memory endpoint needs a concrete address (not `0.0.0.0` or `::`).
    #[error("address {ip} is unspecified")]
    UnspecifiedAddress {
        /// The rejected address.
        ip: IpAddr,
    },
    /// Two in-memory endpoints would own the same address and port.
    #[error("{ip} ports {min}..={max} overlap another endpoint")]
    Overlap {
        /// The address.
        ip: IpAddr,
        /// First port of the rejected range.
        min: u16,
        /// Last port of the rejected range.
        max: u16,
    },
    /// Creating the readiness (epoll) instance failed.
    #[error("creating the readiness instance failed with errno {errno}")]
    Poll {
        /// The raw errno value.
        errno: i32,
    },
    /// The kernel refused io_uring or a feature the io_uring backend needs (old kernel,
    /// seccomp, `kernel.io_uring_disabled`): use the UDP backend.
    #[error("setting up io_uring failed with errno {errno}")]
    Uring {
        /// The raw errno value.
        errno: i32,
    },
}

/// A pcap file is malformed, or reading or writing it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// The file ends inside a header or a record.
    #[error("truncated at byte {offset}: {needed} more bytes needed")]
    Truncated {
        /// Where the incomplete structure starts.
        offset: usize,
        /// How many bytes are missing.
        needed: usize,
    },
    /// Not a classic libpcap file (pcapng and others are not read).
    #[error("magic number {magic:#010x} is not a libpcap magic")]
    Magic {
        /// The first four bytes, little-endian.
        magic: u32,
    },
    /// A libpcap version other than 2.x.
    #[error("libpcap version {major}.{minor} is not supported")]
    Version {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A record claims more bytes than any capture can hold.
    #[error("record at byte {offset} claims {len} bytes")]
    RecordLength {
        /// Where the record header starts.
        offset: usize,
        /// The claimed captured length.
        len: u32,
    },
    /// The underlying file could not be read or written.
    #[error("file I/O failed: {kind}")]
    Io {
        /// What kind of failure.
        kind: ErrorKind,
    },
}

impl From<std::io::Error> for PcapError {
    fn from(e: std::io::Error) -> Self {
        Self::Io { kind: e.kind() }
    }
}

/// One captured frame does not hold a complete, unfragmented UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame ends inside a header, or a length field points past its end.
    #[error("frame of {len} bytes is truncated")]
    Truncated {
        /// Frame length.
        len: usize,
    },
    /// The link type of the file is not one this reader decodes.
    #[error("link type {link_type} is not supported")]
    LinkType {
        /// The pcap `network` field.
        link_type: u32,
    },
    /// The link layer carries something other than IPv4 or IPv6.
    #[error("link layer protocol {protocol:#06x} is not IP")]
    NotIp {
        /// EtherType or address family.
        protocol: u32,
    },
    /// The IP packet carries something other than UDP.
    #[error("IP protocol {protocol} is not UDP")]
    NotUdp {
        /// IP protocol / IPv6 next header.
        protocol: u8,
    },
    /// An IP fragment: only whole datagrams are replayed.
    #[error("IP fragment")]
    Fragment,
    /// A header length field is inconsistent.
    #[error("inconsistent {field} length")]
    Length {
        /// Which length field.
        field: &'static str,
    },
}

impl FrameError {
    /// Stable label for counters of skipped frames.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "truncated",
            Self::LinkType { .. } => "link_type",
            Self::NotIp { .. } => "not_ip",
            Self::NotUdp { .. } => "not_udp",
            Self::Fragment => "fragment",
            Self::Length { .. } => "length",
        }
    }
}
