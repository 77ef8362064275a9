//! Audio file containers: reading files into codec payloads and writing payloads into files.
//!
//! This is the offline side of the crate (`tandem transcode`); nothing here is on the media
//! path, and everything here may allocate and block on I/O.
//!
//! # Formats
//!
//! | extension | [`FileFormat`] | payloads | module |
//! |---|---|---|---|
//! | `.wav` | [`Wav`](FileFormat::Wav) | L16 (big-endian), 20 ms, at the file's rate | [`wav`] |
//! | `.ul` | [`Ulaw`](FileFormat::Ulaw) | PCMU bytes, 20 ms | [`raw`] |
//! | `.al` | [`Alaw`](FileFormat::Alaw) | PCMA bytes, 20 ms | [`raw`] |
//! | `.g722` | [`G722`](FileFormat::G722) | G.722 bytes, 20 ms at 16 kHz | [`raw`] |
//! | `.opus` | [`Opus`](FileFormat::Opus) | one Opus packet per payload, [`Format::opus`]`(48000)` | [`ogg_opus`] |
//! | `.raw`, `.sln16` | [`Raw`](FileFormat::Raw) | L16 (big-endian), 20 ms; the file holds host byte order | [`raw`] |
//!
//! # Contract
//!
//! - Readers ([`read`]) hand back an [`AudioInput`]: the payloads, their [`Format`], and the
//!   timing needed to play them back exactly (Ogg Opus pre-skip and end trimming, RFC 7845
//!   §4.2 and §4.4). A caller decodes the payloads in order, drops
//!   [`AudioInput::pre_skip`] samples from the start and keeps [`AudioInput::length`].
//! - Writers ([`AudioWriter`]) take payloads of [`OutputSpec::payload_codec`] in order and
//!   write them to a temporary file in the destination's directory, which
//!   [`AudioWriter::finish`] renames over the destination. An error, or dropping the writer
//!   without finishing, removes the temporary file: no partial output is ever left behind.
//! - Parsers ([`wav::parse`], [`ogg_opus::parse`]) work on byte slices, never panic on any
//!   input, and report malformed input as a [`FileError`] naming what is wrong and where.

pub mod ogg_opus;
pub mod raw;
pub mod wav;

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{CodecId, Format};

pub use ogg_opus::OpusHead;

/// A container format, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileFormat {
    /// RIFF/WAVE, PCM 16-bit (`.wav`).
    Wav,
    /// Raw G.711 µ-law bytes as sox writes them (`.ul`).
    Ulaw,
    /// Raw G.711 A-law bytes as sox writes them (`.al`).
    Alaw,
    /// Raw G.722 bytes at 64 kbit/s, 16 kHz audio (`.g722`).
    G722,
    /// Ogg Opus, RFC 7845 (`.opus`).
    Opus,
    /// Raw signed 16-bit PCM in host byte order (`.raw`, `.sln16`).
    Raw,
}

impl FileFormat {
    /// Every format, in the order the CLI lists them.
    pub const ALL: [FileFormat; 6] = [
        FileFormat::Wav,
        FileFormat::Ulaw,
        FileFormat::Alaw,
        FileFormat::G722,
        FileFormat::Opus,
        FileFormat::Raw,
    ];

    /// The format of `path`, from its extension, ignoring case.
    ///
    /// # Errors
    /// [`FileError::UnknownExtension`] when the extension is missing or not one of `wav`, `ul`,
    /// `al`, `g722`, `opus`, `raw`, `sln16`.
    pub fn from_path(path: &Path) -> Result<FileFormat, FileError> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(FileFormat::from_extension)
            .ok_or_else(|| FileError::UnknownExtension {
                path: path.to_path_buf(),
            })
    }

    /// The format an extension (without the dot) names, ignoring case.
    pub fn from_extension(extension: &str) -> Option<FileFormat> {
        const EXTENSIONS: &[(&str, FileFormat)] = &[
            ("wav", FileFormat::Wav),
            ("ul", FileFormat::Ulaw),
            ("al", FileFormat::Alaw),
            ("g722", FileFormat::G722),
            ("opus", FileFormat::Opus),
            ("raw", FileFormat::Raw),
            ("sln16", FileFormat::Raw),
        ];
        EXTENSIONS
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(extension))
            .map(|&(_, f)| f)
    }

    /// The extension this format is written with.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Wav => "wav",
            FileFormat::Ulaw => "ul",
            FileFormat::Alaw => "al",
            FileFormat::G722 => "g722",
            FileFormat::Opus => "opus",
            FileFormat::Raw => "raw",
        }
    }

    /// The codec of the payloads this format holds by default (raw files hold L16).
    pub fn codec(self) -> CodecId {
        match self {
            FileFormat::Wav | FileFormat::Raw => CodecId::L16,
            FileFormat::Ulaw => CodecId::Pcmu,
            FileFormat::Alaw => CodecId::Pcma,
            FileFormat::G722 => CodecId::G722,
            FileFormat::Opus => CodecId::Opus,
        }
    }
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, ".{}", self.extension())
    }
}

