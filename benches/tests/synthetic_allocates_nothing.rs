//! The in-process load source keeps the worker's real-time contract: once its pairs are
//! open, delivering paced packets (catch-up bursts included), accounting what comes back and
//! decoding every returned packet allocate nothing (the counting allocator fails the test).

#![allow(missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use tandem_benches::synthetic::{Plan, SyntheticConfig, SyntheticIo, SyntheticStats, Voice};
use tandem_codecs::EncoderConfig;
use tandem_core::rtp::PayloadType;
use tandem_core::session::CodecSpec;
use tandem_drivers::packet::{
    MAX_BATCH, PacketBuf, PacketIo, PortRange, RecvMeta, Timestamp, Transmit,
};
use tandem_test_support::alloc::{CountingAllocator, allocations_in, counter_is_installed};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn delivering_and_accounting_allocate_nothing() {
    assert!(counter_is_installed());
    let opus = CodecSpec::opus(48000, PayloadType::new(111).unwrap());
    let voices = vec![
        Voice::speech(CodecSpec::PCMU, &EncoderConfig::DEFAULT).unwrap(),
        Voice::speech(opus, &EncoderConfig::DEFAULT).unwrap(),
    ];
    let stats = Arc::new(SyntheticStats::default());
    let config = SyntheticConfig {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        ports: PortRange::new(20000, 20199).unwrap(),
        peer_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        plan: Plan {
            voices: voices.into(),
            order: vec![0, 1],
        },
        sample_every: 1,
    };
    let mut io = SyntheticIo::new(config, Arc::clone(&stats)).unwrap();
    for _ in 0..40 {
        io.open_pair().unwrap();
    }
    let mut bufs = PacketBuf::new_vec(MAX_BATCH);
    let mut meta = RecvMeta::new_vec(MAX_BATCH);
    let ticks = 2000u64;
    let allocations = allocations_in(|| {
        for tick in 0..ticks {
            // Every seventh tick comes 30 ms late: a catch-up burst.
            let now =
                Timestamp::from_micros(tick * 10_000 + if tick % 7 == 0 { 30_000 } else { 0 });
            loop {
                let n = io.recv_batch(now, &mut bufs, &mut meta).unwrap();
                // Send every packet straight back, as an echoing worker would.
                let mut echo = [Transmit {
                    socket: meta[0].socket,
                    destination: meta[0].source,
                    payload: &[],
                }; MAX_BATCH];
                for (t, (buf, m)) in echo.iter_mut().zip(bufs.iter().zip(&meta)).take(n) {
                    *t = Transmit {
                        socket: m.socket,
                        destination: m.source,
                        payload: buf.payload(m.len),
                    };
                }
                io.send_batch(now, &echo[..n]).unwrap();
                if n < MAX_BATCH {
                    break;
                }
            }
        }
    });
    let s = stats.snapshot();
    assert_eq!(
        allocations.count, 0,
        "first allocation: {} bytes",
        allocations.first_size
    );
    // 40 streams for 20 s of virtual time, every packet back, decoded, with speech in it.
    assert!(s.delivered >= 40 * 990, "{s:?}");
    assert_eq!(s.returned, s.delivered, "{s:?}");
    assert_eq!(
        (s.wrong_payload_type, s.misdirected, s.decode_errors),
        (0, 0, 0)
    );
    assert!(s.sampled_voiced * 2 >= s.sampled, "{s:?}");
}
