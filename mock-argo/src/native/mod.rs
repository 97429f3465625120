//! Argo's native endpoints (argo-api.md, section A): `POST {base}/v1/chat/completions`
//! (OpenAI's chat completions, every chat model), `POST {base}/v1/messages` (Anthropic's
//! messages, Claude only), `POST {base}/v1/embeddings` (OpenAI's embeddings) and
//! `GET {base}/v1/models`; and (argo-api.md §C, see [`responses`]) `POST {base}/v1/responses`
//! (OpenAI Responses, `gpt*` models only) and `POST {base}/v1/messages/count_tokens`.
//!
//! Since July 2026 (argo-api.md §C): every unstreamed Claude call on `/v1/messages` is HTTP 500
//! "Streaming is required ..." (argo-proxy 3.2.1 / ChemGraph issue 150); on
//! `/v1/chat/completions` a `developer` message gets the misleading 400 "Unknown parameter:
//! 'messages[N].tool_calls'." (argo-proxy, argo-shim), a body without a valid `user` is a 500
//! (argo-shim), and Gemini history with parallel tool calls fails (APEXA); see
//! [`rules::check_chat_messages`].
//!
//! Evidence: argo-proxy's probe of prod (`tools/argo_probe_out/argo_probe_raw.jsonl`: the
//! answer shapes, `usage`, model names, refusals), its native dispatch (`endpoints/dispatch.py`:
//! the auth headers, `stream_options.include_usage`, the SSE events it aggregates) and its
//! mock (`dev_scripts/mock_anthropic_sse.py`). No stream of real Argo is recorded: the streams
//! follow the official OpenAI and Anthropic APIs, which the native endpoints pass through.
//!
//! Identity: the username is the bearer token (`Authorization: Bearer <username>`) or, on
//! `/v1/messages`, `x-api-key: <username>`. The body's `user` (and `metadata.user_id` on
//! messages) must equal it when present: real Argo's handling of a mismatch is not recorded;
//! the mock refuses it (400) so that the gateway's tests catch an identity mix-up.

mod responses;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::models::{self, Shape};
use super::rules::{self, Refusal};
use super::sse::{self, Step};
use super::tools::{self, Dialect, NativeCall, NativeSaid};
use super::{Answer, Directive, MockArgo, MockRequest};

/// The headers `echo_request` reports (`null` when absent).
const ECHOED_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "accept",
    "accept-encoding",
    "content-type",
    "user-agent",
];

