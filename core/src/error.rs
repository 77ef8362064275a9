//! Errors of the RTP/RTCP layer, split by what the caller does next.
//!
//! Every enum here is a run-time error on the media path: `Copy`, carries numbers rather than
//! strings, is `#[non_exhaustive]`, and maps to a stable counter label with `label()` (for
//! `tandem_rtp_dropped_total{reason="…"}` and friends). The labels never change once published.
//!
//! - [`RtpError`], [`RtcpError`], [`PayloadError`]: malformed input (RFC 3550 §5.1, §6.4,
//!   RFC 4733 §2.3, RFC 3389 §3). The caller drops the packet and counts it.
//! - [`SourceError`]: the packet is well formed but does not belong to this stream (strict
//!   source, RFC 3550 §8.2 and the "RTP bleed" defence). Drop and count.
//! - [`EmitError`]: the caller's buffer or values do not fit the wire format. On the media path
//!   this is a sizing bug (buffers are sized from the published `*_max()` bounds): drop the
//!   outgoing packet, count it, and fix the sizing.

/// An RTP packet failed the checks of [`RtpPacket::new_checked`](crate::rtp::RtpPacket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// The datagram is shorter than the header it announces (fixed part, CSRC list or
    /// extension header).
    #[error("datagram of {len} bytes is shorter than its {needed}-byte RTP header")]
    Truncated {
        /// Bytes in the datagram.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// The version field is not 2 (RFC 3550 §5.1).
    #[error("RTP version {0}, expected 2")]
    Version(u8),
    /// The P bit is set but the padding count is zero or longer than the payload allows
    /// (RFC 3550 §5.1, A.1).
    #[error("padding of {pad} bytes does not fit the {available} bytes after the header")]
    Padding {
        /// The padding count from the last byte.
        pad: u8,
        /// Bytes between the end of the header and the end of the datagram.
        available: usize,
    },
    /// A header extension element (RFC 8285 §4.2, §4.3) runs past the extension block.
    #[error("header extension element at offset {offset} overruns the {len}-byte block")]
    ExtensionElement {
        /// Offset of the element in the extension data.
        offset: usize,
        /// Length of the extension data.
        len: usize,
    },
}

impl RtpError {
    /// Stable counter label.
    pub const fn label(&self) -> &'static str {
        match self {
            RtpError::Truncated { .. } => "rtp_truncated",
            RtpError::Version(_) => "rtp_version",
            RtpError::Padding { .. } => "rtp_padding",
            RtpError::ExtensionElement { .. } => "rtp_extension_element",
        }
    }
}

/// An RTCP packet or compound packet failed its checks (RFC 3550 §6.4, A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// Fewer bytes than a header or the length field announce.
    #[error("RTCP packet of {len} bytes is shorter than the {needed} bytes it needs")]
    Truncated {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// The version field is not 2.
    #[error("RTCP version {0}, expected 2")]
    Version(u8),
    /// The P bit is set but the padding count is zero or longer than the packet (RFC 3550
    /// §6.4.1), or a packet other than the last of a compound is padded (A.2).
    #[error("RTCP padding of {pad} bytes in a {len}-byte packet")]
    Padding {
        /// The padding count from the last byte.
        pad: u8,
        /// Length of the packet.
        len: usize,
    },
    /// The report, source or chunk count does not fit the packet length.
    #[error("count of {count} does not fit a {len}-byte packet of type {packet_type}")]
    Count {
        /// The RC/SC field.
        count: u8,
        /// The packet type.
        packet_type: u8,
        /// Length of the packet.
        len: usize,
    },
    /// An SDES chunk or item, or the BYE reason, runs past the packet (RFC 3550 §6.5, §6.6).
    #[error("SDES chunk or BYE reason overruns the packet at offset {offset}")]
    Item {
        /// Offset in the packet where the overrun starts.
        offset: usize,
    },
    /// The packet is not the type the parser was asked for.
    #[error("RTCP packet type {0} where another type was expected")]
    PacketType(u8),
}

impl RtcpError {
    /// Stable counter label.
    pub const fn label(&self) -> &'static str {
        match self {
            RtcpError::Truncated { .. } => "rtcp_truncated",
            RtcpError::Version(_) => "rtcp_version",
            RtcpError::Padding { .. } => "rtcp_padding",
            RtcpError::Count { .. } => "rtcp_count",
            RtcpError::Item { .. } => "rtcp_item",
            RtcpError::PacketType(_) => "rtcp_packet_type",
        }
    }
}

