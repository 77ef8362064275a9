//! The RTP fixed header, CSRC list, header extensions and padding (RFC 3550 §5.1, §5.3.1;
//! RFC 8285): a checked view over wire bytes and a validated representation that emits.
//!
//! # Contract
//!
//! - [`RtpPacket::new_checked`] never panics, on any input, and after it succeeds every
//!   accessor is panic-free: the fixed header, the CSRC list, the extension block and the
//!   padding count all lie inside the buffer. [`RtpPacket::new_unchecked`] skips the checks;
//!   its accessors may then panic on short buffers (smoltcp's `wire` contract).
//! - Extension elements (RFC 8285 §4.2 one-byte, §4.3 two-byte) are iterated in place, without
//!   allocation; a malformed element ends the iteration with an error, the rest of the packet
//!   stays usable (RFC 8285 §4.1: a receiver ignores what it cannot parse).
//! - [`RtpHeader`] is the meaning of a header; [`RtpHeader::emit`] and
//!   [`RtpHeader::emit_packet`] write into the caller's buffer and return the length written.
//!   `RtpHeader::parse(&RtpPacket::new_checked(emit_packet(h, payload)))` gives back `h` and
//!   `payload` exactly (property-tested).
//! - Nothing here allocates; the CSRC list is a fixed array of the 15 the CC field can count.

use core::fmt;

use crate::error::{EmitError, RtpError};
use crate::rtp::take_mut;

/// Synchronization source identifier (RFC 3550 §5.1); also used for CSRCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ssrc(pub u32);

impl fmt::Display for Ssrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// The 16-bit RTP sequence number (RFC 3550 §5.1). Compare with [`SeqNo::diff`], which
/// understands wrap-around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNo(pub u16);

impl SeqNo {
    /// `self + n`, modulo 2^16.
    #[inline]
    pub const fn wrapping_add(self, n: u16) -> SeqNo {
        SeqNo(self.0.wrapping_add(n))
    }

    /// Signed distance from `earlier` to `self` in serial-number arithmetic (RFC 1982): the
    /// `n` in `-32768..32768` with `earlier + n == self`.
    #[inline]
    pub const fn diff(self, earlier: SeqNo) -> i16 {
        self.0.wrapping_sub(earlier.0) as i16
    }
}

/// The 32-bit RTP timestamp, in the payload format's clock rate (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RtpTimestamp(pub u32);

impl RtpTimestamp {
    /// `self + n`, modulo 2^32.
    #[inline]
    pub const fn wrapping_add(self, n: u32) -> RtpTimestamp {
        RtpTimestamp(self.0.wrapping_add(n))
    }

    /// Signed distance from `earlier` to `self` in serial-number arithmetic (RFC 1982).
    #[inline]
    pub const fn diff(self, earlier: RtpTimestamp) -> i32 {
        self.0.wrapping_sub(earlier.0) as i32
    }
}

/// A 7-bit RTP payload type (RFC 3550 §5.1, RFC 3551 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PayloadType(u8);

impl PayloadType {
    /// PCMU, static payload type 0 (RFC 3551 Table 4).
    pub const PCMU: PayloadType = PayloadType(0);
    /// PCMA, static payload type 8.
    pub const PCMA: PayloadType = PayloadType(8);
    /// G.722, static payload type 9.
    pub const G722: PayloadType = PayloadType(9);
    /// Comfort noise, static payload type 13 (RFC 3389 §4).
    pub const CN: PayloadType = PayloadType(13);
    /// G.729, static payload type 18.
    pub const G729: PayloadType = PayloadType(18);

    /// The payload type `value`, or `None` if it does not fit in 7 bits.
    #[inline]
    pub const fn new(value: u8) -> Option<PayloadType> {
        if value < 128 {
            Some(PayloadType(value))
        } else {
            None
        }
    }

    /// The low 7 bits of `value` (what a header byte carries).
    #[inline]
    pub const fn from_bits(value: u8) -> PayloadType {
        PayloadType(value & 0x7f)
    }

