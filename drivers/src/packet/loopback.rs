//! An in-memory network whose endpoints implement [`PacketIo`], so the runtime and its
//! peers can be tested without sockets.
//!
//! A [`LoopbackNet`] is a switch; each [`Loopback`] endpoint owns an address and a
//! [`PortRange`] on it (several endpoints may share an address with disjoint ranges, like
//! workers sharing a host). A datagram sent to an open port of an endpoint is copied into
//! that endpoint's inbox, in order, stamped with the sender's `now`; a datagram to a port
//! nobody has open is dropped and counted in [`NetStats::unrouted`], as the kernel would drop
//! it; a full inbox drops and counts in [`NetStats::queue_full`], as a full socket buffer
//! would. Nothing is lost or reordered otherwise: wrap an endpoint in
//! [`Faulty`](crate::packet::fault::Faulty) for that.
//!
//! # Real-time
//!
//! Inboxes are rings of [`PacketBuf`]s allocated when the endpoint is created; sending and
//! receiving copy into and out of them and never allocate. The endpoints share the switch
//! through a mutex taken once per batch call: uncontended in a single-threaded test, and
//! endpoints are `Send`, so a worker thread and a test's peer thread can each own one. This
//! is a test backend: production workers never take a lock.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{ConfigError, IoError, PortError};
use crate::packet::{
    IoStats, PACKET_BUF_BYTES, PacketBuf, PacketIo, PortAllocator, PortPair, PortRange, RecvMeta,
    SocketId, Timestamp, Transmit, canonical,
};

/// Counters of the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetStats {
    /// Datagrams copied into an inbox.
    pub delivered: u64,
    /// Datagrams to an address and port no endpoint has open.
    pub unrouted: u64,
    /// Datagrams dropped because the receiving inbox was full.
    pub queue_full: u64,
}

/// Configuration of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopbackConfig {
    /// The endpoint's address (not unspecified).
    pub ip: IpAddr,
    /// Its ports.
    pub ports: PortRange,
    /// Inbox capacity in datagrams (the "socket buffer" of all its ports together).
    pub queue_packets: usize,
}

impl LoopbackConfig {
    /// `ip`, `ports`, and an inbox of 1024 datagrams.
    pub const fn new(ip: IpAddr, ports: PortRange) -> Self {
        Self {
            ip,
            ports,
            queue_packets: 1024,
        }
    }
}

/// The in-memory switch. Cloning gives another handle to the same network.
#[derive(Debug, Clone, Default)]
pub struct LoopbackNet {
    fabric: Arc<Mutex<Fabric>>,
}

#[derive(Debug, Default)]
struct Fabric {
    hosts: Vec<Host>,
    stats: NetStats,
}

#[derive(Debug)]
struct Host {
    ip: IpAddr,
    ports: PortAllocator,
    inbox: Inbox,
    attached: bool,
}

/// A ring of datagrams.
#[derive(Debug)]
struct Inbox {
    bufs: Vec<PacketBuf>,
    meta: Vec<RecvMeta>,
    head: usize,
    len: usize,
}

