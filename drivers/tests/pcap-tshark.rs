//! Captures written by `Capture` open in tshark and decode as RTP, over IPv4 and IPv6; and
//! `PcapReplay` reads back exactly what was captured, with addresses and timestamps.
//!
//! Needs `tshark` (Debian package `tshark`, installed by `scripts/deps.sh test`): without it
//! the tshark tests fail with a message saying so. Real sockets use ports 31500–31599.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tandem_drivers::packet::pcap::{Capture, Pacing, PcapReader, PcapReplay, ReplayConfig};
use tandem_drivers::packet::udp::{UdpConfig, UdpIo};
use tandem_drivers::packet::{
    PacketBuf, PacketIo, PortPair, PortRange, RecvMeta, Timestamp, Transmit,
};

/// 2023-11-14 22:13:20 UTC: captures with real dates.
const EPOCH: Timestamp = Timestamp::from_nanos(1_700_000_000_000_000_000);
const FIRST_SEQ: u16 = 5000;
const PACKETS: u16 = 20;

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tandem-drivers-{}-{name}.pcap", std::process::id()))
}

/// An RTP packet (RFC 3550 §5.1): V=2, PT 0 (PCMU), 20 ms of µ-law silence.
fn rtp(seq: u16) -> Vec<u8> {
    let timestamp = u32::from(seq) * 160;
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend(std::iter::repeat_n(0xff, 160));
    p
}

fn now(i: u16) -> Timestamp {
    EPOCH.saturating_add(Duration::from_millis(20 * u64::from(i)))
}

struct Call {
    sender_pcap: PathBuf,
    receiver_pcap: PathBuf,
    sender: SocketAddr,
    receiver_port: u16,
}

/// Sends `PACKETS` RTP packets from one captured UDP backend to another, receiving each
/// one as it goes, and flushes both captures.
fn captured_call(ip: IpAddr, base: u16, name: &str) -> Call {
    let sender_pcap = temp_path(&format!("{name}-sender"));
    let receiver_pcap = temp_path(&format!("{name}-receiver"));
    let a = UdpIo::new(UdpConfig::new(ip, PortRange::new(base, base + 1).unwrap())).unwrap();
    let b = UdpIo::new(UdpConfig::new(
        ip,
        PortRange::new(base + 2, base + 3).unwrap(),
    ))
    .unwrap();
    let mut a = Capture::create(a, &sender_pcap).unwrap();
    let mut b = Capture::create(b, &receiver_pcap).unwrap();
    let pa: PortPair = a.open_pair().unwrap();
    let pb = b.open_pair().unwrap();
    let to = b.local_addr(pb.rtp).unwrap();
    let mut bufs = PacketBuf::new_vec(4);
    let mut meta = RecvMeta::new_vec(4);
    for i in 0..PACKETS {
        let payload = rtp(FIRST_SEQ + i);
        let t = Transmit {
            socket: pa.rtp,
            destination: to,
            payload: &payload,
        };
        assert_eq!(a.send_batch(now(i), &[t]), Ok(1));
        let mut got = 0;
        for _ in 0..1_000 {
            got += b.recv_batch(now(i), &mut bufs, &mut meta).unwrap();
            if got == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(got, 1, "datagram {i} arrived");
    }
    a.flush().unwrap();
    b.flush().unwrap();
    Call {
        sender_pcap,
        receiver_pcap,
        sender: a.local_addr(pa.rtp).unwrap(),
        receiver_port: pb.rtp_port,
    }
}

fn tshark(file: &Path, args: &[&str]) -> String {
    let output = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run tshark ({e}): install the Debian package `tshark` \
                 (scripts/deps.sh test does) to check that captures decode as RTP"
            )
        });
    assert!(
        output.status.success(),
        "tshark failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn expected_seqs() -> String {
    (FIRST_SEQ..FIRST_SEQ + PACKETS)
        .map(|s| format!("{s}\n"))
        .collect()
}

