//! The media worker: one per core, owning its sessions, its packet backend, its buffers and
//! pools, ticked every 10 ms.
//!
//! # A tick
//!
//! ```text
//! recv batches (<= MAX_RX_BATCHES_PER_TICK x MAX_BATCH datagrams)
//!   -> demux by SocketId through a preallocated table -> the leg's RTP / RTCP checks
//!   -> session packet handling (relays forward at once, decoders buffer)
//! every session's tick (decode, detect, mix, encode, RTCP, timeouts)
//! send the transmit queue in batches
//! apply <= MAX_COMMANDS_PER_TICK commands from the control plane
//! publish counters and the tick's cost
//! ```
//!
//! # Between ticks
//!
//! [`Worker::run`] sleeps towards the next deadline on the command ring's [`Doorbell`]: a
//! command queued meanwhile wakes it, and it is applied at once (at most
//! [`MAX_COMMANDS_PER_TICK`] per wake-up, the tick's deadline checked in between), its
//! reply on its way while the worker goes back to sleep towards the same deadline. A request
//! (an ng `offer`, a conference join) therefore waits for the worker's reply some tens of µs,
//! not up to a tick: issued one after another, commands used to run at about 60 a second.
//! Media is still only handled in ticks, so the media path is unchanged.
//!
//! # Contract
//!
//! - **Steady state allocates nothing, takes no lock and makes no system call** beyond the
//!   backend's batched I/O and the timer (the doorbell's futex wait; a command's reply adds
//!   one futex wake, control-plane traffic, never per packet): every buffer (receive array, transmit queue,
//!   demultiplexing table, session table) is sized in [`Worker::new`], and sessions arrive
//!   fully built ([`PreparedSession`]). `tests/worker_steady_state_allocates_nothing.rs`
//!   checks it with a failing allocator over thousands of ticks of a realistic mix.
//! - **Bounded work per tick**, by named constants: [`MAX_RX_BATCHES_PER_TICK`] receive
//!   batches, the transmit queue's capacity, [`MAX_COMMANDS_PER_TICK`] commands.
//! - **Shared-nothing**: the control plane reaches a worker only through its two rings
//!   ([`WorkerControl`]); removed state goes back through the notice ring to be freed there.
//! - **Time is an argument** of [`Worker::tick`]: the threaded runtime passes the
//!   absolute-deadline timer's time; tests drive a worker over the loopback backend in virtual
//!   time (manual-tick mode), deterministically.
//! - **Arrival times** ([`ArrivalClock`]): over kernel sockets, a packet's arrival is the
//!   kernel's receive timestamp, so the jitter buffers and RTCP's interarrival jitter see the
//!   network's timing, not the worker's. Stamped with the tick's time instead, every packet
//!   that waited in its socket through a slow tick (a busy worker, or a host that stalled the
//!   vCPU) would look delayed by the network, and the adaptive buffers would take the
//!   worker's own lateness for jitter and raise their delay. Backends without timestamps (and
//!   manual-tick tests) stamp packets with the tick's time, at its 10 ms resolution.
//! - **A tick visits only the sessions with work due**: each slot keeps the time its
//!   session next needs a tick ([`PreparedSession::tick_due_us`]: the next tick for those
//!   that code or play on the tick's clock; a relay's legs' next RTCP report or timeout), and
//!   the tick loop reads that compact array instead of every session. Whatever can bring the
//!   time forward refreshes it: a packet the session handled, any command finding it. A relay
//!   without packets (hold, DTX, a parked call) then costs its worker nothing between its RTCP
//!   reports (`cargo bench -p tandem-benches --bench worker`: a tick with 2,000 of them, 28 to
//!   49 µs before, 4 µs after).
//! - **A command finds its session in constant time**: an index from [`SessionId`] to slot,
//!   sized for twice the session table so that it never grows (a linear search read every
//!   session's heap allocation, a cache miss each, for every command: tens of µs per ng
//!   command on a worker with thousands of calls, spent inside its tick).

pub mod fpu;
pub mod placement;
pub mod priority;
pub mod stats;
pub mod tick;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tandem_drivers::packet::{
    MAX_BATCH, PACKET_BUF_BYTES, PacketBuf, PacketIo, PortPair, RecvMeta, Timestamp,
};

use crate::bus::{COMMAND_QUEUE_DEFAULT, Event, NOTICE_QUEUE_DEFAULT};
use crate::bus::{
    Command, CommandError, Consumer, Doorbell, EventKind, Full, LegPorts, Notice, Outbox, Producer,
    Reply, RequestId, Retired, channel,
};
use crate::recording::Tap;
use crate::rtp::rtcp::NtpTime;
use crate::session::Announcement;
use crate::session::{
    ControlChange, Ctx, LegControls, LegCounters, LegId, LegReport, PreparedMember,
    PreparedSession, SessionId,
};

pub use stats::{StatsSnapshot, TICK_COST_BUCKETS_US, WorkerStats};
pub use tick::{MAX_CATCH_UP, TICK, TICK_US, TickClock, TickInfo};

use stats::Totals;
use tick::TxQueue;

/// Most commands a worker applies in one batch: at the end of a tick, or at one wake-up
/// between ticks (then the tick's deadline is checked before the next batch). An install
/// opens two sockets (about 25 µs), so a full batch holds media back a millisecond or two at
/// most.
pub const MAX_COMMANDS_PER_TICK: usize = 64;
/// Most receive batches (of [`MAX_BATCH`] datagrams) per tick: 4096 datagrams, 400k per
/// second, beyond a core's budget for anything but relaying.
pub const MAX_RX_BATCHES_PER_TICK: usize = 128;
/// Default capacity of the transmit queue, datagrams per tick.
pub const TX_QUEUE_DEFAULT: usize = 4096;
/// Default size of the session table.
pub const MAX_SESSIONS_DEFAULT: usize = 4096;

