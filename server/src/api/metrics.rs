//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by hand.
//!
//! Two sources: the media runtime's own counters (read at scrape time from
//! [`Runtime::worker_stats`]), and a [`Metrics`] registry of atomics that the control plane
//! bumps. The registry is one `Arc<Metrics>` shared by everything in `tandem run`:
//!
//! - the SIP glue (`run::signalling`) calls [`Metrics::sip_response`] with the code of each
//!   response it puts on the wire (retransmissions included), and [`Metrics::call_started`] /
//!   [`Metrics::call_ended`] around each answered call (from its 200 to its end), its gateway
//!   counting the transcoders of bridged calls and the calls refused because their target's
//!   host name had no address ([`Metrics::target_unresolved`]); the ng call table does the same around each
//!   ng call (offer of a new call-id to its delete or media timeout);
//! - whoever builds a transcoding session calls [`Metrics::transcoder_started`] /
//!   [`Metrics::transcoder_stopped`] with its codec pair (the REST API does for its bridges,
//!   the ng call table for each answered call that transcodes);
//! - DTMF events are counted by the API's event pump, per source, for every session;
//! - the ng listener keeps its own [`NgStats`] (commands, retransmissions, drops, TCP
//!   connections), which `tandem run` hands over with [`Metrics::attach_ng`]; so do the SIP
//!   transports ([`Metrics::attach_sip`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tandem_core::bus::{DtmfSource, QualitySample};
use tandem_core::runtime::Runtime;
use tandem_core::worker::TICK_COST_BUCKETS_US;

use crate::ng::NgStats;
use crate::run::transport::{TransportStats, TransportStatsSnapshot};

/// A per-worker family: name, help, type, and how to read it from a snapshot.
type WorkerFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&tandem_core::worker::StatsSnapshot) -> u64,
);

/// SIP response codes counted individually: 100–699.
const SIP_CODES: usize = 600;

/// Upper bounds of the stream MOS histogram's buckets (the E-model's scale ends at 4.5; a
/// clean G.711 stream scores 4.4). One more bucket counts anything above.
pub const MOS_BUCKETS: [f64; 11] = [1.5, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.3, 4.4, 4.5];

/// Upper bounds of the jitter buffer delay histogram's buckets, ms (the adaptive buffer's
/// least target is 50 ms by default, its most 500).
pub const PLAYOUT_DELAY_BUCKETS_MS: [f64; 10] = [
    20.0, 30.0, 40.0, 60.0, 80.0, 100.0, 150.0, 200.0, 300.0, 500.0,
];

