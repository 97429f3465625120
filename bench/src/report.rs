//! Renders the results file (one JSON [`Record`] per line) as markdown tables, with the issue's
//! targets checked as ratios against the bare Pingora baseline. A row whose requests all failed,
//! or whose answers came from the wrong Argo endpoint, shows as errors, never as figures.

use std::fmt::Write;

use crate::suite::{Record, TARGETS};

pub fn parse(jsonl: &str) -> Result<Vec<Record>, String> {
    jsonl
        .lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(number, line)| {
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", number + 1))
        })
        .collect()
}

/// Closed-loop workloads of the load generator, in report order.
const LOAD_WORKLOADS: [&str; 12] = [
    "chat",
    "embeddings",
    "stream",
    "stream_paced",
    "chat_native",
    "stream_native",
    "stream_claude",
    "stream_messages_claude",
    "stream_responses",
    "stream_generate",
    "chat_messages_claude",
    "chat_responses",
];
/// Client formats Argo speaks too, asked for one answer on the native gateway.
const NATIVE_ANSWERS: [(&str, &str); 2] = [
    (
        "chat_messages_claude",
        "Anthropic client, one answer from Claude: Argo's stream gathered (chat_messages_claude)",
    ),
    (
        "chat_responses",
        "Responses client, Argo's /v1/responses answer relayed (chat_responses)",
    ),
];
/// The streamed workloads of the native gateway, and what the gateway does with each stream.
const NATIVE_STREAMS: [(&str, &str); 5] = [
    ("stream_native", "OpenAI SSE relayed (stream_native)"),
    (
        "stream_claude",
        "Claude's Anthropic SSE as OpenAI chunks (stream_claude)",
    ),
    (
        "stream_messages_claude",
        "Anthropic client, Claude's Anthropic SSE relayed (stream_messages_claude)",
    ),
    (
        "stream_responses",
        "Responses client, Argo's Responses SSE relayed (stream_responses)",
    ),
    (
        "stream_generate",
        "Google client, Gemini's OpenAI chunks as Google SSE (stream_generate)",
    ),
];
/// Workloads driven by wrk, and the Argo API their gateway uses.
const WRK_WORKLOADS: [(&str, &str); 4] = [
    ("chat", "resource"),
    ("stream", "resource"),
    ("chat_native", "native"),
    ("stream_native", "native"),
];

struct Results<'a>(&'a [Record]);

impl<'a> Results<'a> {
    fn find(&self, kind: &str, workload: &str, target: &str) -> Option<&'a Record> {
        self.0
            .iter()
            .rev()
            .find(|r| r.kind == kind && r.workload == workload && r.target == target)
    }

    fn load(&self, workload: &str, target: &str, concurrency: usize) -> Option<&'a Record> {
        self.0.iter().rev().find(|r| {
            r.kind == "load"
                && r.workload == workload
                && r.target == target
                && r.concurrency == concurrency
        })
    }

    fn wrk(&self, workload: &str, target: &str) -> Option<&'a Record> {
        self.find("wrk", workload, target)
    }

    /// The hold run of `target` in the first of `workloads` that has one (Pingora alone and
    /// the bare proxy hold streams once, in either hold workload).
    fn hold(&self, workloads: &[&str], target: &str) -> Option<&'a Record> {
        workloads
            .iter()
            .find_map(|workload| self.find("hold", workload, target))
    }

    fn of_kind(&self, kind: &str, target: &str) -> Option<&'a Record> {
        self.0
            .iter()
            .rev()
            .find(|r| r.kind == kind && r.target == target)
    }

    fn concurrencies(&self, workload: &str) -> Vec<usize> {
        let mut levels: Vec<usize> = self
            .0
            .iter()
            .filter(|r| r.kind == "load" && r.workload == workload)
            .map(|r| r.concurrency)
            .collect();
        levels.sort_unstable();
        levels.dedup();
        levels
    }
}

/// The record, unless its figures cannot stand.
fn usable(record: Option<&Record>) -> Option<&Record> {
    record.filter(|r| r.failure().is_none())
}

