//! One file to another: read → decode → trim → resample → encode → write.
//!
//! # Contract
//!
//! - The whole input is read and checked before anything is written; the output goes to a
//!   temporary file beside the destination that replaces it only when every step succeeded
//!   ([`tandem_codecs::file::AudioWriter`]), so a failure never leaves a partial file.
//! - Timing is exact: the decoded audio is trimmed by the Ogg Opus pre-skip and end trimming
//!   (RFC 7845 §4.2, §4.4); resampling compensates its group delay; the Opus encoder's
//!   lookahead becomes the output's pre-skip and the input is padded by that much, so the
//!   final granule position marks exactly where the real audio ends. A WAV → Opus → WAV round
//!   trip keeps its length and alignment. Sample-based outputs (WAV, raw, G.711, G.722) hold
//!   exactly the input's duration (G.722 rounds up to an even sample count).
//! - Rates: the fixed telephony resampler ([`tandem_codecs::resample::Resampler`]) between
//!   8, 12, 16, 24, 32 and 48 kHz; rubato's FFT resampler for any other pair (44.1 kHz WAV).
//! - Everything here runs offline and allocates freely (whole files are held in memory).

use std::fmt;
use std::path::{Path, PathBuf};

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};
use tandem_codecs::file::{
    self, AudioInput, AudioWriter, FileError, FileFormat, OpusHead, OutputSpec,
};
use tandem_codecs::resample::{Resampler, SUPPORTED_RATES};
use tandem_codecs::{
    CodecError, CodecId, DecodeError, DecodePath, EncodeError, EncodePath, EncoderConfig, Format,
    OpusConfig,
};

/// Rates libopus encodes and decodes at (RFC 6716 §2: NB, MB, WB, SWB, FB).
pub(crate) const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];
/// Packet time of every payload the CLI writes.
const PTIME_MS: u32 = 20;

/// What the user asked for, beyond the file names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    /// The codec to write, when the output extension allows a choice (`--codec`).
    pub(crate) codec: Option<CodecId>,
    /// Output sample rate (`--rate`); also the rate of a raw input without `--in-rate`.
    pub(crate) rate: Option<u32>,
    /// Rate of a raw input file (`--in-rate`).
    pub(crate) in_rate: Option<u32>,
    /// Codec of a raw input file (`--in-codec`), L16 by default.
    pub(crate) in_codec: Option<CodecId>,
    /// Opus encoder settings (`--bitrate`, `--complexity`).
    pub(crate) opus: OpusConfig,
    /// True if an Opus-only option was given.
    pub(crate) opus_options: bool,
}

/// What went wrong with one file.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The file the problem is about: the input for read and decode problems, the output for
    /// the rest.
    pub(crate) file: PathBuf,
    /// What is wrong.
    pub(crate) problem: Problem,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.problem)
    }
}

/// The kinds of failure, each rendered as one line without the file name.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Problem {
    /// The container could not be read or written.
    #[error("{}", describe_file_error(.0))]
    File(FileError),
    /// A codec or resampler refused its configuration.
    #[error("{0}")]
    Codec(CodecError),
    /// A payload of the input could not be decoded.
    #[error("payload {index} cannot be decoded: {error}")]
    Decode {
        /// Index of the payload (Opus packet or 20 ms frame), from 0.
        index: usize,
        /// The decoder's error.
        error: DecodeError,
    },
    /// The encoder failed.
    #[error("encoding failed: {0}")]
    Encode(EncodeError),
    /// The options do not fit this file.
    #[error("{0}")]
    Options(String),
    /// rubato refused or failed.
    #[error("resampling {from} Hz to {to} Hz failed: {why}")]
    Resample {
        /// Input rate.
        from: u32,
        /// Output rate.
        to: u32,
        /// rubato's message.
        why: String,
    },
}

