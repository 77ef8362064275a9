//! Classic libpcap files: a writer, a [`Capture`] wrapper that records every packet of any
//! backend, a zero-copy reader, and a [`PcapReplay`] backend that plays a capture back.
//!
//! # Format
//!
//! The classic libpcap format (<https://www.tcpdump.org/manpages/pcap-savefile.5.html>,
//! draft-ietf-opsawg-pcap): a 24-byte file header (magic `0xa1b2c3d4`, version 2.4, snap
//! length, link type) and per packet a 16-byte record header (seconds, microseconds,
//! captured and original length) followed by the frame. The writer emits little-endian,
//! microsecond files with link type 1 (Ethernet): each datagram becomes an Ethernet II frame
//! with zero MAC addresses (as Linux captures on `lo` show), an IPv4 header (DF set, TTL 64,
//! header checksum) or an IPv6 header (hop limit 64), and a UDP header with its checksum.
//! tshark and Wireshark open the files and decode RTP with `-d udp.port==N,rtp` or
//! `-o rtp.heuristic_rtp:TRUE`. Timestamps are [`Timestamp`]s read as time since the UNIX
//! epoch.
//!
//! The reader accepts both byte orders, microsecond and nanosecond magics, and the link
//! types Linux and BSD tools write for IP traffic: Ethernet (with up to two VLAN tags),
//! NULL / LOOP, raw IP (101, 228, 229), Linux cooked v1 (113) and v2 (276). It never panics
//! and never reads out of bounds on any input (property test and fuzz target `pcap_read`).
//!
//! # Buffering (the trade-off)
//!
//! [`PcapWriter`] appends frames to a buffer allocated at construction and writes it to its
//! sink in one `write_all` when a batch leaves the buffer at least half full (and when it is
//! full, on drop, or on [`PcapWriter::flush`]). So a capturing worker makes one extra
//! syscall per half buffer (512 KiB by default: about 2,300 frames of G.711 RTP), not per packet.
//! The price: that syscall runs on the worker thread and can stall it if the disk is slow,
//! and up to a buffer of packets is lost if the process dies. A capture for production
//! should pass a sink that hands the bytes to another thread (any `Write`), which this
//! design allows without change. A failed write stops the capture (later frames are counted
//! as dropped) and never fails the media path.
//!
//! # Real-time
//!
//! [`Capture`]'s `recv_batch` / `send_batch` allocate nothing (frames are encoded into the
//! preallocated buffer); [`PcapReplay`] copies preindexed payloads into the caller's
//! buffers. Opening a writer, a capture file or a replay file allocates.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use crate::error::{ConfigError, FrameError, IoError, PcapError, PortError};
use crate::packet::{
    IoStats, MAX_BATCH, PACKET_BUF_BYTES, PacketBuf, PacketIo, PortAllocator, PortPair, PortRange,
    RecvMeta, SocketId, Timestamp, Transmit, canonical,
};

/// Magic of little-endian... files with microsecond timestamps (as read little-endian).
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic of files with nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Bytes of the file header.
pub const FILE_HEADER_BYTES: usize = 24;
/// Bytes of a record header.
pub const RECORD_HEADER_BYTES: usize = 16;
/// Snap length written in the file header (tcpdump's default).
pub const SNAP_LEN: u32 = 262_144;
/// Largest record the reader accepts.
pub const MAX_RECORD_BYTES: usize = SNAP_LEN as usize;

/// `LINKTYPE_NULL`: 4-byte address family in the capturing host's byte order.
pub const LINKTYPE_NULL: u32 = 0;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW`: IPv4 or IPv6, no link header.
pub const LINKTYPE_RAW: u32 = 101;
/// `LINKTYPE_LOOP`: 4-byte address family, network byte order.
pub const LINKTYPE_LOOP: u32 = 108;
/// `LINKTYPE_LINUX_SLL`: Linux cooked capture v1.
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// `LINKTYPE_IPV4`.
pub const LINKTYPE_IPV4: u32 = 228;
/// `LINKTYPE_IPV6`.
pub const LINKTYPE_IPV6: u32 = 229;
/// `LINKTYPE_LINUX_SLL2`: Linux cooked capture v2.
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

const ETHERNET_HEADER_BYTES: usize = 14;
const IPV4_HEADER_BYTES: usize = 20;
const IPV6_HEADER_BYTES: usize = 40;
const UDP_HEADER_BYTES: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IP_PROTOCOL_UDP: u8 = 17;
/// Largest UDP payload a frame can carry (65535 − 8 − 20).
const MAX_UDP_PAYLOAD: usize = 65_507;

/// Default buffer of a [`PcapWriter`].
pub const DEFAULT_BUFFER_BYTES: usize = 1 << 20;
/// Smallest buffer a [`PcapWriter`] accepts: two frames of a full [`PacketBuf`].
pub const MIN_BUFFER_BYTES: usize = 2
    * (RECORD_HEADER_BYTES
        + ETHERNET_HEADER_BYTES
        + IPV6_HEADER_BYTES
        + UDP_HEADER_BYTES
        + PACKET_BUF_BYTES);

/// Counters of a [`PcapWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureStats {
    /// Frames written to the buffer.
    pub frames: u64,
    /// Frames not captured (a write failed earlier, or the frame exceeds the buffer).
    pub dropped: u64,
    /// Writes to the sink.
    pub flushes: u64,
}

