//! Microbenchmarks of the per-request work in `argo-filters`, by message size:
//! request rewrite (OpenAI -> Argo), response translation (Argo -> OpenAI), stream fragment
//! translation (Argo text fragment -> SSE event), prompt-mode tool scanning, embeddings, and on
//! Argo's native endpoints: Claude's SSE -> OpenAI chunks, the OpenAI SSE pass-through, the
//! other client formats' streams (Claude's SSE -> Anthropic events, OpenAI chunks -> Responses
//! events and Google SSE), and an OpenAI request -> an Anthropic request.
//! `cargo bench -p argo-filters`.

#![expect(
    clippy::unwrap_used,
    reason = "benchmark set-up, like a test's: a fixture that fails to build panics with its message"
)]

use std::hint::black_box;

use argo_filters::client::google_genai::{self, Framing};
use argo_filters::client::openai_responses::{self, ClientTools};
use argo_filters::client::{anthropic_messages, openai_chat};
use argo_filters::embeddings::Output;
use argo_filters::hub::Usage;
use argo_filters::models::{Family, Kind, ModelSpec};
use argo_filters::openai::{EncodingFormat, ResponseMeta};
use argo_filters::translate::StreamTranslation;
use argo_filters::upstream::resource::embed;
use argo_filters::upstream::resource::prompt_tools::{ToolScanner, OPEN};
use argo_filters::upstream::resource::{self, TextDecoder, ToolReplies};
use argo_filters::upstream::{anthropic, openai_native, passthrough};
use argo_filters::usage::Tokenizer;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

fn model(kind: Kind) -> ModelSpec {
    ModelSpec {
        dimensions: Some(1536),
        ..ModelSpec::new("gpt-4o", "gpt4o", Family::Openai, kind)
    }
}

fn meta() -> ResponseMeta {
    ResponseMeta {
        id: "chatcmpl-0123456789abcdef01234567".into(),
        created: 1_700_000_000,
        model: "gpt-4o".into(),
    }
}

/// English-like text with a quote and a newline now and then, so escaping is exercised.
fn text(bytes: usize) -> String {
    let sentence = "The gateway translates \"requests\" and answers.\n";
    sentence.repeat(bytes / sentence.len() + 1)[..bytes].to_string()
}

/// A chat request whose user message is `bytes` long, after a short system prompt.
fn chat_body(bytes: usize) -> Vec<u8> {
    json!({
        "model": "gpt-4o",
        "temperature": 0.2,
        "max_tokens": 512,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": text(bytes)},
        ],
    })
    .to_string()
    .into_bytes()
}

/// What the gateway does with a chat request for a resource model before calling Argo: the
/// client's body read and validated into a conversation, Argo's body for the endpoint it picks,
/// and the prompt's tokens.
fn request_rewrite(c: &mut Criterion) {
    let model = model(Kind::Chat);
    let mut group = c.benchmark_group("request_rewrite");
    for size in SIZES {
        let body = chat_body(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| {
                let conversation = passthrough::read_request(black_box(body))
                    .unwrap()
                    .into_conversation()
                    .unwrap();
                let endpoint = resource::endpoint(&conversation, &model);
                let argo =
                    resource::request_body(&conversation, &model, "alice", endpoint).unwrap();
                let prompt_tokens = conversation.prompt_tokens(model.tokenizer());
                black_box((argo, prompt_tokens))
            })
        });
    }
    group.finish();
}

/// Argo's answer -> `chat.completion`.
fn response_translation(c: &mut Criterion) {
    let meta = meta();
    let tokenizer = model(Kind::Chat).tokenizer();
    let mut group = c.benchmark_group("response_translation");
    for size in SIZES {
        let body = json!({ "response": text(size) }).to_string().into_bytes();
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| {
                let answer =
                    resource::read_answer(black_box(body), &ToolReplies::Native, &meta.id).unwrap();
                let usage = Usage::new(42, answer.completion_tokens(tokenizer));
                black_box(openai_chat::answer_json(&answer, &meta, &usage))
            })
        });
    }
    group.finish();
}

/// Argo's `streamchat` text into OpenAI chunks, as the gateway translates it.
fn resource_stream(decoder: TextDecoder) -> StreamTranslation {
    StreamTranslation::new(decoder, openai_chat::encoder(&meta(), false))
        .counting(|| 10, Tokenizer::O200kBase)
}

