//! The real-time contract, checked: once built and warmed up, `recv_batch` and `send_batch`
//! of every backend and wrapper allocate nothing.
//!
//! A counting global allocator wraps the system one and counts calls made on the current
//! thread; each test fails on any allocation while its steady-state loop runs. Real sockets
//! use ports 31400–31499 on loopback.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tandem_drivers::packet::fault::{FaultConfig, Faulty, Impairment, Loss};
use tandem_drivers::packet::loopback::{LoopbackConfig, LoopbackNet};
use tandem_drivers::packet::pcap::{
    Capture, MIN_BUFFER_BYTES, Pacing, PcapReplay, PcapWriter, ReplayConfig,
};
use tandem_drivers::packet::udp::{UdpConfig, UdpIo};
use tandem_drivers::packet::uring::{UringConfig, UringIo};
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortPair, PortRange, RecvMeta, Timestamp, Transmit,
};
use tandem_test_support::alloc::{Counting, CountingAllocator, counter_is_installed};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const ROUNDS: usize = 500;

#[test]
fn the_counter_sees_allocations() {
    assert!(counter_is_installed());
}

/// Sends `MAX_BATCH` datagrams from `a` to `b` and receives them all (bounded retries), per
/// round; returns the datagrams received.
fn ping<A: PacketIo, B: PacketIo>(
    a: &mut A,
    b: &mut B,
    (from, to): (PortPair, SocketAddr),
    rounds: usize,
    start_ms: u64,
    bufs: &mut [PacketBuf],
    meta: &mut [RecvMeta],
) -> usize {
    let payload = [0x80u8; 172];
    let packets = [Transmit {
        socket: from.rtp,
        destination: to,
        payload: &payload,
    }; MAX_BATCH];
    let mut received = 0;
    for round in 0..rounds {
        let now = Timestamp::from_millis(start_ms + round as u64);
        a.send_batch(now, &packets).unwrap();
        let mut got = 0;
        for _ in 0..10_000 {
            got += b.recv_batch(now, bufs, meta).unwrap();
            if got >= MAX_BATCH {
                break;
            }
            std::thread::yield_now();
        }
        received += got;
    }
    received
}

fn udp_steady_state(ip: IpAddr, base: u16, rx_timestamps: bool) {
    let mut a = UdpIo::new(UdpConfig::new(ip, PortRange::new(base, base + 1).unwrap())).unwrap();
    let mut config = UdpConfig::new(ip, PortRange::new(base + 2, base + 3).unwrap());
    config.rx_timestamps = rx_timestamps;
    config.recv_buffer_bytes = Some(1 << 20);
    let mut b = UdpIo::new(config).unwrap();
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let to = b.local_addr(pb.rtp).unwrap();
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    ping(&mut a, &mut b, (pa, to), 10, 0, &mut bufs, &mut meta);

    let window = Counting::start();
    let received = ping(&mut a, &mut b, (pa, to), ROUNDS, 10, &mut bufs, &mut meta);
    assert_eq!(window.finish().count, 0, "UDP batches allocated");
    assert_eq!(received, ROUNDS * MAX_BATCH, "loopback lost datagrams");
    assert_eq!(meta[0].timestamp.is_some(), rx_timestamps);
}

#[test]
fn udp_ipv4_batches_allocate_nothing() {
    udp_steady_state(IpAddr::V4(Ipv4Addr::LOCALHOST), 31400, false);
}

#[test]
fn udp_ipv6_batches_with_kernel_timestamps_allocate_nothing() {
    udp_steady_state(IpAddr::V6(Ipv6Addr::LOCALHOST), 31410, true);
}

#[test]
fn udp_send_errors_and_idle_polls_allocate_nothing() {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = UdpIo::new(UdpConfig::new(ip, PortRange::new(31420, 31421).unwrap())).unwrap();
    let pa = a.open_pair().unwrap();
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9);
    let bad = [
        Transmit {
            socket: pa.rtp,
            destination: v6,
            payload: b"x",
        },
        Transmit {
            socket: tandem_drivers::packet::SocketId::new(99),
            destination: v6,
            payload: b"x",
        },
    ];
    a.send_batch(Timestamp::ZERO, &bad).unwrap();
    a.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta).unwrap();
    let window = Counting::start();
    for _ in 0..ROUNDS {
        assert_eq!(a.send_batch(Timestamp::ZERO, &bad), Ok(0));
        assert_eq!(a.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta), Ok(0));
    }
    assert_eq!(window.finish().count, 0);
}

