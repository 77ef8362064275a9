//! DTMF across a transcoder: RFC 4733 events on one side become in-band tones on the other,
//! tones become RFC 4733 events, and each digit comes out — and is reported — exactly once.

use tandem_codecs::Format;
use tandem_core::bus::{DtmfSource, EventKind};
use tandem_core::rtp::telephone_event::{ReceiverConfig, SenderConfig};
use tandem_core::rtp::{
    DigitNotice, EventCode, PayloadType, RtpTimestamp, TelephoneEventReceiver, TelephoneEventSender,
};
use tandem_core::session::{CodecSpec, LegId, LegSpec, SessionSpec};
use tandem_dsp::dtmf::{
    DtmfConfig, DtmfDetector, DtmfEvent, DtmfEventKind, DtmfGenerator, DtmfGeneratorConfig,
};

use crate::support::{Harness, Received, Stream, decode_all, encode_all};

fn te_pt() -> PayloadType {
    PayloadType::new(101).unwrap()
}

/// Digits an in-band detector finds in `pcm` (8 kHz), in order.
fn detect(pcm: &[i16]) -> String {
    let mut detector = DtmfDetector::new(DtmfConfig::with_rate(8000)).unwrap();
    let mut events = vec![DtmfEvent::default(); detector.events_max(pcm.len())];
    let mut pcm = pcm.to_vec();
    let mut digits = String::new();
    let n = detector.process(0, &mut pcm, &mut events).unwrap();
    for e in &events[..n] {
        if e.kind == DtmfEventKind::End {
            digits.push(e.digit.as_char());
        }
    }
    let n = detector.flush(&mut events).unwrap();
    for e in &events[..n] {
        if e.kind == DtmfEventKind::End {
            digits.push(e.digit.as_char());
        }
    }
    digits
}

fn reported(h: &Harness, leg: LegId, source: DtmfSource) -> String {
    h.leg_events(leg)
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Dtmf {
                digit, source: s, ..
            } if s == source => Some(digit),
            _ => None,
        })
        .collect()
}

fn audio_at(got: &[Received], to: std::net::SocketAddr) -> Vec<i16> {
    let payloads: Vec<Vec<u8>> = got
        .iter()
        .filter(|r| r.to == to && r.rtp().payload_type() == PayloadType::PCMU)
        .map(|r| r.rtp().payload().to_vec())
        .collect();
    decode_all(Format::PCMU, payloads.iter().map(Vec::as_slice))
}

#[test]
fn rfc4733_digits_become_one_tone_each() {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (_sb, peer_b) = h.peer.socket();
    let legs = h.install(
        11,
        &SessionSpec::Transcode {
            a: LegSpec::new(CodecSpec::PCMU)
                .with_remote(peer_a)
                .with_telephone_event(te_pt()),
            b: LegSpec::new(CodecSpec::PCMU).with_remote(peer_b),
        },
    );
    let mut stream = Stream::new(0xD7, PayloadType::PCMU);
    let mut sender = TelephoneEventSender::new(SenderConfig {
        update_interval_us: 20_000,
        ..SenderConfig::default()
    });
    let digits = "15#9";
    let silence = [0xFFu8; 160];
    // Every 20 ms: an audio packet, or the sender's event packets while a digit is on.
    for step in 0..150u64 {
        let now = h.now_us;
        let phase = step % 25; // a digit every 500 ms: 120 ms on
        let index = (step / 25) as usize;
        if index < digits.len() {
            let c = digits.as_bytes()[index] as char;
            if phase == 5 {
                let code = EventCode::from_dtmf(c).unwrap();
                sender
                    .begin(now, now, code, 10, RtpTimestamp(stream.ts))
                    .unwrap();
            }
            if phase == 11 {
                sender.end(now);
            }
        }
        let mut events = false;
        while let Some(t) = sender.poll_transmit(now) {
            events = true;
            let mut payload = [0u8; 4];
            t.event.emit(&mut payload).unwrap();
            let p = stream.packet_with(te_pt(), t.marker, t.timestamp, &payload);
            h.peer.send(now, sa, legs[0], &p);
        }
        if events {
            stream.ts = stream.ts.wrapping_add(160);
        } else {
            let p = stream.packet(&silence, 160);
            h.peer.send(now, sa, legs[0], &p);
        }
        h.tick();
        h.tick();
    }
    let got = h.peer.recv_all();
    let heard = audio_at(&got, peer_b);
    assert_eq!(detect(&heard), digits, "B hears each digit once, as a tone");
    assert_eq!(reported(&h, LegId::A, DtmfSource::Rfc4733), digits);
    assert_eq!(reported(&h, LegId::A, DtmfSource::InBand), "");
}

