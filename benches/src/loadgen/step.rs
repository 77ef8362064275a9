//! One load step: N calls set up through ng, streamed for warm-up + window, measured, deleted.
//!
//! Per call: `offer` with the caller's SDP (PCMU, the loadgen's caller socket), then
//! `answer` with the callee's SDP (the codec the engine offered the callee, on the loadgen's
//! callee socket, with the payload type the engine chose), reading from each rewritten SDP
//! where the engine wants that side's media. The engine's CPU (from `/proc`) and the
//! loadgen's own are sampled at the window's edges; `delete` ends every call, even after a
//! failure part-way through the setup.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_drivers::packet::PortRange;

use crate::loadgen::cpu::process_cpu;
use crate::loadgen::ng::{self, CallIds, CodecRequest, NgClient};
use crate::loadgen::options::{Options, Scenario};
use crate::loadgen::sdp::{self, MediaEndpoint, SdpCodec};
use crate::loadgen::shard::{Endpoint, Plan, Shard, ShardResult};
use crate::loadgen::speech::{self, EncodedSpeech};

/// Consecutive failed `delete`s after which the rest are not tried.
const MAX_FAILED_DELETES: usize = 3;

/// Time between handing the shards their plans and the first packet.
const LEAD_IN: Duration = Duration::from_millis(100);

/// What every step shares: the codecs and their pre-encoded speech.
#[derive(Debug, Clone)]
pub struct Media {
    /// The caller's codec (PCMU).
    pub caller: SdpCodec,
    /// The callee's codec (as asked; its payload type is the engine's choice per call).
    pub callee: SdpCodec,
    /// How the offer asks for it.
    pub request: CodecRequest,
    /// The caller's packets.
    pub caller_speech: Arc<EncodedSpeech>,
    /// The callee's packets.
    pub callee_speech: Arc<EncodedSpeech>,
}

impl Media {
    /// The codecs of `options.scenario`, with their speech encoded.
    pub fn new(options: &Options) -> Result<Media, String> {
        let caller = SdpCodec::pcmu();
        let (callee, request) = match options.scenario {
            Scenario::Transcode => (
                SdpCodec::parse(&options.codec, 96)?,
                CodecRequest::MaskAllTranscode(options.codec.clone()),
            ),
            Scenario::Passthrough => (SdpCodec::pcmu(), CodecRequest::Keep),
        };
        let caller_speech = Arc::new(speech::encode(&caller)?);
        let callee_speech = Arc::new(speech::encode(&callee)?);
        Ok(Media {
            caller,
            callee,
            request,
            caller_speech,
            callee_speech,
        })
    }
}

/// A step's measurements.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// Calls.
    pub calls: usize,
    /// Engine CPU time over the window, when its PID is known.
    pub engine_cpu: Option<Duration>,
    /// The loadgen's own CPU time over the window.
    pub loadgen_cpu: Duration,
    /// Wall time of the window as measured.
    pub wall: Duration,
    /// Everything the shards counted.
    pub shards: ShardResult,
    /// 1-minute load average at the end of the step.
    pub load: f64,
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn ids(step: usize, call: usize) -> CallIds {
    CallIds {
        call_id: format!("loadgen-{}-{step}-{call}", std::process::id()),
        from_tag: format!("caller-{call}"),
        to_tag: format!("callee-{call}"),
    }
}

/// The engine sides of one call, and the payload type the engine gave the callee's codec.
struct CallMedia {
    to_caller: MediaEndpoint,
    to_callee: MediaEndpoint,
}

fn setup_call(
    ng: &mut NgClient,
    media: &Media,
    ids: &CallIds,
    session: u64,
    caller_addr: SocketAddr,
    callee_addr: SocketAddr,
) -> Result<CallMedia, String> {
    let offer_sdp = sdp::party(session, caller_addr, &media.caller);
    let reply = ng.call(&ng::offer(ids, &offer_sdp, &media.request))?;
    let to_callee = sdp::media_endpoint(reply.sdp.as_deref().ok_or("offer reply without SDP")?)?;
    if !to_callee.encoding.eq_ignore_ascii_case(&media.callee.name) {
        return Err(format!(
            "the engine offered the callee {} (PT {}), not {}",
            to_callee.encoding, to_callee.pt, media.callee.name
        ));
    }
    // The callee answers with the engine's payload type for its codec.
    let callee_codec = SdpCodec {
        pt: to_callee.pt,
        ..media.callee.clone()
    };
    let answer_sdp = sdp::party(session + 1, callee_addr, &callee_codec);
    let reply = ng.call(&ng::answer(ids, &answer_sdp))?;
    let to_caller = sdp::media_endpoint(reply.sdp.as_deref().ok_or("answer reply without SDP")?)?;
    if !to_caller.encoding.eq_ignore_ascii_case(&media.caller.name) {
        return Err(format!(
            "the engine answered the caller {} (PT {}), not {}",
            to_caller.encoding, to_caller.pt, media.caller.name
        ));
    }
    Ok(CallMedia {
        to_caller,
        to_callee,
    })
}

