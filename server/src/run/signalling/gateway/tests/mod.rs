//! The gateway driven in virtual time against a transaction layer, with scripted callers
//! and callees (no sockets, no runtime: media actions are checked and answered by hand).
//! Forking and late offers have files of their own.

mod fork;
mod late_offer;

use tandem_core::bus::LegPorts;
use tandem_core::session::SessionSpec;
use tandem_sip::message::{ContentType, HeaderName, Message, Method, Transport};
use tandem_sip::transaction::{Config as LayerConfig, Event, Input, Transmit};

use super::wire::next_hop;
use super::*;
use crate::run::config::Config;
use crate::run::locate::{Hop, LocateError};

const LOCAL: &str = "127.0.0.1:5060";
const CALLER: &str = "127.0.0.1:5062";
const CALLEE: &str = "127.0.0.1:5080";
/// Where [`OPUS_ANSWER`] receives RTP.
const CALLEE_MEDIA: &str = "127.0.0.1:6000";

/// The origin of virtual time: only offsets from it matter.
fn origin() -> Instant {
    Instant::now()
}

/// sipp's `uac_pcap` INVITE: PCMA and telephone-event.
fn caller_invite(branch: &str) -> Vec<u8> {
    let sdp = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
               c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6100 RTP/AVP 8 101\r\n\
               a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
               a=fmtp:101 0-11,16\r\n";
    format!(
        "INVITE sip:opus-1@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CALLER};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: sipp <sip:sipp@{CALLER}>;tag=caller1\r\n\
         To: <sip:opus-1@127.0.0.1:5060>\r\n\
         Call-ID: in-1@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:sipp@{CALLER}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

/// `uas_opus_only.xml`'s answer.
const OPUS_ANSWER: &str = "v=0\r\no=user1 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
    c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 96\r\n\
    a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\na=ptime:20\r\n";

struct Harness {
    now: Instant,
    layer: TransactionLayer,
    gateway: Gateway,
    config: Config,
}

impl Harness {
    fn new() -> Self {
        Self::with_codecs(r#"["opus"]"#)
    }

    /// A gateway whose `opus-` route offers `codecs` (a TOML list).
    fn with_codecs(codecs: &str) -> Self {
        let config = Config::from_toml(&format!(
            "[[routes]]\nmatch = '^sip:opus-'\ntarget = \"sip:127.0.0.1:5080\"\n\
             codecs = {codecs}\n"
        ))
        .unwrap();
        let policy = MediaPolicy::from_config(&config);
        Self {
            now: origin(),
            layer: TransactionLayer::new(LayerConfig::default(), [9; 16]),
            gateway: Gateway::new(LOCAL.parse().unwrap(), [127, 0, 0, 1].into(), policy),
            config,
        }
    }

    /// Feeds `bytes` from `source` and returns the layer's events.
    fn receive(&mut self, source: &str, bytes: &[u8]) -> Vec<Event> {
        self.layer.handle(
            self.now,
            Input::Received {
                source: source.parse().unwrap(),
                local: LOCAL.parse().unwrap(),
                transport: Transport::Udp,
                connection: None,
                bytes,
            },
        );
        std::iter::from_fn(|| self.layer.poll_event()).collect()
    }

    fn sent(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.layer.poll_transmit()).collect()
    }

    /// The INVITE arrives and is routed to the opus route; returns its transaction.
    fn invite(&mut self) -> (TransactionId, Vec<MediaAction>) {
        let targets = [self.config.routes[0].target.clone()];
        self.invite_routed_to(&caller_invite("z9hG4bK-in1"), &targets)
    }

    /// The INVITE `bytes` arrive from the caller and go to `targets` with the first
    /// route's codecs; returns its transaction and the gateway's actions.
    fn invite_routed_to(
        &mut self,
        bytes: &[u8],
        targets: &[String],
    ) -> (TransactionId, Vec<MediaAction>) {
        let (id, request) = self.new_request(bytes, "a new INVITE");
        let codecs = self.config.codecs_of_route(&self.config.routes[0]).to_vec();
        let prefs = self.config.codecs.preferences.clone();
        let target = GatewayTarget {
            targets,
            codecs: &codecs,
        };
        let actions =
            self.gateway
                .handle_invite(self.now, &mut self.layer, id, &request, &target, &prefs);
        (id, actions)
    }

    /// The caller's request `bytes` arrive and open a server transaction (`what` names
    /// the request for the panic if they do not); returns it and the request.
    fn new_request(&mut self, bytes: &[u8], what: &str) -> (TransactionId, Request) {
        let events = self.receive(CALLER, bytes);
        let Some(Event::NewRequest { id, request, .. }) = events.into_iter().next() else {
            panic!("{what}");
        };
        (id, request)
    }

    /// [`Self::invite`], then [`Self::media_created`]: the call is on its way to the
    /// callee. Returns the caller's transaction, the call and the outbound INVITE.
    fn invite_forwarded(&mut self) -> (TransactionId, GatewayCallId, Request) {
        let (server, actions) = self.invite();
        let (call, _) = spec_call(&actions);
        (server, call, self.media_created(call))
    }

    /// The session is created with inbound port 36000 and outbound port 36002; returns
    /// the outbound INVITE.
    fn media_created(&mut self, call: GatewayCallId) -> Request {
        self.session_created(call, 7, 36000)
    }

    /// Session `session` is created with inbound port `port` and outbound port
    /// `port + 2`; returns the request that goes out to the callee.
    fn session_created(&mut self, call: GatewayCallId, session: u64, port: u16) -> Request {
        let handle = session_handle(session, [port, port + 2]);
        let actions =
            self.gateway
                .handle_media_created(self.now, &mut self.layer, call, Ok(handle));
        assert!(actions.is_empty());
        let sent = self.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].destination, CALLEE.parse().unwrap());
        Request::parse(&sent[0].bytes).unwrap()
    }

    /// The callee answers `invite` with `status` (and the opus SDP for a 2xx); returns
    /// the gateway's actions.
    fn callee_answers(&mut self, invite: &Request, status: StatusCode) -> Vec<MediaAction> {
        self.callee_answers_with(invite, status, OPUS_ANSWER)
    }

    /// As [`Self::callee_answers`], with `sdp` in a 2xx.
    fn callee_answers_with(
        &mut self,
        invite: &Request,
        status: StatusCode,
        sdp: &str,
    ) -> Vec<MediaAction> {
        let mut r = Response::from_request(invite, status);
        if status.as_u16() != 100 && r.headers.to().unwrap().tag().is_none() {
            r.set_to_tag("callee1").unwrap();
        }
        self.response_in(CALLEE, r, sdp)
    }

    /// `response` (with our Contact and `sdp` if it is a 2xx) reaches the gateway from
    /// `from`; returns the gateway's actions.
    fn response_in(&mut self, from: &str, mut response: Response, sdp: &str) -> Vec<MediaAction> {
        if response.status.is_success() {
            response
                .headers
                .push(HeaderName::Contact, format!("<sip:{from}>"));
            response = response.with_body(&ContentType::sdp(), sdp);
        }
        let bytes = Message::from(response).to_bytes();
        let mut actions = Vec::new();
        for event in self.receive(from, &bytes) {
            if let Event::Response { id, response } = event {
                assert!(self.gateway.owns_transaction(id));
                actions.extend(self.gateway.handle_response(
                    self.now,
                    &mut self.layer,
                    id,
                    &response,
                ));
            }
        }
        actions
    }
}

