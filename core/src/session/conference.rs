//! Conference rooms: legs in any codecs on one worker, mixed mix-minus over the top talkers,
//! each distinct mix encoded once per codec and shared among its listeners.
//!
//! # Per tick
//!
//! ```text
//! each leg: Ingress (decode to the room rate) -> talk detector -> DTMF detector
//!           -> submitted to the mixer while talking (with its level)
//! mixer:    seats the loudest talkers (hysteresis), one common mix + one minus mix per seat
//! encode:   once per (mix, codec bank) that has listeners this tick
//! each leg: the payload of its mix in its codec, under its own SSRC / sequence / timestamp
//! ```
//!
//! A room of N legs with three talkers costs N decodes and talk analyses, four mixes, and at
//! most four encodes per codec in use, whatever N is.
//!
//! # Encoder banks
//!
//! Every leg arrives ([`PreparedMember`](super::PreparedMember)) with a bank of encoders for
//! its (codec, packet time), one per mixer output, built on the control plane. The first leg
//! of a kind gives its bank to the room; later legs of the same kind share it and their spare
//! bank is handed back to the control plane to be freed, so joining never allocates on the
//! worker. A bank whose last leg leaves is handed back too. An encoder whose output was not
//! needed on the previous tick is reset before use, so a new talker's minus mix starts clean.
//!
//! # Events
//!
//! `Joined` / `Left` per leg, `TalkingStarted` / `TalkingStopped` from each leg's talk
//! detector, `Dtmf` from RFC 4733 and (when the leg asks for it) the in-band detector.
//!
//! # Controls
//!
//! A leg whose audio is withheld by its [controls](super::controls) (muted in, media
//! blocked, or not received) is muted in the mixer: never seated, never heard, its talk and
//! DTMF detectors still report. A leg muted out is deaf in the mixer and gets one packet of
//! silence in its codec (encoded when the leg was built) per packet time. A leg on hold
//! gets nothing. A room forwards no DTMF, so blocking DTMF changes nothing here.
//!
//! # Real-time
//!
//! Building the room (on the control plane) allocates the mixer and the member and bank tables for
//! [`ConferenceSpec::max_legs`]; joins and leaves only move boxes built elsewhere; ticks never
//! allocate.

use std::net::SocketAddr;

use tandem_codecs::{EncoderConfig, Format};
use tandem_dsp::dtmf::{DtmfConfig, DtmfDetector, DtmfEvent, DtmfEventKind};
use tandem_dsp::mixer::{Mixer, MixerConfig, OutputId, ParticipantId};
use tandem_dsp::talk::{TalkConfig, TalkDetector, TalkEvent};

use crate::bus::EventKind;
use crate::bus::event::DtmfSource;
use crate::rtp::RtpTimestamp;
use crate::session::leg::{Leg, PayloadClass};
use crate::session::media::{FRAME_MS, Ingress, Packetizer, PlayoutReport, samples};
use crate::session::transcode::DigitQueue;
use crate::session::{Ctx, LegId, LegSpec, SessionError, SessionId, leg_seed};

/// Most distinct (codec, packet time) kinds one room encodes for.
pub const MAX_BANKS: usize = 8;

/// A room's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConferenceSpec {
    /// The mixing rate, Hz (8000, 16000, ...; the DTMF detector needs 8 or 16 kHz).
    pub rate_hz: u32,
    /// Most legs at once.
    pub max_legs: usize,
    /// Talker seats: how many of the loudest talkers are mixed (default 3).
    pub max_talkers: usize,
    /// Seat only legs whose talk detector declares talk (default). Off: every leg with audio
    /// competes for a seat by level alone.
    pub talk_detection: bool,
}

impl ConferenceSpec {
    /// A room at `rate_hz` for `max_legs`, three talkers, talk detection on.
    pub const fn new(rate_hz: u32, max_legs: usize) -> Self {
        Self {
            rate_hz,
            max_legs,
            max_talkers: 3,
            talk_detection: true,
        }
    }
}

