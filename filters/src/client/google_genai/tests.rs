use super::answer::*;
use super::arguments::*;
use super::contents::*;
use super::encoder::*;
use super::errors::*;
use super::signature::*;
pub(crate) use super::signature::{thought_signature, SignedThinking};
use super::tools::*;
use super::*;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::fixtures::{canonical_events, meta, relay, split, sse_payloads};
use crate::hub::{
    Answer, Conversation, Dialect, Event, Finish, Message, Part, Role, ToolChoice, ToolDef, Usage,
};
use crate::translate::{Encoder, StreamTranslation};

pub(crate) fn read(body: Value) -> Conversation {
    read_request(body.to_string().as_bytes(), "gemini-2.5-pro", false)
        .unwrap_or_else(|error| panic!("{error}"))
}

fn refused(body: Value) -> ApiError {
    read_request(body.to_string().as_bytes(), "m", false).unwrap_err()
}

pub(crate) fn user(text: &str) -> Value {
    json!({"role": "user", "parts": [{"text": text}]})
}

fn result(call_id: &str, content: &str) -> Part {
    Part::ToolResult {
        call_id: call_id.into(),
        content: content.into(),
        is_error: false,
    }
}

// --- reading -------------------------------------------------------------------------

#[test]
fn contents_of_every_shape_are_read() {
    let conversation = read(json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "French."}]},
        "contents": [
            {"parts": [{"text": "What is this?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBO-_w=="}},
                {"inlineData": {"mimeType": "text/plain; charset=utf-8", "data": "aGVsbG8="}},
                {"fileData": {"fileUri": "https://example.org/cat.jpg"}},
                {"fileData": {"fileUri": "https://example.org/cat", "mimeType": "image/jpeg"}}]},
            {"role": "model", "parts": [
                {"text": "Hmm.", "thought": true},
                {"text": "Checking."},
                {"functionCall": {"id": "toolu_1", "name": "look", "args": {"at": "cat"}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"id": "toolu_1", "name": "look", "response": {"output": "a cat"}}}]},
        ]
    }));
    assert_eq!(conversation.origin, Dialect::GoogleGenAi);
    assert_eq!(
        conversation.messages,
        vec![
            Message::new(
                Role::System,
                vec![Part::Text("Be brief.".into()), Part::Text("French.".into())]
            ),
            Message::new(
                Role::User,
                vec![
                    Part::Text("What is this?".into()),
                    Part::Image {
                        url: "data:image/png;base64,iVBO+/w==".into(),
                        detail: None
                    },
                    Part::Text("hello".into()),
                    Part::Image {
                        url: "https://example.org/cat.jpg".into(),
                        detail: None
                    },
                    Part::Image {
                        url: "https://example.org/cat".into(),
                        detail: None
                    },
                ]
            ),
            Message::new(
                Role::Assistant,
                vec![
                    Part::Thinking {
                        text: "Hmm.".into(),
                        signature: None
                    },
                    Part::Text("Checking.".into()),
                    Part::tool_call("toolu_1", "look", r#"{"at":"cat"}"#),
                ]
            ),
            Message::new(Role::Tool, vec![result("toolu_1", "a cat")]),
        ]
    );
    assert!(conversation.include_usage && !conversation.stream);
    assert!(conversation.extra.is_empty() && conversation.tools.is_empty());
    let streamed = read_request(
        json!({"contents": [user("hi")]}).to_string().as_bytes(),
        "m",
        true,
    )
    .unwrap();
    assert!(streamed.stream);
}

