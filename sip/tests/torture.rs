//! RFC 4475 and RFC 5118 torture messages (`tests/vectors/rfc4475/`): valid ones parse,
//! validate and re-print to a message that parses back equal; invalid ones are rejected,
//! either by the parser (what cannot be framed or has a broken start line) or by
//! `Message::validate` (what parses but breaks a header's grammar, so a UAS can still answer
//! 400).
//!
//! Where RFC 4475 leaves the layer open, the choice is stated per case below.

use std::path::Path;

use tandem_sip::message::{
    Contact, HeaderError, HeaderName, Host, Message, Method, ParseErrorKind, Request, Response,
    StatusCode, Transport, Uri,
};

/// What must happen to a vector.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Parses, validates, and `parse(print(m)) == m`.
    Valid,
    /// Parses, but `validate` finds this fault (RFC 4475 asks for a 400).
    Invalid(Fault),
    /// The parser rejects it with this kind.
    Rejected(ParseErrorKind),
}

/// What `validate` reports, without the position details.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    Missing(HeaderName),
    Repeated(HeaderName),
    Malformed(HeaderName),
}

impl From<HeaderError> for Fault {
    fn from(e: HeaderError) -> Self {
        match e {
            HeaderError::Missing(h) => Self::Missing(h),
            HeaderError::Repeated(h) => Self::Repeated(h),
            HeaderError::Invalid { header, .. } => Self::Malformed(header),
            other => panic!("unexpected {other}"),
        }
    }
}

use Expect::{Invalid, Rejected, Valid};

fn invalid(header: HeaderName) -> Expect {
    Invalid(Fault::Malformed(header))
}

