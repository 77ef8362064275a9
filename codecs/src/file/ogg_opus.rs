//! Ogg Opus files (RFC 7845): a strict reader that never panics and a writer whose output
//! `opusinfo` accepts and `opusdec` plays.
//!
//! # Layout (RFC 7845 §3)
//!
//! Page 0 holds only the identification header [`OpusHead`] (§5.1); the comment header
//! [`OpusTags`] (§5.2) follows and finishes its page; every later packet is one Opus packet
//! (RFC 6716 §3). Granule positions count 48 kHz samples whatever rate the encoder ran at
//! (§4), and include the pre-skip: the samples the decoder must drop at the start (§4.2).
//! The final page's granule position may be smaller than its packets' total, which tells the
//! player to drop the padding of the last packet (end trimming, §4.4).
//!
//! # Reader
//!
//! [`parse`] walks the pages in order. Framing goes through the `ogg` crate's page parser
//! (structure version, CRC, packet reassembly across pages); on top of it the reader insists
//! that every page starts exactly where the previous one ended with the capture pattern
//! `OggS`, that sequence numbers have no gaps, and that one logical stream is present
//! (RFC 3533 §6). Any fault is a [`FileError::OggPage`] naming the page and its byte offset.
//! Bytes after the end-of-stream page are ignored unless they start another Ogg stream
//! (a chained file), which is refused. A stream that stops at a page boundary without an
//! end-of-stream page is read as far as it goes (a recording cut short), and timing comes from
//! its last granule position.
//!
//! Only channel mapping family 0 (mono or stereo, §5.1.1.1) is read: Tandem's PCM is mono
//! and libopus downmixes a stereo packet when decoding to one channel.
//!
//! # Writer
//!
//! [`OggOpusWriter`] writes `OpusHead` (version 1, mapping family 0) and `OpusTags` (vendor
//! "Tandem") on their own pages, then one Opus packet per Ogg packet, closing a page at least
//! every second of audio. It holds the latest packet back so that the last one goes out on a
//! page flagged end-of-stream whose granule position trims the padding.

use std::path::Path;

use ogg::reading::{BasePacketReader, OggReadError, PageParser, PageParsingOptions};
use ogg::writing::{PacketWriteEndInfo, PacketWriter};

use super::{FileError, OggFault};

/// The vendor string our comment headers carry.
pub const VENDOR: &str = "Tandem";
/// Ogg Opus always counts time at 48 kHz (RFC 7845 §4).
pub const GRANULE_RATE: u32 = 48000;
/// The longest Opus packet, 120 ms at 48 kHz (RFC 6716 §3.2.5).
const MAX_PACKET_SAMPLES: u32 = 5760;
/// Audio per page the writer aims for: close a page once it holds a second.
const PAGE_SAMPLES: u64 = 48000;
/// Size of a page header before the segment table (RFC 3533 §6).
const PAGE_HEADER_LEN: usize = 27;
/// Header flags (RFC 3533 §6).
const FLAG_CONTINUED: u8 = 0x01;
const FLAG_BOS: u8 = 0x02;
const FLAG_EOS: u8 = 0x04;

/// The identification header (RFC 7845 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusHead {
    /// Version; writers use 1, readers accept any with a zero major part (0..=15).
    pub version: u8,
    /// Output channel count.
    pub channels: u8,
    /// Samples at 48 kHz to drop from the start of the decoded audio (§4.2).
    pub pre_skip: u16,
    /// The rate the audio was captured at, in Hz; 0 if unknown. Informational only.
    pub input_sample_rate: u32,
    /// Gain to apply on output, in Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family (§5.1.1); only 0 is read.
    pub mapping_family: u8,
}

impl OpusHead {
    /// Length of a mapping-family-0 header.
    pub const LEN: usize = 19;

    /// A version-1, family-0 header.
    pub fn new(channels: u8, pre_skip: u16, input_sample_rate: u32) -> OpusHead {
        OpusHead {
            version: 1,
            channels,
            pre_skip,
            input_sample_rate,
            output_gain: 0,
            mapping_family: 0,
        }
    }

