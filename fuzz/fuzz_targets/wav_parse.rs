//! Fuzzes the WAV parser: any bytes give a result or a typed error, never a panic; whatever
//! parses re-encodes (mono) and parses back to the same samples.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_codecs::file::wav;

fuzz_target!(|data: &[u8]| {
    if let Ok((info, samples)) = wav::parse(data) {
        let again = wav::parse(&wav::to_bytes(info.sample_rate, &samples));
        assert_eq!(again.ok().map(|(_, s)| s), Some(samples));
    }
});