/// Session `id` as the runtime reports it created: the caller's leg (0) at RTP port
/// `ports[0]`, the callee's (1) at `ports[1]`, each with RTCP one above.
fn session_handle(id: u64, ports: [u16; 2]) -> SessionHandle {
    let leg = |leg: u32, rtp: u16| LegPorts {
        leg: LegId(leg),
        rtp: SocketAddr::from(([127, 0, 0, 1], rtp)),
        rtcp_port: rtp + 1,
    };
    SessionHandle {
        id: SessionId(id),
        worker: 0,
        legs: vec![leg(0, ports[0]), leg(1, ports[1])],
    }
}

/// The sessions `actions` remove (`None` for an action that removes none): what a call that
/// ends asks of the runtime is `[Some(id)]`.
fn removals(actions: &[MediaAction]) -> Vec<Option<u64>> {
    actions
        .iter()
        .map(|a| match a {
            MediaAction::Remove { session, .. } => Some(session.0),
            _ => None,
        })
        .collect()
}

/// What an answer asks of the runtime: send `leg` of session `id` to `remote`.
fn remote_set(id: u64, leg: u32, remote: &str) -> MediaAction {
    MediaAction::SetRemote {
        session: SessionId(id),
        leg: LegId(leg),
        remote: addr(remote),
    }
}

/// What a hold or resume asks of the runtime: `leg` of session `id` now `direction`.
fn direction_set(id: u64, leg: u32, direction: MediaDirection) -> MediaAction {
    MediaAction::SetDirection {
        session: SessionId(id),
        leg: LegId(leg),
        direction,
    }
}

/// A message body (SDP) as text.
fn text_of(body: &[u8]) -> String {
    String::from_utf8(body.to_vec()).unwrap()
}

fn spec_call(actions: &[MediaAction]) -> (GatewayCallId, &SessionSpec) {
    match actions {
        [MediaAction::Create { call, spec }] => (*call, spec),
        other => panic!("{other:?}"),
    }
}

