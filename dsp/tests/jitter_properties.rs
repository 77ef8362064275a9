//! Properties of the jitter buffer for any arrival order, loss and duplication of a packet
//! sequence, in virtual time:
//!
//! - **in order**: packets are decoded in strictly increasing sequence order, each at most once;
//! - **loses nothing it could play**: every packet the buffer stored (its push returned `Ok`) is
//!   decoded, unless it is counted as discarded (and with delays below the maximum, none is);
//!   a packet the buffer refused as late is one playout had already passed;
//! - **bounded**: no packet waits longer than the maximum delay between its arrival and its
//!   decoding, and the reported delay never exceeds the maximum.
//!
//! A recording decoder stands in for the codec: it logs which packet each decode call received
//! and when, and writes a constant frame.

use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use tandem_codecs::{DecodeError, Decoder, Format};
use tandem_dsp::jitter::{JitterBuffer, JitterConfig, PlayoutMode, PushError, RtpPacket};

const MAX_DELAY_MS: u32 = 300;

/// (packet index, pop time in µs) of every decode, in call order.
type Log = Arc<Mutex<(u64, Vec<(u32, u64)>)>>;

/// A PCMU-shaped decoder whose payloads carry their packet index in the first four bytes.
struct Recorder {
    log: Log,
}

impl Decoder for Recorder {
    fn format(&self) -> Format {
        Format::PCMU
    }

    fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, DecodeError> {
        let index = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
        let mut log = self.log.lock().unwrap();
        let now = log.0;
        log.1.push((index, now));
        let n = payload.len();
        for (i, s) in pcm[..n].iter_mut().enumerate() {
            *s = ((i as f32 * 0.3).sin() * 3000.0) as i16;
        }
        Ok(n)
    }

    fn conceal(&mut self, pcm: &mut [i16]) -> usize {
        pcm.fill(0);
        pcm.len()
    }

    fn samples_in(&self, payload: &[u8]) -> Result<usize, DecodeError> {
        Ok(payload.len())
    }

    fn reset(&mut self) {}
}

/// What happens to one packet on the way.
#[derive(Debug, Clone)]
struct Fate {
    /// Extra delay over the base, µs.
    jitter_us: u64,
    lost: bool,
    duplicated: bool,
}

fn fate(max_jitter_ms: u64) -> impl Strategy<Value = Fate> {
    (0..=max_jitter_ms * 1000, 0u8..100, 0u8..100).prop_map(|(jitter_us, l, d)| Fate {
        jitter_us,
        lost: l < 10,
        duplicated: d < 10,
    })
}

fn scenario() -> impl Strategy<Value = (Vec<Fate>, u16)> {
    // Delays up to 150 ms (half the maximum), sequence numbers starting anywhere, so some
    // cases wrap around 65535.
    (
        (0u64..=150).prop_flat_map(|j| proptest::collection::vec(fate(j), 20..120)),
        any::<u16>(),
    )
}

/// Every playout mode: the properties hold for the baselines too.
fn mode() -> impl Strategy<Value = PlayoutMode> {
    prop_oneof![
        2 => Just(PlayoutMode::Adaptive),
        1 => Just(PlayoutMode::Fixed { delay_ms: 60 }),
        1 => Just(PlayoutMode::Anchored { delay_ms: 60 }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn output_is_ordered_bounded_and_complete((fates, seq0) in scenario(), mode in mode()) {
        let log: Log = Arc::new(Mutex::new((0, Vec::new())));
        let mut config = JitterConfig::new(0);
        config.max_delay_ms = MAX_DELAY_MS;
        config.mode = mode;
        let mut jb = JitterBuffer::with_decoder(Box::new(Recorder { log: log.clone() }), &config)
            .unwrap();
        // Build every delivery: (arrival µs, packet index).
        let mut deliveries: Vec<(u64, u32)> = Vec::new();
        for (i, f) in fates.iter().enumerate() {
            if f.lost {
                continue;
            }
            let at = (i as u64 + 1) * 20_000 + 30_000 + f.jitter_us;
            deliveries.push((at, i as u32));
            if f.duplicated {
                deliveries.push((at + 7_000, i as u32));
            }
        }
        deliveries.sort();
        let last = deliveries.last().map_or(0, |d| d.0);
        let mut stored = Vec::new();
        let mut arrival = vec![None; fates.len()];
        let mut pcm = vec![0i16; jb.frame_samples()];
        let mut next = 0;
        let mut now = 0u64;
        while now < last + 1_000_000 {
            while next < deliveries.len() && deliveries[next].0 <= now {
                let (at, index) = deliveries[next];
                let mut payload = vec![0xFFu8; 160];
                payload[..4].copy_from_slice(&index.to_be_bytes());
                let packet = RtpPacket {
                    sequence_number: seq0.wrapping_add(index as u16),
                    timestamp: 1234 + index * 160,
                    marker: index == 0,
                    ssrc: 77,
                    payload_type: 0,
                    payload: &payload,
                };
                match jb.push(at, &packet) {
                    Ok(_) => {
                        stored.push(index);
                        arrival[index as usize] = Some(at);
                    }
                    Err(PushError::Late { .. }) | Err(PushError::Duplicate { .. }) => {}
                    Err(other) => prop_assert!(false, "unexpected {other:?}"),
                }
                next += 1;
            }
            log.lock().unwrap().0 = now;
            jb.pop(now, &mut pcm).unwrap();
            prop_assert!(jb.stats().current_delay_ms <= MAX_DELAY_MS);
            now += 10_000;
        }
        let decoded = log.lock().unwrap().1.clone();
        // In order, each at most once.
        for w in decoded.windows(2) {
            prop_assert!(w[0].0 < w[1].0, "decoded {} after {}", w[1].0, w[0].0);
        }
        // Everything stored was decoded; the adaptive buffer discarded nothing, a fixed one
        // only what its frame slips gave up (counted).
        let stats = *jb.stats();
        let mut decoded_indices: Vec<u32> = decoded.iter().map(|d| d.0).collect();
        decoded_indices.sort_unstable();
        stored.sort_unstable();
        if mode == PlayoutMode::Adaptive {
            prop_assert_eq!(stats.packets_discarded, 0);
            prop_assert_eq!(&decoded_indices, &stored);
        } else {
            prop_assert!(decoded_indices.iter().all(|i| stored.binary_search(i).is_ok()));
            prop_assert_eq!(
                decoded_indices.len() as u64 + stats.packets_discarded,
                stored.len() as u64
            );
        }
        // Bounded: from arrival to decoding within the maximum delay (plus the frame that
        // rounds the pop clock).
        for &(index, at) in &decoded {
            let arrived = arrival[index as usize].unwrap();
            prop_assert!(
                at <= arrived + u64::from(MAX_DELAY_MS) * 1000 + 10_000,
                "packet {index} arrived at {arrived} µs, decoded at {at} µs"
            );
        }
        // Counters add up: from the first packet played to the last, every packet was played,
        // lost or (slipped) discarded, and every push is accounted for.
        if let (Some(first), Some(last)) = (
            decoded.iter().map(|d| d.0).min(),
            decoded.iter().map(|d| d.0).max(),
        ) {
            prop_assert_eq!(
                stats.packets_played + stats.packets_lost + stats.packets_discarded,
                u64::from(last - first + 1)
            );
        }
        prop_assert_eq!(
            stats.packets_received,
            stats.packets_played
                + stats.packets_late
                + stats.packets_duplicate
                + stats.packets_discarded
        );
    }
}
