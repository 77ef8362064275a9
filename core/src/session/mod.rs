//! Media sessions: what a worker runs. A session is a set of legs (an RTP/RTCP port pair each)
//! and what connects them: a [relay] (same codec, no decoding), a [transcoder](transcode) (any
//! codec pair, DTMF conversion), a [conference room](conference) (mix-minus over the top
//! talkers), an [echo], or a [player](play). A transcoder can also play an
//! [announcement] into a call.
//!
//! # Life of a session
//!
//! 1. The control plane describes it ([`SessionSpec`], plain data from SDP) and builds it with
//!    [`PreparedSession::new`], on its own thread: codecs, buffers and pools are allocated
//!    there, sized for the worst case (`*_max()` bounds of every component), and every
//!    configuration error is returned there with full context ([`SessionError`]).
//! 2. The built session travels to its worker in a
//!    [`Command::Install`](crate::bus::Command::Install); the worker opens one port pair per leg
//!    and replies with the local ports (for the SDP answer). Conference legs arrive the same
//!    way, one [`PreparedMember`] each.
//! 3. The worker feeds it packets and ticks it every 10 ms. Steady state allocates nothing,
//!    takes no lock and makes no system call: packets go into the worker's transmit queue and
//!    events into its notice ring.
//! 4. Removal closes the ports and hands the state back to the control plane to be freed.
//!
//! # Rates and frames
//!
//! Sessions that decode work in 10 ms frames ([`media::FRAME_MS`]) at a *processing rate*: the
//! room rate for conferences, and for transcoding 16 kHz when either side is wideband, else
//! 8 kHz (the DTMF detector and generator run at 8 or 16 kHz). Each leg converts between its
//! codec and that rate ([`media::Ingress`] in, [`media::Packetizer`] out), so packet-time
//! conversion falls out of the encoder's PCM FIFO.

pub mod announcement;
pub mod conference;
pub mod controls;
pub mod echo;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod leg;
pub mod media;
pub mod play;
pub mod relay;
pub mod transcode;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tandem_codecs::{CodecError, CodecId, EncoderConfig, Format};
use tandem_drivers::packet::PACKET_BUF_BYTES;
use tandem_dsp::dtmf::DtmfError;
use tandem_dsp::jitter::JitterConfigError;
use tandem_dsp::mixer::MixerConfigError;
use tandem_dsp::talk::TalkConfigError;
use tandem_dsp::tone::ToneError;

use crate::bus::{Event, EventKind, Outbox};
use crate::recording::Tap;
use crate::rtp::header::HEADER_LEN_MAX_WITHOUT_EXTENSION;
use crate::rtp::rtcp::NtpTime;
use crate::rtp::{PayloadType, Ssrc};
use crate::worker::tick::TxQueue;

pub use announcement::Announcement;
pub use conference::ConferenceSpec;
pub use controls::{ControlChange, LegControls, MediaDirection};
pub use leg::{LegCounters, LegReport};
pub use media::{PlayoutReport, PlayoutTotals};
pub use play::{PlaySource, PlaySpec, ToneStep};

/// Identifies a session for its whole life; chosen by the control plane, unique per runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// Identifies a leg within its session: `0` and `1` for the two sides of a relay or
/// transcoder, `0` for echo and play, and the control plane's choice for conference legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u32);

impl LegId {
    /// Side A of a two-leg session (and the only leg of echo and play).
    pub const A: LegId = LegId(0);
    /// Side B of a two-leg session.
    pub const B: LegId = LegId(1);
}

/// The codec a leg negotiated: format, payload type and packet time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecSpec {
    /// Codec and sample rate.
    pub format: Format,
    /// The RTP payload type the peer uses for it (static or negotiated).
    pub payload_type: PayloadType,
    /// Packet time we send, ms (SDP `a=ptime`).
    pub ptime_ms: u32,
}

