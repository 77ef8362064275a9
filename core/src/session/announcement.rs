//! Announcements: media played *into a call* towards one leg, in place of what the other
//! side says (rtpengine's `play media`), as opposed to a [play](super::play) session, which
//! is a leg of its own.
//!
//! # Contract
//!
//! - The source (a WAV file, PCM, tones or digits) is rendered whole at the transcoder's
//!   processing rate ([`Transcode::rate_for`](super::transcode::Transcode::rate_for)) on the
//!   control plane, by [`Announcement::new`]; it travels to the worker in a command.
//! - Each tick of the direction towards the leg copies the next 10 ms over the decoded audio
//!   (after in-band DTMF detection, so the other side's digits are still reported). After
//!   `repeat_times` plays it reports [`EventKind::PlaybackFinished`] on that leg once, and
//!   the other side is heard again.
//! - Only transcoding sessions decode, so only they take announcements; a relayed call is
//!   turned into a same-codec transcoder first (as `play DTMF` does).
//! - Real-time: ticks copy from the rendered buffer; the announcement is handed back to the
//!   control plane to be freed when it is replaced, stopped or its session removed.
//!
//! [`EventKind::PlaybackFinished`]: crate::bus::EventKind::PlaybackFinished

use crate::session::play::render;
use crate::session::{PlaySource, SessionError};

/// Rendered media to play into a call. See the module docs.
#[derive(Debug)]
pub struct Announcement {
    pcm: Box<[i16]>,
    rate: u32,
    pos: usize,
    plays_left: u32,
    finished: bool,
}

impl Announcement {
    /// Renders `source` at `rate` (the transcoder's processing rate), to be played
    /// `repeat_times` times (at least once). Allocates; control plane.
    ///
    /// # Errors
    ///
    /// [`SessionError`] when the source cannot be read or rendered (an unreadable WAV
    /// file...).
    pub fn new(source: &PlaySource, rate: u32, repeat_times: u32) -> Result<Self, SessionError> {
        Ok(Self {
            pcm: render(source, rate)?.into_boxed_slice(),
            rate,
            pos: 0,
            plays_left: repeat_times.max(1),
            finished: false,
        })
    }

    /// The rate it was rendered at, Hz.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// How long it plays, all repetitions, ms.
    pub fn duration_ms(&self) -> u64 {
        self.pcm.len() as u64 * 1000 * u64::from(self.plays_left) / u64::from(self.rate.max(1))
    }

    /// True once it has played to its end.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Writes the next frame over `frame` (silence past the end of the last play). Returns
    /// true on the tick it finishes.
    pub(crate) fn play_into(&mut self, frame: &mut [i16]) -> bool {
        if self.finished {
            return false;
        }
        let mut written = 0;
        while written < frame.len() {
            let n = (frame.len() - written).min(self.pcm.len() - self.pos);
            frame[written..written + n].copy_from_slice(&self.pcm[self.pos..self.pos + n]);
            written += n;
            self.pos += n;
            if self.pos == self.pcm.len() {
                self.plays_left = self.plays_left.saturating_sub(1);
                self.pos = 0;
                if self.plays_left == 0 || self.pcm.is_empty() {
                    frame[written..].fill(0);
                    self.finished = true;
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SharedPcm;

    #[test]
    fn plays_repeat_then_finish_once() {
        let samples: SharedPcm = (1..=30).collect::<Vec<i16>>().into();
        let source = PlaySource::Pcm {
            rate_hz: 8000,
            samples,
        };
        let mut a = Announcement::new(&source, 8000, 2).unwrap();
        assert_eq!(a.duration_ms(), 7);
        let mut frame = [0i16; 20];
        assert!(!a.play_into(&mut frame));
        assert_eq!(frame[0], 1);
        assert!(!a.play_into(&mut frame));
        assert_eq!((frame[0], frame[9], frame[10]), (21, 30, 1));
        assert!(a.play_into(&mut frame));
        assert_eq!((frame[0], frame[19]), (11, 30));
        assert!(a.is_finished());
        assert!(!a.play_into(&mut frame));
    }
}
