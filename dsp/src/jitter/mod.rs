//! The adaptive jitter buffer: RTP packets in, as they arrive; one frame of PCM out per tick,
//! concealed, recovered, stretched or compressed as the network requires.
//!
//! # Contract
//!
//! - **Time is an argument**, in microseconds of the receiver's clock (`now_us`), monotonic, any
//!   origin. The buffer never reads a clock. Packets are pushed with their arrival time;
//!   [`JitterBuffer::pop`] is called once per frame (10 or 20 ms, [`JitterConfig::frame_ms`])
//!   with the time the frame starts playing, and writes exactly [`JitterBuffer::frame_samples`]
//!   samples at the decoder's rate.
//! - **Order**: packets are played in RTP sequence order, each at most once. A packet is played
//!   if it arrives before playout has passed its position; otherwise it is
//!   [`PushError::Late`] (or, if it already played, [`PushError::Duplicate`]). A stored packet
//!   is dropped unplayed only to keep the delay under [`JitterConfig::max_delay_ms`], when a
//!   new stream replaces it, or when playout skips over it; each such packet is counted in
//!   [`JitterStats::packets_discarded`].
//! - **Bounded delay**: the buffering delay ([`JitterStats::current_delay_ms`]: how long the
//!   fastest recent packets wait before they play) stays at or below `max_delay_ms`; no packet
//!   waits longer than that between its arrival and the start of its playout (up to one frame
//!   of rounding).
//! - **Streams**: an SSRC change or a jump of sequence number (confirmed by the next packet,
//!   RFC 3550 §A.1) starts a new stream: stored packets are discarded, the decoder is reset,
//!   and audio continues from concealment into the new stream. A jump of the timestamps alone,
//!   with sequence numbers running on, moves the stream's timeline instead, so that the jumped
//!   packet follows the one before it: nothing is lost or reset
//!   ([`JitterStats::timestamp_jumps`]). An overtaken packet from before such a jump still
//!   plays where it was sent: the timelines the last two jumps left are remembered, so a
//!   straggler maps by its sequence number to the one it belongs to. An older packet whose
//!   timestamp fits no timeline is dropped ([`PushError::StaleTimeline`]) rather than let
//!   move the transit floor.
//!
//! # Design
//!
//! The shape is WebRTC NetEq's: a packet buffer (`buffer.rs`), a delay estimator
//! ([`playout`]), a sync buffer of decoded audio (`sync.rs`) and, each time the decoded audio
//! runs short, one decision among decode, conceal, recover from FEC, comfort noise, accelerate
//! and decelerate. What it decides was tuned against PESQ (P.862) with the evaluation harness
//! `benches/src/bin/jitter_eval.rs`; the figures and the reasoning are in BENCHMARKS.md
//! ("Jitter buffer"). The one lesson that shaped everything: every change of timing inside an
//! utterance costs quality, so the buffer changes its delay rarely, by whole steps, and where
//! possible in pauses.
//!
//! - **Target delay** ([`playout`]): the lower of the highest confirmed relative arrival delay
//!   of the last 4 s (isolated spikes are not chased) and the 98th percentile of the last 400
//!   packets (a delay only 2 % of packets have is given up), plus the decoding granularity (one
//!   frame) and a 5 ms safety margin; bounded by [`JitterConfig::min_delay_ms`] and [`JitterConfig::max_delay_ms`].
//! - **Playout offset** `O = now + decoded-but-unplayed - next position`: the distance between
//!   the receiver's clock and the stream position being played. A packet is in time when
//!   `O >= its transit offset`; the target asks for `O = floor + target`. The reported
//!   [`JitterStats::current_delay_ms`] is `O - floor`.
//! - **Nothing to play** (the next packet in sequence has not arrived, nor any after it): in a
//!   pause, the buffer conceals one frame *without advancing* the stream position (NetEq's
//!   expand), so a late packet that turns up is still played and the delay grows by what was
//!   concealed, up to 40 ms above target. Inside speech it waits only while the wait keeps
//!   the delay at or below target (so from a frame below it; a delay short of the target by
//!   less than a frame is made up in the next pause): otherwise the frame is concealed in
//!   place and the position runs on with the clock, as in a fixed buffer, since a wait there
//!   shifts the rest of the utterance, which costs more (in PESQ) than the concealed frame.
//!   The exception waits up to 10 ms above target: while the target is rising (10 ms above
//!   its low of the last 2 s: a congestion episode setting in, whose late packets are the
//!   first of many, each of which would otherwise lose its head). Each such wait costs 0.03
//!   to 0.09 PESQ MOS (a 10 ms change of timing inside an utterance), but never waiting
//!   loses more when congestion sets in. The rule is the same whichever concealment fills
//!   the wait.
//! - **A late packet's tail**: a packet that arrives after playout concealed its first frame,
//!   but before it passed its last, still plays the rest, blended in from the concealment
//!   (NetEq's merge). Where a fixed buffer loses the whole packet, this one loses a frame.
//!   With the codec's own concealment, the decoder continues its concealment for 5 ms to blend
//!   from, then decodes the late packet whole and plays its tail.
//! - **A wait is not a loss.** Where the decoder can save its state (Opus,
//!   [`tandem_codecs::Decoder::checkpoint`]), it does so when its concealment of a gap begins;
//!   when the packet that gap waited for turns up (after a wait, or late with its tail to
//!   play), the concealment is taken back and the packet decoded as the one after its
//!   predecessor, then blended in from 5 ms more concealment. Decoded as a packet after a loss,
//!   its first frame would be built on concealed history (libopus' SILK and CELT both carry
//!   state from frame to frame); taken back, playout continues exactly as a decoder that never
//!   concealed would. Under congestion this is worth 0.14 PESQ MOS with Opus
//!   (BENCHMARKS.md).
//! - **A hole** (a later packet is stored): the missing audio is concealed and given up when
//!   the later packet is due (its position plus the target offset), or at once when the delay
//!   is that far above target; with Opus, the frame just before the stored packet is first
//!   recovered from its in-band FEC ([`tandem_codecs::Decoder::recover_from_next`]), and if
//!   playout already concealed its head, the whole frame is recovered and its tail blended in
//!   (asked for less than the packet, libopus conceals instead of using the FEC). Not sooner:
//!   recovering at once where playout conceals a hole in place gives up a packet whose own
//!   tail may still come, which measured worse (`reorder`, `mixed`).
//! - **Silence and talkspurts.** A gap without missing sequence numbers is discontinuous
//!   transmission, not loss: after RFC 3389 comfort noise the gap is filled with noise at the
//!   signalled level, otherwise concealment fades to silence within 60 ms (so a DTX gap costs
//!   at most six concealed 10 ms frames, never a storm, and the codec's PLC stops too). The next
//!   talkspurt starts when it is due under the *current* target: silence is where the delay
//!   adapts for free.
//! - **Time-stretching** ([`stretch`]) moves the delay towards the target when it is more than
//!   10 ms above or below (below target, packets come late), by removing or repeating
//!   quiet audio, up to 15 ms a packet, but only once
//!   200 ms of quiet audio have played in a row: a pause between phrases or sentences, where a
//!   change of timing is inaudible (and PESQ, which aligns each utterance on its own, does not
//!   see it), never the gap between two words or a stop consonant's closure (waiting for
//!   200 ms rather than 80 measured better under ViSQOL in every jittery scenario, and no
//!   worse under PESQ: BENCHMARKS.md). The same 200 ms make a pause for the waits above. Voiced
//!   speech is sped up only when the delay is 80 ms above target, and slowed down only when
//!   60 ms below, one pitch period at a time (WSOLA-style overlap-add, so the pitch does not
//!   change). Clock drift is absorbed this way without dropping a frame. A sender whose clock
//!   runs slow (the transit floor rising by more than 1 ms/s) drains the delay inside each
//!   talkspurt, where pauses are rare: then quiet audio is also lengthened after 20 ms of
//!   quiet (the gaps between words) from 2 ms below target, which keeps the delay on target
//!   with no drift headroom in it.
//! - **Concealment**: the codec's own where it has one (Opus, G.729); otherwise waveform
//!   substitution after ITU-T G.711 Appendix I ([`conceal`]).
//! - [`PlayoutMode::Fixed`] keeps a constant target above the transit floor without
//!   stretching, gives up missing packets at their due time and corrects drift by frame
//!   slips: a fixed buffer made as strong as a fixed delay can be, kept as the baseline the
//!   adaptive one is measured against. [`PlayoutMode::Anchored`] is the fixed buffer
//!   telephony engines ship (Asterisk's `fixed`): anchored at the first packet, resynchronised
//!   only when a late packet finds it empty; the second baseline.
//!
//! # Real-time
//!
//! [`JitterBuffer::new`] and [`JitterBuffer::with_decoder`] allocate everything: packet slots
//! ([`JitterBuffer::slots`] of [`JitterBuffer::payload_max`] bytes), the sync buffer, the
//! concealment's and the stretcher's scratch. [`JitterBuffer::push`],
//! [`JitterBuffer::pop`], [`JitterBuffer::reset`] and the accessors never allocate, lock, log
//! or make system calls; the decoder is called only from `pop`.
//!
//! ```
//! use tandem_codecs::Format;
//! use tandem_dsp::jitter::{JitterBuffer, JitterConfig, RtpPacket};
//!
//! let mut jb = JitterBuffer::new(Format::PCMU, &JitterConfig::new(0)).unwrap();
//! let payload = [0xFFu8; 160];
//! let mut pcm = vec![0i16; jb.frame_samples()];
//! for i in 0..50u16 {
//!     let now_us = u64::from(i) * 20_000;
//!     let packet = RtpPacket {
//!         sequence_number: i,
//!         timestamp: u32::from(i) * 160,
//!         marker: i == 0,
//!         ssrc: 0x1234,
//!         payload_type: 0,
//!         payload: &payload,
//!     };
//!     jb.push(now_us, &packet).unwrap();
//!     jb.pop(now_us, &mut pcm).unwrap();
//!     jb.pop(now_us + 10_000, &mut pcm).unwrap();
//! }
//! assert!(jb.stats().packets_played > 40);
//! ```

