//! Echo: a leg's media comes straight back to it (payload passthrough with the leg's own
//! output SSRC, sequence numbers and timestamps), for testing a path end to end.
//!
//! # Contract
//!
//! Every accepted packet — audio, RFC 4733 and comfort noise — is sent back to the peer in
//! the tick it arrived, rewritten like a relay's output ([`relay`](super::relay)); DTMF is
//! reported as events. Nothing is decoded; nothing allocates.
//!
//! The leg's [controls](super::controls) apply as in a relay whose two legs are the same:
//! blocked media or DTMF does not come back, muted audio comes back as G.711 silence (or not
//! at all for other codecs), and a leg on hold gets nothing.

use std::net::SocketAddr;

use crate::session::leg::{Leg, PayloadClass};
use crate::session::{Ctx, LegId, LegSpec, SessionId, leg_seed};

/// An echo session. See the module docs.
#[derive(Debug)]
pub struct Echo {
    pub(crate) leg: Leg,
}

impl Echo {
    pub(crate) fn new(id: SessionId, spec: &LegSpec) -> Self {
        Self {
            leg: Leg::new(LegId::A, spec, leg_seed(id, LegId::A)),
        }
    }

    pub(crate) fn handle_rtp(
        &mut self,
        ctx: &mut Ctx<'_>,
        source: SocketAddr,
        datagram: &mut [u8],
    ) {
        let Some((class, packet)) = self.leg.accept_rtp(ctx, source, datagram) else {
            return;
        };
        let payload_type = packet.payload_type();
        let bytes = packet.into_inner();
        self.leg.drain_digits(ctx, |_| {});
        if let Some(silence) = echo_passthrough(class, &mut self.leg) {
            self.leg.forward(ctx, bytes, payload_type, silence);
        }
    }

    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_>) {
        self.leg.upkeep(ctx, None);
        self.leg.drain_digits(ctx, |_| {});
    }
}

/// [`relay::passthrough`](super::relay::passthrough) for a leg that is its own peer.
fn echo_passthrough(class: PayloadClass, leg: &mut Leg) -> Option<Option<u8>> {
    let (sender, silence) = (leg.controls, leg.silence_byte());
    match class {
        PayloadClass::TelephoneEvent if sender.block_dtmf => None,
        PayloadClass::Media | PayloadClass::ComfortNoise if sender.block_media => None,
        PayloadClass::Media if sender.mute_in || sender.mute_out => silence.map(Some),
        _ => Some(None),
    }
    .or_else(|| {
        leg.counters.blocked += 1;
        None
    })
}
