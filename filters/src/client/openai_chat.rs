//! The OpenAI chat client spoke: `/v1/chat/completions` bodies into a [`Conversation`];
//! [`Answer`]s out as `chat.completion` JSON, [`Event`](crate::hub::Event)s as
//! `chat.completion.chunk` SSE ([`SseEncoder`]).

use serde_json::Value;

use crate::error::ApiError;
use crate::hub::Usage;
use crate::hub::{Answer, Conversation, Dialect, Message, Part, Role, ToolChoice};
use crate::json::parse_request;
use crate::openai::{
    self, check_sampling, ChatMessage, ChatRequest, Content, ContentPart, ResponseMeta,
};
use crate::stream::{push_json_string, push_usage};
pub use crate::stream::{SseEncoder, StreamKind};
use crate::tools::{self, ToolSpec};

/// Parses and validates a chat body: 400s name the offending field.
pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let request: ChatRequest = parse_request(body)?;
    validate(&request)?;
    Ok(request)
}

/// Checks what serde's types cannot: value ranges and combinations.
fn validate(request: &ChatRequest) -> Result<(), ApiError> {
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must contain at least one message",
        ));
    }
    // `n` > 1 reaches Argo's native OpenAI endpoint; the hub refuses it for the others
    // ([`conversation`]).
    check_sampling(
        request.temperature,
        request.top_p,
        request.n.filter(|&n| n < 1),
    )?;
    tool_spec(request)?;
    for (index, message) in request.messages.iter().enumerate() {
        for (position, call) in message.tool_calls.iter().flatten().enumerate() {
            let named = call
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .is_some();
            if !named || !call.get("id").is_some_and(Value::is_string) {
                return Err(ApiError::invalid(
                    format!("messages[{index}].tool_calls[{position}]"),
                    "Tool calls need an `id` and a `function` with a `name`",
                ));
            }
        }
        if message.role == openai::Role::Tool && message.tool_call_id.is_none() {
            return Err(ApiError::invalid(
                format!("messages[{index}].tool_call_id"),
                "Messages with role `tool` must carry the `tool_call_id` they answer",
            ));
        }
    }
    Ok(())
}

/// The request's tools, validated (`None` without tools).
fn tool_spec(request: &ChatRequest) -> Result<Option<ToolSpec>, ApiError> {
    ToolSpec::from_request(
        request.tools.as_deref(),
        request.tool_choice.as_ref(),
        request.parallel_tool_calls,
    )
}

/// A chat body as a conversation, and the model name the client asked for.
pub fn read_request(body: &[u8]) -> Result<(Conversation, String), ApiError> {
    let mut request = parse(body)?;
    let model = std::mem::take(&mut request.model);
    Ok((conversation(request)?, model))
}

/// A validated request ([`parse`]) as a conversation. Fields the hub has no slot for stay in
/// `extra` (the client's own `user` does not: Argo's user is always the gateway's).
pub fn conversation(request: ChatRequest) -> Result<Conversation, ApiError> {
    let spec = tool_spec(&request)?;
    let tool_choice = match (&spec, &request.tool_choice) {
        (_, None | Some(Value::Null)) => None,
        (Some(spec), Some(_)) => Some(spec.choice.clone()),
        // Without tools only "none" and "auto" get past `ToolSpec::from_request`.
        (None, Some(choice)) => Some(match choice.as_str() {
            Some("none") => ToolChoice::None,
            _ => ToolChoice::Auto,
        }),
    };
    let messages = request
        .messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| read_message(index, message))
        .collect::<Result<Vec<_>, _>>()?;
    let mut extra = request.extra;
    extra.remove("user");
    let response_format = extra.remove("response_format");
    if let Some(n) = request.n {
        if n > 1 {
            return Err(ApiError::invalid(
                "n",
                "`n` > 1 is served only for models on Argo's native OpenAI endpoint: Argo's Anthropic and resource endpoints return one choice per request",
            ));
        }
        extra.insert("n".into(), n.into());
    }
    let mut conversation = Conversation::new(Dialect::OpenAiChat, messages);
    conversation.tools = spec.map(|spec| spec.tools).unwrap_or_default();
    conversation.tool_choice = tool_choice;
    conversation.parallel_tool_calls = request.parallel_tool_calls;
    conversation.max_tokens = request.max_completion_tokens.or(request.max_tokens);
    conversation.temperature = request.temperature;
    conversation.top_p = request.top_p;
    conversation.stop = request
        .stop
        .map(openai::Stop::into_list)
        .unwrap_or_default();
    conversation.reasoning_effort = request.reasoning_effort;
    conversation.stream = request.stream == Some(true);
    conversation.include_usage = request
        .stream_options
        .and_then(|options| options.include_usage)
        == Some(true);
    conversation.response_format = response_format;
    conversation.extra = extra;
    Ok(conversation)
}

