//! Replays the `config_toml` fuzz seed corpus (`fuzz/corpus/config_toml/`) and the example
//! file through the fuzz target's entry point (`Config::from_toml`), on stable Rust.
//!
//! Seeds named `valid-*` must load; `invalid-*` must be refused with an error that prints as
//! one line. Add crashers found by `cargo fuzz run config_toml` here with a descriptive name.

use std::path::Path;

use tandem::run::config::Config;

#[test]
fn config_toml_corpus_replays() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = std::fs::read_to_string(root.join("tandem.example.toml")).unwrap();
    assert!(
        Config::from_toml(&example).is_ok(),
        "the example file loads"
    );
    let dir = root.join("fuzz/corpus/config_toml");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        let loaded = Config::from_toml(&text);
        if name.starts_with("valid-") {
            assert!(loaded.is_ok(), "seed {name} should load: {loaded:?}");
        } else if name.starts_with("invalid-") {
            let error = loaded.expect_err(&name).to_string();
            assert!(!error.contains('\n'), "seed {name}: {error:?}");
        }
        seeds += 1;
    }
    assert!(seeds >= 10, "{} holds {seeds} seeds", dir.display());
}
