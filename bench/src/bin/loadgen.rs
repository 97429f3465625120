//! Loopback load generator and report renderer for the argo-bridge benchmark.
//!
//! usage:
//!   loadgen suite --floor ADDR[@PID] --bare ADDR[@PID] --gateway ADDR[@PID] --out FILE
//!                 [--pingora-alone ADDR[@PID]] [--gateway-native ADDR[@PID]]
//!                 [--wrk PROGRAM --wrk-script bench/wrk.lua [--wrk-connections 32] [--wrk-threads 1] [--wrk-repeats 3]]
//!                 [--seconds S] [--warmup S] [--concurrency 1,16,64,256] [--format-concurrency 1,64]
//!                 [--paced-concurrency 1,64] [--pace-ms MS] [--hold N] [--workloads chat,embeddings,...]
//!                 [--targets gateway,...]
//!   loadgen report FILE
//!   loadgen micro-report CRITERION_DIR     (criterion's estimates as a markdown table)

use std::io::Write;
use std::time::Duration;

use argo_bench::suite::{Endpoint, Record, SuiteConfig};
use argo_bench::wrk::WrkConfig;
use argo_bench::{micro, report, suite};

const USAGE: &str = "usage:
  loadgen suite --floor ADDR[@PID] --bare ADDR[@PID] --gateway ADDR[@PID] --out FILE
                [--pingora-alone ADDR[@PID]] [--gateway-native ADDR[@PID]]
                [--wrk PROGRAM --wrk-script FILE [--wrk-connections 32] [--wrk-threads 1] [--wrk-repeats 3]]
                [--seconds S] [--warmup S] [--concurrency 1,16,64,256] [--format-concurrency 1,64]
                [--paced-concurrency 1,64] [--pace-ms MS] [--hold N]
                [--workloads chat,embeddings,stream,chat_native,stream_native,stream_claude,
                             stream_messages_claude,stream_responses,stream_generate,stream_paced,
                             wrk,hold,hold_native]
                [--targets floor,pingora,bare,gateway]
  loadgen report FILE
  loadgen micro-report CRITERION_DIR";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("suite") => run_suite(&args[1..]),
        Some("report") => print_report(&args[1..]),
        Some("micro-report") => print_micro_report(&args[1..]),
        _ => Err("expected a command".into()),
    };
    if let Err(message) = result {
        eprintln!("loadgen: {message}\n{USAGE}");
        std::process::exit(2);
    }
}

struct Flags<'a>(&'a [String]);

impl<'a> Flags<'a> {
    /// The flag's value; the last one wins, so arguments given to bench/run.sh override its
    /// defaults.
    fn value(&self, name: &str) -> Option<&'a str> {
        let at = self.0.iter().rposition(|arg| arg == name)?;
        self.0.get(at + 1).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&'a str, String> {
        self.value(name)
            .ok_or_else(|| format!("{name} is required"))
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        self.value(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        })
    }

    fn list<T: std::str::FromStr>(&self, name: &str, default: &str) -> Result<Vec<T>, String> {
        self.value(name)
            .unwrap_or(default)
            .split(',')
            .filter(|item| !item.is_empty())
            .map(|item| item.parse().map_err(|_| format!("{name}: bad item {item}")))
            .collect()
    }

    fn optional_endpoint(&self, name: &str) -> Result<Option<Endpoint>, String> {
        self.value(name).map(|_| self.endpoint(name)).transpose()
    }

    fn endpoint(&self, name: &str) -> Result<Endpoint, String> {
        let value = self.required(name)?;
        let (addr, pid) = match value.split_once('@') {
            Some((addr, pid)) => (
                addr,
                Some(pid.parse().map_err(|_| format!("{name}: bad pid"))?),
            ),
            None => (value, None),
        };
        let addr = addr.parse().map_err(|e| format!("{name}: {e}"))?;
        Ok(Endpoint { addr, pid })
    }
}

