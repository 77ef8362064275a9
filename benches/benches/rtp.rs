//! RTP/RTCP per-packet costs (group "rtp"): the relay fast path for one 172-byte PCMU packet
//! (parse and check, strict source, receive statistics, rewrite, emit into an egress buffer),
//! its parts alone, the in-place variant, and RTCP compound parsing.
//!
//! Run: `cargo bench -p tandem-benches --bench rtp`. Buffers and state are built outside
//! `b.iter`; inputs go through `black_box`. Each iteration advances virtual time by 20 ms and
//! the sequence number by one, as a real stream does, so the statistics and rewriter take
//! their normal in-sequence path rather than a duplicate-packet shortcut.

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tandem_core::rtp::rtcp::{
    Compound, CompoundWriter, NtpTime, ReportBlock, RtcpRepr, SenderInfo,
};
use tandem_core::rtp::{
    PayloadType, PayloadTypeSet, ReceiveStats, RewriteConfig, Rewriter, RtpHeader, RtpPacket,
    RtpTimestamp, SeqNo, SourceConfig, SourceFilter, Ssrc,
};

const PEER: &str = "192.0.2.10:30000";

fn pcmu_packet() -> Vec<u8> {
    let header = RtpHeader::new(PayloadType::PCMU, SeqNo(1), RtpTimestamp(160), Ssrc(0x1111));
    let mut buf = vec![0u8; header.buffer_len(160)];
    header.emit_packet(&[0xD5; 160], &mut buf).unwrap();
    assert_eq!(buf.len(), 172);
    buf
}

/// Per-stream ingress and egress state, warmed past probation and learning.
struct Stream {
    filter: SourceFilter,
    stats: ReceiveStats,
    rewriter: Rewriter,
    peer: SocketAddr,
    seq: u16,
    ts: u32,
    now_us: u64,
}

impl Stream {
    fn new() -> Stream {
        let peer: SocketAddr = PEER.parse().unwrap();
        let mut s = Stream {
            filter: SourceFilter::new(SourceConfig {
                expected_address: Some(peer),
                payload_types: PayloadTypeSet::new(&[PayloadType::PCMU]),
                ..SourceConfig::default()
            }),
            stats: ReceiveStats::new(8000),
            rewriter: Rewriter::new(RewriteConfig::new(
                Ssrc(0xABCD),
                SeqNo(7),
                RtpTimestamp(9),
                8000,
            )),
            peer,
            seq: 1,
            ts: 160,
            now_us: 0,
        };
        let mut packet = pcmu_packet();
        let mut out = [0u8; 1500];
        for _ in 0..10 {
            s.step(&mut packet);
            s.relay(&packet, &mut out).unwrap();
        }
        s
    }

    /// The next packet of the stream, written into `packet`'s header.
    #[inline]
    fn step(&mut self, packet: &mut [u8]) {
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
        self.now_us += 20_000;
        packet[2..4].copy_from_slice(&self.seq.to_be_bytes());
        packet[4..8].copy_from_slice(&self.ts.to_be_bytes());
    }

    /// The relay fast path: check, source, statistics, rewrite, emit header + payload.
    #[inline]
    fn relay(&mut self, datagram: &[u8], out: &mut [u8]) -> Option<usize> {
        let packet = RtpPacket::new_checked(datagram).ok()?;
        let (ssrc, seq, ts) = (packet.ssrc(), packet.sequence_number(), packet.timestamp());
        self.filter
            .handle_packet(self.now_us, self.peer, ssrc, packet.payload_type(), seq)
            .ok()?;
        let payload = packet.payload();
        self.stats
            .handle_packet(self.now_us, ssrc, seq, ts, payload.len());
        let rewritten = self
            .rewriter
            .rewrite(self.now_us, ssrc, seq, ts, packet.marker())
            .ok()?;
        let header = RtpHeader {
            marker: rewritten.marker,
            sequence_number: rewritten.seq,
            timestamp: rewritten.timestamp,
            ssrc: rewritten.ssrc,
            ..RtpHeader::new(packet.payload_type(), seq, ts, ssrc)
        };
        header.emit_packet(payload, out).ok()
    }
}

