use super::answer::*;
use super::encoder::*;
use super::errors::*;
use super::items::*;
use super::request::*;
use super::tools::*;

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::fixtures::{self, canonical_events};
use crate::hub::{
    Aggregator, Answer, Conversation, Dialect, Event, Finish, Message, Part, Role, ToolChoice,
    ToolDef, Usage,
};
use crate::openai::ResponseMeta;
use crate::tools::namespaces;
use crate::translate::{replay, Encoder};

pub(crate) fn meta() -> ResponseMeta {
    ResponseMeta {
        id: "resp-gw123".into(),
        ..fixtures::meta()
    }
}

/// The conversation, and the custom tools.
pub(crate) fn read_custom(body: Value) -> (Conversation, ClientTools) {
    let (conversation, model, custom_tools) = read_request(body.to_string().as_bytes()).unwrap();
    assert_eq!(model, "gpt-5");
    assert_eq!(conversation.origin, Dialect::OpenAiResponses);
    (conversation, custom_tools)
}

/// The conversation of a request without custom tools.
pub(crate) fn read(body: Value) -> Conversation {
    let (conversation, custom_tools) = read_custom(body);
    assert!(custom_tools.is_empty());
    conversation
}

pub(crate) fn no_custom() -> ClientTools {
    ClientTools::default()
}

fn read_error(body: Value) -> ApiError {
    read_request(body.to_string().as_bytes()).unwrap_err()
}

#[test]
fn a_string_input_is_one_user_message_after_the_instructions() {
    let conversation =
        read(json!({"model": "gpt-5", "input": "Hello", "instructions": "Be brief."}));
    assert_eq!(
        conversation.messages,
        vec![
            Message::text(Role::System, "Be brief."),
            Message::text(Role::User, "Hello")
        ]
    );
    assert!(!conversation.stream && conversation.include_usage);
    assert!(conversation.tools.is_empty() && conversation.tool_choice.is_none());
    assert!(conversation.response_format.is_none() && conversation.extra.is_empty());
    let bare = read(json!({"model": "gpt-5", "input": "Hi", "instructions": ""}));
    assert_eq!(bare.messages, vec![Message::text(Role::User, "Hi")]);
}

