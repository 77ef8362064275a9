//! The real-time contract, checked: once built and warmed up, a conference tick (talk detection
//! per talker, submissions, mix-minus, routing every participant, joins and leaves within
//! capacity) performs no heap allocation.
//!
//! A counting global allocator records allocations made by this test's own thread while armed;
//! other threads of the test harness are not counted.

use tandem_dsp::mixer::{Mixer, MixerConfig, ParticipantId};
use tandem_dsp::talk::{TalkConfig, TalkDetector};
use tandem_test_support::alloc::{CountingAllocator, allocations_in, counter_is_installed};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn the_counter_sees_allocations() {
    assert!(counter_is_installed());
}

#[test]
fn a_warmed_up_conference_tick_never_allocates() {
    for (rate, participants) in [(8000u32, 1000usize), (48000, 50)] {
        let frame = rate as usize / 50;
        let mut mixer = Mixer::new(MixerConfig::new(rate, frame, participants)).unwrap();
        let mut ids: Vec<ParticipantId> = (0..participants - 1)
            .map(|_| mixer.add_participant().unwrap())
            .collect();
        let talkers = 5;
        let mut detectors: Vec<TalkDetector> = (0..talkers)
            .map(|_| TalkDetector::new(TalkConfig::new(rate)).unwrap())
            .collect();
        let mut pcm = vec![vec![0i16; frame]; talkers];
        let mut talking = vec![false; talkers];
        let mut routed = 0usize;

        let mut tick = |t: usize, mixer: &mut Mixer, ids: &mut Vec<ParticipantId>| {
            for (k, frame_pcm) in pcm.iter_mut().enumerate() {
                // Syllables of a gliding buzz, loud enough now and then to need the limiter.
                for (n, sample) in frame_pcm.iter_mut().enumerate() {
                    let time = (t * frame + n) as f64 / f64::from(rate);
                    let syllable = (std::f64::consts::PI * (2.0 + k as f64) * time)
                        .sin()
                        .powi(2);
                    let pitch = 2.0 * std::f64::consts::PI * (120.0 + 20.0 * k as f64) * time;
                    *sample =
                        (12_000.0 * syllable * (pitch.sin() + 0.5 * (2.0 * pitch).sin())) as i16;
                }
                detectors[k].process(frame_pcm);
                talking[k] = detectors[k].is_talking();
            }
            for k in 0..talkers {
                if talking[k] {
                    mixer.submit(ids[k * 7], detectors[k].level_dbov()).unwrap();
                }
            }
            mixer
                .mix_with(|id| {
                    (0..talkers)
                        .find(|&k| ids[k * 7] == id)
                        .map(|k| &pcm[k][..])
                })
                .unwrap();
            for &id in ids.iter() {
                let first = mixer
                    .output_of(id)
                    .unwrap()
                    .map_or(0, |o| mixer.output(o)[0]);
                routed = routed.wrapping_add(first as u16 as usize);
            }
            // Someone leaves and someone joins, within capacity.
            if t % 10 == 0 {
                let leaving = ids.swap_remove(participants / 2);
                mixer.remove_participant(leaving).unwrap();
                ids.push(mixer.add_participant().unwrap());
            }
        };
        // Warm up: the first ticks may touch lazily initialised library state.
        for t in 0..20 {
            tick(t, &mut mixer, &mut ids);
        }
        let allocations = allocations_in(|| {
            for t in 20..220 {
                tick(t, &mut mixer, &mut ids);
            }
        })
        .count;
        assert_eq!(
            allocations, 0,
            "{rate} Hz: {allocations} allocations in 200 ticks"
        );
        assert!(mixer.talkers().count() > 0);
        std::hint::black_box(routed);
    }
}
