//! Support for end-to-end tests of `tandem run`: [`Tandem`], a guard around a running server
//! process, and [`Sipp`], a runner for sipp peers (../shared/peers/PEERS.md section 1).
//!
//! Ports: test `n` uses [`Ports::for_test`]: SIP 15060+n, API and ng 15200+n (TCP and UDP,
//! so they do not clash), RTP 16000+100n to +99, and for its sipp peers SIP 15150+n and media
//! 25000+20n; with ng over TCP too, ng on 15900+n. Tests 40 and 41 are the baresip test's
//! (its own peer ports, Tandem's as here), 43 and 44 the upstream registration test's (its
//! registrar's in 21000-21999). Other suites use other ranges, all below 32768: Linux hands
//! out ephemeral ports from 32768 up, so any socket bound to port 0 on the machine (a peer's
//! control socket, Kamailio's ng client, an API on port 0) could take a fixed test port there
//! and make a peer fail to start. Every wait is bounded; every process started here is
//! stopped by its own pid when its guard drops.

#![allow(dead_code)] // Each test binary uses part of this module.

pub(crate) mod capture;
pub(crate) mod dns;
pub(crate) mod metrics;
pub(crate) mod ng;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a server may take to print its ready line.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a stopped server may take to exit before it is killed.
pub(crate) const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The ready line's marker (`tandem::run::READY`).
pub(crate) const READY: &str = "tandem ready:";

/// The ports of test `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ports {
    /// SIP, UDP and TCP.
    pub(crate) sip: u16,
    /// REST API (TCP).
    pub(crate) api: u16,
    /// ng protocol (UDP).
    pub(crate) ng: u16,
    /// First RTP port (even).
    pub(crate) rtp_min: u16,
    /// Last RTP port.
    pub(crate) rtp_max: u16,
    /// A sipp peer's SIP port.
    pub(crate) peer_sip: u16,
    /// A sipp peer's media port.
    pub(crate) peer_media: u16,
}

impl Ports {
    /// The ports of test `n` (0..50).
    pub(crate) fn for_test(n: u16) -> Self {
        assert!(n < 50, "test numbers 0..50 keep ports in their ranges");
        Self {
            sip: 15060 + n,
            api: 15200 + n,
            ng: 15200 + n,
            rtp_min: 16000 + 100 * n,
            rtp_max: 16000 + 100 * n + 99,
            peer_sip: 15150 + n,
            peer_media: 25000 + 20 * n,
        }
    }

    /// `tandem run` flags that put the server on these ports with one media worker.
    pub(crate) fn run_args(&self) -> Vec<String> {
        vec![
            "run".into(),
            "--sip".into(),
            format!("127.0.0.1:{}", self.sip),
            "--api".into(),
            format!("127.0.0.1:{}", self.api),
            "--ng".into(),
            format!("127.0.0.1:{}", self.ng),
            "--rtp-ports".into(),
            format!("{}-{}", self.rtp_min, self.rtp_max),
            "--workers".into(),
            "1".into(),
        ]
    }

    /// The ng port when ng listens on TCP too ([`Self::run_args_ng_tcp`]): `ng` shares its
    /// number with the API's TCP port, so this is 700 above it (15900 + n).
    pub(crate) fn ng_tcp(&self) -> u16 {
        self.ng + 700
    }

    /// [`Self::run_args`] with ng on [`Self::ng_tcp`], over UDP and TCP (`--ng-tcp`).
    pub(crate) fn run_args_ng_tcp(&self) -> Vec<String> {
        let mut args = self.run_args();
        let ng = args
            .iter()
            .position(|a| a == "--ng")
            .expect("run_args has --ng")
            + 1;
        args[ng] = format!("127.0.0.1:{}", self.ng_tcp());
        args.push("--ng-tcp".into());
        args
    }

    /// The server's SIP address.
    pub(crate) fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.sip))
    }
}

