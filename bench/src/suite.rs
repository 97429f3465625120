//! The benchmark suite: each workload against each target, at each concurrency, interleaved so
//! that drifting machine load hits every target alike. One JSON line per measurement.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::Request;
use crate::procfs;
use crate::run::{closed_loop, hold_streams, HoldSpec, Job, LoadSpec};
use crate::stats::Spread;

/// The mock Argo alone; the bare Pingora pass-through; argo-bridge.
pub const TARGETS: [&str; 3] = ["floor", "bare", "gateway"];
/// Targets whose memory is reported: also `pingora`, a Pingora service that answers streams
/// itself (no upstream), only used to hold streams.
pub const MEMORY_TARGETS: [&str; 4] = ["floor", "pingora", "bare", "gateway"];

pub const TOKEN: &str = "bench-token";
const ARGO_CHAT_MODEL: &str = "gpt4o";
const CHAT_MODEL: &str = "gpt-4o";
const EMBED_MODEL: &str = "text-embedding-3-small";
const ARGO_EMBED_MODEL: &str = "v3small";

/// One process under test: where it listens and its pid, for CPU and memory.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct SuiteConfig {
    pub floor: Endpoint,
    pub bare: Endpoint,
    pub gateway: Endpoint,
    /// `bare-proxy --answer-locally`, when given.
    pub pingora_alone: Option<Endpoint>,
    pub warmup: Duration,
    pub measure: Duration,
    pub concurrency: Vec<usize>,
    pub paced_concurrency: Vec<usize>,
    pub pace_ms: u64,
    pub hold_streams: usize,
    /// Run only these workloads (all when empty).
    pub workloads: Vec<String>,
    /// Run only these targets (all when empty).
    pub targets: Vec<String>,
}

impl SuiteConfig {
    fn endpoint(&self, target: &str) -> Option<Endpoint> {
        match target {
            "floor" => Some(self.floor),
            "bare" => Some(self.bare),
            "pingora" => self.pingora_alone,
            _ => Some(self.gateway),
        }
    }

    fn pid(&self, target: &str) -> Option<u32> {
        self.endpoint(target)?.pid
    }

    fn wants(&self, workload: &str, target: &str) -> bool {
        (self.workloads.is_empty() || self.workloads.iter().any(|w| w == workload))
            && (self.targets.is_empty() || self.targets.iter().any(|t| t == target))
            && self.endpoint(target).is_some()
    }
}

/// One measurement, as written to the results file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// `load` (closed loop), `hold` (open streams) or `idle` (memory before any load).
    pub kind: String,
    pub workload: String,
    pub target: String,
    pub concurrency: usize,
    pub seconds: f64,
    pub ok: u64,
    pub errors: u64,
    pub rps: f64,
    pub latency: Spread,
    pub ttft: Spread,
    pub gap: Spread,
    /// CPU time of the target process (the mock for `floor`) per answered request.
    pub cpu_us_per_request: Option<f64>,
    /// CPU time of the mock Argo per request, when the target is a proxy in front of it.
    pub mock_cpu_us_per_request: Option<f64>,
    pub rss_kib: Option<u64>,
    pub peak_rss_kib: Option<u64>,
    /// Hold runs: memory before opening the streams, and the streams held.
    pub rss_before_kib: Option<u64>,
    pub held: Option<usize>,
    pub failed: Option<usize>,
}

/// `n` tokens of 8 bytes, each starting with the marker: `Tq00001 Tq00002 ...`.
pub fn reply(tokens: usize) -> String {
    (1..=tokens).map(|i| format!("Tq{i:05} ")).collect()
}

/// A workload: what each target is sent. Floor and bare get Argo's own request at Argo's path
/// (the bare proxy forwards it unchanged); the gateway gets the OpenAI request that it
/// translates into that same Argo request.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: &'static str,
    pub argo: Job,
    pub openai: Job,
}

impl Workload {
    fn job(&self, target: &str, config: &SuiteConfig) -> Job {
        let mut job = match target {
            "gateway" => self.openai.clone(),
            _ => self.argo.clone(),
        };
        if let Some(endpoint) = config.endpoint(target) {
            job.addr = endpoint.addr;
        }
        job
    }
}

fn user_text(directive: serde_json::Value) -> String {
    format!("Benchmark request, please answer as scripted. #mock {directive}")
}