/// A [`FileError`] as one line without the path it may carry (the [`Failure`] names the file).
fn describe_file_error(e: &FileError) -> String {
    match e {
        FileError::Io { source, .. } => source.to_string(),
        FileError::UnknownExtension { path } => {
            let ext = path.extension().map(|e| e.to_string_lossy().into_owned());
            match ext {
                Some(ext) => format!(
                    "unknown file extension .{ext} (expected .wav, .ul, .al, .g722, .opus, .raw or .sln16)"
                ),
                None => "no file extension to tell the format by (expected .wav, .ul, .al, .g722, .opus, .raw or .sln16)".to_owned(),
            }
        }
        other => other.to_string(),
    }
}

fn at(file: &Path) -> impl Fn(Problem) -> Failure + '_ {
    move |problem| Failure {
        file: file.to_path_buf(),
        problem,
    }
}

/// The container and codec an output path and `--codec` call for.
fn output_container(
    output: &Path,
    codec: Option<CodecId>,
) -> Result<(FileFormat, CodecId), Problem> {
    let container = FileFormat::from_path(output).map_err(Problem::File)?;
    let Some(codec) = codec else {
        return Ok((container, container.codec()));
    };
    // A raw file holds whatever codec's bytes it is told to; the others say what they hold.
    let fits = match container {
        FileFormat::Raw => {
            matches!(
                codec,
                CodecId::L16 | CodecId::Pcmu | CodecId::Pcma | CodecId::G722
            )
        }
        other => other.codec() == codec,
    };
    if !fits {
        return Err(Problem::Options(format!(
            "--codec {codec} cannot be stored in a {container} file (it holds {})",
            container.codec()
        )));
    }
    Ok((container, codec))
}

/// The format to read a path as: its extension's, or for a raw file the `--in-codec` bytes.
fn input_container(input: &Path, in_codec: Option<CodecId>) -> Result<FileFormat, Problem> {
    let container = FileFormat::from_path(input).map_err(Problem::File)?;
    Ok(match (container, in_codec) {
        (FileFormat::Raw, Some(CodecId::Pcmu)) => FileFormat::Ulaw,
        (FileFormat::Raw, Some(CodecId::Pcma)) => FileFormat::Alaw,
        (FileFormat::Raw, Some(CodecId::G722)) => FileFormat::G722,
        (FileFormat::Raw, Some(CodecId::L16) | None) => FileFormat::Raw,
        (FileFormat::Raw, Some(other)) => {
            return Err(Problem::Options(format!(
                "--in-codec {other}: raw input holds L16, PCMU, PCMA or G722"
            )));
        }
        (other, _) => other,
    })
}

/// Converts `input` into `output`; see the module docs.
pub(crate) fn convert(input: &Path, output: &Path, settings: &Settings) -> Result<(), Failure> {
    let (container, codec) = output_container(output, settings.codec).map_err(at(output))?;
    if settings.opus_options && codec != CodecId::Opus {
        return Err(at(output)(Problem::Options(
            "--bitrate and --complexity apply to Opus output only".to_owned(),
        )));
    }
    let in_container = input_container(input, settings.in_codec).map_err(at(input))?;
    let raw_rate = settings
        .in_rate
        .or(settings.rate)
        .unwrap_or_else(|| file::default_raw_rate(input));
    let audio =
        file::read_as(input, in_container, raw_rate).map_err(|e| at(input)(Problem::File(e)))?;
    let source_rate = audio.source_rate.unwrap_or(audio.format.sample_rate);
    // A raw file does not store its rate: write it at the rate reading assumes (8 kHz, or
    // 16 kHz for `.sln16`) unless `--rate` says otherwise, so files round-trip.
    let asked_rate = match (container, settings.rate) {
        (FileFormat::Raw, None) if codec == CodecId::L16 => Some(file::default_raw_rate(output)),
        (_, rate) => rate,
    };
    let pcm_rate = output_rate(codec, asked_rate, source_rate).map_err(at(output))?;

    let (pcm, decoded_rate) = decode_all(&audio, pcm_rate).map_err(at(input))?;
    let pcm = resample(&pcm, decoded_rate, pcm_rate).map_err(at(output))?;
    encode_all(
        output,
        container,
        codec,
        &pcm,
        pcm_rate,
        source_rate,
        settings,
    )
    .map_err(at(output))
}

