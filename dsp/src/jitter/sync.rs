//! The sync buffer: decoded PCM between the decoder and the caller's frames, with the recent
//! history that concealment and time-stretching read.
//!
//! One linear array holds `history | future | spare`. The cursor separates audio already handed
//! to the caller (history, never changed again) from decoded audio not yet handed out (future,
//! which concealment and time-stretching may still rewrite). New audio is written into the spare
//! tail and committed; when the spare runs short the live part (`keep` samples of history plus
//! the future) slides back to the start. The name and the role follow WebRTC NetEq's
//! `SyncBuffer`.
//!
//! Beside the samples it keeps a short ring of *segments*: which operation (decode, conceal,
//! comfort noise, ...) produced which stretch of the future, so each frame the caller pops can be
//! labelled with what it holds.
//!
//! # Real-time
//!
//! [`SyncBuffer::new`] allocates; nothing else does.

use super::PlayoutEvent;

/// How many segments the ring remembers; the future never holds more than a few operations.
const SEGMENTS: usize = 8;

/// Decoded PCM with history, a cursor and a spare tail.
#[derive(Debug)]
pub(crate) struct SyncBuffer {
    buf: Box<[i16]>,
    /// Next sample to hand to the caller.
    cursor: usize,
    /// End of valid audio.
    end: usize,
    /// History kept behind the cursor when the buffer compacts.
    keep: usize,
    /// Samples ever committed, net of samples removed by time-stretching (stream coordinates).
    written: u64,
    /// Samples ever handed out (stream coordinates).
    read: u64,
    /// (start in stream coordinates, kind) of the last few operations, oldest first.
    segments: [(u64, PlayoutEvent); SEGMENTS],
    segment_count: usize,
}

impl SyncBuffer {
    /// A buffer keeping `keep` samples of history and holding up to `future_max` samples of
    /// future; the history starts as silence.
    pub(crate) fn new(keep: usize, future_max: usize) -> Self {
        // Room for one more `future_max` so compaction happens at most once per `future_max`
        // samples written.
        let len = keep + 2 * future_max;
        Self {
            buf: vec![0; len].into_boxed_slice(),
            cursor: keep,
            end: keep,
            keep,
            written: 0,
            read: 0,
            segments: [(0, PlayoutEvent::Buffering); SEGMENTS],
            segment_count: 0,
        }
    }

    /// Decoded samples not yet handed out.
    pub(crate) fn future(&self) -> usize {
        self.end - self.cursor
    }

    /// Silence everywhere, as if newly built.
    pub(crate) fn reset(&mut self) {
        self.buf.fill(0);
        self.cursor = self.keep;
        self.end = self.keep;
        self.written = 0;
        self.read = 0;
        self.segment_count = 0;
    }

    /// Makes at least `n` samples of spare room after the end.
    fn make_room(&mut self, n: usize) {
        if self.end + n <= self.buf.len() {
            return;
        }
        let from = self.cursor - self.keep.min(self.cursor);
        self.buf.copy_within(from..self.end, 0);
        self.cursor -= from;
        self.end -= from;
        debug_assert!(
            self.end + n <= self.buf.len(),
            "sync buffer sized too small"
        );
    }

    /// The valid audio (history and future) and, after it, `n` samples of spare room to write
    /// new audio into; commit what was written with [`Self::commit`].
    pub(crate) fn split_spare(&mut self, n: usize) -> (&mut [i16], &mut [i16]) {
        self.make_room(n);
        let (signal, spare) = self.buf.split_at_mut(self.end);
        (signal, &mut spare[..n])
    }

    /// Appends `n` samples written into the spare room, produced by `kind`.
    pub(crate) fn commit(&mut self, n: usize, kind: PlayoutEvent) {
        if n == 0 {
            return;
        }
        debug_assert!(self.end + n <= self.buf.len());
        self.push_segment(self.written, kind);
        self.end += n;
        self.written += n as u64;
    }

    /// The valid audio with the index where the future starts, and spare capacity behind it of
    /// at least `spare` samples, for in-place rewriting by time-stretching.
    /// The newest `n` committed samples (fewer if fewer are held).
    pub(crate) fn newest(&self, n: usize) -> &[i16] {
        &self.buf[self.end.saturating_sub(n)..self.end]
    }

    pub(crate) fn signal_mut(&mut self, spare: usize) -> (&mut [i16], usize, usize) {
        self.make_room(spare);
        (&mut self.buf[..], self.end, self.cursor)
    }

    /// Records that time-stretching changed the length of the future by `delta` samples and
    /// relabels the newest segment.
    pub(crate) fn stretched(&mut self, new_end: usize, kind: PlayoutEvent) {
        let old = self.end;
        self.end = new_end;
        self.written = self.written + new_end as u64 - old as u64;
        if self.segment_count > 0 {
            let last = (self.segment_count - 1) % SEGMENTS;
            self.segments[last].1 = kind;
        }
    }

    /// Hands the next `out.len()` samples to the caller and returns the most severe kind of
    /// audio among them.
    pub(crate) fn read_into(&mut self, out: &mut [i16]) -> PlayoutEvent {
        let n = out.len();
        debug_assert!(self.future() >= n);
        out.copy_from_slice(&self.buf[self.cursor..self.cursor + n]);
        let (start, stop) = (self.read, self.read + n as u64);
        let mut event: Option<PlayoutEvent> = None;
        let first = self.segment_count.saturating_sub(SEGMENTS);
        for i in first..self.segment_count {
            let (seg_start, kind) = self.segments[i % SEGMENTS];
            let seg_stop = if i + 1 < self.segment_count {
                self.segments[(i + 1) % SEGMENTS].0
            } else {
                self.written
            };
            if seg_start < stop && seg_stop > start {
                event = Some(match event {
                    Some(e) if e.severity() >= kind.severity() => e,
                    _ => kind,
                });
            }
        }
        self.cursor += n;
        self.read = stop;
        event.unwrap_or(PlayoutEvent::Normal)
    }

    fn push_segment(&mut self, start: u64, kind: PlayoutEvent) {
        if self.segment_count > 0 {
            let last = (self.segment_count - 1) % SEGMENTS;
            if self.segments[last].1 == kind {
                return;
            }
        }
        self.segments[self.segment_count % SEGMENTS] = (start, kind);
        self.segment_count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_committed_audio_in_order_across_compactions() {
        let mut sync = SyncBuffer::new(8, 16);
        let mut next = 0i16;
        let mut expected = 0i16;
        for _ in 0..50 {
            let (_, spare) = sync.split_spare(12);
            for s in spare.iter_mut() {
                *s = next;
                next += 1;
            }
            sync.commit(12, PlayoutEvent::Normal);
            while sync.future() >= 5 {
                let mut out = [0i16; 5];
                sync.read_into(&mut out);
                for s in out {
                    assert_eq!(s, expected);
                    expected += 1;
                }
            }
        }
    }

    #[test]
    fn labels_frames_with_the_most_severe_segment() {
        let mut sync = SyncBuffer::new(4, 32);
        sync.split_spare(10);
        sync.commit(10, PlayoutEvent::Normal);
        sync.split_spare(10);
        sync.commit(10, PlayoutEvent::Concealed);
        let mut out = [0i16; 8];
        assert_eq!(sync.read_into(&mut out), PlayoutEvent::Normal);
        assert_eq!(sync.read_into(&mut out), PlayoutEvent::Concealed);
        let mut rest = [0i16; 4];
        assert_eq!(sync.read_into(&mut rest), PlayoutEvent::Concealed);
    }
}
