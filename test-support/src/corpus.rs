//! Replays a fuzz target's seed corpus (`fuzz/corpus/<target>/`) on stable Rust, so the
//! normal test suite runs every parser's fuzz entry point over every seed, and a crash the
//! fuzzer found once stays fixed once its input is added to the corpus.

use std::path::{Path, PathBuf};

/// The seed corpus folder of fuzz target `target`.
///
/// Found from the running test's crate (cargo sets `CARGO_MANIFEST_DIR` when it runs a
/// test; every crate sits one level below the workspace root), not from where this crate
/// was compiled: a build reused from another checkout through a shared target directory
/// would otherwise read that checkout's corpus.
pub fn dir(target: &str) -> PathBuf {
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    Path::new(&crate_dir).join("../fuzz/corpus").join(target)
}

/// Calls `check(name, bytes)` for every file of `target`'s corpus, in name order, and returns
/// how many there were. Panics (failing the test) if the folder is missing or empty: a corpus
/// that silently vanished would make the replay a test that cannot fail.
pub fn replay(target: &str, mut check: impl FnMut(&str, &[u8])) -> usize {
    let dir = dir(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "corpus {} is empty", dir.display());
    for path in &paths {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        check(&name, &bytes);
    }
    paths.len()
}
