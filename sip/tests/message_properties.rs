//! Property tests for the SIP message layer: the parser never panics on any input, mutated
//! valid messages included; generated messages and URIs survive print → parse unchanged.

use proptest::prelude::*;
use tandem_sip::message::{
    CSeq, ContentType, Frame, HeaderName, Host, Message, Method, NameAddr, Request, Response,
    SipUri, StatusCode, Transport, Uri, Via, frame, fuzzing,
};

const TEMPLATES: &[&[u8]] = &[
    b"INVITE sip:bob@biloxi.example.com;transport=tcp SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds, SIP/2.0/TCP [2001:db8::1]:5061;rport\r\n\
Max-Forwards: 70\r\nTo: \"Bob \\\"B\\\"\" <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\nCSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>;expires=60, *\r\n\
Content-Type: application/sdp\r\nContent-Length: 12\r\n\r\nv=0\r\ns=-\r\nxx",
    b"SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\n\
t: sip:c@d;tag=2\r\ni: x@y\r\nCSeq: 1 INVITE\r\nRecord-Route: <sip:p;lr>\r\n\
Session-Expires: 90;refresher=uas\r\nRetry-After: 5 (x)\r\nSubject: folded\r\n  line\r\nl: 0\r\n\r\n",
    b"REGISTER sips:registrar.example.com SIP/2.0\r\nVia: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKr\r\n\
To: <sips:u@example.com>\r\nFrom: <sips:u@example.com>;tag=x\r\nCall-ID: r\r\nCSeq: 7 REGISTER\r\n\
Contact: <sips:u@192.0.2.1;transport=tls?Route=%3Csip:x%3E>\r\nExpires: 3600\r\n\
Authorization: Digest username=\"u\", realm=\"r\"\r\n\r\n",
];

/// Interesting fragments to splice into a template.
const SPLICES: &[&[u8]] = &[
    b",",
    b"\"",
    b"<",
    b">",
    b"\r\n",
    b"\r\n ",
    b";",
    b":",
    b"%",
    b"[",
    b"]",
    b"@",
    b"\\",
    b"\0",
    b"?",
    b"=",
    b" ",
    b"\xff",
    b"\xe2\x82",
    b"sip:",
    b"[::1]",
    b"Content-Length: 99\r\n",
];

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        fuzzing::sip_message(&bytes);
        let _ = frame(&bytes);
    }

    #[test]
    fn sip_like_text_never_panics(text in "[A-Za-z0-9 :;,<>\"@=./\\[\\]\\\\?%\r\n\t-]{0,300}") {
        let mut bytes = b"INVITE sip:a@b SIP/2.0\r\n".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        fuzzing::sip_message(&bytes);
        fuzzing::sip_message(text.as_bytes());
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        template in 0..TEMPLATES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0..4u8), 0..8),
    ) {
        let mut m = TEMPLATES[template].to_vec();
        for (at, byte, op) in edits {
            let i = at % (m.len() + 1);
            match op {
                0 if i < m.len() => m[i] = byte,
                1 => m.insert(i, byte),
                2 if i < m.len() => { m.remove(i); }
                _ => {
                    let s = SPLICES[usize::from(byte) % SPLICES.len()];
                    m.splice(i..i, s.iter().copied());
                }
            }
        }
        fuzzing::sip_message(&m);
    }

    #[test]
    fn generated_requests_survive_print_and_parse(r in request()) {
        let printed = Message::from(r.clone()).to_bytes();
        let parsed = Request::parse(&printed);
        prop_assert_eq!(parsed.as_ref(), Ok(&r), "{}", String::from_utf8_lossy(&printed));
        r.validate().unwrap();
        fuzzing::sip_message(&printed);
    }

    #[test]
    fn generated_responses_survive_print_and_parse(r in response()) {
        let printed = Message::from(r.clone()).to_bytes();
        prop_assert_eq!(Response::parse(&printed), Ok(r));
    }

    /// RFC 3261 §18.3 framing: a stream of messages and CRLF keep-alives, delivered in
    /// chunks cut anywhere (as TCP may), frames into exactly those messages, in order, with
    /// nothing left over: the way the transport reads (append, frame until `NeedMore`).
    #[test]
    fn a_stream_cut_anywhere_frames_into_the_same_messages(
        items in proptest::collection::vec(prop_oneof![
            4 => request().prop_map(|r| Some(Message::from(r).to_bytes())),
            2 => response().prop_map(|r| Some(Message::from(r).to_bytes())),
            1 => Just(None), // a keep-alive ping
        ], 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut stream = Vec::new();
        let mut sent = Vec::new();
        for item in &items {
            match item {
                Some(message) => {
                    stream.extend_from_slice(message);
                    sent.push(message.clone());
                }
                None => stream.extend_from_slice(b"\r\n\r\n"),
            }
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let (mut buffer, mut framed, mut from) = (Vec::new(), Vec::new(), 0);
        for to in cuts {
            buffer.extend_from_slice(&stream[from..to]);
            from = to;
            loop {
                match frame(&buffer) {
                    Ok(Frame::NeedMore) => break,
                    Ok(Frame::KeepAlive { len, .. }) => {
                        buffer.drain(..len);
                    }
                    Ok(Frame::Message { len }) => {
                        framed.push(buffer[..len].to_vec());
                        buffer.drain(..len);
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                }
            }
        }
        prop_assert!(buffer.is_empty(), "left over: {:?}", String::from_utf8_lossy(&buffer));
        prop_assert_eq!(framed, sent);
    }

    #[test]
    fn generated_uris_survive_print_and_parse(u in sip_uri()) {
        let uri = Uri::Sip(u);
        let again = Uri::parse(&uri.to_string()).unwrap();
        prop_assert!(again.equivalent(&uri));
        prop_assert_eq!(again, uri);
    }
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,11}"
}

/// Tokens `Params::set` takes: valid unquoted in both URIs and headers.
fn portable_token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!*_+'~-]{0,11}"
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-z][a-z0-9]{0,7}(\\.[a-z][a-z0-9-]{0,6}[a-z0-9]){0,2}".prop_map(Host::Domain),
        any::<[u8; 4]>().prop_map(|o| Host::Ipv4(o.into())),
        any::<[u16; 8]>().prop_map(|s| Host::Ipv6(s.into())),
    ]
}

