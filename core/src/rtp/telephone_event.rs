//! RFC 4733 telephone-events: the payload format (§2.3), a sans-IO sender that turns digit
//! start/stop into begin/update/end packets (§2.5.1), and a receiver that turns event packets
//! back into exactly one digit per event (§2.5.2).
//!
//! # Contract
//!
//! - [`TelephoneEvent::parse`] never panics; it reads the first four bytes of a payload and
//!   ignores the R bit (§2.3.3). [`TelephoneEvent::emit`] writes four bytes.
//! - [`TelephoneEventSender`] is driven by the caller's clock (`now_us`, microseconds on any
//!   monotonic scale) and the stream's RTP timestamp of the event start. It produces, through
//!   [`poll_transmit`](TelephoneEventSender::poll_transmit): a first packet with the marker bit
//!   (§2.5.1.2), updates every `update_interval_us` carrying the duration so far, and, when the
//!   digit stops, the final packet with the E bit sent a total of `end_packets` times (three by
//!   default) at the update interval (§2.5.1.4). Events longer than the 16-bit duration field
//!   are split into segments (§2.5.1.3): the segment ends with duration `0xFFFF` (no E bit, sent
//!   three times like a final packet) and the next segment starts at timestamp
//!   `previous + 0xFFFF` without the marker bit. Sequence numbers and the RTP header are the
//!   caller's: telephone-events share the sequence space of the audio stream (§2.1).
//! - [`TelephoneEventReceiver`] reports each event once as [`DigitNotice::Began`] and once as
//!   [`DigitNotice::Ended`] with its total duration, whatever the network does: redundant and
//!   duplicated end packets, a lost first packet (the first packet seen starts the event, with
//!   or without marker), reordering (older packets never shorten or restart an event), lost end
//!   packets (the event ends after `end_timeout_us` without packets; if it then turns out to
//!   go on, its later packets are absorbed, not reported again), segments of long events
//!   (merged into one digit), and timestamp changes (a new timestamp is a new event unless it
//!   continues the current one; a new SSRC or a jump far into the past starts afresh).
//! - Digits come out in timestamp order. The price: an event whose every packet arrives
//!   after the first packet of a later event is dropped as late (counted in
//!   [`ReceiverCounters::late`]) rather than reported out of order.
//! - Neither side allocates after construction; the receiver's notice queue holds
//!   [`NOTICES_MAX`] entries and is drained with
//!   [`poll_event`](TelephoneEventReceiver::poll_event) after every call.

use crate::error::{EmitError, PayloadError};
use crate::rtp::header::{RtpTimestamp, Ssrc};
use crate::rtp::{micros_to_samples, take_mut};

/// Length of one event in a payload (§2.3).
pub const PAYLOAD_LEN: usize = 4;
/// The largest value of the duration field; longer events are segmented (§2.5.1.3).
pub const MAX_SEGMENT_DURATION: u16 = u16::MAX;

/// An RFC 4733 event code (§3.2 for DTMF: `0`–`9` are 0–9, `*` 10, `#` 11, `A`–`D` 12–15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EventCode(pub u8);

impl EventCode {
    /// The event code of a DTMF digit character (`a`–`d` accepted as `A`–`D`).
    pub const fn from_dtmf(c: char) -> Option<EventCode> {
        let code = match c {
            '0'..='9' => c as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => c as u8 - b'A' + 12,
            'a'..='d' => c as u8 - b'a' + 12,
            _ => return None,
        };
        Some(EventCode(code))
    }

    /// The DTMF digit character of this code, if it is one of the 16 DTMF events.
    pub const fn dtmf(self) -> Option<char> {
        match self.0 {
            0..=9 => Some((b'0' + self.0) as char),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some((b'A' + self.0 - 12) as char),
            _ => None,
        }
    }
}

/// One telephone-event report (§2.3): what the four payload bytes mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event.
    pub event: EventCode,
    /// The E bit: this is the final packet of the event (or of a segment, see §2.5.1.3).
    pub end: bool,
    /// Power level of a tone, in −dBm0 (0–63, §2.3.4).
    pub volume: u8,
    /// Duration so far, in timestamp units, from the packet's RTP timestamp (§2.3.5).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event of a payload.
    ///
    /// # Errors
    ///
    /// [`PayloadError::Truncated`] if the payload is shorter than four bytes.
    #[inline]
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, PayloadError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(TelephoneEvent {
                event: EventCode(*event),
                end: flags & 0x80 != 0,
                volume: flags & 0x3f,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(PayloadError::Truncated {
                len: payload.len(),
                needed: PAYLOAD_LEN,
            }),
        }
    }

    /// Writes the four payload bytes into `buf` (R bit zero) and returns 4.
    ///
    /// # Errors
    ///
    /// [`EmitError::Range`] if `volume > 63`; [`EmitError::BufferTooSmall`].
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        if self.volume > 63 {
            return Err(EmitError::Range(u32::from(self.volume)));
        }
        let out = take_mut(buf, 0, PAYLOAD_LEN)?;
        let d = self.duration.to_be_bytes();
        out.copy_from_slice(&[
            self.event.0,
            (u8::from(self.end) << 7) | self.volume,
            d[0],
            d[1],
        ]);
        Ok(PAYLOAD_LEN)
    }
}

