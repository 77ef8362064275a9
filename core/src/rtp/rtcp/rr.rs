//! RTCP receiver reports and report blocks (RFC 3550 §6.4.2, §6.4.1 for the block layout).
//!
//! # Contract
//!
//! - [`ReceiverReport::parse`] checks that the report count fits the packet; the blocks are
//!   then read in place by [`ReportBlocks`] (no allocation, no failure). Profile-specific
//!   extensions after the blocks (§6.4.3) are ignored.
//! - [`ReportBlock`] is the meaning of one 24-byte block; the cumulative loss is the signed
//!   24-bit field of §6.4.1 (negative when duplicates outnumber losses) and is clamped to
//!   that range on emit. `parse(emit(x)) == x` for every block in range (property-tested).

use crate::error::{EmitError, RtcpError};
use crate::rtp::header::Ssrc;
use crate::rtp::rtcp::{HEADER_LEN, MAX_COUNT, RtcpPacket, RtcpType, be32, take, write_header};

/// Length of one report block.
pub const REPORT_BLOCK_LEN: usize = 24;

/// One reception report block (RFC 3550 §6.4.1): what a receiver says about one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block reports on.
    pub ssrc: Ssrc,
    /// Fraction of packets lost since the previous report, in 1/256 (A.3).
    pub fraction_lost: u8,
    /// Cumulative packets lost, signed 24-bit (−8388608 … 8388607).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles << 16 | highest).
    pub highest_sequence: u32,
    /// Interarrival jitter, timestamp units (A.8).
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR from this source (0 if none).
    pub last_sr: u32,
    /// Delay since that SR was received, in 1/65536 s (0 if none).
    pub delay_since_last_sr: u32,
}

impl ReportBlock {
    /// Smallest cumulative loss the 24-bit field holds.
    pub const CUMULATIVE_LOST_MIN: i32 = -0x80_0000;
    /// Largest cumulative loss the 24-bit field holds.
    pub const CUMULATIVE_LOST_MAX: i32 = 0x7F_FFFF;

    /// Reads a block from the first 24 bytes of `b`, or `None` if `b` is shorter.
    pub fn parse(b: &[u8]) -> Option<ReportBlock> {
        let b = b.get(..REPORT_BLOCK_LEN)?;
        // Sign-extend the 24-bit cumulative loss.
        let cumulative_lost = i32::from_be_bytes([b[5], b[6], b[7], 0]) >> 8;
        Some(ReportBlock {
            ssrc: Ssrc(be32(b, 0)),
            fraction_lost: b[4],
            cumulative_lost,
            highest_sequence: be32(b, 8),
            jitter: be32(b, 12),
            last_sr: be32(b, 16),
            delay_since_last_sr: be32(b, 20),
        })
    }

    /// Writes the block into `buf[..24]` (cumulative loss clamped to 24 bits).
    ///
    /// # Errors
    ///
    /// [`EmitError::BufferTooSmall`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let out = take(buf, REPORT_BLOCK_LEN)?;
        let lost = self
            .cumulative_lost
            .clamp(Self::CUMULATIVE_LOST_MIN, Self::CUMULATIVE_LOST_MAX)
            .to_be_bytes();
        out[0..4].copy_from_slice(&self.ssrc.0.to_be_bytes());
        out[4] = self.fraction_lost;
        out[5..8].copy_from_slice(&lost[1..4]);
        out[8..12].copy_from_slice(&self.highest_sequence.to_be_bytes());
        out[12..16].copy_from_slice(&self.jitter.to_be_bytes());
        out[16..20].copy_from_slice(&self.last_sr.to_be_bytes());
        out[20..24].copy_from_slice(&self.delay_since_last_sr.to_be_bytes());
        Ok(REPORT_BLOCK_LEN)
    }
}

/// The report blocks of an SR or RR, read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlocks<'a> {
    bytes: &'a [u8],
}

impl<'a> ReportBlocks<'a> {
    /// Blocks over `bytes`, whose length is a multiple of 24 (trailing bytes are ignored).
    pub(crate) fn new(bytes: &'a [u8]) -> ReportBlocks<'a> {
        ReportBlocks { bytes }
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.bytes.len() / REPORT_BLOCK_LEN
    }

    /// True without blocks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let block = ReportBlock::parse(self.bytes)?;
        self.bytes = &self.bytes[REPORT_BLOCK_LEN..];
        Some(block)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len(), Some(self.len()))
    }
}

impl ExactSizeIterator for ReportBlocks<'_> {}

/// Checks that `count` blocks follow `fixed` bytes of `body` and returns them.
pub(crate) fn blocks_after<'a>(
    body: &'a [u8],
    fixed: usize,
    count: u8,
    packet_type: RtcpType,
) -> Result<ReportBlocks<'a>, RtcpError> {
    let end = fixed + usize::from(count) * REPORT_BLOCK_LEN;
    match body.get(fixed..end) {
        Some(bytes) => Ok(ReportBlocks::new(bytes)),
        None => Err(RtcpError::Count {
            count,
            packet_type: packet_type.0,
            len: body.len() + HEADER_LEN,
        }),
    }
}

