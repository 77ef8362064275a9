//! Property tests for the RTP wire formats: `new_checked` and every payload parser accept any
//! bytes without panicking, and `parse(emit(x)) == x` for every representation (RTP header
//! with CSRCs, extensions and padding; RFC 8285 elements; RFC 4733; RFC 3389).

use proptest::prelude::*;
use tandem_core::rtp::header::ExtensionElement;
use tandem_core::rtp::{
    ComfortNoise, CsrcList, EventCode, Extension, ExtensionProfile, PayloadType, RtpHeader,
    RtpPacket, RtpTimestamp, SeqNo, Ssrc, TelephoneEvent,
};

/// Bytes that look like RTP often enough to reach the deeper checks: version 2 in most cases,
/// arbitrary flags, CC, extension lengths and padding counts.
fn rtp_like() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(any::<u8>(), 0..120),
        any::<u8>(),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(mut bytes, first, v2)| {
            if let Some(b) = bytes.first_mut() {
                *b = if v2 { 0x80 | (first & 0x3f) } else { first };
            }
            bytes
        })
}

fn header_strategy() -> impl Strategy<Value = (RtpHeader<'static>, Vec<u8>)> {
    (
        any::<bool>(),
        0u8..128,
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u32>(), 0..=15),
        prop::option::of((any::<u16>(), prop::collection::vec(any::<u8>(), 0..6))),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(
            |(marker, pt, seq, ts, ssrc, csrcs, ext, padding, payload)| {
                let csrcs: Vec<Ssrc> = csrcs.into_iter().map(Ssrc).collect();
                let extension = ext.map(|(profile, words)| {
                    // Extension data must be whole words; leak it so the header can be 'static
                    // in the strategy (tests only).
                    let data: &'static [u8] = Vec::leak(
                        words
                            .iter()
                            .flat_map(|w| [*w, w.wrapping_add(1), 0, *w])
                            .collect(),
                    );
                    Extension { profile, data }
                });
                let header = RtpHeader {
                    marker,
                    payload_type: PayloadType::new(pt).unwrap(),
                    sequence_number: SeqNo(seq),
                    timestamp: RtpTimestamp(ts),
                    ssrc: Ssrc(ssrc),
                    csrcs: CsrcList::new(&csrcs).unwrap(),
                    extension,
                    padding,
                };
                (header, payload)
            },
        )
}

proptest! {
    #[test]
    fn new_checked_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = tandem_core::rtp::fuzzing::rtp_parse(&bytes);
    }

    #[test]
    fn new_checked_never_panics_on_rtp_like_bytes(bytes in rtp_like()) {
        if let Ok(p) = RtpPacket::new_checked(&bytes[..]) {
            // Every accessor is panic-free after the check.
            let _ = (p.version(), p.marker(), p.payload_type(), p.sequence_number());
            let _ = (p.timestamp(), p.ssrc(), p.csrcs().count(), p.padding_len());
            prop_assert!(p.header_len() + p.payload().len() + p.padding_len() == bytes.len());
            if let Some(ext) = p.extension() {
                for e in ext.elements().flatten() {
                    prop_assert!(e.data.len() <= ext.data.len());
                }
            }
        }
        let _ = tandem_core::rtp::fuzzing::rtp_parse(&bytes);
    }

    #[test]
    fn header_and_payload_round_trip((header, payload) in header_strategy()) {
        let mut buf = vec![0u8; header.buffer_len(payload.len())];
        let n = header.emit_packet(&payload, &mut buf).unwrap();
        prop_assert_eq!(n, buf.len());
        let packet = RtpPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(RtpHeader::parse(&packet), header);
        prop_assert_eq!(packet.payload(), &payload[..]);
        // One byte short is a typed error, never a panic.
        prop_assert!(header.emit_packet(&payload, &mut buf[..n - 1]).is_err());
    }

    #[test]
    fn extension_elements_round_trip(
        two_byte in any::<bool>(),
        elements in prop::collection::vec((1u8..15, prop::collection::vec(any::<u8>(), 1..17)), 0..6),
    ) {
        let profile = if two_byte {
            ExtensionProfile::TwoByte { app_bits: 0 }
        } else {
            ExtensionProfile::OneByte
        };
        let elements: Vec<ExtensionElement<'_>> = elements
            .iter()
            .map(|(id, data)| ExtensionElement { id: *id, data })
            .collect();
        let mut data = [0u8; 256];
        let n = profile.emit_elements(&elements, &mut data).unwrap();
        prop_assert_eq!(n % 4, 0);
        let ext = Extension { profile: profile.to_field(), data: &data[..n] };
        let parsed: Vec<_> = ext.elements().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(parsed, elements);
    }

    #[test]
    fn telephone_event_round_trips(event in any::<u8>(), end in any::<bool>(), volume in 0u8..64, duration in any::<u16>()) {
        let e = TelephoneEvent { event: EventCode(event), end, volume, duration };
        let mut buf = [0u8; 4];
        e.emit(&mut buf).unwrap();
        prop_assert_eq!(TelephoneEvent::parse(&buf), Ok(e));
    }

    #[test]
    fn payload_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = TelephoneEvent::parse(&bytes);
        if let Ok(cn) = ComfortNoise::parse(&bytes) {
            prop_assert!(cn.level < 128);
            prop_assert_eq!(cn.buffer_len(), bytes.len());
        }
    }

    #[test]
    fn comfort_noise_round_trips(level in 0u8..128, coefficients in prop::collection::vec(any::<u8>(), 0..16)) {
        let cn = ComfortNoise { level, coefficients: &coefficients };
        let mut buf = [0u8; 17];
        let n = cn.emit(&mut buf).unwrap();
        prop_assert_eq!(ComfortNoise::parse(&buf[..n]), Ok(cn));
    }
}
