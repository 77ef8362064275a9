//! The offer/answer model (RFC 3264) for a media engine that can transcode.
//!
//! Pure functions, one per step, and one state helper:
//! - [`answer`]: our answer to an offer, given our [`LocalPolicy`] (RFC 3264 §6). Per stream it
//!   picks the first offered codec we can terminate, in the offerer's order, keeps the
//!   offerer's payload type numbers, adds telephone-event at the chosen codec's clock when
//!   offered, echoes `ptime`, answers the direction, and rejects with port 0 (keeping the `m=`
//!   line) what it cannot serve.
//! - [`create_offer`]: an offer from a codec list (RFC 3264 §5), also for re-offers: hold
//!   (`sendonly`/`inactive`), resume, codec change (§8). Dynamic payload type numbers stay
//!   bound to their codec for the whole session ([`PayloadTypeBindings`], §8.3.2).
//! - [`handle_answer`]: checks the answer to our offer against it (§6, §7) and returns the
//!   negotiated streams.
//! - [`LocalSession`]: our `o=` line and its version (§8: incremented only when our SDP
//!   changes), the pending offer, and the current streams, so that it can tell the server
//!   whether a new exchange changed the media ([`MediaChange`]).
//!
//! The result the server consumes is one [`StreamOutcome`] per `m=` line: a
//! [`NegotiatedStream`] (remote RTP and RTCP addresses, codec, telephone-event, ptime,
//! direction) or the reason it was rejected. Codecs are names: map
//! `stream.format.codec.name` with `tandem_codecs::registry::by_name`, and remember the clock
//! rate is the RTP clock (G.722 says 8000, Opus says 48000).

mod answer;
mod bindings;
mod offer;
mod policy;
mod session;
mod stream;

pub use answer::{Answer, answer};
pub use bindings::PayloadTypeBindings;
pub use offer::{create_offer, handle_answer};
pub use policy::LocalPolicy;
pub use session::{LocalSession, Negotiated};
pub use stream::{
    MediaChange, NegotiatedStream, RejectReason, RejectedStream, StreamOutcome,
    TelephoneEventFormat,
};
