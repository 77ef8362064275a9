//! What we can do and where we receive: the input to answering and offering.

use std::net::IpAddr;

use crate::sdp::attributes::{Direction, TelephoneEvents};
use crate::sdp::model::TransportProtocol;
use crate::sdp::payload::Codec;

use super::stream::NegotiatedStream;

/// Our side of a negotiation: the codecs we can terminate, our addresses, and our wishes.
///
/// Per call, the server fills in `address` and `rtp_ports`; the rest usually comes from
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPolicy {
    /// Codecs we can terminate, most preferred first, with the format parameters we want to
    /// receive (e.g. `useinbandfec=1` for Opus). Offers list them in this order; answers pick
    /// by the *offerer's* order among them.
    pub codecs: Vec<Codec>,
    /// The RFC 4733 events we handle, or `None` if we do not handle telephone-event at all.
    pub telephone_events: Option<TelephoneEvents>,
    /// The packet time we want to receive, when the peer has not asked for one.
    pub ptime_ms: Option<u32>,
    /// Our media address (`c=` of our SDP).
    pub address: IpAddr,
    /// Our RTP ports, one per stream we are willing to carry, in `m=` line order. An offer
    /// has one audio stream per port; an answer accepts at most this many streams and
    /// rejects the rest with [`crate::sdp::RejectReason::NoLocalPort`].
    pub rtp_ports: Vec<u16>,
    /// Whether we can multiplex RTP and RTCP on one port (RFC 5761).
    pub rtcp_mux: bool,
    /// The direction we want: `SendRecv` normally; `SendOnly` or `Inactive` to put the peer
    /// on hold (RFC 3264 §8.4). Answers never grant more than this.
    pub direction: Direction,
}

impl LocalPolicy {
    /// A policy with these codecs at `address`: DTMF and flash events (0-16), no preferred
    /// ptime, no ports yet, no RTCP multiplexing, `sendrecv`.
    pub fn new(address: IpAddr, codecs: Vec<Codec>) -> Self {
        LocalPolicy {
            codecs,
            telephone_events: Some(TelephoneEvents::DTMF_AND_FLASH),
            ptime_ms: None,
            address,
            rtp_ports: Vec::new(),
            rtcp_mux: false,
            direction: Direction::SendRecv,
        }
    }

    /// Our entry for `codec` (same encoding name, clock and channels), if we support it.
    pub fn supported(&self, codec: &Codec) -> Option<&Codec> {
        self.codecs.iter().find(|ours| ours.same_encoding(codec))
    }

    /// This policy narrowed to the codec `stream` runs (with our format parameters for it,
    /// if we list it): what a re-offer that must not change the codec offers, such as hold
    /// and resume (RFC 3264 §8.4). Telephone events are kept; they are offered at that
    /// codec's clock only.
    pub fn narrowed_to(&self, stream: &NegotiatedStream) -> LocalPolicy {
        let mut codec = stream.format.codec.clone();
        codec.fmtp = self.supported(&codec).and_then(|ours| ours.fmtp.clone());
        LocalPolicy {
            codecs: vec![codec],
            ..self.clone()
        }
    }

    /// True for the transport protocols we answer: plain RTP (`RTP/AVP`, and `RTP/AVPF`,
    /// whose feedback we may ignore, RFC 4585 §3.3). SRTP profiles need key negotiation
    /// (`a=crypto`, DTLS) that this module does not do.
    pub fn accepts_protocol(&self, protocol: &TransportProtocol) -> bool {
        ["RTP/AVP", "RTP/AVPF"]
            .iter()
            .any(|p| protocol.as_str().eq_ignore_ascii_case(p))
    }
}
