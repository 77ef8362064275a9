//! Worker scaling: the real runtime with 1 worker, then with 2 (or any list), each worker
//! carrying its own load inside its backend ([`tandem_benches::synthetic`]), so that no other
//! process needs a core and 2 workers on a 2-core machine can be measured at all.
//!
//! ```text
//! chrt -f 5 scaling_bench [--scenario transcode|conference] [--workers 1,2 | 1,2,2,1]
//!     [--opus issue,rtpengine] [--start 20] [--step 20] [--max 400]
//!     [--seconds 5] [--warmup 2] [--retry 1] [--missed-ok 0] [--room 50] [--talkers 3]
//! ```
//!
//! For each Opus setting (`transcode` only) and each worker count, one runtime is started
//! ([`Runtime::start_with`]: pinned workers, real-time 10 ms ticks, a [`SyntheticIo`] per
//! worker on its own thread), and the load is stepped up per worker from `--start` by
//! `--step`: sessions are added through the runtime's Rust API until every worker holds the
//! step's count (PCMU ↔ Opus calls; or G.711 participants in rooms of `--room` with
//! `--talkers` talking, the rest sending digital silence), then after `--warmup` s the
//! window of `--seconds` s is measured. A step passes with no missed tick (at most
//! `--missed-ok` per worker, when a run is to say how far the load goes despite the host's
//! stalls; the header line says which), at least 99.9 % of the expected packets back (one per
//! stream per 20 ms, give or take one per stream at the window's edges), no wrong payload
//! type, no misdirected packet and no undecodable sample. A failing step is measured once
//! more with the same sessions (`--retry`; both rows are printed and the step passes only if
//! the second does): on this shared VM the host slows a vCPU for tens of ms several times a
//! second (BENCHMARKS.md, "The tick-cost tail is the host's"). The run of a worker count
//! stops at the first step that fails.
//!
//! Opus settings: `issue` is issue 4's target (Opus 16 kHz mono, complexity 5, Tandem's
//! default encoder); `rtpengine` is rtpengine's defaults as the side-by-side runs use them
//! (opus/48000/2, complexity 10, 32 kbit/s, application audio). The peers' own Opus is
//! encoded once, before the run, like the loadgen's.
//!
//! Columns: `calls/w` sessions per worker (participants for a conference), `channels` legs
//! in all, `missed` tick deadlines missed in the window (all workers; a late worker serves
//! them back to back, so packets are not lost but come out up to that late), `out %` packets
//! back over expected, `cpu %` each worker thread's CPU time over the window (from
//! `/proc/self/task/*/schedstat`), `µs/ch/20ms` worker CPU per channel per packet time, tick
//! cost `p50 / p99` (histogram bucket bounds) and `max` µs, `voiced %` of the sampled
//! returned packets that carried sound, `steal ms` the time the hypervisor took from this
//! machine's vCPUs during the window (`/proc/stat`; it does not count every stall).
//!
//! At the end, for each worker count against the smallest: scaling = the most total calls
//! that passed over those of the smallest count, and CPU per channel at equal per-worker load
//! with the scaling it implies were capacity bound by CPU cost alone (more robust than the
//! passing steps on a noisy host). Results: BENCHMARKS.md, "Scaling: 1 and 2 workers with the
//! load inside each worker".
//!
//! Bounded: at most [`MAX_STEPS`] steps per run of at most [`MAX_SECONDS`] s each, at most
//! [`MAX_PER_WORKER`] calls (or participants) per worker, at most [`MAX_WORKERS`] workers.
//! No sockets are opened. Run in release mode:
//! `cargo build --release -p tandem-benches --bin scaling_bench`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_benches::loadgen::cpu::parse_schedstat;
use tandem_benches::loadgen::floor::like_for_like_opus;
use tandem_benches::loadgen::sdp::SdpCodec;
use tandem_benches::loadgen::speech::loadgen_opus;
use tandem_benches::synthetic::{
    Plan, SyntheticConfig, SyntheticIo, SyntheticSnapshot, SyntheticStats, Voice,
};
use tandem_codecs::EncoderConfig;
use tandem_core::rtp::PayloadType;
use tandem_core::runtime::{Runtime, RuntimeConfig, RuntimeError};
use tandem_core::session::{CodecSpec, ConferenceSpec, LegSpec, SessionSpec};
use tandem_core::worker::{StatsSnapshot, TICK_COST_BUCKETS_US, WorkerConfig};
use tandem_drivers::packet::PortRange;

