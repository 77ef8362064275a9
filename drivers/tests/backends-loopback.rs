//! Two backends of one kind (UDP batch, io_uring) on loopback exchange batches over IPv4,
//! IPv6 and dual-stack sockets, and the receiver reports each datagram with its payload,
//! source, destination and socket. Every test runs against both kinds: they must behave the
//! same (pairs, families, batch bounds, truncation, timestamps, closing, statistics).
//!
//! Ports 31200–31399 and 31600–31699 for UDP, the same minus 2000 (29200–29399,
//! 29600–29699) for io_uring; below the kernel's ephemeral range and outside the default
//! media range, one disjoint block per test.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use tandem_drivers::packet::udp::{UdpConfig, UdpIo};
use tandem_drivers::packet::uring::{UringConfig, UringIo};
use tandem_drivers::packet::{
    MAX_BATCH, MAX_READY_SOCKETS, PACKET_BUF_BYTES, PacketBuf, PacketIo, PortPair, PortRange,
    RecvMeta, SocketId, Timestamp, Transmit,
};

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Udp,
    Uring,
}

impl Kind {
    /// The port offset of this kind's copy of a test.
    fn port(self, base: u16) -> u16 {
        match self {
            Kind::Udp => base,
            Kind::Uring => base - 2000,
        }
    }
}

fn backend_with(kind: Kind, config: UdpConfig) -> Box<dyn PacketIo> {
    match kind {
        Kind::Udp => Box::new(UdpIo::new(config).unwrap()),
        Kind::Uring => Box::new(UringIo::new(UringConfig::from_udp(config)).unwrap()),
    }
}

fn backend(kind: Kind, ip: IpAddr, min: u16, max: u16) -> Box<dyn PacketIo> {
    let (min, max) = (kind.port(min), kind.port(max));
    backend_with(kind, UdpConfig::new(ip, PortRange::new(min, max).unwrap()))
}

/// Runs `$body(kind)` as one test per backend kind.
macro_rules! both {
    ($($name:ident => $body:expr;)*) => {
        mod udp {
            use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
            $(#[test] fn $name() { ($body)(super::Kind::Udp) })*
        }
        mod uring {
            use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
            $(#[test] fn $name() { ($body)(super::Kind::Uring) })*
        }
    };
}

/// Receives until `want` datagrams arrived, for at most ~2 s of polling.
fn recv_n(
    io: &mut dyn PacketIo,
    want: usize,
    bufs: &mut [PacketBuf],
    meta: &mut [RecvMeta],
) -> usize {
    let mut got = 0;
    for _ in 0..2_000 {
        got += io
            .recv_batch(Timestamp::ZERO, &mut bufs[got..], &mut meta[got..])
            .unwrap();
        if got >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    got
}

/// One datagram per payload, all from `socket` to `destination`.
fn transmits<'a, P: AsRef<[u8]>>(
    socket: SocketId,
    destination: SocketAddr,
    payloads: &'a [P],
) -> Vec<Transmit<'a>> {
    payloads
        .iter()
        .map(|p| Transmit {
            socket,
            destination,
            payload: p.as_ref(),
        })
        .collect()
}

fn rtp_like(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78]);
    p.extend(std::iter::repeat_n(0xff, 160));
    p
}

