//! Play: a WAV file, a PCM buffer, a tone sequence or DTMF digits sent into one leg, in the
//! leg's codec at its packet time.
//!
//! # Contract
//!
//! - The whole source is rendered at the session rate (the leg's, capped at 16 kHz) when the
//!   session is built, on the control plane: WAV files are read with
//!   `tandem_codecs::file::wav` (any channel count, downmixed) and resampled once; tones come
//!   from `tandem_dsp::tone::ToneGenerator`, digits from `tandem_dsp::dtmf::DtmfGenerator`.
//! - Each tick sends the next 10 ms; at the end the session reports
//!   [`EventKind::PlaybackFinished`] once and then sends silence (or starts over with
//!   `repeat`). Media arriving from the peer is checked and counted (it locks the source and
//!   feeds RTCP) and its RFC 4733 digits are reported, but it is not played anywhere.
//! - [Controls](super::controls): a leg muted out hears encoded silence instead of the
//!   source (which keeps advancing; digits sent by command still play); a leg on hold gets
//!   nothing. Controls on what the leg sends have nothing to act on.
//! - Real-time: ticks copy from the rendered buffer into the encoder; nothing allocates.

use std::net::SocketAddr;
use std::path::PathBuf;

use tandem_codecs::resample::Resampler;
use tandem_dsp::dtmf::{DtmfGenerator, DtmfGeneratorConfig};
use tandem_dsp::tone::{ToneGenerator, ToneSpec};

use crate::bus::EventKind;
use crate::rtp::RtpTimestamp;
use crate::session::leg::Leg;
use crate::session::media::{FRAME_MS, Packetizer, processing_rate, samples};
use crate::session::transcode::{DIGIT_PAUSE_MS, DIGIT_TONE_MS, DigitQueue};
use crate::session::{Ctx, LegId, LegSpec, SessionError, SessionId, SharedPcm, leg_seed};

/// One step of a tone sequence: a tone (or silence) for a duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneStep {
    /// The tone, or `None` for silence.
    pub tone: Option<ToneSpec>,
    /// How long, ms.
    pub duration_ms: u32,
}

/// What to play.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaySource {
    /// A RIFF/WAVE file of 16-bit PCM at one of 8, 12, 16, 24, 32 or 48 kHz.
    Wav(PathBuf),
    /// PCM already in memory.
    Pcm {
        /// Its sample rate (one of the resampler's rates).
        rate_hz: u32,
        /// The samples.
        samples: SharedPcm,
    },
    /// Tones and pauses, in order.
    Tones(Vec<ToneStep>),
    /// DTMF digits, [`DIGIT_TONE_MS`] on and [`DIGIT_PAUSE_MS`] off each.
    Digits(String),
}

/// A play session's description.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaySpec {
    /// The leg played into.
    pub leg: LegSpec,
    /// What to play.
    pub source: PlaySource,
    /// Start over at the end instead of finishing.
    pub repeat: bool,
}

