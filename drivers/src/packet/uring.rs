//! The io_uring backend: the same kernel UDP sockets as [`udp`](super::udp), but one
//! io_uring per worker carries every socket, so the per-socket system calls of the UDP
//! backend (an epoll readiness scan, then one `recvmmsg` and one `sendmmsg` per socket, each
//! usually moving one packet because every leg has its own socket) become a few
//! `io_uring_enter` calls per tick for the whole worker.
//!
//! # How it works
//!
//! - **Receiving**: every socket gets one multishot `RECVMSG` at `open_pair`. The kernel
//!   picks a buffer from the worker's provided-buffer ring for each datagram (one pool per
//!   worker, [`UringConfig::recv_buffers`] buffers of header + source address + control +
//!   [`PACKET_BUF_BYTES`]) and posts one completion per datagram. `recv_batch` drains the
//!   completion queue into the caller's arrays, copying each payload and handing its buffer
//!   straight back to the ring; a multishot that ended (`ENOBUFS` when the pool ran dry,
//!   counted in [`IoStats::rx_no_buffers`], or any error) is armed again.
//! - **Sending**: each packet is copied into a slot of a preallocated send slab
//!   ([`UringConfig::send_slots`] slots of [`PACKET_BUF_BYTES`] with the destination address)
//!   and queued as a `SEND` (with a destination address, `MSG_DONTWAIT`: a full socket buffer
//!   drops the packet as the UDP backend does, never delays it). [`PacketIo::queue_batch`]
//!   only queues; [`PacketIo::flush`] submits everything queued with one `io_uring_enter`
//!   (the worker flushes once per tick); [`PacketIo::send_batch`] is queue + flush. The slot
//!   returns to the slab when its completion is reaped.
//! - **Registered files**: sockets sit in the ring's fixed-file table at their
//!   [`SocketId`], so no operation looks a descriptor up.
//! - **Task work is deferred** (`IORING_SETUP_DEFER_TASKRUN` + `SINGLE_ISSUER`): receives are
//!   completed in the worker's own `io_uring_enter`, in batches, never by interrupting it.
//!   `recv_batch` enters the kernel only when the completion queue cannot fill the caller's
//!   arrays, and never waits in it.
//!
//! # Per call
//!
//! - `recv_batch`: at most [`MAX_RECV_ENTERS`] `io_uring_enter` calls (each runs up to 20
//!   sockets' receive work; the loop stops as soon as the arrays are full or an enter
//!   brought nothing), at most `min(bufs.len(), meta.len())` datagrams. Completions left in
//!   the queue are delivered by the next call, in order; datagrams of one socket arrive in
//!   order.
//! - `send_batch` / `flush`: one `io_uring_enter`, plus one per [`SQ_ENTRIES`] packets.
//!   Payloads longer than [`PACKET_BUF_BYTES`] (never RTP) go out at once with a plain
//!   `sendto` after the queue was submitted, so order is kept.
//! - Completions of sends are reaped by `recv_batch`; a backend that only sends reaps them
//!   when its slab runs out, parking receive completions it meets on the way in a
//!   preallocated stash (delivered first by the next `recv_batch`).
//!
//! # Statistics
//!
//! `tx_packets` counts datagrams handed to the ring; one the kernel then refuses (full socket
//! buffer...) is taken out of `tx_packets` and counted in `tx_dropped` when its completion
//! is reaped. Datagrams that were already received for a pair when it was closed are
//! discarded and counted in `rx_dropped`.
//!
//! # Real-time
//!
//! `recv_batch`, `queue_batch`, `send_batch` and `flush` allocate nothing: the rings, the
//! buffer pool, the send slab, the stash and the re-arm list are sized in [`UringIo::new`]
//! (`tests/steady-state-no-alloc.rs`). `open_pair` / `close_pair` make system calls (socket,
//! bind, file-table update, a synchronous cancel).
//!
//! # Not `Send`, and the fallback
//!
//! The ring is created `SINGLE_ISSUER`: build the backend on the worker thread that uses it
//! (like [`UdpIo`](super::udp::UdpIo); the type is not `Send`). [`UringIo::new`] fails with
//! [`ConfigError::Uring`] where io_uring is missing or forbidden (old kernel, seccomp,
//! `io_uring_disabled`); callers fall back to the UDP backend, which behaves the same.
//!
//! # Safety
//!
//! The kernel reads and writes memory this type owns (the buffer ring, the receive buffers,
//! the send slab, the `msghdr` template) while requests are in flight. Those live in
//! allocations that never move, and `Drop` cancels every request synchronously and
//! unregisters the buffer ring before any of them is freed. Every `unsafe` block says which
//! of these facts it relies on.

#![allow(unsafe_code)]

use std::alloc::Layout;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::{BufRingEntry, CancelBuilder, Fixed};
use io_uring::{IoUring, cqueue, opcode};
use socket2::{SockAddr, Socket};