fn bench_relay(c: &mut Criterion) {
    let mut group = c.benchmark_group("rtp");
    group.throughput(Throughput::Elements(1));

    let mut stream = Stream::new();
    let mut packet = pcmu_packet();
    let mut out = [0u8; 1500];
    group.bench_function("relay_pcmu_172B/parse_validate_rewrite_emit", |b| {
        b.iter(|| {
            stream.step(&mut packet);
            black_box(stream.relay(black_box(&packet), &mut out))
        })
    });

    let mut stream = Stream::new();
    let mut packet = pcmu_packet();
    group.bench_function("relay_pcmu_172B/parse_validate_rewrite_in_place", |b| {
        b.iter(|| {
            stream.step(&mut packet);
            let mut p = RtpPacket::new_checked(black_box(&mut packet[..])).unwrap();
            let (ssrc, seq, ts) = (p.ssrc(), p.sequence_number(), p.timestamp());
            stream
                .filter
                .handle_packet(stream.now_us, stream.peer, ssrc, p.payload_type(), seq)
                .unwrap();
            stream
                .stats
                .handle_packet(stream.now_us, ssrc, seq, ts, p.payload().len());
            black_box(
                stream
                    .rewriter
                    .rewrite_in_place(stream.now_us, &mut p)
                    .unwrap(),
            );
            // Put the input SSRC back for the next iteration.
            p.set_ssrc(ssrc);
        })
    });

    let packet = pcmu_packet();
    group.bench_function("parse_checked_172B", |b| {
        b.iter(|| {
            let p = RtpPacket::new_checked(black_box(&packet[..])).unwrap();
            black_box((
                p.sequence_number(),
                p.timestamp(),
                p.ssrc(),
                p.payload().len(),
            ))
        })
    });

    let header = RtpHeader::new(PayloadType::PCMU, SeqNo(1), RtpTimestamp(160), Ssrc(1));
    let payload = [0xD5u8; 160];
    let mut out = [0u8; 1500];
    group.bench_function("emit_172B", |b| {
        b.iter(|| black_box(black_box(&header).emit_packet(black_box(&payload), &mut out)))
    });

    let mut stats = ReceiveStats::new(8000);
    let mut n = 0u32;
    group.bench_function("receive_stats_update", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(stats.handle_packet(
                u64::from(n) * 20_000,
                Ssrc(1),
                SeqNo(n as u16),
                RtpTimestamp(n.wrapping_mul(160)),
                160,
            ))
        })
    });
    group.finish();
}

fn bench_rtcp(c: &mut Criterion) {
    let mut group = c.benchmark_group("rtp");
    let mut buf = [0u8; 512];
    let info = SenderInfo {
        ntp_time: NtpTime::from_unix_micros(1_700_000_000_000_000),
        rtp_timestamp: RtpTimestamp(160_000),
        packet_count: 1000,
        octet_count: 160_000,
    };
    let block = ReportBlock {
        ssrc: Ssrc(0xCAFE),
        fraction_lost: 3,
        cumulative_lost: 17,
        highest_sequence: 70_000,
        jitter: 12,
        last_sr: 0x1234_5678,
        delay_since_last_sr: 0x8000,
    };
    let mut w = CompoundWriter::new(&mut buf);
    w.sender_report(Ssrc(0x1234), &info, &[block])
        .unwrap()
        .cname(Ssrc(0x1234), b"tandem@192.0.2.1")
        .unwrap();
    let n = w.finish();
    let compound = buf[..n].to_vec();
    group.throughput(Throughput::Bytes(n as u64));
    group.bench_function("rtcp_compound_parse_sr_sdes", |b| {
        b.iter(|| {
            let c = Compound::new_checked(black_box(&compound)).unwrap();
            let mut jitter = 0u32;
            for repr in c.reprs() {
                match repr.unwrap() {
                    RtcpRepr::SenderReport(sr) => {
                        jitter += sr.report_blocks.map(|b| b.jitter).sum::<u32>();
                    }
                    RtcpRepr::SourceDescription(s) => {
                        jitter += s.chunks().filter_map(|c| c.cname()).count() as u32;
                    }
                    _ => {}
                }
            }
            black_box(jitter)
        })
    });
    let mut out = [0u8; 512];
    group.bench_function("rtcp_compound_emit_sr_sdes", |b| {
        b.iter(|| {
            let mut w = CompoundWriter::new(&mut out);
            w.sender_report(Ssrc(0x1234), black_box(&info), &[block])
                .unwrap()
                .cname(Ssrc(0x1234), b"tandem@192.0.2.1")
                .unwrap();
            black_box(w.finish())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_relay, bench_rtcp);
criterion_main!(benches);
