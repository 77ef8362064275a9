//! A play session delivers a WAV file's samples to its peer, in order and intact (up to
//! G.711's quantisation), then reports the end once and goes on with silence.

use tandem_core::bus::EventKind;
use tandem_core::session::{CodecSpec, LegId, LegSpec, PlaySource, PlaySpec, SessionSpec};

use crate::support::{Harness, decode_all, sine};

#[test]
fn play_delivers_the_wav() {
    let mut h = Harness::new();
    let (_s, peer) = h.peer.socket();
    let mut pcm = sine(440.0, 6000.0, 8000, 4800);
    for (n, x) in pcm.iter_mut().enumerate() {
        *x = x.saturating_add((3000.0 * (n as f64 * 0.021).sin()) as i16);
    }
    let path = std::env::temp_dir().join(format!("tandem-play-{}.wav", std::process::id()));
    tandem_codecs::file::wav::write(&path, 8000, &pcm).unwrap();
    h.install(
        4,
        &SessionSpec::Play(PlaySpec {
            leg: LegSpec::new(CodecSpec::PCMU).with_remote(peer),
            source: PlaySource::Wav(path.clone()),
            repeat: false,
        }),
    );
    let _ = std::fs::remove_file(&path);
    for _ in 0..80 {
        h.tick();
    }
    let got = h.peer.recv_all();
    assert_eq!(got.len(), 40, "one packet per 20 ms");
    let payloads: Vec<Vec<u8>> = got.iter().map(|r| r.rtp().payload().to_vec()).collect();
    let heard = decode_all(
        tandem_codecs::Format::PCMU,
        payloads.iter().map(Vec::as_slice),
    );
    let (signal, noise) = pcm.iter().zip(&heard).fold((0.0, 0.0), |(s, n), (&x, &y)| {
        let d = f64::from(x) - f64::from(y);
        (s + f64::from(x) * f64::from(x), n + d * d)
    });
    let snr = 10.0 * (signal / noise).log10();
    assert!(snr > 30.0, "the WAV arrives intact: SNR {snr:.1} dB");
    assert!(
        heard[4800..].iter().all(|&x| x.abs() < 16),
        "silence after the end"
    );
    let finished = h
        .leg_events(LegId::A)
        .iter()
        .filter(|e| e.kind == EventKind::PlaybackFinished)
        .count();
    assert_eq!(finished, 1);
}
