//! A stream's quality in rtpengine's shape: the entry under its SSRC in the `SSRC` dictionary
//! of `query` and `delete` replies, with `average MOS`, `lowest MOS` and `highest MOS`, which
//! Kamailio's `mos_average_*`, `mos_min_*` and `mos_max_*` pseudo-variables read. The scores
//! come from [`crate::api::quality`].

use super::bencode::{Value, dict};
use crate::api::quality::{Point, Summary};

/// The `SSRC` entry of one stream.
pub fn ssrc_entry(summary: &Summary) -> Value {
    let a = summary.average;
    let average = mos_dict(
        a.mos,
        a.last_at_unix,
        a.loss_percent,
        a.jitter_ms,
        a.rtt_ms,
        a.intervals,
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
    dict([
        ("average MOS", average),
        ("lowest MOS", point(summary.lowest)),
        ("highest MOS", point(summary.highest)),
    ])
}

/// One MOS entry: the MOS times ten, when it was taken (Unix seconds), packet loss
/// (percent), jitter (ms), round-trip time (µs, 0 while unknown) and how many intervals it
/// stands for.
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
    use tandem_core::bus::QualitySample;
    use tandem_core::rtp::Ssrc;
    use tandem_core::session::{CodecSpec, LegReport, LegSpec};

    use super::*;
    use crate::api::quality::Track;

    #[test]
    fn the_entry_has_rtpengines_keys_and_units() {
        let spec = LegSpec::new(CodecSpec::PCMU);
        let mut track = Track::default();
        let sample = QualitySample {
            received: 250,
            cumulative_lost: 0,
            jitter: 80,
            rtt_us: Some(20_000),
            playout: None,
        };
        track.record(&sample, &spec, 1_700_000_000);
        let report = LegReport {
            counters: Default::default(),
            peer: None,
            received: 250,
            cumulative_lost: 0,
            jitter: 80,
            rtt_us: Some(20_000),
            ssrc: Ssrc(1),
            source_ssrc: Some(Ssrc(2)),
            playout: None,
        };
        let entry = ssrc_entry(&track.summary(&report, &spec, 1_700_000_001).unwrap());
        for which in ["average MOS", "lowest MOS", "highest MOS"] {
            let e = entry.get(which).unwrap();
            assert_eq!(e.get("MOS"), Some(&Value::Int(44)), "{which}");
            assert_eq!(e.get("reported at"), Some(&Value::Int(1_700_000_000)));
            assert_eq!(e.get("packet loss"), Some(&Value::Int(0)));
            assert_eq!(e.get("jitter"), Some(&Value::Int(10)), "80 units at 8 kHz");
            assert_eq!(e.get("round-trip time"), Some(&Value::Int(20_000)), "µs");
            assert_eq!(e.get("samples"), Some(&Value::Int(1)));
        }
    }
}
