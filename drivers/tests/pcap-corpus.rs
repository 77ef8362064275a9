//! Replays the `pcap_read` fuzz seed corpus (`fuzz/corpus/pcap_read/`) through the reader on
//! stable Rust, with the fuzz target's checks, and holds the generator of those seeds.
//!
//! Seeds whose name starts with `valid-` must read to the end without error and hold at
//! least one UDP datagram; the others must end in a typed [`PcapError`]. Regenerate them with
//! `cargo test -p tandem-drivers --test pcap-corpus -- --ignored`.

use std::net::SocketAddr;

use tandem_drivers::PcapError;
use tandem_drivers::packet::Timestamp;
use tandem_drivers::packet::pcap::{
    LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, MAGIC_NANOS, PcapReader, PcapWriter, decode_udp,
};
use tandem_test_support::corpus;

/// The fuzz target's body: reads every record and decodes every frame; returns the
/// datagrams decoded and the error that ended the file, if any.
fn read_all(bytes: &[u8]) -> (usize, Option<PcapError>) {
    let reader = match PcapReader::new(bytes) {
        Ok(r) => r,
        Err(e) => return (0, Some(e)),
    };
    let link_type = reader.link_type();
    let mut datagrams = 0;
    for record in reader {
        let record = match record {
            Ok(r) => r,
            Err(e) => return (datagrams, Some(e)),
        };
        if let Ok(d) = decode_udp(link_type, record.data) {
            assert!(d.payload.len() + 8 <= record.data.len());
            datagrams += 1;
        }
    }
    (datagrams, None)
}

#[test]
fn pcap_read_corpus_replays() {
    let seeds = corpus::replay("pcap_read", |name, bytes| {
        let (datagrams, error) = read_all(bytes);
        if name.starts_with("valid-") {
            assert_eq!(error, None, "{name}");
            assert!(datagrams > 0, "{name}");
        } else {
            assert!(error.is_some(), "{name} read without error");
        }
    });
    assert!(seeds >= 4, "pcap_read corpus has {seeds} seeds");
}

fn rtp(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    p.extend(std::iter::repeat_n(0xff, 20));
    p
}

fn written(source: &str, destination: &str) -> Vec<u8> {
    let (s, d): (SocketAddr, SocketAddr) = (source.parse().unwrap(), destination.parse().unwrap());
    let mut w = PcapWriter::new(Vec::new(), 1 << 16).unwrap();
    for seq in 0..3 {
        w.write_udp(Timestamp::from_millis(20 * u64::from(seq)), s, d, &rtp(seq));
    }
    w.flush().unwrap();
    w.sink().clone()
}

/// A big-endian, nanosecond file of `link_type` with the given frames.
fn hand_built(link_type: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAGIC_NANOS.to_be_bytes());
    f.extend_from_slice(&2u16.to_be_bytes());
    f.extend_from_slice(&4u16.to_be_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_be_bytes());
    f.extend_from_slice(&link_type.to_be_bytes());
    for (i, frame) in frames.iter().enumerate() {
        f.extend_from_slice(&(i as u32).to_be_bytes());
        f.extend_from_slice(&999_999_999u32.to_be_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        f.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        f.extend_from_slice(frame);
    }
    f
}

fn ipv4_udp(payload: &[u8], flags_fragment: u16) -> Vec<u8> {
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1]);
    ip.extend_from_slice(&flags_fragment.to_be_bytes());
    ip.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    ip.extend_from_slice(&[0x4e, 0x20, 0x4e, 0x21]);
    ip.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(payload);
    ip
}

#[test]
#[ignore = "regenerates fuzz/corpus/pcap_read"]
fn write_seed_corpus() {
    let dir = corpus::dir("pcap_read");
    std::fs::create_dir_all(&dir).unwrap();
    let v4 = written("192.0.2.1:20000", "192.0.2.2:30000");
    std::fs::write(dir.join("valid-ipv4-rtp.pcap"), &v4).unwrap();
    std::fs::write(
        dir.join("valid-ipv6-rtp.pcap"),
        written("[2001:db8::1]:20000", "[2001:db8::2]:30000"),
    )
    .unwrap();
    // Raw IP, big-endian, nanoseconds: a datagram, a fragment and a non-UDP packet.
    let mut icmp = ipv4_udp(b"ping", 0);
    icmp[9] = 1;
    std::fs::write(
        dir.join("valid-raw-big-endian-nanos.pcap"),
        hand_built(
            LINKTYPE_RAW,
            &[ipv4_udp(&rtp(7), 0), ipv4_udp(b"frag", 0x2000), icmp],
        ),
    )
    .unwrap();
    // Linux cooked v2 (what `tcpdump -i any` writes).
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6];
    sll2.extend_from_slice(&[0; 8]);
    sll2.extend_from_slice(&ipv4_udp(&rtp(9), 0));
    std::fs::write(
        dir.join("valid-linux-sll2.pcap"),
        hand_built(LINKTYPE_LINUX_SLL2, &[sll2]),
    )
    .unwrap();
    std::fs::write(dir.join("truncated-record.pcap"), &v4[..v4.len() - 7]).unwrap();
    // A pcapng section header block: not classic libpcap.
    std::fs::write(
        dir.join("pcapng-header.pcap"),
        [
            0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1c, 0, 0, 0,
        ],
    )
    .unwrap();
    // A record that claims 4 GiB.
    let mut huge = v4[..24].to_vec();
    huge.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    std::fs::write(dir.join("huge-record-length.pcap"), huge).unwrap();
}