/// Settings of a [`TelephoneEventSender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// The telephone-event clock rate in Hz (8000 unless negotiated otherwise, §2.1).
    pub clock_rate: u32,
    /// Interval between updates, µs. §2.5.1.2 suggests 50 ms, or the audio packet interval.
    pub update_interval_us: u64,
    /// How many times the final packet of an event or segment is sent (§2.5.1.4: three).
    pub end_packets: u8,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            clock_rate: 8000,
            update_interval_us: 50_000,
            end_packets: 3,
        }
    }
}

/// One telephone-event packet to send: the caller puts `event` (see
/// [`TelephoneEvent::emit`]) in an RTP packet with this timestamp and marker bit and the
/// stream's next sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTransmit {
    /// The RTP timestamp: the start of the event (or of its segment).
    pub timestamp: RtpTimestamp,
    /// The marker bit: set on the first packet of an event only.
    pub marker: bool,
    /// The payload.
    pub event: TelephoneEvent,
}

#[derive(Debug, Clone, Copy)]
struct ActiveEvent {
    event: EventCode,
    volume: u8,
    started_us: u64,
    segment_ts: RtpTimestamp,
    /// Samples from the event start to the current segment's start.
    segment_offset: u64,
    next_due_us: u64,
    marker_pending: bool,
}

/// A final packet (of an event or a segment) still to be sent `remaining` times.
#[derive(Debug, Clone, Copy)]
struct FinalPacket {
    transmit: EventTransmit,
    remaining: u8,
    next_due_us: u64,
}

/// Turns digit start/stop into RFC 4733 packets (§2.5.1). See the module docs.
#[derive(Debug, Clone)]
pub struct TelephoneEventSender {
    config: SenderConfig,
    active: Option<ActiveEvent>,
    segment_end: Option<FinalPacket>,
    /// The previous event's final packet, still being repeated when the next event ended.
    previous_end: Option<FinalPacket>,
    event_end: Option<FinalPacket>,
}

