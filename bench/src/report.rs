//! Renders the results file (one JSON [`Record`] per line) as markdown tables, with the issue's
//! targets checked as ratios against the bare Pingora baseline.

use std::fmt::Write;

use crate::suite::{Record, MEMORY_TARGETS, TARGETS};

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

struct Results<'a>(&'a [Record]);

impl<'a> Results<'a> {
    fn load(&self, workload: &str, target: &str, concurrency: usize) -> Option<&'a Record> {
        self.0.iter().rev().find(|r| {
            r.kind == "load"
                && r.workload == workload
                && r.target == target
                && r.concurrency == concurrency
        })
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

fn errors_note(records: &[Option<&Record>]) -> String {
    let errors: u64 = records.iter().flatten().map(|r| r.errors).sum();
    if errors > 0 {
        format!(" ({errors} errors)")
    } else {
        String::new()
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
    memory(&mut out, &results);
    out
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "not measured",
    }
}

fn targets(out: &mut String, results: &Results) {
    let chat_c1 = (
        results.load("chat", "gateway", 1),
        results.load("chat", "bare", 1),
    );
    let added_p50 = added(
        chat_c1.0.and_then(|r| r.latency.p50),
        chat_c1.1.and_then(|r| r.latency.p50),
    );
    let worst_ratio = results
        .concurrencies("chat")
        .into_iter()
        .filter(|&c| c > 1)
        .filter_map(|c| {
            let gateway = results.load("chat", "gateway", c)?.rps;
            let bare = results.load("chat", "bare", c)?.rps;
            (bare > 0.0).then(|| (gateway / bare, c))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let ttft = added(
        results
            .load("stream_paced", "gateway", 1)
            .and_then(|r| r.ttft.p50),
        results
            .load("stream_paced", "bare", 1)
            .and_then(|r| r.ttft.p50),
    );
    let hold = results.of_kind("hold", "gateway");
    let hold_rss = hold.and_then(|r| r.rss_kib);
    let held = hold.and_then(|r| r.held).unwrap_or(0);
    let _ = writeln!(out, "### Targets\n");
    let _ = writeln!(out, "| target | measured | goal | met |\n|---|---|---|---|");
    let _ = writeln!(
        out,
        "| added p50 latency at c=1, non-streaming chat, over bare Pingora | {} µs | < 100 µs | {} |",
        signed(added_p50),
        verdict(added_p50.map(|v| v < 100))
    );
    let _ = writeln!(
        out,
        "| non-streaming chat throughput, gateway / bare Pingora (worst of c>1) | {} | ≥ 70% | {} |",
        worst_ratio.map_or("–".into(), |(ratio, c)| format!("{:.0}% (c={c})", ratio * 100.0)),
        verdict(worst_ratio.map(|(ratio, _)| ratio >= 0.7))
    );
    let _ = writeln!(
        out,
        "| streaming: added time to first token (p50, paced, c=1) over bare Pingora | {} µs | < 1000 µs | {} |",
        signed(ttft),
        verdict(ttft.map(|v| v < 1000))
    );
    let _ = writeln!(
        out,
        "| RSS with {held} concurrent streams open | {} MiB | < 300 MiB for 10,000 | {} |",
        mib(hold_rss),
        verdict(hold_rss.map(|kib| held >= 10_000 && kib < 300 * 1024))
    );
    if let Some(alone) = results.of_kind("hold", "pingora") {
        let _ = writeln!(
            out,
            "| the same for Pingora alone, answering {} streams itself (no upstream, no translation): the framework's floor | {} MiB | – | – |",
            alone.held.unwrap_or(0),
            mib(alone.rss_kib)
        );
    }
    out.push('\n');
}

fn latency_c1(out: &mut String, results: &Results) {
    let _ = writeln!(out, "### Latency at concurrency 1 (µs)\n");
    let _ = writeln!(
        out,
        "| workload | floor p50 / p99 | bare p50 / p99 | gateway p50 / p99 | added p50 / p99 vs bare | added p50 vs floor |\n|---|---|---|---|---|---|"
    );
    for workload in ["chat", "embeddings", "stream", "stream_paced"] {
        let [floor, bare, gateway] = TARGETS.map(|t| results.load(workload, t, 1));
        if gateway.is_none() && bare.is_none() {
            continue;
        }
        let pair = |r: Option<&Record>| {
            format!(
                "{} / {}",
                us(r.and_then(|r| r.latency.p50)),
                us(r.and_then(|r| r.latency.p99))
            )
        };
        let p = |r: Option<&Record>, f: fn(&Record) -> Option<u32>| r.and_then(f);
        let _ = writeln!(
            out,
            "| {workload}{} | {} | {} | {} | {} / {} | {} |",
            errors_note(&[floor, bare, gateway]),
            pair(floor),
            pair(bare),
            pair(gateway),
            signed(added(
                p(gateway, |r| r.latency.p50),
                p(bare, |r| r.latency.p50)
            )),
            signed(added(
                p(gateway, |r| r.latency.p99),
                p(bare, |r| r.latency.p99)
            )),
            signed(added(
                p(gateway, |r| r.latency.p50),
                p(floor, |r| r.latency.p50)
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
    for workload in ["chat", "embeddings", "stream"] {
        for c in results
            .concurrencies(workload)
            .into_iter()
            .filter(|&c| c > 1)
        {
            let [floor, bare, gateway] = TARGETS.map(|t| results.load(workload, t, c));
            let rps = |r: Option<&Record>| r.map_or("–".into(), |r| format!("{:.0}", r.rps));
            let ratio = match (gateway, bare) {
                (Some(g), Some(b)) if b.rps > 0.0 => format!("{:.0}%", g.rps / b.rps * 100.0),
                _ => "–".into(),
            };
            let p99 = |r: Option<&Record>| us(r.and_then(|r| r.latency.p99));
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
    for workload in ["stream_paced", "stream"] {
        for c in results.concurrencies(workload) {
            let bare = results.load(workload, "bare", c);
            for target in TARGETS {
                let Some(record) = results.load(workload, target, c) else {
                    continue;
                };
                let vs_bare = |f: fn(&Record) -> Option<u32>| {
                    if target == "gateway" {
                        signed(added(f(record), bare.and_then(f)))
                    } else {
                        String::new()
                    }
                };
                let _ = writeln!(
                    out,
                    "| {workload}{} | {c} | {target} | {} | {} | {} | {} | {} | {} |",
                    errors_note(&[Some(record)]),
                    us(record.ttft.p50),
                    us(record.ttft.p99),
                    us(record.gap.p50),
                    us(record.gap.p99),
                    vs_bare(|r| r.ttft.p50),
                    vs_bare(|r| r.gap.p99),
                );
            }
        }
    }
    out.push('\n');
}

fn cpu(out: &mut String, results: &Results) {
    let Some(c) = results.concurrencies("chat").into_iter().find(|&c| c == 64) else {
        return;
    };
    let _ = writeln!(out, "### CPU time per request at c={c} (µs)\n");
    let _ = writeln!(
        out,
        "| workload | floor: mock | bare: proxy (+ mock) | gateway: gateway (+ mock) | gateway / bare |\n|---|---|---|---|---|"
    );
    let cpu = |r: Option<&Record>| r.and_then(|r| r.cpu_us_per_request);
    let fmt = |value: Option<f64>| value.map_or("–".into(), |v| format!("{v:.1}"));
    for workload in ["chat", "embeddings", "stream"] {
        let [floor, bare, gateway] = TARGETS.map(|t| results.load(workload, t, c));
        let with_mock = |r: Option<&Record>| {
            format!(
                "{} (+ {})",
                fmt(cpu(r)),
                fmt(r.and_then(|r| r.mock_cpu_us_per_request))
            )
        };
        let ratio = match (cpu(gateway), cpu(bare)) {
            (Some(g), Some(b)) if b > 0.0 => format!("{:.1}×", g / b),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {workload} | {} | {} | {} | {ratio} |",
            fmt(cpu(floor)),
            with_mock(bare),
            with_mock(gateway)
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
    for target in MEMORY_TARGETS {
        let idle = results.of_kind("idle", target).and_then(|r| r.rss_kib);
        if idle.is_none() && results.of_kind("hold", target).is_none() {
            continue;
        }
        let peak = results.of_kind("peak", target).and_then(|r| r.peak_rss_kib);
        let hold = results.of_kind("hold", target);
        let held = hold.and_then(|r| r.held);
        let per_stream = hold.and_then(|r| {
            let grown = r.rss_kib?.saturating_sub(r.rss_before_kib?);
            let held = r.held.filter(|&held| held > 0)?;
            Some(format!("{:.1}", grown as f64 / held as f64))
        });
        let name = match target {
            "floor" => "mock Argo",
            "pingora" => "Pingora alone (answers itself)",
            "bare" => "bare Pingora",
            _ => "argo-bridge",
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
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
                target: "gateway".into(),
                held: Some(10_000),
                rss_before_kib: Some(10_000),
                rss_kib: Some(110_000),
                ..Record::default()
            },
            Record {
                kind: "hold".into(),
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

    #[test]
    fn results_file_round_trips() {
        let line = serde_json::to_string(&load("stream", "floor", 16, 1.5, 7)).unwrap();
        let records = parse(&format!("{line}\n\n{line}\n")).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].latency.p50, Some(7));
        assert!(parse("{not json").is_err());
    }
}