fn us(value: Option<u32>) -> String {
    value.map_or("–".into(), |v| v.to_string())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("–".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

fn added(gateway: Option<u32>, base: Option<u32>) -> Option<i64> {
    Some(i64::from(gateway?) - i64::from(base?))
}

fn signed(value: Option<i64>) -> String {
    value.map_or("–".into(), |v| format!("{v:+}"))
}

/// A cell: the value from a usable record, `error` for a failed one, `–` for none.
fn cell(record: Option<&Record>, value: impl Fn(&Record) -> String) -> String {
    match record {
        Some(r) if r.failure().is_some() => "error".into(),
        Some(r) => value(r),
        None => "–".into(),
    }
}

/// What went wrong in these records, by target: ` (gateway: every request failed: status
/// 502; bare: 3 errors, timeout)`, or nothing.
fn errors_note(records: &[Option<&Record>]) -> String {
    let notes: Vec<String> = records
        .iter()
        .flatten()
        .filter_map(|r| {
            if let Some(why) = r.failure() {
                Some(format!("{}: {why}", r.target))
            } else if r.errors > 0 {
                Some(format!(
                    "{}: {} errors{}",
                    r.target,
                    r.errors,
                    r.error_sample
                        .as_ref()
                        .map_or(String::new(), |why| format!(", {why}"))
                ))
            } else {
                None
            }
        })
        .collect();
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; ").replace('|', "/"))
    }
}

pub fn render(records: &[Record]) -> String {
    let results = Results(records);
    let mut out = String::new();
    targets(&mut out, &results);
    latency_c1(&mut out, &results);
    throughput(&mut out, &results);
    streaming(&mut out, &results);
    cpu(&mut out, &results);
    wrk(&mut out, &results);
    memory(&mut out, &results);
    out
}

/// A measured target: its value and whether the goal is met, or why it could not be measured.
enum Measure {
    Value(String, Option<bool>),
    Failed(String),
}

/// The first failure among `records`, as `target: why`.
fn failure_of(records: &[Option<&Record>]) -> Option<String> {
    records
        .iter()
        .flatten()
        .find_map(|r| r.failure().map(|why| format!("{}: {why}", r.target)))
}

fn target_row(out: &mut String, what: &str, measure: Measure, goal: &str) {
    let (measured, met) = match measure {
        Measure::Value(text, met) => (
            text,
            match met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            },
        ),
        Measure::Failed(why) => (format!("errors ({})", why.replace('|', "/")), "**errors**"),
    };
    let _ = writeln!(out, "| {what} | {measured} | {goal} | {met} |");
}

/// Added p50 (of `field`) at c=1 of the gateway over bare Pingora, against `limit` µs.
fn added_at_c1(
    results: &Results,
    workload: &str,
    field: fn(&Record) -> Option<u32>,
    limit: i64,
) -> Measure {
    let gateway = results.load(workload, "gateway", 1);
    let bare = results.load(workload, "bare", 1);
    if let Some(why) = failure_of(&[gateway, bare]) {
        return Measure::Failed(why);
    }
    let value = added(gateway.and_then(field), bare.and_then(field));
    Measure::Value(format!("{} µs", signed(value)), value.map(|v| v < limit))
}

/// The worst gateway / bare throughput ratio at c > 1, against `goal`.
fn worst_ratio(results: &Results, workload: &str, goal: f64) -> Measure {
    let levels: Vec<usize> = results
        .concurrencies(workload)
        .into_iter()
        .filter(|&c| c > 1)
        .collect();
    let records: Vec<Option<&Record>> = levels
        .iter()
        .flat_map(|&c| {
            [
                results.load(workload, "gateway", c),
                results.load(workload, "bare", c),
            ]
        })
        .collect();
    if let Some(why) = failure_of(&records) {
        return Measure::Failed(why);
    }
    let worst = levels
        .into_iter()
        .filter_map(|c| {
            let gateway = results.load(workload, "gateway", c)?.rps;
            let bare = results.load(workload, "bare", c)?.rps;
            (bare > 0.0).then(|| (gateway / bare, c))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0));
    Measure::Value(
        worst.map_or("–".into(), |(ratio, c)| {
            format!("{:.0}% (c={c})", ratio * 100.0)
        }),
        worst.map(|(ratio, _)| ratio >= goal),
    )
}

/// KiB of RSS per held stream.
fn per_stream_kib(record: &Record) -> Option<f64> {
    let grown = record.rss_kib?.saturating_sub(record.rss_before_kib?);
    let held = record.held.filter(|&held| held > 0)?;
    Some(grown as f64 / held as f64)
}

/// A gateway that has served nothing holds no more than this: what it builds on first use (the
/// tokenizers' tables, say) is paid by the first process that needs it, not by every one.
const IDLE_RSS_GOAL_KIB: u64 = 20 * 1024;

