//! `/v1/chat/completions`: OpenAI request -> Argo chat request; Argo answer -> `chat.completion`.

use serde::Serialize;
use serde_json::Value;

use crate::argo;
use crate::error::ApiError;
use crate::models::{Kind, ModelSpec, ToolMode};
use crate::openai::{ChatMessage, ChatRequest, Content, ResponseMeta, Role};
use crate::usage::{estimate_tokens, Usage, REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE};

/// Checks what serde's types cannot: value ranges and combinations.
pub fn validate(request: &ChatRequest) -> Result<(), ApiError> {
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must contain at least one message",
        ));
    }
    check_sampling(request.temperature, request.top_p, request.n)?;
    for (index, message) in request.messages.iter().enumerate() {
        if message.role == Role::Tool && message.tool_call_id.is_none() {
            return Err(ApiError::invalid(
                format!("messages[{index}].tool_call_id"),
                "Messages with role `tool` must carry the `tool_call_id` they answer",
            ));
        }
    }
    Ok(())
}

/// Shared by chat and legacy completions.
pub fn check_sampling(
    temperature: Option<f64>,
    top_p: Option<f64>,
    n: Option<u64>,
) -> Result<(), ApiError> {
    if let Some(temperature) = temperature {
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid(
                "temperature",
                "`temperature` must be between 0 and 2",
            ));
        }
    }
    if let Some(top_p) = top_p {
        if !(0.0..=1.0).contains(&top_p) {
            return Err(ApiError::invalid(
                "top_p",
                "`top_p` must be between 0 and 1",
            ));
        }
    }
    if n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid(
            "n",
            "Only `n: 1` is supported: Argo returns one choice per request",
        ));
    }
    Ok(())
}

/// The model must be a chat model; embedding models are refused with a pointer to the right endpoint.
pub fn require_chat_model(model: &ModelSpec) -> Result<(), ApiError> {
    match model.kind {
        Kind::Chat => Ok(()),
        Kind::Embedding => Err(ApiError::invalid(
            "model",
            format!("`{}` is an embedding model; use /v1/embeddings", model.name),
        )),
    }
}

/// Builds the Argo chat body for `user`. The result serves both `chat` and `streamchat`.
pub fn to_argo(request: &ChatRequest, model: &ModelSpec, user: &str) -> Result<Vec<u8>, ApiError> {
    let has_tools = request
        .tools
        .as_ref()
        .is_some_and(|tools| !tools.is_empty());
    if has_tools && model.tools != ToolMode::Native {
        return Err(ApiError::invalid(
            "tools",
            format!(
                "Tool calling is not available for `{}` through this gateway yet",
                model.name
            ),
        ));
    }
    let messages = request
        .messages
        .iter()
        .map(to_argo_message)
        .collect::<Vec<_>>();
    let (max_tokens, max_completion_tokens) = token_limit(request, model);
    let (temperature, top_p) = if model.reasoning {
        (None, None)
    } else {
        (request.temperature, request.top_p)
    };
    let body = argo::ChatRequest {
        user,
        model: &model.argo_id,
        messages,
        stop: request.stop.clone().map(|stop| stop.into_list()),
        temperature,
        top_p,
        max_tokens,
        max_completion_tokens,
        tools: has_tools.then(|| Value::Array(request.tools.clone().unwrap_or_default())),
        tool_choice: has_tools.then(|| request.tool_choice.clone()).flatten(),
        parallel_tool_calls: has_tools.then_some(request.parallel_tool_calls).flatten(),
    };
    serde_json::to_vec(&body)
        .map_err(|err| ApiError::internal(format!("could not encode Argo request: {err}")))
}

/// Reasoning models take `max_completion_tokens`; the others take `max_tokens`. Clients send
/// either, so the one given is put where the model wants it.
fn token_limit(request: &ChatRequest, model: &ModelSpec) -> (Option<u64>, Option<u64>) {
    let limit = request.max_completion_tokens.or(request.max_tokens);
    if model.reasoning {
        (None, limit)
    } else {
        (limit, None)
    }
}

