//! Property tests of the transaction layer: random interleavings of received requests and
//! responses (valid, mismatched, corrupted, garbage), TU calls (valid and misuse), transport
//! errors and time never panic, keep the event contract (one `Terminated` per transaction,
//! nothing about a transaction after it) and leak nothing: once input stops, every transaction
//! terminates within max(64*T1, Timer C, Timer D) of the last input.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tandem_sip::message::{Message, Request, Response, StatusCode, Transport};
use tandem_sip::transaction::{
    Config, ConnectionId, Event, Input, TransactionId, TransactionLayer, Transmit, TryingPolicy,
};

#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

const METHODS: [&str; 6] = ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER"];
const STATUSES: [u16; 9] = [100, 180, 183, 200, 202, 302, 486, 487, 503];

#[derive(Debug, Clone)]
enum Op {
    /// Time passes; optionally the caller wakes up for it.
    Advance { ms: u32, wake: bool },
    /// A request from a peer.
    Request {
        method: usize,
        cseq_method: usize,
        branch: u8,
        cookie: bool,
        peer: u8,
        tcp: bool,
        to_tag: bool,
        rport: bool,
    },
    /// A response to one of the requests we sent (or to a made-up branch).
    Response {
        pick: usize,
        status: usize,
        forge_branch: bool,
    },
    /// Our TU sends a request.
    Send { method: usize, peer: u8, tcp: bool },
    /// Our TU answers a known (or bogus) transaction.
    Answer { pick: usize, status: usize },
    /// Our TU cancels a known (or bogus) transaction.
    Cancel { pick: usize },
    /// The transport reports a failure.
    TransportError { peer: u8, tcp: bool },
    /// A captured message with bytes overwritten.
    Corrupt {
        pick: usize,
        at: usize,
        bytes: Vec<u8>,
    },
    /// Random bytes.
    Garbage(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u32..40_000, any::<bool>()).prop_map(|(ms, wake)| Op::Advance { ms, wake }),
        4 => (0..METHODS.len(), 0..METHODS.len(), 0u8..4, any::<bool>(), 0u8..3, any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(method, c, branch, cookie, peer, tcp, to_tag, rport)| Op::Request {
                method,
                // Mostly consistent CSeq methods, sometimes not (a 400).
                cseq_method: if c % 5 == 0 { c } else { method },
                branch,
                cookie: cookie || branch > 0,
                peer,
                tcp,
                to_tag,
                rport,
            }),
        4 => (any::<usize>(), 0..STATUSES.len(), prop::bool::weighted(0.1))
            .prop_map(|(pick, status, forge_branch)| Op::Response { pick, status, forge_branch }),
        2 => (0..METHODS.len(), 0u8..3, any::<bool>()).prop_map(|(method, peer, tcp)| Op::Send { method, peer, tcp }),
        3 => (any::<usize>(), 0..STATUSES.len()).prop_map(|(pick, status)| Op::Answer { pick, status }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        1 => (0u8..3, any::<bool>()).prop_map(|(peer, tcp)| Op::TransportError { peer, tcp }),
        1 => (any::<usize>(), any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(pick, at, bytes)| Op::Corrupt { pick, at, bytes }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Op::Garbage),
    ]
}

fn peer(n: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 10 + n], 5060))
}

const LOCAL: &str = "192.0.2.9:5060";

fn transport(tcp: bool) -> Transport {
    if tcp { Transport::Tcp } else { Transport::Udp }
}

fn wire_request(op: &Op) -> Vec<u8> {
    let Op::Request {
        method,
        cseq_method,
        branch,
        cookie,
        peer: p,
        tcp,
        to_tag,
        rport,
    } = op
    else {
        return Vec::new();
    };
    let branch = if *cookie {
        format!(";branch=z9hG4bK{branch}")
    } else if *branch == 0 {
        String::new()
    } else {
        format!(";branch={branch}")
    };
    format!(
        "{m} sip:tandem@192.0.2.9 SIP/2.0\r\n\
         Via: SIP/2.0/{t} {host}:5060{branch}{rport}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:peer@example.com>;tag=p{p}\r\n\
         To: <sip:tandem@example.com>{to_tag}\r\n\
         Call-ID: prop-{p}\r\n\
         CSeq: 1 {c}\r\n\
         Content-Length: 0\r\n\r\n",
        m = METHODS[*method],
        c = METHODS[*cseq_method],
        t = if *tcp { "TCP" } else { "UDP" },
        host = if *p == 2 {
            "peer.example".to_owned()
        } else {
            peer(*p).ip().to_string()
        },
        rport = if *rport { ";rport" } else { "" },
        to_tag = if *to_tag { ";tag=t" } else { "" },
    )
    .into_bytes()
}

