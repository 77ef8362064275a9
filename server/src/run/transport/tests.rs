//! Transport tests over real loopback sockets. Ports 14000–14099 only (other test suites use
//! other ranges); each test has its own ports. Waits are bounded by [`WAIT`] and only guard
//! against hangs: nothing asserts on timing.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::*;
use crate::run::shutdown::Shutdown;

const WAIT: Duration = Duration::from_secs(5);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn config(port: u16) -> TransportConfig {
    TransportConfig {
        listen: addr(port),
        udp: true,
        tcp: true,
        idle_timeout: None,
        allow: Vec::new(),
    }
}

const OPTIONS: &[u8] = b"OPTIONS sip:echo@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";

fn with_body(body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn next_event(events: &mut mpsc::Receiver<TransportEvent>) -> TransportEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the channel is open")
}

async fn next_message(events: &mut mpsc::Receiver<TransportEvent>) -> Inbound {
    match next_event(events).await {
        TransportEvent::Message(inbound) => inbound,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .expect("bytes in time")
        .expect("the read works");
    buf
}

/// Reads until the peer closes; true if it did within [`WAIT`].
async fn closes(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn udp_datagrams_arrive_whole_and_replies_go_to_the_sender() {
    let shutdown = Shutdown::new();
    let transports = Transports::bind(&config(14000), shutdown.signal())
        .await
        .unwrap();
    assert_eq!(transports.udp_local(), Some(addr(14000)));
    let mut parts = transports.into_parts();
    let client = UdpSocket::bind("127.0.0.1:14010").await.unwrap();

    // A keep-alive is not a message: the OPTIONS sent after it is the first event.
    client.send_to(b"\r\n\r\n", addr(14000)).await.unwrap();
    client.send_to(OPTIONS, addr(14000)).await.unwrap();
    let inbound = next_message(&mut parts.events).await;
    assert_eq!(
        inbound,
        Inbound {
            transport: Transport::Udp,
            local: addr(14000),
            peer: addr(14010),
            connection: None,
            bytes: OPTIONS.to_vec(),
        }
    );

    let reply = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    parts
        .outbound
        .send(Outbound {
            transport: Transport::Udp,
            peer: inbound.peer,
            connection: None,
            bytes: reply.clone(),
        })
        .await
        .unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&reply[..], addr(14000)));
    let stats = parts.stats.snapshot();
    assert_eq!((stats.received, stats.keepalives, stats.sent), (1, 1, 1));

    shutdown.stop();
    tokio::time::timeout(WAIT, parts.tasks.join())
        .await
        .unwrap();
}

#[tokio::test]
async fn tcp_streams_are_framed_and_replies_use_the_same_connection() {
    let shutdown = Shutdown::new();
    let transports = Transports::bind(&config(14001), shutdown.signal())
        .await
        .unwrap();
    assert_eq!(transports.tcp_local(), Some(addr(14001)));
    let mut parts = transports.into_parts();
    let mut client = TcpStream::connect(addr(14001)).await.unwrap();
    let client_addr = client.local_addr().unwrap();

    // Two messages in one write, then a third split over two writes with a ping between.
    let third = with_body("hello");
    let mut first_write = OPTIONS.to_vec();
    first_write.extend_from_slice(&with_body("v=0\r\n"));
    first_write.extend_from_slice(b"\r\n\r\n");
    first_write.extend_from_slice(&third[..10]);
    client.write_all(&first_write).await.unwrap();
    // The ping is answered with a pong.
    assert_eq!(read_exactly(&mut client, 2).await, b"\r\n");
    client.write_all(&third[10..]).await.unwrap();

    let a = next_message(&mut parts.events).await;
    let b = next_message(&mut parts.events).await;
    let c = next_message(&mut parts.events).await;
    assert_eq!(a.bytes, OPTIONS);
    assert_eq!(b.bytes, with_body("v=0\r\n"));
    assert_eq!(c.bytes, third);
    assert_eq!(
        (a.transport, a.peer, a.local),
        (Transport::Tcp, client_addr, addr(14001))
    );
    let connection = a.connection.expect("TCP messages carry their connection");
    assert_eq!(
        (b.connection, c.connection),
        (Some(connection), Some(connection))
    );

    let reply = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec();
    parts
        .outbound
        .send(Outbound {
            transport: Transport::Tcp,
            peer: client_addr,
            connection: Some(connection),
            bytes: reply.clone(),
        })
        .await
        .unwrap();
    assert_eq!(read_exactly(&mut client, reply.len()).await, reply);
    assert_eq!(parts.stats.snapshot().accepted, 1);

    shutdown.stop();
    tokio::time::timeout(WAIT, parts.tasks.join())
        .await
        .unwrap();
    assert!(closes(&mut client).await, "connections close at shutdown");
}

