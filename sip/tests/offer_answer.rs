//! RFC 3264 offer/answer against what real peers send and the RFC 4317 examples.
//!
//! Golden files live in `tests/vectors/offer_answer/` (provenance in its README): for each
//! case Tandem answers, `<case>.offer.sdp` is the peer's offer and `<case>.answer.sdp` is the
//! answer Tandem must print, byte for byte. Our origin is fixed (session id 4242), so no
//! placeholders are needed. Run with `TANDEM_BLESS=1` to rewrite the golden answers after an
//! intended change, and review the diff.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use tandem_sip::sdp::{
    Attribute, Codec, Direction, Host, LocalPolicy, LocalSession, MediaChange, NegotiatedStream,
    NegotiationError, PayloadType, RejectReason, SessionDescription, StreamOutcome,
    TelephoneEvents, answer, handle_answer,
};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/offer_answer")
}

fn read(name: &str) -> SessionDescription {
    let path = vectors().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    SessionDescription::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Compares `sdp` with the golden file `name` (or rewrites it under `TANDEM_BLESS=1`).
fn golden(name: &str, sdp: &SessionDescription) {
    let path = vectors().join(name);
    let printed = sdp.to_string();
    if std::env::var_os("TANDEM_BLESS").is_some() {
        std::fs::write(&path, &printed).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with TANDEM_BLESS=1)", path.display()));
    assert_eq!(printed, expected, "golden file {name} differs");
}

fn pt(n: u8) -> PayloadType {
    PayloadType::new(n).unwrap()
}

/// What a transcoding gateway terminates: Opus (with FEC), G.722, G.711.
fn gateway_policy() -> LocalPolicy {
    let mut policy = LocalPolicy::new(
        LOCALHOST,
        vec![
            Codec::opus().with_fmtp("useinbandfec=1"),
            Codec::g722(),
            Codec::pcmu(),
            Codec::pcma(),
        ],
    );
    policy.rtp_ports = vec![20000];
    policy
}

fn policy_with(codecs: Vec<Codec>) -> LocalPolicy {
    LocalPolicy {
        codecs,
        ..gateway_policy()
    }
}

fn session() -> LocalSession {
    LocalSession::new("tandem", 4242, LOCALHOST)
}

fn accepted(streams: &[StreamOutcome], index: usize) -> &NegotiatedStream {
    streams[index]
        .accepted()
        .unwrap_or_else(|| panic!("stream {index} rejected: {:?}", streams[index]))
}

fn reason(streams: &[StreamOutcome], index: usize) -> RejectReason {
    streams[index]
        .rejected()
        .unwrap_or_else(|| panic!("stream {index} accepted"))
        .reason
}

fn addr(ip: IpAddr, port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::new(ip, port))
}

/// Our answer must also be a valid answer from the offerer's point of view.
fn assert_offerer_agrees(offer: &SessionDescription, ours: &SessionDescription) {
    let seen = handle_answer(offer, ours).expect("our answer negotiates");
    assert_eq!(seen.len(), offer.media.len());
}

mod answering {
    use super::*;