/// Writes UDP datagrams as Ethernet frames into a libpcap file, buffered; see the
/// [module docs](self).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    sink: W,
    buf: Vec<u8>,
    ip_id: u16,
    stats: CaptureStats,
    failed: Option<ErrorKind>,
}

impl<W: Write> PcapWriter<W> {
    /// A writer with a buffer of `buffer_bytes`, holding the file header. Allocates the
    /// buffer; writes nothing yet.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Capacity`] below [`MIN_BUFFER_BYTES`].
    pub fn new(sink: W, buffer_bytes: usize) -> Result<Self, ConfigError> {
        if buffer_bytes < MIN_BUFFER_BYTES {
            return Err(ConfigError::Capacity {
                name: "buffer_bytes",
                value: buffer_bytes,
                min: MIN_BUFFER_BYTES,
            });
        }
        let mut buf = Vec::with_capacity(buffer_bytes);
        buf.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
        buf.extend_from_slice(&2u16.to_le_bytes());
        buf.extend_from_slice(&4u16.to_le_bytes());
        buf.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        buf.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        buf.extend_from_slice(&SNAP_LEN.to_le_bytes());
        buf.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        Ok(Self {
            sink,
            buf,
            ip_id: 0,
            stats: CaptureStats::default(),
            failed: None,
        })
    }

    /// Appends one datagram from `source` to `destination`. Writes the buffer to the sink
    /// first when the frame does not fit. Returns whether the frame was captured. Does not
    /// allocate.
    pub fn write_udp(
        &mut self,
        timestamp: Timestamp,
        source: SocketAddr,
        destination: SocketAddr,
        payload: &[u8],
    ) -> bool {
        let payload = &payload[..payload.len().min(MAX_UDP_PAYLOAD)];
        let (src, dst) = frame_addresses(source.ip(), destination.ip());
        let ip_bytes = if src.is_ipv4() {
            IPV4_HEADER_BYTES
        } else {
            IPV6_HEADER_BYTES
        };
        let frame = ETHERNET_HEADER_BYTES + ip_bytes + UDP_HEADER_BYTES + payload.len();
        let need = RECORD_HEADER_BYTES + frame;
        if self.failed.is_some() || need > self.buf.capacity() {
            self.stats.dropped += 1;
            return false;
        }
        if self.buf.capacity() - self.buf.len() < need && self.write_out().is_err() {
            self.stats.dropped += 1;
            return false;
        }
        let nanos = timestamp.as_nanos();
        let secs = u32::try_from(nanos / 1_000_000_000).unwrap_or(u32::MAX);
        let micros = ((nanos % 1_000_000_000) / 1_000) as u32;
        let b = &mut self.buf;
        b.extend_from_slice(&secs.to_le_bytes());
        b.extend_from_slice(&micros.to_le_bytes());
        b.extend_from_slice(&(frame as u32).to_le_bytes());
        b.extend_from_slice(&(frame as u32).to_le_bytes());
        b.extend_from_slice(&[0; 12]); // destination and source MAC
        let udp_len = (UDP_HEADER_BYTES + payload.len()) as u16;
        let (sport, dport) = (source.port(), destination.port());
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                b.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
                let mut ip = [0u8; IPV4_HEADER_BYTES];
                ip[0] = 0x45;
                ip[2..4].copy_from_slice(&(udp_len + IPV4_HEADER_BYTES as u16).to_be_bytes());
                ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
                ip[6] = 0x40; // don't fragment
                ip[8] = 64;
                ip[9] = IP_PROTOCOL_UDP;
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let sum = !fold(sum_words(0, &ip));
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
                b.extend_from_slice(&ip);
                let mut pseudo = sum_words(0, &s.octets());
                pseudo = sum_words(pseudo, &d.octets());
                pseudo += u32::from(IP_PROTOCOL_UDP) + u32::from(udp_len);
                push_udp(b, pseudo, sport, dport, payload);
            }
            (s, d) => {
                let (s, d) = (v6_of(s), v6_of(d));
                b.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
                let mut ip = [0u8; IPV6_HEADER_BYTES];
                ip[0] = 0x60;
                ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
                ip[6] = IP_PROTOCOL_UDP;
                ip[7] = 64;
                ip[8..24].copy_from_slice(&s.octets());
                ip[24..40].copy_from_slice(&d.octets());
                b.extend_from_slice(&ip);
                let mut pseudo = sum_words(0, &s.octets());
                pseudo = sum_words(pseudo, &d.octets());
                pseudo += u32::from(IP_PROTOCOL_UDP) + u32::from(udp_len);
                push_udp(b, pseudo, sport, dport, payload);
            }
        }
        self.ip_id = self.ip_id.wrapping_add(1);
        self.stats.frames += 1;
        true
    }

    /// Writes the buffer out when it is at least half full: call once per batch.
    pub fn flush_if_due(&mut self) {
        if self.buf.len() >= self.buf.capacity() / 2 {
            // A failure is remembered and reported by `flush`; the media path goes on.
            let _ = self.write_out();
        }
    }

    /// Writes everything buffered to the sink and flushes it.
    ///
    /// # Errors
    ///
    /// [`PcapError::Io`] when this or an earlier write failed (the capture has stopped).
    pub fn flush(&mut self) -> Result<(), PcapError> {
        self.write_out()?;
        self.sink.flush().map_err(|e| self.fail(e.kind()))
    }

    /// Counters.
    pub const fn stats(&self) -> CaptureStats {
        self.stats
    }

    /// The sink (flush first to see every frame in it).
    pub const fn sink(&self) -> &W {
        &self.sink
    }

    fn write_out(&mut self) -> Result<(), PcapError> {
        if let Some(kind) = self.failed {
            return Err(PcapError::Io { kind });
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        self.stats.flushes += 1;
        let result = self.sink.write_all(&self.buf);
        self.buf.clear();
        result.map_err(|e| self.fail(e.kind()))
    }

    fn fail(&mut self, kind: ErrorKind) -> PcapError {
        self.failed = Some(kind);
        PcapError::Io { kind }
    }
}