fn request_to_send(method: usize) -> Request {
    let m = METHODS[method];
    let text = format!(
        "{m} sip:peer@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.9:5060;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tandem@example.com>;tag=me\r\n\
         To: <sip:peer@example.com>\r\n\
         Call-ID: out-{method}\r\n\
         CSeq: 2 {m}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Request::parse(text.as_bytes()).unwrap()
}

/// The bookkeeping of one run.
struct Harness {
    layer: TransactionLayer,
    now: Instant,
    last_input: Instant,
    /// Requests we sent (wire form and destination), to answer them.
    sent: Vec<Transmit>,
    /// Everything received, to corrupt.
    received: Vec<Vec<u8>>,
    /// Transactions the TU knows of (from send_request and NewRequest).
    known: Vec<TransactionId>,
    created: HashSet<TransactionId>,
    terminated: HashSet<TransactionId>,
    /// The requests of server transactions, to answer them.
    requests: HashMap<TransactionId, Request>,
}

impl Harness {
    fn new(config: Config) -> Self {
        let t0 = epoch();
        Self {
            layer: TransactionLayer::new(config, [9; 16]),
            now: t0,
            last_input: t0,
            sent: Vec::new(),
            received: Vec::new(),
            known: Vec::new(),
            created: HashSet::new(),
            terminated: HashSet::new(),
            requests: HashMap::new(),
        }
    }

    fn receive(&mut self, source: SocketAddr, tcp: bool, bytes: Vec<u8>) {
        self.layer.handle(
            self.now,
            Input::Received {
                source,
                local: LOCAL.parse().unwrap(),
                transport: transport(tcp),
                connection: tcp.then_some(ConnectionId(u64::from(source.port()))),
                bytes: &bytes,
            },
        );
        self.received.push(bytes);
    }

    fn apply(&mut self, op: &Op) {
        self.last_input = self.now;
        match op {
            Op::Advance { ms, wake } => {
                self.now += Duration::from_millis(u64::from(*ms));
                if *wake {
                    self.layer.handle(self.now, Input::Timeout);
                }
            }
            Op::Request { peer: p, tcp, .. } => {
                let bytes = wire_request(op);
                self.receive(peer(*p), *tcp, bytes);
            }
            Op::Response {
                pick,
                status,
                forge_branch,
            } => {
                if self.sent.is_empty() {
                    return;
                }
                let t = self.sent[pick % self.sent.len()].clone();
                let Ok(request) = Request::parse(&t.bytes) else {
                    return;
                };
                let mut r =
                    Response::from_request(&request, StatusCode::new(STATUSES[*status]).unwrap());
                let _ = r.set_to_tag("them");
                let mut bytes = Message::from(r).to_bytes();
                if *forge_branch {
                    bytes = String::from_utf8_lossy(&bytes)
                        .replace("branch=z9hG4bK", "branch=z9hG4bKforged")
                        .into_bytes();
                }
                let tcp = t.transport == Transport::Tcp;
                self.receive(t.destination, tcp, bytes);
            }
            Op::Send {
                method,
                peer: p,
                tcp,
            } => {
                if let Ok(id) = self.layer.send_request(
                    self.now,
                    request_to_send(*method),
                    peer(*p),
                    transport(*tcp),
                ) {
                    assert!(self.created.insert(id), "id reused: {id}");
                    self.known.push(id);
                }
            }
            Op::Answer { pick, status } => {
                let Some(&id) = self.known.get(pick % self.known.len().max(1)) else {
                    return;
                };
                let status = StatusCode::new(STATUSES[*status]).unwrap();
                // A proper response to a server transaction; a bare one (misuse) otherwise.
                let r = match self.requests.get(&id) {
                    Some(request) => {
                        let mut r = Response::from_request(request, status);
                        let _ = r.set_to_tag("us");
                        r
                    }
                    None => Response::new(status),
                };
                let result = self.layer.send_response(self.now, id, r);
                if self.terminated.contains(&id) {
                    assert!(result.is_err(), "answered a terminated transaction");
                }
            }
            Op::Cancel { pick } => {
                if let Some(&id) = self.known.get(pick % self.known.len().max(1)) {
                    let _ = self.layer.cancel(self.now, id);
                }
            }
            Op::TransportError { peer: p, tcp } => self.layer.handle(
                self.now,
                Input::TransportError {
                    destination: peer(*p),
                    transport: transport(*tcp),
                },
            ),
            Op::Corrupt { pick, at, bytes } => {
                if self.received.is_empty() {
                    return;
                }
                let mut m = self.received[pick % self.received.len()].clone();
                let at = at % m.len().max(1);
                for (i, b) in bytes.iter().enumerate() {
                    if let Some(slot) = m.get_mut(at + i) {
                        *slot = *b;
                    }
                }
                self.receive(peer(0), false, m);
            }
            Op::Garbage(bytes) => self.receive(peer(1), false, bytes.clone()),
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(t) = self.layer.poll_transmit() {
            if !t.bytes.starts_with(b"SIP/2.0") && !t.bytes.starts_with(b"ACK") {
                self.sent.push(t);
            }
        }
        while let Some(e) = self.layer.poll_event() {
            let id = match &e {
                Event::NewRequest { id, request, .. } => {
                    assert!(self.created.insert(*id), "id reused: {id}");
                    self.requests.insert(*id, request.clone());
                    self.known.push(*id);
                    Some(*id)
                }
                Event::Terminated { id } => {
                    assert!(self.terminated.insert(*id), "terminated twice: {id}");
                    assert!(self.created.contains(id), "unknown id terminated: {id}");
                    None
                }
                Event::Response { id, .. }
                | Event::Cancel { id, .. }
                | Event::Timeout { id, .. }
                | Event::TransportError { id } => Some(*id),
                Event::Ack { id, .. } => *id,
                _ => None,
            };
            if let Some(id) = id {
                assert!(
                    !self.terminated.contains(&id),
                    "event after Terminated: {e:?}"
                );
            }
        }
    }

    /// Stops input and runs every timer; checks that all transactions end in time.
    fn wind_down(&mut self, bound: Duration) {
        let deadline = self.last_input + bound;
        while let Some(at) = self.layer.poll_timeout() {
            assert!(
                at <= deadline,
                "a transaction outlives the bound: wakes {:?} after the last input",
                at - self.last_input
            );
            self.now = self.now.max(at);
            self.layer.handle(self.now, Input::Timeout);
            self.drain();
        }
        assert!(
            self.layer.is_empty(),
            "{} transactions leaked",
            self.layer.len()
        );
        assert_eq!(
            self.created, self.terminated,
            "every transaction terminates once"
        );
    }
}

fn bound(config: &Config) -> Duration {
    let t = config.timers;
    (t.t1 * 64)
        .max(t.timer_c)
        .max(t.timer_d)
        .max(tandem_sip::transaction::TIMER_D_MIN)
}

fn config(small_table: bool, short_c: bool, trying: u8) -> Config {
    let mut c = Config::default();
    if small_table {
        c.max_transactions = 3;
    }
    if short_c {
        c.timers.timer_c = Duration::from_secs(32);
    }
    c.trying = match trying {
        0 => TryingPolicy::Never,
        1 => TryingPolicy::Immediately,
        _ => TryingPolicy::After(Duration::from_millis(200)),
    };
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_never_panic_or_leak(
        ops in prop::collection::vec(op(), 1..80),
        small_table in any::<bool>(),
        short_c in any::<bool>(),
        trying in 0u8..3,
    ) {
        let config = config(small_table, short_c, trying);
        let bound = bound(&config);
        let mut h = Harness::new(config);
        for op in &ops {
            h.apply(op);
        }
        h.wind_down(bound);
    }
}

/// The brief's bound: with Timer C at 32 s, everything ends within 64*T1 + D of the last input.
#[test]
fn everything_ends_within_64_t1_plus_d_with_a_32s_timer_c() {
    let config = config(false, true, 2);
    let t = config.timers;
    assert!(bound(&config) <= t.t1 * 64 + t.timer_d);
}
