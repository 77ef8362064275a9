//! SDP (RFC 8866) parsing and printing, and the offer/answer model (RFC 3264).
//!
//! Sans-IO like the rest of the crate: every function here is pure, and the one piece of state,
//! [`LocalSession`], is a plain value the caller keeps per dialog. Nothing here knows Tandem's
//! codec crates: codecs are described by RTP encoding name, clock rate, channels and format
//! parameters ([`Codec`]), and the server maps them to implementations by name.
//!
//! - [`model`]: [`SessionDescription`] and [`MediaDescription`], with typed accessors.
//! - [`mod@parse`] / [`mod@print`]: bytes to model and back; `parse(print(x)) == x`.
//! - [`attributes`]: typed views of `rtpmap`, `fmtp`, directions, `rtcp`, `ssrc`, RFC 4733
//!   event lists.
//! - [`avp`]: the RFC 3551 static payload types.
//! - [`negotiate`]: answering offers, making offers, processing answers, and the per-stream
//!   result the media engine consumes ([`NegotiatedStream`]).
//!
//! # Answering an offer
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use tandem_sip::sdp::{Codec, LocalPolicy, LocalSession, SessionDescription};
//!
//! let offer = SessionDescription::parse(
//!     b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
//!       c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6100 RTP/AVP 8 101\r\n\
//!       a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n",
//! )?;
//! let ours = IpAddr::V4(Ipv4Addr::LOCALHOST);
//! let mut policy = LocalPolicy::new(ours, vec![Codec::opus(), Codec::pcmu(), Codec::pcma()]);
//! policy.rtp_ports = vec![20000];
//! let mut session = LocalSession::new("tandem", 4242, ours);
//! let (answer, negotiated) = session.answer(&offer, &policy);
//! let stream = negotiated.streams[0].accepted().expect("PCMA is common");
//! assert_eq!(stream.format.codec.name, "PCMA");
//! assert_eq!(stream.telephone_event.map(|te| te.payload_type.get()), Some(101));
//! assert!(answer.to_string().contains("m=audio 20000 RTP/AVP 8 101\r\n"));
//! # Ok::<(), tandem_sip::sdp::SdpError>(())
//! ```

pub mod attributes;
pub mod avp;
mod error;
pub mod fuzzing;
pub mod model;
pub mod negotiate;
pub mod parse;
mod payload;
pub mod print;

pub use attributes::{Direction, Fmtp, Rtcp, Rtpmap, Ssrc, TelephoneEvents};
pub use error::{Field, NegotiationError, SdpError, SdpErrorKind};
pub use model::{
    AddressType, Attribute, Bandwidth, Connection, Host, MediaDescription, MediaType, Origin,
    SessionDescription, Timing, TransportProtocol,
};
pub use negotiate::{
    Answer, LocalPolicy, LocalSession, MediaChange, Negotiated, NegotiatedStream,
    PayloadTypeBindings, RejectReason, RejectedStream, StreamOutcome, TelephoneEventFormat, answer,
    create_offer, handle_answer,
};
pub use parse::{MAX_FORMATS, MAX_MEDIA, MAX_SDP_BYTES};
pub use payload::{Codec, InvalidPayloadType, PayloadFormat, PayloadType};
