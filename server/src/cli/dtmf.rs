//! `tandem dtmf`: detect DTMF digits in a WAV file, or generate them into one.
//!
//! * `tandem dtmf detect FILE.wav [--json]` prints the digits as one line on stdout and nothing
//!   else; with `--json` the line is a JSON object that adds each digit's start, duration and
//!   level. 8 and 16 kHz files are analysed as they are; 12, 24, 32 and 48 kHz files are first
//!   resampled to 8 kHz (`tandem_codecs::resample`), with times corrected for its delay.
//!   Multi-channel files are downmixed by the WAV reader.
//! * `tandem dtmf generate DIGITS OUT.wav [--on-ms N] [--off-ms N] [--level-dbm0 X]
//!   [--twist-db Y] [--rate 8000|16000]` writes a mono 16-bit WAV file: each digit is `on-ms` of
//!   tone and `off-ms` of silence; the level is the low-group tone's, the high group is `twist`
//!   dB above it (levels per `tandem_dsp::tone`: 0 dBm0 = sine peak 22 827).
//!
//! Bad input (unreadable or malformed file, unsupported rate, invalid digit or level) prints one
//! line on stderr and exits with status 2.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tandem_codecs::file::wav;
use tandem_codecs::resample::Resampler;
use tandem_dsp::dtmf::{
    DtmfConfig, DtmfDetector, DtmfEvent, DtmfEventKind, DtmfGenerator, DtmfGeneratorConfig,
};

/// `tandem dtmf` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum DtmfCommand {
    /// Print the DTMF digits in a WAV file on one line.
    Detect(DetectArgs),
    /// Write DTMF digits into a WAV file.
    Generate(GenerateArgs),
}

/// Arguments of `tandem dtmf detect`.
#[derive(Debug, clap::Args)]
pub(crate) struct DetectArgs {
    /// The WAV file (16-bit PCM at 8, 12, 16, 24, 32 or 48 kHz).
    file: PathBuf,
    /// Print a JSON object with each digit's start, duration and level.
    #[arg(long)]
    json: bool,
}

/// Arguments of `tandem dtmf generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// Digits to generate: 0-9, *, #, A-D.
    digits: String,
    /// Output WAV file.
    out: PathBuf,
    /// Tone duration per digit, ms.
    #[arg(long, default_value_t = 100)]
    on_ms: u32,
    /// Silence after each digit, ms.
    #[arg(long, default_value_t = 100)]
    off_ms: u32,
    /// Level of the low-group tone, dBm0.
    #[arg(long, default_value_t = -10.0, allow_negative_numbers = true)]
    level_dbm0: f64,
    /// High-group level minus low-group level, dB.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    twist_db: f64,
    /// Sample rate: 8000 or 16000.
    #[arg(long, default_value_t = 8000)]
    rate: u32,
}

pub(crate) fn run(command: DtmfCommand) -> ExitCode {
    let result = match command {
        DtmfCommand::Detect(args) => detect(&args),
        DtmfCommand::Generate(args) => generate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tandem dtmf: {message}");
            ExitCode::from(2)
        }
    }
}

/// One detected digit, in milliseconds of the file.
struct Digit {
    digit: char,
    start_ms: f64,
    duration_ms: f64,
    level_dbm0: f32,
}

fn detect(args: &DetectArgs) -> Result<(), String> {
    let (info, samples) = wav::read(&args.file).map_err(|e| e.to_string())?;
    let digits = detect_samples(info.sample_rate, &samples)?;
    let line = if args.json {
        json_line(&args.file, info.sample_rate, &digits)
    } else {
        digits.iter().map(|d| d.digit).collect()
    };
    println!("{line}");
    Ok(())
}

