//! How many cases a property test runs: its own default, or `PROPTEST_CASES` when that is
//! set, so a deeper hunt is one environment variable away
//! (`PROPTEST_CASES=2000 cargo test -p tandem --test api_stateful`). Tests that build their
//! own proptest `Config` with a fixed count would otherwise ignore the variable.

/// `PROPTEST_CASES` if it is set to a number, else `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}
