//! The UDP backend: kernel sockets, one per port, read with `recvmmsg` and written with
//! `sendmmsg` in batches, with epoll telling the worker which sockets are readable.
//!
//! One [`UdpIo`] per worker. It binds RTP/RTCP pairs on one address ([`UdpConfig::bind`]:
//! IPv4, IPv6, or `::` for a dual-stack socket that also serves IPv4 peers, reported as plain
//! IPv4 addresses) from the worker's own [`PortRange`] (split the deployment's range with
//! [`PortRange::split`]). Every socket is non-blocking and registered, edge-triggered, in
//! the backend's epoll instance with its [`SocketId`] as the event data.
//!
//! # Per call
//!
//! - `recv_batch`: one `epoll_wait` with a zero timeout into a preallocated event array of
//!   [`MAX_READY_SOCKETS`]; the sockets it reports join the back of the backend's own queue
//!   of ready sockets (each socket at most once). Then sockets are taken from the front, at
//!   most [`MAX_READY_SOCKETS`] of them, with one `recvmmsg(MSG_DONTWAIT)` each for at most
//!   [`MAX_BATCH`] datagrams, until the caller's arrays are full. A socket that filled its
//!   batch may hold more and goes to the back of the queue; the others are drained. So every
//!   ready socket is served in turn and none starves, however hard one is flooded.
//!   `EAGAIN` is `Ok(0)`.
//!
//!   Edge-triggered because a level-triggered epoll polls every socket it reports twice: once
//!   to report it, and again at the next `epoll_wait`, to find it drained (about a seventh of
//!   a relaying worker's time on this machine, BENCHMARKS.md). Edge-triggered, the kernel
//!   reports a socket once per arrival, and the queue remembers what it has not drained.
//! - `send_batch`: packets are sent in order; each run of consecutive packets for one socket
//!   (cut at [`MAX_BATCH`]) is one `sendmmsg(MSG_DONTWAIT)`. A full send buffer drops the rest
//!   of the run; any other error drops the packet the kernel refused and the run goes on. At
//!   most one syscall per packet, and every packet is consumed.
//!
//! The worker gets the most out of batching when it orders its transmit array by socket.
//!
//! # Real-time
//!
//! `recv_batch` and `send_batch` allocate nothing: the `mmsghdr` arrays (nix's
//! [`MultiHeaders`], allocated once by `preallocate` as nix intends), the control-message
//! space for timestamps, the epoll event array and the destination address array are sized
//! at construction; the `iovec`s of each call live on the stack. nix's `recvmmsg` and
//! `sendmmsg` allocate nothing when given preallocated headers and no control messages to
//! encode; the only control message decoded is `SCM_TIMESTAMPNS`, which nix decodes without
//! allocating. `tests/steady-state-no-alloc.rs` checks all of this with a counting
//! allocator. `open_pair` / `close_pair` make syscalls (socket, setsockopt, bind, epoll_ctl).
//!
//! # Not `Send`
//!
//! nix's `MultiHeaders` holds raw pointers, so `UdpIo` cannot move between threads: build it
//! on the worker thread from a [`UdpConfig`] (which is `Send`). That also places its buffers
//! on the worker's NUMA node.
//!
//! # Caveats
//!
//! - nix keeps `msg_namelen` and `msg_controllen` as the kernel last wrote them. Every socket
//!   of one `UdpIo` has the same family, so the address length written for one datagram fits
//!   the next; and every datagram carries the same timestamp control message when timestamps
//!   are on. A datagram whose timestamp was cut off (`MSG_CTRUNC`) has `timestamp: None`.
//! - To learn how many datagrams `sendmmsg` accepted, nix's result iterator has to be walked;
//!   nix builds a source address for each entry from header space that a send never filled.
//!   The value is discarded; only the byte counts are used.

use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg,
    sendmmsg, setsockopt, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{ConfigError, IoError, PortError};
use crate::packet::{
    IoStats, MAX_BATCH, MAX_READY_SOCKETS, PACKET_BUF_BYTES, PacketBuf, PacketIo, PortAllocator,
    PortPair, PortRange, RecvMeta, SocketId, Timestamp, Transmit, canonical,
};

/// Most pairs `open_pair` tries when ports of the range are held by other processes.
pub const MAX_BIND_ATTEMPTS: usize = 32;