/// How a worker is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerConfig {
    /// The worker's index (for logs and metrics).
    pub index: usize,
    /// Sessions the worker can hold.
    pub max_sessions: usize,
    /// Datagrams one tick can send.
    pub tx_queue: usize,
    /// Capacity of the command ring.
    pub command_queue: usize,
    /// Capacity of the notice ring.
    pub notice_queue: usize,
    /// Wallclock (µs since the Unix epoch) at worker time 0, for RTCP's NTP timestamps.
    pub wallclock_unix_us: u64,
    /// Where packets' arrival times come from.
    pub arrival_clock: ArrivalClock,
}

/// Where a worker takes a packet's arrival time from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArrivalClock {
    /// The tick's time (the deadline it serves): deterministic, 10 ms resolution.
    #[default]
    Tick,
    /// The backend's receive timestamp ([`RecvMeta::timestamp`]), read as wallclock since
    /// the UNIX epoch (`SO_TIMESTAMPNS`), mapped onto the worker's clock by [`Worker::run`]
    /// at every tick; the tick's time where a packet has none.
    Kernel,
}

/// How far a kernel timestamp may lie from the tick that reads it before it is distrusted
/// (a wallclock step): beyond, the packet is stamped with the tick's time.
const MAX_ARRIVAL_SKEW_US: u64 = 1_000_000;

impl WorkerConfig {
    /// Defaults for worker `index`, with a fixed wallclock origin (deterministic tests).
    pub const fn new(index: usize) -> Self {
        Self {
            index,
            max_sessions: MAX_SESSIONS_DEFAULT,
            tx_queue: TX_QUEUE_DEFAULT,
            command_queue: COMMAND_QUEUE_DEFAULT,
            notice_queue: NOTICE_QUEUE_DEFAULT,
            wallclock_unix_us: 1_767_225_600_000_000,
            arrival_clock: ArrivalClock::Tick,
        }
    }
}

/// Where a socket's datagrams go: a session slot and a leg routing index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Route {
    slot: u32,
    leg: u32,
    rtcp: bool,
}

impl Route {
    const NONE: Route = Route {
        slot: u32::MAX,
        leg: 0,
        rtcp: false,
    };
}

/// The control plane's end of a worker: commands in, notices out.
#[derive(Debug)]
pub struct WorkerControl {
    commands: Producer<Command>,
    /// Rung after each command, so that a sleeping worker applies it at once.
    bell: Arc<Doorbell>,
    notices: Consumer<Notice>,
    stats: Arc<WorkerStats>,
}

/// The control plane's end of a worker split by [`WorkerControl::into_parts`].
#[derive(Debug)]
pub struct ControlParts {
    /// Commands in: ring `bell` after each push.
    pub commands: Producer<Command>,
    /// The worker's doorbell.
    pub bell: Arc<Doorbell>,
    /// Notices out.
    pub notices: Consumer<Notice>,
    /// The worker's metrics.
    pub stats: Arc<WorkerStats>,
}

impl WorkerControl {
    /// Queues a command and rings the worker's doorbell. Never blocks.
    ///
    /// # Errors
    ///
    /// [`Full`] with the command when the ring is full: report it to the caller.
    pub fn send(&mut self, command: Command) -> Result<(), Full<Command>> {
        self.commands.push(command)?;
        self.bell.ring();
        Ok(())
    }

    /// The next notice from the worker, if any.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop()
    }

    /// The worker's metrics.
    pub fn stats(&self) -> &Arc<WorkerStats> {
        &self.stats
    }

    /// The command producer and doorbell, the notice consumer and the metrics, for a
    /// control plane that serves them from different threads.
    pub fn into_parts(self) -> ControlParts {
        ControlParts {
            commands: self.commands,
            bell: self.bell,
            notices: self.notices,
            stats: self.stats,
        }
    }
}

/// One media worker. See the module docs.
pub struct Worker<B: PacketIo> {
    config: WorkerConfig,
    io: B,
    rx_bufs: Vec<PacketBuf>,
    rx_meta: Vec<RecvMeta>,
    tx: TxQueue,
    routes: Box<[Route]>,
    sessions: Vec<Option<Box<PreparedSession>>>,
    /// Per slot, the worker time (µs) before which its session needs no tick; see "A tick
    /// visits only the sessions with work due" above. 0 for empty slots.
    tick_due_us: Box<[u64]>,
    /// The slot of each installed session; see "A command finds its session" above.
    slots: HashMap<SessionId, u32>,
    free: Vec<u32>,
    commands: Consumer<Command>,
    /// Rung by the control plane after each command (see "Between ticks").
    bell: Arc<Doorbell>,
    /// Rung after replies were queued, when someone listens for them (the runtime's callers
    /// waiting for replies).
    reply_bell: Option<Arc<Doorbell>>,
    /// Replies queued since `reply_bell` was last rung.
    replies_unannounced: bool,
    out: Outbox,
    stats: Arc<WorkerStats>,
    totals: Totals,
    /// The tick slot the next installed session encodes in ([`PreparedSession::stagger`]).
    next_stagger: u32,
    /// Wallclock at worker time 0 as last measured by [`Worker::run`] (µs since the UNIX
    /// epoch), for [`ArrivalClock::Kernel`]; `None` until then (arrivals take the tick's time).
    unix_at_epoch_us: Option<u64>,
}

impl<B: PacketIo> std::fmt::Debug for Worker<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .field("sessions", &self.totals.sessions)
            .finish_non_exhaustive()
    }
}

