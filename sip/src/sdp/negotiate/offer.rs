//! Making offers (RFC 3264 §5, §8) and processing the answers to them (§6, §7).

use crate::sdp::attributes::{Direction, Fmtp, TelephoneEvents, names};
use crate::sdp::avp;
use crate::sdp::error::NegotiationError;
use crate::sdp::model::{
    Attribute, Connection, MediaDescription, MediaType, Origin, SessionDescription,
    TransportProtocol,
};
use crate::sdp::payload::{Codec, PayloadFormat, PayloadType};

use super::answer::rejected_media;
use super::bindings::PayloadTypeBindings;
use super::policy::LocalPolicy;
use super::stream::{
    NegotiatedStream, RejectReason, RejectedStream, StreamOutcome, TelephoneEventFormat,
    remote_endpoints,
};

/// The payload type telephone-event/8000 gets when it is free: 101, by custom (sipp,
/// baresip, Asterisk and rtpengine all use it). Events at other clock rates take the next
/// free numbers.
const TELEPHONE_EVENT_PT: u8 = 101;

/// Builds an offer (RFC 3264 §5) from `policy`, with `origin` as our `o=` line.
///
/// Each port of `policy.rtp_ports` is one audio stream offering `policy.codecs` in order
/// (codecs with an RFC 3551 static payload type use it; others get a dynamic one), plus one
/// telephone-event format per distinct clock rate among them when `policy.telephone_events`
/// is set, `a=ptime` from `policy.ptime_ms`, the direction `policy.direction` (hold is
/// `SendOnly` or `Inactive`, RFC 3264 §8.4), and `a=rtcp-mux` if `policy.rtcp_mux`. With no
/// codec to offer, the stream is offered disabled (port 0).
///
/// A re-offer passes the SDP we last sent as `previous` (§8): its `m=` lines are kept in
/// place (streams cannot be removed, only disabled): audio streams take the ports in order
/// (a disabled one is re-enabled, §8.1), the rest stay or become disabled with port 0, and
/// remaining ports add streams at the end. `bindings` keeps dynamic payload type numbers stable (§8.3.2).
pub fn create_offer(
    policy: &LocalPolicy,
    origin: Origin,
    previous: Option<&SessionDescription>,
    bindings: &PayloadTypeBindings,
) -> SessionDescription {
    let mut sdp = SessionDescription::new(origin);
    sdp.connection = Some(Connection::new(policy.address));
    let mut ports = policy.rtp_ports.iter().copied().peekable();
    for (index, media) in previous
        .into_iter()
        .flat_map(|p| p.media.iter())
        .enumerate()
    {
        // An audio slot is reused even if it was disabled (RFC 3264 §8.1 lets a new stream
        // take a disabled slot); other media stay disabled.
        let audio =
            media.media_type == MediaType::Audio && policy.accepts_protocol(&media.protocol);
        let section = match ports.next_if(|_| audio) {
            Some(port) => offer_stream(policy, index, port, media.protocol.clone(), bindings),
            None => rejected_media(media),
        };
        sdp.media.push(section);
    }
    for port in ports {
        let index = sdp.media.len();
        let section = offer_stream(policy, index, port, TransportProtocol::rtp_avp(), bindings);
        sdp.media.push(section);
    }
    sdp
}

