//! One side's call quality over time, in rtpengine's terms. Each RTCP report a leg sends brings
//! a [`QualitySample`] of its cumulative receive figures; the difference from the previous
//! sample is an interval, scored with the E-model ([`mos::estimate_from`]). The lowest, the
//! highest and the mean of the interval scores are what `query` and `delete` replies carry
//! under each SSRC (`lowest MOS`, `highest MOS`, `average MOS`), which Kamailio's
//! `mos_min_*`, `mos_max_*` and `mos_average_*` pseudo-variables read.
//!
//! An interval without a packet received (hold, a silent side) is not scored. A call that
//! ends before its first sample is scored once, from its figures so far, so that every call
//! that carried media reports a MOS. Intervals are scored from RTCP-level figures alone
//! (loss, jitter, round trip), also on a decoded leg: its jitter buffer's counts are
//! cumulative, and the whole-call estimate of the REST API already uses them.

use tandem_core::bus::QualitySample;
use tandem_core::session::{LegReport, LegSpec};

use super::bencode::{Value, dict};
use crate::api::mos::{self, Estimate, Figures};

/// One scored interval, and when it ended (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    estimate: Estimate,
    at_unix: u64,
}

/// The running sums behind the averages.
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

/// The quality of one side of a call: lowest, highest and mean interval score so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Track {
    /// Cumulative packets received and lost at the last sample.
    last: (u64, i64),
    lowest: Option<Point>,
    highest: Option<Point>,
    sums: Sums,
}

impl Track {
    /// Scores the interval that `sample` (taken at `now_unix`) closes, for a leg `spec`
    /// describes; returns its MOS, `None` when no packet came in it.
    pub fn record(&mut self, sample: &QualitySample, spec: &LegSpec, now_unix: u64) -> Option<f64> {
        let figures = Figures {
            received: u64::from(sample.received),
            lost: i64::from(sample.cumulative_lost),
            jitter: sample.jitter,
            rtt_us: sample.rtt_us.map(u64::from),
            playout: None,
        };
        let point = self.interval(&figures, spec, now_unix);
        if let Some(point) = point {
            self.add(point);
        }
        self.last = (figures.received, figures.lost);
        point.map(|p| p.estimate.mos)
    }

    /// The interval from the last sample to the cumulative `figures`, scored; `None` when
    /// no packet came in it.
    fn interval(&self, figures: &Figures, spec: &LegSpec, now_unix: u64) -> Option<Point> {
        // Fewer packets than at the last sample: the leg's counts started again (a new
        // source, or the session rebuilt), and so does the interval.
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

    /// The `SSRC` entry of a reply for this side: `average MOS`, `lowest MOS` and
    /// `highest MOS`. Before the first sample, the call so far (`report`) is the one
    /// interval. `None` when no packet was received.
    pub fn entry(&self, report: &LegReport, spec: &LegSpec, now_unix: u64) -> Option<Value> {
        let mut track = *self;
        if track.sums.intervals == 0 {
            let whole = Figures {
                received: u64::from(report.received),
                lost: report.cumulative_lost,
                jitter: report.jitter,
                rtt_us: report.rtt_us,
                playout: None,
            };
            track.add(Track::default().interval(&whole, spec, now_unix)?);
        }
        let (lowest, highest) = (track.lowest?, track.highest?);
        let s = track.sums;
        let n = f64::from(s.intervals);
        let average = mos_dict(
            s.mos / n,
            s.last_at_unix,
            s.loss_percent / n,
            s.jitter_ms / n,
            (s.rtt_intervals > 0).then(|| s.rtt_ms / f64::from(s.rtt_intervals)),
            s.intervals,
        );
        let point = |p: Point| {
            let e = p.estimate;
            mos_dict(
                e.mos,
                p.at_unix,
                e.heard_loss_percent,
                e.jitter_ms,
                e.rtt_ms,
                1,
            )
        };
        Some(dict([
            ("average MOS", average),
            ("lowest MOS", point(lowest)),
            ("highest MOS", point(highest)),
        ]))
    }
}

/// One MOS entry in rtpengine's shape: the MOS times ten, when it was taken (Unix seconds),
/// packet loss (percent), jitter (ms), round-trip time (µs, 0 while unknown) and how many
/// intervals it stands for.
fn mos_dict(
    mos: f64,
    at_unix: u64,
    loss_percent: f64,
    jitter_ms: f64,
    rtt_ms: Option<f64>,
    samples: u32,
) -> Value {
    let int = |x: f64| Value::Int(x.round() as i64);
    dict([
        ("MOS", int(mos * 10.0)),
        ("reported at", Value::Int(at_unix as i64)),
        ("packet loss", int(loss_percent)),
        ("jitter", int(jitter_ms)),
        ("round-trip time", int(rtt_ms.unwrap_or(0.0) * 1000.0)),
        ("samples", Value::Int(i64::from(samples))),
    ])
}

#[cfg(test)]
mod tests {
    use tandem_core::session::CodecSpec;

