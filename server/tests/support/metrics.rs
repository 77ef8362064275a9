//! `GET /metrics` from a running `tandem run`, and single values out of the text.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The Prometheus text of the API at `api` (the HTTP response, headers included), or a line
/// saying why there is none: a test's assertion then prints it.
pub(crate) fn scrape(api: SocketAddr) -> String {
    let mut stream = match TcpStream::connect(api) {
        Ok(stream) => stream,
        Err(e) => return format!("GET /metrics from {api} failed: {e}"),
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if let Err(e) =
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: tandem\r\nConnection: close\r\n\r\n")
    {
        return format!("GET /metrics to {api} failed: {e}");
    }
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text
}

/// Scrapes until no call and no worker session is left (a hung-up call's session reaches its
/// worker through the command ring a moment after the BYE is answered), at most `wait`;
/// returns the last scrape for the test's assertions.
pub(crate) fn scrape_when_idle(api: SocketAddr, wait: Duration) -> String {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let text = scrape(api);
        let idle =
            total(&text, "tandem_calls") == 0.0 && total(&text, "tandem_worker_sessions") == 0.0;
        if idle || std::time::Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The sum of every sample of `name` (any labels) in an exposition.
pub(crate) fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter(|l| l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of the sample `name` (with its labels, if any, as written: `a_total{x="y"}`).
pub(crate) fn value(text: &str, name: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// [`value`] of each of `names`, in order: one assertion compares several counters.
pub(crate) fn values(text: &str, names: &[&str]) -> Vec<Option<i64>> {
    names.iter().map(|name| value(text, name)).collect()
}
