//! The audio stages a leg runs when its session decodes: [`Ingress`] (reorder, decode,
//! conceal, one 10 ms frame of PCM per tick) and [`Packetizer`] (egress: PCM at the session
//! rate → resample → encode at the leg's packet time).
//!
//! # Ingress: two buffers behind one shape
//!
//! [`Ingress`] is either `tandem-dsp`'s adaptive [`JitterBuffer`] (the default: NetEq-style
//! delay estimation, delay changes made in pauses, time-stretching, G.711 Appendix I
//! concealment) or the fixed-delay [`Playout`] below, chosen per leg with
//! [`LegSpec::playout`]. Against a fixed 60 ms buffer the adaptive one, with the engine's
//! default 50 ms floor ([`PlayoutSpec::ADAPTIVE`]), plays 10 ms sooner on a calm network;
//! under congestion, delay spikes and fast clock drift it is better on both MOS and delay
//! (PESQ, G.711 and G.722), under light or steady jitter it ties at 4 to 10 ms less delay,
//! and with reordering or slow drift it waits longer for more MOS (BENCHMARKS.md, "The
//! adaptive buffer's floor"); the fixed one stays for callers that want a constant, known
//! delay. The steady-state allocation test runs the default.
//!
//! # Playout: a fixed-delay reorder buffer
//!
//! A deliberately minimal ingress step (opt-in): packets are stored by sequence number in
//! [`PLAYOUT_SLOTS`] slots; playout starts `delay_ms` after the first packet of a stream and
//! then takes one frame per tick in sequence order. A packet missing when its turn comes is
//! concealed by the codec's PLC (or recovered from the next packet's Opus FEC) if a later
//! packet is already stored; with nothing stored at all (silence suppression, a pause) the
//! decoder conceals for up to [`CONCEAL_MAX_FRAMES`] frames, then plays silence, without
//! advancing, so the talkspurt that follows plays in full. Packets older than the playout
//! position are late (dropped, counted); a new SSRC or a jump beyond RFC 3550 A.1's limits
//! restarts the stream. There is no delay adaptation and no time-stretching.
//!
//! Concealing while nothing is stored delays everything after it by what was concealed (the
//! late packet plays after the concealment instead of in its place). Left alone, every such
//! hiccup — a sender or a worker a few ms late — would add to the delay for the rest of
//! the call, and a sender whose clock runs fast would fill the buffer. So the buffer watches
//! its own level: the least audio it held over each [`TRIM_WINDOW_TICKS`] window. The first
//! window after a stream (re)starts sets the baseline; a later window whose least level is a
//! whole packet above it means that packet's worth of delay is surplus, and one packet is
//! dropped, in the next quiet frame (a pause between words) or after [`TRIM_WAIT_TICKS`] at
//! the latest. The delay thus returns to what was configured instead of ratcheting up.
//! Beyond that, [`PLAYOUT_SLOTS`] bounds it: the oldest packets are skipped.
//!
//! # Real-time
//!
//! Both constructors allocate everything (slots, PCM FIFOs, codec state, resampler history);
//! `push`, `pop`, `push_pcm` and `pop_packet` never allocate, lock or make system calls.

use tandem_codecs::{CodecId, registry, resample::Resampler};
use tandem_codecs::{DecodePath, EncodePath, EncoderConfig, Format};
use tandem_drivers::packet::PACKET_BUF_BYTES;
use tandem_dsp::jitter::{self, JitterBuffer, JitterConfig, PlayoutEvent};

use crate::rtp::header::HEADER_LEN;
use crate::rtp::{RtpPacket, SeqNo, Ssrc};
use crate::session::{LegSpec, PlayoutSpec, SessionError};

/// Packet slots of a [`Playout`]: the most packets held at once (320 ms of 20 ms packets).
pub const PLAYOUT_SLOTS: usize = 16;
/// Frames the decoder conceals in a row while nothing at all arrives; silence after that.
pub const CONCEAL_MAX_FRAMES: u32 = 6;
/// The tick's frame: 10 ms.
pub const FRAME_MS: u32 = 10;
/// A forward jump of sequence numbers beyond this starts a new stream (RFC 3550 A.1).
const MAX_DROPOUT: i32 = 3000;
/// A backward jump beyond this starts a new stream (RFC 3550 A.1).
const MAX_MISORDER: i32 = 100;
/// Ticks over which a [`Playout`] takes the least level of its buffer (1 s).
pub const TRIM_WINDOW_TICKS: u32 = 100;
/// Ticks a due trim waits for a quiet frame before dropping a packet anyway (2 s).
pub const TRIM_WAIT_TICKS: u32 = 200;
/// A frame whose mean absolute sample is below this is quiet (about -44 dBFS): dropping the
/// packet after it is not heard.
const QUIET_MEAN_ABS: u64 = 200;

/// Samples in `ms` at `rate`.
pub(crate) const fn samples(rate: u32, ms: u32) -> usize {
    (rate as usize * ms as usize) / 1000
}

/// Counters of a [`Playout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlayoutCounters {
    /// Packets decoded and played.
    pub played: u64,
    /// Packets that arrived after their turn.
    pub late: u64,
    /// Packets already stored.
    pub duplicates: u64,
    /// Packets given up as lost (concealed or recovered).
    pub lost: u64,
    /// Lost packets recovered from the next packet's forward error correction.
    pub recovered: u64,
    /// Payloads the decoder refused (concealed instead).
    pub decode_errors: u64,
    /// Packets too large for a slot.
    pub oversize: u64,
    /// Packets skipped to keep the delay bounded.
    pub skipped: u64,
    /// Streams restarted (new SSRC, sequence jump).
    pub restarts: u64,
    /// Frames filled by concealment while nothing arrived.
    pub underruns: u64,
    /// 10 ms frames filled by concealment: underruns, and lost packets not recovered.
    pub frames_concealed: u64,
    /// Packets dropped because the buffer held a packet more than its baseline for a whole
    /// window (the delay concealment or a fast sender had added).
    pub trimmed: u64,
}