    /// sipp's `uac_pcap` offers PCMA + telephone-event (PT 8, 101). Opus comes first in
    /// our list, but the offerer's order decides among what both support.
    #[test]
    fn sipp_uac_pcap_is_answered_with_pcma_and_its_events() {
        let offer = read("sipp-uac-pcap.offer.sdp");
        let (sdp, negotiated) = session().answer(&offer, &gateway_policy());
        golden("sipp-uac-pcap.answer.sdp", &sdp);
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.format.payload_type, pt(8));
        assert_eq!(stream.format.codec, Codec::pcma());
        assert_eq!(stream.remote_rtp, addr(LOCALHOST, 6100));
        assert_eq!(stream.remote_rtcp, addr(LOCALHOST, 6101));
        assert_eq!(stream.local_port, 20000);
        assert_eq!(stream.direction, Direction::SendRecv);
        assert_eq!(stream.ptime_ms, None);
        let te = stream.telephone_event.unwrap();
        assert_eq!((te.payload_type, te.clock_rate), (pt(101), 8000));
        assert_eq!(te.events.to_string(), "0-11,16");
        assert_eq!(negotiated.change, MediaChange::Changed);
        assert_offerer_agrees(&offer, &sdp);
    }

    /// rtpengine in front of sipp rewrites the port and adds `a=sendrecv` and `a=rtcp`
    /// (`kamailio/ng-samples.txt`): RTCP goes where `a=rtcp` says (RFC 3605).
    #[test]
    fn rtpengine_relayed_offer_sends_rtcp_to_its_rtcp_port() {
        let offer = read("rtpengine-relay.offer.sdp");
        let (sdp, negotiated) = session().answer(&offer, &gateway_policy());
        golden("rtpengine-relay.answer.sdp", &sdp);
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.remote_rtp, addr(LOCALHOST, 30000));
        assert_eq!(stream.remote_rtcp, addr(LOCALHOST, 30001));
        assert_eq!(stream.format.codec.name, "PCMA");
    }

    /// rtpengine transcoding offers Opus only; our answer keeps its PT 96 and states the
    /// format parameters we want to receive.
    #[test]
    fn rtpengine_opus_only_offer_is_answered_with_opus() {
        let offer = read("rtpengine-transcode.offer.sdp");
        let (sdp, negotiated) = session().answer(&offer, &gateway_policy());
        golden("rtpengine-transcode.answer.sdp", &sdp);
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.format.payload_type, pt(96));
        assert!(stream.format.codec.same_encoding(&Codec::opus()));
        assert_eq!(
            stream.format.codec.fmtp, None,
            "the offerer asked for nothing"
        );
        assert_eq!(stream.telephone_event, None);
    }

    /// baresip 1.0 (captured, README) offers PCMU, PCMA, G722, Opus and
    /// telephone-event/8000 with `a=ptime:20`: the offerer's first supported codec wins and
    /// its ptime is echoed.
    #[test]
    fn baresip_offer_gets_its_first_codec_and_ptime_echoed() {
        let offer = read("baresip-1.0.offer.sdp");
        let (sdp, negotiated) = session().answer(&offer, &gateway_policy());
        golden("baresip-1.0.answer.sdp", &sdp);
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.format.payload_type, pt(0));
        assert_eq!(stream.ptime_ms, Some(20));
        assert_eq!(
            stream.telephone_event.unwrap().events,
            TelephoneEvents::DTMF
        );
        assert_offerer_agrees(&offer, &sdp);
    }

    /// Answering baresip with Opus only: its telephone-event is at 8000 Hz, not Opus's
    /// 48000, so it is left out (RFC 4733 §2.1: events use the audio codec's clock). The
    /// offerer's Opus parameters (stereo, bitrate) reach the encoder through `format`.
    #[test]
    fn telephone_event_at_another_clock_is_not_answered() {
        let offer = read("baresip-1.0.offer.sdp");
        let policy = policy_with(vec![Codec::opus().with_fmtp("useinbandfec=1")]);
        let (sdp, negotiated) = session().answer(&offer, &policy);
        golden("baresip-1.0-opus.answer.sdp", &sdp);
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.format.payload_type, pt(96));
        assert_eq!(
            stream.format.codec.fmtp.as_deref(),
            Some("stereo=1;sprop-stereo=1;maxaveragebitrate=32000")
        );
        assert_eq!(stream.telephone_event, None);
    }

    /// baresip's hold (captured `/hold` re-INVITE: `a=sendonly`, version + 1) is answered
    /// `recvonly`; its retransmission changes nothing; resume (`sendrecv`, next version)
    /// restores both directions.
    #[test]
    fn baresip_hold_and_resume() {
        let mut session = session();
        let policy = gateway_policy();
        let (first, _) = session.answer(&read("baresip-1.0.offer.sdp"), &policy);

        let hold = read("baresip-1.0-hold.offer.sdp");
        let (held, negotiated) = session.answer(&hold, &policy);
        golden("baresip-1.0-hold.answer.sdp", &held);
        assert_eq!(negotiated.change, MediaChange::Changed);
        assert_eq!(
            held.origin.session_version,
            first.origin.session_version + 1
        );
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.direction, Direction::RecvOnly);
        assert!(!stream.sends() && stream.receives());
        assert_eq!(
            stream.format.payload_type,
            pt(8),
            "the re-offer kept only PCMA"
        );

        let (again, negotiated) = session.answer(&hold, &policy);
        assert_eq!(negotiated.change, MediaChange::Unchanged);
        assert_eq!(again, held, "same answer, same version (RFC 3264 §8)");

        let mut resume = hold.clone();
        resume.origin.session_version += 1;
        resume.media[0].set_direction(Direction::SendRecv);
        let (resumed, negotiated) = session.answer(&resume, &policy);
        assert_eq!(negotiated.change, MediaChange::Changed);
        assert_eq!(
            resumed.origin.session_version,
            held.origin.session_version + 1
        );
        assert_eq!(
            accepted(&negotiated.streams, 0).direction,
            Direction::SendRecv
        );
    }

    /// RFC 4317 §2.1's offer: audio accepted with PCMU, video rejected with port 0 and its
    /// `m=` line kept (RFC 3264 §6).
    #[test]
    fn video_is_rejected_with_port_zero() {
        let offer = read("rfc4317/2.1-offer.sdp");
        let (sdp, negotiated) = session().answer(&offer, &gateway_policy());
        golden("rfc4317-2.1.answer.sdp", &sdp);
        assert_eq!(accepted(&negotiated.streams, 0).format.codec.name, "PCMU");
        assert_eq!(
            reason(&negotiated.streams, 1),
            RejectReason::UnsupportedMedia
        );
        assert_eq!(sdp.media[1].port, 0);
        assert_eq!(sdp.media[1].formats, ["31", "32"]);
        // The offerer wrote a host name: no socket address, but the name for the caller.
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.remote_rtp, None);
        assert!(
            matches!(&stream.remote_host, Host::Domain { name, .. } if name == "host.atlanta.example.com")
        );
        assert_offerer_agrees(&offer, &sdp);
    }

    /// RFC 4317 §2.4 and §2.6: a second audio stream that carries only telephone-event has
    /// no codec we can terminate; two acceptable streams need two ports.
    #[test]
    fn events_only_stream_and_missing_ports_are_rejected() {
        let offer = read("rfc4317/2.4-offer.sdp");
        let (sdp, negotiated) = session().answer(&offer, &gateway_policy());
        assert_eq!(accepted(&negotiated.streams, 0).format.codec.name, "PCMU");
        assert_eq!(reason(&negotiated.streams, 1), RejectReason::NoCommonCodec);
        assert_offerer_agrees(&offer, &sdp);

        let offer = read("rfc4317/2.6-offer.sdp");
        let mut policy = policy_with(vec![Codec::pcmu(), Codec::new("iLBC", 8000, 1)]);
        let (sdp, negotiated) = session().answer(&offer, &policy);
        assert!(negotiated.streams[0].accepted().is_some());
        assert_eq!(reason(&negotiated.streams, 1), RejectReason::NoLocalPort);
        assert_offerer_agrees(&offer, &sdp);

        policy.rtp_ports = vec![20000, 20002];
        let (sdp, negotiated) = session().answer(&offer, &policy);
        golden("rfc4317-2.6.answer.sdp", &sdp);
        let second = accepted(&negotiated.streams, 1);
        assert_eq!(
            (second.format.codec.name.as_str(), second.local_port),
            ("iLBC", 20002)
        );
        assert_eq!(second.telephone_event.unwrap().payload_type, pt(101));
    }

    /// RFC 4317 §5.2: `c=0.0.0.0` (RFC 2543 hold, "black hole") is answered as the
    /// attributes say, but we must not send: the remote cannot receive.
    #[test]
    fn legacy_hold_address_means_we_do_not_send() {
        let offer = read("rfc4317/5.2-offer.sdp");
        let policy = policy_with(vec![Codec::new("iLBC", 8000, 1)]);
        let (sdp, negotiated) = session().answer(&offer, &policy);
        golden("rfc4317-5.2.answer.sdp", &sdp);
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(sdp.media[0].direction(), Some(Direction::SendRecv));
        assert_eq!(stream.direction, Direction::RecvOnly);
        assert_eq!((stream.remote_rtp, stream.remote_rtcp), (None, None));
        assert!(stream.remote_host.is_unspecified());

        // §5.2's second offer gives a real address: media flows both ways.
        let mut session = session();
        session.answer(&offer, &policy);
        let mut second = offer.clone();
        second.origin.session_version += 1;
        second.connection = read("rfc4317/5.3-offer.sdp").connection;
        let (_, negotiated) = session.answer(&second, &policy);
        assert_eq!(negotiated.change, MediaChange::Changed);
        assert_eq!(
            accepted(&negotiated.streams, 0).direction,
            Direction::SendRecv
        );
    }

    /// RFC 4317 §2.5: the peer moves its media to another host; our answer is the same SDP,
    /// so it keeps its version, but the media changed.
    #[test]
    fn peer_moving_keeps_our_version_but_changes_media() {
        let policy = policy_with(vec![Codec::new("iLBC", 8000, 1)]);
        let mut session = session();
        let (first, _) = session.answer(&read("rfc4317/2.5-answer.sdp"), &policy);
        let (second, negotiated) = session.answer(&read("rfc4317/2.5-second-offer.sdp"), &policy);
        assert_eq!(second, first);
        assert_eq!(negotiated.change, MediaChange::Changed);
        assert!(matches!(
            &accepted(&negotiated.streams, 0).remote_host,
            Host::Domain { name, .. } if name == "newhost.biloxi.example.com"
        ));
    }

    #[test]
    fn ipv6_offer_is_answered_over_ipv6() {
        let offer = read("ipv6.offer.sdp");
        let ours = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let mut policy = gateway_policy();
        policy.address = ours;
        let (sdp, negotiated) = LocalSession::new("tandem", 4242, ours).answer(&offer, &policy);
        golden("ipv6.answer.sdp", &sdp);
        let stream = accepted(&negotiated.streams, 0);
        let remote: IpAddr = "2001:db8::10".parse().unwrap();
        assert_eq!(stream.remote_rtp, addr(remote, 7078));
        assert_eq!(stream.remote_rtcp, addr(remote, 7079));
        assert_eq!(stream.format.codec, Codec::g722());
    }

    /// SRTP needs keys this layer does not negotiate: the stream is rejected, and since it
    /// was the only one the whole offer is (the server answers 488).
    #[test]
    fn srtp_offer_is_rejected() {
        let offer = read("srtp.offer.sdp");
        let answer = answer(&offer, &gateway_policy(), session().origin());
        golden("srtp.answer.sdp", &answer.sdp);
        assert_eq!(
            reason(&answer.streams, 0),
            RejectReason::UnsupportedProtocol
        );
        assert!(answer.rejects_everything());
    }

    #[test]
    fn no_common_codec_rejects_the_offer() {
        let mut offer = read("sipp-uac-pcap.offer.sdp");
        offer.media[0].formats = vec!["18".into()];
        offer.media[0].attributes.clear();
        let answer = answer(&offer, &gateway_policy(), session().origin());
        assert_eq!(reason(&answer.streams, 0), RejectReason::NoCommonCodec);
        assert!(answer.rejects_everything());
        assert_eq!(answer.sdp.media[0].port, 0);
        assert_eq!(answer.sdp.media[0].formats, ["18"]);
    }

    /// A re-offer we cannot accept at all is refused (488): the session keeps its SDP, its
    /// version and its streams.
    #[test]
    fn unacceptable_reoffer_changes_nothing() {
        let mut session = session();
        let policy = gateway_policy();
        let (first, _) = session.answer(&read("sipp-uac-pcap.offer.sdp"), &policy);
        let mut reoffer = read("sipp-uac-pcap.offer.sdp");
        reoffer.origin.session_version += 1;
        reoffer.media[0].formats = vec!["18".into()];
        reoffer.media[0].attributes.clear();
        let (_, negotiated) = session.answer(&reoffer, &policy);
        assert!(negotiated.rejects_everything());
        assert_eq!(negotiated.change, MediaChange::Unchanged);
        assert_eq!(session.local_description(), Some(&first));
        assert!(session.streams()[0].accepted().is_some());
        let (again, negotiated) = session.answer(&read("sipp-uac-pcap.offer.sdp"), &policy);
        assert_eq!(again, first);
        assert_eq!(negotiated.change, MediaChange::Unchanged);
    }

    /// Static payload types need no rtpmap (RFC 8866 §6.6): `0 8 9` mean PCMU, PCMA, G722,
    /// and G.722's RTP clock is 8000 (RFC 3551 §4.5.2).
    #[test]
    fn static_payload_types_resolve_without_rtpmap() {
        let offer = SessionDescription::parse(
            b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
              m=audio 5004 RTP/AVP 9 0 8\r\n",
        )
        .unwrap();
        let answer = answer(&offer, &gateway_policy(), session().origin());
        let stream = accepted(&answer.streams, 0);
        assert_eq!(stream.format.codec, Codec::g722());
        assert!(answer.sdp.to_string().contains("a=rtpmap:9 G722/8000\r\n"));
    }

    /// RFC 3264 §6: a stream the offerer disabled stays disabled; the answer's `t=` equals
    /// the offer's; rtcp-mux is granted only when offered and supported (RFC 5761).
    #[test]
    fn disabled_streams_timing_and_rtcp_mux() {
        let mut offer = read("sipp-uac-pcap.offer.sdp");
        offer.timings[0].start = 3724394400;
        let mut disabled = offer.media[0].clone();
        disabled.port = 0;
        offer.media.push(disabled);
        offer.media[0].push_attribute(Attribute::property("rtcp-mux"));
        let mut policy = gateway_policy();
        policy.rtp_ports = vec![20000, 20002];
        let without = answer(&offer, &policy, session().origin());
        assert!(!accepted(&without.streams, 0).rtcp_mux, "not ours to grant");
        policy.rtcp_mux = true;
        let answer = answer(&offer, &policy, session().origin());
        assert_eq!(answer.sdp.timings, offer.timings);
        assert_eq!(reason(&answer.streams, 1), RejectReason::DisabledByOfferer);
        let stream = accepted(&answer.streams, 0);
        assert!(stream.rtcp_mux);
        assert_eq!(stream.remote_rtcp, addr(LOCALHOST, 6100));
        assert!(answer.sdp.media[0].rtcp_mux());
    }

    /// RFC 3264 §6.1: each offered direction gets its mirror image, at session or media
    /// level.
    #[test]
    fn directions_are_answered_with_their_mirror_image() {
        for (offered, answered) in [
            (Direction::SendRecv, Direction::SendRecv),
            (Direction::SendOnly, Direction::RecvOnly),
            (Direction::RecvOnly, Direction::SendOnly),
            (Direction::Inactive, Direction::Inactive),
        ] {
            let mut media_level = read("sipp-uac-pcap.offer.sdp");
            media_level.media[0].set_direction(offered);
            let mut session_level = read("sipp-uac-pcap.offer.sdp");
            session_level.attributes.push(offered.into());
            for offer in [media_level, session_level] {
                let answer = answer(&offer, &gateway_policy(), session().origin());
                assert_eq!(answer.sdp.media[0].direction(), Some(answered), "{offered}");
                assert_eq!(accepted(&answer.streams, 0).direction, answered);
            }
        }
    }

    /// Putting the peer on hold from our side while answering: our policy direction limits
    /// the answer.
    #[test]
    fn policy_direction_limits_the_answer() {
        let offer = read("sipp-uac-pcap.offer.sdp");
        let mut policy = gateway_policy();
        policy.direction = Direction::SendOnly;
        let answer = answer(&offer, &policy, session().origin());
        assert_eq!(answer.sdp.media[0].direction(), Some(Direction::SendOnly));
        assert_eq!(accepted(&answer.streams, 0).direction, Direction::SendOnly);
    }
}

