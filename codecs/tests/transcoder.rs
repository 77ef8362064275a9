//! The transcoder end to end: every pair of built formats at every packet time carries a tone
//! through, packet counts follow the packet times, gaps are concealed, Opus FEC recovers a
//! lost packet better than plain concealment, and repacketizing keeps the bytes.

use tandem_codecs::{DecodePath, EncoderConfig, Format, Transcoder, TranscoderConfig, registry};

/// A sine of `freq` Hz at `amplitude`, `ms` long, at `rate`.
fn tone(rate: u32, freq: f64, amplitude: f64, ms: u32) -> Vec<i16> {
    let n = (rate * ms / 1000) as usize;
    (0..n)
        .map(|i| {
            (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()) as i16
        })
        .collect()
}

/// Fraction of the signal's energy at `freq` (Goertzel over the whole slice).
fn energy_fraction_at(pcm: &[i16], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut total = 0.0;
    for &x in pcm {
        let x = x as f64;
        total += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    // A pure sine of N samples yields power = (A N / 2)^2 and total = A^2 N / 2.
    2.0 * power / (pcm.len() as f64 * total.max(1.0))
}

fn encode_all(format: Format, ptime_ms: u32, pcm: &[i16]) -> Vec<Vec<u8>> {
    let mut encoder = registry::new_encoder(format, &EncoderConfig::default()).unwrap();
    let frame = format.samples_in_ms(ptime_ms);
    let mut payload = vec![
        0u8;
        format
            .descriptor()
            .max_payload_len(format.sample_rate, ptime_ms)
    ];
    pcm.chunks_exact(frame)
        .map(|chunk| {
            let n = encoder.encode(chunk, &mut payload).unwrap();
            payload[..n].to_vec()
        })
        .collect()
}

fn decode_all(format: Format, payloads: &[Vec<u8>]) -> Vec<i16> {
    let mut decoder = registry::new_decoder(format).unwrap();
    let mut pcm = vec![0i16; 48 * 120];
    let mut out = Vec::new();
    for p in payloads {
        let n = decoder.decode(p, &mut pcm).unwrap();
        out.extend_from_slice(&pcm[..n]);
    }
    out
}

fn transcode(config: &TranscoderConfig, input: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut t = Transcoder::new(config).unwrap();
    let mut payload = vec![0u8; t.max_payload_len()];
    let mut out = Vec::new();
    for p in input {
        t.push(p).unwrap();
        while let Some(n) = t.pop(&mut payload).unwrap() {
            out.push(payload[..n].to_vec());
        }
    }
    out
}

fn built_formats() -> Vec<Format> {
    let mut formats = Vec::new();
    for d in registry::built() {
        for &rate in d.sample_rates {
            formats.push(Format {
                codec: d.id,
                sample_rate: rate,
            });
        }
    }
    formats
}

/// Every built format to every built format, with every packet time on the incoming side
/// (going out at 20 ms) and on the outgoing side (coming in at 20 ms): a 600 Hz tone (inside
/// every codec's band) comes out as that tone, in the right number of packets.
#[test]
fn every_pair_at_every_ptime_carries_a_tone() {
    let formats = built_formats();
    let ptimes = [10u32, 20, 30, 40, 60];
    let ptime_pairs: Vec<(u32, u32)> = ptimes
        .iter()
        .map(|&p| (p, 20))
        .chain(ptimes.iter().map(|&p| (20, p)))
        .collect();
    for &from in &formats {
        let input_pcm = tone(from.sample_rate, 600.0, 8000.0, 600);
        for &(from_ptime, to_ptime) in &ptime_pairs {
            let input = encode_all(from, from_ptime, &input_pcm);
            for &to in &formats {
                {
                    let config = TranscoderConfig {
                        from,
                        from_ptime_ms: from_ptime,
                        to,
                        to_ptime_ms: to_ptime,
                        encoder: EncoderConfig::default(),
                    };
                    let output = transcode(&config, &input);
                    let expected = 600 / to_ptime as usize;
                    assert!(
                        output.len() + 1 >= expected && output.len() <= expected,
                        "{from}@{from_ptime} -> {to}@{to_ptime}: {} packets, expected {expected}",
                        output.len()
                    );
                    let pcm = decode_all(to, &output);
                    // Skip the first 100 ms: codec and resampler start-up.
                    let steady = &pcm[to.samples_in_ms(100)..];
                    let fraction = energy_fraction_at(steady, to.sample_rate, 600.0);
                    assert!(
                        fraction > 0.8,
                        "{from}@{from_ptime} -> {to}@{to_ptime}: only {fraction:.2} of the energy at 600 Hz"
                    );
                }
            }
        }
    }
}

#[test]
fn repacketizing_keeps_the_bytes() {
    let pcm = tone(8000, 440.0, 5000.0, 120);
    let input = encode_all(Format::PCMA, 20, &pcm);
    let config = TranscoderConfig {
        from: Format::PCMA,
        from_ptime_ms: 20,
        to: Format::PCMA,
        to_ptime_ms: 60,
        encoder: EncoderConfig::default(),
    };
    let t = Transcoder::new(&config).unwrap();
    assert!(t.plan().is_repacketize());
    let output = transcode(&config, &input);
    assert_eq!(output.len(), 2);
    assert_eq!(output.concat(), input.concat());
}

/// A lost packet is concealed: the output stream keeps its length and carries on.
#[test]
fn losses_are_concealed_without_a_gap() {
    let pcm = tone(8000, 500.0, 6000.0, 400);
    let input = encode_all(Format::PCMU, 20, &pcm);
    let config = TranscoderConfig {
        from: Format::PCMU,
        from_ptime_ms: 20,
        to: Format::G722,
        to_ptime_ms: 20,
        encoder: EncoderConfig::default(),
    };
    let mut t = Transcoder::new(&config).unwrap();
    let mut payload = vec![0u8; t.max_payload_len()];
    let mut packets = 0;
    for (i, p) in input.iter().enumerate() {
        if i % 5 == 2 {
            t.push_lost();
        } else {
            t.push(p).unwrap();
        }
        while t.pop(&mut payload).unwrap().is_some() {
            packets += 1;
        }
    }
    assert!(
        packets >= input.len() - 1,
        "{packets} packets out of {}",
        input.len()
    );
}

/// `ms` of espeak-ng speech at `rate` (needs espeak-ng and sox, installed by the README's
/// test command).
fn speech(rate: u32) -> Vec<i16> {
    let dir = std::env::temp_dir().join(format!("tandem-transcoder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("speech.wav");
    let resampled = dir.join(format!("speech-{rate}.wav"));
    let ok = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "-s", "150", "-w"])
        .arg(&raw)
        .arg("Packet loss concealment keeps a conversation flowing when the network drops audio.")
        .status()
        .expect("espeak-ng is installed (README)")
        .success();
    assert!(ok);
    let ok = std::process::Command::new("sox")
        .arg(&raw)
        .args(["-r", &rate.to_string(), "-c", "1", "-b", "16"])
        .arg(&resampled)
        .status()
        .expect("sox is installed (README)")
        .success();
    assert!(ok);
    let (info, pcm) = tandem_codecs::file::wav::read(&resampled).unwrap();
    assert_eq!(info.sample_rate, rate);
    let _ = std::fs::remove_dir_all(&dir);
    pcm
}

/// Opus in-band FEC: lost packets recovered from the next one are closer to the original
/// than libopus' plain concealment of them, over a whole utterance of speech.
#[test]
fn opus_fec_recovers_lost_packets_better_than_plc() {
    let rate = 16000;
    let pcm = speech(rate);
    let format = Format::opus(rate);
    let payloads = encode_all(format, 20, &pcm);
    let reference = decode_all(format, &payloads);
    let frame = format.samples_in_ms(20);
    // Lose every 10th packet; sum the error of each recovery against the clean decode.
    let error = |recover: bool| -> f64 {
        let mut path = DecodePath::new(format, rate).unwrap();
        let mut out = vec![0i16; path.output_max()];
        let mut total = 0.0;
        for (i, p) in payloads.iter().enumerate() {
            if i % 10 == 5 && i + 1 < payloads.len() {
                let n = if recover {
                    path.recover_from_next(20, &payloads[i + 1], &mut out)
                } else {
                    path.conceal(20, &mut out)
                };
                assert_eq!(n, frame);
                let original = &reference[i * frame..(i + 1) * frame];
                total += original
                    .iter()
                    .zip(&out[..n])
                    .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                    .sum::<f64>();
            } else {
                path.decode(p, &mut out).unwrap();
            }
        }
        total
    };
    let (fec, plc) = (error(true), error(false));
    assert!(
        fec < plc * 0.5,
        "FEC error {fec:.3e} vs PLC error {plc:.3e}"
    );
}
