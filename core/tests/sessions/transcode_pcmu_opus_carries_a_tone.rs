//! A PCMU ↔ Opus transcoder carries a tone both ways: what each side hears is the other
//! side's tone, dominant in the decoded audio, at the right level.

use tandem_codecs::Format;
use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegSpec, SessionSpec};

use crate::support::{Harness, Stream, decode_all, encode_all, rms, sine, tone_share};

#[test]
fn transcode_pcmu_opus_carries_a_tone() {
    carries_a_tone(false);
}

/// The same through `tandem-dsp`'s adaptive jitter buffer on both legs.
#[test]
fn transcode_pcmu_opus_carries_a_tone_through_the_adaptive_jitter_buffer() {
    carries_a_tone(true);
}

fn carries_a_tone(adaptive: bool) {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (sb, peer_b) = h.peer.socket();
    let opus_pt = PayloadType::new(111).unwrap();
    let legs = h.install(
        5,
        &SessionSpec::Transcode {
            a: LegSpec::new(CodecSpec::PCMU)
                .with_remote(peer_a)
                .with_adaptive_playout(adaptive),
            b: LegSpec::new(CodecSpec::opus(16000, opus_pt))
                .with_remote(peer_b)
                .with_adaptive_playout(adaptive),
        },
    );
    const SECONDS: usize = 2;
    let pcmu = encode_all(
        Format::PCMU,
        &sine(1000.0, 8000.0, 8000, 8000 * SECONDS),
        160,
    );
    let opus = encode_all(
        Format::opus(16000),
        &sine(700.0, 8000.0, 16000, 16000 * SECONDS),
        320,
    );
    let mut a = Stream::new(0xA, PayloadType::PCMU);
    let mut b = Stream::new(0xB, opus_pt);
    for (pa, pb) in pcmu.iter().zip(&opus) {
        h.peer.send(h.now_us, sa, legs[0], &a.packet(pa, 160));
        h.peer.send(h.now_us, sb, legs[1], &b.packet(pb, 960));
        h.tick();
        h.tick();
    }
    let got = h.peer.recv_all();
    let at_b: Vec<Vec<u8>> = got
        .iter()
        .filter(|r| r.to == peer_b)
        .map(|r| {
            assert_eq!(r.rtp().payload_type(), opus_pt);
            r.rtp().payload().to_vec()
        })
        .collect();
    let at_a: Vec<Vec<u8>> = got
        .iter()
        .filter(|r| r.to == peer_a)
        .map(|r| {
            assert_eq!(r.rtp().payload_type(), PayloadType::PCMU);
            r.rtp().payload().to_vec()
        })
        .collect();
    // One packet per 20 ms, less the playout delay at the start.
    assert!(at_b.len() >= 90, "{} packets at B", at_b.len());
    assert!(at_a.len() >= 90, "{} packets at A", at_a.len());
    let heard_b = decode_all(Format::opus(16000), at_b.iter().map(Vec::as_slice));
    let heard_a = decode_all(Format::PCMU, at_a.iter().map(Vec::as_slice));
    let tail_b = &heard_b[heard_b.len() - 16000..];
    let tail_a = &heard_a[heard_a.len() - 8000..];
    let (share_b, share_a) = (
        tone_share(tail_b, 1000.0, 16000),
        tone_share(tail_a, 700.0, 8000),
    );
    assert!(share_b > 0.9, "B hears A's 1 kHz: share {share_b}");
    assert!(share_a > 0.9, "A hears B's 700 Hz: share {share_a}");
    // Level preserved within 2 dB (amplitude 8000 → RMS 5657).
    for (name, level) in [("B", rms(tail_b)), ("A", rms(tail_a))] {
        let db = 20.0 * (level / 5657.0).log10();
        assert!(db.abs() < 2.0, "{name} hears the tone at {db:.1} dB");
    }
}
