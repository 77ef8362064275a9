//! `tandem-loadgen`: whole-engine load over the ng protocol, against any ng speaker
//! (rtpengine, or `tandem run --ng`).
//!
//! For each step (`--start`, `--step`, `--max`), N calls are set up through ng
//! ([`step`]), real-time paced RTP of espeak-ng speech flows both ways ([`speech`],
//! [`shard`]), what comes back is checked ([`rx`]: payload type, loss, lateness; a sample is
//! decoded), the engine's CPU is read from `/proc` ([`cpu`]), the calls are deleted, and one
//! line is printed ([`report`]). The run stops at the first step that fails (loss or late
//! over 0.1 %, a wrong payload type, an undecodable packet, or the loadgen itself falling
//! behind) and prints the most calls that passed.
//!
//! Everything is bounded: at most [`options::MAX_STEPS`] steps of at most
//! [`options::MAX_SECONDS_PER_STEP`] s and [`options::MAX_CALLS`] calls; every ng command
//! gives up after [`ng::ATTEMPTS`] tries. Only loopback addresses are used.

pub mod cpu;
pub mod floor;
pub mod ng;
pub mod options;
pub mod report;
pub mod rx;
pub mod sdp;
pub mod shard;
pub mod speech;
pub mod step;

use options::{Options, Scenario};

/// Runs the whole stepped load and prints the table.
pub fn run(options: &Options) -> Result<(), String> {
    let mut ng = ng::NgClient::new(options.ng)?;
    ng.call(&ng::ping())
        .map_err(|e| format!("ng ping to {}: {e}", options.ng))?;
    let engine_pid = options
        .engine_pid
        .or_else(|| cpu::pid_of_udp_port(options.ng.port()));
    let media = step::Media::new(options)?;
    let steps = options.steps();
    let bound = steps.len() as u64 * (options.window + options.warmup).as_secs();
    println!(
        "tandem-loadgen: {} at {} (pid {}), scenario {}, {} s per step after {} s warm-up, \
         late > {} ms, pass if loss and late ≤ {} %; at most {} steps (~{} s of media)",
        options.label,
        options.ng,
        engine_pid.map_or("unknown: no CPU figures".into(), |p| p.to_string()),
        match options.scenario {
            Scenario::Transcode => format!(
                "transcode PCMU/8000 ↔ {} (codec: {{mask: [all], transcode: [{}]}})",
                media.callee.name, options.codec
            ),
            Scenario::Passthrough => "passthrough PCMU/8000".into(),
        },
        options.window.as_secs(),
        options.warmup.as_secs(),
        options.late_ms,
        options.max_bad_pct,
        steps.len(),
        bound,
    );
    println!(
        "media: {} (20 ms packets); {} CPUs, load average {:.2} at start; \
         a channel is one direction of one call (2 per call, 50 packets/s in and out)",
        if media.caller_speech.real && media.callee_speech.real {
            "espeak-ng speech"
        } else {
            "tone bursts (espeak-ng or sox missing)"
        },
        online_cpus(),
        step::load_average(),
    );
    let mut meter = match options.scenario {
        Scenario::Transcode => Some(measure_floor(options, &media)?),
        Scenario::Passthrough => None,
    };
    println!("{}", report::header());
    let mut passed = None;
    for (i, &calls) in steps.iter().enumerate() {
        // The floor of this step, taken just before it on the engine's core (no calls up),
        // with as many codec states as the step has calls.
        let floor = match meter.as_mut() {
            Some(meter) => Some(meter.plan(
                options.floor_sampling(),
                &media.caller_speech,
                &media.callee_speech,
                calls,
            )?),
            None => None,
        };
        let result = match step::run_step(options, &media, &mut ng, engine_pid, i, calls) {
            Ok(r) => r,
            Err(e) => {
                println!("{calls:>6} step failed: {e}");
                break;
            }
        };
        println!(
            "{}",
            report::row(&result, options.max_bad_pct, floor.map(|f| f.sustained_us))
        );
        if report::failure(&result, options.max_bad_pct).is_some() {
            break;
        }
        passed = Some(calls);
    }
    match passed {
        Some(n) => println!(
            "{}: most calls that passed: {n} ({} channels)",
            options.label,
            n * 2
        ),
        None => println!("{}: no step passed", options.label),
    }
    Ok(())
}

/// Measures the codec floor of the scenario's call once and prints it (see [`floor`]);
/// returns the meter that times it again before each step.
fn measure_floor(options: &Options, media: &step::Media) -> Result<floor::Meter, String> {
    let bitrate = floor::spec_bitrate(&options.codec);
    let (opus, settings) = match options.floor_opus {
        options::FloorOpus::Rtpengine => (
            floor::like_for_like_opus(&media.callee, bitrate),
            format!("rtpengine's: complexity 10, {bitrate} bit/s, application audio"),
        ),
        options::FloorOpus::Tandem => (
            tandem_codecs::EncoderConfig::DEFAULT.opus,
            "Tandem's defaults: mono, complexity 5, voip, FEC".to_string(),
        ),
    };
    let mut meter = floor::Meter::new(&media.callee, opus)?;
    let sampling = options.floor_sampling();
    let f = meter.measure(sampling, &media.caller_speech, &media.callee_speech)?;
    let cost = |c: floor::Cost| {
        format!(
            "{:.1} µs/ch/20ms = {:.0} calls/core (best round {:.1})",
            c.sustained_us,
            floor::Floor::calls_per_core(c.sustained_us),
            c.best_us
        )
    };
    println!(
        "codec floor (same speech, tight loop of {}-frame rounds each way for {} s on {}, \
         mean thread CPU; Opus settings {}): Tandem's plan [{}] \
         {}; always-48-kHz path {}; `floor µs` below: the plan's, re-measured before each step with one codec state per call of the step",
        floor::FRAMES,
        sampling.window.as_secs_f64(),
        sampling
            .cpu
            .map_or("the loadgen's core".into(), |c| format!("CPU {c}")),
        settings,
        f.plan,
        cost(f.plan_cost),
        cost(f.full_rate_cost),
    );
    Ok(meter)
}

/// CPUs of the machine (not of this process's affinity mask, which a `taskset` narrows).
fn online_cpus() -> usize {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0)
}
