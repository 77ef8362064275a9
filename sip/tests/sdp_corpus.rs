//! Replays the `sdp_parse` fuzz seed corpus (`fuzz/corpus/sdp_parse/`) through the same entry
//! point as the fuzz target, on stable Rust, so every seed (and every crash the fuzzer ever
//! found, once added there) stays covered by `cargo test`.
//!
//! Seeds named `valid-*` must parse; `invalid-*` must be rejected; any other seed only has to
//! go through without a panic. The entry point itself checks print/parse round trips and
//! that the answer to every parsed offer negotiates.

use std::path::Path;

use tandem_sip::sdp::fuzzing;

#[test]
fn every_seed_replays_without_panic_and_meets_its_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/sdp_parse");
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 10, "only {} seeds", seeds.len());
    for path in seeds {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let parsed = fuzzing::sdp_parse(&bytes);
        if name.starts_with("valid-") {
            assert!(parsed, "{name} is rejected");
        } else if name.starts_with("invalid-") {
            assert!(!parsed, "{name} is accepted");
        }
    }
}
