//! The sessions behind the built-in destinations of [routing](crate::run::routing): `echo`,
//! `tone` and `conf-<room>`. Plain descriptions ([`SessionSpec`]); the SIP glue creates them
//! on the runtime (a room once, then one `join` per caller).

use tandem_core::session::{ConferenceSpec, LegSpec, PlaySource, PlaySpec, SessionSpec, ToneStep};
use tandem_dsp::tone::{Cadence, ToneSpec};

/// The test tone's frequency: ITU-T O.6's 1020 Hz, which does not divide 8 kHz, so every
/// G.711 code word is exercised.
pub const TEST_TONE_HZ: f32 = 1020.0;

/// The test tone's level, dBm0 (ITU-T O.6's measurement level).
pub const TEST_TONE_DBM0: f32 = -10.0;

/// One period of the looped tone, ms: a whole number of 1020 Hz cycles (1020), so the loop
/// joins without a click.
const TEST_TONE_LOOP_MS: u32 = 1000;

/// Conference rooms mix at 16 kHz: wideband callers keep their bandwidth, and the DTMF
/// detector runs at the room rate.
pub const ROOM_RATE_HZ: u32 = 16000;

/// Most callers in one room.
pub const ROOM_MAX_LEGS: usize = 32;

/// The echo test: what the caller sends comes back.
pub fn echo(leg: LegSpec) -> SessionSpec {
    SessionSpec::Echo(leg)
}

/// The tone test: a continuous 1020 Hz tone at −10 dBm0 until the caller hangs up.
pub fn tone(leg: LegSpec) -> SessionSpec {
    SessionSpec::Play(PlaySpec {
        leg,
        source: PlaySource::Tones(vec![ToneStep {
            tone: Some(ToneSpec::single(
                TEST_TONE_HZ,
                TEST_TONE_DBM0,
                Cadence::Continuous,
            )),
            duration_ms: TEST_TONE_LOOP_MS,
        }]),
        repeat: true,
    })
}

/// A conference room, created when its first caller arrives.
pub fn conference_room() -> SessionSpec {
    SessionSpec::Conference(ConferenceSpec::new(ROOM_RATE_HZ, ROOM_MAX_LEGS))
}

#[cfg(test)]
mod tests {
    use tandem_core::rtp::PayloadType;
    use tandem_core::session::{CodecSpec, LegId, PreparedMember, PreparedSession, SessionId};

    use super::*;

    fn legs() -> [LegSpec; 3] {
        [
            LegSpec::new(CodecSpec::PCMU),
            LegSpec::new(CodecSpec::G722).with_telephone_event(PayloadType::new(101).unwrap()),
            LegSpec::new(CodecSpec::opus(48000, PayloadType::new(96).unwrap())),
        ]
    }

    #[test]
    fn echo_and_tone_sessions_build_for_every_kind_of_leg() {
        for leg in legs() {
            let echo = PreparedSession::new(SessionId(1), &echo(leg)).unwrap();
            assert_eq!(echo.leg_count(), 1);
            let tone = PreparedSession::new(SessionId(2), &tone(leg)).unwrap();
            assert_eq!(tone.leg_count(), 1);
        }
    }

    #[test]
    fn the_tone_loops_a_whole_number_of_cycles() {
        let cycles = TEST_TONE_HZ * TEST_TONE_LOOP_MS as f32 / 1000.0;
        assert_eq!(cycles.fract(), 0.0);
        let SessionSpec::Play(play) = tone(legs()[0]) else {
            panic!("a tone is a play session");
        };
        assert!(play.repeat);
    }

    #[test]
    fn every_kind_of_leg_can_join_a_room() {
        let room = PreparedSession::new(SessionId(3), &conference_room()).unwrap();
        let spec = *room.conference().expect("a room");
        assert_eq!(spec.rate_hz, ROOM_RATE_HZ);
        for (i, leg) in legs().iter().enumerate() {
            PreparedMember::new(SessionId(3), LegId(i as u32), leg, &spec).unwrap();
        }
    }
}