/// Largest UDP payload the kernel accepts (65535 − 8 − 20).
const MAX_UDP_PAYLOAD: usize = 65_507;

/// Configuration of one worker's [`UdpIo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpConfig {
    /// Address to bind every socket to. `::` makes dual-stack sockets.
    pub bind: IpAddr,
    /// This worker's ports.
    pub ports: PortRange,
    /// `SO_RCVBUF` for each socket; the system default when `None`.
    pub recv_buffer_bytes: Option<usize>,
    /// `SO_SNDBUF` for each socket; the system default when `None`.
    pub send_buffer_bytes: Option<usize>,
    /// DSCP code point for sent packets (46 = EF, RFC 4594's choice for telephony).
    pub dscp: Option<u8>,
    /// Ask the kernel for receive timestamps (`SO_TIMESTAMPNS`, time since the UNIX epoch)
    /// in [`RecvMeta::timestamp`].
    pub rx_timestamps: bool,
}

impl UdpConfig {
    /// Binds `bind`, ports from `ports`, system defaults for the rest, no timestamps.
    pub const fn new(bind: IpAddr, ports: PortRange) -> Self {
        Self {
            bind,
            ports,
            recv_buffer_bytes: None,
            send_buffer_bytes: None,
            dscp: None,
            rx_timestamps: false,
        }
    }
}

/// The sockets that may hold datagrams, in the order they are served (see the module docs):
/// each socket id at most once, so the queue never outgrows the capacity it is built with and
/// pushing never allocates.
#[derive(Debug)]
struct ReadyQueue {
    order: VecDeque<u32>,
    queued: Vec<bool>,
}

impl ReadyQueue {
    fn new(sockets: usize) -> Self {
        Self {
            order: VecDeque::with_capacity(sockets),
            queued: vec![false; sockets],
        }
    }

    /// Puts socket `index` at the back unless it is already queued (or out of range).
    fn push(&mut self, index: u32) {
        if let Some(queued) = self.queued.get_mut(index as usize) {
            if !*queued {
                *queued = true;
                self.order.push_back(index);
            }
        }
    }

    /// The socket at the front.
    fn pop(&mut self) -> Option<u32> {
        let index = self.order.pop_front()?;
        if let Some(queued) = self.queued.get_mut(index as usize) {
            *queued = false;
        }
        Some(index)
    }
}

#[derive(Debug)]
struct Slot {
    socket: Socket,
    local: SocketAddr,
}

/// Kernel UDP sockets with batched I/O; see the [module docs](self).
#[derive(Debug)]
pub struct UdpIo {
    config: UdpConfig,
    v6: bool,
    dual_stack: bool,
    ports: PortAllocator,
    slots: Vec<Option<Slot>>,
    epoll: Epoll,
    events: Vec<EpollEvent>,
    ready: ReadyQueue,
    rx_headers: MultiHeaders<SockaddrStorage>,
    tx_headers: MultiHeaders<SockaddrStorage>,
    tx_addrs: Vec<Option<SockaddrStorage>>,
    stats: IoStats,
}

