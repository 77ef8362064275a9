//! What an ng call's media does when the command's flags ask for something, over a real
//! media runtime and real UDP peers:
//!
//! - A signalling loop (a spiral: the INVITE and its 200 pass the same Kamailio twice, so
//!   Kamailio calls `offer` and `answer` twice for one call) with rtpengine's `loop-protect`
//!   flag: Tandem marks the SDP it returns (`a=rtpengine:<mark>`) and returns an SDP that
//!   already carries its mark untouched, without processing it. Without that, the looped
//!   offer made Tandem's own port the caller's media address: the callee's early media went
//!   from Tandem to Tandem, and the caller heard nothing until it spoke first.
//! - An `asymmetric` caller, which receives elsewhere than it sends from, keeps getting its
//!   media at its SDP's address after Tandem has locked onto its source.
//! - A caller whose offer says `media-handover` moves to another address mid-call (a phone
//!   changing networks) and its media follows it both ways; without the flag the locked
//!   source is kept.
//!
//! - `block media` with `address` blocks the side whose SDP advertised that address (the
//!   callee on 127.0.0.2 here), not the whole call.
//!
//! - `ptime: 30` in the offer of a PCMU call whose endpoints both speak PCMU at 20 ms: the
//!   answerer gets 30 ms packets (Tandem repacketizes, as rtpengine engages its transcoder
//!   for it), the offerer still 20 ms.
//!
//! RTP ports 22500–22599 and 24200–24239, 20 per test.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use tandem::ng::Calls;
use tandem::ng::bencode::{Value, dict};
use tandem::ng::calls::MediaControl;
use tandem::run::media::MediaPolicy;
use tandem_core::runtime::Runtime;

use support::ng::loopback_runtime;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A runtime on 20 ports from `min` (each test its own).
fn runtime(min: u16) -> Arc<Runtime> {
    loopback_runtime(min, min + 19)
}

fn peer() -> UdpSocket {
    let socket = UdpSocket::bind((LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    socket
}

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

fn message(command: &str, sdp: &str, to_tag: bool) -> Value {
    with_flags(command, sdp, to_tag, &["loop-protect", "trust-address"])
}

/// An offer of PCMU at `peer`'s address and port, with `flags`.
fn offer_from(peer: &UdpSocket, flags: &[&str]) -> Value {
    with_flags(
        "offer",
        &sdp(peer.local_addr().unwrap().port()),
        false,
        flags,
    )
}

/// The answer to it from `peer`, without flags.
fn answer_from(peer: &UdpSocket) -> Value {
    with_flags("answer", &sdp(peer.local_addr().unwrap().port()), true, &[])
}

fn with_flags(command: &str, sdp: &str, to_tag: bool, flags: &[&str]) -> Value {
    let mut message = dict([
        ("command", Value::str(command)),
        ("call-id", Value::str("spiral")),
        ("from-tag", Value::str("caller")),
        ("sdp", Value::str(sdp)),
        (
            "flags",
            Value::List(flags.iter().map(|f| Value::str(f)).collect()),
        ),
        ("replace", Value::List(vec![Value::str("origin")])),
    ]);
    if to_tag && let Value::Dict(entries) = &mut message {
        entries.push((b"to-tag".to_vec(), Value::str("callee")));
    }
    message
}

fn reply_sdp(reply: &Value) -> String {
    assert_eq!(
        reply.get("result").and_then(Value::as_str),
        Some("ok"),
        "{reply:?}"
    );
    reply.get("sdp").and_then(Value::as_str).unwrap().to_owned()
}

fn audio_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap()
}

/// An RTP packet of PCMU silence with sequence number `seq`.
fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut packet = vec![0x80, 0x00];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    packet.extend_from_slice(&ssrc.to_be_bytes());
    packet.extend(std::iter::repeat_n(0xFF, 160));
    packet
}

/// Sends RTP from `from` to `to` every 20 ms until `into` receives some (at most 2 s);
/// returns where it came from.
fn media_arrives(from: &UdpSocket, to: SocketAddr, into: &UdpSocket) -> Option<SocketAddr> {
    let mut buf = [0u8; 1500];
    for seq in 0..100u16 {
        from.send_to(&rtp(seq, 0x5151), to).unwrap();
        // Waits up to the peer's read timeout (20 ms).
        if let Ok((_, source)) = into.recv_from(&mut buf) {
            return Some(source);
        }
    }
    None
}

/// What an offer and its answer set up: the SDP Tandem sent the callee, and the legs that face
/// the caller and the callee (where each sends its media).
struct Established {
    towards_callee: String,
    caller_leg: SocketAddr,
    callee_leg: SocketAddr,
}

