//! Transcoding: any codec pair the codecs crate supports, with packet-time conversion and
//! DTMF carried across in whatever form each side negotiated.
//!
//! # The path, per direction (A → B; B → A is the mirror image)
//!
//! ```text
//! A's packets -> Ingress (reorder, decode to the session rate, conceal) -> 10 ms PCM
//!   -> in-band DTMF detector (events; tones muted when B gets RFC 4733 instead)
//!   -> in-band DTMF generator (tones for A's RFC 4733 digits when B has no telephone-event)
//!   -> Packetizer (resample to B's codec, encode at B's packet time) -> B's output stream
//! ```
//!
//! The session rate is the lower of the two sides' processing rates (8 kHz, or 16 kHz when
//! both sides are wideband): a bridge carries no more bandwidth than its narrower side, so
//! a PCMU ↔ Opus call decodes and encodes Opus at 8 kHz — what `tandem-codecs`' planner picks
//! for the pair — instead of resampling to 16 kHz and coding wideband Opus from narrowband
//! audio at twice the cost. Packet-time conversion falls out of the encoder's PCM FIFO.
//!
//! # DTMF
//!
//! | A sends | B negotiated telephone-event | B receives |
//! |---|---|---|
//! | RFC 4733 | yes | RFC 4733 (A's events re-sent from B's own stream) |
//! | RFC 4733 | no | tones: one [`DIGIT_TONE_MS`] tone per digit, in place of A's audio |
//! | tones | yes | RFC 4733 from the detector's events; the tones are muted (40 ms delay line) |
//! | tones | no | the tones, as audio |
//!
//! A source that negotiated telephone-events is expected to send its digits as events; tones
//! the detector finds in its audio are then reported (and muted towards an RFC 4733 side) but
//! not converted, so a phone that sends both never produces a digit twice.
//!
//! Every digit is reported once as [`EventKind::Dtmf`] on the leg it came from (in-band
//! detection runs on A when A's spec asks for it, or when A's tones must become RFC 4733).
//! While B's RFC 4733 sender is busy, B's audio packets are held back (its timestamps keep
//! running), so a receiver never sees tones and events for the same digit.
//!
//! # Controls
//!
//! Per direction, the [controls](super::controls) of both legs apply: the source's audio is
//! silenced after detection (mute in), or the destination hears silence (mute out), both as
//! encoded zero PCM; blocked media from the source means no audio packets go out (its
//! DTMF still does), and blocked DTMF is reported but neither re-sent, nor turned into
//! tones, nor converted from tones. A destination on hold gets nothing
//! ([`Leg::send`] withholds) while its clock keeps running.
//!
//! # Real-time
//!
//! Building the session (on the control plane) builds every codec, buffer, detector and generator; the per-packet and
//! per-tick paths never allocate.

use std::net::SocketAddr;

use tandem_dsp::dtmf::{
    Digit, DtmfConfig, DtmfDetector, DtmfEvent, DtmfEventKind, DtmfGenerator, DtmfGeneratorConfig,
};

use crate::bus::EventKind;
use crate::bus::event::DtmfSource;
use crate::rtp::{DigitNotice, EventCode, RtpTimestamp};
use crate::session::announcement::Announcement;
use crate::session::leg::{Leg, PayloadClass};
use crate::session::media::{
    FRAME_MS, Ingress, Packetizer, PlayoutReport, processing_rate, samples,
};
use crate::session::{Ctx, LegId, LegSpec, SessionError, SessionId, leg_seed};

/// Length of each in-band tone generated for a digit (Q.24 asks receivers to accept 40 ms;
/// 100 ms is what phones send).
pub const DIGIT_TONE_MS: u32 = 100;
/// Pause after each generated tone or sent RFC 4733 digit.
pub const DIGIT_PAUSE_MS: u32 = 60;
/// Volume field of RFC 4733 events Tandem originates (−10 dBm0, the generator's level).
const EVENT_VOLUME: u8 = 10;

/// RFC 4733 digits queued for a leg by a command: each is begun, ended after
/// [`DIGIT_TONE_MS`], then followed by [`DIGIT_PAUSE_MS`] of nothing.
#[derive(Debug, Clone)]
pub(crate) struct DigitQueue {
    queue: [u8; 32],
    head: usize,
    len: usize,
    /// When the current digit ends (µs), or when the pause after it ends.
    phase: Option<(bool, u64)>,
}