fn exchange(kind: Kind, sender_ip: IpAddr, receiver_ip: IpAddr, destination_ip: IpAddr, base: u16) {
    let mut a = backend(kind, sender_ip, base, base + 9);
    let mut b = backend(kind, receiver_ip, base + 10, base + 19);
    let pa: PortPair = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let to_rtp = SocketAddr::new(destination_ip, pb.rtp_port);
    let to_rtcp = SocketAddr::new(destination_ip, pb.rtcp_port());
    let payloads: Vec<Vec<u8>> = (0..20).map(rtp_like).collect();
    let mut packets = transmits(pa.rtp, to_rtp, &payloads);
    packets.push(Transmit {
        socket: pa.rtcp,
        destination: to_rtcp,
        payload: b"rtcp",
    });
    assert_eq!(a.send_batch(Timestamp::ZERO, &packets), Ok(21));
    assert_eq!(a.stats().tx_packets, 21);

    let mut bufs = PacketBuf::new_vec(64);
    let mut meta = RecvMeta::new_vec(64);
    let got = recv_n(&mut *b, 21, &mut bufs, &mut meta);
    assert_eq!(got, 21);
    let sender_rtp = SocketAddr::new(destination_of(sender_ip, destination_ip), pa.rtp_port);
    let mut rtp = Vec::new();
    for i in 0..got {
        let m = meta[i];
        assert!(!m.truncated);
        assert_eq!(m.timestamp, None, "timestamps are off by default");
        if m.socket == pb.rtcp {
            assert_eq!(bufs[i].payload(m.len), b"rtcp");
            assert_eq!(m.source.port(), pa.rtcp_port());
            assert_eq!(m.destination, b.local_addr(pb.rtcp).unwrap());
        } else {
            assert_eq!(m.socket, pb.rtp);
            assert_eq!(m.source, sender_rtp);
            assert_eq!(m.destination, b.local_addr(pb.rtp).unwrap());
            rtp.push(bufs[i].payload(m.len).to_vec());
        }
    }
    assert_eq!(rtp, payloads, "every RTP datagram, in order");
    assert_eq!(b.stats().rx_packets, 21);
}

/// What the receiver sees as the sender's address: the sender's bind address, or the
/// loopback address of the destination's family when the sender is bound to a wildcard.
fn destination_of(sender_ip: IpAddr, destination_ip: IpAddr) -> IpAddr {
    if sender_ip.is_unspecified() {
        destination_ip
    } else {
        sender_ip
    }
}

/// One sender's batch to many sockets: every datagram arrives, and one call never returns
/// more than the caller's arrays (nor, on UDP, more than one `recvmmsg` per ready socket for
/// at most `MAX_READY_SOCKETS` sockets).
fn many_ready_sockets(kind: Kind) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = backend(kind, lo, 31600, 31601);
    let mut b = backend(kind, lo, 31602, 31602 + 2 * 40 - 1);
    let pa = a.open_pair().unwrap();
    let pairs: Vec<PortPair> = (0..40).map(|_| b.open_pair().unwrap()).collect();
    let packets: Vec<Transmit<'_>> = pairs
        .iter()
        .flat_map(|p| {
            [p.rtp_port, p.rtcp_port()].map(|port| Transmit {
                socket: pa.rtp,
                destination: SocketAddr::new(lo, port),
                payload: b"x",
            })
        })
        .collect();
    assert_eq!(a.send_batch(Timestamp::ZERO, &packets), Ok(80));
    std::thread::sleep(Duration::from_millis(20));
    let mut bufs = PacketBuf::new_vec(128);
    let mut meta = RecvMeta::new_vec(128);
    let first = b.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta).unwrap();
    match kind {
        // 80 sockets are ready; one call visits at most MAX_READY_SOCKETS of them.
        Kind::Udp => assert_eq!(first, MAX_READY_SOCKETS),
        // One ring carries every socket: one call delivers all that arrived.
        Kind::Uring => assert_eq!(first, 80),
    }
    let more = recv_n(&mut *b, 80 - first, &mut bufs, &mut meta);
    assert_eq!(first + more, 80);
    // Again, with a small array: it bounds the work of one call.
    assert_eq!(a.send_batch(Timestamp::ZERO, &packets), Ok(80));
    std::thread::sleep(Duration::from_millis(20));
    let second = b
        .recv_batch(Timestamp::ZERO, &mut bufs[..5], &mut meta[..5])
        .unwrap();
    assert_eq!(second, 5);
    let rest = recv_n(&mut *b, 75, &mut bufs, &mut meta);
    assert_eq!(second + rest, 80);
    let mut sockets: Vec<_> = meta[..rest].iter().map(|m| m.socket).collect();
    sockets.sort();
    sockets.dedup();
    assert_eq!(sockets.len(), rest, "one datagram per socket");
    assert_eq!(b.stats().rx_packets, 160);
}