/// What one popped frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// Nothing has played yet (waiting for the first packet to be due): silence.
    Buffering,
    /// Decoded audio (possibly with some concealment mixed in).
    Audio,
    /// Concealment or silence: nothing arrived in time.
    Missing,
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    seq: u16,
    len: u16,
    full: bool,
}

/// What a decoding leg's ingress did with the leg's packets, for an operator: which buffer,
/// its delay now, and what it played, lost and concealed since the session began.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayoutReport {
    /// True for the adaptive jitter buffer, false for the fixed-delay one.
    pub adaptive: bool,
    /// The buffering delay now, ms (the fixed buffer: its configured delay).
    pub delay_ms: u32,
    /// The delay the buffer aims for, ms (the fixed buffer: its configured delay).
    pub target_delay_ms: u32,
    /// What it played, lost and concealed.
    pub counts: PlayoutTotals,
}

/// What decoding legs played, lost and concealed: one leg's (in its [`PlayoutReport`]) or
/// the sum over a worker's legs, for `/metrics` ([`Ingress::count_into`]). Cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayoutTotals {
    /// Packets decoded and played.
    pub packets_played: u64,
    /// Packets that arrived after playout passed them.
    pub packets_late: u64,
    /// Sequence numbers playout passed without the packet: lost on the way, or late.
    pub packets_lost: u64,
    /// Lost packets recovered from the next packet's forward error correction.
    pub fec_recoveries: u64,
    /// 10 ms frames filled by concealment.
    pub frames_concealed: u64,
    /// Time-stretching operations (adaptive only): pitch periods removed or repeated to
    /// move the delay towards its target.
    pub stretch_ops: u64,
}

impl PlayoutTotals {
    /// What `self` counted beyond `before`, an earlier reading of the same counters (one
    /// interval's counts from two cumulative ones). A counter that went back counts nothing.
    pub fn since(&self, before: &Self) -> Self {
        let mut interval = Self::default();
        interval.add_since(self, before);
        interval
    }

    /// Adds what `now` counted beyond `before` (two readings of one leg's counters).
    fn add_since(&mut self, now: &Self, before: &Self) {
        // A counter that went back (a buffer rebuilt) adds nothing rather than wrapping.
        let since = |n: u64, b: u64| n.saturating_sub(b);
        self.packets_played += since(now.packets_played, before.packets_played);
        self.packets_late += since(now.packets_late, before.packets_late);
        self.packets_lost += since(now.packets_lost, before.packets_lost);
        self.fec_recoveries += since(now.fec_recoveries, before.fec_recoveries);
        self.frames_concealed += since(now.frames_concealed, before.frames_concealed);
        self.stretch_ops += since(now.stretch_ops, before.stretch_ops);
    }
}

impl PlayoutReport {
    /// The share of sequence numbers playout passed without their packet, percent (0 before
    /// any).
    pub fn loss_percent(&self) -> f64 {
        let c = &self.counts;
        let due = c.packets_played + c.packets_lost;
        if due == 0 {
            0.0
        } else {
            100.0 * c.packets_lost as f64 / due as f64
        }
    }
}

/// Ingress: reorder, decode to the session rate, conceal. See the module docs.
pub struct Playout {
    decode: DecodePath,
    slots: [Slot; PLAYOUT_SLOTS],
    payloads: Box<[u8]>,
    slot_bytes: usize,
    stored: usize,
    ssrc: Option<Ssrc>,
    next_seq: Option<u16>,
    start_us: u64,
    delay_us: u64,
    fifo: Box<[i16]>,
    fifo_len: usize,
    frame: usize,
    ptime_ms: u32,
    /// The codec carries in-band FEC (Opus): a lost packet is recovered from the next one.
    has_fec: bool,
    conceal_run: u32,
    level: Level,
    counters: PlayoutCounters,
}

/// What a [`Playout`] knows of its own fill level. See the module docs.
#[derive(Debug, Clone, Copy)]
struct Level {
    /// The least audio buffered after a pop in the current window, µs.
    window_min_us: u64,
    /// Ticks into the current window.
    window_ticks: u32,
    /// The least level of the first window of the stream, µs.
    baseline_us: Option<u64>,
    /// Ticks a due trim has waited for a quiet frame.
    trim_waited: Option<u32>,
}

impl Level {
    const FRESH: Self = Self {
        window_min_us: u64::MAX,
        window_ticks: 0,
        baseline_us: None,
        trim_waited: None,
    };

    fn next_window(&mut self) {
        self.window_min_us = u64::MAX;
        self.window_ticks = 0;
    }
}

/// True when the frame is quiet enough that dropping the audio after it is not heard.
fn is_quiet(pcm: &[i16]) -> bool {
    let sum: u64 = pcm.iter().map(|s| u64::from(s.unsigned_abs())).sum();
    sum < QUIET_MEAN_ABS * pcm.len() as u64
}