#[test]
fn items_of_every_kind_are_read_and_assistant_items_join_one_turn() {
    let conversation = read(json!({"model": "gpt-5", "input": [
        {"role": "system", "content": "Rules."},
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "French."}]},
        {"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "https://example.org/cat.jpg", "detail": "low"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "A cat."}], "encrypted_content": "sig"},
        {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "Checking.", "annotations": []}, {"type": "refusal", "refusal": "No."}]},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "look", "arguments": "{\"at\":\"cat\"}"},
        {"type": "function_call", "call_id": "call_2", "name": "zoom", "arguments": {"level": 2}},
        {"type": "function_call_output", "call_id": "call_1", "output": "a cat"},
        {"type": "function_call_output", "call_id": "call_2", "output": [
            {"type": "input_text", "text": "zoomed"}, {"type": "input_text", "text": "in"},
            {"type": "input_image", "image_url": "data:image/png;base64,BBBB"}]},
        {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "Raw."}]},
        {"role": "assistant", "content": "It is a cat."},
        {"role": "user", "content": "Thanks"}]}));
    let result = |call_id: &str, content: &str| {
        Message::new(
            Role::Tool,
            vec![Part::ToolResult {
                call_id: call_id.into(),
                content: content.into(),
                is_error: false,
            }],
        )
    };
    assert_eq!(
        conversation.messages,
        vec![
            Message::text(Role::System, "Rules."),
            Message::text(Role::Developer, "French."),
            Message::new(
                Role::User,
                vec![
                    Part::Text("What is this?".into()),
                    Part::Image {
                        url: "https://example.org/cat.jpg".into(),
                        detail: Some("low".into())
                    },
                    Part::Image {
                        url: "data:image/png;base64,AAAA".into(),
                        detail: None
                    },
                ]
            ),
            Message::new(
                Role::Assistant,
                vec![
                    Part::Thinking {
                        text: "A cat.".into(),
                        signature: Some("sig".into())
                    },
                    Part::Text("Checking.".into()),
                    Part::Text("No.".into()),
                    Part::tool_call("call_1", "look", r#"{"at":"cat"}"#),
                    Part::tool_call("call_2", "zoom", r#"{"level":2}"#),
                ]
            ),
            result("call_1", "a cat"),
            result("call_2", "zoomed\nin"),
            Message::new(
                Role::User,
                vec![Part::Image {
                    url: "data:image/png;base64,BBBB".into(),
                    detail: None
                }]
            ),
            Message::new(
                Role::Assistant,
                vec![
                    Part::Thinking {
                        text: "Raw.".into(),
                        signature: None
                    },
                    Part::Text("It is a cat.".into()),
                ]
            ),
            Message::text(Role::User, "Thanks"),
        ]
    );
}

/// What Codex CLI sends each turn: its instructions, the whole conversation (developer and
/// user context messages, reasoning with its encrypted content, calls and outputs), function
/// tools, `apply_patch` as a custom tool (gpt-5 family), web search, `store: false`,
/// `include`, a cache key.
#[test]
fn a_codex_turn_is_read_whole() {
    let (conversation, custom_tools) = read_custom(json!({
        "model": "gpt-5",
        "instructions": "You are Codex, a coding agent.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "<permissions instructions>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>cwd</environment_context>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list the files"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "**Listing**"}], "content": null, "encrypted_content": "EvUB"},
            {"type": "function_call", "name": "shell", "arguments": "{\"command\":[\"ls\"]}", "call_id": "toolu_1"},
            {"type": "function_call_output", "call_id": "toolu_1", "output": "a.txt\nb.txt"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Two files."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "thanks"}]}
        ],
        "tools": [{"type": "function", "name": "shell", "description": "Runs a command", "strict": false,
            "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                "required": ["command"], "additionalProperties": false}},
            {"type": "custom", "name": "apply_patch", "description": "Use the `apply_patch` tool to edit files.",
                "format": {"type": "grammar", "syntax": "lark", "definition": LARK}},
            {"type": "web_search", "external_web_access": false}],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "019a2b"
    }));
    assert_eq!(conversation.messages.len(), 8);
    assert_eq!(
        conversation.messages[0],
        Message::text(Role::System, "You are Codex, a coding agent.")
    );
    assert_eq!(
        conversation.messages[4].content,
        vec![
            Part::Thinking {
                text: "**Listing**".into(),
                signature: Some("EvUB".into())
            },
            Part::tool_call("toolu_1", "shell", r#"{"command":["ls"]}"#),
        ]
    );
    assert_eq!(conversation.messages[5].role, Role::Tool);
    assert_eq!(conversation.tools[0].name, "shell");
    assert_eq!(conversation.tools[0].strict, Some(false));
    assert_eq!(conversation.tools.len(), 2);
    assert_eq!(conversation.tools[1].name, "apply_patch");
    assert_eq!(custom_tools, ClientTools::from_iter(["apply_patch"]));
    assert_eq!(conversation.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(conversation.parallel_tool_calls, Some(false));
    assert_eq!(conversation.reasoning_effort.as_deref(), Some("medium"));
    assert!(conversation.stream && conversation.extra.is_empty());
}

#[test]
fn parameters_tools_and_formats_are_read_and_unknown_fields_ignored() {
    let conversation = read(json!({"model": "gpt-5", "input": "hi",
        "tools": [{"type": "function", "name": "f", "description": "F", "parameters": {"type": "object"}, "strict": true},
            {"type": "function", "name": "g"}],
        "tool_choice": {"type": "function", "name": "g"}, "parallel_tool_calls": true,
        "max_output_tokens": 100, "temperature": 0.5, "top_p": 0.9, "reasoning": {"effort": "high"},
        "text": {"format": {"type": "json_schema", "name": "answer", "strict": true,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}, "verbosity": "low"},
        "previous_response_id": null, "truncation": "auto", "metadata": {"run": "7"}, "user": "mallory",
        "service_tier": "auto", "top_logprobs": 2, "max_tool_calls": 3}));
    assert_eq!(
        conversation.tools,
        vec![
            ToolDef {
                name: "f".into(),
                description: Some("F".into()),
                parameters: json!({"type": "object"}),
                strict: Some(true)
            },
            ToolDef {
                name: "g".into(),
                description: None,
                parameters: Value::Null,
                strict: None
            },
        ]
    );
    assert_eq!(
        conversation.tool_choice,
        Some(ToolChoice::Named("g".into()))
    );
    assert_eq!(conversation.parallel_tool_calls, Some(true));
    assert_eq!(conversation.max_tokens, Some(100));
    assert_eq!(
        (conversation.temperature, conversation.top_p),
        (Some(0.5), Some(0.9))
    );
    assert_eq!(conversation.reasoning_effort.as_deref(), Some("high"));
    assert_eq!(
        conversation.response_format,
        Some(
            json!({"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}})
        )
    );
    assert!(conversation.extra.is_empty() && conversation.stop.is_empty());
}

#[test]
fn tool_choice_takes_every_mode_and_allowed_tools_narrows_the_tools() {
    let tools = json!([{"type": "function", "name": "f"}, {"type": "function", "name": "g"}]);
    for (choice, expected) in [
        (json!("auto"), ToolChoice::Auto),
        (json!("none"), ToolChoice::None),
        (json!("required"), ToolChoice::Required),
    ] {
        let conversation =
            read(json!({"model": "gpt-5", "input": "hi", "tools": tools, "tool_choice": choice}));
        assert_eq!(conversation.tool_choice, Some(expected));
        assert_eq!(conversation.tools.len(), 2);
    }
    let allowed = read(json!({"model": "gpt-5", "input": "hi", "tools": tools,
        "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "g"}]}}));
    assert_eq!(allowed.tool_choice, Some(ToolChoice::Required));
    assert_eq!(allowed.tools.len(), 1);
    assert_eq!(allowed.tools[0].name, "g");
    let without_tools = read(json!({"model": "gpt-5", "input": "hi", "tool_choice": "none"}));
    assert_eq!(without_tools.tool_choice, Some(ToolChoice::None));
}

#[test]
fn text_formats_become_chat_response_formats() {
    let format = |format: Value| {
        read(json!({"model": "gpt-5", "input": "hi", "text": {"format": format}})).response_format
    };
    assert_eq!(format(json!({"type": "text"})), None);
    assert_eq!(format(Value::Null), None);
    assert_eq!(
        format(json!({"type": "json_object"})),
        Some(json!({"type": "json_object"}))
    );
    assert_eq!(
        format(
            json!({"type": "json_schema", "name": "n", "description": "d", "schema": {"type": "object"}})
        ),
        Some(
            json!({"type": "json_schema", "json_schema": {"name": "n", "description": "d", "schema": {"type": "object"}}})
        )
    );
}

#[test]
fn stored_state_is_refused_with_the_stateless_advice() {
    for (field, value) in [
        ("previous_response_id", json!("resp_1")),
        ("store", json!(true)),
        ("background", json!(true)),
        ("conversation", json!("conv_1")),
        ("prompt", json!({"id": "pmpt_1"})),
    ] {
        let mut body = json!({"model": "gpt-5", "input": "hi"});
        body[field] = value;
        let error = read_error(body);
        assert_eq!(
            (error.status, error.param.as_deref()),
            (400, Some(field)),
            "{field}"
        );
        assert!(error.message.contains("store: false"), "{}", error.message);
    }
    for store in [json!(false), Value::Null] {
        read(json!({"model": "gpt-5", "input": "hi", "store": store, "background": false}));
    }
}

#[test]
fn what_cannot_be_served_is_refused_naming_the_field() {
    let hi = json!([{"role": "user", "content": "hi"}]);
    for (body, param) in [
        (json!({"model": "gpt-5"}), "input"),
        (json!({"model": "gpt-5", "input": []}), "input"),
        (json!({"model": "gpt-5", "input": 3}), "input"),
        (json!({"input": "hi"}), "model"),
        (
            json!({"model": "gpt-5", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0].id",
        ),
        (
            json!({"model": "gpt-5", "input": [{"id": "msg_1"}]}),
            "input[0].id",
        ),
        (
            json!({"model": "gpt-5", "input": [{"type": "local_shell_call", "call_id": "c"}]}),
            "input[0].type",
        ),
        (
            json!({"model": "gpt-5", "input": [{"type": 7}]}),
            "input[0].type",
        ),
        (json!({"model": "gpt-5", "input": ["hi"]}), "input[0]"),
        (
            json!({"model": "gpt-5", "input": [{"role": "tool", "content": "x"}]}),
            "input[0].role",
        ),
        (
            json!({"model": "gpt-5", "input": [{"role": "user", "content": 1}]}),
            "input[0].content",
        ),
        (
            json!({"model": "gpt-5", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"model": "gpt-5", "input": [{"role": "user", "content": [{"type": "input_audio"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"model": "gpt-5", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}),
            "input[0].content[0].image_url",
        ),
        (
            json!({"model": "gpt-5", "input": [{"role": "user", "content": [{"text": "no type"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"model": "gpt-5", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}),
            "input[0].call_id",
        ),
        (
            json!({"model": "gpt-5", "input": [{"type": "function_call_output", "call_id": "c"}]}),
            "input[0].output",
        ),
        (
            json!({"model": "gpt-5", "input": [{"type": "reasoning", "summary": [], "encrypted_content": 5}]}),
            "input[0].encrypted_content",
        ),
        (
            json!({"model": "gpt-5", "input": [{"type": "custom_tool_call", "call_id": "c", "name": "p"}]}),
            "input[0].input",
        ),
        (
            json!({"model": "gpt-5", "input": [{"type": "custom_tool_call", "call_id": "c", "input": "x"}]}),
            "input[0].name",
        ),
        (
            json!({"model": "gpt-5", "input": [{"type": "custom_tool_call_output", "output": "x"}]}),
            "input[0].call_id",
        ),
        (
            json!({"model": "gpt-5", "input": [{"type": "custom_tool_call_output", "call_id": "c", "output": 1}]}),
            "input[0].output",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "custom", "name": "apply patch"}]}),
            "tools[0].name",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "custom", "name": "p", "description": 3}]}),
            "tools[0].description",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "custom", "name": "p", "format": {"type": "json"}}]}),
            "tools[0].format.type",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "custom", "name": "p", "format": {"type": "grammar", "syntax": "ebnf", "definition": "x"}}]}),
            "tools[0].format.syntax",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "custom", "name": "p", "format": {"type": "grammar", "syntax": "lark"}}]}),
            "tools[0].format.definition",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "function", "name": "p"}, {"type": "custom", "name": "p"}]}),
            "tools[1].name",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "custom", "name": "p"}], "tool_choice": {"type": "custom", "name": "q"}}),
            "tool_choice.name",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "function", "name": "bad name"}]}),
            "tools[0].name",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "function", "name": "f", "parameters": "x"}]}),
            "tools[0].parameters",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "function", "name": "f"}, {"type": "function", "name": "f"}]}),
            "tools[1].name",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"name": "f"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tool_choice": "required"}),
            "tool_choice",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tool_choice": "sometimes"}),
            "tool_choice",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "function", "name": "g"}}),
            "tool_choice.name",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "file_search"}}),
            "tool_choice.type",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "mcp", "server_label": "s"}]}}),
            "tool_choice.tools[0].type",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "temperature": 3}),
            "temperature",
        ),
        (json!({"model": "gpt-5", "input": hi, "top_p": -1}), "top_p"),
        (
            json!({"model": "gpt-5", "input": hi, "max_output_tokens": "many"}),
            "max_output_tokens",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "text": {"format": {"type": "json_schema", "schema": {}}}}),
            "text.format.name",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "text": {"format": {"type": "json_schema", "name": "n"}}}),
            "text.format.schema",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "text": {"format": {"type": "yaml"}}}),
            "text.format.type",
        ),
        (
            json!({"model": "gpt-5", "input": hi, "text": {"format": "json"}}),
            "text.format",
        ),
    ] {
        let error = read_error(body.clone());
        assert_eq!(
            (error.status, error.param.as_deref()),
            (400, Some(param)),
            "{body}: {}",
            error.message
        );
    }
}

