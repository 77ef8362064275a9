//! The ng control protocol, client side: bencoded dictionaries after a cookie, over UDP
//! (rtpengine's protocol, as Kamailio's rtpengine module speaks it).
//!
//! Requests are built as [`Value`] dictionaries ([`offer`], [`answer`], [`delete`], [`ping`])
//! and framed with [`encode`]; [`NgClient::call`] sends one and waits for the reply with the
//! same cookie, retransmitting the same datagram (same cookie, so the engine answers from its
//! reply cache instead of executing twice) up to [`ATTEMPTS`] times. Replies are checked with
//! [`Reply::parse`]: `result` must be `ok` (or `pong`), otherwise the engine's `error-reason`
//! is returned.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use bt_bencode::{ByteString, Value};

/// Tries per command (the first send plus retransmissions).
pub const ATTEMPTS: usize = 3;
/// Wait for a reply before retransmitting.
pub const REPLY_TIMEOUT: Duration = Duration::from_millis(1000);
/// Largest reply read (rtpengine's `delete` statistics run to a few kB for one call).
const REPLY_BYTES: usize = 65_536;

/// How the offer asks for codecs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecRequest {
    /// No `codec` dictionary: both sides keep the caller's codecs (relay).
    Keep,
    /// `codec: {mask: [all], transcode: [<codec>]}`, exactly what Kamailio sends for
    /// `codec-mask=all codec-transcode=<codec>`: the callee is offered only `<codec>`.
    MaskAllTranscode(String),
}

fn text(s: &str) -> Value {
    Value::ByteStr(ByteString::from(s.as_bytes().to_vec()))
}

fn dict(entries: Vec<(&str, Value)>) -> Value {
    let map: BTreeMap<ByteString, Value> = entries
        .into_iter()
        .map(|(k, v)| (ByteString::from(k.as_bytes().to_vec()), v))
        .collect();
    Value::Dict(map)
}

/// The dialog identifiers every command of one call carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallIds {
    /// SIP Call-ID.
    pub call_id: String,
    /// The caller's From tag.
    pub from_tag: String,
    /// The callee's To tag.
    pub to_tag: String,
}

/// `offer` with the caller's SDP. Flags as Kamailio sends them for a proxy on loopback:
/// `replace: [origin, session-connection]`, `ICE: remove`, `RTP/AVP` transport.
pub fn offer(ids: &CallIds, sdp: &str, codec: &CodecRequest) -> Value {
    let mut entries = vec![
        ("command", text("offer")),
        ("call-id", text(&ids.call_id)),
        ("from-tag", text(&ids.from_tag)),
        ("sdp", text(sdp)),
        (
            "replace",
            Value::List(vec![text("origin"), text("session-connection")]),
        ),
        ("ICE", text("remove")),
        ("transport-protocol", text("RTP/AVP")),
    ];
    if let CodecRequest::MaskAllTranscode(codec) = codec {
        entries.push((
            "codec",
            dict(vec![
                ("mask", Value::List(vec![text("all")])),
                ("transcode", Value::List(vec![text(codec)])),
            ]),
        ));
    }
    dict(entries)
}

/// `answer` with the callee's SDP.
pub fn answer(ids: &CallIds, sdp: &str) -> Value {
    dict(vec![
        ("command", text("answer")),
        ("call-id", text(&ids.call_id)),
        ("from-tag", text(&ids.from_tag)),
        ("to-tag", text(&ids.to_tag)),
        ("sdp", text(sdp)),
        (
            "replace",
            Value::List(vec![text("origin"), text("session-connection")]),
        ),
        ("ICE", text("remove")),
        ("transport-protocol", text("RTP/AVP")),
    ])
}

/// `delete` of the whole call.
pub fn delete(ids: &CallIds) -> Value {
    dict(vec![
        ("command", text("delete")),
        ("call-id", text(&ids.call_id)),
        ("from-tag", text(&ids.from_tag)),
    ])
}

/// `ping`.
pub fn ping() -> Value {
    dict(vec![("command", text("ping"))])
}

/// One datagram: `<cookie> <bencoded request>`.
pub fn encode(cookie: &str, request: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(cookie.as_bytes());
    out.push(b' ');
    // Serialising a Value into a Vec cannot fail.
    out.extend_from_slice(&bt_bencode::to_vec(request).unwrap_or_default());
    out
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `result` (`ok`, `pong`).
    pub result: String,
    /// The rewritten SDP, for offer and answer.
    pub sdp: Option<String>,
    /// `warning`, when the engine sent one.
    pub warning: Option<String>,
}

fn get_str(d: &BTreeMap<ByteString, Value>, key: &str) -> Option<String> {
    d.get(&ByteString::from(key.as_bytes().to_vec()))
        .and_then(Value::as_byte_str)
        .map(|b| String::from_utf8_lossy(b.as_slice()).into_owned())
}

impl Reply {
    /// Splits `<cookie> <dict>`, checks the cookie and the result.
    pub fn parse(datagram: &[u8], cookie: &str) -> Result<Reply, String> {
        let space = datagram
            .iter()
            .position(|&b| b == b' ')
            .ok_or("reply without a cookie")?;
        if &datagram[..space] != cookie.as_bytes() {
            return Err("reply to another cookie".into());
        }
        let value: Value = bt_bencode::from_slice(&datagram[space + 1..])
            .map_err(|e| format!("reply is not bencode: {e}"))?;
        let d = value.as_dict().ok_or("reply is not a dictionary")?;
        let result = get_str(d, "result").ok_or("reply without result")?;
        if result != "ok" && result != "pong" {
            let reason = get_str(d, "error-reason").unwrap_or_default();
            return Err(format!("{result}: {reason}"));
        }
        Ok(Reply {
            result,
            sdp: get_str(d, "sdp"),
            warning: get_str(d, "warning"),
        })
    }
}