/// The PCM rate to encode at: the output's fixed rate, `--rate` where the format allows a
/// choice, else the input's own rate (for Opus: the lowest Opus rate that keeps its band).
fn output_rate(codec: CodecId, asked: Option<u32>, source_rate: u32) -> Result<u32, Problem> {
    match codec {
        CodecId::L16 => {
            let rate = asked.unwrap_or(source_rate);
            file::raw::check_rate(rate).map_err(Problem::File)?;
            Ok(rate)
        }
        CodecId::Opus => match asked {
            Some(rate) if OPUS_RATES.contains(&rate) => Ok(rate),
            Some(rate) => Err(Problem::Options(format!(
                "--rate {rate} is not an Opus coding rate (8000, 12000, 16000, 24000 or 48000)"
            ))),
            None => Ok(OPUS_RATES
                .into_iter()
                .find(|&r| r >= source_rate)
                .unwrap_or(48000)),
        },
        fixed => {
            let rate = Format::default_for(fixed).sample_rate;
            match asked {
                Some(asked) if asked != rate => Err(Problem::Options(format!(
                    "--rate {asked}: {fixed} files are always {rate} Hz"
                ))),
                _ => Ok(rate),
            }
        }
    }
}

/// Decodes every payload into mono PCM, trimmed to the real audio, at `wanted` Hz when the
/// decoder can produce that rate itself and at the codec's own rate otherwise. Returns the
/// PCM and its rate.
fn decode_all(audio: &AudioInput, wanted: u32) -> Result<(Vec<i16>, u32), Problem> {
    let mut pcm = Vec::new();
    let rate;
    let mut skip = 0usize;
    if audio.format.codec == CodecId::L16 {
        rate = audio.format.sample_rate;
        pcm.reserve(audio.length as usize);
        for payload in &audio.payloads {
            pcm.extend(
                payload
                    .chunks_exact(2)
                    .map(|b| i16::from_be_bytes([b[0], b[1]])),
            );
        }
    } else {
        rate = if audio.format.codec == CodecId::Opus {
            if OPUS_RATES.contains(&wanted) {
                wanted
            } else {
                48000
            }
        } else {
            audio.format.sample_rate
        };
        let mut path = DecodePath::new(audio.format, rate).map_err(Problem::Codec)?;
        skip = path.delay();
        let mut buf = vec![0i16; path.output_max()];
        for (index, payload) in audio.payloads.iter().enumerate() {
            let n = path
                .decode(payload, &mut buf)
                .map_err(|error| Problem::Decode { index, error })?;
            pcm.extend_from_slice(&buf[..n]);
        }
    }
    // Pre-skip and length count at the container's timing rate (48 kHz for Ogg Opus).
    let scale = |n: u64| {
        ((u128::from(n) * u128::from(rate) + u128::from(audio.timing_rate) / 2)
            / u128::from(audio.timing_rate.max(1))) as usize
    };
    skip += scale(audio.pre_skip);
    let length = scale(audio.length);
    let start = skip.min(pcm.len());
    let end = (start + length).min(pcm.len());
    pcm.truncate(end);
    pcm.drain(..start);
    Ok((pcm, rate))
}

