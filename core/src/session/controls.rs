//! Per-leg media controls: which way media flows (SIP hold), ARI-style mute, and
//! rtpengine-style blocking. Set on a running leg by
//! [`Command::SetLegControls`](crate::bus::Command::SetLegControls); every session kind
//! honours them.
//!
//! # What each control means
//!
//! | control | seen from | effect |
//! |---|---|---|
//! | [`MediaDirection`] without send | Tandem → peer | no RTP at all goes to the peer (audio, RFC 4733, comfort noise); RTCP keeps running (RFC 3264 §5.1) |
//! | [`MediaDirection`] without receive | peer → Tandem | RTP from the peer is dropped on arrival and counted; RTCP is still read; no media timeout fires meanwhile |
//! | `mute_in` (ARI `direction=in`, ng `silence media`) | the leg's audio towards the others | replaced by silence; the others' streams keep flowing |
//! | `mute_out` (ARI `direction=out`) | what the leg hears | silence; the leg's stream keeps flowing |
//! | `block_media` (ng `block media`) | the leg's audio towards the others | not forwarded at all: the others get no audio packets from it |
//! | `block_dtmf` (ng `block DTMF`) | the leg's DTMF towards the others | RFC 4733 events are not forwarded or converted to tones, in-band digits are not converted to events; digits are still reported as events |
//!
//! # Silence, per session kind
//!
//! Sessions that decode (transcode, conference, play) make silence by encoding zero PCM in
//! the listener's codec, so the stream stays valid whatever the codec. A conference leg
//! that is muted out gets a silent packet precomputed for its codec when it was built.
//!
//! A relay (and echo) never decodes, so it cannot encode silence in general. For G.711 the
//! payload is overwritten in place with the codec's silence byte (µ-law `0xFF`, A-law
//! `0xD5`: the code for zero), which keeps the packet count, sizes and timestamps of the
//! stream exactly as they were. For every other codec the muted packets are not sent (and
//! counted as withheld): a payload we cannot decode cannot be silenced honestly, and the
//! far end's jitter buffer treats the gap as a pause. Comfort-noise packets pass either way.
//!
//! # Resuming
//!
//! A leg that starts sending again continues its stream: same SSRC, the next sequence
//! number, a timestamp advanced by the time that passed (the relay's
//! [`Rewriter`](crate::rtp::Rewriter) is told of a switch; generated streams keep their
//! clock running through the pause), and the marker bit on the first packet.

use tandem_codecs::CodecId;

/// Which way media flows on a leg, as seen from Tandem (RFC 3264 §6.1 turns the peer's
/// `a=sendonly` into Tandem's `recvonly`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaDirection {
    /// Both ways (the default).
    #[default]
    SendRecv,
    /// Tandem sends to the peer and ignores what it sends.
    SendOnly,
    /// Tandem accepts media from the peer and sends it none (the peer put the call on hold).
    RecvOnly,
    /// Neither way.
    Inactive,
}

impl MediaDirection {
    /// Whether Tandem sends media to the peer.
    pub const fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// Whether Tandem accepts media from the peer.
    pub const fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// The direction with these two halves.
    pub const fn from_flags(sends: bool, receives: bool) -> Self {
        match (sends, receives) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }
}

/// The controls of one leg. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LegControls {
    /// Which way media flows.
    pub direction: MediaDirection,
    /// The leg's audio towards the others is silence.
    pub mute_in: bool,
    /// What the leg hears is silence.
    pub mute_out: bool,
    /// The leg's audio is not forwarded to the others.
    pub block_media: bool,
    /// The leg's DTMF is not forwarded to the others.
    pub block_dtmf: bool,
}

impl LegControls {
    /// Media flows both ways, nothing muted or blocked.
    pub const NORMAL: LegControls = LegControls {
        direction: MediaDirection::SendRecv,
        mute_in: false,
        mute_out: false,
        block_media: false,
        block_dtmf: false,
    };

