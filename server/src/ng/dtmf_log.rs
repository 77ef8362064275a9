//! DTMF logging as rtpengine's `dtmf-log-dest` does it: for each digit a call's side sends,
//! one JSON object in one UDP datagram to the call's destination (`DTMF-log-dest` in its
//! `offer` or `answer`, else `[ng] dtmf_log_dest`), for the application behind the proxy
//! (IVR, fraud checks, recording indexes) to read without an event socket.
//!
//! The object carries rtpengine's keys, so a listener written for rtpengine reads Tandem's
//! as they are: `callid`, `source_tag` (the sending side's tag), `tags` (both sides'),
//! `type` (`"DTMF"`), `timestamp` (Unix seconds), `source_ip` (where the side's RTP comes
//! from), `event` (the RFC 4733 event code: 0–9, `*` 10, `#` 11, `A`–`D` 12–15),
//! `duration` (ms) and `volume` (dBm0 with the sign dropped); plus `source_label` when the
//! side has a `label`. Digits detected in-band are reported like RFC 4733 ones.
//!
//! Sending is best effort and never blocks: a full socket buffer or an unreachable listener
//! loses the report, as UDP would anyway.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use serde_json::{Value, json};
use tandem_core::rtp::EventCode;

/// One digit to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitReport<'a> {
    /// The call's `call-id`.
    pub call_id: &'a str,
    /// The tag of the side that sent the digit.
    pub source_tag: &'a str,
    /// That side's `label`, if it has one.
    pub source_label: Option<&'a str>,
    /// Both sides' tags (an unanswered side has none).
    pub tags: Vec<&'a str>,
    /// Where the side's RTP comes from, once known.
    pub source: Option<SocketAddr>,
    /// The digit: `0-9`, `*`, `#`, `A-D`.
    pub digit: char,
    /// How long it lasted, ms.
    pub duration_ms: u32,
    /// Its level, dBm0 with the sign dropped.
    pub volume: u8,
    /// When it ended, Unix seconds.
    pub unix_seconds: u64,
}

impl DigitReport<'_> {
    /// The datagram: a JSON object with rtpengine's keys (see the module docs); `None` for a
    /// character that is not a DTMF digit.
    pub fn to_json(&self) -> Option<Vec<u8>> {
        let event = EventCode::from_dtmf(self.digit)?;
        let mut object = json!({
            "callid": self.call_id,
            "source_tag": self.source_tag,
            "tags": self.tags,
            "type": "DTMF",
            "timestamp": self.unix_seconds,
            "source_ip": self.source.map(|s| s.ip().to_string()).unwrap_or_default(),
            "event": event.0,
            "duration": self.duration_ms,
            "volume": self.volume,
        });
        if let (Some(label), Value::Object(map)) = (self.source_label, &mut object) {
            map.insert("source_label".into(), label.into());
        }
        serde_json::to_vec(&object).ok()
    }
}

/// The sockets reports leave from, one per address family, opened on first use.
#[derive(Debug, Default)]
pub struct DtmfLogSender {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
}

impl DtmfLogSender {
    /// Sends `datagram` to `dest`, without blocking; false if it could not be handed to the
    /// kernel.
    pub fn send(&mut self, dest: SocketAddr, datagram: &[u8]) -> bool {
        let (slot, any): (_, SocketAddr) = match dest {
            SocketAddr::V4(_) => (&mut self.v4, (Ipv4Addr::UNSPECIFIED, 0).into()),
            SocketAddr::V6(_) => (&mut self.v6, (Ipv6Addr::UNSPECIFIED, 0).into()),
        };
        if slot.is_none() {
            *slot = UdpSocket::bind(any)
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .ok();
        }
        slot.as_ref()
            .is_some_and(|s| s.send_to(datagram, dest).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> DigitReport<'static> {
        DigitReport {
            call_id: "c1",
            source_tag: "alice",
            source_label: None,
            tags: vec!["alice", "bob"],
            source: Some("192.0.2.7:4000".parse().unwrap()),
            digit: '#',
            duration_ms: 120,
            volume: 10,
            unix_seconds: 1_790_000_000,
        }
    }

    #[test]
    fn a_report_carries_rtpengines_keys() {
        let json: Value = serde_json::from_slice(&report().to_json().unwrap()).unwrap();
        assert_eq!(
            json,
            json!({
                "callid": "c1", "source_tag": "alice", "tags": ["alice", "bob"],
                "type": "DTMF", "timestamp": 1_790_000_000u64, "source_ip": "192.0.2.7",
                "event": 11, "duration": 120, "volume": 10,
            })
        );
    }

    #[test]
    fn a_label_is_added_and_a_non_digit_is_not_reported() {
        let labelled = DigitReport {
            source_label: Some("caller"),
            digit: 'D',
            ..report()
        };
        let json: Value = serde_json::from_slice(&labelled.to_json().unwrap()).unwrap();
        assert_eq!(
            (json["source_label"].as_str(), json["event"].as_u64()),
            (Some("caller"), Some(15))
        );
        assert_eq!(
            DigitReport {
                digit: 'x',
                ..report()
            }
            .to_json(),
            None
        );
    }
}