    /// The number, 0–127.
    #[inline]
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Length of the fixed RTP header.
pub const HEADER_LEN: usize = 12;
/// The most CSRCs the 4-bit CC field counts.
pub const MAX_CSRCS: usize = 15;
/// The longest header an [`RtpHeader`] without extension can need (fixed part + 15 CSRCs).
pub const HEADER_LEN_MAX_WITHOUT_EXTENSION: usize = HEADER_LEN + 4 * MAX_CSRCS;

/// RFC 8285 §4.2 "defined by profile" value of the one-byte header form.
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// RFC 8285 §4.3 two-byte header form: `0x100` followed by 4 application bits.
pub const TWO_BYTE_PROFILE: u16 = 0x1000;

mod field {
    pub(super) const FLAGS: usize = 0;
    pub(super) const MARKER_PT: usize = 1;
    pub(super) const SEQ: usize = 2;
    pub(super) const TIMESTAMP: usize = 4;
    pub(super) const SSRC: usize = 8;
}

/// A read (and, with `T: AsMut<[u8]>`, write) view over the bytes of an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RtpPacket<T> {
    /// Wraps `buffer` without checks. Accessors may panic if the buffer is not a valid packet;
    /// use [`new_checked`](Self::new_checked) for network input.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> RtpPacket<T> {
        RtpPacket { buffer }
    }

    /// Wraps `buffer` after [`check`](Self::check): every accessor is then panic-free.
    ///
    /// # Errors
    ///
    /// See [`check`](Self::check).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<RtpPacket<T>, RtpError> {
        let packet = RtpPacket::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Checks that the version is 2 and that the header, the CSRC list, the extension block
    /// and the padding count fit the buffer (RFC 3550 §5.1 and the tests of A.1).
    ///
    /// # Errors
    ///
    /// [`RtpError::Truncated`], [`RtpError::Version`] or [`RtpError::Padding`]. Never panics.
    pub fn check(&self) -> Result<(), RtpError> {
        let data = self.buffer.as_ref();
        let len = data.len();
        if len < HEADER_LEN {
            return Err(RtpError::Truncated {
                len,
                needed: HEADER_LEN,
            });
        }
        let version = data[field::FLAGS] >> 6;
        if version != 2 {
            return Err(RtpError::Version(version));
        }
        let mut needed = HEADER_LEN + 4 * usize::from(data[field::FLAGS] & 0x0f);
        if data[field::FLAGS] & 0x10 != 0 {
            if len < needed + 4 {
                return Err(RtpError::Truncated {
                    len,
                    needed: needed + 4,
                });
            }
            let words = u16::from_be_bytes([data[needed + 2], data[needed + 3]]);
            needed += 4 + 4 * usize::from(words);
        }
        if len < needed {
            return Err(RtpError::Truncated { len, needed });
        }
        if data[field::FLAGS] & 0x20 != 0 {
            let available = len - needed;
            let pad = data[len - 1];
            if pad == 0 || usize::from(pad) > available {
                return Err(RtpError::Padding { pad, available });
            }
        }
        Ok(())
    }

    /// The wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole packet.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version field (2 for a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS] >> 6
    }

    /// The P bit: the packet ends in padding.
    #[inline]
    pub fn padding(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x20 != 0
    }

    /// The X bit: a header extension follows the CSRC list.
    #[inline]
    pub fn has_extension(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & 0x10 != 0
    }

    /// The CC field: number of CSRCs.
    #[inline]
    pub fn csrc_count(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS] & 0x0f)
    }

    /// The M bit.
    #[inline]
    pub fn marker(&self) -> bool {
        self.buffer.as_ref()[field::MARKER_PT] & 0x80 != 0
    }

    /// The payload type.
    #[inline]
    pub fn payload_type(&self) -> PayloadType {
        PayloadType::from_bits(self.buffer.as_ref()[field::MARKER_PT])
    }

    /// The sequence number.
    #[inline]
    pub fn sequence_number(&self) -> SeqNo {
        let d = self.buffer.as_ref();
        SeqNo(u16::from_be_bytes([d[field::SEQ], d[field::SEQ + 1]]))
    }

    /// The timestamp.
    #[inline]
    pub fn timestamp(&self) -> RtpTimestamp {
        let d = self.buffer.as_ref();
        let t = field::TIMESTAMP;
        RtpTimestamp(u32::from_be_bytes([d[t], d[t + 1], d[t + 2], d[t + 3]]))
    }

    /// The SSRC.
    #[inline]
    pub fn ssrc(&self) -> Ssrc {
        let d = self.buffer.as_ref();
        let s = field::SSRC;
        Ssrc(u32::from_be_bytes([d[s], d[s + 1], d[s + 2], d[s + 3]]))
    }

    /// CSRC number `index`, or `None` past the list.
    pub fn csrc(&self, index: usize) -> Option<Ssrc> {
        if index >= self.csrc_count() {
            return None;
        }
        let at = HEADER_LEN + 4 * index;
        let d = self.buffer.as_ref().get(at..at + 4)?;
        Some(Ssrc(u32::from_be_bytes([d[0], d[1], d[2], d[3]])))
    }

    /// The CSRC list, without allocation.
    pub fn csrcs(&self) -> impl Iterator<Item = Ssrc> + '_ {
        (0..self.csrc_count()).filter_map(|i| self.csrc(i))
    }

    /// Length of the header: fixed part, CSRC list and extension block.
    #[inline]
    pub fn header_len(&self) -> usize {
        let d = self.buffer.as_ref();
        let mut len = HEADER_LEN + 4 * usize::from(d[field::FLAGS] & 0x0f);
        if d[field::FLAGS] & 0x10 != 0 {
            let words = u16::from_be_bytes([d[len + 2], d[len + 3]]);
            len += 4 + 4 * usize::from(words);
        }
        len
    }

    /// The header extension block (RFC 3550 §5.3.1), if the X bit is set.
    pub fn extension(&self) -> Option<Extension<'_>> {
        if !self.has_extension() {
            return None;
        }
        let d = self.buffer.as_ref();
        let at = HEADER_LEN + 4 * self.csrc_count();
        let profile = u16::from_be_bytes([d[at], d[at + 1]]);
        let words = usize::from(u16::from_be_bytes([d[at + 2], d[at + 3]]));
        Some(Extension {
            profile,
            data: &d[at + 4..at + 4 + 4 * words],
        })
    }

    /// Number of padding bytes at the end, including the count byte itself (0 without P).
    #[inline]
    pub fn padding_len(&self) -> usize {
        let d = self.buffer.as_ref();
        if self.padding() {
            usize::from(d[d.len() - 1])
        } else {
            0
        }
    }

    /// Where the payload lies in the packet: after the header, before the padding.
    #[inline]
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        self.header_len()..self.buffer.as_ref().len() - self.padding_len()
    }

    /// The payload, without header and padding.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let range = self.payload_range();
        &self.buffer.as_ref()[range]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> RtpPacket<T> {
    /// Sets the M bit.
    #[inline]
    pub fn set_marker(&mut self, marker: bool) {
        let b = &mut self.buffer.as_mut()[field::MARKER_PT];
        *b = (*b & 0x7f) | (u8::from(marker) << 7);
    }

    /// Sets the payload type.
    #[inline]
    pub fn set_payload_type(&mut self, pt: PayloadType) {
        let b = &mut self.buffer.as_mut()[field::MARKER_PT];
        *b = (*b & 0x80) | pt.get();
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_sequence_number(&mut self, seq: SeqNo) {
        self.buffer.as_mut()[field::SEQ..field::SEQ + 2].copy_from_slice(&seq.0.to_be_bytes());
    }

    /// Sets the timestamp.
    #[inline]
    pub fn set_timestamp(&mut self, ts: RtpTimestamp) {
        let t = field::TIMESTAMP;
        self.buffer.as_mut()[t..t + 4].copy_from_slice(&ts.0.to_be_bytes());
    }

    /// Sets the SSRC.
    #[inline]
    pub fn set_ssrc(&mut self, ssrc: Ssrc) {
        let s = field::SSRC;
        self.buffer.as_mut()[s..s + 4].copy_from_slice(&ssrc.0.to_be_bytes());
    }

    /// The payload, writable in place.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.buffer.as_mut()[range]
    }
}