impl std::fmt::Debug for Playout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playout")
            .field("decode", &self.decode)
            .field("stored", &self.stored)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Playout {
    /// A buffer for `format` packets of (nominally) `ptime_ms`, producing PCM at `pcm_rate`,
    /// playing `delay_ms` after the first packet. Allocates.
    ///
    /// # Errors
    ///
    /// [`SessionError::Codec`] when the decoder or resampler cannot be built;
    /// [`SessionError::PlayoutDelay`] for a delay over
    /// [`PlayoutSpec::FIXED_MAX_DELAY_MS`].
    pub fn new(
        format: Format,
        ptime_ms: u32,
        pcm_rate: u32,
        delay_ms: u32,
    ) -> Result<Self, SessionError> {
        if delay_ms > PlayoutSpec::FIXED_MAX_DELAY_MS {
            return Err(SessionError::PlayoutDelay {
                delay_ms,
                max_ms: PlayoutSpec::FIXED_MAX_DELAY_MS,
            });
        }
        let decode = DecodePath::new(format, pcm_rate)?;
        let slot_bytes = format
            .descriptor()
            .max_payload_len(format.sample_rate, ptime_ms.max(20) * 3)
            .min(PACKET_BUF_BYTES - HEADER_LEN);
        let frame = samples(pcm_rate, FRAME_MS);
        let fifo = vec![0; frame + decode.output_max()].into_boxed_slice();
        Ok(Self {
            decode,
            slots: [Slot::default(); PLAYOUT_SLOTS],
            payloads: vec![0; slot_bytes * PLAYOUT_SLOTS].into_boxed_slice(),
            slot_bytes,
            stored: 0,
            ssrc: None,
            next_seq: None,
            start_us: 0,
            delay_us: u64::from(delay_ms) * 1000,
            fifo,
            fifo_len: 0,
            frame,
            ptime_ms: ptime_ms.clamp(FRAME_MS, 120),
            has_fec: format.codec == CodecId::Opus,
            conceal_run: 0,
            level: Level::FRESH,
            counters: PlayoutCounters::default(),
        })
    }

    /// Samples each [`pop`](Self::pop) writes (10 ms at the PCM rate).
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// The counters.
    pub fn counters(&self) -> &PlayoutCounters {
        &self.counters
    }

    fn restart(&mut self, now_us: u64, ssrc: Ssrc, seq: u16) {
        if self.ssrc.is_some() {
            self.counters.restarts += 1;
        }
        for slot in &mut self.slots {
            slot.full = false;
        }
        self.stored = 0;
        self.ssrc = Some(ssrc);
        self.next_seq = Some(seq);
        self.start_us = now_us + self.delay_us;
        self.level = Level::FRESH;
    }

    /// Audio held: stored packets at their nominal packet time plus decoded samples, µs.
    fn buffered_us(&self) -> u64 {
        let packets = self.stored as u64 * u64::from(self.ptime_ms) * 1000;
        let decoded = self.fifo_len as u64 * u64::from(FRAME_MS) * 1000 / self.frame as u64;
        packets + decoded
    }

    /// Tracks the fill level after a pop and drops a packet when a whole one is surplus
    /// (see the module docs). `pcm` is the frame just played.
    fn track_level(&mut self, kind: FrameKind, pcm: &[i16]) {
        let buffered_us = self.buffered_us();
        let level = &mut self.level;
        match kind {
            FrameKind::Buffering => return,
            // Nothing was there to play: no surplus in this window.
            FrameKind::Missing => level.window_min_us = 0,
            FrameKind::Audio => level.window_min_us = level.window_min_us.min(buffered_us),
        }
        level.window_ticks += 1;
        if let Some(waited) = level.trim_waited {
            if is_quiet(pcm) || waited >= TRIM_WAIT_TICKS {
                level.trim_waited = None;
                level.next_window();
                self.skip_one();
                self.counters.trimmed += 1;
                return;
            }
            level.trim_waited = Some(waited + 1);
        }
        if level.window_ticks >= TRIM_WINDOW_TICKS {
            let surplus = u64::from(self.ptime_ms) * 1000;
            match level.baseline_us {
                None => level.baseline_us = Some(level.window_min_us),
                Some(base) if level.window_min_us >= base + surplus => {
                    level.trim_waited.get_or_insert(0);
                }
                Some(_) => {}
            }
            level.next_window();
        }
    }

    /// Stores one media packet that arrived at `now_us`. Never allocates.
    pub fn push(&mut self, now_us: u64, ssrc: Ssrc, seq: SeqNo, payload: &[u8]) {
        let seq = seq.0;
        match self.next_seq {
            Some(next) if self.ssrc == Some(ssrc) => {
                let d = i32::from(seq.wrapping_sub(next) as i16);
                if d < 0 {
                    if d >= -MAX_MISORDER {
                        self.counters.late += 1;
                        return;
                    }
                    self.restart(now_us, ssrc, seq);
                } else if d >= MAX_DROPOUT {
                    self.restart(now_us, ssrc, seq);
                } else if d as usize >= PLAYOUT_SLOTS {
                    // The sender is further ahead than the buffer holds: skip forward.
                    let new_next = seq.wrapping_sub(PLAYOUT_SLOTS as u16 - 1);
                    while self.next_seq != Some(new_next) {
                        self.skip_one();
                    }
                }
            }
            _ => self.restart(now_us, ssrc, seq),
        }
        if payload.len() > self.slot_bytes {
            self.counters.oversize += 1;
            return;
        }
        let index = usize::from(seq) % PLAYOUT_SLOTS;
        let slot = &mut self.slots[index];
        if slot.full {
            self.counters.duplicates += 1;
            return;
        }
        let at = index * self.slot_bytes;
        self.payloads[at..at + payload.len()].copy_from_slice(payload);
        *slot = Slot {
            seq,
            len: payload.len() as u16,
            full: true,
        };
        self.stored += 1;
    }

    fn skip_one(&mut self) {
        let Some(next) = self.next_seq else { return };
        let slot = &mut self.slots[usize::from(next) % PLAYOUT_SLOTS];
        if slot.full && slot.seq == next {
            slot.full = false;
            self.stored -= 1;
            self.counters.skipped += 1;
        }
        self.next_seq = Some(next.wrapping_add(1));
    }

    fn payload(&self, seq: u16) -> Option<&[u8]> {
        let index = usize::from(seq) % PLAYOUT_SLOTS;
        let slot = &self.slots[index];
        (slot.full && slot.seq == seq).then(|| {
            let at = index * self.slot_bytes;
            &self.payloads[at..at + usize::from(slot.len)]
        })
    }

    /// Writes the next 10 ms of PCM into `pcm` (exactly [`frame_samples`](Self::frame_samples)
    /// long) for the tick at `now_us`. Never allocates.
    pub fn pop(&mut self, now_us: u64, pcm: &mut [i16]) -> FrameKind {
        let frame = self.frame;
        debug_assert_eq!(pcm.len(), frame);
        let Some(mut next) = self.next_seq else {
            pcm.fill(0);
            return FrameKind::Buffering;
        };
        if now_us < self.start_us && self.fifo_len < frame {
            pcm.fill(0);
            return FrameKind::Buffering;
        }
        let mut kind = FrameKind::Audio;
        while self.fifo_len < frame {
            let tail = self.fifo_len;
            if let Some(len) = self.payload(next).map(<[u8]>::len) {
                let at = usize::from(next) % PLAYOUT_SLOTS * self.slot_bytes;
                let (payloads, fifo) = (&self.payloads, &mut self.fifo);
                let written = match self
                    .decode
                    .decode(&payloads[at..at + len], &mut fifo[tail..])
                {
                    Ok(n) => {
                        self.counters.played += 1;
                        n
                    }
                    Err(_) => {
                        self.counters.decode_errors += 1;
                        self.decode.conceal(self.ptime_ms, &mut fifo[tail..])
                    }
                };
                self.slots[usize::from(next) % PLAYOUT_SLOTS].full = false;
                self.stored -= 1;
                self.fifo_len += written;
                self.conceal_run = 0;
                next = next.wrapping_add(1);
                if written == 0 {
                    continue;
                }
            } else if self.stored > 0 {
                // A later packet is here: this one is lost. Recover it from the next packet's
                // FEC where the codec carries it, else conceal.
                self.counters.lost += 1;
                let after = next.wrapping_add(1);
                let fec = self
                    .payload(after)
                    .filter(|_| self.has_fec)
                    .map(<[u8]>::len);
                let written = match fec {
                    Some(len) => {
                        let at = usize::from(after) % PLAYOUT_SLOTS * self.slot_bytes;
                        self.counters.recovered += 1;
                        self.decode.recover_from_next(
                            self.ptime_ms,
                            &self.payloads[at..at + len],
                            &mut self.fifo[tail..],
                        )
                    }
                    None => {
                        self.counters.frames_concealed += u64::from(self.ptime_ms / FRAME_MS);
                        self.decode.conceal(self.ptime_ms, &mut self.fifo[tail..])
                    }
                };
                if written == 0 {
                    self.fifo[tail..frame].fill(0);
                    self.fifo_len = frame;
                } else {
                    self.fifo_len += written;
                }
                next = next.wrapping_add(1);
                kind = FrameKind::Missing;
            } else {
                // Nothing stored: a pause or a loss burst. Conceal a little, then silence,
                // and wait for the packet in sequence.
                self.counters.underruns += 1;
                self.counters.frames_concealed += 1;
                let room = frame - tail;
                let written = if self.conceal_run < CONCEAL_MAX_FRAMES {
                    self.decode
                        .conceal(FRAME_MS, &mut self.fifo[tail..tail + room])
                } else {
                    0
                };
                self.fifo[tail + written..tail + room].fill(0);
                self.fifo_len = frame;
                self.conceal_run += 1;
                kind = FrameKind::Missing;
            }
        }
        self.next_seq = Some(next);
        pcm.copy_from_slice(&self.fifo[..frame]);
        self.fifo.copy_within(frame..self.fifo_len, 0);
        self.fifo_len -= frame;
        self.track_level(kind, pcm);
        kind
    }
}

