//! A MOS estimate per leg from the ITU-T G.107 E-model, in its common simplified form
//! (Cole & Rosenbluth, "Voice over IP performance monitoring", 2001):
//!
//! ```text
//! R      = 93.2 − Id − Ie,eff                       (G.107 defaults: Ro − Is ≈ 93.2, A = 0)
//! Id     = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3)  (d: one-way delay, ms)
//! Ie,eff = Ie + (95 − Ie) · Ppl / (Ppl + Bpl)       (G.107 §3.6, random loss: BurstR = 1)
//! MOS    = 1 + 0.035·R + R·(R − 60)·(100 − R)·7·10⁻⁶  (G.107 Annex B), 1 below R = 0, 4.5 above 100
//! ```
//!
//! `Ie` (equipment impairment) and `Bpl` (packet-loss robustness) come from ITU-T G.113
//! Appendix I: G.711 with packet loss concealment Ie = 0, Bpl = 25.1; G.729A with VAD Ie = 11,
//! Bpl = 19.0. G.113 gives no narrowband values for G.722 or Opus; they are scored as G.711
//! with concealment (an assumption, flagged in the API output as `mos_model`).

use tandem_codecs::CodecId;
use tandem_core::bus::QualitySample;
use tandem_core::session::{LegReport, LegSpec, PlayoutReport};

/// A leg's figures and the MOS estimated from them, as the REST API and ng's `query` and
/// `delete` report them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Packets the network lost, percent (RFC 3550 receive statistics).
    pub loss_percent: f64,
    /// Packets the listener lost, percent: the network's, or the jitter buffer's (late ones
    /// too) when the leg is decoded, whichever is more. G.107's Ppl.
    pub heard_loss_percent: f64,
    /// Interarrival jitter, ms.
    pub jitter_ms: f64,
    /// Round-trip time, ms, once RTCP measured it.
    pub rtt_ms: Option<f64>,
    /// One-way delay the estimate assumes, ms ([`one_way_delay_ms`]).
    pub one_way_delay_ms: f64,
    /// E-model rating factor.
    pub r_factor: f64,
    /// The MOS.
    pub mos: f64,
}

/// The estimate for the leg `spec` describes, from its `report`. A decoded leg's jitter
/// buffer says what the listener gets: its delay replaces the allowance for jitter, and the
/// packets it gave up (late ones too) are the loss (G.107's Ppl counts jitter-buffer
/// discards).
pub fn estimate(report: &LegReport, spec: &LegSpec) -> Estimate {
    estimate_from(&Figures::of_report(report), spec)
}

/// What an estimate is made from: a whole call's figures (a [`LegReport`]) or one interval's
/// (the difference of two [`tandem_core::bus::QualitySample`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Packets received.
    pub received: u64,
    /// Packets lost (negative: duplicates outnumbered losses).
    pub lost: i64,
    /// Interarrival jitter, RTP timestamp units.
    pub jitter: u32,
    /// Round-trip time, µs, once measured.
    pub rtt_us: Option<u64>,
    /// The jitter buffer's figures, for a decoded leg.
    pub playout: Option<PlayoutReport>,
}

impl Figures {
    /// A leg's figures since its stream began (its jitter buffer's, if it has one).
    pub fn of_report(report: &LegReport) -> Self {
        Self {
            received: u64::from(report.received),
            lost: report.cumulative_lost,
            jitter: report.jitter,
            rtt_us: report.rtt_us,
            playout: report.playout,
        }
    }

    /// The figures a leg reported with one RTCP report (its jitter buffer's, if it has one).
    pub fn of_sample(sample: &QualitySample) -> Self {
        Self {
            received: u64::from(sample.received),
            lost: i64::from(sample.cumulative_lost),
            jitter: sample.jitter,
            rtt_us: sample.rtt_us.map(u64::from),
            playout: sample.playout,
        }
    }
}

