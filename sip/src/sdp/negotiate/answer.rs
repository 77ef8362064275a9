//! Answering an offer (RFC 3264 §6).

use crate::sdp::attributes::{Direction, Fmtp, TelephoneEvents, names};
use crate::sdp::model::{
    Attribute, Connection, MediaDescription, MediaType, Origin, SessionDescription,
};
use crate::sdp::payload::PayloadFormat;

use super::policy::LocalPolicy;
use super::stream::{
    NegotiatedStream, RejectReason, RejectedStream, StreamOutcome, TelephoneEventFormat,
    remote_endpoints,
};

/// Our answer to an offer: the SDP to send and what each stream became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer SDP, one `m=` line per offered one.
    pub sdp: SessionDescription,
    /// One outcome per offered `m=` line, in order.
    pub streams: Vec<StreamOutcome>,
}

impl Answer {
    /// The accepted streams.
    pub fn accepted(&self) -> impl Iterator<Item = &NegotiatedStream> {
        self.streams.iter().filter_map(StreamOutcome::accepted)
    }

    /// True if the offer had streams and we accepted none: the caller should refuse the
    /// offer (SIP 488 Not Acceptable Here) rather than send this answer.
    pub fn rejects_everything(&self) -> bool {
        !self.streams.is_empty() && self.accepted().next().is_none()
    }
}

/// Answers `offer` under `policy`, with `origin` as our `o=` line (RFC 3264 §6).
///
/// Per offered `m=` line, in order:
/// - port 0 in the offer, not audio, or a protocol we do not answer (SRTP): rejected with
///   port 0, the `m=` line kept (§6);
/// - the codec is the first offered one that `policy` supports, in the offerer's order
///   (§6.1), with the offerer's payload type number and spelling; our format parameters
///   for it come from `policy`;
/// - telephone-event is added with the offerer's payload type when it is offered at the
///   codec's clock rate and we support some of its events (RFC 4733 §2.1, §7.1.1);
/// - `a=ptime` echoes the offer's, else `policy.ptime_ms`;
/// - the direction is the offer's reversed, limited by `policy.direction` (§6.1);
/// - `a=rtcp-mux` when offered and `policy.rtcp_mux` (RFC 5761 §5.1.1);
/// - each accepted stream takes the next port of `policy.rtp_ports`.
///
/// The `t=` line equals the offer's (§6). Allocates (it builds the SDP); never fails: a
/// stream that cannot be served is rejected, and [`Answer::rejects_everything`] says when
/// nothing could.
pub fn answer(offer: &SessionDescription, policy: &LocalPolicy, origin: Origin) -> Answer {
    let mut sdp = SessionDescription::new(origin);
    sdp.connection = Some(Connection::new(policy.address));
    sdp.timings.clone_from(&offer.timings);
    let mut ports = policy.rtp_ports.iter().copied();
    let mut streams = Vec::with_capacity(offer.media.len());
    for (index, offered) in offer.media.iter().enumerate() {
        match answer_stream(offer, index, policy, &mut ports) {
            Ok((media, stream)) => {
                sdp.media.push(media);
                streams.push(StreamOutcome::Accepted(stream));
            }
            Err(reason) => {
                sdp.media.push(rejected_media(offered));
                streams.push(StreamOutcome::Rejected(RejectedStream {
                    index,
                    media_type: offered.media_type.clone(),
                    reason,
                }));
            }
        }
    }
    Answer { sdp, streams }
}

/// The `m=` line that rejects `offered`: same media, protocol and formats, port 0 (§6).
pub(super) fn rejected_media(offered: &MediaDescription) -> MediaDescription {
    MediaDescription::new(
        offered.media_type.clone(),
        0,
        offered.protocol.clone(),
        offered.formats.clone(),
    )
}

