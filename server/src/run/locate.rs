//! Locating SIP servers (RFC 3263 §4, the client part): which addresses, over which
//! transport, a request to a `sip:` URI is sent to.
//!
//! # Contract
//!
//! - [`plan`] is pure: a URI whose host is an IP literal needs no DNS and gives its one
//!   [`Hop`] at once ([`Plan::Ready`]); a host name gives a [`Query`] ([`Plan::Lookup`]).
//! - [`Locator::locate`] answers a [`Query`] on tokio, never blocking the caller's thread:
//!   - an explicit port: A/AAAA records of the host, on that port (§4.2);
//!   - no port: SRV records, `_sip._udp.<host>` or `_sip._tcp.<host>` for an explicit
//!     `transport` parameter, both (UDP first) without one; targets in RFC 2782 order
//!     (lowest priority first, weighted random within a priority), each target's addresses
//!     in turn; with no SRV record, A/AAAA of the host on port 5060 (§4.2).
//!   - The transport is the URI's `transport` parameter, else the SRV record's, else UDP
//!     (§4.1). NAPTR is skipped: operators who want TCP say `;transport=tcp` or publish only
//!     `_sip._tcp` SRV records. `sips:` and transports other than UDP and TCP are refused.
//! - The answer is every [`Hop`] in the order to try them (at most [`MAX_HOPS`]); the caller
//!   moves to the next one when a transaction times out or fails at the transport (§4.3).
//! - DNS goes through `hickory-resolver`, configured by `[dns]`: the system's
//!   `/etc/resolv.conf` by default, or the listed servers; `/etc/hosts` is always read first.
//!   Its cache (at most [`CACHE_ENTRIES`] records, each kept for its TTL) answers repeated
//!   lookups without a query. Every lookup is bounded by the `[dns]` timeout.
//! - [`spawn_locate`] runs a lookup as a tokio task and reports it on a channel, the way the
//!   signalling loop hears about media operations.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use tandem_sip::message::{Host, Transport as SipTransport, Uri};
use tokio::sync::mpsc;

use super::config::DnsSection;
use super::transport::Transport;

/// The SIP port when neither the URI nor an SRV record names one (RFC 3261 §19.1.2).
pub const DEFAULT_PORT: u16 = 5060;

/// Hops kept per answer: enough for any real SRV set, and a bound on the failover.
pub const MAX_HOPS: usize = 16;

/// DNS records the resolver caches at most.
pub const CACHE_ENTRIES: usize = 1024;

/// One place to send a request: an address and a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hop {
    /// Where to.
    pub addr: SocketAddr,
    /// Over what.
    pub transport: Transport,
}

impl Hop {
    /// The transport as the SIP layer names it.
    pub fn sip_transport(&self) -> SipTransport {
        match self.transport {
            Transport::Udp => SipTransport::Udp,
            Transport::Tcp => SipTransport::Tcp,
        }
    }
}

/// A host name to look up for a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The host name.
    pub host: String,
    /// The URI's port, if it has one (then no SRV lookup).
    pub port: Option<u16>,
    /// The URI's `transport` parameter, if it has one.
    pub transport: Option<Transport>,
}

/// What [`plan`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// An IP literal: no DNS needed.
    Ready(Hop),
    /// A host name: look it up ([`Locator::locate`]).
    Lookup(Query),
}