/// A socket flooded with 200 datagrams (fewer than a default receive buffer holds) does not
/// hold back ten sockets with one each: with the caller's arrays one batch long, all ten
/// arrive within the first three calls, and the flood itself is delivered whole, in order,
/// without another datagram to announce it (the UDP backend's epoll is edge-triggered).
fn flooded_socket_does_not_starve_the_others(kind: Kind) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = backend(kind, lo, 31380, 31381);
    let mut b = backend(kind, lo, 31382, 31395);
    let pa = a.open_pair().unwrap();
    let pairs: Vec<PortPair> = (0..6).map(|_| b.open_pair().unwrap()).collect();
    let flooded = b.local_addr(pairs[0].rtp).unwrap();
    let singles: Vec<SocketAddr> = pairs[1..]
        .iter()
        .flat_map(|p| [p.rtp, p.rtcp])
        .map(|s| b.local_addr(s).unwrap())
        .take(10)
        .collect();
    let payloads: Vec<[u8; 2]> = (0..200u16).map(u16::to_be_bytes).collect();
    let send = |a: &mut Box<dyn PacketIo>, to: SocketAddr, payload: &[u8]| {
        let t = Transmit {
            socket: pa.rtp,
            destination: to,
            payload,
        };
        assert_eq!(a.send_batch(Timestamp::ZERO, &[t]), Ok(1));
    };
    // The flood first, so that it is the first socket reported.
    for p in &payloads {
        send(&mut a, flooded, p);
    }
    for to in &singles {
        send(&mut a, *to, b"single");
    }
    std::thread::sleep(Duration::from_millis(20));
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    let (mut singles_seen, mut flood) = (0, Vec::new());
    for call in 0..200 {
        let n = b.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta).unwrap();
        for (buf, m) in bufs.iter().zip(&meta).take(n) {
            if m.destination == flooded {
                flood.push(u16::from_be_bytes([
                    buf.payload(m.len)[0],
                    buf.payload(m.len)[1],
                ]));
            } else {
                assert_eq!(buf.payload(m.len), b"single");
                singles_seen += 1;
            }
        }
        if call == 2 {
            assert_eq!(singles_seen, 10, "every single datagram within three calls");
        }
        if flood.len() == payloads.len() {
            break;
        }
        if n == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(
        flood,
        (0..200).collect::<Vec<u16>>(),
        "the whole flood, in order"
    );
}

/// 100 datagrams queued on one socket are delivered over several calls, in order.
fn long_queue_on_one_socket(kind: Kind) {
    let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let mut a = backend(kind, lo, 31370, 31371);
    let mut b = backend(kind, lo, 31372, 31373);
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let payloads: Vec<[u8; 2]> = (0..100u16).map(u16::to_be_bytes).collect();
    let to = b.local_addr(pb.rtp).unwrap();
    let packets = transmits(pa.rtp, to, &payloads);
    assert_eq!(a.send_batch(Timestamp::ZERO, &packets), Ok(100));
    let mut bufs = PacketBuf::new_vec(128);
    let mut meta = RecvMeta::new_vec(128);
    std::thread::sleep(Duration::from_millis(20));
    let first = b
        .recv_batch(
            Timestamp::ZERO,
            &mut bufs[..MAX_BATCH],
            &mut meta[..MAX_BATCH],
        )
        .unwrap();
    assert_eq!(first, MAX_BATCH, "bounded by the caller's arrays");
    let got = first + recv_n(&mut *b, 100 - first, &mut bufs[first..], &mut meta[first..]);
    assert_eq!(got, 100);
    for (i, m) in meta[..got].iter().enumerate() {
        assert_eq!(bufs[i].payload(m.len), (i as u16).to_be_bytes());
    }
}

fn oversized_truncated(kind: Kind) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = backend(kind, lo, 31300, 31301);
    let mut b = backend(kind, lo, 31302, 31303);
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let big = vec![7u8; PACKET_BUF_BYTES + 100];
    let t = Transmit {
        socket: pa.rtp,
        destination: b.local_addr(pb.rtp).unwrap(),
        payload: &big,
    };
    assert_eq!(a.send_batch(Timestamp::ZERO, &[t]), Ok(1));
    assert_eq!(a.stats().tx_bytes, big.len() as u64);
    let mut bufs = PacketBuf::new_vec(1);
    let mut meta = RecvMeta::new_vec(1);
    assert_eq!(recv_n(&mut *b, 1, &mut bufs, &mut meta), 1);
    assert!(meta[0].truncated);
    assert_eq!(meta[0].len, PACKET_BUF_BYTES);
    assert_eq!(b.stats().rx_truncated, 1);
}