    /// Whether the leg's audio reaches nobody (blocked, muted or not received): what a
    /// conference tells its mixer.
    pub const fn audio_in_withheld(&self) -> bool {
        self.mute_in || self.block_media || !self.direction.receives()
    }

    /// These controls with `change` applied.
    pub const fn with(mut self, change: &ControlChange) -> LegControls {
        if let Some(direction) = change.direction {
            self.direction = direction;
        }
        if let Some(on) = change.mute_in {
            self.mute_in = on;
        }
        if let Some(on) = change.mute_out {
            self.mute_out = on;
        }
        if let Some(on) = change.block_media {
            self.block_media = on;
        }
        if let Some(on) = change.block_dtmf {
            self.block_dtmf = on;
        }
        self
    }
}

/// A change to some of a leg's controls (`None`: leave as is), so that callers that own
/// different controls (SIP hold, the REST API's mute, ng blocking) never overwrite each
/// other's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ControlChange {
    /// New direction.
    pub direction: Option<MediaDirection>,
    /// Mute in on or off.
    pub mute_in: Option<bool>,
    /// Mute out on or off.
    pub mute_out: Option<bool>,
    /// Block media on or off.
    pub block_media: Option<bool>,
    /// Block DTMF on or off.
    pub block_dtmf: Option<bool>,
}

impl ControlChange {
    /// Sets the direction.
    pub const fn direction(direction: MediaDirection) -> Self {
        let mut change = Self::NONE;
        change.direction = Some(direction);
        change
    }

    /// Changes nothing.
    pub const NONE: ControlChange = ControlChange {
        direction: None,
        mute_in: None,
        mute_out: None,
        block_media: None,
        block_dtmf: None,
    };
}

/// The G.711 byte that decodes to zero, for silencing relayed payloads in place; `None`
/// for codecs a relay cannot silence (see the module docs).
pub(crate) const fn silence_byte(codec: CodecId) -> Option<u8> {
    match codec {
        CodecId::Pcmu => Some(0xFF),
        CodecId::Pcma => Some(0xD5),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_split_into_their_halves_and_back() {
        for d in [
            MediaDirection::SendRecv,
            MediaDirection::SendOnly,
            MediaDirection::RecvOnly,
            MediaDirection::Inactive,
        ] {
            assert_eq!(MediaDirection::from_flags(d.sends(), d.receives()), d);
        }
        assert!(!MediaDirection::RecvOnly.sends());
        assert!(!MediaDirection::SendOnly.receives());
    }

    #[test]
    fn a_change_touches_only_what_it_names() {
        let muted = LegControls::NORMAL.with(&ControlChange {
            mute_in: Some(true),
            ..ControlChange::NONE
        });
        let held = muted.with(&ControlChange::direction(MediaDirection::RecvOnly));
        assert!(held.mute_in);
        assert_eq!(held.direction, MediaDirection::RecvOnly);
        assert!(held.audio_in_withheld());
        let resumed = held.with(&ControlChange::direction(MediaDirection::SendRecv));
        assert_eq!(resumed, muted);
    }

    /// The silence bytes decode to zero in the codecs crate's own decoders.
    #[test]
    fn g711_silence_bytes_decode_to_zero() {
        use tandem_codecs::{Format, registry};
        for (format, codec) in [(Format::PCMU, CodecId::Pcmu), (Format::PCMA, CodecId::Pcma)] {
            let byte = silence_byte(codec).unwrap();
            let mut decoder = registry::new_decoder(format).unwrap();
            let mut pcm = [1i16; 160];
            let n = decoder.decode(&[byte; 160], &mut pcm).unwrap();
            assert_eq!(n, 160);
            assert!(
                pcm.iter().all(|&s| s.abs() <= 8),
                "{format}: {:?}",
                &pcm[..4]
            );
        }
        assert_eq!(silence_byte(CodecId::G722), None);
    }
}