pub(crate) mod buffer;
pub mod conceal;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod playout;
pub mod stretch;
pub(crate) mod sync;

use tandem_codecs::{CodecId, Decoder, Format, registry};

use buffer::{Insert, PacketBuffer, PacketInfo, PacketKind};
use conceal::{ComfortNoise, WaveformSubstitution};
use playout::{DelayEstimator, TargetTrend};
use stretch::{Allow, TimeStretch};
use sync::SyncBuffer;

pub use error::{JitterConfigError, PopError, PushError};

/// The longest delay a buffer may be configured for.
pub const MAX_DELAY_LIMIT_MS: u32 = 2000;

/// RFC 3550 §A.1: a sequence number this far ahead of the highest seen is a discontinuity.
const MAX_DROPOUT: i64 = 3000;
/// RFC 3550 §A.1: a sequence number this far behind the highest seen is a discontinuity.
const MAX_MISORDER: i64 = 100;
/// A timestamp that went back, or ahead further than the time since the newest packet
/// explains, by more than the maximum delay plus this, is a discontinuity. Two packets'
/// arrivals differ from their timestamps' by at most the network's delay spread, which a
/// buffer covers only up to its maximum delay; the rest is margin.
const TIMESTAMP_JUMP_SLACK_MS: u32 = 200;
/// Stragglers from the previous SSRC are dropped for this long after a switch.
const STALE_SSRC_US: i64 = 1_000_000;
/// Quiet audio is stretched to speed playout up when the delay is this far above target.
const STRETCH_QUIET_MS: u32 = 10;
/// Quiet audio is stretched only once this much of it has played in a row: a pause between
/// phrases or sentences, not the closure of a stop consonant or a gap between two words
/// (80 ms let some of those through, and cost quality: BENCHMARKS.md).
const SILENCE_MS: u32 = 200;
/// Voiced speech is sped up only when the delay is this far above target.
const ACCELERATE_VOICED_MS: u32 = 80;
/// Voiced speech is slowed down only when the delay is this far below target.
const DECELERATE_VOICED_MS: u32 = 60;
/// Quiet audio is stretched to slow playout down as soon as the delay is this far below
/// target: a delay under target makes packets late, and in a pause the fix is free.
const STRETCH_QUIET_BELOW_MS: u32 = 10;
/// Added to the target beyond the estimated delay spread.
const SAFETY_MS: u32 = 5;
/// A sender clock running slow by more than this (ms per s) drains the delay inside
/// talkspurts, where [`SILENCE_MS`] of quiet rarely come.
const SLOW_DRIFT_MS_PER_S: f32 = 1.0;
/// Under such a drift, quiet audio is stretched to slow playout down once this much of it
/// played in a row (the gaps between words), from [`DRIFT_BELOW_MS`] below target.
const DRIFT_QUIET_MS: u32 = 20;
const DRIFT_BELOW_MS: u32 = 2;
/// With nothing left to play in a pause, playout waits for a late packet until the delay is
/// this far above target, then gives the packet up.
const HOLD_ALLOWANCE_MS: u32 = 40;
/// The same inside speech, where a wait is a change of timing that PESQ (and a listener)
/// notices more than a concealed frame: playout waits only while below target.
const HOLD_IN_SPEECH_MS: u32 = 0;
/// The same while the target is rising ([`playout::RISE_MS`] above its low of the last 2 s):
/// the packets now late are the first of many (a congestion episode setting in), and a wait
/// that lets them play whole costs less than concealing the head of each (measured:
/// BENCHMARKS.md, "Waiting while the target rises"). Codecs with their own concealment
/// waited 10 ms always until their concealment could be taken back ([`Decoder::checkpoint`]);
/// since, they wait as ours does (BENCHMARKS.md, "A wait is not a loss").
const HOLD_IN_SPEECH_RISING_MS: u32 = 10;
/// Room for early and reordered packets beyond the maximum delay, in 10 ms slots.
const EARLY_SLOTS: usize = 20;

/// How playout delay is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayoutMode {
    /// Target from the observed delay distribution, time-stretching towards it.
    Adaptive,
    /// A constant target above the transit floor (the fastest packet of the last 2 s); late
    /// packets are lost; drift is corrected by frame slips. The floor follows slow changes of
    /// the network's delay, so this is a stronger baseline than the classic fixed buffer.
    Fixed {
        /// The target delay in ms.
        delay_ms: u32,
    },
    /// The classic fixed buffer of telephony engines (Asterisk's `fixed` jitter buffer):
    /// every packet plays `delay_ms` after the time the stream's first packet arrived plus
    /// its timestamp offset; late packets are lost; the anchor moves only when a late packet
    /// finds no packet stored (the link stalled or the sender's clock ran slow), to that
    /// packet's arrival. Nothing corrects drift otherwise. A baseline to measure against.
    Anchored {
        /// The delay after the anchor, in ms.
        delay_ms: u32,
    },
}

/// How a [`JitterBuffer`] behaves. [`JitterConfig::new`] gives the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// The RTP payload type of the codec's packets.
    pub payload_type: u8,
    /// The RTP payload type of RFC 3389 comfort noise, if negotiated (default 13, RFC 3551).
    pub comfort_noise_payload_type: Option<u8>,
    /// Samples per [`JitterBuffer::pop`], in ms: 10 or 20 (default 10).
    pub frame_ms: u32,
    /// Smallest target delay (default 20 ms).
    pub min_delay_ms: u32,
    /// Largest delay (default 500 ms, at most [`MAX_DELAY_LIMIT_MS`]).
    pub max_delay_ms: u32,
    /// Target before enough packets were seen to measure one (default 40 ms).
    pub initial_delay_ms: u32,
    /// Longest packet accepted, in ms (default 60, at most 120): sizes the slots.
    pub max_ptime_ms: u32,
    /// Adaptive (default) or fixed.
    pub mode: PlayoutMode,
}

impl JitterConfig {
    /// The defaults for a stream of payload type `payload_type`.
    pub const fn new(payload_type: u8) -> Self {
        Self {
            payload_type,
            comfort_noise_payload_type: Some(13),
            frame_ms: 10,
            min_delay_ms: 20,
            max_delay_ms: 500,
            initial_delay_ms: 40,
            max_ptime_ms: 60,
            mode: PlayoutMode::Adaptive,
        }
    }
}

/// The facts of one RTP packet the buffer uses (RFC 3550 §5.1); the caller parsed the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Sequence number.
    pub sequence_number: u16,
    /// Timestamp, in the codec's RTP clock.
    pub timestamp: u32,
    /// Marker bit: the first packet of a talkspurt for audio (RFC 3551 §4.1).
    pub marker: bool,
    /// Synchronization source.
    pub ssrc: u32,
    /// Payload type.
    pub payload_type: u8,
    /// Payload, padding removed.
    pub payload: &'a [u8],
}