use crate::error::{ConfigError, IoError, PortError};
use crate::packet::udp::{UdpConfig, destination_for, open_pair_with, open_socket};
use crate::packet::{
    IoStats, PACKET_BUF_BYTES, PacketBuf, PacketIo, PortAllocator, PortPair, PortRange, RecvMeta,
    SocketId, Timestamp, Transmit,
};

/// Default number of receive buffers per worker (about 560 KiB). With deferred task work the
/// kernel fills pool buffers only inside the worker's own `io_uring_enter`, so the pool holds
/// one enter's datagrams plus the completions of a batch not yet reaped, never a tick's
/// arrivals; a full pool ends a multishot receive (`ENOBUFS`), which is armed again with the
/// datagrams still queued on the socket. Small is what matters: the pool is a ring, used
/// round-robin, and 4096 buffers (9 MiB) meant every datagram landed in a buffer evicted from
/// the L2 cache since its last use, which cost the relaying worker 11 % of its CPU
/// (BENCHMARKS.md, "Packet I/O").
pub const RECV_BUFFERS_DEFAULT: usize = 256;
/// Default number of send slots per worker: the worker's default transmit queue. About 9 MiB.
pub const SEND_SLOTS_DEFAULT: usize = 4096;
/// Most receive buffers one pool holds (the kernel's limit for a buffer ring).
pub const MAX_RECV_BUFFERS: usize = 32_768;
/// Most `io_uring_enter` calls one `recv_batch` makes. Each runs up to 20 sockets' worth of
/// the kernel's deferred receive work (`IO_LOCAL_TW_DEFAULT_MAX` in Linux 6.13+), so this
/// serves a caller's array of [`MAX_BATCH`](super::MAX_BATCH) datagrams from distinct
/// sockets with room to spare.
pub const MAX_RECV_ENTERS: usize = 8;
/// Entries of the submission queue: packets queued beyond this are submitted in chunks.
pub const SQ_ENTRIES: u32 = 1024;
/// Largest UDP payload the kernel accepts (65535 − 8 − 20).
const MAX_UDP_PAYLOAD: usize = 65_507;
/// Most completion-queue entries the kernel allows.
const MAX_CQ_ENTRIES: usize = 65_536;

/// The buffer group of the receive pool (one pool per ring).
const BUFFER_GROUP: u16 = 0;
/// `struct io_uring_recvmsg_out`: name length, control length, payload length, flags.
const RECVMSG_OUT_BYTES: usize = 16;
/// Room for the source address: a `sockaddr_in6` (a `sockaddr_in` fits too).
const NAME_BYTES: usize = size_of::<libc::sockaddr_in6>();
/// Room for one `SCM_TIMESTAMPNS` control message: `CMSG_SPACE(sizeof(struct timespec))`.
const TIMESTAMP_CONTROL_BYTES: usize = size_of::<libc::cmsghdr>() + size_of::<libc::timespec>();
/// Receive buffers start on cache-line boundaries.
const BUFFER_ALIGN: usize = 64;
/// The buffer ring must be page aligned.
const PAGE_BYTES: usize = 4096;

/// What a completion belongs to, in the top byte of its `user_data`.
const KIND_SHIFT: u32 = 56;
const KIND_RECV: u64 = 1;
const KIND_SEND: u64 = 2;
/// Generations of a socket id, in bits 32..56 of a receive's `user_data`.
const GENERATION_MASK: u32 = 0x00FF_FFFF;

/// Configuration of one worker's [`UringIo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringConfig {
    /// The sockets: address, port range, buffer sizes, DSCP, kernel receive timestamps
    /// (the same sockets the UDP backend opens).
    pub socket: UdpConfig,
    /// Receive buffers in the worker's pool: a power of two, at most [`MAX_RECV_BUFFERS`].
    pub recv_buffers: usize,
    /// Send slots: packets queued and not yet completed, at least 1.
    pub send_slots: usize,
}

impl UringConfig {
    /// Binds `bind`, ports from `ports`, default sizes.
    pub const fn new(bind: IpAddr, ports: PortRange) -> Self {
        Self::from_udp(UdpConfig::new(bind, ports))
    }

    /// The same sockets as a UDP backend configured with `socket`, default sizes.
    pub const fn from_udp(socket: UdpConfig) -> Self {
        Self {
            socket,
            recv_buffers: RECV_BUFFERS_DEFAULT,
            send_slots: SEND_SLOTS_DEFAULT,
        }
    }
}

/// Counters of the ring itself, for measurements and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UringStats {
    /// `io_uring_enter` calls made by `recv_batch`, `send_batch` and `flush`.
    pub enters: u64,
    /// Multishot receives armed again after they ended.
    pub rearms: u64,
    /// Receive completions parked while a send-only caller reclaimed slots.
    pub stashed: u64,
    /// Payloads longer than a slot, sent with a plain `sendto`.
    pub direct_sends: u64,
}