/// The sample rate of a raw L16 file when the user gives none: 16 kHz for `.sln16` (the
/// extension says so, as Asterisk's `format_sln` uses it), 8 kHz otherwise.
pub fn default_raw_rate(path: &Path) -> u32 {
    let sln16 = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("sln16"));
    if sln16 { 16000 } else { 8000 }
}

/// Why a file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The operating system refused a read, write, rename or create.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being accessed.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The extension names no format Tandem reads or writes.
    #[error(
        "{}: unknown file extension (expected .wav, .ul, .al, .g722, .opus, .raw or .sln16)",
        path.display()
    )]
    UnknownExtension {
        /// The file.
        path: PathBuf,
    },
    /// The file does not start with a RIFF/WAVE header.
    #[error("not a RIFF/WAVE file (no \"RIFF\"...\"WAVE\" header)")]
    NotWav,
    /// A WAV file lacks a chunk it needs.
    #[error("WAV file has no {chunk} chunk")]
    WavMissingChunk {
        /// The chunk id, `fmt ` or `data`.
        chunk: &'static str,
    },
    /// A chunk's declared size runs past the end of the file.
    #[error(
        "truncated WAV {chunk} chunk at byte {offset}: expected {expected} bytes, found {found}"
    )]
    WavTruncated {
        /// The chunk id as text.
        chunk: String,
        /// Byte offset of the chunk header.
        offset: u64,
        /// Bytes the chunk header declares.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// The WAV `fmt ` chunk describes something other than 16-bit PCM.
    #[error("unsupported WAV {what} {value} (only 16-bit PCM is read)")]
    WavUnsupported {
        /// The field, e.g. "format tag" or "bits per sample".
        what: &'static str,
        /// Its value.
        value: u32,
    },
    /// The WAV `fmt ` chunk contradicts itself.
    #[error("invalid WAV fmt chunk: {what} is {value}, expected {expected}")]
    WavInvalid {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u32,
        /// What the rest of the chunk implies.
        expected: u32,
    },
    /// The data chunk does not hold a whole number of sample frames.
    #[error("WAV data chunk of {bytes} bytes is not a whole number of {frame_bytes}-byte frames")]
    WavPartialFrame {
        /// Size of the data chunk.
        bytes: u64,
        /// Bytes per frame (all channels).
        frame_bytes: u32,
    },
    /// The sample rate is outside what Tandem converts (1 kHz to 384 kHz).
    #[error("unsupported sample rate {rate} Hz (supported: 1000 to 384000)")]
    UnsupportedSampleRate {
        /// The rate in Hz.
        rate: u32,
    },
    /// The audio is too long for the container (WAV sizes are 32-bit).
    #[error("{bytes} bytes of audio do not fit in a {container} file")]
    TooLong {
        /// The container.
        container: &'static str,
        /// Bytes of audio.
        bytes: u64,
    },
    /// A raw 16-bit file has an odd number of bytes.
    #[error("raw 16-bit file of {bytes} bytes has a trailing half sample")]
    RawPartialSample {
        /// The file's size.
        bytes: u64,
    },
    /// An Ogg page is malformed.
    #[error("corrupt Ogg page {page} at byte {offset}: {fault}")]
    OggPage {
        /// The page's index in the file, from 0.
        page: u64,
        /// Byte offset of the page.
        offset: u64,
        /// What is wrong with it.
        fault: OggFault,
    },
    /// The Ogg stream's structure breaks RFC 7845 or uses a feature Tandem does not read.
    #[error("invalid Ogg Opus stream: {what} (RFC 7845 {section})")]
    OggOpus {
        /// What is wrong.
        what: &'static str,
        /// The RFC 7845 section that says it must not be so.
        section: &'static str,
    },
    /// The OpusHead identification header is malformed or unsupported.
    #[error("invalid OpusHead: {what} is {value} (RFC 7845 §5.1)")]
    OpusHead {
        /// The field.
        what: &'static str,
        /// Its value.
        value: u32,
    },
    /// An audio packet is not a valid Opus packet (RFC 6716 §3).
    #[error("Opus packet {index} ({len} bytes) is malformed (RFC 6716 §3)")]
    OpusPacket {
        /// The packet's index among the audio packets, from 0.
        index: u64,
        /// Its length in bytes.
        len: usize,
    },
    /// A payload handed to a writer does not fit its format.
    #[error("payload of {len} bytes does not fit {format} ({why})")]
    Payload {
        /// The writer's format.
        format: FileFormat,
        /// The payload's length.
        len: usize,
        /// Why it does not fit.
        why: &'static str,
    },
}