/// One streamed fragment -> its SSE event, per fragment size.
fn stream_fragment(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream_fragment");
    for size in [8, 64, 512, 4096] {
        let fragment = text(size).into_bytes();
        let mut stream = resource_stream(TextDecoder::new());
        stream.start();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(size),
            &fragment,
            |b, fragment| {
                b.iter(|| {
                    let mut events = Vec::new();
                    stream.feed_into(&mut events, black_box(fragment)).unwrap();
                    black_box(events)
                })
            },
        );
    }
    group.finish();
}

/// A Gemini answer that opens `<tool_call>` and never closes it, streamed in 64-byte
/// fragments: the worst case for the tool scanner, which must stay linear in the answer.
fn tool_scanner_unclosed_block(c: &mut Criterion) {
    let mut group = c.benchmark_group("tool_scanner");
    let size = 1 << 20;
    let answer = format!("{OPEN}{}", text(size));
    group.throughput(Throughput::Bytes(answer.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("unclosed_block_64B_fragments", size),
        &answer,
        |b, answer| {
            b.iter(|| {
                let scanner = ToolScanner::new(vec!["get_weather".into()], "chatcmpl-bench");
                let mut stream = resource_stream(TextDecoder::with_tool_scanner(scanner));
                let mut sse = stream.start();
                for fragment in answer.as_bytes().chunks(64) {
                    stream.feed_into(&mut sse, black_box(fragment)).unwrap();
                }
                sse.extend(stream.finish().unwrap());
                black_box(sse)
            })
        },
    );
    group.finish();
}

/// Argo's vectors -> OpenAI's embedding list, for one to 64 vectors of 1536 floats.
fn embeddings_translation(c: &mut Criterion) {
    let mut group = c.benchmark_group("embeddings");
    for vectors in [1, 16, 64] {
        let vector: Vec<f32> = (0..1536).map(|i| (i as f32 * 0.37).sin() / 39.2).collect();
        let answer = json!({ "embedding": vec![vector; vectors] })
            .to_string()
            .into_bytes();
        group.throughput(Throughput::Bytes(answer.len() as u64));
        for (name, format) in [
            ("float", EncodingFormat::Float),
            ("base64", EncodingFormat::Base64),
        ] {
            let output = Output {
                model: "text-embedding-3-small",
                format,
                dimensions: None,
                expected_vectors: vectors,
                prompt_tokens: 10,
            };
            group.bench_with_input(BenchmarkId::new(name, vectors), &answer, |b, answer| {
                b.iter(|| black_box(embed::translate(black_box(answer), &output).unwrap()))
            });
        }
    }
    group.finish();
}

fn claude() -> ModelSpec {
    ModelSpec {
        default_max_tokens: Some(16_384),
        ..ModelSpec::new(
            "claude-sonnet-4.6",
            "claudesonnet46",
            Family::Anthropic,
            Kind::Chat,
        )
    }
}

/// Claude's answer of `bytes` as Argo's `/v1/messages` streams it, in deltas of about 24 bytes
/// (Claude's usual size).
fn anthropic_stream(bytes: usize) -> Vec<u8> {
    let mut stream = String::from(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_vrtx_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-6\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":472,\"output_tokens\":2}}}\n\n\
         event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    );
    let answer = text(bytes);
    let mut rest = answer.as_str();
    while !rest.is_empty() {
        let (delta, tail) = rest.split_at(rest.len().min(24));
        rest = tail;
        let data = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": delta}});
        stream.push_str(&format!("event: content_block_delta\ndata: {data}\n\n"));
    }
    stream.push_str(
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
         event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n\
         event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    stream.into_bytes()
}

/// An answer of `bytes` as Argo's `/v1/chat/completions` streams it (deltas of about 16 bytes,
/// usage last).
fn openai_stream(bytes: usize) -> Vec<u8> {
    let head = r#""id":"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE","object":"chat.completion.chunk","created":1779381799,"model":"gpt-4o-2024-11-20","system_fingerprint":"fp_ee1d74bde0""#;
    let mut stream = format!(
        "data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
    );
    let answer = text(bytes);
    let mut rest = answer.as_str();
    while !rest.is_empty() {
        let (delta, tail) = rest.split_at(rest.len().min(16));
        rest = tail;
        let content = json!(delta);
        stream.push_str(&format!(
            "data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{content}}},\"logprobs\":null,\"finish_reason\":null}}],\"usage\":null}}\n\n"
        ));
    }
    stream.push_str(&format!(
        "data: {{{head},\"choices\":[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}],\"usage\":null}}\n\n\
         data: {{{head},\"choices\":[],\"usage\":{{\"prompt_tokens\":175,\"completion_tokens\":16,\"total_tokens\":191}}}}\n\ndata: [DONE]\n\n"
    ));
    stream.into_bytes()
}

/// Feeds `stream` in network-sized pieces; the bytes the client gets.
fn relay(mut translation: StreamTranslation, stream: &[u8]) -> Vec<u8> {
    let mut out = translation.start();
    for piece in stream.chunks(1400) {
        translation.feed_into(&mut out, black_box(piece)).unwrap();
    }
    out.extend(translation.finish().unwrap());
    out
}

/// A whole streamed answer from Argo's native endpoints to an OpenAI client, by answer size:
/// Claude's SSE through the hub, and OpenAI's SSE passed through; then the other client
/// formats at one size.
fn native_streams(c: &mut Criterion) {
    let mut group = c.benchmark_group("native_stream");
    for size in [1_000, 10_000, 100_000] {
        let stream = anthropic_stream(size);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("anthropic_to_openai", size),
            &stream,
            |b, stream| {
                b.iter(|| {
                    let translation = StreamTranslation::new(
                        anthropic::SseDecoder::new(),
                        openai_chat::encoder(&meta(), true),
                    );
                    black_box(relay(translation, stream))
                })
            },
        );
        let stream = openai_stream(size);
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("openai_passthrough", size),
            &stream,
            |b, stream| b.iter(|| black_box(relay(passthrough::stream(&meta(), false), stream))),
        );
    }
    // The other client formats, at one size (each adds a few seconds to bench/run.sh): Claude's
    // SSE back into Anthropic events (Claude Code), OpenAI chunks into Responses events (Codex
    // CLI) and into Google's SSE (Gemini CLI).
    let size = 10_000;
    let stream = anthropic_stream(size);
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("anthropic_to_anthropic", size),
        &stream,
        |b, stream| {
            b.iter(|| {
                let translation = StreamTranslation::new(
                    anthropic::SseDecoder::new(),
                    anthropic_messages::encoder(&meta()),
                );
                black_box(relay(translation, stream))
            })
        },
    );
    let stream = openai_stream(size);
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("openai_to_responses", size),
        &stream,
        |b, stream| {
            b.iter(|| {
                let translation = StreamTranslation::new(
                    openai_native::SseDecoder::new(),
                    openai_responses::encoder(&meta(), &ClientTools::default()),
                );
                black_box(relay(translation, stream))
            })
        },
    );
    group.bench_with_input(
        BenchmarkId::new("openai_to_google", size),
        &stream,
        |b, stream| {
            b.iter(|| {
                let translation = StreamTranslation::new(
                    openai_native::SseDecoder::new(),
                    google_genai::encoder(&meta(), Framing::Sse),
                );
                black_box(relay(translation, stream))
            })
        },
    );
    group.finish();
}

