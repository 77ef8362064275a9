//! Whole-engine benchmark: the real runtime (workers, UDP backend on 127.0.0.1, real-time
//! 10 ms ticks) under load from a separate process that plays the peers, paced in real time.
//!
//! ```text
//! engine_bench [--scenario relay|transcode|conference] [--calls 100,200,400]
//!              [--seconds 10] [--workers 1] [--room 50] [--talkers 3] [--io udp,uring]
//!              [--playout adaptive|fixed] [--engine tandem,floor]
//! ```
//!
//! `--io` names the workers' packet backends (`udp`, `uring`, or both: each load then runs
//! once per backend, back to back, so the two are compared under the same machine load).
//! `--engine floor` (relay only) runs the relay's kernel floor ([`tandem_benches::relay_floor`])
//! instead of the runtime: the same backend's system calls on the same ticks with no engine
//! code, so that `--engine tandem,floor` shows, under the same machine load, how much of a
//! relayed channel's cost is Tandem's and how much the kernel's.
//! `--playout` picks the ingress buffer of the legs that decode (`LegSpec::playout`);
//! without it every leg keeps the runtime's default for its session kind.
//!
//! For each load in `--calls` (at most [`MAX_POINTS`]; each run at most [`MAX_SECONDS`] s),
//! the engine process starts a runtime, creates the sessions, and starts itself again as the
//! load process (`engine_bench load`), which opens UDP sockets of its own, sends one packet
//! every 20 ms to every leg (absolute deadlines; the legs in ten groups, one per 2 ms slot,
//! so that the load is spread over the packet time as real calls' phases are) and counts
//! what comes back. After a 1 s
//! warm-up (source learning, playout delay) both sides measure for `--seconds`, and one row is
//! printed:
//!
//! | column | meaning |
//! |---|---|
//! | `io` | the workers' packet backend |
//! | `channels` | legs carrying media (2 per relay or transcoding call; 1 per conference leg) |
//! | `missed` | tick deadlines the workers missed during the window |
//! | `lost %` | packets the load process expected back and did not get (late ones included) |
//! | `late %` | relay only: packets that came back more than 60 ms after they left |
//! | `cpu µs/ch/s` | engine CPU time (user + system, whole process) per channel per second |
//! | `tick p50 / p99 / max` | per-tick cost from the workers' histograms (bucket bounds), µs |
//! | `ok` | zero missed ticks and under 0.1 % lost or late |
//!
//! For `transcode` each row also shows the engine's calls per core by CPU (`calls/core`, a
//! call being two channels) against the zero-overhead ceiling measured just before the same
//! point (`ceiling`, `% ceil`): a tight loop of the same codec calls on the same audio the load
//! sends, through `tandem-codecs`' `Transcoder` on the path its planner picks (PCMU facing
//! Opus is coded at 8 kHz: PCMU decode, Opus encode; Opus decode, PCMU encode), timed in
//! thread CPU time on the worker's CPU, as calls per core.
//!
//! Run it in release mode: `cargo run --release -p tandem-benches --bin engine_bench -- ...`.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tandem_benches::relay_floor::{RelayFloor, pin_to};
use tandem_codecs::{Encoder, EncoderConfig, Format, Transcoder, TranscoderConfig, registry};
use tandem_core::rtp::{PayloadType, RtpHeader, RtpPacket, RtpTimestamp, SeqNo, Ssrc};
use tandem_core::runtime::{Runtime, RuntimeConfig};
use tandem_core::session::{CodecSpec, ConferenceSpec, LegSpec, SessionSpec};
use tandem_core::worker::{StatsSnapshot, TICK_COST_BUCKETS_US, WorkerConfig};
use tandem_drivers::packet::kernel::IoKind;
use tandem_drivers::packet::udp::{UdpConfig, UdpIo};
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortPair, PortRange, RecvMeta, Timestamp, Transmit,
};