    /// The header packet (family 0: no channel mapping table).
    pub fn to_bytes(&self) -> [u8; OpusHead::LEN] {
        let mut b = [0u8; OpusHead::LEN];
        b[0..8].copy_from_slice(b"OpusHead");
        b[8] = self.version;
        b[9] = self.channels;
        b[10..12].copy_from_slice(&self.pre_skip.to_le_bytes());
        b[12..16].copy_from_slice(&self.input_sample_rate.to_le_bytes());
        b[16..18].copy_from_slice(&self.output_gain.to_le_bytes());
        b[18] = self.mapping_family;
        b
    }

    /// Parses an identification header packet.
    ///
    /// # Errors
    /// [`FileError::OggOpus`] if the magic is missing, [`FileError::OpusHead`] for a bad or
    /// unsupported field.
    pub fn parse(packet: &[u8]) -> Result<OpusHead, FileError> {
        if packet.len() < 8 || &packet[0..8] != b"OpusHead" {
            return Err(FileError::OggOpus {
                what: "first packet is not an OpusHead identification header",
                section: "§5.1",
            });
        }
        if packet.len() < OpusHead::LEN {
            return Err(FileError::OpusHead {
                what: "length",
                value: packet.len() as u32,
            });
        }
        let head = OpusHead {
            version: packet[8],
            channels: packet[9],
            pre_skip: u16::from_le_bytes([packet[10], packet[11]]),
            input_sample_rate: u32::from_le_bytes([packet[12], packet[13], packet[14], packet[15]]),
            output_gain: i16::from_le_bytes([packet[16], packet[17]]),
            mapping_family: packet[18],
        };
        if head.version > 15 {
            return Err(FileError::OpusHead {
                what: "version",
                value: head.version.into(),
            });
        }
        if head.mapping_family != 0 {
            return Err(FileError::OpusHead {
                what: "channel mapping family",
                value: head.mapping_family.into(),
            });
        }
        if !(1..=2).contains(&head.channels) {
            return Err(FileError::OpusHead {
                what: "channel count for mapping family 0",
                value: head.channels.into(),
            });
        }
        Ok(head)
    }
}

/// The comment header (RFC 7845 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpusTags {
    /// The encoder's vendor string.
    pub vendor: String,
    /// `NAME=value` comments (invalid UTF-8 replaced).
    pub comments: Vec<String>,
}

impl OpusTags {
    /// Tags with Tandem's vendor string and no comments.
    pub fn tandem() -> OpusTags {
        OpusTags {
            vendor: VENDOR.to_owned(),
            comments: Vec::new(),
        }
    }

    /// The header packet.
    pub fn to_bytes(&self) -> Vec<u8> {
        fn string(b: &mut Vec<u8>, s: &str) {
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        let mut b = b"OpusTags".to_vec();
        string(&mut b, &self.vendor);
        b.extend_from_slice(&(self.comments.len() as u32).to_le_bytes());
        for c in &self.comments {
            string(&mut b, c);
        }
        b
    }

    /// Parses a comment header packet.
    ///
    /// # Errors
    /// [`FileError::OggOpus`] if the magic is missing or a length runs past the packet.
    pub fn parse(packet: &[u8]) -> Result<OpusTags, FileError> {
        const TRUNCATED: FileError = FileError::OggOpus {
            what: "OpusTags lengths run past the packet",
            section: "§5.2",
        };
        let rest = packet.strip_prefix(b"OpusTags").ok_or(FileError::OggOpus {
            what: "second packet is not an OpusTags comment header",
            section: "§5.2",
        })?;
        fn take_u32(cursor: &mut &[u8]) -> Result<usize, FileError> {
            let (n, tail) = cursor.split_first_chunk::<4>().ok_or(TRUNCATED)?;
            *cursor = tail;
            Ok(u32::from_le_bytes(*n) as usize)
        }
        fn take_string(cursor: &mut &[u8]) -> Result<String, FileError> {
            let len = take_u32(cursor)?;
            if len > cursor.len() {
                return Err(TRUNCATED);
            }
            let (s, tail) = cursor.split_at(len);
            *cursor = tail;
            Ok(String::from_utf8_lossy(s).into_owned())
        }
        let mut cursor = rest;
        let vendor = take_string(&mut cursor)?;
        let count = take_u32(&mut cursor)?;
        let mut comments = Vec::new();
        for _ in 0..count {
            // Each comment needs at least its 4-byte length, so a lying count fails here
            // before it can make us loop or allocate much.
            comments.push(take_string(&mut cursor)?);
        }
        Ok(OpusTags { vendor, comments })
    }
}

/// A parsed Ogg Opus stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OggOpus {
    /// The identification header.
    pub head: OpusHead,
    /// The comment header.
    pub tags: OpusTags,
    /// The audio packets, in order.
    pub packets: Vec<Vec<u8>>,
    /// The granule position before the first audio packet (0 unless the stream was cut from
    /// a longer one, RFC 7845 §4.5).
    pub start_granule: u64,
    /// The granule position of the last page: where the audio ends, in 48 kHz samples
    /// counted from the stream's origin and including the pre-skip (§4.3, §4.4).
    pub final_granule: u64,
    /// True if the stream ended with an end-of-stream page.
    pub complete: bool,
}