/// Most steps per run.
const MAX_STEPS: usize = 30;
/// Longest window and warm-up, s.
const MAX_SECONDS: u64 = 30;
/// Most calls (or participants) per worker.
const MAX_PER_WORKER: usize = 4000;
/// Most workers (each gets 10,000 ports from 20000 up).
const MAX_WORKERS: usize = 4;
/// Ports per worker.
const PORTS_PER_WORKER: u16 = 10_000;
/// Passing steps get at least this share of the expected packets back...
const MIN_OUT: f64 = 0.999;
/// ...give or take this many packets per stream: the window's edges fall between ticks, and
/// half the streams send in even ticks, half in odd ones.
const EDGE_SLACK: f64 = 1.0;
const OPUS_PT: u8 = 111;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Transcode,
    Conference,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpusSetting {
    /// Issue 4: Opus 16 kHz mono, complexity 5.
    Issue,
    /// rtpengine's defaults: opus/48000/2, complexity 10, 32 kbit/s.
    Rtpengine,
}

impl OpusSetting {
    fn name(self) -> &'static str {
        match self {
            Self::Issue => "issue",
            Self::Rtpengine => "rtpengine",
        }
    }

    /// The Opus leg's codec, Tandem's encoder settings for it, and the peer's.
    fn leg(self) -> (CodecSpec, EncoderConfig, EncoderConfig) {
        let pt = PayloadType::new(OPUS_PT).unwrap_or(PayloadType::PCMU);
        match self {
            Self::Issue => (
                CodecSpec::opus(16000, pt),
                EncoderConfig::DEFAULT,
                EncoderConfig {
                    opus: loadgen_opus(1),
                    ..EncoderConfig::DEFAULT
                },
            ),
            Self::Rtpengine => {
                let sdp = SdpCodec {
                    pt: OPUS_PT,
                    name: "opus".into(),
                    clock_rate: 48000,
                    channels: 2,
                };
                (
                    CodecSpec::opus(48000, pt),
                    EncoderConfig {
                        opus: like_for_like_opus(&sdp, 32_000),
                        ..EncoderConfig::DEFAULT
                    },
                    EncoderConfig {
                        opus: loadgen_opus(2),
                        ..EncoderConfig::DEFAULT
                    },
                )
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Options {
    scenario: Scenario,
    workers: Vec<usize>,
    opus: Vec<OpusSetting>,
    start: usize,
    step: usize,
    max: usize,
    seconds: u64,
    warmup: u64,
    retry: usize,
    missed_ok: u64,
    room: usize,
    talkers: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        scenario: Scenario::Transcode,
        workers: vec![1, 2],
        opus: vec![OpusSetting::Issue, OpusSetting::Rtpengine],
        start: 20,
        step: 20,
        max: 400,
        seconds: 5,
        warmup: 2,
        retry: 1,
        missed_ok: 0,
        room: 50,
        talkers: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--scenario" => {
                o.scenario = match value.as_str() {
                    "transcode" => Scenario::Transcode,
                    "conference" => Scenario::Conference,
                    other => return Err(format!("unknown scenario {other}")),
                }
            }
            "--workers" => {
                o.workers = value
                    .split(',')
                    .map(|v| v.parse::<usize>().map_err(|e| format!("--workers: {e}")))
                    .collect::<Result<_, _>>()?;
                if o.workers.iter().any(|&w| w == 0 || w > MAX_WORKERS) {
                    return Err(format!("--workers: 1 to {MAX_WORKERS} each"));
                }
            }
            "--opus" => {
                o.opus = value
                    .split(',')
                    .map(|v| match v {
                        "issue" => Ok(OpusSetting::Issue),
                        "rtpengine" => Ok(OpusSetting::Rtpengine),
                        other => Err(format!("--opus: unknown setting {other}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--start" => o.start = number()?.clamp(1, MAX_PER_WORKER),
            "--step" => o.step = number()?.max(1),
            "--max" => o.max = number()?.clamp(1, MAX_PER_WORKER),
            "--seconds" => o.seconds = (number()? as u64).clamp(1, MAX_SECONDS),
            "--warmup" => o.warmup = (number()? as u64).clamp(1, MAX_SECONDS),
            "--retry" => o.retry = number()?.min(3),
            "--missed-ok" => o.missed_ok = number()? as u64,
            "--room" => o.room = number()?.clamp(2, 1000),
            "--talkers" => o.talkers = number()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if o.scenario == Scenario::Conference {
        // Whole rooms per worker, so that every worker's plan lines up with its rooms.
        let round = |n: usize| n.div_ceil(o.room).max(1) * o.room;
        (o.start, o.step, o.max) = (round(o.start), round(o.step), round(o.max));
    }
    Ok(o)
}

/// One measured window of one step.
#[derive(Debug, Clone, Copy)]
struct Row {
    per_worker: usize,
    total: usize,
    channels: u64,
    missed: u64,
    out: f64,
    cpu_pct: [f64; MAX_WORKERS],
    us_per_channel: f64,
    p50: Option<u64>,
    p99: Option<u64>,
    max_us: u64,
    voiced: f64,
    steal_ms: u64,
    pass: bool,
}

/// The sessions of one run, and where they landed.
struct Load<'a> {
    runtime: &'a Runtime,
    scenario: Scenario,
    room: usize,
    a: LegSpec,
    b: LegSpec,
    per_worker: Vec<usize>,
}

impl Load<'_> {
    /// Adds sessions until every worker holds `target` (calls, or participants in whole
    /// rooms).
    fn grow_to(&mut self, target: usize) -> Result<(), String> {
        let workers = self.per_worker.len();
        let mut attempts = 0;
        while self.per_worker.iter().any(|&n| n < target) {
            attempts += 1;
            if attempts > workers * MAX_PER_WORKER {
                return Err(format!("placement never filled {:?}", self.per_worker));
            }
            let worker = match self.scenario {
                Scenario::Transcode => {
                    let spec = SessionSpec::Transcode {
                        a: self.a,
                        b: self.b,
                    };
                    self.runtime.create_session(&spec).map_err(text)?.worker
                }
                Scenario::Conference => {
                    let spec = SessionSpec::Conference(ConferenceSpec::new(8000, self.room));
                    let room = self.runtime.create_session(&spec).map_err(text)?;
                    for _ in 0..self.room {
                        self.runtime.join(room.id, &self.a).map_err(text)?;
                    }
                    room.worker
                }
            };
            self.per_worker[worker] += match self.scenario {
                Scenario::Transcode => 1,
                Scenario::Conference => self.room,
            };
        }
        if self.per_worker.iter().any(|&n| n != target) {
            return Err(format!(
                "placement is uneven: {:?} for {target} per worker",
                self.per_worker
            ));
        }
        Ok(())
    }
}

fn text(e: RuntimeError) -> String {
    e.to_string()
}

/// CPU time (ns) of each media worker thread (`tandem-media-N`), from `schedstat`.
fn worker_cpu_ns(workers: usize) -> Vec<u64> {
    let mut cpu = vec![0; workers];
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return cpu;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let Some(index) = comm
            .trim()
            .strip_prefix("tandem-media-")
            .and_then(|i| i.parse::<usize>().ok())
        else {
            continue;
        };
        let ns = std::fs::read_to_string(task.path().join("schedstat"))
            .ok()
            .and_then(|t| parse_schedstat(&t))
            .unwrap_or(0);
        if let Some(slot) = cpu.get_mut(index) {
            *slot = ns;
        }
    }
    cpu
}

/// Time the hypervisor ran something else while this machine's vCPUs wanted to run, ms, all
/// CPUs together (`steal` of `/proc/stat`'s `cpu` line, in 10 ms ticks); zero if unreadable.
fn steal_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(8)?.parse::<u64>().ok())
        .map_or(0, |ticks| ticks * 10)
}

/// Everything measured at one instant.
struct Sample {
    at: Instant,
    workers: Vec<StatsSnapshot>,
    io: Vec<SyntheticSnapshot>,
    cpu_ns: Vec<u64>,
    steal_ms: u64,
}

fn sample(runtime: &Runtime, io: &[Arc<SyntheticStats>]) -> Sample {
    Sample {
        at: Instant::now(),
        workers: runtime.worker_stats(),
        io: io.iter().map(|s| s.snapshot()).collect(),
        cpu_ns: worker_cpu_ns(io.len()),
        steal_ms: steal_ms(),
    }
}

fn measure(runtime: &Runtime, io: &[Arc<SyntheticStats>], o: &Options, load: &Load<'_>) -> Row {
    let before = sample(runtime, io);
    std::thread::sleep(Duration::from_secs(o.seconds));
    let after = sample(runtime, io);
    let window = after.at.duration_since(before.at).as_secs_f64();
    let workers = io.len();

    let mut histogram = StatsSnapshot::default();
    let mut missed = 0;
    for (b, a) in before.workers.iter().zip(&after.workers) {
        missed += a.missed_deadlines - b.missed_deadlines;
        for i in 0..=TICK_COST_BUCKETS_US.len() {
            histogram.cost_buckets[i] += a.cost_buckets[i] - b.cost_buckets[i];
        }
        histogram.cost_max_ns = histogram.cost_max_ns.max(a.cost_max_ns);
    }
    let traffic = before
        .io
        .iter()
        .zip(&after.io)
        .map(|(b, a)| a.since(b))
        .fold(SyntheticSnapshot::default(), |sum, d| sum.plus(&d));
    let periods = window * 1e6 / tandem_benches::synthetic::PTIME_US as f64;
    let expected = traffic.streams as f64 * periods;
    let out = traffic.returned as f64 / expected.max(1.0);
    let mut cpu_pct = [0.0; MAX_WORKERS];
    let mut cpu_total = 0u64;
    for ((pct, b), a) in cpu_pct.iter_mut().zip(&before.cpu_ns).zip(&after.cpu_ns) {
        let ns = a.saturating_sub(*b);
        cpu_total += ns;
        *pct = 100.0 * ns as f64 / (window * 1e9);
    }
    let us_per_channel = cpu_total as f64 / 1000.0 / traffic.streams.max(1) as f64 / periods;
    let voiced = 100.0 * traffic.sampled_voiced as f64 / traffic.sampled.max(1) as f64;
    let pass = missed <= o.missed_ok * workers as u64
        && traffic.returned as f64 + EDGE_SLACK * traffic.streams as f64 >= MIN_OUT * expected
        && traffic.wrong_payload_type == 0
        && traffic.misdirected == 0
        && traffic.decode_errors == 0;
    Row {
        per_worker: load.per_worker[0],
        total: load.per_worker.iter().sum(),
        channels: traffic.streams,
        missed,
        out: 100.0 * out,
        cpu_pct,
        us_per_channel,
        p50: histogram.cost_percentile_us(0.5),
        p99: histogram.cost_percentile_us(0.99),
        max_us: histogram.cost_max_ns / 1000,
        voiced,
        steal_ms: after.steal_ms.saturating_sub(before.steal_ms),
        pass,
    }
}

fn bound(v: Option<u64>) -> String {
    match v {
        None => "-".into(),
        Some(u64::MAX) => ">20000".into(),
        Some(v) => v.to_string(),
    }
}

fn print_header() {
    println!(
        "| setting | workers | calls/w | total | channels | missed | out % | cpu % per worker | µs/ch/20ms | tick p50 / p99 / max µs | voiced % | steal ms | pass |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
}

fn print_row(setting: &str, workers: usize, r: &Row) {
    let cpu: Vec<String> = r.cpu_pct[..workers]
        .iter()
        .map(|c| format!("{c:.0}"))
        .collect();
    println!(
        "| {setting} | {workers} | {} | {} | {} | {} | {:.2} | {} | {:.1} | {} / {} / {} | {:.0} | {} | {} |",
        r.per_worker,
        r.total,
        r.channels,
        r.missed,
        r.out,
        cpu.join(", "),
        r.us_per_channel,
        bound(r.p50),
        bound(r.p99),
        r.max_us,
        r.voiced,
        r.steal_ms,
        if r.pass { "yes" } else { "no" }
    );
}

/// The voices and the plan their sockets take, per scenario.
fn plan(o: &Options, setting: OpusSetting) -> Result<(Plan, LegSpec, LegSpec), String> {
    let peer = EncoderConfig::DEFAULT;
    match o.scenario {
        Scenario::Transcode => {
            let (opus, tandem_side, peer_side) = setting.leg();
            let voices = vec![
                Voice::speech(CodecSpec::PCMU, &peer)?,
                Voice::speech(opus, &peer_side)?,
            ];
            if !voices[0].real_speech {
                println!("(espeak-ng or sox missing: tone bursts stand in for speech)");
            }
            let plan = Plan {
                voices: voices.into(),
                order: vec![0, 1],
            };
            let a = LegSpec::new(CodecSpec::PCMU);
            let b = LegSpec::new(opus).with_encoder(tandem_side);
            Ok((plan, a, b))
        }
        Scenario::Conference => {
            let voices = vec![
                Voice::speech(CodecSpec::PCMU, &peer)?,
                Voice::silence(CodecSpec::PCMU)?,
            ];
            let talkers = o.talkers.min(o.room);
            let order = (0..o.room).map(|k| usize::from(k >= talkers)).collect();
            let leg = LegSpec::new(CodecSpec::PCMU);
            Ok((
                Plan {
                    voices: voices.into(),
                    order,
                },
                leg,
                leg,
            ))
        }
    }
}

/// One run: `workers` workers, stepped up until a step fails. Returns its rows (the
/// retried ones included) and the most per worker that passed.
fn run(
    o: &Options,
    setting: OpusSetting,
    name: &str,
    workers: usize,
) -> Result<(Vec<Row>, Option<usize>), String> {
    let (plan, a, b) = plan(o, setting)?;
    let stats: Vec<Arc<SyntheticStats>> = (0..workers)
        .map(|_| Arc::new(SyntheticStats::default()))
        .collect();
    let shared = stats.clone();
    let legs_per_worker = match o.scenario {
        Scenario::Transcode => 2 * o.max,
        Scenario::Conference => o.max,
    };
    let config = RuntimeConfig {
        workers,
        pin: true,
        worker: WorkerConfig {
            max_sessions: o.max + 16,
            tx_queue: 2 * legs_per_worker + 64,
            ..WorkerConfig::new(0)
        },
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start_with(config, move |index| {
        let min = 20_000 + PORTS_PER_WORKER * index as u16;
        let ports = PortRange::new(min, min + PORTS_PER_WORKER - 1).map_err(|error| {
            RuntimeError::Backend {
                worker: index,
                error,
            }
        })?;
        let config = SyntheticConfig {
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + index as u8)),
            ports,
            peer_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1 + index as u8)),
            plan: plan.clone(),
            sample_every: 64,
        };
        SyntheticIo::new(config, Arc::clone(&shared[index])).map_err(|reason| {
            RuntimeError::Thread {
                worker: index,
                reason,
            }
        })
    })
    .map_err(text)?;
    if runtime.worker_stats().iter().any(|s| !s.pinned) {
        println!("(warning: a worker could not be pinned to its core)");
    }
    let mut load = Load {
        runtime: &runtime,
        scenario: o.scenario,
        room: o.room,
        a,
        b,
        per_worker: vec![0; workers],
    };
    let mut rows = Vec::new();
    let mut best = None;
    let mut target = o.start;
    for _ in 0..MAX_STEPS {
        if target > o.max {
            break;
        }
        load.grow_to(target)?;
        std::thread::sleep(Duration::from_secs(o.warmup));
        let mut row = measure(&runtime, &stats, o, &load);
        print_row(name, workers, &row);
        rows.push(row);
        for _ in 0..o.retry {
            if row.pass {
                break;
            }
            row = measure(&runtime, &stats, o, &load);
            print_row(name, workers, &row);
            rows.push(row);
        }
        if !row.pass {
            break;
        }
        best = Some(target);
        target += o.step;
    }
    runtime.shutdown();
    Ok((rows, best))
}

