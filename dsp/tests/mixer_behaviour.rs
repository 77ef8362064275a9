//! Conference mixer behaviours: shared outputs, top-N hysteresis through the public API, mute,
//! deaf and gain, the limiter on real overloads, capacity and misuse errors, and talk detection
//! driving talker selection.

use tandem_dsp::mixer::limiter::{LIMITER_CEILING, LIMITER_THRESHOLD};
use tandem_dsp::mixer::{
    Gain, MAX_TALKERS, Mixer, MixerConfig, MixerConfigError, MixerError, OutputId, ParticipantId,
    TalkerFrame,
};
use tandem_dsp::talk::{TalkConfig, TalkDetector};

const RATE: u32 = 8000;
const FRAME: usize = 160;

fn room(participants: usize) -> (Mixer, Vec<ParticipantId>) {
    let mut mixer = Mixer::new(MixerConfig::new(RATE, FRAME, participants)).unwrap();
    let ids = (0..participants)
        .map(|_| mixer.add_participant().unwrap())
        .collect();
    (mixer, ids)
}

fn tone(hz: f64, amplitude: f64, tick: usize) -> Vec<i16> {
    (0..FRAME)
        .map(|n| {
            let t = (tick * FRAME + n) as f64 / f64::from(RATE);
            (amplitude * (2.0 * std::f64::consts::PI * hz * t).sin()).round() as i16
        })
        .collect()
}

fn frame<'a>(id: ParticipantId, level: f32, pcm: &'a [i16]) -> TalkerFrame<'a> {
    TalkerFrame {
        participant: id,
        level_dbov: level,
        pcm,
    }
}

#[test]
fn a_thousand_listeners_and_three_talkers_make_exactly_four_outputs() {
    let (mut mixer, ids) = room(1000);
    let voices: Vec<Vec<i16>> = (0..3)
        .map(|k| tone(300.0 + 100.0 * k as f64, 3000.0, 0))
        .collect();
    let frames: Vec<TalkerFrame<'_>> = (0..3)
        .map(|k| frame(ids[100 * k + 7], -20.0, &voices[k]))
        .collect();
    let summary = mixer.mix(&frames).unwrap();
    assert_eq!(summary.talkers, 3);
    assert_eq!(summary.outputs, 4);
    let mut routed: Vec<OutputId> = ids
        .iter()
        .map(|&id| mixer.output_of(id).unwrap().unwrap())
        .collect();
    routed.sort();
    routed.dedup();
    assert_eq!(routed.len(), 4, "{routed:?}");
    assert_eq!(mixer.outputs().collect::<Vec<_>>(), routed);
    let listeners = ids
        .iter()
        .filter(|&&id| mixer.output_of(id).unwrap() == Some(OutputId::COMMON));
    assert_eq!(listeners.count(), 997);
    // The common mix is the plain sum (well below the limiter threshold).
    let common = mixer.output(OutputId::COMMON);
    for n in 0..FRAME {
        let sum: i32 = voices.iter().map(|v| i32::from(v[n])).sum();
        assert_eq!(i32::from(common[n]), sum);
    }
}

#[test]
fn each_talker_hears_everyone_but_themselves() {
    let (mut mixer, ids) = room(5);
    let a = tone(300.0, 4000.0, 0);
    let b = tone(500.0, 4000.0, 0);
    let c = tone(700.0, 4000.0, 0);
    mixer
        .mix(&[
            frame(ids[0], -20.0, &a),
            frame(ids[1], -20.0, &b),
            frame(ids[2], -20.0, &c),
        ])
        .unwrap();
    let hears = |p: usize| {
        mixer
            .output(mixer.output_of(ids[p]).unwrap().unwrap())
            .to_vec()
    };
    for n in 0..FRAME {
        let (a, b, c) = (i32::from(a[n]), i32::from(b[n]), i32::from(c[n]));
        assert_eq!(i32::from(hears(0)[n]), b + c);
        assert_eq!(i32::from(hears(1)[n]), a + c);
        assert_eq!(i32::from(hears(2)[n]), a + b);
        assert_eq!(i32::from(hears(3)[n]), a + b + c);
    }
}