/// Encoders for one (codec, packet time): one per mixer output. Opaque outside the crate;
/// it travels back to the control plane to be freed.
pub struct EncoderBank {
    format: Format,
    ptime_ms: u32,
    encoder: EncoderConfig,
    packetizers: Box<[Packetizer]>,
    users: usize,
    /// Outputs needed this tick / last tick (bit = output index).
    needed: u32,
    previous: u32,
    /// Outputs encoded this tick with a packet ready.
    ready: u32,
}

impl std::fmt::Debug for EncoderBank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderBank")
            .field("format", &self.format)
            .field("ptime_ms", &self.ptime_ms)
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

impl EncoderBank {
    fn new(spec: &LegSpec, room: &ConferenceSpec) -> Result<Self, SessionError> {
        let packetizers = (0..=room.max_talkers)
            .map(|_| {
                Packetizer::new(
                    spec.codec.format,
                    spec.codec.ptime_ms,
                    room.rate_hz,
                    &spec.encoder,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            format: spec.codec.format,
            ptime_ms: spec.codec.ptime_ms,
            encoder: spec.encoder,
            packetizers: packetizers.into_boxed_slice(),
            users: 0,
            needed: 0,
            previous: 0,
            ready: 0,
        })
    }

    fn matches(&self, spec: &LegSpec) -> bool {
        self.format == spec.codec.format
            && self.ptime_ms == spec.codec.ptime_ms
            && self.encoder == spec.encoder
    }
}

/// One leg of a room, with its decoding and analysis state.
pub(crate) struct Member {
    pub(crate) leg: Leg,
    rate: u32,
    playout: Ingress,
    talk: TalkDetector,
    dtmf: Option<DtmfDetector>,
    dtmf_pos: u64,
    events: Box<[DtmfEvent]>,
    pcm: Box<[i16]>,
    /// The bank the leg brought, until the room takes it or hands it back.
    pub(crate) bank: Option<Box<EncoderBank>>,
    bank_index: usize,
    participant: Option<ParticipantId>,
    output: Option<OutputId>,
    step: u32,
    digits: DigitQueue,
    /// One packet of encoded silence in the leg's codec, sent while it is muted out (the
    /// mixer treats it as deaf). Empty if the codec produced none (DTX).
    silence: Box<[u8]>,
    /// Ticks per packet, and ticks since the last silent packet.
    ticks_per_packet: u32,
    silent_ticks: u32,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("leg", &self.leg.id)
            .field("playout", &self.playout)
            .finish_non_exhaustive()
    }
}

impl Member {
    pub(crate) fn new(
        session: SessionId,
        leg: LegId,
        spec: &LegSpec,
        room: &ConferenceSpec,
    ) -> Result<Self, SessionError> {
        let rate = room.rate_hz;
        let frame = samples(rate, FRAME_MS);
        let playout = Ingress::new(spec, rate)?;
        let talk = TalkDetector::new(TalkConfig::new(rate))?;
        let dtmf = if spec.dtmf_detect {
            Some(DtmfDetector::new(DtmfConfig::with_rate(rate))?)
        } else {
            None
        };
        let events_max = dtmf.as_ref().map_or(0, |d| d.events_max(frame));
        let bank = EncoderBank::new(spec, room)?;
        let step = bank.packetizers[0].rtp_step();
        let ticks_per_packet = (spec.codec.ptime_ms / FRAME_MS).max(1);
        let silence = encoded_silence(spec, rate, ticks_per_packet)?;
        Ok(Self {
            leg: Leg::new(leg, spec, leg_seed(session, leg)),
            rate,
            playout,
            talk,
            dtmf,
            dtmf_pos: 0,
            events: vec![DtmfEvent::default(); events_max].into_boxed_slice(),
            pcm: vec![0; frame].into_boxed_slice(),
            bank: Some(Box::new(bank)),
            bank_index: 0,
            participant: None,
            output: None,
            step,
            digits: DigitQueue::new(),
            silence,
            ticks_per_packet,
            silent_ticks: 0,
        })
    }

