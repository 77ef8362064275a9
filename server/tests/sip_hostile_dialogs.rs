//! Hostile SIP dialogs against `tandem run`: any interleaving, over three dialogs at once, of
//! INVITEs to echo, tone, a conference, nobody, a callee behind Tandem's gateway or a
//! registered user whose two contacts Tandem forks to (with
//! PCMU, Opus, G.722, no SDP, a codec Tandem lacks, a rejected stream or garbage SDP), ACKs
//! right and wrong, re-INVITEs, UPDATE, INFO, CANCEL, BYE with the right or a wrong tag,
//! OPTIONS, retransmissions, garbage datagrams and RTP into the calls; the callee answers at once or late, rings
//! first or not, refuses, picks a codec Tandem cannot use, or hangs up right after the ACK.
//! Whatever the order:
//!
//! - every request that needs an answer gets a well-formed final response, never a 500;
//! - an echo call set up beside them keeps echoing its RTP;
//! - once the test ends what it began (ACKs, CANCELs, BYEs, as a well-behaved UAC would), no
//!   media session is left (`/metrics`), and the shutdown line reports no call, dialog,
//!   media session, room or gateway call alive.
//!
//! It found two leaks, pinned by their own tests: a conference call's codec change left its
//! old leg in the room (`a_conference_codec_change_moves_the_call_to_one_new_leg`), and a
//! callee's 2xx crossing the caller's CANCEL kept the gateway call and its session (the
//! gateway's unit test `a_2xx_crossing_the_callers_cancel_is_hung_up_and_ends_the_call`).
//!
//! Ports: tests 45, 47, 48 and 49 (see `support`).

mod support;

use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tandem_test_support::cases::proptest_cases;
use tandem_test_support::settle::settle;

use support::{Ports, Tandem, assert_shutdown_clean, metrics};

/// How long a request may wait for its final response.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);
const SLOTS: usize = 3;

#[derive(Debug, Clone, Copy)]
enum Sdp {
    Pcmu,
    Opus,
    G722,
    None,
    Gsm,
    PortZero,
    Garbage,
}

