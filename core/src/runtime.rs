//! The public Rust API of the media runtime, used by the server and by tests: start N pinned
//! workers over UDP or io_uring (or any backend), create and remove sessions, join conference rooms,
//! subscribe to events, read worker metrics.
//!
//! # Threads
//!
//! - **Workers**: one thread per worker, pinned to a core of the process's CPU set (pinning is
//!   skipped when the system refuses it, and reported in
//!   [`StatsSnapshot::pinned`]). Each builds its own backend on its thread (the UDP backend is
//!   not `Send`; its buffers land on the worker's NUMA node) and runs
//!   [`Worker::run`]: absolute-deadline 10 ms ticks.
//! - **The pump**: one control-plane thread that drains every worker's notice ring every
//!   10 ms: events go to subscribers, retired session state is freed, and a reply whose
//!   caller gave up is undone.
//! - **Callers**: any thread. Building a session ([`PreparedSession::new`]) happens on the
//!   caller's thread; then a command goes to the worker's ring (under a control-plane mutex
//!   that the worker never sees), the worker's doorbell rings (a sleeping worker applies
//!   it at once, not at its next tick) and the caller waits for the reply, at most
//!   [`RuntimeConfig::reply_timeout`]. A full ring is [`RuntimeError::QueueFull`] at once.
//!   A worker that replies rings the callers' reply [`Doorbell`]; a waiting caller drains
//!   the notice rings itself (each under a control-plane mutex, so notices keep their order
//!   whoever reads them), rather than being woken by the pump: one thread switch less per
//!   request. A request costs tens of µs of waiting, so commands issued one after another
//!   run by the thousand per second.
//!
//! # Example
//!
//! ```no_run
//! use tandem_core::runtime::{Runtime, RuntimeConfig};
//! use tandem_core::session::{CodecSpec, LegSpec, SessionSpec};
//!
//! let runtime = Runtime::start(RuntimeConfig::default())?;
//! let events = runtime.subscribe();
//! let call = runtime.create_session(&SessionSpec::Relay {
//!     a: LegSpec::new(CodecSpec::PCMU),
//!     b: LegSpec::new(CodecSpec::PCMU),
//! })?;
//! println!("answer with ports {:?}", call.legs);
//! for event in events.try_iter() {
//!     println!("{event:?}");
//! }
//! runtime.remove_session(call.id)?;
//! # Ok::<(), tandem_core::runtime::RuntimeError>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use tandem_drivers::ConfigError;
use tandem_drivers::packet::kernel::{IoKind, KernelIo};
use tandem_drivers::packet::udp::UdpConfig;
use tandem_drivers::packet::{PacketIo, PortRange};

use crate::bus::doorbell::monotonic_now_ns;
use crate::bus::{
    Command, CommandError, Consumer, Digits, Doorbell, Event, LegPorts, Notice, Producer, Reply,
    RequestId,
};
use crate::recording::{
    Recorder, RecordingError, RecordingHandle, RecordingId, RecordingReport, RecordingSpec,
};
use crate::session::{
    ConferenceSpec, ControlChange, LegControls, LegId, LegReport, LegSpec, PreparedMember,
    PreparedSession, SessionError, SessionId, SessionSpec,
};
use crate::worker::placement;
use crate::worker::{
    ArrivalClock, StatsSnapshot, TICK, Worker, WorkerConfig, WorkerControl, WorkerStats,
};

/// How the runtime is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Media workers (default: one per available core).
    pub workers: usize,
    /// Address the media sockets bind (default 127.0.0.1).
    pub bind: IpAddr,
    /// The kernel-socket backend of [`Runtime::start`] (default UDP batch I/O; io_uring falls
    /// back to it where the kernel refuses, see [`Runtime::io_fallbacks`]).
    pub io: IoKind,
    /// The media port range, split evenly between workers (default 20000–29999).
    pub ports: PortRange,
    /// Pin each worker to a core (default on; skipped where not permitted).
    pub pin: bool,
    /// Run each worker thread `SCHED_FIFO` at this priority (1–99; default `None`: normal
    /// scheduling). Refused without the privilege: the worker runs anyway and
    /// [`StatsSnapshot::realtime`] says false. See [`crate::worker::priority`].
    pub realtime_priority: Option<u8>,
    /// The tick quantum (default 10 ms; sessions assume 10 ms frames).
    pub tick: Duration,
    /// How long a caller waits for a worker's reply (default 2 s).
    pub reply_timeout: Duration,
    /// Sizing of each worker (its `index` is set per worker).
    pub worker: WorkerConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            io: IoKind::Udp,
            ports: PortRange::DEFAULT,
            pin: true,
            realtime_priority: None,
            tick: TICK,
            reply_timeout: Duration::from_secs(2),
            worker: WorkerConfig::new(0),
        }
    }
}

