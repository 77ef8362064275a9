//! One dialog (RFC 3261 §12): its state, the in-dialog requests it builds (§12.2.1) and the
//! checks it applies to the requests it receives (§12.2.2), with INVITE glare (§14).
//!
//! A [`Dialog`] is plain data driven by the caller together with the transaction layer: the
//! caller tells it which dialog-creating request and response made it
//! ([`Dialog::new_uas`], [`Dialog::new_uac`]), which responses arrived for requests sent in
//! it ([`Dialog::handle_response`]), which requests arrived ([`Dialog::handle_request`]) and
//! which responses we sent ([`Dialog::record_sent_response`]). It never sends anything; its
//! builders return [`Request`]s without a Via, which the caller adds with its own branch
//! (randomness is the caller's) before handing them to a client transaction.
//!
//! # Invariants
//! - The local CSeq only grows, and stays below 2³¹ (§8.1.1.5).
//! - At most one INVITE transaction is in progress per direction; a second INVITE while one
//!   is in progress in either direction is refused when built (§14.1) and rejected with 491
//!   or 500 when received (§14.2).
//! - A terminated dialog builds nothing and rejects every request with 481.

use std::time::Duration;

use super::DialogError;
use super::id::DialogId;
use crate::error::HeaderError;
use crate::message::{
    CSeq, Contact, ContentType, HeaderName, Method, NameAddr, Request, Response, StatusCode, Uri,
};

/// Max-Forwards of every request we originate (RFC 3261 §8.1.1.6).
pub const MAX_FORWARDS: u32 = 70;

/// Largest CSeq number we generate (RFC 3261 §8.1.1.5: below 2³¹).
const CSEQ_MAX: u32 = (1 << 31) - 1;

/// Our role in the transaction that created the dialog (RFC 3261 §12.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the INVITE (we own the Call-ID, RFC 3261 §14.1).
    Uac,
    /// We received the INVITE.
    Uas,
}

/// The state of a dialog (RFC 3261 §12: early, confirmed; plus terminated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogState {
    /// Created by a provisional response; ends with a final response to the INVITE.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended: BYE sent or received, a non-2xx final response ended an early dialog, or a
    /// 481/408 answered an in-dialog request (§12.2.1.2). Remove it from the store.
    Terminated,
}

/// Why an in-dialog request is refused, and the status to answer it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InDialogRejection {
    /// No dialog matches the request's Call-ID and tags: 481 (RFC 3261 §12.2.2).
    #[error("no matching dialog")]
    NoDialog,
    /// The dialog is terminated: 481.
    #[error("dialog terminated")]
    Terminated,
    /// A header needed to process the request is missing or malformed: 400.
    #[error(transparent)]
    Malformed(#[from] HeaderError),
    /// The CSeq is lower than the last one received: 500 (RFC 3261 §12.2.2).
    #[error("CSeq {seq} is lower than the remote sequence number {remote_seq}")]
    OutOfOrder {
        /// The request's CSeq number.
        seq: u32,
        /// The dialog's remote sequence number.
        remote_seq: u32,
    },
    /// A re-INVITE arrived while our own re-INVITE is pending (glare): 491 (RFC 3261 §14.2).
    #[error("our INVITE is pending")]
    RequestPending,
    /// A re-INVITE arrived before we sent a final response to the previous one: 500 with a
    /// Retry-After between 0 and 10 s (RFC 3261 §14.2).
    #[error("the previous INVITE is not answered yet")]
    InviteInProgress,
}

impl InDialogRejection {
    /// The status code to answer with.
    pub const fn status(&self) -> StatusCode {
        match self {
            Self::NoDialog | Self::Terminated => StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
            Self::Malformed(_) => StatusCode::BAD_REQUEST,
            Self::OutOfOrder { .. } | Self::InviteInProgress => StatusCode::SERVER_INTERNAL_ERROR,
            Self::RequestPending => StatusCode::REQUEST_PENDING,
        }
    }

    /// Stable label for counters.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::NoDialog => "no_dialog",
            Self::Terminated => "terminated",
            Self::Malformed(e) => e.reason(),
            Self::OutOfOrder { .. } => "cseq_out_of_order",
            Self::RequestPending => "request_pending",
            Self::InviteInProgress => "invite_in_progress",
        }
    }

    /// The response to send: [`Response::from_request`] with [`Self::status`]; for
    /// [`Self::InviteInProgress`] a Retry-After of `random % 11` seconds (the caller's
    /// randomness, RFC 3261 §14.2).
    pub fn response(&self, request: &Request, random: u64) -> Response {
        let mut r = Response::from_request(request, self.status());
        if let Self::OutOfOrder { .. } = self {
            r.reason = "CSeq Out Of Order".to_owned();
        }
        if let Self::InviteInProgress = self {
            r.headers.push(HeaderName::RetryAfter, random % 11);
        }
        r
    }
}

/// A SIP dialog (RFC 3261 §12) seen from our side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    id: DialogId,
    role: Role,
    state: DialogState,
    /// Our URI with our tag (From of the requests we send).
    local_uri: NameAddr,
    /// The peer's URI with its tag (To of the requests we send).
    remote_uri: NameAddr,
    remote_target: Uri,
    route_set: Vec<NameAddr>,
    /// Last CSeq number we used; `None` is the RFC's "empty".
    local_seq: Option<u32>,
    /// Last CSeq number received; `None` is "empty".
    remote_seq: Option<u32>,
    secure: bool,
    /// Our Contact, sent in target refresh requests and in 2xx to them.
    local_contact: NameAddr,
    /// CSeq of the last INVITE we sent in this dialog (what an ACK carries, §13.2.2.4).
    invite_seq: Option<u32>,
    /// Our INVITE awaiting a final response.
    local_invite_pending: Option<u32>,
    /// The peer's INVITE we have not answered with a final response yet.
    remote_invite_pending: Option<u32>,
    /// CSeq of the INVITE whose 2xx we sent and whose ACK has not come (§13.3.1.4).
    awaiting_ack: Option<u32>,
}

