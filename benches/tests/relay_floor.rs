//! The relay floor (`tandem_benches::relay_floor`) relays for real: over loopback UDP, on
//! both kernel backends, a datagram sent to one leg of a call comes out of the other leg,
//! byte for byte, towards the address that leg last heard from, and its counters say so.
//! Ports 31800–31819.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_benches::relay_floor::RelayFloor;
use tandem_drivers::packet::PortRange;
use tandem_drivers::packet::kernel::IoKind;
use tandem_drivers::packet::udp::UdpConfig;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn peer() -> UdpSocket {
    let socket = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    socket
}

/// Sends `payload` from `from` to `to` every 10 ms until `into` receives something (at most
/// 5 s); returns what it received and from where.
fn relay_once(
    from: &UdpSocket,
    to: SocketAddr,
    into: &UdpSocket,
    payload: &[u8],
) -> Option<(Vec<u8>, SocketAddr)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        from.send_to(payload, to).unwrap();
        if let Ok((n, source)) = into.recv_from(&mut buf) {
            return Some((buf[..n].to_vec(), source));
        }
    }
    None
}

fn relays_between_the_legs_of_a_call(kind: IoKind, ports: PortRange) {
    let floor = RelayFloor::start(kind, UdpConfig::new(LOOPBACK, ports), 2, None)
        .expect("the floor starts");
    assert_eq!(floor.legs.len(), 4, "two calls, two legs each");
    let (alice, bob) = (peer(), peer());
    let (a_leg, b_leg) = (floor.legs[2], floor.legs[3]);

    // Bob speaks first: the B leg learns him, but the A leg knows nobody to send to yet.
    bob.send_to(b"hello?", b_leg).unwrap();
    // Alice's packets to the A leg come out of the B leg, towards Bob.
    let (got, source) = relay_once(&alice, a_leg, &bob, b"from alice").expect("relayed to bob");
    assert_eq!(got, b"from alice");
    assert_eq!(source, b_leg, "sent from the other leg of the call");
    // And back: the A leg has learned Alice.
    let (got, source) = relay_once(&bob, b_leg, &alice, b"from bob").expect("relayed to alice");
    assert_eq!(got, b"from bob");
    assert_eq!(source, a_leg);

    // Counters are published at the end of each tick: read them once the loop has stopped.
    let counters = Arc::clone(&floor.counters);
    floor.stop();
    let counted = counters.snapshot();
    assert!(counted.rx_packets >= 3, "{counted:?}");
    assert!(counted.tx_packets >= 2, "{counted:?}");
    assert!(counted.ticks > 0 && counted.cost_buckets.iter().sum::<u64>() == counted.ticks);
}

#[test]
fn the_udp_floor_relays_between_the_legs_of_a_call() {
    relays_between_the_legs_of_a_call(IoKind::Udp, PortRange::new(31800, 31809).unwrap());
}

#[test]
fn the_io_uring_floor_relays_between_the_legs_of_a_call() {
    relays_between_the_legs_of_a_call(IoKind::Uring, PortRange::new(31810, 31819).unwrap());
}