/// The one [`MediaAction::Replace`] in `actions`: its call, session and new spec.
fn replaced(actions: &[MediaAction]) -> (GatewayCallId, SessionId, &SessionSpec) {
    match actions {
        [
            MediaAction::Replace {
                call,
                session,
                spec,
            },
        ] => (*call, *session, spec),
        other => panic!("{other:?}"),
    }
}

fn response_of(t: &Transmit) -> Response {
    Response::parse(&t.bytes).unwrap()
}

#[test]
fn a_pcma_caller_is_bridged_to_an_opus_callee_and_hangs_up() {
    let mut h = Harness::new();
    let (_, actions) = h.invite();
    let (call, spec) = spec_call(&actions);
    let SessionSpec::Transcode { a, b } = spec else {
        panic!("PCMA to opus transcodes: {spec:?}");
    };
    assert_eq!(a.codec.format, tandem_codecs::Format::PCMA);
    assert_eq!(a.remote, Some("127.0.0.1:6100".parse().unwrap()));
    assert_eq!(b.codec.format.codec, tandem_codecs::CodecId::Opus);
    assert_eq!(b.remote, None, "known from the answer");

    let invite = h.media_created(call);
    let body = text_of(&invite.body);
    assert!(body.contains("m=audio 36002 RTP/AVP 96"), "{body}");
    assert!(body.contains("opus/48000/2"), "{body}");
    assert!(!body.contains("PCMA"), "{body}");
    assert_ne!(invite.headers.call_id().unwrap(), "in-1@127.0.0.1");
    assert_eq!(invite.uri.to_string(), "sip:127.0.0.1:5080");
    assert!(invite.headers.top_via().unwrap().branch().is_some());

    assert!(h.callee_answers(&invite, StatusCode::RINGING).is_empty());
    let ringing = h.sent();
    assert_eq!(ringing.len(), 1);
    assert_eq!(ringing[0].destination, CALLER.parse().unwrap());
    assert_eq!(response_of(&ringing[0]).status, StatusCode::RINGING);

    let actions = h.callee_answers(&invite, StatusCode::OK);
    assert_eq!(actions, [remote_set(7, 1, "127.0.0.1:6000")]);
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "ACK out and 200 in");
    let ack = Request::parse(&sent[0].bytes).unwrap();
    assert_eq!(
        (ack.method.clone(), sent[0].destination),
        (Method::Ack, CALLEE.parse().unwrap())
    );
    let ok = response_of(&sent[1]);
    assert_eq!(
        (ok.status, sent[1].destination),
        (StatusCode::OK, CALLER.parse().unwrap())
    );
    let answer = text_of(&ok.body);
    assert!(answer.contains("m=audio 36000 RTP/AVP 8 101"), "{answer}");

    // The caller ACKs and hangs up.
    let to = ok.headers.to().unwrap();
    let bye = format!(
        "BYE sip:opus-1@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-bye1\r\n\
         Max-Forwards: 70\r\nFrom: sipp <sip:sipp@{CALLER}>;tag=caller1\r\nTo: {to}\r\n\
         Call-ID: in-1@127.0.0.1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    let (id, request) = h.new_request(bye.as_bytes(), "a BYE");
    assert!(h.gateway.owns_request(&request));
    let actions = h
        .gateway
        .handle_in_dialog(h.now, &mut h.layer, Some(id), &request);
    assert_eq!(removals(&actions), [Some(7)]);
    // The answered call's end is logged as its session goes, from its legs' last figures.
    assert!(
        matches!(&actions[0], MediaAction::Remove { ended: Some(e), .. } if e.call_id == "in-1@127.0.0.1"),
        "{actions:?}"
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(response_of(&sent[0]).status, StatusCode::OK);
    let bye_out = Request::parse(&sent[1].bytes).unwrap();
    assert_eq!(bye_out.method, Method::Bye);
    assert_eq!(sent[1].destination, CALLEE.parse().unwrap());
    assert_eq!(h.gateway.calls(), 0);
    assert!(!h.gateway.owns_request(&request));
}

/// A caller's in-dialog INVITE after `ok` (the 200 it got), CSeq `cseq`, with `sdp`.
fn caller_reinvite(ok: &Response, cseq: u32, sdp: &str) -> String {
    let to = ok.headers.to().unwrap();
    let content_type = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "INVITE sip:opus-1@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-re{cseq}\r\n\
         Max-Forwards: 70\r\nFrom: sipp <sip:sipp@{CALLER}>;tag=caller1\r\nTo: {to}\r\n\
         Call-ID: in-1@127.0.0.1\r\nCSeq: {cseq} INVITE\r\nContact: <sip:sipp@{CALLER}>\r\n\
         {content_type}Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

#[test]
fn hold_resume_and_a_codec_change_on_a_bridged_call_are_answered_locally() {
    let mut h = Harness::new();
    let (_, call, invite) = h.invite_forwarded();
    h.callee_answers(&invite, StatusCode::OK);
    let ok = response_of(&h.sent()[1]);
    let offer = |direction: &str, port: u16, codecs: &str| {
        format!(
            "v=0\r\no=user1 53655765 2353687638 IN IP4 127.0.0.1\r\ns=-\r\n\
             c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP {codecs}\r\n\
             a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
             a=rtpmap:96 opus/48000/2\r\na=fmtp:101 0-11,16\r\na={direction}\r\n"
        )
    };
    let reinvite = |h: &mut Harness, cseq: u32, sdp: &str| {
        let bytes = caller_reinvite(&ok, cseq, sdp);
        let (id, request) = h.new_request(bytes.as_bytes(), "a re-INVITE");
        assert!(h.gateway.owns_request(&request));
        let actions = h
            .gateway
            .handle_in_dialog(h.now, &mut h.layer, Some(id), &request);
        let sent = h.sent();
        assert_eq!(sent.len(), 1, "only the caller hears of it");
        assert_eq!(sent[0].destination, CALLER.parse().unwrap());
        (response_of(&sent[0]), actions)
    };
    // Hold: answered recvonly at the same port, the callee untouched.
    let (held, actions) = reinvite(&mut h, 2, &offer("sendonly", 6100, "8 101"));
    assert_eq!(held.status, StatusCode::OK);
    let body = text_of(&held.body);
    assert!(body.contains("m=audio 36000 RTP/AVP 8 101"), "{body}");
    assert!(body.contains("a=recvonly"), "{body}");
    assert_eq!(actions, [direction_set(7, 0, MediaDirection::RecvOnly)]);
    // Resume from another port: sendrecv, and the caller's leg follows it.
    let (resumed, actions) = reinvite(&mut h, 3, &offer("sendrecv", 6200, "8 101"));
    assert_eq!(resumed.status, StatusCode::OK);
    let body = text_of(&resumed.body);
    assert!(body.contains("m=audio 36000 RTP/AVP 8 101"), "{body}");
    assert!(body.contains("a=sendrecv"), "{body}");
    assert_eq!(
        actions,
        [
            remote_set(7, 0, "127.0.0.1:6200"),
            direction_set(7, 0, MediaDirection::SendRecv)
        ]
    );
    // Another codec: answered with it at the same port, and the session rebuilt for it
    // on its ports, the callee's leg as it was (the callee hears nothing of it).
    let (changed, actions) = reinvite(&mut h, 4, &offer("sendrecv", 6200, "0 101"));
    assert_eq!(changed.status, StatusCode::OK);
    let body = text_of(&changed.body);
    assert!(body.contains("m=audio 36000 RTP/AVP 0 101"), "{body}");
    let (again, session, spec) = replaced(&actions);
    assert_eq!((again, session), (call, SessionId(7)));
    let (SessionSpec::Relay { a, b } | SessionSpec::Transcode { a, b }) = spec else {
        panic!("{spec:?}");
    };
    assert_eq!(a.codec.format.codec, tandem_codecs::CodecId::Pcmu);
    assert_eq!(a.telephone_event.map(|pt| pt.get()), Some(101));
    assert_eq!(a.remote, Some("127.0.0.1:6200".parse().unwrap()));
    assert_eq!(b.codec.format.codec, tandem_codecs::CodecId::Opus);
    assert_eq!(
        b.remote,
        Some(CALLEE_MEDIA.parse().unwrap()),
        "the callee's leg kept"
    );
    // A second codec change before the rebuild is done waits its turn.
    let (pending, actions) = reinvite(&mut h, 5, &offer("sendrecv", 6200, "8 101"));
    assert_eq!(pending.status, StatusCode::REQUEST_PENDING);
    assert!(actions.is_empty());
    let handle = session_handle(7, [36000, 36002]);
    assert!(
        h.gateway
            .handle_media_created(h.now, &mut h.layer, call, Ok(handle))
            .is_empty()
    );
    assert!(h.sent().is_empty(), "nobody hears of the rebuild");
    // Nothing of ours in the offer: 488, the session keeps running.
    let (refused, actions) = reinvite(
        &mut h,
        6,
        "v=0\r\no=user1 53655765 2353687639 IN IP4 127.0.0.1\r\ns=-\r\n\
         c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6200 RTP/AVP 97\r\n\
         a=rtpmap:97 speex/8000\r\n",
    );
    assert_eq!(refused.status, StatusCode::NOT_ACCEPTABLE_HERE);
    assert!(actions.is_empty());
    // No SDP: our current SDP is the offer.
    let (offered, _) = reinvite(&mut h, 7, "");
    assert_eq!(offered.status, StatusCode::OK);
    let body = text_of(&offered.body);
    assert!(body.contains("m=audio 36000 RTP/AVP 0 101"), "{body}");
    assert_eq!(h.gateway.calls(), 1);
}

#[test]
fn a_busy_callee_makes_a_busy_caller_and_frees_the_session() {
    let mut h = Harness::new();
    let (server, _, invite) = h.invite_forwarded();
    let actions = h.callee_answers(&invite, StatusCode::BUSY_HERE);
    assert_eq!(removals(&actions), [Some(7)]);
    let sent = h.sent();
    // The layer ACKs the 486 itself; the caller gets 486.
    assert!(sent.iter().any(|t| t.destination == CALLER.parse().unwrap()
        && response_of(t).status == StatusCode::BUSY_HERE));
    assert_eq!(h.gateway.calls(), 0);
    assert!(!h.gateway.owns_transaction(server));
}

#[test]
fn a_silent_callee_times_out_as_408() {
    let mut h = Harness::new();
    h.invite_forwarded();
    h.now += Duration::from_secs(40);
    h.layer.handle(h.now, Input::Timeout);
    let events: Vec<Event> = std::iter::from_fn(|| h.layer.poll_event()).collect();
    let mut actions = Vec::new();
    for event in events {
        if let Event::Timeout { id, .. } = event {
            if h.gateway.owns_transaction(id) {
                actions.extend(
                    h.gateway
                        .handle_transaction_failed(h.now, &mut h.layer, id, true),
                );
            }
        }
    }
    assert_eq!(removals(&actions), [Some(7)]);
    let to_caller: Vec<u16> = h
        .sent()
        .iter()
        .filter(|t| t.destination == CALLER.parse().unwrap())
        .filter_map(|t| Response::parse(&t.bytes).ok())
        .map(|r| r.status.as_u16())
        .collect();
    assert!(to_caller.contains(&408), "{to_caller:?}");
}

#[test]
fn a_cancel_before_the_session_exists_removes_it_when_it_comes() {
    let mut h = Harness::new();
    let (server, actions) = h.invite();
    let (call, _) = spec_call(&actions);
    assert!(
        h.gateway
            .handle_cancel(h.now, &mut h.layer, server)
            .is_empty()
    );
    assert_eq!(
        response_of(&h.sent()[0]).status,
        StatusCode::REQUEST_TERMINATED
    );
    let handle = SessionHandle {
        id: SessionId(8),
        worker: 0,
        legs: Vec::new(),
    };
    let actions = h
        .gateway
        .handle_media_created(h.now, &mut h.layer, call, Ok(handle));
    assert_eq!(removals(&actions), [Some(8)]);
    assert!(h.sent().is_empty(), "no INVITE goes out");
    assert_eq!(h.gateway.calls(), 0);
}

/// A call forwarded to the callee, ringing there, then cancelled by the caller: the
/// harness, the INVITE the callee got, and what the cancel sent.
fn cancelled_while_ringing() -> (Harness, Request, Vec<Transmit>) {
    let mut h = Harness::new();
    let (server, _, invite) = h.invite_forwarded();
    h.callee_answers(&invite, StatusCode::RINGING);
    h.sent();
    assert!(
        h.gateway
            .handle_cancel(h.now, &mut h.layer, server)
            .is_empty()
    );
    let sent = h.sent();
    (h, invite, sent)
}

#[test]
fn a_cancel_while_ringing_cancels_the_callee() {
    let (mut h, invite, sent) = cancelled_while_ringing();
    assert!(sent.iter().any(|t| t.destination == CALLER.parse().unwrap()
        && response_of(t).status == StatusCode::REQUEST_TERMINATED));
    let cancel = sent
        .iter()
        .find(|t| t.destination == CALLEE.parse().unwrap())
        .map(|t| Request::parse(&t.bytes).unwrap())
        .expect("a CANCEL to the callee");
    assert_eq!(cancel.method, Method::Cancel);
    let actions = h.callee_answers(&invite, StatusCode::REQUEST_TERMINATED);
    assert_eq!(removals(&actions), [Some(7)]);
    assert_eq!(h.gateway.calls(), 0);
}

/// Found by `sip_hostile_dialogs`: the call used to wait for a 487 that never comes when the
/// callee's 2xx crosses the CANCEL, keeping its media session until shutdown.
#[test]
fn a_2xx_crossing_the_callers_cancel_is_hung_up_and_ends_the_call() {
    let (mut h, invite, _) = cancelled_while_ringing();
    let actions = h.callee_answers(&invite, StatusCode::OK);
    let to_callee: Vec<String> = h
        .sent()
        .iter()
        .filter(|t| t.destination == CALLEE.parse().unwrap())
        .filter_map(|t| Request::parse(&t.bytes).ok())
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(
        to_callee,
        ["ACK", "BYE"],
        "the late 2xx is ACKed and hung up"
    );
    assert_eq!(
        removals(&actions),
        [Some(7)],
        "and the call's session goes with it"
    );
    assert_eq!(h.gateway.calls(), 0);
}

#[test]
fn a_callee_choosing_another_route_codec_gets_its_session_rebuilt_on_the_same_ports() {
    let mut h = Harness::with_codecs(r#"["opus", "PCMU"]"#);
    let (_, actions) = h.invite();
    let (call, spec) = spec_call(&actions);
    let SessionSpec::Transcode { b, .. } = spec else {
        panic!("{spec:?}");
    };
    assert_eq!(
        b.codec.format.codec,
        tandem_codecs::CodecId::Opus,
        "the first codec"
    );
    assert_eq!(b.telephone_event, None);
    let invite = h.media_created(call);
    let body = text_of(&invite.body);
    assert!(body.contains("a=rtpmap:0 PCMU/8000"), "{body}");

    let pcmu = "v=0\r\no=callee 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                t=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";
    let actions = h.callee_answers_with(&invite, StatusCode::OK, pcmu);
    let (again, session, spec) = replaced(&actions);
    assert_eq!((session, again), (SessionId(7), call));
    let SessionSpec::Transcode { a, b } = spec else {
        panic!("{spec:?}");
    };
    assert_eq!(a.codec.format, tandem_codecs::Format::PCMA);
    assert_eq!(b.codec.format, tandem_codecs::Format::PCMU);
    assert_eq!(b.telephone_event.map(|pt| pt.get()), Some(101));
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "the ACK; the caller waits");
    assert_eq!(Request::parse(&sent[0].bytes).unwrap().method, Method::Ack);

    // The runtime rebuilt it on the same ports: the caller is answered, no re-INVITE.
    let handle = session_handle(7, [36000, 36002]);
    let actions = h
        .gateway
        .handle_media_created(h.now, &mut h.layer, call, Ok(handle));
    assert_eq!(actions, [remote_set(7, 1, "127.0.0.1:6000")]);
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "only the 200 to the caller");
    assert_eq!(sent[0].destination, CALLER.parse().unwrap());
    let ok = response_of(&sent[0]);
    assert_eq!(ok.status, StatusCode::OK);
    let answer = text_of(&ok.body);
    assert!(answer.contains("m=audio 36000 RTP/AVP 8 101"), "{answer}");
    assert_eq!(h.gateway.call_of_session(SessionId(7)), Some(call));
}

#[test]
fn the_200_to_the_caller_is_retransmitted_until_its_ack() {
    let mut h = Harness::new();
    let (_, _, invite) = h.invite_forwarded();
    h.callee_answers(&invite, StatusCode::OK);
    let ok = response_of(&h.sent()[1]);
    assert_eq!(h.gateway.poll_timeout(), Some(h.now + T1));
    // T1, then 2·T1 later: the same 200 again each time.
    for wait in [T1, 2 * T1] {
        h.now += wait;
        assert!(h.gateway.handle_timeout(h.now, &mut h.layer).is_empty());
        let again = h.sent();
        assert_eq!(again.len(), 1);
        assert_eq!(response_of(&again[0]), ok);
    }
    let ack = format!(
        "ACK sip:opus-1@{LOCAL} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-ack1\r\n\
         Max-Forwards: 70\r\nFrom: sipp <sip:sipp@{CALLER}>;tag=caller1\r\nTo: {}\r\n\
         Call-ID: in-1@127.0.0.1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
        ok.headers.to().unwrap()
    );
    let events = h.receive(CALLER, ack.as_bytes());
    let Some(Event::Ack { request, .. }) = events.into_iter().next() else {
        panic!("an ACK");
    };
    assert!(h.gateway.owns_request(&request));
    assert!(
        h.gateway
            .handle_in_dialog(h.now, &mut h.layer, None, &request)
            .is_empty()
    );
    assert_eq!(h.gateway.poll_timeout(), None);
}

#[test]
fn a_caller_that_never_acks_is_hung_up_after_64_t1() {
    let mut h = Harness::new();
    let (_, _, invite) = h.invite_forwarded();
    h.callee_answers(&invite, StatusCode::OK);
    h.sent();
    let start = h.now;
    let mut actions = Vec::new();
    while let Some(at) = h.gateway.poll_timeout() {
        assert!(at <= start + 64 * T1 + T2, "bounded");
        h.now = at;
        actions.extend(h.gateway.handle_timeout(h.now, &mut h.layer));
    }
    assert_eq!(removals(&actions), [Some(7)]);
    let byes = h
        .sent()
        .iter()
        .filter_map(|t| Request::parse(&t.bytes).ok())
        .filter(|r| r.method == Method::Bye)
        .count();
    assert_eq!(byes, 2, "both sides hung up");
    assert_eq!(h.gateway.calls(), 0);
}

/// A new INVITE routed to `target` (a URI text); returns the gateway's actions.
fn invite_to(h: &mut Harness, branch: &str, target: &str) -> Vec<MediaAction> {
    h.invite_routed_to(&caller_invite(branch), &[target.to_owned()])
        .1
}

#[test]
fn a_target_by_name_is_looked_up_first_and_an_unresolved_one_is_503() {
    let mut h = Harness::new();
    // Not a SIP URI Tandem can send to: 502 at once.
    assert!(invite_to(&mut h, "z9hG4bK-in2", "sips:callee@127.0.0.1").is_empty());
    assert_eq!(response_of(&h.sent()[0]).status.as_u16(), 502);
    // A name: no media yet, a lookup for the loop.
    assert!(invite_to(&mut h, "z9hG4bK-in3", "sip:callee@gw.example;transport=tcp").is_empty());
    let (call, query) = h.gateway.poll_locate().expect("a lookup");
    assert_eq!(
        query,
        Query {
            host: "gw.example".into(),
            port: None,
            transport: Some(Wire::Tcp)
        }
    );
    assert!(h.gateway.poll_locate().is_none());
    assert_eq!(h.gateway.calls(), 1);
    let actions = h.gateway.handle_located(
        h.now,
        &mut h.layer,
        call,
        Err(LocateError::NotFound("gw.example".into())),
    );
    assert!(actions.is_empty());
    let to_caller: Vec<u16> = h
        .sent()
        .iter()
        .map(|t| response_of(t).status.as_u16())
        .collect();
    assert!(to_caller.contains(&503), "{to_caller:?}");
    assert_eq!((h.gateway.calls(), h.gateway.unresolved()), (0, 1));
}

#[test]
fn a_hop_that_fails_at_the_transport_gives_way_to_the_next() {
    let mut h = Harness::new();
    assert!(invite_to(&mut h, "z9hG4bK-in4", "sip:gw.example").is_empty());
    let (lookup, _) = h.gateway.poll_locate().expect("a lookup");
    let call = lookup.call;
    let first = Hop {
        addr: "127.0.0.1:5090".parse().unwrap(),
        transport: Wire::Tcp,
    };
    let second = Hop {
        addr: CALLEE.parse().unwrap(),
        transport: Wire::Udp,
    };
    let actions = h
        .gateway
        .handle_located(h.now, &mut h.layer, lookup, Ok(vec![first, second]));
    assert_eq!(spec_call(&actions).0, call);
    let handle = session_handle(9, [36000, 36002]);
    assert!(
        h.gateway
            .handle_media_created(h.now, &mut h.layer, call, Ok(handle))
            .is_empty()
    );
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].destination, &sent[0].transport),
        (first.addr, &Transport::Tcp)
    );
    let invite = Request::parse(&sent[0].bytes).unwrap();
    let via = invite.headers.top_via().unwrap();
    assert_eq!(via.transport, Transport::Tcp);
    let contact = invite.headers.get("Contact").unwrap().to_owned();
    assert!(contact.contains(";transport=tcp"), "{contact}");

    // The connection is refused: the transports report it, the layer fails the INVITE.
    h.layer.handle(
        h.now,
        Input::TransportError {
            destination: first.addr,
            transport: Transport::Tcp,
        },
    );
    let mut actions = Vec::new();
    for event in std::iter::from_fn(|| h.layer.poll_event()).collect::<Vec<_>>() {
        if let Event::TransportError { id } = event {
            actions.extend(
                h.gateway
                    .handle_transaction_failed(h.now, &mut h.layer, id, false),
            );
        }
    }
    assert!(actions.is_empty(), "{actions:?}");
    let sent = h.sent();
    assert_eq!(sent.len(), 1, "the INVITE again, to the next hop");
    assert_eq!(
        (sent[0].destination, &sent[0].transport),
        (second.addr, &Transport::Udp)
    );
    let again = Request::parse(&sent[0].bytes).unwrap();
    assert_eq!(again.headers.top_via().unwrap().transport, Transport::Udp);
    assert_eq!(
        again.headers.call_id().unwrap(),
        invite.headers.call_id().unwrap()
    );
    assert_ne!(
        again.headers.top_via().unwrap().branch(),
        via.branch(),
        "a new transaction"
    );
    // The second hop answers: the call is bridged as usual.
    let actions = h.callee_answers(&again, StatusCode::OK);
    assert!(
        matches!(actions.as_slice(), [MediaAction::SetRemote { .. }]),
        "{actions:?}"
    );
}