#[derive(Debug)]
struct Slot {
    socket: Socket,
    local: SocketAddr,
}

/// One completion copied out of the queue (the stash holds these).
#[derive(Debug, Clone, Copy)]
struct Completion {
    user_data: u64,
    result: i32,
    flags: u32,
}

/// io_uring packet I/O; see the [module docs](self).
pub struct UringIo {
    // Fields drop in declaration order: the ring first (after `Drop::drop` cancelled every
    // request), then the memory the kernel used.
    ring: IoUring,
    config: UringConfig,
    v6: bool,
    dual_stack: bool,
    ports: PortAllocator,
    slots: Vec<Option<Slot>>,
    /// Bumped at every close, so completions of a closed socket are recognised.
    generations: Vec<u32>,
    /// Sockets whose multishot receive ended and must be armed again.
    rearm: Vec<u32>,
    /// Receive completions parked by a send-side reclaim, delivered first.
    stash: VecDeque<Completion>,
    pool: RecvPool,
    /// The `msghdr` every multishot receive was armed with (only its name and control
    /// lengths matter); boxed so its address is stable.
    msghdr: Box<libc::msghdr>,
    control_bytes: usize,
    slab: SendSlab,
    stats: IoStats,
    uring: UringStats,
}

impl std::fmt::Debug for UringIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringIo")
            .field("config", &self.config)
            .field("pairs_open", &self.ports.in_use())
            .field("stats", &self.stats)
            .field("uring", &self.uring)
            .finish_non_exhaustive()
    }
}

