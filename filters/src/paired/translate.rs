//! The stream translation with real decoders and encoders: Argo's streams into OpenAI chat chunks, the notice held back, usage counted.

use crate::client::openai_chat;
use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::fixtures::{
    self, meta, split, sse_payloads, streamed_text, ANTHROPIC_STREAM, OPENAI_STREAM,
};
use crate::hub::{Answer, Finish, Part, Usage};
use crate::translate::*;
use crate::upstream::{anthropic, openai_native, resource};
use crate::usage::Tokenizer;
use proptest::prelude::*;
use serde_json::{json, Value};

fn claude_to_openai(include_usage: bool) -> StreamTranslation {
    StreamTranslation::new(
        anthropic::SseDecoder::new(),
        openai_chat::encoder(&meta(), include_usage),
    )
}

fn run(mut translation: StreamTranslation, pieces: &[&[u8]]) -> (Vec<u8>, StreamTranslation) {
    (fixtures::relay(&mut translation, pieces), translation)
}

#[test]
fn claudes_stream_becomes_openai_chunks() {
    let (out, mut translation) = run(claude_to_openai(true), &[ANTHROPIC_STREAM.as_bytes()]);
    let payloads = sse_payloads(&out);
    assert_eq!(
        payloads[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    for chunk in &payloads[..payloads.len() - 1] {
        assert_eq!(
            (chunk["id"].as_str(), chunk["model"].as_str()),
            (Some("chatcmpl-gw123"), Some("claude-sonnet-4.6"))
        );
    }
    let (text, reasoning) = streamed_text(&payloads);
    assert_eq!(text, "Let me check \"Paris\" 🌦️ for you.");
    assert_eq!(reasoning, "The user wants the weather.");
    let calls: Vec<&Value> = payloads
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(
        calls[0],
        &json!({"index": 0, "id": "toolu_vrtx_01T1x1fJ34qAmk2tNTrN7Up6", "type": "function",
            "function": {"name": "get_weather", "arguments": ""}})
    );
    let arguments: String = calls[1..]
        .iter()
        .map(|call| {
            assert_eq!(call["index"], 0);
            assert!(call.get("id").is_none());
            call["function"]["arguments"].as_str().unwrap()
        })
        .collect();
    assert_eq!(arguments, "{\"city\": \"Paris\"}");
    let n = payloads.len();
    assert_eq!(payloads[n - 3]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        payloads[n - 2]["usage"],
        json!({"prompt_tokens": 572, "completion_tokens": 89, "total_tokens": 661,
            "prompt_tokens_details": {"cached_tokens": 100}})
    );
    assert_eq!(payloads[n - 1], "[DONE]");
    assert_eq!(translation.usage().input_tokens, 572);
    assert!(translation.usage_reported());
}

#[test]
fn without_include_usage_there_is_no_usage_chunk() {
    let (out, _) = run(claude_to_openai(false), &[ANTHROPIC_STREAM.as_bytes()]);
    assert!(sse_payloads(&out)
        .iter()
        .all(|chunk| chunk.get("usage").is_none()));
}

fn text_event(text: &str) -> String {
    format!(
        "event: content_block_delta\ndata: {}\n\n",
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})
    )
}

const START: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";

#[test]
fn the_notice_in_the_first_text_deltas_is_an_error_and_nothing_is_sent() {
    let mut translation = claude_to_openai(true);
    let mut out = translation.start();
    translation.feed_into(&mut out, START.as_bytes()).unwrap();
    for piece in ["⚠️ **IMP", "ORTANT AUTHENTICATION NOT"] {
        translation
            .feed_into(&mut out, text_event(piece).as_bytes())
            .unwrap();
        assert!(!translation.decided());
    }
    let error = translation
        .feed_into(&mut out, text_event("ICE FROM ARGO** ⚠️").as_bytes())
        .unwrap_err();
    assert_eq!(error.code, Some(ErrorCode::UpstreamUserNotRegistered));
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert!(translation.failure().is_some());
    assert!(translation.finish().unwrap().is_empty());
}