fn answer_stream(
    offer: &SessionDescription,
    index: usize,
    policy: &LocalPolicy,
    ports: &mut impl Iterator<Item = u16>,
) -> Result<(MediaDescription, NegotiatedStream), RejectReason> {
    let offered = &offer.media[index];
    if offered.port == 0 {
        return Err(RejectReason::DisabledByOfferer);
    }
    if offered.media_type != MediaType::Audio {
        return Err(RejectReason::UnsupportedMedia);
    }
    if !policy.accepts_protocol(&offered.protocol) {
        return Err(RejectReason::UnsupportedProtocol);
    }
    let connection = offer
        .media_connection(index)
        .ok_or(RejectReason::NoConnectionAddress)?;
    let remote_on_hold = connection.address.is_unspecified();
    let (format, ours) = offered
        .payload_formats()
        .filter(|f| f.codec.is_media())
        .find_map(|f| policy.supported(&f.codec).map(|ours| (f, ours)))
        .ok_or(RejectReason::NoCommonCodec)?;
    let local_port = ports.next().ok_or(RejectReason::NoLocalPort)?;

    let telephone_event = policy.telephone_events.and_then(|supported| {
        offered
            .payload_formats()
            .filter(|f| {
                f.codec.is_telephone_event() && f.codec.clock_rate == format.codec.clock_rate
            })
            .find_map(|f| telephone_event(f, &supported))
    });
    let answered_direction = offer
        .media_direction(index)
        .unwrap_or(Direction::SendRecv)
        .reversed()
        .intersect(policy.direction);
    let direction = if remote_on_hold {
        answered_direction.without_sending()
    } else {
        answered_direction
    };
    let rtcp_mux = policy.rtcp_mux && offered.rtcp_mux();
    let ptime_ms = offered.ptime_ms();

    let mut formats = vec![format.payload_type.to_string()];
    formats.extend(
        telephone_event
            .as_ref()
            .map(|(_, te)| te.payload_type.to_string()),
    );
    let mut media = MediaDescription::new(
        MediaType::Audio,
        local_port,
        offered.protocol.clone(),
        formats,
    );
    media.push_attribute(format.rtpmap());
    if let Some(fmtp) = &ours.fmtp {
        media.push_attribute(Fmtp {
            payload_type: format.payload_type,
            parameters: fmtp.clone(),
        });
    }
    if let Some((offered_te, te)) = &telephone_event {
        media.push_attribute(offered_te.rtpmap());
        media.push_attribute(Fmtp {
            payload_type: te.payload_type,
            parameters: te.events.to_string(),
        });
    }
    if let Some(ptime) = ptime_ms.or(policy.ptime_ms) {
        media.push_attribute(Attribute::new(names::PTIME, ptime.to_string()));
    }
    media.push_attribute(answered_direction);
    if rtcp_mux {
        media.push_attribute(Attribute::property(names::RTCP_MUX));
    }

    let remote =
        remote_endpoints(offer, index, rtcp_mux).ok_or(RejectReason::NoConnectionAddress)?;
    let stream = NegotiatedStream {
        index,
        media_type: MediaType::Audio,
        protocol: offered.protocol.clone(),
        local_port,
        remote_host: remote.host,
        remote_rtp: remote.rtp,
        remote_rtcp: remote.rtcp,
        rtcp_mux,
        receive_payload_type: format.payload_type,
        format,
        alternatives: Vec::new(),
        telephone_event: telephone_event.map(|(_, te)| te),
        ptime_ms,
        max_ptime_ms: offered.max_ptime_ms(),
        direction,
    };
    Ok((media, stream))
}

/// The negotiated event format for an offered telephone-event format, if we support any of
/// its events. An event list that does not parse is treated as not offered.
fn telephone_event(
    offered: PayloadFormat,
    supported: &TelephoneEvents,
) -> Option<(PayloadFormat, TelephoneEventFormat)> {
    let events = TelephoneEvents::from_fmtp(offered.codec.fmtp.as_deref())?.intersection(supported);
    let format = TelephoneEventFormat {
        payload_type: offered.payload_type,
        receive_payload_type: offered.payload_type,
        clock_rate: offered.codec.clock_rate,
        events,
    };
    (!events.is_empty()).then_some((offered, format))
}