mod offering {
    use super::*;

    /// The outgoing leg of a transcoding gateway offers Opus only; sipp's `uas_opus_only`
    /// answers with Opus (its exact answer, README).
    #[test]
    fn opus_only_offer_and_sipp_opus_answer() {
        let mut session = session();
        let mut policy = policy_with(vec![Codec::opus().with_fmtp("useinbandfec=1")]);
        policy.ptime_ms = Some(20);
        let offer = session.create_offer(&policy);
        golden("tandem-opus.offer.sdp", &offer);
        let negotiated = session
            .handle_answer(&read("sipp-uas-opus-only.answer.sdp"))
            .unwrap();
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.format.payload_type, pt(96));
        assert_eq!(stream.receive_payload_type, pt(96));
        assert_eq!(stream.format.codec.fmtp.as_deref(), Some("useinbandfec=1"));
        assert_eq!(stream.remote_rtp, addr(LOCALHOST, 6000));
        assert_eq!(stream.ptime_ms, Some(20));
        assert_eq!(stream.direction, Direction::SendRecv);
        assert_eq!(stream.telephone_event, None, "the answer left events out");
        assert!(session.pending_offer().is_none());
    }

    /// A wideband offer lists codecs in our order, static types at their RFC 3551 numbers,
    /// and telephone-event at each codec clock (8000 at 101, as peers expect).
    #[test]
    fn wideband_offer_and_a_pcma_answer() {
        let mut session = session();
        let offer = session.create_offer(&gateway_policy());
        golden("tandem-wideband.offer.sdp", &offer);
        assert_eq!(offer.media[0].formats, ["96", "9", "0", "8", "101", "102"]);
        let mut answer = read("rtpengine-relay.offer.sdp");
        answer.origin.username = "uas".into();
        let negotiated = session.handle_answer(&answer).unwrap();
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.format.codec, Codec::pcma());
        let te = stream.telephone_event.unwrap();
        assert_eq!(
            (te.payload_type, te.receive_payload_type),
            (pt(101), pt(101))
        );
        assert_eq!(te.events.to_string(), "0-11,16");
        assert_eq!(stream.remote_rtcp, addr(LOCALHOST, 30001));
    }

    /// We hold (sendonly) keeping the codec in use, the peer answers recvonly; then resume.
    /// Re-offering the same thing keeps the version and reports no media change.
    #[test]
    fn hold_and_resume_from_our_side() {
        let mut session = session();
        let (first, negotiated) =
            session.answer(&read("sipp-uac-pcap.offer.sdp"), &gateway_policy());
        let mut policy = gateway_policy().narrowed_to(accepted(&negotiated.streams, 0));
        assert_eq!(policy.codecs, [Codec::pcma()]);

        policy.direction = Direction::SendOnly;
        let hold = session.create_offer(&policy);
        golden("tandem-hold.offer.sdp", &hold);
        assert_eq!(
            hold.origin.session_version,
            first.origin.session_version + 1
        );
        assert_eq!(hold.media[0].direction(), Some(Direction::SendOnly));
        let mut peer = read("sipp-uac-pcap.offer.sdp");
        peer.media[0].set_direction(Direction::RecvOnly);
        let negotiated = session.handle_answer(&peer).unwrap();
        assert_eq!(negotiated.change, MediaChange::Changed);
        let stream = accepted(&negotiated.streams, 0);
        assert_eq!(stream.direction, Direction::SendOnly);
        assert_eq!(stream.local_port, 20000);

        let again = session.create_offer(&policy);
        assert_eq!(again, hold, "unchanged offer keeps its version");
        assert_eq!(
            session.handle_answer(&peer).unwrap().change,
            MediaChange::Unchanged
        );

        policy.direction = Direction::SendRecv;
        let resume = session.create_offer(&policy);
        assert_eq!(
            resume.origin.session_version,
            hold.origin.session_version + 1
        );
        peer.media[0].set_direction(Direction::SendRecv);
        let negotiated = session.handle_answer(&peer).unwrap();
        assert_eq!(negotiated.change, MediaChange::Changed);
        assert_eq!(
            accepted(&negotiated.streams, 0).direction,
            Direction::SendRecv
        );
    }

    /// RFC 3264 §8.3.2: once 96 meant Opus in this session, a codec change must not reuse
    /// it for another codec.
    #[test]
    fn codec_change_keeps_dynamic_payload_types_bound() {
        let mut session = session();
        let opus = session.create_offer(&policy_with(vec![Codec::opus()]));
        assert_eq!(opus.media[0].formats[0], "96");
        session.cancel_offer();
        let l16 = session.create_offer(&policy_with(vec![Codec::new("L16", 16000, 1)]));
        assert_eq!(l16.media[0].formats[0], "97");
        assert_eq!(l16.origin.session_version, opus.origin.session_version + 1);
        session.cancel_offer();
        let both = session.create_offer(&policy_with(vec![
            Codec::new("L16", 16000, 1),
            Codec::opus(),
        ]));
        assert_eq!(both.media[0].formats[..2], ["97", "96"]);
    }

    /// A re-offer keeps the `m=` lines of the SDP we sent last: the video we rejected stays
    /// at port 0 (streams are never removed, RFC 3264 §8.2).
    #[test]
    fn reoffer_keeps_rejected_streams_in_place() {
        let mut session = session();
        let policy = gateway_policy();
        session.answer(&read("rfc4317/2.1-offer.sdp"), &policy);
        let offer = session.create_offer(&policy);
        assert_eq!(offer.media.len(), 2);
        assert_eq!((offer.media[0].port, offer.media[1].port), (20000, 0));
        assert_eq!(offer.media[1].formats, ["31", "32"]);
    }

    #[test]
    fn answers_that_break_rfc_3264_are_refused() {
        let offer = read("rfc4317/2.1-offer.sdp");
        let answer = read("rfc4317/2.1-answer.sdp");

        let mut short = answer.clone();
        short.media.pop();
        assert_eq!(
            handle_answer(&offer, &short),
            Err(NegotiationError::MediaCountMismatch {
                offered: 2,
                answered: 1
            })
        );
        let mut unoffered = answer.clone();
        unoffered.media[0].formats = vec!["18".into()];
        assert_eq!(
            handle_answer(&offer, &unoffered),
            Err(NegotiationError::UnofferedCodec {
                stream: 0,
                payload_type: 18
            })
        );
        let mut swapped = answer.clone();
        swapped.media.swap(0, 1);
        assert_eq!(
            handle_answer(&offer, &swapped),
            Err(NegotiationError::MediaTypeMismatch { stream: 0 })
        );
        let mut savp = answer.clone();
        savp.media[0].protocol.0 = "RTP/SAVP".into();
        assert_eq!(
            handle_answer(&offer, &savp),
            Err(NegotiationError::ProtocolMismatch { stream: 0 })
        );
        let mut no_c = answer.clone();
        no_c.connection = None;
        assert_eq!(
            handle_answer(&offer, &no_c),
            Err(NegotiationError::NoConnectionAddress { stream: 0 })
        );
        let mut disabled = offer.clone();
        disabled.media[1].port = 0;
        assert_eq!(
            handle_answer(&disabled, &answer),
            Err(NegotiationError::AcceptedDisabledStream { stream: 1 })
        );
        assert_eq!(
            session().handle_answer(&answer),
            Err(NegotiationError::NoOfferPending)
        );
    }
}

