//! Criterion benches live in `benches/`; the library holds the whole-engine load generator
//! (`tandem-loadgen`, [`loadgen`]), the ng call setup rate bench ([`ng_rate`]), the relay's
//! kernel floor for `engine_bench` ([`relay_floor`]), the
//! in-process load source of `scaling_bench` ([`synthetic`]) and the SIP messages the `sip`
//! bench and the `sip_parse_count` harness share ([`sip_messages`]).

pub mod loadgen;
pub mod ng_rate;
pub mod relay_floor;
pub mod sip_messages;
pub mod synthetic;