fn check_decodes_as_rtp(call: &Call) {
    let decode_as = format!("udp.port=={},rtp", call.receiver_port);
    for file in [&call.sender_pcap, &call.receiver_pcap] {
        let seqs = tshark(file, &["-d", &decode_as, "-T", "fields", "-e", "rtp.seq"]);
        assert_eq!(seqs, expected_seqs(), "{}", file.display());
    }
    // Frame times are the `now` passed in, and nothing is malformed.
    let fields = tshark(
        &call.receiver_pcap,
        &[
            "-d",
            &decode_as,
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "rtp.p_type",
            "-e",
            "_ws.malformed",
        ],
    );
    let first = fields.lines().next().unwrap();
    assert!(first.starts_with("1700000000.000000"), "{first}");
    assert!(first.split('\t').nth(1) == Some("0"), "{first}");
    assert!(!fields.contains("Malformed"), "{fields}");
}

#[test]
fn ipv4_capture_decodes_as_rtp_in_tshark() {
    let call = captured_call(IpAddr::V4(Ipv4Addr::LOCALHOST), 31500, "v4");
    check_decodes_as_rtp(&call);
    let heuristic = tshark(
        &call.receiver_pcap,
        &[
            "-o",
            "rtp.heuristic_rtp:TRUE",
            "-T",
            "fields",
            "-e",
            "rtp.seq",
        ],
    );
    assert_eq!(heuristic, expected_seqs(), "heuristic RTP decoding");
    // tshark verifies the checksums we computed: 1 is "good" (0 bad, 2 unverified).
    let status = tshark(
        &call.sender_pcap,
        &[
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "ip.checksum.status",
            "-e",
            "udp.checksum.status",
        ],
    );
    assert_eq!(status, "1\t1\n".repeat(usize::from(PACKETS)), "checksums");
    let _ = std::fs::remove_file(&call.sender_pcap);
    let _ = std::fs::remove_file(&call.receiver_pcap);
}

#[test]
fn ipv6_capture_decodes_as_rtp_in_tshark() {
    let call = captured_call(IpAddr::V6(Ipv6Addr::LOCALHOST), 31510, "v6");
    check_decodes_as_rtp(&call);
    let src = tshark(&call.receiver_pcap, &["-T", "fields", "-e", "ipv6.src"]);
    assert_eq!(src.lines().next(), Some("::1"));
    let _ = std::fs::remove_file(&call.sender_pcap);
    let _ = std::fs::remove_file(&call.receiver_pcap);
}

#[test]
fn replay_yields_what_the_capture_recorded() {
    let call = captured_call(IpAddr::V4(Ipv4Addr::LOCALHOST), 31520, "replay");
    for file in [&call.sender_pcap, &call.receiver_pcap] {
        let bytes = std::fs::read(file).unwrap();
        assert_eq!(
            PcapReader::new(&bytes).unwrap().count(),
            usize::from(PACKETS)
        );
        let mut replay = PcapReplay::open(
            file,
            ReplayConfig {
                ports: PortRange::new(call.receiver_port, call.receiver_port + 1).unwrap(),
                pacing: Pacing::Recorded,
            },
        )
        .unwrap();
        assert_eq!(replay.len(), usize::from(PACKETS));
        assert_eq!(replay.skipped_frames(), 0);
        assert_eq!(replay.tail_error(), None);
        let pair = replay.open_pair().unwrap();
        assert_eq!(pair.rtp_port, call.receiver_port);
        let mut bufs = PacketBuf::new_vec(8);
        let mut meta = RecvMeta::new_vec(8);
        // Paced as recorded: one packet per 20 ms of `now`, starting at any epoch.
        let start = Timestamp::from_millis(1_000);
        for i in 0..PACKETS {
            let t = start.saturating_add(Duration::from_millis(20 * u64::from(i)));
            assert_eq!(
                replay.recv_batch(t, &mut bufs, &mut meta),
                Ok(1),
                "packet {i}"
            );
            let m = meta[0];
            assert_eq!(bufs[0].payload(m.len), rtp(FIRST_SEQ + i));
            assert_eq!(m.source, call.sender);
            assert_eq!(m.destination.port(), call.receiver_port);
            assert_eq!(m.socket, pair.rtp);
            assert_eq!(m.timestamp, Some(now(i)));
            let early = t.saturating_add(Duration::from_millis(19));
            assert_eq!(replay.recv_batch(early, &mut bufs, &mut meta), Ok(0));
        }
        assert_eq!(replay.remaining(), 0);
        let _ = std::fs::remove_file(file);
    }
}