impl OggOpus {
    /// 48 kHz samples of real audio: what is left of the decoded packets after dropping the
    /// pre-skip at the start and the end trimming at the end.
    pub fn playable_samples_48k(&self) -> u64 {
        self.final_granule
            .saturating_sub(self.start_granule)
            .saturating_sub(self.head.pre_skip.into())
    }
}

/// Samples at 48 kHz that one Opus packet decodes to, from its TOC (RFC 6716 §3.1, §3.2), or
/// `None` if the packet is malformed: empty, a code 3 packet without its frame count byte or
/// with zero frames, or longer than 120 ms.
pub fn packet_samples_48k(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // RFC 6716 §3.1 Table 2: configs 0-11 SILK (10/20/40/60 ms), 12-15 hybrid (10/20 ms),
    // 16-31 CELT (2.5/5/10/20 ms).
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3F),
    };
    let samples = frame * frames;
    (frames > 0 && samples <= MAX_PACKET_SAMPLES).then_some(samples)
}

/// Parses an Ogg Opus file; see the module docs for what is checked.
///
/// # Errors
/// [`FileError::OggPage`] for a corrupt page, [`FileError::OggOpus`] for a stream that breaks
/// RFC 7845, [`FileError::OpusHead`] for a bad header, [`FileError::OpusPacket`] for a packet
/// whose TOC is malformed.
pub fn parse(bytes: &[u8]) -> Result<OggOpus, FileError> {
    let mut reader = PageReader {
        bytes,
        offset: 0,
        index: 0,
        serial: 0,
        sequence: 0,
        packets: BasePacketReader::new(),
    };
    let mut head = None;
    let mut tags = None;
    let mut packets = Vec::new();
    let mut total_samples = 0u64;
    let mut start_granule = None;
    let mut final_granule = 0u64;
    let mut complete = false;
    while let Some(page) = reader.next_page()? {
        let mut completed = 0u64;
        let mut audio_on_page = false;
        let on_page = page.packets.len();
        for (i, packet) in page.packets.into_iter().enumerate() {
            if head.is_none() {
                head = Some(OpusHead::parse(&packet)?);
                if page.index != 0 || page.packet_count != 1 || page.ends_continued {
                    return Err(FileError::OggOpus {
                        what: "the identification header does not have the first page to itself",
                        section: "§3",
                    });
                }
            } else if tags.is_none() {
                tags = Some(OpusTags::parse(&packet)?);
                if i + 1 != on_page || page.ends_continued {
                    return Err(FileError::OggOpus {
                        what: "audio data shares a page with the comment header",
                        section: "§3",
                    });
                }
            } else {
                let samples = packet_samples_48k(&packet).ok_or(FileError::OpusPacket {
                    index: packets.len() as u64,
                    len: packet.len(),
                })?;
                completed += u64::from(samples);
                audio_on_page = true;
                packets.push(packet);
            }
        }
        if audio_on_page {
            let granule = page.granule;
            if granule == u64::MAX {
                return Err(FileError::OggOpus {
                    what: "a page that completes audio packets has no granule position",
                    section: "§4",
                });
            }
            match start_granule {
                None => {
                    // §4.5: the first audio page may only claim fewer samples than it
                    // completes if it is also the last (then the difference is end trimming).
                    if granule < completed && !page.eos {
                        return Err(FileError::OggOpus {
                            what: "the first audio page's granule position is smaller than its samples",
                            section: "§4.5",
                        });
                    }
                    start_granule = Some(granule.saturating_sub(completed));
                }
                Some(_) if granule < final_granule => {
                    return Err(FileError::OggOpus {
                        what: "granule positions decrease",
                        section: "§4",
                    });
                }
                Some(_) => {}
            }
            // §4.4: end trimming may only drop samples of the last page.
            if page.eos && final_granule > granule {
                return Err(FileError::OggOpus {
                    what: "the final granule position trims more than the last page holds",
                    section: "§4.4",
                });
            }
            final_granule = granule;
            total_samples += completed;
        }
        if page.eos {
            complete = true;
            break;
        }
    }
    if reader.offset < bytes.len() && bytes[reader.offset..].starts_with(b"OggS") {
        return Err(FileError::OggOpus {
            what: "another Ogg stream follows the end of stream (chained files are not read)",
            section: "§3",
        });
    }
    let head = head.ok_or(FileError::OggOpus {
        what: "no identification header",
        section: "§3",
    })?;
    let tags = tags.ok_or(FileError::OggOpus {
        what: "no comment header",
        section: "§3",
    })?;
    let start_granule = start_granule.unwrap_or(0);
    // A stream cut short has no end trimming; never claim more than the packets hold.
    let final_granule = final_granule
        .max(start_granule)
        .min(start_granule + total_samples);
    Ok(OggOpus {
        head,
        tags,
        packets,
        start_granule,
        final_granule,
        complete,
    })
}