/// Resamples a whole clip from `from` to `to` Hz with its group delay removed, so that the
/// output is aligned with the input and `round(len · to / from)` samples long.
fn resample(pcm: &[i16], from: u32, to: u32) -> Result<Vec<i16>, Problem> {
    if from == to {
        return Ok(pcm.to_vec());
    }
    let expected =
        ((pcm.len() as u128 * u128::from(to) + u128::from(from) / 2) / u128::from(from)) as usize;
    if pcm.is_empty() {
        return Ok(Vec::new());
    }
    if SUPPORTED_RATES.contains(&from) && SUPPORTED_RATES.contains(&to) {
        let mut resampler = Resampler::new(from, to).map_err(Problem::Codec)?;
        let delay = resampler.delay();
        // Enough zeros after the clip to push its last sample through the filter.
        let tail = vec![0i16; (delay + 2) * from as usize / to as usize + 2 * from as usize / 1000];
        let mut out =
            vec![0i16; resampler.output_max(pcm.len()) + resampler.output_max(tail.len())];
        let mut n = 0;
        for chunk in pcm.chunks(4800).chain(std::iter::once(&tail[..])) {
            n += resampler.process(chunk, &mut out[n..]);
        }
        out.truncate(n);
        let end = (delay + expected).min(out.len());
        return Ok(out[delay.min(end)..end].to_vec());
    }
    let fail = |why: String| Problem::Resample { from, to, why };
    let mut rubato = Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| fail(e.to_string()))?;
    let input: Vec<f32> = pcm.iter().map(|&s| f32::from(s)).collect();
    let adapter =
        InterleavedSlice::new(&input[..], 1, input.len()).map_err(|e| fail(e.to_string()))?;
    let out = rubato
        .process_all(&adapter, input.len(), None)
        .map_err(|e| fail(e.to_string()))?;
    let mut out: Vec<i16> = out
        .take_data()
        .into_iter()
        .map(|s| s.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16)
        .collect();
    out.resize(expected, 0);
    Ok(out)
}

