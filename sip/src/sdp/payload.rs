//! RTP payload types and the codecs they stand for, described by name, clock and channels.
//!
//! This crate knows nothing of Tandem's codec crates (DESIGN.md): a [`Codec`] is what SDP says
//! about an encoding, the RTP encoding name, the RTP clock rate and the channel count, plus
//! format parameters. The server maps a codec to its implementation by name
//! (`tandem_codecs::registry::by_name`). The clock rate is the *RTP* clock, which is not always
//! the audio rate: G.722 says `G722/8000` although it samples at 16 kHz (RFC 3551 §4.5.2), and
//! Opus always says `opus/48000/2` (RFC 7587 §7).

use std::fmt;
use std::str::FromStr;

use super::attributes::Rtpmap;

/// An RTP payload type number, 0 to 127 (RFC 3550 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PayloadType(u8);

impl PayloadType {
    /// The first number of the dynamic range (RFC 3551 §3).
    pub const DYNAMIC_START: u8 = 96;

    /// The payload type `value`, if it fits in RTP's seven bits.
    pub const fn new(value: u8) -> Option<Self> {
        if value <= 127 {
            Some(PayloadType(value))
        } else {
            None
        }
    }

    /// The number.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// True for 96..=127, the range RFC 3551 §3 leaves for dynamic assignment.
    pub const fn is_dynamic(self) -> bool {
        self.0 >= Self::DYNAMIC_START
    }
}

impl fmt::Display for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The text was not a payload type number from 0 to 127.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RTP payload type (0..=127)")]
pub struct InvalidPayloadType;

impl FromStr for PayloadType {
    type Err = InvalidPayloadType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidPayloadType);
        }
        s.parse::<u8>()
            .ok()
            .and_then(PayloadType::new)
            .ok_or(InvalidPayloadType)
    }
}

/// A codec as SDP describes it: encoding name, RTP clock rate, channels, format parameters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Codec {
    /// The RTP encoding name (`PCMU`, `opus`, `telephone-event`); compared ignoring case.
    pub name: String,
    /// The RTP clock rate in Hz (not always the audio rate: see the module docs).
    pub clock_rate: u32,
    /// Audio channels; 1 when SDP leaves them out (RFC 8866 §6.6).
    pub channels: u16,
    /// Format parameters (`a=fmtp` after the payload type), verbatim.
    pub fmtp: Option<String>,
}

impl Codec {
    /// A codec without format parameters.
    pub fn new(name: impl Into<String>, clock_rate: u32, channels: u16) -> Self {
        Codec {
            name: name.into(),
            clock_rate,
            channels,
            fmtp: None,
        }
    }

    /// The same codec with format parameters.
    pub fn with_fmtp(mut self, fmtp: impl Into<String>) -> Self {
        self.fmtp = Some(fmtp.into());
        self
    }

    /// G.711 µ-law, `PCMU/8000` (RFC 3551 §4.5.14, static payload type 0).
    pub fn pcmu() -> Self {
        Codec::new("PCMU", 8000, 1)
    }

    /// G.711 A-law, `PCMA/8000` (RFC 3551 §4.5.14, static payload type 8).
    pub fn pcma() -> Self {
        Codec::new("PCMA", 8000, 1)
    }

    /// G.722, `G722/8000`: an 8000 Hz RTP clock for 16 kHz audio (RFC 3551 §4.5.2).
    pub fn g722() -> Self {
        Codec::new("G722", 8000, 1)
    }

    /// G.729, `G729/8000` (RFC 3551 §4.5.6, static payload type 18).
    pub fn g729() -> Self {
        Codec::new("G729", 8000, 1)
    }

    /// Opus, always `opus/48000/2` whatever it codes (RFC 7587 §7).
    pub fn opus() -> Self {
        Codec::new("opus", 48000, 2)
    }