/// Every vector and its expected outcome.
fn cases() -> Vec<(&'static str, Expect)> {
    vec![
        // §3.1.1 Valid messages.
        ("4475-3.1.1.1-wsinv", Valid),
        ("4475-3.1.1.2-intmeth", Valid),
        ("4475-3.1.1.3-esc01", Valid),
        ("4475-3.1.1.4-escnull", Valid),
        ("4475-3.1.1.5-esc02", Valid),
        ("4475-3.1.1.6-lwsdisp", Valid),
        ("4475-3.1.1.7-longreq", Valid),
        ("4475-3.1.1.8-dblreq", Valid),
        ("4475-3.1.1.9-semiuri", Valid),
        ("4475-3.1.1.10-transports", Valid),
        ("4475-3.1.1.11-mpart01", Valid),
        ("4475-3.1.1.12-unreason", Valid),
        ("4475-3.1.1.13-noreason", Valid),
        // §3.1.2 Invalid messages.
        ("4475-3.1.2.1-badinv01", invalid(HeaderName::Via)),
        ("4475-3.1.2.2-clerr", Rejected(ParseErrorKind::BodyTooShort)),
        (
            "4475-3.1.2.3-ncl",
            Rejected(ParseErrorKind::InvalidContentLength),
        ),
        // CSeq beyond 32 bits; the overlarge Max-Forwards and Expires alone would be
        // tolerated (Expires saturates, RFC 3261 §20.19).
        ("4475-3.1.2.4-scalar02", invalid(HeaderName::CSeq)),
        ("4475-3.1.2.5-scalarlg", invalid(HeaderName::CSeq)),
        ("4475-3.1.2.6-quotbal", invalid(HeaderName::To)),
        (
            "4475-3.1.2.7-ltgtruri",
            Rejected(ParseErrorKind::InvalidUri),
        ),
        // "sip:user@example.com;" then "lr SIP/2.0" as the version.
        (
            "4475-3.1.2.8-lwsruri",
            Rejected(ParseErrorKind::InvalidStartLine),
        ),
        (
            "4475-3.1.2.9-lwsstart",
            Rejected(ParseErrorKind::InvalidUri),
        ),
        (
            "4475-3.1.2.10-trws",
            Rejected(ParseErrorKind::InvalidStartLine),
        ),
        (
            "4475-3.1.2.11-escruri",
            Rejected(ParseErrorKind::InvalidUri),
        ),
        ("4475-3.1.2.12-baddate", invalid(HeaderName::Date)),
        ("4475-3.1.2.13-regbadct", invalid(HeaderName::Contact)),
        ("4475-3.1.2.14-badaspec", invalid(HeaderName::To)),
        // Both From and To have unquoted commas; validate reports To, which it checks first.
        ("4475-3.1.2.15-baddn", invalid(HeaderName::To)),
        // A 505 is owed: the kind says so, and the start line is otherwise readable.
        (
            "4475-3.1.2.16-badvers",
            Rejected(ParseErrorKind::UnsupportedVersion),
        ),
        ("4475-3.1.2.17-mismatch01", invalid(HeaderName::CSeq)),
        ("4475-3.1.2.18-mismatch02", invalid(HeaderName::CSeq)),
        (
            "4475-3.1.2.19-bigcode",
            Rejected(ParseErrorKind::InvalidStatusCode),
        ),
        // §3.2 Transaction layer: a branch that is only the cookie is still a branch.
        ("4475-3.2.1-badbranch", Valid),
        // §3.3 Application layer: these parse; validate catches what a UAS answers with 400.
        ("4475-3.3.1-insuf", Invalid(Fault::Missing(HeaderName::To))),
        ("4475-3.3.2-unkscm", Valid),
        ("4475-3.3.3-novelsc", Valid),
        ("4475-3.3.4-unksm2", Valid),
        ("4475-3.3.5-bext01", Valid),
        ("4475-3.3.6-invut", Valid),
        ("4475-3.3.7-regaut01", Valid),
        (
            "4475-3.3.8-multi01",
            Invalid(Fault::Repeated(HeaderName::To)),
        ),
        // Conflicting Content-Length values make the body unframeable: the parser drops the
        // datagram (RFC 4475 allows discarding it; on a stream the connection must close).
        (
            "4475-3.3.9-mcl01",
            Rejected(ParseErrorKind::ConflictingContentLength),
        ),
        ("4475-3.3.10-bcast", Valid),
        ("4475-3.3.11-zeromf", Valid),
        ("4475-3.3.12-cparam01", Valid),
        ("4475-3.3.13-cparam02", Valid),
        ("4475-3.3.14-regescrt", Valid),
        ("4475-3.3.15-sdp01", Valid),
        // §3.4 RFC 2543 syntax: no branch, no Max-Forwards, no tags, no Content-Length.
        ("4475-3.4.1-inv2543", Valid),
        // RFC 5118 §4.
        ("5118-4.1-ipv6-good", Valid),
        ("5118-4.2-ipv6-bad", Rejected(ParseErrorKind::InvalidHost)),
        ("5118-4.3-port-ambiguous", Valid),
        ("5118-4.4-port-unambiguous", Valid),
        ("5118-4.5-via-received-brackets", Valid),
        ("5118-4.5-via-received-bare", Valid),
        ("5118-4.6-ipv6-in-sdp", Valid),
        ("5118-4.7-mult-ip-in-header", Valid),
        ("5118-4.8-mult-ip-in-sdp", Valid),
        ("5118-4.9-ipv4-mapped-ipv6", Valid),
        // The RFC asks for robustness: the third colon is read as the `::` it means.
        ("5118-4.10-ipv6-bug-abnf-3-colons", Valid),
        ("5118-4.10-ipv6-correct-abnf-2-colons", Valid),
    ]
}