/// An OpenAI chat request -> Argo's Anthropic request, by message size.
fn request_to_anthropic(c: &mut Criterion) {
    let model = claude();
    let mut group = c.benchmark_group("request_to_anthropic");
    for size in SIZES {
        let body = chat_body(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &body, |b, body| {
            b.iter(|| {
                let (conversation, _) = openai_chat::read_request(black_box(body)).unwrap();
                black_box(anthropic::request_body(&conversation, &model, "alice", true).unwrap())
            })
        });
    }
    group.finish();
}

/// Counting a completion's tokens with OpenAI's BPE: English-like text whose words recur, and
/// text of made-up words never seen before (each iteration counts the next slice of a long
/// text), where the tokenizer's memory of pieces cannot help.
fn token_count(c: &mut Criterion) {
    let mut group = c.benchmark_group("token_count");
    for size in [200, 2_000] {
        let english = text(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("english", size), &english, |b, text| {
            b.iter(|| black_box(Tokenizer::O200kBase.count(black_box(text))))
        });
        let unseen = made_up_words(4 << 20);
        let mut at = 0;
        group.bench_function(BenchmarkId::new("unseen", size), |b| {
            b.iter(|| {
                if at + size > unseen.len() {
                    at = 0;
                }
                let slice = &unseen[at..at + size];
                at += size;
                black_box(Tokenizer::O200kBase.count(black_box(slice)))
            })
        });
    }
    group.finish();
}

/// `bytes` of lowercase words of 3 to 9 letters drawn by a fixed linear congruential
/// generator: almost every word occurs once.
fn made_up_words(bytes: usize) -> String {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) as u8
    };
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        text.push(' ');
        for _ in 0..3 + next() % 7 {
            text.push(char::from(b'a' + next() % 26));
        }
    }
    text
}

criterion_group!(
    benches,
    token_count,
    request_rewrite,
    response_translation,
    stream_fragment,
    tool_scanner_unclosed_block,
    embeddings_translation,
    native_streams,
    request_to_anthropic
);
criterion_main!(benches);
