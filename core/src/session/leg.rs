//! One leg: an RTP/RTCP port pair and everything RTP about its peer — strict source
//! ([`SourceFilter`]), receive and send statistics, egress rewriting ([`Rewriter`]) or a
//! generated output stream ([`OutStream`]), the RTCP schedule, RFC 4733 reception, and the
//! media timeout.
//!
//! # Per packet (RFC 3550 and the crate's [`rtp`](crate::rtp) contract)
//!
//! [`Leg::accept_rtp`]: classify, check ([`RtpPacket::new_checked`]), strict source, receive
//! statistics, then by payload type: media, RFC 4733 (fed to the leg's
//! [`TelephoneEventReceiver`] here), comfort noise. Everything dropped is counted in
//! [`LegCounters`] by reason; packets from anywhere but the locked peer (the "RTP bleed"
//! attack) land in `source_dropped`.
//!
//! RTCP (on the RTCP port, or multiplexed on the RTP port, RFC 5761) is terminated per leg:
//! SRs feed the receive statistics' LSR/DLSR, report blocks about our SSRC give the round-trip
//! time, and each leg sends its own SR/RR + SDES on its [`RtcpSchedule`], and a BYE when it
//! is removed (§6.6).
//!
//! # Real-time
//!
//! [`Leg::new`] is the only call that may allocate (it does not today: every part is plain
//! data). The per-packet and per-tick calls never allocate and make no system call; packets
//! go into the worker's transmit queue.

use std::net::SocketAddr;

use tandem_drivers::packet::PortPair;

use crate::bus::event::DtmfSource;
use crate::bus::{EventKind, QualitySample};
use crate::rtp::rtcp::{Compound, CompoundWriter, RtcpRepr};
use crate::rtp::schedule::ScheduleConfig;
use crate::rtp::telephone_event::{EventTransmit, ReceiverConfig, SenderConfig};
use crate::rtp::{
    DigitNotice, PacketKind, PayloadType, PayloadTypeSet, RandomSource, ReceiveStats,
    RewriteConfig, Rewriter, RtcpSchedule, RtpHeader, RtpPacket, RtpTimestamp, SendStats, SeqNo,
    SourceConfig, SourceFilter, SplitMix64, Ssrc, TelephoneEventReceiver, TelephoneEventSender,
    classify, emit_report,
};
use crate::session::controls::{LegControls, silence_byte};
use crate::session::media::{Ingress, PlayoutReport};
use crate::session::{Ctx, LegId, LegSpec};

/// The CNAME every leg sends in its SDES (RFC 3550 §6.5.1; one per endpoint is enough for
/// a media relay that terminates RTCP).
const CNAME: &[u8] = b"tandem";
/// An SR is sent instead of an RR when we sent RTP this recently (§6.4: since the
/// last-but-one report; two minimum intervals).
const SENDER_WINDOW_US: u64 = 10_000_000;

/// Counters of one leg. Plain integers, read through the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LegCounters {
    /// RTP datagrams that reached the leg.
    pub rtp_received: u64,
    /// RTP packets that passed every check.
    pub rtp_accepted: u64,
    /// Dropped: not a valid RTP packet.
    pub malformed: u64,
    /// Dropped by strict source: from an address other than the locked peer ("RTP bleed"),
    /// a wrong SSRC while learning, or a payload type not negotiated.
    pub source_dropped: u64,
    /// RTCP compounds received and understood.
    pub rtcp_received: u64,
    /// RTCP compounds dropped (malformed, or not from the peer).
    pub rtcp_dropped: u64,
    /// RTCP compounds sent.
    pub rtcp_sent: u64,
    /// RTP packets queued for sending.
    pub sent: u64,
    /// RTP packets not sent (no destination known yet, transmit queue full, emit failure).
    pub send_dropped: u64,
    /// RFC 4733 packets handled.
    pub telephone_events: u64,
    /// Bytes of the RTP packets that passed every check (whole datagrams).
    pub rtp_bytes_accepted: u64,
    /// Bytes of the RTP packets queued for sending (whole datagrams).
    pub bytes_sent: u64,
    /// RTP packets from the peer not passed on because of the leg's
    /// [controls](super::LegControls): not received (hold), media or DTMF blocked.
    pub blocked: u64,
    /// RTP packets for the peer not sent because of the leg's controls: not sending
    /// (hold), or muted audio a relay cannot silence.
    pub withheld: u64,
}

