//! `ng_rate`: call setup rate over the ng protocol (offer, answer, delete per call, no media)
//! against any ng speaker; see `tandem_benches::ng_rate` for what is measured and
//! `CLIENT=ng_rate benches/scripts/loadgen_vs_rtpengine.sh` for a side-by-side run.
//!
//! ```text
//! ng_rate --ng 127.0.0.1:2223 [--calls 2000] [--in-flight 1,32] [--scenario relay|transcode]
//!         [--codec-opts opus/48000/2] [--engine-pid PID] [--label NAME]
//! ```
//!
//! One line per `--in-flight` value: completed calls per second, commands per second, reply
//! latency (p50 / p99 / max, µs) per command, failures, and the engine's CPU and thread
//! switches per call (from `/proc`, when `--engine-pid` is given or the ng port's owner is
//! found; switches, unlike CPU time, do not depend on the machine's load).

use std::net::SocketAddr;

use tandem_benches::loadgen::cpu::{pid_of_udp_port, process_context_switches, process_cpu};
use tandem_benches::loadgen::ng::CodecRequest;
use tandem_benches::loadgen::sdp::SdpCodec;
use tandem_benches::ng_rate::{self, Plan, Stage};

struct Options {
    engine: SocketAddr,
    calls: usize,
    in_flight: Vec<usize>,
    transcode: Option<String>,
    engine_pid: Option<u32>,
    label: String,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        engine: "127.0.0.1:2223".parse().map_err(|e| format!("{e}"))?,
        calls: 2000,
        in_flight: vec![1, 32],
        transcode: None,
        engine_pid: None,
        label: "engine".into(),
    };
    let mut scenario = "relay".to_string();
    let mut codec = "opus/48000/2".to_string();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--ng" => o.engine = value()?.parse().map_err(|e| format!("--ng: {e}"))?,
            "--calls" => o.calls = number(value()?)?,
            "--in-flight" => {
                o.in_flight = value()?
                    .split(',')
                    .map(|v| v.parse().map_err(|e| format!("--in-flight {v}: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--scenario" => scenario = value()?,
            "--codec-opts" => codec = value()?,
            "--engine-pid" => {
                o.engine_pid = Some(value()?.parse().map_err(|e| format!("--engine-pid: {e}"))?);
            }
            "--label" => o.label = value()?,
            other => return Err(format!("unknown option {other} (see the binary's docs)")),
        }
    }
    match scenario.as_str() {
        "relay" => {}
        "transcode" => o.transcode = Some(codec),
        other => return Err(format!("--scenario {other}: relay or transcode")),
    }
    if o.in_flight.is_empty() || o.in_flight.len() > 8 {
        return Err("--in-flight: one to eight values".into());
    }
    Ok(o)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = parse(&args).and_then(|o| run(&o)) {
        eprintln!("ng_rate: {e}");
        std::process::exit(2);
    }
}

fn run(o: &Options) -> Result<(), String> {
    let (codec, callee) = match &o.transcode {
        None => (CodecRequest::Keep, SdpCodec::pcmu()),
        Some(spec) => (
            CodecRequest::MaskAllTranscode(spec.clone()),
            SdpCodec::parse(spec, 96)?,
        ),
    };
    let pid = o.engine_pid.or_else(|| pid_of_udp_port(o.engine.port()));
    println!(
        "ng_rate: {} at {} (pid {}), {} calls per run (offer, answer, delete; no media), {}",
        o.label,
        o.engine,
        pid.map_or("?".into(), |p| p.to_string()),
        o.calls.min(ng_rate::MAX_CALLS),
        o.transcode
            .as_ref()
            .map_or("relay".to_string(), |c| format!("transcode to {c}")),
    );
    println!(
        "{:>9} {:>8} {:>9} {:>10} {:>21} {:>21} {:>21} {:>6} {:>8} {:>11} {:>15}",
        "in flight",
        "calls/s",
        "cmds/s",
        "completed",
        "offer p50/p99/max µs",
        "answer p50/p99/max µs",
        "delete p50/p99/max µs",
        "errors",
        "timeouts",
        "engine µs/call",
        "switches/call"
    );
    for &in_flight in &o.in_flight {
        let cpu_before = pid.map(|p| process_cpu(Some(p))).transpose()?;
        let switches_before = pid.and_then(process_context_switches);
        let outcome = ng_rate::run(&Plan {
            engine: o.engine,
            calls: o.calls,
            in_flight,
            codec: codec.clone(),
            callee: callee.clone(),
        })?;
        let cpu = match (pid, cpu_before) {
            (Some(p), Some(before)) => Some(process_cpu(Some(p))?.saturating_sub(before)),
            _ => None,
        };
        let switches = match (pid.and_then(process_context_switches), switches_before) {
            (Some(after), Some(before)) => Some(after.saturating_sub(before)),
            _ => None,
        };
        let latency = |stage: Stage| {
            let q = |q: f64| {
                outcome
                    .latency_quantile_us(stage, q)
                    .map_or("-".into(), |v| v.to_string())
            };
            format!("{}/{}/{}", q(0.5), q(0.99), q(1.0))
        };
        println!(
            "{:>9} {:>8.0} {:>9.0} {:>10} {:>21} {:>21} {:>21} {:>6} {:>8} {:>11} {:>15}",
            in_flight,
            outcome.calls_per_second(),
            outcome.commands_per_second(),
            outcome.completed,
            latency(Stage::Offer),
            latency(Stage::Answer),
            latency(Stage::Delete),
            outcome.errors,
            outcome.timeouts,
            cpu.filter(|_| outcome.completed > 0)
                .map_or("-".into(), |c| format!(
                    "{:.0}",
                    c.as_micros() as f64 / outcome.completed as f64
                )),
            switches
                .filter(|_| outcome.completed > 0)
                .map_or("-".into(), |n| format!(
                    "{:.1}",
                    n as f64 / outcome.completed as f64
                )),
        );
        if let Some(e) = &outcome.first_error {
            println!("          first error: {e}");
        }
    }
    Ok(())
}