#[test]
fn an_opening_that_only_resembles_the_notice_is_released_whole() {
    let mut translation = claude_to_openai(false);
    let mut out = translation.start();
    translation.feed_into(&mut out, START.as_bytes()).unwrap();
    translation
        .feed_into(&mut out, text_event("**").as_bytes())
        .unwrap();
    assert!(out.is_empty() && !translation.decided());
    translation
        .feed_into(&mut out, text_event("Summary**").as_bytes())
        .unwrap();
    assert!(translation.decided());
    let payloads = sse_payloads(&out);
    assert_eq!(payloads[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(streamed_text(&payloads).0, "**Summary**");
}

#[test]
fn thinking_or_a_tool_call_decides_at_once() {
    let mut translation = claude_to_openai(false);
    let mut out = Vec::new();
    let thinking = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hmm\"}}\n\n";
    translation
        .feed_into(&mut out, thinking.as_bytes())
        .unwrap();
    assert!(translation.decided());
    assert_eq!(streamed_text(&sse_payloads(&out)).1, "Hmm");
}

#[test]
fn an_upstream_error_before_any_answer_is_an_error_response() {
    let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let mut translation = claude_to_openai(false);
    let mut out = translation.start();
    translation.feed_into(&mut out, START.as_bytes()).unwrap();
    let error = translation
        .feed_into(&mut out, overloaded.as_bytes())
        .unwrap_err();
    assert_eq!(error.status, 503);
    assert!(out.is_empty());
    let mut empty = claude_to_openai(false);
    assert_eq!(
        empty.finish().unwrap_err().code,
        Some(ErrorCode::UpstreamTruncated)
    );
}

#[test]
fn after_the_answer_started_errors_are_the_last_event() {
    let overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let stream = format!(
        "{START}{}{overloaded}{}",
        text_event("Hi"),
        text_event("late")
    );
    let (out, translation) = run(claude_to_openai(true), &[stream.as_bytes()]);
    let payloads = sse_payloads(&out);
    assert_eq!(streamed_text(&payloads).0, "Hi");
    assert_eq!(
        payloads.last().unwrap()["error"]["code"],
        "upstream_overloaded"
    );
    assert!(!payloads.contains(&json!("[DONE]")));
    assert_eq!(translation.failure().map(|error| error.status), Some(503));
    let mut cut = claude_to_openai(false);
    let mut out = Vec::new();
    cut.feed_into(&mut out, format!("{START}{}", text_event("Hi")).as_bytes())
        .unwrap();
    let ending = sse_payloads(&cut.finish().unwrap());
    assert_eq!(ending[0]["error"]["code"], "upstream_truncated");
    let mut dropped = claude_to_openai(false);
    dropped
        .feed_into(
            &mut Vec::new(),
            format!("{START}{}", text_event("Hi")).as_bytes(),
        )
        .unwrap();
    let failed = sse_payloads(&dropped.fail(&ApiError::gateway_timeout("Argo went quiet")));
    assert_eq!(failed.len(), 1);
    assert!(dropped.fail(&ApiError::internal("twice")).is_empty());
}

/// Claude's stream of "abcdefgh" without its usage.
fn stream_without_usage() -> String {
    format!(
        "{START}{}event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}}}}\n\n",
        text_event("abcdefgh")
    )
}

#[test]
fn usage_is_counted_when_the_upstream_reports_none() {
    let (_, mut translation) = run(
        claude_to_openai(false).counting(|| 42, Tokenizer::Estimate),
        &[stream_without_usage().as_bytes()],
    );
    assert!(!translation.usage_reported());
    assert_eq!(translation.usage(), Usage::new(42, 2));
}

#[test]
fn the_prompt_is_counted_only_for_a_stream_without_usage_and_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let counting = |calls: &Arc<AtomicUsize>| {
        let calls = Arc::clone(calls);
        claude_to_openai(true).counting(
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                7
            },
            Tokenizer::Estimate,
        )
    };
    let reported = Arc::new(AtomicUsize::new(0));
    let (_, mut translation) = run(counting(&reported), &[ANTHROPIC_STREAM.as_bytes()]);
    assert_eq!(translation.usage().input_tokens, 572);
    assert_eq!(reported.load(Ordering::SeqCst), 0, "Claude reported usage");

    let unreported = Arc::new(AtomicUsize::new(0));
    let without = stream_without_usage();
    let (_, mut translation) = run(counting(&unreported), &[without.as_bytes()]);
    assert_eq!(translation.usage().input_tokens, 7);
    assert_eq!(translation.usage().input_tokens, 7);
    assert_eq!(unreported.load(Ordering::SeqCst), 1);
}

#[test]
fn openai_sse_through_the_hub_gives_openai_chunks() {
    let translation = StreamTranslation::new(
        openai_native::SseDecoder::new(),
        openai_chat::encoder(&meta(), false),
    );
    let (out, _) = run(translation, &[OPENAI_STREAM.as_bytes()]);
    let payloads = sse_payloads(&out);
    assert_eq!(streamed_text(&payloads).0, "Pong! 😊 \"quoted\"");
    assert_eq!(payloads.last().unwrap(), "[DONE]");
}