/// An ephemeral loopback UDP socket of `engine`'s family, for talking to it; refused when
/// `engine` is not on loopback (the load tools drive nothing else).
pub fn loopback_socket(engine: SocketAddr) -> Result<UdpSocket, String> {
    if !engine.ip().is_loopback() {
        return Err(format!("{engine}: only loopback engines are driven"));
    }
    let bind = if engine.is_ipv6() {
        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
    } else {
        SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0))
    };
    UdpSocket::bind(bind).map_err(|e| format!("ng socket: {e}"))
}

/// A blocking ng client on one loopback UDP socket.
#[derive(Debug)]
pub struct NgClient {
    socket: UdpSocket,
    engine: SocketAddr,
    prefix: String,
    sequence: u64,
    buf: Vec<u8>,
}

impl NgClient {
    /// Binds an ephemeral loopback port for talking to `engine`.
    pub fn new(engine: SocketAddr) -> Result<NgClient, String> {
        let socket = loopback_socket(engine)?;
        socket
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(|e| format!("ng socket: {e}"))?;
        Ok(NgClient {
            socket,
            engine,
            prefix: format!("lg{}", std::process::id()),
            sequence: 0,
            buf: vec![0u8; REPLY_BYTES],
        })
    }

    /// Sends `request` and waits for its reply (bounded: [`ATTEMPTS`] × [`REPLY_TIMEOUT`]).
    pub fn call(&mut self, request: &Value) -> Result<Reply, String> {
        self.sequence += 1;
        let cookie = format!("{}_{}", self.prefix, self.sequence);
        let datagram = encode(&cookie, request);
        for _ in 0..ATTEMPTS {
            self.socket
                .send_to(&datagram, self.engine)
                .map_err(|e| format!("ng send: {e}"))?;
            // Skip stale replies to earlier cookies until this one's arrives or time runs out.
            loop {
                match self.socket.recv_from(&mut self.buf) {
                    Ok((n, _)) => match Reply::parse(&self.buf[..n], &cookie) {
                        Err(e) if e == "reply to another cookie" => continue,
                        other => return other,
                    },
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break;
                    }
                    Err(e) => return Err(format!("ng receive: {e}")),
                }
            }
        }
        Err(format!(
            "no ng reply from {} after {ATTEMPTS} tries",
            self.engine
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> CallIds {
        CallIds {
            call_id: "c1".into(),
            from_tag: "f1".into(),
            to_tag: "t1".into(),
        }
    }

    #[test]
    fn offer_carries_kamailio_codec_dictionary() {
        let request = offer(
            &ids(),
            "v=0\r\n",
            &CodecRequest::MaskAllTranscode("opus/48000/2".into()),
        );
        let wire = encode("x_1", &request);
        let text = String::from_utf8_lossy(&wire);
        assert!(text.starts_with("x_1 d"), "{text}");
        assert!(
            text.contains("5:codecd4:maskl3:alle9:transcodel12:opus/48000/2ee"),
            "{text}"
        );
        assert!(text.contains("7:command5:offer"), "{text}");
        assert!(text.contains("7:call-id2:c1"), "{text}");
        assert!(text.contains("3:sdp5:v=0\r\n"), "{text}");
    }

    #[test]
    fn relay_offer_has_no_codec_dictionary() {
        let wire = encode("x_2", &offer(&ids(), "v=0\r\n", &CodecRequest::Keep));
        assert!(!String::from_utf8_lossy(&wire).contains("codec"));
    }

    #[test]
    fn answer_and_delete_carry_the_tags() {
        let a = String::from_utf8_lossy(&encode("k", &answer(&ids(), "s"))).into_owned();
        assert!(
            a.contains("6:to-tag2:t1") && a.contains("8:from-tag2:f1"),
            "{a}"
        );
        let d = String::from_utf8_lossy(&encode("k", &delete(&ids()))).into_owned();
        assert_eq!(d, "k d7:call-id2:c17:command6:delete8:from-tag2:f1e");
    }

    #[test]
    fn parses_rtpengine_replies() {
        // From kamailio/ng-samples.txt (transcode run).
        let reply = b"0_5232_1 d3:sdp31:v=0\r\nm=audio 30000 RTP/AVP 96\r\n6:result2:oke";
        let r = Reply::parse(reply, "0_5232_1").unwrap();
        assert_eq!(r.result, "ok");
        assert_eq!(
            r.sdp.as_deref(),
            Some("v=0\r\nm=audio 30000 RTP/AVP 96\r\n")
        );
        let pong = Reply::parse(b"7 d6:result4:ponge", "7").unwrap();
        assert_eq!(pong.result, "pong");
        let err = Reply::parse(b"7 d12:error-reason12:Unknown call6:result5:errore", "7");
        assert_eq!(err, Err("error: Unknown call".into()));
        assert!(Reply::parse(b"8 d6:result2:oke", "7").is_err());
        assert!(Reply::parse(b"7 not bencode", "7").is_err());
    }
}
