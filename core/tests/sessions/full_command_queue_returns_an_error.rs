//! A full command ring hands the command back to the caller at once; the worker is never
//! blocked and drains at most MAX_COMMANDS_PER_TICK per tick.

use tandem_core::bus::{Command, CommandError, Full, Notice, Reply, RequestId};
use tandem_core::session::SessionId;
use tandem_core::worker::{MAX_COMMANDS_PER_TICK, WorkerConfig};

use crate::support::Harness;

fn remove(i: u64) -> Command {
    Command::Remove {
        request: Some(RequestId(i)),
        session: SessionId(100 + i),
    }
}

#[test]
fn full_command_queue_returns_an_error() {
    let config = WorkerConfig {
        command_queue: 4,
        ..WorkerConfig::new(0)
    };
    let mut h = Harness::with_config(config);
    for i in 0..4 {
        h.control.send(remove(i)).unwrap();
    }
    let Err(Full(Command::Remove { request, session })) = h.control.send(remove(4)) else {
        panic!("a full ring must refuse the command");
    };
    assert_eq!((request, session), (Some(RequestId(4)), SessionId(104)));
    h.now_us += 10_000;
    h.worker.tick(h.now_us);
    let replies: Vec<_> = std::iter::from_fn(|| h.control.poll_notice())
        .filter_map(|n| match n {
            Notice::Reply { request, reply } => Some((request, reply)),
            _ => None,
        })
        .collect();
    assert_eq!(replies.len(), 4);
    assert!(matches!(
        replies[0].1,
        Reply::Failed(CommandError::UnknownSession(SessionId(100)))
    ));
    // Drained: room again.
    h.control.send(remove(4)).unwrap();
}

#[test]
fn a_tick_applies_at_most_the_command_budget() {
    let config = WorkerConfig {
        command_queue: 2 * MAX_COMMANDS_PER_TICK,
        ..WorkerConfig::new(0)
    };
    let mut h = Harness::with_config(config);
    for i in 0..(MAX_COMMANDS_PER_TICK + 24) as u64 {
        h.control.send(remove(i)).unwrap();
    }
    h.now_us += 10_000;
    h.worker.tick(h.now_us);
    let n = std::iter::from_fn(|| h.control.poll_notice()).count();
    assert_eq!(n, MAX_COMMANDS_PER_TICK);
}
