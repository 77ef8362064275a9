//! `Runtime::replace_session` swaps a running session for another on the same ports: what
//! an ng `offer` then `answer` needs (ports advertised before the codecs are known). The
//! threaded runtime over the loopback network, like `sessions/runtime_threads_relay_*`.

#![allow(missing_docs, dead_code)]

#[path = "sessions/support.rs"]
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tandem_core::rtp::PayloadType;
use tandem_core::runtime::{Runtime, RuntimeConfig, RuntimeError};
use tandem_core::session::{CodecSpec, ConferenceSpec, LegSpec, SessionSpec};
use tandem_core::worker::WorkerConfig;
use tandem_drivers::packet::PortRange;
use tandem_drivers::packet::loopback::{LoopbackConfig, LoopbackNet};

use support::{Peer, Stream};

const WORKER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));

fn start(net: &LoopbackNet) -> Runtime {
    let config = RuntimeConfig {
        workers: 1,
        pin: false,
        worker: WorkerConfig {
            max_sessions: 16,
            tx_queue: 256,
            ..WorkerConfig::new(0)
        },
        ..RuntimeConfig::default()
    };
    let net = net.clone();
    Runtime::start_with(config, move |_| {
        Ok(net
            .endpoint(LoopbackConfig::new(
                WORKER_IP,
                PortRange::new(21000, 21999).unwrap(),
            ))
            .unwrap())
    })
    .unwrap()
}

#[test]
fn a_replaced_session_keeps_its_ports_and_runs_the_new_media() {
    let net = LoopbackNet::new();
    let runtime = start(&net);
    let mut peer = Peer::new_on(&net, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 30)), 30200);
    let (sa, _) = peer.socket();
    let (_sb, peer_b) = peer.socket();
    // Offer time: only side A is known; a relay placeholder holds the ports.
    let placeholder = runtime
        .create_session(&SessionSpec::Relay {
            a: LegSpec::new(CodecSpec::PCMU),
            b: LegSpec::new(CodecSpec::PCMU),
        })
        .unwrap();
    // Answer time: B speaks PCMA, so the session becomes a transcoder on the same ports.
    let answered = runtime
        .replace_session(
            placeholder.id,
            &SessionSpec::Transcode {
                a: LegSpec::new(CodecSpec::PCMU),
                b: LegSpec::new(CodecSpec::PCMA).with_remote(peer_b),
            },
        )
        .unwrap();
    assert_eq!(answered.id, placeholder.id);
    assert_eq!(answered.legs, placeholder.legs, "same ports, leg for leg");
    let mut stream = Stream::new(0x51, PayloadType::PCMU);
    for _ in 0..30 {
        peer.send(
            0,
            sa,
            placeholder.legs[0].rtp,
            &stream.packet(&[0xFF; 160], 160),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // What reaches B's socket: from leg B's port, transcoded to PCMA. (Leg A sends the
    // transcoder's output for B's silence back to A's socket, in PCMU.)
    let mut to_b = Vec::new();
    for _ in 0..100 {
        to_b.extend(
            peer.recv_all()
                .into_iter()
                .filter(|r| r.from == placeholder.legs[1].rtp),
        );
        if to_b.len() >= 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        to_b.len() >= 10,
        "transcoded packets reach B: {}",
        to_b.len()
    );
    let types: Vec<_> = to_b.iter().map(|r| r.rtp().payload_type()).collect();
    assert!(types.iter().all(|&pt| pt == PayloadType::PCMA), "{types:?}");
    runtime.remove_session(placeholder.id).unwrap();
    runtime.shutdown();
}

#[test]
fn replacing_needs_a_running_session_with_as_many_legs() {
    let net = LoopbackNet::new();
    let runtime = start(&net);
    let relay = SessionSpec::Relay {
        a: LegSpec::new(CodecSpec::PCMU),
        b: LegSpec::new(CodecSpec::PCMU),
    };
    let call = runtime.create_session(&relay).unwrap();
    assert!(matches!(
        runtime.replace_session(call.id, &SessionSpec::Echo(LegSpec::new(CodecSpec::PCMU))),
        Err(RuntimeError::Command(_))
    ));
    let room = runtime
        .create_session(&SessionSpec::Conference(ConferenceSpec::new(8000, 4)))
        .unwrap();
    assert!(matches!(
        runtime.replace_session(room.id, &relay),
        Err(RuntimeError::Command(_))
    ));
    // The refused replacement left the call running.
    assert_eq!(
        runtime.replace_session(call.id, &relay).unwrap().legs,
        call.legs
    );
    runtime.remove_session(call.id).unwrap();
    assert!(matches!(
        runtime.replace_session(call.id, &relay),
        Err(RuntimeError::UnknownSession(_))
    ));
    runtime.shutdown();
}
