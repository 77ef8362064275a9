//! `tandem run`: the server. Reads the configuration (`--config FILE`, or defaults), applies
//! the command-line overrides on top, and hands over to [`tandem::run::run`].
//!
//! Exit status: 0 after a graceful shutdown (SIGTERM or SIGINT); 2 for a bad configuration or
//! bad flags (one line on stderr naming the file, line and key); 1 when start-up fails (a port
//! is taken, the media interface is not ours...).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use tandem::run::config::{Config, MediaIo, MediaPorts, Overrides, Workers};

/// Arguments of `tandem run`. Flags override the file, which overrides the defaults.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Configuration file (TOML; every key is optional, see tandem.example.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// SIP listen address, UDP and TCP ([sip] listen; default 127.0.0.1:5060).
    #[arg(long, value_name = "ADDR:PORT")]
    sip: Option<SocketAddr>,
    /// ng control protocol listen address ([ng] listen; default 127.0.0.1:2223).
    #[arg(long, value_name = "ADDR:PORT")]
    ng: Option<SocketAddr>,
    /// Serve ng over TCP too, on the same address ([ng] tcp = true; default off).
    #[arg(long)]
    ng_tcp: bool,
    /// REST + WebSocket API listen address ([api] listen; default 127.0.0.1:8088).
    #[arg(long, value_name = "ADDR:PORT")]
    api: Option<SocketAddr>,
    /// RTP/RTCP port range, MIN even ([media] ports; default 20000-29999).
    #[arg(long, value_name = "MIN-MAX")]
    rtp_ports: Option<MediaPorts>,
    /// Media workers ([media] workers; default one per core).
    #[arg(long, value_name = "N")]
    workers: Option<Workers>,
    /// Address media binds and SDP advertises ([media] interface; default 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    interface: Option<IpAddr>,
    /// Packet I/O backend of the media workers: udp or uring ([media] io; default udp).
    #[arg(long, value_name = "udp|uring")]
    io: Option<MediaIo>,
}

pub(crate) fn run(args: RunArgs) -> ExitCode {
    let overrides = Overrides {
        sip: args.sip,
        ng: args.ng,
        ng_tcp: args.ng_tcp,
        api: args.api,
        rtp_ports: args.rtp_ports,
        workers: args.workers,
        interface: args.interface,
        io: args.io,
    };
    let config = match Config::load(args.config.as_deref(), &overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("tandem run: {e}");
            return ExitCode::from(2);
        }
    };
    match tandem::run::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tandem run: {e}");
            ExitCode::from(1)
        }
    }
}
