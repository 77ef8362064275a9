//! The batch packet I/O trait beneath the media workers, and its backends.
//!
//! A worker owns one [`PacketIo`] backend and, through it, many sockets: one RTP/RTCP
//! [`PortPair`] per leg. Once per tick it drains received datagrams with
//! [`PacketIo::recv_batch`] and hands its output to [`PacketIo::send_batch`]. The shape is
//! quinn-udp's: the caller owns the buffers ([`PacketBuf`]) and a parallel metadata array
//! ([`RecvMeta`]); the backend fills both and returns a count.
//!
//! Backends, one file each: [`udp`] (kernel sockets, `recvmmsg`/`sendmmsg`, epoll),
//! [`uring`] (the same sockets, every one carried by one io_uring per worker),
//! [`loopback`] (an in-memory network for tests of the runtime), [`pcap`] (a capture wrapper
//! over any backend, and a replay source) and [`fault`] (seeded loss, reordering, duplication
//! and delay over any backend). Rings (AF_PACKET, AF_XDP) and TDM spans plug in beneath the
//! same trait.
//!
//! # Contract
//!
//! - **Never blocks.** A backend with nothing to deliver returns `Ok(0)`.
//! - **Bounded work per call**: at most `min(bufs.len(), meta.len())` packets are received and
//!   at most `packets.len()` sent; the UDP backend makes at most one readiness call and one
//!   `recvmmsg` per ready socket (at most [`MAX_READY_SOCKETS`] of them, each for at most
//!   [`MAX_BATCH`] datagrams) per `recv_batch`, and at most one `sendmmsg` per run of
//!   consecutive packets for the same socket (runs cut at [`MAX_BATCH`]) per `send_batch`;
//!   the io_uring backend makes at most [`uring::MAX_RECV_ENTERS`] `io_uring_enter` calls per
//!   `recv_batch` and one per `flush` (plus one per [`uring::SQ_ENTRIES`] packets queued).
//! - **Per-packet failures are counted, not returned**: a packet that cannot be sent (full
//!   send buffer, unreachable family, unknown socket) is dropped and counted in
//!   [`PacketIo::stats`] with its [`IoError`]. `Err` from a batch call means the backend as a
//!   whole failed.
//! - **Time is an argument.** `now` is the caller's clock, in any epoch it chooses; wrappers
//!   that delay or timestamp packets use it and never read a clock. Backends that learn a
//!   real arrival time (kernel timestamps, capture files) report it in [`RecvMeta::timestamp`].
//! - **Socket ids are dense**: every [`SocketId`] a backend hands out is below
//!   [`PacketIo::socket_id_max`], so the caller can demultiplex through a preallocated array.
//!
//! # Real-time
//!
//! `recv_batch` and `send_batch` allocate nothing in every backend of this module (proven by
//! `tests/steady-state-no-alloc.rs`). `open_pair` / `close_pair` make syscalls (socket, bind,
//! epoll_ctl) and belong to session setup, not to the tick.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use crate::error::{IoError, PortError};

pub mod fault;
pub mod kernel;
pub mod loopback;
pub mod pcap;
pub mod port_range;
pub mod udp;
pub mod uring;

pub use port_range::{PortAllocator, PortRange};

/// Most datagrams moved by one `recvmmsg` / `sendmmsg` call (quinn-udp uses 32 on Linux too).
/// Also the recommended length of the caller's buffer arrays.
pub const MAX_BATCH: usize = 32;

/// Most ready sockets one `recv_batch` of the UDP backend visits. Sockets still readable
/// afterwards are served by the next call (the backend keeps them in a queue in the order
/// they became ready, so no socket starves).
pub const MAX_READY_SOCKETS: usize = 64;

/// Bytes in one [`PacketBuf`]: an Ethernet-MTU datagram (1472 bytes of UDP payload over
/// IPv4) with room to spare. Longer datagrams are truncated and flagged.
pub const PACKET_BUF_BYTES: usize = 2048;

/// A caller-owned receive buffer for one datagram.
#[derive(Clone)]
pub struct PacketBuf {
    bytes: [u8; PACKET_BUF_BYTES],
}

impl PacketBuf {
    /// A zeroed buffer.
    pub const fn new() -> Self {
        Self {
            bytes: [0; PACKET_BUF_BYTES],
        }
    }

    /// `count` zeroed buffers, for a worker's receive array. Allocates.
    pub fn new_vec(count: usize) -> Vec<Self> {
        vec![Self::new(); count]
    }

    /// The whole buffer.
    pub fn bytes(&self) -> &[u8; PACKET_BUF_BYTES] {
        &self.bytes
    }

    /// The whole buffer, for a backend to fill.
    pub fn bytes_mut(&mut self) -> &mut [u8; PACKET_BUF_BYTES] {
        &mut self.bytes
    }