/// Which element format an extension block uses (RFC 8285 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionProfile {
    /// One-byte headers, profile `0xBEDE` (RFC 8285 §4.2).
    OneByte,
    /// Two-byte headers, profile `0x100` + 4 application bits (RFC 8285 §4.3).
    TwoByte {
        /// The low 4 bits of the profile field.
        app_bits: u8,
    },
    /// Any other profile-defined extension (RFC 3550 §5.3.1); its data is opaque.
    Other(u16),
}

impl ExtensionProfile {
    /// The profile for a "defined by profile" field value.
    pub const fn from_field(profile: u16) -> ExtensionProfile {
        if profile == ONE_BYTE_PROFILE {
            ExtensionProfile::OneByte
        } else if profile & 0xfff0 == TWO_BYTE_PROFILE {
            ExtensionProfile::TwoByte {
                app_bits: (profile & 0x0f) as u8,
            }
        } else {
            ExtensionProfile::Other(profile)
        }
    }

    /// The "defined by profile" field value.
    pub const fn to_field(self) -> u16 {
        match self {
            ExtensionProfile::OneByte => ONE_BYTE_PROFILE,
            ExtensionProfile::TwoByte { app_bits } => TWO_BYTE_PROFILE | (app_bits as u16 & 0x0f),
            ExtensionProfile::Other(p) => p,
        }
    }