impl<W: Write> Drop for PcapWriter<W> {
    fn drop(&mut self) {
        // Best effort: `flush` is the way to learn about errors.
        let _ = self.flush();
    }
}

/// Both addresses of a frame in one family: IPv4 when both are (or map to) IPv4, or one is
/// IPv4 and the other the unspecified address of a dual-stack socket; IPv6 otherwise.
fn frame_addresses(source: IpAddr, destination: IpAddr) -> (IpAddr, IpAddr) {
    let s = canonical(SocketAddr::new(source, 0)).ip();
    let d = canonical(SocketAddr::new(destination, 0)).ip();
    let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    match (s, d) {
        (IpAddr::V4(_), IpAddr::V6(v6)) if v6.is_unspecified() => (s, any4),
        (IpAddr::V6(v6), IpAddr::V4(_)) if v6.is_unspecified() => (any4, d),
        _ => (s, d),
    }
}

fn v6_of(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn push_udp(b: &mut Vec<u8>, pseudo: u32, sport: u16, dport: u16, payload: &[u8]) {
    let udp_len = (UDP_HEADER_BYTES + payload.len()) as u16;
    let mut header = [0u8; UDP_HEADER_BYTES];
    header[0..2].copy_from_slice(&sport.to_be_bytes());
    header[2..4].copy_from_slice(&dport.to_be_bytes());
    header[4..6].copy_from_slice(&udp_len.to_be_bytes());
    let sum = sum_words(sum_words(pseudo, &header), payload);
    // RFC 768: a computed zero is sent as all ones.
    let checksum = match !fold(sum) {
        0 => 0xffff,
        c => c,
    };
    header[6..8].copy_from_slice(&checksum.to_be_bytes());
    b.extend_from_slice(&header);
    b.extend_from_slice(payload);
}

/// RFC 1071 sum of big-endian 16-bit words (odd tail padded with zero), not yet folded.
fn sum_words(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum = fold_once(sum + u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        sum = fold_once(sum + (u32::from(*last) << 8));
    }
    sum
}

const fn fold_once(sum: u32) -> u32 {
    (sum & 0xffff) + (sum >> 16)
}

const fn fold(sum: u32) -> u16 {
    let s = fold_once(fold_once(sum));
    s as u16
}

/// One record of a capture file, borrowed from the file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapRecord<'a> {
    /// Capture time (since the UNIX epoch).
    pub timestamp: Timestamp,
    /// Length of the packet on the wire (may exceed `data.len()` when cut by the snap
    /// length).
    pub original_len: u32,
    /// The captured frame.
    pub data: &'a [u8],
}

/// Reads the records of a classic libpcap file held in memory; see the
/// [module docs](self). Iteration stops after the first error.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    big_endian: bool,
    nanos: bool,
    link_type: u32,
    done: bool,
}

impl<'a> PcapReader<'a> {
    /// Checks the file header.
    ///
    /// # Errors
    ///
    /// [`PcapError::Truncated`], [`PcapError::Magic`] or [`PcapError::Version`].
    pub fn new(bytes: &'a [u8]) -> Result<Self, PcapError> {
        let Some(header) = bytes.get(..FILE_HEADER_BYTES) else {
            return Err(PcapError::Truncated {
                offset: 0,
                needed: FILE_HEADER_BYTES - bytes.len(),
            });
        };
        let magic = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let (big_endian, nanos) = match magic {
            MAGIC_MICROS => (false, false),
            MAGIC_NANOS => (false, true),
            m if m == MAGIC_MICROS.swap_bytes() => (true, false),
            m if m == MAGIC_NANOS.swap_bytes() => (true, true),
            magic => return Err(PcapError::Magic { magic }),
        };
        let mut reader = Self {
            bytes,
            pos: FILE_HEADER_BYTES,
            big_endian,
            nanos,
            link_type: 0,
            done: false,
        };
        let major = reader.u16_at(header, 4);
        let minor = reader.u16_at(header, 6);
        if major != 2 {
            return Err(PcapError::Version { major, minor });
        }
        // The upper bits may carry FCS information (draft-ietf-opsawg-pcap §4).
        reader.link_type = reader.u32_at(header, 20) & 0xffff;
        Ok(reader)
    }

    /// The file's link type (`LINKTYPE_*`).
    pub const fn link_type(&self) -> u32 {
        self.link_type
    }