#[test]
fn a_lone_talker_hears_silence_and_the_room_hears_them() {
    let (mut mixer, ids) = room(3);
    let a = tone(400.0, 5000.0, 0);
    mixer.mix(&[frame(ids[0], -20.0, &a)]).unwrap();
    let own = mixer.output_of(ids[0]).unwrap().unwrap();
    assert!(mixer.output(own).iter().all(|&v| v == 0));
    assert!(mixer.is_silent(own));
    assert_eq!(mixer.output(OutputId::COMMON), &a[..]);
    assert!(!mixer.is_silent(OutputId::COMMON));
}

#[test]
fn muted_participants_are_never_mixed_but_still_hear_the_room() {
    let (mut mixer, ids) = room(4);
    let a = tone(300.0, 4000.0, 0);
    let b = tone(500.0, 4000.0, 0);
    mixer.set_muted(ids[1], true).unwrap();
    mixer
        .mix(&[frame(ids[0], -20.0, &a), frame(ids[1], -10.0, &b)])
        .unwrap();
    assert_eq!(
        mixer.talkers().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![ids[0]]
    );
    assert_eq!(mixer.output(OutputId::COMMON), &a[..]);
    assert_eq!(mixer.output_of(ids[1]).unwrap(), Some(OutputId::COMMON));

    // Muting a seated talker takes them out at once.
    mixer.set_muted(ids[0], true).unwrap();
    mixer.mix(&[frame(ids[0], -20.0, &a)]).unwrap();
    assert_eq!(mixer.talkers().count(), 0);
    assert!(mixer.output(OutputId::COMMON).iter().all(|&v| v == 0));
    assert!(mixer.is_silent(OutputId::COMMON));
}

#[test]
fn deaf_participants_receive_nothing_but_are_still_heard() {
    let (mut mixer, ids) = room(4);
    let a = tone(300.0, 4000.0, 0);
    let b = tone(500.0, 4000.0, 0);
    mixer.set_deaf(ids[0], true).unwrap();
    mixer.set_deaf(ids[3], true).unwrap();
    let summary = mixer
        .mix(&[frame(ids[0], -20.0, &a), frame(ids[1], -20.0, &b)])
        .unwrap();
    assert_eq!(mixer.output_of(ids[0]).unwrap(), None);
    assert_eq!(mixer.output_of(ids[3]).unwrap(), None);
    // The deaf talker's minus mix is not produced; the others hear them.
    assert_eq!(summary.outputs, 2);
    assert_eq!(
        mixer.output(mixer.output_of(ids[1]).unwrap().unwrap()),
        &a[..]
    );
    let common = mixer.output(OutputId::COMMON);
    assert!((0..FRAME).all(|n| i32::from(common[n]) == i32::from(a[n]) + i32::from(b[n])));
}

#[test]
fn gain_scales_what_others_hear() {
    let (mut mixer, ids) = room(2);
    let a = tone(300.0, 8000.0, 0);
    mixer
        .set_gain(ids[0], Gain::from_db(-6.0).unwrap())
        .unwrap();
    assert_eq!(mixer.settings(ids[0]).unwrap().0.q12(), 2053);
    mixer.mix(&[frame(ids[0], -20.0, &a)]).unwrap();
    let heard = mixer.output(OutputId::COMMON);
    for n in 0..FRAME {
        assert_eq!(i32::from(heard[n]), (i32::from(a[n]) * 2053) >> 12);
    }
    mixer
        .set_gain(ids[0], Gain::from_db(f32::NEG_INFINITY).unwrap())
        .unwrap();
    mixer.mix(&[frame(ids[0], -20.0, &a)]).unwrap();
    assert!(mixer.output(OutputId::COMMON).iter().all(|&v| v == 0));
    assert_eq!(Gain::from_db(12.0).map(Gain::q12), Some(16_306));
    assert_eq!(Gain::from_db(12.1), None);
    assert_eq!(Gain::from_db(f32::NAN), None);
    assert_eq!(Gain::from_q12(16_385), None);
}

