//! Mix-minus for one tick: accumulate the seated talkers once, then write the common mix and
//! each seated talker's "everyone but me" mix through their limiters.
//!
//! # Cost
//!
//! With `T` talkers with audio and frame length `F`: `T` accumulation passes (each also
//! records the talker's per-millisecond peak bound), one pass for the common mix, and one fused
//! subtract-and-narrow pass per seated, non-deaf talker. Before each output pass the
//! per-millisecond bounds (`O(F / sub_block)`) decide whether the sum can exceed the limiter's
//! threshold; if it cannot and the limiter has recovered, the pass narrows directly, which is
//! exactly what the limiter would output. Only loud frames pay for the limiter's second pass.
//!
//! Never allocates: [`Work`] holds the accumulator, a full-width scratch and the bounds, all
//! sized at construction.

use super::kernels::{accumulate, contribution_bound, minus_narrow, minus_wide, narrow, peak};
use super::limiter::{LIMITER_THRESHOLD, Limiter};
use super::talkers::Seat;
use super::{MixSummary, OutputState};

/// Scratch of one mixer, sized at construction.
#[derive(Debug)]
pub(crate) struct Work {
    frame: usize,
    sub_block: usize,
    blocks: usize,
    /// The sum of every talker's contribution.
    sum: Vec<i32>,
    /// A minus mix at full width, for outputs that need the limiter.
    wide: Vec<i32>,
    /// Per seat, per sub-block: a bound on the seat talker's `|contribution|`.
    peaks: Vec<u32>,
    /// Per sub-block: the sum of every talker's bound.
    bound: Vec<u32>,
}

/// One talker's input for the tick: PCM and Q12 gain.
pub(crate) type Input<'a> = Option<(&'a [i16], i32)>;

impl Work {
    pub(crate) fn new(frame: usize, sub_block: usize, seats: usize) -> Self {
        let blocks = frame / sub_block;
        Self {
            frame,
            sub_block,
            blocks,
            sum: vec![0; frame],
            wide: vec![0; frame],
            peaks: vec![0; seats * blocks],
            bound: vec![0; blocks],
        }
    }

    /// Mixes one tick. `inputs`, `seats` and `deaf` are indexed by seat; `outputs` holds the
    /// common mix then one frame per seat; `state` and `limiters` have one entry per output.
    pub(crate) fn mix(
        &mut self,
        inputs: &[Input<'_>],
        seats: &[Option<Seat>],
        deaf: &[bool],
        outputs: &mut [i16],
        state: &mut [OutputState],
        limiters: &mut [Limiter],
    ) -> MixSummary {
        let (frame, blocks) = (self.frame, self.blocks);
        self.bound.fill(0);
        let mut talking = 0;
        for (seat, input) in inputs.iter().enumerate() {
            let Some((x, gain)) = *input else { continue };
            let peaks = &mut self.peaks[seat * blocks..][..blocks];
            for ((p, b), chunk) in peaks
                .iter_mut()
                .zip(self.bound.iter_mut())
                .zip(x.chunks_exact(self.sub_block))
            {
                *p = contribution_bound(peak(chunk), gain);
                *b += *p;
            }
            accumulate(&mut self.sum, x, gain, talking == 0);
            talking += 1;
        }

        let mut summary = MixSummary {
            talkers: talking,
            outputs: 1,
            limited: 0,
        };
        let (common, seat_outputs) = outputs.split_at_mut(frame);
        let (common_limiter, seat_limiters) = limiters.split_at_mut(1);
        let common_limiter = &mut common_limiter[0];
        state[0] = OutputState {
            live: true,
            silent: talking == 0,
        };
        if talking == 0 {
            common.fill(0);
            common_limiter.pass_silence(frame);
        } else {
            let fits = common_limiter.is_unity()
                && self.bound.iter().all(|&b| b <= LIMITER_THRESHOLD as u32);
            if fits {
                narrow(common, &self.sum);
            } else {
                common_limiter.process(&self.sum, common);
                summary.limited += usize::from(!common_limiter.is_unity());
            }
        }

        for (seat, ((out, limiter), held)) in seat_outputs
            .chunks_exact_mut(frame)
            .zip(seat_limiters.iter_mut())
            .zip(seats)
            .enumerate()
        {
            let live = held.is_some() && !deaf[seat];
            if !live {
                state[1 + seat] = OutputState {
                    live: false,
                    silent: true,
                };
                continue;
            }
            summary.outputs += 1;
            let silent = match inputs[seat] {
                // No audio of their own this tick: they hear exactly what the room hears.
                None => {
                    out.copy_from_slice(common);
                    limiter.clone_from(common_limiter);
                    talking == 0
                }
                Some(_) if talking == 1 => {
                    out.fill(0);
                    limiter.pass_silence(frame);
                    true
                }
                Some((x, gain)) => {
                    let peaks = &self.peaks[seat * blocks..][..blocks];
                    let fits = limiter.is_unity()
                        && self
                            .bound
                            .iter()
                            .zip(peaks)
                            .all(|(&b, &p)| b - p <= LIMITER_THRESHOLD as u32);
                    if fits {
                        minus_narrow(out, &self.sum, x, gain);
                    } else {
                        minus_wide(&mut self.wide, &self.sum, x, gain);
                        limiter.process(&self.wide, out);
                        summary.limited += usize::from(!limiter.is_unity());
                    }
                    false
                }
            };
            state[1 + seat] = OutputState { live: true, silent };
        }
        summary
    }
}
