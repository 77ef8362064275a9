//! Fuzzes the digest header parsers: any bytes give a challenge, credentials, or a typed
//! error, never a panic; whatever parses prints canonically and parses back unchanged, the
//! selected challenge is answered by a client, and parsed credentials go through a verifier.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tandem_sip::auth::fuzzing::digest_header(data);
});
