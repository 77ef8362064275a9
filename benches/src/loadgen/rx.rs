//! What comes back on one stream, accounted: payload type, loss, lateness, duplicates.
//!
//! A [`RxStream`] sees every RTP packet the engine sends to one loadgen endpoint, with its
//! arrival time, and whether it arrived inside the measurement window (packets of the
//! warm-up only set the baselines).
//!
//! - **Loss** is read from sequence numbers: within the window, the stream should hold every
//!   number from the first to the last one seen, and at least `window / ptime` packets minus
//!   [`EDGE_SLACK`] (so a stream that stalls, or never starts, counts as lost even without a
//!   gap). Duplicates are not counted twice.
//! - **Lateness** compares arrival with the schedule the RTP timestamps imply: the smallest
//!   offset `arrival − timestamp / clock` over the last [`BASELINE_NS`] to 2 × that is the
//!   stream's path delay, and a packet whose offset exceeds it by more than the threshold is
//!   late. The baseline slides, as an adaptive jitter buffer follows the path: a lasting step
//!   in the engine's delay makes about a second of packets late, not the rest of the run
//!   (the step itself shows in `max_excess_us`, measured against the run's earliest
//!   packet). This needs no stamp in the payload, so it works through transcoding.
//! - **Payload type**: a packet with another PT than negotiated counts as `wrong_pt` and is
//!   otherwise ignored. A new SSRC starts the baselines over (counted in `ssrc_changes`).

/// Packets by which a stream's count may fall short of `window / ptime` at the window's two
/// edges without counting as loss (one at each edge, plus one for rounding).
pub const EDGE_SLACK: u64 = 3;

/// Length of the blocks over which the lateness baseline is the smallest offset (the
/// baseline is the minimum of the current and the previous block).
pub const BASELINE_NS: i64 = 1_000_000_000;

/// Recent sequence numbers remembered for duplicate detection.
const HISTORY: u64 = 128;

/// Counters of one stream, or summed over many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxTotals {
    /// Packets the window should have held (see the module doc).
    pub expected: u64,
    /// Distinct packets of the negotiated PT that arrived in the window.
    pub received: u64,
    /// `expected − received`, never negative.
    pub lost: u64,
    /// Received packets later than the threshold.
    pub late: u64,
    /// Packets with a payload type other than the negotiated one (window only).
    pub wrong_pt: u64,
    /// Packets seen twice, or too old to place (window only).
    pub duplicates: u64,
    /// Times the stream's SSRC changed.
    pub ssrc_changes: u64,
    /// The most any window packet arrived behind the run's earliest offset, µs (over
    /// streams: the maximum).
    pub max_excess_us: u64,
}

impl RxTotals {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &RxTotals) {
        self.expected += other.expected;
        self.received += other.received;
        self.lost += other.lost;
        self.late += other.late;
        self.wrong_pt += other.wrong_pt;
        self.duplicates += other.duplicates;
        self.ssrc_changes += other.ssrc_changes;
        self.max_excess_us = self.max_excess_us.max(other.max_excess_us);
    }

    /// Lost packets as a percentage of expected.
    pub fn lost_pct(&self) -> f64 {
        pct(self.lost, self.expected)
    }

    /// Late packets as a percentage of received.
    pub fn late_pct(&self) -> f64 {
        pct(self.late, self.received)
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// One packet's header fields, as the receiver reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxPacket {
    /// Arrival, ns on any clock shared by all packets of the run.
    pub arrival_ns: i64,
    /// Payload type.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// SSRC.
    pub ssrc: u32,
}

/// The receive side of one stream.
#[derive(Debug, Clone)]
pub struct RxStream {
    expected_pt: u8,
    clock_rate: i64,
    late_ns: i64,
    ssrc: Option<u32>,
    /// Highest extended sequence number and timestamp so far (relative to the first packet).
    highest_seq: i64,
    last_ts: i64,
    base: Option<(u16, u32)>,
    /// Bit i set: sequence `highest_seq − i` arrived.
    seen: u128,
    /// Smallest offset of the run, of the current baseline block, and of the previous one.
    min_offset_ns: i64,
    block: i64,
    block_min_ns: i64,
    prev_block_min_ns: i64,
    window_first: Option<i64>,
    window_last: i64,
    totals: RxTotals,
}