/// The adaptive jitter buffer of `tandem-dsp`, decoding at (or resampled to) the session rate.
pub struct Adaptive {
    buffer: JitterBuffer,
    resampler: Option<Resampler>,
    decoded: Box<[i16]>,
}

impl std::fmt::Debug for Adaptive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adaptive")
            .field("buffer", &self.buffer)
            .field("resample", &self.resampler.is_some())
            .finish()
    }
}

/// A leg's ingress: the fixed-delay [`Playout`] or the adaptive [`JitterBuffer`], and what of
/// its counters the worker's totals already hold. See the module docs.
#[derive(Debug)]
pub struct Ingress {
    buffer: Buffer,
    counted: PlayoutTotals,
}

#[derive(Debug)]
enum Buffer {
    /// The fixed-delay reorder buffer.
    Fixed(Box<Playout>),
    /// `tandem-dsp`'s adaptive jitter buffer.
    Adaptive(Box<Adaptive>),
}

impl Ingress {
    /// The ingress `spec` asks for, producing PCM at `pcm_rate`. Allocates.
    ///
    /// # Errors
    ///
    /// [`SessionError`] when the decoder, resampler or buffer cannot be built.
    pub fn new(spec: &LegSpec, pcm_rate: u32) -> Result<Self, SessionError> {
        Ok(Self {
            buffer: Buffer::new(spec, pcm_rate)?,
            counted: PlayoutTotals::default(),
        })
    }

    /// Stores one media packet that arrived at `now_us`. Never allocates.
    pub fn push<T: AsRef<[u8]>>(&mut self, now_us: u64, packet: &RtpPacket<T>) {
        self.buffer.push(now_us, packet);
    }

    /// Stores an RFC 3389 comfort-noise packet (the adaptive buffer plays it; the fixed one
    /// ignores it).
    pub fn push_comfort_noise<T: AsRef<[u8]>>(&mut self, now_us: u64, packet: &RtpPacket<T>) {
        if let Buffer::Adaptive(_) = self.buffer {
            self.buffer.push(now_us, packet);
        }
    }

    /// What the ingress did so far, and its delay now.
    pub fn report(&self) -> PlayoutReport {
        self.buffer.report()
    }

    /// Writes the next 10 ms at the session rate into `pcm`. Never allocates.
    pub fn pop(&mut self, now_us: u64, pcm: &mut [i16]) -> FrameKind {
        self.buffer.pop(now_us, pcm)
    }

    /// Adds to `totals` what this ingress played, lost and concealed since it last did: the
    /// caller's running sum over legs stays exact however legs come and go, since each adds
    /// only its own news. Called after each pop; a few subtractions, no allocation.
    pub fn count_into(&mut self, totals: &mut PlayoutTotals) {
        let now = self.buffer.report().counts;
        totals.add_since(&now, &self.counted);
        self.counted = now;
    }
}