impl UringIo {
    /// Creates the ring, registers a sparse file table of one entry per port and the receive
    /// buffer pool, and preallocates the send slab. Opens no socket.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Capacity`] for pool or slab sizes out of range; [`ConfigError::Uring`]
    /// when the kernel refuses io_uring or one of its features (fall back to UDP).
    pub fn new(config: UringConfig) -> Result<Self, ConfigError> {
        if !config.recv_buffers.is_power_of_two() || config.recv_buffers > MAX_RECV_BUFFERS {
            return Err(ConfigError::Capacity {
                name: "recv_buffers (a power of two up to 32768)",
                value: config.recv_buffers,
                min: 1,
            });
        }
        if config.send_slots == 0 {
            return Err(ConfigError::Capacity {
                name: "send_slots",
                value: 0,
                min: 1,
            });
        }
        let sockets = config.socket.ports.ports();
        let uring_err = |e: std::io::Error| ConfigError::Uring {
            errno: e.raw_os_error().unwrap_or(0),
        };
        // Every receive completion holds a buffer and every send one a slot; each socket can
        // add one final completion. Sized so the queue does not overflow in normal work.
        // The kernel wants at least as many as submission entries.
        let cq_entries = (config.recv_buffers + config.send_slots + sockets)
            .max(2 * SQ_ENTRIES as usize)
            .next_power_of_two()
            .min(MAX_CQ_ENTRIES);
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag()
            .setup_submit_all()
            .setup_cqsize(cq_entries as u32)
            .build(SQ_ENTRIES)
            .map_err(uring_err)?;
        ring.submitter()
            .register_files_sparse(sockets as u32)
            .map_err(uring_err)?;
        let control_bytes = if config.socket.rx_timestamps {
            TIMESTAMP_CONTROL_BYTES
        } else {
            0
        };
        let pool = RecvPool::new(
            config.recv_buffers,
            RECVMSG_OUT_BYTES + NAME_BYTES + control_bytes + PACKET_BUF_BYTES,
        )?;
        // SAFETY: the ring memory is page aligned, holds `entries` entries, and stays
        // allocated until `Drop` has unregistered it (the pool outlives the registration).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                pool.ring.as_ptr() as u64,
                pool.entries,
                BUFFER_GROUP,
                0,
            )
        }
        .map_err(uring_err)?;
        // SAFETY: `msghdr` is plain old data; all-zero is a valid value (null pointers, zero
        // lengths).
        let mut msghdr: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
        msghdr.msg_namelen = NAME_BYTES as libc::socklen_t;
        msghdr.msg_controllen = control_bytes as _;
        let v6 = config.socket.bind.is_ipv6();
        Ok(Self {
            ring,
            v6,
            dual_stack: v6 && config.socket.bind.is_unspecified(),
            ports: PortAllocator::new(config.socket.ports),
            slots: (0..sockets).map(|_| None).collect(),
            generations: vec![0; sockets],
            rearm: Vec::with_capacity(sockets),
            stash: VecDeque::with_capacity(config.recv_buffers + sockets),
            pool,
            msghdr,
            control_bytes,
            slab: SendSlab::new(config.send_slots),
            stats: IoStats::default(),
            uring: UringStats::default(),
            config,
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &UringConfig {
        &self.config
    }

    /// Pairs currently open.
    pub const fn pairs_open(&self) -> usize {
        self.ports.in_use()
    }

    /// Counters of the ring (system calls, re-arms...).
    pub const fn uring_stats(&self) -> UringStats {
        self.uring
    }

    fn recv_user_data(id: u32, generation: u32) -> u64 {
        (KIND_RECV << KIND_SHIFT) | (u64::from(generation & GENERATION_MASK) << 32) | u64::from(id)
    }

    /// Queues a multishot receive on socket `id`; false when the submission queue is full.
    fn push_arm(&mut self, id: u32) -> bool {
        let entry = opcode::RecvMsgMulti::new(Fixed(id), &raw const *self.msghdr, BUFFER_GROUP)
            .build()
            .user_data(Self::recv_user_data(id, self.generations[id as usize]));
        // SAFETY: the entry points at `self.msghdr`, boxed (stable address) and alive until
        // `Drop` has cancelled every request; buffers come from the registered pool.
        unsafe { self.ring.submission().push(&entry) }.is_ok()
    }

    /// Arms again every multishot receive that ended, submitting when the queue fills.
    fn arm_pending(&mut self) -> Result<(), IoError> {
        while let Some(&id) = self.rearm.last() {
            if !self.push_arm(id) {
                self.enter(false)?;
                if !self.push_arm(id) {
                    return Ok(());
                }
            }
            self.rearm.pop();
            self.uring.rearms += 1;
        }
        Ok(())
    }

    /// One `io_uring_enter`: submits what is queued and, with `get_events`, runs the
    /// deferred work that posts receive completions (the kernel runs at most 20 items of it
    /// per enter that does not wait, see [`MAX_RECV_ENTERS`]). Never waits.
    fn enter(&mut self, get_events: bool) -> Result<(), IoError> {
        self.uring.enters += 1;
        let to_submit = self.ring.submission().len() as u32;
        let flags = if get_events {
            io_uring::EnterFlags::GETEVENTS.bits()
        } else {
            0
        };
        // SAFETY: a plain enter with no argument structure; every queued entry points at
        // memory owned by `self` (see `push_arm` and `SendSlab::fill`).
        let result = unsafe {
            self.ring
                .submitter()
                .enter::<libc::sigset_t>(to_submit, 0, flags, None)
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.raw_os_error() {
                // Interrupted, or completions must be reaped first: the next call goes on.
                Some(libc::EINTR | libc::EAGAIN | libc::EBUSY) => Ok(()),
                errno => Err(IoError::Os {
                    errno: errno.unwrap_or(0),
                }),
            },
        }
    }

    /// Delivers completions (the stash first, then the queue) into `bufs` / `meta` from
    /// index `filled` until `cap`; returns the new fill. Send completions are retired on the
    /// way.
    fn reap(&mut self, bufs: &mut [PacketBuf], meta: &mut [RecvMeta], mut filled: usize) -> usize {
        let cap = bufs.len().min(meta.len());
        while filled < cap {
            let Some(c) = self.stash.pop_front() else {
                break;
            };
            filled += self.complete(c, &mut bufs[filled], &mut meta[filled]);
        }
        while filled < cap {
            let Some(entry) = self.ring.completion().next() else {
                break;
            };
            let c = Completion {
                user_data: entry.user_data(),
                result: entry.result(),
                flags: entry.flags(),
            };
            filled += self.complete(c, &mut bufs[filled], &mut meta[filled]);
        }
        self.pool.publish();
        filled
    }

    /// Handles one completion; returns 1 when it filled `buf` / `meta` with a datagram.
    fn complete(&mut self, c: Completion, buf: &mut PacketBuf, meta: &mut RecvMeta) -> usize {
        match c.user_data >> KIND_SHIFT {
            KIND_SEND => {
                self.slab
                    .complete(c.user_data as u32, c.result, &mut self.stats);
                0
            }
            KIND_RECV => self.complete_recv(c, buf, meta),
            _ => 0,
        }
    }

    fn complete_recv(&mut self, c: Completion, buf: &mut PacketBuf, meta: &mut RecvMeta) -> usize {
        let id = c.user_data as u32;
        let generation = (c.user_data >> 32) as u32 & GENERATION_MASK;
        let index = id as usize;
        let current = matches!(self.slots.get(index), Some(Some(_)))
            && self.generations[index] & GENERATION_MASK == generation;
        let mut delivered = 0;
        if let Some(bid) = cqueue::buffer_select(c.flags) {
            if !current {
                // A datagram of a pair closed since: discarded, as the socket's queue was.
                self.stats.rx_dropped += 1;
            } else if let Ok(len) = usize::try_from(c.result) {
                match self.pool.parse(bid, len, self.control_bytes) {
                    Some(datagram) => {
                        let n = datagram.payload.len().min(PACKET_BUF_BYTES);
                        buf.bytes_mut()[..n].copy_from_slice(&datagram.payload[..n]);
                        let local = self.slots[index]
                            .as_ref()
                            .map_or(meta.destination, |s| s.local);
                        *meta = RecvMeta {
                            len: n,
                            source: datagram.source,
                            destination: local,
                            socket: SocketId::new(id),
                            timestamp: datagram.timestamp,
                            truncated: datagram.truncated,
                        };
                        self.stats.count_rx(n, datagram.truncated);
                        delivered = 1;
                    }
                    None => {
                        self.stats.rx_errors += 1;
                        self.stats.last_error = Some(IoError::Os { errno: 0 });
                    }
                }
            }
            self.pool.recycle(bid);
        }
        if c.result < 0 {
            match -c.result {
                libc::ENOBUFS => self.stats.rx_no_buffers += 1,
                libc::ECANCELED => {}
                errno if current => {
                    self.stats.rx_errors += 1;
                    self.stats.last_error = Some(IoError::Os { errno });
                }
                _ => {}
            }
        }
        if !cqueue::more(c.flags) && current && self.rearm.len() < self.rearm.capacity() {
            self.rearm.push(id);
        }
        delivered
    }

    /// Frees send slots of a caller that does not receive: retires send completions and
    /// parks receive ones in the stash (which holds every receive the pool allows).
    fn reclaim_slots(&mut self) -> Result<(), IoError> {
        self.enter(true)?;
        while self.stash.len() < self.stash.capacity() {
            let Some(entry) = self.ring.completion().next() else {
                break;
            };
            let c = Completion {
                user_data: entry.user_data(),
                result: entry.result(),
                flags: entry.flags(),
            };
            if c.user_data >> KIND_SHIFT == KIND_SEND {
                self.slab
                    .complete(c.user_data as u32, c.result, &mut self.stats);
            } else {
                self.stash.push_back(c);
                self.uring.stashed += 1;
            }
        }
        Ok(())
    }

    /// Queues one packet; true when it was handed to the ring (or sent directly).
    fn queue_one(&mut self, p: &Transmit<'_>) -> Result<bool, IoError> {
        if !matches!(self.slots.get(p.socket.index()), Some(Some(_))) {
            self.stats.drop_tx(
                1,
                IoError::UnknownSocket {
                    socket: p.socket.get(),
                },
            );
            return Ok(false);
        }
        let Some(destination) = destination_for(self.v6, self.dual_stack, p.destination) else {
            self.stats.drop_tx(
                1,
                IoError::AddressFamily {
                    socket: p.socket.get(),
                },
            );
            return Ok(false);
        };
        if p.payload.len() > PACKET_BUF_BYTES {
            return self.send_direct(p, destination);
        }
        if self.slab.free.is_empty() {
            self.reclaim_slots()?;
        }
        let Some(slot_index) = self.slab.free.pop() else {
            self.stats.drop_tx(
                1,
                IoError::SendBufferFull {
                    socket: p.socket.get(),
                },
            );
            return Ok(false);
        };
        let entry = self.slab.fill(slot_index, p.socket, destination, p.payload);
        // SAFETY: the entry points into slab slot `slot_index` (payload and address), which
        // stays untouched until its completion is reaped, and the slab outlives every request.
        if unsafe { self.ring.submission().push(&entry) }.is_err() {
            self.enter(false)?;
            // SAFETY: as above.
            if unsafe { self.ring.submission().push(&entry) }.is_err() {
                self.slab.free.push(slot_index);
                self.stats.drop_tx(
                    1,
                    IoError::SendBufferFull {
                        socket: p.socket.get(),
                    },
                );
                return Ok(false);
            }
        }
        self.stats.count_tx(p.payload.len());
        Ok(true)
    }

    /// Sends a payload longer than a slot (never RTP) with a plain `sendto`, after
    /// submitting what is queued so the order is kept.
    fn send_direct(&mut self, p: &Transmit<'_>, destination: SocketAddr) -> Result<bool, IoError> {
        self.enter(false)?;
        self.uring.direct_sends += 1;
        let Some(Some(slot)) = self.slots.get(p.socket.index()) else {
            return Ok(false);
        };
        match slot.socket.send_to(p.payload, &SockAddr::from(destination)) {
            Ok(_) => {
                self.stats.count_tx(p.payload.len());
                Ok(true)
            }
            Err(e) => {
                let error = match e.raw_os_error() {
                    Some(libc::EAGAIN) => IoError::SendBufferFull {
                        socket: p.socket.get(),
                    },
                    Some(libc::EMSGSIZE) => IoError::Oversize {
                        len: p.payload.len(),
                        max: MAX_UDP_PAYLOAD,
                    },
                    errno => IoError::Os {
                        errno: errno.unwrap_or(0),
                    },
                };
                self.stats.drop_tx(1, error);
                Ok(false)
            }
        }
    }

    fn bind_pair(&mut self, rtp_port: u16) -> Result<PortPair, PortError> {
        let range = self.config.socket.ports;
        let rtp = open_socket(&self.config.socket, rtp_port)?;
        let rtcp = open_socket(&self.config.socket, rtp_port + 1)?;
        let (Some(rtp_id), Some(rtcp_id)) =
            (range.socket_id(rtp_port), range.socket_id(rtp_port + 1))
        else {
            return Err(PortError::NotOpen { port: rtp_port });
        };
        let submitter = self.ring.submitter();
        let register_err = |e: std::io::Error| PortError::Poll {
            errno: e.raw_os_error().unwrap_or(0),
        };
        submitter
            .register_files_update(rtp_id.get(), &[rtp.as_raw_fd()])
            .map_err(register_err)?;
        if let Err(e) = submitter.register_files_update(rtcp_id.get(), &[rtcp.as_raw_fd()]) {
            let _ = submitter.register_files_update(rtp_id.get(), &[-1]);
            return Err(register_err(e));
        }
        for (id, socket, port) in [(rtp_id, rtp, rtp_port), (rtcp_id, rtcp, rtp_port + 1)] {
            self.slots[id.index()] = Some(Slot {
                socket,
                local: SocketAddr::new(self.config.socket.bind, port),
            });
            self.rearm.push(id.get());
        }
        self.arm_pending().map_err(|e| match e {
            IoError::Os { errno } => PortError::Poll { errno },
            _ => PortError::Poll { errno: 0 },
        })?;
        // Armed now, so datagrams that arrive before the first tick are already picked up.
        self.enter(false)
            .map_err(|_| PortError::Poll { errno: 0 })?;
        Ok(PortPair {
            rtp: rtp_id,
            rtcp: rtcp_id,
            rtp_port,
        })
    }
}

impl Drop for UringIo {
    fn drop(&mut self) {
        // Nothing may write into the pool or read the slab once they are freed: cancel every
        // request and wait for it, then take the buffer ring back from the kernel.
        let _ = self
            .ring
            .submitter()
            .register_sync_cancel(None, CancelBuilder::any());
        let _ = self.ring.submitter().unregister_buf_ring(BUFFER_GROUP);
    }
}

impl PacketIo for UringIo {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        open_pair_with(
            self,
            self.config.socket.ports,
            |io| &mut io.ports,
            Self::bind_pair,
        )
    }

    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        let range = self.config.socket.ports;
        if range.socket_id(pair.rtp_port) != Some(pair.rtp)
            || range.socket_id(pair.rtcp_port()) != Some(pair.rtcp)
            || !self.ports.release(pair.rtp_port)
        {
            return Err(PortError::NotOpen {
                port: pair.rtp_port,
            });
        }
        // A re-arm still queued for these sockets must not reach the kernel later, when the
        // ids may belong to new sockets: drop pending ones, submit the queue.
        self.rearm
            .retain(|&id| id != pair.rtp.get() && id != pair.rtcp.get());
        let _ = self.enter(false);
        for id in [pair.rtp, pair.rtcp] {
            let Some(slot) = self.slots[id.index()].take() else {
                continue;
            };
            let submitter = self.ring.submitter();
            // Synchronous: once this returns the socket's receive is gone, so closing the
            // descriptor below really closes the socket and frees the port.
            let _ = submitter.register_sync_cancel(None, CancelBuilder::fd(Fixed(id.get())).all());
            let _ = submitter.register_files_update(id.get(), &[-1]);
            self.generations[id.index()] = self.generations[id.index()].wrapping_add(1);
            drop(slot);
        }
        // The cancelled receives finish in deferred work, and only then drop their reference
        // to the socket: run it, so the ports are free when this returns.
        let _ = self.enter(true);
        Ok(())
    }

    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        self.slots.get(socket.index())?.as_ref().map(|s| s.local)
    }

    fn socket_id_max(&self) -> usize {
        self.config.socket.ports.ports()
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
        let mut filled = self.reap(bufs, meta, 0);
        // Run the kernel's deferred receive work until the arrays are full or it produced
        // nothing more. (A zero-timeout wait for more completions would serve every socket
        // in one enter, but it schedules: on a busy machine that costs milliseconds.)
        for _ in 0..MAX_RECV_ENTERS {
            if filled == cap {
                break;
            }
            self.arm_pending()?;
            self.enter(true)?;
            let before = filled;
            filled = self.reap(bufs, meta, filled);
            if filled == before && self.ring.completion().is_empty() {
                break;
            }
        }
        // Receives that ended during this call are armed by the next enter.
        self.arm_pending()?;
        Ok(filled)
    }

    fn queue_batch(&mut self, _now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        let mut queued = 0;
        for p in packets {
            queued += usize::from(self.queue_one(p)?);
        }
        Ok(queued)
    }

    fn flush(&mut self, _now: Timestamp) -> Result<(), IoError> {
        if self.ring.submission().is_empty() {
            return Ok(());
        }
        self.enter(false)
    }

    fn send_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        let queued = self.queue_batch(now, packets)?;
        self.flush(now)?;
        Ok(queued)
    }

    fn stats(&self) -> IoStats {
        self.stats
    }
}