impl TelephoneEventSender {
    /// A sender with nothing to send.
    ///
    /// # Panics
    ///
    /// If `clock_rate` or `update_interval_us` is zero (a configuration bug).
    pub fn new(config: SenderConfig) -> TelephoneEventSender {
        assert!(config.clock_rate > 0 && config.update_interval_us > 0);
        TelephoneEventSender {
            config,
            active: None,
            segment_end: None,
            previous_end: None,
            event_end: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// True while an event is in progress (begun and not ended).
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// True when nothing is left to send.
    pub fn is_idle(&self) -> bool {
        self.active.is_none()
            && self.segment_end.is_none()
            && self.previous_end.is_none()
            && self.event_end.is_none()
    }

    /// A digit starts. `started_us` is when the tone began (at most `now_us`; earlier when a
    /// detector recognises a tone after the fact) and `timestamp` the stream's RTP timestamp at
    /// that instant. An event still in progress is ended at `now_us` first. The first packet is
    /// due at once.
    ///
    /// # Errors
    ///
    /// [`EmitError::Range`] if `volume > 63`.
    pub fn begin(
        &mut self,
        now_us: u64,
        started_us: u64,
        event: EventCode,
        volume: u8,
        timestamp: RtpTimestamp,
    ) -> Result<(), EmitError> {
        if volume > 63 {
            return Err(EmitError::Range(u32::from(volume)));
        }
        self.end(now_us);
        self.active = Some(ActiveEvent {
            event,
            volume,
            started_us: started_us.min(now_us),
            segment_ts: timestamp,
            segment_offset: 0,
            next_due_us: now_us,
            marker_pending: true,
        });
        Ok(())
    }

    /// The digit stops at `now_us`: its final packet is due at once and is repeated at the
    /// update interval. Does nothing without an event in progress.
    pub fn end(&mut self, now_us: u64) {
        let Some(mut active) = self.active.take() else {
            return;
        };
        let elapsed = self.samples_since(active.started_us, now_us);
        self.close_full_segments(&mut active, elapsed, now_us);
        let duration = (elapsed - active.segment_offset) as u16;
        // Fast dialling can end a digit while the previous one's final packet is still being
        // repeated; both keep their repetitions (an older one still pending is dropped).
        self.previous_end = self.event_end.take();
        self.event_end = Some(FinalPacket {
            transmit: EventTransmit {
                timestamp: active.segment_ts,
                marker: active.marker_pending,
                event: TelephoneEvent {
                    event: active.event,
                    end: true,
                    volume: active.volume,
                    duration,
                },
            },
            remaining: self.config.end_packets.max(1),
            next_due_us: now_us,
        });
    }

    /// When the next packet is due, if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        [
            self.segment_end.map(|f| f.next_due_us),
            self.previous_end.map(|f| f.next_due_us),
            self.event_end.map(|f| f.next_due_us),
            self.active.map(|a| a.next_due_us),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next packet due at `now_us`, if any. Call until `None` after every `begin`, `end`
    /// and timeout.
    pub fn poll_transmit(&mut self, now_us: u64) -> Option<EventTransmit> {
        let interval = self.config.update_interval_us;
        for slot in [
            &mut self.segment_end,
            &mut self.previous_end,
            &mut self.event_end,
        ] {
            if let Some(last) = slot.as_mut().filter(|f| f.next_due_us <= now_us) {
                let transmit = last.transmit;
                last.transmit.marker = false;
                last.remaining -= 1;
                last.next_due_us = now_us + interval;
                if last.remaining == 0 {
                    *slot = None;
                }
                return Some(transmit);
            }
        }
        let mut active = self.active.filter(|a| a.next_due_us <= now_us)?;
        let elapsed = self.samples_since(active.started_us, now_us);
        if self.close_full_segments(&mut active, elapsed, now_us) {
            // The segment's final packet goes first; the update follows on the next poll.
            self.active = Some(active);
            return self.poll_transmit(now_us);
        }
        let transmit = EventTransmit {
            timestamp: active.segment_ts,
            marker: active.marker_pending,
            event: TelephoneEvent {
                event: active.event,
                end: false,
                volume: active.volume,
                duration: (elapsed - active.segment_offset) as u16,
            },
        };
        active.marker_pending = false;
        active.next_due_us += interval;
        if active.next_due_us <= now_us {
            active.next_due_us = now_us + interval;
        }
        self.active = Some(active);
        Some(transmit)
    }

    /// Drops everything in progress without sending more (a stream reset).
    pub fn reset(&mut self) {
        self.active = None;
        self.segment_end = None;
        self.previous_end = None;
        self.event_end = None;
    }

    fn samples_since(&self, from_us: u64, now_us: u64) -> u64 {
        let us = now_us.saturating_sub(from_us);
        micros_to_samples(us, self.config.clock_rate)
    }

    /// Ends every segment the event has filled (§2.5.1.3); the last one's final packet is
    /// queued. Returns whether a segment was closed.
    fn close_full_segments(&mut self, active: &mut ActiveEvent, elapsed: u64, now_us: u64) -> bool {
        let max = u64::from(MAX_SEGMENT_DURATION);
        let mut closed = false;
        while elapsed - active.segment_offset > max {
            self.segment_end = Some(FinalPacket {
                transmit: EventTransmit {
                    timestamp: active.segment_ts,
                    marker: active.marker_pending,
                    event: TelephoneEvent {
                        event: active.event,
                        end: false,
                        volume: active.volume,
                        duration: MAX_SEGMENT_DURATION,
                    },
                },
                remaining: self.config.end_packets.max(1),
                next_due_us: now_us,
            });
            active.marker_pending = false;
            active.segment_offset += max;
            active.segment_ts = active
                .segment_ts
                .wrapping_add(u32::from(MAX_SEGMENT_DURATION));
            closed = true;
        }
        closed
    }
}

/// Settings of a [`TelephoneEventReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// The telephone-event clock rate in Hz.
    pub clock_rate: u32,
    /// An event with no packet for this long ends ([`EndReason::Timeout`]), µs. It must exceed
    /// the sender's update interval comfortably; 400 ms covers several lost updates at 50 ms.
    pub end_timeout_us: u64,
    /// How far (µs) a new timestamp may lie beyond the current event's reported end and still
    /// continue it (same event code, no marker): absorbs segment boundaries whose final
    /// packets were lost (§2.5.1.3) and senders that move the timestamp within an event. Two
    /// update intervals or more.
    pub continuation_slack_us: u64,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            clock_rate: 8000,
            end_timeout_us: 400_000,
            continuation_slack_us: 120_000,
        }
    }
}

