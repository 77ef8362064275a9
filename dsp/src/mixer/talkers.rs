//! Top-N talker selection with hysteresis: which of this frame's candidates hold the mixer's
//! talker seats.
//!
//! # Rules
//!
//! 1. A seated talker who submits this frame keeps the seat and its level is refreshed.
//! 2. A seated talker who does not submit is *quiet* for the frame: its level decays by
//!    [`QUIET_DECAY_DB_PER_S`] and it keeps the seat until it has been quiet for more than
//!    `hold_frames` frames in a row. One quiet frame never drops a talker.
//! 3. Candidates who are not seated are taken loudest first. A free seat goes to the loudest;
//!    when every seat is taken, a candidate replaces the weakest seated talker only if it is at
//!    least `margin_db` louder than that talker's (possibly decayed) level. The first candidate
//!    that fails this test ends the round: nobody quieter could pass it.
//!
//! # Cost
//!
//! `O(candidates × seats)` per frame, with seats ≤ [`super::MAX_TALKERS`]; participants who did
//! not submit cost nothing. Never allocates: seats are a fixed vector, candidates are the
//! mixer's preallocated submission list.

use super::MAX_TALKERS;

/// How fast a quiet seated talker's level decays while it holds its seat, in dB per second.
pub const QUIET_DECAY_DB_PER_S: f32 = 20.0;

/// One submission for the current frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    /// Participant slab index.
    pub(crate) index: u32,
    /// Participant generation at submission, to ignore submissions of removed participants.
    pub(crate) generation: u32,
    pub(crate) level_dbov: f32,
    /// The seat the participant holds, filled in by the mixer just before selection.
    pub(crate) seat: Option<u8>,
    /// Already handled this round (seated, placed, or not eligible).
    pub(crate) done: bool,
}

/// A seated talker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Seat {
    /// Participant slab index.
    pub(crate) index: u32,
    pub(crate) level_dbov: f32,
    pub(crate) quiet_frames: u32,
}

/// A change of seat holder, reported to the mixer so it can update its participant table and
/// its per-seat limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeatChange {
    Left { seat: u8, index: u32 },
    Entered { seat: u8, index: u32 },
}

/// The talker seats and the hysteresis policy.
#[derive(Debug, Clone)]
pub(crate) struct Talkers {
    seats: Vec<Option<Seat>>,
    hold_frames: u32,
    margin_db: f32,
    decay_db_per_frame: f32,
}

impl Talkers {
    pub(crate) fn new(seats: usize, hold_frames: u32, margin_db: f32, frame_ms: f32) -> Self {
        debug_assert!(seats <= MAX_TALKERS);
        Self {
            seats: vec![None; seats],
            hold_frames,
            margin_db,
            decay_db_per_frame: QUIET_DECAY_DB_PER_S * frame_ms / 1000.0,
        }
    }

    pub(crate) fn seats(&self) -> &[Option<Seat>] {
        &self.seats
    }

    /// Frees `seat` at once (participant removed or muted) and returns who held it.
    pub(crate) fn vacate(&mut self, seat: u8) -> Option<u32> {
        self.seats
            .get_mut(usize::from(seat))?
            .take()
            .map(|s| s.index)
    }

