//! The outcome of negotiating one `m=` line: what the server hands to the media engine.

use std::net::SocketAddr;

use crate::sdp::attributes::{Direction, TelephoneEvents};
use crate::sdp::model::{Host, MediaType, SessionDescription, TransportProtocol};
use crate::sdp::payload::{PayloadFormat, PayloadType};

/// A stream both sides agreed on.
///
/// Payload types follow RFC 3264 §5.1: a number in an SDP says what its author expects to
/// *receive*. So we send `format.payload_type` (the remote's number) and the remote sends us
/// `receive_payload_type` (ours); they differ only when an answer renumbered a codec, as
/// RFC 4317 §2.3 shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedStream {
    /// The `m=` line index.
    pub index: usize,
    /// The media type (always audio for streams we answer).
    pub media_type: MediaType,
    /// The transport protocol both sides use.
    pub protocol: TransportProtocol,
    /// Our RTP port for this stream.
    pub local_port: u16,
    /// The remote connection address as its SDP wrote it (a domain name is left for the
    /// caller to resolve: this crate does no DNS).
    pub remote_host: Host,
    /// Where to send RTP: the remote's connection address and port. `None` when the remote
    /// is on RFC 2543 hold (`c=0.0.0.0`) or its address is a domain name.
    pub remote_rtp: Option<SocketAddr>,
    /// Where to send RTCP: the RTP address when RTCP is multiplexed, else `a=rtcp`
    /// (RFC 3605), else the RTP port + 1 (RFC 3550 §11).
    pub remote_rtcp: Option<SocketAddr>,
    /// True if both sides agreed to multiplex RTCP with RTP (RFC 5761 §5.1.1).
    pub rtcp_mux: bool,
    /// The codec to send with: the remote's payload type number and its format parameters
    /// (which constrain our encoder, e.g. Opus `maxplaybackrate`, `stereo`).
    pub format: PayloadFormat,
    /// The payload type number the remote uses when it sends `format`'s codec to us.
    pub receive_payload_type: PayloadType,
    /// Other codecs the answer also accepted, in its order (RFC 3264 §7: either side may
    /// switch among them without a new exchange). Empty for answers Tandem writes.
    pub alternatives: Vec<PayloadFormat>,
    /// RFC 4733 telephone-event, at the codec's clock rate, when both sides support it.
    pub telephone_event: Option<TelephoneEventFormat>,
    /// The packet time the remote wants to receive (its `a=ptime`); `None`: the codec's
    /// default.
    pub ptime_ms: Option<u32>,
    /// The longest packet time the remote accepts (its `a=maxptime`).
    pub max_ptime_ms: Option<u32>,
    /// What *we* do on this stream: `SendOnly` means we send and the remote does not. A
    /// remote on RFC 2543 hold (`c=0.0.0.0`) cannot receive, so then we never send.
    pub direction: Direction,
}

impl NegotiatedStream {
    /// True if we should send media.
    pub fn sends(&self) -> bool {
        self.direction.sends()
    }

    /// True if we should expect media.
    pub fn receives(&self) -> bool {
        self.direction.receives()
    }
}

/// The negotiated RFC 4733 telephone-event format of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEventFormat {
    /// The payload type we send events with (the remote's number).
    pub payload_type: PayloadType,
    /// The payload type the remote sends events with (our number).
    pub receive_payload_type: PayloadType,
    /// The RTP clock rate: the same as the stream's codec (RFC 4733 §2.1).
    pub clock_rate: u32,
    /// The events both sides support.
    pub events: TelephoneEvents,
}

/// Why a stream carries no media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// The offer itself disabled the stream with port 0 (RFC 3264 §8.2).
    DisabledByOfferer,
    /// The answerer rejected it with port 0 (RFC 3264 §6).
    RejectedByAnswerer,
    /// Not audio: Tandem answers only audio streams.
    UnsupportedMedia,
    /// A transport protocol we do not answer (SRTP profiles, non-RTP).
    UnsupportedProtocol,
    /// No connection address, neither the stream's nor the session's.
    NoConnectionAddress,
    /// None of the offered codecs is one we can terminate.
    NoCommonCodec,
    /// More acceptable streams than the ports the policy provided.
    NoLocalPort,
}

