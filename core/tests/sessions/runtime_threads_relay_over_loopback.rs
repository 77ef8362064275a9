//! The threaded runtime (real worker threads, absolute-deadline ticks) over the loopback
//! network: sessions are placed on the least-loaded worker, relay media in real time, report
//! their ports; a full command ring is an error returned to the caller.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tandem_core::bus::EventKind;
use tandem_core::rtp::PayloadType;
use tandem_core::runtime::{Runtime, RuntimeConfig, RuntimeError};
use tandem_core::session::{CodecSpec, ConferenceSpec, LegId, LegSpec, SessionSpec};
use tandem_core::worker::WorkerConfig;
use tandem_drivers::packet::PortRange;
use tandem_drivers::packet::loopback::LoopbackNet;

use crate::support::{Peer, Stream, runtime_on_loopback};

const WORKER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

fn start(net: &LoopbackNet, workers: usize, command_queue: usize) -> Runtime {
    let config = RuntimeConfig {
        workers,
        pin: false,
        worker: WorkerConfig {
            command_queue,
            max_sessions: 64,
            tx_queue: 256,
            ..WorkerConfig::new(0)
        },
        ..RuntimeConfig::default()
    };
    runtime_on_loopback(net, WORKER_IP, 20000, config)
}

#[test]
fn runtime_threads_relay_over_loopback() {
    let net = LoopbackNet::new();
    let runtime = start(&net, 2, 64);
    let mut peer = Peer::new_on(&net, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 20)), 30000);
    let (sa, _) = peer.socket();
    let (_sb, peer_b) = peer.socket();
    let spec = SessionSpec::Relay {
        a: LegSpec::new(CodecSpec::PCMU),
        b: LegSpec::new(CodecSpec::PCMU).with_remote(peer_b),
    };
    let one = runtime.create_session(&spec).unwrap();
    let two = runtime.create_session(&spec).unwrap();
    assert_ne!(one.worker, two.worker, "placed on the least-loaded worker");
    assert_eq!(one.legs.len(), 2);
    assert_eq!(one.legs[0].leg, LegId::A);
    let mut stream = Stream::new(0x77, PayloadType::PCMU);
    for i in 0..20u8 {
        peer.send(0, sa, one.legs[0].rtp, &stream.packet(&[i; 160], 160));
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut got = Vec::new();
    for _ in 0..100 {
        got.extend(peer.recv_all());
        if got.len() >= 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(got.len(), 20);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.rtp().payload()[0], i as u8);
        assert_eq!(r.from, one.legs[1].rtp);
    }
    let stats = runtime.worker_stats();
    assert!(stats.iter().all(|s| s.ticks > 0 && s.sessions == 1));
    runtime.remove_session(one.id).unwrap();
    runtime.remove_session(two.id).unwrap();
    assert!(matches!(
        runtime.remove_session(one.id),
        Err(RuntimeError::UnknownSession(_))
    ));
    runtime.shutdown();
}

#[test]
fn runtime_full_command_queue_is_an_error_not_a_wait() {
    let net = LoopbackNet::new();
    let runtime = start(&net, 1, 2);
    let call = runtime
        .create_session(&SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU),
            b: LegSpec::new(CodecSpec::PCMU),
        })
        .unwrap();
    let mut full = 0;
    for _ in 0..1000 {
        match runtime.send_digits(call.id, LegId::A, "1") {
            Ok(()) => {}
            Err(RuntimeError::QueueFull { worker: 0 }) => full += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(full > 0, "a tight loop must fill a two-slot ring");
    runtime.shutdown();
}

#[test]
fn runtime_conference_legs_join_the_room_worker() {
    let net = LoopbackNet::new();
    let runtime = start(&net, 2, 64);
    let events = runtime.subscribe();
    // Load worker 0 first, so the room goes to worker 1.
    let relay = runtime
        .create_session(&SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU),
            b: LegSpec::new(CodecSpec::PCMU),
        })
        .unwrap();
    let room = runtime
        .create_session(&SessionSpec::Conference(ConferenceSpec::new(8000, 8)))
        .unwrap();
    assert_ne!(room.worker, relay.worker);
    assert!(room.legs.is_empty());
    let one = runtime
        .join(room.id, &LegSpec::new(CodecSpec::PCMU))
        .unwrap();
    let two = runtime
        .join(room.id, &LegSpec::new(CodecSpec::G722))
        .unwrap();
    assert_ne!(one.leg, two.leg);
    assert_ne!(one.rtp, two.rtp);
    // Both legs run on the room's worker.
    let stats = runtime.worker_stats();
    assert_eq!(stats[room.worker].legs, 2);
    assert!(matches!(
        runtime.join(relay.id, &LegSpec::new(CodecSpec::PCMU)),
        Err(RuntimeError::NotAConference(_))
    ));
    runtime.leave(room.id, one.leg).unwrap();
    let mut kinds = Vec::new();
    for _ in 0..100 {
        kinds.extend(events.try_iter().map(|e| (e.leg, e.kind)));
        if kinds.len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(kinds.contains(&(Some(one.leg), EventKind::Joined)));
    assert!(kinds.contains(&(Some(two.leg), EventKind::Joined)));
    assert!(kinds.contains(&(Some(one.leg), EventKind::Left)));
    // Placement load is refunded as legs leave and sessions go.
    runtime.remove_session(room.id).unwrap();
    runtime.remove_session(relay.id).unwrap();
    assert!(runtime.worker_stats().iter().all(|s| s.load == 0));
    runtime.shutdown();
}

