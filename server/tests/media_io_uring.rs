//! `tandem run --io uring`: the io_uring packet backend carries a real call. A caller and a
//! callee (plain UDP sockets) set up a PCMU passthrough call over ng (`offer`, `answer`), and
//! each sends 100 RTP packets paced at 20 ms. Every packet reaches the other side with its
//! payload intact and in order, and the same holds for a server configured with
//! `[media] io = "uring"` in its file; both servers log that io_uring is in use (no
//! fallback on this kernel) and stop cleanly.
//!
//! Test numbers 16 and 17 ([`support::Ports::for_test`]).

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use tandem::ng::bencode::Value;
use tandem_core::rtp::{PayloadType, RtpHeader, RtpTimestamp, SeqNo, Ssrc};

use support::ng::{NgClient, media_port, pcmu_sdp};
use support::{Ports, Tandem};

/// Packets each side sends.
const PACKETS: u32 = 100;

fn ok(reply: &Value) -> bool {
    reply.get("result").and_then(Value::as_str) == Some("ok")
}

/// RTP packet `i` of a stream: PCMU, a payload that names the stream and the packet.
fn packet(i: u32, ssrc: u32) -> Vec<u8> {
    let mut payload = [0u8; 160];
    payload[..4].copy_from_slice(&ssrc.to_be_bytes());
    payload[4..8].copy_from_slice(&i.to_be_bytes());
    let header = RtpHeader::new(
        PayloadType::PCMU,
        SeqNo(i as u16),
        RtpTimestamp(i * 160),
        Ssrc(ssrc),
    );
    let mut buf = vec![0; header.buffer_len(payload.len())];
    header.emit_packet(&payload, &mut buf).unwrap();
    buf
}

/// The (ssrc, index) an RTP packet of [`packet`] carries in its payload (fixed 12-byte
/// header: no CSRC, no extension).
fn tag(datagram: &[u8]) -> Option<(u32, u32)> {
    let payload = datagram.get(12..)?;
    Some((
        u32::from_be_bytes(payload.get(0..4)?.try_into().ok()?),
        u32::from_be_bytes(payload.get(4..8)?.try_into().ok()?),
    ))
}

/// Every packet's index that `socket` received from stream `ssrc`, in arrival order, until
/// it has been quiet for 300 ms (at most 5 s).
fn drain(socket: &UdpSocket, ssrc: u32) -> Vec<u32> {
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Ok(n) = socket.recv(&mut buf) else {
            break;
        };
        if let Some((s, i)) = tag(&buf[..n])
            && s == ssrc
        {
            seen.push(i);
        }
    }
    seen
}

/// Sets up a passthrough call over ng, relays 100 packets each way, and checks they all
/// arrived, in order, then deletes the call.
fn relay_a_call(ports: Ports, call: &str) {
    let mut ng = NgClient::new(ports.ng);
    let caller = UdpSocket::bind("127.0.0.1:0").unwrap();
    let callee = UdpSocket::bind("127.0.0.1:0").unwrap();
    let offer = ng.call(&[
        ("command", Value::str("offer")),
        ("call-id", Value::str(call)),
        ("from-tag", Value::str("caller")),
        ("sdp", pcmu_sdp(caller.local_addr().unwrap().port())),
    ]);
    assert!(ok(&offer), "{offer:?}");
    let towards_callee = media_port(&offer);
    let answer = ng.call(&[
        ("command", Value::str("answer")),
        ("call-id", Value::str(call)),
        ("from-tag", Value::str("caller")),
        ("to-tag", Value::str("callee")),
        ("sdp", pcmu_sdp(callee.local_addr().unwrap().port())),
    ]);
    assert!(ok(&answer), "{answer:?}");
    let towards_caller = media_port(&answer);
    for port in [towards_callee, towards_caller] {
        assert!(
            (ports.rtp_min..=ports.rtp_max).contains(&port),
            "media port {port} outside the test's range"
        );
    }

    let started = Instant::now();
    for i in 0..PACKETS {
        caller
            .send_to(&packet(i, 0xCA11), ("127.0.0.1", towards_caller))
            .unwrap();
        callee
            .send_to(&packet(i, 0xCA1E), ("127.0.0.1", towards_callee))
            .unwrap();
        let next = started + Duration::from_millis(20 * u64::from(i + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let expected: Vec<u32> = (0..PACKETS).collect();
    assert_eq!(drain(&callee, 0xCA11), expected, "caller -> callee");
    assert_eq!(drain(&caller, 0xCA1E), expected, "callee -> caller");

    let deleted = ng.call(&[
        ("command", Value::str("delete")),
        ("call-id", Value::str(call)),
    ]);
    assert!(ok(&deleted), "{deleted:?}");
}

#[test]
fn a_passthrough_call_flows_over_io_uring_with_the_flag() {
    let ports = Ports::for_test(16);
    let mut args = ports.run_args();
    args.extend(["--io".into(), "uring".into()]);
    let tandem = Tandem::start(&args);
    relay_a_call(ports, "uring-flag-16");
    let (status, stderr) = tandem.terminate();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("media packet I/O: uring"),
        "io_uring in use, no fallback:\n{stderr}"
    );
}

#[test]
fn a_passthrough_call_flows_over_io_uring_from_the_config_file() {
    let ports = Ports::for_test(17);
    let config = std::env::temp_dir().join(format!("tandem-io-uring-{}.toml", std::process::id()));
    std::fs::write(&config, "[media]\nio = \"uring\"\n").unwrap();
    let mut args = ports.run_args();
    args.extend(["--config".into(), config.display().to_string()]);
    let tandem = Tandem::start(&args);
    relay_a_call(ports, "uring-file-17");
    let (status, stderr) = tandem.terminate();
    std::fs::remove_file(&config).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("media packet I/O: uring"),
        "io_uring in use, no fallback:\n{stderr}"
    );
}
