//! Fixed-ratio telephony resampling. Being written: see the helper brief.

use crate::CodecError;

/// A polyphase FIR resampler between two of the telephony rates.
#[derive(Debug, Clone)]
pub struct Resampler {
    from: u32,
    to: u32,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Result<Self, CodecError> {
        Ok(Self { from, to })
    }

    /// Samples `process` writes for `input_len` input samples.
    pub fn output_len(&self, input_len: usize) -> usize {
        input_len * self.to as usize / self.from as usize
    }

    /// Resamples `input` into `output`, returning the samples written.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) -> usize {
        let n = self.output_len(input.len()).min(output.len());
        output[..n].fill(0);
        n
    }

    /// Forgets all history.
    pub fn reset(&mut self) {}
}
