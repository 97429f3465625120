use super::answer::*;
use super::encoder::*;
use super::errors::*;
use super::*;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::fixtures::canonical_events;
use crate::hub::{
    Aggregator, Answer, Conversation, Dialect, Event, Finish, Message, Part, Role, ToolChoice,
    ToolDef, Usage,
};
use crate::openai::ResponseMeta;
use crate::translate::{replay, Encoder};

pub(crate) fn meta() -> ResponseMeta {
    ResponseMeta {
        id: "msg-gw123".into(),
        created: 1_700_000_000,
        model: "claude-sonnet-4.6".into(),
    }
}

/// A minimal valid body with `fields` set on it.
pub(crate) fn body(fields: Value) -> Value {
    let mut body = json!({"model": "claude-sonnet-4.6", "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}]});
    for (key, value) in fields.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

pub(crate) fn read(body: Value) -> Conversation {
    let (conversation, model) = read_request(body.to_string().as_bytes()).unwrap();
    assert_eq!(model, "claude-sonnet-4.6");
    assert_eq!(conversation.origin, Dialect::AnthropicMessages);
    conversation
}

fn refused(body: Value) -> ApiError {
    match read_request(body.to_string().as_bytes()) {
        Ok(_) => panic!("accepted: {body}"),
        Err(error) => {
            assert_eq!(error.status, 400, "{body}");
            error
        }
    }
}

pub(crate) fn user(content: Value) -> Value {
    json!({"role": "user", "content": content})
}

pub(crate) fn assistant(content: Value) -> Value {
    json!({"role": "assistant", "content": content})
}

#[test]
fn system_as_a_string_or_text_blocks_becomes_a_system_message() {
    let plain = read(body(json!({"system": "Be brief."})));
    assert_eq!(plain.messages[0], Message::text(Role::System, "Be brief."));
    let blocks = read(body(json!({"system": [
        {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be brief."}]})));
    assert_eq!(
        blocks.messages[0],
        Message::new(
            Role::System,
            vec![
                Part::Text("You are Claude Code.".into()),
                Part::Text("Be brief.".into())
            ]
        )
    );
    assert_eq!(blocks.messages[1], Message::text(Role::User, "hi"));
    assert_eq!(read(body(json!({"system": ""}))).messages.len(), 1);
}

#[test]
fn user_blocks_of_every_kind_are_read() {
    let conversation = read(body(json!({"messages": [user(json!([
        {"type": "text", "text": "Compare", "cache_control": {"type": "ephemeral"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.org/cat.jpg"}},
        {"type": "document", "title": "Notes", "context": "From the wiki", "source": {"type": "text", "media_type": "text/plain", "data": "Cats sleep."}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "Part one."}]}},
        {"type": "search_result", "source": "https://example.org/a", "title": "A", "content": [{"type": "text", "text": "Found."}]}
    ]))]})));
    let image = |url: &str| Part::Image {
        url: url.into(),
        detail: None,
    };
    assert_eq!(
        conversation.messages,
        vec![Message::new(
            Role::User,
            vec![
                Part::Text("Compare".into()),
                image("data:image/png;base64,iVBORw0KGgo="),
                image("https://example.org/cat.jpg"),
                Part::Text("Notes".into()),
                Part::Text("From the wiki".into()),
                Part::Text("Cats sleep.".into()),
                Part::Text("Part one.".into()),
                Part::Text("A\nhttps://example.org/a\n\nFound.".into()),
            ]
        )]
    );
}

#[test]
fn assistant_turns_keep_thinking_text_and_calls_and_drop_redacted_thinking() {
    let conversation = read(body(
        json!({"messages": [user(json!("Weather?")), assistant(json!([
        {"type": "thinking", "thinking": "Needs a tool.", "signature": "EvUB"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "thinking", "thinking": "Unsigned.", "signature": ""},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}
    ])), assistant(json!("Prefilled"))]}),
    ));
    assert_eq!(
        conversation.messages[1..],
        [
            Message::new(
                Role::Assistant,
                vec![
                    Part::Thinking {
                        text: "Needs a tool.".into(),
                        signature: Some("EvUB".into())
                    },
                    Part::Thinking {
                        text: "Unsigned.".into(),
                        signature: None
                    },
                    Part::Text("Checking.".into()),
                    Part::tool_call("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
                    Part::tool_call("toolu_2", "now", "{}"),
                ]
            ),
            Message::text(Role::Assistant, "Prefilled"),
        ]
    );
}

#[test]
fn tool_results_come_first_as_tool_messages_and_their_images_follow() {
    let conversation = read(body(json!({"messages": [user(json!([
        {"type": "text", "text": "Both done?"},
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": [
            {"type": "text", "text": "Screenshot:"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
        {"type": "tool_result", "tool_use_id": "toolu_3"}
    ]))]})));
    assert_eq!(
        conversation.messages,
        vec![
            Message::new(
                Role::Tool,
                vec![
                    Part::ToolResult {
                        call_id: "toolu_1".into(),
                        content: "18C".into(),
                        is_error: false
                    },
                    Part::ToolResult {
                        call_id: "toolu_2".into(),
                        content: "Screenshot:\n[The tool returned an image; it follows the tool results.]".into(),
                        is_error: true
                    },
                    Part::ToolResult {
                        call_id: "toolu_3".into(),
                        content: String::new(),
                        is_error: false
                    },
                ]
            ),
            Message::new(
                Role::User,
                vec![Part::Image {
                    url: "data:image/png;base64,AAAA".into(),
                    detail: None
                }]
            ),
            Message::text(Role::User, "Both done?"),
        ]
    );
}

#[test]
fn system_messages_between_turns_keep_their_place() {
    let conversation = read(body(json!({"messages": [
        user(json!([{"type": "text", "text": "One"},
            {"type": "mid_conv_system", "content": [{"type": "text", "text": "Now French."}]},
            {"type": "text", "text": "Two"}])),
        {"role": "system", "content": "Late rule."}]})));
    assert_eq!(
        conversation.messages,
        vec![
            Message::text(Role::User, "One"),
            Message::text(Role::System, "Now French."),
            Message::text(Role::User, "Two"),
            Message::text(Role::System, "Late rule."),
        ]
    );
}

#[test]
fn parameters_are_read_and_only_top_k_is_kept_for_argo() {
    let conversation = read(body(json!({"temperature": 0.5, "top_p": 0.9, "top_k": 40,
        "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "mallory"},
        "service_tier": "auto", "container": "c1", "inference_geo": "us",
        "context_management": {"edits": []}, "output_config": {"effort": "low"}})));
    assert_eq!(conversation.max_tokens, Some(1024));
    assert_eq!(
        (conversation.temperature, conversation.top_p),
        (Some(0.5), Some(0.9))
    );
    assert_eq!(conversation.stop, ["END"]);
    assert!(conversation.stream && conversation.include_usage);
    assert_eq!(conversation.reasoning_effort.as_deref(), Some("low"));
    assert_eq!(Value::Object(conversation.extra), json!({"top_k": 40}));
    let plain = read(body(json!({})));
    assert!(!plain.stream && plain.include_usage && plain.extra.is_empty());
    assert_eq!(
        (
            plain.reasoning_effort,
            plain.tool_choice,
            plain.parallel_tool_calls
        ),
        (None, None, None)
    );
    assert_eq!(read(body(json!({"max_tokens": 0}))).max_tokens, Some(0));
}

#[test]
fn custom_tools_and_every_tool_choice_are_read() {
    let tools = json!([
        {"name": "get_weather", "description": "Weather now", "cache_control": {"type": "ephemeral"},
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"type": "custom", "name": "now", "input_schema": {"type": "object"}, "strict": true}]);
    let conversation = read(body(json!({"tools": tools})));
    assert_eq!(
        conversation.tools,
        vec![
            ToolDef {
                name: "get_weather".into(),
                description: Some("Weather now".into()),
                parameters: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
                strict: None
            },
            ToolDef {
                name: "now".into(),
                description: None,
                parameters: json!({"type": "object"}),
                strict: Some(true)
            },
        ]
    );
    let choice = |choice: Value| {
        let conversation = read(body(json!({"tools": tools, "tool_choice": choice})));
        (conversation.tool_choice, conversation.parallel_tool_calls)
    };
    assert_eq!(
        choice(json!({"type": "auto"})),
        (Some(ToolChoice::Auto), None)
    );
    assert_eq!(
        choice(json!({"type": "any", "disable_parallel_tool_use": true})),
        (Some(ToolChoice::Required), Some(false))
    );
    assert_eq!(
        choice(json!({"type": "tool", "name": "now", "disable_parallel_tool_use": false})),
        (Some(ToolChoice::Named("now".into())), Some(true))
    );
    assert_eq!(
        choice(json!({"type": "none"})),
        (Some(ToolChoice::None), None)
    );
}

#[test]
fn thinking_settings_become_a_reasoning_effort() {
    let effort = |fields: Value| read(body(fields)).reasoning_effort;
    let enabled = |budget: u64| json!({"thinking": {"type": "enabled", "budget_tokens": budget}});
    assert_eq!(effort(enabled(1024)).as_deref(), Some("low"));
    assert_eq!(effort(enabled(4000)).as_deref(), Some("low"));
    assert_eq!(effort(enabled(10_000)).as_deref(), Some("medium"));
    assert_eq!(effort(enabled(31_999)).as_deref(), Some("high"));
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive", "display": "omitted"}})).as_deref(),
        Some("high"),
        "Anthropic's default effort"
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}))
            .as_deref(),
        Some("max")
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "enabled", "budget_tokens": 2000}, "output_config": {"effort": "high"}}))
            .as_deref(),
        Some("high"),
        "an explicit effort wins over the budget"
    );
    assert_eq!(
        effort(json!({"thinking": {"type": "disabled"}, "output_config": {"effort": "low"}})),
        None
    );
}

#[test]
fn what_cannot_be_served_is_refused_naming_the_field() {
    let text = |text: &str| json!([{"type": "text", "text": text}]);
    for (fields, param, words) in [
        (json!({"messages": []}), "messages", "at least one"),
        (
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].role",
            "unknown variant",
        ),
        (
            json!({"messages": [user(json!(null))]}),
            "messages[0].content",
            "a string or an array",
        ),
        (
            json!({"messages": [user(json!([{"type": "text"}]))]}),
            "messages[0].content[0].text",
            "Field required",
        ),
        (
            json!({"messages": [user(json!([{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}]))]}),
            "messages[0].content[0].type",
            "`server_tool_use` blocks cannot be served",
        ),
        (
            json!({"messages": [user(json!([{"type": "tool_use", "id": "t", "name": "f", "input": {}}]))]}),
            "messages[0].content[0].type",
            "belong in assistant messages",
        ),
        (
            json!({"messages": [user(json!("hi")), assistant(json!([{"type": "tool_result", "tool_use_id": "t"}]))]}),
            "messages[1].content[0].type",
            "belong in user messages",
        ),
        (
            json!({"messages": [user(json!([{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]))]}),
            "messages[0].content[0].source.type",
            "send the document's text",
        ),
        (
            json!({"messages": [user(json!([{"type": "document", "source": {"type": "text", "media_type": "text/plain"}}]))]}),
            "messages[0].content[0].source.data",
            "Field required",
        ),
        (
            json!({"messages": [user(json!([{"type": "document", "source": {"type": "content", "content": [{"type": "thinking", "thinking": "x"}]}}]))]}),
            "messages[0].content[0].source.content[0].type",
            "`thinking` blocks cannot be served",
        ),
        (
            json!({"messages": [user(json!([{"type": "image", "source": {"type": "file", "file_id": "file_1"}}]))]}),
            "messages[0].content[0].source.type",
            "Files API",
        ),
        (
            json!({"messages": [user(json!([{"type": "image", "source": {"type": "base64", "data": "AAAA"}}]))]}),
            "messages[0].content[0].source.media_type",
            "Field required",
        ),
        (
            json!({"messages": [user(json!([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "tool_reference", "tool_name": "f"}]}]))]}),
            "messages[0].content[0].content[0].type",
            "`tool_reference`",
        ),
        (
            json!({"system": [{"type": "image", "source": {"type": "url", "url": "https://x"}}]}),
            "system[0].type",
            "text blocks only",
        ),
        (
            json!({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]}),
            "tools[0].type",
            "`web_search` is one of Anthropic's own tools",
        ),
        (
            json!({"tools": [{"type": "bash_20250124", "name": "bash"}]}),
            "tools[0].type",
            "Argo cannot run",
        ),
        (
            json!({"tools": [{"name": "f"}]}),
            "tools[0].input_schema",
            "Field required",
        ),
        (
            json!({"tools": [{"name": "f", "input_schema": {}}, {"name": "f", "input_schema": {}}]}),
            "tools[1].name",
            "declared twice",
        ),
        (
            json!({"tool_choice": {"type": "any"}}),
            "tool_choice",
            "needs `tools`",
        ),
        (
            json!({"tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "tool", "name": "g"}}),
            "tool_choice.name",
            "not one of the declared tools",
        ),
        (
            json!({"tool_choice": {"type": "tool"}}),
            "tool_choice.name",
            "Field required",
        ),
        (
            json!({"tool_choice": {"type": "sometimes"}}),
            "tool_choice.type",
            "must be",
        ),
        (
            json!({"thinking": {"type": "enabled"}}),
            "thinking.budget_tokens",
            "Field required",
        ),
        (
            json!({"thinking": {"type": "deep"}}),
            "thinking.type",
            "must be",
        ),
        (
            json!({"output_config": {"effort": "extreme"}}),
            "output_config.effort",
            "must be one of",
        ),
        (
            json!({"output_config": {"format": {"type": "json_schema", "schema": {}}}}),
            "output_config.format",
            "structured outputs",
        ),
        (
            json!({"output_format": {"type": "json_schema", "schema": {}}}),
            "output_format",
            "structured outputs",
        ),
        (
            json!({"mcp_servers": [{"type": "url", "url": "https://mcp.example.org", "name": "x"}]}),
            "mcp_servers",
            "MCP",
        ),
        (
            json!({"temperature": 1.5}),
            "temperature",
            "between 0 and 1",
        ),
        (json!({"top_p": -0.1}), "top_p", "between 0 and 1"),
        (json!({"top_k": -1}), "top_k", "invalid value"),
        (
            json!({"messages": [user(text("a"))], "stop_sequences": "END"}),
            "stop_sequences",
            "invalid type",
        ),
    ] {
        let error = refused(body(fields.clone()));
        assert_eq!(error.param.as_deref(), Some(param), "{fields}: {error:?}");
        assert!(error.message.contains(words), "{fields}: {}", error.message);
    }
}

