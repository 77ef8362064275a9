//! A leg's encoder settings reach its encoder: the same PCMU → Opus transcoder sends mono VBR
//! packets on Tandem's defaults, and 2-channel CBR packets of exactly 80 bytes when the Opus
//! leg asks for rtpengine's settings (stereo, complexity 10, 32 kbit/s CBR, 20 ms).

use tandem_codecs::{EncoderConfig, Format, OpusConfig};
use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegSpec, SessionSpec};

use crate::support::{Harness, Stream, encode_all, sine};

/// The Opus payloads a PCMU tone turns into on leg B, with B's encoder set to `encoder`.
fn opus_payloads(encoder: EncoderConfig) -> Vec<Vec<u8>> {
    let mut h = Harness::new();
    let (sa, peer_a) = h.peer.socket();
    let (_, peer_b) = h.peer.socket();
    let opus_pt = PayloadType::new(96).unwrap();
    let legs = h.install(
        7,
        &SessionSpec::Transcode {
            a: LegSpec::new(CodecSpec::PCMU).with_remote(peer_a),
            b: LegSpec::new(CodecSpec::opus(48000, opus_pt))
                .with_remote(peer_b)
                .with_encoder(encoder),
        },
    );
    let pcmu = encode_all(Format::PCMU, &sine(440.0, 8000.0, 8000, 8000), 160);
    let mut a = Stream::new(0xA, PayloadType::PCMU);
    for p in &pcmu {
        h.peer.send(h.now_us, sa, legs[0], &a.packet(p, 160));
        h.tick();
        h.tick();
    }
    h.peer
        .recv_all()
        .iter()
        .filter(|r| r.to == peer_b)
        .map(|r| r.rtp().payload().to_vec())
        .collect()
}

/// RFC 6716 §3.1: bit 2 of the TOC byte is the stereo flag.
fn stereo(packet: &[u8]) -> bool {
    packet[0] & 0x04 != 0
}

#[test]
fn transcode_opus_leg_uses_its_encoder_settings() {
    let defaults = opus_payloads(EncoderConfig::DEFAULT);
    assert!(defaults.len() >= 40, "{} packets", defaults.len());
    assert!(defaults.iter().all(|p| !stereo(p)), "defaults code mono");

    let rtpengine_like = EncoderConfig {
        opus: OpusConfig {
            channels: 2,
            complexity: 10,
            bitrate_bps: Some(32_000),
            vbr: false,
            ..OpusConfig::DEFAULT
        },
        ..EncoderConfig::DEFAULT
    };
    let cbr = opus_payloads(rtpengine_like);
    assert!(cbr.len() >= 40, "{} packets", cbr.len());
    assert!(cbr.iter().all(|p| stereo(p)), "two coded channels");
    // 32 kbit/s × 20 ms = 80 bytes, every packet (CBR).
    assert!(
        cbr.iter().all(|p| p.len() == 80),
        "sizes {:?}",
        cbr.iter().map(Vec::len).collect::<Vec<_>>()
    );
}