impl Sdp {
    fn body(self, rtp_port: u16) -> String {
        let head = "v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n";
        match self {
            Sdp::Pcmu => format!(
                "{head}m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                 a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
            ),
            Sdp::Opus => {
                format!("{head}m=audio {rtp_port} RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n")
            }
            Sdp::G722 => format!("{head}m=audio {rtp_port} RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"),
            Sdp::None => String::new(),
            Sdp::Gsm => format!("{head}m=audio {rtp_port} RTP/AVP 3\r\na=rtpmap:3 GSM/8000\r\n"),
            Sdp::PortZero => format!("{head}m=audio 0 RTP/AVP 0\r\n"),
            Sdp::Garbage => "v=0\r\nm=audio x RTP/AVP\r\nc=IN\r\n".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    /// A new INVITE in an idle slot, a re-INVITE in a confirmed one; waiting for its final
    /// response or not (then a CANCEL may cross it).
    Invite {
        slot: usize,
        user: usize,
        sdp: Sdp,
        wait: bool,
    },
    /// ACK of the slot's last INVITE: right, or with a wrong CSeq.
    Ack {
        slot: usize,
        right: bool,
    },
    Bye {
        slot: usize,
        right_tag: bool,
    },
    Cancel {
        slot: usize,
    },
    Info {
        slot: usize,
    },
    Update {
        slot: usize,
        sdp: Sdp,
    },
    Options {
        slot: usize,
        in_dialog: bool,
    },
    /// The last request sent, again, byte for byte.
    Retransmit,
    Garbage(u8),
    Pause(u8),
    /// A few RTP packets to Tandem's media port of the slot's dialog (from its last answer).
    Rtp {
        slot: usize,
    },
}

/// Who an INVITE calls: Tandem's own services, nobody, and (where the test configures them)
/// a callee behind Tandem's gateway and a registered user with two contacts.
const USERS: [&str; 6] = [
    "echo",
    "tone",
    "conf-hostile",
    "nobody",
    "gw-callee",
    "alice",
];
const GATEWAY: usize = 4;
const ALICE: usize = 5;

fn sdp() -> impl Strategy<Value = Sdp> {
    prop_oneof![
        4 => Just(Sdp::Pcmu),
        2 => Just(Sdp::Opus),
        1 => Just(Sdp::G722),
        2 => Just(Sdp::None),
        1 => Just(Sdp::Gsm),
        1 => Just(Sdp::PortZero),
        1 => Just(Sdp::Garbage),
    ]
}

/// An action; with `focus`, most INVITEs call that user.
fn action(focus: Option<usize>) -> impl Strategy<Value = Action> {
    let slot = 0..SLOTS;
    let user = match focus {
        Some(user) => prop_oneof![4 => Just(user), 1 => 0..GATEWAY].boxed(),
        None => (0..USERS.len()).boxed(),
    };
    prop_oneof![
        5 => (slot.clone(), user, sdp(), prop::bool::weighted(0.7))
            .prop_map(|(slot, user, sdp, wait)| Action::Invite { slot, user, sdp, wait }),
        4 => (slot.clone(), prop::bool::weighted(0.8)).prop_map(|(slot, right)| Action::Ack { slot, right }),
        2 => (slot.clone(), prop::bool::weighted(0.8)).prop_map(|(slot, right_tag)| Action::Bye { slot, right_tag }),
        1 => slot.clone().prop_map(|slot| Action::Cancel { slot }),
        1 => slot.clone().prop_map(|slot| Action::Info { slot }),
        1 => (slot.clone(), sdp()).prop_map(|(slot, sdp)| Action::Update { slot, sdp }),
        1 => (slot, any::<bool>()).prop_map(|(slot, in_dialog)| Action::Options { slot, in_dialog }),
        1 => Just(Action::Retransmit),
        1 => any::<u8>().prop_map(Action::Garbage),
        1 => (0u8..80).prop_map(Action::Pause),
        2 => (0..SLOTS).prop_map(|slot| Action::Rtp { slot }),
    ]
}

/// One dialog slot of the UAC.
#[derive(Debug, Default)]
struct Dialog {
    /// Who the dialog is with (`echo`, `tone`, ...): the request URI's user.
    user: &'static str,
    call_id: String,
    from_tag: String,
    /// Tandem's tag, from its first response that carried one.
    to_tag: Option<String>,
    cseq: u32,
    /// The CSeq and branch of the last INVITE, and whether it has had a final response.
    invite: Option<(u32, String)>,
    invite_final: Option<u16>,
    /// The last INVITE carried an offer (else the answer goes in the ACK).
    invite_had_sdp: bool,
    /// A 2xx to the INVITE not yet acknowledged.
    unacked_2xx: bool,
    /// The dialog was established (a 2xx) and not ended.
    confirmed: bool,
    /// Tandem's media port, from the SDP of its last 18x or 2xx.
    media: Option<u16>,
}

/// A raw SIP UAC on one UDP socket.
struct Uac {
    socket: UdpSocket,
    /// Where the dialogs' RTP comes from.
    rtp: UdpSocket,
    rtp_seq: u16,
    server: SocketAddr,
    slots: Vec<Dialog>,
    last_sent: Option<String>,
    generation: u64,
    branch: u64,
}

/// A header's value.
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn tag_of(value: &str) -> Option<String> {
    value
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .map(str::to_owned)
}

impl Uac {
    fn new(server: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        Self {
            socket,
            rtp: UdpSocket::bind("127.0.0.1:0").unwrap(),
            rtp_seq: 0,
            server,
            slots: (0..SLOTS).map(|_| Dialog::default()).collect(),
            last_sent: None,
            generation: 0,
            branch: 0,
        }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    fn next_branch(&mut self) -> String {
        self.branch += 1;
        format!("z9hG4bK-h{}-{}", self.port(), self.branch)
    }

    fn send(&mut self, message: String) {
        self.socket
            .send_to(message.as_bytes(), self.server)
            .unwrap();
        self.last_sent = Some(message);
    }

    /// A request in slot `slot`'s dialog (or to start it) with `cseq` and `branch`.
    fn request(
        &self,
        method: &str,
        slot: usize,
        cseq: u32,
        branch: &str,
        to_tag: Option<&str>,
        body: &str,
    ) -> String {
        let d = &self.slots[slot];
        let user = d.user;
        let port = self.port();
        let server = self.server;
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let content_type = if body.is_empty() {
            ""
        } else if method == "INFO" {
            "Content-Type: application/dtmf-relay\r\n"
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} sip:{user}@{server} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:hostile@127.0.0.1:{port}>;tag={}\r\n\
             To: <sip:{user}@{server}>{to_tag}\r\n\
             Call-ID: {}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:hostile@127.0.0.1:{port}>\r\n\
             {content_type}Content-Length: {}\r\n\r\n{body}",
            d.from_tag,
            d.call_id,
            body.len()
        )
    }

    /// Reads what arrives until the final response to (`call_id`, `cseq`, `method`) or
    /// `ANSWER_WITHIN`; returns its status code. Answers Tandem's own requests with 200,
    /// acknowledges non-2xx finals to INVITEs, and keeps the slots' tags and states.
    fn await_final(&mut self, call_id: &str, cseq: u32, method: &str) -> Result<u16, String> {
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            let Some(message) = self.receive() else {
                continue;
            };
            let Some(code) = self.absorb(&message) else {
                continue;
            };
            seen.push(code);
            let cseq_line = header(&message, "CSeq").unwrap_or("");
            if header(&message, "Call-ID") == Some(call_id)
                && cseq_line == format!("{cseq} {method}")
                && code >= 200
            {
                return Ok(code);
            }
        }
        Err(format!(
            "no final response to {method} (CSeq {cseq}, {call_id}) within {ANSWER_WITHIN:?}; saw {seen:?}"
        ))
    }

    fn receive(&self) -> Option<String> {
        let mut buf = [0u8; 65_536];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    /// Takes in one message from Tandem; returns the status code of a response.
    fn absorb(&mut self, message: &str) -> Option<u16> {
        let first = message.lines().next().unwrap_or("");
        let Some(status) = first.strip_prefix("SIP/2.0 ") else {
            // A request from Tandem (a BYE at the end of a call): 200, as a peer would.
            self.answer_request(message);
            return None;
        };
        let code: u16 = status.get(..3)?.parse().ok()?;
        assert_ne!(code, 500, "Tandem answered 500:\n{message}");
        self.track_invite(message, code);
        Some(code)
    }

    /// Keeps a slot's INVITE state from a response to it.
    fn track_invite(&mut self, message: &str, code: u16) -> Option<()> {
        let call_id = header(message, "Call-ID")?.to_owned();
        let (cseq, method) = header(message, "CSeq")?.split_once(' ')?;
        let cseq: u32 = cseq.parse().ok()?;
        let to_tag = header(message, "To").and_then(tag_of);
        let slot = self.slots.iter().position(|d| d.call_id == call_id)?;
        let d = &mut self.slots[slot];
        if method != "INVITE" || d.invite.as_ref().map(|(c, _)| *c) != Some(cseq) {
            return Some(());
        }
        if code >= 200 && d.invite_final.is_none() {
            d.invite_final = Some(code);
        }
        if (101..300).contains(&code) && d.to_tag.is_none() {
            d.to_tag = to_tag.clone();
        }
        let media_port = message
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split(' ').next())
            .and_then(|p| p.parse().ok());
        if let Some(port) = media_port.filter(|_| (101..300).contains(&code)) {
            d.media = Some(port);
        }
        if (200..300).contains(&code) {
            d.unacked_2xx = true;
            d.confirmed = true;
        } else if code >= 300 {
            // Hop-by-hop ACK of a refusal: same branch, Tandem's tag.
            let branch = d
                .invite
                .as_ref()
                .map(|(_, b)| b.clone())
                .unwrap_or_default();
            let ack = self.request("ACK", slot, cseq, &branch, to_tag.as_deref(), "");
            self.socket.send_to(ack.as_bytes(), self.server).unwrap();
        }
        Some(())
    }

    /// 200 OK to a request from Tandem.
    fn answer_request(&self, request: &str) {
        let copy = |name: &str| {
            header(request, name)
                .map(|v| format!("{name}: {v}\r\n"))
                .unwrap_or_default()
        };
        let ok = format!(
            "SIP/2.0 200 OK\r\n{}{}{}{}{}Content-Length: 0\r\n\r\n",
            copy("Via"),
            copy("From"),
            copy("To"),
            copy("Call-ID"),
            copy("CSeq")
        );
        self.socket.send_to(ok.as_bytes(), self.server).unwrap();
    }

    /// Starts a fresh dialog in `slot`.
    fn fresh(&mut self, slot: usize) {
        self.generation += 1;
        let port = self.port();
        self.slots[slot] = Dialog {
            call_id: format!("hostile-{port}-{}-{slot}", self.generation),
            from_tag: format!("h{}", self.generation),
            cseq: 1,
            ..Dialog::default()
        };
    }

    /// Sends `method` in `slot`'s dialog and waits for its final response.
    fn in_dialog(
        &mut self,
        method: &str,
        slot: usize,
        tag: Option<String>,
        body: &str,
    ) -> Result<(), String> {
        self.slots[slot].cseq += 1;
        let (cseq, call_id) = (self.slots[slot].cseq, self.slots[slot].call_id.clone());
        let branch = self.next_branch();
        let message = self.request(method, slot, cseq, &branch, tag.as_deref(), body);
        if method == "INVITE" {
            let d = &mut self.slots[slot];
            d.invite = Some((cseq, branch));
            d.invite_final = None;
            d.invite_had_sdp = !body.is_empty();
        }
        self.send(message);
        self.await_final(&call_id, cseq, method).map(drop)
    }

    fn act(&mut self, action: Action, rtp_port: u16) -> Result<(), String> {
        match action {
            Action::Invite {
                slot,
                user,
                sdp,
                wait,
            } => {
                let d = &self.slots[slot];
                let body = sdp.body(rtp_port);
                if d.invite.is_some() && d.invite_final.is_none() {
                    return Ok(()); // an INVITE in progress here: leave it
                }
                if d.confirmed && !d.unacked_2xx {
                    let tag = d.to_tag.clone();
                    return self.in_dialog("INVITE", slot, tag, &body);
                }
                if d.confirmed || d.unacked_2xx {
                    return Ok(());
                }
                self.fresh(slot);
                let branch = self.next_branch();
                self.slots[slot].user = USERS[user];
                let message = self.request("INVITE", slot, 1, &branch, None, &body);
                let d = &mut self.slots[slot];
                d.invite = Some((1, branch));
                d.invite_had_sdp = !body.is_empty();
                let call_id = d.call_id.clone();
                self.send(message);
                if wait {
                    self.await_final(&call_id, 1, "INVITE")?;
                }
                Ok(())
            }
            Action::Ack { slot, right } => {
                let d = &self.slots[slot];
                let Some((cseq, _)) = d.invite.clone() else {
                    return Ok(());
                };
                if !d.unacked_2xx {
                    return Ok(());
                }
                let cseq = if right { cseq } else { cseq + 7 };
                let tag = d.to_tag.clone();
                // The answer of a late offer goes in the ACK.
                let body = if d.invite_had_sdp {
                    String::new()
                } else {
                    Sdp::Pcmu.body(rtp_port)
                };
                let branch = self.next_branch();
                let message = self.request("ACK", slot, cseq, &branch, tag.as_deref(), &body);
                if right {
                    self.slots[slot].unacked_2xx = false;
                }
                self.send(message);
                Ok(())
            }
            Action::Bye { slot, right_tag } => {
                let d = &self.slots[slot];
                let pending = d.invite.is_some() && d.invite_final.is_none();
                if (!d.confirmed && right_tag) || d.call_id.is_empty() || pending {
                    return Ok(());
                }
                let tag = if right_tag {
                    d.to_tag.clone()
                } else {
                    Some("not-tandems".to_owned())
                };
                let result = self.in_dialog("BYE", slot, tag, "");
                if right_tag {
                    let d = &mut self.slots[slot];
                    d.confirmed = false;
                    d.unacked_2xx = false;
                }
                result
            }
            Action::Cancel { slot } => {
                let d = &self.slots[slot];
                let Some((cseq, branch)) = d.invite.clone() else {
                    return Ok(());
                };
                if d.invite_final.is_some() {
                    return Ok(());
                }
                let call_id = d.call_id.clone();
                let message = self.request("CANCEL", slot, cseq, &branch, None, "");
                self.send(message);
                self.await_final(&call_id, cseq, "CANCEL")?;
                // The INVITE's own final response (487, or a 2xx that crossed the CANCEL).
                if self.slots[slot].invite_final.is_none() {
                    self.await_final(&call_id, cseq, "INVITE")?;
                }
                Ok(())
            }
            Action::Info { slot } => {
                let d = &self.slots[slot];
                if !d.confirmed {
                    return Ok(());
                }
                let tag = d.to_tag.clone();
                self.in_dialog("INFO", slot, tag, "Signal=5\r\nDuration=160\r\n")
            }
            Action::Update { slot, sdp } => {
                let d = &self.slots[slot];
                if d.call_id.is_empty() || (d.invite.is_some() && d.invite_final.is_none()) {
                    return Ok(());
                }
                let tag = d.to_tag.clone();
                self.in_dialog("UPDATE", slot, tag, &sdp.body(rtp_port))
            }
            Action::Options { slot, in_dialog } => {
                if in_dialog && self.slots[slot].confirmed {
                    let tag = self.slots[slot].to_tag.clone();
                    return self.in_dialog("OPTIONS", slot, tag, "");
                }
                let port = self.port();
                self.generation += 1;
                let call_id = format!("hostile-options-{port}-{}", self.generation);
                let branch = self.next_branch();
                let message = format!(
                    "OPTIONS sip:{} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch={branch}\r\n\
                     Max-Forwards: 70\r\nFrom: <sip:hostile@127.0.0.1>;tag=o\r\nTo: <sip:{}>\r\n\
                     Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                    self.server, self.server
                );
                self.send(message);
                // Out-of-dialog responses are not matched to a slot: read until the 200.
                let deadline = Instant::now() + ANSWER_WITHIN;
                while Instant::now() < deadline {
                    if let Some(m) = self.receive() {
                        let code = self.absorb(&m);
                        if header(&m, "Call-ID") == Some(call_id.as_str()) && code.is_some() {
                            return Ok(());
                        }
                    }
                }
                Err("no answer to OPTIONS".to_owned())
            }
            Action::Retransmit => {
                if let Some(last) = self.last_sent.clone() {
                    self.socket.send_to(last.as_bytes(), self.server).unwrap();
                }
                self.settle(Duration::from_millis(20));
                Ok(())
            }
            Action::Garbage(seed) => {
                let junk: Vec<u8> = (0..(seed as usize % 300))
                    .map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed))
                    .collect();
                let mut message = b"INVITE sip:echo@x SIP/2.0\r\nVia: ".to_vec();
                message.extend_from_slice(&junk);
                self.socket.send_to(&message, self.server).unwrap();
                Ok(())
            }
            Action::Pause(ms) => {
                self.settle(Duration::from_millis(u64::from(ms)));
                Ok(())
            }
            Action::Rtp { slot } => {
                let Some(port) = self.slots[slot].media.filter(|&p| p != 0) else {
                    return Ok(());
                };
                for _ in 0..3 {
                    let mut packet = vec![0x80, 0];
                    packet.extend_from_slice(&self.rtp_seq.to_be_bytes());
                    packet.extend_from_slice(&(u32::from(self.rtp_seq) * 160).to_be_bytes());
                    packet.extend_from_slice(&0x5151_u32.to_be_bytes());
                    packet.extend_from_slice(&[0xD5; 160]);
                    self.rtp_seq = self.rtp_seq.wrapping_add(1);
                    let _ = self.rtp.send_to(&packet, ("127.0.0.1", port));
                }
                Ok(())
            }
        }
    }

    /// Reads and absorbs whatever arrives for `wait`.
    fn settle(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(m) = self.receive() {
                self.absorb(&m);
            }
        }
    }

    /// Ends everything begun, as a well-behaved UAC: ACKs what is unacknowledged, cancels
    /// what is pending, says BYE to what is up.
    fn tear_down(&mut self, rtp_port: u16) -> Result<(), String> {
        self.settle(Duration::from_millis(50));
        for slot in 0..SLOTS {
            if self.slots[slot].invite.is_some() && self.slots[slot].invite_final.is_none() {
                self.act(Action::Cancel { slot }, rtp_port)?;
            }
            if self.slots[slot].unacked_2xx {
                self.act(Action::Ack { slot, right: true }, rtp_port)?;
            }
            if self.slots[slot].confirmed {
                self.act(
                    Action::Bye {
                        slot,
                        right_tag: true,
                    },
                    rtp_port,
                )?;
            }
            self.slots[slot] = Dialog::default();
        }
        self.settle(Duration::from_millis(50));
        Ok(())
    }
}

