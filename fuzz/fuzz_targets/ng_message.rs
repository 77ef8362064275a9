//! Fuzzes the ng protocol's input side: framing (`<cookie> <bencode>`), the bencode reader
//! and the option parser of `offer`/`answer` (`tandem::ng::command::check`). No input may
//! panic; whatever decodes must re-encode to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tandem::ng::command::check(data);
});
