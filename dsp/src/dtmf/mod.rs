//! DTMF: a detector for 8 and 16 kHz audio that meets ITU-T Q.24 / Q.23 and Bellcore practice,
//! with RFC 4733-ready events and optional in-band suppression, and a generator.
//!
//! # Contract
//!
//! * [`DtmfDetector::new`] validates a [`DtmfConfig`] and allocates everything (about 14 KB of
//!   tables and buffers, plus the suppression delay line). [`DtmfDetector::process`] takes the
//!   caller's timestamp of the first sample, the audio, and a slice for events; it never
//!   allocates, reads no clock, and writes at most [`DtmfDetector::events_max`] events.
//! * Events ([`DtmfEvent`]) are `Begin` (the digit is recognised; `start` is back-dated to the
//!   tone's first sample), `Update` every `update_interval_ms` while it lasts, and `End` with the
//!   final duration: the three kinds of RFC 4733 §2.5.1 packets (the `End` maps to the E bit).
//!   Times are in input samples on the caller's timestamp scale.
//! * With `suppression_delay_ms: Some(d)`, `process` rewrites `pcm` in place as the input delayed
//!   by `d` ms with every recognised tone (and every DTMF-like candidate) zeroed from its
//!   back-dated start to its end. See "Suppression" below for what leaks.
//!
//! # What the detector must do, and the measured result
//!
//! The integration tests `dsp/tests/dtmf_*.rs` check each point; their doc comments cite the
//! requirement. Summary (Q.24 Table A-1 values common to most administrations, and Bellcore
//! TR-NWT-000506 / LSSGR):
//!
//! | requirement | how it is met |
//! |---|---|
//! | detect within ±1.5 % of nominal frequency, reject at ±3.5 % | frequency *measured* to ~1 Hz, tolerance ±2.5 % |
//! | normal twist ≤ 8 dB, reverse twist ≤ 4 dB | limits 9 dB / 5 dB after scalloping correction |
//! | levels −3 … −26 dBm0 per tone | threshold −36 dBm0 per tone |
//! | accept 40 ms tones, reject ≤ 23 ms | duration measured from 5 ms sub-blocks to ~1 ms; minimum 32 ms |
//! | 40 ms pauses separate digits | dropouts ≤ 10 ms are bridged, longer gaps end the digit |
//! | white noise at 12–15 dB SNR | energy and fit ratios leave > 3 dB of margin |
//! | zero talk-off on speech, music, dial tone | energy ratio, relative peaks, frequency, duration |
//!
//! # Design
//!
//! A plain Goertzel bank cannot reject ±3.5 %: at 697 Hz that is 24 Hz, a fraction of any
//! usable bin, so a tone 3.5 % off reads only a dB or two lower than a nominal one. Detectors
//! that rely on the bank alone (spandsp's `dtmf_rx`, 102-sample blocks) accept tones well beyond
//! the reject limit. This one splits the job in three, each part doing what it is good at:
//!
//! 1. **Screen** (every 20 ms block, [`goertzel::DtmfBank`]): the block's energy is compared
//!    with the minimum level first, so silence costs one sum of squares. Otherwise an eight-tone
//!    Goertzel bank runs over the Hann-windowed block (160 samples: bins 50 Hz apart, cross-group
//!    leakage < −55 dB). The strongest row and column must each be above the level threshold,
//!    every other tone of its group at least 6 dB below it (two tones in one group, or a tone
//!    between two DTMF frequencies, fail), and the pair must hold at least half the block's energy.
//! 2. **Verify** (only blocks that pass the screen, [`goertzel::FreqEstimator`]): the frequency of
//!    the row and the column tone is measured with a one-sample-shift phase estimator, accurate to
//!    about 1 Hz even at 12 dB SNR, and must be within ±2.5 % of nominal (midway between the
//!    ±1.5 % accept and ±3.5 % reject limits of Q.24). The tone powers are corrected for the
//!    window's scalloping at the measured offset; then the level, the twist (normal ≤ 9 dB,
//!    reverse ≤ 5 dB) and the energy ratio (the two tones ≥ 70 % of the block's energy, which
//!    rejects speech and music with harmonics) are checked. A block that passes is a *hit*.
//! 3. **Time** ([`goertzel::PairFit`]): from the first hit, every 5 ms sub-block (including the
//!    block before the hit, kept as history) is fitted by least squares with the digit's two
//!    tones. The fitted amplitude over the tone's full amplitude is the fraction of the
//!    sub-block the tone covers; a sub-block whose energy the pair does not explain (fit < 50 %)
//!    counts as uncovered. The tone's start and end are placed to about a millisecond, so the
//!    duration test is a real measurement: a digit is reported once its measured duration reaches
//!    `min_tone_ms` (32 ms, between the 23 ms reject and 40 ms accept limits), and ends after
//!    more than `max_dropout_ms` (10 ms) without coverage. A tone shorter than the minimum is
//!    dropped without an event.
//!
//! Talk-off: speech and music seldom put 70 % of a 20 ms block's energy into two frequencies
//! each within 2.5 % of a DTMF pair, with no other strong component in either group, and then
//! keep both for 32 ms; dial tone (350 + 440 Hz and the European 425/440 Hz) never reaches the
//! DTMF bins. The talk-off tests run minutes of espeak-ng speech in several languages and
//! voices, synthesised music and dial tones through the detector and require zero digits.
//!
//! # Wideband input
//!
//! At 16 kHz the input is decimated to 8 kHz by a 7-tap half-band filter
//! ([`halfband`], −0.25 dB at 1633 Hz, ≥ 30 dB rejection of the aliasing band) and analysed as
//! above; event times are mapped back to input samples, corrected for the filter's delay.
//!
//! # Suppression
//!
//! Recognition needs evidence: the first hit comes at the end of a 20 ms block, so between 20 and
//! 40 ms after the tone starts when a block boundary falls badly, or earlier when the tone
//! starts in silence (a block partly covered still passes). With a delay line of `d` ms the
//! tone is muted from its back-dated start (minus a 2 ms guard) if the hit comes within `d` ms;
//! what was already output leaks. The leak is therefore at most `max(0, 40 − d)` ms and
//! usually `max(0, 20 − d)` ms: with the default `d` = 40 ms nothing leaks, which
//! `dtmf_suppression.rs` measures over every alignment of tone and block. A rejected candidate
//! (a DTMF-like tone shorter than the minimum, or a rare speech false candidate) is muted too.
//!
//! # Cost
//!
//! Per 20 ms block: ~160 multiply-adds on silence; 16 vectorised Goertzel recursions of 80 steps
//! on speech or tones; the frequency check (four 160-point dot products per tone) and the pair
//! fit only on blocks that pass the screen or while a digit is being timed. The bench
//! `benches/benches/dtmf.rs` compares it with spandsp's `dtmf_rx` on silence, speech and tones.

