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
use tandem_benches::sip_messages::{invite, invite_compact};
use tandem_sip::message::{Frame, Message, frame};

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
