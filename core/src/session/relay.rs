//! Relay: the same codec on both legs, so payloads pass through untouched and only headers
//! change — each leg's [`Rewriter`](crate::rtp::Rewriter) gives its peer one continuous
//! stream (its own SSRC, sequence numbers and timestamps) and the payload type is mapped to
//! the one that leg negotiated.
//!
//! # Contract
//!
//! - A packet accepted on one leg (strict source, checks, statistics, counted in
//!   [`LegCounters`](super::LegCounters)) is forwarded to the other leg's peer in the same tick it arrives:
//!   no decode, no buffering, no reordering (the far end's jitter buffer does that).
//! - RFC 4733 packets pass through when both legs negotiated telephone-events, and are
//!   reported as DTMF events either way; comfort noise passes through. A relay cannot convert
//!   DTMF between RFC 4733 and in-band: that needs decoding, a transcoding session.
//! - Real-time: forwarding copies the datagram into the transmit queue and rewrites it there;
//!   nothing allocates.

use std::net::SocketAddr;

use crate::rtp::PayloadType;
use crate::session::leg::{Leg, PayloadClass};
use crate::session::{Ctx, LegId, LegSpec, SessionError, SessionId, leg_seed};

/// A relay session. See the module docs.
#[derive(Debug)]
pub struct Relay {
    pub(crate) legs: [Leg; 2],
}

impl Relay {
    pub(crate) fn new(id: SessionId, a: &LegSpec, b: &LegSpec) -> Result<Self, SessionError> {
        if a.codec.format != b.codec.format {
            return Err(SessionError::RelayNeedsSameCodec {
                a: a.codec.format,
                b: b.codec.format,
            });
        }
        Ok(Self {
            legs: [
                Leg::new(LegId::A, a, leg_seed(id, LegId::A)),
                Leg::new(LegId::B, b, leg_seed(id, LegId::B)),
            ],
        })
    }

    pub(crate) fn handle_rtp(
        &mut self,
        index: usize,
        ctx: &mut Ctx<'_>,
        source: SocketAddr,
        datagram: &mut [u8],
    ) {
        let [a, b] = &mut self.legs;
        let (from, to) = if index == 0 { (a, b) } else { (b, a) };
        let Some((class, packet)) = from.accept_rtp(ctx, source, datagram) else {
            return;
        };
        from.drain_digits(ctx, |_| {});
        let payload_type = match class {
            PayloadClass::Media => to.spec.codec.payload_type,
            PayloadClass::ComfortNoise => PayloadType::CN,
            PayloadClass::TelephoneEvent => match to.spec.telephone_event {
                Some(pt) => pt,
                None => return,
            },
        };
        to.forward(ctx, packet.as_bytes(), payload_type);
    }

    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_>) {
        for leg in &mut self.legs {
            leg.upkeep(ctx);
            leg.drain_digits(ctx, |_| {});
        }
    }
}
