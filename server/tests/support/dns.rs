//! A tiny authoritative DNS server on loopback for tests of SIP targets by name: it answers
//! SRV and A queries from a fixed zone, NXDOMAIN for every other name, and holds the queries
//! for "held" names unanswered until the test releases them (then NXDOMAIN), so a test can
//! keep one lookup pending for as long as it likes. UDP only, on a port the kernel picks;
//! its thread stops when the server is dropped, and after [`LIFETIME`] at the latest.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record};

/// The longest a server runs.
pub(crate) const LIFETIME: Duration = Duration::from_secs(180);

/// TTL of every answer.
const TTL: u32 = 60;

/// What the zone holds for one name (lower case, with its final dot).
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// SRV records: (priority, weight, port, target).
    Srv(Vec<(u16, u16, u16, String)>),
    /// An A record.
    A(Ipv4Addr),
    /// No answer until [`DnsServer::release`], then NXDOMAIN.
    Held,
}

/// A running server. Dropping it stops it.
pub(crate) struct DnsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
    queries: Arc<std::sync::atomic::AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// The response to `query` from `zone`; `None` to hold it.
fn respond(query: &Message, zone: &HashMap<String, Entry>, released: bool) -> Option<Message> {
    let mut response = Message::new();
    response
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_authoritative(true)
        .set_recursion_desired(query.recursion_desired());
    let question = query.queries().first()?.clone();
    let name = question.name().to_lowercase().to_ascii();
    response.add_query(question.clone());
    let owner = question.name().clone();
    match zone.get(&name) {
        Some(Entry::Held) if !released => return None,
        Some(Entry::Srv(records))
            if question.query_type() == hickory_proto::rr::RecordType::SRV =>
        {
            for (priority, weight, port, target) in records {
                let target = Name::from_str(target).ok()?;
                response.add_answer(Record::from_rdata(
                    owner.clone(),
                    TTL,
                    RData::SRV(SRV::new(*priority, *weight, *port, target)),
                ));
            }
        }
        Some(Entry::A(ip)) if question.query_type() == hickory_proto::rr::RecordType::A => {
            response.add_answer(Record::from_rdata(owner, TTL, RData::A(A(*ip))));
        }
        // The name exists, but not with this type: NOERROR, no answer.
        Some(Entry::Srv(_) | Entry::A(_)) => {}
        Some(Entry::Held) | None => {
            response.set_response_code(ResponseCode::NXDomain);
        }
    }
    Some(response)
}

impl DnsServer {
    /// Starts serving `zone` (names in lower case with their final dot).
    pub(crate) fn start(zone: HashMap<String, Entry>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP port");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop_flag, release_flag, count) = (
            Arc::clone(&stop),
            Arc::clone(&release),
            Arc::clone(&queries),
        );
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + LIFETIME;
            let mut held: Vec<(Message, SocketAddr)> = Vec::new();
            let mut buf = [0u8; 1500];
            while !stop_flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                let released = release_flag.load(Ordering::Relaxed);
                if released {
                    for (query, from) in held.drain(..) {
                        if let Some(r) = respond(&query, &zone, true) {
                            let _ = socket.send_to(&r.to_vec().unwrap_or_default(), from);
                        }
                    }
                }
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                match respond(&query, &zone, released) {
                    Some(r) => {
                        let _ = socket.send_to(&r.to_vec().unwrap_or_default(), from);
                    }
                    None => held.push((query, from)),
                }
            }
        });
        Self {
            addr,
            stop,
            release,
            queries,
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers the held queries (NXDOMAIN), and every later one for a held name at once.
    pub(crate) fn release(&self) {
        self.release.store(true, Ordering::Relaxed);
    }

    /// Queries received so far.
    pub(crate) fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