impl<B: PacketIo> Worker<B> {
    /// A worker over `io`, and the control plane's end of its rings. Allocates every buffer
    /// the worker will use.
    pub fn new(config: WorkerConfig, io: B) -> (Self, WorkerControl) {
        let (command_tx, command_rx) = channel(config.command_queue.max(1));
        let (notice_tx, notice_rx) = channel(config.notice_queue.max(1));
        let stats = Arc::new(WorkerStats::default());
        let bell = Arc::new(Doorbell::new());
        let routes = vec![Route::NONE; io.socket_id_max()].into_boxed_slice();
        let worker = Self {
            config,
            io,
            rx_bufs: PacketBuf::new_vec(MAX_BATCH),
            rx_meta: RecvMeta::new_vec(MAX_BATCH),
            tx: TxQueue::new(config.tx_queue.max(1)),
            routes,
            sessions: (0..config.max_sessions).map(|_| None).collect(),
            tick_due_us: vec![0; config.max_sessions].into_boxed_slice(),
            // Twice the table: at most half full, the map rehashes in place when deletions
            // pile up, and never reallocates.
            slots: HashMap::with_capacity(2 * config.max_sessions),
            free: (0..config.max_sessions as u32).rev().collect(),
            commands: command_rx,
            bell: Arc::clone(&bell),
            reply_bell: None,
            replies_unannounced: false,
            out: Outbox::new(notice_tx),
            stats: Arc::clone(&stats),
            totals: Totals::default(),
            next_stagger: 0,
            unix_at_epoch_us: None,
        };
        let control = WorkerControl {
            commands: command_tx,
            bell,
            notices: notice_rx,
            stats,
        };
        (worker, control)
    }

    /// The worker's configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The packet backend.
    pub fn io(&self) -> &B {
        &self.io
    }

    /// The packet backend, mutably (tests inject traffic through it).
    pub fn io_mut(&mut self) -> &mut B {
        &mut self.io
    }

    /// The worker's metrics.
    pub fn stats(&self) -> &Arc<WorkerStats> {
        &self.stats
    }

    /// Rings `bell` whenever replies were queued (once per batch of commands), so that
    /// whoever waits on the notice ring for them can sleep instead of polling.
    pub fn ring_on_reply(&mut self, bell: Arc<Doorbell>) {
        self.reply_bell = Some(bell);
    }

    fn ntp(&self, now_us: u64) -> NtpTime {
        NtpTime::from_unix_micros(self.config.wallclock_unix_us.saturating_add(now_us))
    }

    /// Runs one tick at `now_us` (µs on the worker's clock). See the module docs. Never
    /// allocates once the sessions are installed.
    pub fn tick(&mut self, now_us: u64) {
        let started = Instant::now();
        let ntp = self.ntp(now_us);
        let stamp = Timestamp::from_micros(now_us);
        let arrivals = match (self.config.arrival_clock, self.unix_at_epoch_us) {
            (ArrivalClock::Kernel, Some(unix_at_epoch_us)) => Some(unix_at_epoch_us),
            _ => None,
        };
        let Self {
            io,
            rx_bufs,
            rx_meta,
            tx,
            routes,
            sessions,
            tick_due_us,
            out,
            totals,
            ..
        } = self;
        // 1. Receive and demultiplex.
        for _ in 0..MAX_RX_BATCHES_PER_TICK {
            let n = match io.recv_batch(stamp, rx_bufs, rx_meta) {
                Ok(n) => n,
                Err(_) => {
                    totals.io_errors += 1;
                    0
                }
            };
            for (buf, meta) in rx_bufs.iter_mut().zip(rx_meta.iter()).take(n) {
                totals.rx_packets += 1;
                if meta.truncated {
                    totals.rx_truncated += 1;
                    continue;
                }
                let route = routes
                    .get(meta.socket.index())
                    .copied()
                    .unwrap_or(Route::NONE);
                let slot = route.slot as usize;
                let (Some(Some(session)), Some(due)) =
                    (sessions.get_mut(slot), tick_due_us.get_mut(slot))
                else {
                    totals.rx_unrouted += 1;
                    continue;
                };
                let mut ctx = Ctx {
                    now_us,
                    arrival_us: arrival_us(arrivals, meta.timestamp, now_us),
                    ntp,
                    session: session.id(),
                    tx,
                    out,
                    tap: None,
                    playout: &mut totals.playout,
                };
                let datagram = &mut buf.bytes_mut()[..meta.len.min(PACKET_BUF_BYTES)];
                if route.rtcp {
                    session.handle_rtcp(route.leg as usize, &mut ctx, meta.source, datagram);
                } else {
                    session.handle_rtp(route.leg as usize, &mut ctx, meta.source, datagram);
                }
                *due = (*due).min(session.tick_due_us());
            }
            if n < rx_bufs.len() {
                break;
            }
        }
        // 2. Session ticks, where due.
        for (session, due) in sessions.iter_mut().zip(tick_due_us.iter_mut()) {
            if *due > now_us {
                continue;
            }
            let Some(session) = session else { continue };
            let mut ctx = Ctx {
                now_us,
                arrival_us: now_us,
                ntp,
                session: session.id(),
                tx,
                out,
                tap: None,
                playout: &mut totals.playout,
            };
            session.tick(&mut ctx);
            *due = session.tick_due_us();
        }
        // 3. Send.
        let (sent, dropped, errors) = tx.flush(io, stamp);
        totals.tx_packets += sent;
        totals.tx_dropped += dropped + std::mem::take(&mut tx.full_drops);
        totals.io_errors += errors;
        // 4. Commands.
        self.apply_queued(now_us);
        // 5. Publish.
        self.totals.events_dropped = self.out.dropped;
        let cost = started.elapsed().as_nanos() as u64;
        self.stats.record_tick(cost, &self.totals);
    }

