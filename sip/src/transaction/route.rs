//! Where messages go: the route a transaction sends on, `received`/`rport` stamping of an
//! incoming request's top Via (RFC 3261 §18.2.1, RFC 3581 §4) and the destination of its
//! responses (RFC 3261 §18.2.2, RFC 3581 §4).
//!
//! Responses on a reliable transport go back over the request's connection, to the request's
//! source (the caller's transport reconnects to that address if the connection is gone). On
//! an unreliable transport they go to `maddr` when the top Via has one that is an IP address,
//! else to `received` (always present after stamping unless sent-by already was the source
//! address) at the `rport` port when the client asked for it, else at the sent-by port. No
//! DNS lookup is ever needed: a sent-by hostname always gets a `received`.

use std::net::{IpAddr, SocketAddr};

use crate::message::{Host, Transport, Via};

use super::{ConnectionId, Transmit};

/// Where a transaction sends: destination, transport and (for responses) the connection and
/// local address the request came on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) destination: SocketAddr,
    pub(crate) transport: Transport,
    pub(crate) connection: Option<ConnectionId>,
    pub(crate) local: Option<SocketAddr>,
}

impl Route {
    /// A transmit of `bytes` on this route, for transaction `id`.
    pub(crate) fn transmit(&self, bytes: Vec<u8>) -> Transmit {
        Transmit {
            destination: self.destination,
            transport: self.transport.clone(),
            connection: self.connection,
            local: self.local,
            bytes,
        }
    }

    /// True when the transport delivers reliably (no retransmissions, zero wait timers).
    pub(crate) fn is_reliable(&self) -> bool {
        self.transport.is_reliable()
    }
}

fn host_ip(host: &Host) -> Option<IpAddr> {
    match host {
        Host::Ipv4(a) => Some(IpAddr::V4(*a)),
        Host::Ipv6(a) => Some(IpAddr::V6(*a)),
        Host::Domain(_) => None,
    }
}

/// Adds `received` when sent-by is not the packet's source address, and fills in an `rport`
/// the client asked for (then `received` is always added, RFC 3581 §4). Returns whether the
/// Via changed.
pub(crate) fn stamp_via(via: &mut Via, source: SocketAddr) -> bool {
    let wants_rport = via.rport() == Some(None);
    let differs = host_ip(&via.host) != Some(source.ip());
    if wants_rport {
        via.set_rport(source.port());
    }
    if wants_rport || differs {
        via.set_received(source.ip());
        return true;
    }
    false
}

/// The route of the responses to a request received from `source` with top Via `via` (already
/// stamped by [`stamp_via`]).
pub(crate) fn response_route(
    via: &Via,
    source: SocketAddr,
    transport: Transport,
    connection: Option<ConnectionId>,
    local: SocketAddr,
) -> Route {
    let destination = if transport.is_reliable() {
        source
    } else {
        let port = match via.rport() {
            Some(Some(p)) => p,
            _ => via.sent_by_port(),
        };
        let maddr = via.maddr().and_then(|m| m.parse::<IpAddr>().ok());
        let received = via.received().and_then(|r| r.parse::<IpAddr>().ok());
        match maddr.or(received).or_else(|| host_ip(&via.host)) {
            Some(ip) => SocketAddr::new(ip, port),
            None => source,
        }
    };
    Route {
        destination,
        transport,
        connection,
        local: Some(local),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn stamped(via: &str, source: &str) -> (String, SocketAddr) {
        let mut v = Via::parse(via).unwrap();
        stamp_via(&mut v, addr(source));
        let local = addr("192.0.2.9:5060");
        let route = response_route(&v, addr(source), Transport::Udp, None, local);
        (v.to_string(), route.destination)
    }

    #[test]
    fn received_and_rport_per_18_2_1_and_rfc3581() {
        // Sent-by equals the source: untouched, responses to sent-by.
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1",
                "192.0.2.1:5062"
            ),
            (
                "SIP/2.0/UDP 192.0.2.1:5062;branch=z9hG4bK1".into(),
                addr("192.0.2.1:5062")
            )
        );
        // A hostname gets received; responses go to received at the sent-by port.
        assert_eq!(
            stamped("SIP/2.0/UDP pc.example;branch=z9hG4bK1", "192.0.2.1:7000"),
            (
                "SIP/2.0/UDP pc.example;branch=z9hG4bK1;received=192.0.2.1".into(),
                addr("192.0.2.1:5060")
            )
        );
        // rport asked for: filled in, received added even when equal, responses to rport.
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport",
                "192.0.2.1:7000"
            ),
            (
                "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport=7000;received=192.0.2.1".into(),
                addr("192.0.2.1:7000")
            )
        );
        // maddr wins on unreliable transports.
        assert_eq!(
            stamped(
                "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;maddr=239.255.255.1",
                "192.0.2.1:5060"
            )
            .1,
            addr("239.255.255.1:5060")
        );
    }

    #[test]
    fn reliable_responses_go_back_on_the_connection() {
        let v = Via::parse("SIP/2.0/TCP pc.example;branch=z9hG4bK1").unwrap();
        let r = response_route(
            &v,
            addr("[2001:db8::1]:40000"),
            Transport::Tcp,
            Some(ConnectionId(3)),
            addr("[2001:db8::2]:5060"),
        );
        assert_eq!(r.destination, addr("[2001:db8::1]:40000"));
        assert_eq!(r.connection, Some(ConnectionId(3)));
        assert!(r.is_reliable());
    }
}