#[test]
fn resource_text_with_prompt_tools_streams_calls() {
    let scanner = crate::upstream::resource::prompt_tools::ToolScanner::new(
        vec!["f".into()],
        "chatcmpl-gw123",
    );
    let translation = StreamTranslation::new(
        resource::TextDecoder::with_tool_scanner(scanner),
        openai_chat::encoder(&meta(), false),
    );
    let text = "Sure. <tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}</tool_call>";
    let (out, _) = run(translation, &[&text.as_bytes()[..9], &text.as_bytes()[9..]]);
    let payloads = sse_payloads(&out);
    assert_eq!(streamed_text(&payloads).0, "Sure. ");
    assert!(out.windows(8).any(|window| window == b"call_gw1"));
    assert_eq!(
        payloads[payloads.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[test]
fn fragments_fed_into_one_buffer_equal_separate_feeds() {
    let fragments: [&[u8]; 4] = [b"Hel", b"lo \xe4\xb8", b"\x96!", b""];
    let resource = || {
        StreamTranslation::new(
            resource::TextDecoder::new(),
            openai_chat::encoder(&meta(), false),
        )
        .counting(|| 10, Tokenizer::Estimate)
    };
    let (mut separate, mut joined) = (resource(), resource());
    let (mut expected, mut batched) = (Vec::new(), Vec::new());
    for fragment in fragments {
        let mut out = Vec::new();
        separate.feed_into(&mut out, fragment).unwrap();
        expected.extend(out);
        joined.feed_into(&mut batched, fragment).unwrap();
    }
    assert_eq!(String::from_utf8(batched), String::from_utf8(expected));
    assert_eq!(joined.usage(), separate.usage());
}

#[test]
fn a_streamed_upstream_collects_into_one_answer() {
    let answer = collect(
        anthropic::SseDecoder::new(),
        ANTHROPIC_STREAM.as_bytes().chunks(7),
    )
    .unwrap();
    assert_eq!(
        answer.content,
        vec![
            Part::Thinking {
                text: "The user wants the weather.".into(),
                signature: Some("EvUBCl0IDRACGAIqQFpN".into())
            },
            Part::Text("Let me check \"Paris\" 🌦️ for you.".into()),
            Part::tool_call(
                "toolu_vrtx_01T1x1fJ34qAmk2tNTrN7Up6",
                "get_weather",
                "{\"city\": \"Paris\"}"
            ),
        ]
    );
    assert_eq!(answer.finish, Finish::ToolCalls);
    assert_eq!(answer.usage.map(|usage| usage.output_tokens), Some(89));
    let notice = format!("{START}{}", text_event(fixtures::NOTICE));
    assert_eq!(
        collect(anthropic::SseDecoder::new(), [notice.as_bytes()])
            .unwrap_err()
            .status,
        403
    );
    assert_eq!(
        collect(anthropic::SseDecoder::new(), [&b""[..]])
            .unwrap_err()
            .code,
        Some(ErrorCode::UpstreamTruncated)
    );
}

#[test]
fn a_buffered_answer_replays_as_a_stream() {
    let answer = Answer {
        content: vec![
            Part::Thinking {
                text: "Hmm.".into(),
                signature: Some("sig".into()),
            },
            Part::Text("Checking.".into()),
            Part::tool_call("call_1", "f", "{\"a\":1}"),
        ],
        finish: Finish::ToolCalls,
        usage: None,
    };
    let mut encoder = openai_chat::encoder(&meta(), true);
    let payloads = sse_payloads(&replay(&mut encoder, &answer, Usage::new(5, 6)));
    assert_eq!(payloads[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        streamed_text(&payloads),
        ("Checking.".to_string(), "Hmm.".to_string())
    );
    let n = payloads.len();
    assert_eq!(payloads[n - 3]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(payloads[n - 2]["usage"]["total_tokens"], 11);
    assert_eq!(payloads[n - 1], "[DONE]");
    assert!(payloads
        .iter()
        .any(|chunk| chunk["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_1"));
}

proptest! {
    #[test]
    fn claudes_stream_translates_alike_however_split(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let stream = ANTHROPIC_STREAM.as_bytes();
        prop_assert_eq!(
            run(claude_to_openai(true), &split(stream, &cuts)).0,
            run(claude_to_openai(true), &[stream]).0
        );
    }
}