    /// Whether timestamps have nanosecond resolution.
    pub const fn nanosecond_timestamps(&self) -> bool {
        self.nanos
    }

    /// Byte offset of the next record.
    pub const fn position(&self) -> usize {
        self.pos
    }

    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    fn read_record(&mut self) -> Result<PcapRecord<'a>, PcapError> {
        let offset = self.pos;
        let rest = &self.bytes[offset..];
        let Some(header) = rest.get(..RECORD_HEADER_BYTES) else {
            return Err(PcapError::Truncated {
                offset,
                needed: RECORD_HEADER_BYTES - rest.len(),
            });
        };
        let secs = u64::from(self.u32_at(header, 0));
        let frac = u64::from(self.u32_at(header, 4));
        let captured = self.u32_at(header, 8);
        let original_len = self.u32_at(header, 12);
        let len = captured as usize;
        if len > MAX_RECORD_BYTES {
            return Err(PcapError::RecordLength {
                offset,
                len: captured,
            });
        }
        let Some(data) = rest.get(RECORD_HEADER_BYTES..RECORD_HEADER_BYTES + len) else {
            return Err(PcapError::Truncated {
                offset,
                needed: RECORD_HEADER_BYTES + len - rest.len(),
            });
        };
        let frac_nanos = if self.nanos { frac } else { frac * 1_000 };
        self.pos += RECORD_HEADER_BYTES + len;
        Ok(PcapRecord {
            timestamp: Timestamp::from_nanos(secs * 1_000_000_000 + frac_nanos),
            original_len,
            data,
        })
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<PcapRecord<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.bytes.len() {
            return None;
        }
        let record = self.read_record();
        self.done = record.is_err();
        Some(record)
    }
}

/// A UDP datagram decoded from a frame, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpDatagram<'a> {
    /// Source address and port.
    pub source: SocketAddr,
    /// Destination address and port.
    pub destination: SocketAddr,
    /// The UDP payload.
    pub payload: &'a [u8],
}

enum Network {
    V4,
    V6,
    /// Raw IP: the version nibble says which.
    Either,
}

/// Decodes the UDP datagram carried by one frame of a file of `link_type`. Checksums are
/// not verified (captures on the sending host often hold offloaded, unfinished ones).
///
/// # Errors
///
/// A [`FrameError`] when the frame does not hold a whole, unfragmented UDP datagram.
pub fn decode_udp(link_type: u32, frame: &[u8]) -> Result<UdpDatagram<'_>, FrameError> {
    let truncated = FrameError::Truncated { len: frame.len() };
    let be16 = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or(truncated)
    };
    let by_ethertype = |ethertype: u16| match ethertype {
        ETHERTYPE_IPV4 => Ok(Network::V4),
        ETHERTYPE_IPV6 => Ok(Network::V6),
        other => Err(FrameError::NotIp {
            protocol: other.into(),
        }),
    };
    let (network, offset) = match link_type {
        LINKTYPE_ETHERNET => {
            let mut offset = 12;
            let mut ethertype = be16(offset)?;
            // 802.1Q and 802.1ad tags, at most two (QinQ).
            for _ in 0..2 {
                if ethertype != 0x8100 && ethertype != 0x88a8 {
                    break;
                }
                offset += 4;
                ethertype = be16(offset)?;
            }
            (by_ethertype(ethertype)?, offset + 2)
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            let b = frame.get(..4).ok_or(truncated)?;
            let bytes = [b[0], b[1], b[2], b[3]];
            let family = if link_type == LINKTYPE_LOOP {
                u32::from_be_bytes(bytes)
            } else {
                // Host byte order of the capturing machine: accept either.
                match u32::from_le_bytes(bytes) {
                    f if f < 0x100 => f,
                    _ => u32::from_be_bytes(bytes),
                }
            };
            let network = match family {
                2 => Network::V4,
                // AF_INET6 on Linux, FreeBSD/macOS, OpenBSD/NetBSD and others.
                10 | 24 | 28 | 30 => Network::V6,
                other => return Err(FrameError::NotIp { protocol: other }),
            };
            (network, 4)
        }
        LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => (Network::Either, 0),
        LINKTYPE_LINUX_SLL => (by_ethertype(be16(14)?)?, 16),
        LINKTYPE_LINUX_SLL2 => (by_ethertype(be16(0)?)?, 20),
        other => return Err(FrameError::LinkType { link_type: other }),
    };
    let ip = frame.get(offset..).ok_or(truncated)?;
    let version = ip.first().ok_or(truncated)? >> 4;
    match (network, version) {
        (Network::V4 | Network::Either, 4) => decode_ipv4(ip, truncated),
        (Network::V6 | Network::Either, 6) => decode_ipv6(ip, truncated),
        (_, version) => Err(FrameError::NotIp {
            protocol: version.into(),
        }),
    }
}

