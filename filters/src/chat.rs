//! `/v1/chat/completions` on Argo's resource API: OpenAI request -> Argo chat request; Argo
//! answer -> `chat.completion`. The translation itself goes through the hub
//! ([`crate::client::openai_chat`], [`crate::upstream::resource`]); these are the entry points
//! the gateway used before it spoke the hub.

use serde_json::Value;

use crate::argo::Endpoint;
use crate::client::openai_chat;
use crate::error::ApiError;
use crate::hub::{openai_call_json, Answer, Conversation, Finish, Part};
use crate::models::{Kind, ModelSpec};
use crate::openai::{ChatRequest, ResponseMeta, Role};
use crate::tools::ToolSpec;
use crate::upstream::resource;
pub use crate::upstream::resource::ToolReplies;
use crate::usage::{Tokenizer, Usage};

/// Checks what serde's types cannot: value ranges and combinations.
pub fn validate(request: &ChatRequest) -> Result<(), ApiError> {
    if request.messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must contain at least one message",
        ));
    }
    // `n` > 1 reaches Argo's native OpenAI endpoint; the hub refuses it for the others
    // (`client::openai_chat::conversation`).
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

/// The request's tools, validated (`None` without tools).
pub fn tool_spec(request: &ChatRequest) -> Result<Option<ToolSpec>, ApiError> {
    ToolSpec::from_request(
        request.tools.as_deref(),
        request.tool_choice.as_ref(),
        request.parallel_tool_calls,
    )
}

/// Which Argo endpoint serves the request: `streamchat` for streams it can carry, `chat` for the
/// rest (see [`resource::endpoint`]).
pub fn argo_endpoint(request: &ChatRequest, model: &ModelSpec) -> Result<Endpoint, ApiError> {
    let spec = tool_spec(request)?;
    let native_tools = ToolReplies::for_request(spec.as_ref(), model) == ToolReplies::Native;
    Ok(match request.stream {
        Some(true) if model.stream && !native_tools => Endpoint::StreamChat,
        _ => Endpoint::Chat,
    })
}

/// The user turn argo-proxy appends to Claude and Gemini conversations that lack one
/// (`ensure_user_message_exists` in its legacy `utils/input_handle.py`).
pub const CONTINUE_TURN: &str = "[continue]";

fn conversation(request: &ChatRequest) -> Result<Conversation, ApiError> {
    openai_chat::conversation(request.clone())
}

/// Builds the Argo chat body for `user`, for `endpoint` (`chat` or `streamchat`): see
/// [`resource::request_body`].
pub fn to_argo(
    request: &ChatRequest,
    model: &ModelSpec,
    user: &str,
    endpoint: Endpoint,
) -> Result<Vec<u8>, ApiError> {
    resource::request_body(&conversation(request)?, model, user, endpoint)
}

/// Prompt tokens as the model's tokenizer counts them: each message's text and tool calls, the
/// tool definitions, and OpenAI's framing per message.
pub fn count_prompt_tokens(request: &ChatRequest, model: &ModelSpec) -> u64 {
    conversation(request).map_or(0, |conversation| {
        conversation.prompt_tokens(model.tokenizer())
    })
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

    pub fn completion_tokens(&self, tokenizer: Tokenizer) -> u64 {
        self.answer().completion_tokens(tokenizer)
    }

    /// The reply as the hub's answer: text first, then the calls.
    pub fn answer(&self) -> Answer {
        let mut content: Vec<Part> = self.content.clone().map(Part::Text).into_iter().collect();
        content.extend(self.tool_calls.iter().map(|call| {
            let function = &call["function"];
            Part::tool_call(
                call["id"].as_str().unwrap_or_default(),
                function["name"].as_str().unwrap_or_default(),
                function["arguments"].as_str().unwrap_or("{}"),
            )
        }));
        Answer {
            content,
            finish: if self.tool_calls.is_empty() {
                Finish::Stop
            } else {
                Finish::ToolCalls
            },
            usage: None,
        }
    }

    pub fn from_answer(answer: &Answer) -> Self {
        Reply {
            content: answer.text().map(|text| text.into_owned()),
            tool_calls: answer
                .tool_calls()
                .map(|(id, name, arguments)| openai_call_json(id, name, arguments))
                .collect(),
        }
    }
}

/// Reads Argo's chat answer body: see [`resource::read_answer`].
pub fn parse_argo_reply(
    body: &[u8],
    tools: &ToolReplies,
    response_id: &str,
) -> Result<Reply, ApiError> {
    resource::read_answer(body, tools, response_id).map(|answer| Reply::from_answer(&answer))
}

