//! Graceful shutdown of signalling (the draining phase of [`shutdown`](super::super::shutdown)):
//! new INVITEs get 503 with Retry-After from then on, every call that has a dialog gets a
//! BYE, every call still being set up gets 503, every media leg is removed, gateway calls are
//! hung up on both sides and outbound registrations are removed (`Expires: 0`). The loop
//! then returns once nothing is left in flight (calls, media operations, our BYE
//! transactions, gateway calls, REGISTERs), or the process stops it at the drain deadline.

use std::time::Instant;

use super::{Signalling, uas};

/// Starts draining at `now`.
pub(super) fn begin(state: &mut Signalling, now: Instant) {
    state.running = false;
    let keys = state.calls.keys();
    if !keys.is_empty() {
        tracing::info!(calls = keys.len(), "draining: hanging up every call");
    }
    for key in keys {
        uas::end_call(state, now, key, "shutdown", true);
    }
    let actions = state.gateway.hangup_all(now, &mut state.layer);
    state.run_gateway(actions);
    state.registrations.unregister_all(now, &mut state.layer);
}