/// Whether an `anthropic-version` value is a version date (`YYYY-MM-DD`). Which versions Argo
/// takes is not recorded: argo-proxy sends `2023-06-01` or passes on its client's value, so the
/// mock takes any date and refuses only a missing or malformed header (tests read the value
/// the gateway sent from `echo_request`).
fn is_version_date(version: &str) -> bool {
    let bytes = version.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// The signature of mock thinking blocks (base64 of `mock-signature`).
const SIGNATURE: &str = "bW9jay1zaWduYXR1cmU=";

/// The thinking text of mock thinking blocks without a `thinking` directive (see
/// [`thinks_by_default`]).
const DEFAULT_THINKING: &str = "The user wrote something; I will answer it. (mock thinking)";

/// Whether a Claude answer has a mock thinking block without a `thinking` directive: adaptive
/// thinking on opus46 and sonnet46 (the probe saw a block from both, none from opus47 and so
/// none from the models like it), and accepted budgeted thinking (argo-api.md §C).
fn thinks_by_default(model: &str, body: &Value) -> bool {
    match body.pointer("/thinking/type").and_then(Value::as_str) {
        Some("adaptive") => !rules::is_adaptive_only(model),
        Some("enabled") => true,
        _ => false,
    }
}

/// Inputs per embeddings request (OpenAI's limit; Argo's is not recorded).
const MAX_EMBEDDING_INPUTS: usize = 2048;

type Outcome = Result<(Answer, Duration), Refusal>;

impl MockArgo {
    /// `POST {base}/v1/chat/completions`.
    pub(super) fn chat_completions(&self, request: &MockRequest) -> (Answer, Duration) {
        settle(self.try_chat_completions(request))
    }

    /// `POST {base}/v1/messages`.
    pub(super) fn messages(&self, request: &MockRequest) -> (Answer, Duration) {
        settle(self.try_messages(request))
    }

    /// `POST {base}/v1/embeddings`.
    pub(super) fn embeddings(&self, request: &MockRequest) -> (Answer, Duration) {
        settle(self.try_embeddings(request))
    }

    /// `GET {base}/v1/models`: no auth needed (argo-proxy fetches it without any).
    pub(super) fn model_list(&self, request: &MockRequest) -> (Answer, Duration) {
        if request.method != "GET" {
            return settle(Err(rules::openai_plain(
                405,
                "use GET on /v1/models",
                "invalid_request_error",
                "method_not_allowed",
            )));
        }
        settle(Ok((
            json_answer(self.models.list(Shape::for_path(&request.path))),
            Duration::ZERO,
        )))
    }

    fn try_chat_completions(&self, request: &MockRequest) -> Outcome {
        let dialect = Dialect::OpenAi;
        let username = bearer(request).ok_or_else(unauthenticated)?;
        let body = parse(dialect, &request.body)?;
        rules::check_chat_user(&body)?;
        check_identity(dialect, &body, username)?;
        let model = required_model(dialect, &body)?;
        if !self.models.serves_chat(model) {
            return Err(if self.models.serves_embedding(model) {
                invalid(
                    dialect,
                    format!("`{model}` is an embedding model, not a chat model"),
                )
            } else {
                unknown_model(dialect, model)
            });
        }
        check_messages_field(dialect, &body)?;
        let streaming = body["stream"] == true;
        if rules::is_unregistered(username) {
            return Ok((
                self.notice(dialect, model, &body, streaming),
                Duration::ZERO,
            ));
        }
        rules::check_parameters(model, &body, streaming).map_err(rules::as_openai)?;
        if let Some(param) = self.models.refused(model, &body) {
            return Err(rules::refuses_parameter(model, &param));
        }
        rules::check_chat_messages(model, &body)?;
        self.converse(dialect, model, request, &body, streaming)
    }

    fn try_messages(&self, request: &MockRequest) -> Outcome {
        let dialect = Dialect::Anthropic;
        let username = request
            .header("x-api-key")
            .filter(|key| !key.trim().is_empty())
            .map(str::trim)
            .ok_or_else(|| {
                rules::anthropic_plain(401, "authentication_error", "x-api-key header is required")
            })?;
        match request.header("anthropic-version") {
            None => {
                return Err(rules::anthropic_plain(
                    400,
                    "invalid_request_error",
                    "anthropic-version: header is required",
                ))
            }
            Some(version) if !is_version_date(version) => {
                return Err(rules::anthropic_plain(
                    400,
                    "invalid_request_error",
                    &format!("anthropic-version: invalid version `{version}`"),
                ))
            }
            Some(_) => {}
        }
        let body = parse(dialect, &request.body)?;
        check_identity(dialect, &body, username)?;
        let model = required_model(dialect, &body)?;
        // Real Argo's answer to a non-Claude model here is not recorded: the mock says 400
        // for a model Argo serves elsewhere, 404 (Anthropic's not_found_error) otherwise.
        if !self.models.serves_chat(model) && !self.models.serves_embedding(model) {
            return Err(unknown_model(dialect, model));
        }
        if !rules::is_claude(model) {
            return Err(invalid(
                dialect,
                format!("`{model}` is not a Claude model: /v1/messages serves Claude only, use /v1/chat/completions (mock text)"),
            ));
        }
        check_messages_field(dialect, &body)?;
        let streaming = body["stream"] == true;
        if rules::is_unregistered(username) {
            return Ok((
                self.notice(dialect, model, &body, streaming),
                Duration::ZERO,
            ));
        }
        rules::check_messages(model, &body, streaming)?;
        if let Some(param) = self.models.refused(model, &body) {
            return Err(rules::refuses_parameter(model, &param));
        }
        self.converse(dialect, model, request, &body, streaming)
    }

    /// A checked chat request answered as its directive says.
    fn converse(
        &self,
        dialect: Dialect,
        model: &str,
        request: &MockRequest,
        body: &Value,
        streaming: bool,
    ) -> Outcome {
        let directive =
            super::directive_in(body, &super::Route::Chat).map_err(|(_, m)| invalid(dialect, m))?;
        let delay = Duration::from_millis(directive.delay_ms.unwrap_or(0));
        if let Some(status) = directive.status {
            return Ok((scripted_error(dialect, status, &directive), delay));
        }
        if let Some(response) = &directive.response {
            return Ok((json_answer((200, response.clone())), delay));
        }
        let turn = self.turn(dialect, model, request, body, &directive)?;
        let meta = self.meta(dialect, model);
        let answer = match (dialect, streaming) {
            (Dialect::OpenAi, false) => json_answer((200, openai_json(&turn, &meta))),
            (Dialect::Anthropic, false) => json_answer((200, anthropic_json(&turn, &meta))),
            (_, true) => {
                let pace = self.pace(&directive);
                let steps = match dialect {
                    Dialect::OpenAi => {
                        let usage =
                            body.pointer("/stream_options/include_usage") == Some(&json!(true));
                        openai_stream(&turn, &meta, &pace, usage, model)
                    }
                    Dialect::Anthropic => anthropic_stream(&turn, &meta, &pace),
                };
                Answer::Sse {
                    steps,
                    pause: pace.pause,
                    cut_after: directive.cut_after,
                }
            }
        };
        Ok((super::with_fault(answer, &directive), delay))
    }

    /// Argo's answer to an unknown username: HTTP 200 with its notice as the message (and, in
    /// a stream, as the first content deltas, before the reply, as on streamchat).
    fn notice(&self, dialect: Dialect, model: &str, body: &Value, streaming: bool) -> Answer {
        let meta = self.meta(dialect, model);
        let size = self.options.fragment_bytes;
        let text = if streaming {
            format!(
                "{}\n\n{}",
                rules::AUTH_NOTICE,
                super::reply_text(model, body, b"", &Directive::default())
            )
        } else {
            rules::AUTH_NOTICE.to_string()
        };
        let turn = Turn {
            thinking: None,
            redacted_thinking: None,
            text: sse::split(&text, size),
            calls: Vec::new(),
            stop: Stop::End,
            input_tokens: input_tokens(body),
            cached_tokens: 0,
            usage_nulls: false,
            omit_input_tokens: false,
        };
        match (dialect, streaming) {
            (Dialect::OpenAi, false) => json_answer((200, openai_json(&turn, &meta))),
            (Dialect::Anthropic, false) => json_answer((200, anthropic_json(&turn, &meta))),
            (_, true) => {
                let pace = Pace {
                    size,
                    pause: self.options.fragment_delay,
                    forever: None,
                    stream_error: None,
                    stream_error_type: None,
                    pings: false,
                };
                let include_usage =
                    body.pointer("/stream_options/include_usage") == Some(&json!(true));
                let steps = match dialect {
                    Dialect::OpenAi => openai_stream(&turn, &meta, &pace, include_usage, model),
                    Dialect::Anthropic => anthropic_stream(&turn, &meta, &pace),
                };
                Answer::Sse {
                    steps,
                    pause: pace.pause,
                    cut_after: None,
                }
            }
        }
    }

    fn turn(
        &self,
        dialect: Dialect,
        model: &str,
        request: &MockRequest,
        body: &Value,
        directive: &Directive,
    ) -> Result<Turn, Refusal> {
        let size = directive
            .fragment_bytes
            .unwrap_or(self.options.fragment_bytes);
        let thinking = match (&directive.thinking, dialect) {
            (Some(_), Dialect::OpenAi) => {
                return Err(invalid(
                    dialect,
                    "bad #mock directive: `thinking` is for Claude on /v1/messages".into(),
                ))
            }
            (Some(text), Dialect::Anthropic) => Some(text.clone()),
            (None, Dialect::Anthropic) if thinks_by_default(model, body) => {
                Some(DEFAULT_THINKING.to_string())
            }
            (None, _) => None,
        };
        let (text, calls) = match &directive.tool_call {
            Some(scripted) => {
                match tools::native_answer(dialect, model, body, scripted.calls())
                    .map_err(|(status, message)| error(dialect, status, message))?
                {
                    NativeSaid::Calls(calls) => {
                        (directive.reply.clone().unwrap_or_default(), calls)
                    }
                    NativeSaid::Text(text) => (text, Vec::new()),
                }
            }
            None if directive.echo_request => (echo(request, body), Vec::new()),
            None => (
                super::reply_text(model, body, &request.body, directive),
                Vec::new(),
            ),
        };
        let (text, stop) = if !calls.is_empty() {
            (sse::split(&text, size), Stop::ToolUse)
        } else if let Some(fragments) = &directive.fragments {
            (fragments.clone(), Stop::End)
        } else {
            let (text, stop) = limit(dialect, body, text);
            (sse::split(&text, size), stop)
        };
        Ok(Turn {
            thinking,
            redacted_thinking: match dialect {
                Dialect::Anthropic => directive.redacted_thinking.clone(),
                Dialect::OpenAi => None,
            },
            text,
            calls,
            stop,
            input_tokens: input_tokens(body),
            cached_tokens: directive.cache_read_tokens.unwrap_or(0),
            usage_nulls: directive.usage_nulls,
            omit_input_tokens: directive.omit_input_tokens,
        })
    }

    fn pace(&self, directive: &Directive) -> Pace {
        Pace {
            size: directive
                .fragment_bytes
                .unwrap_or(self.options.fragment_bytes),
            pause: directive
                .fragment_delay_ms
                .map(Duration::from_millis)
                .unwrap_or(self.options.fragment_delay),
            forever: directive.then_forever.clone(),
            stream_error: directive.stream_error.clone(),
            stream_error_type: directive.stream_error_type.clone(),
            pings: directive.pings,
        }
    }

    fn meta(&self, dialect: Dialect, model: &str) -> Meta {
        let serial = self
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let id = match dialect {
            Dialect::OpenAi => format!("chatcmpl-mock{serial:08}"),
            Dialect::Anthropic => format!("msg_mock{serial:08}"),
        };
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        Meta {
            id,
            model: models::vendor_name(model).to_string(),
            created,
        }
    }

    fn try_embeddings(&self, request: &MockRequest) -> Outcome {
        let dialect = Dialect::OpenAi;
        let username = bearer(request).ok_or_else(unauthenticated)?;
        let body = parse(dialect, &request.body)?;
        check_identity(dialect, &body, username)?;
        let model = required_model(dialect, &body)?;
        let inputs: Vec<&str> = match body.get("input") {
            Some(Value::String(text)) => vec![text.as_str()],
            Some(Value::Array(items)) if !items.is_empty() => items
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<&str>>>()
                .ok_or_else(|| {
                    invalid(
                        dialect,
                        "`input` entries must be strings (token arrays are not mocked)".into(),
                    )
                })?,
            _ => {
                return Err(invalid(
                    dialect,
                    "`input` must be a string or a non-empty list of strings".into(),
                ))
            }
        };
        if inputs.len() > MAX_EMBEDDING_INPUTS {
            return Err(invalid(
                dialect,
                format!(
                    "at most {MAX_EMBEDDING_INPUTS} inputs per request, got {}",
                    inputs.len()
                ),
            ));
        }
        if !self.models.serves_embedding(model) {
            return Err(if self.models.serves_chat(model) {
                invalid(dialect, format!("`{model}` is not an embedding model"))
            } else {
                unknown_model(dialect, model)
            });
        }
        if rules::is_unregistered(username) {
            // How real Argo greets an unknown user here is not recorded; argo-proxy's
            // embeddings passthrough looks for the notice in `choices[0].message.content`, so
            // the mock answers in that shape.
            let meta = self.meta(dialect, model);
            return Ok((
                json_answer((
                    200,
                    json!({"id": meta.id, "object": "chat.completion",
                    "created": meta.created, "model": meta.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": rules::AUTH_NOTICE},
                        "finish_reason": "stop"}]}),
                )),
                Duration::ZERO,
            ));
        }
        let mut dimensions = models::embedding_dimensions(model).unwrap_or(1536);
        match body.get("dimensions") {
            None | Some(Value::Null) => {}
            Some(_) if model == "ada002" => {
                return Err(invalid(
                    dialect,
                    "This model does not support specifying dimensions.".into(),
                ))
            }
            Some(value) => match value.as_u64() {
                Some(asked) if asked >= 1 && asked as usize <= dimensions => {
                    dimensions = asked as usize
                }
                _ => {
                    return Err(invalid(
                        dialect,
                        format!("`dimensions` must be between 1 and {dimensions}"),
                    ))
                }
            },
        }
        let base64 = match body["encoding_format"].as_str() {
            None | Some("float") => false,
            Some("base64") => true,
            Some(other) => {
                return Err(invalid(
                    dialect,
                    format!("`encoding_format` must be float or base64, not {other}"),
                ))
            }
        };
        let directive = super::parse_directive(inputs.first().copied(), &body)
            .map_err(|(_, message)| invalid(dialect, message))?;
        let delay = Duration::from_millis(directive.delay_ms.unwrap_or(0));
        if let Some(status) = directive.status {
            return Ok((scripted_error(dialect, status, &directive), delay));
        }
        let tokens: u64 = inputs.iter().map(|input| count_tokens(input)).sum();
        let mut out = String::with_capacity(inputs.len() * dimensions * 12 + 256);
        out.push_str("{\"object\":\"list\",\"data\":[");
        for (index, input) in inputs.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            out.push_str(&format!(
                "{{\"object\":\"embedding\",\"index\":{index},\"embedding\":"
            ));
            if base64 {
                let bytes: Vec<u8> = super::unit_vector(input, dimensions)
                    .flat_map(f32::to_le_bytes)
                    .collect();
                out.push_str(&format!("\"{}\"", base64_encode(&bytes)));
            } else {
                super::push_vector(&mut out, input, dimensions);
            }
            out.push('}');
        }
        out.push_str(&format!(
            "],\"model\":{},\"usage\":{{\"prompt_tokens\":{tokens},\"total_tokens\":{tokens}}}}}",
            json!(model)
        ));
        let answer = Answer::Json {
            status: 200,
            body: out.into_bytes(),
            retry_after: None,
        };
        Ok((super::with_fault(answer, &directive), delay))
    }
}

/// What the model answers, before it is written in a dialect.
#[derive(Debug)]
struct Turn {
    thinking: Option<String>,
    /// A `redacted_thinking` block's `data` (the `redacted_thinking` directive), first.
    redacted_thinking: Option<String>,
    /// The text in its stream fragments (joined when not streaming).
    text: Vec<String>,
    calls: Vec<NativeCall>,
    stop: Stop,
    input_tokens: u64,
    cached_tokens: u64,
    /// `null` inside the usage details (the `usage_nulls` directive).
    usage_nulls: bool,
    /// Usage without `input_tokens` (the `omit_input_tokens` directive).
    omit_input_tokens: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Stop {
    End,
    ToolUse,
    MaxTokens,
    Sequence(String),
}

impl Turn {
    fn text(&self) -> String {
        self.text.concat()
    }

