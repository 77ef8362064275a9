//! `tandem-loadgen`: N calls through an ng media engine, stepped up until loss or lateness
//! appears; see `tandem_benches::loadgen` for what is measured and
//! `benches/scripts/loadgen_vs_rtpengine.sh` for a side-by-side run.
//!
//! ```text
//! cargo run --release -p tandem-benches --bin loadgen -- --ng 127.0.0.1:2223 \
//!     --scenario transcode --start 5 --step 5 --max 50 --seconds-per-step 10
//! ```

use tandem_benches::loadgen::{self, options::Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = Options::parse(&args).and_then(|o| loadgen::run(&o));
    if let Err(e) = result {
        eprintln!("tandem-loadgen: {e}");
        std::process::exit(2);
    }
}