/// Reads and parses the Ogg Opus file at `path`; see [`parse`].
///
/// # Errors
/// [`FileError::Io`] with the path, or what [`parse`] returns.
pub fn read(path: &Path) -> Result<OggOpus, FileError> {
    let bytes = std::fs::read(path).map_err(|source| FileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes)
}

/// One page as the reader saw it, with the packets that completed on it.
struct Page {
    index: u64,
    granule: u64,
    eos: bool,
    /// The segment table's last lacing value is 255: a packet continues on the next page.
    ends_continued: bool,
    packet_count: usize,
    packets: Vec<Vec<u8>>,
}

/// Walks pages strictly one after another.
struct PageReader<'a> {
    bytes: &'a [u8],
    offset: usize,
    index: u64,
    serial: u32,
    sequence: u32,
    packets: BasePacketReader,
}

impl PageReader<'_> {
    fn next_page(&mut self) -> Result<Option<Page>, FileError> {
        let rest = &self.bytes[self.offset..];
        if rest.is_empty() {
            return Ok(None);
        }
        let fault = |fault| FileError::OggPage {
            page: self.index,
            offset: self.offset as u64,
            fault,
        };
        if !rest.starts_with(b"OggS") && !b"OggS".starts_with(rest) {
            return Err(fault(OggFault::CapturePattern));
        }
        let truncated = |expected: usize| {
            fault(OggFault::Truncated {
                expected: expected as u64,
                found: rest.len() as u64,
            })
        };
        let header: [u8; PAGE_HEADER_LEN] = rest
            .get(..PAGE_HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| truncated(PAGE_HEADER_LEN))?;
        let flags = header[5];
        let granule = u64::from_le_bytes(header[6..14].try_into().unwrap_or_default());
        let serial = u32::from_le_bytes(header[14..18].try_into().unwrap_or_default());
        let sequence = u32::from_le_bytes(header[18..22].try_into().unwrap_or_default());
        let options = {
            // Default: verify the CRC, except in fuzzing builds, where checking it would stop
            // mutated input at the first page (the ogg crate's own choice).
            PageParsingOptions::default()
        };
        let (mut parser, segment_count) =
            PageParser::new_with_parse_opts(header, options).map_err(|e| fault(ogg_fault(e)))?;
        let segments_end = PAGE_HEADER_LEN + segment_count;
        let segments = rest
            .get(PAGE_HEADER_LEN..segments_end)
            .ok_or_else(|| truncated(segments_end))?;
        let ends_continued = segments.last() == Some(&255);
        let packet_count = segments.iter().filter(|&&s| s < 255).count();
        let body_len = parser.parse_segments(segments.to_vec());
        let page_end = segments_end + body_len;
        let body = rest
            .get(segments_end..page_end)
            .ok_or_else(|| truncated(page_end))?;
        let page = parser
            .parse_packet_data(body.to_vec())
            .map_err(|e| fault(ogg_fault(e)))?;

        if self.index == 0 {
            if flags & FLAG_BOS == 0 || flags & FLAG_CONTINUED != 0 {
                return Err(fault(OggFault::Flags(flags)));
            }
            self.serial = serial;
        } else {
            if serial != self.serial {
                return Err(fault(OggFault::Serial {
                    first: self.serial,
                    found: serial,
                }));
            }
            if flags & FLAG_BOS != 0 {
                return Err(fault(OggFault::Flags(flags)));
            }
            let expected = self.sequence.wrapping_add(1);
            if sequence != expected {
                return Err(fault(OggFault::Sequence {
                    previous: self.sequence,
                    found: sequence,
                }));
            }
        }
        self.packets
            .push_page(page)
            .map_err(|e| fault(ogg_fault_with_flags(e, flags)))?;
        let mut packets = Vec::new();
        while let Some(packet) = self.packets.read_packet() {
            packets.push(packet.data);
        }
        let page = Page {
            index: self.index,
            granule,
            eos: flags & FLAG_EOS != 0,
            ends_continued,
            packet_count,
            packets,
        };
        self.sequence = sequence;
        self.index += 1;
        self.offset += page_end;
        Ok(Some(page))
    }
}