    /// Applies up to [`MAX_COMMANDS_PER_TICK`] queued commands at `now_us`, then rings the
    /// reply bell if any of them replied.
    fn apply_queued(&mut self, now_us: u64) {
        for _ in 0..MAX_COMMANDS_PER_TICK {
            let Some(command) = self.commands.pop() else {
                break;
            };
            self.apply(now_us, command);
        }
        if std::mem::take(&mut self.replies_unannounced) {
            if let Some(bell) = &self.reply_bell {
                bell.ring();
            }
        }
    }

    /// Applies one command now, as the tick does for queued ones: replies and retired state
    /// go to the notice ring.
    pub fn apply(&mut self, now_us: u64, command: Command) {
        self.totals.commands += 1;
        let (request, reply) = match command {
            Command::Install { request, session } => {
                let id = session.id();
                match self.install(now_us, session) {
                    Ok(legs) => (Some(request), Reply::Installed { session: id, legs }),
                    Err((error, session)) => {
                        self.out.notice(Notice::Retired(Retired::Session(session)));
                        (Some(request), Reply::Failed(error))
                    }
                }
            }
            Command::Replace { request, session } => {
                let id = session.id();
                match self.replace(now_us, session) {
                    Ok((legs, old)) => {
                        self.out.notice(Notice::Retired(Retired::Session(old)));
                        (Some(request), Reply::Installed { session: id, legs })
                    }
                    Err((error, session)) => {
                        self.out.notice(Notice::Retired(Retired::Session(session)));
                        (Some(request), Reply::Failed(error))
                    }
                }
            }
            Command::Remove { request, session } => match self.remove(now_us, session) {
                Ok(session) => {
                    self.out.notice(Notice::Retired(Retired::Session(session)));
                    (request, Reply::Done)
                }
                Err(error) => (request, Reply::Failed(error)),
            },
            Command::Join {
                request,
                session,
                member,
            } => match self.join(now_us, session, member) {
                Ok(leg) => (Some(request), Reply::Joined { session, leg }),
                Err((error, member)) => {
                    self.out.notice(Notice::Retired(Retired::Member(member)));
                    (Some(request), Reply::Failed(error))
                }
            },
            Command::Leave {
                request,
                session,
                leg,
            } => match self.leave(now_us, session, leg) {
                Ok(member) => {
                    self.out.notice(Notice::Retired(Retired::Member(member)));
                    (request, Reply::Done)
                }
                Err(error) => (request, Reply::Failed(error)),
            },
            Command::SetRemote {
                session,
                leg,
                remote,
            } => (None, Self::result(self.set_remote(session, leg, remote))),
            Command::SendDigits {
                session,
                leg,
                digits,
            } => (
                None,
                Self::result(self.send_digits(session, leg, digits.as_str())),
            ),
            Command::SetLegControls {
                request,
                session,
                leg,
                change,
            } => (
                Some(request),
                match self.set_leg_controls(now_us, session, leg, &change) {
                    Ok(controls) => Reply::Controls(controls),
                    Err(error) => Reply::Failed(error),
                },
            ),
            Command::Announce {
                request,
                session,
                leg,
                announcement,
            } => match self.announce(session, leg, announcement) {
                Ok(old) => {
                    if let Some(old) = old {
                        self.out.notice(Notice::Retired(Retired::Announcement(old)));
                    }
                    (Some(request), Reply::Done)
                }
                Err((error, announcement)) => {
                    self.out
                        .notice(Notice::Retired(Retired::Announcement(announcement)));
                    (Some(request), Reply::Failed(error))
                }
            },
            Command::StopAnnouncement {
                request,
                session,
                leg,
            } => match self.stop_announcement(session, leg) {
                Ok(old) => {
                    self.out.notice(Notice::Retired(Retired::Announcement(old)));
                    (Some(request), Reply::Done)
                }
                Err(error) => (Some(request), Reply::Failed(error)),
            },
            Command::StartRecording {
                request,
                session,
                tap,
            } => match self.start_recording(session, tap) {
                Ok(()) => (Some(request), Reply::Done),
                Err((error, tap)) => {
                    self.out.notice(Notice::Retired(Retired::Tap(tap)));
                    (Some(request), Reply::Failed(error))
                }
            },
            Command::PauseRecording {
                request,
                session,
                paused,
            } => (
                request,
                Self::result(self.pause_recording(now_us, session, paused)),
            ),
            Command::StopRecording { request, session } => match self.stop_recording(session) {
                Ok(tap) => {
                    self.out.notice(Notice::Retired(Retired::Tap(tap)));
                    (request, Reply::Done)
                }
                Err(error) => (request, Reply::Failed(error)),
            },
            Command::QueryLeg {
                request,
                session,
                leg,
            } => (
                Some(request),
                match self.leg_of(session, leg) {
                    Ok(_) => self.leg_report(session, leg).map_or(
                        Reply::Failed(CommandError::UnknownLeg { session, leg }),
                        |report| Reply::Leg(Box::new(report)),
                    ),
                    Err(error) => Reply::Failed(error),
                },
            ),
        };
        if let Reply::Failed(_) = reply {
            self.totals.commands_failed += 1;
        }
        if let Some(request) = request {
            self.reply(request, reply);
        }
    }

    fn result(result: Result<(), CommandError>) -> Reply {
        match result {
            Ok(()) => Reply::Done,
            Err(e) => Reply::Failed(e),
        }
    }