fn decode_ipv4(ip: &[u8], truncated: FrameError) -> Result<UdpDatagram<'_>, FrameError> {
    let header = ip.get(..IPV4_HEADER_BYTES).ok_or(truncated)?;
    let ihl = usize::from(header[0] & 0x0f) * 4;
    if ihl < IPV4_HEADER_BYTES {
        return Err(FrameError::Length {
            field: "IPv4 header",
        });
    }
    let total = usize::from(u16::from_be_bytes([header[2], header[3]]));
    if total < ihl {
        return Err(FrameError::Length {
            field: "IPv4 total",
        });
    }
    // More-fragments flag or a fragment offset.
    if u16::from_be_bytes([header[6], header[7]]) & 0x3fff != 0 {
        return Err(FrameError::Fragment);
    }
    if header[9] != IP_PROTOCOL_UDP {
        return Err(FrameError::NotUdp {
            protocol: header[9],
        });
    }
    let source = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
    let destination = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    // Ethernet may pad short frames: the total length bounds the packet.
    let udp = ip.get(ihl..total).ok_or(truncated)?;
    decode_udp_header(udp, source.into(), destination.into(), truncated)
}

fn decode_ipv6(ip: &[u8], truncated: FrameError) -> Result<UdpDatagram<'_>, FrameError> {
    let header = ip.get(..IPV6_HEADER_BYTES).ok_or(truncated)?;
    let payload_len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let end = IPV6_HEADER_BYTES + payload_len;
    let packet = ip.get(..end).ok_or(truncated)?;
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&header[8..24]);
    let source = Ipv6Addr::from(octets);
    octets.copy_from_slice(&header[24..40]);
    let destination = Ipv6Addr::from(octets);
    let mut next = header[6];
    let mut offset = IPV6_HEADER_BYTES;
    // Hop-by-hop, routing and destination options may precede UDP (RFC 8200 §4.1); a
    // bounded walk.
    for _ in 0..8 {
        match next {
            IP_PROTOCOL_UDP => {
                let udp = packet.get(offset..).ok_or(truncated)?;
                return decode_udp_header(udp, source.into(), destination.into(), truncated);
            }
            0 | 43 | 60 => {
                let ext = packet.get(offset..offset + 2).ok_or(truncated)?;
                next = ext[0];
                offset += (usize::from(ext[1]) + 1) * 8;
            }
            44 => return Err(FrameError::Fragment),
            protocol => return Err(FrameError::NotUdp { protocol }),
        }
    }
    Err(FrameError::NotUdp { protocol: next })
}

fn decode_udp_header(
    udp: &[u8],
    source: IpAddr,
    destination: IpAddr,
    truncated: FrameError,
) -> Result<UdpDatagram<'_>, FrameError> {
    let header = udp.get(..UDP_HEADER_BYTES).ok_or(truncated)?;
    let len = usize::from(u16::from_be_bytes([header[4], header[5]]));
    if len < UDP_HEADER_BYTES || len > udp.len() {
        return Err(FrameError::Length { field: "UDP" });
    }
    Ok(UdpDatagram {
        source: SocketAddr::new(source, u16::from_be_bytes([header[0], header[1]])),
        destination: SocketAddr::new(destination, u16::from_be_bytes([header[2], header[3]])),
        payload: &udp[UDP_HEADER_BYTES..len],
    })
}

/// Records every packet a backend receives or sends into a libpcap file; see the
/// [module docs](self).
///
/// Received packets are stamped with their [`RecvMeta::timestamp`] when the backend knows
/// it (so pass a `now` in the same epoch, since the UNIX epoch, when kernel timestamps are
/// on) and with `now` otherwise; sent packets with `now`. Sent packets are recorded as the
/// worker handed them over, before the backend could drop any (compare with
/// [`PacketIo::stats`]); packets for unknown sockets are not recorded.
#[derive(Debug)]
pub struct Capture<B, W: Write> {
    inner: B,
    writer: PcapWriter<W>,
}

impl<B: PacketIo> Capture<B, File> {
    /// Captures into a new file at `path` with a [`DEFAULT_BUFFER_BYTES`] buffer.
    ///
    /// # Errors
    ///
    /// [`PcapError::Io`] when the file cannot be created.
    pub fn create(inner: B, path: impl AsRef<Path>) -> Result<Self, PcapError> {
        let file = File::create(path)?;
        let writer = PcapWriter::new(file, DEFAULT_BUFFER_BYTES).map_err(|_| PcapError::Io {
            kind: ErrorKind::InvalidInput,
        })?;
        Ok(Self::new(inner, writer))
    }
}

impl<B: PacketIo, W: Write> Capture<B, W> {
    /// Captures `inner`'s packets with `writer`.
    pub const fn new(inner: B, writer: PcapWriter<W>) -> Self {
        Self { inner, writer }
    }

    /// The wrapped backend.
    pub const fn inner(&self) -> &B {
        &self.inner
    }

    /// The wrapped backend.
    pub const fn inner_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// The writer (counters, sink).
    pub const fn writer(&self) -> &PcapWriter<W> {
        &self.writer
    }

    /// Writes everything captured so far to the sink.
    ///
    /// # Errors
    ///
    /// [`PcapError::Io`] when this or an earlier write failed.
    pub fn flush(&mut self) -> Result<(), PcapError> {
        self.writer.flush()
    }
}

