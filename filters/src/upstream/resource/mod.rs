//! Argo's legacy resource API (`/api/v1/resource/{chat,streamchat}/`): a [`Conversation`] as
//! a resource chat body (tools natively for OpenAI models, as Anthropic blocks for Claude, in
//! the prompt for Gemini); the answer, in any of the shapes Argo uses, and `streamchat`'s raw
//! text into the hub. Argo reports no usage here: the gateway counts it.
//!
//! Everything of the resource API lives in this folder: its wire ([`wire`]), prompt-mode tools
//! ([`prompt_tools`]), Claude's blocks ([`claude`]) and leaked calls ([`leaked`]), embed batches
//! ([`embed`]) and `/v1/completions` ([`completions`]). Nothing else in `filters` imports it
//! but tests; the gateway's handlers do. Retiring the resource API is this folder and the
//! gateway's `Resource` arm.

pub mod claude;
pub mod completions;
pub mod embed;
pub mod leaked;
mod plain;
pub mod prompt_tools;
pub mod wire;

use serde_json::Value;

use self::plain::push_plain;
use self::prompt_tools::{Piece, ToolScanner};
pub use self::wire::Endpoint;
use crate::error::ApiError;
use crate::hub::{Answer, Conversation, Event, Finish, Part};
use crate::models::{Family, ModelSpec, Params, ToolMode};
use crate::stream::Utf8Joiner;
use crate::tools::{self, ToolChoice, ToolSpec};
use crate::translate::Decoder;
use crate::upstream::chat_message::Message as WireMessage;
use crate::upstream::openai_native::tool_choice_json;
use crate::upstream::{body_capacity, CONTINUE_TURN};

/// How tool calls come back in Argo's answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolReplies {
    /// The request declared no tools: the answer is text.
    None,
    /// In the answer's structure (`tool_calls` or `tool_use` blocks), if at all; Claude's calls
    /// may also leak into the text.
    Native,
    /// As tagged blocks in the text, naming one of these tools.
    Prompt { names: Vec<String> },
}

impl ToolReplies {
    pub fn for_request(spec: Option<&ToolSpec>, model: &ModelSpec) -> Self {
        match spec {
            None => ToolReplies::None,
            Some(spec) if model.tools == ToolMode::Prompt && spec.choice != ToolChoice::None => {
                ToolReplies::Prompt {
                    names: spec.names(),
                }
            }
            Some(_) => ToolReplies::Native,
        }
    }

    pub fn for_conversation(conversation: &Conversation, model: &ModelSpec) -> Self {
        Self::for_request(ToolSpec::of(conversation).as_ref(), model)
    }
}

/// Which Argo endpoint serves a request: `streamchat` for streams it can carry, `chat` for the
/// rest. Streams of models `streamchat` does not serve, and of requests with native tools
/// (`streamchat` takes none), are synthesized from a `chat` answer.
pub fn endpoint(conversation: &Conversation, model: &ModelSpec) -> Endpoint {
    let native_tools = ToolReplies::for_conversation(conversation, model) == ToolReplies::Native;
    if conversation.stream && model.stream && !native_tools {
        Endpoint::StreamChat
    } else {
        Endpoint::Chat
    }
}