impl Buffer {
    fn new(spec: &LegSpec, pcm_rate: u32) -> Result<Self, SessionError> {
        let codec = spec.codec;
        let (min_delay_ms, max_delay_ms) = match spec.playout {
            PlayoutSpec::Fixed { delay_ms } => {
                return Ok(Self::Fixed(Box::new(Playout::new(
                    codec.format,
                    codec.ptime_ms,
                    pcm_rate,
                    delay_ms,
                )?)));
            }
            PlayoutSpec::Adaptive {
                min_delay_ms,
                max_delay_ms,
            } => (min_delay_ms, max_delay_ms),
        };
        // Opus decodes at any of its rates: straight to the session rate.
        let decoder_format = match codec.format.codec {
            CodecId::Opus => Format::opus(pcm_rate),
            _ => codec.format,
        };
        let mut config = JitterConfig::new(codec.payload_type.get());
        config.frame_ms = FRAME_MS;
        config.max_ptime_ms = config.max_ptime_ms.max(codec.ptime_ms);
        config.min_delay_ms = min_delay_ms;
        config.max_delay_ms = max_delay_ms;
        // Not `clamp`, which panics on crossed bounds: the buffer refuses those itself.
        config.initial_delay_ms = config.initial_delay_ms.max(min_delay_ms).min(max_delay_ms);
        let buffer = JitterBuffer::with_decoder(registry::new_decoder(decoder_format)?, &config)?;
        let decoded = vec![0; buffer.frame_samples()].into_boxed_slice();
        let resampler = if decoder_format.sample_rate == pcm_rate {
            None
        } else {
            Some(Resampler::new(decoder_format.sample_rate, pcm_rate)?)
        };
        Ok(Self::Adaptive(Box::new(Adaptive {
            buffer,
            resampler,
            decoded,
        })))
    }

    fn push<T: AsRef<[u8]>>(&mut self, now_us: u64, packet: &RtpPacket<T>) {
        match self {
            Self::Fixed(p) => p.push(
                now_us,
                packet.ssrc(),
                packet.sequence_number(),
                packet.payload(),
            ),
            Self::Adaptive(a) => {
                let _ = a.buffer.push(
                    now_us,
                    &jitter::RtpPacket {
                        sequence_number: packet.sequence_number().0,
                        timestamp: packet.timestamp().0,
                        marker: packet.marker(),
                        ssrc: packet.ssrc().0,
                        payload_type: packet.payload_type().get(),
                        payload: packet.payload(),
                    },
                );
            }
        }
    }

    fn report(&self) -> PlayoutReport {
        match self {
            Self::Fixed(p) => {
                let c = p.counters();
                let delay_ms = u32::try_from(p.delay_us / 1000).unwrap_or(u32::MAX);
                PlayoutReport {
                    adaptive: false,
                    delay_ms,
                    target_delay_ms: delay_ms,
                    counts: PlayoutTotals {
                        packets_played: c.played,
                        packets_late: c.late,
                        packets_lost: c.lost,
                        fec_recoveries: c.recovered,
                        frames_concealed: c.frames_concealed,
                        stretch_ops: 0,
                    },
                }
            }
            Self::Adaptive(a) => {
                let s = a.buffer.stats();
                PlayoutReport {
                    adaptive: true,
                    delay_ms: s.current_delay_ms,
                    target_delay_ms: s.target_delay_ms,
                    counts: PlayoutTotals {
                        packets_played: s.packets_played,
                        packets_late: s.packets_late,
                        packets_lost: s.packets_lost,
                        fec_recoveries: s.fec_recoveries,
                        frames_concealed: s.frames_concealed,
                        stretch_ops: s.accelerate_ops + s.decelerate_ops,
                    },
                }
            }
        }
    }

    fn pop(&mut self, now_us: u64, pcm: &mut [i16]) -> FrameKind {
        match self {
            Self::Fixed(p) => p.pop(now_us, pcm),
            Self::Adaptive(a) => {
                let event = match &mut a.resampler {
                    None => a.buffer.pop(now_us, pcm),
                    Some(r) => {
                        let event = a.buffer.pop(now_us, &mut a.decoded);
                        let n = r.process(&a.decoded, pcm);
                        pcm[n..].fill(0);
                        event
                    }
                };
                match event {
                    Ok(PlayoutEvent::Buffering) | Err(_) => FrameKind::Buffering,
                    Ok(
                        PlayoutEvent::Normal
                        | PlayoutEvent::Accelerated
                        | PlayoutEvent::Decelerated
                        | PlayoutEvent::FecRecovered,
                    ) => FrameKind::Audio,
                    Ok(_) => FrameKind::Missing,
                }
            }
        }
    }
}

/// Egress: PCM at the session rate in 10 ms frames → (resampler) → encoder at the leg's
/// packet time. See the module docs.
pub struct Packetizer {
    resampler: Option<Resampler>,
    resampled: Box<[i16]>,
    encode: EncodePath,
    payload: Box<[u8]>,
    ready: Option<usize>,
    /// RTP timestamp units per packet.
    rtp_step: u32,
    /// RTP timestamp units per 10 ms frame.
    frame_units: u32,
    /// Leading frames still to discard (see [`stagger`](Packetizer::stagger)).
    skip: u32,
    encode_errors: u64,
}

impl std::fmt::Debug for Packetizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packetizer")
            .field("encode", &self.encode)
            .field("resample", &self.resampler.is_some())
            .finish_non_exhaustive()
    }
}

impl Packetizer {
    /// Encodes PCM at `pcm_rate` into `format` packets of `ptime_ms`. Allocates.
    ///
    /// # Errors
    ///
    /// [`SessionError::Codec`] when the encoder or resampler cannot be built.
    pub fn new(
        format: Format,
        ptime_ms: u32,
        pcm_rate: u32,
        config: &EncoderConfig,
    ) -> Result<Self, SessionError> {
        let direct = tandem_codecs::plan::encode_rates(format).any(|r| r == pcm_rate);
        let encode_rate = if direct { pcm_rate } else { format.sample_rate };
        let resampler = if direct {
            None
        } else {
            Some(Resampler::new(pcm_rate, encode_rate)?)
        };
        let encode = EncodePath::new(format, encode_rate, ptime_ms, config)?;
        let frame_in = samples(pcm_rate, FRAME_MS);
        let resampled = match &resampler {
            Some(r) => vec![0; r.output_max(frame_in)].into_boxed_slice(),
            None => Box::default(),
        };
        let clock = format.descriptor().rtp_clock_rate(format.sample_rate);
        let payload = vec![0; encode.max_payload_len()].into_boxed_slice();
        Ok(Self {
            resampler,
            resampled,
            encode,
            payload,
            ready: None,
            rtp_step: clock * ptime_ms / 1000,
            frame_units: clock * FRAME_MS / 1000,
            skip: 0,
            encode_errors: 0,
        })
    }