/// Why an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// A packet with the E bit arrived.
    EndBit,
    /// No packet arrived for `end_timeout_us`: every final packet was lost.
    Timeout,
    /// A new event (or a new SSRC, or [`TelephoneEventReceiver::reset`]) replaced it.
    Superseded,
}

/// What the receiver reports. Each event gives exactly one `Began` and, later, one `Ended`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitNotice {
    /// An event started.
    Began {
        /// The event.
        event: EventCode,
        /// The RTP timestamp of its start.
        timestamp: RtpTimestamp,
    },
    /// An event ended.
    Ended {
        /// The event.
        event: EventCode,
        /// The RTP timestamp of its start.
        timestamp: RtpTimestamp,
        /// Total duration over all segments, timestamp units: the largest duration reported
        /// for the last segment plus the length of the segments before it.
        duration: u32,
        /// The volume field of its last packet: the level in dBm0 with the sign dropped
        /// (§2.3.4).
        volume: u8,
        /// Why it ended.
        reason: EndReason,
    },
}

/// Counters of a [`TelephoneEventReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiverCounters {
    /// Packets handled.
    pub packets: u64,
    /// Packets of an event that had already ended (redundant end packets, duplicates, late
    /// updates).
    pub duplicates: u64,
    /// Packets older than the current event.
    pub late: u64,
    /// Packets with the current timestamp but a different event code.
    pub conflicts: u64,
    /// Notices dropped because the caller did not drain the queue.
    pub notices_dropped: u64,
}

/// Capacity of the receiver's notice queue. One packet produces at most two notices.
pub const NOTICES_MAX: usize = 8;

/// What the receiver remembers of the last event it ended.
#[derive(Debug, Clone, Copy)]
struct EndedEvent {
    event: EventCode,
    segment_ts: RtpTimestamp,
    duration: u16,
    reason: EndReason,
}

#[derive(Debug, Clone, Copy)]
struct CurrentEvent {
    event: EventCode,
    start_ts: RtpTimestamp,
    segment_ts: RtpTimestamp,
    /// Duration of the segments before the current one.
    base: u64,
    duration: u16,
    volume: u8,
    last_packet_us: u64,
}

/// Turns RFC 4733 packets into one [`DigitNotice::Began`] and one [`DigitNotice::Ended`] per
/// event (§2.5.2). See the module docs.
#[derive(Debug, Clone)]
pub struct TelephoneEventReceiver {
    config: ReceiverConfig,
    ssrc: Option<Ssrc>,
    current: Option<CurrentEvent>,
    /// The last ended event: packets at or just before its last segment's timestamp belong
    /// to events already reported.
    last_ended: Option<EndedEvent>,
    notices: [Option<DigitNotice>; NOTICES_MAX],
    head: usize,
    len: usize,
    counters: ReceiverCounters,
}

/// Packets this far (in timestamp units) before the current or last event are late
/// duplicates; further back, the timestamp has jumped and a new event starts. Spans a full
/// segment plus margin (§2.5.1.3).
const LATE_WINDOW: i32 = 4 * 65536;

