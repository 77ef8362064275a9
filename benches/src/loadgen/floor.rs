//! The codec floor of a transcoded call, measured in the same run as the engines: what the
//! codec work alone costs per channel and 20 ms, with nothing else around it (no sockets,
//! no RTP, no jitter buffer, no scheduling). An engine's CPU per channel can only approach
//! it; `floor %` in the table is how close it gets.
//!
//! Two paths are timed on the loadgen's own speech packets (the caller's PCMU, the callee's
//! codec), both with the Opus encoder settings of the like-for-like runs (rtpengine's: the
//! offer's channels and bitrate, complexity 10, application audio, VBR, no FEC):
//!
//! - **plan**: the path `tandem-codecs`' planner picks, which is what Tandem runs (PCMU facing
//!   Opus is coded at 8 kHz: no resampler), through its `Transcoder`;
//! - **48 kHz**: decode, resample to the codec's clock rate, encode, and back; the path an
//!   engine that always codes Opus at 48 kHz (rtpengine) runs.
//!
//! Each path runs [`FRAMES`] frames each way, [`REPEATS`] times, and the fastest repeat is
//! kept: on a shared machine preemption only ever adds time, so the minimum is the best
//! estimate of the work itself. Time is the thread's CPU time, so stolen or preempted
//! wall time is not counted either way.

use std::time::Duration;

use nix::time::{ClockId, clock_gettime};

use tandem_codecs::resample::Resampler;
use tandem_codecs::{
    EncoderConfig, Format, OpusApplication, OpusConfig, Transcoder, TranscoderConfig, registry,
};

use crate::loadgen::sdp::SdpCodec;
use crate::loadgen::speech::{self, EncodedSpeech, PTIME_MS};

/// 20 ms frames per direction per repeat (2 s of audio).
pub const FRAMES: usize = 100;
/// Repeats per path; the fastest is kept.
pub const REPEATS: usize = 7;

/// The codec floor of one transcoded call, in µs of CPU per channel per 20 ms.
#[derive(Debug, Clone)]
pub struct Floor {
    /// Tandem's planned path (`decode → [resample] → encode` each way), as text.
    pub plan: String,
    /// Its cost.
    pub plan_us: f64,
    /// The always-48-kHz path's cost.
    pub full_rate_us: f64,
}

impl Floor {
    /// Calls per core the floor allows (two channels per call).
    pub fn calls_per_core(us_per_channel: f64) -> f64 {
        20_000.0 / (2.0 * us_per_channel)
    }
}

/// The Opus settings of the like-for-like runs (rtpengine's, which the comparison script
/// gives Tandem through its config file).
pub fn like_for_like_opus(callee: &SdpCodec, bitrate_bps: u32) -> OpusConfig {
    OpusConfig {
        channels: callee.channels.clamp(1, 2),
        complexity: 10,
        bitrate_bps: Some(bitrate_bps),
        vbr: true,
        inband_fec: false,
        expected_loss_pct: 0,
        dtx: false,
        application: OpusApplication::Audio,
    }
}

/// The bitrate field of an ng `transcode` spec (`opus/48000/2/32000`), or 32 kbit/s.
pub fn spec_bitrate(spec: &str) -> u32 {
    spec.split('/')
        .nth(3)
        .and_then(|b| b.parse().ok())
        .unwrap_or(32_000)
}

/// Measures both paths for a PCMU caller and `callee`, on their speech packets.
pub fn measure(
    callee: &SdpCodec,
    bitrate_bps: u32,
    caller_speech: &EncodedSpeech,
    callee_speech: &EncodedSpeech,
) -> Result<Floor, String> {
    let callee_format = speech::format_of(&callee.name, callee.clock_rate)?;
    let encoder = EncoderConfig {
        opus: like_for_like_opus(callee, bitrate_bps),
        ..EncoderConfig::DEFAULT
    };
    let mut planned = PlannedPath::new(callee_format, &encoder)?;
    let mut full_rate = FullRatePath::new(callee_format, &encoder)?;
    let plan = planned.describe();
    let plan_us = fastest(|| planned.run(caller_speech, callee_speech))?;
    let full_rate_us = fastest(|| full_rate.run(caller_speech, callee_speech))?;
    Ok(Floor {
        plan,
        plan_us,
        full_rate_us,
    })
}

/// The fastest of [`REPEATS`] runs of `run` (each [`FRAMES`] frames both ways), in µs of
/// thread CPU per channel per 20 ms.
fn fastest(mut run: impl FnMut() -> Result<(), String>) -> Result<f64, String> {
    run()?; // warm-up: first-call costs, caches
    let mut best = Duration::MAX;
    for _ in 0..REPEATS {
        let start = thread_cpu();
        run()?;
        best = best.min(thread_cpu().saturating_sub(start));
    }
    // Two channels (one per direction) × FRAMES frames each.
    Ok(best.as_secs_f64() * 1e6 / (2 * FRAMES) as f64)
}

/// CPU time of the calling thread (zero if the clock cannot be read).
fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

/// Payload buffer large enough for any 20 ms packet.
const MAX_PAYLOAD: usize = 1500;

