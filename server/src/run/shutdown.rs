//! The graceful-shutdown signal: one [`Shutdown`] owned by the start-up code, any number of
//! [`ShutdownSignal`] clones held by the tasks that must react.
//!
//! Shutdown has two steps, and the phase only moves forward:
//!
//! 1. [`Phase::Draining`]: stop accepting new calls (answer them 503), end the calls in
//!    progress (BYE), and be done by the deadline. Transports keep running, so the BYEs go
//!    out and their responses come back.
//! 2. [`Phase::Stopping`]: the deadline passed or everything has drained: every task returns
//!    now; transports close their sockets.
//!
//! Built on `tokio::sync::watch`: a task that looks late still sees the latest phase, and a
//! dropped [`Shutdown`] reads as [`Phase::Stopping`], so no task can wait forever.

use tokio::sync::watch;
use tokio::time::Instant;

/// Where the process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Serving: accept calls.
    Running,
    /// Refuse new calls and end the others before `deadline`.
    Draining {
        /// When the process stops whether or not calls have ended.
        deadline: Instant,
    },
    /// Return now.
    Stopping,
}

/// The sending side: moves the phase forward.
#[derive(Debug)]
pub struct Shutdown {
    phase: watch::Sender<Phase>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal in [`Phase::Running`].
    pub fn new() -> Self {
        Self {
            phase: watch::Sender::new(Phase::Running),
        }
    }

    /// A receiver for a task.
    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            phase: self.phase.subscribe(),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Starts draining with `deadline`, unless shutdown already began.
    pub fn drain(&self, deadline: Instant) {
        self.phase.send_if_modified(|phase| {
            if *phase == Phase::Running {
                *phase = Phase::Draining { deadline };
                true
            } else {
                false
            }
        });
    }

    /// Tells every task to return now.
    pub fn stop(&self) {
        self.phase.send_if_modified(|phase| {
            let changed = *phase != Phase::Stopping;
            *phase = Phase::Stopping;
            changed
        });
    }
}

/// The receiving side, cheap to clone: one per task.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    phase: watch::Receiver<Phase>,
}

impl ShutdownSignal {
    /// The current phase ([`Phase::Stopping`] once the [`Shutdown`] is gone).
    pub fn phase(&self) -> Phase {
        if self.phase.has_changed().is_err() {
            return Phase::Stopping;
        }
        *self.phase.borrow()
    }

    /// True while new calls may be accepted.
    pub fn is_running(&self) -> bool {
        self.phase() == Phase::Running
    }

    /// Waits until shutdown begins; returns the drain deadline, or `None` when the process
    /// is stopping without a drain. Cancel-safe.
    pub async fn draining(&mut self) -> Option<Instant> {
        match self.phase.wait_for(|p| *p != Phase::Running).await {
            Ok(phase) => match *phase {
                Phase::Draining { deadline } => Some(deadline),
                _ => None,
            },
            Err(_) => None,
        }
    }

    /// Waits until every task must return. Cancel-safe.
    pub async fn stopping(&mut self) {
        // An error means the sender is gone, which is a stop too.
        let _ = self.phase.wait_for(|p| *p == Phase::Stopping).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn phases_only_move_forward() {
        let shutdown = Shutdown::new();
        let mut signal = shutdown.signal();
        assert!(signal.is_running());
        let deadline = Instant::now() + Duration::from_secs(5);
        shutdown.drain(deadline);
        assert_eq!(signal.draining().await, Some(deadline));
        assert_eq!(signal.phase(), Phase::Draining { deadline });
        // A second drain does not move the deadline.
        shutdown.drain(deadline + Duration::from_secs(5));
        assert_eq!(shutdown.phase(), Phase::Draining { deadline });
        shutdown.stop();
        signal.stopping().await;
        assert_eq!(signal.phase(), Phase::Stopping);
        // Nothing goes back to draining.
        shutdown.drain(deadline);
        assert_eq!(shutdown.phase(), Phase::Stopping);
    }

    #[tokio::test]
    async fn a_task_that_waits_wakes_when_the_phase_changes() {
        let shutdown = Shutdown::new();
        let mut signal = shutdown.signal();
        let task = tokio::spawn(async move {
            let deadline = signal.draining().await;
            signal.stopping().await;
            deadline
        });
        tokio::task::yield_now().await;
        shutdown.stop();
        assert_eq!(task.await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_dropped_shutdown_reads_as_stopping() {
        let shutdown = Shutdown::new();
        let mut signal = shutdown.signal();
        drop(shutdown);
        assert_eq!(signal.phase(), Phase::Stopping);
        assert_eq!(signal.draining().await, None);
        signal.stopping().await;
    }
}
