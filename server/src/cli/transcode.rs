//! `tandem transcode`: convert audio files between containers and codecs, one file or many
//! in parallel.
//!
//! # Contract
//!
//! - Formats come from the extensions: `.wav` (16-bit PCM), `.ul` / `.al` (raw G.711 as sox
//!   writes them), `.g722` (raw, 16 kHz), `.opus` (Ogg Opus, RFC 7845), `.raw` / `.sln16`
//!   (16-bit PCM in host byte order, no header: read and written at 8 kHz, or 16 kHz for
//!   `.sln16`, unless `--in-rate` (reading) or `--rate` says otherwise). Any format converts
//!   to any other; see [`convert`] for the pipeline and its timing guarantees.
//! - `--codec` picks what a `.raw` output holds (L16, PCMU, PCMA or G722) and must agree with
//!   the other extensions; `--rate` sets the output rate where the format has a choice (WAV
//!   and raw: any rate from 1 to 384 kHz; Opus: the coding rate, 8/12/16/24/48 kHz);
//!   `--bitrate` and `--complexity` configure the Opus encoder.
//! - Batch mode (`--out-dir DIR --to EXT FILES...`) converts every file in parallel on rayon's
//!   pool, names each output after its input's stem, shows a progress bar only when stderr is
//!   a terminal, reports every failure and converts the rest.
//! - Exit status 0 when every file converted, 2 otherwise (and for usage errors). Each
//!   failure is one line on stderr naming the file and what is wrong, and leaves no output
//!   file behind.

mod convert;

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use tandem_codecs::file::FileFormat;
use tandem_codecs::{CodecId, OpusConfig, registry};

use convert::{Failure, Problem, Settings};

/// Arguments of `tandem transcode`.
#[derive(Debug, clap::Args)]
#[command(
    override_usage = "tandem transcode [OPTIONS] IN OUT\n       \
                      tandem transcode [OPTIONS] --out-dir DIR --to EXT FILES...",
    after_help = "Formats by extension: .wav (PCM 16-bit), .ul/.al (raw G.711), .g722 (raw G.722), \
                  .opus (Ogg Opus), .raw/.sln16 (PCM 16-bit, host byte order).\n\
                  Exit status: 0 if every file converted, 2 otherwise."
)]
pub(crate) struct TranscodeArgs {
    /// IN and OUT; with --out-dir, every input file.
    #[arg(value_name = "FILES", required = true)]
    files: Vec<PathBuf>,
    /// Convert every FILE into DIR (created if missing), named after its stem plus --to.
    #[arg(long, value_name = "DIR", requires = "to")]
    out_dir: Option<PathBuf>,
    /// The extension of the batch outputs, e.g. `opus` or `wav`.
    #[arg(long, value_name = "EXT", requires = "out_dir")]
    to: Option<String>,
    /// The codec to write where the extension allows a choice (.raw: l16, pcmu, pcma, g722).
    #[arg(long, value_name = "NAME")]
    codec: Option<String>,
    /// Output sample rate in Hz (WAV/raw: any; Opus: 8000, 12000, 16000, 24000, 48000).
    /// Also the rate of a raw input when --in-rate is not given.
    #[arg(long, value_name = "HZ")]
    rate: Option<u32>,
    /// Sample rate of a raw (.raw/.sln16) input in Hz.
    #[arg(long, value_name = "HZ")]
    in_rate: Option<u32>,
    /// Codec of a raw input (l16, pcmu, pcma, g722); l16 by default.
    #[arg(long, value_name = "NAME")]
    in_codec: Option<String>,
    /// Opus target bitrate in bit/s (6000 to 510000); by default 20 (8 kHz) to 32 kbit/s (24-48 kHz), enough to keep in-band FEC on.
    #[arg(long, value_name = "BPS")]
    bitrate: Option<u32>,
    /// Opus encoder complexity, 0 (fastest) to 10 (best).
    #[arg(long, value_name = "N")]
    complexity: Option<u8>,
}

