//! The ng datagrams Kamailio sent to rtpengine in our captured verify run
//! (`tests/kamailio/ng-samples.txt`), replayed against Tandem's command layer over a real
//! media runtime: ping, then offer/answer/query/delete for a plain call and for a PCMA ↔
//! Opus transcoding call. Where Tandem matches rtpengine, the reply is compared byte for
//! byte with rtpengine's, ports substituted.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tandem::ng::Calls;
use tandem::ng::bencode::{Value, decode};
use tandem::ng::command::{Frame, handle};
use tandem::run::media::MediaPolicy;
use tandem_core::runtime::Runtime;

use support::ng::loopback_runtime;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One captured datagram: who sent it, its cookie and its body.
struct Sample {
    to_ng: bool,
    cookie: String,
    body: Vec<u8>,
}

/// The datagrams of one section (`## plain`, `## transcode`), CR LF restored.
fn samples(section: &str) -> Vec<Sample> {
    let text = include_str!("kamailio/ng-samples.txt");
    let start = text.find(&format!("## {section}")).expect("section");
    text[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|line| {
            let (to_ng, rest) = if let Some(r) = line.strip_prefix("kamailio -> ng: ") {
                (true, r)
            } else {
                (false, line.strip_prefix("ng -> kamailio: ")?)
            };
            let (cookie, body) = rest.split_once(' ')?;
            Some(Sample {
                to_ng,
                cookie: cookie.to_owned(),
                body: body.replace("\\r\\n", "\r\n").into_bytes(),
            })
        })
        .collect()
}

fn runtime(min: u16) -> Arc<Runtime> {
    loopback_runtime(min, min + 49)
}

fn sdp_of(reply: &Value) -> String {
    String::from_utf8(reply.get("sdp").and_then(Value::as_bytes).unwrap().to_vec()).unwrap()
}