/// Writes `blocks` after the `fixed`-byte part of a report packet and its header; returns
/// the packet length.
pub(crate) fn emit_report(
    buf: &mut [u8],
    packet_type: RtcpType,
    fixed: &[u8],
    blocks: &[ReportBlock],
) -> Result<usize, EmitError> {
    if blocks.len() > MAX_COUNT {
        return Err(EmitError::TooMany {
            count: blocks.len(),
            max: MAX_COUNT,
        });
    }
    let len = HEADER_LEN + fixed.len() + blocks.len() * REPORT_BLOCK_LEN;
    let out = take(buf, len)?;
    write_header(out, blocks.len() as u8, packet_type, len);
    out[HEADER_LEN..HEADER_LEN + fixed.len()].copy_from_slice(fixed);
    let mut at = HEADER_LEN + fixed.len();
    for block in blocks {
        at += block.emit(&mut out[at..])?;
    }
    Ok(len)
}

/// A receiver report (RFC 3550 §6.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverReport<'a> {
    /// The reporter's SSRC.
    pub ssrc: Ssrc,
    /// The report blocks.
    pub report_blocks: ReportBlocks<'a>,
}

impl<'a> ReceiverReport<'a> {
    /// Reads an RR from a checked packet.
    ///
    /// # Errors
    ///
    /// [`RtcpError::PacketType`] if it is not an RR; [`RtcpError::Count`] if the blocks or
    /// the SSRC do not fit.
    pub fn parse(packet: &RtcpPacket<&'a [u8]>) -> Result<ReceiverReport<'a>, RtcpError> {
        if packet.packet_type() != RtcpType::RR {
            return Err(RtcpError::PacketType(packet.packet_type().0));
        }
        let body = packet.body_ref();
        let report_blocks = blocks_after(body, 4, packet.count(), RtcpType::RR)?;
        Ok(ReceiverReport {
            ssrc: Ssrc(be32(body, 0)),
            report_blocks,
        })
    }

    /// Length of an RR with `blocks` report blocks.
    pub const fn buffer_len(blocks: usize) -> usize {
        HEADER_LEN + 4 + blocks * REPORT_BLOCK_LEN
    }

    /// Writes an RR from `ssrc` with `blocks` into `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// [`EmitError::TooMany`] over 31 blocks; [`EmitError::BufferTooSmall`].
    pub fn emit(ssrc: Ssrc, blocks: &[ReportBlock], buf: &mut [u8]) -> Result<usize, EmitError> {
        emit_report(buf, RtcpType::RR, &ssrc.0.to_be_bytes(), blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3550 §6.4.2 by hand: RR from 0x11223344 with one block about 0xAABBCCDD:
    /// fraction 64/256, cumulative −2 (duplicates), highest 0x0001_0005, jitter 37,
    /// LSR 0x12345678, DLSR 0x00018000 (1.5 s).
    const RR_ONE_BLOCK: [u8; 32] = [
        0x81, 201, 0x00, 0x07, 0x11, 0x22, 0x33, 0x44, //
        0xAA, 0xBB, 0xCC, 0xDD, 0x40, 0xFF, 0xFF, 0xFE, //
        0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0x25, //
        0x12, 0x34, 0x56, 0x78, 0x00, 0x01, 0x80, 0x00,
    ];

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: Ssrc(0xAABB_CCDD),
            fraction_lost: 64,
            cumulative_lost: -2,
            highest_sequence: 0x0001_0005,
            jitter: 37,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 0x0001_8000,
        }
    }

    #[test]
    fn parses_a_hand_built_receiver_report() {
        let p = RtcpPacket::new_checked(&RR_ONE_BLOCK[..]).unwrap();
        let rr = ReceiverReport::parse(&p).unwrap();
        assert_eq!(rr.ssrc, Ssrc(0x1122_3344));
        assert_eq!(rr.report_blocks.len(), 1);
        assert_eq!(rr.report_blocks.collect::<Vec<_>>(), [block()]);
    }

    #[test]
    fn emits_the_same_bytes() {
        let mut out = [0u8; 64];
        let n = ReceiverReport::emit(Ssrc(0x1122_3344), &[block()], &mut out).unwrap();
        assert_eq!(&out[..n], &RR_ONE_BLOCK);
        assert_eq!(ReceiverReport::buffer_len(1), n);
    }

    #[test]
    fn count_larger_than_packet_is_rejected() {
        let mut bad = RR_ONE_BLOCK;
        bad[0] = 0x82;
        let p = RtcpPacket::new_checked(&bad[..]).unwrap();
        assert_eq!(
            ReceiverReport::parse(&p),
            Err(RtcpError::Count {
                count: 2,
                packet_type: 201,
                len: 32
            })
        );
        let sr = [0x80, 200, 0, 0];
        let p = RtcpPacket::new_checked(&sr[..]).unwrap();
        assert_eq!(ReceiverReport::parse(&p), Err(RtcpError::PacketType(200)));
    }

    #[test]
    fn cumulative_loss_is_clamped_to_24_bits() {
        let mut out = [0u8; 24];
        let huge = ReportBlock {
            cumulative_lost: i32::MAX,
            ..block()
        };
        huge.emit(&mut out).unwrap();
        assert_eq!(
            ReportBlock::parse(&out).unwrap().cumulative_lost,
            ReportBlock::CUMULATIVE_LOST_MAX
        );
        let tiny = ReportBlock {
            cumulative_lost: i32::MIN,
            ..block()
        };
        tiny.emit(&mut out).unwrap();
        assert_eq!(
            ReportBlock::parse(&out).unwrap().cumulative_lost,
            ReportBlock::CUMULATIVE_LOST_MIN
        );
    }

    #[test]
    fn too_many_blocks_is_an_error() {
        let blocks = [block(); 32];
        let mut out = [0u8; 1024];
        assert_eq!(
            ReceiverReport::emit(Ssrc(1), &blocks, &mut out),
            Err(EmitError::TooMany { count: 32, max: 31 })
        );
    }
}
