//! Replays the `digest_header` fuzz seed corpus (`fuzz/corpus/digest_header/`) through the
//! fuzz target's entry point, on stable Rust.
//!
//! Seeds named `valid-*` must parse as a challenge, as credentials, or (line by line) as the
//! challenge fields of one response; every other seed must be rejected by all three. The entry
//! point itself asserts that whatever parses survives print → parse unchanged. Seeds are
//! hand-written from the RFC 7616/2617 examples and the baresip/sipp capture described in
//! `auth_interop.rs`; add crashers found by `cargo fuzz` here with a descriptive name.

use std::path::Path;

use tandem_sip::auth::fuzzing::digest_header;

#[test]
fn digest_header_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/digest_header");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            digest_header(&bytes),
            name.starts_with("valid-"),
            "seed {name}: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        seeds += 1;
    }
    assert!(seeds >= 10, "{} holds {seeds} seeds", dir.display());
}
