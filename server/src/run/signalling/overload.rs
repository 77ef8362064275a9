//! Admission of new calls (`[limits]`): at most `max_calls` live calls and at most
//! `calls_per_second` new calls in any one-second window; beyond either, and when the media
//! runtime refuses a session, the INVITE gets 503 with Retry-After (RFC 3261 §21.5.4) and
//! the calls already up are unaffected.
//!
//! The transaction table has its own bound: when it is full the transaction layer answers new
//! requests with a stateless 503 before they reach this module.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tandem_sip::message::{HeaderName, Response};

use super::super::config::Limits;

/// Why a call was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refusal {
    /// `max_calls` calls are up.
    #[error("{limit} calls are up (limits.max_calls)")]
    MaxCalls {
        /// The limit.
        limit: u32,
    },
    /// `calls_per_second` calls were admitted in the last second.
    #[error("{limit} calls were admitted in the last second (limits.calls_per_second)")]
    CallRate {
        /// The limit.
        limit: u32,
    },
}

/// The admission check: the live-call limit and a sliding one-second window of admissions.
#[derive(Debug)]
pub(super) struct Admission {
    max_calls: u32,
    calls_per_second: u32,
    retry_after_s: u32,
    /// When each call of the last second was admitted, oldest first (at most
    /// `calls_per_second` entries).
    admitted: VecDeque<Instant>,
}

/// The window the call rate is measured over.
const RATE_WINDOW: Duration = Duration::from_secs(1);

impl Admission {
    /// The check `limits` describe (0 turns a limit off).
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            max_calls: limits.max_calls,
            calls_per_second: limits.calls_per_second,
            retry_after_s: limits.retry_after_s,
            admitted: VecDeque::with_capacity(limits.calls_per_second.min(65_536) as usize),
        }
    }

    /// Admits one more call at `now` with `live` calls up, or says why not. An admitted call
    /// counts against the rate whether or not it is answered in the end.
    pub(super) fn admit(&mut self, now: Instant, live: usize) -> Result<(), Refusal> {
        if self.max_calls > 0 && live >= self.max_calls as usize {
            return Err(Refusal::MaxCalls {
                limit: self.max_calls,
            });
        }
        if self.calls_per_second > 0 {
            while self
                .admitted
                .front()
                .is_some_and(|&at| now.saturating_duration_since(at) >= RATE_WINDOW)
            {
                self.admitted.pop_front();
            }
            if self.admitted.len() >= self.calls_per_second as usize {
                return Err(Refusal::CallRate {
                    limit: self.calls_per_second,
                });
            }
            self.admitted.push_back(now);
        }
        Ok(())
    }

    /// Adds `Retry-After` to a 503.
    pub(super) fn retry_after(&self, response: Response) -> Response {
        response.with_header(HeaderName::RetryAfter, self.retry_after_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_calls: u32, calls_per_second: u32) -> Limits {
        Limits {
            max_calls,
            calls_per_second,
            retry_after_s: 7,
            ..Limits::default()
        }
    }

    #[test]
    fn live_calls_beyond_the_limit_are_refused() {
        let mut a = Admission::new(&limits(2, 0));
        let now = Instant::now();
        assert_eq!(a.admit(now, 0), Ok(()));
        assert_eq!(a.admit(now, 1), Ok(()));
        assert_eq!(a.admit(now, 2), Err(Refusal::MaxCalls { limit: 2 }));
    }

    #[test]
    fn the_rate_is_a_sliding_one_second_window() {
        let mut a = Admission::new(&limits(0, 3));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(a.admit(t0 + Duration::from_millis(i * 100), 0), Ok(()));
        }
        let refused = a.admit(t0 + Duration::from_millis(900), 0);
        assert_eq!(refused, Err(Refusal::CallRate { limit: 3 }));
        // The first admission leaves the window one second after it was made.
        assert_eq!(a.admit(t0 + Duration::from_millis(1000), 0), Ok(()));
        assert!(a.admit(t0 + Duration::from_millis(1050), 0).is_err());
    }

    #[test]
    fn zero_turns_limits_off() {
        let mut a = Admission::new(&limits(0, 0));
        for _ in 0..10_000 {
            assert_eq!(a.admit(Instant::now(), 1_000_000), Ok(()));
        }
    }
}