fn argo_job(path: &str, body: serde_json::Value, markers: usize) -> Job {
    Job {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        request: Request::post(path, &[], body.to_string().as_bytes()),
        markers,
    }
}

fn openai_job(path: &str, body: serde_json::Value, markers: usize) -> Job {
    let auth = format!("Bearer {TOKEN}");
    Job {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        request: Request::post(
            path,
            &[("Authorization", auth.as_str())],
            body.to_string().as_bytes(),
        ),
        markers,
    }
}

/// Chat with a scripted answer of `tokens` tokens, streamed at `pace_ms` per token or not.
pub fn chat(name: &'static str, tokens: usize, stream: Option<u64>) -> Workload {
    let directive = json!({"reply": reply(tokens), "fragment_bytes": 8, "fragment_delay_ms": stream.unwrap_or(0)});
    let messages = json!([{"role": "user", "content": user_text(directive)}]);
    let argo_path = match stream {
        Some(_) => "/argoapi/api/v1/resource/streamchat/",
        None => "/argoapi/api/v1/resource/chat/",
    };
    Workload {
        name,
        argo: argo_job(
            argo_path,
            json!({"user": "bench", "model": ARGO_CHAT_MODEL, "messages": messages}),
            tokens,
        ),
        openai: openai_job(
            "/v1/chat/completions",
            json!({"model": CHAT_MODEL, "messages": messages, "stream": stream.is_some()}),
            tokens,
        ),
    }
}

/// One text embedded into one 1536-float vector.
pub fn embeddings() -> Workload {
    let text = "The quick brown fox jumps over the lazy dog.";
    Workload {
        name: "embeddings",
        argo: argo_job(
            "/argoapi/api/v1/resource/embed/",
            json!({"user": "bench", "model": ARGO_EMBED_MODEL, "prompt": [text]}),
            0,
        ),
        openai: openai_job(
            "/v1/embeddings",
            json!({"model": EMBED_MODEL, "input": text}),
            0,
        ),
    }
}

pub const CHAT_TOKENS: usize = 25;
pub const STREAM_TOKENS: usize = 32;
pub const PACED_TOKENS: usize = 20;

/// Runs everything the config selects, handing each record to `emit` as it completes.
pub async fn run(config: &SuiteConfig, emit: &mut dyn FnMut(Record)) {
    for target in MEMORY_TARGETS {
        if let Some(record) = idle_record(config, target) {
            emit(record);
        }
    }
    let fast = [
        chat("chat", CHAT_TOKENS, None),
        embeddings(),
        chat("stream", STREAM_TOKENS, Some(0)),
    ];
    for workload in &fast {
        for &concurrency in &config.concurrency {
            run_targets(config, workload, concurrency, emit).await;
        }
    }
    let paced = chat("stream_paced", PACED_TOKENS, Some(config.pace_ms));
    for &concurrency in &config.paced_concurrency {
        run_targets(config, &paced, concurrency, emit).await;
    }
    if config.hold_streams > 0 {
        // Long, slow streams: each stays open well past the time needed to open them all.
        let held = chat("hold", 120, Some(1000));
        for target in ["pingora", "bare", "gateway"] {
            if config.wants("hold", target) {
                emit(hold(config, &held, target).await);
            }
        }
    }
    for target in MEMORY_TARGETS {
        if let Some(record) = peak_record(config, target) {
            emit(record);
        }
    }
}

async fn run_targets(
    config: &SuiteConfig,
    workload: &Workload,
    concurrency: usize,
    emit: &mut dyn FnMut(Record),
) {
    for target in TARGETS {
        if config.wants(workload.name, target) {
            emit(load(config, workload, target, concurrency).await);
        }
    }
}

fn idle_record(config: &SuiteConfig, target: &str) -> Option<Record> {
    let (rss, _) = procfs::rss_kib(config.pid(target)?)?;
    Some(Record {
        kind: "idle".into(),
        target: target.into(),
        rss_kib: Some(rss),
        ..Record::default()
    })
}

fn peak_record(config: &SuiteConfig, target: &str) -> Option<Record> {
    let (rss, peak) = procfs::rss_kib(config.pid(target)?)?;
    Some(Record {
        kind: "peak".into(),
        target: target.into(),
        rss_kib: Some(rss),
        peak_rss_kib: Some(peak),
        ..Record::default()
    })
}

