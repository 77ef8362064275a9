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
//! Each path is timed two ways, both in the calling thread's CPU time:
//!
//! - **sustained** (the `floor %` reference): [`FRAMES`]-frame rounds back to back for a
//!   whole window (`--floor-seconds`, at least [`REPEATS`] rounds), the mean per frame; before
//!   each step with one pair of transcoders per call of the step, coded in turn as a tick
//!   codes its sessions (40 calls' codec states do not fit in a core's caches as one does). On a
//!   shared virtual machine the host slows a vCPU down now and then, for tens of ms at a
//!   time, and the guest counts that as the running thread's CPU time: an engine's CPU over
//!   a step includes those windows, so its ceiling must be measured over a comparable span,
//!   on the same core (`--floor-cpu`, the engine's), while the engine has no calls (before
//!   each step).
//! - **best**: the fastest single round, the work itself with nothing around it; printed
//!   for reference, since it excludes what the engine cannot.

use std::time::Duration;

use nix::sched::{CpuSet, sched_setaffinity};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;

use tandem_codecs::resample::Resampler;
use tandem_codecs::{
    EncoderConfig, Format, OpusApplication, OpusConfig, Transcoder, TranscoderConfig, registry,
};

use crate::loadgen::sdp::SdpCodec;
use crate::loadgen::speech::{self, EncodedSpeech, PTIME_MS};

/// 20 ms frames per direction per round (2 s of audio).
pub const FRAMES: usize = 100;
/// Fewest rounds per measurement, however short the window.
pub const REPEATS: usize = 7;
/// Most calls a floor codes at once (a step's codec states).
pub const MAX_FLOOR_CALLS: usize = 1000;

/// How a floor is sampled: for how long, and on which core.
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    /// Window of back-to-back rounds (the sustained figure is their mean).
    pub window: Duration,
    /// Core to run on (the engine's), or where the loadgen runs.
    pub cpu: Option<usize>,
}

/// One path's cost, in µs of CPU per channel per 20 ms.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Mean over the sampling window.
    pub sustained_us: f64,
    /// Fastest single round.
    pub best_us: f64,
}

/// The codec floor of one transcoded call.
#[derive(Debug, Clone)]
pub struct Floor {
    /// Tandem's planned path (`decode → [resample] → encode` each way), as text.
    pub plan: String,
    /// Its cost.
    pub plan_cost: Cost,
    /// The always-48-kHz path's cost.
    pub full_rate_cost: Cost,
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

/// Both paths for a PCMU caller and a callee codec, ready to be timed again and again.
pub struct Meter {
    /// One planned path per call of the largest step timed so far (at least one).
    planned: Vec<PlannedPath>,
    /// Frames each planned path has run, so that rounds continue through the speech.
    played: usize,
    callee_format: Format,
    encoder: EncoderConfig,
    full_rate: FullRatePath,
}

impl Meter {
    /// Builds both paths for `callee`, Opus encoded with `opus` (see [`like_for_like_opus`]).
    pub fn new(callee: &SdpCodec, opus: OpusConfig) -> Result<Self, String> {
        let callee_format = speech::format_of(&callee.name, callee.clock_rate)?;
        let encoder = EncoderConfig {
            opus,
            ..EncoderConfig::DEFAULT
        };
        Ok(Self {
            planned: vec![PlannedPath::new(callee_format, &encoder)?],
            played: 0,
            callee_format,
            encoder,
            full_rate: FullRatePath::new(callee_format, &encoder)?,
        })
    }

    /// Times both paths, one after the other, each for `sampling.window`.
    pub fn measure(
        &mut self,
        sampling: Sampling,
        caller: &EncodedSpeech,
        callee: &EncodedSpeech,
    ) -> Result<Floor, String> {
        Ok(Floor {
            plan: self.planned[0].describe(),
            plan_cost: self.plan(sampling, caller, callee, 1)?,
            full_rate_cost: on_cpu(sampling.cpu, || {
                time(sampling.window, || self.full_rate.run(caller, callee))
            })?,
        })
    }

    /// Times Tandem's planned path alone, for `calls` calls at once: each round codes
    /// [`FRAMES`] frames each way, one call after the other as an engine's tick does, so that
    /// the codec states compete for the caches as they do in the engine.
    pub fn plan(
        &mut self,
        sampling: Sampling,
        caller: &EncodedSpeech,
        callee: &EncodedSpeech,
        calls: usize,
    ) -> Result<Cost, String> {
        let (paths, played) = self.paths(calls)?;
        let calls = paths.len();
        on_cpu(sampling.cpu, || {
            time(sampling.window, || {
                for _ in 0..FRAMES {
                    let call = *played % calls;
                    // Calls start at different places in the speech, as in a step.
                    let frame = *played / calls + 7 * call;
                    paths[call].frame(caller, callee, frame)?;
                    *played += 1;
                }
                Ok(())
            })
        })
    }

    /// The planned paths of `calls` calls (at least one, at most [`MAX_FLOOR_CALLS`]), built
    /// on first use, and the count of frames coded so far.
    fn paths(&mut self, calls: usize) -> Result<(&mut [PlannedPath], &mut usize), String> {
        let calls = calls.clamp(1, MAX_FLOOR_CALLS);
        while self.planned.len() < calls {
            let path = PlannedPath::new(self.callee_format, &self.encoder)?;
            self.planned.push(path);
        }
        Ok((&mut self.planned[..calls], &mut self.played))
    }