impl UdpIo {
    /// Creates the epoll instance and preallocates every per-call array. Opens no socket.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Poll`] when the epoll instance cannot be created.
    pub fn new(config: UdpConfig) -> Result<Self, ConfigError> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| ConfigError::Poll { errno: e as i32 })?;
        let cmsg = config
            .rx_timestamps
            .then(|| nix::cmsg_space!(nix::sys::time::TimeSpec));
        let v6 = config.bind.is_ipv6();
        Ok(Self {
            v6,
            dual_stack: v6 && config.bind.is_unspecified(),
            ports: PortAllocator::new(config.ports),
            slots: (0..config.ports.ports()).map(|_| None).collect(),
            epoll,
            events: vec![EpollEvent::empty(); MAX_READY_SOCKETS],
            ready: ReadyQueue::new(config.ports.ports()),
            rx_headers: MultiHeaders::preallocate(MAX_BATCH, cmsg),
            tx_headers: MultiHeaders::preallocate(MAX_BATCH, None),
            tx_addrs: vec![None; MAX_BATCH],
            stats: IoStats::default(),
            config,
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &UdpConfig {
        &self.config
    }

    /// Pairs currently open.
    pub const fn pairs_open(&self) -> usize {
        self.ports.in_use()
    }

    fn bind_pair(&mut self, rtp_port: u16) -> Result<PortPair, PortError> {
        let range = self.config.ports;
        let rtp = open_socket(&self.config, rtp_port)?;
        let rtcp = open_socket(&self.config, rtp_port + 1)?;
        let (Some(rtp_id), Some(rtcp_id)) =
            (range.socket_id(rtp_port), range.socket_id(rtp_port + 1))
        else {
            return Err(PortError::NotOpen { port: rtp_port });
        };
        let poll_err = |e: Errno| PortError::Poll { errno: e as i32 };
        let event = |id: SocketId| {
            EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, id.get().into())
        };
        self.epoll.add(&rtp, event(rtp_id)).map_err(poll_err)?;
        if let Err(e) = self.epoll.add(&rtcp, event(rtcp_id)) {
            // Closing `rtp` on return removes it from the interest list as well; deleting
            // first keeps the list exact even if the descriptor were duplicated.
            let _ = self.epoll.delete(&rtp);
            return Err(poll_err(e));
        }
        for (id, socket, port) in [(rtp_id, rtp, rtp_port), (rtcp_id, rtcp, rtp_port + 1)] {
            self.slots[id.index()] = Some(Slot {
                socket,
                local: SocketAddr::new(self.config.bind, port),
            });
        }
        Ok(PortPair {
            rtp: rtp_id,
            rtcp: rtcp_id,
            rtp_port,
        })
    }

    /// The address to hand the kernel for `destination`, or `None` when this family of
    /// socket cannot reach it.
    fn sockaddr_for(
        v6: bool,
        dual_stack: bool,
        destination: SocketAddr,
    ) -> Option<SockaddrStorage> {
        match destination_for(v6, dual_stack, destination)? {
            SocketAddr::V4(a) => Some(a.into()),
            SocketAddr::V6(a) => Some(a.into()),
        }
    }
}