impl CodecSpec {
    /// G.711 µ-law, payload type 0, 20 ms.
    pub const PCMU: CodecSpec = CodecSpec::new(Format::PCMU, PayloadType::PCMU, 20);
    /// G.711 A-law, payload type 8, 20 ms.
    pub const PCMA: CodecSpec = CodecSpec::new(Format::PCMA, PayloadType::PCMA, 20);
    /// G.722, payload type 9, 20 ms.
    pub const G722: CodecSpec = CodecSpec::new(Format::G722, PayloadType::G722, 20);

    /// A codec spec.
    pub const fn new(format: Format, payload_type: PayloadType, ptime_ms: u32) -> Self {
        Self {
            format,
            payload_type,
            ptime_ms,
        }
    }

    /// Opus coded at `sample_rate` (8, 12, 16, 24 or 48 kHz), 20 ms, on a dynamic payload
    /// type.
    pub const fn opus(sample_rate: u32, payload_type: PayloadType) -> Self {
        Self::new(Format::opus(sample_rate), payload_type, 20)
    }

    /// The RTP clock rate (RFC 3551 §4.5.2: 8000 for G.722; RFC 7587: 48000 for Opus).
    pub fn clock_rate(&self) -> u32 {
        self.format
            .descriptor()
            .rtp_clock_rate(self.format.sample_rate)
    }
}

/// The jitter buffer of a leg whose audio its session decodes (transcoding, conferences).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayoutSpec {
    /// `tandem-dsp`'s adaptive jitter buffer: its delay follows the network's, within these
    /// bounds.
    Adaptive {
        /// The least target delay, ms: a floor for peers whose jitter comes in bursts.
        min_delay_ms: u32,
        /// The most delay, ms: a packet later than this is lost rather than waited for.
        max_delay_ms: u32,
    },
    /// The fixed-delay reorder buffer: playout runs this far behind the first packet of a
    /// stream, late packets are lost, nothing is time-stretched.
    Fixed {
        /// The delay, ms (at most [`PlayoutSpec::FIXED_MAX_DELAY_MS`]).
        delay_ms: u32,
    },
}

impl PlayoutSpec {
    /// The adaptive buffer as the engine runs it by default: never under 50 ms, never over
    /// 500. The floor is higher than `tandem-dsp`'s own (20 ms): under jitter, what a lower
    /// floor saves in delay it loses in concealment (BENCHMARKS.md, "The adaptive buffer's
    /// floor"), while on a calm network it still plays 10 ms sooner than a fixed 60 ms buffer.
    pub const ADAPTIVE: Self = Self::Adaptive {
        min_delay_ms: Self::DEFAULT_MIN_DELAY_MS,
        max_delay_ms: Self::DEFAULT_MAX_DELAY_MS,
    };
    /// The fixed buffer at its default delay.
    pub const FIXED: Self = Self::Fixed {
        delay_ms: Self::DEFAULT_FIXED_DELAY_MS,
    };
    /// [`PlayoutSpec::ADAPTIVE`]'s least target delay, ms.
    pub const DEFAULT_MIN_DELAY_MS: u32 = 50;
    /// [`PlayoutSpec::ADAPTIVE`]'s most delay, ms.
    pub const DEFAULT_MAX_DELAY_MS: u32 = 500;
    /// [`PlayoutSpec::FIXED`]'s delay, ms.
    pub const DEFAULT_FIXED_DELAY_MS: u32 = 40;
    /// The longest delay the fixed buffer holds whatever the packet time: its
    /// [`media::PLAYOUT_SLOTS`] hold that much of 10 ms packets, with a slot to spare.
    pub const FIXED_MAX_DELAY_MS: u32 = (media::PLAYOUT_SLOTS as u32 - 2) * 10;

    /// Whether this is the adaptive buffer.
    pub const fn is_adaptive(self) -> bool {
        matches!(self, Self::Adaptive { .. })
    }
}

