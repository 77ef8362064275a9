//! `BlockFeeder`: cuts 8 or 16 kHz input into 20 ms blocks of 8 kHz `f32` samples for the tone
//! detectors, and maps block positions back to the caller's timestamps.
//!
//! A call whose timestamp is not the previous call's end starts a new *segment* (lost or
//! inserted audio): the partial block is dropped and the detector is told to reset. 16 kHz input
//! goes through the half-band decimator of the DTMF module; its 3-sample delay is subtracted
//! when positions are mapped back. Never allocates.

use super::ToneError;
use crate::dtmf::goertzel::BLOCK;
use crate::dtmf::halfband::HalfbandDecimator;

#[derive(Debug, Clone)]
pub(crate) struct BlockFeeder {
    factor: u64,
    decimator: HalfbandDecimator,
    buf: [f32; BLOCK],
    fill: usize,
    seg_ts: u64,
    seg_in: u64,
    started: bool,
    /// Blocks completed in this segment.
    blocks: u64,
}

impl BlockFeeder {
    pub(crate) fn new(sample_rate_hz: u32) -> Result<Self, ToneError> {
        if sample_rate_hz != 8000 && sample_rate_hz != 16000 {
            return Err(ToneError::UnsupportedSampleRate {
                rate_hz: sample_rate_hz,
            });
        }
        Ok(Self {
            factor: u64::from(sample_rate_hz / 8000),
            decimator: HalfbandDecimator::default(),
            buf: [0.0; BLOCK],
            fill: 0,
            seg_ts: 0,
            seg_in: 0,
            started: false,
            blocks: 0,
        })
    }

    /// Input samples per block.
    pub(crate) fn block_input_len(&self) -> usize {
        BLOCK * self.factor as usize
    }

    /// Starts a call at `timestamp`; returns true when it starts a new segment after an earlier
    /// one (a discontinuity), in which case the caller resets its own state.
    pub(crate) fn begin(&mut self, timestamp: u64) -> bool {
        if self.started && timestamp == self.seg_ts + self.seg_in {
            return false;
        }
        let was_started = self.started;
        self.decimator.reset();
        self.fill = 0;
        self.seg_ts = timestamp;
        self.seg_in = 0;
        self.started = true;
        self.blocks = 0;
        was_started
    }

    /// Feeds `pcm`; calls `on_block(block, index)` for every block completed, where `index`
    /// counts blocks from the start of the segment.
    pub(crate) fn feed(&mut self, pcm: &[i16], mut on_block: impl FnMut(&[f32; BLOCK], u64)) {
        let mut done = 0;
        while done < pcm.len() {
            let room = BLOCK - self.fill;
            let take = if self.factor == 1 {
                room.min(pcm.len() - done)
            } else {
                let odd_first = usize::from(self.seg_in % 2 == 1);
                (2 * room - odd_first).min(pcm.len() - done)
            };
            let chunk = &pcm[done..done + take];
            if self.factor == 1 {
                for (o, &s) in self.buf[self.fill..].iter_mut().zip(chunk) {
                    *o = f32::from(s);
                }
                self.fill += take;
            } else {
                self.fill += self
                    .decimator
                    .decimate_into(chunk, &mut self.buf[self.fill..]);
            }
            self.seg_in += take as u64;
            done += take;
            if self.fill == BLOCK {
                on_block(&self.buf, self.blocks);
                self.blocks += 1;
                self.fill = 0;
            }
        }
    }

    /// The position-to-timestamp map of the current segment.
    pub(crate) fn time_map(&self) -> TimeMap {
        TimeMap {
            seg_ts: self.seg_ts,
            factor: self.factor,
        }
    }
}

/// Maps 8 kHz segment positions to caller timestamps (valid for one segment).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeMap {
    seg_ts: u64,
    factor: u64,
}

impl TimeMap {
    /// Caller timestamp of the 8 kHz segment position `pos`.
    pub(crate) fn timestamp_of(&self, pos: u64) -> u64 {
        let off = if self.factor == 1 {
            pos
        } else {
            (2 * pos + 1).saturating_sub(HalfbandDecimator::DELAY_INPUT_SAMPLES)
        };
        self.seg_ts + off
    }

    /// Converts a duration in 8 kHz samples to input samples, saturated to `u32`.
    pub(crate) fn input_samples(&self, samples_8k: u64) -> u32 {
        (samples_8k * self.factor).min(u64::from(u32::MAX)) as u32
    }
}