/// A leg's state as metrics and tests see it: counters, RFC 3550 receive figures and the
/// round-trip time learned from the peer's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegReport {
    /// The counters.
    pub counters: LegCounters,
    /// The locked peer address, once learned.
    pub peer: Option<SocketAddr>,
    /// Packets received from the current source (RFC 3550 A.3).
    pub received: u32,
    /// Cumulative packets lost (A.3).
    pub cumulative_lost: i64,
    /// Interarrival jitter, RTP timestamp units (A.8).
    pub jitter: u32,
    /// Round-trip time from the peer's last report block about our stream (§6.4.1), µs.
    pub rtt_us: Option<u64>,
    /// Our output SSRC towards the peer.
    pub ssrc: Ssrc,
    /// The SSRC of the peer's stream, once it passed probation.
    pub source_ssrc: Option<Ssrc>,
    /// The leg's jitter buffer, when its session decodes it (transcoding, conferences);
    /// `None` when its packets are relayed as they are.
    pub playout: Option<PlayoutReport>,
}

/// What an accepted packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadClass {
    /// The negotiated codec.
    Media,
    /// RFC 4733 telephone-events (already fed to the leg's receiver).
    TelephoneEvent,
    /// RFC 3389 comfort noise.
    ComfortNoise,
}

/// The leg's own outgoing stream for generated audio: SSRC, sequence numbers, and an RTP
/// clock that advances with the worker's ticks so timestamps follow real time across gaps.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutStream {
    pub(crate) ssrc: Ssrc,
    seq: SeqNo,
    /// RTP clock at the end of the current tick's frame.
    clock: RtpTimestamp,
    /// The next packet carries the marker bit (the first one, and the first after a pause).
    pub(crate) first: bool,
}

impl OutStream {
    fn new(rng: &mut SplitMix64) -> Self {
        let r = rng.next_u64();
        Self {
            ssrc: Ssrc((r >> 32) as u32 | 1),
            seq: SeqNo((r >> 16) as u16 & 0x7FFF),
            clock: RtpTimestamp((rng.next_u64() >> 33) as u32),
            first: true,
        }
    }

    /// Advances the clock by one tick's frame.
    pub(crate) fn advance(&mut self, units: u32) {
        self.clock = self.clock.wrapping_add(units);
    }

    /// The clock now (end of this tick's frame).
    pub(crate) fn clock(&self) -> RtpTimestamp {
        self.clock
    }

    fn next(&mut self) -> (SeqNo, bool) {
        let seq = self.seq;
        self.seq = seq.wrapping_add(1);
        let marker = std::mem::replace(&mut self.first, false);
        (seq, marker)
    }
}

/// One leg of a session. See the module docs.
#[derive(Debug)]
pub(crate) struct Leg {
    pub(crate) id: LegId,
    pub(crate) spec: LegSpec,
    pub(crate) pair: Option<PortPair>,
    pub(crate) local: Option<SocketAddr>,
    filter: SourceFilter,
    pub(crate) rx_stats: ReceiveStats,
    pub(crate) tx_stats: SendStats,
    pub(crate) rewriter: Rewriter,
    pub(crate) out: OutStream,
    rtcp: RtcpSchedule,
    rng: SplitMix64,
    rtcp_peer: Option<SocketAddr>,
    /// Where the last accepted packet came from (the candidate, while learning).
    last_source: Option<SocketAddr>,
    last_media_us: u64,
    timed_out: bool,
    /// [`Leg::upkeep`] has nothing to do before this time (µs): the earliest of the RTCP
    /// report, the media timeout and the RFC 4733 receiver's timeout as last computed.
    /// Anything that can bring one of them forward sets it to 0. Most ticks then read this
    /// one word of a leg instead of the half-dozen cache lines the checks touch.
    upkeep_due_us: u64,
    te_rx: Option<TelephoneEventReceiver>,
    pub(crate) te_tx: Option<TelephoneEventSender>,
    pub(crate) counters: LegCounters,
    clock_rate: u32,
    pub(crate) controls: LegControls,
    /// The sequence number of the newest packet sent, whichever path sent it (relayed
    /// through the rewriter or generated on `out`): where a continued stream resumes.
    last_sent_seq: Option<SeqNo>,
}

