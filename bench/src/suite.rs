//! The benchmark suite: each workload against each target, at each concurrency, interleaved so
//! that drifting machine load hits every target alike. One JSON line per measurement.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::Request;
use crate::mock::{self, Counts};
use crate::procfs;
use crate::run::{closed_loop, hold_streams, HoldSpec, Job, LoadSpec, MARKER};
use crate::stats::Spread;
use crate::wrk::{self, WrkConfig};

/// The mock Argo alone; the bare Pingora pass-through; argo-bridge (for the native workloads,
/// the second argo-bridge, whose upstream is Argo's native API).
pub const TARGETS: [&str; 3] = ["floor", "bare", "gateway"];
/// Processes whose memory is reported: also `pingora`, a Pingora service that answers streams
/// itself (no upstream), only used to hold streams, and `gateway_native`, the second gateway.
pub const MEMORY_TARGETS: [&str; 5] = ["floor", "pingora", "bare", "gateway", "gateway_native"];

pub const TOKEN: &str = "bench-token";
/// The lab user the token maps to, which the native endpoints take as the credential.
pub const USER: &str = "bench";
const ARGO_CHAT_MODEL: &str = "gpt4o";
const CHAT_MODEL: &str = "gpt-4o";
const ARGO_CLAUDE_MODEL: &str = "claudesonnet45";
const CLAUDE_MODEL: &str = "claude-sonnet-4.5";
const ARGO_GEMINI_MODEL: &str = "gemini25flash";
const GEMINI_MODEL: &str = "gemini-2.5-flash";
/// What the gateway sends as `max_tokens` to /v1/messages when the client names none (the
/// model table's `default_max_tokens` for Claude Sonnet 4.5).
const CLAUDE_MAX_TOKENS: u64 = 16_384;
const ANTHROPIC_VERSION: &str = "2023-06-01";
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
    /// argo-bridge with `ARGO_BRIDGE_UPSTREAM_API=native`, when given: the gateway of the
    /// native workloads (which are skipped for the gateway without it).
    pub gateway_native: Option<Endpoint>,
    /// `bare-proxy --answer-locally`, when given.
    pub pingora_alone: Option<Endpoint>,
    pub warmup: Duration,
    pub measure: Duration,
    pub concurrency: Vec<usize>,
    /// Levels of the other client formats' workloads ([`format_workloads`]).
    pub format_concurrency: Vec<usize>,
    pub paced_concurrency: Vec<usize>,
    pub pace_ms: u64,
    pub hold_streams: usize,
    /// wrk, when it is to drive the `wrk` workload too.
    pub wrk: Option<WrkConfig>,
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
            "gateway_native" => self.gateway_native,
            _ => Some(self.gateway),
        }
    }

    fn pid(&self, target: &str) -> Option<u32> {
        self.endpoint(target)?.pid
    }

    fn selects(&self, workload: &str, target: &str) -> bool {
        (self.workloads.is_empty() || self.workloads.iter().any(|w| w == workload))
            && (self.targets.is_empty() || self.targets.iter().any(|t| t == target))
    }

    fn wants(&self, workload: &Workload, target: &str) -> bool {
        self.selects(workload.name, target) && workload.endpoint(target, self).is_some()
    }
}

/// One measurement, as written to the results file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// `load` (closed loop), `wrk` (closed loop driven by wrk), `hold` (open streams), `idle`
    /// (memory before any load) or `peak`.
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
    /// What went wrong with the first error (status, timeout, a wrong answer...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_sample: Option<String>,
    /// Set when the mock's counters show the answers did not come from the workload's Argo
    /// endpoint: the row's figures measure something else and count as errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mismatch: Option<String>,
    /// Repeated wrk runs: each run's req/s, in the order run (the record is the median's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps_runs: Option<Vec<f64>>,
}

impl Record {
    /// Why the row's figures cannot stand: nothing answered correctly, or the answers came
    /// from the wrong Argo endpoint.
    pub fn failure(&self) -> Option<String> {
        if let Some(mismatch) = &self.mismatch {
            return Some(mismatch.clone());
        }
        let answered = match self.kind.as_str() {
            "hold" => self.held.unwrap_or(0) as u64,
            _ => self.ok,
        };
        (answered == 0 && (self.errors > 0 || self.failed.unwrap_or(0) > 0)).then(|| {
            match &self.error_sample {
                Some(why) => format!("every request failed: {why}"),
                None => "every request failed".into(),
            }
        })
    }
}

/// `n` tokens of 8 bytes, each starting with the marker: `Tq00001 Tq00002 ...`.
pub fn reply(tokens: usize) -> String {
    (1..=tokens).map(|i| format!("Tq{i:05} ")).collect()
}

