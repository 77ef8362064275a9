//! CPU time of a process, and finding the process that owns a UDP port
//! (`/proc/net/udp{,6}` for the socket inode, then `/proc/*/fd/*` for its owner).
//!
//! CPU time is the sum over the process's threads of `/proc/PID/task/TID/schedstat` (time on
//! a CPU, in ns): `/proc/PID/stat` counts in 10 ms ticks, too coarse for a few seconds of a
//! lightly loaded engine. A thread that ends between two samples takes its time with it, so
//! the figures suit engines whose threads live as long as the run (rtpengine's and Tandem's
//! do); when `schedstat` cannot be read, or reads zero (kernels built without scheduler
//! statistics, and some sandboxes, report `0 0 0`), the ticks of `stat` are used.

use std::time::Duration;

/// Linux reports `utime` and `stime` in clock ticks of 1/100 s (USER_HZ is 100 on every
/// architecture Tandem builds for).
const TICK: Duration = Duration::from_millis(10);

/// Reads utime + stime from the text of `/proc/PID/stat`.
pub fn parse_stat(stat: &str) -> Option<Duration> {
    // Fields after the parenthesised command name (which may hold spaces); utime and stime
    // are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u32 = fields.next()?.parse().ok()?;
    let stime: u32 = fields.next()?.parse().ok()?;
    Some(TICK * (utime + stime))
}

/// CPU time used so far by process `pid` (`None`: this process), summed over its threads.
pub fn process_cpu(pid: Option<u32>) -> Result<Duration, String> {
    let dir = pid.map_or("/proc/self".to_string(), |p| format!("/proc/{p}"));
    if let Some(ns) = threads_schedstat_ns(&dir).filter(|&ns| ns > 0) {
        return Ok(Duration::from_nanos(ns));
    }
    let path = format!("{dir}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_stat(&stat).ok_or(format!("{path}: unreadable"))
}

/// Reads the first field of a `schedstat` file: nanoseconds spent on a CPU.
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

fn threads_schedstat_ns(dir: &str) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("{dir}/task")).ok()?.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += parse_schedstat(&text)?;
    }
    Some(total)
}

/// Context switches of process `pid` so far, voluntary and not, summed over its threads
/// (`voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` of
/// `/proc/PID/task/TID/status`): unlike CPU time, a count that the machine's load does not
/// change, for work bound by hand-overs between threads. `None` when unreadable.
pub fn process_context_switches(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("status")).ok()?;
        total += parse_context_switches(&text)?;
    }
    Some(total)
}

/// Voluntary plus involuntary context switches from the text of a `status` file.
pub fn parse_context_switches(status: &str) -> Option<u64> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some(field("voluntary_ctxt_switches:")? + field("nonvoluntary_ctxt_switches:")?)
}

/// The socket inode bound to local UDP `port`, from the text of `/proc/net/udp` or `udp6`.
pub fn udp_inode(table: &str, port: u16) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        let local_port = fields.get(1)?.rsplit_once(':')?.1;
        (u16::from_str_radix(local_port, 16).ok()? == port).then(|| fields.get(9)?.parse().ok())?
    })
}

/// The process holding the UDP socket bound to `port`, if this user may see it.
pub fn pid_of_udp_port(port: u16) -> Option<u32> {
    let inode = ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|t| udp_inode(&t, port))?;
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy() == target) {
                return Some(pid);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_switches_are_both_kinds() {
        let status = "Name:\ttandem-ng\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t1200\n\
                      nonvoluntary_ctxt_switches:\t34\n";
        assert_eq!(parse_context_switches(status), Some(1234));
        assert_eq!(parse_context_switches("Name:\tx\n"), None);
    }

    #[test]
    fn stat_fields_after_a_name_with_spaces() {
        let stat = "1234 (rtp engine) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 4 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(3250)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn schedstat_first_field_is_cpu_ns() {
        assert_eq!(
            parse_schedstat("431946305 1800617719 910\n"),
            Some(431_946_305)
        );
        assert_eq!(parse_schedstat(""), None);
        // Some source of CPU time is readable for this process (it may still read zero
        // ticks this early in a test run, so only readability is asserted).
        assert!(process_cpu(None).is_ok());
    }

    #[test]
    fn finds_the_inode_of_a_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
          1: 0100007F:08AF 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 98765 2 0000000000000000 0\n";
        assert_eq!(udp_inode(table, 2223), Some(98765));
        assert_eq!(udp_inode(table, 2224), None);
    }
}
