//! Egress SSRC, sequence number and timestamp rewriting, so each leg sees one continuous RTP
//! stream (RFC 3550 §5.1, §8.2) across re-routes, source switches and peer restarts.
//!
//! # Contract
//!
//! - The output has one SSRC for the life of the [`Rewriter`] and starts at the configured
//!   sequence number and timestamp (the caller picks them at random, RFC 3550 §5.1).
//! - Within one input stream, output = input + offset (modulo 2^16 and 2^32), so gaps,
//!   reordering and timestamp spacing (silence, DTX) pass through unchanged.
//! - When the input stream changes — a new SSRC, a sequence jump beyond A.1's `MAX_DROPOUT`
//!   / `MAX_MISORDER`, or a caller's [`Rewriter::signal_switch`] — the offsets are re-anchored
//!   so the next output sequence number is the previous highest plus one, and the output
//!   timestamp advances from the newest one by the real time elapsed since it arrived (from
//!   `now_us`, at the stream's clock rate, at least one sample). The first packet after a switch carries the
//!   marker bit, which tells the far end's jitter buffer to resynchronise; so does the very
//!   first packet when a switch was signalled before it (a stream continued by a new
//!   rewriter).
//! - A timestamp jump within one input stream re-anchors the timestamp only: a timestamp
//!   newer than the newest so far that moved more than `max_timestamp_skew_us` away from the
//!   real time elapsed since that newest one arrived, or a timestamp further back than the skew
//!   plus the span of an RFC 4733 event (whose packets repeat the event's start timestamp,
//!   §2.5.1.2, so older timestamps within that span are normal and pass unchanged).
//! - After a switch, packets of the previous SSRC arriving within `stale_grace_us`, and
//!   packets of the new stream older than its first packet, are refused
//!   ([`SourceError::StaleSource`]): mapping them would reuse output sequence numbers.
//! - Sans-IO, no allocation; time is `now_us`, microseconds on the caller's monotonic scale.

use crate::error::SourceError;
use crate::rtp::header::{RtpPacket, RtpTimestamp, SeqNo, Ssrc};
use crate::rtp::micros_to_samples;
use crate::rtp::stats::{MAX_DROPOUT, MAX_MISORDER};

/// How long RFC 4733 event packets may repeat an old timestamp: a full segment (65535
/// units, 8.2 s at 8 kHz, §2.5.1.3) with margin. Timestamps further back than this plus the
/// skew tolerance are a jump.
const EVENT_SPAN_US: u64 = 10_000_000;

/// Settings of a [`Rewriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewriteConfig {
    /// The output SSRC.
    pub ssrc: Ssrc,
    /// The first output sequence number.
    pub initial_seq: SeqNo,
    /// The first output timestamp.
    pub initial_timestamp: RtpTimestamp,
    /// The output RTP clock rate, Hz.
    pub clock_rate: u32,
    /// Largest difference between timestamp progress and real time, µs, before a timestamp
    /// jump is assumed.
    pub max_timestamp_skew_us: u64,
    /// How long after a switch late packets of the previous SSRC are refused, µs.
    pub stale_grace_us: u64,
}

impl RewriteConfig {
    /// Defaults for an output stream: 1 s skew tolerance, 2 s stale grace.
    pub const fn new(
        ssrc: Ssrc,
        initial_seq: SeqNo,
        initial_timestamp: RtpTimestamp,
        clock_rate: u32,
    ) -> RewriteConfig {
        RewriteConfig {
            ssrc,
            initial_seq,
            initial_timestamp,
            clock_rate,
            max_timestamp_skew_us: 1_000_000,
            stale_grace_us: 2_000_000,
        }
    }
}

/// The header fields to put on an outgoing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    /// The output SSRC.
    pub ssrc: Ssrc,
    /// The output sequence number.
    pub seq: SeqNo,
    /// The output timestamp.
    pub timestamp: RtpTimestamp,
    /// The marker bit: the input's, or set on the first packet after a switch.
    pub marker: bool,
}

/// Counters of a [`Rewriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RewriteCounters {
    /// Input stream switches (new SSRC, sequence restart, signalled).
    pub switches: u64,
    /// Timestamp jumps re-anchored within one input stream.
    pub timestamp_jumps: u64,
    /// Packets refused as stale.
    pub stale: u64,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    in_ssrc: Ssrc,
    /// The first input sequence number of this stream: older packets are stale.
    first_in_seq: SeqNo,
    seq_offset: u16,
    ts_offset: u32,
    /// The highest input sequence number and its output.
    last_in_seq: SeqNo,
    last_out_seq: SeqNo,
    /// The newest input timestamp, its output and when it arrived: the reference for
    /// timestamp jumps and for the timestamp after a switch. (Not the last packet's: RFC 4733
    /// event packets repeat their start timestamp for as long as the event lasts.)
    ref_in_ts: RtpTimestamp,
    ref_out_ts: RtpTimestamp,
    ref_us: u64,
}

