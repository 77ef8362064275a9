//! Datagrams per second per core through the UDP backend (`tandem_drivers::packet::udp`) on
//! loopback: one `UdpIo` sends a batch with `send_batch` (`sendmmsg`), another receives it
//! with `recv_batch` (`epoll_wait` + `recvmmsg`), on the bench thread, so one core pays for
//! both sides of every datagram (the kernel's loopback delivery runs in the sender's
//! syscall). Datagrams are 172 bytes: an RTP header and 20 ms of G.711.
//!
//! - `batch/N`: N datagrams between one pair of sockets per iteration (N = 1, 8, 32): one
//!   `sendmmsg` and one `recvmmsg` per batch, the best case for batching.
//! - `spread/32`: 32 datagrams to 32 different receiving sockets, one each, as a relay
//!   worker sees them in a tick (one RTP socket per leg): one `sendmmsg` per datagram and one
//!   `recvmmsg` per ready socket after one `epoll_wait`.
//!
//! Throughput is in elements (datagrams), so criterion reports datagrams per second per
//! core. Every backend and buffer is built outside `b.iter`; the loop allocates nothing and
//! its receive polling is bounded. Loopback only (ports 31600–31799).
//!
//! Run: `cargo bench -p tandem-benches --bench udp -- --warm-up-time 1 --measurement-time 3`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tandem_drivers::packet::udp::{UdpConfig, UdpIo};
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortRange, RecvMeta, Timestamp, Transmit,
};

const PAYLOAD_BYTES: usize = 172;
/// Receive polls per iteration before giving up on a lost datagram (never reached on an
/// idle loopback; keeps the loop bounded).
const MAX_POLLS: usize = 10_000;

fn backend(min: u16, max: u16) -> UdpIo {
    let mut config = UdpConfig::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        PortRange::new(min, max).unwrap(),
    );
    config.recv_buffer_bytes = Some(1 << 20);
    UdpIo::new(config).unwrap()
}

/// Sends `packets` with `a` and receives as many with `b`; returns the datagrams received.
fn round_trip(
    a: &mut UdpIo,
    b: &mut UdpIo,
    packets: &[Transmit<'_>],
    bufs: &mut [PacketBuf],
    meta: &mut [RecvMeta],
) -> usize {
    a.send_batch(Timestamp::ZERO, black_box(packets)).unwrap();
    let mut got = 0;
    for _ in 0..MAX_POLLS {
        got += b.recv_batch(Timestamp::ZERO, bufs, meta).unwrap();
        if got >= packets.len() {
            break;
        }
    }
    black_box(&meta[..]);
    got
}

fn udp(c: &mut Criterion) {
    let mut group = c.benchmark_group("udp");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    let payload = [0x80u8; PAYLOAD_BYTES];
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);

    let mut a = backend(31600, 31601);
    let mut b = backend(31602, 31603);
    let from = a.open_pair().unwrap();
    let to_pair = b.open_pair().unwrap();
    let to = b.local_addr(to_pair.rtp).unwrap();
    for batch in [1usize, 8, 32] {
        let packets = vec![
            Transmit {
                socket: from.rtp,
                destination: to,
                payload: &payload,
            };
            batch
        ];
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch/{batch}"), |bench| {
            bench.iter(|| round_trip(&mut a, &mut b, &packets, &mut bufs, &mut meta))
        });
    }

    // One socket per leg on both sides, as in a relay worker.
    let mut senders = backend(31620, 31620 + 2 * 32 - 1);
    let mut spread = backend(31700, 31700 + 2 * 32 - 1);
    let legs: Vec<_> = (0..32)
        .map(|_| {
            let pair = spread.open_pair().unwrap();
            (
                senders.open_pair().unwrap().rtp,
                spread.local_addr(pair.rtp).unwrap(),
            )
        })
        .collect();
    let packets: Vec<Transmit<'_>> = legs
        .iter()
        .map(|&(socket, destination)| Transmit {
            socket,
            destination,
            payload: &payload,
        })
        .collect();
    group.throughput(Throughput::Elements(packets.len() as u64));
    group.bench_function("spread/32", |bench| {
        bench.iter(|| round_trip(&mut senders, &mut spread, &packets, &mut bufs, &mut meta))
    });
    group.finish();
}

criterion_group!(benches, udp);
criterion_main!(benches);