/// The resource chat body for `user`, for `endpoint` (`chat` or `streamchat`): the model
/// table's parameter rules decide what of the token limit and sampling Argo receives.
pub fn request_body(
    conversation: &Conversation,
    model: &ModelSpec,
    user: &str,
    endpoint: Endpoint,
) -> Result<Vec<u8>, ApiError> {
    let spec = ToolSpec::of(conversation);
    if spec.is_some() && model.tools == ToolMode::None {
        return Err(ApiError::invalid(
            "tools",
            format!("`{}` cannot call tools", model.name),
        ));
    }
    let (mut messages, tools, tool_choice) = match (model.tools, model.family) {
        (ToolMode::Prompt, _) => (
            prompt_tools::messages(&conversation.messages, spec.as_ref()),
            None,
            None,
        ),
        (_, Family::Anthropic) => {
            let (tools, choice) = spec.as_ref().map(tools::anthropic::tools).unzip();
            (
                claude::messages(&conversation.messages),
                tools,
                choice.flatten(),
            )
        }
        _ => {
            let mut messages = Vec::with_capacity(conversation.messages.len());
            for message in &conversation.messages {
                push_plain(&mut messages, message);
            }
            let tools = spec.as_ref().map(|spec| {
                Value::Array(spec.tools.iter().map(|tool| tool.openai_json()).collect())
            });
            let choice = conversation
                .tool_choice
                .as_ref()
                .filter(|_| spec.is_some())
                .map(tool_choice_json);
            (messages, tools, choice)
        }
    };
    end_with_user_turn(&mut messages, model.family);
    let params = Params {
        limit: conversation.max_tokens,
        temperature: conversation.temperature,
        top_p: conversation.top_p,
    };
    let mut body = wire::ChatRequest::new(user, &model.argo_id, messages)
        .with_params(model, model.fit(params, endpoint == Endpoint::StreamChat));
    body.stop = (!conversation.stop.is_empty()).then(|| conversation.stop.clone());
    // `parallel_tool_calls` is never sent: both the original bridge and argo-proxy strip it for
    // Argo (argo-proxy's legacy `tool_calls/input_handle.py`); Claude's own form of it stays in
    // its `tool_choice`.
    body.tools = tools;
    body.tool_choice = tool_choice;
    let mut out = Vec::with_capacity(body_capacity(conversation));
    serde_json::to_writer(&mut out, &body)
        .map_err(|err| ApiError::internal(format!("could not encode Argo request: {err}")))?;
    Ok(out)
}

/// Claude and Gemini answer a conversation whose last turn is the user's; one that ends
/// otherwise (an assistant turn, or system messages only) gets [`CONTINUE_TURN`] appended.
/// argo-proxy appends it only when no user turn exists at all; a conversation ending with the
/// assistant is what Gemini refuses and newer Claude models no longer take as a prefill.
fn end_with_user_turn(messages: &mut Vec<WireMessage<'_>>, family: Family) {
    if family == Family::Openai || messages.last().is_some_and(|last| last.role == "user") {
        return;
    }
    messages.push(WireMessage::text("user", CONTINUE_TURN));
}

/// Reads Argo's chat answer body. `response` is text, or with native tools an object with
/// `content` and `tool_calls` (a list or a single call: OpenAI calls, Anthropic `tool_use`
/// blocks or Gemini entries), or a list of Anthropic content blocks. Claude calls leaked into
/// the text are lifted out; with prompt tools, tagged calls are.
pub fn read_answer(
    body: &[u8],
    tools: &ToolReplies,
    response_id: &str,
) -> Result<Answer, ApiError> {
    let parsed: wire::ChatResponse = serde_json::from_slice(body).map_err(|_| {
        ApiError::invalid_answer("Argo returned a chat answer that is not valid JSON")
    })?;
    let (content, calls) = read_response(parsed.response, response_id)?;
    if content.is_none() && calls.is_empty() {
        return Err(ApiError::invalid_answer(
            "Argo returned an answer with neither text nor tool calls",
        ));
    }
    let (content, calls) = match (tools, content) {
        (ToolReplies::Prompt { names }, Some(text)) if calls.is_empty() => {
            prompt_tools::extract(&text, names.clone(), response_id)
        }
        (ToolReplies::Native, Some(text)) if leaked::may_contain(&text) => {
            lift_leaked_calls(text, calls, response_id)
        }
        (_, content) => (content, calls),
    };
    Ok(answer(content, &calls))
}

/// An answer of `content` and OpenAI-shaped `calls`.
fn answer(content: Option<String>, calls: &[Value]) -> Answer {
    let mut parts: Vec<Part> = content.map(Part::Text).into_iter().collect();
    parts.extend(calls.iter().map(call_part));
    Answer {
        finish: if calls.is_empty() {
            Finish::Stop
        } else {
            Finish::ToolCalls
        },
        content: parts,
        usage: None,
    }
}

/// An OpenAI call (`tools::openai_call`'s shape) as a part.
fn call_part(call: &Value) -> Part {
    let function = &call["function"];
    Part::tool_call(
        call["id"].as_str().unwrap_or_default(),
        function["name"].as_str().unwrap_or_default(),
        function["arguments"].as_str().unwrap_or("{}"),
    )
}

