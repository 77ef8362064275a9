//! Threaded runtime: a worker applies a command when it arrives, not at its next tick. The
//! workers here tick once an hour, and every request must still be answered (the reply
//! timeout is a minute), with the worker's gauges already counting it; shutting down does
//! not wait for a tick either.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tandem_core::runtime::RuntimeConfig;
use tandem_core::session::{CodecSpec, ConferenceSpec, LegSpec, SessionSpec};
use tandem_core::worker::WorkerConfig;
use tandem_drivers::packet::loopback::LoopbackNet;

use crate::support::runtime_on_loopback;

#[test]
fn commands_do_not_wait_for_a_tick() {
    let net = LoopbackNet::new();
    let config = RuntimeConfig {
        workers: 2,
        pin: false,
        tick: Duration::from_secs(3600),
        reply_timeout: Duration::from_secs(60),
        worker: WorkerConfig {
            max_sessions: 64,
            tx_queue: 256,
            ..WorkerConfig::new(0)
        },
        ..RuntimeConfig::default()
    };
    let runtime = runtime_on_loopback(&net, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), 22000, config);
    // One after another, as the ng server issues them: each waits for its reply.
    for _ in 0..50 {
        let call = runtime
            .create_session(&SessionSpec::Relay {
                a: LegSpec::new(CodecSpec::PCMU),
                b: LegSpec::new(CodecSpec::PCMU),
            })
            .unwrap();
        assert_eq!(runtime.worker_stats()[call.worker].sessions, 1);
        runtime.remove_session(call.id).unwrap();
        assert_eq!(runtime.worker_stats()[call.worker].sessions, 0);
    }
    let room = runtime
        .create_session(&SessionSpec::Conference(ConferenceSpec::new(8000, 8)))
        .unwrap();
    for joined in 1..=8 {
        runtime
            .join(room.id, &LegSpec::new(CodecSpec::PCMU))
            .unwrap();
        assert_eq!(runtime.worker_stats()[room.worker].legs, joined);
    }
    let stats = runtime.worker_stats();
    assert!(stats.iter().all(|s| s.ticks == 0), "no tick ran: {stats:?}");
    runtime.shutdown();
}