fn targets(out: &mut String, results: &Results) {
    let _ = writeln!(out, "### Targets\n");
    let _ = writeln!(out, "| target | measured | goal | met |\n|---|---|---|---|");
    target_row(
        out,
        "added p50 latency at c=1, non-streaming chat, over bare Pingora",
        added_at_c1(results, "chat", |r| r.latency.p50, 100),
        "< 100 µs",
    );
    target_row(
        out,
        "non-streaming chat throughput, gateway / bare Pingora (worst of c>1)",
        worst_ratio(results, "chat", 0.7),
        "≥ 70%",
    );
    target_row(
        out,
        "streaming: added time to first token (p50, paced, c=1) over bare Pingora",
        added_at_c1(results, "stream_paced", |r| r.ttft.p50, 1000),
        "< 1000 µs",
    );
    let hold = results.hold(&["hold"], "gateway");
    let hold_rss = usable(hold).and_then(|r| r.rss_kib);
    let held = hold.and_then(|r| r.held).unwrap_or(0);
    target_row(
        out,
        &format!("RSS with {held} concurrent streams open"),
        match hold.and_then(Record::failure) {
            Some(why) => Measure::Failed(format!("gateway: {why}")),
            None => Measure::Value(
                format!("{} MiB", mib(hold_rss)),
                hold_rss.map(|kib| held >= 10_000 && kib < 300 * 1024),
            ),
        },
        "< 300 MiB for 10,000",
    );
    for (process, api) in [("gateway", "resource"), ("gateway_native", "native")] {
        if let Some(idle) = results.of_kind("idle", process).and_then(|r| r.rss_kib) {
            target_row(
                out,
                &format!("idle RSS of the gateway ({api} upstream), before any request"),
                Measure::Value(
                    format!("{} MiB", mib(Some(idle))),
                    Some(idle <= IDLE_RSS_GOAL_KIB),
                ),
                "≤ 20 MiB",
            );
        }
    }
    let alone = results.hold(&["hold", "hold_native"], "pingora");
    if let Some(alone) = alone {
        let _ = writeln!(
            out,
            "| the same for Pingora alone, answering {} streams itself (no upstream, no translation): the framework's floor | {} MiB | – | – |",
            alone.held.unwrap_or(0),
            mib(alone.rss_kib)
        );
    }
    if results.0.iter().any(|r| {
        r.workload.ends_with("_native")
            || NATIVE_STREAMS
                .iter()
                .chain(&NATIVE_ANSWERS)
                .any(|(w, _)| *w == r.workload)
    }) {
        native_targets(out, results, alone);
    }
    for (workload, api) in [("chat", "resource"), ("chat_native", "native")] {
        let gateway = results.wrk(workload, "gateway");
        let bare = results.wrk(workload, "bare");
        if gateway.is_none() && bare.is_none() {
            continue;
        }
        let measure = match failure_of(&[gateway, bare]) {
            Some(why) => Measure::Failed(why),
            None => {
                let pair = gateway.zip(bare).filter(|(_, b)| b.rps > 0.0);
                Measure::Value(
                    pair.map_or("–".into(), |(g, b)| rps_ratio(g, b)),
                    pair.map(|(g, b)| g.rps / b.rps >= 0.95),
                )
            }
        };
        let c = gateway.or(bare).map_or(0, |r| r.concurrency);
        target_row(
            out,
            &format!("wrk (c={c}): non-streaming chat req/s, {api} gateway / bare Pingora"),
            measure,
            "≥ 95%",
        );
    }
    out.push('\n');
}

fn native_targets(out: &mut String, results: &Results, alone: Option<&Record>) {
    target_row(
        out,
        "native upstream: added p50 latency at c=1, non-streaming chat (chat_native), over bare Pingora",
        added_at_c1(results, "chat_native", |r| r.latency.p50, 100),
        "< 100 µs",
    );
    target_row(
        out,
        "native upstream: non-streaming chat throughput, gateway / bare Pingora (worst of c>1)",
        worst_ratio(results, "chat_native", 0.7),
        "≥ 70%",
    );
    for (workload, what) in NATIVE_STREAMS {
        if results.concurrencies(workload).is_empty() {
            continue;
        }
        target_row(
            out,
            &format!(
                "native upstream, {what}: added time to first token (p50, c=1) over bare Pingora"
            ),
            added_at_c1(results, workload, |r| r.ttft.p50, 1000),
            "< 1000 µs",
        );
        target_row(
            out,
            &format!("native upstream, {what}: throughput, gateway / bare Pingora (worst of c>1)"),
            worst_ratio(results, workload, 0.7),
            "≥ 70%",
        );
    }
    for (workload, what) in NATIVE_ANSWERS {
        if results.concurrencies(workload).is_empty() {
            continue;
        }
        target_row(
            out,
            &format!("native upstream, {what}: added p50 latency at c=1 over bare Pingora"),
            added_at_c1(results, workload, |r| r.latency.p50, 100),
            "< 100 µs",
        );
        target_row(
            out,
            &format!("native upstream, {what}: throughput, gateway / bare Pingora (worst of c>1)"),
            worst_ratio(results, workload, 0.7),
            "≥ 70%",
        );
    }
    let hold = results.hold(&["hold_native"], "gateway");
    let measure = match failure_of(&[hold, alone]) {
        Some(why) => Measure::Failed(why),
        None => {
            let gateway = hold.and_then(per_stream_kib);
            let floor = alone.and_then(per_stream_kib);
            match (gateway, floor) {
                (Some(g), Some(p)) => Measure::Value(
                    format!("{g:.1} KiB vs {p:.1} KiB ({:+.1})", g - p),
                    Some(g <= p + 8.0),
                ),
                _ => Measure::Value(
                    format!("{} KiB", gateway.map_or("–".into(), |g| format!("{g:.1}"))),
                    None,
                ),
            }
        }
    };
    target_row(
        out,
        &format!(
            "native upstream: RSS per held stream ({} streams), gateway vs Pingora alone",
            hold.and_then(|r| r.held).unwrap_or(0)
        ),
        measure,
        "≤ Pingora alone + 8 KiB",
    );
}

