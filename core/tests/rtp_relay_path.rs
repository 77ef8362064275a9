//! The ingress-to-egress path of a relayed leg in virtual time: classify, check, strict
//! source, statistics and in-place rewriting. The peer restarts its stream (new SSRC), an
//! attacker sprays forged packets at the port (RTP bleed), and signalling moves the peer to a
//! new address while the attacker races it; the far leg must see one continuous stream, and
//! nothing of the attacker's once the peer has spoken.

use std::net::SocketAddr;

use tandem_core::error::SourceError;
use tandem_core::rtp::{
    PacketKind, PayloadType, PayloadTypeSet, ReceiveStats, RewriteConfig, Rewriter, RtpHeader,
    RtpPacket, RtpTimestamp, SeqNo, SeqVerdict, SourceConfig, SourceFilter, Ssrc, classify,
};

const MS: u64 = 1000;

struct Leg {
    filter: SourceFilter,
    stats: ReceiveStats,
    rewriter: Rewriter,
    /// (out seq, out ts, marker, first payload byte, arrival) of what was forwarded.
    out: Vec<(SeqNo, RtpTimestamp, bool, u8, u64)>,
    dropped: Vec<SourceError>,
}

impl Leg {
    fn new(peer: SocketAddr) -> Leg {
        Leg {
            filter: SourceFilter::new(source_config(peer)),
            stats: ReceiveStats::new(8000),
            rewriter: Rewriter::new(RewriteConfig::new(
                Ssrc(0x7A4D_E400),
                SeqNo(65000),
                RtpTimestamp(4_000_000_000),
                8000,
            )),
            out: Vec::new(),
            dropped: Vec::new(),
        }
    }

    fn receive(&mut self, now_us: u64, from: SocketAddr, datagram: &mut [u8]) {
        assert_eq!(classify(datagram), PacketKind::Rtp);
        let mut packet = RtpPacket::new_checked(datagram).unwrap();
        let (ssrc, seq, ts, pt) = (
            packet.ssrc(),
            packet.sequence_number(),
            packet.timestamp(),
            packet.payload_type(),
        );
        if let Err(e) = self.filter.handle_packet(now_us, from, ssrc, pt, seq) {
            self.dropped.push(e);
            return;
        }
        let _verdict: SeqVerdict =
            self.stats
                .handle_packet(now_us, ssrc, seq, ts, packet.payload().len());
        match self.rewriter.rewrite_in_place(now_us, &mut packet) {
            Ok(out) => self.out.push((
                out.seq,
                out.timestamp,
                out.marker,
                packet.payload()[0],
                now_us,
            )),
            Err(e) => self.dropped.push(e),
        }
    }
}

fn source_config(peer: SocketAddr) -> SourceConfig {
    SourceConfig {
        expected_address: Some(peer),
        payload_types: PayloadTypeSet::new(&[PayloadType::PCMU]),
        ..SourceConfig::default()
    }
}

fn pcmu(ssrc: u32, seq: u16, ts: u32, tag: u8) -> Vec<u8> {
    let header = RtpHeader::new(PayloadType::PCMU, SeqNo(seq), RtpTimestamp(ts), Ssrc(ssrc));
    let mut buf = vec![0u8; header.buffer_len(160)];
    header.emit_packet(&[tag; 160], &mut buf).unwrap();
    buf
}

#[test]
fn relayed_stream_stays_continuous_and_the_attacker_gets_nothing_in() {
    let peer: SocketAddr = "192.0.2.10:30000".parse().unwrap();
    let moved: SocketAddr = "192.0.2.99:31000".parse().unwrap();
    let attacker: SocketAddr = "203.0.113.66:40000".parse().unwrap();
    let mut leg = Leg::new(peer);
    const PEER: u8 = 0xA1;
    const EVIL: u8 = 0xEE;

    // Phase 1: 3 s of the peer's stream, the attacker spraying forged packets that copy the
    // peer's SSRC and guess the next sequence numbers.
    for i in 0..150u32 {
        let now = u64::from(i) * 20 * MS;
        leg.receive(now, peer, &mut pcmu(0x1111, 1000 + i as u16, i * 160, PEER));
        leg.receive(
            now + 5 * MS,
            attacker,
            &mut pcmu(0x1111, 1001 + i as u16, i * 160, EVIL),
        );
    }
    // Phase 2: the peer restarts its stream (new SSRC, new random sequence and timestamp)
    // after a 100 ms pause.
    for i in 0..150u32 {
        let now = 3_100 * MS + u64::from(i) * 20 * MS;
        leg.receive(
            now,
            peer,
            &mut pcmu(0x2222, 50 + i as u16, 777_777 + i * 160, PEER),
        );
    }
    // Phase 3: a re-INVITE moves the peer; only the signalled change re-opens learning. The
    // attacker races it with its own stream, then the real peer speaks from the signalled
    // address 1 ms later and takes over.
    leg.filter.relearn(source_config(moved));
    for i in 0..150u32 {
        let now = 6_100 * MS + u64::from(i) * 20 * MS;
        if i < 3 {
            leg.receive(
                now,
                attacker,
                &mut pcmu(0x6666, 9 + i as u16, i * 160, EVIL),
            );
        }
        leg.receive(
            now + MS,
            moved,
            &mut pcmu(0x3333, 10 + i as u16, i * 160, PEER),
        );
    }

    // Locked, the attacker got nothing in; racing the re-learning, one packet before the
    // peer spoke (the residual risk of learning without authentication).
    let evil: Vec<usize> = (0..leg.out.len())
        .filter(|&i| leg.out[i].3 == EVIL)
        .collect();
    assert_eq!(evil, [300]);
    assert_eq!(leg.out.len(), 451);
    // One continuous output sequence, wrapping at 65535.
    for w in leg.out.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1));
    }
    // Timestamps advance by 160 per packet and by real time across the switches.
    for w in leg.out.windows(2) {
        let dt = w[1].1.diff(w[0].1);
        let elapsed = ((w[1].4 - w[0].4) * 8 / MS) as i32;
        assert_eq!(dt, elapsed, "{w:?}");
    }
    // The marker flags the first packet after each input switch.
    let markers: Vec<usize> = (0..leg.out.len()).filter(|&i| leg.out[i].2).collect();
    assert_eq!(markers, [150, 300, 301]);
    assert_eq!(leg.rewriter.counters().switches, 3);
    assert_eq!(leg.filter.locked_address(), Some(moved));
    let other = leg
        .dropped
        .iter()
        .filter(|e| **e == SourceError::OtherAddress)
        .count();
    assert_eq!(other, 152);
    // Statistics follow the current source.
    assert_eq!(leg.stats.ssrc(), Some(Ssrc(0x3333)));
    assert_eq!(leg.stats.cumulative_lost(), 0);
}