    /// Writes `elements` in this profile's element format into `buf`, zero-padded to a
    /// multiple of four, and returns the length: the data of an [`Extension`].
    ///
    /// # Errors
    ///
    /// [`EmitError::Range`] for an id outside 1–14 (one-byte) or 1–255 (two-byte), or for an
    /// [`ExtensionProfile::Other`] profile; [`EmitError::Length`] for data outside 1–16 bytes
    /// (one-byte) or over 255 bytes (two-byte); [`EmitError::BufferTooSmall`].
    pub fn emit_elements(
        self,
        elements: &[ExtensionElement<'_>],
        buf: &mut [u8],
    ) -> Result<usize, EmitError> {
        let mut at = 0;
        for e in elements {
            let (head, head_len): ([u8; 2], usize) = match self {
                ExtensionProfile::OneByte => {
                    if !(1..=14).contains(&e.id) {
                        return Err(EmitError::Range(u32::from(e.id)));
                    }
                    if !(1..=16).contains(&e.data.len()) {
                        return Err(EmitError::Length { len: e.data.len() });
                    }
                    ([(e.id << 4) | (e.data.len() - 1) as u8, 0], 1)
                }
                ExtensionProfile::TwoByte { .. } => {
                    if e.id == 0 {
                        return Err(EmitError::Range(0));
                    }
                    let len = u8::try_from(e.data.len())
                        .map_err(|_| EmitError::Length { len: e.data.len() })?;
                    ([e.id, len], 2)
                }
                ExtensionProfile::Other(p) => return Err(EmitError::Range(u32::from(p))),
            };
            let end = at + head_len + e.data.len();
            let out = take_mut(buf, at, end)?;
            out[..head_len].copy_from_slice(&head[..head_len]);
            out[head_len..].copy_from_slice(e.data);
            at = end;
        }
        let padded = at.div_ceil(4) * 4;
        let tail = take_mut(buf, at, padded)?;
        tail.fill(0);
        Ok(padded)
    }
}

/// A header extension block (RFC 3550 §5.3.1): the profile field and the data words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The "defined by profile" field.
    pub profile: u16,
    /// The extension data, a multiple of four bytes long.
    pub data: &'a [u8],
}

impl<'a> Extension<'a> {
    /// The element format of this block.
    pub const fn kind(&self) -> ExtensionProfile {
        ExtensionProfile::from_field(self.profile)
    }

    /// The RFC 8285 elements of this block; none for [`ExtensionProfile::Other`].
    pub fn elements(&self) -> ExtensionElements<'a> {
        ExtensionElements {
            data: self.data,
            at: 0,
            kind: self.kind(),
            done: matches!(self.kind(), ExtensionProfile::Other(_)),
        }
    }
}

/// One RFC 8285 header extension element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionElement<'a> {
    /// The local identifier (1–14 one-byte, 1–255 two-byte).
    pub id: u8,
    /// The element data.
    pub data: &'a [u8],
}

/// Iterator over the elements of an [`Extension`], in place.
///
/// Padding bytes (zero) are skipped; a one-byte id of 15 stops the iteration (RFC 8285 §4.2);
/// an element that overruns the block, or a one-byte element with the reserved id 0 and a
/// non-zero length, yields [`RtpError::ExtensionElement`] once and ends it.
#[derive(Debug, Clone)]
pub struct ExtensionElements<'a> {
    data: &'a [u8],
    at: usize,
    kind: ExtensionProfile,
    done: bool,
}

