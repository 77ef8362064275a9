//! ng over TCP (rtpengine's `listen-tcp-ng`): the same
//! `<cookie> <bencoded dictionary>` messages as over UDP, back to back on a stream, and the
//! replies written back the same way, in order.
//!
//! Nothing but the bencode delimits a message: it ends where its dictionary ends, so the
//! stream is cut by parsing it ([`cut`]), as rtpengine's own TCP control does. The dispatcher,
//! cookie cache and call table are the UDP listener's.
//!
//! Kamailio's rtpengine module does not speak it: its `rtpengine_sock` takes `udp:`, `udp6:`
//! and `unix:` (and WebSocket in later releases), so Kamailio drives Tandem over UDP; TCP
//! serves clients that want a stream (large SDPs without IP fragmentation).
//!
//! # Bounds and bad input
//!
//! - At most [`MAX_CONNECTIONS`] connections; one more is accepted and closed at once.
//! - A message is at most [`MAX_MESSAGE`] bytes and must arrive within [`MESSAGE_TIMEOUT`]
//!   of its first byte; an idle connection between messages stays open (Kamailio keeps one
//!   per process).
//! - Bad input (no cookie, bytes that are not bencode, a message too long or too slow) closes
//!   the connection, after an error reply when there is a cookie to answer: the stream cannot
//!   be resynchronised. Each such close is counted in
//!   [`NgStats::tcp_bad_input`](super::server::NgStats::tcp_bad_input).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::bencode::{BencodeErrorKind, value_len};
use super::command::{Frame, MAX_COOKIE, error_reply};
use super::server::{Dispatcher, MAX_DATAGRAM};
use crate::run::shutdown::ShutdownSignal;

/// Most connections open at once.
pub const MAX_CONNECTIONS: usize = 64;

/// Longest message accepted, cookie included: what fits in a UDP datagram.
pub const MAX_MESSAGE: usize = MAX_DATAGRAM;

/// Longest wait for the rest of a message once its first byte has arrived.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the bytes at the start of a connection's buffer read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut<'a> {
    /// A whole message: the buffer's first `len` bytes.
    Message {
        /// Its length, cookie and space included.
        len: usize,
    },
    /// Not a whole message yet: read more.
    Incomplete,
    /// Bad input: the connection must close.
    Invalid {
        /// The message's cookie, when it has one to answer.
        cookie: Option<&'a [u8]>,
        /// Why, for the error reply.
        reason: &'static str,
    },
}

/// Reads the message at the start of `buf`.
pub fn cut(buf: &[u8]) -> Cut<'_> {
    let no_cookie = Cut::Invalid {
        cookie: None,
        reason: "no cookie",
    };
    // The cookie ends at the first space, within MAX_COOKIE bytes.
    let head = &buf[..buf.len().min(MAX_COOKIE + 1)];
    let Some(space) = head.iter().position(|&b| b == b' ') else {
        return if head.len() > MAX_COOKIE {
            no_cookie
        } else {
            Cut::Incomplete
        };
    };
    let Some(frame) = Frame::split(&buf[..=space]) else {
        return no_cookie;
    };
    let invalid = |reason| Cut::Invalid {
        cookie: Some(frame.cookie),
        reason,
    };
    match value_len(&buf[space + 1..]) {
        Ok(n) if space + 1 + n <= MAX_MESSAGE => Cut::Message { len: space + 1 + n },
        Ok(_) => invalid("message too long"),
        Err(e) if e.kind == BencodeErrorKind::Truncated && buf.len() < MAX_MESSAGE => {
            Cut::Incomplete
        }
        Err(e) if e.kind == BencodeErrorKind::Truncated => invalid("message too long"),
        Err(_) => invalid("the message is not bencode"),
    }
}

/// Accepts connections until `shutdown` says stop, then closes them all.
pub(crate) async fn serve(
    listener: TcpListener,
    dispatcher: Dispatcher,
    mut shutdown: ShutdownSignal,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    // Out of descriptors or a connection reset before accept: not fatal, but
                    // do not spin on it.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                if !dispatcher.admits(peer) {
                    continue;
                }
                let stats = &dispatcher.stats;
                if connections.len() >= MAX_CONNECTIONS {
                    stats.tcp_refused.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
                connections.spawn(connection(stream, dispatcher.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = shutdown.stopping() => break,
        }
    }
    connections.shutdown().await;
}

/// Serves one connection: carries out each whole message in order, writes its reply, reads
/// more. Returns when the peer closes, on an I/O error, or on bad input.
async fn connection(mut stream: TcpStream, dispatcher: Dispatcher) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        loop {
            match cut(&buf) {
                Cut::Message { len } => {
                    // `cut` found a cookie; split again to get the frame (no copy).
                    let Some(frame) = Frame::split(&buf[..len]) else {
                        return;
                    };
                    let Some(reply) = dispatcher.execute(frame).await else {
                        return;
                    };
                    if stream.write_all(&reply).await.is_err() {
                        return;
                    }
                    buf.drain(..len);
                }
                Cut::Incomplete => break,
                Cut::Invalid { cookie, reason } => {
                    dispatcher
                        .stats
                        .tcp_bad_input
                        .fetch_add(1, Ordering::Relaxed);
                    if let Some(cookie) = cookie {
                        let reply = Frame { cookie, body: &[] }.reply(&error_reply(reason));
                        let _ = stream.write_all(&reply).await;
                    }
                    return;
                }
            }
        }
        buf.reserve(4096);
        let read = if buf.is_empty() {
            stream.read_buf(&mut buf).await
        } else {
            match tokio::time::timeout(MESSAGE_TIMEOUT, stream.read_buf(&mut buf)).await {
                Ok(read) => read,
                Err(_) => {
                    dispatcher
                        .stats
                        .tcp_bad_input
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        };
        if matches!(read, Ok(0) | Err(_)) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_where_their_dictionary_ends() {
        let two = b"c1 d7:command4:pingec2 d7:command4:pinge";
        assert_eq!(cut(two), Cut::Message { len: 20 });
        assert_eq!(cut(&two[20..]), Cut::Message { len: 20 });
        for partial in [
            &b""[..],
            b"c1",
            b"c1 ",
            b"c1 d7:comm",
            b"c1 d7:command4:ping",
        ] {
            assert_eq!(cut(partial), Cut::Incomplete, "{partial:?}");
        }
    }

    #[test]
    fn bad_input_is_invalid_with_the_cookie_when_there_is_one() {
        assert_eq!(
            cut(b"c1 x"),
            Cut::Invalid {
                cookie: Some(b"c1"),
                reason: "the message is not bencode"
            }
        );
        assert!(matches!(
            cut(b" d7:command4:pinge"),
            Cut::Invalid { cookie: None, .. }
        ));
        let long_cookie = vec![b'c'; MAX_COOKIE + 1];
        assert!(matches!(
            cut(&long_cookie),
            Cut::Invalid { cookie: None, .. }
        ));
        // A string longer than a message may be: waits up to the bound, then gives up.
        let mut huge = b"c1 d3:sdp99999999:".to_vec();
        assert_eq!(cut(&huge), Cut::Incomplete);
        huge.resize(MAX_MESSAGE, b'x');
        assert_eq!(
            cut(&huge),
            Cut::Invalid {
                cookie: Some(b"c1"),
                reason: "message too long"
            }
        );
    }
}
