//! The recorder thread: one per runtime, on the control plane. It drains every recording's
//! ring, decodes the payloads, places them on the file's timeline (see the
//! [module docs](super)) and writes WAV files with [`WavStream`]; when a ring is abandoned
//! (the tap was stopped, or its session removed) it writes what is left, patches the header
//! and reports a [`RecordingReport`] to subscribers.
//!
//! # Timeline
//!
//! Each recording keeps the last [`WINDOW_MS`] of audio in memory per channel, so packets
//! that arrive late or out of order still land in place; older audio is written out. A
//! packet that would land before the written part is counted in
//! [`RecordingReport::late_frames`] and dropped.
//!
//! Everything here may allocate, block on the disk and take locks: nothing on this thread is
//! on the media path.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tandem_codecs::Decoder;
use tandem_codecs::file::wav::WavStream;
use tandem_codecs::resample::Resampler;
use tandem_codecs::{Format, registry};

use crate::bus::spsc::{Consumer, channel};
use crate::recording::tap::{Chunk, Tap};
use crate::recording::{Channels, RecordingError, RecordingId, RecordingSpec};
use crate::session::SessionId;
use crate::session::media::processing_rate;

/// Audio kept in memory behind the newest arrival before it is written, ms.
pub const WINDOW_MS: u64 = 1000;
/// How often the recorder drains the rings.
const DRAIN_EVERY: Duration = Duration::from_millis(20);
/// A packet whose timestamp puts it further than this from its arrival time is a new
/// timeline (new source, timestamp jump): the channel is re-anchored at its arrival.
const REANCHOR_MS: u64 = 1000;
/// Most decoded samples one payload can yield (120 ms at 48 kHz).
const DECODED_MAX: usize = 5760;

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// Stopped, or its session was removed.
    Stopped,
    /// It reached its maximum duration.
    MaxDuration,
    /// Writing the file failed (see [`RecordingReport::error`]).
    WriteFailed,
    /// The runtime shut down.
    Shutdown,
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingReport {
    /// The recording.
    pub id: RecordingId,
    /// The session it recorded.
    pub session: SessionId,
    /// The WAV file.
    pub path: PathBuf,
    /// Audio in the file, ms.
    pub duration_ms: u64,
    /// Samples per channel in the file.
    pub frames: u64,
    /// The file's sample rate (0 when nothing was recorded).
    pub sample_rate: u32,
    /// Channels in the file.
    pub channels: u16,
    /// Packets the worker dropped because the ring was full or the payload too large.
    pub dropped_frames: u64,
    /// Packets that arrived after their place in the file was written.
    pub late_frames: u64,
    /// Packets that could not be decoded (concealed as silence).
    pub undecodable_frames: u64,
    /// Why it ended.
    pub reason: FinishReason,
    /// The write error, for [`FinishReason::WriteFailed`].
    pub error: Option<String>,
}

/// The decoding state of one file channel (one leg).
struct Lane {
    decoder: Option<(Format, Box<dyn Decoder>, Resampler)>,
    /// (file position, RTP timestamp) of the packet the timeline is anchored at.
    anchor: Option<(i64, u32)>,
}

/// One recording on the recorder thread.
struct Track {
    id: RecordingId,
    session: SessionId,
    channels: Channels,
    ring: Consumer<Chunk>,
    dropped: Arc<AtomicU64>,
    out: WavStream,
    max_frames: Option<u64>,
    max_duration_ms: Option<u64>,
    /// Decided by the first packet.
    rate: Option<u32>,
    /// Worker time of the first packet (file position 0).
    origin_us: Option<u64>,
    lanes: [Lane; 2],
    /// `pending[c][i]` is the sample at timeline position `base + i` of channel `c`. The
    /// timeline's 0 is the first packet's arrival; until something is written, a packet
    /// reordered ahead of it moves `base` back, so the file starts with the earliest audio.
    pending: [Vec<i16>; 2],
    base: Option<i64>,
    /// Frames written to the file.
    written: u64,
    /// End of the audio placed so far (timeline position).
    end: i64,
    late: u64,
    undecodable: u64,
    decoded: Vec<i16>,
    resampled: Vec<i16>,
    interleaved: Vec<i16>,
    failed: Option<String>,
    full: bool,
}

impl Track {
    fn samples(rate: u32, us: u64) -> i64 {
        (u128::from(us) * u128::from(rate) / 1_000_000) as i64
    }

