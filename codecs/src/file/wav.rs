//! RIFF/WAVE files holding 16-bit PCM: a parser that never panics, a writer of mono files, and
//! [`WavStream`], which writes interleaved channels as they arrive (call recordings).
//!
//! The reader follows the Microsoft RIFF/WAVE layout ("Multimedia Programming Interface and
//! Data Specifications 1.0", 1991, and the `WAVEFORMATEXTENSIBLE` addendum):
//!
//! - `RIFF` size `WAVE`, then chunks of `id` (4 bytes), `size` (u32 little-endian) and `size`
//!   bytes, each followed by a pad byte when `size` is odd. Chunks other than `fmt ` and
//!   `data` (`LIST`, `fact`, `bext`, ...) are skipped. The RIFF size field is not trusted
//!   (writers often get it wrong); the chunk sizes are.
//! - `fmt `: `WAVE_FORMAT_PCM` (1), or `WAVE_FORMAT_EXTENSIBLE` (0xFFFE) whose sub-format GUID
//!   is `KSDATAFORMAT_SUBTYPE_PCM`; 16 bits per sample only; block align must be
//!   `2 × channels`.
//! - `data`: whole frames of interleaved little-endian samples. A data chunk whose size runs
//!   past the end of the file is an error that says how many bytes were expected and found.
//!
//! Multi-channel audio is **downmixed to mono by averaging** the channels of each frame
//! (rounded to the nearest integer, halves away from zero): Tandem's PCM is mono everywhere.
//! [`WavInfo::channels`] still reports the file's channel count.
//!
//! The writer emits the canonical 44-byte header (`fmt ` with `WAVE_FORMAT_PCM`, one channel,
//! 16 bits) followed by the `data` chunk.

use std::path::Path;

use super::FileError;

/// What a WAV file's `fmt ` chunk says, as far as Tandem uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Channels in the file (the samples [`parse`] returns are mono).
    pub channels: u16,
}

/// `WAVE_FORMAT_PCM`.
const FORMAT_PCM: u16 = 0x0001;
/// `WAVE_FORMAT_EXTENSIBLE`.
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;
/// `KSDATAFORMAT_SUBTYPE_PCM`: {00000001-0000-0010-8000-00AA00389B71} as stored.
const SUBTYPE_PCM: [u8; 16] = [
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];
/// Size of the canonical header [`header`] writes.
pub const HEADER_LEN: usize = 44;
/// The most audio bytes a WAV file can hold: the RIFF size (u32) counts 36 header bytes too.
pub const MAX_DATA_BYTES: u64 = (u32::MAX as u64 - 36) & !1;

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Parses a WAV file's bytes into its format and mono samples.
///
/// # Errors
/// [`FileError::NotWav`], [`FileError::WavMissingChunk`], [`FileError::WavTruncated`],
/// [`FileError::WavUnsupported`] (not 16-bit PCM), [`FileError::WavInvalid`],
/// [`FileError::WavPartialFrame`], [`FileError::UnsupportedSampleRate`].
pub fn parse(bytes: &[u8]) -> Result<(WavInfo, Vec<i16>), FileError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(FileError::NotWav);
    }
    let mut fmt: Option<WavInfo> = None;
    let mut data: Option<&[u8]> = None;
    let mut offset = 12usize;
    while fmt.is_none() || data.is_none() {
        let Some(header) = bytes.get(offset..offset + 8) else {
            // Fewer than 8 bytes left: a missing final pad byte or trailing junk.
            break;
        };
        let id = &header[0..4];
        let size = u32_at(header, 4) as usize;
        let body_start = offset + 8;
        let available = bytes.len() - body_start;
        if size > available {
            return Err(FileError::WavTruncated {
                chunk: String::from_utf8_lossy(id).into_owned(),
                offset: offset as u64,
                expected: size as u64,
                found: available as u64,
            });
        }
        let body = &bytes[body_start..body_start + size];
        match id {
            b"fmt " if fmt.is_none() => fmt = Some(parse_fmt(body)?),
            b"data" if data.is_none() => data = Some(body),
            _ => {}
        }
        // Chunks are padded to even sizes; the pad byte may be missing at the very end.
        offset = body_start + size + (size & 1);
    }
    let info = fmt.ok_or(FileError::WavMissingChunk { chunk: "fmt " })?;
    let data = data.ok_or(FileError::WavMissingChunk { chunk: "data" })?;
    let frame_bytes = usize::from(info.channels) * 2;
    if data.len() % frame_bytes != 0 {
        return Err(FileError::WavPartialFrame {
            bytes: data.len() as u64,
            frame_bytes: frame_bytes as u32,
        });
    }
    let samples = data
        .chunks_exact(frame_bytes)
        .map(|frame| {
            if info.channels == 1 {
                return i16::from_le_bytes([frame[0], frame[1]]);
            }
            let sum: i64 = frame
                .chunks_exact(2)
                .map(|s| i64::from(i16::from_le_bytes([s[0], s[1]])))
                .sum();
            average(sum, i64::from(info.channels))
        })
        .collect();
    Ok((info, samples))
}