    /// Sends what is queued now (goodbyes of a leg whose ports are about to close).
    fn flush(&mut self, now_us: u64) {
        let (sent, dropped, errors) = self.tx.flush(&mut self.io, Timestamp::from_micros(now_us));
        self.totals.tx_packets += sent;
        self.totals.tx_dropped += dropped;
        self.totals.io_errors += errors;
    }

    fn reply(&mut self, request: RequestId, reply: Reply) {
        // Counted before the reply can be read: the ring's release orders the two.
        self.totals.events_dropped = self.out.dropped;
        self.stats.publish(&self.totals);
        self.out.notice(Notice::Reply { request, reply });
        self.replies_unannounced = true;
    }

    /// The slot of session `id`, for a command about it. Every command finds its session
    /// here, so this is also where the session is given the next tick: whatever the command
    /// changes, that tick works out when the session needs one after it.
    fn command_slot(&mut self, id: SessionId) -> Option<usize> {
        let slot = *self.slots.get(&id)? as usize;
        self.tick_due_us[slot] = 0;
        Some(slot)
    }

    /// Opens a pair, checking that the table can route it.
    fn open_pair(&mut self) -> Result<PortPair, CommandError> {
        let pair = self.io.open_pair()?;
        let max = self.routes.len();
        if pair.rtp.index() >= max || pair.rtcp.index() >= max {
            let _ = self.io.close_pair(pair);
            return Err(CommandError::SocketId(pair.rtp.get().max(pair.rtcp.get())));
        }
        Ok(pair)
    }

    fn route(&mut self, pair: PortPair, slot: usize, leg: usize) {
        self.routes[pair.rtp.index()] = Route {
            slot: slot as u32,
            leg: leg as u32,
            rtcp: false,
        };
        self.routes[pair.rtcp.index()] = Route {
            slot: slot as u32,
            leg: leg as u32,
            rtcp: true,
        };
    }

    fn close(&mut self, pair: PortPair) {
        self.routes[pair.rtp.index()] = Route::NONE;
        self.routes[pair.rtcp.index()] = Route::NONE;
        let _ = self.io.close_pair(pair);
        self.totals.legs = self.totals.legs.saturating_sub(1);
    }