/// Tandem's path: the codecs crate's `Transcoder` each way.
struct PlannedPath {
    to_callee: Transcoder,
    to_caller: Transcoder,
    payload: Vec<u8>,
}

impl PlannedPath {
    fn new(callee: Format, encoder: &EncoderConfig) -> Result<Self, String> {
        let config = |from, to| TranscoderConfig {
            from,
            from_ptime_ms: PTIME_MS,
            to,
            to_ptime_ms: PTIME_MS,
            encoder: *encoder,
        };
        Ok(Self {
            to_callee: Transcoder::new(&config(Format::PCMU, callee)).map_err(|e| e.to_string())?,
            to_caller: Transcoder::new(&config(callee, Format::PCMU)).map_err(|e| e.to_string())?,
            payload: vec![0; MAX_PAYLOAD],
        })
    }

    fn describe(&self) -> String {
        format!("{}; {}", self.to_callee.plan(), self.to_caller.plan())
    }

    fn run(&mut self, caller: &EncodedSpeech, callee: &EncodedSpeech) -> Result<(), String> {
        for i in 0..FRAMES {
            for (transcoder, input) in [
                (&mut self.to_callee, &caller.frames[i % caller.frames.len()]),
                (&mut self.to_caller, &callee.frames[i % callee.frames.len()]),
            ] {
                transcoder.push(input).map_err(|e| e.to_string())?;
                while transcoder
                    .pop(&mut self.payload)
                    .map_err(|e| e.to_string())?
                    .is_some()
                {}
            }
        }
        Ok(())
    }
}

/// The always-full-rate path: decode, resample to the callee codec's clock rate, encode.
struct FullRatePath {
    pcmu_decoder: Box<dyn tandem_codecs::Decoder>,
    pcmu_encoder: Box<dyn tandem_codecs::Encoder>,
    callee_decoder: Box<dyn tandem_codecs::Decoder>,
    callee_encoder: Box<dyn tandem_codecs::Encoder>,
    up: Resampler,
    down: Resampler,
    narrow: Vec<i16>,
    wide: Vec<i16>,
    payload: Vec<u8>,
}

impl FullRatePath {
    fn new(callee: Format, encoder: &EncoderConfig) -> Result<Self, String> {
        let e = |e: tandem_codecs::CodecError| e.to_string();
        let rate = callee.sample_rate;
        Ok(Self {
            pcmu_decoder: registry::new_decoder(Format::PCMU).map_err(e)?,
            pcmu_encoder: registry::new_encoder(Format::PCMU, encoder).map_err(e)?,
            callee_decoder: registry::new_decoder(callee).map_err(e)?,
            callee_encoder: registry::new_encoder(callee, encoder).map_err(e)?,
            up: Resampler::new(8000, rate).map_err(|e| e.to_string())?,
            down: Resampler::new(rate, 8000).map_err(|e| e.to_string())?,
            narrow: vec![0; 8 * PTIME_MS as usize * 2],
            wide: vec![0; (rate / 1000 * PTIME_MS) as usize * 2],
            payload: vec![0; MAX_PAYLOAD],
        })
    }

    fn run(&mut self, caller: &EncodedSpeech, callee: &EncodedSpeech) -> Result<(), String> {
        let s = |e: &dyn std::fmt::Display| e.to_string();
        for i in 0..FRAMES {
            let input = &caller.frames[i % caller.frames.len()];
            let n = self
                .pcmu_decoder
                .decode(input, &mut self.narrow)
                .map_err(|e| s(&e))?;
            let m = self.up.process(&self.narrow[..n], &mut self.wide);
            self.callee_encoder
                .encode(&self.wide[..m], &mut self.payload)
                .map_err(|e| s(&e))?;

            let input = &callee.frames[i % callee.frames.len()];
            let n = self
                .callee_decoder
                .decode(input, &mut self.wide)
                .map_err(|e| s(&e))?;
            let m = self.down.process(&self.wide[..n], &mut self.narrow);
            self.pcmu_encoder
                .encode(&self.narrow[..m], &mut self.payload)
                .map_err(|e| s(&e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bitrate_comes_from_the_fourth_field() {
        assert_eq!(spec_bitrate("opus/48000/2/24000"), 24_000);
        assert_eq!(spec_bitrate("opus/48000/2"), 32_000);
        assert_eq!(spec_bitrate("opus/48000/2/fast"), 32_000);
    }

    #[test]
    fn both_paths_cost_something_and_the_plan_codes_opus_at_8_khz() {
        let callee = SdpCodec::parse("opus/48000/2", 96).unwrap();
        let caller_speech = speech::encode(&SdpCodec::pcmu()).unwrap();
        let callee_speech = speech::encode(&callee).unwrap();
        let floor = measure(&callee, 32_000, &caller_speech, &callee_speech).unwrap();
        assert!(floor.plan_us > 0.0 && floor.full_rate_us > 0.0, "{floor:?}");
        assert!(floor.plan.contains("@8000"), "{}", floor.plan);
        assert!(!floor.plan.contains("resample"), "{}", floor.plan);
    }
}
