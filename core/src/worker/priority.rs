//! Real-time scheduling for a worker thread (`SCHED_FIFO`), when the operator asks for it
//! ([`RuntimeConfig::realtime_priority`](crate::runtime::RuntimeConfig::realtime_priority)).
//!
//! A worker sleeps between ticks and must run the moment its deadline comes. Under the
//! default scheduler the control plane's threads (a burst of call setups), logging, or any
//! other process on the core can hold it back by milliseconds, and a tick that starts late
//! is a tick that may miss its deadline. A `SCHED_FIFO` worker preempts them all; the
//! kernel's real-time throttling (`kernel.sched_rt_runtime_us`, 95 % by default) still leaves
//! the rest of the core to the others, so even an overloaded worker cannot lock its core up.
//! Only the worker threads are raised, never the control plane.
//!
//! Needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` of at least the priority (systemd:
//! `LimitRTPRIO=`); refused, the worker runs at normal priority and says so in its stats.

#![allow(unsafe_code)]

use nix::errno::Errno;

/// Highest `SCHED_FIFO` priority Linux accepts.
pub const MAX_REALTIME_PRIORITY: u8 = 99;

/// Puts the calling thread in `SCHED_FIFO` at `priority` (clamped to 1..=99).
///
/// # Errors
///
/// The system's refusal (`EPERM` without the privilege).
pub fn make_current_thread_realtime(priority: u8) -> Result<(), Errno> {
    let param = libc::sched_param {
        sched_priority: i32::from(priority.clamp(1, MAX_REALTIME_PRIORITY)),
    };
    // SAFETY: pthread_self() is the calling thread, alive for the call; `param` is a valid
    // sched_param on this stack frame that the call only reads.
    let result =
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    match result {
        0 => Ok(()),
        code => Err(Errno::from_raw(code)),
    }
}

/// The calling thread's scheduling policy is `SCHED_FIFO`.
pub fn current_thread_is_realtime() -> bool {
    let mut policy = 0;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: both out-pointers point at locals of this frame, written once by the call.
    let result =
        unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
    result == 0 && policy == libc::SCHED_FIFO
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_is_raised_when_permitted_and_left_alone_otherwise() {
        let outcome = std::thread::spawn(|| {
            let before = current_thread_is_realtime();
            let result = make_current_thread_realtime(1);
            (before, result, current_thread_is_realtime())
        })
        .join()
        .unwrap();
        match outcome {
            (false, Ok(()), true) => {}
            (false, Err(Errno::EPERM), false) => eprintln!("no permission for SCHED_FIFO here"),
            other => panic!("{other:?}"),
        }
    }
}
