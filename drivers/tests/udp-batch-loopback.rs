//! Two UDP backends on loopback exchange batches over IPv4, IPv6 and dual-stack sockets, and
//! the receiver reports each datagram with its payload, source, destination and socket.
//!
//! Ports 31200–31399 (below the kernel's ephemeral range and outside the default media
//! range), one disjoint block per test.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

use tandem_drivers::packet::udp::{UdpConfig, UdpIo};
use tandem_drivers::packet::{
    MAX_BATCH, MAX_READY_SOCKETS, PACKET_BUF_BYTES, PacketBuf, PacketIo, PortPair, PortRange,
    RecvMeta, Timestamp, Transmit,
};

fn backend(ip: IpAddr, min: u16, max: u16) -> UdpIo {
    UdpIo::new(UdpConfig::new(ip, PortRange::new(min, max).unwrap())).unwrap()
}

/// Receives until `want` datagrams arrived, for at most ~2 s of polling.
fn recv_n(io: &mut UdpIo, want: usize, bufs: &mut [PacketBuf], meta: &mut [RecvMeta]) -> usize {
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

fn rtp_like(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78]);
    p.extend(std::iter::repeat_n(0xff, 160));
    p
}

fn exchange(sender_ip: IpAddr, receiver_ip: IpAddr, destination_ip: IpAddr, base: u16) {
    let mut a = backend(sender_ip, base, base + 9);
    let mut b = backend(receiver_ip, base + 10, base + 19);
    let pa: PortPair = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let to_rtp = SocketAddr::new(destination_ip, pb.rtp_port);
    let to_rtcp = SocketAddr::new(destination_ip, pb.rtcp_port());
    let payloads: Vec<Vec<u8>> = (0..20).map(rtp_like).collect();
    let mut packets: Vec<Transmit<'_>> = payloads
        .iter()
        .map(|p| Transmit {
            socket: pa.rtp,
            destination: to_rtp,
            payload: p,
        })
        .collect();
    packets.push(Transmit {
        socket: pa.rtcp,
        destination: to_rtcp,
        payload: b"rtcp",
    });
    assert_eq!(a.send_batch(Timestamp::ZERO, &packets), Ok(21));
    assert_eq!(a.stats().tx_packets, 21);

    let mut bufs = PacketBuf::new_vec(64);
    let mut meta = RecvMeta::new_vec(64);
    let got = recv_n(&mut b, 21, &mut bufs, &mut meta);
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

#[test]
fn ipv4_batch_arrives_with_its_metadata() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    exchange(lo, lo, lo, 31200);
}

#[test]
fn ipv6_batch_arrives_with_its_metadata() {
    let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
    exchange(lo, lo, lo, 31220);
}

#[test]
fn dual_stack_socket_serves_ipv4_peers_as_plain_ipv4() {
    let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    // An IPv4 sender to a dual-stack receiver, and a dual-stack sender to an IPv4 receiver.
    exchange(lo4, any6, lo4, 31240);
    exchange(any6, lo4, lo4, 31260);
}

#[test]
fn one_call_drains_many_ready_sockets_within_its_bounds() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = backend(lo, 31600, 31601);
    let mut b = backend(lo, 31602, 31602 + 2 * 40 - 1);
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
    // 80 sockets are ready; one call visits at most MAX_READY_SOCKETS of them.
    let first = b.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta).unwrap();
    assert_eq!(first, MAX_READY_SOCKETS);
    // A small array bounds the work as well.
    let second = b
        .recv_batch(Timestamp::ZERO, &mut bufs[..5], &mut meta[..5])
        .unwrap();
    assert_eq!(second, 5);
    let rest = recv_n(&mut b, 80 - first - second, &mut bufs, &mut meta);
    assert_eq!(first + second + rest, 80);
}

