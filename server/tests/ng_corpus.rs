//! Replays the `ng_message` fuzz seed corpus (`fuzz/corpus/ng_message/`) through the fuzz
//! target's entry point (`tandem::ng::command::check`), on stable Rust.
//!
//! Seeds named `valid-*` must frame, decode and have accepted options; `invalid-*` must not.
//! The `valid-*` offers, answers, pings and deletes are Kamailio's own datagrams from
//! `tests/kamailio/ng-samples.txt`; add crashers found by `cargo fuzz` here with a
//! descriptive name.

use std::path::Path;

use tandem::ng::command::check;

#[test]
fn ng_message_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/ng_message");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let valid = check(&bytes);
        if name.starts_with("valid-") {
            assert!(valid, "seed {name} should be accepted");
        } else if name.starts_with("invalid-") {
            assert!(!valid, "seed {name} should be refused");
        }
        seeds += 1;
    }
    assert!(seeds >= 10, "{} holds {seeds} seeds", dir.display());
}