/// The Contact of a message as an address.
fn contact_address(headers: &crate::message::Headers) -> Result<Option<NameAddr>, DialogError> {
    match headers.contacts().next() {
        None => Ok(None),
        Some(Err(e)) => Err(e.into()),
        Some(Ok(Contact::Wildcard)) => Err(DialogError::WildcardContact),
        Some(Ok(Contact::Address(a))) => Ok(Some(a)),
    }
}

/// True for a SIPS Request-URI (RFC 3261 §12.1.1: the secure flag; the caller checks the
/// request came over TLS, as §26.2.2 requires for SIPS anyway).
fn is_sips(uri: &Uri) -> bool {
    uri.as_sip().is_some_and(|u| u.secure)
}

impl Dialog {
    /// The dialog a UAS creates by sending `response` (a 101–199 with a To tag, or a 2xx) to
    /// `invite` (RFC 3261 §12.1.1).
    ///
    /// Route set: the INVITE's Record-Route, in order. Remote target: the INVITE's Contact.
    /// Remote sequence number: the INVITE's CSeq; the local one is empty. Local URI: the To
    /// of `response`, with our tag. Our Contact: the one in `response`. Secure when the
    /// Request-URI is SIPS.
    ///
    /// # Errors
    /// [`DialogError::NotDialogCreating`] for a 100 or a non-2xx final response or a request
    /// that is not an INVITE, [`DialogError::MissingTag`] when `response` has no To tag,
    /// [`DialogError::MissingContact`] when either message lacks a Contact,
    /// [`DialogError::Header`] for malformed headers.
    pub fn new_uas(invite: &Request, response: &Response) -> Result<Self, DialogError> {
        check_dialog_creating(&invite.method, response.status)?;
        let id = DialogId::of_sent_response(response)?;
        let h = &invite.headers;
        let cseq = h.cseq()?;
        let remote_target = contact_address(h)?.ok_or(DialogError::MissingContact)?.uri;
        let local_contact =
            contact_address(&response.headers)?.ok_or(DialogError::MissingContact)?;
        let route_set = h.record_routes().collect::<Result<Vec<_>, _>>()?;
        let state = if response.status.is_success() {
            DialogState::Confirmed
        } else {
            DialogState::Early
        };
        Ok(Self {
            id,
            role: Role::Uas,
            state,
            local_uri: response.headers.to()?,
            remote_uri: h.from()?,
            remote_target: strip_uri_headers(remote_target),
            route_set,
            local_seq: None,
            remote_seq: Some(cseq.seq),
            secure: is_sips(&invite.uri),
            local_contact,
            invite_seq: None,
            local_invite_pending: None,
            remote_invite_pending: (state == DialogState::Early).then_some(cseq.seq),
            awaiting_ack: (state == DialogState::Confirmed).then_some(cseq.seq),
        })
    }

    /// The dialog a UAC creates when `response` (a 101–199 with a To tag, or a 2xx) arrives
    /// for `invite` (RFC 3261 §12.1.2). Forking may create several early dialogs from one
    /// INVITE: one per To tag.
    ///
    /// Route set: the response's Record-Route, reversed. Remote target: the response's
    /// Contact (a provisional response without one falls back to the Request-URI until a
    /// later response brings one: a tolerance). Local sequence number: the INVITE's CSeq.
    ///
    /// # Errors
    /// As [`Dialog::new_uas`]; a 2xx without a To tag is accepted (the remote tag is then
    /// empty, §12.1.2), a 2xx without Contact is not.
    pub fn new_uac(invite: &Request, response: &Response) -> Result<Self, DialogError> {
        check_dialog_creating(&invite.method, response.status)?;
        let id = DialogId::of_received_response(response)?;
        if id.remote_tag.is_empty() && response.status.is_provisional() {
            return Err(DialogError::MissingTag);
        }
        let h = &invite.headers;
        let cseq = h.cseq()?;
        let remote_target = match contact_address(&response.headers)? {
            Some(c) => c.uri,
            None if response.status.is_provisional() => invite.uri.clone(),
            None => return Err(DialogError::MissingContact),
        };
        let local_contact = contact_address(h)?.ok_or(DialogError::MissingContact)?;
        let mut route_set = response
            .headers
            .record_routes()
            .collect::<Result<Vec<_>, _>>()?;
        route_set.reverse();
        let state = if response.status.is_success() {
            DialogState::Confirmed
        } else {
            DialogState::Early
        };
        Ok(Self {
            id,
            role: Role::Uac,
            state,
            local_uri: h.from()?,
            remote_uri: response.headers.to()?,
            remote_target: strip_uri_headers(remote_target),
            route_set,
            local_seq: Some(cseq.seq),
            remote_seq: None,
            secure: is_sips(&invite.uri),
            local_contact,
            invite_seq: Some(cseq.seq),
            local_invite_pending: (state == DialogState::Early).then_some(cseq.seq),
            remote_invite_pending: None,
            awaiting_ack: None,
        })
    }

    /// The dialog id.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Our role in the dialog-creating INVITE.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The state.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// True once terminated.
    pub fn is_terminated(&self) -> bool {
        self.state == DialogState::Terminated
    }

    /// Our URI with our tag (the From of requests we send).
    pub fn local_uri(&self) -> &NameAddr {
        &self.local_uri
    }

    /// The peer's URI with its tag (the To of requests we send).
    pub fn remote_uri(&self) -> &NameAddr {
        &self.remote_uri
    }

    /// Where in-dialog requests go (the peer's Contact, updated by target refreshes).
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The route set, in the order Route headers are written.
    pub fn route_set(&self) -> &[NameAddr] {
        &self.route_set
    }