/// Processing the RFC 4317 answers as the offerer (RFC 3264 §7).
mod rfc4317 {
    use super::*;

    fn exchange(section: &str, second: bool) -> Vec<StreamOutcome> {
        let prefix = if second { "second-" } else { "" };
        let offer = read(&format!("rfc4317/{section}-{prefix}offer.sdp"));
        let answer = read(&format!("rfc4317/{section}-{prefix}answer.sdp"));
        handle_answer(&offer, &answer).unwrap_or_else(|e| panic!("§{section}: {e}"))
    }

    #[test]
    fn section_2_1_one_codec_per_stream() {
        let streams = exchange("2.1", false);
        assert_eq!(accepted(&streams, 0).format.codec.name, "PCMU");
        let video = accepted(&streams, 1);
        assert_eq!(video.format.codec.name, "MPV");
        assert_eq!(video.format.codec.clock_rate, 90000);
        assert_eq!(video.local_port, 51372);
    }

    #[test]
    fn section_2_2_two_codecs_accepted_then_narrowed() {
        let streams = exchange("2.2", false);
        let audio = accepted(&streams, 0);
        assert_eq!(audio.format.codec.name, "PCMU");
        assert_eq!(audio.alternatives.len(), 1);
        assert_eq!(audio.alternatives[0].codec.name, "PCMA");
        assert_eq!(reason(&streams, 1), RejectReason::RejectedByAnswerer);
        let streams = exchange("2.2", true);
        assert!(accepted(&streams, 0).alternatives.is_empty());
        assert_eq!(reason(&streams, 1), RejectReason::DisabledByOfferer);
    }