fn read_response(
    response: Option<Value>,
    response_id: &str,
) -> Result<(Option<String>, Vec<Value>), ApiError> {
    match response {
        Some(Value::String(text)) => Ok((Some(text), Vec::new())),
        Some(Value::Object(mut object)) => {
            let (mut content, mut calls) = match object.remove("content") {
                Some(Value::Array(blocks)) => split_blocks(blocks),
                Some(Value::String(text)) => (Some(text), Vec::new()),
                _ => (None, Vec::new()),
            };
            match object.remove("tool_calls") {
                Some(Value::Array(more)) => calls.extend(more),
                Some(one @ Value::Object(_)) => calls.push(one),
                _ => {}
            }
            if content.as_deref().is_some_and(str::is_empty) {
                content = None;
            }
            Ok((content, normalize_calls(&calls, response_id, 0)))
        }
        Some(Value::Array(blocks)) => {
            let (content, calls) = split_blocks(blocks);
            Ok((content, normalize_calls(&calls, response_id, 0)))
        }
        Some(Value::Null) | None => Err(ApiError::invalid_answer(
            "Argo returned no `response`; the model produced no answer, try again or change the request",
        )),
        Some(_) => Err(ApiError::invalid_answer(
            "Argo returned a `response` of an unexpected type",
        )),
    }
}

/// Claude calls written into the text join the structured ones; the text keeps the rest.
fn lift_leaked_calls(
    text: String,
    mut tool_calls: Vec<Value>,
    response_id: &str,
) -> (Option<String>, Vec<Value>) {
    let (leaked, rest) = leaked::extract(&text);
    if leaked.is_empty() {
        return (Some(text), tool_calls);
    }
    let known = tool_calls.len();
    tool_calls.extend(normalize_calls(&leaked, response_id, known));
    let rest = rest.trim();
    ((!rest.is_empty()).then(|| rest.to_string()), tool_calls)
}

/// Anthropic content blocks -> (joined text, tool_use blocks).
fn split_blocks(blocks: Vec<Value>) -> (Option<String>, Vec<Value>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Some("tool_use") => calls.push(block),
            _ => {}
        }
    }
    ((!text.is_empty()).then_some(text), calls)
}

/// `first_index` numbers the ids made for calls that have none, after calls already read.
fn normalize_calls(calls: &[Value], response_id: &str, first_index: usize) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .filter_map(|(index, call)| tools::normalize_call(call, response_id, first_index + index))
        .collect()
}

/// `streamchat`'s raw text into events: UTF-8 characters split between fragments joined, and
/// with prompt tools, tagged calls lifted out as they stream. Argo sends no usage.
#[derive(Debug, Default)]
pub struct TextDecoder {
    joiner: Utf8Joiner,
    scanner: Option<ToolScanner>,
    calls: usize,
}

impl TextDecoder {
    pub fn new() -> Self {
        TextDecoder::default()
    }

    /// A decoder for text that may carry prompt-based tool calls.
    pub fn with_tool_scanner(scanner: ToolScanner) -> Self {
        TextDecoder {
            scanner: Some(scanner),
            ..TextDecoder::default()
        }
    }

    fn emit(&mut self, text: &str, last: bool, events: &mut Vec<Event>) {
        let Some(scanner) = self.scanner.as_mut() else {
            if !text.is_empty() {
                events.push(Event::TextDelta(text.to_string()));
            }
            return;
        };
        let mut pieces = scanner.push(text);
        if last {
            pieces.extend(scanner.finish());
        }
        for piece in pieces {
            match piece {
                Piece::Text(text) => events.push(Event::TextDelta(text)),
                Piece::Call(call) => {
                    let Part::ToolCall {
                        id,
                        name,
                        arguments,
                    } = call_part(&call)
                    else {
                        continue;
                    };
                    let index = self.calls;
                    self.calls += 1;
                    events.push(Event::ToolCallStart { index, id, name });
                    events.push(Event::ToolCallArguments {
                        index,
                        fragment: arguments,
                    });
                }
            }
        }
    }
}

