//! Command-line overrides: the few keys operators and benchmarks change most, applied on top
//! of the file (precedence: command line > file > defaults).

use std::net::{IpAddr, SocketAddr};

use super::{Config, MediaIo, MediaPorts, Workers};

/// Values given on the command line; `None` leaves the file's (or the default) value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--sip ADDR:PORT`: `[sip] listen` (UDP and TCP).
    pub sip: Option<SocketAddr>,
    /// `--ng ADDR:PORT`: `[ng] listen`.
    pub ng: Option<SocketAddr>,
    /// `--ng-tcp`: `[ng] tcp = true` (the flag only turns TCP on).
    pub ng_tcp: bool,
    /// `--api ADDR:PORT`: `[api] listen`.
    pub api: Option<SocketAddr>,
    /// `--rtp-ports MIN-MAX`: `[media] ports`.
    pub rtp_ports: Option<MediaPorts>,
    /// `--workers N`: `[media] workers`.
    pub workers: Option<Workers>,
    /// `--interface ADDR`: `[media] interface`, the address media binds and SDP advertises.
    pub interface: Option<IpAddr>,
    /// `--io udp|uring`: `[media] io`, the workers' packet I/O backend.
    pub io: Option<MediaIo>,
}

impl Overrides {
    /// Writes every given value into `config`.
    pub fn apply(&self, config: &mut Config) {
        if let Some(addr) = self.sip {
            config.sip.listen = addr;
        }
        if let Some(addr) = self.ng {
            config.ng.listen = addr;
        }
        if self.ng_tcp {
            config.ng.tcp = true;
        }
        if let Some(addr) = self.api {
            config.api.listen = addr;
        }
        if let Some(ports) = self.rtp_ports {
            config.media.ports = ports;
        }
        if let Some(workers) = self.workers {
            config.media.workers = Some(workers);
        }
        if let Some(interface) = self.interface {
            config.media.interface = interface;
        }
        if let Some(io) = self.io {
            config.media.io = io;
        }
    }
}
