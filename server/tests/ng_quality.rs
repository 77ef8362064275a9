//! ng `delete` reports how a call's quality moved, as rtpengine does: each RTCP report a leg
//! sends scores one interval, and the reply's `SSRC` entry carries the `lowest MOS`, the
//! `highest MOS` and their `average MOS` (Kamailio's `mos_min_*`, `mos_max_*` and
//! `mos_average_*` read them). Against `tandem run` over UDP, with a real RTP peer whose
//! first second loses every fifth packet and whose next eight seconds lose none.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tandem::ng::bencode::Value;

use support::ng::{NgClient, media_port, peer, rtp};
use support::{Ports, Tandem, metrics};

fn result(reply: &Value) -> &str {
    reply.get("result").and_then(Value::as_str).unwrap_or("")
}

fn int(entry: &Value, key: &str) -> i64 {
    entry
        .get(key)
        .and_then(Value::as_int)
        .unwrap_or_else(|| panic!("no {key} in {entry:?}"))
}

#[test]
fn ng_delete_reports_the_lowest_and_highest_mos_of_the_call() {
    let ports = Ports::for_test(15);
    let _tandem = Tandem::start(&ports.run_args());
    let mut ng = NgClient::new(ports.ng);
    let (a, b) = (peer(), peer());
    let (pa, pb) = (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    );
    let (_, answer) = ng.pcmu_call("mos", pa, pb);
    let to_a_leg = SocketAddr::from(([127, 0, 0, 1], media_port(&answer)));

    // A leg reports first 1.25–3.75 s after it is set up, then every 2.5–7.5 s (RFC 3550
    // A.7, randomised): the lossy first 1.2 s fall in the first interval, and by 11.5 s a
    // second one, clean, has ended too.
    let start = Instant::now();
    let mut seq = 0u16;
    while start.elapsed() < Duration::from_millis(9_500) {
        let lossy = start.elapsed() < Duration::from_millis(1_200);
        if !(lossy && seq % 5 == 4) {
            let packet = rtp(0, seq, u32::from(seq) * 160, 0x5eed, &[0x55; 160]);
            a.send_to(&packet, to_a_leg).unwrap();
        }
        seq = seq.wrapping_add(1);
        let due = start + Duration::from_millis(20 * u64::from(seq));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
    }
    std::thread::sleep(Duration::from_millis(11_500).saturating_sub(start.elapsed()));

    let deleted = ng.command("delete", "mos", &[("from-tag", Value::str("ta"))]);
    assert_eq!(result(&deleted), "ok", "{deleted:?}");
    let quality = deleted
        .get("SSRC")
        .and_then(|s| s.get(&0x5eed_u32.to_string()))
        .unwrap_or_else(|| panic!("no SSRC entry for A's stream: {deleted:?}"));
    let entry = |which: &str| {
        quality
            .get(which)
            .unwrap_or_else(|| panic!("no {which}: {quality:?}"))
    };
    let (lowest, highest, average) = (
        entry("lowest MOS"),
        entry("highest MOS"),
        entry("average MOS"),
    );
    assert!(int(lowest, "packet loss") >= 5, "{quality:?}");
    assert_eq!(int(highest, "packet loss"), 0, "{quality:?}");
    assert_eq!(
        int(highest, "MOS"),
        44,
        "a clean G.711 interval: {quality:?}"
    );
    assert!(int(lowest, "MOS") < int(average, "MOS"), "{quality:?}");
    assert!(int(average, "MOS") < int(highest, "MOS"), "{quality:?}");
    assert!(int(average, "samples") >= 2, "{quality:?}");
    assert!(
        int(lowest, "reported at") < int(highest, "reported at"),
        "the lossy interval came first: {quality:?}"
    );
    // `/metrics` counted every interval in its MOS histogram: the lossy one below 4.2.
    let text = metrics::scrape(SocketAddr::from(([127, 0, 0, 1], ports.api)));
    let count = metrics::value(&text, "tandem_stream_mos_count").unwrap_or(0);
    assert!(count >= int(average, "samples"), "{text}");
    assert!(
        metrics::value(&text, "tandem_stream_mos_bucket{le=\"4.2\"}") >= Some(1),
        "{text}"
    );
    assert_eq!(
        metrics::value(&text, "tandem_stream_mos_bucket{le=\"+Inf\"}"),
        Some(count),
        "{text}"
    );
}
