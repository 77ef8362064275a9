//! In-band DTMF suppression: with `suppression_delay_ms: Some(d)`, `process` outputs the input
//! delayed by `d` ms with recognised tones zeroed, so digits sent out-of-band (RFC 4733) do not
//! also leak in-band — the failure noted for rtpengine and FreeSWITCH in issue 3.
//!
//! "Leak" is measured exactly: the number of tone samples that reach the output unmuted, over
//! every alignment of the tone with the detector's 20 ms blocks, with silence and with noise
//! (−35 dBm0, so a partly covered block fails the energy checks) before the tone.

mod dtmf_support;

use dtmf_support::*;
use tandem_dsp::dtmf::{DtmfConfig, DtmfDetector, DtmfEvent};

/// Runs a suppressing detector over `input` in 20 ms frames; returns the output and the events.
fn suppress(input: &[i16], rate: u32, delay_ms: u32) -> (Vec<i16>, Vec<DtmfEvent>) {
    suppress_in_frames(input, rate, delay_ms, rate as usize / 50)
}

/// Runs a suppressing detector over `input` in frames of `frame` samples.
fn suppress_in_frames(
    input: &[i16],
    rate: u32,
    delay_ms: u32,
    frame: usize,
) -> (Vec<i16>, Vec<DtmfEvent>) {
    let config = DtmfConfig {
        suppression_delay_ms: Some(delay_ms),
        ..DtmfConfig::with_rate(rate)
    };
    let mut det = DtmfDetector::new(config).unwrap();
    assert_eq!(
        det.delay_samples(),
        delay_ms as usize * rate as usize / 1000
    );
    let mut events = vec![DtmfEvent::default(); det.events_max(frame)];
    let mut out = Vec::with_capacity(input.len());
    let mut all = Vec::new();
    for (i, chunk) in input.chunks(frame).enumerate() {
        let mut buf = chunk.to_vec();
        let n = det
            .process((i * frame) as u64, &mut buf, &mut events)
            .unwrap();
        all.extend_from_slice(&events[..n]);
        out.extend_from_slice(&buf);
    }
    (out, all)
}

/// A few seconds of loud speech, generated once per rate.
fn speech_material(rate: u32) -> Vec<i16> {
    use std::sync::OnceLock;
    static NARROW: OnceLock<Vec<i16>> = OnceLock::new();
    static WIDE: OnceLock<Vec<i16>> = OnceLock::new();
    let cell = if rate == 8000 { &NARROW } else { &WIDE };
    cell.get_or_init(|| {
        let raw = espeak(
            "Aaah, yes, sure, absolutely, no problem at all.",
            "en-us",
            150,
            50,
            rate,
        );
        normalise_active(&raw, -10.0)
    })
    .clone()
}

/// Tone samples (input indices `start..end`) that reach the output unmuted.
fn leaked(out: &[i16], delay: usize, start: usize, end: usize) -> usize {
    (start..end).filter(|&k| out[k + delay] != 0).count()
}

/// What precedes and follows the tone in a test scene.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Background {
    Silence,
    /// White noise at −35 dBm0.
    Noise,
    /// Speech at −10 dBm0 right up to the tone's first sample.
    Speech,
}

/// Builds: `lead` samples of background, a `tone_ms` digit at −10 dBm0, 300 ms of background.
fn scene(lead: usize, tone_ms: u32, background: Background, rate: u32) -> (Vec<i16>, usize, usize) {
    let tone = digits("5", tone_ms, 0, -10.0, 0.0, rate);
    let total = lead + tone.len() + rate as usize * 3 / 10;
    let mut x = match background {
        Background::Silence => vec![0.0; total],
        Background::Noise => white_noise(
            total,
            (DBM0 * 10f64.powf(-35.0 / 20.0)).powi(2) / 2.0,
            lead as u64 + 1,
        ),
        Background::Speech => {
            let speech = speech_material(rate);
            // The loudest 40 ms of the speech end exactly where the tone starts.
            let w = rate as usize / 25;
            let loudest_end = (w..speech.len())
                .step_by(w / 8)
                .max_by_key(|&e| {
                    speech[e - w..e]
                        .iter()
                        .map(|&v| i64::from(v) * i64::from(v))
                        .sum::<i64>()
                })
                .unwrap_or(speech.len());
            let mut x = vec![0.0; total];
            for k in 0..lead.min(loudest_end) {
                x[lead - 1 - k] = f64::from(speech[loudest_end - 1 - k]);
            }
            x
        }
    };
    for (k, &s) in tone.iter().enumerate() {
        x[lead + k] += f64::from(s);
    }
    (to_pcm(&x), lead, lead + tone.len())
}

