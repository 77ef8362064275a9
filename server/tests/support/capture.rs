//! tshark on loopback for end-to-end tests (../shared/peers/PEERS.md section 4): capture the
//! UDP of one test's port range while its peers run, then read the RTP back by direction.
//! Every tshark runs under a bounded `-a duration`, with `-n` (no name lookups), and is
//! stopped by its own pid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// True if `tshark` is on the PATH.
pub(crate) fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// How many of `packets` match `pred`.
pub(crate) fn count(packets: &[RtpPacket], pred: impl Fn(&RtpPacket) -> bool) -> usize {
    packets.iter().filter(|p| pred(p)).count()
}

/// The RTP of a bridged call through an echoing callee, counted by leg and direction,
/// each leg in its own payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bridged {
    /// From the caller's media port, in the caller's payload type.
    pub(crate) caller_sent: usize,
    /// To the callee's media port, in the callee's payload type.
    pub(crate) callee_got: usize,
    /// From the callee's media port (its echo), in the callee's payload type.
    pub(crate) callee_echoed: usize,
    /// Back to the caller's media port, in the caller's payload type.
    pub(crate) caller_got: usize,
}

/// Counts `packets` as [`Bridged`]: `caller` and `callee` are (media port, payload type).
pub(crate) fn bridged(packets: &[RtpPacket], caller: (u16, u8), callee: (u16, u8)) -> Bridged {
    let ((caller_port, caller_pt), (callee_port, callee_pt)) = (caller, callee);
    Bridged {
        caller_sent: count(packets, |p| {
            p.src == caller_port && p.payload_type == caller_pt
        }),
        callee_got: count(packets, |p| {
            p.dst == callee_port && p.payload_type == callee_pt
        }),
        callee_echoed: count(packets, |p| {
            p.src == callee_port && p.payload_type == callee_pt
        }),
        caller_got: count(packets, |p| {
            p.dst == caller_port && p.payload_type == caller_pt
        }),
    }
}

/// A running capture on `lo`. Dropping it stops tshark.
pub(crate) struct Capture {
    child: Child,
    file: PathBuf,
}

/// One RTP packet as tshark decoded it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RtpPacket {
    /// UDP source port.
    pub(crate) src: u16,
    /// UDP destination port.
    pub(crate) dst: u16,
    /// RTP payload type.
    pub(crate) payload_type: u8,
    /// The payload bytes.
    pub(crate) payload: Vec<u8>,
    /// Seconds since the capture's first packet.
    pub(crate) time: f64,
    /// RTP SSRC.
    pub(crate) ssrc: u32,
    /// RTP sequence number.
    pub(crate) seq: u16,
    /// RTP marker bit.
    pub(crate) marker: bool,
}

/// The longest silence in `packets` (in capture order): the index of the packet that precedes
/// it and its length in seconds; `None` with fewer than two packets. Hold tests find the hold
/// with it.
pub(crate) fn longest_gap(packets: &[&RtpPacket]) -> Option<(usize, f64)> {
    packets
        .windows(2)
        .enumerate()
        .map(|(i, w)| (i, w[1].time - w[0].time))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

impl Capture {
    /// Starts capturing UDP on loopback within `min..=max` (either port), for at most
    /// `limit`, into a file under `dir`; returns once tshark says it is capturing.
    pub(crate) fn start(dir: &Path, min: u16, max: u16, limit: Duration) -> Self {
        let file = dir.join(format!("capture-{min}-{max}.pcapng"));
        let _ = std::fs::remove_file(&file);
        let mut child = Command::new("tshark")
            .args(["-n", "-q", "-i", "lo", "-f"])
            .arg(format!("udp and portrange {min}-{max}"))
            .arg("-a")
            .arg(format!("duration:{}", limit.as_secs().max(1)))
            .arg("-w")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tshark starts");
        // tshark prints "Capturing on 'Loopback: lo'" once the capture is open.
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("Capturing on") {
                    let _ = tx.send(());
                }
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(10)).is_ok();
        assert!(ready, "tshark did not start capturing within 10 s");
        // The first packets can still be missed right after the message (PEERS.md waits 2 s).
        std::thread::sleep(Duration::from_millis(500));
        Self { child, file }
    }

    /// Stops the capture (SIGINT, so the file is complete) and decodes every packet of
    /// `min..=max` as RTP.
    pub(crate) fn finish(mut self, min: u16, max: u16) -> Vec<RtpPacket> {
        // Let the last packets reach the file.
        std::thread::sleep(Duration::from_millis(500));
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let output = Command::new("timeout")
            .args(["30", "tshark", "-n", "-r"])
            .arg(&self.file)
            .args(["-d", &format!("udp.port=={min}-{max},rtp"), "-Y", "rtp"])
            .args(["-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport"])
            .args(["-e", "rtp.p_type", "-e", "rtp.payload"])
            .args([
                "-e",
                "frame.time_relative",
                "-e",
                "rtp.ssrc",
                "-e",
                "rtp.seq",
            ])
            .args(["-e", "rtp.marker"])
            .stderr(Stdio::null())
            .output()
            .expect("tshark reads the capture");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(parse_line)
            .collect()
    }
}

fn parse_line(line: &str) -> Option<RtpPacket> {
    let mut fields = line.split('\t');
    let src = fields.next()?.parse().ok()?;
    let dst = fields.next()?.parse().ok()?;
    let payload_type = fields.next()?.parse().ok()?;
    // tshark prints the payload as hex, with or without ':' between bytes.
    let hex: Vec<u8> = fields
        .next()
        .unwrap_or("")
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .collect();
    let payload = hex
        .chunks_exact(2)
        .filter_map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect();
    let time = fields.next()?.parse().ok()?;
    let ssrc = fields
        .next()
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())?;
    let seq = fields.next()?.parse().ok()?;
    let marker = matches!(fields.next(), Some("1" | "True" | "true"));
    Some(RtpPacket {
        src,
        dst,
        payload_type,
        payload,
        time,
        ssrc,
        seq,
        marker,
    })
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.file);
    }
}

/// True when a G.711 A-law payload carries sound: some byte is not one of the two codes of
/// a zero sample (0xD5, 0x55) or their nearest neighbours.
pub(crate) fn pcma_has_sound(payload: &[u8]) -> bool {
    payload
        .iter()
        .any(|&b| !matches!(b ^ 0x55, 0x80 | 0x00 | 0x81 | 0x01))
}