fn source_config(spec: &LegSpec) -> SourceConfig {
    let mut types = PayloadTypeSet::EMPTY
        .with(spec.codec.payload_type)
        .with(PayloadType::CN);
    if let Some(te) = spec.telephone_event {
        types = types.with(te);
    }
    SourceConfig {
        expected_ssrc: spec.expected_ssrc,
        expected_address: spec.remote,
        payload_types: types,
        media_handover: spec.media_handover,
        ..SourceConfig::default()
    }
}

impl Leg {
    /// A leg for `spec`; `seed` randomises its SSRC, sequence and timestamp origins.
    pub(crate) fn new(id: LegId, spec: &LegSpec, seed: u64) -> Leg {
        let mut rng = SplitMix64::new(seed);
        let clock_rate = spec.codec.clock_rate();
        let out = OutStream::new(&mut rng);
        let rewriter = Rewriter::new(RewriteConfig::new(out.ssrc, out.seq, out.clock, clock_rate));
        let te_clock = clock_rate;
        Leg {
            id,
            spec: *spec,
            pair: None,
            local: None,
            filter: SourceFilter::new(source_config(spec)),
            rx_stats: ReceiveStats::new(clock_rate),
            tx_stats: SendStats::new(out.ssrc, clock_rate),
            rewriter,
            out,
            rtcp: RtcpSchedule::new(0, ScheduleConfig::default(), 60, &mut rng),
            rng,
            rtcp_peer: None,
            last_source: None,
            last_media_us: 0,
            timed_out: false,
            te_rx: spec.telephone_event.map(|_| {
                TelephoneEventReceiver::new(ReceiverConfig {
                    clock_rate: te_clock,
                    ..ReceiverConfig::default()
                })
            }),
            te_tx: spec.telephone_event.map(|_| {
                TelephoneEventSender::new(SenderConfig {
                    clock_rate: te_clock,
                    ..SenderConfig::default()
                })
            }),
            counters: LegCounters::default(),
            clock_rate,
            controls: LegControls::NORMAL,
            last_sent_seq: None,
            upkeep_due_us: 0,
        }
    }

    /// Continues `old`'s outgoing stream on this leg, which replaces it on the same ports
    /// (a renegotiation rebuilt the session): same SSRC, the next sequence number, the
    /// timestamp advanced by the real time since `old` last sent, the marker on the first
    /// packet, and the sender statistics its SRs report; so the peer sees one stream even
    /// when the session changes kind (a relay forwards through [`Rewriter`], a transcoder
    /// generates on [`OutStream`]). The peer's own stream, RTCP and counters carry on too
    /// when it is the same peer (the new spec names no other address). Nothing is continued
    /// across a change of RTP clock rate: that is a new stream (RFC 3550 §5.1). Allocates
    /// nothing.
    pub(crate) fn continue_from(&mut self, now_us: u64, old: &Leg) {
        if old.clock_rate != self.clock_rate {
            return;
        }
        let mut out = old.out;
        if let (Some(seq), Some((timestamp, at_us))) = (old.last_sent_seq, old.tx_stats.newest()) {
            let elapsed =
                crate::rtp::micros_to_samples(now_us.saturating_sub(at_us), self.clock_rate);
            out.seq = seq.wrapping_add(1);
            out.clock = timestamp.wrapping_add(elapsed as u32);
        }
        out.first = true;
        self.out = out;
        self.rewriter = Rewriter::new(RewriteConfig::new(
            out.ssrc,
            out.seq,
            out.clock,
            self.clock_rate,
        ));
        self.rewriter.signal_switch();
        self.tx_stats = old.tx_stats.clone();
        self.last_sent_seq = old.last_sent_seq;
        let same_peer = self.spec.remote.is_none() || self.spec.remote == old.spec.remote;
        if same_peer {
            self.spec.remote = old.spec.remote;
            self.filter = old.filter.clone();
            // What was learned stays; the payload types are the new spec's.
            self.filter.renegotiate(source_config(&self.spec));
            self.rx_stats = old.rx_stats.clone();
            self.rtcp_peer = old.rtcp_peer;
            self.last_source = old.last_source;
            self.counters = old.counters;
        }
    }