/// One leg as signalling describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegSpec {
    /// The codec.
    pub codec: CodecSpec,
    /// The RFC 4733 telephone-event payload type, if negotiated (its clock is the codec's
    /// RTP clock).
    pub telephone_event: Option<PayloadType>,
    /// The peer's address from SDP, if known: where media goes until the source is learned,
    /// and the address that may take over during learning.
    pub remote: Option<SocketAddr>,
    /// The peer's SSRC from SDP (`a=ssrc`), if signalled.
    pub expected_ssrc: Option<Ssrc>,
    /// Run the in-band DTMF detector on this leg's received audio (sessions that decode).
    pub dtmf_detect: bool,
    /// The jitter buffer of sessions that decode this leg's audio (see [`media`]).
    pub playout: PlayoutSpec,
    /// No RTP for this long reports [`EventKind::MediaTimeout`]; 0 disables it.
    pub media_timeout_ms: u32,
    /// Settings of the encoder that codes what this leg receives from Tandem (Opus channels,
    /// complexity, bitrate...), for sessions that encode.
    pub encoder: EncoderConfig,
    /// Symmetric RTP (RFC 4961, the default): once the peer's source is locked, media and
    /// RTCP go back to where they come from. Off for a peer that receives elsewhere than it
    /// sends from (rtpengine's `asymmetric`): they go to `remote` whatever the source (the
    /// source is still locked for what is accepted).
    pub symmetric: bool,
    /// Follow the peer to a new source address mid-call without signalling (rtpengine's
    /// `media-handover`; see [`SourceConfig::media_handover`](crate::rtp::source::SourceConfig::media_handover)).
    /// Off by default: the locked source is kept, which is what defeats RTP bleed.
    pub media_handover: bool,
}

impl LegSpec {
    /// A leg with `codec`, no telephone-events, no known peer, no in-band detection, the
    /// adaptive jitter buffer, a 30 s media timeout, default encoder settings and symmetric
    /// RTP.
    pub const fn new(codec: CodecSpec) -> Self {
        Self {
            codec,
            telephone_event: None,
            remote: None,
            expected_ssrc: None,
            dtmf_detect: false,
            playout: PlayoutSpec::ADAPTIVE,
            media_timeout_ms: 30_000,
            encoder: EncoderConfig::DEFAULT,
            symmetric: true,
            media_handover: false,
        }
    }

    /// With or without media handover (following the peer to a new source address).
    pub const fn with_media_handover(mut self, on: bool) -> Self {
        self.media_handover = on;
        self
    }

    /// With symmetric RTP (on, the default) or sending to `remote` only (off).
    pub const fn with_symmetric(mut self, on: bool) -> Self {
        self.symmetric = on;
        self
    }

    /// With these encoder settings (sessions that encode towards this leg).
    pub const fn with_encoder(mut self, encoder: EncoderConfig) -> Self {
        self.encoder = encoder;
        self
    }

    /// With this jitter buffer.
    pub const fn with_playout(mut self, playout: PlayoutSpec) -> Self {
        self.playout = playout;
        self
    }

    /// With the default adaptive jitter buffer (on) or the default fixed-delay reorder buffer
    /// (off).
    pub const fn with_adaptive_playout(mut self, on: bool) -> Self {
        self.playout = if on {
            PlayoutSpec::ADAPTIVE
        } else {
            PlayoutSpec::FIXED
        };
        self
    }

    /// With the peer's address.
    pub const fn with_remote(mut self, remote: SocketAddr) -> Self {
        self.remote = Some(remote);
        self
    }

    /// With RFC 4733 telephone-events on `payload_type`.
    pub const fn with_telephone_event(mut self, payload_type: PayloadType) -> Self {
        self.telephone_event = Some(payload_type);
        self
    }

    /// With or without in-band DTMF detection.
    pub const fn with_dtmf_detect(mut self, on: bool) -> Self {
        self.dtmf_detect = on;
        self
    }

    /// With a media timeout (0 disables it).
    pub const fn with_media_timeout_ms(mut self, ms: u32) -> Self {
        self.media_timeout_ms = ms;
        self
    }
}

/// What kind of session to build, and its legs.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionSpec {
    /// Same codec on both sides: payloads pass through, headers are rewritten.
    Relay {
        /// Side A.
        a: LegSpec,
        /// Side B.
        b: LegSpec,
    },
    /// Any codec pair; DTMF converted between RFC 4733 and in-band as the legs negotiated.
    Transcode {
        /// Side A.
        a: LegSpec,
        /// Side B.
        b: LegSpec,
    },
    /// A conference room; legs join later ([`PreparedMember`]).
    Conference(ConferenceSpec),
    /// One leg whose media is sent back to it.
    Echo(LegSpec),
    /// One leg that receives a WAV file or a tone sequence.
    Play(PlaySpec),
}

