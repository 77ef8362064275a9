//! Any sequence of pairs opened and closed, bursts sent to any open socket and receives
//! with caller arrays of any size: each kernel backend (UDP batch, io_uring) delivers every
//! datagram sent to a socket that stays open exactly once, in the order it was sent to
//! that socket, never more per call than the caller's arrays hold, and nothing for a socket
//! once its pair is closed. Checked against a model (a queue per open socket) over real
//! loopback sockets; the UDP backend's edge-triggered epoll with its own queue of sockets
//! still to drain is what this guards.
//!
//! Ports 31440–31479 for UDP, 29440–29479 for io_uring.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tandem_drivers::packet::udp::{UdpConfig, UdpIo};
use tandem_drivers::packet::uring::{UringConfig, UringIo};
use tandem_drivers::packet::{
    PacketBuf, PacketIo, PortPair, PortRange, RecvMeta, SocketId, Timestamp, Transmit,
};
use tandem_test_support::cases::proptest_cases;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Pairs the receiver may hold open at once (its range holds a few more, so that closed
/// ports are not reused at once).
const MAX_OPEN_PAIRS: usize = 6;
/// Datagrams waiting on one socket at most: well inside a default receive buffer (about
/// 256 small datagrams), so that the kernel never drops one.
const MAX_QUEUED: usize = 120;

#[derive(Debug, Clone)]
enum Op {
    Open,
    /// Close the open pair at this index (modulo the open pairs).
    Close(usize),
    /// Send `count` datagrams to the open socket at this index (modulo the open sockets).
    Send {
        socket: usize,
        count: usize,
    },
    /// One receive with arrays of `cap` entries.
    Recv {
        cap: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Open),
        1 => any::<usize>().prop_map(Op::Close),
        4 => (any::<usize>(), 1usize..48).prop_map(|(socket, count)| Op::Send { socket, count }),
        4 => (1usize..80).prop_map(|cap| Op::Recv { cap }),
    ]
}

fn backend(uring: bool, min: u16, max: u16) -> Box<dyn PacketIo> {
    let (min, max) = if uring {
        (min - 2000, max - 2000)
    } else {
        (min, max)
    };
    let config = UdpConfig::new(LOOPBACK, PortRange::new(min, max).unwrap());
    if uring {
        Box::new(UringIo::new(UringConfig::from_udp(config)).unwrap())
    } else {
        Box::new(UdpIo::new(config).unwrap())
    }
}

/// What the receiver should still deliver: per open socket, the sequence numbers sent to
/// it, in order.
#[derive(Default)]
struct Model {
    pairs: Vec<PortPair>,
    queues: HashMap<SocketId, VecDeque<u32>>,
}

impl Model {
    fn sockets(&self) -> Vec<SocketId> {
        self.pairs.iter().flat_map(|p| [p.rtp, p.rtcp]).collect()
    }

    /// Checks one received datagram against the model and removes it.
    fn take(&mut self, socket: SocketId, payload: &[u8]) -> Result<(), TestCaseError> {
        let seq =
            u32::from_be_bytes(payload.try_into().map_err(|_| {
                TestCaseError::fail(format!("a datagram of {} bytes", payload.len()))
            })?);
        let queue = self
            .queues
            .get_mut(&socket)
            .ok_or_else(|| TestCaseError::fail(format!("{seq} on closed socket {socket:?}")))?;
        let expected = queue.pop_front();
        prop_assert_eq!(expected, Some(seq), "per-socket order on {:?}", socket);
        Ok(())
    }

    fn waiting(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }
}

/// Receives once with arrays of `cap` and checks what came.
fn receive(
    rx: &mut dyn PacketIo,
    model: &mut Model,
    bufs: &mut [PacketBuf],
    meta: &mut [RecvMeta],
    cap: usize,
) -> Result<usize, TestCaseError> {
    let n = rx
        .recv_batch(Timestamp::ZERO, &mut bufs[..cap], &mut meta[..cap])
        .map_err(|e| TestCaseError::fail(format!("recv_batch: {e:?}")))?;
    prop_assert!(n <= cap, "{} datagrams for arrays of {}", n, cap);
    for (buf, m) in bufs.iter().zip(meta.iter()).take(n) {
        prop_assert!(!m.truncated);
        model.take(m.socket, buf.payload(m.len))?;
    }
    Ok(n)
}