    /// Decodes this tick's frame and runs the detectors; returns the level to submit, if the
    /// leg competes for a seat.
    fn ingress(&mut self, ctx: &mut Ctx<'_>, talk_detection: bool) -> Option<f32> {
        self.leg.upkeep(ctx, Some(&self.playout));
        self.leg.drain_digits(ctx, |_| {});
        self.playout.pop(ctx.now_us, &mut self.pcm);
        self.playout.count_into(ctx.playout);
        match self.talk.process(&self.pcm) {
            Some(TalkEvent::Started { .. }) => {
                ctx.emit(Some(self.leg.id), EventKind::TalkingStarted)
            }
            Some(TalkEvent::Finished { .. }) => {
                ctx.emit(Some(self.leg.id), EventKind::TalkingStopped);
            }
            None => {}
        }
        if let Some(detector) = &mut self.dtmf {
            let n = detector
                .process(self.dtmf_pos, &mut self.pcm, &mut self.events)
                .unwrap_or(0);
            self.dtmf_pos += self.pcm.len() as u64;
            for event in self.events[..n]
                .iter()
                .filter(|e| e.kind == DtmfEventKind::End)
            {
                ctx.emit(
                    Some(self.leg.id),
                    EventKind::Dtmf {
                        digit: event.digit.as_char(),
                        duration_ms: (u64::from(event.duration) * 1000 / u64::from(self.rate))
                            as u32,
                        volume: event.volume(),
                        source: DtmfSource::InBand,
                    },
                );
            }
        }
        if talk_detection {
            self.talk.is_talking().then(|| self.talk.level_dbov())
        } else {
            Some(self.talk.level_dbov())
        }
    }
}

/// One packet of silence in `spec`'s codec: zero PCM at the room `rate` through a fresh
/// packetizer. Allocates (control plane).
fn encoded_silence(spec: &LegSpec, rate: u32, frames: u32) -> Result<Box<[u8]>, SessionError> {
    let mut packetizer =
        Packetizer::new(spec.codec.format, spec.codec.ptime_ms, rate, &spec.encoder)?;
    let zeros = vec![0i16; samples(rate, FRAME_MS)];
    for _ in 0..frames {
        if packetizer.push_frame(&zeros).is_some() {
            break;
        }
    }
    Ok(packetizer.ready().unwrap_or_default().into())
}

/// A conference room. See the module docs.
#[derive(Debug)]
pub struct Conference {
    spec: ConferenceSpec,
    mixer: Mixer,
    /// Indexed by the mixer's participant index: the routing index of the leg.
    members: Vec<Option<Box<super::PreparedMember>>>,
    banks: Vec<Option<Box<EncoderBank>>>,
    /// The frames (modulo a packet's) on which this room's packets complete
    /// ([`Packetizer::align`]).
    phase: u32,
}

impl Conference {
    pub(crate) fn new(spec: &ConferenceSpec) -> Result<Self, SessionError> {
        let mut config =
            MixerConfig::new(spec.rate_hz, samples(spec.rate_hz, FRAME_MS), spec.max_legs);
        config.max_talkers = spec.max_talkers;
        let mixer = Mixer::new(config)?;
        Ok(Self {
            spec: *spec,
            mixer,
            members: (0..spec.max_legs).map(|_| None).collect(),
            banks: (0..MAX_BANKS).map(|_| None).collect(),
            phase: 0,
        })
    }

    /// Sends this room's packets on the ticks of `slot` (see [`Packetizer::align`]).
    pub(crate) fn stagger(&mut self, slot: u32) {
        self.phase = slot;
    }

    /// The room's configuration.
    pub fn spec(&self) -> &ConferenceSpec {
        &self.spec
    }

