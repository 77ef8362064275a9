//! baresip registers with Tandem using digest authentication (the password of a configured
//! `[[endpoints]]`), calls a conference room, sends RFC 4733 digits, and Tandem reports
//! them; with a wrong password it gets 403 and no binding (../shared/peers/PEERS.md §2).
//!
//! Each run uses a writable copy of `tests/baresip/alice` with its ports moved into this
//! suite's range (21000-21999) and its registrar set to the test's Tandem.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Ports, Tandem};

/// The ports of test `n` (40..42): Tandem's as `Ports::for_test` would give them, baresip's
/// in 21000-21999.
fn ports(n: u16) -> Ports {
    assert!((40..42).contains(&n));
    let k = n - 40;
    Ports {
        peer_sip: 21000 + 10 * k,
        peer_media: 21100 + 100 * k,
        ..Ports::for_test(n)
    }
}

/// baresip's ctrl_tcp port in test `n`.
fn ctrl_port(n: u16) -> u16 {
    21400 + (n - 40)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-baresip-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of alice's config in `dir/alice`, on `p.peer_sip`, RTP from `p.peer_media`,
/// registering with the Tandem of `p` with `password`, controlled on `ctrl`.
fn alice_config(dir: &Path, p: &Ports, password: &str, ctrl: u16) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/baresip/alice");
    let target = dir.join("alice");
    std::fs::create_dir_all(&target).unwrap();
    for file in ["accounts", "config", "contacts"] {
        let text = std::fs::read_to_string(source.join(file)).unwrap();
        let text = text
            .replace("127.0.0.1:5060", &format!("127.0.0.1:{}", p.sip))
            .replace("auth_pass=secret", &format!("auth_pass={password}"))
            .replace("127.0.0.1:5091", &format!("127.0.0.1:{}", p.peer_sip))
            .replace(
                "10100-10199",
                &format!("{}-{}", p.peer_media, p.peer_media + 99),
            )
            .replace("127.0.0.1:4445", &format!("127.0.0.1:{ctrl}"));
        std::fs::write(target.join(file), text).unwrap();
    }
    target
}

/// Tandem with alice (password `secret`) as its only endpoint.
fn start_tandem(p: &Ports, dir: &Path) -> Tandem {
    let config = dir.join("tandem.toml");
    std::fs::write(
        &config,
        "[[endpoints]]\nusername = \"alice\"\npassword = \"secret\"\n",
    )
    .unwrap();
    let mut args = p.run_args();
    args.extend(["--config".to_owned(), config.to_string_lossy().into_owned()]);
    Tandem::start(&args)
}

/// baresip with config folder `config`, run from `dir`, quitting after `seconds`.
fn baresip(dir: &Path, config: &Path, seconds: u32) -> Child {
    // An 8 kHz mono tone longer than the call: baresip does not resample, and its source
    // stops at the end of the file (PEERS.md §2 pitfalls).
    let status = Command::new("timeout")
        .args(["20", "sox", "-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(dir.join("tone.wav"))
        .args(["synth", "30", "sine", "440", "vol", "0.5"])
        .status()
        .expect("sox runs");
    assert!(status.success());
    Command::new("timeout")
        .arg((seconds + 10).to_string())
        .arg("baresip")
        .arg("-f")
        .arg(config)
        .args(["-t", &seconds.to_string()])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("baresip.log")).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip starts")
}

/// Sends one ctrl_tcp command (JSON in a netstring) and returns what comes back within
/// `wait` (the response, then any events).
fn ctrl(port: u16, command: &str, params: &str, wait: Duration) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("ctrl_tcp {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let json = format!(r#"{{"command":"{command}","params":"{params}","token":"t1"}}"#);
    write!(stream, "{}:{json},", json.len()).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let until = Instant::now() + wait;
    while Instant::now() < until {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits up to `limit` for `child` to exit by itself, then kills it.
fn wait_for(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Waits up to `limit` for `needle` in Tandem's stderr.
fn wait_for_log(tandem: &Tandem, needle: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if tandem.stderr().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn alice_registers_calls_a_conference_and_her_digits_are_reported() {
    let p = ports(40);
    let dir = scratch("dtmf");
    let tandem = start_tandem(&p, &dir);
    let config = alice_config(&dir, &p, "secret", ctrl_port(40));
    let mut alice = baresip(&dir, &config, 20);

    assert!(
        wait_for_log(&tandem, "registered", Duration::from_secs(8)),
        "alice registered: {}",
        tandem.stderr()
    );
    let dialled = ctrl(
        ctrl_port(40),
        "dial",
        &format!("sip:conf-x@127.0.0.1:{}", p.sip),
        Duration::from_secs(4),
    );
    assert!(dialled.contains("CALL_ESTABLISHED"), "{dialled}");
    let sent = ctrl(ctrl_port(40), "sndcode", "123#", Duration::from_secs(3));
    assert!(sent.contains("\"ok\":true"), "{sent}");
    let reported = wait_for_log(&tandem, "digit=#", Duration::from_secs(5));
    ctrl(ctrl_port(40), "hangup", "", Duration::from_secs(1));
    ctrl(ctrl_port(40), "quit", "", Duration::from_millis(500));
    let code = wait_for(&mut alice, Duration::from_secs(15));
    let (status, stderr) = tandem.terminate();
    let log = std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default();

    assert!(reported, "digits reported: {stderr}\nbaresip: {log}");
    let digits: String = stderr
        .lines()
        .filter(|l| l.contains("dtmf call=") && l.contains("source=rtp"))
        .filter_map(|l| l.split("digit=").nth(1)?.chars().next())
        .collect();
    assert_eq!(digits, "123#", "{stderr}");
    assert!(log.contains("200 OK"), "baresip registered: {log}");
    assert_eq!(code, Some(0), "baresip: {log}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn a_wrong_password_is_forbidden_and_leaves_no_binding() {
    let p = ports(41);
    let dir = scratch("wrong-password");
    let tandem = start_tandem(&p, &dir);
    let config = alice_config(&dir, &p, "wrong", ctrl_port(41));
    let mut alice = baresip(&dir, &config, 4);
    let code = wait_for(&mut alice, Duration::from_secs(14));
    let (status, stderr) = tandem.terminate();
    let log = std::fs::read_to_string(dir.join("baresip.log")).unwrap_or_default();

    assert!(
        log.contains("403 Forbidden"),
        "baresip: {log}\ntandem: {stderr}"
    );
    assert!(stderr.contains("wrong password: 403"), "{stderr}");
    assert!(!stderr.contains("registered source="), "{stderr}");
    assert!(code.is_some(), "baresip quit by itself: {log}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}