/// Which Argo API a workload is about, and so what floor and bare are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The legacy `/api/v1/resource/` endpoints.
    Resource,
    /// `/v1/chat/completions` (GPT and Gemini models).
    NativeOpenAi,
    /// `/v1/messages` (Claude).
    NativeAnthropic,
}

/// The client format of the gateway's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI's `/v1/chat/completions`.
    OpenAiChat,
    /// Anthropic's `/v1/messages`.
    Messages,
    /// OpenAI's `/v1/responses`.
    Responses,
    /// Google's `/v1beta/models/{model}:streamGenerateContent?alt=sse` (`:generateContent`
    /// when not streamed).
    GenAi,
}

/// What starts each token of a streamed Responses answer: its `response.output_text.delta`
/// events; the `.done` and `response.completed` events repeat the whole text.
const RESPONSES_DELTA: &[u8] = b"\"delta\":\"Tq";

/// A workload: what each target is sent. Floor and bare get Argo's own request at Argo's path
/// (the bare proxy forwards it unchanged); the gateway gets the client's request (OpenAI chat,
/// or another client format) that it translates into that same Argo request.
#[derive(Debug, Clone)]
pub struct Workload {
    pub name: &'static str,
    pub argo: Job,
    pub client: Job,
    /// Served by the native gateway (`--gateway-native`) instead of the resource one.
    pub native: bool,
    /// The mock's endpoint (its `/__mock/stats` name) every answer must come from.
    pub upstream: &'static str,
}

impl Workload {
    fn endpoint(&self, target: &str, config: &SuiteConfig) -> Option<Endpoint> {
        match target {
            "gateway" if self.native => config.gateway_native,
            _ => config.endpoint(target),
        }
    }

    fn job(&self, target: &str, config: &SuiteConfig) -> Job {
        let mut job = match target {
            "gateway" => self.client.clone(),
            _ => self.argo.clone(),
        };
        if let Some(endpoint) = self.endpoint(target, config) {
            job.addr = endpoint.addr;
        }
        job
    }
}

fn user_text(directive: serde_json::Value) -> String {
    format!("Benchmark request, please answer as scripted. #mock {directive}")
}

fn job(path: &str, headers: &[(&str, &str)], body: serde_json::Value, markers: usize) -> Job {
    Job {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        request: Request::post(path, headers, body.to_string().as_bytes()),
        marker: MARKER,
        markers,
    }
}

fn argo_job(path: &str, body: serde_json::Value, markers: usize) -> Job {
    job(path, &[], body, markers)
}

fn openai_job(path: &str, body: serde_json::Value, markers: usize) -> Job {
    let auth = format!("Bearer {TOKEN}");
    job(path, &[("Authorization", auth.as_str())], body, markers)
}

/// What the gateway sends to Argo's native endpoints: the username as the credential, and for
/// streams the event-stream `Accept` headers.
fn native_job(api: Api, body: serde_json::Value, stream: bool, markers: usize) -> Job {
    let bearer = format!("Bearer {USER}");
    let (path, mut headers) = match api {
        Api::NativeAnthropic => (
            "/argoapi/v1/messages",
            vec![
                ("x-api-key", USER),
                ("anthropic-version", ANTHROPIC_VERSION),
            ],
        ),
        _ => (
            "/argoapi/v1/chat/completions",
            vec![("Authorization", bearer.as_str())],
        ),
    };
    if stream {
        headers.extend([
            ("Accept", "text/event-stream"),
            ("Accept-Encoding", "identity"),
        ]);
    }
    job(path, &headers, body, markers)
}

/// What the gateway sends to Argo's own `/v1/responses` for a Responses client of a GPT
/// model: the client's body with Argo's model id and the user, the username as the bearer.
fn native_responses_job(body: serde_json::Value, stream: bool, markers: usize) -> Job {
    let bearer = format!("Bearer {USER}");
    let mut headers = vec![("Authorization", bearer.as_str())];
    if stream {
        headers.extend([
            ("Accept", "text/event-stream"),
            ("Accept-Encoding", "identity"),
        ]);
    }
    Job {
        marker: if stream { RESPONSES_DELTA } else { MARKER },
        ..job("/argoapi/v1/responses", &headers, body, markers)
    }
}

/// A Responses request's `input`: `text` as the user's message item.
fn responses_input(text: &str) -> serde_json::Value {
    json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}])
}

