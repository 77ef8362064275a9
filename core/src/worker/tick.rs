//! The tick: the absolute-deadline timer that paces a worker ([`TickClock`]), and the
//! transmit queue a tick fills and flushes (`TxQueue`).
//!
//! # Timer
//!
//! [`TickClock::wait`] sleeps with `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` until the
//! next multiple of the quantum (10 ms) after the clock's epoch, so ticks never drift however
//! long each took. The reported time is the deadline itself, so the media clock advances in
//! exact quanta. One `clock_nanosleep` and one `clock_gettime` (vDSO) per tick; nothing
//! allocates. [`TickClock::wait_or_ring`] sleeps towards the same deadline on a
//! [`Doorbell`] instead (one futex wait, with the same absolute deadline), and returns early
//! when the bell rings, leaving the deadline to a later call; [`TickClock::poll`] serves the
//! deadline only if it has passed, without sleeping.
//!
//! A worker that wakes up late (a long tick, or the scheduler ran something else) **catches
//! up**: the deadlines it passed are served in order, back to back, up to
//! [`MAX_CATCH_UP`] quanta behind. Skipping them instead would leave every stream's RTP
//! timestamps a quantum behind the wall clock for good at each late wake-up: receivers would
//! see the delay step up by 10 ms every time, and after a few dozen hiccups their packets
//! arrive hundreds of ms late (seen in the load generator as "late" packets at half a
//! core's CPU). Served a few ms late in a burst, the same packets are absorbed by any jitter
//! buffer. Only a worker more than [`MAX_CATCH_UP`] quanta behind (the process was stopped)
//! skips to the latest deadline, and reports the quanta it skipped.
//!
//! # Transmit queue
//!
//! Sessions write each outgoing datagram straight into a preallocated arena of the queue
//! (`TxQueue::push_with`); at the end of the tick `TxQueue::flush` hands them to the
//! backend in batches of [`MAX_BATCH`] borrowed [`Transmit`]s built on the stack. A full
//! queue drops the datagram and counts it. Capacity is fixed at construction.
//!
//! The datagrams lie one after another in the arena, each on a cache-line boundary, not one
//! per 2 KiB slot: a tick's few hundred kilobytes of RTP are then written and read back
//! sequentially, where slots 2 KiB apart map to a handful of cache sets and a page each,
//! and every copy into them missed the cache (a `perf` profile of a 4,000-channel relay
//! showed the copy into the queue among the worker's costliest user-space lines).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use nix::time::{ClockId, clock_gettime};

use crate::bus::Doorbell;
use crate::bus::doorbell::{monotonic_now_ns, sleep_until_monotonic};
use tandem_drivers::packet::{
    MAX_BATCH, PACKET_BUF_BYTES, PacketIo, SocketId, Timestamp, Transmit,
};

/// The tick quantum.
pub const TICK: Duration = Duration::from_millis(10);
/// The tick quantum, µs.
pub const TICK_US: u64 = 10_000;
/// Most quanta a late worker serves back to back to catch up; further behind, it skips to
/// the latest deadline. See the module docs.
pub const MAX_CATCH_UP: u64 = 10;

const UNSPECIFIED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

#[derive(Debug, Clone, Copy)]
struct TxMeta {
    socket: SocketId,
    destination: SocketAddr,
    /// Where the datagram starts in the arena.
    start: usize,
    len: usize,
}

/// Alignment of each datagram in the arena: a cache line.
const TX_ALIGN: usize = 64;

/// Outgoing datagrams of one tick. See the module docs.
pub(crate) struct TxQueue {
    /// The datagrams, back to back from offset 0; room for `meta.len()` of the largest size.
    arena: Box<[u8]>,
    /// Where the next datagram goes.
    end: usize,
    meta: Box<[TxMeta]>,
    len: usize,
    /// Datagrams dropped because the queue was full.
    pub(crate) full_drops: u64,
}