    /// The last CSeq number we used, if any.
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The last CSeq number received, if any.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// The secure flag (RFC 3261 §12.1.1).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Our Contact.
    pub fn local_contact(&self) -> &NameAddr {
        &self.local_contact
    }

    /// Replaces our Contact (sent in the next target refresh, e.g. after an address change).
    pub fn set_local_contact(&mut self, contact: NameAddr) {
        self.local_contact = contact;
    }

    /// True while an INVITE we sent in this dialog awaits its final response.
    pub fn local_invite_pending(&self) -> bool {
        self.local_invite_pending.is_some()
    }

    /// True while an INVITE we received awaits our final response.
    pub fn remote_invite_pending(&self) -> bool {
        self.remote_invite_pending.is_some()
    }

    /// True from our 2xx to an INVITE until its ACK arrives: the caller retransmits the 2xx
    /// meanwhile (RFC 3261 §13.3.1.4: T1 doubling up to T2, giving up after 64·T1 with a
    /// BYE).
    pub fn awaiting_ack(&self) -> bool {
        self.awaiting_ack.is_some()
    }

    /// Ends the dialog without a BYE (e.g. the session timer expired after our BYE failed,
    /// or the caller gives up on it).
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    // ----- requests we send (§12.2.1) -----

    /// A BYE (RFC 3261 §15.1.1). The dialog is terminated once it is built: the session ends
    /// when the BYE is sent, and later requests in the dialog are answered 481.
    ///
    /// # Errors
    /// [`DialogError::Terminated`]; [`DialogError::Early`] for the callee in an early dialog
    /// (§15: it must not send a BYE there; it rejects the INVITE instead);
    /// [`DialogError::CSeqExhausted`].
    pub fn bye(&mut self) -> Result<Request, DialogError> {
        if self.state == DialogState::Early && self.role == Role::Uas {
            return Err(DialogError::Early);
        }
        let r = self.next_request(Method::Bye)?;
        self.state = DialogState::Terminated;
        Ok(r)
    }

    /// A re-INVITE carrying `sdp` (an offer: hold, resume, codec change; RFC 3261 §14.1);
    /// an empty `sdp` sends no body (the offer then comes in the 2xx). Carries our Contact
    /// (a target refresh).
    ///
    /// # Errors
    /// [`DialogError::Terminated`], [`DialogError::Early`],
    /// [`DialogError::InviteInProgress`] while an INVITE is in progress either way,
    /// [`DialogError::CSeqExhausted`].
    pub fn reinvite(&mut self, sdp: &[u8]) -> Result<Request, DialogError> {
        self.check_open()?;
        if self.state == DialogState::Early {
            return Err(DialogError::Early);
        }
        if self.local_invite_pending.is_some() || self.remote_invite_pending.is_some() {
            return Err(DialogError::InviteInProgress);
        }
        let mut r = self.next_request(Method::Invite)?;
        let seq = self.local_seq.unwrap_or_default();
        self.invite_seq = Some(seq);
        self.local_invite_pending = Some(seq);
        set_sdp(&mut r, sdp);
        Ok(r)
    }

    /// An UPDATE (RFC 3311) carrying `sdp` (empty: no body, e.g. a session refresh). Allowed
    /// in early and confirmed dialogs; carries our Contact (a target refresh).
    ///
    /// # Errors
    /// [`DialogError::Terminated`], [`DialogError::CSeqExhausted`].
    pub fn update(&mut self, sdp: &[u8]) -> Result<Request, DialogError> {
        let mut r = self.next_request(Method::Update)?;
        set_sdp(&mut r, sdp);
        Ok(r)
    }

    /// An INFO (RFC 6086) with `body` of `content_type` (e.g. `application/dtmf-relay`).
    ///
    /// # Errors
    /// [`DialogError::Terminated`], [`DialogError::CSeqExhausted`].
    pub fn info(
        &mut self,
        content_type: &ContentType,
        body: impl Into<Vec<u8>>,
    ) -> Result<Request, DialogError> {
        Ok(self
            .next_request(Method::Info)?
            .with_body(content_type, body))
    }

    /// An in-dialog OPTIONS (a keep-alive or capability query).
    ///
    /// # Errors
    /// [`DialogError::Terminated`], [`DialogError::CSeqExhausted`].
    pub fn options(&mut self) -> Result<Request, DialogError> {
        self.next_request(Method::Options)
    }

    /// Any other in-dialog request with the next CSeq (for methods without a builder).
    ///
    /// # Errors
    /// [`DialogError::Terminated`], [`DialogError::CSeqExhausted`].
    pub fn request(&mut self, method: Method) -> Result<Request, DialogError> {
        match method {
            Method::Invite => self.reinvite(&[]),
            Method::Bye => self.bye(),
            Method::Ack => self.ack(),
            m => self.next_request(m),
        }
    }

    /// The ACK for a 2xx to the last INVITE we sent in this dialog: same CSeq number as the
    /// INVITE, method ACK (RFC 3261 §13.2.2.4), routed like any in-dialog request. Calling it
    /// again (for a retransmitted 2xx) gives the same ACK. A late offer's answer goes in with
    /// [`Request::with_body`].
    ///
    /// # Errors
    /// [`DialogError::NoInvite`] when no INVITE was sent in this dialog.
    pub fn ack(&self) -> Result<Request, DialogError> {
        let seq = self.invite_seq.ok_or(DialogError::NoInvite)?;
        Ok(self.build_request(Method::Ack, seq))
    }

    /// Delay before retrying an INVITE that got a 491 (RFC 3261 §14.1): 2.1–4 s if we own
    /// the Call-ID (we were the UAC of the dialog), else 0–2 s, in 10 ms units, chosen by
    /// `random` (the caller's randomness).
    pub fn glare_retry_delay(&self, random: u64) -> Duration {
        glare_retry_delay(self.role, random)
    }

