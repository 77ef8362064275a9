//! Jitter buffer costs per 20 ms of audio: push one packet and pop two 10 ms frames (decoding
//! included), on a clean link and on a rough one (jitter, 3 % loss, reordering, so concealment
//! and time-stretching run too); and the concealment alone (waveform substitution for a 20 ms
//! gap, from pitch search to the blend back into real audio), beside libopus' own PLC.
//!
//! ```text
//! cargo bench -p tandem-benches --bench jitter
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tandem_codecs::{EncoderConfig, Format, registry};
use tandem_dsp::jitter::conceal::WaveformSubstitution;
use tandem_dsp::jitter::{JitterBuffer, JitterConfig, RtpPacket};

/// Speech-like audio: a 130 Hz voice with harmonics.
fn voice(rate: u32, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|i| {
            let p = 2.0 * std::f64::consts::PI * 130.0 * i as f64 / f64::from(rate);
            (5000.0 * (p.sin() + 0.5 * (2.0 * p).sin() + 0.3 * (3.0 * p).sin())) as i16
        })
        .collect()
}

/// 500 PCMU packets of 20 ms.
fn pcmu_packets() -> Vec<Vec<u8>> {
    let mut encoder = registry::new_encoder(Format::PCMU, &EncoderConfig::default()).unwrap();
    voice(8000, 160 * 500)
        .chunks_exact(160)
        .map(|f| {
            let mut out = vec![0u8; 160];
            encoder.encode(f, &mut out).unwrap();
            out
        })
        .collect()
}

/// Arrival offsets (µs after the nominal time) for a rough link; `None` is a loss. The
/// offsets stay within 60 ms so reordering happens without exceeding the maximum delay.
fn rough_link(count: usize) -> Vec<Option<u64>> {
    let mut seed = 0x1234_5678_u64;
    (0..count)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = seed >> 33;
            if r % 100 < 3 {
                None
            } else {
                Some((r >> 8) % 60_000)
            }
        })
        .collect()
}

/// Drives a buffer through the packets forever: each call pushes what arrives in the next
/// 20 ms and pops two frames.
struct Driver {
    jb: JitterBuffer,
    packets: Vec<Vec<u8>>,
    offsets: Vec<Option<u64>>,
    /// (arrival µs, packet number) waiting to be delivered, in arrival order.
    pending: Vec<(u64, u64)>,
    next_packet: u64,
    now: u64,
    pcm: Vec<i16>,
}

impl Driver {
    fn new(offsets: Vec<Option<u64>>) -> Self {
        let jb = JitterBuffer::new(Format::PCMU, &JitterConfig::new(0)).unwrap();
        let pcm = vec![0i16; jb.frame_samples()];
        let mut pending = Vec::with_capacity(64);
        pending.reserve(64);
        Self {
            jb,
            packets: pcmu_packets(),
            offsets,
            pending,
            next_packet: 0,
            now: 0,
            pcm,
        }
    }

    fn tick(&mut self) {
        // Send the next packet.
        let n = self.next_packet;
        let i = (n % self.offsets.len() as u64) as usize;
        if let Some(offset) = self.offsets[i] {
            let at = self.now + 30_000 + offset;
            let place = self.pending.partition_point(|&(t, _)| t <= at);
            self.pending.insert(place, (at, n));
        }
        self.next_packet += 1;
        for half in 0..2 {
            let now = self.now + half * 10_000;
            while let Some(&(at, k)) = self.pending.first() {
                if at > now {
                    break;
                }
                self.pending.remove(0);
                let payload = &self.packets[(k % self.packets.len() as u64) as usize];
                let packet = RtpPacket {
                    sequence_number: k as u16,
                    timestamp: (k as u32).wrapping_mul(160),
                    marker: false,
                    ssrc: 1,
                    payload_type: 0,
                    payload,
                };
                let _ = black_box(self.jb.push(at, &packet));
            }
            black_box(self.jb.pop(now, &mut self.pcm).unwrap());
        }
        self.now += 20_000;
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("jitter");
    group.throughput(Throughput::Elements(160));

    let mut clean = Driver::new(vec![Some(0); 500]);
    for _ in 0..200 {
        clean.tick();
    }
    group.bench_function("pcmu_push_pop_20ms_clean", |b| b.iter(|| clean.tick()));

    let mut rough = Driver::new(rough_link(500));
    for _ in 0..200 {
        rough.tick();
    }
    group.bench_function("pcmu_push_pop_20ms_rough", |b| b.iter(|| rough.tick()));

    for rate in [8000u32, 16000] {
        let n = rate as usize / 50;
        let history_src = voice(rate, rate as usize / 10);
        let mut plc = WaveformSubstitution::new(rate).unwrap();
        let mut history = history_src.clone();
        let mut gap = vec![0i16; n];
        let mut next = voice(rate, n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("plc_gap_20ms_{}k", rate / 1000), |b| {
            b.iter(|| {
                history.copy_from_slice(&history_src);
                plc.conceal_into(black_box(&mut history), 0, &mut gap);
                plc.resume(&mut next);
                black_box(&gap);
            })
        });
    }

    let mut opus = registry::new_decoder(Format::opus(16000)).unwrap();
    let mut encoder =
        registry::new_encoder(Format::opus(16000), &EncoderConfig::default()).unwrap();
    let mut payload = vec![0u8; 1500];
    let mut pcm = vec![0i16; 320];
    for f in voice(16000, 320 * 10).chunks_exact(320) {
        let len = encoder.encode(f, &mut payload).unwrap();
        opus.decode(&payload[..len], &mut pcm).unwrap();
    }
    group.throughput(Throughput::Elements(320));
    group.bench_function("opus16_codec_plc_20ms", |b| {
        b.iter(|| black_box(opus.conceal(black_box(&mut pcm))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
