//! RTCP compound packets (RFC 3550 §6.1): several RTCP packets in one datagram, iterated in
//! place, and a writer that appends packets into the caller's buffer.
//!
//! # Contract
//!
//! - [`Compound::new_checked`] never panics. It accepts a datagram only if it splits exactly
//!   into RTCP packets that each pass [`RtcpPacket::check`], with the P bit on the last packet
//!   only (RFC 3550 A.2). It does not insist on an SR or RR first, since reduced-size RTCP
//!   (RFC 5506) drops that rule; [`Compound::starts_with_report`] tells.
//! - [`Compound::packets`] yields every packet as a checked view. [`Compound::reprs`] yields
//!   the packets Tandem understands (SR, RR, SDES, BYE) as validated representations, an
//!   error for a known type that is malformed (the rest still iterates), and skips other
//!   types, counting them in [`RtcpReprs::skipped_unknown`]. No allocation.
//! - [`CompoundWriter`] appends SR, RR, SDES and BYE packets one after another and returns the
//!   total length; a packet that does not fit leaves the buffer's earlier packets intact.

use crate::error::{EmitError, RtcpError};
use crate::rtp::header::Ssrc;
use crate::rtp::rtcp::{
    Goodbye, HEADER_LEN, ReceiverReport, ReportBlock, RtcpPacket, RtcpType, SdesItem, SenderInfo,
    SenderReport, SourceDescription,
};

/// A validated compound RTCP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compound<'a> {
    bytes: &'a [u8],
}

impl<'a> Compound<'a> {
    /// Validates the framing of every packet in `bytes`.
    ///
    /// # Errors
    ///
    /// The first packet's [`RtcpPacket::check`] error; [`RtcpError::Truncated`] for an empty
    /// datagram; [`RtcpError::Padding`] for padding on a packet other than the last.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Compound<'a>, RtcpError> {
        if bytes.is_empty() {
            return Err(RtcpError::Truncated {
                len: 0,
                needed: HEADER_LEN,
            });
        }
        let mut at = 0;
        while at < bytes.len() {
            let packet = RtcpPacket::new_checked(&bytes[at..])?;
            let len = packet.packet_len();
            if packet.padding() && at + len != bytes.len() {
                return Err(RtcpError::Padding {
                    pad: bytes[at + len - 1],
                    len,
                });
            }
            at += len;
        }
        Ok(Compound { bytes })
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// True if the first packet is an SR or RR (RFC 3550 §6.1; not required by RFC 5506).
    pub fn starts_with_report(&self) -> bool {
        matches!(self.bytes.get(1), Some(&200 | &201))
    }

    /// Every packet, as a checked view.
    pub fn packets(&self) -> RtcpPackets<'a> {
        RtcpPackets { rest: self.bytes }
    }

    /// The SR, RR, SDES and BYE packets as validated representations; other types skipped
    /// and counted.
    pub fn reprs(&self) -> RtcpReprs<'a> {
        RtcpReprs {
            packets: self.packets(),
            skipped_unknown: 0,
        }
    }
}

/// Iterator over the packets of a [`Compound`].
#[derive(Debug, Clone)]
pub struct RtcpPackets<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RtcpPackets<'a> {
    type Item = RtcpPacket<&'a [u8]>;

    fn next(&mut self) -> Option<RtcpPacket<&'a [u8]>> {
        let packet = RtcpPacket::new_checked(self.rest).ok()?;
        let (this, rest) = self.rest.split_at(packet.packet_len());
        self.rest = rest;
        Some(RtcpPacket::new_unchecked(this))
    }
}

