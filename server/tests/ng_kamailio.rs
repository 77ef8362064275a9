//! Interop with the real thing: Debian's Kamailio, with its `rtpengine` module pointed at
//! Tandem's ng port, proxies sipp calls; the Kamailio configuration is the team's own
//! `tests/kamailio/kamailio.cfg` (the one that drives rtpengine), unchanged but for its
//! defines and its listen port.
//!
//! Each test (but the burst, at the end): `tandem run` (ng, SIP and RTP on the test's own
//! ports in 22000–22999),
//! Kamailio, a sipp UAS that echoes RTP, sipp's `uac_pcap` calling through Kamailio. Checked:
//! both sipps succeed; the SDP each one received carries Tandem's address and a port of
//! Tandem's range; mid-call, Tandem's own `query` shows RTP received from and sent to both
//! sides. Skipped (with a message) when kamailio or sipp is not installed
//! (`scripts/deps.sh test`). Every process runs under `timeout` and is stopped by its pid.

mod support;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tandem::ng::bencode::{Value, decode};

use support::{Sipp, Tandem, sipp_available};

/// The ports of one test.
struct Ports {
    tandem_sip: u16,
    ng: u16,
    rtp: (u16, u16),
    kamailio: u16,
    uas: u16,
    uas_media: u16,
    uac: u16,
    uac_media: u16,
}

impl Ports {
    fn at(base: u16) -> Self {
        Self {
            tandem_sip: base,
            ng: base + 1,
            kamailio: base + 10,
            uas: base + 20,
            uas_media: base + 30,
            uac: base + 40,
            uac_media: base + 50,
            rtp: (base + 100, base + 199),
        }
    }
}