/// The gateway's request in `format`: `text` from the user to `model`.
fn client_job(format: Format, model: &str, text: &str, stream: bool, markers: usize) -> Job {
    let messages = json!([{"role": "user", "content": text}]);
    match format {
        Format::OpenAiChat => openai_job(
            "/v1/chat/completions",
            json!({"model": model, "messages": messages, "stream": stream}),
            markers,
        ),
        // `max_tokens` (Anthropic's API requires one) as the gateway's default for Claude, so
        // that Argo is asked what floor and bare are asked.
        Format::Messages => job(
            "/v1/messages",
            &[
                ("x-api-key", TOKEN),
                ("anthropic-version", ANTHROPIC_VERSION),
            ],
            json!({"model": model, "max_tokens": CLAUDE_MAX_TOKENS, "messages": messages, "stream": stream}),
            markers,
        ),
        // As Codex CLI asks: stateless, the input as message items.
        Format::Responses => Job {
            marker: if stream { RESPONSES_DELTA } else { MARKER },
            ..openai_job(
                "/v1/responses",
                json!({"model": model, "stream": stream, "store": false, "input": responses_input(text)}),
                markers,
            )
        },
        Format::GenAi => {
            let path = match stream {
                true => format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
                false => format!("/v1beta/models/{model}:generateContent"),
            };
            job(
                &path,
                &[("x-goog-api-key", TOKEN)],
                json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
                markers,
            )
        }
    }
}

/// A chat workload on `api`: `text` asked in `format` of the GPT model (Claude on
/// /v1/messages; Gemini when asked in Google's format, as Gemini CLI does), streamed or not,
/// answered with `markers` tokens.
fn chat_on(
    name: &'static str,
    api: Api,
    format: Format,
    text: &str,
    stream: bool,
    markers: usize,
) -> Workload {
    let messages = json!([{"role": "user", "content": text}]);
    let (model, argo_model) = match format {
        Format::GenAi => (GEMINI_MODEL, ARGO_GEMINI_MODEL),
        _ => (CHAT_MODEL, ARGO_CHAT_MODEL),
    };
    let (model, argo, upstream) = match api {
        Api::Resource => {
            let path = match stream {
                true => "/argoapi/api/v1/resource/streamchat/",
                false => "/argoapi/api/v1/resource/chat/",
            };
            let body = json!({"user": USER, "model": argo_model, "messages": messages});
            let upstream = if stream { "streamchat" } else { "chat" };
            (model, argo_job(path, body, markers), upstream)
        }
        // Argo serves GPT models on its own `/v1/responses`: the gateway passes the client's
        // body through, with Argo's model id and the user.
        Api::NativeOpenAi if format == Format::Responses => {
            let body = json!({"stream": stream, "store": false, "input": responses_input(text),
                "model": argo_model, "user": USER});
            let argo = native_responses_job(body, stream, markers);
            (model, argo, "responses")
        }
        Api::NativeOpenAi => {
            let mut body =
                json!({"user": USER, "model": argo_model, "messages": messages, "stream": stream});
            if stream {
                body["stream_options"] = json!({"include_usage": true});
            }
            (
                model,
                native_job(api, body, stream, markers),
                "chat_completions",
            )
        }
        Api::NativeAnthropic => {
            let body = json!({"model": ARGO_CLAUDE_MODEL, "max_tokens": CLAUDE_MAX_TOKENS,
                "messages": messages, "stream": stream});
            (
                CLAUDE_MODEL,
                native_job(api, body, stream, markers),
                "messages",
            )
        }
    };
    Workload {
        name,
        argo,
        client: client_job(format, model, text, stream, markers),
        native: api != Api::Resource,
        upstream,
    }
}

/// Chat in `format` with a scripted answer of `tokens` tokens, streamed at `pace_ms` per token
/// or not.
pub fn chat_in(
    name: &'static str,
    api: Api,
    format: Format,
    tokens: usize,
    stream: Option<u64>,
) -> Workload {
    let directive = json!({"reply": reply(tokens), "fragment_bytes": 8, "fragment_delay_ms": stream.unwrap_or(0)});
    chat_on(
        name,
        api,
        format,
        &user_text(directive),
        stream.is_some(),
        tokens,
    )
}

/// OpenAI chat with a scripted answer of `tokens` tokens, streamed at `pace_ms` per token or
/// not.
pub fn chat_with(name: &'static str, api: Api, tokens: usize, stream: Option<u64>) -> Workload {
    chat_in(name, api, Format::OpenAiChat, tokens, stream)
}

/// Chat on the resource API with a scripted answer of `tokens` tokens.
pub fn chat(name: &'static str, tokens: usize, stream: Option<u64>) -> Workload {
    chat_with(name, Api::Resource, tokens, stream)
}

/// Tokens of the wrk workloads' answers.
pub const WRK_TOKENS: usize = 4;

/// The wrk workloads: a short chat (a ~150-byte OpenAI body) answered with four tokens, as the
/// peers measured by wrk are asked.
pub fn wrk_chat(name: &'static str, api: Api, stream: bool) -> Workload {
    let directive = json!({"reply": reply(WRK_TOKENS)});
    let text = format!("Short benchmark question. #mock {directive}");
    chat_on(name, api, Format::OpenAiChat, &text, stream, WRK_TOKENS)
}