fn to_argo_message(message: &ChatMessage) -> argo::Message<'_> {
    let role = match message.role {
        Role::System | Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool | Role::Function => "tool",
    };
    let content = match (&message.content, message.content.joined_text()) {
        (_, Some(text)) => argo::MessageContent::Text(text),
        (Content::Parts(parts), None) => argo::MessageContent::Parts(parts),
        (_, None) => argo::MessageContent::Text("".into()),
    };
    argo::Message {
        role,
        content,
        tool_calls: message.tool_calls.as_deref(),
        tool_call_id: message.tool_call_id.as_deref(),
    }
}

pub fn estimate_prompt_tokens(request: &ChatRequest) -> u64 {
    let per_message: u64 = request
        .messages
        .iter()
        .map(|message| {
            TOKENS_PER_MESSAGE + message.content.texts().map(estimate_tokens).sum::<u64>()
        })
        .sum();
    per_message + REPLY_PRIMING_TOKENS
}

/// The assistant's answer in neutral form, whatever shape Argo used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub content: Option<String>,
    pub tool_calls: Vec<Value>,
}

impl Reply {
    pub fn finish_reason(&self) -> &'static str {
        if self.tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }
    }

    pub fn completion_tokens(&self) -> u64 {
        let text = self.content.as_deref().map(estimate_tokens).unwrap_or(0);
        let calls: u64 = self
            .tool_calls
            .iter()
            .map(|call| estimate_tokens(&call.to_string()))
            .sum();
        text + calls
    }
}

/// Reads Argo's chat answer body.
pub fn parse_argo_reply(body: &[u8]) -> Result<Reply, ApiError> {
    let parsed: argo::ChatResponse = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_gateway("Argo returned a chat answer that is not valid JSON"))?;
    match parsed.response {
        Some(Value::String(text)) => Ok(Reply { content: Some(text), tool_calls: Vec::new() }),
        Some(Value::Object(mut object)) => {
            let content = match object.remove("content") {
                Some(Value::String(text)) => Some(text),
                _ => None,
            };
            let tool_calls = match object.remove("tool_calls") {
                Some(Value::Array(calls)) => calls,
                _ => Vec::new(),
            };
            Ok(Reply { content, tool_calls })
        }
        Some(Value::Null) | None => Err(ApiError::bad_gateway(
            "Argo returned no `response`; the model produced no answer, try again or change the request",
        )),
        Some(_) => Err(ApiError::bad_gateway("Argo returned a `response` of an unexpected type")),
    }
}

#[derive(Serialize)]
struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
    system_fingerprint: Option<&'a str>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    tool_calls: &'a [Value],
}

