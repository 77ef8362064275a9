//! One stream's quality over time. Each RTCP report a leg sends brings a [`QualitySample`] of
//! its cumulative receive figures; the difference from the previous sample is an interval,
//! scored with the E-model ([`mos::estimate_from`]). A [`Track`] keeps the lowest, the highest
//! and the mean of the interval scores: what ng's `query` and `delete` replies carry under
//! each SSRC (rtpengine's `lowest MOS`, `highest MOS`, `average MOS`), what a REST channel's
//! `statistics` show, what the end of a SIP call is logged with, and, interval by interval,
//! the `ChannelQuality` events and the `tandem_stream_mos` histogram.
//!
//! An interval without a packet received (hold, a silent side) is not scored. A stream that
//! ends before its first sample is summed up as one interval, from its figures so far, so that
//! every stream that carried media has a score. A decoded leg's interval is scored, as its
//! whole call is ([`mos::estimate`]), from what its jitter buffer played: the packets it lost
//! in the interval (late ones too, which RTP's figures count as received) and its delay at the
//! interval's end.

use std::time::{SystemTime, UNIX_EPOCH};

use tandem_core::bus::QualitySample;
use tandem_core::session::{LegReport, LegSpec, PlayoutReport, PlayoutTotals};

use super::mos::{self, Estimate, Figures};

/// Now, in Unix seconds: when an interval that ends now ended.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One scored interval, and when it ended (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The interval's figures and MOS.
    pub estimate: Estimate,
    /// When it ended, Unix seconds.
    pub at_unix: u64,
}

/// The means over a stream's scored intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Average {
    /// Mean MOS.
    pub mos: f64,
    /// Mean heard loss, percent.
    pub loss_percent: f64,
    /// Mean jitter, ms.
    pub jitter_ms: f64,
    /// Mean round-trip time over the intervals that had one, ms.
    pub rtt_ms: Option<f64>,
    /// Intervals scored.
    pub intervals: u32,
    /// When the last one ended, Unix seconds.
    pub last_at_unix: u64,
}

/// A stream's quality so far: the lowest and highest interval, and the means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The interval with the lowest MOS (the first of equals).
    pub lowest: Point,
    /// The interval with the highest MOS (the first of equals).
    pub highest: Point,
    /// The means.
    pub average: Average,
}

impl std::fmt::Display for Summary {
    /// `MOS 4.12 (lowest 3.80 with 6.0 % lost and 4 ms jitter, highest 4.41, 3 intervals)`,
    /// for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let low = self.lowest.estimate;
        write!(
            f,
            "MOS {:.2} (lowest {:.2} with {:.1} % lost and {:.0} ms jitter, highest {:.2}, {} intervals)",
            self.average.mos,
            low.mos,
            low.heard_loss_percent,
            low.jitter_ms,
            self.highest.estimate.mos,
            self.average.intervals
        )
    }
}

/// A log field for a stream's quality at its end: its [`Summary`], or `-` with nothing to
/// score. `last`, the leg's figures as it ended and its spec, scores a stream that ended
/// before its first interval ([`Track::summary`]).
pub fn log_field(track: &Track, last: Option<(&LegReport, &LegSpec)>) -> String {
    let summary = match last {
        Some((report, spec)) => track.summary(report, spec, unix_now()),
        None => track.recorded(),
    };
    summary.map_or_else(|| "-".to_owned(), |s| s.to_string())
}

/// The running sums behind the means.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    intervals: u32,
    mos: f64,
    loss_percent: f64,
    jitter_ms: f64,
    rtt_ms: f64,
    rtt_intervals: u32,
    last_at_unix: u64,
}

/// The quality of one stream: its interval scores so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Track {
    /// Cumulative packets received and lost at the last sample.
    last: (u64, i64),
    /// The jitter buffer's cumulative counts at the last sample, for a decoded leg.
    last_playout: PlayoutTotals,
    lowest: Option<Point>,
    highest: Option<Point>,
    sums: Sums,
}