fn available(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-ng-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Kamailio under `timeout`, stopped by its pid when dropped.
struct Kamailio {
    child: Child,
    dir: PathBuf,
}

impl Kamailio {
    /// Starts the team's kamailio.cfg listening on `port`, its ng socket on `ng`, calls
    /// going to `uas`; `defines` adds `-A` defines (`WITH_TRANSCODE`).
    fn start(dir: &Path, port: u16, ng: u16, uas: u16, defines: &[&str]) -> Self {
        let cfg = include_str!("kamailio/kamailio.cfg")
            .replace(
                "listen=udp:127.0.0.1:5070",
                &format!("listen=udp:127.0.0.1:{port}"),
            )
            .replace(
                "alias=\"127.0.0.1:5070\"",
                &format!("alias=\"127.0.0.1:{port}\""),
            );
        let path = dir.join("kamailio.cfg");
        std::fs::write(&path, cfg).unwrap();
        let log = std::fs::File::create(dir.join("kamailio.log")).unwrap();
        let mut command = Command::new("timeout");
        command
            .args(["60", "kamailio", "-f"])
            .arg(&path)
            .args(["-DD", "-E", "-Y"])
            .arg(dir)
            .arg("-P")
            .arg(dir.join("kamailio.pid"))
            .arg("-w")
            .arg(dir)
            .arg("-A")
            .arg(format!("RTPENGINE_SOCK=\"udp:127.0.0.1:{ng}\""))
            .arg("-A")
            .arg(format!("UAS_URI=\"sip:127.0.0.1:{uas}\""));
        for define in defines {
            command.arg("-A").arg(define);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio starts");
        Self {
            child,
            dir: dir.to_owned(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One ng request from the test itself, answered within two seconds. Each gets its own
/// cookie: a repeated cookie is answered from Tandem's reply cache.
fn ng(port: u16, body: &[u8]) -> Value {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let cookie = format!("test_{} ", NEXT.fetch_add(1, Ordering::Relaxed));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut datagram = cookie.clone().into_bytes();
    datagram.extend_from_slice(body);
    socket.send_to(&datagram, ("127.0.0.1", port)).unwrap();
    let mut buf = vec![0u8; 65_535];
    let len = socket.recv(&mut buf).expect("an ng reply");
    let reply = buf[..len]
        .strip_prefix(cookie.as_bytes())
        .expect("our cookie");
    decode(reply).unwrap()
}

/// The SDP bodies in a sipp `-message_file`, as received (sipp logs both directions).
fn received_sdp(messages: &str) -> Vec<String> {
    messages
        .split("----------------------------------------------- ")
        .filter(|m| m.contains("message received"))
        .filter_map(|m| m.find("v=0").map(|i| m[i..].to_owned()))
        .collect()
}

fn audio_port(sdp: &str) -> Option<u16> {
    let line = sdp.lines().find(|l| l.starts_with("m=audio "))?;
    line.split(' ').nth(1)?.parse().ok()
}

/// Per side of a queried call: (codec, RTP packets received, packets sent).
fn legs_of(query: &Value) -> Vec<(String, i64, i64)> {
    let Some(Value::Dict(tags)) = query.get("tags") else {
        return Vec::new();
    };
    tags.iter()
        .filter_map(|(_, tag)| {
            let media = tag.get("medias")?.as_list()?.first()?;
            let stream = media.get("streams")?.as_list()?.first()?;
            Some((
                media.get("codec")?.as_str()?.to_owned(),
                stream.get("stats")?.get("packets")?.as_int()?,
                stream.get("sent")?.get("packets")?.as_int()?,
            ))
        })
        .collect()
}

struct Outcome {
    uas_sdp: Vec<String>,
    uac_sdp: Vec<String>,
    query: Value,
    statistics: Value,
    kamailio_log: String,
}

/// `tandem run` with one worker on the test's ports.
fn start_tandem(p: &Ports) -> Tandem {
    Tandem::start(&[
        "run".to_owned(),
        "--sip".to_owned(),
        format!("127.0.0.1:{}", p.tandem_sip),
        "--ng".to_owned(),
        format!("127.0.0.1:{}", p.ng),
        "--rtp-ports".to_owned(),
        format!("{}-{}", p.rtp.0, p.rtp.1),
        "--workers".to_owned(),
        "1".to_owned(),
    ])
}

/// One call through Kamailio and Tandem; panics with every log when a sipp fails.
fn call(name: &str, base: u16, uas_scenario: &str, defines: &[&str]) -> Option<Outcome> {
    if !(available("kamailio") && sipp_available()) {
        eprintln!("skipped: kamailio or sipp missing (scripts/deps.sh test)");
        return None;
    }
    let p = Ports::at(base);
    let dir = scratch(name);
    let tandem = start_tandem(&p);
    let kamailio = Kamailio::start(&dir, p.kamailio, p.ng, p.uas, defines);
    std::thread::sleep(Duration::from_secs(2));
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kamailio")
        .join(uas_scenario);
    let uas_messages = dir.join("uas.msg");
    let uac_messages = dir.join("uac.msg");
    let uas = Sipp::new(
        &format!("{name}-uas"),
        scenario.to_str().unwrap(),
        p.uas,
        p.uas_media,
        1,
        Duration::from_secs(25),
    )
    .args(&["-rtp_echo", "-trace_msg", "-message_file"])
    .args(&[uas_messages.to_str().unwrap()])
    .spawn();
    std::thread::sleep(Duration::from_millis(500));
    let uac = Sipp::new(
        &format!("{name}-uac"),
        "uac_pcap",
        p.uac,
        p.uac_media,
        1,
        Duration::from_secs(25),
    )
    .args(&[
        format!("127.0.0.1:{}", p.kamailio),
        "-trace_msg".to_owned(),
        "-message_file".to_owned(),
        uac_messages.to_str().unwrap().to_owned(),
    ]);
    let caller = std::thread::spawn(move || uac.run(Duration::from_secs(30)));
    // Mid-call (uac_pcap plays about 7 s): Tandem's own view of the call.
    std::thread::sleep(Duration::from_secs(4));
    let list = ng(p.ng, b"d7:command4:liste");
    let call_id = list
        .get("calls")
        .and_then(Value::as_list)
        .and_then(|c| c.first())
        .and_then(Value::as_str)
        .map(str::to_owned);
    let query = match &call_id {
        Some(id) => {
            let mut body = b"d7:command5:query7:call-id".to_vec();
            body.extend_from_slice(format!("{}:{id}e", id.len()).as_bytes());
            ng(p.ng, &body)
        }
        None => Value::List(Vec::new()),
    };
    let statistics = ng(p.ng, b"d7:command10:statisticse");
    let uac = caller.join().unwrap();
    let uas = uas.wait(Duration::from_secs(10));
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let context = || {
        format!(
            "uac: {uac:?}\nuas: {uas:?}\nkamailio:\n{}\ntandem:\n{}",
            kamailio.log(),
            tandem.stderr()
        )
    };
    assert_eq!(uac.code, Some(0), "{}", context());
    assert_eq!(uas.code, Some(0), "{}", context());
    let outcome = Outcome {
        uas_sdp: received_sdp(&read(&uas_messages)),
        uac_sdp: received_sdp(&read(&uac_messages)),
        query,
        statistics,
        kamailio_log: kamailio.log(),
    };
    assert!(call_id.is_some(), "Tandem listed no call: {}", context());
    drop(kamailio);
    let (status, _) = tandem.terminate();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
    Some(outcome)
}

fn assert_rewritten(sdp: &[String], range: (u16, u16), who: &str) {
    assert!(!sdp.is_empty(), "{who} received no SDP");
    for body in sdp {
        let port = audio_port(body).unwrap_or(0);
        assert!(
            (range.0..=range.1).contains(&port),
            "{who} got port {port}, not Tandem's: {body}"
        );
        assert!(body.contains("c=IN IP4 127.0.0.1"), "{body}");
        assert!(body.contains(&format!("a=rtcp:{}", port + 1)), "{body}");
    }
}

#[test]
fn kamailio_relays_a_pcma_call_through_tandem() {
    let base = 22200;
    let Some(outcome) = call("plain", base, "uas_pcma_echo.xml", &[]) else {
        return;
    };
    let range = Ports::at(base).rtp;
    assert_rewritten(&outcome.uas_sdp, range, "the callee");
    assert_rewritten(&outcome.uac_sdp, range, "the caller");
    assert!(
        outcome.uas_sdp[0].contains("RTP/AVP 8 101"),
        "{}",
        outcome.uas_sdp[0]
    );
    let legs = legs_of(&outcome.query);
    eprintln!("relay, mid-call (codec, received, sent) per side: {legs:?}");
    assert_eq!(legs.len(), 2, "{:?}", outcome.query);
    for (codec, received, sent) in &legs {
        assert_eq!(codec, "PCMA/8000");
        assert!(
            *received > 50 && *sent > 50,
            "media through Tandem: {legs:?}"
        );
    }
    let current = outcome
        .statistics
        .get("statistics")
        .and_then(|s| s.get("currentstatistics"));
    assert_eq!(
        current.and_then(|c| c.get("transcodedmedia")),
        Some(&Value::Int(0))
    );
    // Kamailio read the call's MOS from Tandem's delete reply (`mos_average_pv`).
    let line = outcome
        .kamailio_log
        .lines()
        .find(|l| l.contains("BYE: average MOS"))
        .unwrap_or_else(|| panic!("no MOS logged:\n{}", outcome.kamailio_log));
    let mos: f64 = line
        .split("average MOS ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    eprintln!("{line}");
    assert!((4.0..=4.5).contains(&mos), "{line}");
    assert!(line.contains("packet loss 0 %"), "{line}");
    // And the lowest and highest interval scores (`mos_min_pv`, `mos_max_pv`).
    let score = |label: &str| -> f64 {
        line.split(label)
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|m| m.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label}in {line}"))
    };
    let (lowest, highest) = (score("lowest MOS "), score("highest MOS "));
    assert!(
        (4.0..=4.5).contains(&lowest) && lowest <= mos && mos <= highest,
        "{line}"
    );
}

#[test]
fn kamailio_transcodes_pcma_to_opus_through_tandem() {
    let base = 22600;
    let Some(outcome) = call("transcode", base, "uas_opus_only.xml", &["WITH_TRANSCODE"]) else {
        return;
    };
    let range = Ports::at(base).rtp;
    assert_rewritten(&outcome.uas_sdp, range, "the callee");
    assert_rewritten(&outcome.uac_sdp, range, "the caller");
    assert!(
        outcome.uas_sdp[0].contains("RTP/AVP 96\r\na=rtpmap:96 opus/48000/2"),
        "{}",
        outcome.uas_sdp[0]
    );
    assert!(
        outcome.uac_sdp[0].contains("a=rtpmap:8 PCMA/8000"),
        "{}",
        outcome.uac_sdp[0]
    );
    let mut legs = legs_of(&outcome.query);
    legs.sort();
    eprintln!("transcode, mid-call (codec, received, sent) per side: {legs:?}");
    assert_eq!(legs.len(), 2, "{:?}", outcome.query);
    assert_eq!(legs[0].0, "PCMA/8000");
    assert_eq!(legs[1].0, "opus/48000/2");
    for (_, received, sent) in &legs {
        assert!(
            *received > 50 && *sent > 50,
            "media through Tandem: {legs:?}"
        );
    }
    let current = outcome
        .statistics
        .get("statistics")
        .and_then(|s| s.get("currentstatistics"));
    assert_eq!(
        current.and_then(|c| c.get("transcodedmedia")),
        Some(&Value::Int(1))
    );
}

/// A burst: 300 calls at 100 calls per second through the same Kamailio configuration
/// (2 children, each waiting for Tandem's reply to every ng command, 1 s timeout), sipp's
/// built-in UAC and UAS, calls of 20 ms. Every call must succeed, and none may be left in
/// Tandem afterwards. (When each ng command waited for a worker's tick, Tandem answered about
/// 60 commands a second and most of these calls failed on Kamailio's timeout.)
#[test]
fn kamailio_carries_a_burst_of_calls_through_tandem() {
    if !(available("kamailio") && sipp_available()) {
        eprintln!("skipped: kamailio or sipp missing (scripts/deps.sh test)");
        return;
    }
    const CALLS: u32 = 300;
    let p = Ports::at(22800);
    let dir = scratch("burst");
    let tandem = start_tandem(&p);
    let kamailio = Kamailio::start(&dir, p.kamailio, p.ng, p.uas, &[]);
    std::thread::sleep(Duration::from_secs(2));
    let uas = Sipp::new(
        "burst-uas",
        "uas",
        p.uas,
        p.uas_media,
        CALLS,
        Duration::from_secs(40),
    )
    .spawn();
    std::thread::sleep(Duration::from_millis(500));
    let uac = Sipp::new(
        "burst-uac",
        "uac",
        p.uac,
        p.uac_media,
        CALLS,
        Duration::from_secs(40),
    )
    .args(&[
        format!("127.0.0.1:{}", p.kamailio),
        "-r".to_owned(),
        "100".to_owned(),
        "-d".to_owned(),
        "20".to_owned(),
    ])
    .run(Duration::from_secs(45));
    let uas = uas.wait(Duration::from_secs(10));
    let left = ng(p.ng, b"d7:command4:liste");
    let context = || {
        format!(
            "uac: {uac:?}\nuas: {uas:?}\nkamailio:\n{}\ntandem:\n{}",
            kamailio.log(),
            tandem.stderr()
        )
    };
    let stats = uac.stats.as_ref().expect("sipp's stat file");
    assert_eq!(
        (stats.successful(), stats.failed()),
        (u64::from(CALLS), 0),
        "{}",
        context()
    );
    assert_eq!(uac.code, Some(0), "{}", context());
    assert_eq!(
        left.get("calls")
            .and_then(Value::as_list)
            .map(<[Value]>::len),
        Some(0),
        "calls left in Tandem: {left:?}"
    );
    drop(kamailio);
    let (status, _) = tandem.terminate();
    assert!(status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