/// Renders a `chat.completion` object.
pub fn completion_json(reply: &Reply, meta: &ResponseMeta, usage: Usage) -> Vec<u8> {
    openai_chat::answer_json(&reply.answer(), meta, &usage.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_request;
    use crate::models::{Family, Sampling, ToolMode};
    use crate::usage::{REPLY_PRIMING_TOKENS, TOKENS_PER_MESSAGE};

    fn model(argo_id: &str, reasoning: bool) -> ModelSpec {
        ModelSpec {
            reasoning,
            ..ModelSpec::new(
                &format!("openai-{argo_id}"),
                argo_id,
                Family::Openai,
                Kind::Chat,
            )
        }
    }

    fn rewrite(body: &str, model: &ModelSpec) -> Value {
        let request: ChatRequest = parse_request(body.as_bytes()).unwrap();
        validate(&request).unwrap();
        serde_json::from_slice(&to_argo(&request, model, "alice", Endpoint::Chat).unwrap()).unwrap()
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
    fn reasoning_models_get_max_completion_tokens() {
        let argo = rewrite(
            r#"{"model":"o3","temperature":0.5,"max_tokens":77,"messages":[{"role":"user","content":"hi"}]}"#,
            &model("gpto3", true),
        );
        assert_eq!(argo["max_completion_tokens"], 77);
        assert!(argo.get("max_tokens").is_none());
        assert_eq!(
            argo["temperature"], 0.5,
            "the o-series takes sampling on Argo"
        );
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

    fn argo_for(body: &str, model: &ModelSpec, endpoint: Endpoint) -> Value {
        let request: ChatRequest = parse_request(body.as_bytes()).unwrap();
        serde_json::from_slice(&to_argo(&request, model, "alice", endpoint).unwrap()).unwrap()
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
            ..model("gpt5", true)
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
            let messages = argo_for(body, &model, Endpoint::Chat)["messages"].clone();
            let last = messages.as_array().unwrap().last().unwrap().clone();
            assert_eq!(
                last,
                serde_json::json!({"role": "user", "content": CONTINUE_TURN})
            );
            assert_eq!(
                messages[messages.as_array().unwrap().len() - 2]["role"],
                "assistant"
            );
        }
        let openai = argo_for(body, &model("gpt4o", false), Endpoint::Chat);
        assert_eq!(openai["messages"].as_array().unwrap().len(), 3);
        let system_only = argo_for(
            r#"{"model":"m","messages":[{"role":"system","content":"Say hi."}]}"#,
            &claude(Sampling::Any),
            Endpoint::Chat,
        );
        assert_eq!(system_only["messages"][1]["content"], CONTINUE_TURN);
        let ends_with_user = argo_for(
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            &claude(Sampling::Any),
            Endpoint::Chat,
        );
        assert_eq!(ends_with_user["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn streams_use_streamchat_unless_native_tools_or_the_model_forbid() {
        let endpoint = |body: &str, model: &ModelSpec| {
            argo_endpoint(&parse_request(body.as_bytes()).unwrap(), model).unwrap()
        };
        let plain = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        let tools = r#"{"model":"m","stream":true,"tools":[{"type":"function","function":{"name":"f"}}],
            "messages":[{"role":"user","content":"hi"}]}"#;
        let gpt = model("gpt4o", false);
        let gemini = family_model(Family::Google, ToolMode::Prompt);
        assert_eq!(endpoint(plain, &gpt), Endpoint::StreamChat);
        assert_eq!(endpoint(tools, &gpt), Endpoint::Chat);
        assert_eq!(endpoint(tools, &gemini), Endpoint::StreamChat);
        let no_stream = ModelSpec {
            stream: false,
            ..gpt.clone()
        };
        assert_eq!(endpoint(plain, &no_stream), Endpoint::Chat);
        assert_eq!(
            endpoint(
                r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
                &gpt
            ),
            Endpoint::Chat
        );
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
                r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}"#,
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
        let reply = parse_argo_reply(
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
        let json: Value =
            serde_json::from_slice(&completion_json(&reply, &meta, Usage::new(10, 2))).unwrap();
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
                parse_argo_reply(body, &ToolReplies::Native, "r")
                    .unwrap_err()
                    .status,
                502,
                "{body:?}"
            );
        }
    }

    fn family_model(family: Family, tools: ToolMode) -> ModelSpec {
        ModelSpec {
            family,
            tools,
            ..model("m", false)
        }
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
            serde_json::json!({"role":"tool","content":"18C","tool_call_id":"call_1"})
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
            serde_json::json!({"type":"any","disable_parallel_tool_use":true})
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
    fn tool_calls_in_every_answer_shape_become_openai_calls() {
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
            let reply = parse_argo_reply(body, tools, "chatcmpl-x").unwrap();
            assert_eq!(
                reply.tool_calls.len(),
                1,
                "{}",
                String::from_utf8_lossy(body)
            );
            assert!(reply.tool_calls[0]["id"]
                .as_str()
                .unwrap()
                .starts_with("call_x"));
            assert_eq!(
                reply.tool_calls[0]["function"]["arguments"],
                r#"{"city":"Paris"}"#
            );
            assert_eq!(reply.finish_reason(), "tool_calls");
            assert!(reply.content.is_none() || reply.content.as_deref() == Some("Checking."));
        }
        let plain = parse_argo_reply(
            br#"{"response":"<tool_call>{\"name\":\"get_weather\"}</tool_call>"}"#,
            &ToolReplies::Native,
            "r",
        )
        .unwrap();
        assert!(
            plain.tool_calls.is_empty(),
            "native models' text is never parsed for tags"
        );
    }

    #[test]
    fn malformed_history_tool_calls_are_400() {
        let request: ChatRequest = parse_request(br#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function"}]}]}"#).unwrap();
        assert_eq!(
            validate(&request).unwrap_err().param.as_deref(),
            Some("messages[0].tool_calls[0]")
        );
        let request: ChatRequest = parse_request(br#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{}}]}"#).unwrap();
        assert_eq!(
            validate(&request).unwrap_err().param.as_deref(),
            Some("tools[0].function.name")
        );
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

    #[test]
    fn tool_call_shapes_argo_really_sends_become_openai_calls() {
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
            let reply = parse_argo_reply(body, &ToolReplies::Native, "chatcmpl-r1").unwrap();
            let calls: Vec<(&str, &str)> = reply
                .tool_calls
                .iter()
                .map(|call| {
                    (
                        call["id"].as_str().unwrap(),
                        call["function"]["name"].as_str().unwrap(),
                    )
                })
                .collect();
            assert_eq!(calls, expected, "{}", String::from_utf8_lossy(body));
            assert_eq!(reply.content.as_deref(), content);
            assert!(reply.tool_calls[0]["function"]["arguments"]
                .as_str()
                .unwrap()
                .starts_with('{'));
            assert_eq!(reply.finish_reason(), "tool_calls");
        }
    }

    #[test]
    fn leaked_text_is_left_alone_without_tools() {
        let body = br#"{"response":"Here is a repr: {'id': 'toolu_1', 'input': {}, 'name': 'f', 'type': 'tool_use'}"}"#;
        let reply = parse_argo_reply(body, &ToolReplies::None, "r").unwrap();
        assert!(reply.tool_calls.is_empty());
        assert!(reply.content.unwrap().contains("toolu_1"));
    }

    #[test]
    fn usage_is_counted_with_the_model_tokenizer() {
        let request: ChatRequest =
            parse_request(br#"{"model":"m","messages":[{"role":"user","content":"hello world"}]}"#)
                .unwrap();
        let gpt = model("gpt4o", false);
        assert_eq!(gpt.tokenizer(), Tokenizer::O200kBase);
        assert_eq!(
            count_prompt_tokens(&request, &gpt),
            TOKENS_PER_MESSAGE + 2 + REPLY_PRIMING_TOKENS
        );
        let gemini = family_model(Family::Google, ToolMode::Prompt);
        assert_eq!(gemini.tokenizer(), Tokenizer::Estimate);
        assert_eq!(
            count_prompt_tokens(&request, &gemini),
            TOKENS_PER_MESSAGE + 3 + REPLY_PRIMING_TOKENS
        );
        let with_tools: ChatRequest = parse_request(WEATHER_TURN.as_bytes()).unwrap();
        let text_only: u64 = with_tools
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
            count_prompt_tokens(&with_tools, &gpt) > text_only + REPLY_PRIMING_TOKENS + 10,
            "tool definitions and calls count too"
        );
        let reply = Reply {
            content: Some("hello world".into()),
            tool_calls: vec![],
        };
        assert_eq!(reply.completion_tokens(Tokenizer::O200kBase), 2);
        assert_eq!(reply.completion_tokens(Tokenizer::Estimate), 3);
    }
}
