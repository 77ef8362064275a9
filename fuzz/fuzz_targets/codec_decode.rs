//! Fuzzes every decoder: the first byte picks the format, the rest is one RTP payload. Any
//! bytes give samples or a typed error, never a panic, and never more samples than the
//! decoder says the payload holds; a decoder that can rewind decodes a payload again exactly as
//! it did from its checkpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_codecs::{Format, registry};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else { return };
    let formats: Vec<Format> = registry::built()
        .flat_map(|d| d.sample_rates.iter().map(move |&rate| Format { codec: d.id, sample_rate: rate }))
        .collect();
    let format = formats[selector as usize % formats.len()];
    let mut decoder = registry::new_decoder(format).unwrap();
    let mut pcm = vec![0i16; format.samples_in_ms(120)];
    let rewinds = decoder.checkpoint();
    if let Ok(n) = decoder.decode(payload, &mut pcm) {
        assert_eq!(Ok(n), decoder.samples_in(payload));
        // A rewind takes decoding and concealment back: from the checkpoint, the payload
        // decodes again exactly as it did.
        if rewinds {
            let first = pcm[..n].to_vec();
            decoder.rewind();
            decoder.conceal(&mut pcm[..format.samples_in_ms(20)]);
            decoder.rewind();
            assert_eq!(decoder.decode(payload, &mut pcm), Ok(n));
            assert_eq!(&pcm[..n], &first[..]);
        }
    }
    decoder.recover_from_next(payload, &mut pcm[..format.samples_in_ms(20)]);
    decoder.conceal(&mut pcm[..format.samples_in_ms(20)]);
});