    /// Takes what the ring holds and writes what has left the window.
    fn drain(&mut self) {
        while let Some(chunk) = self.ring.pop() {
            if self.failed.is_none() && !self.full {
                self.place(&chunk);
            }
        }
        if let Some(rate) = self.rate {
            let window = Self::samples(rate, WINDOW_MS * 1000);
            self.flush_to(self.end - window);
        }
    }

    fn place(&mut self, chunk: &Chunk) {
        let rate = *self
            .rate
            .get_or_insert_with(|| processing_rate(chunk.format));
        let origin = *self.origin_us.get_or_insert(chunk.at_us);
        let channel = usize::from(chunk.channel.min(1));
        let lane = &mut self.lanes[channel];
        if lane
            .decoder
            .as_ref()
            .is_none_or(|(f, ..)| *f != chunk.format)
        {
            let decoder = registry::new_decoder(chunk.format);
            let resampler = Resampler::new(chunk.format.sample_rate, rate);
            match (decoder, resampler) {
                (Ok(d), Ok(r)) => {
                    lane.decoder = Some((chunk.format, d, r));
                    lane.anchor = None;
                }
                _ => {
                    self.undecodable += 1;
                    return;
                }
            }
        }
        let Some((format, decoder, resampler)) = lane.decoder.as_mut() else {
            return;
        };
        let n = match decoder.decode(chunk.payload(), &mut self.decoded) {
            Ok(n) => n,
            Err(_) => {
                self.undecodable += 1;
                return;
            }
        };
        let out_len = resampler.output_max(n);
        let m = resampler.process(&self.decoded[..n], &mut self.resampled[..out_len]);
        let clock = format.descriptor().rtp_clock_rate(format.sample_rate);
        let arrival = Self::samples(rate, chunk.at_us.saturating_sub(origin));
        let ts = chunk.timestamp.0;
        let position = match lane.anchor {
            Some((pos, anchor_ts)) if !chunk.resumed => {
                let delta = i64::from(ts.wrapping_sub(anchor_ts) as i32);
                let pos = pos + delta * i64::from(rate) / i64::from(clock.max(1));
                let limit = Self::samples(rate, REANCHOR_MS * 1000);
                if (pos - arrival).abs() > limit {
                    lane.anchor = Some((arrival, ts));
                    arrival
                } else {
                    pos
                }
            }
            _ => {
                lane.anchor = Some((arrival, ts));
                arrival
            }
        };
        let base = *self.base.get_or_insert(position);
        if position < base {
            if self.written > 0 {
                self.late += 1;
                return;
            }
            let lead = (base - position) as usize;
            for buf in &mut self.pending {
                buf.splice(0..0, std::iter::repeat_n(0, lead));
            }
            self.base = Some(position);
        }
        let base = self.base.unwrap_or(position);
        let start = (position - base) as usize;
        let mixed = self.channels == Channels::Mixed;
        let target = if mixed { 0 } else { channel };
        let buf = &mut self.pending[target];
        if buf.len() < start + m {
            buf.resize(start + m, 0);
        }
        for (dst, &s) in buf[start..start + m].iter_mut().zip(&self.resampled[..m]) {
            *dst = if mixed { dst.saturating_add(s) } else { s };
        }
        self.end = self.end.max(position + m as i64);
    }

    /// Writes the timeline up to position `to` (or up to the maximum duration).
    fn flush_to(&mut self, to: i64) {
        let Some(base) = self.base else {
            return;
        };
        if self.failed.is_some() || self.full || to <= base {
            return;
        }
        let mut n = (to - base) as u64;
        if let Some(max) = self.max_frames.or_else(|| {
            self.max_duration_ms
                .zip(self.rate)
                .map(|(ms, rate)| ms * u64::from(rate) / 1000)
        }) {
            self.max_frames = Some(max);
            if self.written + n >= max {
                n = max - self.written.min(max);
                self.full = true;
            }
        }
        let n = n as usize;
        let count = usize::from(self.channels.count());
        self.interleaved.clear();
        for i in 0..n {
            for c in 0..count {
                self.interleaved
                    .push(self.pending[c].get(i).copied().unwrap_or(0));
            }
        }
        for buf in &mut self.pending {
            buf.drain(..n.min(buf.len()));
        }
        self.written += n as u64;
        self.base = Some(base + n as i64);
        if let Err(e) = self.out.write(&self.interleaved) {
            self.failed = Some(e.to_string());
        }
    }