impl RxStream {
    /// A stream expecting `expected_pt` on an RTP clock of `clock_rate` Hz; packets more than
    /// `late_ms` behind schedule are late.
    pub fn new(expected_pt: u8, clock_rate: u32, late_ms: u32) -> RxStream {
        RxStream {
            expected_pt,
            clock_rate: i64::from(clock_rate.max(1)),
            late_ns: i64::from(late_ms) * 1_000_000,
            ssrc: None,
            highest_seq: 0,
            last_ts: 0,
            base: None,
            seen: 0,
            min_offset_ns: i64::MAX,
            block: i64::MIN,
            block_min_ns: i64::MAX,
            prev_block_min_ns: i64::MAX,
            window_first: None,
            window_last: i64::MIN,
            totals: RxTotals::default(),
        }
    }

    /// Accounts one packet; `in_window` says whether it arrived inside the measurement window.
    /// Returns true when it was a new packet of the negotiated PT in the window (the caller
    /// may decode it).
    pub fn on_packet(&mut self, p: &RxPacket, in_window: bool) -> bool {
        if p.pt != self.expected_pt {
            self.totals.wrong_pt += u64::from(in_window);
            return false;
        }
        if self.ssrc != Some(p.ssrc) {
            // A new source (or the first): its numbering continues right after the highest
            // number so far, and its timing gets a new baseline.
            let next = match self.ssrc {
                Some(_) => {
                    self.totals.ssrc_changes += 1;
                    self.highest_seq + 1
                }
                None => 0,
            };
            self.ssrc = Some(p.ssrc);
            self.base = Some((p.seq.wrapping_sub(next as u16), p.ts));
            self.last_ts = 0;
            self.min_offset_ns = i64::MAX;
            self.block_min_ns = i64::MAX;
            self.prev_block_min_ns = i64::MAX;
        }
        let (base_seq, base_ts) = self.base.unwrap_or((p.seq, p.ts));
        // Extend the 16-bit sequence number and the 32-bit timestamp around the highest so far.
        let seq_rel = p.seq.wrapping_sub(base_seq);
        let high_wrapped = (self.highest_seq & 0xFFFF) as u16;
        let ext_seq = self.highest_seq + i64::from(seq_rel.wrapping_sub(high_wrapped) as i16);
        let ts_rel = p.ts.wrapping_sub(base_ts);
        let ts_delta = i64::from(ts_rel.wrapping_sub(self.last_ts as u32) as i32);
        let ext_ts = self.last_ts + ts_delta;

        // Duplicate detection over the last HISTORY numbers.
        let duplicate = if ext_seq > self.highest_seq {
            let shift = (ext_seq - self.highest_seq) as u64;
            self.seen = if shift >= HISTORY {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest_seq = ext_seq;
            self.last_ts = ext_ts;
            false
        } else {
            let back = (self.highest_seq - ext_seq) as u64;
            if back >= HISTORY || self.seen & (1u128 << back) != 0 {
                true
            } else {
                self.seen |= 1u128 << back;
                false
            }
        };
        if duplicate {
            self.totals.duplicates += u64::from(in_window);
            return false;
        }

        let offset = p.arrival_ns - ext_ts * 1_000_000_000 / self.clock_rate;
        let block = p.arrival_ns.div_euclid(BASELINE_NS);
        if block != self.block {
            self.prev_block_min_ns = if block == self.block + 1 {
                self.block_min_ns
            } else {
                i64::MAX
            };
            self.block_min_ns = i64::MAX;
            self.block = block;
        }
        let baseline = self.block_min_ns.min(self.prev_block_min_ns);
        let late = baseline != i64::MAX && offset - baseline > self.late_ns;
        self.block_min_ns = self.block_min_ns.min(offset);
        self.min_offset_ns = self.min_offset_ns.min(offset);
        if !in_window {
            return false;
        }
        self.totals.received += 1;
        self.totals.late += u64::from(late);
        let excess = (offset - self.min_offset_ns).max(0) as u64 / 1000;
        self.totals.max_excess_us = self.totals.max_excess_us.max(excess);
        if self.window_first.is_none_or(|f| ext_seq < f) {
            self.window_first = Some(ext_seq);
        }
        self.window_last = self.window_last.max(ext_seq);
        true
    }

    /// Distinct packets of the negotiated PT received in the window so far.
    pub fn received(&self) -> u64 {
        self.totals.received
    }

    /// The stream's counters for a window of `window_slots` packet times.
    pub fn totals(&self, window_slots: u64) -> RxTotals {
        let mut t = self.totals;
        let span = self
            .window_first
            .map_or(0, |f| (self.window_last - f + 1).max(0) as u64);
        t.expected = span.max(window_slots.saturating_sub(EDGE_SLACK));
        t.lost = t.expected.saturating_sub(t.received);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn packet(i: i64, arrival_ms: i64) -> RxPacket {
        RxPacket {
            arrival_ns: arrival_ms * MS,
            pt: 0,
            seq: (65_500 + i) as u16, // crosses the 16-bit wrap
            ts: (u32::MAX - 800).wrapping_add((i * 160) as u32), // and the 32-bit one
            ssrc: 7,
        }
    }

    #[test]
    fn clean_stream_has_no_loss_or_lateness() {
        let mut s = RxStream::new(0, 8000, 40);
        for i in 0..100 {
            s.on_packet(&packet(i, 5 + 20 * i), i >= 10);
        }
        let t = s.totals(90);
        assert_eq!((t.expected, t.received, t.lost, t.late), (90, 90, 0, 0));
    }

    #[test]
    fn gaps_duplicates_and_reordering() {
        let mut s = RxStream::new(0, 8000, 40);
        for i in 0..50 {
            if i == 20 || i == 21 || i == 30 {
                continue; // lost
            }
            s.on_packet(&packet(i, 20 * i), true);
        }
        s.on_packet(&packet(30, 20 * 30 + 10), true); // 30 arrives late-ish (10 ms): reordered
        s.on_packet(&packet(10, 20 * 49), true); // duplicate
        let t = s.totals(50);
        assert_eq!((t.received, t.lost, t.duplicates), (48, 2, 1));
        assert_eq!(t.late, 0);
    }

    #[test]
    fn late_packets_are_measured_against_the_earliest_path_delay() {
        let mut s = RxStream::new(0, 8000, 40);
        for i in 0..50 {
            let extra = match i {
                25 => 41, // late
                26 => 40, // not late: at the threshold
                _ => 0,
            };
            s.on_packet(&packet(i, 20 * i + 3 + extra), i >= 5);
        }
        let t = s.totals(45);
        assert_eq!((t.received, t.late), (45, 1));
        assert!((t.late_pct() - 100.0 / 45.0).abs() < 1e-9);
    }

    #[test]
    fn a_lasting_step_in_delay_is_late_for_about_one_baseline_block() {
        let mut s = RxStream::new(0, 8000, 40);
        // 10 s of packets; from packet 200 (4 s) on, every packet arrives 60 ms later.
        for i in 0..500 {
            let step = if i >= 200 { 60 } else { 0 };
            s.on_packet(&packet(i, 20 * i + step), true);
        }
        let t = s.totals(500);
        assert!((40..=100).contains(&t.late), "{t:?}");
        assert_eq!(t.max_excess_us, 60_000);
    }

    #[test]
    fn a_stalled_or_silent_stream_counts_as_lost() {
        let mut s = RxStream::new(0, 8000, 40);
        for i in 0..20 {
            s.on_packet(&packet(i, 20 * i), true);
        }
        let t = s.totals(100);
        assert_eq!((t.expected, t.received, t.lost), (97, 20, 77));
        let silent = RxStream::new(0, 8000, 40).totals(100);
        assert_eq!((silent.expected, silent.lost), (97, 97));
        assert_eq!(silent.lost_pct(), 100.0);
    }

    #[test]
    fn wrong_payload_type_is_counted_not_used() {
        let mut s = RxStream::new(96, 48000, 40);
        let mut p = packet(0, 0);
        assert!(!s.on_packet(&p, true));
        p.pt = 96;
        assert!(s.on_packet(&p, true));
        let t = s.totals(1);
        assert_eq!((t.wrong_pt, t.received), (1, 1));
    }

    #[test]
    fn totals_add_up() {
        let mut a = RxTotals {
            expected: 100,
            received: 99,
            lost: 1,
            ..RxTotals::default()
        };
        a.add(&RxTotals {
            expected: 100,
            received: 100,
            late: 2,
            ..RxTotals::default()
        });
        assert_eq!((a.expected, a.lost, a.late), (200, 1, 2));
        assert!((a.lost_pct() - 0.5).abs() < 1e-9);
        assert!((a.late_pct() - 100.0 * 2.0 / 199.0).abs() < 1e-9);
    }
}