#[test]
fn inband_digits_become_rfc4733_events_once_each() {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (_sb, peer_b) = h.peer.socket();
    let legs = h.install(
        12,
        &SessionSpec::Transcode {
            a: LegSpec::new(CodecSpec::PCMU).with_remote(peer_a),
            b: LegSpec::new(CodecSpec::PCMU)
                .with_remote(peer_b)
                .with_telephone_event(te_pt()),
        },
    );
    let digits = "2580";
    let mut pcm = vec![0i16; 1600];
    pcm.extend(
        DtmfGenerator::render(
            DtmfGeneratorConfig {
                on_ms: 100,
                off_ms: 150,
                ..DtmfGeneratorConfig::default()
            },
            digits,
        )
        .unwrap(),
    );
    pcm.resize(pcm.len() + 4000, 0);
    let mut stream = Stream::new(0xE1, PayloadType::PCMU);
    for payload in encode_all(Format::PCMU, &pcm, 160) {
        h.peer
            .send(h.now_us, sa, legs[0], &stream.packet(&payload, 160));
        h.tick();
        h.tick();
    }
    for _ in 0..50 {
        h.tick();
    }
    let got = h.peer.recv_all();
    let mut receiver = TelephoneEventReceiver::new(ReceiverConfig::default());
    let mut seen = String::new();
    for r in got.iter().filter(|r| r.to == peer_b) {
        let p = r.rtp();
        if p.payload_type() == te_pt() {
            receiver
                .handle_packet(0, p.ssrc(), p.timestamp(), p.marker(), p.payload())
                .unwrap();
            while let Some(n) = receiver.poll_event() {
                if let DigitNotice::Ended { event, .. } = n {
                    seen.push(event.dtmf().unwrap());
                }
            }
        }
    }
    assert_eq!(seen, digits, "B gets each digit once, as RFC 4733");
    assert_eq!(
        detect(&audio_at(&got, peer_b)),
        "",
        "the tones are muted in B's audio"
    );
    assert_eq!(reported(&h, LegId::A, DtmfSource::InBand), digits);
}

#[test]
fn digits_sent_by_command_arrive_as_events_or_tones() {
    let mut h = Harness::new();
    let (_sa, peer_a) = h.peer.socket();
    let (_sb, peer_b) = h.peer.socket();
    h.install(
        13,
        &SessionSpec::Transcode {
            a: LegSpec::new(CodecSpec::PCMU).with_remote(peer_a),
            b: LegSpec::new(CodecSpec::PCMU)
                .with_remote(peer_b)
                .with_telephone_event(te_pt()),
        },
    );
    let id = tandem_core::session::SessionId(13);
    h.worker.send_digits(id, LegId::A, "47").unwrap();
    h.worker.send_digits(id, LegId::B, "*0").unwrap();
    for _ in 0..100 {
        h.tick();
    }
    let got = h.peer.recv_all();
    assert_eq!(detect(&audio_at(&got, peer_a)), "47", "tones into A");
    let mut receiver = TelephoneEventReceiver::new(ReceiverConfig::default());
    let mut seen = String::new();
    for r in got.iter().filter(|r| r.to == peer_b) {
        let p = r.rtp();
        if p.payload_type() == te_pt() {
            receiver
                .handle_packet(0, p.ssrc(), p.timestamp(), p.marker(), p.payload())
                .unwrap();
            while let Some(n) = receiver.poll_event() {
                if let DigitNotice::Ended { event, .. } = n {
                    seen.push(event.dtmf().unwrap());
                }
            }
        }
    }
    assert_eq!(seen, "*0", "RFC 4733 into B");
}