    /// "change of dynamic payload type from 97 to 99 between the offer and the answer is
    /// OK since the same codec is referenced".
    #[test]
    fn section_2_3_renumbered_payload_type() {
        let audio = exchange("2.3", false)[0].clone();
        let audio = audio.accepted().unwrap();
        assert_eq!(audio.format.codec.name, "iLBC");
        assert_eq!(audio.format.payload_type, pt(99));
        assert_eq!(audio.receive_payload_type, pt(97));
    }

    #[test]
    fn section_2_4_events_only_stream() {
        let streams = exchange("2.4", false);
        let events = accepted(&streams, 1);
        assert!(events.format.codec.is_telephone_event());
        assert_eq!(events.telephone_event.unwrap().payload_type, pt(98));
        assert_eq!(events.direction, Direction::SendOnly);
    }

    #[test]
    fn section_2_6_first_stream_declined() {
        let streams = exchange("2.6", false);
        assert_eq!(reason(&streams, 0), RejectReason::RejectedByAnswerer);
        let second = accepted(&streams, 1);
        assert_eq!(second.format.codec.name, "iLBC");
        assert_eq!(
            second.telephone_event.unwrap().events,
            TelephoneEvents::DTMF
        );
    }

    #[test]
    fn section_2_8_video_at_another_host() {
        let streams = exchange("2.8", false);
        assert!(matches!(
            &accepted(&streams, 1).remote_host,
            Host::Domain { name, .. } if name == "otherhost.biloxi.example.com"
        ));
        assert!(matches!(
            &accepted(&streams, 0).remote_host,
            Host::Domain { name, .. } if name == "host.biloxi.example.com"
        ));
    }