/// Observations in fixed buckets, and their sum (in thousandths, so that an atomic integer
/// holds it).
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// One per bound, and one for anything above the last.
    buckets: Box<[AtomicU64]>,
    sum_milli: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_milli: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| value <= bound)
            .unwrap_or(self.bounds.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let milli = (value.max(0.0) * 1000.0).round() as u64;
        self.sum_milli.fetch_add(milli, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        family(out, name, help, "histogram");
        let mut cumulative = 0u64;
        for (i, n) in self.buckets.iter().enumerate() {
            cumulative += n.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_milli.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// Counters the control plane bumps. See the module docs for who bumps what.
#[derive(Debug)]
pub struct Metrics {
    sip_responses: Box<[AtomicU64]>,
    calls_live: AtomicI64,
    calls_total: AtomicU64,
    dtmf_rfc4733: AtomicU64,
    dtmf_inband: AtomicU64,
    transcoders: Mutex<BTreeMap<(String, String), i64>>,
    api_requests: AtomicU64,
    targets_unresolved: AtomicU64,
    /// Interval MOS scores of streams.
    stream_mos: Histogram,
    /// Jitter buffer delays of decoded streams, at the end of each interval.
    playout_delay: Histogram,
    /// The ng listener's own counters, once `tandem run` has bound it.
    ng: OnceLock<Arc<NgStats>>,
    /// The SIP transports' counters, once `tandem run` has bound them.
    sip: OnceLock<Arc<TransportStats>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            sip_responses: (0..SIP_CODES).map(|_| AtomicU64::new(0)).collect(),
            calls_live: AtomicI64::new(0),
            calls_total: AtomicU64::new(0),
            dtmf_rfc4733: AtomicU64::new(0),
            dtmf_inband: AtomicU64::new(0),
            transcoders: Mutex::new(BTreeMap::new()),
            api_requests: AtomicU64::new(0),
            targets_unresolved: AtomicU64::new(0),
            stream_mos: Histogram::new(&MOS_BUCKETS),
            playout_delay: Histogram::new(&PLAYOUT_DELAY_BUCKETS_MS),
            ng: OnceLock::new(),
            sip: OnceLock::new(),
        }
    }
}

impl Metrics {
    /// Reports the ng listener's counters (commands, retransmissions, drops, TCP
    /// connections) from now on. Only the first call counts.
    pub fn attach_ng(&self, stats: Arc<NgStats>) {
        let _ = self.ng.set(stats);
    }

    /// Reports the SIP transports' counters (messages in and out, drops, sources refused)
    /// from now on. Only the first call counts.
    pub fn attach_sip(&self, stats: Arc<TransportStats>) {
        let _ = self.sip.set(stats);
    }

    /// Counts one SIP response with status `code` (codes outside 100–699 are ignored).
    pub fn sip_response(&self, code: u16) {
        if let Some(slot) = usize::from(code)
            .checked_sub(100)
            .and_then(|i| self.sip_responses.get(i))
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A gateway call was refused because its target's host name had no address.
    pub fn target_unresolved(&self) {
        self.targets_unresolved.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one scored interval of a stream (ng calls, REST channels and SIP calls, at
    /// each RTCP report their leg sends): its MOS, and the delay of its jitter buffer, if the
    /// leg is decoded.
    pub fn stream_interval(&self, mos: f64, sample: &QualitySample) {
        self.stream_mos.observe(mos);
        if let Some(playout) = sample.playout {
            self.playout_delay.observe(f64::from(playout.delay_ms));
        }
    }

    /// A call began (SIP glue, ng).
    pub fn call_started(&self) {
        self.calls_live.fetch_add(1, Ordering::Relaxed);
        self.calls_total.fetch_add(1, Ordering::Relaxed);
    }

    /// A call ended (SIP glue, ng).
    pub fn call_ended(&self) {
        self.calls_live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts one DTMF digit received.
    pub fn dtmf(&self, source: DtmfSource) {
        match source {
            DtmfSource::Rfc4733 => &self.dtmf_rfc4733,
            DtmfSource::InBand => &self.dtmf_inband,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// A transcoder between codecs `a` and `b` (encoding names) started.
    pub fn transcoder_started(&self, a: &str, b: &str) {
        self.transcoder_delta(a, b, 1);
    }

    /// A transcoder between `a` and `b` stopped.
    pub fn transcoder_stopped(&self, a: &str, b: &str) {
        self.transcoder_delta(a, b, -1);
    }

    fn transcoder_delta(&self, a: &str, b: &str, delta: i64) {
        // A pair is counted once whichever side is which.
        let key = if a <= b { (a, b) } else { (b, a) };
        let mut map = self
            .transcoders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry((key.0.to_owned(), key.1.to_owned())).or_insert(0) += delta;
    }

    /// Counts one API request.
    pub fn api_request(&self) {
        self.api_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition: runtime counters, then the registry's, then `extra` (name, help,
    /// type, value) families the caller adds.
    pub fn render(&self, runtime: &Runtime, extra: &[(&str, &str, &str, f64)]) -> String {
        let mut out = String::with_capacity(8192);
        let stats = runtime.worker_stats();
        let per_worker: [WorkerFamily; 20] = [
            ("tandem_worker_ticks_total", "Ticks run.", "counter", |s| {
                s.ticks
            }),
            (
                "tandem_worker_missed_deadlines_total",
                "10 ms deadlines the worker woke up too late for.",
                "counter",
                |s| s.missed_deadlines,
            ),
            (
                "tandem_worker_tick_cost_max_nanoseconds",
                "The most expensive tick, ns.",
                "gauge",
                |s| s.cost_max_ns,
            ),
            (
                "tandem_worker_rx_packets_total",
                "Datagrams received.",
                "counter",
                |s| s.rx_packets,
            ),
            (
                "tandem_worker_tx_packets_total",
                "Datagrams sent.",
                "counter",
                |s| s.tx_packets,
            ),
            (
                "tandem_worker_io_errors_total",
                "Batch I/O calls that failed.",
                "counter",
                |s| s.io_errors,
            ),
            (
                "tandem_worker_events_dropped_total",
                "Events dropped because the notice ring was full.",
                "counter",
                |s| s.events_dropped,
            ),
            (
                "tandem_worker_commands_total",
                "Commands applied.",
                "counter",
                |s| s.commands,
            ),
            (
                "tandem_worker_commands_failed_total",
                "Commands refused.",
                "counter",
                |s| s.commands_failed,
            ),
            (
                "tandem_worker_sessions",
                "Sessions running.",
                "gauge",
                |s| s.sessions,
            ),
            (
                "tandem_worker_legs",
                "Legs with open ports.",
                "gauge",
                |s| s.legs,
            ),
            ("tandem_worker_load", "Placement load.", "gauge", |s| s.load),
            (
                "tandem_worker_pinned",
                "1 when the worker thread is pinned to its core.",
                "gauge",
                |s| u64::from(s.pinned),
            ),
            (
                "tandem_worker_realtime",
                "1 when the worker thread runs SCHED_FIFO ([media] realtime_priority).",
                "gauge",
                |s| u64::from(s.realtime),
            ),
            (
                "tandem_playout_packets_played_total",
                "Packets decoded and played by the jitter buffers of decoding legs.",
                "counter",
                |s| s.playout.packets_played,
            ),
            (
                "tandem_playout_packets_late_total",
                "Packets that reached a jitter buffer after playout had passed them.",
                "counter",
                |s| s.playout.packets_late,
            ),
            (
                "tandem_playout_packets_lost_total",
                "Sequence numbers playout passed without their packet (lost or late).",
                "counter",
                |s| s.playout.packets_lost,
            ),
            (
                "tandem_playout_fec_recoveries_total",
                "Lost packets recovered from the next packet's forward error correction.",
                "counter",
                |s| s.playout.fec_recoveries,
            ),
            (
                "tandem_playout_frames_concealed_total",
                "10 ms frames filled by concealment.",
                "counter",
                |s| s.playout.frames_concealed,
            ),
            (
                "tandem_playout_stretch_operations_total",
                "Time-stretching operations of adaptive jitter buffers.",
                "counter",
                |s| s.playout.stretch_ops,
            ),
        ];
        for (name, help, kind, get) in per_worker {
            family(&mut out, name, help, kind);
            for (w, s) in stats.iter().enumerate() {
                let _ = writeln!(out, "{name}{{worker=\"{w}\"}} {}", get(s));
            }
        }
        family(
            &mut out,
            "tandem_packets_dropped_total",
            "Datagrams dropped, by reason.",
            "counter",
        );
        for (w, s) in stats.iter().enumerate() {
            for (reason, n) in [
                ("unrouted", s.rx_unrouted),
                ("truncated", s.rx_truncated),
                ("tx_dropped", s.tx_dropped),
            ] {
                let _ = writeln!(
                    out,
                    "tandem_packets_dropped_total{{worker=\"{w}\",reason=\"{reason}\"}} {n}"
                );
            }
        }
        family(
            &mut out,
            "tandem_worker_tick_cost_seconds",
            "Tick cost (decode, mix, encode, I/O of one 10 ms tick).",
            "histogram",
        );
        for (w, s) in stats.iter().enumerate() {
            let mut cumulative = 0u64;
            for (i, n) in s.cost_buckets.iter().enumerate() {
                cumulative += n;
                let le = TICK_COST_BUCKETS_US
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |us| format!("{}", *us as f64 / 1e6));
                let _ = writeln!(
                    out,
                    "tandem_worker_tick_cost_seconds_bucket{{worker=\"{w}\",le=\"{le}\"}} {cumulative}"
                );
            }
            if TICK_COST_BUCKETS_US.len() >= s.cost_buckets.len() {
                let _ = writeln!(
                    out,
                    "tandem_worker_tick_cost_seconds_bucket{{worker=\"{w}\",le=\"+Inf\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "tandem_worker_tick_cost_seconds_sum{{worker=\"{w}\"}} {}",
                s.cost_sum_ns as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "tandem_worker_tick_cost_seconds_count{{worker=\"{w}\"}} {cumulative}"
            );
        }
        scalar(
            &mut out,
            "tandem_legs",
            "Legs with open ports, all workers.",
            "gauge",
            stats.iter().map(|s| s.legs).sum::<u64>(),
        );
        scalar(
            &mut out,
            "tandem_calls",
            "Calls up (SIP and ng).",
            "gauge",
            self.calls_live.load(Ordering::Relaxed),
        );
        scalar(
            &mut out,
            "tandem_calls_total",
            "Calls begun (SIP and ng).",
            "counter",
            self.calls_total.load(Ordering::Relaxed),
        );
        scalar(
            &mut out,
            "tandem_sip_targets_unresolved_total",
            "Routed calls refused (503) because their target's host name had no address.",
            "counter",
            self.targets_unresolved.load(Ordering::Relaxed),
        );
        self.stream_mos.render(
            &mut out,
            "tandem_stream_mos",
            "E-model MOS of each RTCP interval of each stream of ng calls, REST channels and SIP calls (G.107).",
        );
        self.playout_delay.render(
            &mut out,
            "tandem_playout_delay_ms",
            "Jitter buffer delay of each decoded stream at the end of each RTCP interval, ms.",
        );
        family(
            &mut out,
            "tandem_dtmf_events_total",
            "DTMF digits received, by source.",
            "counter",
        );
        let _ = writeln!(
            out,
            "tandem_dtmf_events_total{{source=\"rfc4733\"}} {}",
            self.dtmf_rfc4733.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "tandem_dtmf_events_total{{source=\"inband\"}} {}",
            self.dtmf_inband.load(Ordering::Relaxed)
        );
        family(
            &mut out,
            "tandem_transcoders",
            "Transcoders running, by codec pair.",
            "gauge",
        );
        for ((a, b), n) in self
            .transcoders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(out, "tandem_transcoders{{a=\"{a}\",b=\"{b}\"}} {n}");
        }
        family(
            &mut out,
            "tandem_sip_responses_total",
            "SIP responses sent (retransmissions included), by status code.",
            "counter",
        );
        for (i, n) in self.sip_responses.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(
                    out,
                    "tandem_sip_responses_total{{code=\"{}\"}} {n}",
                    i + 100
                );
            }
        }
        family(
            &mut out,
            "tandem_api_requests_total",
            "REST API requests.",
            "counter",
        );
        let _ = writeln!(
            out,
            "tandem_api_requests_total {}",
            self.api_requests.load(Ordering::Relaxed)
        );
        if let Some(ng) = self.ng.get() {
            render_ng(&mut out, ng);
        }
        if let Some(sip) = self.sip.get() {
            render_sip(&mut out, &sip.snapshot());
        }
        for (name, help, kind, value) in extra {
            scalar(&mut out, name, help, kind, value);
        }
        out
    }
}

/// The SIP transports' counter families.
fn render_sip(out: &mut String, sip: &TransportStatsSnapshot) {
    let families = [
        (
            "tandem_sip_messages_received_total",
            "SIP messages received and handed to the SIP layer (UDP and TCP).",
            sip.received,
        ),
        (
            "tandem_sip_messages_sent_total",
            "SIP messages written to a socket.",
            sip.sent,
        ),
        (
            "tandem_sip_dropped_total",
            "SIP datagrams dropped: the SIP layer's queue was full.",
            sip.dropped,
        ),
        (
            "tandem_sip_forbidden_total",
            "SIP datagrams dropped and TCP connections closed: source outside [sip] allow.",
            sip.forbidden,
        ),
    ];
    for (name, help, value) in families {
        scalar(out, name, help, "counter", value);
    }
}

/// The ng listener's counter families.
fn render_ng(out: &mut String, ng: &NgStats) {
    let families: [(&str, &str, &AtomicU64); 7] = [
        (
            "tandem_ng_commands_total",
            "ng commands carried out (UDP and TCP).",
            &ng.commands,
        ),
        (
            "tandem_ng_retransmissions_total",
            "ng retransmissions answered from the reply cache.",
            &ng.retransmissions,
        ),
        (
            "tandem_ng_dropped_total",
            "ng datagrams dropped: no cookie.",
            &ng.dropped,
        ),
        (
            "tandem_ng_tcp_connections_total",
            "ng TCP connections accepted.",
            &ng.tcp_connections,
        ),
        (
            "tandem_ng_tcp_refused_total",
            "ng TCP connections closed at once: the connection limit was reached.",
            &ng.tcp_refused,
        ),
        (
            "tandem_ng_tcp_bad_input_total",
            "ng TCP connections closed for bad input (no cookie, not bencode, too long or too slow).",
            &ng.tcp_bad_input,
        ),
        (
            "tandem_ng_forbidden_total",
            "ng datagrams dropped and TCP connections closed: source outside [ng] allow.",
            &ng.forbidden,
        ),
    ];
    for (name, help, counter) in families {
        scalar(out, name, help, "counter", counter.load(Ordering::Relaxed));
    }
}

/// A family's `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A family of one unlabelled sample.
fn scalar(out: &mut String, name: &str, help: &str, kind: &str, value: impl std::fmt::Display) {
    family(out, name, help, kind);
    let _ = writeln!(out, "{name} {value}");
}
