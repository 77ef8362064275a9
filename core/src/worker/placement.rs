//! Placement: which worker a new session goes to.
//!
//! A new session goes to the least-loaded worker, load being the summed cost estimates of the
//! sessions already placed there ([`PreparedSession::cost`](crate::session::PreparedSession),
//! from the codecs' decode and encode costs: a G.711 relay leg costs 1, an Opus transcoding
//! leg far more). Ties go to the lowest index, so placement is deterministic. All legs of a
//! session live on its worker: a relay or transcoder is placed whole, and conference legs
//! always join their room's worker (never placed on their own), so mixing never crosses
//! cores.
//!
//! Placement runs on the control plane and reads each worker's
//! [`WorkerStats::load`](crate::worker::WorkerStats) atomically; it never touches a worker.

use std::sync::atomic::Ordering;

use crate::worker::WorkerStats;

/// The index of the least-loaded of `loads`, lowest index first on ties; `None` when empty.
pub fn least_loaded(loads: impl IntoIterator<Item = u64>) -> Option<usize> {
    loads
        .into_iter()
        .enumerate()
        .min_by_key(|&(i, load)| (load, i))
        .map(|(i, _)| i)
}

/// Picks the least-loaded worker and charges it `cost`. Returns its index.
pub fn place<'a>(workers: impl IntoIterator<Item = &'a WorkerStats>, cost: u32) -> Option<usize> {
    let workers: Vec<&WorkerStats> = workers.into_iter().collect();
    let index = least_loaded(workers.iter().map(|w| w.load.load(Ordering::Relaxed)))?;
    workers[index]
        .load
        .fetch_add(u64::from(cost), Ordering::Relaxed);
    Some(index)
}

/// Charges (`cost` > 0 after a join) or refunds (`release`) load on a worker.
pub fn release(worker: &WorkerStats, cost: u32) {
    let _ = worker
        .load
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |load| {
            Some(load.saturating_sub(u64::from(cost)))
        });
}

/// Charges `cost` to a worker (a conference leg joining its room's worker).
pub fn charge(worker: &WorkerStats, cost: u32) {
    worker.load.fetch_add(u64::from(cost), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_loaded_worker_wins_and_ties_go_to_the_lowest_index() {
        assert_eq!(least_loaded([5, 3, 3, 9]), Some(1));
        assert_eq!(least_loaded([0, 0]), Some(0));
        assert_eq!(least_loaded(Vec::<u64>::new()), None);
    }

    #[test]
    fn placing_charges_the_chosen_worker_and_spreads_equal_sessions() {
        let workers: Vec<WorkerStats> = (0..3).map(|_| WorkerStats::default()).collect();
        let picks: Vec<usize> = (0..6).map(|_| place(&workers, 10).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        // A heavy session pushes later ones elsewhere.
        let heavy = place(&workers, 100).unwrap();
        assert_eq!(heavy, 0);
        assert_eq!(place(&workers, 10), Some(1));
        release(&workers[0], 1000);
        assert_eq!(workers[0].load.load(Ordering::Relaxed), 0);
        charge(&workers[2], 5);
        assert_eq!(workers[2].load.load(Ordering::Relaxed), 25);
    }
}