#[test]
fn a_socket_with_more_than_a_batch_queued_is_drained_over_calls() {
    let lo = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let mut a = backend(lo, 31370, 31371);
    let mut b = backend(lo, 31372, 31373);
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let payloads: Vec<[u8; 2]> = (0..100u16).map(u16::to_be_bytes).collect();
    let to = b.local_addr(pb.rtp).unwrap();
    let packets: Vec<_> = payloads
        .iter()
        .map(|p| Transmit {
            socket: pa.rtp,
            destination: to,
            payload: p,
        })
        .collect();
    assert_eq!(a.send_batch(Timestamp::ZERO, &packets), Ok(100));
    let mut bufs = PacketBuf::new_vec(128);
    let mut meta = RecvMeta::new_vec(128);
    std::thread::sleep(Duration::from_millis(20));
    let first = b.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta).unwrap();
    assert_eq!(first, MAX_BATCH, "one recvmmsg per ready socket per call");
    let got = first + recv_n(&mut b, 100 - first, &mut bufs[first..], &mut meta[first..]);
    assert_eq!(got, 100);
    for (i, m) in meta[..got].iter().enumerate() {
        assert_eq!(bufs[i].payload(m.len), (i as u16).to_be_bytes());
    }
}

#[test]
fn oversized_datagrams_are_flagged_truncated() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = backend(lo, 31300, 31301);
    let mut b = backend(lo, 31302, 31303);
    let pa = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let big = vec![7u8; PACKET_BUF_BYTES + 100];
    let t = Transmit {
        socket: pa.rtp,
        destination: b.local_addr(pb.rtp).unwrap(),
        payload: &big,
    };
    assert_eq!(a.send_batch(Timestamp::ZERO, &[t]), Ok(1));
    let mut bufs = PacketBuf::new_vec(1);
    let mut meta = RecvMeta::new_vec(1);
    assert_eq!(recv_n(&mut b, 1, &mut bufs, &mut meta), 1);
    assert!(meta[0].truncated);
    assert_eq!(meta[0].len, PACKET_BUF_BYTES);
    assert_eq!(b.stats().rx_truncated, 1);
}

#[test]
fn kernel_receive_timestamps_are_unix_time() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut a = backend(lo, 31310, 31311);
    let mut config = UdpConfig::new(lo, PortRange::new(31312, 31313).unwrap());
    config.rx_timestamps = true;
    config.dscp = Some(46);
    let mut b = UdpIo::new(config).unwrap();
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
    assert_eq!(recv_n(&mut b, 3, &mut bufs, &mut meta), 3);
    let after = Timestamp::from_system_time(SystemTime::now());
    for m in &meta[..3] {
        let ts = m.timestamp.expect("SO_TIMESTAMPNS");
        // Between the two wall-clock readings, with a second of slack for clock steps.
        assert!(before.saturating_duration_since(ts) < Duration::from_secs(1));
        assert!(ts.saturating_duration_since(after) < Duration::from_secs(1));
    }
}

#[test]
fn port_range_exhaustion_and_release_on_real_sockets() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut io = backend(lo, 31320, 31329);
    let pairs: Vec<_> = (0..5).map(|_| io.open_pair().unwrap()).collect();
    assert!(io.open_pair().is_err());
    assert_eq!(io.pairs_open(), 5);
    // Closed ports can be bound by anyone again.
    io.close_pair(pairs[2]).unwrap();
    drop(std::net::UdpSocket::bind(SocketAddr::new(lo, pairs[2].rtp_port)).unwrap());
    assert_eq!(io.open_pair().unwrap().rtp_port, pairs[2].rtp_port);
}

#[test]
fn backend_is_built_on_its_worker_thread() {
    let config = UdpConfig::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        PortRange::new(31330, 31339).unwrap(),
    );
    let handle = std::thread::spawn(move || {
        let mut io = UdpIo::new(config).unwrap();
        io.open_pair().unwrap().rtp_port
    });
    assert_eq!(handle.join().unwrap(), 31330);
}
