//! Parses the `sip` bench's typical INVITE N times, for counting instructions per parse on a
//! shared, noisy machine where wall time is unreliable:
//!
//! ```text
//! cargo build --release -p tandem-benches --bin sip_parse_count
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/sip_parse_count 10000 [--compact]
//! ```
//!
//! Instructions per parse = (total Ir at N) - (total Ir at 0), divided by N; or
//! `perf stat -e instructions` at two N the same way. `--compact` parses the compact, folded
//! variant instead.

use std::hint::black_box;

use tandem_benches::sip_messages::{invite, invite_compact};
use tandem_sip::message::Message;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let bytes = if args.next().as_deref() == Some("--compact") {
        invite_compact()
    } else {
        invite()
    };
    let mut headers = 0;
    for _ in 0..n {
        let m = Message::parse(black_box(&bytes)).expect("the bench INVITE parses");
        headers += black_box(m).headers().len();
    }
    println!("{n} parses, {headers} header values");
}
