//! The BPE tables are built on first use only, once: a process that never counts with one never
//! pays for it. A test binary of its own with one test, so that nothing has built a table
//! before. Prints what each build costs (`--nocapture`); asserts only what is built when.

use std::time::{Duration, Instant};

use argo_filters::usage::Tokenizer;

/// This process's resident memory, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn report(tokenizer: Tokenizer, how: &str, took: Duration, rss_before: f64) {
    println!(
        "{tokenizer:?}: built {how} in {:.0} ms, RSS {rss_before:.1} -> {:.1} MiB",
        took.as_secs_f64() * 1e3,
        rss_mib()
    );
}

#[test]
fn each_table_is_built_once_by_its_first_count_only() {
    let (o200k, cl100k) = (Tokenizer::O200kBase, Tokenizer::Cl100kBase);
    assert!(
        !o200k.is_ready() && !cl100k.is_ready(),
        "nothing built at start"
    );
    assert!(
        Tokenizer::Estimate.is_ready(),
        "the estimate needs no table"
    );
    assert_eq!(Tokenizer::Estimate.count("a few words"), 3);
    assert!(!o200k.is_ready() && !cl100k.is_ready());

    // Four threads count at once with a table not built yet: one builds it, all agree.
    let (rss, started) = (rss_mib(), Instant::now());
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let counting: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| cl100k.count("tiktoken is great!")))
            .collect();
        counting
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .collect()
    });
    report(
        cl100k,
        "by four threads' first counts",
        started.elapsed(),
        rss,
    );
    assert_eq!(counts, [6, 6, 6, 6]);
    assert!(
        cl100k.is_ready() && !o200k.is_ready(),
        "one table at a time"
    );

    let (rss, started) = (rss_mib(), Instant::now());
    o200k.load();
    report(o200k, "by load()", started.elapsed(), rss);
    assert!(o200k.is_ready());
    assert_eq!(o200k.count("hello world"), 2);
}