/// `sum / count` rounded to nearest, halves away from zero; always within i16 since `sum` is
/// a sum of `count` i16 values.
fn average(sum: i64, count: i64) -> i16 {
    let half = count / 2;
    let rounded = if sum >= 0 {
        (sum + half) / count
    } else {
        (sum - half) / count
    };
    rounded.clamp(i16::MIN.into(), i16::MAX.into()) as i16
}

fn parse_fmt(body: &[u8]) -> Result<WavInfo, FileError> {
    if body.len() < 16 {
        return Err(FileError::WavInvalid {
            what: "fmt chunk size",
            value: body.len() as u32,
            expected: 16,
        });
    }
    let tag = u16_at(body, 0);
    let channels = u16_at(body, 2);
    let sample_rate = u32_at(body, 4);
    let block_align = u16_at(body, 12);
    let bits = u16_at(body, 14);
    match tag {
        FORMAT_PCM => {}
        FORMAT_EXTENSIBLE => {
            // cbSize (2), wValidBitsPerSample (2), dwChannelMask (4), SubFormat (16).
            if body.len() < 40 {
                return Err(FileError::WavInvalid {
                    what: "WAVE_FORMAT_EXTENSIBLE fmt chunk size",
                    value: body.len() as u32,
                    expected: 40,
                });
            }
            if body[24..40] != SUBTYPE_PCM {
                return Err(FileError::WavUnsupported {
                    what: "WAVE_FORMAT_EXTENSIBLE sub-format",
                    value: u32_at(body, 24),
                });
            }
            let valid_bits = u16_at(body, 18);
            if valid_bits > 16 {
                return Err(FileError::WavUnsupported {
                    what: "valid bits per sample",
                    value: valid_bits.into(),
                });
            }
        }
        other => {
            return Err(FileError::WavUnsupported {
                what: "format tag",
                value: other.into(),
            });
        }
    }
    if bits != 16 {
        return Err(FileError::WavUnsupported {
            what: "bits per sample",
            value: bits.into(),
        });
    }
    if channels == 0 {
        return Err(FileError::WavUnsupported {
            what: "channel count",
            value: 0,
        });
    }
    let expected_align = u32::from(channels) * 2;
    if u32::from(block_align) != expected_align {
        return Err(FileError::WavInvalid {
            what: "block align",
            value: block_align.into(),
            expected: expected_align,
        });
    }
    super::raw::check_rate(sample_rate)?;
    Ok(WavInfo {
        sample_rate,
        channels,
    })
}

/// Reads and parses the WAV file at `path`; see [`parse`].
///
/// # Errors
/// [`FileError::Io`] with the path, or what [`parse`] returns.
pub fn read(path: &Path) -> Result<(WavInfo, Vec<i16>), FileError> {
    let bytes = std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes)
}

/// Writes `samples` as a mono 16-bit PCM WAV file at `sample_rate`.
///
/// The bytes go to a temporary file in `path`'s directory, renamed over `path` when complete,
/// so no partial file is ever left.
///
/// # Errors
/// [`FileError::TooLong`] past the WAV size limit, [`FileError::UnsupportedSampleRate`]
/// outside 1 to 384 kHz, [`FileError::Io`] naming the path that failed.
pub fn write(path: &Path, sample_rate: u32, samples: &[i16]) -> Result<(), FileError> {
    super::raw::check_rate(sample_rate)?;
    let bytes = samples.len() as u64 * 2;
    if bytes > MAX_DATA_BYTES {
        return Err(FileError::TooLong {
            container: "WAV",
            bytes,
        });
    }
    super::write_atomic(path, &to_bytes(sample_rate, samples))
}

