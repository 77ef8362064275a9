//! RTCP sender reports (RFC 3550 §6.4.1) and the NTP timestamp they carry (§4).
//!
//! # Contract
//!
//! - [`SenderReport::parse`] checks the sender info and the report count against the packet
//!   length; blocks are then read in place. Profile-specific extensions (§6.4.3) are ignored.
//! - [`SenderReport::emit`] writes into the caller's buffer and returns the length;
//!   parsing what it wrote gives back the SSRC, sender info and blocks (property-tested).
//! - [`NtpTime`] converts to and from microseconds since the Unix epoch without floating
//!   point; the conversion is exact to the microsecond in both directions.

use crate::error::{EmitError, RtcpError};
use crate::rtp::header::{RtpTimestamp, Ssrc};
use crate::rtp::rtcp::rr::{
    REPORT_BLOCK_LEN, ReportBlock, ReportBlocks, blocks_after, emit_report,
};
use crate::rtp::rtcp::{HEADER_LEN, RtcpPacket, RtcpType, be32};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp (RFC 3550 §4): seconds since 1900 in the high 32 bits, the
/// fraction of a second in the low 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// The NTP time of `us` microseconds after the Unix epoch.
    pub const fn from_unix_micros(us: u64) -> NtpTime {
        let secs = us / 1_000_000 + NTP_UNIX_OFFSET_S;
        let frac = ((us % 1_000_000) << 32).div_ceil(1_000_000);
        NtpTime((secs << 32) | frac)
    }

    /// Microseconds after the Unix epoch (0 for times before it).
    pub const fn to_unix_micros(self) -> u64 {
        let secs = (self.0 >> 32).saturating_sub(NTP_UNIX_OFFSET_S);
        let frac = ((self.0 & 0xFFFF_FFFF) * 1_000_000) >> 32;
        secs * 1_000_000 + frac
    }

    /// The middle 32 bits: the compact form of the LSR field (§6.4.1), units of 1/65536 s.
    pub const fn compact(self) -> u32 {
        (self.0 >> 16) as u32
    }
}

/// Converts a duration in 1/65536 s (the DLSR and round-trip unit) to microseconds.
pub const fn compact_to_micros(compact: u32) -> u64 {
    (compact as u64 * 1_000_000) >> 16
}

/// Converts microseconds to 1/65536 s, saturating at `u32::MAX` (about 18 hours).
pub const fn micros_to_compact(us: u64) -> u32 {
    let v = us.saturating_mul(65_536) / 1_000_000;
    if v > u32::MAX as u64 {
        u32::MAX
    } else {
        v as u32
    }
}

/// The sender information of an SR (§6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// Wallclock time when the report was sent.
    pub ntp_time: NtpTime,
    /// The same instant in the stream's RTP timestamp units.
    pub rtp_timestamp: RtpTimestamp,
    /// Packets sent since the start (wraps).
    pub packet_count: u32,
    /// Payload octets sent since the start (wraps).
    pub octet_count: u32,
}

/// Length of the SSRC and sender info after the common header.
const FIXED_LEN: usize = 24;

/// A sender report (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport<'a> {
    /// The sender's SSRC.
    pub ssrc: Ssrc,
    /// The sender information.
    pub sender_info: SenderInfo,
    /// Reception report blocks, read in place.
    pub report_blocks: ReportBlocks<'a>,
}

impl<'a> SenderReport<'a> {
    /// Reads an SR from a checked packet.
    ///
    /// # Errors
    ///
    /// [`RtcpError::PacketType`] if it is not an SR; [`RtcpError::Count`] if the sender info
    /// or the blocks do not fit.
    pub fn parse(packet: &RtcpPacket<&'a [u8]>) -> Result<SenderReport<'a>, RtcpError> {
        if packet.packet_type() != RtcpType::SR {
            return Err(RtcpError::PacketType(packet.packet_type().0));
        }
        let body = packet.body_ref();
        let report_blocks = blocks_after(body, FIXED_LEN, packet.count(), RtcpType::SR)?;
        let ntp = (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8));
        Ok(SenderReport {
            ssrc: Ssrc(be32(body, 0)),
            sender_info: SenderInfo {
                ntp_time: NtpTime(ntp),
                rtp_timestamp: RtpTimestamp(be32(body, 12)),
                packet_count: be32(body, 16),
                octet_count: be32(body, 20),
            },
            report_blocks,
        })
    }

