//! The in-process load source (`tandem_benches::synthetic`): it paces real RTP per opened
//! socket, catches up in order after a late tick, accounts what comes back, and a real
//! one-worker runtime transcodes its streams (the worker cannot tell it from a network).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_benches::synthetic::{Plan, SyntheticConfig, SyntheticIo, SyntheticStats, Voice};
use tandem_codecs::EncoderConfig;
use tandem_core::rtp::{PayloadType, RtpHeader, RtpPacket, RtpTimestamp, SeqNo, Ssrc};
use tandem_core::runtime::{Runtime, RuntimeConfig};
use tandem_core::session::{CodecSpec, LegSpec, SessionSpec};
use tandem_drivers::packet::{PacketBuf, PacketIo, PortRange, RecvMeta, Timestamp, Transmit};

const WORKER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const PEER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn opus() -> CodecSpec {
    CodecSpec::opus(16000, PayloadType::new(111).unwrap())
}

/// PCMU for every first pair, Opus for every second (a transcoding call's A and B legs).
fn plan() -> Plan {
    let voices = vec![
        Voice::speech(CodecSpec::PCMU, &EncoderConfig::DEFAULT).unwrap(),
        Voice::speech(opus(), &EncoderConfig::DEFAULT).unwrap(),
    ];
    Plan {
        voices: voices.into(),
        order: vec![0, 1],
    }
}

fn backend(min_port: u16, sample_every: u64) -> (SyntheticIo, Arc<SyntheticStats>) {
    let stats = Arc::new(SyntheticStats::default());
    let config = SyntheticConfig {
        ip: WORKER_IP,
        ports: PortRange::new(min_port, min_port + 99).unwrap(),
        peer_ip: PEER_IP,
        plan: plan(),
        sample_every,
    };
    (SyntheticIo::new(config, Arc::clone(&stats)).unwrap(), stats)
}

/// (payload type, sequence number, timestamp, source) of received packet `i`.
fn header(bufs: &[PacketBuf], meta: &[RecvMeta], i: usize) -> (u8, u16, u32, SocketAddr) {
    let packet = RtpPacket::new_checked(bufs[i].payload(meta[i].len)).unwrap();
    (
        packet.payload_type().get(),
        packet.sequence_number().0,
        packet.timestamp().0,
        meta[i].source,
    )
}