#[test]
fn snake_case_keys_as_the_python_sdk_sends_them_are_read() {
    let conversation = read(json!({
        "system_instruction": "Be brief.",
        "contents": [
            {"role": "user", "parts": [{"inline_data": {"mime_type": "image/jpeg", "data": "AAAA"}}]},
            {"role": "model", "parts": [{"function_call": {"name": "f", "args": {"a": 1}}}]},
            {"role": "user", "parts": [{"function_response": {"name": "f", "response": {"result": 2}}}]},
        ],
        "tools": [{"function_declarations": [{"name": "f", "parameters": {
            "type": "OBJECT", "properties": {"a": {"type": "INTEGER", "max_items": "3"}},
            "property_ordering": ["a"]}}]}],
        "tool_config": {"function_calling_config": {"mode": "any", "allowed_function_names": ["f"]}},
        "generation_config": {"max_output_tokens": 100, "top_p": 0.5, "stop_sequences": ["END"],
            "thinking_config": {"thinking_budget": 1024, "include_thoughts": true}},
    }));
    assert_eq!(
        conversation.messages,
        vec![
            Message::text(Role::System, "Be brief."),
            Message::new(
                Role::User,
                vec![Part::Image {
                    url: "data:image/jpeg;base64,AAAA".into(),
                    detail: None
                }]
            ),
            Message::new(
                Role::Assistant,
                vec![Part::tool_call("call_1_0", "f", r#"{"a":1}"#)]
            ),
            Message::new(Role::Tool, vec![result("call_1_0", "2")]),
        ]
    );
    assert_eq!(
        conversation.tools[0].parameters,
        json!({"type": "object", "properties": {"a": {"type": "integer", "maxItems": 3}}})
    );
    assert_eq!(
        conversation.tool_choice,
        Some(ToolChoice::Named("f".into()))
    );
    assert_eq!(conversation.max_tokens, Some(100));
    assert_eq!(conversation.top_p, Some(0.5));
    assert_eq!(conversation.stop, ["END"]);
    assert_eq!(conversation.reasoning_effort.as_deref(), Some("low"));
}

#[test]
fn calls_without_ids_take_their_position_and_responses_pair_by_name_in_order() {
    let conversation = read(json!({"contents": [
        user("Weather in Paris and Rome?"),
        {"role": "model", "parts": [
            {"text": "Checking both."},
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {}}},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}},
            {"functionResponse": {"name": "get_weather", "response": {"output": "24C"}}},
            {"functionResponse": {"name": "get_time", "response": {"output": "14:00"}}}]},
    ]}));
    let calls: Vec<(&str, &str)> = conversation.messages[1]
        .content
        .iter()
        .filter_map(|part| match part {
            Part::ToolCall { id, arguments, .. } => Some((id.as_str(), arguments.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("call_1_1", r#"{"city":"Paris"}"#),
            ("call_1_2", "{}"),
            ("call_1_3", r#"{"city":"Rome"}"#)
        ]
    );
    assert_eq!(
        conversation.messages[2].content,
        vec![
            result("call_1_1", "18C"),
            result("call_1_3", "24C"),
            result("call_1_2", "14:00")
        ]
    );
}

#[test]
fn responses_pair_by_id_first_and_gemini_cli_ids_fall_back_to_names() {
    let conversation = read(json!({"contents": [
        user("go"),
        {"role": "model", "parts": [
            {"functionCall": {"id": "a", "name": "f", "args": {"n": 1}}},
            {"functionCall": {"id": "b", "name": "f", "args": {"n": 2}}},
            {"functionCall": {"name": "read_file", "args": {}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "b", "name": "f", "response": {"output": "two"}}},
            {"functionResponse": {"id": "read_file-1712345678-9f3a", "name": "read_file", "response": {"output": "text"}}},
            {"functionResponse": {"id": "a", "name": "f", "response": {"output": "one"}}}]},
    ]}));
    assert_eq!(
        conversation.messages[2].content,
        vec![
            result("b", "two"),
            result("call_1_2", "text"),
            result("a", "one")
        ]
    );
}

#[test]
fn thousands_of_calls_pair_with_their_responses_by_id_and_by_name() {
    let count = 20_000;
    let calls: Vec<Value> = (0..count)
        .map(|n| json!({"functionCall": {"id": format!("c{n}"), "name": "f"}}))
        .collect();
    // The even calls answered by id, last first; then the odd ones by name alone.
    let responses: Vec<Value> = (0..count)
        .rev()
        .filter(|n| n % 2 == 0)
        .map(|n| json!({"functionResponse": {"id": format!("c{n}"), "name": "f", "response": {}}}))
        .chain((0..count / 2).map(|_| json!({"functionResponse": {"name": "f", "response": {}}})))
        .collect();
    let conversation = read(json!({"contents": [user("go"),
        {"role": "model", "parts": calls}, {"parts": responses}]}));
    let answered: Vec<&str> = conversation.messages[2]
        .content
        .iter()
        .map(|part| match part {
            Part::ToolResult { call_id, .. } => call_id.as_str(),
            _ => "",
        })
        .collect();
    let expected: Vec<String> = (0..count)
        .rev()
        .filter(|n| n % 2 == 0)
        .chain((0..count).filter(|n| n % 2 == 1))
        .map(|n| format!("c{n}"))
        .collect();
    assert_eq!(answered, expected);
}

#[test]
fn ids_an_upstream_cannot_take_or_already_used_are_replaced() {
    let conversation = read(json!({"contents": [
        user("go"),
        {"role": "model", "parts": [{"functionCall": {"id": "fn.call/1", "name": "f"}}]},
        {"parts": [{"functionResponse": {"id": "fn.call/1", "name": "f", "response": {}}}]},
        {"role": "model", "parts": [{"functionCall": {"id": "call_3_0", "name": "f"}},
            {"functionCall": {"id": "call_3_0", "name": "f"}}]},
        {"parts": [{"functionResponse": {"id": "call_3_0", "name": "f", "response": {}}},
            {"functionResponse": {"id": "call_3_0", "name": "f", "response": {}}}]},
    ]}));
    let ids: Vec<&str> = conversation
        .messages
        .iter()
        .flat_map(|message| &message.content)
        .map(|part| match part {
            Part::ToolCall { id, .. } => id.as_str(),
            Part::ToolResult { call_id, .. } => call_id.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(
        ids,
        ["", "call_1_0", "call_1_0", "call_3_0", "call_3_1", "call_3_0", "call_3_1"]
    );
}

#[test]
fn a_response_answers_only_an_unanswered_call_of_the_latest_model_turn() {
    for contents in [
        json!([user("hi"), {"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]),
        json!([user("hi"),
            {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
            {"parts": [{"functionResponse": {"name": "g", "response": {}}}]}]),
        json!([user("hi"),
            {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
            {"parts": [{"functionResponse": {"name": "f", "response": {}}},
                {"functionResponse": {"name": "f", "response": {}}}]}]),
        json!([user("hi"),
            {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
            {"role": "model", "parts": [{"text": "more"}]},
            user("and?"),
            {"role": "model", "parts": [{"text": "done"}]},
            {"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]),
    ] {
        let error = refused(json!({ "contents": contents }));
        assert_eq!(error.status, 400, "{contents}");
        assert!(error.param.unwrap().ends_with(".functionResponse"));
    }
    let late = read(json!({"contents": [user("hi"),
        {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
        user("wait"),
        {"parts": [{"functionResponse": {"name": "f", "response": {"output": "ok"}}}]}]}));
    assert_eq!(late.messages[3].content, vec![result("call_1_0", "ok")]);
}

#[test]
fn results_come_before_the_user_parts_of_their_content_with_response_images() {
    let conversation = read(json!({"contents": [
        user("Read it"),
        {"role": "model", "parts": [{"functionCall": {"name": "read_file", "args": {"path": "a.png"}}}]},
        {"role": "user", "parts": [
            {"text": "Here:"},
            {"functionResponse": {"name": "read_file", "response": {"output": "Binary content"},
                "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}},
            {"inlineData": {"mimeType": "image/gif", "data": "BBBB"}}]},
    ]}));
    assert_eq!(
        conversation.messages[2..],
        [
            Message::new(Role::Tool, vec![result("call_1_0", "Binary content")]),
            Message::new(
                Role::User,
                vec![
                    Part::Text("Here:".into()),
                    Part::Image {
                        url: "data:image/png;base64,AAAA".into(),
                        detail: None
                    },
                    Part::Image {
                        url: "data:image/gif;base64,BBBB".into(),
                        detail: None
                    },
                ]
            ),
        ]
    );
}

#[test]
fn function_responses_become_result_text() {
    for (response, content, is_error) in [
        (json!({"output": "18C"}), "18C", false),
        (json!({"output": {"temp": 18}}), r#"{"temp":18}"#, false),
        (json!({"error": "no such city"}), "no such city", true),
        (
            json!({"error": "x", "output": ""}),
            r#"{"error":"x","output":""}"#,
            true,
        ),
        (json!({"result": [1, 2]}), "[1,2]", false),
        (
            json!({"result": 1, "unit": "C"}),
            r#"{"result":1,"unit":"C"}"#,
            false,
        ),
        (json!({"temp": 18}), r#"{"temp":18}"#, false),
        (json!("plain"), "plain", false),
        (Value::Null, "", false),
    ] {
        assert_eq!(
            result_content(Some(&response)),
            (content.to_string(), is_error),
            "{response}"
        );
    }
}

#[test]
fn a_streamed_answer_recorded_one_content_per_chunk_is_one_turn() {
    let signature = thought_signature("Let me think.", "sig_1");
    let url_safe = signature.replace('+', "-").replace('/', "_");
    let conversation = read(json!({"contents": [
        user("hi"),
        {"role": "model", "parts": [{"text": "Let me ", "thought": true}]},
        {"role": "model", "parts": [{"text": "think.", "thought": true}]},
        {"role": "model", "parts": [{"text": "Hel", "thoughtSignature": url_safe}]},
        {"role": "model", "parts": [{"text": "lo"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
        {"role": "model", "parts": [{"text": ""}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
    ]}));
    assert_eq!(
        conversation.messages[1].content,
        vec![
            Part::Thinking {
                text: "Let me think.".into(),
                signature: Some("sig_1".into())
            },
            Part::Text("Hello".into()),
            Part::tool_call("call_5_0", "f", "{}"),
        ]
    );
    assert_eq!(conversation.messages.len(), 3);
}

#[test]
fn thought_signatures_carry_thinking_and_foreign_ones_are_ignored() {
    let signature = thought_signature("Weigh it.\n\"quoted\" 🌦️", "EvUB+Cl0/A==");
    assert!(STANDARD.decode(&signature).is_ok(), "plain base64");
    let opened = open_thought_signature(&signature).unwrap();
    assert_eq!(opened.thinking, "Weigh it.\n\"quoted\" 🌦️");
    assert_eq!(opened.signature, "EvUB+Cl0/A==");
    let unpadded = signature
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    assert_eq!(open_thought_signature(&unpadded), Some(opened));
    for foreign in ["skip_thought_signature_validator", "CiQBcsjafQ==", "", "!!"] {
        assert_eq!(open_thought_signature(foreign), None);
    }
    let conversation = read(json!({"contents": [user("hi"), {"role": "model", "parts": [
        {"text": "Thought.", "thought": true, "thoughtSignature": "CiQBcsjafQ=="},
        {"functionCall": {"name": "f"}, "thoughtSignature": "skip_thought_signature_validator"}]}]}));
    assert_eq!(
        conversation.messages[1].content,
        vec![
            Part::Thinking {
                text: "Thought.".into(),
                signature: None
            },
            Part::tool_call("call_1_1", "f", "{}")
        ]
    );
}

#[test]
fn gemini_cli_history_without_thoughts_keeps_signed_thinking() {
    let signed = thought_signature("Need the weather.", "sig_w");
    let conversation = read(json!({"contents": [
        user("Weather?"),
        {"role": "model", "parts": [
            {"functionCall": {"id": "toolu_1", "name": "get_weather", "args": {"city": "Paris"}},
             "thoughtSignature": signed}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "toolu_1", "name": "get_weather",
            "response": {"output": "18C"}}}]},
    ]}));
    assert_eq!(
        conversation.messages[1].content,
        vec![
            Part::Thinking {
                text: "Need the weather.".into(),
                signature: Some("sig_w".into())
            },
            Part::tool_call("toolu_1", "get_weather", r#"{"city":"Paris"}"#),
        ]
    );
}

#[test]
fn google_schemas_become_json_schema() {
    let conversation = read(json!({"contents": [user("hi")], "tools": [
        {"functionDeclarations": [{
            "name": "search", "description": "Search the docs",
            "parameters": {"type": "OBJECT", "required": ["query"], "propertyOrdering": ["query", "limit"],
                "properties": {
                    "query": {"type": "STRING", "description": "Words", "example": "pingora"},
                    "limit": {"type": "INTEGER", "format": "int32", "nullable": true, "minimum": 1},
                    "mode": {"type": "STRING", "format": "enum", "enum": ["fast", "deep"]},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "1"},
                    "filter": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}], "nullable": true},
                    "kind": {"type": "TYPE_UNSPECIFIED"}}}}]},
        {"functionDeclarations": [
            {"name": "fetch", "parametersJsonSchema": {"type": "object",
                "properties": {"url": {"type": ["string", "null"]}}, "additionalProperties": false}},
            {"name": "now"}]},
    ]}));
    assert_eq!(
        conversation.tools,
        vec![
            ToolDef {
                name: "search".into(),
                description: Some("Search the docs".into()),
                parameters: json!({"type": "object", "required": ["query"], "properties": {
                    "query": {"type": "string", "description": "Words", "examples": ["pingora"]},
                    "limit": {"type": ["integer", "null"], "format": "int32", "minimum": 1},
                    "mode": {"type": "string", "enum": ["fast", "deep"]},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "filter": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "null"}]},
                    "kind": {}}}),
                strict: None,
            },
            ToolDef {
                name: "fetch".into(),
                description: None,
                parameters: json!({"type": "object", "properties": {"url": {"type": ["string", "null"]}},
                    "additionalProperties": false}),
                strict: None,
            },
            ToolDef {
                name: "now".into(),
                description: None,
                parameters: Value::Null,
                strict: None,
            },
        ]
    );
    assert_eq!(
        json_schema(
            &json!({"type": "OBJECT", "defs": {"Pet": {"type": "STRING"}},
                "properties": {"pet": {"ref": "#/defs/Pet"}}, "additional_properties": {"type": "BOOLEAN"}}),
            "p"
        )
        .unwrap(),
        json!({"type": "object", "$defs": {"Pet": {"type": "string"}},
            "properties": {"pet": {"$ref": "#/$defs/Pet"}}, "additionalProperties": {"type": "boolean"}})
    );
}

#[test]
fn function_calling_modes_become_tool_choices() {
    let tools = json!([{"functionDeclarations": [{"name": "f"}, {"name": "g"}, {"name": "h"}]}]);
    let read_with = |config: Value| {
        let conversation = read(
            json!({"contents": [user("hi")], "tools": tools, "toolConfig": {"functionCallingConfig": config}}),
        );
        let names: Vec<String> = conversation
            .tools
            .iter()
            .map(|tool| tool.name.clone())
            .collect();
        (conversation.tool_choice, names)
    };
    let all = vec!["f".to_string(), "g".into(), "h".into()];
    assert_eq!(
        read_with(json!({"mode": "AUTO"})),
        (Some(ToolChoice::Auto), all.clone())
    );
    assert_eq!(
        read_with(json!({"mode": "NONE"})),
        (Some(ToolChoice::None), all.clone())
    );
    assert_eq!(
        read_with(json!({"mode": "ANY"})),
        (Some(ToolChoice::Required), all.clone())
    );
    assert_eq!(
        read_with(json!({"mode": "VALIDATED"})),
        (Some(ToolChoice::Auto), all.clone())
    );
    assert_eq!(
        read_with(json!({"mode": "ANY", "allowedFunctionNames": ["g"]})),
        (Some(ToolChoice::Named("g".into())), vec!["g".to_string()])
    );
    assert_eq!(
        read_with(json!({"mode": "ANY", "allowedFunctionNames": ["h", "f"]})),
        (
            Some(ToolChoice::Required),
            vec!["f".to_string(), "h".into()]
        )
    );
    assert_eq!(read_with(json!({})), (Some(ToolChoice::Auto), all));
    let bare = read(json!({"contents": [user("hi")], "tools": tools}));
    assert_eq!(bare.tool_choice, None);
    for (config, param) in [
        (
            json!({"mode": "ANY", "allowedFunctionNames": ["zz"]}),
            "toolConfig.functionCallingConfig.allowedFunctionNames",
        ),
        (
            json!({"mode": "SOMETIMES"}),
            "toolConfig.functionCallingConfig.mode",
        ),
    ] {
        let error = refused(json!({"contents": [user("hi")], "tools": tools,
            "toolConfig": {"functionCallingConfig": config}}));
        assert_eq!(error.param.as_deref(), Some(param));
    }
    let error = refused(
        json!({"contents": [user("hi")], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
    );
    assert_eq!(
        error.param.as_deref(),
        Some("toolConfig.functionCallingConfig.mode")
    );
}

#[test]
fn generation_config_fills_the_sampling_slots() {
    let conversation = read(json!({"contents": [user("hi")], "generationConfig": {
        "maxOutputTokens": 512, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END", "STOP"],
        "candidateCount": 1, "responseModalities": ["TEXT"], "topK": 40, "seed": 7,
        "presencePenalty": 0.5, "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT"}, "thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": true}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "labels": {"team": "x"}}));
    assert_eq!(conversation.max_tokens, Some(512));
    assert_eq!(
        (conversation.temperature, conversation.top_p),
        (Some(0.2), Some(0.9))
    );
    assert_eq!(conversation.stop, ["END", "STOP"]);
    assert_eq!(conversation.reasoning_effort.as_deref(), Some("high"));
    assert!(conversation.extra.is_empty());
    let effort = |thinking: Value| {
        read(json!({"contents": [user("hi")], "generationConfig": {"thinkingConfig": thinking}}))
            .reasoning_effort
    };
    for (thinking, expected) in [
        (json!({"thinkingBudget": 0}), Some("none")),
        (json!({"thinkingBudget": -1}), None),
        (json!({"thinkingBudget": 1}), Some("low")),
        (json!({"thinkingBudget": 1024}), Some("low")),
        (json!({"thinkingBudget": 1025}), Some("medium")),
        (json!({"thinkingBudget": 8192}), Some("medium")),
        (json!({"thinkingBudget": "24576"}), Some("high")),
        (json!({"thinkingLevel": "minimal"}), Some("minimal")),
        (json!({"thinkingLevel": "LOW"}), Some("low")),
        (json!({"thinkingLevel": "THINKING_LEVEL_UNSPECIFIED"}), None),
        (json!({"includeThoughts": true}), None),
    ] {
        assert_eq!(effort(thinking.clone()).as_deref(), expected, "{thinking}");
    }
}

#[test]
fn what_cannot_be_served_is_refused_naming_the_field() {
    let contents = json!([user("hi")]);
    for (body, param) in [
        (json!({"contents": []}), "contents"),
        (json!({"systemInstruction": "x"}), "contents"),
        (
            json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}),
            "contents[0].role",
        ),
        (
            json!({"contents": [{"parts": [{}]}]}),
            "contents[0].parts[0]",
        ),
        (
            json!({"contents": [{"parts": [{"text": 1}]}]}),
            "contents[0].parts[0].text",
        ),
        (
            json!({"contents": [{"parts": [{"executableCode": {"code": "1"}}]}]}),
            "contents[0].parts[0].executableCode",
        ),
        (
            json!({"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf", "data": "AAAA"}}]}]}),
            "contents[0].parts[0].inlineData.mimeType",
        ),
        (
            json!({"contents": [{"parts": [{"inlineData": {"mimeType": "text/plain", "data": "@@"}}]}]}),
            "contents[0].parts[0].inlineData.data",
        ),
        (
            json!({"contents": [{"parts": [{"fileData": {"fileUri": "gs://bucket/cat.png"}}]}]}),
            "contents[0].parts[0].fileData.fileUri",
        ),
        (
            json!({"contents": [{"parts": [{"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc", "mimeType": "image/png"}}]}]}),
            "contents[0].parts[0].fileData.fileUri",
        ),
        (
            json!({"contents": [{"parts": [{"fileData": {"fileUri": "https://www.youtube.com/watch?v=x"}}]}]}),
            "contents[0].parts[0].fileData.mimeType",
        ),
        (
            json!({"contents": [{"parts": [{"functionCall": {"name": "f"}}]}]}),
            "contents[0].parts[0].functionCall",
        ),
        (
            json!({"contents": [{"role": "model", "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}]}),
            "contents[0].parts[0].inlineData",
        ),
        (
            json!({"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]}),
            "contents[0].parts[0].functionCall.name",
        ),
        (
            json!({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": [1]}}]}]}),
            "contents[0].parts[0].functionCall.args",
        ),
        (
            json!({"contents": contents, "cachedContent": "cachedContents/abc"}),
            "cachedContent",
        ),
        (
            json!({"contents": contents, "tools": [{"googleSearch": {}}]}),
            "tools[0].googleSearch",
        ),
        (
            json!({"contents": contents, "tools": [{"codeExecution": {}}]}),
            "tools[0].codeExecution",
        ),
        (
            json!({"contents": contents, "tools": [{"functionDeclarations": [{"name": "f"}], "urlContext": {}}]}),
            "tools[0].urlContext",
        ),
        (
            json!({"contents": contents, "tools": [{"functionDeclarations": [{"name": "mcp.search"}]}]}),
            "tools[0].functionDeclarations[0].name",
        ),
        (
            json!({"contents": contents, "tools": [{"functionDeclarations": [{"name": "f"}]}, {"functionDeclarations": [{"name": "f"}]}]}),
            "tools[1].functionDeclarations[0].name",
        ),
        (
            json!({"contents": contents, "tools": [{"functionDeclarations": [{"name": "f", "parameters": {}, "parametersJsonSchema": {}}]}]}),
            "tools[0].functionDeclarations[0].parametersJsonSchema",
        ),
        (
            json!({"contents": contents, "generationConfig": {"candidateCount": 2}}),
            "generationConfig.candidateCount",
        ),
        (
            json!({"contents": contents, "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}),
            "generationConfig.responseModalities",
        ),
        (
            json!({"contents": contents, "generationConfig": {"speechConfig": {}}}),
            "generationConfig.speechConfig",
        ),
        (
            json!({"contents": contents, "generationConfig": {"responseLogprobs": true}}),
            "generationConfig.responseLogprobs",
        ),
        (
            json!({"contents": contents, "generationConfig": {"temperature": 3}}),
            "generationConfig.temperature",
        ),
        (
            json!({"contents": contents, "generationConfig": {"topP": -0.1}}),
            "generationConfig.topP",
        ),
        (
            json!({"contents": contents, "generationConfig": {"maxOutputTokens": 0}}),
            "generationConfig.maxOutputTokens",
        ),
        (
            json!({"contents": contents, "generationConfig": {"stopSequences": "END"}}),
            "generationConfig.stopSequences",
        ),
        (
            json!({"contents": contents, "generationConfig": {"thinkingConfig": {"thinkingBudget": 10, "thinkingLevel": "LOW"}}}),
            "generationConfig.thinkingConfig.thinkingBudget",
        ),
        (
            json!({"contents": contents, "generationConfig": {"thinkingConfig": {"thinkingBudget": -5}}}),
            "generationConfig.thinkingConfig.thinkingBudget",
        ),
        (
            json!({"contents": contents, "generationConfig": {"thinkingConfig": {"thinkingLevel": "EXTREME"}}}),
            "generationConfig.thinkingConfig.thinkingLevel",
        ),
    ] {
        let error = refused(body.clone());
        assert_eq!(
            (error.status, error.param.as_deref()),
            (400, Some(param)),
            "{body}"
        );
    }
    for body in [&b"[1]"[..], b"{", b""] {
        let error = read_request(body, "m", false).unwrap_err();
        assert_eq!(error.status, 400);
    }
    let googled = refused(json!({"contents": contents, "tools": [{"googleSearch": {}}]}));
    assert!(
        googled.message.contains("googleSearch"),
        "{}",
        googled.message
    );
}

#[test]
fn count_tokens_bodies_are_read_either_way() {
    let plain = read_count_tokens_request(
        json!({"contents": [user("hello world")]})
            .to_string()
            .as_bytes(),
        "m",
    )
    .unwrap();
    assert_eq!(
        plain.messages,
        vec![Message::text(Role::User, "hello world")]
    );
    let nested = read_count_tokens_request(
        json!({"generateContentRequest": {"model": "models/m", "contents": [user("hi")],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "tools": [{"functionDeclarations": [{"name": "f"}]}]}})
        .to_string()
        .as_bytes(),
        "m",
    )
    .unwrap();
    assert_eq!(nested.messages.len(), 2);
    assert_eq!(nested.tools.len(), 1);
    for (body, param) in [
        (
            json!({"contents": [user("a")], "generateContentRequest": {"contents": [user("b")]}}),
            "generateContentRequest",
        ),
        (json!({}), "contents"),
        (
            json!({"generateContentRequest": {"contents": []}}),
            "generateContentRequest.contents",
        ),
        (
            json!({"generateContentRequest": {"contents": [user("b")], "cachedContent": "c"}}),
            "generateContentRequest.cachedContent",
        ),
    ] {
        let error = read_count_tokens_request(body.to_string().as_bytes(), "m").unwrap_err();
        assert_eq!(error.param.as_deref(), Some(param), "{body}");
    }
    assert_eq!(count_tokens_json(42), br#"{"totalTokens":42}"#);
}

// --- answers -------------------------------------------------------------------------

fn answer(content: Vec<Part>, finish: Finish) -> Value {
    let answer = Answer {
        content,
        finish,
        usage: None,
    };
    serde_json::from_slice(&answer_json(&answer, &meta(), &Usage::new(10, 5))).unwrap()
}

#[test]
fn answers_render_as_generate_content_responses() {
    let usage = Usage {
        input_tokens: 10,
        output_tokens: 5,
        cached_input_tokens: Some(4),
    };
    let whole = Answer {
        content: vec![
            Part::Thinking {
                text: "Hmm.".into(),
                signature: Some("sig".into()),
            },
            Part::Text("Let me ".into()),
            Part::Text("check.".into()),
            Part::tool_call("toolu_1", "get_weather", r#"{"city": "Paris"}"#),
            Part::tool_call("toolu_2", "now", ""),
        ],
        finish: Finish::ToolCalls,
        usage: None,
    };
    let json: Value = serde_json::from_slice(&answer_json(&whole, &meta(), &usage)).unwrap();
    assert_eq!(
        json,
        json!({"candidates": [{"content": {"role": "model", "parts": [
                {"text": "Hmm.", "thought": true},
                {"text": "Let me ", "thoughtSignature": thought_signature("Hmm.", "sig")},
                {"text": "check."},
                {"functionCall": {"id": "toolu_1", "name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"id": "toolu_2", "name": "now", "args": {}}}]},
            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                "totalTokenCount": 15, "cachedContentTokenCount": 4},
            "modelVersion": "claude-sonnet-4.6", "responseId": "chatcmpl-gw123"})
    );
}

#[test]
fn each_finish_reads_as_gemini_says_it() {
    for (finish, reason) in [
        (Finish::Stop, "STOP"),
        (Finish::ToolCalls, "STOP"),
        (Finish::Length, "MAX_TOKENS"),
        (Finish::ContentFilter, "SAFETY"),
    ] {
        let json = answer(vec![Part::Text("x".into())], finish);
        assert_eq!(json["candidates"][0]["finishReason"], reason);
        assert!(json["candidates"][0].get("finishMessage").is_none());
        assert!(json["usageMetadata"]
            .get("cachedContentTokenCount")
            .is_none());
    }
    let empty = answer(Vec::new(), Finish::Length);
    assert_eq!(
        empty["candidates"][0]["content"]["parts"],
        json!([{"text": ""}])
    );
}

#[test]
fn calls_whose_arguments_are_no_object_are_dropped_and_reported() {
    let cut = vec![
        Part::Text("Writing.".into()),
        Part::tool_call(
            "toolu_1",
            "write_file",
            r#"{"path": "a.txt", "content": "hal"#,
        ),
        Part::tool_call("toolu_2", "now", "{} trailing text"),
    ];
    let stopped = answer(cut.clone(), Finish::ToolCalls);
    let candidate = &stopped["candidates"][0];
    assert_eq!(candidate["finishReason"], "MALFORMED_FUNCTION_CALL");
    assert!(candidate["finishMessage"]
        .as_str()
        .unwrap()
        .contains("`write_file`"));
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"text": "Writing."}, {"functionCall": {"id": "toolu_2", "name": "now", "args": {}}}])
    );
    assert_eq!(
        answer(cut, Finish::Length)["candidates"][0]["finishReason"],
        "MAX_TOKENS"
    );
    for arguments in ["[1, 2]", "\"text\"", "nul", "{\"a\": 1"] {
        assert_eq!(CallArguments::whole(arguments), None, "{arguments}");
    }
}

#[test]
fn signatures_go_on_the_next_part_or_stand_alone() {
    let signed = |text: &str, sig: &str| Part::Thinking {
        text: text.into(),
        signature: Some(sig.into()),
    };
    let json = answer(
        vec![
            signed("A.", "s1"),
            signed("B.", "s2"),
            Part::tool_call("c", "f", "{}"),
            signed("", "s3"),
        ],
        Finish::Stop,
    );
    assert_eq!(
        json["candidates"][0]["content"]["parts"],
        json!([
            {"text": "A.", "thought": true},
            {"text": "", "thought": true, "thoughtSignature": thought_signature("A.", "s1")},
            {"text": "B.", "thought": true},
            {"functionCall": {"id": "c", "name": "f", "args": {}}, "thoughtSignature": thought_signature("B.", "s2")},
            {"text": "", "thought": true, "thoughtSignature": thought_signature("", "s3")},
        ])
    );
}

#[test]
fn call_arguments_complete_when_their_first_object_closes() {
    let mut arguments = CallArguments::default();
    for fragment in ["  {\"a\": \"}", "\\\"{\", \"b\": [1, {\"c\"", ": 2}]"] {
        arguments.push(fragment);
        assert!(arguments.complete().is_none());
    }
    arguments.push("}");
    assert_eq!(
        arguments.complete(),
        json!({"a": "}\"{", "b": [1, {"c": 2}]}).as_object()
    );
    arguments.push("garbage");
    assert!(arguments.complete().is_some());
    assert_eq!(CallArguments::whole(" \n"), Some(Map::new()));
    assert_eq!(CallArguments::whole("{\"a\": [}"), None);
    assert_eq!(CallArguments::whole("x{}"), None);
}

// --- errors --------------------------------------------------------------------------

#[test]
fn errors_take_googles_envelope() {
    let json: Value = serde_json::from_slice(&error_json(&ApiError::invalid(
        "contents[0].parts[0]",
        "A part needs text",
    )))
    .unwrap();
    assert_eq!(
        json,
        json!({"error": {"code": 400, "message": "A part needs text", "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "INVALID_REQUEST_ERROR", "domain": "argo-bridge"},
                {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [
                    {"field": "contents[0].parts[0]", "description": "A part needs text"}]}]}})
    );
    let mut limited = ApiError::rate_limited("slow down");
    limited.retry_after = Some("7".into());
    let json: Value = serde_json::from_slice(&error_json(&limited)).unwrap();
    assert_eq!(json["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(json["error"]["details"][0]["reason"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(
        json["error"]["details"][1],
        json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"})
    );
    for (status, name) in [
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (405, "INVALID_ARGUMENT"),
        (413, "INVALID_ARGUMENT"),
        (500, "INTERNAL"),
        (502, "UNAVAILABLE"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ] {
        let json: Value =
            serde_json::from_slice(&error_json(&ApiError::new(status, "x", "m"))).unwrap();
        assert_eq!(
            (
                json["error"]["code"].as_u64(),
                json["error"]["status"].as_str()
            ),
            (Some(status as u64), Some(name))
        );
    }
}

#[test]
fn a_mid_stream_error_is_the_last_response() {
    for framing in [Framing::Sse, Framing::JsonArray] {
        let mut encoder = encoder(&meta(), framing);
        let mut out = Vec::new();
        encoder.start(&mut out);
        encoder.event(&mut out, &Event::TextDelta("Hi".into()));
        encoder.error(&mut out, &ApiError::gateway_timeout("Argo went quiet"));
        let responses = responses(&out, framing);
        assert_eq!(responses.len(), 2);
        assert_eq!(
            responses[0]["candidates"][0]["content"]["parts"][0]["text"],
            "Hi"
        );
        let error = &responses[1];
        assert_eq!(
            error.as_object().map(Map::len),
            Some(1),
            "only `error`: {error}"
        );
        assert_eq!(error["error"]["code"], 504);
        assert_eq!(error["error"]["status"], "DEADLINE_EXCEEDED");
    }
    let mut encoder = encoder(&meta(), Framing::Sse);
    let mut out = Vec::new();
    encoder.error(&mut out, &ApiError::bad_gateway("cut"));
    assert!(
        out.starts_with(b"data: {\"error\":"),
        "the Python SDK looks for this"
    );
}

// --- streams -------------------------------------------------------------------------

pub(crate) fn responses(out: &[u8], framing: Framing) -> Vec<Value> {
    match framing {
        Framing::Sse => sse_payloads(out),
        Framing::JsonArray => serde_json::from_slice(out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out))),
    }
}

pub(crate) fn encode(events: &[Event], framing: Framing, finish: Finish) -> Vec<u8> {
    let mut encoder = encoder(&meta(), framing);
    let mut out = Vec::new();
    encoder.start(&mut out);
    for event in events {
        encoder.event(&mut out, event);
    }
    Encoder::finish(&mut encoder, &mut out, finish, Usage::new(3, 4));
    out
}

/// What a valid stream carries, checked response by response.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Streamed {
    pub(crate) text: String,
    pub(crate) thoughts: String,
    pub(crate) signed: Vec<SignedThinking>,
    /// `(id, name, args)` in the order sent.
    pub(crate) calls: Vec<(String, String, Value)>,
    pub(crate) finish_reason: String,
    pub(crate) usage: Value,
}

pub(crate) fn check_stream(responses: &[Value]) -> Streamed {
    let mut streamed = Streamed::default();
    let (last, chunks) = responses.split_last().expect("a last response");
    for response in responses {
        assert_eq!(response["modelVersion"], "claude-sonnet-4.6");
        assert_eq!(response["responseId"], "chatcmpl-gw123");
        let candidates = response["candidates"].as_array().expect("candidates");
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0]["index"], 0);
        assert_eq!(candidates[0]["content"]["role"], "model");
        let parts = candidates[0]["content"]["parts"].as_array().expect("parts");
        assert!(!parts.is_empty(), "every response has a part: {response}");
        for part in parts {
            read_streamed_part(part, &mut streamed, std::ptr::eq(response, last));
        }
    }
    for chunk in chunks {
        assert!(chunk["candidates"][0].get("finishReason").is_none());
        assert!(chunk.get("usageMetadata").is_none());
    }
    streamed.finish_reason = last["candidates"][0]["finishReason"]
        .as_str()
        .expect("a finish reason")
        .into();
    streamed.usage = last["usageMetadata"].clone();
    streamed
}

fn read_streamed_part(part: &Value, streamed: &mut Streamed, in_last: bool) {
    if let Some(signature) = part["thoughtSignature"].as_str() {
        streamed
            .signed
            .push(open_thought_signature(signature).expect("a gateway signature"));
    }
    if let Some(call) = part.get("functionCall") {
        assert!(part.get("text").is_none());
        assert!(call["args"].is_object());
        streamed.calls.push((
            call["id"].as_str().unwrap().into(),
            call["name"].as_str().unwrap().into(),
            call["args"].clone(),
        ));
        return;
    }
    let text = part["text"].as_str().expect("a text or call part");
    if part["thought"] == true {
        streamed.thoughts.push_str(text);
    } else {
        assert!(
            !text.is_empty() || in_last,
            "no empty text but the closing one"
        );
        streamed.text.push_str(text);
    }
}

/// What the encoder should send for `events`: signed blocks end at anything but their
/// signature, calls are whole.
pub(crate) fn expected(events: &[Event]) -> (Streamed, usize) {
    let mut streamed = Streamed::default();
    let mut block: Option<(String, Option<String>)> = None;
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let seal = |block: &mut Option<(String, Option<String>)>, signed: &mut Vec<SignedThinking>| {
        if let Some((thinking, Some(signature))) = block.take_if(|(_, sig)| sig.is_some()) {
            signed.push(SignedThinking {
                thinking,
                signature,
            });
        }
    };
    for event in events {
        match event {
            Event::TextDelta(text) => {
                streamed.text.push_str(text);
                seal(&mut block, &mut streamed.signed);
                block = None;
            }
            Event::ThinkingDelta(text) => {
                streamed.thoughts.push_str(text);
                seal(&mut block, &mut streamed.signed);
                block.get_or_insert_with(Default::default).0.push_str(text);
            }
            Event::ThinkingSignature(signature) if !signature.is_empty() => block
                .get_or_insert_with(Default::default)
                .1
                .get_or_insert_with(String::new)
                .push_str(signature),
            Event::ToolCallStart { id, name, .. } => {
                seal(&mut block, &mut streamed.signed);
                block = None;
                calls.push((id.clone(), name.clone(), String::new()));
            }
            Event::ToolCallArguments { index, fragment } => {
                seal(&mut block, &mut streamed.signed);
                calls[*index].2.push_str(fragment);
            }
            _ => {}
        }
    }
    seal(&mut block, &mut streamed.signed);
    let mut malformed = 0;
    for (id, name, arguments) in calls {
        match first_object(&arguments) {
            Some(args) => streamed.calls.push((id, name, args)),
            None => malformed += 1,
        }
    }
    (streamed, malformed)
}

/// serde_json's reading of an argument text, independent of the encoder's scanner.
pub(crate) fn first_object(text: &str) -> Option<Value> {
    if text.bytes().all(|byte| b" \t\r\n".contains(&byte)) {
        return Some(json!({}));
    }
    match serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .next()
    {
        Some(Ok(object @ Value::Object(_))) => Some(object),
        _ => None,
    }
}

pub(crate) fn translate(
    decoder: impl crate::translate::Decoder + 'static,
    framing: Framing,
    pieces: &[&[u8]],
) -> Vec<u8> {
    relay(
        &mut StreamTranslation::new(decoder, encoder(&meta(), framing)),
        pieces,
    )
}

#[test]
fn calls_without_closing_arguments_go_out_with_the_finish() {
    let events = [
        Event::ToolCallStart {
            index: 0,
            id: "toolu_1".into(),
            name: "now".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: String::new(),
        },
        Event::ToolCallStart {
            index: 1,
            id: "toolu_2".into(),
            name: "f".into(),
        },
        Event::ToolCallArguments {
            index: 1,
            fragment: "{\"a\":".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: " ".into(),
        },
        Event::ToolCallArguments {
            index: 1,
            fragment: "1}".into(),
        },
    ];
    let responses = sse_payloads(&encode(&events, Framing::Sse, Finish::ToolCalls));
    assert_eq!(responses.len(), 2);
    assert_eq!(
        responses[0]["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"id": "toolu_2", "name": "f", "args": {"a": 1}}}])
    );
    assert_eq!(
        responses[1]["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"id": "toolu_1", "name": "now", "args": {}}}])
    );
    assert_eq!(responses[1]["candidates"][0]["finishReason"], "STOP");
}

#[test]
fn a_replayed_answer_streams_what_answer_json_holds() {
    let whole = Answer {
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
    let mut encoder = encoder(&meta(), Framing::Sse);
    let out = crate::translate::replay(&mut encoder, &whole, Usage::new(5, 6));
    let streamed = check_stream(&sse_payloads(&out));
    let json: Value =
        serde_json::from_slice(&answer_json(&whole, &meta(), &Usage::new(5, 6))).unwrap();
    let single = check_stream(&[json]);
    assert_eq!(streamed, single);
}

/// The stream's parts recorded as the Python SDK records them (a content per response)
/// and read back: the assistant turn.
fn read_back(responses: &[Value]) -> Vec<Part> {
    let mut contents = vec![user("hi")];
    contents.extend(
        responses
            .iter()
            .map(|response| response["candidates"][0]["content"].clone()),
    );
    let conversation = read(json!({ "contents": contents }));
    conversation
        .messages
        .into_iter()
        .nth(1)
        .map(|message| message.content)
        .unwrap_or_default()
}

fn sorted(mut calls: Vec<(String, String, Value)>) -> Vec<(String, String, Value)> {
    calls.sort_by(|a, b| a.0.cmp(&b.0));
    calls
}

const FINISHES: [Finish; 4] = [
    Finish::Stop,
    Finish::Length,
    Finish::ToolCalls,
    Finish::ContentFilter,
];

proptest! {
    /// The awaited calls answer as a list scanned for the first call with the response's
    /// id, else its name, did.
    #[test]
    fn awaited_calls_answer_as_a_scan_of_the_list_did(
        calls in prop::collection::vec((prop::option::of(0u8..3), 0u8..3), 0..8),
        responses in prop::collection::vec((prop::option::of(0u8..4), 0u8..4), 0..10),
    ) {
        let mut awaited = AwaitedCalls::default();
        let mut listed: Vec<(Option<String>, String, String)> = Vec::new();
        for (position, (id, name)) in calls.iter().enumerate() {
            let (id, name) = (id.map(|id| format!("id{id}")), format!("f{name}"));
            awaited.push(id.clone(), format!("hub{position}"), &name);
            listed.push((id, format!("hub{position}"), name));
        }
        for (id, name) in responses {
            let (id, name) = (id.map(|id| format!("id{id}")), format!("f{name}"));
            let by_id = id.as_deref().and_then(|id| {
                listed.iter().position(|(client_id, ..)| client_id.as_deref() == Some(id))
            });
            let scanned = by_id
                .or_else(|| listed.iter().position(|(.., listed_name)| *listed_name == name))
                .map(|position| listed.remove(position).1);
            prop_assert_eq!(awaited.answer(id.as_deref(), &name), scanned);
        }
    }
    #[test]
    fn any_event_sequence_gives_a_valid_response_stream(
        events in canonical_events(),
        finish in 0usize..4,
        array in any::<bool>(),
    ) {
        let framing = if array { Framing::JsonArray } else { Framing::Sse };
        let finish = FINISHES[finish];
        let out = encode(&events, framing, finish);
        let responses = responses(&out, framing);
        let streamed = check_stream(&responses);
        let (expected, malformed) = expected(&events);
        prop_assert_eq!(&streamed.text, &expected.text);
        prop_assert_eq!(&streamed.thoughts, &expected.thoughts);
        prop_assert_eq!(&streamed.signed, &expected.signed);
        prop_assert_eq!(sorted(streamed.calls.clone()), sorted(expected.calls.clone()));
        let reason = match finish {
            Finish::Length => "MAX_TOKENS",
            Finish::ContentFilter => "SAFETY",
            _ if malformed > 0 => "MALFORMED_FUNCTION_CALL",
            _ => "STOP",
        };
        prop_assert_eq!(&streamed.finish_reason, reason);
        prop_assert_eq!(&streamed.usage, &json!({"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7}));

        let turn = read_back(&responses);
        let signed: Vec<SignedThinking> = turn.iter().filter_map(|part| match part {
            Part::Thinking { text, signature: Some(signature) } =>
                Some(SignedThinking { thinking: text.clone(), signature: signature.clone() }),
            _ => None,
        }).collect();
        prop_assert_eq!(&signed, &expected.signed);
        let text: String = turn.iter().filter_map(|part| match part {
            Part::Text(text) => Some(text.as_str()),
            _ => None,
        }).collect();
        prop_assert_eq!(&text, &expected.text);
        let calls: Vec<(String, String, Value)> = turn.iter().filter_map(|part| match part {
            Part::ToolCall { id, name, arguments } =>
                Some((id.clone(), name.clone(), serde_json::from_str(arguments).unwrap())),
            _ => None,
        }).collect();
        prop_assert_eq!(calls, streamed.calls);
    }

    #[test]
    fn the_scanner_reads_arguments_as_serde_does(
        value in prop::collection::vec(("[a-z\"\\\\{}]{0,3}", any::<u8>()), 0..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        prefix in "[ {\\[\"a]{0,2}",
        suffix in "[ }\\]\"x]{0,3}",
    ) {
        let object: Map<String, Value> = value.into_iter().map(|(key, n)| (key, Value::from(n))).collect();
        for text in [
            format!("{prefix}{}{suffix}", Value::Object(object.clone())),
            format!("{}{suffix}", Value::Object(object.clone())),
            format!("{prefix}{suffix}"),
        ] {
            let mut arguments = CallArguments::default();
            for piece in split(text.as_bytes(), &cuts) {
                // Cut between characters only: fragments are strings.
                arguments.push(std::str::from_utf8(piece).unwrap());
            }
            let scanned = arguments.finish().cloned().map(Value::Object);
            prop_assert_eq!(scanned, first_object(&text), "{}", text);
        }
    }
}