fn offer_stream(
    policy: &LocalPolicy,
    index: usize,
    port: u16,
    protocol: TransportProtocol,
    bindings: &PayloadTypeBindings,
) -> MediaDescription {
    let mut formats: Vec<PayloadFormat> = Vec::new();
    for codec in policy.codecs.iter().filter(|c| c.is_media()) {
        if formats.iter().any(|f| f.codec.same_encoding(codec)) {
            continue;
        }
        let fixed = avp::by_encoding(&codec.name, codec.clock_rate, codec.channels)
            .and_then(|row| PayloadType::new(row.payload_type))
            .or_else(|| bindings.lookup(index, codec));
        let pt = fixed
            .filter(|pt| !formats.iter().any(|f| f.payload_type == *pt))
            .or_else(|| free_dynamic(index, bindings, &formats, PayloadType::DYNAMIC_START));
        if let Some(payload_type) = pt {
            formats.push(PayloadFormat {
                payload_type,
                codec: codec.clone(),
            });
        }
    }
    if let Some(events) = policy.telephone_events.filter(|e| !e.is_empty()) {
        let mut clocks: Vec<u32> = Vec::new();
        for format in &formats {
            if !clocks.contains(&format.codec.clock_rate) {
                clocks.push(format.codec.clock_rate);
            }
        }
        // telephone-event/8000 first, so that it gets 101 as peers expect.
        clocks.sort_by_key(|&clock| clock != 8000);
        for clock in clocks {
            let codec = Codec::telephone_event(clock).with_fmtp(events.to_string());
            let pt = bindings
                .lookup(index, &codec)
                .filter(|pt| !formats.iter().any(|f| f.payload_type == *pt))
                .or_else(|| free_dynamic(index, bindings, &formats, TELEPHONE_EVENT_PT));
            if let Some(payload_type) = pt {
                formats.push(PayloadFormat {
                    payload_type,
                    codec,
                });
            }
        }
    }
    if formats.is_empty() {
        // Nothing to offer: the stream is offered disabled (RFC 3264 §5.1 needs a format to
        // accept a stream, and an `m=` line with none is only tolerated at port 0).
        return MediaDescription::new(MediaType::Audio, 0, protocol, Vec::new());
    }
    let mut media = MediaDescription::new(
        MediaType::Audio,
        port,
        protocol,
        formats.iter().map(|f| f.payload_type.to_string()).collect(),
    );
    for format in &formats {
        media.push_attribute(format.rtpmap());
        if let Some(fmtp) = &format.codec.fmtp {
            media.push_attribute(Fmtp {
                payload_type: format.payload_type,
                parameters: fmtp.clone(),
            });
        }
    }
    if let Some(ptime) = policy.ptime_ms {
        media.push_attribute(Attribute::new(names::PTIME, ptime.to_string()));
    }
    media.push_attribute(policy.direction);
    if policy.rtcp_mux {
        media.push_attribute(Attribute::property(names::RTCP_MUX));
    }
    media
}

/// The first dynamic payload type from `start` (wrapping within 96..=127) that is neither
/// used in this `m=` line nor bound to another codec on this stream.
fn free_dynamic(
    index: usize,
    bindings: &PayloadTypeBindings,
    used: &[PayloadFormat],
    start: u8,
) -> Option<PayloadType> {
    (start..=127)
        .chain(PayloadType::DYNAMIC_START..start)
        .filter_map(PayloadType::new)
        .find(|pt| !bindings.is_bound(index, *pt) && !used.iter().any(|f| f.payload_type == *pt))
}

/// Checks `answer` against the `offer` we sent and returns the negotiated streams
/// (RFC 3264 §6, §7).
///
/// Payload types are matched by codec, not number: an answer may renumber a codec
/// (RFC 4317 §2.3); a dynamic type the answer lists without `a=rtpmap` means what our offer
/// said. Answered formats we did not offer are ignored (RFC 3264 §6.1 allows them; RFC 4317
/// §3.2 shows one), as long as one we offered remains. The first answered media codec is the
/// one to send; others are alternatives.
/// Telephone-event is kept at the chosen codec's clock rate. The stream direction is what
/// both allow, seen from our side. Streams of any media type are negotiated (the offer may
/// come from elsewhere, e.g. a B2BUA relaying video); non-RTP ones are reported as rejected
/// with [`RejectReason::UnsupportedProtocol`].
///
/// # Errors
///
/// [`NegotiationError`] when the answer breaks RFC 3264: a different number of `m=` lines,
/// media type or protocol; a disabled stream accepted; no connection address; or an
/// accepted stream with no codec we offered.
pub fn handle_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Vec<StreamOutcome>, NegotiationError> {
    if offer.media.len() != answer.media.len() {
        return Err(NegotiationError::MediaCountMismatch {
            offered: offer.media.len(),
            answered: answer.media.len(),
        });
    }
    (0..offer.media.len())
        .map(|index| answered_stream(offer, answer, index))
        .collect()
}

