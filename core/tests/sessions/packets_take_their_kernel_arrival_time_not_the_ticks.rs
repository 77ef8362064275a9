//! With [`ArrivalClock::Kernel`], a packet's arrival is the backend's receive timestamp, so a
//! worker that reads its sockets late (a slow tick, a stalled vCPU) does not mistake its own
//! lateness for network jitter: perfectly paced media measures zero interarrival jitter
//! however irregular the ticks. Stamped with the tick's time, the same media shows the
//! stalls as jitter (which an adaptive jitter buffer would answer with more delay).

use tandem_core::rtp::PayloadType;
use tandem_core::session::{CodecSpec, LegId, LegSpec, SessionId, SessionSpec};
use tandem_core::worker::{ArrivalClock, TICK_US, WorkerConfig};
use tandem_drivers::packet::PacketIo;

use crate::support::{Harness, Stream};

/// RFC 3550 interarrival jitter (timestamp units) that leg A measures on 20 ms PCMU sent
/// exactly on time, while the worker stalls for 60 ms every 200 ms and then catches up.
fn jitter_with_stalls(clock: ArrivalClock) -> u32 {
    let mut h = Harness::with_config(WorkerConfig {
        arrival_clock: clock,
        ..WorkerConfig::new(0)
    });
    // The loopback network stamps datagrams with the sender's `now`: the worker's clock.
    h.worker.set_unix_at_epoch_us(0);
    let (sa, peer_a) = h.peer.socket();
    let pair_b = h.peer.pair();
    let peer_b = h.peer.io.local_addr(pair_b.rtp).unwrap();
    let legs = h.install(
        7,
        &SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU).with_remote(peer_a),
            b: LegSpec::new(CodecSpec::PCMU).with_remote(peer_b),
        },
    );
    let mut stream = Stream::new(0x1234, PayloadType::PCMU);
    let (start, mut sent) = (h.now_us, 0u64);
    let mut pending_ticks = 0;
    for _ in 0..100 {
        // Packet `sent` leaves at exactly `start + 20 ms * sent`.
        let due = start + 20_000 * sent;
        h.peer
            .send(due, sa, legs[0], &stream.packet(&[0xFF; 160], 160));
        sent += 1;
        pending_ticks += 2;
        // Every tenth packet the worker is on time; the three before it, it is stalled.
        if sent % 10 == 0 || sent % 10 < 7 {
            for _ in 0..pending_ticks {
                h.tick();
            }
            pending_ticks = 0;
        }
        assert!(h.now_us <= due + 20_000 + 3 * 20_000 + TICK_US);
        h.peer.recv_all();
    }
    h.worker
        .leg_report(SessionId(7), LegId(0))
        .expect("leg A")
        .jitter
}

#[test]
fn packets_take_their_kernel_arrival_time_not_the_ticks() {
    let kernel = jitter_with_stalls(ArrivalClock::Kernel);
    let tick = jitter_with_stalls(ArrivalClock::Tick);
    assert_eq!(kernel, 0, "paced media, kernel arrival times: no jitter");
    // 8 kHz units: the stalls hold three packets back by up to 60 ms.
    assert!(
        tick > 40,
        "stamped at the ticks, the stalls look like jitter: {tick}"
    );
}