#[test]
fn streams_are_paced_per_socket_and_catch_up_in_order() {
    let (mut io, stats) = backend(20000, 1);
    let a = io.open_pair().unwrap();
    let b = io.open_pair().unwrap();
    let (a_peer, b_peer) = (io.peer_of(a.rtp_port), io.peer_of(b.rtp_port));
    let mut bufs = PacketBuf::new_vec(3);
    let mut meta = RecvMeta::new_vec(3);
    let at = |ms: u64| Timestamp::from_micros(1_000_000 + ms * 1000);

    // The first stream starts at once, the second a tick later; nothing twice per tick.
    assert_eq!(io.recv_batch(at(0), &mut bufs, &mut meta), Ok(1));
    let (pt, seq0, ts0, source) = header(&bufs, &meta, 0);
    assert_eq!((pt, source, meta[0].socket), (0, a_peer, a.rtp));
    assert_eq!(meta[0].destination, SocketAddr::new(WORKER_IP, a.rtp_port));
    assert_eq!(io.recv_batch(at(0), &mut bufs, &mut meta), Ok(0));
    assert_eq!(io.recv_batch(at(10), &mut bufs, &mut meta), Ok(1));
    let (pt, b_seq0, b_ts0, source) = header(&bufs, &meta, 0);
    assert_eq!((pt, source, meta[0].socket), (111, b_peer, b.rtp));
    assert_eq!(io.recv_batch(at(20), &mut bufs, &mut meta), Ok(1));
    let (_, seq, ts, _) = header(&bufs, &meta, 0);
    assert_eq!(
        (seq, ts),
        (seq0.wrapping_add(1), ts0.wrapping_add(160)),
        "PCMU: one packet of 160 samples per 20 ms"
    );

    // The worker comes back 80 ms late: four packets were due on each stream; they come in
    // order, through buffers of three.
    let mut got = Vec::new();
    for _ in 0..5 {
        let n = io.recv_batch(at(100), &mut bufs, &mut meta).unwrap();
        got.extend((0..n).map(|i| header(&bufs, &meta, i)));
    }
    assert_eq!(got.len(), 8, "{got:?}");
    for (k, &(pt, seq, ts, source)) in got[..4].iter().enumerate() {
        let k = k as u16 + 2;
        assert_eq!((pt, source), (0, a_peer));
        assert_eq!(seq, seq0.wrapping_add(k));
        assert_eq!(ts, ts0.wrapping_add(160 * u32::from(k)));
    }
    for (k, &(pt, seq, ts, source)) in got[4..].iter().enumerate() {
        let k = k as u16 + 1;
        assert_eq!((pt, source), (111, b_peer));
        assert_eq!(seq, b_seq0.wrapping_add(k));
        assert_eq!(
            ts,
            b_ts0.wrapping_add(960 * u32::from(k)),
            "Opus' RTP clock is 48 kHz"
        );
    }
    let s = stats.snapshot();
    assert_eq!((s.streams, s.delivered), (2, 11));
    assert_eq!(
        s.delivered_late, 7,
        "all but the one due at 100 ms were late"
    );

    // What the worker sends back is accounted per socket.
    let pcmu = {
        let header = RtpHeader::new(PayloadType::PCMU, SeqNo(1), RtpTimestamp(0), Ssrc(9));
        let mut out = vec![0u8; 172];
        header.emit_packet(&[0x55; 160], &mut out).unwrap();
        out
    };
    let send = |io: &mut SyntheticIo, socket, destination| {
        io.send_batch(
            at(100),
            &[Transmit {
                socket,
                destination,
                payload: &pcmu,
            }],
        )
    };
    assert_eq!(send(&mut io, a.rtp, a_peer), Ok(1));
    assert_eq!(send(&mut io, b.rtp, b_peer), Ok(1)); // PCMU where Opus was negotiated
    assert_eq!(send(&mut io, a.rtp, b_peer), Ok(1)); // to the other leg's phone
    assert_eq!(send(&mut io, a.rtcp, a_peer), Ok(1));
    io.close_pair(a).unwrap();
    assert_eq!(send(&mut io, a.rtp, a_peer), Ok(0));
    let s = stats.snapshot();
    assert_eq!(
        (
            s.returned,
            s.wrong_payload_type,
            s.misdirected,
            s.rtcp,
            s.unknown_socket
        ),
        (1, 1, 1, 1, 1)
    );
    assert_eq!((s.sampled, s.sampled_voiced, s.streams), (1, 1, 1));
    assert_eq!(io.recv_batch(at(200), &mut bufs, &mut meta), Ok(3));
    assert!(
        meta.iter().all(|m| m.socket == b.rtp),
        "a closed pair is silent"
    );
}

#[test]
fn a_one_worker_runtime_transcodes_the_synthetic_streams() {
    let stats = Arc::new(SyntheticStats::default());
    let shared = Arc::clone(&stats);
    let plan = plan();
    let config = RuntimeConfig {
        workers: 1,
        pin: false,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start_with(config, move |_| {
        let config = SyntheticConfig {
            ip: WORKER_IP,
            ports: PortRange::new(20000, 20099).unwrap(),
            peer_ip: PEER_IP,
            plan: plan.clone(),
            sample_every: 1,
        };
        Ok(SyntheticIo::new(config, Arc::clone(&shared)).unwrap())
    })
    .unwrap();
    let calls = 2;
    for _ in 0..calls {
        runtime
            .create_session(&SessionSpec::Transcode {
                a: LegSpec::new(CodecSpec::PCMU),
                b: LegSpec::new(opus()),
            })
            .unwrap();
    }
    // Four streams at 50 packets per second: 400 packets back take about 2 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.snapshot().returned < 400 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    runtime.shutdown();
    let s = stats.snapshot();
    assert_eq!(s.streams, 0, "the runtime closed every pair at shutdown");
    assert!(s.returned >= 400, "{s:?}");
    assert_eq!(
        (s.wrong_payload_type, s.misdirected, s.unknown_socket),
        (0, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.decode_errors, 0, "{s:?}");
    // Speech went in on both sides, so speech comes out (the jitter buffers' start and the
    // pauses between sentences are silent).
    assert!(s.sampled_voiced * 4 >= s.sampled, "{s:?}");
}
