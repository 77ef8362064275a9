//! When to send RTCP (RFC 3550 §6.2, §6.3 and the algorithm of A.7, with timer
//! reconsideration), and the report a stream sends: SR or RR plus SDES CNAME (§6.1, §6.4).
//!
//! # Contract
//!
//! - [`RtcpSchedule`] is sans-IO: the caller passes `now_us` (microseconds on its monotonic
//!   scale) and a [`RandomSource`] for the randomisation of §6.3.1 (interval × [0.5, 1.5),
//!   divided by e − 3/2). A seeded source makes the schedule reproducible in tests.
//! - Drive it as: sleep until [`poll_timeout`](RtcpSchedule::poll_timeout); call
//!   [`handle_timeout`](RtcpSchedule::handle_timeout); if it says send, build the compound
//!   (for example with [`emit_report`]) and call [`handle_sent`](RtcpSchedule::handle_sent)
//!   with its size. Call [`handle_received`](RtcpSchedule::handle_received) for every RTCP
//!   compound received, so the average size tracks the session (§6.3.3).
//! - The minimum interval is 5 s (2.5 s before the first report, §6.2), or RFC 3550's optional
//!   reduced minimum `360 / session kb/s` when configured. No allocation.
//! - [`emit_report`] writes an SR (if we sent RTP since the last-but-one report, §6.4) or an RR,
//!   with one report block per valid remote source, followed by an SDES CNAME, into the
//!   caller's buffer and returns the length. At most [`REPORT_BLOCKS_MAX`] blocks are sent.

use crate::error::EmitError;
use crate::rtp::header::Ssrc;
use crate::rtp::rtcp::{CompoundWriter, NtpTime, ReportBlock};
use crate::rtp::stats::{ReceiveStats, SendStats};

/// A source of uniform random numbers for the RTCP interval (§6.3.1).
pub trait RandomSource {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// A uniform sample from [0, 1).
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// SplitMix64: a small seeded generator, good enough for timer randomisation (not for keys).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub const fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }
}

impl RandomSource for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Settings of an [`RtcpSchedule`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleConfig {
    /// Session bandwidth, bits per second (§6.2: the nominal data bandwidth, e.g. 64000 plus
    /// headers for G.711 at 20 ms: 87200).
    pub session_bandwidth_bps: u32,
    /// Fraction of the session bandwidth for RTCP (§6.2: 5 %).
    pub rtcp_fraction: f64,
    /// Use the reduced minimum interval `360 / session kb/s` instead of 5 s (§6.2).
    pub reduced_minimum: bool,
    /// Members of the session, including us (2 for a point-to-point leg).
    pub members: u32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            session_bandwidth_bps: 87_200,
            rtcp_fraction: 0.05,
            reduced_minimum: false,
            members: 2,
        }
    }
}

/// A.7's constants.
const RTCP_MIN_TIME_S: f64 = 5.0;
const RTCP_SENDER_BW_FRACTION: f64 = 0.25;
const RTCP_RCVR_BW_FRACTION: f64 = 1.0 - RTCP_SENDER_BW_FRACTION;
/// e − 3/2, compensating for timer reconsideration (§6.3.1).
const COMPENSATION: f64 = core::f64::consts::E - 1.5;
/// IPv4 + UDP header bytes added to a compound's size for the average (§6.2).
pub const IP_UDP_OVERHEAD: usize = 28;
/// Report blocks [`emit_report`] writes at most (one SR or RR holds 31).
pub const REPORT_BLOCKS_MAX: usize = 31;

/// The RTCP transmission timer of one stream (RFC 3550 A.7). See the module docs.
#[derive(Debug, Clone)]
pub struct RtcpSchedule {
    config: ScheduleConfig,
    /// Time of the last transmission (tp).
    last_sent_us: u64,
    /// Time of the next scheduled transmission (tn).
    next_us: u64,
    avg_rtcp_size: f64,
    initial: bool,
    senders: u32,
    we_sent: bool,
}