    fn output_tokens(&self) -> u64 {
        let calls: u64 = self
            .calls
            .iter()
            .map(|call| count_tokens(&call.name) + count_tokens(&call.arguments.to_string()))
            .sum();
        (count_tokens(self.thinking.as_deref().unwrap_or_default())
            + count_tokens(&self.text())
            + calls)
            .max(1)
    }
}

/// How a stream is paced and how it ends.
struct Pace {
    size: usize,
    pause: Duration,
    forever: Option<String>,
    stream_error: Option<String>,
    /// The Anthropic error's `type` in a `stream_error` event.
    stream_error_type: Option<String>,
    pings: bool,
}

struct Meta {
    id: String,
    model: String,
    created: u64,
}

fn settle(outcome: Outcome) -> (Answer, Duration) {
    outcome.unwrap_or_else(|refusal| (json_answer(refusal), Duration::ZERO))
}

fn json_answer((status, body): Refusal) -> Answer {
    Answer::Json {
        status,
        body: body.to_string().into_bytes(),
        retry_after: None,
    }
}

fn error(dialect: Dialect, status: u16, message: String) -> Refusal {
    match dialect {
        Dialect::OpenAi => {
            rules::openai_plain(status, &message, "invalid_request_error", "invalid_request")
        }
        Dialect::Anthropic => rules::anthropic_plain(status, anthropic_kind(status), &message),
    }
}

fn invalid(dialect: Dialect, message: String) -> Refusal {
    error(dialect, 400, message)
}

fn anthropic_kind(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

fn unauthenticated() -> Refusal {
    rules::openai_plain(
        401,
        "You didn't provide an API key: Argo takes `Authorization: Bearer <username>` (mock text)",
        "invalid_request_error",
        "invalid_api_key",
    )
}

/// A model Argo does not serve: OpenAI's and Anthropic's own answers (Argo's are not recorded).
fn unknown_model(dialect: Dialect, model: &str) -> Refusal {
    match dialect {
        Dialect::OpenAi => rules::openai_plain(
            404,
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            "model_not_found",
        ),
        Dialect::Anthropic => {
            rules::anthropic_plain(404, "not_found_error", &format!("model: {model}"))
        }
    }
}

/// A directive's `status`, with its `body` or a default error in the dialect's envelope.
fn scripted_error(dialect: Dialect, status: u16, directive: &Directive) -> Answer {
    let body = match &directive.body {
        Some(body) => body.clone().into_bytes(),
        None => {
            let (_, body) = match dialect {
                Dialect::OpenAi => {
                    let (kind, code) = match status {
                        429 => ("rate_limit_error", "rate_limit_exceeded"),
                        500..=599 => ("server_error", "mock_failure"),
                        _ => ("invalid_request_error", "mock_failure"),
                    };
                    rules::openai_plain(status, "mock failure", kind, code)
                }
                Dialect::Anthropic => {
                    rules::anthropic_plain(status, anthropic_kind(status), "mock failure")
                }
            };
            body.to_string().into_bytes()
        }
    };
    Answer::Json {
        status,
        body,
        retry_after: directive.retry_after.clone(),
    }
}

fn bearer(request: &MockRequest) -> Option<&str> {
    let (scheme, token) = request.header("authorization")?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn parse(dialect: Dialect, raw: &[u8]) -> Result<Value, Refusal> {
    match serde_json::from_slice::<Value>(raw) {
        Ok(body) if body.is_object() => Ok(body),
        Ok(_) => Err(invalid(dialect, "the body must be a JSON object".into())),
        Err(e) => Err(invalid(dialect, format!("invalid JSON: {e}"))),
    }
}

/// The body's `user` (and, for Anthropic, `metadata.user_id`) must be the header's username
/// when present: the mock's strictness (see the module doc).
fn check_identity(dialect: Dialect, body: &Value, username: &str) -> Result<(), Refusal> {
    let fields: &[&str] = match dialect {
        Dialect::OpenAi => &["/user"],
        Dialect::Anthropic => &["/user", "/metadata/user_id"],
    };
    let header = match dialect {
        Dialect::OpenAi => "Authorization: Bearer",
        Dialect::Anthropic => "x-api-key",
    };
    for field in fields {
        match body.pointer(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(user)) if user == username => {}
            Some(other) => {
                return Err(invalid(
                    dialect,
                    format!(
                        "`{}` is {other}, not the username of the {header} header (mock check: they must match)",
                        field[1..].replace('/', ".")
                    ),
                ))
            }
        }
    }
    Ok(())
}

fn required_model(dialect: Dialect, body: &Value) -> Result<&str, Refusal> {
    body["model"]
        .as_str()
        .filter(|model| !model.is_empty())
        .ok_or_else(|| match dialect {
            Dialect::OpenAi => rules::openai_plain(
                400,
                "Missing required parameter: 'model'.",
                "invalid_request_error",
                "missing_required_parameter",
            ),
            Dialect::Anthropic => invalid(dialect, "model: Field required".into()),
        })
}

fn check_messages_field(dialect: Dialect, body: &Value) -> Result<(), Refusal> {
    if body["messages"].as_array().is_some_and(|m| !m.is_empty()) {
        return Ok(());
    }
    Err(match dialect {
        Dialect::OpenAi => rules::openai_plain(
            400,
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            "missing_required_parameter",
        ),
        Dialect::Anthropic => invalid(dialect, "messages: Field required".into()),
    })
}

/// The request as the mock received it: `{"method", "path", "headers": {name: value or null},
/// "body": <the JSON body>}`.
fn echo(request: &MockRequest, body: &Value) -> String {
    let headers: Map<String, Value> = ECHOED_HEADERS
        .iter()
        .map(|name| {
            let value = request.header(name).map_or(Value::Null, |v| json!(v));
            (name.to_string(), value)
        })
        .collect();
    json!({"method": request.method, "path": request.path, "headers": headers, "body": body})
        .to_string()
}

/// Cuts the text at the first stop sequence (OpenAI `stop`, Anthropic `stop_sequences`), then
/// at the token limit (`max_completion_tokens` or `max_tokens`).
fn limit(dialect: Dialect, body: &Value, text: String) -> (String, Stop) {
    let stops: Vec<&str> = match (dialect, &body["stop"]) {
        (Dialect::OpenAi, Value::String(stop)) => vec![stop.as_str()],
        (Dialect::OpenAi, Value::Array(stops)) => stops.iter().filter_map(Value::as_str).collect(),
        (Dialect::Anthropic, _) => body["stop_sequences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect(),
        _ => Vec::new(),
    };
    let first = stops
        .into_iter()
        .filter(|stop| !stop.is_empty())
        .filter_map(|stop| text.find(stop).map(|at| (at, stop)))
        .min_by_key(|(at, _)| *at);
    let (mut text, mut stop) = match first {
        Some((at, sequence)) => (text[..at].to_string(), Stop::Sequence(sequence.into())),
        None => (text, Stop::End),
    };
    let max = match dialect {
        Dialect::OpenAi => body
            .get("max_completion_tokens")
            .and_then(Value::as_u64)
            .or_else(|| body.get("max_tokens").and_then(Value::as_u64)),
        Dialect::Anthropic => body.get("max_tokens").and_then(Value::as_u64),
    };
    if let Some(cut) = max.and_then(|max| truncate_tokens(&text, max)) {
        text = cut;
        stop = Stop::MaxTokens;
    }
    (text, stop)
}

/// The mock's token count: a quarter of each word's characters, rounded up (deterministic and
/// close enough to BPE for tests; the real counts come from the models).
pub fn count_tokens(text: &str) -> u64 {
    text.split_whitespace()
        .map(|word| (word.chars().count() as u64).div_ceil(4))
        .sum()
}

/// The longest prefix of `text` within `limit` tokens, if the whole text is over it.
fn truncate_tokens(text: &str, limit: u64) -> Option<String> {
    let mut used = 0;
    let mut word_start = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let start = *word_start.get_or_insert(at);
        let ends = chars.peek().is_none_or(|(_, next)| next.is_whitespace());
        if !ends {
            continue;
        }
        word_start = None;
        let end = chars.peek().map_or(text.len(), |(next, _)| *next);
        let word = &text[start..end];
        let cost = (word.chars().count() as u64).div_ceil(4);
        if used + cost > limit {
            let room = ((limit - used) * 4) as usize;
            let cut = word.char_indices().nth(room).map_or(word.len(), |(i, _)| i);
            return Some(text[..start + cut].trim_end().to_string());
        }
        used += cost;
    }
    None
}

/// Tokens of every string in the conversation (`system`, `messages`, `tools`), but roles and
/// types.
fn input_tokens(body: &Value) -> u64 {
    (string_tokens(&body["system"])
        + string_tokens(&body["messages"])
        + string_tokens(&body["tools"]))
    .max(1)
}

/// Tokens of every string in `value`, but the values of `role` and `type`.
fn string_tokens(value: &Value) -> u64 {
    match value {
        Value::String(text) => count_tokens(text),
        Value::Array(items) => items.iter().map(string_tokens).sum(),
        Value::Object(map) => map
            .iter()
            .filter(|(key, _)| *key != "role" && *key != "type")
            .map(|(_, value)| string_tokens(value))
            .sum(),
        _ => 0,
    }
}

fn finish_reason(stop: &Stop) -> &'static str {
    match stop {
        Stop::End | Stop::Sequence(_) => "stop",
        Stop::ToolUse => "tool_calls",
        Stop::MaxTokens => "length",
    }
}

fn stop_reason(stop: &Stop) -> &'static str {
    match stop {
        Stop::End => "end_turn",
        Stop::ToolUse => "tool_use",
        Stop::MaxTokens => "max_tokens",
        Stop::Sequence(_) => "stop_sequence",
    }
}

fn openai_usage(turn: &Turn) -> Value {
    let prompt = turn.input_tokens + turn.cached_tokens;
    let completion = turn.output_tokens();
    let (cached, reasoning) = match turn.usage_nulls {
        true => (Value::Null, Value::Null),
        false => (json!(turn.cached_tokens), json!(0)),
    };
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning}})
}