impl std::fmt::Debug for TxQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxQueue")
            .field("capacity", &self.meta.len())
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl TxQueue {
    /// A queue of `capacity` datagrams. Allocates `capacity` × 2 KiB, so that it holds
    /// `capacity` datagrams of any size.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            arena: vec![0u8; capacity * PACKET_BUF_BYTES].into_boxed_slice(),
            end: 0,
            meta: vec![
                TxMeta {
                    socket: SocketId::new(0),
                    destination: UNSPECIFIED,
                    start: 0,
                    len: 0,
                };
                capacity
            ]
            .into_boxed_slice(),
            len: 0,
            full_drops: 0,
        }
    }

    /// Lets `write` fill the next buffer and queues the datagram of the length it returns;
    /// `None` from `write` queues nothing. Returns whether a datagram was queued.
    #[inline]
    pub(crate) fn push_with(
        &mut self,
        socket: SocketId,
        destination: SocketAddr,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> bool {
        let start = self.end;
        let (Some(meta), Some(buf)) = (
            self.meta.get_mut(self.len),
            self.arena.get_mut(start..start + PACKET_BUF_BYTES),
        ) else {
            self.full_drops += 1;
            return false;
        };
        match write(buf) {
            Some(len) if len <= PACKET_BUF_BYTES => {
                *meta = TxMeta {
                    socket,
                    destination,
                    start,
                    len,
                };
                self.len += 1;
                self.end = start + len.next_multiple_of(TX_ALIGN);
                true
            }
            _ => false,
        }
    }

    /// Hands every queued datagram to `io` in batches ([`PacketIo::queue_batch`], then one
    /// [`PacketIo::flush`]) and empties the queue. Returns
    /// (sent, dropped by the backend); a batch call that fails drops its whole batch.
    pub(crate) fn flush<B: PacketIo + ?Sized>(
        &mut self,
        io: &mut B,
        now: Timestamp,
    ) -> (u64, u64, u64) {
        let (mut sent, mut dropped, mut errors) = (0u64, 0u64, 0u64);
        let mut start = 0;
        while start < self.len {
            let end = (start + MAX_BATCH).min(self.len);
            let mut batch = [Transmit {
                socket: SocketId::new(0),
                destination: UNSPECIFIED,
                payload: &[],
            }; MAX_BATCH];
            for (slot, i) in batch.iter_mut().zip(start..end) {
                let m = self.meta[i];
                *slot = Transmit {
                    socket: m.socket,
                    destination: m.destination,
                    payload: &self.arena[m.start..m.start + m.len],
                };
            }
            let n = end - start;
            match io.queue_batch(now, &batch[..n]) {
                Ok(ok) => {
                    sent += ok as u64;
                    dropped += (n - ok.min(n)) as u64;
                }
                Err(_) => {
                    errors += 1;
                    dropped += n as u64;
                }
            }
            start = end;
        }
        // One submission for the whole tick on backends that queue (io_uring).
        if self.len > 0 && io.flush(now).is_err() {
            errors += 1;
        }
        self.len = 0;
        self.end = 0;
        (sent, dropped, errors)
    }
}

/// What [`TickClock::wait`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickInfo {
    /// The deadline served, µs since the clock's epoch (a multiple of the quantum).
    pub now_us: u64,
    /// Whole quanta between the deadline served and the wake-up: 0 for a tick on time,
    /// 1 or more for a tick that missed its deadline and is being caught up.
    pub behind: u64,
    /// Quanta skipped for good because the worker was more than [`MAX_CATCH_UP`] behind.
    pub skipped: u64,
}

impl TickInfo {
    /// Deadlines missed with this tick: the skipped ones, and this one if it ran a quantum
    /// or more late.
    pub fn missed(&self) -> u64 {
        self.skipped + u64::from(self.behind > 0)
    }
}

/// The absolute-deadline tick timer. See the module docs.
#[derive(Debug)]
pub struct TickClock {
    epoch_ns: u64,
    quantum_ns: u64,
    /// Next deadline, ns since the epoch.
    next_ns: u64,
}

impl TickClock {
    /// A clock whose epoch is now and whose first deadline is one quantum away.
    pub fn new(quantum: Duration) -> Self {
        let quantum_ns = (quantum.as_nanos() as u64).max(1);
        Self {
            epoch_ns: monotonic_now_ns(),
            quantum_ns,
            next_ns: quantum_ns,
        }
    }

    /// Nanoseconds since the epoch, now.
    pub fn elapsed_ns(&self) -> u64 {
        monotonic_now_ns().saturating_sub(self.epoch_ns)
    }

    /// The wallclock at this clock's epoch, µs since the UNIX epoch (now's wallclock less the
    /// time elapsed since the epoch); `None` if the wallclock cannot be read. Reads two vDSO
    /// clocks, no system call.
    pub fn unix_at_epoch_us(&self) -> Option<u64> {
        let unix = clock_gettime(ClockId::CLOCK_REALTIME).ok()?;
        let unix_us = (unix.tv_sec() as u64)
            .saturating_mul(1_000_000)
            .saturating_add(unix.tv_nsec() as u64 / 1000);
        unix_us.checked_sub(self.elapsed_ns() / 1000)
    }

    /// Sleeps until the next deadline (absolute, so no drift; at once if it has passed) and
    /// reports it. See the module docs for late wake-ups.
    pub fn wait(&mut self) -> TickInfo {
        sleep_until_monotonic(self.epoch_ns + self.next_ns);
        self.serve(self.elapsed_ns())
    }

    /// Sleeps until the next deadline, as [`TickClock::wait`] does, unless `bell` rings
    /// (or has rung since [`Doorbell::rings`] returned `seen`): then `None`, and the
    /// deadline is still ahead for the next call. A deadline reached is served even when the
    /// bell rang too.
    pub fn wait_or_ring(&mut self, bell: &Doorbell, seen: u32) -> Option<TickInfo> {
        bell.sleep_until(seen, self.epoch_ns + self.next_ns);
        self.poll()
    }

    /// Serves the next deadline if it has passed (as [`TickClock::wait`] would have, at
    /// once); `None`, without sleeping, if it is still ahead.
    pub fn poll(&mut self) -> Option<TickInfo> {
        let now_ns = self.elapsed_ns();
        (now_ns >= self.next_ns).then(|| self.serve(now_ns))
    }