    /// Runs one frame of selection over `candidates`, reporting every change to `changed`.
    ///
    /// Candidates already marked `done` are ignored; every candidate is `done` afterwards or
    /// was not needed.
    pub(crate) fn select(
        &mut self,
        candidates: &mut [Candidate],
        mut changed: impl FnMut(SeatChange),
    ) {
        // Rule 1: seated talkers who submitted.
        let mut refreshed = [false; MAX_TALKERS];
        for candidate in candidates.iter_mut().filter(|c| !c.done) {
            if let Some(seat) = candidate.seat {
                if let Some(Some(held)) = self.seats.get_mut(usize::from(seat)) {
                    if held.index == candidate.index {
                        held.level_dbov = candidate.level_dbov;
                        held.quiet_frames = 0;
                        refreshed[usize::from(seat)] = true;
                    }
                }
                candidate.done = true;
            }
        }
        // Rule 2: seated talkers who did not.
        for (seat, slot) in self.seats.iter_mut().enumerate() {
            if refreshed[seat] {
                continue;
            }
            if let Some(held) = slot {
                held.quiet_frames += 1;
                held.level_dbov -= self.decay_db_per_frame;
                if held.quiet_frames > self.hold_frames {
                    changed(SeatChange::Left {
                        seat: seat as u8,
                        index: held.index,
                    });
                    *slot = None;
                }
            }
        }
        // Rule 3: everyone else, loudest first.
        loop {
            // The loudest remaining candidate; among equals, the earliest submission.
            let mut best: Option<(usize, f32)> = None;
            for (i, c) in candidates.iter().enumerate().filter(|(_, c)| !c.done) {
                if best.is_none_or(|(_, level)| c.level_dbov > level) {
                    best = Some((i, c.level_dbov));
                }
            }
            let Some((best, _)) = best else {
                break;
            };
            let candidate = &mut candidates[best];
            candidate.done = true;
            let newcomer = Seat {
                index: candidate.index,
                level_dbov: candidate.level_dbov,
                quiet_frames: 0,
            };
            if let Some(free) = self.seats.iter().position(Option::is_none) {
                self.seats[free] = Some(newcomer);
                changed(SeatChange::Entered {
                    seat: free as u8,
                    index: newcomer.index,
                });
                continue;
            }
            let Some((weakest, held)) = self
                .seats
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.map(|s| (i, s)))
                .min_by(|a, b| a.1.level_dbov.total_cmp(&b.1.level_dbov))
            else {
                break;
            };
            if newcomer.level_dbov < held.level_dbov + self.margin_db {
                break;
            }
            changed(SeatChange::Left {
                seat: weakest as u8,
                index: held.index,
            });
            self.seats[weakest] = Some(newcomer);
            changed(SeatChange::Entered {
                seat: weakest as u8,
                index: newcomer.index,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(index: u32, level_dbov: f32, seat: Option<u8>) -> Candidate {
        Candidate {
            index,
            generation: 0,
            level_dbov,
            seat,
            done: false,
        }
    }

    /// Runs a frame where `submitted` (index, level) speak; returns the seat holders.
    fn frame(talkers: &mut Talkers, submitted: &[(u32, f32)]) -> Vec<Option<u32>> {
        let seat_of = |index: u32| {
            talkers
                .seats()
                .iter()
                .position(|s| s.is_some_and(|s| s.index == index))
                .map(|p| p as u8)
        };
        let mut candidates: Vec<Candidate> = submitted
            .iter()
            .map(|&(i, l)| candidate(i, l, seat_of(i)))
            .collect();
        talkers.select(&mut candidates, |_| {});
        talkers.seats().iter().map(|s| s.map(|s| s.index)).collect()
    }

    fn policy() -> Talkers {
        // 20 ms frames, hold 10 frames (200 ms), 6 dB margin.
        Talkers::new(3, 10, 6.0, 20.0)
    }

    #[test]
    fn free_seats_go_to_the_loudest_candidates() {
        let mut talkers = policy();
        let seats = frame(
            &mut talkers,
            &[(1, -40.0), (2, -20.0), (3, -30.0), (4, -25.0)],
        );
        assert_eq!(seats, vec![Some(2), Some(4), Some(3)]);
    }

    #[test]
    fn one_quiet_frame_does_not_drop_or_replace_a_talker() {
        let mut talkers = policy();
        frame(&mut talkers, &[(1, -20.0), (2, -20.0), (3, -20.0)]);
        // Talker 3 is quiet for one frame while a slightly louder newcomer speaks.
        let seats = frame(&mut talkers, &[(1, -20.0), (2, -20.0), (4, -17.0)]);
        assert_eq!(seats, vec![Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn a_newcomer_must_be_clearly_louder_to_replace_the_weakest() {
        let mut talkers = policy();
        frame(&mut talkers, &[(1, -20.0), (2, -25.0), (3, -30.0)]);
        let seats = frame(
            &mut talkers,
            &[(1, -20.0), (2, -25.0), (3, -30.0), (4, -25.0)],
        );
        assert_eq!(
            seats,
            vec![Some(1), Some(2), Some(3)],
            "5 dB louder is not enough"
        );
        let seats = frame(
            &mut talkers,
            &[(1, -20.0), (2, -25.0), (3, -30.0), (4, -24.0)],
        );
        assert_eq!(
            seats,
            vec![Some(1), Some(2), Some(4)],
            "6 dB louder replaces the weakest"
        );
    }

    #[test]
    fn a_talker_quiet_for_longer_than_the_hold_loses_the_seat() {
        let mut talkers = policy();
        frame(&mut talkers, &[(1, -20.0), (2, -20.0), (3, -20.0)]);
        for _ in 0..10 {
            assert_eq!(frame(&mut talkers, &[(1, -20.0), (2, -20.0)])[2], Some(3));
        }
        assert_eq!(frame(&mut talkers, &[(1, -20.0), (2, -20.0)])[2], None);
        // The free seat then goes to anyone, however quiet.
        assert_eq!(
            frame(&mut talkers, &[(1, -20.0), (2, -20.0), (5, -50.0)])[2],
            Some(5)
        );
    }

    #[test]
    fn a_quiet_talkers_decayed_level_eventually_lets_a_similar_newcomer_in() {
        let mut talkers = Talkers::new(1, 1000, 6.0, 20.0);
        frame(&mut talkers, &[(1, -20.0)]);
        // 0.4 dB per quiet frame: after 15 quiet frames the holder reads -26 dB, 6 dB under
        // the newcomer (float rounding may cost one more frame).
        let mut frames = 0;
        while frame(&mut talkers, &[(2, -20.0)]) == vec![Some(1)] {
            frames += 1;
        }
        assert!(
            (14..=15).contains(&frames),
            "replaced after {frames} kept frames"
        );
    }

    #[test]
    fn vacate_frees_a_seat_immediately() {
        let mut talkers = policy();
        frame(&mut talkers, &[(1, -20.0), (2, -20.0), (3, -20.0)]);
        assert_eq!(talkers.vacate(1), Some(2));
        assert_eq!(talkers.vacate(1), None);
        assert_eq!(
            frame(&mut talkers, &[(1, -20.0), (3, -20.0), (9, -60.0)])[1],
            Some(9)
        );
    }
}