/// Waits up to `timeout` for `child` to exit.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Sends `signal` to `child` (by its pid, nothing else).
fn signal(child: &Child, signal: Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// Stops `child`: `first`, then SIGKILL if it has not exited within [`STOP_TIMEOUT`].
/// Returns the exit status, and whether it had to be killed.
fn stop(child: &mut Child, first: Signal) -> (Option<ExitStatus>, bool) {
    if let Ok(Some(status)) = child.try_wait() {
        return (Some(status), false);
    }
    signal(child, first);
    if let Some(status) = wait_bounded(child, STOP_TIMEOUT) {
        return (Some(status), false);
    }
    let _ = child.kill();
    (wait_bounded(child, STOP_TIMEOUT), true)
}

/// A running `tandem run`. Dropping it stops the process (SIGTERM, then SIGKILL).
pub(crate) struct Tandem {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
    ready_line: String,
}

/// A `tandem` process that ran to its end by itself.
#[derive(Debug)]
pub(crate) struct Finished {
    /// Its exit status.
    pub(crate) status: ExitStatus,
    /// Everything it wrote to stderr.
    pub(crate) stderr: String,
}

impl Tandem {
    /// Starts `tandem` with `args` and waits for its ready line.
    ///
    /// # Panics
    ///
    /// If the ready line does not come within [`READY_TIMEOUT`] (the process is stopped and
    /// its stderr shown).
    pub(crate) fn start<S: AsRef<str>>(args: &[S]) -> Self {
        let args = with_own_control_ports(args);
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the tandem binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let collected = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                collected.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready_line = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(READY) => break line,
                Ok(_) => continue,
                // Timed out, or stderr closed (the process ended) without a ready line.
                Err(_) => {
                    let (status, _) = stop(&mut child, Signal::SIGKILL);
                    let _ = reader.join();
                    let stderr = lines.lock().unwrap().join("\n");
                    panic!(
                        "tandem {:?} was not ready within {READY_TIMEOUT:?} (status {status:?}); stderr:\n{stderr}",
                        args
                    );
                }
            }
        };
        Self {
            child,
            lines,
            reader: Some(reader),
            ready_line,
        }
    }

    /// Runs `tandem` with `args` to its end (at most `timeout`; killed and `None` past it).
    pub(crate) fn run_to_end<S: AsRef<str>>(args: &[S], timeout: Duration) -> Option<Finished> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(args.iter().map(AsRef::as_ref))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the tandem binary starts");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        match wait_bounded(&mut child, timeout) {
            Some(status) => Some(Finished {
                status,
                stderr: reader.join().unwrap_or_default(),
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    /// The ready line.
    pub(crate) fn ready_line(&self) -> &str {
        &self.ready_line
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stderr so far.
    pub(crate) fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM (or `first`) and waits for the exit; the status is `None` only if even
    /// SIGKILL did not end it. Panics if SIGKILL was needed.
    pub(crate) fn stop_with(mut self, first: Signal) -> (ExitStatus, String) {
        let (status, killed) = stop(&mut self.child, first);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr();
        assert!(
            !killed,
            "tandem did not exit within {STOP_TIMEOUT:?} of {first}; stderr:\n{stderr}"
        );
        (status.expect("tandem exited"), stderr)
    }

    /// [`Self::stop_with`] SIGTERM.
    pub(crate) fn terminate(self) -> (ExitStatus, String) {
        self.stop_with(Signal::SIGTERM)
    }
}

impl Drop for Tandem {
    fn drop(&mut self) {
        let _ = stop(&mut self.child, Signal::SIGTERM);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The path of our sipp scenario `name` (in tests/sipp).
pub(crate) fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sipp")
        .join(name)
        .display()
        .to_string()
}

/// An empty scratch directory for one test, `tandem-<name>-<pid>` under the temp dir
/// (whatever an earlier run left there is removed first).
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails the test, saying how to install them, unless sipp and tshark are on the PATH.
pub(crate) fn assert_sipp_and_tshark() {
    assert!(
        sipp_available(),
        "sipp is missing: run `bash scripts/deps.sh test`"
    );
    assert!(
        capture::tshark_available(),
        "tshark is missing: run `bash scripts/deps.sh test`"
    );
}

/// Asserts that Tandem's shutdown line (in `stderr`) reports every one of `zeros`
/// (`calls_live=0`, ...): nothing left behind. Returns the line.
pub(crate) fn assert_shutdown_clean(stderr: &str, zeros: &[&str]) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("signalling stopped"))
        .unwrap_or_else(|| panic!("no shutdown line in:\n{stderr}"));
    for zero in zeros {
        assert!(line.contains(zero), "{zero} expected: {line}");
    }
    line.to_owned()
}

/// True if `sipp` is on the PATH (scripts/deps.sh test installs it).
pub(crate) fn sipp_available() -> bool {
    Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Counters from a sipp stat file (`-trace_stat -stf FILE`): the last line, by column name.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SippStats {
    /// Every column of the last line.
    pub(crate) columns: HashMap<String, String>,
}

/// Only the columns that say something (non-zero, non-empty, in name order): the full line
/// has about a hundred, and a failure message that prints them all gets cut before the
/// peers' own output, which is what explains the failure.
impl std::fmt::Debug for SippStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut telling: Vec<(&String, &String)> = self
            .columns
            .iter()
            .filter(|(_, v)| !v.is_empty() && *v != "0" && *v != "00:00:00:000000")
            .collect();
        telling.sort();
        f.debug_map().entries(telling).finish()
    }
}

