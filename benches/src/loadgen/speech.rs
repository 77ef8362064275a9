//! Real speech for the streams: espeak-ng reads a few Harvard sentences, sox resamples
//! them to the rate each codec needs, and every 20 ms frame is encoded once, up front.
//!
//! The audio is cached in a temporary directory (`$TMPDIR/tandem-loadgen-speech`), never in
//! the repository. Without espeak-ng or sox, speech-like tone bursts stand in, and the run
//! says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use tandem_codecs::{CodecId, EncoderConfig, Format, OpusApplication, OpusConfig, registry};

use crate::loadgen::sdp::SdpCodec;

/// What espeak-ng reads (IEEE Harvard sentences, list 1).
const TEXT: &str = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue \
    background. It's easy to tell the depth of a well. These days a chicken leg is a rare dish. \
    Rice is often served in round bowls. The juice of lemons makes fine punch.";

/// Packet time of every stream.
pub const PTIME_MS: u32 = 20;

/// Mono PCM at `rate` Hz: cached espeak-ng speech, or tone bursts when the tools are missing.
/// The `bool` is true for real speech.
pub fn pcm(rate: u32) -> (Vec<i16>, bool) {
    match speech(rate) {
        Ok(samples) if samples.len() > rate as usize => (samples, true),
        _ => (tone_bursts(rate, rate as usize * 10), false),
    }
}

fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("tandem-loadgen-speech")
}

fn speech(rate: u32) -> Result<Vec<i16>, String> {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let raw = dir.join(format!("harvard-{rate}.s16"));
    if !raw.exists() {
        let wav = dir.join("harvard.wav");
        if !wav.exists() {
            run(Command::new("espeak-ng")
                .args(["-v", "en-us", "-w"])
                .arg(&wav)
                .arg(TEXT))?;
        }
        // Write under another name first, so an interrupted run leaves no half file.
        let part = dir.join(format!("harvard-{rate}.part.s16"));
        run(Command::new("sox")
            .arg(&wav)
            .args([
                "-t",
                "raw",
                "-e",
                "signed-integer",
                "-b",
                "16",
                "-c",
                "1",
                "-r",
            ])
            .arg(rate.to_string())
            .arg(&part))?;
        std::fs::rename(&part, &raw).map_err(|e| e.to_string())?;
    }
    read_s16(&raw)
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{command:?}: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or(format!("{command:?}: {status}"))
}

fn read_s16(path: &Path) -> Result<Vec<i16>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect())
}

/// Speech-like tone bursts: 300 ms on, 100 ms off, pitch and level varying per burst.
fn tone_bursts(rate: u32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let burst = (t / 0.4) as usize;
            let amp = if t % 0.4 < 0.3 {
                3000.0 + 1500.0 * (burst % 3) as f64
            } else {
                0.0
            };
            let hz = 300.0 * (1.0 + 0.15 * (burst % 4) as f64);
            (amp * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect()
}

/// The codecs crate's format for an SDP codec (Opus encodes at its RTP clock rate, 48 kHz).
pub fn format_of(name: &str, clock_rate: u32) -> Result<Format, String> {
    let d = registry::by_name(name).ok_or(format!("codec {name} is not known to tandem-codecs"))?;
    Ok(match d.id {
        CodecId::Opus => Format::opus(clock_rate.clamp(8000, 48000)),
        id => Format::default_for(id),
    })
}

/// Opus settings of the loadgen's own encoder, chosen like a typical softphone sending
/// rtpengine's defaults back (its cost is paid once, before the run).
pub fn loadgen_opus(channels: u8) -> OpusConfig {
    OpusConfig {
        channels: channels.clamp(1, 2),
        complexity: 10,
        bitrate_bps: Some(32_000),
        vbr: true,
        inband_fec: true,
        expected_loss_pct: 0,
        dtx: false,
        application: OpusApplication::Voip,
    }
}

/// Payloads of one stream: every 20 ms frame of the speech, encoded.
#[derive(Debug, Clone)]
pub struct EncodedSpeech {
    /// One payload per packet, looped.
    pub frames: Vec<Vec<u8>>,
    /// RTP timestamp step per packet.
    pub ts_step: u32,
    /// Whether it is espeak-ng speech (false: tone bursts).
    pub real: bool,
}

/// `pcm` encoded in `format` with `config` as `ptime_ms` packets (a trailing part packet is
/// dropped); an error if the codec cannot be built, refuses a frame, or nothing is left.
pub fn encode_frames(
    format: Format,
    config: &EncoderConfig,
    pcm: &[i16],
    ptime_ms: u32,
) -> Result<Vec<Vec<u8>>, String> {
    let mut encoder = registry::new_encoder(format, config).map_err(|e| e.to_string())?;
    let mut payload = vec![0u8; 1500];
    let frames = pcm
        .chunks_exact(format.samples_in_ms(ptime_ms).max(1))
        .map(|chunk| {
            let n = encoder
                .encode(chunk, &mut payload)
                .map_err(|e| e.to_string())?;
            Ok(payload[..n].to_vec())
        })
        .collect::<Result<Vec<_>, String>>()?;
    if frames.is_empty() {
        return Err("no frames to send".into());
    }
    Ok(frames)
}

/// Encodes the speech for `codec` as 20 ms packets.
pub fn encode(codec: &SdpCodec) -> Result<EncodedSpeech, String> {
    let format = format_of(&codec.name, codec.clock_rate)?;
    let config = EncoderConfig {
        opus: loadgen_opus(codec.channels),
        ..EncoderConfig::DEFAULT
    };
    let (pcm, real) = pcm(format.sample_rate);
    let frames = encode_frames(format, &config, &pcm, PTIME_MS)?;
    Ok(EncodedSpeech {
        frames,
        ts_step: codec.clock_rate * PTIME_MS / 1000,
        real,
    })
}