#[test]
fn web_search_and_tool_search_tools_are_dropped_and_other_hosted_tools_refused_by_name() {
    for kind in [
        "web_search",
        "web_search_2025_08_26",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "tool_search",
    ] {
        let conversation = read(json!({"model": "gpt-5", "input": "hi",
            "tools": [{"type": "function", "name": "shell"}, {"type": kind, "external_web_access": false}]}));
        let names: Vec<&str> = conversation
            .tools
            .iter()
            .map(|tool| tool.name.as_str())
            .collect();
        assert_eq!(names, ["shell"], "{kind}");
    }
    let only_search = read(json!({"model": "gpt-5", "input": "hi",
        "tools": [{"type": "web_search"}], "tool_choice": "auto"}));
    assert!(!only_search.offers_tools());
    assert_eq!(only_search.tool_choice, Some(ToolChoice::Auto));
    let allowed = read(json!({"model": "gpt-5", "input": "hi",
        "tools": [{"type": "function", "name": "f"}, {"type": "web_search"}],
        "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "web_search"}, {"type": "function", "name": "f"}]}}));
    assert_eq!(allowed.tools.len(), 1);
    let forced = read_error(json!({"model": "gpt-5", "input": "hi",
        "tools": [{"type": "web_search_preview"}], "tool_choice": {"type": "web_search_preview"}}));
    assert_eq!(forced.param.as_deref(), Some("tool_choice.type"));
    assert!(
        forced.message.contains("`web_search_preview`"),
        "{}",
        forced.message
    );
    for kind in [
        "file_search",
        "computer_use_preview",
        "code_interpreter",
        "mcp",
        "image_generation",
        "local_shell",
        "shell",
        "apply_patch",
    ] {
        let error = read_error(
            json!({"model": "gpt-5", "input": "hi", "tools": [{"type": kind, "name": "x"}]}),
        );
        assert_eq!(error.param.as_deref(), Some("tools[0].type"), "{kind}");
        assert!(error.message.contains(&format!("`{kind}`")), "{kind}");
    }
}

/// A grammar as Codex sends one for `apply_patch` (shortened).
pub(crate) const LARK: &str = "start: begin_patch hunk+ end_patch\nbegin_patch: \"*** Begin Patch\" LF\nend_patch: \"*** End Patch\" LF?\n%import common.LF";

/// A patch with what JSON escapes: newlines, quotes, a backslash, a tab, non-ASCII.
pub(crate) const PATCH: &str = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-let s = \"a\\b\";\n+let s = \"\té 🦀\";\n*** End Patch\n";

pub(crate) fn custom(names: &[&str]) -> ClientTools {
    names.iter().copied().collect()
}

/// The function schema a custom tool is offered with.
pub(crate) fn input_schema() -> Value {
    json!({"type": "object",
        "properties": {"input": {"type": "string", "description": "The tool's whole input, as plain text"}},
        "required": ["input"], "additionalProperties": false})
}

#[test]
fn custom_tools_are_offered_as_functions_taking_their_input_as_one_string() {
    let (conversation, custom_tools) = read_custom(
        json!({"model": "gpt-5", "input": "hi", "tools": [
        {"type": "function", "name": "shell", "parameters": {"type": "object"}},
        {"type": "custom", "name": "apply_patch", "description": "Edits files.",
            "format": {"type": "grammar", "syntax": "lark", "definition": LARK}},
        {"type": "custom", "name": "note", "format": {"type": "text"}},
        {"type": "custom", "name": "digits", "description": "A number.",
            "format": {"type": "grammar", "syntax": "regex", "definition": "\\d+"}},
        {"type": "custom", "name": "free", "description": "Anything.", "format": null},
        {"type": "custom", "name": "grammar_only", "format": {"type": "grammar", "syntax": "regex", "definition": "a|b"}}]}),
    );
    assert_eq!(
        custom_tools,
        custom(&["apply_patch", "note", "digits", "free", "grammar_only"])
    );
    assert!(!custom_tools.contains("shell"));
    assert_eq!(
        conversation.tools[1],
        ToolDef {
            name: "apply_patch".into(),
            description: Some(format!(
                "Edits files.\n\n`input` must match this Lark grammar:\n{LARK}"
            )),
            parameters: input_schema(),
            strict: None,
        }
    );
    let descriptions: Vec<Option<&str>> = conversation.tools[2..]
        .iter()
        .map(|tool| tool.description.as_deref())
        .collect();
    assert_eq!(
        descriptions,
        [
            None,
            Some("A number.\n\n`input` must match this regular expression:\n\\d+"),
            Some("Anything."),
            Some("`input` must match this regular expression:\na|b"),
        ]
    );
    assert!(conversation.tools[2..]
        .iter()
        .all(|tool| tool.parameters == input_schema()));
}

#[test]
fn tool_choice_names_custom_tools_and_allowed_tools_narrows_them() {
    let tools = json!([{"type": "function", "name": "f"}, {"type": "custom", "name": "apply_patch"},
        {"type": "custom", "name": "note"}]);
    let (named, custom_tools) =
        read_custom(json!({"model": "gpt-5", "input": "hi", "tools": tools,
        "tool_choice": {"type": "custom", "name": "apply_patch"}}));
    assert_eq!(
        named.tool_choice,
        Some(ToolChoice::Named("apply_patch".into()))
    );
    assert_eq!(custom_tools, custom(&["apply_patch", "note"]));
    let (allowed, custom_tools) = read_custom(
        json!({"model": "gpt-5", "input": "hi", "tools": tools,
        "tool_choice": {"type": "allowed_tools", "mode": "required",
            "tools": [{"type": "custom", "name": "apply_patch"}, {"type": "function", "name": "f"}]}}),
    );
    assert_eq!(allowed.tool_choice, Some(ToolChoice::Required));
    let names: Vec<&str> = allowed
        .tools
        .iter()
        .map(|tool| tool.name.as_str())
        .collect();
    assert_eq!(names, ["f", "apply_patch"]);
    assert_eq!(custom_tools, custom(&["apply_patch"]));
}

#[test]
fn custom_tool_calls_and_outputs_are_read_as_calls_wrapping_their_input() {
    let conversation = read(json!({"model": "gpt-5", "input": [
        {"role": "user", "content": "fix it"},
        {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_1", "name": "apply_patch",
            "input": PATCH, "status": "completed"},
        {"type": "function_call", "call_id": "call_2", "name": "shell", "arguments": "{}"},
        {"type": "custom_tool_call_output", "call_id": "call_1", "output": "Done!"},
        {"type": "function_call_output", "call_id": "call_2", "output": "ok"},
        {"type": "custom_tool_call", "call_id": "call_3", "name": "note", "input": ""},
        {"type": "custom_tool_call_output", "id": "ctco_1", "call_id": "call_3", "output": [
            {"type": "input_text", "text": "noted"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}]}));
    let result = |call_id: &str, content: &str| {
        Message::new(
            Role::Tool,
            vec![Part::ToolResult {
                call_id: call_id.into(),
                content: content.into(),
                is_error: false,
            }],
        )
    };
    assert_eq!(
        conversation.messages,
        vec![
            Message::text(Role::User, "fix it"),
            Message::new(
                Role::Assistant,
                vec![
                    Part::tool_call("call_1", "apply_patch", json!({"input": PATCH}).to_string()),
                    Part::tool_call("call_2", "shell", "{}"),
                ]
            ),
            result("call_1", "Done!"),
            result("call_2", "ok"),
            Message::new(
                Role::Assistant,
                vec![Part::tool_call("call_3", "note", r#"{"input":""}"#)]
            ),
            result("call_3", "noted"),
            Message::new(
                Role::User,
                vec![Part::Image {
                    url: "data:image/png;base64,AAAA".into(),
                    detail: None
                }]
            ),
        ]
    );
}

pub(crate) fn usage() -> Usage {
    Usage {
        input_tokens: 10,
        output_tokens: 5,
        cached_input_tokens: Some(4),
    }
}

fn answer(content: Vec<Part>, finish: Finish) -> Answer {
    Answer {
        content,
        finish,
        usage: None,
    }
}

fn render(answer: &Answer, usage: &Usage) -> Value {
    render_custom(answer, usage, &no_custom())
}

fn render_custom(answer: &Answer, usage: &Usage, custom_tools: &ClientTools) -> Value {
    serde_json::from_slice(&answer_json(answer, &meta(), usage, custom_tools)).unwrap()
}

#[test]
fn answers_render_as_response_objects() {
    let json = render(
        &answer(
            vec![
                Part::Thinking {
                    text: "Hmm.".into(),
                    signature: Some("sig".into()),
                },
                Part::Text("Let me ".into()),
                Part::Text("check.".into()),
                Part::tool_call("call_1", "f", "{\"a\":1}"),
                Part::tool_call("call_2", "g", "{}"),
            ],
            Finish::ToolCalls,
        ),
        &usage(),
    );
    assert_eq!(
        json,
        json!({"id": "resp-gw123", "object": "response", "created_at": 1_700_000_000,
            "status": "completed", "background": false, "error": null, "incomplete_details": null,
            "instructions": null, "max_output_tokens": null, "model": "claude-sonnet-4.6",
            "output": [
                {"type": "reasoning", "id": "rs_gw123_0", "summary": [{"type": "summary_text", "text": "Hmm."}],
                    "encrypted_content": "sig", "status": "completed"},
                {"type": "message", "id": "msg_gw123_1", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
                {"type": "function_call", "id": "fc_gw123_2", "call_id": "call_1", "name": "f",
                    "arguments": "{\"a\":1}", "status": "completed"},
                {"type": "function_call", "id": "fc_gw123_3", "call_id": "call_2", "name": "g",
                    "arguments": "{}", "status": "completed"}],
            "parallel_tool_calls": true, "previous_response_id": null, "reasoning": null,
            "store": false, "temperature": null, "tool_choice": "auto", "tools": [], "top_p": null,
            "truncation": "disabled",
            "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
                "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15},
            "user": null, "metadata": {}})
    );
}

#[test]
fn each_finish_gives_its_status() {
    let text = vec![Part::Text("Hi".into())];
    for (finish, status, reason) in [
        (Finish::Stop, "completed", Value::Null),
        (Finish::ToolCalls, "completed", Value::Null),
        (
            Finish::Length,
            "incomplete",
            json!({"reason": "max_output_tokens"}),
        ),
        (
            Finish::ContentFilter,
            "incomplete",
            json!({"reason": "content_filter"}),
        ),
    ] {
        let json = render(&answer(text.clone(), finish), &Usage::new(1, 2));
        assert_eq!(json["status"], status);
        assert_eq!(json["incomplete_details"], reason);
        assert_eq!(json["output"][0]["content"][0]["text"], "Hi");
        assert_eq!(
            json["usage"],
            json!({"input_tokens": 1, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 3})
        );
    }
}

#[test]
fn unsigned_thinking_and_empty_answers_render_plainly() {
    let json = render(
        &answer(
            vec![
                Part::Thinking {
                    text: "Hmm.".into(),
                    signature: None,
                },
                Part::Image {
                    url: "https://example.org/x.png".into(),
                    detail: None,
                },
            ],
            Finish::Stop,
        ),
        &Usage::new(1, 1),
    );
    assert_eq!(
        json["output"],
        json!([{"type": "reasoning", "id": "rs_gw123_0", "status": "completed",
            "summary": [{"type": "summary_text", "text": "Hmm."}]}])
    );
    let empty = render(&answer(vec![], Finish::Stop), &Usage::new(1, 0));
    assert_eq!(empty["output"], json!([]));
}

#[test]
fn calls_of_custom_tools_render_as_custom_tool_calls_carrying_the_input() {
    let json = render_custom(
        &answer(
            vec![
                Part::Text("Patching.".into()),
                Part::tool_call("call_1", "apply_patch", json!({"input": PATCH}).to_string()),
                Part::tool_call("call_2", "shell", r#"{"command":["ls"]}"#),
                Part::tool_call("call_3", "apply_patch", r#"{"input": "x", "why": "y"}"#),
            ],
            Finish::ToolCalls,
        ),
        &usage(),
        &custom(&["apply_patch"]),
    );
    assert_eq!(
        json["output"],
        json!([
            {"type": "message", "id": "msg_gw123_0", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "Patching.", "annotations": []}]},
            {"type": "custom_tool_call", "id": "ctc_gw123_1", "call_id": "call_1", "name": "apply_patch",
                "input": PATCH, "status": "completed"},
            {"type": "function_call", "id": "fc_gw123_2", "call_id": "call_2", "name": "shell",
                "arguments": "{\"command\":[\"ls\"]}", "status": "completed"},
            {"type": "custom_tool_call", "id": "ctc_gw123_3", "call_id": "call_3", "name": "apply_patch",
                "input": "x", "status": "completed"}])
    );
}

/// When the model's arguments wrap no string `input`, the client gets what it wrote.
#[test]
fn a_custom_call_without_a_string_input_carries_the_raw_arguments() {
    for arguments in [
        "*** Begin Patch",
        r#"{"input": 5}"#,
        r#"{"patch": "x"}"#,
        r#"["x"]"#,
        r#""x""#,
        r#"{"input": "cut"#,
        "",
    ] {
        let answer = answer(
            vec![Part::tool_call("call_1", "apply_patch", arguments)],
            Finish::ToolCalls,
        );
        let custom_tools = custom(&["apply_patch"]);
        let json = render_custom(&answer, &usage(), &custom_tools);
        assert_eq!(json["output"][0]["input"], arguments);
        let mut encoder = encoder(&meta(), &custom_tools);
        let told = check_stream(&replay(&mut encoder, &answer, usage()));
        assert_eq!(told.response["output"][0]["input"], arguments);
    }
}

#[test]
fn errors_use_openais_envelope() {
    let error = ApiError::invalid("input", "`input` is required");
    let json: Value = serde_json::from_slice(&error_json(&error)).unwrap();
    assert_eq!(
        json,
        json!({"error": {"message": "`input` is required", "type": "invalid_request_error",
            "param": "input", "code": null}})
    );
}

/// The events of a Responses stream; each `event:` line must name its data's `type`.
fn parse_events(sse: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(sse).unwrap();
    assert!(text.ends_with("\n\n"), "{text:?}");
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let (name, data) = event.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name);
            data
        })
        .collect()
}

/// One output item as the stream has told it so far.
struct Streamed {
    added: Value,
    /// The message text, summary text or arguments the deltas carried.
    text: String,
    part_added: bool,
    text_done: bool,
    part_done: bool,
    done: Option<Value>,
}

/// What a valid stream said.
pub(crate) struct Told {
    pub(crate) events: Vec<Value>,
    /// The response of the last event.
    pub(crate) response: Value,
    pub(crate) text: String,
    pub(crate) thinking: String,
}

/// Checks `sse` against the Responses streaming rules (as the SDK's accumulator and Codex
/// read them): numbering, the opening, each item's lifecycle, and a last event carrying
/// every item as it was done.
pub(crate) fn check_stream(sse: &[u8]) -> Told {
    let events = parse_events(sse);
    for (position, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], position, "{event}");
    }
    for (position, kind) in ["response.created", "response.in_progress"]
        .iter()
        .enumerate()
    {
        let event = &events[position];
        assert_eq!(&event["type"], kind);
        assert_eq!(event["response"]["status"], "in_progress");
        assert_eq!(event["response"]["output"], json!([]));
        assert_eq!(event["response"]["id"], "resp-gw123");
    }
    let last = events.last().unwrap();
    let failed = last["type"] == "response.failed";
    let body = &events[2..events.len() - 1 - usize::from(failed)];
    let mut items: Vec<Streamed> = Vec::new();
    let (mut text, mut thinking) = (String::new(), String::new());
    for event in body {
        step(&mut items, event, &mut text, &mut thinking);
    }
    let response = last["response"].clone();
    match last["type"].as_str() {
        Some("response.completed") => assert_eq!(response["status"], "completed"),
        Some("response.incomplete") => assert_eq!(response["status"], "incomplete"),
        Some("response.failed") => {
            assert_eq!(response["status"], "failed");
            assert_eq!(events[events.len() - 2]["type"], "error");
        }
        other => panic!("the stream ends with {other:?}"),
    }
    let output = response["output"].as_array().unwrap();
    assert_eq!(output.len(), items.len());
    for (item, listed) in items.iter().zip(output) {
        match &item.done {
            Some(done) => assert_eq!(done, listed),
            None => {
                assert!(failed, "{} never done", item.added);
                assert_eq!(listed["status"], "incomplete");
                assert_eq!(listed["id"], item.added["id"]);
            }
        }
    }
    Told {
        events,
        response,
        text,
        thinking,
    }
}

fn step(items: &mut Vec<Streamed>, event: &Value, text: &mut String, thinking: &mut String) {
    let kind = event["type"].as_str().unwrap();
    if kind == "response.output_item.added" {
        assert_eq!(event["output_index"], items.len());
        let item = &event["item"];
        assert_eq!(item["status"], "in_progress");
        assert!(items.iter().all(|other| other.added["id"] != item["id"]));
        match item["type"].as_str() {
            Some("message") => assert_eq!(item["content"], json!([])),
            Some("reasoning") => assert_eq!(item["summary"], json!([])),
            Some("function_call") => assert_eq!(item["arguments"], ""),
            Some("custom_tool_call") => assert_eq!(item["input"], ""),
            other => panic!("item type {other:?}"),
        }
        items.push(Streamed {
            added: item.clone(),
            text: String::new(),
            part_added: false,
            text_done: false,
            part_done: false,
            done: None,
        });
        return;
    }
    let index = event["output_index"].as_u64().unwrap() as usize;
    let item = &mut items[index];
    assert!(item.done.is_none(), "{kind} after the item was done");
    if kind != "response.output_item.done" {
        assert_eq!(event["item_id"], item.added["id"]);
    }
    let item_type = item.added["type"].as_str().unwrap();
    match (item_type, kind) {
        ("message", "response.content_part.added") => {
            assert!(!item.part_added);
            assert_eq!(event["content_index"], 0);
            assert_eq!(
                event["part"],
                json!({"type": "output_text", "text": "", "annotations": []})
            );
            item.part_added = true;
        }
        ("message", "response.output_text.delta") => {
            assert!(item.part_added && !item.text_done);
            assert_eq!(
                (&event["content_index"], &event["logprobs"]),
                (&json!(0), &json!([]))
            );
            let delta = event["delta"].as_str().unwrap();
            item.text.push_str(delta);
            text.push_str(delta);
        }
        ("message", "response.output_text.done") => {
            assert!(item.part_added && !item.text_done);
            assert_eq!(event["text"], item.text.as_str());
            item.text_done = true;
        }
        ("message", "response.content_part.done") => {
            assert!(item.text_done && !item.part_done);
            assert_eq!(
                event["part"],
                json!({"type": "output_text", "text": item.text, "annotations": []})
            );
            item.part_done = true;
        }
        ("reasoning", "response.reasoning_summary_part.added") => {
            assert!(!item.part_added);
            assert_eq!(event["summary_index"], 0);
            assert_eq!(event["part"], json!({"type": "summary_text", "text": ""}));
            item.part_added = true;
        }
        ("reasoning", "response.reasoning_summary_text.delta") => {
            assert!(item.part_added && !item.text_done);
            let delta = event["delta"].as_str().unwrap();
            assert!(!delta.is_empty());
            item.text.push_str(delta);
            thinking.push_str(delta);
        }
        ("reasoning", "response.reasoning_summary_text.done") => {
            assert!(item.part_added && !item.text_done);
            assert_eq!(event["text"], item.text.as_str());
            item.text_done = true;
        }
        ("reasoning", "response.reasoning_summary_part.done") => {
            assert!(item.text_done && !item.part_done);
            assert_eq!(
                event["part"],
                json!({"type": "summary_text", "text": item.text})
            );
            item.part_done = true;
        }
        ("function_call", "response.function_call_arguments.delta") => {
            assert!(!item.text_done);
            item.text.push_str(event["delta"].as_str().unwrap());
        }
        ("function_call", "response.function_call_arguments.done") => {
            assert!(!item.text_done);
            assert_eq!(event["arguments"], item.text.as_str());
            assert_eq!(event["name"], item.added["name"]);
            item.text_done = true;
        }
        ("custom_tool_call", "response.custom_tool_call_input.delta") => {
            assert!(!item.text_done);
            item.text.push_str(event["delta"].as_str().unwrap());
        }
        ("custom_tool_call", "response.custom_tool_call_input.done") => {
            assert!(!item.text_done);
            assert_eq!(event["input"], item.text.as_str());
            item.text_done = true;
        }
        (_, "response.output_item.done") => finish_item(item, &event["item"]),
        _ => panic!("{kind} on a {item_type} item"),
    }
}

fn finish_item(item: &mut Streamed, done: &Value) {
    assert_eq!(done["id"], item.added["id"]);
    assert_eq!(done["type"], item.added["type"]);
    assert_eq!(done["status"], "completed");
    match item.added["type"].as_str() {
        Some("message") => {
            assert!(item.part_done);
            assert_eq!(
                done["content"],
                json!([{"type": "output_text", "text": item.text, "annotations": []}])
            );
        }
        Some("reasoning") => {
            assert_eq!(item.part_added, item.part_done);
            let summary = if item.part_done {
                json!([{"type": "summary_text", "text": item.text}])
            } else {
                json!([])
            };
            assert_eq!(done["summary"], summary);
        }
        Some(kind) => {
            assert!(item.text_done);
            let text = if kind == "custom_tool_call" {
                "input"
            } else {
                "arguments"
            };
            assert_eq!(done[text], item.text.as_str());
            assert_eq!(done["call_id"], item.added["call_id"]);
            assert_eq!(done["name"], item.added["name"]);
        }
        None => panic!("an item without a type"),
    }
    item.done = Some(done.clone());
}

const FINISHES: [Finish; 4] = [
    Finish::Stop,
    Finish::Length,
    Finish::ToolCalls,
    Finish::ContentFilter,
];

fn encode(events: &[Event], finish: Finish, usage: Usage, custom_tools: &ClientTools) -> Vec<u8> {
    let mut encoder = encoder(&meta(), custom_tools);
    let mut out = Vec::new();
    encoder.start(&mut out);
    for event in events {
        encoder.event(&mut out, event);
    }
    Encoder::finish(&mut encoder, &mut out, finish, usage);
    out
}

/// The names of the calls `events` begin, those whose bit in `mask` is set (cycling).
fn picked_names(events: &[Event], mask: u8) -> ClientTools {
    events
        .iter()
        .filter_map(|event| match event {
            Event::ToolCallStart { index, name, .. } => Some((index, name.as_str())),
            _ => None,
        })
        .filter(|(index, _)| mask >> (*index % 8) & 1 == 1)
        .map(|(_, name)| name)
        .collect()
}

/// `text` cut at `cuts`, each moved back to a character boundary.
fn split_text<'a>(text: &'a str, cuts: &[prop::sample::Index]) -> Vec<&'a str> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|cut| {
            let mut point = cut.index(text.len() + 1);
            while !text.is_char_boundary(point) {
                point -= 1;
            }
            point
        })
        .collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points.into_iter().chain([text.len()]) {
        pieces.push(&text[start..point]);
        start = point;
    }
    pieces
}