/// Most loads one invocation runs.
const MAX_POINTS: usize = 8;
/// Longest measurement window, s.
const MAX_SECONDS: u64 = 60;
/// Warm-up before measuring, s.
const WARMUP: Duration = Duration::from_secs(1);
/// The load's send slots per 20 ms packet time, and their length.
const SLOTS: usize = 10;
const SLOT: Duration = Duration::from_millis(2);
/// Packets are late when they come back later than this (relay).
const LATE_US: u64 = 60_000;
/// Targets per load-process socket (legs lock onto a shared peer address just fine).
const TARGETS_PER_SOCKET: usize = 256;
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const OPUS_PT: u8 = 111;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Relay,
    Transcode,
    Conference,
}

#[derive(Debug, Clone)]
struct Options {
    scenario: Scenario,
    calls: Vec<usize>,
    seconds: u64,
    workers: usize,
    room: usize,
    talkers: usize,
    io: Vec<IoKind>,
    /// `Some(adaptive)` when `--playout` overrides the legs' ingress buffer.
    playout: Option<bool>,
    /// What serves the load: the runtime, the relay floor, or each in turn.
    engines: Vec<Engine>,
}

/// What the load runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    /// Tandem's runtime.
    Tandem,
    /// The relay's kernel floor ([`RelayFloor`]).
    Floor,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Self::Tandem => "tandem",
            Self::Floor => "floor",
        }
    }
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        scenario: Scenario::Relay,
        calls: vec![100],
        seconds: 10,
        workers: 1,
        room: 50,
        talkers: 3,
        io: vec![IoKind::Udp],
        playout: None,
        engines: vec![Engine::Tandem],
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--scenario" => {
                o.scenario = match value.as_str() {
                    "relay" => Scenario::Relay,
                    "transcode" => Scenario::Transcode,
                    "conference" => Scenario::Conference,
                    other => return Err(format!("unknown scenario {other}")),
                }
            }
            "--calls" => {
                o.calls = value
                    .split(',')
                    .map(|v| v.parse::<usize>().map_err(|e| format!("--calls: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => o.seconds = number()?.clamp(1, MAX_SECONDS as usize) as u64,
            "--workers" => o.workers = number()?.max(1),
            "--room" => o.room = number()?.max(2),
            "--talkers" => o.talkers = number()?,
            "--io" => {
                o.io = value
                    .split(',')
                    .map(|v| v.parse::<IoKind>().map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?;
            }
            "--playout" => {
                o.playout = match value.as_str() {
                    "adaptive" => Some(true),
                    "fixed" => Some(false),
                    other => return Err(format!("--playout: unknown buffer {other}")),
                }
            }
            "--engine" => {
                o.engines = value
                    .split(',')
                    .map(|v| match v {
                        "tandem" => Ok(Engine::Tandem),
                        "floor" => Ok(Engine::Floor),
                        other => Err(format!("--engine: unknown engine {other}")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    o.calls.truncate(MAX_POINTS);
    if o.engines.contains(&Engine::Floor) && o.scenario != Scenario::Relay {
        return Err("--engine floor measures the relay only".into());
    }
    Ok(o)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("load") => load(),
        _ => parse_options(&args[1..]).and_then(|o| engine(&o)),
    };
    if let Err(e) = result {
        eprintln!("engine_bench: {e}");
        std::process::exit(2);
    }
}

/// CPU time of this process so far (user + system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // Linux reports clock ticks of 1/100 s (USER_HZ) here.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// What each load target is: what to send and what comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// PCMU with a time stamp in the payload (relay: it comes back unchanged).
    Stamped,
    /// PCMU speech-like bursts.
    Talk,
    /// PCMU silence.
    Silence,
    /// Opus 16 kHz.
    Opus,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Stamped => "stamped",
            Kind::Talk => "talk",
            Kind::Silence => "silence",
            Kind::Opus => "opus",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Stamped, Kind::Talk, Kind::Silence, Kind::Opus]
            .into_iter()
            .find(|k| k.name() == s)
    }
}

/// A leg in `codec`, with the ingress buffer `--playout` asked for.
fn leg_spec(o: &Options, codec: CodecSpec) -> LegSpec {
    let spec = LegSpec::new(codec);
    match o.playout {
        Some(adaptive) => spec.with_adaptive_playout(adaptive),
        None => spec,
    }
}

fn engine(o: &Options) -> Result<(), String> {
    println!(
        "scenario {:?}, {} worker(s), {} s per load{}",
        o.scenario,
        o.workers,
        o.seconds,
        if o.scenario == Scenario::Conference {
            format!(", rooms of {} with {} talkers", o.room, o.talkers)
        } else {
            String::new()
        }
    );
    println!(
        "{:>12} {:>8} {:>8} {:>7} {:>7} {:>12} {:>6} {:>6} {:>7} {:>4}{}",
        "engine",
        "channels",
        "missed",
        "lost %",
        "late %",
        "cpu µs/ch/s",
        "p50",
        "p99",
        "max",
        "ok",
        if o.scenario == Scenario::Transcode {
            format!(" {:>10} {:>10} {:>8}", "calls/core", "ceiling", "% ceil")
        } else {
            String::new()
        }
    );
    for &calls in &o.calls {
        for &io in &o.io {
            for &engine in &o.engines {
                run_point(o, calls, io, engine)?;
            }
        }
    }
    Ok(())
}

/// Starts the runtime with `calls` sessions of `o.scenario` on backend `io`; returns it and
/// the load's targets.
fn start_runtime(
    o: &Options,
    calls: usize,
    io: IoKind,
) -> Result<(Runtime, Vec<(Kind, SocketAddr)>), String> {
    let legs_needed = match o.scenario {
        Scenario::Relay | Scenario::Transcode => 2 * calls,
        Scenario::Conference => calls,
    };
    let config = RuntimeConfig {
        workers: o.workers,
        bind: LOOPBACK,
        io,
        ports: PortRange::new(20000, 31999).map_err(|e| e.to_string())?,
        pin: true,
        worker: WorkerConfig {
            max_sessions: legs_needed + 16,
            tx_queue: 16_384,
            ..WorkerConfig::new(0)
        },
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(config).map_err(|e| e.to_string())?;
    if let Some((worker, reason)) = runtime.io_fallbacks().first() {
        return Err(format!("worker {worker}: io_uring unavailable ({reason})"));
    }
    let mut targets: Vec<(Kind, SocketAddr)> = Vec::with_capacity(legs_needed);
    let opus = CodecSpec::opus(
        16000,
        PayloadType::new(OPUS_PT).unwrap_or(PayloadType::PCMU),
    );
    match o.scenario {
        Scenario::Relay => {
            for _ in 0..calls {
                let h = runtime
                    .create_session(&SessionSpec::Relay {
                        a: leg_spec(o, CodecSpec::PCMU),
                        b: leg_spec(o, CodecSpec::PCMU),
                    })
                    .map_err(|e| e.to_string())?;
                targets.extend(h.legs.iter().map(|l| (Kind::Stamped, l.rtp)));
            }
        }
        Scenario::Transcode => {
            for _ in 0..calls {
                let h = runtime
                    .create_session(&SessionSpec::Transcode {
                        a: leg_spec(o, CodecSpec::PCMU),
                        b: leg_spec(o, opus),
                    })
                    .map_err(|e| e.to_string())?;
                targets.push((Kind::Talk, h.legs[0].rtp));
                targets.push((Kind::Opus, h.legs[1].rtp));
            }
        }
        Scenario::Conference => {
            let mut left = calls;
            while left > 0 {
                let size = left.min(o.room);
                let room = runtime
                    .create_session(&SessionSpec::Conference(ConferenceSpec::new(8000, size)))
                    .map_err(|e| e.to_string())?;
                for k in 0..size {
                    let leg = runtime
                        .join(room.id, &leg_spec(o, CodecSpec::PCMU))
                        .map_err(|e| e.to_string())?;
                    let kind = if k < o.talkers {
                        Kind::Talk
                    } else {
                        Kind::Silence
                    };
                    targets.push((kind, leg.rtp));
                }
                left -= size;
            }
        }
    }
    Ok((runtime, targets))
}

/// What serves the load in one point.
// One per point, built once: the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum UnderTest {
    Tandem(Runtime),
    Floor(RelayFloor),
}

impl UnderTest {
    /// Per-worker counters now (the floor is one worker).
    fn stats(&self) -> Vec<StatsSnapshot> {
        match self {
            Self::Tandem(runtime) => runtime.worker_stats(),
            Self::Floor(floor) => vec![floor.counters.snapshot()],
        }
    }

    fn stop(self) {
        match self {
            Self::Tandem(runtime) => runtime.shutdown(),
            Self::Floor(floor) => floor.stop(),
        }
    }
}

/// Starts the relay floor with `calls` calls on backend `io`, on the CPU the runtime would
/// pin its first worker to.
fn start_floor(calls: usize, io: IoKind) -> Result<(UnderTest, Vec<(Kind, SocketAddr)>), String> {
    let ports = PortRange::new(20000, 31999).map_err(|e| e.to_string())?;
    let floor = RelayFloor::start(
        io,
        UdpConfig::new(LOOPBACK, ports),
        calls,
        first_allowed_cpu(),
    )?;
    let targets = floor.legs.iter().map(|&a| (Kind::Stamped, a)).collect();
    Ok((UnderTest::Floor(floor), targets))
}

/// The first CPU this process may run on (where `Runtime::start` pins worker 0).
fn first_allowed_cpu() -> Option<usize> {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    let allowed = sched_getaffinity(Pid::from_raw(0)).ok()?;
    (0..CpuSet::count()).find(|&c| allowed.is_set(c).unwrap_or(false))
}

fn run_point(o: &Options, calls: usize, io: IoKind, engine: Engine) -> Result<(), String> {
    // Measured just before the point, with nothing else running, on the worker's CPU.
    let ceiling = (o.scenario == Scenario::Transcode).then(transcode_ceiling);
    let (under_test, targets) = match engine {
        Engine::Tandem => {
            let (runtime, targets) = start_runtime(o, calls, io)?;
            (UnderTest::Tandem(runtime), targets)
        }
        Engine::Floor => start_floor(calls, io)?,
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the load process: {e}"))?;
    {
        let stdin = child.stdin.as_mut().ok_or("no stdin")?;
        let mut script = format!("{}\n", o.seconds);
        for (kind, addr) in &targets {
            script.push_str(&format!("{} {addr}\n", kind.name()));
        }
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    drop(child.stdin.take());
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    // The load process says when its measurement window starts and ends.
    let mut expect = |word: &str| -> Result<String, String> {
        match lines.next() {
            Some(Ok(line)) if line.starts_with(word) => Ok(line),
            other => Err(format!("load process: expected {word}, got {other:?}")),
        }
    };
    expect("start")?;
    let (cpu0, stats0) = (cpu_time(), under_test.stats());
    let wall0 = Instant::now();
    expect("stop")?;
    let (cpu1, stats1, wall) = (cpu_time(), under_test.stats(), wall0.elapsed());
    let result = expect("result")?;
    let _ = child.wait();
    under_test.stop();
    wait_until_unbound(&targets);

    let field = |name: &str| -> f64 {
        result
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or(0.0)
    };
    let (expected, received, late) = (field("expected"), field("received"), field("late"));
    let lost_pct = if expected > 0.0 {
        100.0 * (expected - received).max(0.0) / expected
    } else {
        0.0
    };
    let late_pct = if received > 0.0 {
        100.0 * late / received
    } else {
        0.0
    };
    let delta = stats_delta(&stats0, &stats1);
    let cpu = cpu1.saturating_sub(cpu0).as_secs_f64();
    let per_channel = 1e6 * cpu / wall.as_secs_f64() / targets.len().max(1) as f64;
    let pct = |q: f64| {
        delta.cost_percentile_us(q).map_or("-".to_string(), |v| {
            if v == u64::MAX {
                ">20000".into()
            } else {
                v.to_string()
            }
        })
    };
    let ok = delta.missed_deadlines == 0 && lost_pct < 0.1 && late_pct < 0.1;
    // Calls per core by CPU: a call is two channels.
    let calls_per_core = 1e6 / (2.0 * per_channel.max(f64::MIN_POSITIVE));
    let against_ceiling = ceiling.map_or(String::new(), |c| {
        format!(
            " {:>10.0} {:>10.0} {:>8.0}",
            calls_per_core,
            c,
            100.0 * calls_per_core / c.max(f64::MIN_POSITIVE)
        )
    });
    println!(
        "{:>12} {:>8} {:>8} {:>7.3} {:>7.3} {:>12.1} {:>6} {:>6} {:>7} {:>4}{}",
        format!("{}-{}", engine.name(), io.name()),
        targets.len(),
        delta.missed_deadlines,
        lost_pct,
        late_pct,
        per_channel,
        pct(0.5),
        pct(0.99),
        delta.cost_max_ns / 1000,
        if ok { "yes" } else { "no" },
        against_ceiling
    );
    Ok(())
}

/// Waits (at most 10 s) until the legs' RTP and RTCP ports can be bound again: an io_uring
/// backend's sockets are released by the kernel's ring teardown, after the ring is closed,
/// and the next point binds the same ports.
fn wait_until_unbound(targets: &[(Kind, SocketAddr)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let free = |addr: SocketAddr| std::net::UdpSocket::bind(addr).is_ok();
    while Instant::now() < deadline {
        let all_free = targets.iter().all(|&(_, rtp)| {
            let rtcp = SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1));
            free(rtp) && free(rtcp)
        });
        if all_free {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The workers' metrics accumulated between two snapshots (summed over workers; the max of
/// maxima is over the whole run).
fn stats_delta(before: &[StatsSnapshot], after: &[StatsSnapshot]) -> StatsSnapshot {
    let mut d = StatsSnapshot::default();
    for (b, a) in before.iter().zip(after) {
        d.ticks += a.ticks - b.ticks;
        d.missed_deadlines += a.missed_deadlines - b.missed_deadlines;
        for i in 0..=TICK_COST_BUCKETS_US.len() {
            d.cost_buckets[i] += a.cost_buckets[i] - b.cost_buckets[i];
        }
        d.cost_max_ns = d.cost_max_ns.max(a.cost_max_ns);
    }
    d
}

/// Calls per core the codec work of a PCMU ↔ Opus 16 kHz call allows when nothing else runs:
/// both directions through `tandem-codecs`' `Transcoder`, which runs the path its planner
/// picks for the pair — the same codec calls the engine's transcoding session makes, on the
/// same audio the load sends. Timed in thread CPU time on the CPU the runtime pins its first
/// worker to, in the worker's floating-point mode; the median of [`CEILING_ROUNDS`] rounds
/// of [`CEILING_FRAMES`] frames, after one round of warm-up.
fn transcode_ceiling() -> f64 {
    std::thread::spawn(|| {
        if let Some(cpu) = first_allowed_cpu() {
            pin_to(cpu);
        }
        tandem_core::worker::fpu::flush_subnormals_to_zero();
        transcode_ceiling_here()
    })
    .join()
    .unwrap_or(0.0)
}

/// Rounds of the ceiling's loop (the median is reported) and 20 ms frames per round.
const CEILING_ROUNDS: usize = 5;
const CEILING_FRAMES: usize = 1000;

fn thread_cpu() -> Duration {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, Duration::from)
}

fn transcode_ceiling_here() -> f64 {
    let opus = Format::opus(16000);
    let config = |from, to| TranscoderConfig {
        from,
        from_ptime_ms: 20,
        to,
        to_ptime_ms: 20,
        encoder: EncoderConfig::default(),
    };
    let (Ok(mut to_opus), Ok(mut to_pcmu)) = (
        Transcoder::new(&config(Format::PCMU, opus)),
        Transcoder::new(&config(opus, Format::PCMU)),
    ) else {
        return 0.0;
    };
    // The frames the load process sends (`load`), in the same order: the same audio, so the
    // encoders meet the same bursts and pauses as the engine's.
    let Ok((pcmu_frames, opus_frames)) = talk_frames() else {
        return 0.0;
    };
    let mut payload = vec![0u8; 1500];
    let mut frame = 0usize;
    let mut round = || {
        let start = thread_cpu();
        for _ in 0..CEILING_FRAMES {
            for (transcoder, input) in [
                (&mut to_opus, &pcmu_frames[frame % pcmu_frames.len()][..]),
                (&mut to_pcmu, &opus_frames[frame % opus_frames.len()][..]),
            ] {
                let _ = transcoder.push(input);
                while let Ok(Some(_)) = transcoder.pop(&mut payload) {}
            }
            frame += 1;
        }
        (thread_cpu() - start).as_secs_f64() / CEILING_FRAMES as f64
    };
    round();
    let mut per_frame: Vec<f64> = (0..CEILING_ROUNDS).map(|_| round()).collect();
    per_frame.sort_by(f64::total_cmp);
    0.020 / per_frame[CEILING_ROUNDS / 2]
}

/// 20 ms packets of one codec, in order.
type Frames = Vec<Vec<u8>>;

/// The load's 4 s of speech-like audio as 20 ms packets, once: PCMU (for the PCMU legs) and
/// Opus 16 kHz (for the Opus legs).
fn talk_frames() -> Result<(Frames, Frames), String> {
    let mut pcmu_enc = registry::new_encoder(Format::PCMU, &EncoderConfig::default())
        .map_err(|e| e.to_string())?;
    let mut opus_enc = registry::new_encoder(Format::opus(16000), &EncoderConfig::default())
        .map_err(|e| e.to_string())?;
    let encode = |pcm: &[i16], encoder: &mut Box<dyn Encoder>| {
        let mut out = vec![0u8; 1500];
        let n = encoder.encode(pcm, &mut out).unwrap_or(0);
        out.truncate(n);
        out
    };
    let pcmu = talk_pcm(8000, 8000 * 4)
        .chunks_exact(160)
        .map(|c| encode(c, &mut pcmu_enc))
        .collect();
    let opus = talk_pcm(16000, 16000 * 4)
        .chunks_exact(320)
        .map(|c| encode(c, &mut opus_enc))
        .collect();
    Ok((pcmu, opus))
}

/// Speech-like tone bursts: 300 ms on, 100 ms off, pitch and level varying per burst.
fn talk_pcm(rate: u32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let burst = (t / 0.4) as usize;
            let amp = if t % 0.4 < 0.3 {
                3000.0 + 1500.0 * (burst % 3) as f64
            } else {
                0.0
            };
            let hz = 300.0 * (1.0 + 0.15 * (burst % 4) as f64);
            (amp * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

/// One load target: where, what, and the RTP state of the stream sent to it.
struct Target {
    kind: Kind,
    addr: SocketAddr,
    pair: usize,
    seq: u16,
    ts: u32,
    ssrc: u32,
}

/// The load process: reads `seconds` and targets from stdin, plays every peer in real time,
/// reports `start`, `stop` and `result ...` on stdout.
fn load() -> Result<(), String> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines().map_while(Result::ok);
    let seconds: u64 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or("load: no duration")?;
    let mut targets = Vec::new();
    for (i, line) in lines.enumerate() {
        let mut parts = line.split_whitespace();
        let (Some(kind), Some(addr)) = (parts.next().and_then(Kind::parse), parts.next()) else {
            continue;
        };
        let addr: SocketAddr = addr.parse().map_err(|e| format!("load: {e}"))?;
        targets.push(Target {
            kind,
            addr,
            pair: i / TARGETS_PER_SOCKET,
            seq: i as u16,
            ts: (i as u32).wrapping_mul(7919),
            ssrc: 0x1000_0000 + i as u32,
        });
    }
    let sockets = targets.len().div_ceil(TARGETS_PER_SOCKET).max(1);
    let range = PortRange::new(34000, 35999).map_err(|e| e.to_string())?;
    let mut io = UdpIo::new(UdpConfig::new(LOOPBACK, range)).map_err(|e| e.to_string())?;
    let pairs: Vec<PortPair> = (0..sockets)
        .map(|_| io.open_pair().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    // Payloads, encoded once.
    let (talk_frames, opus_frames) = talk_frames()?;
    let silence = vec![0xFFu8; 160];

    // Slot k of the 20 ms holds the k-th tenth of the legs, in order, so the two legs of a
    // call (adjacent) usually share a slot, as a real call's two directions do.
    let per_slot = targets.len().div_ceil(SLOTS).max(1);
    let slots: Vec<std::ops::Range<usize>> = (0..SLOTS)
        .map(|k| (k * per_slot).min(targets.len())..((k + 1) * per_slot).min(targets.len()))
        .collect();
    let mut out_bufs: Vec<Vec<u8>> = vec![vec![0u8; 1600]; targets.len()];
    let mut out_lens = vec![0usize; targets.len()];
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    let start = Instant::now();
    let window_start = WARMUP;
    let window_end = WARMUP + Duration::from_secs(seconds);
    let (mut expected, mut received, mut late) = (0u64, 0u64, 0u64);
    let mut started = false;
    let mut step = 0usize;
    let stdout = std::io::stdout();
    loop {
        let deadline = start + SLOT * step as u32;
        // Receive until the next deadline.
        loop {
            let now = start.elapsed();
            let n = io
                .recv_batch(Timestamp::ZERO, &mut bufs, &mut meta)
                .unwrap_or(0);
            let in_window = now >= window_start && now < window_end;
            if in_window {
                received += n as u64;
                for (buf, m) in bufs.iter().zip(&meta).take(n) {
                    let payload = RtpPacket::new_checked(buf.payload(m.len)).map(|p| {
                        p.payload()
                            .get(..8)
                            .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
                    });
                    if let Ok(Some(sent_us)) = payload {
                        if sent_us > 0 && (now.as_micros() as u64).saturating_sub(sent_us) > LATE_US
                        {
                            late += 1;
                        }
                    }
                }
            }
            if n == MAX_BATCH {
                continue;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let now = start.elapsed();
        if !started && now >= window_start {
            started = true;
            let mut out = stdout.lock();
            let _ = writeln!(out, "start");
            let _ = out.flush();
        }
        if now >= window_end + Duration::from_millis(200) {
            break;
        }
        // This slot's legs: every leg expects one packet back per 20 ms inside the window
        // (the 200 ms after it lets the last ones arrive).
        let (slot, frame) = (step % SLOTS, step / SLOTS);
        let in_slot = slots[slot].clone();
        if now >= window_start && now < window_end {
            expected += in_slot.len() as u64;
        }
        if now < window_end {
            let stamp = now.as_micros() as u64;
            for i in in_slot.clone() {
                let t = &mut targets[i];
                let (pt, ts_step, body): (u8, u32, &[u8]) = match t.kind {
                    Kind::Stamped | Kind::Silence => (0, 160, &silence),
                    Kind::Talk => (0, 160, &talk_frames[frame % talk_frames.len()]),
                    Kind::Opus => (OPUS_PT, 960, &opus_frames[frame % opus_frames.len()]),
                };
                let header = RtpHeader::new(
                    PayloadType::new(pt).unwrap_or(PayloadType::PCMU),
                    SeqNo(t.seq),
                    RtpTimestamp(t.ts),
                    Ssrc(t.ssrc),
                );
                t.seq = t.seq.wrapping_add(1);
                t.ts = t.ts.wrapping_add(ts_step);
                let buf = &mut out_bufs[i];
                let len = header.emit_packet(body, buf).unwrap_or(0);
                if t.kind == Kind::Stamped && len >= 20 {
                    buf[12..20].copy_from_slice(&stamp.to_be_bytes());
                }
                out_lens[i] = len;
            }
            let order: Vec<usize> = in_slot.collect();
            for chunk in order.chunks(MAX_BATCH) {
                let batch: Vec<Transmit<'_>> = chunk
                    .iter()
                    .map(|&i| Transmit {
                        socket: pairs[targets[i].pair].rtp,
                        destination: targets[i].addr,
                        payload: &out_bufs[i][..out_lens[i]],
                    })
                    .collect();
                let _ = io.send_batch(Timestamp::ZERO, &batch);
            }
        }
        step += 1;
    }
    let mut out = stdout.lock();
    let _ = writeln!(out, "stop");
    let _ = writeln!(
        out,
        "result expected={expected} received={received} late={late}"
    );
    let _ = out.flush();
    Ok(())
}
