//! Call setup rate over the ng protocol: how many calls per second an ng speaker (Tandem or
//! rtpengine) sets up and tears down, and how long each command waits for its reply.
//!
//! Each call is what Kamailio's rtpengine module sends for a call that is answered and hung
//! up: `offer` (the caller's PCMU SDP), `answer` (the callee's SDP: PCMU for a relay, the
//! transcoding codec otherwise, as [`crate::loadgen`] asks for it) and `delete`, in that
//! order, each after the previous one's reply. Up to `in_flight` commands (of different
//! calls) are outstanding at once on one UDP socket, as a proxy with many worker processes
//! sends them; no media flows. A command unanswered after [`REPLY_TIMEOUT`] is sent again with
//! the same cookie (the engine answers it from its reply cache), [`ATTEMPTS`] times in all;
//! then it counts as timed out and its call is abandoned.
//!
//! The run is bounded: at most [`MAX_CALLS`] calls and [`MAX_RUN`] of wall time, loopback
//! engines only.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::loadgen::ng::{self, ATTEMPTS, CallIds, CodecRequest, REPLY_TIMEOUT, Reply};
use crate::loadgen::sdp::{self, SdpCodec};

/// Most calls one run sets up.
pub const MAX_CALLS: usize = 200_000;
/// Most commands outstanding at once.
pub const MAX_IN_FLIGHT: usize = 1024;
/// Longest run, whatever happens.
pub const MAX_RUN: Duration = Duration::from_secs(300);
/// Receive buffer asked for the client's socket.
const REPLY_BUFFER_BYTES: usize = 4 << 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The engine's ng socket (loopback).
    pub engine: SocketAddr,
    /// Calls to set up and tear down.
    pub calls: usize,
    /// Commands outstanding at once.
    pub in_flight: usize,
    /// `Keep` (relay) or the transcoding request of every offer.
    pub codec: CodecRequest,
    /// The callee's codec in its answer.
    pub callee: SdpCodec,
}

/// The three commands of a call, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `offer`.
    Offer,
    /// `answer`.
    Answer,
    /// `delete`.
    Delete,
}

impl Stage {
    /// Every stage, in a call's order.
    pub const ALL: [Stage; 3] = [Stage::Offer, Stage::Answer, Stage::Delete];

    fn next(self) -> Option<Stage> {
        match self {
            Stage::Offer => Some(Stage::Answer),
            Stage::Answer => Some(Stage::Delete),
            Stage::Delete => None,
        }
    }

    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Offer => "offer",
            Stage::Answer => "answer",
            Stage::Delete => "delete",
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Calls whose three commands all succeeded.
    pub completed: usize,
    /// Commands answered with an error (their calls abandoned).
    pub errors: usize,
    /// Commands never answered after every attempt (their calls abandoned).
    pub timeouts: usize,
    /// Retransmissions sent.
    pub retransmissions: usize,
    /// The first error reply, for the report.
    pub first_error: Option<String>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Reply latency of each answered command (first send to reply), µs, per stage.
    pub latency_us: HashMap<Stage, Vec<u64>>,
}

impl Outcome {
    /// Commands answered, successfully or not.
    pub fn answered(&self) -> usize {
        self.latency_us.values().map(Vec::len).sum()
    }

    /// Completed calls per second of the run.
    pub fn calls_per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Answered commands per second of the run.
    pub fn commands_per_second(&self) -> f64 {
        self.answered() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0..=1) of the reply latency of `stage`'s commands, µs.
    pub fn latency_quantile_us(&self, stage: Stage, q: f64) -> Option<u64> {
        let mut v = self.latency_us.get(&stage)?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let index = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        Some(v[index])
    }
}

/// A command waiting for its reply.
struct Outstanding {
    call: usize,
    stage: Stage,
    datagram: Vec<u8>,
    first_sent: Instant,
    last_sent: Instant,
    attempts: usize,
}

/// The request for `stage` of call `call`.
fn request(plan: &Plan, prefix: &str, call: usize, stage: Stage) -> bt_bencode::Value {
    let ids = CallIds {
        call_id: format!("{prefix}-{call}"),
        from_tag: format!("caller-{call}"),
        to_tag: format!("callee-{call}"),
    };
    // Media addresses in the SDPs are never used: no media flows in this benchmark.
    let media = |base: u16| SocketAddr::new(plan.engine.ip(), base + 2 * (call % 2000) as u16);
    match stage {
        Stage::Offer => ng::offer(
            &ids,
            &sdp::party(call as u64, media(56000), &SdpCodec::pcmu()),
            &plan.codec,
        ),
        Stage::Answer => ng::answer(
            &ids,
            &sdp::party(call as u64 + 1, media(60000), &plan.callee),
        ),
        Stage::Delete => ng::delete(&ids),
    }
}

