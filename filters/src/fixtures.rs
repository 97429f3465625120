//! Test fixtures shared by the spokes' tests: streams shaped as Argo sends them, and helpers to
//! feed decoders and translations in pieces and to read SSE output back.

use proptest::prelude::*;
use serde_json::Value;

use crate::hub::Event;
use crate::models::{Family, Kind, ModelSpec, Sampling, Thinking};
use crate::openai::ResponseMeta;
use crate::translate::{Decoder, StreamTranslation};

/// Claude's stream on Argo's `/v1/messages`: thinking, text, a tool call (with the empty first
/// delta Anthropic sends), a ping, usage with a cache read; CRLF line ends in part.
pub const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\r\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_vrtx_01KH6svrvUzuvJBHh1DF1Hf5\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-6\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":100,\"output_tokens\":2}}}\r\n",
    "\r\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"The user wants the weather.\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EvUBCl0IDRACGAIqQFpN\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\n",
    "data: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Let me check \\\"Paris\\\" \u{1F326}\u{FE0F}\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\" for you.\"}}\n\n",
    ": keep-alive\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_vrtx_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"Paris\\\"}\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n",
    "event: message_stop\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

/// Argo's OpenAI-compatible stream (Azure-backed): the prompt-filter chunk with empty choices,
/// the role chunk, text, a tool call in pieces, the finish chunk, the usage chunk the gateway
/// asked for, then `[DONE]`.
pub const OPENAI_STREAM: &str = concat!(
    "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n",
    "data: {\"id\":\"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE\",\"object\":\"chat.completion.chunk\",\"created\":1779381799,\"model\":\"gpt-4o-2024-11-20\",\"system_fingerprint\":\"fp_ee1d74bde0\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE\",\"object\":\"chat.completion.chunk\",\"created\":1779381799,\"model\":\"gpt-4o-2024-11-20\",\"system_fingerprint\":\"fp_ee1d74bde0\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Pong! \u{1F60A} \\\"quoted\\\"\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE\",\"object\":\"chat.completion.chunk\",\"created\":1779381799,\"model\":\"gpt-4o-2024-11-20\",\"system_fingerprint\":\"fp_ee1d74bde0\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_y0po4Ztyj41x7Led1gGoTCs1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE\",\"object\":\"chat.completion.chunk\",\"created\":1779381799,\"model\":\"gpt-4o-2024-11-20\",\"system_fingerprint\":\"fp_ee1d74bde0\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE\",\"object\":\"chat.completion.chunk\",\"created\":1779381799,\"model\":\"gpt-4o-2024-11-20\",\"system_fingerprint\":\"fp_ee1d74bde0\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE\",\"object\":\"chat.completion.chunk\",\"created\":1779381799,\"model\":\"gpt-4o-2024-11-20\",\"system_fingerprint\":\"fp_ee1d74bde0\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"chatcmpl-Di0kgsx0a5t8Idr00p6QvaaBA5eiE\",\"object\":\"chat.completion.chunk\",\"created\":1779381799,\"model\":\"gpt-4o-2024-11-20\",\"system_fingerprint\":\"fp_ee1d74bde0\",\"choices\":[],\"usage\":{\"prompt_tokens\":175,\"completion_tokens\":16,\"total_tokens\":191,\"prompt_tokens_details\":{\"cached_tokens\":128,\"audio_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n",
    "data: [DONE]\n\n",
);

/// Argo's notice, as the first text of a stream.
pub const NOTICE: &str =
    "⚠️ **IMPORTANT AUTHENTICATION NOTICE FROM ARGO** ⚠️ Your username is not registered.";

pub fn meta() -> ResponseMeta {
    ResponseMeta {
        id: "chatcmpl-gw123".into(),
        created: 1_700_000_000,
        model: "claude-sonnet-4.6".into(),
    }
}

pub fn claude() -> ModelSpec {
    ModelSpec {
        sampling: Sampling::OneOf,
        max_tokens_cap: Some(21_000),
        default_max_tokens: Some(16_384),
        thinking: Thinking::Both,
        efforts: vec!["low".into(), "medium".into(), "high".into()],
        ..ModelSpec::new(
            "claude-sonnet-4.6",
            "claudesonnet46",
            Family::Anthropic,
            Kind::Chat,
        )
    }
}

pub fn gpt() -> ModelSpec {
    ModelSpec::new("gpt-4o", "gpt4o", Family::Openai, Kind::Chat)
}

/// Every event `decoder` gives for `pieces` fed in turn, then finished.
pub fn decode(mut decoder: impl Decoder, pieces: &[&[u8]]) -> Vec<Event> {
    let mut events = Vec::new();
    for piece in pieces {
        decoder.feed(piece, &mut events);
    }
    decoder.finish(&mut events);
    events
}

/// Every byte the client gets from `translation` for `pieces` fed in turn, the upstream then
/// ending normally.
pub fn relay(translation: &mut StreamTranslation, pieces: &[&[u8]]) -> Vec<u8> {
    let mut out = translation.start();
    for piece in pieces {
        translation.feed_into(&mut out, piece).unwrap();
    }
    out.extend(translation.finish().unwrap());
    out
}

/// `bytes` cut at `cuts` (sorted, any positions).
pub fn split<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points.into_iter().chain([bytes.len()]) {
        pieces.push(&bytes[start..point]);
        start = point;
    }
    pieces
}

/// Checks that `make()`'s decoder gives the same events for `stream` split at every byte
/// position as fed whole.
pub fn assert_split_invariant<D: Decoder>(make: impl Fn() -> D, stream: &[u8]) {
    let whole = decode(make(), &[stream]);
    for at in 0..=stream.len() {
        assert_eq!(
            decode(make(), &[&stream[..at], &stream[at..]]),
            whole,
            "split at {at}"
        );
    }
}

/// The `data:` payloads of SSE output, JSON ones parsed (`[DONE]` as a string).
pub fn sse_payloads(sse: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(sse).expect("SSE output is UTF-8");
    assert!(
        text.is_empty() || text.ends_with("\n\n"),
        "events end with a blank line: {text:?}"
    );
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let payload = event.strip_prefix("data: ").expect("a data line");
            if payload == "[DONE]" {
                Value::String(payload.into())
            } else {
                serde_json::from_str(payload).unwrap_or_else(|e| panic!("{e}: {payload}"))
            }
        })
        .collect()
}

/// The text an OpenAI chunk stream carries, and its reasoning.
pub fn streamed_text(payloads: &[Value]) -> (String, String) {
    let field = |name: &str| {
        payloads
            .iter()
            .filter_map(|chunk| chunk["choices"][0]["delta"][name].as_str())
            .collect::<String>()
    };
    (field("content"), field("reasoning_content"))
}

/// Canonical event sequences as decoders produce them: calls begin in order, arguments
/// only for begun calls.
pub fn canonical_events() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((0u8..5, "\\PC{0,6}", any::<prop::sample::Index>()), 0..24).prop_map(
        |steps| {
            let mut events = Vec::new();
            let mut calls = 0;
            for (kind, text, pick) in steps {
                events.push(match kind {
                    0 => Event::TextDelta(text),
                    1 => Event::ThinkingDelta(text),
                    2 => {
                        calls += 1;
                        Event::ToolCallStart {
                            index: calls - 1,
                            id: format!("call_{calls}"),
                            name: format!("f{text}"),
                        }
                    }
                    3 if calls > 0 => Event::ToolCallArguments {
                        index: pick.index(calls),
                        fragment: text,
                    },
                    _ => Event::ThinkingSignature(text),
                });
            }
            events
        },
    )
}