#[test]
fn a_custom_call_is_added_in_place_and_gives_its_whole_input_when_it_closes() {
    let arguments = json!({"input": PATCH}).to_string();
    let cut = arguments.find('\\').unwrap() + 1;
    let events = [
        Event::TextDelta("Patching.".into()),
        Event::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "apply_patch".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: arguments[..cut].into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: arguments[cut..].into(),
        },
        Event::ToolCallStart {
            index: 1,
            id: "call_2".into(),
            name: "shell".into(),
        },
        Event::ToolCallArguments {
            index: 1,
            fragment: "{}".into(),
        },
    ];
    let told = check_stream(&encode(
        &events,
        Finish::ToolCalls,
        Usage::new(1, 1),
        &custom(&["apply_patch"]),
    ));
    let kinds: Vec<&str> = told
        .events
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds[7..],
        [
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        told.events[8]["item"],
        json!({"type": "custom_tool_call", "id": "ctc_gw123_1", "call_id": "call_1",
            "name": "apply_patch", "input": "", "status": "in_progress"})
    );
    assert_eq!(
        told.events[11],
        json!({"type": "response.custom_tool_call_input.delta", "sequence_number": 11,
            "item_id": "ctc_gw123_1", "output_index": 1, "delta": PATCH})
    );
    assert_eq!(
        told.events[12],
        json!({"type": "response.custom_tool_call_input.done", "sequence_number": 12,
            "item_id": "ctc_gw123_1", "output_index": 1, "input": PATCH})
    );
    assert_eq!(
        told.events[13]["item"],
        json!({"type": "custom_tool_call", "id": "ctc_gw123_1", "call_id": "call_1",
            "name": "apply_patch", "input": PATCH, "status": "completed"})
    );
}