/// What a stored packet did to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout, in order.
    Stored,
    /// Stored for playout; it arrived after a packet with a higher sequence number.
    Reordered,
    /// Stored as the first packet of a new stream (new SSRC, or a confirmed discontinuity).
    NewStream,
    /// A payload type that is neither the codec's nor comfort noise (for example RFC 4733
    /// telephone events): not stored, but its sequence number is not counted as lost.
    Ignored,
}

/// What one popped frame holds. Where a frame holds audio of several kinds, the one listed
/// last here wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlayoutEvent {
    /// Decoded audio.
    Normal,
    /// Decoded audio, slowed down by repeating a pitch period.
    Decelerated,
    /// Decoded audio, sped up by removing a pitch period.
    Accelerated,
    /// Audio recovered from the next packet's forward error correction.
    FecRecovered,
    /// Comfort noise in a discontinuous-transmission gap.
    ComfortNoise,
    /// Silence: concealment faded out, or nothing has arrived yet.
    Silence,
    /// Nothing to play yet: waiting for the first packet to be due.
    Buffering,
    /// Synthetic audio standing in for a missing packet.
    Concealed,
}

impl PlayoutEvent {
    pub(crate) fn severity(self) -> u8 {
        self as u8
    }
}

/// Counters of a [`JitterBuffer`], cumulative since construction (or [`JitterBuffer::reset`]),
/// except the two delays, which are current.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JitterStats {
    /// Packets pushed, whatever became of them.
    pub packets_received: u64,
    /// Packets decoded and played.
    pub packets_played: u64,
    /// Packets that arrived after playout passed them.
    pub packets_late: u64,
    /// Late packets whose head was concealed but whose tail was still played in time.
    pub late_tails_played: u64,
    /// Gaps whose codec concealment was taken back ([`Decoder::checkpoint`]): the packet the
    /// gap waited for turned up and was decoded as the one after its predecessor, or the lost
    /// frame was recovered from the next packet's FEC from its predecessor's state.
    pub concealment_rewinds: u64,
    /// Packets already stored or played.
    pub packets_duplicate: u64,
    /// Packets that arrived after one with a higher sequence number.
    pub packets_reordered: u64,
    /// Sequence numbers playout passed without the packet (never arrived in time).
    pub packets_lost: u64,
    /// Packets stored but dropped unplayed (delay over the maximum, new stream, skipped).
    pub packets_discarded: u64,
    /// Packets refused as malformed, too large, too far ahead or from a stale SSRC.
    pub packets_rejected: u64,
    /// Payloads the decoder refused (then concealed).
    pub decode_errors: u64,
    /// Frames recovered from forward error correction.
    pub fec_recoveries: u64,
    /// Popped frames holding concealment.
    pub frames_concealed: u64,
    /// Popped frames holding comfort noise.
    pub frames_comfort_noise: u64,
    /// Popped frames of silence (faded concealment).
    pub frames_silence: u64,
    /// Popped frames while waiting for a stream to start.
    pub frames_buffering: u64,
    /// Pitch periods removed.
    pub accelerate_ops: u64,
    /// Pitch periods repeated.
    pub decelerate_ops: u64,
    /// Samples removed by accelerating.
    pub samples_removed: u64,
    /// Samples added by decelerating.
    pub samples_inserted: u64,
    /// Frame slips of the fixed mode: packets dropped to correct drift.
    pub slips: u64,
    /// New streams started (SSRC changes, confirmed discontinuities), after the first.
    pub stream_resets: u64,
    /// Timestamp jumps inside a stream whose sequence numbers ran on: the timeline was moved
    /// to join the jumped packets to the ones before them, and nothing was reset.
    pub timestamp_jumps: u64,
    /// Talkspurts started (packets with the marker bit set).
    pub talkspurts: u64,
    /// The current buffering delay in ms.
    pub current_delay_ms: u32,
    /// The current target delay in ms.
    pub target_delay_ms: u32,
}

/// Per-SSRC state: how sequence numbers and timestamps extend.
#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    /// Extended timestamp of position 0.
    base_ts: i64,
    highest_seq: i64,
    /// Extended timestamp, position, arrival and duration (samples; 0 for comfort noise) of the
    /// packet with the highest sequence number.
    highest_ts: i64,
    highest_pos: i64,
    highest_arrival: i64,
    highest_duration: i64,
    /// Duration of the newest audio packet, in samples: the step a timestamp jump assumes.
    packet_duration: i64,
    /// Bit i: sequence number `highest_seq - i` carried a payload type we ignore.
    ignored: u128,
    /// A discontinuity waiting for confirmation: (sequence number, timestamp).
    probation: Option<(u16, u32)>,
    /// The last [`REMEMBERED_JUMPS`] timestamp jumps the stream rejoined, newest first:
    /// packets numbered before a jump still map to the timeline they were sent on.
    jumps: [Option<TimestampJump>; REMEMBERED_JUMPS],
}

/// Timestamp jumps whose stragglers are still placed: two cover a single corrupt timestamp
/// (a jump and the jump back).
const REMEMBERED_JUMPS: usize = 2;

/// A timestamp jump the stream rejoined, and the timeline it left.
#[derive(Debug, Clone, Copy)]
struct TimestampJump {
    /// Extended sequence number of the first packet on the new timeline.
    from_seq: i64,
    /// The old timeline: its extended timestamp of position 0, and the extended timestamp of
    /// its newest packet (to extend a straggler's timestamp from).
    base_ts: i64,
    highest_ts: i64,
}

impl Stream {
    fn new(packet: &RtpPacket<'_>, arrival: i64) -> Self {
        Self {
            ssrc: packet.ssrc,
            base_ts: i64::from(packet.timestamp),
            // Start far from zero so reordered early packets stay positive.
            highest_seq: (1 << 24) + i64::from(packet.sequence_number),
            highest_ts: i64::from(packet.timestamp),
            highest_pos: 0,
            highest_arrival: arrival,
            highest_duration: 0,
            packet_duration: 0,
            ignored: 0,
            probation: None,
            jumps: [None; REMEMBERED_JUMPS],
        }
    }

    fn extend_seq(&self, seq: u16) -> i64 {
        self.highest_seq + i64::from(seq.wrapping_sub(self.highest_seq as u16) as i16)
    }

    /// Whether a packet no newer than the newest (`ext_seq`) sits where its sequence number
    /// allows: not after the newest packet, and not further back than its distance in
    /// packets of the `longest` accepted duration plus `slack`. One that does not is from
    /// before a timestamp jump the stream has rejoined since. Newer packets always fit.
    fn fits_timeline(&self, ext_seq: i64, pos: i64, longest: i64, slack: i64) -> bool {
        let back = self.highest_seq - ext_seq;
        back < 0 || (self.highest_pos - back * longest - slack..=self.highest_pos).contains(&pos)
    }

    /// Whether `seq` follows the newest sequence number within RFC 3550 §A.1's range: a
    /// discontinuity there is a jump of the sender's timestamps alone (a media server that
    /// switched its source, or restarted its clock, and kept its SSRC and numbering).
    fn runs_on_to(&self, seq: u16) -> bool {
        (1..=MAX_DROPOUT).contains(&(self.extend_seq(seq) - self.highest_seq))
    }

    fn extend_ts(&self, ts: u32) -> i64 {
        extend_from(self.highest_ts, ts)
    }

    /// Where a packet numbered `ext_seq` with timestamp `ts` sits on the stream, in RTP clock
    /// units from position 0: on the timeline it was sent on, which for a straggler from
    /// before a remembered timestamp jump is the one the jump left.
    fn ticks_from_start(&self, ext_seq: i64, ts: u32) -> i64 {
        let mut timeline = (self.base_ts, self.highest_ts);
        for jump in self.jumps.iter().flatten() {
            if ext_seq >= jump.from_seq {
                break;
            }
            timeline = (jump.base_ts, jump.highest_ts);
        }
        let (base_ts, highest_ts) = timeline;
        extend_from(highest_ts, ts) - base_ts
    }
}

/// `ts` extended to the 64-bit timestamp nearest `near`.
fn extend_from(near: i64, ts: u32) -> i64 {
    near + i64::from(ts.wrapping_sub(near as u32) as i32)
}

