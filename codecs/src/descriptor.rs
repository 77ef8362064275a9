//! Static facts about each codec: names, payload types, rates, packet times, sizes and costs.
//!
//! Facts are data, not code (rtpengine's `codec_def_t`, Asterisk's translator table): a codec
//! is a [`CodecDescriptor`] plus an encoder and a decoder. Spec quirks live here with their
//! citation, and a test pins each of them.

use std::fmt;

/// Every codec Tandem knows, whether or not this build includes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CodecId {
    /// G.711 µ-law (RFC 3551 "PCMU").
    Pcmu,
    /// G.711 A-law (RFC 3551 "PCMA").
    Pcma,
    /// Linear 16-bit PCM in network byte order (RFC 3551 "L16").
    L16,
    /// G.722 sub-band ADPCM at 64 kbit/s.
    G722,
    /// Opus (RFC 6716, RTP payload format RFC 7587).
    Opus,
    /// G.729 Annex A with Annex B silence compression (optional cargo feature `g729`).
    G729,
}

impl CodecId {
    /// This codec's descriptor.
    pub fn descriptor(self) -> &'static CodecDescriptor {
        match self {
            CodecId::Pcmu => &PCMU,
            CodecId::Pcma => &PCMA,
            CodecId::L16 => &L16,
            CodecId::G722 => &G722,
            CodecId::Opus => &OPUS,
            CodecId::G729 => &G729,
        }
    }
}

impl fmt::Display for CodecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.descriptor().name)
    }
}

/// How the RTP timestamp clock relates to the audio sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpClock {
    /// The RTP clock ticks once per audio sample.
    SampleRate,
    /// The RTP clock runs at a fixed rate whatever the audio rate is.
    Fixed(u32),
}

/// Relative cost of running a codec, in the planner's units (about 0.1 µs per 20 ms frame on
/// the reference machine; see BENCHMARKS.md). Only the ordering matters to the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecCost {
    /// Cost to encode one 20 ms frame.
    pub encode: u32,
    /// Cost to decode one 20 ms frame.
    pub decode: u32,
}

/// Static facts about one codec.
#[derive(Debug, PartialEq, Eq)]
pub struct CodecDescriptor {
    /// Which codec this is.
    pub id: CodecId,
    /// The RTP encoding name as SDP's `a=rtpmap` spells it (RFC 3551 §6, RFC 7587 §7).
    pub name: &'static str,
    /// The static RTP payload type, if RFC 3551 assigns one for the rates we support.
    pub static_payload_type: Option<u8>,
    /// Audio sample rates the codec runs at, in Hz; the first is the default.
    pub sample_rates: &'static [u32],
    /// How RTP timestamps relate to the audio rate.
    pub rtp_clock: RtpClock,
    /// The smallest frame the codec codes, in units of 0.5 ms (so 2.5 ms is 5).
    pub frame_half_ms: u32,
    /// Packet times (ms) that encoders produce and the repacketizer supports.
    pub ptimes_ms: &'static [u32],
    /// The packet time used when none is negotiated (RFC 3551 §4.5).
    pub default_ptime_ms: u32,
    /// True when decode(encode(x)) == x.
    pub lossless: bool,
    /// The byte that encodes digital silence, for codecs where one byte is one sample.
    pub silence_byte: Option<u8>,
    /// Relative cost of encoding and decoding.
    pub cost: CodecCost,
    /// The cargo feature that builds this codec in, if it is optional.
    pub feature: Option<&'static str>,
}

/// Packet times every telephony codec here can be packetized at.
const TELEPHONY_PTIMES: &[u32] = &[10, 20, 30, 40, 60];

/// G.711 µ-law: payload type 0, one byte per sample, silence is 0xFF (RFC 3551 §4.5.14).
pub static PCMU: CodecDescriptor = CodecDescriptor {
    id: CodecId::Pcmu,
    name: "PCMU",
    static_payload_type: Some(0),
    sample_rates: &[8000],
    rtp_clock: RtpClock::SampleRate,
    frame_half_ms: 1,
    ptimes_ms: TELEPHONY_PTIMES,
    default_ptime_ms: 20,
    lossless: false,
    silence_byte: Some(0xFF),
    cost: CodecCost {
        encode: 1,
        decode: 1,
    },
    feature: None,
};

/// G.711 A-law: payload type 8, one byte per sample, silence is 0xD5 (RFC 3551 §4.5.14).
pub static PCMA: CodecDescriptor = CodecDescriptor {
    id: CodecId::Pcma,
    name: "PCMA",
    static_payload_type: Some(8),
    sample_rates: &[8000],
    rtp_clock: RtpClock::SampleRate,
    frame_half_ms: 1,
    ptimes_ms: TELEPHONY_PTIMES,
    default_ptime_ms: 20,
    lossless: false,
    silence_byte: Some(0xD5),
    cost: CodecCost {
        encode: 1,
        decode: 1,
    },
    feature: None,
};

/// L16: 16-bit big-endian PCM. RFC 3551 assigns static types only at 44.1 kHz (10, 11), which
/// telephony does not use, so every rate here takes a dynamic payload type.
pub static L16: CodecDescriptor = CodecDescriptor {
    id: CodecId::L16,
    name: "L16",
    static_payload_type: None,
    sample_rates: &[8000, 16000, 48000],
    rtp_clock: RtpClock::SampleRate,
    frame_half_ms: 1,
    ptimes_ms: TELEPHONY_PTIMES,
    default_ptime_ms: 20,
    lossless: true,
    silence_byte: None,
    cost: CodecCost {
        encode: 1,
        decode: 1,
    },
    feature: None,
};