/// A `chat.completion` in the fields the probe recorded (less Azure's content filter results).
fn openai_json(turn: &Turn, meta: &Meta) -> Value {
    let text = turn.text();
    let content = if text.is_empty() && !turn.calls.is_empty() {
        Value::Null
    } else {
        json!(text)
    };
    let calls = if turn.calls.is_empty() {
        Value::Null
    } else {
        turn.calls
            .iter()
            .map(|call| {
                json!({"id": call.id, "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments.to_string()}})
            })
            .collect()
    };
    json!({"id": meta.id, "object": "chat.completion", "created": meta.created,
        "model": meta.model, "system_fingerprint": null,
        "choices": [{"index": 0, "logprobs": null, "finish_reason": finish_reason(&turn.stop),
            "message": {"role": "assistant", "content": content, "refusal": null,
                "tool_calls": calls}}],
        "usage": openai_usage(turn)})
}

/// Steps of a stream, with optional pings before each content fragment.
struct Steps {
    steps: Vec<Step>,
    pings: Option<bytes::Bytes>,
}

impl Steps {
    fn now(&mut self, bytes: bytes::Bytes) {
        self.steps.push(Step::Now(bytes));
    }

    fn paced(&mut self, bytes: bytes::Bytes) {
        if let Some(ping) = &self.pings {
            self.steps.push(Step::Now(ping.clone()));
        }
        self.steps.push(Step::Paced(bytes));
    }

    fn forever(mut self, bytes: bytes::Bytes) -> Vec<Step> {
        self.steps.push(Step::Forever(bytes));
        self.steps
    }
}

/// OpenAI's stream: a role chunk, content chunks, tool-call chunks (the first with `index`,
/// `id`, `type`, `function.name` and empty `arguments`, then argument fragments), a chunk with
/// `finish_reason`, the usage chunk (`choices: []`) when asked for, `[DONE]`.
fn openai_stream(
    turn: &Turn,
    meta: &Meta,
    pace: &Pace,
    include_usage: bool,
    model: &str,
) -> Vec<Step> {
    let chunk = |delta: Value, finish: Value| {
        let mut chunk = json!({"id": meta.id, "object": "chat.completion.chunk",
            "created": meta.created, "model": meta.model, "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        sse::data(&chunk)
    };
    let mut steps = Steps {
        steps: Vec::new(),
        pings: pace.pings.then(|| sse::comment("ping")),
    };
    let role_first = turn.calls.is_empty() || !turn.text.is_empty() || pace.forever.is_some();
    if role_first {
        steps.now(chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ));
    }
    for piece in &turn.text {
        steps.paced(chunk(json!({"content": piece}), Value::Null));
    }
    if let Some(forever) = &pace.forever {
        return steps.forever(chunk(json!({"content": forever}), Value::Null));
    }
    for (index, call) in turn.calls.iter().enumerate() {
        let mut start = json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": ""}}]});
        if index == 0 && !role_first {
            start["role"] = json!("assistant");
            start["content"] = Value::Null;
        }
        steps.paced(chunk(start, Value::Null));
        for piece in sse::split(&call.arguments.to_string(), pace.size) {
            steps.paced(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                Value::Null,
            ));
        }
    }
    if let Some(message) = &pace.stream_error {
        steps.now(sse::data(&stream_error_chunk(model, message)));
        return steps.steps;
    }
    steps.now(chunk(json!({}), json!(finish_reason(&turn.stop))));
    if include_usage {
        steps.now(sse::data(
            &json!({"id": meta.id, "object": "chat.completion.chunk",
            "created": meta.created, "model": meta.model, "system_fingerprint": null,
            "choices": [], "usage": openai_usage(turn)}),
        ));
    }
    steps.now(sse::done());
    steps.steps
}

/// The error chunk that ends a `stream_error` stream on `/v1/chat/completions`. Gemini's is
/// Vertex AI's 429 `RESOURCE_EXHAUSTED` in an OpenAI-style `{"error": {...}}` (argo-api.md §C,
/// strong: argo-proxy 3.2.1-3.3.0; the fields besides the status are the mock's).
fn stream_error_chunk(model: &str, message: &str) -> Value {
    if model.starts_with("gemini") {
        json!({"error": {"message": message, "type": "RESOURCE_EXHAUSTED", "code": 429,
            "status": "RESOURCE_EXHAUSTED"}})
    } else {
        json!({"error": {"message": message, "type": "server_error", "code": "stream_error"}})
    }
}

fn anthropic_usage(turn: &Turn, output_tokens: u64) -> Value {
    let (created, read) = match turn.usage_nulls {
        true => (Value::Null, Value::Null),
        false => (json!(0), json!(turn.cached_tokens)),
    };
    let mut usage = json!({"input_tokens": turn.input_tokens, "output_tokens": output_tokens,
        "cache_creation_input_tokens": created, "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_1h_input_tokens": created, "ephemeral_5m_input_tokens": created}});
    if turn.omit_input_tokens {
        if let Some(fields) = usage.as_object_mut() {
            fields.remove("input_tokens");
        }
    }
    usage
}

/// Whether the answer has a text block: when it has text, or nothing else to say.
fn has_text_block(turn: &Turn, pace: Option<&Pace>) -> bool {
    !turn.text.is_empty()
        || turn.calls.is_empty()
        || pace.is_some_and(|pace| pace.forever.is_some())
}

/// An Anthropic message as the probe recorded Argo's (no `stop_sequence` unless one stopped it).
fn anthropic_json(turn: &Turn, meta: &Meta) -> Value {
    let mut content = Vec::new();
    if let Some(data) = &turn.redacted_thinking {
        content.push(json!({"type": "redacted_thinking", "data": data}));
    }
    if let Some(thinking) = &turn.thinking {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": SIGNATURE}));
    }
    if has_text_block(turn, None) {
        content.push(json!({"type": "text", "text": turn.text()}));
    }
    for call in &turn.calls {
        content.push(
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}),
        );
    }
    let mut message = json!({"id": meta.id, "type": "message", "role": "assistant",
        "model": meta.model, "content": content, "stop_reason": stop_reason(&turn.stop),
        "usage": anthropic_usage(turn, turn.output_tokens())});
    if let Stop::Sequence(sequence) = &turn.stop {
        message["stop_sequence"] = json!(sequence);
    }
    message
}

/// Anthropic's stream: `message_start`, per block `content_block_start`, deltas
/// (`thinking_delta` then `signature_delta`, `text_delta`, `input_json_delta`) and
/// `content_block_stop`, one `ping` after the first block starts (as Anthropic's API does),
/// `message_delta` with `stop_reason` and `usage.output_tokens`, `message_stop`.
fn anthropic_stream(turn: &Turn, meta: &Meta, pace: &Pace) -> Vec<Step> {
    let ping = sse::event("ping", &json!({"type": "ping"}));
    let mut steps = Steps {
        steps: Vec::new(),
        pings: pace.pings.then(|| ping.clone()),
    };
    steps.now(sse::event(
        "message_start",
        &json!({"type": "message_start", "message": {"id": meta.id, "type": "message",
            "role": "assistant", "model": meta.model, "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": anthropic_usage(turn, 1)}}),
    ));
    let delta = |index: usize, delta: Value| {
        sse::event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    };
    let stop = |index: usize| {
        sse::event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        )
    };
    // Each block: its start, its paced deltas, the deltas sent at once after them.
    let mut blocks: Vec<(Value, Vec<bytes::Bytes>, Vec<bytes::Bytes>)> = Vec::new();
    if let Some(data) = &turn.redacted_thinking {
        // Anthropic sends a redacted block whole in its start event, without deltas.
        blocks.push((
            json!({"type": "redacted_thinking", "data": data}),
            Vec::new(),
            Vec::new(),
        ));
    }
    if let Some(thinking) = &turn.thinking {
        let index = blocks.len();
        blocks.push((
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            sse::split(thinking, pace.size)
                .iter()
                .map(|piece| delta(index, json!({"type": "thinking_delta", "thinking": piece})))
                .collect(),
            vec![delta(
                index,
                json!({"type": "signature_delta", "signature": SIGNATURE}),
            )],
        ));
    }
    let text_index = has_text_block(turn, Some(pace)).then(|| {
        let index = blocks.len();
        blocks.push((
            json!({"type": "text", "text": ""}),
            turn.text
                .iter()
                .map(|piece| delta(index, json!({"type": "text_delta", "text": piece})))
                .collect(),
            Vec::new(),
        ));
        index
    });
    for call in &turn.calls {
        let index = blocks.len();
        blocks.push((
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}}),
            sse::split(&call.arguments.to_string(), pace.size)
                .iter()
                .map(|piece| {
                    delta(
                        index,
                        json!({"type": "input_json_delta", "partial_json": piece}),
                    )
                })
                .collect(),
            Vec::new(),
        ));
    }
    let last = blocks.len().saturating_sub(1);
    for (index, (block, paced, after)) in blocks.into_iter().enumerate() {
        steps.now(sse::event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        if index == 0 {
            steps.now(ping.clone());
        }
        for piece in paced {
            steps.paced(piece);
        }
        if Some(index) == text_index {
            if let Some(forever) = &pace.forever {
                return steps.forever(delta(index, json!({"type": "text_delta", "text": forever})));
            }
        }
        for piece in after {
            steps.now(piece);
        }
        if index == last {
            if let Some(message) = &pace.stream_error {
                steps.now(sse::event(
                    "error",
                    &json!({"type": "error", "error": {"type": pace.stream_error_type.as_deref().unwrap_or("overloaded_error"), "message": message}}),
                ));
                return steps.steps;
            }
        }
        steps.now(stop(index));
    }
    let sequence = match &turn.stop {
        Stop::Sequence(sequence) => json!(sequence),
        _ => Value::Null,
    };
    steps.now(sse::event(
        "message_delta",
        &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(&turn.stop), "stop_sequence": sequence},
            "usage": {"output_tokens": turn.output_tokens()}}),
    ));
    steps.now(sse::event("message_stop", &json!({"type": "message_stop"})));
    steps.steps
}