fn latency_c1(out: &mut String, results: &Results) {
    let _ = writeln!(out, "### Latency at concurrency 1 (µs)\n");
    let _ = writeln!(
        out,
        "| workload | floor p50 / p99 | bare p50 / p99 | gateway p50 / p99 | added p50 / p99 vs bare | added p50 vs floor |\n|---|---|---|---|---|---|"
    );
    for workload in LOAD_WORKLOADS {
        let [floor, bare, gateway] = TARGETS.map(|t| results.load(workload, t, 1));
        if gateway.is_none() && bare.is_none() {
            continue;
        }
        let pair = |r: Option<&Record>| {
            cell(r, |r| {
                format!("{} / {}", us(r.latency.p50), us(r.latency.p99))
            })
        };
        let [floor_ok, bare_ok, gateway_ok] = [floor, bare, gateway].map(usable);
        let p = |r: Option<&Record>, f: fn(&Record) -> Option<u32>| r.and_then(f);
        let _ = writeln!(
            out,
            "| {workload}{} | {} | {} | {} | {} / {} | {} |",
            errors_note(&[floor, bare, gateway]),
            pair(floor),
            pair(bare),
            pair(gateway),
            signed(added(
                p(gateway_ok, |r| r.latency.p50),
                p(bare_ok, |r| r.latency.p50)
            )),
            signed(added(
                p(gateway_ok, |r| r.latency.p99),
                p(bare_ok, |r| r.latency.p99)
            )),
            signed(added(
                p(gateway_ok, |r| r.latency.p50),
                p(floor_ok, |r| r.latency.p50)
            )),
        );
    }
    out.push('\n');
}

fn throughput(out: &mut String, results: &Results) {
    let _ = writeln!(out, "### Throughput and p99 latency at fixed concurrency\n");
    let _ = writeln!(
        out,
        "| workload | c | floor req/s | bare req/s | gateway req/s | gateway / bare | floor p99 µs | bare p99 µs | gateway p99 µs |\n|---|---|---|---|---|---|---|---|---|"
    );
    for workload in LOAD_WORKLOADS.into_iter().filter(|w| *w != "stream_paced") {
        for c in results
            .concurrencies(workload)
            .into_iter()
            .filter(|&c| c > 1)
        {
            let [floor, bare, gateway] = TARGETS.map(|t| results.load(workload, t, c));
            let rps = |r: Option<&Record>| cell(r, |r| format!("{:.0}", r.rps));
            let ratio = match (usable(gateway), usable(bare)) {
                (Some(g), Some(b)) if b.rps > 0.0 => format!("{:.0}%", g.rps / b.rps * 100.0),
                _ => "–".into(),
            };
            let p99 = |r: Option<&Record>| cell(r, |r| us(r.latency.p99));
            let _ = writeln!(
                out,
                "| {workload}{} | {c} | {} | {} | {} | {ratio} | {} | {} | {} |",
                errors_note(&[floor, bare, gateway]),
                rps(floor),
                rps(bare),
                rps(gateway),
                p99(floor),
                p99(bare),
                p99(gateway),
            );
        }
    }
    out.push('\n');
}

