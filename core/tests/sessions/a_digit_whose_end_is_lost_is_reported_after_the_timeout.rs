//! An RFC 4733 digit whose end packets never arrive (the sender stopped, or the packets were
//! lost) is still reported once, when the receiver's end timeout passes, even though no
//! packet arrives to drive the leg: its tick-time upkeep must come back for the timeout.

use tandem_core::bus::{DtmfSource, EventKind};
use tandem_core::rtp::{EventCode, PayloadType, RtpTimestamp, TelephoneEvent};
use tandem_core::session::{CodecSpec, LegId, LegSpec, SessionSpec};

use crate::support::{Harness, Stream};

fn reported(h: &Harness) -> Vec<char> {
    h.leg_events(LegId::A)
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Dtmf {
                digit,
                source: DtmfSource::Rfc4733,
                ..
            } => Some(digit),
            _ => None,
        })
        .collect()
}

#[test]
fn a_digit_whose_end_is_lost_is_reported_after_the_timeout() {
    let te = PayloadType::new(101).unwrap();
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (_sb, peer_b) = h.peer.socket();
    let legs = h.install(
        5,
        &SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU)
                .with_remote(peer_a)
                .with_telephone_event(te),
            b: LegSpec::new(CodecSpec::PCMU)
                .with_remote(peer_b)
                .with_telephone_event(te),
        },
    );
    let mut stream = Stream::new(0x4733, PayloadType::PCMU);
    // Half a second of audio first, so that every leg has settled into its steady upkeep.
    for _ in 0..25 {
        let p = stream.packet(&[0xFF; 160], 160);
        h.peer.send(h.now_us, sa, legs[0], &p);
        h.tick();
        h.tick();
    }
    // A digit '7' begins and goes on for 100 ms; then nothing at all, not even its end.
    let start = RtpTimestamp(stream.ts);
    for i in 0..5u16 {
        let event = TelephoneEvent {
            event: EventCode::from_dtmf('7').unwrap(),
            end: false,
            volume: 10,
            duration: 160 * (i + 1),
        };
        let mut payload = [0u8; 4];
        event.emit(&mut payload).unwrap();
        let p = stream.packet_with(te, i == 0, start, &payload);
        h.peer.send(h.now_us, sa, legs[0], &p);
        h.tick();
        h.tick();
    }
    assert_eq!(reported(&h), Vec::<char>::new(), "not ended yet");
    // The receiver's end timeout (400 ms by default) passes with no packet arriving.
    for _ in 0..60 {
        h.tick();
    }
    assert_eq!(reported(&h), vec!['7'], "reported once, by the timeout");
}
