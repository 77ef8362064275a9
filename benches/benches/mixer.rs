//! The conference mixer (`tandem_dsp::mixer`) on the unit the media path runs: one 20 ms tick
//! of a room, at 8 kHz (160 samples) and 48 kHz (960 samples).
//!
//! Group `mixer`, ids `<case>/<rate>Hz/<participants>`; throughput is in participants, so the
//! time per participant is the reciprocal of the reported rate:
//!
//! - `mix`: three talkers submit and are mixed (the talkers' speech-like frames sum well below
//!   the limiter threshold, the common case). The cost target is ≤ 0.1 µs per participant per
//!   tick, and the 1,000-participant room must cost no more than twice the 10-participant room:
//!   participants who do not talk cost the mixer nothing, so the three rooms should cost the
//!   same.
//! - `mix+route`: the same, plus [`Mixer::output_of`] for every participant, the lookup the
//!   runtime does to send each listener its shared payload.
//! - `mix-loud`: three talkers near full scale, so every output goes through the limiter.
//! - `mix-contended`: twenty participants submit every tick (a noisy room) and three are seated.
//!
//! Run: `cargo bench -p tandem-benches --bench mixer -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tandem_dsp::mixer::{Mixer, MixerConfig, ParticipantId};

/// Frames of talker audio cycled through, so the mixer never sees one frame repeated.
const FRAMES: usize = 50;
const TALKERS: usize = 3;

/// `FRAMES` frames of a speech stand-in at `rms_dbov`: harmonics of a gliding pitch.
fn voice(rate: u32, frame: usize, pitch: f64, rms_dbov: f64) -> Vec<Vec<i16>> {
    let amplitude = 32768.0 * 10f64.powf(rms_dbov / 20.0) * 1.2;
    (0..FRAMES)
        .map(|f| {
            (0..frame)
                .map(|n| {
                    let t = (f * frame + n) as f64 / f64::from(rate);
                    let phase = 2.0 * std::f64::consts::PI * pitch * t
                        - 20.0 / 1.7 * (2.0 * std::f64::consts::PI * 1.7 * t).cos();
                    let harmonics: f64 = (1..=10)
                        .map(|h| (phase * f64::from(h)).sin() / f64::from(h))
                        .sum();
                    (amplitude * harmonics).clamp(-32768.0, 32767.0) as i16
                })
                .collect()
        })
        .collect()
}

struct Room {
    mixer: Mixer,
    ids: Vec<ParticipantId>,
    voices: Vec<Vec<Vec<i16>>>,
}

fn room(rate: u32, participants: usize, talkers: usize, rms_dbov: f64) -> Room {
    let frame = rate as usize / 50;
    let mut mixer = Mixer::new(MixerConfig::new(rate, frame, participants)).unwrap();
    let ids: Vec<ParticipantId> = (0..participants)
        .map(|_| mixer.add_participant().unwrap())
        .collect();
    let voices = (0..talkers)
        .map(|k| voice(rate, frame, 110.0 + 40.0 * k as f64, rms_dbov))
        .collect();
    Room { mixer, ids, voices }
}

/// One tick: the first `voices.len()` participants submit (spread over the room) and the
/// mixer mixes them.
fn tick(room: &mut Room, frame: usize) {
    let stride = room.ids.len() / room.voices.len();
    for k in 0..room.voices.len() {
        let level = -20.0 - k as f32 - (frame % 7) as f32 * 0.1;
        room.mixer
            .submit(room.ids[k * stride], black_box(level))
            .unwrap();
    }
    let Room { mixer, ids, voices } = room;
    let summary = mixer
        .mix_with(|id| {
            let k = ids.iter().step_by(stride).position(|&i| i == id)?;
            Some(&voices[k][frame][..])
        })
        .unwrap();
    black_box(summary);
}

fn bench_mixer(c: &mut Criterion) {
    let mut group = c.benchmark_group("mixer");
    for rate in [8000u32, 48000] {
        for participants in [10usize, 50, 1000] {
            group.throughput(Throughput::Elements(participants as u64));
            let id = |case: &str| BenchmarkId::new(case, format!("{rate}Hz/{participants}"));

            let mut quiet = room(rate, participants, TALKERS, -24.0);
            let mut frame = 0;
            group.bench_function(id("mix"), |b| {
                b.iter(|| {
                    frame = (frame + 1) % FRAMES;
                    tick(&mut quiet, frame);
                })
            });

            group.bench_function(id("mix+route"), |b| {
                b.iter(|| {
                    frame = (frame + 1) % FRAMES;
                    tick(&mut quiet, frame);
                    let mut routed = 0usize;
                    for &p in &quiet.ids {
                        routed += quiet.mixer.output_of(p).unwrap().map_or(0, |o| o.index());
                    }
                    black_box(routed);
                })
            });

            if participants == 10 {
                let mut loud = room(rate, participants, TALKERS, -4.0);
                group.bench_function(id("mix-loud"), |b| {
                    b.iter(|| {
                        frame = (frame + 1) % FRAMES;
                        tick(&mut loud, frame);
                    })
                });
            }
            if participants == 1000 {
                let mut noisy = room(rate, participants, 20, -30.0);
                group.bench_function(id("mix-contended"), |b| {
                    b.iter(|| {
                        frame = (frame + 1) % FRAMES;
                        tick(&mut noisy, frame);
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, bench_mixer);
criterion_main!(benches);