#[test]
fn ten_full_scale_talkers_are_limited_without_wrapping() {
    let mut config = MixerConfig::new(RATE, FRAME, 12);
    config.max_talkers = 10;
    let mut mixer = Mixer::new(config).unwrap();
    let ids: Vec<ParticipantId> = (0..12).map(|_| mixer.add_participant().unwrap()).collect();
    for tick in 0..25 {
        // Ten in-phase full-scale 440 Hz tones: the sum reaches ten times full scale.
        let voice = tone(440.0, 32_767.0, tick);
        let frames: Vec<TalkerFrame<'_>> = (0..10).map(|k| frame(ids[k], -3.0, &voice)).collect();
        let summary = mixer.mix(&frames).unwrap();
        assert_eq!(summary.talkers, 10);
        for out in mixer.outputs() {
            let pcm = mixer.output(out);
            for (n, &v) in pcm.iter().enumerate() {
                assert!(
                    i32::from(v).abs() <= LIMITER_CEILING,
                    "tick {tick} {out:?}: {v}"
                );
                // Never wrapped: the sign follows the (in-phase) input.
                assert!(
                    i32::from(v) * i32::from(voice[n]).signum() >= 0,
                    "tick {tick} {out:?} n {n}"
                );
            }
            if tick > 0 {
                let peak = pcm.iter().map(|v| v.unsigned_abs()).max().unwrap();
                assert!(
                    peak > 25_000,
                    "tick {tick} {out:?}: peak {peak}, limited too hard"
                );
            }
        }
        assert!(summary.limited > 0);
    }
}

#[test]
fn the_mix_is_bit_exact_below_the_limiter_threshold() {
    let (mut mixer, ids) = room(4);
    // Three talkers whose sum peaks just under -6 dBFS.
    let amplitude = f64::from(LIMITER_THRESHOLD) / 3.0 - 1.0;
    for tick in 0..50 {
        let voices: Vec<Vec<i16>> = (0..3).map(|_| tone(250.0, amplitude, tick)).collect();
        let frames: Vec<TalkerFrame<'_>> =
            (0..3).map(|k| frame(ids[k], -20.0, &voices[k])).collect();
        let summary = mixer.mix(&frames).unwrap();
        assert_eq!(summary.limited, 0);
        let common = mixer.output(OutputId::COMMON);
        assert!((0..FRAME).all(|n| i32::from(common[n]) == 3 * i32::from(voices[0][n])));
        let own = mixer.output(mixer.output_of(ids[0]).unwrap().unwrap());
        assert!((0..FRAME).all(|n| i32::from(own[n]) == 2 * i32::from(voices[0][n])));
    }
}

#[test]
fn one_quiet_tick_keeps_the_seat_and_its_output() {
    let (mut mixer, ids) = room(6);
    let pcm = tone(300.0, 3000.0, 0);
    let levels = [-20.0, -20.0, -24.0];
    let three: Vec<TalkerFrame<'_>> = (0..3).map(|k| frame(ids[k], levels[k], &pcm)).collect();
    mixer.mix(&three).unwrap();
    let seat_of_2 = mixer.output_of(ids[2]).unwrap();
    // Talker 2 pauses for a tick while a slightly louder newcomer speaks.
    mixer
        .mix(&[three[0], three[1], frame(ids[4], -20.0, &pcm)])
        .unwrap();
    assert_eq!(mixer.output_of(ids[2]).unwrap(), seat_of_2);
    assert_eq!(mixer.output_of(ids[4]).unwrap(), Some(OutputId::COMMON));
    // The paused talker hears the whole room (they contribute nothing this tick).
    assert_eq!(
        mixer.output(seat_of_2.unwrap()),
        mixer.output(OutputId::COMMON)
    );
    // A clearly louder newcomer takes the weakest seat, and its output id.
    mixer
        .mix(&[three[0], three[1], three[2], frame(ids[5], -17.0, &pcm)])
        .unwrap();
    assert_eq!(mixer.output_of(ids[5]).unwrap(), seat_of_2);
    assert_eq!(mixer.output_of(ids[2]).unwrap(), Some(OutputId::COMMON));
}

#[test]
fn a_talker_who_stops_submitting_leaves_after_the_hold() {
    let (mut mixer, ids) = room(3);
    let pcm = tone(300.0, 3000.0, 0);
    mixer.mix(&[frame(ids[0], -20.0, &pcm)]).unwrap();
    // Default hold: 200 ms, ten 20 ms ticks.
    for _ in 0..10 {
        mixer.mix(&[]).unwrap();
        assert_eq!(mixer.talkers().count(), 1);
    }
    mixer.mix(&[]).unwrap();
    assert_eq!(mixer.talkers().count(), 0);
    assert_eq!(mixer.output_of(ids[0]).unwrap(), Some(OutputId::COMMON));
}