fn run_suite(args: &[String]) -> Result<(), String> {
    let flags = Flags(args);
    let config = SuiteConfig {
        floor: flags.endpoint("--floor")?,
        bare: flags.endpoint("--bare")?,
        gateway: flags.endpoint("--gateway")?,
        gateway_native: flags.optional_endpoint("--gateway-native")?,
        pingora_alone: flags.optional_endpoint("--pingora-alone")?,
        warmup: Duration::from_secs_f64(flags.number("--warmup", 1.0)?),
        measure: Duration::from_secs_f64(flags.number("--seconds", 5.0)?),
        concurrency: flags.list("--concurrency", "1,16,64,256")?,
        format_concurrency: flags.list("--format-concurrency", "1,64")?,
        paced_concurrency: flags.list("--paced-concurrency", "1,64")?,
        pace_ms: flags.number("--pace-ms", 10)?,
        hold_streams: flags.number("--hold", 10_000)?,
        wrk: wrk_config(&flags)?,
        workloads: flags.list("--workloads", "")?,
        targets: flags.list("--targets", "")?,
    };
    let path = flags.required("--out")?;
    let scratch = std::path::Path::new(path)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let config = SuiteConfig {
        wrk: config.wrk.map(|wrk| WrkConfig { scratch, ..wrk }),
        ..config
    };
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{path}: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut emit = |record: Record| {
        let line = serde_json::to_string(&record).unwrap_or_default();
        eprintln!("{}", summary(&record));
        let _ = writeln!(out, "{line}");
    };
    runtime.block_on(suite::run(&config, &mut emit));
    Ok(())
}

/// wrk, when `--wrk` names it and it runs.
fn wrk_config(flags: &Flags) -> Result<Option<WrkConfig>, String> {
    let Some(program) = flags.value("--wrk") else {
        return Ok(None);
    };
    let program = std::path::PathBuf::from(program);
    if !argo_bench::wrk::available(&program) {
        eprintln!("loadgen: {} does not run: no wrk rows", program.display());
        return Ok(None);
    }
    Ok(Some(WrkConfig {
        program,
        script: flags.required("--wrk-script")?.into(),
        threads: flags.number("--wrk-threads", 1)?,
        connections: flags.number("--wrk-connections", 32)?,
        repeats: flags.number("--wrk-repeats", 3)?.max(1),
        scratch: std::path::PathBuf::new(),
    }))
}

/// One progress line per measurement.
fn summary(record: &Record) -> String {
    let trouble = match record.failure().or_else(|| record.error_sample.clone()) {
        Some(why) => format!("  ({why})"),
        None => String::new(),
    };
    let line = match record.kind.as_str() {
        "load" | "wrk" => format!(
            "{:<4} {:<22} {:<8} c={:<4} {:>8.0} req/s  p50 {:>6} µs  p99 {:>6} µs  ttft p50 {:>6}  gap p99 {:>6}  cpu {:>6.1} µs/req  errors {}",
            record.kind,
            record.workload,
            record.target,
            record.concurrency,
            record.rps,
            record.latency.p50.unwrap_or(0),
            record.latency.p99.unwrap_or(0),
            record.ttft.p50.unwrap_or(0),
            record.gap.p99.unwrap_or(0),
            record.cpu_us_per_request.unwrap_or(0.0),
            record.errors
        ),
        "hold" => format!(
            "hold {:<13} {:<8} held {} failed {}  RSS {} -> {} KiB",
            record.workload,
            record.target,
            record.held.unwrap_or(0),
            record.failed.unwrap_or(0),
            record.rss_before_kib.unwrap_or(0),
            record.rss_kib.unwrap_or(0)
        ),
        kind => format!(
            "{kind:<13} {:<8} RSS {} KiB, peak {} KiB",
            record.target,
            record.rss_kib.unwrap_or(0),
            record.peak_rss_kib.unwrap_or(0)
        ),
    };
    line + &trouble
}

fn print_report(args: &[String]) -> Result<(), String> {
    let path = args.first().ok_or("report needs the results file")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    print!("{}", report::render(&report::parse(&text)?));
    Ok(())
}

fn print_micro_report(args: &[String]) -> Result<(), String> {
    let dir = args
        .first()
        .ok_or("micro-report needs criterion's output folder")?;
    let micros = micro::read(std::path::Path::new(dir))?;
    if micros.is_empty() {
        return Err(format!("no criterion results under {dir}"));
    }
    print!("{}", micro::render(&micros));
    Ok(())
}