fn read_message(index: usize, message: ChatMessage) -> Result<Message, ApiError> {
    let role = match message.role {
        openai::Role::System => Role::System,
        openai::Role::Developer => Role::Developer,
        openai::Role::User => Role::User,
        openai::Role::Assistant => Role::Assistant,
        openai::Role::Tool | openai::Role::Function => Role::Tool,
    };
    let content = if role == Role::Tool {
        let content = message.content.texts().collect::<Vec<_>>().join("\n");
        let call_id = message
            .tool_call_id
            .or_else(|| message.name.clone())
            .unwrap_or_default();
        vec![Part::ToolResult {
            call_id,
            content,
            is_error: false,
        }]
    } else {
        let mut parts = read_content(index, message.content)?;
        for call in message.tool_calls.iter().flatten() {
            let function = &call["function"];
            parts.push(Part::tool_call(
                call["id"].as_str().unwrap_or_default(),
                function["name"].as_str().unwrap_or_default(),
                tools::arguments_string(function.get("arguments")),
            ));
        }
        parts
    };
    Ok(Message {
        role,
        content,
        name: message.name,
    })
}

fn read_content(index: usize, content: Content) -> Result<Vec<Part>, ApiError> {
    match content {
        Content::Empty => Ok(Vec::new()),
        Content::Text(text) => Ok(vec![Part::Text(text)]),
        Content::Parts(parts) => parts
            .into_iter()
            .enumerate()
            .map(|(position, part)| match part {
                ContentPart::Text { text } => Ok(Part::Text(text)),
                ContentPart::ImageUrl { image_url } => {
                    let url = image_url
                        .get("url")
                        .or(Some(&image_url))
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            ApiError::invalid(
                                format!("messages[{index}].content[{position}].image_url.url"),
                                "An image part needs an `image_url` with a `url`",
                            )
                        })?;
                    Ok(Part::Image {
                        url: url.to_string(),
                        detail: image_url
                            .get("detail")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    })
                }
            })
            .collect(),
    }
}

/// Renders a `chat.completion` object: text as `content`, thinking as `reasoning_content`.
/// Written out as the stream's chunks are: serde's writer escaped each of its keys again on
/// every answer.
pub fn answer_json(answer: &Answer, meta: &ResponseMeta, usage: &Usage) -> Vec<u8> {
    let content = answer.text();
    let size = content.as_deref().map_or(0, str::len);
    let mut out = Vec::with_capacity(size + size / 16 + 384);
    out.extend_from_slice(b"{\"id\":");
    push_json_string(&mut out, &meta.id);
    out.extend_from_slice(b",\"object\":\"chat.completion\",\"created\":");
    out.extend_from_slice(itoa::Buffer::new().format(meta.created).as_bytes());
    out.extend_from_slice(b",\"model\":");
    push_json_string(&mut out, &meta.model);
    out.extend_from_slice(
        b",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":",
    );
    match &content {
        Some(text) => push_json_string(&mut out, text),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"refusal\":null");
    if let Some(thinking) = answer.thinking() {
        out.extend_from_slice(b",\"reasoning_content\":");
        push_json_string(&mut out, &thinking);
    }
    push_tool_calls(&mut out, answer);
    out.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":\"");
    out.extend_from_slice(answer.finish.openai().as_bytes());
    out.extend_from_slice(b"\"}],\"usage\":");
    push_usage(&mut out, usage);
    out.extend_from_slice(b",\"system_fingerprint\":null}");
    out
}

/// `,"tool_calls":[...]` when the answer calls tools.
fn push_tool_calls(out: &mut Vec<u8>, answer: &Answer) {
    let mut calls = answer.tool_calls().peekable();
    if calls.peek().is_none() {
        return;
    }
    out.extend_from_slice(b",\"tool_calls\":[");
    for (index, (id, name, arguments)) in calls.enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"id\":");
        push_json_string(out, id);
        out.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
        push_json_string(out, name);
        out.extend_from_slice(b",\"arguments\":");
        push_json_string(out, arguments);
        out.extend_from_slice(b"}}");
    }
    out.push(b']');
}