/// The bystanding echo call: set up once, checked after every case.
struct Bystander {
    rtp: UdpSocket,
    tandem_rtp: SocketAddr,
    seq: u16,
}

impl Bystander {
    fn call(ports: &Ports) -> (Self, Uac) {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        rtp.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut uac = Uac::new(ports.sip_addr());
        uac.fresh(0);
        let body = Sdp::Pcmu.body(rtp.local_addr().unwrap().port());
        let branch = uac.next_branch();
        uac.slots[0].user = "echo";
        let invite = uac.request("INVITE", 0, 1, &branch, None, &body);
        uac.slots[0].invite = Some((1, branch));
        uac.socket.send_to(invite.as_bytes(), uac.server).unwrap();
        // Read the 200 to learn Tandem's media port.
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut answer = None;
        while answer.is_none() && Instant::now() < deadline {
            if let Some(m) = uac.receive() {
                if m.starts_with("SIP/2.0 200") {
                    answer = Some(m.clone());
                }
                uac.absorb(&m);
            }
        }
        let answer = answer.expect("the echo call is answered");
        let port: u16 = answer
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("an audio port in the answer");
        uac.act(
            Action::Ack {
                slot: 0,
                right: true,
            },
            0,
        )
        .unwrap();
        let bystander = Self {
            rtp,
            tandem_rtp: SocketAddr::from(([127, 0, 0, 1], port)),
            seq: 0,
        };
        (bystander, uac)
    }