/// One received datagram, parsed out of its pool buffer.
struct Datagram<'a> {
    source: SocketAddr,
    payload: &'a [u8],
    truncated: bool,
    timestamp: Option<Timestamp>,
}

/// The provided-buffer ring and its buffers: memory the kernel writes into.
struct RecvPool {
    /// `entries` ring entries, page aligned; the tail is in entry 0's reserved field.
    ring: NonNull<BufRingEntry>,
    ring_layout: Layout,
    /// `entries * stride` bytes of buffers.
    buffers: NonNull<u8>,
    buffers_layout: Layout,
    entries: u16,
    stride: usize,
    buffer_len: u32,
    /// Our copy of the tail (published with a release store).
    tail: u16,
}

impl RecvPool {
    /// Allocates `entries` buffers of `buffer_len` bytes and a ring holding all of them.
    fn new(entries: usize, buffer_len: usize) -> Result<Self, ConfigError> {
        let capacity = |_| ConfigError::Capacity {
            name: "recv_buffers",
            value: entries,
            min: 1,
        };
        let stride = buffer_len.next_multiple_of(BUFFER_ALIGN);
        let ring_layout = Layout::from_size_align(
            (entries * size_of::<BufRingEntry>()).max(PAGE_BYTES),
            PAGE_BYTES,
        )
        .map_err(capacity)?;
        let buffers_layout =
            Layout::from_size_align(entries * stride, BUFFER_ALIGN).map_err(capacity)?;
        // SAFETY: both layouts have a non-zero size.
        let (ring, buffers) = unsafe {
            (
                std::alloc::alloc_zeroed(ring_layout),
                std::alloc::alloc_zeroed(buffers_layout),
            )
        };
        let (Some(ring), Some(buffers)) = (NonNull::new(ring.cast()), NonNull::new(buffers)) else {
            std::alloc::handle_alloc_error(ring_layout);
        };
        let mut pool = Self {
            ring,
            ring_layout,
            buffers,
            buffers_layout,
            entries: entries as u16,
            stride,
            buffer_len: buffer_len as u32,
            tail: 0,
        };
        for bid in 0..entries as u16 {
            pool.recycle(bid);
        }
        pool.publish();
        Ok(pool)
    }