mod detector;
mod error;
mod generator;
pub(crate) mod goertzel;
pub(crate) mod halfband;

use std::fmt;

pub use detector::{DtmfConfig, DtmfDetector, DtmfEvent, DtmfEventKind, DtmfStats};
pub use error::DtmfError;
pub use generator::{DtmfGenerator, DtmfGeneratorConfig};

/// Low-group (row) frequencies in Hz (ITU-T Q.23 §2).
pub const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz (ITU-T Q.23 §2).
pub const COL_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The keypad, row by row (Q.23 Figure 1).
const KEYPAD: [u8; 16] = *b"123A456B789C*0#D";

/// One of the 16 DTMF digits `0-9 * # A-D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digit(u8);

impl Digit {
    /// All 16 digits in keypad order.
    pub const ALL: [Digit; 16] = {
        let mut all = [Digit(0); 16];
        let mut i = 0;
        while i < 16 {
            all[i] = Digit(i as u8);
            i += 1;
        }
        all
    };

    /// The digit for a character (`a-d` accepted as `A-D`).
    pub const fn from_char(c: char) -> Option<Self> {
        let c = c.to_ascii_uppercase();
        let mut i = 0;
        while i < 16 {
            if KEYPAD[i] as char == c {
                return Some(Digit(i as u8));
            }
            i += 1;
        }
        None
    }

    /// The digit at keypad `row` (0..4, low group) and `col` (0..4, high group).
    pub const fn from_row_col(row: usize, col: usize) -> Option<Self> {
        if row < 4 && col < 4 {
            Some(Digit((row * 4 + col) as u8))
        } else {
            None
        }
    }

    /// The digit's character (`0-9 * # A-D`).
    pub const fn as_char(self) -> char {
        KEYPAD[self.0 as usize] as char
    }

    /// Keypad row, the index of the low-group tone in [`ROW_HZ`].
    pub const fn row(self) -> usize {
        self.0 as usize / 4
    }

    /// Keypad column, the index of the high-group tone in [`COL_HZ`].
    pub const fn col(self) -> usize {
        self.0 as usize % 4
    }

    /// The (low, high) tone frequencies in Hz.
    pub const fn frequencies_hz(self) -> (f32, f32) {
        (ROW_HZ[self.row()], COL_HZ[self.col()])
    }

    /// The RFC 4733 §3.2 event code: `0-9` → 0-9, `*` → 10, `#` → 11, `A-D` → 12-15.
    pub const fn rfc4733_event(self) -> u8 {
        match KEYPAD[self.0 as usize] {
            c @ b'0'..=b'9' => c - b'0',
            b'*' => 10,
            b'#' => 11,
            c => c - b'A' + 12,
        }
    }

    /// The digit for an RFC 4733 event code (0-15).
    pub const fn from_rfc4733_event(code: u8) -> Option<Self> {
        let c = match code {
            0..=9 => (b'0' + code) as char,
            10 => '*',
            11 => '#',
            12..=15 => (b'A' + code - 12) as char,
            _ => return None,
        };
        Self::from_char(c)
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_round_trip_through_chars_and_rfc4733_codes() {
        for d in Digit::ALL {
            assert_eq!(Digit::from_char(d.as_char()), Some(d));
            assert_eq!(Digit::from_rfc4733_event(d.rfc4733_event()), Some(d));
        }
        assert_eq!(
            Digit::from_char('5').map(Digit::frequencies_hz),
            Some((770.0, 1336.0))
        );
        assert_eq!(Digit::from_char('#').map(Digit::rfc4733_event), Some(11));
        assert_eq!(Digit::from_char('d').map(Digit::rfc4733_event), Some(15));
        assert_eq!(Digit::from_char('x'), None);
        assert_eq!(Digit::from_rfc4733_event(16), None);
    }
}