/// One case over backends that live across cases (an io_uring backend's sockets are
/// released by the kernel's ring teardown, after the ring is dropped, so a backend per case
/// would find its ports still bound); the case closes the pairs it opened.
fn run(
    tx: &mut dyn PacketIo,
    rx: &mut dyn PacketIo,
    from: PortPair,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    let result = run_ops(tx, rx, from, ops, &mut model);
    for pair in model.pairs.drain(..) {
        rx.close_pair(pair).unwrap();
    }
    result
}

fn run_ops(
    tx: &mut dyn PacketIo,
    rx: &mut dyn PacketIo,
    from: PortPair,
    ops: &[Op],
    model: &mut Model,
) -> Result<(), TestCaseError> {
    let mut bufs = PacketBuf::new_vec(80);
    let mut meta = RecvMeta::new_vec(80);
    let mut next_seq = 0u32;
    for op in ops {
        match op {
            Op::Open if model.pairs.len() < MAX_OPEN_PAIRS => {
                let pair = rx.open_pair().unwrap();
                model.queues.insert(pair.rtp, VecDeque::new());
                model.queues.insert(pair.rtcp, VecDeque::new());
                model.pairs.push(pair);
            }
            Op::Open => {}
            Op::Close(i) if !model.pairs.is_empty() => {
                let pair = model.pairs.remove(i % model.pairs.len());
                rx.close_pair(pair).unwrap();
                // What waited in its sockets is gone with them.
                model.queues.remove(&pair.rtp);
                model.queues.remove(&pair.rtcp);
            }
            Op::Close(_) => {}
            Op::Send { socket, count } => {
                let sockets = model.sockets();
                if sockets.is_empty() {
                    continue;
                }
                let to_socket = sockets[socket % sockets.len()];
                let queue = model.queues.get_mut(&to_socket).unwrap();
                let count = (*count).min(MAX_QUEUED.saturating_sub(queue.len()));
                let to: SocketAddr = rx.local_addr(to_socket).unwrap();
                let payloads: Vec<[u8; 4]> = (0..count as u32)
                    .map(|k| (next_seq + k).to_be_bytes())
                    .collect();
                let packets: Vec<Transmit<'_>> = payloads
                    .iter()
                    .map(|p| Transmit {
                        socket: from.rtp,
                        destination: to,
                        payload: p,
                    })
                    .collect();
                prop_assert_eq!(tx.send_batch(Timestamp::ZERO, &packets), Ok(count));
                queue.extend(next_seq..next_seq + count as u32);
                next_seq += count as u32;
            }
            Op::Recv { cap } => {
                receive(rx, model, &mut bufs, &mut meta, *cap)?;
            }
        }
    }
    // Everything still waiting arrives, with small arrays so that sockets take turns.
    let deadline = Instant::now() + Duration::from_secs(3);
    while model.waiting() > 0 && Instant::now() < deadline {
        if receive(rx, model, &mut bufs, &mut meta, 7)? == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    prop_assert_eq!(model.waiting(), 0, "datagrams never delivered");
    prop_assert_eq!(
        receive(rx, model, &mut bufs, &mut meta, 80)?,
        0,
        "nothing more"
    );
    Ok(())
}

fn check(uring: bool) {
    let mut tx = backend(uring, 31440, 31441);
    let mut rx = backend(uring, 31442, 31479);
    let from = tx.open_pair().unwrap();
    let config = ProptestConfig {
        cases: proptest_cases(40),
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    // The runner takes an `Fn`; the backends are borrowed mutably one case at a time.
    let backends = RefCell::new((&mut tx, &mut rx));
    let result = runner.run(&prop::collection::vec(op(), 1..60), |ops| {
        let mut backends = backends.borrow_mut();
        let (tx, rx) = &mut *backends;
        run(&mut ***tx, &mut ***rx, from, &ops)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn udp_delivers_every_datagram_once_in_order() {
    check(false);
}

#[test]
fn io_uring_delivers_every_datagram_once_in_order() {
    check(true);
}