/// An RTP payload format (RFC 4733 telephone-event, RFC 3389 comfort noise) is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The payload is shorter than the format's minimum.
    #[error("payload of {len} bytes is shorter than the {needed} bytes the format needs")]
    Truncated {
        /// Bytes in the payload.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
}

impl PayloadError {
    /// Stable counter label.
    pub const fn label(&self) -> &'static str {
        match self {
            PayloadError::Truncated { .. } => "payload_truncated",
        }
    }
}

/// A well-formed packet that does not belong to this stream; see
/// [`SourceFilter`](crate::rtp::SourceFilter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source address is not the learned (locked) peer, or another candidate is being
    /// learned: the "RTP bleed" case.
    #[error("packet from an address other than the learned peer")]
    OtherAddress,
    /// The SSRC is not the one signalled or learned for this stream.
    #[error("SSRC {0:#010x} is not this stream's")]
    Ssrc(u32),
    /// The payload type was not negotiated for this stream.
    #[error("payload type {0} was not negotiated")]
    PayloadType(u8),
    /// A packet of the old input stream arrived just after a source switch (see
    /// [`Rewriter`](crate::rtp::Rewriter)).
    #[error("late packet of SSRC {0:#010x} after a source switch")]
    StaleSource(u32),
}

impl SourceError {
    /// Stable counter label.
    pub const fn label(&self) -> &'static str {
        match self {
            SourceError::OtherAddress => "source_other_address",
            SourceError::Ssrc(_) => "source_ssrc",
            SourceError::PayloadType(_) => "source_payload_type",
            SourceError::StaleSource(_) => "source_stale",
        }
    }
}

/// A packet could not be written into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The buffer is shorter than the packet.
    #[error("buffer of {available} bytes, packet needs {needed}")]
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes in the buffer.
        available: usize,
    },
    /// More items than the count field holds (15 CSRCs, 31 report blocks, SDES chunks or BYE
    /// sources).
    #[error("{count} items, the wire format holds at most {max}")]
    TooMany {
        /// Items given.
        count: usize,
        /// The most the format holds.
        max: usize,
    },
    /// A variable-length value is longer than its length field or alignment allows
    /// (extension data not a multiple of four, SDES item or BYE reason over 255 bytes,
    /// extension element over 16 or 255 bytes).
    #[error("value of {len} bytes does not fit its field")]
    Length {
        /// Length of the value.
        len: usize,
    },
    /// A field value is out of its range (a payload type over 127, a volume over 63, an
    /// extension id outside 1–14 or 1–255, a noise level over 127).
    #[error("field value {0} is out of range")]
    Range(u32),
}

impl EmitError {
    /// Stable counter label.
    pub const fn label(&self) -> &'static str {
        match self {
            EmitError::BufferTooSmall { .. } => "emit_buffer_too_small",
            EmitError::TooMany { .. } => "emit_too_many",
            EmitError::Length { .. } => "emit_length",
            EmitError::Range(_) => "emit_range",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counter labels are metric label values: each must be distinct across the crate.
    #[test]
    fn labels_are_distinct() {
        let labels = [
            RtpError::Truncated { len: 0, needed: 0 }.label(),
            RtpError::Version(0).label(),
            RtpError::Padding {
                pad: 0,
                available: 0,
            }
            .label(),
            RtpError::ExtensionElement { offset: 0, len: 0 }.label(),
            RtcpError::Truncated { len: 0, needed: 0 }.label(),
            RtcpError::Version(0).label(),
            RtcpError::Padding { pad: 0, len: 0 }.label(),
            RtcpError::Count {
                count: 0,
                packet_type: 0,
                len: 0,
            }
            .label(),
            RtcpError::Item { offset: 0 }.label(),
            RtcpError::PacketType(0).label(),
            PayloadError::Truncated { len: 0, needed: 0 }.label(),
            SourceError::OtherAddress.label(),
            SourceError::Ssrc(0).label(),
            SourceError::PayloadType(0).label(),
            SourceError::StaleSource(0).label(),
            EmitError::BufferTooSmall {
                needed: 0,
                available: 0,
            }
            .label(),
            EmitError::TooMany { count: 0, max: 0 }.label(),
            EmitError::Length { len: 0 }.label(),
            EmitError::Range(0).label(),
        ];
        let mut sorted = labels.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), labels.len());
        assert!(
            labels
                .iter()
                .all(|l| l.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
    }
}
