//! Property test: for random rooms over several ticks, every participant's output equals a
//! straightforward reference: the limited sum of the *other* seated talkers' contributions
//! (`(sample * gain_q12) >> 12`), muted participants never mixed, deaf participants receiving
//! nothing.
//!
//! The reference sums each listener's mix from scratch, sample by sample, and runs it through
//! a [`Limiter`] whose state follows the listener as the module docs describe: listeners who
//! are not seated share the common mix's limiter; a talker's limiter starts as a copy of the
//! common one when they sit down; a seated talker with no audio this tick hears the common mix
//! and its limiter. Loud rooms are generated on purpose so the limiter's paths are exercised.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use tandem_dsp::mixer::{
    Gain, Limiter, MAX_TALKERS, Mixer, MixerConfig, OutputId, ParticipantId, TalkerFrame,
};

#[derive(Debug, Clone)]
struct Person {
    gain_q12: u16,
    muted: bool,
    deaf: bool,
}

#[derive(Debug, Clone)]
struct Room {
    rate_hz: u32,
    frame_ms: usize,
    max_talkers: usize,
    people: Vec<Person>,
    /// Per tick, per person: `Some((level_dbov, loudness class, seed))` if they submit.
    ticks: Vec<Vec<Option<(f32, u8, u64)>>>,
}

fn person() -> impl Strategy<Value = Person> {
    (
        prop_oneof![
            Just(4096u16),
            Just(4096),
            Just(0),
            Just(2048),
            Just(16_384),
            0u16..=16_384
        ],
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.2),
    )
        .prop_map(|(gain_q12, muted, deaf)| Person {
            gain_q12,
            muted,
            deaf,
        })
}

fn room() -> impl Strategy<Value = Room> {
    (
        prop_oneof![Just(8000u32), Just(16000), Just(48000)],
        prop_oneof![Just(10usize), Just(20)],
        1usize..=4,
        proptest::collection::vec(person(), 1..=10),
        1usize..=6,
    )
        .prop_flat_map(|(rate_hz, frame_ms, max_talkers, people, ticks)| {
            let n = people.len();
            let submission = proptest::option::weighted(0.5, (-60.0f32..0.0, 0u8..3, any::<u64>()));
            proptest::collection::vec(proptest::collection::vec(submission, n), ticks).prop_map(
                move |ticks| Room {
                    rate_hz,
                    frame_ms,
                    max_talkers,
                    people: people.clone(),
                    ticks,
                },
            )
        })
}

/// Deterministic PCM for one submission: quiet, speech-loud, or full scale.
fn pcm(len: usize, class: u8, seed: u64) -> Vec<i16> {
    let amplitude: i64 = match class {
        0 => 2000,
        1 => 9000,
        _ => 32_767,
    };
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state % (2 * amplitude as u64 + 1)) as i64 - amplitude) as i16
        })
        .collect()
}

fn contribution(x: i16, gain_q12: u16) -> i32 {
    (i32::from(x) * i32::from(gain_q12)) >> 12
}