/// Encodes `pcm` (at `rate`) as `codec` and writes it to `output` in `container`.
fn encode_all(
    output: &Path,
    container: FileFormat,
    codec: CodecId,
    pcm: &[i16],
    rate: u32,
    source_rate: u32,
    settings: &Settings,
) -> Result<(), Problem> {
    let file_error = Problem::File;
    if codec == CodecId::L16 {
        let spec = if container == FileFormat::Wav {
            OutputSpec::Wav { sample_rate: rate }
        } else {
            OutputSpec::Raw { sample_rate: rate }
        };
        let mut writer = AudioWriter::create(output, spec).map_err(file_error)?;
        let per_payload = Format::l16(rate).samples_in_ms(PTIME_MS).max(1);
        let mut payload = Vec::with_capacity(per_payload * 2);
        for chunk in pcm.chunks(per_payload) {
            payload.clear();
            payload.extend(chunk.iter().flat_map(|s| s.to_be_bytes()));
            writer.write_payload(&payload).map_err(file_error)?;
        }
        return writer.finish(0).map_err(file_error);
    }

    let config = EncoderConfig {
        opus: settings.opus,
        ..EncoderConfig::default()
    };
    let target = match codec {
        CodecId::Opus => Format::opus(48000),
        other => Format::default_for(other),
    };
    let mut encoder = EncodePath::new(target, rate, PTIME_MS, &config).map_err(Problem::Codec)?;
    let lookahead = encoder.lookahead();
    let spec = match codec {
        CodecId::Pcmu => OutputSpec::Ulaw,
        CodecId::Pcma => OutputSpec::Alaw,
        CodecId::G722 => OutputSpec::G722,
        CodecId::Opus => {
            let pre_skip = lookahead as u64 * 48000 / u64::from(rate);
            let pre_skip = u16::try_from(pre_skip).map_err(|_| {
                Problem::Options(format!(
                    "encoder lookahead of {lookahead} samples is too long"
                ))
            })?;
            OutputSpec::Opus(OpusHead::new(settings.opus.channels, pre_skip, source_rate))
        }
        other => {
            return Err(Problem::Options(format!(
                "cannot write {other} into a {container} file"
            )));
        }
    };
    let mut writer = AudioWriter::create(output, spec).map_err(file_error)?;
    let mut payload = vec![0u8; encoder.max_payload_len()];
    let frame = encoder.frame_samples();
    // Opus: code the lookahead's worth past the end too, so the last real sample is in the
    // stream; the final granule position trims the rest (RFC 7845 §4.4).
    let padding = if codec == CodecId::Opus {
        vec![0i16; lookahead]
    } else {
        Vec::new()
    };
    for chunk in pcm.chunks(frame).chain(padding.chunks(frame)) {
        encoder
            .push_pcm(chunk)
            .map_err(|e| Problem::Options(e.to_string()))?;
        while let Some(n) = encoder.pop_packet(&mut payload).map_err(Problem::Encode)? {
            writer.write_payload(&payload[..n]).map_err(file_error)?;
        }
    }
    let leftover = encoder.buffered();
    if let Some(n) = encoder.flush(&mut payload).map_err(Problem::Encode)? {
        // Sample-based codecs: keep only the bytes of real samples, not the silence that
        // filled the last packet (G.711 one byte per sample, G.722 one per two).
        let n = match codec {
            CodecId::Pcmu | CodecId::Pcma => leftover.min(n),
            CodecId::G722 => leftover.div_ceil(2).min(n),
            _ => n,
        };
        writer.write_payload(&payload[..n]).map_err(file_error)?;
    }
    let samples_48k = pcm.len() as u64 * 48000 / u64::from(rate);
    writer.finish(samples_48k).map_err(file_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_rates_follow_the_format() {
        assert_eq!(output_rate(CodecId::L16, None, 44100).unwrap(), 44100);
        assert_eq!(output_rate(CodecId::L16, Some(16000), 8000).unwrap(), 16000);
        assert!(output_rate(CodecId::L16, Some(10), 8000).is_err());
        assert_eq!(output_rate(CodecId::Opus, None, 8000).unwrap(), 8000);
        assert_eq!(output_rate(CodecId::Opus, None, 44100).unwrap(), 48000);
        assert_eq!(output_rate(CodecId::Opus, None, 22050).unwrap(), 24000);
        assert!(output_rate(CodecId::Opus, Some(44100), 8000).is_err());
        assert_eq!(output_rate(CodecId::Pcmu, None, 48000).unwrap(), 8000);
        assert!(output_rate(CodecId::G722, Some(8000), 8000).is_err());
    }

    #[test]
    fn resampling_keeps_length_and_alignment() {
        // A click at sample 400 of 8 kHz audio lands at 400 · to / 8000.
        let mut pcm = vec![0i16; 1600];
        pcm[400] = 20000;
        for (to, rubato) in [(48000, false), (16000, false), (44100, true), (11025, true)] {
            let out = resample(&pcm, 8000, to).unwrap();
            assert_eq!(
                out.len(),
                1600 * to as usize / 8000,
                "{to} (rubato: {rubato})"
            );
            let peak = out
                .iter()
                .enumerate()
                .max_by_key(|(_, s)| s.unsigned_abs())
                .unwrap()
                .0;
            let expected = 400 * to as usize / 8000;
            assert!(
                peak.abs_diff(expected) <= 1,
                "{to}: peak at {peak}, expected {expected}"
            );
        }
    }

    #[test]
    fn codec_choice_must_fit_the_container() {
        let raw = Path::new("x.raw");
        assert_eq!(
            output_container(raw, Some(CodecId::Pcmu)).unwrap(),
            (FileFormat::Raw, CodecId::Pcmu)
        );
        assert_eq!(
            output_container(raw, None).unwrap(),
            (FileFormat::Raw, CodecId::L16)
        );
        assert!(output_container(Path::new("x.wav"), Some(CodecId::Pcmu)).is_err());
        assert!(output_container(Path::new("x.opus"), Some(CodecId::Opus)).is_ok());
        assert!(matches!(
            output_container(Path::new("x.mp3"), None),
            Err(Problem::File(_))
        ));
    }
}