impl SippStats {
    /// Parses a stat file's text: a `;`-separated header line, then one line per interval.
    /// `None` when there is no data line.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines.next()?.split(';').collect();
        let last: Vec<&str> = lines.next_back()?.split(';').collect();
        let columns = header
            .iter()
            .zip(&last)
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Some(Self { columns })
    }

    /// A counter, if the column exists and is a number.
    pub(crate) fn counter(&self, column: &str) -> Option<u64> {
        self.columns.get(column)?.parse().ok()
    }

    /// `TotalCallCreated`.
    pub(crate) fn created(&self) -> u64 {
        self.counter("TotalCallCreated").unwrap_or(0)
    }

    /// `SuccessfulCall(C)`.
    pub(crate) fn successful(&self) -> u64 {
        self.counter("SuccessfulCall(C)").unwrap_or(0)
    }

    /// `FailedCall(C)`.
    pub(crate) fn failed(&self) -> u64 {
        self.counter("FailedCall(C)").unwrap_or(0)
    }
}

/// How a sipp run ended.
#[derive(Debug)]
pub(crate) struct SippRun {
    /// The exit code: 0 all calls succeeded, 1 some failed, 97 `-timeout` reached, 99 no
    /// call processed, 255 `-timeout` with `-timeout_error`; `None` when we had to kill it
    /// (never read success from a killed sipp: read [`Self::stats`]).
    pub(crate) code: Option<i32>,
    /// The stat file's last line, if sipp wrote one.
    pub(crate) stats: Option<SippStats>,
    /// sipp's stdout and stderr.
    pub(crate) output: String,
}

/// A sipp command line, run from its own scratch directory (which has `pcap ->
/// /usr/share/sip-tester`, so the built-in `uac_pcap` scenario finds its captures).
#[derive(Debug, Clone)]
pub(crate) struct Sipp {
    args: Vec<String>,
    dir: PathBuf,
}

/// A sipp running in the background (a UAS). Dropping it stops it (SIGTERM, then SIGKILL).
pub(crate) struct SippProcess {
    child: Child,
    dir: PathBuf,
}

/// Scratch directories made by this process so far.
static SCRATCH_DIRS: AtomicUsize = AtomicUsize::new(0);

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tandem-e2e-{}-{}-{name}",
        std::process::id(),
        SCRATCH_DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let pcap = Path::new("/usr/share/sip-tester");
    if pcap.exists() {
        let _ = std::os::unix::fs::symlink(pcap, dir.join("pcap"));
    }
    dir
}

