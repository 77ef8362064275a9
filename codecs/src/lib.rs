//! Tandem's codecs: G.711 µ-law and A-law, L16, G.722, Opus and (behind the `g729` feature)
//! G.729, with fixed-ratio telephony resampling and transcoding paths between any two of them.
//!
//! # The real-time contract
//!
//! Constructors validate their configuration and allocate everything a codec will ever need.
//! After that, [`Encoder::encode`], [`Decoder::decode`] and [`Decoder::conceal`] only write
//! into the buffers they are given and return how much they wrote: no allocation, no locks, no
//! system calls, no logging. Buffer sizes are known up front from
//! [`CodecDescriptor::max_payload_len`] and [`Format::samples_in_ms`].
//!
//! PCM is mono, signed 16-bit, at the [`Format`]'s sample rate.
//!
//! # Finding a codec
//!
//! Facts about codecs are static data ([`CodecDescriptor`]); [`registry`] looks them up by
//! name or payload type and builds encoders and decoders. [`plan`] finds the cheapest chain
//! between two formats, and [`Transcoder`] runs it, repacketizing between packet times.
//!
//! ```
//! use tandem_codecs::{registry, Format, EncoderConfig};
//!
//! let mut encoder = registry::new_encoder(Format::PCMA, &EncoderConfig::default()).unwrap();
//! let mut decoder = registry::new_decoder(Format::PCMA).unwrap();
//! let pcm = [1000i16; 160];
//! let mut payload = [0u8; 160];
//! let mut back = [0i16; 160];
//! let len = encoder.encode(&pcm, &mut payload).unwrap();
//! let samples = decoder.decode(&payload[..len], &mut back).unwrap();
//! assert_eq!(samples, 160);
//! ```

mod conceal;
mod descriptor;
mod error;
pub mod file;
pub mod g711;
pub mod g722;
#[cfg(feature = "g729")]
pub mod g729;
pub mod l16;
pub mod opus;
pub mod plan;
pub mod registry;
pub mod resample;
mod transcoder;

pub use descriptor::{
    CodecCost, CodecDescriptor, CodecId, Format, G722, G729, L16, OPUS, PCMA, PCMU, RtpClock,
};
pub use error::{CodecError, DecodeError, EncodeError};
pub use opus::{OpusApplication, OpusConfig};
pub use registry::EncoderConfig;
pub use transcoder::{
    DecodePath, EncodePath, FifoFull, MAX_PACKET_MS, Transcoder, TranscoderConfig,
};

/// Turns RTP payloads of one codec into PCM.
///
/// # For implementations
/// - `decode` never allocates and never panics, whatever the payload holds.
/// - On error the decoder leaves `pcm` untouched; its state is as if the payload was lost, so
///   the caller's next step, `conceal`, produces a sensible frame.
pub trait Decoder: Send {
    /// The format this decoder produces.
    fn format(&self) -> Format;

    /// Decodes one RTP payload into `pcm` and returns the samples written.
    ///
    /// An error means: drop this payload, conceal the frame, continue.
    fn decode(&mut self, payload: &[u8], pcm: &mut [i16]) -> Result<usize, DecodeError>;

    /// Fills all of `pcm` with a concealment of lost audio (the codec's own PLC where it has
    /// one, otherwise a fading repeat of the last frame) and returns the samples written.
    /// Codecs whose frames come in fixed steps (Opus: 2.5 ms) may write fewer.
    fn conceal(&mut self, pcm: &mut [i16]) -> usize;

    /// Recovers a lost frame from the packet that follows it, for codecs that carry forward
    /// error correction (Opus in-band FEC). `pcm.len()` is the lost frame's length. Codecs
    /// without FEC conceal instead.
    fn recover_from_next(&mut self, next_payload: &[u8], pcm: &mut [i16]) -> usize {
        let _ = next_payload;
        self.conceal(pcm)
    }

    /// Saves the decoder's state, so that concealment run after it can be taken back by
    /// [`Decoder::rewind`] when the audio it stood in for turns up after all: the packet then
    /// decodes as the one after its predecessor, not as one after a loss. False, with nothing
    /// saved, for decoders that cannot (the default).
    fn checkpoint(&mut self) -> bool {
        false
    }

    /// Returns the decoder to the state of its last [`Decoder::checkpoint`], as if nothing
    /// decoded or concealed since had happened. Only called after a checkpoint returned true.
    fn rewind(&mut self) {}

    /// Samples that `payload` decodes to, without decoding it.
    fn samples_in(&self, payload: &[u8]) -> Result<usize, DecodeError>;

    /// Forgets all history, as if newly built.
    fn reset(&mut self);
}

/// Turns PCM into RTP payloads of one codec.
///
/// # For implementations
/// - `encode` never allocates and never panics; a frame length the codec cannot encode is an
///   [`EncodeError::InvalidFrameLength`].
pub trait Encoder: Send {
    /// The format this encoder consumes and produces.
    fn format(&self) -> Format;

    /// Encodes one packet's worth of PCM into `payload` and returns the bytes written. Zero
    /// means there is nothing to send (discontinuous transmission during silence).
    fn encode(&mut self, pcm: &[i16], payload: &mut [u8]) -> Result<usize, EncodeError>;

    /// Samples of algorithmic delay the encoder adds (Opus calls this lookahead; Ogg Opus
    /// stores it as pre-skip).
    fn lookahead(&self) -> usize {
        0
    }

    /// Forgets all history, as if newly built.
    fn reset(&mut self);
}
