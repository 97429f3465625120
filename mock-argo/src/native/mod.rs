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

mod chat;
mod embeddings;
mod errors;
mod messages;
mod responses;
mod said;
#[cfg(test)]
mod tests;
mod turn;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::directive::{directive_in, Route};
use super::models::{self, Shape};
use super::resource::reply_text;
use super::rules::{self, Refusal};
use super::sse;
use super::tools::{self, Dialect, NativeSaid};
use super::{with_fault, Answer, Directive, MockArgo, MockRequest};

use chat::{openai_json, openai_stream};
use errors::{
    bearer, check_identity, check_messages_field, error, invalid, json_answer, parse,
    required_model, scripted_error, settle, unauthenticated, unknown_model,
};
use messages::{anthropic_json, anthropic_stream};
use said::{echo, input_tokens, limit, Stop};
use turn::{Meta, Outcome, Pace, Turn};

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
        let directive = directive_in(body, &Route::Chat).map_err(|(_, m)| invalid(dialect, m))?;
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
        Ok((with_fault(answer, &directive), delay))
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
                reply_text(model, body, b"", &Directive::default())
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
                reply_text(model, body, &request.body, directive),
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
}