/// The chunk encoder for a chat stream.
pub fn encoder(meta: &ResponseMeta, include_usage: bool) -> SseEncoder {
    SseEncoder::new(StreamKind::Chat, meta, include_usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{canonical_events, gpt, meta, sse_payloads};
    use crate::hub::{Event, Finish, ToolDef};
    use crate::models::{Family, Kind, ModelSpec};
    use crate::translate::Encoder;
    use crate::usage::{Tokenizer, REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE};
    use proptest::prelude::*;
    use serde_json::json;

    fn read(body: Value) -> Conversation {
        let (conversation, model) = read_request(body.to_string().as_bytes()).unwrap();
        assert_eq!(model, "gpt-4o");
        conversation
    }

    #[test]
    fn messages_of_every_role_and_shape_are_read() {
        let conversation = read(json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "French."}]},
            {"role": "user", "name": "bob", "content": [{"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.org/cat.jpg", "detail": "low"}}]},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": {"at": "cat"}}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "cat"}]},
            {"role": "function", "name": "look", "content": "old style"},
            {"role": "assistant", "content": null}]}));
        assert_eq!(
            conversation.messages,
            vec![
                Message::text(Role::System, "Be brief."),
                Message::text(Role::Developer, "French."),
                Message {
                    role: Role::User,
                    content: vec![
                        Part::Text("What is this?".into()),
                        Part::Image {
                            url: "https://example.org/cat.jpg".into(),
                            detail: Some("low".into())
                        }
                    ],
                    name: Some("bob".into()),
                },
                Message::new(
                    Role::Assistant,
                    vec![
                        Part::Text("Checking.".into()),
                        Part::tool_call("call_1", "look", r#"{"at":"cat"}"#)
                    ]
                ),
                Message::new(
                    Role::Tool,
                    vec![Part::ToolResult {
                        call_id: "call_1".into(),
                        content: "a\ncat".into(),
                        is_error: false
                    }]
                ),
                Message {
                    role: Role::Tool,
                    content: vec![Part::ToolResult {
                        call_id: "look".into(),
                        content: "old style".into(),
                        is_error: false
                    }],
                    name: Some("look".into()),
                },
                Message::new(Role::Assistant, vec![]),
            ]
        );
    }

    #[test]
    fn parameters_tools_and_unknown_fields_are_read() {
        let conversation = read(
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "description": "F", "parameters": {"type": "object"}, "strict": true}}],
            "tool_choice": "required", "parallel_tool_calls": false,
            "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0.5, "top_p": 0.9, "stop": "END",
            "reasoning_effort": "high", "stream": true, "stream_options": {"include_usage": true},
            "n": 1, "seed": 3, "user": "mallory", "response_format": {"type": "json_object"}}),
        );
        assert_eq!(
            conversation.tools,
            vec![ToolDef {
                name: "f".into(),
                description: Some("F".into()),
                parameters: json!({"type": "object"}),
                strict: Some(true)
            }]
        );
        assert_eq!(conversation.tool_choice, Some(ToolChoice::Required));
        assert_eq!(conversation.parallel_tool_calls, Some(false));
        assert_eq!(
            conversation.max_tokens,
            Some(20),
            "max_completion_tokens wins"
        );
        assert_eq!(
            (conversation.temperature, conversation.top_p),
            (Some(0.5), Some(0.9))
        );
        assert_eq!(conversation.stop, ["END"]);
        assert_eq!(conversation.reasoning_effort.as_deref(), Some("high"));
        assert!(conversation.stream && conversation.include_usage);
        assert_eq!(
            conversation.response_format,
            Some(json!({"type": "json_object"}))
        );
        assert_eq!(
            Value::Object(conversation.extra),
            json!({"n": 1, "seed": 3}),
            "the client's user is never kept; the response format has its own slot"
        );
        let bare = read(
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "none"}),
        );
        assert_eq!(bare.tool_choice, Some(ToolChoice::None));
        assert!(!bare.stream && !bare.include_usage && bare.tools.is_empty());
    }

    #[test]
    fn invalid_requests_name_the_field() {
        for (body, param) in [
            (json!({"model": "m", "messages": []}), "messages"),
            (
                json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].tool_call_id",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}),
                "messages[0].content[0].image_url.url",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_p": 2}),
                "top_p",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}),
                "tool_choice",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": 1}]}),
                "messages[0].content",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}),
                "temperature",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 0}),
                "n",
            ),
            (
                json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"type": "function"}]}]}),
                "messages[0].tool_calls[0]",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {}}]}),
                "tools[0].function.name",
            ),
            (
                json!({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "video"}]}]}),
                "messages[0].content[0].type",
            ),
            (json!({"model": 7, "messages": []}), "model"),
            (json!({"messages": []}), "model"),
            (json!({"model": "m", "messages": "hi"}), "messages"),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
                "max_tokens",
            ),
        ] {
            let error = read_request(body.to_string().as_bytes()).unwrap_err();
            assert_eq!(
                (error.status, error.param.as_deref()),
                (400, Some(param)),
                "{body}"
            );
        }
    }

    #[test]
    fn usage_is_counted_with_the_model_tokenizer() {
        let hello = read(
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello world"}]}),
        );
        let gpt = gpt();
        assert_eq!(gpt.tokenizer(), Tokenizer::O200kBase);
        assert_eq!(
            hello.prompt_tokens(gpt.tokenizer()),
            TOKENS_PER_MESSAGE + 2 + REPLY_PRIMING_TOKENS
        );
        let gemini = ModelSpec::new("gemini-2.5-pro", "gemini25pro", Family::Google, Kind::Chat);
        assert_eq!(gemini.tokenizer(), Tokenizer::Estimate);
        assert_eq!(
            hello.prompt_tokens(gemini.tokenizer()),
            TOKENS_PER_MESSAGE + 3 + REPLY_PRIMING_TOKENS
        );
        let weather = json!({"model": "gpt-4o", "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "messages": [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"}]});
        let text_only: u64 = parse(weather.to_string().as_bytes())
            .unwrap()
            .messages
            .iter()
            .map(|message| {
                TOKENS_PER_MESSAGE
                    + message
                        .content
                        .texts()
                        .map(|text| gpt.tokenizer().count(text))
                        .sum::<u64>()
            })
            .sum();
        assert!(
            read(weather).prompt_tokens(gpt.tokenizer()) > text_only + REPLY_PRIMING_TOKENS + 10,
            "tool definitions and calls count too"
        );
        let answer = Answer {
            content: vec![Part::Text("hello world".into())],
            finish: Finish::Stop,
            usage: None,
        };
        assert_eq!(answer.completion_tokens(Tokenizer::O200kBase), 2);
        assert_eq!(answer.completion_tokens(Tokenizer::Estimate), 3);
    }

    #[test]
    fn answers_render_as_chat_completions() {
        let answer = Answer {
            content: vec![
                Part::Thinking {
                    text: "Hmm.".into(),
                    signature: Some("sig".into()),
                },
                Part::Text("Let me ".into()),
                Part::Text("check.".into()),
                Part::tool_call("call_1", "f", "{}"),
            ],
            finish: Finish::ToolCalls,
            usage: None,
        };
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 5,
            cached_input_tokens: Some(4),
        };
        let json: Value = serde_json::from_slice(&answer_json(&answer, &meta(), &usage)).unwrap();
        assert_eq!(
            json,
            json!({"id": "chatcmpl-gw123", "object": "chat.completion", "created": 1_700_000_000,
                "model": "claude-sonnet-4.6", "system_fingerprint": null,
                "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls",
                    "message": {"role": "assistant", "content": "Let me check.", "refusal": null,
                        "reasoning_content": "Hmm.",
                        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                    "prompt_tokens_details": {"cached_tokens": 4}}})
        );
        let calls_only = Answer {
            content: vec![Part::tool_call("call_1", "f", "{}")],
            finish: Finish::ToolCalls,
            usage: None,
        };
        let json: Value =
            serde_json::from_slice(&answer_json(&calls_only, &meta(), &Usage::new(1, 1))).unwrap();
        assert!(json["choices"][0]["message"]["content"].is_null());
        assert!(json["usage"].get("prompt_tokens_details").is_none());
    }

    proptest! {
        #[test]
        fn answers_are_written_as_json_of_their_parts(
            texts in prop::collection::vec("(?s).{0,12}", 0..3),
            thinking in prop::option::of("(?s).{0,12}"),
            calls in prop::collection::vec(("[a-z_0-9\"]{1,8}", "(?s).{0,8}", "(?s).{0,12}"), 0..3),
            cached in prop::option::of(0u64..100),
        ) {
            let mut content: Vec<Part> = texts.iter().map(|text| Part::Text(text.clone())).collect();
            if let Some(text) = &thinking {
                content.insert(0, Part::Thinking { text: text.clone(), signature: None });
            }
            content.extend(calls.iter().map(|(id, name, arguments)| Part::tool_call(id, name, arguments)));
            let answer = Answer { content, finish: Finish::Stop, usage: None };
            let usage = Usage { input_tokens: 7, output_tokens: 5, cached_input_tokens: cached };
            let json: Value = serde_json::from_slice(&answer_json(&answer, &meta(), &usage)).unwrap();
            let mut message = json!({"role": "assistant", "content": answer.text(), "refusal": null});
            if let Some(text) = answer.thinking() {
                message["reasoning_content"] = json!(text);
            }
            if !calls.is_empty() {
                message["tool_calls"] = calls.iter().map(|(id, name, arguments)| json!({
                    "id": id, "type": "function", "function": {"name": name, "arguments": arguments}})).collect();
            }
            let mut usage_json = json!({"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12});
            if let Some(cached) = cached {
                usage_json["prompt_tokens_details"] = json!({"cached_tokens": cached});
            }
            prop_assert_eq!(json, json!({"id": "chatcmpl-gw123", "object": "chat.completion",
                "created": 1_700_000_000, "model": "claude-sonnet-4.6", "system_fingerprint": null,
                "choices": [{"index": 0, "logprobs": null, "finish_reason": "stop", "message": message}],
                "usage": usage_json}));
        }
    }

    proptest! {
        #[test]
        fn any_event_sequence_gives_a_valid_chunk_stream(events in canonical_events(), include_usage in any::<bool>(), finish in 0u8..4) {
            let mut encoder = encoder(&meta(), include_usage);
            let mut out = Vec::new();
            encoder.start(&mut out);
            for event in &events {
                encoder.event(&mut out, event);
            }
            let finish = [Finish::Stop, Finish::Length, Finish::ToolCalls, Finish::ContentFilter][finish as usize];
            Encoder::finish(&mut encoder, &mut out, finish, Usage::new(3, 4));
            let payloads = sse_payloads(&out);
            prop_assert_eq!(&payloads[0]["choices"][0]["delta"]["role"], "assistant");
            prop_assert_eq!(payloads.last().unwrap(), "[DONE]");
            let chunks = &payloads[..payloads.len() - 1];
            let mut calls: Vec<(String, String, String)> = Vec::new();
            let mut finishes = 0;
            for (position, chunk) in chunks.iter().enumerate() {
                prop_assert_eq!(&chunk["id"], "chatcmpl-gw123");
                prop_assert_eq!(&chunk["object"], "chat.completion.chunk");
                if chunk["choices"] == json!([]) {
                    prop_assert!(include_usage && position == chunks.len() - 1);
                    prop_assert_eq!(&chunk["usage"]["total_tokens"], 7);
                    continue;
                }
                let choice = &chunk["choices"][0];
                if !choice["finish_reason"].is_null() {
                    finishes += 1;
                    prop_assert_eq!(&choice["finish_reason"], finish.openai());
                }
                for call in choice["delta"]["tool_calls"].as_array().into_iter().flatten() {
                    let index = call["index"].as_u64().unwrap() as usize;
                    let fragment = call["function"]["arguments"].as_str().unwrap();
                    if index == calls.len() {
                        prop_assert_eq!(&call["type"], "function");
                        calls.push((call["id"].as_str().unwrap().into(), call["function"]["name"].as_str().unwrap().into(), fragment.into()));
                    } else {
                        prop_assert!(index < calls.len(), "arguments of a call that did not begin");
                        prop_assert!(call.get("id").is_none() && call["function"].get("name").is_none());
                        calls[index].2.push_str(fragment);
                    }
                }
            }
            prop_assert_eq!(finishes, 1);
            let mut expected: Vec<(String, String, String)> = Vec::new();
            for event in &events {
                match event {
                    Event::ToolCallStart { id, name, .. } => expected.push((id.clone(), name.clone(), String::new())),
                    Event::ToolCallArguments { index, fragment } => expected[*index].2.push_str(fragment),
                    _ => {}
                }
            }
            prop_assert_eq!(calls, expected);
            let texts: String = events.iter().filter_map(|event| match event { Event::TextDelta(text) => Some(text.as_str()), _ => None }).collect();
            prop_assert_eq!(crate::fixtures::streamed_text(&payloads).0, texts);
        }
    }
}
