//! The worker's real-time contract, checked: a warmed worker runs 3,000 ticks (30 s of
//! virtual time) of a realistic mix — two relays, a PCMU ↔ Opus transcoder with in-band DTMF
//! detection and RFC 4733 conversion both ways, a four-codec conference room with talkers
//! coming and going and a DTMF-detecting leg, an echo and a looping player — over the loopback
//! backend, and the test fails on any allocation made on the worker's thread meanwhile.
//! Midway, legs are put on hold, muted and blocked (and later released) in every session
//! kind, so the controls' paths run inside the window too. The first relay and the
//! transcoder are recorded (stereo; one recording paused and resumed mid-window); the
//! recorder thread drains and writes the files on its own thread. An announcement plays into
//! the transcoder and finishes inside the window.
//!
//! The global allocator counts allocations made on the current thread while armed (it never
//! panics inside the allocator: the test asserts afterwards). Peers run on the same thread
//! from packets built before arming, so they allocate nothing either. RTCP reports, DTMF
//! events, talk events and notices all happen inside the window.

#![allow(missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tandem_codecs::{EncoderConfig, Format, registry};
use tandem_core::bus::{Command, EventKind, Notice, RequestId};
use tandem_core::recording::{FinishReason, Recorder, RecordingId, RecordingSpec};
use tandem_core::rtp::telephone_event::SenderConfig;
use tandem_core::rtp::{
    EventCode, PayloadType, RtpHeader, RtpTimestamp, SeqNo, Ssrc, TelephoneEventSender,
};
use tandem_core::session::Announcement;
use tandem_core::session::{
    CodecSpec, ConferenceSpec, ControlChange, LegId, LegSpec, MediaDirection, PlaySource, PlaySpec,
    PreparedMember, PreparedSession, SessionId, SessionSpec,
};
use tandem_core::worker::{TICK_US, Worker, WorkerConfig};
use tandem_drivers::packet::loopback::{LoopbackConfig, LoopbackNet};
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortRange, RecvMeta, SocketId, Timestamp, Transmit,
};
use tandem_dsp::dtmf::{DtmfGenerator, DtmfGeneratorConfig};
use tandem_test_support::alloc::{Counting, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const WARM_TICKS: usize = 300;
const MEASURED_TICKS: usize = 3000;
const STEPS: usize = (WARM_TICKS + MEASURED_TICKS) / 2 + 2;

/// One peer stream: where from, where to, and a packet (or none) per 20 ms step.
struct Script {
    from: SocketId,
    to: SocketAddr,
    packets: Vec<Option<Vec<u8>>>,
}

struct Rtp {
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Rtp {
    fn packet(&mut self, pt: PayloadType, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut h = RtpHeader::new(pt, SeqNo(self.seq), RtpTimestamp(ts), Ssrc(self.ssrc));
        h.marker = marker;
        let mut buf = vec![0; h.buffer_len(payload.len())];
        h.emit_packet(payload, &mut buf).unwrap();
        self.seq = self.seq.wrapping_add(1);
        buf
    }
}

/// Speech-like audio: tone bursts of varying pitch and level (300 ms on, 100 ms off), with
/// DTMF digits every few seconds when `digits` is set.
fn talk(rate: u32, seconds: usize, base_hz: f64, digits: bool) -> Vec<i16> {
    let n = rate as usize * seconds;
    let mut pcm: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let burst = (t / 0.4) as usize;
            let on = t % 0.4 < 0.3;
            let amp = if on {
                3000.0 + 1500.0 * (burst % 3) as f64
            } else {
                0.0
            };
            let hz = base_hz * (1.0 + 0.1 * (burst % 4) as f64);
            (amp * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
        })
        .collect();
    if digits && (rate == 8000 || rate == 16000) {
        let tones = DtmfGenerator::render(
            DtmfGeneratorConfig {
                sample_rate_hz: rate,
                ..DtmfGeneratorConfig::default()
            },
            "1",
        )
        .unwrap();
        let mut at = rate as usize * 2;
        while at + tones.len() < n {
            pcm[at..at + tones.len()].copy_from_slice(&tones);
            at += rate as usize * 4;
        }
    }
    pcm
}

fn encode(format: Format, pcm: &[i16], frame: usize) -> Vec<Vec<u8>> {
    let mut encoder = registry::new_encoder(format, &EncoderConfig::default()).unwrap();
    pcm.chunks_exact(frame)
        .map(|c| {
            let mut out = vec![0u8; 4000];
            let n = encoder.encode(c, &mut out).unwrap();
            out.truncate(n);
            out
        })
        .collect()
}

/// A media stream of `codec` from `from` to `to`, 20 ms packets.
fn media(
    codec: CodecSpec,
    from: SocketId,
    to: SocketAddr,
    ssrc: u32,
    hz: f64,
    digits: bool,
) -> Script {
    let rate = codec.format.sample_rate;
    let frames = encode(
        codec.format,
        &talk(rate, STEPS / 50 + 1, hz, digits),
        rate as usize / 50,
    );
    let step = codec.clock_rate() / 50;
    let mut rtp = Rtp {
        ssrc,
        seq: ssrc as u16,
        ts: ssrc.wrapping_mul(7),
    };
    let packets = (0..STEPS)
        .map(|i| {
            let ts = rtp.ts.wrapping_add(step * i as u32);
            Some(rtp.packet(codec.payload_type, i == 0, ts, &frames[i]))
        })
        .collect();
    Script { from, to, packets }
}

/// Like [`media`], with an RFC 4733 digit every 3 s in place of audio.
fn media_with_events(
    codec: CodecSpec,
    te: PayloadType,
    from: SocketId,
    to: SocketAddr,
    ssrc: u32,
) -> Script {
    let rate = codec.format.sample_rate;
    let frames = encode(
        codec.format,
        &talk(rate, STEPS / 50 + 1, 300.0, false),
        rate as usize / 50,
    );
    let step = codec.clock_rate() / 50;
    let mut rtp = Rtp {
        ssrc,
        seq: 9,
        ts: 1000,
    };
    let mut sender = TelephoneEventSender::new(SenderConfig {
        clock_rate: codec.clock_rate(),
        update_interval_us: 20_000,
        ..SenderConfig::default()
    });
    let packets = (0..STEPS)
        .map(|i| {
            let now = i as u64 * 20_000;
            let ts = rtp.ts.wrapping_add(step * i as u32);
            match i % 150 {
                60 => sender
                    .begin(
                        now,
                        now,
                        EventCode::from_dtmf('7').unwrap(),
                        10,
                        RtpTimestamp(ts),
                    )
                    .unwrap(),
                66 => sender.end(now),
                _ => {}
            }
            // One event packet per step (the update interval), else audio.
            match sender.poll_transmit(now) {
                Some(t) => {
                    let mut payload = [0u8; 4];
                    t.event.emit(&mut payload).unwrap();
                    Some(rtp.packet(te, t.marker, t.timestamp.0, &payload))
                }
                None => Some(rtp.packet(codec.payload_type, false, ts, &frames[i])),
            }
        })
        .collect();
    Script { from, to, packets }
}

#[test]
fn worker_steady_state_allocates_nothing() {
    let net = LoopbackNet::new();
    let worker_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let io = net
        .endpoint(LoopbackConfig::new(
            worker_ip,
            PortRange::new(20000, 20999).unwrap(),
        ))
        .unwrap();
    let mut peer = net
        .endpoint(LoopbackConfig {
            queue_packets: 4096,
            ..LoopbackConfig::new(
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                PortRange::new(30000, 30999).unwrap(),
            )
        })
        .unwrap();
    let (mut worker, mut control) = Worker::new(WorkerConfig::new(0), io);
    let mut socket = || {
        let pair = peer.open_pair().unwrap();
        (pair.rtp, peer.local_addr(pair.rtp).unwrap())
    };
    let te = PayloadType::new(101).unwrap();
    let opus = CodecSpec::opus(16000, PayloadType::new(111).unwrap());
    let mut scripts = Vec::new();
    let now = 1_000_000u64;

    // Two G.711 relays.
    for (id, codec) in [(1, CodecSpec::PCMU), (2, CodecSpec::PCMA)] {
        let (sa, pa) = socket();
        let (sb, pb) = socket();
        let spec = SessionSpec::Relay {
            a: LegSpec::new(codec).with_remote(pa),
            b: LegSpec::new(codec).with_remote(pb),
        };
        let legs = worker
            .install(
                now,
                Box::new(PreparedSession::new(SessionId(id), &spec).unwrap()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        let (la, lb) = (legs[0].unwrap().rtp, legs[1].unwrap().rtp);
        scripts.push(media(codec, sa, la, 0x100 + id as u32, 400.0, false));
        scripts.push(media(codec, sb, lb, 0x200 + id as u32, 600.0, false));
    }

    // PCMU with in-band DTMF ↔ Opus with RFC 4733: detection, suppression, conversion.
    {
        let (sa, pa) = socket();
        let (sb, pb) = socket();
        let spec = SessionSpec::Transcode {
            a: LegSpec::new(CodecSpec::PCMU)
                .with_remote(pa)
                .with_dtmf_detect(true),
            b: LegSpec::new(opus).with_remote(pb).with_telephone_event(te),
        };
        let legs = worker
            .install(
                now,
                Box::new(PreparedSession::new(SessionId(3), &spec).unwrap()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        scripts.push(media(
            CodecSpec::PCMU,
            sa,
            legs[0].unwrap().rtp,
            0x300,
            350.0,
            true,
        ));
        scripts.push(media_with_events(opus, te, sb, legs[1].unwrap().rtp, 0x301));
    }

    // A conference room in four codecs, one leg detecting DTMF.
    {
        let room = ConferenceSpec::new(16000, 8);
        worker
            .install(
                now,
                Box::new(
                    PreparedSession::new(SessionId(4), &SessionSpec::Conference(room)).unwrap(),
                ),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        let codecs = [CodecSpec::PCMU, CodecSpec::PCMA, CodecSpec::G722, opus];
        for (k, codec) in codecs.into_iter().enumerate() {
            let (s, p) = socket();
            let spec = LegSpec::new(codec).with_remote(p).with_dtmf_detect(k == 0);
            let member = PreparedMember::new(SessionId(4), LegId(k as u32), &spec, &room).unwrap();
            let ports = worker
                .join(now, SessionId(4), Box::new(member))
                .map_err(|(e, _)| e)
                .unwrap();
            let hz = 300.0 + 170.0 * k as f64;
            scripts.push(media(codec, s, ports.rtp, 0x400 + k as u32, hz, k == 0));
        }
    }

    // Echo, and a looping player.
    {
        let (s, p) = socket();
        let legs = worker
            .install(
                now,
                Box::new(
                    PreparedSession::new(
                        SessionId(5),
                        &SessionSpec::Echo(LegSpec::new(CodecSpec::G722)),
                    )
                    .unwrap(),
                ),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        scripts.push(media(
            CodecSpec::G722,
            s,
            legs[0].unwrap().rtp,
            0x500,
            500.0,
            false,
        ));
        let (_, p2) = socket();
        let play = SessionSpec::Play(PlaySpec {
            leg: LegSpec::new(CodecSpec::PCMA).with_remote(p2),
            source: PlaySource::Digits("123".into()),
            repeat: true,
        });
        worker
            .install(
                now,
                Box::new(PreparedSession::new(SessionId(6), &play).unwrap()),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        let _ = p;
    }

    // Record the PCMU relay and the transcoder. The rings hold the whole run (3,300 packets
    // per recording), so the recorder's pace cannot drop anything.
    let recorder = Recorder::start().unwrap();
    let reports = recorder.subscribe();
    let dir = std::env::temp_dir().join(format!("tandem-alloc-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for session in [1u64, 3] {
        let spec = RecordingSpec {
            ring_chunks: 8192,
            ..RecordingSpec::new(dir.join(format!("{session}.wav")))
        };
        let (tap, pending) = recorder
            .open(RecordingId(session), SessionId(session), &spec)
            .unwrap();
        worker.apply(
            now,
            Command::StartRecording {
                request: RequestId(session),
                session: SessionId(session),
                tap: Box::new(tap),
            },
        );
        recorder.commit(pending).unwrap();
    }

    // An announcement into the transcoder towards its PCMU leg: 10 plays of 500 ms, so it
    // ends inside the measured window.
    let tone: Vec<i16> = (0..8000)
        .map(|k| {
            (6000.0 * (2.0 * std::f64::consts::PI * 700.0 * f64::from(k) / 16000.0).sin()) as i16
        })
        .collect();
    let announcement = Announcement::new(
        &PlaySource::Pcm {
            rate_hz: 16000,
            samples: tone.into(),
        },
        8000, // the transcoder's processing rate: PCMU ↔ Opus runs at the narrower side's
        10,
    )
    .unwrap();
    worker.apply(
        now,
        Command::Announce {
            request: RequestId(100),
            session: SessionId(3),
            leg: LegId(0),
            announcement: Box::new(announcement),
        },
    );

    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    let mut received = 0u64;
    let mut digits = 0u64;
    let mut talk_events = 0u64;
    let mut announced = 0u64;
    let mut now_us = now;
    let mut window = None;
    for tick in 0..WARM_TICKS + MEASURED_TICKS {
        if tick == WARM_TICKS {
            window = Some(Counting::start());
        }
        if let Some(changes) = controls_at(tick) {
            for (session, leg, change) in changes {
                worker
                    .set_leg_controls(now_us, SessionId(session), LegId(leg), &change)
                    .unwrap();
            }
        }
        if tick % 2 == 0 {
            let step = tick / 2;
            for script in &scripts {
                if let Some(packet) = &script.packets[step] {
                    let t = Transmit {
                        socket: script.from,
                        destination: script.to,
                        payload: packet,
                    };
                    peer.send_batch(Timestamp::from_micros(now_us), &[t])
                        .unwrap();
                }
            }
        }
        now_us += TICK_US;
        // Pause the relay's recording for 2 s of the measured window.
        let pause = [(WARM_TICKS + 1000, true), (WARM_TICKS + 1200, false)];
        for (at, paused) in pause {
            if tick == at {
                worker.apply(
                    now_us,
                    Command::PauseRecording {
                        request: None,
                        session: SessionId(1),
                        paused,
                    },
                );
            }
        }
        worker.tick(now_us);
        loop {
            let n = peer
                .recv_batch(Timestamp::from_micros(now_us), &mut bufs, &mut meta)
                .unwrap();
            received += n as u64;
            if n < MAX_BATCH {
                break;
            }
        }
        while let Some(notice) = control.poll_notice() {
            if let Notice::Event(e) = notice {
                match e.kind {
                    EventKind::Dtmf { .. } => digits += 1,
                    EventKind::TalkingStarted | EventKind::TalkingStopped => talk_events += 1,
                    EventKind::PlaybackFinished if e.session == SessionId(3) => {
                        announced += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    let allocations = window.expect("the measured ticks ran").finish();
    assert_eq!(allocations.count, 0, "steady state: {allocations}");
    // The recordings ran: stopping them hands the taps back; the recorder finishes the files.
    for session in [1u64, 3] {
        worker.apply(
            now_us,
            Command::StopRecording {
                request: None,
                session: SessionId(session),
            },
        );
    }
    while control.poll_notice().is_some() {}
    let mut finished: Vec<_> = (0..2)
        .map(|_| {
            reports
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap()
        })
        .collect();
    finished.sort_by_key(|r| r.id);
    let media_ms = ((WARM_TICKS + MEASURED_TICKS) as u64 * TICK_US) / 1000;
    for (report, expected_ms) in finished.iter().zip([media_ms - 2000, media_ms]) {
        assert_eq!(report.reason, FinishReason::Stopped, "{report:?}");
        assert_eq!(
            (report.channels, report.dropped_frames),
            (2, 0),
            "{report:?}"
        );
        assert!(
            report.duration_ms.abs_diff(expected_ms) <= 60,
            "{report:?}, expected about {expected_ms} ms"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    // The mix really ran: media flowed, digits were detected and converted, talkers talked.
    let stats = worker.stats().snapshot();
    assert_eq!(stats.ticks as usize, WARM_TICKS + MEASURED_TICKS);
    // (About 1,000 fewer than without the controls: a held relay leg and a blocked echo.)
    assert!(received > 18_000, "{received} packets reached the peers");
    assert!(digits >= 10, "{digits} DTMF events");
    assert!(talk_events >= 4, "{talk_events} talk events");
    assert_eq!(announced, 1, "the announcement finished once");
    let rtcp: u64 = [(1, 0), (3, 0), (3, 1), (5, 0)]
        .iter()
        .map(|&(s, l)| {
            worker
                .leg_counters(SessionId(s), LegId(l))
                .unwrap()
                .rtcp_sent
        })
        .sum();
    assert!(rtcp >= 8, "{rtcp} RTCP reports sent");
    let held = worker.leg_counters(SessionId(1), LegId::B).unwrap();
    assert!(held.withheld > 100, "relay leg on hold: {held:?}");
    let blocked = worker.leg_counters(SessionId(5), LegId::A).unwrap();
    assert!(blocked.blocked > 100, "echo leg blocked: {blocked:?}");
}

/// The control changes made at `tick`: hold, mute and block in every session kind a third
/// into the window, released two thirds in.
fn controls_at(tick: usize) -> Option<[(u64, u32, ControlChange); 7]> {
    let on = tick == WARM_TICKS + MEASURED_TICKS / 3;
    let off = tick == WARM_TICKS + 2 * MEASURED_TICKS / 3;
    if !on && !off {
        return None;
    }
    let direction = if on {
        MediaDirection::RecvOnly
    } else {
        MediaDirection::SendRecv
    };
    let flag = |f: fn(&mut ControlChange, Option<bool>)| {
        let mut change = ControlChange::NONE;
        f(&mut change, Some(on));
        change
    };
    Some([
        (1, 1, ControlChange::direction(direction)),
        (2, 0, flag(|c, v| c.mute_in = v)),
        (3, 1, flag(|c, v| c.mute_out = v)),
        (3, 0, flag(|c, v| c.block_dtmf = v)),
        (4, 1, flag(|c, v| c.mute_out = v)),
        (4, 2, flag(|c, v| c.mute_in = v)),
        (5, 0, flag(|c, v| c.block_media = v)),
    ])
}

/// Sessions come and go all day: installing and removing them (ports opened and closed, the
/// session index updated, its deleted entries rehashed in place) allocates nothing on the
/// worker either. The sessions are built before arming, as the control plane builds them.
#[test]
fn sessions_coming_and_going_allocate_nothing() {
    const MAX_SESSIONS: usize = 16;
    const ROUNDS: u64 = 400;
    let net = LoopbackNet::new();
    let io = net
        .endpoint(LoopbackConfig::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            PortRange::new(20000, 20999).unwrap(),
        ))
        .unwrap();
    let mut config = WorkerConfig::new(0);
    config.max_sessions = MAX_SESSIONS;
    let (mut worker, _control) = Worker::new(config, io);
    let spec = SessionSpec::Relay {
        a: LegSpec::new(CodecSpec::PCMU),
        b: LegSpec::new(CodecSpec::PCMU),
    };
    let mut prepared: Vec<Box<PreparedSession>> = (0..ROUNDS)
        .map(|id| Box::new(PreparedSession::new(SessionId(1000 + id), &spec).unwrap()))
        .collect();
    prepared.reverse();
    let mut retired = Vec::with_capacity(ROUNDS as usize);
    let mut now_us = 1_000_000;
    // A full table, then every round removes the oldest session and installs a new one.
    for _ in 0..MAX_SESSIONS {
        assert!(worker.install(now_us, prepared.pop().unwrap()).is_ok());
    }
    let window = Counting::start();
    for round in 0..ROUNDS - MAX_SESSIONS as u64 {
        now_us += TICK_US;
        retired.push(worker.remove(now_us, SessionId(1000 + round)).unwrap());
        let session = prepared.pop().unwrap();
        assert!(worker.install(now_us, session).is_ok(), "round {round}");
        worker.tick(now_us);
    }
    let allocations = window.finish();
    assert_eq!(
        allocations.count, 0,
        "sessions coming and going: {allocations}"
    );
    assert_eq!(retired.len(), (ROUNDS - MAX_SESSIONS as u64) as usize);
}
