//! Opus through our wrapper: every rate and packet time, stereo coding, CBR, DTX, option
//! validation, and decoding at a rate other than the one coded.

use tandem_codecs::opus::{OpusDecoder, OpusEncoder};
use tandem_codecs::{CodecError, Decoder, EncodeError, Encoder, OpusConfig};

fn voice(rate: u32, ms: u32) -> Vec<i16> {
    (0..(rate * ms / 1000) as usize)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let f0 = 160.0 + 30.0 * (2.0 * std::f64::consts::PI * 3.0 * t).sin();
            let v: f64 = (1..6)
                .map(|h| (2.0 * std::f64::consts::PI * f0 * h as f64 * t).sin() / h as f64)
                .sum();
            (v * 7000.0) as i16
        })
        .collect()
}

/// RFC 6716 §3.1: the TOC byte's stereo flag is bit 2.
fn is_stereo(packet: &[u8]) -> bool {
    packet[0] & 0x04 != 0
}

#[test]
fn every_rate_and_packet_time_round_trips_its_length() {
    for rate in [8000u32, 12000, 16000, 24000, 48000] {
        for ptime in [10u32, 20, 30, 40, 60] {
            let mut enc = OpusEncoder::new(rate, &OpusConfig::default()).unwrap();
            let mut dec = OpusDecoder::new(rate).unwrap();
            let frame = (rate * ptime / 1000) as usize;
            let pcm = voice(rate, ptime * 10);
            let mut payload = [0u8; 4000];
            let mut out = vec![0i16; frame];
            for chunk in pcm.chunks_exact(frame) {
                let n = enc.encode(chunk, &mut payload).unwrap();
                assert_eq!(
                    dec.samples_in(&payload[..n]),
                    Ok(frame),
                    "{rate} Hz {ptime} ms"
                );
                assert_eq!(dec.decode(&payload[..n], &mut out), Ok(frame));
            }
        }
    }
}

#[test]
fn two_coded_channels_make_stereo_packets_that_decode_to_mono() {
    let config = OpusConfig {
        channels: 2,
        ..OpusConfig::default()
    };
    let mut enc = OpusEncoder::new(48000, &config).unwrap();
    let mut dec = OpusDecoder::new(48000).unwrap();
    let pcm = voice(48000, 20);
    let mut payload = [0u8; 1500];
    let n = enc.encode(&pcm, &mut payload).unwrap();
    assert!(is_stereo(&payload[..n]));
    let mut out = vec![0i16; 960];
    assert_eq!(dec.decode(&payload[..n], &mut out), Ok(960));

    let mut mono = OpusEncoder::new(48000, &OpusConfig::default()).unwrap();
    let n = mono.encode(&pcm, &mut payload).unwrap();
    assert!(!is_stereo(&payload[..n]));
}

#[test]
fn constant_bitrate_packets_have_one_size() {
    let config = OpusConfig {
        vbr: false,
        bitrate_bps: Some(32000),
        ..OpusConfig::default()
    };
    let mut enc = OpusEncoder::new(16000, &config).unwrap();
    let mut payload = [0u8; 1500];
    let sizes: Vec<usize> = voice(16000, 400)
        .chunks_exact(320)
        .map(|c| enc.encode(c, &mut payload).unwrap())
        .collect();
    // 32 kbit/s for 20 ms is 80 bytes.
    assert!(sizes.iter().all(|&s| s == 80), "{sizes:?}");
}

/// With DTX, libopus codes silence as 1-2 byte frames that need not be sent, which the
/// wrapper reports as 0 bytes, plus a comfort-noise refresh every 400 ms.
#[test]
fn dtx_sends_almost_nothing_in_silence() {
    let config = OpusConfig {
        dtx: true,
        ..OpusConfig::default()
    };
    let mut enc = OpusEncoder::new(16000, &config).unwrap();
    let mut payload = [0u8; 1500];
    let silence = [0i16; 320];
    let sizes: Vec<usize> = (0..50)
        .map(|_| enc.encode(&silence, &mut payload).unwrap())
        .collect();
    let quiet = &sizes[10..];
    let skipped = quiet.iter().filter(|&&s| s == 0).count();
    assert!(skipped * 10 >= quiet.len() * 8, "{sizes:?}");
    assert!(quiet.iter().all(|&s| s <= 10), "{sizes:?}");
}

#[test]
fn out_of_range_options_are_rejected_with_their_name() {
    let bad = [
        OpusConfig {
            complexity: 11,
            ..OpusConfig::default()
        },
        OpusConfig {
            channels: 3,
            ..OpusConfig::default()
        },
        OpusConfig {
            bitrate_bps: Some(1000),
            ..OpusConfig::default()
        },
        OpusConfig {
            expected_loss_pct: 101,
            ..OpusConfig::default()
        },
    ];
    for config in bad {
        assert!(matches!(
            OpusEncoder::new(16000, &config),
            Err(CodecError::OptionOutOfRange { .. })
        ));
    }
    assert!(matches!(
        OpusEncoder::new(44100, &OpusConfig::default()),
        Err(CodecError::UnsupportedSampleRate { rate: 44100, .. })
    ));
}

