//! `POST {base}/v1/responses` (OpenAI Responses) and `POST {base}/v1/messages/count_tokens`.
//!
//! Responses (argo-api.md §C, strong: live, argo-proxy's probe recording of 2026-09-27,
//! `tools/argo_probe_out/responses_support.*`, and APEXA 2026-09-28): served natively for every
//! `gpt*` model, with the username as bearer token (`x-api-key` alone is refused); Claude and
//! Gemini get HTTP 500 there. Custom tools (`{"type": "custom"}`) with a description over 4,096
//! characters are refused, function tools of 13k characters pass (live). The answer shapes and
//! SSE events follow OpenAI's Responses API, which Argo passes through (a scripted call of a
//! `custom` tool is a `custom_tool_call` item carrying its `input`, as OpenAI answers); the
//! texts of the refusals are the mock's (none is recorded). `echo_request` answers with the
//! request as received, as on the other native endpoints.
//!
//! count_tokens (argo-api.md §C: the route is in Argo's published routes, argo-anywhere's
//! `openapi.json` of 2026-08-14; no body is recorded): Anthropic's `{"input_tokens": N}`, N the
//! mock's estimate, the same number a `/v1/messages` answer to the same body reports as
//! `usage.input_tokens`.

use std::time::Duration;

use serde_json::{json, Value};

use super::errors::{
    bearer, check_identity, check_messages_field, invalid, json_answer, parse, required_model,
    scripted_error, unauthenticated, unknown_model,
};
use super::said::{input_tokens, string_tokens, truncate_tokens};
use super::turn::{Meta, Outcome, Pace, Steps};
use crate::rules;
use crate::sse::{self, Step};
use crate::tools::Dialect;
use crate::{Directive, MockArgo, MockRequest};

/// The longest description a Responses `custom` tool may have (argo-api.md §C, live).
pub const MAX_CUSTOM_TOOL_DESCRIPTION: usize = 4096;

/// One answer on `/v1/responses`: text, function calls, or both.
struct Said {
    text: Vec<String>,
    calls: Vec<(String, Value)>,
    /// Cut at `max_output_tokens`.
    incomplete: bool,
    input_tokens: u64,
    usage_nulls: bool,
    /// The request's `custom` tools: their calls are `custom_tool_call` items carrying the
    /// call's `input` (OpenAI's Responses API, which Argo passes through).
    custom_tools: Vec<String>,
}

impl Said {
    fn output_tokens(&self) -> u64 {
        let calls: u64 = self
            .calls
            .iter()
            .map(|(name, arguments)| {
                super::said::count_tokens(name) + super::said::count_tokens(&arguments.to_string())
            })
            .sum();
        (super::said::count_tokens(&self.text.concat()) + calls).max(1)
    }