impl DigitQueue {
    pub(crate) fn new() -> Self {
        Self {
            queue: [0; 32],
            head: 0,
            len: 0,
            phase: None,
        }
    }

    /// Queues digits; returns false (queuing none) if they do not all fit.
    pub(crate) fn push(&mut self, digits: &str) -> bool {
        if self.len + digits.len() > self.queue.len() {
            return false;
        }
        for c in digits.bytes() {
            self.queue[(self.head + self.len) % self.queue.len()] = c;
            self.len += 1;
        }
        true
    }

    /// Drives `leg`'s RFC 4733 sender at `now_us`.
    pub(crate) fn poll(&mut self, now_us: u64, leg: &mut Leg) {
        let Some(sender) = &mut leg.te_tx else {
            self.len = 0;
            return;
        };
        match self.phase {
            Some((true, until)) if now_us >= until => {
                sender.end(now_us);
                self.phase = Some((false, now_us + u64::from(DIGIT_PAUSE_MS) * 1000));
            }
            Some((false, until)) if now_us >= until => self.phase = None,
            Some(_) => {}
            None if self.len > 0 => {
                let c = self.queue[self.head] as char;
                self.head = (self.head + 1) % self.queue.len();
                self.len -= 1;
                if let Some(code) = EventCode::from_dtmf(c) {
                    let ts = leg.out.clock();
                    let _ = sender.begin(now_us, now_us, code, EVENT_VOLUME, ts);
                    self.phase = Some((true, now_us + u64::from(DIGIT_TONE_MS) * 1000));
                }
            }
            None => {}
        }
    }
}

/// Maps an RFC 4733 event code to a DTMF digit of the dsp crate.
fn digit_of(code: EventCode) -> Option<Digit> {
    Digit::from_rfc4733_event(code.0)
}

/// One direction of the transcoder: ingress on `src`, egress on `dst`.
struct Direction {
    playout: Ingress,
    detector: Option<DtmfDetector>,
    /// Samples fed to the detector so far (its timestamp scale).
    detector_pos: u64,
    events: Box<[DtmfEvent]>,
    generator: DtmfGenerator,
    packetizer: Packetizer,
    pcm: Box<[i16]>,
    tone: Box<[i16]>,
    digits: DigitQueue,
    /// Media played towards the destination in place of the source's audio.
    announcement: Option<Box<Announcement>>,
}

impl std::fmt::Debug for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direction")
            .field("playout", &self.playout)
            .field("packetizer", &self.packetizer)
            .field("detector", &self.detector.is_some())
            .finish_non_exhaustive()
    }
}

impl Direction {
    fn new(src: &LegSpec, dst: &LegSpec, rate: u32) -> Result<Self, SessionError> {
        let playout = Ingress::new(src, rate)?;
        let frame = samples(rate, FRAME_MS);
        let to_events = dst.telephone_event.is_some() && src.telephone_event.is_none();
        let detector = if src.dtmf_detect || to_events {
            let mut config = DtmfConfig::with_rate(rate);
            if dst.telephone_event.is_some() {
                config.suppression_delay_ms = Some(DtmfConfig::DEFAULT_SUPPRESSION_DELAY_MS);
            }
            Some(DtmfDetector::new(config)?)
        } else {
            None
        };
        let events_max = detector.as_ref().map_or(0, |d| d.events_max(frame));
        let generator = DtmfGenerator::new(DtmfGeneratorConfig {
            sample_rate_hz: rate,
            on_ms: DIGIT_TONE_MS,
            off_ms: DIGIT_PAUSE_MS,
            ..DtmfGeneratorConfig::default()
        })?;
        let packetizer = Packetizer::new(dst.codec.format, dst.codec.ptime_ms, rate, &dst.encoder)?;
        Ok(Self {
            playout,
            detector,
            detector_pos: 0,
            events: vec![DtmfEvent::default(); events_max].into_boxed_slice(),
            generator,
            packetizer,
            pcm: vec![0; frame].into_boxed_slice(),
            tone: vec![0; frame].into_boxed_slice(),
            digits: DigitQueue::new(),
            announcement: None,
        })
    }