/// What is wrong with one Ogg page (RFC 3533 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OggFault {
    /// The page does not start with the capture pattern `OggS`.
    #[error("no \"OggS\" capture pattern")]
    CapturePattern,
    /// The stream structure version is not 0.
    #[error("stream structure version {0}, expected 0")]
    Version(u8),
    /// The file ends inside the page.
    #[error("truncated: page needs {expected} bytes, {found} remain")]
    Truncated {
        /// Bytes the page header declares.
        expected: u64,
        /// Bytes left in the file.
        found: u64,
    },
    /// The CRC does not match the page contents.
    #[error("CRC mismatch: page says {stored:#010x}, contents give {computed:#010x}")]
    Crc {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the page as read.
        computed: u32,
    },
    /// A page is missing or repeated.
    #[error("page sequence number {found} after {previous}")]
    Sequence {
        /// The previous page's sequence number.
        previous: u32,
        /// This page's.
        found: u32,
    },
    /// The page belongs to another logical stream (multiplexed or chained Ogg).
    #[error("stream serial {found:#010x} differs from the first page's {first:#010x}")]
    Serial {
        /// The first page's serial number.
        first: u32,
        /// This page's.
        found: u32,
    },
    /// The header flags contradict the stream (RFC 3533 §6: continuation, BOS, EOS).
    #[error("header flags {0:#04x} do not fit this position in the stream")]
    Flags(u8),
}

/// Audio read from a file: payloads in one [`Format`], plus the timing that makes playback
/// exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInput {
    /// The container the audio came from.
    pub file_format: FileFormat,
    /// The format of [`payloads`](Self::payloads). For Ogg Opus, [`Format::opus`]`(48000)`:
    /// decode at any Opus rate.
    pub format: Format,
    /// The payloads, in order: 20 ms each except possibly the last, or one Opus packet each.
    pub payloads: Vec<Vec<u8>>,
    /// The rate that [`pre_skip`](Self::pre_skip) and [`length`](Self::length) count in:
    /// 48000 for Ogg Opus (RFC 7845 §4), the sample rate otherwise.
    pub timing_rate: u32,
    /// Samples at `timing_rate` to drop from the start of the decoded audio (the Ogg Opus
    /// pre-skip, RFC 7845 §4.2; 0 for the other formats).
    pub pre_skip: u64,
    /// Samples at `timing_rate` of real audio after the pre-skip; decoded audio past it is
    /// padding (RFC 7845 §4.4).
    pub length: u64,
    /// The rate the audio was captured at, if the file says: the sample rate, or the Ogg Opus
    /// header's "input sample rate" (RFC 7845 §5.1 field 5), a hint for the output rate.
    pub source_rate: Option<u32>,
    /// Channels in the file before the readers downmixed them to mono.
    pub channels: u16,
}

/// Reads `path` in the format its extension names.
///
/// `raw_rate` is the sample rate of a raw L16 file (`.raw`, `.sln16`); other formats say
/// their own rate.
///
/// # Errors
/// [`FileError::UnknownExtension`], [`FileError::Io`] with the path, or the parser's error.
pub fn read(path: &Path, raw_rate: u32) -> Result<AudioInput, FileError> {
    read_as(path, FileFormat::from_path(path)?, raw_rate)
}

