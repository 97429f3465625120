//! Property tests over the parsers and translators: no input makes them panic, and the
//! streaming translators agree with their one-shot counterparts however input is split.
//!
//! CI runs the default case count; for a longer run:
//! `PROPTEST_CASES=200000 cargo test --release -p argo-filters --test fuzz`.

// Test code, helpers too: under #![cfg(test)] clippy.toml's allow-unwrap-in-tests and
// allow-expect-in-tests cover the whole file, not only #[test] functions (rust-clippy#11119).
#![cfg(test)]

use argo_filters::client::openai_chat;
use argo_filters::embeddings;
use argo_filters::hub::Usage;
use argo_filters::json::parse_request;
use argo_filters::models::{Family, Kind, ModelSpec, Sampling, ToolMode};
use argo_filters::openai::{ChatRequest, EncodingFormat, ResponseMeta};
use argo_filters::translate::StreamTranslation;
use argo_filters::upstream::passthrough;
use argo_filters::upstream::resource::embed;
use argo_filters::upstream::resource::prompt_tools::{
    extract, extract_with_max_block_bytes, repair_json, Piece, ToolScanner,
};
use argo_filters::upstream::resource::Endpoint;
use argo_filters::upstream::resource::{self, TextDecoder, ToolReplies};
use argo_filters::usage::Tokenizer;
use proptest::prelude::*;
use serde_json::{json, Value};

fn model(family: Family, tools: ToolMode) -> ModelSpec {
    ModelSpec {
        tools,
        sampling: Sampling::OneOf,
        max_tokens_cap: Some(21_000),
        ..ModelSpec::new("m", "m", family, Kind::Chat)
    }
}

fn meta() -> ResponseMeta {
    ResponseMeta {
        id: "chatcmpl-fuzz".into(),
        created: 1,
        model: "m".into(),
    }
}

/// Arbitrary JSON values, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("user")),
        Just(json!("assistant")),
        Just(json!("tool")),
        Just(json!("function")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("role".to_string()),
                    Just("content".to_string()),
                    Just("tool_calls".to_string()),
                    Just("function".to_string()),
                    Just("name".to_string()),
                    Just("arguments".to_string()),
                    Just("id".to_string()),
                    Just("type".to_string()),
                    Just("text".to_string()),
                    Just("tool_call_id".to_string()),
                    ".{0,6}".prop_map(String::from)
                ],
                inner,
                0..5
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Chat requests shaped enough to get past the first checks.
fn chat_request() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(json_value(), 1..5),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
    )
        .prop_map(|(messages, tools, tool_choice)| {
            let mut request = json!({"model": "m", "messages": messages});
            if let Some(tools) = tools {
                request["tools"] = tools;
            }
            if let Some(choice) = tool_choice {
                request["tool_choice"] = choice;
            }
            request
        })
}

/// Argo's `streamchat` text into OpenAI chunks, as the gateway translates it.
fn resource_stream(decoder: TextDecoder, include_usage: bool) -> StreamTranslation {
    StreamTranslation::new(decoder, openai_chat::encoder(&meta(), include_usage))
        .counting(|| 1, Tokenizer::O200kBase)
}

fn assert_valid_sse(sse: &[u8]) {
    let text = std::str::from_utf8(sse).expect("SSE output is UTF-8");
    for event in text.split("\n\n").filter(|event| !event.is_empty()) {
        let payload = event
            .strip_prefix("data: ")
            .expect("every event is a data line");
        assert!(
            payload == "[DONE]" || serde_json::from_str::<Value>(payload).is_ok(),
            "bad event {payload:?}"
        );
    }
}