    /// Sends five packets; returns how many came back.
    fn echoes(&mut self) -> usize {
        for _ in 0..5 {
            let mut packet = vec![0x80, 0];
            packet.extend_from_slice(&self.seq.to_be_bytes());
            packet.extend_from_slice(&(u32::from(self.seq) * 160).to_be_bytes());
            packet.extend_from_slice(&0xB1u32.to_be_bytes());
            packet.extend_from_slice(&[0x55; 160]);
            self.rtp.send_to(&packet, self.tandem_rtp).unwrap();
            self.seq = self.seq.wrapping_add(1);
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut buf = [0u8; 2048];
        let mut back = 0;
        let deadline = Instant::now() + Duration::from_secs(2);
        while back < 5 && Instant::now() < deadline {
            if self.rtp.recv(&mut buf).is_ok_and(|n| n == 172) {
                back += 1;
            }
        }
        back
    }
}

/// A UDP port nobody is bound to now.
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The media sessions on Tandem's workers.
fn sessions(api: SocketAddr) -> f64 {
    metrics::total(&metrics::scrape(api), "tandem_worker_sessions")
}

/// [`sessions`] once `settled` holds for it, or after 2 s (a session ends on its worker a
/// moment after the BYE is answered).
fn sessions_when(api: SocketAddr, settled: impl Fn(f64) -> bool) -> f64 {
    settle(Duration::from_secs(2), || sessions(api), |n| settled(*n))
}

#[test]
fn hostile_sip_dialogs_leave_nothing_behind() {
    let ports = Ports::for_test(47);
    let tandem = Tandem::start(&ports.run_args());
    attack(&ports, tandem, 12, None, &["gateway_calls_live=0"]);
}

/// The same through Tandem's gateway: `gw-callee` is routed to a callee that answers at once
/// or late, rings first or not, refuses, or hangs up right after the ACK, as the case says.
#[test]
fn hostile_sip_dialogs_through_the_gateway_leave_nothing_behind() {
    let ports = Ports::for_test(49);
    let callee = Callee::spawn(&BEHAVIOURS);
    let dir = support::scratch("hostile-gateway");
    let tandem =
        support::start_with_route(&ports, &dir, "^sip:gw-", callee.port, &["PCMU", "opus"]);
    attack(&ports, tandem, 24, Some(GATEWAY), &["gateway_calls_live=0"]);
    let refused = callee.stop();
    assert!(
        refused.is_empty(),
        "the callee saw requests it could not place: {refused:?}"
    );
}

/// The same to `alice`, registered with two contacts: Tandem forks each call to both
/// callees, which behave differently (one may answer while the other rings, refuses, or
/// answers too late).
#[test]
fn hostile_sip_dialogs_to_a_forked_user_leave_nothing_behind() {
    support::assert_sipp_and_tshark();
    let ports = Ports::for_test(45);
    let dir = support::scratch("hostile-fork");
    let tandem = support::start_with_alice(&ports, &dir);
    static OTHERS: [Behaviour; 4] = [
        Behaviour::Answer {
            ring: true,
            delay_ms: 100,
            sdp: Sdp::Pcmu,
        },
        Behaviour::Refuse {
            delay_ms: 50,
            code: 486,
        },
        Behaviour::Answer {
            ring: true,
            delay_ms: 2000,
            sdp: Sdp::Pcmu,
        },
        Behaviour::Answer {
            ring: false,
            delay_ms: 0,
            sdp: Sdp::Pcmu,
        },
    ];
    let callees = [Callee::spawn(&BEHAVIOURS), Callee::spawn(&OTHERS)];
    for callee in &callees {
        // sipp registers from a port of its own, binding the callee's as the contact.
        let (sip, media) = (free_udp_port(), free_udp_port());
        let server = ports.sip_addr().to_string();
        support::register_alice(&tandem, &server, sip, media, callee.port);
    }
    attack(&ports, tandem, 24, Some(ALICE), &["gateway_calls_live=0"]);
    for callee in callees {
        let refused = callee.stop();
        assert!(
            refused.is_empty(),
            "a callee saw requests it could not place: {refused:?}"
        );
    }
}

/// Runs `cases` random cases of hostile dialogs against `tandem` (most calling `focus`
/// when given), checking each (see the module docs), then stops it and checks its shutdown
/// line for `zeros` too.
fn attack(ports: &Ports, tandem: Tandem, cases: u32, focus: Option<usize>, zeros: &[&str]) {
    let api = SocketAddr::from(([127, 0, 0, 1], ports.api));
    let (mut bystander, mut bystander_uac) = Bystander::call(ports);
    assert_eq!(
        bystander.echoes(),
        5,
        "the echo call works before the attack"
    );

    let uac = RefCell::new(Uac::new(ports.sip_addr()));
    let bystander_cell = RefCell::new(&mut bystander);
    let rtp_sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp_port = rtp_sink.local_addr().unwrap().port();
    let mut runner = TestRunner::new(Config {
        cases: proptest_cases(cases),
        ..Config::default()
    });
    runner
        .run(&prop::collection::vec(action(focus), 1..24), |actions| {
            let mut uac = uac.borrow_mut();
            let before = sessions(api);
            for action in &actions {
                uac.act(*action, rtp_port)
                    .map_err(|e| TestCaseError::fail(format!("{action:?}: {e}")))?;
            }
            uac.tear_down(rtp_port)
                .map_err(|e| TestCaseError::fail(format!("tear-down: {e}")))?;
            let after = sessions_when(api, |n| n <= before);
            prop_assert!(
                after <= before,
                "media sessions {before} before, {after} after"
            );
            let echoed = bystander_cell.borrow_mut().echoes();
            prop_assert_eq!(echoed, 5, "the bystanding echo call after {:?}", actions);
            Ok(())
        })
        .unwrap();

    bystander_uac.tear_down(0).unwrap();
    let text = metrics::scrape_when_idle(api, Duration::from_secs(5));
    assert_eq!(metrics::total(&text, "tandem_calls"), 0.0, "{text}");
    assert_eq!(
        metrics::total(&text, "tandem_worker_sessions"),
        0.0,
        "{text}"
    );
    let (status, stderr) = tandem.terminate();
    assert!(status.success(), "{status:?}\n{stderr}");
    let mut all = vec![
        "calls_live=0",
        "dialogs_live=0",
        "sessions_live=0",
        "rooms_live=0",
    ];
    all.extend_from_slice(zeros);
    assert_shutdown_clean(&stderr, &all);
}

/// What the callee behind the gateway does with an INVITE.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// 180 first or not, then 200 with `sdp` after `delay_ms`.
    Answer { ring: bool, delay_ms: u64, sdp: Sdp },
    /// A refusal after `delay_ms`.
    Refuse { delay_ms: u64, code: u16 },
    /// 200 at once, then BYE `after_ms` after the ACK.
    AnswerThenHangUp { after_ms: u64 },
}