#[test]
fn max_tokens_is_required_as_anthropic_says_it() {
    let mut missing = body(json!({}));
    missing.as_object_mut().unwrap().remove("max_tokens");
    let error = refused(missing);
    assert_eq!(
        (error.param.as_deref(), error.message.as_str()),
        (Some("max_tokens"), "max_tokens: Field required")
    );
    assert_eq!(
        read_request(b"{\"model\":").unwrap_err().param.as_deref(),
        Some("body")
    );
    let envelope: Value = serde_json::from_slice(&error_json(&error)).unwrap();
    assert_eq!(
        envelope,
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}})
    );
}

#[test]
fn count_tokens_bodies_need_no_max_tokens_and_never_stream() {
    let request = json!({"model": "claude-sonnet-4.6", "system": "Be brief.", "stream": true,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}]});
    let (conversation, model) = read_count_tokens_request(request.to_string().as_bytes()).unwrap();
    assert_eq!(model, "claude-sonnet-4.6");
    assert_eq!(conversation.messages.len(), 2);
    assert_eq!(conversation.tools.len(), 1);
    assert!(!conversation.stream && conversation.max_tokens.is_none());
    assert!(read_count_tokens_request(b"{\"model\": \"m\", \"messages\": []}").is_err());
    assert_eq!(
        serde_json::from_slice::<Value>(&count_tokens_json(42)).unwrap(),
        json!({"input_tokens": 42})
    );
}