    use super::*;

    fn sample(received: u32, lost: i32) -> QualitySample {
        QualitySample {
            received,
            cumulative_lost: lost,
            jitter: 80,
            rtt_us: Some(20_000),
        }
    }

    fn mos_of(entry: &Value, which: &str) -> i64 {
        let Value::Dict(entries) = entry else {
            panic!("{entry:?}")
        };
        let (_, inner) = entries
            .iter()
            .find(|(k, _)| k == which.as_bytes())
            .expect(which);
        let Value::Dict(inner) = inner else {
            panic!("{inner:?}")
        };
        match inner.iter().find(|(k, _)| k == b"MOS") {
            Some((_, Value::Int(mos))) => *mos,
            other => panic!("{other:?}"),
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
            ssrc: tandem_core::rtp::Ssrc(1),
            source_ssrc: Some(tandem_core::rtp::Ssrc(2)),
            playout: None,
        }
    }

    #[test]
    fn a_lossy_interval_is_the_lowest_and_the_clean_ones_the_highest() {
        let spec = LegSpec::new(CodecSpec::PCMU);
        let mut track = Track::default();
        // Three 5 s intervals of 250 packets: clean, 10 % lost, clean.
        track.record(&sample(250, 0), &spec, 100);
        track.record(&sample(475, 25), &spec, 105);
        track.record(&sample(725, 25), &spec, 110);
        let entry = track.entry(&report(725, 25), &spec, 112).unwrap();
        let (low, high, avg) = (
            mos_of(&entry, "lowest MOS"),
            mos_of(&entry, "highest MOS"),
            mos_of(&entry, "average MOS"),
        );
        assert!(low < avg && avg < high, "{low} {avg} {high}");
        assert_eq!(high, 44, "a clean G.711 interval");
        assert_eq!(track.lowest.unwrap().at_unix, 105);
        // The whole call's loss (3.3 %) would hide how bad the middle interval was.
        let whole = mos::estimate(&report(725, 25), &spec).mos;
        assert!(f64::from(low as i32) / 10.0 < whole - 0.3, "{low} {whole}");
    }

    #[test]
    fn silence_is_not_scored_and_a_restart_starts_a_new_interval() {
        let spec = LegSpec::new(CodecSpec::PCMU);
        let mut track = Track::default();
        track.record(&sample(250, 0), &spec, 100);
        track.record(&sample(250, 0), &spec, 105); // hold: nothing received
        assert_eq!(track.sums.intervals, 1);
        // The session was rebuilt: counts from zero again, 10 % lost.
        track.record(&sample(90, 10), &spec, 110);
        assert_eq!(track.sums.intervals, 2);
        assert!(track.lowest.unwrap().estimate.heard_loss_percent > 9.0);
    }

    #[test]
    fn a_call_shorter_than_one_interval_reports_its_figures_so_far() {
        let spec = LegSpec::new(CodecSpec::PCMU);
        let track = Track::default();
        let entry = track.entry(&report(100, 0), &spec, 100).unwrap();
        assert_eq!(mos_of(&entry, "average MOS"), 44);
        assert_eq!(mos_of(&entry, "lowest MOS"), 44);
        assert!(track.entry(&report(0, 0), &spec, 100).is_none());
    }
}