proptest! {
    #[test]
    fn request_parsing_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_request::<ChatRequest>(&bytes);
    }

    #[test]
    fn rewriting_any_parsed_request_never_panics(request in chat_request()) {
        let body = request.to_string();
        if let Ok(client) = passthrough::read_request(body.as_bytes()) {
            if let Ok(conversation) = client.into_conversation() {
                for (family, tools) in [(Family::Openai, ToolMode::Native), (Family::Anthropic, ToolMode::Native), (Family::Google, ToolMode::Prompt)] {
                    for endpoint in [Endpoint::Chat, Endpoint::StreamChat] {
                        if let Ok(argo) = resource::request_body(&conversation, &model(family, tools), "user", endpoint) {
                            let argo: Value = serde_json::from_slice(&argo).unwrap();
                            prop_assert!(argo.get("parallel_tool_calls").is_none());
                            prop_assert!(argo.get("temperature").is_none() || argo.get("top_p").is_none());
                            if family != Family::Openai {
                                prop_assert_eq!(argo["messages"].as_array().and_then(|m| m.last()).map(|m| &m["role"]), Some(&json!("user")));
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn answer_parsing_never_panics(response in json_value(), raw in prop::collection::vec(any::<u8>(), 0..256)) {
        let prompt = ToolReplies::Prompt { names: vec!["f".into()] };
        let body = json!({"response": response}).to_string();
        for tools in [&ToolReplies::None, &ToolReplies::Native, &prompt] {
            if let Ok(answer) = resource::read_answer(body.as_bytes(), tools, "chatcmpl-x") {
                let usage = Usage::new(1, answer.completion_tokens(Tokenizer::O200kBase));
                let rendered: Value = serde_json::from_slice(&openai_chat::answer_json(&answer, &meta(), &usage)).unwrap();
                prop_assert_eq!(&rendered["object"], "chat.completion");
                let calls = rendered["choices"][0]["message"]["tool_calls"].as_array().cloned().unwrap_or_default();
                prop_assert_eq!(calls.len(), answer.tool_calls().count());
                for call in &calls {
                    prop_assert!(call["function"]["arguments"].is_string());
                }
            }
            let _ = resource::read_answer(&raw, tools, "chatcmpl-x");
        }
    }

    #[test]
    fn embedding_translation_never_panics(raw in prop::collection::vec(any::<u8>(), 0..256), vectors in json_value()) {
        for format in [EncodingFormat::Float, EncodingFormat::Base64] {
            let output = embeddings::Output { model: "m", format, dimensions: Some(2), expected_vectors: 1, prompt_tokens: 1 };
            let _ = embed::translate(&raw, &output);
            let batch = json!({"embedding": vectors}).to_string();
            let _ = embed::translate_batches(&[batch.as_bytes(), &raw[..]], &output);
        }
    }

    #[test]
    fn streams_of_any_bytes_give_valid_sse(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 0..16), scan in any::<bool>()) {
        let decoder = if scan {
            TextDecoder::with_tool_scanner(ToolScanner::new(vec!["f".into()], "chatcmpl-x"))
        } else {
            TextDecoder::new()
        };
        let mut stream = resource_stream(decoder, true);
        let mut sse = stream.start();
        for chunk in &chunks {
            stream.feed_into(&mut sse, chunk).unwrap();
        }
        sse.extend(stream.finish().unwrap());
        assert_valid_sse(&sse);
        prop_assert!(sse.ends_with(b"data: [DONE]\n\n"));
    }

    #[test]
    fn streamed_text_equals_the_input_however_it_is_split(text in "\\PC{0,40}", cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let bytes = text.as_bytes();
        let mut points: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut stream = resource_stream(TextDecoder::new(), false);
        let mut sse = Vec::new();
        let mut start = 0;
        for point in points.into_iter().chain([bytes.len()]) {
            stream.feed_into(&mut sse, &bytes[start..point]).unwrap();
            start = point;
        }
        sse.extend(stream.finish().unwrap());
        let content: String = String::from_utf8(sse).unwrap().split("\n\n")
            .filter_map(|event| serde_json::from_str::<Value>(event.strip_prefix("data: ")?).ok())
            .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str().map(str::to_string))
            .collect();
        prop_assert_eq!(content, text);
    }

    #[test]
    fn tool_scanning_is_split_invariant(
        parts in prop::collection::vec(prop_oneof![
            "\\PC{0,8}".prop_map(String::from),
            Just("<tool_call>".to_string()),
            Just("</tool_call>".to_string()),
            Just("<tool".to_string()),
            Just(r#"{"name":"f","arguments":{"a":1}}"#.to_string()),
            Just(r#"{"name":"g"}"#.to_string()),
            Just("```".to_string()),
        ], 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let text: String = parts.concat();
        let names = vec!["f".to_string()];
        let (whole_content, whole_calls) = extract(&text, names.clone(), "chatcmpl-x");
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let mut scanner = ToolScanner::new(names, "chatcmpl-x");
        let mut pieces = scanner.push(&text[..at]);
        pieces.extend(scanner.push(&text[at..]));
        pieces.extend(scanner.finish());
        let calls: Vec<Value> = pieces.iter().filter_map(|p| match p { Piece::Call(call) => Some(call.clone()), Piece::Text(_) => None }).collect();
        prop_assert_eq!(calls, whole_calls.clone());
        if whole_calls.is_empty() {
            let content: String = pieces.iter().filter_map(|p| match p { Piece::Text(text) => Some(text.as_str()), Piece::Call(_) => None }).collect();
            prop_assert_eq!(Some(content).filter(|c| !c.is_empty()), whole_content);
        }
    }

    #[test]
    fn capped_tool_scanning_is_split_invariant(
        parts in prop::collection::vec(scanner_part(), 0..10),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        cap in 0usize..48,
    ) {
        let text: String = parts.concat();
        let names = vec!["f".to_string()];
        let whole = extract_with_max_block_bytes(&text, names.clone(), "chatcmpl-x", cap);
        let mut scanner = ToolScanner::new(names, "chatcmpl-x").with_max_block_bytes(cap);
        let pieces = scan_split(&mut scanner, &text, &cuts);
        prop_assert_eq!(calls_of(&pieces), whole.1.clone());
        if whole.1.is_empty() {
            prop_assert_eq!(Some(text_of(&pieces)).filter(|c| !c.is_empty()), whole.0);
        }
    }

    /// Blocks naming no declared tool stay text: the client gets exactly what the model
    /// wrote, whatever the split and whether or not blocks outgrow the cap.
    #[test]
    fn text_without_valid_calls_is_released_whole_and_in_order(
        parts in prop::collection::vec(scanner_part(), 0..10),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        cap in prop_oneof![0usize..48, Just(usize::MAX)],
    ) {
        let text: String = parts.concat();
        let mut scanner = ToolScanner::new(vec!["undeclared".into()], "chatcmpl-x").with_max_block_bytes(cap);
        let pieces = scan_split(&mut scanner, &text, &cuts);
        prop_assert!(calls_of(&pieces).is_empty());
        prop_assert_eq!(text_of(&pieces), text);
    }

    #[test]
    fn json_repair_never_panics_and_keeps_valid_json_valid(text in "\\PC{0,60}", value in json_value()) {
        let _ = repair_json(&text);
        let valid = value.to_string();
        prop_assert_eq!(serde_json::from_str::<Value>(&repair_json(&valid)).ok(), Some(value));
    }
}

/// Fragments of model text that exercise the tool scanner: tags, partial tags, calls and
/// multi-byte text.
fn scanner_part() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,8}".prop_map(String::from),
        "[xé ]{0,40}".prop_map(String::from),
        Just("<tool_call>".to_string()),
        Just("</tool_call>".to_string()),
        Just("<tool".to_string()),
        Just("</tool_".to_string()),
        Just(r#"{"name":"f","arguments":{"a":1}}"#.to_string()),
        Just(r#"{"name":"g"}"#.to_string()),
    ]
}

/// `text` pushed in pieces cut at `cuts` (moved back to character boundaries), then finished.
fn scan_split(scanner: &mut ToolScanner, text: &str, cuts: &[prop::sample::Index]) -> Vec<Piece> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|cut| {
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        })
        .collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points.into_iter().chain([text.len()]) {
        pieces.extend(scanner.push(&text[start..point]));
        start = point;
    }
    pieces.extend(scanner.finish());
    pieces
}

fn calls_of(pieces: &[Piece]) -> Vec<Value> {
    pieces
        .iter()
        .filter_map(|piece| match piece {
            Piece::Call(call) => Some(call.clone()),
            Piece::Text(_) => None,
        })
        .collect()
}

fn text_of(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .filter_map(|piece| match piece {
            Piece::Text(text) => Some(text.as_str()),
            Piece::Call(_) => None,
        })
        .collect()
}
