//! A leg without RTP for its media timeout reports `MediaTimeout` once; media resuming re-arms
//! it.

use tandem_core::bus::EventKind;
use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegId, LegSpec, SessionSpec};

use crate::support::{Harness, Stream};

fn timeouts(h: &Harness) -> usize {
    h.leg_events(LegId::A)
        .iter()
        .filter(|e| e.kind == EventKind::MediaTimeout)
        .count()
}

#[test]
fn media_timeout_is_reported_once_until_media_resumes() {
    let mut h = Harness::new();
    let (s, _) = h.peer.socket();
    let legs = h.install(
        2,
        &SessionSpec::Echo(LegSpec::new(CodecSpec::PCMU).with_media_timeout_ms(500)),
    );
    for _ in 0..49 {
        h.tick();
    }
    assert_eq!(timeouts(&h), 0, "not before 500 ms");
    for _ in 0..200 {
        h.tick();
    }
    assert_eq!(timeouts(&h), 1, "once, not every tick");
    let mut stream = Stream::new(1, PayloadType::PCMU);
    h.peer
        .send(h.now_us, s, legs[0], &stream.packet(&[0xFF; 160], 160));
    for _ in 0..49 {
        h.tick();
    }
    assert_eq!(timeouts(&h), 1);
    for _ in 0..2 {
        h.tick();
    }
    assert_eq!(timeouts(&h), 2, "re-armed by the packet");
}