/// The playout delay assumed for a leg whose audio Tandem does not decode (a relay): its
/// listener's own buffer, unknown here, taken as a fixed 40 ms one.
const RELAYED_PLAYOUT_MS: f64 = 40.0;

/// The estimate for the leg `spec` describes, from `figures`.
pub fn estimate_from(figures: &Figures, spec: &LegSpec) -> Estimate {
    let clock = f64::from(spec.codec.clock_rate().max(1));
    let jitter_ms = f64::from(figures.jitter) * 1000.0 / clock;
    let lost = figures.lost.max(0) as f64;
    let expected = figures.received as f64 + lost;
    let loss_percent = if expected > 0.0 {
        100.0 * lost / expected
    } else {
        0.0
    };
    let rtt_ms = figures.rtt_us.map(|us| us as f64 / 1000.0);
    let ptime_ms = f64::from(spec.codec.ptime_ms);
    let (one_way_delay_ms, heard_loss_percent) = match figures.playout {
        Some(p) => (
            one_way_delay_ms(rtt_ms, f64::from(p.delay_ms), 0.0, ptime_ms),
            p.loss_percent().max(loss_percent),
        ),
        None => (
            one_way_delay_ms(rtt_ms, RELAYED_PLAYOUT_MS, jitter_ms, ptime_ms),
            loss_percent,
        ),
    };
    let r = r_factor(
        spec.codec.format.codec,
        heard_loss_percent,
        one_way_delay_ms,
    );
    Estimate {
        loss_percent,
        heard_loss_percent,
        jitter_ms,
        rtt_ms,
        one_way_delay_ms,
        r_factor: r,
        mos: mos_from_r(r),
    }
}

/// `Ie` and `Bpl` of a codec (G.113 Appendix I), and whether G.113 lists it.
pub fn impairment(codec: CodecId) -> (f64, f64, bool) {
    match codec {
        CodecId::Pcmu | CodecId::Pcma => (0.0, 25.1, true),
        CodecId::G729 => (11.0, 19.0, true),
        CodecId::L16 | CodecId::G722 | CodecId::Opus => (0.0, 25.1, false),
    }
}

/// The E-model rating factor R for a codec, a loss percentage and a one-way delay.
pub fn r_factor(codec: CodecId, loss_percent: f64, one_way_delay_ms: f64) -> f64 {
    let (ie, bpl, _) = impairment(codec);
    let d = one_way_delay_ms.max(0.0);
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ppl = loss_percent.clamp(0.0, 100.0);
    let ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl);
    93.2 - id - ie_eff
}

/// MOS (1.0–4.5) from R (G.107 Annex B).
pub fn mos_from_r(r: f64) -> f64 {
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
    }
}

/// The one-way delay the estimate assumes: half the round trip (when RTCP measured it), the
/// playout buffer, twice the jitter (the buffering it calls for, where the buffer's own delay
/// is not measured: pass 0 when it is) and the packet time.
pub fn one_way_delay_ms(
    rtt_ms: Option<f64>,
    playout_ms: f64,
    jitter_ms: f64,
    ptime_ms: f64,
) -> f64 {
    rtt_ms.unwrap_or(0.0) / 2.0 + playout_ms + 2.0 * jitter_ms + ptime_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_g711_scores_about_4_4() {
        let mos = mos_from_r(r_factor(CodecId::Pcmu, 0.0, 20.0));
        assert!((4.3..4.45).contains(&mos), "{mos}");
    }

    #[test]
    fn loss_and_delay_lower_the_score() {
        let clean = mos_from_r(r_factor(CodecId::Pcmu, 0.0, 50.0));
        let lossy = mos_from_r(r_factor(CodecId::Pcmu, 5.0, 50.0));
        let late = mos_from_r(r_factor(CodecId::Pcmu, 0.0, 400.0));
        assert!(lossy < clean && late < clean);
        // G.729A costs Ie = 11 before any loss.
        assert!(mos_from_r(r_factor(CodecId::G729, 0.0, 50.0)) < clean);
    }

    #[test]
    fn bounds() {
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
    }
}