/// G.722 samples at 16 kHz, but its RTP clock runs at 8000 Hz "for historical reasons"
/// (RFC 3551 §4.5.2): a 20 ms packet advances the timestamp by 160, not 320.
pub static G722: CodecDescriptor = CodecDescriptor {
    id: CodecId::G722,
    name: "G722",
    static_payload_type: Some(9),
    sample_rates: &[16000],
    rtp_clock: RtpClock::Fixed(8000),
    frame_half_ms: 1,
    ptimes_ms: TELEPHONY_PTIMES,
    default_ptime_ms: 20,
    lossless: false,
    silence_byte: None,
    cost: CodecCost {
        encode: 60,
        decode: 60,
    },
    feature: None,
};

/// Opus: the RTP clock is always 48 kHz whatever rate the codec runs at (RFC 7587 §4.1), and
/// the SDP always says `opus/48000/2` (RFC 7587 §7). Frames are 2.5 to 60 ms.
pub static OPUS: CodecDescriptor = CodecDescriptor {
    id: CodecId::Opus,
    name: "opus",
    static_payload_type: None,
    sample_rates: &[48000, 8000, 16000, 24000],
    rtp_clock: RtpClock::Fixed(48000),
    frame_half_ms: 5,
    ptimes_ms: TELEPHONY_PTIMES,
    default_ptime_ms: 20,
    lossless: false,
    silence_byte: None,
    cost: CodecCost {
        encode: 3000,
        decode: 400,
    },
    feature: None,
};

/// G.729: payload type 18, 10 ms frames of 10 bytes; Annex B adds 2-byte SID frames
/// (RFC 3551 §4.5.6).
pub static G729: CodecDescriptor = CodecDescriptor {
    id: CodecId::G729,
    name: "G729",
    static_payload_type: Some(18),
    sample_rates: &[8000],
    rtp_clock: RtpClock::SampleRate,
    frame_half_ms: 20,
    ptimes_ms: TELEPHONY_PTIMES,
    default_ptime_ms: 20,
    lossless: false,
    silence_byte: None,
    cost: CodecCost {
        encode: 1500,
        decode: 300,
    },
    feature: Some("g729"),
};

impl CodecDescriptor {
    /// The audio rate used when none is asked for.
    pub fn default_sample_rate(&self) -> u32 {
        self.sample_rates[0]
    }

    /// True if the codec runs at `rate` Hz.
    pub fn supports_sample_rate(&self, rate: u32) -> bool {
        self.sample_rates.contains(&rate)
    }

    /// True if encoders and the repacketizer support `ptime_ms`.
    pub fn supports_ptime(&self, ptime_ms: u32) -> bool {
        self.ptimes_ms.contains(&ptime_ms)
    }

    /// The RTP timestamp clock rate in Hz when the codec runs at `sample_rate`.
    pub fn rtp_clock_rate(&self, sample_rate: u32) -> u32 {
        match self.rtp_clock {
            RtpClock::SampleRate => sample_rate,
            RtpClock::Fixed(rate) => rate,
        }
    }

    /// The largest payload an encoder of this codec writes for one packet of `ptime_ms` at
    /// `sample_rate`: the size to preallocate payload buffers with.
    pub fn max_payload_len(&self, sample_rate: u32, ptime_ms: u32) -> usize {
        let samples = (sample_rate * ptime_ms / 1000) as usize;
        match self.id {
            CodecId::Pcmu | CodecId::Pcma => samples,
            CodecId::L16 => samples * 2,
            // Four bits per 16 kHz sample.
            CodecId::G722 => samples / 2,
            // RFC 6716 §3.2.1: at most 1275 bytes per frame; 20 ms frames at most, plus the
            // code-3 framing header (3 bytes) for multi-frame packets.
            CodecId::Opus => 1275 * ptime_ms.div_ceil(20).max(1) as usize + 3,
            // 10 bytes per 10 ms frame; SID frames are smaller.
            CodecId::G729 => 10 * ptime_ms.div_ceil(10) as usize,
        }
    }
}

/// A codec running at one audio sample rate: a node in the transcoding graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Format {
    /// The codec.
    pub codec: CodecId,
    /// The audio sample rate in Hz (not the RTP clock rate).
    pub sample_rate: u32,
}

impl Format {
    /// G.711 µ-law at 8 kHz.
    pub const PCMU: Format = Format {
        codec: CodecId::Pcmu,
        sample_rate: 8000,
    };
    /// G.711 A-law at 8 kHz.
    pub const PCMA: Format = Format {
        codec: CodecId::Pcma,
        sample_rate: 8000,
    };
    /// G.722 at 16 kHz.
    pub const G722: Format = Format {
        codec: CodecId::G722,
        sample_rate: 16000,
    };
    /// G.729 at 8 kHz.
    pub const G729: Format = Format {
        codec: CodecId::G729,
        sample_rate: 8000,
    };

    /// L16 at `sample_rate`.
    pub const fn l16(sample_rate: u32) -> Format {
        Format {
            codec: CodecId::L16,
            sample_rate,
        }
    }

    /// Opus running at `sample_rate`.
    pub const fn opus(sample_rate: u32) -> Format {
        Format {
            codec: CodecId::Opus,
            sample_rate,
        }
    }

    /// The codec at its default rate.
    pub fn default_for(codec: CodecId) -> Format {
        Format {
            codec,
            sample_rate: codec.descriptor().default_sample_rate(),
        }
    }

    /// This format's codec descriptor.
    pub fn descriptor(&self) -> &'static CodecDescriptor {
        self.codec.descriptor()
    }

    /// Audio samples in `ms` milliseconds at this format's rate.
    pub fn samples_in_ms(&self, ms: u32) -> usize {
        (self.sample_rate as usize * ms as usize) / 1000
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.codec, self.sample_rate)
    }
}