/// Why a URI cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    /// Not a `sip:` URI (`sips:`, `tel:`...).
    #[error("not a sip: URI (sips: and others are not supported)")]
    Scheme,
    /// A `transport` parameter other than UDP or TCP.
    #[error("transport {0:?} is not supported (udp and tcp are)")]
    Transport(String),
    /// DNS has no address for the name.
    #[error("{0}: no address in DNS")]
    NotFound(String),
    /// DNS did not answer usefully (timeout, server failure).
    #[error("{host}: DNS lookup failed: {reason}")]
    Failed {
        /// The name.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

/// The transport a URI's `transport` parameter names; `Ok(None)` without one.
fn uri_transport(uri: &tandem_sip::message::SipUri) -> Result<Option<Transport>, LocateError> {
    match uri.transport() {
        None => Ok(None),
        Some(t) if t.eq_ignore_ascii_case("udp") => Ok(Some(Transport::Udp)),
        Some(t) if t.eq_ignore_ascii_case("tcp") => Ok(Some(Transport::Tcp)),
        Some(t) => Err(LocateError::Transport(t.to_owned())),
    }
}

/// What it takes to reach `uri`. See the module docs.
///
/// # Errors
///
/// [`LocateError::Scheme`] or [`LocateError::Transport`] for URIs Tandem cannot send to.
pub fn plan(uri: &Uri) -> Result<Plan, LocateError> {
    let sip = uri
        .as_sip()
        .filter(|s| !s.secure)
        .ok_or(LocateError::Scheme)?;
    let transport = uri_transport(sip)?;
    let ip = match &sip.host {
        Host::Ipv4(ip) => IpAddr::V4(*ip),
        Host::Ipv6(ip) => IpAddr::V6(*ip),
        Host::Domain(name) => {
            return Ok(Plan::Lookup(Query {
                host: name.clone(),
                port: sip.port,
                transport,
            }));
        }
    };
    Ok(Plan::Ready(Hop {
        addr: SocketAddr::new(ip, sip.port.unwrap_or(DEFAULT_PORT)),
        transport: transport.unwrap_or(Transport::Udp),
    }))
}

/// The DNS resolver for SIP URIs. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct Locator {
    resolver: TokioResolver,
    timeout: Duration,
}

/// One SRV record's target, as RFC 2782 orders them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SrvTarget {
    priority: u16,
    weight: u16,
    port: u16,
    target: String,
    transport: Transport,
}

/// Puts `records` in RFC 2782 order: by priority, and within one priority by a weighted
/// random draw (`random` gives the draws, for tests).
fn srv_order(mut records: Vec<SrvTarget>, mut random: impl FnMut() -> u64) -> Vec<SrvTarget> {
    records.sort_by_key(|r| r.priority);
    let mut ordered = Vec::with_capacity(records.len());
    while !records.is_empty() {
        let priority = records[0].priority;
        let end = records
            .iter()
            .take_while(|r| r.priority == priority)
            .count();
        let mut group: Vec<SrvTarget> = records.drain(..end).collect();
        while !group.is_empty() {
            // Zero weights get a small chance too (RFC 2782: "weight 0 ... very small chance").
            let total: u64 = group.iter().map(|r| u64::from(r.weight) + 1).sum();
            let mut draw = random() % total;
            let index = group
                .iter()
                .position(|r| {
                    let w = u64::from(r.weight) + 1;
                    if draw < w {
                        true
                    } else {
                        draw -= w;
                        false
                    }
                })
                .unwrap_or(0);
            ordered.push(group.remove(index));
        }
    }
    ordered
}

fn random_u64() -> u64 {
    RandomState::new().hash_one(0u8)
}

impl Locator {
    /// A locator configured by `[dns]`: its servers, or the system's when it lists none.
    /// A system configuration that cannot be read leaves only `/etc/hosts` (logged).
    pub fn new(dns: &DnsSection) -> Self {
        let mut options = ResolverOpts::default();
        let (config, system_options) = if dns.servers.is_empty() {
            match hickory_resolver::system_conf::read_system_conf() {
                Ok((config, options)) => (config, Some(options)),
                Err(e) => {
                    tracing::warn!(
                        "no DNS servers from the system ({e}): only /etc/hosts resolves"
                    );
                    (ResolverConfig::new(), None)
                }
            }
        } else {
            let mut config = ResolverConfig::new();
            // UDP only: a server listed here is asked over UDP, as resolv.conf's are first
            // (SRV and A answers for SIP fit a datagram).
            for &server in &dns.servers {
                config.add_name_server(NameServerConfig::new(server, Protocol::Udp));
            }
            (config, None)
        };
        if let Some(system) = system_options {
            options = system;
        }
        options.use_hosts_file = ResolveHosts::Always;
        options.cache_size = CACHE_ENTRIES;
        options.timeout = dns.timeout();
        options.attempts = 1;
        let resolver =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
                .with_options(options)
                .build();
        Self {
            resolver,
            timeout: dns.timeout() * 2,
        }
    }