#[tokio::test]
async fn a_stream_out_of_sync_is_closed() {
    let shutdown = Shutdown::new();
    let transports = Transports::bind(&config(14002), shutdown.signal())
        .await
        .unwrap();
    let parts = transports.into_parts();
    let mut client = TcpStream::connect(addr(14002)).await.unwrap();
    client
        .write_all(b"BYE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closes(&mut client).await);
    assert_eq!(parts.stats.snapshot().framing_errors, 1);
    shutdown.stop();
}

#[tokio::test]
async fn tcp_sends_open_a_connection_and_reuse_it() {
    let shutdown = Shutdown::new();
    let transports = Transports::bind(&config(14003), shutdown.signal())
        .await
        .unwrap();
    let mut parts = transports.into_parts();
    let peer = TcpListener::bind(addr(14013)).await.unwrap();

    let send = |bytes: &[u8]| Outbound {
        transport: Transport::Tcp,
        peer: addr(14013),
        connection: None,
        bytes: bytes.to_vec(),
    };
    parts.outbound.send(send(OPTIONS)).await.unwrap();
    let (mut stream, _) = tokio::time::timeout(WAIT, peer.accept())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read_exactly(&mut stream, OPTIONS.len()).await, OPTIONS);

    // The peer answers on the same connection; Tandem sees it with the connection's id.
    let reply = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    stream.write_all(reply).await.unwrap();
    let inbound = next_message(&mut parts.events).await;
    assert_eq!(inbound.bytes, reply);
    assert_eq!(inbound.peer, addr(14013));
    assert!(inbound.connection.is_some());

    // A second message to the same peer goes over the open connection: no second accept.
    let second = with_body("again");
    parts.outbound.send(send(&second)).await.unwrap();
    assert_eq!(read_exactly(&mut stream, second.len()).await, second);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), peer.accept())
            .await
            .is_err()
    );
    assert_eq!(parts.stats.snapshot().connected, 1);
    shutdown.stop();
}

#[tokio::test]
async fn failed_sends_are_reported() {
    let shutdown = Shutdown::new();
    let udp_only = TransportConfig {
        tcp: false,
        ..config(14004)
    };
    let transports = Transports::bind(&udp_only, shutdown.signal())
        .await
        .unwrap();
    assert_eq!(transports.tcp_local(), None);
    let mut parts = transports.into_parts();
    let tcp = Outbound {
        transport: Transport::Tcp,
        peer: addr(14014),
        connection: None,
        bytes: OPTIONS.to_vec(),
    };
    parts.outbound.send(tcp).await.unwrap();
    match next_event(&mut parts.events).await {
        TransportEvent::SendFailed(failure) => {
            assert_eq!(failure.transport, Transport::Tcp);
            assert_eq!(failure.peer, addr(14014));
            assert!(failure.reason.contains("not enabled"), "{}", failure.reason);
        }
        other => panic!("expected a send failure, got {other:?}"),
    }
    shutdown.stop();

    // With TCP on, nobody listening at the peer: the connect fails and is reported.
    let shutdown = Shutdown::new();
    let transports = Transports::bind(&config(14005), shutdown.signal())
        .await
        .unwrap();
    let mut parts = transports.into_parts();
    let nobody = Outbound {
        transport: Transport::Tcp,
        peer: addr(14015),
        connection: None,
        bytes: OPTIONS.to_vec(),
    };
    parts.outbound.send(nobody).await.unwrap();
    match next_event(&mut parts.events).await {
        TransportEvent::SendFailed(failure) => {
            assert_eq!(failure.peer, addr(14015));
            assert!(failure.connection.is_some());
        }
        other => panic!("expected a send failure, got {other:?}"),
    }
    assert_eq!(parts.stats.snapshot().send_failures, 1);
    shutdown.stop();
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let shutdown = Shutdown::new();
    let idle = TransportConfig {
        idle_timeout: Some(Duration::from_millis(100)),
        ..config(14006)
    };
    let transports = Transports::bind(&idle, shutdown.signal()).await.unwrap();
    let parts = transports.into_parts();
    let mut client = TcpStream::connect(addr(14006)).await.unwrap();
    assert!(closes(&mut client).await);
    assert_eq!(parts.stats.snapshot().idle_closed, 1);
    shutdown.stop();
}