#[test]
fn in_dialog_requests_follow_the_remote_target_transport_or_the_side_s() {
    let bye = |uri: &str| {
        Request::parse(
            format!(
                "BYE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {LOCAL};branch=z9hG4bK-x\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:a@{LOCAL}>;tag=a\r\nTo: <sip:b@{CALLEE}>;tag=b\r\n\
                 Call-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap()
    };
    let hop = |addr: &str, transport| {
        Some(Hop {
            addr: addr.parse().unwrap(),
            transport,
        })
    };
    assert_eq!(
        next_hop(&bye("sip:b@127.0.0.1:5080;transport=tcp"), Wire::Udp),
        hop(CALLEE, Wire::Tcp)
    );
    assert_eq!(
        next_hop(&bye("sip:b@127.0.0.1:5080"), Wire::Tcp),
        hop(CALLEE, Wire::Tcp)
    );
    assert_eq!(next_hop(&bye("sip:b@host.example"), Wire::Udp), None);
}

/// The second contact of a forked call.
const CALLEE_B: &str = "127.0.0.1:5081";

/// A new INVITE (with sipp's PCMA offer, or without SDP for a late offer) forked to every
/// URI in `targets`; returns its server transaction and the gateway's actions.
fn invite_fork(
    h: &mut Harness,
    with_sdp: bool,
    targets: &[&str],
) -> (TransactionId, Vec<MediaAction>) {
    let mut bytes = caller_invite("z9hG4bK-fork1");
    if !with_sdp {
        let text = String::from_utf8(bytes).unwrap();
        let head = text.split("Content-Type").next().unwrap();
        bytes = format!("{head}Content-Length: 0\r\n\r\n").into_bytes();
    }
    let targets: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
    h.invite_routed_to(&bytes, &targets)
}

/// The two contacts of a forked callee: [`CALLEE`] and [`CALLEE_B`].
const BOTH_CONTACTS: [&str; 2] = ["sip:alice@127.0.0.1:5080", "sip:alice@127.0.0.1:5081"];

/// A call with sipp's offer forked to `targets`, its session 7 created; returns the
/// caller's server transaction and the INVITEs that went out, each with where it went.
fn forked_to(h: &mut Harness, targets: &[&str]) -> (TransactionId, Vec<(SocketAddr, Request)>) {
    let (server, actions) = invite_fork(h, true, targets);
    let (call, _) = spec_call(&actions);
    (server, fork_created(h, call))
}

/// Both branches `a` and `b` ring; what that sent is taken off the wire unread.
fn ring_both_branches(h: &mut Harness, a: &Request, b: &Request) {
    respond_from(h, CALLEE, a, StatusCode::RINGING, "a");
    respond_from(h, CALLEE_B, b, StatusCode::RINGING, "b");
    h.sent();
}

/// Session 7 is created (caller's leg at 36000, callee's at 36002); returns the INVITEs
/// that go out, each with where it went.
fn fork_created(h: &mut Harness, call: GatewayCallId) -> Vec<(SocketAddr, Request)> {
    let handle = session_handle(7, [36000, 36002]);
    let actions = h
        .gateway
        .handle_media_created(h.now, &mut h.layer, call, Ok(handle));
    assert!(actions.is_empty(), "{actions:?}");
    h.sent()
        .iter()
        .map(|t| (t.destination, Request::parse(&t.bytes).unwrap()))
        .collect()
}

/// The callee at `from` answers `invite` with `status` (tag `tag`; the opus SDP in a 2xx);
/// returns the gateway's actions.
fn respond_from(
    h: &mut Harness,
    from: &str,
    invite: &Request,
    status: StatusCode,
    tag: &str,
) -> Vec<MediaAction> {
    let mut r = Response::from_request(invite, status);
    if status.as_u16() != 100 {
        r.set_to_tag(tag).unwrap();
    }
    h.response_in(from, r, OPUS_ANSWER)
}

/// What was sent: (destination, method or status) for each transmit.
fn summary(sent: &[Transmit]) -> Vec<(SocketAddr, String)> {
    sent.iter()
        .map(|t| {
            let what = match Message::parse(&t.bytes).unwrap() {
                Message::Request(r) => r.method.to_string(),
                Message::Response(r) => r.status.as_u16().to_string(),
            };
            (t.destination, what)
        })
        .collect()
}

/// What went out since the last look, as [`summary`] lists it, sorted: branches are
/// answered in any order.
fn sorted_summary(h: &mut Harness) -> Vec<(SocketAddr, String)> {
    let mut sent = summary(&h.sent());
    sent.sort();
    sent
}

/// One line of a [`summary`]: `what` (a method or status) went to `to`.
fn sent_to(to: &str, what: &str) -> (SocketAddr, String) {
    (addr(to), what.to_owned())
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}