fn streaming(out: &mut String, results: &Results) {
    let _ = writeln!(
        out,
        "### Streaming: time to first token and gap between tokens (µs)\n"
    );
    let _ = writeln!(
        out,
        "| workload | c | target | TTFT p50 | TTFT p99 | gap p50 | gap p99 | added TTFT p50 vs bare | added gap p99 vs bare |\n|---|---|---|---|---|---|---|---|---|"
    );
    let streams = NATIVE_STREAMS.map(|(workload, _)| workload);
    for workload in ["stream_paced", "stream"].into_iter().chain(streams) {
        for c in results.concurrencies(workload) {
            let bare = usable(results.load(workload, "bare", c));
            for target in TARGETS {
                let Some(record) = results.load(workload, target, c) else {
                    continue;
                };
                let vs_bare = |f: fn(&Record) -> Option<u32>| {
                    if target == "gateway" {
                        signed(added(usable(Some(record)).and_then(f), bare.and_then(f)))
                    } else {
                        String::new()
                    }
                };
                let value = |f: fn(&Record) -> Option<u32>| cell(Some(record), |r| us(f(r)));
                let _ = writeln!(
                    out,
                    "| {workload}{} | {c} | {target} | {} | {} | {} | {} | {} | {} |",
                    errors_note(&[Some(record)]),
                    value(|r| r.ttft.p50),
                    value(|r| r.ttft.p99),
                    value(|r| r.gap.p50),
                    value(|r| r.gap.p99),
                    vs_bare(|r| r.ttft.p50),
                    vs_bare(|r| r.gap.p99),
                );
            }
        }
    }
    out.push('\n');
}

fn cpu_cell(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{v:.1}"))
}

fn cpu(out: &mut String, results: &Results) {
    let c = 64;
    if !results
        .0
        .iter()
        .any(|r| r.kind == "load" && r.concurrency == c)
    {
        return;
    }
    let _ = writeln!(out, "### CPU time per request at c={c} (µs)\n");
    let _ = writeln!(
        out,
        "| workload | floor: mock | bare: proxy (+ mock) | gateway: gateway (+ mock) | gateway / bare |\n|---|---|---|---|---|"
    );
    let cpu = |r: Option<&Record>| usable(r).and_then(|r| r.cpu_us_per_request);
    for workload in LOAD_WORKLOADS.into_iter().filter(|w| *w != "stream_paced") {
        let [floor, bare, gateway] = TARGETS.map(|t| results.load(workload, t, c));
        if floor.is_none() && bare.is_none() && gateway.is_none() {
            continue;
        }
        let with_mock = |r: Option<&Record>| {
            cell(r, |r| {
                format!(
                    "{} (+ {})",
                    cpu_cell(r.cpu_us_per_request),
                    cpu_cell(r.mock_cpu_us_per_request)
                )
            })
        };
        let ratio = match (cpu(gateway), cpu(bare)) {
            (Some(g), Some(b)) if b > 0.0 => format!("{:.1}×", g / b),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {workload}{} | {} | {} | {} | {ratio} |",
            errors_note(&[floor, bare, gateway]),
            cell(floor, |r| cpu_cell(r.cpu_us_per_request)),
            with_mock(bare),
            with_mock(gateway)
        );
    }
    out.push('\n');
}

/// Gateway / bare req/s: the ratio of the medians, and with repeated runs the lowest and
/// highest ratio of a gateway run to the bare run just before it.
fn rps_ratio(gateway: &Record, bare: &Record) -> String {
    if bare.rps <= 0.0 {
        return "–".into();
    }
    let median = format!("{:.0}%", gateway.rps / bare.rps * 100.0);
    let (Some(g), Some(b)) = (&gateway.rps_runs, &bare.rps_runs) else {
        return median;
    };
    let ratios: Vec<f64> = g
        .iter()
        .zip(b)
        .filter(|(_, &b)| b > 0.0)
        .map(|(g, b)| g / b * 100.0)
        .collect();
    let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let high = ratios.iter().copied().fold(0.0, f64::max);
    match ratios.is_empty() {
        true => median,
        false => format!("{median} ({low:.0}–{high:.0}%)"),
    }
}

