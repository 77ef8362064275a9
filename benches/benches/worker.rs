//! The cost of a worker's tick when its sessions have nothing to do: 2,000 relay calls with
//! no media (on hold, silent with DTX, parked), over the in-memory loopback backend so that
//! no system call is timed. Each iteration is one tick; between RTCP reports a relay needs
//! none, and the tick should cost little more than the empty receive.
//!
//! ```text
//! cargo bench -p tandem-benches --bench worker
//! ```

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, criterion_group, criterion_main};
use tandem_core::session::{CodecSpec, LegSpec, PreparedSession, SessionId, SessionSpec};
use tandem_core::worker::{TICK_US, Worker, WorkerConfig};
use tandem_drivers::packet::PortRange;
use tandem_drivers::packet::loopback::{LoopbackConfig, LoopbackNet};

const CALLS: u64 = 2_000;

fn idle_relays(c: &mut Criterion) {
    let net = LoopbackNet::new();
    let io = net
        .endpoint(LoopbackConfig::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            PortRange::new(20000, 29999).unwrap(),
        ))
        .unwrap();
    let (mut worker, _control) = Worker::new(WorkerConfig::new(0), io);
    let spec = SessionSpec::Relay {
        a: LegSpec::new(CodecSpec::PCMU),
        b: LegSpec::new(CodecSpec::PCMU),
    };
    let mut now_us = 1_000_000;
    for id in 0..CALLS {
        let session = Box::new(PreparedSession::new(SessionId(id), &spec).unwrap());
        assert!(worker.install(now_us, session).is_ok());
    }
    // Past the first ticks, which run every new leg's upkeep once.
    for _ in 0..10 {
        now_us += TICK_US;
        worker.tick(now_us);
    }
    c.bench_function("worker_tick_2000_idle_relays", |b| {
        b.iter(|| {
            now_us += TICK_US;
            worker.tick(black_box(now_us));
        })
    });
}

criterion_group!(benches, idle_relays);
criterion_main!(benches);