#[test]
fn a_custom_call_cut_off_by_an_error_is_incomplete() {
    let mut encoder = encoder(&meta(), &custom(&["apply_patch"]));
    let mut out = Vec::new();
    encoder.start(&mut out);
    encoder.event(
        &mut out,
        &Event::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "apply_patch".into(),
        },
    );
    encoder.event(
        &mut out,
        &Event::ToolCallArguments {
            index: 0,
            fragment: r#"{"input": "*** Begin"#.into(),
        },
    );
    encoder.error(&mut out, &ApiError::bad_gateway("Argo failed."));
    let told = check_stream(&out);
    assert_eq!(told.response["status"], "failed");
    assert_eq!(told.response["output"][0]["type"], "custom_tool_call");
    assert_eq!(told.response["output"][0]["status"], "incomplete");
    assert!(told
        .events
        .iter()
        .all(|event| event["type"] != "response.custom_tool_call_input.delta"));
}

#[test]
fn text_streams_live_and_items_close_when_the_next_begins() {
    let mut encoder = encoder(&meta(), &no_custom());
    let mut out = Vec::new();
    encoder.start(&mut out);
    encoder.event(&mut out, &Event::ThinkingDelta("Hmm".into()));
    encoder.event(&mut out, &Event::TextDelta("Hi".into()));
    let kinds: Vec<String> = parse_events(&out)
        .iter()
        .map(|event| event["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
        ]
    );
    let delta = parse_events(&out).pop().unwrap();
    assert_eq!(
        delta,
        json!({"type": "response.output_text.delta", "sequence_number": 10,
            "item_id": "msg_gw123_1", "output_index": 1, "content_index": 0, "delta": "Hi", "logprobs": []})
    );
}

