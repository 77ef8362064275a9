//! Call-progress tones per country: dial, ringback, busy and congestion for the US, the UK,
//! Germany and France, as data.
//!
//! Sources:
//!
//! * **US**: the North American precise audible tone plan (ITU-T E.300-series Supplement 3,
//!   also ANSI T1.401): dial 350 + 440 Hz at −13 dBm0 per frequency, continuous; audible ringing
//!   440 + 480 Hz at −19 dBm0, 2 s on 4 s off; busy (line busy) 480 + 620 Hz at −24 dBm0,
//!   0.5 s on 0.5 s off; congestion ("reorder", network busy) 480 + 620 Hz at −24 dBm0,
//!   0.25 s on 0.25 s off.
//! * **UK**: BT SIN 350 (BT's suppliers' information note on network tones, the source Asterisk's
//!   `indications.conf` cites for its UK table): dial 350 + 440 Hz continuous; ringing
//!   400 + 450 Hz, 0.4 on 0.2 off 0.4 on 2.0 off; busy ("engaged") 400 Hz, 0.375 on 0.375 off;
//!   congestion 400 Hz, 0.4 on 0.35 off 0.225 on 0.525 off.
//! * **DE**: ITU-T E.180 Supplement 2 ("Various tones used in national networks", the ITU's
//!   2003 compilation), Germany: dial 425 Hz continuous; ringing 425 Hz, 1.0 on 4.0 off; busy
//!   425 Hz, 0.48 on 0.48 off; congestion 425 Hz, 0.24 on 0.24 off.
//! * **FR**: E.180 Supplement 2, France: dial 440 Hz continuous; ringing 440 Hz, 1.5 on 3.5 off;
//!   busy 440 Hz, 0.5 on 0.5 off. France lists no separate congestion tone; like Asterisk's
//!   `indications.conf` we use the fast cadence 0.25 on 0.25 off at 440 Hz.
//!
//! Levels outside the US are given by national specifications as ranges; we use −13 dBm0 per
//! frequency, inside every one of them, for generation. Detection does not depend on level.

use super::generator::{Cadence, ToneSpec};

/// A country whose call-progress tones are tabulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Country {
    /// United States (North American precise tone plan).
    Us,
    /// United Kingdom (BT SIN 350).
    Uk,
    /// Germany.
    De,
    /// France.
    Fr,
}

/// The call-progress tones every table has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallProgressTone {
    /// Dial tone: ready for digits.
    Dial,
    /// Audible ringing (ringback): the called party is being alerted.
    Ringback,
    /// Busy (engaged): the called party is busy.
    Busy,
    /// Congestion (reorder, fast busy): the network cannot complete the call.
    Congestion,
}

impl CallProgressTone {
    /// All four, in table order.
    pub const ALL: [CallProgressTone; 4] = [
        CallProgressTone::Dial,
        CallProgressTone::Ringback,
        CallProgressTone::Busy,
        CallProgressTone::Congestion,
    ];

    /// Lower-case name (`dial`, `ringback`, `busy`, `congestion`).
    pub const fn name(self) -> &'static str {
        match self {
            CallProgressTone::Dial => "dial",
            CallProgressTone::Ringback => "ringback",
            CallProgressTone::Busy => "busy",
            CallProgressTone::Congestion => "congestion",
        }
    }
}

const LEVEL: f32 = -13.0;

const US: [ToneSpec; 4] = [
    ToneSpec::dual(350.0, 440.0, -13.0, Cadence::Continuous),
    ToneSpec::dual(440.0, 480.0, -19.0, Cadence::Repeat(&[(2000, 4000)])),
    ToneSpec::dual(480.0, 620.0, -24.0, Cadence::Repeat(&[(500, 500)])),
    ToneSpec::dual(480.0, 620.0, -24.0, Cadence::Repeat(&[(250, 250)])),
];

const UK: [ToneSpec; 4] = [
    ToneSpec::dual(350.0, 440.0, LEVEL, Cadence::Continuous),
    ToneSpec::dual(
        400.0,
        450.0,
        LEVEL,
        Cadence::Repeat(&[(400, 200), (400, 2000)]),
    ),
    ToneSpec::single(400.0, LEVEL, Cadence::Repeat(&[(375, 375)])),
    ToneSpec::single(400.0, LEVEL, Cadence::Repeat(&[(400, 350), (225, 525)])),
];

const DE: [ToneSpec; 4] = [
    ToneSpec::single(425.0, LEVEL, Cadence::Continuous),
    ToneSpec::single(425.0, LEVEL, Cadence::Repeat(&[(1000, 4000)])),
    ToneSpec::single(425.0, LEVEL, Cadence::Repeat(&[(480, 480)])),
    ToneSpec::single(425.0, LEVEL, Cadence::Repeat(&[(240, 240)])),
];

const FR: [ToneSpec; 4] = [
    ToneSpec::single(440.0, LEVEL, Cadence::Continuous),
    ToneSpec::single(440.0, LEVEL, Cadence::Repeat(&[(1500, 3500)])),
    ToneSpec::single(440.0, LEVEL, Cadence::Repeat(&[(500, 500)])),
    ToneSpec::single(440.0, LEVEL, Cadence::Repeat(&[(250, 250)])),
];

impl Country {
    /// All tabulated countries.
    pub const ALL: [Country; 4] = [Country::Us, Country::Uk, Country::De, Country::Fr];

    /// ISO 3166 alpha-2 style code, lower case (`us`, `uk`, `de`, `fr`; `uk` as telephony
    /// configuration files spell it).
    pub const fn code(self) -> &'static str {
        match self {
            Country::Us => "us",
            Country::Uk => "uk",
            Country::De => "de",
            Country::Fr => "fr",
        }
    }

    /// The country for a code (case-insensitive; `gb` is accepted for the UK).
    pub fn from_code(code: &str) -> Option<Self> {
        match code.to_ascii_lowercase().as_str() {
            "us" => Some(Country::Us),
            "uk" | "gb" => Some(Country::Uk),
            "de" => Some(Country::De),
            "fr" => Some(Country::Fr),
            _ => None,
        }
    }

    /// The country's specification of `tone`.
    pub const fn tone(self, tone: CallProgressTone) -> ToneSpec {
        let table = match self {
            Country::Us => &US,
            Country::Uk => &UK,
            Country::De => &DE,
            Country::Fr => &FR,
        };
        table[tone as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_continuous_dial_tone_and_cadenced_others() {
        for c in Country::ALL {
            assert_eq!(c.tone(CallProgressTone::Dial).cadence, Cadence::Continuous);
            for t in &CallProgressTone::ALL[1..] {
                assert!(c.tone(*t).cadence.period_ms() > 0, "{c:?} {t:?}");
            }
            assert_eq!(Country::from_code(c.code()), Some(c));
        }
        assert_eq!(
            Country::Us.tone(CallProgressTone::Ringback).frequencies(),
            &[440.0, 480.0]
        );
        assert_eq!(
            Country::De.tone(CallProgressTone::Busy).cadence,
            Cadence::Repeat(&[(480, 480)])
        );
    }
}
