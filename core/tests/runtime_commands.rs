//! Any sequence of the runtime's control calls, in any order and on any session or leg
//! (rooms and non-rooms, legs that never were, sessions already removed): create, replace,
//! remove, join, leave, set a remote, send digits, change leg controls, announce, stop an
//! announcement, start and stop recordings, query legs, with bursts of RTP into the legs in
//! between. Each call returns `Ok` or a typed
//! error, never panics and never wedges a worker; which sessions exist follows a simple
//! model (created until removed; a failed replace leaves the old session); and once every
//! session is removed, the workers hold no session and no leg and still take new ones.
//! Two workers on the in-memory loopback network, so placement and cross-worker lookups
//! are exercised too.

#![allow(missing_docs)]

#[allow(dead_code)]
#[path = "sessions/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tandem_core::recording::{Channels, RecordingSpec};
use tandem_core::rtp::PayloadType;
use tandem_core::runtime::{Runtime, RuntimeConfig};
use tandem_core::session::{
    CodecSpec, ConferenceSpec, ControlChange, LegId, LegSpec, MediaDirection, PlaySource, PlaySpec,
    SessionId, SessionSpec,
};
use tandem_drivers::packet::loopback::LoopbackNet;
use tandem_test_support::cases::proptest_cases;
use tandem_test_support::settle::settle;

use support::{PEER_IP, Peer, Stream, WORKER_IP, runtime_on_loopback};
use tandem_drivers::packet::SocketId;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Relay,
    Transcode,
    Room,
    Echo,
    Tone,
}

#[derive(Debug, Clone)]
enum Op {
    Create(Kind),
    Replace(usize, Kind),
    Remove(usize),
    Join(usize),
    Leave(usize, u32),
    SetRemote(usize, u32),
    Digits(usize, u32, &'static str),
    Controls(usize, u32, u8),
    Announce(usize, u32),
    StopAnnouncement(usize, u32),
    StartRecording(usize, u8),
    StopRecording(usize),
    Report(usize, u32),
    /// A burst of RTP from the peers to every leg the session had, then 30 ms for the
    /// workers to carry it.
    Rtp(usize),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Relay),
        Just(Kind::Transcode),
        Just(Kind::Room),
        Just(Kind::Echo),
        Just(Kind::Tone),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0..8usize;
    let leg = 0..4u32;
    prop_oneof![
        4 => kind().prop_map(Op::Create),
        2 => (s.clone(), kind()).prop_map(|(s, k)| Op::Replace(s, k)),
        2 => s.clone().prop_map(Op::Remove),
        3 => s.clone().prop_map(Op::Join),
        2 => (s.clone(), leg.clone()).prop_map(|(s, l)| Op::Leave(s, l)),
        1 => (s.clone(), leg.clone()).prop_map(|(s, l)| Op::SetRemote(s, l)),
        1 => (s.clone(), leg.clone(), prop_oneof![Just("5"), Just("12#*AD"), Just("xyz"), Just("")])
            .prop_map(|(s, l, d)| Op::Digits(s, l, d)),
        1 => (s.clone(), leg.clone(), any::<u8>()).prop_map(|(s, l, c)| Op::Controls(s, l, c)),
        1 => (s.clone(), leg.clone()).prop_map(|(s, l)| Op::Announce(s, l)),
        1 => (s.clone(), leg.clone()).prop_map(|(s, l)| Op::StopAnnouncement(s, l)),
        1 => (s.clone(), 0..3u8).prop_map(|(s, c)| Op::StartRecording(s, c)),
        1 => s.clone().prop_map(Op::StopRecording),
        1 => (s.clone(), leg).prop_map(|(s, l)| Op::Report(s, l)),
        3 => s.prop_map(Op::Rtp),
    ]
}

fn peer(port: u16) -> SocketAddr {
    SocketAddr::new(PEER_IP, port)
}

fn leg(codec: CodecSpec, port: u16) -> LegSpec {
    LegSpec::new(codec)
        .with_remote(peer(port))
        .with_telephone_event(PayloadType::new(101).unwrap())
}

