//! The conference per-participant path without the kernel: one worker over the in-memory
//! loopback backend, rooms of G.711 participants (a few talking, the rest sending digital
//! silence), ticked in virtual time as fast as it goes. It prints the worker's thread CPU time
//! per participant per 20 ms, and is built for counting instructions on a shared, noisy
//! machine where wall time is unreliable:
//!
//! ```text
//! cargo build --release -p tandem-benches --bin conference_tick_count
//! valgrind --tool=callgrind --toggle-collect='conference_tick_count::measured_tick' \
//!     --callgrind-out-file=/tmp/cg.out target/release/conference_tick_count \
//!     [--legs 1000] [--room 50] [--talkers 3] [--ticks 400] [--playout adaptive|fixed]
//! ```
//!
//! Instructions per participant per 20 ms = the collected Ir / legs / (ticks / 2); the
//! warm-up (source learning, playout start) runs before the measured ticks, uncounted. The peers' own work (patching and queueing their
//! packets, draining what comes back) happens outside `Worker::tick` and is not counted.
//! The loopback backend copies datagrams in memory: what the kernel's UDP send and receive
//! cost comes on top (BENCHMARKS.md, "Packet I/O").

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use nix::time::{ClockId, clock_gettime};
use tandem_codecs::{EncoderConfig, Format, registry};
use tandem_core::rtp::{RtpHeader, RtpTimestamp, SeqNo, Ssrc};
use tandem_core::session::{
    CodecSpec, ConferenceSpec, LegId, LegSpec, PreparedMember, PreparedSession, SessionId,
    SessionSpec,
};
use tandem_core::worker::{TICK_US, Worker, WorkerConfig};
use tandem_drivers::packet::loopback::{LoopbackConfig, LoopbackNet};
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortRange, RecvMeta, SocketId, Timestamp, Transmit,
};

/// Most participants one run builds.
const MAX_LEGS: usize = 5000;
/// Ticks before the clock starts: source learning and the playout start.
const WARM_TICKS: usize = 100;
/// PCMU samples (and bytes) per 20 ms packet.
const PACKET: usize = 160;