/// What went wrong, classified by what the caller does next.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The session or leg cannot be built as described (reject the offer: 488).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The worker's command ring is full: the worker is overloaded or stalled. Nothing was
    /// queued; retry later or reject the call (503).
    #[error("the command queue of worker {worker} is full")]
    QueueFull {
        /// The worker.
        worker: usize,
    },
    /// The worker refused the command (ports exhausted, room full, unknown session...).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The worker did not answer in time (it is stalled); the command may still be applied,
    /// in which case the runtime undoes it.
    #[error("worker {worker} did not answer within the reply timeout")]
    Timeout {
        /// The worker.
        worker: usize,
    },
    /// No such session in this runtime.
    #[error("no session {0:?}")]
    UnknownSession(SessionId),
    /// The session is not a conference room.
    #[error("session {0:?} is not a conference room")]
    NotAConference(SessionId),
    /// A recording cannot start (its file cannot be created...).
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// Digits other than `0-9 * # A-D`, or too many at once.
    #[error("invalid DTMF digit string")]
    InvalidDigits,
    /// A worker's backend could not be set up.
    #[error("worker {worker}: {error}")]
    Backend {
        /// The worker.
        worker: usize,
        /// Why.
        error: ConfigError,
    },
    /// A worker thread could not be started.
    #[error("starting worker {worker} failed: {reason}")]
    Thread {
        /// The worker.
        worker: usize,
        /// Why.
        reason: String,
    },
}

/// A created session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHandle {
    /// Its id.
    pub id: SessionId,
    /// The worker it runs on.
    pub worker: usize,
    /// Its legs' local ports, for the SDP answer (none for a conference room).
    pub legs: Vec<LegPorts>,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    worker: usize,
    cost: u32,
    room: Option<ConferenceSpec>,
    next_leg: u32,
}

#[derive(Debug)]
struct WorkerLink {
    commands: Mutex<Producer<Command>>,
    /// Rung after each command.
    bell: Arc<Doorbell>,
    stats: Arc<WorkerStats>,
}

#[derive(Debug, Default)]
struct Replies {
    ready: HashMap<RequestId, Reply>,
    waiting: HashSet<RequestId>,
}

#[derive(Debug)]
struct Shared {
    workers: Vec<WorkerLink>,
    /// Each worker's notice ring, read by the pump and by callers waiting for replies.
    notices: Vec<Mutex<Consumer<Notice>>>,
    replies: Mutex<Replies>,
    /// Rung by the workers when they queue replies, and by whoever files a reply in
    /// `replies`: callers waiting for one sleep on it.
    reply_bell: Arc<Doorbell>,
    subscribers: Mutex<Vec<mpsc::Sender<Event>>>,
    stop_pump: AtomicBool,
    /// Rung to stop the pump.
    pump_bell: Doorbell,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn send(&self, worker: usize, command: Command) -> Result<(), RuntimeError> {
        let link = &self.workers[worker];
        lock(&link.commands)
            .push(command)
            .map_err(|_| RuntimeError::QueueFull { worker })?;
        link.bell.ring();
        Ok(())
    }

    /// Reads every notice ring and handles what it holds; true if there was anything. A ring
    /// another thread is reading is waited for (briefly: handling a notice never blocks), so
    /// that a reply queued just after that thread emptied the ring is not left for the
    /// pump's next poll.
    fn drain_notices(&self) -> bool {
        let mut any = false;
        for (worker, ring) in self.notices.iter().enumerate() {
            let mut ring = lock(ring);
            // Handled under the ring's lock, so that notices keep their order.
            while let Some(notice) = ring.pop() {
                any = true;
                handle_notice(self, worker, notice);
            }
        }
        any
    }
}

