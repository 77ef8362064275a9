//! Per-stream RTP statistics (RFC 3550 Appendix A): source validation with probation and the
//! extended highest sequence number (A.1), cumulative and fractional loss (A.3), interarrival
//! jitter (A.8), and the LSR/DLSR fields and round-trip time of §6.4.1.
//!
//! # Contract
//!
//! - Time is an argument: `now_us` is microseconds on any monotonic scale the caller keeps for
//!   the stream; wallclock (for SR and round-trip time) enters as [`NtpTime`]. Nothing reads a
//!   clock, nothing allocates.
//! - [`ReceiveStats::handle_packet`] runs A.1's `update_seq` and returns what it decided
//!   ([`SeqVerdict`]); only [`SeqVerdict::Valid`] packets count as received and feed the
//!   jitter estimate. A new SSRC restarts the statistics (a new source, §8.2).
//! - The jitter is A.8's integer estimator (`J += |D| − (J + 8) / 16`, kept scaled by 16), so
//!   it equals the floating-point formula `J += (|D| − J) / 16` to within one timestamp unit.
//! - [`ReceiveStats::report_block`] computes A.3 and advances the "prior" counters: call it
//!   once per report sent.
//! - [`SendStats`] counts what we send (for the SR's sender info) and turns report blocks about
//!   our SSRC into a round-trip time: `A − LSR − DLSR` in 1/65536 s (§6.4.1).

use crate::rtp::header::{RtpTimestamp, SeqNo, Ssrc};
use crate::rtp::micros_to_samples;
use crate::rtp::rtcp::sr::{compact_to_micros, micros_to_compact};
use crate::rtp::rtcp::{NtpTime, ReportBlock, SenderInfo};

/// A.1: packets in sequence needed before a source is valid.
pub const MIN_SEQUENTIAL: u8 = 2;
/// A.1: the largest forward jump still taken as loss rather than a restart.
pub const MAX_DROPOUT: u16 = 3000;
/// A.1: the largest backward jump still taken as reordering.
pub const MAX_MISORDER: u16 = 100;
const RTP_SEQ_MOD: u32 = 1 << 16;

/// What A.1's `update_seq` decided about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In sequence, a small gap, a duplicate or reordered: counted.
    Valid,
    /// The source is still on probation (A.1 `MIN_SEQUENTIAL`): not yet counted.
    Probation,
    /// A jump too large to be loss or reordering; a second packet continuing from it restarts
    /// the sequence (the source restarted). Not counted.
    BadSequence,
}

/// Receive statistics for one remote source (RFC 3550 A.1, A.3, A.8).
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    clock_rate: u32,
    ssrc: Option<Ssrc>,
    max_seq: u16,
    /// Shifted count of sequence number cycles (A.1 `cycles`).
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u8,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous valid packet, timestamp units.
    transit: Option<u32>,
    /// Jitter scaled by 16 (A.8 integer version).
    jitter_q4: u64,
    octets: u64,
    last_sr: Option<(u32, u64)>,
    restarts: u32,
}

impl ReceiveStats {
    /// Statistics for a stream whose RTP clock runs at `clock_rate` Hz.
    ///
    /// # Panics
    ///
    /// If `clock_rate` is zero (a configuration bug).
    pub fn new(clock_rate: u32) -> ReceiveStats {
        assert!(clock_rate > 0);
        ReceiveStats {
            clock_rate,
            ssrc: None,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            octets: 0,
            last_sr: None,
            restarts: 0,
        }
    }

    /// The source these statistics describe, once a packet has arrived.
    pub fn ssrc(&self) -> Option<Ssrc> {
        self.ssrc
    }