#[tokio::test]
async fn port_zero_gives_udp_and_tcp_the_same_port() {
    let shutdown = Shutdown::new();
    let transports = Transports::bind(&config(0), shutdown.signal())
        .await
        .unwrap();
    let udp = transports.udp_local().unwrap();
    assert_ne!(udp.port(), 0);
    assert_eq!(transports.tcp_local(), Some(udp));
    shutdown.stop();
}

#[tokio::test]
async fn a_taken_port_is_a_bind_error_naming_transport_and_address() {
    let taken = UdpSocket::bind(addr(14007)).await.unwrap();
    let shutdown = Shutdown::new();
    let err = Transports::bind(&config(14007), shutdown.signal())
        .await
        .unwrap_err();
    assert_eq!((err.transport, err.addr), (Transport::Udp, addr(14007)));
    assert!(
        err.to_string()
            .starts_with("cannot listen for SIP over UDP on 127.0.0.1:14007: "),
        "{err}"
    );
    drop(taken);

    let taken = TcpListener::bind(addr(14008)).await.unwrap();
    let err = Transports::bind(&config(14008), shutdown.signal())
        .await
        .unwrap_err();
    assert_eq!((err.transport, err.addr), (Transport::Tcp, addr(14008)));
    drop(taken);
    // Nothing was left bound by the failed attempt: UDP 14008 is free again.
    UdpSocket::bind(addr(14008)).await.unwrap();
}

#[tokio::test]
async fn after_shutdown_the_ports_are_free_again() {
    let shutdown = Shutdown::new();
    let transports = Transports::bind(&config(14009), shutdown.signal())
        .await
        .unwrap();
    let parts = transports.into_parts();
    shutdown.stop();
    tokio::time::timeout(WAIT, parts.tasks.join())
        .await
        .unwrap();
    drop(parts.events);
    let again = Shutdown::new();
    let transports = Transports::bind(&config(14009), again.signal())
        .await
        .unwrap();
    assert_eq!(transports.udp_local(), Some(addr(14009)));
    again.stop();
}

#[tokio::test]
async fn a_full_event_queue_drops_udp_datagrams_and_counts_them() {
    let shutdown = Shutdown::new();
    let transports = Transports::bind(&config(14020), shutdown.signal())
        .await
        .unwrap();
    let parts = transports.into_parts();
    let client = UdpSocket::bind(addr(14021)).await.unwrap();
    let total = EVENT_QUEUE + 200;
    for i in 0..total {
        client.send_to(OPTIONS, addr(14020)).await.unwrap();
        // Pace the sender a little so the kernel's receive buffer does not do the dropping.
        if i % 128 == 127 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = parts.stats.snapshot();
        if s.received as usize == EVENT_QUEUE && s.dropped > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{s:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(parts.events.len(), EVENT_QUEUE);
    shutdown.stop();
}

#[tokio::test]
async fn sources_outside_the_allow_list_are_dropped_unanswered_and_counted() {
    let shutdown = Shutdown::new();
    let fenced = TransportConfig {
        allow: vec!["192.0.2.0/24".parse().unwrap(), "::1".parse().unwrap()],
        ..config(14030)
    };
    let transports = Transports::bind(&fenced, shutdown.signal()).await.unwrap();
    let mut parts = transports.into_parts();
    let client = UdpSocket::bind(addr(14031)).await.unwrap();
    client.send_to(OPTIONS, addr(14030)).await.unwrap();
    let mut stream = TcpStream::connect(addr(14030)).await.unwrap();
    let _ = stream.write_all(OPTIONS).await;
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(WAIT, stream.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "the connection is closed unanswered: {closed:?}"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while parts.stats.snapshot().forbidden < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            parts.stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = parts.stats.snapshot();
    assert_eq!((stats.received, stats.accepted), (0, 0), "{stats:?}");
    assert!(
        parts.events.try_recv().is_err(),
        "nothing reached the SIP layer"
    );
    shutdown.stop();

    // The same sources, listed: served.
    let shutdown = Shutdown::new();
    let open = TransportConfig {
        allow: vec!["127.0.0.0/8".parse().unwrap()],
        ..config(14032)
    };
    let transports = Transports::bind(&open, shutdown.signal()).await.unwrap();
    let mut parts = transports.into_parts();
    client.send_to(OPTIONS, addr(14032)).await.unwrap();
    assert_eq!(next_message(&mut parts.events).await.bytes, OPTIONS);
    assert_eq!(parts.stats.snapshot().forbidden, 0);
    shutdown.stop();
}