    /// The leg's metrics.
    pub(crate) fn report(&self) -> LegReport {
        LegReport {
            counters: self.counters,
            peer: self.filter.locked_address(),
            received: self.rx_stats.received(),
            cumulative_lost: self.rx_stats.cumulative_lost(),
            jitter: self.rx_stats.jitter(),
            rtt_us: self.tx_stats.rtt_us(),
            ssrc: self.out.ssrc,
            source_ssrc: self.rx_stats.ssrc().filter(|_| self.rx_stats.is_valid()),
            playout: None,
        }
    }

    /// The receive figures a [`EventKind::Quality`] event carries, with the jitter buffer's
    /// (`playout`) of a decoding leg.
    fn quality_sample(&self, playout: Option<PlayoutReport>) -> QualitySample {
        let lost = self.rx_stats.cumulative_lost();
        QualitySample {
            received: self.rx_stats.received(),
            cumulative_lost: lost.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
            jitter: self.rx_stats.jitter(),
            rtt_us: self
                .tx_stats
                .rtt_us()
                .map(|us| u32::try_from(us).unwrap_or(u32::MAX)),
            playout,
        }
    }

    /// The leg's ports are open: start its clocks at `now_us`.
    pub(crate) fn install(&mut self, now_us: u64, pair: PortPair, local: Option<SocketAddr>) {
        self.pair = Some(pair);
        self.local = local;
        self.last_media_us = now_us;
        self.rtcp = RtcpSchedule::new(now_us, ScheduleConfig::default(), 60, &mut self.rng);
        self.upkeep_due_us = 0;
    }

    /// Where media for the peer goes: the locked source (symmetric RTP), else the address
    /// signalling gave, else the source being learned (a peer behind NAT that has not yet
    /// sent enough packets to lock). An asymmetric peer ([`LegSpec::symmetric`] off) gets it
    /// at the address signalling gave.
    pub(crate) fn destination(&self) -> Option<SocketAddr> {
        if !self.spec.symmetric && self.spec.remote.is_some() {
            return self.spec.remote;
        }
        self.filter
            .locked_address()
            .or(self.spec.remote)
            .or(self.last_source)
    }

    /// Signalling moved the peer: send there and learn the source again.
    pub(crate) fn set_remote(&mut self, remote: SocketAddr) {
        self.spec.remote = Some(remote);
        self.filter.relearn(source_config(&self.spec));
        self.rtcp_peer = None;
        self.last_source = None;
        self.rewriter.signal_switch();
    }

    /// Applies new controls at `now_us`. A leg that starts sending again continues its
    /// stream (next sequence number, timestamp advanced by the pause, marker bit); one that
    /// starts receiving again restarts its media timeout.
    pub(crate) fn set_controls(&mut self, now_us: u64, controls: LegControls) {
        let before = std::mem::replace(&mut self.controls, controls);
        if !before.direction.sends() && controls.direction.sends() {
            self.rewriter.signal_switch();
            self.out.first = true;
        }
        if !before.direction.receives() && controls.direction.receives() {
            self.last_media_us = now_us;
            self.timed_out = false;
        }
        self.upkeep_due_us = 0;
    }

    /// The payload byte that silences this leg's codec in place, if it has one (G.711).
    pub(crate) fn silence_byte(&self) -> Option<u8> {
        silence_byte(self.spec.codec.format.codec)
    }