fn sip_uri() -> impl Strategy<Value = SipUri> {
    (
        any::<bool>(),
        proptest::option::of("[ -~]{1,12}"),
        host(),
        proptest::option::of(any::<u16>()),
        proptest::collection::vec(
            (portable_token(), proptest::option::of(portable_token())),
            0..3,
        ),
    )
        .prop_map(|(secure, user, host, port, params)| {
            let mut u = SipUri::new(host);
            u.secure = secure;
            if let Some(user) = user {
                u = u.with_user(&user);
            }
            u.port = port;
            for (n, v) in params {
                u.params.set(&n, v.as_deref()).unwrap();
            }
            u
        })
}

fn name_addr() -> impl Strategy<Value = NameAddr> {
    (
        proptest::option::of("[ -~]{0,16}"),
        sip_uri(),
        proptest::option::of(portable_token()),
    )
        .prop_map(|(display_name, uri, tag)| {
            let mut a = NameAddr::new(uri);
            a.display_name = display_name;
            if let Some(t) = tag {
                a.set_tag(&t).unwrap();
            }
            a
        })
}

fn via() -> impl Strategy<Value = Via> {
    (
        prop_oneof![
            Just(Transport::Udp),
            Just(Transport::Tcp),
            Just(Transport::Tls)
        ],
        host(),
        proptest::option::of(any::<u16>()),
        portable_token(),
    )
        .prop_map(|(t, h, p, b)| Via::new(t, h, p, &format!("z9hG4bK{b}")).unwrap())
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Bye),
        Just(Method::Options),
        "[A-Z]{1,10}".prop_map(|m| Method::parse(&m).unwrap()),
    ]
}

/// Extra headers: extension headers with any printable value, and a few known ones.
fn extra_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        prop_oneof![
            ("X-[A-Za-z0-9-]{1,10}", "[ -~]{0,30}"),
            (Just("Subject".to_owned()), "[ -~]{0,30}"),
            (Just("Supported".to_owned()), token()),
            (Just("Allow".to_owned()), "[A-Z]{1,8}(, ?[A-Z]{1,8}){0,3}"),
            (
                Just("Accept".to_owned()),
                "([a-z]{1,6}/[a-z]{1,6}(, ?)?){0,3}"
            ),
            (Just("User-Agent".to_owned()), "[ -~]{0,30}"),
        ],
        0..5,
    )
}

fn request() -> impl Strategy<Value = Request> {
    (
        method(),
        sip_uri(),
        proptest::collection::vec(via(), 1..3),
        name_addr(),
        name_addr(),
        token(),
        any::<u32>(),
        extra_headers(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(method, uri, vias, from, to, call_id, seq, extra, body)| {
            let mut r = Request::new(method.clone(), uri);
            for v in &vias {
                r.headers.push(HeaderName::Via, v);
            }
            r.headers.push(HeaderName::From, &from);
            r.headers.push(HeaderName::To, &to);
            r.headers.push(HeaderName::CallId, &call_id);
            r.headers.push(HeaderName::CSeq, CSeq::new(seq, method));
            r.headers.push(HeaderName::MaxForwards, 70);
            for (n, v) in &extra {
                r.headers.push_raw(n, v).unwrap();
            }
            if !body.is_empty() {
                r = r.with_body(&ContentType::sdp(), body);
            }
            r
        })
}

fn response() -> impl Strategy<Value = Response> {
    (
        100u16..700,
        "[ -~]{0,20}",
        via(),
        name_addr(),
        extra_headers(),
        proptest::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(|(code, reason, via, to, extra, body)| {
            let mut r = Response::new(StatusCode::new(code).unwrap());
            r.reason = reason;
            r.headers.push(HeaderName::Via, &via);
            r.headers.push(HeaderName::To, &to);
            for (n, v) in &extra {
                r.headers.push_raw(n, v).unwrap();
            }
            r.body = body;
            r
        })
}