fn check_room(room: &Room) -> Result<(), TestCaseError> {
    let frame = room.rate_hz as usize / 1000 * room.frame_ms;
    let mut config = MixerConfig::new(room.rate_hz, frame, room.people.len());
    config.max_talkers = room.max_talkers;
    let mut mixer = Mixer::new(config).unwrap();
    let ids: Vec<ParticipantId> = room
        .people
        .iter()
        .map(|p| {
            let id = mixer.add_participant().unwrap();
            mixer
                .set_gain(id, Gain::from_q12(p.gain_q12).unwrap())
                .unwrap();
            mixer.set_muted(id, p.muted).unwrap();
            mixer.set_deaf(id, p.deaf).unwrap();
            id
        })
        .collect();
    let who = |id: ParticipantId| ids.iter().position(|&i| i == id).unwrap();

    let mut common_limiter = Limiter::new(room.rate_hz);
    let mut seat_limiters: BTreeMap<usize, Limiter> = BTreeMap::new();
    let mut ever_submitted = BTreeSet::new();

    for (tick, submissions) in room.ticks.iter().enumerate() {
        let audio: Vec<Option<Vec<i16>>> = submissions
            .iter()
            .map(|s| s.map(|(_, class, seed)| pcm(frame, class, seed)))
            .collect();
        let frames: Vec<TalkerFrame<'_>> = submissions
            .iter()
            .zip(&audio)
            .enumerate()
            .filter_map(|(p, (s, a))| {
                Some(TalkerFrame {
                    participant: ids[p],
                    level_dbov: s.as_ref()?.0,
                    pcm: a.as_deref()?,
                })
            })
            .collect();
        let summary = mixer.mix(&frames).unwrap();

        // Selection invariants.
        let seated: Vec<(usize, OutputId)> =
            mixer.talkers().map(|(id, out)| (who(id), out)).collect();
        prop_assert!(seated.len() <= room.max_talkers.min(MAX_TALKERS));
        for &(p, _) in &seated {
            prop_assert!(!room.people[p].muted, "tick {tick}: muted {p} is seated");
        }
        for (p, s) in submissions.iter().enumerate() {
            if s.is_some() && !room.people[p].muted {
                ever_submitted.insert(p);
            }
        }
        if ever_submitted.len() <= room.max_talkers {
            for (p, s) in submissions.iter().enumerate() {
                if s.is_some() && !room.people[p].muted {
                    prop_assert!(
                        seated.iter().any(|&(q, _)| q == p),
                        "tick {tick}: {p} not seated"
                    );
                }
            }
        }

        // The reference mixes.
        let seated_set: BTreeSet<usize> = seated.iter().map(|&(p, _)| p).collect();
        seat_limiters.retain(|p, _| seated_set.contains(p));
        for &p in &seated_set {
            seat_limiters
                .entry(p)
                .or_insert_with(|| common_limiter.clone());
        }
        let with_audio: Vec<usize> = seated_set
            .iter()
            .copied()
            .filter(|&p| audio[p].is_some())
            .collect();
        let others_sum = |listener: Option<usize>| -> Vec<i32> {
            (0..frame)
                .map(|n| {
                    with_audio
                        .iter()
                        .filter(|&&t| Some(t) != listener)
                        .map(|&t| {
                            contribution(audio[t].as_ref().unwrap()[n], room.people[t].gain_q12)
                        })
                        .sum()
                })
                .collect()
        };
        let mut common = vec![0i16; frame];
        common_limiter.process(&others_sum(None), &mut common);
        let mut expected: Vec<Option<Vec<i16>>> = vec![None; ids.len()];
        for (p, person) in room.people.iter().enumerate() {
            if person.deaf {
                continue;
            }
            if !seated_set.contains(&p) {
                expected[p] = Some(common.clone());
            } else if audio[p].is_none() {
                seat_limiters.insert(p, common_limiter.clone());
                expected[p] = Some(common.clone());
            } else {
                let mut out = vec![0i16; frame];
                seat_limiters
                    .get_mut(&p)
                    .unwrap()
                    .process(&others_sum(Some(p)), &mut out);
                expected[p] = Some(out);
            }
        }

        // Compare, and count the distinct outputs actually routed.
        let mut routed = BTreeSet::new();
        for (p, &id) in ids.iter().enumerate() {
            let route = mixer.output_of(id).unwrap();
            match (&expected[p], route) {
                (None, None) => {}
                (Some(want), Some(out)) => {
                    routed.insert(out);
                    prop_assert_eq!(
                        mixer.output(out),
                        &want[..],
                        "tick {} participant {}",
                        tick,
                        p
                    );
                }
                (want, got) => {
                    prop_assert!(false, "tick {tick} participant {p}: {want:?} vs {got:?}")
                }
            }
        }
        let live: BTreeSet<OutputId> = mixer.outputs().collect();
        prop_assert!(routed.is_subset(&live));
        prop_assert_eq!(summary.outputs, live.len());
        prop_assert_eq!(summary.talkers, with_audio.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn every_output_equals_the_reference_sum(room in room()) {
        check_room(&room)?;
    }
}