impl<'a> Iterator for ExtensionElements<'a> {
    type Item = Result<ExtensionElement<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let Some(&first) = self.data.get(self.at) else {
                self.done = true;
                break;
            };
            if first == 0 {
                self.at += 1;
                continue;
            }
            let overrun = RtpError::ExtensionElement {
                offset: self.at,
                len: self.data.len(),
            };
            let (id, start, len) = match self.kind {
                ExtensionProfile::OneByte => {
                    if first >> 4 == 15 {
                        self.done = true;
                        break;
                    }
                    if first >> 4 == 0 {
                        // Id 0 is reserved for padding bytes, which are all zero (§4.2).
                        self.done = true;
                        return Some(Err(overrun));
                    }
                    (first >> 4, self.at + 1, usize::from(first & 0x0f) + 1)
                }
                _ => match self.data.get(self.at + 1) {
                    Some(&len) => (first, self.at + 2, usize::from(len)),
                    None => {
                        self.done = true;
                        return Some(Err(overrun));
                    }
                },
            };
            let Some(data) = self.data.get(start..start + len) else {
                self.done = true;
                return Some(Err(overrun));
            };
            self.at = start + len;
            return Some(Ok(ExtensionElement { id, data }));
        }
        None
    }
}

/// Up to 15 contributing sources, held inline (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CsrcList {
    len: u8,
    ids: [Ssrc; MAX_CSRCS],
}

impl CsrcList {
    /// An empty list.
    pub const EMPTY: CsrcList = CsrcList {
        len: 0,
        ids: [Ssrc(0); MAX_CSRCS],
    };

    /// The list of `ids`, or `None` if there are more than 15.
    pub fn new(ids: &[Ssrc]) -> Option<CsrcList> {
        let mut list = CsrcList::EMPTY;
        for &id in ids {
            list.push(id)?;
        }
        Some(list)
    }

    /// Appends `id`; `None` if the list is full.
    pub fn push(&mut self, id: Ssrc) -> Option<()> {
        let slot = self.ids.get_mut(usize::from(self.len))?;
        *slot = id;
        self.len += 1;
        Some(())
    }

    /// The CSRCs.
    pub fn as_slice(&self) -> &[Ssrc] {
        &self.ids[..usize::from(self.len)]
    }

    /// Number of CSRCs.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True without CSRCs.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The meaning of an RTP header (RFC 3550 §5.1): what to emit, or what a checked packet says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    /// The M bit.
    pub marker: bool,
    /// The payload type.
    pub payload_type: PayloadType,
    /// The sequence number.
    pub sequence_number: SeqNo,
    /// The timestamp.
    pub timestamp: RtpTimestamp,
    /// The SSRC.
    pub ssrc: Ssrc,
    /// The CSRC list.
    pub csrcs: CsrcList,
    /// The extension block; its data must be a multiple of four bytes.
    pub extension: Option<Extension<'a>>,
    /// Padding bytes after the payload, including the count byte; 0 for none (P bit clear).
    pub padding: u8,
}