/// An adaptive jitter buffer with loss concealment for one RTP stream. See the
/// [module docs](self).
pub struct JitterBuffer {
    config: JitterConfig,
    decoder: Box<dyn Decoder>,
    rate: u32,
    rtp_rate: u32,
    frame: usize,
    /// Decoded samples kept unplayed for the concealment's onset blend.
    max_packet: usize,
    /// Our concealment, for codecs without their own.
    plc: Option<WaveformSubstitution>,
    has_fec: bool,
    comfort_noise: ComfortNoise,
    stretch: TimeStretch,
    packets: PacketBuffer,
    sync: SyncBuffer,
    estimator: DelayEstimator,
    stream: Option<Stream>,
    /// The SSRC switched away from, and when.
    previous_ssrc: Option<(u32, i64)>,
    /// Stream position of the next sample to decode; `None` until a stream starts playing.
    next_pos: Option<i64>,
    /// Highest extended sequence number whose fate is decided (played, lost or skipped).
    last_seq: Option<i64>,
    /// Bit i: sequence number `last_seq - i` was played.
    played: u128,
    /// The last packet played was comfort noise: fill gaps with noise.
    comfort_noise_active: bool,
    /// Samples of codec concealment since the last decoded packet.
    codec_erased: usize,
    /// The decoder saved its state as its concealment of the current gap began: if the packet
    /// after the last one decoded turns up, the concealment is taken back.
    rewindable: bool,
    /// The codec's concealment continued past a late packet's head, to blend its tail in from
    /// (codecs that conceal for us; empty otherwise).
    tail_blend: Box<[i16]>,
    /// The next decoded packet does not continue the previous audio: blend it in.
    need_splice: bool,
    /// Samples of quiet audio (below [`stretch::QUIET_RMS`]) committed in a row, up to now.
    quiet_run: usize,
    /// Audio has been played since construction or reset.
    started: bool,
    /// The receiver clock at the current pop, in samples.
    now: i64,
    target_ms: u32,
    /// The adaptive target's recent low, to tell when it rises.
    target_trend: TargetTrend,
    /// [`PlayoutMode::Anchored`]: the transit offset playout is anchored to.
    anchor: Option<i64>,
    stats: JitterStats,
}

impl std::fmt::Debug for JitterBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer")
            .field("format", &self.decoder.format())
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn check(
    field: &'static str,
    value: u32,
    ok: bool,
    allowed: &'static str,
) -> Result<(), JitterConfigError> {
    if ok {
        Ok(())
    } else {
        Err(JitterConfigError::OutOfRange {
            field,
            value,
            allowed,
        })
    }
}

/// Cross-fades the start of `audio` in from `from` (the concealment it replaces), linearly
/// over `from`'s length.
fn blend_in(audio: &mut [i16], from: &[i16]) {
    let len = from.len().min(audio.len()) as i32;
    for (i, (s, &c)) in audio.iter_mut().zip(from).enumerate() {
        let w = (i as i32 + 1) * 256 / (len + 1);
        *s = ((i32::from(*s) * w + i32::from(c) * (256 - w)) >> 8) as i16;
    }
}

fn ms_to_samples(ms: u32, rate: u32) -> i64 {
    i64::from(ms) * i64::from(rate) / 1000
}

impl JitterBuffer {
    /// A buffer decoding `format` with a decoder from the codec registry.
    ///
    /// # Errors
    /// [`JitterConfigError`] for settings out of range, unsupported rates, or a decoder that
    /// cannot be built.
    pub fn new(format: Format, config: &JitterConfig) -> Result<Self, JitterConfigError> {
        Self::with_decoder(registry::new_decoder(format)?, config)
    }

    /// A buffer decoding with `decoder`, which it owns from now on.
    ///
    /// # Errors
    /// [`JitterConfigError`] for settings out of range or a rate that is not a multiple of
    /// 8 kHz.
    pub fn with_decoder(
        decoder: Box<dyn Decoder>,
        config: &JitterConfig,
    ) -> Result<Self, JitterConfigError> {
        check(
            "frame_ms",
            config.frame_ms,
            matches!(config.frame_ms, 10 | 20),
            "10 or 20",
        )?;
        check(
            "max_delay_ms",
            config.max_delay_ms,
            (config.frame_ms..=MAX_DELAY_LIMIT_MS).contains(&config.max_delay_ms),
            "frame_ms..=2000",
        )?;
        check(
            "min_delay_ms",
            config.min_delay_ms,
            config.min_delay_ms <= config.max_delay_ms,
            "0..=max_delay_ms",
        )?;
        check(
            "max_ptime_ms",
            config.max_ptime_ms,
            (10..=120).contains(&config.max_ptime_ms),
            "10..=120",
        )?;
        if let PlayoutMode::Fixed { delay_ms } | PlayoutMode::Anchored { delay_ms } = config.mode {
            check(
                "mode.delay_ms",
                delay_ms,
                delay_ms <= config.max_delay_ms,
                "0..=max_delay_ms",
            )?;
        }
        let format = decoder.format();
        let rate = format.sample_rate;
        let (Some(stretch), Some(own_plc)) =
            (TimeStretch::new(rate), WaveformSubstitution::new(rate))
        else {
            return Err(JitterConfigError::UnsupportedSampleRate {
                codec: format.codec,
                rate_hz: rate,
            });
        };
        let descriptor = format.descriptor();
        let plc = match format.codec {
            CodecId::Opus | CodecId::G729 => None,
            CodecId::Pcmu | CodecId::Pcma | CodecId::L16 | CodecId::G722 => Some(own_plc),
        };
        let frame = format.samples_in_ms(config.frame_ms);
        let max_packet = format.samples_in_ms(config.max_ptime_ms);
        let tail_blend = vec![0; if plc.is_none() { frame / 2 } else { 0 }].into_boxed_slice();
        let history = plc
            .as_ref()
            .map_or(0, WaveformSubstitution::history_len)
            .max(2 * stretch.pitch_max());
        let future_max = 2 * frame + 2 * max_packet + stretch.pitch_max();
        let slots = (config.max_delay_ms as usize).div_ceil(10) + EARLY_SLOTS;
        let payload_max = descriptor
            .max_payload_len(rate, config.max_ptime_ms)
            .max(64);
        let initial = config
            .initial_delay_ms
            .clamp(config.min_delay_ms, config.max_delay_ms);
        Ok(Self {
            config: *config,
            has_fec: format.codec == CodecId::Opus,
            rtp_rate: descriptor.rtp_clock_rate(rate),
            decoder,
            rate,
            frame,
            max_packet,
            plc,
            comfort_noise: ComfortNoise::new(),
            stretch,
            packets: PacketBuffer::new(slots, payload_max),
            sync: SyncBuffer::new(history, future_max),
            estimator: DelayEstimator::new(rate),
            target_trend: TargetTrend::new(),
            stream: None,
            previous_ssrc: None,
            next_pos: None,
            last_seq: None,
            played: 0,
            comfort_noise_active: false,
            codec_erased: 0,
            rewindable: false,
            tail_blend,
            need_splice: false,
            quiet_run: 0,
            started: false,
            now: 0,
            target_ms: match config.mode {
                PlayoutMode::Adaptive => initial,
                PlayoutMode::Fixed { delay_ms } | PlayoutMode::Anchored { delay_ms } => delay_ms,
            },
            anchor: None,
            stats: JitterStats::default(),
        })
    }

    /// The format of the audio this buffer plays.
    pub fn format(&self) -> Format {
        self.decoder.format()
    }

    /// Samples each [`Self::pop`] writes.
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    /// Packet slots: the most packets stored at once.
    pub fn slots(&self) -> usize {
        self.packets.capacity()
    }

    /// Bytes each slot holds: the largest payload accepted.
    pub fn payload_max(&self) -> usize {
        self.packets.payload_max()
    }

    /// The counters.
    pub fn stats(&self) -> &JitterStats {
        &self.stats
    }

    /// The RTP timestamp of the next sample [`Self::pop`] will hand out (NetEq's playout
    /// timestamp, for lip sync and delay measurement); `None` before a stream plays.
    pub fn playout_timestamp(&self) -> Option<u32> {
        let stream = self.stream.as_ref()?;
        let next = self.next_pos?;
        let pos = next - self.sync.future() as i64;
        let ts = stream.base_ts + (pos * i64::from(self.rtp_rate)).div_euclid(i64::from(self.rate));
        Some(ts as u32)
    }