impl AsFd for UdpIo {
    /// The epoll descriptor: readable when any socket is. A worker that wants to sleep until
    /// traffic arrives can wait on it.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

/// Opens the next free even/odd pair of `range` on `backend`, shared by the kernel-socket
/// backends: `ports` is the backend's allocator and `bind` binds the pair's two sockets. A
/// pair held by another process is skipped (the allocator's cursor has moved on), up to
/// [`MAX_BIND_ATTEMPTS`] pairs; any other error is returned at once.
pub(crate) fn open_pair_with<B>(
    backend: &mut B,
    range: PortRange,
    ports: fn(&mut B) -> &mut PortAllocator,
    bind: fn(&mut B, u16) -> Result<PortPair, PortError>,
) -> Result<PortPair, PortError> {
    let exhausted = PortError::Exhausted {
        min: range.min(),
        max: range.max(),
    };
    let mut last = exhausted;
    for _ in 0..range.pairs().min(MAX_BIND_ATTEMPTS) {
        let Some(rtp_port) = ports(backend).allocate() else {
            return Err(exhausted);
        };
        match bind(backend, rtp_port) {
            Ok(pair) => return Ok(pair),
            Err(e @ PortError::Bind { .. }) => {
                ports(backend).release(rtp_port);
                last = e;
            }
            Err(e) => {
                ports(backend).release(rtp_port);
                return Err(e);
            }
        }
    }
    Err(last)
}

impl PacketIo for UdpIo {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        open_pair_with(self, self.config.ports, |io| &mut io.ports, Self::bind_pair)
    }

    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        let not_open = PortError::NotOpen {
            port: pair.rtp_port,
        };
        let range = self.config.ports;
        if range.socket_id(pair.rtp_port) != Some(pair.rtp)
            || range.socket_id(pair.rtcp_port()) != Some(pair.rtcp)
            || !self.ports.release(pair.rtp_port)
        {
            return Err(not_open);
        }
        for id in [pair.rtp, pair.rtcp] {
            if let Some(slot) = self.slots[id.index()].take() {
                // Closing the descriptor deregisters it too; an error here changes nothing.
                let _ = self.epoll.delete(&slot.socket);
            }
        }
        Ok(())
    }

    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        self.slots.get(socket.index())?.as_ref().map(|s| s.local)
    }

    fn socket_id_max(&self) -> usize {
        self.config.ports.ports()
    }

    fn recv_batch(
        &mut self,
        _now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        let cap = bufs.len().min(meta.len());
        if cap == 0 {
            return Ok(0);
        }
        let reported = match self.epoll.wait(&mut self.events, EpollTimeout::ZERO) {
            Ok(n) => n,
            Err(Errno::EINTR) => 0,
            Err(e) => return Err(IoError::Os { errno: e as i32 }),
        };
        for event in &self.events[..reported] {
            if let Ok(index) = u32::try_from(event.data()) {
                self.ready.push(index);
            }
        }
        let mut filled = 0;
        for _ in 0..MAX_READY_SOCKETS {
            if filled == cap {
                break;
            }
            let Some(index) = self.ready.pop() else {
                break;
            };
            // A pair closed while its sockets were queued leaves an empty slot: skipped.
            let Some(Some(slot)) = self.slots.get(index as usize) else {
                continue;
            };
            let want = (cap - filled).min(MAX_BATCH);
            let read = recv_socket(
                slot.socket.as_raw_fd(),
                &mut self.rx_headers,
                &mut bufs[filled..filled + want],
                &mut meta[filled..filled + want],
                Receiver {
                    socket: SocketId::new(index),
                    local: slot.local,
                    timestamps: self.config.rx_timestamps,
                },
                &mut self.stats,
            );
            filled += read.count;
            if !read.drained {
                // Perhaps more behind it: the kernel will not report it again until another
                // datagram arrives.
                self.ready.push(index);
            }
        }
        Ok(filled)
    }

    fn send_batch(&mut self, _now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        let Self {
            v6,
            dual_stack,
            slots,
            tx_headers,
            tx_addrs,
            stats,
            ..
        } = self;
        let mut sent = 0;
        let mut i = 0;
        while i < packets.len() {
            let first = &packets[i];
            let Some(Some(slot)) = slots.get(first.socket.index()) else {
                stats.drop_tx(
                    1,
                    IoError::UnknownSocket {
                        socket: first.socket.get(),
                    },
                );
                i += 1;
                continue;
            };
            let mut run = 0;
            for p in packets[i..].iter().take(MAX_BATCH) {
                if p.socket != first.socket {
                    break;
                }
                let Some(addr) = Self::sockaddr_for(*v6, *dual_stack, p.destination) else {
                    break;
                };
                tx_addrs[run] = Some(addr);
                run += 1;
            }
            if run == 0 {
                stats.drop_tx(
                    1,
                    IoError::AddressFamily {
                        socket: first.socket.get(),
                    },
                );
                i += 1;
                continue;
            }
            let iovs: [[IoSlice<'_>; 1]; MAX_BATCH] = std::array::from_fn(|k| {
                [IoSlice::new(if k < run {
                    packets[i + k].payload
                } else {
                    &[]
                })]
            });
            let no_cmsgs: [ControlMessage<'_>; 0] = [];
            match sendmmsg(
                slot.socket.as_raw_fd(),
                tx_headers,
                &iovs[..run],
                &tx_addrs[..run],
                no_cmsgs,
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(results) => {
                    let accepted = results.count().min(run);
                    for p in &packets[i..i + accepted] {
                        stats.count_tx(p.payload.len());
                    }
                    sent += accepted;
                    i += accepted;
                    if accepted == 0 {
                        // Not reported by Linux (an error would be); keep the loop bounded.
                        stats.drop_tx(1, IoError::Os { errno: 0 });
                        i += 1;
                    }
                }
                Err(Errno::EAGAIN) => {
                    stats.drop_tx(
                        run,
                        IoError::SendBufferFull {
                            socket: first.socket.get(),
                        },
                    );
                    i += run;
                }
                Err(Errno::EMSGSIZE) => {
                    stats.drop_tx(
                        1,
                        IoError::Oversize {
                            len: first.payload.len(),
                            max: MAX_UDP_PAYLOAD,
                        },
                    );
                    i += 1;
                }
                Err(e) => {
                    stats.drop_tx(1, IoError::Os { errno: e as i32 });
                    i += 1;
                }
            }
        }
        Ok(sent)
    }

    fn stats(&self) -> IoStats {
        self.stats
    }
}