impl Track {
    /// Scores the interval that `sample` (taken at `now_unix`) closes, for a leg `spec`
    /// describes; returns it, `None` when no packet came in it.
    pub fn record(
        &mut self,
        sample: &QualitySample,
        spec: &LegSpec,
        now_unix: u64,
    ) -> Option<Point> {
        let figures = Figures::of_sample(sample);
        let point = self.interval(&figures, spec, now_unix);
        if let Some(point) = point {
            self.add(point);
        }
        self.last = (figures.received, figures.lost);
        self.last_playout = figures.playout.map(|p| p.counts).unwrap_or_default();
        point
    }

    /// The interval from the last sample to the cumulative `figures`, scored; `None` when
    /// no packet came in it.
    fn interval(&self, figures: &Figures, spec: &LegSpec, now_unix: u64) -> Option<Point> {
        // Fewer packets than at the last sample: the leg's counts started again (a new
        // source, the session rebuilt, a channel moved), and so does the interval.
        let (received_before, lost_before) = if figures.received < self.last.0 {
            (0, 0)
        } else {
            self.last
        };
        let received = figures.received - received_before;
        if received == 0 {
            return None;
        }
        let interval = Figures {
            received,
            lost: figures.lost - lost_before,
            playout: figures.playout.map(|p| {
                // The same for the jitter buffer's counts (a rebuilt session's new buffer).
                let before = if p.counts.packets_played < self.last_playout.packets_played {
                    PlayoutTotals::default()
                } else {
                    self.last_playout
                };
                PlayoutReport {
                    counts: p.counts.since(&before),
                    ..p
                }
            }),
            ..*figures
        };
        Some(Point {
            estimate: mos::estimate_from(&interval, spec),
            at_unix: now_unix,
        })
    }

    fn add(&mut self, point: Point) {
        let mos = point.estimate.mos;
        if self.lowest.is_none_or(|low| mos < low.estimate.mos) {
            self.lowest = Some(point);
        }
        if self.highest.is_none_or(|high| mos > high.estimate.mos) {
            self.highest = Some(point);
        }
        let sums = &mut self.sums;
        sums.intervals += 1;
        sums.mos += mos;
        sums.loss_percent += point.estimate.heard_loss_percent;
        sums.jitter_ms += point.estimate.jitter_ms;
        if let Some(rtt) = point.estimate.rtt_ms {
            sums.rtt_ms += rtt;
            sums.rtt_intervals += 1;
        }
        sums.last_at_unix = point.at_unix;
    }

    /// The stream's quality so far. Before the first sample, its figures so far (`report`)
    /// are the one interval. `None` when no packet was received.
    pub fn summary(&self, report: &LegReport, spec: &LegSpec, now_unix: u64) -> Option<Summary> {
        if self.sums.intervals > 0 {
            return self.recorded();
        }
        let mut track = Track::default();
        track.add(track.interval(&Figures::of_report(report), spec, now_unix)?);
        track.recorded()
    }

