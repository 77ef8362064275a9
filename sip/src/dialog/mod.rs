//! Dialogs (RFC 3261 §12), registrations and session timers (RFC 4028).
//!
//! Everything here is plain data over [`crate::message`] values, driven by the caller
//! together with the transaction layer (this module does not depend on it): the caller feeds
//! what arrived or was sent and gets back requests and responses to send. Time is an argument
//! (`std::time::Instant`), and randomness (tags, Call-IDs, branches, cnonces, retry jitter) is
//! supplied by the caller.
//!
//! - [`Dialog`], [`DialogId`], [`DialogStore`]: dialog state (early, confirmed, terminated),
//!   in-dialog request builders (ACK, BYE, re-INVITE, UPDATE, INFO, OPTIONS) with loose and
//!   strict routing, checks on received requests (CSeq order, glare), a bounded store.
//! - [`session_timer`]: RFC 4028 negotiation (422, Min-SE, refresher) and the refresh/BYE
//!   timer.
//! - [`dtmf_info`]: DTMF in INFO bodies (`application/dtmf-relay`, `application/dtmf`).
//! - [`registrar`]: RFC 3261 §10.3 REGISTER processing over a bounded binding store.
//! - [`registration`]: RFC 3261 §10.2 outbound registration with digest auth, 423, back-off
//!   and un-REGISTER.
//! - [`uac`] and [`uas`]: the initial INVITE and OPTIONS, the response to an INVITE, and
//!   Tandem's Allow/Accept/Supported values.
//!
//! Requests built here carry no Via: the caller adds the top Via with its own branch before
//! giving the request to a client transaction.
//!
//! # Example: a UAS answers an INVITE, later hangs up
//!
//! ```
//! use tandem_sip::dialog::{uas, Dialog, DialogStore};
//! use tandem_sip::message::{ContentType, HeaderName, NameAddr, Request, StatusCode};
//!
//! let invite = Request::parse(b"INVITE sip:echo@192.0.2.10 SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n\
//!     Max-Forwards: 70\r\n\
//!     From: <sip:alice@example.com>;tag=a1\r\n\
//!     To: <sip:echo@192.0.2.10>\r\n\
//!     Call-ID: 7@192.0.2.1\r\n\
//!     CSeq: 1 INVITE\r\n\
//!     Contact: <sip:alice@192.0.2.1:5060>\r\n\r\n")?;
//! let mut dialogs = DialogStore::new(1024);
//!
//! // 200 OK with our tag (the caller's randomness), Contact and SDP answer.
//! let contact = NameAddr::parse("<sip:tandem@192.0.2.10:5060>")?;
//! let ok = uas::invite_response(&invite, StatusCode::OK, "t-5e1f", &contact)?
//!     .with_body(&ContentType::sdp(), "v=0\r\n");
//! let id = dialogs.insert(Dialog::new_uas(&invite, &ok)?).map_err(|e| e.into_dialog())
//!     .expect("room in the store").id().clone();
//! // ... hand `ok` to the server transaction; the ACK arrives; media flows ...
//!
//! // Hang up: a BYE to the peer's Contact, routed by the route set.
//! let dialog = dialogs.get_mut(&id).expect("dialog");
//! let mut bye = dialog.bye()?;
//! bye.headers.push_front(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-2");
//! assert_eq!(bye.uri.to_string(), "sip:alice@192.0.2.1:5060");
//! assert_eq!(bye.headers.cseq()?.seq, 1);
//! assert_eq!(dialogs.remove_terminated(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: a registrar handles a REGISTER
//!
//! ```
//! use std::time::Instant;
//! use tandem_sip::dialog::{Registrar, RegistrarConfig};
//! use tandem_sip::message::{HeaderName, Request, StatusCode};
//!
//! # #[allow(clippy::disallowed_methods)] let now = Instant::now(); // the caller's clock
//! let mut registrar = Registrar::new(RegistrarConfig::default());
//! let register = Request::parse(b"REGISTER sip:tandem.example SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-r1\r\n\
//!     Max-Forwards: 70\r\n\
//!     From: <sip:alice@tandem.example>;tag=a1\r\n\
//!     To: <sip:alice@tandem.example>\r\n\
//!     Call-ID: reg-1@192.0.2.1\r\n\
//!     CSeq: 1 REGISTER\r\n\
//!     Contact: <sip:alice@192.0.2.1:5060>;expires=600\r\n\r\n")?;
//! // Authenticate first (crate::auth), then:
//! let response = registrar.handle_register(now, &register, "reg-tag-1");
//! assert_eq!(response.status, StatusCode::OK);
//! assert_eq!(
//!     response.headers.first(HeaderName::Contact),
//!     Some("<sip:alice@192.0.2.1:5060>;expires=600")
//! );
//! // Later, routing an INVITE for alice:
//! let contacts = registrar.lookup(now, &"sip:alice@tandem.example".parse()?);
//! assert_eq!(contacts[0].contact.uri.to_string(), "sip:alice@192.0.2.1:5060");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: the registration client loop
//!
//! Here the registrar answers directly; in the server each REGISTER goes through a client
//! transaction, whose final response feeds [`Registration::handle_response`] and whose
//! timeout feeds [`Registration::handle_transaction_failure`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tandem_sip::auth::DigestClient;
//! use tandem_sip::dialog::{
//!     Backoff, Registrar, RegistrarConfig, Registration, RegistrationConfig, RegistrationEvent,
//! };
//! use tandem_sip::message::HeaderName;
//!
//! # #[allow(clippy::disallowed_methods)] let start = Instant::now();
//! let config = RegistrationConfig {
//!     registrar: "sip:tandem.example".parse()?,
//!     aor: "<sip:gateway@tandem.example>".parse()?,
//!     contact: "<sip:gateway@192.0.2.10:5060>".parse()?,
//!     expires: 600,
//!     call_id: "8f3a2c@192.0.2.10".into(), // caller's randomness
//!     from_tag: "77d1".into(),             // caller's randomness
//!     backoff: Backoff::default(),
//! };
//! let credentials = DigestClient::new("gateway", "secret")?;
//! let mut client = Registration::new(config, Some(credentials), [5; 32]); // seed: an OS RNG
//! let mut registrar = Registrar::new(RegistrarConfig::default());
//!
//! let mut now = start;
//! while now < start + Duration::from_secs(3600) {
//!     client.handle_timeout(now);
//!     while let Some(mut request) = client.poll_request() {
//!         // The transaction layer fills in the branch of a Via without one.
//!         request.headers.push_front(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10:5060");
//!         let response = registrar.handle_register(now, &request, "r1");
//!         client.handle_response(now, &response);
//!     }
//!     while let Some(event) = client.poll_event() {
//!         assert_eq!(event, RegistrationEvent::Registered { expires: 600 });
//!     }
//!     now = client.poll_timeout().expect("a refresh is scheduled"); // sleep until then
//! }
//! assert!(client.is_registered(now));
//! client.unregister(now); // shutdown: REGISTER with Expires: 0
//! let mut request = client.poll_request().expect("un-REGISTER");
//! request.headers.push_front(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10:5060");
//! client.handle_response(now, &registrar.handle_register(now, &request, "r1"));
//! assert_eq!(client.poll_event(), Some(RegistrationEvent::Unregistered));
//! assert!(registrar.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Real-time
//!
//! Signalling only: building and handling messages allocates; nothing blocks.

#[allow(clippy::module_inception)] // dialog::dialog holds the Dialog type (RFC 3261 §12).
mod dialog;
pub mod dtmf_info;
mod error;
mod id;
pub mod registrar;
pub mod registration;
pub mod session_timer;
mod store;
pub mod uac;
pub mod uas;

pub use dialog::{Dialog, DialogState, InDialogRejection, MAX_FORWARDS, Role, glare_retry_delay};
pub use dtmf_info::{DtmfFormat, DtmfInfoError, DtmfRelay, DtmfSignal};
pub use error::DialogError;
pub use id::DialogId;
pub use registrar::{CurrentBinding, Registrar, RegistrarConfig};
pub use registration::{
    Backoff, Registration, RegistrationConfig, RegistrationEvent, RegistrationState,
};
pub use session_timer::{
    IntervalTooSmall, Negotiated, SessionTimer, SessionTimerAction, SessionTimerConfig,
};
pub use store::{DialogStore, InsertError};
pub use uac::UacParams;
