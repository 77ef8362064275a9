//! RTCP goodbye (RFC 3550 §6.6): the sources leaving and an optional reason.
//!
//! # Contract
//!
//! - [`Goodbye::parse`] checks that the sources and the reason fit the packet; the sources
//!   are then read in place. Bytes after the reason are padding.
//! - [`Goodbye::emit`] writes the sources and the reason, zero-padded to a 32-bit boundary,
//!   into the caller's buffer; parsing the result gives back the same sources and reason
//!   (property-tested).

use crate::error::{EmitError, RtcpError};
use crate::rtp::header::Ssrc;
use crate::rtp::rtcp::{HEADER_LEN, MAX_COUNT, RtcpPacket, RtcpType, be32, take, write_header};

/// A goodbye packet (RFC 3550 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Goodbye<'a> {
    sources: &'a [u8],
    /// The reason for leaving, if given (UTF-8 by the RFC, not checked here).
    pub reason: Option<&'a [u8]>,
}

impl<'a> Goodbye<'a> {
    /// Reads a BYE from a checked packet.
    ///
    /// # Errors
    ///
    /// [`RtcpError::PacketType`] if it is not a BYE; [`RtcpError::Count`] if the sources do
    /// not fit; [`RtcpError::Item`] if the reason overruns the packet.
    pub fn parse(packet: &RtcpPacket<&'a [u8]>) -> Result<Goodbye<'a>, RtcpError> {
        if packet.packet_type() != RtcpType::BYE {
            return Err(RtcpError::PacketType(packet.packet_type().0));
        }
        let body = packet.body_ref();
        let end = 4 * usize::from(packet.count());
        let sources = body.get(..end).ok_or(RtcpError::Count {
            count: packet.count(),
            packet_type: RtcpType::BYE.0,
            len: body.len() + HEADER_LEN,
        })?;
        let reason = match body.get(end) {
            None => None,
            Some(&len) => Some(body.get(end + 1..end + 1 + usize::from(len)).ok_or(
                RtcpError::Item {
                    offset: HEADER_LEN + end,
                },
            )?),
        };
        Ok(Goodbye { sources, reason })
    }

    /// Number of sources leaving.
    pub fn len(&self) -> usize {
        self.sources.len() / 4
    }

    /// True without sources.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The sources leaving, in place.
    pub fn sources(&self) -> impl ExactSizeIterator<Item = Ssrc> + 'a {
        self.sources.chunks_exact(4).map(|c| Ssrc(be32(c, 0)))
    }

    /// Length of a BYE with `sources` sources and a reason of `reason_len` bytes.
    pub fn buffer_len(sources: usize, reason_len: Option<usize>) -> usize {
        let reason = reason_len.map_or(0, |n| (1 + n).div_ceil(4) * 4);
        HEADER_LEN + 4 * sources + reason
    }

    /// Writes a BYE into `buf` and returns its length.
    ///
    /// # Errors
    ///
    /// [`EmitError::TooMany`] over 31 sources; [`EmitError::Length`] for a reason over 255
    /// bytes; [`EmitError::BufferTooSmall`].
    pub fn emit(
        sources: &[Ssrc],
        reason: Option<&[u8]>,
        buf: &mut [u8],
    ) -> Result<usize, EmitError> {
        if sources.len() > MAX_COUNT {
            return Err(EmitError::TooMany {
                count: sources.len(),
                max: MAX_COUNT,
            });
        }
        if let Some(r) = reason.filter(|r| r.len() > 255) {
            return Err(EmitError::Length { len: r.len() });
        }
        let len = Self::buffer_len(sources.len(), reason.map(<[u8]>::len));
        let out = take(buf, len)?;
        write_header(out, sources.len() as u8, RtcpType::BYE, len);
        let mut at = HEADER_LEN;
        for ssrc in sources {
            out[at..at + 4].copy_from_slice(&ssrc.0.to_be_bytes());
            at += 4;
        }
        if let Some(reason) = reason {
            out[at] = reason.len() as u8;
            out[at + 1..at + 1 + reason.len()].copy_from_slice(reason);
            out[at + 1 + reason.len()..len].fill(0);
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3550 §6.6 by hand: BYE for 0x01020304 and 0x05060708, reason "done" padded.
    const BYE: [u8; 20] = [
        0x82, 203, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, //
        0x04, b'd', b'o', b'n', b'e', 0x00, 0x00, 0x00,
    ];

    #[test]
    fn parses_and_emits_sources_and_reason() {
        let p = RtcpPacket::new_checked(&BYE[..]).unwrap();
        let bye = Goodbye::parse(&p).unwrap();
        assert_eq!(
            bye.sources().collect::<Vec<_>>(),
            [Ssrc(0x0102_0304), Ssrc(0x0506_0708)]
        );
        assert_eq!(bye.reason, Some(&b"done"[..]));
        let mut out = [0u8; 32];
        let n = Goodbye::emit(
            &[Ssrc(0x0102_0304), Ssrc(0x0506_0708)],
            Some(b"done"),
            &mut out,
        )
        .unwrap();
        assert_eq!(&out[..n], &BYE);
    }

    #[test]
    fn bye_without_reason_and_overruns() {
        let plain = [0x81, 203, 0, 1, 0, 0, 0, 9];
        let p = RtcpPacket::new_checked(&plain[..]).unwrap();
        let bye = Goodbye::parse(&p).unwrap();
        assert_eq!((bye.len(), bye.reason), (1, None));
        let mut more = plain;
        more[0] = 0x82;
        let p = RtcpPacket::new_checked(&more[..]).unwrap();
        assert!(matches!(
            Goodbye::parse(&p),
            Err(RtcpError::Count { count: 2, .. })
        ));
        let mut long_reason = BYE;
        long_reason[12] = 9;
        let p = RtcpPacket::new_checked(&long_reason[..]).unwrap();
        assert_eq!(Goodbye::parse(&p), Err(RtcpError::Item { offset: 12 }));
    }
}