fn wrk(out: &mut String, results: &Results) {
    if !results.0.iter().any(|r| r.kind == "wrk") {
        return;
    }
    let c = results
        .0
        .iter()
        .find(|r| r.kind == "wrk")
        .map_or(0, |r| r.concurrency);
    let _ = writeln!(out, "### wrk (1 thread, {c} keep-alive connections)\n");
    let _ = writeln!(
        out,
        "The same short chat (a ~150-byte body, four tokens back) posted by wrk, pinned like the load generator; \
         CPU per request of the proxy under test, from /proc. Goal for non-streaming chat: gateway ≥ 95% of bare Pingora's req/s. \
         With repeated runs (bare and gateway alternating) each row is the run of median req/s, and gateway / bare gives \
         the medians' ratio, then the lowest and highest ratio of a gateway run to the bare run before it.\n"
    );
    let _ = writeln!(
        out,
        "| workload | gateway upstream | bare req/s | bare p50 / p99 µs | bare CPU µs/req | gateway req/s | gateway p50 / p99 µs | gateway CPU µs/req | gateway / bare req/s | gateway / bare CPU |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for (workload, api) in WRK_WORKLOADS {
        let bare = results.wrk(workload, "bare");
        let gateway = results.wrk(workload, "gateway");
        if bare.is_none() && gateway.is_none() {
            continue;
        }
        let rps = |r: Option<&Record>| cell(r, |r| format!("{:.0}", r.rps));
        let latency = |r: Option<&Record>| {
            cell(r, |r| {
                format!("{} / {}", us(r.latency.p50), us(r.latency.p99))
            })
        };
        let cpu = |r: Option<&Record>| cell(r, |r| cpu_cell(r.cpu_us_per_request));
        let (g, b) = (usable(gateway), usable(bare));
        let ratio = g.zip(b).map_or("–".into(), |(g, b)| rps_ratio(g, b));
        let cpu_ratio = match (
            g.and_then(|r| r.cpu_us_per_request),
            b.and_then(|r| r.cpu_us_per_request),
        ) {
            (Some(g), Some(b)) if b > 0.0 => format!("{:.2}×", g / b),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {workload}{} | {api} | {} | {} | {} | {} | {} | {} | {ratio} | {cpu_ratio} |",
            errors_note(&[bare, gateway]),
            rps(bare),
            latency(bare),
            cpu(bare),
            rps(gateway),
            latency(gateway),
            cpu(gateway),
        );
    }
    out.push('\n');
}