#[test]
fn arguments_for_an_earlier_call_reach_it_while_a_later_one_streams() {
    let events = [
        Event::ToolCallStart {
            index: 0,
            id: "call_a".into(),
            name: "f".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "{\"x\":".into(),
        },
        Event::ToolCallStart {
            index: 1,
            id: "call_b".into(),
            name: "g".into(),
        },
        Event::ToolCallArguments {
            index: 1,
            fragment: "{}".into(),
        },
        Event::ToolCallArguments {
            index: 0,
            fragment: "1}".into(),
        },
    ];
    let told = check_stream(&encode(
        &events,
        Finish::ToolCalls,
        Usage::new(1, 1),
        &no_custom(),
    ));
    let late = told
        .events
        .iter()
        .rfind(|event| event["type"] == "response.function_call_arguments.delta")
        .unwrap();
    assert_eq!(
        (&late["output_index"], &late["delta"]),
        (&json!(0), &json!("1}"))
    );
    assert_eq!(told.response["output"][0]["arguments"], "{\"x\":1}");
    assert_eq!(told.response["output"][1]["arguments"], "{}");
}

#[test]
fn a_mid_stream_error_is_an_error_event_then_a_failed_response() {
    let mut encoder = encoder(&meta(), &no_custom());
    let mut out = Vec::new();
    encoder.start(&mut out);
    encoder.event(&mut out, &Event::TextDelta("Hi".into()));
    encoder.event(
        &mut out,
        &Event::ToolCallStart {
            index: 0,
            id: "call_1".into(),
            name: "f".into(),
        },
    );
    encoder.error(&mut out, &ApiError::bad_gateway("Argo failed."));
    let told = check_stream(&out);
    let n = told.events.len();
    assert_eq!(
        told.events[n - 2],
        json!({"type": "error", "sequence_number": n - 2, "code": "bad_gateway",
            "message": "Argo failed.", "param": null})
    );
    assert_eq!(
        told.response["error"],
        json!({"code": "server_error", "message": "Argo failed."})
    );
    assert_eq!(told.response["output"][0]["status"], "completed");
    assert_eq!(told.response["output"][0]["content"][0]["text"], "Hi");
    assert_eq!(told.response["output"][1]["status"], "incomplete");
    assert!(told.response["usage"].is_null());
    let mut limited = encoder_with_start();
    let mut out = Vec::new();
    limited.error(&mut out, &ApiError::rate_limited("Slow down."));
    let events = parse_events(&out);
    assert_eq!(events[0]["sequence_number"], 2);
    assert_eq!(
        events[1]["response"]["error"]["code"],
        "rate_limit_exceeded"
    );
}