impl<B: PacketIo, W: Write> PacketIo for Capture<B, W> {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        self.inner.open_pair()
    }

    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        self.inner.close_pair(pair)
    }

    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        self.inner.local_addr(socket)
    }

    fn socket_id_max(&self) -> usize {
        self.inner.socket_id_max()
    }

    fn recv_batch(
        &mut self,
        now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        let n = self.inner.recv_batch(now, bufs, meta)?;
        for (buf, m) in bufs.iter().zip(meta.iter()).take(n) {
            self.writer.write_udp(
                m.timestamp.unwrap_or(now),
                m.source,
                m.destination,
                buf.payload(m.len),
            );
        }
        self.writer.flush_if_due();
        Ok(n)
    }

    fn send_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        for p in packets {
            if let Some(source) = self.inner.local_addr(p.socket) {
                self.writer.write_udp(now, source, p.destination, p.payload);
            }
        }
        let sent = self.inner.send_batch(now, packets);
        self.writer.flush_if_due();
        sent
    }

    fn stats(&self) -> IoStats {
        self.inner.stats()
    }
}

/// When [`PcapReplay`] releases packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Every packet as soon as there is room in the caller's arrays.
    Burst,
    /// Each packet once `now` has advanced, since the first `recv_batch`, as far as its
    /// timestamp has since the first packet of the file.
    Recorded,
}

/// Configuration of a [`PcapReplay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayConfig {
    /// Ports the replay backend lends out with `open_pair`; packets are delivered to their
    /// recorded destination port when that port is open.
    pub ports: PortRange,
    /// When packets are released.
    pub pacing: Pacing,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    timestamp: Timestamp,
    source: SocketAddr,
    destination: SocketAddr,
    start: usize,
    len: usize,
}

/// A backend that yields the UDP datagrams of a capture file, in file order, with their
/// recorded addresses and timestamps; see the [module docs](self).
///
/// Datagrams whose destination port is not open here are dropped and counted in
/// [`IoStats::rx_dropped`], as the kernel would drop them; frames that are not whole UDP
/// datagrams are skipped at load time ([`skipped_frames`](Self::skipped_frames)). A
/// truncated last record (a capture cut short) ends the replay early and is reported by
/// [`tail_error`](Self::tail_error). Sent packets are counted and discarded.
#[derive(Debug)]
pub struct PcapReplay {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    next: usize,
    ports: PortAllocator,
    pacing: Pacing,
    epoch: Option<(Timestamp, Timestamp)>,
    skipped: u64,
    tail_error: Option<PcapError>,
    stats: IoStats,
}

impl PcapReplay {
    /// Reads and indexes the file at `path`. Allocates.
    ///
    /// # Errors
    ///
    /// [`PcapError::Io`] when it cannot be read; header errors as [`PcapReplay::from_bytes`].
    pub fn open(path: impl AsRef<Path>, config: ReplayConfig) -> Result<Self, PcapError> {
        Self::from_bytes(std::fs::read(path)?, config)
    }

    /// Indexes a capture held in memory. Allocates.
    ///
    /// # Errors
    ///
    /// The file header's errors ([`PcapReader::new`]).
    pub fn from_bytes(bytes: Vec<u8>, config: ReplayConfig) -> Result<Self, PcapError> {
        let reader = PcapReader::new(&bytes)?;
        let link_type = reader.link_type();
        let mut entries = Vec::new();
        let mut skipped = 0;
        let mut tail_error = None;
        for record in reader {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    tail_error = Some(e);
                    break;
                }
            };
            match decode_udp(link_type, record.data) {
                Ok(d) => entries.push(Entry {
                    timestamp: record.timestamp,
                    source: d.source,
                    destination: d.destination,
                    start: d.payload.as_ptr() as usize - bytes.as_ptr() as usize,
                    len: d.payload.len(),
                }),
                Err(_) => skipped += 1,
            }
        }
        Ok(Self {
            bytes,
            entries,
            next: 0,
            ports: PortAllocator::new(config.ports),
            pacing: config.pacing,
            epoch: None,
            skipped,
            tail_error,
            stats: IoStats::default(),
        })
    }

    /// UDP datagrams in the file.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file holds no UDP datagram.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Datagrams not yet replayed.
    pub fn remaining(&self) -> usize {
        self.entries.len() - self.next
    }

    /// Frames that were not whole UDP datagrams.
    pub const fn skipped_frames(&self) -> u64 {
        self.skipped
    }

    /// The error that ended the file early, if any.
    pub const fn tail_error(&self) -> Option<PcapError> {
        self.tail_error
    }
}

