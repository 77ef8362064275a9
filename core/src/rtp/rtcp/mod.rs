//! RTCP (RFC 3550 §6): the common header as a checked view, the packet types Tandem reads and
//! writes (SR, RR, SDES, BYE), and compound packets.
//!
//! # Contract
//!
//! - [`RtcpPacket::new_checked`] never panics; afterwards the header accessors and
//!   [`RtcpPacket::body`] are panic-free. Each packet type's `parse` takes a checked packet
//!   and validates its own counts and items before returning, so its accessors and iterators
//!   never fail or panic later.
//! - [`Compound::new_checked`] validates the framing of every packet of a compound datagram
//!   (RFC 3550 §6.1, the checks of A.2 minus the first-packet rule, which RFC 5506 relaxes;
//!   see [`Compound::starts_with_report`]) and then iterates without allocation. Typed
//!   iteration skips packet types it does not know (APP, feedback, XR, …) and counts them.
//! - Emitters write into the caller's buffer and return the length written;
//!   [`CompoundWriter`] appends packets one after another.
//! - Times: [`NtpTime`] is the 64-bit NTP timestamp of RFC 3550 §4; report blocks carry its
//!   middle 32 bits ([`NtpTime::compact`]) and delays in 1/65536 s.

pub mod bye;
pub mod compound;
pub mod rr;
pub mod sdes;
pub mod sr;

pub use bye::Goodbye;
pub use compound::{Compound, CompoundWriter, RtcpPackets, RtcpRepr, RtcpReprs};
pub use rr::{ReceiverReport, ReportBlock, ReportBlocks};
pub use sdes::{SdesChunk, SdesItem, SdesItemType, SourceDescription};
pub use sr::{NtpTime, SenderInfo, SenderReport};

use crate::error::RtcpError;

/// Length of the RTCP common header.
pub const HEADER_LEN: usize = 4;
/// The most report blocks, SDES chunks or BYE sources the 5-bit count field holds.
pub const MAX_COUNT: usize = 31;

/// RTCP packet type (RFC 3550 §12.1 and the IANA registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RtcpType(pub u8);

impl RtcpType {
    /// Sender report (§6.4.1).
    pub const SR: RtcpType = RtcpType(200);
    /// Receiver report (§6.4.2).
    pub const RR: RtcpType = RtcpType(201);
    /// Source description (§6.5).
    pub const SDES: RtcpType = RtcpType(202);
    /// Goodbye (§6.6).
    pub const BYE: RtcpType = RtcpType(203);
    /// Application-defined (§6.7).
    pub const APP: RtcpType = RtcpType(204);
    /// Transport-layer feedback (RFC 4585).
    pub const RTPFB: RtcpType = RtcpType(205);
    /// Payload-specific feedback (RFC 4585).
    pub const PSFB: RtcpType = RtcpType(206);
    /// Extended reports (RFC 3611).
    pub const XR: RtcpType = RtcpType(207);
}

