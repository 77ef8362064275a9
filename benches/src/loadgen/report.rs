//! The table `tandem-loadgen` prints, and the pass rule of a step.
//!
//! A **channel** is one direction of one call through the engine: 50 packets a second in,
//! 50 out (20 ms packets). A call has two: caller → callee (PCMU in, the callee's codec out
//! when transcoding) and callee → caller. CPU per channel per 20 ms is the engine's CPU time
//! over the window divided by channels and by the window's 20 ms periods: the cost of moving
//! one packet through, decode and encode included. `calls/core` is what that cost allows on
//! one fully busy core (calls × 100 / engine CPU %): a projection from CPU alone, which the
//! loss and lateness columns confirm or not.

use std::fmt::Write as _;

use crate::loadgen::step::StepResult;

/// Loss or lateness above this share (%) fails a step, unless `--max-bad-pct` says otherwise.
pub const MAX_BAD_PCT: f64 = 0.1;

/// Channels per call.
pub const CHANNELS_PER_CALL: usize = 2;

/// Why a step failed (loss or lateness over `max_bad_pct` %, anything wrong with the
/// packets, the loadgen falling behind), or `None` when it passed.
pub fn failure(r: &StepResult, max_bad_pct: f64) -> Option<String> {
    let s = &r.shards;
    let mut why = Vec::new();
    if s.rx.lost_pct() > max_bad_pct {
        why.push(format!("loss {:.3} %", s.rx.lost_pct()));
    }
    if s.rx.late_pct() > max_bad_pct {
        why.push(format!("late {:.3} %", s.rx.late_pct()));
    }
    if s.rx.wrong_pt > 0 {
        why.push(format!(
            "{} packets with another payload type",
            s.rx.wrong_pt
        ));
    }
    if s.decode_errors > 0 {
        why.push(format!(
            "{} of {} sampled packets undecodable",
            s.decode_errors, s.decoded
        ));
    }
    if s.slots_behind > 0 {
        why.push(format!(
            "the loadgen fell behind in {} slots",
            s.slots_behind
        ));
    }
    (!why.is_empty()).then(|| why.join(", "))
}

/// The header line.
pub fn header() -> String {
    format!(
        "{:>6} {:>8} {:>8} {:>11} {:>10} {:>8} {:>7} {:>8} {:>8} {:>7} {:>9} {:>8} {:>8} {:>7} {:>6} {:>4}",
        "calls",
        "channels",
        "engine %",
        "µs/ch/20ms",
        "calls/core",
        "floor µs",
        "floor %",
        "lost %",
        "late %",
        "bad PT",
        "decoded",
        "delay+ms",
        "loadgen%",
        "lag ms",
        "load",
        "ok"
    )
}

/// One step's line. `floor_us` is the codec floor per channel and 20 ms measured in the
/// same run ([`crate::loadgen::floor`]), when the scenario transcodes: `floor %` is that
/// floor over the engine's cost, 100 % being the codec work and nothing else.
pub fn row(r: &StepResult, max_bad_pct: f64, floor_us: Option<f64>) -> String {
    let channels = r.calls * CHANNELS_PER_CALL;
    let wall = r.wall.as_secs_f64().max(1e-9);
    let (cpu_pct, per_channel, per_core, of_floor) = match r.engine_cpu {
        Some(cpu) if !cpu.is_zero() => {
            let periods = wall / 0.020;
            let pct = 100.0 * cpu.as_secs_f64() / wall;
            let us = 1e6 * cpu.as_secs_f64() / periods / channels as f64;
            (
                format!("{pct:.1}"),
                format!("{us:.1}"),
                format!("{:.0}", 100.0 * r.calls as f64 / pct),
                floor_us.map_or("-".into(), |f| format!("{:.0}", 100.0 * f / us)),
            )
        }
        Some(_) => ("0.0".into(), "0.0".into(), "-".into(), "-".into()),
        None => ("-".into(), "-".into(), "-".into(), "-".into()),
    };
    let s = &r.shards;
    let mut line = format!(
        "{:>6} {:>8} {:>8} {:>11} {:>10} {:>8} {:>7} {:>8.3} {:>8.3} {:>7} {:>9} {:>8.1} {:>8.1} {:>7.1} {:>6.2} {:>4}",
        r.calls,
        channels,
        cpu_pct,
        per_channel,
        per_core,
        floor_us.map_or("-".into(), |f| format!("{f:.1}")),
        of_floor,
        s.rx.lost_pct(),
        s.rx.late_pct(),
        s.rx.wrong_pt,
        format!("{}/{}", s.decoded - s.decode_errors, s.decoded),
        s.rx.max_excess_us as f64 / 1000.0,
        100.0 * r.loadgen_cpu.as_secs_f64() / wall,
        s.max_lag_us as f64 / 1000.0,
        r.load,
        if failure(r, max_bad_pct).is_none() {
            "yes"
        } else {
            "no"
        }
    );
    if let Some(why) = failure(r, max_bad_pct) {
        let _ = write!(line, "  ({why})");
    }
    line
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::loadgen::rx::RxTotals;
    use crate::loadgen::shard::ShardResult;

    fn result(lost: u64, late: u64) -> StepResult {
        StepResult {
            calls: 10,
            engine_cpu: Some(Duration::from_millis(500)),
            loadgen_cpu: Duration::from_millis(100),
            wall: Duration::from_secs(10),
            shards: ShardResult {
                rx: RxTotals {
                    expected: 10_000,
                    received: 10_000 - lost,
                    lost,
                    late,
                    ..RxTotals::default()
                },
                decoded: 40,
                ..ShardResult::default()
            },
            load: 0.5,
        }
    }

    #[test]
    fn cpu_per_channel_per_packet_time() {
        // 0.5 s of CPU over 10 s = 5 %; 500 periods of 20 ms, 20 channels: 50 µs.
        let line = row(&result(0, 0), MAX_BAD_PCT, None);
        assert!(
            line.contains("     5.0 ") && line.contains(" 50.0 "),
            "{line}"
        );
        assert!(line.ends_with(" yes"), "{line}");
    }

    #[test]
    fn floor_share_is_the_floor_over_the_engine_cost() {
        // The engine spends 50 µs per channel and 20 ms; a 45 µs floor is 90 % of it.
        let line = row(&result(0, 0), MAX_BAD_PCT, Some(45.0));
        assert!(line.contains(" 45.0 ") && line.contains(" 90 "), "{line}");
    }

    #[test]
    fn loss_or_lateness_over_a_thousandth_fails() {
        assert!(failure(&result(10, 0), MAX_BAD_PCT).is_none()); // exactly 0.1 %
        assert!(failure(&result(11, 0), MAX_BAD_PCT).is_some());
        assert!(failure(&result(0, 11), MAX_BAD_PCT).is_some());
        assert!(failure(&result(0, 11), 1.0).is_none());
    }
}