    /// RFC 4733 telephone events at `clock_rate`, which must match the audio codec's clock
    /// (RFC 4733 §2.1).
    pub fn telephone_event(clock_rate: u32) -> Self {
        Codec::new(TELEPHONE_EVENT, clock_rate, 1)
    }

    /// True if both describe the same encoding: name (ignoring ASCII case), clock rate and
    /// channels. Format parameters are not compared.
    pub fn same_encoding(&self, other: &Codec) -> bool {
        self.name.eq_ignore_ascii_case(&other.name)
            && self.clock_rate == other.clock_rate
            && self.channels == other.channels
    }

    /// True for `telephone-event` (RFC 4733 §7).
    pub fn is_telephone_event(&self) -> bool {
        self.name.eq_ignore_ascii_case(TELEPHONE_EVENT)
    }

    /// True for comfort noise, `CN` (RFC 3389).
    pub fn is_comfort_noise(&self) -> bool {
        self.name.eq_ignore_ascii_case("CN")
    }

    /// True for a codec that carries the media itself: not telephone events, not comfort
    /// noise. Only these are chosen as a stream's codec.
    pub fn is_media(&self) -> bool {
        !self.is_telephone_event() && !self.is_comfort_noise()
    }
}

/// The RTP encoding name of RFC 4733 events.
pub(crate) const TELEPHONE_EVENT: &str = "telephone-event";

impl fmt::Display for Codec {
    /// `name/clock[/channels]`, as `a=rtpmap` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.clock_rate)?;
        if self.channels != 1 {
            write!(f, "/{}", self.channels)?;
        }
        Ok(())
    }
}

/// A payload type bound to a codec in one media description: what an RTP packet with that
/// payload type carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PayloadFormat {
    /// The payload type number.
    pub payload_type: PayloadType,
    /// The codec, with this description's format parameters for it.
    pub codec: Codec,
}

impl PayloadFormat {
    /// Builds a format from an `a=rtpmap` (or a static assignment) and its `a=fmtp` text.
    pub fn from_rtpmap(rtpmap: Rtpmap, fmtp: Option<String>) -> Self {
        let channels = rtpmap.channels();
        PayloadFormat {
            payload_type: rtpmap.payload_type,
            codec: Codec {
                name: rtpmap.encoding_name,
                clock_rate: rtpmap.clock_rate,
                channels,
                fmtp,
            },
        }
    }

    /// The `a=rtpmap` that declares this format.
    pub fn rtpmap(&self) -> Rtpmap {
        Rtpmap {
            payload_type: self.payload_type,
            encoding_name: self.codec.name.clone(),
            clock_rate: self.codec.clock_rate,
            channels: (self.codec.channels != 1).then_some(self.codec.channels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_types_are_seven_bits_of_plain_digits() {
        assert_eq!("0".parse(), Ok(PayloadType(0)));
        assert_eq!("127".parse(), Ok(PayloadType(127)));
        assert_eq!("128".parse::<PayloadType>(), Err(InvalidPayloadType));
        assert_eq!("+1".parse::<PayloadType>(), Err(InvalidPayloadType));
        assert_eq!("".parse::<PayloadType>(), Err(InvalidPayloadType));
        assert_eq!("0096".parse::<PayloadType>(), Err(InvalidPayloadType));
        assert!(PayloadType(96).is_dynamic() && !PayloadType(95).is_dynamic());
    }

    #[test]
    fn encodings_match_ignoring_case_and_fmtp() {
        let offered = Codec::new("OPUS", 48000, 2).with_fmtp("useinbandfec=1");
        assert!(offered.same_encoding(&Codec::opus()));
        assert!(!Codec::opus().same_encoding(&Codec::new("opus", 48000, 1)));
        assert!(!Codec::g722().same_encoding(&Codec::new("G722", 16000, 1)));
        assert_eq!(Codec::opus().to_string(), "opus/48000/2");
        assert_eq!(Codec::pcmu().to_string(), "PCMU/8000");
    }
}