/// Runs `tandem transcode`.
pub(crate) fn run(args: TranscodeArgs) -> ExitCode {
    let settings = match settings(&args) {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    match (&args.out_dir, &args.to) {
        (Some(dir), Some(to)) => batch(&args.files, dir, to, &settings),
        _ => match args.files.as_slice() {
            [input, output] => match convert::convert(input, output, &settings) {
                Ok(()) => ExitCode::SUCCESS,
                Err(failure) => {
                    eprintln!("error: {failure}");
                    ExitCode::from(2)
                }
            },
            files => {
                eprintln!(
                    "error: expected IN OUT, got {} file names (use --out-dir DIR --to EXT for many)",
                    files.len()
                );
                ExitCode::from(2)
            }
        },
    }
}

fn codec_by_name(option: &str, name: &str) -> Result<CodecId, String> {
    match name.to_ascii_lowercase().as_str() {
        "pcm" | "s16" | "linear" => return Ok(CodecId::L16),
        _ => {}
    }
    registry::by_name(name)
        .map(|d| d.id)
        .filter(|&id| registry::is_built(id) && id != CodecId::G729)
        .ok_or_else(|| {
            format!("{option} {name}: unknown codec (expected l16, pcmu, pcma, g722 or opus)")
        })
}

fn settings(args: &TranscodeArgs) -> Result<Settings, String> {
    let codec = args
        .codec
        .as_deref()
        .map(|n| codec_by_name("--codec", n))
        .transpose()?;
    let in_codec = args
        .in_codec
        .as_deref()
        .map(|n| codec_by_name("--in-codec", n))
        .transpose()?;
    let mut opus = OpusConfig::default();
    if let Some(bps) = args.bitrate {
        if !(6000..=510_000).contains(&bps) {
            return Err(format!(
                "--bitrate {bps} is out of range (6000 to 510000 bit/s)"
            ));
        }
        opus.bitrate_bps = Some(bps);
    }
    if let Some(complexity) = args.complexity {
        if complexity > 10 {
            return Err(format!(
                "--complexity {complexity} is out of range (0 to 10)"
            ));
        }
        opus.complexity = complexity;
    }
    if let Some(rate) = args.in_rate {
        tandem_codecs::file::raw::check_rate(rate).map_err(|e| format!("--in-rate: {e}"))?;
    }
    Ok(Settings {
        codec,
        rate: args.rate,
        in_rate: args.in_rate,
        in_codec,
        opus,
        opus_options: args.bitrate.is_some() || args.complexity.is_some(),
    })
}

/// Converts `files` into `dir` in parallel; see the module docs.
fn batch(files: &[PathBuf], dir: &Path, to: &str, settings: &Settings) -> ExitCode {
    let extension = to.trim_start_matches('.');
    if FileFormat::from_extension(extension).is_none() {
        eprintln!(
            "error: --to {to}: unknown file extension (expected wav, ul, al, g722, opus, raw or sln16)"
        );
        return ExitCode::from(2);
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("error: {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let jobs = plan_outputs(files, dir, extension);
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(jobs.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed} {wide_msg}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let failed = AtomicUsize::new(0);
    jobs.par_iter().for_each(|(input, output)| {
        let result = match output {
            Ok(output) => convert::convert(input, output, settings),
            Err(why) => Err(Failure {
                file: input.clone(),
                problem: Problem::Options(why.clone()),
            }),
        };
        if let Err(failure) = result {
            failed.fetch_add(1, Ordering::Relaxed);
            bar.suspend(|| eprintln!("error: {failure}"));
        }
        bar.set_message(input.display().to_string());
        bar.inc(1);
    });
    bar.finish_and_clear();
    let failed = failed.into_inner();
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {failed} of {} files failed", jobs.len());
        ExitCode::from(2)
    }
}

/// Pairs each input with its output path, refusing an output another input already claims.
fn plan_outputs(
    files: &[PathBuf],
    dir: &Path,
    extension: &str,
) -> Vec<(PathBuf, Result<PathBuf, String>)> {
    let mut claimed: HashMap<PathBuf, &Path> = HashMap::new();
    files
        .iter()
        .map(|input| {
            let output = match input.file_stem() {
                Some(stem) => {
                    let mut name = stem.to_os_string();
                    name.push(".");
                    name.push(extension);
                    let output = dir.join(name);
                    match claimed.get(&output) {
                        Some(first) => Err(format!(
                            "its output {} is already the output of {}",
                            output.display(),
                            first.display()
                        )),
                        None => {
                            claimed.insert(output.clone(), input);
                            Ok(output)
                        }
                    }
                }
                None => Err("not a file name".to_owned()),
            };
            (input.clone(), output)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_outputs_take_the_input_stem_and_refuse_collisions() {
        let files = [
            PathBuf::from("a/x.wav"),
            PathBuf::from("b/y.ul"),
            PathBuf::from("c/x.al"),
        ];
        let jobs = plan_outputs(&files, Path::new("out"), "opus");
        assert_eq!(jobs[0].1.as_ref().unwrap(), Path::new("out/x.opus"));
        assert_eq!(jobs[1].1.as_ref().unwrap(), Path::new("out/y.opus"));
        let collision = jobs[2].1.as_ref().unwrap_err();
        assert_eq!(
            collision,
            "its output out/x.opus is already the output of a/x.wav"
        );
    }

    #[test]
    fn codec_names_and_aliases() {
        assert_eq!(codec_by_name("--codec", "ulaw"), Ok(CodecId::Pcmu));
        assert_eq!(codec_by_name("--codec", "PCMA"), Ok(CodecId::Pcma));
        assert_eq!(codec_by_name("--codec", "pcm"), Ok(CodecId::L16));
        assert!(codec_by_name("--codec", "mp3").is_err());
    }
}