    fn check_open(&self) -> Result<(), DialogError> {
        if self.state == DialogState::Terminated {
            Err(DialogError::Terminated)
        } else {
            Ok(())
        }
    }

    /// Takes the next local CSeq (1 when empty) and builds the request.
    fn next_request(&mut self, method: Method) -> Result<Request, DialogError> {
        self.check_open()?;
        let seq = match self.local_seq {
            None => 1,
            Some(s) if s < CSEQ_MAX => s + 1,
            Some(_) => return Err(DialogError::CSeqExhausted),
        };
        self.local_seq = Some(seq);
        Ok(self.build_request(method, seq))
    }

    /// Request-URI and Route headers per RFC 3261 §12.2.1.1 (loose or strict routing),
    /// From, To, Call-ID, CSeq, Max-Forwards, and Contact for target refresh requests.
    fn build_request(&self, method: Method, seq: u32) -> Request {
        let (uri, routes) = self.request_target();
        let mut r = Request::new(method.clone(), uri);
        let h = &mut r.headers;
        for route in routes {
            h.push(HeaderName::Route, route);
        }
        h.push(HeaderName::MaxForwards, MAX_FORWARDS);
        h.push(HeaderName::From, &self.local_uri);
        h.push(HeaderName::To, &self.remote_uri);
        h.push(HeaderName::CallId, &self.id.call_id);
        h.push(HeaderName::CSeq, CSeq::new(seq, method.clone()));
        if is_target_refresh(&method) {
            h.push(HeaderName::Contact, &self.local_contact);
        }
        r
    }

    /// The Request-URI and the Route values (RFC 3261 §12.2.1.1).
    fn request_target(&self) -> (Uri, Vec<NameAddr>) {
        let Some(first) = self.route_set.first() else {
            return (self.remote_target.clone(), Vec::new());
        };
        if first.uri.as_sip().is_none_or(|u| u.lr()) {
            // Loose routing: the remote target is the Request-URI, the route set the Route.
            return (self.remote_target.clone(), self.route_set.clone());
        }
        // Strict routing: the first route becomes the Request-URI (stripped of what a
        // Request-URI may not hold), the rest of the route set then the remote target go in
        // Route.
        let mut routes: Vec<NameAddr> = self.route_set[1..].to_vec();
        routes.push(NameAddr::new(self.remote_target.clone()));
        (strip_uri_headers(first.uri.clone()), routes)
    }

    // ----- what arrives and what we send (§12.2.1.2, §12.2.2) -----

    /// Takes a response to a request we sent in this dialog (including the dialog-creating
    /// INVITE while the dialog is early).
    ///
    /// - 2xx to the INVITE in an early dialog: confirmed; the route set and remote target
    ///   are recomputed from the 2xx (§13.2.2.4).
    /// - 2xx to a target refresh (re-INVITE, UPDATE): the Contact replaces the remote target
    ///   (§12.2.1.2).
    /// - Final non-2xx to the INVITE of an early dialog: terminated (§12.3).
    /// - 481 or 408 to any in-dialog request: terminated (§12.2.1.2).
    /// - A final response to our INVITE ends the pending INVITE (a 491 leaves the retry to
    ///   the caller, after [`Dialog::glare_retry_delay`]).
    ///
    /// # Errors
    /// [`DialogError::WrongDialog`] when the response belongs to another dialog (a 2xx with a
    /// different To tag is another fork's dialog: create it with [`Dialog::new_uac`]);
    /// [`DialogError::Header`] for malformed headers.
    pub fn handle_response(&mut self, response: &Response) -> Result<(), DialogError> {
        let id = DialogId::of_received_response(response)?;
        let same = id.call_id == self.id.call_id
            && id.local_tag == self.id.local_tag
            && id.remote_tag == self.id.remote_tag;
        if !same {
            return Err(DialogError::WrongDialog);
        }
        let cseq = response.headers.cseq()?;
        let status = response.status;
        let code = status.as_u16();
        if cseq.method == Method::Invite && status.is_final() {
            if self.local_invite_pending == Some(cseq.seq) {
                self.local_invite_pending = None;
            }
            if self.state == DialogState::Early && self.role == Role::Uac {
                if status.is_success() {
                    self.state = DialogState::Confirmed;
                    let mut routes = response
                        .headers
                        .record_routes()
                        .collect::<Result<Vec<_>, _>>()?;
                    routes.reverse();
                    self.route_set = routes;
                    self.remote_uri = response.headers.to()?;
                } else {
                    self.state = DialogState::Terminated;
                }
            }
        }
        if status.is_success() && is_target_refresh(&cseq.method) {
            if let Some(c) = contact_address(&response.headers)? {
                self.remote_target = strip_uri_headers(c.uri);
            }
        }
        if code == 481 || code == 408 {
            self.state = DialogState::Terminated;
        }
        Ok(())
    }