fn uring_steady_state(ip: IpAddr, base: u16, rx_timestamps: bool) {
    let config = |min: u16| UringConfig {
        recv_buffers: 256,
        send_slots: 64,
        ..UringConfig::new(ip, PortRange::new(min, min + 1).unwrap())
    };
    // A small slab, so the sender (which never receives) reclaims slots over and over.
    let mut a = UringIo::new(config(base)).unwrap();
    let mut receiver = config(base + 2);
    receiver.socket.rx_timestamps = rx_timestamps;
    receiver.socket.recv_buffer_bytes = Some(1 << 20);
    let mut b = UringIo::new(receiver).unwrap();
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let to = b.local_addr(pb.rtp).unwrap();
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    ping(&mut a, &mut b, (pa, to), 10, 0, &mut bufs, &mut meta);

    let window = Counting::start();
    let received = ping(&mut a, &mut b, (pa, to), ROUNDS, 10, &mut bufs, &mut meta);
    // The worker's pattern too: queue in several batches, one flush.
    let payload = [0x80u8; 172];
    let packets = [Transmit {
        socket: pa.rtp,
        destination: to,
        payload: &payload,
    }; 8];
    for _ in 0..ROUNDS {
        a.queue_batch(Timestamp::ZERO, &packets).unwrap();
        a.queue_batch(Timestamp::ZERO, &packets).unwrap();
        a.flush(Timestamp::ZERO).unwrap();
        b.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta).unwrap();
    }
    assert_eq!(window.finish().count, 0, "io_uring batches allocated");
    assert_eq!(received, ROUNDS * MAX_BATCH, "loopback lost datagrams");
    assert_eq!(meta[0].timestamp.is_some(), rx_timestamps);
    assert!(a.uring_stats().stashed == 0 || a.uring_stats().enters > 0);
    assert_eq!(a.stats().tx_dropped, 0);
}

#[test]
fn uring_ipv4_batches_allocate_nothing() {
    uring_steady_state(IpAddr::V4(Ipv4Addr::LOCALHOST), 29400, false);
}

#[test]
fn uring_ipv6_batches_with_kernel_timestamps_allocate_nothing() {
    uring_steady_state(IpAddr::V6(Ipv6Addr::LOCALHOST), 29410, true);
}

#[test]
fn uring_send_errors_and_idle_polls_allocate_nothing() {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = UringIo::new(UringConfig::new(ip, PortRange::new(29420, 29421).unwrap())).unwrap();
    let pa = a.open_pair().unwrap();
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9);
    let bad = [
        Transmit {
            socket: pa.rtp,
            destination: v6,
            payload: b"x",
        },
        Transmit {
            socket: tandem_drivers::packet::SocketId::new(99),
            destination: v6,
            payload: b"x",
        },
    ];
    a.send_batch(Timestamp::ZERO, &bad).unwrap();
    a.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta).unwrap();
    let enters = a.uring_stats().enters;
    let window = Counting::start();
    for _ in 0..ROUNDS {
        assert_eq!(a.send_batch(Timestamp::ZERO, &bad), Ok(0));
        assert_eq!(a.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta), Ok(0));
    }
    assert_eq!(window.finish().count, 0);
    assert_eq!(
        a.uring_stats().enters,
        enters + ROUNDS as u64,
        "one enter per idle poll; a batch of refused packets makes none"
    );
}