    /// Shifts this packetizer's packets by `slot` 10 ms frames (modulo the frames in one
    /// packet) by discarding that many of its first frames.
    ///
    /// A packetizer completes a packet on every `ptime / 10 ms`-th frame counted from its
    /// first, so the encoders of sessions installed in the same tick would all run in the
    /// same tick, every other tick for 20 ms packets: that tick then costs twice the
    /// average and misses its deadline at half the CPU. Staggered, the encodes spread
    /// evenly over the ticks. Only the first frames of a stream are discarded (a session's
    /// start, where the playout is still buffering silence); the RTP timestamps stay
    /// continuous because the caller advances its clock every frame.
    pub fn stagger(&mut self, slot: u32) {
        let frames = (self.rtp_step / self.frame_units.max(1)).max(1);
        self.skip = slot % frames;
    }

    /// After a [`reset`](Self::reset), before the frame of index `frame_index` (10 ms frames
    /// on the worker's clock): discards the first frames so that packets complete on the
    /// frames whose index is `phase` modulo the frames in one packet.
    ///
    /// A conference room's encoders start and restart whenever their mix is first needed,
    /// and rooms built together would complete their packets (and send every listener's) in
    /// the same tick, every other tick for 20 ms packets; aligned to a phase per room, the
    /// sends spread over the ticks, and a listener moved to another mix of the same room
    /// keeps its packets' cadence.
    pub fn align(&mut self, frame_index: u64, phase: u32) {
        let frames = u64::from((self.rtp_step / self.frame_units.max(1)).max(1));
        // The packet started now completes at frame_index + skip + frames - 1.
        let completes = (frame_index + frames - 1) % frames;
        self.skip = ((u64::from(phase) % frames + frames - completes) % frames) as u32;
    }

    /// The largest payload this packetizer produces.
    pub fn max_payload_len(&self) -> usize {
        self.payload.len()
    }

    /// RTP timestamp units one packet spans.
    pub fn rtp_step(&self) -> u32 {
        self.rtp_step
    }

    /// RTP timestamp units one 10 ms frame spans.
    pub fn frame_units(&self) -> u32 {
        self.frame_units
    }

    /// Encode errors so far (the packet was dropped).
    pub fn encode_errors(&self) -> u64 {
        self.encode_errors
    }

    /// Takes one 10 ms frame; if it completes a packet, encodes it. Returns the payload
    /// length when a packet is ready (zero: nothing to send this time, DTX). Never allocates.
    pub fn push_frame(&mut self, pcm: &[i16]) -> Option<usize> {
        if self.skip > 0 {
            self.skip -= 1;
            self.ready = None;
            return None;
        }
        let pushed = match &mut self.resampler {
            Some(r) => {
                let n = r.process(pcm, &mut self.resampled);
                self.encode.push_pcm(&self.resampled[..n])
            }
            None => self.encode.push_pcm(pcm),
        };
        if pushed.is_err() {
            self.encode_errors += 1;
        }
        self.ready = match self.encode.pop_packet(&mut self.payload) {
            Ok(Some(len)) => Some(len),
            Ok(None) => None,
            Err(_) => {
                self.encode_errors += 1;
                None
            }
        };
        self.ready
    }

    /// The payload the last [`push_frame`](Self::push_frame) produced, if any.
    pub fn ready(&self) -> Option<&[u8]> {
        self.ready.map(|len| &self.payload[..len])
    }

    /// Forgets buffered PCM and encoder history.
    pub fn reset(&mut self) {
        self.encode.reset();
        if let Some(r) = &mut self.resampler {
            r.reset();
        }
        self.ready = None;
    }
}