fn timestamps(kind: Kind) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = backend(kind, lo, 31310, 31311);
    let mut config = UdpConfig::new(
        lo,
        PortRange::new(kind.port(31312), kind.port(31313)).unwrap(),
    );
    config.rx_timestamps = true;
    config.dscp = Some(46);
    let mut b = backend_with(kind, config);
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let before = Timestamp::from_system_time(SystemTime::now());
    let to = b.local_addr(pb.rtp).unwrap();
    for _ in 0..3 {
        let t = Transmit {
            socket: pa.rtp,
            destination: to,
            payload: b"stamp",
        };
        assert_eq!(a.send_batch(Timestamp::ZERO, &[t]), Ok(1));
    }
    let mut bufs = PacketBuf::new_vec(4);
    let mut meta = RecvMeta::new_vec(4);
    assert_eq!(recv_n(&mut *b, 3, &mut bufs, &mut meta), 3);
    let after = Timestamp::from_system_time(SystemTime::now());
    for (m, buf) in meta[..3].iter().zip(&bufs) {
        assert_eq!(buf.payload(m.len), b"stamp");
        let ts = m.timestamp.expect("SO_TIMESTAMPNS");
        // Between the two wall-clock readings, with a second of slack for clock steps.
        assert!(before.saturating_duration_since(ts) < Duration::from_secs(1));
        assert!(ts.saturating_duration_since(after) < Duration::from_secs(1));
    }
}

fn exhaustion_and_release(kind: Kind) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut io = backend(kind, lo, 31320, 31329);
    let pairs: Vec<_> = (0..5).map(|_| io.open_pair().unwrap()).collect();
    assert!(io.open_pair().is_err());
    // Closed ports can be bound by anyone again.
    io.close_pair(pairs[2]).unwrap();
    assert!(io.close_pair(pairs[2]).is_err(), "closed twice");
    assert_eq!(io.local_addr(pairs[2].rtp), None);
    drop(std::net::UdpSocket::bind(SocketAddr::new(lo, pairs[2].rtp_port)).unwrap());
    assert_eq!(io.open_pair().unwrap().rtp_port, pairs[2].rtp_port);
}

/// Datagrams that reached a pair but were not yet received are gone with it: a pair opened
/// again on the same ports starts empty, and still receives what comes next.
fn close_discards_queued(kind: Kind) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = backend(kind, lo, 31340, 31341);
    let mut b = backend(kind, lo, 31342, 31343);
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let to = b.local_addr(pb.rtp).unwrap();
    let old = Transmit {
        socket: pa.rtp,
        destination: to,
        payload: b"old",
    };
    assert_eq!(a.send_batch(Timestamp::ZERO, &[old; 5]), Ok(5));
    std::thread::sleep(Duration::from_millis(20));
    b.close_pair(pb).unwrap();
    let reopened = b.open_pair().unwrap();
    assert_eq!(reopened, pb, "the only pair of the range, same ids");
    let mut bufs = PacketBuf::new_vec(8);
    let mut meta = RecvMeta::new_vec(8);
    for _ in 0..20 {
        assert_eq!(b.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta), Ok(0));
        std::thread::sleep(Duration::from_millis(1));
    }
    let new = Transmit {
        payload: b"new",
        ..old
    };
    assert_eq!(a.send_batch(Timestamp::ZERO, &[new]), Ok(1));
    assert_eq!(recv_n(&mut *b, 1, &mut bufs, &mut meta), 1);
    assert_eq!(bufs[0].payload(meta[0].len), b"new");
    assert_eq!(b.stats().rx_packets, 1);
}