/// Reads `path` as `format`, whatever its extension.
///
/// # Errors
/// [`FileError::Io`] with the path, or the parser's error.
pub fn read_as(path: &Path, format: FileFormat, raw_rate: u32) -> Result<AudioInput, FileError> {
    let bytes = fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_bytes(&bytes, format, raw_rate)
}

/// Parses the contents of a file in `format`; see [`read`].
///
/// # Errors
/// The parser's error for malformed input.
pub fn from_bytes(
    bytes: &[u8],
    format: FileFormat,
    raw_rate: u32,
) -> Result<AudioInput, FileError> {
    match format {
        FileFormat::Wav => {
            let (info, samples) = wav::parse(bytes)?;
            Ok(raw::pcm_input(
                FileFormat::Wav,
                info.sample_rate,
                info.channels,
                &samples,
            ))
        }
        FileFormat::Raw => {
            let samples = raw::parse_l16_host(bytes)?;
            raw::check_rate(raw_rate)?;
            Ok(raw::pcm_input(FileFormat::Raw, raw_rate, 1, &samples))
        }
        FileFormat::Ulaw | FileFormat::Alaw | FileFormat::G722 => {
            Ok(raw::byte_codec_input(format, bytes))
        }
        FileFormat::Opus => {
            let stream = ogg_opus::parse(bytes)?;
            Ok(AudioInput {
                file_format: FileFormat::Opus,
                format: Format::opus(48000),
                timing_rate: 48000,
                pre_skip: stream.head.pre_skip.into(),
                length: stream.playable_samples_48k(),
                source_rate: (stream.head.input_sample_rate != 0)
                    .then_some(stream.head.input_sample_rate),
                channels: stream.head.channels.into(),
                payloads: stream.packets,
            })
        }
    }
}

/// What an [`AudioWriter`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputSpec {
    /// A mono 16-bit PCM WAV file at `sample_rate`; payloads are L16 (big-endian).
    Wav {
        /// Sample rate in Hz.
        sample_rate: u32,
    },
    /// Raw µ-law bytes; payloads are PCMU.
    Ulaw,
    /// Raw A-law bytes; payloads are PCMA.
    Alaw,
    /// Raw G.722 bytes; payloads are G.722.
    G722,
    /// Raw 16-bit host-order PCM at `sample_rate`; payloads are L16 (big-endian).
    Raw {
        /// Sample rate in Hz (not stored in the file).
        sample_rate: u32,
    },
    /// Ogg Opus with this identification header; payloads are Opus packets.
    Opus(OpusHead),
}

impl OutputSpec {
    /// The container this spec writes.
    pub fn file_format(&self) -> FileFormat {
        match self {
            OutputSpec::Wav { .. } => FileFormat::Wav,
            OutputSpec::Ulaw => FileFormat::Ulaw,
            OutputSpec::Alaw => FileFormat::Alaw,
            OutputSpec::G722 => FileFormat::G722,
            OutputSpec::Raw { .. } => FileFormat::Raw,
            OutputSpec::Opus(_) => FileFormat::Opus,
        }
    }

    /// The codec of the payloads the writer takes.
    pub fn payload_codec(&self) -> CodecId {
        self.file_format().codec()
    }
}

/// Writes payloads into a file through a temporary file that replaces the destination only
/// when [`finish`](Self::finish) succeeds.
#[derive(Debug)]
pub struct AudioWriter {
    spec: OutputSpec,
    out: Body,
    /// Payload bytes written so far (sample formats).
    data_bytes: u64,
}

#[derive(Debug)]
enum Body {
    /// Everything but Ogg: header (WAV only, patched on finish) and data.
    Plain(BufWriter<TempFile>),
    Opus(Box<ogg_opus::OggOpusWriter<BufWriter<TempFile>>>),
}

