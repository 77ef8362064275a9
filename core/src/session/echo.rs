//! Echo: a leg's media comes straight back to it (payload passthrough with the leg's own
//! output SSRC, sequence numbers and timestamps), for testing a path end to end.
//!
//! # Contract
//!
//! Every accepted packet — audio, RFC 4733 and comfort noise — is sent back to the peer in
//! the tick it arrived, rewritten like a relay's output ([`relay`](super::relay)); DTMF is
//! reported as events. Nothing is decoded; nothing allocates.

use std::net::SocketAddr;

use crate::session::leg::Leg;
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
        let Some((_, packet)) = self.leg.accept_rtp(ctx, source, datagram) else {
            return;
        };
        let payload_type = packet.payload_type();
        let bytes = packet.into_inner();
        self.leg.drain_digits(ctx, |_| {});
        self.leg.forward(ctx, bytes, payload_type);
    }

    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_>) {
        self.leg.upkeep(ctx);
        self.leg.drain_digits(ctx, |_| {});
    }
}
