//! The static payload types of the RTP audio/video profile (RFC 3551 §6, Tables 4 and 5).
//!
//! An offer may list a static payload type without an `a=rtpmap` (RFC 8866 §6.6); its meaning
//! then comes from this table. Note the quirk the table carries: G.722 (type 9) samples at
//! 16 kHz but its RTP clock is 8000 Hz "for historical reasons" (RFC 3551 §4.5.2).

/// One row of RFC 3551 Tables 4 and 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticPayloadType {
    /// The payload type number.
    pub payload_type: u8,
    /// The RTP encoding name.
    pub encoding_name: &'static str,
    /// The RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels (1 for video).
    pub channels: u16,
}

const fn row(
    payload_type: u8,
    encoding_name: &'static str,
    clock_rate: u32,
    channels: u16,
) -> StaticPayloadType {
    StaticPayloadType {
        payload_type,
        encoding_name,
        clock_rate,
        channels,
    }
}

/// RFC 3551 Table 4 (audio) and Table 5 (video). Types marked "reserved" or "unassigned"
/// there (1, 2, 19, 20-24, 27, 29, 30, 35-95) are absent.
pub const STATIC_PAYLOAD_TYPES: &[StaticPayloadType] = &[
    row(0, "PCMU", 8000, 1),
    row(3, "GSM", 8000, 1),
    row(4, "G723", 8000, 1),
    row(5, "DVI4", 8000, 1),
    row(6, "DVI4", 16000, 1),
    row(7, "LPC", 8000, 1),
    row(8, "PCMA", 8000, 1),
    row(9, "G722", 8000, 1),
    row(10, "L16", 44100, 2),
    row(11, "L16", 44100, 1),
    row(12, "QCELP", 8000, 1),
    row(13, "CN", 8000, 1),
    row(14, "MPA", 90000, 1),
    row(15, "G728", 8000, 1),
    row(16, "DVI4", 11025, 1),
    row(17, "DVI4", 22050, 1),
    row(18, "G729", 8000, 1),
    row(25, "CelB", 90000, 1),
    row(26, "JPEG", 90000, 1),
    row(28, "nv", 90000, 1),
    row(31, "H261", 90000, 1),
    row(32, "MPV", 90000, 1),
    row(33, "MP2T", 90000, 1),
    row(34, "H263", 90000, 1),
];

/// The static assignment of `payload_type`, if RFC 3551 makes one.
pub fn by_payload_type(payload_type: u8) -> Option<&'static StaticPayloadType> {
    STATIC_PAYLOAD_TYPES
        .iter()
        .find(|row| row.payload_type == payload_type)
}

/// The static payload type RFC 3551 assigns to an encoding, if any (name compared ignoring
/// ASCII case).
pub fn by_encoding(
    encoding_name: &str,
    clock_rate: u32,
    channels: u16,
) -> Option<&'static StaticPayloadType> {
    STATIC_PAYLOAD_TYPES.iter().find(|row| {
        row.encoding_name.eq_ignore_ascii_case(encoding_name)
            && row.clock_rate == clock_rate
            && row.channels == channels
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3551 §4.5.2: G.722's RTP clock is 8000 Hz although it samples at 16 kHz.
    #[test]
    fn g722_static_clock_is_8000() {
        let g722 = by_payload_type(9).unwrap();
        assert_eq!((g722.encoding_name, g722.clock_rate), ("G722", 8000));
        assert_eq!(by_encoding("g722", 8000, 1).unwrap().payload_type, 9);
        assert!(by_encoding("G722", 16000, 1).is_none());
    }

    #[test]
    fn telephony_codecs_have_their_rfc_3551_numbers() {
        for (name, pt) in [
            ("PCMU", 0),
            ("GSM", 3),
            ("PCMA", 8),
            ("CN", 13),
            ("G729", 18),
        ] {
            assert_eq!(
                by_encoding(name, 8000, 1).unwrap().payload_type,
                pt,
                "{name}"
            );
        }
        assert!(by_payload_type(2).is_none(), "2 was G721, now unassigned");
        assert!(by_payload_type(96).is_none());
        assert!(by_encoding("opus", 48000, 2).is_none());
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(
            STATIC_PAYLOAD_TYPES
                .windows(2)
                .all(|w| w[0].payload_type < w[1].payload_type)
        );
    }
}