#[test]
fn pcm_is_requested_for_seated_talkers_only() {
    let (mut mixer, ids) = room(20);
    let pcm = tone(300.0, 3000.0, 0);
    for (k, &id) in ids.iter().enumerate() {
        mixer.submit(id, -40.0 + k as f32).unwrap();
    }
    let mut asked = Vec::new();
    mixer
        .mix_with(|id| {
            asked.push(id);
            Some(&pcm[..])
        })
        .unwrap();
    asked.sort_by_key(|id| id.index());
    assert_eq!(asked, vec![ids[17], ids[18], ids[19]]);
}

#[test]
fn capacity_and_stale_ids_are_errors() {
    let (mut mixer, ids) = room(2);
    assert_eq!(
        mixer.add_participant(),
        Err(MixerError::Full {
            max_participants: 2
        })
    );
    mixer.remove_participant(ids[0]).unwrap();
    assert_eq!(mixer.participant_count(), 1);
    assert_eq!(
        mixer.submit(ids[0], -20.0),
        Err(MixerError::UnknownParticipant(ids[0]))
    );
    assert_eq!(
        mixer.remove_participant(ids[0]),
        Err(MixerError::UnknownParticipant(ids[0]))
    );
    // The slot is reused under a new generation; the old id stays dead.
    let newcomer = mixer.add_participant().unwrap();
    assert_eq!(newcomer.index(), ids[0].index());
    assert_ne!(newcomer, ids[0]);
    assert!(mixer.output_of(ids[0]).is_err());
    assert_eq!(mixer.output_of(newcomer).unwrap(), Some(OutputId::COMMON));
    assert_eq!(
        MixerError::Full {
            max_participants: 2
        }
        .label(),
        "full"
    );
}

