//! A worker's metrics, shared with the control plane through atomics: tick count, missed
//! deadlines, a fixed-bucket histogram of tick cost, packet and event counters, and the load
//! figure placement uses.
//!
//! # Contract
//!
//! - The worker is the only writer of every field except [`WorkerStats::load`] (written by the
//!   control plane's placement). It publishes once per tick with `Relaxed` stores and one
//!   `fetch_add` on a histogram bucket: no allocation, no lock, no fence beyond that.
//! - Readers take a [`StatsSnapshot`] at any time; fields are individually exact and mutually
//!   consistent to within one tick.
//! - These are plain counters, not a synchronisation structure, so they use `std` atomics
//!   directly rather than the crate's std/loom facade (`sync.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::session::PlayoutTotals;

/// Upper bounds (µs, inclusive) of the tick-cost histogram buckets; one more bucket counts
/// everything above the last bound. The 10 ms tick budget sits at bucket 12.
pub const TICK_COST_BUCKETS_US: [u64; 15] = [
    25, 50, 100, 200, 300, 500, 750, 1_000, 1_500, 2_000, 3_000, 5_000, 7_500, 10_000, 20_000,
];
const BUCKETS: usize = TICK_COST_BUCKETS_US.len() + 1;

/// The live metrics of one worker. See the module docs.
#[derive(Debug, Default)]
pub struct WorkerStats {
    ticks: AtomicU64,
    missed_deadlines: AtomicU64,
    cost_buckets: [AtomicU64; BUCKETS],
    cost_sum_ns: AtomicU64,
    cost_max_ns: AtomicU64,
    rx_packets: AtomicU64,
    rx_unrouted: AtomicU64,
    rx_truncated: AtomicU64,
    tx_packets: AtomicU64,
    tx_dropped: AtomicU64,
    io_errors: AtomicU64,
    events_dropped: AtomicU64,
    commands: AtomicU64,
    commands_failed: AtomicU64,
    sessions: AtomicU64,
    legs: AtomicU64,
    playout: PublishedPlayout,
    pinned: AtomicBool,
    realtime: AtomicBool,
    /// Placement load: the summed cost estimates of the sessions placed here. Written by the
    /// control plane.
    pub load: AtomicU64,
}

/// A copy of a worker's metrics at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Ticks run.
    pub ticks: u64,
    /// Deadlines the worker woke up too late for (each skipped 10 ms slot counts once).
    pub missed_deadlines: u64,
    /// Tick cost histogram; bucket `i` counts ticks costing at most
    /// [`TICK_COST_BUCKETS_US`]`[i]` µs (and more than the previous bound); the last counts
    /// the rest.
    pub cost_buckets: [u64; BUCKETS],
    /// Summed tick cost, ns.
    pub cost_sum_ns: u64,
    /// The most expensive tick, ns.
    pub cost_max_ns: u64,
    /// Datagrams received.
    pub rx_packets: u64,
    /// Datagrams for a socket no session owns (late packets of a closed session).
    pub rx_unrouted: u64,
    /// Datagrams longer than a buffer (dropped).
    pub rx_truncated: u64,
    /// Datagrams handed to the backend.
    pub tx_packets: u64,
    /// Datagrams dropped on the way out (transmit queue full, backend refused).
    pub tx_dropped: u64,
    /// Batch calls that failed as a whole.
    pub io_errors: u64,
    /// Events dropped because the notice ring was full.
    pub events_dropped: u64,
    /// Commands applied.
    pub commands: u64,
    /// Commands refused.
    pub commands_failed: u64,
    /// Sessions running.
    pub sessions: u64,
    /// Legs with open ports.
    pub legs: u64,
    /// What the decoding legs of this worker's sessions played, lost and concealed, summed
    /// since the worker started (legs that ended included).
    pub playout: PlayoutTotals,
    /// The worker thread is pinned to its core.
    pub pinned: bool,
    /// The worker thread runs `SCHED_FIFO` ([`super::priority`]).
    pub realtime: bool,
    /// Placement load.
    pub load: u64,
}

impl StatsSnapshot {
    /// The bucket bound (µs) at or below which fraction `q` (0..=1) of the ticks' costs lie;
    /// `None` before the first tick, `u64::MAX` when it lies beyond the last bound.
    pub fn cost_percentile_us(&self, q: f64) -> Option<u64> {
        let total: u64 = self.cost_buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.cost_buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(TICK_COST_BUCKETS_US.get(i).copied().unwrap_or(u64::MAX));
            }
        }
        Some(u64::MAX)
    }

    /// Mean tick cost, ns.
    pub fn cost_mean_ns(&self) -> u64 {
        self.cost_sum_ns.checked_div(self.ticks).unwrap_or(0)
    }
}

/// What the worker publishes each tick (its local running totals).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Totals {
    pub(crate) rx_packets: u64,
    pub(crate) rx_unrouted: u64,
    pub(crate) rx_truncated: u64,
    pub(crate) tx_packets: u64,
    pub(crate) tx_dropped: u64,
    pub(crate) io_errors: u64,
    pub(crate) events_dropped: u64,
    pub(crate) commands: u64,
    pub(crate) commands_failed: u64,
    pub(crate) sessions: u64,
    pub(crate) legs: u64,
    pub(crate) playout: PlayoutTotals,
}

/// [`PlayoutTotals`] as the worker publishes them: one atomic per counter.
#[derive(Debug, Default)]
struct PublishedPlayout {
    packets_played: AtomicU64,
    packets_late: AtomicU64,
    packets_lost: AtomicU64,
    fec_recoveries: AtomicU64,
    frames_concealed: AtomicU64,
    stretch_ops: AtomicU64,
}