impl Sipp {
    /// sipp with a built-in scenario (`-sn uac`, `uas`, `uac_pcap`...) or a scenario file
    /// (a path ending in `.xml`, `-sf`), on loopback SIP port `port` and media port `media`,
    /// stopping after `calls` calls, with a hard `-timeout` of `timeout`, writing its stat
    /// file. `name` names the scratch directory.
    pub(crate) fn new(
        name: &str,
        scenario: &str,
        port: u16,
        media: u16,
        calls: u32,
        timeout: Duration,
    ) -> Self {
        let dir = scratch_dir(name);
        let scenario_flag = if scenario.ends_with(".xml") {
            "-sf"
        } else {
            "-sn"
        };
        let args = [
            scenario_flag,
            scenario,
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-mi",
            "127.0.0.1",
            "-mp",
            &media.to_string(),
            "-m",
            &calls.to_string(),
            "-nostdin",
            "-timeout",
            &format!("{}s", timeout.as_secs().max(1)),
            "-trace_stat",
            "-stf",
            "stats.csv",
            "-fd",
            "1",
        ]
        .map(str::to_owned)
        .to_vec();
        Self { args, dir }
    }

    /// Adds arguments (a remote `HOST:PORT` for a UAC, `-s USER`, `-rtp_echo`, `-r`...).
    pub(crate) fn args<S: AsRef<str>>(mut self, more: &[S]) -> Self {
        self.args.extend(more.iter().map(|s| s.as_ref().to_owned()));
        self
    }

    /// Writes `bytes` to `name` in sipp's working directory (a capture a scenario plays by
    /// a relative path).
    pub(crate) fn with_file(self, name: &str, bytes: &[u8]) -> Self {
        std::fs::write(self.dir.join(name), bytes).expect("a file in sipp's directory");
        self
    }

    /// The command line, for messages.
    pub(crate) fn command_line(&self) -> String {
        format!("sipp {}", self.args.join(" "))
    }

    /// The command, with stdout and stderr going to files in the scratch directory (a pipe
    /// nobody reads would block sipp's screen output).
    fn command(&self) -> Command {
        let log = |name: &str| {
            std::fs::File::create(self.dir.join(name))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null())
        };
        let mut command = Command::new("sipp");
        command
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"));
        command
    }

    /// Runs sipp to its end: at most `limit`, then it is killed.
    pub(crate) fn run(self, limit: Duration) -> SippRun {
        let mut child = self.command().spawn().expect("sipp starts");
        let code = match wait_bounded(&mut child, limit) {
            Some(status) => status.code(),
            None => {
                let _ = stop(&mut child, Signal::SIGKILL);
                None
            }
        };
        finish(code, &self.dir)
    }

    /// Starts a one-call UAS (as [`Self::new`]) that echoes the RTP it gets (`-rtp_echo`),
    /// and gives it half a second to listen before a caller is started.
    pub(crate) fn spawn_echoing_uas(
        name: &str,
        scenario: &str,
        port: u16,
        media: u16,
        timeout: Duration,
    ) -> SippProcess {
        let uas = Self::new(name, scenario, port, media, 1, timeout)
            .args(&["-rtp_echo"])
            .spawn();
        std::thread::sleep(Duration::from_millis(500));
        uas
    }

    /// Starts sipp in the background (a UAS waiting for calls).
    pub(crate) fn spawn(self) -> SippProcess {
        let child = self.command().spawn().expect("sipp starts");
        SippProcess {
            child,
            dir: self.dir,
        }
    }
}

/// What a finished sipp left in its scratch directory.
fn finish(code: Option<i32>, dir: &Path) -> SippRun {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let run = SippRun {
        code,
        stats: SippStats::parse(&read("stats.csv")),
        output: format!("{}{}", read("stdout.log"), read("stderr.log")),
    };
    let _ = std::fs::remove_dir_all(dir);
    run
}