    /// Checks one datagram that arrived on the RTP port. Returns the packet and what it
    /// carries, or `None` when it was dropped (and counted) or consumed (RTCP multiplexed on
    /// the RTP port).
    pub(crate) fn accept_rtp<'b>(
        &mut self,
        ctx: &mut Ctx<'_>,
        source: SocketAddr,
        datagram: &'b mut [u8],
    ) -> Option<(PayloadClass, RtpPacket<&'b mut [u8]>)> {
        self.counters.rtp_received += 1;
        match classify(datagram) {
            PacketKind::Rtp => {}
            PacketKind::Rtcp => {
                self.counters.rtp_received -= 1;
                self.handle_rtcp(ctx, source, datagram);
                return None;
            }
            _ => {
                self.counters.malformed += 1;
                return None;
            }
        }
        if !self.controls.direction.receives() {
            // On hold from our side: nothing the peer sends is used (RTCP above still is).
            self.counters.blocked += 1;
            return None;
        }
        let Ok(packet) = RtpPacket::new_checked(datagram) else {
            self.counters.malformed += 1;
            return None;
        };
        let (ssrc, seq, ts, pt) = (
            packet.ssrc(),
            packet.sequence_number(),
            packet.timestamp(),
            packet.payload_type(),
        );
        let was_locked = self.filter.locked_address();
        if self
            .filter
            .handle_packet(ctx.now_us, source, ssrc, pt, seq)
            .is_err()
        {
            self.counters.source_dropped += 1;
            return None;
        }
        let locked = self.filter.locked_address();
        if let Some(address) = locked.filter(|_| locked != was_locked) {
            ctx.emit(Some(self.id), EventKind::SourceLocked { address });
        }
        self.counters.rtp_accepted += 1;
        self.counters.rtp_bytes_accepted += packet.as_bytes().len() as u64;
        self.last_source = Some(source);
        self.rx_stats
            .handle_packet(ctx.arrival_us, ssrc, seq, ts, packet.payload().len());
        self.last_media_us = ctx.now_us;
        if self.timed_out {
            // The media timeout is armed again.
            self.timed_out = false;
            self.upkeep_due_us = 0;
        }
        let class = if pt == self.spec.codec.payload_type {
            if let Some(tap) = ctx.tap.as_deref_mut() {
                tap.record(
                    ctx.now_us,
                    self.id,
                    self.spec.codec.format,
                    ts,
                    packet.payload(),
                );
            }
            PayloadClass::Media
        } else if Some(pt) == self.spec.telephone_event {
            self.counters.telephone_events += 1;
            if let Some(te) = &mut self.te_rx {
                let _ = te.handle_packet(ctx.now_us, ssrc, ts, packet.marker(), packet.payload());
                // An event in progress has a timeout of its own.
                self.upkeep_due_us = 0;
            }
            PayloadClass::TelephoneEvent
        } else {
            PayloadClass::ComfortNoise
        };
        Some((class, packet))
    }

    /// Drains the RFC 4733 receiver: reports each ended digit as an event, and hands every
    /// notice to `on` (for DTMF conversion).
    pub(crate) fn drain_digits(&mut self, ctx: &mut Ctx<'_>, mut on: impl FnMut(DigitNotice)) {
        let Some(te) = &mut self.te_rx else { return };
        while let Some(notice) = te.poll_event() {
            if let DigitNotice::Ended {
                event,
                duration,
                volume,
                ..
            } = notice
            {
                if let Some(digit) = event.dtmf() {
                    let duration_ms =
                        (u64::from(duration) * 1000 / u64::from(self.clock_rate)) as u32;
                    ctx.emit(
                        Some(self.id),
                        EventKind::Dtmf {
                            digit,
                            duration_ms,
                            volume,
                            source: DtmfSource::Rfc4733,
                        },
                    );
                }
            }
            on(notice);
        }
    }

    /// Handles an RTCP compound from `source`.
    pub(crate) fn handle_rtcp(&mut self, ctx: &mut Ctx<'_>, source: SocketAddr, datagram: &[u8]) {
        // Strict source for RTCP too: only the peer's host may report.
        let from_peer = self
            .filter
            .locked_address()
            .is_none_or(|peer| peer.ip() == source.ip());
        let Ok(compound) = Compound::new_checked(datagram).map_err(|_| ()) else {
            self.counters.rtcp_dropped += 1;
            return;
        };
        if !from_peer {
            self.counters.rtcp_dropped += 1;
            return;
        }
        self.counters.rtcp_received += 1;
        self.rtcp_peer = Some(source);
        self.rtcp.handle_received(datagram.len());
        // A report received can move the next one (RFC 3550 §6.3.3-6.3.4).
        self.upkeep_due_us = 0;
        let our_ssrc = self.out.ssrc;
        for repr in compound.reprs().flatten() {
            let blocks = match repr {
                RtcpRepr::SenderReport(sr) => {
                    if self.rx_stats.ssrc() == Some(sr.ssrc) {
                        self.rx_stats
                            .handle_sender_report(ctx.now_us, sr.sender_info.ntp_time);
                    }
                    sr.report_blocks
                }
                RtcpRepr::ReceiverReport(rr) => rr.report_blocks,
                _ => continue,
            };
            for block in blocks {
                if block.ssrc == our_ssrc {
                    self.tx_stats.handle_report_block(ctx.ntp, &block);
                }
            }
        }
    }

    /// Forwards a packet received on another leg (or this one, for echo) to this leg's peer,
    /// rewritten into this leg's continuous output stream with payload type `payload_type`;
    /// with `silence`, every payload byte is overwritten with it (G.711 mute).
    pub(crate) fn forward(
        &mut self,
        ctx: &mut Ctx<'_>,
        input: &[u8],
        payload_type: PayloadType,
        silence: Option<u8>,
    ) -> bool {
        if !self.controls.direction.sends() {
            self.counters.withheld += 1;
            return false;
        }
        let (Some(pair), Some(destination)) = (self.pair, self.destination()) else {
            self.counters.send_dropped += 1;
            return false;
        };
        let now_us = ctx.now_us;
        let rewriter = &mut self.rewriter;
        let mut sent = None;
        let queued = ctx.tx.push_with(pair.rtp, destination, |buf| {
            let len = input.len();
            let out = buf.get_mut(..len)?;
            out.copy_from_slice(input);
            let mut packet = RtpPacket::new_unchecked(out);
            let rewritten = rewriter.rewrite_in_place(now_us, &mut packet).ok()?;
            packet.set_payload_type(payload_type);
            if let Some(byte) = silence {
                packet.payload_mut().fill(byte);
            }
            sent = Some((rewritten.seq, rewritten.timestamp, packet.payload().len()));
            Some(len)
        });
        match sent.filter(|_| queued) {
            Some((seq, timestamp, payload_len)) => {
                self.last_sent_seq = Some(seq);
                self.counters.sent += 1;
                self.counters.bytes_sent += input.len() as u64;
                self.tx_stats.handle_sent(now_us, timestamp, payload_len);
                true
            }
            None => {
                self.counters.send_dropped += 1;
                false
            }
        }
    }

    /// Sends one generated packet of this leg's output stream.
    pub(crate) fn send(
        &mut self,
        ctx: &mut Ctx<'_>,
        payload_type: PayloadType,
        marker: bool,
        timestamp: RtpTimestamp,
        payload: &[u8],
    ) -> bool {
        if !self.controls.direction.sends() {
            self.counters.withheld += 1;
            return false;
        }
        let (Some(pair), Some(destination)) = (self.pair, self.destination()) else {
            self.counters.send_dropped += 1;
            return false;
        };
        let (seq, first) = self.out.next();
        let mut header = RtpHeader::new(payload_type, seq, timestamp, self.out.ssrc);
        header.marker = marker || first;
        let mut written = 0;
        let queued = ctx.tx.push_with(pair.rtp, destination, |buf| {
            let len = header.emit_packet(payload, buf).ok()?;
            written = len;
            Some(len)
        });
        if queued {
            self.last_sent_seq = Some(seq);
            self.counters.sent += 1;
            self.counters.bytes_sent += written as u64;
            self.tx_stats
                .handle_sent(ctx.now_us, timestamp, payload.len());
        } else {
            self.counters.send_dropped += 1;
        }
        queued
    }

    /// Sends one RFC 4733 packet from the leg's sender.
    pub(crate) fn send_event(&mut self, ctx: &mut Ctx<'_>, transmit: EventTransmit) -> bool {
        let Some(pt) = self.spec.telephone_event else {
            return false;
        };
        let mut payload = [0u8; 4];
        if transmit.event.emit(&mut payload).is_err() {
            return false;
        }
        self.send(ctx, pt, transmit.marker, transmit.timestamp, &payload)
    }

    /// Sends whatever the leg's RFC 4733 sender has due. Returns whether the sender is busy
    /// (an event in progress or final packets pending): audio is held back meanwhile.
    pub(crate) fn poll_events(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let Some(mut sender) = self.te_tx.take() else {
            return false;
        };
        while let Some(transmit) = sender.poll_transmit(ctx.now_us) {
            self.send_event(ctx, transmit);
        }
        let busy = !sender.is_idle();
        self.te_tx = Some(sender);
        busy
    }

    /// When [`Leg::upkeep`] next has something to do (µs; 0: at the next tick).
    pub(crate) fn upkeep_due_us(&self) -> u64 {
        self.upkeep_due_us
    }

    /// Per-tick upkeep: RFC 4733 timeouts, the media timeout, and RTCP on schedule. A
    /// decoding leg passes the `ingress` it feeds, whose figures its quality samples carry.
    pub(crate) fn upkeep(&mut self, ctx: &mut Ctx<'_>, ingress: Option<&Ingress>) {
        let now = ctx.now_us;
        if now < self.upkeep_due_us {
            return;
        }
        if let Some(te) = &mut self.te_rx {
            te.handle_timeout(now);
        }
        let timeout_us = u64::from(self.spec.media_timeout_ms) * 1000;
        // A leg that does not receive (hold) expects no media: no timeout meanwhile.
        let expecting = self.controls.direction.receives();
        let media_timeout = expecting && timeout_us > 0;
        if media_timeout && !self.timed_out && now.saturating_sub(self.last_media_us) >= timeout_us
        {
            self.timed_out = true;
            ctx.emit(Some(self.id), EventKind::MediaTimeout);
        }
        if now >= self.rtcp.poll_timeout() && self.rtcp.handle_timeout(now, &mut self.rng) {
            self.send_report(ctx);
            if self.rx_stats.is_valid() {
                let sample = self.quality_sample(ingress.map(Ingress::report));
                ctx.emit(Some(self.id), EventKind::Quality(sample));
            }
        }
        // Media received later only moves the media timeout further out, so the deadline
        // computed here may come early (then this runs once more and recomputes), never late.
        let media_due = (media_timeout && !self.timed_out)
            .then(|| self.last_media_us.saturating_add(timeout_us));
        self.upkeep_due_us = [
            Some(self.rtcp.poll_timeout()),
            media_due,
            self.te_rx
                .as_ref()
                .and_then(TelephoneEventReceiver::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(u64::MAX);
    }

    /// Where RTCP for the peer goes: where its RTCP comes from (symmetric peers), else the
    /// media destination's port + 1 (RFC 3550 §11).
    fn rtcp_destination(&self) -> Option<SocketAddr> {
        self.rtcp_peer.filter(|_| self.spec.symmetric).or_else(|| {
            self.destination().map(|mut d| {
                d.set_port(d.port().wrapping_add(1));
                d
            })
        })
    }

    /// Queues an RR + SDES + BYE compound (RFC 3550 §6.6): the leg is going away.
    pub(crate) fn send_bye(&mut self, ctx: &mut Ctx<'_>) {
        let (Some(pair), Some(destination)) = (self.pair, self.rtcp_destination()) else {
            return;
        };
        let ssrc = self.out.ssrc;
        let queued = ctx.tx.push_with(pair.rtcp, destination, |buf| {
            let mut writer = CompoundWriter::new(buf);
            writer.receiver_report(ssrc, &[]).ok()?;
            writer.cname(ssrc, CNAME).ok()?;
            writer.goodbye(&[ssrc], None).ok()?;
            Some(writer.finish())
        });
        if queued {
            self.counters.rtcp_sent += 1;
        }
    }

    fn send_report(&mut self, ctx: &mut Ctx<'_>) {
        let destination = self.rtcp_destination();
        let mut size = 0;
        if let (Some(pair), Some(destination)) = (self.pair, destination) {
            let sender = self
                .tx_stats
                .last_sent_us()
                .filter(|&t| ctx.now_us.saturating_sub(t) < SENDER_WINDOW_US)
                .map(|_| &self.tx_stats);
            let (now_us, ntp, ssrc) = (ctx.now_us, ctx.ntp, self.out.ssrc);
            let receivers = std::slice::from_mut(&mut self.rx_stats);
            ctx.tx.push_with(pair.rtcp, destination, |buf| {
                let len = emit_report(now_us, ntp, ssrc, CNAME, sender, receivers, buf).ok()?;
                size = len;
                Some(len)
            });
            if size > 0 {
                self.counters.rtcp_sent += 1;
            }
        }
        self.rtcp
            .handle_sent(ctx.now_us, size.max(60), &mut self.rng);
    }
}