impl RtcpSchedule {
    /// A schedule starting at `now_us`: the first report is due after the initial interval.
    /// `initial_size` is the expected size of our first compound (bytes without IP/UDP).
    pub fn new(
        now_us: u64,
        config: ScheduleConfig,
        initial_size: usize,
        rng: &mut impl RandomSource,
    ) -> RtcpSchedule {
        let mut s = RtcpSchedule {
            config,
            last_sent_us: now_us,
            next_us: now_us,
            avg_rtcp_size: (initial_size + IP_UDP_OVERHEAD) as f64,
            initial: true,
            senders: 0,
            we_sent: false,
        };
        s.next_us = now_us + s.interval_us(rng);
        s
    }

    /// Tells the schedule how many members are senders and whether we are one (§6.3).
    pub fn set_senders(&mut self, senders: u32, we_sent: bool) {
        self.senders = senders;
        self.we_sent = we_sent;
    }

    /// The deterministic part of the interval, before randomisation (A.7 `rtcp_interval`
    /// without the `drand48` factor and compensation), µs.
    pub fn deterministic_interval_us(&self) -> u64 {
        let mut rtcp_bw =
            f64::from(self.config.session_bandwidth_bps) / 8.0 * self.config.rtcp_fraction;
        let members = f64::from(self.config.members.max(1));
        let senders = f64::from(self.senders);
        let mut n = members;
        if senders <= members * RTCP_SENDER_BW_FRACTION {
            if self.we_sent {
                rtcp_bw *= RTCP_SENDER_BW_FRACTION;
                n = senders.max(1.0);
            } else {
                rtcp_bw *= RTCP_RCVR_BW_FRACTION;
                n = (members - senders).max(1.0);
            }
        }
        let mut tmin = if self.config.reduced_minimum && self.config.session_bandwidth_bps > 0 {
            360.0 / (f64::from(self.config.session_bandwidth_bps) / 1000.0)
        } else {
            RTCP_MIN_TIME_S
        };
        if self.initial {
            tmin /= 2.0;
        }
        let t = if rtcp_bw > 0.0 {
            self.avg_rtcp_size * n / rtcp_bw
        } else {
            tmin
        };
        (t.max(tmin) * 1e6) as u64
    }

    /// A randomised interval (A.7 `rtcp_interval`), µs.
    pub fn interval_us(&self, rng: &mut impl RandomSource) -> u64 {
        let t = self.deterministic_interval_us() as f64;
        (t * (rng.next_unit() + 0.5) / COMPENSATION) as u64
    }

    /// When the timer next expires.
    pub fn poll_timeout(&self) -> u64 {
        self.next_us
    }

    /// The timer expired (A.7 `OnExpire`, timer reconsideration): returns `true` if a report
    /// should be sent now; otherwise the timer was rescheduled.
    pub fn handle_timeout(&mut self, now_us: u64, rng: &mut impl RandomSource) -> bool {
        if now_us < self.next_us {
            return false;
        }
        let t = self.interval_us(rng);
        if self.last_sent_us + t <= now_us {
            true
        } else {
            self.next_us = self.last_sent_us + t;
            false
        }
    }

    /// A compound of `size` bytes (without IP/UDP) was sent at `now_us`.
    pub fn handle_sent(&mut self, now_us: u64, size: usize, rng: &mut impl RandomSource) {
        self.update_average(size);
        self.last_sent_us = now_us;
        self.initial = false;
        self.next_us = now_us + self.interval_us(rng);
    }

    /// A compound of `size` bytes (without IP/UDP) was received (§6.3.3).
    pub fn handle_received(&mut self, size: usize) {
        self.update_average(size);
    }

    fn update_average(&mut self, size: usize) {
        let packet = (size + IP_UDP_OVERHEAD) as f64;
        self.avg_rtcp_size = packet / 16.0 + self.avg_rtcp_size * 15.0 / 16.0;
    }

    /// The average compound size, bytes with IP/UDP headers (§6.3.3 `avg_rtcp_size`).
    pub fn average_size(&self) -> f64 {
        self.avg_rtcp_size
    }
}

/// The longest report [`emit_report`] writes with a CNAME of `cname_len` bytes: an SR with
/// [`REPORT_BLOCKS_MAX`] blocks and the SDES. Size the report buffer with it.
pub const fn report_len_max(cname_len: usize) -> usize {
    crate::rtp::rtcp::SenderReport::buffer_len(REPORT_BLOCKS_MAX)
        + crate::rtp::rtcp::HEADER_LEN
        + (4 + 2 + cname_len + 1).div_ceil(4) * 4
}

