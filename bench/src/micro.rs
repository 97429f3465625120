//! The criterion microbenchmarks of `argo-filters` as a markdown table, read from the estimates
//! criterion saves under `target/criterion` (`<group>/<bench>/new/{benchmark,estimates}.json`).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

/// One benchmark: its group, its id within the group, median time and bytes per iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Micro {
    pub group: String,
    pub id: String,
    pub median_ns: f64,
    pub bytes: Option<u64>,
}

/// Reads every benchmark under `dir`, sorted by group, then by the numbers in their ids.
pub fn read(dir: &Path) -> Result<Vec<Micro>, String> {
    let mut found = Vec::new();
    collect(dir, &mut found)?;
    found.sort_by(|a, b| (&a.group, id_key(&a.id), &a.id).cmp(&(&b.group, id_key(&b.id), &b.id)));
    Ok(found)
}

/// Ids like `float/16` or `4096`: sort by name, then by the number.
fn id_key(id: &str) -> (String, u64) {
    let (name, number) = id.rsplit_once('/').unwrap_or(("", id));
    (name.to_string(), number.parse().unwrap_or(u64::MAX))
}

fn collect(dir: &Path, found: &mut Vec<Micro>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|name| name == "new") {
            if let Some(micro) = parse(&path)? {
                found.push(micro);
            }
        } else if path.file_name().is_some_and(|name| name != "report") {
            collect(&path, found)?;
        }
    }
    Ok(())
}

fn parse(new: &Path) -> Result<Option<Micro>, String> {
    let read_json = |name: &str| -> Result<Option<Value>, String> {
        let path = new.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", path.display())),
            Err(_) => Ok(None),
        }
    };
    let (Some(benchmark), Some(estimates)) =
        (read_json("benchmark.json")?, read_json("estimates.json")?)
    else {
        return Ok(None);
    };
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    let id = match (
        benchmark["function_id"].as_str(),
        benchmark["value_str"].as_str(),
    ) {
        (Some(function), Some(value)) => format!("{function}/{value}"),
        (Some(function), None) => function.to_string(),
        (None, _) => text(&benchmark["value_str"]),
    };
    Ok(estimates["median"]["point_estimate"]
        .as_f64()
        .map(|median_ns| Micro {
            group: text(&benchmark["group_id"]),
            id,
            median_ns,
            bytes: benchmark["throughput"]["Bytes"].as_u64(),
        }))
}

pub fn render(micros: &[Micro]) -> String {
    let mut out = String::from(
        "### Microbenchmarks (criterion, median per call)\n\n| group | input | time | throughput |\n|---|---|---|---|\n",
    );
    for micro in micros {
        let throughput = micro.bytes.map_or("–".into(), |bytes| {
            let mib_per_s = bytes as f64 / (micro.median_ns / 1e9) / (1024.0 * 1024.0);
            format!("{mib_per_s:.0} MiB/s")
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {throughput} |",
            micro.group,
            micro.id,
            duration(micro.median_ns)
        );
    }
    out
}

fn duration(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_bench(root: &Path, dirs: &str, benchmark: Value, median: f64) {
        let new = root.join(dirs).join("new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("benchmark.json"), benchmark.to_string()).unwrap();
        let estimates = serde_json::json!({"median": {"point_estimate": median}});
        std::fs::write(new.join("estimates.json"), estimates.to_string()).unwrap();
    }

    #[test]
    fn criterion_output_becomes_a_sorted_table() {
        let root = std::env::temp_dir().join(format!("micro-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (size, median) in [("1000", 2_500.0), ("100", 700.0)] {
            let benchmark = serde_json::json!({"group_id": "request_rewrite", "function_id": null,
                "value_str": size, "throughput": {"Bytes": size.parse::<u64>().unwrap() * 2}});
            write_bench(&root, &format!("request_rewrite/{size}"), benchmark, median);
        }
        let benchmark = serde_json::json!({"group_id": "embeddings", "function_id": "float",
            "value_str": "16", "throughput": null});
        write_bench(&root, "embeddings/float/16", benchmark, 3_200_000.0);
        std::fs::create_dir_all(root.join("report")).unwrap();

        let micros = read(&root).unwrap();
        let ids: Vec<&str> = micros.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["float/16", "100", "1000"]);
        let table = render(&micros);
        assert!(
            table.contains("| embeddings | float/16 | 3.20 ms | – |"),
            "{table}"
        );
        assert!(
            table.contains("| request_rewrite | 100 | 700 ns | 272 MiB/s |"),
            "{table}"
        );
        assert!(
            table.contains("| request_rewrite | 1000 | 2.5 µs | 763 MiB/s |"),
            "{table}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