    /// Forgets every packet, stream and statistic, as if newly built.
    pub fn reset(&mut self) {
        self.packets.clear();
        self.sync.reset();
        self.estimator.reset();
        self.decoder.reset();
        if let Some(plc) = &mut self.plc {
            plc.reset();
        }
        self.comfort_noise.reset();
        self.stream = None;
        self.previous_ssrc = None;
        self.next_pos = None;
        self.last_seq = None;
        self.played = 0;
        self.comfort_noise_active = false;
        self.codec_erased = 0;
        self.rewindable = false;
        self.need_splice = false;
        self.quiet_run = 0;
        self.started = false;
        self.target_ms = match self.config.mode {
            PlayoutMode::Adaptive => self
                .config
                .initial_delay_ms
                .clamp(self.config.min_delay_ms, self.config.max_delay_ms),
            PlayoutMode::Fixed { delay_ms } | PlayoutMode::Anchored { delay_ms } => delay_ms,
        };
        self.target_trend = TargetTrend::new();
        self.anchor = None;
        self.stats = JitterStats::default();
    }

    /// The receiver clock at the current pop, in ms.
    fn now_ms(&self) -> i64 {
        self.now * 1000 / i64::from(self.rate)
    }

    fn to_samples(&self, us: u64) -> i64 {
        (u128::from(us) * u128::from(self.rate) / 1_000_000) as i64
    }

    fn samples_to_ms(&self, samples: i64) -> u32 {
        (samples.max(0) * 1000 / i64::from(self.rate)).min(i64::from(u32::MAX)) as u32
    }

    /// Takes one received packet, arrived at `now_us`. Never allocates; the payload is copied.
    ///
    /// # Errors
    /// [`PushError`]: the packet was dropped and counted; see each variant.
    pub fn push(&mut self, now_us: u64, packet: &RtpPacket<'_>) -> Result<PushOutcome, PushError> {
        self.stats.packets_received += 1;
        let result = self.push_inner(now_us, packet);
        match result {
            Err(PushError::Late { .. }) => self.stats.packets_late += 1,
            Err(PushError::Duplicate { .. }) => self.stats.packets_duplicate += 1,
            Err(_) => self.stats.packets_rejected += 1,
            Ok(_) => {}
        }
        result
    }

    fn push_inner(
        &mut self,
        now_us: u64,
        packet: &RtpPacket<'_>,
    ) -> Result<PushOutcome, PushError> {
        let arrival = self.to_samples(now_us);
        let seq = packet.sequence_number;
        let kind = if packet.payload_type == self.config.payload_type {
            Some(PacketKind::Audio)
        } else if Some(packet.payload_type) == self.config.comfort_noise_payload_type {
            Some(PacketKind::ComfortNoise)
        } else {
            None
        };
        // Validate the payload before it can change any state.
        let duration = match kind {
            Some(PacketKind::Audio) => {
                if packet.payload.is_empty() {
                    return Err(PushError::Malformed { len: 0 });
                }
                let samples =
                    self.decoder
                        .samples_in(packet.payload)
                        .map_err(|_| PushError::Malformed {
                            len: packet.payload.len(),
                        })?;
                if samples > self.max_packet {
                    return Err(PushError::TooLong {
                        samples,
                        max: self.max_packet,
                    });
                }
                samples
            }
            _ => 0,
        };
        if kind.is_some() && packet.payload.len() > self.packets.payload_max() {
            return Err(PushError::TooLarge {
                len: packet.payload.len(),
                max: self.packets.payload_max(),
            });
        }

        // Which stream does it belong to?
        let mut outcome = PushOutcome::Stored;
        match self.stream {
            None => {
                self.start_stream(packet, arrival);
                outcome = PushOutcome::NewStream;
            }
            Some(stream) if stream.ssrc != packet.ssrc => {
                if let Some((old, at)) = self.previous_ssrc {
                    if old == packet.ssrc && arrival - at < self.to_samples(STALE_SSRC_US as u64) {
                        return Err(PushError::StaleSsrc { ssrc: packet.ssrc });
                    }
                }
                self.previous_ssrc = Some((stream.ssrc, arrival));
                self.start_stream(packet, arrival);
                outcome = PushOutcome::NewStream;
            }
            Some(stream) => {
                let discontinuity = self.is_discontinuity(&stream, packet, arrival);
                if discontinuity && stream.runs_on_to(seq) {
                    self.rejoin_timeline(packet, duration);
                } else if discontinuity {
                    let confirmed = stream.probation.is_some_and(|(s, t)| {
                        seq == s.wrapping_add(1)
                            && packet.timestamp.wrapping_sub(t) <= 10 * self.rtp_rate
                    });
                    if !confirmed {
                        if let Some(s) = self.stream.as_mut() {
                            s.probation = Some((seq, packet.timestamp));
                        }
                        return Err(PushError::Discontinuity {
                            sequence_number: seq,
                        });
                    }
                    self.start_stream(packet, arrival);
                    outcome = PushOutcome::NewStream;
                } else if let Some(s) = self.stream.as_mut() {
                    s.probation = None;
                }
            }
        }
        let (longest, slack) = (self.max_packet as i64, self.jump_slack());
        let Some(stream) = self.stream.as_mut() else {
            return Err(PushError::Malformed {
                len: packet.payload.len(),
            });
        };
        let ext_seq = stream.extend_seq(seq);
        let ext_ts = stream.extend_ts(packet.timestamp);
        let pos = (stream.ticks_from_start(ext_seq, packet.timestamp) * i64::from(self.rate))
            .div_euclid(i64::from(self.rtp_rate));
        let reordered = ext_seq < stream.highest_seq;
        if !stream.fits_timeline(ext_seq, pos, longest, slack) {
            return Err(PushError::StaleTimeline {
                sequence_number: seq,
            });
        }
        if ext_seq > stream.highest_seq {
            let shift = ext_seq - stream.highest_seq;
            stream.ignored = if shift >= 128 {
                0
            } else {
                stream.ignored << shift
            };
            stream.highest_seq = ext_seq;
            stream.highest_ts = ext_ts;
            stream.highest_pos = pos;
            stream.highest_arrival = arrival;
            stream.highest_duration = duration as i64;
            if duration > 0 {
                stream.packet_duration = duration as i64;
            }
        }
        if reordered {
            self.stats.packets_reordered += 1;
        }
        let Some(kind) = kind else {
            let back = stream.highest_seq - ext_seq;
            if back < 128 {
                stream.ignored |= 1 << back;
            }
            return Ok(PushOutcome::Ignored);
        };

        // Already decided?
        if let Some(last) = self.last_seq {
            if ext_seq <= last {
                let back = last - ext_seq;
                if back < 128 && self.played & (1 << back) != 0 {
                    return Err(PushError::Duplicate {
                        sequence_number: seq,
                    });
                }
                self.estimator.observe(arrival, pos, ext_seq, duration);
                return Err(PushError::Late {
                    sequence_number: seq,
                });
            }
        }
        if self.packets.contains(ext_seq) {
            return Err(PushError::Duplicate {
                sequence_number: seq,
            });
        }
        self.estimator.observe(arrival, pos, ext_seq, duration);
        if kind == PacketKind::Audio
            && self.next_pos.is_some_and(|next| {
                pos + duration as i64 <= next || (pos < next && !self.plays_tails())
            })
            && !self.reanchor_if_starved(arrival, pos)
        {
            return Err(PushError::Late {
                sequence_number: seq,
            });
        }
        let info = PacketInfo {
            seq: ext_seq,
            pos,
            duration,
            kind,
            len: packet.payload.len(),
        };
        match self.packets.insert(info, packet.payload) {
            Insert::Stored => {}
            Insert::Duplicate => {
                return Err(PushError::Duplicate {
                    sequence_number: seq,
                });
            }
            Insert::Collision => {
                return Err(PushError::Overflow {
                    sequence_number: seq,
                });
            }
        }
        if packet.marker {
            self.stats.talkspurts += 1;
        }
        Ok(match outcome {
            PushOutcome::Stored if reordered => PushOutcome::Reordered,
            other => other,
        })
    }

    /// RFC 3550 §A.1's sequence number test, plus a timestamp test: a newer packet whose
    /// timestamp went backwards, or jumped further ahead than the time since the newest packet
    /// explains (silence suppression advances both alike), by more than the maximum delay plus
    /// [`TIMESTAMP_JUMP_SLACK_MS`]. A packet merely delayed in the network keeps its timestamp
    /// in step with its sequence number, so even a long outage is not mistaken for a jump.
    fn is_discontinuity(&self, stream: &Stream, packet: &RtpPacket<'_>, arrival: i64) -> bool {
        let ext_seq = stream.extend_seq(packet.sequence_number);
        let delta = ext_seq - stream.highest_seq;
        if !(-MAX_MISORDER..=MAX_DROPOUT).contains(&delta) {
            return true;
        }
        if delta <= 0 {
            return false;
        }
        let ext_ts = stream.extend_ts(packet.timestamp);
        let pos =
            ((ext_ts - stream.base_ts) * i64::from(self.rate)).div_euclid(i64::from(self.rtp_rate));
        let advanced = pos - stream.highest_pos;
        let elapsed = (arrival - stream.highest_arrival).max(0);
        let slack = self.jump_slack();
        advanced < -slack || advanced > elapsed + slack
    }

