//! The worker's side of a recording: a [`Tap`] attached to a session copies each recorded
//! leg's media payloads into its ring as fixed-size [`Chunk`]s.
//!
//! # Real-time
//!
//! [`Tap::record`] copies at most [`CHUNK_PAYLOAD_MAX`] bytes into a ring slot; it never
//! allocates, locks or blocks. A full ring or an oversized payload drops the packet and adds
//! one to a shared counter (a relaxed atomic increment, the only shared write). Pause and
//! resume are plain fields set by worker commands.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tandem_codecs::Format;

use crate::bus::spsc::Producer;
use crate::recording::{Channels, RecordingId};
use crate::rtp::RtpTimestamp;
use crate::session::LegId;

/// Largest payload a chunk carries: 40 ms of G.711 or of 64 kbit/s G.722, 80 ms of
/// 32 kbit/s Opus. Larger payloads are dropped and counted.
pub const CHUNK_PAYLOAD_MAX: usize = 320;
/// Default ring capacity, in chunks: about 5 s of a two-leg call at 20 ms packets (the
/// recorder drains every 20 ms, so this is slack for a stalled disk).
pub const RING_CHUNKS_DEFAULT: usize = 512;

/// One received media payload of one recorded leg.
#[derive(Debug, Clone, Copy)]
pub struct Chunk {
    /// Arrival on the worker's clock, µs, minus the time the recording spent paused.
    pub at_us: u64,
    /// The packet's RTP timestamp.
    pub timestamp: RtpTimestamp,
    /// The leg's codec.
    pub format: Format,
    /// The file channel (see [`Channels::channel_of`]).
    pub channel: u8,
    /// First packet of this channel after a resume: the recorder re-anchors it.
    pub resumed: bool,
    len: u16,
    payload: [u8; CHUNK_PAYLOAD_MAX],
}

impl Chunk {
    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }
}

/// A session's recording, on the worker. Built by [`Recorder::open`](super::Recorder::open).
pub struct Tap {
    id: RecordingId,
    channels: Channels,
    ring: Producer<Chunk>,
    dropped: Arc<AtomicU64>,
    paused_since: Option<u64>,
    paused_us: u64,
    resumed: [bool; 2],
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("id", &self.id)
            .field("channels", &self.channels)
            .field("paused", &self.paused_since.is_some())
            .finish_non_exhaustive()
    }
}

impl Tap {
    pub(crate) fn new(
        id: RecordingId,
        channels: Channels,
        ring: Producer<Chunk>,
        dropped: Arc<AtomicU64>,
    ) -> Self {
        Self {
            id,
            channels,
            ring,
            dropped,
            paused_since: None,
            paused_us: 0,
            resumed: [false; 2],
        }
    }

    /// The recording.
    pub fn id(&self) -> RecordingId {
        self.id
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// Stops copying audio until [`resume`](Self::resume); the paused time is left out of the
    /// file.
    pub(crate) fn pause(&mut self, now_us: u64) {
        if self.paused_since.is_none() {
            self.paused_since = Some(now_us);
        }
    }

    /// Copies audio again.
    pub(crate) fn resume(&mut self, now_us: u64) {
        if let Some(since) = self.paused_since.take() {
            self.paused_us += now_us.saturating_sub(since);
            self.resumed = [true; 2];
        }
    }

    /// Leg `leg` accepted a media packet: copy it into the ring (or count it dropped).
    #[inline]
    pub(crate) fn record(
        &mut self,
        now_us: u64,
        leg: LegId,
        format: Format,
        timestamp: RtpTimestamp,
        payload: &[u8],
    ) {
        if self.paused_since.is_some() {
            return;
        }
        let Some(channel) = self.channels.channel_of(leg) else {
            return;
        };
        if payload.len() > CHUNK_PAYLOAD_MAX {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let resumed = std::mem::take(&mut self.resumed[usize::from(channel)]);
        let mut chunk = Chunk {
            at_us: now_us.saturating_sub(self.paused_us),
            timestamp,
            format,
            channel,
            resumed,
            len: payload.len() as u16,
            payload: [0; CHUNK_PAYLOAD_MAX],
        };
        chunk.payload[..payload.len()].copy_from_slice(payload);
        if self.ring.push(chunk).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
