//! Argo's legacy resource API: `chat`, `streamchat` and `embed` under `{base}/api/v1/resource/`.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::directive::{directive_in, last_user_text, Directive, Route};
use crate::{rules, tools};
use crate::{with_fault, Answer, MockArgo};

impl MockArgo {
    /// Decides the answer for one request. Pure, so it is unit-tested directly.
    pub fn answer(&self, path: &str, body: &[u8]) -> (Answer, Duration) {
        match self.try_answer(path, body) {
            Ok(answer) => answer,
            Err((status, message)) => (error(status, &message), Duration::ZERO),
        }
    }

    fn try_answer(&self, path: &str, body: &[u8]) -> Result<(Answer, Duration), (u16, String)> {
        let route = route(path).ok_or((404, format!("no such endpoint: {path}")))?;
        let request: Value =
            serde_json::from_slice(body).map_err(|e| (400, format!("invalid JSON: {e}")))?;
        let user = request.get("user").and_then(Value::as_str).unwrap_or("");
        let model = request.get("model").and_then(Value::as_str).unwrap_or("");
        if user.is_empty() {
            return Err((400, "`user` is required".into()));
        }
        if model.is_empty() {
            return Err((400, "`model` is required".into()));
        }
        if rules::is_unregistered(user) {
            return Ok((
                self.auth_notice(&route, model, &request, body),
                Duration::ZERO,
            ));
        }
        if let Err((status, body)) = check_rules(&route, model, &request) {
            return Ok((
                json_answer(status, body.to_string().into_bytes()),
                Duration::ZERO,
            ));
        }
        let directive = directive_in(&request, &route)?;
        let delay = Duration::from_millis(directive.delay_ms.unwrap_or(0));
        if let Some(status) = directive.status {
            let body = directive
                .body
                .clone()
                .unwrap_or_else(|| json!({"error": "mock failure"}).to_string());
            return Ok((
                Answer::Json {
                    status,
                    body: body.into_bytes(),
                    retry_after: directive.retry_after,
                },
                delay,
            ));
        }
        let answer = match route {
            Route::Embed => embed(model, &request)?,
            Route::Chat => chat(model, &request, body, &directive)?,
            Route::StreamChat => self.stream(model, &request, body, &directive)?,
        };
        Ok((with_fault(answer, &directive), delay))
    }

    /// Argo's answer to a username it does not know: 200, with its notice where the reply goes
    /// (first, in a stream, before the reply's text).
    fn auth_notice(&self, route: &Route, model: &str, request: &Value, raw: &[u8]) -> Answer {
        let notice = json!({ "response": rules::AUTH_NOTICE }).to_string();
        if *route != Route::StreamChat {
            return json_answer(200, notice.into_bytes());
        }
        let text = format!(
            "{}\n\n{}",
            rules::AUTH_NOTICE,
            reply_text(model, request, raw, &Directive::default())
        );
        Answer::Stream {
            fragments: text
                .as_bytes()
                .chunks(self.options.fragment_bytes.max(1))
                .map(Bytes::copy_from_slice)
                .collect(),
            pause: self.options.fragment_delay,
            cut_after: None,
            forever: None,
        }
    }

    fn stream(
        &self,
        model: &str,
        request: &Value,
        raw: &[u8],
        directive: &Directive,
    ) -> Result<Answer, (u16, String)> {
        check_chat_shape(request)?;
        if request.get("tools").is_some() {
            return Err((400, "streamchat does not take tools".into()));
        }
        let fragments: Vec<Bytes> = match &directive.fragments {
            Some(fragments) => fragments
                .iter()
                .map(|f| Bytes::copy_from_slice(f.as_bytes()))
                .collect(),
            None => {
                let text = match &directive.tool_call {
                    Some(calls) => match tools::answer(model, request, calls.single()?)? {
                        tools::Said::Text(text) => text,
                        tools::Said::Structured(_) => {
                            return Err((400, "streamchat cannot answer with tool calls".into()))
                        }
                    },
                    None => reply_text(model, request, raw, directive),
                };
                let size = directive
                    .fragment_bytes
                    .unwrap_or(self.options.fragment_bytes)
                    .max(1);
                text.as_bytes()
                    .chunks(size)
                    .map(Bytes::copy_from_slice)
                    .collect()
            }
        };
        let pause = directive
            .fragment_delay_ms
            .map(Duration::from_millis)
            .unwrap_or(self.options.fragment_delay);
        Ok(Answer::Stream {
            fragments,
            pause,
            cut_after: directive.cut_after,
            forever: directive
                .then_forever
                .as_ref()
                .map(|fragment| Bytes::copy_from_slice(fragment.as_bytes())),
        })
    }
}