fn encoder_with_start() -> ResponsesEncoder {
    let mut encoder = encoder(&meta(), &no_custom());
    encoder.start(&mut Vec::new());
    encoder
}

#[test]
fn a_buffered_answer_replays_as_the_stream_of_the_same_response() {
    let answer = answer(
        vec![
            Part::Thinking {
                text: "Hmm.".into(),
                signature: Some("sig".into()),
            },
            Part::Text("Checking.".into()),
            Part::tool_call("call_1", "f", "{\"a\":1}"),
        ],
        Finish::ToolCalls,
    );
    let told = check_stream(&replay(
        &mut encoder(&meta(), &no_custom()),
        &answer,
        usage(),
    ));
    assert_eq!(told.response, render(&answer, &usage()));
}

/// Codex 0.171's tools, trimmed: functions, its sub-agent namespace (with a custom tool
/// added, and one name shared with a plain function), web search.
fn codex_namespaced_tools() -> Value {
    json!([
        {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
        {"type": "function", "name": "close_agent", "description": "Top-level close."},
        {"type": "namespace", "name": "multi_agent_v1", "description": "Tools for spawning and managing sub-agents.",
            "tools": [
                {"type": "function", "name": "spawn_agent", "description": "Spawn a sub-agent.",
                    "strict": false, "parameters": {"type": "object", "properties": {"message": {"type": "string"}}}},
                {"type": "function", "name": "close_agent", "parameters": {"type": "object"}},
                {"type": "custom", "name": "note", "description": "Free text."}
            ]},
        {"type": "web_search", "external_web_access": true}
    ])
}

fn namespaced_request(input: Value) -> Value {
    json!({"model": "gpt-5", "input": input, "tools": codex_namespaced_tools(), "tool_choice": "auto"})
}

#[test]
fn namespace_tools_are_offered_flat_under_bare_names_unless_shared() {
    let (conversation, client_tools) = read_custom(namespaced_request(json!("hi")));
    let names: Vec<&str> = conversation
        .tools
        .iter()
        .map(|tool| tool.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "exec_command",
            "close_agent",
            "spawn_agent",
            "multi_agent_v1__close_agent",
            "note"
        ]
    );
    let spawn = &conversation.tools[2];
    assert_eq!(spawn.description.as_deref(), Some("Spawn a sub-agent."));
    assert_eq!(spawn.strict, Some(false));
    assert_eq!(spawn.parameters["properties"]["message"]["type"], "string");
    assert_eq!(
        conversation.tools[4].parameters["required"],
        json!(["input"])
    );
    assert!(client_tools.contains("note") && !client_tools.contains("spawn_agent"));
    assert_eq!(
        client_tools
            .namespaces
            .origin("multi_agent_v1__close_agent"),
        Some(&namespaces::Origin {
            namespace: "multi_agent_v1".into(),
            name: "close_agent".into()
        })
    );
    assert_eq!(client_tools.namespaces.origin("close_agent"), None);
}

#[test]
fn namespaces_that_cannot_be_offered_flat_are_refused_naming_the_field() {
    let namespace = |tools: Value| {
        json!({"model": "gpt-5", "input": "x", "tools": [
            {"type": "function", "name": "spawn_agent"},
            {"type": "namespace", "name": "multi_agent_v1", "tools": tools}]})
    };
    for (body, param) in [
        (
            namespace(json!([{"type": "function", "name": "a"}, {"type": "custom", "name": "a"}])),
            "tools[1].tools[1].name",
        ),
        (
            namespace(
                json!([{"type": "function", "name": "spawn_agent"}, {"type": "function", "name": "spawn_agent"}]),
            ),
            "tools[1].tools[1].name",
        ),
        (
            namespace(json!([{"type": "namespace", "name": "inner", "tools": []}])),
            "tools[1].tools[0].type",
        ),
        (
            namespace(json!([{"type": "web_search"}])),
            "tools[1].tools[0].type",
        ),
        (
            namespace(json!([{"type": "function", "name": "bad name"}])),
            "tools[1].tools[0].name",
        ),
        (
            namespace(json!({"type": "function", "name": "a"})),
            "tools[1].tools",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "namespace", "name": "", "tools": []}]}),
            "tools[0].name",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [
            {"type": "function", "name": "run"},
            {"type": "namespace", "name": "n".repeat(62), "tools": [{"type": "function", "name": "run"}]}]}),
            "tools[1].tools[0].name",
        ),
        (
            json!({"model": "gpt-5", "input": "x", "tools": [{"type": "local_shell"}]}),
            "tools[0].type",
        ),
    ] {
        let error = read_error(body.clone());
        assert_eq!(error.status, 400, "{body}");
        assert_eq!(
            error.param.as_deref(),
            Some(param),
            "{body}: {}",
            error.message
        );
    }
    let error = read_error(namespace(
        json!([{"type": "namespace", "name": "inner", "tools": []}]),
    ));
    assert!(error.message.contains("`namespace`"), "{}", error.message);
}