fn ogg_fault(e: OggReadError) -> OggFault {
    ogg_fault_with_flags(e, 0)
}

fn ogg_fault_with_flags(e: OggReadError, flags: u8) -> OggFault {
    match e {
        OggReadError::NoCapturePatternFound => OggFault::CapturePattern,
        OggReadError::InvalidStreamStructVer(v) => OggFault::Version(v),
        OggReadError::HashMismatch(stored, computed) => OggFault::Crc { stored, computed },
        // Reading from a slice cannot fail; InvalidData is a continuation or BOS flag that
        // does not fit the previous page.
        OggReadError::ReadError(_) | OggReadError::InvalidData => OggFault::Flags(flags),
    }
}

/// Writes an Ogg Opus stream packet by packet.
pub struct OggOpusWriter<W: std::io::Write> {
    ogg: PacketWriter<'static, W>,
    serial: u32,
    pre_skip: u64,
    /// Granule position after every packet handed in so far: the 48 kHz samples they decode
    /// to, pre-skip included (RFC 7845 §4).
    granule: u64,
    /// The latest packet and the granule position after it, not yet written.
    held: Held,
    /// Lacing values and samples on the page being filled.
    page_segments: usize,
    page_samples: u64,
    /// Granule position of the last page closed.
    last_page_granule: u64,
    packets: u64,
}

enum Held {
    /// The comment header, which must end its page; held so that an empty stream can end on it.
    Tags(Vec<u8>),
    Audio(Vec<u8>, u64),
}

impl<W: std::io::Write> std::fmt::Debug for OggOpusWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusWriter")
            .field("serial", &self.serial)
            .field("granule", &self.granule)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

fn io(source: std::io::Error) -> FileError {
    FileError::Io {
        path: Default::default(),
        source,
    }
}

impl<W: std::io::Write> OggOpusWriter<W> {
    /// Starts a stream with `serial` as its Ogg serial number: writes the identification
    /// header page. The comment header follows with the first packet (or at [`finish`]).
    ///
    /// [`finish`]: OggOpusWriter::finish
    ///
    /// # Errors
    /// The writer's I/O error.
    pub fn new(out: W, head: &OpusHead, serial: u32) -> std::io::Result<Self> {
        let mut ogg = PacketWriter::new(out);
        ogg.write_packet(
            head.to_bytes().to_vec(),
            serial,
            PacketWriteEndInfo::EndPage,
            0,
        )?;
        Ok(OggOpusWriter {
            ogg,
            serial,
            pre_skip: head.pre_skip.into(),
            granule: 0,
            held: Held::Tags(OpusTags::tandem().to_bytes()),
            page_segments: 0,
            page_samples: 0,
            last_page_granule: 0,
            packets: 0,
        })
    }

