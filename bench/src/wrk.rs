//! wrk as a second load generator, so that the figures compare directly with peers measured by
//! wrk: `wrk -t1 -cN -dSs --latency -s bench/wrk.lua URL`, the body and extra headers handed
//! to the script through `WRK_BODY` (a file) and `WRK_HEADERS` (`Name: value` lines). wrk
//! inherits the load generator's CPU pinning (`taskset` in bench/run.sh).
//!
//! wrk counts every complete answer, whatever its status: the status errors are its
//! `Non-2xx or 3xx responses`, and a correct body is checked once by a probe before the run.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run::Job;
use crate::stats::Spread;

/// How wrk is run.
#[derive(Debug, Clone)]
pub struct WrkConfig {
    pub program: PathBuf,
    pub script: PathBuf,
    pub threads: usize,
    pub connections: usize,
    /// Runs per workload and target, bare and gateway alternating; the median is reported.
    pub repeats: usize,
    /// Where the request bodies are written for the script.
    pub scratch: PathBuf,
}

/// What one wrk run reported.
#[derive(Debug, Clone, PartialEq)]
pub struct WrkResult {
    /// Complete answers, whatever their status.
    pub requests: u64,
    pub seconds: f64,
    pub rps: f64,
    pub non_2xx: u64,
    /// connect + read + write + timeout.
    pub socket_errors: u64,
    pub socket_detail: String,
    /// p50, p99 and max, µs (wrk's percentiles are of every complete answer).
    pub latency: Spread,
}

/// A duration as wrk prints it (`89.00us`, `2.95ms`, `1.00s`, `2.00m`, `1.00h`), in µs.
fn micros(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return None,
    };
    Some(number * scale)
}

/// wrk's report (with `--latency`).
pub fn parse(output: &str) -> Result<WrkResult, String> {
    let mut result = WrkResult {
        requests: 0,
        seconds: 0.0,
        rps: 0.0,
        non_2xx: 0,
        socket_errors: 0,
        socket_detail: String::new(),
        latency: Spread::default(),
    };
    let (mut p50, mut p99, mut max, mut summary) = (None, None, None, false);
    for line in output.lines().map(str::trim) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Latency", _avg, _stdev, top, ..] => max = micros(top),
            ["50%", value] => p50 = micros(value),
            ["99%", value] => p99 = micros(value),
            [count, "requests", "in", time, ..] => {
                result.requests = count.parse().map_err(|_| format!("bad count: {line}"))?;
                result.seconds = micros(time.trim_end_matches(','))
                    .ok_or_else(|| format!("bad duration: {line}"))?
                    / 1e6;
                summary = true;
            }
            ["Requests/sec:", rate] => {
                result.rps = rate.parse().map_err(|_| format!("bad rate: {line}"))?
            }
            ["Non-2xx", "or", "3xx", "responses:", count] => {
                result.non_2xx = count.parse().map_err(|_| format!("bad count: {line}"))?
            }
            ["Socket", "errors:", ..] => {
                // Socket errors: connect 0, read 0, write 0, timeout 0
                result.socket_errors = fields[2..]
                    .chunks(2)
                    .filter_map(|pair| pair.get(1)?.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
                result.socket_detail = line.to_string();
            }
            _ => {}
        }
    }
    if !summary {
        return Err(format!("no summary in wrk's output: {}", output.trim()));
    }
    let us = |value: Option<f64>| value.map(|v| v.round().min(u32::MAX as f64) as u32);
    result.latency = Spread {
        samples: result.requests as usize,
        p50: us(p50),
        p99: us(p99),
        max: us(max),
    };
    Ok(result)
}

/// The `WRK_HEADERS` text: one `Name: value` line per header.
pub fn header_lines(job: &Job) -> String {
    job.request
        .headers()
        .iter()
        .map(|(name, value)| format!("{name}: {value}\n"))
        .collect()
}

/// Whether `program` can be run.
pub fn available(program: &Path) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

/// Runs wrk against the job's address and path for `seconds` (blocking: call it from a
/// blocking thread).
pub fn run(config: &WrkConfig, job: &Job, name: &str, seconds: u64) -> Result<WrkResult, String> {
    std::fs::create_dir_all(&config.scratch).map_err(|e| e.to_string())?;
    let body_file = config.scratch.join(format!("wrk-{name}.json"));
    std::fs::write(&body_file, job.request.body())
        .map_err(|e| format!("{}: {e}", body_file.display()))?;
    let url = format!("http://{}{}", job.addr, job.request.path());
    let output = Command::new(&config.program)
        .arg(format!("-t{}", config.threads))
        .arg(format!("-c{}", config.connections))
        .arg(format!("-d{}s", seconds.max(1)))
        .arg("--latency")
        .arg("-s")
        .arg(&config.script)
        .arg(&url)
        .env("WRK_BODY", &body_file)
        .env("WRK_HEADERS", header_lines(job))
        .output()
        .map_err(|e| format!("{}: {e}", config.program.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "wrk failed ({}): {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    parse(&stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 2s test @ http://127.0.0.1:18182/argoapi/api/v1/resource/chat/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.95ms  529.66us   1.08s    89.29%
    Req/Sec    10.91k   539.67    11.59k    85.00%
  Latency Distribution
     50%   89.00us
     75%    3.05ms
     90%    3.30ms
     99%    4.75ms
  21707 requests in 2.00s, 5.34MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 1, read 2, write 0, timeout 4
Requests/sec:  10850.63
Transfer/sec:      2.67MB
";

    #[test]
    fn parses_wrks_report() {
        let result = parse(OUTPUT).unwrap();
        assert_eq!(result.requests, 21707);
        assert_eq!(result.seconds, 2.0);
        assert_eq!(result.rps, 10850.63);
        assert_eq!(result.non_2xx, 12);
        assert_eq!(result.socket_errors, 7);
        assert_eq!(result.latency.p50, Some(89));
        assert_eq!(result.latency.p99, Some(4750));
        assert_eq!(result.latency.max, Some(1_080_000));
        assert_eq!(result.latency.samples, 21707);
    }

    #[test]
    fn a_clean_run_has_no_error_lines_and_a_run_without_summary_fails() {
        let clean: String = OUTPUT
            .lines()
            .filter(|line| !line.contains("Non-2xx") && !line.contains("Socket"))
            .map(|line| format!("{line}\n"))
            .collect();
        let result = parse(&clean).unwrap();
        assert_eq!((result.non_2xx, result.socket_errors), (0, 0));
        assert!(parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(micros("89.00us"), Some(89.0));
        assert_eq!(micros("1.50ms"), Some(1500.0));
        assert_eq!(micros("2.00s"), Some(2e6));
        assert_eq!(micros("1.00m"), Some(60e6));
        assert_eq!(micros("5.00x"), None);
        assert_eq!(micros("ms"), None);
    }
}