/// Renders `source` at `rate`. Allocates (control plane only).
pub(crate) fn render(source: &PlaySource, rate: u32) -> Result<Vec<i16>, SessionError> {
    match source {
        PlaySource::Wav(path) => {
            let (info, pcm) =
                tandem_codecs::file::wav::read(path).map_err(|e| SessionError::Wav {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            resample_all(&pcm, info.sample_rate, rate)
        }
        PlaySource::Pcm { rate_hz, samples } => resample_all(samples, *rate_hz, rate),
        PlaySource::Tones(steps) => {
            let mut out = Vec::new();
            for step in steps {
                let n = samples(rate, step.duration_ms);
                let start = out.len();
                out.resize(start + n, 0);
                if let Some(spec) = step.tone {
                    ToneGenerator::new(rate, spec)?.generate_into(&mut out[start..]);
                }
            }
            Ok(out)
        }
        PlaySource::Digits(digits) => Ok(DtmfGenerator::render(
            DtmfGeneratorConfig {
                sample_rate_hz: rate,
                on_ms: DIGIT_TONE_MS,
                off_ms: DIGIT_PAUSE_MS,
                ..DtmfGeneratorConfig::default()
            },
            digits,
        )?),
    }
}

fn resample_all(pcm: &[i16], from: u32, to: u32) -> Result<Vec<i16>, SessionError> {
    let mut resampler = Resampler::new(from, to)?;
    let mut out = vec![0; resampler.output_max(pcm.len())];
    let n = resampler.process(pcm, &mut out);
    out.truncate(n);
    Ok(out)
}

/// A play session. See the module docs.
pub struct Play {
    pub(crate) leg: Leg,
    pcm: Box<[i16]>,
    pos: usize,
    repeat: bool,
    finished: bool,
    frame: Box<[i16]>,
    packetizer: Packetizer,
    generator: DtmfGenerator,
    tone: Box<[i16]>,
    digits: DigitQueue,
}

impl std::fmt::Debug for Play {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Play")
            .field("samples", &self.pcm.len())
            .field("pos", &self.pos)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Play {
    pub(crate) fn new(id: SessionId, spec: &PlaySpec) -> Result<Self, SessionError> {
        let rate = processing_rate(spec.leg.codec.format);
        let pcm = render(&spec.source, rate)?.into_boxed_slice();
        let frame = samples(rate, FRAME_MS);
        Ok(Self {
            leg: Leg::new(LegId::A, &spec.leg, leg_seed(id, LegId::A)),
            pcm,
            pos: 0,
            repeat: spec.repeat,
            finished: false,
            frame: vec![0; frame].into_boxed_slice(),
            packetizer: Packetizer::new(
                spec.leg.codec.format,
                spec.leg.codec.ptime_ms,
                rate,
                &spec.leg.encoder,
            )?,
            generator: DtmfGenerator::new(DtmfGeneratorConfig {
                sample_rate_hz: rate,
                on_ms: DIGIT_TONE_MS,
                off_ms: DIGIT_PAUSE_MS,
                ..DtmfGeneratorConfig::default()
            })?,
            tone: vec![0; frame].into_boxed_slice(),
            digits: DigitQueue::new(),
        })
    }

    pub(crate) fn handle_rtp(
        &mut self,
        ctx: &mut Ctx<'_>,
        source: SocketAddr,
        datagram: &mut [u8],
    ) {
        let _ = self.leg.accept_rtp(ctx, source, datagram);
    }

    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_>) {
        self.leg.upkeep(ctx, None);
        self.leg.drain_digits(ctx, |_| {});
        let frame = self.frame.len();
        let end = (self.pos + frame).min(self.pcm.len());
        let n = end - self.pos;
        self.frame[..n].copy_from_slice(&self.pcm[self.pos..end]);
        self.frame[n..].fill(0);
        self.pos = end;
        if self.pos == self.pcm.len() {
            if self.repeat {
                self.pos = 0;
            } else if !self.finished {
                self.finished = true;
                ctx.emit(Some(self.leg.id), EventKind::PlaybackFinished);
            }
        }
        if self.leg.controls.mute_out {
            self.frame.fill(0);
        }
        if !self.generator.is_idle() {
            let n = self.generator.generate_into(&mut self.tone);
            self.frame[..n].copy_from_slice(&self.tone[..n]);
            self.frame[n..].fill(0);
        }
        self.digits.poll(ctx.now_us, &mut self.leg);
        let busy = self.leg.poll_events(ctx);
        self.leg.out.advance(self.packetizer.frame_units());
        if self
            .packetizer
            .push_frame(&self.frame)
            .is_some_and(|len| len > 0)
            && !busy
        {
            let ts = RtpTimestamp(
                self.leg
                    .out
                    .clock()
                    .0
                    .wrapping_sub(self.packetizer.rtp_step()),
            );
            let pt = self.leg.spec.codec.payload_type;
            if let Some(payload) = self.packetizer.ready() {
                self.leg.send(ctx, pt, false, ts, payload);
            }
        }
    }

    /// Queues digits into the leg: RFC 4733 if negotiated, tones otherwise.
    pub(crate) fn send_digits(&mut self, digits: &str) -> bool {
        if self.leg.te_tx.is_some() {
            self.digits.push(digits)
        } else {
            self.generator.push_digits(digits).is_ok()
        }
    }
}
