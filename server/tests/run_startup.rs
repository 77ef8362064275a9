//! `tandem run` starts, listens where its flags and file say, and stops cleanly: the real
//! binary, real sockets on loopback. SIP answers (OPTIONS, calls) arrive with the SIP layer;
//! these tests pin start-up, binding, configuration errors and shutdown.

mod support;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use nix::sys::signal::Signal;
use support::{Ports, READY, Tandem};

/// A process that ends by itself (bad configuration, taken port) does so well within this.
const END_TIMEOUT: Duration = Duration::from_secs(10);

fn temp_config(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "tandem-run-startup-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

fn udp_port_taken(addr: SocketAddr) -> bool {
    matches!(UdpSocket::bind(addr), Err(e) if e.kind() == std::io::ErrorKind::AddrInUse)
}

#[test]
fn starts_with_flags_listens_on_udp_and_tcp_and_exits_0_on_sigterm() {
    let ports = Ports::for_test(0);
    let tandem = Tandem::start(&ports.run_args());
    let sip = ports.sip_addr();
    let line = tandem.ready_line().to_owned();
    assert!(line.contains(&format!("sip udp={sip} tcp={sip}")), "{line}");
    assert!(
        line.contains(&format!(
            "media 127.0.0.1 ports {}-{} on 1 workers",
            ports.rtp_min, ports.rtp_max
        )),
        "{line}"
    );
    assert!(udp_port_taken(sip), "SIP UDP is bound");
    TcpStream::connect_timeout(&sip, Duration::from_secs(2)).expect("SIP TCP accepts");

    let (status, stderr) = tandem.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGTERM: draining"), "{stderr}");
    assert!(stderr.contains("tandem stopped"), "{stderr}");
    assert!(!udp_port_taken(sip), "the SIP port is free after exit");
}

#[test]
fn sigint_is_a_graceful_shutdown_too() {
    let ports = Ports::for_test(1);
    let tandem = Tandem::start(&ports.run_args());
    let (status, stderr) = tandem.stop_with(Signal::SIGINT);
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SIGINT: draining"), "{stderr}");
}

#[test]
fn flags_override_the_config_file() {
    let ports = Ports::for_test(2);
    let file = temp_config(
        "override",
        &format!(
            "[sip]\nlisten = \"127.0.0.1:{}\"\ntcp = false\n[media]\nports = \"{}-{}\"\nworkers = 1\n",
            ports.sip + 100, // the file's port, which --sip replaces
            ports.rtp_min,
            ports.rtp_max
        ),
    );
    let mut args = vec![
        "run".to_owned(),
        "--config".into(),
        file.display().to_string(),
        "--sip".into(),
        ports.sip_addr().to_string(),
        "--api".into(),
        format!("127.0.0.1:{}", ports.api),
        "--ng".into(),
        format!("127.0.0.1:{}", ports.ng),
    ];
    let tandem = Tandem::start(&args);
    let line = tandem.ready_line().to_owned();
    // --sip won over the file; tcp = false and the ports came from the file.
    assert!(
        line.contains(&format!("sip udp={} tcp=off", ports.sip_addr())),
        "{line}"
    );
    assert!(
        line.contains(&format!("ports {}-{}", ports.rtp_min, ports.rtp_max)),
        "{line}"
    );
    let (status, _) = tandem.terminate();
    assert_eq!(status.code(), Some(0));

    // --workers and --rtp-ports win over the file as well.
    args.extend([
        "--rtp-ports".into(),
        format!("{}-{}", ports.rtp_min, ports.rtp_min + 49),
        "--workers".into(),
        "2".into(),
    ]);
    let tandem = Tandem::start(&args);
    let line = tandem.ready_line().to_owned();
    assert!(
        line.contains(&format!(
            "ports {}-{} on 2 workers",
            ports.rtp_min,
            ports.rtp_min + 49
        )),
        "{line}"
    );
    drop(tandem);
    std::fs::remove_file(file).unwrap();
}

#[test]
fn a_bad_config_file_exits_2_with_one_line_naming_the_key_and_line() {
    let file = temp_config(
        "unknown-key",
        "[sip]\nlisten = \"127.0.0.1:15063\"\nprot = 5\n",
    );
    let path = file.display().to_string();
    let done = Tandem::run_to_end(&["run", "--config", &path], END_TIMEOUT)
        .expect("a bad configuration ends the process");
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert_eq!(done.stderr.lines().count(), 1, "{:?}", done.stderr);
    assert!(
        done.stderr
            .starts_with(&format!("tandem run: {path}:3:1: unknown field `prot`")),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains(READY));
    std::fs::remove_file(file).unwrap();
}

#[test]
fn a_taken_sip_port_exits_1_naming_transport_and_address() {
    let ports = Ports::for_test(4);
    let _taken = UdpSocket::bind(ports.sip_addr()).unwrap();
    let done = Tandem::run_to_end(&ports.run_args(), END_TIMEOUT)
        .expect("a failed start ends the process");
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr.contains(&format!(
            "tandem run: cannot listen for SIP over UDP on {}",
            ports.sip_addr()
        )),
        "{}",
        done.stderr
    );
}

#[test]
fn a_media_interface_that_is_not_ours_exits_1() {
    let ports = Ports::for_test(5);
    let mut args = ports.run_args();
    // TEST-NET-3 (RFC 5737): never an address of this host.
    args.extend(["--interface".into(), "203.0.113.7".into()]);
    let done = Tandem::run_to_end(&args, END_TIMEOUT).expect("a failed start ends the process");
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("tandem run: media interface 203.0.113.7 cannot be used"),
        "{}",
        done.stderr
    );
    // Nothing stays bound after a failed start.
    assert!(!udp_port_taken(ports.sip_addr()));
}

/// Whether a thread of this process may run SCHED_FIFO (root, or an RLIMIT_RTPRIO).
fn realtime_permitted() -> bool {
    std::thread::spawn(|| tandem_core::worker::priority::make_current_thread_realtime(1).is_ok())
        .join()
        .unwrap()
}

/// `[media] realtime_priority`: the workers run SCHED_FIFO where the process may, and
/// `/metrics` says so; where it may not, they run anyway and a warning says why.
#[test]
fn workers_run_realtime_when_the_config_asks() {
    let permitted = realtime_permitted();
    let ports = Ports::for_test(38);
    let config = temp_config("realtime", "[media]\nrealtime_priority = 1\n");
    let mut args = ports.run_args();
    args.extend(["--config".to_owned(), config.display().to_string()]);
    let tandem = Tandem::start(&args);
    let metrics = support::metrics::scrape(SocketAddr::from(([127, 0, 0, 1], ports.api)));
    assert_eq!(
        support::metrics::value(&metrics, "tandem_worker_realtime{worker=\"0\"}"),
        Some(i64::from(permitted)),
        "{metrics}"
    );
    let (status, stderr) = tandem.terminate();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let said = if permitted {
        "SCHED_FIFO priority 1"
    } else {
        "SCHED_FIFO priority 1 refused"
    };
    assert!(stderr.contains(said), "{stderr}");
    let _ = std::fs::remove_file(config);
}