#[test]
fn a_seated_talker_who_leaves_frees_the_seat_at_once() {
    let (mut mixer, ids) = room(3);
    let pcm = tone(300.0, 3000.0, 0);
    mixer
        .mix(&[frame(ids[0], -20.0, &pcm), frame(ids[1], -20.0, &pcm)])
        .unwrap();
    mixer.remove_participant(ids[0]).unwrap();
    assert_eq!(
        mixer.talkers().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
}

#[test]
fn a_wrong_frame_length_is_refused_and_silences_the_tick() {
    let (mut mixer, ids) = room(3);
    let good = tone(300.0, 3000.0, 0);
    mixer
        .mix(&[frame(ids[0], -20.0, &good), frame(ids[1], -20.0, &good)])
        .unwrap();
    let short = vec![1000i16; FRAME - 1];
    let error = mixer.mix(&[frame(ids[0], -20.0, &short)]).unwrap_err();
    assert_eq!(
        error,
        MixerError::FrameLength {
            participant: ids[0],
            expected: FRAME,
            actual: FRAME - 1
        }
    );
    assert_eq!(error.label(), "frame_length");
    assert!(mixer.output(OutputId::COMMON).iter().all(|&v| v == 0));
    // The next tick mixes normally.
    mixer.mix(&[frame(ids[0], -20.0, &good)]).unwrap();
    assert_eq!(
        mixer.output(OutputId::COMMON),
        mixer.output(mixer.output_of(ids[1]).unwrap().unwrap())
    );
}

#[test]
fn configurations_are_validated() {
    let ok = MixerConfig::new(48000, 960, 10);
    assert!(Mixer::new(ok).is_ok());
    assert_eq!(
        Mixer::new(MixerConfig {
            rate_hz: 44100,
            ..ok
        })
        .unwrap_err(),
        MixerConfigError::UnsupportedRate { rate_hz: 44100 }
    );
    for frame_samples in [0, 100, 48 * 121] {
        assert!(matches!(
            Mixer::new(MixerConfig {
                frame_samples,
                ..ok
            }),
            Err(MixerConfigError::FrameSamples { .. })
        ));
    }
    assert!(
        Mixer::new(MixerConfig {
            max_participants: 0,
            ..ok
        })
        .is_err()
    );
    assert!(
        Mixer::new(MixerConfig {
            max_talkers: 0,
            ..ok
        })
        .is_err()
    );
    assert!(
        Mixer::new(MixerConfig {
            max_talkers: MAX_TALKERS + 1,
            ..ok
        })
        .is_err()
    );
    assert!(
        Mixer::new(MixerConfig {
            replace_margin_db: f32::NAN,
            ..ok
        })
        .is_err()
    );
    let mixer = Mixer::new(MixerConfig {
        max_talkers: MAX_TALKERS,
        ..ok
    })
    .unwrap();
    assert_eq!(mixer.outputs_max(), MAX_TALKERS + 1);
}

/// End to end: per-participant talk detectors decide who submits and at what level; the mixer
/// seats the two who talk, the loudest of three when three talk, and nobody on noise.
#[test]
fn talk_detectors_drive_talker_selection() {
    let (mut mixer, ids) = room(4);
    let mut detectors: Vec<TalkDetector> = (0..4)
        .map(|_| TalkDetector::new(TalkConfig::new(RATE)).unwrap())
        .collect();
    // Participant k talks from 0.5 s on at about -40 + 8k dBov, except 0, who only has low
    // noise. The voice is a speech stand-in: 12 harmonics of a pitch gliding around 150 Hz,
    // in syllables of 3 per second (a steady buzz would rightly be absorbed into the floor).
    let mut seed = 1u32;
    for tick in 0..100 {
        let mut pcm: Vec<Vec<i16>> = Vec::new();
        for k in 0..4 {
            let talking = k > 0 && tick >= 25;
            pcm.push(
                (0..FRAME)
                    .map(|n| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        let noise = f64::from((seed >> 16) as u16 as i16) / 32768.0 * 30.0;
                        let t = (tick * FRAME + n) as f64 / f64::from(RATE);
                        let amplitude = 32768.0 * 10f64.powf((-40.0 + 8.0 * k as f64) / 20.0);
                        let syllable = (std::f64::consts::PI * 3.0 * t).sin().powi(2);
                        // The phase of a pitch of 150 + 30 sin(2π 1.3 t) Hz.
                        let phase = 2.0 * std::f64::consts::PI * 150.0 * t
                            - 30.0 / 1.3 * (2.0 * std::f64::consts::PI * 1.3 * t).cos();
                        let harmonics: f64 = (1..=12)
                            .map(|h| (phase * f64::from(h)).sin() / f64::from(h))
                            .sum();
                        let voice = syllable * harmonics;
                        (noise + if talking { amplitude * voice } else { 0.0 }).round() as i16
                    })
                    .collect(),
            );
        }
        let mut frames = Vec::new();
        for k in 0..4 {
            detectors[k].process(&pcm[k]);
            if detectors[k].is_talking() {
                frames.push(frame(ids[k], detectors[k].level_dbov(), &pcm[k]));
            }
        }
        mixer.mix(&frames).unwrap();
        if tick < 25 {
            assert_eq!(mixer.talkers().count(), 0, "tick {tick}: talk on noise");
        }
    }
    let mut seated: Vec<ParticipantId> = mixer.talkers().map(|(id, _)| id).collect();
    seated.sort_by_key(|id| id.index());
    assert_eq!(seated, vec![ids[1], ids[2], ids[3]]);
    let mut config = MixerConfig::new(RATE, FRAME, 4);
    config.max_talkers = 1;
    let mut single = Mixer::new(config).unwrap();
    let ids: Vec<ParticipantId> = (0..4).map(|_| single.add_participant().unwrap()).collect();
    let pcm = vec![0i16; FRAME];
    let frames: Vec<TalkerFrame<'_>> = (1..4)
        .map(|k| frame(ids[k], detectors[k].level_dbov(), &pcm))
        .collect();
    single.mix(&frames).unwrap();
    assert_eq!(
        single.talkers().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![ids[3]]
    );
}

#[test]
fn a_submission_of_someone_who_left_does_not_leak_to_the_newcomer_in_their_slot() {
    let (mut mixer, ids) = room(2);
    let pcm = tone(300.0, 3000.0, 0);
    mixer.submit(ids[0], -20.0).unwrap();
    mixer.remove_participant(ids[0]).unwrap();
    let newcomer = mixer.add_participant().unwrap();
    assert_eq!(newcomer.index(), ids[0].index());
    mixer.submit(newcomer, -30.0).unwrap();
    let mut asked = Vec::new();
    mixer
        .mix_with(|id| {
            asked.push(id);
            Some(&pcm[..])
        })
        .unwrap();
    assert_eq!(asked, vec![newcomer]);
    assert_eq!(
        mixer.talkers().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![newcomer]
    );
}
