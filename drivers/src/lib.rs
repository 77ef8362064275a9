//! Tandem's drivers: the packet I/O backends beneath the media workers (and, later, the
//! telephony card drivers).
//!
//! [`packet::PacketIo`] is the one batch trait every backend implements, shaped like
//! quinn-udp's receive path: the caller owns the buffers and a parallel metadata array, the
//! backend fills both and returns a count. A worker owns one backend and, through it, one
//! RTP/RTCP socket pair per leg.
//!
//! | backend | what it is |
//! |---|---|
//! | [`packet::udp::UdpIo`] | kernel UDP sockets, `recvmmsg`/`sendmmsg` batches, epoll readiness; IPv4, IPv6, dual-stack |
//! | [`packet::uring::UringIo`] | the same sockets, all carried by one io_uring per worker: multishot receives into a provided-buffer pool, sends from a slab, a few `io_uring_enter` per tick |
//! | [`packet::kernel::KernelIo`] | `udp` or `uring` as configured, falling back to `udp` where io_uring is refused |
//! | [`packet::loopback::Loopback`] | an in-memory network, to test the runtime without sockets |
//! | [`packet::pcap::Capture`] | records every packet of any backend into a libpcap file |
//! | [`packet::pcap::PcapReplay`] | plays the UDP datagrams of a capture file back |
//! | [`packet::fault::Faulty`] | seeded loss, bursts, reordering, duplication and delay over any backend |
//!
//! # The run loop
//!
//! ```no_run
//! use std::net::{IpAddr, Ipv4Addr};
//! use tandem_drivers::packet::udp::{UdpConfig, UdpIo};
//! use tandem_drivers::packet::{
//!     MAX_BATCH, PacketBuf, PacketIo, PortRange, RecvMeta, Timestamp, Transmit,
//! };
//!
//! // On the worker thread (UdpIo is not Send): this worker's share of the range.
//! let ports = PortRange::DEFAULT.split(4, 0)?;
//! let mut io = UdpIo::new(UdpConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), ports))?;
//! let leg = io.open_pair()?;
//! let mut bufs = PacketBuf::new_vec(MAX_BATCH);
//! let mut meta = RecvMeta::new_vec(MAX_BATCH);
//! for tick in 0..3u64 {
//!     let now = Timestamp::from_millis(10 * tick);
//!     let n = io.recv_batch(now, &mut bufs, &mut meta)?;
//!     // Echo every datagram back to its sender, from the socket it arrived on.
//!     let mut out = [Transmit { socket: leg.rtp, destination: meta[0].source, payload: &[] }; MAX_BATCH];
//!     for i in 0..n {
//!         out[i] = Transmit {
//!             socket: meta[i].socket,
//!             destination: meta[i].source,
//!             payload: bufs[i].payload(meta[i].len),
//!         };
//!     }
//!     io.send_batch(now, &out[..n])?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Real-time
//!
//! - Constructors and `open_pair` / `close_pair` allocate and make syscalls: session setup,
//!   never the tick.
//! - `recv_batch` / `send_batch` of every backend allocate nothing and never block; the UDP
//!   backend makes one `epoll_wait` plus one `recvmmsg` per ready socket, and one `sendmmsg`
//!   per run of packets for one socket; the io_uring backend one `io_uring_enter` to receive
//!   (none when idle) and one per `flush` to send. Work per call is bounded by the caller's arrays and
//!   [`packet::MAX_BATCH`] / [`packet::MAX_READY_SOCKETS`].
//! - [`packet::pcap::Capture`] adds one `write` per half buffer (512 KiB by default), on the
//!   worker thread; [`packet::loopback`] takes an uncontended mutex per batch (a test
//!   backend).
//!
//! `unsafe` code lives in one file, [`packet::uring`] (the kernel reads and writes memory we
//! own while io_uring requests are in flight; each block says why it is sound); everything
//! else reaches the kernel through `nix` and `socket2`.

pub mod error;
pub mod packet;

pub use error::{ConfigError, FrameError, IoError, PcapError, PortError};