#[test]
fn capture_over_udp_allocates_nothing_between_flushes() {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = UdpIo::new(UdpConfig::new(ip, PortRange::new(31430, 31431).unwrap())).unwrap();
    let b = UdpIo::new(UdpConfig::new(ip, PortRange::new(31432, 31433).unwrap())).unwrap();
    // A small buffer, so the loop below flushes into the sink many times.
    let writer = PcapWriter::new(std::io::sink(), MIN_BUFFER_BYTES * 4).unwrap();
    let mut b = Capture::new(b, writer);
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let to = b.local_addr(pb.rtp).unwrap();
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    ping(&mut a, &mut b, (pa, to), 10, 0, &mut bufs, &mut meta);
    let flushes = b.writer().stats().flushes;

    let window = Counting::start();
    let received = ping(&mut a, &mut b, (pa, to), ROUNDS, 10, &mut bufs, &mut meta);
    assert_eq!(window.finish().count, 0, "capture allocated");
    assert_eq!(received, ROUNDS * MAX_BATCH);
    assert!(b.writer().stats().flushes > flushes + 10);
}

#[test]
fn faulty_loopback_allocates_nothing() {
    let net = LoopbackNet::new();
    let mut a = net
        .endpoint(LoopbackConfig::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            PortRange::new(1000, 1009).unwrap(),
        ))
        .unwrap();
    let b = net
        .endpoint(LoopbackConfig::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            PortRange::new(2000, 2009).unwrap(),
        ))
        .unwrap();
    let impairment = Impairment {
        loss: Loss::GilbertElliott {
            p: 0.05,
            r: 0.3,
            loss_good: 0.0,
            loss_bad: 0.8,
        },
        duplicate: 0.02,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(3),
        delay: Duration::from_millis(2),
        jitter: Duration::from_millis(5),
    };
    let config = FaultConfig {
        rx: impairment,
        tx: impairment,
        ..FaultConfig::new(1)
    };
    let mut b = Faulty::new(b, config).unwrap();
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let to = b.local_addr(pb.rtp).unwrap();
    let back = a.local_addr(pa.rtp).unwrap();
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    let payload = [1u8; 172];
    let packets = [Transmit {
        socket: pa.rtp,
        destination: to,
        payload: &payload,
    }; 8];
    let replies = [Transmit {
        socket: pb.rtp,
        destination: back,
        payload: &payload,
    }; 8];
    let mut round = |t: u64, bufs: &mut [PacketBuf], meta: &mut [RecvMeta]| {
        let now = Timestamp::from_millis(t);
        a.send_batch(now, &packets).unwrap();
        b.recv_batch(now, bufs, meta).unwrap();
        b.send_batch(now, &replies).unwrap();
        a.recv_batch(now, bufs, meta).unwrap();
    };
    for t in 0..50 {
        round(t, &mut bufs, &mut meta);
    }
    let window = Counting::start();
    for t in 50..50 + ROUNDS as u64 {
        round(t, &mut bufs, &mut meta);
    }
    assert_eq!(
        window.finish().count,
        0,
        "fault wrapper or loopback allocated"
    );
    assert!(b.fault_stats().rx.lost > 0 && b.fault_stats().tx.released > 0);
}

#[test]
fn replay_allocates_nothing() {
    let mut writer = PcapWriter::new(Vec::new(), 1 << 20).unwrap();
    let s: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let d: SocketAddr = "192.0.2.2:5000".parse().unwrap();
    for i in 0..2_000u64 {
        writer.write_udp(Timestamp::from_millis(20 * i), s, d, &[0x80; 172]);
    }
    writer.flush().unwrap();
    let bytes = writer.sink().clone();
    let mut replay = PcapReplay::from_bytes(
        bytes,
        ReplayConfig {
            ports: PortRange::new(5000, 5001).unwrap(),
            pacing: Pacing::Recorded,
        },
    )
    .unwrap();
    replay.open_pair().unwrap();
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    replay
        .recv_batch(Timestamp::ZERO, &mut bufs, &mut meta)
        .unwrap();
    let window = Counting::start();
    let mut got = 1;
    for tick in 1..=4_000u64 {
        got += replay
            .recv_batch(Timestamp::from_millis(10 * tick), &mut bufs, &mut meta)
            .unwrap();
    }
    assert_eq!(window.finish().count, 0);
    assert_eq!(got, 2_000);
}