    /// Appends one Opus packet.
    ///
    /// # Errors
    /// [`FileError::OpusPacket`] if the packet's TOC is malformed (nothing is written);
    /// [`FileError::Io`] (with an empty path) if writing fails.
    pub fn write_packet(&mut self, packet: &[u8]) -> Result<(), FileError> {
        let samples = packet_samples_48k(packet).ok_or(FileError::OpusPacket {
            index: self.packets,
            len: packet.len(),
        })?;
        self.granule += u64::from(samples);
        let next = Held::Audio(packet.to_vec(), self.granule);
        let previous = std::mem::replace(&mut self.held, next);
        self.packets += 1;
        self.emit(previous, packet.len() / 255 + 1)
    }

    /// Writes a held packet, closing the page when it is full or holds a second of audio.
    fn emit(&mut self, held: Held, next_segments: usize) -> Result<(), FileError> {
        match held {
            Held::Tags(tags) => {
                self.ogg
                    .write_packet(tags, self.serial, PacketWriteEndInfo::EndPage, 0)
                    .map_err(io)?;
                self.last_page_granule = 0;
            }
            Held::Audio(packet, granule) => {
                self.page_segments += packet.len() / 255 + 1;
                self.page_samples += u64::from(packet_samples_48k(&packet).unwrap_or(0));
                let end_page =
                    self.page_samples >= PAGE_SAMPLES || self.page_segments + next_segments > 255;
                let info = if end_page {
                    PacketWriteEndInfo::EndPage
                } else {
                    PacketWriteEndInfo::NormalPacket
                };
                self.ogg
                    .write_packet(packet, self.serial, info, granule)
                    .map_err(io)?;
                if end_page {
                    self.last_page_granule = granule;
                    self.page_segments = 0;
                    self.page_samples = 0;
                }
            }
        }
        Ok(())
    }

    /// Ends the stream: writes the last packet on a page flagged end-of-stream whose granule
    /// position is `pre_skip + samples_48k`, so players drop the padding after the real audio
    /// (RFC 7845 §4.4). The value is kept within what the last page can trim.
    ///
    /// Returns the underlying writer.
    ///
    /// # Errors
    /// [`FileError::Io`] (with an empty path) if writing fails.
    pub fn finish(mut self, samples_48k: u64) -> Result<W, FileError> {
        let held = std::mem::replace(&mut self.held, Held::Tags(Vec::new()));
        match held {
            Held::Tags(tags) => {
                self.ogg
                    .write_packet(tags, self.serial, PacketWriteEndInfo::EndStream, 0)
                    .map_err(io)?;
            }
            Held::Audio(packet, granule) => {
                let wanted = self.pre_skip.saturating_add(samples_48k);
                let final_granule = wanted.clamp(self.last_page_granule, granule);
                self.ogg
                    .write_packet(
                        packet,
                        self.serial,
                        PacketWriteEndInfo::EndStream,
                        final_granule,
                    )
                    .map_err(io)?;
            }
        }
        Ok(self.ogg.into_inner())
    }
}