impl RejectReason {
    /// Stable label for counters.
    pub const fn reason(&self) -> &'static str {
        match self {
            RejectReason::DisabledByOfferer => "disabled_by_offerer",
            RejectReason::RejectedByAnswerer => "rejected_by_answerer",
            RejectReason::UnsupportedMedia => "unsupported_media",
            RejectReason::UnsupportedProtocol => "unsupported_protocol",
            RejectReason::NoConnectionAddress => "no_connection_address",
            RejectReason::NoCommonCodec => "no_common_codec",
            RejectReason::NoLocalPort => "no_local_port",
        }
    }
}

/// A stream that carries no media, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedStream {
    /// The `m=` line index.
    pub index: usize,
    /// The offered media type.
    pub media_type: MediaType,
    /// Why.
    pub reason: RejectReason,
}

/// What became of one `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per m= line on the control plane; boxing would only cost readability"
)]
pub enum StreamOutcome {
    /// Media flows (in at least one direction, or is paused by `inactive`).
    Accepted(NegotiatedStream),
    /// Port 0: no media.
    Rejected(RejectedStream),
}

impl StreamOutcome {
    /// The `m=` line index.
    pub fn index(&self) -> usize {
        match self {
            StreamOutcome::Accepted(s) => s.index,
            StreamOutcome::Rejected(r) => r.index,
        }
    }

    /// The negotiated stream, if accepted.
    pub fn accepted(&self) -> Option<&NegotiatedStream> {
        match self {
            StreamOutcome::Accepted(s) => Some(s),
            StreamOutcome::Rejected(_) => None,
        }
    }

    /// The rejection, if rejected.
    pub fn rejected(&self) -> Option<&RejectedStream> {
        match self {
            StreamOutcome::Accepted(_) => None,
            StreamOutcome::Rejected(r) => Some(r),
        }
    }
}

/// Whether an offer/answer exchange changed anything the media engine must act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaChange {
    /// Every stream is as before (e.g. a session-timer refresh re-INVITE): leave the media
    /// session alone.
    Unchanged,
    /// Something differs (address, codec, direction, ptime, streams added or rejected), or
    /// this is the first exchange: update the media session.
    Changed,
}

impl MediaChange {
    /// Compares the streams of an exchange with those of the previous one, if there was one.
    pub fn between(previous: Option<&[StreamOutcome]>, current: &[StreamOutcome]) -> Self {
        if previous == Some(current) {
            MediaChange::Unchanged
        } else {
            MediaChange::Changed
        }
    }
}

/// Where the author of `sdp` receives media section `index`: host, RTP and RTCP addresses.
pub(super) struct RemoteEndpoints {
    pub(super) host: Host,
    pub(super) rtp: Option<SocketAddr>,
    pub(super) rtcp: Option<SocketAddr>,
}

/// The endpoints of media section `index` of `sdp`, or `None` if it has no connection.
pub(super) fn remote_endpoints(
    sdp: &SessionDescription,
    index: usize,
    rtcp_mux: bool,
) -> Option<RemoteEndpoints> {
    let host = sdp.media_connection(index)?.address.clone();
    let media = sdp.media.get(index)?;
    let ip = host.ip().filter(|ip| !ip.is_unspecified());
    let rtp = ip.map(|ip| SocketAddr::new(ip, media.port));
    let rtcp = if rtcp_mux {
        rtp
    } else if let Some(rtcp) = media.rtcp() {
        let ip = match &rtcp.address {
            Some(address) => address.ip(),
            None => ip,
        };
        ip.filter(|ip| !ip.is_unspecified())
            .map(|ip| SocketAddr::new(ip, rtcp.port))
    } else {
        let port = media.port.checked_add(1);
        ip.zip(port).map(|(ip, port)| SocketAddr::new(ip, port))
    };
    Some(RemoteEndpoints { host, rtp, rtcp })
}