impl Decoder for TextDecoder {
    fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        let text = self.joiner.push(bytes);
        self.emit(&text, false, events);
    }

    fn finish(&mut self, events: &mut Vec<Event>) {
        let rest = self.joiner.finish();
        self.emit(&rest, true, events);
        events.push(Event::Finish(if self.calls > 0 {
            Finish::ToolCalls
        } else {
            Finish::Stop
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::openai_chat;
    use crate::fixtures::{decode, gpt, split};
    use crate::hub::{Dialect, Message, Role, Usage};
    use crate::models::{Kind, Sampling};
    use crate::openai::ResponseMeta;
    use proptest::prelude::*;
    use serde_json::json;

    fn scanning() -> TextDecoder {
        TextDecoder::with_tool_scanner(ToolScanner::new(vec!["f".into()], "chatcmpl-r1"))
    }

    #[test]
    fn text_and_prompt_calls_become_events() {
        let text = "Héllo <tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}</tool_call>";
        assert_eq!(
            decode(scanning(), &[text.as_bytes()]),
            vec![
                Event::TextDelta("Héllo ".into()),
                Event::ToolCallStart {
                    index: 0,
                    id: "call_r1_0".into(),
                    name: "f".into()
                },
                Event::ToolCallArguments {
                    index: 0,
                    fragment: "{\"a\":1}".into()
                },
                Event::Finish(Finish::ToolCalls),
            ]
        );
        assert_eq!(
            decode(TextDecoder::new(), &[b"caf\xc3", b"\xa9"]),
            vec![
                Event::TextDelta("caf".into()),
                Event::TextDelta("é".into()),
                Event::Finish(Finish::Stop)
            ]
        );
    }

    /// The text of `events`, joined.
    fn text_of(events: &[Event]) -> String {
        events
            .iter()
            .filter_map(|event| match event {
                Event::TextDelta(text) => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn split_utf8_characters_arrive_whole_and_empty_fragments_give_nothing() {
        let text = "héllo, 世界! 🎉";
        for split in 1..4 {
            let pieces: Vec<&[u8]> = text.as_bytes().chunks(split).collect();
            assert_eq!(
                text_of(&decode(TextDecoder::new(), &pieces)),
                text,
                "split every {split} bytes"
            );
        }
        let mut decoder = TextDecoder::new();
        let mut events = Vec::new();
        decoder.feed(b"", &mut events);
        decoder.feed(&[0xe4, 0xb8], &mut events);
        assert!(events.is_empty(), "half a character waits");
        decoder.feed(&[0x96], &mut events);
        assert_eq!(events, [Event::TextDelta("世".into())]);
    }

    #[test]
    fn a_runaway_tool_block_is_released_as_text_while_streaming() {
        let cap = 100;
        let scanner = ToolScanner::new(vec!["f".into()], "chatcmpl-abc").with_max_block_bytes(cap);
        let mut decoder = TextDecoder::with_tool_scanner(scanner);
        let text = format!("Hi <tool_call>{}", "y".repeat(1000));
        let mut events = Vec::new();
        for fragment in text.as_bytes().chunks(7) {
            decoder.feed(fragment, &mut events);
        }
        let streamed = text_of(&events);
        assert!(
            streamed.len() + cap + 20 >= text.len(),
            "held back at most the cap and a tag: {} of {}",
            streamed.len(),
            text.len()
        );
        decoder.finish(&mut events);
        assert_eq!(text_of(&events), text);
        assert_eq!(events.last(), Some(&Event::Finish(Finish::Stop)));
    }

    /// Text deltas merged, so that only what the events say is compared, not where they split.
    fn merged(events: Vec<Event>) -> Vec<Event> {
        let mut out: Vec<Event> = Vec::new();
        for event in events {
            match (out.last_mut(), event) {
                (Some(Event::TextDelta(text)), Event::TextDelta(more)) => text.push_str(&more),
                (_, event) => out.push(event),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn the_text_decodes_alike_however_split(
            parts in prop::collection::vec(prop_oneof![
                "\\PC{0,8}".prop_map(String::from),
                Just("<tool_call>".to_string()),
                Just("</tool_call>".to_string()),
                Just(r#"{"name":"f","arguments":{"a":1}}"#.to_string()),
            ], 0..8),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let text = parts.concat();
            let bytes = text.as_bytes();
            prop_assert_eq!(
                merged(decode(scanning(), &split(bytes, &cuts))),
                merged(decode(scanning(), &[bytes]))
            );
            prop_assert_eq!(
                merged(decode(TextDecoder::new(), &split(bytes, &cuts))),
                merged(decode(TextDecoder::new(), &[bytes]))
            );
        }
    }

    #[test]
    fn a_turn_of_several_results_becomes_one_tool_message_each() {
        let mut conversation = Conversation::new(
            Dialect::AnthropicMessages,
            vec![
                Message::text(Role::User, "Weather?"),
                Message::new(
                    Role::Assistant,
                    vec![
                        Part::tool_call("a", "f", "{}"),
                        Part::tool_call("b", "f", "{}"),
                    ],
                ),
                Message::new(
                    Role::Tool,
                    vec![
                        Part::ToolResult {
                            call_id: "a".into(),
                            content: "1".into(),
                            is_error: false,
                        },
                        Part::ToolResult {
                            call_id: "b".into(),
                            content: "2".into(),
                            is_error: true,
                        },
                    ],
                ),
            ],
        );
        conversation.extra.insert("top_k".into(), json!(3));
        let body: Value = serde_json::from_slice(
            &request_body(&conversation, &gpt(), "alice", Endpoint::Chat).unwrap(),
        )
        .unwrap();
        assert_eq!(
            body["messages"][2],
            json!({"role": "tool", "content": "1", "tool_call_id": "a"})
        );
        assert_eq!(body["messages"][3]["tool_call_id"], "b");
        assert!(
            body.get("top_k").is_none(),
            "the resource API takes no extras"
        );
    }

    /// Argo's chat body for an OpenAI chat request, as the gateway builds it.
    fn argo_for(body: &str, model: &ModelSpec, endpoint: Endpoint) -> Value {
        let (conversation, _) = openai_chat::read_request(body.as_bytes()).unwrap();
        serde_json::from_slice(&request_body(&conversation, model, "alice", endpoint).unwrap())
            .unwrap()
    }

    fn rewrite(body: &str, model: &ModelSpec) -> Value {
        argo_for(body, model, Endpoint::Chat)
    }

    fn reasoning(argo_id: &str) -> ModelSpec {
        ModelSpec {
            reasoning: true,
            ..ModelSpec::new(argo_id, argo_id, Family::Openai, Kind::Chat)
        }
    }

    fn claude(sampling: Sampling) -> ModelSpec {
        ModelSpec {
            sampling,
            max_tokens_cap: Some(21_000),
            ..ModelSpec::new(
                "claude-sonnet-4.5",
                "claudesonnet45",
                Family::Anthropic,
                Kind::Chat,
            )
        }
    }

    fn family_model(family: Family, tools: ToolMode) -> ModelSpec {
        ModelSpec {
            family,
            tools,
            ..gpt()
        }
    }

    #[test]
    fn rewrites_roles_content_parts_and_sampling() {
        let argo = rewrite(
            r#"{"model":"gpt-4o","user":"mallory","temperature":0.2,"top_p":0.9,"max_tokens":50,"stop":"END",
                "presence_penalty":1,"messages":[
                {"role":"developer","content":"Be brief."},
                {"role":"user","content":[{"type":"text","text":"Hello"},{"type":"text","text":"world"}]}]}"#,
            &gpt(),
        );
        assert_eq!(argo["user"], "alice");
        assert_eq!(argo["model"], "gpt4o");
        assert_eq!(
            argo["messages"][0],
            json!({"role":"system","content":"Be brief."})
        );
        assert_eq!(argo["messages"][1]["content"], "Hello\nworld");
        assert_eq!(argo["stop"], json!(["END"]));
        assert_eq!(
            (argo["temperature"].as_f64(), argo["top_p"].as_f64()),
            (Some(0.2), Some(0.9))
        );
        assert_eq!(argo["max_tokens"], 50);
        assert!(argo.get("max_completion_tokens").is_none());
        assert!(argo.get("presence_penalty").is_none());
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens() {
        let argo = rewrite(
            r#"{"model":"o3","temperature":0.5,"max_tokens":77,"messages":[{"role":"user","content":"hi"}]}"#,
            &reasoning("gpto3"),
        );
        assert_eq!(argo["max_completion_tokens"], 77);
        assert!(argo.get("max_tokens").is_none());
        assert_eq!(
            argo["temperature"], 0.5,
            "the o-series takes sampling on Argo"
        );
    }

    const BOTH_SAMPLINGS: &str = r#"{"model":"m","temperature":0.3,"top_p":0.8,"max_tokens":50000,
        "messages":[{"role":"user","content":"hi"}]}"#;

    #[test]
    fn claude_gets_one_sampling_parameter_and_a_capped_limit_without_streaming() {
        let argo = argo_for(BOTH_SAMPLINGS, &claude(Sampling::OneOf), Endpoint::Chat);
        assert_eq!(
            (argo["temperature"].as_f64(), argo.get("top_p")),
            (Some(0.3), None)
        );
        assert_eq!(argo["max_tokens"], 21_000);
        let streamed = argo_for(
            BOTH_SAMPLINGS,
            &claude(Sampling::OneOf),
            Endpoint::StreamChat,
        );
        assert_eq!(streamed["max_tokens"], 50_000, "streams are not capped");
        let top_p_only = argo_for(
            r#"{"model":"m","top_p":0.8,"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#,
            &claude(Sampling::OneOf),
            Endpoint::Chat,
        );
        assert_eq!(
            (top_p_only.get("temperature"), top_p_only["top_p"].as_f64()),
            (None, Some(0.8))
        );
        assert_eq!(top_p_only["max_tokens"], 10);
    }

    #[test]
    fn sampling_rules_any_and_none() {
        let any = argo_for(BOTH_SAMPLINGS, &claude(Sampling::Any), Endpoint::Chat);
        assert_eq!(
            (any["temperature"].as_f64(), any["top_p"].as_f64()),
            (Some(0.3), Some(0.8))
        );
        let none = argo_for(BOTH_SAMPLINGS, &claude(Sampling::None), Endpoint::Chat);
        assert!(none.get("temperature").is_none() && none.get("top_p").is_none());
        let gpt5 = ModelSpec {
            sampling: Sampling::None,
            ..reasoning("gpt5")
        };
        let argo = argo_for(BOTH_SAMPLINGS, &gpt5, Endpoint::Chat);
        assert!(argo.get("temperature").is_none() && argo.get("top_p").is_none());
        assert_eq!(argo["max_completion_tokens"], 50_000, "no cap for gpt-5");
    }

    #[test]
    fn claude_and_gemini_conversations_end_with_a_user_turn() {
        let body = r#"{"model":"m","messages":[{"role":"system","content":"Be brief."},
            {"role":"user","content":"Write a haiku."},{"role":"assistant","content":"Autumn moon"}]}"#;
        for model in [
            claude(Sampling::Any),
            family_model(Family::Google, ToolMode::Prompt),
        ] {
            let messages = rewrite(body, &model)["messages"].clone();
            let messages = messages.as_array().unwrap();
            assert_eq!(
                messages[messages.len() - 1],
                json!({"role": "user", "content": CONTINUE_TURN})
            );
            assert_eq!(messages[messages.len() - 2]["role"], "assistant");
        }
        let openai = rewrite(body, &gpt());
        assert_eq!(openai["messages"].as_array().unwrap().len(), 3);
        let system_only = rewrite(
            r#"{"model":"m","messages":[{"role":"system","content":"Say hi."}]}"#,
            &claude(Sampling::Any),
        );
        assert_eq!(system_only["messages"][1]["content"], CONTINUE_TURN);
        let ends_with_user = rewrite(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            &claude(Sampling::Any),
        );
        assert_eq!(ends_with_user["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn streams_use_streamchat_unless_native_tools_or_the_model_forbid() {
        let endpoint = |body: &str, model: &ModelSpec| {
            let (conversation, _) = openai_chat::read_request(body.as_bytes()).unwrap();
            endpoint(&conversation, model)
        };
        let plain = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let tools = r#"{"model":"m","stream":true,"tools":[{"type":"function","function":{"name":"f"}}],
            "messages":[{"role":"user","content":"hi"}]}"#;
        let gemini = family_model(Family::Google, ToolMode::Prompt);
        assert_eq!(endpoint(plain, &gpt()), Endpoint::StreamChat);
        assert_eq!(endpoint(tools, &gpt()), Endpoint::Chat);
        assert_eq!(endpoint(tools, &gemini), Endpoint::StreamChat);
        let no_stream = ModelSpec {
            stream: false,
            ..gpt()
        };
        assert_eq!(endpoint(plain, &no_stream), Endpoint::Chat);
        assert_eq!(
            endpoint(
                r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
                &gpt()
            ),
            Endpoint::Chat
        );
    }

    #[test]
    fn image_parts_are_forwarded_as_parts() {
        let argo = rewrite(
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}"#,
            &gpt(),
        );
        assert_eq!(argo["messages"][0]["content"][1]["type"], "image_url");
        assert_eq!(
            argo["messages"][0]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AAAA"
        );
    }

    const WEATHER_TURN: &str = r#"{"model":"m","tool_choice":"required","parallel_tool_calls":false,
        "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
        "messages":[{"role":"user","content":"Weather in Paris?"},
          {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
          {"role":"tool","tool_call_id":"call_1","content":"18C"}]}"#;

    #[test]
    fn openai_models_get_tools_natively() {
        let argo = rewrite(
            WEATHER_TURN,
            &family_model(Family::Openai, ToolMode::Native),
        );
        assert_eq!(argo["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(argo["tool_choice"], "required");
        assert!(
            argo.get("parallel_tool_calls").is_none(),
            "both peers strip it for Argo"
        );
        assert_eq!(argo["messages"][1]["tool_calls"][0]["id"], "call_1");
        assert_eq!(
            argo["messages"][2],
            json!({"role":"tool","content":"18C","tool_call_id":"call_1"})
        );
    }

    #[test]
    fn claude_models_get_anthropic_tools_and_blocks() {
        let argo = rewrite(
            WEATHER_TURN,
            &family_model(Family::Anthropic, ToolMode::Native),
        );
        assert_eq!(
            argo["tools"][0]["input_schema"]["properties"]["city"]["type"],
            "string"
        );
        assert_eq!(
            argo["tool_choice"],
            json!({"type":"any","disable_parallel_tool_use":true})
        );
        assert!(argo.get("parallel_tool_calls").is_none());
        assert_eq!(argo["messages"][1]["content"][0]["type"], "tool_use");
        assert_eq!(argo["messages"][2]["content"][0]["type"], "tool_result");
    }

    #[test]
    fn gemini_models_get_tools_in_the_prompt() {
        let argo = rewrite(
            WEATHER_TURN,
            &family_model(Family::Google, ToolMode::Prompt),
        );
        assert!(argo.get("tools").is_none() && argo.get("tool_choice").is_none());
        assert_eq!(argo["messages"][0]["role"], "system");
        assert!(argo["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("get_weather"));
        assert!(argo["messages"][2]["content"]
            .as_str()
            .unwrap()
            .starts_with("<tool_call>"));
        assert!(argo["messages"][3]["content"]
            .as_str()
            .unwrap()
            .contains("18C"));
    }

    #[test]
    fn argo_text_answer_becomes_chat_completion() {
        let answer = read_answer(
            br#"{"response":"Hi there"}"#,
            &ToolReplies::Native,
            "chatcmpl-1",
        )
        .unwrap();
        let meta = ResponseMeta {
            id: "chatcmpl-1".into(),
            created: 42,
            model: "GPT-4o".into(),
        };
        let json: Value = serde_json::from_slice(&openai_chat::answer_json(
            &answer,
            &meta,
            &Usage::new(10, 2),
        ))
        .unwrap();
        assert_eq!(json["object"], "chat.completion");
        assert_eq!(json["model"], "GPT-4o");
        assert_eq!(json["choices"][0]["message"]["content"], "Hi there");
        assert_eq!(json["choices"][0]["message"]["role"], "assistant");
        assert_eq!(json["choices"][0]["finish_reason"], "stop");
        assert!(json["choices"][0]["message"].get("tool_calls").is_none());
        assert_eq!(json["usage"]["prompt_tokens"], 10);
        assert_eq!(json["usage"]["completion_tokens"], 2);
        assert_eq!(json["usage"]["total_tokens"], 12);
    }

    #[test]
    fn bad_argo_answers_are_bad_gateway() {
        for body in [
            &b"not json"[..],
            br#"{"response":null}"#,
            br#"{"other":1}"#,
            br#"{"response":[1]}"#,
        ] {
            assert_eq!(
                read_answer(body, &ToolReplies::Native, "r")
                    .unwrap_err()
                    .status,
                502,
                "{body:?}"
            );
        }
    }

    /// An answer's calls as `(id, name, arguments)`.
    fn calls(answer: &Answer) -> Vec<(&str, &str, &str)> {
        answer.tool_calls().collect()
    }

    #[test]
    fn tool_calls_in_every_answer_shape_become_calls() {
        let prompt = ToolReplies::Prompt {
            names: vec!["get_weather".into()],
        };
        let cases: [(&[u8], &ToolReplies); 4] = [
            (br#"{"response":{"content":"","tool_calls":[{"id":"call_x","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}"#, &ToolReplies::Native),
            (br#"{"response":{"content":null,"tool_calls":[{"type":"tool_use","id":"call_x","name":"get_weather","input":{"city":"Paris"}}]}}"#, &ToolReplies::Native),
            (br#"{"response":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"call_x","name":"get_weather","input":{"city":"Paris"}}]}"#, &ToolReplies::Native),
            (br#"{"response":"Checking.\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}</tool_call>"}"#, &prompt),
        ];
        for (body, tools) in cases {
            let answer = read_answer(body, tools, "chatcmpl-x").unwrap();
            let calls = calls(&answer);
            assert_eq!(calls.len(), 1, "{}", String::from_utf8_lossy(body));
            let (id, _, arguments) = calls[0];
            assert!(id.starts_with("call_x"));
            assert_eq!(arguments, r#"{"city":"Paris"}"#);
            assert_eq!(answer.finish, Finish::ToolCalls);
            assert!(answer.text().is_none() || answer.text().as_deref() == Some("Checking."));
        }
        let plain = read_answer(
            br#"{"response":"<tool_call>{\"name\":\"get_weather\"}</tool_call>"}"#,
            &ToolReplies::Native,
            "r",
        )
        .unwrap();
        assert!(
            calls(&plain).is_empty(),
            "native models' text is never parsed for tags"
        );
    }

    #[test]
    fn tool_call_shapes_argo_really_sends_become_calls() {
        // Argo's answer, the calls expected as (id, name), the text left.
        type Case<'a> = (&'a [u8], &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: [Case; 4] = [
            // Gemini: entries with a null id and `args`.
            (
                br#"{"response":{"content":"","tool_calls":[{"id":null,"name":"get_weather","args":{"city":"Paris"}},{"id":null,"name":"get_time","args":{}}]}}"#,
                &[("call_r1_0", "get_weather"), ("call_r1_1", "get_time")],
                None,
            ),
            // `tool_calls` as one object, not a list.
            (
                br#"{"response":{"content":"Checking.","tool_calls":{"id":"toolu_1","type":"tool_use","name":"get_weather","input":{"city":"Paris"}}}}"#,
                &[("toolu_1", "get_weather")],
                Some("Checking."),
            ),
            // Claude's call leaked into the text as a Python dict.
            (
                br#"{"response":"Let me check.{'id': 'toolu_vrtx_01X', 'input': {'city': 'Paris'}, 'name': 'get_weather', 'type': 'tool_use'}"}"#,
                &[("toolu_vrtx_01X", "get_weather")],
                Some("Let me check."),
            ),
            // A leaked call next to a structured one.
            (
                br#"{"response":{"content":"{'id': 'toolu_2', 'input': {'city': 'Rome'}, 'name': 'get_weather', 'type': 'tool_use'}","tool_calls":[{"id":"toolu_1","type":"tool_use","name":"get_weather","input":{"city":"Paris"}}]}}"#,
                &[("toolu_1", "get_weather"), ("toolu_2", "get_weather")],
                None,
            ),
        ];
        for (body, expected, content) in cases {
            let answer = read_answer(body, &ToolReplies::Native, "chatcmpl-r1").unwrap();
            let calls = calls(&answer);
            let named: Vec<(&str, &str)> = calls.iter().map(|&(id, name, _)| (id, name)).collect();
            assert_eq!(named, expected, "{}", String::from_utf8_lossy(body));
            assert_eq!(answer.text().as_deref(), content);
            assert!(calls[0].2.starts_with('{'));
            assert_eq!(answer.finish, Finish::ToolCalls);
        }
    }

    #[test]
    fn leaked_text_is_left_alone_without_tools() {
        let body = br#"{"response":"Here is a repr: {'id': 'toolu_1', 'input': {}, 'name': 'f', 'type': 'tool_use'}"}"#;
        let answer = read_answer(body, &ToolReplies::None, "r").unwrap();
        assert!(calls(&answer).is_empty());
        assert!(answer.text().unwrap().contains("toolu_1"));
    }
}