    fn ports(&self, leg: LegId, pair: PortPair) -> LegPorts {
        LegPorts {
            leg,
            rtp: self.io.local_addr(pair.rtp).unwrap_or(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                pair.rtp_port,
            )),
            rtcp_port: pair.rtcp_port(),
        }
    }

    /// Installs a session: opens one port pair per leg and starts it. Returns the legs'
    /// ports. Makes syscalls (socket, bind) for the UDP backend; allocates nothing.
    ///
    /// # Errors
    ///
    /// [`CommandError`] with the session handed back, nothing left open.
    #[allow(clippy::result_large_err)]
    pub fn install(
        &mut self,
        now_us: u64,
        mut session: Box<PreparedSession>,
    ) -> Result<[Option<LegPorts>; 2], (CommandError, Box<PreparedSession>)> {
        if self.command_slot(session.id()).is_some() {
            return Err((CommandError::DuplicateSession(session.id()), session));
        }
        let Some(slot) = self.free.pop() else {
            let max = self.config.max_sessions;
            return Err((CommandError::SessionsFull { max }, session));
        };
        let slot = slot as usize;
        let mut legs = [None; 2];
        let mut opened: [Option<PortPair>; 2] = [None; 2];
        for index in 0..session.leg_count().min(2) {
            match self.open_pair() {
                Ok(pair) => {
                    opened[index] = Some(pair);
                    let id = LegId(index as u32);
                    legs[index] = Some(self.ports(id, pair));
                    let local = legs[index].map(|p: LegPorts| p.rtp);
                    if let Some(leg) = session.leg_mut(index) {
                        leg.install(now_us, pair, local);
                    }
                }
                Err(error) => {
                    for pair in opened.into_iter().flatten() {
                        let _ = self.io.close_pair(pair);
                    }
                    self.free.push(slot as u32);
                    return Err((error, session));
                }
            }
        }
        for (index, pair) in opened.into_iter().enumerate() {
            if let Some(pair) = pair {
                self.route(pair, slot, index);
                self.totals.legs += 1;
            }
        }
        self.stagger(&mut session);
        self.slots.insert(session.id(), slot as u32);
        self.tick_due_us[slot] = 0;
        self.sessions[slot] = Some(session);
        self.totals.sessions += 1;
        Ok(legs)
    }

    /// Spreads sessions' encodes over the ticks: each session installed takes the next slot.
    fn stagger(&mut self, session: &mut PreparedSession) {
        session.stagger(self.next_stagger);
        self.next_stagger = self.next_stagger.wrapping_add(1);
    }

    /// Replaces session `session.id()` by `session`, moving each leg's port pair (and so its
    /// routing, which names the slot and leg index) to the new session's leg at the same
    /// index, which continues the old leg's outgoing RTP stream (`Leg::continue_from`).
    /// Returns the legs' ports and the old session, to be freed off the worker.
    /// Allocates nothing and makes no system call.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`]; [`CommandError::WrongKind`] when either is a
    /// conference or their leg counts differ. The new session is handed back, the old one
    /// keeps running.
    #[allow(clippy::result_large_err, clippy::type_complexity)]
    pub fn replace(
        &mut self,
        now_us: u64,
        mut session: Box<PreparedSession>,
    ) -> Result<([Option<LegPorts>; 2], Box<PreparedSession>), (CommandError, Box<PreparedSession>)>
    {
        let id = session.id();
        let Some(slot) = self.command_slot(id) else {
            return Err((CommandError::UnknownSession(id), session));
        };
        let Some(mut old) = self.sessions[slot].take() else {
            return Err((CommandError::UnknownSession(id), session));
        };
        if old.conference().is_some()
            || session.conference().is_some()
            || old.leg_count() != session.leg_count()
        {
            self.sessions[slot] = Some(old);
            return Err((CommandError::WrongKind(id), session));
        }
        let mut pairs: [Option<PortPair>; 2] = [None; 2];
        let mut controls = [LegControls::NORMAL; 2];
        for (index, pair) in pairs.iter_mut().enumerate().take(session.leg_count()) {
            if let Some(leg) = old.leg_mut(index) {
                *pair = leg.pair.take();
                controls[index] = leg.controls;
                // The peer keeps seeing one RTP stream across the rebuild.
                if let Some(new) = session.leg_mut(index) {
                    new.continue_from(now_us, leg);
                }
            }
        }
        let mut legs = [None; 2];
        for (index, pair) in pairs.into_iter().enumerate() {
            if let Some(pair) = pair {
                let ports = self.ports(LegId(index as u32), pair);
                if let Some(leg) = session.leg_mut(index) {
                    leg.install(now_us, pair, Some(ports.rtp));
                    // Hold, mute and blocking outlive a renegotiation.
                    leg.controls = controls[index];
                }
                legs[index] = Some(ports);
            }
        }
        // A recording follows the call into its new session (ng offer, then answer).
        session.tap = old.tap.take();
        self.stagger(&mut session);
        self.tick_due_us[slot] = 0;
        self.sessions[slot] = Some(session);
        Ok((legs, old))
    }

    /// Removes a session: sends each leg's RTCP BYE, closes its ports, and returns it, to be
    /// freed off the worker.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`].
    pub fn remove(
        &mut self,
        now_us: u64,
        id: SessionId,
    ) -> Result<Box<PreparedSession>, CommandError> {
        let slot = self
            .command_slot(id)
            .ok_or(CommandError::UnknownSession(id))?;
        let Some(mut session) = self.sessions[slot].take() else {
            return Err(CommandError::UnknownSession(id));
        };
        let slots = session
            .conference()
            .map_or(session.leg_count(), |c| c.max_legs);
        let ntp = self.ntp(now_us);
        let mut ctx = Ctx {
            now_us,
            arrival_us: now_us,
            ntp,
            session: id,
            tx: &mut self.tx,
            out: &mut self.out,
            tap: None,
            playout: &mut self.totals.playout,
        };
        for index in 0..slots {
            if let Some(leg) = session.leg_mut(index) {
                leg.send_bye(&mut ctx);
            }
        }
        self.flush(now_us);
        for index in 0..slots {
            let pair = session.leg_mut(index).and_then(|leg| leg.pair.take());
            if let Some(pair) = pair {
                self.close(pair);
            }
        }
        self.slots.remove(&id);
        self.tick_due_us[slot] = 0;
        self.free.push(slot as u32);
        self.totals.sessions = self.totals.sessions.saturating_sub(1);
        Ok(session)
    }

    /// Adds a leg to a conference room: opens its ports and seats it. Returns its ports.
    ///
    /// # Errors
    ///
    /// [`CommandError`] with the leg handed back, nothing left open.
    #[allow(clippy::result_large_err)]
    pub fn join(
        &mut self,
        now_us: u64,
        id: SessionId,
        mut member: Box<PreparedMember>,
    ) -> Result<LegPorts, (CommandError, Box<PreparedMember>)> {
        let Some(slot) = self.command_slot(id) else {
            return Err((CommandError::UnknownSession(id), member));
        };
        let leg_id = member.leg();
        let duplicate = self.sessions[slot]
            .as_ref()
            .is_some_and(|s| s.leg_index(leg_id).is_some());
        let is_room = self.sessions[slot]
            .as_mut()
            .is_some_and(|s| s.conference_mut().is_some());
        if !is_room {
            return Err((CommandError::WrongKind(id), member));
        }
        if duplicate {
            return Err((
                CommandError::UnknownLeg {
                    session: id,
                    leg: leg_id,
                },
                member,
            ));
        }
        let pair = match self.open_pair() {
            Ok(pair) => pair,
            Err(error) => return Err((error, member)),
        };
        let ports = self.ports(leg_id, pair);
        member.member.leg.install(now_us, pair, Some(ports.rtp));
        let Some(room) = self.sessions[slot]
            .as_mut()
            .and_then(|s| s.conference_mut())
        else {
            let _ = self.io.close_pair(pair);
            return Err((CommandError::WrongKind(id), member));
        };
        match room.join(member) {
            Ok((index, spare)) => {
                if let Some(bank) = spare {
                    self.out.notice(Notice::Retired(Retired::Encoders(bank)));
                }
                self.route(pair, slot, index);
                self.totals.legs += 1;
                self.out.event(Event {
                    session: id,
                    leg: Some(leg_id),
                    at_us: now_us,
                    kind: EventKind::Joined,
                });
                Ok(ports)
            }
            Err((error, mut member)) => {
                member.member.leg.pair = None;
                let _ = self.io.close_pair(pair);
                Err((error, member))
            }
        }
    }

    /// Removes a leg from its room and closes its ports; returns it, to be freed off the
    /// worker.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`], [`CommandError::UnknownLeg`],
    /// [`CommandError::WrongKind`].
    pub fn leave(
        &mut self,
        now_us: u64,
        id: SessionId,
        leg: LegId,
    ) -> Result<Box<PreparedMember>, CommandError> {
        let slot = self
            .command_slot(id)
            .ok_or(CommandError::UnknownSession(id))?;
        let session = self.sessions[slot]
            .as_mut()
            .ok_or(CommandError::UnknownSession(id))?;
        let index = session
            .leg_index(leg)
            .ok_or(CommandError::UnknownLeg { session: id, leg })?;
        let room = session
            .conference_mut()
            .ok_or(CommandError::WrongKind(id))?;
        let (mut member, bank) = room
            .leave(index)
            .ok_or(CommandError::UnknownLeg { session: id, leg })?;
        let ntp = self.ntp(now_us);
        member.member.leg.send_bye(&mut Ctx {
            now_us,
            arrival_us: now_us,
            ntp,
            session: id,
            tx: &mut self.tx,
            out: &mut self.out,
            tap: None,
            playout: &mut self.totals.playout,
        });
        self.flush(now_us);
        if let Some(pair) = member.member.leg.pair.take() {
            self.close(pair);
        }
        if let Some(bank) = bank {
            self.out.notice(Notice::Retired(Retired::Encoders(bank)));
        }
        self.out.event(Event {
            session: id,
            leg: Some(leg),
            at_us: now_us,
            kind: EventKind::Left,
        });
        Ok(member)
    }

    fn leg_of(&mut self, id: SessionId, leg: LegId) -> Result<(usize, usize), CommandError> {
        let slot = self
            .command_slot(id)
            .ok_or(CommandError::UnknownSession(id))?;
        let index = self.sessions[slot]
            .as_ref()
            .and_then(|s| s.leg_index(leg))
            .ok_or(CommandError::UnknownLeg { session: id, leg })?;
        Ok((slot, index))
    }

    /// Signalling moved a leg's peer: send there and re-learn its source.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`], [`CommandError::UnknownLeg`].
    pub fn set_remote(
        &mut self,
        id: SessionId,
        leg: LegId,
        remote: SocketAddr,
    ) -> Result<(), CommandError> {
        let (slot, index) = self.leg_of(id, leg)?;
        if let Some(leg) = self.sessions[slot].as_mut().and_then(|s| s.leg_mut(index)) {
            leg.set_remote(remote);
        }
        Ok(())
    }

    /// Queues DTMF into a leg (RFC 4733 if it negotiated telephone-events, tones otherwise).
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`], [`CommandError::UnknownLeg`], and
    /// [`CommandError::WrongKind`] when the session cannot send digits into that leg.
    pub fn send_digits(
        &mut self,
        id: SessionId,
        leg: LegId,
        digits: &str,
    ) -> Result<(), CommandError> {
        let (slot, index) = self.leg_of(id, leg)?;
        let sent = self.sessions[slot]
            .as_mut()
            .is_some_and(|s| s.send_digits(index, digits));
        if sent {
            Ok(())
        } else {
            Err(CommandError::WrongKind(id))
        }
    }

    /// Changes some of a leg's media controls at `now_us`; returns its controls after.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`], [`CommandError::UnknownLeg`].
    pub fn set_leg_controls(
        &mut self,
        now_us: u64,
        id: SessionId,
        leg: LegId,
        change: &ControlChange,
    ) -> Result<LegControls, CommandError> {
        let (slot, index) = self.leg_of(id, leg)?;
        self.sessions[slot]
            .as_mut()
            .and_then(|s| s.set_controls(index, now_us, change))
            .ok_or(CommandError::UnknownLeg { session: id, leg })
    }

    /// Plays an announcement towards a leg of a transcoding session; returns the one it
    /// replaces. Allocates nothing.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`], [`CommandError::UnknownLeg`],
    /// [`CommandError::WrongKind`] (not a transcoder, or rendered at another rate), with the
    /// announcement handed back.
    #[allow(clippy::result_large_err, clippy::type_complexity)]
    pub fn announce(
        &mut self,
        id: SessionId,
        leg: LegId,
        announcement: Box<Announcement>,
    ) -> Result<Option<Box<Announcement>>, (CommandError, Box<Announcement>)> {
        let (slot, index) = match self.leg_of(id, leg) {
            Ok(found) => found,
            Err(error) => return Err((error, announcement)),
        };
        match self.sessions[slot].as_mut() {
            Some(session) => session
                .announce(index, announcement)
                .map_err(|a| (CommandError::WrongKind(id), a)),
            None => Err((CommandError::UnknownSession(id), announcement)),
        }
    }

    /// Stops the announcement towards a leg and returns it, to be freed off the worker.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`], [`CommandError::UnknownLeg`],
    /// [`CommandError::NothingPlaying`].
    pub fn stop_announcement(
        &mut self,
        id: SessionId,
        leg: LegId,
    ) -> Result<Box<Announcement>, CommandError> {
        let (slot, index) = self.leg_of(id, leg)?;
        self.sessions[slot]
            .as_mut()
            .and_then(|s| s.take_announcement(index))
            .ok_or(CommandError::NothingPlaying { session: id, leg })
    }

    /// Attaches a recording to a session. Allocates nothing.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`], [`CommandError::RecordingActive`], with the tap
    /// handed back.
    #[allow(clippy::result_large_err)]
    pub fn start_recording(
        &mut self,
        id: SessionId,
        tap: Box<Tap>,
    ) -> Result<(), (CommandError, Box<Tap>)> {
        let Some(session) = self
            .command_slot(id)
            .and_then(|slot| self.sessions[slot].as_mut())
        else {
            return Err((CommandError::UnknownSession(id), tap));
        };
        if session.tap.is_some() {
            return Err((CommandError::RecordingActive(id), tap));
        }
        session.tap = Some(tap);
        Ok(())
    }

    /// Pauses or resumes a session's recording.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`], [`CommandError::NotRecording`].
    pub fn pause_recording(
        &mut self,
        now_us: u64,
        id: SessionId,
        paused: bool,
    ) -> Result<(), CommandError> {
        let slot = self
            .command_slot(id)
            .ok_or(CommandError::UnknownSession(id))?;
        let tap = self.sessions[slot]
            .as_mut()
            .and_then(|s| s.tap.as_deref_mut())
            .ok_or(CommandError::NotRecording(id))?;
        if paused {
            tap.pause(now_us);
        } else {
            tap.resume(now_us);
        }
        Ok(())
    }

    /// Detaches a session's recording and returns its tap, to be dropped off the worker.
    ///
    /// # Errors
    ///
    /// [`CommandError::UnknownSession`], [`CommandError::NotRecording`].
    pub fn stop_recording(&mut self, id: SessionId) -> Result<Box<Tap>, CommandError> {
        let slot = self
            .command_slot(id)
            .ok_or(CommandError::UnknownSession(id))?;
        self.sessions[slot]
            .as_mut()
            .and_then(|s| s.tap.take())
            .ok_or(CommandError::NotRecording(id))
    }

    /// The counters of one leg.
    pub fn leg_counters(&mut self, id: SessionId, leg: LegId) -> Option<LegCounters> {
        self.leg_report(id, leg).map(|r| r.counters)
    }

    /// The metrics of one leg: counters, receive statistics, round-trip time.
    pub fn leg_report(&mut self, id: SessionId, leg: LegId) -> Option<LegReport> {
        let (slot, index) = self.leg_of(id, leg).ok()?;
        let session = self.sessions[slot].as_mut()?;
        let mut report = session.leg_mut(index)?.report();
        report.playout = session.playout_report(index);
        Some(report)
    }

    /// Sets where worker time 0 lies on the backend's timestamp clock (µs since the UNIX epoch
    /// for kernel sockets), for [`ArrivalClock::Kernel`]. [`Worker::run`] measures it at every
    /// tick; a manual-tick driver sets it once (0 for the loopback network, which stamps each
    /// datagram with its sender's `now`, already on the worker's clock).
    pub fn set_unix_at_epoch_us(&mut self, unix_at_epoch_us: u64) {
        self.unix_at_epoch_us = Some(unix_at_epoch_us);
    }

    /// Runs the worker on the current thread, paced by an absolute-deadline [`TickClock`] of
    /// `quantum`, until `stop` is set; then removes every session (handing each back through
    /// the notice ring).
    pub fn run(&mut self, quantum: Duration, stop: &AtomicBool) {
        let mut clock = TickClock::new(quantum);
        // Commands between ticks are applied at the last tick's time, as the tick applies
        // its own batch.
        let mut last_tick_us = 0;
        while !stop.load(Ordering::Relaxed) {
            // Read before looking at the ring, so that a command queued after the look rings
            // a bell this sleep listens to.
            let seen = self.bell.rings();
            let due = if self.commands.is_empty() {
                clock.wait_or_ring(&self.bell, seen)
            } else {
                clock.poll()
            };
            let Some(info) = due else {
                self.apply_queued(last_tick_us);
                continue;
            };
            last_tick_us = info.now_us;
            if self.config.arrival_clock == ArrivalClock::Kernel {
                // Every tick, so that the mapping follows the wallclock's adjustments.
                self.unix_at_epoch_us = clock.unix_at_epoch_us();
            }
            if info.missed() > 0 {
                self.stats.record_missed(info.missed());
            }
            self.tick(info.now_us);
        }
        let now_us = clock.elapsed_ns() / 1000;
        let ids: Vec<SessionId> = self.sessions.iter().flatten().map(|s| s.id()).collect();
        for id in ids {
            if let Ok(session) = self.remove(now_us, id) {
                self.out.notice(Notice::Retired(Retired::Session(session)));
            }
        }
    }
}