    /// The first `len` bytes (the datagram described by a [`RecvMeta`]); `len` is clamped to
    /// the buffer.
    pub fn payload(&self, len: usize) -> &[u8] {
        &self.bytes[..len.min(PACKET_BUF_BYTES)]
    }
}

impl Default for PacketBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketBuf").finish_non_exhaustive()
    }
}

/// Identifies one socket (one local port) of a backend. Dense: below
/// [`PacketIo::socket_id_max`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(u32);

impl SocketId {
    /// Wraps an index (for backends).
    pub const fn new(index: u32) -> Self {
        Self(index)
    }

    /// The index, for the caller's demultiplexing array.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The raw value, as carried by errors.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// An RTP socket on an even port and its RTCP socket on the next (odd) port (RFC 3550 §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortPair {
    /// The RTP socket.
    pub rtp: SocketId,
    /// The RTCP socket.
    pub rtcp: SocketId,
    /// The RTP port (even); RTCP is on `rtp_port + 1`.
    pub rtp_port: u16,
}

impl PortPair {
    /// The RTCP port (wrapping, so a forged pair cannot make this panic).
    pub const fn rtcp_port(&self) -> u16 {
        self.rtp_port.wrapping_add(1)
    }
}

/// A point in time on the caller's clock, in nanoseconds since an epoch the caller chooses.
///
/// Backends never read a clock: `now` is passed in. The pcap writer interprets timestamps as
/// time since the UNIX epoch (so pass wall-clock-based time for captures with real dates);
/// kernel receive timestamps of the UDP backend are since the UNIX epoch too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch.
    pub const ZERO: Self = Self(0);

    /// From nanoseconds.
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    /// From microseconds (saturating).
    pub const fn from_micros(micros: u64) -> Self {
        Self(micros.saturating_mul(1_000))
    }

    /// From milliseconds (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Self(millis.saturating_mul(1_000_000))
    }

    /// Time since the UNIX epoch of a wall-clock reading the caller made (saturating;
    /// times before 1970 map to zero). Pure conversion: reads no clock.
    pub fn from_system_time(time: SystemTime) -> Self {
        time.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(Self::ZERO, |d| {
                Self(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            })
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// What a backend knows about one received datagram; parallel to the caller's
/// [`PacketBuf`] array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Bytes of the datagram held in the buffer.
    pub len: usize,
    /// The peer that sent it.
    pub source: SocketAddr,
    /// The local address of the socket it arrived on (IPv4 peers of a dual-stack socket are
    /// reported as IPv4, the socket's own address as bound).
    pub destination: SocketAddr,
    /// The socket it arrived on.
    pub socket: SocketId,
    /// Arrival time, when the backend knows it (see [`Timestamp`]).
    pub timestamp: Option<Timestamp>,
    /// The datagram was longer than [`PACKET_BUF_BYTES`] and was cut: drop it and count.
    pub truncated: bool,
}

impl RecvMeta {
    /// A placeholder, for preallocating metadata arrays.
    pub const EMPTY: Self = Self {
        len: 0,
        source: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        destination: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        socket: SocketId(0),
        timestamp: None,
        truncated: false,
    };

    /// `count` placeholders. Allocates.
    pub fn new_vec(count: usize) -> Vec<Self> {
        vec![Self::EMPTY; count]
    }
}

impl Default for RecvMeta {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// One datagram to send: metadata plus borrowed bytes (quinn's `Transmit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The local socket to send from (its port is the source port).
    pub socket: SocketId,
    /// Where to.
    pub destination: SocketAddr,
    /// The UDP payload.
    pub payload: &'a [u8],
}

/// Counters kept by every backend. Plain integers: the worker copies them to its metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IoStats {
    /// Datagrams delivered to the caller.
    pub rx_packets: u64,
    /// Bytes delivered to the caller.
    pub rx_bytes: u64,
    /// Datagrams delivered with `truncated` set.
    pub rx_truncated: u64,
    /// Datagrams the backend dropped before delivery (replay: no open socket).
    pub rx_dropped: u64,
    /// Receive calls that failed on one socket (the other sockets were still served).
    pub rx_errors: u64,
    /// Receives the io_uring backend stopped because its buffer pool was empty (`ENOBUFS`);
    /// the datagrams waited in their sockets and the receives were armed again.
    pub rx_no_buffers: u64,
    /// Datagrams handed to the network.
    pub tx_packets: u64,
    /// Bytes handed to the network.
    pub tx_bytes: u64,
    /// Datagrams dropped instead of sent; the reason of the last one is in `last_error`.
    pub tx_dropped: u64,
    /// The most recent per-packet or per-socket error.
    pub last_error: Option<IoError>,
}

impl IoStats {
    pub(crate) fn count_rx(&mut self, len: usize, truncated: bool) {
        self.rx_packets += 1;
        self.rx_bytes += len as u64;
        self.rx_truncated += u64::from(truncated);
    }

    pub(crate) fn count_tx(&mut self, len: usize) {
        self.tx_packets += 1;
        self.tx_bytes += len as u64;
    }

