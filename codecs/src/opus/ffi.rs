//! libopus' decoder, called directly for the one thing the `opus2` binding cannot do: copy its
//! state.
//!
//! libopus keeps a decoder in one block of memory whose parts find each other by offset (the
//! SILK and CELT decoders sit at `silk_dec_offset` and `celt_dec_offset` inside the block) and
//! otherwise point only at static tables, and it lets the caller own that block
//! (`opus_decoder_get_size`, `opus_decoder_init`). A byte copy of the block is therefore a
//! decoder in the same state. The jitter buffer uses that to take concealment back: it saves
//! the state before libopus conceals a gap, and if the packet it was waiting for turns up, it
//! restores the state and decodes the packet as the one after its predecessor, not as one
//! after a loss. The saved copy doubles the decoder's memory: libopus 1.5 takes 18,260 bytes
//! for a mono decoder, so an Opus decoder here holds 36.5 kB, allocated when it is built.
//!
//! This file holds the crate's only unsafe code; every block says why it is sound.
#![allow(unsafe_code)]

use std::os::raw::c_int;

use libopus_sys as sys;

const OPUS_OK: c_int = 0;
const OPUS_BAD_ARG: c_int = -1;
const OPUS_RESET_STATE: c_int = 4028;

/// A mono libopus decoder in memory it owns, with room for one saved copy of its state.
pub(super) struct RawDecoder {
    /// The state: `opus_decoder_get_size(1)` bytes, aligned to 16 like `malloc`'s blocks, so
    /// any C type libopus stores in it is aligned.
    live: Box<[u128]>,
    /// The copy [`RawDecoder::save`] made.
    saved: Box<[u128]>,
}

impl RawDecoder {
    /// A decoder producing mono audio at `sample_rate` (8, 12, 16, 24 or 48 kHz); the libopus
    /// error code if it refuses.
    pub(super) fn new(sample_rate: u32) -> Result<Self, c_int> {
        // SAFETY: a size query, no pointers involved.
        let bytes = unsafe { sys::opus_decoder_get_size(1) };
        let bytes = usize::try_from(bytes).map_err(|_| OPUS_BAD_ARG)?;
        let rate = i32::try_from(sample_rate).map_err(|_| OPUS_BAD_ARG)?;
        let mut live = vec![0u128; bytes.div_ceil(16)].into_boxed_slice();
        // SAFETY: `live` is ours alone, at least `opus_decoder_get_size(1)` bytes long and
        // 16-byte aligned; `opus_decoder_init` writes only inside it.
        let status = unsafe { sys::opus_decoder_init(live.as_mut_ptr().cast(), rate, 1) };
        if status != OPUS_OK {
            return Err(status);
        }
        let saved = live.clone();
        Ok(Self { live, saved })
    }

    fn state(&mut self) -> *mut sys::OpusDecoder {
        self.live.as_mut_ptr().cast()
    }

    /// Decodes `payload` into `pcm`, all of which is available: with `fec`, the in-band FEC
    /// the payload carries for the frame before it; an empty payload conceals `pcm.len()`
    /// samples. Returns the samples written or the libopus error code.
    pub(super) fn decode(
        &mut self,
        payload: &[u8],
        pcm: &mut [i16],
        fec: bool,
    ) -> Result<usize, c_int> {
        let len = i32::try_from(payload.len()).map_err(|_| OPUS_BAD_ARG)?;
        let frame = c_int::try_from(pcm.len()).map_err(|_| OPUS_BAD_ARG)?;
        let data = if payload.is_empty() {
            std::ptr::null()
        } else {
            payload.as_ptr()
        };
        let state = self.state();
        // SAFETY: `state` was initialised by `opus_decoder_init` (and is only ever replaced by
        // a byte copy of such a state); `data` is null with `len` 0, or valid for `len` bytes
        // that libopus only reads; `pcm` is valid for `frame` mono samples, and libopus writes
        // at most `frame` of them.
        let n = unsafe {
            sys::opus_decode(state, data, len, pcm.as_mut_ptr(), frame, c_int::from(fec))
        };
        usize::try_from(n).map_err(|_| n)
    }

    /// Forgets all history, as if newly initialised.
    pub(super) fn reset(&mut self) {
        let state = self.state();
        // SAFETY: an initialised state; OPUS_RESET_STATE takes no further argument.
        unsafe { sys::opus_decoder_ctl(state, OPUS_RESET_STATE) };
    }

    /// Remembers the current state.
    pub(super) fn save(&mut self) {
        self.saved.copy_from_slice(&self.live);
    }

    /// Returns to the state [`RawDecoder::save`] remembered (the initial one if none was).
    pub(super) fn restore(&mut self) {
        self.live.copy_from_slice(&self.saved);
    }
}