    /// How far a packet's timestamp may stray from what its arrival explains before it counts
    /// as a jump, in samples.
    fn jump_slack(&self) -> i64 {
        ms_to_samples(
            self.config.max_delay_ms + TIMESTAMP_JUMP_SLACK_MS,
            self.rate,
        )
    }

    /// Moves the stream's timeline so that `packet`, whose timestamp jumped, sits where its
    /// sequence number puts it: right after the newest packet, plus one packet's duration for
    /// each sequence number missing in between. Stored packets, the delay estimate and the
    /// decoder carry on, so a jump costs nothing where a new stream would cost the packets in
    /// the buffer, a probation packet and the decoder's state. Should the jump be one corrupt
    /// timestamp, the next packet jumps back and is joined the same way.
    fn rejoin_timeline(&mut self, packet: &RtpPacket<'_>, duration: usize) {
        let (rate, rtp_rate) = (i64::from(self.rate), i64::from(self.rtp_rate));
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let ext_seq = stream.extend_seq(packet.sequence_number);
        let skipped = ext_seq - stream.highest_seq - 1;
        let step = if duration > 0 {
            duration as i64
        } else {
            stream.packet_duration
        };
        let pos = stream.highest_pos + stream.highest_duration + skipped * step;
        let ext_ts = stream.extend_ts(packet.timestamp);
        stream.jumps.rotate_right(1);
        stream.jumps[0] = Some(TimestampJump {
            from_seq: ext_seq,
            base_ts: stream.base_ts,
            highest_ts: stream.highest_ts,
        });
        stream.base_ts = ext_ts - (pos * rtp_rate).div_euclid(rate);
        stream.probation = None;
        self.stats.timestamp_jumps += 1;
    }

    fn start_stream(&mut self, packet: &RtpPacket<'_>, arrival: i64) {
        if self.stream.is_some() {
            self.stats.stream_resets += 1;
            self.decoder.reset();
        }
        self.stats.packets_discarded += self.packets.clear() as u64;
        self.estimator.reset_floor();
        // The stream's first packet sits at position 0: its transit offset is its arrival.
        self.anchor = Some(arrival);
        self.stream = Some(Stream::new(packet, arrival));
        self.next_pos = None;
        self.last_seq = None;
        self.played = 0;
        self.comfort_noise_active = false;
    }

    /// Writes the next frame of audio, for playout starting at `now_us`, into `pcm`, which must
    /// hold exactly [`Self::frame_samples`] samples; returns what the frame holds. Decoding,
    /// concealment and time-stretching happen here. Never allocates.
    ///
    /// # Errors
    /// [`PopError`] when `pcm` has the wrong length; nothing is written.
    pub fn pop(&mut self, now_us: u64, pcm: &mut [i16]) -> Result<PlayoutEvent, PopError> {
        if pcm.len() != self.frame {
            return Err(PopError {
                expected: self.frame,
                actual: pcm.len(),
            });
        }
        self.now = self.to_samples(now_us);
        self.refresh_target();
        let event = if self.stream.is_none() && !self.started {
            pcm.fill(0);
            PlayoutEvent::Buffering
        } else {
            self.enforce_max_delay();
            // Each step adds audio or moves playout forward; the bound only guards against a
            // bug turning into a hang.
            let mut steps = 0;
            while self.sync.future() < self.frame {
                steps += 1;
                if steps > 64 {
                    self.fill_silence();
                    continue;
                }
                self.step();
            }
            self.stats.current_delay_ms = self.current_delay().map_or(0, |d| self.samples_to_ms(d));
            self.sync.read_into(pcm)
        };
        match event {
            PlayoutEvent::Concealed => self.stats.frames_concealed += 1,
            PlayoutEvent::ComfortNoise => self.stats.frames_comfort_noise += 1,
            PlayoutEvent::Silence => self.stats.frames_silence += 1,
            PlayoutEvent::Buffering => self.stats.frames_buffering += 1,
            _ => {}
        }
        self.stats.target_delay_ms = self.target_ms;
        Ok(event)
    }

    /// True once [`SILENCE_MS`] of quiet audio played in a row: a pause between phrases.
    fn in_pause(&self) -> bool {
        self.quiet_run as i64 >= ms_to_samples(SILENCE_MS, self.rate)
    }

    fn refresh_target(&mut self) {
        if let PlayoutMode::Adaptive = self.config.mode {
            if let Some(q) = self.estimator.target_ms() {
                // A slow sender's drift is not covered here but stretched out of the gaps
                // between words (`stretch_towards_target`).
                let margin = self.samples_to_ms(self.frame as i64) + 1 + SAFETY_MS;
                self.target_ms =
                    (q + margin).clamp(self.config.min_delay_ms, self.config.max_delay_ms);
                self.target_trend.record(self.now_ms(), self.target_ms);
            }
        }
    }

    /// True when a late packet whose head playout already concealed still plays its tail
    /// (adaptive mode; a fixed buffer drops late packets).
    fn plays_tails(&self) -> bool {
        self.config.mode == PlayoutMode::Adaptive
    }

    /// `O`: the receiver clock minus the stream position being played.
    fn offset(&self) -> Option<i64> {
        Some(self.now + self.sync.future() as i64 - self.next_pos?)
    }

    /// The buffering delay: `O` above the transit floor.
    fn current_delay(&self) -> Option<i64> {
        Some(self.offset()? - self.estimator.floor()?)
    }

    /// `O` the target asks for, if the floor (or, anchored, the anchor) is known.
    fn target_offset(&self) -> Option<i64> {
        let base = match self.config.mode {
            PlayoutMode::Anchored { .. } => self.anchor?,
            _ => self.estimator.floor()?,
        };
        Some(base + ms_to_samples(self.target_ms, self.rate))
    }

    /// [`PlayoutMode::Anchored`]: a late packet that finds no packet stored resynchronises
    /// playout on itself, as Asterisk's fixed buffer does: the anchor moves to its transit
    /// offset (`arrival - pos`) and playout restarts from it once it is due (concealment
    /// fills the wait). True if it did; the packet is then stored, not late.
    fn reanchor_if_starved(&mut self, arrival: i64, pos: i64) -> bool {
        let starved =
            matches!(self.config.mode, PlayoutMode::Anchored { .. }) && self.packets.is_empty();
        if starved {
            self.anchor = Some(arrival - pos);
            self.next_pos = None;
        }
        starved
    }

    /// True when audio at stream position `pos` should start playing now.
    fn is_due(&self, pos: i64) -> bool {
        match self.target_offset() {
            Some(target) => {
                self.now + self.sync.future() as i64 - pos >= target - (self.frame / 2) as i64
            }
            None => true,
        }
    }

    /// Sequence numbers between the last decided one and `seq` that never arrived.
    fn missing_before(&self, seq: i64) -> u64 {
        let Some(last) = self.last_seq else { return 0 };
        let gap = seq - last - 1;
        if gap <= 0 {
            return 0;
        }
        let ignored = self.stream.as_ref().map_or(0, |s| {
            let mut n = 0;
            for q in (last + 1).max(s.highest_seq - 127)..seq {
                let back = s.highest_seq - q;
                if (0..128).contains(&back) && s.ignored & (1 << back) != 0 {
                    n += 1;
                }
            }
            n
        });
        (gap - ignored) as u64
    }

    /// True when the codec's concealment of the current gap can be taken back for `seq`: the
    /// decoder saved its state as the gap began, right after the last packet decided, which
    /// played, and `seq` directly follows that packet.
    fn can_take_back_concealment(&self, seq: i64) -> bool {
        self.rewindable
            && self.codec_erased > 0
            && self.last_seq == Some(seq - 1)
            && self.played & 1 == 1
    }

    /// Returns the decoder to its state at the current gap's start.
    fn take_back_concealment(&mut self) {
        self.decoder.rewind();
        self.stats.concealment_rewinds += 1;
    }

    /// Marks every sequence number up to `seq` decided; `seq` itself played if `played`.
    fn decide_through(&mut self, seq: i64, played: bool) {
        let shift = match self.last_seq {
            Some(last) if seq <= last => return,
            Some(last) => seq - last,
            None => 128,
        };
        self.played = if shift >= 128 {
            0
        } else {
            self.played << shift
        };
        if played {
            self.played |= 1;
        }
        self.last_seq = Some(seq);
    }