/// A packet's arrival on the worker's clock (µs): its kernel timestamp (wallclock ns since
/// the UNIX epoch) less the wallclock at worker time 0, when both are known and the result
/// lies within [`MAX_ARRIVAL_SKEW_US`] of the tick; else the tick's time.
fn arrival_us(unix_at_epoch_us: Option<u64>, timestamp: Option<Timestamp>, now_us: u64) -> u64 {
    let (Some(origin), Some(timestamp)) = (unix_at_epoch_us, timestamp) else {
        return now_us;
    };
    match (timestamp.as_nanos() / 1000).checked_sub(origin) {
        Some(arrival) if arrival.abs_diff(now_us) <= MAX_ARRIVAL_SKEW_US => arrival,
        _ => now_us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_timestamp_maps_onto_the_workers_clock_unless_it_is_implausible() {
        let origin = 1_700_000_000_000_000; // wallclock µs at worker time 0
        let stamp = |us: u64| Some(Timestamp::from_micros(origin + us));
        // Arrived 7 ms before the tick that read it, or 3 ms after (a catch-up tick).
        assert_eq!(arrival_us(Some(origin), stamp(93_000), 100_000), 93_000);
        assert_eq!(arrival_us(Some(origin), stamp(103_000), 100_000), 103_000);
        // No timestamp, no origin, or a wallclock step: the tick's time.
        assert_eq!(arrival_us(Some(origin), None, 100_000), 100_000);
        assert_eq!(arrival_us(None, stamp(93_000), 100_000), 100_000);
        assert_eq!(arrival_us(Some(origin), stamp(5_000_000), 100_000), 100_000);
        assert_eq!(
            arrival_us(Some(origin + 10_000_000), stamp(0), 100_000),
            100_000
        );
    }
}