/// A packet of a compound that Tandem understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpRepr<'a> {
    /// Sender report.
    SenderReport(SenderReport<'a>),
    /// Receiver report.
    ReceiverReport(ReceiverReport<'a>),
    /// Source description.
    SourceDescription(SourceDescription<'a>),
    /// Goodbye.
    Goodbye(Goodbye<'a>),
}

impl<'a> RtcpRepr<'a> {
    /// Parses one checked packet; `Ok(None)` for a type Tandem does not read.
    ///
    /// # Errors
    ///
    /// The type's own parse error.
    pub fn parse(packet: &RtcpPacket<&'a [u8]>) -> Result<Option<RtcpRepr<'a>>, RtcpError> {
        Ok(Some(match packet.packet_type() {
            RtcpType::SR => RtcpRepr::SenderReport(SenderReport::parse(packet)?),
            RtcpType::RR => RtcpRepr::ReceiverReport(ReceiverReport::parse(packet)?),
            RtcpType::SDES => RtcpRepr::SourceDescription(SourceDescription::parse(packet)?),
            RtcpType::BYE => RtcpRepr::Goodbye(Goodbye::parse(packet)?),
            _ => return Ok(None),
        }))
    }
}

/// Iterator over the understood packets of a [`Compound`].
#[derive(Debug, Clone)]
pub struct RtcpReprs<'a> {
    packets: RtcpPackets<'a>,
    skipped_unknown: u32,
}

impl RtcpReprs<'_> {
    /// Packets of other types skipped so far.
    pub fn skipped_unknown(&self) -> u32 {
        self.skipped_unknown
    }
}

impl<'a> Iterator for RtcpReprs<'a> {
    type Item = Result<RtcpRepr<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        for packet in self.packets.by_ref() {
            match RtcpRepr::parse(&packet) {
                Ok(Some(repr)) => return Some(Ok(repr)),
                Ok(None) => self.skipped_unknown += 1,
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }
}

/// Appends RTCP packets into a caller buffer to build a compound datagram (RFC 3550 §6.1:
/// start with an SR or RR, include an SDES CNAME).
#[derive(Debug)]
pub struct CompoundWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> CompoundWriter<'b> {
    /// An empty compound over `buf`.
    pub fn new(buf: &'b mut [u8]) -> CompoundWriter<'b> {
        CompoundWriter { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first packet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(
        &mut self,
        emit: impl FnOnce(&mut [u8]) -> Result<usize, EmitError>,
    ) -> Result<&mut Self, EmitError> {
        let n = emit(&mut self.buf[self.len..]).map_err(|e| match e {
            EmitError::BufferTooSmall { needed, .. } => EmitError::BufferTooSmall {
                needed: self.len + needed,
                available: self.buf.len(),
            },
            other => other,
        })?;
        self.len += n;
        Ok(self)
    }

    /// Appends a sender report.
    ///
    /// # Errors
    ///
    /// As [`SenderReport::emit`].
    pub fn sender_report(
        &mut self,
        ssrc: Ssrc,
        info: &SenderInfo,
        blocks: &[ReportBlock],
    ) -> Result<&mut Self, EmitError> {
        self.push(|b| SenderReport::emit(ssrc, info, blocks, b))
    }

    /// Appends a receiver report.
    ///
    /// # Errors
    ///
    /// As [`ReceiverReport::emit`].
    pub fn receiver_report(
        &mut self,
        ssrc: Ssrc,
        blocks: &[ReportBlock],
    ) -> Result<&mut Self, EmitError> {
        self.push(|b| ReceiverReport::emit(ssrc, blocks, b))
    }

    /// Appends a source description.
    ///
    /// # Errors
    ///
    /// As [`SourceDescription::emit`].
    pub fn source_description(
        &mut self,
        chunks: &[(Ssrc, &[SdesItem<'_>])],
    ) -> Result<&mut Self, EmitError> {
        self.push(|b| SourceDescription::emit(chunks, b))
    }

    /// Appends an SDES packet with a CNAME only.
    ///
    /// # Errors
    ///
    /// As [`SourceDescription::emit_cname`].
    pub fn cname(&mut self, ssrc: Ssrc, cname: &[u8]) -> Result<&mut Self, EmitError> {
        self.push(|b| SourceDescription::emit_cname(ssrc, cname, b))
    }

    /// Appends a goodbye.
    ///
    /// # Errors
    ///
    /// As [`Goodbye::emit`].
    pub fn goodbye(
        &mut self,
        sources: &[Ssrc],
        reason: Option<&[u8]>,
    ) -> Result<&mut Self, EmitError> {
        self.push(|b| Goodbye::emit(sources, reason, b))
    }

    /// The compound's length.
    pub fn finish(self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::header::RtpTimestamp;
    use crate::rtp::rtcp::NtpTime;

    /// RFC 3550 §6.1 by hand: RR (no blocks) + an APP packet (type 204, skipped) + SDES CNAME
    /// "a" + BYE, the last with 4 bytes of padding.
    const COMPOUND: [u8; 40] = [
        0x80, 201, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, // RR
        0x80, 204, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, b'n', b'a', b'm', b'e', // APP
        0x81, 202, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, 0x01, 0x01, b'a', 0x00, // SDES
        0xA1, 203, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, // BYE, P bit…
    ];

    #[test]
    fn iterates_packets_and_skips_unknown_types() {
        let mut bytes = COMPOUND.to_vec();
        // …with padding: grow the BYE by one word whose last byte is the count.
        bytes[35] = 2;
        bytes.extend_from_slice(&[0, 0, 0, 4]);
        let c = Compound::new_checked(&bytes).unwrap();
        assert!(c.starts_with_report());
        let types: Vec<u8> = c.packets().map(|p| p.packet_type().0).collect();
        assert_eq!(types, [201, 204, 202, 203]);
        let mut reprs = c.reprs();
        assert!(
            matches!(reprs.next(), Some(Ok(RtcpRepr::ReceiverReport(rr))) if rr.ssrc == Ssrc(5))
        );
        match reprs.next() {
            Some(Ok(RtcpRepr::SourceDescription(s))) => {
                assert_eq!(s.chunks().next().and_then(|c| c.cname()), Some(&b"a"[..]));
            }
            other => panic!("{other:?}"),
        }
        match reprs.next() {
            Some(Ok(RtcpRepr::Goodbye(b))) => assert_eq!(b.sources().next(), Some(Ssrc(5))),
            other => panic!("{other:?}"),
        }
        assert!(reprs.next().is_none());
        assert_eq!(reprs.skipped_unknown(), 1);
    }

    #[test]
    fn framing_errors_are_rejected() {
        assert_eq!(
            Compound::new_checked(&[]),
            Err(RtcpError::Truncated { len: 0, needed: 4 })
        );
        // Trailing bytes that are not a packet.
        let mut trailing = COMPOUND[..32].to_vec();
        trailing.extend_from_slice(&[0x80, 201]);
        assert_eq!(
            Compound::new_checked(&trailing),
            Err(RtcpError::Truncated { len: 2, needed: 4 })
        );
        // Padding on a packet that is not the last.
        let mut padded_first = COMPOUND[..32].to_vec();
        padded_first[0] = 0xA0;
        padded_first[7] = 4;
        assert_eq!(
            Compound::new_checked(&padded_first),
            Err(RtcpError::Padding { pad: 4, len: 8 })
        );
    }

    #[test]
    fn a_malformed_known_packet_is_reported_and_iteration_continues() {
        let mut bytes = COMPOUND[..32].to_vec();
        bytes[0] = 0x81; // RR announces a block it does not carry
        let c = Compound::new_checked(&bytes).unwrap();
        let results: Vec<_> = c.reprs().map(|r| r.is_ok()).collect();
        assert_eq!(results, [false, true]);
    }

    #[test]
    fn writer_builds_sr_plus_sdes_and_reports_short_buffers() {
        let info = SenderInfo {
            ntp_time: NtpTime(1 << 32),
            rtp_timestamp: RtpTimestamp(8000),
            packet_count: 50,
            octet_count: 8000,
        };
        let block = ReportBlock {
            ssrc: Ssrc(9),
            ..ReportBlock::default()
        };
        let mut buf = [0u8; 256];
        let mut w = CompoundWriter::new(&mut buf);
        w.sender_report(Ssrc(1), &info, &[block])
            .unwrap()
            .cname(Ssrc(1), b"tandem@example")
            .unwrap();
        let n = w.finish();
        assert_eq!(n, SenderReport::buffer_len(1) + 28);
        let c = Compound::new_checked(&buf[..n]).unwrap();
        assert_eq!(c.reprs().filter(Result::is_ok).count(), 2);

        let mut small = [0u8; 60];
        let mut w = CompoundWriter::new(&mut small);
        w.receiver_report(Ssrc(1), &[]).unwrap();
        assert_eq!(
            w.cname(Ssrc(1), &[b'x'; 60]).unwrap_err(),
            EmitError::BufferTooSmall {
                needed: 8 + 72,
                available: 60
            }
        );
        assert_eq!(w.len(), 8);
    }
}
