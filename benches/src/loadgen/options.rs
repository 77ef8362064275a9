//! Command-line options of `tandem-loadgen`, with their bounds.

use std::net::SocketAddr;
use std::time::Duration;

/// Most calls any step may carry.
pub const MAX_CALLS: usize = 5_000;
/// Most steps one invocation runs.
pub const MAX_STEPS: usize = 40;
/// Longest measurement window per step.
pub const MAX_SECONDS_PER_STEP: u64 = 120;
/// Most shard threads.
pub const MAX_THREADS: usize = 8;

/// The usage text.
pub const USAGE: &str = "\
tandem-loadgen: N calls through an ng media engine (rtpengine, or tandem run --ng), stepped up
until loss or lateness appears. Loopback only.

  --ng ADDR                 the engine's ng socket (127.0.0.1:2223)
  --engine-pid PID          the engine process, for its CPU (default: the owner of the ng port)
  --label NAME              engine name printed with the table (engine)
  --scenario S              transcode (PCMU caller, --codec callee) | passthrough (PCMU both)
  --codec-opts CODEC        the callee codec asked with codec{mask:[all],transcode:[CODEC]}
                            (opus/48000/2: rtpengine's default Opus settings)
  --start N --step N --max N   calls in the first step, added per step, most calls (5, 5, 50)
  --seconds-per-step S      measurement window per step (10); plus --warmup S (2)
  --late-ms MS              a packet later than this behind its stream's schedule is late (40)
  --max-bad-pct P           a step passes with loss and late each at most P % (0.1)
  --threads T               loadgen threads (1)
  --per-socket K            loadgen endpoints sharing one socket (16)
  --ports MIN-MAX           loadgen's own UDP ports (61000-64999)
  --floor-seconds S         transcode: window of the codec floor's sustained mean, measured
                            once at the start and again before each step (3; at most 30)
  --floor-cpu N             transcode: the core the floor runs on; give the engine's, so that
                            it and the engine share the same host (default: the loadgen's)
  --floor-opus S            transcode: the Opus encoder settings the floor codes with, as the
                            engine was configured: rtpengine (its defaults: the offer's
                            channels, complexity 10, the spec's bitrate, application audio, no
                            FEC; the comparison script configures Tandem so) or tandem
                            (Tandem's own defaults: mono, complexity 5, voip, FEC)
";

/// The Opus encoder settings the codec floor codes with (`--floor-opus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorOpus {
    /// rtpengine's settings, which the comparison script gives Tandem too.
    Rtpengine,
    /// Tandem's defaults (`tandem run` without an `[opus]` section).
    Tandem,
}

/// What the calls carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// PCMU caller, `--codec-opts` callee: the engine transcodes both ways.
    Transcode,
    /// PCMU on both sides: the engine relays.
    Passthrough,
}

/// Parsed options.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The engine's ng address.
    pub ng: SocketAddr,
    /// The engine's PID.
    pub engine_pid: Option<u32>,
    /// Engine label for the output.
    pub label: String,
    /// Scenario.
    pub scenario: Scenario,
    /// Callee codec for transcoding.
    pub codec: String,
    /// First step's calls.
    pub start: usize,
    /// Calls added per step.
    pub step: usize,
    /// Most calls.
    pub max: usize,
    /// Measurement window per step.
    pub window: Duration,
    /// Warm-up per step.
    pub warmup: Duration,
    /// Lateness threshold.
    pub late_ms: u32,
    /// Pass threshold for loss and for lateness, %.
    pub max_bad_pct: f64,
    /// Shard threads.
    pub threads: usize,
    /// Endpoints per socket.
    pub per_socket: usize,
    /// Loadgen's port range.
    pub ports: (u16, u16),
    /// Window of the codec floor's sustained measurement.
    pub floor_window: Duration,
    /// Core the codec floor runs on (the engine's), if not the loadgen's.
    pub floor_cpu: Option<usize>,
    /// The floor's Opus encoder settings.
    pub floor_opus: FloorOpus,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ng: SocketAddr::from(([127, 0, 0, 1], 2223)),
            engine_pid: None,
            label: "engine".into(),
            scenario: Scenario::Transcode,
            codec: "opus/48000/2".into(),
            start: 5,
            step: 5,
            max: 50,
            window: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            late_ms: 40,
            max_bad_pct: crate::loadgen::report::MAX_BAD_PCT,
            threads: 1,
            per_socket: 16,
            ports: (61000, 64999),
            floor_window: Duration::from_secs(3),
            floor_cpu: None,
            floor_opus: FloorOpus::Rtpengine,
        }
    }
}