/// One text embedded into one 1536-float vector.
pub fn embeddings() -> Workload {
    let text = "The quick brown fox jumps over the lazy dog.";
    Workload {
        name: "embeddings",
        argo: argo_job(
            "/argoapi/api/v1/resource/embed/",
            json!({"user": USER, "model": ARGO_EMBED_MODEL, "prompt": [text]}),
            0,
        ),
        client: openai_job(
            "/v1/embeddings",
            json!({"model": EMBED_MODEL, "input": text}),
            0,
        ),
        native: false,
        upstream: "embed",
    }
}

pub const CHAT_TOKENS: usize = 25;
pub const STREAM_TOKENS: usize = 32;
pub const PACED_TOKENS: usize = 20;
/// Tokens and pause (ms) of a held stream: each stays open well past the time needed to open
/// them all.
const HOLD_TOKENS: usize = 120;
const HOLD_PACE_MS: u64 = 1000;

/// The workloads measured under closed-loop load, in order.
pub fn fast_workloads() -> Vec<Workload> {
    vec![
        chat("chat", CHAT_TOKENS, None),
        embeddings(),
        chat("stream", STREAM_TOKENS, Some(0)),
        chat_with("chat_native", Api::NativeOpenAi, CHAT_TOKENS, None),
        chat_with("stream_native", Api::NativeOpenAi, STREAM_TOKENS, Some(0)),
        chat_with(
            "stream_claude",
            Api::NativeAnthropic,
            STREAM_TOKENS,
            Some(0),
        ),
    ]
}

/// The other client formats on the native gateway, each streamed as its usual client asks
/// (Claude Code, Codex CLI, Gemini CLI all stream), measured at `format_concurrency`. Floor and
/// bare get the native Argo request the gateway makes of it.
pub fn format_workloads() -> Vec<Workload> {
    let stream = |name, api, format| chat_in(name, api, format, STREAM_TOKENS, Some(0));
    vec![
        // Claude's Anthropic SSE relayed to an Anthropic client (messages_passthrough).
        stream(
            "stream_messages_claude",
            Api::NativeAnthropic,
            Format::Messages,
        ),
        // Argo's own Responses events from /v1/responses, relayed (the pass-through).
        stream("stream_responses", Api::NativeOpenAi, Format::Responses),
        // A Gemini model's OpenAI chunks into Google's SSE.
        stream("stream_generate", Api::NativeOpenAi, Format::GenAi),
    ]
}

/// The client formats Argo speaks too, asked for one answer, at `format_concurrency`.
pub fn answer_workloads() -> Vec<Workload> {
    vec![
        unstreamed_claude("chat_messages_claude"),
        chat_in(
            "chat_responses",
            Api::NativeOpenAi,
            Format::Responses,
            CHAT_TOKENS,
            None,
        ),
    ]
}

/// An Anthropic client asking Claude for one answer. Argo refuses non-streaming Claude calls,
/// so the gateway streams the upstream leg and gathers it into one message: floor and bare are
/// sent that streaming request.
fn unstreamed_claude(name: &'static str) -> Workload {
    let directive =
        json!({"reply": reply(CHAT_TOKENS), "fragment_bytes": 8, "fragment_delay_ms": 0});
    let text = user_text(directive);
    let mut workload = chat_on(
        name,
        Api::NativeAnthropic,
        Format::Messages,
        &text,
        true,
        CHAT_TOKENS,
    );
    workload.client = client_job(Format::Messages, CLAUDE_MODEL, &text, false, CHAT_TOKENS);
    workload
}

/// The workloads wrk drives: chat and stream, on the resource and the native gateway.
pub fn wrk_workloads() -> Vec<Workload> {
    vec![
        wrk_chat("chat", Api::Resource, false),
        wrk_chat("stream", Api::Resource, true),
        wrk_chat("chat_native", Api::NativeOpenAi, false),
        wrk_chat("stream_native", Api::NativeOpenAi, true),
    ]
}