/// The media runtime. See the module docs. Dropping it stops the workers.
#[derive(Debug)]
pub struct Runtime {
    config: RuntimeConfig,
    shared: Arc<Shared>,
    sessions: Mutex<HashMap<SessionId, Record>>,
    /// Placement cost of each conference leg, refunded when it leaves.
    leg_costs: Mutex<HashMap<(SessionId, LegId), u32>>,
    next_session: AtomicU64,
    next_request: AtomicU64,
    next_recording: AtomicU64,
    recorder: Recorder,
    stop_workers: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pump: Option<JoinHandle<()>>,
    io_fallbacks: Vec<(usize, ConfigError)>,
}

/// The `index`-th CPU of the process's CPU set, if it can be read.
fn cpu_for(index: usize) -> Option<usize> {
    let allowed = sched_getaffinity(Pid::from_raw(0)).ok()?;
    let cpus: Vec<usize> = (0..CpuSet::count())
        .filter(|&c| allowed.is_set(c).unwrap_or(false))
        .collect();
    cpus.get(index % cpus.len().max(1)).copied()
}

/// Pins the calling thread to one CPU; false when not permitted.
fn pin_current_thread(index: usize) -> bool {
    let Some(cpu) = cpu_for(index) else {
        return false;
    };
    let mut set = CpuSet::new();
    set.set(cpu).is_ok() && sched_setaffinity(Pid::from_raw(0), &set).is_ok()
}

impl Runtime {
    /// Starts `config.workers` workers on the kernel-socket backend `config.io` (UDP batch
    /// or io_uring), each on its share of `config.ports` bound to `config.bind`. A worker
    /// whose io_uring cannot be set up runs on UDP instead; [`Runtime::io_fallbacks`] says
    /// which and why.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Backend`] when the port range cannot be split or a backend cannot be
    /// built; [`RuntimeError::Thread`] when a thread cannot be started.
    pub fn start(mut config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let workers = config.workers.max(1);
        // Kernel receive timestamps give packets their real arrival times (see
        // `ArrivalClock`): the jitter buffers then measure the network, not the worker.
        config.worker.arrival_clock = ArrivalClock::Kernel;
        let (bind, ports, kind) = (config.bind, config.ports, config.io);
        let fallbacks = Arc::new(Mutex::new(Vec::new()));
        let noted = Arc::clone(&fallbacks);
        let mut runtime = Self::start_with(config, move |index| {
            let backend = |error| RuntimeError::Backend {
                worker: index,
                error,
            };
            let share = ports.split(workers, index).map_err(backend)?;
            let mut socket = UdpConfig::new(bind, share);
            socket.rx_timestamps = true;
            let (io, fallback) = KernelIo::open(kind, socket).map_err(backend)?;
            if let Some(reason) = fallback {
                lock(&noted).push((index, reason));
            }
            Ok(io)
        })?;
        runtime.io_fallbacks = std::mem::take(&mut *lock(&fallbacks));
        Ok(runtime)
    }

    /// Workers that were asked for io_uring but run on UDP, with the kernel's reason (for
    /// the start-up log). Empty for runtimes not started by [`Runtime::start`].
    pub fn io_fallbacks(&self) -> &[(usize, ConfigError)] {
        &self.io_fallbacks
    }