/// Issue 3 (suppression): with the default delay no tone sample leaks, at any alignment, for
/// 40 ms and 100 ms digits, after silence, noise or speech that runs right up to the tone, at 8
/// and 16 kHz; and the digit is still reported.
#[test]
fn default_delay_leaks_nothing() {
    let delay_ms = DtmfConfig::DEFAULT_SUPPRESSION_DELAY_MS;
    for rate in [8000u32, 16000] {
        let ms = rate as usize / 1000;
        let delay = delay_ms as usize * ms;
        for lead in (400 * ms / 8..(400 + 160) * ms / 8).step_by(5 * ms / 4 + 1) {
            for tone_ms in [40, 100] {
                for bg in [Background::Silence, Background::Noise, Background::Speech] {
                    let (input, start, end) = scene(lead, tone_ms, bg, rate);
                    let (out, events) = suppress_in_frames(&input, rate, delay_ms, ms);
                    assert_eq!(
                        digit_string(&events),
                        "5",
                        "lead {lead} {tone_ms} ms {bg:?}"
                    );
                    let leak = leaked(&out, delay, start, end);
                    assert_eq!(
                        leak, 0,
                        "{rate} Hz, lead {lead}, {tone_ms} ms, {bg:?}: {leak} samples"
                    );
                }
            }
        }
    }
}

/// The documented bound: with a shorter delay `d`, at most `40 − d` ms of a tone leaks (the
/// first hit comes at most 40 ms after the tone starts), measured over every alignment with
/// 1 ms frames (a caller's longer frame adds lookahead: the output of a call is produced after
/// its input is analysed).
#[test]
fn shorter_delays_leak_at_most_40_ms_minus_the_delay() {
    for delay_ms in [0u32, 10, 20, 30] {
        for bg in [Background::Silence, Background::Noise, Background::Speech] {
            let mut worst = 0;
            let mut total = 0;
            let mut cases = 0;
            for lead in (400..560).step_by(3) {
                let (input, start, end) = scene(lead, 100, bg, 8000);
                let (out, _) = suppress_in_frames(&input, 8000, delay_ms, 8);
                let leak = leaked(&out, delay_ms as usize * 8, start, end);
                worst = worst.max(leak);
                total += leak;
                cases += 1;
            }
            eprintln!(
                "delay {delay_ms} ms, {bg:?}: worst leak {:.1} ms, mean {:.1} ms",
                worst as f64 / 8.0,
                total as f64 / 8.0 / f64::from(cases)
            );
            let bound = (40 - delay_ms as usize) * 8;
            assert!(
                worst <= bound,
                "delay {delay_ms}: {worst} > {bound} samples"
            );
        }
    }
}

/// Suppression mutes only the tones: everything else is the input delayed by exactly `d`, and
/// the mute extends at most 3 ms (the 2 ms guard plus edge error) beyond each tone.
#[test]
fn other_audio_passes_unchanged() {
    let speech = normalise_active(
        &espeak("One two three. Press hash.", "en-us", 170, 50, 8000),
        -16.0,
    );
    let mut input = speech.clone();
    let mut tones = Vec::new();
    for d in ["1", "#"] {
        let start = input.len();
        input.extend(digits(d, 80, 0, -10.0, 0.0, 8000));
        tones.push((start, input.len()));
        input.extend(speech.iter().take(4000));
    }
    let (out, events) = suppress(&input, 8000, 40);
    assert_eq!(digit_string(&events), "1#");
    let delay = 320;
    let guard = 24;
    for k in 0..input.len() - delay {
        let near_tone = tones.iter().any(|&(s, e)| k + guard >= s && k < e + guard);
        if near_tone {
            continue;
        }
        assert_eq!(out[k + delay], input[k], "sample {k} altered");
    }
    for &(s, e) in &tones {
        assert!(out[s + delay..e + delay].iter().all(|&v| v == 0));
    }
}

/// Suppression changes nothing in what is detected.
#[test]
fn events_are_the_same_with_and_without_suppression() {
    let pcm = digits("147*2580369#ABCD", 45, 45, -20.0, 3.0, 8000);
    let plain = detect(&pcm, 8000);
    let (_, suppressed) = suppress(&pcm, 8000, 40);
    assert_eq!(plain, suppressed);
}