fn answer(content: Vec<Part>, finish: Finish) -> Answer {
    Answer {
        content,
        finish,
        usage: None,
    }
}

fn rendered(answer: &Answer, usage: Usage) -> Value {
    serde_json::from_slice(&answer_json(answer, &meta(), &usage)).unwrap()
}

#[test]
fn answers_render_as_messages_with_cached_tokens_apart() {
    let thinking_text_calls = answer(
        vec![
            Part::Thinking {
                text: "Hmm.".into(),
                signature: Some("sig".into()),
            },
            Part::Text("Let me ".into()),
            Part::Text(String::new()),
            Part::Text("check.".into()),
            Part::tool_call("toolu_1", "f", r#"{"a": 1}"#),
            Part::tool_call("call_2", "g", ""),
        ],
        Finish::ToolCalls,
    );
    let usage = Usage {
        input_tokens: 110,
        output_tokens: 5,
        cached_input_tokens: Some(100),
    };
    assert_eq!(
        rendered(&thinking_text_calls, usage),
        json!({"id": "msg-gw123", "type": "message", "role": "assistant", "model": "claude-sonnet-4.6",
            "content": [
                {"type": "thinking", "thinking": "Hmm.", "signature": "sig"},
                {"type": "text", "text": "Let me "},
                {"type": "text", "text": "check."},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
                {"type": "tool_use", "id": "call_2", "name": "g", "input": {}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100, "output_tokens": 5}})
    );
    let unsigned = answer(
        vec![Part::Thinking {
            text: "Plain reasoning.".into(),
            signature: None,
        }],
        Finish::Stop,
    );
    assert_eq!(
        rendered(&unsigned, Usage::new(3, 4))["content"],
        json!([{"type": "thinking", "thinking": "Plain reasoning.", "signature": ""}])
    );
    let empty = rendered(&answer(vec![], Finish::Stop), Usage::new(3, 4));
    assert_eq!(empty["content"], json!([]));
    assert_eq!(
        empty["usage"],
        json!({"input_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 4})
    );
}

#[test]
fn call_arguments_that_are_not_a_json_object_are_wrapped() {
    let calls = answer(
        vec![
            Part::tool_call("t1", "f", "{\"city\": \"Par"),
            Part::tool_call("t2", "f", "[1, 2]"),
        ],
        Finish::Length,
    );
    let json = rendered(&calls, Usage::new(1, 1));
    assert_eq!(
        json["content"][0]["input"],
        json!({"raw": "{\"city\": \"Par"})
    );
    assert_eq!(json["content"][1]["input"], json!({"value": [1, 2]}));
    assert_eq!(json["stop_reason"], "max_tokens");
}

#[test]
fn every_finish_has_its_stop_reason() {
    for (finish, calls, reason) in [
        (Finish::Stop, false, "end_turn"),
        (Finish::Stop, true, "tool_use"),
        (Finish::Length, false, "max_tokens"),
        (Finish::Length, true, "max_tokens"),
        (Finish::ToolCalls, true, "tool_use"),
        (Finish::ContentFilter, false, "refusal"),
    ] {
        let mut content = vec![Part::Text("x".into())];
        if calls {
            content.push(Part::tool_call("t", "f", "{}"));
        }
        assert_eq!(
            rendered(&answer(content, finish), Usage::new(1, 1))["stop_reason"],
            reason
        );
    }
}

#[test]
fn errors_take_anthropics_envelope_and_types() {
    for (error, kind) in [
        (ApiError::invalid("model", "bad"), "invalid_request_error"),
        (ApiError::unauthorized("who?"), "authentication_error"),
        (
            ApiError::new(403, "permission_error", "no"),
            "permission_error",
        ),
        (ApiError::model_not_found("x"), "not_found_error"),
        (
            ApiError::method_not_allowed("GET", "/v1/messages"),
            "invalid_request_error",
        ),
        (ApiError::body_too_large(10), "request_too_large"),
        (ApiError::rate_limited("slow down"), "rate_limit_error"),
        (ApiError::internal("oops"), "api_error"),
        (ApiError::bad_gateway("argo"), "api_error"),
        (
            ApiError::new(503, "upstream_error", "overloaded"),
            "overloaded_error",
        ),
        (ApiError::gateway_timeout("slow"), "timeout_error"),
    ] {
        let json: Value = serde_json::from_slice(&error_json(&error)).unwrap();
        assert_eq!(
            json,
            json!({"type": "error", "error": {"type": kind, "message": error.message}})
        );
    }
}

/// The events of Anthropic's SSE, as `(event name, data)`.
pub(crate) fn named_events(sse: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(text.ends_with("\n\n"), "{text:?}");
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let (name, data) = event.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name, "the event name is the data's type");
            (name.to_string(), data)
        })
        .collect()
}

/// A stream as Anthropic's SDKs accumulate it, checked against the rules they rely on.
#[derive(Debug, Default)]
pub(crate) struct Streamed {
    pub(crate) message: Value,
    /// The blocks; a call's input is kept as its `partial_json` text.
    pub(crate) blocks: Vec<Value>,
    pub(crate) stop_reason: Option<String>,
    pub(crate) usage: Value,
    pub(crate) error: Option<Value>,
}

impl Streamed {
    pub(crate) fn of(sse: &[u8]) -> Self {
        let events = named_events(sse);
        let (first, rest) = events.split_first().expect("message_start");
        assert_eq!(first.0, "message_start");
        let mut streamed = Streamed {
            message: first.1["message"].clone(),
            ..Streamed::default()
        };
        assert_eq!(streamed.message["content"], json!([]));
        assert!(streamed.message["stop_reason"].is_null());
        let mut open: Option<usize> = None;
        let mut stopped = false;
        for (position, (name, data)) in rest.iter().enumerate() {
            assert!(!stopped, "{name} after the end");
            let index = data["index"].as_u64().map(|index| index as usize);
            match name.as_str() {
                "content_block_start" => {
                    assert!(open.is_none(), "blocks never interleave");
                    assert_eq!(index, Some(streamed.blocks.len()), "indexes in order");
                    let mut block = data["content_block"].clone();
                    if block["type"] == "tool_use" {
                        assert_eq!(block["input"], json!({}));
                        block["input"] = json!("");
                    }
                    streamed.blocks.push(block);
                    open = index;
                }
                "content_block_delta" => {
                    assert_eq!(index, open, "a delta for the open block");
                    streamed.delta(index.unwrap(), &data["delta"]);
                }
                "content_block_stop" => {
                    assert_eq!(index, open);
                    streamed.check_closed(index.unwrap());
                    open = None;
                }
                "message_delta" => {
                    assert!(open.is_none() && streamed.stop_reason.is_none());
                    assert!(data["delta"]["stop_sequence"].is_null());
                    streamed.stop_reason =
                        Some(data["delta"]["stop_reason"].as_str().unwrap().into());
                    streamed.usage = data["usage"].clone();
                }
                "message_stop" => {
                    assert!(streamed.stop_reason.is_some());
                    stopped = true;
                }
                "error" => {
                    assert_eq!(position, rest.len() - 1, "nothing follows an error");
                    streamed.error = Some(data["error"].clone());
                }
                other => panic!("unexpected event {other}"),
            }
        }
        assert!(stopped || streamed.error.is_some(), "the stream ends");
        streamed
    }

    pub(crate) fn delta(&mut self, index: usize, delta: &Value) {
        let block = &mut self.blocks[index];
        let (field, kind) = match delta["type"].as_str().unwrap() {
            "text_delta" => ("text", "text"),
            "thinking_delta" => {
                assert_eq!(block["signature"], "", "a signature ends its block");
                ("thinking", "thinking")
            }
            "signature_delta" => {
                assert_eq!(block["signature"], "", "one signature per block");
                block["signature"] = delta["signature"].clone();
                return;
            }
            "input_json_delta" => ("input", "tool_use"),
            other => panic!("unexpected delta {other}"),
        };
        assert_eq!(block["type"], kind);
        let wire_field = if field == "input" {
            "partial_json"
        } else {
            field
        };
        let text = format!(
            "{}{}",
            block[field].as_str().unwrap(),
            delta[wire_field].as_str().unwrap()
        );
        block[field] = text.into();
    }

    /// Empty text blocks are refused when a client sends the turn back.
    pub(crate) fn check_closed(&self, index: usize) {
        let block = &self.blocks[index];
        match block["type"].as_str().unwrap() {
            "text" => assert_ne!(block["text"], "", "an empty text block"),
            "thinking" => assert!(
                block["thinking"] != "" || block["signature"] != "",
                "an empty thinking block"
            ),
            _ => {}
        }
    }

    pub(crate) fn joined(&self, kind: &str, field: &str) -> String {
        self.blocks
            .iter()
            .filter(|block| block["type"] == kind)
            .map(|block| block[field].as_str().unwrap())
            .collect()
    }

    pub(crate) fn calls(&self) -> Vec<(String, String, String)> {
        self.blocks
            .iter()
            .filter(|block| block["type"] == "tool_use")
            .map(|block| {
                let field = |name: &str| block[name].as_str().unwrap().to_string();
                (field("id"), field("name"), field("input"))
            })
            .collect()
    }
}

fn encode(events: &[Event], finish: Finish, usage: Usage) -> Vec<u8> {
    let mut encoder = encoder(&meta());
    let mut out = Vec::new();
    encoder.start(&mut out);
    for event in events {
        encoder.event(&mut out, event);
    }
    Encoder::finish(&mut encoder, &mut out, finish, usage);
    out
}

#[test]
fn the_first_call_streams_live_and_later_content_waits_for_the_end() {
    let mut encoder = encoder(&meta());
    let mut out = Vec::new();
    encoder.start(&mut out);
    let mut step = |event: Event| {
        let before = out.len();
        encoder.event(&mut out, &event);
        String::from_utf8(out[before..].to_vec()).unwrap()
    };
    assert!(step(Event::TextDelta("Checking.".into())).contains("\"text\":\"Checking.\""));
    let start = |index: usize| Event::ToolCallStart {
        index,
        id: format!("toolu_{index}"),
        name: "f".into(),
    };
    let fragment = |index: usize, fragment: &str| Event::ToolCallArguments {
        index,
        fragment: fragment.into(),
    };
    assert!(step(start(0)).contains("\"id\":\"toolu_0\""));
    assert!(step(fragment(0, "{\"a\":")).contains("input_json_delta"));
    assert_eq!(step(start(1)), "", "a second call waits");
    assert_eq!(step(fragment(1, "{}")), "");
    assert_eq!(step(Event::TextDelta("Done.".into())), "");
    assert!(
        step(fragment(0, "1}")).contains("\"partial_json\":\"1}\""),
        "the open call still streams"
    );
    Encoder::finish(&mut encoder, &mut out, Finish::ToolCalls, Usage::new(1, 2));
    let streamed = Streamed::of(&out);
    assert_eq!(
        streamed.calls(),
        vec![
            ("toolu_0".into(), "f".into(), "{\"a\":1}".into()),
            ("toolu_1".into(), "f".into(), "{}".into())
        ]
    );
    assert_eq!(streamed.joined("text", "text"), "Checking.Done.");
    assert_eq!(streamed.blocks.len(), 4);
}

#[test]
fn thinking_signatures_close_their_block_in_one_delta() {
    let events = [
        Event::ThinkingDelta("First.".into()),
        Event::ThinkingSignature("ab".into()),
        Event::ThinkingSignature("cd".into()),
        Event::ThinkingDelta("Second.".into()),
        Event::ThinkingSignature("ef".into()),
        Event::TextDelta(String::new()),
        Event::TextDelta("Answer.".into()),
    ];
    let streamed = Streamed::of(&encode(&events, Finish::Stop, Usage::new(1, 1)));
    assert_eq!(
        streamed.blocks,
        vec![
            json!({"type": "thinking", "thinking": "First.", "signature": "abcd"}),
            json!({"type": "thinking", "thinking": "Second.", "signature": "ef"}),
            json!({"type": "text", "text": "Answer."}),
        ]
    );
    assert_eq!(streamed.stop_reason.as_deref(), Some("end_turn"));
}

#[test]
fn a_buffered_answer_replays_as_a_stream() {
    let buffered = answer(
        vec![
            Part::Thinking {
                text: "Hmm.".into(),
                signature: Some("sig".into()),
            },
            Part::Text("Checking.".into()),
            Part::tool_call("toolu_1", "f", "{\"a\":1}"),
            Part::tool_call("toolu_2", "g", "{}"),
        ],
        Finish::ToolCalls,
    );
    let mut encoder = encoder(&meta());
    let streamed = Streamed::of(&replay(&mut encoder, &buffered, Usage::new(5, 6)));
    assert_eq!(
        streamed.blocks,
        vec![
            json!({"type": "thinking", "thinking": "Hmm.", "signature": "sig"}),
            json!({"type": "text", "text": "Checking."}),
            json!({"type": "tool_use", "id": "toolu_1", "name": "f", "input": "{\"a\":1}"}),
            json!({"type": "tool_use", "id": "toolu_2", "name": "g", "input": "{}"}),
        ]
    );
}

fn joined_events(events: &[Event], pick: fn(&Event) -> Option<&str>) -> String {
    events.iter().filter_map(pick).collect()
}

proptest! {
    #[test]
    fn any_event_sequence_gives_a_valid_messages_stream(events in canonical_events(), finish in 0u8..4, cached in proptest::option::of(0u64..5)) {
        let finish = [Finish::Stop, Finish::Length, Finish::ToolCalls, Finish::ContentFilter][finish as usize];
        let usage = Usage { input_tokens: 7, output_tokens: 4, cached_input_tokens: cached };
        let streamed = Streamed::of(&encode(&events, finish, usage));
        prop_assert_eq!(&streamed.message["id"], "msg-gw123");
        let mut expected: Vec<(String, String, String)> = Vec::new();
        for event in &events {
            match event {
                Event::ToolCallStart { id, name, .. } => expected.push((id.clone(), name.clone(), String::new())),
                Event::ToolCallArguments { index, fragment } => expected[*index].2.push_str(fragment),
                _ => {}
            }
        }
        prop_assert_eq!(streamed.stop_reason.as_deref(), Some(stop_reason(finish, !expected.is_empty())));
        prop_assert_eq!(streamed.calls(), expected);
        prop_assert_eq!(streamed.joined("text", "text"), joined_events(&events, |event| match event { Event::TextDelta(text) => Some(text), _ => None }));
        prop_assert_eq!(streamed.joined("thinking", "thinking"), joined_events(&events, |event| match event { Event::ThinkingDelta(text) => Some(text), _ => None }));
        prop_assert_eq!(streamed.joined("thinking", "signature"), joined_events(&events, |event| match event { Event::ThinkingSignature(text) => Some(text), _ => None }));
        let cached = cached.unwrap_or(0);
        prop_assert_eq!(streamed.usage, json!({"input_tokens": 7 - cached, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached, "output_tokens": 4}));
    }

    #[test]
    fn a_stream_and_its_aggregated_answer_agree(events in canonical_events()) {
        let streamed = Streamed::of(&encode(&events, Finish::Stop, Usage::new(1, 1)));
        let mut aggregator = Aggregator::default();
        events.iter().cloned().for_each(|event| aggregator.push(event));
        let answer = aggregator.finish().unwrap();
        let rendered = rendered(&answer, Usage::new(1, 1));
        let calls = |blocks: &[Value]| blocks.iter().filter(|block| block["type"] == "tool_use").map(|block| block["id"].clone()).collect::<Vec<_>>();
        prop_assert_eq!(calls(&streamed.blocks), calls(rendered["content"].as_array().unwrap()));
        prop_assert_eq!(Some(rendered["stop_reason"].as_str().unwrap()), streamed.stop_reason.as_deref());
    }
}