    /// Starts `config.workers` workers, each on the backend `backend(index)` builds on the
    /// worker's own thread (the loopback network in tests, a capture or fault wrapper...).
    ///
    /// # Errors
    ///
    /// The first error of a backend, or [`RuntimeError::Thread`].
    pub fn start_with<B, F>(config: RuntimeConfig, backend: F) -> Result<Self, RuntimeError>
    where
        B: PacketIo + 'static,
        F: Fn(usize) -> Result<B, RuntimeError> + Send + Sync + 'static,
    {
        let count = config.workers.max(1);
        let backend = Arc::new(backend);
        let stop_workers = Arc::new(AtomicBool::new(false));
        let wallclock_unix_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let reply_bell = Arc::new(Doorbell::new());
        let mut threads = Vec::with_capacity(count);
        let mut controls: Vec<WorkerControl> = Vec::with_capacity(count);
        let mut failure = None;
        for index in 0..count {
            let (ready_tx, ready_rx) = mpsc::channel::<Result<WorkerControl, RuntimeError>>();
            let backend = Arc::clone(&backend);
            let stop = Arc::clone(&stop_workers);
            let worker_config = WorkerConfig {
                index,
                wallclock_unix_us,
                ..config.worker
            };
            let (pin, tick, realtime) = (config.pin, config.tick, config.realtime_priority);
            let reply_bell = Arc::clone(&reply_bell);
            let spawned = std::thread::Builder::new()
                .name(format!("tandem-media-{index}"))
                .spawn(move || {
                    let pinned = pin && pin_current_thread(index);
                    let realtime = realtime.is_some_and(|priority| {
                        crate::worker::priority::make_current_thread_realtime(priority).is_ok()
                    });
                    crate::worker::fpu::flush_subnormals_to_zero();
                    let io = match backend(index) {
                        Ok(io) => io,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                    let (mut worker, control) = Worker::new(worker_config, io);
                    worker.ring_on_reply(reply_bell);
                    worker.stats().set_pinned(pinned);
                    worker.stats().set_realtime(realtime);
                    if ready_tx.send(Ok(control)).is_err() {
                        return;
                    }
                    worker.run(tick, &stop);
                });
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    failure = Some(RuntimeError::Thread {
                        worker: index,
                        reason: e.to_string(),
                    });
                    break;
                }
            }
            match ready_rx.recv() {
                Ok(Ok(control)) => controls.push(control),
                Ok(Err(error)) => {
                    failure = Some(error);
                    break;
                }
                Err(_) => {
                    failure = Some(RuntimeError::Thread {
                        worker: index,
                        reason: "the worker thread ended during start-up".into(),
                    });
                    break;
                }
            }
        }
        if let Some(error) = failure {
            stop_workers.store(true, Ordering::Relaxed);
            for thread in threads {
                let _ = thread.join();
            }
            return Err(error);
        }
        let mut notices = Vec::with_capacity(count);
        let mut workers = Vec::with_capacity(count);
        for control in controls {
            let parts = control.into_parts();
            notices.push(Mutex::new(parts.notices));
            let (commands, bell, stats) = (parts.commands, parts.bell, parts.stats);
            workers.push(WorkerLink {
                commands: Mutex::new(commands),
                bell,
                stats,
            });
        }
        let shared = Arc::new(Shared {
            workers,
            notices,
            replies: Mutex::new(Replies::default()),
            reply_bell,
            subscribers: Mutex::new(Vec::new()),
            stop_pump: AtomicBool::new(false),
            pump_bell: Doorbell::new(),
        });
        let recorder = Recorder::start().map_err(|e| RuntimeError::Thread {
            worker: usize::MAX,
            reason: e.to_string(),
        })?;
        let pump_shared = Arc::clone(&shared);
        let pump = std::thread::Builder::new()
            .name("tandem-media-pump".into())
            .spawn(move || pump(&pump_shared))
            .map_err(|e| RuntimeError::Thread {
                worker: usize::MAX,
                reason: e.to_string(),
            })?;
        Ok(Self {
            config,
            shared,
            sessions: Mutex::new(HashMap::new()),
            leg_costs: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            next_request: AtomicU64::new(1),
            next_recording: AtomicU64::new(1),
            recorder,
            stop_workers,
            threads,
            pump: Some(pump),
            io_fallbacks: Vec::new(),
        })
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.shared.workers.len()
    }

    /// Each worker's metrics.
    pub fn worker_stats(&self) -> Vec<StatsSnapshot> {
        self.shared
            .workers
            .iter()
            .map(|w| w.stats.snapshot())
            .collect()
    }

    /// A new subscription to every event of every session. Events are delivered in order per
    /// worker; a subscriber that stops reading keeps them queued on the control plane (the
    /// workers are never affected). Drop the receiver to unsubscribe.
    pub fn subscribe(&self) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    fn request(&self) -> RequestId {
        let id = RequestId(self.next_request.fetch_add(1, Ordering::Relaxed));
        lock(&self.shared.replies).waiting.insert(id);
        id
    }

    fn forget(&self, request: RequestId) {
        let mut replies = lock(&self.shared.replies);
        replies.waiting.remove(&request);
        replies.ready.remove(&request);
    }

    fn wait(&self, request: RequestId, worker: usize) -> Result<Reply, RuntimeError> {
        let deadline = monotonic_now_ns() + self.config.reply_timeout.as_nanos() as u64;
        loop {
            // Read before looking: a reply filed after the look rings a bell this sleep hears.
            let seen = self.shared.reply_bell.rings();
            self.shared.drain_notices();
            let mut replies = lock(&self.shared.replies);
            if let Some(reply) = replies.ready.remove(&request) {
                replies.waiting.remove(&request);
                return Ok(reply);
            }
            if monotonic_now_ns() >= deadline {
                replies.waiting.remove(&request);
                return Err(RuntimeError::Timeout { worker });
            }
            drop(replies);
            self.shared.reply_bell.sleep_until(seen, deadline);
        }
    }

    fn record(&self, id: SessionId) -> Result<Record, RuntimeError> {
        lock(&self.sessions)
            .get(&id)
            .copied()
            .ok_or(RuntimeError::UnknownSession(id))
    }

    /// Builds a session on this thread, places it on the least-loaded worker and waits for
    /// its ports.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Session`] for a description that cannot work,
    /// [`RuntimeError::QueueFull`], [`RuntimeError::Command`] (ports exhausted...),
    /// [`RuntimeError::Timeout`].
    pub fn create_session(&self, spec: &SessionSpec) -> Result<SessionHandle, RuntimeError> {
        let id = SessionId(self.next_session.fetch_add(1, Ordering::Relaxed));
        let session = Box::new(PreparedSession::new(id, spec)?);
        let cost = session.cost();
        let room = session.conference().copied();
        let worker =
            placement::place(self.shared.workers.iter().map(|w| &*w.stats), cost).unwrap_or(0);
        let stats = &self.shared.workers[worker].stats;
        let request = self.request();
        if let Err(e) = self
            .shared
            .send(worker, Command::Install { request, session })
        {
            self.forget(request);
            placement::release(stats, cost);
            return Err(e);
        }
        match self.wait(request, worker) {
            Ok(Reply::Installed { legs, .. }) => {
                lock(&self.sessions).insert(
                    id,
                    Record {
                        worker,
                        cost,
                        room,
                        next_leg: 0,
                    },
                );
                Ok(SessionHandle {
                    id,
                    worker,
                    legs: legs.into_iter().flatten().collect(),
                })
            }
            Ok(Reply::Failed(error)) => {
                placement::release(stats, cost);
                Err(RuntimeError::Command(error))
            }
            Ok(_) => {
                placement::release(stats, cost);
                Err(RuntimeError::Timeout { worker })
            }
            Err(e) => {
                // Whoever reads the late reply (the pump, or a caller waiting for its own)
                // removes the session if the worker installs it after all.
                placement::release(stats, cost);
                Err(e)
            }
        }
    }

    /// Replaces a running relay, transcode, echo or play session by one built from `spec`,
    /// on the same worker and the same ports (the legs keep their port pairs, index for
    /// index), and waits for the worker. Each leg continues its RTP stream towards its peer
    /// (same SSRC, next sequence number, timestamps following real time, the marker bit on
    /// the first packet) unless its RTP clock rate changed; receive state and counters carry
    /// on for a peer at the same address. Used where ports must be advertised before the media is known (an ng `offer`
    /// allocates them, its `answer` says which codecs run).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::Session`], [`RuntimeError::QueueFull`],
    /// [`RuntimeError::Command`] (a conference, or a different leg count: the old session
    /// keeps running), [`RuntimeError::Timeout`] (the runtime then removes the session if
    /// the worker replaced it after all).
    pub fn replace_session(
        &self,
        id: SessionId,
        spec: &SessionSpec,
    ) -> Result<SessionHandle, RuntimeError> {
        let record = self.record(id)?;
        let session = Box::new(PreparedSession::new(id, spec)?);
        let cost = session.cost();
        let stats = &self.shared.workers[record.worker].stats;
        let request = self.request();
        if let Err(e) = self
            .shared
            .send(record.worker, Command::Replace { request, session })
        {
            self.forget(request);
            return Err(e);
        }
        match self.wait(request, record.worker)? {
            Reply::Installed { legs, .. } => {
                placement::release(stats, record.cost);
                placement::charge(stats, cost);
                if let Some(r) = lock(&self.sessions).get_mut(&id) {
                    r.cost = cost;
                }
                Ok(SessionHandle {
                    id,
                    worker: record.worker,
                    legs: legs.into_iter().flatten().collect(),
                })
            }
            Reply::Failed(error) => Err(RuntimeError::Command(error)),
            _ => Err(RuntimeError::Timeout {
                worker: record.worker,
            }),
        }
    }

    /// Stops a session, closes its ports, and waits for the worker to confirm.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::QueueFull`],
    /// [`RuntimeError::Timeout`].
    pub fn remove_session(&self, id: SessionId) -> Result<(), RuntimeError> {
        let record = self.record(id)?;
        let request = self.request();
        if let Err(e) = self.shared.send(
            record.worker,
            Command::Remove {
                request: Some(request),
                session: id,
            },
        ) {
            self.forget(request);
            return Err(e);
        }
        lock(&self.sessions).remove(&id);
        let stats = &self.shared.workers[record.worker].stats;
        placement::release(stats, record.cost);
        lock(&self.leg_costs).retain(|&(session, _), cost| {
            if session == id {
                placement::release(stats, *cost);
            }
            session != id
        });
        match self.wait(request, record.worker)? {
            Reply::Failed(error) => Err(RuntimeError::Command(error)),
            _ => Ok(()),
        }
    }

    /// Adds a leg to conference room `room`, on the room's worker. Returns the leg's ports.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::NotAConference`],
    /// [`RuntimeError::Session`], [`RuntimeError::QueueFull`], [`RuntimeError::Command`]
    /// (room full, ports exhausted), [`RuntimeError::Timeout`].
    pub fn join(&self, room: SessionId, spec: &LegSpec) -> Result<LegPorts, RuntimeError> {
        let (record, leg) = {
            let mut sessions = lock(&self.sessions);
            let record = sessions
                .get_mut(&room)
                .ok_or(RuntimeError::UnknownSession(room))?;
            let leg = LegId(record.next_leg);
            record.next_leg += 1;
            (*record, leg)
        };
        let room_spec = record.room.ok_or(RuntimeError::NotAConference(room))?;
        let member = Box::new(PreparedMember::new(room, leg, spec, &room_spec)?);
        let cost = member.cost();
        let stats = &self.shared.workers[record.worker].stats;
        let request = self.request();
        if let Err(e) = self.shared.send(
            record.worker,
            Command::Join {
                request,
                session: room,
                member,
            },
        ) {
            self.forget(request);
            return Err(e);
        }
        match self.wait(request, record.worker)? {
            Reply::Joined { leg, .. } => {
                placement::charge(stats, cost);
                lock(&self.leg_costs).insert((room, leg.leg), cost);
                Ok(leg)
            }
            Reply::Failed(error) => Err(RuntimeError::Command(error)),
            _ => Err(RuntimeError::Timeout {
                worker: record.worker,
            }),
        }
    }

    /// Removes a leg from its room.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::QueueFull`],
    /// [`RuntimeError::Command`], [`RuntimeError::Timeout`].
    pub fn leave(&self, room: SessionId, leg: LegId) -> Result<(), RuntimeError> {
        let record = self.record(room)?;
        let request = self.request();
        if let Err(e) = self.shared.send(
            record.worker,
            Command::Leave {
                request: Some(request),
                session: room,
                leg,
            },
        ) {
            self.forget(request);
            return Err(e);
        }
        match self.wait(request, record.worker)? {
            Reply::Failed(error) => Err(RuntimeError::Command(error)),
            _ => {
                if let Some(cost) = lock(&self.leg_costs).remove(&(room, leg)) {
                    placement::release(&self.shared.workers[record.worker].stats, cost);
                }
                Ok(())
            }
        }
    }

    /// Tells a leg that its peer moved (re-INVITE). Fire and forget.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::QueueFull`].
    pub fn set_remote(
        &self,
        session: SessionId,
        leg: LegId,
        remote: SocketAddr,
    ) -> Result<(), RuntimeError> {
        let record = self.record(session)?;
        self.shared.send(
            record.worker,
            Command::SetRemote {
                session,
                leg,
                remote,
            },
        )
    }

    /// Sends DTMF into a leg. Fire and forget.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::InvalidDigits`], [`RuntimeError::UnknownSession`],
    /// [`RuntimeError::QueueFull`].
    pub fn send_digits(
        &self,
        session: SessionId,
        leg: LegId,
        digits: &str,
    ) -> Result<(), RuntimeError> {
        let digits = Digits::new(digits).ok_or(RuntimeError::InvalidDigits)?;
        let record = self.record(session)?;
        self.shared.send(
            record.worker,
            Command::SendDigits {
                session,
                leg,
                digits,
            },
        )
    }

    /// Changes some of a leg's media controls (hold, mute, block) and returns them as they
    /// are after the change. Waits for the worker, like the other requests.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::QueueFull`],
    /// [`RuntimeError::Command`] (no such leg), [`RuntimeError::Timeout`].
    pub fn set_leg_controls(
        &self,
        session: SessionId,
        leg: LegId,
        change: ControlChange,
    ) -> Result<LegControls, RuntimeError> {
        let record = self.record(session)?;
        let request = self.request();
        if let Err(e) = self.shared.send(
            record.worker,
            Command::SetLegControls {
                request,
                session,
                leg,
                change,
            },
        ) {
            self.forget(request);
            return Err(e);
        }
        match self.wait(request, record.worker)? {
            Reply::Controls(controls) => Ok(controls),
            Reply::Failed(error) => Err(RuntimeError::Command(error)),
            _ => Err(RuntimeError::Timeout {
                worker: record.worker,
            }),
        }
    }

    /// Plays `source` towards leg `leg` of transcoding session `session`, `repeat_times`
    /// times, in place of what the other side says (see
    /// [`announcement`](crate::session::announcement)); `rate_hz` is the session's
    /// processing rate ([`Transcode::rate_for`](crate::session::transcode::Transcode::rate_for)
    /// of its legs). Renders on this thread. Returns how long it plays, ms.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::Session`] (unreadable file...),
    /// [`RuntimeError::QueueFull`], [`RuntimeError::Command`] (no such leg; not a
    /// transcoder or another rate: `WrongKind`), [`RuntimeError::Timeout`].
    pub fn announce(
        &self,
        session: SessionId,
        leg: LegId,
        source: &crate::session::PlaySource,
        repeat_times: u32,
        rate_hz: u32,
    ) -> Result<u64, RuntimeError> {
        let record = self.record(session)?;
        let announcement = Box::new(crate::session::Announcement::new(
            source,
            rate_hz,
            repeat_times,
        )?);
        let duration_ms = announcement.duration_ms();
        let request = self.request();
        self.call(
            record.worker,
            request,
            Command::Announce {
                request,
                session,
                leg,
                announcement,
            },
        )?;
        Ok(duration_ms)
    }

    /// Stops the announcement towards a leg.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::QueueFull`],
    /// [`RuntimeError::Command`] (`NothingPlaying`, no such leg), [`RuntimeError::Timeout`].
    pub fn stop_announcement(&self, session: SessionId, leg: LegId) -> Result<(), RuntimeError> {
        let record = self.record(session)?;
        let request = self.request();
        self.call(
            record.worker,
            request,
            Command::StopAnnouncement {
                request,
                session,
                leg,
            },
        )
    }

    /// Starts recording a session into `spec.path` (see [`crate::recording`]): creates the
    /// file on this thread, attaches a tap on the session's worker and waits for it. The file
    /// is finished, and a [`RecordingReport`] sent to [`subscribe_recordings`]
    /// (Self::subscribe_recordings) subscribers, when the recording is stopped or the
    /// session removed.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::Recording`] (the file cannot be
    /// created), [`RuntimeError::QueueFull`], [`RuntimeError::Command`] (already recorded),
    /// [`RuntimeError::Timeout`]. On every error but a timeout no file is left behind.
    pub fn start_recording(
        &self,
        session: SessionId,
        spec: &RecordingSpec,
    ) -> Result<RecordingHandle, RuntimeError> {
        let record = self.record(session)?;
        let id = RecordingId(self.next_recording.fetch_add(1, Ordering::Relaxed));
        let (tap, pending) = self.recorder.open(id, session, spec)?;
        let request = self.request();
        if let Err(e) = self.shared.send(
            record.worker,
            Command::StartRecording {
                request,
                session,
                tap: Box::new(tap),
            },
        ) {
            self.forget(request);
            return Err(e);
        }
        let handle = RecordingHandle {
            id,
            session,
            path: spec.path.clone(),
        };
        match self.wait(request, record.worker) {
            Ok(Reply::Done) => {
                self.recorder.commit(pending)?;
                Ok(handle)
            }
            Ok(Reply::Failed(error)) => Err(RuntimeError::Command(error)),
            Ok(_) | Err(_) => {
                // The worker may attach the tap after all: let the recorder drain it.
                self.recorder.commit(pending)?;
                Err(RuntimeError::Timeout {
                    worker: record.worker,
                })
            }
        }
    }

    /// Pauses (`paused`) or resumes a session's recording; paused time is left out of the
    /// file.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::QueueFull`],
    /// [`RuntimeError::Command`] (not recorded), [`RuntimeError::Timeout`].
    pub fn pause_recording(&self, session: SessionId, paused: bool) -> Result<(), RuntimeError> {
        let record = self.record(session)?;
        let request = self.request();
        self.call(
            record.worker,
            request,
            Command::PauseRecording {
                request: Some(request),
                session,
                paused,
            },
        )
    }

    /// Stops a session's recording; the recorder then finishes the file and reports it.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::QueueFull`],
    /// [`RuntimeError::Command`] (not recorded), [`RuntimeError::Timeout`].
    pub fn stop_recording(&self, session: SessionId) -> Result<(), RuntimeError> {
        let record = self.record(session)?;
        let request = self.request();
        self.call(
            record.worker,
            request,
            Command::StopRecording {
                request: Some(request),
                session,
            },
        )
    }

    /// A new subscription to finished recordings. Drop the receiver to unsubscribe.
    pub fn subscribe_recordings(&self) -> mpsc::Receiver<RecordingReport> {
        self.recorder.subscribe()
    }

    /// Sends a command answered by `Done` and waits for it.
    fn call(
        &self,
        worker: usize,
        request: RequestId,
        command: Command,
    ) -> Result<(), RuntimeError> {
        if let Err(e) = self.shared.send(worker, command) {
            self.forget(request);
            return Err(e);
        }
        match self.wait(request, worker)? {
            Reply::Done => Ok(()),
            Reply::Failed(error) => Err(RuntimeError::Command(error)),
            _ => Err(RuntimeError::Timeout { worker }),
        }
    }

    /// One leg's statistics: counters, RFC 3550 receive figures, round-trip time. Waits for
    /// the worker, like the other requests.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownSession`], [`RuntimeError::QueueFull`],
    /// [`RuntimeError::Command`] (no such leg), [`RuntimeError::Timeout`].
    pub fn leg_report(&self, session: SessionId, leg: LegId) -> Result<LegReport, RuntimeError> {
        let record = self.record(session)?;
        let request = self.request();
        if let Err(e) = self.shared.send(
            record.worker,
            Command::QueryLeg {
                request,
                session,
                leg,
            },
        ) {
            self.forget(request);
            return Err(e);
        }
        match self.wait(request, record.worker)? {
            Reply::Leg(report) => Ok(*report),
            Reply::Failed(error) => Err(RuntimeError::Command(error)),
            _ => Err(RuntimeError::Timeout {
                worker: record.worker,
            }),
        }
    }

    /// Stops the workers (removing every session) and the pump, and waits for them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.stop_workers.store(true, Ordering::Relaxed);
        for link in &self.shared.workers {
            link.bell.ring();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.shared.stop_pump.store(true, Ordering::Relaxed);
        self.shared.pump_bell.ring();
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How often the pump looks at the notice rings: events (digits, talk detection, timeouts)
/// reach subscribers at most this much later (sooner when a caller waiting for a reply reads
/// them first).
const PUMP_POLL: Duration = Duration::from_millis(10);

/// The pump: drains every worker's notices until stopped (and then once more).
fn pump(shared: &Shared) {
    loop {
        let seen = shared.pump_bell.rings();
        let stopping = shared.stop_pump.load(Ordering::Relaxed);
        let any = shared.drain_notices();
        if stopping {
            return;
        }
        if !any {
            let deadline = monotonic_now_ns() + PUMP_POLL.as_nanos() as u64;
            shared.pump_bell.sleep_until(seen, deadline);
        }
    }
}

fn handle_notice(shared: &Shared, worker: usize, notice: Notice) {
    match notice {
        Notice::Event(event) => {
            lock(&shared.subscribers).retain(|s| s.send(event).is_ok());
        }
        Notice::Reply { request, reply } => {
            let mut replies = lock(&shared.replies);
            if replies.waiting.contains(&request) {
                replies.ready.insert(request, reply);
                drop(replies);
                shared.reply_bell.ring();
                return;
            }
            drop(replies);
            // Nobody waits any more (the caller timed out): undo what the worker did.
            let undo = match reply {
                Reply::Installed { session, .. } => Some(Command::Remove {
                    request: None,
                    session,
                }),
                Reply::Joined { session, leg } => Some(Command::Leave {
                    request: None,
                    session,
                    leg: leg.leg,
                }),
                _ => None,
            };
            if let Some(command) = undo {
                let _ = shared.send(worker, command);
            }
        }
        // Retired state is dropped here, off the media path.
        Notice::Retired(retired) => drop(retired),
    }
}