impl AudioWriter {
    /// Starts writing `path`: creates a temporary file beside it (and, for WAV and Ogg Opus,
    /// writes the headers).
    ///
    /// # Errors
    /// [`FileError::Io`] naming the temporary file's path if it cannot be created;
    /// [`FileError::UnsupportedSampleRate`] for a WAV or raw rate outside 1 to 384 kHz.
    pub fn create(path: &Path, spec: OutputSpec) -> Result<AudioWriter, FileError> {
        if let OutputSpec::Wav { sample_rate } | OutputSpec::Raw { sample_rate } = spec {
            raw::check_rate(sample_rate)?;
        }
        let temp = TempFile::create(path)?;
        let mut out = BufWriter::new(temp);
        let body = match spec {
            OutputSpec::Wav { sample_rate } => {
                let header = wav::header(sample_rate, 0);
                out.write_all(&header).map_err(|e| io_error(&out, e))?;
                Body::Plain(out)
            }
            OutputSpec::Opus(head) => {
                let serial = stream_serial(path);
                let writer = ogg_opus::OggOpusWriter::new(out, &head, serial).map_err(|e| {
                    FileError::Io {
                        path: path.to_path_buf(),
                        source: e,
                    }
                })?;
                Body::Opus(Box::new(writer))
            }
            _ => Body::Plain(out),
        };
        Ok(AudioWriter {
            spec,
            out: body,
            data_bytes: 0,
        })
    }

    /// What this writer writes.
    pub fn spec(&self) -> OutputSpec {
        self.spec
    }

    /// Appends one payload of [`OutputSpec::payload_codec`].
    ///
    /// # Errors
    /// [`FileError::Payload`] for an odd-length L16 payload or an invalid Opus packet,
    /// [`FileError::Io`] if the write fails. The temporary file is removed when the writer is
    /// dropped.
    pub fn write_payload(&mut self, payload: &[u8]) -> Result<(), FileError> {
        let file_format = self.spec.file_format();
        match &mut self.out {
            Body::Opus(writer) => writer.write_packet(payload),
            Body::Plain(out) => {
                let result = match self.spec {
                    OutputSpec::Wav { .. } | OutputSpec::Raw { .. } => {
                        if payload.len() % 2 != 0 {
                            return Err(FileError::Payload {
                                format: file_format,
                                len: payload.len(),
                                why: "L16 payloads hold whole 16-bit samples",
                            });
                        }
                        let little = matches!(self.spec, OutputSpec::Wav { .. })
                            || cfg!(target_endian = "little");
                        write_l16(out, payload, little)
                    }
                    _ => out.write_all(payload),
                };
                result.map_err(|e| io_error(out, e))?;
                self.data_bytes += payload.len() as u64;
                if file_format == FileFormat::Wav && self.data_bytes > wav::MAX_DATA_BYTES {
                    return Err(FileError::TooLong {
                        container: "WAV",
                        bytes: self.data_bytes,
                    });
                }
                Ok(())
            }
        }
    }

    /// Completes the file and moves it over the destination.
    ///
    /// `samples_48k` is the length of the real audio in 48 kHz samples, excluding pre-skip;
    /// Ogg Opus stores it in the final page's granule position so that players trim the
    /// padding of the last packet (RFC 7845 §4.4). The other formats hold exactly the
    /// payloads written and ignore it.
    ///
    /// # Errors
    /// [`FileError::Io`] if flushing or renaming fails; the temporary file is removed.
    pub fn finish(self, samples_48k: u64) -> Result<(), FileError> {
        let AudioWriter {
            spec,
            out,
            data_bytes,
        } = self;
        let out = match out {
            Body::Opus(writer) => writer.finish(samples_48k)?,
            Body::Plain(mut out) => {
                if let OutputSpec::Wav { sample_rate } = spec {
                    let header = wav::header(sample_rate, data_bytes as u32);
                    let patch = out
                        .seek(SeekFrom::Start(0))
                        .and_then(|_| out.write_all(&header));
                    patch.map_err(|e| io_error(&out, e))?;
                }
                out
            }
        };
        let path = out.get_ref().path.clone();
        let temp = out.into_inner().map_err(|e| FileError::Io {
            path,
            source: e.into_error(),
        })?;
        temp.commit()
    }
}

fn io_error(out: &BufWriter<TempFile>, source: io::Error) -> FileError {
    FileError::Io {
        path: out.get_ref().path.clone(),
        source,
    }
}