impl Options {
    /// Reads `args` (without the program name).
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                return Err(USAGE.into());
            }
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
            match flag.as_str() {
                "--ng" => o.ng = value.parse().map_err(|e| format!("--ng {value}: {e}"))?,
                "--engine-pid" => o.engine_pid = Some(number(value)? as u32),
                "--label" => o.label = value.clone(),
                "--scenario" => {
                    o.scenario = match value.as_str() {
                        "transcode" => Scenario::Transcode,
                        "passthrough" | "relay" => Scenario::Passthrough,
                        other => return Err(format!("unknown scenario {other}")),
                    }
                }
                "--codec-opts" | "--codec" => o.codec = value.clone(),
                "--start" => o.start = number(value)? as usize,
                "--step" => o.step = number(value)? as usize,
                "--max" => o.max = number(value)? as usize,
                "--seconds-per-step" => o.window = Duration::from_secs(number(value)?),
                "--warmup" => o.warmup = Duration::from_secs(number(value)?),
                "--late-ms" => o.late_ms = number(value)? as u32,
                "--max-bad-pct" => {
                    o.max_bad_pct = value.parse().map_err(|e| format!("{flag} {value}: {e}"))?;
                }
                "--floor-seconds" => o.floor_window = Duration::from_secs(number(value)?),
                "--floor-cpu" => o.floor_cpu = Some(number(value)? as usize),
                "--floor-opus" => {
                    o.floor_opus = match value.as_str() {
                        "rtpengine" => FloorOpus::Rtpengine,
                        "tandem" => FloorOpus::Tandem,
                        other => return Err(format!("--floor-opus {other}: rtpengine or tandem")),
                    }
                }
                "--threads" => o.threads = number(value)? as usize,
                "--per-socket" => o.per_socket = number(value)? as usize,
                "--ports" => {
                    let (lo, hi) = value.split_once('-').ok_or("--ports MIN-MAX")?;
                    o.ports = (number(lo)? as u16, number(hi)? as u16);
                }
                other => return Err(format!("unknown option {other}\n\n{USAGE}")),
            }
        }
        o.check()?;
        Ok(o)
    }

    fn check(&mut self) -> Result<(), String> {
        if !self.ng.ip().is_loopback() {
            return Err("--ng must be a loopback address".into());
        }
        self.start = self.start.clamp(1, MAX_CALLS);
        self.max = self.max.clamp(self.start, MAX_CALLS);
        self.step = self.step.max(1);
        self.window = self.window.clamp(
            Duration::from_secs(1),
            Duration::from_secs(MAX_SECONDS_PER_STEP),
        );
        self.warmup = self
            .warmup
            .clamp(Duration::from_secs(1), Duration::from_secs(10));
        self.threads = self.threads.clamp(1, MAX_THREADS);
        self.per_socket = self.per_socket.clamp(1, 1024);
        self.late_ms = self.late_ms.clamp(1, 1000);
        self.floor_window = self.floor_window.min(Duration::from_secs(30));
        if !(0.0..=100.0).contains(&self.max_bad_pct) {
            return Err("--max-bad-pct must be 0 to 100".into());
        }
        if self.ports.0 >= self.ports.1 {
            return Err("--ports: MIN must be below MAX".into());
        }
        Ok(())
    }

    /// How the codec floor is sampled.
    pub fn floor_sampling(&self) -> crate::loadgen::floor::Sampling {
        crate::loadgen::floor::Sampling {
            window: self.floor_window,
            cpu: self.floor_cpu,
        }
    }

    /// The calls of each step: start, start + step, … up to max, at most [`MAX_STEPS`].
    pub fn steps(&self) -> Vec<usize> {
        (0..MAX_STEPS)
            .map(|i| self.start + i * self.step)
            .take_while(|&n| n <= self.max)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn steps_are_bounded() {
        let o = Options::parse(&args("--start 5 --step 5 --max 20")).unwrap();
        assert_eq!(o.steps(), vec![5, 10, 15, 20]);
        let o = Options::parse(&args("--start 1 --step 1 --max 100000")).unwrap();
        assert_eq!(o.steps().len(), MAX_STEPS);
    }

    #[test]
    fn refuses_remote_engines_and_unknown_flags() {
        assert!(Options::parse(&args("--ng 10.0.0.1:2223")).is_err());
        assert!(Options::parse(&args("--frobnicate 1")).is_err());
        let o = Options::parse(&args("--scenario passthrough --ng 127.0.0.1:2300")).unwrap();
        assert_eq!((o.scenario, o.ng.port()), (Scenario::Passthrough, 2300));
    }
}
