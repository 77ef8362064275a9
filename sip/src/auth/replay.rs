//! Nonce-count replay protection for the verifier (RFC 7616 §3.4 `nc`, §5.6 replay attacks).
//!
//! For each nonce in use the window keeps the highest `nc` accepted and a 64-bit map of
//! which of the 64 counts below it were seen, as SRTP's replay list does (RFC 3711 §3.3.2):
//! counts may arrive out of order (two requests in flight with one nonce), but none twice.
//!
//! Memory is bounded by the capacity given at construction. When the table is full, expired
//! nonces go first, then the oldest. A nonce forgotten while still valid could be replayed,
//! so the window remembers the newest issue time it ever evicted and refuses any unknown
//! nonce issued at or before it ([`NonceCheck::StateLost`]): the client gets a fresh nonce
//! with `stale=true` and carries on without asking its user, and no replay is accepted.
//!
//! Entries are added only after the response digest checked out, so only clients that know
//! a password can fill the table. A `BTreeMap` keeps the crate free of `RandomState`.

use std::collections::BTreeMap;

/// The part of a nonce that identifies it (its MAC).
pub(crate) type NonceKey = [u8; 16];

/// Bits in the out-of-order map: counts more than this far below the highest are refused.
const WINDOW_BITS: u32 = 64;

#[derive(Debug, Clone, Copy)]
struct Entry {
    issued_secs: u64,
    highest: u32,
    /// Bit `i` set: count `highest - i` was accepted.
    seen: u64,
}

/// What the window says about one `(nonce, nc)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceCheck {
    /// First use of this count: accepted and recorded.
    Fresh,
    /// This count was used before (or is too far below the highest to tell).
    Replay,
    /// The nonce was evicted while valid: its history is unknown.
    StateLost,
}

/// Per-nonce highest count and recent-count map, bounded in size.
#[derive(Debug, Clone)]
pub(crate) struct NonceCountWindow {
    capacity: usize,
    entries: BTreeMap<NonceKey, Entry>,
    /// Newest issue time of a still-valid nonce that was evicted.
    lost_through_secs: Option<u64>,
}

impl NonceCountWindow {
    /// A window for at most `capacity` nonces; 0 disables replay protection.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: BTreeMap::new(),
            lost_through_secs: None,
        }
    }

    /// Checks `nc` for the nonce `key` issued at `issued_secs` and records it if fresh.
    /// `now_secs` and `lifetime_secs` let a full table drop expired nonces first.
    pub(crate) fn check(
        &mut self,
        key: NonceKey,
        issued_secs: u64,
        nc: u32,
        now_secs: u64,
        lifetime_secs: u64,
    ) -> NonceCheck {
        if self.capacity == 0 {
            return NonceCheck::Fresh;
        }
        if let Some(entry) = self.entries.get_mut(&key) {
            return entry.record(nc);
        }
        if self.lost_through_secs.is_some_and(|t| issued_secs <= t) {
            return NonceCheck::StateLost;
        }
        if self.entries.len() >= self.capacity {
            self.make_room(now_secs, lifetime_secs);
        }
        self.entries.insert(
            key,
            Entry {
                issued_secs,
                highest: nc,
                seen: 1,
            },
        );
        NonceCheck::Fresh
    }

    /// Number of nonces tracked.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn make_room(&mut self, now_secs: u64, lifetime_secs: u64) {
        self.entries
            .retain(|_, e| e.issued_secs.saturating_add(lifetime_secs) >= now_secs);
        while self.entries.len() >= self.capacity {
            let Some((&key, &oldest)) = self.entries.iter().min_by_key(|(_, e)| e.issued_secs)
            else {
                return;
            };
            self.entries.remove(&key);
            let lost = self.lost_through_secs.get_or_insert(oldest.issued_secs);
            *lost = (*lost).max(oldest.issued_secs);
        }
    }
}

impl Entry {
    fn record(&mut self, nc: u32) -> NonceCheck {
        if nc > self.highest {
            let shift = nc - self.highest;
            self.seen = if shift >= WINDOW_BITS {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = nc;
            return NonceCheck::Fresh;
        }
        let below = self.highest - nc;
        if below >= WINDOW_BITS || self.seen & (1 << below) != 0 {
            return NonceCheck::Replay;
        }
        self.seen |= 1 << below;
        NonceCheck::Fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: u64 = 300;

    #[test]
    fn refuses_a_count_seen_before_and_accepts_out_of_order_ones() {
        let mut w = NonceCountWindow::new(8);
        let k = [1; 16];
        assert_eq!(w.check(k, 0, 1, 0, LIFE), NonceCheck::Fresh);
        assert_eq!(w.check(k, 0, 3, 0, LIFE), NonceCheck::Fresh);
        assert_eq!(w.check(k, 0, 2, 0, LIFE), NonceCheck::Fresh);
        assert_eq!(w.check(k, 0, 2, 0, LIFE), NonceCheck::Replay);
        assert_eq!(w.check(k, 0, 3, 0, LIFE), NonceCheck::Replay);
        assert_eq!(w.check(k, 0, 200, 0, LIFE), NonceCheck::Fresh);
        assert_eq!(w.check(k, 0, 100, 0, LIFE), NonceCheck::Replay);
        assert_eq!(w.check(k, 0, 199, 0, LIFE), NonceCheck::Fresh);
    }

    #[test]
    fn full_table_drops_expired_nonces_first() {
        let mut w = NonceCountWindow::new(2);
        assert_eq!(w.check([1; 16], 0, 1, 0, LIFE), NonceCheck::Fresh);
        assert_eq!(w.check([2; 16], 500, 1, 500, LIFE), NonceCheck::Fresh);
        assert_eq!(w.check([3; 16], 501, 1, 501, LIFE), NonceCheck::Fresh);
        assert_eq!(w.len(), 2);
        // Nothing valid was lost: a nonce issued before the evicted one is not refused.
        assert_eq!(w.check([4; 16], 400, 1, 501, LIFE), NonceCheck::Fresh);
    }

    #[test]
    fn evicting_a_valid_nonce_refuses_older_unknown_nonces_instead_of_forgetting() {
        let mut w = NonceCountWindow::new(2);
        assert_eq!(w.check([1; 16], 10, 1, 10, LIFE), NonceCheck::Fresh);
        assert_eq!(w.check([2; 16], 20, 1, 20, LIFE), NonceCheck::Fresh);
        assert_eq!(w.check([3; 16], 30, 1, 30, LIFE), NonceCheck::Fresh);
        assert_eq!(w.len(), 2);
        // [1; 16] was evicted while valid: its replay is caught, not accepted.
        assert_eq!(w.check([1; 16], 10, 1, 31, LIFE), NonceCheck::StateLost);
        assert_eq!(w.check([2; 16], 20, 1, 31, LIFE), NonceCheck::Replay);
        assert_eq!(w.check([5; 16], 31, 1, 31, LIFE), NonceCheck::Fresh);
    }

    #[test]
    fn zero_capacity_disables_tracking() {
        let mut w = NonceCountWindow::new(0);
        assert_eq!(w.check([1; 16], 0, 1, 0, LIFE), NonceCheck::Fresh);
        assert_eq!(w.check([1; 16], 0, 1, 0, LIFE), NonceCheck::Fresh);
        assert_eq!(w.len(), 0);
    }
}