impl TelephoneEventReceiver {
    /// A receiver with no event in progress.
    pub fn new(config: ReceiverConfig) -> TelephoneEventReceiver {
        TelephoneEventReceiver {
            config,
            ssrc: None,
            current: None,
            last_ended: None,
            notices: [None; NOTICES_MAX],
            head: 0,
            len: 0,
            counters: ReceiverCounters::default(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> &ReceiverCounters {
        &self.counters
    }

    /// True while an event is in progress.
    pub fn is_active(&self) -> bool {
        self.current.is_some()
    }

    /// Handles one telephone-event packet: its SSRC, RTP timestamp, marker bit and payload.
    /// Drain [`poll_event`](Self::poll_event) afterwards.
    ///
    /// # Errors
    ///
    /// [`PayloadError::Truncated`] for a payload under four bytes (drop and count).
    pub fn handle_packet(
        &mut self,
        now_us: u64,
        ssrc: Ssrc,
        timestamp: RtpTimestamp,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), PayloadError> {
        let report = TelephoneEvent::parse(payload)?;
        self.counters.packets += 1;
        if self.ssrc != Some(ssrc) {
            // A new source has its own timestamp space.
            self.finish(EndReason::Superseded);
            self.last_ended = None;
            self.ssrc = Some(ssrc);
        }
        if let Some(mut current) = self.current {
            let d = timestamp.diff(current.segment_ts);
            if d == 0 {
                if report.event != current.event {
                    self.counters.conflicts += 1;
                    return Ok(());
                }
                current.duration = current.duration.max(report.duration);
                current.volume = report.volume;
                current.last_packet_us = now_us;
                self.current = Some(current);
                if report.end {
                    self.finish(EndReason::EndBit);
                }
                return Ok(());
            }
            if d > 0 {
                if report.event == current.event && !marker && self.continues(current.duration, d) {
                    // The next segment of a long event (§2.5.1.3), or a sender that moves the
                    // timestamp within an event: the same digit continues.
                    current.base += d as u64;
                    current.segment_ts = timestamp;
                    current.duration = report.duration;
                    current.volume = report.volume;
                    current.last_packet_us = now_us;
                    self.current = Some(current);
                    if report.end {
                        self.finish(EndReason::EndBit);
                    }
                    return Ok(());
                }
                self.finish(EndReason::Superseded);
                self.start(now_us, timestamp, &report);
                return Ok(());
            }
            if d > -LATE_WINDOW {
                self.counters.late += 1;
                return Ok(());
            }
            // Far in the past: the sender's timestamps jumped.
            self.finish(EndReason::Superseded);
            self.start(now_us, timestamp, &report);
            return Ok(());
        }
        if let Some(mut last) = self.last_ended {
            let d = timestamp.diff(last.segment_ts);
            if d == 0 {
                self.counters.duplicates += 1;
                return Ok(());
            }
            if d < 0 && d > -LATE_WINDOW {
                self.counters.late += 1;
                return Ok(());
            }
            if last.reason == EndReason::Timeout
                && report.event == last.event
                && !marker
                && self.continues(last.duration, d)
            {
                // The event timed out during a burst of loss but goes on (a later segment):
                // it was already reported, so follow it silently.
                last.segment_ts = timestamp;
                last.duration = report.duration;
                self.last_ended = Some(last);
                self.counters.duplicates += 1;
                return Ok(());
            }
        }
        self.start(now_us, timestamp, &report);
        Ok(())
    }

    /// When the current event times out, if one is in progress.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.current
            .map(|c| c.last_packet_us + self.config.end_timeout_us)
    }

    /// Ends the current event if it has timed out at `now_us`.
    pub fn handle_timeout(&mut self, now_us: u64) {
        if self.poll_timeout().is_some_and(|t| t <= now_us) {
            self.finish(EndReason::Timeout);
        }
    }

    /// The next notice, oldest first.
    pub fn poll_event(&mut self) -> Option<DigitNotice> {
        if self.len == 0 {
            return None;
        }
        let notice = self.notices[self.head].take();
        self.head = (self.head + 1) % NOTICES_MAX;
        self.len -= 1;
        notice
    }

    /// Ends an event in progress ([`EndReason::Superseded`]) and forgets the source: the
    /// caller signals a re-route or renegotiation.
    pub fn reset(&mut self) {
        self.finish(EndReason::Superseded);
        self.ssrc = None;
        self.last_ended = None;
    }

    /// Whether a packet `d` timestamp units after a segment that reached `duration` can
    /// belong to the same event.
    fn continues(&self, duration: u16, d: i32) -> bool {
        let slack = micros_to_samples(self.config.continuation_slack_us, self.config.clock_rate);
        d > 0 && d as u64 <= u64::from(duration) + slack
    }

    fn start(&mut self, now_us: u64, timestamp: RtpTimestamp, report: &TelephoneEvent) {
        self.current = Some(CurrentEvent {
            event: report.event,
            start_ts: timestamp,
            segment_ts: timestamp,
            base: 0,
            duration: report.duration,
            volume: report.volume,
            last_packet_us: now_us,
        });
        self.push(DigitNotice::Began {
            event: report.event,
            timestamp,
        });
        if report.end {
            self.finish(EndReason::EndBit);
        }
    }

    fn finish(&mut self, reason: EndReason) {
        let Some(current) = self.current.take() else {
            return;
        };
        self.last_ended = Some(EndedEvent {
            event: current.event,
            segment_ts: current.segment_ts,
            duration: current.duration,
            reason,
        });
        let total = current.base + u64::from(current.duration);
        self.push(DigitNotice::Ended {
            event: current.event,
            timestamp: current.start_ts,
            duration: u32::try_from(total).unwrap_or(u32::MAX),
            volume: current.volume,
            reason,
        });
    }

    fn push(&mut self, notice: DigitNotice) {
        if self.len == NOTICES_MAX {
            // Drop the oldest: the caller did not drain.
            self.head = (self.head + 1) % NOTICES_MAX;
            self.len -= 1;
            self.counters.notices_dropped += 1;
        }
        let tail = (self.head + self.len) % NOTICES_MAX;
        self.notices[tail] = Some(notice);
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §2.3 Figure 1 written out: event 9 (`9`), E=1, R=0, volume 10, duration 1600.
    const END_OF_NINE: [u8; 4] = [0x09, 0x8A, 0x06, 0x40];

    #[test]
    fn parses_and_emits_the_payload_layout() {
        let e = TelephoneEvent::parse(&END_OF_NINE).unwrap();
        assert_eq!(
            e,
            TelephoneEvent {
                event: EventCode(9),
                end: true,
                volume: 10,
                duration: 1600
            }
        );
        let mut out = [0u8; 4];
        assert_eq!(e.emit(&mut out), Ok(4));
        assert_eq!(out, END_OF_NINE);
        // The R bit is ignored on receipt (§2.3.3).
        let with_r = [0x09, 0xCA, 0x06, 0x40];
        assert_eq!(TelephoneEvent::parse(&with_r), Ok(e));
        assert_eq!(
            TelephoneEvent::parse(&END_OF_NINE[..3]),
            Err(PayloadError::Truncated { len: 3, needed: 4 })
        );
        let loud = TelephoneEvent { volume: 64, ..e };
        assert_eq!(loud.emit(&mut out), Err(EmitError::Range(64)));
    }

    #[test]
    fn dtmf_characters_map_to_section_3_2_codes() {
        for (c, code) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('d', 15),
        ] {
            assert_eq!(EventCode::from_dtmf(c), Some(EventCode(code)));
        }
        assert_eq!(EventCode(11).dtmf(), Some('#'));
        assert_eq!(EventCode(16).dtmf(), None);
        assert_eq!(EventCode::from_dtmf('x'), None);
    }

    fn drain(sender: &mut TelephoneEventSender, now: u64, out: &mut Vec<(u64, EventTransmit)>) {
        while let Some(t) = sender.poll_transmit(now) {
            out.push((now, t));
        }
    }

    /// Runs the sender with polls at every timeout until `until_us`.
    fn run(sender: &mut TelephoneEventSender, until_us: u64, out: &mut Vec<(u64, EventTransmit)>) {
        while let Some(t) = sender.poll_timeout().filter(|t| *t <= until_us) {
            drain(sender, t, out);
        }
    }

    /// §2.5.1: a 200 ms digit at 8 kHz with 50 ms updates: marker on the first packet only,
    /// durations growing by 400, the final duration 1600 sent three times 50 ms apart, all with
    /// the event's start timestamp.
    #[test]
    fn sender_produces_begin_updates_and_three_ends() {
        let mut s = TelephoneEventSender::new(SenderConfig::default());
        let mut out = Vec::new();
        s.begin(1_000_000, 1_000_000, EventCode(9), 10, RtpTimestamp(48000))
            .unwrap();
        run(&mut s, 1_199_999, &mut out);
        s.end(1_200_000);
        run(&mut s, 2_000_000, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|(t, x)| (*t, x.timestamp.0, x.marker, x.event.end, x.event.duration))
            .collect();
        assert_eq!(
            got,
            [
                (1_000_000, 48000, true, false, 0),
                (1_050_000, 48000, false, false, 400),
                (1_100_000, 48000, false, false, 800),
                (1_150_000, 48000, false, false, 1200),
                (1_200_000, 48000, false, true, 1600),
                (1_250_000, 48000, false, true, 1600),
                (1_300_000, 48000, false, true, 1600),
            ]
        );
        assert!(s.is_idle());
    }

    #[test]
    fn back_dated_begin_reports_the_elapsed_duration() {
        let mut s = TelephoneEventSender::new(SenderConfig::default());
        s.begin(40_000, 0, EventCode(1), 7, RtpTimestamp(0))
            .unwrap();
        let first = s.poll_transmit(40_000).unwrap();
        assert!(first.marker);
        assert_eq!(first.event.duration, 320);
        assert_eq!(s.poll_timeout(), Some(90_000));
    }

    /// §2.5.1.3: at 8 kHz a segment holds 65535 units (8.19 s); a 20 s event has three
    /// segments, each starting 65535 after the previous, the first two ending with 0xFFFF
    /// (no E bit) sent three times, the marker only on the very first packet.
    #[test]
    fn long_event_is_split_into_segments() {
        let mut s = TelephoneEventSender::new(SenderConfig::default());
        let mut out = Vec::new();
        s.begin(0, 0, EventCode(5), 10, RtpTimestamp(u32::MAX - 100))
            .unwrap();
        run(&mut s, 19_999_999, &mut out);
        s.end(20_000_000);
        run(&mut s, 30_000_000, &mut out);
        assert_eq!(out.iter().filter(|(_, t)| t.marker).count(), 1);
        let seg0 = u32::MAX - 100;
        let seg1 = seg0.wrapping_add(65535);
        let seg2 = seg1.wrapping_add(65535);
        let segment_ends: Vec<_> = out
            .iter()
            .filter(|(_, t)| t.event.duration == u16::MAX && !t.event.end)
            .map(|(_, t)| t.timestamp.0)
            .collect();
        assert_eq!(segment_ends, [seg0, seg0, seg0, seg1, seg1, seg1]);
        let ends: Vec<_> = out.iter().filter(|(_, t)| t.event.end).collect();
        assert_eq!(ends.len(), 3);
        // 20 s = 160000 units = 2 × 65535 + 28930.
        assert!(
            ends.iter()
                .all(|(_, t)| t.timestamp.0 == seg2 && t.event.duration == 28930)
        );
        // Durations never exceed the field and grow within each segment.
        let mut r = TelephoneEventReceiver::new(ReceiverConfig::default());
        for (now, t) in &out {
            let mut p = [0u8; 4];
            t.event.emit(&mut p).unwrap();
            r.handle_packet(*now, Ssrc(1), t.timestamp, t.marker, &p)
                .unwrap();
        }
        assert_eq!(
            r.poll_event(),
            Some(DigitNotice::Began {
                event: EventCode(5),
                timestamp: RtpTimestamp(seg0)
            })
        );
        assert_eq!(
            r.poll_event(),
            Some(DigitNotice::Ended {
                event: EventCode(5),
                timestamp: RtpTimestamp(seg0),
                duration: 160_000,
                volume: 10,
                reason: EndReason::EndBit
            })
        );
        assert_eq!(r.poll_event(), None);
    }

    /// Fast dialling, 40 ms on and 40 ms off: every digit still gets its three final packets.
    #[test]
    fn fast_dialling_keeps_every_final_packet() {
        let mut s = TelephoneEventSender::new(SenderConfig::default());
        let mut out = Vec::new();
        for d in 0..4u64 {
            let start = d * 80_000;
            s.begin(
                start,
                start,
                EventCode(d as u8),
                10,
                RtpTimestamp(start as u32 / 125),
            )
            .unwrap();
            run(&mut s, start + 39_999, &mut out);
            s.end(start + 40_000);
            run(&mut s, start + 79_999, &mut out);
        }
        run(&mut s, 1_000_000, &mut out);
        for d in 0..4u8 {
            let ends = out
                .iter()
                .filter(|(_, t)| t.event.event == EventCode(d) && t.event.end)
                .count();
            assert_eq!(ends, 3, "digit {d}");
        }
    }

    #[test]
    fn a_new_digit_ends_the_previous_one() {
        let mut s = TelephoneEventSender::new(SenderConfig::default());
        let mut out = Vec::new();
        s.begin(0, 0, EventCode(1), 10, RtpTimestamp(0)).unwrap();
        drain(&mut s, 0, &mut out);
        s.begin(100_000, 100_000, EventCode(2), 10, RtpTimestamp(800))
            .unwrap();
        drain(&mut s, 100_000, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|(_, t)| (t.event.event.0, t.event.end, t.marker, t.event.duration))
            .collect();
        assert_eq!(
            got,
            [
                (1, false, true, 0),
                (1, true, false, 800),
                (2, false, true, 0)
            ]
        );
    }

    fn packet(
        rx: &mut TelephoneEventReceiver,
        now: u64,
        ts: u32,
        m: bool,
        e: u8,
        end: bool,
        d: u16,
    ) {
        let mut p = [0u8; 4];
        TelephoneEvent {
            event: EventCode(e),
            end,
            volume: 10,
            duration: d,
        }
        .emit(&mut p)
        .unwrap();
        rx.handle_packet(now, Ssrc(7), RtpTimestamp(ts), m, &p)
            .unwrap();
    }

    fn notices(rx: &mut TelephoneEventReceiver) -> Vec<DigitNotice> {
        std::iter::from_fn(|| rx.poll_event()).collect()
    }

    #[test]
    fn redundant_ends_and_late_updates_give_one_digit() {
        let mut rx = TelephoneEventReceiver::new(ReceiverConfig::default());
        packet(&mut rx, 0, 1000, true, 3, false, 0);
        packet(&mut rx, 50, 1000, false, 3, false, 400);
        packet(&mut rx, 100, 1000, false, 3, true, 800);
        packet(&mut rx, 120, 1000, false, 3, false, 600); // late update
        packet(&mut rx, 150, 1000, false, 3, true, 800);
        packet(&mut rx, 200, 1000, false, 3, true, 800);
        assert_eq!(
            notices(&mut rx),
            [
                DigitNotice::Began {
                    event: EventCode(3),
                    timestamp: RtpTimestamp(1000)
                },
                DigitNotice::Ended {
                    event: EventCode(3),
                    timestamp: RtpTimestamp(1000),
                    duration: 800,
                    volume: 10,
                    reason: EndReason::EndBit
                }
            ]
        );
        assert_eq!(rx.counters().duplicates, 3);
    }

    #[test]
    fn lost_begin_and_reordered_updates_still_give_one_digit() {
        let mut rx = TelephoneEventReceiver::new(ReceiverConfig::default());
        packet(&mut rx, 0, 5000, false, 7, false, 800); // begin lost
        packet(&mut rx, 1, 5000, false, 7, false, 400); // reordered older update
        packet(&mut rx, 2, 5000, false, 7, true, 1200);
        let n = notices(&mut rx);
        assert_eq!(n.len(), 2);
        assert!(matches!(
            n[1],
            DigitNotice::Ended {
                duration: 1200,
                reason: EndReason::EndBit,
                ..
            }
        ));
    }

    #[test]
    fn same_digit_twice_is_two_events_and_only_an_end_packet_is_enough() {
        let mut rx = TelephoneEventReceiver::new(ReceiverConfig::default());
        packet(&mut rx, 0, 0, true, 1, true, 800);
        packet(&mut rx, 1, 2000, false, 1, true, 800); // begin and updates lost
        let ended = notices(&mut rx)
            .into_iter()
            .filter(|n| matches!(n, DigitNotice::Ended { .. }))
            .count();
        assert_eq!(ended, 2);
    }

    #[test]
    fn lost_ends_time_out_and_a_new_event_supersedes() {
        let mut rx = TelephoneEventReceiver::new(ReceiverConfig::default());
        packet(&mut rx, 0, 0, true, 4, false, 400);
        assert_eq!(rx.poll_timeout(), Some(400_000));
        rx.handle_timeout(399_999);
        assert!(rx.is_active());
        rx.handle_timeout(400_000);
        assert!(!rx.is_active());
        // The end packets arrive after the timeout: already reported.
        packet(&mut rx, 400_001, 0, false, 4, true, 800);
        packet(&mut rx, 500_000, 4000, true, 6, false, 0);
        packet(&mut rx, 550_000, 8000, true, 6, false, 0);
        let n = notices(&mut rx);
        let reasons: Vec<_> = n
            .iter()
            .filter_map(|n| match n {
                DigitNotice::Ended {
                    reason, duration, ..
                } => Some((*reason, *duration)),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            [(EndReason::Timeout, 400), (EndReason::Superseded, 0)]
        );
        assert!(rx.is_active());
    }

    #[test]
    fn new_ssrc_and_backward_timestamp_jump_start_afresh() {
        let mut rx = TelephoneEventReceiver::new(ReceiverConfig::default());
        packet(&mut rx, 0, 1_000_000, true, 2, true, 800);
        // Same SSRC, far in the past: a timestamp jump, not a late packet.
        packet(&mut rx, 1, 10, true, 2, true, 800);
        assert_eq!(notices(&mut rx).len(), 4);
        // New SSRC with the old timestamp: new timestamp space.
        let mut p = [0u8; 4];
        TelephoneEvent {
            event: EventCode(2),
            end: true,
            volume: 0,
            duration: 800,
        }
        .emit(&mut p)
        .unwrap();
        rx.handle_packet(2, Ssrc(8), RtpTimestamp(10), true, &p)
            .unwrap();
        assert_eq!(notices(&mut rx).len(), 2);
    }

    #[test]
    fn timestamp_moving_within_an_event_is_one_digit() {
        // Some senders advance the timestamp with every packet of an event.
        let mut rx = TelephoneEventReceiver::new(ReceiverConfig::default());
        packet(&mut rx, 0, 0, true, 8, false, 160);
        packet(&mut rx, 20, 160, false, 8, false, 160);
        packet(&mut rx, 40, 320, false, 8, false, 160);
        packet(&mut rx, 60, 480, false, 8, true, 160);
        let n = notices(&mut rx);
        assert_eq!(n.len(), 2);
        assert!(matches!(n[1], DigitNotice::Ended { duration: 640, .. }));
    }

    #[test]
    fn undrained_notices_drop_the_oldest_and_count() {
        let mut rx = TelephoneEventReceiver::new(ReceiverConfig::default());
        for i in 0..5 {
            packet(&mut rx, i, i as u32 * 5000, true, 1, true, 800);
        }
        assert_eq!(rx.counters().notices_dropped, 2);
        assert_eq!(notices(&mut rx).len(), NOTICES_MAX);
    }
}