/// Runs `offer` and then `answer` (both must succeed).
fn establish(calls: &mut Calls, offer: &Value, answer: &Value) -> Established {
    let towards_callee = reply_sdp(&calls.offer(offer).unwrap());
    let towards_caller = reply_sdp(&calls.answer(answer).unwrap());
    Established {
        caller_leg: SocketAddr::new(LOCALHOST, audio_port(&towards_caller)),
        callee_leg: SocketAddr::new(LOCALHOST, audio_port(&towards_callee)),
        towards_callee,
    }
}

#[test]
fn a_spiralled_offer_and_answer_are_returned_untouched_and_media_still_flows() {
    let runtime = runtime(22500);
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST);
    let (caller, callee) = (peer(), peer());
    let caller_sdp = sdp(caller.local_addr().unwrap().port());
    let callee_sdp = sdp(callee.local_addr().unwrap().port());
    let mark = format!("a=rtpengine:{}", calls.loop_mark());

    // First pass of the INVITE: rewritten and marked.
    let towards_callee = reply_sdp(&calls.offer(&message("offer", &caller_sdp, false)).unwrap());
    assert!(towards_callee.contains(&mark), "{towards_callee}");
    // Second pass (the spiral): Tandem's own SDP comes back and goes on untouched.
    let looped = reply_sdp(
        &calls
            .offer(&message("offer", &towards_callee, false))
            .unwrap(),
    );
    assert_eq!(looped, towards_callee);
    // The 200 passes twice the other way: the callee's SDP first, then Tandem's own.
    let towards_caller = reply_sdp(&calls.answer(&message("answer", &callee_sdp, true)).unwrap());
    assert!(towards_caller.contains(&mark), "{towards_caller}");
    let looped = reply_sdp(
        &calls
            .answer(&message("answer", &towards_caller, true))
            .unwrap(),
    );
    assert_eq!(looped, towards_caller);

    let caller_leg = SocketAddr::new(LOCALHOST, audio_port(&towards_caller));
    let callee_leg = SocketAddr::new(LOCALHOST, audio_port(&towards_callee));
    // Early media before the caller says anything: the callee's RTP reaches the caller
    // (from the caller's leg), not Tandem itself.
    assert_eq!(
        media_arrives(&callee, callee_leg, &caller),
        Some(caller_leg),
        "the callee's media reaches the caller"
    );
    assert_eq!(
        media_arrives(&caller, caller_leg, &callee),
        Some(callee_leg),
        "the caller's media reaches the callee"
    );
}

#[test]
fn without_loop_protect_the_sdp_carries_no_mark() {
    let runtime = runtime(22520);
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST);
    let caller = peer();
    let reply = reply_sdp(&calls.offer(&offer_from(&caller, &[])).unwrap());
    assert!(!reply.contains("a=rtpengine"), "{reply}");
}

#[test]
fn an_asymmetric_caller_gets_its_media_at_its_sdp_address() {
    let runtime = runtime(22540);
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST);
    // The caller sends from one socket and receives on another, the one its SDP names.
    let (caller_sends, caller_receives, callee) = (peer(), peer(), peer());
    let caller_sdp = sdp(caller_receives.local_addr().unwrap().port());
    let offer = with_flags("offer", &caller_sdp, false, &["asymmetric"]);
    let answer = answer_from(&callee);
    let Established {
        caller_leg,
        callee_leg,
        ..
    } = establish(&mut calls, &offer, &answer);

    // The caller speaks first, from its sending socket: Tandem locks onto that source...
    assert_eq!(
        media_arrives(&caller_sends, caller_leg, &callee),
        Some(callee_leg)
    );
    for seq in 0..10 {
        caller_sends.send_to(&rtp(seq, 0x7777), caller_leg).unwrap();
    }
    // ...and still sends the callee's media to the address in the caller's SDP.
    assert_eq!(
        media_arrives(&callee, callee_leg, &caller_receives),
        Some(caller_leg),
        "the callee's media reaches the caller's receiving socket"
    );
    let mut buf = [0u8; 1500];
    assert!(
        caller_sends.recv_from(&mut buf).is_err(),
        "nothing goes back to the caller's source"
    );
}

