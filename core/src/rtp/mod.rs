//! RTP and RTCP for Tandem's media path: wire formats as checked views and validated
//! representations, and the sans-IO per-stream logic around them (RFC 3550, RFC 3551,
//! RFC 4733, RFC 3389, RFC 8285, RFC 5761).
//!
//! # What is here
//!
//! | module | job |
//! |---|---|
//! | [`header`] | RTP packet view [`RtpPacket`], header repr [`RtpHeader`], RFC 8285 extensions |
//! | [`telephone_event`] | RFC 4733 payload, [`TelephoneEventSender`], [`TelephoneEventReceiver`] |
//! | [`comfort_noise`] | RFC 3389 payload |
//! | [`rtcp`] | SR, RR, SDES, BYE, compound packets |
//! | [`stats`] | receive statistics (RFC 3550 A.1, A.3, A.8), send statistics, round-trip time |
//! | [`source`] | strict source: learn then lock the peer address ([`SourceFilter`]) |
//! | [`rewrite`] | egress SSRC/sequence/timestamp continuity ([`Rewriter`]) |
//! | [`schedule`] | RTCP interval (A.7) and the report a stream sends |
//!
//! # Contract
//!
//! - **Sans-IO.** Nothing here opens a socket or reads a clock. Time is an argument: `now_us`
//!   is microseconds on a monotonic scale the caller chooses (a worker converts its tick
//!   `Instant` against its own epoch), and wallclock enters only as
//!   [`NtpTime`](rtcp::NtpTime) where RTCP needs it. Randomness (the RTCP interval) comes from
//!   a [`RandomSource`] the caller passes in.
//! - **No allocation per packet.** Every state machine is sized at construction; parsers
//!   borrow the datagram; emitters write into the caller's buffer and return the length.
//! - **Network input never panics.** `new_checked` and every `parse` accept any bytes and
//!   return a typed, `Copy` error ([`crate::error`]) with a stable counter label; property
//!   tests and the `rtp_parse` / `rtcp_parse` fuzz targets hold them to it.
//!
//! # Per-packet order on ingress
//!
//! [`classify`] the datagram, [`RtpPacket::new_checked`], [`SourceFilter::handle_packet`] (drop
//! what is not from the peer), [`ReceiveStats::handle_packet`], then by payload type: media to
//! the jitter buffer or relay, telephone-events to [`TelephoneEventReceiver`], comfort noise to
//! the decoder. On egress: [`Rewriter::rewrite_in_place`] (relay) or [`RtpHeader::emit`]
//! (generated media), then [`SendStats::handle_sent`].

pub mod comfort_noise;
#[doc(hidden)]
pub mod fuzzing;
pub mod header;
pub mod rewrite;
pub mod rtcp;
pub mod schedule;
pub mod source;
pub mod stats;
pub mod telephone_event;

pub use comfort_noise::ComfortNoise;
pub use header::{
    CsrcList, Extension, ExtensionElement, ExtensionProfile, PayloadType, RtpHeader, RtpPacket,
    RtpTimestamp, SeqNo, Ssrc,
};
pub use rewrite::{RewriteConfig, Rewriter, Rewritten};
pub use schedule::{RandomSource, RtcpSchedule, ScheduleConfig, SplitMix64, emit_report};
pub use source::{PayloadTypeSet, SourceConfig, SourceFilter, SourceState};
pub use stats::{ReceiveStats, SendStats, SeqVerdict};
pub use telephone_event::{
    DigitNotice, EventCode, TelephoneEvent, TelephoneEventReceiver, TelephoneEventSender,
};

/// Microseconds to samples at `clock_rate` Hz, rounded down. Exact for rates up to 1 MHz
/// (the whole-second term never exceeds `us`), saturating beyond; never panics. The divisions
/// are by a constant and compile to multiplications: this runs per packet.
#[inline]
pub(crate) const fn micros_to_samples(us: u64, clock_rate: u32) -> u64 {
    let rate = clock_rate as u64;
    (us / 1_000_000)
        .saturating_mul(rate)
        .saturating_add((us % 1_000_000) * rate / 1_000_000)
}

/// `buf[start..end]`, or the error saying how long the buffer had to be.
#[inline]
pub(crate) fn take_mut(
    buf: &mut [u8],
    start: usize,
    end: usize,
) -> Result<&mut [u8], crate::error::EmitError> {
    let available = buf.len();
    buf.get_mut(start..end)
        .ok_or(crate::error::EmitError::BufferTooSmall {
            needed: end,
            available,
        })
}

/// What a datagram on a media port is, from its first bytes (RFC 7983 §7, RFC 5761 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// RTP (first byte 128–191, second byte not an RTCP packet type).
    Rtp,
    /// RTCP (first byte 128–191, second byte 192–223).
    Rtcp,
    /// STUN (first byte 0–3).
    Stun,
    /// DTLS (first byte 20–63).
    Dtls,
    /// Anything else, including empty datagrams.
    Other,
}

/// Classifies a datagram by its first two bytes, without validating it.
#[inline]
pub fn classify(datagram: &[u8]) -> PacketKind {
    match datagram {
        [0..=3, ..] => PacketKind::Stun,
        [20..=63, ..] => PacketKind::Dtls,
        [128..=191, 192..=223, ..] => PacketKind::Rtcp,
        [128..=191, _, ..] => PacketKind::Rtp,
        _ => PacketKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_first_bytes() {
        assert_eq!(classify(&[0x80, 0x00, 0, 0]), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 0xE0, 0, 0]), PacketKind::Rtp); // marker + PT 96
        assert_eq!(classify(&[0x81, 200, 0, 6]), PacketKind::Rtcp);
        assert_eq!(classify(&[0x00, 0x01]), PacketKind::Stun);
        assert_eq!(classify(&[22, 0xFE]), PacketKind::Dtls);
        assert_eq!(classify(&[0x80]), PacketKind::Other);
        assert_eq!(classify(&[]), PacketKind::Other);
    }
}