    /// One tick of this direction.
    fn tick(&mut self, ctx: &mut Ctx<'_>, src: &mut Leg, dst: &mut Leg, rate: u32) {
        let now = ctx.now_us;
        // RFC 4733 digits from the source: re-sent as events, or generated as tones.
        let generator = &mut self.generator;
        // Blocked DTMF is still reported (drained), never carried across.
        let carry_digits = !src.controls.block_dtmf;
        src.drain_digits(ctx, |notice| match notice {
            _ if !carry_digits => {}
            DigitNotice::Began { event, .. } => match &mut dst.te_tx {
                Some(sender) => {
                    let ts = dst.out.clock();
                    let _ = sender.begin(now, now, event, EVENT_VOLUME, ts);
                }
                None => {
                    if let Some(digit) = digit_of(event) {
                        let mut buf = [0u8; 4];
                        let _ = generator.push_digits(digit.as_char().encode_utf8(&mut buf));
                    }
                }
            },
            DigitNotice::Ended { .. } => {
                if let Some(sender) = &mut dst.te_tx {
                    sender.end(now);
                }
            }
        });
        self.playout.pop(now, &mut self.pcm);
        self.playout.count_into(ctx.playout);
        if let Some(detector) = &mut self.detector {
            let n = detector
                .process(self.detector_pos, &mut self.pcm, &mut self.events)
                .unwrap_or(0);
            let pos_end = self.detector_pos + self.pcm.len() as u64;
            self.detector_pos = pos_end;
            for event in &self.events[..n] {
                match event.kind {
                    DtmfEventKind::Begin => {
                        // A source that negotiated telephone-events sends its digits as
                        // events too: converting its tones as well would double them.
                        let convert = src.spec.telephone_event.is_none() && carry_digits;
                        if let Some(sender) = dst.te_tx.as_mut().filter(|_| convert) {
                            let back_us =
                                (pos_end - event.start.min(pos_end)) * 1_000_000 / u64::from(rate);
                            let code = EventCode(event.digit.rfc4733_event());
                            let ts = dst.out.clock();
                            let _ = sender.begin(
                                now,
                                now.saturating_sub(back_us),
                                code,
                                event.volume(),
                                ts,
                            );
                        }
                    }
                    DtmfEventKind::Update => {}
                    DtmfEventKind::End => {
                        ctx.emit(
                            Some(src.id),
                            EventKind::Dtmf {
                                digit: event.digit.as_char(),
                                duration_ms: (u64::from(event.duration) * 1000 / u64::from(rate))
                                    as u32,
                                volume: event.volume(),
                                source: DtmfSource::InBand,
                            },
                        );
                        if src.spec.telephone_event.is_none() && carry_digits {
                            if let Some(sender) = &mut dst.te_tx {
                                sender.end(now);
                            }
                        }
                    }
                }
            }
        }
        // Mute after detection, so digits are still found and reported.
        if src.controls.mute_in || dst.controls.mute_out {
            self.pcm.fill(0);
        }
        // An announcement replaces the source's audio (muted or not), unless the destination
        // is muted itself.
        let mut announced = false;
        if let Some(announcement) = self.announcement.as_deref_mut() {
            if !announcement.is_finished() && !dst.controls.mute_out {
                announced = true;
                if announcement.play_into(&mut self.pcm) {
                    ctx.emit(Some(dst.id), EventKind::PlaybackFinished);
                }
            }
        }
        let tones = !self.generator.is_idle();
        if tones {
            let n = self.generator.generate_into(&mut self.tone);
            self.pcm[..n].copy_from_slice(&self.tone[..n]);
            self.pcm[n..].fill(0);
        }
        self.digits.poll(now, dst);
        let busy = dst.poll_events(ctx);
        dst.out.advance(self.packetizer.frame_units());
        if let Some(len) = self.packetizer.push_frame(&self.pcm) {
            if src.controls.block_media && !tones && !announced && len > 0 {
                src.counters.blocked += 1;
            } else if len > 0 && !busy {
                let ts = RtpTimestamp(dst.out.clock().0.wrapping_sub(self.packetizer.rtp_step()));
                let pt = dst.spec.codec.payload_type;
                if let Some(payload) = self.packetizer.ready() {
                    dst.send(ctx, pt, false, ts, payload);
                }
            }
        }
    }
}

/// A transcoding session. See the module docs.
#[derive(Debug)]
pub struct Transcode {
    legs: [Leg; 2],
    /// `dirs[0]`: A → B; `dirs[1]`: B → A.
    dirs: [Direction; 2],
    rate: u32,
}