    /// Writes everything placed, closes the file and says how it went.
    fn finish(mut self, mut reason: FinishReason) -> RecordingReport {
        self.drain();
        let end = self.end;
        self.flush_to(end);
        if self.full && reason == FinishReason::Stopped {
            reason = FinishReason::MaxDuration;
        }
        let rate = self.rate.unwrap_or(0);
        if rate != 0 {
            self.out.set_sample_rate(rate);
        }
        let mut error = self.failed.take();
        let path = self.path();
        let frames = match self.out.finish() {
            Ok(frames) => frames,
            Err(e) => {
                error.get_or_insert(e.to_string());
                0
            }
        };
        if error.is_some() {
            reason = FinishReason::WriteFailed;
        }
        RecordingReport {
            id: self.id,
            session: self.session,
            path,
            duration_ms: if rate == 0 {
                0
            } else {
                frames * 1000 / u64::from(rate)
            },
            frames,
            sample_rate: rate,
            channels: self.channels.count(),
            dropped_frames: self.dropped.load(Ordering::Relaxed),
            late_frames: self.late,
            undecodable_frames: self.undecodable,
            reason,
            error,
        }
    }

    fn path(&self) -> PathBuf {
        self.out.path().to_path_buf()
    }
}

enum Control {
    Add(Box<Track>),
}

/// A recording opened but not yet handed to the recorder thread. Dropping it deletes the
/// file (the tap never reached a worker).
pub struct PendingRecording(Option<Box<Track>>);

impl std::fmt::Debug for PendingRecording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PendingRecording")
            .field(&self.0.as_ref().map(|t| t.id))
            .finish()
    }
}

impl Drop for PendingRecording {
    fn drop(&mut self) {
        if let Some(track) = self.0.take() {
            let path = track.path();
            drop(track);
            let _ = std::fs::remove_file(path);
        }
    }
}

type Subscribers = Arc<Mutex<Vec<mpsc::Sender<RecordingReport>>>>;

/// The recorder thread's handle. See the module docs. Dropping it finishes every open
/// recording and stops the thread.
#[derive(Debug)]
pub struct Recorder {
    control: Mutex<mpsc::Sender<Control>>,
    subscribers: Subscribers,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts the recorder thread.
    ///
    /// # Errors
    ///
    /// The operating system's reason when the thread cannot be started.
    pub fn start() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let subscribers: Subscribers = Arc::default();
        let subs = Arc::clone(&subscribers);
        let thread = std::thread::Builder::new()
            .name("tandem-recorder".into())
            .spawn(move || run(&rx, &subs))?;
        Ok(Self {
            control: Mutex::new(tx),
            subscribers,
            thread: Some(thread),
        })
    }

    /// Creates the recording's file and ring. Returns the [`Tap`] to attach to the session
    /// and the recorder's side, to [`commit`](Self::commit) once the tap is attached (or
    /// drop, which deletes the file, when it could not be). Allocates; control plane.
    ///
    /// # Errors
    ///
    /// [`RecordingError::Create`] when the file cannot be created;
    /// [`RecordingError::RecorderStopped`].
    pub fn open(
        &self,
        id: RecordingId,
        session: SessionId,
        spec: &RecordingSpec,
    ) -> Result<(Tap, PendingRecording), RecordingError> {
        // The rate is not known until the first packet; `finish` writes the real one.
        let out = WavStream::create(&spec.path, 8000, spec.channels.count()).map_err(|e| {
            RecordingError::Create {
                path: spec.path.clone(),
                reason: e.to_string(),
            }
        })?;
        let (producer, consumer) = channel(spec.ring_chunks.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let track = Track {
            id,
            session,
            channels: spec.channels,
            ring: consumer,
            dropped: Arc::clone(&dropped),
            out,
            max_frames: None,
            max_duration_ms: spec.max_duration_ms,
            rate: None,
            origin_us: None,
            lanes: [
                Lane {
                    decoder: None,
                    anchor: None,
                },
                Lane {
                    decoder: None,
                    anchor: None,
                },
            ],
            pending: [Vec::new(), Vec::new()],
            base: None,
            written: 0,
            end: 0,
            late: 0,
            undecodable: 0,
            decoded: vec![0; DECODED_MAX],
            resampled: vec![0; DECODED_MAX],
            interleaved: Vec::new(),
            failed: None,
            full: false,
        };
        Ok((
            Tap::new(id, spec.channels, producer, dropped),
            PendingRecording(Some(Box::new(track))),
        ))
    }

    /// Hands a recording to the recorder thread, which drains its ring from now on and
    /// reports it when it finishes.
    ///
    /// # Errors
    ///
    /// [`RecordingError::RecorderStopped`] (the file is deleted).
    pub fn commit(&self, mut pending: PendingRecording) -> Result<(), RecordingError> {
        let Some(track) = pending.0.take() else {
            return Ok(());
        };
        self.control
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(Control::Add(track))
            .map_err(|mpsc::SendError(Control::Add(track))| {
                drop(PendingRecording(Some(track)));
                RecordingError::RecorderStopped
            })
    }

    /// A new subscription to finished recordings. Drop the receiver to unsubscribe.
    pub fn subscribe(&self) -> mpsc::Receiver<RecordingReport> {
        let (tx, rx) = mpsc::channel();
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tx);
        rx
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Closing the control channel tells the thread to finish every recording and stop.
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(
            &mut *self.control.lock().unwrap_or_else(PoisonError::into_inner),
            tx,
        ));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn publish(subscribers: &Subscribers, report: &RecordingReport) {
    subscribers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|s| s.send(report.clone()).is_ok());
}