impl Inbox {
    fn new(capacity: usize) -> Self {
        Self {
            bufs: PacketBuf::new_vec(capacity),
            meta: RecvMeta::new_vec(capacity),
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, meta: RecvMeta, payload: &[u8]) -> bool {
        let cap = self.bufs.len();
        if self.len == cap {
            return false;
        }
        let slot = (self.head + self.len) % cap;
        self.bufs[slot].bytes_mut()[..payload.len()].copy_from_slice(payload);
        self.meta[slot] = meta;
        self.len += 1;
        true
    }

    fn pop_into(&mut self, buf: &mut PacketBuf, meta: &mut RecvMeta) -> bool {
        if self.len == 0 {
            return false;
        }
        let m = self.meta[self.head];
        buf.bytes_mut()[..m.len].copy_from_slice(self.bufs[self.head].payload(m.len));
        *meta = m;
        self.head = (self.head + 1) % self.bufs.len();
        self.len -= 1;
        true
    }

    /// Drops queued datagrams for which `stale` holds, keeping the others in order.
    fn retain(&mut self, stale: impl Fn(&RecvMeta) -> bool) {
        let cap = self.bufs.len();
        let mut kept = 0;
        for k in 0..self.len {
            let from = (self.head + k) % cap;
            if stale(&self.meta[from]) {
                continue;
            }
            let to = (self.head + kept) % cap;
            if to != from {
                self.meta[to] = self.meta[from];
                self.bufs.swap(to, from);
            }
            kept += 1;
        }
        self.len = kept;
    }
}

fn lock(fabric: &Mutex<Fabric>) -> MutexGuard<'_, Fabric> {
    // A panic in another test thread leaves plain data behind: carry on with it.
    fabric.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LoopbackNet {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches an endpoint. Allocates its inbox.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnspecifiedAddress`], [`ConfigError::Capacity`] for an empty inbox,
    /// [`ConfigError::Overlap`] when another endpoint owns some of the same ports.
    pub fn endpoint(&self, config: LoopbackConfig) -> Result<Loopback, ConfigError> {
        let ip = canonical(SocketAddr::new(config.ip, 0)).ip();
        if ip.is_unspecified() {
            return Err(ConfigError::UnspecifiedAddress { ip });
        }
        if config.queue_packets == 0 {
            return Err(ConfigError::Capacity {
                name: "queue_packets",
                value: 0,
                min: 1,
            });
        }
        let range = config.ports;
        let mut fabric = lock(&self.fabric);
        let overlaps = fabric.hosts.iter().any(|h| {
            let r = h.ports.range();
            h.attached && h.ip == ip && r.min() <= range.max() && range.min() <= r.max()
        });
        if overlaps {
            return Err(ConfigError::Overlap {
                ip,
                min: range.min(),
                max: range.max(),
            });
        }
        fabric.hosts.push(Host {
            ip,
            ports: PortAllocator::new(range),
            inbox: Inbox::new(config.queue_packets),
            attached: true,
        });
        Ok(Loopback {
            fabric: Arc::clone(&self.fabric),
            host: fabric.hosts.len() - 1,
            ip,
            range,
            stats: IoStats::default(),
        })
    }

    /// Counters of the switch.
    pub fn stats(&self) -> NetStats {
        lock(&self.fabric).stats
    }
}

/// One endpoint of a [`LoopbackNet`]; see the [module docs](self).
#[derive(Debug)]
pub struct Loopback {
    fabric: Arc<Mutex<Fabric>>,
    host: usize,
    ip: IpAddr,
    range: PortRange,
    stats: IoStats,
}

impl Loopback {
    /// The endpoint's address.
    pub const fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Datagrams waiting in the inbox.
    pub fn queued(&self) -> usize {
        lock(&self.fabric).hosts[self.host].inbox.len
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let mut fabric = lock(&self.fabric);
        let host = &mut fabric.hosts[self.host];
        host.attached = false;
        // Gives the inbox's memory back; an empty ring rejects every push.
        host.inbox = Inbox::new(0);
    }
}

impl PacketIo for Loopback {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        let range = self.range;
        let mut fabric = lock(&self.fabric);
        let rtp_port = fabric.hosts[self.host]
            .ports
            .allocate()
            .ok_or(PortError::Exhausted {
                min: range.min(),
                max: range.max(),
            })?;
        match (range.socket_id(rtp_port), range.socket_id(rtp_port + 1)) {
            (Some(rtp), Some(rtcp)) => Ok(PortPair {
                rtp,
                rtcp,
                rtp_port,
            }),
            _ => Err(PortError::NotOpen { port: rtp_port }),
        }
    }

    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        let range = self.range;
        let mut fabric = lock(&self.fabric);
        let host = &mut fabric.hosts[self.host];
        if range.socket_id(pair.rtp_port) != Some(pair.rtp)
            || range.socket_id(pair.rtcp_port()) != Some(pair.rtcp)
            || !host.ports.release(pair.rtp_port)
        {
            return Err(PortError::NotOpen {
                port: pair.rtp_port,
            });
        }
        host.inbox
            .retain(|m| m.socket == pair.rtp || m.socket == pair.rtcp);
        Ok(())
    }

    fn local_addr(&self, socket: SocketId) -> Option<SocketAddr> {
        let port = self.range.port(socket)?;
        lock(&self.fabric).hosts[self.host]
            .ports
            .is_open(port)
            .then_some(SocketAddr::new(self.ip, port))
    }

    fn socket_id_max(&self) -> usize {
        self.range.ports()
    }

    fn recv_batch(
        &mut self,
        _now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        let mut fabric = lock(&self.fabric);
        let inbox = &mut fabric.hosts[self.host].inbox;
        let mut n = 0;
        for (buf, m) in bufs.iter_mut().zip(meta.iter_mut()) {
            if !inbox.pop_into(buf, m) {
                break;
            }
            self.stats.count_rx(m.len, false);
            n += 1;
        }
        Ok(n)
    }

    fn send_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        let mut fabric = lock(&self.fabric);
        let Fabric { hosts, stats: net } = &mut *fabric;
        let mut sent = 0;
        for p in packets {
            let source_port = self
                .range
                .port(p.socket)
                .filter(|&port| hosts[self.host].ports.is_open(port));
            let Some(source_port) = source_port else {
                self.stats.drop_tx(
                    1,
                    IoError::UnknownSocket {
                        socket: p.socket.get(),
                    },
                );
                continue;
            };
            if p.payload.len() > PACKET_BUF_BYTES {
                self.stats.drop_tx(
                    1,
                    IoError::Oversize {
                        len: p.payload.len(),
                        max: PACKET_BUF_BYTES,
                    },
                );
                continue;
            }
            self.stats.count_tx(p.payload.len());
            sent += 1;
            let destination = canonical(p.destination);
            let port = destination.port();
            let target = hosts
                .iter_mut()
                .find(|h| h.attached && h.ip == destination.ip() && h.ports.is_open(port));
            let Some(target) = target else {
                net.unrouted += 1;
                continue;
            };
            let Some(socket) = target.ports.range().socket_id(port) else {
                net.unrouted += 1;
                continue;
            };
            let meta = RecvMeta {
                len: p.payload.len(),
                source: SocketAddr::new(self.ip, source_port),
                destination,
                socket,
                timestamp: Some(now),
                truncated: false,
            };
            if target.inbox.push(meta, p.payload) {
                net.delivered += 1;
            } else {
                net.queue_full += 1;
            }
        }
        Ok(sent)
    }

    fn stats(&self) -> IoStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn endpoint(net: &LoopbackNet, last_octet: u8, min: u16, queue: usize) -> Loopback {
        let mut config = LoopbackConfig::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, last_octet)),
            PortRange::new(min, min + 9).unwrap(),
        );
        config.queue_packets = queue;
        net.endpoint(config).unwrap()
    }

    #[test]
    fn delivers_in_order_with_addresses_and_send_time() {
        let net = LoopbackNet::new();
        let mut a = endpoint(&net, 1, 20000, 8);
        let mut b = endpoint(&net, 2, 30000, 8);
        let pa = a.open_pair().unwrap();
        let pb = b.open_pair().unwrap();
        let to = b.local_addr(pb.rtcp).unwrap();
        let payloads: [&[u8]; 3] = [b"one", b"two", b"three"];
        let packets = payloads.map(|payload| Transmit {
            socket: pa.rtp,
            destination: to,
            payload,
        });
        let now = Timestamp::from_millis(20);
        assert_eq!(a.send_batch(now, &packets), Ok(3));
        let mut bufs = PacketBuf::new_vec(4);
        let mut meta = RecvMeta::new_vec(4);
        assert_eq!(b.recv_batch(now, &mut bufs, &mut meta), Ok(3));
        for (i, payload) in payloads.iter().enumerate() {
            assert_eq!(bufs[i].payload(meta[i].len), *payload);
            assert_eq!(meta[i].source, "10.0.0.1:20000".parse().unwrap());
            assert_eq!(meta[i].destination, "10.0.0.2:30001".parse().unwrap());
            assert_eq!(meta[i].socket, pb.rtcp);
            assert_eq!(meta[i].timestamp, Some(now));
        }
        assert_eq!(net.stats().delivered, 3);
    }

    #[test]
    fn counts_unrouted_and_overflowing_datagrams() {
        let net = LoopbackNet::new();
        let mut a = endpoint(&net, 1, 20000, 4);
        let mut b = endpoint(&net, 2, 30000, 2);
        let pa = a.open_pair().unwrap();
        let pb = b.open_pair().unwrap();
        let open = b.local_addr(pb.rtp).unwrap();
        let closed: SocketAddr = "10.0.0.2:30002".parse().unwrap();
        let nowhere: SocketAddr = "10.0.0.9:30000".parse().unwrap();
        let packets = [open, open, open, closed, nowhere].map(|destination| Transmit {
            socket: pa.rtp,
            destination,
            payload: b"x",
        });
        assert_eq!(a.send_batch(Timestamp::ZERO, &packets), Ok(5));
        assert_eq!(
            net.stats(),
            NetStats {
                delivered: 2,
                unrouted: 2,
                queue_full: 1
            }
        );
    }

    #[test]
    fn closing_a_pair_discards_its_queued_datagrams() {
        let net = LoopbackNet::new();
        let mut a = endpoint(&net, 1, 20000, 8);
        let mut b = endpoint(&net, 2, 30000, 8);
        let pa = a.open_pair().unwrap();
        let p1 = b.open_pair().unwrap();
        let p2 = b.open_pair().unwrap();
        let to1 = b.local_addr(p1.rtp).unwrap();
        let to2 = b.local_addr(p2.rtp).unwrap();
        let packets = [to1, to2, to1, to2].map(|destination| Transmit {
            socket: pa.rtp,
            destination,
            payload: b"x",
        });
        a.send_batch(Timestamp::ZERO, &packets).unwrap();
        b.close_pair(p1).unwrap();
        assert_eq!(b.queued(), 2);
        let mut bufs = PacketBuf::new_vec(4);
        let mut meta = RecvMeta::new_vec(4);
        assert_eq!(b.recv_batch(Timestamp::ZERO, &mut bufs, &mut meta), Ok(2));
        assert!(meta[..2].iter().all(|m| m.socket == p2.rtp));
    }

    #[test]
    fn rejects_overlapping_endpoints() {
        let net = LoopbackNet::new();
        let _a = endpoint(&net, 1, 20000, 1);
        let config = LoopbackConfig::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            PortRange::new(20008, 20019).unwrap(),
        );
        assert!(matches!(
            net.endpoint(config),
            Err(ConfigError::Overlap { .. })
        ));
    }

    #[test]
    fn a_dropped_endpoint_stops_receiving_and_frees_its_ports() {
        let net = LoopbackNet::new();
        let mut a = endpoint(&net, 1, 20000, 4);
        let mut b = endpoint(&net, 2, 30000, 4);
        let pa = a.open_pair().unwrap();
        let pb = b.open_pair().unwrap();
        let to = b.local_addr(pb.rtp).unwrap();
        drop(b);
        let t = Transmit {
            socket: pa.rtp,
            destination: to,
            payload: b"x",
        };
        a.send_batch(Timestamp::ZERO, &[t]).unwrap();
        assert_eq!(net.stats().unrouted, 1);
        let mut again = endpoint(&net, 2, 30000, 4);
        again.open_pair().unwrap();
        a.send_batch(Timestamp::ZERO, &[t]).unwrap();
        assert_eq!(again.queued(), 1);
    }

    #[test]
    fn unknown_sockets_are_counted_as_dropped() {
        let net = LoopbackNet::new();
        let mut a = endpoint(&net, 1, 20000, 1);
        let t = Transmit {
            socket: SocketId::new(3),
            destination: "10.0.0.1:20000".parse().unwrap(),
            payload: b"x",
        };
        assert_eq!(a.send_batch(Timestamp::ZERO, &[t]), Ok(0));
        assert_eq!(a.stats().tx_dropped, 1);
    }
}