    /// Length of an SR with `blocks` report blocks.
    pub const fn buffer_len(blocks: usize) -> usize {
        HEADER_LEN + FIXED_LEN + blocks * REPORT_BLOCK_LEN
    }

    /// Writes an SR into `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// [`EmitError::TooMany`] over 31 blocks; [`EmitError::BufferTooSmall`].
    pub fn emit(
        ssrc: Ssrc,
        info: &SenderInfo,
        blocks: &[ReportBlock],
        buf: &mut [u8],
    ) -> Result<usize, EmitError> {
        let mut fixed = [0u8; FIXED_LEN];
        fixed[0..4].copy_from_slice(&ssrc.0.to_be_bytes());
        fixed[4..12].copy_from_slice(&info.ntp_time.0.to_be_bytes());
        fixed[12..16].copy_from_slice(&info.rtp_timestamp.0.to_be_bytes());
        fixed[16..20].copy_from_slice(&info.packet_count.to_be_bytes());
        fixed[20..24].copy_from_slice(&info.octet_count.to_be_bytes());
        emit_report(buf, RtcpType::SR, &fixed, blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3550 §6.4.1 by hand: SR from 0x01020304, NTP 0xE1D2C3B4.80000000 (half a second),
    /// RTP timestamp 160000, 500 packets, 80000 octets, no blocks.
    const SR_NO_BLOCKS: [u8; 28] = [
        0x80, 200, 0x00, 0x06, 0x01, 0x02, 0x03, 0x04, //
        0xE1, 0xD2, 0xC3, 0xB4, 0x80, 0x00, 0x00, 0x00, //
        0x00, 0x02, 0x71, 0x00, 0x00, 0x00, 0x01, 0xF4, //
        0x00, 0x01, 0x38, 0x80,
    ];

    fn info() -> SenderInfo {
        SenderInfo {
            ntp_time: NtpTime(0xE1D2_C3B4_8000_0000),
            rtp_timestamp: RtpTimestamp(160_000),
            packet_count: 500,
            octet_count: 80_000,
        }
    }

    #[test]
    fn parses_and_emits_a_hand_built_sender_report() {
        let p = RtcpPacket::new_checked(&SR_NO_BLOCKS[..]).unwrap();
        let sr = SenderReport::parse(&p).unwrap();
        assert_eq!(sr.ssrc, Ssrc(0x0102_0304));
        assert_eq!(sr.sender_info, info());
        assert!(sr.report_blocks.is_empty());
        let mut out = [0u8; 64];
        let n = SenderReport::emit(Ssrc(0x0102_0304), &info(), &[], &mut out).unwrap();
        assert_eq!(&out[..n], &SR_NO_BLOCKS);
    }

    #[test]
    fn truncated_sender_info_is_a_count_error() {
        let short = [0x80, 200, 0x00, 0x01, 0, 0, 0, 1];
        let p = RtcpPacket::new_checked(&short[..]).unwrap();
        assert!(matches!(
            SenderReport::parse(&p),
            Err(RtcpError::Count { count: 0, .. })
        ));
    }

    #[test]
    fn ntp_time_converts_to_and_from_unix_micros() {
        // 2000-01-01T00:00:00.5Z
        let us = 946_684_800_500_000;
        let ntp = NtpTime::from_unix_micros(us);
        assert_eq!(ntp.0 >> 32, 946_684_800 + 2_208_988_800);
        assert_eq!(ntp.0 & 0xFFFF_FFFF, 0x8000_0000);
        assert_eq!(ntp.to_unix_micros(), us);
        for us in [0u64, 1, 999_999, 1_234_567_890_123_457] {
            assert_eq!(NtpTime::from_unix_micros(us).to_unix_micros(), us);
        }
        assert_eq!(NtpTime(0x0001_0002_0003_0004).compact(), 0x0002_0003);
        assert_eq!(compact_to_micros(0x0001_8000), 1_500_000);
        assert_eq!(micros_to_compact(1_500_000), 0x0001_8000);
    }
}