    #[test]
    fn section_3_1_answerer_holds_then_resumes() {
        assert_eq!(
            accepted(&exchange("3.1", false), 0).direction,
            Direction::RecvOnly
        );
        assert_eq!(
            accepted(&exchange("3.1", true), 0).direction,
            Direction::SendRecv
        );
    }

    #[test]
    fn section_3_2_one_of_two_streams_held() {
        let streams = exchange("3.2", true);
        assert_eq!(accepted(&streams, 0).direction, Direction::SendOnly);
        assert_eq!(accepted(&streams, 1).direction, Direction::RecvOnly);
    }

    #[test]
    fn section_4_3_video_deleted() {
        assert!(accepted(&exchange("4.3", false), 1).format.codec.name == "H261");
        assert_eq!(
            reason(&exchange("4.3", true), 1),
            RejectReason::DisabledByOfferer
        );
    }

    #[test]
    fn section_5_1_no_media() {
        assert!(exchange("5.1", false).is_empty());
        let mut tandem = session();
        let offer = read("rfc4317/5.1-offer.sdp");
        let (_, first) = tandem.answer(&offer, &gateway_policy());
        let (_, second) = tandem.answer(&offer, &gateway_policy());
        assert_eq!(
            (first.change, second.change),
            (MediaChange::Changed, MediaChange::Unchanged)
        );
        let answer = answer(
            &read("rfc4317/5.1-offer.sdp"),
            &gateway_policy(),
            session().origin(),
        );
        assert!(answer.sdp.media.is_empty() && !answer.rejects_everything());
    }

    /// §5.3: the answerer gives `c=0.0.0.0`, so we cannot send to it.
    #[test]
    fn section_5_3_answerer_black_holes() {
        let stream = accepted(&exchange("5.3", false), 0).clone();
        assert_eq!(stream.direction, Direction::RecvOnly);
        assert_eq!(stream.remote_rtp, None);
    }

    /// Tandem answering each RFC 4317 offer produces answers the offerer accepts.
    #[test]
    fn our_answers_to_every_rfc_offer_negotiate() {
        let mut policy = policy_with(vec![Codec::pcmu(), Codec::new("iLBC", 8000, 1)]);
        policy.rtp_ports = vec![20000, 20002];
        let mut offers: Vec<_> = std::fs::read_dir(vectors().join("rfc4317"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with("offer.sdp"))
            .collect();
        offers.sort();
        assert!(offers.len() >= 15, "{offers:?}");
        for name in offers {
            let offer = read(&format!("rfc4317/{name}"));
            let answer = answer(&offer, &policy, session().origin());
            assert_offerer_agrees(&offer, &answer.sdp);
        }
    }
}