fn spec(kind: Kind) -> SessionSpec {
    let opus = CodecSpec::opus(16_000, PayloadType::new(96).unwrap());
    match kind {
        Kind::Relay => SessionSpec::Relay {
            a: leg(CodecSpec::PCMU, 31_000),
            b: leg(CodecSpec::PCMU, 31_002),
        },
        Kind::Transcode => SessionSpec::Transcode {
            a: leg(CodecSpec::PCMA, 31_004),
            b: leg(opus, 31_006),
        },
        Kind::Room => SessionSpec::Conference(ConferenceSpec::new(16_000, 8)),
        Kind::Echo => SessionSpec::Echo(leg(CodecSpec::G722, 31_008)),
        Kind::Tone => SessionSpec::Play(PlaySpec {
            leg: leg(CodecSpec::PCMU, 31_010),
            source: PlaySource::Digits("123".to_owned()),
            repeat: true,
        }),
    }
}

/// A control change made of `bits`.
fn change(bits: u8) -> ControlChange {
    let flag = |bit: u8| (bits & (1 << bit) != 0).then_some(bits & (1 << (bit + 4)) != 0);
    let mut change = ControlChange::NONE;
    change.mute_in = flag(0);
    change.mute_out = flag(1);
    change.block_media = flag(2);
    change.block_dtmf = flag(3);
    if bits % 5 == 0 {
        change.direction = Some(MediaDirection::SendOnly);
    }
    change
}

/// The sessions the calls created (removed ones stay: calling on them is part of the test).
struct Model {
    sessions: Vec<SessionId>,
    /// The local RTP address of every leg the calls created, by session.
    legs: Vec<(SessionId, SocketAddr)>,
    alive: BTreeSet<SessionId>,
    rooms: BTreeSet<SessionId>,
}

impl Model {
    fn pick(&self, k: usize) -> SessionId {
        match self.sessions.len() {
            0 => SessionId(1_000_000 + k as u64),
            _ if k == 7 => SessionId(999_999),
            n => self.sessions[k % n],
        }
    }
}

fn apply(
    runtime: &Runtime,
    model: &mut Model,
    op: &Op,
    dir: &std::path::Path,
    peers: &mut Peers,
) -> Result<(), TestCaseError> {
    match op {
        Op::Create(kind) => {
            let handle = runtime
                .create_session(&spec(*kind))
                .map_err(|e| TestCaseError::fail(format!("create {kind:?}: {e}")))?;
            model
                .legs
                .extend(handle.legs.iter().map(|p| (handle.id, p.rtp)));
            model.sessions.push(handle.id);
            model.alive.insert(handle.id);
            if matches!(kind, Kind::Room) {
                model.rooms.insert(handle.id);
            }
        }
        Op::Replace(k, kind) => {
            let id = model.pick(*k);
            let replaced = runtime.replace_session(id, &spec(*kind));
            if let Ok(handle) = &replaced {
                model.legs.extend(handle.legs.iter().map(|p| (id, p.rtp)));
            }
            if replaced.is_ok() {
                prop_assert!(
                    model.alive.contains(&id),
                    "replaced {id:?}, which is not alive"
                );
                prop_assert!(!model.rooms.contains(&id), "a room was replaced");
                if matches!(kind, Kind::Room) {
                    model.rooms.insert(id);
                }
            }
        }
        Op::Remove(k) => {
            let id = model.pick(*k);
            let removed = runtime.remove_session(id).is_ok();
            prop_assert_eq!(removed, model.alive.remove(&id), "remove {:?}", id);
            model.rooms.remove(&id);
        }
        Op::Join(k) => {
            let id = model.pick(*k);
            let joined = runtime.join(id, &leg(CodecSpec::PCMU, 31_020));
            if let Ok(ports) = &joined {
                model.legs.push((id, ports.rtp));
            }
            if joined.is_ok() {
                prop_assert!(
                    model.rooms.contains(&id),
                    "joined {id:?}, which is not a room"
                );
            }
        }
        Op::Leave(k, l) => {
            let _ = runtime.leave(model.pick(*k), LegId(*l));
        }
        Op::SetRemote(k, l) => {
            let _ = runtime.set_remote(model.pick(*k), LegId(*l), peer(31_030));
        }
        Op::Digits(k, l, digits) => {
            let _ = runtime.send_digits(model.pick(*k), LegId(*l), digits);
        }
        Op::Controls(k, l, bits) => {
            let _ = runtime.set_leg_controls(model.pick(*k), LegId(*l), change(*bits));
        }
        Op::Announce(k, l) => {
            let source = PlaySource::Digits("9".to_owned());
            let _ = runtime.announce(model.pick(*k), LegId(*l), &source, 1, 8000);
        }
        Op::StopAnnouncement(k, l) => {
            let _ = runtime.stop_announcement(model.pick(*k), LegId(*l));
        }
        Op::StartRecording(k, channels) => {
            let id = model.pick(*k);
            let mut spec = RecordingSpec::new(dir.join(format!("{}.wav", id.0)));
            spec.channels = match channels {
                0 => Channels::Stereo,
                1 => Channels::Mixed,
                _ => Channels::Leg(LegId(1)),
            };
            let _ = runtime.start_recording(id, &spec);
        }
        Op::StopRecording(k) => {
            let _ = runtime.stop_recording(model.pick(*k));
        }
        Op::Report(k, l) => {
            let _ = runtime.leg_report(model.pick(*k), LegId(*l));
        }
        Op::Rtp(k) => {
            let id = model.pick(*k);
            let targets: Vec<SocketAddr> = model
                .legs
                .iter()
                .filter(|(s, _)| *s == id)
                .map(|&(_, a)| a)
                .collect();
            for to in targets {
                peers.burst(to);
            }
            std::thread::sleep(Duration::from_millis(30));
            peers.drain();
        }
    }
    Ok(())
}