/// The thread: drain, finish abandoned rings, sleep; until the control channel closes.
fn run(control: &mpsc::Receiver<Control>, subscribers: &Subscribers) {
    let mut tracks: Vec<Box<Track>> = Vec::new();
    let mut stopping = false;
    loop {
        loop {
            match control.try_recv() {
                Ok(Control::Add(track)) => tracks.push(track),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    stopping = true;
                    break;
                }
            }
        }
        let mut i = 0;
        while i < tracks.len() {
            let track = &mut tracks[i];
            let abandoned = track.ring.is_abandoned();
            track.drain();
            if abandoned || stopping {
                let track = tracks.swap_remove(i);
                let reason = if abandoned {
                    FinishReason::Stopped
                } else {
                    FinishReason::Shutdown
                };
                publish(subscribers, &track.finish(reason));
                continue;
            }
            i += 1;
        }
        if stopping {
            return;
        }
        std::thread::sleep(DRAIN_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpTimestamp;
    use crate::session::LegId;

    fn ulaw_tone(n: usize, phase: &mut f64, hz: f64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                let s = (phase.sin() * 8000.0) as i16;
                *phase += 2.0 * std::f64::consts::PI * hz / 8000.0;
                tandem_codecs::g711::ulaw::encode(s)
            })
            .collect()
    }

    #[test]
    fn packets_land_by_timestamp_and_the_file_reports_its_length() {
        let dir = std::env::temp_dir().join(format!("tandem-recorder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.wav");
        let recorder = Recorder::start().unwrap();
        let reports = recorder.subscribe();
        let spec = RecordingSpec::new(&path).with_channels(Channels::Leg(LegId::A));
        let (mut tap, pending) = recorder.open(RecordingId(1), SessionId(7), &spec).unwrap();
        recorder.commit(pending).unwrap();
        let mut phase = 0.0;
        // 50 packets of 20 ms, the odd ones delivered before the even ones (reordered).
        let packets: Vec<_> = (0..50u32)
            .map(|i| (i, ulaw_tone(160, &mut phase, 1000.0)))
            .collect();
        for pair in packets.chunks(2) {
            for (i, payload) in pair.iter().rev() {
                tap.record(
                    u64::from(*i) * 20_000,
                    LegId::A,
                    Format::PCMU,
                    RtpTimestamp(1000 + i * 160),
                    payload,
                );
            }
        }
        drop(tap);
        let report = reports.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(report.reason, FinishReason::Stopped);
        assert_eq!((report.sample_rate, report.channels), (8000, 1));
        assert_eq!(report.frames, 50 * 160);
        assert_eq!(report.duration_ms, 1000);
        assert_eq!((report.dropped_frames, report.late_frames), (0, 0));
        let (_, pcm) = tandem_codecs::file::wav::read(&path).unwrap();
        assert_eq!(pcm.len(), 8000);
        // Reordering did not garble the tone: consecutive samples stay close.
        let max_step = pcm.windows(2).map(|w| (w[1] - w[0]).abs()).max().unwrap();
        assert!(max_step < 7000, "max step {max_step}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_directory_is_refused_at_open() {
        let recorder = Recorder::start().unwrap();
        let spec = RecordingSpec::new("/nonexistent-tandem-dir/x.wav");
        assert!(matches!(
            recorder.open(RecordingId(1), SessionId(1), &spec),
            Err(RecordingError::Create { .. })
        ));
    }
}
