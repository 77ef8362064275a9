//! RTCP source description (RFC 3550 §6.5): chunks of (SSRC, items), CNAME above all.
//!
//! # Contract
//!
//! - [`SourceDescription::parse`] walks every chunk and item once and rejects overruns
//!   ([`RtcpError::Item`]); afterwards [`SourceDescription::chunks`] and
//!   [`SdesChunk::items`] iterate in place without failing or allocating.
//! - Each chunk's item list ends with a null item and is padded to a 32-bit boundary
//!   (§6.5). On receipt the padding is read leniently: a chunk whose terminator is the last
//!   byte of the packet is accepted.
//! - [`SourceDescription::emit`] writes chunks with their terminators and padding into the
//!   caller's buffer and returns the length; parsing the result gives back the same chunks and
//!   items (property-tested).

use crate::error::{EmitError, RtcpError};
use crate::rtp::header::Ssrc;
use crate::rtp::rtcp::{HEADER_LEN, MAX_COUNT, RtcpPacket, RtcpType, be32, take, write_header};

/// SDES item type (RFC 3550 §6.5, §12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SdesItemType(pub u8);

impl SdesItemType {
    /// Canonical end-point identifier (§6.5.1); the one item every compound carries.
    pub const CNAME: SdesItemType = SdesItemType(1);
    /// User name (§6.5.2).
    pub const NAME: SdesItemType = SdesItemType(2);
    /// Email address (§6.5.3).
    pub const EMAIL: SdesItemType = SdesItemType(3);
    /// Phone number (§6.5.4).
    pub const PHONE: SdesItemType = SdesItemType(4);
    /// Geographic location (§6.5.5).
    pub const LOC: SdesItemType = SdesItemType(5);
    /// Application or tool name (§6.5.6).
    pub const TOOL: SdesItemType = SdesItemType(6);
    /// Notice/status (§6.5.7).
    pub const NOTE: SdesItemType = SdesItemType(7);
    /// Private extension (§6.5.8).
    pub const PRIV: SdesItemType = SdesItemType(8);
}

/// One SDES item: type and value (UTF-8 by the RFC, not checked here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    /// The item type (never 0, the terminator).
    pub item_type: SdesItemType,
    /// The value, at most 255 bytes.
    pub value: &'a [u8],
}

/// One SDES chunk: a source and its items, read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    /// The SSRC or CSRC described.
    pub ssrc: Ssrc,
    /// The item bytes, from the first item to the null terminator (excluded).
    items: &'a [u8],
}

impl<'a> SdesChunk<'a> {
    /// The items of this chunk, in place.
    pub fn items(&self) -> SdesItems<'a> {
        SdesItems { bytes: self.items }
    }

    /// The CNAME of this chunk, if it has one.
    pub fn cname(&self) -> Option<&'a [u8]> {
        self.items()
            .find(|i| i.item_type == SdesItemType::CNAME)
            .map(|i| i.value)
    }
}

/// Iterator over the items of a chunk.
#[derive(Debug, Clone)]
pub struct SdesItems<'a> {
    bytes: &'a [u8],
}

impl<'a> Iterator for SdesItems<'a> {
    type Item = SdesItem<'a>;

    fn next(&mut self) -> Option<SdesItem<'a>> {
        let (&kind, rest) = self.bytes.split_first()?;
        let (&len, rest) = rest.split_first()?;
        let value = rest.get(..usize::from(len))?;
        self.bytes = &rest[usize::from(len)..];
        Some(SdesItem {
            item_type: SdesItemType(kind),
            value,
        })
    }
}

/// A source description packet (RFC 3550 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDescription<'a> {
    count: u8,
    body: &'a [u8],
}