    /// Hands buffer `bid` back to the kernel (visible after [`publish`](Self::publish)).
    fn recycle(&mut self, bid: u16) {
        if usize::from(bid) >= usize::from(self.entries) {
            return;
        }
        let index = usize::from(self.tail & (self.entries - 1));
        // SAFETY: `index < entries`; the entry at our tail is not owned by the kernel (it
        // only reads entries between its head and the published tail), and writing addr,
        // len and bid leaves entry 0's tail field alone.
        let entry = unsafe { &mut *self.ring.as_ptr().add(index) };
        // SAFETY: `bid < entries`, so the buffer lies inside the allocation.
        let addr = unsafe { self.buffers.as_ptr().add(usize::from(bid) * self.stride) };
        entry.set_addr(addr as u64);
        entry.set_len(self.buffer_len);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes recycled buffers visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field of entry 0 is a u16 the kernel reads atomically; the ring
        // is alive and aligned.
        let tail =
            unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.ring.as_ptr()).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }

    /// Parses buffer `bid`, of which the kernel filled `len` bytes, as a multishot
    /// `recvmsg` result: header, source address, control data, payload.
    fn parse(&self, bid: u16, len: usize, control_bytes: usize) -> Option<Datagram<'_>> {
        if usize::from(bid) >= usize::from(self.entries) {
            return None;
        }
        let len = len.min(self.buffer_len as usize);
        // SAFETY: the buffer lies inside the allocation; the kernel handed it to us with
        // this completion and does not touch it until we recycle it.
        let buffer = unsafe {
            std::slice::from_raw_parts(
                self.buffers.as_ptr().add(usize::from(bid) * self.stride),
                len,
            )
        };
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_ne_bytes(buffer.get(at..at + 4)?.try_into().ok()?))
        };
        let (name_len, control_len, payload_len, flags) = (word(0)?, word(4)?, word(8)?, word(12)?);
        let name_at = RECVMSG_OUT_BYTES;
        let control_at = name_at + NAME_BYTES;
        let payload_at = control_at + control_bytes;
        let name = buffer.get(name_at..name_at + (name_len as usize).min(NAME_BYTES))?;
        let control =
            buffer.get(control_at..control_at + (control_len as usize).min(control_bytes))?;
        let payload = buffer.get(payload_at..)?;
        let payload = &payload[..(payload_len as usize).min(payload.len())];
        Some(Datagram {
            source: decode_sockaddr(name)?,
            payload,
            truncated: flags & libc::MSG_TRUNC as u32 != 0,
            timestamp: (flags & libc::MSG_CTRUNC as u32 == 0)
                .then(|| decode_timestamp(control))
                .flatten(),
        })
    }
}