    /// Times Tandem's planned path for `calls` calls coded as a media worker codes them: on
    /// an absolute 10 ms tick, each tick coding the frame of every other call (the streams
    /// are spread over the 20 ms), the thread asleep in between. Against [`Meter::plan`]
    /// (the same codec calls back to back), it shows what running in short bursts costs the
    /// codec calls themselves: caches and predictors cooled by the sleep, and on a virtual
    /// machine whatever the host runs on the core meanwhile.
    pub fn plan_paced(
        &mut self,
        sampling: Sampling,
        caller: &EncodedSpeech,
        callee: &EncodedSpeech,
        calls: usize,
        between_ticks: BetweenTicks,
    ) -> Result<Cost, String> {
        const TICK: Duration = Duration::from_millis(10);
        let (paths, played) = self.paths(calls)?;
        let calls = paths.len();
        on_cpu(sampling.cpu, || {
            let ticks = (sampling.window.as_millis() / TICK.as_millis()).max(20) as usize;
            let (mut frames, mut busy) = (0usize, Duration::ZERO);
            let mut deadline = std::time::Instant::now() + TICK;
            for tick in 0..ticks {
                let start = thread_cpu();
                for (call, path) in paths.iter_mut().enumerate() {
                    if (call + tick) % 2 == 0 {
                        // The same frames as the back-to-back rounds would code next.
                        path.frame(caller, callee, *played / calls + 7 * call)?;
                        *played += 1;
                        frames += 1;
                    }
                }
                busy += thread_cpu().saturating_sub(start);
                if between_ticks == BetweenTicks::Spin {
                    while std::time::Instant::now() < deadline {
                        std::hint::spin_loop();
                    }
                } else {
                    let now = std::time::Instant::now();
                    if deadline > now {
                        std::thread::sleep(deadline - now);
                    }
                }
                deadline += TICK;
            }
            let per_channel = busy.as_secs_f64() * 1e6 / (2 * frames.max(1)) as f64;
            Ok(Cost {
                sustained_us: per_channel,
                best_us: per_channel,
            })
        })
    }
}

/// What [`Meter::plan_paced`]'s thread does between its ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BetweenTicks {
    /// Sleeps until the next deadline, as a media worker does.
    Sleep,
    /// Spins on the clock: the core never idles, nothing else runs on it.
    Spin,
}

/// Runs `work` on a thread of its own, pinned to `cpu` if given, in the media worker's
/// floating-point mode (subnormals flushed to zero, `tandem_core::worker::fpu`), returning
/// what it returns.
fn on_cpu<T: Send>(
    cpu: Option<usize>,
    work: impl FnOnce() -> Result<T, String> + Send,
) -> Result<T, String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(cpu) = cpu {
                let mut set = CpuSet::new();
                set.set(cpu)
                    .map_err(|e| format!("--floor-cpu {cpu}: {e}"))?;
                sched_setaffinity(Pid::from_raw(0), &set)
                    .map_err(|e| format!("--floor-cpu {cpu}: {e}"))?;
            }
            tandem_core::worker::fpu::flush_subnormals_to_zero();
            work()
        })
        .join()
        .map_err(|_| "the floor thread panicked".to_string())?
    })
}

/// Rounds of `run` (each [`FRAMES`] frames both ways) back to back for `window`, at least
/// [`REPEATS`], after one warm-up round; in µs of thread CPU per channel per 20 ms.
fn time(window: Duration, mut run: impl FnMut() -> Result<(), String>) -> Result<Cost, String> {
    run()?; // warm-up: first-call costs, caches
    let per_round = |d: Duration| d.as_secs_f64() * 1e6 / (2 * FRAMES) as f64;
    let started = std::time::Instant::now();
    let (mut total, mut best, mut rounds) = (Duration::ZERO, Duration::MAX, 0usize);
    while rounds < REPEATS || started.elapsed() < window {
        let start = thread_cpu();
        run()?;
        let took = thread_cpu().saturating_sub(start);
        total += took;
        best = best.min(took);
        rounds += 1;
    }
    Ok(Cost {
        sustained_us: per_round(total) / rounds as f64,
        best_us: per_round(best),
    })
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

    /// Codes frame `i` of the speech each way.
    fn frame(
        &mut self,
        caller: &EncodedSpeech,
        callee: &EncodedSpeech,
        i: usize,
    ) -> Result<(), String> {
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
        let sampling = Sampling {
            window: Duration::ZERO,
            cpu: Some(0),
        };
        let floor = Meter::new(&callee, like_for_like_opus(&callee, 32_000))
            .unwrap()
            .measure(sampling, &caller_speech, &callee_speech)
            .unwrap();
        let (plan, full) = (floor.plan_cost, floor.full_rate_cost);
        let mut meter = Meter::new(&callee, like_for_like_opus(&callee, 32_000)).unwrap();
        let three = meter
            .plan(sampling, &caller_speech, &callee_speech, 3)
            .unwrap();
        assert_eq!(meter.planned.len(), 3);
        assert!(three.best_us > 0.0, "{three:?}");
        assert!(
            plan.best_us > 0.0 && plan.best_us <= plan.sustained_us,
            "{floor:?}"
        );
        assert!(
            full.best_us > 0.0 && full.best_us <= full.sustained_us,
            "{floor:?}"
        );
        assert!(floor.plan.contains("@8000"), "{}", floor.plan);
        assert!(!floor.plan.contains("resample"), "{}", floor.plan);
    }
}