fn main() {
    if let Err(e) = parse_options().and_then(|o| bench(&o)) {
        eprintln!("scaling_bench: {e}");
        std::process::exit(2);
    }
}

fn bench(o: &Options) -> Result<(), String> {
    let settings: Vec<OpusSetting> = match o.scenario {
        Scenario::Transcode => o.opus.clone(),
        // The conference is G.711 only; one pass.
        Scenario::Conference => vec![OpusSetting::Issue],
    };
    println!(
        "scaling_bench: {:?}, workers {:?}, {} s windows after {} s warm-up, retry {}, \
         missed ticks allowed per worker and window {}{}",
        o.scenario,
        o.workers,
        o.seconds,
        o.warmup,
        o.retry,
        o.missed_ok,
        if o.scenario == Scenario::Conference {
            format!(", rooms of {} with {} talkers", o.room, o.talkers)
        } else {
            String::new()
        }
    );
    print_header();
    for setting in settings {
        let name = match o.scenario {
            Scenario::Transcode => setting.name(),
            Scenario::Conference => "g711 room",
        };
        let mut results = Vec::new();
        for &workers in &o.workers {
            let (rows, best) = run(o, setting, name, workers)?;
            results.push((workers, rows, best));
        }
        summarize(name, &results);
    }
    Ok(())
}