impl<'a> RtpHeader<'a> {
    /// A header with no CSRCs, no extension and no padding.
    pub const fn new(
        payload_type: PayloadType,
        sequence_number: SeqNo,
        timestamp: RtpTimestamp,
        ssrc: Ssrc,
    ) -> RtpHeader<'a> {
        RtpHeader {
            marker: false,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            csrcs: CsrcList::EMPTY,
            extension: None,
            padding: 0,
        }
    }

    /// The meaning of a checked packet's header.
    ///
    /// # Panics
    ///
    /// Only on a packet made with [`RtpPacket::new_unchecked`] that would fail the check.
    pub fn parse<T: AsRef<[u8]>>(packet: &'a RtpPacket<T>) -> RtpHeader<'a> {
        let mut csrcs = CsrcList::EMPTY;
        for id in packet.csrcs() {
            // A checked packet has at most 15 CSRCs, so this never fails.
            let _ = csrcs.push(id);
        }
        RtpHeader {
            marker: packet.marker(),
            payload_type: packet.payload_type(),
            sequence_number: packet.sequence_number(),
            timestamp: packet.timestamp(),
            ssrc: packet.ssrc(),
            csrcs,
            extension: packet.extension(),
            padding: packet.padding_len() as u8,
        }
    }

    /// Length of the header this emits (fixed part, CSRCs and extension; not the padding).
    pub fn header_len(&self) -> usize {
        HEADER_LEN + 4 * self.csrcs.len() + self.extension.map_or(0, |e| 4 + e.data.len())
    }

    /// Length of a packet with this header and a `payload_len`-byte payload.
    pub fn buffer_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len + usize::from(self.padding)
    }

    /// Writes the header (with the P bit set if `padding > 0`) into `buf` and returns its
    /// length. The caller writes the payload after it, and the padding if it asked for some.
    ///
    /// # Errors
    ///
    /// [`EmitError::Length`] if the extension data is not a multiple of four or longer than
    /// the length field counts; [`EmitError::BufferTooSmall`].
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let len = self.header_len();
        if buf.len() < len {
            return Err(EmitError::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        }
        let cc = self.csrcs.len() as u8;
        buf[field::FLAGS] = 0x80
            | (u8::from(self.padding > 0) << 5)
            | (u8::from(self.extension.is_some()) << 4)
            | cc;
        buf[field::MARKER_PT] = (u8::from(self.marker) << 7) | self.payload_type.get();
        buf[field::SEQ..field::SEQ + 2].copy_from_slice(&self.sequence_number.0.to_be_bytes());
        buf[field::TIMESTAMP..field::TIMESTAMP + 4]
            .copy_from_slice(&self.timestamp.0.to_be_bytes());
        buf[field::SSRC..field::SSRC + 4].copy_from_slice(&self.ssrc.0.to_be_bytes());
        let mut at = HEADER_LEN;
        for id in self.csrcs.as_slice() {
            buf[at..at + 4].copy_from_slice(&id.0.to_be_bytes());
            at += 4;
        }
        if let Some(ext) = self.extension {
            let words = ext.data.len() / 4;
            if ext.data.len() % 4 != 0 || words > usize::from(u16::MAX) {
                return Err(EmitError::Length {
                    len: ext.data.len(),
                });
            }
            buf[at..at + 2].copy_from_slice(&ext.profile.to_be_bytes());
            buf[at + 2..at + 4].copy_from_slice(&(words as u16).to_be_bytes());
            buf[at + 4..at + 4 + ext.data.len()].copy_from_slice(ext.data);
        }
        Ok(len)
    }

    /// Writes the whole packet (header, `payload`, padding) into `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// As [`emit`](Self::emit).
    pub fn emit_packet(&self, payload: &[u8], buf: &mut [u8]) -> Result<usize, EmitError> {
        let total = self.buffer_len(payload.len());
        if buf.len() < total {
            return Err(EmitError::BufferTooSmall {
                needed: total,
                available: buf.len(),
            });
        }
        let at = self.emit(buf)?;
        buf[at..at + payload.len()].copy_from_slice(payload);
        if self.padding > 0 {
            let pad = &mut buf[at + payload.len()..total];
            pad.fill(0);
            pad[pad.len() - 1] = self.padding;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3550 §5.1 layout written out by hand: V=2, P=1, X=1, CC=2, M=1, PT=96, seq 0x1234,
    /// ts 0xDEADBEEF, SSRC 0x01020304, CSRCs 0x0A0B0C0D and 0x11121314, a one-byte extension
    /// block (RFC 8285 §4.2) with id 1 (1 byte), a padding byte, id 2 (2 bytes), then
    /// three payload bytes and 4 bytes of padding.
    const FULL: [u8; 43] = [
        0xB2, 0xE0, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x03, 0x04, // fixed
        0x0A, 0x0B, 0x0C, 0x0D, 0x11, 0x12, 0x13, 0x14, // CSRCs
        0xBE, 0xDE, 0x00, 0x02, // profile, 2 words
        0x10, 0xAA, 0x00, 0x21, 0xBB, 0xCC, 0x00, 0x00, // elements + padding
        0x61, 0x62, 0x63, // payload "abc"
        0x00, 0x00, 0x00, 0x04, // padding, count 4
        0xFF, 0xFF, 0xFF, 0xFF, // (not part of the packet: trimmed below)
    ];

    fn full() -> &'static [u8] {
        &FULL[..39]
    }

    #[test]
    fn reads_every_field_of_a_hand_built_packet() {
        let p = RtpPacket::new_checked(full()).unwrap();
        assert_eq!(p.version(), 2);
        assert!(p.padding() && p.has_extension() && p.marker());
        assert_eq!(p.csrc_count(), 2);
        assert_eq!(p.payload_type().get(), 96);
        assert_eq!(p.sequence_number(), SeqNo(0x1234));
        assert_eq!(p.timestamp(), RtpTimestamp(0xDEAD_BEEF));
        assert_eq!(p.ssrc(), Ssrc(0x0102_0304));
        assert_eq!(
            p.csrcs().collect::<Vec<_>>(),
            [Ssrc(0x0A0B_0C0D), Ssrc(0x1112_1314)]
        );
        assert_eq!(p.header_len(), 32);
        assert_eq!(p.padding_len(), 4);
        assert_eq!(p.payload(), b"abc");
        let ext = p.extension().unwrap();
        assert_eq!(ext.kind(), ExtensionProfile::OneByte);
        let elements: Vec<_> = ext.elements().map(Result::unwrap).collect();
        assert_eq!(
            elements,
            [
                ExtensionElement {
                    id: 1,
                    data: &[0xAA]
                },
                ExtensionElement {
                    id: 2,
                    data: &[0xBB, 0xCC]
                },
            ]
        );
    }

    #[test]
    fn minimal_pcmu_header_parses() {
        let bytes = [0x80, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        let p = RtpPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.payload_type(), PayloadType::PCMU);
        assert!(!p.marker() && !p.padding() && !p.has_extension());
        assert_eq!(p.payload(), b"");
        assert_eq!(p.extension(), None);
    }

    #[test]
    fn rejects_each_malformation_with_its_error() {
        let ok = full();
        assert_eq!(
            RtpPacket::new_checked(&ok[..11]).unwrap_err(),
            RtpError::Truncated {
                len: 11,
                needed: 12
            }
        );
        let mut v1 = ok.to_vec();
        v1[0] = (v1[0] & 0x3f) | 0x40;
        assert_eq!(
            RtpPacket::new_checked(&v1[..]).unwrap_err(),
            RtpError::Version(1)
        );
        // CSRC list cut.
        assert_eq!(
            RtpPacket::new_checked(&ok[..18]).unwrap_err(),
            RtpError::Truncated {
                len: 18,
                needed: 24
            }
        );
        // Extension header cut, then extension data cut.
        assert_eq!(
            RtpPacket::new_checked(&ok[..22]).unwrap_err(),
            RtpError::Truncated {
                len: 22,
                needed: 24
            }
        );
        assert_eq!(
            RtpPacket::new_checked(&ok[..30]).unwrap_err(),
            RtpError::Truncated {
                len: 30,
                needed: 32
            }
        );
        // Padding count larger than what follows the header, and zero.
        let mut pad = ok.to_vec();
        pad[38] = 8;
        assert_eq!(
            RtpPacket::new_checked(&pad[..]).unwrap_err(),
            RtpError::Padding {
                pad: 8,
                available: 7
            }
        );
        pad[38] = 0;
        assert_eq!(
            RtpPacket::new_checked(&pad[..]).unwrap_err(),
            RtpError::Padding {
                pad: 0,
                available: 7
            }
        );
        // Padding that takes all the payload is fine.
        pad[38] = 7;
        let p = RtpPacket::new_checked(&pad[..]).unwrap();
        assert_eq!(p.payload(), b"");
    }

    #[test]
    fn two_byte_extension_elements_iterate_and_stop_on_overrun() {
        // RFC 8285 §4.3: id 5 with 0 bytes, padding, id 200 with 3 bytes.
        let data = [5, 0, 0, 200, 3, 1, 2, 3];
        let ext = Extension {
            profile: 0x1003,
            data: &data,
        };
        assert_eq!(ext.kind(), ExtensionProfile::TwoByte { app_bits: 3 });
        let got: Vec<_> = ext.elements().collect();
        assert_eq!(
            got,
            [
                Ok(ExtensionElement { id: 5, data: &[] }),
                Ok(ExtensionElement {
                    id: 200,
                    data: &[1, 2, 3]
                }),
            ]
        );
        let bad = [7, 9, 1, 2];
        let ext = Extension {
            profile: 0x1000,
            data: &bad,
        };
        assert_eq!(
            ext.elements().collect::<Vec<_>>(),
            [Err(RtpError::ExtensionElement { offset: 0, len: 4 })]
        );
    }

    #[test]
    fn one_byte_id_0_with_a_length_is_malformed() {
        let data = [0x10, 0xAA, 0x03, 1, 2, 3, 4, 0];
        let ext = Extension {
            profile: ONE_BYTE_PROFILE,
            data: &data,
        };
        let got: Vec<_> = ext.elements().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[1],
            Err(RtpError::ExtensionElement { offset: 2, len: 8 })
        );
    }

    #[test]
    fn one_byte_id_15_stops_parsing() {
        let data = [0x10, 0xAA, 0xF0, 0x20, 0xBB, 0, 0, 0];
        let ext = Extension {
            profile: ONE_BYTE_PROFILE,
            data: &data,
        };
        assert_eq!(ext.elements().count(), 1);
        let opaque = Extension {
            profile: 0x1234,
            data: &data,
        };
        assert_eq!(opaque.elements().count(), 0);
    }

    #[test]
    fn emits_the_hand_built_packet_byte_for_byte() {
        let mut ext_data = [0u8; 8];
        let n = ExtensionProfile::OneByte
            .emit_elements(
                &[
                    ExtensionElement {
                        id: 1,
                        data: &[0xAA],
                    },
                    ExtensionElement {
                        id: 2,
                        data: &[0xBB, 0xCC],
                    },
                ],
                &mut ext_data,
            )
            .unwrap();
        // Our emitter packs elements without the padding byte the vector has between them.
        assert_eq!(&ext_data[..n], &[0x10, 0xAA, 0x21, 0xBB, 0xCC, 0, 0, 0]);
        let p = RtpPacket::new_checked(full()).unwrap();
        let header = RtpHeader::parse(&p);
        let mut out = [0u8; 64];
        let len = header.emit_packet(p.payload(), &mut out).unwrap();
        assert_eq!(&out[..len], full());
    }

    #[test]
    fn emit_reports_small_buffers_and_bad_extensions() {
        let h = RtpHeader::new(PayloadType::PCMU, SeqNo(1), RtpTimestamp(2), Ssrc(3));
        let mut small = [0u8; 11];
        assert_eq!(
            h.emit(&mut small),
            Err(EmitError::BufferTooSmall {
                needed: 12,
                available: 11
            })
        );
        let mut buf = [0u8; 200];
        assert_eq!(
            h.emit_packet(&[0; 160], &mut buf[..171]),
            Err(EmitError::BufferTooSmall {
                needed: 172,
                available: 171
            })
        );
        let bad = RtpHeader {
            extension: Some(Extension {
                profile: 1,
                data: &[1, 2, 3],
            }),
            ..h
        };
        assert_eq!(bad.emit(&mut buf), Err(EmitError::Length { len: 3 }));
        assert_eq!(
            ExtensionProfile::OneByte
                .emit_elements(&[ExtensionElement { id: 15, data: &[1] }], &mut buf),
            Err(EmitError::Range(15))
        );
    }

    #[test]
    fn rewrites_header_fields_in_place() {
        let mut bytes = full().to_vec();
        let mut p = RtpPacket::new_checked(&mut bytes[..]).unwrap();
        p.set_marker(false);
        p.set_payload_type(PayloadType::PCMA);
        p.set_sequence_number(SeqNo(7));
        p.set_timestamp(RtpTimestamp(9));
        p.set_ssrc(Ssrc(11));
        p.payload_mut()[0] = b'x';
        assert!(!p.marker());
        assert_eq!(p.payload_type(), PayloadType::PCMA);
        assert_eq!(
            (p.sequence_number(), p.timestamp(), p.ssrc()),
            (SeqNo(7), RtpTimestamp(9), Ssrc(11))
        );
        assert_eq!(p.payload(), b"xbc");
        assert_eq!(p.csrc_count(), 2);
    }

    #[test]
    fn serial_arithmetic_wraps() {
        assert_eq!(SeqNo(2).diff(SeqNo(65535)), 3);
        assert_eq!(SeqNo(65535).diff(SeqNo(2)), -3);
        assert_eq!(RtpTimestamp(5).diff(RtpTimestamp(u32::MAX)), 6);
        assert_eq!(SeqNo(65535).wrapping_add(1), SeqNo(0));
        assert_eq!(PayloadType::new(128), None);
        assert_eq!(PayloadType::from_bits(0xE0).get(), 96);
    }
}