/// A complete mono 16-bit PCM WAV file holding `samples` at `sample_rate`.
///
/// Audio longer than the WAV limit ([`MAX_DATA_BYTES`]) gets its size fields saturated;
/// [`write()`] refuses such audio instead.
pub fn to_bytes(sample_rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_bytes = u32::try_from(samples.len() as u64 * 2)
        .unwrap_or(u32::MAX)
        .min(MAX_DATA_BYTES as u32);
    let mut bytes = Vec::with_capacity(HEADER_LEN + samples.len() * 2);
    bytes.extend_from_slice(&header(sample_rate, data_bytes));
    for s in samples {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    bytes
}

/// The canonical 44-byte header of a mono 16-bit PCM WAV file with `data_bytes` of audio.
pub fn header(sample_rate: u32, data_bytes: u32) -> [u8; HEADER_LEN] {
    header_channels(sample_rate, 1, data_bytes)
}

/// The canonical 44-byte header of a 16-bit PCM WAV file of `channels` interleaved channels
/// with `data_bytes` of audio.
pub fn header_channels(sample_rate: u32, channels: u16, data_bytes: u32) -> [u8; HEADER_LEN] {
    let block_align = channels.saturating_mul(2);
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&data_bytes.saturating_add(36).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&FORMAT_PCM.to_le_bytes());
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(
        &sample_rate
            .wrapping_mul(u32::from(block_align))
            .to_le_bytes(),
    );
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

/// A WAV file written as audio arrives (call recording): the header goes out first with
/// zero sizes, interleaved frames are appended, and [`WavStream::finish`] patches the sizes.
///
/// Unlike [`write()`], the file is written in place, so a recording can be listed while it
/// runs; a process that dies mid-recording leaves a file whose header says "no data" (players
/// and [`parse`] then see an empty or truncated file, never garbage).
#[derive(Debug)]
pub struct WavStream {
    out: std::io::BufWriter<std::fs::File>,
    path: std::path::PathBuf,
    channels: u16,
    sample_rate: u32,
    data_bytes: u64,
}

impl WavStream {
    /// Creates (or truncates) `path` and writes a header for `channels` channels at
    /// `sample_rate`.
    ///
    /// # Errors
    /// [`FileError::UnsupportedSampleRate`] outside 1 to 384 kHz; [`FileError::Io`] when the
    /// file cannot be created (missing or unwritable directory...).
    pub fn create(path: &Path, sample_rate: u32, channels: u16) -> Result<Self, FileError> {
        use std::io::Write;
        super::raw::check_rate(sample_rate)?;
        let io = |source| FileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut out = std::io::BufWriter::new(file);
        out.write_all(&header_channels(sample_rate, channels.max(1), 0))
            .map_err(io)?;
        Ok(Self {
            out,
            path: path.to_path_buf(),
            channels: channels.max(1),
            sample_rate,
            data_bytes: 0,
        })
    }

    /// Appends interleaved samples (a whole number of frames).
    ///
    /// # Errors
    /// [`FileError::TooLong`] past the WAV size limit (nothing is written);
    /// [`FileError::Io`].
    pub fn write(&mut self, interleaved: &[i16]) -> Result<(), FileError> {
        use std::io::Write;
        let bytes = interleaved.len() as u64 * 2;
        if self.data_bytes + bytes > MAX_DATA_BYTES {
            return Err(FileError::TooLong {
                container: "WAV",
                bytes: self.data_bytes + bytes,
            });
        }
        let mut buf = [0u8; 1024];
        for chunk in interleaved.chunks(buf.len() / 2) {
            for (dst, s) in buf.chunks_exact_mut(2).zip(chunk) {
                dst.copy_from_slice(&s.to_le_bytes());
            }
            self.out
                .write_all(&buf[..chunk.len() * 2])
                .map_err(|source| FileError::Io {
                    path: self.path.clone(),
                    source,
                })?;
        }
        self.data_bytes += bytes;
        Ok(())
    }

    /// Frames written so far (samples per channel).
    pub fn frames(&self) -> u64 {
        self.data_bytes / (2 * u64::from(self.channels))
    }

    /// Sets the sample rate [`finish`](Self::finish) writes into the header (for a stream
    /// whose rate is known only once audio arrives).
    pub fn set_sample_rate(&mut self, sample_rate: u32) {
        self.sample_rate = sample_rate;
    }

    /// The sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The channel count.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Patches the header's sizes, flushes and closes the file. Returns the frames written.
    ///
    /// # Errors
    /// [`FileError::Io`].
    pub fn finish(mut self) -> Result<u64, FileError> {
        use std::io::{Seek, SeekFrom, Write};
        let path = self.path.clone();
        let io = |source| FileError::Io {
            path: path.clone(),
            source,
        };
        let header = header_channels(self.sample_rate, self.channels, self.data_bytes as u32);
        self.out.flush().map_err(io)?;
        let file = self.out.get_mut();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&header).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(self.data_bytes / (2 * u64::from(self.channels)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV file built chunk by chunk: `fmt` body, then extra chunks, then data.
    fn riff(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut out = b"RIFF\0\0\0\0WAVE".to_vec();
        for (id, body) in chunks {
            out.extend_from_slice(*id);
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(body);
            if body.len() % 2 == 1 {
                out.push(0);
            }
        }
        let size = (out.len() - 8) as u32;
        out[4..8].copy_from_slice(&size.to_le_bytes());
        out
    }

    fn fmt_pcm(channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let align = channels * bits / 8;
        let mut f = Vec::new();
        f.extend_from_slice(&FORMAT_PCM.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        f.extend_from_slice(&align.to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        f
    }

    fn fmt_extensible(channels: u16, rate: u32, subformat: [u8; 16]) -> Vec<u8> {
        let mut f = fmt_pcm(channels, rate, 16);
        f[0..2].copy_from_slice(&FORMAT_EXTENSIBLE.to_le_bytes());
        f.extend_from_slice(&22u16.to_le_bytes());
        f.extend_from_slice(&16u16.to_le_bytes());
        f.extend_from_slice(&0x3u32.to_le_bytes());
        f.extend_from_slice(&subformat);
        f
    }

    fn le(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn writes_the_canonical_header_and_reads_it_back() {
        let samples = [0i16, 1, -1, i16::MAX, i16::MIN];
        let bytes = to_bytes(16000, &samples);
        assert_eq!(bytes.len(), 44 + 10);
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(u32_at(&bytes, 4), 36 + 10);
        assert_eq!(u32_at(&bytes, 28), 32000, "byte rate");
        assert_eq!(u32_at(&bytes, 40), 10, "data size");
        let (info, back) = parse(&bytes).unwrap();
        assert_eq!(
            info,
            WavInfo {
                sample_rate: 16000,
                channels: 1
            }
        );
        assert_eq!(back, samples);
    }

    #[test]
    fn skips_unknown_chunks_with_odd_padding() {
        let bytes = riff(&[
            (b"LIST", vec![1, 2, 3]),
            (b"fmt ", fmt_pcm(1, 8000, 16)),
            (b"fact", vec![9; 5]),
            (b"data", le(&[7, -7])),
        ]);
        let (info, samples) = parse(&bytes).unwrap();
        assert_eq!(info.sample_rate, 8000);
        assert_eq!(samples, [7, -7]);
    }

    #[test]
    fn reads_data_before_fmt() {
        let bytes = riff(&[(b"data", le(&[5])), (b"fmt ", fmt_pcm(1, 48000, 16))]);
        assert_eq!(parse(&bytes).unwrap().1, [5]);
    }

    #[test]
    fn downmixes_stereo_by_averaging() {
        let bytes = riff(&[
            (b"fmt ", fmt_pcm(2, 8000, 16)),
            (
                b"data",
                le(&[
                    100,
                    200,
                    -3,
                    0,
                    i16::MAX,
                    i16::MAX,
                    i16::MIN,
                    i16::MIN,
                    1,
                    0,
                ]),
            ),
        ]);
        let (info, samples) = parse(&bytes).unwrap();
        assert_eq!(info.channels, 2);
        assert_eq!(samples, [150, -2, i16::MAX, i16::MIN, 1]);
    }

    #[test]
    fn accepts_extensible_pcm_and_rejects_extensible_float() {
        let ok = riff(&[
            (b"fmt ", fmt_extensible(2, 16000, SUBTYPE_PCM)),
            (b"data", le(&[2, 4])),
        ]);
        assert_eq!(
            parse(&ok).unwrap(),
            (
                WavInfo {
                    sample_rate: 16000,
                    channels: 2
                },
                vec![3]
            )
        );
        let mut float = SUBTYPE_PCM;
        float[0] = 3;
        let bad = riff(&[
            (b"fmt ", fmt_extensible(1, 16000, float)),
            (b"data", vec![]),
        ]);
        assert!(matches!(
            parse(&bad),
            Err(FileError::WavUnsupported {
                what: "WAVE_FORMAT_EXTENSIBLE sub-format",
                value: 3
            })
        ));
    }

    #[test]
    fn truncated_data_names_expected_and_found_bytes() {
        let mut bytes = to_bytes(8000, &[1; 100]);
        bytes.truncate(44 + 150);
        let err = parse(&bytes).unwrap_err();
        assert!(
            matches!(&err, FileError::WavTruncated { chunk, offset: 36, expected: 200, found: 150 } if chunk == "data"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "truncated WAV data chunk at byte 36: expected 200 bytes, found 150"
        );
    }

    #[test]
    fn rejects_what_is_not_16_bit_pcm() {
        let eight = riff(&[(b"fmt ", fmt_pcm(1, 8000, 8)), (b"data", vec![0; 4])]);
        assert!(matches!(
            parse(&eight),
            Err(FileError::WavUnsupported {
                what: "bits per sample",
                value: 8
            })
        ));
        let mut float = fmt_pcm(1, 8000, 16);
        float[0] = 3;
        assert!(matches!(
            parse(&riff(&[(b"fmt ", float), (b"data", vec![])])),
            Err(FileError::WavUnsupported {
                what: "format tag",
                value: 3
            })
        ));
        let mut align = fmt_pcm(2, 8000, 16);
        align[12] = 2;
        assert!(matches!(
            parse(&riff(&[(b"fmt ", align), (b"data", vec![])])),
            Err(FileError::WavInvalid {
                what: "block align",
                value: 2,
                expected: 4
            })
        ));
        assert!(matches!(
            parse(&riff(&[(b"fmt ", fmt_pcm(1, 0, 16)), (b"data", vec![])])),
            Err(FileError::UnsupportedSampleRate { rate: 0 })
        ));
    }

    #[test]
    fn rejects_missing_chunks_partial_frames_and_non_riff() {
        assert!(matches!(parse(b"RIFX\0\0\0\0WAVE"), Err(FileError::NotWav)));
        assert!(matches!(parse(b""), Err(FileError::NotWav)));
        assert!(matches!(
            parse(&riff(&[(b"data", vec![])])),
            Err(FileError::WavMissingChunk { chunk: "fmt " })
        ));
        assert!(matches!(
            parse(&riff(&[(b"fmt ", fmt_pcm(1, 8000, 16))])),
            Err(FileError::WavMissingChunk { chunk: "data" })
        ));
        assert!(matches!(
            parse(&riff(&[
                (b"fmt ", fmt_pcm(2, 8000, 16)),
                (b"data", vec![0; 6])
            ])),
            Err(FileError::WavPartialFrame {
                bytes: 6,
                frame_bytes: 4
            })
        ));
    }

    #[test]
    fn write_replaces_the_file_atomically() {
        let dir = std::env::temp_dir().join(format!("tandem-wav-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tone.wav");
        std::fs::write(&path, b"old").unwrap();
        write(&path, 8000, &[1, 2, 3]).unwrap();
        assert_eq!(read(&path).unwrap().1, [1, 2, 3]);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_streamed_stereo_file_reads_back_downmixed_with_its_header_patched() {
        let dir = std::env::temp_dir().join(format!("tandem-wavstream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stereo.wav");
        let mut w = WavStream::create(&path, 8000, 2).unwrap();
        w.write(&[100, 300, -100, -300]).unwrap();
        w.write(&[0, 2]).unwrap();
        assert_eq!(w.frames(), 3);
        assert_eq!(w.finish().unwrap(), 3);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 12);
        let (info, pcm) = parse(&bytes).unwrap();
        assert_eq!((info.sample_rate, info.channels), (8000, 2));
        assert_eq!(pcm, [200, -200, 1]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stream_into_a_missing_directory_is_an_io_error() {
        let path = std::path::Path::new("/nonexistent-tandem-dir/x.wav");
        assert!(matches!(
            WavStream::create(path, 8000, 1),
            Err(FileError::Io { .. })
        ));
    }
}