    /// Every hop for `query`, in the order to try them. See the module docs.
    ///
    /// # Errors
    ///
    /// [`LocateError::NotFound`] when DNS has no address, [`LocateError::Failed`] when it
    /// did not answer in time or failed.
    pub async fn locate(&self, query: &Query) -> Result<Vec<Hop>, LocateError> {
        match tokio::time::timeout(self.timeout, self.lookup(query)).await {
            Ok(answer) => answer,
            Err(_) => Err(LocateError::Failed {
                host: query.host.clone(),
                reason: format!("no answer within {:?}", self.timeout),
            }),
        }
    }

    async fn lookup(&self, query: &Query) -> Result<Vec<Hop>, LocateError> {
        let transport = query.transport.unwrap_or(Transport::Udp);
        if let Some(port) = query.port {
            return self.addresses(&query.host, port, transport).await;
        }
        let mut records = Vec::new();
        let transports: &[Transport] = match query.transport {
            Some(Transport::Udp) => &[Transport::Udp],
            Some(Transport::Tcp) => &[Transport::Tcp],
            None => &[Transport::Udp, Transport::Tcp],
        };
        for &t in transports {
            records.extend(self.srv(&query.host, t).await?);
        }
        if records.is_empty() {
            return self.addresses(&query.host, DEFAULT_PORT, transport).await;
        }
        let mut hops = Vec::new();
        for record in srv_order(records, random_u64) {
            // A target without addresses is skipped: the next one may work.
            if let Ok(found) = self
                .addresses(&record.target, record.port, record.transport)
                .await
            {
                hops.extend(found);
            }
            if hops.len() >= MAX_HOPS {
                break;
            }
        }
        hops.truncate(MAX_HOPS);
        if hops.is_empty() {
            return Err(LocateError::NotFound(query.host.clone()));
        }
        Ok(hops)
    }