/// The peers of every leg spec here (ports 31000 to 31030 on the peer host): each burst
/// comes from one of them in turn, so some match the leg's remote and some do not.
struct Peers {
    host: Peer,
    sockets: Vec<SocketId>,
    next: usize,
    streams: Vec<Stream>,
}

impl Peers {
    fn new(net: &LoopbackNet) -> Self {
        let mut host = Peer::new_on(net, PEER_IP, 31_000);
        let sockets = (0..16).map(|_| host.socket().0).collect();
        let streams = [
            PayloadType::PCMU,
            PayloadType::PCMA,
            PayloadType::G722,
            PayloadType::from_bits(96),
            PayloadType::from_bits(101),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, pt)| Stream::new(0xAA00 + i as u32, pt))
        .collect();
        Self {
            host,
            sockets,
            next: 0,
            streams,
        }
    }

    /// Three packets to `to`, each of another payload type.
    fn burst(&mut self, to: SocketAddr) {
        for _ in 0..3 {
            let socket = self.sockets[self.next % self.sockets.len()];
            let count = self.streams.len();
            let stream = &mut self.streams[self.next % count];
            self.next += 1;
            let packet = stream.packet(&[0x55; 160], 160);
            self.host.send(0, socket, to, &packet);
        }
    }

    fn drain(&mut self) {
        let _ = self.host.recv_all();
    }
}

/// The workers' sessions and legs once `settled` holds, or after 2 s.
fn sessions_and_legs(runtime: &Runtime, settled: impl Fn(&(u64, u64)) -> bool) -> (u64, u64) {
    let read = || {
        let stats = runtime.worker_stats();
        (
            stats.iter().map(|s| s.sessions).sum(),
            stats.iter().map(|s| s.legs).sum(),
        )
    };
    settle(Duration::from_secs(2), read, settled)
}

#[test]
fn any_sequence_of_runtime_calls_keeps_the_workers_whole() {
    let net = LoopbackNet::new();
    let runtime = runtime_on_loopback(
        &net,
        WORKER_IP,
        20_000,
        RuntimeConfig {
            workers: 2,
            pin: false,
            ..RuntimeConfig::default()
        },
    );
    // Recordings are written by whoever reads the runtime's recording reports; nobody
    // does here, which is itself a case the workers must survive.
    let dir = std::env::temp_dir().join(format!("tandem-runtime-commands-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let peers = std::cell::RefCell::new(Peers::new(&net));
    let mut runner = TestRunner::new(Config {
        cases: proptest_cases(32),
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(op(), 1..40), |ops| {
            let mut model = Model {
                sessions: Vec::new(),
                legs: Vec::new(),
                alive: BTreeSet::new(),
                rooms: BTreeSet::new(),
            };
            for op in &ops {
                apply(&runtime, &mut model, op, &dir, &mut peers.borrow_mut())?;
            }
            for id in std::mem::take(&mut model.alive) {
                prop_assert!(runtime.remove_session(id).is_ok(), "removing {:?}", id);
            }
            let left = sessions_and_legs(&runtime, |now| *now == (0, 0));
            prop_assert_eq!(left, (0, 0), "sessions and legs left after removing all");
            // The workers still take sessions.
            let handle = runtime.create_session(&spec(Kind::Relay));
            prop_assert!(handle.is_ok(), "{:?}", handle.err());
            prop_assert!(runtime.remove_session(handle.unwrap().id).is_ok());
            Ok(())
        })
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