/// Opens one non-blocking UDP socket configured as `config` says and binds it to `port`.
/// Shared with the io_uring backend, whose sockets are the same ordinary sockets.
pub(crate) fn open_socket(config: &UdpConfig, port: u16) -> Result<Socket, PortError> {
    let sock_err = |e: std::io::Error| PortError::Socket {
        errno: e.raw_os_error().unwrap_or(0),
    };
    let v6 = config.bind.is_ipv6();
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(sock_err)?;
    if v6 {
        socket
            .set_only_v6(!config.bind.is_unspecified())
            .map_err(sock_err)?;
    }
    socket.set_nonblocking(true).map_err(sock_err)?;
    if let Some(bytes) = config.recv_buffer_bytes {
        socket.set_recv_buffer_size(bytes).map_err(sock_err)?;
    }
    if let Some(bytes) = config.send_buffer_bytes {
        socket.set_send_buffer_size(bytes).map_err(sock_err)?;
    }
    if let Some(dscp) = config.dscp {
        let tos = u32::from(dscp) << 2;
        if v6 {
            socket.set_tclass_v6(tos).map_err(sock_err)?;
        } else {
            socket.set_tos_v4(tos).map_err(sock_err)?;
        }
    }
    if config.rx_timestamps {
        setsockopt(&socket, sockopt::ReceiveTimestampns, &true)
            .map_err(|e| PortError::Socket { errno: e as i32 })?;
    }
    socket
        .bind(&SocketAddr::new(config.bind, port).into())
        .map_err(|e| PortError::Bind {
            port,
            errno: e.raw_os_error().unwrap_or(0),
        })?;
    Ok(socket)
}

/// Where a socket of this family sends a datagram for `destination`: IPv4-mapped IPv6 for
/// IPv4 peers of a dual-stack socket; `None` when the family cannot reach it.
pub(crate) fn destination_for(
    v6: bool,
    dual_stack: bool,
    destination: SocketAddr,
) -> Option<SocketAddr> {
    match (v6, canonical(destination)) {
        (false, a @ SocketAddr::V4(_)) | (true, a @ SocketAddr::V6(_)) => Some(a),
        (true, SocketAddr::V4(a)) if dual_stack => Some(SocketAddr::V6(SocketAddrV6::new(
            a.ip().to_ipv6_mapped(),
            a.port(),
            0,
            0,
        ))),
        _ => None,
    }
}

/// Which socket a `recvmmsg` reads, and what to stamp on its datagrams.
struct Receiver {
    socket: SocketId,
    local: SocketAddr,
    timestamps: bool,
}

/// What one `recvmmsg` on a socket gave.
struct Read {
    /// Datagrams written.
    count: usize,
    /// The socket is known to be empty: fewer datagrams than asked for, or `EAGAIN`. After a
    /// full batch, an interrupted call or an error, it may still hold some.
    drained: bool,
}

