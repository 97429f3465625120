//! The OpenAI Responses spoke paired with the upstreams: its requests as Argo gets them,
//! Argo's streams as Responses events.

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::client::openai_responses::tests::{
    check_stream, custom, input_schema, meta, no_custom, read, read_custom, LARK, PATCH,
};
use crate::client::openai_responses::*;
use crate::fixtures::{self, split, ANTHROPIC_STREAM, OPENAI_STREAM};
use crate::translate::{Decoder, StreamTranslation};
use crate::upstream::{anthropic, openai_native, resource};

/// The hub's `response_format` reaches Argo's OpenAI endpoint only.
#[test]
fn the_response_format_goes_up_to_openai_and_not_to_anthropic() {
    let conversation = read(json!({"model": "gpt-5", "input": "hi",
        "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}}}));
    let openai: Value = serde_json::from_slice(
        &openai_native::request_body(&conversation, &fixtures::gpt(), "alice").unwrap(),
    )
    .unwrap();
    assert_eq!(
        openai["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}})
    );
    let claude: Value = serde_json::from_slice(
        &anthropic::request_body(&conversation, &fixtures::claude(), "alice", false).unwrap(),
    )
    .unwrap();
    assert!(claude.get("response_format").is_none());
    let plain = read(json!({"model": "gpt-5", "input": "hi"}));
    let openai: Value = serde_json::from_slice(
        &openai_native::request_body(&plain, &fixtures::gpt(), "alice").unwrap(),
    )
    .unwrap();
    assert!(openai.get("response_format").is_none());
}
/// What reaches the model: a function on Argo's OpenAI endpoint, a tool on Claude's.
#[test]
fn the_model_sees_a_custom_tool_as_a_function_with_one_string_input() {
    let (conversation, _) = read_custom(json!({"model": "gpt-5", "input": "hi",
        "tools": [{"type": "custom", "name": "apply_patch", "description": "Edits files.",
            "format": {"type": "grammar", "syntax": "lark", "definition": LARK}}]}));
    let description = format!("Edits files.\n\n`input` must match this Lark grammar:\n{LARK}");
    let openai: Value = serde_json::from_slice(
        &openai_native::request_body(&conversation, &fixtures::gpt(), "alice").unwrap(),
    )
    .unwrap();
    assert_eq!(
        openai["tools"],
        json!([{"type": "function", "function": {"name": "apply_patch",
            "description": description, "parameters": input_schema()}}])
    );
    let claude: Value = serde_json::from_slice(
        &anthropic::request_body(&conversation, &fixtures::claude(), "alice", false).unwrap(),
    )
    .unwrap();
    assert_eq!(claude["tools"][0]["name"], "apply_patch");
    assert_eq!(claude["tools"][0]["description"], description.as_str());
    assert_eq!(claude["tools"][0]["input_schema"], input_schema());
}

fn translate(decoder: impl Decoder + 'static, pieces: &[&[u8]]) -> Vec<u8> {
    translate_custom(decoder, &no_custom(), pieces)
}
fn translate_custom(
    decoder: impl Decoder + 'static,
    custom_tools: &ClientTools,
    pieces: &[&[u8]],
) -> Vec<u8> {
    fixtures::relay(
        &mut StreamTranslation::new(decoder, encoder(&meta(), custom_tools)),
        pieces,
    )
}
#[test]
fn claudes_stream_becomes_responses_events() {
    let told = check_stream(&translate(
        anthropic::SseDecoder::new(),
        &[ANTHROPIC_STREAM.as_bytes()],
    ));
    assert_eq!(told.events.last().unwrap()["type"], "response.completed");
    assert_eq!(
        told.response["output"],
        json!([
            {"type": "reasoning", "id": "rs_gw123_0", "status": "completed",
                "summary": [{"type": "summary_text", "text": "The user wants the weather."}],
                "encrypted_content": "EvUBCl0IDRACGAIqQFpN"},
            {"type": "message", "id": "msg_gw123_1", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Let me check \"Paris\" 🌦️ for you.", "annotations": []}]},
            {"type": "function_call", "id": "fc_gw123_2", "call_id": "toolu_vrtx_01T1x1fJ34qAmk2tNTrN7Up6",
                "name": "get_weather", "arguments": "{\"city\": \"Paris\"}", "status": "completed"}])
    );
    assert_eq!(
        told.response["usage"],
        json!({"input_tokens": 572, "input_tokens_details": {"cached_tokens": 100},
            "output_tokens": 89, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 661})
    );
}
#[test]
fn openais_stream_becomes_responses_events() {
    let told = check_stream(&translate(
        openai_native::SseDecoder::new(),
        &[OPENAI_STREAM.as_bytes()],
    ));
    assert_eq!(told.text, "Pong! 😊 \"quoted\"");
    assert_eq!(
        told.response["output"][1]["call_id"],
        "call_y0po4Ztyj41x7Led1gGoTCs1"
    );
    assert_eq!(
        told.response["output"][1]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(
        told.response["usage"]["input_tokens_details"]["cached_tokens"],
        128
    );
}
#[test]
fn an_upstream_error_after_the_answer_began_fails_the_response() {
    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello there\"}}\n\n";
    let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let stream = format!("{start}{overloaded}");
    let told = check_stream(&translate(
        anthropic::SseDecoder::new(),
        &[stream.as_bytes()],
    ));
    assert_eq!(told.text, "Hello there");
    assert_eq!(
        told.events[told.events.len() - 2]["code"],
        "upstream_overloaded"
    );
    assert_eq!(told.response["status"], "failed");
    let cut = check_stream(&translate(
        anthropic::SseDecoder::new(),
        &[start.as_bytes()],
    ));
    assert_eq!(
        cut.events[cut.events.len() - 2]["code"],
        "upstream_truncated"
    );
}
#[test]
fn resource_text_with_prompt_tools_streams_calls() {
    let scanner =
        crate::upstream::resource::prompt_tools::ToolScanner::new(vec!["f".into()], "resp-gw123");
    let text = "Sure. <tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}</tool_call>";
    let told = check_stream(&translate(
        resource::TextDecoder::with_tool_scanner(scanner),
        &[&text.as_bytes()[..9], &text.as_bytes()[9..]],
    ));
    assert_eq!(told.text, "Sure. ");
    assert_eq!(told.response["output"][1]["name"], "f");
    assert_eq!(told.response["output"][1]["arguments"], "{\"a\":1}");
}
/// Claude calling `apply_patch` (offered as a function), the arguments cut inside an
/// escape.
fn claude_patch_stream() -> String {
    let arguments = json!({"input": PATCH}).to_string();
    let (escape, accent) = (
        arguments.find('\\').unwrap() + 1,
        arguments.find('é').unwrap(),
    );
    let pieces = [
        &arguments[..escape],
        &arguments[escape..accent],
        &arguments[accent..],
    ];
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut stream = event(
        "message_start",
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 30, "output_tokens": 1}}}),
    );
    stream += &event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "apply_patch", "input": {}}}),
    );
    for piece in pieces {
        stream += &event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": piece}}),
        );
    }
    stream += &event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    stream += &event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 40}}),
    );
    stream + &event("message_stop", json!({"type": "message_stop"}))
}
#[test]
fn claudes_call_of_a_custom_tool_becomes_a_custom_tool_call() {
    let stream = claude_patch_stream();
    let told = check_stream(&translate_custom(
        anthropic::SseDecoder::new(),
        &custom(&["apply_patch"]),
        &[stream.as_bytes()],
    ));
    assert_eq!(
        told.response["output"],
        json!([{"type": "custom_tool_call", "id": "ctc_gw123_0", "call_id": "toolu_1",
            "name": "apply_patch", "input": PATCH, "status": "completed"}])
    );
    let fallback = check_stream(&translate_custom(
        openai_native::SseDecoder::new(),
        &custom(&["get_weather"]),
        &[OPENAI_STREAM.as_bytes()],
    ));
    assert_eq!(fallback.response["output"][1]["type"], "custom_tool_call");
    assert_eq!(
        fallback.response["output"][1]["input"],
        "{\"city\":\"Paris\"}"
    );
}
proptest! {
    #[test]
    fn upstream_streams_translate_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let stream = ANTHROPIC_STREAM.as_bytes();
        let whole = translate(anthropic::SseDecoder::new(), &[stream]);
        prop_assert_eq!(&translate(anthropic::SseDecoder::new(), &split(stream, &cuts)), &whole);
        check_stream(&whole);
        let stream = OPENAI_STREAM.as_bytes();
        let whole = translate(openai_native::SseDecoder::new(), &[stream]);
        prop_assert_eq!(&translate(openai_native::SseDecoder::new(), &split(stream, &cuts)), &whole);
        check_stream(&whole);
        let patch = claude_patch_stream();
        let custom_tools = custom(&["apply_patch"]);
        let whole = translate_custom(anthropic::SseDecoder::new(), &custom_tools, &[patch.as_bytes()]);
        prop_assert_eq!(&translate_custom(anthropic::SseDecoder::new(), &custom_tools, &split(patch.as_bytes(), &cuts)), &whole);
        let told = check_stream(&whole);
        prop_assert_eq!(told.response["output"][0]["input"].as_str(), Some(PATCH));
    }
}