/// Renders a `chat.completion` object.
pub fn completion_json(reply: &Reply, meta: &ResponseMeta, prompt_tokens: u64) -> Vec<u8> {
    let completion = ChatCompletion {
        id: &meta.id,
        object: "chat.completion",
        created: meta.created,
        model: &meta.model,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: reply.content.as_deref(),
                refusal: None,
                tool_calls: &reply.tool_calls,
            },
            logprobs: None,
            finish_reason: reply.finish_reason(),
        }],
        usage: Usage::new(prompt_tokens, reply.completion_tokens()),
        system_fingerprint: None,
    };
    serde_json::to_vec(&completion).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_request;
    use crate::models::Family;

    fn model(argo_id: &str, reasoning: bool) -> ModelSpec {
        ModelSpec {
            name: format!("openai-{argo_id}"),
            argo_id: argo_id.into(),
            env: "prod".into(),
            family: Family::Openai,
            kind: Kind::Chat,
            aliases: vec![],
            stream: true,
            tools: ToolMode::Native,
            reasoning,
            dimensions: None,
        }
    }

    fn rewrite(body: &str, model: &ModelSpec) -> Value {
        let request: ChatRequest = parse_request(body.as_bytes()).unwrap();
        validate(&request).unwrap();
        serde_json::from_slice(&to_argo(&request, model, "alice").unwrap()).unwrap()
    }

    #[test]
    fn rewrites_roles_content_parts_and_sampling() {
        let argo = rewrite(
            r#"{"model":"gpt-4o","user":"mallory","temperature":0.2,"top_p":0.9,"max_tokens":50,"stop":"END",
                "presence_penalty":1,"messages":[
                {"role":"developer","content":"Be brief."},
                {"role":"user","content":[{"type":"text","text":"Hello"},{"type":"text","text":"world"}]}]}"#,
            &model("gpt4o", false),
        );
        assert_eq!(argo["user"], "alice");
        assert_eq!(argo["model"], "gpt4o");
        assert_eq!(
            argo["messages"][0],
            serde_json::json!({"role":"system","content":"Be brief."})
        );
        assert_eq!(argo["messages"][1]["content"], "Hello\nworld");
        assert_eq!(argo["stop"], serde_json::json!(["END"]));
        assert_eq!(
            (argo["temperature"].as_f64(), argo["top_p"].as_f64()),
            (Some(0.2), Some(0.9))
        );
        assert_eq!(argo["max_tokens"], 50);
        assert!(argo.get("max_completion_tokens").is_none());
        assert!(argo.get("presence_penalty").is_none());
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens_and_no_sampling() {
        let argo = rewrite(
            r#"{"model":"o3","temperature":0.5,"max_tokens":77,"messages":[{"role":"user","content":"hi"}]}"#,
            &model("gpto3", true),
        );
        assert_eq!(argo["max_completion_tokens"], 77);
        assert!(argo.get("max_tokens").is_none() && argo.get("temperature").is_none());
    }

    #[test]
    fn image_parts_are_forwarded_as_parts() {
        let argo = rewrite(
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}"#,
            &model("gpt4o", false),
        );
        assert_eq!(argo["messages"][0]["content"][1]["type"], "image_url");
        assert_eq!(
            argo["messages"][0]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AAAA"
        );
    }

    #[test]
    fn invalid_requests_name_the_field() {
        let cases = [
            (r#"{"model":"m","messages":[]}"#, "messages"),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#,
                "temperature",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}"#,
                "n",
            ),
            (
                r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
                "messages[0].tool_call_id",
            ),
        ];
        for (body, param) in cases {
            let request: ChatRequest = parse_request(body.as_bytes()).unwrap();
            assert_eq!(
                validate(&request).unwrap_err().param.as_deref(),
                Some(param),
                "{body}"
            );
        }
        let type_errors = [
            (
                r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
                "messages[0].content",
            ),
            (
                r#"{"model":"m","messages":[{"role":"user","content":[{"type":"video"}]}]}"#,
                "messages[0].content[0].type",
            ),
            (r#"{"model":7,"messages":[]}"#, "model"),
            (r#"{"messages":[]}"#, "model"),
            (r#"{"model":"m","messages":"hi"}"#, "messages"),
            (
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#,
                "max_tokens",
            ),
        ];
        for (body, param) in type_errors {
            let err = parse_request::<ChatRequest>(body.as_bytes()).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
        }
    }

    #[test]
    fn argo_text_answer_becomes_chat_completion() {
        let reply = parse_argo_reply(br#"{"response":"Hi there"}"#).unwrap();
        let meta = ResponseMeta {
            id: "chatcmpl-1".into(),
            created: 42,
            model: "GPT-4o".into(),
        };
        let json: Value = serde_json::from_slice(&completion_json(&reply, &meta, 10)).unwrap();
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
            assert_eq!(parse_argo_reply(body).unwrap_err().status, 502, "{body:?}");
        }
    }

    #[test]
    fn embedding_models_are_refused_for_chat() {
        let mut embedding = model("v3small", false);
        embedding.kind = Kind::Embedding;
        assert_eq!(
            require_chat_model(&embedding).unwrap_err().param.as_deref(),
            Some("model")
        );
    }
}