impl Drop for RecvPool {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these layouts; the kernel no longer uses them
        // (`UringIo::drop` cancelled every request and unregistered the ring first).
        unsafe {
            std::alloc::dealloc(self.ring.as_ptr().cast(), self.ring_layout);
            std::alloc::dealloc(self.buffers.as_ptr(), self.buffers_layout);
        }
    }
}

/// A source address as the kernel wrote it (`sockaddr_in` or `sockaddr_in6`).
fn decode_sockaddr(name: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes(name.get(0..2)?.try_into().ok()?));
    let port = u16::from_be_bytes(name.get(2..4)?.try_into().ok()?);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        libc::AF_INET6 => {
            let flow = u32::from_be_bytes(name.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
            let v6 = SocketAddrV6::new(Ipv6Addr::from(ip), port, flow, scope);
            Some(crate::packet::canonical(SocketAddr::V6(v6)))
        }
        _ => None,
    }
}

/// The `SCM_TIMESTAMPNS` control message, if that is what `control` holds.
fn decode_timestamp(control: &[u8]) -> Option<Timestamp> {
    let header = size_of::<libc::cmsghdr>();
    let int = |at: usize| -> Option<i32> {
        Some(i32::from_ne_bytes(
            control.get(at..at + 4)?.try_into().ok()?,
        ))
    };
    let long = |at: usize| -> Option<i64> {
        Some(i64::from_ne_bytes(
            control.get(at..at + 8)?.try_into().ok()?,
        ))
    };
    // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then the data.
    let (level, kind) = (int(size_of::<usize>())?, int(size_of::<usize>() + 4)?);
    if level != libc::SOL_SOCKET || kind != libc::SCM_TIMESTAMPNS {
        return None;
    }
    let secs = u64::try_from(long(header)?).unwrap_or(0);
    let nanos = u64::try_from(long(header + 8)?).unwrap_or(0);
    Some(Timestamp::from_nanos(
        secs.saturating_mul(1_000_000_000).saturating_add(nanos),
    ))
}