/// Runs the detector over a whole file, resampling rates other than 8 and 16 kHz to 8 kHz.
fn detect_samples(rate: u32, samples: &[i16]) -> Result<Vec<Digit>, String> {
    let (analysis_rate, audio, delay) = if rate == 8000 || rate == 16000 {
        (rate, samples.to_vec(), 0.0)
    } else {
        let mut resampler =
            Resampler::new(rate, 8000).map_err(|_| format!("unsupported sample rate {rate} Hz"))?;
        let mut out = vec![0i16; resampler.output_max(samples.len())];
        let n = resampler.process(samples, &mut out);
        out.truncate(n);
        let delay_ms = resampler.delay() as f64 / 8.0;
        (8000, out, delay_ms)
    };
    let mut detector =
        DtmfDetector::new(DtmfConfig::with_rate(analysis_rate)).map_err(|e| e.to_string())?;
    let frame = analysis_rate as usize / 50;
    let mut events = vec![DtmfEvent::default(); detector.events_max(frame)];
    let mut found = Vec::new();
    let per_ms = f64::from(analysis_rate) / 1000.0;
    let mut collect = |events: &[DtmfEvent]| {
        for e in events.iter().filter(|e| e.kind == DtmfEventKind::End) {
            found.push(Digit {
                digit: e.digit.as_char(),
                start_ms: (e.start as f64 / per_ms - delay).max(0.0),
                duration_ms: f64::from(e.duration) / per_ms,
                level_dbm0: e.level_dbm0,
            });
        }
    };
    let mut buf = vec![0i16; frame];
    for (i, chunk) in audio.chunks(frame).enumerate() {
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = detector
            .process((i * frame) as u64, &mut buf[..chunk.len()], &mut events)
            .map_err(|e| e.to_string())?;
        collect(&events[..n]);
    }
    let n = detector.flush(&mut events).map_err(|e| e.to_string())?;
    collect(&events[..n]);
    Ok(found)
}

/// `{"file":…,"sample_rate":…,"digits":"…","events":[{"digit":…,"start_ms":…,…}]}`
fn json_line(file: &Path, rate: u32, digits: &[Digit]) -> String {
    let mut s = String::new();
    let all: String = digits.iter().map(|d| d.digit).collect();
    let _ = write!(
        s,
        "{{\"file\":{},\"sample_rate\":{rate},\"digits\":\"{all}\",\"events\":[",
        json_string(&file.display().to_string())
    );
    for (i, d) in digits.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"digit\":\"{}\",\"start_ms\":{:.1},\"duration_ms\":{:.1},\"level_dbm0\":{:.1}}}",
            d.digit, d.start_ms, d.duration_ms, d.level_dbm0
        );
    }
    s.push_str("]}");
    s
}

/// A JSON string literal (RFC 8259 §7).
fn json_string(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn generate(args: &GenerateArgs) -> Result<(), String> {
    if let Some(bad) = args
        .digits
        .chars()
        .find(|&c| tandem_dsp::dtmf::Digit::from_char(c).is_none())
    {
        return Err(format!(
            "invalid digit {bad:?} in {:?} (use 0-9 * # A-D)",
            args.digits
        ));
    }
    let config = DtmfGeneratorConfig {
        sample_rate_hz: args.rate,
        level_dbm0: args.level_dbm0,
        twist_db: args.twist_db,
        on_ms: args.on_ms,
        off_ms: args.off_ms,
    };
    let pcm = DtmfGenerator::render(config, &args.digits).map_err(|e| match e {
        tandem_dsp::dtmf::DtmfError::InvalidConfig { field } => format!(
            "{} out of range (rate 8000|16000, level -60..0 dBm0 without clipping, twist \
             -20..20 dB, on 1..10000 ms, off 0..10000 ms)",
            field.replace('_', "-")
        ),
        other => other.to_string(),
    })?;
    wav::write(&args.out, args.rate, &pcm).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn generated_digits_are_detected_at_every_supported_rate() {
        let pcm = DtmfGenerator::render(DtmfGeneratorConfig::default(), "159#").unwrap();
        let digits = detect_samples(8000, &pcm).unwrap();
        let s: String = digits.iter().map(|d| d.digit).collect();
        assert_eq!(s, "159#");
        // Upsample to 48 kHz, then detect through the resampling path.
        let mut up = Resampler::new(8000, 48000).unwrap();
        let mut wide = vec![0i16; up.output_max(pcm.len())];
        let n = up.process(&pcm, &mut wide);
        let digits = detect_samples(48000, &wide[..n]).unwrap();
        let s: String = digits.iter().map(|d| d.digit).collect();
        assert_eq!(s, "159#");
        assert!(
            (digits[0].start_ms - 0.0).abs() < 3.0,
            "{}",
            digits[0].start_ms
        );
        assert!(
            (digits[1].start_ms - 200.0).abs() < 3.0,
            "{}",
            digits[1].start_ms
        );
    }
}