fn answered_stream(
    offer: &SessionDescription,
    answer: &SessionDescription,
    index: usize,
) -> Result<StreamOutcome, NegotiationError> {
    let stream = index;
    let (offered, answered) = (&offer.media[index], &answer.media[index]);
    if offered.media_type != answered.media_type {
        return Err(NegotiationError::MediaTypeMismatch { stream });
    }
    let rejected = |reason| {
        Ok(StreamOutcome::Rejected(RejectedStream {
            index,
            media_type: offered.media_type.clone(),
            reason,
        }))
    };
    if offered.port == 0 {
        if answered.port != 0 {
            return Err(NegotiationError::AcceptedDisabledStream { stream });
        }
        return rejected(RejectReason::DisabledByOfferer);
    }
    if answered.port == 0 {
        return rejected(RejectReason::RejectedByAnswerer);
    }
    if !answered.protocol.matches(&offered.protocol) {
        return Err(NegotiationError::ProtocolMismatch { stream });
    }
    if !answered.protocol.is_rtp() {
        return rejected(RejectReason::UnsupportedProtocol);
    }
    let connection = answer
        .media_connection(index)
        .ok_or(NegotiationError::NoConnectionAddress { stream })?;
    let remote_on_hold = connection.address.is_unspecified();

    // Each answered format with the number we offered for the same codec. Formats we did
    // not offer are skipped: RFC 3264 §6.1 lets an answer list them (RFC 4317 §3.2 does),
    // but we will neither send nor expect them.
    let mut agreed: Vec<(PayloadFormat, PayloadType)> = Vec::new();
    let mut unoffered = None;
    for pt in answered.payload_types() {
        let matched = answered
            .rtpmaps()
            .find(|r| r.payload_type == pt)
            .or_else(|| offered.rtpmap(pt))
            .and_then(|rtpmap| {
                let fmtp = answered.fmtp(pt).map(|f| f.parameters);
                let format = PayloadFormat::from_rtpmap(rtpmap, fmtp);
                let ours = offered
                    .payload_formats()
                    .filter(|o| o.codec.same_encoding(&format.codec))
                    .min_by_key(|o| o.payload_type != pt)?;
                Some((format, ours.payload_type))
            });
        match matched {
            Some(pair) => agreed.push(pair),
            None => {
                unoffered.get_or_insert(pt);
            }
        }
    }
    if agreed.is_empty() {
        return Err(match unoffered {
            Some(pt) => NegotiationError::UnofferedCodec {
                stream,
                payload_type: pt.get(),
            },
            None => NegotiationError::NoCodec { stream },
        });
    }
    let primary = agreed
        .iter()
        .position(|(f, _)| f.codec.is_media())
        .unwrap_or(0);
    let (format, receive_payload_type) = agreed[primary].clone();
    let telephone_event = agreed
        .iter()
        .find(|(f, _)| {
            f.codec.is_telephone_event() && f.codec.clock_rate == format.codec.clock_rate
        })
        .and_then(|(f, ours)| {
            let offered_events =
                TelephoneEvents::from_fmtp(offered.fmtp(*ours).map(|f| f.parameters).as_deref())?;
            let events =
                TelephoneEvents::from_fmtp(f.codec.fmtp.as_deref())?.intersection(&offered_events);
            Some(TelephoneEventFormat {
                payload_type: f.payload_type,
                receive_payload_type: *ours,
                clock_rate: f.codec.clock_rate,
                events,
            })
        });
    let alternatives = agreed
        .iter()
        .enumerate()
        .filter(|(i, (f, _))| *i != primary && f.codec.is_media())
        .map(|(_, (f, _))| f.clone())
        .collect();

    let ours = offer.media_direction(index).unwrap_or(Direction::SendRecv);
    let theirs = answer.media_direction(index).unwrap_or(Direction::SendRecv);
    let mut direction = ours.intersect(theirs.reversed());
    if remote_on_hold {
        direction = direction.without_sending();
    }
    let rtcp_mux = offered.rtcp_mux() && answered.rtcp_mux();
    let remote = remote_endpoints(answer, index, rtcp_mux)
        .ok_or(NegotiationError::NoConnectionAddress { stream })?;
    Ok(StreamOutcome::Accepted(NegotiatedStream {
        index,
        media_type: offered.media_type.clone(),
        protocol: offered.protocol.clone(),
        local_port: offered.port,
        remote_host: remote.host,
        remote_rtp: remote.rtp,
        remote_rtcp: remote.rtcp,
        rtcp_mux,
        format,
        receive_payload_type,
        alternatives,
        telephone_event,
        ptime_ms: answered.ptime_ms(),
        max_ptime_ms: answered.max_ptime_ms(),
        direction,
    }))
}