/// One packet waiting for the kernel: destination and payload, read by the `SEND`.
struct SendSlot {
    destination: SockAddr,
    len: usize,
    socket: u32,
    bytes: [u8; PACKET_BUF_BYTES],
}

/// Preallocated send slots and the free list.
struct SendSlab {
    slots: Box<[SendSlot]>,
    free: Vec<u32>,
}

impl SendSlab {
    fn new(count: usize) -> Self {
        let unspecified = SockAddr::from(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
        Self {
            slots: (0..count)
                .map(|_| SendSlot {
                    destination: unspecified.clone(),
                    len: 0,
                    socket: 0,
                    bytes: [0; PACKET_BUF_BYTES],
                })
                .collect(),
            free: (0..count as u32).rev().collect(),
        }
    }

    /// Copies a packet into slot `index` and builds its `SEND` entry.
    fn fill(
        &mut self,
        index: u32,
        socket: SocketId,
        destination: SocketAddr,
        payload: &[u8],
    ) -> io_uring::squeue::Entry {
        let slot = &mut self.slots[index as usize];
        slot.destination = SockAddr::from(destination);
        slot.len = payload.len();
        slot.socket = socket.get();
        slot.bytes[..payload.len()].copy_from_slice(payload);
        opcode::Send::new(
            Fixed(socket.get()),
            slot.bytes.as_ptr(),
            payload.len() as u32,
        )
        .flags(libc::MSG_DONTWAIT)
        .dest_addr(slot.destination.as_ptr().cast())
        .dest_addr_len(slot.destination.len())
        .build()
        .user_data((KIND_SEND << KIND_SHIFT) | u64::from(index))
    }

    /// Retires slot `index`: a refusal is moved from `tx_packets` to `tx_dropped`.
    fn complete(&mut self, index: u32, result: i32, stats: &mut IoStats) {
        let Some(slot) = self.slots.get(index as usize) else {
            return;
        };
        if result < 0 {
            let error = match -result {
                libc::EAGAIN | libc::ENOBUFS => IoError::SendBufferFull {
                    socket: slot.socket,
                },
                libc::EMSGSIZE => IoError::Oversize {
                    len: slot.len,
                    max: PACKET_BUF_BYTES,
                },
                errno => IoError::Os { errno },
            };
            stats.tx_packets = stats.tx_packets.saturating_sub(1);
            stats.tx_bytes = stats.tx_bytes.saturating_sub(slot.len as u64);
            stats.drop_tx(1, error);
        }
        if self.free.len() < self.free.capacity() {
            self.free.push(index);
        }
    }
}