/// Standard base64 with padding (OpenAI's `encoding_format: "base64"`: little-endian f32s).
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::MockOptions;
    use super::*;

    pub(super) fn mock() -> MockArgo {
        MockArgo::new(MockOptions {
            fragment_delay: Duration::from_millis(5),
            fragment_bytes: 4,
        })
    }

    pub(super) fn request(path: &str, headers: &[(&str, &str)], body: &Value) -> MockRequest {
        MockRequest {
            method: "POST".into(),
            path: path.into(),
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body: body.to_string().into_bytes(),
        }
    }

    const CHAT: &str = "/argoapi/v1/chat/completions";
    pub(super) const MESSAGES: &str = "/argoapi/v1/messages";
    const EMBEDDINGS: &str = "/argoapi/v1/embeddings";

    fn openai(user: &str, body: Value) -> MockRequest {
        request(CHAT, &[("authorization", &format!("Bearer {user}"))], &body)
    }

    fn anthropic(user: &str, body: Value) -> MockRequest {
        request(
            MESSAGES,
            &[("x-api-key", user), ("anthropic-version", "2023-06-01")],
            &body,
        )
    }

    fn chat_body(model: &str, text: &str) -> Value {
        json!({"model": model, "user": "alice", "messages": [{"role": "user", "content": text}]})
    }

    /// Streamed: Argo answers every unstreamed Claude call with a 500 (argo-api.md §C).
    fn claude_body(model: &str, text: &str) -> Value {
        json!({"model": model, "user": "alice", "max_tokens": 1000, "metadata": {"user_id": "alice"},
            "stream": true, "messages": [{"role": "user", "content": text}]})
    }

    /// A Claude answer as a client sees it: a JSON answer as it is, a stream put together into
    /// the message it carries.
    pub(super) fn message_of(answer: Answer) -> (u16, Value) {
        if matches!(answer, Answer::Json { .. }) {
            return json_of(answer);
        }
        let (_, _, events) = stream_of(answer);
        let mut message = Value::Null;
        let append = |block: &mut Value, field: &str, piece: &Value| {
            let joined = format!(
                "{}{}",
                block[field].as_str().unwrap_or(""),
                piece.as_str().unwrap()
            );
            block[field] = json!(joined);
        };
        for (name, event) in events {
            match name.as_deref() {
                Some("message_start") => message = event["message"].clone(),
                Some("content_block_start") => message["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(event["content_block"].clone()),
                Some("content_block_delta") => {
                    let block = &mut message["content"][event["index"].as_u64().unwrap() as usize];
                    let delta = &event["delta"];
                    match delta["type"].as_str().unwrap() {
                        "text_delta" => append(block, "text", &delta["text"]),
                        "thinking_delta" => append(block, "thinking", &delta["thinking"]),
                        "signature_delta" => block["signature"] = delta["signature"].clone(),
                        "input_json_delta" => append(block, "partial_json", &delta["partial_json"]),
                        other => panic!("unexpected delta {other}"),
                    }
                }
                Some("content_block_stop") => {
                    let block = &mut message["content"][event["index"].as_u64().unwrap() as usize];
                    if let Some(json) = block.as_object_mut().unwrap().remove("partial_json") {
                        block["input"] = serde_json::from_str(json.as_str().unwrap()).unwrap();
                    }
                }
                Some("message_delta") => {
                    message["stop_reason"] = event["delta"]["stop_reason"].clone();
                    message["stop_sequence"] = event["delta"]["stop_sequence"].clone();
                    message["usage"]["output_tokens"] = event["usage"]["output_tokens"].clone();
                }
                _ => {}
            }
        }
        (200, message)
    }

    pub(super) fn json_of(answer: Answer) -> (u16, Value) {
        match answer {
            Answer::Json { status, body, .. } => (status, serde_json::from_slice(&body).unwrap()),
            other => panic!("expected JSON, got {other:?}"),
        }
    }

    /// The stream's events: name (Anthropic) and `data:` payload, parsed unless `[DONE]`.
    pub(super) type Events = Vec<(Option<String>, Value)>;

    pub(super) fn stream_of(answer: Answer) -> (Vec<Step>, Duration, Events) {
        let Answer::Sse { steps, pause, .. } = answer else {
            panic!("expected a stream, got {answer:?}")
        };
        let events = sse::payloads(&steps)
            .into_iter()
            .map(|(name, data)| {
                let value = if data == "[DONE]" {
                    json!("[DONE]")
                } else {
                    serde_json::from_str(&data).unwrap()
                };
                (name, value)
            })
            .collect();
        (steps, pause, events)
    }

    fn openai_text(events: &[(Option<String>, Value)]) -> String {
        events
            .iter()
            .filter_map(|(_, e)| {
                e.pointer("/choices/0/delta/content")
                    .and_then(Value::as_str)
            })
            .collect()
    }

    fn anthropic_deltas(events: &[(Option<String>, Value)], kind: &str, field: &str) -> String {
        events
            .iter()
            .filter(|(_, e)| e["delta"]["type"] == kind)
            .filter_map(|(_, e)| e["delta"][field].as_str())
            .collect()
    }

    fn directive(text: &str, directive: Value) -> String {
        format!("{text} #mock {directive}")
    }

    #[test]
    fn chat_completions_needs_the_bearer_username() {
        let mock = mock();
        let body = chat_body("gpt4o", "hi");
        let (status, json) = message_of(mock.respond(&request(CHAT, &[], &body)).0);
        assert_eq!(status, 401);
        assert_eq!(json["error"]["code"], "invalid_api_key");
        for field in ["message", "type", "code"] {
            assert!(json["error"][field].is_string(), "{json}");
        }
        let (status, json) = message_of(mock.respond(&openai("bob", body.clone())).0);
        assert_eq!(status, 400);
        assert!(json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`user`"));
        let (status, json) = message_of(mock.respond(&openai("alice", body)).0);
        assert_eq!(status, 200, "{json}");
        let mut without_user = chat_body("gpt4o", "hi");
        without_user.as_object_mut().unwrap().remove("user");
        assert_eq!(
            message_of(mock.respond(&openai("alice", without_user)).0).0,
            500,
            "argo-api.md §C (argo-shim): chat without a valid user is a 500"
        );
        let (status, json) = message_of(mock.respond(&openai("alice", chat_body("gpt4", "hi"))).0);
        assert_eq!(
            (status, json["error"]["code"].as_str()),
            (404, Some("model_not_found"))
        );
        assert_eq!(
            message_of(mock.respond(&openai("alice", chat_body("v3small", "hi"))).0).0,
            400
        );
        let (status, json) = message_of(
            mock.respond(&openai("alice", json!({"model": "gpt4o", "user": "alice"})))
                .0,
        );
        assert_eq!(
            (status, json["error"]["code"].as_str()),
            (400, Some("missing_required_parameter"))
        );
    }

    #[test]
    fn chat_completions_answers_a_chat_completion_with_usage() {
        let (status, json) = json_of(
            mock()
                .respond(&openai("alice", chat_body("gpt5", "hi there")))
                .0,
        );
        assert_eq!(status, 200);
        assert_eq!(json["object"], "chat.completion");
        assert!(json["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(json["model"], "gpt-5-2025-08-07");
        let choice = &json["choices"][0];
        assert_eq!(choice["finish_reason"], "stop");
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(
            choice["message"]["content"],
            "Hello from mock Argo (gpt5). You said: hi there"
        );
        assert_eq!(choice["message"]["tool_calls"], Value::Null);
        let usage = &json["usage"];
        assert_eq!(usage["prompt_tokens"], 3);
        assert_eq!(
            usage["completion_tokens"],
            count_tokens("Hello from mock Argo (gpt5). You said: hi there")
        );
        assert_eq!(
            usage["total_tokens"].as_u64(),
            Some(
                usage["prompt_tokens"].as_u64().unwrap()
                    + usage["completion_tokens"].as_u64().unwrap()
            )
        );
        // The probe's refusals, in Argo's OpenAI envelope.
        let mut hot = chat_body("gpt5", "hi");
        hot["temperature"] = json!(0.5);
        let (status, json) = message_of(mock().respond(&openai("alice", hot)).0);
        assert_eq!(
            (status, json["error"]["type"].as_str()),
            (400, Some("BadRequestError"))
        );
    }

    #[test]
    fn chat_completions_streams_openai_chunks() {
        let mut body = chat_body(
            "gpt4o",
            &directive(
                "x",
                json!({"reply": "héllo world", "fragment_bytes": 3, "fragment_delay_ms": 7}),
            ),
        );
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let (steps, pause, events) = stream_of(mock().respond(&openai("alice", body.clone())).0);
        assert_eq!(pause, Duration::from_millis(7));
        let paced = steps.iter().filter(|s| matches!(s, Step::Paced(_))).count();
        assert_eq!(paced, sse::split("héllo world", 3).len());
        assert_eq!(events[0].1["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(events[0].1["object"], "chat.completion.chunk");
        assert_eq!(events[0].1["usage"], Value::Null);
        assert_eq!(openai_text(&events), "héllo world");
        assert_eq!(events[1].1["choices"][0]["delta"]["content"], "hé");
        let n = events.len();
        assert_eq!(events[n - 3].1["choices"][0]["finish_reason"], "stop");
        assert_eq!(events[n - 2].1["choices"], json!([]));
        assert_eq!(events[n - 2].1["usage"]["completion_tokens"], 4);
        assert_eq!(events[n - 1].1, "[DONE]");
        // Without include_usage: no usage chunk, no `usage` field.
        body.as_object_mut().unwrap().remove("stream_options");
        let (_, _, events) = stream_of(mock().respond(&openai("alice", body)).0);
        assert!(events.iter().all(|(_, e)| e.get("usage").is_none()));
        assert_eq!(
            events[events.len() - 2].1["choices"][0]["finish_reason"],
            "stop"
        );
    }

    fn weather_tools() -> Value {
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    }

    const WEATHER: &str = r#"What is the weather in Paris? #mock {"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}"#;

    #[test]
    fn chat_completions_plays_the_weather_tool_loop() {
        for model in ["gpt4o", "gemini25pro"] {
            let mut body = chat_body(model, WEATHER);
            body["tools"] = weather_tools();
            let (_, json) = message_of(mock().respond(&openai("alice", body.clone())).0);
            let choice = &json["choices"][0];
            assert_eq!(choice["finish_reason"], "tool_calls");
            assert_eq!(choice["message"]["content"], Value::Null);
            let call = &choice["message"]["tool_calls"][0];
            assert_eq!(call["id"], "call_mock_1");
            assert_eq!(call["type"], "function");
            assert_eq!(call["function"]["name"], "get_weather");
            assert_eq!(call["function"]["arguments"], r#"{"city":"Paris"}"#);
            // Streamed: the call's start, then its argument fragments.
            body["stream"] = json!(true);
            let (_, _, events) = stream_of(mock().respond(&openai("alice", body.clone())).0);
            let first = &events[0].1["choices"][0]["delta"];
            assert_eq!(first["role"], "assistant");
            assert_eq!(
                first["tool_calls"][0],
                json!({"index": 0, "id": "call_mock_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": ""}})
            );
            let arguments: String = events
                .iter()
                .filter_map(|(_, e)| e.pointer("/choices/0/delta/tool_calls/0/function/arguments"))
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(arguments, r#"{"city":"Paris"}"#);
            assert!(events
                .iter()
                .skip(1)
                .all(|(_, e)| e.pointer("/choices/0/delta/tool_calls/0/id").is_none()));
            assert_eq!(
                events[events.len() - 2].1["choices"][0]["finish_reason"],
                "tool_calls"
            );
            // The second turn carries the result and gets it quoted.
            body["messages"] = json!([{"role": "user", "content": WEATHER},
                {"role": "assistant", "content": null, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_mock_1", "content": "18C and sunny"}]);
            let (_, _, events) = stream_of(mock().respond(&openai("alice", body.clone())).0);
            assert_eq!(openai_text(&events), "The tool said: 18C and sunny");
            assert_eq!(
                events[events.len() - 2].1["choices"][0]["finish_reason"],
                "stop"
            );
            body["stream"] = json!(false);
            let (_, json) = message_of(mock().respond(&openai("alice", body)).0);
            assert_eq!(
                json["choices"][0]["message"]["content"],
                "The tool said: 18C and sunny"
            );
            assert_eq!(json["choices"][0]["finish_reason"], "stop");
        }
        // Claude on the OpenAI endpoint leaks the call into its text.
        let mut body = chat_body("claudesonnet45", WEATHER);
        body["tools"] = weather_tools();
        let (_, json) = message_of(mock().respond(&openai("alice", body)).0);
        assert!(json["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("'name': 'get_weather', 'type': 'tool_use'"));
        assert_eq!(json["choices"][0]["finish_reason"], "stop");
        assert_eq!(json["model"], "claude-sonnet-4-5-20250929");
    }

    #[test]
    fn messages_needs_the_anthropic_headers_and_max_tokens() {
        let mock = mock();
        let body = claude_body("claudesonnet45", "hi");
        let check = |request: MockRequest, status: u16, kind: &str| {
            let (got, json) = message_of(mock.respond(&request).0);
            assert_eq!(got, status, "{json}");
            assert_eq!(json["type"], "error");
            assert_eq!(json["error"]["type"], kind, "{json}");
            json["error"]["message"].as_str().unwrap().to_string()
        };
        check(
            request(MESSAGES, &[("anthropic-version", "2023-06-01")], &body),
            401,
            "authentication_error",
        );
        check(
            request(MESSAGES, &[("x-api-key", "alice")], &body),
            400,
            "invalid_request_error",
        );
        check(
            request(
                MESSAGES,
                &[("x-api-key", "alice"), ("anthropic-version", "latest")],
                &body,
            ),
            400,
            "invalid_request_error",
        );
        check(
            request(
                MESSAGES,
                &[
                    ("authorization", "Bearer alice"),
                    ("anthropic-version", "2023-06-01"),
                ],
                &body,
            ),
            401,
            "authentication_error",
        );
        let mut other = body.clone();
        other["metadata"]["user_id"] = json!("bob");
        assert!(
            check(anthropic("alice", other), 400, "invalid_request_error")
                .contains("metadata.user_id")
        );
        check(anthropic("bob", body.clone()), 400, "invalid_request_error");
        let mut unbounded = body.clone();
        unbounded.as_object_mut().unwrap().remove("max_tokens");
        assert_eq!(
            message_of(mock.respond(&anthropic("alice", unbounded)).0).1,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens is required"}})
        );
        check(
            anthropic("alice", claude_body("gpt4o", "hi")),
            400,
            "invalid_request_error",
        );
        check(
            anthropic("alice", claude_body("claudesonnet4", "hi")),
            404,
            "not_found_error",
        );
        // argo-api.md §C (argo-proxy 3.2.1 / ChemGraph issue 150): every unstreamed call is a 500.
        let mut long = body.clone();
        long["max_tokens"] = json!(21_001);
        long["stream"] = json!(false);
        assert_eq!(
            message_of(mock.respond(&anthropic("alice", long.clone())).0),
            rules::streaming_required()
        );
        long["max_tokens"] = json!(10);
        assert_eq!(
            message_of(mock.respond(&anthropic("alice", long.clone())).0).0,
            500
        );
        long["max_tokens"] = json!(21_001);
        long["stream"] = json!(true);
        assert!(matches!(
            mock.respond(&anthropic("alice", long)).0,
            Answer::Sse { .. }
        ));
        let mut both = body;
        both["temperature"] = json!(0.5);
        both["top_p"] = json!(0.9);
        assert!(
            check(anthropic("alice", both), 400, "invalid_request_error")
                .contains("cannot both be specified")
        );
    }

    #[test]
    fn messages_answers_an_anthropic_message() {
        let (status, json) = message_of(
            mock()
                .respond(&anthropic("alice", claude_body("claudeopus47", "ping")))
                .0,
        );
        assert_eq!(status, 200);
        assert!(json["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(json["type"], "message");
        assert_eq!(json["role"], "assistant");
        assert_eq!(json["model"], "claude-opus-4-7");
        assert_eq!(json["stop_reason"], "end_turn");
        assert_eq!(
            json["content"],
            json!([{"type": "text", "text": "Hello from mock Argo (claudeopus47). You said: ping"}])
        );
        let usage = &json["usage"];
        assert_eq!(usage["input_tokens"], 1);
        assert_eq!(usage["cache_read_input_tokens"], 0);
        assert_eq!(usage["cache_creation_input_tokens"], 0);
        assert!(usage["output_tokens"].as_u64().unwrap() > 0);
        // max_tokens and stop sequences stop it early.
        let mut short = claude_body(
            "claudehaiku45",
            &directive("x", json!({"reply": "one two three four"})),
        );
        short["max_tokens"] = json!(2);
        let (_, json) = message_of(mock().respond(&anthropic("alice", short.clone())).0);
        assert_eq!(
            (
                json["stop_reason"].as_str(),
                json["content"][0]["text"].as_str()
            ),
            (Some("max_tokens"), Some("one two"))
        );
        assert!(json["stop_sequence"].is_null());
        short["max_tokens"] = json!(100);
        short["stop_sequences"] = json!(["four", " three"]);
        let (_, json) = message_of(mock().respond(&anthropic("alice", short)).0);
        assert_eq!(json["stop_reason"], "stop_sequence");
        assert_eq!(json["stop_sequence"], " three");
        assert_eq!(json["content"][0]["text"], "one two");
    }

    #[test]
    fn messages_thinks_when_asked() {
        let mut body = claude_body("claudesonnet46", "ping");
        body["thinking"] = json!({"type": "adaptive"});
        let (_, json) = message_of(mock().respond(&anthropic("alice", body)).0);
        assert_eq!(json["content"][0]["type"], "thinking");
        assert_eq!(json["content"][0]["signature"], SIGNATURE);
        assert_eq!(json["content"][1]["type"], "text");
        let mut body = claude_body("claudeopus47", "ping");
        body["thinking"] = json!({"type": "adaptive"});
        let (_, json) = message_of(mock().respond(&anthropic("alice", body)).0);
        assert_eq!(json["content"][0]["type"], "text");
        let mut body = claude_body(
            "claudehaiku45",
            &directive("x", json!({"thinking": "Let me see.", "reply": "Done."})),
        );
        body["stream"] = json!(true);
        let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
        assert_eq!(
            events[1].1["content_block"],
            json!({"type": "thinking", "thinking": "", "signature": ""})
        );
        assert_eq!(
            anthropic_deltas(&events, "thinking_delta", "thinking"),
            "Let me see."
        );
        assert_eq!(
            anthropic_deltas(&events, "signature_delta", "signature"),
            SIGNATURE
        );
        assert_eq!(anthropic_deltas(&events, "text_delta", "text"), "Done.");
        let gpt = chat_body("gpt4o", &directive("x", json!({"thinking": "no"})));
        assert_eq!(message_of(mock().respond(&openai("alice", gpt)).0).0, 400);
    }

    #[test]
    fn messages_send_a_redacted_thinking_block_when_asked() {
        let body = claude_body(
            "claudesonnet45",
            &directive(
                "x",
                json!({"redacted_thinking": "EncRypted", "reply": "Done."}),
            ),
        );
        let redacted = json!({"type": "redacted_thinking", "data": "EncRypted"});
        let (_, json) = message_of(mock().respond(&anthropic("alice", body.clone())).0);
        assert_eq!(json["content"][0], redacted);
        let mut streamed = body;
        streamed["stream"] = json!(true);
        let (_, _, events) = stream_of(mock().respond(&anthropic("alice", streamed)).0);
        assert_eq!(events[1].1["content_block"], redacted);
        assert_eq!(events[3].1["type"], "content_block_stop");
        assert_eq!(anthropic_deltas(&events, "text_delta", "text"), "Done.");
    }

    #[test]
    fn messages_streams_anthropic_events() {
        let mut body = claude_body(
            "claudesonnet45",
            &directive("x", json!({"reply": "Hello world", "fragment_bytes": 5})),
        );
        body["stream"] = json!(true);
        let (steps, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
        let names: Vec<&str> = events
            .iter()
            .map(|(name, _)| name.as_deref().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        for (name, data) in &events {
            assert_eq!(data["type"], name.as_deref().unwrap());
        }
        let start = &events[0].1["message"];
        assert_eq!(
            (start["role"].as_str(), start["content"].clone()),
            (Some("assistant"), json!([]))
        );
        assert!(start["usage"]["input_tokens"].as_u64().unwrap() > 1);
        assert_eq!(
            anthropic_deltas(&events, "text_delta", "text"),
            "Hello world"
        );
        assert_eq!(events[7].1["delta"]["stop_reason"], "end_turn");
        assert_eq!(events[7].1["usage"]["output_tokens"], 4);
        assert_eq!(
            steps.iter().filter(|s| matches!(s, Step::Paced(_))).count(),
            3
        );
    }

    #[test]
    fn messages_plays_the_weather_tool_loop() {
        let tools = json!([{"name": "get_weather", "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
        let mut body = claude_body("claudesonnet45", WEATHER);
        body["tools"] = tools;
        let (_, json) = message_of(mock().respond(&anthropic("alice", body.clone())).0);
        assert_eq!(json["stop_reason"], "tool_use");
        assert_eq!(
            json["content"],
            json!([{"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {"city": "Paris"}}])
        );
        body["stream"] = json!(true);
        let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body.clone())).0);
        let start = events
            .iter()
            .find(|(name, _)| name.as_deref() == Some("content_block_start"))
            .unwrap();
        assert_eq!(
            start.1["content_block"],
            json!({"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}})
        );
        assert_eq!(
            anthropic_deltas(&events, "input_json_delta", "partial_json"),
            r#"{"city":"Paris"}"#
        );
        let delta = events
            .iter()
            .find(|(name, _)| name.as_deref() == Some("message_delta"))
            .unwrap();
        assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
        body["messages"] = json!([{"role": "user", "content": WEATHER},
            {"role": "assistant", "content": json["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock_1",
                "content": [{"type": "text", "text": "18C and sunny"}]}]}]);
        let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body.clone())).0);
        assert_eq!(
            anthropic_deltas(&events, "text_delta", "text"),
            "The tool said: 18C and sunny"
        );
        let (_, json) = message_of(mock().respond(&anthropic("alice", body.clone())).0);
        assert_eq!(json["content"][0]["text"], "The tool said: 18C and sunny");
        assert_eq!(json["stop_reason"], "end_turn");
        body["stream"] = json!(false);
        assert_eq!(
            message_of(mock().respond(&anthropic("alice", body)).0),
            rules::streaming_required()
        );
    }

    #[test]
    fn stream_directives_cut_repeat_fail_and_ping() {
        let mut body = claude_body(
            "claudesonnet45",
            &directive(
                "x",
                json!({"reply": "abcdefgh", "stream_error": "Overloaded"}),
            ),
        );
        body["stream"] = json!(true);
        let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
        let (name, last) = events.last().unwrap();
        assert_eq!(name.as_deref(), Some("error"));
        assert_eq!(
            *last,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        );
        assert!(events
            .iter()
            .all(|(name, _)| name.as_deref() != Some("message_stop")));
        let mut body = chat_body(
            "gpt4o",
            &directive(
                "x",
                json!({"reply": "abcdefgh", "stream_error": "boom", "pings": true}),
            ),
        );
        body["stream"] = json!(true);
        let (steps, _, events) = stream_of(mock().respond(&openai("alice", body)).0);
        assert_eq!(events.last().unwrap().1["error"]["message"], "boom");
        assert!(events.iter().all(|(_, e)| *e != json!("[DONE]")));
        let pings = steps
            .iter()
            .filter(|s| s.bytes().starts_with(b": ping"))
            .count();
        assert_eq!(pings, 2);
        let mut body = chat_body(
            "gpt4o",
            &directive(
                "x",
                json!({"reply": "ab", "then_forever": "z", "cut_after": 5}),
            ),
        );
        body["stream"] = json!(true);
        let Answer::Sse {
            steps, cut_after, ..
        } = mock().respond(&openai("alice", body)).0
        else {
            panic!("expected a stream")
        };
        assert_eq!(cut_after, Some(5));
        assert!(
            matches!(steps.last(), Some(Step::Forever(bytes)) if String::from_utf8_lossy(bytes).contains("\"delta\":{\"content\":\"z\"}"))
        );
        let mut body = claude_body(
            "claudesonnet45",
            &directive("x", json!({"then_forever": "z", "pings": true})),
        );
        body["stream"] = json!(true);
        let Answer::Sse { steps, .. } = mock().respond(&anthropic("alice", body)).0 else {
            panic!("expected a stream")
        };
        assert!(
            matches!(steps.last(), Some(Step::Forever(bytes)) if String::from_utf8_lossy(bytes).contains("text_delta"))
        );
    }

    #[test]
    fn scripted_failures_wear_the_dialect_envelope() {
        let body = claude_body(
            "claudesonnet45",
            &directive("x", json!({"status": 529, "retry_after": "2"})),
        );
        let (answer, _) = mock().respond(&anthropic("alice", body));
        assert!(
            matches!(&answer, Answer::Json { status: 529, retry_after: Some(r), .. } if r == "2")
        );
        assert_eq!(json_of(answer).1["error"]["type"], "overloaded_error");
        let body = chat_body(
            "gpt4o",
            &directive("x", json!({"status": 503, "delay_ms": 30})),
        );
        let (answer, delay) = mock().respond(&openai("alice", body));
        assert_eq!(delay, Duration::from_millis(30));
        assert_eq!(
            json_of(answer),
            (
                503,
                json!({"error": {"message": "mock failure", "type": "server_error", "code": "mock_failure"}})
            )
        );
        let body = chat_body("gpt4o", &directive("x", json!({"truncate": true})));
        assert!(matches!(
            mock().respond(&openai("alice", body)).0,
            Answer::Faulty { .. }
        ));
        let body = chat_body("gpt4o", &directive("x", json!({"response": {"odd": 1}})));
        assert_eq!(
            message_of(mock().respond(&openai("alice", body)).0),
            (200, json!({"odd": 1}))
        );
        let body = chat_body("gpt4o", "x #mock {\"nope\": 1}");
        assert_eq!(message_of(mock().respond(&openai("alice", body)).0).0, 400);
    }

    #[test]
    fn echo_shows_the_request_with_its_auth_headers() {
        let body = claude_body(
            "claudesonnet45",
            &directive("x", json!({"echo_request": true})),
        );
        let mut request = anthropic("alice", body.clone());
        request
            .headers
            .push(("accept".into(), "text/event-stream".into()));
        let (_, json) = message_of(mock().respond(&request).0);
        let echoed: Value =
            serde_json::from_str(json["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(echoed["path"], MESSAGES);
        assert_eq!(echoed["method"], "POST");
        assert_eq!(echoed["body"], body);
        assert_eq!(echoed["headers"]["x-api-key"], "alice");
        assert_eq!(echoed["headers"]["anthropic-version"], "2023-06-01");
        assert_eq!(echoed["headers"]["accept"], "text/event-stream");
        assert_eq!(echoed["headers"]["authorization"], Value::Null);
        let body = chat_body(
            "gpt4o",
            &directive("x", json!({"echo_request": true, "fragment_bytes": 4096})),
        );
        let (_, json) = message_of(mock().respond(&openai("alice", body)).0);
        let echoed: Value =
            serde_json::from_str(json["choices"][0]["message"]["content"].as_str().unwrap())
                .unwrap();
        assert_eq!(echoed["headers"]["authorization"], "Bearer alice");
        assert_eq!(echoed["body"]["user"], "alice");
    }

    #[test]
    fn unregistered_users_get_the_notice_with_status_200() {
        let mock = mock();
        let user = "unregistered-carol";
        let mut body = chat_body("gpt4o", "hi");
        body["user"] = json!(user);
        let (status, json) = message_of(mock.respond(&openai(user, body.clone())).0);
        assert_eq!(status, 200);
        assert_eq!(json["choices"][0]["message"]["content"], rules::AUTH_NOTICE);
        body["stream"] = json!(true);
        let (_, _, events) = stream_of(mock.respond(&openai(user, body)).0);
        assert!(openai_text(&events).starts_with(rules::AUTH_NOTICE));
        let first = events[1].1["choices"][0]["delta"]["content"]
            .as_str()
            .unwrap();
        assert!(rules::AUTH_NOTICE.starts_with(first));
        let mut body = claude_body("claudeopus46", "hi");
        body["stream"] = json!(false);
        body["user"] = json!(user);
        body["metadata"]["user_id"] = json!(user);
        let (status, json) = message_of(mock.respond(&anthropic(user, body.clone())).0);
        assert_eq!(
            (status, json["content"][0]["text"].as_str()),
            (200, Some(rules::AUTH_NOTICE))
        );
        body["stream"] = json!(true);
        let (_, _, events) = stream_of(mock.respond(&anthropic(user, body)).0);
        assert!(anthropic_deltas(&events, "text_delta", "text").starts_with(rules::AUTH_NOTICE));
        let embed = request(
            EMBEDDINGS,
            &[("authorization", "Bearer unregistered-x")],
            &json!({"model": "v3small", "input": "a"}),
        );
        let (status, json) = message_of(mock.respond(&embed).0);
        assert_eq!(status, 200);
        assert!(json.to_string().contains("AUTHENTICATION NOTICE FROM ARGO"));
    }

    #[test]
    fn embeddings_answer_in_openai_shape() {
        let mock = mock();
        let embed = |body: Value| {
            json_of(
                mock.respond(&request(
                    EMBEDDINGS,
                    &[("authorization", "Bearer alice")],
                    &body,
                ))
                .0,
            )
        };
        let (status, json) =
            embed(json!({"model": "v3small", "input": ["a", "b", "a"], "user": "alice"}));
        assert_eq!(status, 200);
        assert_eq!(json["object"], "list");
        assert_eq!(json["model"], "v3small");
        let data = json["data"].as_array().unwrap();
        assert_eq!(data.len(), 3);
        assert_eq!(data[1]["object"], "embedding");
        assert_eq!(data[1]["index"], 1);
        assert_eq!(data[0]["embedding"].as_array().unwrap().len(), 1536);
        assert_eq!(data[0]["embedding"], data[2]["embedding"]);
        assert_ne!(data[0]["embedding"], data[1]["embedding"]);
        assert_eq!(
            json["usage"],
            json!({"prompt_tokens": 3, "total_tokens": 3})
        );
        // The resource embed's vectors, so both endpoints agree.
        let mut resource = String::new();
        super::super::push_vector(&mut resource, "a", 1536);
        assert_eq!(
            data[0]["embedding"],
            serde_json::from_str::<Value>(&resource).unwrap()
        );
        let (_, json) = embed(
            json!({"model": "v3large", "input": "a", "dimensions": 256, "encoding_format": "base64"}),
        );
        let encoded = json["data"][0]["embedding"].as_str().unwrap();
        assert_eq!(encoded.len(), (256 * 4usize).div_ceil(3) * 4);
        assert!(encoded.ends_with('='));
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
        assert_eq!(base64_encode(b"M"), "TQ==");
        assert_eq!(embed(json!({"model": "gpt4o", "input": "a"})).0, 400);
        assert_eq!(embed(json!({"model": "nope", "input": "a"})).0, 404);
        assert_eq!(
            embed(json!({"model": "ada002", "input": "a", "dimensions": 8})).0,
            400
        );
        assert_eq!(embed(json!({"model": "v3small", "input": []})).0, 400);
        assert_eq!(
            embed(json!({"model": "v3small", "input": "a #mock {\"status\": 429}"})).0,
            429
        );
        let anonymous = request(EMBEDDINGS, &[], &json!({"model": "v3small", "input": "a"}));
        assert_eq!(message_of(mock.respond(&anonymous).0).0, 401);
    }

    #[test]
    fn models_list_hooks_and_stats() {
        let mock = mock();
        let get = |path: &str| {
            let mut request = request(path, &[], &json!({}));
            request.method = "GET".into();
            request.body.clear();
            message_of(mock.respond(&request).0)
        };
        let (status, json) = get("/argoapi/v1/models");
        assert_eq!(status, 200);
        assert!(json["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["internal_id"] == "claudeopus47"));
        let (_, old) = get("/argoapi-old/v1/models");
        assert!(old["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "claudeopus47" && m["model_name"] == "Claude Opus 4.7"));
        assert_eq!(
            json_of(
                mock.respond(&request("/argoapi/v1/models", &[], &json!({})))
                    .0
            )
            .0,
            405
        );
        mock.models.hook(br#"{"add": ["newmodel"]}"#);
        assert_eq!(
            json_of(
                mock.respond(&openai("alice", chat_body("newmodel", "hi")))
                    .0
            )
            .0,
            200
        );
        mock.models.hook(br#"{"fail": true}"#);
        assert_eq!(get("/argoapi/v1/models").0, 503);
        let stats: Value = serde_json::from_slice(&mock.stats.to_json()).unwrap();
        assert_eq!(stats["endpoints"]["models"], 4);
        assert_eq!(stats["endpoints"]["chat_completions"], 1);
        assert_eq!(
            stats["requests"], 1,
            "model-list reads are not calls of a model"
        );
    }

    /// argo-api.md §C (live lists of Aug and Sep 2026, argo-proxy 3.2.1-3.3.0; the legacy route's
    /// shape from argo-anywhere's `openapi.json`): 37 models, the same entries on both routes.
    #[test]
    fn the_live_list_has_the_37_models_of_section_c_on_both_routes() {
        let mock = mock();
        let mut lists = Vec::new();
        for path in ["/argoapi/v1/models", "/argoapi/api/v1/models/"] {
            let mut get = request(path, &[], &json!({}));
            get.method = "GET".into();
            let (status, json) = json_of(mock.respond(&get).0);
            assert_eq!(status, 200, "{path}");
            let data = json["data"].as_array().unwrap().clone();
            assert_eq!(data.len(), 37, "{path}");
            for entry in &data {
                let mut keys: Vec<&str> = entry
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                keys.sort_unstable();
                assert_eq!(keys, ["created", "id", "internal_id", "object", "owned_by"]);
            }
            lists.push(data);
        }
        assert_eq!(lists[0], lists[1]);
        for new in [
            "gpt54mini",
            "gpt56sol",
            "gpt56terra",
            "gpt56luna",
            "claudeopus48",
            "claudesonnet5",
            "claudeopus5",
        ] {
            assert!(lists[0].iter().any(|m| m["internal_id"] == new), "{new}");
            let (status, _) = message_of(mock.respond(&openai("alice", chat_body(new, "hi"))).0);
            assert_eq!(status, 200, "{new}");
        }
        let mut hot = claude_body("claudesonnet5", "hi");
        hot["temperature"] = json!(0.5);
        let (status, json) = message_of(mock.respond(&anthropic("alice", hot)).0);
        assert_eq!(status, 400);
        assert_eq!(json["type"], "error");
        assert!(json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`temperature` is deprecated for this model"));
    }

    /// argo-api.md §C (strong: argo-proxy 3.2.1-3.3.0, argo-shim): the misleading refusal of a
    /// `developer` message, naming its index.
    #[test]
    fn a_developer_message_gets_the_misleading_tool_calls_refusal() {
        for model in ["gpt5", "gemini25flash", "gpt4o"] {
            let mut body = chat_body(model, "hi");
            body["messages"] = json!([{"role": "system", "content": "s"},
                {"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}]);
            let (status, json) = json_of(mock().respond(&openai("alice", body)).0);
            assert_eq!(status, 400, "{model}");
            assert!(json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("Unknown parameter: 'messages[1].tool_calls'."));
        }
    }

    /// argo-api.md §C (live, argo-shim): chat without a valid `user` is HTTP 500.
    #[test]
    fn chat_without_a_valid_user_is_a_500() {
        for user in [Value::Null, json!(""), json!(7)] {
            let mut body = chat_body("gpt4o", "hi");
            match user {
                Value::Null => {
                    body.as_object_mut().unwrap().remove("user");
                }
                other => body["user"] = other,
            }
            let (status, json) = json_of(mock().respond(&openai("alice", body)).0);
            assert_eq!(
                (status, json["error"]["type"].as_str()),
                (500, Some("internal_error")),
                "{json}"
            );
        }
    }

    /// argo-api.md §C (live, APEXA): Gemini takes native tools and fails on parallel calls in
    /// its history.
    #[test]
    fn gemini_takes_native_tools_and_fails_on_parallel_calls() {
        let tools =
            json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
        let mut body = chat_body("gemini25pro", WEATHER);
        body["tools"] = tools;
        let (_, json) = json_of(mock().respond(&openai("alice", body.clone())).0);
        assert_eq!(
            json["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
            "get_weather"
        );
        let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}});
        let result = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "18C"});
        let user = json!({"role": "user", "content": WEATHER});
        let one_at_a_time = json!([user,
            {"role": "assistant", "content": null, "tool_calls": [call("a")]}, result("a"),
            {"role": "assistant", "content": null, "tool_calls": [call("b")]}, result("b")]);
        body["messages"] = one_at_a_time;
        let (status, json) = json_of(mock().respond(&openai("alice", body.clone())).0);
        assert_eq!(
            (status, json["choices"][0]["message"]["content"].as_str()),
            (200, Some("The tool said: 18C"))
        );
        for parallel in [
            json!([user, {"role": "assistant", "content": null, "tool_calls": [call("a"), call("b")]}, result("a")]),
            json!([user, {"role": "assistant", "content": null, "tool_calls": [call("a")]}, result("a"), result("b")]),
        ] {
            body["messages"] = parallel;
            let (status, json) = json_of(mock().respond(&openai("alice", body.clone())).0);
            assert_eq!(status, 500);
            assert!(json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("number of function response parts != number of function call parts"));
            let mut gpt = body.clone();
            gpt["model"] = json!("gpt4o");
            assert_eq!(json_of(mock().respond(&openai("alice", gpt)).0).0, 200);
        }
    }

    /// argo-api.md §C (strong): errors inside a 200 stream, Vertex's 429 for Gemini; wrapped
    /// 400s as Anthropic error events. (medium): null usage details, Claude SSE without
    /// `input_tokens`.
    #[test]
    fn errors_inside_streams_and_odd_usage_are_scriptable() {
        let mut body = chat_body(
            "gemini25flash",
            &directive(
                "x",
                json!({"reply": "ab", "stream_error": "Resource exhausted"}),
            ),
        );
        body["stream"] = json!(true);
        let (_, _, events) = stream_of(mock().respond(&openai("alice", body)).0);
        assert_eq!(
            events.last().unwrap().1,
            json!({"error": {"message": "Resource exhausted", "type": "RESOURCE_EXHAUSTED", "code": 429, "status": "RESOURCE_EXHAUSTED"}})
        );
        let body = claude_body(
            "claudesonnet45",
            &directive(
                "x",
                json!({"stream_error": "bad", "stream_error_type": "invalid_request_error"}),
            ),
        );
        let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
        assert_eq!(
            events.last().unwrap().1["error"]["type"],
            "invalid_request_error"
        );
        let mut body = chat_body("gpt4o", &directive("x", json!({"usage_nulls": true})));
        let (_, json) = json_of(mock().respond(&openai("alice", body.clone())).0);
        assert_eq!(
            json["usage"]["prompt_tokens_details"]["cached_tokens"],
            Value::Null
        );
        assert_eq!(
            json["usage"]["completion_tokens_details"]["reasoning_tokens"],
            Value::Null
        );
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let (_, _, events) = stream_of(mock().respond(&openai("alice", body)).0);
        let usage = &events[events.len() - 2].1["usage"];
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], Value::Null);
        let body = claude_body(
            "claudesonnet45",
            &directive("x", json!({"omit_input_tokens": true, "usage_nulls": true})),
        );
        let (_, _, events) = stream_of(mock().respond(&anthropic("alice", body)).0);
        let usage = &events[0].1["message"]["usage"];
        assert!(usage.get("input_tokens").is_none(), "{usage}");
        assert_eq!(usage["cache_read_input_tokens"], Value::Null);
    }

    /// argo-api.md §C (argo-proxy issue 144): tests read the `User-Agent` Argo saw.
    #[test]
    fn the_stats_keep_the_user_agents_argo_saw() {
        let mock = mock();
        let stats = || -> Value { serde_json::from_slice(&mock.stats.to_json()).unwrap() };
        assert_eq!(stats()["last_user_agent"], Value::Null);
        let mut asked = openai(
            "alice",
            chat_body("gpt4o", &directive("x", json!({"echo_request": true}))),
        );
        asked
            .headers
            .push(("user-agent".into(), "argo-bridge/1 (codex)".into()));
        let (_, json) = json_of(mock.respond(&asked).0);
        let echoed: Value =
            serde_json::from_str(json["choices"][0]["message"]["content"].as_str().unwrap())
                .unwrap();
        assert_eq!(echoed["headers"]["user-agent"], "argo-bridge/1 (codex)");
        mock.respond(&openai("alice", chat_body("gpt4o", "hi")));
        assert_eq!(stats()["user_agents"], json!(["argo-bridge/1 (codex)", ""]));
        assert_eq!(stats()["last_user_agent"], "");
        for n in 0..70 {
            let mut asked = openai("alice", chat_body("gpt4o", "hi"));
            asked.headers.push(("user-agent".into(), format!("ua{n}")));
            mock.respond(&asked);
        }
        let kept = stats()["user_agents"].as_array().unwrap().clone();
        assert_eq!(kept.len(), 64);
        assert_eq!(kept.last().unwrap(), "ua69");
        assert_eq!(stats()["last_user_agent"], "ua69");
    }

    #[test]
    fn tokens_are_counted_and_cut_by_words() {
        assert_eq!(count_tokens("Hello from mock"), 2 + 1 + 1);
        assert_eq!(truncate_tokens("one two three", 4), None);
        assert_eq!(
            truncate_tokens("one two three", 3).as_deref(),
            Some("one two thre")
        );
        assert_eq!(
            truncate_tokens("one two three", 2).as_deref(),
            Some("one two")
        );
        assert_eq!(
            truncate_tokens("  abcdefghij rest", 2).as_deref(),
            Some("  abcdefgh")
        );
        assert_eq!(truncate_tokens("abc", 0).as_deref(), Some(""));
        assert_eq!(truncate_tokens("héllo wörld", 1).as_deref(), Some("héll"));
    }
}