struct Options {
    legs: usize,
    room: usize,
    talkers: usize,
    ticks: usize,
    adaptive: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        legs: 1000,
        room: 50,
        talkers: 3,
        ticks: 400,
        adaptive: LegSpec::new(CodecSpec::PCMU).playout.is_adaptive(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--legs" => o.legs = number()?.clamp(1, MAX_LEGS),
            "--room" => o.room = number()?.max(2),
            "--talkers" => o.talkers = number()?,
            "--ticks" => o.ticks = number()?.clamp(2, 100_000),
            "--playout" => {
                o.adaptive = match value.as_str() {
                    "adaptive" => true,
                    "fixed" => false,
                    other => return Err(format!("--playout: unknown buffer {other}")),
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(o)
}

/// One peer: its socket, the leg it sends to, and its packet, patched in place per step.
struct Peer {
    socket: SocketId,
    leg: SocketAddr,
    packet: Vec<u8>,
}

impl Peer {
    /// Sets the sequence number and timestamp of step `step` (RFC 3550 §5.1 offsets) and,
    /// for talkers, the step's audio.
    fn prepare(&mut self, step: usize, audio: Option<&[u8]>) {
        let seq = (step as u16).to_be_bytes();
        let ts = (step as u32).wrapping_mul(PACKET as u32).to_be_bytes();
        self.packet[2..4].copy_from_slice(&seq);
        self.packet[4..8].copy_from_slice(&ts);
        if let Some(audio) = audio {
            let at = self.packet.len() - PACKET;
            self.packet[at..].copy_from_slice(audio);
        }
    }
}

/// Speech-like PCMU: tone bursts of varying pitch and level, 300 ms on and 100 ms off, one
/// 20 ms packet per entry, `seconds` long.
fn speech(seconds: usize, base_hz: f64) -> Vec<Vec<u8>> {
    let rate = 8000.0;
    let pcm: Vec<i16> = (0..seconds * 8000)
        .map(|i| {
            let t = i as f64 / rate;
            let burst = (t / 0.4) as usize;
            let amp = if t % 0.4 < 0.3 {
                3000.0 + 1500.0 * (burst % 3) as f64
            } else {
                0.0
            };
            let hz = base_hz * (1.0 + 0.1 * (burst % 4) as f64);
            (amp * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect();
    let mut encoder =
        registry::new_encoder(Format::PCMU, &EncoderConfig::default()).expect("PCMU encoder");
    pcm.chunks_exact(PACKET)
        .map(|frame| {
            let mut out = vec![0u8; PACKET];
            let n = encoder.encode(frame, &mut out).expect("PCMU encodes");
            out.truncate(n);
            out
        })
        .collect()
}

/// One measured tick, adding its thread CPU time to `cpu_us`. Never inlined, and unlike
/// the warm-up's bare `tick` call, so that callgrind counts the measured ticks alone.
#[inline(never)]
fn measured_tick<B: PacketIo>(worker: &mut Worker<B>, now_us: u64, cpu_us: &mut u64) {
    let before = thread_cpu_us();
    worker.tick(now_us);
    *cpu_us += thread_cpu_us() - before;
}

fn thread_cpu_us() -> u64 {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
        .unwrap_or(0)
}

fn run(o: &Options) -> Result<(), String> {
    let net = LoopbackNet::new();
    let queue_packets = 2 * o.legs + 64;
    let io = net
        .endpoint(LoopbackConfig {
            queue_packets,
            ..LoopbackConfig::new(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                PortRange::new(20000, 29999).map_err(|e| e.to_string())?,
            )
        })
        .map_err(|e| e.to_string())?;
    let mut peers_io = net
        .endpoint(LoopbackConfig {
            queue_packets,
            ..LoopbackConfig::new(
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                PortRange::new(30000, 39999).map_err(|e| e.to_string())?,
            )
        })
        .map_err(|e| e.to_string())?;
    let config = WorkerConfig {
        tx_queue: 2 * o.legs + 64,
        ..WorkerConfig::new(0)
    };
    let (mut worker, mut control) = Worker::new(config, io);

    let now = 1_000_000u64;
    let mut peers = Vec::with_capacity(o.legs);
    let mut talkers = Vec::new();
    let mut room_id = 0;
    while peers.len() < o.legs {
        room_id += 1;
        let size = (o.legs - peers.len()).min(o.room);
        let room = ConferenceSpec::new(8000, size);
        let session = SessionId(room_id);
        let prepared = PreparedSession::new(session, &SessionSpec::Conference(room))
            .map_err(|e| e.to_string())?;
        worker
            .install(now, Box::new(prepared))
            .map_err(|(e, _)| e.to_string())?;
        for k in 0..size {
            let pair = peers_io.open_pair().map_err(|e| e.to_string())?;
            let remote = peers_io.local_addr(pair.rtp).ok_or("peer address")?;
            let spec = LegSpec::new(CodecSpec::PCMU)
                .with_remote(remote)
                .with_adaptive_playout(o.adaptive);
            let member = PreparedMember::new(session, LegId(k as u32), &spec, &room)
                .map_err(|e| e.to_string())?;
            let ports = worker
                .join(now, session, Box::new(member))
                .map_err(|(e, _)| e.to_string())?;
            if k < o.talkers {
                talkers.push(peers.len());
            }
            let ssrc = Ssrc(0x1000 + peers.len() as u32);
            let header = RtpHeader::new(
                CodecSpec::PCMU.payload_type,
                SeqNo(0),
                RtpTimestamp(0),
                ssrc,
            );
            let silence = [0xFFu8; PACKET];
            let mut packet = vec![0; header.buffer_len(PACKET)];
            header
                .emit_packet(&silence, &mut packet)
                .map_err(|e| format!("{e:?}"))?;
            peers.push(Peer {
                socket: pair.rtp,
                leg: ports.rtp,
                packet,
            });
        }
    }
    let voices: Vec<Vec<Vec<u8>>> = (0..o.talkers.min(8))
        .map(|k| speech(4, 220.0 + 90.0 * k as f64))
        .collect();

    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    let mut received = 0u64;
    let mut now_us = now;
    let mut cpu_us = 0u64;
    for tick in 0..WARM_TICKS + o.ticks {
        if tick % 2 == 0 {
            let step = tick / 2;
            for (i, peer) in peers.iter_mut().enumerate() {
                let audio = talkers.iter().position(|&t| t == i).map(|k| {
                    let voice = &voices[k % voices.len()];
                    &voice[step % voice.len()][..]
                });
                peer.prepare(step, audio);
            }
            for chunk in peers.chunks(MAX_BATCH) {
                let batch: Vec<Transmit<'_>> = chunk
                    .iter()
                    .map(|p| Transmit {
                        socket: p.socket,
                        destination: p.leg,
                        payload: &p.packet,
                    })
                    .collect();
                peers_io
                    .send_batch(Timestamp::from_micros(now_us), &batch)
                    .map_err(|e| e.to_string())?;
            }
        }
        now_us += TICK_US;
        if tick >= WARM_TICKS {
            measured_tick(&mut worker, now_us, &mut cpu_us);
        } else {
            worker.tick(now_us);
        }
        loop {
            let n = peers_io
                .recv_batch(Timestamp::from_micros(now_us), &mut bufs, &mut meta)
                .map_err(|e| e.to_string())?;
            if tick >= WARM_TICKS {
                received += n as u64;
            }
            if n < MAX_BATCH {
                break;
            }
        }
        while control.poll_notice().is_some() {}
    }
    let periods = o.ticks as f64 / 2.0;
    let expected = o.legs as f64 * periods;
    println!(
        "{} legs in rooms of {} with {} talkers, {} playout, {} measured ticks: \
         {:.2} µs worker CPU per participant per 20 ms, {:.1} % of the expected packets back",
        o.legs,
        o.room,
        o.talkers,
        if o.adaptive { "adaptive" } else { "fixed" },
        o.ticks,
        cpu_us as f64 / o.legs as f64 / periods,
        100.0 * received as f64 / expected,
    );
    Ok(())
}

fn main() {
    if let Err(e) = parse_options().and_then(|o| run(&o)) {
        eprintln!("conference_tick_count: {e}");
        std::process::exit(2);
    }
}
