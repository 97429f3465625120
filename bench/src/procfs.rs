//! CPU time and memory of the processes under test, from `/proc`.

use std::fs;

/// Linux reports `/proc/PID/stat` times in USER_HZ, which is 100 on every mainstream target.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of all the process's threads, in microseconds.
pub fn cpu_micros(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks * 1_000_000 / TICKS_PER_SECOND)
}

/// Fields 14 and 15 (utime, stime), counted after the parenthesised command name, which may
/// itself hold spaces.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size now (`VmRSS`) and its peak (`VmHWM`), in KiB.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((field_kib(&status, "VmRSS:")?, field_kib(&status, "VmHWM:")?))
}

fn field_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let stat = "42 (argo bridge) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let (rss, peak) = rss_kib(pid).expect("own status");
        assert!(rss > 0 && peak >= rss);
        assert!(cpu_micros(pid).is_some());
        assert_eq!(
            field_kib("VmRSS:\t  1234 kB\nVmHWM: 9 kB", "VmRSS:"),
            Some(1234)
        );
    }
}