/// A call whose caller moves from one socket to another after media has flowed; returns
/// whether the caller's media from the new socket reached the callee and whether the callee's
/// media then reached the new socket.
fn caller_moves(flags: &[&str], ports: u16) -> (bool, bool) {
    let runtime = runtime(ports);
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST);
    let (before, after, callee) = (peer(), peer(), peer());
    let (offer, answer) = (offer_from(&before, flags), answer_from(&callee));
    let Established {
        caller_leg,
        callee_leg,
        ..
    } = establish(&mut calls, &offer, &answer);
    assert_eq!(
        media_arrives(&before, caller_leg, &callee),
        Some(callee_leg)
    );
    assert_eq!(
        media_arrives(&callee, callee_leg, &before),
        Some(caller_leg)
    );
    // The caller changes networks: same stream, new address.
    let moved_through = media_arrives(&after, caller_leg, &callee).is_some();
    // It goes on talking from there, as a phone does.
    for seq in 200..210 {
        after.send_to(&rtp(seq, 0x5151), caller_leg).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let followed = media_arrives(&callee, callee_leg, &after).is_some();
    (moved_through, followed)
}

#[test]
fn with_media_handover_a_moving_caller_keeps_its_media() {
    assert_eq!(caller_moves(&["media-handover"], 22560), (true, true));
}

#[test]
fn without_media_handover_the_locked_source_is_kept() {
    assert_eq!(caller_moves(&[], 22580), (false, false));
}

#[test]
fn block_media_by_address_blocks_the_side_that_advertised_it() {
    let runtime = runtime(24200);
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST);
    let caller = peer();
    // The callee lives on another loopback address, which its SDP advertises.
    let callee = UdpSocket::bind(("127.0.0.2", 0)).unwrap();
    callee
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let offer = offer_from(&caller, &[]);
    let callee_sdp = sdp(callee.local_addr().unwrap().port()).replace("127.0.0.1", "127.0.0.2");
    let answer = with_flags("answer", &callee_sdp, true, &[]);
    let Established {
        caller_leg,
        callee_leg,
        ..
    } = establish(&mut calls, &offer, &answer);
    assert!(media_arrives(&caller, caller_leg, &callee).is_some());
    assert!(media_arrives(&callee, callee_leg, &caller).is_some());

    let block = dict([
        ("command", Value::str("block media")),
        ("call-id", Value::str("spiral")),
        ("address", Value::str("127.0.0.2")),
    ]);
    let reply = calls
        .control(&block, MediaControl::BlockMedia(true))
        .unwrap();
    assert_eq!(reply.get("result").and_then(Value::as_str), Some("ok"));
    // Drain what was in flight, then: the callee is blocked, the caller is not.
    std::thread::sleep(Duration::from_millis(60));
    let mut buf = [0u8; 1500];
    while caller.recv_from(&mut buf).is_ok() {}
    assert_eq!(media_arrives(&callee, callee_leg, &caller), None);
    assert!(media_arrives(&caller, caller_leg, &callee).is_some());
    let nobody = dict([
        ("command", Value::str("block media")),
        ("call-id", Value::str("spiral")),
        ("address", Value::str("192.0.2.7")),
    ]);
    assert!(
        calls
            .control(&nobody, MediaControl::BlockMedia(true))
            .is_err()
    );
}

/// The payload sizes of the first RTP packets `socket` receives while `from` sends 20 ms of
/// PCMU to `to` every 20 ms (at most 2 s).
fn payload_sizes(from: &UdpSocket, to: SocketAddr, socket: &UdpSocket) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut buf = [0u8; 1500];
    for seq in 0..100u16 {
        from.send_to(&rtp(seq, 0x3030), to).unwrap();
        if let Ok((len, _)) = socket.recv_from(&mut buf) {
            if len > 12 && buf[1] & 0x7F == 0 {
                sizes.push(len - 12);
            }
        }
        if sizes.len() >= 5 {
            break;
        }
    }
    sizes
}

#[test]
fn a_ptime_the_offer_asks_for_is_what_the_answerer_gets() {
    let runtime = runtime(24220);
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST);
    let (caller, callee) = (peer(), peer());
    let mut offer = offer_from(&caller, &[]);
    if let Value::Dict(entries) = &mut offer {
        entries.push((b"ptime".to_vec(), Value::Int(30)));
    }
    let answer = answer_from(&callee);
    let Established {
        towards_callee,
        caller_leg,
        callee_leg,
    } = establish(&mut calls, &offer, &answer);
    assert!(towards_callee.contains("a=ptime:30"), "{towards_callee}");

    let at_callee = payload_sizes(&caller, caller_leg, &callee);
    assert!(
        at_callee.len() >= 3 && at_callee.iter().all(|&n| n == 240),
        "30 ms of PCMU per packet towards the answerer: {at_callee:?}"
    );
    let at_caller = payload_sizes(&callee, callee_leg, &caller);
    assert!(
        at_caller.len() >= 3 && at_caller.iter().all(|&n| n == 160),
        "20 ms towards the offerer: {at_caller:?}"
    );
}