/// The behaviours the callee cycles through, one per INVITE (a fixed cycle: each case's
/// callers meet all of them over the run).
const BEHAVIOURS: [Behaviour; 7] = [
    Behaviour::Answer {
        ring: false,
        delay_ms: 0,
        sdp: Sdp::Pcmu,
    },
    Behaviour::Answer {
        ring: true,
        delay_ms: 150,
        sdp: Sdp::Opus,
    },
    Behaviour::Refuse {
        delay_ms: 0,
        code: 486,
    },
    Behaviour::AnswerThenHangUp { after_ms: 30 },
    Behaviour::Answer {
        ring: true,
        delay_ms: 400,
        sdp: Sdp::Pcmu,
    },
    Behaviour::Refuse {
        delay_ms: 200,
        code: 603,
    },
    Behaviour::Answer {
        ring: false,
        delay_ms: 50,
        sdp: Sdp::Gsm,
    },
];

/// One INVITE the callee is handling.
struct Incoming {
    invite: String,
    tag: String,
    behaviour: Behaviour,
    /// When the final response is due, until it is sent.
    final_at: Option<Instant>,
    /// The final response sent (for retransmitted INVITEs).
    final_sent: Option<String>,
    /// When to hang up (after the ACK of an `AnswerThenHangUp`).
    bye_at: Option<Instant>,
}

