//! Threaded runtime: a caller that gave up waiting (its reply timed out) leaves nothing
//! behind. The worker, held up opening ports, installs the session after the caller left;
//! whichever control-plane thread reads that late reply (the pump, or a caller draining the
//! notice rings for its own reply) removes the session again and its ports are closed.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tandem_core::runtime::{Runtime, RuntimeConfig, RuntimeError};
use tandem_core::session::{CodecSpec, LegSpec, SessionSpec};
use tandem_drivers::error::{IoError, PortError};
use tandem_drivers::packet::loopback::{Loopback, LoopbackConfig, LoopbackNet};
use tandem_drivers::packet::{
    IoStats, PacketBuf, PacketIo, PortPair, PortRange, RecvMeta, SocketId, Timestamp, Transmit,
};

/// The loopback backend, with `open_pair` as slow as the test says and open pairs counted.
struct SlowPorts {
    inner: Loopback,
    delay_ms: Arc<AtomicU64>,
    open: Arc<AtomicUsize>,
    opened: Arc<AtomicUsize>,
}

impl PacketIo for SlowPorts {
    fn open_pair(&mut self) -> Result<PortPair, PortError> {
        std::thread::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst)));
        let pair = self.inner.open_pair()?;
        self.open.fetch_add(1, Ordering::SeqCst);
        self.opened.fetch_add(1, Ordering::SeqCst);
        Ok(pair)
    }
    fn close_pair(&mut self, pair: PortPair) -> Result<(), PortError> {
        self.inner.close_pair(pair)?;
        self.open.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
    fn local_addr(&self, socket: SocketId) -> Option<std::net::SocketAddr> {
        self.inner.local_addr(socket)
    }
    fn socket_id_max(&self) -> usize {
        self.inner.socket_id_max()
    }
    fn recv_batch(
        &mut self,
        now: Timestamp,
        bufs: &mut [PacketBuf],
        meta: &mut [RecvMeta],
    ) -> Result<usize, IoError> {
        self.inner.recv_batch(now, bufs, meta)
    }
    fn send_batch(&mut self, now: Timestamp, packets: &[Transmit<'_>]) -> Result<usize, IoError> {
        self.inner.send_batch(now, packets)
    }
    fn stats(&self) -> IoStats {
        self.inner.stats()
    }
}

fn relay() -> SessionSpec {
    SessionSpec::Relay {
        a: LegSpec::new(CodecSpec::PCMU),
        b: LegSpec::new(CodecSpec::PCMU),
    }
}

/// Waits up to 5 s for `done`.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_reply_nobody_waits_for_is_undone() {
    let net = LoopbackNet::new();
    let delay_ms = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(AtomicUsize::new(0));
    let backend = {
        let (delay_ms, open, opened) = (delay_ms.clone(), open.clone(), opened.clone());
        move |_| {
            Ok(SlowPorts {
                inner: net
                    .endpoint(LoopbackConfig::new(
                        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 4)),
                        PortRange::new(24000, 24999).unwrap(),
                    ))
                    .unwrap(),
                delay_ms: delay_ms.clone(),
                open: open.clone(),
                opened: opened.clone(),
            })
        }
    };
    let config = RuntimeConfig {
        workers: 1,
        pin: false,
        reply_timeout: Duration::from_millis(100),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::start_with(config, backend).unwrap();

    // 1. Nobody else asks anything: the pump reads the late reply.
    delay_ms.store(150, Ordering::SeqCst);
    assert!(matches!(
        runtime.create_session(&relay()),
        Err(RuntimeError::Timeout { worker: 0 })
    ));
    delay_ms.store(0, Ordering::SeqCst);
    eventually("the late session's two pairs opened", || {
        opened.load(Ordering::SeqCst) == 2
    });
    eventually("the late session removed", || {
        open.load(Ordering::SeqCst) == 0 && runtime.worker_stats()[0].sessions == 0
    });

    // 2. A caller asks again at once: its command queues behind the late one, and it reads
    //    the late reply before its own.
    delay_ms.store(150, Ordering::SeqCst);
    assert!(runtime.create_session(&relay()).is_err());
    delay_ms.store(0, Ordering::SeqCst);
    let call = runtime
        .create_session(&relay())
        .expect("the next request is answered");
    assert_eq!(opened.load(Ordering::SeqCst), 6);
    eventually("only the answered session left", || {
        open.load(Ordering::SeqCst) == 2 && runtime.worker_stats()[0].sessions == 1
    });
    runtime.remove_session(call.id).unwrap();
    assert_eq!(open.load(Ordering::SeqCst), 0);
    assert_eq!(runtime.worker_stats()[0].sessions, 0);
    runtime.shutdown();
}
