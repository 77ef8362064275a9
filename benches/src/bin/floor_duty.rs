//! The codec floor back to back against the same codec calls paced like a media worker's
//! ticks (10 ms, asleep in between), alternating in one run on one core: how much of the gap
//! between an engine's CPU per channel and the floor is running in bursts.
//!
//! ```text
//! floor_duty [--calls 20] [--seconds 3] [--rounds 3] [--cpu 0] [--codec opus/48000/2/32000]
//!            [--opus rtpengine|tandem] [--complexity N]
//! ```
//!
//! `--opus` picks the Opus encoder settings (rtpengine's, the default, or Tandem's defaults);
//! `--complexity` overrides their complexity.

use std::time::Duration;

use tandem_benches::loadgen::floor::{
    BetweenTicks, Meter, Sampling, like_for_like_opus, spec_bitrate,
};
use tandem_benches::loadgen::sdp::SdpCodec;
use tandem_benches::loadgen::speech;

fn main() -> Result<(), String> {
    let (mut calls, mut seconds, mut rounds, mut cpu) = (20usize, 3u64, 3usize, Some(0usize));
    let mut codec = "opus/48000/2/32000".to_string();
    let (mut tandem_opus, mut complexity) = (false, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--calls" => calls = number()?,
            "--seconds" => seconds = number()? as u64,
            "--rounds" => rounds = number()?,
            "--cpu" => cpu = Some(number()?),
            "--codec" => codec = value.clone(),
            "--opus" => tandem_opus = value == "tandem",
            "--complexity" => complexity = Some(number()? as u8),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    let spec = codec.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    let callee = SdpCodec::parse(&spec, 96)?;
    let (caller_speech, callee_speech) =
        (speech::encode(&SdpCodec::pcmu())?, speech::encode(&callee)?);
    let mut opus = if tandem_opus {
        tandem_codecs::OpusConfig::default()
    } else {
        like_for_like_opus(&callee, spec_bitrate(&codec))
    };
    opus.complexity = complexity.unwrap_or(opus.complexity);
    let mut meter = Meter::new(&callee, opus)?;
    let sampling = Sampling {
        window: Duration::from_secs(seconds),
        cpu,
    };
    println!(
        "{calls} calls, {codec}, {opus:?}, {seconds} s windows on CPU {cpu:?}; µs of thread CPU per channel per 20 ms"
    );
    println!(
        "| round | back to back (mean) | back to back (best round) | paced 10 ms ticks | paced / back to back | paced, spinning between ticks |"
    );
    println!("|---|---|---|---|---|---|");
    for round in 1..=rounds {
        let tight = meter.plan(sampling, &caller_speech, &callee_speech, calls)?;
        let paced = meter.plan_paced(
            sampling,
            &caller_speech,
            &callee_speech,
            calls,
            BetweenTicks::Sleep,
        )?;
        let spun = meter.plan_paced(
            sampling,
            &caller_speech,
            &callee_speech,
            calls,
            BetweenTicks::Spin,
        )?;
        println!(
            "| {round} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} |",
            tight.sustained_us,
            tight.best_us,
            paced.sustained_us,
            paced.sustained_us / tight.sustained_us,
            spun.sustained_us
        );
    }
    Ok(())
}