    /// The SRV records of `host` for `transport`; none (not an error) when it has none.
    async fn srv(&self, host: &str, transport: Transport) -> Result<Vec<SrvTarget>, LocateError> {
        let label = match transport {
            Transport::Udp => "_udp",
            Transport::Tcp => "_tcp",
        };
        let name = format!("_sip.{label}.{host}");
        match self.resolver.srv_lookup(name.as_str()).await {
            Ok(lookup) => Ok(lookup
                .iter()
                .map(|srv| SrvTarget {
                    priority: srv.priority(),
                    weight: srv.weight(),
                    port: srv.port(),
                    target: srv.target().to_ascii(),
                    transport,
                })
                // "." as the target: the service is decidedly not available (RFC 2782).
                .filter(|t| t.target != "." && !t.target.is_empty())
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(LocateError::Failed {
                host: name,
                reason: e.to_string(),
            }),
        }
    }

    /// The A/AAAA addresses of `host` on `port`.
    async fn addresses(
        &self,
        host: &str,
        port: u16,
        transport: Transport,
    ) -> Result<Vec<Hop>, LocateError> {
        match self.resolver.lookup_ip(host).await {
            Ok(lookup) => {
                let hops: Vec<Hop> = lookup
                    .iter()
                    .take(MAX_HOPS)
                    .map(|ip| Hop {
                        addr: SocketAddr::new(ip, port),
                        transport,
                    })
                    .collect();
                if hops.is_empty() {
                    Err(LocateError::NotFound(host.to_owned()))
                } else {
                    Ok(hops)
                }
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                Err(LocateError::NotFound(host.to_owned()))
            }
            Err(e) => Err(LocateError::Failed {
                host: host.to_owned(),
                reason: e.to_string(),
            }),
        }
    }
}

/// A finished lookup, for whoever asked (`key` says who).
#[derive(Debug)]
pub struct Located<K> {
    /// Who asked.
    pub key: K,
    /// The hops, or why there are none.
    pub hops: Result<Vec<Hop>, LocateError>,
}

/// Looks `query` up on a tokio task and sends the answer on `results` (lost if nobody
/// listens any more). Needs a tokio runtime.
pub fn spawn_locate<K: Send + 'static>(
    locator: &Arc<Locator>,
    key: K,
    query: Query,
    results: &mpsc::UnboundedSender<Located<K>>,
) {
    let locator = Arc::clone(locator);
    let results = results.clone();
    tokio::spawn(async move {
        let hops = locator.locate(&query).await;
        let _ = results.send(Located { key, hops });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(text: &str) -> Result<Plan, LocateError> {
        plan(&Uri::parse(text).unwrap())
    }

    #[test]
    fn ip_literals_need_no_dns_and_names_do() {
        assert_eq!(
            planned("sip:bob@192.0.2.7:5080;transport=TCP"),
            Ok(Plan::Ready(Hop {
                addr: "192.0.2.7:5080".parse().unwrap(),
                transport: Transport::Tcp
            }))
        );
        assert_eq!(
            planned("sip:[::1]"),
            Ok(Plan::Ready(Hop {
                addr: "[::1]:5060".parse().unwrap(),
                transport: Transport::Udp
            }))
        );
        assert_eq!(
            planned("sip:gw.carrier.example;transport=tcp"),
            Ok(Plan::Lookup(Query {
                host: "gw.carrier.example".into(),
                port: None,
                transport: Some(Transport::Tcp)
            }))
        );
        assert_eq!(
            planned("sip:pbx.local:5080"),
            Ok(Plan::Lookup(Query {
                host: "pbx.local".into(),
                port: Some(5080),
                transport: None
            }))
        );
        assert_eq!(planned("sips:bob@192.0.2.7"), Err(LocateError::Scheme));
        assert_eq!(
            planned("sip:bob@192.0.2.7;transport=sctp"),
            Err(LocateError::Transport("sctp".into()))
        );
    }

    fn srv(priority: u16, weight: u16, target: &str) -> SrvTarget {
        SrvTarget {
            priority,
            weight,
            port: 5060,
            target: target.into(),
            transport: Transport::Udp,
        }
    }

    #[test]
    fn srv_targets_go_by_priority_then_weight() {
        let records = vec![srv(20, 0, "c"), srv(10, 90, "a"), srv(10, 10, "b")];
        let names = |draws: Vec<u64>| {
            let mut draws = draws.into_iter();
            srv_order(records.clone(), move || draws.next().unwrap_or(0))
                .into_iter()
                .map(|r| r.target)
                .collect::<Vec<_>>()
        };
        // Weights 91 and 11 (each +1): a draw below 91 picks a, else b.
        assert_eq!(names(vec![0, 0, 0]), ["a", "b", "c"]);
        assert_eq!(names(vec![95, 0, 0]), ["b", "a", "c"]);
    }

    #[tokio::test]
    async fn localhost_resolves_from_etc_hosts_on_the_port_given() {
        let locator = Locator::new(&DnsSection::default());
        let hops = locator
            .locate(&Query {
                host: "localhost".into(),
                port: Some(5080),
                transport: Some(Transport::Tcp),
            })
            .await
            .unwrap();
        assert!(
            hops.contains(&Hop {
                addr: "127.0.0.1:5080".parse().unwrap(),
                transport: Transport::Tcp
            }),
            "{hops:?}"
        );
    }
}