/// The rate a session processes a codec's audio at: its own rate, capped at 16 kHz (the DTMF
/// detector and generator run at 8 or 16 kHz; wideband speech needs no more).
pub fn processing_rate(format: Format) -> u32 {
    match format.codec {
        CodecId::Opus => 16_000.min(format.sample_rate.max(8000)),
        _ => format.sample_rate.min(16_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::{PayloadType, RtpHeader, RtpTimestamp};
    use crate::session::CodecSpec;

    /// L16 at 8 kHz, 10 ms packets: payload bytes are big-endian samples, so what plays
    /// can be read back exactly.
    fn playout(delay_ms: u32) -> Playout {
        Playout::new(Format::l16(8000), 10, 8000, delay_ms).unwrap()
    }

    fn payload(value: i16) -> Vec<u8> {
        std::iter::repeat_n(value.to_be_bytes(), 80)
            .flatten()
            .collect()
    }

    fn pop(p: &mut Playout, now_us: u64) -> (FrameKind, i16) {
        let mut pcm = [0i16; 80];
        let kind = p.pop(now_us, &mut pcm);
        (kind, pcm[40])
    }

    #[test]
    fn an_ingress_takes_the_delays_its_spec_asks_for() {
        let leg = |playout| LegSpec::new(CodecSpec::PCMU).with_playout(playout);
        let mut bounded = Ingress::new(
            &leg(PlayoutSpec::Adaptive {
                min_delay_ms: 100,
                max_delay_ms: 300,
            }),
            8000,
        )
        .unwrap();
        // A second of packets on time: the target stays at the floor asked for.
        let mut pcm = [0i16; 80];
        for i in 0..50u16 {
            let now_us = u64::from(i) * 20_000;
            let mut bytes = [0u8; 12 + 160];
            let header = RtpHeader::new(
                PayloadType::PCMU,
                SeqNo(i),
                RtpTimestamp(u32::from(i) * 160),
                Ssrc(7),
            );
            header.emit_packet(&[0xFF; 160], &mut bytes).unwrap();
            bounded.push(now_us, &RtpPacket::new_checked(&bytes[..]).unwrap());
            bounded.pop(now_us, &mut pcm);
            bounded.pop(now_us + 10_000, &mut pcm);
        }
        let report = bounded.report();
        assert!(
            report.adaptive && report.target_delay_ms >= 100,
            "{report:?}"
        );
        let fixed = Ingress::new(&leg(PlayoutSpec::Fixed { delay_ms: 80 }), 8000).unwrap();
        assert_eq!(fixed.report().delay_ms, 80);
        assert!(matches!(
            Ingress::new(&leg(PlayoutSpec::Fixed { delay_ms: 141 }), 8000),
            Err(SessionError::PlayoutDelay {
                delay_ms: 141,
                max_ms: 140
            })
        ));
        let crossed = PlayoutSpec::Adaptive {
            min_delay_ms: 50,
            max_delay_ms: 30,
        };
        assert!(matches!(
            Ingress::new(&leg(crossed), 8000),
            Err(SessionError::Jitter(_))
        ));
    }

    #[test]
    fn waits_for_the_playout_delay_then_plays_in_sequence_order() {
        let mut p = playout(20);
        p.push(0, Ssrc(1), SeqNo(10), &payload(100));
        p.push(5_000, Ssrc(1), SeqNo(12), &payload(300));
        p.push(6_000, Ssrc(1), SeqNo(11), &payload(200));
        assert_eq!(pop(&mut p, 10_000).0, FrameKind::Buffering);
        assert_eq!(pop(&mut p, 20_000), (FrameKind::Audio, 100));
        assert_eq!(pop(&mut p, 30_000), (FrameKind::Audio, 200));
        assert_eq!(pop(&mut p, 40_000), (FrameKind::Audio, 300));
        assert_eq!(p.counters().played, 3);
        assert_eq!(p.counters().lost, 0);
    }

    #[test]
    fn conceals_a_missing_packet_once_a_later_one_is_stored() {
        let mut p = playout(0);
        p.push(0, Ssrc(1), SeqNo(1), &payload(1000));
        assert_eq!(pop(&mut p, 0), (FrameKind::Audio, 1000));
        p.push(20_000, Ssrc(1), SeqNo(3), &payload(3000));
        let (kind, _) = pop(&mut p, 10_000);
        assert_eq!(kind, FrameKind::Missing);
        assert_eq!(pop(&mut p, 20_000), (FrameKind::Audio, 3000));
        assert_eq!(p.counters().lost, 1);
        // The lost packet turning up afterwards is late.
        p.push(25_000, Ssrc(1), SeqNo(2), &payload(2000));
        assert_eq!(p.counters().late, 1);
    }

    #[test]
    fn a_pause_conceals_then_goes_silent_without_skipping_the_next_talkspurt() {
        let mut p = playout(0);
        p.push(0, Ssrc(1), SeqNo(1), &payload(500));
        pop(&mut p, 0);
        for i in 1..=20 {
            let (kind, value) = pop(&mut p, i * 10_000);
            assert_eq!(kind, FrameKind::Missing);
            if i > u64::from(CONCEAL_MAX_FRAMES) {
                assert_eq!(value, 0, "silence after the concealment budget");
            }
        }
        p.push(210_000, Ssrc(1), SeqNo(2), &payload(700));
        assert_eq!(pop(&mut p, 210_000), (FrameKind::Audio, 700));
    }

    #[test]
    fn duplicates_are_dropped_and_a_new_ssrc_restarts_the_stream() {
        let mut p = playout(0);
        p.push(0, Ssrc(1), SeqNo(1), &payload(1));
        p.push(0, Ssrc(1), SeqNo(1), &payload(1));
        assert_eq!(p.counters().duplicates, 1);
        p.push(0, Ssrc(2), SeqNo(40_000), &payload(9));
        assert_eq!(p.counters().restarts, 1);
        assert_eq!(pop(&mut p, 0), (FrameKind::Audio, 9));
    }

    #[test]
    fn a_sender_far_ahead_skips_the_oldest_packets() {
        let mut p = playout(0);
        p.push(0, Ssrc(1), SeqNo(1), &payload(1));
        p.push(0, Ssrc(1), SeqNo(1 + PLAYOUT_SLOTS as u16 + 4), &payload(2));
        assert_eq!(p.counters().skipped, 1);
        assert_eq!(p.counters().restarts, 0);
    }

    /// Plays 10 ms packets carrying their sequence number as the sample value, one pushed
    /// every 10 ms (at `arrival(seq)`), popped every 10 ms 5 ms later, and returns the delay
    /// from each packet's arrival to the tick that played it, by sequence number.
    fn delays(
        p: &mut Playout,
        packets: u16,
        value: impl Fn(u16) -> i16,
        arrival: impl Fn(u16) -> u64,
    ) -> Vec<Option<u64>> {
        let mut played = vec![None; usize::from(packets)];
        let mut pending: Vec<u16> = (0..packets).collect();
        pending.sort_by_key(|&s| arrival(s));
        let mut next = pending.into_iter().peekable();
        for tick in 0..u64::from(packets) + 100 {
            let now = tick * 10_000 + 5_000;
            while let Some(&seq) = next.peek() {
                if arrival(seq) > now {
                    break;
                }
                p.push(arrival(seq), Ssrc(1), SeqNo(seq), &payload(value(seq)));
                next.next();
            }
            let mut pcm = [0i16; 80];
            if p.pop(now, &mut pcm) == FrameKind::Audio {
                if let Some(seq) = (0..packets).find(|&s| value(s) == pcm[40]) {
                    played[usize::from(seq)].get_or_insert(now - arrival(seq));
                }
            }
        }
        played
    }

    #[test]
    fn delay_added_by_concealment_is_trimmed_back_to_the_configured_delay() {
        // Loud audio (no quiet frame): a due trim waits TRIM_WAIT_TICKS, then drops anyway.
        let mut p = playout(40);
        let loud = |seq: u16| 1000 + seq as i16;
        // Steady 10 ms arrivals, except that packets 300..307 arrive together 70 ms late:
        // the 40 ms buffer runs dry, three frames are concealed and everything after
        // plays 30 ms later.
        let arrival = |seq: u16| {
            let on_time = u64::from(seq) * 10_000;
            if (300..307).contains(&seq) {
                307 * 10_000
            } else {
                on_time
            }
        };
        let d = delays(&mut p, 1500, loud, arrival);
        let before = d[250].unwrap();
        assert_eq!(d[320].unwrap(), before + 30_000, "{:?}", &d[295..325]);
        assert_eq!(p.counters().trimmed, 3, "{:?}", p.counters());
        assert_eq!(d[1400].unwrap(), before, "back to the configured delay");
        assert_eq!(p.counters().late, 0);
    }

    #[test]
    fn a_due_trim_drops_the_packet_after_a_quiet_frame_at_once() {
        let mut p = playout(40);
        // Quiet (|value| < 200) audio: every frame qualifies.
        let quiet = |seq: u16| (seq % 150) as i16 - 75 + if seq % 150 == 75 { 1 } else { 0 };
        let arrival = |seq: u16| {
            let on_time = u64::from(seq) * 10_000;
            if (150..156).contains(&seq) {
                156 * 10_000
            } else {
                on_time
            }
        };
        let _ = delays(&mut p, 600, quiet, arrival);
        // Two frames of surplus (20 ms) are two packets of 10 ms: the first is due at the
        // end of the first window without the hiccup, the second a window later, and each
        // goes at once: waiting TRIM_WAIT_TICKS each, the second could not have happened
        // within the 7 s run.
        assert_eq!(p.counters().trimmed, 2, "{:?}", p.counters());
    }

    #[test]
    fn a_steady_stream_is_never_trimmed() {
        let mut p = playout(40);
        let d = delays(&mut p, 1000, |s| 1000 + s as i16, |s| u64::from(s) * 10_000);
        assert_eq!(p.counters().trimmed, 0);
        assert!(d[100..990].iter().all(|x| *x == d[100]), "constant delay");
    }

    /// RFC 3551 §4.5.2 and RFC 7587 §4.1: G.722 packets advance the RTP clock at 8 kHz
    /// though it samples at 16 kHz; Opus at 48 kHz whatever it codes.
    #[test]
    fn packetizers_step_the_rtp_clock_of_the_codec_not_of_its_audio() {
        let g722 = Packetizer::new(Format::G722, 20, 16000, &EncoderConfig::default()).unwrap();
        assert_eq!((g722.rtp_step(), g722.frame_units()), (160, 80));
        let opus =
            Packetizer::new(Format::opus(16000), 20, 16000, &EncoderConfig::default()).unwrap();
        assert_eq!((opus.rtp_step(), opus.frame_units()), (960, 480));
        let pcmu = Packetizer::new(Format::PCMU, 30, 16000, &EncoderConfig::default()).unwrap();
        assert_eq!(pcmu.rtp_step(), 240);
    }

    #[test]
    fn packetizers_convert_packet_time_and_rate() {
        // 10 ms frames at 16 kHz in, 20 ms PCMU packets (8 kHz) out: one packet per two.
        let mut p = Packetizer::new(Format::PCMU, 20, 16000, &EncoderConfig::default()).unwrap();
        let frame = [0i16; 160];
        assert_eq!(p.push_frame(&frame), None);
        assert_eq!(p.push_frame(&frame), Some(160));
        assert_eq!(p.ready().map(<[u8]>::len), Some(160));
        assert_eq!(p.push_frame(&frame), None);
        assert!(p.ready().is_none());
    }

    /// Frames (1-based) on which a packetizer of `ptime_ms` in `slot` completes a packet.
    fn packet_frames(ptime_ms: u32, slot: u32) -> Vec<usize> {
        let mut p =
            Packetizer::new(Format::PCMU, ptime_ms, 8000, &EncoderConfig::default()).unwrap();
        p.stagger(slot);
        let frame = [0i16; 80];
        (1..=12)
            .filter(|_| p.push_frame(&frame).is_some())
            .collect()
    }

    #[test]
    fn staggered_packetizers_complete_their_packets_in_different_ticks() {
        assert_eq!(packet_frames(20, 0), [2, 4, 6, 8, 10, 12]);
        assert_eq!(packet_frames(20, 1), [3, 5, 7, 9, 11]);
        // Slots wrap at the frames per packet.
        assert_eq!(packet_frames(20, 2), packet_frames(20, 0));
        assert_eq!(packet_frames(30, 2), [5, 8, 11]);
        assert_eq!(packet_frames(10, 7), (1..=12).collect::<Vec<_>>());
    }

    /// Frame indices at which a packetizer of `ptime_ms`, reset and aligned to `phase` before
    /// frame `start`, completes packets, over frames `start..start + 12`.
    fn aligned_frames(ptime_ms: u32, start: u64, phase: u32) -> Vec<u64> {
        let mut p =
            Packetizer::new(Format::PCMU, ptime_ms, 8000, &EncoderConfig::default()).unwrap();
        let frame = [0i16; 80];
        // Some history first, so that the reset has something to forget.
        p.push_frame(&frame);
        p.reset();
        p.align(start, phase);
        (start..start + 12)
            .filter(|_| p.push_frame(&frame).is_some())
            .collect()
    }

    #[test]
    fn aligned_packetizers_complete_on_their_phase_whenever_they_restart() {
        // 20 ms packets: phase 0 completes on even frames, phase 1 on odd ones, from any start.
        for start in [0, 1, 2, 7, 100, 101] {
            let even = aligned_frames(20, start, 0);
            let odd = aligned_frames(20, start, 1);
            assert!(even.iter().all(|f| f % 2 == 0), "{start}: {even:?}");
            assert!(odd.iter().all(|f| f % 2 == 1), "{start}: {odd:?}");
            // At most one frame discarded: the first packet within two frames of a full one.
            assert!(even[0] <= start + 2 && odd[0] <= start + 2, "{start}");
        }
        // 30 ms packets, phase 5 (≡ 2 mod 3).
        assert!(aligned_frames(30, 4, 5).iter().all(|f| f % 3 == 2));
        // 10 ms packets: every frame, whatever the phase.
        assert_eq!(aligned_frames(10, 3, 1), (3..15).collect::<Vec<_>>());
    }
}