/// A complete Ogg Opus stream holding `packets`, with `samples_48k` of real audio after the
/// pre-skip; see [`OggOpusWriter`].
///
/// # Errors
/// [`FileError::OpusPacket`] if a packet's TOC is malformed.
pub fn to_bytes(
    head: &OpusHead,
    packets: &[Vec<u8>],
    samples_48k: u64,
    serial: u32,
) -> Result<Vec<u8>, FileError> {
    let mut writer = OggOpusWriter::new(Vec::new(), head, serial).map_err(io)?;
    for p in packets {
        writer.write_packet(p)?;
    }
    writer.finish(samples_48k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20 ms CELT-only fullband packet (config 31, code 0) with `n` payload bytes.
    fn packet(n: usize) -> Vec<u8> {
        let mut p = vec![31 << 3];
        p.extend((0..n).map(|i| i as u8));
        p
    }

    #[test]
    fn packet_durations_follow_the_toc() {
        assert_eq!(packet_samples_48k(&[31 << 3]), Some(960));
        assert_eq!(
            packet_samples_48k(&[(16 << 3) | 1]),
            Some(240),
            "2 × 2.5 ms"
        );
        assert_eq!(packet_samples_48k(&[3 << 3]), Some(2880), "SILK 60 ms");
        assert_eq!(
            packet_samples_48k(&[(3 << 3) | 2, 0]),
            Some(5760),
            "2 × 60 ms"
        );
        assert_eq!(
            packet_samples_48k(&[(31 << 3) | 3, 6]),
            Some(5760),
            "6 × 20 ms"
        );
        assert_eq!(packet_samples_48k(&[(31 << 3) | 3, 7]), None, "140 ms");
        assert_eq!(packet_samples_48k(&[(31 << 3) | 3, 0]), None, "zero frames");
        assert_eq!(packet_samples_48k(&[(31 << 3) | 3]), None, "no count byte");
        assert_eq!(packet_samples_48k(&[]), None);
    }

    #[test]
    fn head_round_trips_and_rejects_what_it_cannot_read() {
        let head = OpusHead::new(1, 312, 8000);
        let bytes = head.to_bytes();
        assert_eq!(OpusHead::parse(&bytes).unwrap(), head);
        let mut family1 = bytes;
        family1[18] = 1;
        assert!(matches!(
            OpusHead::parse(&family1),
            Err(FileError::OpusHead {
                what: "channel mapping family",
                value: 1
            })
        ));
        let mut v16 = bytes;
        v16[8] = 16;
        assert!(matches!(
            OpusHead::parse(&v16),
            Err(FileError::OpusHead {
                what: "version",
                ..
            })
        ));
        assert!(OpusHead::parse(&bytes[..18]).is_err());
    }

    #[test]
    fn tags_round_trip_and_lying_lengths_fail() {
        let tags = OpusTags {
            vendor: "x".into(),
            comments: vec!["A=b".into(), String::new()],
        };
        assert_eq!(OpusTags::parse(&tags.to_bytes()).unwrap(), tags);
        let mut lying = OpusTags::tandem().to_bytes();
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(OpusTags::parse(&lying).is_err());
    }

    #[test]
    fn stream_round_trips_with_pre_skip_and_end_trimming() {
        let head = OpusHead::new(1, 312, 16000);
        let packets: Vec<Vec<u8>> = (0..120).map(|i| packet(i % 300)).collect();
        // 120 packets of 960 samples; claim 200 fewer samples of real audio.
        let real = 120 * 960 - 312 - 200;
        let bytes = to_bytes(&head, &packets, real, 7).unwrap();
        let stream = parse(&bytes).unwrap();
        assert_eq!(stream.head, head);
        assert_eq!(stream.tags, OpusTags::tandem());
        assert_eq!(stream.packets, packets);
        assert!(stream.complete);
        assert_eq!(stream.final_granule, 312 + real);
        assert_eq!(stream.playable_samples_48k(), real);
    }

    #[test]
    fn pages_close_every_second_and_the_last_carries_end_of_stream() {
        let head = OpusHead::new(1, 0, 48000);
        let packets: Vec<Vec<u8>> = (0..120).map(|_| packet(10)).collect();
        let bytes = to_bytes(&head, &packets, 120 * 960, 1).unwrap();
        let mut offsets = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            assert_eq!(&bytes[at..at + 4], b"OggS");
            let segments = usize::from(bytes[at + 26]);
            let body: usize = bytes[at + 27..at + 27 + segments]
                .iter()
                .map(|&s| usize::from(s))
                .sum();
            offsets.push(at);
            at += 27 + segments + body;
        }
        // Head, tags, then 50 + 50 + 20 packets.
        assert_eq!(offsets.len(), 5);
        let granule = |o: usize| u64::from_le_bytes(bytes[o + 6..o + 14].try_into().unwrap());
        assert_eq!(granule(offsets[0]), 0);
        assert_eq!(granule(offsets[1]), 0);
        assert_eq!(granule(offsets[2]), 50 * 960);
        assert_eq!(granule(offsets[4]), 120 * 960);
        assert_eq!(bytes[offsets[4] + 5], FLAG_EOS);
        assert_eq!(bytes[offsets[0] + 5], FLAG_BOS);
    }

    #[test]
    fn an_empty_stream_ends_on_the_comment_header() {
        let bytes = to_bytes(&OpusHead::new(1, 312, 8000), &[], 0, 1).unwrap();
        let stream = parse(&bytes).unwrap();
        assert!(stream.packets.is_empty());
        assert!(stream.complete);
        assert_eq!(stream.playable_samples_48k(), 0);
    }

    fn sample_stream() -> Vec<u8> {
        let packets: Vec<Vec<u8>> = (0..60).map(|i| packet(i * 7 % 500)).collect();
        to_bytes(&OpusHead::new(1, 312, 8000), &packets, 60 * 960 - 400, 3).unwrap()
    }

    #[test]
    fn a_flipped_bit_is_a_crc_error_naming_the_page() {
        let mut bytes = sample_stream();
        let third_page = 47 + 27 + 1 + OpusTags::tandem().to_bytes().len();
        let n = bytes.len();
        bytes[n - 3] ^= 0x10;
        let err = parse(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::OggPage {
                    page: 3,
                    fault: OggFault::Crc { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        let mut bytes = sample_stream();
        bytes[third_page] = b'X';
        let err = parse(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::OggPage {
                    page: 2,
                    fault: OggFault::CapturePattern,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn truncation_inside_a_page_is_an_error_and_at_a_boundary_is_not() {
        let bytes = sample_stream();
        let err = parse(&bytes[..bytes.len() - 10]).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::OggPage {
                    fault: OggFault::Truncated { .. },
                    ..
                }
            ),
            "{err:?}"
        );
        // Cut after the page that holds the first 50 packets: no EOS, no end trimming.
        let first_audio = 47 + 27 + 1 + OpusTags::tandem().to_bytes().len();
        let segments = usize::from(bytes[first_audio + 26]);
        let body: usize = bytes[first_audio + 27..first_audio + 27 + segments]
            .iter()
            .map(|&s| usize::from(s))
            .sum();
        let cut = first_audio + 27 + segments + body;
        let stream = parse(&bytes[..cut]).unwrap();
        assert!(!stream.complete);
        assert_eq!(stream.packets.len(), 50);
        assert_eq!(stream.playable_samples_48k(), 50 * 960 - 312);
    }

    #[test]
    fn a_missing_page_is_a_sequence_error() {
        let head = OpusHead::new(1, 0, 48000);
        let packets: Vec<Vec<u8>> = (0..120).map(|_| packet(10)).collect();
        let bytes = to_bytes(&head, &packets, 120 * 960, 1).unwrap();
        let tags_end = 47 + 27 + 1 + OpusTags::tandem().to_bytes().len();
        let page_len = 27 + 50 + 50 * 11;
        let mut cut = bytes[..tags_end].to_vec();
        cut.extend_from_slice(&bytes[tags_end + page_len..]);
        let err = parse(&cut).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::OggPage {
                    page: 2,
                    fault: OggFault::Sequence {
                        previous: 1,
                        found: 3
                    },
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn non_ogg_and_chained_input_is_refused() {
        assert!(matches!(
            parse(b"RIFF....WAVE"),
            Err(FileError::OggPage {
                page: 0,
                offset: 0,
                fault: OggFault::CapturePattern
            })
        ));
        assert!(matches!(
            parse(b""),
            Err(FileError::OggOpus {
                what: "no identification header",
                ..
            })
        ));
        let mut chained = sample_stream();
        chained.extend_from_slice(&sample_stream());
        assert!(matches!(
            parse(&chained),
            Err(FileError::OggOpus { section: "§3", .. })
        ));
        let mut trailing = sample_stream();
        trailing.extend_from_slice(b"junk");
        assert!(parse(&trailing).is_ok());
    }
}