    /// Checks and takes a request received in this dialog (RFC 3261 §12.2.2): the CSeq must
    /// not be lower than the remote sequence number, a re-INVITE must not cross ours (§14.2),
    /// a target refresh (re-INVITE, UPDATE) with a Contact replaces the remote target, a BYE
    /// terminates the dialog. ACK and CANCEL are accepted without touching the sequence
    /// numbers (they reuse the INVITE's).
    ///
    /// On `Ok` answer the request (e.g. [`Dialog::response`]); on `Err` answer with
    /// [`InDialogRejection::response`].
    ///
    /// # Errors
    /// An [`InDialogRejection`] naming the status to answer with.
    pub fn handle_request(&mut self, request: &Request) -> Result<(), InDialogRejection> {
        if self.state == DialogState::Terminated {
            // The ACK for our final response may still arrive; nothing to answer anyway.
            return match request.method {
                Method::Ack => Ok(()),
                _ => Err(InDialogRejection::Terminated),
            };
        }
        let cseq = request.headers.cseq()?;
        if request.method == Method::Ack {
            if self.awaiting_ack == Some(cseq.seq) {
                self.awaiting_ack = None;
            }
            return Ok(());
        }
        if request.method == Method::Cancel {
            return Ok(());
        }
        let new_target = if is_target_refresh(&request.method) {
            match contact_address(&request.headers) {
                Ok(c) => c.map(|c| strip_uri_headers(c.uri)),
                Err(DialogError::Header(e)) => return Err(InDialogRejection::Malformed(e)),
                Err(_) => return Err(InDialogRejection::Malformed(malformed_contact())),
            }
        } else {
            None
        };
        if let Some(remote_seq) = self.remote_seq {
            if cseq.seq < remote_seq {
                return Err(InDialogRejection::OutOfOrder {
                    seq: cseq.seq,
                    remote_seq,
                });
            }
        }
        self.remote_seq = Some(cseq.seq);
        if request.method == Method::Invite {
            if self.local_invite_pending.is_some() {
                return Err(InDialogRejection::RequestPending);
            }
            if self.remote_invite_pending.is_some_and(|s| s != cseq.seq) {
                return Err(InDialogRejection::InviteInProgress);
            }
            self.remote_invite_pending = Some(cseq.seq);
        }
        if let Some(target) = new_target {
            self.remote_target = target;
        }
        if request.method == Method::Bye {
            self.state = DialogState::Terminated;
        }
        Ok(())
    }

    /// A response to `request` (received in this dialog) with `status`: the headers of
    /// [`Response::from_request`], and our Contact in a 2xx to a target refresh (RFC 3261
    /// §12.2.2). Pass it to [`Dialog::record_sent_response`] when it is sent.
    pub fn response(&self, request: &Request, status: StatusCode) -> Response {
        let mut r = Response::from_request(request, status);
        if status.is_success() && is_target_refresh(&request.method) {
            r.headers.push(HeaderName::Contact, &self.local_contact);
        }
        r
    }

    /// Takes a response we sent for a request in this dialog (or for the dialog-creating
    /// INVITE): a final response to a received INVITE ends it as pending; a 2xx to it starts
    /// [`Dialog::awaiting_ack`]; as UAS of an early dialog, a 2xx confirms the dialog and a
    /// non-2xx final response terminates it.
    ///
    /// # Errors
    /// [`DialogError::Header`] when the response's CSeq is missing or malformed.
    pub fn record_sent_response(&mut self, response: &Response) -> Result<(), DialogError> {
        let cseq = response.headers.cseq()?;
        if cseq.method != Method::Invite || !response.status.is_final() {
            return Ok(());
        }
        if self.remote_invite_pending == Some(cseq.seq) {
            self.remote_invite_pending = None;
        }
        if self.state == DialogState::Early && self.role == Role::Uas {
            self.state = if response.status.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Terminated
            };
        }
        if response.status.is_success() {
            self.awaiting_ack = Some(cseq.seq);
            if let Some(c) = contact_address(&response.headers)? {
                self.local_contact = c;
            }
        }
        Ok(())
    }
}

/// Delay before retrying an INVITE after a 491 (RFC 3261 §14.1): for the owner of the
/// Call-ID ([`Role::Uac`]) 2.1 to 4 s, otherwise 0 to 2 s, both in 10 ms steps picked with
/// `random`.
pub fn glare_retry_delay(role: Role, random: u64) -> Duration {
    let steps = match role {
        Role::Uac => 210 + random % 191,
        Role::Uas => random % 201,
    };
    Duration::from_millis(steps * 10)
}

/// INVITE and UPDATE refresh the remote target (RFC 3261 §12.2, RFC 3311 §5.1).
fn is_target_refresh(method: &Method) -> bool {
    matches!(method, Method::Invite | Method::Update)
}

/// A non-2xx final response or a 100 does not create a dialog; only INVITE does here.
fn check_dialog_creating(method: &Method, status: StatusCode) -> Result<(), DialogError> {
    let code = status.as_u16();
    if *method != Method::Invite || !(101..300).contains(&code) {
        return Err(DialogError::NotDialogCreating { status });
    }
    Ok(())
}

/// Removes the headers component (`?…`) a Request-URI may not carry (RFC 3261 §19.1.5).
fn strip_uri_headers(mut uri: Uri) -> Uri {
    if let Some(sip) = uri.as_sip_mut() {
        sip.headers = None;
        sip.params.remove("method");
    }
    uri
}

fn malformed_contact() -> HeaderError {
    HeaderError::Invalid {
        header: HeaderName::Contact,
        error: crate::error::ValueError::new(crate::error::ParseErrorKind::InvalidUri, 0),
    }
}