    /// A.1 `init_seq`.
    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// A.1 `update_seq`.
    fn update_seq(&mut self, seq: u16) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqVerdict::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqVerdict::Probation;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a big jump: the source restarted.
                self.init_seq(seq);
                self.transit = None;
                self.restarts += 1;
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return SeqVerdict::BadSequence;
            }
        }
        // Otherwise a duplicate or reordered packet: counted, max_seq unchanged.
        self.received = self.received.wrapping_add(1);
        SeqVerdict::Valid
    }

    /// Handles an RTP packet that arrived at `now_us`. A new SSRC restarts the statistics
    /// with a fresh probation.
    pub fn handle_packet(
        &mut self,
        now_us: u64,
        ssrc: Ssrc,
        seq: SeqNo,
        timestamp: RtpTimestamp,
        payload_len: usize,
    ) -> SeqVerdict {
        if self.ssrc != Some(ssrc) {
            let restarts = self.restarts + u32::from(self.ssrc.is_some());
            *self = ReceiveStats::new(self.clock_rate);
            self.restarts = restarts;
            self.ssrc = Some(ssrc);
            // A.1: a new source starts on probation, as if its previous packet were seq - 1.
            self.init_seq(seq.0);
            self.max_seq = seq.0.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        let verdict = self.update_seq(seq.0);
        if verdict == SeqVerdict::Valid {
            self.octets += payload_len as u64;
            self.update_jitter(now_us, timestamp);
        }
        verdict
    }

    /// A.8: `D = (Rj − Ri) − (Sj − Si)`, `J += (|D| − J) / 16`, in integer form.
    #[inline]
    fn update_jitter(&mut self, now_us: u64, timestamp: RtpTimestamp) {
        let arrival = micros_to_samples(now_us, self.clock_rate) as u32;
        let transit = arrival.wrapping_sub(timestamp.0);
        if let Some(previous) = self.transit {
            let d = u64::from((transit.wrapping_sub(previous) as i32).unsigned_abs());
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// Records an SR from this source received at `now_us` (for LSR and DLSR).
    pub fn handle_sender_report(&mut self, now_us: u64, ntp_time: NtpTime) {
        self.last_sr = Some((ntp_time.compact(), now_us));
    }

    /// The extended highest sequence number received (A.1: cycles + max_seq).
    pub fn extended_highest_sequence(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected since the source became valid (A.3); none before it is (a leg that
    /// never received a packet lost none).
    pub fn expected(&self) -> u32 {
        if !self.is_valid() {
            return 0;
        }
        self.extended_highest_sequence()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Packets received (counted) since the source became valid.
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Payload octets received in counted packets.
    pub fn octets(&self) -> u64 {
        self.octets
    }

    /// Cumulative packets lost (A.3), negative when duplicates outnumber losses.
    pub fn cumulative_lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// The interarrival jitter in timestamp units, as a report block carries it.
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }

    /// The interarrival jitter with its fractional part, timestamp units.
    pub fn jitter_exact(&self) -> f64 {
        self.jitter_q4 as f64 / 16.0
    }

    /// How many times the statistics restarted (new SSRC, or A.1 resynchronisation).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// True once the source passed probation.
    pub fn is_valid(&self) -> bool {
        self.ssrc.is_some() && self.probation == 0
    }

    /// The report block about this source at `now_us` (A.3), or `None` before the source is
    /// valid. Advances the interval counters behind `fraction_lost`.
    pub fn report_block(&mut self, now_us: u64) -> Option<ReportBlock> {
        let ssrc = self.ssrc.filter(|_| self.probation == 0)?;
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            Some((lsr, at)) => (lsr, micros_to_compact(now_us.saturating_sub(at))),
            None => (0, 0),
        };
        Some(ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(
                i64::from(ReportBlock::CUMULATIVE_LOST_MIN),
                i64::from(ReportBlock::CUMULATIVE_LOST_MAX),
            ) as i32,
            highest_sequence: self.extended_highest_sequence(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }
}

/// What we send on a stream, for the SR's sender info, and the round-trip time learned from
/// the peer's report blocks about us.
#[derive(Debug, Clone)]
pub struct SendStats {
    ssrc: Ssrc,
    clock_rate: u32,
    packets: u32,
    octets: u32,
    /// The newest timestamp sent and when (RFC 4733 packets repeat older ones).
    newest: Option<(RtpTimestamp, u64)>,
    last_sent_us: Option<u64>,
    rtt_us: Option<u64>,
    remote_report: Option<ReportBlock>,
}

impl SendStats {
    /// Statistics for our stream `ssrc` with an RTP clock of `clock_rate` Hz.
    ///
    /// # Panics
    ///
    /// If `clock_rate` is zero (a configuration bug).
    pub fn new(ssrc: Ssrc, clock_rate: u32) -> SendStats {
        assert!(clock_rate > 0);
        SendStats {
            ssrc,
            clock_rate,
            packets: 0,
            octets: 0,
            newest: None,
            last_sent_us: None,
            rtt_us: None,
            remote_report: None,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> Ssrc {
        self.ssrc
    }

    /// Records a packet sent at `now_us` with `timestamp` and `payload_len` payload bytes.
    #[inline]
    pub fn handle_sent(&mut self, now_us: u64, timestamp: RtpTimestamp, payload_len: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.last_sent_us = Some(now_us);
        if self
            .newest
            .is_none_or(|(newest, _)| timestamp.diff(newest) > 0)
        {
            self.newest = Some((timestamp, now_us));
        }
    }

    /// The newest timestamp sent and when (µs), if anything was sent.
    pub fn newest(&self) -> Option<(RtpTimestamp, u64)> {
        self.newest
    }

    /// When we last sent a packet, if ever.
    pub fn last_sent_us(&self) -> Option<u64> {
        self.last_sent_us
    }

    /// The SR sender info at `now_us` / `now_ntp` (the same instant on the two clocks): the
    /// RTP timestamp is the newest one sent, advanced by the time since (§6.4.1).
    pub fn sender_info(&self, now_us: u64, now_ntp: NtpTime) -> SenderInfo {
        let rtp_timestamp = match self.newest {
            Some((ts, at)) => {
                let elapsed = now_us.saturating_sub(at);
                let samples = micros_to_samples(elapsed, self.clock_rate);
                ts.wrapping_add(samples as u32)
            }
            None => RtpTimestamp(0),
        };
        SenderInfo {
            ntp_time: now_ntp,
            rtp_timestamp,
            packet_count: self.packets,
            octet_count: self.octets,
        }
    }

    /// Handles a report block from the peer that arrived at `now_ntp`. If it is about our
    /// SSRC and answers one of our SRs, returns the round-trip time in µs (§6.4.1:
    /// `A − LSR − DLSR`).
    pub fn handle_report_block(&mut self, now_ntp: NtpTime, block: &ReportBlock) -> Option<u64> {
        if block.ssrc != self.ssrc {
            return None;
        }
        self.remote_report = Some(*block);
        if block.last_sr == 0 {
            return None;
        }
        let rtt = now_ntp
            .compact()
            .wrapping_sub(block.last_sr)
            .wrapping_sub(block.delay_since_last_sr);
        // A negative result means clocks or the report are bogus.
        if (rtt as i32) < 0 {
            return None;
        }
        let rtt_us = compact_to_micros(rtt);
        self.rtt_us = Some(rtt_us);
        Some(rtt_us)
    }

    /// The latest round-trip time, µs.
    pub fn rtt_us(&self) -> Option<u64> {
        self.rtt_us
    }

    /// The peer's latest report block about our stream (its view of our loss and jitter).
    pub fn remote_report(&self) -> Option<&ReportBlock> {
        self.remote_report.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    fn feed(stats: &mut ReceiveStats, seqs: impl IntoIterator<Item = u16>) -> Vec<SeqVerdict> {
        seqs.into_iter()
            .map(|s| {
                let ts = RtpTimestamp(u32::from(s) * 160);
                stats.handle_packet(u64::from(s) * 20 * MS, Ssrc(1), SeqNo(s), ts, 160)
            })
            .collect()
    }

    #[test]
    fn a_source_never_heard_lost_nothing() {
        let mut s = ReceiveStats::new(8000);
        assert_eq!((s.expected(), s.received(), s.cumulative_lost()), (0, 0, 0));
        feed(&mut s, [10]);
        assert!(!s.is_valid(), "still on probation");
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn probation_needs_two_packets_in_sequence() {
        let mut s = ReceiveStats::new(8000);
        assert_eq!(
            feed(&mut s, [10, 12, 13, 14]),
            [
                SeqVerdict::Probation,
                SeqVerdict::Probation,
                SeqVerdict::Valid,
                SeqVerdict::Valid
            ]
        );
        assert!(s.is_valid());
        assert_eq!((s.expected(), s.received(), s.cumulative_lost()), (2, 2, 0));
    }

    #[test]
    fn loss_counts_across_the_65535_wrap() {
        let mut s = ReceiveStats::new(8000);
        // 65530..=65535, 0..=9 with 65534, 2 and 3 lost.
        let seqs = (65530..=65535u16)
            .chain(0..=9)
            .filter(|s| ![65534, 2, 3].contains(s));
        let verdicts = feed(&mut s, seqs);
        assert_eq!(verdicts[0], SeqVerdict::Probation);
        // Valid from 65531: expected 65531..=65535 (5) + 0..=9 (10) = 15; received 12.
        assert_eq!(s.extended_highest_sequence(), (1 << 16) + 9);
        assert_eq!(s.expected(), 15);
        assert_eq!(s.received(), 12);
        assert_eq!(s.cumulative_lost(), 3);
        let block = s.report_block(1_000_000).unwrap();
        assert_eq!(block.cumulative_lost, 3);
        assert_eq!(block.fraction_lost, 51); // 3 × 256 / 15
        assert_eq!(block.highest_sequence, 65545);
        // The next interval has no loss.
        feed(&mut s, 10..=20);
        assert_eq!(s.report_block(2_000_000).unwrap().fraction_lost, 0);
    }

    #[test]
    fn duplicates_make_loss_negative_and_reordering_is_counted() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, [1, 2, 3, 3, 5, 4, 4]);
        assert_eq!(s.expected(), 4); // 2..=5
        assert_eq!(s.received(), 6);
        assert_eq!(s.cumulative_lost(), -2);
        assert_eq!(s.report_block(0).unwrap().fraction_lost, 0);
    }

    #[test]
    fn a_big_jump_is_dropped_once_then_restarts_the_sequence() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, [1, 2, 3]);
        assert_eq!(
            feed(&mut s, [40000, 40001, 40002]),
            [
                SeqVerdict::BadSequence,
                SeqVerdict::Valid,
                SeqVerdict::Valid
            ]
        );
        assert_eq!(s.restarts(), 1);
        assert_eq!((s.expected(), s.received()), (2, 2));
    }

    #[test]
    fn constant_delay_stream_has_zero_jitter() {
        let mut s = ReceiveStats::new(8000);
        for i in 0..500u32 {
            let now = 5_000_000 + u64::from(i) * 20 * MS;
            s.handle_packet(
                now,
                Ssrc(9),
                SeqNo(i as u16),
                RtpTimestamp(i * 160 + 77),
                160,
            );
        }
        assert_eq!(s.jitter(), 0);
        assert_eq!(s.jitter_exact(), 0.0);
    }

    /// A.8 with a known pattern: arrivals alternate 0 and +4 ms off a 20 ms grid, so every
    /// |D| after the first is 32 units; J converges to 32 following `J += (|D| − J) / 16`.
    #[test]
    fn jitter_follows_the_a8_formula() {
        let mut s = ReceiveStats::new(8000);
        let mut reference = 0.0f64;
        let mut previous_transit: Option<f64> = None;
        for i in 0..400u32 {
            let offset_us = if i % 2 == 1 { 4 * MS } else { 0 };
            let now = u64::from(i) * 20 * MS + offset_us;
            let ts = i * 160;
            let verdict = s.handle_packet(now, Ssrc(3), SeqNo(i as u16), RtpTimestamp(ts), 160);
            if verdict == SeqVerdict::Valid {
                let transit = now as f64 * 8000.0 / 1e6 - f64::from(ts);
                if let Some(p) = previous_transit {
                    reference += ((transit - p).abs() - reference) / 16.0;
                }
                previous_transit = Some(transit);
            }
            assert!(
                (s.jitter_exact() - reference).abs() <= 1.0,
                "packet {i}: {} vs {reference}",
                s.jitter_exact()
            );
        }
        assert_eq!(s.jitter(), 31); // converged to 32 from below, integer estimator
        assert!((reference - 32.0).abs() < 0.5);
    }

    #[test]
    fn new_ssrc_restarts_statistics() {
        let mut s = ReceiveStats::new(8000);
        feed(&mut s, [1, 2, 3, 4]);
        let v = s.handle_packet(0, Ssrc(2), SeqNo(100), RtpTimestamp(0), 10);
        assert_eq!(v, SeqVerdict::Probation);
        assert_eq!(s.ssrc(), Some(Ssrc(2)));
        assert_eq!(s.restarts(), 1);
        assert!(s.report_block(0).is_none());
    }

    #[test]
    fn lsr_dlsr_and_round_trip_time() {
        // The peer (sender) sends an SR at its NTP T; we receive it and report 1.5 s later;
        // the peer gets our report 100 ms after that: RTT = 100 ms.
        let t = NtpTime::from_unix_micros(1_700_000_000_000_000);
        let mut rx = ReceiveStats::new(8000);
        feed(&mut rx, [1, 2, 3]);
        rx.handle_sender_report(10_000_000, t);
        let block = rx.report_block(11_500_000).unwrap();
        assert_eq!(block.last_sr, t.compact());
        assert_eq!(block.delay_since_last_sr, 0x0001_8000);

        let mut tx = SendStats::new(Ssrc(1), 8000);
        let arrival = NtpTime::from_unix_micros(1_700_000_001_600_000);
        let rtt = tx.handle_report_block(arrival, &block).unwrap();
        assert!((rtt as i64 - 100_000).abs() <= 30, "{rtt}");
        assert_eq!(tx.rtt_us(), Some(rtt));
        // Blocks about other sources or without LSR give nothing.
        let other = ReportBlock {
            ssrc: Ssrc(5),
            ..block
        };
        assert_eq!(tx.handle_report_block(arrival, &other), None);
    }

    #[test]
    fn sender_info_extrapolates_the_rtp_timestamp() {
        let mut tx = SendStats::new(Ssrc(1), 8000);
        tx.handle_sent(1_000_000, RtpTimestamp(1000), 160);
        tx.handle_sent(1_020_000, RtpTimestamp(1160), 160);
        // An RFC 4733 update repeating an older timestamp does not move the reference.
        tx.handle_sent(1_030_000, RtpTimestamp(1000), 4);
        let info = tx.sender_info(1_520_000, NtpTime(42));
        assert_eq!(info.rtp_timestamp, RtpTimestamp(1160 + 4000));
        assert_eq!((info.packet_count, info.octet_count), (3, 324));
        assert_eq!(tx.last_sent_us(), Some(1_030_000));
        assert_eq!(info.ntp_time, NtpTime(42));
    }
}