    /// Legs in the room.
    pub fn len(&self) -> usize {
        self.mixer.participant_count()
    }

    /// True when nobody is in the room.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn leg_mut(&mut self, index: usize) -> Option<&mut Leg> {
        self.members
            .get_mut(index)?
            .as_deref_mut()
            .map(|m| &mut m.member.leg)
    }

    pub(crate) fn playout_report(&self, index: usize) -> Option<PlayoutReport> {
        self.members
            .get(index)?
            .as_deref()
            .map(|m| m.member.playout.report())
    }

    pub(crate) fn index_of(&self, id: LegId) -> Option<usize> {
        self.members
            .iter()
            .position(|m| m.as_ref().is_some_and(|m| m.member.leg.id == id))
    }

    /// Seats a member: a participant slot in the mixer and a bank for its codec. Returns its
    /// routing index and a spare bank to hand back, or gives the member back with the reason.
    #[allow(clippy::type_complexity)]
    pub(crate) fn join(
        &mut self,
        mut prepared: Box<super::PreparedMember>,
    ) -> Result<
        (usize, Option<Box<EncoderBank>>),
        (crate::bus::CommandError, Box<super::PreparedMember>),
    > {
        let member = &mut prepared.member;
        let existing = self
            .banks
            .iter()
            .position(|b| b.as_ref().is_some_and(|b| b.matches(&member.leg.spec)));
        let free = self.banks.iter().position(Option::is_none);
        let bank_index = match (existing, free) {
            (Some(i), _) | (None, Some(i)) => i,
            (None, None) => {
                return Err((
                    crate::bus::CommandError::RoomFull { max: MAX_BANKS },
                    prepared,
                ));
            }
        };
        let participant = match self.mixer.add_participant() {
            Ok(p) => p,
            Err(_) => {
                return Err((
                    crate::bus::CommandError::RoomFull {
                        max: self.spec.max_legs,
                    },
                    prepared,
                ));
            }
        };
        let spare = if existing.is_some() {
            member.bank.take()
        } else {
            self.banks[bank_index] = member.bank.take();
            None
        };
        if let Some(bank) = &mut self.banks[bank_index] {
            bank.users += 1;
        }
        member.bank_index = bank_index;
        member.participant = Some(participant);
        let index = participant.index();
        self.members[index] = Some(prepared);
        Ok((index, spare))
    }

    /// Removes the member at `index`; returns it and, when it was the last user of its bank,
    /// the bank, both to hand back.
    pub(crate) fn leave(
        &mut self,
        index: usize,
    ) -> Option<(Box<super::PreparedMember>, Option<Box<EncoderBank>>)> {
        let prepared = self.members.get_mut(index)?.take()?;
        let member = &prepared.member;
        if let Some(p) = member.participant {
            let _ = self.mixer.remove_participant(p);
        }
        let slot = &mut self.banks[member.bank_index];
        let mut retired = None;
        if let Some(bank) = slot {
            bank.users -= 1;
            if bank.users == 0 {
                retired = slot.take();
            }
        }
        Some((prepared, retired))
    }

    pub(crate) fn handle_rtp(
        &mut self,
        index: usize,
        ctx: &mut Ctx<'_>,
        source: SocketAddr,
        datagram: &mut [u8],
    ) {
        let Some(Some(prepared)) = self.members.get_mut(index) else {
            return;
        };
        let member = &mut prepared.member;
        let Some((class, packet)) = member.leg.accept_rtp(ctx, source, datagram) else {
            return;
        };
        match class {
            PayloadClass::Media => member.playout.push(ctx.arrival_us, &packet),
            PayloadClass::ComfortNoise => {
                member.playout.push_comfort_noise(ctx.arrival_us, &packet)
            }
            PayloadClass::TelephoneEvent => {}
        }
    }

    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_>) {
        let talk_detection = self.spec.talk_detection;
        // 1. Ingress: decode, detect, submit talkers.
        for prepared in self.members.iter_mut().flatten() {
            let member = &mut prepared.member;
            let level = member.ingress(ctx, talk_detection);
            if let (Some(level), Some(p)) = (level, member.participant) {
                let _ = self.mixer.submit(p, level);
            }
        }
        // 2. Mix.
        let members = &self.members;
        let _ = self.mixer.mix_with(|id| {
            members
                .get(id.index())
                .and_then(Option::as_deref)
                .map(|m| &m.member.pcm[..])
        });
        // 3. Encode each needed (mix, bank) once, on its first listener; 4. every leg sends
        // its mix in its codec under its own stream.
        for bank in self.banks.iter_mut().flatten() {
            bank.previous = bank.needed;
            bank.needed = 0;
            bank.ready = 0;
        }
        for prepared in self.members.iter_mut().flatten() {
            let member = &mut prepared.member;
            let output = member
                .participant
                .and_then(|p| self.mixer.output_of(p).ok().flatten());
            member.output = output;
            let leg = &mut member.leg;
            member.digits.poll(ctx.now_us, leg);
            let busy = leg.poll_events(ctx);
            let Some(bank) = &mut self.banks[member.bank_index] else {
                continue;
            };
            leg.out.advance(bank.packetizers[0].frame_units());
            let Some(output) = output else {
                if leg.controls.mute_out {
                    // Deaf in the mixer: keep the stream flowing with silence.
                    member.silent_ticks += 1;
                    if member.silent_ticks >= member.ticks_per_packet {
                        member.silent_ticks = 0;
                        if !busy && !member.silence.is_empty() {
                            let ts = RtpTimestamp(leg.out.clock().0.wrapping_sub(member.step));
                            let pt = leg.spec.codec.payload_type;
                            leg.send(ctx, pt, false, ts, &member.silence);
                        }
                    }
                }
                continue;
            };
            let o = output.index();
            let bit = 1u32 << o;
            if bank.needed & bit == 0 {
                bank.needed |= bit;
                let packetizer = &mut bank.packetizers[o];
                if bank.previous & bit == 0 {
                    packetizer.reset();
                    packetizer.align(ctx.now_us / (u64::from(FRAME_MS) * 1000), self.phase);
                }
                if packetizer
                    .push_frame(self.mixer.output(output))
                    .is_some_and(|len| len > 0)
                {
                    bank.ready |= bit;
                }
            }
            if busy || bank.ready & bit == 0 {
                continue;
            }
            if let Some(payload) = bank.packetizers[o].ready() {
                let ts = RtpTimestamp(leg.out.clock().0.wrapping_sub(member.step));
                let pt = leg.spec.codec.payload_type;
                leg.send(ctx, pt, false, ts, payload);
            }
        }
    }

    /// Applies `change` to the controls of the leg at `index` and tells the mixer: a leg
    /// whose audio is withheld is muted there, a leg muted out is deaf (and hears encoded
    /// silence instead).
    pub(crate) fn set_controls(
        &mut self,
        index: usize,
        now_us: u64,
        change: &super::ControlChange,
    ) -> Option<super::LegControls> {
        let member = &mut self.members.get_mut(index)?.as_deref_mut()?.member;
        let controls = member.leg.controls.with(change);
        member.leg.set_controls(now_us, controls);
        if let Some(p) = member.participant {
            let _ = self.mixer.set_muted(p, controls.audio_in_withheld());
            let _ = self.mixer.set_deaf(p, controls.mute_out);
        }
        member.silent_ticks = 0;
        Some(controls)
    }

    /// Queues RFC 4733 digits into the leg at `index` (legs without telephone-events cannot
    /// get tones: their audio is a shared encode).
    pub(crate) fn send_digits(&mut self, index: usize, digits: &str) -> bool {
        match self.members.get_mut(index) {
            Some(Some(prepared)) if prepared.member.leg.te_tx.is_some() => {
                prepared.member.digits.push(digits)
            }
            _ => false,
        }
    }
}