/// The same over real UDP sockets on 127.0.0.1 (ports 32000–32099), peers on std sockets.
#[test]
fn runtime_over_udp_relays_in_real_time() {
    use std::net::UdpSocket;
    let config = RuntimeConfig {
        workers: 2,
        ports: PortRange::new(32000, 32099).unwrap(),
        worker: WorkerConfig {
            max_sessions: 16,
            tx_queue: 64,
            ..WorkerConfig::new(0)
        },
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start(config).unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    b.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let call = runtime
        .create_session(&SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU).with_remote(a.local_addr().unwrap()),
            b: LegSpec::new(CodecSpec::PCMU).with_remote(b.local_addr().unwrap()),
        })
        .unwrap();
    assert!(
        call.legs
            .iter()
            .all(|l| (32000..32100).contains(&l.rtp.port()))
    );
    let mut stream = Stream::new(0x99, PayloadType::PCMU);
    let mut buf = [0u8; 2048];
    for i in 0..10u8 {
        a.send_to(&stream.packet(&[i; 160], 160), call.legs[0].rtp)
            .unwrap();
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!(from, call.legs[1].rtp);
        assert_eq!(n, 172);
        assert_eq!(buf[12], i);
    }
    // Counters are published at the end of each tick: give the last one time to finish.
    let mut sent = 0;
    for _ in 0..50 {
        sent = runtime
            .worker_stats()
            .iter()
            .map(|s| s.tx_packets)
            .sum::<u64>();
        if sent >= 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sent >= 10, "{sent} packets counted");
    runtime.remove_session(call.id).unwrap();
    runtime.shutdown();
}

/// `Runtime::leg_report` asks the leg's worker for its statistics: packets sent in are
/// counted; an unknown leg is the worker's refusal, an unknown session the runtime's.
#[test]
fn runtime_leg_report_reads_a_legs_statistics() {
    let net = LoopbackNet::new();
    let runtime = start(&net, 1, 64);
    let mut peer = Peer::new_on(&net, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 21)), 30100);
    let (sa, _) = peer.socket();
    let call = runtime
        .create_session(&SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU),
            b: LegSpec::new(CodecSpec::PCMU),
        })
        .unwrap();
    let mut stream = Stream::new(0x42, PayloadType::PCMU);
    for i in 0..5u8 {
        peer.send(0, sa, call.legs[0].rtp, &stream.packet(&[i; 160], 160));
    }
    let mut report = runtime.leg_report(call.id, LegId::A).unwrap();
    for _ in 0..100 {
        if report.counters.rtp_accepted >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        report = runtime.leg_report(call.id, LegId::A).unwrap();
    }
    assert_eq!(report.counters.rtp_accepted, 5);
    assert!(matches!(
        runtime.leg_report(call.id, LegId(7)),
        Err(RuntimeError::Command(_))
    ));
    runtime.remove_session(call.id).unwrap();
    assert!(matches!(
        runtime.leg_report(call.id, LegId::A),
        Err(RuntimeError::UnknownSession(_))
    ));
    runtime.shutdown();
}

#[test]
fn workers_run_realtime_when_asked_and_permitted() {
    // Whether this process may use SCHED_FIFO at all (root in CI; often not on a desktop).
    let permitted = std::thread::spawn(|| {
        tandem_core::worker::priority::make_current_thread_realtime(1).is_ok()
    })
    .join()
    .unwrap();
    let net = LoopbackNet::new();
    let config = RuntimeConfig {
        workers: 2,
        pin: false,
        realtime_priority: Some(1),
        worker: WorkerConfig {
            max_sessions: 8,
            tx_queue: 64,
            ..WorkerConfig::new(0)
        },
        ..RuntimeConfig::default()
    };
    let runtime = runtime_on_loopback(&net, WORKER_IP, 24000, config);
    // Refused or not, the workers run.
    let call = runtime
        .create_session(&SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU),
            b: LegSpec::new(CodecSpec::PCMU),
        })
        .unwrap();
    runtime.remove_session(call.id).unwrap();
    assert!(
        runtime
            .worker_stats()
            .iter()
            .all(|s| s.realtime == permitted),
        "{:?}",
        runtime.worker_stats()
    );
    runtime.shutdown();
}
