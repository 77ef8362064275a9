//! Replays the `sip_message` fuzz seed corpus (`fuzz/corpus/sip_message/`) through the same
//! entry point as the fuzz target, on stable Rust, so every seed (and every crash the fuzzer
//! ever found, once added there) stays covered by `cargo test`.
//!
//! Seeds named `valid-*` must parse and validate; `invalid-*` must be rejected by the parser
//! or by `Message::validate`; any other seed only has to go through without a panic.

use std::path::Path;

use tandem_sip::message::{Message, fuzzing};

#[test]
fn every_seed_replays_without_panic_and_meets_its_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/sip_message");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 5, "only {} seeds", seeds.len());
    for path in seeds {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        fuzzing::sip_message(&bytes);
        let outcome = Message::parse(&bytes).map(|m| m.validate());
        if name.starts_with("valid-") {
            assert!(matches!(outcome, Ok(Ok(()))), "{name}: {outcome:?}");
        } else if name.starts_with("invalid-") {
            assert!(!matches!(outcome, Ok(Ok(()))), "{name} is accepted");
        }
    }
}