    /// Drops whole packets from the front while the delay is over the maximum, down to the
    /// target.
    fn enforce_max_delay(&mut self) {
        let (Some(mut next), Some(current)) = (self.next_pos, self.current_delay()) else {
            return;
        };
        if current <= ms_to_samples(self.config.max_delay_ms, self.rate) {
            return;
        }
        let excess = current - ms_to_samples(self.target_ms, self.rate);
        let mut shed = 0;
        while let Some(p) = self.packets.first_from(self.last_seq.map(|s| s + 1)) {
            let step = p.end() - next;
            if shed + step > excess {
                break;
            }
            self.stats.packets_lost += self.missing_before(p.seq);
            self.packets.remove(p.seq);
            self.stats.packets_discarded += 1;
            self.decide_through(p.seq, false);
            next = next.max(p.end());
            shed += step.max(0);
        }
        if shed > 0 {
            self.next_pos = Some(next);
            self.need_splice = true;
        }
    }

    /// One playout decision: adds audio to the sync buffer or moves playout forward.
    fn step(&mut self) {
        let front = self.packets.first_from(self.last_seq.map(|s| s + 1));
        let Some(next) = self.next_pos else {
            // A stream is starting (or, anchored, restarting on a late packet): wait until
            // its first packet is due.
            match front {
                Some(p) if self.is_due(p.pos) => {
                    self.stats.packets_lost += self.missing_before(p.seq);
                    self.next_pos = Some(p.pos);
                    self.decide_through(p.seq - 1, false);
                    if self.started {
                        self.need_splice = true;
                    }
                }
                _ => self.fill(None),
            }
            return;
        };
        let Some(p) = front else {
            self.fill(None);
            return;
        };
        if p.kind == PacketKind::Audio && p.pos < next && p.end() > next && self.plays_tails() {
            // Late, but only its head was concealed: its tail still plays in time.
            self.stats.packets_lost += self.missing_before(p.seq);
            self.stats.late_tails_played += 1;
            self.decode_from(p, (next - p.pos) as usize);
            return;
        }
        if p.kind == PacketKind::Audio && p.pos < next {
            // Playout moved past it while it waited (a skip forward).
            self.stats.packets_lost += self.missing_before(p.seq);
            self.packets.remove(p.seq);
            self.stats.packets_discarded += 1;
            self.decide_through(p.seq, false);
            return;
        }
        if p.kind == PacketKind::ComfortNoise && (p.pos <= next || self.is_due(p.pos)) {
            self.stats.packets_lost += self.missing_before(p.seq);
            self.comfort_noise.update(self.packets.payload(p.seq));
            self.rewindable = false;
            self.packets.remove(p.seq);
            self.decide_through(p.seq, true);
            self.comfort_noise_active = true;
            self.stats.packets_played += 1;
            return;
        }
        if p.pos == next {
            self.stats.packets_lost += self.missing_before(p.seq);
            self.decode(p);
            return;
        }
        // A gap before the next packet: loss, a late packet, or silence.
        let missing = self.missing_before(p.seq);
        if missing > 0 && self.has_fec && p.kind == PacketKind::Audio {
            let fec_len = (p.pos - next).min(p.duration as i64);
            if self.is_due(p.pos - fec_len) {
                self.recover_fec(p, fec_len as usize, missing);
                return;
            }
        }
        if self.is_due(p.pos) {
            self.stats.packets_lost += missing;
            self.next_pos = Some(p.pos);
            self.decide_through(p.seq - 1, false);
            if !self
                .plc
                .as_ref()
                .is_some_and(WaveformSubstitution::is_concealing)
            {
                self.need_splice = true;
            }
            return;
        }
        self.fill(Some(p));
    }

    /// Decodes `p` and time-stretches if the delay is off target.
    fn decode(&mut self, p: PacketInfo) {
        self.decode_from(p, 0);
    }

    /// Decodes `p`, plays it from its `skip`-th sample on, and time-stretches if the delay is
    /// off target.
    fn decode_from(&mut self, p: PacketInfo, skip: usize) {
        if !self.decode_packet(p, skip) {
            return;
        }
        match self.config.mode {
            PlayoutMode::Adaptive => self.stretch_towards_target(),
            PlayoutMode::Fixed { .. } => self.slip_towards_target(),
            PlayoutMode::Anchored { .. } => {}
        }
    }

    /// Decodes `p` into the sync buffer, all but its first `skip` samples (which playout
    /// passed while the packet was late); false if the decoder refused it (it then counts as
    /// lost and is concealed).
    fn decode_packet(&mut self, p: PacketInfo, skip: usize) -> bool {
        let codec_cut_off = self.codec_erased >= self.max_codec_conceal();
        let fade = self.frame / 2;
        // The packet the codec's concealment waited for: take the concealment back, so that
        // the decoder takes the packet as the one after its predecessor, not as one after a
        // loss (whose first frame a codec decodes from concealed history).
        let rewind = self.can_take_back_concealment(p.seq);
        // A late packet's tail or a waited-for packet, after the codec's own concealment:
        // continue that concealment a little further, to blend the packet in from it.
        let blend = if (skip > 0 || rewind) && self.plc.is_none() && !codec_cut_off {
            self.decoder
                .conceal(&mut self.tail_blend)
                .min(self.tail_blend.len())
        } else {
            0
        };
        if rewind {
            self.take_back_concealment();
        }
        self.rewindable = false;
        let payload = self.packets.payload(p.seq);
        let unplayed = self.sync.future();
        let (history, spare) = self.sync.split_spare(self.max_packet);
        let n = match self.decoder.decode(payload, spare) {
            Ok(n) => n,
            Err(_) => {
                self.stats.decode_errors += 1;
                self.packets.remove(p.seq);
                return false;
            }
        };
        let full = n;
        let skip = skip.min(n);
        spare.copy_within(skip..n, 0);
        let n = n - skip;
        let decoded = &mut spare[..n];
        if let Some(plc) = &mut self.plc {
            if plc.is_concealing() {
                plc.resume(decoded);
            } else if self.need_splice {
                plc.splice(history, unplayed, decoded);
            }
        } else if blend > 0 {
            blend_in(decoded, &self.tail_blend[..blend]);
        } else if codec_cut_off {
            // The codec's concealment was cut off: fade in rather than start with a click.
            let fade = decoded.len().min(fade);
            for (i, s) in decoded[..fade].iter_mut().enumerate() {
                *s = (i32::from(*s) * (i as i32 + 1) / (fade as i32 + 1)) as i16;
            }
        }
        self.sync.commit(n, PlayoutEvent::Normal);
        self.note_quiet(n);
        self.packets.remove(p.seq);
        self.decide_through(p.seq, true);
        self.next_pos = Some(p.pos + full as i64);
        self.comfort_noise_active = false;
        self.codec_erased = 0;
        self.need_splice = false;
        self.started = true;
        self.stats.packets_played += 1;
        true
    }

    /// Recovers the `len` samples before `p` from its forward error correction.
    ///
    /// When playout already concealed the head of the lost frame (`len` is less than a
    /// packet), the whole frame is recovered and only its tail played, blended in from the
    /// codec's concealment: asked for less than a packet, libopus conceals instead. The
    /// concealment of the head is taken back first where the decoder can ([`Decoder::rewind`]).
    fn recover_fec(&mut self, p: PacketInfo, len: usize, missing: u64) {
        let whole = p.duration.max(len);
        let skip = whole - len;
        let blend = if skip > 0 && self.codec_erased < self.max_codec_conceal() {
            self.decoder
                .conceal(&mut self.tail_blend)
                .min(self.tail_blend.len())
        } else {
            0
        };
        // The codec concealed the lost frame's head: take that back, so that the FEC decodes
        // the frame from its predecessor's state, for exactly the frame's length, as libopus
        // expects (after concealment it would run the frame's head twice).
        if missing == 1 && self.can_take_back_concealment(p.seq - 1) {
            self.take_back_concealment();
        }
        let payload = self.packets.payload(p.seq);
        let (_, spare) = self.sync.split_spare(len + skip);
        let n = self.decoder.recover_from_next(payload, spare);
        self.rewindable = false;
        let skip = skip.min(n);
        spare.copy_within(skip..n, 0);
        let n = n - skip;
        blend_in(&mut spare[..n], &self.tail_blend[..blend]);
        self.sync.commit(n, PlayoutEvent::FecRecovered);
        self.note_quiet(n);
        self.stats.packets_lost += missing;
        self.stats.fec_recoveries += 1;
        self.decide_through(p.seq - 1, false);
        self.next_pos = Some(p.pos);
        self.codec_erased = 0;
    }