    /// The intervals scored so far; `None` before the first.
    pub fn recorded(&self) -> Option<Summary> {
        let s = self.sums;
        if s.intervals == 0 {
            return None;
        }
        let n = f64::from(s.intervals);
        Some(Summary {
            lowest: self.lowest?,
            highest: self.highest?,
            average: Average {
                mos: s.mos / n,
                loss_percent: s.loss_percent / n,
                jitter_ms: s.jitter_ms / n,
                rtt_ms: (s.rtt_intervals > 0).then(|| s.rtt_ms / f64::from(s.rtt_intervals)),
                intervals: s.intervals,
                last_at_unix: s.last_at_unix,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use tandem_core::rtp::Ssrc;
    use tandem_core::session::CodecSpec;

    use super::*;

    fn sample(received: u32, lost: i32) -> QualitySample {
        QualitySample {
            received,
            cumulative_lost: lost,
            jitter: 80,
            rtt_us: Some(20_000),
            playout: None,
        }
    }

    fn report(received: u32, lost: i64) -> LegReport {
        LegReport {
            counters: Default::default(),
            peer: None,
            received,
            cumulative_lost: lost,
            jitter: 80,
            rtt_us: Some(20_000),
            ssrc: Ssrc(1),
            source_ssrc: Some(Ssrc(2)),
            playout: None,
        }
    }

    #[test]
    fn a_lossy_interval_is_the_lowest_and_the_clean_ones_the_highest() {
        let spec = LegSpec::new(CodecSpec::PCMU);
        let mut track = Track::default();
        // Three 5 s intervals of 250 packets: clean, 10 % lost, clean.
        track.record(&sample(250, 0), &spec, 100);
        let lossy = track.record(&sample(475, 25), &spec, 105).unwrap();
        assert!((lossy.estimate.heard_loss_percent - 10.0).abs() < 0.01);
        track.record(&sample(725, 25), &spec, 110);
        let s = track.summary(&report(725, 25), &spec, 112).unwrap();
        assert!(s.lowest.estimate.mos < s.average.mos && s.average.mos < s.highest.estimate.mos);
        assert_eq!(s.lowest.at_unix, 105);
        assert_eq!(
            s.highest.at_unix, 100,
            "the first of the equal clean intervals"
        );
        assert_eq!(s.average.intervals, 3);
        // The whole call's loss (3.3 %) would hide how bad the middle interval was.
        let whole = mos::estimate(&report(725, 25), &spec).mos;
        assert!(s.lowest.estimate.mos < whole - 0.3, "{s:?} {whole}");
    }

    #[test]
    fn silence_is_not_scored_and_a_restart_starts_a_new_interval() {
        let spec = LegSpec::new(CodecSpec::PCMU);
        let mut track = Track::default();
        track.record(&sample(250, 0), &spec, 100);
        assert_eq!(track.record(&sample(250, 0), &spec, 105), None, "hold");
        // The session was rebuilt: counts from zero again, 10 % lost.
        let restarted = track.record(&sample(90, 10), &spec, 110).unwrap();
        assert!(restarted.estimate.heard_loss_percent > 9.0);
        assert_eq!(
            track
                .summary(&report(90, 10), &spec, 111)
                .unwrap()
                .average
                .intervals,
            2
        );
    }

    #[test]
    fn a_decoded_legs_interval_counts_what_its_jitter_buffer_lost() {
        let spec = LegSpec::new(CodecSpec::PCMU);
        let with_playout = |received: u32, played: u64, lost: u64| QualitySample {
            playout: Some(PlayoutReport {
                adaptive: true,
                delay_ms: 40,
                target_delay_ms: 40,
                counts: PlayoutTotals {
                    packets_played: played,
                    packets_late: lost,
                    packets_lost: lost,
                    ..PlayoutTotals::default()
                },
            }),
            ..sample(received, 0)
        };
        let mut track = Track::default();
        track.record(&with_playout(250, 250, 0), &spec, 100);
        // The network lost nothing, but 25 of the next 250 packets came too late to play.
        let late = track
            .record(&with_playout(500, 475, 25), &spec, 105)
            .unwrap();
        assert_eq!(late.estimate.loss_percent, 0.0);
        assert!(
            (late.estimate.heard_loss_percent - 10.0).abs() < 0.01,
            "{late:?}"
        );
        let clean = track
            .record(&with_playout(750, 725, 25), &spec, 110)
            .unwrap();
        assert_eq!(clean.estimate.heard_loss_percent, 0.0, "{clean:?}");
        // A rebuilt session's buffer counts from zero: its interval is its counts.
        let rebuilt = track
            .record(&with_playout(100, 90, 10), &spec, 115)
            .unwrap();
        assert!(
            (rebuilt.estimate.heard_loss_percent - 10.0).abs() < 0.01,
            "{rebuilt:?}"
        );
    }

    #[test]
    fn a_stream_shorter_than_one_interval_is_summed_up_from_its_figures_so_far() {
        let spec = LegSpec::new(CodecSpec::PCMU);
        let track = Track::default();
        let s = track.summary(&report(100, 0), &spec, 100).unwrap();
        assert_eq!(s.lowest, s.highest);
        assert_eq!(s.average.intervals, 1);
        assert!((4.3..4.5).contains(&s.average.mos), "{s:?}");
        assert!(track.summary(&report(0, 0), &spec, 100).is_none());
    }
}