/// CPU microseconds of a process between two readings.
struct CpuWatch {
    pid: Option<u32>,
    start: Option<u64>,
}

impl CpuWatch {
    fn start(pid: Option<u32>) -> Self {
        CpuWatch {
            pid,
            start: pid.and_then(procfs::cpu_micros),
        }
    }

    fn per_request(&self, requests: u64) -> Option<f64> {
        let used = procfs::cpu_micros(self.pid?)?.checked_sub(self.start?)?;
        (requests > 0).then(|| used as f64 / requests as f64)
    }
}

async fn load(
    config: &SuiteConfig,
    workload: &Workload,
    target: &str,
    concurrency: usize,
) -> Record {
    let spec = LoadSpec {
        concurrency,
        warmup: config.warmup,
        measure: config.measure,
        request_timeout: Duration::from_secs(10),
    };
    let pid = config.pid(target);
    let mock_pid = config.floor.pid.filter(|_| target != "floor");
    let job = Arc::new(workload.job(target, config));
    let run = tokio::spawn(closed_loop(job, spec));
    tokio::time::sleep(config.warmup).await;
    let (cpu, mock_cpu) = (CpuWatch::start(pid), CpuWatch::start(mock_pid));
    let window = Instant::now();
    tokio::time::sleep(config.measure).await;
    let seconds = window.elapsed().as_secs_f64();
    let mut samples = run.await.unwrap_or_default();
    let rss = pid.and_then(procfs::rss_kib);
    Record {
        kind: "load".into(),
        workload: workload.name.into(),
        target: target.into(),
        concurrency,
        seconds,
        ok: samples.ok,
        errors: samples.errors,
        rps: samples.ok as f64 / seconds,
        latency: Spread::of(&mut samples.latency),
        ttft: Spread::of(&mut samples.ttft),
        gap: Spread::of(&mut samples.gap),
        cpu_us_per_request: cpu.per_request(samples.ok),
        mock_cpu_us_per_request: mock_cpu.per_request(samples.ok),
        rss_kib: rss.map(|(now, _)| now),
        peak_rss_kib: rss.map(|(_, peak)| peak),
        ..Record::default()
    }
}

async fn hold(config: &SuiteConfig, workload: &Workload, target: &str) -> Record {
    let pid = config.pid(target);
    let rss_before = pid.and_then(procfs::rss_kib).map(|(now, _)| now);
    let spec = HoldSpec {
        streams: config.hold_streams,
        ramp_per_second: 2_000,
        open_timeout: Duration::from_secs(60),
        settle: Duration::from_secs(2),
    };
    let job = Arc::new(workload.job(target, config));
    let (held, rss) = hold_streams(job, spec, || pid.and_then(procfs::rss_kib)).await;
    Record {
        kind: "hold".into(),
        workload: workload.name.into(),
        target: target.into(),
        concurrency: config.hold_streams,
        rss_kib: rss.map(|(now, _)| now),
        peak_rss_kib: rss.map(|(_, peak)| peak),
        rss_before_kib: rss_before,
        held: Some(held.open),
        failed: Some(held.failed),
        ..Record::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_eight_byte_marked_tokens() {
        let text = reply(3);
        assert_eq!(text, "Tq00001 Tq00002 Tq00003 ");
        assert_eq!(text.len(), 24);
    }

    #[test]
    fn floor_and_gateway_ask_for_the_same_scripted_answer() {
        let workload = chat("stream", 4, Some(0));
        let argo = String::from_utf8(workload.argo.request.bytes().to_vec()).unwrap();
        let openai = String::from_utf8(workload.openai.request.bytes().to_vec()).unwrap();
        assert!(argo.starts_with("POST /argoapi/api/v1/resource/streamchat/ "));
        assert!(openai.starts_with("POST /v1/chat/completions "));
        assert!(openai.contains("Authorization: Bearer bench-token"));
        for request in [&argo, &openai] {
            assert!(request.contains("#mock"), "{request}");
            assert!(request.contains("Tq00004"), "{request}");
        }
        assert!(openai.contains("\"stream\":true"));
        assert_eq!(workload.openai.markers, 4);
    }
}