#[test]
fn frame_lengths_opus_cannot_code_are_refused() {
    let mut enc = OpusEncoder::new(8000, &OpusConfig::default()).unwrap();
    let mut payload = [0u8; 1500];
    // 7 ms and 50 ms are not Opus frame sizes, nor multiples handled by repacketizing.
    for ms in [7usize, 50] {
        let pcm = vec![0i16; 8 * ms];
        assert_eq!(
            enc.encode(&pcm, &mut payload),
            Err(EncodeError::InvalidFrameLength { samples: 8 * ms })
        );
    }
}

/// RFC 7587 §4.1: the RTP clock is 48 kHz whatever the coded bandwidth, and any decoder rate
/// can play any stream.
#[test]
fn a_48_khz_stream_decodes_at_8_khz() {
    let mut enc = OpusEncoder::new(48000, &OpusConfig::default()).unwrap();
    let mut dec = OpusDecoder::new(8000).unwrap();
    let mut payload = [0u8; 1500];
    let mut out = [0i16; 160];
    for chunk in voice(48000, 100).chunks_exact(960) {
        let n = enc.encode(chunk, &mut payload).unwrap();
        assert_eq!(dec.decode(&payload[..n], &mut out), Ok(160));
    }
    assert!(out.iter().any(|&s| s.abs() > 1000));
}

#[test]
fn the_encoder_reports_its_lookahead() {
    let enc = OpusEncoder::new(48000, &OpusConfig::default()).unwrap();
    // libopus' VoIP lookahead at 48 kHz: 2.5 ms of delay compensation + 4 ms of SILK/CELT
    // overlap, 312 samples.
    assert!(enc.lookahead() > 0 && enc.lookahead() < 960);
}

/// Encodes `ms` of voice at 16 kHz into 20 ms packets.
fn packets_16k(ms: u32) -> Vec<Vec<u8>> {
    let mut enc = OpusEncoder::new(16000, &OpusConfig::default()).unwrap();
    let mut payload = [0u8; 1500];
    voice(16000, ms)
        .chunks_exact(320)
        .map(|chunk| {
            let n = enc.encode(chunk, &mut payload).unwrap();
            payload[..n].to_vec()
        })
        .collect()
}

#[test]
fn a_rewound_decoder_decodes_the_next_packet_as_if_nothing_was_concealed() {
    let packets = packets_16k(200);
    let (before, after) = packets.split_at(5);
    let mut straight = OpusDecoder::new(16000).unwrap();
    let mut rewound = OpusDecoder::new(16000).unwrap();
    let mut concealed = OpusDecoder::new(16000).unwrap();
    let mut out = vec![0i16; 320];
    for p in before {
        for dec in [&mut straight, &mut rewound, &mut concealed] {
            dec.decode(p, &mut out).unwrap();
        }
    }
    assert!(rewound.checkpoint());
    let mut plc = [0i16; 160];
    for dec in [&mut rewound, &mut concealed] {
        assert_eq!(dec.conceal(&mut plc), 160);
        assert_eq!(dec.conceal(&mut plc), 160);
    }
    rewound.rewind();

    let (mut a, mut b, mut c) = (vec![0i16; 320], vec![0i16; 320], vec![0i16; 320]);
    for (i, p) in after.iter().enumerate() {
        straight.decode(p, &mut a).unwrap();
        rewound.decode(p, &mut b).unwrap();
        concealed.decode(p, &mut c).unwrap();
        assert_eq!(
            a, b,
            "the rewound decoder runs exactly as the one that never concealed"
        );
        if i == 0 {
            assert_ne!(
                a, c,
                "without the rewind, the packet decodes as one after a loss"
            );
        }
    }
}

#[test]
fn a_checkpoint_survives_a_reset_and_rewinds_to_what_it_saved() {
    let packets = packets_16k(100);
    let mut dec = OpusDecoder::new(16000).unwrap();
    let mut twin = OpusDecoder::new(16000).unwrap();
    let mut out = vec![0i16; 320];
    let mut twin_out = vec![0i16; 320];
    dec.decode(&packets[0], &mut out).unwrap();
    twin.decode(&packets[0], &mut twin_out).unwrap();
    assert!(dec.checkpoint());
    dec.reset();
    dec.rewind();
    for p in &packets[1..] {
        dec.decode(p, &mut out).unwrap();
        twin.decode(p, &mut twin_out).unwrap();
        assert_eq!(out, twin_out);
    }
}