impl PublishedPlayout {
    fn store(&self, t: &PlayoutTotals) {
        let r = Ordering::Relaxed;
        self.packets_played.store(t.packets_played, r);
        self.packets_late.store(t.packets_late, r);
        self.packets_lost.store(t.packets_lost, r);
        self.fec_recoveries.store(t.fec_recoveries, r);
        self.frames_concealed.store(t.frames_concealed, r);
        self.stretch_ops.store(t.stretch_ops, r);
    }

    fn load(&self) -> PlayoutTotals {
        let r = Ordering::Relaxed;
        PlayoutTotals {
            packets_played: self.packets_played.load(r),
            packets_late: self.packets_late.load(r),
            packets_lost: self.packets_lost.load(r),
            fec_recoveries: self.fec_recoveries.load(r),
            frames_concealed: self.frames_concealed.load(r),
            stretch_ops: self.stretch_ops.load(r),
        }
    }
}

impl WorkerStats {
    /// Records one tick that cost `cost_ns`.
    pub(crate) fn record_tick(&self, cost_ns: u64, totals: &Totals) {
        let us = cost_ns / 1000;
        let bucket = TICK_COST_BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(BUCKETS - 1);
        self.cost_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.cost_sum_ns.fetch_add(cost_ns, Ordering::Relaxed);
        self.cost_max_ns.fetch_max(cost_ns, Ordering::Relaxed);
        self.publish(totals);
    }

    /// Publishes the running totals (also before each reply, so that a caller who got its
    /// reply reads gauges that include its command).
    pub(crate) fn publish(&self, totals: &Totals) {
        let r = Ordering::Relaxed;
        self.rx_packets.store(totals.rx_packets, r);
        self.rx_unrouted.store(totals.rx_unrouted, r);
        self.rx_truncated.store(totals.rx_truncated, r);
        self.tx_packets.store(totals.tx_packets, r);
        self.tx_dropped.store(totals.tx_dropped, r);
        self.io_errors.store(totals.io_errors, r);
        self.events_dropped.store(totals.events_dropped, r);
        self.commands.store(totals.commands, r);
        self.commands_failed.store(totals.commands_failed, r);
        self.sessions.store(totals.sessions, r);
        self.legs.store(totals.legs, r);
        self.playout.store(&totals.playout);
    }

    /// Counts deadlines the worker woke up too late for.
    pub(crate) fn record_missed(&self, missed: u64) {
        self.missed_deadlines.fetch_add(missed, Ordering::Relaxed);
    }

    /// Records whether pinning succeeded.
    pub(crate) fn set_pinned(&self, pinned: bool) {
        self.pinned.store(pinned, Ordering::Relaxed);
    }

    /// Records whether the thread runs `SCHED_FIFO`.
    pub(crate) fn set_realtime(&self, realtime: bool) {
        self.realtime.store(realtime, Ordering::Relaxed);
    }

    /// A copy of every field.
    pub fn snapshot(&self) -> StatsSnapshot {
        let r = Ordering::Relaxed;
        StatsSnapshot {
            ticks: self.ticks.load(r),
            missed_deadlines: self.missed_deadlines.load(r),
            cost_buckets: std::array::from_fn(|i| self.cost_buckets[i].load(r)),
            cost_sum_ns: self.cost_sum_ns.load(r),
            cost_max_ns: self.cost_max_ns.load(r),
            rx_packets: self.rx_packets.load(r),
            rx_unrouted: self.rx_unrouted.load(r),
            rx_truncated: self.rx_truncated.load(r),
            tx_packets: self.tx_packets.load(r),
            tx_dropped: self.tx_dropped.load(r),
            io_errors: self.io_errors.load(r),
            events_dropped: self.events_dropped.load(r),
            commands: self.commands.load(r),
            commands_failed: self.commands_failed.load(r),
            sessions: self.sessions.load(r),
            legs: self.legs.load(r),
            playout: self.playout.load(),
            pinned: self.pinned.load(r),
            realtime: self.realtime.load(r),
            load: self.load.load(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_costs_land_in_their_buckets_and_percentiles_read_them_back() {
        let stats = WorkerStats::default();
        let totals = Totals::default();
        for _ in 0..90 {
            stats.record_tick(40_000, &totals); // 40 µs
        }
        for _ in 0..10 {
            stats.record_tick(2_500_000, &totals); // 2.5 ms
        }
        stats.record_missed(2);
        let s = stats.snapshot();
        assert_eq!(s.ticks, 100);
        assert_eq!(s.cost_buckets[1], 90);
        assert_eq!(s.cost_buckets[10], 10);
        assert_eq!(s.cost_percentile_us(0.5), Some(50));
        assert_eq!(s.cost_percentile_us(0.99), Some(3_000));
        assert_eq!(s.cost_max_ns, 2_500_000);
        assert_eq!(s.missed_deadlines, 2);
        assert_eq!(s.cost_mean_ns(), (90 * 40_000 + 10 * 2_500_000) / 100);
    }

    #[test]
    fn costs_beyond_the_last_bound_count_in_the_overflow_bucket() {
        let stats = WorkerStats::default();
        stats.record_tick(50_000_000, &Totals::default());
        let s = stats.snapshot();
        assert_eq!(s.cost_buckets[BUCKETS - 1], 1);
        assert_eq!(s.cost_percentile_us(1.0), Some(u64::MAX));
    }
}