    /// Serves the next deadline for a wake-up at `now_ns` (since the epoch).
    fn serve(&mut self, now_ns: u64) -> TickInfo {
        let behind = now_ns.saturating_sub(self.next_ns) / self.quantum_ns;
        let skipped = if behind > MAX_CATCH_UP { behind } else { 0 };
        let served = self.next_ns + skipped * self.quantum_ns;
        self.next_ns = served + self.quantum_ns;
        TickInfo {
            now_us: served / 1000,
            behind: behind - skipped,
            skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_drivers::packet::loopback::{LoopbackConfig, LoopbackNet};
    use tandem_drivers::packet::{PacketBuf, PortRange, RecvMeta};

    #[test]
    fn the_queue_packs_datagrams_of_any_size_and_delivers_them_intact_in_order() {
        let net = LoopbackNet::new();
        let ip = |last| IpAddr::V4(Ipv4Addr::new(10, 0, 0, last));
        let endpoint = |last, base| {
            let ports = PortRange::new(base, base + 7).unwrap();
            net.endpoint(LoopbackConfig::new(ip(last), ports)).unwrap()
        };
        let (mut tx_io, mut rx_io) = (endpoint(1, 20000), endpoint(2, 30000));
        let from = tx_io.open_pair().unwrap();
        let to = rx_io.open_pair().unwrap();
        let destination = rx_io.local_addr(to.rtp).unwrap();
        // Room for four datagrams of the largest size: many more small ones than that would
        // fit, but the queue holds `capacity` datagrams whatever their sizes.
        let mut queue = TxQueue::new(4);
        let sizes = [1, 172, PACKET_BUF_BYTES, 65];
        for (i, &size) in sizes.iter().enumerate() {
            assert!(queue.push_with(from.rtp, destination, |buf| {
                buf[..size].fill(i as u8 + 1);
                Some(size)
            }));
        }
        assert!(!queue.push_with(from.rtp, destination, |_| Some(1)));
        assert_eq!(queue.full_drops, 1);
        // A datagram larger than a packet buffer is refused, not truncated.
        assert!(!queue.push_with(from.rtp, destination, |_| Some(PACKET_BUF_BYTES + 1)));

        assert_eq!(queue.flush(&mut tx_io, Timestamp::ZERO), (4, 0, 0));
        let mut bufs = PacketBuf::new_vec(8);
        let mut meta = RecvMeta::new_vec(8);
        assert_eq!(
            rx_io.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta),
            Ok(4)
        );
        for (i, &size) in sizes.iter().enumerate() {
            let payload = bufs[i].payload(meta[i].len);
            assert_eq!(payload.len(), size);
            assert!(payload.iter().all(|&b| b == i as u8 + 1), "datagram {i}");
        }
        // Flushed, the queue is empty and takes a whole capacity again.
        for _ in 0..4 {
            assert!(queue.push_with(from.rtp, destination, |_| Some(PACKET_BUF_BYTES)));
        }
    }

    #[test]
    fn the_clock_serves_consecutive_quanta_without_drift() {
        let mut clock = TickClock::new(Duration::from_millis(2));
        let first = clock.wait();
        let second = clock.wait();
        assert_eq!(first.now_us % 2000, 0);
        assert_eq!(second.now_us, first.now_us + 2000 * (1 + second.skipped));
    }

    #[test]
    fn a_late_wakeup_catches_up_on_the_deadlines_it_passed() {
        let mut clock = TickClock::new(Duration::from_millis(10));
        // Woken 35 ms after the first deadline (10 ms): 10, 20, 30 and 40 are served in
        // order, the first three late, then the clock sleeps again.
        let served: Vec<TickInfo> = (0..4).map(|_| clock.serve(45_000_000)).collect();
        let times: Vec<u64> = served.iter().map(|t| t.now_us).collect();
        assert_eq!(times, [10_000, 20_000, 30_000, 40_000]);
        let behind: Vec<u64> = served.iter().map(|t| t.behind).collect();
        assert_eq!(behind, [3, 2, 1, 0]);
        assert_eq!(served.iter().map(TickInfo::missed).sum::<u64>(), 3);
        assert!(served.iter().all(|t| t.skipped == 0));
    }

    #[test]
    fn a_stall_beyond_the_catch_up_limit_skips_to_the_latest_deadline() {
        let mut clock = TickClock::new(Duration::from_millis(10));
        // Woken a second late: nothing to gain from serving 100 stale ticks.
        let info = clock.serve(1_015_000_000);
        assert_eq!(info.skipped, 100);
        assert_eq!(info.now_us, 1_010_000);
        assert_eq!(info.behind, 0);
        assert_eq!(info.missed(), 100);
        assert_eq!(clock.serve(1_020_000_000).now_us, 1_020_000);
    }

    #[test]
    fn a_real_late_wakeup_is_caught_up() {
        let mut clock = TickClock::new(Duration::from_millis(1));
        clock.wait();
        std::thread::sleep(Duration::from_millis(5));
        let info = clock.wait();
        assert!(info.behind >= 3 || info.skipped >= 3, "{info:?}");
        assert_eq!(info.now_us % 1000, 0);
    }
}