/// Rewrites input streams into one continuous output stream. See the module docs.
#[derive(Debug, Clone)]
pub struct Rewriter {
    config: RewriteConfig,
    /// `max_timestamp_skew_us` in samples.
    skew_samples: i64,
    /// How far back a timestamp may lie before it is a jump, samples.
    backward_limit_samples: i64,
    anchor: Option<Anchor>,
    previous: Option<(Ssrc, u64)>,
    switch_pending: bool,
    counters: RewriteCounters,
}

impl Rewriter {
    /// A rewriter whose first packet gets `config.initial_seq` and `config.initial_timestamp`.
    ///
    /// # Panics
    ///
    /// If `clock_rate` is zero (a configuration bug).
    pub fn new(config: RewriteConfig) -> Rewriter {
        assert!(config.clock_rate > 0);
        Rewriter {
            config,
            skew_samples: micros_to_samples(config.max_timestamp_skew_us, config.clock_rate)
                .min(i64::MAX as u64 / 2) as i64,
            backward_limit_samples: micros_to_samples(
                config.max_timestamp_skew_us.saturating_add(EVENT_SPAN_US),
                config.clock_rate,
            )
            .min(i64::MAX as u64 / 2) as i64,
            anchor: None,
            previous: None,
            switch_pending: false,
            counters: RewriteCounters::default(),
        }
    }

    /// The output SSRC.
    pub fn ssrc(&self) -> Ssrc {
        self.config.ssrc
    }

    /// The counters.
    pub fn counters(&self) -> &RewriteCounters {
        &self.counters
    }

    /// The caller signals a re-route: the next packet starts a new input stream even if its
    /// SSRC is unchanged.
    pub fn signal_switch(&mut self) {
        self.switch_pending = true;
    }

    #[inline]
    fn samples(&self, us: u64) -> u64 {
        micros_to_samples(us, self.config.clock_rate)
    }

    /// The output header fields for an input packet that arrived at `now_us`.
    ///
    /// # Errors
    ///
    /// [`SourceError::StaleSource`] for a late packet across a switch: drop it.
    #[inline]
    pub fn rewrite(
        &mut self,
        now_us: u64,
        ssrc: Ssrc,
        seq: SeqNo,
        timestamp: RtpTimestamp,
        marker: bool,
    ) -> Result<Rewritten, SourceError> {
        let Some(mut a) = self.anchor else {
            let a = Anchor {
                in_ssrc: ssrc,
                first_in_seq: seq,
                seq_offset: self.config.initial_seq.0.wrapping_sub(seq.0),
                ts_offset: self.config.initial_timestamp.0.wrapping_sub(timestamp.0),
                last_in_seq: seq,
                last_out_seq: self.config.initial_seq,
                ref_in_ts: timestamp,
                ref_out_ts: self.config.initial_timestamp,
                ref_us: now_us,
            };
            self.anchor = Some(a);
            // A switch signalled before the first packet (a continued stream) marks it.
            let switched = std::mem::replace(&mut self.switch_pending, false);
            return Ok(self.output(&a, seq, timestamp, marker || switched));
        };
        let mut switched = false;
        let mut reference = false;
        if ssrc != a.in_ssrc {
            if let Some((old, at)) = self.previous {
                if old == ssrc && now_us.saturating_sub(at) < self.config.stale_grace_us {
                    self.counters.stale += 1;
                    return Err(SourceError::StaleSource(ssrc.0));
                }
            }
            switched = true;
        } else if self.switch_pending {
            switched = true;
        } else {
            let step = seq.diff(a.last_in_seq);
            if step > MAX_DROPOUT as i16 || step < -(MAX_MISORDER as i16) {
                // The source restarted its sequence: a new stream with the same SSRC.
                switched = true;
            } else if step < 0
                && a.last_in_seq.diff(a.first_in_seq) < MAX_MISORDER as i16
                && seq.diff(a.first_in_seq) < 0
            {
                // Older than the stream's first packet, which took the number after the
                // previous stream's last: mapping it would reuse an output number. (Once the
                // stream is MAX_MISORDER packets old, no accepted reordering reaches back that
                // far, and the comparison would break after 2^15 packets anyway.)
                self.counters.stale += 1;
                return Err(SourceError::StaleSource(ssrc.0));
            } else {
                let moved = i64::from(timestamp.diff(a.ref_in_ts));
                let elapsed = self.samples(now_us.saturating_sub(a.ref_us)) as i64;
                let jumped = if moved > 0 {
                    (moved - elapsed).abs() > self.skew_samples
                } else {
                    moved < -self.backward_limit_samples
                };
                if jumped {
                    let out_ts = a.ref_out_ts.wrapping_add(elapsed.max(1) as u32);
                    a.ts_offset = out_ts.0.wrapping_sub(timestamp.0);
                    self.counters.timestamp_jumps += 1;
                }
                reference = moved > 0 || jumped;
            }
        }
        if switched {
            let elapsed = self.samples(now_us.saturating_sub(a.ref_us)).max(1);
            let out_seq = a.last_out_seq.wrapping_add(1);
            let out_ts = a.ref_out_ts.wrapping_add(elapsed as u32);
            if ssrc != a.in_ssrc {
                self.previous = Some((a.in_ssrc, now_us));
            }
            a = Anchor {
                in_ssrc: ssrc,
                first_in_seq: seq,
                seq_offset: out_seq.0.wrapping_sub(seq.0),
                ts_offset: out_ts.0.wrapping_sub(timestamp.0),
                last_in_seq: seq,
                last_out_seq: out_seq,
                ref_in_ts: timestamp,
                ref_out_ts: out_ts,
                ref_us: now_us,
            };
            self.switch_pending = false;
            self.counters.switches += 1;
        }
        let out = self.output(&a, seq, timestamp, marker || switched);
        if seq.diff(a.last_in_seq) > 0 {
            a.last_in_seq = seq;
            a.last_out_seq = out.seq;
        }
        if reference {
            a.ref_in_ts = timestamp;
            a.ref_out_ts = out.timestamp;
            a.ref_us = now_us;
        }
        self.anchor = Some(a);
        Ok(out)
    }

