//! Transaction timers (RFC 3261 §17, Table 4 of §A; RFC 6026 §8.11 adds L and M).
//!
//! [`Timers`] holds the configurable base values (T1, T2, T4, and the durations RFC 3261 leaves
//! to the implementation: Timer C and Timer D) and derives the value of every timer for a
//! reliable or unreliable transport. The state machines keep their deadlines as plain
//! `Instant`s; [`Backoff`] is the doubling retransmission schedule of Timers A, E and G.

use std::fmt;
use std::time::{Duration, Instant};

/// A transaction timer, named as in RFC 3261 §17 (Table 4) and RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmit interval, unreliable transports only (§17.1.1.2).
    A,
    /// INVITE transaction timeout in Calling (§17.1.1.2): 64*T1.
    B,
    /// INVITE client transaction stuck in Proceeding (§16.6 defines it for proxies, > 3 min):
    /// Tandem's user agents arm it too, so a provisional response that is never followed by a
    /// final one cannot hold a transaction forever. On expiry the TU gets a timeout.
    C,
    /// Wait time for response retransmissions in the INVITE client's Completed state
    /// (§17.1.1.2): at least 32 s unreliable, 0 reliable.
    D,
    /// Non-INVITE request retransmit interval, unreliable only (§17.1.2.2).
    E,
    /// Non-INVITE transaction timeout (§17.1.2.2): 64*T1.
    F,
    /// INVITE final response retransmit interval, unreliable only (§17.2.1).
    G,
    /// Wait time for ACK receipt (§17.2.1): 64*T1.
    H,
    /// Wait time for ACK retransmissions (§17.2.1): T4 unreliable, 0 reliable.
    I,
    /// Wait time for non-INVITE request retransmissions (§17.2.2): 64*T1 unreliable, 0
    /// reliable.
    J,
    /// Wait time for non-INVITE response retransmissions (§17.1.2.2): T4 unreliable, 0
    /// reliable.
    K,
    /// Wait time for retransmitted INVITEs in the server's Accepted state (RFC 6026 §8.11):
    /// 64*T1.
    L,
    /// Wait time for retransmitted 2xx responses in the client's Accepted state (RFC 6026
    /// §8.11): 64*T1.
    M,
    /// The 200 ms after which an INVITE server transaction sends 100 Trying itself when its TU
    /// has not answered (§17.2.1); see [`super::TryingPolicy`].
    Trying,
    /// Not in the RFC: how long a server transaction waits for its TU's final response before
    /// it reports a timeout and terminates (64*T1 for non-INVITE, when the client has given
    /// up by Timer F; Timer C's duration for INVITE). Bounds the table against a TU that
    /// never answers.
    Answer,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Trying => f.write_str("Timer 100"),
            Self::Answer => f.write_str("answer guard"),
            other => write!(f, "Timer {other:?}"),
        }
    }
}

/// Base timer values (RFC 3261 §17.1.1.1, Table 4). The defaults are the RFC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate: 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses: 4 s.
    pub t2: Duration,
    /// Maximum duration a message remains in the network: 5 s.
    pub t4: Duration,
    /// Timer C: how long an INVITE client transaction may stay in Proceeding (> 3 min,
    /// §16.6), and how long an INVITE server transaction waits for its TU's final response.
    pub timer_c: Duration,
    /// Timer D on unreliable transports; values below 32 s are raised to 32 s (§17.1.1.2).
    pub timer_d: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_c: Duration::from_secs(180),
            timer_d: Duration::from_secs(32),
        }
    }
}

/// The least Timer D on unreliable transports (RFC 3261 §17.1.1.2).
pub const TIMER_D_MIN: Duration = Duration::from_secs(32);

impl Timers {
    /// The initial value of `timer` for a transaction on a reliable or unreliable transport;
    /// `None` for the retransmission timers (A, E, G) on reliable transports, where they are
    /// not used.
    pub fn duration(&self, timer: Timer, reliable: bool) -> Option<Duration> {
        let t1x64 = self.t1.saturating_mul(64);
        let unreliable_only = |d: Duration| if reliable { Duration::ZERO } else { d };
        Some(match timer {
            Timer::A | Timer::E | Timer::G if reliable => return None,
            Timer::A | Timer::E | Timer::G => self.t1,
            Timer::B | Timer::F | Timer::H | Timer::L | Timer::M => t1x64,
            Timer::C => self.timer_c,
            Timer::D => unreliable_only(self.timer_d.max(TIMER_D_MIN)),
            Timer::I | Timer::K => unreliable_only(self.t4),
            Timer::J => unreliable_only(t1x64),
            Timer::Trying => Duration::from_millis(200),
            Timer::Answer => t1x64,
        })
    }
}

/// A retransmission schedule: fires at `at`, then again after a doubled interval, capped
/// (Timers A, E and G).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// When the timer fires next.
    pub(crate) at: Instant,
    interval: Duration,
    cap: Option<Duration>,
}

impl Backoff {
    /// Armed at `now + interval`; `cap` bounds the doubling (T2 for E and G, none for A).
    pub(crate) fn start(now: Instant, interval: Duration, cap: Option<Duration>) -> Self {
        Self {
            at: now + interval,
            interval,
            cap,
        }
    }

    /// Fired: re-arms with the doubled interval (capped), counted from `now`.
    pub(crate) fn fire(&mut self, now: Instant) {
        let doubled = self.interval.saturating_mul(2);
        self.interval = self.cap.map_or(doubled, |cap| doubled.min(cap));
        self.at = now + self.interval;
    }

    /// Re-arms with a fixed interval from `now` (Timer E in Proceeding: T2, §17.1.2.2).
    pub(crate) fn fire_fixed(&mut self, now: Instant, interval: Duration) {
        self.interval = interval;
        self.at = now + interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_4_values() {
        let t = Timers::default();
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        for (timer, unreliable, reliable) in [
            (Timer::A, Some(ms(500)), None),
            (Timer::B, Some(s(32)), Some(s(32))),
            (Timer::C, Some(s(180)), Some(s(180))),
            (Timer::D, Some(s(32)), Some(s(0))),
            (Timer::E, Some(ms(500)), None),
            (Timer::F, Some(s(32)), Some(s(32))),
            (Timer::G, Some(ms(500)), None),
            (Timer::H, Some(s(32)), Some(s(32))),
            (Timer::I, Some(s(5)), Some(s(0))),
            (Timer::J, Some(s(32)), Some(s(0))),
            (Timer::K, Some(s(5)), Some(s(0))),
            (Timer::L, Some(s(32)), Some(s(32))),
            (Timer::M, Some(s(32)), Some(s(32))),
            (Timer::Trying, Some(ms(200)), Some(ms(200))),
        ] {
            assert_eq!(t.duration(timer, false), unreliable, "{timer}");
            assert_eq!(t.duration(timer, true), reliable, "{timer}");
        }
        let short_d = Timers { timer_d: s(1), ..t };
        assert_eq!(short_d.duration(Timer::D, false), Some(s(32)));
        let long_d = Timers {
            timer_d: s(40),
            ..t
        };
        assert_eq!(long_d.duration(Timer::D, false), Some(s(40)));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let t0 = crate::transaction::test_epoch();
        let mut b = Backoff::start(t0, Duration::from_millis(500), Some(Duration::from_secs(4)));
        let mut fired = Vec::new();
        for _ in 0..6 {
            fired.push(b.at - t0);
            let at = b.at;
            b.fire(at);
        }
        let ms = Duration::from_millis;
        assert_eq!(
            fired,
            [ms(500), ms(1500), ms(3500), ms(7500), ms(11500), ms(15500)]
        );
    }
}
