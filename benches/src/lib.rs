//! Criterion benches live in `benches/`; the library holds the whole-engine load generator
//! (`tandem-loadgen`, [`loadgen`]).

pub mod loadgen;
