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
//! - [Controls](super::controls): media or DTMF blocked on the sending leg is not
//!   forwarded; muted audio (mute in on the sending leg, mute out on the receiving one) is
//!   G.711 silence or, for other codecs, not sent; a receiving leg that does not send (hold)
//!   gets nothing.
//! - Real-time: forwarding copies the datagram into the transmit queue and rewrites it there;
//!   nothing allocates.

use std::net::SocketAddr;

use crate::rtp::PayloadType;
use crate::session::leg::{Leg, PayloadClass};
use crate::session::{Ctx, LegId, LegSpec, SessionError, SessionId, leg_seed};

/// Whether a packet of `class` accepted on `from` goes on to `to`, by the legs' controls:
/// `None` when it does not (counted on the leg whose control stopped it), else the byte to
/// silence its payload with, if muted. Shared with [`echo`](super::echo), where both legs
/// are the same.
pub(crate) fn passthrough(class: PayloadClass, from: &mut Leg, to: &mut Leg) -> Option<Option<u8>> {
    let (sender, receiver) = (from.controls, to.controls);
    match class {
        PayloadClass::TelephoneEvent if sender.block_dtmf => {
            from.counters.blocked += 1;
            None
        }
        PayloadClass::Media | PayloadClass::ComfortNoise if sender.block_media => {
            from.counters.blocked += 1;
            None
        }
        PayloadClass::Media if sender.mute_in || receiver.mute_out => match to.silence_byte() {
            Some(byte) => Some(Some(byte)),
            None => {
                to.counters.withheld += 1;
                None
            }
        },
        _ => Some(None),
    }
}

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
        if let Some(silence) = passthrough(class, from, to) {
            to.forward(ctx, packet.as_bytes(), payload_type, silence);
        }
    }

    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_>) {
        for leg in &mut self.legs {
            leg.upkeep(ctx, None);
            leg.drain_digits(ctx, |_| {});
        }
    }

    /// A relay forwards as packets arrive; its ticks only serve its legs' upkeep (RTCP,
    /// timeouts), so it needs none before the earliest of those.
    pub(crate) fn tick_due_us(&self) -> u64 {
        self.legs[0]
            .upkeep_due_us()
            .min(self.legs[1].upkeep_due_us())
    }
}
