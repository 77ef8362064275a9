//! Mix-minus for one tick: accumulate the seated talkers once, then write the common mix and
//! each seated talker's "everyone but me" mix through their limiters.
//!
//! # Cost
//!
//! With `T` talkers with audio and frame length `F`:
//!
//! - **Quiet ticks.** When every live output's limiter has recovered, the tick is mixed
//!   optimistically in `i16`, eight lanes per SSE2 register and no widening: `T` passes add the
//!   talkers straight into the common output while taking each talker's peak. The peaks bound
//!   every partial sum (`|Σ c| ≤ Σ |c|max`); if the bound is within the limiter threshold, no
//!   sum wrapped, the limiters are the identity, and one more pass per seated talker subtracts
//!   their contribution from the common output. Bit-identical to the `i32` path.
//! - **Loud ticks** (or a limiter still recovering): `T` passes accumulate in `i32`; each
//!   output is then narrowed directly if its own bound allows and its limiter has recovered,
//!   or goes through its [`Limiter`] (an exact per-millisecond peak pass and a gain-ramp pass).
//!   A loud tick that started optimistically has wasted its `T` `i16` passes.
//!
//! Never allocates: [`Work`] holds the accumulator and a full-width scratch, sized at
//! construction.

use super::kernels::{
    accumulate, accumulate_narrow, contribution_bound, minus_from_narrow, minus_narrow, minus_wide,
    narrow, peak_i16,
};
use super::limiter::{LIMITER_THRESHOLD, Limiter};
use super::talkers::Seat;
use super::{MAX_TALKERS, MixSummary, OutputState};

/// Scratch of one mixer, sized at construction.
#[derive(Debug)]
pub(crate) struct Work {
    frame: usize,
    /// The sum of every talker's contribution.
    sum: Vec<i32>,
    /// A minus mix at full width, for outputs that need the limiter.
    wide: Vec<i32>,
}

/// One talker's input for the tick: PCM and Q12 gain.
pub(crate) type Input<'a> = Option<(&'a [i16], i16)>;

impl Work {
    pub(crate) fn new(frame: usize) -> Self {
        Self {
            frame,
            sum: vec![0; frame],
            wide: vec![0; frame],
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
        let frame = self.frame;
        // Limiters of outputs nobody receives (free seats, deaf talkers) do not count.
        let recovered = limiters[0].is_unity()
            && seats
                .iter()
                .zip(deaf)
                .zip(&limiters[1..])
                .all(|((held, &deaf), limiter)| held.is_none() || deaf || limiter.is_unity());
        // Per seat, a bound on the talker's |contribution| this tick; and their total.
        let mut peaks = [0u32; MAX_TALKERS];
        let mut bound = 0u32;
        let mut talking = 0;
        if recovered {
            // Optimistically mix in i16, straight into the common output, taking the peaks on
            // the way: if they then bound every sum within the threshold, the tick is done.
            let common = &mut outputs[..frame];
            for (seat, input) in inputs.iter().enumerate() {
                let Some((x, gain)) = *input else { continue };
                let peak = accumulate_narrow(common, x, gain, talking == 0);
                peaks[seat] = contribution_bound(peak, gain);
                bound += peaks[seat];
                talking += 1;
            }
            if talking > 0 && bound <= LIMITER_THRESHOLD as u32 {
                return Self::finish_quiet(inputs, seats, deaf, outputs, state, frame, talking);
            }
        } else {
            for (seat, input) in inputs.iter().enumerate() {
                let Some((x, gain)) = *input else { continue };
                peaks[seat] = contribution_bound(peak_i16(x), gain);
                bound += peaks[seat];
                talking += 1;
            }
        }
        let mut first = true;
        for &(x, gain) in inputs.iter().flatten() {
            accumulate(&mut self.sum, x, gain, first);
            first = false;
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
        } else if common_limiter.is_unity() && bound <= LIMITER_THRESHOLD as u32 {
            narrow(common, &self.sum);
        } else {
            common_limiter.process(&self.sum, common);
            summary.limited += usize::from(!common_limiter.is_unity());
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
                    if limiter.is_unity() && bound - peaks[seat] <= LIMITER_THRESHOLD as u32 {
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

    /// Finishes a quiet tick, whose talkers are already summed in `i16` into the common
    /// output: every partial sum is bounded within the limiter threshold and every live
    /// limiter has recovered, so the limiters are the identity. Each talker's minus mix is the
    /// common output minus their contribution, in `i16` too.
    fn finish_quiet(
        inputs: &[Input<'_>],
        seats: &[Option<Seat>],
        deaf: &[bool],
        outputs: &mut [i16],
        state: &mut [OutputState],
        frame: usize,
        talking: usize,
    ) -> MixSummary {
        let (common, seat_outputs) = outputs.split_at_mut(frame);
        state[0] = OutputState {
            live: true,
            silent: false,
        };
        let mut summary = MixSummary {
            talkers: talking,
            outputs: 1,
            limited: 0,
        };
        for (seat, (out, held)) in seat_outputs.chunks_exact_mut(frame).zip(seats).enumerate() {
            let live = held.is_some() && !deaf[seat];
            state[1 + seat] = OutputState { live, silent: true };
            if !live {
                continue;
            }
            summary.outputs += 1;
            match inputs[seat] {
                None => {
                    out.copy_from_slice(common);
                    state[1 + seat].silent = false;
                }
                Some(_) if talking == 1 => out.fill(0),
                Some((x, gain)) => {
                    minus_from_narrow(out, common, x, gain);
                    state[1 + seat].silent = false;
                }
            }
        }
        summary
    }
}
