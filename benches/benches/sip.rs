//! SIP message costs (group "sip"): parsing a typical INVITE (about 800 bytes: 12 headers and
//! an SDP offer), printing it, parsing plus the typed views a transaction layer reads first
//! (top Via, CSeq, From, To), stream framing, and a full parse of the same INVITE with its
//! headers written in compact forms and folded lines.
//!
//! Run: `cargo bench -p tandem-benches --bench sip`. Inputs are built outside `b.iter` and go
//! through `black_box`; throughput is in messages (elements) per second. The target is at least
//! one million INVITEs per second per core for `parse`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tandem_sip::message::{Frame, Message, frame};

const SDP: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=Session SDP\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 9 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

fn invite() -> Vec<u8> {
    let head = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: \"Bob\" <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n\
Supported: timer, 100rel\r\n\
User-Agent: Tandem/0.1\r\n\
Content-Type: application/sdp\r\n";
    let m = format!("{head}Content-Length: {}\r\n\r\n{SDP}", SDP.len());
    m.into_bytes()
}

/// The same INVITE as a terse peer writes it: compact names, a folded Via (folding replaces
/// an existing space, so the parsed message equals the plain one).
fn invite_compact() -> Vec<u8> {
    let head = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
v: SIP/2.0/UDP\r\n pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
t: \"Bob\" <sip:bob@biloxi.example.com>\r\n\
f: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
i: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
m: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO\r\n\
k: timer, 100rel\r\n\
User-Agent: Tandem/0.1\r\n\
c: application/sdp\r\n";
    let m = format!("{head}l: {}\r\n\r\n{SDP}", SDP.len());
    m.into_bytes()
}

fn bench_sip(c: &mut Criterion) {
    let bytes = invite();
    assert!((750..=900).contains(&bytes.len()), "{} bytes", bytes.len());
    let compact = invite_compact();
    let message = Message::parse(&bytes).unwrap();
    message.validate().unwrap();
    assert_eq!(Message::parse(&compact).unwrap(), message);

    let mut g = c.benchmark_group("sip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_invite", |b| {
        b.iter(|| Message::parse(black_box(&bytes)).unwrap())
    });
    g.bench_function("parse_invite_compact_folded", |b| {
        b.iter(|| Message::parse(black_box(&compact)).unwrap())
    });
    let mut out = Vec::with_capacity(2048);
    g.bench_function("print_invite", |b| {
        b.iter(|| {
            out.clear();
            black_box(&message).write_to(&mut out);
            out.len()
        })
    });
    g.bench_function("parse_invite_typed_via_cseq_from_to", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(&bytes)).unwrap();
            let h = m.headers();
            let via = h.top_via().unwrap();
            let cseq = h.cseq().unwrap();
            let from = h.from().unwrap();
            let to = h.to().unwrap();
            (
                via.port,
                cseq.seq,
                from.tag().map(str::len),
                to.display_name.is_some(),
            )
        })
    });
    let message_len = bytes.len();
    g.bench_function("frame_invite", |b| {
        b.iter(|| {
            assert_eq!(
                frame(black_box(&bytes)),
                Ok(Frame::Message { len: message_len })
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench_sip);
criterion_main!(benches);