/// Runs `plan` to the end (every call completed or abandoned) or to [`MAX_RUN`].
///
/// # Errors
///
/// A socket that cannot be opened or used, or an engine that is not on loopback.
pub fn run(plan: &Plan) -> Result<Outcome, String> {
    let calls = plan.calls.clamp(1, MAX_CALLS);
    let in_flight = plan.in_flight.clamp(1, MAX_IN_FLIGHT);
    let socket = ng::loopback_socket(plan.engine)?;
    // Replies to a full window arrive together; the default buffer holds about 90 (best
    // effort: the kernel caps it at net.core.rmem_max).
    let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(REPLY_BUFFER_BYTES);
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| format!("ng socket: {e}"))?;
    let prefix = format!(
        "rate{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let mut outcome = Outcome::default();
    let mut outstanding: HashMap<String, Outstanding> = HashMap::with_capacity(in_flight);
    // Commands ready to go: (call, stage); calls start in order, later stages first.
    let mut ready: Vec<(usize, Stage)> = Vec::new();
    let mut next_call = 0;
    let mut sequence: u64 = 0;
    let mut buf = vec![0u8; 65_536];
    let started = Instant::now();
    while (next_call < calls || !ready.is_empty() || !outstanding.is_empty())
        && started.elapsed() < MAX_RUN
    {
        while outstanding.len() < in_flight {
            let (call, stage) = match ready.pop() {
                Some(next) => next,
                None if next_call < calls => {
                    next_call += 1;
                    (next_call - 1, Stage::Offer)
                }
                None => break,
            };
            sequence += 1;
            let cookie = format!("{prefix}_{sequence}");
            let datagram = ng::encode(&cookie, &request(plan, &prefix, call, stage));
            socket
                .send_to(&datagram, plan.engine)
                .map_err(|e| format!("ng send: {e}"))?;
            let now = Instant::now();
            outstanding.insert(
                cookie,
                Outstanding {
                    call,
                    stage,
                    datagram,
                    first_sent: now,
                    last_sent: now,
                    attempts: 1,
                },
            );
        }
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => {
                let datagram = &buf[..n];
                let cookie = datagram
                    .iter()
                    .position(|&b| b == b' ')
                    .and_then(|space| std::str::from_utf8(&datagram[..space]).ok());
                let Some(done) = cookie.and_then(|c| outstanding.remove(c)) else {
                    continue; // a late duplicate of a reply already counted
                };
                let latency = done.first_sent.elapsed().as_micros() as u64;
                outcome
                    .latency_us
                    .entry(done.stage)
                    .or_default()
                    .push(latency);
                let cookie = cookie.unwrap_or_default().to_owned();
                match Reply::parse(datagram, &cookie) {
                    Ok(_) => match done.stage.next() {
                        Some(stage) => ready.push((done.call, stage)),
                        None => outcome.completed += 1,
                    },
                    Err(e) => {
                        outcome.errors += 1;
                        outcome.first_error.get_or_insert_with(|| {
                            format!("{} {}: {e}", done.stage.name(), done.call)
                        });
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("ng receive: {e}")),
        }
        retransmit_or_abandon(&socket, plan.engine, &mut outstanding, &mut outcome)?;
    }
    outcome.timeouts += outstanding.len();
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

/// Sends again what has waited [`REPLY_TIMEOUT`]; gives up on what has had [`ATTEMPTS`].
fn retransmit_or_abandon(
    socket: &UdpSocket,
    engine: SocketAddr,
    outstanding: &mut HashMap<String, Outstanding>,
    outcome: &mut Outcome,
) -> Result<(), String> {
    let now = Instant::now();
    let mut abandoned = Vec::new();
    for (cookie, o) in outstanding.iter_mut() {
        if now.duration_since(o.last_sent) < REPLY_TIMEOUT {
            continue;
        }
        if o.attempts >= ATTEMPTS {
            abandoned.push(cookie.clone());
            continue;
        }
        socket
            .send_to(&o.datagram, engine)
            .map_err(|e| format!("ng send: {e}"))?;
        o.attempts += 1;
        o.last_sent = now;
        outcome.retransmissions += 1;
    }
    for cookie in abandoned {
        outstanding.remove(&cookie);
        outcome.timeouts += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let mut outcome = Outcome::default();
        outcome
            .latency_us
            .insert(Stage::Offer, (1..=100).rev().collect());
        assert_eq!(outcome.latency_quantile_us(Stage::Offer, 0.5), Some(51));
        assert_eq!(outcome.latency_quantile_us(Stage::Offer, 0.99), Some(99));
        assert_eq!(outcome.latency_quantile_us(Stage::Offer, 1.0), Some(100));
        assert_eq!(outcome.latency_quantile_us(Stage::Delete, 0.5), None);
    }

    #[test]
    fn engines_off_loopback_are_refused() {
        let plan = Plan {
            engine: "192.0.2.1:2223".parse().unwrap(),
            calls: 1,
            in_flight: 1,
            codec: CodecRequest::Keep,
            callee: SdpCodec::pcmu(),
        };
        assert!(run(&plan).is_err());
    }
}