    fn usage(&self) -> Value {
        let output = self.output_tokens();
        let (cached, reasoning) = match self.usage_nulls {
            true => (Value::Null, Value::Null),
            false => (json!(0), json!(0)),
        };
        json!({"input_tokens": self.input_tokens, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": self.input_tokens + output})
    }

    fn has_message(&self) -> bool {
        !self.text.is_empty() || self.calls.is_empty()
    }

    fn is_custom(&self, name: &str) -> bool {
        self.custom_tools.iter().any(|custom| custom == name)
    }
}

impl MockArgo {
    /// `POST {base}/v1/responses`.
    pub(crate) fn responses(&self, request: &MockRequest) -> (Answer, Duration) {
        super::errors::settle(self.try_responses(request))
    }

    /// `POST {base}/v1/messages/count_tokens`.
    pub(crate) fn count_tokens(&self, request: &MockRequest) -> (Answer, Duration) {
        super::errors::settle(self.try_count_tokens(request))
    }

    fn try_responses(&self, request: &MockRequest) -> Outcome {
        let dialect = Dialect::OpenAi;
        let username = match bearer(request) {
            Some(username) => username,
            None if request.header("x-api-key").is_some() => {
                return Err(rules::openai_plain(
                    401,
                    "x-api-key is not accepted on /v1/responses: Argo takes `Authorization: Bearer <username>` (mock text)",
                    "invalid_request_error",
                    "invalid_api_key",
                ))
            }
            None => return Err(unauthenticated()),
        };
        let body = parse(dialect, &request.body)?;
        check_identity(dialect, &body, username)?;
        let model = required_model(dialect, &body)?;
        if !self.models.serves_chat(model) {
            return Err(unknown_model(dialect, model));
        }
        if !model.starts_with("gpt") {
            return Err(rules::openai_plain(
                500,
                &format!("/v1/responses is served for GPT models only, not `{model}` (mock text)"),
                "internal_error",
                "internal_error",
            ));
        }
        check_input(&body)?;
        check_custom_tools(&body)?;
        let streaming = body["stream"] == true;
        rules::check_parameters(model, &body, streaming)?;
        // An added model refuses its parameters here too, in OpenAI's words.
        if let Some(param) = self.models.refused(model, &body) {
            return Err(rules::refuses_parameter(model, &param));
        }
        let directive = crate::parse_directive(user_texts(&body).next(), &body)
            .map_err(|(_, message)| invalid(dialect, message))?;
        let delay = Duration::from_millis(directive.delay_ms.unwrap_or(0));
        if rules::is_unregistered(username) {
            let text = match streaming {
                true => format!(
                    "{}\n\n{}",
                    rules::AUTH_NOTICE,
                    self.reply(model, &body, &directive)
                ),
                false => rules::AUTH_NOTICE.to_string(),
            };
            let said = self.said_text(&body, text, &Directive::default());
            return Ok((
                self.response_answer(model, &body, &said, &Directive::default()),
                delay,
            ));
        }
        if let Some(status) = directive.status {
            return Ok((scripted_error(dialect, status, &directive), delay));
        }
        if let Some(response) = &directive.response {
            return Ok((json_answer((200, response.clone())), delay));
        }
        let said = match &directive.tool_call {
            Some(scripted) => self.tool_turn(&body, scripted.calls(), &directive)?,
            None if directive.echo_request => {
                self.said_text(&body, super::said::echo(request, &body), &directive)
            }
            None => {
                let text = self.reply(model, &body, &directive);
                self.said_text(&body, text, &directive)
            }
        };
        let answer = self.response_answer(model, &body, &said, &directive);
        Ok((crate::with_fault(answer, &directive), delay))
    }

    fn try_count_tokens(&self, request: &MockRequest) -> Outcome {
        let dialect = Dialect::Anthropic;
        let username = request
            .header("x-api-key")
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .or_else(|| bearer(request))
            .ok_or_else(|| {
                rules::anthropic_plain(401, "authentication_error", "x-api-key header is required")
            })?;
        let body = parse(dialect, &request.body)?;
        check_identity(dialect, &body, username)?;
        let model = required_model(dialect, &body)?;
        if !self.models.serves_chat(model) {
            return Err(unknown_model(dialect, model));
        }
        if !rules::is_claude(model) {
            return Err(invalid(
                dialect,
                format!("`{model}` is not a Claude model: count_tokens counts for Claude only (mock text)"),
            ));
        }
        check_messages_field(dialect, &body)?;
        Ok((
            json_answer((200, json!({"input_tokens": input_tokens(&body)}))),
            Duration::ZERO,
        ))
    }

    fn reply(&self, model: &str, body: &Value, directive: &Directive) -> String {
        if let Some(reply) = &directive.reply {
            return reply.clone();
        }
        let said: String = user_texts(body)
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        format!("Hello from mock Argo ({model}). You said: {said}")
    }

    fn said_text(&self, body: &Value, text: String, directive: &Directive) -> Said {
        let size = directive
            .fragment_bytes
            .unwrap_or(self.options.fragment_bytes);
        let (text, incomplete) = match body["max_output_tokens"]
            .as_u64()
            .and_then(|max| truncate_tokens(&text, max))
        {
            Some(cut) => (cut, true),
            None => (text, false),
        };
        let text = match &directive.fragments {
            Some(fragments) => fragments.clone(),
            None => sse::split(&text, size),
        };
        Said {
            text,
            calls: Vec::new(),
            incomplete,
            input_tokens: responses_input_tokens(body),
            usage_nulls: directive.usage_nulls,
            custom_tools: Vec::new(),
        }
    }

    /// A scripted tool turn: the calls, or, once the input ends with their outputs, text
    /// quoting them (`The tool said: RESULT`, several joined with `; `), as on chat.
    fn tool_turn(
        &self,
        body: &Value,
        calls: &[crate::tools::ScriptedCall],
        directive: &Directive,
    ) -> Result<Said, rules::Refusal> {
        for call in calls {
            if !declares_tool(body, &call.name) {
                return Err(invalid(
                    Dialect::OpenAi,
                    format!("the scripted tool `{}` is not among the request's tools in the shape {{\"type\": \"function\", \"name\", \"parameters\"}}", call.name),
                ));
            }
        }
        let outputs = trailing_outputs(body);
        if !outputs.is_empty() {
            let text = format!("The tool said: {}", outputs.join("; "));
            return Ok(self.said_text(body, text, directive));
        }
        let size = directive
            .fragment_bytes
            .unwrap_or(self.options.fragment_bytes);
        let arguments = |call: &crate::tools::ScriptedCall| match &call.arguments {
            Value::Null => json!({}),
            other => other.clone(),
        };
        Ok(Said {
            text: sse::split(directive.reply.as_deref().unwrap_or_default(), size),
            calls: calls
                .iter()
                .map(|call| (call.name.clone(), arguments(call)))
                .collect(),
            incomplete: false,
            input_tokens: responses_input_tokens(body),
            usage_nulls: directive.usage_nulls,
            custom_tools: custom_tool_names(body),
        })
    }

    fn response_answer(
        &self,
        model: &str,
        body: &Value,
        said: &Said,
        directive: &Directive,
    ) -> Answer {
        let meta = self.meta(Dialect::OpenAi, model);
        let id = meta.id.replacen("chatcmpl-", "resp_", 1);
        let meta = Meta { id, ..meta };
        if body["stream"] != true {
            return json_answer((200, response_object(&meta, said, "final")));
        }
        let pace = self.pace(directive);
        Answer::Sse {
            steps: response_stream(&meta, said, &pace),
            pause: pace.pause,
            cut_after: directive.cut_after,
        }
    }
}

use crate::Answer;

/// `input` is required: a string or a non-empty list of items.
fn check_input(body: &Value) -> Result<(), rules::Refusal> {
    match &body["input"] {
        Value::String(text) if !text.is_empty() => Ok(()),
        Value::Array(items) if !items.is_empty() => Ok(()),
        _ => Err(rules::openai_plain(
            400,
            "Missing required parameter: 'input'.",
            "invalid_request_error",
            "missing_required_parameter",
        )),
    }
}

/// argo-api.md §C (live): a `custom` tool's description over 4,096 characters is refused;
/// function tools are not limited so (13k characters passed). The words are OpenAI's usual
/// ones for a string above its limit (the recorded refusal's are not public).
fn check_custom_tools(body: &Value) -> Result<(), rules::Refusal> {
    let tools = body["tools"].as_array().into_iter().flatten();
    for (index, tool) in tools.enumerate() {
        let length = tool["description"]
            .as_str()
            .map_or(0, |text| text.chars().count());
        if tool["type"] == "custom" && length > MAX_CUSTOM_TOOL_DESCRIPTION {
            return Err(rules::openai_plain(
                400,
                &format!("Invalid 'tools[{index}].description': string too long. Expected a string with maximum length {MAX_CUSTOM_TOOL_DESCRIPTION}, but got a string with length {length} instead."),
                "invalid_request_error",
                "string_above_max_length",
            ));
        }
    }
    Ok(())
}

/// Whether the request's tools name `name` (Responses tools are flat: `{"type": "function",
/// "name", "parameters"}`, or `{"type": "custom", "name"}`).
fn declares_tool(body: &Value, name: &str) -> bool {
    body["tools"].as_array().into_iter().flatten().any(|tool| {
        matches!(tool["type"].as_str(), Some("function" | "custom"))
            && tool["name"].as_str() == Some(name)
    })
}

/// The names of the request's `custom` tools.
fn custom_tool_names(body: &Value) -> Vec<String> {
    let tools = body["tools"].as_array().into_iter().flatten();
    tools
        .filter(|tool| tool["type"] == "custom")
        .filter_map(|tool| tool["name"].as_str().map(str::to_string))
        .collect()
}

/// A custom tool call's `input`: the scripted arguments' `input` string, else the arguments
/// as JSON text.
fn custom_input(arguments: &Value) -> String {
    match &arguments["input"] {
        Value::String(input) => input.clone(),
        _ => arguments.to_string(),
    }
}

/// The `function_call_output` (or `custom_tool_call_output`) items the input ends with, their
/// outputs as text.
fn trailing_outputs(body: &Value) -> Vec<String> {
    let items: Vec<&Value> = body["input"].as_array().into_iter().flatten().collect();
    let mut outputs: Vec<String> = items
        .iter()
        .rev()
        .take_while(|item| {
            matches!(
                item["type"].as_str(),
                Some("function_call_output" | "custom_tool_call_output")
            )
        })
        .map(|item| match &item["output"] {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|part| part["text"].as_str())
                .collect(),
            other => other.to_string(),
        })
        .collect();
    outputs.reverse();
    outputs
}

/// The user's texts in the input, newest first: the string `input`, or the `content` of user
/// message items (a string, or `input_text` parts, the last first).
fn user_texts(body: &Value) -> impl Iterator<Item = &str> {
    let whole = body["input"].as_str();
    let items = body["input"].as_array().into_iter().flatten().rev();
    let texts = items
        .filter(|item| item["role"] == "user")
        .filter_map(|item| match &item["content"] {
            Value::String(text) => Some(text.as_str()),
            Value::Array(parts) => parts.iter().rev().find_map(|part| part["text"].as_str()),
            _ => None,
        });
    whole.into_iter().chain(texts)
}

/// Tokens of every string in `instructions`, `input` and `tools`, but roles and types.
fn responses_input_tokens(body: &Value) -> u64 {
    (string_tokens(&body["instructions"])
        + string_tokens(&body["input"])
        + string_tokens(&body["tools"]))
    .max(1)
}

/// The output items: a message when there is text (or nothing else), then the function calls.
fn output_items(meta: &Meta, said: &Said, status: &str) -> Vec<Value> {
    let mut items = Vec::new();
    if said.has_message() {
        let content = match status {
            "in_progress" => json!([]),
            _ => json!([{"type": "output_text", "text": said.text.concat(), "annotations": []}]),
        };
        items.push(
            json!({"type": "message", "id": message_id(meta), "status": status,
            "role": "assistant", "content": content}),
        );
    }
    for (index, (name, arguments)) in said.calls.iter().enumerate() {
        if said.is_custom(name) {
            let input = match status {
                "in_progress" => String::new(),
                _ => custom_input(arguments),
            };
            items.push(
                json!({"type": "custom_tool_call", "id": format!("ctc_mock_{}", index + 1),
                "call_id": format!("call_mock_{}", index + 1), "name": name, "input": input}),
            );
            continue;
        }
        let arguments = match status {
            "in_progress" => String::new(),
            _ => arguments.to_string(),
        };
        items.push(
            json!({"type": "function_call", "id": format!("fc_mock_{}", index + 1),
            "call_id": format!("call_mock_{}", index + 1), "name": name,
            "arguments": arguments, "status": status}),
        );
    }
    items
}

fn message_id(meta: &Meta) -> String {
    meta.id.replacen("resp_", "msg_", 1)
}

/// The `response` object: `in_progress` (no output, no usage) at a stream's start, otherwise
/// complete or, when cut at `max_output_tokens`, incomplete.
fn response_object(meta: &Meta, said: &Said, stage: &str) -> Value {
    let (status, output, usage) = match stage {
        "start" => ("in_progress", json!([]), Value::Null),
        _ if said.incomplete => (
            "incomplete",
            json!(output_items(meta, said, "incomplete")),
            said.usage(),
        ),
        _ => (
            "completed",
            json!(output_items(meta, said, "completed")),
            said.usage(),
        ),
    };
    let incomplete_details = match status {
        "incomplete" => json!({"reason": "max_output_tokens"}),
        _ => Value::Null,
    };
    json!({"id": meta.id, "object": "response", "created_at": meta.created, "status": status,
        "model": meta.model, "output": output, "error": null,
        "incomplete_details": incomplete_details, "parallel_tool_calls": true, "usage": usage})
}

/// Responses SSE events, each `event: NAME` + `data: {"type": NAME, "sequence_number", ...}`.
struct Events {
    steps: Steps,
    sequence: u64,
}

impl Events {
    fn frame(&mut self, name: &str, mut data: Value) -> bytes::Bytes {
        data["type"] = json!(name);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        sse::event(name, &data)
    }