/// What real Argo refuses before it looks at the conversation.
fn check_rules(route: &Route, model: &str, request: &Value) -> Result<(), rules::Refusal> {
    match route {
        Route::Embed => {
            let prompts = request
                .get("prompt")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            rules::check_embed_batch(prompts)
        }
        Route::Chat | Route::StreamChat if !rules::is_chat_model(model) => {
            Err(rules::unknown_model(model))
        }
        Route::Chat => rules::check_parameters(model, request, false),
        Route::StreamChat => rules::check_parameters(model, request, true),
    }
}

pub(crate) fn json_answer(status: u16, body: Vec<u8>) -> Answer {
    Answer::Json {
        status,
        body,
        retry_after: None,
    }
}

pub(crate) fn route(path: &str) -> Option<Route> {
    if path.ends_with("/api/v1/resource/chat/") {
        Some(Route::Chat)
    } else if path.ends_with("/api/v1/resource/streamchat/") {
        Some(Route::StreamChat)
    } else if path.ends_with("/api/v1/resource/embed/") {
        Some(Route::Embed)
    } else {
        None
    }
}

pub(crate) fn error(status: u16, message: &str) -> Answer {
    Answer::Json {
        status,
        body: json!({"error": message}).to_string().into_bytes(),
        retry_after: None,
    }
}
fn check_chat_shape(request: &Value) -> Result<(), (u16, String)> {
    let has_messages = request
        .get("messages")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty());
    let has_prompt = request
        .get("prompt")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    if has_messages || has_prompt {
        Ok(())
    } else {
        Err((400, "`messages` or `prompt` is required".into()))
    }
}

pub(crate) fn reply_text(
    model: &str,
    request: &Value,
    raw: &[u8],
    directive: &Directive,
) -> String {
    if directive.echo_request {
        return String::from_utf8_lossy(raw).into_owned();
    }
    if let Some(reply) = &directive.reply {
        return reply.clone();
    }
    let said: String = last_user_text(request)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    format!("Hello from mock Argo ({model}). You said: {said}")
}

pub(crate) fn chat(
    model: &str,
    request: &Value,
    raw: &[u8],
    directive: &Directive,
) -> Result<Answer, (u16, String)> {
    check_chat_shape(request)?;
    let response = match (&directive.response, &directive.tool_call) {
        (Some(response), _) => response.clone(),
        (None, Some(calls)) => match tools::answer(model, request, calls.single()?)? {
            tools::Said::Structured(response) => response,
            tools::Said::Text(text) => Value::String(text),
        },
        (None, None) => Value::String(reply_text(model, request, raw, directive)),
    };
    Ok(Answer::Json {
        status: 200,
        body: json!({ "response": response }).to_string().into_bytes(),
        retry_after: None,
    })
}

pub(crate) fn embed(model: &str, request: &Value) -> Result<Answer, (u16, String)> {
    let dimensions = match model {
        "v3small" | "ada002" => 1536,
        "v3large" => 3072,
        _ => return Err((400, format!("model {model} is not an embedding model"))),
    };
    let prompts = request
        .get("prompt")
        .and_then(Value::as_array)
        .ok_or((400, "`prompt` must be a list".to_string()))?;
    let mut body = String::with_capacity(prompts.len() * dimensions * 12 + 16);
    body.push_str("{\"embedding\":[");
    for (index, prompt) in prompts.iter().enumerate() {
        let text = prompt
            .as_str()
            .ok_or((400, "`prompt` entries must be strings".to_string()))?;
        if index > 0 {
            body.push(',');
        }
        push_vector(&mut body, text, dimensions);
    }
    body.push_str("]}");
    Ok(Answer::Json {
        status: 200,
        body: body.into_bytes(),
        retry_after: None,
    })
}

/// A unit vector derived from the text, so equal texts embed equally.
pub(crate) fn push_vector(out: &mut String, text: &str, dimensions: usize) {
    out.push('[');
    for (i, value) in unit_vector(text, dimensions).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("{value:.6}"));
    }
    out.push(']');
}

/// The components of the text's unit vector: each is plus or minus `1/sqrt(dimensions)`.
pub(crate) fn unit_vector(text: &str, dimensions: usize) -> impl Iterator<Item = f32> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    }) | 1;
    let scale = 1.0 / (dimensions as f32).sqrt();
    (0..dimensions).map(move |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state & 1 == 0 {
            scale
        } else {
            -scale
        }
    })
}