fn set_sdp(r: &mut Request, sdp: &[u8]) {
    if !sdp.is_empty() {
        r.headers.set(HeaderName::ContentType, ContentType::sdp());
        r.body = sdp.to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alice's INVITE as Tandem (the UAS) receives it through two record-routing proxies.
    const INVITE: &str = "INVITE sip:echo@tandem.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP p2.example;branch=z9hG4bK-p2\r\n\
        Via: SIP/2.0/UDP p1.example;branch=z9hG4bK-p1\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-a\r\n\
        Record-Route: <sip:p2.example;lr>\r\n\
        Record-Route: <sip:p1.example;lr>\r\n\
        Max-Forwards: 68\r\n\
        From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n\
        To: <sip:echo@tandem.example>\r\n\
        Call-ID: c1@192.0.2.1\r\n\
        CSeq: 10 INVITE\r\n\
        Contact: <sip:alice@192.0.2.1:5060>\r\n\
        Content-Length: 0\r\n\r\n";

    fn invite() -> Request {
        Request::parse(INVITE.as_bytes()).unwrap()
    }

    fn our_contact() -> NameAddr {
        NameAddr::parse("<sip:tandem@192.0.2.10:5060>").unwrap()
    }

    fn uas_response(invite: &Request, status: StatusCode) -> Response {
        super::super::uas::invite_response(invite, status, "t1", &our_contact()).unwrap()
    }

    fn uas_confirmed() -> Dialog {
        let inv = invite();
        Dialog::new_uas(&inv, &uas_response(&inv, StatusCode::OK)).unwrap()
    }

    /// A request from Alice in the dialog (through the proxies).
    fn from_alice(method: &str, seq: u32, extra: &str) -> Request {
        Request::parse(
            format!(
                "{method} sip:tandem@192.0.2.10:5060 SIP/2.0\r\n\
                Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-{method}{seq}\r\n\
                Max-Forwards: 70\r\n\
                From: <sip:alice@example.com>;tag=a1\r\n\
                To: <sip:echo@tandem.example>;tag=t1\r\n\
                Call-ID: c1@192.0.2.1\r\n\
                CSeq: {seq} {method}\r\n{extra}\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
    }

    /// A response from Alice to a request we sent.
    fn response_from_alice(request: &Request, code: u16, extra: &str) -> Response {
        let mut r = Response::from_request(request, StatusCode::new(code).unwrap());
        r.headers
            .push_front(HeaderName::Via, "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-x");
        let text = format!("{}", crate::message::Message::from(r));
        let text = text.replacen("\r\n\r\n", &format!("\r\n{extra}\r\n"), 1);
        Response::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn uas_dialog_takes_rfc3261_12_1_1_state_from_the_invite() {
        let d = uas_confirmed();
        assert_eq!(d.id(), &DialogId::new("c1@192.0.2.1", "t1", "a1"));
        assert_eq!(d.role(), Role::Uas);
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(d.remote_target().to_string(), "sip:alice@192.0.2.1:5060");
        let routes: Vec<String> = d.route_set().iter().map(ToString::to_string).collect();
        assert_eq!(routes, ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]);
        assert_eq!(d.remote_seq(), Some(10));
        assert_eq!(d.local_seq(), None);
        assert_eq!(d.local_uri().tag(), Some("t1"));
        assert_eq!(d.remote_uri().tag(), Some("a1"));
        assert!(!d.secure());
    }

    #[test]
    fn bye_is_loose_routed_to_the_remote_target_and_terminates() {
        let mut d = uas_confirmed();
        let bye = d.bye().unwrap();
        assert_eq!(bye.uri.to_string(), "sip:alice@192.0.2.1:5060");
        let routes: Vec<&str> = bye.headers.values(HeaderName::Route).collect();
        assert_eq!(routes, ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]);
        assert_eq!(bye.headers.cseq().unwrap(), CSeq::new(1, Method::Bye));
        assert_eq!(
            bye.headers.first(HeaderName::From),
            Some("<sip:echo@tandem.example>;tag=t1")
        );
        assert_eq!(
            bye.headers.first(HeaderName::To),
            Some("\"Alice\" <sip:alice@example.com>;tag=a1")
        );
        assert_eq!(bye.headers.call_id(), Ok("c1@192.0.2.1"));
        assert_eq!(bye.headers.max_forwards(), Ok(Some(70)));
        assert!(!bye.headers.contains("Contact"));
        assert!(d.is_terminated());
        assert_eq!(d.bye(), Err(DialogError::Terminated));
        assert_eq!(
            d.handle_request(&from_alice("INFO", 11, "")),
            Err(InDialogRejection::Terminated)
        );
    }

    #[test]
    fn strict_route_becomes_the_request_uri_and_the_remote_target_the_last_route() {
        let text = INVITE.replace("<sip:p2.example;lr>", "<sip:p2.example>");
        let inv = Request::parse(text.as_bytes()).unwrap();
        let mut d = Dialog::new_uas(&inv, &uas_response(&inv, StatusCode::OK)).unwrap();
        let bye = d.bye().unwrap();
        assert_eq!(bye.uri.to_string(), "sip:p2.example");
        let routes: Vec<&str> = bye.headers.values(HeaderName::Route).collect();
        assert_eq!(
            routes,
            ["<sip:p1.example;lr>", "<sip:alice@192.0.2.1:5060>"]
        );
    }

    #[test]
    fn uac_dialog_goes_early_then_confirmed_with_the_route_set_reversed() {
        // Tandem calls Bob: the INVITE as we sent it, and Bob's responses through two proxies.
        let inv = Request::parse(
            b"INVITE sip:bob@biloxi.example SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-i\r\n\
            Max-Forwards: 70\r\n\
            From: <sip:tandem@192.0.2.10>;tag=t9\r\n\
            To: <sip:bob@biloxi.example>\r\n\
            Call-ID: out-1@192.0.2.10\r\n\
            CSeq: 1 INVITE\r\n\
            Contact: <sip:tandem@192.0.2.10>\r\n\r\n",
        )
        .unwrap();
        let reply = |code: u16, contact: &str| {
            let mut r = Response::from_request(&inv, StatusCode::new(code).unwrap());
            r.set_to_tag("b7").unwrap();
            r.headers
                .push(HeaderName::RecordRoute, "<sip:p1.example;lr>");
            r.headers
                .push(HeaderName::RecordRoute, "<sip:p2.example;lr>");
            if !contact.is_empty() {
                r.headers.push(HeaderName::Contact, contact);
            }
            r
        };
        let ringing = reply(180, "");
        let mut d = Dialog::new_uac(&inv, &ringing).unwrap();
        assert_eq!(d.state(), DialogState::Early);
        assert_eq!(d.id(), &DialogId::new("out-1@192.0.2.10", "t9", "b7"));
        assert_eq!(d.remote_target().to_string(), "sip:bob@biloxi.example");
        assert!(d.local_invite_pending());
        assert_eq!(d.reinvite(b""), Err(DialogError::Early));

        let ok = reply(200, "<sip:bob@192.0.2.20>");
        d.handle_response(&ok).unwrap();
        assert_eq!(d.state(), DialogState::Confirmed);
        assert!(!d.local_invite_pending());
        assert_eq!(d.remote_target().to_string(), "sip:bob@192.0.2.20");
        let routes: Vec<String> = d.route_set().iter().map(ToString::to_string).collect();
        assert_eq!(routes, ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]);

        let ack = d.ack().unwrap();
        assert_eq!(ack.headers.cseq().unwrap(), CSeq::new(1, Method::Ack));
        assert_eq!(ack.uri.to_string(), "sip:bob@192.0.2.20");
        assert_eq!(
            d.ack().unwrap(),
            ack,
            "the same ACK for a retransmitted 2xx"
        );
        let bye = d.bye().unwrap();
        assert_eq!(bye.headers.cseq().unwrap(), CSeq::new(2, Method::Bye));
        assert_eq!(
            bye.headers.first(HeaderName::To),
            Some("<sip:bob@biloxi.example>;tag=b7")
        );

        // A 180 without a tag makes no dialog; a 2xx without Contact neither.
        let mut untagged = Response::from_request(&inv, StatusCode::RINGING);
        untagged
            .headers
            .push(HeaderName::Contact, "<sip:bob@192.0.2.20>");
        assert_eq!(
            Dialog::new_uac(&inv, &untagged),
            Err(DialogError::MissingTag)
        );
        assert_eq!(
            Dialog::new_uac(&inv, &reply(200, "")),
            Err(DialogError::MissingContact)
        );
        assert!(matches!(
            Dialog::new_uac(&inv, &reply(486, "")),
            Err(DialogError::NotDialogCreating { .. })
        ));
    }

    #[test]
    fn early_uac_dialog_ends_with_a_final_error() {
        let inv = invite();
        // Pretend we sent this INVITE: swap roles by using new_uac with a response from Bob.
        let mut ringing = Response::from_request(&inv, StatusCode::RINGING);
        ringing.set_to_tag("b1").unwrap();
        let mut d = Dialog::new_uac(&inv, &ringing).unwrap();
        let mut busy = Response::from_request(&inv, StatusCode::BUSY_HERE);
        busy.set_to_tag("b1").unwrap();
        d.handle_response(&busy).unwrap();
        assert!(d.is_terminated());
        let mut other = Response::from_request(&inv, StatusCode::OK);
        other.set_to_tag("b2").unwrap();
        assert_eq!(d.handle_response(&other), Err(DialogError::WrongDialog));
    }

    #[test]
    fn uas_early_dialog_is_confirmed_by_our_2xx_and_refuses_our_bye() {
        let inv = invite();
        let ringing = uas_response(&inv, StatusCode::RINGING);
        let mut d = Dialog::new_uas(&inv, &ringing).unwrap();
        assert_eq!(d.state(), DialogState::Early);
        assert!(d.remote_invite_pending());
        assert_eq!(d.bye(), Err(DialogError::Early));
        d.record_sent_response(&ringing).unwrap();
        assert_eq!(d.state(), DialogState::Early);
        d.record_sent_response(&uas_response(&inv, StatusCode::OK))
            .unwrap();
        assert_eq!(d.state(), DialogState::Confirmed);
        assert!(!d.remote_invite_pending());
        assert!(d.awaiting_ack());
        d.handle_request(&from_alice("ACK", 9, "")).unwrap();
        assert!(d.awaiting_ack(), "an ACK for another INVITE");
        d.handle_request(&from_alice("ACK", 10, "")).unwrap();
        assert!(!d.awaiting_ack());

        let mut d = Dialog::new_uas(&inv, &ringing).unwrap();
        d.record_sent_response(&uas_response(&inv, StatusCode::BUSY_HERE))
            .unwrap();
        assert!(d.is_terminated());
        assert!(matches!(
            Dialog::new_uas(&inv, &uas_response(&inv, StatusCode::TRYING)),
            Err(DialogError::NotDialogCreating { .. })
        ));
    }

    #[test]
    fn lower_cseq_is_rejected_with_500_and_ack_is_exempt() {
        let mut d = uas_confirmed();
        assert_eq!(d.handle_request(&from_alice("ACK", 10, "")), Ok(()));
        assert_eq!(d.handle_request(&from_alice("INFO", 11, "")), Ok(()));
        assert_eq!(d.remote_seq(), Some(11));
        let stale = from_alice("OPTIONS", 9, "");
        let rejection = d.handle_request(&stale).unwrap_err();
        assert_eq!(
            rejection,
            InDialogRejection::OutOfOrder {
                seq: 9,
                remote_seq: 11
            }
        );
        let r = rejection.response(&stale, 0);
        assert_eq!(r.status, StatusCode::SERVER_INTERNAL_ERROR);
        assert_eq!(r.headers.to().unwrap().tag(), Some("t1"));
        assert_eq!(d.remote_seq(), Some(11));
    }

    #[test]
    fn target_refresh_requests_and_responses_replace_the_remote_target() {
        let mut d = uas_confirmed();
        let update = from_alice("UPDATE", 11, "Contact: <sip:alice@198.51.100.7:5070>\r\n");
        d.handle_request(&update).unwrap();
        assert_eq!(d.remote_target().to_string(), "sip:alice@198.51.100.7:5070");
        let ok = d.response(&update, StatusCode::OK);
        assert_eq!(
            ok.headers.first(HeaderName::Contact),
            Some("<sip:tandem@192.0.2.10:5060>")
        );
        // INFO is not a target refresh.
        d.handle_request(&from_alice(
            "INFO",
            12,
            "Contact: <sip:elsewhere@192.0.2.99>\r\n",
        ))
        .unwrap();
        assert_eq!(d.remote_target().to_string(), "sip:alice@198.51.100.7:5070");

        let reinvite = d.reinvite(b"v=0\r\n").unwrap();
        assert_eq!(reinvite.uri.to_string(), "sip:alice@198.51.100.7:5070");
        assert_eq!(
            reinvite.headers.cseq().unwrap(),
            CSeq::new(1, Method::Invite)
        );
        assert!(
            reinvite
                .headers
                .content_type()
                .unwrap()
                .unwrap()
                .is("application", "sdp")
        );
        assert_eq!(
            reinvite.headers.first(HeaderName::Contact),
            Some("<sip:tandem@192.0.2.10:5060>")
        );
        let ok = response_from_alice(&reinvite, 200, "Contact: <sip:alice@203.0.113.5>\r\n");
        d.handle_response(&ok).unwrap();
        assert_eq!(d.remote_target().to_string(), "sip:alice@203.0.113.5");
        assert_eq!(
            d.ack().unwrap().headers.cseq().unwrap(),
            CSeq::new(1, Method::Ack)
        );
    }

    #[test]
    fn reinvite_glare_gets_491_and_a_second_incoming_invite_gets_500_with_retry_after() {
        let mut d = uas_confirmed();
        let ours = d.reinvite(b"v=0\r\n").unwrap();
        assert_eq!(d.reinvite(b""), Err(DialogError::InviteInProgress));
        let theirs = from_alice("INVITE", 11, "");
        let rejection = d.handle_request(&theirs).unwrap_err();
        assert_eq!(rejection, InDialogRejection::RequestPending);
        assert_eq!(
            rejection.response(&theirs, 3).status,
            StatusCode::REQUEST_PENDING
        );

        // Our re-INVITE gets its own 491: the retry waits 0–2 s (we are not the Call-ID owner).
        d.handle_response(&response_from_alice(&ours, 491, ""))
            .unwrap();
        assert!(!d.local_invite_pending());
        assert!(d.glare_retry_delay(u64::MAX) <= Duration::from_secs(2));

        // Alice retries first; we accept, and refuse a second one before answering.
        let retry = from_alice("INVITE", 12, "");
        d.handle_request(&retry).unwrap();
        assert_eq!(d.reinvite(b""), Err(DialogError::InviteInProgress));
        let second = from_alice("INVITE", 13, "");
        let rejection = d.handle_request(&second).unwrap_err();
        assert_eq!(rejection, InDialogRejection::InviteInProgress);
        let r = rejection.response(&second, 27);
        assert_eq!(r.status, StatusCode::SERVER_INTERNAL_ERROR);
        assert_eq!(r.headers.retry_after().unwrap().unwrap().seconds, 5);
        d.record_sent_response(&d.response(&retry, StatusCode::OK))
            .unwrap();
        assert!(!d.remote_invite_pending());
        assert!(d.reinvite(b"").is_ok());
    }

    #[test]
    fn glare_retry_delays_stay_in_rfc3261_14_1_ranges() {
        for random in (0..5000u64).chain([u64::MAX, u64::MAX - 1]) {
            let uac = glare_retry_delay(Role::Uac, random);
            assert!(uac >= Duration::from_millis(2100) && uac <= Duration::from_secs(4));
            let uas = glare_retry_delay(Role::Uas, random);
            assert!(uas <= Duration::from_secs(2));
            assert_eq!(uac.as_millis() % 10, 0);
            assert_eq!(uas.as_millis() % 10, 0);
        }
        assert_eq!(glare_retry_delay(Role::Uac, 0), Duration::from_millis(2100));
        assert_eq!(glare_retry_delay(Role::Uac, 190), Duration::from_secs(4));
        assert_eq!(glare_retry_delay(Role::Uas, 200), Duration::from_secs(2));
    }

    #[test]
    fn in_dialog_481_or_408_terminates_and_bye_received_terminates() {
        let mut d = uas_confirmed();
        let info = d
            .info(
                &ContentType::parse("application/dtmf-relay").unwrap(),
                "Signal=5\r\n",
            )
            .unwrap();
        assert_eq!(info.headers.cseq().unwrap(), CSeq::new(1, Method::Info));
        assert_eq!(d.options().unwrap().headers.cseq().unwrap().seq, 2);
        d.handle_response(&response_from_alice(&info, 481, ""))
            .unwrap();
        assert!(d.is_terminated());

        let mut d = uas_confirmed();
        d.handle_request(&from_alice("BYE", 11, "")).unwrap();
        assert!(d.is_terminated());
        assert_eq!(d.handle_request(&from_alice("ACK", 10, "")), Ok(()));
    }

    #[test]
    fn sips_request_uri_sets_the_secure_flag_and_uri_headers_are_dropped() {
        let text = INVITE
            .replace(
                "INVITE sip:echo@tandem.example",
                "INVITE sips:echo@tandem.example",
            )
            .replace(
                "Contact: <sip:alice@192.0.2.1:5060>",
                "Contact: <sip:alice@192.0.2.1:5060;method=INVITE?Subject=x>",
            );
        let inv = Request::parse(text.as_bytes()).unwrap();
        let mut d = Dialog::new_uas(&inv, &uas_response(&inv, StatusCode::OK)).unwrap();
        assert!(d.secure());
        assert_eq!(d.bye().unwrap().uri.to_string(), "sip:alice@192.0.2.1:5060");
    }

    #[test]
    fn local_cseq_never_reaches_2_pow_31() {
        let mut d = uas_confirmed();
        d.local_seq = Some(CSEQ_MAX - 1);
        assert_eq!(d.options().unwrap().headers.cseq().unwrap().seq, CSEQ_MAX);
        assert_eq!(d.options(), Err(DialogError::CSeqExhausted));
    }
}