/// Walks one chunk at `at`; returns the item bytes and the offset of the next chunk.
fn walk_chunk(body: &[u8], at: usize) -> Result<(Ssrc, core::ops::Range<usize>, usize), RtcpError> {
    let overrun = |offset: usize| RtcpError::Item {
        offset: offset + HEADER_LEN,
    };
    if body.len() < at + 4 {
        return Err(overrun(at));
    }
    let ssrc = Ssrc(be32(body, at));
    let items_start = at + 4;
    let mut i = items_start;
    loop {
        match body.get(i) {
            None => return Err(overrun(i)),
            Some(0) => break,
            Some(_) => {
                let len = *body.get(i + 1).ok_or(overrun(i))?;
                i += 2 + usize::from(len);
                if i > body.len() {
                    return Err(overrun(i));
                }
            }
        }
    }
    // Skip the terminator and pad to the next 32-bit boundary (the body starts on one).
    let next = ((i + 1).div_ceil(4) * 4).min(body.len());
    Ok((ssrc, items_start..i, next))
}

impl<'a> SourceDescription<'a> {
    /// Reads an SDES packet from a checked packet, validating every chunk and item.
    ///
    /// # Errors
    ///
    /// [`RtcpError::PacketType`] if it is not SDES; [`RtcpError::Item`] at the first overrun.
    pub fn parse(packet: &RtcpPacket<&'a [u8]>) -> Result<SourceDescription<'a>, RtcpError> {
        if packet.packet_type() != RtcpType::SDES {
            return Err(RtcpError::PacketType(packet.packet_type().0));
        }
        let body = packet.body_ref();
        let mut at = 0;
        for _ in 0..packet.count() {
            at = walk_chunk(body, at)?.2;
        }
        Ok(SourceDescription {
            count: packet.count(),
            body,
        })
    }

    /// Number of chunks.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// True without chunks.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The chunks, in place.
    pub fn chunks(&self) -> impl Iterator<Item = SdesChunk<'a>> + 'a {
        let body = self.body;
        let mut at = 0;
        (0..self.count).map_while(move |_| {
            let (ssrc, items, next) = walk_chunk(body, at).ok()?;
            at = next;
            Some(SdesChunk {
                ssrc,
                items: &body[items],
            })
        })
    }

    /// Length of an SDES packet with these chunks.
    pub fn buffer_len(chunks: &[(Ssrc, &[SdesItem<'_>])]) -> usize {
        HEADER_LEN
            + chunks
                .iter()
                .map(|(_, items)| {
                    let bytes: usize = items.iter().map(|i| 2 + i.value.len()).sum();
                    (4 + bytes + 1).div_ceil(4) * 4
                })
                .sum::<usize>()
    }

    /// Writes an SDES packet with `chunks` (each a source and its items) into `buf` and
    /// returns its length.
    ///
    /// # Errors
    ///
    /// [`EmitError::TooMany`] over 31 chunks; [`EmitError::Length`] for a value over 255
    /// bytes; [`EmitError::Range`] for item type 0; [`EmitError::BufferTooSmall`].
    pub fn emit(chunks: &[(Ssrc, &[SdesItem<'_>])], buf: &mut [u8]) -> Result<usize, EmitError> {
        if chunks.len() > MAX_COUNT {
            return Err(EmitError::TooMany {
                count: chunks.len(),
                max: MAX_COUNT,
            });
        }
        for item in chunks.iter().flat_map(|(_, items)| items.iter()) {
            if item.value.len() > 255 {
                return Err(EmitError::Length {
                    len: item.value.len(),
                });
            }
            if item.item_type.0 == 0 {
                return Err(EmitError::Range(0));
            }
        }
        let len = Self::buffer_len(chunks);
        let out = take(buf, len)?;
        write_header(out, chunks.len() as u8, RtcpType::SDES, len);
        let mut at = HEADER_LEN;
        for (ssrc, items) in chunks {
            let chunk_start = at;
            out[at..at + 4].copy_from_slice(&ssrc.0.to_be_bytes());
            at += 4;
            for item in *items {
                out[at] = item.item_type.0;
                out[at + 1] = item.value.len() as u8;
                out[at + 2..at + 2 + item.value.len()].copy_from_slice(item.value);
                at += 2 + item.value.len();
            }
            let end = chunk_start + (at - chunk_start + 1).div_ceil(4) * 4;
            out[at..end].fill(0);
            at = end;
        }
        Ok(len)
    }

    /// Writes an SDES packet with one chunk carrying only `cname` (§6.5.1).
    ///
    /// # Errors
    ///
    /// As [`emit`](Self::emit).
    pub fn emit_cname(ssrc: Ssrc, cname: &[u8], buf: &mut [u8]) -> Result<usize, EmitError> {
        let item = [SdesItem {
            item_type: SdesItemType::CNAME,
            value: cname,
        }];
        Self::emit(&[(ssrc, &item)], buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3550 §6.5 by hand: one chunk for 0x01020304 with CNAME "user@host" (9 bytes):
    /// 4 + 2 + 9 = 15 bytes, a null item and no more padding (16 bytes).
    const SDES_CNAME: [u8; 20] = [
        0x81, 202, 0x00, 0x04, 0x01, 0x02, 0x03, 0x04, //
        0x01, 0x09, b'u', b's', b'e', b'r', b'@', b'h', b'o', b's', b't', 0x00,
    ];

    #[test]
    fn parses_and_emits_a_cname_chunk() {
        let p = RtcpPacket::new_checked(&SDES_CNAME[..]).unwrap();
        let sdes = SourceDescription::parse(&p).unwrap();
        let chunks: Vec<_> = sdes.chunks().collect();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].ssrc, Ssrc(0x0102_0304));
        assert_eq!(chunks[0].cname(), Some(&b"user@host"[..]));
        let mut out = [0u8; 64];
        let n = SourceDescription::emit_cname(Ssrc(0x0102_0304), b"user@host", &mut out).unwrap();
        assert_eq!(&out[..n], &SDES_CNAME);
    }

    #[test]
    fn two_chunks_with_several_items_and_padding() {
        let a = [
            SdesItem {
                item_type: SdesItemType::CNAME,
                value: b"a",
            },
            SdesItem {
                item_type: SdesItemType::TOOL,
                value: b"tandem",
            },
        ];
        let b = [SdesItem {
            item_type: SdesItemType::NOTE,
            value: b"",
        }];
        let chunks: [(Ssrc, &[SdesItem<'_>]); 2] = [(Ssrc(1), &a), (Ssrc(2), &b)];
        let mut out = [0u8; 64];
        let n = SourceDescription::emit(&chunks, &mut out).unwrap();
        assert_eq!(n % 4, 0);
        let p = RtcpPacket::new_checked(&out[..n]).unwrap();
        let sdes = SourceDescription::parse(&p).unwrap();
        let got: Vec<(Ssrc, Vec<SdesItem<'_>>)> = sdes
            .chunks()
            .map(|c| (c.ssrc, c.items().collect()))
            .collect();
        assert_eq!(got, [(Ssrc(1), a.to_vec()), (Ssrc(2), b.to_vec())]);
    }

    #[test]
    fn overrunning_items_are_rejected() {
        let mut bad = SDES_CNAME;
        bad[9] = 12; // CNAME length past the packet
        let p = RtcpPacket::new_checked(&bad[..]).unwrap();
        assert!(matches!(
            SourceDescription::parse(&p),
            Err(RtcpError::Item { .. })
        ));
        let mut missing = SDES_CNAME;
        missing[0] = 0x82; // two chunks announced, one present
        let p = RtcpPacket::new_checked(&missing[..]).unwrap();
        assert_eq!(
            SourceDescription::parse(&p),
            Err(RtcpError::Item { offset: 20 })
        );
    }

    #[test]
    fn item_value_over_255_bytes_is_refused() {
        let long = [0u8; 256];
        let mut out = [0u8; 512];
        assert_eq!(
            SourceDescription::emit_cname(Ssrc(1), &long, &mut out),
            Err(EmitError::Length { len: 256 })
        );
    }
}