    pub(crate) fn drop_tx(&mut self, packets: usize, error: IoError) {
        self.tx_dropped += packets as u64;
        self.last_error = Some(error);
    }
}

/// Batch packet I/O beneath a media worker.
///
/// The worker calls [`recv_batch`](Self::recv_batch) and [`send_batch`](Self::send_batch)
/// once (or a bounded number of times) per tick, and [`open_pair`](Self::open_pair) /
/// [`close_pair`](Self::close_pair) when sessions come and go.
///
/// # For implementors
///
/// - Never block, never allocate in `recv_batch` / `send_batch`; preallocate at construction.
/// - Fill `bufs[i]` and `meta[i]` for `i < n` only, with `n <= min(bufs.len(), meta.len())`,
///   and return `n`. Deliver datagrams of one socket in arrival order.
/// - Consume every packet handed to `send_batch`: send it, or drop it and count it in
///   [`stats`](Self::stats) with the reason. Return how many were sent.
/// - Hand out [`SocketId`]s below [`socket_id_max`](Self::socket_id_max).
/// - Read no clock: use `now`.
pub trait PacketIo {
    /// Opens an RTP/RTCP pair of sockets on the next free even/odd ports of the backend's
    /// range. Makes syscalls; call at session setup.
    ///
    /// # Errors
    ///
    /// [`PortError::Exhausted`] when every pair is in use; other variants when the system
    /// refuses the sockets.
    fn open_pair(&mut self) -> Result<PortPair, PortError>;

    /// Closes a pair opened by [`open_pair`](Self::open_pair). Datagrams already queued for
    /// it are discarded.
    ///
    /// # Errors
    ///
    /// [`PortError::NotOpen`] when the pair is not open here.
    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError>;

    /// The local address of an open socket.
    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr>;

    /// Bound on every [`SocketId::index`] this backend hands out.
    fn socket_id_max(&self) -> usize;

    /// Receives up to `min(bufs.len(), meta.len())` datagrams from any open socket, without
    /// blocking. Returns how many were written. Does not allocate.
    ///
    /// # Errors
    ///
    /// Only when the backend as a whole failed (e.g. its readiness descriptor); per-socket
    /// errors are counted in [`stats`](Self::stats).
    fn recv_batch(
        &mut self,
        now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError>;

    /// Sends the packets in order, without blocking. Returns how many were handed to the
    /// network; the others were dropped and counted. Does not allocate.
    ///
    /// # Errors
    ///
    /// Only when the backend as a whole failed.
    fn send_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError>;

    /// Like [`send_batch`](Self::send_batch), but a backend with a submission queue (io_uring)
    /// may keep the packets queued until [`flush`](Self::flush), so a tick's output goes to
    /// the kernel in one system call. Returns how many were queued (or sent); the others were
    /// dropped and counted. The default sends at once. Does not allocate.
    ///
    /// # Errors
    ///
    /// Only when the backend as a whole failed.
    fn queue_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        self.send_batch(now, packets)
    }

    /// Hands every packet queued by [`queue_batch`](Self::queue_batch) to the kernel. A
    /// no-op for backends that send at once. Does not allocate.
    ///
    /// # Errors
    ///
    /// Only when the backend as a whole failed.
    fn flush(&mut self, _now: Timestamp) -> Result<(), IoError> {
        Ok(())
    }

    /// Counters since construction.
    fn stats(&self) -> IoStats;
}

impl<T: PacketIo + ?Sized> PacketIo for &mut T {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        (**self).open_pair()
    }
    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        (**self).close_pair(pair)
    }
    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        (**self).local_addr(socket)
    }
    fn socket_id_max(&self) -> usize {
        (**self).socket_id_max()
    }
    fn recv_batch(
        &mut self,
        now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        (**self).recv_batch(now, bufs, meta)
    }
    fn send_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        (**self).send_batch(now, packets)
    }
    fn queue_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        (**self).queue_batch(now, packets)
    }
    fn flush(&mut self, now: Timestamp) -> Result<(), IoError> {
        (**self).flush(now)
    }
    fn stats(&self) -> IoStats {
        (**self).stats()
    }
}

impl<T: PacketIo + ?Sized> PacketIo for Box<T> {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        (**self).open_pair()
    }
    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        (**self).close_pair(pair)
    }
    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        (**self).local_addr(socket)
    }
    fn socket_id_max(&self) -> usize {
        (**self).socket_id_max()
    }
    fn recv_batch(
        &mut self,
        now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        (**self).recv_batch(now, bufs, meta)
    }
    fn send_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        (**self).send_batch(now, packets)
    }
    fn queue_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        (**self).queue_batch(now, packets)
    }
    fn flush(&mut self, now: Timestamp) -> Result<(), IoError> {
        (**self).flush(now)
    }
    fn stats(&self) -> IoStats {
        (**self).stats()
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports for IPv4
/// peers) as plain IPv4; everything else unchanged.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}