/// One `recvmmsg` on `fd` into `bufs` / `meta` (at most [`MAX_BATCH`]). Errors other than
/// `EAGAIN` / `EINTR` are counted.
fn recv_socket(
    fd: RawFd,
    headers: &mut MultiHeaders<SockaddrStorage>,
    bufs: &mut [PacketBuf],
    meta: &mut [RecvMeta],
    receiver: Receiver,
    stats: &mut IoStats,
) -> Read {
    let n = bufs.len().min(meta.len()).min(MAX_BATCH);
    let mut rest = bufs.iter_mut();
    let mut iovs: [[IoSliceMut<'_>; 1]; MAX_BATCH] = std::array::from_fn(|_| {
        [IoSliceMut::new(
            rest.next().map_or(&mut [][..], |b| &mut b.bytes_mut()[..]),
        )]
    });
    match recvmmsg(
        fd,
        headers,
        iovs[..n].iter_mut(),
        MsgFlags::MSG_DONTWAIT,
        None,
    ) {
        Ok(messages) => {
            let mut count = 0;
            for (m, msg) in meta.iter_mut().zip(messages) {
                let len = msg.bytes.min(PACKET_BUF_BYTES);
                let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
                let timestamp = if receiver.timestamps && !msg.flags.contains(MsgFlags::MSG_CTRUNC)
                {
                    msg.cmsgs().ok().and_then(|mut cmsgs| {
                        cmsgs.find_map(|c| match c {
                            ControlMessageOwned::ScmTimestampns(t) => {
                                let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
                                let nanos = u64::try_from(t.tv_nsec()).unwrap_or(0);
                                Some(Timestamp::from_nanos(
                                    secs.saturating_mul(1_000_000_000).saturating_add(nanos),
                                ))
                            }
                            _ => None,
                        })
                    })
                } else {
                    None
                };
                *m = RecvMeta {
                    len,
                    source: msg
                        .address
                        .as_ref()
                        .and_then(to_socket_addr)
                        .unwrap_or(RecvMeta::EMPTY.source),
                    destination: receiver.local,
                    socket: receiver.socket,
                    timestamp,
                    truncated,
                };
                stats.count_rx(len, truncated);
                count += 1;
            }
            Read {
                count,
                drained: count < n,
            }
        }
        Err(Errno::EAGAIN) => Read {
            count: 0,
            drained: true,
        },
        Err(Errno::EINTR) => Read {
            count: 0,
            drained: false,
        },
        Err(e) => {
            stats.rx_errors += 1;
            stats.last_error = Some(IoError::Os { errno: e as i32 });
            Read {
                count: 0,
                drained: false,
            }
        }
    }
}

fn to_socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(a) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*a).into()));
    }
    addr.as_sockaddr_in6()
        .map(|a| canonical(SocketAddr::V6((*a).into())))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(min: u16, max: u16) -> UdpIo {
        UdpIo::new(UdpConfig::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            PortRange::new(min, max).unwrap(),
        ))
        .unwrap()
    }

    #[test]
    fn recv_on_idle_sockets_returns_zero_without_blocking() {
        let mut io = v4(31000, 31009);
        let _pair = io.open_pair().unwrap();
        let mut bufs = PacketBuf::new_vec(4);
        let mut meta = RecvMeta::new_vec(4);
        for _ in 0..3 {
            assert_eq!(io.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta), Ok(0));
        }
    }

    #[test]
    fn pairs_are_even_odd_and_closing_frees_them() {
        let mut io = v4(31010, 31013);
        let a = io.open_pair().unwrap();
        let b = io.open_pair().unwrap();
        assert_eq!((a.rtp_port, a.rtcp_port()), (31010, 31011));
        assert_eq!((b.rtp_port, b.rtcp_port()), (31012, 31013));
        assert_eq!(
            io.open_pair(),
            Err(PortError::Exhausted {
                min: 31010,
                max: 31013
            })
        );
        assert_eq!(
            io.local_addr(a.rtcp),
            Some("127.0.0.1:31011".parse().unwrap())
        );
        io.close_pair(a).unwrap();
        assert_eq!(io.close_pair(a), Err(PortError::NotOpen { port: 31010 }));
        assert_eq!(io.local_addr(a.rtp), None);
        let c = io.open_pair().unwrap();
        assert_eq!(c.rtp_port, 31010, "the freed pair is the only one left");
    }

    #[test]
    fn skips_pairs_held_by_other_processes() {
        let squatter = std::net::UdpSocket::bind("127.0.0.1:31021").unwrap();
        let mut io = v4(31020, 31025);
        let pair = io.open_pair().unwrap();
        assert_eq!(pair.rtp_port, 31022);
        drop(squatter);
    }

    #[test]
    fn send_drops_packets_for_unknown_sockets_and_foreign_families() {
        let mut io = v4(31030, 31031);
        let pair = io.open_pair().unwrap();
        let v6_dest = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9);
        let packets = [
            Transmit {
                socket: SocketId::new(7),
                destination: "127.0.0.1:9".parse().unwrap(),
                payload: b"x",
            },
            Transmit {
                socket: pair.rtp,
                destination: v6_dest,
                payload: b"y",
            },
        ];
        assert_eq!(io.send_batch(Timestamp::ZERO, &packets), Ok(0));
        let stats = io.stats();
        assert_eq!(stats.tx_dropped, 2);
        assert_eq!(
            stats.last_error,
            Some(IoError::AddressFamily {
                socket: pair.rtp.get()
            })
        );
    }
}