/// A session cannot be built as described. Construction errors: rich context, reported to
/// the control plane caller before anything reaches a worker.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// A codec, resampler or transcoding path cannot be built.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The DTMF detector or generator refused its configuration.
    #[error(transparent)]
    Dtmf(#[from] DtmfError),
    /// The conference mixer refused its configuration.
    #[error(transparent)]
    Mixer(#[from] MixerConfigError),
    /// The talk detector refused its configuration.
    #[error(transparent)]
    Talk(#[from] TalkConfigError),
    /// The adaptive jitter buffer refused its configuration.
    #[error(transparent)]
    Jitter(#[from] JitterConfigError),
    /// The fixed jitter buffer cannot hold this delay.
    #[error("a fixed jitter buffer of {delay_ms} ms: at most {max_ms} ms")]
    PlayoutDelay {
        /// The delay asked for.
        delay_ms: u32,
        /// The most it holds.
        max_ms: u32,
    },
    /// A tone of a play sequence is invalid.
    #[error(transparent)]
    Tone(#[from] ToneError),
    /// A relay needs the same codec and rate on both sides.
    #[error("a relay needs the same codec on both legs ({a} vs {b}); transcode instead")]
    RelayNeedsSameCodec {
        /// Side A's format.
        a: Format,
        /// Side B's format.
        b: Format,
    },
    /// The codec does not packetize at this packet time.
    #[error("{codec} does not support a packet time of {ptime_ms} ms")]
    Ptime {
        /// The codec.
        codec: CodecId,
        /// The packet time asked for.
        ptime_ms: u32,
    },
    /// Packets of this codec and packet time would not fit a datagram buffer.
    #[error("{codec} packets of {ptime_ms} ms can reach {bytes} bytes, over the {max}-byte buffer")]
    PacketTooLarge {
        /// The codec.
        codec: CodecId,
        /// The packet time.
        ptime_ms: u32,
        /// Largest packet, with header.
        bytes: usize,
        /// The buffer size.
        max: usize,
    },
    /// The leg's codec and telephone-event payload types are the same.
    #[error("payload type {0} is used for both the codec and telephone-events")]
    PayloadTypeClash(u8),
    /// A WAV file for playback cannot be read.
    #[error("cannot read {path}: {reason}")]
    Wav {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A conference leg was built for another room rate than the room's.
    #[error("the leg was built for a {leg_hz} Hz room, the room runs at {room_hz} Hz")]
    RoomRate {
        /// The leg's rate.
        leg_hz: u32,
        /// The room's rate.
        room_hz: u32,
    },
}

/// Checks what every leg needs, whatever its session: packet time and buffer fit.
fn check_leg(spec: &LegSpec) -> Result<(), SessionError> {
    let codec = spec.codec.format.codec;
    let ptime_ms = spec.codec.ptime_ms;
    if !spec.codec.format.descriptor().supports_ptime(ptime_ms) {
        return Err(SessionError::Ptime { codec, ptime_ms });
    }
    let bytes = spec
        .codec
        .format
        .descriptor()
        .max_payload_len(spec.codec.format.sample_rate, ptime_ms)
        + HEADER_LEN_MAX_WITHOUT_EXTENSION;
    if bytes > PACKET_BUF_BYTES {
        return Err(SessionError::PacketTooLarge {
            codec,
            ptime_ms,
            bytes,
            max: PACKET_BUF_BYTES,
        });
    }
    if spec.telephone_event == Some(spec.codec.payload_type) {
        return Err(SessionError::PayloadTypeClash(
            spec.codec.payload_type.get(),
        ));
    }
    Ok(())
}

/// A seed for a leg's random origins (SSRC, sequence, timestamp, RTCP jitter).
pub(crate) fn leg_seed(session: SessionId, leg: LegId) -> u64 {
    session.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(leg.0).rotate_left(32) ^ 0x5EED
}

/// What a session needs from the worker while it handles a packet or a tick.
pub(crate) struct Ctx<'a> {
    /// The worker's clock, µs.
    pub(crate) now_us: u64,
    /// When the packet being handled arrived, on the same clock (the kernel's receive
    /// timestamp where the worker has one, which may lie a little after `now_us` when the
    /// worker catches up on late ticks); `now_us` outside packet handling.
    pub(crate) arrival_us: u64,
    /// The same instant as wallclock, for RTCP.
    pub(crate) ntp: NtpTime,
    /// The session being served.
    pub(crate) session: SessionId,
    /// Outgoing datagrams.
    pub(crate) tx: &'a mut TxQueue,
    /// Events and replies.
    pub(crate) out: &'a mut Outbox,
    /// The session's recording, if one runs: legs copy accepted media into it.
    pub(crate) tap: Option<&'a mut Tap>,
    /// The worker's running sum of what decoding legs played, lost and concealed.
    pub(crate) playout: &'a mut PlayoutTotals,
}

impl Ctx<'_> {
    /// Reports an event of this session.
    #[inline]
    pub(crate) fn emit(&mut self, leg: Option<LegId>, kind: EventKind) {
        self.out.event(Event {
            session: self.session,
            leg,
            at_us: self.now_us,
            kind,
        });
    }
}

/// The session kinds. Sizes differ, but a session always lives in a `Box<PreparedSession>`,
/// so the enum's size costs nothing per packet.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Kind {
    Relay(relay::Relay),
    Transcode(transcode::Transcode),
    Conference(conference::Conference),
    Echo(echo::Echo),
    Play(play::Play),
}

/// A session built on the control plane, ready to be installed on a worker. See the module
/// docs.
// `repr(C)` keeps the fields in this order: the few bytes every packet reads first (the id,
// the tap) sit beside the start of `kind`, not kilobytes away past it, where Rust's layout
// put them (one more cache miss, and often one more page, per packet).
#[derive(Debug)]
#[repr(C)]
pub struct PreparedSession {
    id: SessionId,
    /// The recording attached by the worker, if any (kept across a replace).
    pub(crate) tap: Option<Box<Tap>>,
    cost: u32,
    pub(crate) kind: Kind,
}

impl PreparedSession {
    /// Builds the session `id` described by `spec`: every codec, buffer and pool it will
    /// use. Allocates; call it on a control-plane thread.
    ///
    /// # Errors
    ///
    /// [`SessionError`] when the description cannot work (codec pair, packet time, DTMF or
    /// mixer settings, an unreadable WAV file...).
    pub fn new(id: SessionId, spec: &SessionSpec) -> Result<Self, SessionError> {
        let (kind, cost) = match spec {
            SessionSpec::Relay { a, b } => {
                check_leg(a)?;
                check_leg(b)?;
                (Kind::Relay(relay::Relay::new(id, a, b)?), 2)
            }
            SessionSpec::Transcode { a, b } => {
                check_leg(a)?;
                check_leg(b)?;
                let cost = 2 + codec_cost(&a.codec) + codec_cost(&b.codec);
                (Kind::Transcode(transcode::Transcode::new(id, a, b)?), cost)
            }
            SessionSpec::Conference(room) => {
                (Kind::Conference(conference::Conference::new(room)?), 1)
            }
            SessionSpec::Echo(leg) => {
                check_leg(leg)?;
                (Kind::Echo(echo::Echo::new(id, leg)), 1)
            }
            SessionSpec::Play(play) => {
                check_leg(&play.leg)?;
                let cost = 1 + codec_cost(&play.leg.codec);
                (Kind::Play(play::Play::new(id, play)?), cost)
            }
        };
        Ok(Self {
            id,
            kind,
            cost,
            tap: None,
        })
    }

    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The placement cost estimate of the session as built (conference legs add their own).
    pub fn cost(&self) -> u32 {
        self.cost
    }

    /// The number of legs installed with the session (conference legs join later).
    pub fn leg_count(&self) -> usize {
        match &self.kind {
            Kind::Relay(_) | Kind::Transcode(_) => 2,
            Kind::Echo(_) | Kind::Play(_) => 1,
            Kind::Conference(_) => 0,
        }
    }

    /// The room's configuration, for a conference.
    pub fn conference(&self) -> Option<&ConferenceSpec> {
        match &self.kind {
            Kind::Conference(c) => Some(c.spec()),
            _ => None,
        }
    }

    /// Puts the session's encoders in tick slot `slot` (transcoding sessions and conference
    /// rooms; the others encode nothing), so that sessions installed together do not all
    /// encode and send in the same tick. See [`media::Packetizer::stagger`] and
    /// [`media::Packetizer::align`].
    pub(crate) fn stagger(&mut self, slot: u32) {
        match &mut self.kind {
            Kind::Transcode(s) => s.stagger(slot),
            Kind::Conference(s) => s.stagger(slot),
            Kind::Relay(_) | Kind::Echo(_) | Kind::Play(_) => {}
        }
    }

    /// The leg at routing index `index`.
    pub(crate) fn leg_mut(&mut self, index: usize) -> Option<&mut leg::Leg> {
        match &mut self.kind {
            Kind::Relay(s) => s.legs.get_mut(index),
            Kind::Transcode(s) => s.leg_mut(index),
            Kind::Echo(s) => (index == 0).then_some(&mut s.leg),
            Kind::Play(s) => (index == 0).then_some(&mut s.leg),
            Kind::Conference(s) => s.leg_mut(index),
        }
    }

    /// What the jitter buffer of the leg at routing index `index` did, if the session
    /// decodes that leg.
    pub(crate) fn playout_report(&self, index: usize) -> Option<PlayoutReport> {
        match &self.kind {
            Kind::Transcode(s) => s.playout_report(index),
            Kind::Conference(s) => s.playout_report(index),
            Kind::Relay(_) | Kind::Echo(_) | Kind::Play(_) => None,
        }
    }

    /// The routing index of leg `id`, if the session has it.
    pub(crate) fn leg_index(&self, id: LegId) -> Option<usize> {
        match &self.kind {
            Kind::Relay(_) | Kind::Transcode(_) => (id.0 < 2).then_some(id.0 as usize),
            Kind::Echo(_) | Kind::Play(_) => (id.0 == 0).then_some(0),
            Kind::Conference(s) => s.index_of(id),
        }
    }

    /// A datagram arrived on the RTP port of leg `index`.
    pub(crate) fn handle_rtp(
        &mut self,
        index: usize,
        ctx: &mut Ctx<'_>,
        source: SocketAddr,
        datagram: &mut [u8],
    ) {
        // Lend the session's recording tap to its legs for this packet.
        let ctx = &mut Ctx {
            now_us: ctx.now_us,
            arrival_us: ctx.arrival_us,
            ntp: ctx.ntp,
            session: ctx.session,
            tx: &mut *ctx.tx,
            out: &mut *ctx.out,
            tap: self.tap.as_deref_mut(),
            playout: &mut *ctx.playout,
        };
        match &mut self.kind {
            Kind::Relay(s) => s.handle_rtp(index, ctx, source, datagram),
            Kind::Transcode(s) => s.handle_rtp(index, ctx, source, datagram),
            Kind::Conference(s) => s.handle_rtp(index, ctx, source, datagram),
            Kind::Echo(s) => s.handle_rtp(ctx, source, datagram),
            Kind::Play(s) => s.handle_rtp(ctx, source, datagram),
        }
    }

    /// A datagram arrived on the RTCP port of leg `index`.
    pub(crate) fn handle_rtcp(
        &mut self,
        index: usize,
        ctx: &mut Ctx<'_>,
        source: SocketAddr,
        datagram: &[u8],
    ) {
        if let Some(leg) = self.leg_mut(index) {
            leg.handle_rtcp(ctx, source, datagram);
        }
    }

    /// The worker's time (µs) before which [`PreparedSession::tick`] has nothing to do; 0
    /// for sessions that work every tick (they decode, encode or play on the tick's clock).
    /// Only valid until the session next handles a packet or a command.
    pub(crate) fn tick_due_us(&self) -> u64 {
        match &self.kind {
            Kind::Relay(s) => s.tick_due_us(),
            Kind::Transcode(_) | Kind::Conference(_) | Kind::Echo(_) | Kind::Play(_) => 0,
        }
    }

    /// Runs one 10 ms tick.
    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_>) {
        match &mut self.kind {
            Kind::Relay(s) => s.tick(ctx),
            Kind::Transcode(s) => s.tick(ctx),
            Kind::Conference(s) => s.tick(ctx),
            Kind::Echo(s) => s.tick(ctx),
            Kind::Play(s) => s.tick(ctx),
        }
    }

    /// Queues DTMF digits into leg `index`.
    pub(crate) fn send_digits(&mut self, index: usize, digits: &str) -> bool {
        match &mut self.kind {
            Kind::Transcode(s) => s.send_digits(index, digits),
            Kind::Conference(s) => s.send_digits(index, digits),
            Kind::Play(s) => s.send_digits(digits),
            Kind::Relay(_) | Kind::Echo(_) => false,
        }
    }

    /// Applies `change` to the controls of leg `index` at `now_us`; returns the leg's
    /// controls after it, or `None` if there is no such leg.
    pub(crate) fn set_controls(
        &mut self,
        index: usize,
        now_us: u64,
        change: &ControlChange,
    ) -> Option<LegControls> {
        if let Kind::Conference(room) = &mut self.kind {
            return room.set_controls(index, now_us, change);
        }
        let leg = self.leg_mut(index)?;
        let controls = leg.controls.with(change);
        leg.set_controls(now_us, controls);
        Some(controls)
    }

    /// Plays `announcement` towards leg `index` (transcoders only). Returns the one it
    /// replaces, or hands `announcement` back when the session cannot take it.
    #[allow(clippy::result_large_err)]
    pub(crate) fn announce(
        &mut self,
        index: usize,
        announcement: Box<Announcement>,
    ) -> Result<Option<Box<Announcement>>, Box<Announcement>> {
        match &mut self.kind {
            Kind::Transcode(s) => s.announce(index, announcement),
            _ => Err(announcement),
        }
    }

    /// Takes the announcement playing (or played) towards leg `index`, if any.
    pub(crate) fn take_announcement(&mut self, index: usize) -> Option<Box<Announcement>> {
        match &mut self.kind {
            Kind::Transcode(s) => s.take_announcement(index),
            _ => None,
        }
    }

    /// The conference, if this session is one.
    pub(crate) fn conference_mut(&mut self) -> Option<&mut conference::Conference> {
        match &mut self.kind {
            Kind::Conference(c) => Some(c),
            _ => None,
        }
    }
}

/// A conference leg built on the control plane for a room's rate, ready to join it.
#[derive(Debug)]
pub struct PreparedMember {
    pub(crate) member: conference::Member,
}

impl PreparedMember {
    /// Builds leg `leg` of room `room` (of session `session`): its decoder, talk and DTMF
    /// detectors, and an encoder bank for its codec (used if the room has none yet).
    /// Allocates; call it on a control-plane thread.
    ///
    /// # Errors
    ///
    /// [`SessionError`] when the leg's codec cannot run in the room.
    pub fn new(
        session: SessionId,
        leg: LegId,
        spec: &LegSpec,
        room: &ConferenceSpec,
    ) -> Result<Self, SessionError> {
        check_leg(spec)?;
        Ok(Self {
            member: conference::Member::new(session, leg, spec, room)?,
        })
    }

    /// The leg's id.
    pub fn leg(&self) -> LegId {
        self.member.leg.id
    }

    /// The placement cost the leg adds to its room's worker.
    pub fn cost(&self) -> u32 {
        1 + codec_cost(&self.member.leg.spec.codec)
    }
}

/// Relative cost of decoding and encoding a codec, in placement units (G.711 = 1).
fn codec_cost(codec: &CodecSpec) -> u32 {
    let cost = codec.format.descriptor().cost;
    (cost.encode + cost.decode).div_ceil(2).max(1)
}

/// A PCM source held in memory and shared (a play session's decoded file).
pub type SharedPcm = Arc<[i16]>;