    fn now(&mut self, name: &str, data: Value) {
        let bytes = self.frame(name, data);
        self.steps.now(bytes);
    }

    fn paced(&mut self, name: &str, data: Value) {
        let bytes = self.frame(name, data);
        self.steps.paced(bytes);
    }
}

/// OpenAI's Responses stream: `response.created`, `response.in_progress`; for the message
/// `response.output_item.added`, `response.content_part.added`, `response.output_text.delta`
/// (one per fragment), `response.output_text.done`, `response.content_part.done`,
/// `response.output_item.done`; for each call `response.output_item.added`,
/// `response.function_call_arguments.delta` pieces, `response.function_call_arguments.done`,
/// `response.output_item.done`; then `response.completed` (`response.incomplete` when cut at
/// `max_output_tokens`) with the usage. A `stream_error` directive ends it with an `error`
/// event instead; `then_forever` repeats a text delta; `pings` sends `: ping` comments.
fn response_stream(meta: &Meta, said: &Said, pace: &Pace) -> Vec<Step> {
    let mut events = Events {
        steps: Steps {
            steps: Vec::new(),
            pings: pace.pings.then(|| sse::comment("ping")),
        },
        sequence: 0,
    };
    let start = response_object(meta, said, "start");
    events.now("response.created", json!({"response": start}));
    events.now("response.in_progress", json!({"response": start}));
    let done = output_items(meta, said, "completed");
    let added = output_items(meta, said, "in_progress");
    let mut output_index = 0;
    if said.has_message() {
        let item_id = message_id(meta);
        let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
        events.now(
            "response.output_item.added",
            json!({"output_index": 0, "item": added[0]}),
        );
        events.now(
            "response.content_part.added",
            merged(
                &at,
                json!({"part": {"type": "output_text", "text": "", "annotations": []}}),
            ),
        );
        for piece in &said.text {
            events.paced(
                "response.output_text.delta",
                merged(&at, json!({"delta": piece})),
            );
        }
        if let Some(forever) = &pace.forever {
            let bytes = events.frame(
                "response.output_text.delta",
                merged(&at, json!({"delta": forever})),
            );
            return events.steps.forever(bytes);
        }
        let text = said.text.concat();
        events.now(
            "response.output_text.done",
            merged(&at, json!({"text": text})),
        );
        events.now(
            "response.content_part.done",
            merged(
                &at,
                json!({"part": {"type": "output_text", "text": text, "annotations": []}}),
            ),
        );
        events.now(
            "response.output_item.done",
            json!({"output_index": 0, "item": done[0]}),
        );
        output_index = 1;
    }
    for (call, (name, arguments)) in said.calls.iter().enumerate() {
        let index = output_index + call;
        events.paced(
            "response.output_item.added",
            json!({"output_index": index, "item": added[index]}),
        );
        if said.is_custom(name) {
            let item_id = format!("ctc_mock_{}", call + 1);
            let input = custom_input(arguments);
            for piece in sse::split(&input, pace.size) {
                events.paced(
                    "response.custom_tool_call_input.delta",
                    json!({"item_id": item_id, "output_index": index, "delta": piece}),
                );
            }
            events.now(
                "response.custom_tool_call_input.done",
                json!({"item_id": item_id, "output_index": index, "input": input}),
            );
            events.now(
                "response.output_item.done",
                json!({"output_index": index, "item": done[index]}),
            );
            continue;
        }
        let item_id = format!("fc_mock_{}", call + 1);
        let arguments = arguments.to_string();
        for piece in sse::split(&arguments, pace.size) {
            events.paced(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": piece}),
            );
        }
        events.now(
            "response.function_call_arguments.done",
            json!({"item_id": item_id, "output_index": index, "name": name, "arguments": arguments}),
        );
        events.now(
            "response.output_item.done",
            json!({"output_index": index, "item": done[index]}),
        );
    }
    if let Some(message) = &pace.stream_error {
        events.now(
            "error",
            json!({"code": "server_error", "message": message, "param": null}),
        );
        return events.steps.steps;
    }
    let last = match said.incomplete {
        true => "response.incomplete",
        false => "response.completed",
    };
    events.now(
        last,
        json!({"response": response_object(meta, said, "final")}),
    );
    events.steps.steps
}

/// `base` with the fields of `more` added.
fn merged(base: &Value, more: Value) -> Value {
    let mut out = base.clone();
    if let (Some(out), Value::Object(more)) = (out.as_object_mut(), more) {
        out.extend(more);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{json_of, message_of, mock, request, stream_of};
    use super::*;

    const RESPONSES: &str = "/argoapi/v1/responses";
    const COUNT: &str = "/argoapi/v1/messages/count_tokens";

    fn ask(user: &str, body: &Value) -> Answer {
        mock()
            .respond(&request(
                RESPONSES,
                &[("authorization", &format!("Bearer {user}"))],
                body,
            ))
            .0
    }

    fn weather_tools() -> Value {
        json!([{"type": "function", "name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}])
    }

    const WEATHER: &str = "Weather? #mock {\"tool_call\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}";

    /// argo-api.md §C (live, argo-proxy probe 2026-09-27): GPT models answer natively.
    #[test]
    fn responses_answer_gpt_models_with_a_response_object() {
        let body = json!({"model": "gpt5", "user": "alice", "instructions": "be brief",
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi there"}]}]});
        let (status, json) = json_of(ask("alice", &body));
        assert_eq!(status, 200, "{json}");
        assert_eq!(json["object"], "response");
        assert_eq!(json["status"], "completed");
        assert!(json["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(json["output"][0]["type"], "message");
        assert_eq!(
            json["output"][0]["content"][0],
            json!({"type": "output_text", "text": "Hello from mock Argo (gpt5). You said: hi there", "annotations": []})
        );
        let usage = &json["usage"];
        assert_eq!(usage["input_tokens"], 3 + 3, "be brief, hi there");
        assert_eq!(
            usage["total_tokens"].as_u64(),
            Some(
                usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap()
            )
        );
        let short = json!({"model": "gpt4o", "input": "x #mock {\"reply\": \"one two three\"}", "max_output_tokens": 2});
        let (_, json) = json_of(ask("alice", &short));
        assert_eq!(json["status"], "incomplete");
        assert_eq!(json["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(json["output"][0]["content"][0]["text"], "one two");
        let nulls = json!({"model": "gpt4o", "input": "x #mock {\"usage_nulls\": true}"});
        let (_, json) = json_of(ask("alice", &nulls));
        assert_eq!(
            json["usage"]["input_tokens_details"]["cached_tokens"],
            Value::Null
        );
        let hot = json!({"model": "gpt56sol", "input": "hi", "temperature": 0.2});
        assert_eq!(json_of(ask("alice", &hot)).0, 400);
    }

    /// argo-api.md §C (live): Bearer username only; Claude and Gemini get 500.
    #[test]
    fn responses_refuse_other_families_and_other_credentials() {
        let body = json!({"model": "gpt4o", "input": "hi"});
        let key_only = request(RESPONSES, &[("x-api-key", "alice")], &body);
        assert_eq!(json_of(mock().respond(&key_only).0).0, 401);
        assert_eq!(
            json_of(mock().respond(&request(RESPONSES, &[], &body)).0).0,
            401
        );
        for model in ["claudesonnet45", "claudeopus47", "gemini25pro"] {
            let (status, json) = json_of(ask("alice", &json!({"model": model, "input": "hi"})));
            assert_eq!(status, 500, "{model}");
            assert_eq!(json["error"]["code"], "internal_error");
        }
        assert_eq!(
            json_of(ask("alice", &json!({"model": "gpt4", "input": "hi"}))).0,
            404
        );
        assert_eq!(json_of(ask("alice", &json!({"model": "gpt4o"}))).0, 400);
        let (status, json) = json_of(ask("unregistered-x", &body));
        assert_eq!(status, 200);
        assert_eq!(json["output"][0]["content"][0]["text"], rules::AUTH_NOTICE);
    }

    /// argo-api.md §C (live): custom tool descriptions over 4,096 characters are refused,
    /// function tools of 13k pass.
    #[test]
    fn custom_tool_descriptions_over_4096_characters_are_refused() {
        let tool = |kind: &str, length: usize| {
            json!({"model": "gpt5", "input": "hi",
                "tools": [{"type": kind, "name": "t", "description": "d".repeat(length)}]})
        };
        assert_eq!(json_of(ask("alice", &tool("custom", 4096))).0, 200);
        let (status, json) = json_of(ask("alice", &tool("custom", 4097)));
        assert_eq!(status, 400);
        assert_eq!(json["error"]["code"], "string_above_max_length");
        assert!(json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tools[0].description"));
        assert_eq!(json_of(ask("alice", &tool("function", 13_000))).0, 200);
    }

    #[test]
    fn responses_play_a_function_tool_round_trip() {
        let mut body = json!({"model": "gpt5", "tools": weather_tools(),
            "input": [{"role": "user", "content": WEATHER}]});
        let (_, json) = json_of(ask("alice", &body));
        assert_eq!(json["output"].as_array().unwrap().len(), 1);
        assert_eq!(
            json["output"][0],
            json!({"type": "function_call", "id": "fc_mock_1", "call_id": "call_mock_1",
                "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"})
        );
        body["stream"] = json!(true);
        let (_, _, events) = stream_of(ask("alice", &body));
        let arguments: String = events
            .iter()
            .filter(|(name, _)| name.as_deref() == Some("response.function_call_arguments.delta"))
            .map(|(_, event)| event["delta"].as_str().unwrap())
            .collect();
        assert_eq!(arguments, "{\"city\":\"Paris\"}");
        body["input"] = json!([{"role": "user", "content": WEATHER},
            json["output"][0],
            {"type": "function_call_output", "call_id": "call_mock_1", "output": "18C and sunny"}]);
        body["stream"] = json!(false);
        let (_, json) = json_of(ask("alice", &body));
        assert_eq!(
            json["output"][0]["content"][0]["text"],
            "The tool said: 18C and sunny"
        );
        body["tools"] = json!([{"type": "function", "function": {"name": "get_weather"}}]);
        body["input"] = json!(WEATHER);
        assert_eq!(json_of(ask("alice", &body)).0, 400, "chat-shaped tools");
    }

    /// OpenAI's Responses API (custom tools, 2025-08), which Argo serves for GPT models: a
    /// call of a `custom` tool is a `custom_tool_call` item carrying its `input` string.
    #[test]
    fn custom_tools_are_called_with_custom_tool_call_items() {
        let directive = r#"Patch #mock {"tool_call": {"name": "apply_patch", "arguments": {"input": "*** Begin Patch"}}}"#;
        let mut body = json!({"model": "gpt5", "tools": [{"type": "custom", "name": "apply_patch"}],
            "input": [{"role": "user", "content": directive}]});
        let (_, json) = json_of(ask("alice", &body));
        assert_eq!(
            json["output"][0],
            json!({"type": "custom_tool_call", "id": "ctc_mock_1", "call_id": "call_mock_1",
                "name": "apply_patch", "input": "*** Begin Patch"})
        );
        body["stream"] = json!(true);
        let (_, _, events) = stream_of(ask("alice", &body));
        let input: String = events
            .iter()
            .filter(|(name, _)| name.as_deref() == Some("response.custom_tool_call_input.delta"))
            .map(|(_, event)| event["delta"].as_str().unwrap())
            .collect();
        assert_eq!(input, "*** Begin Patch");
        body["stream"] = json!(false);
        body["input"] = json!([{"role": "user", "content": directive}, json["output"][0],
            {"type": "custom_tool_call_output", "call_id": "call_mock_1", "output": "Done"}]);
        let (_, json) = json_of(ask("alice", &body));
        assert_eq!(
            json["output"][0]["content"][0]["text"],
            "The tool said: Done"
        );
    }

    #[test]
    fn responses_stream_openai_events() {
        let body = json!({"model": "gpt4o", "stream": true,
            "input": "x #mock {\"reply\": \"Hello world\", \"fragment_bytes\": 5}"});
        let (steps, _, events) = stream_of(ask("alice", &body));
        let names: Vec<&str> = events
            .iter()
            .map(|(name, _)| name.as_deref().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        for (index, (name, event)) in events.iter().enumerate() {
            assert_eq!(event["type"], name.as_deref().unwrap());
            assert_eq!(event["sequence_number"], index);
        }
        let text: String = events
            .iter()
            .filter(|(_, event)| event["type"] == "response.output_text.delta")
            .map(|(_, event)| event["delta"].as_str().unwrap())
            .collect();
        assert_eq!(text, "Hello world");
        let completed = &events.last().unwrap().1["response"];
        assert_eq!(completed["status"], "completed");
        assert!(completed["usage"]["output_tokens"].as_u64().unwrap() > 0);
        assert_eq!(
            steps.iter().filter(|s| matches!(s, Step::Paced(_))).count(),
            3
        );
        let echo = json!({"model": "gpt4o", "input": "x #mock {\"echo_request\": true}",
            "include": ["reasoning.encrypted_content"]});
        let (_, json) = json_of(ask("alice", &echo));
        let said: Value =
            serde_json::from_str(json["output"][0]["content"][0]["text"].as_str().unwrap())
                .unwrap();
        assert_eq!(said["path"], RESPONSES);
        assert_eq!(said["headers"]["authorization"], "Bearer alice");
        assert_eq!(said["body"], echo, "the request as Argo received it");
        let failing = json!({"model": "gpt4o", "stream": true,
            "input": "x #mock {\"reply\": \"ab\", \"stream_error\": \"boom\"}"});
        let (_, _, events) = stream_of(ask("alice", &failing));
        let (name, last) = events.last().unwrap();
        assert_eq!(name.as_deref(), Some("error"));
        assert_eq!(last["message"], "boom");
    }

    /// argo-api.md §C (the route, argo-anywhere's `openapi.json`; no recorded body).
    #[test]
    fn count_tokens_answers_the_estimate_a_message_reports() {
        let body = json!({"model": "claudesonnet45", "system": "be brief",
            "messages": [{"role": "user", "content": "count these words please"}]});
        let count = |headers: &[(&str, &str)], body: &Value| {
            json_of(mock().respond(&request(COUNT, headers, body)).0)
        };
        let headers = [("x-api-key", "alice"), ("anthropic-version", "2023-06-01")];
        let (status, json) = count(&headers, &body);
        assert_eq!(
            (status, json.clone()),
            (200, json!({"input_tokens": 3 + 8}))
        );
        let mut streamed = body.clone();
        streamed["max_tokens"] = json!(100);
        streamed["stream"] = json!(true);
        let message = request(super::super::tests::MESSAGES, &headers, &streamed);
        let (_, said) = message_of(mock().respond(&message).0);
        assert_eq!(said["usage"]["input_tokens"], json["input_tokens"]);
        assert_eq!(count(&[("authorization", "Bearer alice")], &body).0, 200);
        assert_eq!(count(&[], &body).0, 401);
        assert_eq!(
            count(
                &headers,
                &json!({"model": "gpt4o", "messages": [{"role": "user", "content": "x"}]})
            )
            .0,
            400
        );
        assert_eq!(count(&headers, &json!({"model": "claudesonnet45"})).0, 400);
        assert_eq!(
            count(&headers, &json!({"model": "nope", "messages": []})).0,
            404
        );
    }
}
