//! Waiting, bounded, for state another thread changes: a control plane that acts "a moment
//! after" its reply (a session removed on its worker, a room closed) is read until it has
//! settled or the wait is over.

use std::time::{Duration, Instant};

/// Reads `read()` every 5 ms until `settled` holds for what it returned or `wait` has
/// passed; returns the last reading (for the caller's assertion to show).
pub fn settle<T>(wait: Duration, mut read: impl FnMut() -> T, settled: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + wait;
    loop {
        let now = read();
        if settled(&now) || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