/// Runs everything the config selects, handing each record to `emit` as it completes.
pub async fn run(config: &SuiteConfig, emit: &mut dyn FnMut(Record)) {
    for target in MEMORY_TARGETS {
        if let Some(record) = idle_record(config, target) {
            emit(record);
        }
    }
    for workload in &fast_workloads() {
        for &concurrency in &config.concurrency {
            run_targets(config, workload, concurrency, emit).await;
        }
    }
    for workload in format_workloads().iter().chain(&answer_workloads()) {
        for &concurrency in &config.format_concurrency {
            run_targets(config, workload, concurrency, emit).await;
        }
    }
    let paced = chat("stream_paced", PACED_TOKENS, Some(config.pace_ms));
    for &concurrency in &config.paced_concurrency {
        run_targets(config, &paced, concurrency, emit).await;
    }
    if let Some(wrk) = &config.wrk {
        for workload in &wrk_workloads() {
            let targets: Vec<&str> = ["bare", "gateway"]
                .into_iter()
                .filter(|&t| config.selects("wrk", t) && workload.endpoint(t, config).is_some())
                .collect();
            let mut runs = vec![Vec::new(); targets.len()];
            // Alternating bare and gateway, so that a slow stretch of the machine hits both.
            for _ in 0..wrk.repeats {
                for (target, runs) in targets.iter().zip(&mut runs) {
                    runs.push(wrk_run(config, wrk, workload, target).await);
                }
            }
            for runs in runs {
                emit(median_run(runs));
            }
        }
    }
    if config.hold_streams > 0 {
        let held = chat("hold", HOLD_TOKENS, Some(HOLD_PACE_MS));
        for target in ["pingora", "bare", "gateway"] {
            if config.wants(&held, target) {
                emit(hold(config, &held, target).await);
            }
        }
        // Pingora alone and the bare proxy are measured once: a process that has held streams
        // keeps the memory, so a second run of the same process would show no growth.
        let held_native = chat_with(
            "hold_native",
            Api::NativeOpenAi,
            HOLD_TOKENS,
            Some(HOLD_PACE_MS),
        );
        for target in ["pingora", "bare", "gateway"] {
            let measured = target != "gateway" && config.wants(&held, target);
            if config.wants(&held_native, target) && !measured {
                emit(hold(config, &held_native, target).await);
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
        if config.wants(workload, target) {
            emit(load(config, workload, target, concurrency).await);
        }
    }
}

/// The mock's counters before a run, to check afterwards where its answers came from.
struct UpstreamCheck {
    mock: SocketAddr,
    before: Option<Counts>,
}

impl UpstreamCheck {
    async fn start(config: &SuiteConfig) -> Self {
        UpstreamCheck {
            mock: config.floor.addr,
            before: mock::endpoint_counts(config.floor.addr).await,
        }
    }

    async fn finish(self, workload: &Workload, answered: u64) -> Option<String> {
        let after = mock::endpoint_counts(self.mock).await?;
        mock::check(self.before.as_ref()?, &after, workload.upstream, answered)
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
    let pid = workload.endpoint(target, config).and_then(|e| e.pid);
    let mock_pid = config.floor.pid.filter(|_| target != "floor");
    let job = Arc::new(workload.job(target, config));
    let check = UpstreamCheck::start(config).await;
    let run = tokio::spawn(closed_loop(job, spec));
    tokio::time::sleep(config.warmup).await;
    let (cpu, mock_cpu) = (CpuWatch::start(pid), CpuWatch::start(mock_pid));
    let window = Instant::now();
    tokio::time::sleep(config.measure).await;
    let seconds = window.elapsed().as_secs_f64();
    let mut samples = run.await.unwrap_or_default();
    let rss = pid.and_then(procfs::rss_kib);
    let mismatch = check.finish(workload, samples.ok).await;
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
        error_sample: samples.first_error,
        mismatch,
        ..Record::default()
    }
}

/// The run of median req/s, carrying every run's req/s in order; a failed run when any
/// failed, so that its error is what the report shows.
fn median_run(mut runs: Vec<Record>) -> Record {
    let rps_runs: Vec<f64> = runs.iter().map(|run| run.rps).collect();
    if let Some(failed) = runs.iter().position(|run| run.failure().is_some()) {
        return runs.swap_remove(failed);
    }
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    let middle = runs.len() / 2;
    let mut median = runs.swap_remove(middle);
    median.rps_runs = (rps_runs.len() > 1).then_some(rps_runs);
    median
}

/// One wrk run (after a probe and a warm-up run): wrk's rate and percentiles, the target's CPU
/// per answer from /proc, the mock's counters checked like the load generator's.
async fn wrk_run(
    config: &SuiteConfig,
    wrk: &WrkConfig,
    workload: &Workload,
    target: &str,
) -> Record {
    let mut record = Record {
        kind: "wrk".into(),
        workload: workload.name.into(),
        target: target.into(),
        concurrency: wrk.connections,
        ..Record::default()
    };
    let job = workload.job(target, config);
    if let Err(why) = job.probe(Duration::from_secs(10)).await {
        record.errors = 1;
        record.error_sample = Some(format!("probe: {why}"));
        return record;
    }
    let name = format!("{}-{target}", workload.name);
    let warmup = config.warmup.as_secs_f64().ceil() as u64;
    let seconds = config.measure.as_secs_f64().ceil().max(1.0) as u64;
    let run_wrk = |seconds: u64| {
        let (wrk, job, name) = (wrk.clone(), job.clone(), name.clone());
        tokio::task::spawn_blocking(move || wrk::run(&wrk, &job, &name, seconds))
    };
    if warmup > 0 {
        let _ = run_wrk(warmup).await;
    }
    let pid = workload.endpoint(target, config).and_then(|e| e.pid);
    let mock_pid = config.floor.pid;
    let check = UpstreamCheck::start(config).await;
    let (cpu, mock_cpu) = (CpuWatch::start(pid), CpuWatch::start(mock_pid));
    let result = run_wrk(seconds)
        .await
        .map_err(|e| e.to_string())
        .and_then(|result| result);
    let result = match result {
        Ok(result) => result,
        Err(why) => {
            record.errors = 1;
            record.error_sample = Some(why);
            return record;
        }
    };
    let ok = result.requests.saturating_sub(result.non_2xx);
    record.seconds = result.seconds;
    record.ok = ok;
    record.errors = result.non_2xx + result.socket_errors;
    record.rps = match record.errors {
        0 => result.rps,
        _ if result.seconds > 0.0 => ok as f64 / result.seconds,
        _ => 0.0,
    };
    record.latency = result.latency;
    record.cpu_us_per_request = cpu.per_request(ok);
    record.mock_cpu_us_per_request = mock_cpu.per_request(ok);
    let rss = pid.and_then(procfs::rss_kib);
    record.rss_kib = rss.map(|(now, _)| now);
    record.peak_rss_kib = rss.map(|(_, peak)| peak);
    record.error_sample = if result.non_2xx > 0 {
        Some(format!("{} answers not 2xx", result.non_2xx))
    } else if result.socket_errors > 0 {
        Some(result.socket_detail.clone())
    } else {
        None
    };
    record.mismatch = check.finish(workload, ok).await;
    record
}

async fn hold(config: &SuiteConfig, workload: &Workload, target: &str) -> Record {
    let pid = workload.endpoint(target, config).and_then(|e| e.pid);
    let rss_before = pid.and_then(procfs::rss_kib).map(|(now, _)| now);
    let spec = HoldSpec {
        streams: config.hold_streams,
        ramp_per_second: 2_000,
        open_timeout: Duration::from_secs(60),
        settle: Duration::from_secs(2),
    };
    let job = Arc::new(workload.job(target, config));
    // Pingora alone answers by itself: the mock sees none of its streams.
    let check = match target {
        "pingora" => None,
        _ => Some(UpstreamCheck::start(config).await),
    };
    let (held, rss) = hold_streams(job, spec, || pid.and_then(procfs::rss_kib)).await;
    let mismatch = match check {
        Some(check) => check.finish(workload, held.open as u64).await,
        None => None,
    };
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
        mismatch,
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
        let openai = String::from_utf8(workload.client.request.bytes().to_vec()).unwrap();
        assert!(argo.starts_with("POST /argoapi/api/v1/resource/streamchat/ "));
        assert!(openai.starts_with("POST /v1/chat/completions "));
        assert!(openai.contains("Authorization: Bearer bench-token"));
        for request in [&argo, &openai] {
            assert!(request.contains("#mock"), "{request}");
            assert!(request.contains("Tq00004"), "{request}");
        }
        assert!(openai.contains("\"stream\":true"));
        assert_eq!(workload.client.markers, 4);
        assert_eq!((workload.native, workload.upstream), (false, "streamchat"));
    }

    fn text(job: &Job) -> String {
        String::from_utf8(job.request.bytes().to_vec()).unwrap()
    }

    #[test]
    fn native_floor_and_bare_requests_carry_the_native_credentials() {
        let gpt = chat_with("stream_native", Api::NativeOpenAi, 4, Some(0));
        let argo = text(&gpt.argo);
        assert!(
            argo.starts_with("POST /argoapi/v1/chat/completions "),
            "{argo}"
        );
        assert!(
            argo.contains("\r\nAuthorization: Bearer bench\r\n"),
            "{argo}"
        );
        assert!(argo.contains("\r\nAccept: text/event-stream\r\n"), "{argo}");
        assert!(argo.contains("\"user\":\"bench\""), "{argo}");
        assert!(argo.contains("\"include_usage\":true"), "{argo}");
        assert!(argo.contains("\"model\":\"gpt4o\""), "{argo}");
        assert!(text(&gpt.client).contains("Bearer bench-token"));
        assert_eq!((gpt.native, gpt.upstream), (true, "chat_completions"));

        let claude = chat_with("stream_claude", Api::NativeAnthropic, 4, Some(0));
        let argo = text(&claude.argo);
        assert!(argo.starts_with("POST /argoapi/v1/messages "), "{argo}");
        assert!(argo.contains("\r\nx-api-key: bench\r\n"), "{argo}");
        assert!(
            argo.contains("\r\nanthropic-version: 2023-06-01\r\n"),
            "{argo}"
        );
        assert!(argo.contains("\"max_tokens\":16384"), "{argo}");
        assert!(!argo.contains("Authorization"), "{argo}");
        let openai = text(&claude.client);
        assert!(
            openai.contains("\"model\":\"claude-sonnet-4.5\""),
            "{openai}"
        );
        assert_eq!(claude.upstream, "messages");

        let chat = chat_with("chat_native", Api::NativeOpenAi, 4, None);
        assert!(!text(&chat.argo).contains("Accept"));
        assert!(text(&chat.argo).contains("\"stream\":false"));
    }

    fn format(name: &str) -> Workload {
        format_workloads()
            .into_iter()
            .find(|workload| workload.name == name)
            .unwrap()
    }

    #[test]
    fn other_client_formats_ask_the_native_gateway_for_the_argo_answer_of_floor_and_bare() {
        let messages = format("stream_messages_claude");
        let (argo, client) = (text(&messages.argo), text(&messages.client));
        assert!(argo.starts_with("POST /argoapi/v1/messages "), "{argo}");
        assert!(argo.contains("\"stream\":true"), "{argo}");
        assert!(client.starts_with("POST /v1/messages "), "{client}");
        assert!(
            client.contains("\r\nx-api-key: bench-token\r\n"),
            "{client}"
        );
        assert!(
            client.contains("\r\nanthropic-version: 2023-06-01\r\n"),
            "{client}"
        );
        assert!(client.contains("\"max_tokens\":16384"), "{client}");
        assert!(
            client.contains("\"model\":\"claude-sonnet-4.5\""),
            "{client}"
        );
        assert_eq!(messages.upstream, "messages");

        let responses = format("stream_responses");
        let (argo, client) = (text(&responses.argo), text(&responses.client));
        assert!(argo.starts_with("POST /argoapi/v1/responses "), "{argo}");
        assert!(argo.contains("Bearer bench"), "{argo}");
        assert!(argo.contains("\"model\":\"gpt4o\""), "{argo}");
        assert!(client.starts_with("POST /v1/responses "), "{client}");
        assert!(client.contains("Bearer bench-token"), "{client}");
        assert!(client.contains("\"store\":false"), "{client}");
        assert!(client.contains("\"input_text\""), "{client}");
        assert_eq!(responses.upstream, "responses");
        assert_eq!(responses.argo.marker, RESPONSES_DELTA);

        let generate = format("stream_generate");
        let (argo, client) = (text(&generate.argo), text(&generate.client));
        assert!(
            argo.starts_with("POST /argoapi/v1/chat/completions "),
            "{argo}"
        );
        assert!(argo.contains("\"model\":\"gemini25flash\""), "{argo}");
        assert!(argo.contains("\"include_usage\":true"), "{argo}");
        assert!(
            client
                .starts_with("POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse "),
            "{client}"
        );
        assert!(
            client.contains("\r\nx-goog-api-key: bench-token\r\n"),
            "{client}"
        );
        assert!(client.contains("\"contents\""), "{client}");
        assert_eq!(generate.upstream, "chat_completions");

        for workload in format_workloads() {
            assert!(workload.native, "{}", workload.name);
            for job in [&workload.argo, &workload.client] {
                assert_eq!(job.markers, STREAM_TOKENS, "{}", workload.name);
                assert!(text(job).contains("Tq00032"), "{}", workload.name);
            }
        }
        assert_eq!(messages.argo.marker, MARKER);
        assert_eq!(generate.argo.marker, MARKER);
        assert_eq!(messages.client.marker, MARKER);
        assert_eq!(generate.client.marker, MARKER);
    }

    #[test]
    fn one_answer_from_claude_is_a_stream_upstream_and_responses_go_to_argos_responses() {
        let answers = answer_workloads();
        let [claude, responses] = [0, 1].map(|at| &answers[at]);
        let (argo, client) = (text(&claude.argo), text(&claude.client));
        assert!(argo.starts_with("POST /argoapi/v1/messages "), "{argo}");
        assert!(argo.contains("\"stream\":true"), "{argo}");
        assert!(argo.contains("\r\nAccept: text/event-stream\r\n"), "{argo}");
        assert!(client.starts_with("POST /v1/messages "), "{client}");
        assert!(client.contains("\"stream\":false"), "{client}");
        assert_eq!(claude.upstream, "messages");

        let (argo, client) = (text(&responses.argo), text(&responses.client));
        assert!(argo.starts_with("POST /argoapi/v1/responses "), "{argo}");
        assert!(argo.contains("\"stream\":false"), "{argo}");
        assert!(client.starts_with("POST /v1/responses "), "{client}");
        assert_eq!(responses.upstream, "responses");
        for workload in &answers {
            assert!(workload.native, "{}", workload.name);
            for job in [&workload.argo, &workload.client] {
                assert_eq!(
                    (job.markers, job.marker),
                    (CHAT_TOKENS, MARKER),
                    "{}",
                    workload.name
                );
                assert!(text(job).contains("Tq00025"), "{}", workload.name);
            }
        }
    }

    #[test]
    fn streamed_responses_count_each_token_once() {
        let responses = format("stream_responses");
        let events = [
            r#"data: {"type":"response.output_text.delta","sequence_number":4,"delta":"Tq00001 ","logprobs":[]}"#,
            r#"data: {"type":"response.output_text.delta","sequence_number":5,"delta":"Tq00002 ","logprobs":[]}"#,
            r#"data: {"type":"response.output_text.done","sequence_number":6,"text":"Tq00001 Tq00002 "}"#,
            r#"data: {"type":"response.completed","response":{"output":[{"content":[{"type":"output_text","text":"Tq00001 Tq00002 "}]}]}}"#,
        ]
        .join("\n\n");
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{events}",
            events.len()
        );
        let mut parser = crate::http::ResponseParser::new(responses.client.marker);
        let outcome = parser.feed(&mut answer.into_bytes()).unwrap().unwrap();
        assert_eq!(outcome.markers, 2);
        let whole = chat_in("responses", Api::NativeOpenAi, Format::Responses, 2, None);
        assert_eq!(
            whole.client.marker, MARKER,
            "a whole answer holds the text once"
        );
    }

    #[test]
    fn repeated_wrk_runs_report_the_median_or_a_failure() {
        let run = |rps: f64, ok: u64| Record {
            kind: "wrk".into(),
            rps,
            ok,
            errors: u64::from(ok == 0),
            ..Record::default()
        };
        let median = median_run(vec![run(300.0, 9), run(100.0, 9), run(200.0, 9)]);
        assert_eq!(median.rps, 200.0);
        assert_eq!(median.rps_runs, Some(vec![300.0, 100.0, 200.0]));
        let failed = median_run(vec![run(300.0, 9), run(0.0, 0), run(200.0, 9)]);
        assert!(failed.failure().is_some());
        assert_eq!(median_run(vec![run(5.0, 1)]).rps_runs, None);
    }

    #[test]
    fn wrk_bodies_are_short_chats() {
        for workload in wrk_workloads() {
            let length = workload.client.request.body().len();
            assert!(
                (130..=170).contains(&length),
                "{}: {length} bytes",
                workload.name
            );
            assert_eq!(workload.client.markers, WRK_TOKENS);
        }
    }

    fn endpoint(port: u16) -> Endpoint {
        Endpoint {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            pid: Some(u32::from(port)),
        }
    }

    #[test]
    fn native_workloads_go_to_the_native_gateway_and_need_it() {
        let mut config = SuiteConfig {
            floor: endpoint(1),
            bare: endpoint(2),
            gateway: endpoint(3),
            gateway_native: Some(endpoint(5)),
            pingora_alone: None,
            warmup: Duration::ZERO,
            measure: Duration::ZERO,
            concurrency: vec![1],
            format_concurrency: vec![1],
            paced_concurrency: vec![],
            pace_ms: 10,
            hold_streams: 0,
            wrk: None,
            workloads: vec![],
            targets: vec![],
        };
        let native = chat_with("chat_native", Api::NativeOpenAi, 1, None);
        let resource = chat("chat", 1, None);
        assert_eq!(native.job("gateway", &config).addr.port(), 5);
        assert_eq!(native.job("bare", &config).addr.port(), 2);
        assert_eq!(resource.job("gateway", &config).addr.port(), 3);
        config.gateway_native = None;
        assert!(!config.wants(&native, "gateway"));
        assert!(config.wants(&native, "floor"));
        assert!(config.wants(&resource, "gateway"));
    }

    #[test]
    fn a_row_fails_without_a_correct_answer_or_from_the_wrong_endpoint() {
        let mut record = Record {
            kind: "load".into(),
            errors: 3,
            error_sample: Some("status 502".into()),
            ..Record::default()
        };
        assert_eq!(
            record.failure().as_deref(),
            Some("every request failed: status 502")
        );
        record.ok = 10;
        assert_eq!(record.failure(), None);
        record.mismatch = Some("wrong Argo endpoint".into());
        assert_eq!(record.failure().as_deref(), Some("wrong Argo endpoint"));
        let hold = Record {
            kind: "hold".into(),
            held: Some(0),
            failed: Some(5),
            ..Record::default()
        };
        assert!(hold.failure().is_some());
    }
}