#[test]
fn calls_of_namespaced_tools_go_back_with_their_name_and_namespace() {
    let (_, client_tools) = read_custom(namespaced_request(json!("hi")));
    let answer = answer(
        vec![
            Part::tool_call("call_1", "spawn_agent", r#"{"message":"Say hi"}"#),
            Part::tool_call("call_2", "multi_agent_v1__close_agent", "{}"),
            Part::tool_call("call_3", "close_agent", "{}"),
            Part::tool_call("call_4", "note", r#"{"input":"free"}"#),
        ],
        Finish::ToolCalls,
    );
    let expected = json!([
        {"type": "function_call", "id": "fc_gw123_0", "call_id": "call_1", "name": "spawn_agent",
            "namespace": "multi_agent_v1", "arguments": "{\"message\":\"Say hi\"}", "status": "completed"},
        {"type": "function_call", "id": "fc_gw123_1", "call_id": "call_2", "name": "close_agent",
            "namespace": "multi_agent_v1", "arguments": "{}", "status": "completed"},
        {"type": "function_call", "id": "fc_gw123_2", "call_id": "call_3", "name": "close_agent",
            "arguments": "{}", "status": "completed"},
        {"type": "custom_tool_call", "id": "ctc_gw123_3", "call_id": "call_4", "name": "note",
            "namespace": "multi_agent_v1", "input": "free", "status": "completed"}
    ]);
    let json = render_custom(&answer, &usage(), &client_tools);
    assert_eq!(json["output"], expected);
    let mut encoder = encoder(&meta(), &client_tools);
    let sse = replay(&mut encoder, &answer, usage());
    let told = check_stream(&sse);
    assert_eq!(told.response["output"], expected);
    let items = |kind: &str| -> Vec<Value> {
        told.events
            .iter()
            .filter(|event| event["type"] == kind)
            .map(|event| event["item"].clone())
            .collect()
    };
    let added = items("response.output_item.added");
    let done = items("response.output_item.done");
    assert_eq!(done, expected.as_array().unwrap().clone());
    for (added, expected) in added.iter().zip(expected.as_array().unwrap()) {
        assert_eq!(added["name"], expected["name"]);
        assert_eq!(added["namespace"], expected["namespace"]);
    }
    let arguments_done: Vec<&Value> = told
        .events
        .iter()
        .filter(|event| event["type"] == "response.function_call_arguments.done")
        .map(|event| &event["name"])
        .collect();
    assert_eq!(
        arguments_done,
        [
            &json!("spawn_agent"),
            &json!("close_agent"),
            &json!("close_agent")
        ]
    );
}

#[test]
fn history_calls_with_a_namespace_name_the_tool_as_the_model_was_offered_it() {
    let conversation = read_custom(namespaced_request(json!([
        {"type": "message", "role": "user", "content": "Delegate"},
        {"type": "function_call", "call_id": "call_1", "name": "spawn_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "{\"agent_id\":\"a1\"}"},
        {"type": "function_call", "call_id": "call_2", "name": "close_agent", "namespace": "multi_agent_v1", "arguments": "{}"},
        {"type": "function_call", "call_id": "call_3", "name": "close_agent", "arguments": "{}"},
        {"type": "custom_tool_call", "call_id": "call_4", "name": "note", "namespace": "multi_agent_v1", "input": "x"},
        {"type": "function_call", "call_id": "call_5", "name": "gone", "namespace": "mcp__old__", "arguments": "{}", "status": "completed"},
        {"type": "function_call_output", "call_id": "call_2", "output": "ok"},
        {"type": "function_call_output", "call_id": "call_3", "output": "ok"},
        {"type": "custom_tool_call_output", "call_id": "call_4", "output": "ok"},
        {"type": "function_call_output", "call_id": "call_5", "output": "ok"}
    ])))
    .0;
    let called: Vec<(&str, &str)> = conversation
        .messages
        .iter()
        .flat_map(|message| &message.content)
        .filter_map(|part| match part {
            Part::ToolCall { id, name, .. } => Some((id.as_str(), name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        called,
        [
            ("call_1", "spawn_agent"),
            ("call_2", "multi_agent_v1__close_agent"),
            ("call_3", "close_agent"),
            ("call_4", "note"),
            ("call_5", "mcp__old__gone"),
        ]
    );
    let error = read_error(namespaced_request(json!([
        {"type": "function_call", "call_id": "c", "name": "spawn_agent", "namespace": 5, "arguments": "{}"}
    ])));
    assert_eq!(error.param.as_deref(), Some("input[0].namespace"));
}

#[test]
fn a_tool_choice_with_a_namespace_names_the_tool_as_offered() {
    let mut body = namespaced_request(json!("hi"));
    body["tool_choice"] =
        json!({"type": "function", "name": "close_agent", "namespace": "multi_agent_v1"});
    let (conversation, _) = read_custom(body.clone());
    assert_eq!(
        conversation.tool_choice,
        Some(ToolChoice::Named("multi_agent_v1__close_agent".into()))
    );
    body["tool_choice"] = json!({"type": "function", "name": "spawn_agent"});
    let (conversation, _) = read_custom(body.clone());
    assert_eq!(
        conversation.tool_choice,
        Some(ToolChoice::Named("spawn_agent".into()))
    );
    body["tool_choice"] = json!({"type": "allowed_tools", "mode": "auto", "tools": [
        {"type": "function", "name": "close_agent", "namespace": "multi_agent_v1"},
        {"type": "function", "name": "exec_command"}]});
    let (conversation, _) = read_custom(body);
    let names: Vec<&str> = conversation
        .tools
        .iter()
        .map(|tool| tool.name.as_str())
        .collect();
    assert_eq!(names, ["exec_command", "multi_agent_v1__close_agent"]);
}

proptest! {
    /// Any event sequence gives a valid stream that delivers every text, thinking,
    /// signature and argument fragment to its item, and ends with the very response
    /// `answer_json` writes for the same events folded into an answer. Calls of the tools
    /// picked as custom are custom tool calls carrying the input their arguments wrap.
    #[test]
    fn any_event_sequence_gives_a_valid_event_stream(events in canonical_events(), finish in 0usize..4, mask in any::<u8>()) {
        let finish = FINISHES[finish];
        let custom_tools = picked_names(&events, mask);
        let told = check_stream(&encode(&events, finish, Usage::new(3, 4), &custom_tools));
        let mut aggregator = Aggregator::default();
        events.iter().cloned().for_each(|event| aggregator.push(event));
        let folded = Answer { finish, ..aggregator.finish().unwrap() };
        let expected: Value = serde_json::from_slice(&answer_json(&folded, &meta(), &Usage::new(3, 4), &custom_tools)).unwrap();
        prop_assert_eq!(&told.response, &expected);
        let concat = |pick: fn(&Event) -> Option<&str>| events.iter().filter_map(pick).collect::<String>();
        prop_assert_eq!(told.text, concat(|event| match event { Event::TextDelta(text) => Some(text), _ => None }));
        prop_assert_eq!(told.thinking, concat(|event| match event { Event::ThinkingDelta(text) => Some(text), _ => None }));
        let signatures: String = told.response["output"].as_array().unwrap().iter()
            .filter_map(|item| item["encrypted_content"].as_str()).collect();
        prop_assert_eq!(signatures, concat(|event| match event { Event::ThinkingSignature(text) => Some(text), _ => None }));
        let mut calls: Vec<(String, String, String)> = Vec::new();
        for event in &events {
            match event {
                Event::ToolCallStart { id, name, .. } => calls.push((id.clone(), name.clone(), String::new())),
                Event::ToolCallArguments { index, fragment } => calls[*index].2.push_str(fragment),
                _ => {}
            }
        }
        let expected_calls: Vec<(&str, String, String, String)> = calls.into_iter()
            .map(|(id, name, arguments)| if custom_tools.contains(&name) {
                ("custom_tool_call", id, name, custom_input(&arguments).into_owned())
            } else {
                ("function_call", id, name, arguments)
            })
            .collect();
        let streamed: Vec<(&str, String, String, String)> = told.response["output"].as_array().unwrap().iter()
            .filter_map(|item| {
                let (kind, text) = match item["type"].as_str() {
                    Some("function_call") => ("function_call", &item["arguments"]),
                    Some("custom_tool_call") => ("custom_tool_call", &item["input"]),
                    _ => return None,
                };
                Some((kind, item["call_id"].as_str().unwrap().into(), item["name"].as_str().unwrap().into(), text.as_str().unwrap().into()))
            })
            .collect();
        prop_assert_eq!(streamed, expected_calls);
        let end = if matches!(finish, Finish::Stop | Finish::ToolCalls) { "response.completed" } else { "response.incomplete" };
        prop_assert_eq!(&told.events.last().unwrap()["type"], end);
    }

    /// Whatever the input and however the model's arguments come cut (inside escapes and
    /// characters too), the custom call's item carries the input, and sent back it reads
    /// as the very call the model made.
    #[test]
    fn a_custom_calls_input_round_trips(input in "\\PC{0,40}|[\"\\\\\n\t\u{1F980}é]{0,8}", cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let arguments = json!({"input": input}).to_string();
        let mut events = vec![Event::ToolCallStart { index: 0, id: "call_1".into(), name: "apply_patch".into() }];
        events.extend(split_text(&arguments, &cuts).into_iter().map(|fragment| Event::ToolCallArguments { index: 0, fragment: fragment.into() }));
        let custom_tools = custom(&["apply_patch"]);
        let told = check_stream(&encode(&events, Finish::ToolCalls, Usage::new(1, 1), &custom_tools));
        let item = &told.response["output"][0];
        prop_assert_eq!(&item["type"], "custom_tool_call");
        prop_assert_eq!(item["input"].as_str(), Some(input.as_str()));
        let (conversation, _) = read_custom(json!({"model": "gpt-5", "input": [item, {"type": "custom_tool_call_output", "call_id": "call_1", "output": "ok"}],
            "tools": [{"type": "custom", "name": "apply_patch"}]}));
        prop_assert_eq!(&conversation.messages[0].content, &vec![Part::tool_call("call_1", "apply_patch", arguments)]);
    }
}