    /// Codec concealment stops after this many samples (60 ms, like ours).
    fn max_codec_conceal(&self) -> usize {
        self.format().samples_in_ms(60)
    }

    /// Fills one frame while the next packet is missing; `next` is the packet after the gap,
    /// if one is stored.
    ///
    /// Whether the stream position advances with the filled audio (the missing audio is given
    /// up, the delay stays) or holds (a late packet may still play; the delay grows):
    /// - adaptive, a later packet stored: advance, unless the delay is more than a frame below
    ///   target (holding then moves towards the target anyway);
    /// - adaptive, nothing stored: hold until the delay is [`HOLD_ALLOWANCE_MS`] above target
    ///   in a pause, [`HOLD_IN_SPEECH_MS`] in speech ([`HOLD_IN_SPEECH_RISING_MS`] while the
    ///   target rises), then advance (a late packet may still play its tail);
    /// - fixed: advance, unless running early (holding slips the schedule back).
    fn fill(&mut self, next: Option<PacketInfo>) {
        let n = self.frame;
        let kind = if !self.started {
            let (_, spare) = self.sync.split_spare(n);
            spare.fill(0);
            PlayoutEvent::Buffering
        } else if self.comfort_noise_active {
            let (_, spare) = self.sync.split_spare(n);
            self.comfort_noise.generate(spare);
            PlayoutEvent::ComfortNoise
        } else if let Some(plc) = &mut self.plc {
            let muted = plc.is_muted();
            let unplayed = self.sync.future();
            let (history, spare) = self.sync.split_spare(n);
            plc.conceal_into(history, unplayed, spare);
            if muted {
                PlayoutEvent::Silence
            } else {
                PlayoutEvent::Concealed
            }
        } else if self.codec_erased < self.max_codec_conceal() {
            if self.codec_erased == 0 {
                self.rewindable = self.decoder.checkpoint();
            }
            let (_, spare) = self.sync.split_spare(n);
            let written = self.decoder.conceal(spare).min(n);
            spare[written..].fill(0);
            self.codec_erased += n;
            PlayoutEvent::Concealed
        } else {
            let (_, spare) = self.sync.split_spare(n);
            spare.fill(0);
            PlayoutEvent::Silence
        };
        self.sync.commit(n, kind);
        self.note_quiet(n);
        let Some(pos) = self.next_pos else { return };
        let (Some(offset), Some(target)) = (self.offset(), self.target_offset()) else {
            self.next_pos = Some(pos + n as i64);
            return;
        };
        let frame = n as i64;
        let advance = match (self.config.mode, next) {
            (PlayoutMode::Adaptive, Some(_)) => offset >= target - frame,
            (PlayoutMode::Adaptive, None) => {
                let allowance = if self.in_pause() {
                    HOLD_ALLOWANCE_MS
                } else if self.target_trend.rising(self.now_ms(), self.target_ms) {
                    HOLD_IN_SPEECH_RISING_MS
                } else {
                    HOLD_IN_SPEECH_MS
                };
                offset >= target + ms_to_samples(allowance, self.rate)
                    || self
                        .current_delay()
                        .is_some_and(|d| d > ms_to_samples(self.config.max_delay_ms, self.rate))
            }
            (PlayoutMode::Fixed { .. } | PlayoutMode::Anchored { .. }, _) => {
                offset >= target - frame / 2
            }
        };
        if advance {
            // Never past the next stored packet: it plays from its first sample.
            let limit = next.map_or(i64::MAX, |p| p.pos);
            self.next_pos = Some((pos + frame).min(limit.max(pos)));
        }
    }

    /// Extends or ends the run of quiet audio with the `n` samples just committed.
    fn note_quiet(&mut self, n: usize) {
        let newest = self.sync.newest(n);
        // Digital silence needs no sum (an OR vectorises; the f32 sum, kept in its order so
        // decisions stay exactly as they were, does not).
        let energy: f32 = match newest.iter().fold(0, |any, &s| any | s) {
            0 => 0.0,
            _ => newest.iter().map(|&s| f32::from(s) * f32::from(s)).sum(),
        };
        if energy < stretch::QUIET_RMS * stretch::QUIET_RMS * newest.len() as f32 {
            self.quiet_run = self.quiet_run.saturating_add(newest.len());
        } else {
            self.quiet_run = 0;
        }
    }

    fn fill_silence(&mut self) {
        let n = self.frame;
        let (_, spare) = self.sync.split_spare(n);
        spare.fill(0);
        self.sync.commit(n, PlayoutEvent::Silence);
        if let Some(next) = self.next_pos {
            self.next_pos = Some(next + n as i64);
        }
    }

    /// Adaptive mode, after a decode: removes or repeats audio when the delay is off target.
    /// Pauses are stretched as soon as the delay is [`STRETCH_QUIET_MS`] above or
    /// [`STRETCH_QUIET_BELOW_MS`] below; voiced speech only
    /// when it is [`ACCELERATE_VOICED_MS`] above or [`DECELERATE_VOICED_MS`] below, since every
    /// change of timing inside a word is a (small) distortion.
    fn stretch_towards_target(&mut self) {
        let (Some(offset), Some(target)) = (self.offset(), self.target_offset()) else {
            return;
        };
        let error = offset - target;
        let quiet = ms_to_samples(STRETCH_QUIET_MS, self.rate);
        let in_silence = self.in_pause();
        let slow_sender = self.estimator.drift_ms_per_s() > SLOW_DRIFT_MS_PER_S;
        if error > quiet {
            let allow = if error > ms_to_samples(ACCELERATE_VOICED_MS, self.rate) {
                Allow::Any
            } else if in_silence {
                Allow::Quiet
            } else {
                return;
            };
            // Accelerating needs two periods of unplayed audio; take the next packet too if
            // it follows on.
            if self.sync.future() < self.stretch.accelerate_needs() {
                if let (Some(next), Some(p)) = (
                    self.next_pos,
                    self.packets.first_from(self.last_seq.map(|s| s + 1)),
                ) {
                    if p.pos == next && p.kind == PacketKind::Audio && !self.decode_packet(p, 0) {
                        return;
                    }
                }
            }
            let (signal, end, cursor) = self.sync.signal_mut(0);
            let removed =
                self.stretch
                    .accelerate(signal, end, cursor, allow, (error - quiet / 2) as usize);
            if removed > 0 {
                self.sync
                    .stretched(end - removed, PlayoutEvent::Accelerated);
                self.stats.accelerate_ops += 1;
                self.stats.samples_removed += removed as u64;
            }
        } else if error < -ms_to_samples(STRETCH_QUIET_BELOW_MS, self.rate)
            || (slow_sender && error < -ms_to_samples(DRIFT_BELOW_MS, self.rate))
        {
            let in_word_gap =
                slow_sender && self.quiet_run as i64 >= ms_to_samples(DRIFT_QUIET_MS, self.rate);
            let allow = if error < -ms_to_samples(DECELERATE_VOICED_MS, self.rate) {
                Allow::Any
            } else if in_silence || in_word_gap {
                Allow::Quiet
            } else {
                return;
            };
            let spare = self.stretch.pitch_max();
            let (signal, end, cursor) = self.sync.signal_mut(spare);
            let inserted = self
                .stretch
                .decelerate(signal, end, cursor, allow, (-error) as usize);
            if inserted > 0 {
                self.sync
                    .stretched(end + inserted, PlayoutEvent::Decelerated);
                self.stats.decelerate_ops += 1;
                self.stats.samples_inserted += inserted as u64;
            }
        }
    }

    /// Fixed mode, after a decode: drops the next packet when running a packet early (the
    /// sender's clock is fast), a frame slip.
    fn slip_towards_target(&mut self) {
        let (Some(offset), Some(target), Some(next)) =
            (self.offset(), self.target_offset(), self.next_pos)
        else {
            return;
        };
        let Some(p) = self.packets.first_from(self.last_seq.map(|s| s + 1)) else {
            return;
        };
        if p.pos == next
            && p.kind == PacketKind::Audio
            && offset - target > (p.duration + self.frame / 2) as i64
        {
            self.packets.remove(p.seq);
            self.decide_through(p.seq, false);
            self.next_pos = Some(p.end());
            self.stats.packets_discarded += 1;
            self.stats.slips += 1;
            self.need_splice = true;
        }
    }
}