/// Scaling of the most calls that passed, and CPU per channel at equal per-worker load.
/// A worker count listed more than once (`--workers 1,2,2,1`, to even out the machine's
/// drift) is summarised by the lower median of its runs' best steps and the median of its
/// windows' CPU per channel at each load.
fn summarize(name: &str, results: &[(usize, Vec<Row>, Option<usize>)]) {
    let mut counts: Vec<usize> = results.iter().map(|r| r.0).collect();
    counts.sort_unstable();
    counts.dedup();
    let best = |workers: usize| -> Option<usize> {
        let mut bests: Vec<usize> = results
            .iter()
            .filter(|r| r.0 == workers)
            .map(|r| r.2.unwrap_or(0))
            .collect();
        bests.sort_unstable();
        bests
            .get((bests.len().max(1) - 1) / 2)
            .copied()
            .filter(|&b| b > 0)
    };
    // Every window at that load counts, passed or not: CPU per channel is measured either
    // way, and leaving out the slow windows would flatter whichever count had more of them.
    let cost = |workers: usize, per_worker: usize| -> Option<(f64, usize)> {
        let mut costs: Vec<f64> = results
            .iter()
            .filter(|r| r.0 == workers)
            .flat_map(|r| r.1.iter())
            .filter(|row| row.per_worker == per_worker)
            .map(|row| row.us_per_channel)
            .collect();
        costs.sort_by(f64::total_cmp);
        let n = costs.len();
        let median = match n {
            0 => return None,
            n if n % 2 == 1 => costs[n / 2],
            n => (costs[n / 2 - 1] + costs[n / 2]) / 2.0,
        };
        Some((median, n))
    };
    let Some(&one) = counts.first() else { return };
    for &workers in &counts[1..] {
        match (best(one), best(workers)) {
            (Some(b1), Some(bn)) => println!(
                "{name}: {one} worker(s) passed {} calls in all, {workers} passed {}: scaling {:.2}x",
                b1 * one,
                bn * workers,
                (bn * workers) as f64 / (b1 * one) as f64
            ),
            _ => println!("{name}: no passing step with {one} or with {workers} worker(s)"),
        }
        let mut loads: Vec<usize> = results
            .iter()
            .flat_map(|r| r.1.iter().map(|row| row.per_worker))
            .collect();
        loads.sort_unstable();
        loads.dedup();
        for per_worker in loads {
            if let (Some((base, n1)), Some((c, n))) =
                (cost(one, per_worker), cost(workers, per_worker))
            {
                // Were the workers' capacity bounded by their CPU cost alone, this would be
                // the scaling: each of `workers` runs at `base / c` of one worker's speed.
                println!(
                    "{name}: {per_worker} per worker: median {base:.1} µs/ch/20ms with {one} ({n1} windows), {c:.1} with {workers} ({n} windows), {:+.1} %: by cost, scaling {:.2}x",
                    100.0 * (c / base - 1.0),
                    (workers as f64 / one as f64) * base / c
                );
            }
        }
    }
}