fn send_errors_are_counted(kind: Kind) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut io = backend(kind, lo, 31350, 31351);
    let pair = io.open_pair().unwrap();
    let v6_dest = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 9);
    let packets = [
        Transmit {
            socket: tandem_drivers::packet::SocketId::new(7),
            destination: "127.0.0.1:9".parse().unwrap(),
            payload: b"x",
        },
        Transmit {
            socket: pair.rtp,
            destination: v6_dest,
            payload: b"y",
        },
    ];
    assert_eq!(io.send_batch(Timestamp::ZERO, &packets), Ok(0));
    let stats = io.stats();
    assert_eq!((stats.tx_packets, stats.tx_dropped), (0, 2));
    assert_eq!(
        stats.last_error,
        Some(tandem_drivers::IoError::AddressFamily {
            socket: pair.rtp.get()
        })
    );
}

fn built_on_worker_thread(kind: Kind) {
    let config = UdpConfig::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        PortRange::new(kind.port(31330), kind.port(31339)).unwrap(),
    );
    let handle = std::thread::spawn(move || {
        let mut io = backend_with(kind, config);
        io.open_pair().unwrap().rtp_port
    });
    assert_eq!(handle.join().unwrap(), kind.port(31330));
}

/// io_uring: a burst far larger than the receive pool is delivered whole and in order. The
/// pool fills, the multishot receive ends (`ENOBUFS`), and is armed again with the rest still
/// queued on the socket.
#[test]
fn uring_a_burst_larger_than_the_receive_pool_arrives_whole() {
    let lo = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let mut a = backend(Kind::Udp, lo, 31460, 31461);
    let mut config =
        UringConfig::from_udp(UdpConfig::new(lo, PortRange::new(29462, 29463).unwrap()));
    config.recv_buffers = 8;
    let mut b = UringIo::new(config).unwrap();
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let to = b.local_addr(pb.rtp).unwrap();
    let payloads: Vec<Vec<u8>> = (0..200u16).map(rtp_like).collect();
    let packets = transmits(pa.rtp, to, &payloads);
    assert_eq!(a.send_batch(Timestamp::ZERO, &packets), Ok(200));
    std::thread::sleep(Duration::from_millis(20));
    let mut bufs = PacketBuf::new_vec(200);
    let mut meta = RecvMeta::new_vec(200);
    let mut got = 0;
    for _ in 0..2_000 {
        let end = (got + MAX_BATCH).min(200);
        got += b
            .recv_batch(Timestamp::ZERO, &mut bufs[got..end], &mut meta[got..end])
            .unwrap();
        if got == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(got, 200, "{:?}", b.stats());
    for (i, m) in meta.iter().enumerate() {
        assert_eq!(bufs[i].payload(m.len), &payloads[i][..], "datagram {i}");
    }
    assert!(
        b.stats().rx_no_buffers > 0,
        "the pool ran dry: {:?}",
        b.stats()
    );
}

both! {
    ipv4_batch_arrives_with_its_metadata => |kind| {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        super::exchange(kind, lo, lo, lo, 31200);
    };
    ipv6_batch_arrives_with_its_metadata => |kind| {
        let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
        super::exchange(kind, lo, lo, lo, 31220);
    };
    dual_stack_socket_serves_ipv4_peers_as_plain_ipv4 => |kind| {
        let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        // An IPv4 sender to a dual-stack receiver, and a dual-stack sender to an IPv4 one.
        super::exchange(kind, lo4, any6, lo4, 31240);
        super::exchange(kind, any6, lo4, lo4, 31260);
    };
    one_call_drains_many_ready_sockets_within_its_bounds => super::many_ready_sockets;
    a_socket_with_more_than_a_batch_queued_is_drained_over_calls => super::long_queue_on_one_socket;
    a_flooded_socket_does_not_starve_the_others => super::flooded_socket_does_not_starve_the_others;
    oversized_datagrams_are_flagged_truncated => super::oversized_truncated;
    kernel_receive_timestamps_are_unix_time => super::timestamps;
    port_range_exhaustion_and_release_on_real_sockets => super::exhaustion_and_release;
    closing_a_pair_discards_its_queued_datagrams => super::close_discards_queued;
    send_drops_packets_for_unknown_sockets_and_foreign_families => super::send_errors_are_counted;
    backend_is_built_on_its_worker_thread => super::built_on_worker_thread;
}