/// A callee UAS on its own thread; see [`Behaviour`].
struct Callee {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Callee {
    fn spawn(behaviours: &'static [Behaviour]) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let port = socket.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || callee_loop(&socket, behaviours, &stopping));
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread; returns the requests it could not place in any call.
    fn stop(mut self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default()
    }
}

/// A response to `request` with `code`, our `tag` on the To header, and `body`.
fn response_to(request: &str, code: u16, tag: &str, port: u16, body: &str) -> String {
    let reason = match code {
        180 => "Ringing",
        200 => "OK",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        603 => "Decline",
        _ => "Whatever",
    };
    let head = request.split("\r\n\r\n").next().unwrap_or("");
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for line in head.lines().skip(1) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "v" | "from" | "f" | "call-id" | "i" | "cseq" => {
                out.push_str(line);
                out.push_str("\r\n");
            }
            "to" | "t" => {
                out.push_str(line);
                if tag_of(line).is_none() && !tag.is_empty() {
                    out.push_str(&format!(";tag={tag}"));
                }
                out.push_str("\r\n");
            }
            _ => {}
        }
    }
    out.push_str(&format!("Contact: <sip:callee@127.0.0.1:{port}>\r\n"));
    if !body.is_empty() {
        out.push_str("Content-Type: application/sdp\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}

/// The callee's loop: answers as the behaviours say until `stop`; returns the requests it
/// could not place.
fn callee_loop(
    socket: &UdpSocket,
    behaviours: &[Behaviour],
    stop: &std::sync::atomic::AtomicBool,
) -> Vec<String> {
    let port = socket.local_addr().unwrap().port();
    let mut calls: std::collections::HashMap<String, Incoming> = std::collections::HashMap::new();
    let mut next = 0usize;
    let mut strays = Vec::new();
    let mut buf = [0u8; 65_536];
    let mut tandem: Option<SocketAddr> = None;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            tandem = Some(from);
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            let reply = |text: String| {
                socket.send_to(text.as_bytes(), from).unwrap();
            };
            let method = message.split(' ').next().unwrap_or("").to_owned();
            let call_id = header(&message, "Call-ID").unwrap_or("").to_owned();
            match method.as_str() {
                "SIP/2.0" => {} // a response to our BYE
                "INVITE" => match calls.get(&call_id) {
                    Some(call) if header(&message, "To").and_then(tag_of).is_some() => {
                        // A re-INVITE (a session refresh): our SDP again.
                        let _ = call;
                        reply(response_to(
                            &message,
                            200,
                            "",
                            port,
                            &Sdp::Pcmu.body(port + 1),
                        ));
                    }
                    Some(call) => {
                        if let Some(last) = &call.final_sent {
                            reply(last.clone()); // a retransmission
                        }
                    }
                    None => {
                        let behaviour = behaviours[next % behaviours.len()];
                        next += 1;
                        let tag = format!("callee-{next}");
                        let delay = match behaviour {
                            Behaviour::Answer { ring, delay_ms, .. } => {
                                if ring {
                                    reply(response_to(&message, 180, &tag, port, ""));
                                }
                                delay_ms
                            }
                            Behaviour::Refuse { delay_ms, .. } => delay_ms,
                            Behaviour::AnswerThenHangUp { .. } => 0,
                        };
                        calls.insert(
                            call_id,
                            Incoming {
                                invite: message.clone(),
                                tag,
                                behaviour,
                                final_at: Some(Instant::now() + Duration::from_millis(delay)),
                                final_sent: None,
                                bye_at: None,
                            },
                        );
                    }
                },
                "CANCEL" => match calls.get_mut(&call_id) {
                    Some(call) => {
                        reply(response_to(&message, 200, &call.tag, port, ""));
                        if call.final_sent.is_none() {
                            let terminated = response_to(&call.invite, 487, &call.tag, port, "");
                            reply(terminated.clone());
                            call.final_sent = Some(terminated);
                            call.final_at = None;
                        }
                    }
                    None => reply(response_to(&message, 481, "", port, "")),
                },
                "ACK" => {
                    if let Some(call) = calls.get_mut(&call_id) {
                        if let Behaviour::AnswerThenHangUp { after_ms } = call.behaviour {
                            if call.bye_at.is_none() && call.final_sent.is_some() {
                                call.bye_at =
                                    Some(Instant::now() + Duration::from_millis(after_ms));
                            }
                        }
                    }
                }
                "" => {}
                _ => {
                    // BYE, OPTIONS, INFO, UPDATE...: 200 in a known call, else 481.
                    if calls.contains_key(&call_id) {
                        let body = if method == "UPDATE" && message.contains("\r\n\r\nv=0") {
                            Sdp::Pcmu.body(port + 1)
                        } else {
                            String::new()
                        };
                        reply(response_to(&message, 200, "", port, &body));
                        if method == "BYE" {
                            calls.remove(&call_id);
                        }
                    } else {
                        reply(response_to(&message, 481, "", port, ""));
                        strays.push(message.lines().next().unwrap_or("").to_owned());
                    }
                }
            }
        }
        let Some(tandem) = tandem else { continue };
        let now = Instant::now();
        for call in calls.values_mut() {
            if call.final_at.is_some_and(|at| at <= now) {
                call.final_at = None;
                let response = match call.behaviour {
                    Behaviour::Answer { sdp, .. } => {
                        response_to(&call.invite, 200, &call.tag, port, &sdp.body(port + 1))
                    }
                    Behaviour::Refuse { code, .. } => {
                        response_to(&call.invite, code, &call.tag, port, "")
                    }
                    Behaviour::AnswerThenHangUp { .. } => response_to(
                        &call.invite,
                        200,
                        &call.tag,
                        port,
                        &Sdp::Pcmu.body(port + 1),
                    ),
                };
                socket.send_to(response.as_bytes(), tandem).unwrap();
                call.final_sent = Some(response);
            }
            if call.bye_at.is_some_and(|at| at <= now) {
                call.bye_at = None;
                let bye = bye_from_callee(&call.invite, &call.tag, port);
                socket.send_to(bye.as_bytes(), tandem).unwrap();
            }
        }
    }
    strays
}

/// The callee's BYE in the dialog `invite` set up: to Tandem's Contact, From and To swapped.
fn bye_from_callee(invite: &str, tag: &str, port: u16) -> String {
    let contact = header(invite, "Contact")
        .and_then(|c| c.split('<').nth(1))
        .and_then(|c| c.split('>').next())
        .unwrap_or("sip:127.0.0.1");
    let from = header(invite, "From").unwrap_or("");
    let to = header(invite, "To").unwrap_or("");
    let call_id = header(invite, "Call-ID").unwrap_or("");
    format!(
        "BYE {contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-bye-{tag}\r\n\
         Max-Forwards: 70\r\nFrom: {to};tag={tag}\r\nTo: {from}\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The media legs on Tandem's workers once `settled` holds for them, or after 2 s.
fn legs_when(api: SocketAddr, settled: impl Fn(f64) -> bool) -> f64 {
    let legs = || metrics::total(&metrics::scrape(api), "tandem_legs");
    settle(Duration::from_secs(2), legs, |n| settled(*n))
}

/// Found by the hostile dialogs: a conference call that changes its codec gets a new leg in
/// its room, and the old leg used to stay there (sending the room's audio to the caller's
/// old port and keeping the room alive after the call ended).
#[test]
fn a_conference_codec_change_moves_the_call_to_one_new_leg() {
    let ports = Ports::for_test(48);
    let tandem = Tandem::start(&ports.run_args());
    let api = SocketAddr::from(([127, 0, 0, 1], ports.api));
    let mut uac = Uac::new(ports.sip_addr());
    let rtp_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let invite = |sdp| Action::Invite {
        slot: 0,
        user: 2, // conf-hostile
        sdp,
        wait: true,
    };
    let ack = Action::Ack {
        slot: 0,
        right: true,
    };
    for change in ["re-INVITE", "UPDATE"] {
        uac.act(invite(Sdp::Opus), rtp_port).unwrap();
        uac.act(ack, rtp_port).unwrap();
        assert_eq!(legs_when(api, |n| n == 1.0), 1.0, "{change}: joined");
        if change == "UPDATE" {
            let update = Action::Update {
                slot: 0,
                sdp: Sdp::Pcmu,
            };
            uac.act(update, rtp_port).unwrap();
        } else {
            uac.act(invite(Sdp::Pcmu), rtp_port).unwrap();
            uac.act(ack, rtp_port).unwrap();
        }
        assert_eq!(
            legs_when(api, |n| n == 1.0),
            1.0,
            "{change}: one leg after the change"
        );
        uac.tear_down(rtp_port).unwrap();
        assert_eq!(
            legs_when(api, |n| n == 0.0),
            0.0,
            "{change}: no leg after BYE"
        );
        assert_eq!(
            sessions_when(api, |n| n == 0.0),
            0.0,
            "{change}: the room is gone"
        );
    }
    let (status, stderr) = tandem.terminate();
    assert!(status.success(), "{status:?}\n{stderr}");
    assert_shutdown_clean(
        &stderr,
        &["calls_live=0", "sessions_live=0", "rooms_live=0"],
    );
}