/// Writes this stream's report into `buf` and returns its length: an SR when `sender` is
/// given (we sent RTP since the last-but-one report, §6.4), an RR otherwise, with one block
/// per valid source in `receivers` (advancing their A.3 interval counters), then an SDES with
/// our `cname` (§6.5.1). `now_us` and `now_ntp` are the same instant on the two clocks.
///
/// # Errors
///
/// [`EmitError::BufferTooSmall`] and the SDES errors of
/// [`SourceDescription::emit`](crate::rtp::rtcp::SourceDescription::emit).
pub fn emit_report(
    now_us: u64,
    now_ntp: NtpTime,
    ssrc: Ssrc,
    cname: &[u8],
    sender: Option<&SendStats>,
    receivers: &mut [ReceiveStats],
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let mut blocks = [ReportBlock::default(); REPORT_BLOCKS_MAX];
    let mut count = 0;
    for stats in receivers.iter_mut() {
        if count == REPORT_BLOCKS_MAX {
            break;
        }
        if let Some(block) = stats.report_block(now_us) {
            blocks[count] = block;
            count += 1;
        }
    }
    let mut writer = CompoundWriter::new(buf);
    match sender {
        Some(s) => writer.sender_report(ssrc, &s.sender_info(now_us, now_ntp), &blocks[..count])?,
        None => writer.receiver_report(ssrc, &blocks[..count])?,
    };
    writer.cname(ssrc, cname)?;
    Ok(writer.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::header::{RtpTimestamp, SeqNo};
    use crate::rtp::rtcp::{Compound, RtcpRepr};

    #[test]
    fn point_to_point_voice_uses_the_five_second_minimum() {
        let mut rng = SplitMix64::new(1);
        let mut s = RtcpSchedule::new(0, ScheduleConfig::default(), 80, &mut rng);
        // Initial: half the minimum.
        assert_eq!(s.deterministic_interval_us(), 2_500_000);
        s.handle_sent(s.poll_timeout(), 80, &mut rng);
        assert_eq!(s.deterministic_interval_us(), 5_000_000);
    }

    #[test]
    fn randomised_interval_stays_in_the_a7_bounds_and_averages_to_the_deterministic_one() {
        let mut rng = SplitMix64::new(7);
        let mut s = RtcpSchedule::new(0, ScheduleConfig::default(), 80, &mut rng);
        s.handle_sent(1, 80, &mut rng);
        let td = s.deterministic_interval_us() as f64;
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let t = s.interval_us(&mut rng) as f64;
            assert!(t >= td * 0.5 / COMPENSATION - 1.0 && t < td * 1.5 / COMPENSATION);
            sum += t;
        }
        let mean = sum / 10_000.0;
        assert!((mean - td / COMPENSATION).abs() / (td / COMPENSATION) < 0.02);
    }

    #[test]
    fn large_sessions_scale_the_interval_with_members_and_size() {
        let mut rng = SplitMix64::new(3);
        let config = ScheduleConfig {
            members: 100,
            session_bandwidth_bps: 64_000,
            ..ScheduleConfig::default()
        };
        let mut s = RtcpSchedule::new(0, config, 100, &mut rng);
        s.handle_sent(0, 100, &mut rng);
        s.set_senders(1, false);
        // Receivers share 75 % of 5 % of 8000 B/s = 300 B/s; 99 receivers × 128 B.
        let expected = 128.0 * 99.0 / 300.0;
        let got = s.deterministic_interval_us() as f64 / 1e6;
        assert!((got - expected).abs() < 0.01, "{got} vs {expected}");
        // As the only sender we get 25 % for ourselves: 128 B / 100 B/s, below the minimum.
        s.set_senders(1, true);
        assert_eq!(s.deterministic_interval_us(), 5_000_000);
    }

    #[test]
    fn reduced_minimum_follows_the_session_bandwidth() {
        let mut rng = SplitMix64::new(3);
        let config = ScheduleConfig {
            reduced_minimum: true,
            session_bandwidth_bps: 360_000,
            ..ScheduleConfig::default()
        };
        let mut s = RtcpSchedule::new(0, config, 10, &mut rng);
        s.handle_sent(0, 10, &mut rng);
        // 360 / 360 kb/s = 1 s, longer than the bandwidth share for two small members.
        assert_eq!(s.deterministic_interval_us(), 1_000_000);
    }

    #[test]
    fn timer_reconsideration_and_virtual_time_run() {
        let mut rng = SplitMix64::new(42);
        let mut s = RtcpSchedule::new(0, ScheduleConfig::default(), 80, &mut rng);
        let mut sent = Vec::new();
        let mut now = 0;
        while now < 600_000_000 {
            now = s.poll_timeout();
            if s.handle_timeout(now, &mut rng) {
                sent.push(now);
                s.handle_sent(now, 80, &mut rng);
            }
        }
        // 10 minutes at a mean of 5 s: about 120 reports, none closer than 2.5 s / (e − 1.5)
        // × 0.5 apart.
        assert!((100..=140).contains(&sent.len()), "{}", sent.len());
        let min_gap = sent.windows(2).map(|w| w[1] - w[0]).min().unwrap();
        assert!(min_gap as f64 >= 5e6 * 0.5 / COMPENSATION - 1.0);
        // Same seed, same schedule.
        let mut rng2 = SplitMix64::new(42);
        let s2 = RtcpSchedule::new(0, ScheduleConfig::default(), 80, &mut rng2);
        let mut rng3 = SplitMix64::new(42);
        let s3 = RtcpSchedule::new(0, ScheduleConfig::default(), 80, &mut rng3);
        assert_eq!(s2.poll_timeout(), s3.poll_timeout());
    }

    #[test]
    fn the_largest_report_fits_report_len_max() {
        let mut send = SendStats::new(Ssrc(1), 8000);
        send.handle_sent(0, RtpTimestamp(0), 160);
        let mut rx: Vec<ReceiveStats> = (0..40).map(|_| ReceiveStats::new(8000)).collect();
        for (n, stats) in rx.iter_mut().enumerate() {
            for i in 0..3u16 {
                stats.handle_packet(0, Ssrc(n as u32 + 10), SeqNo(i), RtpTimestamp(0), 0);
            }
        }
        let cname = [b'c'; 255];
        let mut buf = vec![0u8; report_len_max(cname.len())];
        let n = emit_report(
            0,
            NtpTime(0),
            Ssrc(1),
            &cname,
            Some(&send),
            &mut rx,
            &mut buf,
        )
        .unwrap();
        assert_eq!(n, report_len_max(cname.len()));
    }

    #[test]
    fn report_is_sr_with_blocks_when_sending_and_rr_otherwise() {
        let mut send = SendStats::new(Ssrc(1), 8000);
        send.handle_sent(0, RtpTimestamp(0), 160);
        let mut rx = [ReceiveStats::new(8000), ReceiveStats::new(8000)];
        for i in 0..5u16 {
            rx[0].handle_packet(
                u64::from(i) * 20_000,
                Ssrc(2),
                SeqNo(i),
                RtpTimestamp(0),
                160,
            );
        }
        let mut buf = [0u8; 512];
        let now_ntp = NtpTime::from_unix_micros(1_000_000);
        let n = emit_report(
            1_000_000,
            now_ntp,
            Ssrc(1),
            b"me@tandem",
            Some(&send),
            &mut rx,
            &mut buf,
        )
        .unwrap();
        let c = Compound::new_checked(&buf[..n]).unwrap();
        let reprs: Vec<_> = c.reprs().map(Result::unwrap).collect();
        match &reprs[0] {
            RtcpRepr::SenderReport(sr) => {
                assert_eq!(sr.ssrc, Ssrc(1));
                assert_eq!(sr.sender_info.packet_count, 1);
                let blocks: Vec<_> = sr.report_blocks.collect();
                assert_eq!(blocks.len(), 1); // the second source never sent
                assert_eq!(blocks[0].ssrc, Ssrc(2));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(reprs[1], RtcpRepr::SourceDescription(_)));
        let n = emit_report(2_000_000, now_ntp, Ssrc(1), b"me", None, &mut rx, &mut buf).unwrap();
        assert!(n <= report_len_max(2));
        let c = Compound::new_checked(&buf[..n]).unwrap();
        assert!(matches!(
            c.reprs().next(),
            Some(Ok(RtcpRepr::ReceiverReport(rr))) if rr.report_blocks.len() == 1
        ));
    }
}