impl SippProcess {
    /// Waits for it to end by itself (it ends after its `-m` calls), at most `timeout`, then
    /// stops it.
    pub(crate) fn wait(mut self, timeout: Duration) -> SippRun {
        let code = match wait_bounded(&mut self.child, timeout) {
            Some(status) => status.code(),
            None => {
                let _ = stop(&mut self.child, Signal::SIGTERM);
                None
            }
        };
        finish(code, &self.dir)
    }
}

impl Drop for SippProcess {
    fn drop(&mut self) {
        let _ = stop(&mut self.child, Signal::SIGTERM);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `args`, plus `--api 127.0.0.1:0` and `--ng 127.0.0.1:0` for a `run` that names neither:
/// tests start many servers at once, and the defaults (8088, 2223) would collide between them
/// or with anything else on the machine. Port 0 lets the kernel choose.
fn with_own_control_ports<S: AsRef<str>>(args: &[S]) -> Vec<String> {
    let mut args: Vec<String> = args.iter().map(|a| a.as_ref().to_owned()).collect();
    if args.first().map(String::as_str) == Some("run") {
        for flag in ["--api", "--ng"] {
            if !args.iter().any(|a| a == flag) {
                args.extend([flag.to_owned(), "127.0.0.1:0".to_owned()]);
            }
        }
    }
    args
}

/// `tandem run` on `ports` with one `[[routes]]` entry, written to `dir/tandem.toml`: request
/// URIs matching `pattern` go to the peer at `127.0.0.1:target_port`, offered `codecs`.
pub(crate) fn start_with_route(
    ports: &Ports,
    dir: &Path,
    pattern: &str,
    target_port: u16,
    codecs: &[&str],
) -> Tandem {
    let codecs: Vec<String> = codecs.iter().map(|c| format!("\"{c}\"")).collect();
    start_with_config(
        ports,
        dir,
        &format!(
            "[[routes]]\nmatch = '{pattern}'\ntarget = \"sip:127.0.0.1:{target_port}\"\n\
             codecs = [{}]\n",
            codecs.join(", ")
        ),
    )
}

/// `tandem run` on `ports` with `alice` (password `secret`, PCMU only) as an endpoint,
/// written to `dir/tandem.toml`.
pub(crate) fn start_with_alice(ports: &Ports, dir: &Path) -> Tandem {
    start_with_config(
        ports,
        dir,
        "[[endpoints]]\nusername = \"alice\"\npassword = \"secret\"\ncodecs = [\"PCMU\"]\n",
    )
}

/// Registers `alice` (password `secret`, as [`start_with_alice`] configures her) at
/// `tandem`'s SIP address `server` with sipp's digest scenario, sent from SIP port `port`
/// (media `media`), binding the contact `sip:alice@127.0.0.1:<contact>`.
pub(crate) fn register_alice(tandem: &Tandem, server: &str, port: u16, media: u16, contact: u16) {
    let register = Sipp::new(
        &format!("register-{port}"),
        &scenario("uac_register_digest.xml"),
        port,
        media,
        1,
        Duration::from_secs(10),
    )
    .args(&[server, "-s", "alice", "-au", "alice", "-ap", "secret"])
    .args(&["-key", "contact_port", &contact.to_string()])
    .run(Duration::from_secs(15));
    assert_eq!(
        register.code,
        Some(0),
        "REGISTER from {port} for {contact}: {}\n{}",
        register.output,
        tandem.stderr()
    );
}

/// `tandem run` on `ports` with the configuration `toml`, written to `dir/tandem.toml`.
pub(crate) fn start_with_config(ports: &Ports, dir: &Path, toml: &str) -> Tandem {
    let config = dir.join("tandem.toml");
    std::fs::write(&config, toml).unwrap();
    let mut args = ports.run_args();
    args.extend(["--config".to_owned(), config.to_string_lossy().into_owned()]);
    Tandem::start(&args)
}