/// Deletes calls `0..calls` of `step`; returns how many were not deleted. Gives up after
/// [`MAX_FAILED_DELETES`] failures in a row (the engine is gone: each would wait
/// [`ng::ATTEMPTS`] × [`ng::REPLY_TIMEOUT`]), so a dead engine costs seconds, not hours.
fn delete_all(ng: &mut NgClient, step: usize, calls: usize) -> usize {
    let (mut failed, mut failed_in_a_row) = (0, 0);
    for c in 0..calls {
        if ng.call(&ng::delete(&ids(step, c))).is_ok() {
            failed_in_a_row = 0;
            continue;
        }
        failed += 1;
        failed_in_a_row += 1;
        if failed_in_a_row == MAX_FAILED_DELETES {
            return failed + (calls - c - 1);
        }
    }
    failed
}

/// Runs one step of `calls` calls (the `step`-th of the run).
pub fn run_step(
    options: &Options,
    media: &Media,
    ng: &mut NgClient,
    engine_pid: Option<u32>,
    step: usize,
    calls: usize,
) -> Result<StepResult, String> {
    let threads = options.threads.min(calls).max(1);
    let range = PortRange::new(options.ports.0, options.ports.1).map_err(|e| e.to_string())?;
    let bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // Call c lives on shard c % threads as its local call c / threads; callers and callees
    // of `per_socket` consecutive local calls share a caller socket and a callee socket.
    let mut shards = Vec::with_capacity(threads);
    for t in 0..threads {
        let local_calls = calls.div_ceil(threads);
        let sockets = 2 * local_calls.div_ceil(options.per_socket);
        let ports = range.split(threads, t).map_err(|e| e.to_string())?;
        match Shard::spawn(bind, ports, sockets) {
            Ok(s) => shards.push(s),
            Err(e) => {
                shards.into_iter().for_each(Shard::cancel);
                return Err(e);
            }
        }
    }
    let mut endpoints: Vec<Vec<Endpoint>> = vec![Vec::new(); threads];
    let caller_format = speech::format_of(&media.caller.name, media.caller.clock_rate).ok();
    let callee_format = speech::format_of(&media.callee.name, media.callee.clock_rate).ok();
    for c in 0..calls {
        let (t, local) = (c % threads, c / threads);
        let caller_socket = 2 * (local / options.per_socket);
        let callee_socket = caller_socket + 1;
        let shard = &shards[t];
        let set = setup_call(
            ng,
            media,
            &ids(step, c),
            1000 * step as u64 + 2 * c as u64,
            shard.addrs[caller_socket],
            shard.addrs[callee_socket],
        );
        let call = match set {
            Ok(call) => call,
            Err(e) => {
                delete_all(ng, step, c + 1);
                shards.into_iter().for_each(Shard::cancel);
                return Err(format!("call {c}: {e}"));
            }
        };
        endpoints[t].push(Endpoint {
            socket: caller_socket,
            engine: call.to_caller.addr,
            send_pt: call.to_caller.pt,
            speech: media.caller_speech.clone(),
            rx_pt: media.caller.pt,
            rx_clock: media.caller.clock_rate,
            rx_format: caller_format,
        });
        endpoints[t].push(Endpoint {
            socket: callee_socket,
            engine: call.to_callee.addr,
            send_pt: call.to_callee.pt,
            speech: media.callee_speech.clone(),
            rx_pt: call.to_callee.pt,
            rx_clock: call.to_callee.clock_rate,
            rx_format: callee_format,
        });
    }

    let start = Instant::now() + LEAD_IN;
    for (shard, endpoints) in shards.iter().zip(endpoints) {
        shard.start(Plan {
            endpoints,
            start,
            warmup: options.warmup,
            window: options.window,
            late_ms: options.late_ms,
        });
    }
    let sample = || {
        (
            engine_pid.map(|p| process_cpu(Some(p))),
            process_cpu(None),
            Instant::now(),
        )
    };
    sleep_until(start + options.warmup);
    let (engine0, self0, wall0) = sample();
    sleep_until(start + options.warmup + options.window);
    let (engine1, self1, wall1) = sample();
    let mut total = ShardResult::default();
    let mut failure = None;
    for shard in shards {
        match shard.finish() {
            Ok(r) => total.add(&r),
            Err(e) => failure = Some(e),
        }
    }
    let undeleted = delete_all(ng, step, calls);
    if let Some(e) = failure {
        return Err(e);
    }
    if undeleted > 0 {
        eprintln!("loadgen: {undeleted} calls of step {step} were not deleted");
    }
    let engine_cpu = match (engine0, engine1) {
        (Some(Ok(a)), Some(Ok(b))) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Ok(StepResult {
        calls,
        engine_cpu,
        loadgen_cpu: self1?.saturating_sub(self0?),
        wall: wall1 - wall0,
        shards: total,
        load: load_average(),
    })
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}