impl Transcode {
    /// The processing rate of a transcoder between `a` and `b`: the lower of the two sides'
    /// rates, so 16 kHz only when both are wideband (what [`Announcement`]s for it are
    /// rendered at). See the module docs.
    pub fn rate_for(a: &LegSpec, b: &LegSpec) -> u32 {
        processing_rate(a.codec.format).min(processing_rate(b.codec.format))
    }

    pub(crate) fn new(id: SessionId, a: &LegSpec, b: &LegSpec) -> Result<Self, SessionError> {
        let rate = Self::rate_for(a, b);
        Ok(Self {
            legs: [
                Leg::new(LegId::A, a, leg_seed(id, LegId::A)),
                Leg::new(LegId::B, b, leg_seed(id, LegId::B)),
            ],
            dirs: [Direction::new(a, b, rate)?, Direction::new(b, a, rate)?],
            rate,
        })
    }

    /// Spreads this session's encodes over the ticks (see [`Packetizer::stagger`]): A → B
    /// encodes in slot `slot`, B → A in the next, so that even the two directions of one
    /// session do not encode in the same tick.
    pub(crate) fn stagger(&mut self, slot: u32) {
        let [ab, ba] = &mut self.dirs;
        ab.packetizer.stagger(slot);
        ba.packetizer.stagger(slot.wrapping_add(1));
    }

    /// The processing rate, Hz.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub(crate) fn leg_mut(&mut self, index: usize) -> Option<&mut Leg> {
        self.legs.get_mut(index)
    }

    /// The jitter buffer of leg `index`: the ingress of the direction it sends into.
    pub(crate) fn playout_report(&self, index: usize) -> Option<PlayoutReport> {
        self.dirs.get(index).map(|d| d.playout.report())
    }

    pub(crate) fn handle_rtp(
        &mut self,
        index: usize,
        ctx: &mut Ctx<'_>,
        source: SocketAddr,
        datagram: &mut [u8],
    ) {
        let Some(leg) = self.legs.get_mut(index) else {
            return;
        };
        let Some((class, packet)) = leg.accept_rtp(ctx, source, datagram) else {
            return;
        };
        match class {
            PayloadClass::Media => self.dirs[index].playout.push(ctx.arrival_us, &packet),
            PayloadClass::ComfortNoise => {
                self.dirs[index]
                    .playout
                    .push_comfort_noise(ctx.arrival_us, &packet);
            }
            PayloadClass::TelephoneEvent => {}
        }
    }

    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_>) {
        let [a, b] = &mut self.legs;
        let [ab, ba] = &mut self.dirs;
        a.upkeep(ctx, Some(&ab.playout));
        b.upkeep(ctx, Some(&ba.playout));
        ab.tick(ctx, a, b, self.rate);
        ba.tick(ctx, b, a, self.rate);
    }

    /// Plays `announcement` towards leg `index`; returns the one it replaces. Refused (handed
    /// back) for a leg that does not exist or a rate other than the session's.
    #[allow(clippy::result_large_err)]
    pub(crate) fn announce(
        &mut self,
        index: usize,
        announcement: Box<Announcement>,
    ) -> Result<Option<Box<Announcement>>, Box<Announcement>> {
        if index > 1 || announcement.rate() != self.rate {
            return Err(announcement);
        }
        // Direction 1 - index ends at leg `index`.
        Ok(self.dirs[1 - index].announcement.replace(announcement))
    }

    /// Takes the announcement towards leg `index`, if any.
    pub(crate) fn take_announcement(&mut self, index: usize) -> Option<Box<Announcement>> {
        if index > 1 {
            return None;
        }
        self.dirs[1 - index].announcement.take()
    }

    /// Queues DTMF into leg `index`: RFC 4733 if it negotiated telephone-events, tones
    /// otherwise.
    pub(crate) fn send_digits(&mut self, index: usize, digits: &str) -> bool {
        if index > 1 {
            return false;
        }
        // Direction 1 - index ends at leg `index`.
        let dir = &mut self.dirs[1 - index];
        if self.legs[index].te_tx.is_some() {
            dir.digits.push(digits)
        } else {
            dir.generator.push_digits(digits).is_ok()
        }
    }
}
