//! Dynamic payload type numbers bound to codecs for the life of a session (RFC 3264 §8.3.2).
//!
//! "The mapping from a particular dynamic payload type number to a particular codec within
//! that media stream MUST NOT change for the duration of a session." Both sides' SDP count:
//! once either side has said `96 opus/48000/2` on a stream, our later offers use 96 for Opus
//! on that stream and never for anything else.

use crate::sdp::model::SessionDescription;
use crate::sdp::payload::{Codec, PayloadType};

/// Per `m=` line index, the dynamic payload types seen so far and their codecs.
///
/// Bounded: at most [`crate::sdp::MAX_MEDIA`] streams of 32 dynamic numbers each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadTypeBindings {
    streams: Vec<Vec<(PayloadType, Codec)>>,
}

impl PayloadTypeBindings {
    /// No bindings: a new session.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the dynamic payload types of every live (non-zero port) stream of `sdp`,
    /// ours or the peer's. The first binding of a number wins.
    pub fn record(&mut self, sdp: &SessionDescription) {
        for (index, media) in sdp.media.iter().enumerate() {
            if media.port == 0 {
                continue;
            }
            if self.streams.len() <= index {
                self.streams.resize_with(index + 1, Vec::new);
            }
            let bound = &mut self.streams[index];
            for format in media.payload_formats() {
                let pt = format.payload_type;
                if pt.is_dynamic() && !bound.iter().any(|(b, _)| *b == pt) {
                    let mut codec = format.codec;
                    codec.fmtp = None;
                    bound.push((pt, codec));
                }
            }
        }
    }

    /// The number bound to `codec` (same encoding) on stream `index`, if any.
    pub fn lookup(&self, index: usize, codec: &Codec) -> Option<PayloadType> {
        self.streams
            .get(index)?
            .iter()
            .find(|(_, bound)| bound.same_encoding(codec))
            .map(|(pt, _)| *pt)
    }

    /// True if `payload_type` is bound to some codec on stream `index`.
    pub fn is_bound(&self, index: usize, payload_type: PayloadType) -> bool {
        self.streams
            .get(index)
            .is_some_and(|bound| bound.iter().any(|(pt, _)| *pt == payload_type))
    }
}