fn memory(out: &mut String, results: &Results) {
    let _ = writeln!(out, "### Memory (RSS)\n");
    let _ = writeln!(
        out,
        "| process | idle MiB | peak MiB (whole run) | streams held | MiB before / while holding | KiB per held stream |\n|---|---|---|---|---|---|"
    );
    // Process (its idle/peak target), and its hold run (workloads, target).
    let rows: [(&str, &str, &[&str], &str); 5] = [
        ("mock Argo", "floor", &[], ""),
        (
            "Pingora alone (answers itself)",
            "pingora",
            &["hold", "hold_native"],
            "pingora",
        ),
        ("bare Pingora", "bare", &["hold", "hold_native"], "bare"),
        ("argo-bridge", "gateway", &["hold"], "gateway"),
        (
            "argo-bridge, native upstream",
            "gateway_native",
            &["hold_native"],
            "gateway",
        ),
    ];
    for (name, process, hold_workloads, hold_target) in rows {
        let idle = results.of_kind("idle", process).and_then(|r| r.rss_kib);
        let hold = results.hold(hold_workloads, hold_target);
        if idle.is_none() && hold.is_none() {
            continue;
        }
        let peak = results
            .of_kind("peak", process)
            .and_then(|r| r.peak_rss_kib);
        let held = hold.and_then(|r| r.held);
        let per_stream = usable(hold)
            .and_then(per_stream_kib)
            .map(|kib| format!("{kib:.1}"));
        let _ = writeln!(
            out,
            "| {name}{} | {} | {} | {} | {} | {} |",
            errors_note(&[hold]),
            mib(idle),
            mib(peak),
            held.map_or("–".into(), |h| format!(
                "{h}{}",
                hold.and_then(|r| r.failed)
                    .filter(|&f| f > 0)
                    .map_or(String::new(), |f| format!(" ({f} failed)"))
            )),
            hold.map_or("–".into(), |r| format!(
                "{} / {}",
                mib(r.rss_before_kib),
                mib(r.rss_kib)
            )),
            per_stream.unwrap_or_else(|| "–".into()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Spread;

    fn load(workload: &str, target: &str, c: usize, rps: f64, p50: u32) -> Record {
        Record {
            kind: "load".into(),
            workload: workload.into(),
            target: target.into(),
            concurrency: c,
            rps,
            latency: Spread {
                samples: 10,
                p50: Some(p50),
                p99: Some(p50 * 2),
                max: Some(p50 * 3),
            },
            ..Record::default()
        }
    }

    #[test]
    fn targets_are_checked_against_the_bare_proxy() {
        let records = vec![
            load("chat", "bare", 1, 5000.0, 100),
            load("chat", "gateway", 1, 4000.0, 160),
            load("chat", "bare", 64, 10000.0, 1000),
            load("chat", "gateway", 64, 6000.0, 1500),
            Record {
                kind: "hold".into(),
                workload: "hold".into(),
                target: "gateway".into(),
                held: Some(10_000),
                rss_before_kib: Some(10_000),
                rss_kib: Some(110_000),
                ..Record::default()
            },
            Record {
                kind: "hold".into(),
                workload: "hold".into(),
                target: "pingora".into(),
                held: Some(10_000),
                rss_before_kib: Some(5_000),
                rss_kib: Some(55_000),
                ..Record::default()
            },
        ];
        let text = render(&records);
        assert!(text.contains("| +60 µs | < 100 µs | yes |"), "{text}");
        assert!(text.contains("| 60% (c=64) | ≥ 70% | **no** |"), "{text}");
        assert!(
            text.contains("| 107.4 MiB | < 300 MiB for 10,000 | yes |"),
            "{text}"
        );
        assert!(text.contains("| 10.0 |"), "10 KiB per stream: {text}");
        assert!(
            text.contains("Pingora alone, answering 10000 streams itself (no upstream, no translation): the framework's floor | 53.7 MiB |"),
            "{text}"
        );
        assert!(
            text.contains("| Pingora alone (answers itself) | – | – | 10000 | 4.9 / 53.7 | 5.0 |"),
            "{text}"
        );
        assert!(
            text.contains("| chat | 64 | – | 10000 | 6000 | 60% |"),
            "{text}"
        );
    }

    fn failed(workload: &str, target: &str, c: usize, why: &str) -> Record {
        Record {
            kind: "load".into(),
            workload: workload.into(),
            target: target.into(),
            concurrency: c,
            errors: 50,
            error_sample: Some(why.into()),
            ..Record::default()
        }
    }

    #[test]
    fn failed_gateway_rows_show_as_errors_not_figures() {
        let mut wrong = load("chat_native", "gateway", 16, 9000.0, 50);
        wrong.mismatch = Some(
            "wrong Argo endpoint: 100 answers, the mock's chat_completions served 0 (chat +100)"
                .into(),
        );
        let records = vec![
            load("chat_native", "floor", 1, 9000.0, 40),
            load("chat_native", "bare", 1, 5000.0, 100),
            failed("chat_native", "gateway", 1, "status 502"),
            load("chat_native", "bare", 16, 10000.0, 1000),
            wrong,
        ];
        let text = render(&records);
        assert!(
            text.contains("| native upstream: added p50 latency at c=1, non-streaming chat (chat_native), over bare Pingora | errors (gateway: every request failed: status 502) | < 100 µs | **errors** |"),
            "{text}"
        );
        assert!(
            text.contains("| errors (gateway: wrong Argo endpoint: 100 answers, the mock's chat_completions served 0 (chat +100)) | ≥ 70% | **errors** |"),
            "{text}"
        );
        assert!(
            text.contains("| chat_native (gateway: every request failed: status 502) | 40 / 80 | 100 / 200 | error | – / – | – |"),
            "{text}"
        );
        assert!(
            text.contains("| 16 | – | 10000 | error | – |"),
            "a row from the wrong endpoint is no figure: {text}"
        );
        assert!(!text.contains("9000 |"), "{text}");
    }

    #[test]
    fn idle_rss_is_a_target_of_20_mib() {
        let idle = |target: &str, kib: u64| Record {
            kind: "idle".into(),
            target: target.into(),
            rss_kib: Some(kib),
            ..Record::default()
        };
        let text = render(&[idle("gateway", 12_800), idle("gateway_native", 25_600)]);
        assert!(
            text.contains("| idle RSS of the gateway (resource upstream), before any request | 12.5 MiB | ≤ 20 MiB | yes |"),
            "{text}"
        );
        assert!(
            text.contains("| idle RSS of the gateway (native upstream), before any request | 25.0 MiB | ≤ 20 MiB | **no** |"),
            "{text}"
        );
    }

    #[test]
    fn native_hold_is_checked_against_pingora_alone_plus_8_kib() {
        let hold = |workload: &str, target: &str, before: u64, after: u64| Record {
            kind: "hold".into(),
            workload: workload.into(),
            target: target.into(),
            held: Some(1000),
            rss_before_kib: Some(before),
            rss_kib: Some(after),
            ..Record::default()
        };
        let records = vec![
            load("chat_native", "bare", 1, 5000.0, 100),
            hold("hold", "pingora", 1000, 47_000),
            hold("hold_native", "gateway", 20_000, 72_000),
            Record {
                kind: "idle".into(),
                target: "gateway_native".into(),
                rss_kib: Some(25_600),
                ..Record::default()
            },
        ];
        let text = render(&records);
        assert!(
            text.contains("| native upstream: RSS per held stream (1000 streams), gateway vs Pingora alone | 52.0 KiB vs 46.0 KiB (+6.0) | ≤ Pingora alone + 8 KiB | yes |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| argo-bridge, native upstream | 25.0 | – | 1000 | 19.5 / 70.3 | 52.0 |"
            ),
            "{text}"
        );
    }

    fn wrk(workload: &str, target: &str, rps: f64, cpu: f64) -> Record {
        Record {
            kind: "wrk".into(),
            cpu_us_per_request: Some(cpu),
            ..load(workload, target, 32, rps, 90)
        }
    }

    #[test]
    fn repeated_wrk_runs_show_the_median_ratio_and_the_spread_of_paired_runs() {
        let mut bare = wrk("chat", "bare", 10000.0, 80.0);
        bare.rps_runs = Some(vec![10000.0, 8000.0, 12000.0]);
        let mut gateway = wrk("chat", "gateway", 9000.0, 90.0);
        gateway.rps_runs = Some(vec![9000.0, 8000.0, 9600.0]);
        let text = render(&[bare, gateway]);
        assert!(
            text.contains("| chat | resource | 10000 | 90 / 180 | 80.0 | 9000 | 90 / 180 | 90.0 | 90% (80–100%) | 1.12× |"),
            "{text}"
        );
        assert!(
            text.contains("resource gateway / bare Pingora | 90% (80–100%) | ≥ 95% | **no** |"),
            "{text}"
        );
    }

    #[test]
    fn wrk_section_compares_gateway_with_bare() {
        let mut native = wrk("chat_native", "gateway", 0.0, 0.0);
        native.ok = 0;
        native.errors = 1;
        native.error_sample = Some("probe: status 404: {}".into());
        let records = vec![
            wrk("chat", "bare", 11070.0, 89.0),
            wrk("chat", "gateway", 8830.0, 115.0),
            wrk("chat_native", "bare", 11000.0, 90.0),
            native,
        ];
        let text = render(&records);
        assert!(
            text.contains("| wrk (c=32): non-streaming chat req/s, resource gateway / bare Pingora | 80% | ≥ 95% | **no** |"),
            "{text}"
        );
        assert!(
            text.contains("| chat | resource | 11070 | 90 / 180 | 89.0 | 8830 | 90 / 180 | 115.0 | 80% | 1.29× |"),
            "{text}"
        );
        assert!(
            text.contains("| chat_native (gateway: every request failed: probe: status 404: {}) | native | 11000 | 90 / 180 | 90.0 | error | error | error | – | – |"),
            "{text}"
        );
        assert!(
            text.contains("non-streaming chat req/s, native gateway / bare Pingora | errors (gateway: every request failed: probe: status 404: {}) | ≥ 95% | **errors** |"),
            "{text}"
        );
    }

    #[test]
    fn other_client_formats_get_native_stream_targets_and_rows() {
        let stream = |target: &str, c: usize, rps: f64, ttft: u32, cpu: f64| Record {
            ttft: Spread {
                samples: 10,
                p50: Some(ttft),
                p99: Some(ttft * 2),
                max: Some(ttft * 3),
            },
            cpu_us_per_request: Some(cpu),
            ..load("stream_responses", target, c, rps, ttft + 100)
        };
        let records = vec![
            stream("floor", 1, 2000.0, 150, 300.0),
            stream("bare", 1, 1500.0, 200, 350.0),
            stream("gateway", 1, 1400.0, 240, 400.0),
            stream("floor", 64, 2000.0, 30_000, 300.0),
            stream("bare", 64, 1800.0, 32_000, 320.0),
            stream("gateway", 64, 1620.0, 35_000, 400.0),
        ];
        let text = render(&records);
        assert!(
            text.contains("| native upstream, Responses client, Argo's Responses SSE relayed (stream_responses): added time to first token (p50, c=1) over bare Pingora | +40 µs | < 1000 µs | yes |"),
            "{text}"
        );
        assert!(
            text.contains("(stream_responses): throughput, gateway / bare Pingora (worst of c>1) | 90% (c=64) | ≥ 70% | yes |"),
            "{text}"
        );
        assert!(
            !text.contains("(stream_generate)") && !text.contains("(stream_native)"),
            "no target rows for workloads that did not run: {text}"
        );
        assert!(
            text.contains("| stream_responses | 1 | gateway | 240 | 480 | – | – | +40 | – |"),
            "{text}"
        );
        assert!(
            text.contains("| stream_responses | 64 | 2000 | 1800 | 1620 | 90% |"),
            "{text}"
        );
        assert!(
            text.contains("| stream_responses | 300.0 | 320.0 (+ –) | 400.0 (+ –) | 1.2× |"),
            "CPU at c=64 without a chat row: {text}"
        );
    }

    #[test]
    fn results_file_round_trips() {
        let line = serde_json::to_string(&load("stream", "floor", 16, 1.5, 7)).unwrap();
        let records = parse(&format!("{line}\n\n{line}\n")).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].latency.p50, Some(7));
        assert!(parse("{not json").is_err());
    }
}