/// The `m=audio` port of an SDP.
fn audio_port(sdp: &str) -> u16 {
    let line = sdp.lines().find(|l| l.starts_with("m=audio ")).unwrap();
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

/// `reply` with Tandem's port pair `ours`/`ours+1` written as rtpengine's `theirs`.
fn as_rtpengine(reply: &[u8], ours: u16, theirs: u16) -> Vec<u8> {
    String::from_utf8_lossy(reply)
        .replace(
            &format!("a=rtcp:{}", ours + 1),
            &format!("a=rtcp:{}", theirs + 1),
        )
        .replace(&format!("m=audio {ours} "), &format!("m=audio {theirs} "))
        .into_bytes()
}

fn reply_bytes(cookie: &str, reply: &Value) -> Vec<u8> {
    Frame {
        cookie: cookie.as_bytes(),
        body: &[],
    }
    .reply(reply)
}

#[test]
fn kamailio_plain_call_gets_rtpengines_replies() {
    let runtime = runtime(22100);
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST);
    let s = samples("plain");
    assert_eq!(s.len(), 8);
    // ping → pong, byte for byte.
    let pong = handle(&mut calls, &s[0].body);
    assert_eq!(
        reply_bytes(&s[0].cookie, &pong),
        format!("{} {}", s[1].cookie, String::from_utf8_lossy(&s[1].body)).into_bytes()
    );
    // offer: rtpengine's reply with its port 30000 where ours is.
    assert!(s[2].to_ng && !s[3].to_ng);
    let offer = handle(&mut calls, &s[2].body);
    let port_b = audio_port(&sdp_of(&offer));
    assert!((22100..22150).contains(&port_b), "{offer:?}");
    assert_eq!(
        String::from_utf8_lossy(&as_rtpengine(&offer.to_bytes(), port_b, 30000)),
        String::from_utf8_lossy(&s[3].body)
    );
    // answer: the same with rtpengine's 30010.
    let answer = handle(&mut calls, &s[4].body);
    let port_a = audio_port(&sdp_of(&answer));
    assert_ne!(port_a, port_b);
    assert_eq!(
        String::from_utf8_lossy(&as_rtpengine(&answer.to_bytes(), port_a, 30010)),
        String::from_utf8_lossy(&s[5].body)
    );
    assert_eq!(calls.len(), 1);
    // query and statistics, then delete: statistics and the call gone.
    let query = handle(
        &mut calls,
        b"d7:command5:query7:call-id16:1-5152@127.0.0.1e",
    );
    assert_eq!(
        query.get("result").and_then(Value::as_str),
        Some("ok"),
        "{query:?}"
    );
    let tags = query.get("tags").unwrap();
    assert!(tags.get("5152SIPpTag091").is_some() && tags.get("5147SIPpTag011").is_some());
    assert_eq!(
        query.get("SSRC"),
        Some(&Value::Dict(vec![])),
        "nothing heard yet"
    );
    // PCMA from the caller: its stream then has an SSRC and a MOS estimate, in the shape
    // Kamailio's `mos_*_pv` read (rtpengine's `SSRC` → `average MOS` → `MOS`, times ten).
    let caller = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 0..10u16 {
        let mut packet = vec![0x80, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
        packet[2..4].copy_from_slice(&seq.to_be_bytes());
        packet[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
        packet.extend_from_slice(&[0xd5; 160]);
        caller.send_to(&packet, ("127.0.0.1", port_a)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let query = handle(
        &mut calls,
        b"d7:command5:query7:call-id16:1-5152@127.0.0.1e",
    );
    let average = query
        .get("SSRC")
        .and_then(|s| s.get("4660"))
        .and_then(|s| s.get("average MOS"))
        .unwrap_or_else(|| panic!("{query:?}"));
    let mos = average.get("MOS").and_then(Value::as_int).unwrap();
    assert!((40..=45).contains(&mos), "{query:?}");
    assert_eq!(average.get("packet loss"), Some(&Value::Int(0)));
    // Shorter than one RTCP interval: the call so far is its one scored interval, so the
    // lowest and highest MOS are the average.
    let ssrc = query.get("SSRC").and_then(|s| s.get("4660")).unwrap();
    for which in ["lowest MOS", "highest MOS"] {
        let entry = ssrc.get(which).unwrap_or_else(|| panic!("{query:?}"));
        assert_eq!(entry.get("MOS").and_then(Value::as_int), Some(mos));
    }
    let heard_from = |tag: &str| {
        query.get("tags")?.get(tag)?.get("medias")?.as_list()?[0]
            .get("streams")?
            .as_list()?[0]
            .get("SSRC")
            .cloned()
    };
    let ssrcs = [heard_from("5147SIPpTag011"), heard_from("5152SIPpTag091")];
    assert!(
        ssrcs.contains(&Some(Value::Int(0x1234))) && ssrcs.contains(&None),
        "one side heard 0x1234, the other nothing: {query:?}"
    );
    assert!(query.get("totals").and_then(|t| t.get("RTP")).is_some());
    let stats = handle(&mut calls, b"d7:command10:statisticse");
    let current = stats
        .get("statistics")
        .and_then(|s| s.get("currentstatistics"))
        .unwrap();
    assert_eq!(current.get("sessionsown"), Some(&Value::Int(1)));
    assert_eq!(current.get("transcodedmedia"), Some(&Value::Int(0)));
    // As rtpengine (10.5, checked against the Debian daemon): a delete whose tags are not
    // the call's deletes nothing and says so in a warning; a failed branch's to-tag does not
    // end the answered call.
    let not_deleted = |reply: &Value| {
        reply.get("result").and_then(Value::as_str) == Some("ok")
            && reply.get("warning").and_then(Value::as_str)
                == Some("Call-ID not found or tags didn't match")
    };
    let wrong_from = handle(
        &mut calls,
        b"d7:command6:delete7:call-id16:1-5152@127.0.0.18:from-tag7:someonee",
    );
    assert!(not_deleted(&wrong_from), "{wrong_from:?}");
    let other_branch = handle(
        &mut calls,
        b"d7:command6:delete7:call-id16:1-5152@127.0.0.18:from-tag14:5152SIPpTag0916:to-tag7:branch2e",
    );
    assert!(not_deleted(&other_branch), "{other_branch:?}");
    assert_eq!(calls.len(), 1);
    let delete = handle(&mut calls, &s[6].body);
    assert_eq!(delete.get("result").and_then(Value::as_str), Some("ok"));
    assert!(delete.get("created").is_some() && delete.get("tags").is_some());
    assert!(calls.is_empty());
    // Again: nothing to delete, a warning; an error only when the delete says `fatal`.
    let again = handle(&mut calls, &s[6].body);
    assert!(not_deleted(&again), "{again:?}");
    let fatal = handle(
        &mut calls,
        b"d7:command6:delete7:call-id16:1-5152@127.0.0.15:flagsl5:fatalee",
    );
    assert_eq!(fatal.get("result").and_then(Value::as_str), Some("error"));
    assert_eq!(
        fatal.get("error-reason").and_then(Value::as_str),
        Some("Call-ID not found or tags didn't match")
    );
}

#[test]
fn kamailio_transcoding_call_offers_opus_and_answers_pcma() {
    let runtime = runtime(22150);
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST);
    let s = samples("transcode");
    assert_eq!(s.len(), 8);
    let offer = handle(&mut calls, &s[2].body);
    let port_b = audio_port(&sdp_of(&offer));
    // Byte for byte rtpengine's: only opus/48000/2 towards the callee.
    assert_eq!(
        String::from_utf8_lossy(&as_rtpengine(&offer.to_bytes(), port_b, 30000)),
        String::from_utf8_lossy(&s[3].body)
    );
    let answer = handle(&mut calls, &s[4].body);
    let sdp = sdp_of(&answer);
    let port_a = audio_port(&sdp);
    // Like rtpengine: PCMA towards the caller, ptime 20. Unlike it, Tandem keeps the
    // caller's telephone-event: the transcoder turns its digits into tones for the
    // opus-only callee, where rtpengine dropped it with the mask.
    assert_eq!(
        sdp,
        format!(
            "v=0\r\no=uas 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
             t=0 0\r\nm=audio {port_a} RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\na=sendrecv\r\n\
             a=rtcp:{}\r\na=ptime:20\r\n",
            port_a + 1
        )
    );
    let stats = handle(&mut calls, b"d7:command10:statisticse");
    let current = stats
        .get("statistics")
        .and_then(|s| s.get("currentstatistics"))
        .unwrap();
    assert_eq!(current.get("transcodedmedia"), Some(&Value::Int(1)));
    let delete = handle(&mut calls, &s[6].body);
    assert_eq!(delete.get("result").and_then(Value::as_str), Some("ok"));
    assert!(calls.is_empty());
}

/// `body` with its `sdp` changed by `edit`, re-encoded (lengths follow).
fn with_sdp(body: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let Value::Dict(mut entries) = decode(body).unwrap() else {
        panic!("not a dictionary")
    };
    for (key, value) in &mut entries {
        if key == b"sdp" {
            let sdp = String::from_utf8(value.as_bytes().unwrap().to_vec()).unwrap();
            *value = Value::str(&edit(&sdp));
        }
    }
    Value::Dict(entries).to_bytes()
}

/// `transcode: [opus/48000/2/32000]` sets the Opus bitrate of the callee's leg; without
/// a bitrate the configured `[opus]` settings apply.
#[test]
fn a_bitrate_in_the_transcode_codec_sets_the_opus_encoder() {
    let runtime = runtime(22000);
    let policy = MediaPolicy::default();
    let mut calls = Calls::new(Arc::clone(&runtime), policy, LOCALHOST);
    let s = samples("transcode");
    let offer =
        String::from_utf8_lossy(&s[2].body).replace("12:opus/48000/2", "18:opus/48000/2/32000");
    assert_eq!(
        handle(&mut calls, offer.as_bytes())
            .get("result")
            .and_then(Value::as_str),
        Some("ok")
    );
    handle(&mut calls, &s[4].body);
    let [caller, callee] = calls.legs("1-5244@127.0.0.1").expect("answered");
    assert_eq!(callee.encoder.opus.bitrate_bps, Some(32_000));
    assert_eq!(caller.encoder.opus, policy.opus.encoder);
    handle(&mut calls, &s[6].body);
    handle(&mut calls, &s[2].body);
    handle(&mut calls, &s[4].body);
    let [_, callee] = calls.legs("1-5244@127.0.0.1").expect("answered");
    assert_eq!(callee.encoder.opus, policy.opus.encoder);
}

#[test]
fn errors_are_replies_with_a_reason() {
    let runtime = runtime(22050);
    let mut calls = Calls::new(Arc::clone(&runtime), MediaPolicy::default(), LOCALHOST);
    let reason = |body: &[u8], calls: &mut Calls| {
        let reply = handle(calls, body);
        assert_eq!(
            reply.get("result").and_then(Value::as_str),
            Some("error"),
            "{reply:?}"
        );
        reply
            .get("error-reason")
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    };
    assert!(reason(b"d7:command4:pinge junk", &mut calls).contains("could not decode"));
    assert!(reason(b"le", &mut calls).contains("not a dictionary"));
    assert!(reason(b"d7:command5:hello", &mut calls).contains("could not decode"));
    assert!(reason(b"d7:command5:helloe", &mut calls).contains("unknown command"));
    assert!(
        reason(b"d7:command11:block media7:call-id1:xe", &mut calls).contains("Unknown call-ID")
    );
    assert_eq!(
        reason(b"d7:command15:start recording7:call-id1:xe", &mut calls),
        "Unknown call-ID"
    );
    assert!(
        reason(
            b"d7:command6:answer7:call-id1:x8:from-tag1:a3:sdp0:e",
            &mut calls
        )
        .contains("unparsable SDP")
    );
    // An SRTP offer is refused, not rewritten into something wrong.
    let sample = &samples("plain")[2].body;
    let srtp = with_sdp(sample, |sdp| sdp.replace("RTP/AVP", "RTP/SAVP"));
    assert!(reason(&srtp, &mut calls).contains("not supported"));
    let video_only = with_sdp(sample, |sdp| sdp.replace("m=audio", "m=video"));
    assert!(reason(&video_only, &mut calls).contains("no active RTP audio stream"));
    let ice =
        String::from_utf8_lossy(sample).replace("7:command5:offer", "3:ICE5:force7:command5:offer");
    assert!(reason(ice.as_bytes(), &mut calls).contains("ICE=force"));
    assert!(calls.is_empty());
    // play DTMF on a call: the digit goes to the other side.
    handle(&mut calls, sample);
    let answer = &samples("plain")[4].body;
    handle(&mut calls, answer);
    let played = handle(
        &mut calls,
        b"d7:command9:play DTMF7:call-id16:1-5152@127.0.0.18:from-tag14:5152SIPpTag0914:code1:5e",
    );
    assert_eq!(
        played.get("result").and_then(Value::as_str),
        Some("ok"),
        "{played:?}"
    );
    let list = handle(&mut calls, b"d7:command4:liste");
    assert_eq!(
        list.get("calls"),
        Some(&Value::List(vec![Value::str("1-5152@127.0.0.1")]))
    );
}