fn vector(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/rfc4475")
        .join(format!("{name}.sip"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn request(name: &str) -> Request {
    match Message::parse(&vector(name)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{name}: {other:?}"),
    }
}

fn response(name: &str) -> Response {
    match Message::parse(&vector(name)) {
        Ok(Message::Response(r)) => r,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn every_vector_has_an_expectation_and_meets_it() {
    let cases = cases();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rfc4475");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".sip").map(str::to_owned))
        .collect();
    files.sort();
    let mut named: Vec<String> = cases.iter().map(|(n, _)| (*n).to_owned()).collect();
    named.sort();
    assert_eq!(files, named, "vectors and cases differ");

    for (name, expect) in cases {
        let bytes = vector(name);
        let parsed = Message::parse(&bytes);
        match (expect, parsed) {
            (Valid, Ok(m)) => {
                if let Err(e) = m.validate() {
                    panic!("{name}: valid message fails validation: {e}");
                }
                let printed = m.to_bytes();
                let again = Message::parse(&printed)
                    .unwrap_or_else(|e| panic!("{name}: re-print does not parse: {e}"));
                assert_eq!(m, again, "{name}: re-print changed the message");
                assert_eq!(printed, again.to_bytes(), "{name}: printing is not stable");
            }
            (Invalid(want), Ok(m)) => {
                let got = m.validate().expect_err(name);
                assert_eq!(Fault::from(got), want, "{name}: {got}");
            }
            (Rejected(kind), Err(e)) => assert_eq!(e.kind, kind, "{name}: {e}"),
            (expect, got) => panic!("{name}: expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn wsinv_unfolds_and_reads_every_field() {
    let r = request("4475-3.1.1.1-wsinv");
    let h = &r.headers;
    assert_eq!(
        r.uri.as_sip().unwrap().params.get("unknownparam"),
        Some(None)
    );
    let to = h.to().unwrap();
    assert_eq!(
        (to.display_name.as_deref(), to.tag()),
        (None, Some("1918181833n"))
    );
    let from = h.from().unwrap();
    assert_eq!(from.display_name.as_deref(), Some(r#"J Rosenberg \""#));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(h.max_forwards(), Ok(Some(68)));
    assert_eq!(h.cseq().unwrap().seq, 9);
    assert_eq!(h.get("Subject"), Some(""));
    assert_eq!(
        h.get("NewFangledHeader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(h.get("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    let vias: Vec<_> = h.via().map(Result::unwrap).collect();
    let summary: Vec<_> = vias
        .iter()
        .map(|v| (v.transport.clone(), v.host.to_string(), v.branch()))
        .collect();
    assert_eq!(
        summary,
        [
            (Transport::Udp, "192.0.2.2".into(), Some("390skdjuw")),
            (
                Transport::Tcp,
                "spindle.example.com".into(),
                Some("z9hG4bK9ikj8")
            ),
            (
                Transport::Udp,
                "192.168.255.111".into(),
                Some("z9hG4bK30239")
            ),
        ]
    );
    let Contact::Address(c) = h.contacts().next().unwrap().unwrap() else {
        panic!("wildcard")
    };
    assert_eq!(c.display_name.as_deref(), Some(r#"Quoted string """#));
    assert_eq!(c.params.as_str(), ";newparam=newvalue;secondparam;q=0.33");
    assert!(
        h.routes()
            .next()
            .unwrap()
            .unwrap()
            .uri
            .as_sip()
            .unwrap()
            .lr()
    );
    assert_eq!(r.body.len(), 150);
}

#[test]
fn intmeth_accepts_the_whole_token_and_word_alphabets() {
    let r = request("4475-3.1.1.2-intmeth");
    assert_eq!(
        r.method,
        Method::Extension("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    let uri = r.uri.as_sip().unwrap();
    assert_eq!(
        uri.user.as_deref(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        uri.password.as_deref(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    let to = r.headers.to().unwrap();
    assert_eq!(to.display_name.as_deref(), Some("BEL:\x07 NUL:\0 DEL:\x7f"));
    let from = r.headers.from().unwrap();
    assert_eq!(
        from.display_name.as_deref(),
        Some("token1~` token2'+_ token3*%!.-")
    );
    assert_eq!(
        from.params.value("fromParam''~+*_!.-%"),
        Some("\"работающий\"")
    );
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        r.headers.call_id(),
        Ok("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    assert_eq!(
        r.headers.get("extensionheader-!.%*+_`'~"),
        Some("\u{feff}大停電")
    );
    assert_eq!(
        r.headers.top_via().unwrap().branch(),
        Some("z9hG4bK-.!%66*_+`'~")
    );
}

#[test]
fn escapes_are_kept_and_decoded_on_demand() {
    let r = request("4475-3.1.1.3-esc01");
    let user = r.uri.as_sip().unwrap().user_unescaped().unwrap();
    assert_eq!(&*user, b"sips:user@example.com");
    let to = r.headers.to().unwrap();
    assert!(
        to.uri
            .equivalent(&Uri::parse("sip:user@example.com").unwrap())
    );
    let Contact::Address(c) = r.headers.contacts().next().unwrap().unwrap() else {
        panic!()
    };
    // "value%41" is not "valueA": escapes are decoded once, never recursively.
    let c = c.uri.as_sip().unwrap();
    assert_eq!(c.params.value("n%61me"), Some("v%61lue%25%34%31"));
    assert!(c.params.contains("%6C%72"));

    let r = request("4475-3.1.1.4-escnull");
    let to = r.headers.to().unwrap();
    assert_eq!(
        &*to.uri.as_sip().unwrap().user_unescaped().unwrap(),
        b"null-\0-null"
    );

    let r = request("4475-3.1.1.5-esc02");
    assert_eq!(r.method, Method::Extension("RE%47IST%45R".into()));
    assert_eq!(r.headers.contacts().count(), 2, "C%6Fntact is not Contact");
    assert_eq!(
        r.headers.get("C%6Fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
    assert_eq!(
        r.headers.to().unwrap().display_name.as_deref(),
        Some("%Z%45")
    );
}

#[test]
fn odd_but_valid_forms_parse() {
    let r = request("4475-3.1.1.6-lwsdisp");
    assert_eq!(
        r.headers.from().unwrap().display_name.as_deref(),
        Some("caller")
    );

    let r = request("4475-3.1.1.7-longreq");
    assert_eq!(r.headers.via().count(), 34);
    assert_eq!(
        r.headers.to().unwrap().uri.as_sip().unwrap().port,
        Some(6000)
    );

    // The second request in the datagram is discarded with the first one's empty body.
    let r = request("4475-3.1.1.8-dblreq");
    assert_eq!((r.method, r.body.len()), (Method::Register, 0));

    let r = request("4475-3.1.1.9-semiuri");
    let uri = r.uri.as_sip().unwrap();
    assert_eq!(uri.user.as_deref(), Some("user;par=u%40example.net"));
    assert!(uri.params.is_empty());
    assert_eq!(r.headers.count("Accept"), 6);

    let r = request("4475-3.1.1.10-transports");
    let transports: Vec<_> = r.headers.via().map(|v| v.unwrap().transport).collect();
    assert_eq!(
        transports,
        [
            Transport::Udp,
            Transport::Sctp,
            Transport::Tls,
            Transport::Other("UNKNOWN".into()),
            Transport::Tcp
        ]
    );

    let r = request("4475-3.1.1.11-mpart01");
    assert_eq!(r.body.len(), 553);
    assert!(std::str::from_utf8(&r.body).is_err());
    assert_eq!(r.headers.top_via().unwrap().rport(), Some(None));

    let r = response("4475-3.1.1.12-unreason");
    assert_eq!(r.reason, "= 2**3 * 5**2 но сто девяносто девять - простое");
    let r = response("4475-3.1.1.13-noreason");
    assert_eq!((r.status, r.reason.as_str()), (StatusCode::TRYING, ""));
}

#[test]
fn application_layer_cases_expose_what_the_application_decides_on() {
    let r = request("4475-3.3.2-unkscm");
    assert_eq!(
        r.uri,
        Uri::Other("nobodyKnowsThisScheme:totallyopaquecontent".into())
    );
    assert_eq!(request("4475-3.3.3-novelsc").uri.scheme(), "soap.beep");
    let r = request("4475-3.3.4-unksm2");
    assert_eq!(r.headers.to().unwrap().uri.scheme(), "isbn");
    let r = request("4475-3.3.5-bext01");
    assert!(
        r.headers
            .has_option_tag(HeaderName::Require, "nothingSupportsThisEither")
    );
    assert_eq!(r.headers.option_tags(HeaderName::ProxyRequire).count(), 2);
    let r = request("4475-3.3.7-regaut01");
    assert_eq!(
        r.headers.first(HeaderName::Authorization),
        Some("NoOneKnowsThisScheme opaque-data=here")
    );
    assert_eq!(
        request("4475-3.3.11-zeromf").headers.max_forwards(),
        Ok(Some(0))
    );

    // cparam01: without angle brackets, ";unknownparam" belongs to the Contact header;
    // cparam02: inside them it belongs to the URI (RFC 3261 §20.10).
    let contact = |name| match request(name).headers.contacts().next() {
        Some(Ok(Contact::Address(a))) => a,
        other => panic!("{other:?}"),
    };
    let c1 = contact("4475-3.3.12-cparam01");
    assert!(c1.params.contains("unknownparam"));
    assert!(c1.uri.as_sip().unwrap().params.is_empty());
    let c2 = contact("4475-3.3.13-cparam02");
    assert!(c2.params.is_empty());
    assert!(c2.uri.as_sip().unwrap().params.contains("unknownparam"));
    let c3 = contact("4475-3.3.14-regescrt");
    assert_eq!(
        c3.uri.as_sip().unwrap().headers.as_deref(),
        Some("Route=%3Csip:sip.example.com%3E")
    );

    let r = request("4475-3.4.1-inv2543");
    assert!(!r.headers.top_via().unwrap().has_rfc3261_branch());
    assert_eq!(r.headers.to().unwrap().params.value("user"), Some("phone"));
    assert_eq!(r.headers.max_forwards(), Ok(None));
    assert!(r.body.ends_with(b"m=audio 49217 RTP/AVP 0\r\n"));

    let r = response("4475-3.3.10-bcast");
    assert_eq!(
        r.headers.via().nth(1).unwrap().unwrap().host.to_string(),
        "255.255.255.255"
    );
}

#[test]
fn ipv6_references_follow_rfc5118() {
    let host = |name| request(name).uri.as_sip().unwrap().clone();
    let u = host("5118-4.1-ipv6-good");
    assert_eq!(u.host, Host::Ipv6("2001:db8::10".parse().unwrap()));
    // §4.3: inside the brackets, ":5070" is part of the address, not a port.
    let u = host("5118-4.3-port-ambiguous");
    assert_eq!(
        (u.host.to_string().as_str(), u.port),
        ("[2001:db8::10:5070]", None)
    );
    let u = host("5118-4.4-port-unambiguous");
    assert_eq!(
        (u.host.to_string().as_str(), u.port),
        ("[2001:db8::10]", Some(5070))
    );
    for name in [
        "5118-4.5-via-received-brackets",
        "5118-4.5-via-received-bare",
    ] {
        let via = request(name).headers.top_via().unwrap();
        assert!(
            via.received().unwrap().contains("2001:db8::9:255"),
            "{name}"
        );
    }
    let r = request("5118-4.7-mult-ip-in-header");
    let vias: Vec<_> = r.headers.via().map(|v| v.unwrap()).collect();
    assert_eq!(vias[0].sent_by_port(), 6050);
    assert_eq!(vias[1].host, Host::Ipv4("192.0.2.1".parse().unwrap()));
    assert_eq!(vias[2].received(), Some("192.0.2.200"));
    let r = request("5118-4.9-ipv4-mapped-ipv6");
    assert_eq!(
        r.headers.top_via().unwrap().host,
        Host::Ipv6("::ffff:192.0.2.10".parse().unwrap())
    );
    let three = host("5118-4.10-ipv6-bug-abnf-3-colons");
    let two = host("5118-4.10-ipv6-correct-abnf-2-colons");
    assert_eq!(three.host, two.host);
}