/// A checked view over one RTCP packet (the common header of RFC 3550 §6.4.1 and the rest).
///
/// The view covers exactly the packet the length field announces; bytes after it belong to
/// the next packet of the compound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RtcpPacket<T> {
    /// Wraps `buffer` without checks; accessors may panic on a malformed buffer.
    pub const fn new_unchecked(buffer: T) -> RtcpPacket<T> {
        RtcpPacket { buffer }
    }

    /// Wraps `buffer` after [`check`](Self::check).
    ///
    /// # Errors
    ///
    /// See [`check`](Self::check).
    pub fn new_checked(buffer: T) -> Result<RtcpPacket<T>, RtcpError> {
        let packet = RtcpPacket::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Checks the version, that the length field fits the buffer, and the padding count.
    ///
    /// # Errors
    ///
    /// [`RtcpError::Truncated`], [`RtcpError::Version`] or [`RtcpError::Padding`]. Never
    /// panics.
    pub fn check(&self) -> Result<(), RtcpError> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(RtcpError::Truncated {
                len: data.len(),
                needed: HEADER_LEN,
            });
        }
        let version = data[0] >> 6;
        if version != 2 {
            return Err(RtcpError::Version(version));
        }
        let len = (usize::from(u16::from_be_bytes([data[2], data[3]])) + 1) * 4;
        if data.len() < len {
            return Err(RtcpError::Truncated {
                len: data.len(),
                needed: len,
            });
        }
        if data[0] & 0x20 != 0 {
            let pad = data[len - 1];
            if pad == 0 || usize::from(pad) > len - HEADER_LEN {
                return Err(RtcpError::Padding { pad, len });
            }
        }
        Ok(())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 6
    }

    /// The P bit.
    pub fn padding(&self) -> bool {
        self.buffer.as_ref()[0] & 0x20 != 0
    }

    /// The 5-bit count field: report blocks (SR, RR), chunks (SDES), sources (BYE), subtype
    /// (APP) or feedback message type (RFC 4585).
    pub fn count(&self) -> u8 {
        self.buffer.as_ref()[0] & 0x1f
    }

    /// The packet type.
    pub fn packet_type(&self) -> RtcpType {
        RtcpType(self.buffer.as_ref()[1])
    }

    /// Length of the packet in bytes, from the length field (header and padding included).
    pub fn packet_len(&self) -> usize {
        let d = self.buffer.as_ref();
        (usize::from(u16::from_be_bytes([d[2], d[3]])) + 1) * 4
    }

    /// Padding bytes at the end of the packet, including the count byte (0 without P).
    pub fn padding_len(&self) -> usize {
        if self.padding() {
            usize::from(self.buffer.as_ref()[self.packet_len() - 1])
        } else {
            0
        }
    }

    /// The packet after the common header, without padding.
    pub fn body(&self) -> &[u8] {
        let end = self.packet_len() - self.padding_len();
        &self.buffer.as_ref()[HEADER_LEN..end]
    }

    /// The whole packet, as the length field delimits it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.packet_len()]
    }
}

impl<'a> RtcpPacket<&'a [u8]> {
    /// [`body`](RtcpPacket::body) with the lifetime of the underlying bytes.
    pub fn body_ref(&self) -> &'a [u8] {
        let end = self.packet_len() - self.padding_len();
        &self.buffer[HEADER_LEN..end]
    }
}

/// Writes a common header (no padding) for a packet of `len` bytes (a multiple of four, at
/// least 4) into `buf[..4]`.
pub(crate) fn write_header(buf: &mut [u8], count: u8, packet_type: RtcpType, len: usize) {
    buf[0] = 0x80 | (count & 0x1f);
    buf[1] = packet_type.0;
    buf[2..4].copy_from_slice(&((len / 4 - 1) as u16).to_be_bytes());
}

/// Returns `buf[..len]` or the error saying how much was needed.
pub(crate) fn take(buf: &mut [u8], len: usize) -> Result<&mut [u8], crate::error::EmitError> {
    crate::rtp::take_mut(buf, 0, len)
}

/// Reads a big-endian `u32` at `at`; the caller guarantees the bytes exist.
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_version_length_and_padding() {
        // An RR with no report blocks: 8 bytes, length field 1.
        let rr = [0x80, 201, 0, 1, 0, 0, 0, 9];
        let p = RtcpPacket::new_checked(&rr[..]).unwrap();
        assert_eq!(
            (p.version(), p.count(), p.packet_type(), p.packet_len()),
            (2, 0, RtcpType::RR, 8)
        );
        assert_eq!(p.body(), &[0, 0, 0, 9]);
        assert_eq!(
            RtcpPacket::new_checked(&rr[..7]).unwrap_err(),
            RtcpError::Truncated { len: 7, needed: 8 }
        );
        assert_eq!(
            RtcpPacket::new_checked(&rr[..3]).unwrap_err(),
            RtcpError::Truncated { len: 3, needed: 4 }
        );
        let mut v1 = rr;
        v1[0] = 0x40;
        assert_eq!(
            RtcpPacket::new_checked(&v1[..]).unwrap_err(),
            RtcpError::Version(1)
        );
        // P bit with 4 bytes of padding: the body is empty.
        let padded = [0xA0, 201, 0, 1, 0, 0, 0, 4];
        let p = RtcpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!((p.padding_len(), p.body().len()), (4, 0));
        let over = [0xA0, 201, 0, 1, 0, 0, 0, 5];
        assert_eq!(
            RtcpPacket::new_checked(&over[..]).unwrap_err(),
            RtcpError::Padding { pad: 5, len: 8 }
        );
    }
}