/// Writes big-endian L16 `payload` as 16-bit samples in little (`true`) or big byte order.
fn write_l16(out: &mut impl Write, payload: &[u8], little: bool) -> io::Result<()> {
    if !little {
        return out.write_all(payload);
    }
    let mut swapped = [0u8; 1024];
    for chunk in payload.chunks(swapped.len()) {
        let buf = &mut swapped[..chunk.len()];
        for (dst, src) in buf.chunks_exact_mut(2).zip(chunk.chunks_exact(2)) {
            dst[0] = src[1];
            dst[1] = src[0];
        }
        out.write_all(buf)?;
    }
    Ok(())
}

/// A serial number for a new Ogg stream (RFC 3533 §6: unique per logical stream in a file):
/// a hash of the output's name, so that output is reproducible.
fn stream_serial(path: &Path) -> u32 {
    let name = path
        .file_name()
        .map(|n| n.as_encoded_bytes())
        .unwrap_or_default();
    // FNV-1a.
    name.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Writes `bytes` to `path` atomically: through a temporary file in the same directory that is
/// renamed over `path` once complete.
///
/// # Errors
/// [`FileError::Io`] naming the path that failed; no partial file is left.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let mut temp = TempFile::create(path)?;
    temp.write_all(bytes).map_err(|source| FileError::Io {
        path: temp.path.clone(),
        source,
    })?;
    temp.commit()
}

/// A file being written beside its destination, removed unless committed.
#[derive(Debug)]
struct TempFile {
    file: File,
    /// Where the bytes go until commit.
    path: PathBuf,
    /// Where they end up.
    destination: PathBuf,
    committed: bool,
}

impl TempFile {
    /// Creates `.<name>.<pid>.<n>.tmp` in `destination`'s directory.
    fn create(destination: &Path) -> Result<TempFile, FileError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let Some(name) = destination.file_name() else {
            return Err(FileError::Io {
                path: destination.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
            });
        };
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        temp_name.push(format!(".{}.{n}.tmp", std::process::id()));
        let path = destination.with_file_name(temp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| FileError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(TempFile {
            file,
            path,
            destination: destination.to_path_buf(),
            committed: false,
        })
    }

    /// Flushes to disk and renames over the destination.
    fn commit(mut self) -> Result<(), FileError> {
        self.file.sync_all().map_err(|source| FileError::Io {
            path: self.path.clone(),
            source,
        })?;
        fs::rename(&self.path, &self.destination).map_err(|source| FileError::Io {
            path: self.destination.clone(),
            source,
        })?;
        self.committed = true;
        Ok(())
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for TempFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the file may already be gone; nothing else can be done here.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_extensions_ignoring_case() {
        let cases = [
            ("a.wav", FileFormat::Wav),
            ("b.WAV", FileFormat::Wav),
            ("c.ul", FileFormat::Ulaw),
            ("d.Al", FileFormat::Alaw),
            ("e.g722", FileFormat::G722),
            ("f.opus", FileFormat::Opus),
            ("g.raw", FileFormat::Raw),
            ("h.SLN16", FileFormat::Raw),
        ];
        for (name, format) in cases {
            assert_eq!(
                FileFormat::from_path(Path::new(name)).unwrap(),
                format,
                "{name}"
            );
        }
        for name in ["x.mp3", "noext", ".wav", "a.wav.bak"] {
            assert!(
                matches!(
                    FileFormat::from_path(Path::new(name)),
                    Err(FileError::UnknownExtension { .. })
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn sln16_defaults_to_16_khz_and_raw_to_8_khz() {
        assert_eq!(default_raw_rate(Path::new("a.sln16")), 16000);
        assert_eq!(default_raw_rate(Path::new("a.raw")), 8000);
    }

    #[test]
    fn dropping_an_unfinished_writer_leaves_no_file() {
        let dir = std::env::temp_dir().join(format!("tandem-file-drop-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.wav");
        {
            let mut w = AudioWriter::create(&path, OutputSpec::Wav { sample_rate: 8000 }).unwrap();
            w.write_payload(&[0, 1, 0, 2]).unwrap();
        }
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let mut w = AudioWriter::create(&path, OutputSpec::Wav { sample_rate: 8000 }).unwrap();
        w.write_payload(&[0, 1, 0, 2]).unwrap();
        w.finish(0).unwrap();
        let (info, samples) = wav::read(&path).unwrap();
        assert_eq!((info.sample_rate, samples), (8000, vec![1, 2]));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