    #[inline]
    fn output(&self, a: &Anchor, seq: SeqNo, timestamp: RtpTimestamp, marker: bool) -> Rewritten {
        Rewritten {
            ssrc: self.config.ssrc,
            seq: seq.wrapping_add(a.seq_offset),
            timestamp: timestamp.wrapping_add(a.ts_offset),
            marker,
        }
    }

    /// Rewrites a packet's SSRC, sequence number, timestamp and marker in place.
    ///
    /// # Errors
    ///
    /// As [`rewrite`](Self::rewrite); the packet is then untouched.
    #[inline]
    pub fn rewrite_in_place<T: AsRef<[u8]> + AsMut<[u8]>>(
        &mut self,
        now_us: u64,
        packet: &mut RtpPacket<T>,
    ) -> Result<Rewritten, SourceError> {
        let out = self.rewrite(
            now_us,
            packet.ssrc(),
            packet.sequence_number(),
            packet.timestamp(),
            packet.marker(),
        )?;
        packet.set_ssrc(out.ssrc);
        packet.set_sequence_number(out.seq);
        packet.set_timestamp(out.timestamp);
        packet.set_marker(out.marker);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    fn rewriter() -> Rewriter {
        Rewriter::new(RewriteConfig::new(
            Ssrc(0xABCD),
            SeqNo(65530),
            RtpTimestamp(1_000_000),
            8000,
        ))
    }

    #[test]
    fn one_stream_keeps_its_spacing_gaps_and_order() {
        let mut r = rewriter();
        let mut out = Vec::new();
        for (i, seq) in [100u16, 101, 103, 102, 104].into_iter().enumerate() {
            let ts = RtpTimestamp(5000 + (u32::from(seq) - 100) * 160);
            let now = i as u64 * 20 * MS;
            out.push(r.rewrite(now, Ssrc(1), SeqNo(seq), ts, false).unwrap());
        }
        let seqs: Vec<u16> = out.iter().map(|o| o.seq.0).collect();
        assert_eq!(seqs, [65530, 65531, 65533, 65532, 65534]);
        let ts: Vec<u32> = out.iter().map(|o| o.timestamp.0).collect();
        assert_eq!(ts, [1_000_000, 1_000_160, 1_000_480, 1_000_320, 1_000_640]);
        assert!(out.iter().all(|o| o.ssrc == Ssrc(0xABCD) && !o.marker));
    }

    /// A new input SSRC (another source) continues the output sequence without a gap and
    /// advances the timestamp by the 20 ms of real time that passed.
    #[test]
    fn sequence_stays_continuous_across_an_ssrc_switch() {
        let mut r = rewriter();
        let mut last = None;
        for i in 0..10u16 {
            let now = u64::from(i) * 20 * MS;
            last = Some(
                r.rewrite(
                    now,
                    Ssrc(1),
                    SeqNo(40000 + i),
                    RtpTimestamp(u32::from(i) * 160),
                    false,
                )
                .unwrap(),
            );
        }
        let last = last.unwrap();
        let first_b = r
            .rewrite(
                200 * MS,
                Ssrc(2),
                SeqNo(7),
                RtpTimestamp(987_654_321),
                false,
            )
            .unwrap();
        assert_eq!(first_b.seq, last.seq.wrapping_add(1));
        assert_eq!(first_b.timestamp, last.timestamp.wrapping_add(160));
        assert!(first_b.marker);
        let second_b = r
            .rewrite(
                220 * MS,
                Ssrc(2),
                SeqNo(8),
                RtpTimestamp(987_654_481),
                false,
            )
            .unwrap();
        assert_eq!(second_b.seq, first_b.seq.wrapping_add(1));
        assert_eq!(second_b.timestamp, first_b.timestamp.wrapping_add(160));
        assert!(!second_b.marker);
        // A late packet of the old source is refused, not mapped onto used numbers.
        assert_eq!(
            r.rewrite(225 * MS, Ssrc(1), SeqNo(40010), RtpTimestamp(1600), false),
            Err(SourceError::StaleSource(1))
        );
        // As is a packet of the new source older than its first.
        assert_eq!(
            r.rewrite(
                226 * MS,
                Ssrc(2),
                SeqNo(6),
                RtpTimestamp(987_654_161),
                false
            ),
            Err(SourceError::StaleSource(2))
        );
        assert_eq!(r.counters().switches, 1);
        assert_eq!(r.counters().stale, 2);
    }

    /// Hours of one stream (more than 2^16 packets) pass without a switch or a refusal.
    #[test]
    fn a_long_stream_passes_through_sequence_wrap_arounds() {
        let mut r = rewriter();
        let mut previous: Option<Rewritten> = None;
        for i in 0..200_000u32 {
            let out = r
                .rewrite(
                    u64::from(i) * 20 * MS,
                    Ssrc(1),
                    SeqNo(i as u16),
                    RtpTimestamp(i.wrapping_mul(160)),
                    false,
                )
                .unwrap();
            if let Some(p) = previous {
                assert_eq!(out.seq, p.seq.wrapping_add(1));
                assert_eq!(out.timestamp, p.timestamp.wrapping_add(160));
            }
            previous = Some(out);
        }
        // A reordered packet deep into the stream is mapped, not refused.
        let late = r
            .rewrite(
                4_000_010 * MS,
                Ssrc(1),
                SeqNo(199_990u32 as u16),
                RtpTimestamp(199_990u32 * 160),
                false,
            )
            .unwrap();
        assert_eq!(late.seq, SeqNo(previous.unwrap().seq.0.wrapping_sub(9)));
        assert_eq!(*r.counters(), RewriteCounters::default());
    }

    #[test]
    fn switching_back_after_the_grace_period_is_another_switch() {
        let mut r = rewriter();
        r.rewrite(0, Ssrc(1), SeqNo(1), RtpTimestamp(0), false)
            .unwrap();
        let b = r
            .rewrite(20 * MS, Ssrc(2), SeqNo(1), RtpTimestamp(0), false)
            .unwrap();
        let a = r
            .rewrite(3_020 * MS, Ssrc(1), SeqNo(2), RtpTimestamp(160), false)
            .unwrap();
        assert_eq!(a.seq, b.seq.wrapping_add(1));
        assert_eq!(a.timestamp, b.timestamp.wrapping_add(3_000 * 8));
    }

    #[test]
    fn timestamp_jump_within_a_stream_is_reanchored_to_real_time() {
        let mut r = rewriter();
        let a = r
            .rewrite(0, Ssrc(1), SeqNo(1), RtpTimestamp(0), false)
            .unwrap();
        // Next packet 20 ms later claims to be 100 s later.
        let b = r
            .rewrite(20 * MS, Ssrc(1), SeqNo(2), RtpTimestamp(800_000), false)
            .unwrap();
        assert_eq!(b.seq, a.seq.wrapping_add(1));
        assert_eq!(b.timestamp, a.timestamp.wrapping_add(160));
        let c = r
            .rewrite(40 * MS, Ssrc(1), SeqNo(3), RtpTimestamp(800_160), false)
            .unwrap();
        assert_eq!(c.timestamp, b.timestamp.wrapping_add(160));
        assert_eq!(r.counters().timestamp_jumps, 1);
        // Silence suppression (timestamps following real time) is not a jump.
        let d = r
            .rewrite(5_040 * MS, Ssrc(1), SeqNo(4), RtpTimestamp(840_160), false)
            .unwrap();
        assert_eq!(d.timestamp, c.timestamp.wrapping_add(40_000));
        assert_eq!(r.counters().timestamp_jumps, 1);
    }

    /// RFC 4733 events in the audio stream: updates repeat the event's start timestamp for
    /// 2 s while the audio is suppressed, then audio resumes 2 s later. Nothing is a jump, and
    /// a switch right after the event continues from real time.
    #[test]
    fn telephone_events_in_the_stream_are_not_timestamp_jumps() {
        let mut r = rewriter();
        let mut t = 0;
        let mut ts = 0u32;
        let mut seq = 0u16;
        let send = |r: &mut Rewriter, t: u64, ts: u32, seq: &mut u16| {
            *seq += 1;
            r.rewrite(t * MS, Ssrc(1), SeqNo(*seq), RtpTimestamp(ts), false)
                .unwrap()
        };
        for _ in 0..10 {
            send(&mut r, t, ts, &mut seq);
            t += 20;
            ts += 160;
        }
        let event_start = ts;
        let first_event = send(&mut r, t, event_start, &mut seq);
        for _ in 0..40 {
            t += 50;
            let update = send(&mut r, t, event_start, &mut seq);
            assert_eq!(update.timestamp, first_event.timestamp);
        }
        t += 20;
        let resumed = send(&mut r, t, event_start + 2_020 * 8, &mut seq);
        assert_eq!(
            resumed.timestamp,
            first_event.timestamp.wrapping_add(2_020 * 8)
        );
        assert_eq!(r.counters().timestamp_jumps, 0);
        // Audio continuing in parallel with a long event: old timestamps are not jumps either.
        let audio_ts = event_start + 2_020 * 8;
        for i in 1..200u32 {
            t += 20;
            send(&mut r, t, audio_ts + i * 160, &mut seq);
            if i % 3 == 0 {
                send(&mut r, t, audio_ts, &mut seq);
            }
        }
        assert_eq!(r.counters().timestamp_jumps, 0);
        // A timestamp 1 minute back is one.
        t += 20;
        send(&mut r, t, audio_ts.wrapping_sub(60 * 8000), &mut seq);
        assert_eq!(r.counters().timestamp_jumps, 1);
    }

    #[test]
    fn sequence_restart_and_signalled_switch_reanchor() {
        let mut r = rewriter();
        let a = r
            .rewrite(0, Ssrc(1), SeqNo(100), RtpTimestamp(0), false)
            .unwrap();
        let b = r
            .rewrite(20 * MS, Ssrc(1), SeqNo(30000), RtpTimestamp(160), false)
            .unwrap();
        assert_eq!(b.seq, a.seq.wrapping_add(1));
        assert!(b.marker);
        r.signal_switch();
        let c = r
            .rewrite(40 * MS, Ssrc(1), SeqNo(30001), RtpTimestamp(320), false)
            .unwrap();
        assert_eq!(c.seq, b.seq.wrapping_add(1));
        assert!(c.marker);
        assert_eq!(r.counters().switches, 2);
    }

    #[test]
    fn rewrites_a_packet_in_place() {
        use crate::rtp::header::{PayloadType, RtpHeader};
        let mut buf = [0u8; 32];
        let h = RtpHeader::new(PayloadType::PCMU, SeqNo(9), RtpTimestamp(99), Ssrc(5));
        let n = h.emit_packet(&[1, 2, 3], &mut buf).unwrap();
        let mut p = RtpPacket::new_checked(&mut buf[..n]).unwrap();
        let mut r = rewriter();
        r.rewrite_in_place(0, &mut p).unwrap();
        assert_eq!(
            (p.ssrc(), p.sequence_number(), p.timestamp()),
            (Ssrc(0xABCD), SeqNo(65530), RtpTimestamp(1_000_000))
        );
        assert_eq!(p.payload(), &[1, 2, 3]);
    }
}