impl PacketIo for PcapReplay {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        let range = self.ports.range();
        let exhausted = PortError::Exhausted {
            min: range.min(),
            max: range.max(),
        };
        let rtp_port = self.ports.allocate().ok_or(exhausted)?;
        match (range.socket_id(rtp_port), range.socket_id(rtp_port + 1)) {
            (Some(rtp), Some(rtcp)) => Ok(PortPair {
                rtp,
                rtcp,
                rtp_port,
            }),
            _ => Err(exhausted),
        }
    }

    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        if self.ports.range().socket_id(pair.rtp_port) != Some(pair.rtp)
            || !self.ports.release(pair.rtp_port)
        {
            return Err(PortError::NotOpen {
                port: pair.rtp_port,
            });
        }
        Ok(())
    }

    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        let port = self.ports.range().port(socket)?;
        self.ports
            .is_open(port)
            .then_some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
    }

    fn socket_id_max(&self) -> usize {
        self.ports.range().ports()
    }

    fn recv_batch(
        &mut self,
        now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        let cap = bufs.len().min(meta.len());
        let Some(first) = self.entries.get(self.next) else {
            return Ok(0);
        };
        let (start_now, start_ts) = *self.epoch.get_or_insert((now, first.timestamp));
        let elapsed = now.saturating_duration_since(start_now);
        let range = self.ports.range();
        let mut filled = 0;
        // Bounded: delivered datagrams plus at most MAX_BATCH dropped ones per call.
        let mut budget = cap + MAX_BATCH;
        while filled < cap && budget > 0 {
            let Some(entry) = self.entries.get(self.next) else {
                break;
            };
            if self.pacing == Pacing::Recorded
                && entry.timestamp.saturating_duration_since(start_ts) > elapsed
            {
                break;
            }
            budget -= 1;
            self.next += 1;
            let port = entry.destination.port();
            let socket = range.socket_id(port).filter(|_| self.ports.is_open(port));
            let Some(socket) = socket else {
                self.stats.rx_dropped += 1;
                continue;
            };
            let len = entry.len.min(PACKET_BUF_BYTES);
            let truncated = entry.len > PACKET_BUF_BYTES;
            bufs[filled].bytes_mut()[..len]
                .copy_from_slice(&self.bytes[entry.start..entry.start + len]);
            meta[filled] = RecvMeta {
                len,
                source: entry.source,
                destination: entry.destination,
                socket,
                timestamp: Some(entry.timestamp),
                truncated,
            };
            self.stats.count_rx(len, truncated);
            filled += 1;
        }
        Ok(filled)
    }

    fn send_batch(&mut self, _now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        let mut sent = 0;
        for p in packets {
            if self.local_addr(p.socket).is_some() {
                self.stats.count_tx(p.payload.len());
                sent += 1;
            } else {
                self.stats.drop_tx(
                    1,
                    IoError::UnknownSocket {
                        socket: p.socket.get(),
                    },
                );
            }
        }
        Ok(sent)
    }

    fn stats(&self) -> IoStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn write(frames: &[(SocketAddr, SocketAddr, &[u8])]) -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), MIN_BUFFER_BYTES).unwrap();
        for (i, (s, d, p)) in frames.iter().enumerate() {
            assert!(w.write_udp(Timestamp::from_micros(1_500_000 + i as u64), *s, *d, p));
        }
        w.flush().unwrap();
        w.sink().clone()
    }

    #[test]
    fn file_header_is_libpcap_2_4_ethernet() {
        let bytes = write(&[]);
        assert_eq!(
            bytes,
            [
                0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0
            ]
        );
    }

    #[test]
    fn ipv4_frame_has_valid_header_and_udp_checksums() {
        let s: SocketAddr = "192.0.2.1:20000".parse().unwrap();
        let d: SocketAddr = "192.0.2.2:30000".parse().unwrap();
        let bytes = write(&[(s, d, b"hello")]);
        let frame = &bytes[FILE_HEADER_BYTES + RECORD_HEADER_BYTES..];
        assert_eq!(frame.len(), 14 + 20 + 8 + 5);
        let ip = &frame[14..34];
        assert_eq!(fold(sum_words(0, ip)), 0xffff, "IPv4 header checksum");
        let udp = &frame[34..];
        let mut pseudo = sum_words(0, &ip[12..20]);
        pseudo += 17 + udp.len() as u32;
        assert_eq!(fold(sum_words(pseudo, udp)), 0xffff, "UDP checksum");
        let record = PcapReader::new(&bytes).unwrap().next().unwrap().unwrap();
        assert_eq!(record.timestamp, Timestamp::from_micros(1_500_000));
        let d2 = decode_udp(LINKTYPE_ETHERNET, record.data).unwrap();
        assert_eq!(
            (d2.source, d2.destination, d2.payload),
            (s, d, &b"hello"[..])
        );
    }

    #[test]
    fn ipv6_and_dual_stack_addresses_round_trip() {
        let s6: SocketAddr = "[2001:db8::1]:20000".parse().unwrap();
        let d6: SocketAddr = "[2001:db8::2]:30001".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:4000".parse().unwrap();
        let any6: SocketAddr = "[::]:30000".parse().unwrap();
        let bytes = write(&[
            (s6, d6, b"six"),
            (mapped, any6, b"dual"),
            (s6, "192.0.2.9:5".parse().unwrap(), b""),
        ]);
        let reader = PcapReader::new(&bytes).unwrap();
        let got: Vec<_> = reader
            .map(|r| {
                let d = decode_udp(LINKTYPE_ETHERNET, r.unwrap().data).unwrap();
                (d.source, d.destination, d.payload.to_vec())
            })
            .collect();
        assert_eq!(got[0], (s6, d6, b"six".to_vec()));
        assert_eq!(
            got[1],
            (
                "192.0.2.7:4000".parse().unwrap(),
                "0.0.0.0:30000".parse().unwrap(),
                b"dual".to_vec()
            )
        );
        assert_eq!(got[2].1, "[::ffff:192.0.2.9]:5".parse().unwrap());
    }

    #[test]
    fn reader_accepts_big_endian_nanosecond_files_and_raw_ip() {
        let mut file = Vec::new();
        file.extend_from_slice(&MAGIC_NANOS.to_be_bytes());
        file.extend_from_slice(&2u16.to_be_bytes());
        file.extend_from_slice(&4u16.to_be_bytes());
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&65535u32.to_be_bytes());
        file.extend_from_slice(&LINKTYPE_RAW.to_be_bytes());
        let mut ip = vec![
            0x45, 0, 0, 33, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip.extend_from_slice(&[
            0x13, 0x88, 0x13, 0x89, 0, 13, 0, 0, b'a', b'b', b'c', b'd', b'e',
        ]);
        file.extend_from_slice(&7u32.to_be_bytes());
        file.extend_from_slice(&123u32.to_be_bytes());
        file.extend_from_slice(&(ip.len() as u32).to_be_bytes());
        file.extend_from_slice(&(ip.len() as u32).to_be_bytes());
        file.extend_from_slice(&ip);
        let mut reader = PcapReader::new(&file).unwrap();
        assert!(reader.nanosecond_timestamps());
        let r = reader.next().unwrap().unwrap();
        assert_eq!(r.timestamp, Timestamp::from_nanos(7_000_000_123));
        let d = decode_udp(reader.link_type(), r.data).unwrap();
        assert_eq!(d.source, "10.0.0.1:5000".parse().unwrap());
        assert_eq!(d.payload, b"abcde");
        assert!(reader.next().is_none());
    }

    #[test]
    fn frames_that_are_not_whole_udp_datagrams_are_typed_errors() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&0x0806u16.to_be_bytes()); // ARP
        assert_eq!(
            decode_udp(LINKTYPE_ETHERNET, &eth),
            Err(FrameError::NotIp { protocol: 0x0806 })
        );
        let mut frag = vec![0u8; 12];
        frag.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        frag.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 0, 0x20, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ]);
        frag.extend_from_slice(&[0; 8]);
        assert_eq!(
            decode_udp(LINKTYPE_ETHERNET, &frag),
            Err(FrameError::Fragment)
        );
        assert_eq!(
            decode_udp(147, &frag),
            Err(FrameError::LinkType { link_type: 147 })
        );
        assert_eq!(
            decode_udp(LINKTYPE_ETHERNET, &frag[..20]),
            Err(FrameError::Truncated { len: 20 })
        );
    }

    #[test]
    fn reader_reports_truncation_and_stops() {
        let s: SocketAddr = "192.0.2.1:20000".parse().unwrap();
        let bytes = write(&[(s, s, b"a"), (s, s, b"b")]);
        let cut = &bytes[..bytes.len() - 3];
        let results: Vec<_> = PcapReader::new(cut).unwrap().collect();
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        assert!(matches!(
            results[1],
            Err(PcapError::Truncated { needed: 3, .. })
        ));
        assert!(matches!(
            PcapReader::new(&bytes[..10]),
            Err(PcapError::Truncated {
                offset: 0,
                needed: 14
            })
        ));
        assert!(matches!(
            PcapReader::new(&[0u8; 24]),
            Err(PcapError::Magic { magic: 0 })
        ));
    }

    #[test]
    fn writer_drops_frames_after_a_failed_write() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(ErrorKind::StorageFull.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut w = PcapWriter::new(Broken, MIN_BUFFER_BYTES).unwrap();
        let s: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let big = [0u8; PACKET_BUF_BYTES];
        let mut captured = 0;
        for _ in 0..4 {
            captured += usize::from(w.write_udp(Timestamp::ZERO, s, s, &big));
        }
        assert_eq!(captured, 2, "the third frame forced a write, which failed");
        assert_eq!(w.stats().dropped, 2);
        assert_eq!(
            w.flush(),
            Err(PcapError::Io {
                kind: ErrorKind::StorageFull
            })
        );
    }

    proptest! {
        #[test]
        fn reader_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(reader) = PcapReader::new(&bytes) {
                let link_type = reader.link_type();
                for record in reader.take(64) {
                    let Ok(record) = record else { break };
                    let _ = decode_udp(link_type, record.data);
                }
            }
        }

        #[test]
        fn decoder_never_panics_on_arbitrary_frames(
            link_type in prop_oneof![Just(0u32), Just(1), Just(101), Just(108), Just(113), Just(228), Just(229), Just(276), any::<u32>()],
            frame in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let _ = decode_udp(link_type, &frame);
        }

        #[test]
        fn written_datagrams_decode_to_themselves(
            v6 in any::<bool>(),
            sport in any::<u16>(),
            dport in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            micros in 0u64..4_000_000_000_000_000,
        ) {
            let (s, d): (IpAddr, IpAddr) = if v6 {
                ("2001:db8::a".parse().unwrap(), "2001:db8::b".parse().unwrap())
            } else {
                ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap())
            };
            let (s, d) = (SocketAddr::new(s, sport), SocketAddr::new(d, dport));
            let mut w = PcapWriter::new(Vec::new(), MIN_BUFFER_BYTES).unwrap();
            prop_assert!(w.write_udp(Timestamp::from_micros(micros), s, d, &payload));
            w.flush().unwrap();
            let bytes = w.sink().clone();
            let record = PcapReader::new(&bytes).unwrap().next().unwrap().unwrap();
            prop_assert_eq!(record.timestamp, Timestamp::from_micros(micros));
            let got = decode_udp(LINKTYPE_ETHERNET, record.data).unwrap();
            prop_assert_eq!((got.source, got.destination, got.payload), (s, d, &payload[..]));
        }
    }
}
